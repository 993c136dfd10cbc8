/* gw_metrics_bench.c - what the gateway's metrics add to one request, in
 * nanoseconds: gw_mreq_begin() + gw_mreq_end() (two clock reads, a code
 * counter, two histograms, in flight) on 1..N threads, each its own worker,
 * all on one version's set, next to the same counts kept in shared atomics
 * (the design it replaces: every worker adding to one set of counters) and
 * to the bare clock reads. Built by `make -f bench/bench.mk gw-metrics-bench`
 * after `make lib`; run as build/bench/gw_metrics_bench [THREADS] [MILLIONS]. */
#include "gateway/limits.h"
#include "gateway/metrics.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static struct gw_mset *set;
static long iters;
static _Atomic uint64_t shared_codes[36], shared_buckets[2][19], shared_sum[2], shared_started,
    shared_ended;
static volatile uint64_t sink;

enum mode { PER_WORKER, SHARED, CLOCKS };

struct arg {
    unsigned worker;
    enum mode mode;
};

static void *run(void *p)
{
    struct arg *a = p;
    uint64_t start = gw_now_ns();
    for (long i = 0; i < iters; i++) {
        if (a->mode == PER_WORKER) {
            struct gw_mreq r;
            /* The handler's start time is read anyway (the limiter takes it). */
            gw_mreq_begin(&r, set, a->worker, start);
            r.status = 200;
            gw_mreq_end(&r);
        } else if (a->mode == SHARED) {
            uint64_t t0 = gw_now_ns(), t1 = gw_now_ns();
            /* The same seven counts as a cell: started, code, two buckets, two sums, ended. */
            atomic_fetch_add(&shared_started, 1);
            atomic_fetch_add(&shared_codes[0], 1);
            atomic_fetch_add(&shared_buckets[0][(t1 - t0) & 7], 1);
            atomic_fetch_add(&shared_buckets[1][(t1 - t0) & 7], 1);
            atomic_fetch_add(&shared_sum[0], t1 - t0);
            atomic_fetch_add(&shared_sum[1], t1 - t0);
            atomic_fetch_add(&shared_ended, 1);
        } else {
            sink += gw_now_ns() + gw_now_ns();
        }
    }
    return NULL;
}

static double timed(unsigned threads, enum mode mode)
{
    pthread_t t[64];
    struct arg a[64];
    struct timespec s, e;
    clock_gettime(CLOCK_MONOTONIC, &s);
    for (unsigned i = 0; i < threads; i++) {
        a[i] = (struct arg){i, mode};
        pthread_create(&t[i], NULL, run, &a[i]);
    }
    for (unsigned i = 0; i < threads; i++)
        pthread_join(t[i], NULL);
    clock_gettime(CLOCK_MONOTONIC, &e);
    double ns = (double)(e.tv_sec - s.tv_sec) * 1e9 + (double)(e.tv_nsec - s.tv_nsec);
    return ns / (double)iters; /* per request per thread: wall time of each thread's share */
}

int main(int argc, char **argv)
{
    unsigned max_threads = argc > 1 ? (unsigned)atoi(argv[1]) : 2;
    iters = (argc > 2 ? atol(argv[2]) : 5) * 1000000L;
    if (max_threads < 1 || max_threads > 64)
        max_threads = 2;
    gw_metrics_set_workers(max_threads);
    set = gw_mset_new();
    printf("| threads | clock reads only, ns/req | per-worker cells, ns/req | shared atomics, ns/req |\n"
           "|---:|---:|---:|---:|\n");
    for (unsigned n = 1; n <= max_threads; n *= 2) {
        double c = timed(n, CLOCKS), p = timed(n, PER_WORKER), s = timed(n, SHARED);
        printf("| %u | %.1f | %.1f | %.1f |\n", n, c, p, s);
    }
    gw_mset_free(set);
    return 0;
}
