/* tfserving.c - TensorFlow Serving's REST API (/v1/models/...): status,
 * metadata, predict, classify and regress, with its paths, JSON shapes, error
 * bodies and status codes (see ../shared/reference/serving-protocols.md §1). */
#include "serve/api.h"
#include "base/alloc.h"
#include "base/json.h"
#include "serve/tensor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum tfs_verb { VERB_STATUS, VERB_METADATA, VERB_PREDICT, VERB_CLASSIFY, VERB_REGRESS };

struct tfs_target {
    struct str model;
    enum { SEL_LATEST, SEL_VERSION, SEL_LABEL } sel;
    int64_t version;
    struct str label;
    enum tfs_verb verb;
};

static bool take(struct str *s, const char *prefix, bool nocase)
{
    size_t n = strlen(prefix);
    if (s->len < n)
        return false;
    if (nocase ? strncasecmp(s->ptr, prefix, n) != 0 : memcmp(s->ptr, prefix, n) != 0)
        return false;
    s->ptr += n;
    s->len -= n;
    return true;
}

static struct str take_segment(struct str *s)
{
    size_t i = 0;
    while (i < s->len && s->ptr[i] != '/' && s->ptr[i] != ':')
        i++;
    struct str seg = {s->ptr, i};
    s->ptr += i;
    s->len -= i;
    return seg;
}

/* /v1/models/{MODEL}[/versions/{N}|/labels/{L}][/metadata|:predict|:classify|:regress] */
static bool parse_path(struct str path, struct tfs_target *t)
{
    memset(t, 0, sizeof(*t));
    if (!take(&path, "/v1/models/", true))
        return false;
    t->model = take_segment(&path);
    if (t->model.len == 0)
        return false;
    if (take(&path, "/versions/", false)) {
        struct str n = take_segment(&path);
        unsigned long long v;
        if (str_to_u64(n, 0x7fffffffffffffffULL, &v) != 0)
            return false;
        t->sel = SEL_VERSION;
        t->version = (int64_t)v;
    } else if (take(&path, "/labels/", false)) {
        t->label = take_segment(&path);
        if (t->label.len == 0)
            return false;
        t->sel = SEL_LABEL;
    }
    if (path.len == 0)
        t->verb = VERB_STATUS;
    else if (str_eq_cstr(path, "/metadata"))
        t->verb = VERB_METADATA;
    else if (str_eq_cstr(path, ":predict"))
        t->verb = VERB_PREDICT;
    else if (str_eq_cstr(path, ":classify"))
        t->verb = VERB_CLASSIFY;
    else if (str_eq_cstr(path, ":regress"))
        t->verb = VERB_REGRESS;
    else
        return false;
    return true;
}

static const char *verb_api(enum tfs_verb v)
{
    switch (v) {
    case VERB_STATUS:
        return "status";
    case VERB_METADATA:
        return "metadata";
    case VERB_PREDICT:
        return "predict";
    case VERB_CLASSIFY:
        return "classify";
    case VERB_REGRESS:
        return "regress";
    }
    return "unknown";
}

/* ------------------------------------------------------------------------ */
/* Status                                                                   */

static void write_status_entry(struct buf *b, const struct serve_version_status *st, bool first)
{
    buf_printf(b,
               "%s{\"version\": \"%lld\", \"state\": \"%s\", \"status\": {\"error_code\": \"%s\","
               " \"error_message\": ",
               first ? "" : ", ", (long long)st->number, serve_state_name(st->state),
               st->error ? "UNKNOWN" : "OK");
    const char *msg = st->error ? st->error : "";
    buf_json_str(b, msg, strlen(msg));
    buf_puts(b, "}}");
}

static void handle_status(const struct serve_model *m, const struct tfs_target *t,
                          struct http_response *res)
{
    int64_t want = t->version;
    if (t->sel == SEL_LABEL && serve_model_label(m, t->label, &want) != 0) {
        http_response_error(res, 400, "Unrecognized servable version label: %.*s",
                            (int)t->label.len, t->label.ptr);
        return;
    }
    struct buf *b = &res->body;
    buf_puts(b, "{\"model_version_status\": [");
    bool first = true;
    for (size_t k = m->nstatus; k-- > 0;) {
        if (t->sel != SEL_LATEST && m->status[k].number != want)
            continue;
        write_status_entry(b, &m->status[k], first);
        first = false;
    }
    buf_puts(b, "]}");
    if (first) {
        if (t->sel == SEL_LATEST)
            http_response_error(res, 404, "Could not find any versions of model %s", m->name);
        else
            http_response_error(res, 404, "Could not find version %lld of model %s",
                                (long long)want, m->name);
    }
}

/* ------------------------------------------------------------------------ */
/* Metadata                                                                 */

static void write_tensor_info(struct buf *b, const char *name, long long width)
{
    buf_json_str(b, name, strlen(name));
    buf_puts(b, ": {\"dtype\": \"DT_FLOAT\", \"tensor_shape\": {\"dim\": [{\"size\": \"-1\", "
                "\"name\": \"\"}");
    if (width > 0)
        buf_printf(b, ", {\"size\": \"%lld\", \"name\": \"\"}", width);
    buf_puts(b, "], \"unknown_rank\": false}, \"name\": ");
    char *tn = xasprintf("%s:0", name);
    buf_json_str(b, tn, strlen(tn));
    free(tn);
    buf_puts(b, "}");
}

static const char *tf_dtype(enum v2_dtype t)
{
    switch (t) {
    case V2_BOOL:
        return "DT_BOOL";
    case V2_UINT8:
        return "DT_UINT8";
    case V2_INT8:
        return "DT_INT8";
    case V2_INT16:
        return "DT_INT16";
    case V2_INT32:
        return "DT_INT32";
    case V2_INT64:
        return "DT_INT64";
    case V2_FP16:
        return "DT_HALF";
    case V2_FP64:
        return "DT_DOUBLE";
    default:
        return "DT_FLOAT";
    }
}

static void write_tensor_infos(struct buf *b, const struct serve_tensor_info *t, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (i)
            buf_puts(b, ", ");
        buf_json_str(b, t[i].name, strlen(t[i].name));
        buf_printf(b, ": {\"dtype\": \"%s\", \"tensor_shape\": {\"dim\": [", tf_dtype(t[i].dtype));
        for (size_t d = 0; d < t[i].rank; d++)
            buf_printf(b, "%s{\"size\": \"%lld\", \"name\": \"\"}", d ? ", " : "",
                       (long long)t[i].shape[d]);
        buf_puts(b, "], \"unknown_rank\": false}, \"name\": ");
        char *tn = xasprintf("%s:0", t[i].name);
        buf_json_str(b, tn, strlen(tn));
        free(tn);
        buf_puts(b, "}");
    }
}

static void handle_metadata(const struct serve_model *m, const struct serve_version *v,
                            struct http_response *res)
{
    if (v->sig.ninputs) {
        struct buf *b = &res->body;
        buf_puts(b, "{\"model_spec\": {\"name\": ");
        buf_json_str(b, m->name, strlen(m->name));
        buf_printf(b,
                   ", \"signature_name\": \"\", \"version\": \"%lld\"}, \"metadata\": "
                   "{\"signature_def\": {\"signature_def\": {\"serving_default\": {\"inputs\": {",
                   (long long)v->number);
        write_tensor_infos(b, v->sig.inputs, v->sig.ninputs);
        buf_puts(b, "}, \"outputs\": {");
        write_tensor_infos(b, v->sig.outputs, v->sig.noutputs);
        buf_puts(b, "}, \"method_name\": \"tensorflow/serving/predict\", \"defaults\": {}}}}}}");
        return;
    }
    struct buf *b = &res->body;
    buf_puts(b, "{\"model_spec\": {\"name\": ");
    buf_json_str(b, m->name, strlen(m->name));
    buf_printf(b,
               ", \"signature_name\": \"\", \"version\": \"%lld\"}, \"metadata\": "
               "{\"signature_def\": {\"signature_def\": {\"serving_default\": {\"inputs\": {",
               (long long)v->number);
    write_tensor_info(b, v->sig.input_name, (long long)v->sig.num_features);
    buf_puts(b, "}, \"outputs\": {");
    write_tensor_info(b, "predictions",
                      v->sig.output_width > 1 ? (long long)v->sig.output_width : 0);
    buf_puts(b, "}, \"method_name\": \"tensorflow/serving/predict\", \"defaults\": {}}}}}}");
}

/* ------------------------------------------------------------------------ */
/* Predict, classify, regress                                               */

static void write_values(struct buf *b, const float *vals, size_t nrows, size_t width)
{
    buf_reserve(b, nrows * width * 12 + 8);
    buf_putc(b, '[');
    for (size_t i = 0; i < nrows; i++) {
        if (i)
            buf_puts(b, ", ");
        if (width > 1)
            buf_putc(b, '[');
        for (size_t k = 0; k < width; k++) {
            if (k)
                buf_puts(b, ", ");
            buf_json_float(b, vals[i * width + k]);
        }
        if (width > 1)
            buf_putc(b, ']');
    }
    buf_putc(b, ']');
}

static int check_signature_name(const struct json *body, struct err *err)
{
    const struct json *sn = json_get(body, "signature_name");
    if (!sn)
        return 0;
    if (sn->type != JSON_STRING)
        return err_set(err, ERR_INVALID, "'signature_name' must be a string");
    if (sn->len && strcmp(sn->u.str, "serving_default") != 0)
        return err_set(err, ERR_INVALID,
                       "Serving signature name: \"%s\" not found in signature def; the model has "
                       "\"serving_default\"",
                       sn->u.str);
    return 0;
}

static int check_keys(const struct json *body, const char *const *allowed, const char *verb,
                      struct err *err)
{
    for (size_t i = 0; i < body->len; i++) {
        bool ok = false;
        for (const char *const *k = allowed; *k; k++)
            ok |= strcmp(body->u.members[i].key, *k) == 0;
        if (!ok)
            return err_set(err, ERR_INVALID,
                           "unknown field '%s' in the request body; %s takes "
                           "'%s', '%s' and '%s'",
                           body->u.members[i].key, verb, allowed[0], allowed[1], allowed[2]);
    }
    return 0;
}

/* predict on a tensor model: named inputs and outputs of any shape. */
static void tensor_predict(struct arena *a, const struct serve_model *m, struct serve_version *v,
                           const struct json *instances, const struct json *inputs,
                           struct http_response *res)
{
    const struct serve_signature *sig = &v->sig;
    struct err err = {0};
    struct serve_tensor *in = arena_calloc(a, sig->ninputs, sizeof(*in)), *out;
    int rc = inputs ? tensor_inputs_from_columns(a, sig, inputs, in, &err)
                    : tensor_inputs_from_instances(a, sig, instances, in, &err);
    if (rc) {
        http_response_error(res, 400, "%s", err.msg);
        return;
    }
    if ((rc = serve_infer(a, v, in, &out, &err))) {
        http_response_error(res, rc == ERR_INVALID ? 400 : 500, "%s", err.msg);
        return;
    }
    struct buf *b = &res->body;
    if (inputs) {
        buf_puts(b, "{\"outputs\": ");
        if (sig->noutputs == 1) {
            tensor_write_json(b, &out[0], SIZE_MAX);
        } else {
            buf_putc(b, '{');
            for (size_t k = 0; k < sig->noutputs; k++) {
                buf_puts(b, k ? ", " : "");
                buf_json_str(b, out[k].name, strlen(out[k].name));
                buf_puts(b, ": ");
                tensor_write_json(b, &out[k], SIZE_MAX);
            }
            buf_putc(b, '}');
        }
        buf_putc(b, '}');
        return;
    }
    /* Rows: every output must have the batch's rows. */
    int64_t n = in[0].shape[0];
    for (size_t k = 0; k < sig->noutputs; k++) {
        if (out[k].rank == 0 || out[k].shape[0] != n) {
            http_response_error(res, 400,
                                "model %s version %lld: output '%s' does not have the %lld rows "
                                "of the instances; use the columnar format ('inputs')",
                                m->name, (long long)v->number, out[k].name, (long long)n);
            return;
        }
    }
    buf_puts(b, "{\"predictions\": [");
    for (int64_t i = 0; i < n; i++) {
        buf_puts(b, i ? ", " : "");
        if (sig->noutputs == 1) {
            tensor_write_json(b, &out[0], (size_t)i);
            continue;
        }
        buf_putc(b, '{');
        for (size_t k = 0; k < sig->noutputs; k++) {
            buf_puts(b, k ? ", " : "");
            buf_json_str(b, out[k].name, strlen(out[k].name));
            buf_puts(b, ": ");
            tensor_write_json(b, &out[k], (size_t)i);
        }
        buf_putc(b, '}');
    }
    buf_puts(b, "]}");
}

static void handle_infer(struct arena *a, const struct serve_model *m, struct serve_version *v,
                         enum tfs_verb verb, struct str body_text, struct http_response *res)
{
    struct err err = {0};
    struct json *body;
    if (body_text.len == 0) {
        http_response_error(res, 400, "the request body is empty; expected a JSON object");
        return;
    }
    if (json_parse(a, body_text.ptr, body_text.len, &body, &err) != 0) {
        http_response_error(res, 400, "%s", err.msg);
        return;
    }
    if (body->type != JSON_OBJECT) {
        http_response_error(res, 400, "the request body must be a JSON object, got %s",
                            json_type_name(body->type));
        return;
    }
    struct serve_batch batch;
    const struct serve_signature *sig = &v->sig;
    bool columnar = false;
    if (verb == VERB_PREDICT) {
        static const char *const keys[] = {"instances", "inputs", "signature_name", NULL};
        const struct json *instances = json_get(body, "instances");
        const struct json *inputs = json_get(body, "inputs");
        if (check_keys(body, keys, "predict", &err) || check_signature_name(body, &err)) {
            http_response_error(res, 400, "%s", err.msg);
            return;
        }
        if (instances && inputs) {
            http_response_error(res, 400,
                                "Not formatted correctly: 'instances' and 'inputs' "
                                "cannot both be present");
            return;
        }
        if (!instances && !inputs) {
            http_response_error(res, 400, "Missing 'inputs' or 'instances' key");
            return;
        }
        if (sig->ninputs) {
            tensor_predict(a, m, v, instances, inputs, res);
            return;
        }
        columnar = inputs != NULL;
        int rc = columnar ? tensor_from_inputs(a, sig, inputs, &batch, &err)
                          : tensor_from_instances(a, sig, instances, &batch, &err);
        if (rc) {
            http_response_error(res, 400, "%s", err.msg);
            return;
        }
    } else if (sig->ninputs) {
        http_response_error(res, 400,
                            "model %s version %lld is a %s model with named tensors: use :predict",
                            m->name, (long long)v->number, v->backend->name);
        return;
    } else {
        static const char *const keys[] = {"examples", "context", "signature_name", NULL};
        if (check_keys(body, keys, verb == VERB_CLASSIFY ? "classify" : "regress", &err) ||
            check_signature_name(body, &err) ||
            tensor_from_examples(a, sig, json_get(body, "examples"), json_get(body, "context"),
                                 &batch, &err)) {
            http_response_error(res, 400, "%s", err.msg);
            return;
        }
    }
    if (verb == VERB_CLASSIFY && sig->task != SERVE_CLASSIFICATION) {
        http_response_error(res, 400,
                            "model %s version %lld is not a classifier (objective '%s'); use "
                            ":regress or :predict",
                            m->name, (long long)v->number, sig->objective);
        return;
    }
    if (verb == VERB_REGRESS && sig->output_width != 1) {
        http_response_error(res, 400,
                            "model %s version %lld predicts %zu values per example (objective "
                            "'%s'); regress needs one: use :classify or :predict",
                            m->name, (long long)v->number, sig->output_width, sig->objective);
        return;
    }
    float *out;
    size_t width;
    if (serve_predict(a, v, verb == VERB_CLASSIFY ? SERVE_OUT_PROBA : SERVE_OUT_PREDICT, batch.rows,
                      batch.nrows, &out, &width, &err) != 0) {
        http_response_error(res, 500, "%s", err.msg);
        return;
    }
    struct buf *b = &res->body;
    if (verb == VERB_PREDICT) {
        buf_puts(b, columnar ? "{\"outputs\": " : "{\"predictions\": ");
        write_values(b, out, batch.nrows, width);
        buf_putc(b, '}');
    } else if (verb == VERB_REGRESS) {
        buf_puts(b, "{\"results\": ");
        write_values(b, out, batch.nrows, 1);
        buf_putc(b, '}');
    } else {
        buf_puts(b, "{\"results\": [");
        for (size_t i = 0; i < batch.nrows; i++) {
            buf_puts(b, i ? ", [" : "[");
            for (size_t k = 0; k < width; k++) {
                buf_puts(b, k ? ", [" : "[");
                const char *label = sig->class_labels[k];
                buf_json_str(b, label, strlen(label));
                buf_puts(b, ", ");
                buf_json_float(b, out[i * width + k]);
                buf_putc(b, ']');
            }
            buf_putc(b, ']');
        }
        buf_puts(b, "]}");
    }
}

void serve_tfs_handle(const struct serve_snapshot *snap, struct http_request *req,
                      struct http_response *res, struct serve_call *call)
{
    struct tfs_target t;
    if (!parse_path(req->path, &t)) {
        http_response_error(res, 404, "Malformed request: %.*s %.*s", (int)req->method.len,
                            req->method.ptr, (int)req->path.len, req->path.ptr);
        return;
    }
    bool get = t.verb == VERB_STATUS || t.verb == VERB_METADATA;
    if (!str_eq_cstr(req->method, get ? "GET" : "POST")) {
        http_response_error(res, 405, "Malformed request: %.*s %.*s (expected %s)",
                            (int)req->method.len, req->method.ptr, (int)req->path.len,
                            req->path.ptr, get ? "GET" : "POST");
        return;
    }
    call->api = verb_api(t.verb);
    const struct serve_model *m = serve_snapshot_model(snap, t.model);
    if (!m) {
        if (t.verb == VERB_STATUS)
            http_response_error(res, 404, "Could not find any versions of model %.*s",
                                (int)t.model.len, t.model.ptr);
        else if (t.sel == SEL_VERSION)
            http_response_error(res, 404, "Servable not found for request: Specific(%.*s, %lld)",
                                (int)t.model.len, t.model.ptr, (long long)t.version);
        else
            http_response_error(res, 404, "Servable not found for request: Latest(%.*s)",
                                (int)t.model.len, t.model.ptr);
        return;
    }
    call->model = m->name;
    if (t.verb == VERB_STATUS) {
        handle_status(m, &t, res);
        return;
    }
    struct serve_version *v = NULL;
    int64_t number = t.version;
    if (t.sel == SEL_LABEL && serve_model_label(m, t.label, &number) != 0) {
        http_response_error(res, 400, "Unrecognized servable version label: %.*s", (int)t.label.len,
                            t.label.ptr);
        return;
    }
    if (t.sel == SEL_LATEST)
        v = m->nversions ? m->versions[0] : NULL;
    else
        v = serve_model_version(m, number);
    if (!v) {
        if (t.sel == SEL_LATEST)
            http_response_error(res, 404, "Servable not found for request: Latest(%s)", m->name);
        else
            http_response_error(res, 404, "Servable not found for request: Specific(%s, %lld)",
                                m->name, (long long)number);
        return;
    }
    call->version = v->number;
    if (t.verb == VERB_METADATA)
        handle_metadata(m, v, res);
    else
        handle_infer(req->arena, m, v, t.verb, req->body, res);
}
