/* kube_driver.h - the kubernetes driver as berthd runs it. The reconciler
 * says on its loop which versions it wants on the cluster and how
 * (drv_kube_want), and which it no longer wants (drv_kube_forget); one
 * thread brings the cluster in line (kubernetes.h), retrying with backoff
 * what can succeed later, and keeping what cannot as the version's reason.
 * Watch threads, one per namespace and kind, keep what the server says of
 * berthd's Deployments, Pods and EndpointSlices (a list, then a watch from
 * its resourceVersion, a new list when that expires), and pass on the
 * Kubernetes events of berthd's objects. Status and endpoints are read
 * from those caches, from any thread; 'wake' says something changed. */
#ifndef BERTH_DRIVERS_KUBE_DRIVER_H
#define BERTH_DRIVERS_KUBE_DRIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "drivers/kubeapi.h"
#include "drivers/kubernetes.h"

struct drv_kube;

/* Where a region's versions go: region NULL names the namespace of the
 * regions not listed. */
struct drv_kube_namespace {
    const char *region;
    const char *name;
};

/* A Kubernetes event of one of berthd's objects. 'count' is how many times
 * it happened since it was last passed on (at least 1). */
struct drv_kube_event {
    const char *region, *service_id;
    const char *kind, *name; /* the involved object: Pod, Deployment, ... */
    const char *type;        /* Normal, Warning */
    const char *reason, *message;
    int count;
};

struct drv_kube_cfg {
    const char *owner; /* the berth.io/owner label of this berthd's objects */
    const struct drv_kube_namespace *namespaces;
    size_t nnamespaces;
    const char *runtime_image; /* for model services */
    const char *model_url;     /* berthd as the pods reach it, or NULL */
    const char *model_ca;      /* PEM the pods verify an https model_url by, or NULL */
    const char *model_pvc;     /* or the claim that holds berthd's models/ */
    bool host_network;         /* pods on the node's network (kube_version) */
    void (*wake)(void *arg);   /* any thread */
    void *wake_arg;
    /* On a watch thread; the callee records it. */
    void (*event)(void *arg, const struct drv_kube_event *ev);
    void *event_arg;
};

/* Connect (the server must answer: the HPA and EndpointSlice versions it
 * serves are read now). 'conn' is taken over, also on failure. */
int drv_kube_new(const struct drv_kube_cfg *cfg, struct kube_conn *conn, struct drv_kube **out,
                 struct err *err);
/* Start the threads (once 'wake' may be called). */
int drv_kube_start(struct drv_kube *d, struct err *err);
/* End the threads (within a second or two) and free; the cluster's objects
 * stay as they are. NULL does nothing. */
void drv_kube_free(struct drv_kube *d);
/* The namespace of a region's versions. */
const char *drv_kube_namespace_of(const struct drv_kube *d, const char *region);

struct drv_kube_want {
    const char *service_id, *group_id, *region;
    const char *run_spec; /* JSON (kube_objects.h) */
    const char *spec_hash;
    int replicas;
    uint32_t cpu_millicores, memory_mib;
    const char *models_config; /* berth-serve's, for model services */
    const char *model_subpath; /* the version's files in the claim */
    const char *token;         /* the model-files credential, or NULL */
};

/* The version as it should be on the cluster; applied soon when it changed.
 * Loop thread (any thread, in fact). */
void drv_kube_want(struct drv_kube *d, const struct drv_kube_want *w);
/* Remove the version's objects (in the background). */
void drv_kube_forget(struct drv_kube *d, const char *service_id);
/* Every version wanted has been said: berthd's objects of versions not
 * wanted (left by a previous run) may be removed from now on. */
void drv_kube_settled(struct drv_kube *d);

struct drv_kube_status {
    bool applied;     /* its objects were made at least once */
    bool failed;      /* the last apply failed: 'reason' says why */
    bool retrying;    /* ... and is tried again */
    bool refused;     /* ... as forbidden or invalid: it cannot be made as it is */
    bool hpa_owns;    /* the cluster's autoscaler sets its replicas */
    char reason[512]; /* the apply's or a watch's failure */
    struct kube_observed obs;
};

/* What the cluster says of a wanted version; obs.pods is heap: free(). */
void drv_kube_status(struct drv_kube *d, const char *service_id, struct drv_kube_status *out);

struct drv_kube_endpoint {
    char host[46];
    int port;
};
/* The ready endpoints of the version's Service, as its EndpointSlices say:
 * a heap array (free()) of *n. */
struct drv_kube_endpoint *drv_kube_endpoints(struct drv_kube *d, const char *service_id, size_t *n);

#endif
