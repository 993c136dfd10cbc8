/* hpa.c - the HPA side of autoscaling: a sample a second of what Berth
 * measures itself, a decision per service, desired replicas in the store.
 * The state each decision remembers (its recommendations over the
 * stabilization windows) lives in a list keyed by service id and starts
 * over when the service's HorizontalPodAutoscaler changes. */
#include "control/hpa.h"

#include "api/scaling.h"
#include "base/alloc.h"
#include "base/log.h"
#include "control/events.h"
#include "gateway/metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#define MAX_WAKES 64 /* distinct services woken between two turns of the loop */

struct entry {
    struct entry *next;
    char id[64];
    char *hpa_text; /* the HorizontalPodAutoscaler the state was made for */
    struct ctl_hpa_state state;
    bool sampled;
    uint64_t forwarded; /* the gateway's counter at the last sample */
    uint64_t at_ms;
    bool wake, seen;
};

struct ctl_hpa {
    uv_loop_t *loop;
    struct store *st;
    struct ctl_reconciler *rec;
    struct gw_table *routes;
    struct gw_gateway *gw;
    uv_timer_t timer;
    uv_async_t async;
    int handles_open;
    struct entry *entries;
    struct api_scaling *sc; /* scratch (13 KB) */
    pthread_mutex_t lock;   /* wakes */
    char wakes[MAX_WAKES][64];
    size_t nwakes;
    atomic_bool kicked;
};

static const struct api_scaling_limits limits = {CTL_HPA_MAX_REPLICAS, false};

bool ctl_hpa_wakes_from_zero(const json_t *spec)
{
    const char *s = json_string_value(json_object_get(spec, "ScaleStrategy"));
    const json_t *h = json_object_get(spec, "HorizontalPodAutoscaler");
    return s && strcmp(s, "HPA") == 0 && json_is_integer(json_object_get(h, "MinReplicas")) &&
           json_integer_value(json_object_get(h, "MinReplicas")) == 0;
}

double ctl_hpa_panic_capacity(const struct ctl_hpa_spec *hpa, const json_t *spec)
{
    for (size_t i = 0; i < hpa->n_targets; i++)
        if (hpa->targets[i].metric == CTL_METRIC_CONCURRENCY_UTIL)
            return (double)hpa->targets[i].value;
    const json_t *l = json_object_get(spec, "ServiceLimit");
    if (json_is_true(json_object_get(l, "EnableInstanceReqLimit")))
        return (double)json_integer_value(json_object_get(l, "InstanceReqLimit"));
    return 0;
}

double ctl_hpa_util(double used, double spec)
{
    return spec > 0 && used >= 0 ? 100.0 * used / spec : NAN;
}

static struct entry *entry_of(struct ctl_hpa *h, const char *id)
{
    for (struct entry *e = h->entries; e; e = e->next)
        if (strcmp(e->id, id) == 0)
            return e;
    struct entry *e = xcalloc(1, sizeof(*e));
    snprintf(e->id, sizeof(e->id), "%s", id);
    ctl_hpa_state_init(&e->state);
    e->next = h->entries;
    h->entries = e;
    return e;
}

/* Whether 'was' is still as listed: an API thread's write wins (as in
 * cronscale.c). */
static bool unchanged(struct ctl_hpa *h, const struct store_service *was)
{
    struct store_service now;
    struct err err = {0};
    if (store_service_get(h->st, was->region, was->id, &now, &err) != 0)
        return false;
    bool same =
        !now.stopped && now.replicas == was->replicas && strcmp(now.spec_json, was->spec_json) == 0;
    store_service_release(&now);
    return same;
}

/* Measure one service and decide; true when its count was changed. */
static bool decide(struct ctl_hpa *h, const struct store_service *s, const json_t *spec,
                   struct entry *e, uint64_t now_ms)
{
    struct ctl_hpa_spec *hpa = &h->sc->hpa;
    hpa->panic_capacity = ctl_hpa_panic_capacity(hpa, spec);
    double cpu = json_number_value(json_object_get(spec, "Cpu"));
    double mem = (double)json_integer_value(json_object_get(spec, "Memory")) * 1024 * 1024;

    struct ctl_status st;
    ctl_reconciler_status(h->rec, s->id, &st);
    if (st.cluster_scaled) { /* the cluster's HorizontalPodAutoscaler decides */
        free(st.pods);
        return false;
    }
    struct gw_load load;
    bool routed = gw_metrics_load(h->routes, s->id, &load) == 0;
    unsigned held = gw_held(h->gw, s->id);
    double dt_s = e->sampled ? (double)(now_ms - e->at_ms) / 1000.0 : 0;
    double requests = 0, qps = NAN;
    if (routed && e->sampled && load.forwarded >= e->forwarded) {
        requests = (double)(load.forwarded - e->forwarded);
        if (dt_s >= 0.5) /* a woken service decides at once: no rate from a sliver */
            qps = requests / dt_s;
    }
    if (routed && (!e->sampled || dt_s >= 0.5)) {
        e->forwarded = load.forwarded;
        e->at_ms = now_ms;
        e->sampled = true;
    }
    int ready = 0;
    for (size_t i = 0; i < st.npods; i++)
        ready += st.pods[i].ready && strcmp(st.pods[i].phase, "Running") == 0;
    struct ctl_hpa_instance *insts = xcalloc(st.npods ? st.npods : 1, sizeof(*insts));
    size_t n = 0;
    for (size_t i = 0; i < st.npods; i++) {
        const struct ctl_pod *p = &st.pods[i];
        if (strcmp(p->phase, "Terminating") == 0 || strcmp(p->phase, "Failed") == 0)
            continue;
        struct ctl_hpa_instance *x = &insts[n++];
        x->ready = p->ready && strcmp(p->phase, "Running") == 0;
        for (int m = 0; m < CTL_METRIC_COUNT; m++)
            x->value[m] = NAN;
        if (!x->ready)
            continue;
        if (p->usage_known) {
            x->value[CTL_METRIC_CPU_UTIL] = ctl_hpa_util(p->cpu_cores, cpu);
            x->value[CTL_METRIC_MEMORY_UTIL] = ctl_hpa_util((double)p->memory_bytes, mem);
        }
        /* The gateway counts per version: each ready instance its share. */
        x->value[CTL_METRIC_SERVICE_QPS] = isnan(qps) ? NAN : qps / ready;
        if (routed)
            x->value[CTL_METRIC_CONCURRENCY_UTIL] = (double)load.inflight / ready;
    }
    struct ctl_hpa_input in = {
        .current = s->replicas,
        .instances = insts,
        .n_instances = n,
        .inflight = (double)(routed ? load.inflight : 0) + held,
        .requests = requests + held,
        .waiting = held > 0 || e->wake,
    };
    if (in.waiting && in.inflight < 1)
        in.inflight = 1;
    struct ctl_hpa_decision d;
    ctl_hpa_decide(hpa, &e->state, &in, (int64_t)now_ms, &d);
    free(insts);
    free(st.pods);
    if (s->replicas > 0 || d.replicas > 0)
        e->wake = false;
    if (d.replicas == s->replicas || !unchanged(h, s))
        return false;
    struct err err = {0};
    if (store_service_set_replicas(h->st, s->id, d.replicas, s->old_replicas, false, &err) != 0) {
        log_error("hpa", "service=%s: %s", s->id, err.msg);
        return false;
    }
    ctl_event_version(h->st, s->region, s->id, CTL_EVENT_NORMAL, "HpaScaled",
                      "HorizontalPodAutoscaler: %s", d.reason);
    log_info("hpa", "service=%s %s", s->id, d.reason);
    return true;
}

static void evaluate(struct ctl_hpa *h, bool woken_only)
{
    pthread_mutex_lock(&h->lock);
    size_t nwakes = h->nwakes;
    char wakes[MAX_WAKES][64];
    memcpy(wakes, h->wakes, nwakes * sizeof(wakes[0]));
    h->nwakes = 0;
    pthread_mutex_unlock(&h->lock);
    if (woken_only && !nwakes)
        return;

    struct store_service *list;
    size_t n;
    struct err err = {0};
    if (store_service_list(h->st, NULL, &list, &n, &err) != 0) {
        log_error("hpa", "cannot read services: %s", err.msg);
        return;
    }
    uv_update_time(h->loop);
    uint64_t now_ms = uv_now(h->loop);
    bool changed = false;
    for (struct entry *e = h->entries; e; e = e->next)
        e->seen = false;
    for (size_t i = 0; i < n; i++) {
        const struct store_service *s = &list[i];
        json_t *spec = json_loads(s->spec_json, 0, NULL);
        const char *strategy = json_string_value(json_object_get(spec, "ScaleStrategy"));
        if (s->stopped || !strategy || strcmp(strategy, "HPA") != 0) {
            json_decref(spec);
            continue;
        }
        bool woken = false;
        for (size_t k = 0; k < nwakes; k++)
            woken |= strcmp(wakes[k], s->id) == 0;
        struct entry *e = entry_of(h, s->id);
        e->seen = true;
        e->wake |= woken;
        char *text = json_dumps(json_object_get(spec, "HorizontalPodAutoscaler"),
                                JSON_COMPACT | JSON_SORT_KEYS);
        if (!e->hpa_text || !text || strcmp(e->hpa_text, text) != 0) {
            ctl_hpa_state_init(&e->state); /* a new autoscaler: its windows start now */
            free(e->hpa_text);
            e->hpa_text = text ? xstrdup(text) : NULL;
        }
        free(text);
        if (!woken_only || woken) {
            if (api_scaling_from_spec(spec, &limits, h->sc, &err) != 0)
                log_warn("hpa", "service=%s: %s", s->id, err.msg);
            else
                changed |= decide(h, s, spec, e, now_ms);
        }
        json_decref(spec);
    }
    for (size_t i = 0; i < n; i++)
        store_service_release(&list[i]);
    free(list);
    if (!woken_only) { /* forget services that are no longer HPA */
        for (struct entry **p = &h->entries; *p;) {
            struct entry *e = *p;
            if (e->seen) {
                p = &e->next;
                continue;
            }
            *p = e->next;
            free(e->hpa_text);
            free(e);
        }
    }
    if (changed)
        ctl_reconciler_kick(h->rec);
}

static void on_timer(uv_timer_t *t)
{
    evaluate(t->data, false);
}

static void on_async(uv_async_t *a)
{
    struct ctl_hpa *h = a->data;
    evaluate(h, !atomic_exchange(&h->kicked, false));
}

struct ctl_hpa *ctl_hpa_start(uv_loop_t *loop, struct store *st, struct ctl_reconciler *rec,
                              struct gw_table *routes)
{
    struct ctl_hpa *h = xcalloc(1, sizeof(*h));
    h->loop = loop;
    h->st = st;
    h->rec = rec;
    h->routes = routes;
    h->sc = xmalloc(sizeof(*h->sc));
    pthread_mutex_init(&h->lock, NULL);
    uv_timer_init(loop, &h->timer);
    uv_async_init(loop, &h->async, on_async);
    h->timer.data = h->async.data = h;
    h->handles_open = 2;
    uv_timer_start(&h->timer, on_timer, CTL_HPA_PERIOD_MS, CTL_HPA_PERIOD_MS);
    return h;
}

void ctl_hpa_set_gateway(struct ctl_hpa *h, struct gw_gateway *gw)
{
    h->gw = gw;
}

void ctl_hpa_wake(const char *service_id, void *ud)
{
    struct ctl_hpa *h = ud;
    pthread_mutex_lock(&h->lock);
    bool known = false;
    for (size_t i = 0; i < h->nwakes; i++)
        known |= strcmp(h->wakes[i], service_id) == 0;
    if (!known && h->nwakes < MAX_WAKES)
        snprintf(h->wakes[h->nwakes++], sizeof(h->wakes[0]), "%s", service_id);
    pthread_mutex_unlock(&h->lock);
    uv_async_send(&h->async);
}

void ctl_hpa_kick(struct ctl_hpa *h)
{
    if (!h)
        return;
    atomic_store(&h->kicked, true);
    uv_async_send(&h->async);
}

static void on_closed(uv_handle_t *hd)
{
    struct ctl_hpa *h = hd->data;
    if (--h->handles_open > 0)
        return;
    while (h->entries) {
        struct entry *e = h->entries;
        h->entries = e->next;
        free(e->hpa_text);
        free(e);
    }
    pthread_mutex_destroy(&h->lock);
    free(h->sc);
    free(h);
}

void ctl_hpa_stop(struct ctl_hpa *h)
{
    if (!h)
        return;
    uv_timer_stop(&h->timer);
    uv_close((uv_handle_t *)&h->timer, on_closed);
    uv_close((uv_handle_t *)&h->async, on_closed);
}
