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
 * - A token's quota (Max per minute or per day) is exact over any window of
 *   that length, not only aligned ones: the times of the requests it let
 *   through in the last window, kept in a ring that grows with use (at most
 *   Max entries) behind a mutex of its own; only calls with such a token take
 *   it.
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

struct gw_window {
    pthread_mutex_t lock;
    uint64_t *times; /* ring of accepted request times */
    size_t cap, head, n;
};

void gw_window_init(struct gw_window *w);
void gw_window_release(struct gw_window *w);
/* Take one request for a quota of 'max' per 'span_ns' at 'now'. Returns 0,
 * or the nanoseconds until the oldest request in the window leaves it. */
uint64_t gw_window_take(struct gw_window *w, uint64_t max, uint64_t span_ns, uint64_t now);

#endif
