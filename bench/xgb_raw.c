/* xgb_raw.c - reference timing of XGBoost's in-place C API prediction.
 *
 * Loads a model file with XGBoosterLoadModelFromBuffer and times
 * XGBoosterPredictFromDense in a loop, for batch 1 and batch 100 (or the
 * sizes given with --batches), on one thread. This is the floor that
 * berth-serve's per-request overhead is measured against: the server makes
 * the same call, plus HTTP and JSON.
 *
 * usage: xgb_raw MODEL [--data FILE.f32] [--batches 1,100] [--seconds S] [--max-calls N]
 *   MODEL        model file in any format XGBoost loads (JSON, UBJSON, binary)
 *   --data       raw little-endian float32 rows of F features (F from the
 *                model); at least as many rows as the largest batch.
 *                Default: pseudo-random values in [0,1).
 *   --batches    comma-separated batch sizes to time (default 1,100; at most 8)
 *   --seconds    time spent per batch size (default 2), after a warm-up
 *   --max-calls  cap on timed calls per batch size (default 1000000)
 *
 * Prints one JSON line:
 *   {"features":F,"nthread":1,"batch1":{"calls":..,"calls_per_s":..,
 *    "rows_per_s":..,"p50_us":..,"p99_us":..,"mean_us":..},"batch100":{...},
 *    "pred_row0":..}   (one "batchN" object per --batches entry)
 * pred_row0 is the prediction for the first row, for cross-checking the server.
 *
 * Build: gcc -O2 -o xgb_raw xgb_raw.c -lxgboost -lm   (see bench/bench.mk)
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <xgboost/c_api.h>

#define MAX_BATCHES 8

#define CHECK_XGB(call)                                                        \
    do {                                                                       \
        if ((call) != 0) {                                                     \
            fprintf(stderr, "xgb_raw: %s: %s\n", #call, XGBGetLastError());    \
            exit(1);                                                           \
        }                                                                      \
    } while (0)

static const char *PREDICT_CONFIG =
    "{\"type\":0,\"training\":false,\"iteration_begin\":0,\"iteration_end\":0,"
    "\"strict_shape\":false,\"missing\":NaN,\"nthread\":1,\"cache_id\":0}";

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "xgb_raw: %s: %s\n", path, strerror(errno));
        exit(1);
    }
    size_t cap = 1 << 20, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (n == cap) {
            cap *= 2;
            buf = realloc(buf, cap);
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        if (got == 0)
            break;
        n += got;
    }
    if (ferror(f)) {
        fprintf(stderr, "xgb_raw: %s: read error\n", path);
        exit(1);
    }
    fclose(f);
    *len = n;
    return buf;
}

struct result {
    long calls;
    double calls_per_s, p50_us, p99_us, mean_us;
};

static float run_batch(BoosterHandle b, const float *data, long rows, long feats,
                       double seconds, long max_calls, struct result *r)
{
    char iface[256];
    snprintf(iface, sizeof iface,
             "{\"data\":[%llu,true],\"shape\":[%ld,%ld],\"typestr\":\"<f4\",\"version\":3}",
             (unsigned long long)(uintptr_t)data, rows, feats);
    const bst_ulong *shape;
    bst_ulong dim;
    const float *out;

    /* correctness: output must be [rows] (or [rows, K] for multi-class) */
    CHECK_XGB(XGBoosterPredictFromDense(b, iface, PREDICT_CONFIG, NULL, &shape, &dim, &out));
    if (dim < 1 || shape[0] != (bst_ulong)rows) {
        fprintf(stderr, "xgb_raw: unexpected output shape (dim %llu, shape[0] %llu)\n",
                (unsigned long long)dim, dim ? (unsigned long long)shape[0] : 0ULL);
        exit(1);
    }
    float first = out[0];

    /* warm-up: bounded in time (0.2 s) and count */
    double t0 = now_us();
    for (int i = 0; i < 2000 && now_us() - t0 < 200000.0; i++)
        CHECK_XGB(XGBoosterPredictFromDense(b, iface, PREDICT_CONFIG, NULL, &shape, &dim, &out));

    double *lat = malloc(sizeof(double) * (size_t)max_calls);
    long n = 0;
    double start = now_us(), end = start + seconds * 1e6, t = start;
    while (n < max_calls && t < end) {
        double s = t;
        CHECK_XGB(XGBoosterPredictFromDense(b, iface, PREDICT_CONFIG, NULL, &shape, &dim, &out));
        t = now_us();
        lat[n++] = t - s;
    }
    double total = t - start;
    qsort(lat, (size_t)n, sizeof(double), cmp_double);
    r->calls = n;
    r->calls_per_s = n / (total / 1e6);
    r->mean_us = total / n;
    r->p50_us = lat[(size_t)((n - 1) * 0.50)];
    r->p99_us = lat[(size_t)((n - 1) * 0.99)];
    free(lat);
    return first;
}

static void print_result(const char *name, long rows, const struct result *r)
{
    printf("\"%s\":{\"calls\":%ld,\"calls_per_s\":%.1f,\"rows_per_s\":%.1f,"
           "\"p50_us\":%.2f,\"p99_us\":%.2f,\"mean_us\":%.2f}",
           name, r->calls, r->calls_per_s, r->calls_per_s * rows, r->p50_us, r->p99_us,
           r->mean_us);
}

int main(int argc, char **argv)
{
    const char *model = NULL, *data_path = NULL;
    double seconds = 2.0;
    long max_calls = 1000000;
    long batches[MAX_BATCHES] = {1, 100};
    int nbatches = 2;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--data") && i + 1 < argc)
            data_path = argv[++i];
        else if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
            seconds = atof(argv[++i]);
        else if (!strcmp(argv[i], "--max-calls") && i + 1 < argc)
            max_calls = atol(argv[++i]);
        else if (!strcmp(argv[i], "--batches") && i + 1 < argc) {
            char *p = argv[++i], *end;
            for (nbatches = 0; *p && nbatches < MAX_BATCHES; p = *end ? end + 1 : end) {
                batches[nbatches] = strtol(p, &end, 10);
                if (end == p || batches[nbatches] < 1 || (*end && *end != ',')) {
                    fprintf(stderr, "xgb_raw: bad --batches\n");
                    return 2;
                }
                nbatches++;
            }
        }
        else if (argv[i][0] != '-' && !model)
            model = argv[i];
        else {
            fprintf(stderr, "usage: xgb_raw MODEL [--data FILE.f32] [--batches 1,100] [--seconds S] [--max-calls N]\n");
            return 2;
        }
    }
    if (!model || seconds <= 0 || max_calls < 1) {
        fprintf(stderr, "usage: xgb_raw MODEL [--data FILE.f32] [--batches 1,100] [--seconds S] [--max-calls N]\n");
        return 2;
    }

    size_t mlen;
    void *mbuf = read_file(model, &mlen);
    BoosterHandle b;
    CHECK_XGB(XGBoosterCreate(NULL, 0, &b));
    CHECK_XGB(XGBoosterLoadModelFromBuffer(b, mbuf, (bst_ulong)mlen));
    free(mbuf);
    /* In-place prediction in XGBoost 1.7 runs on the booster's thread count and
     * does not honour the config's "nthread"; pin the booster to one thread too,
     * so the reference really is single-threaded. */
    CHECK_XGB(XGBoosterSetParam(b, "nthread", "1"));
    bst_ulong nfeat;
    CHECK_XGB(XGBoosterGetNumFeature(b, &nfeat));
    long feats = (long)nfeat;

    long need = 1;
    for (int i = 0; i < nbatches; i++)
        if (batches[i] > need)
            need = batches[i];
    float *data;
    if (data_path) {
        size_t dlen;
        data = read_file(data_path, &dlen);
        if (dlen % (sizeof(float) * feats) != 0 || dlen / (sizeof(float) * feats) < (size_t)need) {
            fprintf(stderr, "xgb_raw: %s: need >= %ld rows of %ld float32 features\n", data_path,
                    need, feats);
            return 1;
        }
    } else {
        data = malloc(sizeof(float) * need * feats);
        uint32_t s = 12345;
        for (long i = 0; i < need * feats; i++) {
            s = s * 1664525u + 1013904223u;
            data[i] = (float)(s >> 8) / 16777216.0f;
        }
    }

    struct result r[MAX_BATCHES];
    float pred0 = 0;
    for (int i = 0; i < nbatches; i++) {
        float p = run_batch(b, data, batches[i], feats, seconds, max_calls, &r[i]);
        if (i == 0)
            pred0 = p;
    }

    printf("{\"features\":%ld,\"nthread\":1,", feats);
    for (int i = 0; i < nbatches; i++) {
        char name[32];
        snprintf(name, sizeof name, "batch%ld", batches[i]);
        print_result(name, batches[i], &r[i]);
        printf(",");
    }
    printf("\"pred_row0\":%.9g}\n", pred0);

    XGBoosterFree(b);
    free(data);
    return 0;
}
