/* tensor.h - turning request payloads into a dense row-major float batch for a
 * signature, and the numeric datatypes of the Open Inference Protocol. Pure
 * functions: errors name the field and the rule, for a 400 answer. */
#ifndef BERTH_SERVE_TENSOR_H
#define BERTH_SERVE_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/buf.h"
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

/* ------------------------------------------------------------------------ */
/* Tensor models (sig->ninputs > 0): named inputs of any dtype and shape.   */

/* TF Serving row format: 'instances' into sig->ninputs tensors (out[i] for
 * sig->inputs[i]), each of shape [n, ...] for n instances. With one input an
 * instance is its value (or {"name": value}); with several, an object with
 * every input by name. */
int tensor_inputs_from_instances(struct arena *a, const struct serve_signature *sig,
                                 const struct json *instances, struct serve_tensor *out,
                                 struct err *err);
/* TF Serving columnar format: 'inputs', the tensor itself (one input) or an
 * object of every input by name, each in nested-list form. */
int tensor_inputs_from_columns(struct arena *a, const struct serve_signature *sig,
                               const struct json *inputs, struct serve_tensor *out,
                               struct err *err);
/* An Open Inference Protocol input for sig->inputs[i]: its datatype must be
 * the model's and its shape fit the model's; JSON data (flat or nested) or
 * raw bytes. */
int tensor_input_from_v2(struct arena *a, const struct serve_tensor_info *info,
                         const struct v2_input *in, struct serve_tensor *out, struct err *err);
/* The elements of a shape: the product of its sizes. */
size_t tensor_elements(const int64_t *shape, size_t rank);
/* Check that t's shape fits 'info' (rank, and each size not -1). */
int tensor_check_shape(const struct serve_tensor_info *info, const int64_t *shape, size_t rank,
                       struct err *err);

/* Write 't' (or, when row is not SIZE_MAX, its row 'row' along dimension 0)
 * as nested JSON lists; flat: one list of every element. */
void tensor_write_json(struct buf *b, const struct serve_tensor *t, size_t row);
void tensor_write_flat(struct buf *b, const struct serve_tensor *t);
/* "[-1, 4]" */
void tensor_write_shape(struct buf *b, const int64_t *shape, size_t rank);

/* berth.json's "inputs": [{"name": "x", "datatype": "FP32", "shape": [-1, 4]}, ...]
 * into *out (heap; free with tensor_info_free). 'path' names the file. */
int tensor_info_parse(const struct json *list, const char *path, struct serve_tensor_info **out,
                      size_t *n, struct err *err);
void tensor_info_free(struct serve_tensor_info *t, size_t n);
/* berth.json's "outputs": ["name", ...] into heap strings. */
int tensor_names_parse(const struct json *list, const char *path, char ***out, size_t *n,
                       struct err *err);
/* berth.json's "example": [{"name"?, "datatype", "shape", "data"?}, ...]
 * into tensors in 'a' (data NULL where not given: zeros). */
int tensor_example_parse(struct arena *a, const struct json *list, const char *path,
                         struct serve_tensor **out, size_t *n, struct err *err);

#endif
