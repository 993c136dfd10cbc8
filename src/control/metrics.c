/* metrics.c - the assembly of /metrics from its writers, the health and
 * readiness answers, and the instances' targets for service discovery.
 * Scrapes are rare next to requests: the API's counts sit behind a mutex,
 * and the reconciler's figures come from its status table (a copy). */
#include "control/metrics.h"
#include "base/alloc.h"
#include "base/crypto.h"
#include "control/reconciler.h"
#include "drivers/procstat.h"
#include "gateway/metrics.h"
#include "http/prom.h"
#include "store/store.h"

#include <assert.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_WRITERS 16
#define MAX_API_SERIES 512 /* actions x error codes; both are finite sets */
#define READY_PASS_MS 5000 /* a reconciler pass at least this often (it ticks every 250 ms) */

struct api_series {
    char action[64], code[96];
    uint64_t count;
};

struct ctl_metrics {
    struct ctl_metrics_config cfg;
    char *token;
    struct {
        ctl_metrics_write_fn fn;
        void *ud;
    } writers[MAX_WRITERS];
    size_t nwriters;
    atomic_bool gateway_listening;
    pthread_mutex_t lock; /* the API's counts */
    struct api_series *api;
    size_t napi;
};

void ctl_metrics_add(struct ctl_metrics *m, ctl_metrics_write_fn fn, void *ud)
{
    assert(m->nwriters < MAX_WRITERS);
    m->writers[m->nwriters].fn = fn;
    m->writers[m->nwriters++].ud = ud;
}

void ctl_metrics_set_gateway(struct ctl_metrics *m, bool listening)
{
    if (m)
        atomic_store(&m->gateway_listening, listening);
}

void ctl_metrics_api_count(struct ctl_metrics *m, const char *action, const char *code)
{
    if (!m)
        return;
    pthread_mutex_lock(&m->lock);
    struct api_series *s = NULL;
    for (size_t i = 0; i < m->napi && !s; i++)
        if (strcmp(m->api[i].action, action) == 0 && strcmp(m->api[i].code, code) == 0)
            s = &m->api[i];
    if (!s && m->napi < MAX_API_SERIES) {
        s = &m->api[m->napi++];
        snprintf(s->action, sizeof(s->action), "%s", action);
        snprintf(s->code, sizeof(s->code), "%s", code);
    }
    if (s)
        s->count++;
    pthread_mutex_unlock(&m->lock);
}

/* ------------------------------------------------------------------------ */
/* The built-in writers                                                     */

/* Prometheus' conventions for a process (client libraries' process collector). */
static void write_process(struct buf *out, void *ud)
{
    (void)ud;
    struct drv_self s;
    if (drv_self_read(&s) != 0)
        return;
    prom_family(out, "process_cpu_seconds_total", PROM_COUNTER,
                "Total user and system CPU time spent in seconds.");
    prom_sample(out, "process_cpu_seconds_total", NULL, 0, s.cpu_seconds);
    prom_family(out, "process_resident_memory_bytes", PROM_GAUGE, "Resident memory size in bytes.");
    prom_sample_u64(out, "process_resident_memory_bytes", NULL, 0, s.resident_bytes);
    prom_family(out, "process_virtual_memory_bytes", PROM_GAUGE, "Virtual memory size in bytes.");
    prom_sample_u64(out, "process_virtual_memory_bytes", NULL, 0, s.virtual_bytes);
    prom_family(out, "process_open_fds", PROM_GAUGE, "Number of open file descriptors.");
    prom_sample_u64(out, "process_open_fds", NULL, 0, s.open_fds);
    if (s.max_fds) {
        prom_family(out, "process_max_fds", PROM_GAUGE, "Maximum number of open file descriptors.");
        prom_sample_u64(out, "process_max_fds", NULL, 0, s.max_fds);
    }
    prom_family(out, "process_start_time_seconds", PROM_GAUGE,
                "Start time of the process since unix epoch in seconds.");
    prom_sample(out, "process_start_time_seconds", NULL, 0, s.start_time_s);
}

static void write_api(struct buf *out, void *ud)
{
    struct ctl_metrics *m = ud;
    prom_family(out, "berth_api_requests_total", PROM_COUNTER,
                "Management API requests by action (\"other\": none the API knows) and error code "
                "(\"OK\": success).");
    pthread_mutex_lock(&m->lock);
    for (size_t i = 0; i < m->napi; i++) {
        struct prom_label l[] = {{"action", m->api[i].action}, {"code", m->api[i].code}};
        prom_sample_u64(out, "berth_api_requests_total", l, 2, m->api[i].count);
    }
    pthread_mutex_unlock(&m->lock);
}

/* One gauge or counter per service, from its status. */
static void write_per_service(struct buf *out, const struct ctl_service_status *v, size_t n,
                              const char *name, enum prom_type type, const char *help, int which)
{
    prom_family(out, name, type, help);
    for (size_t i = 0; i < n; i++) {
        struct prom_label l[] = {{"group", v[i].st.group_id}, {"version", v[i].id}};
        const struct ctl_status *st = &v[i].st;
        uint64_t x = which == 0   ? (uint64_t)st->desired
                     : which == 1 ? (uint64_t)st->replicas
                     : which == 2 ? (uint64_t)st->ready
                                  : st->restarts;
        prom_sample_u64(out, name, l, 2, x);
    }
}

/* One per instance that has been sampled. */
static void write_per_pod(struct buf *out, const struct ctl_service_status *v, size_t n,
                          const char *name, enum prom_type type, const char *help, int which)
{
    prom_family(out, name, type, help);
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < v[i].st.npods; k++) {
            const struct ctl_pod *p = &v[i].st.pods[k];
            if (which != 3 && !p->usage_known)
                continue;
            struct prom_label l[] = {
                {"group", v[i].st.group_id}, {"version", v[i].id}, {"pod", p->name}};
            double x = which == 0   ? p->cpu_seconds
                       : which == 1 ? p->cpu_cores
                       : which == 2 ? (double)p->memory_bytes
                                    : (double)p->ready;
            prom_sample(out, name, l, 3, x);
        }
}

static void write_services(struct buf *out, void *ud)
{
    struct ctl_metrics *m = ud;
    struct ctl_service_status *v;
    size_t n;
    ctl_reconciler_statuses(m->cfg.reconciler, &v, &n);
    write_per_service(out, v, n, "berth_service_replicas_desired", PROM_GAUGE,
                      "Instances a version (ServiceId) asks for.", 0);
    write_per_service(out, v, n, "berth_service_replicas", PROM_GAUGE,
                      "Instances of a version that run (stopping ones included).", 1);
    write_per_service(out, v, n, "berth_service_replicas_ready", PROM_GAUGE,
                      "Instances of a version whose readiness probe passes.", 2);
    write_per_service(out, v, n, "berth_service_restarts_total", PROM_COUNTER,
                      "Restarts of a version's instances (crashes, failed starts) since berthd "
                      "started.",
                      3);
    write_per_pod(out, v, n, "berth_instance_ready", PROM_GAUGE,
                  "Whether an instance is ready (1) or not (0).", 3);
    write_per_pod(out, v, n, "berth_instance_cpu_seconds_total", PROM_COUNTER,
                  "CPU time of an instance's processes (its cgroup's, when it has one), sampled "
                  "every 2 s.",
                  0);
    write_per_pod(out, v, n, "berth_instance_cpu_cores", PROM_GAUGE,
                  "CPU an instance used over the last sampling period, in cores.", 1);
    write_per_pod(out, v, n, "berth_instance_memory_bytes", PROM_GAUGE,
                  "Resident memory of an instance's processes (summed RSS), or its cgroup's "
                  "usage.",
                  2);
    ctl_statuses_free(v, n);
}

static void write_gateway(struct buf *out, void *ud)
{
    struct ctl_metrics *m = ud;
    gw_metrics_write(out, m->cfg.routes, m->cfg.unrouted);
}

struct ctl_metrics *ctl_metrics_new(const struct ctl_metrics_config *cfg)
{
    struct ctl_metrics *m = xcalloc(1, sizeof(*m));
    m->cfg = *cfg;
    m->token = cfg->token && *cfg->token ? xstrdup(cfg->token) : NULL;
    m->cfg.token = NULL;
    m->api = xcalloc(MAX_API_SERIES, sizeof(*m->api));
    pthread_mutex_init(&m->lock, NULL);
    atomic_init(&m->gateway_listening, false);
    ctl_metrics_add(m, write_process, NULL);
    ctl_metrics_add(m, write_api, m);
    if (cfg->reconciler)
        ctl_metrics_add(m, write_services, m);
    if (cfg->routes)
        ctl_metrics_add(m, write_gateway, m);
    return m;
}

void ctl_metrics_free(struct ctl_metrics *m)
{
    if (!m)
        return;
    pthread_mutex_destroy(&m->lock);
    if (m->token) {
        crypto_wipe(m->token, strlen(m->token));
        free(m->token);
    }
    free(m->api);
    free(m);
}

void ctl_metrics_write(struct ctl_metrics *m, struct buf *out)
{
    for (size_t i = 0; i < m->nwriters; i++)
        m->writers[i].fn(out, m->writers[i].ud);
}

/* ------------------------------------------------------------------------ */
/* Serving                                                                  */

static bool authorized(const struct ctl_metrics *m, const struct http_request *req)
{
    if (!m->token)
        return true;
    struct str a = http_request_header(req, "Authorization");
    size_t tl = strlen(m->token);
    return a.ptr && a.len == 7 + tl && str_has_prefix(a, "Bearer ") &&
           crypto_equal(a.ptr + 7, m->token, tl);
}

static void text(struct http_response *res, int status, const char *body)
{
    res->status = status;
    res->content_type = "text/plain; charset=utf-8";
    buf_puts(&res->body, body);
}

static void readyz(struct ctl_metrics *m, struct http_response *res)
{
    struct buf b;
    buf_init(&b, 4096);
    bool ok = true;
    /* A query that must find nothing: the store answers. */
    char *key = NULL;
    struct err err = {0};
    int rc = m->cfg.store ? store_credential_get(m->cfg.store, "berth-readyz-probe", &key, &err)
                          : ERR_NOTFOUND;
    free(key);
    if (rc == ERR_NOTFOUND || rc == 0) {
        buf_puts(&b, "store: ok\n");
    } else {
        ok = false;
        buf_printf(&b, "store: failing: %s\n", err.msg);
    }
    if (atomic_load(&m->gateway_listening)) {
        buf_puts(&b, "gateway: listening\n");
    } else {
        ok = false;
        buf_puts(&b, "gateway: not listening\n");
    }
    if (m->cfg.reconciler) {
        uint64_t idle = ctl_reconciler_idle_ms(m->cfg.reconciler);
        if (idle > READY_PASS_MS)
            ok = false;
        buf_printf(&b, "reconciler: %s (last pass %llu ms ago)\n",
                   idle > READY_PASS_MS ? "stalled" : "ok", (unsigned long long)idle);
    }
    text(res, ok ? 200 : 503, b.ptr);
    buf_release(&b);
}

/* Prometheus' http_sd_configs: [{"targets": ["host:port"], "labels": {...}}]. */
static void sd_instances(struct ctl_metrics *m, struct http_response *res)
{
    json_t *list = json_array();
    struct ctl_service_status *v = NULL;
    size_t n = 0;
    if (m->cfg.reconciler)
        ctl_reconciler_statuses(m->cfg.reconciler, &v, &n);
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < v[i].st.npods; k++) {
            const struct ctl_pod *p = &v[i].st.pods[k];
            if (!p->ready || strcmp(p->phase, "Running") != 0 || !p->address[0])
                continue; /* what the gateway routes to: not starting, not stopping */
            json_array_append_new(list, json_pack("{s:[s], s:{s:s, s:s, s:s}}", "targets",
                                                  p->address, "labels", "group", v[i].st.group_id,
                                                  "version", v[i].id, "pod", p->name));
        }
    ctl_statuses_free(v, n);
    char *t = json_dumps(list, JSON_COMPACT);
    json_decref(list);
    res->status = 200;
    res->content_type = "application/json";
    buf_puts(&res->body, t);
    free(t);
}

bool ctl_metrics_serve(struct ctl_metrics *m, const struct http_request *req,
                       struct http_response *res)
{
    if (!m || !str_eq_cstr(req->method, "GET"))
        return false;
    struct str p = req->path;
    if (str_eq_cstr(p, "/healthz")) {
        text(res, 200, "ok\n");
        return true;
    }
    if (str_eq_cstr(p, "/readyz")) {
        readyz(m, res);
        return true;
    }
    bool metrics = str_eq_cstr(p, "/metrics");
    if (!metrics && !str_eq_cstr(p, "/sd/instances"))
        return false;
    if (!authorized(m, req)) {
        buf_puts(&res->headers, "WWW-Authenticate: Bearer realm=\"berthd\"\r\n");
        text(res, 401, "a bearer token is required (--metrics-token-file)\n");
        return true;
    }
    if (!metrics) {
        sd_instances(m, res);
        return true;
    }
    res->status = 200;
    res->content_type = PROM_CONTENT_TYPE;
    ctl_metrics_write(m, &res->body);
    return true;
}

/* ------------------------------------------------------------------------ */
/* For the autoscaler                                                       */

int ctl_service_usage(struct ctl_reconciler *r, const char *service_id, struct ctl_usage *out)
{
    memset(out, 0, sizeof(*out));
    struct ctl_status st;
    ctl_reconciler_status(r, service_id, &st);
    bool known = strcmp(st.status, "CREATING") != 0; /* seen by the reconciler */
    for (size_t i = 0; i < st.npods; i++) {
        const struct ctl_pod *p = &st.pods[i];
        if (!p->ready)
            continue;
        out->ready++;
        if (!p->usage_known)
            continue;
        out->sampled++;
        out->cpu_cores += p->cpu_cores;
        out->memory_bytes += p->memory_bytes;
    }
    free(st.pods);
    if (out->sampled) {
        out->cpu_cores_mean = out->cpu_cores / out->sampled;
        out->memory_bytes_mean = out->memory_bytes / (uint64_t)out->sampled;
    }
    return known ? 0 : ERR_NOTFOUND;
}
