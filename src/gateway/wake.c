/* wake.c - the queue of requests waiting for a version to come up from zero.
 * Each worker keeps its own list and a timer that runs only while the list
 * is not empty; the timer compares the published route table with the one
 * it last looked at, so a request is retried the moment a new table (an
 * instance became ready) is out, and otherwise costs one pointer read per
 * tick. The counts that bound the queue are shared atomics; the held count
 * per version, which the autoscaler reads once a second, is a small table
 * under a mutex. */
#include "gateway/wake.h"
#include "base/alloc.h"
#include "base/err.h"
#include "base/log.h"
#include "gateway/limits.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

struct wq {
    uv_timer_t timer;
    bool timer_init;
    struct gw_wait head; /* sentinel of a circular list */
    size_t n;
    const struct gw_routes *seen; /* the table last retried against (compared only) */
    unsigned ticks;
    struct gw_waker *w;
};

struct held_count {
    char id[64];
    unsigned n;
};

struct gw_waker {
    struct gw_waker_config cfg;
    struct wq *wqs;
    atomic_size_t nheld, bytes;
    pthread_mutex_t lock; /* counts */
    struct held_count *counts;
    size_t ncounts;
};

struct gw_waker *gw_waker_new(const struct gw_waker_config *cfg)
{
    struct gw_waker *w = xcalloc(1, sizeof(*w));
    w->cfg = *cfg;
    if (!w->cfg.num_threads)
        w->cfg.num_threads = 1;
    if (!w->cfg.timeout_ms)
        w->cfg.timeout_ms = GW_WAKE_TIMEOUT_MS_DEFAULT;
    w->wqs = xcalloc(w->cfg.num_threads, sizeof(*w->wqs));
    for (unsigned i = 0; i < w->cfg.num_threads; i++) {
        w->wqs[i].head.prev = w->wqs[i].head.next = &w->wqs[i].head;
        w->wqs[i].w = w;
    }
    w->counts = xcalloc(GW_WAKE_MAX_REQUESTS, sizeof(*w->counts));
    pthread_mutex_init(&w->lock, NULL);
    return w;
}

void gw_waker_free(struct gw_waker *w)
{
    if (!w)
        return;
    pthread_mutex_destroy(&w->lock);
    free(w->counts);
    free(w->wqs);
    free(w);
}

static bool version_wakeable(const struct gw_version *v)
{
    return v->wakeable && v->ninstances == 0;
}

bool gw_waker_wants(const struct gw_group *g, const struct gw_version *v,
                    const struct gw_version **counted)
{
    if (v) {
        *counted = v;
        return version_wakeable(v);
    }
    /* By weight: a version that weighs something, or any when all weigh 0. */
    bool any_weight = false;
    for (size_t k = 0; k < g->nversions; k++)
        any_weight |= g->versions[k].weight > 0;
    for (size_t k = 0; k < g->nversions; k++)
        if (version_wakeable(&g->versions[k]) && (!any_weight || g->versions[k].weight > 0)) {
            *counted = &g->versions[k];
            return true;
        }
    return false;
}

void gw_waker_wake(struct gw_waker *w, const struct gw_group *g, const struct gw_version *v)
{
    if (!w->cfg.wake)
        return;
    if (v) {
        w->cfg.wake(v->service_id, w->cfg.wake_ud);
        return;
    }
    bool any_weight = false;
    for (size_t k = 0; k < g->nversions; k++)
        any_weight |= g->versions[k].weight > 0;
    for (size_t k = 0; k < g->nversions; k++)
        if (version_wakeable(&g->versions[k]) && (!any_weight || g->versions[k].weight > 0))
            w->cfg.wake(g->versions[k].service_id, w->cfg.wake_ud);
}

static void count(struct gw_waker *w, const char *id, int by)
{
    pthread_mutex_lock(&w->lock);
    size_t i = 0;
    while (i < w->ncounts && strcmp(w->counts[i].id, id) != 0)
        i++;
    if (i == w->ncounts && by > 0) {
        str_copy(w->counts[i].id, sizeof(w->counts[i].id), id);
        w->counts[i].n = 0;
        w->ncounts++;
    }
    if (i < w->ncounts) {
        w->counts[i].n += (unsigned)by;
        if (w->counts[i].n == 0)
            w->counts[i] = w->counts[--w->ncounts];
    }
    pthread_mutex_unlock(&w->lock);
}

unsigned gw_waker_held(struct gw_waker *w, const char *service_id)
{
    if (!w)
        return 0;
    unsigned n = 0;
    pthread_mutex_lock(&w->lock);
    for (size_t i = 0; i < w->ncounts; i++)
        if (strcmp(w->counts[i].id, service_id) == 0)
            n = w->counts[i].n;
    pthread_mutex_unlock(&w->lock);
    return n;
}

static void unlink_wait(struct gw_waker *w, struct gw_wait *wait)
{
    struct wq *q = &w->wqs[wait->worker];
    wait->prev->next = wait->next;
    wait->next->prev = wait->prev;
    wait->prev = wait->next = NULL;
    q->n--;
    atomic_fetch_sub(&w->nheld, 1);
    atomic_fetch_sub(&w->bytes, wait->bytes);
    count(w, wait->service_id, -1);
}

static void on_tick(uv_timer_t *t)
{
    struct wq *q = t->data;
    struct gw_waker *w = q->w;
    struct gw_routes *now = gw_table_acquire(w->cfg.routes);
    /* A new table, or every 100 ms in case a pointer came back the same. */
    bool retry = now != q->seen || ++q->ticks % (100 / GW_WAKE_POLL_MS) == 0;
    q->seen = now;
    gw_routes_release(now);
    uint64_t t_ns = gw_now_ns();
    struct gw_wait *next;
    for (struct gw_wait *x = q->head.next; x != &q->head; x = next) {
        next = x->next;
        if (retry) {
            unlink_wait(w, x);
            if (w->cfg.retry(x, w->cfg.ud) == GW_WAIT_DONE)
                continue;
            /* Back in, at its place in the order. */
            x->prev = next->prev;
            x->next = next;
            next->prev->next = x;
            next->prev = x;
            q->n++;
            atomic_fetch_add(&w->nheld, 1);
            atomic_fetch_add(&w->bytes, x->bytes);
            count(w, x->service_id, 1);
        }
        if (t_ns >= x->deadline_ns) {
            unlink_wait(w, x);
            w->cfg.expired(x, w->cfg.ud);
        }
    }
    if (!q->n)
        uv_timer_stop(&q->timer);
}

int gw_waker_hold(struct gw_waker *w, struct gw_wait *wait, unsigned worker, uv_loop_t *loop)
{
    if (worker >= w->cfg.num_threads)
        return ERR_TOOBIG;
    if (atomic_fetch_add(&w->nheld, 1) >= GW_WAKE_MAX_REQUESTS) {
        atomic_fetch_sub(&w->nheld, 1);
        return ERR_TOOBIG;
    }
    if (atomic_fetch_add(&w->bytes, wait->bytes) + wait->bytes > GW_WAKE_MAX_BYTES) {
        atomic_fetch_sub(&w->bytes, wait->bytes);
        atomic_fetch_sub(&w->nheld, 1);
        return ERR_TOOBIG;
    }
    struct wq *q = &w->wqs[worker];
    if (!q->timer_init) {
        uv_timer_init(loop, &q->timer);
        q->timer.data = q;
        q->timer_init = true;
    }
    wait->worker = worker;
    wait->deadline_ns = gw_now_ns() + w->cfg.timeout_ms * 1000000;
    wait->next = &q->head;
    wait->prev = q->head.prev;
    q->head.prev->next = wait;
    q->head.prev = wait;
    if (!q->n++)
        uv_timer_start(&q->timer, on_tick, GW_WAKE_POLL_MS, GW_WAKE_POLL_MS);
    count(w, wait->service_id, 1);
    return 0;
}

void gw_waker_remove(struct gw_waker *w, struct gw_wait *wait)
{
    if (!wait->next)
        return;
    unlink_wait(w, wait);
    if (!w->wqs[wait->worker].n)
        uv_timer_stop(&w->wqs[wait->worker].timer);
}

void gw_waker_worker_stop(struct gw_waker *w, unsigned worker)
{
    if (!w || worker >= w->cfg.num_threads)
        return;
    struct wq *q = &w->wqs[worker];
    while (q->head.next != &q->head) {
        struct gw_wait *x = q->head.next;
        unlink_wait(w, x);
        w->cfg.expired(x, w->cfg.ud);
    }
    if (q->timer_init) {
        uv_timer_stop(&q->timer);
        uv_close((uv_handle_t *)&q->timer, NULL);
        q->timer_init = false;
    }
}
