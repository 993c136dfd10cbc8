/* kube_objects.c - the Deployment, Service, Secret and HorizontalPodAutoscaler
 * of a service version (kube_objects.h). The pod template carries everything
 * the process and container drivers give an instance: the image (the runtime
 * image for model services), command, environment with PORT, the port,
 * probes, CPU and memory as requests and limits, the grace period and the
 * PreStop hook; rolling updates surge by one and never drop below the
 * replicas asked for. */
#include "drivers/kube_objects.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

const char *kube_str(const json_t *o, const char *key)
{
    const char *v = json_string_value(json_object_get(o, key));
    return v ? v : "";
}

int kube_object_name(const char *service_id, char out[KUBE_NAME_MAX], struct err *err)
{
    size_t n = strlen(service_id);
    if (n == 0 || n > 63 - 6)
        return err_set(err, ERR_INVALID, "ServiceId '%s' is too long for a Kubernetes name",
                       service_id);
    for (size_t i = 0; i < n; i++) {
        char c = service_id[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
            return err_set(err, ERR_INVALID,
                           "ServiceId '%s' is not a DNS-1123 label (lower-case letters, digits "
                           "and '-')",
                           service_id);
    }
    if (service_id[n - 1] == '-')
        return err_set(err, ERR_INVALID, "ServiceId '%s' must not end with '-'", service_id);
    snprintf(out, KUBE_NAME_MAX, "berth-%s", service_id);
    return 0;
}

int kube_container_port(const json_t *spec)
{
    json_int_t port = json_integer_value(json_object_get(spec, "ServicePort"));
    return port > 0 && port < 65536 ? (int)port : KUBE_RUNTIME_PORT;
}

/* The labels every object carries; the pods' selector is the service and
 * owner pair. */
static json_t *labels_of(const struct kube_version *v)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s}", KUBE_LABEL_MANAGED, "berth", KUBE_LABEL_OWNER,
                     v->owner, KUBE_LABEL_SERVICE, v->service_id, KUBE_LABEL_GROUP, v->group_id,
                     KUBE_LABEL_REGION, v->region);
}

static json_t *selector_of(const struct kube_version *v)
{
    return json_pack("{s:s, s:s}", KUBE_LABEL_SERVICE, v->service_id, KUBE_LABEL_OWNER, v->owner);
}

static json_t *metadata_of(const struct kube_version *v, const char *name)
{
    return json_pack("{s:s, s:s, s:o}", "name", name, "namespace", v->namespace, "labels",
                     labels_of(v));
}

/* Milliseconds as the whole seconds Kubernetes takes, rounded up, at least 'min'. */
static json_int_t seconds_of(json_int_t ms, json_int_t min)
{
    json_int_t s = ms > 0 ? (ms + 999) / 1000 : 0;
    return s < min ? min : s;
}

/* A HealthProbe probe (Type http or tcp, Path, InitialDelayMs, PeriodMs,
 * TimeoutMs, SuccessThreshold, FailureThreshold) as a Kubernetes probe on
 * the port named "http"; a model service with none is ready once
 * berth-serve's model status answers, as the process driver checks it. */
static json_t *probe_of(const json_t *spec, const char *key, bool model)
{
    const json_t *p = json_object_get(spec, key);
    if (!json_is_object(p)) {
        if (strcmp(key, "Probe") != 0)
            return NULL;
        if (model)
            return json_pack("{s:{s:s, s:s}, s:i, s:i, s:i}", "httpGet", "path", "/v1/models/m",
                             "port", "http", "periodSeconds", 1, "timeoutSeconds", 1,
                             "failureThreshold", 3);
        return json_pack("{s:{s:s}, s:i}", "tcpSocket", "port", "http", "periodSeconds", 1);
    }
    json_t *out = json_object();
    if (strcmp(kube_str(p, "Type"), "http") == 0)
        json_object_set_new(out, "httpGet",
                            json_pack("{s:s, s:s}", "path",
                                      *kube_str(p, "Path") ? kube_str(p, "Path") : "/", "port",
                                      "http"));
    else
        json_object_set_new(out, "tcpSocket", json_pack("{s:s}", "port", "http"));
    json_object_set_new(
        out, "initialDelaySeconds",
        json_integer(seconds_of(json_integer_value(json_object_get(p, "InitialDelayMs")), 0)));
    json_object_set_new(
        out, "periodSeconds",
        json_integer(seconds_of(json_integer_value(json_object_get(p, "PeriodMs")), 1)));
    json_object_set_new(
        out, "timeoutSeconds",
        json_integer(seconds_of(json_integer_value(json_object_get(p, "TimeoutMs")), 1)));
    json_int_t ok = json_integer_value(json_object_get(p, "SuccessThreshold"));
    json_int_t bad = json_integer_value(json_object_get(p, "FailureThreshold"));
    /* Kubernetes insists on 1 success for liveness and startup probes. */
    json_object_set_new(out, "successThreshold",
                        json_integer(strcmp(key, "Probe") == 0 && ok > 0 ? ok : 1));
    json_object_set_new(out, "failureThreshold", json_integer(bad > 0 ? bad : 3));
    return out;
}

static json_t *env_of(const json_t *spec, int port)
{
    char text[16];
    snprintf(text, sizeof(text), "%d", port);
    json_t *env = json_pack("[{s:s, s:s}]", "name", "PORT", "value", text);
    size_t i;
    const json_t *e;
    json_array_foreach(json_object_get(spec, "Env"), i, e)
    {
        if (strcmp(kube_str(e, "Name"), "PORT") != 0)
            json_array_append_new(env, json_pack("{s:s, s:s}", "name", kube_str(e, "Name"), "value",
                                                 kube_str(e, "Value")));
    }
    return env;
}

static json_t *resources_of(const struct kube_version *v)
{
    json_t *amounts = json_object();
    char text[32];
    if (v->cpu_millicores) {
        snprintf(text, sizeof(text), "%um", (unsigned)v->cpu_millicores);
        json_object_set_new(amounts, "cpu", json_string(text));
    }
    if (v->memory_mib) {
        snprintf(text, sizeof(text), "%uMi", (unsigned)v->memory_mib);
        json_object_set_new(amounts, "memory", json_string(text));
    }
    /* Requests equal to limits: the Guaranteed class, as a prepaid spec is. */
    return json_pack("{s:O, s:o}", "requests", amounts, "limits", amounts);
}

static json_t *strings_of(const json_t *a)
{
    json_t *out = json_array();
    size_t i;
    const json_t *e;
    json_array_foreach(a, i, e) json_array_append_new(out, json_string(json_string_value(e) ?: ""));
    return out;
}

/* The runtime's containers and volumes: berth-serve on the version's files
 * at /data/model (the image's /srv/base/1 points there) with its model
 * config from the Secret; the files come from berthd through the 'fetch'
 * init container into an emptyDir, or from the operator's claim. */
static int runtime_pod(const struct kube_version *v, const char *name, json_t *serve, json_t *pod,
                       struct err *err)
{
    if (!v->runtime_image || !*v->runtime_image)
        return err_set(err, ERR_INVALID, "no runtime image for the model service on Kubernetes");
    if (!v->model_url && !v->model_pvc)
        return err_set(err, ERR_UNSUPPORTED,
                       "model files cannot reach the cluster: berthd has neither "
                       "--kube-model-url nor --kube-model-pvc");
    char secret[KUBE_NAME_MAX + 8];
    snprintf(secret, sizeof(secret), "%s-model", name);
    json_object_set_new(serve, "image", json_string(v->runtime_image));
    /* On the node's network the node's IP only, not every address it has. */
    json_object_set_new(
        serve, "args",
        json_pack("[s, s, s]",
                  v->host_network ? "--rest_api_host=$(BERTH_NODE_IP)" : "--rest_api_host=0.0.0.0",
                  "--rest_api_port=8501", "--model_config_file=/etc/berth/models.config"));
    if (v->host_network)
        json_array_append_new(json_object_get(serve, "env"),
                              json_pack("{s:s, s:{s:{s:s}}}", "name", "BERTH_NODE_IP", "valueFrom",
                                        "fieldRef", "fieldPath", "status.hostIP"));
    json_t *mounts = json_pack("[{s:s, s:s, s:b}, {s:s, s:s, s:b}]", "name", "model", "mountPath",
                               KUBE_MODEL_DIR, "readOnly", 1, "name", "config", "mountPath",
                               "/etc/berth", "readOnly", 1);
    json_t *volumes =
        json_pack("[{s:s, s:{s:s, s:[{s:s, s:s}]}}]", "name", "config", "secret", "secretName",
                  secret, "items", "key", "models.config", "path", "models.config");
    bool ca = v->model_ca && !v->model_pvc;
    if (ca)
        json_array_append_new(
            json_object_get(json_object_get(json_array_get(volumes, 0), "secret"), "items"),
            json_pack("{s:s, s:s}", "key", "ca.crt", "path", "ca.crt"));
    if (v->model_pvc) {
        json_object_set_new(json_array_get(mounts, 0), "subPath",
                            json_string(v->model_subpath ? v->model_subpath : ""));
        json_array_append_new(volumes, json_pack("{s:s, s:{s:s, s:b}}", "name", "model",
                                                 "persistentVolumeClaim", "claimName", v->model_pvc,
                                                 "readOnly", 1));
    } else {
        char from[1024];
        size_t n = strlen(v->model_url);
        snprintf(from, sizeof(from), "%.*s/model-files/v1/%s/",
                 (int)(n && v->model_url[n - 1] == '/' ? n - 1 : n), v->model_url, v->service_id);
        json_t *fetch = json_pack(
            "{s:s, s:s, s:[s, s, s, s, s], s:[{s:s, s:{s:{s:s, s:s}}}], s:[{s:s, s:s}]}", "name",
            "fetch", "image", v->runtime_image, "args", "fetch", "--from", from, "--into",
            KUBE_MODEL_DIR, "env", "name", "BERTH_MODEL_TOKEN", "valueFrom", "secretKeyRef", "name",
            secret, "key", "token", "volumeMounts", "name", "model", "mountPath", KUBE_MODEL_DIR);
        json_object_set_new(fetch, "resources", resources_of(v));
        if (ca) {
            json_array_append_new(json_object_get(fetch, "args"), json_string("--ca"));
            json_array_append_new(json_object_get(fetch, "args"), json_string("/etc/berth/ca.crt"));
            json_array_append_new(json_object_get(fetch, "volumeMounts"),
                                  json_pack("{s:s, s:s, s:b}", "name", "config", "mountPath",
                                            "/etc/berth", "readOnly", 1));
        }
        json_object_set_new(pod, "initContainers", json_pack("[o]", fetch));
        json_array_append_new(volumes, json_pack("{s:s, s:{}}", "name", "model", "emptyDir"));
    }
    json_object_set_new(serve, "volumeMounts", mounts);
    json_object_set_new(pod, "volumes", volumes);
    return 0;
}

json_t *kube_deployment(const struct kube_version *v, const json_t *spec, struct err *err)
{
    char name[KUBE_NAME_MAX];
    if (kube_object_name(v->service_id, name, err))
        return NULL;
    bool runtime = *kube_str(spec, "Runtime") != '\0';
    int port = kube_container_port(spec);
    json_t *serve = json_pack("{s:s, s:[{s:s, s:i, s:s}], s:o, s:o}", "name", "serve", "ports",
                              "name", "http", "containerPort", port, "protocol", "TCP", "env",
                              env_of(spec, port), "resources", resources_of(v));
    json_t *pod = json_object();
    if (runtime) {
        if (runtime_pod(v, name, serve, pod, err)) {
            json_decref(serve);
            json_decref(pod);
            return NULL;
        }
    } else if (*kube_str(spec, "Image")) {
        json_object_set_new(serve, "image", json_string(kube_str(spec, "Image")));
        if (*kube_str(spec, "Command"))
            json_object_set_new(serve, "command",
                                json_pack("[s, s, s]", "/bin/sh", "-c", kube_str(spec, "Command")));
    } else {
        json_decref(serve);
        json_decref(pod);
        err_set(err, ERR_UNSUPPORTED,
                "a service without an image (ImageInfo) or a model cannot run on Kubernetes");
        return NULL;
    }
    static const char *const probes[][2] = {
        {"Probe", "readinessProbe"},
        {"StartupProbe", "startupProbe"},
        {"LivenessProbe", "livenessProbe"},
    };
    for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
        json_t *p = probe_of(spec, probes[i][0], runtime);
        if (p)
            json_object_set_new(serve, probes[i][1], p);
    }
    const json_t *prestop = json_object_get(spec, "PreStopCommand");
    if (json_is_array(prestop) && json_array_size(prestop) > 0)
        json_object_set_new(
            serve, "lifecycle",
            json_pack("{s:{s:{s:o}}}", "preStop", "exec", "command", strings_of(prestop)));
    json_int_t grace = json_integer_value(json_object_get(spec, "GraceMs"));
    json_object_set_new(pod, "containers", json_pack("[o]", serve));
    json_object_set_new(pod, "terminationGracePeriodSeconds",
                        json_integer(grace > 0 ? seconds_of(grace, 1) : 30));
    json_object_set_new(pod, "enableServiceLinks", json_false());
    if (v->host_network) {
        json_object_set_new(pod, "hostNetwork", json_true());
        json_object_set_new(pod, "dnsPolicy", json_string("ClusterFirstWithHostNet"));
    }
    json_t *meta = metadata_of(v, name);
    json_object_set_new(meta, "annotations", json_pack("{s:s}", KUBE_SPEC_HASH, v->spec_hash));
    return json_pack("{s:s, s:s, s:o, s:{s:i, s:{s:o}, s:{s:s, s:{s:i, s:i}}, s:i, s:{s:{s:o, "
                     "s:{s:s}}, s:o}}}",
                     "apiVersion", "apps/v1", "kind", "Deployment", "metadata", meta, "spec",
                     "replicas", v->replicas, "selector", "matchLabels", selector_of(v), "strategy",
                     "type", "RollingUpdate", "rollingUpdate", "maxSurge", 1, "maxUnavailable", 0,
                     "revisionHistoryLimit", 2, "template", "metadata", "labels", labels_of(v),
                     "annotations", KUBE_SPEC_HASH, v->spec_hash, "spec", pod);
}

json_t *kube_service(const struct kube_version *v, const json_t *spec, struct err *err)
{
    char name[KUBE_NAME_MAX];
    if (kube_object_name(v->service_id, name, err))
        return NULL;
    int port = kube_container_port(spec);
    return json_pack("{s:s, s:s, s:o, s:{s:s, s:o, s:[{s:s, s:i, s:s, s:s}]}}", "apiVersion", "v1",
                     "kind", "Service", "metadata", metadata_of(v, name), "spec", "type",
                     "ClusterIP", "selector", selector_of(v), "ports", "name", "http", "port", port,
                     "targetPort", "http", "protocol", "TCP");
}

json_t *kube_model_secret(const struct kube_version *v, const char *token, struct err *err)
{
    char name[KUBE_NAME_MAX], secret[KUBE_NAME_MAX + 8];
    if (kube_object_name(v->service_id, name, err))
        return NULL;
    snprintf(secret, sizeof(secret), "%s-model", name);
    json_t *data = json_pack("{s:s}", "models.config", v->models_config ? v->models_config : "");
    if (token)
        json_object_set_new(data, "token", json_string(token));
    if (v->model_ca && !v->model_pvc)
        json_object_set_new(data, "ca.crt", json_string(v->model_ca));
    return json_pack("{s:s, s:s, s:o, s:s, s:o}", "apiVersion", "v1", "kind", "Secret", "metadata",
                     metadata_of(v, secret), "type", "Opaque", "stringData", data);
}

json_t *kube_hpa(const struct kube_version *v, const json_t *spec, const char *api_version,
                 struct err *err)
{
    const char *strategy = kube_str(spec, "ScaleStrategy");
    const json_t *h = json_object_get(spec, "HorizontalPodAutoscaler");
    if (strcmp(strategy, "HPA") != 0 || !json_is_object(h))
        return NULL;
    json_t *metrics = json_array();
    size_t i, other = 0;
    const json_t *m;
    json_array_foreach(json_object_get(h, "HpaMetrics"), i, m)
    {
        const char *metric = kube_str(m, "Name");
        const char *resource = !strcmp(metric, "cpu-util")      ? "cpu"
                               : !strcmp(metric, "memory-util") ? "memory"
                                                                : NULL;
        if (!resource) {
            other++;
            continue;
        }
        json_array_append_new(
            metrics,
            json_pack("{s:s, s:{s:s, s:{s:s, s:I}}}", "type", "Resource", "resource", "name",
                      resource, "target", "type", "Utilization", "averageUtilization",
                      (json_int_t)json_number_value(json_object_get(m, "Value"))));
    }
    if (json_array_size(metrics) == 0) {
        json_decref(metrics);
        return NULL; /* Berth's own (QPS, concurrency): it writes /scale */
    }
    if (other) {
        json_decref(metrics);
        err_set(err, ERR_UNSUPPORTED,
                "HorizontalPodAutoscaler.HpaMetrics mixes cpu-util or memory-util, which the "
                "cluster's autoscaler runs, with metrics Berth measures; on Kubernetes use "
                "one kind or the other");
        return NULL;
    }
    json_int_t min = json_integer_value(json_object_get(h, "MinReplicas"));
    json_int_t max = json_integer_value(json_object_get(h, "MaxReplicas"));
    if (min < 1) {
        json_decref(metrics);
        err_set(err, ERR_UNSUPPORTED,
                "HorizontalPodAutoscaler.MinReplicas 0 on cpu-util or memory-util needs Berth's "
                "gateway to wake the version; the cluster's autoscaler scales from 1");
        return NULL;
    }
    char name[KUBE_NAME_MAX];
    if (kube_object_name(v->service_id, name, err)) {
        json_decref(metrics);
        return NULL;
    }
    json_t *up = json_object_get(h, "ScaleUpStabilizationWindowSeconds");
    json_t *down = json_object_get(h, "ScaleDownStabilizationWindowSeconds");
    json_t *behavior = json_pack("{s:{s:I}, s:{s:I}}", "scaleUp", "stabilizationWindowSeconds",
                                 json_is_integer(up) ? json_integer_value(up) : 0, "scaleDown",
                                 "stabilizationWindowSeconds",
                                 json_is_integer(down) ? json_integer_value(down) : 300);
    return json_pack("{s:s, s:s, s:o, s:{s:{s:s, s:s, s:s}, s:I, s:I, s:o, s:o}}", "apiVersion",
                     api_version, "kind", "HorizontalPodAutoscaler", "metadata",
                     metadata_of(v, name), "spec", "scaleTargetRef", "apiVersion", "apps/v1",
                     "kind", "Deployment", "name", name, "minReplicas", min, "maxReplicas", max,
                     "metrics", metrics, "behavior", behavior);
}
