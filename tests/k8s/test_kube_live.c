/* test_kube_live.c - the kubernetes driver's calls against a real
 * kube-apiserver (scripts/k8s-cluster.sh; BERTH_K8S_ENV names its env file):
 * as user berth, who holds only deploy/kubernetes/rbac.yaml's Role, a
 * version's Secret, Service and Deployment are created with their fields,
 * a new spec rolls the template, /scale follows the count, the HPA lands on
 * the version the server serves, an object of the same name that is not
 * berthd's is reported and left alone, the user without rights gets a 403
 * that says so, and delete leaves nothing. No kubelet runs: nothing makes
 * pods here. Run by `make test-k8s`. */
#include "base/alloc.h"
#include "drivers/kubernetes.h"
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char env_server[256], env_ca[256], tok_admin[64], tok_berth[64], tok_nobody[64],
    kubeconfig[256];

static void load_env(void)
{
    if (env_server[0])
        return;
    const char *path = getenv("BERTH_K8S_ENV");
    FILE *f = path ? fopen(path, "r") : NULL;
    if (!f) {
        fprintf(stderr, "BERTH_K8S_ENV must name a running test bed's env file\n");
        exit(1);
    }
    char line[512];
    while (fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\n")] = '\0';
        char *v = strchr(line, '=');
        if (!v)
            continue;
        *v++ = '\0';
        struct {
            const char *key;
            char *out;
            size_t size;
        } keys[] = {{"BERTH_K8S_SERVER", env_server, sizeof(env_server)},
                    {"BERTH_K8S_CA", env_ca, sizeof(env_ca)},
                    {"BERTH_K8S_ADMIN_TOKEN", tok_admin, sizeof(tok_admin)},
                    {"BERTH_K8S_BERTH_TOKEN", tok_berth, sizeof(tok_berth)},
                    {"BERTH_K8S_NOBODY_TOKEN", tok_nobody, sizeof(tok_nobody)},
                    {"BERTH_K8S_KUBECONFIG", kubeconfig, sizeof(kubeconfig)}};
        for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
            if (!strcmp(line, keys[i].key))
                snprintf(keys[i].out, keys[i].size, "%s", v);
    }
    fclose(f);
}

/* The connection of user berth from the bed's kubeconfig, as berthd reads it. */
static void conn_berth(struct kube_conn *c)
{
    load_env();
    struct err err = {0};
    if (kube_conn_from_kubeconfig(kubeconfig, c, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        exit(1);
    }
}

static void conn_as(struct kube_conn *c, const char *token)
{
    conn_berth(c);
    free(c->token);
    c->token = xstrdup(token);
}

static json_t *get(const struct kube_conn *c, const char *path, long *status)
{
    struct kube_reply r;
    struct err err = {0};
    kube_request(c, "GET", path, NULL, NULL, &r, &err);
    *status = r.status;
    json_t *body = r.body;
    r.body = NULL;
    kube_reply_release(&r);
    return body;
}

static const char *str_at(const json_t *o, const char *const *keys)
{
    for (; *keys && o; keys++)
        o = json_is_array(o) ? json_array_get(o, (size_t)atoi(*keys)) : json_object_get(o, *keys);
    const char *s = json_string_value(o);
    return s ? s : "(none)";
}

static json_int_t int_at(const json_t *o, const char *const *keys)
{
    for (; *keys && o; keys++)
        o = json_is_array(o) ? json_array_get(o, (size_t)atoi(*keys)) : json_object_get(o, *keys);
    return json_integer_value(o);
}

#define P(...) ((const char *const[]){__VA_ARGS__, NULL})

static struct kube_version version(const char *id, int replicas, const char *hash)
{
    return (struct kube_version){.service_id = id,
                                 .group_id = "ms-live0001",
                                 .region = "ap-guangzhou",
                                 .namespace = "berth-a",
                                 .owner = "00112233aabbccdd",
                                 .spec_hash = hash,
                                 .replicas = replicas,
                                 .cpu_millicores = 500,
                                 .memory_mib = 256,
                                 .runtime_image = "localhost/berth-serve:test",
                                 .models_config = "model_config_list {}\n",
                                 .model_url = "http://berthd.berth.svc:7700"};
}

static const char *DEP = "/apis/apps/v1/namespaces/berth-a/deployments/berth-ms-live0001-1";

TEST(apply_creates_rolls_scales_deletes)
{
    struct kube_conn c;
    conn_berth(&c);
    struct err err = {0};
    const char *hpa_api = kube_hpa_api(&c, &err);
    CHECK(hpa_api != NULL);
    /* 1.20 serves v2beta2 only; a newer server v2. */
    CHECK(hpa_api &&
          (!strcmp(hpa_api, "autoscaling/v2beta2") || !strcmp(hpa_api, "autoscaling/v2")));
    json_t *spec = json_pack("{s:s, s:s, s:[{s:s, s:s}]}", "Kind", "model", "Runtime",
                             "berth-serve", "Env", "Name", "MODE", "Value", "a");
    struct kube_version v = version("ms-live0001-1", 2, "hash0001");
    struct kube_result res;
    int rc = kube_version_apply(&c, &v, spec, "tok-1", hpa_api, &res, &err);
    if (rc)
        fprintf(stderr, "# %s\n", err.msg);
    CHECK_EQ_INT(rc, 0);
    long status;
    json_t *d = get(&c, DEP, &status);
    CHECK_EQ_INT((int)status, 200);
    CHECK_EQ_INT((int)int_at(d, P("spec", "replicas")), 2);
    CHECK_STR_EQ(str_at(d, P("spec", "template", "spec", "containers", "0", "image")),
                 "localhost/berth-serve:test");
    CHECK_STR_EQ(str_at(d, P("spec", "template", "spec", "containers", "0", "resources", "limits",
                             "memory")),
                 "256Mi");
    CHECK_STR_EQ(str_at(d, P("spec", "template", "spec", "initContainers", "0", "name")), "fetch");
    CHECK_STR_EQ(str_at(d, P("spec", "strategy", "type")), "RollingUpdate");
    CHECK_EQ_INT((int)int_at(d, P("metadata", "generation")), 1);
    json_decref(d);
    json_t *svc = get(&c, "/api/v1/namespaces/berth-a/services/berth-ms-live0001-1", &status);
    CHECK_EQ_INT((int)status, 200);
    CHECK_EQ_INT((int)int_at(svc, P("spec", "ports", "0", "port")), 8501);
    const char *cluster_ip = str_at(svc, P("spec", "clusterIP"));
    CHECK(strcmp(cluster_ip, "(none)") != 0);
    char ip[64];
    snprintf(ip, sizeof(ip), "%s", cluster_ip);
    json_decref(svc);
    json_t *sec = get(&c, "/api/v1/namespaces/berth-a/secrets/berth-ms-live0001-1-model", &status);
    CHECK_EQ_INT((int)status, 200);
    CHECK_STR_EQ(str_at(sec, P("data", "token")), "dG9rLTE="); /* base64("tok-1") */
    json_decref(sec);

    /* The same spec again changes nothing. */
    CHECK_EQ_INT(kube_version_apply(&c, &v, spec, "tok-1", hpa_api, &res, &err), 0);
    d = get(&c, DEP, &status);
    CHECK_EQ_INT((int)int_at(d, P("metadata", "generation")), 1);
    json_decref(d);

    /* A new spec rolls the template; the Service keeps its address. */
    json_object_set_new(json_array_get(json_object_get(spec, "Env"), 0), "Value", json_string("b"));
    v.spec_hash = "hash0002";
    v.replicas = 3;
    CHECK_EQ_INT(kube_version_apply(&c, &v, spec, "tok-1", hpa_api, &res, &err), 0);
    d = get(&c, DEP, &status);
    CHECK_EQ_INT((int)int_at(d, P("metadata", "generation")), 2);
    CHECK_EQ_INT((int)int_at(d, P("spec", "replicas")), 3);
    CHECK_STR_EQ(str_at(d, P("spec", "template", "spec", "containers", "0", "env", "1", "value")),
                 "b");
    json_decref(d);
    svc = get(&c, "/api/v1/namespaces/berth-a/services/berth-ms-live0001-1", &status);
    CHECK_STR_EQ(str_at(svc, P("spec", "clusterIP")), ip);
    json_decref(svc);

    /* STOP: /scale to 0, the objects stay. */
    CHECK_EQ_INT(kube_version_scale(&c, "berth-a", "ms-live0001-1", 0, &res, &err), 0);
    d = get(&c, DEP, &status);
    CHECK_EQ_INT((int)status, 200);
    CHECK_EQ_INT((int)int_at(d, P("spec", "replicas")), 0);
    json_decref(d);

    /* CPU HPA: an HPA object at the served version, which owns the count. */
    json_decref(spec);
    spec =
        json_pack("{s:s, s:s, s:s, s:{s:i, s:i, s:[{s:s, s:i}]}}", "Kind", "model", "Runtime",
                  "berth-serve", "ScaleStrategy", "HPA", "HorizontalPodAutoscaler", "MinReplicas",
                  1, "MaxReplicas", 4, "HpaMetrics", "Name", "cpu-util", "Value", 50);
    v.spec_hash = "hash0003";
    CHECK_EQ_INT(kube_version_apply(&c, &v, spec, "tok-1", hpa_api, &res, &err), 0);
    char path[256];
    snprintf(path, sizeof(path),
             "/apis/%s/namespaces/berth-a/horizontalpodautoscalers/berth-ms-live0001-1", hpa_api);
    json_t *h = get(&c, path, &status);
    CHECK_EQ_INT((int)status, 200);
    CHECK_EQ_INT((int)int_at(h, P("spec", "maxReplicas")), 4);
    CHECK_STR_EQ(str_at(h, P("spec", "scaleTargetRef", "name")), "berth-ms-live0001-1");
    json_decref(h);

    /* Delete: nothing left. */
    CHECK_EQ_INT(kube_version_delete(&c, "berth-a", "ms-live0001-1", v.owner, hpa_api, &res, &err),
                 0);
    json_decref(get(&c, DEP, &status));
    CHECK_EQ_INT((int)status, 404);
    json_decref(get(&c, path, &status));
    CHECK_EQ_INT((int)status, 404);
    json_decref(get(&c, "/api/v1/namespaces/berth-a/services/berth-ms-live0001-1", &status));
    CHECK_EQ_INT((int)status, 404);
    json_decref(get(&c, "/api/v1/namespaces/berth-a/secrets/berth-ms-live0001-1-model", &status));
    CHECK_EQ_INT((int)status, 404);
    /* Deleting again is done already. */
    CHECK_EQ_INT(kube_version_delete(&c, "berth-a", "ms-live0001-1", v.owner, hpa_api, &res, &err),
                 0);
    json_decref(spec);
    kube_conn_release(&c);
}

TEST(not_ours_is_left_alone)
{
    struct kube_conn c;
    conn_berth(&c);
    struct err err = {0};
    json_t *spec = json_pack("{s:s, s:s}", "Kind", "image", "Image", "busybox:1");
    struct kube_version v = version("ms-live0001-2", 1, "h1");
    v.owner = "ffffffffffffffff"; /* another berthd */
    struct kube_result res;
    CHECK_EQ_INT(kube_version_apply(&c, &v, spec, NULL, NULL, &res, &err), 0);
    v.owner = "00112233aabbccdd";
    v.spec_hash = "h2";
    CHECK(kube_version_apply(&c, &v, spec, NULL, NULL, &res, &err) != 0);
    CHECK(res.outcome == KUBE_CONFLICT && !res.retry);
    CHECK(strstr(err.msg, "is not this berthd's") != NULL);
    /* Its delete leaves the other's objects. */
    CHECK_EQ_INT(kube_version_delete(&c, "berth-a", "ms-live0001-2", v.owner, NULL, &res, &err), 0);
    long status;
    json_t *svc = get(&c, "/api/v1/namespaces/berth-a/services/berth-ms-live0001-2", &status);
    CHECK_EQ_INT((int)status, 200);
    CHECK_STR_EQ(
        json_string_value(json_object_get(
            json_object_get(json_object_get(svc, "metadata"), "labels"), KUBE_LABEL_OWNER)),
        "ffffffffffffffff");
    json_decref(svc);
    CHECK_EQ_INT(
        kube_version_delete(&c, "berth-a", "ms-live0001-2", "ffffffffffffffff", NULL, &res, &err),
        0);
    json_decref(spec);
    kube_conn_release(&c);
}

TEST(invalid_and_forbidden)
{
    struct kube_conn c;
    struct err err = {0};
    struct kube_result res;
    json_t *spec = json_pack("{s:s, s:s}", "Kind", "image", "Image", "busybox:1");
    /* Outside the Role's namespaces: 403 in the server's words, not retried. */
    conn_berth(&c);
    struct kube_version v = version("ms-live0001-3", 1, "h1");
    v.namespace = "kube-system";
    CHECK(kube_version_apply(&c, &v, spec, NULL, NULL, &res, &err) != 0);
    CHECK(res.outcome == KUBE_FORBIDDEN && !res.retry);
    CHECK(strstr(err.msg, "403") != NULL && strstr(err.msg, "forbidden") != NULL);
    kube_conn_release(&c);
    /* A user with no rights at all. */
    conn_as(&c, tok_nobody);
    v.namespace = "berth-a";
    CHECK(kube_version_apply(&c, &v, spec, NULL, NULL, &res, &err) != 0);
    CHECK(res.outcome == KUBE_FORBIDDEN);
    CHECK(strstr(err.msg, "User \"nobody\"") != NULL);
    kube_conn_release(&c);
    /* An object the server refuses (422): said, not retried, nothing half-made
     * after the Service: the Deployment is not there. */
    conn_berth(&c);
    json_object_set_new(spec, "Env", json_pack("[{s:s, s:s}]", "Name", "", "Value", "x"));
    v.service_id = "ms-live0001-4";
    CHECK(kube_version_apply(&c, &v, spec, NULL, NULL, &res, &err) != 0);
    CHECK(res.outcome == KUBE_INVALID && !res.retry);
    CHECK(strstr(err.msg, "422") != NULL);
    long status;
    json_decref(
        get(&c, "/apis/apps/v1/namespaces/berth-a/deployments/berth-ms-live0001-4", &status));
    CHECK_EQ_INT((int)status, 404);
    CHECK_EQ_INT(kube_version_delete(&c, "berth-a", "ms-live0001-4", v.owner, NULL, &res, &err), 0);
    json_decref(get(&c, "/api/v1/namespaces/berth-a/services/berth-ms-live0001-4", &status));
    CHECK_EQ_INT((int)status, 404);
    json_decref(spec);
    kube_conn_release(&c);
}

TEST(unreachable_is_retried)
{
    struct kube_conn c;
    conn_berth(&c);
    free(c.server);
    c.server = xstrdup("https://127.0.0.1:1");
    struct err err = {0};
    struct kube_result res;
    json_t *spec = json_pack("{s:s, s:s}", "Kind", "image", "Image", "busybox:1");
    struct kube_version v = version("ms-live0001-5", 1, "h1");
    CHECK(kube_version_apply(&c, &v, spec, NULL, NULL, &res, &err) != 0);
    CHECK(res.outcome == KUBE_UNREACHABLE && res.retry);
    json_decref(spec);
    kube_conn_release(&c);
}

struct seen {
    char type[16];
    char name[64];
    int events;
};

static int on_event(void *arg, const char *type, json_t *object)
{
    struct seen *s = arg;
    s->events++;
    snprintf(s->type, sizeof(s->type), "%s", type);
    snprintf(s->name, sizeof(s->name), "%s", str_at(object, P("metadata", "name")));
    return strcmp(s->name, "berth-ms-live0001-6") == 0; /* enough */
}

TEST(watch_from_a_list)
{
    struct kube_conn c;
    conn_berth(&c);
    struct err err = {0};
    long status;
    json_t *list = get(&c, "/apis/apps/v1/namespaces/berth-a/deployments", &status);
    CHECK_EQ_INT((int)status, 200);
    char rv[32];
    snprintf(rv, sizeof(rv), "%s", str_at(list, P("metadata", "resourceVersion")));
    json_decref(list);
    json_t *spec = json_pack("{s:s, s:s}", "Kind", "image", "Image", "busybox:1");
    struct kube_version v = version("ms-live0001-6", 1, "h1");
    struct kube_result res;
    CHECK_EQ_INT(kube_version_apply(&c, &v, spec, NULL, NULL, &res, &err), 0);
    char path[256];
    snprintf(path, sizeof(path),
             "/apis/apps/v1/namespaces/berth-a/deployments?watch=1&resourceVersion=%s"
             "&labelSelector=" KUBE_LABEL_OWNER "%%3D00112233aabbccdd&timeoutSeconds=5",
             rv);
    struct seen s = {0};
    enum kube_outcome outcome;
    CHECK_EQ_INT(kube_watch(&c, path, 5, on_event, &s, &outcome, &err), 0);
    CHECK(outcome == KUBE_OK);
    CHECK_STR_EQ(s.type, "ADDED");
    CHECK_STR_EQ(s.name, "berth-ms-live0001-6");
    kube_conn_release(&c);
    /* Watching is a right too. */
    conn_as(&c, tok_nobody);
    memset(&s, 0, sizeof(s));
    CHECK(kube_watch(&c, path, 5, on_event, &s, &outcome, &err) != 0);
    CHECK(outcome == KUBE_FORBIDDEN && s.events == 0);
    CHECK(strstr(err.msg, "403") != NULL);
    kube_conn_release(&c);
    conn_berth(&c);
    CHECK_EQ_INT(kube_version_delete(&c, "berth-a", "ms-live0001-6", v.owner, NULL, &res, &err), 0);
    json_decref(spec);
    kube_conn_release(&c);
}
