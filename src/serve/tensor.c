/* tensor.c - request payloads to float batches.
 * Values may be numbers, TF Serving's NaN/Infinity tokens, or null for a
 * missing value (XGBoost's NaN). Anything else is refused with the path of
 * the offending element, e.g. "instances[3][1]: expected a number, got a string". */
#include "serve/tensor.h"
#include "base/alloc.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
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

/* One element of any numeric type, copied in and out with memcpy. */
union elem {
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
};

/* One little-endian element of 'dtype' at 'p' (x86 and arm64 are little-endian). */
static float raw_element(enum v2_dtype t, const unsigned char *p)
{
    union elem v;
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

/* ------------------------------------------------------------------------ */
/* Tensor models                                                            */

/* Where values come from, for messages: "input 'x': instances[3]". */
struct where {
    const char *input;
    const char *field; /* "instances", "inputs", "data" */
    size_t row;        /* SIZE_MAX: none */
};

static const char *where_text(const struct where *w, char *out, size_t size)
{
    if (w->row == SIZE_MAX)
        snprintf(out, size, "input '%s': %s", w->input, w->field);
    else
        snprintf(out, size, "input '%s': %s[%zu]", w->input, w->field, w->row);
    return out;
}

size_t tensor_elements(const int64_t *shape, size_t rank)
{
    size_t n = 1;
    for (size_t d = 0; d < rank; d++)
        n *= (size_t)shape[d];
    return n;
}

static void shape_text(const int64_t *shape, size_t rank, char *out, size_t size)
{
    size_t off = snprintf(out, size, "[");
    for (size_t d = 0; d < rank && off < size - 24; d++)
        off +=
            (size_t)snprintf(out + off, size - off, "%s%lld", d ? ", " : "", (long long)shape[d]);
    snprintf(out + off, size - off, "]");
}

int tensor_check_shape(const struct serve_tensor_info *info, const int64_t *shape, size_t rank,
                       struct err *err)
{
    bool fits = rank == info->rank;
    for (size_t d = 0; fits && d < rank; d++)
        fits = info->shape[d] < 0 || info->shape[d] == shape[d];
    if (fits)
        return 0;
    char got[128], want[128];
    shape_text(shape, rank, got, sizeof(got));
    shape_text(info->shape, info->rank, want, sizeof(want));
    return err_set(err, ERR_INVALID, "input '%s': shape %s does not match the model's %s",
                   info->name, got, want);
}

/* One JSON value as an element of 't' at 'dst'. */
static int element_from_json(enum v2_dtype t, const struct json *v, unsigned char *dst, size_t k,
                             const struct where *w, struct err *err)
{
    char at[160];
    if (t == V2_BOOL) {
        if (v->type != JSON_TRUE && v->type != JSON_FALSE)
            return err_set(err, ERR_INVALID, "%s: value %zu is %s, expected true or false for BOOL",
                           where_text(w, at, sizeof(at)), k, json_type_name(v->type));
        *dst = v->type == JSON_TRUE;
        return 0;
    }
    if (v->type != JSON_NUMBER)
        return err_set(err, ERR_INVALID, "%s: value %zu is %s, expected a number for %s",
                       where_text(w, at, sizeof(at)), k, json_type_name(v->type), v2_dtype_name(t));
    double x = v->u.num;
    bool integer = t != V2_FP32 && t != V2_FP64 && t != V2_FP16;
    if (integer && !v->is_integer)
        return err_set(err, ERR_INVALID, "%s: value %zu (%g) is not a valid %s",
                       where_text(w, at, sizeof(at)), k, x, v2_dtype_name(t));
    if (isfinite(x) && (x < dtypes[t].min || x > dtypes[t].max))
        return err_set(err, ERR_INVALID, "%s: value %zu (%.*g) is out of range for %s (%s)",
                       where_text(w, at, sizeof(at)), k, integer ? 20 : 9, x, v2_dtype_name(t),
                       dtypes[t].range);
    union elem e;
    switch (t) {
    case V2_UINT8:
        e.u8 = (uint8_t)x;
        break;
    case V2_UINT16:
        e.u16 = (uint16_t)x;
        break;
    case V2_UINT32:
        e.u32 = (uint32_t)x;
        break;
    case V2_UINT64:
        e.u64 = x >= 18446744073709551615.0 ? UINT64_MAX : (uint64_t)x;
        break;
    case V2_INT8:
        e.i8 = (int8_t)x;
        break;
    case V2_INT16:
        e.i16 = (int16_t)x;
        break;
    case V2_INT32:
        e.i32 = (int32_t)x;
        break;
    case V2_INT64:
        e.i64 = x >= 9223372036854775807.0 ? INT64_MAX : (int64_t)x;
        break;
    case V2_FP32:
        e.f32 = (float)x;
        break;
    case V2_FP64:
        e.f64 = x;
        break;
    default:
        return err_set(err, ERR_INVALID, "%s: %s data must be sent as binary data",
                       where_text(w, at, sizeof(at)), v2_dtype_name(t));
    }
    memcpy(dst, &e, dtypes[t].size);
    return 0;
}

/* The shape of nested lists 'v' to depth 'rank', from the first element of each level. */
static int nested_shape(const struct json *v, size_t rank, int64_t *shape, const struct where *w,
                        struct err *err)
{
    char at[160];
    for (size_t d = 0; d < rank; d++) {
        if (v->type != JSON_ARRAY)
            return err_set(err, ERR_INVALID, "%s: expected %zu nested lists, got %s at depth %zu",
                           where_text(w, at, sizeof(at)), rank, json_type_name(v->type), d);
        shape[d] = (int64_t)v->len;
        if (v->len == 0) {
            for (size_t k = d + 1; k < rank; k++)
                shape[k] = 0;
            return 0;
        }
        v = &v->u.items[0];
    }
    if (v->type == JSON_ARRAY)
        return err_set(err, ERR_INVALID, "%s: nested deeper than the input's %zu dimensions",
                       where_text(w, at, sizeof(at)), rank);
    return 0;
}

/* Fill 'dst' from nested lists of exactly 'shape'. *k counts the elements. */
static int fill_nested(const struct json *v, const int64_t *shape, size_t rank, enum v2_dtype t,
                       unsigned char *dst, size_t *k, const struct where *w, struct err *err)
{
    if (rank == 0) {
        if (element_from_json(t, v, dst + *k * dtypes[t].size, *k, w, err))
            return ERR_INVALID;
        (*k)++;
        return 0;
    }
    char at[160], got[48];
    if (v->type != JSON_ARRAY || v->len != (size_t)shape[0]) {
        if (v->type == JSON_ARRAY)
            snprintf(got, sizeof(got), "a list of %zu", v->len);
        else
            snprintf(got, sizeof(got), "%s", json_type_name(v->type));
        return err_set(err, ERR_INVALID,
                       "%s: value %zu: expected a list of %lld, got %s; every list at one depth "
                       "must have the same length",
                       where_text(w, at, sizeof(at)), *k, (long long)shape[0], got);
    }
    for (size_t i = 0; i < v->len; i++)
        if (fill_nested(&v->u.items[i], shape + 1, rank - 1, t, dst, k, w, err))
            return ERR_INVALID;
    return 0;
}

static void tensor_init(struct serve_tensor *o, const struct serve_tensor_info *info)
{
    memset(o, 0, sizeof(*o));
    o->name = info->name;
    o->dtype = info->dtype;
    o->rank = info->rank;
}

static int alloc_tensor(struct arena *a, struct serve_tensor *o, const struct where *w,
                        struct err *err)
{
    size_t n = 1;
    for (size_t d = 0; d < o->rank; d++) {
        if (o->shape[d] > 0 && n > (size_t)MAX_ROWS * 64 / (size_t)o->shape[d])
            return err_set(err, ERR_INVALID, "input '%s': more than %d elements", w->input,
                           MAX_ROWS * 64);
        n *= (size_t)o->shape[d];
    }
    o->nbytes = n * dtypes[o->dtype].size;
    o->data = arena_alloc(a, o->nbytes ? o->nbytes : 1);
    return 0;
}

/* A whole tensor of nested lists 'v' for 'info'. */
static int tensor_from_nested(struct arena *a, const struct serve_tensor_info *info,
                              const struct json *v, const struct where *w, struct serve_tensor *o,
                              struct err *err)
{
    tensor_init(o, info);
    if (nested_shape(v, info->rank, o->shape, w, err) ||
        tensor_check_shape(info, o->shape, o->rank, err) || alloc_tensor(a, o, w, err))
        return ERR_INVALID;
    size_t k = 0;
    return fill_nested(v, o->shape, o->rank, o->dtype, o->data, &k, w, err);
}

static long input_index(const struct serve_signature *sig, const char *name)
{
    for (size_t i = 0; i < sig->ninputs; i++)
        if (strcmp(sig->inputs[i].name, name) == 0)
            return (long)i;
    return -1;
}

/* Every key of 'obj' names an input, and every input is there. */
static int check_named(const struct serve_signature *sig, const struct json *obj, const char *at,
                       struct err *err)
{
    for (size_t i = 0; i < obj->len; i++)
        if (input_index(sig, obj->u.members[i].key) < 0)
            return err_set(
                err, ERR_INVALID, "%s: unknown input '%s' (the model's inputs are '%s'%s)", at,
                obj->u.members[i].key, sig->inputs[0].name, sig->ninputs > 1 ? ", ..." : "");
    for (size_t i = 0; i < sig->ninputs; i++)
        if (!json_get(obj, sig->inputs[i].name))
            return err_set(err, ERR_INVALID, "%s: input '%s' is missing", at, sig->inputs[i].name);
    return 0;
}

int tensor_inputs_from_instances(struct arena *a, const struct serve_signature *sig,
                                 const struct json *instances, struct serve_tensor *out,
                                 struct err *err)
{
    if (instances->type != JSON_ARRAY)
        return err_set(err, ERR_INVALID, "'instances' must be a list, got %s",
                       json_type_name(instances->type));
    if (instances->len == 0)
        return err_set(err, ERR_INVALID, "'instances' is empty");
    if (instances->len > MAX_ROWS)
        return err_set(err, ERR_INVALID, "'instances' has more than %d rows", MAX_ROWS);
    size_t n = instances->len;
    /* One input: each instance is its value, or an object naming it. */
    bool named = sig->ninputs > 1;
    if (sig->ninputs == 1) {
        const struct json *first = &instances->u.items[0];
        named =
            first->type == JSON_OBJECT && first->len == 1 && json_get(first, sig->inputs[0].name);
    }
    for (size_t i = 0; i < n; i++) {
        const struct json *it = &instances->u.items[i];
        if (!named)
            continue;
        char at[64];
        snprintf(at, sizeof(at), "instances[%zu]", i);
        if (it->type != JSON_OBJECT)
            return err_set(err, ERR_INVALID,
                           "%s: expected an object of the model's inputs by name ('%s', ...), got "
                           "%s",
                           at, sig->inputs[0].name, json_type_name(it->type));
        if (check_named(sig, it, at, err))
            return ERR_INVALID;
    }
    for (size_t k = 0; k < sig->ninputs; k++) {
        const struct serve_tensor_info *info = &sig->inputs[k];
        struct serve_tensor *o = &out[k];
        tensor_init(o, info);
        struct where w = {info->name, "instances", 0};
        if (info->rank == 0)
            return err_set(err, ERR_INVALID,
                           "input '%s' has no batch dimension (shape []): use the columnar "
                           "format ('inputs')",
                           info->name);
        if (info->shape[0] >= 0 && info->shape[0] != (int64_t)n)
            return err_set(err, ERR_INVALID,
                           "input '%s': the model takes exactly %lld rows, the request has %zu",
                           info->name, (long long)info->shape[0], n);
        const struct json *v0 =
            named ? json_get(&instances->u.items[0], info->name) : &instances->u.items[0];
        o->shape[0] = (int64_t)n;
        if (nested_shape(v0, info->rank - 1, o->shape + 1, &w, err) ||
            tensor_check_shape(info, o->shape, o->rank, err) || alloc_tensor(a, o, &w, err))
            return ERR_INVALID;
        size_t e = 0;
        for (size_t i = 0; i < n; i++) {
            const struct json *v =
                named ? json_get(&instances->u.items[i], info->name) : &instances->u.items[i];
            w.row = i;
            if (fill_nested(v, o->shape + 1, o->rank - 1, o->dtype, o->data, &e, &w, err))
                return ERR_INVALID;
        }
    }
    return 0;
}

int tensor_inputs_from_columns(struct arena *a, const struct serve_signature *sig,
                               const struct json *inputs, struct serve_tensor *out, struct err *err)
{
    bool named = inputs->type == JSON_OBJECT;
    if (sig->ninputs > 1 && !named)
        return err_set(err, ERR_INVALID,
                       "'inputs' must be an object of the model's %zu inputs by name ('%s', ...), "
                       "got %s",
                       sig->ninputs, sig->inputs[0].name, json_type_name(inputs->type));
    if (named && check_named(sig, inputs, "inputs", err))
        return ERR_INVALID;
    for (size_t k = 0; k < sig->ninputs; k++) {
        const struct serve_tensor_info *info = &sig->inputs[k];
        struct where w = {info->name, "inputs", SIZE_MAX};
        const struct json *v = named ? json_get(inputs, info->name) : inputs;
        if (tensor_from_nested(a, info, v, &w, &out[k], err))
            return ERR_INVALID;
        if (info->rank > 0 && out[k].shape[0] == 0)
            return err_set(err, ERR_INVALID, "input '%s': 'inputs' has no rows", info->name);
    }
    return 0;
}

/* Flat or nested JSON data, 'want' elements, into o->data. */
static int fill_flat(const struct json *d, enum v2_dtype t, unsigned char *dst, size_t want,
                     size_t *k, const struct where *w, struct err *err)
{
    if (d->type == JSON_ARRAY) {
        for (size_t i = 0; i < d->len; i++)
            if (fill_flat(&d->u.items[i], t, dst, want, k, w, err))
                return ERR_INVALID;
        return 0;
    }
    if (*k >= want)
        return err_set(err, ERR_INVALID, "input '%s': data has more elements than its shape (%zu)",
                       w->input, want);
    if (element_from_json(t, d, dst + *k * dtypes[t].size, *k, w, err))
        return ERR_INVALID;
    (*k)++;
    return 0;
}

int tensor_input_from_v2(struct arena *a, const struct serve_tensor_info *info,
                         const struct v2_input *in, struct serve_tensor *o, struct err *err)
{
    if (in->dtype != info->dtype)
        return err_set(err, ERR_INVALID, "input '%s': datatype %s does not match the model's %s",
                       info->name, v2_dtype_name(in->dtype), v2_dtype_name(info->dtype));
    if (tensor_check_shape(info, in->shape, in->rank, err))
        return ERR_INVALID;
    tensor_init(o, info);
    memcpy(o->shape, in->shape, in->rank * sizeof(int64_t));
    struct where w = {info->name, "data", SIZE_MAX};
    size_t want = 1;
    for (size_t d = 0; d < in->rank; d++) {
        if (in->shape[d] > 0 && want > (size_t)MAX_ROWS * 64 / (size_t)in->shape[d])
            return err_set(err, ERR_INVALID, "input '%s': more than %d elements", info->name,
                           MAX_ROWS * 64);
        want *= (size_t)in->shape[d];
    }
    size_t es = dtypes[info->dtype].size;
    if (in->raw) {
        if (in->raw_len != want * es)
            return err_set(err, ERR_INVALID,
                           "input '%s': binary data has %zu bytes, shape and %s need %zu",
                           info->name, in->raw_len, v2_dtype_name(in->dtype), want * es);
    } else if (!in->json_data) {
        return err_set(err, ERR_INVALID, "input '%s': has no 'data'", info->name);
    } else if (in->dtype == V2_FP16) {
        return err_set(err, ERR_INVALID, "input '%s': FP16 data must be sent as binary data",
                       info->name);
    } else {
        size_t have = count_elements(in->json_data, want + 1);
        if (have != want)
            return err_set(err, ERR_INVALID, "input '%s': data has %s%zu elements, shape needs %zu",
                           info->name, have > want ? "more than " : "", have > want ? want : have,
                           want);
    }
    if (alloc_tensor(a, o, &w, err))
        return ERR_INVALID;
    if (in->raw) {
        /* Copied: the body is not aligned for the element type. */
        memcpy(o->data, in->raw, o->nbytes);
        if (in->dtype == V2_BOOL)
            for (size_t i = 0; i < o->nbytes; i++)
                ((unsigned char *)o->data)[i] = ((unsigned char *)o->data)[i] != 0;
        return 0;
    }
    size_t k = 0;
    return fill_flat(in->json_data, in->dtype, o->data, want, &k, &w, err);
}

/* ------------------------------------------------------------------------ */
/* Writing tensors                                                          */

static void write_element(struct buf *b, enum v2_dtype t, const unsigned char *p)
{
    union elem v;
    memcpy(&v, p, dtypes[t].size);
    char tmp[40];
    switch (t) {
    case V2_BOOL:
        buf_puts(b, v.u8 ? "true" : "false");
        return;
    case V2_UINT8:
    case V2_UINT16:
    case V2_UINT32:
    case V2_UINT64: {
        unsigned long long u = t == V2_UINT8    ? v.u8
                               : t == V2_UINT16 ? v.u16
                               : t == V2_UINT32 ? v.u32
                                                : v.u64;
        buf_append(b, tmp, (size_t)snprintf(tmp, sizeof(tmp), "%llu", u));
        return;
    }
    case V2_INT8:
    case V2_INT16:
    case V2_INT32:
    case V2_INT64: {
        long long s = t == V2_INT8 ? v.i8 : t == V2_INT16 ? v.i16 : t == V2_INT32 ? v.i32 : v.i64;
        buf_append(b, tmp, (size_t)snprintf(tmp, sizeof(tmp), "%lld", s));
        return;
    }
    case V2_FP16:
        buf_json_float(b, half_to_float(v.u16));
        return;
    case V2_FP32:
        buf_json_float(b, v.f32);
        return;
    case V2_FP64:
        if (!isfinite(v.f64))
            buf_json_float(b, v.f64);
        else
            buf_append(b, tmp, (size_t)snprintf(tmp, sizeof(tmp), "%.17g", v.f64));
        return;
    default:
        buf_puts(b, "null");
        return;
    }
}

static void write_nested(struct buf *b, enum v2_dtype t, const unsigned char *p,
                         const int64_t *shape, size_t rank)
{
    if (rank == 0) {
        write_element(b, t, p);
        return;
    }
    size_t inner = tensor_elements(shape + 1, rank - 1) * dtypes[t].size;
    buf_putc(b, '[');
    for (int64_t i = 0; i < shape[0]; i++) {
        if (i)
            buf_puts(b, ", ");
        write_nested(b, t, p + (size_t)i * inner, shape + 1, rank - 1);
    }
    buf_putc(b, ']');
}

void tensor_write_json(struct buf *b, const struct serve_tensor *t, size_t row)
{
    if (row == SIZE_MAX) {
        write_nested(b, t->dtype, t->data, t->shape, t->rank);
        return;
    }
    size_t inner = tensor_elements(t->shape + 1, t->rank - 1) * dtypes[t->dtype].size;
    write_nested(b, t->dtype, (const unsigned char *)t->data + row * inner, t->shape + 1,
                 t->rank - 1);
}

void tensor_write_flat(struct buf *b, const struct serve_tensor *t)
{
    size_t n = tensor_elements(t->shape, t->rank), es = dtypes[t->dtype].size;
    buf_reserve(b, n * 12 + 2);
    buf_putc(b, '[');
    for (size_t i = 0; i < n; i++) {
        if (i)
            buf_puts(b, ", ");
        write_element(b, t->dtype, (const unsigned char *)t->data + i * es);
    }
    buf_putc(b, ']');
}

void tensor_write_shape(struct buf *b, const int64_t *shape, size_t rank)
{
    buf_putc(b, '[');
    for (size_t d = 0; d < rank; d++)
        buf_printf(b, "%s%lld", d ? ", " : "", (long long)shape[d]);
    buf_putc(b, ']');
}

/* ------------------------------------------------------------------------ */
/* berth.json's signature                                                   */

static int shape_parse(const struct json *shape, bool allow_any, int64_t *out, size_t *rank,
                       const char *at, struct err *err)
{
    if (!shape || shape->type != JSON_ARRAY || shape->len > SERVE_MAX_RANK)
        return err_set(err, ERR_INVALID, "%s: 'shape' must be a list of at most %d sizes", at,
                       SERVE_MAX_RANK);
    for (size_t d = 0; d < shape->len; d++) {
        const struct json *s = &shape->u.items[d];
        if (s->type != JSON_NUMBER || !s->is_integer || s->u.num < (allow_any ? -1 : 0) ||
            s->u.num > 1e9)
            return err_set(err, ERR_INVALID, "%s: shape[%zu] must be %s", at, d,
                           allow_any ? "a size, or -1 for any" : "a size");
        out[d] = (int64_t)s->u.num;
    }
    *rank = shape->len;
    return 0;
}

static int dtype_field(const struct json *o, const char *at, enum v2_dtype *t, struct err *err)
{
    const struct json *d = json_get(o, "datatype");
    *t = d && d->type == JSON_STRING ? v2_dtype_parse(d->u.str) : V2_INVALID;
    if (*t == V2_INVALID || *t == V2_BYTES)
        return err_set(err, ERR_INVALID,
                       "%s: 'datatype' must be one of FP32, FP64, FP16, INT64, INT32, INT16, INT8, "
                       "UINT8, BOOL",
                       at);
    if (*t == V2_UINT16 || *t == V2_UINT32 || *t == V2_UINT64)
        return err_set(err, ERR_INVALID, "%s: datatype %s has no libtorch type", at,
                       v2_dtype_name(*t));
    return 0;
}

static int only_keys(const struct json *o, const char *const *keys, const char *at, struct err *err)
{
    for (size_t i = 0; i < o->len; i++) {
        bool ok = false;
        for (const char *const *k = keys; *k; k++)
            ok |= strcmp(o->u.members[i].key, *k) == 0;
        if (!ok)
            return err_set(err, ERR_INVALID, "%s: unknown field '%s'", at, o->u.members[i].key);
    }
    return 0;
}

void tensor_info_free(struct serve_tensor_info *t, size_t n)
{
    for (size_t i = 0; t && i < n; i++)
        free(t[i].name);
    free(t);
}

int tensor_info_parse(const struct json *list, const char *path, struct serve_tensor_info **out,
                      size_t *n, struct err *err)
{
    static const char *const keys[] = {"name", "datatype", "shape", NULL};
    if (list->type != JSON_ARRAY || list->len == 0 || list->len > 64)
        return err_set(err, ERR_INVALID, "%s: 'inputs' must be a list of 1 to 64 tensors", path);
    struct serve_tensor_info *t = xcalloc(list->len, sizeof(*t));
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < list->len; i++) {
        const struct json *o = &list->u.items[i];
        char at[300];
        snprintf(at, sizeof(at), "%s: inputs[%zu]", path, i);
        const struct json *name = json_get(o, "name");
        if (o->type != JSON_OBJECT) {
            rc = err_set(err, ERR_INVALID, "%s must be an object {name, datatype, shape}", at);
        } else if (!name || name->type != JSON_STRING || name->len == 0 || name->len > 128 ||
                   strlen(name->u.str) != name->len) {
            rc = err_set(err, ERR_INVALID, "%s: 'name' must be a non-empty string", at);
        } else if ((rc = only_keys(o, keys, at, err)) == 0 &&
                   (rc = dtype_field(o, at, &t[i].dtype, err)) == 0 &&
                   (rc = shape_parse(json_get(o, "shape"), true, t[i].shape, &t[i].rank, at,
                                     err)) == 0) {
            for (size_t k = 0; rc == 0 && k < i; k++)
                if (strcmp(t[k].name, name->u.str) == 0)
                    rc =
                        err_set(err, ERR_INVALID, "%s: input '%s' is named twice", at, name->u.str);
            t[i].name = xstrdup(name->u.str);
        }
    }
    if (rc) {
        tensor_info_free(t, list->len);
        return rc;
    }
    *out = t;
    *n = list->len;
    return 0;
}

int tensor_names_parse(const struct json *list, const char *path, char ***out, size_t *n,
                       struct err *err)
{
    if (list->type != JSON_ARRAY || list->len == 0 || list->len > 64)
        return err_set(err, ERR_INVALID, "%s: 'outputs' must be a list of 1 to 64 names", path);
    for (size_t i = 0; i < list->len; i++) {
        const struct json *s = &list->u.items[i];
        if (s->type != JSON_STRING || s->len == 0 || s->len > 128 || strlen(s->u.str) != s->len)
            return err_set(err, ERR_INVALID, "%s: outputs[%zu] must be a non-empty string", path,
                           i);
        for (size_t k = 0; k < i; k++)
            if (strcmp(list->u.items[k].u.str, s->u.str) == 0)
                return err_set(err, ERR_INVALID, "%s: output '%s' is named twice", path, s->u.str);
    }
    char **names = xcalloc(list->len, sizeof(char *));
    for (size_t i = 0; i < list->len; i++)
        names[i] = xstrdup(list->u.items[i].u.str);
    *out = names;
    *n = list->len;
    return 0;
}

int tensor_example_parse(struct arena *a, const struct json *list, const char *path,
                         struct serve_tensor **out, size_t *n, struct err *err)
{
    static const char *const keys[] = {"name", "datatype", "shape", "data", NULL};
    if (list->type != JSON_ARRAY || list->len == 0 || list->len > 64)
        return err_set(err, ERR_INVALID, "%s: 'example' must be a list of 1 to 64 tensors", path);
    struct serve_tensor *t = arena_calloc(a, list->len, sizeof(*t));
    for (size_t i = 0; i < list->len; i++) {
        const struct json *o = &list->u.items[i];
        char at[300];
        snprintf(at, sizeof(at), "%s: example[%zu]", path, i);
        if (o->type != JSON_OBJECT)
            return err_set(err, ERR_INVALID, "%s must be an object {name, datatype, shape, data}",
                           at);
        const struct json *name = json_get(o, "name"), *data = json_get(o, "data");
        if (name && (name->type != JSON_STRING || name->len == 0))
            return err_set(err, ERR_INVALID, "%s: 'name' must be a non-empty string", at);
        if (only_keys(o, keys, at, err) || dtype_field(o, at, &t[i].dtype, err) ||
            shape_parse(json_get(o, "shape"), false, t[i].shape, &t[i].rank, at, err))
            return ERR_INVALID;
        t[i].name = name ? name->u.str : NULL;
        if (!data)
            continue;
        struct serve_tensor_info info = {
            (char *)(name ? name->u.str : "example"), t[i].dtype, t[i].rank, {0}};
        memcpy(info.shape, t[i].shape, sizeof(info.shape));
        struct v2_input in = {
            .name = info.name, .rank = t[i].rank, .dtype = t[i].dtype, .json_data = data};
        memcpy(in.shape, t[i].shape, sizeof(in.shape));
        struct serve_tensor got;
        if (tensor_input_from_v2(a, &info, &in, &got, err)) {
            err_prefix(err, "%s: ", at);
            return ERR_INVALID;
        }
        t[i].data = got.data;
        t[i].nbytes = got.nbytes;
    }
    *out = t;
    *n = list->len;
    return 0;
}
