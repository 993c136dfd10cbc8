/* reconciler.h - brings running instances in line with the desired state in
 * the store, and reports what runs. It alone starts and stops instances (with
 * the process driver): the API only writes desired state and kicks it. Runs on
 * the main loop; kick and status may be called from any thread. */
#ifndef BERTH_CONTROL_RECONCILER_H
#define BERTH_CONTROL_RECONCILER_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "base/err.h"
#include "drivers/engine.h"
#include "drivers/kube_driver.h"
#include "drivers/process.h"
#include "gateway/routes.h"
#include "store/store.h"

struct ctl_reconciler;
struct logs_deliver;
struct logs_capture;
struct drv_volumes;

struct ctl_pod {
    char name[96];  /* <service-id>-<index> */
    char phase[16]; /* Pending, Running, Failed, Terminating */
    bool ready;
    int restarts;
    char address[64];    /* 127.0.0.1:port, a pod's IP:port */
    char start_time[32]; /* RFC 3339 */
    /* Usage, sampled every CTL_USAGE_EVERY_MS while it runs (usage_known). */
    bool usage_known;
    double cpu_seconds;    /* so far */
    double cpu_cores;      /* over the last sampling period */
    uint64_t memory_bytes; /* resident */
};

#define CTL_USAGE_EVERY_MS 2000

struct ctl_status {
    char status[24]; /* CREATING, Pending, Waiting, Normal, Abnormal, Stopping, Stopped,
                        CREATE_FAILED */
    char reason[512];
    int replicas; /* processes alive */
    int updated;  /* ... of them running the version's spec as the reconciler last read it */
    int ready;
    struct ctl_pod *pods; /* heap; free() */
    size_t npods;
    char group_id[64];
    int desired;         /* replicas asked for */
    uint64_t restarts;   /* of all its instances since berthd started */
    bool cluster_scaled; /* a cluster's HorizontalPodAutoscaler sets its replicas */
};

/* One service's status, as ctl_reconciler_statuses() lists them. */
struct ctl_service_status {
    char id[64];
    struct ctl_status st;
};

struct drv_cgroup_host;

struct ctl_config {
    const char *data_dir;        /* the store's directory, with the model files in models/ */
    const char *instance_dir;    /* the instances' work directories, not inside data_dir */
    const char *berth_serve;     /* the model server binary */
    const struct drv_user *user; /* whom instances run as */
    const uint8_t *seal_key;     /* opens the groups' AppSecrets for the gateway */
    double group_qps_cap;        /* each group's total requests per second; 0: none */
    struct logs_capture *logs;   /* instances' output goes here; NULL: to output.log */
    /* Told each service's LogEnable and LogConfig; NULL: no log sinks. */
    struct logs_deliver *deliver;
    /* Where instances' CPU and memory limits go; NULL: none, no instance starts. */
    const struct drv_cgroup_host *cgroups;
    /* The file systems services mount (drivers/mounts.h); NULL: none. */
    const struct drv_volumes *volumes;
    /* The container driver (drivers/container.h): the engine's unix socket,
     * NULL for none, and the registries' credentials. */
    const char *engine_socket;
    const struct drv_registry_auth *registry_auths;
    size_t nregistry_auths;
    /* The kubernetes driver (drivers/kube_driver.h): what runs an image runs
     * on this cluster, in the regions' namespaces; NULL: none. The
     * connection is taken over, also when the start fails. */
    struct kube_conn *kube_conn;
    const struct drv_kube_namespace *kube_namespaces;
    size_t nkube_namespaces;
    const char *kube_runtime_image; /* for model services */
    const char *kube_model_url;     /* berthd's API as the pods reach it */
    const char *kube_model_ca;      /* PEM they verify it by (https), or NULL */
    const char *kube_model_pvc;     /* or the claim holding the data directory's models/ */
    bool kube_host_network;         /* pods on the node's network (--kube-pod-network host) */
};

/* Check that the instance user can reach its directories and the model
 * files, adopt the instances a previous berthd left running that are still
 * wanted (ending the rest), then start reconciling.
 * The reconciler publishes the gateway's routes (versions, weights, ready
 * instances) into 'routes'. */
int ctl_reconciler_start(uv_loop_t *loop, struct store *st, const struct ctl_config *cfg,
                         struct gw_table *routes, struct ctl_reconciler **out, struct err *err);
/* Reconcile soon (after the API changed desired state). Any thread. */
void ctl_reconciler_kick(struct ctl_reconciler *r);
/* Reconcile now and wait (2 s at most) until the gateway's routes reflect
 * the store as it is: for changes the next request must see (credentials).
 * Any thread but the reconciler's loop. */
void ctl_reconciler_sync(struct ctl_reconciler *r);
/* What one service runs now; status CREATING if the reconciler has not seen it. */
void ctl_reconciler_status(struct ctl_reconciler *r, const char *service_id,
                           struct ctl_status *out);
/* Every service's status (for metrics and service discovery): a heap array
 * to free with ctl_statuses_free(). Any thread. */
void ctl_reconciler_statuses(struct ctl_reconciler *r, struct ctl_service_status **out, size_t *n);
void ctl_statuses_free(struct ctl_service_status *list, size_t n);
/* Milliseconds since the last reconciling pass began (readiness). Any thread. */
uint64_t ctl_reconciler_idle_ms(struct ctl_reconciler *r);
/* Stop every instance (SIGTERM, then SIGKILL after its grace period, at most
 * 5 s), then call done(arg)
 * on the loop; the reconciler is freed before done runs. */
void ctl_reconciler_stop(struct ctl_reconciler *r, void (*done)(void *), void *arg);
/* Stop reconciling and leave every instance running, recorded in the store
 * for the next berthd to adopt (ctl_reconciler_start does), then call
 * done(arg) on the loop as ctl_reconciler_stop() does. */
void ctl_reconciler_detach(struct ctl_reconciler *r, void (*done)(void *), void *arg);

#endif
