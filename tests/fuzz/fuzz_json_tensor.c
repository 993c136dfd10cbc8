/* fuzz_json_tensor.c - the JSON reader and the request decoders behind it.
 * Input: JSON text, optionally followed by a NUL byte and binary tensor data
 * (as Triton's binary extension sends it after the JSON header). The parsed
 * tree is written back with buf_json_str/buf_json_float and must parse to the
 * same tree; then it goes through tensor_from_instances, tensor_from_inputs,
 * tensor_from_examples and the Open Inference Protocol path (read like v2.c
 * reads an infer request) against fixed signatures of 4 and 1 features. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/arena.h"
#include "base/buf.h"
#include "base/json.h"
#include "serve/backend.h"
#include "serve/tensor.h"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile float sink; /* keeps reads of every value */

static char input_name[] = "input";
static char feature_buf[5][3] = {"f0", "f1", "f2", "f3", "x"};
static char *names4[] = {feature_buf[0], feature_buf[1], feature_buf[2], feature_buf[3]};
static char *names1[] = {feature_buf[4]};
static const struct serve_signature sigs[2] = {
    {.input_name = input_name, .num_features = 4, .feature_names = names4, .output_width = 1},
    {.input_name = input_name, .num_features = 1, .feature_names = names1, .output_width = 1},
};

/* ------------------------------------------------------------------------ */
/* Write the tree back and compare                                          */

static void write_json(struct buf *b, const struct json *j)
{
    switch (j->type) {
    case JSON_NULL:
        buf_puts(b, "null");
        break;
    case JSON_TRUE:
        buf_puts(b, "true");
        break;
    case JSON_FALSE:
        buf_puts(b, "false");
        break;
    case JSON_NUMBER:
        buf_json_float(b, j->u.num);
        break;
    case JSON_STRING:
        buf_json_str(b, j->u.str, j->len);
        break;
    case JSON_ARRAY:
        buf_putc(b, '[');
        for (size_t i = 0; i < j->len; i++) {
            if (i)
                buf_putc(b, ',');
            write_json(b, &j->u.items[i]);
        }
        buf_putc(b, ']');
        break;
    case JSON_OBJECT:
        buf_putc(b, '{');
        for (size_t i = 0; i < j->len; i++) {
            if (i)
                buf_putc(b, ',');
            buf_json_str(b, j->u.members[i].key, j->u.members[i].key_len);
            buf_putc(b, ':');
            write_json(b, &j->u.members[i].value);
        }
        buf_putc(b, '}');
        break;
    }
}

/* buf_json_float writes float32 values in the shortest form that reads back
 * as the same float, and any other double exactly. */
static bool same_number(double a, double b)
{
    if (isnan(a))
        return isnan(b);
    if ((double)(float)a == a)
        return (float)b == (float)a && signbit(a) == signbit(b);
    return memcmp(&a, &b, sizeof(a)) == 0;
}

static bool same_json(const struct json *a, const struct json *b)
{
    if (a->type != b->type || a->len != b->len)
        return false;
    switch (a->type) {
    case JSON_NUMBER:
        return same_number(a->u.num, b->u.num);
    case JSON_STRING:
        return memcmp(a->u.str, b->u.str, a->len) == 0 && b->u.str[b->len] == '\0';
    case JSON_ARRAY:
        for (size_t i = 0; i < a->len; i++)
            if (!same_json(&a->u.items[i], &b->u.items[i]))
                return false;
        return true;
    case JSON_OBJECT:
        for (size_t i = 0; i < a->len; i++) {
            const struct json_member *x = &a->u.members[i], *y = &b->u.members[i];
            if (x->key_len != y->key_len || memcmp(x->key, y->key, x->key_len) != 0 ||
                !same_json(&x->value, &y->value))
                return false;
        }
        return true;
    default:
        return true;
    }
}

/* ------------------------------------------------------------------------ */
/* Decoders                                                                 */

static void check_result(int rc, const struct serve_signature *sig, const struct serve_batch *b,
                         const struct err *err)
{
    if (rc != 0) {
        FUZZ_CHECK(rc == ERR_INVALID && err->code == ERR_INVALID);
        FUZZ_CHECK(err->msg[0] != '\0');
        return;
    }
    FUZZ_CHECK(b->nrows >= 1 && b->rows != NULL);
    /* Read every value, so the sanitizers see a batch shorter than it claims. */
    float sum = 0;
    for (size_t i = 0; i < b->nrows * sig->num_features; i++)
        sum += b->rows[i];
    sink = sum;
}

/* Build the V2 input the way v2.c's read_input() does, then decode it. */
static void try_v2(struct arena *a, const struct serve_signature *sig, const struct json *body,
                   const unsigned char *raw, size_t raw_len, bool have_raw)
{
    const struct json *inputs = json_get(body, "inputs");
    if (!inputs || inputs->type != JSON_ARRAY || inputs->len < 1)
        return;
    const struct json *t = &inputs->u.items[0];
    const struct json *name = json_get(t, "name"), *shape = json_get(t, "shape");
    const struct json *dtype = json_get(t, "datatype"), *d = json_get(t, "data");
    struct v2_input in;
    memset(&in, 0, sizeof(in));
    in.name = name && name->type == JSON_STRING ? name->u.str : "input";
    in.dtype = dtype && dtype->type == JSON_STRING ? v2_dtype_parse(dtype->u.str) : V2_FP32;
    if (!shape || shape->type != JSON_ARRAY || shape->len == 0 || shape->len > 8)
        return;
    in.rank = shape->len;
    for (size_t i = 0; i < shape->len; i++) {
        const struct json *s = &shape->u.items[i];
        if (s->type != JSON_NUMBER || !s->is_integer || s->u.num < 0 || s->u.num > 1e15)
            return;
        in.shape[i] = (int64_t)s->u.num;
    }
    if (have_raw && !d) {
        in.raw = raw;
        in.raw_len = raw_len;
    } else {
        in.json_data = d;
    }
    struct serve_batch b = {0};
    struct err err = {0};
    check_result(tensor_from_v2(a, sig, &in, &b, &err), sig, &b, &err);
}

static void try_decoders(struct arena *a, const struct serve_signature *sig,
                         const struct json *root, const unsigned char *raw, size_t raw_len,
                         bool have_raw)
{
    struct serve_batch b;
    struct err err;
#define TRY(call)                                                                                  \
    do {                                                                                           \
        memset(&b, 0, sizeof(b));                                                                  \
        memset(&err, 0, sizeof(err));                                                              \
        check_result((call), sig, &b, &err);                                                       \
    } while (0)
    TRY(tensor_from_instances(a, sig, root, &b, &err));
    TRY(tensor_from_inputs(a, sig, root, &b, &err));
    TRY(tensor_from_examples(a, sig, root, NULL, &b, &err));
    if (root->type == JSON_OBJECT) {
        const struct json *v;
        if ((v = json_get(root, "instances")))
            TRY(tensor_from_instances(a, sig, v, &b, &err));
        if ((v = json_get(root, "inputs")))
            TRY(tensor_from_inputs(a, sig, v, &b, &err));
        if (json_get(root, "examples") || json_get(root, "context"))
            TRY(tensor_from_examples(a, sig, json_get(root, "examples"), json_get(root, "context"),
                                     &b, &err));
        try_v2(a, sig, root, raw, raw_len, have_raw);
    }
#undef TRY
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    const uint8_t *nul = memchr(data, '\0', size);
    size_t text_len = nul ? (size_t)(nul - data) : size;
    const unsigned char *raw = nul ? nul + 1 : NULL;
    size_t raw_len = nul ? size - text_len - 1 : 0;

    struct arena a;
    arena_init(&a, 0);
    struct json *root = NULL;
    struct err err;
    memset(&err, 0, sizeof(err));
    if (json_parse(&a, text, text_len, &root, &err) != 0) {
        FUZZ_CHECK(err.code == ERR_INVALID);
        unsigned long off;
        FUZZ_CHECK(sscanf(err.msg, "invalid JSON at byte %lu:", &off) == 1);
        FUZZ_CHECK(off <= text_len);
        arena_release(&a);
        return 0;
    }
    FUZZ_CHECK(root != NULL);

    struct buf out;
    buf_init(&out, 64 * 1024 * 1024);
    write_json(&out, root);
    struct json *again = NULL;
    if (json_parse(&a, out.ptr, out.len, &again, &err) != 0) {
        fprintf(stderr, "written back as '%s': %s\n", out.ptr, err.msg);
        FUZZ_CHECK(!"the written-back JSON does not parse");
    }
    FUZZ_CHECK(same_json(root, again));
    buf_release(&out);

    for (int s = 0; s < 2; s++)
        try_decoders(&a, &sigs[s], root, raw, raw_len, nul != NULL);
    arena_release(&a);
    return 0;
}
