/* kubeapi.c - the connection to a Kubernetes API server (kubeapi.h): the
 * kubeconfig read through libyaml into JSON, requests and watches through
 * libcurl with the cluster's CA, token or client certificate held in memory. */
#include "drivers/kubeapi.h"
#include "base/alloc.h"
#include "base/buf.h"
#include "base/crypto.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define KUBE_FILE_MAX (1u << 20) /* a kubeconfig, a CA, a token */
#define KUBE_BODY_MAX (64u << 20)
#define KUBE_CONNECT_TIMEOUT_S 5L
#define KUBE_REQUEST_TIMEOUT_S 30L

/* ------------------------------------------------------------------------ */
/* YAML                                                                      */

static json_t *yaml_node_json(yaml_document_t *doc, yaml_node_t *node, int depth)
{
    if (!node || depth > 64)
        return NULL;
    switch (node->type) {
    case YAML_SCALAR_NODE:
        return json_stringn((const char *)node->data.scalar.value, node->data.scalar.length);
    case YAML_SEQUENCE_NODE: {
        json_t *a = json_array();
        for (yaml_node_item_t *i = node->data.sequence.items.start;
             i < node->data.sequence.items.top; i++) {
            json_t *v = yaml_node_json(doc, yaml_document_get_node(doc, *i), depth + 1);
            if (!v) {
                json_decref(a);
                return NULL;
            }
            json_array_append_new(a, v);
        }
        return a;
    }
    case YAML_MAPPING_NODE: {
        json_t *o = json_object();
        for (yaml_node_pair_t *p = node->data.mapping.pairs.start; p < node->data.mapping.pairs.top;
             p++) {
            yaml_node_t *k = yaml_document_get_node(doc, p->key);
            json_t *v = yaml_node_json(doc, yaml_document_get_node(doc, p->value), depth + 1);
            if (!k || k->type != YAML_SCALAR_NODE || !v) {
                json_decref(v);
                json_decref(o);
                return NULL;
            }
            char *key = xstrndup((const char *)k->data.scalar.value, k->data.scalar.length);
            json_object_set_new(o, key, v);
            free(key);
        }
        return o;
    }
    default:
        return NULL;
    }
}

json_t *kube_yaml_to_json(const char *text, size_t len, struct err *err)
{
    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser)) {
        err_set(err, ERR_SYS(ENOMEM), "cannot start the YAML parser");
        return NULL;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    json_t *out = NULL;
    if (!yaml_parser_load(&parser, &doc)) {
        err_set(err, ERR_INVALID, "not YAML: %s at line %zu",
                parser.problem ? parser.problem : "malformed", parser.problem_mark.line + 1);
        yaml_parser_delete(&parser);
        return NULL;
    }
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    out = root ? yaml_node_json(&doc, root, 0) : NULL;
    if (!out)
        err_set(err, ERR_INVALID, "%s",
                root ? "not a kubeconfig: anchors, tags or complex keys" : "empty document");
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    return out;
}

/* ------------------------------------------------------------------------ */
/* Connections                                                               */

void kube_conn_release(struct kube_conn *c)
{
    free(c->server);
    free(c->ca_pem);
    if (c->token)
        crypto_wipe(c->token, strlen(c->token));
    free(c->token);
    free(c->cert_pem);
    if (c->key_pem)
        crypto_wipe(c->key_pem, strlen(c->key_pem));
    free(c->key_pem);
    free(c->namespace);
    memset(c, 0, sizeof(*c));
}

static int read_text(const char *path, char **out, struct err *err)
{
    struct buf b;
    buf_init(&b, KUBE_FILE_MAX);
    int rc = buf_read_file(&b, path, err);
    if (rc) {
        buf_release(&b);
        return rc;
    }
    *out = buf_detach(&b, NULL);
    return 0;
}

/* A file relative to the kubeconfig's directory, as kubectl resolves it. */
static int read_relative(const char *config_path, const char *path, char **out, struct err *err)
{
    if (path[0] == '/')
        return read_text(path, out, err);
    const char *slash = strrchr(config_path, '/');
    char *full =
        slash ? xasprintf("%.*s/%s", (int)(slash - config_path), config_path, path) : xstrdup(path);
    int rc = read_text(full, out, err);
    free(full);
    return rc;
}

static int decode_data(const char *b64, const char *what, char **out, struct err *err)
{
    size_t n = strlen(b64), len = 0;
    uint8_t *raw = xmalloc(n / 4 * 3 + 4);
    if (crypto_base64_decode(b64, n, raw, &len) != 0) {
        free(raw);
        return err_set(err, ERR_INVALID, "kubeconfig: %s is not base64", what);
    }
    raw[len] = '\0';
    *out = (char *)raw;
    return 0;
}

/* FIELD-data inline, else FIELD as a file; *out stays NULL when neither. */
static int data_or_file(const char *config_path, const json_t *o, const char *field, char **out,
                        struct err *err)
{
    char key[64];
    snprintf(key, sizeof(key), "%s-data", field);
    const char *data = json_string_value(json_object_get(o, key));
    const char *file = json_string_value(json_object_get(o, field));
    if (data && *data)
        return decode_data(data, key, out, err);
    if (file && *file)
        return read_relative(config_path, file, out, err);
    return 0;
}

/* The entry named 'name' of a kubeconfig list (clusters, users, contexts). */
static const json_t *named(const json_t *cfg, const char *list, const char *name, const char *inner)
{
    size_t i;
    const json_t *e;
    json_array_foreach(json_object_get(cfg, list), i, e)
    {
        const char *n = json_string_value(json_object_get(e, "name"));
        if (n && strcmp(n, name) == 0)
            return json_object_get(e, inner);
    }
    return NULL;
}

int kube_conn_from_kubeconfig(const char *path, struct kube_conn *out, struct err *err)
{
    memset(out, 0, sizeof(*out));
    char *text;
    int rc = read_text(path, &text, err);
    if (rc)
        return rc;
    json_t *cfg = kube_yaml_to_json(text, strlen(text), err);
    free(text);
    if (!cfg) {
        char why[sizeof(err->msg)];
        snprintf(why, sizeof(why), "%s", err->msg);
        return err_set(err, ERR_INVALID, "kubeconfig '%s': %s", path, why);
    }
    const char *current = json_string_value(json_object_get(cfg, "current-context"));
    const json_t *ctx = current ? named(cfg, "contexts", current, "context") : NULL;
    const char *cluster_name = json_string_value(json_object_get(ctx, "cluster"));
    const char *user_name = json_string_value(json_object_get(ctx, "user"));
    const json_t *cluster = cluster_name ? named(cfg, "clusters", cluster_name, "cluster") : NULL;
    const json_t *user = user_name ? named(cfg, "users", user_name, "user") : NULL;
    const char *server = json_string_value(json_object_get(cluster, "server"));
    if (!ctx || !cluster || !server || !*server) {
        rc = err_set(err, ERR_INVALID,
                     "kubeconfig '%s': current-context '%s' names no cluster with a server", path,
                     current ? current : "");
        goto out;
    }
    if (json_object_get(user, "exec") || json_object_get(user, "auth-provider")) {
        rc = err_set(err, ERR_UNSUPPORTED,
                     "kubeconfig '%s': user '%s' authenticates through a plugin (exec or "
                     "auth-provider); give berthd a token or a client certificate",
                     path, user_name);
        goto out;
    }
    size_t n = strlen(server);
    while (n && server[n - 1] == '/')
        n--;
    out->server = xstrndup(server, n);
    const char *skip = json_string_value(json_object_get(cluster, "insecure-skip-tls-verify"));
    out->insecure = skip && strcmp(skip, "true") == 0;
    const char *ns = json_string_value(json_object_get(ctx, "namespace"));
    out->namespace = xstrdup(ns && *ns ? ns : "default");
    const char *token = json_string_value(json_object_get(user, "token"));
    const char *token_file = json_string_value(json_object_get(user, "tokenFile"));
    if (token && *token)
        out->token = xstrdup(token);
    else if (token_file && *token_file && (rc = read_relative(path, token_file, &out->token, err)))
        goto out;
    if ((rc = data_or_file(path, cluster, "certificate-authority", &out->ca_pem, err)) ||
        (rc = data_or_file(path, user, "client-certificate", &out->cert_pem, err)) ||
        (rc = data_or_file(path, user, "client-key", &out->key_pem, err)))
        goto out;
    if (out->token) /* a token file ends with a newline */
        out->token[strcspn(out->token, "\r\n")] = '\0';
    if (!!out->cert_pem != !!out->key_pem)
        rc = err_set(err, ERR_INVALID,
                     "kubeconfig '%s': user '%s' has a client certificate without its key, or "
                     "a key without its certificate",
                     path, user_name);
out:
    json_decref(cfg);
    if (rc)
        kube_conn_release(out);
    return rc;
}

int kube_conn_in_cluster(const char *dir, struct kube_conn *out, struct err *err)
{
    memset(out, 0, sizeof(*out));
    const char *host = getenv("KUBERNETES_SERVICE_HOST");
    const char *port = getenv("KUBERNETES_SERVICE_PORT");
    if (!host || !*host || !port || !*port)
        return err_set(err, ERR_NOTFOUND,
                       "not in a cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT "
                       "are not set");
    out->server = xasprintf(strchr(host, ':') ? "https://[%s]:%s" : "https://%s:%s", host, port);
    char *token = xasprintf("%s/token", dir), *ca = xasprintf("%s/ca.crt", dir),
         *ns = xasprintf("%s/namespace", dir);
    int rc = read_text(token, &out->token, err);
    if (!rc)
        rc = read_text(ca, &out->ca_pem, err);
    if (!rc && read_text(ns, &out->namespace, err) != 0)
        out->namespace = xstrdup("default");
    free(token);
    free(ca);
    free(ns);
    if (rc) {
        kube_conn_release(out);
        return rc;
    }
    out->token[strcspn(out->token, "\r\n")] = '\0';
    out->namespace[strcspn(out->namespace, "\r\n")] = '\0';
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Requests                                                                  */

enum kube_outcome kube_outcome_of(long status)
{
    if (status >= 200 && status < 300)
        return KUBE_OK;
    switch (status) {
    case 404:
        return KUBE_NOT_FOUND;
    case 409:
        return KUBE_CONFLICT;
    case 400:
    case 422:
        return KUBE_INVALID;
    case 401:
    case 403:
        return KUBE_FORBIDDEN;
    case 410:
        return KUBE_GONE;
    default:
        return KUBE_UNREACHABLE;
    }
}

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
    struct buf *b = arg;
    return buf_append(b, data, size * n) == 0 ? size * n : 0;
}

/* libcurl calls it about once a second, even while nothing comes. */
static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    const _Atomic bool *cancel = arg;
    return atomic_load(cancel) ? 1 : 0;
}

static CURL *easy_for(const struct kube_conn *c, const char *path, struct curl_slist **headers,
                      char errbuf[CURL_ERROR_SIZE])
{
    CURL *h = curl_easy_init();
    if (!h)
        return NULL;
    char *url = xasprintf("%s%s", c->server, path);
    curl_easy_setopt(h, CURLOPT_URL, url);
    free(url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, KUBE_CONNECT_TIMEOUT_S);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https,http");
    errbuf[0] = '\0';
    if (c->cancel) {
        curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(h, CURLOPT_XFERINFODATA, (void *)c->cancel);
    }
    if (c->ca_pem) {
        struct curl_blob ca = {
            .data = c->ca_pem, .len = strlen(c->ca_pem), .flags = CURL_BLOB_COPY};
        curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &ca);
    }
    if (c->insecure) {
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (c->cert_pem && c->key_pem) {
        struct curl_blob cert = {
            .data = c->cert_pem, .len = strlen(c->cert_pem), .flags = CURL_BLOB_COPY};
        struct curl_blob key = {
            .data = c->key_pem, .len = strlen(c->key_pem), .flags = CURL_BLOB_COPY};
        curl_easy_setopt(h, CURLOPT_SSLCERT_BLOB, &cert);
        curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
        curl_easy_setopt(h, CURLOPT_SSLKEY_BLOB, &key);
        curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
    }
    *headers = curl_slist_append(NULL, "Accept: application/json");
    if (c->token) {
        char *auth = xasprintf("Authorization: Bearer %s", c->token);
        *headers = curl_slist_append(*headers, auth);
        crypto_wipe(auth, strlen(auth));
        free(auth);
    }
    return h;
}

/* The server's own words: a Status object's message, else the HTTP status. */
static void describe_failure(long status, const json_t *body, const char *method, const char *path,
                             struct err *err)
{
    const char *msg = json_string_value(json_object_get(body, "message"));
    err_set(err, status == 404 ? ERR_NOTFOUND : ERR_INVALID, "%s %s: %ld %s", method, path, status,
            msg && *msg ? msg : "(no message)");
}

int kube_request(const struct kube_conn *c, const char *method, const char *path,
                 const json_t *body, const char *content_type, struct kube_reply *reply,
                 struct err *err)
{
    memset(reply, 0, sizeof(*reply));
    reply->outcome = KUBE_UNREACHABLE;
    char errbuf[CURL_ERROR_SIZE];
    struct curl_slist *headers = NULL;
    CURL *h = easy_for(c, path, &headers, errbuf);
    if (!h)
        return err_set(err, ERR_SYS(ENOMEM), "cannot start a request");
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    if (text) {
        char *ct = xasprintf("Content-Type: %s", content_type ? content_type : "application/json");
        headers = curl_slist_append(headers, ct);
        free(ct);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, text);
    }
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, KUBE_REQUEST_TIMEOUT_S);
    struct buf b;
    buf_init(&b, KUBE_BODY_MAX);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
    CURLcode cc = curl_easy_perform(h);
    int rc = 0;
    if (cc != CURLE_OK) {
        rc = err_set(err, ERR_SYS(ECONNREFUSED), "%s %s%s: %s", method, c->server, path,
                     errbuf[0] ? errbuf : curl_easy_strerror(cc));
    } else {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &reply->status);
        reply->outcome = kube_outcome_of(reply->status);
        reply->body = b.len ? json_loadb(b.ptr, b.len, 0, NULL) : NULL;
        if (reply->outcome != KUBE_OK) {
            describe_failure(reply->status, reply->body, method, path, err);
            rc = -1;
        }
    }
    buf_release(&b);
    free(text);
    curl_slist_free_all(headers);
    curl_easy_cleanup(h);
    return rc;
}

void kube_reply_release(struct kube_reply *r)
{
    json_decref(r->body);
    r->body = NULL;
}

/* ------------------------------------------------------------------------ */
/* Watches                                                                   */

struct watch_state {
    CURL *h;
    long status; /* once the headers came */
    struct buf line;
    kube_watch_fn fn;
    void *arg;
    bool stop;   /* fn asked to */
    bool gone;   /* an ERROR event with code 410 */
    bool failed; /* an ERROR event otherwise, or a line that is not JSON */
    char why[256];
};

static int watch_event(struct watch_state *w, const char *text, size_t len)
{
    json_t *ev = json_loadb(text, len, 0, NULL);
    const char *type = json_string_value(json_object_get(ev, "type"));
    json_t *object = json_object_get(ev, "object");
    if (!ev || !type || !json_is_object(object)) {
        snprintf(w->why, sizeof(w->why), "a watch event that is not JSON");
        w->failed = true;
    } else if (strcmp(type, "ERROR") == 0) {
        json_int_t code = json_integer_value(json_object_get(object, "code"));
        const char *msg = json_string_value(json_object_get(object, "message"));
        snprintf(w->why, sizeof(w->why), "%lld %s", (long long)code, msg ? msg : "");
        if (code == 410)
            w->gone = true;
        else
            w->failed = true;
    } else if (w->fn(w->arg, type, object) != 0) {
        w->stop = true;
    }
    json_decref(ev);
    return w->stop || w->gone || w->failed;
}

static size_t on_watch(char *data, size_t size, size_t n, void *arg)
{
    struct watch_state *w = arg;
    size_t total = size * n;
    if (buf_append(&w->line, data, total) != 0)
        return 0;
    if (!w->status)
        curl_easy_getinfo(w->h, CURLINFO_RESPONSE_CODE, &w->status);
    if (w->status != 200)
        return total; /* a Status object, not events: read whole below */
    char *nl;
    while ((nl = memchr(w->line.ptr, '\n', w->line.len))) {
        size_t len = (size_t)(nl - w->line.ptr);
        int end = len ? watch_event(w, w->line.ptr, len) : 0;
        memmove(w->line.ptr, nl + 1, w->line.len - len - 1);
        w->line.len -= len + 1;
        w->line.ptr[w->line.len] = '\0';
        if (end)
            return 0; /* ends the transfer */
    }
    return total;
}

int kube_watch(const struct kube_conn *c, const char *path, long timeout_s, kube_watch_fn fn,
               void *arg, enum kube_outcome *outcome, struct err *err)
{
    *outcome = KUBE_UNREACHABLE;
    char errbuf[CURL_ERROR_SIZE];
    struct curl_slist *headers = NULL;
    CURL *h = easy_for(c, path, &headers, errbuf);
    if (!h)
        return err_set(err, ERR_SYS(ENOMEM), "cannot start a watch");
    struct watch_state w = {.h = h, .fn = fn, .arg = arg};
    buf_init(&w.line, KUBE_BODY_MAX);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, timeout_s + KUBE_CONNECT_TIMEOUT_S);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_watch);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &w);
    CURLcode cc = curl_easy_perform(h);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    int rc = 0;
    if (w.gone) {
        *outcome = KUBE_GONE;
        rc = err_set(err, ERR_INVALID, "watch %s: %s", path, w.why);
    } else if (w.failed) {
        rc = err_set(err, ERR_INVALID, "watch %s: %s", path, w.why);
    } else if (status && kube_outcome_of(status) != KUBE_OK) {
        *outcome = kube_outcome_of(status);
        json_t *body = json_loadb(w.line.ptr, w.line.len, 0, NULL);
        describe_failure(status, body, "GET", path, err);
        json_decref(body);
        rc = -1;
    } else if (cc != CURLE_OK && cc != CURLE_OPERATION_TIMEDOUT && !w.stop) {
        rc = err_set(err, ERR_SYS(ECONNREFUSED), "watch %s%s: %s", c->server, path,
                     errbuf[0] ? errbuf : curl_easy_strerror(cc));
    } else {
        *outcome = KUBE_OK; /* it ended: the caller watches again */
    }
    buf_release(&w.line);
    curl_slist_free_all(headers);
    curl_easy_cleanup(h);
    return rc;
}
