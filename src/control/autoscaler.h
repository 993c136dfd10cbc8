/* autoscaler.h - the HPA decision: how many instances a service should run,
 * from its instances' metrics, by the rule of Kubernetes' HorizontalPodAutoscaler
 * (desired = ceil(current x value / target), the maximum over metrics, a 10 %
 * tolerance, v2 stabilization windows), with a fast path for sudden load
 * (Knative's panic mode) and scale from and to zero (MinReplicas 0). Pure: the
 * caller measures, passes the time in and writes the answer as desired state.
 * One struct ctl_hpa_state per service; no locking inside. The rules for users
 * are in docs/autoscaling.md. */
#ifndef BERTH_CTL_AUTOSCALER_H
#define BERTH_CTL_AUTOSCALER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* TI-ONE's HpaMetrics names (§4.3). */
enum ctl_metric {
    CTL_METRIC_CPU_UTIL,         /* percent of the instance's CPU spec, 10-100 */
    CTL_METRIC_MEMORY_UTIL,      /* percent of the instance's memory spec, 10-100 */
    CTL_METRIC_SERVICE_QPS,      /* requests per second per instance, 1-5000 */
    CTL_METRIC_CONCURRENCY_UTIL, /* requests in flight per instance, 1-100000 */
    CTL_METRIC_GPU_UTIL,         /* percent, 10-100; only where there are GPUs */
    CTL_METRIC_COUNT,
};

/* "cpu-util", ...; NULL out of range. */
const char *ctl_metric_name(enum ctl_metric m);
/* The metric of a name (exact, lower case), or -1. */
int ctl_metric_from_name(const char *name);
/* The target values TI-ONE allows for a metric. */
void ctl_metric_range(enum ctl_metric m, long long *min, long long *max);

#define CTL_HPA_TOLERANCE 0.1
#define CTL_HPA_DEFAULT_UP_WINDOW_S 0
#define CTL_HPA_DEFAULT_DOWN_WINDOW_S 300
#define CTL_HPA_MAX_WINDOW_S 3600
/* How long panic lasts after the last moment load exceeded capacity. */
#define CTL_HPA_PANIC_HOLD_S 60
/* Recommendations are remembered up to this count (MaxReplicas is lower). */
#define CTL_HPA_REPLICAS_CAP 256

struct ctl_hpa_target {
    enum ctl_metric metric;
    long long value;
};

struct ctl_hpa_spec {
    int min_replicas, max_replicas; /* 0 <= min <= max <= CTL_HPA_REPLICAS_CAP */
    struct ctl_hpa_target targets[CTL_METRIC_COUNT];
    size_t n_targets;
    int up_window_s, down_window_s; /* stabilization, 0-3600 */
    /* Requests in flight one ready instance takes, for the fast path: the
     * concurrency-util target when there is one, else the service's
     * InstanceReqLimit; 0 turns the fast path off. */
    double panic_capacity;
};

/* One instance that exists (starting or running, not stopping). */
struct ctl_hpa_instance {
    bool ready;
    double value[CTL_METRIC_COUNT]; /* the latest sample, NAN when there is none */
};

struct ctl_hpa_input {
    int current; /* the desired count now */
    const struct ctl_hpa_instance *instances;
    size_t n_instances;
    double inflight; /* requests in flight at the gateway now, held ones included */
    double requests; /* requests the gateway took in the last sample period */
    bool waiting;    /* a request is held for an instance (a service at 0) */
};

/* What is remembered between decisions: when each count was last
 * recommended, and whether load ran past capacity lately. */
struct ctl_hpa_state {
    int64_t seen_ms[CTL_HPA_REPLICAS_CAP + 1];
    int64_t panic_until_ms;
    bool started; /* the first decision counts the current count as recommended */
};

struct ctl_hpa_decision {
    int replicas;     /* the new desired count */
    bool panic;       /* the fast path is on */
    char reason[512]; /* why, with the values that caused it, for the event */
};

void ctl_hpa_state_init(struct ctl_hpa_state *st);
/* Decide at 'now_ms' (any monotonic clock in milliseconds, the same for
 * every call on 'st'). */
void ctl_hpa_decide(const struct ctl_hpa_spec *spec, struct ctl_hpa_state *st,
                    const struct ctl_hpa_input *in, int64_t now_ms, struct ctl_hpa_decision *out);

#endif
