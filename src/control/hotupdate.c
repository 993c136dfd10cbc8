/* hotupdate.c - the numbered version directories of hot-updated services.
 * A version is copied rather than linked as a whole (a symbolic link to the
 * repository would die with a DeleteTrainingModelVersion and cannot be seen
 * from a container): hard links where the file system allows, which costs
 * no space, else a copy. It is assembled under a hidden name and renamed, so
 * berth-serve never sees half a version. */
#include "control/hotupdate.h"
#include "base/alloc.h"
#include "base/log.h"
#include "control/events.h"
#include "drivers/mounts.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MANIFEST ".berth-versions"
#define MAX_VERSIONS 1024

bool ctl_hotupdate_on(const json_t *spec)
{
    const char *kind = json_string_value(json_object_get(spec, "Kind"));
    return kind && strcmp(kind, "model") == 0 &&
           json_is_true(json_object_get(spec, "ModelHotUpdateEnable"));
}

char *ctl_hotupdate_dir(const char *instance_dir, const char *service_id)
{
    return xasprintf("%s/%s/model", instance_dir, service_id);
}

bool ctl_model_base(const json_t *spec, const struct drv_mount *mounts, size_t n,
                    const char *instance_dir, const char *service_id, char **host, char **inside)
{
    *host = *inside = NULL;
    const char *kind = json_string_value(json_object_get(spec, "Kind"));
    if (!kind || strcmp(kind, "model") != 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (!mounts[i].read_only) {
            *host = xstrdup(mounts[i].source);
            *inside = xstrdup(mounts[i].target);
            return true;
        }
    }
    if (!ctl_hotupdate_on(spec))
        return false;
    *host = ctl_hotupdate_dir(instance_dir, service_id);
    *inside = xstrdup(*host);
    return true;
}

/* ------------------------------------------------------------------------ */
/* Copying a version                                                        */

static void share(const char *path, gid_t gid, mode_t mode)
{
    if (gid != (gid_t)-1 && chown(path, (uid_t)-1, gid) != 0)
        log_warn("hotupdate", "cannot chown '%s': %s", path, strerror(errno));
    chmod(path, mode);
}

static int copy_file(const char *src, const char *dst, struct err *err)
{
    if (link(src, dst) == 0)
        return 0;
    int in = open(src, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (in < 0)
        return err_set(err, ERR_SYS(errno), "cannot open '%s': %s", src, strerror(errno));
    int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (out < 0) {
        int e = errno;
        close(in);
        return err_set(err, ERR_SYS(e), "cannot create '%s': %s", dst, strerror(e));
    }
    char buf[65536];
    ssize_t n;
    int rc = 0;
    while ((n = read(in, buf, sizeof(buf))) > 0) {
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(out, buf + off, (size_t)(n - off));
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0) {
                rc = err_set(err, ERR_SYS(errno), "cannot write '%s': %s", dst, strerror(errno));
                break;
            }
            off += w;
        }
        if (rc)
            break;
    }
    if (!rc && n < 0)
        rc = err_set(err, ERR_SYS(errno), "cannot read '%s': %s", src, strerror(errno));
    if (close(out) != 0 && !rc)
        rc = err_set(err, ERR_SYS(errno), "cannot write '%s': %s", dst, strerror(errno));
    close(in);
    return rc;
}

static int copy_tree(const char *src, const char *dst, gid_t gid, int depth, struct err *err)
{
    if (depth > 32)
        return err_set(err, ERR_INVALID, "'%s' is nested too deep", src);
    if (mkdir(dst, 0700) != 0)
        return err_set(err, ERR_SYS(errno), "cannot create '%s': %s", dst, strerror(errno));
    DIR *d = opendir(src);
    if (!d)
        return err_set(err, ERR_SYS(errno), "cannot read '%s': %s", src, strerror(errno));
    int rc = 0;
    struct dirent *e;
    while (!rc && (e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char *s = xasprintf("%s/%s", src, e->d_name), *t = xasprintf("%s/%s", dst, e->d_name);
        struct stat st;
        if (lstat(s, &st) != 0) {
            rc = err_set(err, ERR_SYS(errno), "cannot stat '%s': %s", s, strerror(errno));
        } else if (S_ISDIR(st.st_mode)) {
            rc = copy_tree(s, t, gid, depth + 1, err);
        } else if (S_ISLNK(st.st_mode)) {
            /* Imports keep only relative links that stay inside the version. */
            char target[4096];
            ssize_t n = readlink(s, target, sizeof(target) - 1);
            if (n < 0 || (target[n] = '\0', symlink(target, t) != 0))
                rc = err_set(err, ERR_SYS(errno), "cannot copy link '%s': %s", s, strerror(errno));
        } else if (S_ISREG(st.st_mode)) {
            rc = copy_file(s, t, err);
            if (!rc)
                share(t, gid, 0440);
        }
        free(s);
        free(t);
    }
    closedir(d);
    if (!rc)
        share(dst, gid, 0750);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* The manifest: one "N MODEL-VERSION-ID" line per number ever given out,
 * including the ones auto-clean removed since (they are not added again). */

struct entry {
    int64_t n;
    char id[96];
};

static size_t read_manifest(const char *dir, struct entry *out, size_t cap)
{
    char *path = xasprintf("%s/%s", dir, MANIFEST);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    free(path);
    FILE *f = fd >= 0 ? fdopen(fd, "r") : NULL;
    size_t k = 0;
    if (!f) {
        if (fd >= 0)
            close(fd);
        return 0;
    }
    char line[256];
    while (k < cap && fgets(line, sizeof(line), f)) {
        long long n;
        char id[96];
        if (sscanf(line, "%lld %95s", &n, id) == 2 && n > 0) {
            out[k].n = n;
            snprintf(out[k].id, sizeof(out[k].id), "%s", id);
            k++;
        }
    }
    fclose(f);
    return k;
}

static int write_manifest(const char *dir, const struct entry *e, size_t n, struct err *err)
{
    char *path = xasprintf("%s/%s", dir, MANIFEST), *tmp = xasprintf("%s.tmp", path);
    /* Never through a link someone left under that name. */
    unlink(tmp);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0640);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    int rc = 0;
    if (!f) {
        if (fd >= 0)
            close(fd);
        rc = err_set(err, ERR_SYS(errno), "cannot write '%s': %s", tmp, strerror(errno));
    } else {
        for (size_t i = 0; i < n; i++)
            fprintf(f, "%lld %s\n", (long long)e[i].n, e[i].id);
        if (fclose(f) != 0 || rename(tmp, path) != 0)
            rc = err_set(err, ERR_SYS(errno), "cannot write '%s': %s", path, strerror(errno));
    }
    free(path);
    free(tmp);
    return rc;
}

static bool listed(const struct entry *e, size_t n, const char *id)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(e[i].id, id) == 0)
            return true;
    return false;
}

static bool on_disk(const char *dir, int64_t n)
{
    char *p = xasprintf("%s/%lld", dir, (long long)n);
    struct stat st;
    bool yes = stat(p, &st) == 0 && S_ISDIR(st.st_mode);
    free(p);
    return yes;
}

/* The auto-clean limit a version was imported with; 0: off. */
static long long clean_limit(const struct store_model_version *v)
{
    json_t *attrs = json_loads(v->attrs_json ? v->attrs_json : "{}", 0, NULL);
    const char *on = json_string_value(json_object_get(attrs, "AutoClean"));
    long long keep =
        on && strcmp(on, "true") == 0
            ? (long long)json_integer_value(json_object_get(attrs, "MaxReservedModels"))
            : 0;
    json_decref(attrs);
    return keep;
}

static int add_version(const char *dir, const struct store_model_version *v, int64_t n, gid_t gid,
                       struct err *err)
{
    char *tmp = xasprintf("%s/.new-%lld", dir, (long long)n);
    char *final = xasprintf("%s/%lld", dir, (long long)n);
    struct err ignored = {0};
    drv_remove_tree(tmp, &ignored); /* what a crash left */
    int rc = copy_tree(v->path, tmp, gid, 0, err);
    if (!rc && rename(tmp, final) != 0)
        rc = err_set(err, ERR_SYS(errno), "cannot rename '%s': %s", tmp, strerror(errno));
    if (rc)
        drv_remove_tree(tmp, &ignored);
    free(tmp);
    free(final);
    return rc;
}

int ctl_hotupdate_sync(struct store *st, const char *region, const json_t *spec, const char *dir,
                       gid_t gid, int64_t served, struct ctl_hot_result *out, struct err *err)
{
    memset(out, 0, sizeof(*out));
    const char *pin = json_string_value(json_object_get(spec, "ModelVersionId"));
    const char *model = json_string_value(json_object_get(spec, "ModelId"));
    const char *format = json_string_value(json_object_get(spec, "ModelFormat"));
    if (!pin || !model || !format)
        return err_set(err, ERR_INVALID, "the spec names no model version");
    if (mkdir(dir, 0700) == 0)
        share(dir, gid, 0750);
    else if (errno != EEXIST)
        return err_set(err, ERR_SYS(errno), "cannot create '%s': %s", dir, strerror(errno));
    struct store_model_version *vs = NULL;
    size_t nv = 0;
    int rc = store_model_version_list(st, region, model, &vs, &nv, err);
    if (rc)
        return rc;
    struct entry *es = xcalloc(MAX_VERSIONS, sizeof(*es));
    size_t ne = read_manifest(dir, es, MAX_VERSIONS);
    int64_t top = 0;
    for (size_t i = 0; i < ne; i++)
        if (es[i].n > top)
            top = es[i].n;
    /* The pinned version, then every later one, in import order. */
    size_t from = nv;
    for (size_t i = 0; i < nv; i++)
        if (strcmp(vs[i].id, pin) == 0)
            from = i;
    const struct store_model_version *newest = NULL;
    size_t until = ctl_hotupdate_on(spec) ? nv : from + 1; /* without: the pinned one only */
    for (size_t i = from; i < nv && i < until && !rc; i++) {
        const struct store_model_version *v = &vs[i];
        if (v->status != STORE_IMPORT_SUCCESS || strcmp(v->format, format) != 0 ||
            listed(es, ne, v->id) || ne == MAX_VERSIONS)
            continue;
        rc = add_version(dir, v, top + 1, gid, err);
        if (rc)
            break;
        top++;
        es[ne].n = top;
        snprintf(es[ne].id, sizeof(es[ne].id), "%s", v->id);
        ne++;
        rc = write_manifest(dir, es, ne, err);
        out->added++;
        snprintf(out->added_version, sizeof(out->added_version), "%s", v->id);
        log_info("hotupdate", "%s: model version %s is version %lld", dir, v->id, (long long)top);
    }
    /* The policy of the newest version on disk. */
    for (size_t i = 0; i < ne; i++)
        if (es[i].n == top)
            for (size_t j = 0; j < nv; j++)
                if (strcmp(vs[j].id, es[i].id) == 0)
                    newest = &vs[j];
    out->newest = top;
    out->keep = newest ? clean_limit(newest) : 0;
    if (!rc && out->keep > 0 && served > 0) {
        /* Newest first: keep 'keep' of those on disk, remove the older ones
         * that every instance has moved past. */
        long long kept = 0;
        for (int64_t n = top; n > 0; n--) {
            if (!on_disk(dir, n))
                continue;
            if (kept < out->keep || n >= served) {
                kept++;
                continue;
            }
            char *p = xasprintf("%s/%lld", dir, (long long)n);
            if (drv_remove_tree(p, err) == 0) {
                out->removed++;
                log_info("hotupdate", "%s: auto-clean removed version %lld (keeps %lld)", dir,
                         (long long)n, out->keep);
            }
            free(p);
        }
    }
    for (size_t i = 0; i < nv; i++)
        store_model_version_release(&vs[i]);
    free(vs);
    free(es);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* On a thread                                                              */

struct hot_work {
    uv_work_t work;
    struct store *st;
    char *service_id, *region, *spec_json, *dir;
    gid_t gid;
    int64_t served;
    void (*done)(void *, const char *);
    void *arg;
};

static void hot_work_run(uv_work_t *w)
{
    struct hot_work *h = w->data;
    json_t *spec = json_loads(h->spec_json, 0, NULL);
    struct ctl_hot_result hr;
    struct err err = {0};
    if (ctl_hotupdate_sync(h->st, h->region, spec, h->dir, h->gid, h->served, &hr, &err) != 0)
        log_warn("hotupdate", "service %s: %s", h->service_id, err.msg);
    if (hr.added)
        ctl_event_version(h->st, h->region, h->service_id, CTL_EVENT_NORMAL, "ModelHotUpdated",
                          "Model version %s is version %lld of the model base path",
                          hr.added_version, (long long)hr.newest);
    if (hr.removed)
        ctl_event_version(h->st, h->region, h->service_id, CTL_EVENT_NORMAL, "ModelAutoCleaned",
                          "Auto-clean removed %d old version%s (keeps %lld)", hr.removed,
                          hr.removed == 1 ? "" : "s", hr.keep);
    json_decref(spec);
}

static void hot_work_done(uv_work_t *w, int status)
{
    (void)status;
    struct hot_work *h = w->data;
    h->done(h->arg, h->service_id);
    free(h->service_id);
    free(h->region);
    free(h->spec_json);
    free(h->dir);
    free(h);
}

int ctl_hotupdate_queue(const struct ctl_hot_job *job)
{
    json_t *spec = json_loads(job->spec_json, 0, NULL);
    struct drv_mount m[DRV_MOUNTS_MAX];
    size_t n = 0;
    char *dir = NULL, *inside = NULL;
    struct err err = {0};
    int rc = ctl_hotupdate_on(spec) ? drv_mounts_of_spec(job->volumes, job->spec_json, m, &n, &err)
                                    : ERR_INVALID;
    if (!rc && !ctl_model_base(spec, m, n, job->instance_dir, job->service_id, &dir, &inside))
        rc = ERR_INVALID;
    drv_mounts_release(m, n);
    json_decref(spec);
    free(inside);
    if (rc) {
        free(dir);
        return rc;
    }
    struct hot_work *h = xcalloc(1, sizeof(*h));
    h->work.data = h;
    h->st = job->st;
    h->service_id = xstrdup(job->service_id);
    h->region = xstrdup(job->region);
    h->spec_json = xstrdup(job->spec_json);
    h->dir = dir;
    h->gid = job->gid;
    h->served = job->served;
    h->done = job->done;
    h->arg = job->arg;
    rc = uv_queue_work(job->loop, &h->work, hot_work_run, hot_work_done);
    if (rc != 0) {
        free(h->service_id);
        free(h->region);
        free(h->spec_json);
        free(h->dir);
        free(h);
        return ERR_SYS(-rc);
    }
    return 0;
}
