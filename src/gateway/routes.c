/* routes.c - route tables and the choice of an instance. */
#include "gateway/routes.h"
#include "base/alloc.h"
#include "base/crypto.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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

void gw_table_publish(struct gw_table *t, struct gw_routes *routes)
{
    pthread_mutex_lock(&t->lock);
    struct gw_routes *old = t->current;
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

void gw_routes_release(struct gw_routes *r)
{
    if (!r || atomic_fetch_sub(&r->refs, 1) != 1)
        return;
    for (size_t i = 0; i < r->ngroups; i++) {
        struct gw_group *g = &r->groups[i];
        for (size_t k = 0; k < g->nversions; k++) {
            free(g->versions[k].service_id);
            free(g->versions[k].instances);
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
                   unsigned weight, const struct gw_instance *ready, size_t nready)
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
    v->instances = xcalloc(nready ? nready : 1, sizeof(*v->instances));
    if (nready)
        memcpy(v->instances, ready, nready * sizeof(*ready));
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

static int pick_instance(struct gw_version *v, struct gw_instance *out)
{
    if (v->ninstances == 0)
        return ERR_UNAVAILABLE;
    unsigned i = atomic_fetch_add(&v->next, 1);
    *out = v->instances[i % v->ninstances];
    return 0;
}

int gw_routes_pick(struct gw_routes *r, struct str target, struct gw_instance *out,
                   const char **service_id)
{
    for (size_t i = 0; i < r->ngroups; i++) {
        struct gw_group *g = &r->groups[i];
        if (str_eq_cstr(target, g->id)) {
            /* Weighted among versions that have a ready instance. */
            uint64_t total = 0;
            size_t ready = 0;
            for (size_t k = 0; k < g->nversions; k++) {
                if (g->versions[k].ninstances) {
                    total += g->versions[k].weight;
                    ready++;
                }
            }
            if (ready == 0)
                return ERR_UNAVAILABLE;
            uint64_t x = rng_next() % (total ? total : ready);
            for (size_t k = 0; k < g->nversions; k++) {
                struct gw_version *v = &g->versions[k];
                if (!v->ninstances)
                    continue;
                uint64_t w = total ? v->weight : 1;
                if (x < w) {
                    *service_id = v->service_id;
                    return pick_instance(v, out);
                }
                x -= w;
            }
            return ERR_UNAVAILABLE;
        }
        for (size_t k = 0; k < g->nversions; k++) {
            if (str_eq_cstr(target, g->versions[k].service_id)) {
                *service_id = g->versions[k].service_id;
                return pick_instance(&g->versions[k], out);
            }
        }
    }
    return ERR_NOTFOUND;
}
