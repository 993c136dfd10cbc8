/* backend.h - the contract between the protocols and a model format.
 * A backend loads one version directory, describes its signature, predicts
 * and frees what it loaded. The protocols (tfserving.c, v2.c) only see this
 * interface, so new formats (ONNX, LLMs) plug in here. Two kinds of backend:
 *   - row backends (XGBoost) predict a batch of FP32 rows with one input and
 *     one output: predict();
 *   - tensor backends (TorchScript) take several named inputs of any shape
 *     and dtype and give several named outputs: infer(), with the inputs and
 *     outputs described in the signature.
 * predict() and infer() may be called from several threads at once on the
 * same handle. */
#ifndef BERTH_SERVE_BACKEND_H
#define BERTH_SERVE_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/err.h"

/* The Open Inference Protocol's datatypes, which tensor backends use too
 * (tensor.h names and sizes them). */
enum v2_dtype {
    V2_INVALID = 0,
    V2_BOOL,
    V2_UINT8,
    V2_UINT16,
    V2_UINT32,
    V2_UINT64,
    V2_INT8,
    V2_INT16,
    V2_INT32,
    V2_INT64,
    V2_FP16,
    V2_FP32,
    V2_FP64,
    V2_BYTES,
};

#define SERVE_MAX_RANK 8

/* What a tensor backend's input or output is: a shape of 'rank' sizes, -1
 * where any size goes (the batch, a sequence length). */
struct serve_tensor_info {
    char *name;
    enum v2_dtype dtype;
    size_t rank;
    int64_t shape[SERVE_MAX_RANK];
};

/* A dense row-major tensor of little-endian elements (BOOL: one byte each,
 * 0 or 1). 'data' holds nbytes = product(shape) * size of dtype. */
struct serve_tensor {
    const char *name;
    enum v2_dtype dtype;
    size_t rank;
    int64_t shape[SERVE_MAX_RANK];
    void *data;
    size_t nbytes;
};

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
    /* Tensor backends only (the row fields above stay empty): the inputs,
     * in the order forward() takes them, and the outputs. */
    struct serve_tensor_info *inputs;
    size_t ninputs;
    struct serve_tensor_info *outputs;
    size_t noutputs;
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
    /* For tensor backends, from the version's berth.json (all may be empty):
     * the declared inputs, the output names, and an example to run at load
     * (tensors with data, or NULL data for zeros; names may be NULL). */
    const struct serve_tensor_info *inputs;
    size_t ninputs;
    char *const *output_names;
    size_t noutputs;
    const struct serve_tensor *example;
    size_t nexample;
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
    /* Tensor backends: run one batch. 'in' holds sig->ninputs tensors in
     * signature order, already checked against sig->inputs; fill out[0..
     * sig->noutputs) with tensors allocated in 'a'. ERR_INVALID when the
     * model refuses these inputs, other codes for its own failures. */
    int (*infer)(void *handle, const struct serve_tensor *in, struct arena *a,
                 struct serve_tensor *out, struct err *err);
    void (*free)(void *handle);
    /* Release what the calling thread keeps for predicting (any model); it
     * may predict again later. Before a thread ends. */
    void (*thread_done)(void);
};

extern const struct serve_backend serve_backend_xgboost;
/* TorchScript on libtorch, loaded from the module berth-serve-torch.so on
 * first use; without the module (TORCH=0), load() says so. */
extern const struct serve_backend serve_backend_torch;
/* Every backend, NULL-terminated. */
extern const struct serve_backend *const serve_backends[];

void serve_signature_release(struct serve_signature *sig);

#endif
