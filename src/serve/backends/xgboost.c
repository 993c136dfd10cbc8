/* xgboost.c - the XGBoost backend, through libxgboost's C API.
 * Any format the library reads (JSON, UBJSON, the legacy binary format) is
 * loaded from memory, so the file name does not matter. Prediction uses
 * in-place prediction on a dense array with one thread per call: concurrency
 * comes from our worker threads, and the library's in-place predict is safe to
 * call from several threads on one booster. */
#include "serve/backend.h"
#include "base/alloc.h"
#include "base/arena.h"
#include "base/buf.h"
#include "base/json.h"
#include "serve/modelcheck.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <xgboost/c_api.h>

struct xgb_model {
    BoosterHandle booster;
    size_t num_features;
    size_t num_classes;  /* 0 for regression */
    size_t output_width; /* values per row of a normal prediction */
    bool softmax;        /* multi:softmax: predict gives class ids, proba needs margins */
    bool logitraw;       /* binary:logitraw: predict gives margins */
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
    const struct json *ncls = json_get(json_get(learner, "learner_model_param"), "num_class");
    const char *objective = obj && obj->type == JSON_STRING ? obj->u.str : "reg:squarederror";
    long num_class = ncls && ncls->type == JSON_STRING ? strtol(ncls->u.str, NULL, 10) : 0;
    sig->objective = xstrdup(objective);
    arena_release(&a);
    objective = sig->objective; /* the arena held the original */

    m->output_width = 1;
    if (strncmp(objective, "multi:", 6) == 0) {
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
    XGBoosterFree(m->booster);
    free(m);
}

static int predict_raw(struct xgb_model *m, int type, const float *rows, size_t nrows,
                       const float **res, size_t *width, struct err *err)
{
    char iface[160], config[200];
    snprintf(iface, sizeof(iface),
             "{\"data\":[%llu,true],\"shape\":[%zu,%zu],\"typestr\":\"<f4\",\"version\":3}",
             (unsigned long long)(uintptr_t)rows, nrows, m->num_features);
    snprintf(config, sizeof(config),
             "{\"type\":%d,\"training\":false,\"iteration_begin\":0,\"iteration_end\":0,"
             "\"strict_shape\":false,\"missing\":NaN,\"nthread\":1,\"cache_id\":0}",
             type);
    const bst_ulong *shape;
    bst_ulong dim;
    const float *out;
    if (XGBoosterPredictFromDense(m->booster, iface, config, NULL, &shape, &dim, &out) != 0)
        return err_set(err, ERR_INTERNAL, "XGBoost prediction failed: %s", last_error());
    size_t total = 1;
    for (bst_ulong i = 0; i < dim; i++)
        total *= (size_t)shape[i];
    if (nrows == 0 || total % nrows != 0)
        return err_set(err, ERR_INTERNAL, "XGBoost returned %zu values for %zu rows", total, nrows);
    *res = out;
    *width = total / nrows;
    return 0;
}

static int xgb_load(const char *path, struct serve_signature *sig, void **handle, struct err *err)
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
    *handle = m;
    return 0;
}

static int xgb_predict(void *handle, enum serve_output kind, const float *rows, size_t nrows,
                       float *out, struct err *err)
{
    struct xgb_model *m = handle;
    const float *res;
    size_t width;
    if (kind == SERVE_OUT_PREDICT || (!m->softmax && !m->logitraw)) {
        int rc = predict_raw(m, 0, rows, nrows, &res, &width, err);
        if (rc)
            return rc;
        if (kind == SERVE_OUT_PREDICT || m->num_classes > 2) {
            memcpy(out, res, nrows * width * sizeof(float));
            return 0;
        }
        for (size_t i = 0; i < nrows; i++) { /* binary: p(1) -> [1-p, p] */
            out[2 * i] = 1.0f - res[i];
            out[2 * i + 1] = res[i];
        }
        return 0;
    }
    /* Class probabilities from margins, as the matching prob objective computes them. */
    int rc = predict_raw(m, 1, rows, nrows, &res, &width, err);
    if (rc)
        return rc;
    for (size_t i = 0; i < nrows; i++) {
        if (m->logitraw) {
            float p = 1.0f / (1.0f + expf(-res[i]));
            out[2 * i] = 1.0f - p;
            out[2 * i + 1] = p;
            continue;
        }
        const float *r = res + i * width;
        float mx = r[0], sum = 0;
        for (size_t k = 1; k < width; k++)
            mx = r[k] > mx ? r[k] : mx;
        for (size_t k = 0; k < width; k++)
            sum += out[i * width + k] = expf(r[k] - mx);
        for (size_t k = 0; k < width; k++)
            out[i * width + k] /= sum;
    }
    return 0;
}

const struct serve_backend serve_backend_xgboost = {
    .name = "xgboost",
    .platform = "xgboost",
    .load = xgb_load,
    .predict = xgb_predict,
    .free = xgb_free,
};
