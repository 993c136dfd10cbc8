/* fuzz_xgbtree.c - the native tree evaluator (serve/backends/xgbtree.c).
 * Input: a model document, as XGBoost's JSON. Compiling must answer 0,
 * ERR_INVALID or ERR_UNSUPPORTED with a message. A model it accepts is then
 * walked here again, the plain way, straight from the document (every index
 * checked): its margins for a few rows of awkward values (missing, zero,
 * infinities, the conditions themselves) must be bit-identical to
 * xgbt_predict()'s, whole and row by row, with the vector walks and without. */
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/arena.h"
#include "base/json.h"
#include "serve/backends/xgbtree.h"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_FEATURES 512
#define ROWS 9

static const struct json *path(const struct json *o, const char *a, const char *b, const char *c)
{
    o = json_get(o, a);
    o = b ? json_get(o, b) : o;
    return c ? json_get(o, c) : o;
}

static double item(const struct json *a, size_t i)
{
    FUZZ_CHECK(a && a->type == JSON_ARRAY && i < a->len);
    const struct json *v = &a->u.items[i];
    FUZZ_CHECK(v->type == JSON_NUMBER || v->type == JSON_TRUE || v->type == JSON_FALSE);
    return v->type == JSON_NUMBER ? v->u.num : v->type == JSON_TRUE;
}

/* The base margin as the library's ProbToMargin computes it. */
static float base_margin(const struct json *learner)
{
    const struct json *bs = path(learner, "learner_model_param", "base_score", NULL);
    const struct json *name = path(learner, "objective", "name", NULL);
    FUZZ_CHECK(bs && bs->type == JSON_STRING && name && name->type == JSON_STRING);
    float b = strtof(bs->u.str, NULL);
    const char *o = name->u.str;
    if (!strcmp(o, "binary:logistic") || !strcmp(o, "reg:logistic"))
        return -logf(1.0f / b - 1.0f);
    if (!strcmp(o, "count:poisson") || !strcmp(o, "reg:gamma") || !strcmp(o, "reg:tweedie") ||
        !strcmp(o, "survival:cox") || !strcmp(o, "survival:aft"))
        return logf(b);
    return b;
}

/* The margins of 'row' into 'out' (groups floats), walking the document. */
static void walk(const struct json *learner, size_t ntrees, size_t groups, const float *row,
                 float *out)
{
    const struct json *model = path(learner, "gradient_booster", "model", NULL);
    const struct json *trees = json_get(model, "trees"), *info = json_get(model, "tree_info");
    float base = base_margin(learner);
    for (size_t g = 0; g < groups; g++)
        out[g] = base;
    for (size_t t = 0; t < ntrees; t++) {
        FUZZ_CHECK(trees && t < trees->len);
        const struct json *tr = &trees->u.items[t];
        const struct json *left = json_get(tr, "left_children");
        const struct json *cond = json_get(tr, "split_conditions");
        const struct json *feat = json_get(tr, "split_indices");
        const struct json *dleft = json_get(tr, "default_left");
        size_t node = 0, steps = 0;
        for (;;) {
            FUZZ_CHECK(steps++ <= left->len); /* no cycle */
            double l = item(left, node);
            float c = (float)item(cond, node);
            if (l == -1) {
                size_t g = (size_t)item(info, t);
                FUZZ_CHECK(g < groups);
                out[g] += c;
                break;
            }
            size_t f = (size_t)item(feat, node);
            float v = row[f];
            bool go_left = isnan(v) ? item(dleft, node) != 0 : v < c;
            node = (size_t)l + (go_left ? 0 : 1);
        }
    }
}

static bool same(const float *a, const float *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!(isnan(a[i]) && isnan(b[i])) && memcmp(&a[i], &b[i], sizeof(float)) != 0)
            return false;
    return true;
}

static void check_model(const struct xgbt_model *m, const uint8_t *data, size_t size,
                        size_t iteration_end, float *rows, size_t features)
{
    struct arena a;
    arena_init(&a, 1 << 16);
    struct json *root;
    FUZZ_CHECK(json_parse(&a, (const char *)data, size, &root, NULL) == 0);
    const struct json *learner = json_get(root, "learner");
    /* The last row holds the first tree's conditions at their features. */
    const struct json *t0 = path(learner, "gradient_booster", "model", "trees");
    if (t0 && t0->len) {
        const struct json *tr = &t0->u.items[0], *l = json_get(tr, "left_children");
        for (size_t i = 0; l && i < l->len; i++)
            if (item(l, i) != -1)
                rows[(ROWS - 1) * features + (size_t)item(json_get(tr, "split_indices"), i)] =
                    (float)item(json_get(tr, "split_conditions"), i);
    }
    size_t groups = xgbt_width(m, true);
    const struct json *npt_s = path(learner, "gradient_booster", "model", "gbtree_model_param");
    const struct json *npt = json_get(npt_s, "num_parallel_tree");
    size_t per = groups * (npt ? strtoul(npt->u.str, NULL, 10) : 1);
    const struct json *trees = path(learner, "gradient_booster", "model", "trees");
    size_t ntrees = iteration_end ? iteration_end * per : trees->len;
    float want[ROWS * 8], got[ROWS * 8], one[8];
    for (size_t r = 0; r < ROWS; r++)
        walk(learner, ntrees, groups, rows + r * features, want + r * groups);
    xgbt_predict(m, true, rows, ROWS, got);
    FUZZ_CHECK(same(want, got, ROWS * groups));
    for (size_t r = 0; r < ROWS; r++) {
        xgbt_predict(m, true, rows + r * features, 1, one);
        FUZZ_CHECK(same(want + r * groups, one, groups));
    }
    /* The type-0 output exists and has its width. */
    size_t w = xgbt_width(m, false);
    FUZZ_CHECK(w == groups || w == 1);
    xgbt_predict(m, false, rows, ROWS, got);
    arena_release(&a);
}

static void run(const uint8_t *data, size_t size, size_t iteration_end, const char *simd)
{
    setenv("BERTH_XGBT_NO_SIMD", simd, 1);
    struct xgbt_model *m = NULL;
    struct err err;
    memset(&err, 0, sizeof(err));
    int rc = xgbt_compile((const char *)data, size, iteration_end, &m, &err);
    FUZZ_CHECK(rc == 0 || rc == ERR_INVALID || rc == ERR_UNSUPPORTED);
    FUZZ_CHECK(rc == 0 ? m != NULL : m == NULL && err.code == rc && err.msg[0] != '\0');
    if (rc != 0)
        return;
    size_t features = xgbt_num_features(m);
    /* Wide models and many outputs compile; only small ones are walked here. */
    if (features <= MAX_FEATURES && xgbt_width(m, true) <= 8) {
        static float rows[ROWS * MAX_FEATURES];
        static const float values[] = {NAN, 0.0f, -0.0f, INFINITY, -INFINITY, 0.5f, -1.0f, 1e30f};
        for (size_t i = 0; i < ROWS * features; i++)
            rows[i] = values[(i * 7 + i / 3) % 8];
        check_model(m, data, size, iteration_end, rows, features);
    }
    char line[400];
    xgbt_describe(m, line, sizeof(line));
    FUZZ_CHECK(line[0] != '\0');
    xgbt_free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    run(data, size, 0, "0");
    run(data, size, 0, "1");
    run(data, size, 1, "0");
    return 0;
}
