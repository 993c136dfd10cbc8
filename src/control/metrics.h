/* metrics.h - berthd's /metrics, /healthz, /readyz and /sd/instances, served
 * on the management API's listener.
 *
 * /metrics is assembled from writers, one per subsystem, called in turn on
 * the API worker that serves the scrape: berthd's process_* figures, the API's
 * requests, the services and instances (reconciler) and the gateway are
 * built in; other subsystems add theirs with ctl_metrics_add() before the
 * API listener starts. A writer appends whole families (prom.h) and must be
 * thread-safe. /sd/instances lists the ready instances for Prometheus'
 * HTTP service discovery. */
#ifndef BERTH_CONTROL_METRICS_H
#define BERTH_CONTROL_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "http/server.h"

struct ctl_metrics;
struct ctl_reconciler;
struct gw_table;
struct gw_mset;
struct store;

struct ctl_metrics_config {
    struct ctl_reconciler *reconciler; /* services, instances, their usage; a pass is due */
    struct store *store;               /* must answer for /readyz */
    struct gw_table *routes;           /* the gateway's groups and versions */
    struct gw_mset *unrouted;          /* the gateway's requests that named no group */
    const char *token; /* NULL: open; else /metrics and /sd/instances want "Bearer <token>" */
};

typedef void (*ctl_metrics_write_fn)(struct buf *out, void *ud);

struct ctl_metrics *ctl_metrics_new(const struct ctl_metrics_config *cfg);
void ctl_metrics_free(struct ctl_metrics *m); /* accepts NULL */
/* Add a writer (at most 16 in all); before the API listener starts. */
void ctl_metrics_add(struct ctl_metrics *m, ctl_metrics_write_fn fn, void *ud);
/* Whether the gateway listens (set when it starts, cleared when it stops
 * taking requests): /readyz says so. Any thread. */
void ctl_metrics_set_gateway(struct ctl_metrics *m, bool listening);

/* Count one API request: 'action' one the API knows (else "other"), 'code'
 * its error code or "OK". Any thread; 'm' may be NULL. */
void ctl_metrics_api_count(struct ctl_metrics *m, const char *action, const char *code);
/* Every family, in the text format. */
void ctl_metrics_write(struct ctl_metrics *m, struct buf *out);

/* Answer GET (and HEAD) /metrics, /healthz, /readyz and /sd/instances;
 * false for any other request, which is the API's. 'm' may be NULL. */
bool ctl_metrics_serve(struct ctl_metrics *m, const struct http_request *req,
                       struct http_response *res);

/* What a service's ready instances use now, for the autoscaler: sums and
 * means over the ready instances that have been sampled (every
 * CTL_USAGE_EVERY_MS). ERR_NOTFOUND when the service is unknown. Any thread. */
struct ctl_usage {
    int ready, sampled;
    double cpu_cores, cpu_cores_mean;
    uint64_t memory_bytes, memory_bytes_mean;
};
int ctl_service_usage(struct ctl_reconciler *r, const char *service_id, struct ctl_usage *out);

#endif
