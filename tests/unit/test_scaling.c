/* test_scaling.c - the scaling fields of CreateModelService and
 * ModifyModelService as JSON in: what is accepted becomes the spec the
 * control plane runs and the canonical answer; what is refused says which
 * field and which rule, with TI-ONE's error code. */
#include "harness.h"

#include "api/scaling.h"

static const struct api_scaling_limits limits = {64, false};

struct result {
    int rc;
    char code[64];
    char msg[512];
    struct api_scaling s;
};

static struct result *read_json(const char *text, const struct api_scaling_limits *lim)
{
    static struct result r;
    json_error_t jerr;
    json_t *p = json_loads(text, 0, &jerr);
    if (!p) {
        printf("# bad test JSON %s: %s\n", text, jerr.text);
        abort();
    }
    struct api_call c;
    memset(&c, 0, sizeof(c));
    c.action = "CreateModelService";
    c.params = p;
    memset(&r, 0, sizeof(r));
    r.rc = api_scaling_read(&c, p, lim ? lim : &limits, &r.s);
    snprintf(r.code, sizeof(r.code), "%s", c.error_code);
    snprintf(r.msg, sizeof(r.msg), "%s", c.error_message);
    json_decref(p);
    return &r;
}

/* The error of 'text', as "Code: message". */
static const char *refusal(const char *text)
{
    static char out[600];
    struct result *r = read_json(text, NULL);
    if (r->rc == 0)
        return "(accepted)";
    snprintf(out, sizeof(out), "%s: %s", r->code, r->msg);
    return out;
}

#define HPA(body)                                                                                  \
    "{\"ScaleMode\":\"AUTO\",\"ScaleStrategy\":\"HPA\",\"HorizontalPodAutoscaler\":" body "}"
#define CRON(jobs)                                                                                 \
    "{\"ScaleMode\":\"AUTO\",\"ScaleStrategy\":\"CRON\",\"Replicas\":1,\"CronScaleJobs\":" jobs "}"

TEST(manual_is_the_default_and_takes_no_auto_fields)
{
    struct result *r = read_json("{}", NULL);
    CHECK_EQ_INT(r->rc, 0);
    CHECK_EQ_INT(r->s.strategy, API_SCALE_MANUAL);
    r = read_json("{\"ScaleMode\":\"MANUAL\",\"Replicas\":2,\"ScaleStrategy\":\"\","
                  "\"HorizontalPodAutoscaler\":null,\"CronScaleJobs\":[]}",
                  NULL);
    CHECK_EQ_INT(r->rc, 0); /* what clients send for unused fields */
    CHECK_EQ_INT(r->s.strategy, API_SCALE_MANUAL);
    CHECK_STR_EQ(refusal("{\"ScaleMode\":\"auto\"}"),
                 "InvalidParameterValue: ScaleMode must be MANUAL or AUTO, got 'auto'");
    CHECK_STR_EQ(refusal("{\"ScaleMode\":\"MANUAL\",\"ScaleStrategy\":\"HPA\"}"),
                 "InvalidParameterValue: ScaleStrategy HPA needs ScaleMode AUTO (ScaleMode is "
                 "MANUAL)");
    CHECK_STR_EQ(refusal("{\"ScaleStrategy\":\"CRON\"}"),
                 "InvalidParameterValue: ScaleStrategy CRON needs ScaleMode AUTO (ScaleMode is "
                 "MANUAL by default)");
    CHECK_STR_EQ(refusal("{\"HorizontalPodAutoscaler\":{\"MinReplicas\":1}}"),
                 "InvalidParameterValue: HorizontalPodAutoscaler is only used with ScaleMode "
                 "AUTO and ScaleStrategy HPA");
    CHECK_STR_EQ(refusal("{\"ScaleMode\":1}"), "InvalidParameter: ScaleMode must be a string");
}

TEST(auto_needs_a_strategy)
{
    CHECK_STR_EQ(refusal("{\"ScaleMode\":\"AUTO\"}"),
                 "MissingParameter: ScaleStrategy is required with ScaleMode AUTO: HPA or CRON");
    CHECK_STR_EQ(refusal("{\"ScaleMode\":\"AUTO\",\"ScaleStrategy\":\"HPC\"}"),
                 "InvalidParameterValue: ScaleStrategy must be HPA or CRON, got 'HPC'");
    CHECK_STR_EQ(refusal("{\"ScaleMode\":\"AUTO\",\"ScaleStrategy\":\"HPA\"}"),
                 "MissingParameter: HorizontalPodAutoscaler is required with ScaleStrategy HPA");
    CHECK_STR_EQ(refusal("{\"ScaleMode\":\"AUTO\",\"ScaleStrategy\":\"CRON\",\"Replicas\":1}"),
                 "MissingParameter: CronScaleJobs is required with ScaleStrategy CRON: a list of "
                 "{Schedule, TargetReplicas, ...}");
    CHECK_STR_EQ(refusal(HPA("{\"MinReplicas\":1,\"MaxReplicas\":2,\"HpaMetrics\":[{\"Name\":"
                             "\"cpu-util\",\"Value\":60}]},\"CronScaleJobs\":[{\"Schedule\":\"* "
                             "* * * *\",\"TargetReplicas\":1}]")),
                 "InvalidParameterValue: CronScaleJobs is only used with ScaleStrategy CRON, not "
                 "HPA");
}

/* TI-ONE's own example (§1.7, §5.1) is accepted as it is. */
TEST(hpa_tione_example_is_accepted_and_normalized)
{
    struct result *r = read_json(
        HPA("{\"MinReplicas\":1,\"MaxReplicas\":4,\"HpaMetrics\":[{\"Name\":\"cpu-util\","
            "\"Value\":60},{\"Name\":\"service-qps\",\"Value\":200}],"
            "\"ScaleUpStabilizationWindowSeconds\":60,\"ScaleDownStabilizationWindowSeconds\":"
            "300}"),
        NULL);
    CHECK_EQ_INT(r->rc, 0);
    CHECK_EQ_INT(r->s.strategy, API_SCALE_HPA);
    CHECK_EQ_INT(r->s.hpa.min_replicas, 1);
    CHECK_EQ_INT(r->s.hpa.max_replicas, 4);
    CHECK_EQ_INT(r->s.hpa.n_targets, 2);
    CHECK_EQ_INT(r->s.hpa.targets[1].metric, CTL_METRIC_SERVICE_QPS);
    CHECK_EQ_INT(r->s.hpa.targets[1].value, 200);
    CHECK_EQ_INT(r->s.hpa.up_window_s, 60);
    CHECK_EQ_INT(r->s.replicas, 1);
    json_t *j = api_scaling_json(&r->s);
    char *text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    CHECK_STR_EQ(text, "{\"CronScaleJobs\":[],\"HorizontalPodAutoscaler\":{\"HpaMetrics\":[{"
                       "\"Name\":\"cpu-util\",\"Value\":60},{\"Name\":\"service-qps\",\"Value\":"
                       "200}],\"MaxReplicas\":4,\"MinReplicas\":1,"
                       "\"ScaleDownStabilizationWindowSeconds\":300,"
                       "\"ScaleUpStabilizationWindowSeconds\":60},\"ScaleMode\":\"AUTO\","
                       "\"ScaleStrategy\":\"HPA\"}");
    /* the canonical form reads back the same */
    struct result again = *read_json(text, NULL);
    free(text);
    json_decref(j);
    CHECK_EQ_INT(again.rc, 0);
    CHECK_EQ_INT(again.s.hpa.n_targets, 2);
    CHECK_EQ_INT(again.s.hpa.down_window_s, 300);
}

TEST(hpa_defaults_windows_and_start_count)
{
    struct result *r = read_json(
        HPA("{\"MinReplicas\":0,\"MaxReplicas\":3,\"HpaMetrics\":[{\"Name\":\"concurrency-util\","
            "\"Value\":4}]}"),
        NULL);
    CHECK_EQ_INT(r->rc, 0); /* MinReplicas 0: Berth's scale to zero */
    CHECK_EQ_INT(r->s.hpa.up_window_s, 0);
    CHECK_EQ_INT(r->s.hpa.down_window_s, 300);
    CHECK_EQ_INT(r->s.replicas, 1); /* starts with one, to show it runs */
    r = read_json("{\"ScaleMode\":\"AUTO\",\"ScaleStrategy\":\"HPA\",\"Replicas\":3,"
                  "\"HorizontalPodAutoscaler\":{\"MinReplicas\":2,\"MaxReplicas\":5,"
                  "\"HpaMetrics\":[{\"Name\":\"memory-util\",\"Value\":80}]}}",
                  NULL);
    CHECK_EQ_INT(r->rc, 0);
    CHECK_EQ_INT(r->s.replicas, 3);
    CHECK_STR_EQ(refusal("{\"ScaleMode\":\"AUTO\",\"ScaleStrategy\":\"HPA\",\"Replicas\":9,"
                         "\"HorizontalPodAutoscaler\":{\"MinReplicas\":2,\"MaxReplicas\":5,"
                         "\"HpaMetrics\":[{\"Name\":\"memory-util\",\"Value\":80}]}}"),
                 "InvalidParameterValue: with ScaleStrategy HPA, Replicas must be between 2 and "
                 "5, got 9");
}

TEST(hpa_replica_bounds)
{
    CHECK_STR_EQ(refusal(HPA("{\"MaxReplicas\":3,\"HpaMetrics\":[{\"Name\":\"cpu-util\",\"Value\""
                             ":60}]}")),
                 "MissingParameter: HorizontalPodAutoscaler.MinReplicas is required");
    CHECK_STR_EQ(refusal(HPA("{\"MinReplicas\":1,\"HpaMetrics\":[{\"Name\":\"cpu-util\",\"Value\""
                             ":60}]}")),
                 "MissingParameter: HorizontalPodAutoscaler.MaxReplicas is required");
    CHECK_STR_EQ(refusal(HPA("{\"MinReplicas\":4,\"MaxReplicas\":3,\"HpaMetrics\":[{\"Name\":"
                             "\"cpu-util\",\"Value\":60}]}")),
                 "InvalidParameterValue: HorizontalPodAutoscaler.MinReplicas (4) must not exceed "
                 "MaxReplicas (3)");
    CHECK_STR_EQ(refusal(HPA("{\"MinReplicas\":-1,\"MaxReplicas\":3,\"HpaMetrics\":[{\"Name\":"
                             "\"cpu-util\",\"Value\":60}]}")),
                 "InvalidParameterValue: HorizontalPodAutoscaler.MinReplicas must be between 0 "
                 "and 64, got -1");
    CHECK_STR_EQ(refusal(HPA("{\"MinReplicas\":0,\"MaxReplicas\":0,\"HpaMetrics\":[{\"Name\":"
                             "\"cpu-util\",\"Value\":60}]}")),
                 "InvalidParameterValue: HorizontalPodAutoscaler.MaxReplicas must be between 1 "
                 "and 64, got 0");
    CHECK_STR_EQ(refusal(HPA("{\"MinReplicas\":1,\"MaxReplicas\":65,\"HpaMetrics\":[{\"Name\":"
                             "\"cpu-util\",\"Value\":60}]}")),
                 "InvalidParameterValue: HorizontalPodAutoscaler.MaxReplicas must be between 1 "
                 "and 64, got 65");
    CHECK_STR_EQ(refusal(HPA("{\"MinReplicas\":1,\"MaxReplicas\":\"3\",\"HpaMetrics\":[{\"Name\":"
                             "\"cpu-util\",\"Value\":60}]}")),
                 "InvalidParameter: HorizontalPodAutoscaler.MaxReplicas must be an integer");
    CHECK_STR_EQ(refusal(HPA("{\"MinReplicas\":1,\"MaxReplicas\":3,\"HpaMetrics\":[{\"Name\":"
                             "\"cpu-util\",\"Value\":60}],\"ScaleDownStabilizationWindowSeconds\""
                             ":3601}")),
                 "InvalidParameterValue: "
                 "HorizontalPodAutoscaler.ScaleDownStabilizationWindowSeconds must be between 0 "
                 "and 3600, got 3601");
    CHECK_STR_EQ(refusal(HPA("{\"MinReplicas\":1,\"MaxReplicas\":3,\"HpaMetrics\":[{\"Name\":"
                             "\"cpu-util\",\"Value\":60}],\"Behavior\":{}}")),
                 "UnknownParameter: HorizontalPodAutoscaler.Behavior is not a parameter of "
                 "CreateModelService");
    CHECK_STR_EQ(refusal(HPA("[1]")),
                 "InvalidParameter: HorizontalPodAutoscaler must be an object");
}

/* TI-ONE's ranges: cpu-util and memory-util 10-100, service-qps 1-5000,
 * concurrency-util 1-100000; gpu-util only with GPUs. */
TEST(hpa_metric_names_and_ranges)
{
#define M(list) HPA("{\"MinReplicas\":1,\"MaxReplicas\":3,\"HpaMetrics\":" list "}")
    CHECK_STR_EQ(refusal(M("[{\"Name\":\"cpu-util\",\"Value\":9}]")),
                 "InvalidParameterValue: HorizontalPodAutoscaler.HpaMetrics[0].Value for "
                 "cpu-util must be between 10 and 100, got 9");
    CHECK_STR_EQ(refusal(M("[{\"Name\":\"memory-util\",\"Value\":101}]")),
                 "InvalidParameterValue: HorizontalPodAutoscaler.HpaMetrics[0].Value for "
                 "memory-util must be between 10 and 100, got 101");
    CHECK_STR_EQ(refusal(M("[{\"Name\":\"cpu-util\",\"Value\":50},{\"Name\":\"service-qps\","
                           "\"Value\":5001}]")),
                 "InvalidParameterValue: HorizontalPodAutoscaler.HpaMetrics[1].Value for "
                 "service-qps must be between 1 and 5000, got 5001");
    CHECK_STR_EQ(refusal(M("[{\"Name\":\"concurrency-util\",\"Value\":0}]")),
                 "InvalidParameterValue: HorizontalPodAutoscaler.HpaMetrics[0].Value for "
                 "concurrency-util must be between 1 and 100000, got 0");
    CHECK_STR_EQ(refusal(M("[{\"Name\":\"concurrency-util\",\"Value\":100000}]")), "(accepted)");
    CHECK_STR_EQ(refusal(M("[{\"Name\":\"service-qps\",\"Value\":1}]")), "(accepted)");
    CHECK_STR_EQ(refusal(M("[{\"Name\":\"cpu-util\",\"Value\":60.5}]")),
                 "InvalidParameter: HorizontalPodAutoscaler.HpaMetrics[0].Value must be an "
                 "integer");
    CHECK_STR_EQ(refusal(M("[{\"Name\":\"cpu-util\"}]")),
                 "MissingParameter: HorizontalPodAutoscaler.HpaMetrics[0].Value is required: "
                 "the target for cpu-util");
    CHECK_STR_EQ(refusal(M("[{\"Name\":\"cpu\",\"Value\":60}]")),
                 "InvalidParameterValue: HorizontalPodAutoscaler.HpaMetrics[0].Name 'cpu' is not "
                 "a metric: give cpu-util, memory-util, service-qps, concurrency-util or "
                 "gpu-util");
    CHECK_STR_EQ(refusal(M("[{\"Value\":60}]")),
                 "MissingParameter: HorizontalPodAutoscaler.HpaMetrics[0].Name is required");
    CHECK_STR_EQ(refusal(M("[{\"Name\":\"cpu-util\",\"Value\":60,\"Type\":\"avg\"}]")),
                 "UnknownParameter: HorizontalPodAutoscaler.HpaMetrics[0].Type is not a "
                 "parameter of CreateModelService");
    CHECK_STR_EQ(refusal(M("[{\"Name\":\"cpu-util\",\"Value\":60},{\"Name\":\"cpu-util\","
                           "\"Value\":70}]")),
                 "InvalidParameterValue: HorizontalPodAutoscaler.HpaMetrics[1].Name: HpaMetrics "
                 "names cpu-util twice");
    CHECK_STR_EQ(refusal(M("[]")),
                 "MissingParameter: HorizontalPodAutoscaler.HpaMetrics is required: a list of "
                 "{Name, Value} with Name cpu-util, memory-util, service-qps, concurrency-util "
                 "or gpu-util");
    CHECK_STR_EQ(refusal(M("{\"Name\":\"cpu-util\"}")),
                 "InvalidParameter: HorizontalPodAutoscaler.HpaMetrics must be a list of {Name, "
                 "Value}");
    CHECK_STR_EQ(refusal(M("[{\"Name\":\"gpu-util\",\"Value\":60}]")),
                 "UnsupportedOperation: HorizontalPodAutoscaler.HpaMetrics[0].Name gpu-util: "
                 "this machine has no GPUs to measure; use cpu-util, memory-util, service-qps "
                 "or concurrency-util");
    const struct api_scaling_limits gpus = {64, true};
    struct result *r = read_json(M("[{\"Name\":\"gpu-util\",\"Value\":60}]"), &gpus);
    CHECK_EQ_INT(r->rc, 0);
    CHECK_EQ_INT(r->s.hpa.targets[0].metric, CTL_METRIC_GPU_UTIL);
    CHECK_STR_EQ(refusal(M("[{\"Name\":\"gpu-util\",\"Value\":9}]")),
                 "UnsupportedOperation: HorizontalPodAutoscaler.HpaMetrics[0].Name gpu-util: "
                 "this machine has no GPUs to measure; use cpu-util, memory-util, service-qps "
                 "or concurrency-util");
#undef M
}

TEST(cron_jobs_are_accepted_and_normalized)
{
    struct result *r = read_json(
        "{\"ScaleMode\":\"AUTO\",\"ScaleStrategy\":\"CRON\",\"Replicas\":0,\"CronScaleJobs\":["
        "{\"Name\":\"day\",\"Schedule\":\"* 9-17 * * MON-FRI\",\"TargetReplicas\":4,"
        "\"ExcludeDates\":[\"* * 1 10 *\",\"* * 25 12 *\"]},"
        "{\"Schedule\":\"0 30 12 * * *\",\"TargetReplicas\":6,\"MinReplicas\":6,"
        "\"MaxReplicas\":6}]}",
        NULL);
    CHECK_EQ_INT(r->rc, 0);
    CHECK_EQ_INT(r->s.strategy, API_SCALE_CRON);
    CHECK_EQ_INT(r->s.replicas, 0); /* zero outside the windows: Berth's extension */
    CHECK_EQ_INT(r->s.n_jobs, 2);
    CHECK_STR_EQ(r->s.jobs[0].name, "day");
    CHECK_EQ_INT(r->s.jobs[0].n_exclude, 2);
    CHECK_EQ_INT(r->s.jobs[1].target_replicas, 6);
    /* the parsed schedule is the one that runs: weekdays 09:00-17:59 */
    CHECK(r->s.jobs[0].schedule.hours == 0x3fe00u);
    CHECK(r->s.jobs[0].schedule.wdays == 0x3eu);
    json_t *j = api_scaling_json(&r->s);
    char *text = json_dumps(json_object_get(j, "CronScaleJobs"), JSON_COMPACT);
    CHECK_STR_EQ(text, "[{\"Schedule\":\"* 9-17 * * MON-FRI\",\"Name\":\"day\",\"TargetReplicas\""
                       ":4,\"MinReplicas\":4,\"MaxReplicas\":4,\"ExcludeDates\":[\"* * 1 10 *\","
                       "\"* * 25 12 *\"]},{\"Schedule\":\"0 30 12 * * *\",\"Name\":\"\","
                       "\"TargetReplicas\":6,\"MinReplicas\":6,\"MaxReplicas\":6,"
                       "\"ExcludeDates\":[]}]");
    free(text);
    CHECK(json_is_null(json_object_get(j, "HorizontalPodAutoscaler")));
    CHECK_STR_EQ(json_string_value(json_object_get(j, "ScaleStrategy")), "CRON");
    json_decref(j);
}

TEST(cron_job_errors_name_the_job_and_field)
{
    CHECK_STR_EQ(refusal(CRON("[{\"Schedule\":\"61 * * * *\",\"TargetReplicas\":2}]")),
                 "InvalidParameterValue: CronScaleJobs[0].Schedule: minute field '61': 61 is out "
                 "of range 0-59");
    CHECK_STR_EQ(refusal(CRON("[{\"Schedule\":\"* * * * *\",\"TargetReplicas\":2},"
                              "{\"Schedule\":\"0 0 30 2 *\",\"TargetReplicas\":2}]")),
                 "InvalidParameterValue: CronScaleJobs[1].Schedule: cron expression '0 0 30 2 *' "
                 "never matches: no chosen month has the chosen day-of-month");
    CHECK_STR_EQ(refusal(CRON("[{\"TargetReplicas\":2}]")),
                 "MissingParameter: CronScaleJobs[0].Schedule is required");
    CHECK_STR_EQ(refusal(CRON("[{\"Schedule\":5,\"TargetReplicas\":2}]")),
                 "InvalidParameter: CronScaleJobs[0].Schedule must be a cron expression string");
    CHECK_STR_EQ(refusal(CRON("[{\"Schedule\":\"* * * * *\"}]")),
                 "MissingParameter: CronScaleJobs[0].TargetReplicas is required");
    CHECK_STR_EQ(refusal(CRON("[{\"Schedule\":\"* * * * *\",\"TargetReplicas\":65}]")),
                 "InvalidParameterValue: CronScaleJobs[0].TargetReplicas must be between 0 and "
                 "64, got 65");
    CHECK_STR_EQ(refusal(CRON("[{\"Schedule\":\"* * * * *\",\"TargetReplicas\":2,"
                              "\"MinReplicas\":1,\"MaxReplicas\":3}]")),
                 "UnsupportedOperation: CronScaleJobs[0].MinReplicas: a range of replicas inside "
                 "a cron window (an HPA within it) is not supported by Berth yet; give "
                 "TargetReplicas alone, or MinReplicas and MaxReplicas equal to it");
    CHECK_STR_EQ(refusal(CRON("[{\"Schedule\":\"* * * * *\",\"TargetReplicas\":2,"
                              "\"ExcludeDates\":[\"* * 1 1 *\",\"* * 1 5 *\",\"* * 1 10 *\","
                              "\"* * 25 12 *\"]}]")),
                 "InvalidParameterValue: CronScaleJobs[0].ExcludeDates holds at most 3 cron "
                 "expressions, got 4");
    CHECK_STR_EQ(refusal(CRON("[{\"Schedule\":\"* * * * *\",\"TargetReplicas\":2,"
                              "\"ExcludeDates\":[\"* * 1 1 *\",\"* * 32 5 *\"]}]")),
                 "InvalidParameterValue: CronScaleJobs[0].ExcludeDates[1]: day-of-month field "
                 "'32': 32 is out of range 1-31");
    CHECK_STR_EQ(refusal(CRON("[{\"Schedule\":\"* * * * *\",\"TargetReplicas\":2,"
                              "\"ExcludeDates\":\"* * 1 1 *\"}]")),
                 "InvalidParameter: CronScaleJobs[0].ExcludeDates must be a list of cron "
                 "expressions");
    CHECK_STR_EQ(refusal(CRON("[{\"Name\":\"a\",\"Schedule\":\"* 1 * * *\",\"TargetReplicas\":2},"
                              "{\"Name\":\"a\",\"Schedule\":\"* 2 * * *\",\"TargetReplicas\":3}]")),
                 "InvalidParameterValue: CronScaleJobs[1].Name 'a' is the name of "
                 "CronScaleJobs[0] too");
    CHECK_STR_EQ(refusal(CRON("[{\"Schedule\":\"* * * * *\",\"TargetReplicas\":2,\"Zone\":1}]")),
                 "UnknownParameter: CronScaleJobs[0].Zone is not a parameter of "
                 "CreateModelService");
    CHECK_STR_EQ(refusal(CRON("{}")),
                 "InvalidParameter: CronScaleJobs must be a list of CronScaleJob");
    CHECK_STR_EQ(refusal("{\"ScaleMode\":\"AUTO\",\"ScaleStrategy\":\"CRON\",\"CronScaleJobs\":"
                         "[{\"Schedule\":\"* * * * *\",\"TargetReplicas\":2}]}"),
                 "MissingParameter: Replicas is required with ScaleStrategy CRON: the count "
                 "outside every job's window");
    CHECK_STR_EQ(refusal("{\"ScaleMode\":\"AUTO\",\"ScaleStrategy\":\"CRON\",\"Replicas\":-1,"
                         "\"CronScaleJobs\":[{\"Schedule\":\"* * * * *\",\"TargetReplicas\":2}]}"),
                 "InvalidParameterValue: Replicas must be between 0 and 64, got -1");
    CHECK_STR_EQ(refusal(CRON("[{\"Schedule\":\"* * * * *\",\"TargetReplicas\":2}],"
                              "\"HorizontalPodAutoscaler\":{\"MinReplicas\":1}")),
                 "InvalidParameterValue: HorizontalPodAutoscaler is only used with ScaleStrategy "
                 "HPA, not CRON");
}

TEST(cron_job_count_is_capped)
{
    char buf[8192] = "[";
    for (int i = 0; i <= API_CRON_MAX_JOBS; i++)
        snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf),
                 "%s{\"Schedule\":\"%d * * * *\",\"TargetReplicas\":1}", i ? "," : "", i);
    snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "]");
    char body[9000];
    snprintf(body, sizeof(body),
             "{\"ScaleMode\":\"AUTO\",\"ScaleStrategy\":\"CRON\",\"Replicas\":1,"
             "\"CronScaleJobs\":%s}",
             buf);
    CHECK_STR_EQ(refusal(body),
                 "InvalidParameterValue: CronScaleJobs holds at most 16 jobs, got 17");
}

/* The control plane reads back what the API stored: the canonical form
 * inside the service's spec, beside the other fields. */
TEST(stored_spec_reads_back)
{
    struct result *r = read_json(CRON("[{\"Name\":\"night\",\"Schedule\":\"* 0-5 * * *\","
                                      "\"TargetReplicas\":0,\"ExcludeDates\":[\"* * * * 0\"]}]"),
                                 NULL);
    CHECK_EQ_INT(r->rc, 0);
    json_t *spec = api_scaling_json(&r->s);
    json_object_set_new(spec, "Replicas", json_integer(r->s.replicas));
    json_object_set_new(spec, "ServicePort", json_integer(8501)); /* the rest of a spec */
    struct api_scaling back;
    struct err e = {0};
    CHECK_EQ_INT(api_scaling_from_spec(spec, &limits, &back, &e), 0);
    CHECK_EQ_INT(back.strategy, API_SCALE_CRON);
    CHECK_EQ_INT(back.n_jobs, 1);
    CHECK_STR_EQ(back.jobs[0].name, "night");
    CHECK_EQ_INT(back.jobs[0].n_exclude, 1);
    CHECK_EQ_INT(back.replicas, 1);
    json_object_set_new(spec, "ScaleStrategy", json_string("SPOT"));
    CHECK_EQ_INT(api_scaling_from_spec(spec, &limits, &back, &e), ERR_INVALID);
    CHECK_STR_EQ(e.msg, "ScaleStrategy must be HPA or CRON, got 'SPOT'");
    json_decref(spec);
}

/* ModifyModelService: what a request's scaling fields do to a stored spec. */
static const char *modify(const char *spec_text, const char *params_text, struct api_scaling *out,
                          bool *given)
{
    static char result[600];
    json_t *spec = json_loads(spec_text, 0, NULL), *p = json_loads(params_text, 0, NULL);
    struct api_call c;
    memset(&c, 0, sizeof(c));
    c.action = "ModifyModelService";
    c.params = p;
    int rc = api_scaling_modify(&c, p, spec, 64, out, given);
    snprintf(result, sizeof(result), "%s", rc ? c.error_message : "ok");
    json_decref(spec);
    json_decref(p);
    return result;
}

TEST(modify_keeps_what_is_omitted_and_replaces_with_scale_mode)
{
    static struct api_scaling s;
    bool given;
    /* A CRON spec as api_scaling_put() stores it. */
    const char *job = "{\"Schedule\": \"* 9 * * *\", \"Name\": \"a\", \"TargetReplicas\": 3}";
    char cron[512];
    snprintf(cron, sizeof(cron),
             "{\"Kind\": \"command\", \"ScaleMode\": \"AUTO\", \"ScaleStrategy\": \"CRON\", "
             "\"HorizontalPodAutoscaler\": null, \"CronScaleJobs\": [%s], \"Replicas\": 1}",
             job);
    CHECK_STR_EQ(modify(cron, "{\"ServiceDescription\": \"d\"}", &s, &given), "ok");
    CHECK(!given);
    /* Replicas alone: the count outside the windows, the jobs stay. */
    CHECK_STR_EQ(modify(cron, "{\"Replicas\": 0}", &s, &given), "ok");
    CHECK(given);
    CHECK_EQ_INT(s.strategy, API_SCALE_CRON);
    CHECK_EQ_INT(s.replicas, 0);
    CHECK_EQ_INT(s.n_jobs, 1);
    CHECK_STR_EQ(s.jobs[0].name, "a");
    /* New jobs alone replace the jobs, Replicas stays. */
    CHECK_STR_EQ(modify(cron,
                        "{\"CronScaleJobs\": [{\"Schedule\": \"* 10 * * *\", \"TargetReplicas\": "
                        "2}, {\"Schedule\": \"* 11 * * *\", \"TargetReplicas\": 4}]}",
                        &s, &given),
                 "ok");
    CHECK_EQ_INT(s.n_jobs, 2);
    CHECK_EQ_INT(s.replicas, 1);
    /* With ScaleMode the request's fields are the scaling, whole. */
    CHECK_STR_EQ(modify(cron, "{\"ScaleMode\": \"MANUAL\"}", &s, &given), "ok");
    CHECK_EQ_INT(s.strategy, API_SCALE_MANUAL);
    CHECK_STR_EQ(modify(cron, "{\"ScaleMode\": \"AUTO\", \"ScaleStrategy\": \"CRON\"}", &s, &given),
                 "CronScaleJobs is required with ScaleStrategy CRON: a list of {Schedule, "
                 "TargetReplicas, ...}");
    /* A MANUAL spec takes no jobs without ScaleMode AUTO. */
    CHECK_STR_EQ(modify("{\"Kind\": \"command\"}", "{\"ScaleStrategy\": \"CRON\"}", &s, &given),
                 "ScaleStrategy CRON needs ScaleMode AUTO (ScaleMode is MANUAL by default)");
    CHECK_STR_EQ(modify("{}", "{\"ScaleMode\": \"AUTO\", \"ScaleStrategy\": \"HPA\"}", &s, &given),
                 "HorizontalPodAutoscaler is required with ScaleStrategy HPA");
    /* An HPA spec: a new HorizontalPodAutoscaler alone replaces it. */
    CHECK_STR_EQ(modify(cron,
                        "{\"ScaleMode\": \"AUTO\", \"ScaleStrategy\": \"HPA\", "
                        "\"HorizontalPodAutoscaler\": {\"MinReplicas\": 0, \"MaxReplicas\": 4, "
                        "\"HpaMetrics\": [{\"Name\": \"service-qps\", \"Value\": 5}]}}",
                        &s, &given),
                 "ok");
    CHECK_EQ_INT(s.strategy, API_SCALE_HPA);
    CHECK_EQ_INT(s.hpa.min_replicas, 0);
    CHECK_EQ_INT(s.hpa.max_replicas, 4);
}

TEST(put_and_show_round_trip)
{
    static struct api_scaling s, back;
    json_t *p =
        json_loads("{\"ScaleMode\": \"AUTO\", \"ScaleStrategy\": \"CRON\", \"Replicas\": 2, "
                   "\"CronScaleJobs\": [{\"Schedule\": \"0 30 12 * * *\", \"TargetReplicas\": "
                   "5, \"ExcludeDates\": [\"* * 25 12 *\"]}]}",
                   0, NULL);
    struct api_call c;
    memset(&c, 0, sizeof(c));
    c.params = p;
    CHECK_EQ_INT(api_scaling_request(&c, p, 64, &s), 0);
    json_t *spec = json_pack("{s:s}", "Kind", "command");
    api_scaling_put(spec, &s);
    CHECK_EQ_INT(json_integer_value(json_object_get(spec, "Replicas")), 2);
    struct err err = {0};
    CHECK_EQ_INT(api_scaling_from_spec(spec, &limits, &back, &err), 0);
    CHECK_EQ_INT(back.replicas, 2);
    CHECK_STR_EQ(back.exclude[0][0], "* * 25 12 *");
    json_t *info = json_object();
    api_scaling_show(info, spec, 64);
    CHECK_STR_EQ(json_string_value(json_object_get(info, "ScaleStrategy")), "CRON");
    CHECK_EQ_INT(json_array_size(json_object_get(info, "CronScaleJobs")), 1);
    CHECK(json_is_null(json_object_get(info, "HorizontalPodAutoscaler")));
    /* Back to MANUAL: the count outside the windows goes from the spec. */
    struct api_scaling manual = {.strategy = API_SCALE_MANUAL, .replicas = -1};
    api_scaling_put(spec, &manual);
    CHECK(!json_object_get(spec, "Replicas"));
    api_scaling_show(info, spec, 64);
    CHECK_STR_EQ(json_string_value(json_object_get(info, "ScaleMode")), "MANUAL");
    CHECK_EQ_INT(json_array_size(json_object_get(info, "CronScaleJobs")), 0);
    /* A spec from before the scaling fields shows MANUAL. */
    json_t *old = json_object(), *info2 = json_object();
    api_scaling_show(info2, old, 64);
    CHECK_STR_EQ(json_string_value(json_object_get(info2, "ScaleMode")), "MANUAL");
    json_decref(old);
    json_decref(info2);
    json_decref(info);
    json_decref(spec);
    json_decref(p);
}
