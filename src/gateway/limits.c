/* limits.c - GCRA rates, in-flight counts and exact quota windows (limits.h). */
#include "gateway/limits.h"
#include "base/alloc.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

uint64_t gw_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t gw_rate_take(struct gw_rate *r, double rate, uint64_t now)
{
    /* Emission interval T and tolerance tau = (burst - 1) x T. */
    double t = 1e9 / rate;
    double burst = rate / 10 > 4 ? floor(rate / 10) : 4;
    uint64_t interval = t < 1 ? 1 : (uint64_t)t;
    uint64_t tau = (uint64_t)((burst - 1) * t);
    uint64_t tat = atomic_load_explicit(&r->tat, memory_order_relaxed);
    for (;;) {
        uint64_t base = tat > now ? tat : now;
        if (base - now > tau)
            return base - now - tau;
        if (atomic_compare_exchange_weak_explicit(&r->tat, &tat, base + interval,
                                                  memory_order_relaxed, memory_order_relaxed))
            return 0;
    }
}

bool gw_inflight_enter(struct gw_inflight *f, long max)
{
    long n = atomic_load_explicit(&f->n, memory_order_relaxed);
    do {
        if (n >= max)
            return false;
    } while (!atomic_compare_exchange_weak_explicit(&f->n, &n, n + 1, memory_order_relaxed,
                                                    memory_order_relaxed));
    return true;
}

void gw_inflight_leave(struct gw_inflight *f)
{
    atomic_fetch_sub_explicit(&f->n, 1, memory_order_relaxed);
}

void gw_window_init(struct gw_window *w)
{
    memset(w, 0, sizeof(*w));
    pthread_mutex_init(&w->lock, NULL);
}

void gw_window_release(struct gw_window *w)
{
    pthread_mutex_destroy(&w->lock);
    free(w->times);
    free(w->counts);
    memset(w, 0, sizeof(*w));
}

#define NSLOTS (GW_WINDOW_BUCKETS + 1)

/* A large quota: the buckets now-1024 .. now cover (now - span, now]. */
static uint64_t bucket_take(struct gw_window *w, uint64_t max, uint64_t span_ns, uint64_t now)
{
    /* 1024 buckets at least as long as the span together. */
    uint64_t width = (span_ns + GW_WINDOW_BUCKETS - 1) / GW_WINDOW_BUCKETS;
    uint64_t b = now / width;
    if (!w->counts) {
        /* From exact to buckets (the quota was raised): what the ring holds counts on. */
        w->counts = xcalloc(NSLOTS, sizeof(*w->counts));
        w->last = b;
        for (size_t i = 0; i < w->n; i++) {
            uint64_t t = w->times[(w->head + i) % w->cap];
            if (now - t < span_ns) {
                w->counts[(t / width) % NSLOTS]++;
                w->total++;
            }
        }
        w->n = 0;
    }
    /* Buckets that left the ring since the last call give back their counts. */
    for (uint64_t k = w->last + 1; k <= b && k <= w->last + NSLOTS; k++) {
        w->total -= w->counts[k % NSLOTS];
        w->counts[k % NSLOTS] = 0;
    }
    if (b > w->last)
        w->last = b;
    if (w->total < max) {
        w->counts[b % NSLOTS]++;
        w->total++;
        return 0;
    }
    /* Wait until the oldest bucket with a count leaves. */
    for (uint64_t k = b >= NSLOTS - 1 ? b - (NSLOTS - 1) : 0; k <= b; k++)
        if (w->counts[k % NSLOTS])
            return (k + NSLOTS) * width - now;
    return width;
}

uint64_t gw_window_take(struct gw_window *w, uint64_t max, uint64_t span_ns, uint64_t now)
{
    pthread_mutex_lock(&w->lock);
    if (max > GW_WINDOW_EXACT_MAX || w->counts) {
        uint64_t wait = bucket_take(w, max, span_ns, now);
        pthread_mutex_unlock(&w->lock);
        return wait;
    }
    /* Forget what left the window: (now - span, now] holds what counts. */
    while (w->n && now - w->times[w->head] >= span_ns) {
        w->head = (w->head + 1) % w->cap;
        w->n--;
    }
    /* A quota lowered since: the oldest beyond it stay until they leave. */
    uint64_t wait = 0;
    if (w->n >= max) {
        size_t oldest = (w->head + (w->n - max)) % w->cap;
        wait = w->times[oldest] + span_ns - now;
    } else {
        if (w->n == w->cap) {
            size_t cap = w->cap ? 2 * w->cap : 16;
            if (cap > max)
                cap = (size_t)max;
            uint64_t *t = xmalloc(cap * sizeof(*t));
            for (size_t i = 0; i < w->n; i++)
                t[i] = w->times[(w->head + i) % w->cap];
            free(w->times);
            w->times = t;
            w->cap = cap;
            w->head = 0;
        }
        w->times[(w->head + w->n) % w->cap] = now;
        w->n++;
    }
    pthread_mutex_unlock(&w->lock);
    return wait;
}
