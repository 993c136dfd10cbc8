/* xgbtree_bench.c - rows/s of the native tree evaluator (src/serve/backends/
 * xgbtree.c) against XGBoost's in-place prediction, in one process, one thread.
 *
 * The model is a file in any format the library loads, or one trained here
 * with --train TREES,DEPTH,FEATURES (binary:logistic, hist, on random data,
 * seeded). Both predict the same rows (pseudo-random in [0,1), as xgb_raw,
 * with --missing of them NaN); their type-0 outputs are first compared on
 * every row of the largest batch, and a difference fails the run. Then each
 * batch size is timed for --seconds per side, the library with nthread=1 on
 * the booster as bench/xgb_raw.c does. Short runs of the two sides alternate,
 * and each side's time is this thread's CPU time, so that other work on the
 * machine weighs on both alike and time spent descheduled on neither.
 *
 * usage: xgbtree_bench (MODEL | --train T,D,F) [--batches 1,100,1000]
 *                      [--seconds S] [--missing FRACTION] [--margin]
 *
 * Prints a table, then one JSON line:
 *   {"model":..,"describe":..,"batch1":{"native_rows_per_s":..,"library_rows_per_s":..,
 *    "ratio":..,"native_us_per_call":..,"library_us_per_call":..},...}
 *
 * Build: make -f bench/bench.mk build/bench/xgbtree_bench
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <xgboost/c_api.h>

#include "base/err.h"
#include "serve/backends/xgbtree.h"

#define MAX_BATCHES 8

#define CHECK_XGB(call)                                                                            \
    do {                                                                                           \
        if ((call) != 0) {                                                                         \
            fprintf(stderr, "xgbtree_bench: %s: %s\n", #call, XGBGetLastError());                  \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

/* CPU time of this thread: on a shared machine, time the thread did not run
 * counts for neither side. */
static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint32_t lcg = 12345;

static float next_unit(void)
{
    lcg = lcg * 1664525u + 1013904223u;
    return (float)(lcg >> 8) / 16777216.0f;
}

static void *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "xgbtree_bench: %s: %s\n", path, strerror(errno));
        exit(1);
    }
    size_t cap = 1 << 20, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (n == cap)
            buf = realloc(buf, cap *= 2);
        size_t got = fread(buf + n, 1, cap - n, f);
        if (got == 0)
            break;
        n += got;
    }
    fclose(f);
    *len = n;
    return buf;
}

/* Train a binary:logistic model of 'trees' rounds of depth 'depth' on
 * 'features' random features. */
static BoosterHandle train(int trees, int depth, int features)
{
    const int rows = 5000;
    float *x = malloc(sizeof(float) * (size_t)rows * (size_t)features);
    float *y = malloc(sizeof(float) * (size_t)rows);
    for (int i = 0; i < rows; i++) {
        double s = 0;
        for (int j = 0; j < features; j++) {
            float v = next_unit();
            x[(size_t)i * (size_t)features + (size_t)j] = v;
            s += (j % 2 ? -1.0 : 1.5) * v * (1 + j % 3);
        }
        y[i] = (float)(s + next_unit() > 0.5 * features / 2.0);
    }
    DMatrixHandle dm;
    BoosterHandle b;
    char v[32];
    CHECK_XGB(XGDMatrixCreateFromMat(x, (bst_ulong)rows, (bst_ulong)features, NAN, &dm));
    CHECK_XGB(XGDMatrixSetFloatInfo(dm, "label", y, (bst_ulong)rows));
    CHECK_XGB(XGBoosterCreate(&dm, 1, &b));
    CHECK_XGB(XGBoosterSetParam(b, "objective", "binary:logistic"));
    CHECK_XGB(XGBoosterSetParam(b, "tree_method", "hist"));
    CHECK_XGB(XGBoosterSetParam(b, "eta", "0.1"));
    CHECK_XGB(XGBoosterSetParam(b, "seed", "1"));
    snprintf(v, sizeof(v), "%d", depth);
    CHECK_XGB(XGBoosterSetParam(b, "max_depth", v));
    for (int i = 0; i < trees; i++)
        CHECK_XGB(XGBoosterUpdateOneIter(b, i, dm));
    XGDMatrixFree(dm);
    free(x);
    free(y);
    return b;
}

struct timing {
    double native_calls_per_s, library_calls_per_s;
};

static const float *lib_predict(BoosterHandle b, const char *iface, const char *cfg)
{
    const bst_ulong *shape;
    bst_ulong dim;
    const float *out;
    CHECK_XGB(XGBoosterPredictFromDense(b, iface, cfg, NULL, &shape, &dim, &out));
    return out;
}

/* The array interface of 'rows' rows at 'data' and the predict config, for
 * the library: 'iface' and 'cfg' hold 256 bytes each. */
static void lib_strings(const float *data, long rows, long feats, bool margin, char *iface,
                        char *cfg)
{
    snprintf(iface, 256,
             "{\"data\":[%llu,true],\"shape\":[%ld,%ld],\"typestr\":\"<f4\",\"version\":3}",
             (unsigned long long)(uintptr_t)data, rows, feats);
    snprintf(cfg, 256,
             "{\"type\":%d,\"training\":false,\"iteration_begin\":0,\"iteration_end\":0,"
             "\"strict_shape\":false,\"missing\":NaN,\"nthread\":1,\"cache_id\":0}",
             margin ? 1 : 0);
}

static volatile float sink;

static void time_batch(BoosterHandle b, const struct xgbt_model *m, bool margin, const float *data,
                       long rows, long feats, double seconds, struct timing *t)
{
    char iface[256], cfg[256];
    lib_strings(data, rows, feats, margin, iface, cfg);
    float *out = malloc(sizeof(float) * (size_t)rows * xgbt_width(m, margin));

    /* Interleave short runs of each side so that drifting load hits both. */
    double native_s = 0, library_s = 0;
    long native_n = 0, library_n = 0;
    long per = rows >= 1000 ? 20 : rows >= 100 ? 200 : 2000;
    for (int i = 0; i < 3; i++) { /* warm-up */
        xgbt_predict(m, margin, data, (size_t)rows, out);
        lib_predict(b, iface, cfg);
    }
    while (native_s + library_s < 2 * seconds) {
        double t0 = now_s();
        for (long i = 0; i < per; i++)
            xgbt_predict(m, margin, data, (size_t)rows, out);
        double t1 = now_s();
        for (long i = 0; i < per; i++)
            sink = lib_predict(b, iface, cfg)[0];
        double t2 = now_s();
        native_s += t1 - t0;
        library_s += t2 - t1;
        native_n += per;
        library_n += per;
    }
    sink = out[0];
    free(out);
    t->native_calls_per_s = native_n / native_s;
    t->library_calls_per_s = library_n / library_s;
}

static void usage(void)
{
    fprintf(stderr, "usage: xgbtree_bench (MODEL | --train T,D,F) [--batches 1,100,1000] "
                    "[--seconds S] [--missing FRACTION] [--margin]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *model = NULL;
    int train_t = 0, train_d = 0, train_f = 0;
    double seconds = 1.0, missing = 0;
    bool margin = false;
    long batches[MAX_BATCHES] = {1, 100, 1000};
    int nbatches = 3;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--train") && i + 1 < argc) {
            if (sscanf(argv[++i], "%d,%d,%d", &train_t, &train_d, &train_f) != 3 || train_t < 1 ||
                train_d < 1 || train_f < 1)
                usage();
        } else if (!strcmp(argv[i], "--seconds") && i + 1 < argc) {
            seconds = atof(argv[++i]);
        } else if (!strcmp(argv[i], "--missing") && i + 1 < argc) {
            missing = atof(argv[++i]);
        } else if (!strcmp(argv[i], "--margin")) {
            margin = true;
        } else if (!strcmp(argv[i], "--batches") && i + 1 < argc) {
            char *p = argv[++i], *end;
            for (nbatches = 0; *p && nbatches < MAX_BATCHES; p = *end ? end + 1 : end) {
                batches[nbatches] = strtol(p, &end, 10);
                if (end == p || batches[nbatches] < 1 || (*end && *end != ','))
                    usage();
                nbatches++;
            }
        } else if (argv[i][0] != '-' && !model) {
            model = argv[i];
        } else {
            usage();
        }
    }
    if ((!model) == (!train_t) || seconds <= 0)
        usage();

    BoosterHandle b;
    char name[256];
    if (model) {
        size_t mlen;
        void *mbuf = read_file(model, &mlen);
        CHECK_XGB(XGBoosterCreate(NULL, 0, &b));
        CHECK_XGB(XGBoosterLoadModelFromBuffer(b, mbuf, (bst_ulong)mlen));
        free(mbuf);
        snprintf(name, sizeof name, "%s", model);
    } else {
        b = train(train_t, train_d, train_f);
        snprintf(name, sizeof name, "trained: %d trees, depth %d, %d features", train_t, train_d,
                 train_f);
    }
    CHECK_XGB(XGBoosterSetParam(b, "nthread", "1"));
    bst_ulong nfeat, jlen;
    const char *json;
    CHECK_XGB(XGBoosterGetNumFeature(b, &nfeat));
    CHECK_XGB(XGBoosterSaveModelToBuffer(b, "{\"format\":\"json\"}", &jlen, &json));
    struct xgbt_model *m;
    struct err err = {0};
    double c0 = now_s();
    if (xgbt_compile(json, jlen, 0, &m, &err) != 0) {
        fprintf(stderr, "xgbtree_bench: compile: %s: %s\n", err_name(err.code), err.msg);
        return 1;
    }
    double compile_ms = (now_s() - c0) * 1e3;
    char desc[256];
    xgbt_describe(m, desc, sizeof desc);

    long feats = (long)nfeat, need = 1;
    for (int i = 0; i < nbatches; i++)
        if (batches[i] > need)
            need = batches[i];
    float *data = malloc(sizeof(float) * (size_t)need * (size_t)feats);
    for (long i = 0; i < need * feats; i++) {
        float v = next_unit();
        data[i] = next_unit() < missing ? NAN : v;
    }

    /* The same answers first, on every row. */
    size_t w = xgbt_width(m, margin);
    float *mine = malloc(sizeof(float) * (size_t)need * w);
    xgbt_predict(m, margin, data, (size_t)need, mine);
    char iface[256], cfg[256];
    lib_strings(data, need, feats, margin, iface, cfg);
    const float *lib = lib_predict(b, iface, cfg);
    long differ = 0;
    for (size_t i = 0; i < (size_t)need * w; i++)
        differ += memcmp(&mine[i], &lib[i], sizeof(float)) != 0;
    free(mine);
    if (differ) {
        fprintf(stderr, "xgbtree_bench: %ld of %zu values differ from the library\n", differ,
                (size_t)need * w);
        return 1;
    }

    printf("model: %s\nnative: %s (compiled in %.1f ms)\n", name, desc, compile_ms);
    printf("%ld rows checked, all %s bit-identical to the library\n", need,
           margin ? "margins" : "outputs");
    printf("%8s %16s %16s %8s %14s %14s\n", "batch", "native rows/s", "library rows/s", "ratio",
           "native us/call", "library us/call");
    struct timing t[MAX_BATCHES];
    for (int i = 0; i < nbatches; i++) {
        time_batch(b, m, margin, data, batches[i], feats, seconds, &t[i]);
        printf("%8ld %16.0f %16.0f %8.2f %14.3f %14.3f\n", batches[i],
               t[i].native_calls_per_s * batches[i], t[i].library_calls_per_s * batches[i],
               t[i].native_calls_per_s / t[i].library_calls_per_s, 1e6 / t[i].native_calls_per_s,
               1e6 / t[i].library_calls_per_s);
    }
    printf("{\"model\":\"%s\",\"describe\":\"%s\"", name, desc);
    for (int i = 0; i < nbatches; i++)
        printf(",\"batch%ld\":{\"native_rows_per_s\":%.0f,\"library_rows_per_s\":%.0f,"
               "\"ratio\":%.3f,\"native_us_per_call\":%.4f,\"library_us_per_call\":%.4f}",
               batches[i], t[i].native_calls_per_s * batches[i],
               t[i].library_calls_per_s * batches[i],
               t[i].native_calls_per_s / t[i].library_calls_per_s, 1e6 / t[i].native_calls_per_s,
               1e6 / t[i].library_calls_per_s);
    printf("}\n");
    xgbt_free(m);
    XGBoosterFree(b);
    free(data);
    return 0;
}
