/* schedstop.h - scheduled stops (ScheduledAction {ScheduleStop,
 * ScheduleStopTime}, docs/scheduled-stop.md). A version whose stored spec
 * holds ScheduleStop true is stopped at ScheduleStopTime, to the second:
 * through the normal stop path (desired replicas 0, stopped, so the
 * reconciler ends the instances and billing ends with them), with
 * ScheduleStop turned false in the same store transaction, and a
 * ScheduledStop event. The times come from the store, so a berthd that was
 * down at a stop's time stops the service when it is back. It evaluates at
 * start, when kicked (a spec changed) and on a timer armed for the next
 * stop. Runs on the main loop; kick may be called from any thread. */
#ifndef BERTH_CTL_SCHEDSTOP_H
#define BERTH_CTL_SCHEDSTOP_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "control/reconciler.h"
#include "store/store.h"

/* The longest the timer waits before looking again, so that a step of the
 * wall clock is caught within it. */
#define CTL_SCHEDSTOP_RECHECK_MS 30000

struct ctl_schedstop;

/* Called on the loop after a version was stopped by its schedule (billing
 * ends its charges here if it keeps any apart from the stop itself). */
typedef void (*ctl_schedstop_fn)(void *ud, const char *region, const char *service_id);

/* Start: evaluates at once (stops that fell due while berthd was down). */
struct ctl_schedstop *ctl_schedstop_start(uv_loop_t *loop, struct store *st,
                                          struct ctl_reconciler *rec);
/* Set the hook called after each scheduled stop; NULL for none. */
void ctl_schedstop_set_hook(struct ctl_schedstop *ss, ctl_schedstop_fn fn, void *ud);
/* Evaluate soon (a spec changed). Any thread; NULL does nothing. */
void ctl_schedstop_kick(struct ctl_schedstop *ss);
/* Close the handles; freed once they are closed (on the loop). NULL does nothing. */
void ctl_schedstop_stop(struct ctl_schedstop *ss);

/* Pure helpers, for the above and the unit tests. */
/* The stop time (Unix seconds) of a stored spec that holds ScheduleStop
 * true with a valid ScheduleStopTime; false otherwise. */
bool ctl_schedstop_pending(const char *spec_json, int64_t *at_s);
/* The spec with ScheduleStop turned false (heap); NULL if it does not parse. */
char *ctl_schedstop_done_spec(const char *spec_json);
/* Milliseconds from 'now_ms' until just past second 'at_s', at least 1 and
 * at most CTL_SCHEDSTOP_RECHECK_MS; INT64_MAX for 'at_s' means none. */
uint64_t ctl_schedstop_delay_ms(int64_t at_s, int64_t now_ms);

#endif
