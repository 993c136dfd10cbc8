/* autoscaler.c - the HPA decision. The per-metric rule follows Kubernetes'
 * replica calculator as its documentation describes it: instances that are
 * not ready and instances without a sample are set aside, the ratio is taken
 * over the rest, and then recomputed conservatively (a missing sample counts
 * as the target on a scale-down and as 0 on a scale-up, an unready instance
 * as 0 on a scale-up); if that reverses the direction or falls within the
 * tolerance, nothing changes. */
#include "control/autoscaler.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;
    long long min, max;
    const char *unit;
} metrics[CTL_METRIC_COUNT] = {
    [CTL_METRIC_CPU_UTIL] = {"cpu-util", 10, 100, "%"},
    [CTL_METRIC_MEMORY_UTIL] = {"memory-util", 10, 100, "%"},
    [CTL_METRIC_SERVICE_QPS] = {"service-qps", 1, 5000, " req/s"},
    [CTL_METRIC_CONCURRENCY_UTIL] = {"concurrency-util", 1, 100000, " in flight"},
    [CTL_METRIC_GPU_UTIL] = {"gpu-util", 10, 100, "%"},
};

const char *ctl_metric_name(enum ctl_metric m)
{
    return (unsigned)m < CTL_METRIC_COUNT ? metrics[m].name : NULL;
}

int ctl_metric_from_name(const char *name)
{
    for (int m = 0; name && m < CTL_METRIC_COUNT; m++)
        if (strcmp(name, metrics[m].name) == 0)
            return m;
    return -1;
}

void ctl_metric_range(enum ctl_metric m, long long *min, long long *max)
{
    *min = metrics[m].min;
    *max = metrics[m].max;
}

void ctl_hpa_state_init(struct ctl_hpa_state *st)
{
    for (size_t i = 0; i <= CTL_HPA_REPLICAS_CAP; i++)
        st->seen_ms[i] = INT64_MIN;
    st->panic_until_ms = INT64_MIN;
    st->started = false;
}

__attribute__((format(printf, 2, 3))) static void say(struct ctl_hpa_decision *d, const char *fmt,
                                                      ...)
{
    size_t n = strlen(d->reason);
    if (n + 1 >= sizeof(d->reason))
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->reason + n, sizeof(d->reason) - n, fmt, ap);
    va_end(ap);
}

static int clamp(long long v, long long lo, long long hi)
{
    return (int)(v < lo ? lo : v > hi ? hi : v);
}

/* Kubernetes' rule for one metric: the count it proposes, or -1 when no
 * instance has a sample. */
static int metric_replicas(const struct ctl_hpa_target *tg, const struct ctl_hpa_input *in,
                           struct ctl_hpa_decision *d)
{
    const char *name = metrics[tg->metric].name, *unit = metrics[tg->metric].unit;
    double target = (double)tg->value, sum = 0;
    size_t n = 0, missing = 0, unready = 0;
    for (size_t i = 0; i < in->n_instances; i++) {
        const struct ctl_hpa_instance *x = &in->instances[i];
        double v = x->value[tg->metric];
        if (!x->ready)
            unready++;
        else if (isnan(v))
            missing++;
        else {
            sum += v;
            n++;
        }
    }
    if (n == 0) {
        say(d, "%s: no sample from a ready instance; ", name);
        return -1;
    }
    double ratio = sum / (double)n / target;
    say(d, "%s %.4g%s (average of %zu ready, target %lld)", name, sum / (double)n, unit, n,
        tg->value);
    bool up_with_unready = unready > 0 && ratio > 1.0;
    int proposal;
    if (!up_with_unready && missing == 0) {
        proposal = fabs(1.0 - ratio) <= CTL_HPA_TOLERANCE
                       ? in->current
                       : clamp((long long)ceil(ratio * (double)n), 0, CTL_HPA_REPLICAS_CAP);
    } else {
        double sum2 = sum;
        size_t n2 = n;
        if (missing > 0 && ratio < 1.0) { /* scale-down: a missing sample counts as the target */
            double fallback = target;
            if (tg->metric == CTL_METRIC_CPU_UTIL || tg->metric == CTL_METRIC_MEMORY_UTIL ||
                tg->metric == CTL_METRIC_GPU_UTIL)
                fallback = target > 100 ? target : 100; /* Kubernetes: 100 % of the request */
            sum2 += fallback * (double)missing;
            n2 += missing;
        } else if (missing > 0 && ratio > 1.0) {
            n2 += missing; /* scale-up: as 0 */
        }
        if (up_with_unready)
            n2 += unready; /* as 0 */
        double ratio2 = sum2 / (double)n2 / target;
        say(d, ", %.4g%s with %zu unready and %zu without a sample", ratio2 * target, unit, unready,
            missing);
        long long p = (long long)ceil(ratio2 * (double)n2);
        if (fabs(1.0 - ratio2) <= CTL_HPA_TOLERANCE || (ratio < 1.0 && ratio2 > 1.0) ||
            (ratio > 1.0 && ratio2 < 1.0) || (ratio2 < 1.0 && p > in->current) ||
            (ratio2 > 1.0 && p < in->current))
            proposal = in->current;
        else
            proposal = clamp(p, 0, CTL_HPA_REPLICAS_CAP);
    }
    if (proposal == in->current && fabs(1.0 - ratio) <= CTL_HPA_TOLERANCE)
        say(d, " -> %d (within 10%%); ", proposal);
    else
        say(d, " -> %d; ", proposal);
    return proposal;
}

static int ready_count(const struct ctl_hpa_input *in)
{
    int r = 0;
    for (size_t i = 0; i < in->n_instances; i++)
        r += in->instances[i].ready;
    return r;
}

/* The proposal before stabilization: the maximum over the metrics, or the
 * current count when a metric has no sample and the others would scale down
 * (Kubernetes does not scale down on partial information). */
static int recommend(const struct ctl_hpa_spec *spec, const struct ctl_hpa_input *in,
                     struct ctl_hpa_decision *d)
{
    int best = -1, invalid = 0;
    for (size_t i = 0; i < spec->n_targets; i++) {
        int p = metric_replicas(&spec->targets[i], in, d);
        if (p < 0)
            invalid++;
        else if (p > best)
            best = p;
    }
    if (best < 0) {
        say(d, "no metric to decide on: keep %d; ", in->current);
        return in->current;
    }
    if (invalid > 0 && best < in->current) {
        say(d, "a metric has no sample: no scale-down, keep %d; ", in->current);
        return in->current;
    }
    return best;
}

void ctl_hpa_decide(const struct ctl_hpa_spec *spec, struct ctl_hpa_state *st,
                    const struct ctl_hpa_input *in, int64_t now_ms, struct ctl_hpa_decision *out)
{
    memset(out, 0, sizeof(*out));
    int current = clamp(in->current, 0, CTL_HPA_REPLICAS_CAP);
    bool idle = in->requests <= 0 && in->inflight <= 0 && !in->waiting;
    int ready = ready_count(in);
    int raw;
    if (!st->started) { /* as Kubernetes: the scale-down window starts with the HPA */
        st->seen_ms[current] = now_ms;
        st->started = true;
    }

    /* Scale from zero: nothing runs to measure, so the first request decides. */
    if (current == 0) {
        if (!idle) {
            int wake = spec->min_replicas > 1 ? spec->min_replicas : 1;
            if (spec->panic_capacity > 0) { /* a burst at zero: enough for all of it */
                int need = clamp((long long)ceil(in->inflight / spec->panic_capacity), 0,
                                 CTL_HPA_REPLICAS_CAP);
                if (need > wake)
                    wake = need;
                st->panic_until_ms = now_ms + CTL_HPA_PANIC_HOLD_S * 1000LL;
            }
            say(out, "%.0f request(s) waiting at 0 instances: wake %d at once", in->inflight, wake);
            out->replicas = clamp(wake, 0, spec->max_replicas);
            st->seen_ms[out->replicas] = now_ms;
            return;
        }
        raw = spec->min_replicas;
        say(out, "no requests at 0 instances; ");
    } else {
        raw = recommend(spec, in, out);
        if (spec->min_replicas == 0 && idle) {
            say(out, "no request in the period: 0 (MinReplicas 0); ");
            raw = 0;
        } else if (raw == 0 && !idle) {
            raw = 1; /* a service with traffic keeps an instance */
        }
    }

    /* The fast path: more in flight than the ready instances take. */
    int panic_want = 0;
    if (spec->panic_capacity > 0 && current > 0 &&
        in->inflight > (double)ready * spec->panic_capacity) {
        panic_want =
            clamp((long long)ceil(in->inflight / spec->panic_capacity), 0, CTL_HPA_REPLICAS_CAP);
        st->panic_until_ms = now_ms + CTL_HPA_PANIC_HOLD_S * 1000LL;
        say(out, "panic: %.0f in flight > %d ready x %.4g: %d at once; ", in->inflight, ready,
            spec->panic_capacity, panic_want);
    }
    out->panic = now_ms < st->panic_until_ms;

    /* Stabilization (HPA v2 behaviour): up to the lowest recommendation of
     * the up window, down to the highest of the down window, each window
     * including this one. */
    raw = clamp(raw, 0, CTL_HPA_REPLICAS_CAP);
    int64_t up_cut = now_ms - (int64_t)spec->up_window_s * 1000;
    int64_t down_cut = now_ms - (int64_t)spec->down_window_s * 1000;
    int up = raw, down = raw;
    for (int v = 0; v <= CTL_HPA_REPLICAS_CAP; v++) {
        if (st->seen_ms[v] == INT64_MIN)
            continue;
        if (st->seen_ms[v] > up_cut && v < up)
            up = v;
        if (st->seen_ms[v] > down_cut && v > down)
            down = v;
    }
    st->seen_ms[raw] = now_ms;
    int stable = current;
    if (stable < up)
        stable = up;
    if (stable > down)
        stable = down;
    if (raw > current && stable < raw)
        say(out, "up to %d only: lowest in the %d s scale-up window; ", stable, spec->up_window_s);
    if (raw < current && stable > raw)
        say(out, "down to %d only: highest in the %d s scale-down window; ", stable,
            spec->down_window_s);

    if (out->panic) {
        if (panic_want > stable)
            stable = panic_want;
        if (stable < current) {
            say(out, "no scale-down while in panic; ");
            stable = current;
        }
    }

    int final = clamp(stable, spec->min_replicas, spec->max_replicas);
    if (final != stable)
        say(out, "held to %s %d; ", final < stable ? "MaxReplicas" : "MinReplicas", final);
    out->replicas = final;
    say(out, "%d -> %d", current, final);
}
