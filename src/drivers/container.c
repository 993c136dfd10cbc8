/* container.c - the container driver's threads. A runner per container does
 * the long, blocking engine calls in order (pull, create, start, follow the
 * output, inspect, remove); stop requests get helper threads of their own,
 * because the runner is blocked in the output stream while the container
 * runs. The runner's last act is the EXITED report, so once the owner has
 * it, joining the runner is immediate. */
#include "drivers/container.h"
#include "base/alloc.h"
#include "base/log.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PROGRESS_EVERY_MS 500
#define MAX_HELPERS 4

enum ct_mode { CT_RUN, CT_ADOPT, CT_REMOVE };

struct report_node {
    struct drv_ct_report rep;
    struct drv_container *ct;
    struct report_node *next;
};

struct drv_container {
    struct drv_containers *d;
    enum ct_mode mode;
    /* The spec, copied. */
    char *name, *image, *service_id, *spec_hash, *model_path;
    int index;
    char **cmd, **env, **prestop, **binds;
    int host_port, container_port;
    bool local;
    double cpus;
    uint64_t memory_bytes, grace_ms;
    int out_fd, err_fd;
    void *data;

    /* Threads are detached; each holds a reference, and so does the owner
     * until it has the EXITED report. The last one frees (ct_unref). */
    int refs;
    int nhelpers;
    /* Under d->lock. */
    char id[72];
    int pid;
    bool stop_asked, kill_asked, graceful_sent;
    bool reported_exit;
    struct drv_container *next; /* d->all */
};

struct drv_containers {
    char *socket, *owner;
    struct drv_registry_auth *auths;
    size_t nauths;
    void (*wake)(void *);
    void *wake_arg;
    pthread_mutex_t lock;
    struct report_node *head, **tail;
    struct drv_container *all;
};

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static char **strv_dup(char *const *v)
{
    if (!v)
        return NULL;
    size_t n = 0;
    while (v[n])
        n++;
    char **out = xcalloc(n + 1, sizeof(*out));
    for (size_t i = 0; i < n; i++)
        out[i] = xstrdup(v[i]);
    return out;
}

static void strv_free(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

static void ct_unref(struct drv_container *ct);

/* A thread nobody joins (it holds a reference to what it uses instead). */
static int spawn_detached(pthread_t *t, void *(*fn)(void *), void *arg)
{
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int rc = pthread_create(t, &attr, fn, arg);
    pthread_attr_destroy(&attr);
    return rc;
}

static void report(struct drv_container *ct, enum drv_ct_report_kind kind, int exit_code,
                   bool create_failed, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void report(struct drv_container *ct, enum drv_ct_report_kind kind, int exit_code,
                   bool create_failed, const char *fmt, ...)
{
    struct report_node *n = xcalloc(1, sizeof(*n));
    n->ct = ct;
    n->rep.kind = kind;
    n->rep.data = ct->data;
    n->rep.exit_code = exit_code;
    n->rep.create_failed = create_failed;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(n->rep.text, sizeof(n->rep.text), fmt, ap);
    va_end(ap);
    struct drv_containers *d = ct->d;
    /* Under the lock: drv_containers_free() switches the wake-up off. */
    pthread_mutex_lock(&d->lock);
    *d->tail = n;
    d->tail = &n->next;
    if (d->wake)
        d->wake(d->wake_arg);
    pthread_mutex_unlock(&d->lock);
}

/* ------------------------------------------------------------------------ */
/* The runner                                                               */

struct pull_progress {
    struct drv_container *ct;
    uint64_t last_ms;
    int layers, done;
    char seen[32][80]; /* layer ids */
    bool complete[32];
};

static void on_pull(void *arg, const char *status, const char *layer, long long current,
                    long long total)
{
    struct pull_progress *p = arg;
    int k = -1;
    for (int i = 0; layer && i < p->layers; i++)
        if (strcmp(p->seen[i], layer) == 0)
            k = i;
    if (layer && *layer && k < 0 && p->layers < 32) {
        k = p->layers++;
        snprintf(p->seen[k], sizeof(p->seen[k]), "%s", layer);
    }
    if (k >= 0 && !p->complete[k] &&
        (strstr(status, "complete") || strstr(status, "Already exists"))) {
        p->complete[k] = true;
        p->done++;
    }
    uint64_t now = mono_ms();
    if (now - p->last_ms < PROGRESS_EVERY_MS)
        return;
    p->last_ms = now;
    if (total > 0)
        report(p->ct, DRV_CT_PROGRESS, 0, false,
               "pulling image '%s': %d of %d layers done; %s %lld of %lld bytes", p->ct->image,
               p->done, p->layers, status, current, total);
    else
        report(p->ct, DRV_CT_PROGRESS, 0, false, "pulling image '%s': %d of %d layers done; %s",
               p->ct->image, p->done, p->layers, status);
}

static const struct drv_registry_auth *auth_for(struct drv_containers *d, const char *image)
{
    char host[256];
    drv_image_registry(image, host, sizeof(host));
    for (size_t i = 0; i < d->nauths; i++)
        if (strcmp(d->auths[i].host, host) == 0)
            return &d->auths[i];
    return NULL;
}

static json_t *strv_json(char *const *v)
{
    json_t *a = json_array();
    for (size_t i = 0; v && v[i]; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

static json_t *create_body(const struct drv_container *ct)
{
    char port[32], host_port[16], index[16];
    snprintf(port, sizeof(port), "%d/tcp", ct->container_port);
    snprintf(host_port, sizeof(host_port), "%d", ct->host_port);
    snprintf(index, sizeof(index), "%d", ct->index);
    json_t *labels = json_pack("{s:s, s:s, s:s, s:s, s:s}", "berth.owner", ct->d->owner,
                               "berth.service", ct->service_id, "berth.index", index, "berth.spec",
                               ct->spec_hash, "berth.port", host_port);
    json_t *bindings = json_object();
    json_object_set_new(bindings, port,
                        json_pack("[{s:s, s:s}]", "HostIp", "127.0.0.1", "HostPort", host_port));
    json_t *exposed = json_object();
    json_object_set_new(exposed, port, json_object());
    json_t *host = json_pack("{s:o, s:b, s:{s:s}}", "PortBindings", bindings, "Init", 1,
                             "RestartPolicy", "Name", "no");
    if (ct->cpus > 0)
        json_object_set_new(host, "NanoCpus", json_integer((json_int_t)(ct->cpus * 1e9)));
    if (ct->memory_bytes)
        json_object_set_new(host, "Memory", json_integer((json_int_t)ct->memory_bytes));
    json_t *binds = ct->binds ? strv_json(ct->binds) : json_array();
    if (ct->model_path && *ct->model_path) {
        char *bind = xasprintf("%s:/data/model:ro", ct->model_path);
        json_array_append_new(binds, json_string(bind));
        free(bind);
    }
    if (json_array_size(binds))
        json_object_set_new(host, "Binds", binds);
    else
        json_decref(binds);
    json_t *body =
        json_pack("{s:s, s:o, s:o, s:o, s:o}", "Image", ct->image, "Env", strv_json(ct->env),
                  "Labels", labels, "ExposedPorts", exposed, "HostConfig", host);
    if (ct->cmd)
        json_object_set_new(body, "Cmd", strv_json(ct->cmd));
    return body;
}

static bool stop_asked(struct drv_container *ct)
{
    pthread_mutex_lock(&ct->d->lock);
    bool v = ct->stop_asked;
    pthread_mutex_unlock(&ct->d->lock);
    return v;
}

static void set_id(struct drv_container *ct, const char *id, int pid)
{
    pthread_mutex_lock(&ct->d->lock);
    if (id != ct->id)
        snprintf(ct->id, sizeof(ct->id), "%s", id);
    ct->pid = pid;
    pthread_mutex_unlock(&ct->d->lock);
}

/* Pull, create and start; 0 once it runs, else the EXITED report went out. */
static int run_start(struct drv_container *ct)
{
    const char *sock = ct->d->socket;
    struct err err = {0};
    struct pull_progress pp = {.ct = ct};
    if (ct->local)
        goto pulled;
    report(ct, DRV_CT_PROGRESS, 0, false, "pulling image '%s'", ct->image);
    if (drv_engine_pull(sock, ct->image, auth_for(ct->d, ct->image), on_pull, &pp, &err) != 0) {
        report(ct, DRV_CT_EXITED, -1, true, "%s", err.msg);
        return -1;
    }
    report(ct, DRV_CT_PROGRESS, 0, false, "pulled image '%s' (%d layer%s)", ct->image, pp.layers,
           pp.layers == 1 ? "" : "s");
pulled:
    /* A container of this name is a leftover of this slot: it goes first. */
    drv_engine_remove(sock, ct->name, NULL);
    if (stop_asked(ct)) {
        report(ct, DRV_CT_EXITED, -1, false, "stopped before it started");
        return -1;
    }
    json_t *body = create_body(ct);
    char id[72];
    int rc = drv_engine_create(sock, ct->name, body, id, &err);
    json_decref(body);
    if (rc) {
        report(ct, DRV_CT_EXITED, -1, true, "cannot create the container: %s", err.msg);
        return -1;
    }
    set_id(ct, id, 0);
    if (stop_asked(ct) || drv_engine_start(sock, id, &err) != 0) {
        bool asked = stop_asked(ct);
        drv_engine_remove(sock, id, NULL);
        report(ct, DRV_CT_EXITED, -1, false, "%s", asked ? "stopped before it started" : err.msg);
        return -1;
    }
    return 0;
}

static void run(struct drv_container *ct);

static void *runner(void *arg)
{
    run(arg);
    ct_unref(arg);
    return NULL;
}

static void run(struct drv_container *ct)
{
    const char *sock = ct->d->socket;
    struct err err = {0};
    if (ct->mode == CT_REMOVE) {
        if (drv_engine_remove(sock, ct->id, &err) != 0)
            log_warn("container", "cannot remove container %.12s: %s", ct->id, err.msg);
        report(ct, DRV_CT_EXITED, -1, false, "removed");
        return;
    }
    if (ct->mode == CT_RUN && run_start(ct) != 0)
        return;
    struct drv_engine_state st;
    if (drv_engine_inspect(sock, ct->id, &st, &err) == 0)
        set_id(ct, ct->id, st.pid);
    report(ct, DRV_CT_RUNNING, 0, false, "container %.12s runs", ct->id);
    /* Its output until it stops; the stream may also end when the engine
     * restarts, so look before concluding. */
    long long since = ct->mode == CT_ADOPT ? (long long)time(NULL) : 0;
    for (int round = 0;; round++) {
        if (drv_engine_logs(sock, ct->id, since, ct->out_fd, ct->err_fd, &err) != 0 && round < 3)
            log_warn("container", "output of %.12s: %s", ct->id, err.msg);
        int rc = drv_engine_inspect(sock, ct->id, &st, &err);
        if (rc != 0 || !st.running)
            break;
        since = (long long)time(NULL);
        sleep(1);
    }
    int code = st.running ? -1 : st.exit_code;
    char how[300];
    if (st.oom_killed || code == 137)
        snprintf(how, sizeof(how), "exited with status 137 (killed: out of memory or SIGKILL)");
    else if (code >= 0)
        snprintf(how, sizeof(how), "exited with status %d%s%.200s", code, st.error[0] ? ": " : "",
                 st.error);
    else
        snprintf(how, sizeof(how), "was lost: %.200s", err.msg);
    if (drv_engine_remove(sock, ct->id, &err) != 0)
        log_warn("container", "cannot remove container %.12s: %s", ct->id, err.msg);
    report(ct, DRV_CT_EXITED, code, false, "%s", how);
    return;
}

/* ------------------------------------------------------------------------ */
/* Stopping                                                                 */

struct stop_job {
    struct drv_container *ct;
    bool now;
};

static void *stopper(void *arg)
{
    struct stop_job *job = arg;
    struct drv_container *ct = job->ct;
    const char *sock = ct->d->socket;
    char id[72];
    pthread_mutex_lock(&ct->d->lock);
    snprintf(id, sizeof(id), "%s", ct->id);
    pthread_mutex_unlock(&ct->d->lock);
    struct err err = {0};
    if (!id[0]) {
        /* Not created yet: the runner sees stop_asked. */
    } else if (job->now) {
        if (drv_engine_kill(sock, id, &err) != 0)
            log_warn("container", "cannot kill %.12s: %s", id, err.msg);
    } else {
        uint64_t start = mono_ms();
        if (ct->prestop) {
            int status;
            int limit = (int)(ct->grace_ms / 1000);
            if (drv_engine_exec(sock, id, ct->prestop, limit > 0 ? limit : 1, &status, &err) != 0)
                log_warn("container", "PreStopCommand in %.12s: %s", id, err.msg);
            else
                log_info("container", "PreStopCommand in %.12s exited with %d", id, status);
        }
        uint64_t spent = mono_ms() - start;
        int left = spent < ct->grace_ms ? (int)((ct->grace_ms - spent + 999) / 1000) : 0;
        if (drv_engine_stop(sock, id, left, &err) != 0)
            log_warn("container", "cannot stop %.12s: %s", id, err.msg);
    }
    free(job);
    ct_unref(ct);
    return NULL;
}

void drv_container_stop(struct drv_container *ct, bool now)
{
    struct drv_containers *d = ct->d;
    pthread_mutex_lock(&d->lock);
    bool go = ct->nhelpers < MAX_HELPERS && !ct->reported_exit &&
              (now ? !ct->kill_asked || ct->nhelpers < MAX_HELPERS - 1 : !ct->graceful_sent);
    ct->stop_asked = true;
    if (now)
        ct->kill_asked = true;
    else
        ct->graceful_sent = true;
    if (go) {
        struct stop_job *job = xcalloc(1, sizeof(*job));
        job->ct = ct;
        job->now = now;
        pthread_t t;
        if (spawn_detached(&t, stopper, job) == 0) {
            ct->nhelpers++;
            ct->refs++;
        } else {
            free(job);
        }
    }
    pthread_mutex_unlock(&d->lock);
}

int drv_container_pid(struct drv_container *ct)
{
    pthread_mutex_lock(&ct->d->lock);
    int pid = ct->pid;
    pthread_mutex_unlock(&ct->d->lock);
    return pid;
}

/* ------------------------------------------------------------------------ */
/* The driver                                                               */

int drv_containers_new(const struct drv_containers_cfg *cfg, struct drv_containers **out,
                       struct err *err)
{
    /* Not thread-safe: here, on the main thread, before any runner. */
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (drv_engine_ping(cfg->socket, err) != 0)
        return err_prefix(err, "--engine-socket: ");
    struct drv_containers *d = xcalloc(1, sizeof(*d));
    d->socket = xstrdup(cfg->socket);
    d->owner = xstrdup(cfg->owner);
    d->auths = xcalloc(cfg->nauths ? cfg->nauths : 1, sizeof(*d->auths));
    for (size_t i = 0; i < cfg->nauths; i++) {
        d->auths[i].host = xstrdup(cfg->auths[i].host);
        d->auths[i].username = xstrdup(cfg->auths[i].username);
        d->auths[i].password = xstrdup(cfg->auths[i].password);
    }
    d->nauths = cfg->nauths;
    d->wake = cfg->wake;
    d->wake_arg = cfg->wake_arg;
    pthread_mutex_init(&d->lock, NULL);
    d->tail = &d->head;
    *out = d;
    return 0;
}

static void ct_unref(struct drv_container *ct)
{
    struct drv_containers *d = ct->d;
    pthread_mutex_lock(&d->lock);
    bool last = --ct->refs == 0;
    if (last)
        for (struct drv_container **p = &d->all; *p; p = &(*p)->next)
            if (*p == ct) {
                *p = ct->next;
                break;
            }
    pthread_mutex_unlock(&d->lock);
    if (!last)
        return;
    if (ct->out_fd >= 0)
        close(ct->out_fd);
    if (ct->err_fd >= 0 && ct->err_fd != ct->out_fd)
        close(ct->err_fd);
    free(ct->name);
    free(ct->image);
    free(ct->service_id);
    free(ct->spec_hash);
    free(ct->model_path);
    strv_free(ct->cmd);
    strv_free(ct->env);
    strv_free(ct->prestop);
    strv_free(ct->binds);
    free(ct);
}

void drv_containers_poll(struct drv_containers *d, drv_ct_report_fn fn, void *arg)
{
    pthread_mutex_lock(&d->lock);
    struct report_node *n = d->head;
    d->head = NULL;
    d->tail = &d->head;
    pthread_mutex_unlock(&d->lock);
    while (n) {
        struct report_node *next = n->next;
        struct drv_container *ct = n->ct;
        if (n->rep.kind == DRV_CT_EXITED) {
            pthread_mutex_lock(&d->lock);
            ct->reported_exit = true;
            pthread_mutex_unlock(&d->lock);
        }
        if (fn && ct->mode != CT_REMOVE)
            fn(arg, ct, &n->rep);
        if (n->rep.kind == DRV_CT_EXITED)
            ct_unref(ct); /* the owner's reference */
        free(n);
        n = next;
    }
}

void drv_containers_free(struct drv_containers *d)
{
    if (!d)
        return;
    /* Whatever still runs is left to the engine (and the next berthd); its
     * threads must not wake an owner that is going away. */
    pthread_mutex_lock(&d->lock);
    d->wake = NULL;
    pthread_mutex_unlock(&d->lock);
    drv_containers_poll(d, NULL, NULL);
    pthread_mutex_lock(&d->lock);
    bool busy = d->all != NULL;
    pthread_mutex_unlock(&d->lock);
    if (busy)
        log_warn("container", "containers still running at exit are left to the engine");
    else {
        for (size_t i = 0; i < d->nauths; i++) {
            free(d->auths[i].host);
            free(d->auths[i].username);
            free(d->auths[i].password);
        }
        free(d->auths);
        free(d->socket);
        free(d->owner);
        pthread_mutex_destroy(&d->lock);
        free(d);
    }
}

static struct drv_container *ct_new(struct drv_containers *d, enum ct_mode mode,
                                    const struct drv_ct_spec *s)
{
    struct drv_container *ct = xcalloc(1, sizeof(*ct));
    ct->d = d;
    ct->mode = mode;
    ct->out_fd = ct->err_fd = -1;
    if (s) {
        ct->name = xstrdup(s->name ? s->name : "");
        ct->image = xstrdup(s->image ? s->image : "");
        ct->service_id = xstrdup(s->service_id ? s->service_id : "");
        ct->spec_hash = xstrdup(s->spec_hash ? s->spec_hash : "");
        ct->model_path = s->model_path ? xstrdup(s->model_path) : NULL;
        ct->index = s->index;
        ct->cmd = strv_dup(s->cmd);
        ct->env = strv_dup(s->env);
        ct->prestop = strv_dup(s->prestop);
        ct->binds = strv_dup(s->binds);
        ct->host_port = s->host_port;
        ct->local = s->local;
        ct->container_port = s->container_port;
        ct->cpus = s->cpus;
        ct->memory_bytes = s->memory_bytes;
        ct->grace_ms = s->grace_ms;
        ct->out_fd = s->out_fd;
        ct->err_fd = s->err_fd;
        ct->data = s->data;
    }
    return ct;
}

static struct drv_container *ct_launch(struct drv_container *ct)
{
    struct drv_containers *d = ct->d;
    pthread_mutex_lock(&d->lock);
    ct->next = d->all;
    d->all = ct;
    pthread_mutex_unlock(&d->lock);
    ct->refs = 2; /* the runner's and the owner's */
    pthread_t t;
    int rc = spawn_detached(&t, runner, ct);
    if (rc != 0) {
        log_error("container", "cannot start a runner thread: %s", strerror(rc));
        abort(); /* as on OOM: we are supervised */
    }
    return ct;
}

struct drv_container *drv_container_run(struct drv_containers *d, const struct drv_ct_spec *s)
{
    return ct_launch(ct_new(d, CT_RUN, s));
}

struct drv_container *drv_container_adopt(struct drv_containers *d, const char *id,
                                          const struct drv_ct_spec *s)
{
    struct drv_container *ct = ct_new(d, CT_ADOPT, s);
    snprintf(ct->id, sizeof(ct->id), "%s", id);
    return ct_launch(ct);
}

void drv_containers_remove(struct drv_containers *d, const char *id)
{
    struct drv_container *ct = ct_new(d, CT_REMOVE, NULL);
    ct->name = xstrdup("");
    ct->image = xstrdup("");
    ct->service_id = xstrdup("");
    ct->spec_hash = xstrdup("");
    snprintf(ct->id, sizeof(ct->id), "%s", id);
    ct_launch(ct);
}

int drv_containers_list(struct drv_containers *d, json_t **out, struct err *err)
{
    char label[160];
    snprintf(label, sizeof(label), "berth.owner=%s", d->owner);
    return drv_engine_list(d->socket, label, out, err);
}
