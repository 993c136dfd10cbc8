/* test_kubeapi.c - reading a kubeconfig (YAML, its current context, inline
 * data and files beside it, plugins refused), a pod's service account, and
 * the outcome of each HTTP status the API server answers. Requests and
 * watches are tested against a real kube-apiserver (tests/e2e/k8s/). */
#include "drivers/kubeapi.h"
#include "base/alloc.h"
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[64];

static void write_file(const char *name, const char *text)
{
    char *path = xasprintf("%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    free(path);
}

static void setup(void)
{
    if (!dir[0]) {
        snprintf(dir, sizeof(dir), "/tmp/test_kubeapi.XXXXXX");
        if (!mkdtemp(dir))
            abort();
    }
}

/* "-----BEGIN CERTIFICATE-----\nCA\n" in base64 */
#define CA_B64 "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCkNBCg=="

static const char kubeconfig[] = "apiVersion: v1\n"
                                 "kind: Config\n"
                                 "clusters:\n"
                                 "- name: other\n"
                                 "  cluster:\n"
                                 "    server: https://192.0.2.1:6443\n"
                                 "- name: bed\n"
                                 "  cluster:\n"
                                 "    server: https://127.0.0.1:6443/\n"
                                 "    certificate-authority-data: " CA_B64 "\n"
                                 "users:\n"
                                 "- name: berth\n"
                                 "  user:\n"
                                 "    token: \"s3cret\"\n"
                                 "contexts:\n"
                                 "- name: here\n"
                                 "  context: {cluster: bed, user: berth, namespace: berth-a}\n"
                                 "current-context: here\n";

TEST(yaml)
{
    struct err err = {0};
    const char text[] = "a: [1, two]\nb:\n  c: 'x y'\n";
    json_t *j = kube_yaml_to_json(text, strlen(text), &err);
    CHECK(j != NULL);
    CHECK_STR_EQ(json_string_value(json_array_get(json_object_get(j, "a"), 1)), "two");
    CHECK_STR_EQ(json_string_value(json_object_get(json_object_get(j, "b"), "c")), "x y");
    json_decref(j);
    const char bad[] = "a: [1, 2\n";
    CHECK(kube_yaml_to_json(bad, strlen(bad), &err) == NULL);
    CHECK(strstr(err.msg, "not YAML") != NULL);
}

TEST(kubeconfig_current_context)
{
    setup();
    write_file("config", kubeconfig);
    char *path = xasprintf("%s/config", dir);
    struct kube_conn c;
    struct err err = {0};
    CHECK_EQ_INT(kube_conn_from_kubeconfig(path, &c, &err), 0);
    CHECK_STR_EQ(c.server, "https://127.0.0.1:6443");
    CHECK_STR_EQ(c.token, "s3cret");
    CHECK_STR_EQ(c.namespace, "berth-a");
    CHECK_STR_EQ(c.ca_pem, "-----BEGIN CERTIFICATE-----\nCA\n");
    CHECK(c.cert_pem == NULL && !c.insecure);
    kube_conn_release(&c);
    free(path);
}

TEST(kubeconfig_files_beside_it)
{
    setup();
    write_file("ca.crt", "CA FILE\n");
    write_file("tok", "from-file\n");
    write_file("client.crt", "CERT\n");
    write_file("client.key", "KEY\n");
    write_file("files", "clusters:\n- name: c\n  cluster:\n    server: https://h:1\n"
                        "    certificate-authority: ca.crt\n"
                        "users:\n- name: u\n  user:\n    tokenFile: tok\n"
                        "    client-certificate: client.crt\n"
                        "    client-key: client.key\n"
                        "contexts:\n- name: x\n  context:\n    cluster: c\n    user: u\n"
                        "current-context: x\n");
    char *path = xasprintf("%s/files", dir);
    struct kube_conn c;
    struct err err = {0};
    CHECK_EQ_INT(kube_conn_from_kubeconfig(path, &c, &err), 0);
    CHECK_STR_EQ(c.ca_pem, "CA FILE\n");
    CHECK_STR_EQ(c.token, "from-file");
    CHECK_STR_EQ(c.cert_pem, "CERT\n");
    CHECK_STR_EQ(c.key_pem, "KEY\n");
    CHECK_STR_EQ(c.namespace, "default");
    kube_conn_release(&c);
    free(path);
}

TEST(kubeconfig_refused)
{
    setup();
    struct kube_conn c;
    struct err err = {0};
    write_file("exec", "clusters:\n- name: c\n  cluster: {server: 'https://h:1'}\n"
                       "users:\n- name: u\n  user:\n    exec: {command: aws}\n"
                       "contexts:\n- name: x\n  context: {cluster: c, user: u}\n"
                       "current-context: x\n");
    char *path = xasprintf("%s/exec", dir);
    CHECK(kube_conn_from_kubeconfig(path, &c, &err) == ERR_UNSUPPORTED);
    CHECK(strstr(err.msg, "plugin") != NULL);
    free(path);
    write_file("nocontext", "clusters: []\ncurrent-context: gone\n");
    path = xasprintf("%s/nocontext", dir);
    CHECK(kube_conn_from_kubeconfig(path, &c, &err) == ERR_INVALID);
    CHECK(strstr(err.msg, "current-context 'gone'") != NULL);
    free(path);
    write_file("badca", "clusters:\n- name: c\n  cluster:\n    server: https://h:1\n"
                        "    certificate-authority-data: '***'\n"
                        "contexts:\n- name: x\n  context: {cluster: c}\ncurrent-context: x\n");
    path = xasprintf("%s/badca", dir);
    CHECK(kube_conn_from_kubeconfig(path, &c, &err) == ERR_INVALID);
    CHECK(strstr(err.msg, "certificate-authority-data is not base64") != NULL);
    free(path);
    CHECK(kube_conn_from_kubeconfig("/nonexistent/kubeconfig", &c, &err) != 0);
}

TEST(in_cluster)
{
    setup();
    write_file("token", "sa-token\n");
    write_file("ca.crt", "SA CA\n");
    write_file("namespace", "berth\n");
    struct kube_conn c;
    struct err err = {0};
    unsetenv("KUBERNETES_SERVICE_HOST");
    CHECK(kube_conn_in_cluster(dir, &c, &err) == ERR_NOTFOUND);
    setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1", 1);
    setenv("KUBERNETES_SERVICE_PORT", "443", 1);
    CHECK_EQ_INT(kube_conn_in_cluster(dir, &c, &err), 0);
    CHECK_STR_EQ(c.server, "https://10.0.0.1:443");
    CHECK_STR_EQ(c.token, "sa-token");
    CHECK_STR_EQ(c.namespace, "berth");
    kube_conn_release(&c);
    setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
    CHECK_EQ_INT(kube_conn_in_cluster(dir, &c, &err), 0);
    CHECK_STR_EQ(c.server, "https://[fd00::1]:443");
    kube_conn_release(&c);
    unsetenv("KUBERNETES_SERVICE_HOST");
    unsetenv("KUBERNETES_SERVICE_PORT");
}

TEST(outcomes)
{
    CHECK(kube_outcome_of(200) == KUBE_OK);
    CHECK(kube_outcome_of(201) == KUBE_OK);
    CHECK(kube_outcome_of(404) == KUBE_NOT_FOUND);
    CHECK(kube_outcome_of(409) == KUBE_CONFLICT);
    CHECK(kube_outcome_of(422) == KUBE_INVALID);
    CHECK(kube_outcome_of(403) == KUBE_FORBIDDEN);
    CHECK(kube_outcome_of(401) == KUBE_FORBIDDEN);
    CHECK(kube_outcome_of(410) == KUBE_GONE);
    CHECK(kube_outcome_of(429) == KUBE_UNREACHABLE);
    CHECK(kube_outcome_of(503) == KUBE_UNREACHABLE);
}

TEST(unreachable)
{
    /* Nothing listens on port 1 of loopback: refused at once, and said so. */
    struct kube_conn c = {.server = (char *)"https://127.0.0.1:1"};
    struct kube_reply r;
    struct err err = {0};
    CHECK(kube_request(&c, "GET", "/version", NULL, NULL, &r, &err) != 0);
    CHECK(r.outcome == KUBE_UNREACHABLE && r.status == 0);
    CHECK(strstr(err.msg, "https://127.0.0.1:1/version") != NULL);
    kube_reply_release(&r);
    char *cmd = xasprintf("rm -rf %s", dir);
    CHECK_EQ_INT(system(cmd), 0);
    free(cmd);
}
