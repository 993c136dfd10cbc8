/* schedstop.c - stops versions at their ScheduleStopTime, on a timer armed
 * for the earliest one. */
#include "control/schedstop.h"

#include "api/api.h"
#include "base/alloc.h"
#include "base/log.h"
#include "control/events.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct ctl_schedstop {
    uv_loop_t *loop;
    struct store *st;
    struct ctl_reconciler *rec;
    ctl_schedstop_fn hook;
    void *hook_ud;
    uv_timer_t timer;
    uv_async_t kick;
    int handles_open;
};

bool ctl_schedstop_pending(const char *spec_json, int64_t *at_s)
{
    json_t *spec = json_loads(spec_json, 0, NULL);
    const json_t *sa = json_object_get(spec, "ScheduledAction");
    const char *when = json_string_value(json_object_get(sa, "ScheduleStopTime"));
    bool on =
        json_is_true(json_object_get(sa, "ScheduleStop")) && when && api_parse_time(when, at_s);
    json_decref(spec);
    return on;
}

char *ctl_schedstop_done_spec(const char *spec_json)
{
    json_t *spec = json_loads(spec_json, JSON_PRESERVE_ORDER, NULL);
    json_t *sa = json_object_get(spec, "ScheduledAction");
    if (!json_is_object(sa)) {
        json_decref(spec);
        return NULL;
    }
    json_object_set_new(sa, "ScheduleStop", json_false());
    char *out = json_dumps(spec, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(spec);
    return out;
}

uint64_t ctl_schedstop_delay_ms(int64_t at_s, int64_t now_ms)
{
    if (at_s == INT64_MAX || at_s > now_ms / 1000 + CTL_SCHEDSTOP_RECHECK_MS / 1000)
        return CTL_SCHEDSTOP_RECHECK_MS;
    int64_t ms = at_s * 1000 - now_ms;
    /* A millisecond past the second: the loop's clock is whole
     * milliseconds, and firing early only means looking twice. */
    return ms < 0 ? 1 : (uint64_t)ms + 1;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Stop one version whose time has come; false to look again soon (the
 * store failed, or the version changed under us). */
static bool fire(struct ctl_schedstop *ss, const struct store_service *s, int64_t at_s)
{
    char *done = ctl_schedstop_done_spec(s->spec_json);
    struct err err = {0};
    int rc = done
                 ? store_service_stop_scheduled(ss->st, s->id, s->spec_json, s->stopped, done, &err)
                 : err_set(&err, ERR_INVALID, "its spec does not parse");
    free(done);
    if (rc == ERR_AGAIN || rc == ERR_NOTFOUND)
        return rc == ERR_NOTFOUND; /* deleted: nothing to do; changed: look again */
    if (rc) {
        log_error("schedstop", "service=%s cannot stop on schedule: %s", s->id, err.msg);
        return false;
    }
    time_t t = (time_t)at_s;
    struct tm tm;
    char when[32];
    gmtime_r(&t, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    ctl_event_version(ss->st, s->region, s->id, CTL_EVENT_NORMAL, "ScheduledStop",
                      s->stopped ? "ScheduleStopTime %s came; the version was stopped already"
                                 : "Stopped at its ScheduleStopTime %s",
                      when);
    log_info("schedstop", "service=%s stopped on schedule (ScheduleStopTime %s)", s->id, when);
    if (ss->hook)
        ss->hook(ss->hook_ud, s->region, s->id);
    return true;
}

/* Stop what is due; the next stop's second (INT64_MAX: none). */
static int64_t evaluate(struct ctl_schedstop *ss)
{
    struct store_service *list;
    size_t n;
    struct err err = {0};
    int64_t next = INT64_MAX, now = now_ms();
    bool stopped = false;
    if (store_service_list(ss->st, NULL, &list, &n, &err) != 0) {
        log_error("schedstop", "cannot read services: %s", err.msg);
        return now / 1000 + 1;
    }
    for (size_t i = 0; i < n; i++) {
        int64_t at;
        if (ctl_schedstop_pending(list[i].spec_json, &at)) {
            if (at * 1000 > now)
                next = at < next ? at : next;
            else if (fire(ss, &list[i], at))
                stopped = true;
            else
                next = now / 1000 + 1;
        }
        store_service_release(&list[i]);
    }
    free(list);
    if (stopped)
        ctl_reconciler_kick(ss->rec);
    return next;
}

static void on_timer(uv_timer_t *t);

static void run(struct ctl_schedstop *ss)
{
    int64_t next = evaluate(ss);
    uv_update_time(ss->loop);
    uv_timer_start(&ss->timer, on_timer, ctl_schedstop_delay_ms(next, now_ms()), 0);
}

static void on_timer(uv_timer_t *t)
{
    run(t->data);
}

static void on_kick(uv_async_t *a)
{
    run(a->data);
}

static void on_closed(uv_handle_t *h)
{
    struct ctl_schedstop *ss = h->data;
    if (--ss->handles_open == 0)
        free(ss);
}

struct ctl_schedstop *ctl_schedstop_start(uv_loop_t *loop, struct store *st,
                                          struct ctl_reconciler *rec)
{
    struct ctl_schedstop *ss = xcalloc(1, sizeof(*ss));
    ss->loop = loop;
    ss->st = st;
    ss->rec = rec;
    uv_timer_init(loop, &ss->timer);
    uv_async_init(loop, &ss->kick, on_kick);
    ss->timer.data = ss->kick.data = ss;
    ss->handles_open = 2;
    run(ss);
    return ss;
}

void ctl_schedstop_set_hook(struct ctl_schedstop *ss, ctl_schedstop_fn fn, void *ud)
{
    ss->hook = fn;
    ss->hook_ud = ud;
}

void ctl_schedstop_kick(struct ctl_schedstop *ss)
{
    if (ss)
        uv_async_send(&ss->kick);
}

void ctl_schedstop_stop(struct ctl_schedstop *ss)
{
    if (!ss)
        return;
    uv_timer_stop(&ss->timer);
    uv_close((uv_handle_t *)&ss->timer, on_closed);
    uv_close((uv_handle_t *)&ss->kick, on_closed);
}
