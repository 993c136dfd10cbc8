/* xgboost.c - the XGBoost backend.
 * The library (libxgboost's C API) loads every model, from memory, so any
 * format it reads (JSON, UBJSON, the legacy binary format) works and the file
 * name does not matter. Two paths predict:
 *   - the native evaluator (xgbtree.c), compiled at load from the JSON the
 *     library writes for the loaded model, and used only after it agreed with
 *     the library on a few hundred rows built to reach every split;
 *   - the library's in-place prediction on a dense array, one thread per call
 *     (concurrency comes from our worker threads; it is safe to call from
 *     several threads on one booster), with one proxy DMatrix per thread and
 *     configs built at load, so that a call reads no cgroup files and parses
 *     nothing it parsed before.
 * Both honour best_iteration where the model records one. */
#include "serve/backend.h"
#include "base/alloc.h"
#include "base/arena.h"
#include "base/buf.h"
#include "base/json.h"
#include "serve/backends/xgbtree.h"
#include "serve/modelcheck.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <xgboost/c_api.h>

/* Rows the load-time check compares the two paths on. */
#define XGB_CHECK_ROWS 256

struct xgb_model {
    BoosterHandle booster;
    struct xgbt_model *native; /* NULL: the library predicts */
    size_t num_features;
    size_t num_classes;   /* 0 for regression */
    size_t output_width;  /* values per row of a normal prediction */
    size_t iteration_end; /* 0: every iteration; else best_iteration + 1 */
    bool softmax;         /* multi:softmax: predict gives class ids, proba needs margins */
    bool logitraw;        /* binary:logitraw: predict gives margins */
    bool no_inplace;      /* gblinear: the library predicts only from a DMatrix */
    char config[2][224];  /* the library's predict config for type 0 and 1 (margins) */
};

/* The library's last error on this thread, as one line. */
static const char *last_error(void)
{
    static _Thread_local char line[200];
    const char *e = XGBGetLastError();
    if (!e)
        return "unknown error";
    /* The library prefixes "[hh:mm:ss] file:line: " and may append a stack
     * trace on the lines after the message: keep the message. */
    const char *p;
    if (e[0] == '[' && (p = strstr(e, "] ")) && (p = strstr(p + 2, ": ")))
        e = p + 2;
    snprintf(line, sizeof(line), "%.*s", (int)strcspn(e, "\r\n"), e);
    return line;
}

/* Read the objective and class count from the booster's saved config. */
static int read_config(struct xgb_model *m, struct serve_signature *sig, struct err *err)
{
    bst_ulong len;
    const char *cfg;
    if (XGBoosterSaveJsonConfig(m->booster, &len, &cfg) != 0)
        return err_set(err, ERR_INVALID, "cannot read the model's configuration: %s", last_error());
    struct arena a;
    arena_init(&a, 16 * 1024);
    struct json *root;
    int rc = json_parse(&a, cfg, len, &root, err);
    if (rc) {
        arena_release(&a);
        return rc;
    }
    const struct json *learner = json_get(root, "learner");
    const struct json *obj = json_get(json_get(learner, "objective"), "name");
    const struct json *gb = json_get(json_get(learner, "gradient_booster"), "name");
    m->no_inplace = gb && gb->type == JSON_STRING && strcmp(gb->u.str, "gblinear") == 0;
    const struct json *mp = json_get(learner, "learner_model_param");
    const struct json *ncls = json_get(mp, "num_class");
    const struct json *ntgt = json_get(mp, "num_target");
    const char *objective = obj && obj->type == JSON_STRING ? obj->u.str : "reg:squarederror";
    long num_class = ncls && ncls->type == JSON_STRING ? strtol(ncls->u.str, NULL, 10) : 0;
    long num_target = ntgt && ntgt->type == JSON_STRING ? strtol(ntgt->u.str, NULL, 10) : 1;
    sig->objective = xstrdup(objective);
    arena_release(&a);
    objective = sig->objective; /* the arena held the original */

    m->output_width = 1;
    if (num_target > 1 && num_class > 1)
        return err_set(err, ERR_INVALID, "objective '%s' with num_class %ld and num_target %ld",
                       objective, num_class, num_target);
    if (num_target > 1) {
        if (num_target > 65536)
            return err_set(err, ERR_INVALID, "num_target %ld is more than 65536", num_target);
        m->output_width = (size_t)num_target; /* multi-output: one value per target */
    } else if (strncmp(objective, "multi:", 6) == 0) {
        if (num_class < 2)
            return err_set(err, ERR_INVALID, "objective '%s' with num_class %ld", objective,
                           num_class);
        m->num_classes = (size_t)num_class;
        m->softmax = strcmp(objective, "multi:softmax") == 0;
        m->output_width = m->softmax ? 1 : m->num_classes;
    } else if (strcmp(objective, "binary:logistic") == 0 ||
               strcmp(objective, "binary:logitraw") == 0 ||
               strcmp(objective, "reg:logistic") == 0) {
        /* reg:logistic predicts a probability too, but is a regression by intent. */
        if (objective[0] == 'b') {
            m->num_classes = 2;
            m->logitraw = strcmp(objective, "binary:logitraw") == 0;
        }
    }
    sig->task = m->num_classes ? SERVE_CLASSIFICATION : SERVE_REGRESSION;
    sig->num_classes = m->num_classes;
    sig->output_width = m->output_width;
    return 0;
}

static void xgb_free(void *handle)
{
    struct xgb_model *m = handle;
    if (!m)
        return;
    xgbt_free(m->native);
    XGBoosterFree(m->booster);
    free(m);
}

/* One proxy DMatrix per thread, for every model: building one per call costs
 * more than the prediction (its context reads the cgroup CPU quota files). */
static pthread_key_t proxy_key;
static pthread_once_t proxy_once = PTHREAD_ONCE_INIT;

static void proxy_free(void *p)
{
    XGDMatrixFree(p);
}

static void proxy_key_make(void)
{
    if (pthread_key_create(&proxy_key, proxy_free) != 0)
        abort();
}

/* Freed here, on the thread, before it ends: the library's destructors,
 * run from a thread-exit key destructor instead, register thread_local
 * storage of their own too late for glibc to free it. */
static void xgb_thread_done(void)
{
    pthread_once(&proxy_once, proxy_key_make);
    DMatrixHandle p = pthread_getspecific(proxy_key);
    if (p) {
        pthread_setspecific(proxy_key, NULL);
        XGDMatrixFree(p);
    }
}

static DMatrixHandle thread_proxy(struct err *err)
{
    pthread_once(&proxy_once, proxy_key_make);
    DMatrixHandle p = pthread_getspecific(proxy_key);
    if (p)
        return p;
    if (XGProxyDMatrixCreate(&p) != 0) {
        err_set(err, ERR_INTERNAL, "cannot create a proxy DMatrix: %s", last_error());
        return NULL;
    }
    if (pthread_setspecific(proxy_key, p) != 0) {
        XGDMatrixFree(p);
        err_set(err, ERR_INTERNAL, "cannot keep a proxy DMatrix for this thread");
        return NULL;
    }
    return p;
}

/* Decimal digits of 'v' at 'p'; returns the end. */
static char *put_u64(char *p, uint64_t v)
{
    char tmp[20];
    int n = 0;
    do
        tmp[n++] = (char)('0' + v % 10);
    while ((v /= 10));
    while (n)
        *p++ = tmp[--n];
    return p;
}

/* The library's prediction for 'nrows' rows: type 0 (what predict returns)
 * or 1 (margins). *res points into the library's buffer for this thread,
 * valid until this thread's next prediction on this booster. */
static int predict_raw(struct xgb_model *m, int type, const float *rows, size_t nrows,
                       const float **res, size_t *width, struct err *err)
{
    DMatrixHandle proxy = thread_proxy(err);
    if (!proxy)
        return err->code;
    /* {"data":[ADDR,true],"shape":[R,C],"typestr":"<f4","version":3} */
    char iface[160], *p = iface;
#define PUT(lit) (memcpy(p, lit, sizeof(lit) - 1), p += sizeof(lit) - 1)
    PUT("{\"data\":[");
    p = put_u64(p, (uint64_t)(uintptr_t)rows);
    PUT(",true],\"shape\":[");
    p = put_u64(p, nrows);
    PUT(",");
    p = put_u64(p, m->num_features);
    PUT("],\"typestr\":\"<f4\",\"version\":3}");
#undef PUT
    *p = '\0';
    const bst_ulong *shape;
    bst_ulong dim;
    const float *out;
    if (m->no_inplace) {
        /* The output stays in the booster's buffer for this thread, not the DMatrix. */
        DMatrixHandle dm;
        if (XGDMatrixCreateFromDense(iface, "{\"missing\":NaN,\"nthread\":1}", &dm) != 0)
            return err_set(err, ERR_INTERNAL, "cannot build a DMatrix: %s", last_error());
        int rc =
            XGBoosterPredictFromDMatrix(m->booster, dm, m->config[type != 0], &shape, &dim, &out);
        XGDMatrixFree(dm);
        if (rc != 0)
            return err_set(err, ERR_INTERNAL, "XGBoost prediction failed: %s", last_error());
    } else if (XGBoosterPredictFromDense(m->booster, iface, m->config[type != 0], proxy, &shape,
                                         &dim, &out) != 0) {
        return err_set(err, ERR_INTERNAL, "XGBoost prediction failed: %s", last_error());
    }
    size_t total = 1;
    for (bst_ulong i = 0; i < dim; i++)
        total *= (size_t)shape[i];
    if (nrows == 0 || total % nrows != 0)
        return err_set(err, ERR_INTERNAL, "XGBoost returned %zu values for %zu rows", total, nrows);
    *res = out;
    *width = total / nrows;
    return 0;
}

/* A small deterministic generator for the load-time check. */
static uint64_t check_rand(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Each tree's split features and conditions, from the model's JSON. */
struct split_list {
    uint32_t *feature;
    float *cond;
    size_t n, cap;
};

static void collect_splits(const struct json *root, struct split_list *sl, size_t num_features)
{
    const struct json *trees = json_get(
        json_get(json_get(json_get(root, "learner"), "gradient_booster"), "model"), "trees");
    for (size_t t = 0; trees && trees->type == JSON_ARRAY && t < trees->len; t++) {
        const struct json *tree = &trees->u.items[t];
        const struct json *left = json_get(tree, "left_children");
        const struct json *idx = json_get(tree, "split_indices");
        const struct json *cond = json_get(tree, "split_conditions");
        if (!left || !idx || !cond || left->type != JSON_ARRAY || idx->type != JSON_ARRAY ||
            cond->type != JSON_ARRAY || idx->len != left->len || cond->len != left->len)
            continue;
        for (size_t k = 0; k < left->len; k++) {
            const struct json *l = &left->u.items[k], *f = &idx->u.items[k], *c = &cond->u.items[k];
            if (l->type != JSON_NUMBER || l->u.num < 0 || f->type != JSON_NUMBER ||
                c->type != JSON_NUMBER || f->u.num < 0 || f->u.num >= (double)num_features)
                continue; /* a leaf, or what the evaluator refuses anyway */
            if (sl->n == sl->cap) {
                sl->cap = sl->cap ? 2 * sl->cap : 256;
                sl->feature = xrealloc(sl->feature, sl->cap * sizeof(*sl->feature));
                sl->cond = xrealloc(sl->cond, sl->cap * sizeof(*sl->cond));
            }
            sl->feature[sl->n] = (uint32_t)f->u.num;
            sl->cond[sl->n++] = (float)c->u.num;
        }
    }
}

/* Rows that reach both sides of the splits: per value, a split condition of
 * that feature exactly, one float below or above it, a value beyond every
 * condition, or missing. */
static void check_rows(const struct split_list *sl, size_t num_features, size_t nrows, float *rows)
{
    uint64_t seed = 0x9e3779b97f4a7c15ULL;
    for (size_t r = 0; r < nrows; r++) {
        float *row = rows + r * num_features;
        for (size_t f = 0; f < num_features; f++)
            row[f] = NAN;
        /* Feature f takes a condition of one of its own splits: draw splits
         * until each feature had a chance, most of them a few times. */
        for (size_t k = 0; sl->n && k < 2 * num_features + 8; k++) {
            size_t i = (size_t)(check_rand(&seed) % sl->n);
            float c = sl->cond[i];
            switch (check_rand(&seed) % 5) {
            case 0:
                row[sl->feature[i]] = c;
                break;
            case 1:
                row[sl->feature[i]] = nextafterf(c, -INFINITY);
                break;
            case 2:
                row[sl->feature[i]] = nextafterf(c, INFINITY);
                break;
            case 3:
                row[sl->feature[i]] = c + (float)(check_rand(&seed) % 2001) / 1000.0f - 1.0f;
                break;
            default:
                row[sl->feature[i]] = NAN;
                break;
            }
        }
        for (size_t f = 0; f < num_features; f++)
            if (isnan(row[f]) && check_rand(&seed) % 3 == 0)
                row[f] = (float)((double)(check_rand(&seed) % 20001) / 100.0 - 100.0);
    }
}

/* Do two predictions agree to float rounding? */
static bool close_enough(float a, float b)
{
    if (a == b || (isnan(a) && isnan(b)))
        return true;
    float scale = fabsf(b) > 1.0f ? fabsf(b) : 1.0f;
    return fabsf(a - b) <= 1e-6f * scale;
}

/* Compare the native evaluator with the library on rows built from the
 * model's own splits, margins and outputs. 0 when they agree; otherwise
 * ERR_INVALID with the first difference. */
static int check_native(struct xgb_model *m, const struct json *root, struct err *err)
{
    struct split_list sl = {0};
    collect_splits(root, &sl, m->num_features);
    size_t nrows = XGB_CHECK_ROWS;
    float *rows = xmalloc(nrows * m->num_features * sizeof(float));
    check_rows(&sl, m->num_features, nrows, rows);
    free(sl.feature);
    free(sl.cond);
    int rc = 0;
    float *mine = NULL;
    for (int type = 0; rc == 0 && type <= 1; type++) {
        const float *lib;
        size_t width;
        if ((rc = predict_raw(m, type, rows, nrows, &lib, &width, err)))
            break;
        if (width != xgbt_width(m->native, type == 1)) {
            rc = err_set(err, ERR_INVALID, "%s: %zu values per row, the library %zu",
                         type ? "margins" : "predictions", xgbt_width(m->native, type == 1), width);
            break;
        }
        mine = xrealloc(mine, nrows * width * sizeof(float));
        xgbt_predict(m->native, type == 1, rows, nrows, mine);
        for (size_t i = 0; i < nrows * width; i++) {
            if (!close_enough(mine[i], lib[i])) {
                rc = err_set(err, ERR_INVALID, "%s differ at row %zu value %zu: %.9g, library %.9g",
                             type ? "margins" : "predictions", i / width, i % width,
                             (double)mine[i], (double)lib[i]);
                break;
            }
        }
    }
    free(mine);
    free(rows);
    return rc;
}

/* Compile the native evaluator for 'm' and check it against the library.
 * Returns 0 with m->native set, or the reason it cannot be used. */
static int native_setup(struct xgb_model *m, struct err *err)
{
    bst_ulong len;
    const char *json;
    if (XGBoosterSaveModelToBuffer(m->booster, "{\"format\":\"json\"}", &len, &json) != 0)
        return err_set(err, ERR_INTERNAL, "cannot save the model as JSON: %s", last_error());
    struct xgbt_model *t;
    int rc = xgbt_compile(json, (size_t)len, m->iteration_end, &t, err);
    if (rc)
        return rc;
    if (xgbt_num_features(t) != m->num_features || xgbt_width(t, false) != m->output_width) {
        xgbt_free(t);
        return err_set(
            err, ERR_INVALID, "it sees %zu features and %zu outputs, the library %zu and %zu",
            xgbt_num_features(t), xgbt_width(t, false), m->num_features, m->output_width);
    }
    m->native = t;
    /* The library's JSON lives in its per-booster buffer until the next save:
     * parse it for the check's rows before anything else uses the booster. */
    struct arena a;
    arena_init(&a, 1 << 16);
    struct json *root;
    rc = json_parse(&a, json, (size_t)len, &root, err);
    if (rc == 0)
        rc = check_native(m, root, err);
    arena_release(&a);
    if (rc) {
        err_prefix(err, "disagrees with the library: ");
        xgbt_free(m->native);
        m->native = NULL;
    }
    return rc;
}

/* best_iteration, when training stopped early and recorded one. */
static int read_best_iteration(struct xgb_model *m, struct err *err)
{
    const char *v;
    int found = 0;
    if (XGBoosterGetAttr(m->booster, "best_iteration", &v, &found) != 0)
        return err_set(err, ERR_INVALID, "cannot read the model's attributes: %s", last_error());
    if (!found)
        return 0;
    char *end;
    errno = 0;
    long long best = strtoll(v, &end, 10);
    int rounds = 0;
    if (end == v || *end || errno || best < 0)
        return err_set(err, ERR_INVALID, "attribute best_iteration '%.40s' is not a count", v);
    if (XGBoosterBoostedRounds(m->booster, &rounds) != 0)
        return err_set(err, ERR_INVALID, "cannot count the model's rounds: %s", last_error());
    /* Past the last round it names every round: predict with them all. */
    m->iteration_end = best + 1 < (long long)rounds ? (size_t)best + 1 : 0;
    return 0;
}

/* Set m->native per 'want', and say in sig->predictor which path predicts. */
static int choose_predictor(struct xgb_model *m, enum serve_predictor want,
                            struct serve_signature *sig, struct err *err)
{
    char iter[48] = "";
    if (m->iteration_end)
        snprintf(iter, sizeof(iter), ", %zu rounds (best_iteration)", m->iteration_end);
    if (want == SERVE_PREDICTOR_LIBRARY) {
        sig->predictor = xasprintf("library (as asked)%s", iter);
        return 0;
    }
    struct err why = {0};
    if (native_setup(m, &why) != 0) {
        if (want == SERVE_PREDICTOR_NATIVE)
            return err_set(err, why.code == ERR_UNSUPPORTED ? ERR_UNSUPPORTED : ERR_INVALID,
                           "the native predictor was asked for but cannot be used: %s", why.msg);
        sig->predictor = xasprintf("library (native evaluator not used: %s)%s", why.msg, iter);
        return 0;
    }
    char what[160];
    xgbt_describe(m->native, what, sizeof(what));
    sig->predictor = xasprintf("native (%s)%s", what, iter);
    return 0;
}

static int xgb_load(const char *path, const struct serve_load_options *opt,
                    struct serve_signature *sig, void **handle, struct err *err)
{
    /* Refuse what the library cannot read safely before it sees it: files
     * too large to read whole, nesting deep enough to exhaust this thread's
     * stack in its recursive parsers, UBJSON lengths past the end. */
    struct stat st;
    if (stat(path, &st) == 0 && (uint64_t)st.st_size > SERVE_MODEL_MAX_BYTES)
        return err_set(err, ERR_TOOBIG,
                       "model file '%s' has %lld bytes, more than the limit of %llu", path,
                       (long long)st.st_size, (unsigned long long)SERVE_MODEL_MAX_BYTES);
    struct buf file;
    buf_init(&file, (size_t)SERVE_MODEL_MAX_BYTES);
    int rc = buf_read_file(&file, path, err);
    if (rc == 0 && (rc = serve_model_check(file.ptr, file.len, NULL, NULL, err)))
        err_prefix(err, "model file '%s': ", path);
    if (rc) {
        buf_release(&file);
        return rc;
    }
    struct xgb_model *m = xcalloc(1, sizeof(*m));
    if (XGBoosterCreate(NULL, 0, &m->booster) != 0) {
        buf_release(&file);
        free(m);
        return err_set(err, ERR_INTERNAL, "cannot create a booster: %s", last_error());
    }
    rc = XGBoosterLoadModelFromBuffer(m->booster, file.ptr, file.len);
    buf_release(&file);
    if (rc != 0) {
        rc = err_set(err, ERR_INVALID, "XGBoost cannot load '%s': %s", path, last_error());
        xgb_free(m);
        return rc;
    }
    bst_ulong nf = 0;
    if (XGBoosterGetNumFeature(m->booster, &nf) != 0 || nf == 0) {
        xgb_free(m);
        return err_set(err, ERR_INVALID, "model '%s' has no input features", path);
    }
    m->num_features = (size_t)nf;
    sig->num_features = m->num_features;
    if ((rc = read_config(m, sig, err))) {
        xgb_free(m);
        return rc;
    }
    bst_ulong nnames = 0;
    const char **names = NULL;
    if (XGBoosterGetStrFeatureInfo(m->booster, "feature_name", &nnames, &names) == 0 &&
        nnames == nf) {
        sig->feature_names = xcalloc(nnames, sizeof(char *));
        for (bst_ulong i = 0; i < nnames; i++)
            sig->feature_names[i] = xstrdup(names[i]);
    }
    /* One thread per prediction: concurrency comes from the server's workers.
     * In-place predict ignores the config's "nthread"; the booster's own
     * parameter (default: every CPU) is what counts. */
    if (XGBoosterSetParam(m->booster, "nthread", "1") != 0) {
        xgb_free(m);
        return err_set(err, ERR_INTERNAL, "cannot set nthread: %s", last_error());
    }
    if ((rc = read_best_iteration(m, err))) {
        xgb_free(m);
        return rc;
    }
    for (int type = 0; type <= 1; type++)
        snprintf(m->config[type], sizeof(m->config[type]),
                 "{\"type\":%d,\"training\":false,\"iteration_begin\":0,\"iteration_end\":%zu,"
                 "\"strict_shape\":false,\"missing\":NaN,\"nthread\":1,\"cache_id\":0}",
                 type, m->iteration_end);
    /* One prediction now, so that the booster's lazy configuration happens
     * here and not in the first concurrent requests. */
    float *probe = xmalloc(m->num_features * sizeof(float));
    for (size_t i = 0; i < m->num_features; i++)
        probe[i] = NAN;
    const float *res;
    size_t width;
    rc = predict_raw(m, 0, probe, 1, &res, &width, err);
    free(probe);
    if (rc == 0 && width != m->output_width)
        rc = err_set(err, ERR_INVALID, "model predicts %zu values per row, expected %zu", width,
                     m->output_width);
    if (rc) {
        xgb_free(m);
        return rc;
    }
    rc = choose_predictor(m, opt->predictor, sig, err);
    xgb_thread_done(); /* loading threads predict no more */
    if (rc) {
        xgb_free(m);
        return rc;
    }
    *handle = m;
    return 0;
}

/* Class probabilities from margins ('res', width per row) into 'out', as the
 * matching prob objective computes them. 'res' may be 'out' (widths equal:
 * softmax) or its first nrows floats (logitraw, walked backwards). */
static void proba_from_margins(const struct xgb_model *m, const float *res, size_t width,
                               size_t nrows, float *out)
{
    if (m->logitraw) {
        for (size_t i = nrows; i-- > 0;) {
            float p = 1.0f / (1.0f + expf(-res[i]));
            out[2 * i] = 1.0f - p;
            out[2 * i + 1] = p;
        }
        return;
    }
    for (size_t i = 0; i < nrows; i++) {
        const float *r = res + i * width;
        float *o = out + i * width;
        float mx = r[0], sum = 0;
        for (size_t k = 1; k < width; k++)
            mx = r[k] > mx ? r[k] : mx;
        for (size_t k = 0; k < width; k++)
            sum += o[k] = expf(r[k] - mx);
        for (size_t k = 0; k < width; k++)
            o[k] /= sum;
    }
}

/* Binary probabilities p(1), the first nrows floats of 'out', to [1-p, p]. */
static void proba_binary(size_t nrows, float *out)
{
    for (size_t i = nrows; i-- > 0;) {
        float p = out[i];
        out[2 * i] = 1.0f - p;
        out[2 * i + 1] = p;
    }
}

static int xgb_predict(void *handle, enum serve_output kind, const float *rows, size_t nrows,
                       float *out, struct err *err)
{
    struct xgb_model *m = handle;
    bool margins = kind == SERVE_OUT_PROBA && (m->softmax || m->logitraw);
    if (m->native) {
        /* Straight into 'out': it has room for the widest answer. */
        xgbt_predict(m->native, margins, rows, nrows, out);
        if (margins)
            proba_from_margins(m, out, xgbt_width(m->native, true), nrows, out);
        else if (kind == SERVE_OUT_PROBA && m->num_classes == 2)
            proba_binary(nrows, out);
        return 0;
    }
    const float *res;
    size_t width;
    int rc = predict_raw(m, margins, rows, nrows, &res, &width, err);
    if (rc)
        return rc;
    if (margins) {
        proba_from_margins(m, res, width, nrows, out);
        return 0;
    }
    memcpy(out, res, nrows * width * sizeof(float));
    if (kind == SERVE_OUT_PROBA && m->num_classes == 2)
        proba_binary(nrows, out);
    return 0;
}

const struct serve_backend serve_backend_xgboost = {
    .name = "xgboost",
    .platform = "xgboost",
    .load = xgb_load,
    .predict = xgb_predict,
    .free = xgb_free,
    .thread_done = xgb_thread_done,
};
