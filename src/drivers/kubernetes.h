/* kubernetes.h - the kubernetes driver's work on one service version: bring
 * its objects (kube_objects.h) in line with the spec on the API server, write
 * its replica count through /scale, remove it, and read what the server says
 * of its Deployment and Pods as a status TI-ONE's users know. Every object is
 * checked for berthd's owner label before it is changed, so objects of the
 * same name that are not this berthd's are reported, never touched. Blocking
 * (kubeapi.h): the driver's threads call these, never the main loop. */
#ifndef BERTH_DRIVERS_KUBERNETES_H
#define BERTH_DRIVERS_KUBERNETES_H

#include <jansson.h>
#include <stdbool.h>

#include "base/err.h"
#include "drivers/kube_objects.h"
#include "drivers/kubeapi.h"

/* What the last call met, for the status's reason and for the retry. */
struct kube_result {
    enum kube_outcome outcome; /* KUBE_OK when everything was done */
    bool retry;                /* worth trying again (unreachable, conflict) */
};

/* The first of 'apis' (group/version, newest first) the server serves; NULL
 * with 'err' when it serves none of them ('what' names them) or fails. */
const char *kube_served_api(const struct kube_conn *c, const char *const *apis, size_t n,
                            const char *what, struct err *err);
/* The HorizontalPodAutoscaler version the server serves: "autoscaling/v2",
 * else "autoscaling/v2beta2"; NULL with 'err' when it answers neither. */
const char *kube_hpa_api(const struct kube_conn *c, struct err *err);

/* Create or update the version's Secret, Service, Deployment and HPA. The
 * Deployment's template is replaced only when its spec-hash annotation
 * differs (a rolling update by the Deployment's strategy); its replica
 * count is v->replicas unless an HPA owns it. 'token': the model-files
 * credential, NULL for none. */
int kube_version_apply(const struct kube_conn *c, const struct kube_version *v, const json_t *spec,
                       const char *token, const char *hpa_api, struct kube_result *res,
                       struct err *err);
/* Write the Deployment's replicas through its /scale subresource (apply made it
 * and checked its owner). */
int kube_version_scale(const struct kube_conn *c, const char *namespace, const char *service_id,
                       int replicas, struct kube_result *res, struct err *err);
/* Delete the version's objects that are this berthd's; absent ones are fine. */
int kube_version_delete(const struct kube_conn *c, const char *namespace, const char *service_id,
                        const char *owner, const char *hpa_api, struct kube_result *res,
                        struct err *err);

/* One pod as DescribeModelService's PodInfos show it. */
struct kube_pod {
    char name[96];
    char phase[16]; /* Pending, Running, Succeeded, Failed, Terminating */
    bool ready;
    int restarts;
    char ip[46];
    char start_time[32];
    char reason[256]; /* a waiting or terminated container's reason and message */
};

struct kube_observed {
    char status[24]; /* Normal, Waiting, Pending, Abnormal, Stopping, Stopped */
    char reason[512];
    int desired, replicas, ready, updated;
    struct kube_pod *pods; /* heap; free() */
    size_t npods;
};

/* The status of a version from its Deployment (NULL: none yet) and the pods
 * of its selector (a JSON array), as the Deployment controller and the
 * kubelet wrote them. Pure. */
void kube_observe(const json_t *deployment, const json_t *pods, int desired,
                  struct kube_observed *out);

#endif
