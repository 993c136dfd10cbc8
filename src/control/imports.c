/* imports.c - the import thread. Files are copied into a temporary directory
 * beside their destination and renamed into place only when complete, so a
 * crash never leaves a half-copied version that looks finished; a restart
 * removes the temporary directory and copies again. A CUT import renames the
 * source when it is on the same file system, and otherwise copies, then
 * removes the source once the copy is in place. */
#include "control/imports.h"
#include "base/alloc.h"
#include "base/log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_TREE_DEPTH 32

struct imports {
    struct store *st;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    char **queue;
    size_t nqueue;
    bool stop;
};

/* ------------------------------------------------------------------------ */
/* Trees                                                                    */

static int copy_file(const char *from, const char *to, mode_t mode, struct err *err)
{
    int in = open(from, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return err_set(err, ERR_SYS(errno), "cannot open '%s': %s", from, strerror(errno));
    int out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode & 0777);
    if (out < 0) {
        int e = errno;
        close(in);
        return err_set(err, ERR_SYS(e), "cannot create '%s': %s", to, strerror(e));
    }
    char buf[1 << 16];
    int rc = 0;
    for (;;) {
        ssize_t n = read(in, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = err_set(err, ERR_SYS(errno), "cannot read '%s': %s", from, strerror(errno));
            break;
        }
        if (n == 0)
            break;
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(out, buf + off, (size_t)(n - off));
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0) {
                rc = err_set(err, ERR_SYS(errno), "cannot write '%s': %s", to, strerror(errno));
                break;
            }
            off += w;
        }
        if (rc)
            break;
    }
    if (rc == 0 && fsync(out) != 0)
        rc = err_set(err, ERR_SYS(errno), "cannot sync '%s': %s", to, strerror(errno));
    close(in);
    if (close(out) != 0 && rc == 0)
        rc = err_set(err, ERR_SYS(errno), "cannot write '%s': %s", to, strerror(errno));
    return rc;
}

static int copy_tree(const char *from, const char *to, int depth, struct err *err)
{
    if (depth > MAX_TREE_DEPTH)
        return err_set(err, ERR_TOOBIG, "'%s' is nested deeper than %d directories", from,
                       MAX_TREE_DEPTH);
    struct stat st;
    if (lstat(from, &st) != 0)
        return err_set(err, ERR_SYS(errno), "cannot read '%s': %s", from, strerror(errno));
    if (S_ISREG(st.st_mode))
        return copy_file(from, to, st.st_mode, err);
    if (S_ISLNK(st.st_mode)) {
        char target[4096];
        ssize_t n = readlink(from, target, sizeof(target) - 1);
        if (n < 0)
            return err_set(err, ERR_SYS(errno), "cannot read link '%s': %s", from, strerror(errno));
        target[n] = '\0';
        if (symlink(target, to) != 0)
            return err_set(err, ERR_SYS(errno), "cannot create link '%s': %s", to, strerror(errno));
        return 0;
    }
    if (!S_ISDIR(st.st_mode))
        return 0; /* sockets, fifos and devices are not model files */
    if (mkdir(to, 0755) != 0)
        return err_set(err, ERR_SYS(errno), "cannot create '%s': %s", to, strerror(errno));
    DIR *d = opendir(from);
    if (!d)
        return err_set(err, ERR_SYS(errno), "cannot read '%s': %s", from, strerror(errno));
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char *a = xasprintf("%s/%s", from, e->d_name);
        char *b = xasprintf("%s/%s", to, e->d_name);
        rc = copy_tree(a, b, depth + 1, err);
        free(a);
        free(b);
    }
    closedir(d);
    return rc;
}

int imports_copy_tree(const char *from, const char *to, struct err *err)
{
    return copy_tree(from, to, 0, err);
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
static int check_xgboost(const char *dir, struct err *err)
{
    DIR *d = opendir(dir);
    if (!d)
        return err_set(err, ERR_SYS(errno), "cannot read '%s': %s", dir, strerror(errno));
    int files = 0;
    char first[256] = "", second[256] = "";
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || strcmp(e->d_name, "berth.json") == 0)
            continue;
        char *p = xasprintf("%s/%s", dir, e->d_name);
        struct stat st;
        bool reg = stat(p, &st) == 0 && S_ISREG(st.st_mode);
        free(p);
        if (!reg)
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

/* ------------------------------------------------------------------------ */
/* Running one import                                                       */

static int run_import(struct store_model_version *v, struct err *err)
{
    struct stat st;
    if (stat(v->path, &st) == 0)
        return 0; /* renamed into place before a crash: only the status is missing */
    char *tmp = xasprintf("%s.importing", v->path);
    imports_remove_tree(tmp, NULL);
    char *parent = xstrdup(v->path);
    char *slash = strrchr(parent, '/');
    if (slash)
        *slash = '\0';
    mkdir(parent, 0755);
    free(parent);
    int rc = 0;
    bool cut = strcmp(v->move_mode, "CUT") == 0;
    if (stat(v->source_path, &st) != 0)
        rc = err_set(err, ERR_NOTFOUND, "the source directory '%s' does not exist", v->source_path);
    else if (!S_ISDIR(st.st_mode))
        rc = err_set(err, ERR_INVALID, "the source '%s' is not a directory", v->source_path);
    if (rc == 0 && cut && rename(v->source_path, tmp) == 0)
        cut = false; /* moved in one step: nothing left to remove */
    else if (rc == 0)
        rc = imports_copy_tree(v->source_path, tmp, err);
    if (rc == 0 && strcmp(v->format, "XGBOOST") == 0)
        rc = check_xgboost(tmp, err);
    if (rc == 0 && rename(tmp, v->path) != 0)
        rc = err_set(err, ERR_SYS(errno), "cannot rename '%s': %s", tmp, strerror(errno));
    if (rc)
        imports_remove_tree(tmp, NULL);
    else if (cut)
        imports_remove_tree(v->source_path, NULL);
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
            int rc = run_import(&v, &err);
            struct err serr = {0};
            if (store_model_version_set_status(im->st, v.id,
                                               rc ? STORE_IMPORT_FAILED : STORE_IMPORT_SUCCESS,
                                               rc ? 0 : 100, rc ? err.msg : "", &serr) != 0)
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

int imports_start(struct store *st, struct imports **out, struct err *err)
{
    struct imports *im = xcalloc(1, sizeof(*im));
    im->st = st;
    pthread_mutex_init(&im->lock, NULL);
    pthread_cond_init(&im->wake, NULL);
    struct store_model_version *running;
    size_t n;
    int rc = store_model_version_list_running(st, &running, &n, err);
    if (rc) {
        free(im);
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
    free(im);
}
