/* test_autoscaler.c - the HPA decision on simulated time: Kubernetes' rule
 * and its conservative handling of unready instances and missing samples,
 * the stabilization windows, Min/Max, the panic fast path, and scale from
 * and to zero. Each case checks the count and what the reason tells. */
#include "harness.h"

#include "control/autoscaler.h"

#define S 1000LL /* ms per second */

static struct ctl_hpa_spec spec(int min, int max)
{
    struct ctl_hpa_spec s;
    memset(&s, 0, sizeof(s));
    s.min_replicas = min;
    s.max_replicas = max;
    s.up_window_s = CTL_HPA_DEFAULT_UP_WINDOW_S;
    s.down_window_s = CTL_HPA_DEFAULT_DOWN_WINDOW_S;
    return s;
}

static void target(struct ctl_hpa_spec *s, enum ctl_metric m, long long v)
{
    s->targets[s->n_targets++] = (struct ctl_hpa_target){m, v};
}

/* Instances, each ready with 'v' for metric m, NAN elsewhere. */
static struct ctl_hpa_instance inst(bool ready, enum ctl_metric m, double v)
{
    struct ctl_hpa_instance x;
    x.ready = ready;
    for (int i = 0; i < CTL_METRIC_COUNT; i++)
        x.value[i] = NAN;
    x.value[m] = v;
    return x;
}

struct run {
    struct ctl_hpa_state st;
    struct ctl_hpa_decision d;
};

static int decide(struct run *r, const struct ctl_hpa_spec *s, int current,
                  const struct ctl_hpa_instance *xs, size_t n, double inflight, double requests,
                  int64_t now_ms)
{
    struct ctl_hpa_input in = {current, xs, n, inflight, requests, false};
    ctl_hpa_decide(s, &r->st, &in, now_ms, &r->d);
    return r->d.replicas;
}

static bool says(const struct run *r, const char *text)
{
    if (strstr(r->d.reason, text))
        return true;
    printf("# reason '%s' lacks '%s'\n", r->d.reason, text);
    return false;
}

TEST(metric_names_and_ranges_are_tione_s)
{
    CHECK_EQ_INT(ctl_metric_from_name("cpu-util"), CTL_METRIC_CPU_UTIL);
    CHECK_EQ_INT(ctl_metric_from_name("memory-util"), CTL_METRIC_MEMORY_UTIL);
    CHECK_EQ_INT(ctl_metric_from_name("service-qps"), CTL_METRIC_SERVICE_QPS);
    CHECK_EQ_INT(ctl_metric_from_name("concurrency-util"), CTL_METRIC_CONCURRENCY_UTIL);
    CHECK_EQ_INT(ctl_metric_from_name("gpu-util"), CTL_METRIC_GPU_UTIL);
    CHECK_EQ_INT(ctl_metric_from_name("CPU-UTIL"), -1);
    CHECK_EQ_INT(ctl_metric_from_name("rps"), -1);
    CHECK_STR_EQ(ctl_metric_name(CTL_METRIC_SERVICE_QPS), "service-qps");
    long long lo, hi;
    ctl_metric_range(CTL_METRIC_CPU_UTIL, &lo, &hi);
    CHECK(lo == 10 && hi == 100);
    ctl_metric_range(CTL_METRIC_SERVICE_QPS, &lo, &hi);
    CHECK(lo == 1 && hi == 5000);
    ctl_metric_range(CTL_METRIC_CONCURRENCY_UTIL, &lo, &hi);
    CHECK(lo == 1 && hi == 100000);
}

/* desired = ceil(current x value / target) */
TEST(desired_is_ceil_current_times_ratio)
{
    struct ctl_hpa_spec s = spec(1, 10);
    target(&s, CTL_METRIC_CPU_UTIL, 60);
    struct ctl_hpa_instance xs[] = {inst(true, CTL_METRIC_CPU_UTIL, 90),
                                    inst(true, CTL_METRIC_CPU_UTIL, 90)};
    struct run r;
    ctl_hpa_state_init(&r.st);
    CHECK_EQ_INT(decide(&r, &s, 2, xs, 2, 1, 100, 0), 3);
    CHECK(says(&r, "cpu-util 90% (average of 2 ready, target 60) -> 3"));
    CHECK(says(&r, "2 -> 3"));
    /* 30 req/s on one instance, target 5 per instance: 6 */
    struct ctl_hpa_spec q = spec(1, 10);
    target(&q, CTL_METRIC_SERVICE_QPS, 5);
    struct ctl_hpa_instance one[] = {inst(true, CTL_METRIC_SERVICE_QPS, 30)};
    ctl_hpa_state_init(&r.st);
    CHECK_EQ_INT(decide(&r, &q, 1, one, 1, 2, 30, 0), 6);
    CHECK(says(&r, "service-qps 30 req/s (average of 1 ready, target 5) -> 6"));
}

TEST(ten_percent_tolerance)
{
    struct ctl_hpa_spec s = spec(1, 10);
    s.down_window_s = 0;
    target(&s, CTL_METRIC_CPU_UTIL, 60);
    struct run r;
    struct ctl_hpa_instance in_band[] = {inst(true, CTL_METRIC_CPU_UTIL, 65),
                                         inst(true, CTL_METRIC_CPU_UTIL, 65)};
    ctl_hpa_state_init(&r.st);
    CHECK_EQ_INT(decide(&r, &s, 2, in_band, 2, 1, 10, 0), 2);
    CHECK(says(&r, "-> 2 (within 10%)"));
    struct ctl_hpa_instance low_band[] = {inst(true, CTL_METRIC_CPU_UTIL, 55),
                                          inst(true, CTL_METRIC_CPU_UTIL, 55)};
    CHECK_EQ_INT(decide(&r, &s, 2, low_band, 2, 1, 10, 1 * S), 2);
    struct ctl_hpa_instance above[] = {inst(true, CTL_METRIC_CPU_UTIL, 67),
                                       inst(true, CTL_METRIC_CPU_UTIL, 67)};
    CHECK_EQ_INT(decide(&r, &s, 2, above, 2, 1, 10, 2 * S), 3);
    struct ctl_hpa_instance below[] = {inst(true, CTL_METRIC_CPU_UTIL, 20),
                                       inst(true, CTL_METRIC_CPU_UTIL, 20)};
    CHECK_EQ_INT(decide(&r, &s, 2, below, 2, 1, 10, 3 * S), 1);
}

TEST(the_maximum_over_metrics_wins)
{
    struct ctl_hpa_spec s = spec(1, 10);
    target(&s, CTL_METRIC_CPU_UTIL, 60);
    target(&s, CTL_METRIC_SERVICE_QPS, 5);
    struct ctl_hpa_instance xs[2];
    for (int i = 0; i < 2; i++) {
        xs[i] = inst(true, CTL_METRIC_CPU_UTIL, 90); /* says 3 */
        xs[i].value[CTL_METRIC_SERVICE_QPS] = 12;    /* says ceil(2 x 2.4) = 5 */
    }
    struct run r;
    ctl_hpa_state_init(&r.st);
    CHECK_EQ_INT(decide(&r, &s, 2, xs, 2, 2, 24, 0), 5);
    CHECK(says(&r, "cpu-util 90% (average of 2 ready, target 60) -> 3"));
    CHECK(says(&r, "service-qps 12 req/s (average of 2 ready, target 5) -> 5"));
    CHECK(says(&r, "2 -> 5"));
}

TEST(min_and_max_hold)
{
    struct ctl_hpa_spec s = spec(2, 4);
    s.down_window_s = 0;
    target(&s, CTL_METRIC_CONCURRENCY_UTIL, 2);
    struct ctl_hpa_instance busy[] = {inst(true, CTL_METRIC_CONCURRENCY_UTIL, 20),
                                      inst(true, CTL_METRIC_CONCURRENCY_UTIL, 20)};
    struct run r;
    ctl_hpa_state_init(&r.st);
    CHECK_EQ_INT(decide(&r, &s, 2, busy, 2, 40, 400, 0), 4);
    CHECK(says(&r, "held to MaxReplicas 4"));
    struct ctl_hpa_instance idle[] = {
        inst(true, CTL_METRIC_CONCURRENCY_UTIL, 0), inst(true, CTL_METRIC_CONCURRENCY_UTIL, 0),
        inst(true, CTL_METRIC_CONCURRENCY_UTIL, 0), inst(true, CTL_METRIC_CONCURRENCY_UTIL, 0)};
    CHECK_EQ_INT(decide(&r, &s, 4, idle, 4, 0, 0, 1 * S), 2);
    CHECK(says(&r, "held to MinReplicas 2"));
    /* a lowered MaxReplicas applies at once, whatever the window says */
    struct ctl_hpa_spec low = spec(1, 3);
    target(&low, CTL_METRIC_CONCURRENCY_UTIL, 2);
    ctl_hpa_state_init(&r.st);
    CHECK_EQ_INT(decide(&r, &low, 4, busy, 2, 40, 400, 0), 3);
}

/* The default scale-down window is 300 s: the highest recommendation of the
 * last 300 s, counted from the autoscaler's start. */
TEST(scale_down_waits_for_its_window)
{
    struct ctl_hpa_spec s = spec(1, 10);
    target(&s, CTL_METRIC_CPU_UTIL, 60);
    struct ctl_hpa_instance quiet[4];
    for (int i = 0; i < 4; i++)
        quiet[i] = inst(true, CTL_METRIC_CPU_UTIL, 20); /* says ceil(4 / 3) = 2 */
    struct run r;
    ctl_hpa_state_init(&r.st);
    CHECK_EQ_INT(decide(&r, &s, 4, quiet, 4, 1, 10, 0), 4);
    CHECK(says(&r, "down to 4 only: highest in the 300 s scale-down window"));
    CHECK_EQ_INT(decide(&r, &s, 4, quiet, 4, 1, 10, 150 * S), 4);
    CHECK_EQ_INT(decide(&r, &s, 4, quiet, 4, 1, 10, 299 * S), 4);
    CHECK_EQ_INT(decide(&r, &s, 4, quiet, 4, 1, 10, 300 * S),
                 2); /* the window is (now-300 s, now] */
    CHECK(says(&r, "4 -> 2"));
    /* a short peak inside the window holds the count up */
    struct ctl_hpa_instance peak[2] = {inst(true, CTL_METRIC_CPU_UTIL, 150),
                                       inst(true, CTL_METRIC_CPU_UTIL, 150)};
    CHECK_EQ_INT(decide(&r, &s, 2, peak, 2, 1, 10, 310 * S), 5);
    struct ctl_hpa_instance calm[5];
    for (int i = 0; i < 5; i++)
        calm[i] = inst(true, CTL_METRIC_CPU_UTIL, 12); /* says 1 */
    CHECK_EQ_INT(decide(&r, &s, 5, calm, 5, 1, 10, 400 * S), 5);
    CHECK_EQ_INT(decide(&r, &s, 5, calm, 5, 1, 10, 611 * S), 1);
}

/* TI-ONE's example sets ScaleUpStabilizationWindowSeconds 60: up only to the
 * lowest recommendation of the last 60 s. */
TEST(scale_up_window_takes_the_lowest)
{
    struct ctl_hpa_spec s = spec(1, 10);
    s.up_window_s = 60;
    target(&s, CTL_METRIC_SERVICE_QPS, 10);
    struct ctl_hpa_instance hot[] = {inst(true, CTL_METRIC_SERVICE_QPS, 40)};  /* says 4 */
    struct ctl_hpa_instance warm[] = {inst(true, CTL_METRIC_SERVICE_QPS, 20)}; /* says 2 */
    struct run r;
    ctl_hpa_state_init(&r.st);
    CHECK_EQ_INT(decide(&r, &s, 1, hot, 1, 2, 40, 0), 1);
    CHECK(says(&r, "up to 1 only: lowest in the 60 s scale-up window"));
    CHECK_EQ_INT(decide(&r, &s, 1, warm, 1, 2, 20, 30 * S), 1);
    CHECK_EQ_INT(decide(&r, &s, 1, hot, 1, 2, 40, 61 * S), 2); /* 2 seen at 30 s */
    CHECK_EQ_INT(decide(&r, &s, 2, hot, 1, 2, 40, 91 * S), 4);
    /* with the default 0 s window, at once */
    struct ctl_hpa_spec now = spec(1, 10);
    target(&now, CTL_METRIC_SERVICE_QPS, 10);
    ctl_hpa_state_init(&r.st);
    CHECK_EQ_INT(decide(&r, &now, 1, hot, 1, 2, 40, 0), 4);
}

/* A ready instance without a sample counts as 0 on a scale-up and as the
 * target (100 % for utilization) on a scale-down. */
TEST(missing_samples_dampen_the_change)
{
    struct ctl_hpa_spec s = spec(1, 10);
    s.down_window_s = 0;
    target(&s, CTL_METRIC_CPU_UTIL, 60);
    struct run r;
    struct ctl_hpa_instance up_damped[] = {inst(true, CTL_METRIC_CPU_UTIL, 90),
                                           inst(true, CTL_METRIC_CPU_UTIL, 90),
                                           inst(true, CTL_METRIC_CPU_UTIL, NAN)};
    ctl_hpa_state_init(&r.st);
    CHECK_EQ_INT(decide(&r, &s, 3, up_damped, 3, 1, 10, 0), 3); /* 180/3 = 60: within */
    CHECK(says(&r, "with 0 unready and 1 without a sample"));
    struct ctl_hpa_instance up[] = {inst(true, CTL_METRIC_CPU_UTIL, 120),
                                    inst(true, CTL_METRIC_CPU_UTIL, 120),
                                    inst(true, CTL_METRIC_CPU_UTIL, NAN)};
    CHECK_EQ_INT(decide(&r, &s, 3, up, 3, 1, 10, 1 * S), 4); /* 240/3/60 x 3 */
    struct ctl_hpa_instance down[] = {
        inst(true, CTL_METRIC_CPU_UTIL, 10), inst(true, CTL_METRIC_CPU_UTIL, 10),
        inst(true, CTL_METRIC_CPU_UTIL, 10), inst(true, CTL_METRIC_CPU_UTIL, NAN)};
    /* without the rule ceil(3 x 10/60) = 1; with it ceil((30 + 100) / 60) = 3 */
    CHECK_EQ_INT(decide(&r, &s, 4, down, 4, 1, 10, 2 * S), 3);
}

/* An instance that is still starting counts as 0 on a scale-up: one hot
 * instance beside a starting one does not scale up again. */
TEST(unready_instances_count_as_idle_on_scale_up)
{
    struct ctl_hpa_spec s = spec(1, 10);
    target(&s, CTL_METRIC_CPU_UTIL, 60);
    struct ctl_hpa_instance xs[] = {inst(true, CTL_METRIC_CPU_UTIL, 130),
                                    inst(false, CTL_METRIC_CPU_UTIL, NAN)};
    struct run r;
    ctl_hpa_state_init(&r.st);
    CHECK_EQ_INT(decide(&r, &s, 2, xs, 2, 1, 10, 0), 2); /* 130 alone would say 3 */
    CHECK(says(&r, "65% with 1 unready and 0 without a sample"));
    struct ctl_hpa_instance hotter[] = {inst(true, CTL_METRIC_CPU_UTIL, 200),
                                        inst(false, CTL_METRIC_CPU_UTIL, NAN)};
    CHECK_EQ_INT(decide(&r, &s, 2, hotter, 2, 1, 10, 1 * S), 4);
}

TEST(no_samples_no_change)
{
    struct ctl_hpa_spec s = spec(1, 10);
    s.down_window_s = 0;
    target(&s, CTL_METRIC_CPU_UTIL, 60);
    target(&s, CTL_METRIC_SERVICE_QPS, 10);
    struct ctl_hpa_instance none[] = {inst(true, CTL_METRIC_CPU_UTIL, NAN),
                                      inst(true, CTL_METRIC_CPU_UTIL, NAN)};
    struct run r;
    ctl_hpa_state_init(&r.st);
    CHECK_EQ_INT(decide(&r, &s, 2, none, 2, 1, 10, 0), 2);
    CHECK(says(&r, "no metric to decide on: keep 2"));
    /* qps says down, cpu has nothing: no scale-down on half the picture */
    struct ctl_hpa_instance half[2];
    for (int i = 0; i < 2; i++)
        half[i] = inst(true, CTL_METRIC_SERVICE_QPS, 1);
    CHECK_EQ_INT(decide(&r, &s, 2, half, 2, 1, 2, 1 * S), 2);
    CHECK(says(&r, "a metric has no sample: no scale-down"));
    /* ... but it may scale up on what it has */
    for (int i = 0; i < 2; i++)
        half[i].value[CTL_METRIC_SERVICE_QPS] = 30;
    CHECK_EQ_INT(decide(&r, &s, 2, half, 2, 1, 60, 2 * S), 6);
}

/* More in flight than the ready instances take: scale up at once, past the
 * up window, and no scale-down for 60 s after the last such moment. */
TEST(panic_scales_up_at_once_and_holds)
{
    struct ctl_hpa_spec s = spec(1, 10);
    s.up_window_s = 60;
    s.down_window_s = 0;
    target(&s, CTL_METRIC_CONCURRENCY_UTIL, 10);
    s.panic_capacity = 10;
    struct ctl_hpa_instance one[] = {inst(true, CTL_METRIC_CONCURRENCY_UTIL, 10)};
    struct run r;
    ctl_hpa_state_init(&r.st);
    CHECK_EQ_INT(decide(&r, &s, 1, one, 1, 10, 10, 0), 1); /* at capacity: no panic */
    CHECK(!r.d.panic);
    one[0].value[CTL_METRIC_CONCURRENCY_UTIL] = 50;
    CHECK_EQ_INT(decide(&r, &s, 1, one, 1, 50, 50, 1 * S), 5);
    CHECK(r.d.panic);
    CHECK(says(&r, "panic: 50 in flight > 1 ready x 10: 5 at once"));
    /* the load goes; the count stays while panic holds */
    struct ctl_hpa_instance five[5];
    for (int i = 0; i < 5; i++)
        five[i] = inst(true, CTL_METRIC_CONCURRENCY_UTIL, 0);
    CHECK_EQ_INT(decide(&r, &s, 5, five, 5, 0, 3, 30 * S), 5);
    CHECK(says(&r, "no scale-down while in panic"));
    CHECK_EQ_INT(decide(&r, &s, 5, five, 5, 0, 3, 60 * S), 5);
    CHECK_EQ_INT(decide(&r, &s, 5, five, 5, 0, 3, 62 * S), 1);
    CHECK(!r.d.panic);
    /* without a capacity there is no fast path */
    s.panic_capacity = 0;
    ctl_hpa_state_init(&r.st);
    CHECK_EQ_INT(decide(&r, &s, 1, one, 1, 50, 50, 0), 1); /* the 60 s window holds */
    CHECK(!r.d.panic);
}

/* MinReplicas 0: the first request wakes the service at once; it goes back
 * to 0 only after a whole scale-down window without a request. */
TEST(scale_from_and_to_zero)
{
    struct ctl_hpa_spec s = spec(0, 5);
    target(&s, CTL_METRIC_CPU_UTIL, 60);
    struct run r;
    ctl_hpa_state_init(&r.st);
    struct ctl_hpa_input in = {0, NULL, 0, 0, 0, false};
    ctl_hpa_decide(&s, &r.st, &in, 0, &r.d);
    CHECK_EQ_INT(r.d.replicas, 0);
    CHECK(says(&r, "no requests at 0 instances"));
    in.waiting = true;
    in.inflight = 3;
    ctl_hpa_decide(&s, &r.st, &in, 10 * S, &r.d);
    CHECK_EQ_INT(r.d.replicas, 1);
    CHECK(says(&r, "3 request(s) waiting at 0 instances: wake 1 at once"));
    /* starting: no sample yet, requests held: stays 1 */
    struct ctl_hpa_instance starting[] = {inst(false, CTL_METRIC_CPU_UTIL, NAN)};
    CHECK_EQ_INT(decide(&r, &s, 1, starting, 1, 3, 3, 11 * S), 1);
    /* serving lightly: cpu says 1 */
    struct ctl_hpa_instance light[] = {inst(true, CTL_METRIC_CPU_UTIL, 2)};
    CHECK_EQ_INT(decide(&r, &s, 1, light, 1, 0, 2, 20 * S), 1);
    /* no requests any more: 0, once the 300 s window has no 1 in it */
    CHECK_EQ_INT(decide(&r, &s, 1, light, 1, 0, 0, 100 * S), 1);
    CHECK(says(&r, "no request in the period: 0 (MinReplicas 0)"));
    CHECK_EQ_INT(decide(&r, &s, 1, light, 1, 0, 0, 319 * S), 1); /* 1 was last said at 20 s */
    CHECK_EQ_INT(decide(&r, &s, 1, light, 1, 0, 0, 320 * S), 0);
    /* MinReplicas 2: a service at 0 (after a STOP) comes back to 2 */
    struct ctl_hpa_spec two = spec(2, 5);
    target(&two, CTL_METRIC_CPU_UTIL, 60);
    ctl_hpa_state_init(&r.st);
    struct ctl_hpa_input in2 = {0, NULL, 0, 1, 1, true};
    ctl_hpa_decide(&two, &r.st, &in2, 0, &r.d);
    CHECK_EQ_INT(r.d.replicas, 2);
    /* traffic with a sample of 0 req/s still keeps one instance */
    struct ctl_hpa_spec q = spec(0, 5);
    q.down_window_s = 0;
    target(&q, CTL_METRIC_SERVICE_QPS, 5);
    struct ctl_hpa_instance zero_qps[] = {inst(true, CTL_METRIC_SERVICE_QPS, 0)};
    ctl_hpa_state_init(&r.st);
    CHECK_EQ_INT(decide(&r, &q, 1, zero_qps, 1, 1, 1, 0), 1);
    CHECK_EQ_INT(decide(&r, &q, 1, zero_qps, 1, 0, 0, 1 * S), 0);
}

/* A burst at zero (10 clients, each instance takes 4): enough instances for
 * all of it at once, and no drop back while they start. */
TEST(burst_at_zero_wakes_enough_for_it)
{
    struct ctl_hpa_spec s = spec(0, 5);
    s.down_window_s = 0;
    target(&s, CTL_METRIC_CONCURRENCY_UTIL, 4);
    s.panic_capacity = 4;
    struct run r;
    ctl_hpa_state_init(&r.st);
    struct ctl_hpa_input in = {0, NULL, 0, 10, 10, true};
    ctl_hpa_decide(&s, &r.st, &in, 0, &r.d);
    CHECK_EQ_INT(r.d.replicas, 3);
    CHECK(says(&r, "10 request(s) waiting at 0 instances: wake 3 at once"));
    struct ctl_hpa_instance starting[3];
    for (int i = 0; i < 3; i++)
        starting[i] = inst(false, CTL_METRIC_CONCURRENCY_UTIL, NAN);
    CHECK_EQ_INT(decide(&r, &s, 3, starting, 3, 10, 10, 2 * S), 3);
    CHECK(r.d.panic);
}
