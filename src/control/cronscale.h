/* cronscale.h - runs the CronScaleJobs of ScaleStrategy CRON services
 * (docs/autoscaling.md). It only writes desired state: for each CRON
 * service that is not stopped, the count ctl_cron_state_at() gives for
 * berthd's clock goes into the store (with a CronScaled event) and the
 * reconciler is kicked, as for ServiceAction SCALE. It evaluates at start,
 * when kicked (a spec changed) and on a timer armed for the next instant at
 * which any window starts or ends. The state depends only on the time, so a
 * berthd that was down at a window's start applies it when it comes back.
 * Runs on the main loop; kick, now, count and event may be called from any
 * thread. */
#ifndef BERTH_CTL_CRONSCALE_H
#define BERTH_CTL_CRONSCALE_H

#include <stdint.h>
#include <uv.h>

#include "api/scaling.h"
#include "base/err.h"
#include "control/cron.h"
#include "control/reconciler.h"
#include "store/store.h"

/* The most replicas a service may ask for (as the API checks). */
#define CTL_CRONSCALE_MAX_REPLICAS 64
/* The longest a timer waits before the jobs are evaluated again, so that a
 * step of the wall clock (NTP) is caught within it. */
#define CTL_CRONSCALE_RECHECK_MS 30000

struct ctl_cronscale;

/* Load the zone 'tz_name' (NULL or "": the machine's) and start; the clock
 * is the system's plus 'clock_offset_s' (a test-only berthd option; 0). */
int ctl_cronscale_start(uv_loop_t *loop, struct store *st, struct ctl_reconciler *rec,
                        const char *tz_name, int64_t clock_offset_s, struct ctl_cronscale **out,
                        struct err *err);
/* Evaluate soon (a spec changed, a service was resumed). Any thread. */
void ctl_cronscale_kick(struct ctl_cronscale *cs);
/* Close the handles; freed once they are closed (on the loop). */
void ctl_cronscale_stop(struct ctl_cronscale *cs);

const struct ctl_tz *ctl_cronscale_tz(const struct ctl_cronscale *cs);
/* berthd's clock in nanoseconds since the epoch, and in whole seconds. */
int64_t ctl_cronscale_now_ns(const struct ctl_cronscale *cs);
int64_t ctl_cronscale_now(const struct ctl_cronscale *cs);
/* The count the jobs of 'sc' (CRON) ask for now, with the state in *st. */
long long ctl_cronscale_count(const struct ctl_cronscale *cs, const struct api_scaling *sc,
                              struct ctl_cron_state *st);
/* The same for a stored spec; -1 if it is not CRON (or does not read back). */
long long ctl_cronscale_count_spec(const struct ctl_cronscale *cs, const char *spec_json);
/* Record the CronScaled event of a change from 'from' (-1: a new service)
 * to st->replicas. */
void ctl_cronscale_event(const struct ctl_cronscale *cs, struct store *store, const char *region,
                         const char *service_id, const struct api_scaling *sc,
                         const struct ctl_cron_state *st, long long from);

/* Pure helpers, for the above and the unit tests. */
/* The event's message: which job holds (or none), its window, from -> to. */
void ctl_cronscale_message(const struct api_scaling *sc, const struct ctl_tz *tz, int64_t t,
                           const struct ctl_cron_state *st, long long from, char *out, size_t n);
/* Milliseconds from 'now_ns' until just past instant 'next' (seconds), at
 * least 1 and at most CTL_CRONSCALE_RECHECK_MS. */
uint64_t ctl_cronscale_delay_ms(int64_t next, int64_t now_ns);

#endif
