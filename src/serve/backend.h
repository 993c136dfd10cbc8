/* backend.h - the contract between the protocols and a model format.
 * A backend loads one version directory, describes its signature, predicts a
 * batch of rows and frees what it loaded. The protocols (tfserving.c, v2.c)
 * only see this interface, so new formats (ONNX, LLMs) plug in here.
 * predict() may be called from several threads at once on the same handle. */
#ifndef BERTH_SERVE_BACKEND_H
#define BERTH_SERVE_BACKEND_H

#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"

enum serve_task {
    SERVE_REGRESSION,     /* one value per row */
    SERVE_CLASSIFICATION, /* classes with probabilities: classify works */
};

enum serve_output {
    SERVE_OUT_PREDICT, /* what the library's predict() returns */
    SERVE_OUT_PROBA,   /* class probabilities, num_classes per row */
};

struct serve_signature {
    char *input_name; /* the single input tensor, shape [-1, num_features], FP32 */
    size_t num_features;
    char **feature_names; /* num_features names */
    enum serve_task task;
    size_t num_classes;  /* classification only; 2 for binary */
    char **class_labels; /* num_classes labels */
    size_t output_width; /* values per row of SERVE_OUT_PREDICT: 1, or K for softprob */
    char *objective;     /* backend's own name for what it computes, for metadata */
    char *predictor;     /* how it predicts, for the load log: "native (...)", "library (why)" */
};

/* Which code predicts for a model whose format has more than one. */
enum serve_predictor {
    SERVE_PREDICTOR_AUTO,    /* the native evaluator where it handles the model and agrees
                              * with the library at load, else the library */
    SERVE_PREDICTOR_NATIVE,  /* the native evaluator, or the load fails */
    SERVE_PREDICTOR_LIBRARY, /* always the library */
};

struct serve_load_options {
    enum serve_predictor predictor;
};

/* "auto", "native" or "library"; -1 for anything else. */
int serve_predictor_parse(const char *name);
const char *serve_predictor_name(enum serve_predictor p);

struct serve_backend {
    const char *name;     /* "xgboost" */
    const char *platform; /* the V2 metadata platform */
    /* Load the model file 'path'. On success fill 'sig' (names may be NULL to
     * take the defaults) and *handle. */
    int (*load)(const char *path, const struct serve_load_options *opt, struct serve_signature *sig,
                void **handle, struct err *err);
    /* Predict 'nrows' rows of sig->num_features floats (NaN = missing) into
     * 'out', which holds nrows * width floats (width per 'kind'). */
    int (*predict)(void *handle, enum serve_output kind, const float *rows, size_t nrows,
                   float *out, struct err *err);
    void (*free)(void *handle);
    /* Release what the calling thread keeps for predicting (any model); it
     * may predict again later. Before a thread ends. */
    void (*thread_done)(void);
};

extern const struct serve_backend serve_backend_xgboost;

void serve_signature_release(struct serve_signature *sig);

#endif
