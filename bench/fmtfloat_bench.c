/* fmtfloat_bench.c - float32 text for predictions: the old loop against fmtfloat.
 *
 * Formats batches of 100 and 1000 typical prediction values the way
 * buf_json_float did before issue 7 (the first of %.6g..%.9g that reads back
 * through strtod: oracle_old_text in tests/unit/fmtfloat_oracle.h, kept there
 * as the reference) and with fmtfloat_write, in the same run, and prints ns per
 * value and the ratio. Two kinds of values: binary:logistic probabilities
 * (a sigmoid of margins in [-6, 6]) and regression outputs in [0, 500).
 * Each figure is the best of 15 passes of at least 20 ms, the old and the new
 * passes interleaved.
 *
 * usage: fmtfloat_bench
 * Build: make -f bench/bench.mk fmtfloat-tools
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/fmtfloat.h"
#include "fmtfloat_oracle.h"

static uint64_t rng_state = 0x853C49E6748FEA9BULL;

static double uniform(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (double)(rng_state >> 11) / 9007199254740992.0;
}

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static volatile size_t sink;

static size_t new_text(char *tmp, size_t size, float f)
{
    (void)size;
    return fmtfloat_write(tmp, f);
}

/* ns per value of one pass of at least 20 ms formatting vals[0..n) repeatedly. */
static double pass_ns(size_t (*fmt)(char *, size_t, float), const float *vals, size_t n)
{
    size_t reps = 0, total = 0;
    double t0 = now_ns(), t1;
    do {
        char tmp[64];
        for (size_t i = 0; i < n; i++)
            total += fmt(tmp, sizeof(tmp), vals[i]);
        reps++;
        t1 = now_ns();
    } while (t1 - t0 < 20e6);
    sink += total;
    return (t1 - t0) / (double)(reps * n);
}

/* The best of 15 passes each, old and new interleaved so that a change in the
 * machine's load falls on both. */
static void time_both(const float *vals, size_t n, double *old_ns, double *new_ns)
{
    *old_ns = *new_ns = 1e30;
    for (int pass = 0; pass < 15; pass++) {
        double o = pass_ns(oracle_old_text, vals, n), w = pass_ns(new_text, vals, n);
        *old_ns = o < *old_ns ? o : *old_ns;
        *new_ns = w < *new_ns ? w : *new_ns;
    }
}

int main(void)
{
    static float prob[1000], reg[1000];
    for (size_t i = 0; i < 1000; i++) {
        prob[i] = (float)(1.0 / (1.0 + exp(-(uniform() * 12.0 - 6.0))));
        reg[i] = (float)(uniform() * 500.0);
    }
    /* Sanity: the same text wherever the old loop's was already shortest. */
    size_t same = 0, shorter = 0;
    for (size_t i = 0; i < 2000; i++) {
        float v = i < 1000 ? prob[i] : reg[i - 1000];
        char a[64], b[FMTFLOAT_MAX];
        oracle_old_text(a, sizeof(a), v);
        fmtfloat_write(b, v);
        if (strcmp(a, b) == 0)
            same++;
        else if (strlen(b) < strlen(a))
            shorter++;
    }
    printf("fmtfloat_bench: %zu of 2000 texts as before, %zu shorter, %zu other\n", same, shorter,
           2000 - same - shorter);
    printf("| values | batch | old loop ns/value | fmtfloat ns/value | old ÷ new |\n");
    printf("| --- | --- | --- | --- | --- |\n");
    static const size_t batches[] = {100, 1000};
    for (int kind = 0; kind < 2; kind++) {
        const float *vals = kind == 0 ? prob : reg;
        for (size_t b = 0; b < 2; b++) {
            double old_ns, new_ns;
            time_both(vals, batches[b], &old_ns, &new_ns);
            printf("| %s | %zu | %.1f | %.1f | %.1f |\n",
                   kind == 0 ? "probabilities" : "regression", batches[b], old_ns, new_ns,
                   old_ns / new_ns);
        }
    }
    return 0;
}
