/* test_hpa.c - the autoscaler loop's pure parts: which specs a request
 * wakes, the fast path's capacity, utilisation of the spec. */
#include "harness.h"

#include "control/hpa.h"

#include <jansson.h>

static json_t *spec(const char *text)
{
    json_t *s = json_loads(text, 0, NULL);
    if (!s)
        abort();
    return s;
}

TEST(wakes_from_zero_only_hpa_with_min_0)
{
    json_t *a = spec("{\"ScaleStrategy\":\"HPA\",\"HorizontalPodAutoscaler\":{\"MinReplicas\":0}}");
    json_t *b = spec("{\"ScaleStrategy\":\"HPA\",\"HorizontalPodAutoscaler\":{\"MinReplicas\":1}}");
    json_t *c =
        spec("{\"ScaleStrategy\":\"CRON\",\"HorizontalPodAutoscaler\":{\"MinReplicas\":0}}");
    json_t *d = spec("{\"ScaleMode\":\"MANUAL\"}");
    CHECK(ctl_hpa_wakes_from_zero(a));
    CHECK(!ctl_hpa_wakes_from_zero(b));
    CHECK(!ctl_hpa_wakes_from_zero(c));
    CHECK(!ctl_hpa_wakes_from_zero(d));
    json_decref(a);
    json_decref(b);
    json_decref(c);
    json_decref(d);
}

TEST(panic_capacity_from_concurrency_or_service_limit)
{
    struct ctl_hpa_spec h = {.n_targets = 2};
    h.targets[0] = (struct ctl_hpa_target){CTL_METRIC_CPU_UTIL, 60};
    h.targets[1] = (struct ctl_hpa_target){CTL_METRIC_CONCURRENCY_UTIL, 8};
    json_t *lim =
        spec("{\"ServiceLimit\":{\"EnableInstanceReqLimit\":true,\"InstanceReqLimit\":3}}");
    json_t *off =
        spec("{\"ServiceLimit\":{\"EnableInstanceReqLimit\":false,\"InstanceReqLimit\":3}}");
    CHECK(ctl_hpa_panic_capacity(&h, lim) == 8);
    h.n_targets = 1;
    CHECK(ctl_hpa_panic_capacity(&h, lim) == 3);
    CHECK(ctl_hpa_panic_capacity(&h, off) == 0);
    json_decref(lim);
    json_decref(off);
}

TEST(utilisation_of_the_spec)
{
    CHECK(fabs(ctl_hpa_util(1.0, 2.0) - 50.0) < 1e-9);
    CHECK(fabs(ctl_hpa_util(3.0 * 1024 * 1024 * 1024, 4.0 * 1024 * 1024 * 1024) - 75.0) < 1e-9);
    CHECK(isnan(ctl_hpa_util(1.0, 0))); /* no spec: no sample */
}
