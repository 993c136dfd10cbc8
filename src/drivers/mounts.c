/* mounts.c - the operator's file systems, instances' bind mounts in a
 * private mount namespace, and the claim and cleaning of source paths.
 * Source paths are walked one component at a time without following
 * symbolic links: an instance with a writable mount could otherwise plant a
 * link that sends berthd, as root, to bind or clean a directory elsewhere. */
#include "drivers/mounts.h"
#include "base/alloc.h"
#include "base/log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

struct drv_fs {
    char *id;
    char *dir; /* resolved */
    bool read_only;
};

struct drv_volumes {
    struct drv_fs *v;
    size_t n;
};

static bool valid_id(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '-' || *s == '_' || *s == '.'))
            return false;
    return true;
}

int drv_volumes_new(const char *const *specs, size_t n, struct drv_volumes **out, struct err *err)
{
    struct drv_volumes *v = xcalloc(1, sizeof(*v));
    v->v = xcalloc(n ? n : 1, sizeof(*v->v));
    for (size_t i = 0; i < n; i++) {
        char id[128], dir[4096], flag[32] = "";
        int k = sscanf(specs[i], "%127s %4095s %31s", id, dir, flag);
        int rc = 0;
        if (k < 2)
            rc = err_set(err, ERR_INVALID, "file-system '%s': want 'ID DIR' or 'ID DIR read-only'",
                         specs[i]);
        else if (!valid_id(id))
            rc = err_set(err, ERR_INVALID,
                         "file-system '%s': the id must be 1-64 letters, digits, '-', '_' or '.'",
                         specs[i]);
        else if (k == 3 && strcmp(flag, "read-only") != 0)
            rc = err_set(err, ERR_INVALID, "file-system '%s': '%s' is not 'read-only'", specs[i],
                         flag);
        else if (drv_volumes_find(v, id, NULL))
            rc = err_set(err, ERR_INVALID, "file-system '%s': id '%s' is defined twice", specs[i],
                         id);
        char *real = rc ? NULL : realpath(dir, NULL);
        struct stat st;
        if (!rc && (dir[0] != '/' || !real || stat(real, &st) != 0 || !S_ISDIR(st.st_mode)))
            rc = err_set(err, ERR_INVALID,
                         "file-system '%s': '%s' must be an existing absolute directory", specs[i],
                         dir);
        else if (!rc && strcmp(real, "/") == 0)
            rc = err_set(err, ERR_INVALID, "file-system '%s': not the root directory", specs[i]);
        if (rc) {
            free(real);
            drv_volumes_free(v);
            return rc;
        }
        v->v[v->n].id = xstrdup(id);
        v->v[v->n].dir = real;
        v->v[v->n].read_only = k == 3;
        v->n++;
    }
    *out = v;
    return 0;
}

void drv_volumes_free(struct drv_volumes *v)
{
    if (!v)
        return;
    for (size_t i = 0; i < v->n; i++) {
        free(v->v[i].id);
        free(v->v[i].dir);
    }
    free(v->v);
    free(v);
}

const char *drv_volumes_find(const struct drv_volumes *v, const char *id, bool *read_only)
{
    for (size_t i = 0; v && i < v->n; i++) {
        if (strcmp(v->v[i].id, id) == 0) {
            if (read_only)
                *read_only = v->v[i].read_only;
            return v->v[i].dir;
        }
    }
    return NULL;
}

void drv_volumes_list(const struct drv_volumes *v, char *out, size_t size)
{
    size_t len = 0;
    out[0] = '\0';
    for (size_t i = 0; v && i < v->n && len < size; i++)
        len += (size_t)snprintf(out + len, size - len, "%s%s", i ? ", " : "", v->v[i].id);
}

bool drv_mounts_possible(void)
{
    return geteuid() == 0;
}

/* ------------------------------------------------------------------------ */
/* In the child                                                             */

int drv_mounts_apply(const struct drv_mount *m, size_t n)
{
    if (n == 0)
        return 0;
    /* Our own namespace, and nothing we mount there propagates to the host's. */
    if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
        return errno;
    for (size_t i = 0; i < n; i++) {
        if (mount(m[i].source, m[i].target, NULL, MS_BIND | MS_REC, NULL) != 0)
            return errno;
        unsigned long flags = MS_BIND | MS_REMOUNT | MS_NOSUID | MS_NODEV;
        if (m[i].read_only)
            flags |= MS_RDONLY;
        if (mount(NULL, m[i].target, NULL, flags, NULL) != 0)
            return errno;
    }
    return 0;
}

void drv_mounts_release(struct drv_mount *m, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(m[i].source);
        free(m[i].target);
    }
}

/* ------------------------------------------------------------------------ */
/* Source paths                                                             */

static char *read_marker(int dfd)
{
    int fd = openat(dfd, DRV_MOUNT_MARKER, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return NULL;
    char buf[128];
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return NULL;
    buf[n] = '\0';
    buf[strcspn(buf, "\r\n")] = '\0';
    return xstrdup(buf);
}

/* Every component of 'path' that exists is a directory, not a link. */
static int no_links(const char *path, struct err *err)
{
    char *p = xstrdup(path);
    int rc = 0;
    for (char *s = p + 1;; s++) {
        if (*s != '/' && *s != '\0')
            continue;
        char c = *s;
        *s = '\0';
        struct stat st;
        if (lstat(p, &st) == 0 && !S_ISDIR(st.st_mode))
            rc = err_set(err, ERR_INVALID, "'%s' is not a directory (a link or a file)", p);
        *s = c;
        if (rc || c == '\0')
            break;
    }
    free(p);
    return rc;
}

int drv_mount_claim(const char *path, const char *owner, uid_t uid, gid_t gid, mode_t mode,
                    struct err *err)
{
    if (no_links(path, err))
        return ERR_INVALID;
    struct stat st;
    if (stat(path, &st) == 0)
        return 0; /* someone's already: used as it is */
    char *p = xstrdup(path);
    int rc = 0;
    for (char *s = p + 1; !rc; s++) {
        if (*s != '/' && *s != '\0')
            continue;
        char c = *s;
        *s = '\0';
        if (mkdir(p, 0755) != 0 && errno != EEXIST)
            rc = err_set(err, ERR_SYS(errno), "cannot create '%s': %s", p, strerror(errno));
        *s = c;
        if (c == '\0')
            break;
    }
    free(p);
    if (rc)
        return rc;
    char *m = xasprintf("%s/%s", path, DRV_MOUNT_MARKER);
    int fd = open(m, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0444);
    if (fd < 0 || dprintf(fd, "%s\n", owner) < 0)
        rc = err_set(err, ERR_SYS(errno), "cannot write '%s': %s", m, strerror(errno));
    if (fd >= 0)
        close(fd);
    free(m);
    if (!rc && (uid != (uid_t)-1 || gid != (gid_t)-1) && chown(path, uid, gid) != 0)
        rc = err_set(err, ERR_SYS(errno), "cannot chown '%s': %s", path, strerror(errno));
    if (!rc)
        chmod(path, mode);
    return rc;
}

/* Remove what is inside directory 'dfd' (which it closes), never following
 * a link: each step is relative to a descriptor opened with O_NOFOLLOW, so
 * an instance that swaps a directory for a link while we walk cannot send us
 * elsewhere. */
static bool kept(const char *name, int depth, bool keep_versions)
{
    if (depth > 0)
        return false;
    if (strcmp(name, DRV_MOUNT_MARKER) == 0)
        return true;
    return keep_versions &&
           (strspn(name, "0123456789") == strlen(name) || strncmp(name, ".berth-", 7) == 0);
}

/* At depth 0 with 'clean', the marker (and with keep_versions a model's
 * versions) stay. Returns how many entries of 'dfd' went, or -1. */
static int remove_inside(int dfd, int depth, bool clean, bool keep_versions)
{
    DIR *d = fdopendir(dfd);
    if (!d) {
        close(dfd);
        return -1;
    }
    int removed = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
            (clean && kept(e->d_name, depth, keep_versions)))
            continue;
        struct stat st;
        if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
            continue;
        if (S_ISDIR(st.st_mode) && depth < 64) {
            int sub = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub >= 0)
                remove_inside(sub, depth + 1, false, false);
        }
        if (unlinkat(dirfd(d), e->d_name, S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0) != 0)
            log_warn("mounts", "cannot remove '%s': %s", e->d_name, strerror(errno));
        removed++;
    }
    closedir(d);
    return removed;
}

int drv_remove_tree(const char *path, struct err *err)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return errno == ENOENT
                   ? 0
                   : err_set(err, ERR_SYS(errno), "cannot read '%s': %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode)) {
        int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
            return err_set(err, ERR_SYS(errno), "cannot open '%s': %s", path, strerror(errno));
        remove_inside(fd, 0, false, false);
        if (rmdir(path) != 0)
            return err_set(err, ERR_SYS(errno), "cannot remove '%s': %s", path, strerror(errno));
        return 0;
    }
    if (unlink(path) != 0 && errno != ENOENT)
        return err_set(err, ERR_SYS(errno), "cannot remove '%s': %s", path, strerror(errno));
    return 0;
}

int drv_mount_clean(const char *path, const char *owner, bool keep_versions, int *removed,
                    struct err *err)
{
    *removed = 0;
    struct stat st;
    if (lstat(path, &st) != 0 && errno == ENOENT)
        return 0;
    if (no_links(path, err))
        return ERR_UNSUPPORTED;
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return err_set(err, ERR_SYS(errno), "cannot open '%s': %s", path, strerror(errno));
    char *who = read_marker(fd);
    if (!who || strcmp(who, owner) != 0) {
        int rc =
            err_set(err, ERR_UNSUPPORTED,
                    who ? "not cleaning '%s': it belongs to %s" : "not cleaning '%s': %s", path,
                    who ? who
                        : "Berth did not create it (no " DRV_MOUNT_MARKER
                          " marker), so it may hold files it did not write");
        free(who);
        close(fd);
        return rc;
    }
    free(who);
    int n = remove_inside(fd, 0, true, keep_versions);
    if (n < 0)
        return err_set(err, ERR_SYS(errno), "cannot read '%s': %s", path, strerror(errno));
    *removed = n;
    return 0;
}

int drv_mounts_of_spec(const struct drv_volumes *v, const char *spec_json, struct drv_mount *out,
                       size_t *n, struct err *err)
{
    *n = 0;
    json_t *spec = json_loads(spec_json, 0, NULL);
    json_t *list = json_object_get(spec, "Mounts");
    size_t i;
    json_t *m;
    int rc = 0;
    json_array_foreach(list, i, m)
    {
        const char *id = json_string_value(json_object_get(m, "Id"));
        const char *sub = json_string_value(json_object_get(m, "Path"));
        const char *target = json_string_value(json_object_get(m, "MountPath"));
        bool fs_ro = false;
        const char *dir = id ? drv_volumes_find(v, id, &fs_ro) : NULL;
        if (*n == DRV_MOUNTS_MAX || !sub || !target) {
            rc = err_set(err, ERR_INVALID, "the spec's mount %zu is malformed", i);
            break;
        }
        if (!dir) {
            rc = err_set(err, ERR_NOTFOUND,
                         "file system '%s' is not configured in berthd (file-system = ID DIR)",
                         id ? id : "");
            break;
        }
        while (*sub == '/')
            sub++;
        out[*n].source = *sub ? xasprintf("%s/%s", dir, sub) : xstrdup(dir);
        size_t len = strlen(out[*n].source);
        while (len > 1 && out[*n].source[len - 1] == '/')
            out[*n].source[--len] = '\0';
        out[*n].target = xstrdup(target);
        out[*n].read_only = fs_ro || json_is_true(json_object_get(m, "ReadOnly"));
        (*n)++;
    }
    json_decref(spec);
    if (rc) {
        drv_mounts_release(out, *n);
        *n = 0;
    }
    return rc;
}
