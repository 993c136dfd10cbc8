/* v2.c - the Open Inference Protocol (KServe V2) REST API, with Triton's
 * binary tensor extension: health, server and model metadata, model ready and
 * infer (see ../shared/reference/serving-protocols.md §3). */
#include "serve/api.h"
#include "base/alloc.h"
#include "base/json.h"
#include "base/version.h"
#include "serve/tensor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OUTPUT_NAME "predictions"

enum v2_verb { V2_METADATA, V2_READY, V2_INFER };

static bool take(struct str *s, const char *prefix)
{
    size_t n = strlen(prefix);
    if (s->len < n || memcmp(s->ptr, prefix, n) != 0)
        return false;
    s->ptr += n;
    s->len -= n;
    return true;
}

static struct str take_segment(struct str *s)
{
    size_t i = 0;
    while (i < s->len && s->ptr[i] != '/')
        i++;
    struct str seg = {s->ptr, i};
    s->ptr += i;
    s->len -= i;
    return seg;
}

static bool all_ready(const struct serve_snapshot *snap)
{
    for (size_t i = 0; i < snap->nmodels; i++)
        if (snap->models[i].nversions == 0)
            return false;
    return true;
}

static void write_str(struct buf *b, const char *s)
{
    buf_json_str(b, s, strlen(s));
}

static void write_infos(struct buf *b, const struct serve_tensor_info *t, size_t n)
{
    buf_putc(b, '[');
    for (size_t i = 0; i < n; i++) {
        buf_puts(b, i ? ", {\"name\": " : "{\"name\": ");
        write_str(b, t[i].name);
        buf_printf(b, ", \"datatype\": \"%s\", \"shape\": ", v2_dtype_name(t[i].dtype));
        tensor_write_shape(b, t[i].shape, t[i].rank);
        buf_putc(b, '}');
    }
    buf_putc(b, ']');
}

static void handle_model_metadata(const struct serve_model *m, const struct serve_version *v,
                                  struct http_response *res)
{
    struct buf *b = &res->body;
    if (v->sig.ninputs) {
        buf_puts(b, "{\"name\": ");
        write_str(b, m->name);
        buf_puts(b, ", \"versions\": [");
        for (size_t i = 0; i < m->nversions; i++)
            buf_printf(b, "%s\"%lld\"", i ? ", " : "", (long long)m->versions[i]->number);
        buf_puts(b, "], \"platform\": ");
        write_str(b, v->backend->platform);
        buf_puts(b, ", \"inputs\": ");
        write_infos(b, v->sig.inputs, v->sig.ninputs);
        buf_puts(b, ", \"outputs\": ");
        write_infos(b, v->sig.outputs, v->sig.noutputs);
        buf_putc(b, '}');
        return;
    }
    buf_puts(b, "{\"name\": ");
    write_str(b, m->name);
    buf_puts(b, ", \"versions\": [");
    for (size_t i = 0; i < m->nversions; i++)
        buf_printf(b, "%s\"%lld\"", i ? ", " : "", (long long)m->versions[i]->number);
    buf_puts(b, "], \"platform\": ");
    write_str(b, v->backend->platform);
    buf_puts(b, ", \"inputs\": [{\"name\": ");
    write_str(b, v->sig.input_name);
    buf_printf(
        b,
        ", \"datatype\": \"FP32\", \"shape\": [-1, %zu]}], \"outputs\": [{\"name\": \"" OUTPUT_NAME
        "\", \"datatype\": \"FP32\", \"shape\": [-1",
        v->sig.num_features);
    if (v->sig.output_width > 1)
        buf_printf(b, ", %zu", v->sig.output_width);
    buf_puts(b, "]}]}");
}

/* The JSON header and, with the binary extension, the bytes after it. */
static int split_body(struct http_request *req, struct str *json, struct str *binary,
                      struct err *err)
{
    struct str hl = http_request_header(req, "Inference-Header-Content-Length");
    *json = req->body;
    *binary = STR_NULL;
    if (!hl.ptr)
        return 0;
    unsigned long long n;
    if (str_to_u64(hl, req->body.len, &n) != 0)
        return err_set(err, ERR_INVALID,
                       "Inference-Header-Content-Length '%.*s' must be a number no larger than "
                       "the body (%zu bytes)",
                       (int)hl.len, hl.ptr, req->body.len);
    json->len = (size_t)n;
    binary->ptr = req->body.ptr + n;
    binary->len = req->body.len - (size_t)n;
    return 0;
}

static int bool_param(const struct json *params, const char *key, bool *out, struct err *err)
{
    const struct json *p = json_get(params, key);
    if (!p)
        return 0;
    if (p->type != JSON_TRUE && p->type != JSON_FALSE)
        return err_set(err, ERR_INVALID, "parameter '%s' must be a boolean", key);
    *out = p->type == JSON_TRUE;
    return 0;
}

/* Read the one input tensor of the request into 'in'. */
static int read_input(const struct json *body, struct str binary, const char *model,
                      const struct serve_signature *sig, struct v2_input *in, struct err *err)
{
    const struct json *inputs = json_get(body, "inputs");
    if (!inputs || inputs->type != JSON_ARRAY)
        return err_set(err, ERR_INVALID, "'inputs' must be a list of tensors");
    if (inputs->len != 1)
        return err_set(err, ERR_INVALID, "expected exactly 1 input tensor, got %zu", inputs->len);
    const struct json *t = &inputs->u.items[0];
    if (t->type != JSON_OBJECT)
        return err_set(err, ERR_INVALID, "inputs[0] must be an object");
    const struct json *name = json_get(t, "name"), *shape = json_get(t, "shape");
    const struct json *dtype = json_get(t, "datatype"), *params = json_get(t, "parameters");
    if (!name || name->type != JSON_STRING)
        return err_set(err, ERR_INVALID, "inputs[0].name must be a string");
    in->name = name->u.str;
    if (strcmp(in->name, sig->input_name) != 0)
        return err_set(err, ERR_INVALID,
                       "unexpected inference input '%s' for model '%s'; its input is '%s'",
                       in->name, model, sig->input_name);
    if (!dtype || dtype->type != JSON_STRING)
        return err_set(err, ERR_INVALID, "input '%s': 'datatype' must be a string", in->name);
    if ((in->dtype = v2_dtype_parse(dtype->u.str)) == V2_INVALID)
        return err_set(err, ERR_INVALID, "input '%s': unknown datatype '%s'", in->name,
                       dtype->u.str);
    if (!shape || shape->type != JSON_ARRAY || shape->len == 0 || shape->len > 8)
        return err_set(err, ERR_INVALID, "input '%s': 'shape' must be a list of 1 to 8 sizes",
                       in->name);
    in->rank = shape->len;
    for (size_t i = 0; i < shape->len; i++) {
        const struct json *d = &shape->u.items[i];
        if (d->type != JSON_NUMBER || !d->is_integer || d->u.num < 0 || d->u.num > 1e15)
            return err_set(err, ERR_INVALID,
                           "input '%s': shape[%zu] must be a non-negative "
                           "integer",
                           in->name, i);
        in->shape[i] = (int64_t)d->u.num;
    }
    if (params && params->type != JSON_OBJECT)
        return err_set(err, ERR_INVALID, "input '%s': 'parameters' must be an object", in->name);
    const struct json *bsize = json_get(params, "binary_data_size");
    const struct json *data = json_get(t, "data");
    if (bsize) {
        if (bsize->type != JSON_NUMBER || !bsize->is_integer || bsize->u.num < 0)
            return err_set(err, ERR_INVALID,
                           "input '%s': binary_data_size must be a "
                           "non-negative integer",
                           in->name);
        if (data)
            return err_set(err, ERR_INVALID, "input '%s': has both 'data' and binary_data_size",
                           in->name);
        if ((double)binary.len < bsize->u.num || !binary.ptr)
            return err_set(err, ERR_INVALID,
                           "input '%s': binary_data_size is %.0f but only %zu bytes follow the "
                           "JSON header",
                           in->name, bsize->u.num, binary.len);
        if ((double)binary.len != bsize->u.num)
            return err_set(err, ERR_INVALID,
                           "%zu bytes follow the JSON header but the inputs claim %.0f", binary.len,
                           bsize->u.num);
        in->raw = (const unsigned char *)binary.ptr;
        in->raw_len = binary.len;
    } else {
        if (binary.len)
            return err_set(err, ERR_INVALID,
                           "%zu bytes follow the JSON header but no input has "
                           "binary_data_size",
                           binary.len);
        if (!data)
            return err_set(err, ERR_INVALID, "input '%s': has no 'data'", in->name);
        in->json_data = data;
    }
    return 0;
}

/* Whether the output goes in binary; validates the 'outputs' selection. */
static int read_outputs(const struct json *body, bool *binary_out, struct err *err)
{
    const struct json *params = json_get(body, "parameters");
    if (params && params->type != JSON_OBJECT)
        return err_set(err, ERR_INVALID, "'parameters' must be an object");
    if (bool_param(params, "binary_data_output", binary_out, err))
        return ERR_INVALID;
    const struct json *outputs = json_get(body, "outputs");
    if (!outputs)
        return 0;
    if (outputs->type != JSON_ARRAY)
        return err_set(err, ERR_INVALID, "'outputs' must be a list");
    for (size_t i = 0; i < outputs->len; i++) {
        const struct json *o = &outputs->u.items[i];
        const struct json *name = json_get(o, "name");
        if (!name || name->type != JSON_STRING)
            return err_set(err, ERR_INVALID, "outputs[%zu].name must be a string", i);
        if (strcmp(name->u.str, OUTPUT_NAME) != 0)
            return err_set(err, ERR_INVALID,
                           "unexpected inference output '%s'; the model's output is '" OUTPUT_NAME
                           "'",
                           name->u.str);
        const struct json *op = json_get(o, "parameters");
        if (op && op->type != JSON_OBJECT)
            return err_set(err, ERR_INVALID, "outputs[%zu].parameters must be an object", i);
        if (json_get(op, "classification"))
            return err_set(err, ERR_INVALID,
                           "the classification output parameter is not "
                           "supported; use the TF Serving :classify API");
        if (bool_param(op, "binary_data", binary_out, err))
            return ERR_INVALID;
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Tensor models                                                            */

/* Input tensor 'idx' of the request: name, datatype, shape and where its
 * data is (JSON, or the next binary_data_size bytes at *boff). */
static int parse_tensor(const struct json *t, size_t idx, struct str binary, size_t *boff,
                        struct v2_input *in, struct err *err)
{
    if (t->type != JSON_OBJECT)
        return err_set(err, ERR_INVALID, "inputs[%zu] must be an object", idx);
    const struct json *name = json_get(t, "name"), *shape = json_get(t, "shape");
    const struct json *dtype = json_get(t, "datatype"), *params = json_get(t, "parameters");
    if (!name || name->type != JSON_STRING)
        return err_set(err, ERR_INVALID, "inputs[%zu].name must be a string", idx);
    in->name = name->u.str;
    if (!dtype || dtype->type != JSON_STRING)
        return err_set(err, ERR_INVALID, "input '%s': 'datatype' must be a string", in->name);
    if ((in->dtype = v2_dtype_parse(dtype->u.str)) == V2_INVALID)
        return err_set(err, ERR_INVALID, "input '%s': unknown datatype '%s'", in->name,
                       dtype->u.str);
    if (!shape || shape->type != JSON_ARRAY || shape->len > SERVE_MAX_RANK)
        return err_set(err, ERR_INVALID, "input '%s': 'shape' must be a list of at most %d sizes",
                       in->name, SERVE_MAX_RANK);
    in->rank = shape->len;
    for (size_t i = 0; i < shape->len; i++) {
        const struct json *d = &shape->u.items[i];
        if (d->type != JSON_NUMBER || !d->is_integer || d->u.num < 0 || d->u.num > 1e15)
            return err_set(err, ERR_INVALID,
                           "input '%s': shape[%zu] must be a non-negative integer", in->name, i);
        in->shape[i] = (int64_t)d->u.num;
    }
    if (params && params->type != JSON_OBJECT)
        return err_set(err, ERR_INVALID, "input '%s': 'parameters' must be an object", in->name);
    const struct json *bsize = json_get(params, "binary_data_size");
    const struct json *data = json_get(t, "data");
    if (!bsize) {
        if (!data)
            return err_set(err, ERR_INVALID, "input '%s': has no 'data'", in->name);
        in->json_data = data;
        return 0;
    }
    if (bsize->type != JSON_NUMBER || !bsize->is_integer || bsize->u.num < 0)
        return err_set(err, ERR_INVALID,
                       "input '%s': binary_data_size must be a non-negative integer", in->name);
    if (data)
        return err_set(err, ERR_INVALID, "input '%s': has both 'data' and binary_data_size",
                       in->name);
    if ((double)(binary.len - *boff) < bsize->u.num)
        return err_set(err, ERR_INVALID,
                       "input '%s': binary_data_size is %.0f but only %zu bytes are left after "
                       "the JSON header and the inputs before it",
                       in->name, bsize->u.num, binary.len - *boff);
    in->raw = (const unsigned char *)binary.ptr + *boff;
    in->raw_len = (size_t)bsize->u.num;
    *boff += in->raw_len;
    return 0;
}

/* Every input of the model, once, in the model's order. */
static int read_tensor_inputs(struct arena *a, const struct json *body, struct str binary,
                              const char *model, const struct serve_signature *sig,
                              struct serve_tensor *out, struct err *err)
{
    const struct json *inputs = json_get(body, "inputs");
    if (!inputs || inputs->type != JSON_ARRAY)
        return err_set(err, ERR_INVALID, "'inputs' must be a list of tensors");
    bool *seen = arena_calloc(a, sig->ninputs, sizeof(bool));
    size_t boff = 0;
    for (size_t i = 0; i < inputs->len; i++) {
        struct v2_input in = {0};
        if (parse_tensor(&inputs->u.items[i], i, binary, &boff, &in, err))
            return ERR_INVALID;
        size_t k = 0;
        while (k < sig->ninputs && strcmp(sig->inputs[k].name, in.name) != 0)
            k++;
        if (k == sig->ninputs)
            return err_set(err, ERR_INVALID,
                           "unexpected inference input '%s' for model '%s'; its inputs are '%s'%s",
                           in.name, model, sig->inputs[0].name, sig->ninputs > 1 ? ", ..." : "");
        if (seen[k])
            return err_set(err, ERR_INVALID, "input '%s' is given twice", in.name);
        seen[k] = true;
        if (tensor_input_from_v2(a, &sig->inputs[k], &in, &out[k], err))
            return ERR_INVALID;
    }
    for (size_t k = 0; k < sig->ninputs; k++)
        if (!seen[k])
            return err_set(err, ERR_INVALID, "input '%s' of model '%s' is missing",
                           sig->inputs[k].name, model);
    if (boff != binary.len)
        return err_set(err, ERR_INVALID,
                       "%zu bytes follow the JSON header but the inputs' binary_data_size add up "
                       "to %zu",
                       binary.len, boff);
    return 0;
}

/* Which outputs go back, and which of them in binary. */
static int read_tensor_outputs(struct arena *a, const struct json *body,
                               const struct serve_signature *sig, bool **want, bool **binary,
                               struct err *err)
{
    bool all_binary = false;
    const struct json *params = json_get(body, "parameters");
    if (params && params->type != JSON_OBJECT)
        return err_set(err, ERR_INVALID, "'parameters' must be an object");
    if (bool_param(params, "binary_data_output", &all_binary, err))
        return ERR_INVALID;
    *want = arena_calloc(a, sig->noutputs, sizeof(bool));
    *binary = arena_calloc(a, sig->noutputs, sizeof(bool));
    const struct json *outputs = json_get(body, "outputs");
    for (size_t k = 0; k < sig->noutputs; k++) {
        (*want)[k] = !outputs;
        (*binary)[k] = all_binary;
    }
    if (!outputs)
        return 0;
    if (outputs->type != JSON_ARRAY)
        return err_set(err, ERR_INVALID, "'outputs' must be a list");
    for (size_t i = 0; i < outputs->len; i++) {
        const struct json *o = &outputs->u.items[i];
        const struct json *name = json_get(o, "name");
        if (!name || name->type != JSON_STRING)
            return err_set(err, ERR_INVALID, "outputs[%zu].name must be a string", i);
        size_t k = 0;
        while (k < sig->noutputs && strcmp(sig->outputs[k].name, name->u.str) != 0)
            k++;
        if (k == sig->noutputs)
            return err_set(err, ERR_INVALID,
                           "unexpected inference output '%s'; the model's outputs are '%s'%s",
                           name->u.str, sig->outputs[0].name, sig->noutputs > 1 ? ", ..." : "");
        (*want)[k] = true;
        const struct json *op = json_get(o, "parameters");
        if (op && op->type != JSON_OBJECT)
            return err_set(err, ERR_INVALID, "outputs[%zu].parameters must be an object", i);
        if (json_get(op, "classification"))
            return err_set(err, ERR_INVALID,
                           "the classification output parameter is not supported");
        if (bool_param(op, "binary_data", &(*binary)[k], err))
            return ERR_INVALID;
    }
    return 0;
}

static void tensor_infer(struct http_request *req, const struct serve_model *m,
                         struct serve_version *v, const struct json *body, struct str binary,
                         const struct json *id, struct http_response *res)
{
    struct arena *a = req->arena;
    struct err err = {0};
    const struct serve_signature *sig = &v->sig;
    struct serve_tensor *in = arena_calloc(a, sig->ninputs, sizeof(*in)), *out;
    bool *want = NULL, *bin = NULL;
    if (read_tensor_inputs(a, body, binary, m->name, sig, in, &err) ||
        read_tensor_outputs(a, body, sig, &want, &bin, &err)) {
        http_response_error(res, 400, "%s", err.msg);
        return;
    }
    int rc = serve_infer(a, v, in, &out, &err);
    if (rc) {
        http_response_error(res, rc == ERR_INVALID ? 400 : 500, "%s", err.msg);
        return;
    }
    struct buf *b = &res->body;
    buf_puts(b, "{\"model_name\": ");
    write_str(b, m->name);
    buf_printf(b, ", \"model_version\": \"%lld\"", (long long)v->number);
    if (id) {
        buf_puts(b, ", \"id\": ");
        buf_json_str(b, id->u.str, id->len);
    }
    buf_puts(b, ", \"outputs\": [");
    bool first = true, any_binary = false;
    for (size_t k = 0; k < sig->noutputs; k++) {
        if (!want[k])
            continue;
        buf_puts(b, first ? "{\"name\": " : ", {\"name\": ");
        first = false;
        write_str(b, out[k].name);
        buf_printf(b, ", \"datatype\": \"%s\", \"shape\": ", v2_dtype_name(out[k].dtype));
        tensor_write_shape(b, out[k].shape, out[k].rank);
        if (bin[k]) {
            buf_printf(b, ", \"parameters\": {\"binary_data_size\": %zu}}", out[k].nbytes);
            any_binary = true;
        } else {
            buf_puts(b, ", \"data\": ");
            tensor_write_flat(b, &out[k]);
            buf_putc(b, '}');
        }
    }
    buf_puts(b, "]}");
    if (!any_binary)
        return;
    buf_printf(&res->headers, "Inference-Header-Content-Length: %zu\r\n", b->len);
    for (size_t k = 0; k < sig->noutputs; k++)
        if (want[k] && bin[k])
            buf_append(b, out[k].data, out[k].nbytes);
    res->content_type = "application/octet-stream";
}

static void handle_v2_infer(struct http_request *req, const struct serve_model *m,
                            struct serve_version *v, struct http_response *res)
{
    struct arena *a = req->arena;
    struct err err = {0};
    struct str json_text, binary;
    struct json *body;
    if (split_body(req, &json_text, &binary, &err) ||
        json_parse(a, json_text.ptr, json_text.len, &body, &err)) {
        http_response_error(res, 400, "%s", err.msg);
        return;
    }
    if (body->type != JSON_OBJECT) {
        http_response_error(res, 400, "the inference request must be a JSON object");
        return;
    }
    const struct json *id = json_get(body, "id");
    if (id && id->type != JSON_STRING) {
        http_response_error(res, 400, "'id' must be a string");
        return;
    }
    if (v->sig.ninputs) {
        tensor_infer(req, m, v, body, binary, id, res);
        return;
    }
    struct v2_input in = {0};
    struct serve_batch batch;
    bool binary_out = false;
    if (read_input(body, binary, m->name, &v->sig, &in, &err) ||
        read_outputs(body, &binary_out, &err) || tensor_from_v2(a, &v->sig, &in, &batch, &err)) {
        http_response_error(res, 400, "%s", err.msg);
        return;
    }
    float *out;
    size_t width;
    if (serve_predict(a, v, SERVE_OUT_PREDICT, batch.rows, batch.nrows, &out, &width, &err)) {
        http_response_error(res, 500, "%s", err.msg);
        return;
    }
    struct buf *b = &res->body;
    buf_puts(b, "{\"model_name\": ");
    write_str(b, m->name);
    buf_printf(b, ", \"model_version\": \"%lld\"", (long long)v->number);
    if (id) {
        buf_puts(b, ", \"id\": ");
        buf_json_str(b, id->u.str, id->len);
    }
    buf_printf(b,
               ", \"outputs\": [{\"name\": \"" OUTPUT_NAME "\", \"datatype\": \"FP32\", "
               "\"shape\": [%zu",
               batch.nrows);
    if (width > 1)
        buf_printf(b, ", %zu", width);
    buf_puts(b, "]");
    size_t nvals = batch.nrows * width;
    if (binary_out) {
        buf_printf(b, ", \"parameters\": {\"binary_data_size\": %zu}}]}", nvals * sizeof(float));
        buf_printf(&res->headers, "Inference-Header-Content-Length: %zu\r\n", b->len);
        buf_append(b, out, nvals * sizeof(float));
        res->content_type = "application/octet-stream";
        return;
    }
    buf_puts(b, ", \"data\": [");
    buf_reserve(b, nvals * 12 + 8);
    for (size_t i = 0; i < nvals; i++) {
        if (i)
            buf_puts(b, ", ");
        buf_json_float(b, out[i]);
    }
    buf_puts(b, "]}]}");
}

void serve_v2_handle(const struct serve_snapshot *snap, struct http_request *req,
                     struct http_response *res, struct serve_call *call)
{
    struct str path = req->path;
    bool get = str_eq_cstr(req->method, "GET") || str_eq_cstr(req->method, "HEAD");
    if (str_eq_cstr(path, "/v2") || str_eq_cstr(path, "/v2/")) {
        if (!get)
            goto method;
        buf_puts(&res->body, "{\"name\": \"berth-serve\", \"version\": \"");
        buf_puts(&res->body, berth_version); /* no quotes or backslashes: git describe's */
        buf_puts(&res->body, "\", \"extensions\": [\"binary_tensor_data\"]}");
        return;
    }
    if (str_eq_cstr(path, "/v2/health/live")) {
        if (!get)
            goto method;
        buf_puts(&res->body, "{\"live\": true}");
        return;
    }
    if (str_eq_cstr(path, "/v2/health/ready")) {
        if (!get)
            goto method;
        bool ready = all_ready(snap);
        res->status = ready ? 200 : 503;
        buf_printf(&res->body, "{\"ready\": %s}", ready ? "true" : "false");
        return;
    }
    if (!take(&path, "/v2/models/")) {
        http_response_error(res, 404, "no such endpoint: %.*s %.*s", (int)req->method.len,
                            req->method.ptr, (int)req->path.len, req->path.ptr);
        return;
    }
    struct str name = take_segment(&path);
    bool have_version = false;
    int64_t number = 0;
    if (take(&path, "/versions/")) {
        unsigned long long n;
        if (str_to_u64(take_segment(&path), 0x7fffffffffffffffULL, &n) != 0) {
            http_response_error(res, 400, "model version in '%.*s' must be a positive integer",
                                (int)req->path.len, req->path.ptr);
            return;
        }
        have_version = true;
        number = (int64_t)n;
    }
    enum v2_verb verb;
    if (path.len == 0)
        verb = V2_METADATA;
    else if (str_eq_cstr(path, "/ready"))
        verb = V2_READY;
    else if (str_eq_cstr(path, "/infer"))
        verb = V2_INFER;
    else {
        http_response_error(res, 404, "no such endpoint: %.*s %.*s", (int)req->method.len,
                            req->method.ptr, (int)req->path.len, req->path.ptr);
        return;
    }
    if (verb == V2_INFER ? !str_eq_cstr(req->method, "POST") : !get)
        goto method;
    call->api = verb == V2_INFER ? "infer" : verb == V2_READY ? "ready" : "metadata";
    const struct serve_model *m = serve_snapshot_model(snap, name);
    if (!m) {
        http_response_error(res, 404, "Model with name %.*s does not exist.", (int)name.len,
                            name.ptr);
        return;
    }
    call->model = m->name;
    struct serve_version *v =
        have_version ? serve_model_version(m, number) : (m->nversions ? m->versions[0] : NULL);
    if (verb == V2_READY) {
        res->status = v ? 200 : 503;
        buf_puts(&res->body, "{\"name\": ");
        write_str(&res->body, m->name);
        buf_printf(&res->body, ", \"ready\": %s}", v ? "true" : "false");
        return;
    }
    if (!v) {
        if (have_version)
            http_response_error(res, 404, "model %s has no available version %lld", m->name,
                                (long long)number);
        else
            http_response_error(res, 503, "model %s has no available version", m->name);
        return;
    }
    call->version = v->number;
    if (verb == V2_METADATA)
        handle_model_metadata(m, v, res);
    else
        handle_v2_infer(req, m, v, res);
    return;
method:
    http_response_error(res, 405, "%.*s is not allowed on %.*s", (int)req->method.len,
                        req->method.ptr, (int)req->path.len, req->path.ptr);
}
