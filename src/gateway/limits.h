/* limits.h - the gateway's rate limits, shared by every worker thread.
 *
 * - A rate (requests per second: a version's InstanceRpsLimit x its ready
 *   instances, a group's total cap) is a GCRA: one atomic "theoretical
 *   arrival time" per limit, advanced by compare-and-swap, no lock. Over any
 *   window of t seconds it lets through at most rate x t + burst requests,
 *   where burst = max(4, rate / 10): 100 ms of the rate at once, then the
 *   rate. The burst also keeps a client whose requests come unevenly (a
 *   pause shorter than the burst) from losing its rate.
 *   The rate may change at any time (replicas come and go) without losing
 *   the state.
 * - Concurrency (InstanceReqLimit x ready instances) is an atomic count of
 *   requests in flight.
 * - A token's quota (Max per minute or per day) never lets more than Max
 *   through in any window of that length, aligned or not. Up to
 *   GW_WINDOW_EXACT_MAX it is exact: the times of the requests it let
 *   through in the last window, in a ring that grows with use. A larger
 *   quota counts per bucket of span/1024 and counts a bucket until all of it
 *   has left the window, so memory stays 8 KiB and it may let a request
 *   through up to span/1024 later than an exact count would (84 s a day).
 *   Each window has a mutex of its own; only calls with such a token take it.
 * Times are CLOCK_MONOTONIC nanoseconds (gw_now_ns). */
#ifndef BERTH_GATEWAY_LIMITS_H
#define BERTH_GATEWAY_LIMITS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

uint64_t gw_now_ns(void);

struct gw_rate {
    _Atomic uint64_t tat; /* theoretical arrival time of the next request */
};

/* Take one request at 'rate' per second (> 0) at 'now'. Returns 0, or the
 * nanoseconds until one would be let through. */
uint64_t gw_rate_take(struct gw_rate *r, double rate, uint64_t now);

/* In-flight requests against a limit. */
struct gw_inflight {
    atomic_long n;
};

/* One more in flight, when fewer than 'max' are; false otherwise. */
bool gw_inflight_enter(struct gw_inflight *f, long max);
void gw_inflight_leave(struct gw_inflight *f);

/* Quotas up to this are kept exactly, one time per request; larger ones in
 * GW_WINDOW_BUCKETS + 1 counts of span / GW_WINDOW_BUCKETS each. */
#define GW_WINDOW_EXACT_MAX 4096
#define GW_WINDOW_BUCKETS 1024

struct gw_window {
    pthread_mutex_t lock;
    uint64_t *times; /* ring of accepted request times */
    size_t cap, head, n;
    uint64_t *counts; /* the buckets, a ring by bucket number */
    uint64_t last;    /* the newest bucket number counted */
    uint64_t total;   /* sum of counts */
};

void gw_window_init(struct gw_window *w);
void gw_window_release(struct gw_window *w);
/* Take one request for a quota of 'max' per 'span_ns' at 'now'. Returns 0,
 * or the nanoseconds until the oldest request in the window leaves it. */
uint64_t gw_window_take(struct gw_window *w, uint64_t max, uint64_t span_ns, uint64_t now);

#endif
