/* scaling.c - ScaleMode, ScaleStrategy, HorizontalPodAutoscaler and
 * CronScaleJobs. TI-ONE forbids MinReplicas 0; Berth allows it (scale to
 * zero, docs/autoscaling.md). */
#include "api/scaling.h"

#include "base/alloc.h"
#include "base/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Put 'where.' before the last error unless it already names it. */
static int in(struct api_call *c, const char *where)
{
    size_t n = strlen(where);
    if (strncmp(c->error_message, where, n) == 0 &&
        (c->error_message[n] == '.' || c->error_message[n] == ' ' || c->error_message[n] == ':'))
        return -1;
    char prefix[160];
    snprintf(prefix, sizeof(prefix), "%s.", where);
    return api_prefix_error(c, prefix);
}

/* null, "", [] and {} count as absent. */
static bool given(const json_t *v)
{
    if (!api_present(v))
        return false;
    if (json_is_array(v))
        return json_array_size(v) > 0;
    return true;
}

static const char *metric_list(void)
{
    return "cpu-util, memory-util, service-qps, concurrency-util or gpu-util";
}

static int read_metric(struct api_call *c, const json_t *m, const char *where,
                       const struct api_scaling_limits *lim, struct ctl_hpa_spec *hpa)
{
    static const struct api_field fields[] = {
        {"Name", API_FIELD_USED}, {"Value", API_FIELD_USED}, {NULL, API_FIELD_USED}};
    const char *name;
    if (api_check_object(c, m, where, fields) || api_get_str(c, m, "Name", true, &name))
        return in(c, where);
    int metric = ctl_metric_from_name(name);
    if (metric < 0)
        return api_fail(c, "InvalidParameterValue", "%s.Name '%s' is not a metric: give %s", where,
                        name, metric_list());
    if (metric == CTL_METRIC_GPU_UTIL && !lim->have_gpus)
        return api_fail(c, "UnsupportedOperation",
                        "%s.Name gpu-util: this machine has no GPUs to measure; use cpu-util, "
                        "memory-util, service-qps or concurrency-util",
                        where);
    for (size_t i = 0; i < hpa->n_targets; i++)
        if ((int)hpa->targets[i].metric == metric)
            return api_fail(c, "InvalidParameterValue", "%s.Name: HpaMetrics names %s twice", where,
                            name);
    long long lo, hi, v;
    ctl_metric_range((enum ctl_metric)metric, &lo, &hi);
    const json_t *value = json_object_get(m, "Value");
    if (!value || json_is_null(value))
        return api_fail(c, "MissingParameter", "%s.Value is required: the target for %s", where,
                        name);
    if (!json_is_integer(value))
        return api_fail(c, "InvalidParameter", "%s.Value must be an integer", where);
    v = json_integer_value(value);
    if (v < lo || v > hi)
        return api_fail(c, "InvalidParameterValue",
                        "%s.Value for %s must be between %lld and %lld, got %lld", where, name, lo,
                        hi, v);
    hpa->targets[hpa->n_targets++] = (struct ctl_hpa_target){(enum ctl_metric)metric, v};
    return 0;
}

static int read_hpa(struct api_call *c, const json_t *h, const struct api_scaling_limits *lim,
                    struct api_scaling *out)
{
    static const struct api_field fields[] = {
        {"MinReplicas", API_FIELD_USED},
        {"MaxReplicas", API_FIELD_USED},
        {"HpaMetrics", API_FIELD_USED},
        {"ScaleUpStabilizationWindowSeconds", API_FIELD_USED},
        {"ScaleDownStabilizationWindowSeconds", API_FIELD_USED},
        {NULL, API_FIELD_USED}};
    const char *where = "HorizontalPodAutoscaler";
    struct ctl_hpa_spec *hpa = &out->hpa;
    long long min = 0, max = 0, up = CTL_HPA_DEFAULT_UP_WINDOW_S,
              down = CTL_HPA_DEFAULT_DOWN_WINDOW_S;
    if (!given(h))
        return api_fail(c, "MissingParameter",
                        "HorizontalPodAutoscaler is required with ScaleStrategy HPA");
    if (api_check_object(c, h, where, fields) ||
        api_get_int(c, h, "MinReplicas", true, 0, lim->max_replicas, &min) ||
        api_get_int(c, h, "MaxReplicas", true, 1, lim->max_replicas, &max) ||
        api_get_int(c, h, "ScaleUpStabilizationWindowSeconds", false, 0, CTL_HPA_MAX_WINDOW_S,
                    &up) ||
        api_get_int(c, h, "ScaleDownStabilizationWindowSeconds", false, 0, CTL_HPA_MAX_WINDOW_S,
                    &down))
        return in(c, where);
    if (min > max)
        return api_fail(c, "InvalidParameterValue",
                        "HorizontalPodAutoscaler.MinReplicas (%lld) must not exceed MaxReplicas "
                        "(%lld)",
                        min, max);
    const json_t *metrics = json_object_get(h, "HpaMetrics");
    if (!given(metrics))
        return api_fail(c, "MissingParameter",
                        "HorizontalPodAutoscaler.HpaMetrics is required: a list of {Name, Value} "
                        "with Name %s",
                        metric_list());
    if (!json_is_array(metrics))
        return api_fail(c, "InvalidParameter",
                        "HorizontalPodAutoscaler.HpaMetrics must be a list of {Name, Value}");
    if (json_array_size(metrics) > CTL_METRIC_COUNT)
        return api_fail(c, "InvalidParameterValue",
                        "HorizontalPodAutoscaler.HpaMetrics holds at most %d metrics, one of each",
                        CTL_METRIC_COUNT);
    memset(hpa, 0, sizeof(*hpa));
    hpa->min_replicas = (int)min;
    hpa->max_replicas = (int)max;
    hpa->up_window_s = (int)up;
    hpa->down_window_s = (int)down;
    size_t i;
    const json_t *m;
    json_array_foreach(metrics, i, m)
    {
        char w[96];
        snprintf(w, sizeof(w), "HorizontalPodAutoscaler.HpaMetrics[%zu]", i);
        if (read_metric(c, m, w, lim, hpa))
            return -1;
    }
    return 0;
}

/* One cron expression at 'where' into 'cron' and its text. */
static int read_cron_text(struct api_call *c, const json_t *v, const char *where,
                          struct ctl_cron *cron, char text[API_CRON_TEXT_MAX])
{
    if (!json_is_string(v) || json_string_length(v) == 0)
        return api_fail(c, "InvalidParameter", "%s must be a cron expression string", where);
    if (json_string_length(v) >= API_CRON_TEXT_MAX)
        return api_fail(c, "InvalidParameterValue", "%s is longer than %d characters", where,
                        API_CRON_TEXT_MAX - 1);
    struct err err = {0};
    if (ctl_cron_parse(json_string_value(v), cron, &err))
        return api_fail(c, "InvalidParameterValue", "%s: %s", where, err.msg);
    snprintf(text, API_CRON_TEXT_MAX, "%s", json_string_value(v));
    return 0;
}

static int read_job(struct api_call *c, const json_t *j, size_t idx,
                    const struct api_scaling_limits *lim, struct api_scaling *out)
{
    static const struct api_field fields[] = {{"Schedule", API_FIELD_USED},
                                              {"Name", API_FIELD_USED},
                                              {"TargetReplicas", API_FIELD_USED},
                                              {"MinReplicas", API_FIELD_USED},
                                              {"MaxReplicas", API_FIELD_USED},
                                              {"ExcludeDates", API_FIELD_USED},
                                              {NULL, API_FIELD_USED}};
    char where[64];
    snprintf(where, sizeof(where), "CronScaleJobs[%zu]", idx);
    struct ctl_cron_job *job = &out->jobs[idx];
    const char *name;
    long long target = 0, min = -1, max = -1;
    memset(job, 0, sizeof(*job));
    if (api_check_object(c, j, where, fields) || api_get_str(c, j, "Name", false, &name) ||
        api_get_int(c, j, "TargetReplicas", true, 0, lim->max_replicas, &target) ||
        api_get_int(c, j, "MinReplicas", false, 0, lim->max_replicas, &min) ||
        api_get_int(c, j, "MaxReplicas", false, 0, lim->max_replicas, &max))
        return in(c, where);
    if ((min >= 0 && min != target) || (max >= 0 && max != target))
        return api_fail(c, "UnsupportedOperation",
                        "%s.%s: a range of replicas inside a cron window (an HPA within it) is "
                        "not supported by Berth yet; give TargetReplicas alone, or MinReplicas "
                        "and MaxReplicas equal to it",
                        where, min >= 0 && min != target ? "MinReplicas" : "MaxReplicas");
    if (name && strlen(name) >= CTL_CRON_NAME_MAX)
        return api_fail(c, "InvalidParameterValue", "%s.Name is longer than %d characters", where,
                        CTL_CRON_NAME_MAX - 1);
    snprintf(job->name, sizeof(job->name), "%s", name ? name : "");
    for (size_t k = 0; name && k < idx; k++)
        if (strcmp(out->jobs[k].name, name) == 0)
            return api_fail(c, "InvalidParameterValue",
                            "%s.Name '%s' is the name of CronScaleJobs[%zu] too", where, name, k);
    char w[128];
    snprintf(w, sizeof(w), "%s.Schedule", where);
    const json_t *sched = json_object_get(j, "Schedule");
    if (!api_present(sched))
        return api_fail(c, "MissingParameter", "%s is required", w);
    if (read_cron_text(c, sched, w, &job->schedule, out->schedule[idx]))
        return -1;
    const json_t *ex = json_object_get(j, "ExcludeDates");
    if (api_present(ex)) {
        if (!json_is_array(ex))
            return api_fail(c, "InvalidParameter",
                            "%s.ExcludeDates must be a list of cron expressions", where);
        if (json_array_size(ex) > CTL_CRON_MAX_EXCLUDES)
            return api_fail(c, "InvalidParameterValue",
                            "%s.ExcludeDates holds at most %d cron expressions, got %zu", where,
                            CTL_CRON_MAX_EXCLUDES, json_array_size(ex));
        size_t k;
        const json_t *e;
        json_array_foreach(ex, k, e)
        {
            snprintf(w, sizeof(w), "%s.ExcludeDates[%zu]", where, k);
            if (read_cron_text(c, e, w, &job->exclude[k], out->exclude[idx][k]))
                return -1;
            job->n_exclude++;
        }
    }
    job->target_replicas = job->min_replicas = job->max_replicas = target;
    return 0;
}

static int read_cron(struct api_call *c, const json_t *p, const struct api_scaling_limits *lim,
                     struct api_scaling *out)
{
    const json_t *jobs = json_object_get(p, "CronScaleJobs");
    if (!given(jobs))
        return api_fail(c, "MissingParameter",
                        "CronScaleJobs is required with ScaleStrategy CRON: a list of {Schedule, "
                        "TargetReplicas, ...}");
    if (!json_is_array(jobs))
        return api_fail(c, "InvalidParameter", "CronScaleJobs must be a list of CronScaleJob");
    if (json_array_size(jobs) > API_CRON_MAX_JOBS)
        return api_fail(c, "InvalidParameterValue", "CronScaleJobs holds at most %d jobs, got %zu",
                        API_CRON_MAX_JOBS, json_array_size(jobs));
    size_t i;
    const json_t *j;
    json_array_foreach(jobs, i, j)
    {
        if (read_job(c, j, i, lim, out))
            return -1;
        out->n_jobs++;
    }
    const json_t *r = json_object_get(p, "Replicas");
    if (!api_present(r))
        return api_fail(c, "MissingParameter",
                        "Replicas is required with ScaleStrategy CRON: the count outside every "
                        "job's window");
    return api_get_int(c, p, "Replicas", true, 0, lim->max_replicas, &out->replicas);
}

int api_scaling_read(struct api_call *c, const json_t *params, const struct api_scaling_limits *lim,
                     struct api_scaling *out)
{
    const char *mode, *strategy;
    memset(out, 0, sizeof(*out));
    out->replicas = -1;
    if (api_get_str(c, params, "ScaleMode", false, &mode) ||
        api_get_str(c, params, "ScaleStrategy", false, &strategy))
        return -1;
    bool hpa_given = given(json_object_get(params, "HorizontalPodAutoscaler"));
    bool cron_given = given(json_object_get(params, "CronScaleJobs"));
    if (mode && strcmp(mode, "MANUAL") != 0 && strcmp(mode, "AUTO") != 0)
        return api_fail(c, "InvalidParameterValue", "ScaleMode must be MANUAL or AUTO, got '%s'",
                        mode);
    if (!mode || strcmp(mode, "MANUAL") == 0) {
        if (strategy)
            return api_fail(c, "InvalidParameterValue",
                            "ScaleStrategy %s needs ScaleMode AUTO (ScaleMode is %s)", strategy,
                            mode ? mode : "MANUAL by default");
        if (hpa_given || cron_given)
            return api_fail(c, "InvalidParameterValue",
                            "%s is only used with ScaleMode AUTO and ScaleStrategy %s",
                            hpa_given ? "HorizontalPodAutoscaler" : "CronScaleJobs",
                            hpa_given ? "HPA" : "CRON");
        out->strategy = API_SCALE_MANUAL;
        return 0;
    }
    if (!strategy)
        return api_fail(c, "MissingParameter",
                        "ScaleStrategy is required with ScaleMode AUTO: HPA or CRON");
    if (strcmp(strategy, "HPA") == 0) {
        if (cron_given)
            return api_fail(c, "InvalidParameterValue",
                            "CronScaleJobs is only used with ScaleStrategy CRON, not HPA");
        out->strategy = API_SCALE_HPA;
        if (read_hpa(c, json_object_get(params, "HorizontalPodAutoscaler"), lim, out))
            return -1;
        long long start = out->hpa.min_replicas > 1 ? out->hpa.min_replicas : 1;
        if (start > out->hpa.max_replicas)
            start = out->hpa.max_replicas;
        if (api_present(json_object_get(params, "Replicas"))) {
            if (api_get_int(c, params, "Replicas", false, out->hpa.min_replicas,
                            out->hpa.max_replicas, &start)) {
                api_prefix_error(c, "with ScaleStrategy HPA, ");
                return -1;
            }
        }
        out->replicas = start;
        return 0;
    }
    if (strcmp(strategy, "CRON") == 0) {
        if (hpa_given)
            return api_fail(
                c, "InvalidParameterValue",
                "HorizontalPodAutoscaler is only used with ScaleStrategy HPA, not CRON");
        out->strategy = API_SCALE_CRON;
        return read_cron(c, params, lim, out);
    }
    return api_fail(c, "InvalidParameterValue", "ScaleStrategy must be HPA or CRON, got '%s'",
                    strategy);
}

int api_scaling_from_spec(const json_t *spec, const struct api_scaling_limits *lim,
                          struct api_scaling *out, struct err *err)
{
    struct api_call c;
    memset(&c, 0, sizeof(c));
    c.action = "the stored spec";
    c.params = (json_t *)spec;
    if (!json_is_object(spec))
        return err_set(err, ERR_INVALID, "the stored spec is not an object");
    if (api_scaling_read(&c, spec, lim, out) != 0)
        return err_set(err, ERR_INVALID, "%s", c.error_message);
    return 0;
}

json_t *api_scaling_json(const struct api_scaling *s)
{
    json_t *o = json_object();
    json_object_set_new(o, "ScaleMode",
                        json_string(s->strategy == API_SCALE_MANUAL ? "MANUAL" : "AUTO"));
    json_object_set_new(o, "ScaleStrategy",
                        json_string(s->strategy == API_SCALE_HPA    ? "HPA"
                                    : s->strategy == API_SCALE_CRON ? "CRON"
                                                                    : ""));
    if (s->strategy == API_SCALE_HPA) {
        json_t *metrics = json_array();
        for (size_t i = 0; i < s->hpa.n_targets; i++)
            json_array_append_new(metrics, json_pack("{s:s, s:I}", "Name",
                                                     ctl_metric_name(s->hpa.targets[i].metric),
                                                     "Value", (json_int_t)s->hpa.targets[i].value));
        json_object_set_new(o, "HorizontalPodAutoscaler",
                            json_pack("{s:i, s:i, s:o, s:i, s:i}", "MinReplicas",
                                      s->hpa.min_replicas, "MaxReplicas", s->hpa.max_replicas,
                                      "HpaMetrics", metrics, "ScaleUpStabilizationWindowSeconds",
                                      s->hpa.up_window_s, "ScaleDownStabilizationWindowSeconds",
                                      s->hpa.down_window_s));
    } else {
        json_object_set_new(o, "HorizontalPodAutoscaler", json_null());
    }
    json_t *jobs = json_array();
    for (size_t i = 0; s->strategy == API_SCALE_CRON && i < s->n_jobs; i++) {
        const struct ctl_cron_job *j = &s->jobs[i];
        json_t *ex = json_array();
        for (size_t k = 0; k < j->n_exclude; k++)
            json_array_append_new(ex, json_string(s->exclude[i][k]));
        json_array_append_new(jobs, json_pack("{s:s, s:s, s:I, s:I, s:I, s:o}", "Schedule",
                                              s->schedule[i], "Name", j->name, "TargetReplicas",
                                              (json_int_t)j->target_replicas, "MinReplicas",
                                              (json_int_t)j->min_replicas, "MaxReplicas",
                                              (json_int_t)j->max_replicas, "ExcludeDates", ex));
    }
    json_object_set_new(o, "CronScaleJobs", jobs);
    return o;
}

/* ------------------------------------------------------------------------ */
/* For the service actions                                                  */

/* The scaling fields a request may carry besides Replicas. */
static const char *const scaling_keys[] = {"ScaleMode", "ScaleStrategy", "HorizontalPodAutoscaler",
                                           "CronScaleJobs", NULL};

static bool scaling_key(const char *key)
{
    for (const char *const *k = scaling_keys; *k; k++)
        if (strcmp(key, *k) == 0)
            return true;
    return strcmp(key, "Replicas") == 0;
}

int api_scaling_request(struct api_call *c, const json_t *params, int max_replicas,
                        struct api_scaling *out)
{
    return api_scaling_read(c, params, &(struct api_scaling_limits){max_replicas, false}, out);
}

int api_scaling_modify(struct api_call *c, const json_t *params, const json_t *spec,
                       int max_replicas, struct api_scaling *out, bool *given)
{
    const char *key;
    json_t *v;
    *given = false;
    json_object_foreach((json_t *)params, key, v) *given |= scaling_key(key) && api_present(v);
    if (!*given)
        return 0;
    if (api_present(json_object_get(params, "ScaleMode")))
        return api_scaling_request(c, params, max_replicas, out);
    json_t *merged = json_object();
    json_object_foreach((json_t *)spec, key, v) if (scaling_key(key) && api_present(v))
        json_object_set(merged, key, v);
    json_object_foreach((json_t *)params, key, v) if (scaling_key(key) && api_present(v))
        json_object_set(merged, key, v);
    int rc = api_scaling_request(c, merged, max_replicas, out);
    json_decref(merged);
    return rc;
}

void api_scaling_put(json_t *spec, const struct api_scaling *s)
{
    json_t *o = api_scaling_json(s);
    json_object_update(spec, o);
    json_decref(o);
    if (s->strategy == API_SCALE_CRON)
        json_object_set_new(spec, "Replicas", json_integer(s->replicas));
    else
        json_object_del(spec, "Replicas");
}

void api_scaling_show(json_t *info, const json_t *spec, int max_replicas)
{
    struct api_scaling *s = xmalloc(sizeof(*s));
    struct err err = {0};
    if (api_scaling_from_spec(spec, &(struct api_scaling_limits){max_replicas, false}, s, &err)) {
        log_warn("api", "a stored scaling spec does not read back: %s", err.msg);
        memset(s, 0, sizeof(*s));
        s->strategy = API_SCALE_MANUAL;
    }
    json_t *o = api_scaling_json(s);
    json_object_update(info, o);
    json_decref(o);
    free(s);
}
