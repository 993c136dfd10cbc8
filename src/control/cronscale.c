/* cronscale.c - the CRON side of autoscaling: desired replicas from the
 * clock, on a timer at the exact second a window starts or ends. */
#include "control/cronscale.h"

#include "base/alloc.h"
#include "base/log.h"
#include "control/events.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

struct ctl_cronscale {
    uv_loop_t *loop;
    struct store *st;
    struct ctl_reconciler *rec;
    struct ctl_tz *tz;
    int64_t offset_s;
    uv_timer_t timer;
    uv_async_t kick;
    int handles_open;
    struct api_scaling *sc; /* scratch for the loop (13 KB) */
};

static const struct api_scaling_limits limits = {CTL_CRONSCALE_MAX_REPLICAS, false};

const struct ctl_tz *ctl_cronscale_tz(const struct ctl_cronscale *cs)
{
    return cs->tz;
}

int64_t ctl_cronscale_now_ns(const struct ctl_cronscale *cs)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ((int64_t)ts.tv_sec + cs->offset_s) * 1000000000 + ts.tv_nsec;
}

int64_t ctl_cronscale_now(const struct ctl_cronscale *cs)
{
    int64_t ns = ctl_cronscale_now_ns(cs);
    return ns >= 0 ? ns / 1000000000 : -((-ns + 999999999) / 1000000000);
}

uint64_t ctl_cronscale_delay_ms(int64_t next, int64_t now_ns)
{
    if (next == CTL_CRON_NEVER || next > now_ns / 1000000000 + CTL_CRONSCALE_RECHECK_MS / 1000)
        return CTL_CRONSCALE_RECHECK_MS;
    int64_t ns = next * 1000000000 - now_ns;
    if (ns <= 0)
        return 1;
    /* Round up and add a millisecond: the loop's clock is whole
     * milliseconds, and firing early only means firing twice. */
    return (uint64_t)((ns + 999999) / 1000000) + 1;
}

long long ctl_cronscale_count(const struct ctl_cronscale *cs, const struct api_scaling *sc,
                              struct ctl_cron_state *st)
{
    ctl_cron_state_at(sc->jobs, sc->n_jobs, sc->replicas, cs->tz, ctl_cronscale_now(cs), st);
    return st->replicas;
}

static bool is_cron(const json_t *spec);

long long ctl_cronscale_count_spec(const struct ctl_cronscale *cs, const char *spec_json)
{
    json_t *spec = json_loads(spec_json, 0, NULL);
    long long n = -1;
    if (is_cron(spec)) {
        struct api_scaling *sc = xmalloc(sizeof(*sc));
        struct ctl_cron_state st;
        struct err err = {0};
        if (api_scaling_from_spec(spec, &limits, sc, &err) == 0)
            n = ctl_cronscale_count(cs, sc, &st);
        else
            log_warn("cronscale", "a stored scaling spec does not read back: %s", err.msg);
        free(sc);
    }
    json_decref(spec);
    return n;
}

static void job_label(const struct api_scaling *sc, int job, char *out, size_t n)
{
    if (sc->jobs[job].name[0])
        snprintf(out, n, "CronScaleJobs[%d] '%s'", job, sc->jobs[job].name);
    else
        snprintf(out, n, "CronScaleJobs[%d] (%s)", job, sc->schedule[job]);
}

void ctl_cronscale_message(const struct api_scaling *sc, const struct ctl_tz *tz, int64_t t,
                           const struct ctl_cron_state *st, long long from, char *out, size_t n)
{
    char label[CTL_CRON_NAME_MAX + API_CRON_TEXT_MAX + 32], a[32], b[32], change[64];
    if (from < 0)
        snprintf(change, sizeof(change), "%lld replica%s", st->replicas,
                 st->replicas == 1 ? "" : "s");
    else
        snprintf(change, sizeof(change), "%lld -> %lld replicas", from, st->replicas);
    if (st->job >= 0) {
        int64_t start = st->since, end = CTL_CRON_NEVER;
        ctl_cron_job_window(&sc->jobs[st->job], tz, t, &start, &end);
        job_label(sc, st->job, label, sizeof(label));
        if (start == CTL_CRON_LONG_AGO)
            snprintf(a, sizeof(a), "long ago");
        else
            ctl_tz_format(tz, start, a);
        if (end == CTL_CRON_NEVER)
            snprintf(b, sizeof(b), "further than 400 days");
        else
            ctl_tz_format(tz, end, b);
        snprintf(out, n, "%s holds from %s until %s: %s", label, a, b, change);
        return;
    }
    if (st->next_change == CTL_CRON_NEVER)
        snprintf(a, sizeof(a), "never");
    else
        ctl_tz_format(tz, st->next_change, a);
    snprintf(out, n, "Outside every CronScaleJobs window (the next change is at %s): Replicas, %s",
             a, change);
}

void ctl_cronscale_event(const struct ctl_cronscale *cs, struct store *store, const char *region,
                         const char *service_id, const struct api_scaling *sc,
                         const struct ctl_cron_state *st, long long from)
{
    char msg[512];
    ctl_cronscale_message(sc, cs->tz, ctl_cronscale_now(cs), st, from, msg, sizeof(msg));
    ctl_event_version(store, region, service_id, CTL_EVENT_NORMAL, "CronScaled", "%s", msg);
    log_info("cronscale", "service=%s %s", service_id, msg);
}

/* Whether a stored spec is a CRON one, before parsing it whole. */
static bool is_cron(const json_t *spec)
{
    const char *s = json_string_value(json_object_get(spec, "ScaleStrategy"));
    return s && strcmp(s, "CRON") == 0;
}

/* Whether 'was' is still as listed (not stopped, same spec) just before its
 * count is written: an API thread may have stopped it or changed its
 * scaling since, and its write wins. (The store has no conditional write;
 * this leaves a window of one read.) */
static bool unchanged(struct ctl_cronscale *cs, const struct store_service *was)
{
    struct store_service now;
    struct err err = {0};
    if (store_service_get(cs->st, was->region, was->id, &now, &err) != 0)
        return false;
    bool same =
        !now.stopped && now.replicas == was->replicas && strcmp(now.spec_json, was->spec_json) == 0;
    store_service_release(&now);
    return same;
}

/* Write the count of every CRON service; the next instant to look again. */
static int64_t evaluate(struct ctl_cronscale *cs)
{
    struct store_service *list;
    size_t n;
    struct err err = {0};
    int64_t next = CTL_CRON_NEVER;
    bool changed = false;
    if (store_service_list(cs->st, NULL, &list, &n, &err) != 0) {
        log_error("cronscale", "cannot read services: %s", err.msg);
        n = 0;
        list = NULL;
        next = ctl_cronscale_now(cs) + 1; /* try again soon */
    }
    for (size_t i = 0; i < n; i++) {
        json_t *spec = json_loads(list[i].spec_json, 0, NULL);
        if (!list[i].stopped && is_cron(spec)) {
            struct ctl_cron_state state;
            if (api_scaling_from_spec(spec, &limits, cs->sc, &err) != 0) {
                log_warn("cronscale", "service=%s: %s", list[i].id, err.msg);
            } else {
                ctl_cronscale_count(cs, cs->sc, &state);
                if (state.next_change < next)
                    next = state.next_change;
                if (state.replicas != list[i].replicas && unchanged(cs, &list[i])) {
                    if (store_service_set_replicas(cs->st, list[i].id, (int)state.replicas,
                                                   list[i].old_replicas, false, &err) != 0) {
                        log_error("cronscale", "service=%s: %s", list[i].id, err.msg);
                        next = ctl_cronscale_now(cs) + 1;
                    } else {
                        ctl_cronscale_event(cs, cs->st, list[i].region, list[i].id, cs->sc, &state,
                                            list[i].replicas);
                        changed = true;
                    }
                }
            }
        }
        json_decref(spec);
        store_service_release(&list[i]);
    }
    free(list);
    if (changed)
        ctl_reconciler_kick(cs->rec);
    return next;
}

static void on_timer(uv_timer_t *t);

/* Evaluate now, then wait for the next change (an exact second). */
static void run(struct ctl_cronscale *cs)
{
    int64_t next = evaluate(cs);
    uv_update_time(cs->loop);
    uv_timer_start(&cs->timer, on_timer, ctl_cronscale_delay_ms(next, ctl_cronscale_now_ns(cs)), 0);
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
    struct ctl_cronscale *cs = h->data;
    if (--cs->handles_open > 0)
        return;
    ctl_tz_free(cs->tz);
    free(cs->sc);
    free(cs);
}

void ctl_cronscale_kick(struct ctl_cronscale *cs)
{
    if (cs)
        uv_async_send(&cs->kick);
}

void ctl_cronscale_stop(struct ctl_cronscale *cs)
{
    if (!cs)
        return;
    uv_timer_stop(&cs->timer);
    uv_close((uv_handle_t *)&cs->timer, on_closed);
    uv_close((uv_handle_t *)&cs->kick, on_closed);
}

int ctl_cronscale_start(uv_loop_t *loop, struct store *st, struct ctl_reconciler *rec,
                        const char *tz_name, int64_t clock_offset_s, struct ctl_cronscale **out,
                        struct err *err)
{
    struct ctl_tz *tz;
    int rc = ctl_tz_load(tz_name && *tz_name ? tz_name : NULL, &tz, err);
    if (rc)
        return rc;
    struct ctl_cronscale *cs = xcalloc(1, sizeof(*cs));
    cs->loop = loop;
    cs->st = st;
    cs->rec = rec;
    cs->tz = tz;
    cs->offset_s = clock_offset_s;
    cs->sc = xmalloc(sizeof(*cs->sc));
    uv_timer_init(loop, &cs->timer);
    uv_async_init(loop, &cs->kick, on_kick);
    cs->timer.data = cs->kick.data = cs;
    cs->handles_open = 2;
    run(cs);
    *out = cs;
    return 0;
}
