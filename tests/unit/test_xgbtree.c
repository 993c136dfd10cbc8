/* test_xgbtree.c - the native tree evaluator against the XGBoost library.
 * Models are trained here with the library's C API on small random data
 * (missing values, quantised so that rows fall on split conditions), saved
 * as the library's JSON and compiled; both then predict the same random
 * rows. Margins must be bit-identical, type-0 outputs too (see xgbtree.c).
 * A seeded property test covers depths 1-12, 1-500 trees, 1-200 features,
 * every objective, num_parallel_tree, multi-class, multi-output and
 * iteration_end; then come the refusals (dart, gblinear, categorical splits,
 * malformed trees), each with its code and the field in the message. */
#include "harness.h"

#include <pthread.h>
#include <stdint.h>
#include <xgboost/c_api.h>

#include "base/alloc.h"
#include "base/buf.h"
#include "serve/backends/xgbtree.h"

/* ------------------------------------------------------------------------ */
/* Random numbers and models                                                */

static uint64_t rng_state;

static uint64_t rnd(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double unif(void)
{
    return (double)(rnd() >> 11) / 9007199254740992.0;
}

static int rint_in(int lo, int hi) /* [lo, hi] */
{
    return lo + (int)(rnd() % (uint64_t)(hi - lo + 1));
}

struct spec {
    const char *objective;
    const char *tree_method; /* hist, approx, exact */
    const char *booster;     /* NULL: gbtree */
    int depth, rounds, features, rows;
    int parallel, classes, targets;
    const char *base_score; /* NULL: the library's */
    double missing;         /* fraction of values missing */
};

static char spec_line[300];
static const char *kernel = "default"; /* the walk being compared */

static const char *describe(const struct spec *s)
{
    snprintf(spec_line, sizeof(spec_line),
             "%s %s depth %d rounds %d features %d rows %d parallel %d classes %d targets %d "
             "base %s kernel %s",
             s->objective, s->tree_method, s->depth, s->rounds, s->features, s->rows, s->parallel,
             s->classes, s->targets, s->base_score ? s->base_score : "-", kernel);
    return spec_line;
}

/* Values on a grid of 1/8 (so rows meet split conditions exactly), some
 * continuous, 'missing' of them NaN. */
static float *random_rows(int rows, int features, double missing)
{
    float *x = xmalloc(sizeof(float) * (size_t)rows * (size_t)features);
    for (size_t i = 0; i < (size_t)rows * (size_t)features; i++) {
        double u = unif();
        if (unif() < missing)
            x[i] = NAN;
        else if (i % 3 == 0)
            x[i] = (float)(u * 4 - 1);
        else
            x[i] = (float)(floor(u * 32) / 8 - 1);
    }
    return x;
}

#define XGB_OK(call)                                                                               \
    do {                                                                                           \
        if ((call) != 0) {                                                                         \
            harness_fail(__FILE__, __LINE__, "%s: %s", #call, XGBGetLastError());                  \
            goto fail;                                                                             \
        }                                                                                          \
    } while (0)

static void set_labels(DMatrixHandle dm, const struct spec *s, const float *x, bool *ok)
{
    size_t n = (size_t)s->rows, T = s->targets > 1 ? (size_t)s->targets : 1;
    float *y = xmalloc(sizeof(float) * n * T);
    const char *o = s->objective;
    for (size_t i = 0; i < n * T; i++) {
        float f = x[(i / T) * (size_t)s->features];
        double signal = isnan(f) ? 0.3 : f;
        double u = unif();
        if (!strncmp(o, "binary:", 7))
            y[i] = (float)(signal + u > 0.8);
        else if (!strcmp(o, "reg:logistic"))
            y[i] = (float)(0.5 * u + 0.25 * (signal > 0));
        else if (!strncmp(o, "multi:", 6))
            y[i] = (float)((int)((signal + 1) * 2 + u * 2) % s->classes);
        else if (!strcmp(o, "count:poisson") || !strcmp(o, "reg:tweedie"))
            y[i] = (float)floor(3 * u * (signal + 1.5));
        else if (!strcmp(o, "reg:gamma") || !strcmp(o, "survival:aft"))
            y[i] = (float)(0.1 + u * (signal + 1.5));
        else if (!strcmp(o, "survival:cox"))
            y[i] = (float)((u < 0.3 ? -1 : 1) * (0.1 + u + (signal + 1)));
        else if (!strcmp(o, "reg:squaredlogerror"))
            y[i] = (float)(u * 2 + (signal + 1));
        else
            y[i] = (float)(signal * 3 + u);
    }
    *ok = false;
    if (T > 1) {
        char iface[256];
        snprintf(iface, sizeof(iface),
                 "{\"data\":[%llu,true],\"shape\":[%zu,%zu],\"typestr\":\"<f4\",\"version\":3}",
                 (unsigned long long)(uintptr_t)y, n, T);
        XGB_OK(XGDMatrixSetInfoFromInterface(dm, "label", iface));
    } else if (!strcmp(o, "survival:aft")) {
        float *hi = xmalloc(sizeof(float) * n);
        for (size_t i = 0; i < n; i++)
            hi[i] = i % 4 == 0 ? INFINITY : y[i] * 1.5f;
        int rc1 = XGDMatrixSetFloatInfo(dm, "label_lower_bound", y, n);
        int rc2 = XGDMatrixSetFloatInfo(dm, "label_upper_bound", hi, n);
        free(hi);
        XGB_OK(rc1 | rc2);
    } else {
        XGB_OK(XGDMatrixSetFloatInfo(dm, "label", y, n));
    }
    if (!strncmp(o, "rank:", 5)) {
        unsigned groups[64];
        size_t ng = 0, left = n;
        while (left && ng < 63) {
            unsigned g = (unsigned)rint_in(1, 20);
            if (g > left)
                g = (unsigned)left;
            groups[ng++] = g;
            left -= g;
        }
        if (left)
            groups[ng++] = (unsigned)left;
        XGB_OK(XGDMatrixSetUIntInfo(dm, "group", groups, ng));
    }
    *ok = true;
fail:
    free(y);
}

/* Train 's' on random data: the booster, or NULL after a failed check. */
static BoosterHandle train(const struct spec *s)
{
    BoosterHandle b = NULL;
    DMatrixHandle dm = NULL;
    float *x = random_rows(s->rows, s->features, s->missing);
    XGB_OK(XGDMatrixCreateFromMat(x, (bst_ulong)s->rows, (bst_ulong)s->features, NAN, &dm));
    bool ok;
    set_labels(dm, s, x, &ok);
    if (!ok)
        goto fail;
    XGB_OK(XGBoosterCreate(&dm, 1, &b));
    char v[64];
    struct {
        const char *k, *v;
    } params[] = {
        {"booster", s->booster ? s->booster : "gbtree"},
        {"objective", s->objective},
        {"tree_method", s->tree_method},
        {"nthread", "1"},
        {"seed", "7"},
        {"min_child_weight", "0"},
        {"max_bin", "16"},
        {"verbosity", "0"},
    };
    for (size_t i = 0; i < sizeof(params) / sizeof(params[0]); i++)
        XGB_OK(XGBoosterSetParam(b, params[i].k, params[i].v));
    snprintf(v, sizeof(v), "%d", s->depth);
    XGB_OK(XGBoosterSetParam(b, "max_depth", v));
    snprintf(v, sizeof(v), "%.3f", 0.1 + 0.9 * unif());
    XGB_OK(XGBoosterSetParam(b, "eta", v));
    if (s->parallel > 1) {
        snprintf(v, sizeof(v), "%d", s->parallel);
        XGB_OK(XGBoosterSetParam(b, "num_parallel_tree", v));
        XGB_OK(XGBoosterSetParam(b, "subsample", "0.7"));
        XGB_OK(XGBoosterSetParam(b, "colsample_bynode", "0.7"));
    }
    if (s->classes) {
        snprintf(v, sizeof(v), "%d", s->classes);
        XGB_OK(XGBoosterSetParam(b, "num_class", v));
    }
    if (s->base_score)
        XGB_OK(XGBoosterSetParam(b, "base_score", s->base_score));
    if (!strcmp(s->objective, "reg:tweedie"))
        XGB_OK(XGBoosterSetParam(b, "tweedie_variance_power", "1.4"));
    if (!strcmp(s->objective, "survival:aft"))
        XGB_OK(XGBoosterSetParam(b, "aft_loss_distribution", "logistic"));
    for (int i = 0; i < s->rounds; i++)
        XGB_OK(XGBoosterUpdateOneIter(b, i, dm));
    XGDMatrixFree(dm);
    free(x);
    return b;
fail:
    if (b)
        XGBoosterFree(b);
    if (dm)
        XGDMatrixFree(dm);
    free(x);
    return NULL;
}

/* The library's JSON for 'b', in a buffer the caller frees. */
static char *save_json(BoosterHandle b, size_t *len)
{
    bst_ulong n;
    const char *p;
    if (XGBoosterSaveModelToBuffer(b, "{\"format\":\"json\"}", &n, &p) != 0)
        return NULL;
    char *copy = xmalloc(n + 1);
    memcpy(copy, p, n);
    copy[n] = '\0';
    *len = n;
    return copy;
}

/* The library's in-place prediction: 0 and *out, *width, or -1. */
static int lib_predict(BoosterHandle b, const float *x, size_t rows, size_t features, int type,
                       size_t iteration_end, const float **out, size_t *width)
{
    char iface[256], cfg[256];
    snprintf(iface, sizeof(iface),
             "{\"data\":[%llu,true],\"shape\":[%zu,%zu],\"typestr\":\"<f4\",\"version\":3}",
             (unsigned long long)(uintptr_t)x, rows, features);
    snprintf(cfg, sizeof(cfg),
             "{\"type\":%d,\"training\":false,\"iteration_begin\":0,\"iteration_end\":%zu,"
             "\"strict_shape\":false,\"missing\":NaN,\"nthread\":1,\"cache_id\":0}",
             type, iteration_end);
    const bst_ulong *shape;
    bst_ulong dim;
    if (XGBoosterPredictFromDense(b, iface, cfg, NULL, &shape, &dim, out) != 0)
        return -1;
    size_t total = 1;
    for (bst_ulong i = 0; i < dim; i++)
        total *= shape[i];
    *width = total / rows;
    return 0;
}

static bool same_float(float a, float b)
{
    return (isnan(a) && isnan(b)) || memcmp(&a, &b, sizeof(a)) == 0;
}

static const char *const predict_types[] = {"type 0", "margin"};

/* Compile 'b' with 'iteration_end' and compare both prediction types on
 * 'rows' random rows, whole and in odd pieces. */
static void compare_one(BoosterHandle b, const struct spec *s, size_t iteration_end, size_t rows)
{
    size_t len;
    char *json = save_json(b, &len);
    struct xgbt_model *m = NULL;
    float *x = random_rows((int)rows, s->features, s->missing > 0 ? s->missing : 0.1);
    float *mine = NULL, *piece = NULL;
    CHECK(json);
    struct err err = {0};
    int rc = xgbt_compile(json, len, iteration_end, &m, &err);
    if (rc != 0)
        harness_fail(__FILE__, __LINE__, "%s: %s", describe(s), err.msg);
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_INT(xgbt_num_features(m), s->features);
    for (int margin = 0; margin <= 1; margin++) {
        const float *lib;
        size_t width;
        if (lib_predict(b, x, rows, (size_t)s->features, margin, iteration_end, &lib, &width)) {
            harness_fail(__FILE__, __LINE__, "%s: library: %s", describe(s), XGBGetLastError());
            goto out;
        }
        if (width != xgbt_width(m, margin)) {
            harness_fail(__FILE__, __LINE__, "%s %s: width %zu, library %zu", describe(s),
                         predict_types[margin], xgbt_width(m, margin), width);
            goto out;
        }
        free(mine);
        free(piece);
        mine = xmalloc(sizeof(float) * rows * width);
        piece = xmalloc(sizeof(float) * rows * width);
        xgbt_predict(m, margin, x, rows, mine);
        for (size_t i = 0; i < rows * width; i++) {
            if (!same_float(mine[i], lib[i])) {
                harness_fail(__FILE__, __LINE__, "%s %s: row %zu value %zu: %.9g, library %.9g",
                             describe(s), predict_types[margin], i / width, i % width,
                             (double)mine[i], (double)lib[i]);
                goto out;
            }
        }
        /* Pieces of 1, 7, 9 and 70 rows give the same answers. */
        static const size_t sizes[] = {1, 7, 9, 70};
        size_t at = 0;
        for (size_t k = 0; at < rows; k = (k + 1) % 4) {
            size_t n = rows - at < sizes[k] ? rows - at : sizes[k];
            xgbt_predict(m, margin, x + at * (size_t)s->features, n, piece + at * width);
            at += n;
        }
        if (memcmp(piece, mine, sizeof(float) * rows * width) != 0) {
            harness_fail(__FILE__, __LINE__, "%s %s: pieces differ from one call", describe(s),
                         predict_types[margin]);
            goto out;
        }
    }
out:
    xgbt_free(m);
    free(json);
    free(x);
    free(mine);
    free(piece);
}

/* compare_one() with each walk this CPU has: AVX-512, AVX2, portable. */
static void compare(BoosterHandle b, const struct spec *s, size_t iteration_end, size_t rows)
{
    static const char *const modes[] = {"0", "2", "1"};
    static const char *const names[] = {"best", "no AVX-512", "portable"};
    uint64_t seed = rng_state;
    for (int k = 0; k < 3 && !harness_failed; k++) {
        setenv("BERTH_XGBT_NO_SIMD", modes[k], 1);
        kernel = names[k];
        rng_state = seed; /* the same rows each time */
        compare_one(b, s, iteration_end, rows);
    }
    unsetenv("BERTH_XGBT_NO_SIMD");
    kernel = "default";
}

static void train_and_compare(const struct spec *s, size_t iteration_end)
{
    BoosterHandle b = train(s);
    if (!b) {
        harness_fail(__FILE__, __LINE__, "training failed: %s", describe(s));
        return;
    }
    compare(b, s, iteration_end, 200);
    XGBoosterFree(b);
}

/* ------------------------------------------------------------------------ */
/* Each objective, then random models                                       */

static const char *const all_objectives[] = {
    "reg:squarederror",  "reg:squaredlogerror", "reg:logistic", "reg:pseudohubererror",
    "reg:absoluteerror", "reg:gamma",           "reg:tweedie",  "count:poisson",
    "binary:logistic",   "binary:logitraw",     "binary:hinge", "multi:softmax",
    "multi:softprob",    "rank:pairwise",       "rank:ndcg",    "rank:map",
    "survival:cox",      "survival:aft",
};
#define NOBJ (sizeof(all_objectives) / sizeof(all_objectives[0]))

static int classes_for(const char *objective)
{
    return !strncmp(objective, "multi:", 6) ? 3 : 0;
}

TEST(every_objective_matches_the_library)
{
    rng_state = 1;
    for (size_t i = 0; i < NOBJ; i++) {
        struct spec s = {.objective = all_objectives[i],
                         .tree_method = "hist",
                         .depth = 4,
                         .rounds = 12,
                         .features = 6,
                         .rows = 150,
                         .parallel = 1,
                         .classes = classes_for(all_objectives[i]),
                         .missing = 0.2};
        train_and_compare(&s, 0);
        if (harness_failed)
            return;
    }
}

/* ProbToMargin: a base_score of our own, through logit, log and identity. */
TEST(base_score_goes_through_the_objectives_link)
{
    rng_state = 2;
    static const struct {
        const char *objective, *base;
    } cases[] = {
        {"binary:logistic", "0.3"}, {"reg:logistic", "0.7"},   {"binary:logitraw", "0.123"},
        {"count:poisson", "2.5"},   {"reg:gamma", "0.37"},     {"reg:tweedie", "3.1"},
        {"survival:cox", "1.7"},    {"survival:aft", "0.9"},   {"reg:squarederror", "-4.25"},
        {"binary:hinge", "0.2"},    {"multi:softprob", "0.9"}, {"rank:ndcg", "0.1"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct spec s = {.objective = cases[i].objective,
                         .tree_method = "hist",
                         .depth = 3,
                         .rounds = 3,
                         .features = 4,
                         .rows = 80,
                         .parallel = 1,
                         .classes = classes_for(cases[i].objective),
                         .base_score = cases[i].base,
                         .missing = 0.1};
        train_and_compare(&s, 0);
        if (harness_failed)
            return;
    }
}

TEST(parallel_trees_classes_targets_and_iteration_end)
{
    rng_state = 3;
    struct spec specs[] = {
        {.objective = "multi:softprob",
         .tree_method = "hist",
         .depth = 5,
         .rounds = 10,
         .features = 12,
         .rows = 200,
         .parallel = 3,
         .classes = 4,
         .missing = 0.3},
        {.objective = "multi:softmax",
         .tree_method = "approx",
         .depth = 6,
         .rounds = 8,
         .features = 9,
         .rows = 200,
         .parallel = 1,
         .classes = 7,
         .missing = 0.2},
        {.objective = "reg:squarederror",
         .tree_method = "hist",
         .depth = 4,
         .rounds = 9,
         .features = 5,
         .rows = 150,
         .parallel = 2,
         .targets = 3,
         .missing = 0.2},
        {.objective = "binary:logistic",
         .tree_method = "exact",
         .depth = 7,
         .rounds = 20,
         .features = 10,
         .rows = 300,
         .parallel = 4,
         .missing = 0.25},
    };
    for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
        BoosterHandle b = train(&specs[i]);
        CHECK(b);
        size_t ends[] = {0, 1, 2, (size_t)specs[i].rounds - 1, (size_t)specs[i].rounds};
        for (size_t k = 0; k < sizeof(ends) / sizeof(ends[0]) && !harness_failed; k++)
            compare(b, &specs[i], ends[k], 100);
        /* Past the last iteration: the library refuses, so do we. */
        size_t len;
        char *json = save_json(b, &len);
        struct xgbt_model *m = NULL;
        struct err err = {0};
        int rc = xgbt_compile(json, len, (size_t)specs[i].rounds + 1, &m, &err);
        float row[16] = {0};
        const float *lib;
        size_t w;
        int lrc = lib_predict(b, row, 1, (size_t)specs[i].features, 1, (size_t)specs[i].rounds + 1,
                              &lib, &w);
        free(json);
        XGBoosterFree(b);
        if (harness_failed)
            return;
        CHECK_EQ_INT(rc, ERR_INVALID);
        CHECK(m == NULL);
        CHECK(strstr(err.msg, "iteration_end") != NULL);
        CHECK_EQ_INT(lrc, -1);
    }
}

/* The property test: seeded random models of every shape named above. */
TEST(random_models_match_the_library)
{
    rng_state = 20261202;
    static const char *const methods[] = {"hist", "approx", "exact"};
    for (int round = 0; round < 32; round++) {
        struct spec s = {0};
        s.objective = all_objectives[rnd() % NOBJ];
        s.tree_method = methods[rnd() % 3];
        s.depth = rint_in(1, 12);
        /* log-uniform 1-500 trees, mostly small so that the file runs fast */
        s.rounds = (int)floor(exp(unif() * log(500.0))) + 0;
        if (s.rounds < 1)
            s.rounds = 1;
        s.features = (int)floor(exp(unif() * log(200.0)));
        if (s.features < 1)
            s.features = 1;
        s.rows = rint_in(20, 250);
        s.parallel = unif() < 0.2 ? rint_in(2, 4) : 1;
        s.classes = classes_for(s.objective) ? rint_in(2, 5) : 0;
        if (!strcmp(s.objective, "reg:squarederror") && unif() < 0.5)
            s.targets = rint_in(2, 4);
        if (s.targets > 1 || s.rounds * s.parallel * (s.classes ? s.classes : 1) > 600) {
            s.tree_method = "hist"; /* multi-output needs hist; many trees: keep it fast */
            s.parallel = 1;
        }
        if (s.rounds * (s.classes ? s.classes : 1) * (s.targets ? s.targets : 1) > 600)
            s.rounds = 600 / ((s.classes ? s.classes : 1) * (s.targets ? s.targets : 1));
        s.missing = unif() * 0.5;
        if (round == 0) { /* the far corner: 500 trees on 200 features */
            s.rounds = 500;
            s.features = 200;
            s.classes = s.targets = 0;
            s.parallel = 1;
            s.objective = "binary:logistic";
            s.tree_method = "hist";
            s.rows = 60;
            s.depth = 4;
        }
        size_t end = unif() < 0.25 ? (size_t)rint_in(1, s.rounds) : 0;
        train_and_compare(&s, end);
        if (harness_failed)
            return;
    }
}

/* ------------------------------------------------------------------------ */
/* Deep trees and the explicit layout                                       */

TEST(deep_trees_use_the_explicit_layout_and_match)
{
    rng_state = 4;
    struct spec s = {.objective = "reg:squarederror",
                     .tree_method = "exact",
                     .depth = 12,
                     .rounds = 30,
                     .features = 20,
                     .rows = 600,
                     .parallel = 1,
                     .missing = 0.1};
    BoosterHandle b = train(&s);
    CHECK(b);
    size_t len;
    char *json = save_json(b, &len);
    struct xgbt_model *m = NULL;
    struct err err = {0};
    CHECK_EQ_INT(xgbt_compile(json, len, 0, &m, &err), 0);
    char line[256];
    xgbt_describe(m, line, sizeof(line));
    bool is_explicit = strstr(line, "explicit") != NULL;
    xgbt_free(m);
    free(json);
    compare(b, &s, 0, 300);
    XGBoosterFree(b);
    if (!is_explicit)
        harness_fail(__FILE__, __LINE__, "expected the explicit layout: %s", line);
}

/* ------------------------------------------------------------------------ */
/* Generated models: shapes training seldom makes                           */

/* A tree to write: nodes in breadth-first order, the right child next to the
 * left one (-1 for a leaf), the leaf value in 'cond'. */
enum { GEN_MAXN = 1 << 13 };
static struct gen_tree {
    int n;
    int left[GEN_MAXN], feat[GEN_MAXN], dleft[GEN_MAXN];
    double cond[GEN_MAXN];
} gt;

/* Write 'gt' as tree 'id' in XGBoost's JSON, statistics zero. */
static void put_tree(struct buf *b, int id, int features)
{
    static int parent[GEN_MAXN];
    parent[0] = 2147483647;
    for (int i = 0; i < gt.n; i++)
        if (gt.left[i] != -1)
            parent[gt.left[i]] = parent[gt.left[i] + 1] = i;
    static const char *const zeros[] = {"base_weights", "loss_changes", "sum_hessian"};
    buf_putc(b, '{');
    for (int k = 0; k < 3; k++) {
        buf_printf(b, "\"%s\":[", zeros[k]);
        for (int i = 0; i < gt.n; i++)
            buf_printf(b, "%s0.0", i ? "," : "");
        buf_puts(b, "],");
    }
    buf_printf(b,
               "\"categories\":[],\"categories_nodes\":[],\"categories_segments\":[],"
               "\"categories_sizes\":[],\"id\":%d",
               id);
    const char *keys[] = {"default_left",   "left_children", "parents",
                          "right_children", "split_indices", "split_type"};
    for (int k = 0; k < 6; k++) {
        buf_printf(b, ",\"%s\":[", keys[k]);
        for (int i = 0; i < gt.n; i++) {
            int l = gt.left[i];
            int v[] = {gt.dleft[i], l, parent[i], l == -1 ? -1 : l + 1, gt.feat[i], 0};
            buf_printf(b, "%s%d", i ? "," : "", v[k]);
        }
        buf_putc(b, ']');
    }
    buf_puts(b, ",\"split_conditions\":[");
    for (int i = 0; i < gt.n; i++)
        buf_printf(b, "%s%.9e", i ? "," : "", gt.cond[i]);
    buf_printf(b,
               "],\"tree_param\":{\"num_deleted\":\"0\",\"num_feature\":\"%d\","
               "\"num_nodes\":\"%d\",\"size_leaf_vector\":\"0\"}}",
               features, gt.n);
}

/* The document around 'trees' trees that 'make' fills into gt in turn. */
static char *put_model(const char *objective, const char *objective_param, int trees, int features,
                       int classes, const char *base_score,
                       void (*make)(int id, int features, int arg), int arg, size_t *len)
{
    struct buf b;
    buf_init(&b, 256 << 20);
    int groups = classes ? classes : 1;
    buf_printf(&b,
               "{\"learner\":{\"attributes\":{},\"feature_names\":[],\"feature_types\":[],"
               "\"gradient_booster\":{\"model\":{\"gbtree_model_param\":{\"num_parallel_tree\":"
               "\"1\",\"num_trees\":\"%d\",\"size_leaf_vector\":\"0\"},\"tree_info\":[",
               trees);
    for (int i = 0; i < trees; i++)
        buf_printf(&b, "%s%d", i ? "," : "", i % groups);
    buf_puts(&b, "],\"trees\":[");
    for (int i = 0; i < trees; i++) {
        if (i)
            buf_putc(&b, ',');
        make(i, features, arg);
        put_tree(&b, i, features);
    }
    buf_printf(&b,
               "]},\"name\":\"gbtree\"},\"learner_model_param\":{\"base_score\":\"%s\","
               "\"boost_from_average\":\"1\",\"num_class\":\"%d\",\"num_feature\":\"%d\","
               "\"num_target\":\"1\"},\"objective\":{\"name\":\"%s\",%s}},\"version\":[1,7,4]}",
               base_score, classes, features, objective, objective_param);
    return buf_detach(&b, len);
}

/* A random tree: a node at depth d splits with falling odds up to 'depth'. */
static void random_tree(int id, int features, int depth)
{
    (void)id;
    static int dep[GEN_MAXN];
    gt.n = 1;
    dep[0] = 0;
    for (int i = 0; i < gt.n; i++) {
        double p = dep[i] == 0 ? 1.0 : 0.9 - 0.5 * dep[i] / depth;
        if (dep[i] < depth && gt.n + 2 <= GEN_MAXN && unif() < p) {
            gt.left[i] = gt.n;
            dep[gt.n] = dep[gt.n + 1] = dep[i] + 1;
            gt.n += 2;
            gt.feat[i] = (int)(rnd() % (uint64_t)features);
            gt.cond[i] = (double)rint_in(-12, 24) / 8;
            gt.dleft[i] = (int)(rnd() & 1);
        } else {
            gt.left[i] = -1;
            gt.feat[i] = 0;
            gt.cond[i] = (double)rint_in(-2048, 2048) / 1024;
            gt.dleft[i] = 0;
        }
    }
}

/* A chain: each split's left child a leaf, the right one the next split. */
static void chain_tree(int id, int features, int depth)
{
    gt.n = 2 * depth + 1;
    for (int i = 0; i < gt.n; i++) {
        bool split = i % 2 == 0 && i < 2 * depth;
        gt.left[i] = split ? i + 1 : -1;
        gt.feat[i] = split ? (i / 2 + id) % features : 0;
        gt.cond[i] = split ? (double)rint_in(-8, 16) / 8 : (double)rint_in(-2048, 2048) / 1024;
        gt.dleft[i] = split ? (int)(rnd() & 1) : 0;
    }
}

/* Generated trees of every depth to 14, leaves at every level, and over 2048
 * features in use (rows read as they are, not prepared). */
TEST(generated_models_match_the_library)
{
    rng_state = 8;
    static const struct {
        const char *objective;
        int trees, depth, features, classes;
        const char *base, *param;
    } cases[] = {
#define REG "\"reg_loss_param\":{\"scale_pos_weight\":\"1\"}"
        {"reg:squarederror", 40, 3, 5, 0, "5E-1", REG},
        {"binary:logistic", 17, 8, 30, 0, "2.5E-1", REG},
        {"multi:softprob", 30, 9, 12, 3, "5E-1",
         "\"softmax_multiclass_param\":{\"num_class\":\"3\"}"},
        {"count:poisson", 25, 14, 50, 0, "1.5E0",
         "\"poisson_regression_param\":{\"max_delta_step\":\"0.7\"}"},
        {"reg:squarederror", 900, 5, 3000, 0, "0", REG},
        {"multi:softmax", 300, 11, 2500, 4, "5E-1",
         "\"softmax_multiclass_param\":{\"num_class\":\"4\"}"},
#undef REG
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]) && !harness_failed; i++) {
        size_t len;
        char *json =
            put_model(cases[i].objective, cases[i].param, cases[i].trees, cases[i].features,
                      cases[i].classes, cases[i].base, random_tree, cases[i].depth, &len);
        BoosterHandle b = NULL;
        if (XGBoosterCreate(NULL, 0, &b) != 0 ||
            XGBoosterLoadModelFromBuffer(b, json, (bst_ulong)len) != 0 ||
            XGBoosterSetParam(b, "nthread", "1") != 0) {
            harness_fail(__FILE__, __LINE__, "case %zu: library: %s", i, XGBGetLastError());
        } else {
            struct spec s = {.objective = cases[i].objective,
                             .tree_method = "generated",
                             .depth = cases[i].depth,
                             .rounds = cases[i].trees,
                             .features = cases[i].features,
                             .classes = cases[i].classes,
                             .missing = 0.2};
            compare(b, &s, 0, cases[i].features > 1000 ? 40 : 200);
            /* the wide ones really read input rows */
            struct xgbt_model *m = NULL;
            struct err err = {0};
            char line[300] = "";
            if (xgbt_compile(json, len, 0, &m, &err) == 0)
                xgbt_describe(m, line, sizeof(line));
            xgbt_free(m);
            if (cases[i].features > 2048 && !strstr(line, "input rows"))
                harness_fail(__FILE__, __LINE__, "case %zu: %s", i, line);
        }
        if (b)
            XGBoosterFree(b);
        free(json);
    }
}

static int compile_str(const char *doc, struct err *err);

/* Chains as deep as the limit match; one level more is refused. */
TEST(deep_chains_match_the_library_up_to_the_depth_limit)
{
    rng_state = 10;
    size_t len;
    char *json = put_model("reg:squarederror", "\"reg_loss_param\":{\"scale_pos_weight\":\"1\"}", 4,
                           6, 0, "5E-1", chain_tree, 256, &len);
    BoosterHandle b = NULL;
    if (XGBoosterCreate(NULL, 0, &b) != 0 ||
        XGBoosterLoadModelFromBuffer(b, json, (bst_ulong)len) != 0 ||
        XGBoosterSetParam(b, "nthread", "1") != 0) {
        harness_fail(__FILE__, __LINE__, "library: %s", XGBGetLastError());
    } else {
        struct spec s = {.objective = "reg:squarederror",
                         .tree_method = "chain",
                         .depth = 256,
                         .rounds = 4,
                         .features = 6,
                         .missing = 0.2};
        compare(b, &s, 0, 200);
    }
    if (b)
        XGBoosterFree(b);
    free(json);
    json = put_model("reg:squarederror", "\"reg_loss_param\":{\"scale_pos_weight\":\"1\"}", 1, 6, 0,
                     "5E-1", chain_tree, 257, &len);
    struct err err;
    int rc = compile_str(json, &err);
    free(json);
    CHECK_EQ_INT(rc, ERR_INVALID);
    CHECK(strstr(err.msg, "trees[0]: deeper than 256 levels"));
}

/* A complete tree of depth 12 on feature 0 with conditions 1..4095, so row j
 * (x0 = j + 0.5) reaches leaf j; leaves are random floats in [-lim, lim]. */
static void leaf_tree(int id, int features, int lim)
{
    (void)id, (void)features;
    enum { D = 12, NI = (1 << D) - 1 };
    gt.n = (2 << D) - 1;
    for (int i = 0; i < gt.n; i++) {
        gt.left[i] = i < NI ? 2 * i + 1 : -1;
        gt.feat[i] = gt.dleft[i] = 0;
        if (i < NI) { /* the middle of the node's range of leaves */
            int d = 0;
            while ((2 << d) - 1 <= i)
                d++;
            int pos = i - ((1 << d) - 1), width = 1 << (D - d);
            gt.cond[i] = pos * width + width / 2;
        } else {
            gt.cond[i] = (float)((unif() * 2 - 1) * lim);
        }
    }
}

/* Every output transform on 4,096 margins each, bit for bit. */
TEST(output_transforms_match_the_library_bit_for_bit)
{
    rng_state = 9;
    static const struct {
        const char *objective, *param;
        int trees, classes;
        int lim;
    } cases[] = {
#define REG "\"reg_loss_param\":{\"scale_pos_weight\":\"1\"}"
        {"binary:logistic", REG, 1, 0, 20},
        {"reg:logistic", REG, 1, 0, 5},
        {"binary:hinge", "\"hinge_param\":{}", 1, 0, 2},
        {"count:poisson", "\"poisson_regression_param\":{\"max_delta_step\":\"0.7\"}", 1, 0, 20},
        {"reg:gamma", "\"gamma_regression_param\":{}", 1, 0, 20},
        {"reg:tweedie", "\"tweedie_regression_param\":{\"tweedie_variance_power\":\"1.5\"}", 1, 0,
         20},
        {"survival:cox", "\"cox_regression_param\":{}", 1, 0, 20},
        {"survival:aft",
         "\"aft_loss_param\":{\"aft_loss_distribution\":\"normal\","
         "\"aft_loss_distribution_scale\":\"1\"}",
         1, 0, 20},
        {"multi:softprob", "\"softmax_multiclass_param\":{\"num_class\":\"3\"}", 3, 3, 10},
        {"multi:softmax", "\"softmax_multiclass_param\":{\"num_class\":\"3\"}", 3, 3, 10},
#undef REG
    };
    float *x = xmalloc(sizeof(float) * 4096);
    for (int j = 0; j < 4096; j++)
        x[j] = (float)j + 0.5f;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]) && !harness_failed; i++) {
        size_t len;
        char *json = put_model(cases[i].objective, cases[i].param, cases[i].trees, 1,
                               cases[i].classes, "5E-1", leaf_tree, cases[i].lim, &len);
        BoosterHandle b = NULL;
        if (XGBoosterCreate(NULL, 0, &b) != 0 ||
            XGBoosterLoadModelFromBuffer(b, json, (bst_ulong)len) != 0 ||
            XGBoosterSetParam(b, "nthread", "1") != 0) {
            harness_fail(__FILE__, __LINE__, "%s: library: %s", cases[i].objective,
                         XGBGetLastError());
        } else {
            struct xgbt_model *m = NULL;
            struct err err = {0};
            if (xgbt_compile(json, len, 0, &m, &err) != 0) {
                harness_fail(__FILE__, __LINE__, "%s: %s", cases[i].objective, err.msg);
            } else {
                for (int margin = 1; margin >= 0 && !harness_failed; margin--) {
                    const float *lib;
                    size_t w = xgbt_width(m, margin), lw;
                    float *mine = xmalloc(sizeof(float) * 4096 * w);
                    xgbt_predict(m, margin, x, 4096, mine);
                    if (lib_predict(b, x, 4096, 1, margin, 0, &lib, &lw) != 0 || lw != w) {
                        harness_fail(__FILE__, __LINE__, "%s: library predict", cases[i].objective);
                    } else {
                        int bad = 0;
                        for (size_t k = 0; k < 4096 * w; k++)
                            if (!same_float(mine[k], lib[k]) && bad++ < 3)
                                harness_fail(__FILE__, __LINE__,
                                             "%s %s: value %zu: %.9g, library %.9g",
                                             cases[i].objective, predict_types[margin], k,
                                             (double)mine[k], (double)lib[k]);
                    }
                    free(mine);
                }
            }
            xgbt_free(m);
        }
        if (b)
            XGBoosterFree(b);
        free(json);
    }
    free(x);
}

/* ------------------------------------------------------------------------ */
/* One model, many threads                                                  */

struct shared {
    const struct xgbt_model *m;
    const float *x, *want;
    size_t rows, features;
    int bad;
};

static void *predict_thread(void *arg)
{
    struct shared *sh = arg;
    float out[64];
    for (int i = 0; i < 200; i++) {
        size_t r = (size_t)i % sh->rows;
        xgbt_predict(sh->m, true, sh->x + r * sh->features, 1, out);
        if (!same_float(out[0], sh->want[r]))
            sh->bad = 1;
    }
    return NULL;
}

TEST(one_model_predicts_from_several_threads)
{
    rng_state = 5;
    struct spec s = {.objective = "binary:logistic",
                     .tree_method = "hist",
                     .depth = 6,
                     .rounds = 20,
                     .features = 8,
                     .rows = 200,
                     .parallel = 1,
                     .missing = 0.1};
    BoosterHandle b = train(&s);
    CHECK(b);
    size_t len;
    char *json = save_json(b, &len);
    XGBoosterFree(b);
    struct xgbt_model *m = NULL;
    struct err err = {0};
    CHECK_EQ_INT(xgbt_compile(json, len, 0, &m, &err), 0);
    free(json);
    float *x = random_rows(50, 8, 0.1);
    float want[50];
    xgbt_predict(m, true, x, 50, want);
    struct shared sh[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        sh[i] = (struct shared){m, x, want, 50, 8, 0};
        pthread_create(&th[i], NULL, predict_thread, &sh[i]);
    }
    int bad = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        bad |= sh[i].bad;
    }
    xgbt_free(m);
    free(x);
    CHECK_EQ_INT(bad, 0);
}

/* ------------------------------------------------------------------------ */
/* What it refuses                                                          */

static int compile_str(const char *doc, struct err *err)
{
    struct xgbt_model *m = NULL;
    memset(err, 0, sizeof(*err));
    int rc = xgbt_compile(doc, strlen(doc), 0, &m, err);
    if (rc == 0 && !m)
        return 1;
    if (rc != 0 && (m || err->code != rc || !err->msg[0]))
        return 2;
    xgbt_free(m);
    return rc;
}

static int compile_trained(const struct spec *s, struct err *err)
{
    BoosterHandle b = train(s);
    if (!b)
        return 1;
    size_t len;
    char *json = save_json(b, &len);
    XGBoosterFree(b);
    int rc = compile_str(json, err);
    free(json);
    return rc;
}

TEST(dart_and_gblinear_are_refused)
{
    rng_state = 6;
    struct err err;
    struct spec s = {.objective = "binary:logistic",
                     .tree_method = "hist",
                     .booster = "dart",
                     .depth = 3,
                     .rounds = 3,
                     .features = 4,
                     .rows = 60,
                     .parallel = 1};
    CHECK_EQ_INT(compile_trained(&s, &err), ERR_UNSUPPORTED);
    CHECK(strstr(err.msg, "learner.gradient_booster.name") && strstr(err.msg, "'dart'"));
    s.booster = "gblinear";
    CHECK_EQ_INT(compile_trained(&s, &err), ERR_UNSUPPORTED);
    CHECK(strstr(err.msg, "learner.gradient_booster.name") && strstr(err.msg, "'gblinear'"));
}

TEST(categorical_splits_are_refused)
{
    rng_state = 7;
    /* A model trained on a categorical feature, through the C API. */
    int n = 200;
    float *x = xmalloc(sizeof(float) * (size_t)n * 2), *y = xmalloc(sizeof(float) * (size_t)n);
    for (int i = 0; i < n; i++) {
        x[2 * i] = (float)(i % 5);
        x[2 * i + 1] = (float)unif();
        y[i] = (float)(i % 5 == 1 || i % 5 == 3);
    }
    DMatrixHandle dm = NULL;
    BoosterHandle b = NULL;
    char *json = NULL;
    size_t len;
    const char *types[] = {"c", "q"};
    XGB_OK(XGDMatrixCreateFromMat(x, (bst_ulong)n, 2, NAN, &dm));
    XGB_OK(XGDMatrixSetFloatInfo(dm, "label", y, (bst_ulong)n));
    XGB_OK(XGDMatrixSetStrFeatureInfo(dm, "feature_type", types, 2));
    XGB_OK(XGBoosterCreate(&dm, 1, &b));
    XGB_OK(XGBoosterSetParam(b, "tree_method", "hist"));
    XGB_OK(XGBoosterSetParam(b, "objective", "binary:logistic"));
    XGB_OK(XGBoosterSetParam(b, "max_cat_to_onehot", "1"));
    for (int i = 0; i < 3; i++)
        XGB_OK(XGBoosterUpdateOneIter(b, i, dm));
    json = save_json(b, &len);
    struct err err;
    int rc = compile_str(json, &err);
    CHECK_EQ_INT(rc, ERR_UNSUPPORTED);
    CHECK(strstr(err.msg, "categorical") && strstr(err.msg, "split_type"));
fail:
    free(json);
    if (b)
        XGBoosterFree(b);
    if (dm)
        XGDMatrixFree(dm);
    free(x);
    free(y);
}

/* A hand-written model document of one tree with the arrays given. */
static char doc_buf[4096];

static const char *doc(const char *objective, const char *booster, const char *tree)
{
    snprintf(doc_buf, sizeof(doc_buf),
             "{\"learner\":{\"attributes\":{},\"feature_names\":[],\"feature_types\":[],"
             "\"gradient_booster\":{\"model\":{\"gbtree_model_param\":{\"num_parallel_tree\":"
             "\"1\",\"num_trees\":\"1\",\"size_leaf_vector\":\"0\"},\"tree_info\":[0],"
             "\"trees\":[%s]},\"name\":\"%s\"},\"learner_model_param\":{\"base_score\":\"5E-1\","
             "\"boost_from_average\":\"1\",\"num_class\":\"0\",\"num_feature\":\"3\","
             "\"num_target\":\"1\"},\"objective\":{\"name\":\"%s\",\"reg_loss_param\":"
             "{\"scale_pos_weight\":\"1\"}}},\"version\":[1,7,4]}",
             tree, booster, objective);
    return doc_buf;
}

/* One tree of 'n' nodes in XGBoost's field order; the statistics the
 * predictor does not read (weights, gains, hessians, parents) are 'stype'. */
static char tree_buf[2048];

static const char *tree(const char *n, const char *left, const char *right, const char *feat,
                        const char *cond, const char *dleft, const char *stype)
{
    /* The library reads these as floats: "0.0", not "0". */
    char fzeros[256] = "";
    for (int i = 0, at = 0; i < (int)strtol(n, NULL, 10) && i < 60; i++)
        at += snprintf(fzeros + at, sizeof(fzeros) - (size_t)at, i ? ",0.0" : "0.0");
    snprintf(tree_buf, sizeof(tree_buf),
             "{\"base_weights\":[%s],\"categories\":[],\"categories_nodes\":[],"
             "\"categories_segments\":[],\"categories_sizes\":[],\"default_left\":[%s],\"id\":0,"
             "\"left_children\":[%s],\"loss_changes\":[%s],\"parents\":[%s],"
             "\"right_children\":[%s],\"split_conditions\":[%s],\"split_indices\":[%s],"
             "\"split_type\":[%s],\"sum_hessian\":[%s],\"tree_param\":{\"num_deleted\":\"0\","
             "\"num_feature\":\"3\",\"num_nodes\":\"%s\",\"size_leaf_vector\":\"0\"}}",
             fzeros, dleft, left, fzeros, stype, right, cond, feat, stype, fzeros, n);
    return tree_buf;
}

#define GOOD_TREE                                                                                  \
    tree("5", "1,3,-1,-1,-1", "2,4,-1,-1,-1", "0,2,0,0,0", "0.5,1.5,-1.0,2.0,3.0", "1,0,0,0,0",    \
         "0,0,0,0,0")

TEST(hand_written_model_predicts_as_the_library)
{
    struct err err;
    const char *d = doc("binary:logistic", "gbtree", GOOD_TREE);
    struct xgbt_model *m = NULL;
    CHECK_EQ_INT(xgbt_compile(d, strlen(d), 0, &m, &err), 0);
    /* The margin starts at logit(0.5) = 0. x0 < 0.5 or missing goes to node 1,
     * else to the leaf -1; at node 1, x2 < 1.5 gives 2, else or missing 3. */
    float rows[] = {0.4f, 0, 1.4f, NAN, 0, 1.5f, 0.5f, 0, 0, 0.4999f, 0, NAN, 7, 0, 0};
    float out[5], want[] = {2, 3, -1, 3, -1};
    xgbt_predict(m, true, rows, 5, out);
    xgbt_free(m);
    for (int i = 0; i < 5; i++)
        CHECK_NEAR(out[i], want[i], 0);
    BoosterHandle b = NULL;
    XGB_OK(XGBoosterCreate(NULL, 0, &b));
    XGB_OK(XGBoosterLoadModelFromBuffer(b, d, strlen(d)));
    const float *lib;
    size_t w;
    XGB_OK(lib_predict(b, rows, 5, 3, 1, 0, &lib, &w));
    for (int i = 0; i < 5; i++)
        CHECK_NEAR(lib[i], want[i], 0);
    /* A node nothing reaches (pruning leaves deleted ones) changes nothing. */
    d = doc("binary:logistic", "gbtree",
            tree("6", "1,3,-1,-1,-1,-1", "2,4,-1,-1,-1,-1", "0,2,0,0,0,2147483647",
                 "0.5,1.5,-1.0,2.0,3.0,0.0", "1,0,0,0,0,1", "0,0,0,0,0,0"));
    CHECK_EQ_INT(xgbt_compile(d, strlen(d), 0, &m, &err), 0);
    xgbt_predict(m, true, rows, 5, out);
    xgbt_free(m);
    for (int i = 0; i < 5; i++)
        CHECK_NEAR(out[i], want[i], 0);
fail:
    if (b)
        XGBoosterFree(b);
}

TEST(malformed_trees_are_refused_naming_the_field)
{
    struct err err;
    static const struct {
        const char *n, *left, *right, *feat, *cond, *dleft, *stype;
        int code;
        const char *field;
    } cases[] = {
        /* the root's left child is the root: a cycle */
        {"5", "0,3,-1,-1,-1", "1,4,-1,-1,-1", "0,2,0,0,0", "0.5,1.5,-1,2,3", "1,0,0,0,0",
         "0,0,0,0,0", ERR_INVALID, "reached twice"},
        /* two parents share a subtree */
        {"5", "1,1,-1,-1,-1", "2,2,-1,-1,-1", "0,2,0,0,0", "0.5,1.5,-1,2,3", "1,0,0,0,0",
         "0,0,0,0,0", ERR_INVALID, "reached twice"},
        /* child out of range */
        {"5", "1,9,-1,-1,-1", "2,10,-1,-1,-1", "0,2,0,0,0", "0.5,1.5,-1,2,3", "1,0,0,0,0",
         "0,0,0,0,0", ERR_INVALID, "trees[0].left_children[1]"},
        /* wrong length */
        {"5", "1,3,-1,-1,-1", "2,4,-1,-1,-1", "0,2,0,0", "0.5,1.5,-1,2,3", "1,0,0,0,0", "0,0,0,0,0",
         ERR_INVALID, "trees[0].split_indices: 4 values for 5 nodes"},
        /* a feature past num_feature */
        {"5", "1,3,-1,-1,-1", "2,4,-1,-1,-1", "0,3,0,0,0", "0.5,1.5,-1,2,3", "1,0,0,0,0",
         "0,0,0,0,0", ERR_INVALID, "trees[0].split_indices[1]"},
        /* a fractional child index */
        {"5", "1,3.5,-1,-1,-1", "2,4,-1,-1,-1", "0,2,0,0,0", "0.5,1.5,-1,2,3", "1,0,0,0,0",
         "0,0,0,0,0", ERR_INVALID, "trees[0].left_children[1]"},
        /* a condition that is no float */
        {"5", "1,3,-1,-1,-1", "2,4,-1,-1,-1", "0,2,0,0,0", "0.5,1e39,-1,2,3", "1,0,0,0,0",
         "0,0,0,0,0", ERR_INVALID, "trees[0].split_conditions[1]"},
        /* a leaf with one child */
        {"5", "1,3,-1,-1,-1", "2,4,3,-1,-1", "0,2,0,0,0", "0.5,1.5,-1,2,3", "1,0,0,0,0",
         "0,0,0,0,0", ERR_INVALID, "trees[0].right_children[2]"},
        /* right child not next to the left one */
        {"5", "1,3,-1,-1,-1", "2,-1,-1,-1,-1", "0,2,0,0,0", "0.5,1.5,-1,2,3", "1,0,0,0,0",
         "0,0,0,0,0", ERR_UNSUPPORTED, "trees[0].right_children[1]"},
        /* a categorical split */
        {"5", "1,3,-1,-1,-1", "2,4,-1,-1,-1", "0,2,0,0,0", "0.5,1.5,-1,2,3", "1,0,0,0,0",
         "0,1,0,0,0", ERR_UNSUPPORTED, "trees[0].split_type[1]: categorical"},
        /* default_left neither 0 nor 1 */
        {"5", "1,3,-1,-1,-1", "2,4,-1,-1,-1", "0,2,0,0,0", "0.5,1.5,-1,2,3", "1,2,0,0,0",
         "0,0,0,0,0", ERR_INVALID, "trees[0].default_left[1]"},
        /* no nodes */
        {"0", "", "", "", "", "", "", ERR_INVALID, "num_nodes"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *d = doc("binary:logistic", "gbtree",
                            tree(cases[i].n, cases[i].left, cases[i].right, cases[i].feat,
                                 cases[i].cond, cases[i].dleft, cases[i].stype));
        int rc = compile_str(d, &err);
        if (rc != cases[i].code || !strstr(err.msg, cases[i].field))
            harness_fail(__FILE__, __LINE__, "case %zu: %s (%s)", i, err.msg, err_name(rc));
        CHECK_EQ_INT(rc, cases[i].code);
        CHECK(strstr(err.msg, cases[i].field));
    }
}

TEST(malformed_documents_are_refused_naming_the_field)
{
    struct err err;
    CHECK_EQ_INT(compile_str(doc("reg:quantileerror", "gbtree", GOOD_TREE), &err), ERR_UNSUPPORTED);
    CHECK(strstr(err.msg, "learner.objective.name") && strstr(err.msg, "reg:quantileerror"));
    CHECK_EQ_INT(compile_str(doc("binary:logistic", "gbtree", "1"), &err), ERR_INVALID);
    CHECK(strstr(err.msg, "trees[0]: expected an object"));
    CHECK_EQ_INT(compile_str("{\"learner\":{", &err), ERR_INVALID);
    CHECK(strstr(err.msg, "model document"));
    CHECK_EQ_INT(compile_str("[]", &err), ERR_INVALID);
    CHECK_EQ_INT(compile_str("{\"learner\":{\"learner_model_param\":{}}}", &err), ERR_INVALID);
    CHECK(strstr(err.msg, "learner: missing field 'objective'"));
    /* num_trees disagreeing with the trees */
    const char *d = doc("binary:logistic", "gbtree", GOOD_TREE);
    char *two = xstrdup(d), *p = strstr(two, "\"num_trees\":\"1\"");
    CHECK(p);
    p[13] = '2';
    int rc = compile_str(two, &err);
    free(two);
    CHECK_EQ_INT(rc, ERR_INVALID);
    CHECK(strstr(err.msg, "num_trees 2"));
    /* base_score outside the logistic link's domain */
    char *bs = xstrdup(d);
    p = strstr(bs, "5E-1");
    CHECK(p);
    memcpy(p, "15E0", 4);
    rc = compile_str(bs, &err);
    free(bs);
    CHECK_EQ_INT(rc, ERR_INVALID);
    CHECK(strstr(err.msg, "learner.learner_model_param.base_score"));
}
