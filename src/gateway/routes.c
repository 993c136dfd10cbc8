/* routes.c - route tables, the choice of an instance and passive health. */
#include "gateway/routes.h"
#include "base/alloc.h"
#include "base/crypto.h"

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

void gw_table_publish(struct gw_table *t, struct gw_routes *routes)
{
    pthread_mutex_lock(&t->lock);
    struct gw_routes *old = t->current;
    inherit_health(routes, old);
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
            free(v->service_id);
            free(v->instances);
            free(v->health);
        }
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

static size_t healthy_count(const struct gw_version *v)
{
    size_t n = 0;
    for (size_t j = 0; j < v->ninstances; j++)
        n += !is_ejected(v, j);
    return n;
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
        snprintf(out->service_id, sizeof(out->service_id), "%s", v->service_id);
        out->timeout_ms = v->timeout_ms;
        return 0;
    }
    return ERR_UNAVAILABLE;
}

/* Weighted among versions that have a usable instance: a healthy one, or
 * with 'any', any ready one. */
static int pick_in_group(struct gw_group *g, bool any, struct gw_pick *out)
{
    uint64_t total = 0;
    size_t usable = 0;
    for (size_t k = 0; k < g->nversions; k++) {
        struct gw_version *v = &g->versions[k];
        if (any ? v->ninstances > 0 : healthy_count(v) > 0) {
            total += v->weight;
            usable++;
        }
    }
    if (usable == 0)
        return ERR_UNAVAILABLE;
    uint64_t x = rng_next() % (total ? total : usable);
    for (size_t k = 0; k < g->nversions; k++) {
        struct gw_version *v = &g->versions[k];
        if (!(any ? v->ninstances > 0 : healthy_count(v) > 0))
            continue;
        uint64_t w = total ? v->weight : 1;
        if (x < w)
            return pick_instance(v, any, NULL, out);
        x -= w;
    }
    return ERR_UNAVAILABLE;
}

static struct gw_version *find_version(struct gw_routes *r, struct str service_id)
{
    for (size_t i = 0; i < r->ngroups; i++)
        for (size_t k = 0; k < r->groups[i].nversions; k++)
            if (str_eq_cstr(service_id, r->groups[i].versions[k].service_id))
                return &r->groups[i].versions[k];
    return NULL;
}

int gw_routes_pick(struct gw_routes *r, struct str target, struct gw_pick *out)
{
    for (size_t i = 0; i < r->ngroups; i++) {
        struct gw_group *g = &r->groups[i];
        if (str_eq_cstr(target, g->id)) {
            int rc = pick_in_group(g, false, out);
            return rc == 0 ? 0 : pick_in_group(g, true, out);
        }
    }
    struct gw_version *v = find_version(r, target);
    if (!v)
        return ERR_NOTFOUND;
    int rc = pick_instance(v, false, NULL, out);
    return rc == 0 ? 0 : pick_instance(v, true, NULL, out);
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
