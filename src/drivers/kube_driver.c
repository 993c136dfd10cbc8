/* kube_driver.c - the applying thread, the watch threads and their caches
 * (kube_driver.h). One lock guards the wanted versions and every cache; no
 * request is made while it is held. */
#include "drivers/kube_driver.h"
#include "base/alloc.h"
#include "base/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BACKOFF_FIRST_MS 500
#define BACKOFF_MAX_MS 30000
#define REFUSED_RETRY_MS 30000 /* a 403: the operator may grant the rights */
#define RESYNC_MS 300000       /* apply every version again, for what drifted */
#define WATCH_S 60             /* one watch call; then another from where it was */
#define EVENT_REPEAT_MAX 20    /* a folded event's count, passed on one by one */

enum watch_kind { W_DEPLOYMENTS, W_PODS, W_SLICES, W_EVENTS, W_KINDS };

static const char *const kind_name[W_KINDS] = {"deployments", "pods", "endpointslices", "events"};

struct want {
    char *id, *group, *region, *ns;
    char *spec, *hash, *models_config, *subpath, *token;
    int replicas;
    uint32_t cpu, mem;
    bool forget;        /* remove its objects, then this */
    uint64_t gen, done; /* what was asked, what was applied */
    bool busy;          /* the applier works on it now */
    bool applied;       /* made at least once */
    bool hpa_owns;      /* its spec has an HPA on CPU or memory only */
    uint64_t next_try_ms;
    int backoff_exp;
    char error[512]; /* the last apply's failure, "" when it succeeded */
    bool retrying;
    bool refused; /* forbidden or invalid */
    struct want *next;
};

struct watcher {
    struct drv_kube *d;
    const char *ns;
    enum watch_kind kind;
    pthread_t thread;
    bool started;
    json_t *objects; /* name -> object (W_EVENTS: uid -> count passed on) */
    bool listed;     /* the cache holds a whole list */
    char error[300]; /* the last list's or watch's failure, "" when none */
    bool first;      /* the first list since berthd started */
};

struct drv_kube {
    struct kube_conn conn;
    _Atomic bool stopping;
    char *owner, *runtime_image, *model_url, *model_ca, *model_pvc;
    bool host_network;
    struct drv_kube_namespace *namespaces;
    size_t nnamespaces;
    const char *hpa_api; /* static */
    char *slices_api;    /* /apis/discovery.k8s.io/v1 or v1beta1, NULL: none */
    void (*wake)(void *);
    void *wake_arg;
    void (*event)(void *, const struct drv_kube_event *);
    void *event_arg;
    int64_t started_s;

    pthread_mutex_t lock;
    pthread_cond_t cond; /* the applier's: work came, or stopping */
    struct want *wants;
    bool settled;
    pthread_t applier;
    bool applier_started;
    struct watcher *watchers;
    size_t nwatchers;
};

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static char *dup_or_null(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

static bool same(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static const json_t *meta_of(const json_t *o)
{
    return json_object_get(o, "metadata");
}

static const char *label_of(const json_t *o, const char *key)
{
    return kube_str(json_object_get(meta_of(o), "labels"), key);
}

/* Sleep up to 'ms', waking early when the driver stops. */
static void nap(struct drv_kube *d, uint64_t ms)
{
    for (uint64_t slept = 0; slept < ms && !atomic_load(&d->stopping); slept += 100) {
        struct timespec ts = {0, 100 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

static uint64_t backoff_ms(int exp)
{
    uint64_t ms = (uint64_t)BACKOFF_FIRST_MS << (exp < 6 ? exp : 6);
    return ms < BACKOFF_MAX_MS ? ms : BACKOFF_MAX_MS;
}

const char *drv_kube_namespace_of(const struct drv_kube *d, const char *region)
{
    const char *fallback = d->conn.namespace;
    for (size_t i = 0; i < d->nnamespaces; i++) {
        if (!d->namespaces[i].region)
            fallback = d->namespaces[i].name;
        else if (region && strcmp(d->namespaces[i].region, region) == 0)
            return d->namespaces[i].name;
    }
    return fallback;
}

static struct want *find_want(struct drv_kube *d, const char *id)
{
    for (struct want *w = d->wants; w; w = w->next)
        if (strcmp(w->id, id) == 0)
            return w;
    return NULL;
}

static void free_want(struct want *w)
{
    free(w->id);
    free(w->group);
    free(w->region);
    free(w->ns);
    free(w->spec);
    free(w->hash);
    free(w->models_config);
    free(w->subpath);
    free(w->token);
    free(w);
}

/* ------------------------------------------------------------------------ */
/* What the reconciler wants                                                */

static void set_field(char **field, const char *value, bool *changed)
{
    if (same(*field, value))
        return;
    free(*field);
    *field = dup_or_null(value);
    *changed = true;
}

void drv_kube_want(struct drv_kube *d, const struct drv_kube_want *in)
{
    pthread_mutex_lock(&d->lock);
    struct want *w = find_want(d, in->service_id);
    bool changed = false;
    if (!w) {
        w = xcalloc(1, sizeof(*w));
        w->id = xstrdup(in->service_id);
        w->next = d->wants;
        d->wants = w;
        changed = true;
    }
    if (w->forget) { /* wanted again before its removal ran */
        w->forget = false;
        changed = true;
    }
    set_field(&w->group, in->group_id, &changed);
    set_field(&w->region, in->region, &changed);
    set_field(&w->ns, drv_kube_namespace_of(d, in->region), &changed);
    set_field(&w->spec, in->run_spec, &changed);
    set_field(&w->hash, in->spec_hash, &changed);
    set_field(&w->models_config, in->models_config, &changed);
    set_field(&w->subpath, in->model_subpath, &changed);
    set_field(&w->token, in->token, &changed);
    if (w->replicas != in->replicas || w->cpu != in->cpu_millicores || w->mem != in->memory_mib) {
        w->replicas = in->replicas;
        w->cpu = in->cpu_millicores;
        w->mem = in->memory_mib;
        changed = true;
    }
    if (changed) {
        w->gen++;
        w->next_try_ms = 0; /* a new wish is tried at once */
        w->backoff_exp = 0;
        pthread_cond_signal(&d->cond);
    }
    pthread_mutex_unlock(&d->lock);
}

void drv_kube_forget(struct drv_kube *d, const char *service_id)
{
    pthread_mutex_lock(&d->lock);
    struct want *w = find_want(d, service_id);
    if (w && !w->forget) {
        w->forget = true;
        w->gen++;
        w->next_try_ms = 0;
        w->backoff_exp = 0;
        pthread_cond_signal(&d->cond);
    }
    pthread_mutex_unlock(&d->lock);
}

void drv_kube_settled(struct drv_kube *d)
{
    pthread_mutex_lock(&d->lock);
    d->settled = true;
    pthread_cond_signal(&d->cond);
    pthread_mutex_unlock(&d->lock);
}

/* ------------------------------------------------------------------------ */
/* The applier                                                              */

/* berthd's Deployments whose version nobody wants: left by a previous run
 * (deleted while berthd was down). In each namespace once it is listed. */
static void sweep(struct drv_kube *d)
{
    if (!d->settled)
        return;
    for (size_t i = 0; i < d->nwatchers; i++) {
        struct watcher *wt = &d->watchers[i];
        if (wt->kind != W_DEPLOYMENTS || !wt->listed)
            continue;
        const char *name;
        json_t *o;
        json_object_foreach(wt->objects, name, o)
        {
            const char *id = label_of(o, KUBE_LABEL_SERVICE);
            if (!*id || strcmp(label_of(o, KUBE_LABEL_OWNER), d->owner) != 0 || find_want(d, id))
                continue;
            log_info("kubernetes", "removing %s/%s: berthd has no version %s", wt->ns, name, id);
            struct want *w = xcalloc(1, sizeof(*w));
            w->id = xstrdup(id);
            w->ns = xstrdup(wt->ns);
            w->forget = true;
            w->gen = 1;
            w->next = d->wants;
            d->wants = w;
        }
    }
}

/* The version most due for work, or NULL with *wait_ms until the next. */
static struct want *next_due(struct drv_kube *d, uint64_t now, uint64_t *wait_ms)
{
    *wait_ms = RESYNC_MS;
    for (struct want *w = d->wants; w; w = w->next) {
        if (w->busy)
            continue;
        bool due = w->gen != w->done || (w->retrying && w->error[0]);
        if (!due && w->applied && !w->forget && now >= w->next_try_ms + RESYNC_MS)
            due = true, w->gen++; /* repair what drifted */
        if (!due)
            continue;
        if (now >= w->next_try_ms)
            return w;
        if (w->next_try_ms - now < *wait_ms)
            *wait_ms = w->next_try_ms - now;
    }
    return NULL;
}

/* A copy of a want, to work on without the lock. */
static struct want *snapshot(const struct want *w)
{
    struct want *c = xcalloc(1, sizeof(*c));
    *c = *w;
    c->id = xstrdup(w->id);
    c->group = dup_or_null(w->group);
    c->region = dup_or_null(w->region);
    c->ns = dup_or_null(w->ns);
    c->spec = dup_or_null(w->spec);
    c->hash = dup_or_null(w->hash);
    c->models_config = dup_or_null(w->models_config);
    c->subpath = dup_or_null(w->subpath);
    c->token = dup_or_null(w->token);
    c->next = NULL;
    return c;
}

static int apply_one(struct drv_kube *d, struct want *c, bool *hpa_owns, struct kube_result *res,
                     struct err *err)
{
    if (c->forget)
        return kube_version_delete(&d->conn, c->ns, c->id, d->owner, d->hpa_api, res, err);
    json_t *spec = json_loads(c->spec ? c->spec : "{}", 0, NULL);
    if (!spec) {
        res->outcome = KUBE_INVALID;
        res->retry = false;
        return err_set(err, ERR_INVALID, "the run spec is not JSON");
    }
    struct kube_version v = {.service_id = c->id,
                             .group_id = c->group,
                             .region = c->region,
                             .namespace = c->ns,
                             .owner = d->owner,
                             .spec_hash = c->hash,
                             .replicas = c->replicas,
                             .cpu_millicores = c->cpu,
                             .memory_mib = c->mem,
                             .runtime_image = d->runtime_image,
                             .models_config = c->models_config,
                             .model_url = d->model_pvc ? NULL : d->model_url,
                             .model_ca = d->model_ca,
                             .model_pvc = d->model_pvc,
                             .model_subpath = c->subpath,
                             .host_network = d->host_network};
    struct err hpa_err = {0};
    json_t *hpa = kube_hpa(&v, spec, d->hpa_api, &hpa_err);
    *hpa_owns = hpa != NULL;
    json_decref(hpa);
    int rc = kube_version_apply(&d->conn, &v, spec, c->token, d->hpa_api, res, err);
    json_decref(spec);
    return rc;
}

static void *applier_main(void *arg)
{
    struct drv_kube *d = arg;
    pthread_mutex_lock(&d->lock);
    while (!atomic_load(&d->stopping)) {
        sweep(d);
        uint64_t now = mono_ms(), wait_ms;
        struct want *w = next_due(d, now, &wait_ms);
        if (!w) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            uint64_t ns = (uint64_t)ts.tv_nsec + (wait_ms % 1000) * 1000000;
            ts.tv_sec += (time_t)(wait_ms / 1000 + ns / 1000000000);
            ts.tv_nsec = (long)(ns % 1000000000);
            pthread_cond_timedwait(&d->cond, &d->lock, &ts);
            continue;
        }
        struct want *c = snapshot(w);
        w->busy = true;
        pthread_mutex_unlock(&d->lock);
        struct kube_result res = {0};
        struct err err = {0};
        bool hpa_owns = false;
        int rc = apply_one(d, c, &hpa_owns, &res, &err);
        if (rc)
            log_warn("kubernetes", "%s %s/%s: %s%s", c->forget ? "removing" : "applying", c->ns,
                     c->id, err.msg, res.retry ? " (trying again)" : "");
        pthread_mutex_lock(&d->lock);
        w->busy = false;
        if (c->gen == w->gen || rc) /* else: asked again meanwhile; go on */
            w->done = c->gen;
        if (rc == 0) {
            w->error[0] = '\0';
            w->retrying = w->refused = false;
            w->backoff_exp = 0;
            w->next_try_ms = mono_ms();
            if (!c->forget) {
                w->applied = true;
                w->hpa_owns = hpa_owns;
            }
        } else {
            snprintf(w->error, sizeof(w->error), "%s", err.msg);
            /* Unreachable and conflicts by backoff; a refusal of rights
             * slowly (they may be granted); an invalid object when it
             * changes, or after a resync. */
            w->retrying = res.retry || res.outcome == KUBE_FORBIDDEN;
            w->refused = res.outcome == KUBE_FORBIDDEN || res.outcome == KUBE_INVALID;
            w->next_try_ms =
                mono_ms() + (res.retry ? backoff_ms(w->backoff_exp++) : REFUSED_RETRY_MS);
            if (c->gen != w->gen)
                w->next_try_ms = 0; /* a new wish came meanwhile: try it at once */
        }
        if (rc == 0 && c->forget && w->forget && c->gen == w->gen) {
            for (struct want **p = &d->wants; *p; p = &(*p)->next)
                if (*p == w) {
                    *p = w->next;
                    break;
                }
            free_want(w);
        }
        free_want(c);
        pthread_mutex_unlock(&d->lock);
        d->wake(d->wake_arg);
        pthread_mutex_lock(&d->lock);
    }
    pthread_mutex_unlock(&d->lock);
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* Watches                                                                  */

static char *collection(const struct watcher *wt)
{
    const struct drv_kube *d = wt->d;
    const char *group = wt->kind == W_DEPLOYMENTS ? "/apis/apps/v1"
                        : wt->kind == W_SLICES    ? d->slices_api
                                                  : "/api/v1";
    /* Deployments and pods carry the owner label; slices take the Service's
     * name label, events none: those are picked by name. */
    const char *query = wt->kind == W_SLICES   ? "?labelSelector=kubernetes.io%2Fservice-name"
                        : wt->kind == W_EVENTS ? "?"
                                               : "?labelSelector=" KUBE_LABEL_OWNER "%3D";
    bool owner = wt->kind == W_DEPLOYMENTS || wt->kind == W_PODS;
    return xasprintf("%s/namespaces/%s/%s%s%s", group, wt->ns, kind_name[wt->kind], query,
                     owner ? d->owner : "");
}

/* The wanted version an object of berthd's name belongs to: the longest id
 * that "berth-<id>" is, or begins with followed by '-'. */
static struct want *want_of_name(struct drv_kube *d, const char *ns, const char *name)
{
    if (strncmp(name, "berth-", 6) != 0)
        return NULL;
    name += 6;
    struct want *best = NULL;
    size_t best_len = 0;
    for (struct want *w = d->wants; w; w = w->next) {
        size_t n = strlen(w->id);
        if (w->forget || !w->ns || strcmp(w->ns, ns) != 0 || strncmp(name, w->id, n) != 0 ||
            (name[n] != '\0' && name[n] != '-') || n <= best_len)
            continue;
        best = w;
        best_len = n;
    }
    return best;
}

/* A Kubernetes event: passed on when it is new, or its count grew. The
 * first list after berthd starts passes on only what happened since; the
 * rest the previous berthd passed on. */
static void take_event(struct watcher *wt, const json_t *ev, bool from_list)
{
    struct drv_kube *d = wt->d;
    const char *uid = kube_str(meta_of(ev), "uid");
    const json_t *obj = json_object_get(ev, "involvedObject");
    if (!*uid)
        return;
    json_int_t count = json_integer_value(json_object_get(ev, "count"));
    if (count < 1)
        count = 1;
    json_int_t seen = json_integer_value(json_object_get(wt->objects, uid));
    json_object_set_new(wt->objects, uid, json_integer(count));
    if (seen >= count)
        return;
    if (from_list && wt->first && !seen) {
        const char *last = kube_str(ev, "lastTimestamp");
        if (!*last)
            last = kube_str(ev, "eventTime");
        struct tm tm = {0};
        if (strptime(last, "%Y-%m-%dT%H:%M:%S", &tm) && (int64_t)timegm(&tm) < d->started_s)
            return;
    }
    struct want *w = want_of_name(d, wt->ns, kube_str(obj, "name"));
    if (!w || !d->event)
        return;
    json_int_t n = count - seen;
    struct drv_kube_event out = {.region = w->region,
                                 .service_id = w->id,
                                 .kind = kube_str(obj, "kind"),
                                 .name = kube_str(obj, "name"),
                                 .type = *kube_str(ev, "type") ? kube_str(ev, "type") : "Normal",
                                 .reason = kube_str(ev, "reason"),
                                 .message = kube_str(ev, "message"),
                                 .count = n > EVENT_REPEAT_MAX ? EVENT_REPEAT_MAX : (int)n};
    if (*out.kind && *out.name && *out.reason && *out.message)
        d->event(d->event_arg, &out);
}

static void take_object(struct watcher *wt, const char *type, const json_t *o, bool from_list)
{
    if (wt->kind == W_EVENTS) {
        if (strcmp(type, "DELETED") != 0)
            take_event(wt, o, from_list);
        else
            json_object_del(wt->objects, kube_str(meta_of(o), "uid"));
        return;
    }
    const char *name = kube_str(meta_of(o), "name");
    if (!*name)
        return;
    if (wt->kind == W_SLICES && strncmp(label_of(o, "kubernetes.io/service-name"), "berth-", 6))
        return;
    if (strcmp(type, "DELETED") == 0) {
        /* A Deployment gone under a wanted version: make it again. */
        const char *id = wt->kind == W_DEPLOYMENTS ? label_of(o, KUBE_LABEL_SERVICE) : "";
        struct want *w = *id ? find_want(wt->d, id) : NULL;
        if (w && !w->forget) {
            w->gen++;
            w->next_try_ms = 0;
            pthread_cond_signal(&wt->d->cond);
        }
        json_object_del(wt->objects, name);
    } else {
        json_object_set(wt->objects, name, (json_t *)o);
        if (wt->kind == W_DEPLOYMENTS) /* one of no version: the sweep removes it */
            pthread_cond_signal(&wt->d->cond);
    }
}

struct watch_ctx {
    struct watcher *wt;
    char rv[64];
};

static int on_watch_event(void *arg, const char *type, json_t *object)
{
    struct watch_ctx *x = arg;
    struct drv_kube *d = x->wt->d;
    const char *rv = kube_str(meta_of(object), "resourceVersion");
    if (*rv)
        snprintf(x->rv, sizeof(x->rv), "%s", rv);
    if (strcmp(type, "BOOKMARK") == 0)
        return atomic_load(&d->stopping);
    pthread_mutex_lock(&d->lock);
    take_object(x->wt, type, object, false);
    pthread_mutex_unlock(&d->lock);
    d->wake(d->wake_arg);
    return atomic_load(&d->stopping);
}

static void watch_failed(struct watcher *wt, const char *what, const struct err *err)
{
    pthread_mutex_lock(&wt->d->lock);
    snprintf(wt->error, sizeof(wt->error), "%s %s: %s", what, kind_name[wt->kind], err->msg);
    pthread_mutex_unlock(&wt->d->lock);
    wt->d->wake(wt->d->wake_arg);
}

/* List into the cache; 0 with the list's resourceVersion in x->rv. */
static int relist(struct watcher *wt, const char *path, struct watch_ctx *x, struct err *err)
{
    struct drv_kube *d = wt->d;
    struct kube_reply r;
    int rc = kube_request(&d->conn, "GET", path, NULL, NULL, &r, err);
    if (rc == 0) {
        const json_t *items = json_object_get(r.body, "items");
        snprintf(x->rv, sizeof(x->rv), "%s",
                 kube_str(json_object_get(r.body, "metadata"), "resourceVersion"));
        pthread_mutex_lock(&d->lock);
        if (wt->kind != W_EVENTS)
            json_object_clear(wt->objects);
        size_t i;
        const json_t *o;
        json_array_foreach(items, i, o) take_object(wt, "ADDED", o, true);
        if (wt->kind == W_EVENTS) { /* the counts of the events that are left */
            json_t *keep = json_object();
            json_array_foreach(items, i, o)
            {
                const char *uid = kube_str(meta_of(o), "uid");
                json_t *count = json_object_get(wt->objects, uid);
                if (count)
                    json_object_set(keep, uid, count);
            }
            json_decref(wt->objects);
            wt->objects = keep;
        }
        wt->listed = true;
        wt->first = false;
        wt->error[0] = '\0';
        pthread_cond_signal(&d->cond); /* the sweep may run now */
        pthread_mutex_unlock(&d->lock);
        d->wake(d->wake_arg);
    }
    kube_reply_release(&r);
    return rc;
}

static void *watcher_main(void *arg)
{
    struct watcher *wt = arg;
    struct drv_kube *d = wt->d;
    char *path = collection(wt);
    int failures = 0;
    while (!atomic_load(&d->stopping)) {
        struct watch_ctx x = {.wt = wt};
        struct err err = {0};
        if (relist(wt, path, &x, &err) != 0) {
            if (!atomic_load(&d->stopping))
                watch_failed(wt, "cannot list", &err);
            nap(d, backoff_ms(failures++));
            continue;
        }
        failures = 0;
        while (!atomic_load(&d->stopping)) {
            char *watch = xasprintf("%s%swatch=1&allowWatchBookmarks=true&timeoutSeconds=%d"
                                    "&resourceVersion=%s",
                                    path, path[strlen(path) - 1] == '?' ? "" : "&", WATCH_S, x.rv);
            enum kube_outcome outcome;
            struct err werr = {0};
            int rc = kube_watch(&d->conn, watch, WATCH_S, on_watch_event, &x, &outcome, &werr);
            free(watch);
            if (rc == 0)
                continue; /* the server ended it: go on from x.rv */
            if (outcome != KUBE_GONE && !atomic_load(&d->stopping)) {
                log_warn("kubernetes", "watch of %s in %s: %s", kind_name[wt->kind], wt->ns,
                         werr.msg);
                watch_failed(wt, "cannot watch", &werr);
                nap(d, backoff_ms(failures++));
            }
            break; /* expired, or failed: list again */
        }
    }
    free(path);
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* Status and endpoints                                                     */

static const struct watcher *watcher_of(const struct drv_kube *d, const char *ns,
                                        enum watch_kind kind)
{
    for (size_t i = 0; i < d->nwatchers; i++)
        if (d->watchers[i].kind == kind && strcmp(d->watchers[i].ns, ns) == 0)
            return &d->watchers[i];
    return NULL;
}

void drv_kube_status(struct drv_kube *d, const char *service_id, struct drv_kube_status *out)
{
    memset(out, 0, sizeof(*out));
    char name[KUBE_NAME_MAX];
    struct err err = {0};
    if (kube_object_name(service_id, name, &err) != 0)
        snprintf(name, sizeof(name), "-");
    pthread_mutex_lock(&d->lock);
    const struct want *w = find_want(d, service_id);
    const char *ns = w && w->ns ? w->ns : "";
    const struct watcher *dw = watcher_of(d, ns, W_DEPLOYMENTS);
    const struct watcher *pw = watcher_of(d, ns, W_PODS);
    json_t *deployment = dw ? json_object_get(dw->objects, name) : NULL;
    json_t *pods = json_array();
    const char *key;
    json_t *o;
    if (pw)
        json_object_foreach(pw->objects, key, o)
        {
            if (strcmp(label_of(o, KUBE_LABEL_SERVICE), service_id) == 0)
                json_array_append(pods, o);
        }
    int desired = w ? w->replicas : 0;
    if (w) {
        out->applied = w->applied;
        out->hpa_owns = w->hpa_owns;
        out->failed = w->error[0] != '\0';
        out->retrying = w->retrying;
        out->refused = w->refused;
        snprintf(out->reason, sizeof(out->reason), "%s", w->error);
    }
    if (out->hpa_owns && deployment && desired > 0)
        desired = (int)json_integer_value(
            json_object_get(json_object_get(deployment, "spec"), "replicas"));
    for (size_t i = 0; !out->reason[0] && i < d->nwatchers; i++)
        if (strcmp(d->watchers[i].ns, ns) == 0 && d->watchers[i].error[0] &&
            d->watchers[i].kind != W_EVENTS)
            snprintf(out->reason, sizeof(out->reason), "%s", d->watchers[i].error);
    json_incref(deployment);
    pthread_mutex_unlock(&d->lock);
    kube_observe(deployment, pods, desired, &out->obs);
    json_decref(deployment);
    json_decref(pods);
}

struct drv_kube_endpoint *drv_kube_endpoints(struct drv_kube *d, const char *service_id, size_t *n)
{
    char name[KUBE_NAME_MAX];
    struct err err = {0};
    *n = 0;
    struct drv_kube_endpoint *out = NULL;
    if (kube_object_name(service_id, name, &err) != 0)
        return xcalloc(1, sizeof(*out));
    size_t cap = 0;
    pthread_mutex_lock(&d->lock);
    const struct want *w = find_want(d, service_id);
    const struct watcher *sw = w && w->ns ? watcher_of(d, w->ns, W_SLICES) : NULL;
    const char *key;
    json_t *slice;
    if (sw)
        json_object_foreach(sw->objects, key, slice)
        {
            if (strcmp(label_of(slice, "kubernetes.io/service-name"), name) != 0)
                continue;
            int port = 0;
            size_t i;
            const json_t *p, *ep;
            json_array_foreach(json_object_get(slice, "ports"), i, p)
            {
                if (!port || !strcmp(kube_str(p, "name"), "http"))
                    port = (int)json_integer_value(json_object_get(p, "port"));
            }
            if (port <= 0)
                continue;
            json_array_foreach(json_object_get(slice, "endpoints"), i, ep)
            {
                /* A missing condition means ready (both API versions say so). */
                const json_t *ready = json_object_get(json_object_get(ep, "conditions"), "ready");
                const char *addr =
                    json_string_value(json_array_get(json_object_get(ep, "addresses"), 0));
                if (json_is_false(ready) || !addr)
                    continue;
                if (*n == cap)
                    out = xrealloc(out, (cap = cap ? cap * 2 : 4) * sizeof(*out));
                snprintf(out[*n].host, sizeof(out[*n].host), "%s", addr);
                out[(*n)++].port = port;
            }
        }
    pthread_mutex_unlock(&d->lock);
    return out ? out : xcalloc(1, sizeof(*out));
}

/* ------------------------------------------------------------------------ */
/* Start and end                                                            */

/* The EndpointSlice API the server serves: v1 (1.21 on), else v1beta1. */
static char *slices_api_of(const struct kube_conn *c, struct err *err)
{
    static const char *const apis[] = {"discovery.k8s.io/v1", "discovery.k8s.io/v1beta1"};
    const char *api = kube_served_api(c, apis, 2, "discovery.k8s.io EndpointSlices", err);
    return api ? xasprintf("/apis/%s", api) : NULL;
}

int drv_kube_new(const struct drv_kube_cfg *cfg, struct kube_conn *conn, struct drv_kube **out,
                 struct err *err)
{
    struct drv_kube *d = xcalloc(1, sizeof(*d));
    d->conn = *conn;
    memset(conn, 0, sizeof(*conn));
    d->conn.cancel = &d->stopping;
    d->owner = xstrdup(cfg->owner);
    d->runtime_image = dup_or_null(cfg->runtime_image);
    d->model_url = dup_or_null(cfg->model_url);
    d->model_ca = dup_or_null(cfg->model_ca);
    d->model_pvc = dup_or_null(cfg->model_pvc);
    d->host_network = cfg->host_network;
    d->wake = cfg->wake;
    d->wake_arg = cfg->wake_arg;
    d->event = cfg->event;
    d->event_arg = cfg->event_arg;
    d->started_s = (int64_t)time(NULL);
    pthread_mutex_init(&d->lock, NULL);
    pthread_cond_init(&d->cond, NULL);
    d->namespaces = xcalloc(cfg->nnamespaces + 1, sizeof(*d->namespaces));
    for (size_t i = 0; i < cfg->nnamespaces; i++) {
        d->namespaces[i].region = dup_or_null(cfg->namespaces[i].region);
        d->namespaces[i].name = xstrdup(cfg->namespaces[i].name);
    }
    d->nnamespaces = cfg->nnamespaces;
    d->hpa_api = kube_hpa_api(&d->conn, err);
    if (d->hpa_api)
        d->slices_api = slices_api_of(&d->conn, err);
    if (!d->hpa_api || !d->slices_api) {
        err_prefix(err, "the Kubernetes API server %s: ", d->conn.server);
        drv_kube_free(d);
        return -1;
    }
    /* The namespaces in use: each region's, and the default. */
    const char **names = xcalloc(d->nnamespaces + 1, sizeof(*names));
    size_t nnames = 0;
    for (size_t i = 0; i <= d->nnamespaces; i++) {
        const char *ns =
            i < d->nnamespaces ? d->namespaces[i].name : drv_kube_namespace_of(d, NULL);
        bool dup = false;
        for (size_t k = 0; k < nnames; k++)
            dup |= strcmp(names[k], ns) == 0;
        if (!dup)
            names[nnames++] = ns;
    }
    d->watchers = xcalloc(nnames * W_KINDS, sizeof(*d->watchers));
    for (size_t i = 0; i < nnames; i++)
        for (int k = 0; k < W_KINDS; k++) {
            struct watcher *wt = &d->watchers[d->nwatchers++];
            wt->d = d;
            wt->ns = names[i];
            wt->kind = (enum watch_kind)k;
            wt->objects = json_object();
            wt->first = true;
        }
    free(names);
    *out = d;
    return 0;
}

int drv_kube_start(struct drv_kube *d, struct err *err)
{
    int rc = pthread_create(&d->applier, NULL, applier_main, d);
    d->applier_started = rc == 0;
    for (size_t i = 0; rc == 0 && i < d->nwatchers; i++) {
        rc = pthread_create(&d->watchers[i].thread, NULL, watcher_main, &d->watchers[i]);
        d->watchers[i].started = rc == 0;
    }
    if (rc != 0)
        return err_set(err, ERR_SYS(rc), "cannot start the Kubernetes driver's threads");
    return 0;
}

void drv_kube_free(struct drv_kube *d)
{
    if (!d)
        return;
    atomic_store(&d->stopping, true);
    pthread_mutex_lock(&d->lock);
    pthread_cond_broadcast(&d->cond);
    pthread_mutex_unlock(&d->lock);
    if (d->applier_started)
        pthread_join(d->applier, NULL);
    for (size_t i = 0; i < d->nwatchers; i++) {
        if (d->watchers[i].started)
            pthread_join(d->watchers[i].thread, NULL);
        json_decref(d->watchers[i].objects);
    }
    free(d->watchers);
    while (d->wants) {
        struct want *w = d->wants;
        d->wants = w->next;
        free_want(w);
    }
    for (size_t i = 0; i < d->nnamespaces; i++) {
        free((char *)d->namespaces[i].region);
        free((char *)d->namespaces[i].name);
    }
    free(d->namespaces);
    free(d->owner);
    free(d->runtime_image);
    free(d->model_url);
    free(d->model_ca);
    free(d->model_pvc);
    free(d->slices_api);
    kube_conn_release(&d->conn);
    pthread_mutex_destroy(&d->lock);
    pthread_cond_destroy(&d->cond);
    free(d);
}
