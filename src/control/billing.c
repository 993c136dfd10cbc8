/* billing.c - the billing timer. The store does the arithmetic in one
 * transaction per service (store/billing.c); this file only decides when,
 * and tells the reconciler when a service was stopped for arrears. Hours
 * are counted on the wall clock from when billing began, so a berthd that
 * was down charges the hours it missed when it is back. */
#include "control/billing.h"
#include "base/alloc.h"
#include "base/log.h"
#include "control/events.h"
#include "control/specs.h"
#include "store/billing.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

struct ctl_billing {
    uv_loop_t *loop;
    struct store *st;
    struct ctl_reconciler *rec;
    int64_t hour_ms;
    uv_timer_t timer;
    uv_async_t async;
    int handles_open;
};

/* An instance-hour of 'instance_type', in fen: the spec catalogue's
 * (control/specs.h, operator specs included); -1 for an unknown spec. */
int64_t ctl_billing_price(const char *instance_type)
{
    const struct spec *sp = specs_find(instance_type);
    return sp ? (int64_t)sp->price_per_hour : -1;
}

bool ctl_billing_name_ok(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n > max)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '_'))
            return false;
    return true;
}

int64_t ctl_billing_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void pass(struct ctl_billing *b)
{
    struct store_billing *stopped;
    size_t n;
    struct err err = {0};
    if (store_billing_tick(b->st, ctl_billing_now_ms(), b->hour_ms, &stopped, &n, &err) != 0)
        log_warn("billing", "billing pass failed: %s", err.msg);
    for (size_t i = 0; i < n; i++) {
        struct store_account a = {0};
        int64_t available = store_account_get(b->st, stopped[i].account_id, &a, NULL) == 0
                                ? a.balance - a.frozen
                                : 0;
        store_account_release(&a);
        log_info("billing", "service=%s account=%s stopped for arrears", stopped[i].service_id,
                 stopped[i].account_id);
        ctl_event_version(b->st, stopped[i].region, stopped[i].service_id, CTL_EVENT_WARNING,
                          "ArrearsStop",
                          "Stopped for arrears: account %s has %lld fen free, less than an hour "
                          "of its instances at %lld fen each; a top-up resumes it",
                          stopped[i].account_id, (long long)available, (long long)stopped[i].price);
        store_billing_release(&stopped[i]);
    }
    free(stopped);
    if (n)
        ctl_reconciler_kick(b->rec);
}

static void on_timer(uv_timer_t *t)
{
    pass(t->data);
}

static void on_async(uv_async_t *a)
{
    pass(a->data);
}

struct ctl_billing *ctl_billing_start(uv_loop_t *loop, struct store *st, struct ctl_reconciler *rec,
                                      int64_t hour_s)
{
    struct ctl_billing *b = xcalloc(1, sizeof(*b));
    b->loop = loop;
    b->st = st;
    b->rec = rec;
    b->hour_ms = hour_s * 1000;
    uint64_t period = CTL_BILLING_PERIOD_MS;
    if ((uint64_t)b->hour_ms / 10 < period)
        period = (uint64_t)b->hour_ms / 10 ? (uint64_t)b->hour_ms / 10 : 1;
    uv_timer_init(loop, &b->timer);
    uv_async_init(loop, &b->async, on_async);
    b->timer.data = b->async.data = b;
    b->handles_open = 2;
    uv_timer_start(&b->timer, on_timer, period, period);
    log_info("billing", "billing hour %lld s, checked every %llu ms", (long long)hour_s,
             (unsigned long long)period);
    return b;
}

void ctl_billing_kick(struct ctl_billing *b)
{
    if (b)
        uv_async_send(&b->async);
}

int64_t ctl_billing_hour_s(const struct ctl_billing *b)
{
    return b ? b->hour_ms / 1000 : CTL_BILLING_HOUR_S_DEFAULT;
}

static void on_closed(uv_handle_t *h)
{
    struct ctl_billing *b = h->data;
    if (--b->handles_open == 0)
        free(b);
}

void ctl_billing_stop(struct ctl_billing *b)
{
    if (!b)
        return;
    uv_timer_stop(&b->timer);
    uv_close((uv_handle_t *)&b->timer, on_closed);
    uv_close((uv_handle_t *)&b->async, on_closed);
}
