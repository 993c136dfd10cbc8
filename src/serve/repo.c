/* repo.c - the model repository and its watcher thread.
 *
 * All mutable state (struct repo_model, struct repo_version) belongs to the
 * watcher thread (or to the caller of serve_repo_new before it starts). What
 * requests see is a snapshot built after each scan and swapped in under a
 * mutex held only for the pointer exchange and the reference count. A version
 * is loaded before any snapshot names it and freed only when the last snapshot
 * naming it is released, so a request that started on a version finishes on it. */
#include "serve/repo.h"
#include "base/alloc.h"
#include "base/arena.h"
#include "base/json.h"
#include "base/log.h"
#include "serve/tensor.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define BERTH_JSON_LIMIT_BYTES (4 * 1024 * 1024)

struct repo_version {
    int64_t number;
    uint64_t dir_sig; /* of the directory when last loaded or tried */
    bool on_disk;
    char *error;                  /* last load failure, with state END */
    struct serve_version *loaded; /* our reference, when available */
};

struct repo_model {
    struct serve_model_config cfg;
    struct repo_version *v; /* sorted by number, ascending */
    size_t nv;
    char *path_error; /* why the base path cannot be read, logged once */
};

struct serve_repo {
    struct serve_repo_options opt;
    char *config_path;
    struct timespec config_mtime; /* with the size: has the file changed? */
    off_t config_size;
    struct repo_model *models;
    size_t nmodels;

    pthread_mutex_t lock; /* guards 'current' and 'stop' */
    pthread_cond_t wake;
    struct serve_snapshot *current;
    bool stop;
    bool thread_started;
    pthread_t thread;
};

int serve_predictor_parse(const char *name)
{
    static const char *const names[] = {"auto", "native", "library"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(name, names[i]) == 0)
            return (int)i;
    return -1;
}

const char *serve_predictor_name(enum serve_predictor p)
{
    return p == SERVE_PREDICTOR_NATIVE    ? "native"
           : p == SERVE_PREDICTOR_LIBRARY ? "library"
                                          : "auto";
}

const char *serve_state_name(enum serve_state s)
{
    switch (s) {
    case SERVE_STATE_UNKNOWN:
        return "UNKNOWN";
    case SERVE_STATE_START:
        return "START";
    case SERVE_STATE_LOADING:
        return "LOADING";
    case SERVE_STATE_AVAILABLE:
        return "AVAILABLE";
    case SERVE_STATE_UNLOADING:
        return "UNLOADING";
    case SERVE_STATE_END:
        return "END";
    }
    return "UNKNOWN";
}

/* ------------------------------------------------------------------------ */
/* Versions                                                                 */

const struct serve_backend *const serve_backends[] = {&serve_backend_xgboost, &serve_backend_torch,
                                                      NULL};

void serve_signature_release(struct serve_signature *sig)
{
    tensor_info_free(sig->inputs, sig->ninputs);
    tensor_info_free(sig->outputs, sig->noutputs);
    if (sig->feature_names)
        for (size_t i = 0; i < sig->num_features; i++)
            free(sig->feature_names[i]);
    if (sig->class_labels)
        for (size_t i = 0; i < sig->num_classes; i++)
            free(sig->class_labels[i]);
    free(sig->feature_names);
    free(sig->class_labels);
    free(sig->input_name);
    free(sig->objective);
    free(sig->predictor);
    memset(sig, 0, sizeof(*sig));
}

static void version_unref(struct serve_version *v)
{
    if (!v || atomic_fetch_sub(&v->refs, 1) != 1)
        return;
    log_info("repo", "version freed number=%lld", (long long)v->number);
    v->backend->free(v->handle);
    serve_signature_release(&v->sig);
    free(v);
}

static char **string_list(const struct json *j, size_t want, const char *field, const char *path,
                          struct err *err)
{
    if (j->type != JSON_ARRAY)
        return err_set(err, ERR_INVALID, "%s: '%s' must be a list of strings", path, field), NULL;
    if (j->len != want)
        return err_set(err, ERR_INVALID, "%s: '%s' has %zu entries but the model has %zu", path,
                       field, j->len, want),
               NULL;
    for (size_t i = 0; i < j->len; i++)
        if (j->u.items[i].type != JSON_STRING || j->u.items[i].len == 0)
            return err_set(err, ERR_INVALID, "%s: '%s'[%zu] must be a non-empty string", path,
                           field, i),
                   NULL;
    char **out = xcalloc(want, sizeof(char *));
    for (size_t i = 0; i < want; i++)
        out[i] = xstrdup(j->u.items[i].u.str);
    return out;
}

/* Read berth.json into 'a'; *root stays NULL when there is none (it is optional). */
static int berth_json_read(const char *path, struct arena *a, const struct json **root,
                           struct err *err)
{
    struct buf b;
    buf_init(&b, BERTH_JSON_LIMIT_BYTES);
    int rc = buf_read_file(&b, path, err);
    struct json *j = NULL;
    if (rc == ERR_SYS(ENOENT))
        rc = 0;
    else if (rc == 0 && (rc = json_parse(a, b.ptr, b.len, &j, err)))
        err_prefix(err, "%s: ", path);
    else if (rc == 0 && j->type != JSON_OBJECT)
        rc = err_set(err, ERR_INVALID, "%s: must be a JSON object", path);
    buf_release(&b);
    *root = rc ? NULL : j;
    return rc;
}

/* What a TorchScript version's berth.json declares: "inputs", "outputs" and
 * "example", into 'lo' (heap and arena memory: see load_options_release). */
static int berth_json_torch(const struct json *root, const char *path, struct arena *a,
                            struct serve_load_options *lo, struct err *err)
{
    for (size_t i = 0; root && i < root->len; i++) {
        const struct json_member *m = &root->u.members[i];
        if (strcmp(m->key, "inputs") && strcmp(m->key, "outputs") && strcmp(m->key, "example"))
            return err_set(err, ERR_INVALID,
                           "%s: unknown field '%s' for a TorchScript model (expected inputs, "
                           "outputs, example)",
                           path, m->key);
    }
    const struct json *in = json_get(root, "inputs"), *out = json_get(root, "outputs");
    const struct json *ex = json_get(root, "example");
    struct serve_tensor_info *inputs = NULL;
    struct serve_tensor *example = NULL;
    char **names = NULL;
    if (in && tensor_info_parse(in, path, &inputs, &lo->ninputs, err))
        return ERR_INVALID;
    lo->inputs = inputs;
    if (out && tensor_names_parse(out, path, &names, &lo->noutputs, err))
        return ERR_INVALID;
    lo->output_names = names;
    if (ex && tensor_example_parse(a, ex, path, &example, &lo->nexample, err))
        return ERR_INVALID;
    lo->example = example;
    return 0;
}

static void load_options_release(struct serve_load_options *lo)
{
    tensor_info_free((struct serve_tensor_info *)lo->inputs, lo->ninputs);
    for (size_t i = 0; i < lo->noutputs; i++)
        free(lo->output_names[i]);
    free((char **)lo->output_names);
}

/* What berth.json says about loading: "predictor" overrides --xgboost_predictor. */
static int berth_json_load_options(const struct json *root, const char *path,
                                   struct serve_load_options *lo, struct err *err)
{
    const struct json *v = root ? json_get(root, "predictor") : NULL;
    if (!v)
        return 0;
    int p = v->type == JSON_STRING ? serve_predictor_parse(v->u.str) : -1;
    if (p < 0)
        return err_set(err, ERR_INVALID,
                       "%s: 'predictor' must be \"auto\", \"native\" or \"library\"", path);
    lo->predictor = (enum serve_predictor)p;
    return 0;
}

/* Apply berth.json, which may name the input tensor, the features and the classes. */
static int berth_json_apply(const struct json *root, const char *path, struct serve_signature *sig,
                            struct err *err)
{
    int rc = 0;
    for (size_t i = 0; root && rc == 0 && i < root->len; i++) {
        const struct json_member *m = &root->u.members[i];
        const struct json *v = &m->value;
        if (strcmp(m->key, "input_name") == 0) {
            if (v->type != JSON_STRING || v->len == 0) {
                rc = err_set(err, ERR_INVALID, "%s: 'input_name' must be a non-empty string", path);
                break;
            }
            free(sig->input_name);
            sig->input_name = xstrdup(v->u.str);
        } else if (strcmp(m->key, "feature_names") == 0) {
            char **names = string_list(v, sig->num_features, "feature_names", path, err);
            if (!names) {
                rc = ERR_INVALID;
                break;
            }
            if (sig->feature_names)
                for (size_t k = 0; k < sig->num_features; k++)
                    free(sig->feature_names[k]);
            free(sig->feature_names);
            sig->feature_names = names;
        } else if (strcmp(m->key, "class_labels") == 0) {
            if (sig->task != SERVE_CLASSIFICATION) {
                rc = err_set(err, ERR_INVALID,
                             "%s: 'class_labels' given but the model ('%s') is not a classifier",
                             path, sig->objective);
                break;
            }
            if (!(sig->class_labels = string_list(v, sig->num_classes, "class_labels", path, err)))
                rc = ERR_INVALID;
        } else if (strcmp(m->key, "predictor") != 0) { /* read before the load */
            rc = err_set(err, ERR_INVALID,
                         "%s: unknown field '%s' (expected input_name, feature_names, "
                         "class_labels, predictor)",
                         path, m->key);
        }
    }
    return rc;
}

static bool is_model_candidate(const char *name)
{
    return name[0] != '.' && strcmp(name, "berth.json") != 0;
}

static bool is_torch_file(const char *name)
{
    size_t n = strlen(name);
    return (n > 3 && strcmp(name + n - 3, ".pt") == 0) ||
           (n > 4 && strcmp(name + n - 4, ".pth") == 0);
}

/* The model file of the version in 'dir' and the backend that loads it.
 * A TorchScript version ('platform' "pytorch", or a .pt/.pth file in the
 * directory) serves model.pt, or its one .pt/.pth file; other files may lie
 * beside it. An XGBoost version holds exactly one model file. */
static int find_model(const char *dir, const char *platform, char **model,
                      const struct serve_backend **backend, struct err *err)
{
    DIR *d = opendir(dir);
    if (!d)
        return err_set(err, ERR_SYS(errno), "cannot read '%s': %s", dir, strerror(errno));
    char *any = NULL, *torch = NULL;
    int nany = 0, ntorch = 0;
    bool named = false; /* model.pt */
    char other[2][256] = {"", ""};
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!is_model_candidate(e->d_name))
            continue;
        char *p = xasprintf("%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(p, &st) != 0 || !S_ISREG(st.st_mode)) {
            free(p);
            continue;
        }
        if (nany < 2)
            snprintf(other[nany], sizeof(other[0]), "%s", e->d_name);
        nany++;
        if (is_torch_file(e->d_name) && !named) {
            named = strcmp(e->d_name, "model.pt") == 0;
            ntorch = named ? 1 : ntorch + 1;
            free(torch);
            torch = xstrdup(p);
        }
        free(any);
        any = p;
    }
    closedir(d);
    bool want_torch = platform ? strcmp(platform, "pytorch") == 0 : ntorch > 0;
    int rc = 0;
    if (want_torch) {
        free(any);
        if (ntorch == 0)
            rc = err_set(err, ERR_NOTFOUND, "no TorchScript file (model.pt, or one *.pt) in '%s'",
                         dir);
        else if (ntorch > 1)
            rc = err_set(err, ERR_INVALID,
                         "more than one TorchScript file in '%s' and none is model.pt: name the "
                         "one to serve model.pt",
                         dir);
        *model = rc ? NULL : torch;
        *backend = &serve_backend_torch;
        if (rc)
            free(torch);
        return rc;
    }
    free(torch);
    if (nany == 0)
        rc = err_set(err, ERR_NOTFOUND, "no model file in '%s'", dir);
    else if (nany > 1)
        rc = err_set(err, ERR_INVALID, "more than one model file in '%s': '%s' and '%s'", dir,
                     other[0], other[1]);
    *model = rc ? NULL : any;
    *backend = &serve_backend_xgboost;
    if (rc)
        free(any);
    return rc;
}

/* Load the version in 'dir'. */
static int version_load(const char *dir, int64_t number, const char *platform,
                        const struct serve_load_options *opt, struct serve_version **out,
                        struct err *err)
{
    char *model = NULL;
    const struct serve_backend *backend = NULL;
    int rc = find_model(dir, platform, &model, &backend, err);
    if (rc)
        return rc;
    bool torch = backend == &serve_backend_torch;
    /* berth.json is read first: "predictor" decides how an XGBoost model
     * loads, and a TorchScript model's signature is read before its load. */
    char *bj = xasprintf("%s/berth.json", dir);
    struct arena a;
    arena_init(&a, 8192);
    const struct json *bjroot;
    struct serve_load_options lo = *opt;
    rc = berth_json_read(bj, &a, &bjroot, err);
    if (rc == 0)
        rc = torch ? berth_json_torch(bjroot, bj, &a, &lo, err)
                   : berth_json_load_options(bjroot, bj, &lo, err);
    struct serve_version *v = xcalloc(1, sizeof(*v));
    v->number = number;
    v->backend = backend;
    if (rc == 0 && (rc = v->backend->load(model, &lo, &v->sig, &v->handle, err)) == 0 && !torch &&
        (rc = berth_json_apply(bjroot, bj, &v->sig, err)))
        v->backend->free(v->handle);
    if (torch)
        load_options_release(&lo);
    arena_release(&a);
    free(bj);
    free(model);
    if (rc) {
        serve_signature_release(&v->sig);
        free(v);
        return rc;
    }
    if (torch) {
        atomic_init(&v->refs, 1);
        *out = v;
        return 0;
    }
    /* Defaults for what neither the model nor berth.json named. */
    struct serve_signature *sig = &v->sig;
    if (!sig->input_name)
        sig->input_name = xstrdup("input");
    if (!sig->feature_names) {
        sig->feature_names = xcalloc(sig->num_features, sizeof(char *));
        for (size_t i = 0; i < sig->num_features; i++)
            sig->feature_names[i] = xasprintf("f%zu", i);
    }
    if (sig->task == SERVE_CLASSIFICATION && !sig->class_labels) {
        sig->class_labels = xcalloc(sig->num_classes, sizeof(char *));
        for (size_t i = 0; i < sig->num_classes; i++)
            sig->class_labels[i] = xasprintf("%zu", i);
    }
    atomic_init(&v->refs, 1);
    *out = v;
    return 0;
}

/* A cheap fingerprint of a directory's entries: names, sizes and mtimes. */
static uint64_t dir_signature(const char *dir)
{
    uint64_t h = 1469598103934665603ULL;
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char *p = xasprintf("%s/%s", dir, e->d_name);
        struct stat st;
        uint64_t x = 0;
        if (stat(p, &st) == 0)
            x = (uint64_t)st.st_size * 31 + (uint64_t)st.st_mtim.tv_sec * 1000000007ULL +
                (uint64_t)st.st_mtim.tv_nsec;
        free(p);
        for (const char *c = e->d_name; *c; c++)
            x = (x ^ (unsigned char)*c) * 1099511628211ULL;
        h += x * 0x9E3779B97F4A7C15ULL; /* order-independent: readdir order varies */
    }
    closedir(d);
    return h;
}

/* ------------------------------------------------------------------------ */
/* Scanning                                                                 */

static struct repo_version *find_or_add(struct repo_model *m, int64_t number)
{
    size_t i = 0;
    while (i < m->nv && m->v[i].number < number)
        i++;
    if (i < m->nv && m->v[i].number == number)
        return &m->v[i];
    m->v = xrealloc(m->v, (m->nv + 1) * sizeof(*m->v));
    memmove(&m->v[i + 1], &m->v[i], (m->nv - i) * sizeof(*m->v));
    memset(&m->v[i], 0, sizeof(m->v[i]));
    m->v[i].number = number;
    m->nv++;
    return &m->v[i];
}

static void retire(struct repo_model *m, struct repo_version *v)
{
    if (v->loaded) {
        log_info("repo", "retiring version model=%s version=%lld", m->cfg.name,
                 (long long)v->number);
        version_unref(v->loaded);
        v->loaded = NULL;
    }
}

static void try_load(const struct serve_repo_options *opt, struct repo_model *m,
                     struct repo_version *v, bool *changed)
{
    char *dir = xasprintf("%s/%lld", m->cfg.base_path, (long long)v->number);
    uint64_t sig = dir_signature(dir);
    if (v->error && sig == v->dir_sig) {
        free(dir);
        return; /* failed before and unchanged since: wait for a change */
    }
    struct err err = {0};
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    struct serve_load_options lo = {.predictor = opt->predictor};
    int rc = version_load(dir, v->number, m->cfg.platform, &lo, &v->loaded, &err);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    free(dir);
    v->dir_sig = sig;
    free(v->error);
    v->error = NULL;
    *changed = true;
    if (rc) {
        v->loaded = NULL;
        v->error = xstrdup(err.msg);
        log_error("repo", "cannot load version model=%s version=%lld: %s", m->cfg.name,
                  (long long)v->number, err.msg);
        return;
    }
    log_info("repo",
             "version available model=%s version=%lld features=%zu objective=%s predictor=%s "
             "ms=%.1f",
             m->cfg.name, (long long)v->number, v->loaded->sig.num_features,
             v->loaded->sig.objective, v->loaded->sig.predictor ? v->loaded->sig.predictor : "-",
             (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
}

static bool policy_lists(const struct serve_model_config *c, int64_t number)
{
    for (size_t i = 0; i < c->nversions; i++)
        if (c->versions[i] == number)
            return true;
    return false;
}

/* Bring one model in line with its directory and policy. New versions are
 * loaded before old ones are retired, so a model never goes unserved. */
static bool scan_model(const struct serve_repo_options *opt, struct repo_model *m)
{
    bool changed = false;
    for (size_t i = 0; i < m->nv; i++)
        m->v[i].on_disk = false;
    DIR *d = opendir(m->cfg.base_path);
    if (!d) {
        char msg[300];
        snprintf(msg, sizeof(msg), "cannot read base path '%s': %s", m->cfg.base_path,
                 strerror(errno));
        if (!m->path_error || strcmp(m->path_error, msg) != 0) {
            log_error("repo", "model=%s %s", m->cfg.name, msg);
            free(m->path_error);
            m->path_error = xstrdup(msg);
        }
    } else {
        free(m->path_error);
        m->path_error = NULL;
        struct dirent *e;
        while ((e = readdir(d))) {
            unsigned long long num;
            if (str_to_u64(str_from(e->d_name), 999999999999999999ULL, &num) != 0 || num == 0)
                continue;
            char *p = xasprintf("%s/%s", m->cfg.base_path, e->d_name);
            struct stat st;
            bool isdir = stat(p, &st) == 0 && S_ISDIR(st.st_mode);
            free(p);
            if (isdir)
                find_or_add(m, (int64_t)num)->on_disk = true;
        }
        closedir(d);
    }

    /* Decide what should serve, loading as needed, newest first. */
    bool *keep = xcalloc(m->nv ? m->nv : 1, sizeof(bool));
    size_t available = 0;
    for (size_t k = m->nv; k-- > 0;) {
        struct repo_version *v = &m->v[k];
        if (!v->on_disk)
            continue;
        bool wanted;
        switch (m->cfg.policy) {
        case SERVE_POLICY_ALL:
            wanted = true;
            break;
        case SERVE_POLICY_SPECIFIC:
            wanted = policy_lists(&m->cfg, v->number);
            break;
        default:
            wanted = available < (size_t)m->cfg.latest_n;
            break;
        }
        if (!wanted)
            continue;
        if (!v->loaded)
            try_load(opt, m, v, &changed);
        if (v->loaded) {
            keep[k] = true;
            available++;
        }
    }
    for (size_t k = 0; k < m->nv; k++) {
        if (!keep[k] && m->v[k].loaded) {
            retire(m, &m->v[k]);
            changed = true;
        }
    }
    free(keep);
    /* Forget versions that left the disk, and keep failures only while wanted. */
    size_t out = 0;
    for (size_t k = 0; k < m->nv; k++) {
        struct repo_version *v = &m->v[k];
        if (!v->on_disk) {
            changed = true;
            free(v->error);
            continue;
        }
        m->v[out++] = *v;
    }
    m->nv = out;
    return changed;
}

/* ------------------------------------------------------------------------ */
/* Snapshots                                                                */

static void snapshot_free(struct serve_snapshot *s)
{
    for (size_t i = 0; i < s->nmodels; i++) {
        struct serve_model *m = &s->models[i];
        for (size_t k = 0; k < m->nversions; k++)
            version_unref(m->versions[k]);
        for (size_t k = 0; k < m->nlabels; k++)
            free(m->labels[k].name);
        for (size_t k = 0; k < m->nstatus; k++)
            free(m->status[k].error);
        free(m->versions);
        free(m->labels);
        free(m->status);
        free(m->name);
    }
    free(s->models);
    free(s);
}

void serve_snapshot_release(struct serve_snapshot *s)
{
    if (s && atomic_fetch_sub(&s->refs, 1) == 1)
        snapshot_free(s);
}

struct serve_snapshot *serve_repo_acquire(struct serve_repo *r)
{
    pthread_mutex_lock(&r->lock);
    struct serve_snapshot *s = r->current;
    atomic_fetch_add(&s->refs, 1);
    pthread_mutex_unlock(&r->lock);
    return s;
}

static void publish(struct serve_repo *r)
{
    struct serve_snapshot *s = xcalloc(1, sizeof(*s));
    atomic_init(&s->refs, 1);
    s->nmodels = r->nmodels;
    s->models = xcalloc(r->nmodels ? r->nmodels : 1, sizeof(*s->models));
    for (size_t i = 0; i < r->nmodels; i++) {
        struct repo_model *rm = &r->models[i];
        struct serve_model *m = &s->models[i];
        m->name = xstrdup(rm->cfg.name);
        m->versions = xcalloc(rm->nv ? rm->nv : 1, sizeof(*m->versions));
        m->status = xcalloc(rm->nv ? rm->nv : 1, sizeof(*m->status));
        for (size_t k = rm->nv; k-- > 0;) {
            struct repo_version *v = &rm->v[k];
            if (v->loaded) {
                atomic_fetch_add(&v->loaded->refs, 1);
                m->versions[m->nversions++] = v->loaded;
            }
        }
        for (size_t k = 0; k < rm->nv; k++) {
            struct repo_version *v = &rm->v[k];
            if (!v->loaded && !v->error)
                continue; /* on disk but outside the policy */
            struct serve_version_status *st = &m->status[m->nstatus++];
            st->number = v->number;
            st->state = v->loaded ? SERVE_STATE_AVAILABLE : SERVE_STATE_END;
            st->error = v->error && !v->loaded ? xstrdup(v->error) : NULL;
        }
        m->nlabels = rm->cfg.nlabels;
        m->labels = xcalloc(m->nlabels ? m->nlabels : 1, sizeof(*m->labels));
        for (size_t k = 0; k < m->nlabels; k++) {
            m->labels[k].name = xstrdup(rm->cfg.labels[k].name);
            m->labels[k].version = rm->cfg.labels[k].version;
        }
    }
    pthread_mutex_lock(&r->lock);
    struct serve_snapshot *old = r->current;
    r->current = s;
    pthread_mutex_unlock(&r->lock);
    serve_snapshot_release(old);
}

const struct serve_model *serve_snapshot_model(const struct serve_snapshot *s, struct str name)
{
    for (size_t i = 0; i < s->nmodels; i++)
        if (str_eq_cstr(name, s->models[i].name))
            return &s->models[i];
    return NULL;
}

struct serve_version *serve_model_version(const struct serve_model *m, int64_t number)
{
    for (size_t i = 0; i < m->nversions; i++)
        if (m->versions[i]->number == number)
            return m->versions[i];
    return NULL;
}

int serve_model_label(const struct serve_model *m, struct str label, int64_t *number)
{
    for (size_t i = 0; i < m->nlabels; i++) {
        if (str_eq_cstr(label, m->labels[i].name)) {
            *number = m->labels[i].version;
            return 0;
        }
    }
    return ERR_NOTFOUND;
}

/* ------------------------------------------------------------------------ */
/* Models and the config                                                    */

static void model_release(struct repo_model *m)
{
    for (size_t k = 0; k < m->nv; k++) {
        version_unref(m->v[k].loaded);
        free(m->v[k].error);
    }
    free(m->v);
    free(m->path_error);
    serve_model_config_release(&m->cfg);
}

/* Replace the model list with 'cfg' (taken). Models that stay keep their
 * loaded versions unless their base path changed. */
static void apply_config(struct serve_repo *r, struct serve_config *cfg)
{
    struct repo_model *models = xcalloc(cfg->nmodels ? cfg->nmodels : 1, sizeof(*models));
    for (size_t i = 0; i < cfg->nmodels; i++) {
        models[i].cfg = cfg->models[i];
        for (size_t k = 0; k < r->nmodels; k++) {
            struct repo_model *old = &r->models[k];
            const char *p0 = old->cfg.platform, *p1 = cfg->models[i].platform;
            if (old->cfg.name && strcmp(old->cfg.name, cfg->models[i].name) == 0 &&
                strcmp(old->cfg.base_path, cfg->models[i].base_path) == 0 &&
                (p0 && p1 ? strcmp(p0, p1) == 0 : p0 == p1)) {
                models[i].v = old->v;
                models[i].nv = old->nv;
                old->v = NULL;
                old->nv = 0;
            }
        }
    }
    for (size_t k = 0; k < r->nmodels; k++)
        model_release(&r->models[k]);
    free(r->models);
    r->models = models;
    r->nmodels = cfg->nmodels;
    free(cfg->models);
    memset(cfg, 0, sizeof(*cfg));
}

static void maybe_reload_config(struct serve_repo *r)
{
    struct stat st;
    if (stat(r->config_path, &st) != 0) {
        log_error("repo", "cannot stat model config '%s': %s; keeping the running config",
                  r->config_path, strerror(errno));
        return;
    }
    if (st.st_mtim.tv_sec == r->config_mtime.tv_sec &&
        st.st_mtim.tv_nsec == r->config_mtime.tv_nsec && st.st_size == r->config_size)
        return;
    r->config_mtime = st.st_mtim; /* a bad file is not complained about twice */
    r->config_size = st.st_size;
    struct serve_config cfg;
    struct err err = {0};
    if (serve_config_load(r->config_path, &cfg, &err) != 0) {
        log_error("repo", "%s; keeping the running config", err.msg);
        return;
    }
    log_info("repo", "model config reloaded path=%s models=%zu", r->config_path, cfg.nmodels);
    apply_config(r, &cfg);
}

static void scan_all(struct serve_repo *r, bool force_publish)
{
    bool changed = force_publish;
    for (size_t i = 0; i < r->nmodels; i++)
        changed |= scan_model(&r->opt, &r->models[i]);
    if (changed)
        publish(r);
}

static void *watcher_main(void *arg)
{
    struct serve_repo *r = arg;
    time_t next_config = time(NULL) + r->opt.config_poll_s;
    time_t next_scan = time(NULL) + r->opt.fs_poll_s;
    pthread_mutex_lock(&r->lock);
    while (!r->stop) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 1;
        pthread_cond_timedwait(&r->wake, &r->lock, &until);
        if (r->stop)
            break;
        pthread_mutex_unlock(&r->lock);
        time_t now = time(NULL);
        bool config_changed = false;
        if (r->config_path && r->opt.config_poll_s && now >= next_config) {
            size_t before = r->nmodels;
            struct repo_model *was = r->models;
            maybe_reload_config(r);
            config_changed = r->models != was || r->nmodels != before;
            next_config = now + r->opt.config_poll_s;
        }
        if (config_changed || (r->opt.fs_poll_s && now >= next_scan)) {
            scan_all(r, config_changed);
            next_scan = now + r->opt.fs_poll_s;
        }
        pthread_mutex_lock(&r->lock);
    }
    pthread_mutex_unlock(&r->lock);
    return NULL;
}

int serve_repo_new(struct serve_config *cfg, const struct serve_repo_options *opt,
                   struct serve_repo **out, struct err *err)
{
    struct serve_repo *r = xcalloc(1, sizeof(*r));
    r->opt = *opt;
    if (opt->config_path) {
        r->config_path = xstrdup(opt->config_path);
        struct stat st;
        if (stat(opt->config_path, &st) == 0) {
            r->config_mtime = st.st_mtim;
            r->config_size = st.st_size;
        }
    }
    r->opt.config_path = r->config_path;
    pthread_mutex_init(&r->lock, NULL);
    pthread_cond_init(&r->wake, NULL);
    apply_config(r, cfg);
    scan_all(r, true);
    if (r->opt.fs_poll_s || (r->config_path && r->opt.config_poll_s)) {
        int rc = pthread_create(&r->thread, NULL, watcher_main, r);
        if (rc) {
            serve_repo_free(r);
            return err_set(err, ERR_SYS(rc), "cannot start the model watcher: %s", strerror(rc));
        }
        r->thread_started = true;
    }
    *out = r;
    return 0;
}

void serve_repo_free(struct serve_repo *r)
{
    if (!r)
        return;
    if (r->thread_started) {
        pthread_mutex_lock(&r->lock);
        r->stop = true;
        pthread_cond_signal(&r->wake);
        pthread_mutex_unlock(&r->lock);
        pthread_join(r->thread, NULL);
    }
    serve_snapshot_release(r->current);
    for (size_t k = 0; k < r->nmodels; k++)
        model_release(&r->models[k]);
    free(r->models);
    free(r->config_path);
    pthread_cond_destroy(&r->wake);
    pthread_mutex_destroy(&r->lock);
    free(r);
}
