/* kubernetes.c - applying, scaling and removing a version's objects, and
 * reading its status (kubernetes.h). Each object is read first: absent, it
 * is created; present and berthd's, it is replaced when its spec-hash
 * annotation differs, with the resourceVersion read so that a concurrent
 * change answers 409 and is read again; present and not berthd's, the call
 * fails saying so. */
#include "drivers/kubernetes.h"
#include "base/alloc.h"
#include "base/crypto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONFLICT_TRIES 4

static const char *label_of(const json_t *obj, const char *key)
{
    return kube_str(json_object_get(json_object_get(obj, "metadata"), "labels"), key);
}

static const char *annotation_of(const json_t *obj, const char *key)
{
    return kube_str(json_object_get(json_object_get(obj, "metadata"), "annotations"), key);
}

static int fail(struct kube_result *res, enum kube_outcome outcome, bool retry)
{
    res->outcome = outcome;
    res->retry = retry;
    return -1;
}

/* The outcome of a failed request, with 'retry' where trying later can help. */
static int failed_request(const struct kube_reply *reply, struct kube_result *res)
{
    enum kube_outcome o = reply->outcome;
    return fail(res, o, o == KUBE_UNREACHABLE || o == KUBE_CONFLICT);
}

const char *kube_served_api(const struct kube_conn *c, const char *const *apis, size_t n,
                            const char *what, struct err *err)
{
    for (size_t i = 0; i < n; i++) {
        char path[96];
        snprintf(path, sizeof(path), "/apis/%s", apis[i]);
        struct kube_reply r;
        int rc = kube_request(c, "GET", path, NULL, NULL, &r, err);
        enum kube_outcome o = r.outcome;
        kube_reply_release(&r);
        if (rc == 0)
            return apis[i];
        if (o != KUBE_NOT_FOUND)
            return NULL;
    }
    err_set(err, ERR_UNSUPPORTED, "the API server serves no %s", what);
    return NULL;
}

const char *kube_hpa_api(const struct kube_conn *c, struct err *err)
{
    static const char *const apis[] = {"autoscaling/v2", "autoscaling/v2beta2"};
    return kube_served_api(c, apis, 2, "autoscaling/v2 or autoscaling/v2beta2", err);
}

/* Replace 'have' by 'want': what the server set that a PUT must carry. */
static void carry_over(const json_t *have, json_t *want, bool keep_replicas)
{
    json_t *meta = json_object_get(want, "metadata");
    json_object_set(meta, "resourceVersion",
                    json_object_get(json_object_get(have, "metadata"), "resourceVersion"));
    json_t *hs = json_object_get(have, "spec"), *ws = json_object_get(want, "spec");
    /* A Service keeps the address it was given. */
    static const char *const kept[] = {"clusterIP", "clusterIPs"};
    for (size_t i = 0; i < sizeof(kept) / sizeof(kept[0]); i++)
        if (json_object_get(hs, kept[i]) && !strcmp(kube_str(want, "kind"), "Service"))
            json_object_set(ws, kept[i], json_object_get(hs, kept[i]));
    if (keep_replicas && json_object_get(hs, "replicas"))
        json_object_set(ws, "replicas", json_object_get(hs, "replicas"));
}

/* Bring the object 'want' at collection/name in line; *have_out (may be
 * NULL) gets the object as the server holds it afterwards. */
static int ensure(const struct kube_conn *c, const char *collection, const char *owner,
                  const char *hash, json_t *want, bool keep_replicas, json_t **have_out,
                  struct kube_result *res, struct err *err)
{
    const char *name = kube_str(json_object_get(want, "metadata"), "name");
    json_t *meta = json_object_get(want, "metadata");
    json_t *ann = json_object_get(meta, "annotations");
    if (!ann)
        json_object_set_new(meta, "annotations", ann = json_object());
    json_object_set_new(ann, KUBE_SPEC_HASH, json_string(hash));
    char *path = xasprintf("%s/%s", collection, name);
    int rc = -1;
    for (int attempt = 0; attempt < CONFLICT_TRIES; attempt++) {
        struct kube_reply r;
        if (kube_request(c, "GET", path, NULL, NULL, &r, err) != 0) {
            if (r.outcome != KUBE_NOT_FOUND) {
                rc = failed_request(&r, res);
                kube_reply_release(&r);
                break;
            }
            kube_reply_release(&r);
            rc = kube_request(c, "POST", collection, want, NULL, &r, err);
            if (rc != 0 && r.outcome == KUBE_CONFLICT) {
                kube_reply_release(&r); /* made meanwhile: read it */
                continue;
            }
        } else {
            json_t *have = r.body;
            r.body = NULL;
            kube_reply_release(&r);
            if (strcmp(label_of(have, KUBE_LABEL_OWNER), owner) != 0) {
                err_set(err, ERR_INVALID,
                        "%s '%s' exists and is not this berthd's (its label %s is '%s'): "
                        "left as it is",
                        kube_str(have, "kind"), name, KUBE_LABEL_OWNER,
                        label_of(have, KUBE_LABEL_OWNER));
                json_decref(have);
                rc = fail(res, KUBE_CONFLICT, false);
                break;
            }
            if (strcmp(annotation_of(have, KUBE_SPEC_HASH), hash) == 0) {
                if (have_out)
                    *have_out = have;
                else
                    json_decref(have);
                rc = 0;
                break;
            }
            carry_over(have, want, keep_replicas);
            json_decref(have);
            rc = kube_request(c, "PUT", path, want, NULL, &r, err);
            if (rc != 0 && r.outcome == KUBE_CONFLICT) {
                kube_reply_release(&r); /* changed since read: read again */
                continue;
            }
        }
        if (rc != 0)
            failed_request(&r, res);
        else if (have_out)
            *have_out = json_incref(r.body);
        kube_reply_release(&r);
        break;
    }
    if (rc != 0 && res->outcome == KUBE_OK)
        fail(res, KUBE_CONFLICT, true); /* conflicts every time */
    free(path);
    return rc;
}

/* Delete collection/name if it is this berthd's; absent is done. */
static int remove_owned(const struct kube_conn *c, const char *collection, const char *name,
                        const char *owner, struct kube_result *res, struct err *err)
{
    char *path = xasprintf("%s/%s", collection, name);
    struct kube_reply r;
    int rc = kube_request(c, "GET", path, NULL, NULL, &r, err);
    if (rc != 0) {
        rc = r.outcome == KUBE_NOT_FOUND ? 0 : failed_request(&r, res);
    } else if (strcmp(label_of(r.body, KUBE_LABEL_OWNER), owner) != 0) {
        rc = 0; /* not ours: never touched */
    } else {
        kube_reply_release(&r);
        /* The pods go with their Deployment, in the background. */
        json_t *opts = json_pack("{s:s, s:s, s:s}", "kind", "DeleteOptions", "apiVersion", "v1",
                                 "propagationPolicy", "Background");
        rc = kube_request(c, "DELETE", path, opts, NULL, &r, err);
        json_decref(opts);
        if (rc != 0)
            rc = r.outcome == KUBE_NOT_FOUND ? 0 : failed_request(&r, res);
    }
    kube_reply_release(&r);
    free(path);
    return rc;
}

/* 16 hex digits of the SHA-256 of an object's canonical JSON. */
static void hash_of(const json_t *o, char out[17])
{
    char *text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    uint8_t h[CRYPTO_SHA256_BYTES];
    crypto_sha256(text ? text : "", text ? strlen(text) : 0, h);
    crypto_hex(h, 8, out);
    out[16] = '\0';
    free(text);
}

static char *collection_of(const char *group, const char *namespace, const char *resource)
{
    return xasprintf("%s/namespaces/%s/%s", group, namespace, resource);
}

int kube_version_apply(const struct kube_conn *c, const struct kube_version *v, const json_t *spec,
                       const char *token, const char *hpa_api, struct kube_result *res,
                       struct err *err)
{
    res->outcome = KUBE_OK;
    res->retry = false;
    bool runtime = *kube_str(spec, "Runtime") != '\0';
    json_t *deployment = kube_deployment(v, spec, err);
    if (!deployment)
        return fail(res, KUBE_INVALID, false);
    json_t *service = kube_service(v, spec, err);
    struct err hpa_err = {0};
    json_t *hpa = hpa_api ? kube_hpa(v, spec, hpa_api, &hpa_err) : NULL;
    if (hpa_err.msg[0]) { /* refused, rather than none asked for */
        *err = hpa_err;
        json_decref(deployment);
        json_decref(service);
        return fail(res, KUBE_INVALID, false);
    }
    if (v->replicas == 0) { /* stopped: no autoscaler to bring it back */
        json_decref(hpa);
        hpa = NULL;
    }
    char *hpa_group = hpa_api ? xasprintf("/apis/%s", hpa_api) : NULL;
    char *secrets = collection_of("/api/v1", v->namespace, "secrets");
    char *services = collection_of("/api/v1", v->namespace, "services");
    char *deployments = collection_of("/apis/apps/v1", v->namespace, "deployments");
    char *hpas =
        hpa_group ? collection_of(hpa_group, v->namespace, "horizontalpodautoscalers") : NULL;
    free(hpa_group);
    int rc = 0;
    /* The Secret and Service first: the pods the Deployment makes need the one,
     * and the gateway's slices follow the other. */
    if (runtime) {
        json_t *secret = kube_model_secret(v, token, err);
        rc = ensure(c, secrets, v->owner, v->spec_hash, secret, false, NULL, res, err);
        json_decref(secret);
    }
    if (!rc)
        rc = ensure(c, services, v->owner, v->spec_hash, service, false, NULL, res, err);
    json_t *have = NULL;
    if (!rc)
        rc = ensure(c, deployments, v->owner, v->spec_hash, deployment, hpa != NULL, &have, res,
                    err);
    if (!rc) {
        /* The autoscaler sets the count, but does not scale from 0: a
         * resumed version starts from its own. */
        json_int_t now =
            json_integer_value(json_object_get(json_object_get(have, "spec"), "replicas"));
        if (now != v->replicas && (!hpa || now == 0))
            rc = kube_version_scale(c, v->namespace, v->service_id, v->replicas, res, err);
    }
    if (!rc && hpa_api) {
        char name[KUBE_NAME_MAX];
        kube_object_name(v->service_id, name, err);
        /* Its own hash: a new target or bound changes it, and not the pods. */
        char hpa_hash[17];
        if (hpa)
            hash_of(json_object_get(hpa, "spec"), hpa_hash);
        rc = hpa ? ensure(c, hpas, v->owner, hpa_hash, hpa, false, NULL, res, err)
                 : remove_owned(c, hpas, name, v->owner, res, err);
    }
    json_decref(have);
    json_decref(deployment);
    json_decref(service);
    json_decref(hpa);
    free(secrets);
    free(services);
    free(deployments);
    free(hpas);
    return rc;
}

int kube_version_scale(const struct kube_conn *c, const char *namespace, const char *service_id,
                       int replicas, struct kube_result *res, struct err *err)
{
    char name[KUBE_NAME_MAX];
    if (kube_object_name(service_id, name, err))
        return fail(res, KUBE_INVALID, false);
    char *path = xasprintf("/apis/apps/v1/namespaces/%s/deployments/%s/scale", namespace, name);
    json_t *patch = json_pack("{s:{s:i}}", "spec", "replicas", replicas);
    struct kube_reply r;
    int rc = kube_request(c, "PATCH", path, patch, "application/merge-patch+json", &r, err);
    if (rc != 0)
        failed_request(&r, res);
    kube_reply_release(&r);
    json_decref(patch);
    free(path);
    return rc;
}

int kube_version_delete(const struct kube_conn *c, const char *namespace, const char *service_id,
                        const char *owner, const char *hpa_api, struct kube_result *res,
                        struct err *err)
{
    res->outcome = KUBE_OK;
    res->retry = false;
    char name[KUBE_NAME_MAX], secret[KUBE_NAME_MAX + 8];
    if (kube_object_name(service_id, name, err))
        return fail(res, KUBE_INVALID, false);
    snprintf(secret, sizeof(secret), "%s-model", name);
    char *hpa_group = hpa_api ? xasprintf("/apis/%s", hpa_api) : NULL;
    struct {
        char *collection;
        const char *name;
    } objects[] = {
        {hpa_group ? collection_of(hpa_group, namespace, "horizontalpodautoscalers") : NULL, name},
        {collection_of("/apis/apps/v1", namespace, "deployments"), name},
        {collection_of("/api/v1", namespace, "services"), name},
        {collection_of("/api/v1", namespace, "secrets"), secret},
    };
    int rc = 0;
    for (size_t i = 0; i < sizeof(objects) / sizeof(objects[0]); i++) {
        if (!rc && objects[i].collection)
            rc = remove_owned(c, objects[i].collection, objects[i].name, owner, res, err);
        free(objects[i].collection);
    }
    free(hpa_group);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Status                                                                    */

static bool condition_true(const json_t *status, const char *type)
{
    size_t i;
    const json_t *cond;
    json_array_foreach(json_object_get(status, "conditions"), i, cond)
    {
        if (!strcmp(kube_str(cond, "type"), type))
            return !strcmp(kube_str(cond, "status"), "True");
    }
    return false;
}

/* A container that waits for a reason other than starting, or that last
 * ended in error: what a user must see (ImagePullBackOff, CrashLoopBackOff,
 * OOMKilled ...). */
static bool pod_trouble(const json_t *status, char *out, size_t size)
{
    static const char *const lists[] = {"initContainerStatuses", "containerStatuses"};
    for (size_t l = 0; l < 2; l++) {
        size_t i;
        const json_t *cs;
        json_array_foreach(json_object_get(status, lists[l]), i, cs)
        {
            const json_t *state = json_object_get(cs, "state");
            const json_t *waiting = json_object_get(state, "waiting");
            const json_t *last = json_object_get(json_object_get(cs, "lastState"), "terminated");
            const char *reason = kube_str(waiting, "reason");
            if (*reason && strcmp(reason, "ContainerCreating") &&
                strcmp(reason, "PodInitializing")) {
                snprintf(out, size, "%s: %s%s%s", kube_str(cs, "name"), reason,
                         *kube_str(waiting, "message") ? ": " : "", kube_str(waiting, "message"));
                return true;
            }
            if (last && json_integer_value(json_object_get(last, "exitCode")) != 0 &&
                !json_object_get(state, "running")) {
                snprintf(out, size, "%s: %s (exit %lld)", kube_str(cs, "name"),
                         *kube_str(last, "reason") ? kube_str(last, "reason") : "exited",
                         (long long)json_integer_value(json_object_get(last, "exitCode")));
                return true;
            }
        }
    }
    return false;
}

void kube_observe(const json_t *deployment, const json_t *pods, int desired,
                  struct kube_observed *out)
{
    memset(out, 0, sizeof(*out));
    out->desired = desired;
    size_t n = json_array_size(pods);
    out->pods = xcalloc(n ? n : 1, sizeof(*out->pods));
    bool trouble = false, terminating = false;
    size_t i;
    const json_t *pod;
    json_array_foreach(pods, i, pod)
    {
        const json_t *meta = json_object_get(pod, "metadata");
        const json_t *st = json_object_get(pod, "status");
        struct kube_pod *p = &out->pods[out->npods++];
        snprintf(p->name, sizeof(p->name), "%s", kube_str(meta, "name"));
        bool deleting = json_object_get(meta, "deletionTimestamp") != NULL;
        snprintf(p->phase, sizeof(p->phase), "%s",
                 deleting                 ? "Terminating"
                 : *kube_str(st, "phase") ? kube_str(st, "phase")
                                          : "Pending");
        p->ready = !deleting && condition_true(st, "Ready");
        snprintf(p->ip, sizeof(p->ip), "%s", kube_str(st, "podIP"));
        snprintf(p->start_time, sizeof(p->start_time), "%s", kube_str(st, "startTime"));
        const json_t *cs;
        size_t k;
        json_array_foreach(json_object_get(st, "containerStatuses"), k, cs) p->restarts +=
            (int)json_integer_value(json_object_get(cs, "restartCount"));
        if (!strcmp(p->phase, "Failed")) {
            snprintf(p->reason, sizeof(p->reason), "%s",
                     *kube_str(st, "message") ? kube_str(st, "message") : kube_str(st, "reason"));
            trouble = true;
        } else if (pod_trouble(st, p->reason, sizeof(p->reason))) {
            trouble = true;
        }
        if (trouble && !out->reason[0])
            snprintf(out->reason, sizeof(out->reason), "pod %s: %s", p->name, p->reason);
        terminating |= deleting;
        out->replicas += !deleting;
        out->ready += p->ready;
    }
    const json_t *ds = json_object_get(deployment, "status");
    out->updated = (int)json_integer_value(json_object_get(ds, "updatedReplicas"));
    const char *st;
    if (!deployment)
        st = "Pending";
    else if (desired == 0)
        st = out->replicas || terminating ? "Stopping" : "Stopped";
    else if (trouble)
        st = "Abnormal";
    else if (out->ready >= desired)
        st = "Normal";
    else if (out->replicas)
        st = "Waiting";
    else
        st = "Pending";
    if (deployment && !trouble && desired > 0) {
        /* The controller's own word when it cannot make pods (quota, ...). */
        size_t k;
        const json_t *cond;
        json_array_foreach(json_object_get(ds, "conditions"), k, cond)
        {
            if ((!strcmp(kube_str(cond, "type"), "ReplicaFailure") &&
                 !strcmp(kube_str(cond, "status"), "True")) ||
                (!strcmp(kube_str(cond, "type"), "Progressing") &&
                 !strcmp(kube_str(cond, "reason"), "ProgressDeadlineExceeded"))) {
                st = "Abnormal";
                snprintf(out->reason, sizeof(out->reason), "%s: %s", kube_str(cond, "reason"),
                         kube_str(cond, "message"));
            }
        }
    }
    snprintf(out->status, sizeof(out->status), "%s", st);
}
