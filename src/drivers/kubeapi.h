/* kubeapi.h - how berthd reaches a Kubernetes API server: the connection
 * (server, CA, credentials, namespace) from a kubeconfig file's current
 * context or from a pod's service account, and one request at a time over
 * libcurl with JSON bodies. A failed request says what failed in the
 * server's own words (its Status message) and whether trying again can help.
 * Blocking: for the driver's threads, never the main loop. */
#ifndef BERTH_DRIVERS_KUBEAPI_H
#define BERTH_DRIVERS_KUBEAPI_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"

#define KUBE_IN_CLUSTER_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

struct kube_conn {
    char *server;             /* https://host:port, no trailing '/' */
    char *ca_pem;             /* the cluster's CA; NULL: the system's */
    char *token;              /* bearer token; NULL: none */
    char *cert_pem, *key_pem; /* client certificate; NULL: none */
    bool insecure;            /* insecure-skip-tls-verify */
    char *namespace;          /* the context's, else "default" */
    /* When it becomes true, requests and watches in flight end within a
     * second as failed (NULL: never); not owned. */
    const _Atomic bool *cancel;
};

/* The current context of the kubeconfig at 'path' (YAML or JSON), with its
 * files and inline data read. Exec and auth-provider plugins are refused. */
int kube_conn_from_kubeconfig(const char *path, struct kube_conn *out, struct err *err);
/* The pod's service account under 'dir' (KUBE_IN_CLUSTER_DIR; token, ca.crt,
 * namespace) and KUBERNETES_SERVICE_HOST/PORT. */
int kube_conn_in_cluster(const char *dir, struct kube_conn *out, struct err *err);
void kube_conn_release(struct kube_conn *c);

/* What a request ended in. */
enum kube_outcome {
    KUBE_OK,          /* 2xx */
    KUBE_NOT_FOUND,   /* 404 */
    KUBE_CONFLICT,    /* 409: exists, or changed since read */
    KUBE_INVALID,     /* 422 or 400: the object is refused; trying again does not help */
    KUBE_FORBIDDEN,   /* 401 or 403 */
    KUBE_GONE,        /* 410: a watch's resourceVersion expired */
    KUBE_UNREACHABLE, /* no answer, or 5xx, 429: try again later */
};

struct kube_reply {
    long status; /* HTTP status; 0 when none came */
    enum kube_outcome outcome;
    json_t *body; /* the JSON answer, NULL when none */
};

/* 'method' 'path' (from /api or /apis) with 'body' (NULL: none) as JSON;
 * PATCH sends 'content_type' (merge or strategic merge patch). Returns 0
 * when the server answered 2xx; otherwise -1 with 'err' saying what the
 * server or the connection said, and 'reply' filled either way. */
int kube_request(const struct kube_conn *c, const char *method, const char *path,
                 const json_t *body, const char *content_type, struct kube_reply *reply,
                 struct err *err);
void kube_reply_release(struct kube_reply *r);

/* One watch: each event line of 'path' (with watch=1) goes to fn(arg, type,
 * object) until fn returns non-zero, the server ends it, or 'timeout_s'
 * passes. Returns 0 when it ended that way; -1 with 'err' (outcome in
 * *outcome) when it failed, KUBE_GONE when the resourceVersion expired. */
typedef int (*kube_watch_fn)(void *arg, const char *type, json_t *object);
int kube_watch(const struct kube_conn *c, const char *path, long timeout_s, kube_watch_fn fn,
               void *arg, enum kube_outcome *outcome, struct err *err);

/* The outcome of an HTTP status (pure, for the above and the tests). */
enum kube_outcome kube_outcome_of(long status);
/* A YAML document (the kubeconfig subset: maps, lists, scalars as strings) as
 * JSON; pure, for the above and the tests. */
json_t *kube_yaml_to_json(const char *text, size_t len, struct err *err);

#endif
