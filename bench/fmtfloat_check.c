/* fmtfloat_check.c - fmtfloat_write() against the oracle on every float32.
 *
 * Every positive finite bit pattern is checked: it reads back through strtof,
 * no shorter decimal reads back, it is the nearest of its length that does and
 * it has %g's layout; its negative twin must print as "-" and the same text;
 * zeros, infinities and NaNs are counted as skipped (the caller spells those).
 * Also counted, not failed: texts that read back differently through strtod
 * followed by a cast to float (a double-rounding reader such as Python's
 * json + numpy.float32).
 *
 * By default the checks run in double arithmetic against the float's interval
 * (halfway to nextafterf either side), with a margin of 2^-48 for the
 * decimals' own rounding, and fall back to strtof or printf inside that margin
 * (fast_check below, ~8x cheaper); --full uses tests/unit/fmtfloat_oracle.h,
 * glibc's printf and strtof for every decision, as the unit tests do.
 *
 * usage: fmtfloat_check [--full] [--threads N] [--from HEX] [--to HEX]
 *   --from/--to  a sub-range of the positive patterns 0..0x7f7fffff (default all)
 * Prints progress to stderr and one summary line; exits 1 on any failure.
 *
 * Build: make -f bench/bench.mk fmtfloat-tools; run niced, it takes a while:
 *   nice -n 19 build/bench/fmtfloat_check --threads 2
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
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

/* ------------------------------------------------------------------------ */
/* The fast check                                                           */

/* m * 10^e as a double within 2 ulps (m < 2^53, |e| <= 66). */
static double dec_value(uint64_t m, int e)
{
    static const double p10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                 1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    double x = (double)m;
    for (; e > 22; e -= 22)
        x *= 1e22;
    for (; e < -22; e += 22)
        x /= 1e22;
    return e >= 0 ? x * p10[e] : x / p10[-e];
}

/* The reals that read back as v: lo..hi, the ends included when v's
 * significand is even. Both are exact doubles (halfway between two floats). */
struct interval {
    float v;
    double lo, hi;
};

static struct interval interval_of(float v)
{
    float prev = nextafterf(v, 0), next = nextafterf(v, INFINITY);
    struct interval r = {v, ((double)v + prev) / 2, ((double)v + next) / 2};
    if (isinf(next)) /* FLT_MAX: the gap above is the gap below */
        r.hi = (double)v + ((double)v - prev) / 2;
    return r;
}

#define MARGIN 0x1p-48

/* Whether m * 10^e reads back as v: by doubles, or by strtof near an end. */
static bool inside(const struct interval *iv, uint64_t m, int e)
{
    double y = dec_value(m, e);
    if (y < iv->lo * (1 - MARGIN) || y > iv->hi * (1 + MARGIN))
        return false;
    if (y > iv->lo * (1 + MARGIN) && y < iv->hi * (1 - MARGIN))
        return true;
    return oracle_reads_back((struct oracle_dec){m, e, 0}, iv->v);
}

/* The integers m with m * 10^f within the interval's reach of v. */
static void grid_range(const struct interval *iv, int f, int64_t *from, int64_t *to)
{
    double unit = dec_value(1, f), t = (double)iv->v / unit;
    double reach = (iv->hi - iv->lo) / unit + 2;
    *from = (int64_t)floor(t - reach);
    *to = (int64_t)ceil(t + reach);
}

/* 0 if 'txt' is right for positive finite 'v'; else 1 and a reason in 'why'.
 * *near_end says whether the text lies too close to an end of the interval
 * to know without strtod how a reader that rounds twice takes it. */
static int fast_check(float v, const char *txt, char *why, size_t whylen, int *ndigits,
                      bool *near_end)
{
    struct oracle_dec d;
    if (!oracle_parse(txt, &d) || txt[0] == '-')
        return snprintf(why, whylen, "unparsable text"), 1;
    *ndigits = d.n;
    struct interval iv = interval_of(v);
    if (iv.hi - iv.lo > (double)v) /* the smallest subnormals: many digits fit */
        return oracle_check(v, txt, why, whylen, ndigits, &(double){0});
    if (!inside(&iv, d.m, d.exp))
        return snprintf(why, whylen, "does not read back"), 1;
    /* strtod then a cast to float can differ only next to an end. */
    double y0 = dec_value(d.m, d.exp);
    if (y0 < iv.lo * (1 + MARGIN) || y0 > iv.hi * (1 - MARGIN))
        *near_end = true;
    int xv = (int)floor(log10((double)v));
    uint64_t pn = oracle_pow10(d.n), pn1 = oracle_pow10(d.n - 1);
    double y = dec_value(d.m, d.exp), dy = fabs(y - (double)v);
    /* A decimal of fewer digits whose first digit is at 10^x is a multiple of
     * 10^(x - n + 2); x is within one of v's own (the interval is narrow). */
    for (int x = xv - 2; x <= xv + 2; x++) {
        int64_t from, to;
        int f = x - d.n + 2;
        grid_range(&iv, f, &from, &to);
        for (int64_t m = from < 1 ? 1 : from; m <= to && (uint64_t)m < pn1; m++)
            if (d.n > 1 && inside(&iv, (uint64_t)m, f))
                return snprintf(why, whylen, "%llde%d has fewer digits and reads back",
                                (long long)m, f),
                       1;
        /* Decimals of as many digits: none inside may be nearer to v. */
        f = x - d.n + 1;
        grid_range(&iv, f, &from, &to);
        for (int64_t m = from < (int64_t)pn1 ? (int64_t)pn1 : from; m <= to && (uint64_t)m < pn;
             m++) {
            if ((f == d.exp && (uint64_t)m == d.m) || m % 10 == 0 || !inside(&iv, (uint64_t)m, f))
                continue;
            double dm = fabs(dec_value((uint64_t)m, f) - (double)v);
            if (fabs(dm - dy) <= (double)v * 0x1p-46) { /* too close to call: printf */
                struct oracle_dec r = oracle_nearest(v, d.n);
                if (!oracle_reads_back(r, v) || !oracle_equal(r, d))
                    return snprintf(why, whylen, "near tie with %llde%d, printf says %llue%d",
                                    (long long)m, f, (unsigned long long)r.m, r.exp),
                           1;
            } else if (dm < dy) {
                return snprintf(why, whylen, "%llde%d is nearer and reads back", (long long)m, f),
                       1;
            }
        }
    }
    char g[64];
    snprintf(g, sizeof(g), "%.*g", d.n > 6 ? d.n : 6, y);
    if (strcmp(g, txt) != 0)
        return snprintf(why, whylen, "layout differs from %%g's '%s'", g), 1;
    return 0;
}

/* ------------------------------------------------------------------------ */

static bool full; /* --full: the glibc oracle for every decision */

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
            bool near_end = full;
            if (full ? oracle_check(v, txt, why, sizeof(why), &nd, &back)
                     : fast_check(v, txt, why, sizeof(why), &nd, &near_end))
                report(bits, txt, why);
            size_t nn = fmtfloat_write(ntxt, nv);
            if (nn != n + 1 || ntxt[0] != '-' || strcmp(ntxt + 1, txt) != 0)
                report(nbits, ntxt, "negative is not '-' and the positive's text");
            if (near_end && (float)strtod(txt, NULL) != v)
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
        if (strcmp(argv[i], "--full") == 0)
            full = true;
        else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (strcmp(argv[i], "--from") == 0 && i + 1 < argc)
            range_from = (uint32_t)strtoul(argv[++i], NULL, 16);
        else if (strcmp(argv[i], "--to") == 0 && i + 1 < argc)
            range_to = (uint32_t)strtoul(argv[++i], NULL, 16);
        else {
            fprintf(stderr,
                    "usage: fmtfloat_check [--full] [--threads N] [--from HEX] [--to HEX]\n");
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
           "checked%s (%llu patterns skipped: zeros, infinities, NaNs) in %.0f s on %d threads; "
           "%llu failures; %llu texts read back differently through (float)strtod\n",
           (unsigned)range_from, (unsigned)range_to, (unsigned long long)n,
           full ? " by the glibc oracle" : "", (unsigned long long)skipped, s, threads,
           (unsigned long long)atomic_load(&failures),
           (unsigned long long)atomic_load(&double_rounding));
    printf("fmtfloat_check: digits");
    for (int i = 1; i < 10; i++)
        printf(" %d:%llu", i, (unsigned long long)atomic_load(&by_digits[i]));
    printf("\n");
    return atomic_load(&failures) ? 1 : 0;
}
