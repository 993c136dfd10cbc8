/* kube_objects.h - the Kubernetes objects of one service version, built from
 * its run spec (the reconciler's normalized spec: Kind, Image, Command,
 * ServicePort, Env, Runtime, Probe, StartupProbe, LivenessProbe, GraceMs,
 * PreStopCommand, HorizontalPodAutoscaler) for the kubernetes driver to apply.
 * Every object is named kube_object_name(ServiceId) in the version's
 * namespace and labelled with the region, group, version and the owning
 * berthd, so a berthd adopts only its own objects; the Deployment's
 * annotation KUBE_SPEC_HASH says which spec its template was made from.
 * Pure: no I/O, any thread. */
#ifndef BERTH_DRIVERS_KUBE_OBJECTS_H
#define BERTH_DRIVERS_KUBE_OBJECTS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"

#define KUBE_LABEL_MANAGED "app.kubernetes.io/managed-by"
#define KUBE_LABEL_OWNER "berth.io/owner"
#define KUBE_LABEL_SERVICE "berth.io/service"
#define KUBE_LABEL_GROUP "berth.io/service-group"
#define KUBE_LABEL_REGION "berth.io/region"
#define KUBE_SPEC_HASH "berth.io/spec-hash"
#define KUBE_NAME_MAX 64 /* "berth-" + a ServiceId; a DNS-1123 label is 63 */
#define KUBE_MODEL_DIR "/data/model"
#define KUBE_RUNTIME_PORT 8501

/* What the driver knows of a version beyond its spec. */
struct kube_version {
    const char *service_id, *group_id, *region;
    const char *namespace;
    const char *owner;     /* this berthd's berth.owner value */
    const char *spec_hash; /* of the run spec */
    int replicas;
    uint32_t cpu_millicores, memory_mib; /* requests = limits; 0: none */
    const char *runtime_image;           /* for Runtime (model) services */
    const char *models_config;           /* berth-serve's model config for them */
    /* Where a model service's files come from: berthd's model-files URL
     * (fetched by an init container with the token of Secret
     * kube_object_name()-model), or a PersistentVolumeClaim holding berthd's
     * models, mounted read-only at model_subpath. */
    const char *model_url;
    const char *model_ca; /* PEM the fetch verifies an https model_url by; NULL: the image's */
    const char *model_pvc, *model_subpath;
    /* Pods on the node's network (hostNetwork), for a cluster without a pod
     * network; the runtime binds the node's IP (status.hostIP). */
    bool host_network;
};

/* "berth-<service_id>"; ERR_INVALID when that is not a DNS-1123 label. */
int kube_object_name(const char *service_id, char out[KUBE_NAME_MAX], struct err *err);
/* The apps/v1 Deployment; NULL with 'err' set when the spec cannot run on a
 * cluster (a command service without an image, a model without a source). */
json_t *kube_deployment(const struct kube_version *v, const json_t *spec, struct err *err);
/* The v1 Service in front of the Deployment's pods, on their port. */
json_t *kube_service(const struct kube_version *v, const json_t *spec, struct err *err);
/* The v1 Secret of a Runtime service: the model-files token (key "token";
 * NULL: none, the files come from the claim) and berth-serve's model config
 * (key "models.config", mounted at /etc/berth). */
json_t *kube_model_secret(const struct kube_version *v, const char *token, struct err *err);
/* The HorizontalPodAutoscaler at 'api_version' ("autoscaling/v2" or
 * "autoscaling/v2beta2") for a spec whose HPA scales on CPU or memory only;
 * NULL (err untouched) when the spec has no such HPA, NULL with 'err' set
 * when it mixes them with metrics only Berth measures (QPS, concurrency). */
json_t *kube_hpa(const struct kube_version *v, const json_t *spec, const char *api_version,
                 struct err *err);
/* The string at 'key' of an object, "" when it is absent or not a string. */
const char *kube_str(const json_t *o, const char *key);
/* The container port of a spec: ServicePort, else KUBE_RUNTIME_PORT. */
int kube_container_port(const json_t *spec);

#endif
