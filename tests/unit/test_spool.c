/* test_spool.c - delivery's on-disk spool: append, read whole frames,
 * commit, the cap, segments deleted behind the commit, reopening after a
 * restart and after a torn write. */
#include "harness.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/err.h"
#include "logs/spool.h"
#include "logs/syslog.h"

static char *temp_dir(void)
{
    char tmpl[] = "/tmp/berth-test-spool-XXXXXX";
    char *d = mkdtemp(tmpl);
    return d ? strdup(d) : NULL;
}

static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char p[512];
        snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
        unlink(p);
    }
    if (d)
        closedir(d);
    rmdir(dir);
}

static int count_segments(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    while (d && (e = readdir(d)))
        n += strstr(e->d_name, ".seg") != NULL;
    if (d)
        closedir(d);
    return n;
}

/* A frame "LEN SP <i padded to 'width'>". */
static size_t frame_in(char *out, size_t cap, int i, int width)
{
    char msg[1100];
    snprintf(msg, sizeof(msg), "%0*d", width, i);
    return (size_t)snprintf(out, cap, "%zu %s", strlen(msg), msg);
}
#define frame(out, i, width) frame_in((out), sizeof(out), (i), (width))

static char buf[2 * LOGS_SYSLOG_FRAME_MAX];

/* The number in the first of buf's frames of a 1000-digit message. */
static long first_number(void)
{
    char num[1001];
    memcpy(num, buf + 5, 1000);
    num[1000] = '\0';
    return strtol(num, NULL, 10);
}

TEST(append_read_commit_reopen)
{
    char *dir = temp_dir();
    struct logs_spool *s;
    struct err err = {0};
    CHECK_EQ_INT(logs_spool_open(dir, 1 << 20, &s, &err), 0);
    char f[64];
    uint64_t total = 0;
    for (int i = 0; i < 10; i++) {
        size_t n = frame(f, i, 5);
        CHECK_EQ_INT(logs_spool_append(s, f, n, &err), 0);
        total += n;
    }
    CHECK_EQ_INT(logs_spool_end(s), total);
    size_t got, nframes;
    CHECK_EQ_INT(logs_spool_read(s, 0, buf, sizeof(buf), &got, &nframes, &err), 0);
    CHECK_EQ_INT(got, total);
    CHECK_EQ_INT(nframes, 10);
    CHECK(memcmp(buf, "5 00000", 7) == 0);
    /* From the middle, at a frame boundary. */
    CHECK_EQ_INT(logs_spool_read(s, 21, buf, sizeof(buf), &got, &nframes, &err), 0);
    CHECK_EQ_INT(nframes, 7);
    CHECK(memcmp(buf, "5 00003", 7) == 0);
    CHECK_EQ_INT(logs_spool_commit(s, 21, &err), 0);
    logs_spool_close(s);

    /* A restart finds the commit and the frames after it. */
    CHECK_EQ_INT(logs_spool_open(dir, 1 << 20, &s, &err), 0);
    CHECK_EQ_INT(logs_spool_committed(s), 21);
    CHECK_EQ_INT(logs_spool_end(s), total);
    CHECK_EQ_INT(
        logs_spool_read(s, logs_spool_committed(s), buf, sizeof(buf), &got, &nframes, &err), 0);
    CHECK_EQ_INT(nframes, 7);
    CHECK_EQ_INT(logs_spool_read(s, total, buf, sizeof(buf), &got, &nframes, &err), 0);
    CHECK_EQ_INT(got, 0);
    logs_spool_close(s);
    remove_dir(dir);
    free(dir);
}

TEST(cap_refuses_appends_until_a_commit)
{
    char *dir = temp_dir();
    struct logs_spool *s;
    struct err err = {0};
    CHECK_EQ_INT(logs_spool_open(dir, 100, &s, &err), 0);
    char f[64];
    size_t n = frame(f, 1, 38); /* 41 bytes */
    CHECK_EQ_INT(logs_spool_append(s, f, n, &err), 0);
    CHECK_EQ_INT(logs_spool_append(s, f, n, &err), 0);
    CHECK_EQ_INT(logs_spool_append(s, f, n, &err), ERR_TOOBIG);
    CHECK_EQ_INT(logs_spool_end(s), 82);
    CHECK_EQ_INT(logs_spool_commit(s, 41, &err), 0);
    CHECK_EQ_INT(logs_spool_append(s, f, n, &err), 0);
    logs_spool_close(s);
    remove_dir(dir);
    free(dir);
}

TEST(segments_rotate_and_go_behind_the_commit)
{
    char *dir = temp_dir();
    struct logs_spool *s;
    struct err err = {0};
    /* A 1 MiB cap makes 128 KiB segments (cap / 8, at least 64 KiB). */
    CHECK_EQ_INT(logs_spool_open(dir, 1 << 20, &s, &err), 0);
    static char f[2048];
    uint64_t pos[600];
    for (int i = 0; i < 400; i++) {
        pos[i] = logs_spool_end(s);
        size_t n = frame(f, i, 1000);
        CHECK_EQ_INT(logs_spool_append(s, f, n, &err), 0);
    }
    CHECK(count_segments(dir) >= 3);
    /* Reading stops at a segment's end; reading on continues in the next. */
    uint64_t at = 0;
    int frames = 0;
    size_t got, nframes;
    while (logs_spool_read(s, at, buf, sizeof(buf), &got, &nframes, &err) == 0 && got) {
        CHECK_EQ_INT(first_number(), frames);
        at += got;
        frames += (int)nframes;
    }
    CHECK_EQ_INT(frames, 400);
    CHECK_EQ_INT(at, logs_spool_end(s));
    int before = count_segments(dir);
    CHECK_EQ_INT(logs_spool_commit(s, pos[300], &err), 0);
    CHECK(count_segments(dir) < before);
    CHECK_EQ_INT(logs_spool_read(s, pos[300], buf, sizeof(buf), &got, &nframes, &err), 0);
    CHECK_EQ_INT(first_number(), 300);
    logs_spool_close(s);
    /* After a restart the kept segments still read from the commit. */
    CHECK_EQ_INT(logs_spool_open(dir, 1 << 20, &s, &err), 0);
    CHECK_EQ_INT(logs_spool_committed(s), pos[300]);
    CHECK_EQ_INT(logs_spool_read(s, pos[300], buf, sizeof(buf), &got, &nframes, &err), 0);
    CHECK_EQ_INT(first_number(), 300);
    /* Everything committed: only the last segment stays. */
    CHECK_EQ_INT(logs_spool_commit(s, logs_spool_end(s), &err), 0);
    CHECK_EQ_INT(count_segments(dir), 1);
    logs_spool_close(s);
    remove_dir(dir);
    free(dir);
}

TEST(torn_tail_is_cut_off_on_open)
{
    char *dir = temp_dir();
    struct logs_spool *s;
    struct err err = {0};
    CHECK_EQ_INT(logs_spool_open(dir, 1 << 20, &s, &err), 0);
    char f[64];
    size_t n = frame(f, 7, 5);
    CHECK_EQ_INT(logs_spool_append(s, f, n, &err), 0);
    logs_spool_close(s);
    /* A crash in the middle of the next write. */
    char path[512];
    snprintf(path, sizeof(path), "%s/%020d.seg", dir, 0);
    int fd = open(path, O_WRONLY | O_APPEND);
    CHECK(fd >= 0);
    CHECK_EQ_INT(write(fd, "12 abc", 6), 6);
    close(fd);
    CHECK_EQ_INT(logs_spool_open(dir, 1 << 20, &s, &err), 0);
    CHECK_EQ_INT(logs_spool_end(s), n);
    CHECK_EQ_INT(logs_spool_append(s, f, n, &err), 0);
    size_t got, nframes;
    CHECK_EQ_INT(logs_spool_read(s, 0, buf, sizeof(buf), &got, &nframes, &err), 0);
    CHECK_EQ_INT(nframes, 2);
    CHECK_EQ_INT(got, 2 * n);
    logs_spool_close(s);
    remove_dir(dir);
    free(dir);
}

TEST(commit_past_the_end_starts_over_at_what_is_there)
{
    char *dir = temp_dir();
    char path[512];
    snprintf(path, sizeof(path), "%s/commit", dir);
    FILE *f = fopen(path, "w");
    fputs("999999\n", f);
    fclose(f);
    struct logs_spool *s;
    struct err err = {0};
    CHECK_EQ_INT(logs_spool_open(dir, 1 << 20, &s, &err), 0);
    CHECK_EQ_INT(logs_spool_committed(s), logs_spool_end(s));
    char fr[64];
    size_t n = frame(fr, 1, 3);
    uint64_t start = logs_spool_end(s);
    CHECK_EQ_INT(logs_spool_append(s, fr, n, &err), 0);
    size_t got, nframes;
    CHECK_EQ_INT(logs_spool_read(s, start, buf, sizeof(buf), &got, &nframes, &err), 0);
    CHECK_EQ_INT(nframes, 1);
    logs_spool_close(s);
    remove_dir(dir);
    free(dir);
}
