/* test_kube_objects.c - the Kubernetes objects of a service version: names,
 * labels and selector, the rolling strategy, the pod template from the run
 * spec (image, env, port, probes, resources, grace, PreStop), the runtime's
 * model files by fetch or by claim, the node's network, the Service, the Secret and the HPA. */
#include "drivers/kube_objects.h"
#include "harness.h"

#include <stdlib.h>
#include <string.h>

static struct kube_version version(void)
{
    return (struct kube_version){.service_id = "ms-abcd1234-2",
                                 .group_id = "ms-abcd1234",
                                 .region = "ap-guangzhou",
                                 .namespace = "berth-a",
                                 .owner = "0123456789abcdef",
                                 .spec_hash = "feedfacefeedface",
                                 .replicas = 3,
                                 .cpu_millicores = 1500,
                                 .memory_mib = 2048,
                                 .runtime_image = "registry.example/berth-serve:1.0",
                                 .models_config = "model_config_list {}\n",
                                 .model_url = "http://berthd.berth.svc:7700/"};
}

/* The value at a path of keys and array indexes ("spec.template.0"). */
static json_t *at(json_t *o, const char *path)
{
    char *p = strdup(path), *save = NULL;
    for (char *k = strtok_r(p, ".", &save); k && o; k = strtok_r(NULL, ".", &save))
        o = json_is_array(o) ? json_array_get(o, (size_t)atoi(k)) : json_object_get(o, k);
    free(p);
    return o;
}

static const char *str_at(json_t *o, const char *path)
{
    const char *s = json_string_value(at(o, path));
    return s ? s : "(none)";
}

/* A key with dots in it (labels, annotations). */
static const char *label(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "(none)";
}

TEST(names)
{
    char name[KUBE_NAME_MAX];
    struct err err = {0};
    CHECK_EQ_INT(kube_object_name("ms-abcd1234-1", name, &err), 0);
    CHECK_STR_EQ(name, "berth-ms-abcd1234-1");
    CHECK(kube_object_name("MS-Upper-1", name, &err) == ERR_INVALID);
    CHECK(strstr(err.msg, "DNS-1123") != NULL);
    CHECK(kube_object_name("ms-abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabc-1", name,
                           &err) == ERR_INVALID);
    CHECK(kube_object_name("", name, &err) == ERR_INVALID);
}

TEST(model_deployment)
{
    struct kube_version v = version();
    struct err err = {0};
    json_t *spec = json_pack("{s:s, s:s, s:[{s:s, s:s}], s:i}", "Kind", "model", "Runtime",
                             "berth-serve", "Env", "Name", "A", "Value", "b", "GraceMs", 4500);
    json_t *d = kube_deployment(&v, spec, &err);
    CHECK(d != NULL);
    CHECK_STR_EQ(str_at(d, "kind"), "Deployment");
    CHECK_STR_EQ(str_at(d, "metadata.name"), "berth-ms-abcd1234-2");
    CHECK_STR_EQ(str_at(d, "metadata.namespace"), "berth-a");
    CHECK_STR_EQ(label(at(d, "metadata.labels"), KUBE_LABEL_GROUP), "ms-abcd1234");
    CHECK_STR_EQ(label(at(d, "metadata.labels"), KUBE_LABEL_REGION), "ap-guangzhou");
    CHECK_STR_EQ(label(at(d, "metadata.annotations"), KUBE_SPEC_HASH), "feedfacefeedface");
    CHECK_EQ_INT(json_integer_value(at(d, "spec.replicas")), 3);
    CHECK_EQ_INT(json_integer_value(at(d, "spec.strategy.rollingUpdate.maxSurge")), 1);
    CHECK_EQ_INT(json_integer_value(at(d, "spec.strategy.rollingUpdate.maxUnavailable")), 0);
    /* The selector is a subset of the pods' labels. */
    json_t *sel = at(d, "spec.selector.matchLabels"),
           *labels = at(d, "spec.template.metadata.labels");
    const char *k;
    json_t *val;
    CHECK_EQ_INT(json_object_size(sel), 2);
    json_object_foreach(sel, k, val)
        CHECK_STR_EQ(json_string_value(json_object_get(labels, k)), json_string_value(val));
    json_t *pod = at(d, "spec.template.spec"), *c = at(pod, "containers.0");
    CHECK_STR_EQ(str_at(c, "image"), "registry.example/berth-serve:1.0");
    CHECK_STR_EQ(str_at(c, "args.0"), "--rest_api_host=0.0.0.0");
    CHECK_STR_EQ(str_at(c, "args.2"), "--model_config_file=/etc/berth/models.config");
    CHECK(at(pod, "hostNetwork") == NULL);
    CHECK_EQ_INT(json_integer_value(at(c, "ports.0.containerPort")), KUBE_RUNTIME_PORT);
    CHECK_STR_EQ(str_at(c, "env.0.name"), "PORT");
    CHECK_STR_EQ(str_at(c, "env.0.value"), "8501");
    CHECK_STR_EQ(str_at(c, "env.1.name"), "A");
    CHECK_STR_EQ(str_at(c, "resources.requests.cpu"), "1500m");
    CHECK_STR_EQ(str_at(c, "resources.limits.memory"), "2048Mi");
    CHECK_STR_EQ(str_at(c, "readinessProbe.httpGet.path"), "/v1/models/m");
    CHECK(at(c, "livenessProbe") == NULL);
    CHECK_EQ_INT(json_integer_value(at(pod, "terminationGracePeriodSeconds")), 5);
    /* The files come from berthd, fetched with the Secret's token. */
    json_t *fetch = at(pod, "initContainers.0");
    CHECK_STR_EQ(str_at(fetch, "args.0"), "fetch");
    CHECK_STR_EQ(str_at(fetch, "args.2"),
                 "http://berthd.berth.svc:7700/model-files/v1/ms-abcd1234-2/");
    CHECK_STR_EQ(str_at(fetch, "env.0.valueFrom.secretKeyRef.name"), "berth-ms-abcd1234-2-model");
    CHECK(json_is_object(at(pod, "volumes.1.emptyDir")));
    CHECK(at(fetch, "args.5") == NULL); /* no --ca: the image's CAs */
    json_decref(d);

    /* An https URL with berthd's CA: it is in the Secret, and the fetch uses it. */
    v.model_url = "https://berthd.berth.svc:7700";
    v.model_ca = "-----BEGIN CERTIFICATE-----\n";
    d = kube_deployment(&v, spec, &err);
    pod = at(d, "spec.template.spec");
    fetch = at(pod, "initContainers.0");
    CHECK_STR_EQ(str_at(fetch, "args.5"), "--ca");
    CHECK_STR_EQ(str_at(fetch, "args.6"), "/etc/berth/ca.crt");
    CHECK_STR_EQ(str_at(fetch, "volumeMounts.1.mountPath"), "/etc/berth");
    CHECK_STR_EQ(str_at(pod, "volumes.0.secret.items.1.key"), "ca.crt");
    json_t *sec = kube_model_secret(&v, "0a1b", &err);
    CHECK_STR_EQ(label(at(sec, "stringData"), "ca.crt"), "-----BEGIN CERTIFICATE-----\n");
    json_decref(sec);
    json_decref(d);
    v.model_ca = NULL;

    /* Or from the operator's claim, at the version's directory in it. */
    v.model_url = NULL;
    v.model_pvc = "berth-models";
    v.model_subpath = "models/m-1/3";
    d = kube_deployment(&v, spec, &err);
    pod = at(d, "spec.template.spec");
    CHECK(at(pod, "initContainers") == NULL);
    CHECK_STR_EQ(str_at(pod, "volumes.1.persistentVolumeClaim.claimName"), "berth-models");
    CHECK_STR_EQ(str_at(pod, "containers.0.volumeMounts.0.subPath"), "models/m-1/3");
    json_decref(d);

    /* On the node's network: hostNetwork, and berth-serve on the node's IP only. */
    v.host_network = true;
    d = kube_deployment(&v, spec, &err);
    pod = at(d, "spec.template.spec");
    CHECK(json_is_true(at(pod, "hostNetwork")));
    CHECK_STR_EQ(str_at(pod, "dnsPolicy"), "ClusterFirstWithHostNet");
    c = at(pod, "containers.0");
    CHECK_STR_EQ(str_at(c, "args.0"), "--rest_api_host=$(BERTH_NODE_IP)");
    json_t *ip = at(c, "env");
    ip = json_array_get(ip, json_array_size(ip) - 1);
    CHECK_STR_EQ(str_at(ip, "name"), "BERTH_NODE_IP");
    CHECK_STR_EQ(str_at(ip, "valueFrom.fieldRef.fieldPath"), "status.hostIP");
    json_decref(d);
    v.host_network = false;

    /* Neither: refused, saying why. */
    v.model_pvc = NULL;
    CHECK(kube_deployment(&v, spec, &err) == NULL);
    CHECK(strstr(err.msg, "--kube-model-url") != NULL);
    json_decref(spec);
}

TEST(image_deployment)
{
    struct kube_version v = version();
    v.cpu_millicores = 0;
    struct err err = {0};
    json_t *spec =
        json_pack("{s:s, s:s, s:s, s:i, s:[s, s], s:{s:s, s:s, s:i, s:i, s:i, s:i, s:i}, s:{s:s}}",
                  "Kind", "image", "Image", "127.0.0.1:5000/team/srv:v2", "Command", "exec srv",
                  "ServicePort", 9000, "PreStopCommand", "sleep", "1", "Probe", "Type", "http",
                  "Path", "/healthz", "InitialDelayMs", 2500, "PeriodMs", 500, "TimeoutMs", 1000,
                  "SuccessThreshold", 2, "FailureThreshold", 4, "LivenessProbe", "Type", "tcp");
    json_t *d = kube_deployment(&v, spec, &err);
    json_t *c = at(d, "spec.template.spec.containers.0");
    CHECK_STR_EQ(str_at(c, "image"), "127.0.0.1:5000/team/srv:v2");
    CHECK_STR_EQ(str_at(c, "command.2"), "exec srv");
    CHECK_EQ_INT(json_integer_value(at(c, "ports.0.containerPort")), 9000);
    CHECK_STR_EQ(str_at(c, "env.0.value"), "9000");
    CHECK(at(c, "resources.requests.cpu") == NULL);
    CHECK_STR_EQ(str_at(c, "readinessProbe.httpGet.path"), "/healthz");
    CHECK_EQ_INT(json_integer_value(at(c, "readinessProbe.initialDelaySeconds")), 3);
    CHECK_EQ_INT(json_integer_value(at(c, "readinessProbe.periodSeconds")), 1);
    CHECK_EQ_INT(json_integer_value(at(c, "readinessProbe.successThreshold")), 2);
    CHECK_EQ_INT(json_integer_value(at(c, "readinessProbe.failureThreshold")), 4);
    CHECK(json_is_object(at(c, "livenessProbe.tcpSocket")));
    CHECK_STR_EQ(str_at(c, "lifecycle.preStop.exec.command.1"), "1");
    CHECK(at(d, "spec.template.spec.initContainers") == NULL);
    json_decref(d);

    json_t *s = kube_service(&v, spec, &err);
    CHECK_STR_EQ(str_at(s, "spec.type"), "ClusterIP");
    CHECK_EQ_INT(json_integer_value(at(s, "spec.ports.0.port")), 9000);
    CHECK_STR_EQ(label(at(s, "spec.selector"), KUBE_LABEL_SERVICE), "ms-abcd1234-2");
    json_decref(s);

    json_object_set_new(spec, "Image", json_string(""));
    CHECK(kube_deployment(&v, spec, &err) == NULL);
    CHECK(strstr(err.msg, "ImageInfo") != NULL);
    json_decref(spec);
}

TEST(secret)
{
    struct kube_version v = version();
    struct err err = {0};
    json_t *s = kube_model_secret(&v, "0a1b", &err);
    CHECK_STR_EQ(str_at(s, "metadata.name"), "berth-ms-abcd1234-2-model");
    CHECK_STR_EQ(str_at(s, "stringData.token"), "0a1b");
    CHECK_STR_EQ(label(at(s, "stringData"), "models.config"), "model_config_list {}\n");
    json_decref(s);
}

TEST(hpa)
{
    struct kube_version v = version();
    struct err err = {0};
    json_t *spec =
        json_pack("{s:s, s:{s:i, s:i, s:[{s:s, s:i}], s:i}}", "ScaleStrategy", "HPA",
                  "HorizontalPodAutoscaler", "MinReplicas", 1, "MaxReplicas", 5, "HpaMetrics",
                  "Name", "cpu-util", "Value", 60, "ScaleDownStabilizationWindowSeconds", 120);
    json_t *h = kube_hpa(&v, spec, "autoscaling/v2beta2", &err);
    CHECK_STR_EQ(str_at(h, "apiVersion"), "autoscaling/v2beta2");
    CHECK_STR_EQ(str_at(h, "spec.scaleTargetRef.name"), "berth-ms-abcd1234-2");
    CHECK_EQ_INT(json_integer_value(at(h, "spec.maxReplicas")), 5);
    CHECK_STR_EQ(str_at(h, "spec.metrics.0.resource.name"), "cpu");
    CHECK_EQ_INT(json_integer_value(at(h, "spec.metrics.0.resource.target.averageUtilization")),
                 60);
    CHECK_EQ_INT(json_integer_value(at(h, "spec.behavior.scaleDown.stabilizationWindowSeconds")),
                 120);
    json_decref(h);

    /* QPS stays Berth's: no HPA object, no error. */
    json_t *m = at(spec, "HorizontalPodAutoscaler.HpaMetrics.0");
    json_object_set_new(m, "Name", json_string("service-qps"));
    err.msg[0] = '\0';
    CHECK(kube_hpa(&v, spec, "autoscaling/v2", &err) == NULL);
    CHECK_STR_EQ(err.msg, "");
    /* Mixed: refused. */
    json_array_append_new(at(spec, "HorizontalPodAutoscaler.HpaMetrics"),
                          json_pack("{s:s, s:i}", "Name", "memory-util", "Value", 70));
    CHECK(kube_hpa(&v, spec, "autoscaling/v2", &err) == NULL);
    CHECK(strstr(err.msg, "mixes") != NULL);
    json_decref(spec);
    spec = json_pack("{s:s}", "ScaleStrategy", "MANUAL");
    CHECK(kube_hpa(&v, spec, "autoscaling/v2", &err) == NULL);
    json_decref(spec);
}
