/* tensor.h - turning request payloads into a dense row-major float batch for a
 * signature, and the numeric datatypes of the Open Inference Protocol. Pure
 * functions: errors name the field and the rule, for a 400 answer. */
#ifndef BERTH_SERVE_TENSOR_H
#define BERTH_SERVE_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/json.h"
#include "serve/backend.h"

struct serve_batch {
    float *rows; /* nrows * num_features, NaN where missing; arena memory */
    size_t nrows;
};

/* TF Serving row format: the value of "instances". */
int tensor_from_instances(struct arena *a, const struct serve_signature *sig,
                          const struct json *instances, struct serve_batch *out, struct err *err);
/* TF Serving columnar format: the value of "inputs". */
int tensor_from_inputs(struct arena *a, const struct serve_signature *sig,
                       const struct json *inputs, struct serve_batch *out, struct err *err);
/* TF Serving classify/regress: "examples" (list of feature maps) and optional "context". */
int tensor_from_examples(struct arena *a, const struct serve_signature *sig,
                         const struct json *examples, const struct json *context,
                         struct serve_batch *out, struct err *err);

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

enum v2_dtype v2_dtype_parse(const char *name);
const char *v2_dtype_name(enum v2_dtype t);
size_t v2_dtype_size(enum v2_dtype t); /* 0 for BYTES */

/* An Open Inference Protocol input tensor with shape [n, F] (or [F] for one
 * row). Exactly one of 'json_data' and 'raw' is set. */
struct v2_input {
    const char *name;
    int64_t shape[8];
    size_t rank;
    enum v2_dtype dtype;
    const struct json *json_data;
    const unsigned char *raw;
    size_t raw_len;
};

int tensor_from_v2(struct arena *a, const struct serve_signature *sig, const struct v2_input *in,
                   struct serve_batch *out, struct err *err);

#endif
