/* metrics.c - per-worker gateway counters, summed at scrape time.
 * Histograms keep non-cumulative bucket counts in nanosecond bounds; a
 * scrape turns them into seconds. */
#include "gateway/metrics.h"
#include "base/alloc.h"
#include "base/err.h"
#include "gateway/limits.h"
#include "gateway/routes.h"
#include "http/prom.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The codes counted by number; the others by class. */
static const int known_codes[] = {200, 201, 202, 204, 206, 301, 302, 303, 304, 307,
                                  308, 400, 401, 403, 404, 405, 408, 409, 413, 414,
                                  415, 422, 429, 431, 499, 500, 501, 502, 503, 504};
#define NKNOWN (sizeof(known_codes) / sizeof(known_codes[0]))
static const char *const class_names[] = {"1xx", "2xx", "3xx", "4xx", "5xx", "other"};
#define NCODES (NKNOWN + 6)

/* Upper bounds in seconds: the gateway's own time is tens of microseconds,
 * a model's from a millisecond to a minute. */
static const double bounds_s[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                  0.1,    0.25,    0.5,    1,     2.5,    5,     10,   30,    60};
#define NBOUNDS (sizeof(bounds_s) / sizeof(bounds_s[0]))
static const uint64_t bounds_ns[NBOUNDS] = {
    100000,     250000,      500000,      1000000,      2500000,      5000000,
    10000000,   25000000,    50000000,    100000000,    250000000,    500000000,
    1000000000, 2500000000u, 5000000000u, 10000000000u, 30000000000u, 60000000000u};

enum { UP_CONNECT, UP_UNAVAILABLE, UP_TIMEOUT, UP_OTHER, NUP };
static const char *const up_names[NUP] = {"connect", "unavailable", "timeout", "other"};

typedef _Atomic uint64_t counter;

struct hist {
    counter buckets[NBOUNDS + 1];
    counter sum_ns;
};

/* One worker's counts for one set. The pads keep its lines its own. */
struct cell {
    char pad0[64];
    counter codes[NCODES];
    struct hist overhead, upstream;
    counter upstream_errors[NUP];
    counter started, ended; /* in flight: started - ended */
    char pad1[64];
};

struct gw_mset {
    unsigned nworkers;
    _Atomic(struct cell *) cells[];
};

static unsigned workers = 1;

void gw_metrics_set_workers(unsigned n)
{
    workers = n ? n : 1;
}

struct gw_mset *gw_mset_new(void)
{
    struct gw_mset *m = xcalloc(1, sizeof(*m) + workers * sizeof(m->cells[0]));
    m->nworkers = workers;
    return m;
}

void gw_mset_free(struct gw_mset *m)
{
    if (!m)
        return;
    for (unsigned i = 0; i < m->nworkers; i++)
        free(atomic_load(&m->cells[i]));
    free(m);
}

/* Only the owning worker writes a cell: a load and a store, no lock prefix. */
static inline void bump(counter *c, uint64_t by)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + by,
                          memory_order_relaxed);
}

static struct cell *cell_of(struct gw_mset *m, unsigned worker)
{
    if (!m || worker >= m->nworkers)
        return NULL;
    struct cell *c = atomic_load_explicit(&m->cells[worker], memory_order_acquire);
    if (!c) {
        c = xcalloc(1, sizeof(*c));
        atomic_store_explicit(&m->cells[worker], c, memory_order_release);
    }
    return c;
}

static size_t code_slot(int status)
{
    for (size_t i = 0; i < NKNOWN; i++)
        if (known_codes[i] == status)
            return i;
    if (status >= 100 && status < 600)
        return NKNOWN + (size_t)(status / 100 - 1);
    return NCODES - 1;
}

static void observe(struct hist *h, uint64_t ns)
{
    size_t b = 0;
    while (b < NBOUNDS && ns > bounds_ns[b])
        b++;
    bump(&h->buckets[b], 1);
    bump(&h->sum_ns, ns);
}

void gw_metrics_answer(struct gw_mset *m, unsigned worker, int status)
{
    struct cell *c = cell_of(m, worker);
    if (c)
        bump(&c->codes[code_slot(status)], 1);
}

void gw_metrics_refused(struct gw_group *g, struct gw_version *v, unsigned worker, int status)
{
    gw_metrics_answer(v ? v->state->metrics : g->state->metrics, worker, status);
}

void gw_mreq_begin(struct gw_mreq *r, struct gw_mset *m, unsigned worker, uint64_t start_ns)
{
    *r = (struct gw_mreq){.m = m, .worker = worker, .start_ns = start_ns};
    struct cell *c = cell_of(m, worker);
    if (!c) {
        r->m = NULL;
        return;
    }
    r->sent_ns = gw_now_ns();
    bump(&c->started, 1);
}

void gw_mreq_failed(struct gw_mreq *r, int rc)
{
    struct cell *c = cell_of(r->m, r->worker);
    if (!c)
        return;
    r->done_ns = gw_now_ns();
    int kind = rc == ERR_AGAIN ? UP_TIMEOUT : rc == ERR_UNAVAILABLE ? UP_UNAVAILABLE : UP_OTHER;
    if (rc != ERR_SYS(ECANCELED)) /* the gateway stopping is not the upstream's fault */
        bump(&c->upstream_errors[kind], 1);
    if (!r->status)
        r->status = rc == ERR_AGAIN ? 504 : rc == ERR_SYS(ECANCELED) ? 503 : 502;
}

void gw_mreq_failover(struct gw_mreq *r)
{
    struct cell *c = cell_of(r->m, r->worker);
    if (c)
        bump(&c->upstream_errors[UP_CONNECT], 1);
}

void gw_mreq_end(struct gw_mreq *r)
{
    struct cell *c = cell_of(r->m, r->worker);
    if (!c)
        return;
    uint64_t end = gw_now_ns();
    uint64_t done = r->done_ns ? r->done_ns : end;
    uint64_t up = done > r->sent_ns ? done - r->sent_ns : 0;
    uint64_t total = end > r->start_ns ? end - r->start_ns : 0;
    bump(&c->codes[code_slot(r->status ? r->status : 499)], 1);
    observe(&c->upstream, up);
    observe(&c->overhead, total > up ? total - up : 0);
    bump(&c->ended, 1);
    r->m = NULL;
}

/* ------------------------------------------------------------------------ */
/* Scrape                                                                   */

struct sums {
    uint64_t codes[NCODES];
    uint64_t overhead[NBOUNDS + 1], upstream[NBOUNDS + 1];
    uint64_t overhead_sum_ns, upstream_sum_ns;
    uint64_t upstream_errors[NUP];
    uint64_t started, ended;
};

static uint64_t rd(counter *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

static void sum_set(struct gw_mset *m, struct sums *s)
{
    memset(s, 0, sizeof(*s));
    for (unsigned w = 0; m && w < m->nworkers; w++) {
        struct cell *c = atomic_load_explicit(&m->cells[w], memory_order_acquire);
        if (!c)
            continue;
        for (size_t i = 0; i < NCODES; i++)
            s->codes[i] += rd(&c->codes[i]);
        for (size_t b = 0; b <= NBOUNDS; b++) {
            s->overhead[b] += rd(&c->overhead.buckets[b]);
            s->upstream[b] += rd(&c->upstream.buckets[b]);
        }
        s->overhead_sum_ns += rd(&c->overhead.sum_ns);
        s->upstream_sum_ns += rd(&c->upstream.sum_ns);
        for (size_t i = 0; i < NUP; i++)
            s->upstream_errors[i] += rd(&c->upstream_errors[i]);
        /* 'ended' first: a request that ends between the loads is not seen
         * as ended and not started (never a negative in-flight count). */
        uint64_t ended = rd(&c->ended);
        s->ended += ended;
        s->started += rd(&c->started);
    }
}

int gw_metrics_load(struct gw_table *table, const char *service_id, struct gw_load *out)
{
    memset(out, 0, sizeof(*out));
    struct gw_routes *r = gw_table_acquire(table);
    struct gw_version *v = NULL;
    struct gw_group *g = gw_routes_find(r, str_from(service_id), &v);
    int rc = ERR_NOTFOUND;
    if (g && v) {
        uint64_t started = 0, ended = 0;
        for (unsigned w = 0; v->state->metrics && w < v->state->metrics->nworkers; w++) {
            struct cell *c =
                atomic_load_explicit(&v->state->metrics->cells[w], memory_order_acquire);
            if (!c)
                continue;
            ended += rd(&c->ended); /* first, as in sum_set() */
            started += rd(&c->started);
        }
        out->forwarded = started;
        out->inflight = started > ended ? started - ended : 0;
        rc = 0;
    }
    gw_routes_release(r);
    return rc;
}

/* One series: a group ("" for the unrouted) and a version ("" for the
 * group's own answers), with their sums. */
struct series {
    const char *group, *version;
    bool proxied; /* a version: has histograms, in-flight and upstream errors */
    struct sums s;
};

static void code_name(size_t slot, char out[8])
{
    if (slot < NKNOWN)
        snprintf(out, 8, "%d", known_codes[slot]);
    else
        snprintf(out, 8, "%s", class_names[slot - NKNOWN]);
}

static void write_codes(struct buf *out, const struct series *v, size_t n)
{
    prom_family(out, "berth_gateway_requests_total", PROM_COUNTER,
                "Requests the gateway answered, by group, version (ServiceId) and the status code "
                "sent; version \"\": answered before a version was chosen (401, 403, 503); group "
                "\"\": the path named no group (404); 499: the client went away before the head.");
    for (size_t i = 0; i < n; i++) {
        char code[8];
        struct prom_label l[] = {{"group", v[i].group}, {"version", v[i].version}, {"code", code}};
        for (size_t k = 0; k < NCODES; k++) {
            /* A version always shows its 200s, so its series exists from the start. */
            if (!v[i].s.codes[k] && !(v[i].proxied && k < NKNOWN && known_codes[k] == 200))
                continue;
            code_name(k, code);
            prom_sample_u64(out, "berth_gateway_requests_total", l, 3, v[i].s.codes[k]);
        }
    }
}

static void write_hist(struct buf *out, const struct series *v, size_t n, bool upstream)
{
    const char *name =
        upstream ? "berth_gateway_upstream_seconds" : "berth_gateway_overhead_seconds";
    prom_family(out, name, PROM_HISTOGRAM,
                upstream ? "Time from sending a request to an instance to the end of its answer "
                           "(SageMaker's ModelLatency), forwarded requests only."
                         : "The gateway's own time in a forwarded request: from its head to the "
                           "end of the answer, less the upstream's time (SageMaker's "
                           "OverheadLatency).");
    for (size_t i = 0; i < n; i++) {
        if (!v[i].proxied)
            continue;
        struct prom_label l[] = {{"group", v[i].group}, {"version", v[i].version}};
        const struct sums *s = &v[i].s;
        prom_histogram(out, name, l, 2, bounds_s, upstream ? s->upstream : s->overhead, NBOUNDS,
                       (double)(upstream ? s->upstream_sum_ns : s->overhead_sum_ns) / 1e9);
    }
}

static void write_rest(struct buf *out, const struct series *v, size_t n)
{
    prom_family(out, "berth_gateway_requests_in_flight", PROM_GAUGE,
                "Requests forwarded to a version's instances and not answered yet.");
    for (size_t i = 0; i < n; i++)
        if (v[i].proxied) {
            struct prom_label l[] = {{"group", v[i].group}, {"version", v[i].version}};
            uint64_t s = v[i].s.started, e = v[i].s.ended;
            prom_sample_u64(out, "berth_gateway_requests_in_flight", l, 2, s > e ? s - e : 0);
        }
    prom_family(out, "berth_gateway_upstream_errors_total", PROM_COUNTER,
                "Failures of instances seen by the gateway: connect (refused or reset before "
                "the request went; it went to another instance), unavailable (closed or reset, "
                "no other instance: 502), timeout (504), other (502).");
    for (size_t i = 0; i < n; i++)
        if (v[i].proxied)
            for (size_t k = 0; k < NUP; k++) {
                struct prom_label l[] = {
                    {"group", v[i].group}, {"version", v[i].version}, {"reason", up_names[k]}};
                prom_sample_u64(out, "berth_gateway_upstream_errors_total", l, 3,
                                v[i].s.upstream_errors[k]);
            }
}

void gw_metrics_write(struct buf *out, struct gw_table *table, struct gw_mset *unrouted)
{
    struct gw_routes *r = gw_table_acquire(table);
    size_t n = 1;
    for (size_t i = 0; i < r->ngroups; i++)
        n += 1 + r->groups[i].nversions;
    struct series *v = xcalloc(n, sizeof(*v));
    size_t k = 0;
    v[k].group = v[k].version = "";
    sum_set(unrouted, &v[k++].s);
    for (size_t i = 0; i < r->ngroups; i++) {
        const struct gw_group *g = &r->groups[i];
        v[k].group = g->id;
        v[k].version = "";
        sum_set(g->state->metrics, &v[k++].s);
        for (size_t j = 0; j < g->nversions; j++) {
            v[k].group = g->id;
            v[k].version = g->versions[j].service_id;
            v[k].proxied = true;
            sum_set(g->versions[j].state->metrics, &v[k++].s);
        }
    }
    write_codes(out, v, n);
    write_hist(out, v, n, false);
    write_hist(out, v, n, true);
    write_rest(out, v, n);
    free(v);
    gw_routes_release(r);
}
