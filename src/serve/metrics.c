/* metrics.c - a small table of series under one mutex. The number of series is
 * bounded by models x versions x APIs x status codes, all of which come from the
 * configuration or from a fixed list, never from free text in a request. */
#include "serve/metrics.h"
#include "base/alloc.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static const double buckets[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                 0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10};
#define NBUCKETS (sizeof(buckets) / sizeof(buckets[0]))
#define MAX_CODES 12

struct series {
    char *model;
    int64_t version;
    const char *api; /* a string literal */
    int codes[MAX_CODES];
    uint64_t code_counts[MAX_CODES];
    size_t ncodes;
    uint64_t bucket_counts[NBUCKETS];
    uint64_t count;
    double sum;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct series *table;
static size_t nseries, cap_series;

void serve_metrics_record(const char *model, int64_t version, const char *api, int status,
                          double seconds)
{
    pthread_mutex_lock(&lock);
    struct series *s = NULL;
    for (size_t i = 0; i < nseries; i++) {
        if (table[i].version == version && strcmp(table[i].api, api) == 0 &&
            strcmp(table[i].model, model) == 0) {
            s = &table[i];
            break;
        }
    }
    if (!s) {
        if (nseries == cap_series) {
            cap_series = cap_series ? cap_series * 2 : 16;
            table = xrealloc(table, cap_series * sizeof(*table));
        }
        s = &table[nseries++];
        memset(s, 0, sizeof(*s));
        s->model = xstrdup(model);
        s->version = version;
        s->api = api;
    }
    size_t c = 0;
    while (c < s->ncodes && s->codes[c] != status)
        c++;
    if (c == s->ncodes && c < MAX_CODES) {
        s->codes[c] = status;
        s->ncodes++;
    }
    if (c < MAX_CODES)
        s->code_counts[c]++;
    for (size_t b = 0; b < NBUCKETS; b++)
        if (seconds <= buckets[b])
            s->bucket_counts[b]++;
    s->count++;
    s->sum += seconds;
    pthread_mutex_unlock(&lock);
}

static void labels(struct buf *out, const struct series *s)
{
    /* Requests for a whole model (status) or an unknown one have no version. */
    if (s->version)
        buf_printf(out, "model=\"%s\",version=\"%lld\",api=\"%s\"", s->model, (long long)s->version,
                   s->api);
    else
        buf_printf(out, "model=\"%s\",version=\"\",api=\"%s\"", s->model, s->api);
}

static const char *outcome(int code)
{
    return code < 400 ? "success" : code < 500 ? "client_error" : "server_error";
}

void serve_metrics_render(struct buf *out, const struct serve_snapshot *snap)
{
    pthread_mutex_lock(&lock);
    buf_puts(out, "# HELP berth_serve_requests_total Requests by model, version, API and outcome.\n"
                  "# TYPE berth_serve_requests_total counter\n");
    for (size_t i = 0; i < nseries; i++) {
        for (size_t c = 0; c < table[i].ncodes; c++) {
            buf_puts(out, "berth_serve_requests_total{");
            labels(out, &table[i]);
            buf_printf(out, ",code=\"%d\",outcome=\"%s\"} %llu\n", table[i].codes[c],
                       outcome(table[i].codes[c]), (unsigned long long)table[i].code_counts[c]);
        }
    }
    buf_puts(out, "# HELP berth_serve_request_duration_seconds Time from a whole request to its "
                  "response.\n"
                  "# TYPE berth_serve_request_duration_seconds histogram\n");
    for (size_t i = 0; i < nseries; i++) {
        const struct series *s = &table[i];
        for (size_t b = 0; b < NBUCKETS; b++) {
            buf_puts(out, "berth_serve_request_duration_seconds_bucket{");
            labels(out, s);
            buf_printf(out, ",le=\"%g\"} %llu\n", buckets[b],
                       (unsigned long long)s->bucket_counts[b]);
        }
        buf_puts(out, "berth_serve_request_duration_seconds_bucket{");
        labels(out, s);
        buf_printf(out, ",le=\"+Inf\"} %llu\n", (unsigned long long)s->count);
        buf_puts(out, "berth_serve_request_duration_seconds_sum{");
        labels(out, s);
        buf_printf(out, "} %.9g\n", s->sum);
        buf_puts(out, "berth_serve_request_duration_seconds_count{");
        labels(out, s);
        buf_printf(out, "} %llu\n", (unsigned long long)s->count);
    }
    pthread_mutex_unlock(&lock);

    buf_puts(out, "# HELP berth_serve_model_version_state Load state of each model version "
                  "(1 for its current state).\n"
                  "# TYPE berth_serve_model_version_state gauge\n");
    for (size_t i = 0; i < snap->nmodels; i++) {
        const struct serve_model *m = &snap->models[i];
        for (size_t k = 0; k < m->nstatus; k++)
            buf_printf(out,
                       "berth_serve_model_version_state{model=\"%s\",version=\"%lld\","
                       "state=\"%s\"} 1\n",
                       m->name, (long long)m->status[k].number,
                       serve_state_name(m->status[k].state));
    }
    buf_puts(out, "# HELP berth_serve_model_versions_available Versions of each model that "
                  "serve.\n"
                  "# TYPE berth_serve_model_versions_available gauge\n");
    for (size_t i = 0; i < snap->nmodels; i++)
        buf_printf(out, "berth_serve_model_versions_available{model=\"%s\"} %zu\n",
                   snap->models[i].name, snap->models[i].nversions);
}

void serve_metrics_reset(void)
{
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < nseries; i++)
        free(table[i].model);
    free(table);
    table = NULL;
    nseries = cap_series = 0;
    pthread_mutex_unlock(&lock);
}
