/* tensor.c - request payloads to float batches.
 * Values may be numbers, TF Serving's NaN/Infinity tokens, or null for a
 * missing value (XGBoost's NaN). Anything else is refused with the path of
 * the offending element, e.g. "instances[3][1]: expected a number, got a string". */
#include "serve/tensor.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define MAX_ROWS (16 * 1024 * 1024)

/* Where a row sits in the request. The path ("instances[3]", "inputs.f0[2]",
 * "context") is written only for an error message: formatting it for every row
 * cost more than reading the row. loc_path() writes what the per-row snprintf
 * wrote, into a buffer of the same size, so messages (truncation included)
 * stay as they were. */
struct loc {
    const char *name;  /* "instances", "inputs", "examples" or "context" */
    const char *key;   /* "inputs.<key>[row]" for a named column, or NULL */
    const char *sub;   /* "instances[row].<sub>" for a named input, or NULL */
    size_t row;        /* unused for "context" */
    size_t size_bytes; /* the buffer the path was formatted into */
};

#define LOC_MAX 160

static const char *loc_path(const struct loc *l, char *out)
{
    size_t n = l->size_bytes;
    if (!l->size_bytes)
        snprintf(out, LOC_MAX, "%s", l->name);
    else if (l->key)
        snprintf(out, n, "%s.%s[%zu]", l->name, l->key, l->row);
    else if (l->sub)
        snprintf(out, n, "%s[%zu].%s", l->name, l->row, l->sub);
    else
        snprintf(out, n, "%s[%zu]", l->name, l->row);
    return out;
}

static struct loc loc_row(const char *name, size_t row)
{
    return (struct loc){name, NULL, NULL, row, 64};
}

/* A number, or null for a missing value (XGBoost's NaN); false for anything else. */
static bool value_ok(const struct json *v, float *out)
{
    if (v->type == JSON_NUMBER) {
        *out = (float)v->u.num;
        return true;
    }
    if (v->type == JSON_NULL) {
        *out = NAN;
        return true;
    }
    return false;
}

static int value_error(const struct json *v, const char *where, struct err *err)
{
    return err_set(err, ERR_INVALID, "%s: expected a number, got %s", where,
                   json_type_name(v->type));
}

static int value_at(const struct json *v, float *out, const struct loc *l, struct err *err)
{
    char where[LOC_MAX];
    return value_ok(v, out) ? 0 : value_error(v, loc_path(l, where), err);
}

static float *alloc_rows(struct arena *a, size_t nrows, size_t nfeat)
{
    return arena_alloc(a, (nrows ? nrows : 1) * nfeat * sizeof(float));
}

/* A list of exactly F numbers into row[]. */
static int row_from_list(const struct serve_signature *sig, const struct json *list, float *row,
                         const struct loc *l, struct err *err)
{
    char where[LOC_MAX];
    if (list->type != JSON_ARRAY)
        return err_set(err, ERR_INVALID, "%s: expected a list of %zu feature values, got %s",
                       loc_path(l, where), sig->num_features, json_type_name(list->type));
    if (list->len != sig->num_features)
        return err_set(err, ERR_INVALID, "%s: expected %zu feature values, got %zu",
                       loc_path(l, where), sig->num_features, list->len);
    for (size_t k = 0; k < list->len; k++) {
        const struct json *v = &list->u.items[k];
        if (v->type == JSON_NUMBER) { /* the common case first */
            row[k] = (float)v->u.num;
        } else if (!value_ok(v, &row[k])) {
            char at[96];
            snprintf(at, sizeof(at), "%s[%zu]", loc_path(l, where), k);
            return value_error(v, at, err);
        }
    }
    return 0;
}

static long feature_index(const struct serve_signature *sig, const char *name)
{
    for (size_t i = 0; i < sig->num_features; i++)
        if (strcmp(sig->feature_names[i], name) == 0)
            return (long)i;
    return -1;
}

/* A feature map {"name": value or [value]} into row[]; absent features are missing. */
static int row_from_features(const struct serve_signature *sig, const struct json *obj, float *row,
                             bool fill, const struct loc *l, struct err *err)
{
    char where[LOC_MAX], at[160];
    if (fill)
        for (size_t k = 0; k < sig->num_features; k++)
            row[k] = NAN;
    for (size_t i = 0; i < obj->len; i++) {
        const struct json_member *m = &obj->u.members[i];
        long idx = feature_index(sig, m->key);
        if (idx < 0)
            return err_set(err, ERR_INVALID,
                           "%s: unknown feature '%s' (the model's features are '%s', ...)",
                           loc_path(l, where), m->key, sig->feature_names[0]);
        const struct json *v = &m->value;
        if (v->type == JSON_ARRAY) {
            if (v->len != 1) {
                snprintf(at, sizeof(at), "%s.%s", loc_path(l, where), m->key);
                return err_set(err, ERR_INVALID, "%s: expected one value, got a list of %zu", at,
                               v->len);
            }
            v = &v->u.items[0];
        }
        if (!value_ok(v, &row[idx])) {
            snprintf(at, sizeof(at), "%s.%s", loc_path(l, where), m->key);
            return value_error(v, at, err);
        }
    }
    return 0;
}

int tensor_from_instances(struct arena *a, const struct serve_signature *sig,
                          const struct json *instances, struct serve_batch *out, struct err *err)
{
    if (instances->type != JSON_ARRAY)
        return err_set(err, ERR_INVALID, "'instances' must be a list, got %s",
                       json_type_name(instances->type));
    if (instances->len == 0)
        return err_set(err, ERR_INVALID, "'instances' is empty");
    if (instances->len > MAX_ROWS)
        return err_set(err, ERR_INVALID, "'instances' has more than %d rows", MAX_ROWS);
    size_t nf = sig->num_features;
    float *rows = alloc_rows(a, instances->len, nf);
    for (size_t i = 0; i < instances->len; i++) {
        const struct json *it = &instances->u.items[i];
        float *row = rows + i * nf;
        struct loc l = loc_row("instances", i);
        int rc;
        if (it->type == JSON_OBJECT) {
            const struct json *named = json_get(it, sig->input_name);
            if (named && it->len == 1) {
                l.sub = sig->input_name;
                rc = row_from_list(sig, named, row, &l, err);
            } else {
                rc = row_from_features(sig, it, row, true, &l, err);
            }
        } else if (nf == 1 && it->type != JSON_ARRAY) {
            rc = value_at(it, row, &l, err);
        } else {
            rc = row_from_list(sig, it, row, &l, err);
        }
        if (rc)
            return rc;
    }
    out->rows = rows;
    out->nrows = instances->len;
    return 0;
}

int tensor_from_inputs(struct arena *a, const struct serve_signature *sig,
                       const struct json *inputs, struct serve_batch *out, struct err *err)
{
    size_t nf = sig->num_features;
    if (inputs->type == JSON_OBJECT) {
        const struct json *named = json_get(inputs, sig->input_name);
        if (named && inputs->len == 1)
            return tensor_from_inputs(a, sig, named, out, err);
        /* Columns by feature name: {"f0": [..n..], "f1": [..n..]}. */
        size_t n = 0;
        for (size_t i = 0; i < inputs->len; i++) {
            const struct json_member *m = &inputs->u.members[i];
            if (feature_index(sig, m->key) < 0)
                return err_set(err, ERR_INVALID,
                               "inputs: unknown input '%s' (expected '%s' or "
                               "feature names)",
                               m->key, sig->input_name);
            if (m->value.type != JSON_ARRAY)
                return err_set(err, ERR_INVALID, "inputs.%s: expected a list, got %s", m->key,
                               json_type_name(m->value.type));
            if (i > 0 && m->value.len != n)
                return err_set(err, ERR_INVALID,
                               "inputs.%s: has %zu values but '%s' has %zu; named columns must "
                               "have the same length",
                               m->key, m->value.len, inputs->u.members[0].key, n);
            n = m->value.len;
        }
        if (inputs->len == 0 || n == 0)
            return err_set(err, ERR_INVALID, "'inputs' is empty");
        if (n > MAX_ROWS)
            return err_set(err, ERR_INVALID, "'inputs' has more than %d rows", MAX_ROWS);
        float *rows = alloc_rows(a, n, nf);
        for (size_t i = 0; i < n * nf; i++)
            rows[i] = NAN;
        for (size_t i = 0; i < inputs->len; i++) {
            const struct json_member *m = &inputs->u.members[i];
            size_t idx = (size_t)feature_index(sig, m->key);
            for (size_t r = 0; r < n; r++) {
                const struct json *v = &m->value.u.items[r];
                if (!value_ok(v, &rows[r * nf + idx])) {
                    struct loc l = {"inputs", m->key, NULL, r, LOC_MAX};
                    char where[LOC_MAX];
                    return value_error(v, loc_path(&l, where), err);
                }
            }
        }
        out->rows = rows;
        out->nrows = n;
        return 0;
    }
    if (inputs->type != JSON_ARRAY)
        return err_set(err, ERR_INVALID, "'inputs' must be a list or an object, got %s",
                       json_type_name(inputs->type));
    if (inputs->len == 0)
        return err_set(err, ERR_INVALID, "'inputs' is empty");
    if (inputs->len > MAX_ROWS)
        return err_set(err, ERR_INVALID, "'inputs' has more than %d rows", MAX_ROWS);
    float *rows = alloc_rows(a, inputs->len, nf);
    for (size_t i = 0; i < inputs->len; i++) {
        const struct json *it = &inputs->u.items[i];
        struct loc l = loc_row("inputs", i);
        int rc = nf == 1 && it->type != JSON_ARRAY ? value_at(it, &rows[i], &l, err)
                                                   : row_from_list(sig, it, rows + i * nf, &l, err);
        if (rc) {
            if (i == 0 && it->type != JSON_ARRAY && nf > 1)
                return err_set(err, ERR_INVALID,
                               "'inputs' must have shape [-1, %zu] (a list of rows of %zu "
                               "values), got a list of %s",
                               nf, nf, json_type_name(it->type));
            return rc;
        }
    }
    out->rows = rows;
    out->nrows = inputs->len;
    return 0;
}

int tensor_from_examples(struct arena *a, const struct serve_signature *sig,
                         const struct json *examples, const struct json *context,
                         struct serve_batch *out, struct err *err)
{
    if (!examples || examples->type != JSON_ARRAY)
        return err_set(err, ERR_INVALID, "'examples' must be a list of feature objects");
    if (examples->len == 0)
        return err_set(err, ERR_INVALID, "'examples' is empty");
    if (examples->len > MAX_ROWS)
        return err_set(err, ERR_INVALID, "'examples' has more than %d rows", MAX_ROWS);
    if (context && context->type != JSON_OBJECT)
        return err_set(err, ERR_INVALID, "'context' must be an object of features");
    size_t nf = sig->num_features;
    float *rows = alloc_rows(a, examples->len, nf);
    const struct loc in_context = {"context", NULL, NULL, 0, 0};
    for (size_t i = 0; i < examples->len; i++) {
        const struct json *ex = &examples->u.items[i];
        struct loc l = loc_row("examples", i);
        char where[LOC_MAX];
        if (ex->type != JSON_OBJECT)
            return err_set(err, ERR_INVALID, "%s: expected an object of features, got %s",
                           loc_path(&l, where), json_type_name(ex->type));
        float *row = rows + i * nf;
        if (row_from_features(sig, ex, row, true, &l, err))
            return ERR_INVALID;
        if (context) {
            for (size_t k = 0; k < context->len; k++)
                if (json_get(ex, context->u.members[k].key))
                    return err_set(err, ERR_INVALID,
                                   "%s: feature '%s' is also in 'context'; it must be in one",
                                   loc_path(&l, where), context->u.members[k].key);
            if (row_from_features(sig, context, row, false, &in_context, err))
                return ERR_INVALID;
        }
    }
    out->rows = rows;
    out->nrows = examples->len;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Open Inference Protocol                                                  */

/* The integer types' ranges, for JSON data (binary data holds the type's
 * own bytes). JSON numbers arrive as doubles, exact up to 2^53: the 64-bit
 * maxima 2^63 - 1 and 2^64 - 1 read as 2^63 and 2^64, so those doubles are the
 * bounds that let every valid value through. */
static const struct {
    const char *name;
    size_t size;
    double min, max;
    const char *range;
} dtypes[] = {
    [V2_BOOL] = {"BOOL", 1, 0, 1, "false or true"},
    [V2_UINT8] = {"UINT8", 1, 0, 255, "0 to 255"},
    [V2_UINT16] = {"UINT16", 2, 0, 65535, "0 to 65535"},
    [V2_UINT32] = {"UINT32", 4, 0, 4294967295.0, "0 to 4294967295"},
    [V2_UINT64] = {"UINT64", 8, 0, 18446744073709551616.0, "0 to 18446744073709551615"},
    [V2_INT8] = {"INT8", 1, -128, 127, "-128 to 127"},
    [V2_INT16] = {"INT16", 2, -32768, 32767, "-32768 to 32767"},
    [V2_INT32] = {"INT32", 4, -2147483648.0, 2147483647.0, "-2147483648 to 2147483647"},
    [V2_INT64] = {"INT64", 8, -9223372036854775808.0, 9223372036854775808.0,
                  "-9223372036854775808 to 9223372036854775807"},
    [V2_FP16] = {"FP16", 2, -65504, 65504, "-65504 to 65504"},
    [V2_FP32] = {"FP32", 4, -FLT_MAX, FLT_MAX, "-3.40282347e+38 to 3.40282347e+38"},
    [V2_FP64] = {"FP64", 8, -DBL_MAX, DBL_MAX, "any double"},
    [V2_BYTES] = {"BYTES", 0, 0, 0, ""},
};

enum v2_dtype v2_dtype_parse(const char *name)
{
    for (int t = V2_BOOL; t <= V2_BYTES; t++)
        if (strcmp(dtypes[t].name, name) == 0)
            return (enum v2_dtype)t;
    return V2_INVALID;
}

const char *v2_dtype_name(enum v2_dtype t)
{
    return t > V2_INVALID && t <= V2_BYTES ? dtypes[t].name : "INVALID";
}

size_t v2_dtype_size(enum v2_dtype t)
{
    return t > V2_INVALID && t <= V2_BYTES ? dtypes[t].size : 0;
}

static float half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1F, mant = h & 0x3FF;
    float f;
    if (exp == 0)
        f = ldexpf((float)mant, -24);
    else if (exp == 31)
        f = mant ? NAN : INFINITY;
    else
        f = ldexpf((float)(mant | 0x400), (int)exp - 25);
    return sign ? -f : f;
}

/* One little-endian element of 'dtype' at 'p' (x86 and arm64 are little-endian). */
static float raw_element(enum v2_dtype t, const unsigned char *p)
{
    union {
        uint8_t u8;
        uint16_t u16;
        uint32_t u32;
        uint64_t u64;
        int8_t i8;
        int16_t i16;
        int32_t i32;
        int64_t i64;
        float f32;
        double f64;
    } v;
    memcpy(&v, p, v2_dtype_size(t));
    switch (t) {
    case V2_BOOL:
        return v.u8 ? 1.0f : 0.0f;
    case V2_UINT8:
        return (float)v.u8;
    case V2_UINT16:
        return (float)v.u16;
    case V2_UINT32:
        return (float)v.u32;
    case V2_UINT64:
        return (float)v.u64;
    case V2_INT8:
        return (float)v.i8;
    case V2_INT16:
        return (float)v.i16;
    case V2_INT32:
        return (float)v.i32;
    case V2_INT64:
        return (float)v.i64;
    case V2_FP16:
        return half_to_float(v.u16);
    case V2_FP32:
        return v.f32;
    case V2_FP64:
        return (float)v.f64;
    default:
        return NAN;
    }
}

/* Flatten nested JSON data row-major, checking each element against 'dtype'. */
static int flatten(const struct json *d, enum v2_dtype t, float *out, size_t want, size_t *n,
                   const char *name, struct err *err)
{
    if (d->type == JSON_ARRAY) {
        for (size_t i = 0; i < d->len; i++)
            if (flatten(&d->u.items[i], t, out, want, n, name, err))
                return ERR_INVALID;
        return 0;
    }
    if (*n >= want)
        return err_set(err, ERR_INVALID, "input '%s': data has more elements than its shape (%zu)",
                       name, want);
    if (t == V2_BOOL) {
        if (d->type != JSON_TRUE && d->type != JSON_FALSE)
            return err_set(err, ERR_INVALID,
                           "input '%s': data[%zu] is %s, expected a boolean for "
                           "BOOL",
                           name, *n, json_type_name(d->type));
        out[(*n)++] = d->type == JSON_TRUE ? 1.0f : 0.0f;
        return 0;
    }
    if (d->type != JSON_NUMBER)
        return err_set(err, ERR_INVALID, "input '%s': data[%zu] is %s, expected a number for %s",
                       name, *n, json_type_name(d->type), v2_dtype_name(t));
    bool integer = t != V2_FP32 && t != V2_FP64;
    if (integer && !d->is_integer)
        return err_set(err, ERR_INVALID, "input '%s': data[%zu] (%g) is not a valid %s", name, *n,
                       d->u.num, v2_dtype_name(t));
    /* Finite numbers outside the type, as KServe and Triton refuse them; FP32's
     * NaN and infinities are what the reader makes of TF Serving's tokens. */
    if (isfinite(d->u.num) && (d->u.num < dtypes[t].min || d->u.num > dtypes[t].max))
        return err_set(err, ERR_INVALID, "input '%s': data[%zu] (%.*g) is out of range for %s (%s)",
                       name, *n, integer ? 20 : 9, d->u.num, v2_dtype_name(t), dtypes[t].range);
    out[(*n)++] = (float)d->u.num;
    return 0;
}

/* Leaf values of nested JSON lists, counting no further than 'limit'. */
static size_t count_elements(const struct json *d, size_t limit)
{
    if (d->type != JSON_ARRAY)
        return 1;
    size_t n = 0;
    for (size_t i = 0; i < d->len && n < limit; i++)
        n += count_elements(&d->u.items[i], limit - n);
    return n;
}

int tensor_from_v2(struct arena *a, const struct serve_signature *sig, const struct v2_input *in,
                   struct serve_batch *out, struct err *err)
{
    size_t nf = sig->num_features;
    if (in->dtype == V2_BYTES || in->dtype == V2_INVALID)
        return err_set(err, ERR_INVALID,
                       "input '%s': datatype %s is not supported; use FP32, "
                       "FP64, an integer type or BOOL",
                       in->name, v2_dtype_name(in->dtype));
    if (in->dtype == V2_FP16 && !in->raw)
        return err_set(err, ERR_INVALID, "input '%s': FP16 data must be sent as binary data",
                       in->name);
    size_t nrows;
    if (in->rank == 2 && in->shape[1] == (int64_t)nf && in->shape[0] >= 0)
        nrows = (size_t)in->shape[0];
    else if (in->rank == 1 && (in->shape[0] == (int64_t)nf || nf == 1) && in->shape[0] >= 0)
        nrows = nf == 1 ? (size_t)in->shape[0] : 1;
    else {
        char shape[128] = "";
        size_t off = 0;
        for (size_t i = 0; i < in->rank && off < sizeof(shape) - 24; i++)
            off += (size_t)snprintf(shape + off, sizeof(shape) - off, "%s%lld", i ? ", " : "",
                                    (long long)in->shape[i]);
        return err_set(err, ERR_INVALID,
                       "input '%s': shape [%s] does not match the model's "
                       "[-1, %zu]",
                       in->name, shape, nf);
    }
    if (nrows == 0)
        return err_set(err, ERR_INVALID, "input '%s': shape has no rows", in->name);
    if (nrows > MAX_ROWS)
        return err_set(err, ERR_INVALID, "input '%s': more than %d rows", in->name, MAX_ROWS);
    size_t want = nrows * nf;
    if (in->raw) {
        size_t es = v2_dtype_size(in->dtype);
        if (in->raw_len != want * es)
            return err_set(err, ERR_INVALID,
                           "input '%s': binary data has %zu bytes, shape and %s need %zu", in->name,
                           in->raw_len, v2_dtype_name(in->dtype), want * es);
    } else if (in->json_data) {
        size_t have = count_elements(in->json_data, want + 1);
        if (have > want)
            return err_set(err, ERR_INVALID,
                           "input '%s': data has more elements than its shape (%zu)", in->name,
                           want);
        if (have < want)
            return err_set(err, ERR_INVALID, "input '%s': data has %zu elements, shape needs %zu",
                           in->name, have, want);
    }
    /* Sizes agree with the shape: only now allocate what the shape says. */
    float *rows = alloc_rows(a, nrows, nf);
    if (in->raw) {
        size_t es = v2_dtype_size(in->dtype);
        if (in->dtype == V2_FP32) {
            memcpy(rows, in->raw, want * sizeof(float));
        } else {
            for (size_t i = 0; i < want; i++)
                rows[i] = raw_element(in->dtype, in->raw + i * es);
        }
    } else {
        size_t n = 0;
        if (!in->json_data)
            return err_set(err, ERR_INVALID, "input '%s': has no 'data'", in->name);
        if (flatten(in->json_data, in->dtype, rows, want, &n, in->name, err))
            return ERR_INVALID;
        if (n != want)
            return err_set(err, ERR_INVALID, "input '%s': data has %zu elements, shape needs %zu",
                           in->name, n, want);
    }
    out->rows = rows;
    out->nrows = nrows;
    return 0;
}
