/* test_kube_status.c - a version's status from its Deployment and Pods as
 * the controller and the kubelet write them: Pending before any pod,
 * Waiting while pods start, Normal once enough are ready, Abnormal with the
 * reason of a container that cannot start or the controller's failure,
 * Stopping and Stopped at zero; PodInfos with phase, readiness, restarts
 * and address. */
#include "drivers/kubernetes.h"
#include "harness.h"

#include <stdlib.h>
#include <string.h>

static json_t *pod(const char *name, const char *phase, bool ready, const char *ip)
{
    return json_pack("{s:{s:s}, s:{s:s, s:s, s:s, s:[{s:s, s:s}], s:[{s:s, s:i}]}}", "metadata",
                     "name", name, "status", "phase", phase, "podIP", ip, "startTime",
                     "2026-12-03T07:00:00Z", "conditions", "type", "Ready", "status",
                     ready ? "True" : "False", "containerStatuses", "name", "serve", "restartCount",
                     2);
}

static json_t *deployment(int ready)
{
    return json_pack("{s:{s:i, s:i}}", "status", "readyReplicas", ready, "updatedReplicas", 2);
}

TEST(pending_waiting_normal)
{
    struct kube_observed o;
    json_t *pods = json_array();
    kube_observe(NULL, pods, 2, &o);
    CHECK_STR_EQ(o.status, "Pending");
    free(o.pods);
    json_t *d = deployment(0);
    json_array_append_new(pods, pod("berth-ms-a-1-x", "Running", true, "10.1.0.5"));
    json_array_append_new(pods, pod("berth-ms-a-1-y", "Pending", false, ""));
    kube_observe(d, pods, 2, &o);
    CHECK_STR_EQ(o.status, "Waiting");
    CHECK_EQ_INT(o.replicas, 2);
    CHECK_EQ_INT(o.ready, 1);
    CHECK_EQ_INT((int)o.npods, 2);
    CHECK_STR_EQ(o.pods[0].name, "berth-ms-a-1-x");
    CHECK_STR_EQ(o.pods[0].phase, "Running");
    CHECK_STR_EQ(o.pods[0].ip, "10.1.0.5");
    CHECK_EQ_INT(o.pods[0].restarts, 2);
    CHECK(o.pods[0].ready && !o.pods[1].ready);
    free(o.pods);
    json_array_set_new(pods, 1, pod("berth-ms-a-1-y", "Running", true, "10.1.0.6"));
    kube_observe(d, pods, 2, &o);
    CHECK_STR_EQ(o.status, "Normal");
    CHECK_EQ_INT(o.updated, 2);
    free(o.pods);
    json_decref(pods);
    json_decref(d);
}

TEST(abnormal)
{
    struct kube_observed o;
    json_t *d = deployment(0);
    json_t *p = pod("berth-ms-a-1-x", "Pending", false, "");
    json_t *cs =
        json_array_get(json_object_get(json_object_get(p, "status"), "containerStatuses"), 0);
    json_object_set_new(cs, "state",
                        json_pack("{s:{s:s, s:s}}", "waiting", "reason", "ImagePullBackOff",
                                  "message", "Back-off pulling image \"nope:1\""));
    json_t *pods = json_pack("[o]", p);
    kube_observe(d, pods, 1, &o);
    CHECK_STR_EQ(o.status, "Abnormal");
    CHECK(strstr(o.reason, "ImagePullBackOff") != NULL);
    CHECK(strstr(o.reason, "berth-ms-a-1-x") != NULL);
    free(o.pods);
    /* Starting is not trouble. */
    json_object_set_new(cs, "state",
                        json_pack("{s:{s:s}}", "waiting", "reason", "ContainerCreating"));
    kube_observe(d, pods, 1, &o);
    CHECK_STR_EQ(o.status, "Waiting");
    free(o.pods);
    /* A crash before it runs again. */
    json_object_set_new(cs, "state", json_pack("{s:{}}", "waiting"));
    json_object_set_new(
        cs, "lastState",
        json_pack("{s:{s:i, s:s}}", "terminated", "exitCode", 137, "reason", "OOMKilled"));
    kube_observe(d, pods, 1, &o);
    CHECK_STR_EQ(o.status, "Abnormal");
    CHECK(strstr(o.reason, "OOMKilled (exit 137)") != NULL);
    free(o.pods);
    json_decref(pods);
    /* The controller cannot make pods at all. */
    json_object_set_new(json_object_get(d, "status"), "conditions",
                        json_pack("[{s:s, s:s, s:s, s:s}]", "type", "ReplicaFailure", "status",
                                  "True", "reason", "FailedCreate", "message",
                                  "pods \"x\" is forbidden: exceeded quota"));
    pods = json_array();
    kube_observe(d, pods, 1, &o);
    CHECK_STR_EQ(o.status, "Abnormal");
    CHECK(strstr(o.reason, "FailedCreate: pods \"x\" is forbidden") != NULL);
    free(o.pods);
    json_decref(pods);
    json_decref(d);
}

TEST(stopping_stopped)
{
    struct kube_observed o;
    json_t *d = deployment(0);
    json_t *p = pod("berth-ms-a-1-x", "Running", true, "10.1.0.5");
    json_object_set_new(json_object_get(p, "metadata"), "deletionTimestamp",
                        json_string("2026-12-03T07:01:00Z"));
    json_t *pods = json_pack("[o]", p);
    kube_observe(d, pods, 0, &o);
    CHECK_STR_EQ(o.status, "Stopping");
    CHECK_STR_EQ(o.pods[0].phase, "Terminating");
    CHECK(!o.pods[0].ready);
    free(o.pods);
    json_array_clear(pods);
    kube_observe(d, pods, 0, &o);
    CHECK_STR_EQ(o.status, "Stopped");
    free(o.pods);
    json_decref(pods);
    json_decref(d);
}
