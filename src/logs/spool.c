/* spool.c - segment files and a committed position (see spool.h). Writes go
 * to the page cache without fsync: a berthd that crashes or is killed loses
 * nothing (the kernel still writes the pages); a machine that loses power may
 * lose the last seconds, and a commit that did not reach the disk only means
 * frames are sent again. */
#include "logs/spool.h"
#include "base/alloc.h"
#include "logs/syslog.h"

#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SEGMENT_MIN (64 * 1024)
#define SEGMENT_MAX (16 * 1024 * 1024)
#define SEGMENTS_MAX 4096

struct logs_spool {
    char *dir;
    uint64_t cap_bytes, segment_bytes;
    uint64_t *starts; /* the segments' first positions, ascending */
    size_t nsegs;
    uint64_t end;       /* position after the last frame */
    uint64_t committed; /* everything before it is delivered */
    int append_fd;      /* the last segment's, -1 until needed */
    int read_fd;        /* the segment at read_start, -1 when none */
    uint64_t read_start;
};

static char *segment_path(const struct logs_spool *s, uint64_t start)
{
    return xasprintf("%s/%020" PRIu64 ".seg", s->dir, start);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int mkdir_p(const char *path)
{
    char *p = xstrdup(path);
    for (char *s = p + 1; *s; s++)
        if (*s == '/') {
            *s = '\0';
            if (mkdir(p, 0700) != 0 && errno != EEXIST) {
                free(p);
                return ERR_SYS(errno);
            }
            *s = '/';
        }
    free(p);
    if (mkdir(path, 0700) != 0 && errno != EEXIST)
        return ERR_SYS(errno);
    return 0;
}

static int list_segments(struct logs_spool *s, struct err *err)
{
    DIR *d = opendir(s->dir);
    if (!d)
        return err_set(err, ERR_SYS(errno), "cannot read the spool '%s': %s", s->dir,
                       strerror(errno));
    struct dirent *e;
    size_t cap = 0;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n != 24 || strcmp(e->d_name + 20, ".seg") != 0 || strspn(e->d_name, "0123456789") != 20)
            continue;
        if (s->nsegs == SEGMENTS_MAX) {
            closedir(d);
            return err_set(err, ERR_TOOBIG, "the spool '%s' has more than %d segments", s->dir,
                           SEGMENTS_MAX);
        }
        if (s->nsegs == cap) {
            cap = cap ? 2 * cap : 8;
            s->starts = xrealloc(s->starts, cap * sizeof(uint64_t));
        }
        s->starts[s->nsegs++] = strtoull(e->d_name, NULL, 10);
    }
    closedir(d);
    if (s->nsegs > 1)
        qsort(s->starts, s->nsegs, sizeof(uint64_t), cmp_u64);
    return 0;
}

/* The last segment's length, after cutting a torn frame off its end. */
static int repair_last(struct logs_spool *s, uint64_t *len, struct err *err)
{
    char *path = segment_path(s, s->starts[s->nsegs - 1]);
    int fd = open(path, O_RDWR | O_CLOEXEC);
    int rc = 0;
    if (fd < 0) {
        rc = err_set(err, ERR_SYS(errno), "cannot open '%s': %s", path, strerror(errno));
        free(path);
        return rc;
    }
    size_t bufcap = 2 * LOGS_SYSLOG_FRAME_MAX, have = 0;
    char *buf = xmalloc(bufcap);
    uint64_t good = 0; /* bytes of whole frames from the start */
    for (;;) {
        ssize_t n = read(fd, buf + have, bufcap - have);
        if (n < 0) {
            rc = err_set(err, ERR_SYS(errno), "cannot read '%s': %s", path, strerror(errno));
            break;
        }
        have += (size_t)n;
        size_t off = 0, fl;
        while (logs_syslog_next_frame(buf + off, have - off, &fl) == 0)
            off += fl;
        good += off;
        memmove(buf, buf + off, have - off);
        have -= off;
        if (n == 0 || (have && logs_syslog_next_frame(buf, have, &fl) == ERR_INVALID))
            break;
    }
    struct stat sb;
    /* A torn or foreign tail: what follows it cannot be framed, so it goes. */
    if (rc == 0 && fstat(fd, &sb) == 0 && (uint64_t)sb.st_size != good &&
        ftruncate(fd, (off_t)good) != 0)
        rc = err_set(err, ERR_SYS(errno), "cannot truncate '%s': %s", path, strerror(errno));
    close(fd);
    free(buf);
    free(path);
    *len = good;
    return rc;
}

static int read_commit(struct logs_spool *s)
{
    char *path = xasprintf("%s/commit", s->dir);
    FILE *f = fopen(path, "r");
    free(path);
    if (!f)
        return 0;
    unsigned long long v = 0;
    if (fscanf(f, "%llu", &v) == 1)
        s->committed = v;
    fclose(f);
    return 0;
}

int logs_spool_open(const char *dir, uint64_t cap_bytes, struct logs_spool **out, struct err *err)
{
    int rc = mkdir_p(dir);
    if (rc)
        return err_set(err, rc, "cannot create the spool '%s': %s", dir, strerror(-rc));
    struct logs_spool *s = xcalloc(1, sizeof(*s));
    s->dir = xstrdup(dir);
    s->cap_bytes = cap_bytes;
    s->segment_bytes = cap_bytes / 8;
    if (s->segment_bytes < SEGMENT_MIN)
        s->segment_bytes = SEGMENT_MIN;
    if (s->segment_bytes > SEGMENT_MAX)
        s->segment_bytes = SEGMENT_MAX;
    s->append_fd = s->read_fd = -1;
    rc = list_segments(s, err);
    if (rc == 0)
        rc = read_commit(s);
    if (rc == 0 && s->nsegs) {
        uint64_t last_len = 0;
        rc = repair_last(s, &last_len, err);
        s->end = s->starts[s->nsegs - 1] + last_len;
    }
    if (rc) {
        logs_spool_close(s);
        return rc;
    }
    /* A commit past what is here (segments removed by hand, a lost write):
     * start over at what there is. */
    if (s->committed > s->end || (s->nsegs && s->committed < s->starts[0]))
        s->committed = s->nsegs ? s->starts[0] : s->end;
    if (!s->nsegs)
        s->end = s->committed;
    *out = s;
    return 0;
}

void logs_spool_close(struct logs_spool *s)
{
    if (!s)
        return;
    if (s->append_fd >= 0)
        close(s->append_fd);
    if (s->read_fd >= 0)
        close(s->read_fd);
    free(s->starts);
    free(s->dir);
    free(s);
}

uint64_t logs_spool_committed(const struct logs_spool *s)
{
    return s->committed;
}

uint64_t logs_spool_end(const struct logs_spool *s)
{
    return s->end;
}

static int new_segment(struct logs_spool *s, struct err *err)
{
    if (s->append_fd >= 0)
        close(s->append_fd);
    s->append_fd = -1;
    if (s->nsegs == SEGMENTS_MAX)
        return err_set(err, ERR_TOOBIG, "the spool '%s' has %d segments", s->dir, SEGMENTS_MAX);
    char *path = segment_path(s, s->end);
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        int rc = err_set(err, ERR_SYS(errno), "cannot create '%s': %s", path, strerror(errno));
        free(path);
        return rc;
    }
    free(path);
    s->starts = xrealloc(s->starts, (s->nsegs + 1) * sizeof(uint64_t));
    s->starts[s->nsegs++] = s->end;
    s->append_fd = fd;
    return 0;
}

int logs_spool_append(struct logs_spool *s, const void *frames, size_t len, struct err *err)
{
    if (s->end - s->committed + len > s->cap_bytes)
        return err_set(err, ERR_TOOBIG, "the spool '%s' is full (%" PRIu64 " bytes)", s->dir,
                       s->cap_bytes);
    int rc = 0;
    if (!s->nsegs || s->end - s->starts[s->nsegs - 1] >= s->segment_bytes)
        rc = new_segment(s, err);
    if (rc == 0 && s->append_fd < 0) {
        char *path = segment_path(s, s->starts[s->nsegs - 1]);
        s->append_fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
        if (s->append_fd < 0)
            rc = err_set(err, ERR_SYS(errno), "cannot open '%s': %s", path, strerror(errno));
        free(path);
    }
    size_t done = 0;
    while (rc == 0 && done < len) {
        ssize_t n = write(s->append_fd, (const char *)frames + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = err_set(err, ERR_SYS(n < 0 ? errno : EIO), "cannot write the spool '%s': %s",
                         s->dir, strerror(n < 0 ? errno : EIO));
            /* Take back a part written, so the segment ends on a frame. */
            if (done && ftruncate(s->append_fd, (off_t)(s->end - s->starts[s->nsegs - 1])) != 0) {
                close(s->append_fd);
                s->append_fd = -1;
            }
            break;
        }
        done += (size_t)n;
    }
    if (rc == 0)
        s->end += len;
    return rc;
}

int logs_spool_read(struct logs_spool *s, uint64_t pos, char *buf, size_t cap, size_t *got,
                    size_t *nframes, struct err *err)
{
    *got = *nframes = 0;
    if (pos >= s->end || !s->nsegs)
        return 0;
    size_t i = s->nsegs;
    while (i > 0 && s->starts[i - 1] > pos)
        i--;
    if (i == 0)
        return err_set(err, ERR_INVALID, "position %" PRIu64 " is before the spool", pos);
    uint64_t start = s->starts[i - 1];
    uint64_t seg_end = i < s->nsegs ? s->starts[i] : s->end;
    if (s->read_fd < 0 || s->read_start != start) {
        if (s->read_fd >= 0)
            close(s->read_fd);
        char *path = segment_path(s, start);
        s->read_fd = open(path, O_RDONLY | O_CLOEXEC);
        int e = errno;
        s->read_start = start;
        if (s->read_fd < 0) {
            int rc = err_set(err, ERR_SYS(e), "cannot open '%s': %s", path, strerror(e));
            free(path);
            return rc;
        }
        free(path);
    }
    size_t want = seg_end - pos < cap ? (size_t)(seg_end - pos) : cap;
    ssize_t n = pread(s->read_fd, buf, want, (off_t)(pos - start));
    if (n < 0)
        return err_set(err, ERR_SYS(errno), "cannot read the spool '%s': %s", s->dir,
                       strerror(errno));
    size_t off = 0, fl;
    while (logs_syslog_next_frame(buf + off, (size_t)n - off, &fl) == 0) {
        off += fl;
        (*nframes)++;
    }
    if (off == 0 && n > 0)
        return err_set(err, ERR_INVALID, "the spool '%s' holds no frame at %" PRIu64, s->dir, pos);
    *got = off;
    return 0;
}

int logs_spool_commit(struct logs_spool *s, uint64_t pos, struct err *err)
{
    if (pos == s->committed)
        return 0;
    char *path = xasprintf("%s/commit", s->dir), *tmp = xasprintf("%s/commit.tmp", s->dir);
    char text[32];
    int n = snprintf(text, sizeof(text), "%" PRIu64 "\n", pos), rc = 0;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || write(fd, text, (size_t)n) != n || rename(tmp, path) != 0)
        rc = err_set(err, ERR_SYS(errno), "cannot write '%s': %s", path, strerror(errno));
    if (fd >= 0)
        close(fd);
    free(path);
    free(tmp);
    if (rc)
        return rc;
    s->committed = pos;
    /* Segments that end at or before the commit go, the last one excepted. */
    size_t drop = 0;
    while (drop + 1 < s->nsegs && s->starts[drop + 1] <= pos) {
        char *seg = segment_path(s, s->starts[drop]);
        if (s->read_fd >= 0 && s->read_start == s->starts[drop]) {
            close(s->read_fd);
            s->read_fd = -1;
        }
        unlink(seg);
        free(seg);
        drop++;
    }
    memmove(s->starts, s->starts + drop, (s->nsegs - drop) * sizeof(uint64_t));
    s->nsegs -= drop;
    return 0;
}
