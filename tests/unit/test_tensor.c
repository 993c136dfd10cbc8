/* test_tensor.c - request payloads to float batches: TF Serving's instances,
 * inputs and examples, and the Open Inference Protocol's JSON and binary data,
 * with errors that name the offending field. */
#include "harness.h"

#include <stdint.h>

#include "base/arena.h"
#include "base/json.h"
#include "serve/backend.h"
#include "serve/tensor.h"

static char input_name[] = "input";
static char feature_buf[5][3] = {"f0", "f1", "f2", "f3", "x"};
static char *names4[] = {feature_buf[0], feature_buf[1], feature_buf[2], feature_buf[3]};
static char *names1[] = {feature_buf[4]};

/* The model of every test: one input "input" of shape [-1, 4], features f0..f3. */
static const struct serve_signature sig4 = {
    .input_name = input_name,
    .num_features = 4,
    .feature_names = names4,
    .task = SERVE_REGRESSION,
    .output_width = 1,
};
static const struct serve_signature sig1 = {
    .input_name = input_name,
    .num_features = 1,
    .feature_names = names1,
    .task = SERVE_REGRESSION,
    .output_width = 1,
};

static struct arena arena;
static struct err err;
static struct serve_batch batch;

static const struct json *js(const char *text)
{
    struct json *j = NULL;
    struct err jerr;
    if (json_parse(&arena, text, strlen(text), &j, &jerr) != 0) {
        fprintf(stderr, "test JSON does not parse: %s\n%s\n", jerr.msg, text);
        abort();
    }
    return j;
}

static void reset(void)
{
    arena_release(&arena);
    arena_init(&arena, 0);
    memset(&err, 0, sizeof(err));
    memset(&batch, 0, sizeof(batch));
}

/* What each entry point reads from a request body. */
static int instances(const struct serve_signature *sig, const char *text)
{
    reset();
    return tensor_from_instances(&arena, sig, js(text), &batch, &err);
}

static int inputs(const struct serve_signature *sig, const char *text)
{
    reset();
    return tensor_from_inputs(&arena, sig, js(text), &batch, &err);
}

static int examples(const char *ex, const char *context)
{
    reset();
    return tensor_from_examples(&arena, &sig4, ex ? js(ex) : NULL, context ? js(context) : NULL,
                                &batch, &err);
}

static void check_rows(const float *want, size_t nrows, size_t nf)
{
    CHECK_EQ_INT(batch.nrows, nrows);
    CHECK(batch.rows != NULL);
    for (size_t i = 0; i < nrows * nf; i++) {
        if (!(isnan(want[i]) && isnan(batch.rows[i])) && want[i] != batch.rows[i]) {
            harness_fail(__FILE__, __LINE__, "row %zu feature %zu: %g, want %g", i / nf, i % nf,
                         (double)batch.rows[i], (double)want[i]);
            return;
        }
    }
}

#define CHECK_ERR(call, want)                                                                      \
    do {                                                                                           \
        CHECK_EQ_INT((call), ERR_INVALID);                                                         \
        CHECK_EQ_INT(err.code, ERR_INVALID);                                                       \
        CHECK_STR_EQ(err.msg, (want));                                                             \
    } while (0)

/* ------------------------------------------------------------------------ */
/* instances                                                                */

TEST(instances_as_lists)
{
    CHECK_EQ_INT(instances(&sig4, "[[1, 2, 3, 4], [5.5, -6, 7e1, 0]]"), 0);
    static const float want[] = {1, 2, 3, 4, 5.5f, -6, 70, 0};
    check_rows(want, 2, 4);
}

TEST(instances_null_nan_infinity)
{
    CHECK_EQ_INT(instances(&sig4, "[[null, NaN, Infinity, -Infinity]]"), 0);
    CHECK_EQ_INT(batch.nrows, 1);
    CHECK(isnan(batch.rows[0]));
    CHECK(isnan(batch.rows[1]));
    CHECK(isinf(batch.rows[2]) && batch.rows[2] > 0);
    CHECK(isinf(batch.rows[3]) && batch.rows[3] < 0);
}

TEST(instances_as_feature_objects)
{
    CHECK_EQ_INT(instances(&sig4, "[{\"f0\": 1, \"f3\": 4}, {\"f2\": [3], \"f1\": 2}, {}]"), 0);
    static const float want[] = {1, NAN, NAN, 4, NAN, 2, 3, NAN, NAN, NAN, NAN, NAN};
    check_rows(want, 3, 4);
}

TEST(instances_as_named_input)
{
    CHECK_EQ_INT(instances(&sig4, "[{\"input\": [1, 2, 3, 4]}, {\"input\": [5, 6, 7, 8]}]"), 0);
    static const float want[] = {1, 2, 3, 4, 5, 6, 7, 8};
    check_rows(want, 2, 4);
}

TEST(instances_single_feature_scalars)
{
    CHECK_EQ_INT(instances(&sig1, "[1, 2.5, null]"), 0);
    static const float want[] = {1, 2.5f, NAN};
    check_rows(want, 3, 1);
    CHECK_EQ_INT(instances(&sig1, "[[1], [2]]"), 0);
    static const float want2[] = {1, 2};
    check_rows(want2, 2, 1);
}

TEST(instances_errors)
{
    CHECK_ERR(instances(&sig4, "{\"f0\": 1}"), "'instances' must be a list, got an object");
    CHECK_ERR(instances(&sig4, "7"), "'instances' must be a list, got a number");
    CHECK_ERR(instances(&sig4, "[]"), "'instances' is empty");
    CHECK_ERR(instances(&sig4, "[[1, 2, 3, 4], [1, 2, 3]]"),
              "instances[1]: expected 4 feature values, got 3");
    CHECK_ERR(instances(&sig4, "[[1, 2, 3, 4, 5]]"),
              "instances[0]: expected 4 feature values, got 5");
    CHECK_ERR(instances(&sig4, "[[1, 2, \"3\", 4]]"),
              "instances[0][2]: expected a number, got a string");
    CHECK_ERR(instances(&sig4, "[[1, 2, 3, [4]]]"),
              "instances[0][3]: expected a number, got a list");
    CHECK_ERR(instances(&sig4, "[[1, 2, 3, true]]"),
              "instances[0][3]: expected a number, got a boolean");
    CHECK_ERR(instances(&sig4, "[[1, 2, 3, 4], 5]"),
              "instances[1]: expected a list of 4 feature values, got a number");
    CHECK_ERR(instances(&sig4, "[{\"f0\": 1, \"g\": 2}]"),
              "instances[0]: unknown feature 'g' (the model's features are 'f0', ...)");
    CHECK_ERR(instances(&sig4, "[{\"f0\": 1}, {\"f1\": [1, 2]}]"),
              "instances[1].f1: expected one value, got a list of 2");
    CHECK_ERR(instances(&sig4, "[{\"f0\": []}]"),
              "instances[0].f0: expected one value, got a list of 0");
    CHECK_ERR(instances(&sig4, "[{\"f0\": \"a\"}]"),
              "instances[0].f0: expected a number, got a string");
    CHECK_ERR(instances(&sig4, "[{\"input\": [1, 2]}]"),
              "instances[0].input: expected 4 feature values, got 2");
    CHECK_ERR(instances(&sig4, "[{\"input\": 3}]"),
              "instances[0].input: expected a list of 4 feature values, got a number");
    CHECK_ERR(instances(&sig4, "[{\"input\": [1, 2, 3, 4], \"f0\": 1}]"),
              "instances[0]: unknown feature 'input' (the model's features are 'f0', ...)");
    CHECK_ERR(instances(&sig1, "[1, \"two\"]"), "instances[1]: expected a number, got a string");
    CHECK_ERR(instances(&sig1, "[[1, 2]]"), "instances[0]: expected 1 feature values, got 2");
}

/* The paths are formatted only for an error now; long names are cut where
 * the per-row buffers cut them before (64 bytes for a row's path, 96 for an
 * element's, 160 for a feature's or a column's). */
static char long_input[101], long_feature[151];
static char *long_names[] = {long_feature, feature_buf[1], feature_buf[2], feature_buf[3]};
static const struct serve_signature sig_long = {
    .input_name = long_input,
    .num_features = 4,
    .feature_names = long_names,
    .task = SERVE_REGRESSION,
    .output_width = 1,
};

TEST(error_paths_with_long_names)
{
    memset(long_input, 'i', sizeof(long_input) - 1);
    memset(long_feature, 'g', sizeof(long_feature) - 1);
    char body[512], want[256];
    /* "instances[0]." and the input name, cut at 63 bytes. */
    snprintf(body, sizeof(body), "[{\"%s\": [1, 2]}]", long_input);
    snprintf(want, sizeof(want), "instances[0].%.50s: expected 4 feature values, got 2",
             long_input);
    CHECK_ERR(instances(&sig_long, body), want);
    snprintf(body, sizeof(body), "[{\"%s\": [1, 2, null, \"x\"]}]", long_input);
    snprintf(want, sizeof(want), "instances[0].%.50s[3]: expected a number, got a string",
             long_input);
    CHECK_ERR(instances(&sig_long, body), want);
    /* "examples[1]." and the feature name, cut at 159 bytes. */
    snprintf(body, sizeof(body), "[{\"f1\": 1}, {\"%s\": \"x\"}]", long_feature);
    snprintf(want, sizeof(want), "examples[1].%.147s: expected a number, got a string",
             long_feature);
    reset();
    CHECK_EQ_INT(tensor_from_examples(&arena, &sig_long, js(body), NULL, &batch, &err),
                 ERR_INVALID);
    CHECK_STR_EQ(err.msg, want);
    /* "inputs." and the column name with its row, cut at 159 bytes. */
    snprintf(body, sizeof(body), "{\"%s\": [1, true]}", long_feature);
    char path[200]; /* "inputs.ggg...g[1]" less its last byte */
    snprintf(path, sizeof(path), "inputs.%s[1", long_feature);
    CHECK_EQ_INT(strlen(path), 159);
    snprintf(want, sizeof(want), "%s: expected a number, got a boolean", path);
    CHECK_ERR(inputs(&sig_long, body), want);
    /* Context keys are named in full. */
    snprintf(body, sizeof(body), "{\"%s\": \"x\"}", long_feature);
    snprintf(want, sizeof(want), "context.%s: expected a number, got a string", long_feature);
    reset();
    CHECK_EQ_INT(
        tensor_from_examples(&arena, &sig_long, js("[{\"f1\": 1}]"), js(body), &batch, &err),
        ERR_INVALID);
    CHECK_STR_EQ(err.msg, want);
}

/* ------------------------------------------------------------------------ */
/* inputs (columnar)                                                        */

TEST(inputs_as_rows)
{
    CHECK_EQ_INT(inputs(&sig4, "[[1, 2, 3, 4], [5, 6, 7, 8]]"), 0);
    static const float want[] = {1, 2, 3, 4, 5, 6, 7, 8};
    check_rows(want, 2, 4);
    CHECK_EQ_INT(inputs(&sig4, "{\"input\": [[1, 2, 3, 4]]}"), 0);
    check_rows(want, 1, 4);
}

TEST(inputs_as_named_columns)
{
    CHECK_EQ_INT(inputs(&sig4, "{\"f1\": [1, 2, 3], \"f3\": [4, null, 6]}"), 0);
    static const float want[] = {NAN, 1, NAN, 4, NAN, 2, NAN, NAN, NAN, 3, NAN, 6};
    check_rows(want, 3, 4);
}

TEST(inputs_single_feature)
{
    CHECK_EQ_INT(inputs(&sig1, "[1, 2, 3]"), 0);
    static const float want[] = {1, 2, 3};
    check_rows(want, 3, 1);
    CHECK_EQ_INT(inputs(&sig1, "{\"input\": [4, 5]}"), 0);
    static const float want2[] = {4, 5};
    check_rows(want2, 2, 1);
    CHECK_EQ_INT(inputs(&sig1, "{\"x\": [6]}"), 0);
    CHECK_EQ_INT(batch.nrows, 1);
    CHECK(batch.rows[0] == 6);
}

TEST(inputs_errors)
{
    CHECK_ERR(inputs(&sig4, "\"x\""), "'inputs' must be a list or an object, got a string");
    CHECK_ERR(inputs(&sig4, "[]"), "'inputs' is empty");
    CHECK_ERR(inputs(&sig4, "{}"), "'inputs' is empty");
    CHECK_ERR(inputs(&sig4, "{\"f0\": []}"), "'inputs' is empty");
    CHECK_ERR(inputs(&sig4, "[1, 2, 3, 4]"),
              "'inputs' must have shape [-1, 4] (a list of rows of 4 values), got a list of a "
              "number");
    CHECK_ERR(inputs(&sig4, "[[1, 2, 3, 4], [1, 2]]"),
              "inputs[1]: expected 4 feature values, got 2");
    CHECK_ERR(inputs(&sig4, "[[1, 2, 3, 4], 5]"),
              "inputs[1]: expected a list of 4 feature values, got a number");
    CHECK_ERR(inputs(&sig4, "{\"f0\": [1, 2], \"f1\": [3]}"),
              "inputs.f1: has 1 values but 'f0' has 2; named columns must have the same length");
    CHECK_ERR(inputs(&sig4, "{\"f0\": [1], \"nope\": [3]}"),
              "inputs: unknown input 'nope' (expected 'input' or feature names)");
    CHECK_ERR(inputs(&sig4, "{\"input\": [[1, 2, 3, 4]], \"f0\": [1]}"),
              "inputs: unknown input 'input' (expected 'input' or feature names)");
    CHECK_ERR(inputs(&sig4, "{\"f0\": 1}"), "inputs.f0: expected a list, got a number");
    CHECK_ERR(inputs(&sig4, "{\"f0\": [1, \"2\"]}"),
              "inputs.f0[1]: expected a number, got a string");
    CHECK_ERR(inputs(&sig4, "{\"input\": [[1, 2, 3]]}"),
              "inputs[0]: expected 4 feature values, got 3");
    CHECK_ERR(inputs(&sig1, "[1, {}]"), "inputs[1]: expected a number, got an object");
}

/* ------------------------------------------------------------------------ */
/* examples and context                                                     */

TEST(examples_with_context)
{
    CHECK_EQ_INT(examples("[{\"f0\": 1}, {\"f1\": [2], \"f0\": 3}]", "{\"f3\": 9}"), 0);
    static const float want[] = {1, NAN, NAN, 9, 3, 2, NAN, 9};
    check_rows(want, 2, 4);
    CHECK_EQ_INT(examples("[{\"f2\": 5}]", NULL), 0);
    static const float want2[] = {NAN, NAN, 5, NAN};
    check_rows(want2, 1, 4);
    CHECK_EQ_INT(examples("[{}]", "{}"), 0);
    static const float want3[] = {NAN, NAN, NAN, NAN};
    check_rows(want3, 1, 4);
}

TEST(examples_errors)
{
    CHECK_ERR(examples(NULL, NULL), "'examples' must be a list of feature objects");
    CHECK_ERR(examples("{\"f0\": 1}", NULL), "'examples' must be a list of feature objects");
    CHECK_ERR(examples("[]", NULL), "'examples' is empty");
    CHECK_ERR(examples("[{\"f0\": 1}]", "[1]"), "'context' must be an object of features");
    CHECK_ERR(examples("[{\"f0\": 1}, [1, 2, 3, 4]]", NULL),
              "examples[1]: expected an object of features, got a list");
    CHECK_ERR(examples("[{\"f0\": 1, \"f9\": 2}]", NULL),
              "examples[0]: unknown feature 'f9' (the model's features are 'f0', ...)");
    CHECK_ERR(examples("[{\"f0\": 1}, {\"f1\": 1, \"f3\": 2}]", "{\"f3\": 9}"),
              "examples[1]: feature 'f3' is also in 'context'; it must be in one");
    CHECK_ERR(examples("[{\"f0\": 1}]", "{\"zz\": 9}"),
              "context: unknown feature 'zz' (the model's features are 'f0', ...)");
    CHECK_ERR(examples("[{\"f0\": 1}]", "{\"f1\": \"x\"}"),
              "context.f1: expected a number, got a string");
    CHECK_ERR(examples("[{\"f0\": {}}]", NULL), "examples[0].f0: expected a number, got an object");
}

/* ------------------------------------------------------------------------ */
/* Open Inference Protocol: dtypes                                          */

TEST(v2_dtypes)
{
    static const char *names[] = {"BOOL",  "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16",
                                  "INT32", "INT64", "FP16",   "FP32",   "FP64",   "BYTES"};
    static const size_t sizes[] = {1, 1, 2, 4, 8, 1, 2, 4, 8, 2, 4, 8, 0};
    for (int i = 0; i < 13; i++) {
        enum v2_dtype t = v2_dtype_parse(names[i]);
        CHECK_EQ_INT(t, V2_BOOL + i);
        CHECK_STR_EQ(v2_dtype_name(t), names[i]);
        CHECK_EQ_INT(v2_dtype_size(t), sizes[i]);
    }
    CHECK_EQ_INT(v2_dtype_parse("fp32"), V2_INVALID);
    CHECK_EQ_INT(v2_dtype_parse("FLOAT"), V2_INVALID);
    CHECK_EQ_INT(v2_dtype_parse(""), V2_INVALID);
    CHECK_STR_EQ(v2_dtype_name(V2_INVALID), "INVALID");
    CHECK_STR_EQ(v2_dtype_name((enum v2_dtype)99), "INVALID");
    CHECK_EQ_INT(v2_dtype_size(V2_INVALID), 0);
}

/* ------------------------------------------------------------------------ */
/* Open Inference Protocol: JSON data                                       */

static int v2_json(const char *dtype, const int64_t *shape, size_t rank, const char *data)
{
    reset();
    struct v2_input in = {.name = "input", .rank = rank, .dtype = v2_dtype_parse(dtype)};
    memcpy(in.shape, shape, rank * sizeof(*shape));
    in.json_data = data ? js(data) : NULL;
    return tensor_from_v2(&arena, &sig4, &in, &batch, &err);
}

static int v2_raw(const struct serve_signature *sig, const char *dtype, const int64_t *shape,
                  size_t rank, const void *raw, size_t raw_len)
{
    reset();
    struct v2_input in = {.name = "input", .rank = rank, .dtype = v2_dtype_parse(dtype)};
    memcpy(in.shape, shape, rank * sizeof(*shape));
    in.raw = raw;
    in.raw_len = raw_len;
    return tensor_from_v2(&arena, sig, &in, &batch, &err);
}

static const int64_t shape_2x4[] = {2, 4};
static const int64_t shape_1x4[] = {1, 4};
static const int64_t shape_4[] = {4};

TEST(v2_json_nested_and_flat)
{
    static const float want[] = {1, 2, 3, 4, 5, 6, 7, 8};
    CHECK_EQ_INT(v2_json("FP32", shape_2x4, 2, "[[1, 2, 3, 4], [5, 6, 7, 8]]"), 0);
    check_rows(want, 2, 4);
    CHECK_EQ_INT(v2_json("FP32", shape_2x4, 2, "[1, 2, 3, 4, 5, 6, 7, 8]"), 0);
    check_rows(want, 2, 4);
    CHECK_EQ_INT(v2_json("FP64", shape_1x4, 2, "[[1, 2, 3, 4]]"), 0);
    check_rows(want, 1, 4);
    CHECK_EQ_INT(v2_json("FP32", shape_4, 1, "[1, 2, 3, 4]"), 0);
    check_rows(want, 1, 4);
    CHECK_EQ_INT(v2_json("INT64", shape_2x4, 2, "[[1, 2, 3, 4], [5, 6, 7, 8]]"), 0);
    check_rows(want, 2, 4);
    CHECK_EQ_INT(v2_json("UINT8", shape_1x4, 2, "[1, 2, 3, 4]"), 0);
    check_rows(want, 1, 4);
    CHECK_EQ_INT(v2_json("INT32", shape_1x4, 2, "[-1, 0, -0, 4]"), 0);
    static const float want_neg[] = {-1, 0, 0, 4};
    check_rows(want_neg, 1, 4);
    CHECK_EQ_INT(v2_json("FP32", shape_1x4, 2, "[[NaN, Infinity, -Infinity, 0.5]]"), 0);
    static const float want_tok[] = {NAN, INFINITY, -INFINITY, 0.5f};
    check_rows(want_tok, 1, 4);
}

TEST(v2_json_bool)
{
    CHECK_EQ_INT(v2_json("BOOL", shape_1x4, 2, "[true, false, false, true]"), 0);
    static const float want[] = {1, 0, 0, 1};
    check_rows(want, 1, 4);
    CHECK_ERR(v2_json("BOOL", shape_1x4, 2, "[true, 0, false, true]"),
              "input 'input': data[1] is a number, expected a boolean for BOOL");
}

TEST(v2_json_errors)
{
    CHECK_ERR(v2_json("INT64", shape_1x4, 2, "[1, 1.5, 3, 4]"),
              "input 'input': data[1] (1.5) is not a valid INT64");
    CHECK_ERR(v2_json("INT64", shape_1x4, 2, "[1, 2, 3, 1e2]"),
              "input 'input': data[3] (100) is not a valid INT64");
    CHECK_ERR(v2_json("UINT8", shape_1x4, 2, "[1, -2, 3, 4]"),
              "input 'input': data[1] (-2) is out of range for UINT8 (0 to 255)");
    CHECK_ERR(v2_json("INT8", shape_1x4, 2, "[1, 2, NaN, 4]"),
              "input 'input': data[2] (nan) is not a valid INT8");
    CHECK_ERR(v2_json("FP32", shape_1x4, 2, "[1, 2, null, 4]"),
              "input 'input': data[2] is null, expected a number for FP32");
    CHECK_ERR(v2_json("FP32", shape_1x4, 2, "[1, 2, \"3\", 4]"),
              "input 'input': data[2] is a string, expected a number for FP32");
    CHECK_ERR(v2_json("FP32", shape_2x4, 2, "[[1, 2, 3, 4], [5, 6, 7]]"),
              "input 'input': data has 7 elements, shape needs 8");
    CHECK_ERR(v2_json("FP32", shape_1x4, 2, "[1, 2, 3, 4, 5]"),
              "input 'input': data has more elements than its shape (4)");
    CHECK_ERR(v2_json("FP32", shape_1x4, 2, "[]"), "input 'input': data has 0 elements, shape "
                                                   "needs 4");
    CHECK_ERR(v2_json("FP32", shape_1x4, 2, NULL), "input 'input': has no 'data'");
    CHECK_ERR(v2_json("FP16", shape_1x4, 2, "[1, 2, 3, 4]"),
              "input 'input': FP16 data must be sent as binary data");
    CHECK_ERR(v2_json("BYTES", shape_1x4, 2, "[\"a\", \"b\", \"c\", \"d\"]"),
              "input 'input': datatype BYTES is not supported; use FP32, FP64, an integer type "
              "or BOOL");
    CHECK_ERR(v2_json("nope", shape_1x4, 2, "[1, 2, 3, 4]"),
              "input 'input': datatype INVALID is not supported; use FP32, FP64, an integer type "
              "or BOOL");
}

/* Each integer type takes its own range from JSON, and only that: KServe and
 * Triton answer 400 for 300 as UINT8 or -129 as INT8 rather than wrap them. */
TEST(v2_json_integer_ranges)
{
    static const struct {
        const char *dtype, *lo, *hi, *below, *above, *range;
    } r[] = {
        {"UINT8", "0", "255", "-1", "256", "0 to 255"},
        {"UINT16", "0", "65535", "-1", "65536", "0 to 65535"},
        {"UINT32", "0", "4294967295", "-1", "4294967296", "0 to 4294967295"},
        {"UINT64", "0", "18446744073709551615", "-1", "36893488147419103232",
         "0 to 18446744073709551615"},
        {"INT8", "-128", "127", "-129", "128", "-128 to 127"},
        {"INT16", "-32768", "32767", "-32769", "32768", "-32768 to 32767"},
        {"INT32", "-2147483648", "2147483647", "-2147483649", "2147483648",
         "-2147483648 to 2147483647"},
        {"INT64", "-9223372036854775808", "9223372036854775807", "-18446744073709551616",
         "18446744073709551616", "-9223372036854775808 to 9223372036854775807"},
    };
    for (size_t i = 0; i < sizeof(r) / sizeof(r[0]); i++) {
        char data[200], want[200];
        snprintf(data, sizeof(data), "[%s, %s, 1, 2]", r[i].lo, r[i].hi);
        CHECK_EQ_INT(v2_json(r[i].dtype, shape_1x4, 2, data), 0);
        CHECK(batch.rows[0] == (float)strtod(r[i].lo, NULL));
        CHECK(batch.rows[1] == (float)strtod(r[i].hi, NULL));
        snprintf(data, sizeof(data), "[1, 2, %s, 3]", r[i].below);
        snprintf(want, sizeof(want), "input 'input': data[2] (%s) is out of range for %s (%s)",
                 r[i].below, r[i].dtype, r[i].range);
        CHECK_ERR(v2_json(r[i].dtype, shape_1x4, 2, data), want);
        snprintf(data, sizeof(data), "[[1, 2], [3, %s]]", r[i].above);
        snprintf(want, sizeof(want), "input 'input': data[3] (%s) is out of range for %s (%s)",
                 r[i].above, r[i].dtype, r[i].range);
        CHECK_ERR(v2_json(r[i].dtype, shape_1x4, 2, data), want);
        snprintf(data, sizeof(data), "[1, 2, 3, 1.5]");
        snprintf(want, sizeof(want), "input 'input': data[3] (1.5) is not a valid %s", r[i].dtype);
        CHECK_ERR(v2_json(r[i].dtype, shape_1x4, 2, data), want);
    }
    CHECK_ERR(v2_json("UINT8", shape_2x4, 2, "[[0, 1, 2, 3], [4, 300, 5, 6]]"),
              "input 'input': data[5] (300) is out of range for UINT8 (0 to 255)");
    CHECK_ERR(v2_json("INT8", shape_1x4, 2, "[-129, 0, 0, 0]"),
              "input 'input': data[0] (-129) is out of range for INT8 (-128 to 127)");
    CHECK_ERR(v2_json("INT16", shape_1x4, 2, "[0, 0, 0, 1.5]"),
              "input 'input': data[3] (1.5) is not a valid INT16");
    CHECK_ERR(v2_json("UINT8", shape_1x4, 2, "[0, 0, 0, Infinity]"),
              "input 'input': data[3] (inf) is not a valid UINT8");
    /* -0 is 0. */
    CHECK_EQ_INT(v2_json("UINT8", shape_1x4, 2, "[-0, 0, 0, 0]"), 0);
}

TEST(v2_json_float_ranges)
{
    CHECK_EQ_INT(v2_json("FP32", shape_1x4, 2, "[3.4e38, -3.4e38, 1e-46, 0]"), 0);
    CHECK_ERR(v2_json("FP32", shape_1x4, 2, "[0, 1e39, 0, 0]"),
              "input 'input': data[1] (1e+39) is out of range for FP32 (-3.40282347e+38 to "
              "3.40282347e+38)");
    CHECK_ERR(v2_json("FP32", shape_1x4, 2, "[0, 0, -3.5e38, 0]"),
              "input 'input': data[2] (-3.5e+38) is out of range for FP32 (-3.40282347e+38 to "
              "3.40282347e+38)");
    /* A valid FP64; the FP32 model sees it as infinity, as a cast gives. */
    CHECK_EQ_INT(v2_json("FP64", shape_1x4, 2, "[0, 1e39, 0, 0]"), 0);
    CHECK(isinf(batch.rows[1]));
}

TEST(v2_shape_errors)
{
    static const int64_t s23[] = {2, 3}, s0x4[] = {0, 4}, s3[] = {3}, sneg[] = {-1, 4};
    static const int64_t s124[] = {1, 2, 4};
    CHECK_ERR(v2_json("FP32", s23, 2, "[1, 2, 3, 4, 5, 6]"),
              "input 'input': shape [2, 3] does not match the model's [-1, 4]");
    CHECK_ERR(v2_json("FP32", s0x4, 2, "[]"), "input 'input': shape has no rows");
    CHECK_ERR(v2_json("FP32", s3, 1, "[1, 2, 3]"),
              "input 'input': shape [3] does not match the model's [-1, 4]");
    CHECK_ERR(v2_json("FP32", sneg, 2, "[1, 2, 3, 4]"),
              "input 'input': shape [-1, 4] does not match the model's [-1, 4]");
    CHECK_ERR(v2_json("FP32", s124, 3, "[1, 2, 3, 4, 5, 6, 7, 8]"),
              "input 'input': shape [1, 2, 4] does not match the model's [-1, 4]");
    static const int64_t big[] = {20000000, 4};
    CHECK_ERR(v2_json("FP32", big, 2, "[1]"), "input 'input': more than 16777216 rows");
    static const int64_t eight[] = {1, 1, 1, 1, 1, 1, 1, 4};
    CHECK_ERR(v2_json("FP32", eight, 8, "[1, 2, 3, 4]"),
              "input 'input': shape [1, 1, 1, 1, 1, 1, 1, 4] does not match the model's [-1, 4]");
}

TEST(v2_single_feature_shapes)
{
    static const int64_t s3[] = {3}, s3x1[] = {3, 1};
    static const float want[] = {1, 2, 3};
    float data[] = {1, 2, 3};
    CHECK_EQ_INT(v2_raw(&sig1, "FP32", s3, 1, data, sizeof(data)), 0);
    check_rows(want, 3, 1);
    CHECK_EQ_INT(v2_raw(&sig1, "FP32", s3x1, 2, data, sizeof(data)), 0);
    check_rows(want, 3, 1);
}

/* ------------------------------------------------------------------------ */
/* Open Inference Protocol: binary data                                     */

TEST(v2_raw_fp32_fp64_int64)
{
    static const float want[] = {1.5f, -2, 0, 1e10f, 3, 4, 5, -6};
    CHECK_EQ_INT(v2_raw(&sig4, "FP32", shape_2x4, 2, want, sizeof(want)), 0);
    check_rows(want, 2, 4);
    double d[8];
    int64_t i64[8];
    for (int i = 0; i < 8; i++) {
        d[i] = want[i];
        i64[i] = (int64_t)want[i];
    }
    CHECK_EQ_INT(v2_raw(&sig4, "FP64", shape_2x4, 2, d, sizeof(d)), 0);
    check_rows(want, 2, 4);
    CHECK_EQ_INT(v2_raw(&sig4, "INT64", shape_2x4, 2, i64, sizeof(i64)), 0);
    static const float want_i[] = {1, -2, 0, 1e10f, 3, 4, 5, -6};
    check_rows(want_i, 2, 4);
    /* Unaligned data is fine. */
    unsigned char unaligned[1 + sizeof(d)];
    memcpy(unaligned + 1, d, sizeof(d));
    CHECK_EQ_INT(v2_raw(&sig4, "FP64", shape_2x4, 2, unaligned + 1, sizeof(d)), 0);
    check_rows(want, 2, 4);
}

TEST(v2_raw_small_ints)
{
    static const uint8_t u8[] = {0, 1, 200, 255};
    static const int8_t i8[] = {-128, -1, 0, 127};
    static const uint16_t u16[] = {0, 1, 65535, 300};
    static const int16_t i16[] = {-32768, -1, 0, 32767};
    static const uint32_t u32[] = {0, 1, 4294967295u, 16777216};
    static const int32_t i32[] = {INT32_MIN, -1, 0, INT32_MAX};
    static const uint64_t u64[] = {0, 1, UINT64_MAX, 1ULL << 40};
    CHECK_EQ_INT(v2_raw(&sig4, "UINT8", shape_1x4, 2, u8, sizeof(u8)), 0);
    check_rows((const float[]){0, 1, 200, 255}, 1, 4);
    CHECK_EQ_INT(v2_raw(&sig4, "INT8", shape_1x4, 2, i8, sizeof(i8)), 0);
    check_rows((const float[]){-128, -1, 0, 127}, 1, 4);
    CHECK_EQ_INT(v2_raw(&sig4, "UINT16", shape_1x4, 2, u16, sizeof(u16)), 0);
    check_rows((const float[]){0, 1, 65535, 300}, 1, 4);
    CHECK_EQ_INT(v2_raw(&sig4, "INT16", shape_1x4, 2, i16, sizeof(i16)), 0);
    check_rows((const float[]){-32768, -1, 0, 32767}, 1, 4);
    CHECK_EQ_INT(v2_raw(&sig4, "UINT32", shape_1x4, 2, u32, sizeof(u32)), 0);
    check_rows((const float[]){0, 1, 4294967296.0f, 16777216}, 1, 4);
    CHECK_EQ_INT(v2_raw(&sig4, "INT32", shape_1x4, 2, i32, sizeof(i32)), 0);
    check_rows((const float[]){-2147483648.0f, -1, 0, 2147483648.0f}, 1, 4);
    CHECK_EQ_INT(v2_raw(&sig4, "UINT64", shape_1x4, 2, u64, sizeof(u64)), 0);
    check_rows((const float[]){0, 1, 18446744073709551616.0f, 1099511627776.0f}, 1, 4);
}

TEST(v2_raw_fp16)
{
    static const uint16_t h[] = {
        0x3c00, /* 1 */
        0xc000, /* -2 */
        0x7bff, /* 65504, the largest half */
        0x0001, /* 2^-24, the smallest subnormal */
        0x3555, /* 0.333251953125 */
        0x8000, /* -0 */
        0x7c00, /* +inf */
        0xfc00, /* -inf */
        0x0400, /* 2^-14, the smallest normal */
        0x03ff, /* the largest subnormal */
        0x7e00, /* NaN */
        0x4248, /* 3.140625 */
    };
    static const int64_t shape[] = {3, 4};
    CHECK_EQ_INT(v2_raw(&sig4, "FP16", shape, 2, h, sizeof(h)), 0);
    CHECK_EQ_INT(batch.nrows, 3);
    const float *r = batch.rows;
    CHECK(r[0] == 1.0f);
    CHECK(r[1] == -2.0f);
    CHECK(r[2] == 65504.0f);
    CHECK(r[3] == ldexpf(1, -24));
    CHECK(r[4] == 0.333251953125f);
    CHECK(r[5] == 0 && signbit(r[5]));
    CHECK(isinf(r[6]) && r[6] > 0);
    CHECK(isinf(r[7]) && r[7] < 0);
    CHECK(r[8] == ldexpf(1, -14));
    CHECK(r[9] == ldexpf(1023, -24));
    CHECK(isnan(r[10]));
    CHECK(r[11] == 3.140625f);
}

TEST(v2_raw_bool)
{
    static const uint8_t b[] = {1, 0, 2, 255, 0, 0, 0, 1};
    CHECK_EQ_INT(v2_raw(&sig4, "BOOL", shape_2x4, 2, b, sizeof(b)), 0);
    check_rows((const float[]){1, 0, 1, 1, 0, 0, 0, 1}, 2, 4);
}

TEST(v2_raw_length_errors)
{
    float f[8] = {0};
    CHECK_ERR(v2_raw(&sig4, "FP32", shape_2x4, 2, f, 31),
              "input 'input': binary data has 31 bytes, shape and FP32 need 32");
    CHECK_ERR(v2_raw(&sig4, "FP32", shape_1x4, 2, f, 32),
              "input 'input': binary data has 32 bytes, shape and FP32 need 16");
    CHECK_ERR(v2_raw(&sig4, "FP64", shape_2x4, 2, f, 32),
              "input 'input': binary data has 32 bytes, shape and FP64 need 64");
    CHECK_ERR(v2_raw(&sig4, "FP16", shape_2x4, 2, f, 0),
              "input 'input': binary data has 0 bytes, shape and FP16 need 16");
    CHECK_ERR(v2_raw(&sig4, "BYTES", shape_2x4, 2, f, 32),
              "input 'input': datatype BYTES is not supported; use FP32, FP64, an integer type "
              "or BOOL");
}

TEST(release_arena)
{
    arena_release(&arena);
}

/* ------------------------------------------------------------------------ */
/* Tensor models                                                            */

static char nx[] = "x", nids[] = "ids", nm[] = "m";
/* x FP32 [-1, 2], ids INT64 [-1], m BOOL [-1, 2, 2] */
static struct serve_tensor_info tinfo[] = {
    {nx, V2_FP32, 2, {-1, 2}},
    {nids, V2_INT64, 1, {-1}},
    {nm, V2_BOOL, 3, {-1, 2, 2}},
};
static const struct serve_signature tsig3 = {.inputs = tinfo, .ninputs = 3};
static const struct serve_signature tsig1 = {.inputs = tinfo, .ninputs = 1};
static struct serve_tensor tout[3];

static int t_instances(const struct serve_signature *sig, const char *text)
{
    reset();
    memset(tout, 0, sizeof(tout));
    return tensor_inputs_from_instances(&arena, sig, js(text), tout, &err);
}

static int t_columns(const struct serve_signature *sig, const char *text)
{
    reset();
    memset(tout, 0, sizeof(tout));
    return tensor_inputs_from_columns(&arena, sig, js(text), tout, &err);
}

static char *written(const struct serve_tensor *t, size_t row, bool flat)
{
    static char out[512];
    struct buf b;
    buf_init(&b, 1 << 16);
    if (flat)
        tensor_write_flat(&b, t);
    else
        tensor_write_json(&b, t, row);
    snprintf(out, sizeof(out), "%s", b.ptr);
    buf_release(&b);
    return out;
}

TEST(tensor_instances_named)
{
    CHECK_EQ_INT(t_instances(&tsig3,
                             "[{\"x\": [1, 2.5], \"ids\": 7, \"m\": [[true, false], [false, "
                             "true]]}, {\"ids\": -9007199254740992, \"x\": [3, 4], \"m\": "
                             "[[false, false], [true, true]]}]"),
                 0);
    CHECK_EQ_INT(tout[0].rank, 2);
    CHECK_EQ_INT(tout[0].shape[0], 2);
    CHECK_EQ_INT(tout[0].shape[1], 2);
    CHECK_EQ_INT(tout[0].nbytes, 16);
    CHECK_STR_EQ(written(&tout[0], SIZE_MAX, false), "[[1, 2.5], [3, 4]]");
    CHECK_STR_EQ(written(&tout[0], 1, false), "[3, 4]");
    CHECK_STR_EQ(written(&tout[1], SIZE_MAX, false), "[7, -9007199254740992]");
    CHECK_EQ_INT(tout[2].nbytes, 8);
    CHECK_STR_EQ(written(&tout[2], SIZE_MAX, true),
                 "[true, false, false, true, false, false, true, "
                 "true]");
    CHECK_STR_EQ(written(&tout[2], 0, false), "[[true, false], [false, true]]");
}

TEST(tensor_instances_one_input)
{
    CHECK_EQ_INT(t_instances(&tsig1, "[[1, 2], [3, 4], [5, 6]]"), 0);
    CHECK_EQ_INT(tout[0].shape[0], 3);
    CHECK_STR_EQ(written(&tout[0], SIZE_MAX, true), "[1, 2, 3, 4, 5, 6]");
    CHECK_EQ_INT(t_instances(&tsig1, "[{\"x\": [1, 2]}]"), 0);
    CHECK_EQ_INT(tout[0].shape[0], 1);
}

TEST(tensor_instances_errors)
{
    CHECK_ERR(t_instances(&tsig1, "[[1, 2, 3]]"),
              "input 'x': shape [1, 3] does not match the model's [-1, 2]");
    CHECK_ERR(t_instances(&tsig1, "[[1, 2], [3]]"),
              "input 'x': instances[1]: value 2: expected a list of 2, got a list of 1; every "
              "list at one depth must have the same length");
    CHECK_ERR(t_instances(&tsig1, "[[1, \"a\"]]"),
              "input 'x': instances[0]: value 1 is a string, expected a number for FP32");
    CHECK_ERR(t_instances(&tsig1, "[[1, 1e39]]"),
              "input 'x': instances[0]: value 1 (1e+39) is out of range for FP32 (-3.40282347e+38 "
              "to 3.40282347e+38)");
    CHECK_ERR(t_instances(&tsig3, "[{\"x\": [1, 2], \"ids\": 1.5, \"m\": [[true, true], [true, "
                                  "true]]}]"),
              "input 'ids': instances[0]: value 0 (1.5) is not a valid INT64");
    CHECK_ERR(t_instances(&tsig3, "[{\"x\": [1, 2], \"ids\": 1, \"m\": [[1, 0], [0, 1]]}]"),
              "input 'm': instances[0]: value 0 is a number, expected true or false for BOOL");
    CHECK_ERR(t_instances(&tsig3, "[{\"x\": [1, 2], \"ids\": 1}]"),
              "instances[0]: input 'm' is missing");
    CHECK_ERR(t_instances(&tsig3, "[{\"x\": [1, 2], \"ids\": 1, \"m\": 1, \"q\": 2}]"),
              "instances[0]: unknown input 'q' (the model's inputs are 'x', ...)");
    CHECK_ERR(t_instances(&tsig3, "[[1, 2]]"),
              "instances[0]: expected an object of the model's inputs by name ('x', ...), got a "
              "list");
    CHECK_ERR(t_instances(&tsig1, "[[[1, 2]]]"),
              "input 'x': instances[0]: nested deeper than the input's 1 dimensions");
    CHECK_ERR(t_instances(&tsig1, "[]"), "'instances' is empty");
}

TEST(tensor_columns)
{
    CHECK_EQ_INT(t_columns(&tsig1, "[[1, 2], [3, 4]]"), 0);
    CHECK_EQ_INT(tout[0].shape[0], 2);
    CHECK_EQ_INT(t_columns(&tsig3, "{\"m\": [[[true, true], [true, true]]], \"x\": [[1, 2], [3, "
                                   "4]], \"ids\": [1, 2, 3]}"),
                 0);
    CHECK_EQ_INT(tout[0].shape[0], 2); /* columns may differ in their first size */
    CHECK_EQ_INT(tout[1].shape[0], 3);
    CHECK_EQ_INT(tout[2].shape[0], 1);
    CHECK_ERR(t_columns(&tsig3, "[[1, 2]]"),
              "'inputs' must be an object of the model's 3 inputs by name ('x', ...), got a list");
    CHECK_ERR(t_columns(&tsig1, "[1, 2]"), "input 'x': inputs: expected 2 nested lists, got a "
                                           "number at depth 1");
    CHECK_ERR(t_columns(&tsig1, "[]"),
              "input 'x': shape [0, 0] does not match the model's [-1, 2]");
}

static int t_v2(const struct serve_tensor_info *info, const char *shape_json, enum v2_dtype t,
                const char *data, const void *raw, size_t raw_len)
{
    reset();
    struct v2_input in = {.name = info->name, .dtype = t};
    const struct json *s = js(shape_json);
    in.rank = s->len;
    for (size_t i = 0; i < s->len; i++)
        in.shape[i] = (int64_t)s->u.items[i].u.num;
    if (data)
        in.json_data = js(data);
    in.raw = raw;
    in.raw_len = raw_len;
    return tensor_input_from_v2(&arena, info, &in, &tout[0], &err);
}

TEST(tensor_v2)
{
    CHECK_EQ_INT(t_v2(&tinfo[0], "[2, 2]", V2_FP32, "[[1, 2], [3, 4]]", NULL, 0), 0);
    CHECK_STR_EQ(written(&tout[0], SIZE_MAX, false), "[[1, 2], [3, 4]]");
    CHECK_EQ_INT(t_v2(&tinfo[0], "[2, 2]", V2_FP32, "[1, 2, 3, 4]", NULL, 0), 0);
    int64_t ids[] = {INT64_MIN, INT64_MAX, 0};
    CHECK_EQ_INT(t_v2(&tinfo[1], "[3]", V2_INT64, NULL, ids, sizeof(ids)), 0);
    CHECK_STR_EQ(written(&tout[0], SIZE_MAX, true),
                 "[-9223372036854775808, 9223372036854775807, 0]");
    unsigned char bools[] = {0, 1, 2, 255};
    CHECK_EQ_INT(t_v2(&tinfo[2], "[1, 2, 2]", V2_BOOL, NULL, bools, sizeof(bools)), 0);
    CHECK_STR_EQ(written(&tout[0], SIZE_MAX, true), "[false, true, true, true]");
    CHECK_ERR(t_v2(&tinfo[0], "[2, 2]", V2_FP64, "[1, 2, 3, 4]", NULL, 0),
              "input 'x': datatype FP64 does not match the model's FP32");
    CHECK_ERR(t_v2(&tinfo[0], "[2, 3]", V2_FP32, "[1, 2, 3, 4, 5, 6]", NULL, 0),
              "input 'x': shape [2, 3] does not match the model's [-1, 2]");
    CHECK_ERR(t_v2(&tinfo[0], "[2]", V2_FP32, "[1, 2]", NULL, 0),
              "input 'x': shape [2] does not match the model's [-1, 2]");
    CHECK_ERR(t_v2(&tinfo[0], "[2, 2]", V2_FP32, "[1, 2, 3]", NULL, 0),
              "input 'x': data has 3 elements, shape needs 4");
    CHECK_ERR(t_v2(&tinfo[0], "[1, 2]", V2_FP32, "[1, 2, 3]", NULL, 0),
              "input 'x': data has more than 2 elements, shape needs 2");
    CHECK_ERR(t_v2(&tinfo[1], "[3]", V2_INT64, NULL, ids, 16),
              "input 'ids': binary data has 16 bytes, shape and INT64 need 24");
    CHECK_ERR(t_v2(&tinfo[1], "[2]", V2_INT64, "[1, true]", NULL, 0),
              "input 'ids': data: value 1 is a boolean, expected a number for INT64");
}

TEST(tensor_write_floats)
{
    double d[] = {0.1, 1e300, -2.5};
    struct serve_tensor t = {.dtype = V2_FP64, .rank = 1, .shape = {3}, .data = d, .nbytes = 24};
    CHECK_STR_EQ(written(&t, SIZE_MAX, false),
                 "[0.10000000000000001, 1.0000000000000001e+300, -2.5]");
    float f[] = {0.1f, NAN, -INFINITY, 3};
    t = (struct serve_tensor){
        .dtype = V2_FP32, .rank = 2, .shape = {2, 2}, .data = f, .nbytes = 16};
    CHECK_STR_EQ(written(&t, SIZE_MAX, false), "[[0.1, NaN], [-Infinity, 3]]");
    int32_t i[] = {-2147483647 - 1};
    t = (struct serve_tensor){.dtype = V2_INT32, .rank = 0, .data = i, .nbytes = 4};
    CHECK_STR_EQ(written(&t, SIZE_MAX, false), "-2147483648");
}

static int info_parse(const char *text, struct serve_tensor_info **t, size_t *n)
{
    reset();
    return tensor_info_parse(js(text), "b.json", t, n, &err);
}

TEST(tensor_berth_json)
{
    struct serve_tensor_info *t = NULL;
    size_t n = 0;
    CHECK_EQ_INT(info_parse("[{\"name\": \"a\", \"datatype\": \"INT32\", \"shape\": [-1, 3]}, "
                            "{\"name\": \"b\", \"datatype\": \"BOOL\", \"shape\": []}]",
                            &t, &n),
                 0);
    CHECK_EQ_INT(n, 2);
    CHECK_STR_EQ(t[0].name, "a");
    CHECK_EQ_INT(t[0].dtype, V2_INT32);
    CHECK_EQ_INT(t[0].rank, 2);
    CHECK_EQ_INT(t[0].shape[0], -1);
    CHECK_EQ_INT(t[1].rank, 0);
    tensor_info_free(t, n);
    CHECK_ERR(info_parse("[{\"name\": \"a\", \"datatype\": \"FP33\", \"shape\": [1]}]", &t, &n),
              "b.json: inputs[0]: 'datatype' must be one of FP32, FP64, FP16, INT64, INT32, INT16, "
              "INT8, UINT8, BOOL");
    CHECK_ERR(info_parse("[{\"name\": \"a\", \"datatype\": \"UINT32\", \"shape\": [1]}]", &t, &n),
              "b.json: inputs[0]: datatype UINT32 has no libtorch type");
    CHECK_ERR(info_parse("[{\"name\": \"a\", \"datatype\": \"FP32\", \"shape\": [-2]}]", &t, &n),
              "b.json: inputs[0]: shape[0] must be a size, or -1 for any");
    CHECK_ERR(info_parse("[{\"name\": \"a\", \"datatype\": \"FP32\", \"shape\": [1], \"dims\": 2}]",
                         &t, &n),
              "b.json: inputs[0]: unknown field 'dims'");
    CHECK_ERR(info_parse("[{\"name\": \"a\", \"datatype\": \"FP32\", \"shape\": [1]}, "
                         "{\"name\": \"a\", \"datatype\": \"FP32\", \"shape\": [1]}]",
                         &t, &n),
              "b.json: inputs[1]: input 'a' is named twice");
    CHECK_ERR(info_parse("[]", &t, &n), "b.json: 'inputs' must be a list of 1 to 64 tensors");
    char **names = NULL;
    reset();
    CHECK_EQ_INT(tensor_names_parse(js("[\"y\", \"z\"]"), "b.json", &names, &n, &err), 0);
    CHECK_EQ_INT(n, 2);
    CHECK_STR_EQ(names[1], "z");
    free(names[0]);
    free(names[1]);
    free(names);
    CHECK_ERR(tensor_names_parse(js("[\"y\", \"y\"]"), "b.json", &names, &n, &err),
              "b.json: output 'y' is named twice");
    struct serve_tensor *ex = NULL;
    reset();
    CHECK_EQ_INT(
        tensor_example_parse(&arena,
                             js("[{\"datatype\": \"INT64\", \"shape\": [2], \"data\": [5, "
                                "6]}, {\"name\": \"q\", \"datatype\": \"FP32\", \"shape\": "
                                "[1, 3]}]"),
                             "b.json", &ex, &n, &err),
        0);
    CHECK_EQ_INT(n, 2);
    CHECK(ex[0].name == NULL);
    CHECK_EQ_INT(((int64_t *)ex[0].data)[1], 6);
    CHECK(ex[1].data == NULL);
    CHECK_STR_EQ(ex[1].name, "q");
    CHECK_ERR(tensor_example_parse(
                  &arena, js("[{\"datatype\": \"INT64\", \"shape\": [-1], \"data\": [5]}]"),
                  "b.json", &ex, &n, &err),
              "b.json: example[0]: shape[0] must be a size");
    CHECK_ERR(tensor_example_parse(&arena,
                                   js("[{\"datatype\": \"INT64\", \"shape\": [2], \"data\": [5]}]"),
                                   "b.json", &ex, &n, &err),
              "b.json: example[0]: input 'example': data has 1 elements, shape needs 2");
}
