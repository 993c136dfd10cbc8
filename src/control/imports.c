/* imports.c - the import thread. Files are copied into a temporary directory
 * beside their destination and renamed into place only when complete and
 * checked, so a crash never leaves a half-copied version that looks finished;
 * a restart removes the temporary directory and copies again. A CUT import
 * hard-links the files instead of copying them when it can (same file
 * system), and removes the imported files from the source only once the
 * version is in place: until then the source is untouched, whatever fails.
 * The source tree is walked through directory descriptors opened with
 * O_NOFOLLOW, so a link swapped in while it is read cannot lead elsewhere. */
#include "control/imports.h"
#include "base/alloc.h"
#include "base/log.h"
#include "serve/modelcheck.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_TREE_DEPTH 32
#define MAX_ROOTS 32

struct imports {
    struct store *st;
    char *data_dir;
    char *instance_dir; /* as given, resolved at each check; NULL: none */
    char *roots[MAX_ROOTS];
    size_t nroots;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    char **queue;
    size_t nqueue;
    bool stop;
};

/* ------------------------------------------------------------------------ */
/* Where imports may read                                                   */

/* Whether the resolved 'path' is the resolved 'dir' or inside it. */
static bool path_within(const char *path, const char *dir)
{
    size_t n = strlen(dir);
    if (n == 1 && dir[0] == '/')
        return path[0] == '/';
    return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

static bool has_dotdot(const char *p)
{
    while (*p) {
        size_t n = strcspn(p, "/");
        if (n == 2 && p[0] == '.' && p[1] == '.')
            return true;
        p += n;
        p += strspn(p, "/");
    }
    return false;
}

/* A link inside an imported tree may only point down from where it sits:
 * relative and without '..', it resolves inside the tree, in the source and
 * in the copy alike. */
static bool link_stays_inside(const char *target)
{
    return target[0] != '\0' && target[0] != '/' && !has_dotdot(target);
}

static void list_roots(const struct imports *im, char *out, size_t size)
{
    size_t n = 0;
    out[0] = '\0';
    for (size_t i = 0; i < im->nroots && n < size; i++)
        n += (size_t)snprintf(out + n, size - n, "%s%s", i ? ", " : "", im->roots[i]);
}

/* Resolve 'path' and check it against the rules of imports_check_source();
 * on success *out owns the resolved path. */
static int resolve_source(const struct imports *im, const char *path, char **out, struct err *err)
{
    if (path[0] != '/')
        return err_set(err, ERR_INVALID, "'%s' must be an absolute path", path);
    if (has_dotdot(path))
        return err_set(err, ERR_INVALID, "'%s' must not contain '..' components", path);
    if (im->nroots == 0)
        return err_set(err, ERR_UNSUPPORTED,
                       "'%s' cannot be imported: no import root is configured (start berthd with "
                       "--import-root DIR)",
                       path);
    char *r = realpath(path, NULL);
    if (!r)
        return errno == ENOENT || errno == ENOTDIR
                   ? err_set(err, ERR_NOTFOUND, "the source directory '%s' does not exist", path)
                   : err_set(err, ERR_SYS(errno), "cannot resolve '%s': %s", path, strerror(errno));
    int rc = 0;
    bool inside = false;
    for (size_t i = 0; i < im->nroots && !inside; i++)
        inside = path_within(r, im->roots[i]);
    /* Instances write in their directories (the reconciler makes it at
     * start; resolved here so that a link or a later mkdir is seen). */
    char *inst = im->instance_dir ? realpath(im->instance_dir, NULL) : NULL;
    if (!inst && im->instance_dir)
        inst = xstrdup(im->instance_dir);
    struct stat st;
    if (path_within(r, im->data_dir))
        rc = err_set(err, ERR_INVALID, "'%s' is inside berthd's data directory", path);
    else if (path_within(im->data_dir, r))
        rc = err_set(err, ERR_INVALID, "'%s' contains berthd's data directory", path);
    else if (inst && path_within(r, inst))
        rc = err_set(err, ERR_INVALID, "'%s' is inside the instances' work directories ('%s')",
                     path, inst);
    else if (inst && path_within(inst, r))
        rc = err_set(err, ERR_INVALID, "'%s' contains the instances' work directories ('%s')", path,
                     inst);
    else if (!inside) {
        char roots[160];
        list_roots(im, roots, sizeof(roots));
        rc = strcmp(r, path) == 0
                 ? err_set(err, ERR_INVALID, "'%s' is outside the import roots (%s)", path, roots)
                 : err_set(err, ERR_INVALID, "'%s' resolves to '%s', outside the import roots (%s)",
                           path, r, roots);
    } else if (stat(r, &st) != 0 || !S_ISDIR(st.st_mode))
        rc = err_set(err, ERR_INVALID, "the source '%s' is not a directory", path);
    free(inst);
    if (rc)
        free(r);
    else
        *out = r;
    return rc;
}

int imports_check_source(const struct imports *im, const char *path, struct err *err)
{
    char *r = NULL;
    int rc = resolve_source(im, path, &r, err);
    free(r);
    return rc;
}

/* Open the resolved directory 'r' one component at a time with O_NOFOLLOW:
 * realpath() left no link in it, so a component swapped for a link since
 * fails the open instead of leading elsewhere. */
static int open_resolved(const char *r)
{
    int fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    for (const char *p = r + strspn(r, "/"); fd >= 0 && *p;) {
        size_t n = strcspn(p, "/");
        char name[NAME_MAX + 1];
        if (n > NAME_MAX) {
            close(fd);
            errno = ENAMETOOLONG;
            return -1;
        }
        memcpy(name, p, n);
        name[n] = '\0';
        int next = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        int e = errno;
        close(fd);
        errno = e;
        fd = next;
        p += n;
        p += strspn(p, "/");
    }
    return fd;
}

/* Check the source again (the import may run long after the call, or after
 * a restart) and open it. */
static int open_source(const struct imports *im, const char *path, int *fd, char **resolved,
                       struct err *err)
{
    char *r = NULL;
    int rc = resolve_source(im, path, &r, err);
    if (rc)
        return rc;
    int d = open_resolved(r);
    if (d < 0) {
        rc = errno == ELOOP || errno == ENOTDIR
                 ? err_set(err, ERR_INVALID, "'%s' changed while it was opened", path)
                 : err_set(err, ERR_SYS(errno), "cannot open '%s': %s", path, strerror(errno));
        free(r);
        return rc;
    }
    *fd = d;
    *resolved = r;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Trees                                                                    */

/* A stream over the open directory 'dfd', from its start ('dfd' stays
 * open: the stream reads a duplicate, which shares the offset). */
static DIR *dir_stream(int dfd)
{
    int l = dup(dfd);
    DIR *d = l < 0 ? NULL : fdopendir(l);
    if (!d && l >= 0) {
        int e = errno;
        close(l);
        errno = e;
    }
    if (d)
        rewinddir(d);
    return d;
}

static int sync_dir(const char *path)
{
    int d = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (d < 0)
        return ERR_SYS(errno);
    int rc = fsync(d) == 0 ? 0 : ERR_SYS(errno);
    close(d);
    return rc;
}

static bool same_time(const struct timespec *a, const struct timespec *b)
{
    return a->tv_sec == b->tv_sec && a->tv_nsec == b->tv_nsec;
}

static int write_all(int out, const char *buf, size_t n)
{
    for (size_t off = 0; off < n;) {
        ssize_t w = write(out, buf + off, n - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return ERR_SYS(errno);
        off += (size_t)w;
    }
    return 0;
}

/* Copy the open file 'in' to the new file 'to', keeping its modification
 * time (a CUT import recognises the files it copied by size and time). */
static int copy_fd(int in, const struct stat *before, const char *rel, const char *to,
                   struct err *err)
{
    int out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, before->st_mode & 0777);
    if (out < 0)
        return err_set(err, ERR_SYS(errno), "cannot create '%s': %s", to, strerror(errno));
    char buf[1 << 16];
    int rc = 0;
    for (;;) {
        ssize_t n = read(in, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = err_set(err, ERR_SYS(errno), "cannot read '%s': %s", rel, strerror(errno));
            break;
        }
        if (n == 0)
            break;
        if ((rc = write_all(out, buf, (size_t)n)) != 0) {
            err_set(err, rc, "cannot write '%s': %s", to, strerror(-rc));
            break;
        }
    }
    struct stat after;
    if (rc == 0 && (fstat(in, &after) != 0 || after.st_size != before->st_size ||
                    !same_time(&after.st_mtim, &before->st_mtim)))
        rc = err_set(err, ERR_INVALID, "'%s' changed while it was copied", rel);
    struct timespec times[2] = {before->st_atim, before->st_mtim};
    if (rc == 0 && futimens(out, times) != 0)
        rc = err_set(err, ERR_SYS(errno), "cannot set the time of '%s': %s", to, strerror(errno));
    if (rc == 0 && fsync(out) != 0)
        rc = err_set(err, ERR_SYS(errno), "cannot sync '%s': %s", to, strerror(errno));
    if (close(out) != 0 && rc == 0)
        rc = err_set(err, ERR_SYS(errno), "cannot write '%s': %s", to, strerror(errno));
    return rc;
}

/* One regular file 'name' of the directory 'dfd': hard-linked when 'link'
 * and the file system allows it (CUT), copied otherwise. */
static int import_file(int dfd, const char *name, const char *rel, const char *to, bool link,
                       struct err *err)
{
    int in = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (in < 0)
        return err_set(err, ERR_SYS(errno), "cannot open '%s': %s", rel, strerror(errno));
    struct stat st, linked;
    int rc = 0;
    bool ok = fstat(in, &st) == 0 && S_ISREG(st.st_mode);
    /* A file with other names is copied: through them it could change
     * under the version. */
    link = link && ok && st.st_nlink == 1;
    if (!ok)
        rc = err_set(err, ERR_INVALID, "'%s' changed while it was imported", rel);
    else if (link && linkat(dfd, name, AT_FDCWD, to, 0) == 0) {
        /* linkat() does not follow a link swapped in since: make sure the
         * new name is the file just checked. */
        if (lstat(to, &linked) != 0 || linked.st_ino != st.st_ino || linked.st_dev != st.st_dev)
            rc = err_set(err, ERR_INVALID, "'%s' changed while it was imported", rel);
    } else if (link && errno != EXDEV && errno != EPERM && errno != EMLINK && errno != ENOTSUP)
        rc = err_set(err, ERR_SYS(errno), "cannot link '%s': %s", rel, strerror(errno));
    else
        rc = copy_fd(in, &st, rel, to, err);
    close(in);
    return rc;
}

static int import_link(int dfd, const char *name, const char *rel, const char *to, struct err *err)
{
    char target[4096];
    ssize_t n = readlinkat(dfd, name, target, sizeof(target) - 1);
    if (n < 0)
        return err_set(err, ERR_SYS(errno), "cannot read link '%s': %s", rel, strerror(errno));
    target[n] = '\0';
    if (!link_stays_inside(target))
        return err_set(err, ERR_INVALID,
                       "'%s' is a symbolic link to '%s', outside the model directory (a link "
                       "must be relative, without '..')",
                       rel, target);
    if (symlink(target, to) != 0)
        return err_set(err, ERR_SYS(errno), "cannot create link '%s': %s", to, strerror(errno));
    return 0;
}

/* Import the entries of the open directory 'dfd' into the new directory
 * 'to'; 'rel' names 'dfd' inside the source, for messages. Sockets, fifos
 * and devices are not model files: they are left out (and left in place). */
static int import_dir(int dfd, const char *rel, const char *to, bool link, int depth,
                      struct err *err)
{
    if (depth > MAX_TREE_DEPTH)
        return err_set(err, ERR_TOOBIG, "'%s' is nested deeper than %d directories", rel,
                       MAX_TREE_DEPTH);
    if (mkdir(to, 0755) != 0)
        return err_set(err, ERR_SYS(errno), "cannot create '%s': %s", to, strerror(errno));
    DIR *d = dir_stream(dfd);
    if (!d)
        return err_set(err, ERR_SYS(errno), "cannot read '%s': %s", rel[0] ? rel : ".",
                       strerror(errno));
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char *r = rel[0] ? xasprintf("%s/%s", rel, e->d_name) : xstrdup(e->d_name);
        char *dst = xasprintf("%s/%s", to, e->d_name);
        struct stat st;
        if (fstatat(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
            rc = err_set(err, ERR_SYS(errno), "cannot read '%s': %s", r, strerror(errno));
        } else if (S_ISREG(st.st_mode)) {
            rc = import_file(dfd, e->d_name, r, dst, link, err);
        } else if (S_ISLNK(st.st_mode)) {
            rc = import_link(dfd, e->d_name, r, dst, err);
        } else if (S_ISDIR(st.st_mode)) {
            int sub = openat(dfd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub < 0)
                rc = err_set(err, ERR_SYS(errno), "cannot open '%s': %s", r, strerror(errno));
            else {
                rc = import_dir(sub, r, dst, link, depth + 1, err);
                close(sub);
            }
        }
        free(r);
        free(dst);
    }
    closedir(d);
    if (rc == 0 && (rc = sync_dir(to)) != 0)
        err_set(err, rc, "cannot sync '%s': %s", to, strerror(-rc));
    return rc;
}

/* Whether the source entry 'ss' is still what was imported as 'cs'. */
static bool still_imported(int sfd, int cfd, const char *name, const struct stat *ss,
                           const struct stat *cs)
{
    if (S_ISREG(ss->st_mode) && S_ISREG(cs->st_mode))
        return (ss->st_dev == cs->st_dev && ss->st_ino == cs->st_ino) ||
               (ss->st_size == cs->st_size && same_time(&ss->st_mtim, &cs->st_mtim));
    if (S_ISLNK(ss->st_mode) && S_ISLNK(cs->st_mode)) {
        char a[4096], b[4096];
        ssize_t na = readlinkat(sfd, name, a, sizeof(a));
        ssize_t nb = readlinkat(cfd, name, b, sizeof(b));
        return na >= 0 && na == nb && memcmp(a, b, (size_t)na) == 0;
    }
    return false;
}

/* CUT, once the version is in place: remove from the source directory 'sfd'
 * what the stored copy 'cfd' holds, a file only while it is still the one
 * imported, a directory once it is empty. Anything else stays. */
static int remove_imported(int sfd, int cfd, const char *rel, int depth, struct err *err)
{
    DIR *d = depth > MAX_TREE_DEPTH + 1 ? NULL : dir_stream(cfd);
    if (!d)
        return err_set(err, ERR_SYS(EIO), "cannot read the copy of '%s'", rel[0] ? rel : ".");
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        struct stat cs, ss;
        if (fstatat(cfd, e->d_name, &cs, AT_SYMLINK_NOFOLLOW) != 0 ||
            fstatat(sfd, e->d_name, &ss, AT_SYMLINK_NOFOLLOW) != 0)
            continue; /* removed already (before a crash) */
        char *r = rel[0] ? xasprintf("%s/%s", rel, e->d_name) : xstrdup(e->d_name);
        if (S_ISDIR(cs.st_mode) && S_ISDIR(ss.st_mode)) {
            int fl = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
            int s = openat(sfd, e->d_name, fl), c = openat(cfd, e->d_name, fl);
            if (s >= 0 && c >= 0)
                rc = remove_imported(s, c, r, depth + 1, err);
            if (s >= 0)
                close(s);
            if (c >= 0)
                close(c);
            if (rc == 0 && unlinkat(sfd, e->d_name, AT_REMOVEDIR) != 0 && errno != ENOTEMPTY &&
                errno != EEXIST && errno != ENOENT)
                rc = err_set(err, ERR_SYS(errno), "cannot remove '%s': %s", r, strerror(errno));
        } else if (still_imported(sfd, cfd, e->d_name, &ss, &cs) &&
                   unlinkat(sfd, e->d_name, 0) != 0 && errno != ENOENT) {
            rc = err_set(err, ERR_SYS(errno), "cannot remove '%s': %s", r, strerror(errno));
        }
        free(r);
    }
    closedir(d);
    return rc;
}

static int remove_tree(const char *path, int depth, struct err *err)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return errno == ENOENT
                   ? 0
                   : err_set(err, ERR_SYS(errno), "cannot read '%s': %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode) && depth <= MAX_TREE_DEPTH + 1) {
        DIR *d = opendir(path);
        if (!d)
            return err_set(err, ERR_SYS(errno), "cannot read '%s': %s", path, strerror(errno));
        struct dirent *e;
        int rc = 0;
        while (rc == 0 && (e = readdir(d))) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            char *p = xasprintf("%s/%s", path, e->d_name);
            rc = remove_tree(p, depth + 1, err);
            free(p);
        }
        closedir(d);
        if (rc)
            return rc;
        if (rmdir(path) != 0)
            return err_set(err, ERR_SYS(errno), "cannot remove '%s': %s", path, strerror(errno));
        return 0;
    }
    if (unlink(path) != 0 && errno != ENOENT)
        return err_set(err, ERR_SYS(errno), "cannot remove '%s': %s", path, strerror(errno));
    return 0;
}

int imports_remove_tree(const char *path, struct err *err)
{
    return remove_tree(path, 0, err);
}

/* ------------------------------------------------------------------------ */
/* Checks                                                                   */

/* An XGBoost version directory holds exactly one model file besides berth.json,
 * the layout berth-serve serves (docs/serve.md). */
static int check_xgboost(int dfd, struct err *err)
{
    DIR *d = dir_stream(dfd);
    if (!d)
        return err_set(err, ERR_SYS(errno), "cannot read the model directory: %s", strerror(errno));
    int files = 0;
    char first[256] = "", second[256] = "";
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || strcmp(e->d_name, "berth.json") == 0)
            continue;
        struct stat st;
        if (fstatat(dfd, e->d_name, &st, 0) != 0 || !S_ISREG(st.st_mode))
            continue;
        snprintf(files ? second : first, sizeof(first), "%s", e->d_name);
        files++;
    }
    closedir(d);
    if (files == 0)
        return err_set(err, ERR_INVALID, "no model file in the imported directory");
    if (files > 1)
        return err_set(err, ERR_INVALID,
                       "an XGBOOST model version must hold one model file, found %d ('%s', '%s', "
                       "...)",
                       files, first, second);
    return 0;
}

static bool is_torch_file(const char *name)
{
    size_t n = strlen(name);
    return (n > 3 && strcmp(name + n - 3, ".pt") == 0) ||
           (n > 4 && strcmp(name + n - 4, ".pth") == 0);
}

/* A PYTORCH or TORCH_SCRIPT version directory holds the file berth-serve
 * serves: model.pt, or its one .pt/.pth file; and that file is TorchScript
 * (an eager torch.save file is refused with what to do instead). */
static int check_torch(int dfd, struct err *err)
{
    DIR *d = dir_stream(dfd);
    if (!d)
        return err_set(err, ERR_SYS(errno), "cannot read the model directory: %s", strerror(errno));
    int files = 0;
    char name[256] = "", second[256] = "";
    bool named = false;
    struct dirent *e;
    while ((e = readdir(d))) {
        struct stat st;
        if (e->d_name[0] == '.' || !is_torch_file(e->d_name) || named ||
            fstatat(dfd, e->d_name, &st, 0) != 0 || !S_ISREG(st.st_mode))
            continue;
        named = strcmp(e->d_name, "model.pt") == 0;
        if (files && !named)
            snprintf(second, sizeof(second), "%s", e->d_name);
        if (!files || named)
            snprintf(name, sizeof(name), "%s", e->d_name);
        files = named ? 1 : files + 1;
    }
    closedir(d);
    if (files == 0)
        return err_set(err, ERR_INVALID,
                       "no TorchScript file in the imported directory (model.pt, or one *.pt)");
    if (files > 1)
        return err_set(err, ERR_INVALID,
                       "more than one TorchScript file ('%s', '%s', ...) and none is model.pt: "
                       "name the one to serve model.pt",
                       name, second);
    int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        int e2 = errno;
        if (fd >= 0)
            close(fd);
        return err_set(err, ERR_SYS(e2), "cannot open '%s': %s", name, strerror(e2));
    }
    if (st.st_size == 0) {
        close(fd);
        return err_set(err, ERR_INVALID, "'%s' is empty", name);
    }
    void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED)
        return err_set(err, ERR_SYS(errno), "cannot read '%s': %s", name, strerror(errno));
    int rc = serve_torch_check(map, (size_t)st.st_size, name, NULL, err);
    munmap(map, (size_t)st.st_size);
    return rc;
}

static bool is_torch_format(const char *format)
{
    return strcmp(format, "PYTORCH") == 0 || strcmp(format, "TORCH_SCRIPT") == 0;
}

/* ------------------------------------------------------------------------ */
/* Running one import                                                       */

/* CUT, once the version is in place at 'v->path'. A failure here does not
 * fail the import (the version is complete); it is reported in 'note'. */
static void cut_source(const struct imports *im, const struct store_model_version *v, char *note,
                       size_t size)
{
    int sfd = -1, cfd = -1;
    char *src = NULL;
    struct err err = {0};
    if (open_source(im, v->source_path, &sfd, &src, &err) != 0)
        return; /* gone (removed before a crash, or by its owner) or no longer allowed */
    cfd = open(v->path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    int rc = cfd < 0
                 ? err_set(&err, ERR_SYS(errno), "cannot open '%s': %s", v->path, strerror(errno))
                 : remove_imported(sfd, cfd, "", 0, &err);
    bool root = false;
    for (size_t i = 0; i < im->nroots; i++)
        root |= strcmp(src, im->roots[i]) == 0;
    if (rc == 0 && !root && rmdir(src) != 0 && errno != ENOTEMPTY && errno != EEXIST)
        rc = err_set(&err, ERR_SYS(errno), "cannot remove '%s': %s", src, strerror(errno));
    if (rc) {
        snprintf(note, size, "imported, but the source was not removed: %s", err.msg);
        log_warn("imports", "version %s: %s", v->id, note);
    }
    if (cfd >= 0)
        close(cfd);
    close(sfd);
    free(src);
}

static int run_import(const struct imports *im, const struct store_model_version *v, char *note,
                      size_t note_size, struct err *err)
{
    bool cut = strcmp(v->move_mode, "CUT") == 0;
    struct stat st;
    if (stat(v->path, &st) == 0) {
        /* Renamed into place before a crash: only the status (and for CUT
         * the removal of the source) is missing. */
        if (cut)
            cut_source(im, v, note, note_size);
        return 0;
    }
    int sfd = -1, tfd = -1;
    char *src = NULL;
    int rc = open_source(im, v->source_path, &sfd, &src, err);
    bool xgb = strcmp(v->format, "XGBOOST") == 0, torch = is_torch_format(v->format);
    int (*check)(int, struct err *) = xgb ? check_xgboost : torch ? check_torch : NULL;
    /* Validate first: a source that cannot be a version is never copied. */
    if (rc == 0 && check)
        rc = check(sfd, err);
    if (rc) {
        if (sfd >= 0)
            close(sfd);
        free(src);
        return rc;
    }
    char *tmp = xasprintf("%s.importing", v->path);
    imports_remove_tree(tmp, NULL);
    char *parent = xstrdup(v->path);
    char *slash = strrchr(parent, '/');
    if (slash)
        *slash = '\0';
    mkdir(parent, 0755);
    rc = import_dir(sfd, "", tmp, cut, 0, err);
    close(sfd);
    free(src);
    if (rc == 0 && check) {
        tfd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        rc = tfd < 0 ? err_set(err, ERR_SYS(errno), "cannot open '%s': %s", tmp, strerror(errno))
                     : check(tfd, err);
        if (tfd >= 0)
            close(tfd);
    }
    if (rc == 0 && rename(tmp, v->path) != 0)
        rc = err_set(err, ERR_SYS(errno), "cannot rename '%s': %s", tmp, strerror(errno));
    if (rc == 0)
        sync_dir(parent); /* the rename is durable before the source goes */
    free(parent);
    if (rc)
        imports_remove_tree(tmp, NULL);
    else if (cut)
        cut_source(im, v, note, note_size);
    free(tmp);
    return rc;
}

/* The version (or its model) was deleted while its files were copied: the
 * delete removed nothing yet, so remove what the import put in place. */
static void forget_if_deleted(struct imports *im, const struct store_model_version *v)
{
    struct store_model_version now = {0};
    if (store_model_version_get(im->st, NULL, v->id, &now, NULL) != ERR_NOTFOUND) {
        store_model_version_release(&now);
        return;
    }
    log_info("imports", "version %s was deleted during its import; removing its files", v->id);
    imports_remove_tree(v->path, NULL);
    char *parent = xstrdup(v->path);
    char *slash = strrchr(parent, '/');
    if (slash) {
        *slash = '\0';
        rmdir(parent); /* the model's directory, if this was its last version */
    }
    free(parent);
}

static void *imports_main(void *arg)
{
    struct imports *im = arg;
    pthread_mutex_lock(&im->lock);
    for (;;) {
        while (!im->stop && im->nqueue == 0)
            pthread_cond_wait(&im->wake, &im->lock);
        if (im->stop)
            break;
        char *id = im->queue[0];
        memmove(im->queue, im->queue + 1, (im->nqueue - 1) * sizeof(char *));
        im->nqueue--;
        pthread_mutex_unlock(&im->lock);

        struct store_model_version v = {0};
        struct err err = {0};
        /* Gone (deleted while queued) or already finished: nothing to do. */
        if (store_model_version_get(im->st, NULL, id, &v, &err) == 0 &&
            v.status == STORE_IMPORT_RUNNING) {
            char note[sizeof(err.msg) + 64] = "";
            int rc = run_import(im, &v, note, sizeof(note), &err);
            struct err serr = {0};
            if (store_model_version_set_status(im->st, v.id,
                                               rc ? STORE_IMPORT_FAILED : STORE_IMPORT_SUCCESS,
                                               rc ? 0 : 100, rc ? err.msg : note, &serr) != 0)
                log_error("imports", "cannot record the import of %s: %s", v.id, serr.msg);
            if (rc)
                log_warn("imports", "import failed version=%s: %s", v.id, err.msg);
            else
                log_info("imports", "import done version=%s path=%s", v.id, v.path);
            forget_if_deleted(im, &v);
        }
        store_model_version_release(&v);
        free(id);
        pthread_mutex_lock(&im->lock);
    }
    pthread_mutex_unlock(&im->lock);
    return NULL;
}

void imports_queue(struct imports *im, const char *version_id)
{
    pthread_mutex_lock(&im->lock);
    im->queue = xrealloc(im->queue, (im->nqueue + 1) * sizeof(char *));
    im->queue[im->nqueue++] = xstrdup(version_id);
    pthread_cond_signal(&im->wake);
    pthread_mutex_unlock(&im->lock);
}

/* Resolve and check one import root; 'given' says whether it was configured
 * (a missing default root just means none). */
static int add_root(struct imports *im, const char *root, bool given, struct err *err)
{
    if (im->nroots == MAX_ROOTS)
        return err_set(err, ERR_TOOBIG, "at most %d import roots", MAX_ROOTS);
    char *r = realpath(root, NULL);
    struct stat st;
    if (!r && !given)
        return 0;
    if (!r)
        return err_set(err, ERR_SYS(errno), "import root '%s': %s", root, strerror(errno));
    int rc = 0;
    if (stat(r, &st) != 0 || !S_ISDIR(st.st_mode))
        rc = err_set(err, ERR_INVALID, "import root '%s' is not a directory", root);
    else if (path_within(r, im->data_dir))
        rc = err_set(err, ERR_INVALID, "import root '%s' is inside the data directory '%s'", root,
                     im->data_dir);
    if (rc) {
        free(r);
        return rc;
    }
    im->roots[im->nroots++] = r;
    return 0;
}

int imports_start(struct store *st, const char *data_dir, const char *instance_dir,
                  const char *const *roots, struct imports **out, struct err *err)
{
    struct imports *im = xcalloc(1, sizeof(*im));
    im->st = st;
    im->data_dir = xstrdup(data_dir);
    im->instance_dir = instance_dir ? xstrdup(instance_dir) : NULL;
    pthread_mutex_init(&im->lock, NULL);
    pthread_cond_init(&im->wake, NULL);
    int rc = 0;
    if (!roots || !roots[0])
        rc = add_root(im, IMPORTS_DEFAULT_ROOT, false, err);
    for (size_t i = 0; rc == 0 && roots && roots[i]; i++)
        rc = add_root(im, roots[i], true, err);
    for (size_t i = 0; i < im->nroots; i++)
        log_info("imports", "import root %s", im->roots[i]);
    if (rc == 0 && im->nroots == 0)
        log_info("imports", "no import root: imports are refused until berthd is started with "
                            "--import-root DIR");
    struct store_model_version *running = NULL;
    size_t n = 0;
    if (rc == 0)
        rc = store_model_version_list_running(st, &running, &n, err);
    if (rc) {
        imports_stop(im);
        return rc;
    }
    for (size_t i = 0; i < n; i++) {
        log_info("imports", "resuming the import of %s", running[i].id);
        imports_queue(im, running[i].id);
        store_model_version_release(&running[i]);
    }
    free(running);
    rc = pthread_create(&im->thread, NULL, imports_main, im);
    if (rc) {
        imports_stop(im);
        return err_set(err, ERR_SYS(rc), "cannot start the import thread: %s", strerror(rc));
    }
    *out = im;
    return 0;
}

void imports_stop(struct imports *im)
{
    if (!im)
        return;
    pthread_mutex_lock(&im->lock);
    im->stop = true;
    pthread_cond_signal(&im->wake);
    pthread_mutex_unlock(&im->lock);
    if (im->thread)
        pthread_join(im->thread, NULL);
    for (size_t i = 0; i < im->nqueue; i++)
        free(im->queue[i]);
    free(im->queue);
    pthread_cond_destroy(&im->wake);
    pthread_mutex_destroy(&im->lock);
    for (size_t i = 0; i < im->nroots; i++)
        free(im->roots[i]);
    free(im->data_dir);
    free(im->instance_dir);
    free(im);
}
