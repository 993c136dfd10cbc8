/* fmtfloat_check.c - fmtfloat_write() against the oracle on every float32.
 *
 * Every positive finite bit pattern goes through tests/unit/fmtfloat_oracle.h
 * (reads back with strtof, no shorter decimal reads back, nearest of its
 * length, %g's layout); its negative twin must print as "-" and the same text;
 * zeros, infinities and NaNs are counted as skipped (the caller spells those).
 * Also counted, not failed: texts that read back differently through strtod
 * followed by a cast to float (a double-rounding reader such as Python's
 * json + numpy.float32).
 *
 * usage: fmtfloat_check [--threads N] [--from HEX] [--to HEX]
 *   --from/--to  a sub-range of the positive patterns 0..0x7f7fffff (default all)
 * Prints progress to stderr and one summary line; exits 1 on any failure.
 *
 * Build: make -f bench/bench.mk fmtfloat-tools; run niced, it takes a while:
 *   nice -n 19 build/bench/fmtfloat_check --threads 2
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/fmtfloat.h"
#include "fmtfloat_oracle.h"

#define CHUNK (1u << 20)

static uint32_t range_from = 1, range_to = 0x7F7FFFFF; /* inclusive */
static atomic_uint_fast64_t next_chunk;
static atomic_uint_fast64_t failures, double_rounding, checked;
static atomic_uint_fast64_t by_digits[10];
static pthread_mutex_t print_lock = PTHREAD_MUTEX_INITIALIZER;

static void report(uint32_t bits, const char *txt, const char *why)
{
    if (atomic_fetch_add(&failures, 1) >= 20)
        return;
    float v;
    memcpy(&v, &bits, sizeof(v));
    pthread_mutex_lock(&print_lock);
    printf("FAIL 0x%08x (%.9g) -> '%s': %s\n", (unsigned)bits, (double)v, txt, why);
    fflush(stdout);
    pthread_mutex_unlock(&print_lock);
}

static void *worker(void *arg)
{
    (void)arg;
    uint64_t local_digits[10] = {0};
    for (;;) {
        uint64_t c = atomic_fetch_add(&next_chunk, 1);
        uint64_t lo = (uint64_t)range_from + c * CHUNK;
        if (lo > range_to)
            break;
        uint64_t hi = lo + CHUNK - 1 > range_to ? range_to : lo + CHUNK - 1;
        uint64_t dr = 0;
        for (uint64_t b = lo; b <= hi; b++) {
            uint32_t bits = (uint32_t)b, nbits = bits | 0x80000000u;
            float v, nv;
            memcpy(&v, &bits, sizeof(v));
            memcpy(&nv, &nbits, sizeof(nv));
            char txt[FMTFLOAT_MAX + 8], ntxt[FMTFLOAT_MAX + 8], why[128];
            size_t n = fmtfloat_write(txt, v);
            if (n >= FMTFLOAT_MAX || strlen(txt) != n) {
                report(bits, txt, "length");
                continue;
            }
            int nd = 0;
            double back = 0;
            if (oracle_check(v, txt, why, sizeof(why), &nd, &back))
                report(bits, txt, why);
            size_t nn = fmtfloat_write(ntxt, nv);
            if (nn != n + 1 || ntxt[0] != '-' || strcmp(ntxt + 1, txt) != 0)
                report(nbits, ntxt, "negative is not '-' and the positive's text");
            if ((float)back != v)
                dr++;
            local_digits[nd >= 1 && nd <= 9 ? nd : 0]++;
        }
        atomic_fetch_add(&double_rounding, dr);
        uint64_t done = atomic_fetch_add(&checked, hi - lo + 1) + (hi - lo + 1);
        if (c % 64 == 0)
            fprintf(stderr, "fmtfloat_check: %.1f%% (up to 0x%08llx)\n",
                    100.0 * (double)done / ((double)range_to - range_from + 1),
                    (unsigned long long)hi);
    }
    for (int i = 0; i < 10; i++)
        atomic_fetch_add(&by_digits[i], local_digits[i]);
    return NULL;
}

int main(int argc, char **argv)
{
    int threads = 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (strcmp(argv[i], "--from") == 0 && i + 1 < argc)
            range_from = (uint32_t)strtoul(argv[++i], NULL, 16);
        else if (strcmp(argv[i], "--to") == 0 && i + 1 < argc)
            range_to = (uint32_t)strtoul(argv[++i], NULL, 16);
        else {
            fprintf(stderr, "usage: fmtfloat_check [--threads N] [--from HEX] [--to HEX]\n");
            return 2;
        }
    }
    if (range_from == 0)
        range_from = 1; /* zero is the caller's */
    if (range_to > 0x7F7FFFFF)
        range_to = 0x7F7FFFFF; /* past FLT_MAX: infinity and NaNs */
    if (threads < 1 || threads > 256 || range_from > range_to) {
        fprintf(stderr, "fmtfloat_check: bad arguments\n");
        return 2;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pthread_t tid[256];
    for (int i = 0; i < threads; i++)
        pthread_create(&tid[i], NULL, worker, NULL);
    for (int i = 0; i < threads; i++)
        pthread_join(tid[i], NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    uint64_t n = atomic_load(&checked);
    /* Of the 2^32 patterns, those not checked: the zeros, infinities and NaNs. */
    uint64_t skipped = range_from == 1 && range_to == 0x7F7FFFFF ? (1ULL << 32) - 2 * n : 0;
    printf("fmtfloat_check: range 0x%08x..0x%08x, %llu positive floats and their negatives "
           "checked (%llu patterns skipped: zeros, infinities, NaNs) in %.0f s on %d threads; "
           "%llu failures; %llu texts read back differently through (float)strtod\n",
           (unsigned)range_from, (unsigned)range_to, (unsigned long long)n,
           (unsigned long long)skipped, s, threads, (unsigned long long)atomic_load(&failures),
           (unsigned long long)atomic_load(&double_rounding));
    printf("fmtfloat_check: digits");
    for (int i = 1; i < 10; i++)
        printf(" %d:%llu", i, (unsigned long long)atomic_load(&by_digits[i]));
    printf("\n");
    return atomic_load(&failures) ? 1 : 0;
}
