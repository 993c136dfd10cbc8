/* hpa.h - runs the HorizontalPodAutoscaler of ScaleStrategy HPA services
 * (docs/autoscaling.md). Every CTL_HPA_PERIOD_MS on the main loop it
 * measures each HPA service that is not stopped -- its instances' CPU and
 * memory (ctl_reconciler_status(), as a share of the spec's Cpu and Memory),
 * the requests the gateway forwarded to it and has in flight
 * (gw_metrics_load()) and the requests held for it at zero (gw_held()) --
 * and asks ctl_hpa_decide() (autoscaler.h) how many instances it should run.
 * A change goes into the store as desired replicas with an HpaScaled event
 * that carries the decision's reason, and the reconciler is kicked, as for
 * ServiceAction SCALE: it only writes desired state. A request held for a
 * version at zero wakes it at once through ctl_hpa_wake() (the gateway's
 * wake callback), without waiting for the next sample. Main loop, except
 * ctl_hpa_wake() and ctl_hpa_kick(), which any thread may call. */
#ifndef BERTH_CTL_HPA_H
#define BERTH_CTL_HPA_H

#include <jansson.h>
#include <stdbool.h>
#include <uv.h>

#include "control/autoscaler.h"
#include "control/reconciler.h"
#include "gateway/gateway.h"
#include "store/store.h"

#define CTL_HPA_PERIOD_MS 1000
#define CTL_HPA_MAX_REPLICAS 64 /* as the API checks */

struct ctl_hpa;

struct ctl_hpa *ctl_hpa_start(uv_loop_t *loop, struct store *st, struct ctl_reconciler *rec,
                              struct gw_table *routes);
/* The gateway whose held requests count (made after the autoscaler, since
 * its wake callback is ctl_hpa_wake); NULL: none. */
void ctl_hpa_set_gateway(struct ctl_hpa *h, struct gw_gateway *gw);
/* The gateway's wake callback: a request waits for 'service_id' at zero;
 * 'ud' is the ctl_hpa. Any thread. */
void ctl_hpa_wake(const char *service_id, void *ud);
/* Sample now (a spec changed). Any thread. */
void ctl_hpa_kick(struct ctl_hpa *h);
/* Close the handles; freed once they are closed. Accepts NULL. */
void ctl_hpa_stop(struct ctl_hpa *h);

/* Whether a stored spec is an HPA one that a request wakes from zero
 * (MinReplicas 0), for the routes the reconciler publishes. */
bool ctl_hpa_wakes_from_zero(const json_t *spec);

/* Pure helpers, for the above and the unit tests. */
/* The per-instance capacity of the fast path: the concurrency-util target,
 * else the spec's ServiceLimit.InstanceReqLimit when enabled, else 0. */
double ctl_hpa_panic_capacity(const struct ctl_hpa_spec *hpa, const json_t *spec);
/* One instance's utilisation of its spec, in percent: NAN when unknown. */
double ctl_hpa_util(double used, double spec);

#endif
