/* routes.c - route tables, the choice of an instance and passive health. */
#include "gateway/routes.h"
#include "base/alloc.h"
#include "base/crypto.h"
#include "gateway/metrics.h"

#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct gw_health *health_new(void)
{
    struct gw_health *h = xcalloc(1, sizeof(*h));
    atomic_init(&h->refs, 1);
    atomic_init(&h->ejected, false);
    return h;
}

static void health_release(struct gw_health *h)
{
    if (h && atomic_fetch_sub(&h->refs, 1) == 1)
        free(h);
}

static struct gw_vstate *vstate_new(void)
{
    struct gw_vstate *v = xcalloc(1, sizeof(*v));
    atomic_init(&v->refs, 1);
    v->metrics = gw_mset_new();
    return v;
}

static void vstate_release(struct gw_vstate *v)
{
    if (v && atomic_fetch_sub(&v->refs, 1) == 1) {
        gw_mset_free(v->metrics);
        free(v);
    }
}

static struct gw_gstate *gstate_new(void)
{
    struct gw_gstate *g = xcalloc(1, sizeof(*g));
    atomic_init(&g->refs, 1);
    g->metrics = gw_mset_new();
    return g;
}

static void gstate_release(struct gw_gstate *g)
{
    if (g && atomic_fetch_sub(&g->refs, 1) == 1) {
        gw_mset_free(g->metrics);
        free(g);
    }
}

static struct gw_tstate *tstate_new(void)
{
    struct gw_tstate *t = xcalloc(1, sizeof(*t));
    atomic_init(&t->refs, 1);
    gw_window_init(&t->minute);
    gw_window_init(&t->day);
    return t;
}

static void tstate_release(struct gw_tstate *t)
{
    if (t && atomic_fetch_sub(&t->refs, 1) == 1) {
        gw_window_release(&t->minute);
        gw_window_release(&t->day);
        free(t);
    }
}

static bool same_instance(const struct gw_instance *a, const struct gw_instance *b)
{
    return a->port == b->port && strcmp(a->host, b->host) == 0;
}

/* The health object of host:port in 'r', or NULL. */
static struct gw_health *find_health(struct gw_routes *r, const struct gw_instance *inst)
{
    for (size_t i = 0; i < r->ngroups; i++)
        for (size_t k = 0; k < r->groups[i].nversions; k++) {
            struct gw_version *v = &r->groups[i].versions[k];
            for (size_t j = 0; j < v->ninstances; j++)
                if (same_instance(&v->instances[j], inst))
                    return v->health[j];
        }
    return NULL;
}

void gw_table_init(struct gw_table *t)
{
    pthread_mutex_init(&t->lock, NULL);
    t->current = gw_routes_new();
}

void gw_table_release(struct gw_table *t)
{
    gw_routes_release(t->current);
    t->current = NULL;
    pthread_mutex_destroy(&t->lock);
}

/* An instance listed before keeps its health object: an ejection made
 * through either table is seen by both, and survives the swap. */
static void inherit_health(struct gw_routes *to, struct gw_routes *from)
{
    for (size_t i = 0; i < to->ngroups; i++)
        for (size_t k = 0; k < to->groups[i].nversions; k++) {
            struct gw_version *v = &to->groups[i].versions[k];
            for (size_t j = 0; j < v->ninstances; j++) {
                struct gw_health *old = find_health(from, &v->instances[j]);
                if (!old || old == v->health[j])
                    continue;
                atomic_fetch_add(&old->refs, 1);
                health_release(v->health[j]);
                v->health[j] = old;
            }
        }
}

static struct gw_group *group_by_id(struct gw_routes *r, const char *id)
{
    for (size_t i = 0; i < r->ngroups; i++)
        if (strcmp(r->groups[i].id, id) == 0)
            return &r->groups[i];
    return NULL;
}

static struct gw_version *find_version(struct gw_routes *r, struct str service_id)
{
    for (size_t i = 0; i < r->ngroups; i++)
        for (size_t k = 0; k < r->groups[i].nversions; k++)
            if (str_eq_cstr(service_id, r->groups[i].versions[k].service_id))
                return &r->groups[i].versions[k];
    return NULL;
}

/* Take over the limiters' state of the same ids in 'from'. */
static void inherit_limits(struct gw_routes *to, struct gw_routes *from)
{
    for (size_t i = 0; i < to->ngroups; i++) {
        struct gw_group *g = &to->groups[i], *og = group_by_id(from, g->id);
        if (og && og->state != g->state) {
            atomic_fetch_add(&og->state->refs, 1);
            gstate_release(g->state);
            g->state = og->state;
        }
        for (size_t k = 0; k < g->nversions; k++) {
            struct gw_version *v = &g->versions[k],
                              *ov = find_version(from, str_from(v->service_id));
            if (ov && ov->state != v->state) {
                atomic_fetch_add(&ov->state->refs, 1);
                vstate_release(v->state);
                v->state = ov->state;
            }
        }
        for (size_t k = 0; og && k < g->ntokens; k++)
            for (size_t j = 0; j < og->ntokens; j++)
                if (strcmp(g->tokens[k].id, og->tokens[j].id) == 0) {
                    struct gw_quota *q = g->tokens[k].ud, *oq = og->tokens[j].ud;
                    if (oq->state != q->state) {
                        atomic_fetch_add(&oq->state->refs, 1);
                        tstate_release(q->state);
                        q->state = oq->state;
                    }
                    break;
                }
    }
}

/* Sort each group's tokens for the search and point them at their quotas. */
static void seal_tokens(struct gw_routes *r)
{
    for (size_t i = 0; i < r->ngroups; i++) {
        struct gw_group *g = &r->groups[i];
        for (size_t k = 0; k < g->ntokens; k++)
            g->tokens[k].ud = &g->quotas[k];
        gw_tokens_sort(g->tokens, g->ntokens);
    }
}

void gw_table_publish(struct gw_table *t, struct gw_routes *routes)
{
    seal_tokens(routes);
    pthread_mutex_lock(&t->lock);
    struct gw_routes *old = t->current;
    inherit_health(routes, old);
    inherit_limits(routes, old);
    t->current = routes;
    pthread_mutex_unlock(&t->lock);
    gw_routes_release(old);
}

struct gw_routes *gw_table_acquire(struct gw_table *t)
{
    pthread_mutex_lock(&t->lock);
    struct gw_routes *r = t->current;
    atomic_fetch_add(&r->refs, 1);
    pthread_mutex_unlock(&t->lock);
    return r;
}

void gw_table_probe_passed(struct gw_table *t, const char *host, int port)
{
    struct gw_instance inst = {.port = port};
    snprintf(inst.host, sizeof(inst.host), "%s", host);
    /* Under the lock, so that a publish cannot drop the object in between. */
    pthread_mutex_lock(&t->lock);
    struct gw_health *h = find_health(t->current, &inst);
    if (h)
        atomic_store(&h->ejected, false);
    pthread_mutex_unlock(&t->lock);
}

void gw_routes_release(struct gw_routes *r)
{
    if (!r || atomic_fetch_sub(&r->refs, 1) != 1)
        return;
    for (size_t i = 0; i < r->ngroups; i++) {
        struct gw_group *g = &r->groups[i];
        for (size_t k = 0; k < g->nversions; k++) {
            struct gw_version *v = &g->versions[k];
            for (size_t j = 0; j < v->ninstances; j++)
                health_release(v->health[j]);
            vstate_release(v->state);
            free(v->service_id);
            free(v->instances);
            free(v->health);
        }
        for (size_t k = 0; k < g->ntokens; k++)
            tstate_release(g->quotas[k].state);
        free(g->tokens);
        free(g->quotas);
        free(g->app_key);
        if (g->app_secret) {
            crypto_wipe(g->app_secret, strlen(g->app_secret));
            free(g->app_secret);
        }
        gstate_release(g->state);
        free(g->wrr);
        free(g->versions);
        free(g->id);
    }
    free(r->groups);
    free(r);
}

struct gw_routes *gw_routes_new(void)
{
    struct gw_routes *r = xcalloc(1, sizeof(*r));
    atomic_init(&r->refs, 1);
    return r;
}

static uint64_t gcd(uint64_t a, uint64_t b)
{
    while (b) {
        uint64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

/* One period of nginx's smooth weighted round robin: each step every version
 * gains its weight and the richest, paying the total, goes next. Over any
 * run of the period each version gets exactly its share, and the shares
 * interleave (weights 3:1 give a a b a), where a draw by lot would bunch.
 * All weights 0 is an even split. */
static void wrr_build(struct gw_group *g)
{
    free(g->wrr);
    g->wrr = NULL;
    g->nwrr = 0;
    atomic_init(&g->wnext, 0);
    uint64_t total = 0, d = 0;
    for (size_t k = 0; k < g->nversions; k++) {
        total += g->versions[k].weight;
        d = gcd(d, g->versions[k].weight);
    }
    bool even = total == 0;
    size_t n = even ? g->nversions : (size_t)(total / d);
    if (n == 0 || n > GW_WRR_MAX || g->nversions > UINT16_MAX)
        return;
    int64_t *cur = xcalloc(g->nversions, sizeof(*cur));
    g->wrr = xmalloc(n * sizeof(*g->wrr));
    for (size_t i = 0; i < n; i++) {
        size_t best = 0;
        for (size_t k = 0; k < g->nversions; k++) {
            cur[k] += even ? 1 : (int64_t)(g->versions[k].weight / d);
            if (cur[k] > cur[best])
                best = k;
        }
        cur[best] -= (int64_t)n;
        g->wrr[i] = (uint16_t)best;
    }
    g->nwrr = n;
    free(cur);
}

void gw_routes_add(struct gw_routes *r, const char *group_id, const char *service_id,
                   unsigned weight, uint64_t timeout_ms, const struct gw_instance *ready,
                   size_t nready)
{
    struct gw_group *g = NULL;
    for (size_t i = 0; i < r->ngroups; i++)
        if (strcmp(r->groups[i].id, group_id) == 0)
            g = &r->groups[i];
    if (!g) {
        r->groups = xrealloc(r->groups, (r->ngroups + 1) * sizeof(*r->groups));
        g = &r->groups[r->ngroups++];
        memset(g, 0, sizeof(*g));
        g->id = xstrdup(group_id);
        g->state = gstate_new();
    }
    g->versions = xrealloc(g->versions, (g->nversions + 1) * sizeof(*g->versions));
    struct gw_version *v = &g->versions[g->nversions++];
    memset(v, 0, sizeof(*v));
    v->service_id = xstrdup(service_id);
    v->weight = weight;
    v->timeout_ms = timeout_ms;
    v->instances = xcalloc(nready ? nready : 1, sizeof(*v->instances));
    v->health = xcalloc(nready ? nready : 1, sizeof(*v->health));
    if (nready)
        memcpy(v->instances, ready, nready * sizeof(*ready));
    for (size_t j = 0; j < nready; j++)
        v->health[j] = health_new();
    v->ninstances = nready;
    atomic_init(&v->next, 0);
    v->state = vstate_new();
    wrr_build(g);
}

void gw_routes_limit(struct gw_routes *r, const char *service_id, unsigned rps, unsigned inflight)
{
    struct gw_version *v = find_version(r, str_from(service_id));
    if (v) {
        v->rps_limit = rps;
        v->inflight_limit = inflight;
        for (size_t i = 0; i < r->ngroups; i++)
            for (size_t k = 0; k < r->groups[i].nversions; k++)
                if (&r->groups[i].versions[k] == v)
                    r->groups[i].rate_limited |= rps > 0;
    }
}

void gw_routes_scaled_to_zero(struct gw_routes *r, const char *service_id)
{
    struct gw_version *v = find_version(r, str_from(service_id));
    if (v)
        v->scaled_to_zero = true;
}

void gw_routes_wakeable(struct gw_routes *r, const char *service_id)
{
    struct gw_version *v = find_version(r, str_from(service_id));
    if (v)
        v->wakeable = true;
}

bool gw_routes_at_zero(const struct gw_group *g, const struct gw_version *v)
{
    if (v)
        return v->scaled_to_zero;
    for (size_t k = 0; k < g->nversions; k++)
        if (g->versions[k].scaled_to_zero)
            return true;
    return false;
}

void gw_routes_group(struct gw_routes *r, const char *group_id, bool auth, const char *app_key,
                     const char *app_secret, double qps_cap)
{
    struct gw_group *g = group_by_id(r, group_id);
    if (!g)
        return;
    g->auth = auth;
    free(g->app_key);
    free(g->app_secret);
    g->app_key = app_key && *app_key ? xstrdup(app_key) : NULL;
    g->app_secret = app_secret && *app_secret ? xstrdup(app_secret) : NULL;
    g->qps_cap = qps_cap;
}

void gw_routes_token(struct gw_routes *r, const char *group_id, const uint8_t hash[32],
                     const char *id, uint64_t per_minute, uint64_t per_day)
{
    struct gw_group *g = group_by_id(r, group_id);
    if (!g)
        return;
    g->tokens = xrealloc(g->tokens, (g->ntokens + 1) * sizeof(*g->tokens));
    g->quotas = xrealloc(g->quotas, (g->ntokens + 1) * sizeof(*g->quotas));
    struct gw_token *t = &g->tokens[g->ntokens];
    memset(t, 0, sizeof(*t));
    memcpy(t->hash, hash, sizeof(t->hash));
    snprintf(t->id, sizeof(t->id), "%s", id);
    g->quotas[g->ntokens] = (struct gw_quota){per_minute, per_day, tstate_new()};
    g->ntokens++;
}

struct gw_credentials gw_group_credentials(const struct gw_group *g)
{
    return (struct gw_credentials){g->tokens, g->ntokens, g->app_key, g->app_secret};
}

static void refuse(struct gw_admission *out, uint64_t wait_ns, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void refuse(struct gw_admission *out, uint64_t wait_ns, const char *fmt, ...)
{
    out->status = 429;
    uint64_t s = (wait_ns + 999999999u) / 1000000000u;
    out->retry_s = s < 1 ? 1 : s > UINT_MAX ? UINT_MAX : (unsigned)s;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out->reason, sizeof(out->reason), fmt, ap);
    va_end(ap);
}

#define MINUTE_NS (60ull * 1000000000ull)
#define DAY_NS (86400ull * 1000000000ull)

void gw_admit(struct gw_group *g, struct gw_version *v, const struct gw_token *token,
              uint64_t now_ns, struct gw_admission *out)
{
    memset(out, 0, sizeof(*out));
    uint64_t wait;
    if (g->qps_cap > 0 && g->rate_limited &&
        (wait = gw_rate_take(&g->state->rate, g->qps_cap, now_ns)))
        return refuse(out, wait, "service group %s is at its cap of %.0f requests per second",
                      g->id, g->qps_cap);
    size_t n = v->ninstances;
    if (v->rps_limit && n &&
        (wait = gw_rate_take(&v->state->rate, (double)v->rps_limit * (double)n, now_ns)))
        return refuse(out, wait,
                      "service %s is at its limit of %u requests per second per instance (%zu "
                      "ready)",
                      v->service_id, v->rps_limit, n);
    long max = v->inflight_limit ? (long)v->inflight_limit * (long)(n ? n : 1) : LONG_MAX;
    if (!gw_inflight_enter(&v->state->inflight, max))
        return refuse(out, 1000000000u,
                      "service %s has %ld requests in flight, its limit of %u per instance (%zu "
                      "ready)",
                      v->service_id, max, v->inflight_limit, n);
    const struct gw_quota *q = token ? token->ud : NULL;
    if (q && q->per_minute &&
        (wait = gw_window_take(&q->state->minute, q->per_minute, MINUTE_NS, now_ns))) {
        gw_inflight_leave(&v->state->inflight);
        return refuse(out, wait, "the token's quota of %llu requests per minute is used up",
                      (unsigned long long)q->per_minute);
    }
    if (q && q->per_day && (wait = gw_window_take(&q->state->day, q->per_day, DAY_NS, now_ns))) {
        gw_inflight_leave(&v->state->inflight);
        return refuse(out, wait, "the token's quota of %llu requests per day is used up",
                      (unsigned long long)q->per_day);
    }
    atomic_fetch_add(&v->state->refs, 1);
    out->held = v->state;
}

void gw_admit_done(struct gw_vstate *held)
{
    if (!held)
        return;
    gw_inflight_leave(&held->inflight);
    vstate_release(held);
}

static uint64_t rng_next(void)
{
    static _Thread_local uint64_t state;
    if (!state) {
        crypto_random(&state, sizeof(state));
        state |= 1;
    }
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
}

static bool is_ejected(const struct gw_version *v, size_t j)
{
    return atomic_load_explicit(&v->health[j]->ejected, memory_order_relaxed);
}

static bool has_healthy(const struct gw_version *v)
{
    for (size_t j = 0; j < v->ninstances; j++)
        if (!is_ejected(v, j))
            return true;
    return false;
}

/* Round robin over the instances of 'v' other than 'skip', the ejected ones
 * only when 'any' is set. */
static int pick_instance(struct gw_version *v, bool any, const struct gw_instance *skip,
                         struct gw_pick *out)
{
    size_t n = v->ninstances;
    if (n == 0)
        return ERR_UNAVAILABLE;
    unsigned start = atomic_fetch_add(&v->next, 1);
    for (size_t k = 0; k < n; k++) {
        size_t j = (start + k) % n;
        if ((!any && is_ejected(v, j)) || (skip && same_instance(&v->instances[j], skip)))
            continue;
        out->inst = v->instances[j];
        str_copy(out->service_id, sizeof(out->service_id), v->service_id);
        out->timeout_ms = v->timeout_ms;
        out->version = v;
        return 0;
    }
    return ERR_UNAVAILABLE;
}

/* Weighted among versions that have a usable instance: a healthy one, or
 * with 'any', any ready one. In the round-robin order while the version
 * whose turn it is has a healthy instance; by lot among the usable ones
 * otherwise (or when the order is too long to keep). */
static int pick_in_group(struct gw_group *g, bool any, struct gw_pick *out)
{
    if (g->nwrr && !any) {
        unsigned turn = atomic_fetch_add_explicit(&g->wnext, 1, memory_order_relaxed);
        struct gw_version *v = &g->versions[g->wrr[turn % g->nwrr]];
        if (has_healthy(v))
            return pick_instance(v, false, NULL, out);
    }
    uint64_t total = 0;
    size_t usable = 0;
    for (size_t k = 0; k < g->nversions; k++) {
        struct gw_version *v = &g->versions[k];
        if (any ? v->ninstances > 0 : has_healthy(v)) {
            total += v->weight;
            usable++;
        }
    }
    if (usable == 0)
        return ERR_UNAVAILABLE;
    uint64_t x = rng_next() % (total ? total : usable);
    for (size_t k = 0; k < g->nversions; k++) {
        struct gw_version *v = &g->versions[k];
        if (!(any ? v->ninstances > 0 : has_healthy(v)))
            continue;
        uint64_t w = total ? v->weight : 1;
        if (x < w)
            return pick_instance(v, any, NULL, out);
        x -= w;
    }
    return ERR_UNAVAILABLE;
}

struct gw_group *gw_routes_find(struct gw_routes *r, struct str target, struct gw_version **version)
{
    *version = NULL;
    for (size_t i = 0; i < r->ngroups; i++)
        if (str_eq_cstr(target, r->groups[i].id))
            return &r->groups[i];
    for (size_t i = 0; i < r->ngroups; i++)
        for (size_t k = 0; k < r->groups[i].nversions; k++)
            if (str_eq_cstr(target, r->groups[i].versions[k].service_id)) {
                *version = &r->groups[i].versions[k];
                return &r->groups[i];
            }
    return NULL;
}

int gw_routes_pick_in(struct gw_group *g, struct gw_version *v, struct gw_pick *out)
{
    int rc;
    if (!v) {
        rc = pick_in_group(g, false, out);
        return rc == 0 ? 0 : pick_in_group(g, true, out);
    }
    rc = pick_instance(v, false, NULL, out);
    return rc == 0 ? 0 : pick_instance(v, true, NULL, out);
}

int gw_routes_pick(struct gw_routes *r, struct str target, struct gw_pick *out)
{
    struct gw_version *v;
    struct gw_group *g = gw_routes_find(r, target, &v);
    return g ? gw_routes_pick_in(g, v, out) : ERR_NOTFOUND;
}

int gw_routes_pick_other(struct gw_routes *r, const char *service_id,
                         const struct gw_instance *failed, struct gw_pick *out)
{
    struct gw_version *v = find_version(r, str_from(service_id));
    if (!v)
        return ERR_UNAVAILABLE;
    int rc = pick_instance(v, false, failed, out);
    return rc == 0 ? 0 : pick_instance(v, true, failed, out);
}

bool gw_routes_eject(struct gw_routes *r, const struct gw_instance *inst)
{
    struct gw_health *h = find_health(r, inst);
    return h && !atomic_exchange(&h->ejected, true);
}
