/* wake.h - requests held for a version at zero instances (scale from zero,
 * docs/autoscaling.md). A request for a version the control plane can wake
 * (an HPA service with MinReplicas 0, gw_version.wakeable) that has no ready
 * instance waits here instead of getting 503: the waker tells the control
 * plane (its wake callback, any thread), and each worker looks again as soon
 * as a new route table is published (every GW_WAKE_POLL_MS) and hands the
 * request back to the gateway to forward. Bounded: GW_WAKE_MAX_REQUESTS
 * requests and GW_WAKE_MAX_BYTES of their copied heads in all; past either
 * the request gets 503 at once, and one that waits longer than the timeout
 * gets 503 then. Each worker's queue is its own; the counts are shared. */
#ifndef BERTH_GATEWAY_WAKE_H
#define BERTH_GATEWAY_WAKE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "gateway/routes.h"

#define GW_WAKE_MAX_REQUESTS 1024
#define GW_WAKE_MAX_BYTES (8u << 20)
#define GW_WAKE_TIMEOUT_MS_DEFAULT 30000
#define GW_WAKE_POLL_MS 5

struct gw_waker;

/* One held request, embedded in the gateway's own. */
struct gw_wait {
    struct gw_wait *prev, *next;
    uint64_t deadline_ns;
    size_t bytes;
    unsigned worker;
    char service_id[64]; /* the version whose held count it is */
};

enum gw_wait_result { GW_WAIT_AGAIN, GW_WAIT_DONE };

struct gw_waker_config {
    unsigned num_threads;
    uint64_t timeout_ms; /* 0: GW_WAKE_TIMEOUT_MS_DEFAULT */
    struct gw_table *routes;
    /* Called on the worker: try to forward 'w' now (GW_WAIT_DONE: it went or
     * was answered, and is no longer the waker's); or answer it, it waited
     * too long ('expired'). */
    enum gw_wait_result (*retry)(struct gw_wait *w, void *ud);
    void (*expired)(struct gw_wait *w, void *ud);
    void *ud;
    /* The control plane: start an instance of 'service_id'. Any thread. */
    void (*wake)(const char *service_id, void *wake_ud);
    void *wake_ud;
};

struct gw_waker *gw_waker_new(const struct gw_waker_config *cfg);
void gw_waker_free(struct gw_waker *w); /* accepts NULL; after every worker stopped */

/* Whether a request for 'v' (or, NULL, for group 'g' by weight) with no ready
 * instance should wait; if so, *counted is the version that counts it. */
bool gw_waker_wants(const struct gw_group *g, const struct gw_version *v,
                    const struct gw_version **counted);
/* Wake every wakeable version a request for 'v' (or 'g') could go to. */
void gw_waker_wake(struct gw_waker *w, const struct gw_group *g, const struct gw_version *v);
/* Hold 'wait' (service_id set, 'bytes' its size) on the calling worker
 * 'worker' whose loop is 'loop'. ERR_TOOBIG when the queue is full. */
int gw_waker_hold(struct gw_waker *w, struct gw_wait *wait, unsigned worker, uv_loop_t *loop);
/* Take 'wait' out (the client went away). On its worker. */
void gw_waker_remove(struct gw_waker *w, struct gw_wait *wait);
/* Requests held now for 'service_id'. Any thread. */
unsigned gw_waker_held(struct gw_waker *w, const char *service_id);
/* Answer every request held on 'worker' (the gateway stops); close its timer. */
void gw_waker_worker_stop(struct gw_waker *w, unsigned worker);

#endif
