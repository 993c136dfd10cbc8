/* billing.h - bills postpaid services to the accounts that created them
 * (docs/billing.md). A timer on the main loop runs store_billing_tick()
 * every CTL_BILLING_PERIOD_MS (a tenth of the billing hour when that is
 * shorter): each billing hour that ended is charged by the instance-time
 * used in it, an account that cannot cover a service's next hour stops it
 * (ARREARS_STOP), a stopped or deleted service pays for its last part of an
 * hour and gets its freeze back. It only writes desired state and the
 * ledger; the reconciler is kicked when a service was stopped. The billing
 * hour is berthd's --billing-hour-s (3600; tests shorten it). Main loop,
 * except ctl_billing_kick() and ctl_billing_price(), which any thread may
 * call. */
#ifndef BERTH_CTL_BILLING_H
#define BERTH_CTL_BILLING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "control/reconciler.h"
#include "store/store.h"

#define CTL_BILLING_PERIOD_MS 1000
#define CTL_BILLING_HOUR_S_DEFAULT 3600

struct ctl_billing;

struct ctl_billing *ctl_billing_start(uv_loop_t *loop, struct store *st, struct ctl_reconciler *rec,
                                      int64_t hour_s);
/* Run a pass soon (a service stopped or was deleted). Any thread; NULL does nothing. */
void ctl_billing_kick(struct ctl_billing *b);
/* Close the handles; freed once they are closed. Accepts NULL. */
void ctl_billing_stop(struct ctl_billing *b);
int64_t ctl_billing_hour_s(const struct ctl_billing *b);

/* The hourly list price of one instance of spec 'instance_type' in fen, or
 * -1 when the spec is unknown. Any thread. */
int64_t ctl_billing_price(const char *instance_type);
/* Whether 's' is 1 to 'max' letters, digits, '-' and '_' (account and
 * resource-group names and ids). */
bool ctl_billing_name_ok(const char *s, size_t max);
/* Wall-clock Unix ms: billing hours span berthd restarts. */
int64_t ctl_billing_now_ms(void);

#endif
