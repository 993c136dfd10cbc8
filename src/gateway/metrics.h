/* metrics.h - the gateway's request counters and latency histograms, by
 * group, version (ServiceId) and status code, for berthd's /metrics.
 *
 * Each version's limiter state (gw_vstate) and each group's (gw_gstate) owns
 * a metric set, so the counts live as long as the route tables list that id
 * and a deleted one's series go with it. A set holds one cell per gateway
 * worker thread, made by that worker on its first request: a worker writes
 * only its own cells (relaxed loads and stores, no locked instruction and no
 * shared cache line on the request path), and a scrape sums the cells of
 * every worker. Codes are counted in a bounded set: the common ones by
 * number, the rest by class ("2xx", ...). */
#ifndef BERTH_GATEWAY_METRICS_H
#define BERTH_GATEWAY_METRICS_H

#include <stdint.h>

#include "base/buf.h"

struct gw_mset;
struct gw_table;
struct gw_group;
struct gw_version;

/* The number of gateway workers, before any set is made (berthd: before the
 * reconciler publishes routes). Sets count only workers below it; default 1. */
void gw_metrics_set_workers(unsigned n);
struct gw_mset *gw_mset_new(void);
void gw_mset_free(struct gw_mset *m); /* accepts NULL */

/* A request the gateway answered itself ('status': 401, 403, 404, 429, 503),
 * on worker 'worker'. 'm' may be NULL (nothing is counted). */
void gw_metrics_answer(struct gw_mset *m, unsigned worker, int status);
/* The same, counted at version 'v' of 'g' or, when v is NULL, at the group. */
void gw_metrics_refused(struct gw_group *g, struct gw_version *v, unsigned worker, int status);

/* A request forwarded to an instance, from gw_mreq_begin() (in flight; the
 * upstream's time starts) to gw_mreq_end() (the answer ended, or the client
 * went away: status 0 counts as 499). The gateway's overhead is the rest of
 * the time from 'start_ns' (when the handler began) to the end. */
struct gw_mreq {
    struct gw_mset *m; /* NULL: not counted */
    unsigned worker;
    int status; /* the status sent to the client, once known */
    uint64_t start_ns, sent_ns, done_ns;
};
void gw_mreq_begin(struct gw_mreq *r, struct gw_mset *m, unsigned worker, uint64_t start_ns);
/* The upstream failed with 'rc' (http_client's on_done): counted by reason,
 * and the status becomes the gateway's answer (502, 503, 504) unless the
 * upstream's head was sent already. */
void gw_mreq_failed(struct gw_mreq *r, int rc);
/* A connection to an instance failed and the request goes to another. */
void gw_mreq_failover(struct gw_mreq *r);
void gw_mreq_end(struct gw_mreq *r);

/* What the autoscaler reads of one version, summed over the workers as a
 * scrape does: requests forwarded so far (a counter) and in flight now.
 * ERR_NOTFOUND when the routes do not list it. Any thread; cheap (one pass
 * over the version's cells), for a sample a second, never per request. */
struct gw_load {
    uint64_t forwarded;
    uint64_t inflight;
};
int gw_metrics_load(struct gw_table *routes, const char *service_id, struct gw_load *out);

/* Append the gateway's families to 'out', summed over the workers: every
 * group and version the current routes list, and the requests that named
 * none ('unrouted', group and version ""). Any thread. */
void gw_metrics_write(struct buf *out, struct gw_table *routes, struct gw_mset *unrouted);

#endif
