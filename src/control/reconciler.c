/* reconciler.c - the control loop. Every tick (and on a kick) it reads the
 * services from the store and, for each, starts missing instances, stops
 * surplus ones, restarts crashed ones with exponential backoff, probes
 * readiness, and publishes a status table for the API. A model-file service
 * runs berth-serve on a TF Serving base path in the instance's directory whose
 * version 1 links to the imported files, under the model's name and under "m"
 * (the name TI-ONE's built-in runtimes use); a custom service runs its command
 * with PORT in its environment. */
#include "control/reconciler.h"
#include "base/alloc.h"
#include "base/crypto.h"
#include "base/log.h"
#include "control/events.h"
#include "control/hpa.h"
#include "control/hotupdate.h"
#include "control/storage.h"
#include "control/imports.h"
#include "control/limits.h"
#include "control/modelfiles.h"
#include "drivers/adopt.h"
#include "drivers/container.h"
#include "drivers/driver.h"
#include "drivers/kube_driver.h"
#include "drivers/mounts.h"
#include "control/resgroups.h"
#include "drivers/process.h"
#include "drivers/procstat.h"
#include "logs/capture.h"
#include "logs/deliver.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TICK_MS 250
#define PROBE_EVERY_MS 300
#define PROBE_TIMEOUT_MS 1000
#define STOP_GRACE_MS 30000    /* TerminationGracePeriodSeconds' default */
#define SHUTDOWN_GRACE_MS 5000 /* when berthd itself stops */
#define DRAIN_MS 200           /* out of the gateway's routes before SIGTERM */
#define BACKOFF_MAX_MS 30000
#define HEALTHY_RESET_MS 60000
#define CT_ABANDON_MS 1000 /* after SHUTDOWN_GRACE_MS, when berthd stops */

enum inst_state { I_NONE, I_RUNNING, I_STOPPING, I_BACKOFF };

struct svc;

struct inst {
    struct svc *svc;
    int index;
    enum inst_state state;
    pid_t pid;  /* its keeper's, for waitpid */
    pid_t pgid; /* its own process group, for signals */
    uint64_t start_ticks;
    int port;
    bool ready;
    bool failed; /* crashed, or lost its readiness, and not ready since */
    bool probing;
    bool orphaned; /* its service is gone; free when the probes return */
    /* HealthProbe's startup probe until it passes, then its liveness probe:
     * failing either restarts the instance. */
    bool lprobing, startup_passed, has_startup, has_liveness;
    int lfailures;
    uint64_t next_lprobe_ms;
    uint64_t started_ms, next_probe_ms, stop_deadline_ms, restart_at_ms;
    uint64_t grace_ms;   /* SIGTERM to SIGKILL */
    uint64_t term_at_ms; /* when SIGTERM goes out (after the routes have dropped it) */
    bool term_sent;
    int restarts;
    int backoff_exp;
    int successes, failures; /* consecutive probe results */
    char *spec_json;         /* what it was started with */
    char start_time[32];
    char last_exit[256];
    struct drv_usage usage;
    struct drv_cgroup_instance cg; /* its CPU and memory limits */
    double cpu_cores;
    uint64_t usage_ms;        /* when sampled; 0: not yet */
    int64_t serving;          /* the newest version berth-serve reports AVAILABLE; 0: unknown */
    struct drv_container *ct; /* run by the container driver, until its exit is reported */
    char progress[200];       /* the container driver's: how its pull goes */
    uint64_t keeper_ticks;
    bool adopted; /* its keeper is not our child: 'watch' says when it exits */
    struct drv_watch watch;
};

struct svc {
    char *id;
    char *group_id;
    char *region; /* for its events */
    unsigned weight;
    char *spec_json;
    char *run_spec; /* spec_json less what only the gateway reads: a change of it restarts */
    int replicas;
    bool in_store;
    bool seen;             /* reconciled at least once */
    bool ever_normal;      /* all replicas were ready since it last started */
    bool probe_configured; /* HealthProbe given: keep its period */
    bool stopped;          /* by STOP (for the events) */
    bool rolling;          /* a new spec is being rolled out */
    char create_failed[512];
    uint64_t hot_due_ms; /* the next look for new versions (hot update) */
    bool mounted;        /* an instance ran with mounts: clean them when it stops */
    bool hot_busy;       /* a hot-update pass runs on a thread */
    uint64_t restarts;   /* of all its instances */
    bool on_kube;        /* handed to the kubernetes driver (and not forgotten) */
    char *kube_spec;     /* the spec_json and replicas it was last handed with */
    int kube_replicas;
    struct inst **insts;
    size_t ninsts;
    struct svc *next;
};

struct status_row {
    char *id;
    struct ctl_status st;
};

struct ctl_reconciler {
    uv_loop_t *loop;
    struct store *st;
    struct gw_table *routes;
    char *data_dir;
    char *instance_dir;
    char *berth_serve;
    struct drv_user user;
    uint8_t seal_key[CRYPTO_SEAL_KEY_BYTES];
    bool have_seal_key;
    double group_qps_cap;
    struct logs_deliver *deliver;
    struct logs_capture *logs;
    struct ctl_limits *limits;
    const struct drv_volumes *volumes;
    uv_timer_t timer;
    uv_timer_t soon; /* a probe due before the next tick */
    uv_async_t kick;
    uv_signal_t sigchld;
    struct svc *svcs;
    bool stopping;
    bool detaching; /* stopping, and leaving the instances running */
    uint64_t stop_deadline_ms;
    void (*done)(void *);
    void *done_arg;
    int handles_open;
    int probes_pending;

    pthread_mutex_t lock; /* guards the status table and the sync counts */
    struct status_row *rows;
    size_t nrows;
    pthread_cond_t synced;
    uint64_t syncs_asked, syncs_done; /* ctl_reconciler_sync() tickets */
    _Atomic uint64_t pass_ms;         /* when the last pass began */
    uint64_t usage_due_ms;
    struct drv_containers *containers; /* NULL: no container engine */
    struct drv_kube *kube;             /* NULL: no cluster; image services run there */
    bool kube_settled;                 /* it was told every version of the first pass */
    int64_t ct_serial;                 /* container instances' pids are -serial */
};

/* Adoption of the instances a previous berthd left running (at the end). */
static char *adopt_status_path(struct ctl_reconciler *r, const struct svc *s,
                               const struct inst *in);
static void adopt_check_exit(struct ctl_reconciler *r, struct inst *in);
static void adopt_detach_step(struct ctl_reconciler *r);
static void adopt_all(struct ctl_reconciler *r);

static void inst_unwatch(struct inst *in)
{
    if (in->adopted)
        drv_watch_close(&in->watch);
    in->adopted = false;
}

/* Started with the service's spec as it is now. */
static bool inst_current(const struct svc *s, const struct inst *in)
{
    return in->spec_json && strcmp(in->spec_json, s->run_spec) == 0;
}

/* The spec less the fields only the gateway reads (RequestTimeoutMs,
 * ServiceLimit) and delivery (LogEnable, LogConfig): changing
 * those republishes the routes but must not replace running instances. */
static char *run_spec_of(const char *spec_json)
{
    json_t *spec = json_loads(spec_json, 0, NULL);
    if (!spec)
        return xstrdup(spec_json);
    json_object_del(spec, "RequestTimeoutMs");
    json_object_del(spec, "ServiceLimit");
    /* Scaling (api/scaling.h) changes the count, not what runs; delivery
     * (logs/deliver.h) where the lines go. */
    static const char *const scaling[] = {
        "ScaleMode", "ScaleStrategy", "HorizontalPodAutoscaler", "CronScaleJobs", "Replicas",
        "LogEnable", "LogConfig",     "ScheduledAction"};
    for (size_t i = 0; i < sizeof(scaling) / sizeof(scaling[0]); i++)
        json_object_del(spec, scaling[i]);
    char *dumped = json_dumps(spec, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(spec);
    char *out = xstrdup(dumped ? dumped : spec_json);
    free(dumped);
    return out;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void rfc3339_now(char out[32])
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static const char *spec_str(json_t *spec, const char *key)
{
    const char *v = json_string_value(json_object_get(spec, key));
    return v ? v : "";
}

/* How an instance's readiness is checked: HealthProbe.ReadinessProbe when
 * given, else berth-serve's model status (model services) or a TCP connect. */
struct probe_cfg {
    enum { PROBE_MODEL, PROBE_TCP, PROBE_HTTP } type;
    char path[256];
    uint64_t initial_delay_ms, period_ms, timeout_ms;
    int success_threshold, failure_threshold;
    bool configured; /* from HealthProbe, not the default */
};

/* The probe at 'key' of the spec: "Probe" (readiness), "StartupProbe" or
 * "LivenessProbe"; not 'configured' when the spec has none. */
static void probe_config_of(const char *spec_json, const char *key, struct probe_cfg *cfg)
{
    json_t *spec = json_loads(spec_json, 0, NULL);
    json_t *pr = json_object_get(spec, key);
    memset(cfg, 0, sizeof(*cfg));
    cfg->type = strcmp(spec_str(spec, "Kind"), "model") == 0 || *spec_str(spec, "Runtime")
                    ? PROBE_MODEL
                    : PROBE_TCP;
    cfg->period_ms = PROBE_EVERY_MS;
    cfg->timeout_ms = PROBE_TIMEOUT_MS;
    cfg->success_threshold = cfg->failure_threshold = 1;
    if (json_is_object(pr)) {
        cfg->configured = true;
        const char *type = spec_str(pr, "Type");
        cfg->type = strcmp(type, "http") == 0 ? PROBE_HTTP : PROBE_TCP;
        snprintf(cfg->path, sizeof(cfg->path), "%s", spec_str(pr, "Path"));
        cfg->initial_delay_ms = (uint64_t)json_integer_value(json_object_get(pr, "InitialDelayMs"));
        cfg->period_ms = (uint64_t)json_integer_value(json_object_get(pr, "PeriodMs"));
        cfg->timeout_ms = (uint64_t)json_integer_value(json_object_get(pr, "TimeoutMs"));
        cfg->success_threshold = (int)json_integer_value(json_object_get(pr, "SuccessThreshold"));
        cfg->failure_threshold = (int)json_integer_value(json_object_get(pr, "FailureThreshold"));
    }
    json_decref(spec);
}

static void probe_config(const char *spec_json, struct probe_cfg *cfg)
{
    probe_config_of(spec_json, "Probe", cfg);
}

/* ------------------------------------------------------------------------ */
/* Starting and stopping                                                    */

/* Directories it creates get 'mode' whatever the umask. */
static int mkdir_p(const char *path, mode_t mode)
{
    char *p = xstrdup(path);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, mode) == 0)
            chmod(p, mode);
        *s = '/';
    }
    int rc = 0;
    if (mkdir(p, mode) == 0)
        chmod(p, mode);
    else if (errno != EEXIST)
        rc = ERR_SYS(errno);
    free(p);
    return rc;
}

/* The group that may read the model files, for nftw's callback (which takes
 * no argument); main thread only. */
static gid_t readers_gid;

static void share_with_group(const char *path, const struct stat *st, mode_t mode)
{
    if (st->st_gid != readers_gid && chown(path, (uid_t)-1, readers_gid) != 0)
        log_warn("reconciler", "cannot chown '%s': %s", path, strerror(errno));
    if ((st->st_mode & 07777) != mode && chmod(path, mode) != 0)
        log_warn("reconciler", "cannot chmod '%s': %s", path, strerror(errno));
}

static int make_readonly(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)ftw;
    if (type == FTW_D || type == FTW_F)
        share_with_group(path, st, type == FTW_D ? 0750 : 0440);
    return 0;
}

/* The instance user reads the model files and writes none, and nobody else
 * reads them: they belong to berthd with the instance user's group. The
 * directories on the way from the data directory are searchable by that
 * group only (0710: nothing in them can be listed, and the store and the
 * credentials stay 0600), the version's directories are 0750 and its files
 * 0440. Done here rather than at import, so files moved in (CUT) with any
 * mode and versions imported before are covered too. Symbolic links are
 * left as they are. */
static void expose_model(struct ctl_reconciler *r, const char *path)
{
    size_t n = strlen(r->data_dir);
    if (!r->user.set || strncmp(path, r->data_dir, n) != 0 || path[n] != '/')
        return;
    readers_gid = r->user.gid;
    char *p = xstrdup(path);
    for (char *s = p + n + 1; (s = strchr(s, '/')); s++) {
        *s = '\0';
        struct stat st;
        if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
            share_with_group(p, &st, 0710);
        *s = '/';
    }
    free(p);
    nftw(path, make_readonly, 16, FTW_PHYS);
}

static bool berth_serve_name_ok(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || *s == '-' || *s == '.'))
            return false;
    return true;
}

/* berth-serve's model config: the service's model under its own name and
 * as 'm', both on 'base' (a path as berth-serve sees it). */
static char *models_config_text(json_t *spec, const char *base)
{
    const char *model_name = spec_str(spec, "ModelName");
    /* PYTORCH and TORCH_SCRIPT versions are TorchScript files (api/models.c). */
    const char *pf = strcmp(spec_str(spec, "ModelFormat"), "XGBOOST") ? "pytorch" : "xgboost";
    char *named = berth_serve_name_ok(model_name) && strcmp(model_name, "m") != 0
                      ? xasprintf("  config { name: '%s' base_path: '%s' model_platform: '%s' }\n",
                                  model_name, base, pf)
                      : xstrdup("");
    char *text = xasprintf("model_config_list {\n%s"
                           "  config { name: 'm' base_path: '%s' model_platform: '%s' }\n}\n",
                           named, base, pf);
    free(named);
    return text;
}

/* The same at 'path'. */
static int write_models_config(json_t *spec, const char *path, const char *base, struct err *err)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return err_set(err, ERR_SYS(errno), "cannot write '%s': %s", path, strerror(errno));
    fchmod(fileno(f), 0644);
    char *text = models_config_text(spec, base);
    fputs(text, f);
    free(text);
    if (fclose(f) != 0)
        return err_set(err, ERR_SYS(errno), "cannot write '%s'", path);
    return 0;
}

/* Lay out the instance directory for a model-file service and build argv. */
static int prepare_model(struct ctl_reconciler *r, struct inst *in, json_t *spec, const char *dir,
                         const struct drv_mount *mounts, size_t nmounts, char **argv, size_t *argc,
                         struct err *err)
{
    const char *model_path = spec_str(spec, "ModelPath");
    char *base = xasprintf("%s/base", dir), *link = xasprintf("%s/base/1", dir);
    char *cfg = xasprintf("%s/models.config", dir);
    expose_model(r, model_path);
    int rc = 0;
    bool hot = ctl_hotupdate_on(spec);
    char *host = NULL, *inside = NULL;
    if (ctl_model_base(spec, mounts, nmounts, r->instance_dir, in->svc->id, &host, &inside)) {
        /* The service's numbered versions, on its mount or for hot update
         * (control/hotupdate.h); polled with hot update. */
        struct ctl_hot_result hr;
        free(base);
        base = inside;
        /* Not while a pass runs on a thread: that one has the versions. */
        if (!in->svc->hot_busy)
            rc = ctl_hotupdate_sync(r->st, in->svc->region, spec, host,
                                    r->user.set ? r->user.gid : (gid_t)-1, 0, &hr, err);
        free(host);
    } else {
        mkdir(base, 0755);
        chmod(base, 0755);
        unlink(link);
        if (symlink(model_path, link) != 0)
            rc = err_set(err, ERR_SYS(errno), "cannot link '%s': %s", link, strerror(errno));
    }
    if (!rc)
        rc = write_models_config(spec, cfg, base, err);
    long long cpus = json_integer_value(json_object_get(spec, "Cpu"));
    argv[(*argc)++] = xstrdup(r->berth_serve);
    argv[(*argc)++] = xasprintf("--rest_api_port=%d", in->port);
    argv[(*argc)++] = xstrdup("--rest_api_host=127.0.0.1");
    argv[(*argc)++] = xasprintf("--model_config_file=%s", cfg);
    argv[(*argc)++] = xasprintf("--rest_api_num_threads=%lld", cpus > 0 ? cpus : 1);
    argv[(*argc)++] =
        xstrdup(hot ? "--file_system_poll_wait_seconds=1" : "--file_system_poll_wait_seconds=0");
    free(base);
    free(link);
    free(cfg);
    return rc;
}

static void free_strv(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
}

/* ------------------------------------------------------------------------ */
/* Containers (drivers/container.h)                                         */

/* The label that tells whether a container runs the current spec. */
static void spec_hash(const char *run_spec, char out[17])
{
    uint8_t h[CRYPTO_SHA256_BYTES];
    crypto_sha256(run_spec, strlen(run_spec), h);
    crypto_hex(h, 8, out);
    out[16] = '\0';
}

static char **json_strv(const json_t *a)
{
    if (!json_is_array(a) || json_array_size(a) == 0)
        return NULL;
    char **v = xcalloc(json_array_size(a) + 1, sizeof(*v));
    size_t i;
    const json_t *e;
    json_array_foreach(a, i, e) v[i] = xstrdup(json_string_value(e) ?: "");
    return v;
}

static void strv_free_null(char *const *v)
{
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free((void *)v);
}

/* The instance's output: the log capture's pipes, or output.log. */
static int container_fds(struct ctl_reconciler *r, struct inst *in, const char *log_path,
                         int fds[2], struct err *err)
{
    if (r->logs) {
        char pod[96];
        snprintf(pod, sizeof(pod), "%s-%d", in->svc->id, in->index);
        return logs_capture_open(r->logs, in->svc->group_id, in->svc->id, pod, fds, err);
    }
    fds[0] = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fds[0] < 0)
        return err_set(err, ERR_SYS(errno), "cannot open '%s': %s", log_path, strerror(errno));
    fds[1] = dup(fds[0]);
    return 0;
}

static void container_spec(struct ctl_reconciler *r, struct inst *in, json_t *spec,
                           struct drv_ct_spec *cs)
{
    memset(cs, 0, sizeof(*cs));
    json_int_t grace = json_integer_value(json_object_get(spec, "GraceMs"));
    cs->grace_ms = grace > 0 ? (uint64_t)grace : STOP_GRACE_MS;
    cs->prestop = json_strv(json_object_get(spec, "PreStopCommand"));
    cs->data = in;
    (void)r;
}

/* The built-in runtime in its image (spec "Runtime", docs/containers.md):
 * berth-serve's arguments, and the bind of its model config, written in the
 * instance directory; the version's files are at /data/model, which the
 * image's /srv/base/1 points to. */
static int runtime_prepare(struct ctl_reconciler *r, struct inst *in, json_t *spec, int port,
                           char ***cmd, char **bind, struct err *err)
{
    char *cfg = xasprintf("%s/%s/%d/models.config", r->instance_dir, in->svc->id, in->index);
    int rc = write_models_config(spec, cfg, "/srv/base", err);
    if (rc) {
        free(cfg);
        return rc;
    }
    long long cpus = json_integer_value(json_object_get(spec, "Cpu"));
    char **v = xcalloc(6, sizeof(*v));
    /* All addresses of the container's own network namespace: the engine
     * publishes the port on the host's 127.0.0.1 only. */
    v[0] = xstrdup("--rest_api_host=0.0.0.0");
    v[1] = xasprintf("--rest_api_port=%d", port);
    v[2] = xstrdup("--model_config_file=/etc/berth/models.config");
    v[3] = xasprintf("--rest_api_num_threads=%lld", cpus > 0 ? cpus : 1);
    v[4] = xstrdup("--file_system_poll_wait_seconds=0");
    *cmd = v;
    *bind = xasprintf("%s:/etc/berth/models.config:ro", cfg);
    free(cfg);
    return 0;
}

/* Start 'in' as a container: its image on a free host port of 127.0.0.1,
 * published to its ServicePort, with the spec's CPU and memory as limits. */
static int container_start(struct ctl_reconciler *r, struct inst *in, json_t *spec,
                           const char *log_path, const struct drv_mount *mounts, size_t nmounts,
                           struct err *err)
{
    if (!r->containers)
        return err_set(err, ERR_UNSUPPORTED,
                       "this berthd has no container engine (--engine-socket)");
    int fds[2] = {-1, -1};
    int rc = container_fds(r, in, log_path, fds, err);
    if (rc)
        return rc;
    json_int_t cport = json_integer_value(json_object_get(spec, "ServicePort"));
    if (cport <= 0)
        cport = 8501;
    char **env = xcalloc(json_array_size(json_object_get(spec, "Env")) + 2, sizeof(char *));
    size_t envc = 0, i;
    env[envc++] = xasprintf("PORT=%lld", (long long)cport);
    json_t *e;
    json_array_foreach(json_object_get(spec, "Env"), i, e)
    {
        env[envc++] = xasprintf("%s=%s", spec_str(e, "Name"), spec_str(e, "Value"));
    }
    const char *command = spec_str(spec, "Command");
    char *cmd[] = {(char *)"/bin/sh", (char *)"-c", (char *)command, NULL};
    char **runtime_cmd = NULL, *runtime_bind = NULL;
    if (*spec_str(spec, "Runtime"))
        rc = runtime_prepare(r, in, spec, (int)cport, &runtime_cmd, &runtime_bind, err);
    if (rc) {
        close(fds[0]);
        close(fds[1]);
        strv_free_null(env);
        return rc;
    }
    char name[160], hash[17];
    snprintf(name, sizeof(name), "berth-%s-%d", in->svc->id, in->index);
    spec_hash(in->svc->run_spec, hash);
    struct drv_ct_spec cs;
    container_spec(r, in, spec, &cs);
    cs.name = name;
    cs.image = spec_str(spec, "Image");
    cs.service_id = in->svc->id;
    cs.spec_hash = hash;
    cs.index = in->index;
    cs.cmd = runtime_cmd ? runtime_cmd : *command ? cmd : NULL;
    cs.local = runtime_cmd != NULL; /* the runtime image is built here, not pulled */
    cs.env = env;
    cs.host_port = in->port;
    cs.container_port = (int)cport;
    cs.model_path = spec_str(spec, "ModelPath"); /* a model version's files, read-only */
    struct spec_request lim = {0};               /* the spec's figures, or the prepaid Resources */
    if (ctl_limits_of_spec(in->svc->run_spec, &lim) == 0) {
        cs.cpus = lim.cpu_millicores / 1000.0;
        cs.memory_bytes = (uint64_t)lim.memory_mib << 20;
    }
    cs.out_fd = fds[0];
    cs.err_fd = fds[1];
    /* VolumeMounts: the same binds a process gets, as the engine's Binds. */
    char **binds = xcalloc(nmounts + 2, sizeof(char *));
    for (size_t k = 0; k < nmounts; k++)
        binds[k] = xasprintf("%s:%s%s", mounts[k].source, mounts[k].target,
                             mounts[k].read_only ? ":ro" : "");
    binds[nmounts] = runtime_bind; /* the runtime's model config */
    cs.binds = binds;
    in->ct = drv_container_run(r->containers, &cs);
    strv_free_null(binds);
    strv_free_null(runtime_cmd);
    in->pid = (pid_t) - (++r->ct_serial);
    in->pgid = 0;
    in->start_ticks = 0;
    snprintf(in->progress, sizeof(in->progress), "%s image '%.160s'",
             cs.local ? "starting" : "pulling", cs.image);
    strv_free_null(env);
    strv_free_null(cs.prestop);
    return 0;
}

/* A new run: the startup probe first (liveness waits for it), each after
 * its initial delay; a container's once it runs. */
static void health_reset(struct inst *in, uint64_t now)
{
    struct probe_cfg st, live;
    probe_config_of(in->spec_json, "StartupProbe", &st);
    probe_config_of(in->spec_json, "LivenessProbe", &live);
    in->has_startup = st.configured;
    in->has_liveness = live.configured;
    in->startup_passed = !st.configured;
    in->lfailures = 0;
    in->next_lprobe_ms =
        in->ct ? UINT64_MAX : now + (st.configured ? st.initial_delay_ms : live.initial_delay_ms);
}

static void inst_start(struct ctl_reconciler *r, struct inst *in)
{
    struct svc *s = in->svc;
    json_t *spec = json_loads(s->spec_json, 0, NULL);
    struct err err = {0};
    /* berthd writes only in the instance's directory (its output, the model
     * server's config), the instance only in home/ below it, which it owns:
     * it cannot plant links where berthd writes as root. */
    char *dir = xasprintf("%s/%s/%d", r->instance_dir, s->id, in->index);
    char *home = xasprintf("%s/home", dir), *log_path = xasprintf("%s/output.log", dir);
    char *argv[16] = {0}, *env[80] = {0};
    size_t argc = 0, envc = 0;
    int rc = mkdir_p(home, 0711);
    if (!rc && r->user.set && chown(home, r->user.uid, r->user.gid) != 0)
        rc = ERR_SYS(errno);
    if (!rc)
        chmod(home, 0700);
    if (rc)
        err_set(&err, rc, "cannot create '%s': %s", home, strerror(-rc));
    int port = rc ? 0 : drv_free_port();
    if (!rc && port < 0)
        rc = err_set(&err, port, "no free port: %s", strerror(-port));
    in->port = port;
    env[envc++] = xstrdup("PATH=/usr/local/bin:/usr/bin:/bin");
    env[envc++] = xasprintf("HOME=%s", home);
    env[envc++] = xasprintf("PORT=%d", port);
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(spec, "Env"), i, e)
    {
        if (envc < 78)
            env[envc++] = xasprintf("%s=%s", spec_str(e, "Name"), spec_str(e, "Value"));
    }
    struct drv_mount mounts[DRV_MOUNTS_MAX];
    size_t nmounts = 0;
    if (!rc)
        rc = ctl_storage_claim(r->volumes, &r->user, s->id, s->spec_json, mounts, &nmounts, &err);
    if (!rc && drv_kind_of(spec_str(spec, "Kind")) == DRV_CONTAINER) {
        rc = container_start(r, in, spec, log_path, mounts, nmounts, &err);
        s->mounted |= !rc && nmounts > 0;
    } else if (!rc && strcmp(spec_str(spec, "Kind"), "model") == 0) {
        rc = prepare_model(r, in, spec, dir, mounts, nmounts, argv, &argc, &err);
    } else if (!rc) {
        argv[argc++] = xstrdup("/bin/sh");
        argv[argc++] = xstrdup("-c");
        argv[argc++] = xstrdup(spec_str(spec, "Command"));
    }
    json_decref(spec);
    /* A container's limits are the engine's (NanoCpus, Memory). */
    if (!rc && !in->ct) {
        char *cg_name = xasprintf("%s-%d", s->id, in->index);
        if (ctl_limits_prepare(r->limits, s->run_spec, cg_name, &in->cg, &err) != 0)
            rc = err_prefix(&err, "limits: ");
        free(cg_name);
    }
    if (!rc && !in->ct) {
        char *status_path = adopt_status_path(r, s, in);
        struct drv_spawn sp = {.argv = argv,
                               .env = env,
                               .workdir = home,
                               .log_path = log_path,
                               .user = &r->user,
                               .cgroup_fds = in->cg.fds,
                               .ncgroup_fds = in->cg.nfds,
                               .mounts = mounts,
                               .nmounts = nmounts,
                               .status_path = status_path};
        s->mounted |= nmounts > 0;
        int fds[2] = {-1, -1}, held[2] = {-1, -1};
        if (r->logs) {
            char pod[96];
            snprintf(pod, sizeof(pod), "%s-%d", s->id, in->index);
            rc = logs_capture_open_held(r->logs, s->group_id, s->id, pod, fds, held, &err);
            sp.log_path = NULL;
            sp.out_fd = fds[0];
            sp.err_fd = fds[1];
            sp.hold[0] = held[0];
            sp.hold[1] = held[1];
            sp.nhold = rc ? 0 : 2;
        }
        struct drv_proc proc;
        if (!rc)
            rc = drv_process_spawn(&sp, &proc, &err);
        for (int k = 0; k < 2; k++) {
            if (fds[k] >= 0)
                close(fds[k]);
            if (held[k] >= 0)
                close(held[k]);
        }
        free(status_path);
        in->pid = rc ? 0 : proc.pid;
        in->pgid = rc ? 0 : proc.pgid;
        in->start_ticks = rc ? 0 : proc.start_ticks;
        in->keeper_ticks = rc ? 0 : proc.keeper_ticks;
        in->adopted = false;
    }
    drv_cgroup_close_fds(&in->cg);
    if (rc)
        ctl_limits_finish(r->limits, &in->cg);
    free_strv(argv, argc);
    free_strv(env, envc);
    drv_mounts_release(mounts, nmounts);
    free(dir);
    free(home);
    free(log_path);
    free(in->spec_json);
    in->spec_json = xstrdup(s->run_spec);
    uint64_t now = now_ms();
    if (rc) {
        log_error("reconciler", "cannot start instance %s-%d: %s", s->id, in->index, err.msg);
        ctl_event_pod(r->st, s->region, s->id, in->index, CTL_EVENT_WARNING, "Failed", 0,
                      "Could not start the instance: %s", err.msg);
        snprintf(in->last_exit, sizeof(in->last_exit), "could not start: %.140s", err.msg);
        in->state = I_BACKOFF;
        in->restarts++;
        s->restarts++;
        in->restart_at_ms = now + 1000;
        return;
    }
    in->state = I_RUNNING;
    in->ready = false;
    in->successes = in->failures = 0;
    health_reset(in, now);
    json_t *parsed = json_loads(s->spec_json, 0, NULL);
    json_int_t grace = json_integer_value(json_object_get(parsed, "GraceMs"));
    in->grace_ms = grace > 0 ? (uint64_t)grace : STOP_GRACE_MS;
    json_decref(parsed);
    in->started_ms = now;
    in->usage_ms = 0;
    struct probe_cfg pc;
    probe_config(s->spec_json, &pc);
    /* A container is probed once it runs (DRV_CT_RUNNING). */
    in->next_probe_ms =
        in->ct ? UINT64_MAX : now + (pc.initial_delay_ms ? pc.initial_delay_ms : 50);
    rfc3339_now(in->start_time);
    char *id = xasprintf("%s-%d", s->id, in->index);
    struct store_instance row = {.id = id,
                                 .service_id = s->id,
                                 .pgid = in->pgid,
                                 .start_ticks = in->start_ticks,
                                 .port = in->port,
                                 .keeper_pid = in->pid,
                                 .keeper_ticks = in->keeper_ticks,
                                 .spec = in->spec_json,
                                 .started_at = in->start_time,
                                 .restarts = in->restarts};
    if (store_instance_put(r->st, &row, &err) != 0)
        log_error("reconciler", "cannot record instance %s: %s", id, err.msg);
    log_info("reconciler", "started instance %s pid=%d port=%d", id, (int)in->pgid, in->port);
    ctl_event_pod(r->st, s->region, s->id, in->index, CTL_EVENT_NORMAL, "Started",
                  CTL_EVENT_FOLD_REASON, "Started the instance on 127.0.0.1:%d", in->port);
    free(id);
}

static void inst_stop(struct inst *in)
{
    if (in->state == I_BACKOFF) {
        in->state = I_NONE;
        return;
    }
    if (in->state != I_RUNNING)
        return;
    /* Unready now, so the routes published at the end of this pass drop it;
     * SIGTERM a little later, when requests already sent to it are done. */
    in->state = I_STOPPING;
    in->ready = false;
    in->term_sent = false;
    in->term_at_ms = now_ms() + DRAIN_MS;
    in->stop_deadline_ms = in->term_at_ms + in->grace_ms;
}

/* ------------------------------------------------------------------------ */
/* Exits                                                                    */

static struct inst *find_pid(struct ctl_reconciler *r, pid_t pid)
{
    for (struct svc *s = r->svcs; s; s = s->next)
        for (size_t i = 0; i < s->ninsts; i++)
            if (s->insts[i] && s->insts[i]->pid == pid &&
                (s->insts[i]->state == I_RUNNING || s->insts[i]->state == I_STOPPING))
                return s->insts[i];
    return NULL;
}

static void reconcile(struct ctl_reconciler *r);
static void publish(struct ctl_reconciler *r);
static void schedule_probes(struct ctl_reconciler *r, uint64_t now);

/* An instance ended ('how' says how; 'oom': killed at its memory limit):
 * stopped, or to restart with backoff. */
static void inst_exited(struct ctl_reconciler *r, struct inst *in, const char *how, bool oom)
{
    char *id = xasprintf("%s-%d", in->svc->id, in->index);
    store_instance_delete(r->st, id, NULL);
    /* Children of the instance may outlive its leader: end the group. */
    drv_process_signal(in->pgid, SIGKILL);
    in->progress[0] = '\0';
    if (in->state == I_STOPPING) {
        log_info("reconciler", "instance %s stopped (%s)", id, how);
        ctl_event_pod(r->st, in->svc->region, in->svc->id, in->index, CTL_EVENT_NORMAL, "Stopped",
                      0, "The instance stopped: it %s", how);
        in->state = I_NONE;
    } else {
        uint64_t now = now_ms();
        if (now - in->started_ms > HEALTHY_RESET_MS)
            in->backoff_exp = 0;
        uint64_t delay = 1000ULL << (in->backoff_exp < 5 ? in->backoff_exp : 5);
        if (delay > BACKOFF_MAX_MS)
            delay = BACKOFF_MAX_MS;
        in->backoff_exp++;
        in->restarts++;
        in->svc->restarts++;
        in->state = I_BACKOFF;
        in->failed = true;
        in->restart_at_ms = now + delay;
        snprintf(in->last_exit, sizeof(in->last_exit),
                 "%sinstance %s %s; restarting in %llus (restart %d)", oom ? "OOMKilled: " : "", id,
                 how, (unsigned long long)(delay / 1000), in->restarts);
        log_warn("reconciler", "%s", in->last_exit);
        ctl_event_pod(r->st, in->svc->region, in->svc->id, in->index, CTL_EVENT_WARNING,
                      oom ? "OOMKilled" : "Exited", 0, "The instance %s", how);
        ctl_event_pod(r->st, in->svc->region, in->svc->id, in->index, CTL_EVENT_WARNING, "BackOff",
                      CTL_EVENT_FOLD_REASON, "Back-off %llus restarting the failed instance",
                      (unsigned long long)(delay / 1000));
    }
    in->pid = in->pgid = 0;
    in->ready = false;
    free(id);
    inst_unwatch(in);
}

/* A process instance ended with 'wstatus' (as wait(2) gives it, or as its
 * keeper recorded it for an adopted one); its cgroup says whether the
 * memory limit killed it. */
static void inst_exited_status(struct ctl_reconciler *r, struct inst *in, int wstatus)
{
    char how[96];
    unsigned limit_mib = in->cg.memory_mib;
    bool oom = ctl_limits_finish(r->limits, &in->cg);
    if (oom && WIFSIGNALED(wstatus) && WTERMSIG(wstatus) == SIGKILL)
        snprintf(how, sizeof(how), "was killed for using more than its memory limit, %u MiB",
                 limit_mib);
    else if (WIFSIGNALED(wstatus))
        snprintf(how, sizeof(how), "was killed by signal %d", WTERMSIG(wstatus));
    else
        snprintf(how, sizeof(how), "exited with status %d", WEXITSTATUS(wstatus));
    inst_exited(r, in, how, oom);
}

static void on_sigchld(uv_signal_t *h, int signum)
{
    struct ctl_reconciler *r = h->data;
    (void)signum;
    int wstatus;
    pid_t pid;
    while ((pid = waitpid(-1, &wstatus, WNOHANG)) > 0) {
        struct inst *in = find_pid(r, pid);
        if (in && !in->adopted)
            inst_exited_status(r, in, wstatus);
    }
    reconcile(r);
}

/* What the container driver's threads report, on the loop. */
static void on_container_report(void *arg, struct drv_container *ct,
                                const struct drv_ct_report *rep)
{
    struct ctl_reconciler *r = arg;
    struct inst *in = rep->data;
    if (!in || in->ct != ct)
        return;
    struct svc *s = in->svc;
    switch (rep->kind) {
    case DRV_CT_PROGRESS:
        snprintf(in->progress, sizeof(in->progress), "%.199s", rep->text);
        ctl_event_pod(r->st, s->region, s->id, in->index, CTL_EVENT_NORMAL,
                      strncmp(rep->text, "pulled", 6) == 0 ? "Pulled" : "Pulling",
                      CTL_EVENT_FOLD_REASON, "%s", rep->text);
        return;
    case DRV_CT_RUNNING: {
        in->progress[0] = '\0';
        struct probe_cfg pc;
        probe_config(in->spec_json ? in->spec_json : "{}", &pc);
        in->next_probe_ms = now_ms() + (pc.initial_delay_ms ? pc.initial_delay_ms : 50);
        struct drv_container *keep = in->ct;
        in->ct = NULL; /* health_reset: it runs now */
        health_reset(in, now_ms());
        in->ct = keep;
        log_info("reconciler", "instance %s-%d: %s", s->id, in->index, rep->text);
        return;
    }
    case DRV_CT_EXITED:
        break;
    }
    in->ct = NULL;
    if (rep->create_failed && in->state == I_RUNNING) {
        /* A missing image or a failed pull: the spec cannot run, as a
         * model that does not load. */
        char *id = xasprintf("%s-%d", s->id, in->index);
        store_instance_delete(r->st, id, NULL);
        free(id);
        if (inst_current(s, in) && !s->create_failed[0]) {
            snprintf(s->create_failed, sizeof(s->create_failed), "%.500s", rep->text);
            log_error("reconciler", "service %s: %s", s->id, s->create_failed);
            ctl_event_version(r->st, s->region, s->id, CTL_EVENT_WARNING, "Failed",
                              "The new spec failed: %s%s", s->create_failed,
                              s->rolling ? "; the outdated instances keep serving" : "");
            s->rolling = false;
        }
        in->state = I_NONE;
        in->progress[0] = '\0';
        in->pid = 0;
        in->ready = false;
        return;
    }
    inst_exited(r, in, rep->text, false);
}

static void wake_reconciler(void *arg)
{
    ctl_reconciler_kick(arg);
}

/* ------------------------------------------------------------------------ */
/* Readiness probes, on libuv's thread pool                                 */

struct probe {
    uv_work_t work;
    struct ctl_reconciler *r;
    struct inst *in;
    pid_t pid;
    int port;
    struct probe_cfg cfg;
    bool ready;
    char failed[512];  /* the model did not load: berth-serve's error */
    int64_t serving;   /* the newest AVAILABLE version */
    const char *which; /* NULL: readiness; "StartupProbe" or "LivenessProbe" */
};

static int connect_timeout(int port, int timeout_ms)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0 && errno != EINPROGRESS) {
        close(fd);
        return -1;
    }
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    int soerr = 0;
    socklen_t len = sizeof(soerr);
    if (poll(&p, 1, timeout_ms) != 1 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0 ||
        soerr != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* GET 'path'; the status line and up to sizeof(buf)-1 bytes land in buf. */
static size_t http_get(int fd, const char *path, uint64_t timeout_ms, char *buf, size_t size)
{
    char req[512];
    int len = snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", path);
    size_t n = 0;
    if (len > 0 && write(fd, req, (size_t)len) == len) {
        uint64_t deadline = now_ms() + timeout_ms;
        while (n < size - 1 && now_ms() < deadline) {
            struct pollfd pf = {.fd = fd, .events = POLLIN};
            if (poll(&pf, 1, (int)(deadline - now_ms())) != 1)
                break;
            ssize_t k = read(fd, buf + n, size - 1 - n);
            if (k <= 0)
                break;
            n += (size_t)k;
        }
    }
    buf[n] = '\0';
    return n;
}

static void probe_work(uv_work_t *w)
{
    struct probe *p = w->data;
    int fd = connect_timeout(p->port, (int)p->cfg.timeout_ms);
    if (fd < 0)
        return;
    if (p->cfg.type == PROBE_TCP) {
        p->ready = true;
        close(fd);
        return;
    }
    char buf[8192];
    http_get(fd, p->cfg.type == PROBE_HTTP ? p->cfg.path : "/v1/models/m", p->cfg.timeout_ms, buf,
             sizeof(buf));
    close(fd);
    if (p->cfg.type == PROBE_HTTP) {
        /* Kubernetes' rule: any status from 200 to 399 is success. */
        int status = 0;
        p->ready = sscanf(buf, "HTTP/1.%*d %d", &status) == 1 && status >= 200 && status < 400;
        return;
    }
    if (strncmp(buf, "HTTP/1.1 200", 12) == 0 && strstr(buf, "\"AVAILABLE\"")) {
        p->ready = true;
        /* {"version": "2", "state": "AVAILABLE", ...}, newest first. */
        for (const char *v = buf; (v = strstr(v, "\"version\": \"")); v++) {
            long long n = strtoll(v + 12, NULL, 10);
            const char *state = strstr(v, "\"state\": \"");
            if (state && strncmp(state + 10, "AVAILABLE", 9) == 0 && n > p->serving)
                p->serving = n;
        }
        return;
    }
    /* A version that failed to load: {"state": "END", ... "error_message": "..."}. */
    const char *end = strstr(buf, "\"state\": \"END\"");
    const char *msg = end ? strstr(end, "\"error_message\": \"") : NULL;
    if (msg) {
        msg += 18;
        size_t k = 0;
        while (msg[k] && msg[k] != '"' && k < sizeof(p->failed) - 1) {
            p->failed[k] = msg[k];
            k++;
        }
        p->failed[k] = '\0';
    }
}

static void free_inst(struct inst *in)
{
    inst_unwatch(in);
    free(in->spec_json);
    free(in);
}

static void inst_signal(const struct inst *in, int sig);

/* The startup or liveness probe returned: count, and restart the instance
 * (kill it: its exit is handled as a crash) past the failure threshold. */
static void health_done(struct probe *p)
{
    struct inst *in = p->in;
    struct ctl_reconciler *r = p->r;
    in->lprobing = false;
    if (in->orphaned) {
        if (!in->probing)
            free_inst(in);
    } else if (in->state == I_RUNNING && in->pid == p->pid) {
        bool startup = strcmp(p->which, "StartupProbe") == 0;
        in->lfailures = p->ready ? 0 : in->lfailures + 1;
        uint64_t now = now_ms();
        in->next_lprobe_ms = now + p->cfg.period_ms;
        if (p->ready && startup) {
            /* Passed: readiness starts now, liveness after its delay. */
            struct probe_cfg live;
            probe_config_of(in->spec_json, "LivenessProbe", &live);
            in->startup_passed = true;
            in->next_probe_ms = now;
            in->next_lprobe_ms = now + live.initial_delay_ms;
            log_info("reconciler", "instance %s-%d passed its startup probe", in->svc->id,
                     in->index);
        } else if (!p->ready && in->lfailures >= p->cfg.failure_threshold) {
            const char *what = startup ? "startup" : "liveness";
            snprintf(in->last_exit, sizeof(in->last_exit),
                     "instance %s-%d failed its %s probe %d time%s: restarting it", in->svc->id,
                     in->index, what, in->lfailures, in->lfailures == 1 ? "" : "s");
            log_warn("reconciler", "%s", in->last_exit);
            ctl_event_pod(r->st, in->svc->region, in->svc->id, in->index, CTL_EVENT_WARNING,
                          "Unhealthy", 0, "%c%s probe failed %d time%s: restarting the instance",
                          startup ? 'S' : 'L', startup ? "tartup" : "iveness", in->lfailures,
                          in->lfailures == 1 ? "" : "s");
            in->lfailures = 0;
            in->next_lprobe_ms = UINT64_MAX; /* until it runs again */
            inst_signal(in, SIGKILL);
        }
    }
    free(p);
    if (r->stopping)
        reconcile(r);
}

static void probe_done(uv_work_t *w, int status)
{
    struct probe *p = w->data;
    struct inst *in = p->in;
    bool changed = false;
    (void)status;
    p->r->probes_pending--;
    if (p->which) {
        health_done(p);
        return;
    }
    in->probing = false;
    if (in->orphaned) {
        if (!in->lprobing)
            free_inst(in);
    } else if (in->state == I_RUNNING && in->pid == p->pid) {
        in->serving = p->ready ? p->serving : in->serving;
        if (p->ready) {
            if (p->r->routes) /* the gateway may have ejected it: back into rotation */
                gw_table_probe_passed(p->r->routes, "127.0.0.1", p->port);
            in->successes++;
            in->failures = 0;
        } else {
            in->failures++;
            in->successes = 0;
        }
        bool was = in->ready;
        if (!in->ready && in->successes >= p->cfg.success_threshold) {
            in->ready = true;
            in->failed = false;
        } else if (in->ready && in->failures >= p->cfg.failure_threshold) {
            in->ready = false;
            in->failed = true;
            snprintf(in->last_exit, sizeof(in->last_exit),
                     "instance %s-%d failed its readiness probe %d time%s", in->svc->id, in->index,
                     in->failures, in->failures == 1 ? "" : "s");
        }
        if (in->ready != was)
            log_info("reconciler", "instance %s-%d is %s", in->svc->id, in->index,
                     in->ready ? "ready" : "not ready");
        if (in->ready && !was)
            ctl_event_pod(p->r->st, in->svc->region, in->svc->id, in->index, CTL_EVENT_NORMAL,
                          "Ready", 0, "The instance is ready");
        else if ((was && !in->ready) ||
                 (!in->ready && p->cfg.configured && in->failures == p->cfg.failure_threshold))
            ctl_event_pod(p->r->st, in->svc->region, in->svc->id, in->index, CTL_EVENT_WARNING,
                          "Unhealthy", 0, "Readiness probe failed %d time%s", in->failures,
                          in->failures == 1 ? "" : "s");
        changed = in->ready != was;
        if (p->failed[0] && !in->svc->create_failed[0] && inst_current(in->svc, in)) {
            snprintf(in->svc->create_failed, sizeof(in->svc->create_failed),
                     "the model did not load: %.480s", p->failed);
            log_error("reconciler", "service %s: %s", in->svc->id, in->svc->create_failed);
            ctl_event_version(p->r->st, in->svc->region, in->svc->id, CTL_EVENT_WARNING, "Failed",
                              "The new spec failed: %s%s", in->svc->create_failed,
                              in->svc->rolling ? "; the outdated instances keep serving" : "");
            in->svc->rolling = false;
        }
        /* Until first ready, look often; then at the configured period. */
        uint64_t period = p->cfg.period_ms;
        if (!in->svc->probe_configured && !in->ready)
            period = PROBE_EVERY_MS / 3;
        else if (!in->svc->probe_configured)
            period = PROBE_EVERY_MS * 3;
        in->next_probe_ms = now_ms() + period;
    }
    struct ctl_reconciler *r = p->r;
    free(p);
    /* A change of readiness is published at once, not at the next tick, and
     * a rollout waiting for this instance moves on. */
    if (r->stopping || changed)
        reconcile(r);
    else
        schedule_probes(r, now_ms());
}

/* Probe 'in' on the thread pool: readiness ('which' NULL), or its startup
 * probe (until it passed) or liveness probe ("StartupProbe", "LivenessProbe"). */
static void probe_launch(struct ctl_reconciler *r, struct inst *in, const char *which)
{
    struct probe *p = xcalloc(1, sizeof(*p));
    bool *busy = which ? &in->lprobing : &in->probing;
    p->work.data = p;
    p->r = r;
    p->in = in;
    p->pid = in->pid;
    p->port = in->port;
    p->which = which;
    probe_config_of(in->spec_json, which ? which : "Probe", &p->cfg);
    *busy = true;
    r->probes_pending++;
    if (uv_queue_work(r->loop, &p->work, probe_work, probe_done) != 0) {
        *busy = false;
        r->probes_pending--;
        free(p);
    }
}

static void probe_start(struct ctl_reconciler *r, struct inst *in)
{
    probe_launch(r, in, NULL);
}

static void health_start(struct ctl_reconciler *r, struct inst *in, const char *which)
{
    probe_launch(r, in, which);
}

/* ------------------------------------------------------------------------ */
/* Status                                                                   */

/* Abnormal means failure: an instance crashed or lost its readiness and has
 * not recovered. Instances that are only starting (a scale-up, the new side of
 * a rollout) leave a version that serves Normal. */
/* ------------------------------------------------------------------------ */
/* The cluster (drivers/kube_driver.h): what runs an image runs there       */

/* Hand 's' to the cluster, or take it back: an image service in the store
 * runs there, a command service stays a process here. While berthd itself
 * stops, the cluster keeps what it runs. */
static void kube_reconcile(struct ctl_reconciler *r, struct svc *s)
{
    if (!r->kube || r->stopping)
        return;
    /* Said already, and nothing changed since: the driver keeps the wish
     * (this runs every tick, for every version). */
    if (s->on_kube && s->in_store && s->spec_json && s->kube_spec &&
        s->replicas == s->kube_replicas && strcmp(s->kube_spec, s->spec_json) == 0)
        return;
    /* The whole spec: the cluster's autoscaler reads the scaling the run
     * spec leaves out; the hash of what runs decides a rollout. */
    json_t *spec = s->in_store && s->spec_json ? json_loads(s->spec_json, 0, NULL) : NULL;
    if (!spec || drv_kind_of(spec_str(spec, "Kind")) != DRV_CONTAINER) {
        if (s->on_kube)
            drv_kube_forget(r->kube, s->id);
        s->on_kube = false;
        free(s->kube_spec);
        s->kube_spec = NULL;
        json_decref(spec);
        return;
    }
    char hash[17], token[65];
    spec_hash(s->run_spec, hash);
    struct spec_request lim = {0};
    ctl_limits_of_spec(s->run_spec, &lim);
    bool runtime = *spec_str(spec, "Runtime") != '\0';
    char *config = runtime ? models_config_text(spec, "/srv/base") : NULL;
    /* In the claim, which holds the data directory's models/. */
    char *models = xasprintf("%s/models/", r->data_dir);
    const char *path = spec_str(spec, "ModelPath");
    const char *subpath = strncmp(path, models, strlen(models)) == 0 ? path + strlen(models) : NULL;
    if (runtime && r->have_seal_key)
        ctl_model_token(r->seal_key, sizeof(r->seal_key), s->id, token);
    struct drv_kube_want w = {.service_id = s->id,
                              .group_id = s->group_id,
                              .region = s->region,
                              .run_spec = s->spec_json,
                              .spec_hash = hash,
                              .replicas = s->replicas,
                              .cpu_millicores = lim.cpu_millicores,
                              .memory_mib = lim.memory_mib,
                              .models_config = config,
                              .model_subpath = subpath,
                              .token = runtime && r->have_seal_key ? token : NULL};
    drv_kube_want(r->kube, &w);
    s->on_kube = true;
    free(s->kube_spec);
    s->kube_spec = xstrdup(s->spec_json);
    s->kube_replicas = s->replicas;
    crypto_wipe(token, sizeof(token));
    free(models);
    free(config);
    json_decref(spec);
}

/* A version on the cluster as TI-ONE shows it: the Deployment's and Pods'
 * status, or why its objects could not be made. */
static void kube_status(struct ctl_reconciler *r, struct svc *s, struct ctl_status *out)
{
    struct drv_kube_status ks;
    drv_kube_status(r->kube, s->id, &ks);
    json_t *spec = json_loads(s->run_spec ? s->run_spec : "{}", 0, NULL);
    int port = kube_container_port(spec);
    json_decref(spec);
    memset(out, 0, sizeof(*out));
    out->pods = xcalloc(ks.obs.npods ? ks.obs.npods : 1, sizeof(struct ctl_pod));
    for (size_t i = 0; i < ks.obs.npods; i++) {
        const struct kube_pod *kp = &ks.obs.pods[i];
        struct ctl_pod *p = &out->pods[out->npods++];
        snprintf(p->name, sizeof(p->name), "%s", kp->name);
        snprintf(p->phase, sizeof(p->phase), "%s", kp->phase);
        p->ready = kp->ready;
        p->restarts = kp->restarts;
        if (kp->ip[0])
            snprintf(p->address, sizeof(p->address), "%s:%d", kp->ip, port);
        snprintf(p->start_time, sizeof(p->start_time), "%s", kp->start_time);
        out->restarts += (uint64_t)kp->restarts;
    }
    const char *st = ks.obs.status, *reason = ks.obs.reason[0] ? ks.obs.reason : ks.reason;
    if (!ks.applied)
        st = ks.refused ? "CREATE_FAILED" : "CREATING", reason = ks.reason;
    else if (ks.refused && s->replicas > 0)
        st = "Abnormal", reason = ks.reason; /* an update refused; the old pods serve */
    snprintf(out->status, sizeof(out->status), "%s", st);
    snprintf(out->reason, sizeof(out->reason), "%s", reason);
    snprintf(out->group_id, sizeof(out->group_id), "%s", s->group_id);
    out->replicas = ks.obs.replicas;
    out->updated = ks.obs.updated;
    out->ready = ks.obs.ready;
    out->desired = ks.hpa_owns ? ks.obs.desired : s->replicas;
    out->cluster_scaled = ks.hpa_owns;
    free(ks.obs.pods);
}

/* The ready pods of a version on the cluster, from its EndpointSlices. */
static struct gw_instance *kube_routes(struct ctl_reconciler *r, struct svc *s, size_t *n)
{
    size_t m;
    struct drv_kube_endpoint *eps = drv_kube_endpoints(r->kube, s->id, &m);
    struct gw_instance *out = xcalloc(m ? m : 1, sizeof(*out));
    *n = 0;
    for (size_t i = 0; i < m; i++) {
        if (strlen(eps[i].host) >= sizeof(out->host))
            continue; /* IPv6: the gateway dials IPv4 */
        snprintf(out[*n].host, sizeof(out[*n].host), "%s", eps[i].host);
        out[(*n)++].port = eps[i].port;
    }
    free(eps);
    return out;
}

/* A Kubernetes event of one of berthd's objects, into DescribeEvents. */
static void on_kube_event(void *arg, const struct drv_kube_event *ev)
{
    struct ctl_reconciler *r = arg;
    struct ctl_event e = {.region = ev->region,
                          .service_id = ev->service_id,
                          .kind = ev->kind,
                          .name = ev->name,
                          .type =
                              strcmp(ev->type, "Warning") ? CTL_EVENT_NORMAL : CTL_EVENT_WARNING,
                          .reason = ev->reason,
                          .message = ev->message};
    for (int i = 0; i < ev->count; i++) {
        struct err err = {0};
        if (ctl_event_record(r->st, &e, &err) != 0) {
            log_warn("reconciler", "cannot record the cluster's event %s of %s: %s", ev->reason,
                     ev->name, err.msg);
            break;
        }
    }
}

static void compute_status(struct svc *s, struct ctl_status *out)
{
    memset(out, 0, sizeof(*out));
    out->pods = xcalloc(s->ninsts ? s->ninsts : 1, sizeof(struct ctl_pod));
    bool any_failed = false, any_stopping = false;
    const char *reason = NULL;
    for (size_t i = 0; i < s->ninsts; i++) {
        const struct inst *in = s->insts[i];
        if (!in || in->state == I_NONE)
            continue;
        struct ctl_pod *p = &out->pods[out->npods++];
        snprintf(p->name, sizeof(p->name), "%s-%d", s->id, in->index);
        p->ready = in->ready;
        p->restarts = in->restarts;
        snprintf(p->start_time, sizeof(p->start_time), "%s", in->start_time);
        if (in->port > 0)
            snprintf(p->address, sizeof(p->address), "127.0.0.1:%d", in->port);
        if (in->state == I_RUNNING && in->usage_ms) {
            p->usage_known = true;
            p->cpu_seconds = in->usage.cpu_seconds;
            p->cpu_cores = in->cpu_cores;
            p->memory_bytes = in->usage.memory_bytes;
        }
        switch (in->state) {
        case I_RUNNING:
            snprintf(p->phase, sizeof(p->phase), "%s", in->ready ? "Running" : "Pending");
            out->replicas++;
            out->updated += inst_current(s, in);
            out->ready += in->ready;
            if (in->failed) {
                any_failed = true;
                reason = in->last_exit;
            } else if (!reason && in->progress[0]) {
                reason = in->progress; /* a container's pull */
            }
            break;
        case I_STOPPING:
            snprintf(p->phase, sizeof(p->phase), "Terminating");
            out->replicas++;
            any_stopping = true;
            break;
        default:
            snprintf(p->phase, sizeof(p->phase), "Failed");
            any_failed = true;
            reason = in->last_exit;
            break;
        }
    }
    if (s->replicas == 0)
        s->ever_normal = false;
    else if (out->ready >= s->replicas)
        s->ever_normal = true;
    const char *st;
    if (!s->seen)
        st = "CREATING";
    else if (s->create_failed[0])
        /* An update whose model does not load, while the old instances serve. */
        st = out->ready ? "Abnormal" : "CREATE_FAILED", reason = s->create_failed;
    else if (s->replicas == 0)
        st = any_stopping || out->replicas ? "Stopping" : "Stopped";
    else if (any_failed)
        st = "Abnormal";
    else if (out->ready >= s->replicas || (out->ready > 0 && s->ever_normal))
        st = "Normal";
    else if (out->replicas)
        st = "Waiting";
    else
        st = "Pending";
    snprintf(out->status, sizeof(out->status), "%s", st);
    snprintf(out->group_id, sizeof(out->group_id), "%s", s->group_id);
    out->desired = s->replicas;
    out->restarts = s->restarts;
    if (reason)
        snprintf(out->reason, sizeof(out->reason), "%s", reason);
}

/* A version's ServiceLimit, as the gateway applies it: 0 when off. */
static void service_limits(const json_t *spec, unsigned *rps, unsigned *inflight)
{
    const json_t *l = json_object_get(spec, "ServiceLimit");
    *rps = json_is_true(json_object_get(l, "EnableInstanceRpsLimit"))
               ? (unsigned)json_integer_value(json_object_get(l, "InstanceRpsLimit"))
               : 0;
    *inflight = json_is_true(json_object_get(l, "EnableInstanceReqLimit"))
                    ? (unsigned)json_integer_value(json_object_get(l, "InstanceReqLimit"))
                    : 0;
}

/* A token's quotas from its Limits list. */
static void token_quotas(const char *limits_json, uint64_t *per_minute, uint64_t *per_day)
{
    *per_minute = *per_day = 0;
    json_t *limits = json_loads(limits_json, 0, NULL);
    size_t k;
    json_t *l;
    json_array_foreach(limits, k, l)
    {
        const char *strategy = json_string_value(json_object_get(l, "Strategy"));
        uint64_t max = (uint64_t)json_integer_value(json_object_get(l, "Max"));
        if (strategy && strcmp(strategy, "PerMinute") == 0)
            *per_minute = max;
        else if (strategy && strcmp(strategy, "PerDay") == 0)
            *per_day = max;
    }
    json_decref(limits);
}

/* Each group's call authentication, tokens and cap, from the store. When
 * they cannot be read, every group is published closed (auth on, no
 * credential), never open. */
static void publish_auth(struct ctl_reconciler *r, struct gw_routes *routes)
{
    struct store_group *gs = NULL;
    struct store_token *ts = NULL;
    size_t ng = 0, nt = 0;
    struct err err = {0};
    if (store_group_list(r->st, NULL, &gs, &ng, &err) != 0 ||
        store_token_list(r->st, NULL, &ts, &nt, &err) != 0) {
        log_error("reconciler", "cannot read call authentication: %s; closing every group",
                  err.msg);
        for (size_t i = 0; i < routes->ngroups; i++)
            gw_routes_group(routes, routes->groups[i].id, true, NULL, NULL, r->group_qps_cap);
        nt = 0;
    }
    for (size_t i = 0; i < ng; i++) {
        char *secret = NULL;
        size_t len;
        if (*gs[i].app_secret && r->have_seal_key) {
            secret = xmalloc(strlen(gs[i].app_secret) + 1);
            if (crypto_open(r->seal_key, gs[i].id, gs[i].app_secret, secret, &len) != 0) {
                log_error("reconciler",
                          "the AppSecret of %s does not open with this berthd's secret key: "
                          "its signatures are refused",
                          gs[i].id);
                free(secret);
                secret = NULL;
            }
        }
        gw_routes_group(routes, gs[i].id, gs[i].auth_enable, gs[i].app_key, secret,
                        r->group_qps_cap);
        if (secret) {
            crypto_wipe(secret, strlen(secret));
            free(secret);
        }
        store_group_release(&gs[i]);
    }
    for (size_t i = 0; i < nt; i++) {
        uint8_t hash[32];
        uint64_t per_minute, per_day;
        token_quotas(ts[i].limits_json, &per_minute, &per_day);
        if (crypto_unhex(ts[i].value_hash, strlen(ts[i].value_hash), hash, sizeof(hash)) == 0)
            gw_routes_token(routes, ts[i].group_id, hash, ts[i].id, per_minute, per_day);
        store_token_release(&ts[i]);
    }
    free(gs);
    free(ts);
}

/* The gateway's view: every version of every group with its ready instances,
 * its limits, and each group's call authentication. */
static void publish_routes(struct ctl_reconciler *r)
{
    if (!r->routes)
        return;
    struct gw_routes *routes = gw_routes_new();
    for (struct svc *s = r->svcs; s; s = s->next) {
        if (!s->in_store)
            continue;
        size_t n = 0;
        struct gw_instance *ready =
            s->on_kube ? kube_routes(r, s, &n) : xcalloc(s->ninsts ? s->ninsts : 1, sizeof(*ready));
        for (size_t i = 0; !s->on_kube && i < s->ninsts; i++) {
            const struct inst *in = s->insts[i];
            if (in && in->state == I_RUNNING && in->ready) {
                snprintf(ready[n].host, sizeof(ready[n].host), "127.0.0.1");
                ready[n++].port = in->port;
            }
        }
        json_t *spec = json_loads(s->spec_json ? s->spec_json : "{}", 0, NULL);
        uint64_t timeout_ms =
            (uint64_t)json_integer_value(json_object_get(spec, "RequestTimeoutMs"));
        unsigned rps, inflight;
        service_limits(spec, &rps, &inflight);
        const char *strategy = json_string_value(json_object_get(spec, "ScaleStrategy"));
        bool at_zero = s->replicas == 0 && !s->stopped && strategy && !strcmp(strategy, "CRON");
        bool wakeable = !s->stopped && ctl_hpa_wakes_from_zero(spec);
        json_decref(spec);
        gw_routes_add(routes, s->group_id, s->id, s->weight, timeout_ms, ready, n);
        gw_routes_limit(routes, s->id, rps, inflight);
        if (at_zero)
            gw_routes_scaled_to_zero(routes, s->id);
        if (wakeable)
            gw_routes_wakeable(routes, s->id);
        free(ready);
    }
    publish_auth(r, routes);
    gw_table_publish(r->routes, routes);
}

static void publish(struct ctl_reconciler *r)
{
    publish_routes(r);
    size_t n = 0;
    for (struct svc *s = r->svcs; s; s = s->next)
        n++;
    struct status_row *rows = xcalloc(n ? n : 1, sizeof(*rows));
    size_t k = 0;
    for (struct svc *s = r->svcs; s; s = s->next, k++) {
        rows[k].id = xstrdup(s->id);
        if (s->on_kube)
            kube_status(r, s, &rows[k].st);
        else
            compute_status(s, &rows[k].st);
    }
    pthread_mutex_lock(&r->lock);
    struct status_row *old = r->rows;
    size_t nold = r->nrows;
    r->rows = rows;
    r->nrows = n;
    pthread_mutex_unlock(&r->lock);
    for (size_t i = 0; i < nold; i++) {
        free(old[i].id);
        free(old[i].st.pods);
    }
    free(old);
}

void ctl_reconciler_status(struct ctl_reconciler *r, const char *service_id, struct ctl_status *out)
{
    memset(out, 0, sizeof(*out));
    snprintf(out->status, sizeof(out->status), "CREATING");
    pthread_mutex_lock(&r->lock);
    for (size_t i = 0; i < r->nrows; i++) {
        if (strcmp(r->rows[i].id, service_id) != 0)
            continue;
        *out = r->rows[i].st;
        out->pods = xcalloc(out->npods ? out->npods : 1, sizeof(struct ctl_pod));
        memcpy(out->pods, r->rows[i].st.pods, out->npods * sizeof(struct ctl_pod));
        break;
    }
    pthread_mutex_unlock(&r->lock);
}

void ctl_reconciler_statuses(struct ctl_reconciler *r, struct ctl_service_status **out, size_t *n)
{
    pthread_mutex_lock(&r->lock);
    *n = r->nrows;
    *out = xcalloc(r->nrows ? r->nrows : 1, sizeof(**out));
    for (size_t i = 0; i < r->nrows; i++) {
        struct ctl_service_status *o = &(*out)[i];
        snprintf(o->id, sizeof(o->id), "%s", r->rows[i].id);
        o->st = r->rows[i].st;
        o->st.pods = xcalloc(o->st.npods ? o->st.npods : 1, sizeof(struct ctl_pod));
        memcpy(o->st.pods, r->rows[i].st.pods, o->st.npods * sizeof(struct ctl_pod));
    }
    pthread_mutex_unlock(&r->lock);
}

void ctl_statuses_free(struct ctl_service_status *list, size_t n)
{
    for (size_t i = 0; list && i < n; i++)
        free(list[i].st.pods);
    free(list);
}

uint64_t ctl_reconciler_idle_ms(struct ctl_reconciler *r)
{
    uint64_t at = atomic_load(&r->pass_ms), now = now_ms();
    return now > at ? now - at : 0;
}

static int inst_usage(const struct inst *in, struct drv_usage *u)
{
    if (in->ct) {
        int pid = drv_container_pid(in->ct);
        return pid > 0 ? drv_usage_cgroup(pid, u) : -1;
    }
    struct drv_handle h = {.kind = DRV_PROCESS, .pid = in->pid, .pgid = in->pgid};
    return drv_usage(&h, u);
}

/* CPU and memory of every running instance, for DescribeModelService, the
 * metrics and the autoscaler: a few small /proc reads per process. */
static void sample_usage(struct ctl_reconciler *r, uint64_t now)
{
    if (now < r->usage_due_ms)
        return;
    r->usage_due_ms = now + CTL_USAGE_EVERY_MS;
    for (struct svc *s = r->svcs; s; s = s->next)
        for (size_t i = 0; i < s->ninsts; i++) {
            struct inst *in = s->insts[i];
            struct drv_usage u;
            /* While its leader lives: a kill of the leader is the exit's to report. */
            uint64_t ooms =
                in && !in->ct && in->state == I_RUNNING && in->pgid > 0 && kill(in->pgid, 0) == 0
                    ? ctl_limits_oom_news(&in->cg)
                    : 0;
            if (ooms)
                ctl_event_pod(r->st, s->region, s->id, in->index, CTL_EVENT_WARNING, "OOMKilled", 0,
                              "A process of the instance was killed for using more than its "
                              "memory limit, %u MiB",
                              in->cg.memory_mib);
            if (!in || in->state != I_RUNNING || inst_usage(in, &u) != 0)
                continue;
            /* Cores over the period; the first sample, since the start. */
            uint64_t since = in->usage_ms ? in->usage_ms : in->started_ms;
            double was = in->usage_ms ? in->usage.cpu_seconds : 0;
            in->cpu_cores = now > since && u.cpu_seconds >= was
                                ? (u.cpu_seconds - was) * 1000.0 / (double)(now - since)
                                : 0;
            in->usage = u;
            in->usage_ms = now;
        }
}

/* ------------------------------------------------------------------------ */
/* The loop                                                                 */

static struct svc *find_svc(struct ctl_reconciler *r, const char *id)
{
    for (struct svc *s = r->svcs; s; s = s->next)
        if (strcmp(s->id, id) == 0)
            return s;
    return NULL;
}

/* The events of a change of desired state, seen when it is read. */
static void replicas_event(struct ctl_reconciler *r, struct svc *s, int replicas, bool stopped)
{
    if (stopped && !s->stopped)
        ctl_event_version(r->st, s->region, s->id, CTL_EVENT_NORMAL, "Stopped",
                          "Stopped: %d -> 0 replicas", s->replicas);
    else if (s->stopped && !stopped)
        ctl_event_version(r->st, s->region, s->id, CTL_EVENT_NORMAL, "Resumed",
                          "Resumed with %d replica%s", replicas, replicas == 1 ? "" : "s");
    else
        ctl_event_version(r->st, s->region, s->id, CTL_EVENT_NORMAL, "Scaled",
                          "Scaled from %d to %d replicas", s->replicas, replicas);
}

static void rollout_begin(struct ctl_reconciler *r, struct svc *s, int replicas)
{
    s->rolling = replicas > 0;
    ctl_event_version(r->st, s->region, s->id, CTL_EVENT_NORMAL, "Updated", "%s",
                      replicas > 0 ? "The spec changed: rolling out, one new instance at a time"
                                   : "The spec changed: it runs when the version is resumed");
}

static int load_desired(struct ctl_reconciler *r)
{
    struct store_service *list;
    size_t n;
    struct err err = {0};
    if (store_service_list(r->st, NULL, &list, &n, &err) != 0) {
        log_error("reconciler", "cannot read services: %s", err.msg);
        return -1; /* keep what runs; try again next tick */
    }
    for (struct svc *s = r->svcs; s; s = s->next)
        s->in_store = false;
    for (size_t i = 0; i < n; i++) {
        /* A HYBRID_PAID version also runs its prepaid instances (resgroups.h). */
        if (!list[i].stopped)
            list[i].replicas += ctl_resgroups_hybrid_prepaid(list[i].spec_json);
        struct svc *s = find_svc(r, list[i].id);
        if (!s) {
            s = xcalloc(1, sizeof(*s));
            s->id = xstrdup(list[i].id);
            s->group_id = xstrdup(list[i].group_id);
            s->region = xstrdup(list[i].region);
            s->replicas = list[i].replicas;
            s->stopped = list[i].stopped;
            s->next = r->svcs;
            r->svcs = s;
        }
        if (!s->spec_json || strcmp(s->spec_json, list[i].spec_json) != 0) {
            char *before = s->spec_json;
            s->spec_json = xstrdup(list[i].spec_json);
            logs_deliver_route(r->deliver, s->id, s->spec_json);
            char *run = run_spec_of(s->spec_json);
            if (!s->run_spec || strcmp(s->run_spec, run) != 0)
                s->create_failed[0] = '\0'; /* what runs changed: try it */
            if (s->run_spec && strcmp(s->run_spec, run) != 0) {
                if (s->mounted)
                    ctl_storage_clean(r->st, r->volumes, s->region, s->id, before, "update");
                rollout_begin(r, s, list[i].replicas);
            }
            free(before);
            free(s->run_spec);
            s->run_spec = run;
            struct probe_cfg pc;
            probe_config(s->spec_json, &pc);
            s->probe_configured = pc.configured;
        }
        if (s->replicas == 0 && list[i].replicas > 0)
            s->create_failed[0] = '\0'; /* RESUME tries again */
        if (s->replicas != list[i].replicas)
            replicas_event(r, s, list[i].replicas, list[i].stopped);
        s->stopped = list[i].stopped;
        s->replicas = list[i].replicas;
        s->weight = list[i].weight > 0 ? (unsigned)list[i].weight : 0;
        s->in_store = true;
        store_service_release(&list[i]);
    }
    free(list);
    return 0;
}

/* The lowest slot that runs nothing, for a new instance (not a restart). */
static struct inst *free_slot(struct svc *s)
{
    size_t i = 0;
    while (i < s->ninsts && s->insts[i] && s->insts[i]->state != I_NONE)
        i++;
    if (i == s->ninsts) {
        s->insts = xrealloc(s->insts, (s->ninsts + 1) * sizeof(*s->insts));
        s->insts[s->ninsts++] = NULL;
    }
    if (!s->insts[i]) {
        s->insts[i] = xcalloc(1, sizeof(struct inst));
        s->insts[i]->svc = s;
        s->insts[i]->index = (int)i;
    }
    struct inst *in = s->insts[i];
    in->restarts = in->backoff_exp = 0;
    in->failed = false;
    in->last_exit[0] = '\0';
    return in;
}

/* Of the current instances, the one to give up first when there are too
 * many: a crashed one, then one not ready, then the highest index. */
static struct inst *surplus(struct svc *s)
{
    struct inst *best = NULL;
    int best_rank = -1;
    for (size_t i = 0; i < s->ninsts; i++) {
        struct inst *in = s->insts[i];
        if (!in || !inst_current(s, in) || (in->state != I_RUNNING && in->state != I_BACKOFF))
            continue;
        int rank = in->state == I_BACKOFF ? 2 : !in->ready;
        if (rank >= best_rank)
            best = in, best_rank = rank;
    }
    return best;
}

/* Stop an instance; an outdated one ('step') is a step of a rollout. */
static void rollout_stop(struct ctl_reconciler *r, struct svc *s, struct inst *in, bool step,
                         const char *why)
{
    if (step && s->rolling && (in->state == I_RUNNING || in->state == I_BACKOFF))
        ctl_event_version(r->st, s->region, s->id, CTL_EVENT_NORMAL, "RollingUpdate",
                          "Rollout: stopping outdated %s-%d (%s)", s->id, in->index, why);
    inst_stop(in);
}

/* A rollout is complete when every instance left runs the new spec and
 * enough of them are ready. */
static void rollout_check(struct ctl_reconciler *r, struct svc *s, int desired)
{
    int ready = 0;
    for (size_t i = 0; s->rolling && i < s->ninsts; i++) {
        const struct inst *in = s->insts[i];
        if (in && in->state != I_NONE && !inst_current(s, in))
            return;
        ready += in && in->state == I_RUNNING && in->ready;
    }
    if (!s->rolling || desired == 0 || ready < desired)
        return;
    s->rolling = false;
    ctl_event_version(r->st, s->region, s->id, CTL_EVENT_NORMAL, "RolloutComplete",
                      "Rollout complete: %d instance%s run%s the new spec", ready,
                      ready == 1 ? "" : "s", ready == 1 ? "s" : "");
}

/* Bring one service to its desired count and spec. A changed spec is rolled
 * out with a surge of one and nothing unavailable (Kubernetes' maxSurge 1,
 * maxUnavailable 0): a new instance starts next to the old ones, and an old
 * one is stopped only once a new one is ready to take its place, so even a
 * single replica keeps serving. Outdated instances that do not serve (crashed,
 * not ready) go at once. When the spec's model does not load ('broken'), its
 * instances go and the outdated ones that serve stay. */
static void reconcile_count(struct ctl_reconciler *r, struct svc *s, int desired, bool broken,
                            uint64_t now)
{
    int cur = 0, cur_ready = 0, old = 0, stopping = 0;
    for (size_t i = 0; i < s->ninsts; i++) {
        struct inst *in = s->insts[i];
        if (!in)
            continue;
        bool current = inst_current(s, in);
        if (desired == 0 || (current && broken) ||
            (!current && !(in->state == I_RUNNING && in->ready)))
            rollout_stop(r, s, in, desired > 0 && !current, "it does not serve");
        else if (in->state == I_BACKOFF && now >= in->restart_at_ms)
            inst_start(r, in);
        if (in->state == I_STOPPING)
            stopping++;
        else if (in->state != I_NONE && current)
            cur++, cur_ready += in->state == I_RUNNING && in->ready;
        else if (in->state == I_RUNNING)
            old++;
    }
    for (; cur > desired; cur--) {
        struct inst *in = surplus(s);
        cur_ready -= in->state == I_RUNNING && in->ready;
        inst_stop(in);
        stopping += in->state == I_STOPPING;
    }
    for (size_t i = s->ninsts; i-- > 0 && old > 0 && cur_ready + old > desired;) {
        struct inst *in = s->insts[i];
        if (in && in->state == I_RUNNING && !inst_current(s, in)) {
            rollout_stop(r, s, in, true, "a new one is ready");
            old--, stopping++;
        }
    }
    for (; !broken && cur < desired && (old == 0 || cur + old + stopping <= desired); cur++) {
        struct inst *in = free_slot(s);
        inst_start(r, in);
        if (s->rolling)
            ctl_event_version(r->st, s->region, s->id, CTL_EVENT_NORMAL, "RollingUpdate",
                              "Rollout: started %s-%d with the new spec", s->id, in->index);
    }
    rollout_check(r, s, desired);
}

static void hot_done(void *arg, const char *service_id)
{
    struct ctl_reconciler *r = arg;
    struct svc *s = find_svc(r, service_id);
    r->probes_pending--; /* pending work, counted with the probes for the stop */
    if (s)
        s->hot_busy = false;
}

/* Hot update: once a second, new versions of the model into the service's
 * base path (on a thread), and auto-clean once every running instance,
 * outdated ones of a rollout too, serves a newer one. */
static void hot_update(struct ctl_reconciler *r, struct svc *s, uint64_t now)
{
    if (now < s->hot_due_ms || s->hot_busy || !s->in_store || r->stopping ||
        !strstr(s->spec_json, "\"ModelHotUpdateEnable\""))
        return;
    s->hot_due_ms = now + 1000;
    int64_t served = -1;
    for (size_t i = 0; i < s->ninsts; i++) {
        struct inst *in = s->insts[i];
        if (in && in->state == I_RUNNING)
            served = served < 0 || in->serving < served ? in->serving : served;
    }
    struct ctl_hot_job job = {.loop = r->loop,
                              .st = r->st,
                              .volumes = r->volumes,
                              .instance_dir = r->instance_dir,
                              .gid = r->user.set ? r->user.gid : (gid_t)-1,
                              .service_id = s->id,
                              .region = s->region,
                              .spec_json = s->spec_json,
                              .served = served,
                              .done = hot_done,
                              .arg = r};
    if (served >= 0 && ctl_hotupdate_queue(&job) == 0) {
        s->hot_busy = true;
        r->probes_pending++;
    }
}

static void inst_signal(const struct inst *in, int sig)
{
    struct drv_handle h = {.kind = in->ct ? DRV_CONTAINER : DRV_PROCESS,
                           .pid = in->pid,
                           .pgid = in->pgid,
                           .ct = in->ct};
    drv_signal(&h, sig);
}

static bool reconcile_svc(struct ctl_reconciler *r, struct svc *s, uint64_t now)
{
    kube_reconcile(r, s);
    if (!s->on_kube)
        hot_update(r, s, now);
    int desired = s->in_store && !r->stopping && !s->on_kube ? s->replicas : 0;
    reconcile_count(r, s, desired, s->create_failed[0] != '\0', now);
    bool alive = false;
    for (size_t i = 0; i < s->ninsts; i++) {
        struct inst *in = s->insts[i];
        if (!in)
            continue;
        if (in->adopted && (in->state == I_RUNNING || in->state == I_STOPPING))
            adopt_check_exit(r, in);
        if (in->state == I_STOPPING && !in->term_sent && now >= in->term_at_ms) {
            inst_signal(in, SIGTERM);
            in->term_sent = true;
        }
        if (in->state == I_STOPPING &&
            (now >= in->stop_deadline_ms || (r->stopping && now >= r->stop_deadline_ms))) {
            inst_signal(in, SIGKILL);
            in->stop_deadline_ms = now + SHUTDOWN_GRACE_MS;
        }
        if (in->state == I_STOPPING && in->ct && r->stopping &&
            now >= r->stop_deadline_ms + CT_ABANDON_MS) {
            /* berthd's own stop is bounded: a container still pulling or not
             * yet dead is left to the engine, and the next berthd adopts or
             * removes it by its labels. */
            log_warn("reconciler",
                     "leaving instance %s-%d to the container engine: it did not stop", s->id,
                     in->index);
            in->ct = NULL;
            in->state = I_NONE;
        }
        if (in->state == I_RUNNING && !in->probing && now >= in->next_probe_ms &&
            in->startup_passed)
            probe_start(r, in);
        if (in->state == I_RUNNING && !in->lprobing && now >= in->next_lprobe_ms &&
            (in->startup_passed ? in->has_liveness : in->has_startup))
            health_start(r, in, in->startup_passed ? "LivenessProbe" : "StartupProbe");
        alive |= in->state == I_RUNNING || in->state == I_STOPPING;
    }
    s->seen = true;
    return alive;
}

static void free_svc(struct svc *s)
{
    for (size_t i = 0; i < s->ninsts; i++) {
        struct inst *in = s->insts[i];
        if (!in)
            continue;
        if (in->probing || in->lprobing)
            in->orphaned = true; /* probe_done frees it */
        else
            free_inst(in);
    }
    free(s->insts);
    free(s->spec_json);
    free(s->run_spec);
    free(s->kube_spec);
    free(s->group_id);
    free(s->region);
    free(s->id);
    free(s);
}

static void on_closed(uv_handle_t *h)
{
    struct ctl_reconciler *r = h->data;
    if (--r->handles_open > 0)
        return;
    void (*done)(void *) = r->done;
    void *arg = r->done_arg;
    for (size_t i = 0; i < r->nrows; i++) {
        free(r->rows[i].id);
        free(r->rows[i].st.pods);
    }
    free(r->rows);
    pthread_mutex_destroy(&r->lock);
    pthread_cond_destroy(&r->synced);
    free(r->data_dir);
    free(r->instance_dir);
    free(r->berth_serve);
    ctl_limits_free(r->limits);
    crypto_wipe(r->seal_key, sizeof(r->seal_key));
    free(r);
    if (done)
        done(arg);
}

static void on_soon(uv_timer_t *t)
{
    reconcile(t->data);
}

/* A new instance should not wait for the 250 ms tick to be probed: arm a
 * timer for the earliest probe due before it. */
static void schedule_probes(struct ctl_reconciler *r, uint64_t now)
{
    uint64_t due = UINT64_MAX;
    for (struct svc *s = r->svcs; s; s = s->next)
        for (size_t i = 0; i < s->ninsts; i++) {
            const struct inst *in = s->insts[i];
            if (in && in->state == I_RUNNING && !in->probing && in->next_probe_ms < due)
                due = in->next_probe_ms;
        }
    if (due < now + TICK_MS && !r->stopping)
        uv_timer_start(&r->soon, on_soon, due > now ? due - now : 1, 0);
}

static void reconcile(struct ctl_reconciler *r)
{
    if (r->handles_open < 4)
        return; /* closing */
    if (r->detaching) {
        adopt_detach_step(r);
        return;
    }
    uint64_t now = now_ms();
    atomic_store(&r->pass_ms, now);
    /* This pass reads the store after every sync asked so far. */
    pthread_mutex_lock(&r->lock);
    uint64_t covers = r->syncs_asked;
    pthread_mutex_unlock(&r->lock);
    if (r->containers)
        drv_containers_poll(r->containers, on_container_report, r);
    bool loaded = !r->stopping && load_desired(r) == 0;
    bool any_alive = false;
    for (struct svc **p = &r->svcs; *p;) {
        struct svc *s = *p;
        bool alive = reconcile_svc(r, s, now);
        any_alive |= alive;
        if (s->mounted && !alive && !r->stopping && (!s->in_store || s->replicas == 0)) {
            ctl_storage_clean(r->st, r->volumes, s->region, s->id, s->spec_json,
                              s->in_store ? "stop" : "delete");
            s->mounted = false;
        }
        if (!s->in_store && !alive) {
            /* Deleted and stopped: its work directories (and their output) go too. */
            char *dir = xasprintf("%s/%s", r->instance_dir, s->id);
            struct err err = {0};
            if (!r->stopping && imports_remove_tree(dir, &err) != 0)
                log_warn("reconciler", "cannot remove %s: %s", dir, err.msg);
            free(dir);
            logs_deliver_route(r->deliver, s->id, NULL);
            *p = s->next;
            free_svc(s);
            continue;
        }
        p = &s->next;
    }
    if (loaded && r->kube && !r->kube_settled) {
        drv_kube_settled(r->kube); /* every version in the store is said */
        r->kube_settled = true;
    }
    sample_usage(r, now);
    publish(r);
    pthread_mutex_lock(&r->lock);
    if (covers > r->syncs_done) {
        r->syncs_done = covers;
        pthread_cond_broadcast(&r->synced);
    }
    pthread_mutex_unlock(&r->lock);
    schedule_probes(r, now);
    if (r->stopping && !any_alive && r->probes_pending == 0) {
        while (r->svcs) {
            struct svc *s = r->svcs;
            r->svcs = s->next;
            free_svc(s);
        }
        drv_containers_free(r->containers);
        r->containers = NULL;
        drv_kube_free(r->kube); /* its threads kick: before the handle closes */
        r->kube = NULL;
        uv_close((uv_handle_t *)&r->timer, on_closed);
        uv_close((uv_handle_t *)&r->soon, on_closed);
        uv_close((uv_handle_t *)&r->kick, on_closed);
        uv_close((uv_handle_t *)&r->sigchld, on_closed);
    }
}

static void on_tick(uv_timer_t *t)
{
    ctl_limits_retry(((struct ctl_reconciler *)t->data)->limits);
    reconcile(t->data);
}

static void on_kick(uv_async_t *a)
{
    reconcile(a->data);
}

void ctl_reconciler_kick(struct ctl_reconciler *r)
{
    uv_async_send(&r->kick);
}

#define SYNC_WAIT_MS 2000

void ctl_reconciler_sync(struct ctl_reconciler *r)
{
    pthread_mutex_lock(&r->lock);
    uint64_t ticket = ++r->syncs_asked;
    pthread_mutex_unlock(&r->lock);
    uv_async_send(&r->kick);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += SYNC_WAIT_MS / 1000;
    pthread_mutex_lock(&r->lock);
    while (r->syncs_done < ticket && pthread_cond_timedwait(&r->synced, &r->lock, &until) == 0)
        ;
    bool late = r->syncs_done < ticket;
    pthread_mutex_unlock(&r->lock);
    if (late)
        log_warn("reconciler", "the routes were not republished within %d ms", SYNC_WAIT_MS);
}

void ctl_reconciler_stop(struct ctl_reconciler *r, void (*done)(void *), void *arg)
{
    r->stopping = true;
    r->stop_deadline_ms = now_ms() + SHUTDOWN_GRACE_MS;
    r->done = done;
    r->done_arg = arg;
    reconcile(r);
}

/* ------------------------------------------------------------------------ */
/* Adoption: instances outlive berthd                                       */

static char *adopt_status_path(struct ctl_reconciler *r, const struct svc *s, const struct inst *in)
{
    return xasprintf("%s/%s/%d/keeper.status", r->instance_dir, s->id, in->index);
}

/* An adopted keeper is not our child: no SIGCHLD, so each pass looks. */
static void adopt_check_exit(struct ctl_reconciler *r, struct inst *in)
{
    if (!drv_watch_exited(&in->watch))
        return;
    char *path = adopt_status_path(r, in->svc, in);
    int wstatus;
    if (drv_keeper_status(path, &wstatus) != 0)
        wstatus = SIGKILL; /* the keeper itself was killed */
    free(path);
    inst_exited_status(r, in, wstatus);
}

/* Leaving: wait for the probes in flight, then free everything but what
 * runs. */
static void adopt_detach_step(struct ctl_reconciler *r)
{
    if (r->probes_pending > 0)
        return; /* probe_done comes back here */
    size_t left = 0;
    while (r->svcs) {
        struct svc *s = r->svcs;
        r->svcs = s->next;
        for (size_t i = 0; i < s->ninsts; i++)
            left += s->insts[i] &&
                    (s->insts[i]->state == I_RUNNING || s->insts[i]->state == I_STOPPING);
        free_svc(s);
    }
    log_info("reconciler", "leaving %zu instance%s running for the next berthd", left,
             left == 1 ? "" : "s");
    drv_kube_free(r->kube);
    r->kube = NULL;
    uv_close((uv_handle_t *)&r->timer, on_closed);
    uv_close((uv_handle_t *)&r->soon, on_closed);
    uv_close((uv_handle_t *)&r->kick, on_closed);
    uv_close((uv_handle_t *)&r->sigchld, on_closed);
}

void ctl_reconciler_detach(struct ctl_reconciler *r, void (*done)(void *), void *arg)
{
    r->stopping = r->detaching = true;
    r->done = done;
    r->done_arg = arg;
    reconcile(r);
}

/* End what a recorded instance left running: its keeper ends the instance
 * and everything under it; the sweep, what a killed keeper could not. */
static void adopt_end(struct ctl_reconciler *r, const struct store_instance *row, const char *why)
{
    int killed = 0;
    if (row->keeper_pid > 0 && drv_proc_is(row->keeper_pid, row->keeper_ticks))
        killed += kill(row->keeper_pid, SIGHUP) == 0;
    killed += drv_process_sweep(row->pgid, row->start_ticks);
    if (killed)
        log_info("reconciler", "ended instance %s left by a previous berthd (%s)", row->id, why);
    store_instance_delete(r->st, row->id, NULL);
}

/* The slot 'index' of 's', when free. */
static struct inst *adopt_slot(struct svc *s, long index)
{
    if (index < 0 || index >= 4096)
        return NULL;
    if ((size_t)index >= s->ninsts) {
        s->insts = xrealloc(s->insts, ((size_t)index + 1) * sizeof(*s->insts));
        while (s->ninsts <= (size_t)index)
            s->insts[s->ninsts++] = NULL;
    }
    if (s->insts[index] && s->insts[index]->state != I_NONE)
        return NULL; /* two rows for one slot: keep the first */
    if (!s->insts[index]) {
        s->insts[index] = xcalloc(1, sizeof(struct inst));
        s->insts[index]->svc = s;
        s->insts[index]->index = (int)index;
    }
    return s->insts[index];
}

/* Take over a live instance as if we had started it: its readiness probed
 * at once, so the first routes published carry it, and its output read
 * again from the pipes its keeper holds. An outdated one (another spec) is
 * replaced by the usual rollout, a surplus one stopped as usual. */
static void adopt_one(struct ctl_reconciler *r, struct svc *s, struct inst *in,
                      const struct store_instance *row, const struct drv_watch *w)
{
    uint64_t now = now_ms();
    in->state = I_RUNNING;
    in->pid = row->keeper_pid;
    in->keeper_ticks = row->keeper_ticks;
    in->pgid = row->pgid;
    in->start_ticks = row->start_ticks;
    in->port = row->port;
    in->adopted = true;
    in->watch = *w;
    in->restarts = row->restarts;
    in->failed = false;
    in->successes = in->failures = 0;
    free(in->spec_json);
    in->spec_json = xstrdup(row->spec);
    snprintf(in->start_time, sizeof(in->start_time), "%s", row->started_at);
    json_t *parsed = json_loads(s->spec_json, 0, NULL);
    json_int_t grace = json_integer_value(json_object_get(parsed, "GraceMs"));
    in->grace_ms = grace > 0 ? (uint64_t)grace : STOP_GRACE_MS;
    json_decref(parsed);
    in->started_ms = now;
    struct probe p = {.port = in->port};
    p.work.data = &p;
    probe_config(in->spec_json, &p.cfg);
    probe_work(&p.work);
    in->ready = p.ready;
    in->successes = p.ready;
    in->next_probe_ms = now + (p.cfg.configured ? p.cfg.period_ms : PROBE_EVERY_MS);
    int fds[2];
    if (r->logs && drv_keeper_pipes(in->pid, fds) == 0) {
        char pod[96];
        snprintf(pod, sizeof(pod), "%s-%d", s->id, in->index);
        logs_capture_attach(r->logs, s->group_id, s->id, pod, fds);
    }
    log_info("reconciler", "adopted instance %s pid=%d port=%d%s%s", row->id, (int)in->pgid,
             in->port, in->ready ? "" : " (not ready)",
             inst_current(s, in) ? "" : " (outdated: to be replaced)");
    ctl_event_pod(r->st, s->region, s->id, in->index, CTL_EVENT_NORMAL, "Adopted",
                  CTL_EVENT_FOLD_REASON, "Adopted the running instance on 127.0.0.1:%d", in->port);
}

/* At start: every instance recorded in the store that still runs, belongs
 * to a service in the store and has a slot of its own is adopted; the rest
 * (gone, unwanted, recorded before adoption existed) is ended and
 * forgotten. */
static void adopt_all(struct ctl_reconciler *r)
{
    struct store_instance *list;
    size_t n;
    struct err err = {0};
    if (store_instance_list(r->st, &list, &n, &err) != 0) {
        log_error("reconciler", "cannot read instances: %s", err.msg);
        return;
    }
    load_desired(r);
    size_t adopted = 0;
    const char **keep = xcalloc(n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++) {
        const struct store_instance *row = &list[i];
        struct svc *s = find_svc(r, row->service_id);
        size_t len = strlen(row->service_id);
        char *end = NULL;
        long index = -1;
        if (strncmp(row->id, row->service_id, len) == 0 && row->id[len] == '-' && row->id[len + 1])
            index = strtol(row->id + len + 1, &end, 10);
        const char *why = NULL;
        struct drv_watch w;
        struct inst *in = NULL;
        if (!s || !s->in_store)
            why = "its service is gone";
        else if (index < 0 || *end || row->keeper_pid <= 0 || !row->spec[0])
            why = "not adoptable";
        else if (!drv_proc_is(row->pgid, row->start_ticks) ||
                 drv_watch_open(&w, row->keeper_pid, row->keeper_ticks) != 0)
            why = "it is no longer running";
        else if (!(in = adopt_slot(s, index))) {
            drv_watch_close(&w);
            why = "a duplicate";
        }
        if (why) {
            adopt_end(r, row, why);
            continue;
        }
        adopt_one(r, s, in, row, &w);
        /* Its control group (named as inst_start names it) stays, and is its again. */
        keep[adopted++] = row->id;
        if (ctl_limits_adopt(r->limits, row->spec, row->id, &in->cg) != 0)
            log_warn("reconciler", "adopted instance %s has no control group of its own", row->id);
    }
    ctl_limits_sweep(r->limits, keep, adopted);
    free(keep);
    for (size_t i = 0; i < n; i++)
        store_instance_release(&list[i]);
    free(list);
    if (adopted)
        log_info("reconciler", "adopted %zu running instance%s", adopted, adopted == 1 ? "" : "s");
    publish(r);
}

/* A slot of 's' at 'index' for an adopted container; NULL when taken. */
static struct inst *slot_at(struct svc *s, int index)
{
    if (index < 0 || index > 4096)
        return NULL;
    while ((int)s->ninsts <= index) {
        s->insts = xrealloc(s->insts, (s->ninsts + 1) * sizeof(*s->insts));
        s->insts[s->ninsts++] = NULL;
    }
    if (s->insts[index] && s->insts[index]->state != I_NONE)
        return NULL;
    if (!s->insts[index]) {
        s->insts[index] = xcalloc(1, sizeof(struct inst));
        s->insts[index]->svc = s;
        s->insts[index]->index = index;
    }
    return s->insts[index];
}

/* After a restart: the containers this berthd labelled run on. Those of a
 * service in the store, one per slot, are adopted (their output followed
 * from now on, their exits handled as any); the rest are removed. One that
 * runs an older spec is adopted as outdated, and the rollout replaces it. */
static void adopt_containers(struct ctl_reconciler *r)
{
    json_t *list = NULL;
    struct err err = {0};
    if (drv_containers_list(r->containers, &list, &err) != 0) {
        log_error("reconciler", "cannot list the engine's containers: %s", err.msg);
        return;
    }
    load_desired(r);
    size_t i;
    json_t *c;
    json_array_foreach(list, i, c)
    {
        const char *id = spec_str(c, "Id");
        json_t *labels = json_object_get(c, "Labels");
        const char *state = spec_str(c, "State");
        struct svc *s = find_svc(r, spec_str(labels, "berth.service"));
        int index = atoi(spec_str(labels, "berth.index"));
        int port = atoi(spec_str(labels, "berth.port"));
        struct inst *in = s && s->in_store && strcmp(state, "running") == 0 && port > 0
                              ? slot_at(s, index)
                              : NULL;
        if (!in) {
            log_info("reconciler", "removing container %.12s (%s), which nothing wants", id,
                     spec_str(labels, "berth.service"));
            drv_containers_remove(r->containers, id);
            continue;
        }
        char hash[17];
        spec_hash(s->run_spec, hash);
        json_t *spec = json_loads(s->spec_json, 0, NULL);
        struct drv_ct_spec cs;
        container_spec(r, in, spec, &cs);
        json_decref(spec);
        int fds[2] = {-1, -1};
        char *dir = xasprintf("%s/%s/%d", r->instance_dir, s->id, in->index);
        char *log_path = xasprintf("%s/output.log", dir);
        mkdir_p(dir, 0711);
        if (container_fds(r, in, log_path, fds, &err) != 0)
            log_warn("reconciler", "output of adopted %s-%d is lost: %s", s->id, index, err.msg);
        cs.out_fd = fds[0];
        cs.err_fd = fds[1];
        in->ct = drv_container_adopt(r->containers, id, &cs);
        strv_free_null(cs.prestop);
        free(dir);
        free(log_path);
        in->pid = (pid_t) - (++r->ct_serial);
        in->pgid = 0;
        in->port = port;
        in->state = I_RUNNING;
        in->ready = false;
        in->grace_ms = cs.grace_ms;
        in->started_ms = now_ms();
        in->next_probe_ms = UINT64_MAX;
        free(in->spec_json);
        in->spec_json =
            xstrdup(strcmp(hash, spec_str(labels, "berth.spec")) == 0 ? s->run_spec : "{}");
        rfc3339_now(in->start_time);
        log_info("reconciler", "adopted container %.12s as %s-%d on 127.0.0.1:%d", id, s->id, index,
                 port);
        ctl_event_pod(r->st, s->region, s->id, index, CTL_EVENT_NORMAL, "Adopted", 0,
                      "berthd restarted and took over the running container on 127.0.0.1:%d", port);
    }
    json_decref(list);
}

static bool path_within(const char *path, const char *dir)
{
    size_t n = strlen(dir);
    return strncmp(path, dir, n) == 0 && (path[n] == '/' || path[n] == '\0' || n == 1);
}

/* The instance directory must hold nothing secret and be the instance
 * user's to reach; the model files must be reachable too. */
static int check_dirs(const struct ctl_config *cfg, char **instance_dir, struct err *err)
{
    int rc = mkdir_p(cfg->instance_dir, 0711);
    if (rc)
        return err_set(err, rc, "cannot create the instance directory '%s': %s", cfg->instance_dir,
                       strerror(-rc));
    *instance_dir = realpath(cfg->instance_dir, NULL);
    if (!*instance_dir)
        return err_set(err, ERR_SYS(errno), "cannot resolve '%s': %s", cfg->instance_dir,
                       strerror(errno));
    if (path_within(*instance_dir, cfg->data_dir) || path_within(cfg->data_dir, *instance_dir))
        return err_set(err, ERR_INVALID,
                       "--instance-dir '%s' must be outside the data directory '%s' and not "
                       "hold it",
                       *instance_dir, cfg->data_dir);
    chmod(*instance_dir, 0711);
    char *models = xasprintf("%s/models", cfg->data_dir);
    const char *paths[] = {*instance_dir, models};
    for (size_t i = 0; i < 2 && !rc; i++) {
        rc = drv_user_access(cfg->user, paths[i], X_OK);
        if (rc)
            err_set(err, rc,
                    "the instance user '%s' cannot reach '%s': %s (every directory above it "
                    "must be searchable: chmod o+x)",
                    cfg->user->name, paths[i], strerror(-rc));
    }
    free(models);
    return rc;
}

int ctl_reconciler_start(uv_loop_t *loop, struct store *st, const struct ctl_config *cfg,
                         struct gw_table *routes, struct ctl_reconciler **out, struct err *err)
{
    char *instance_dir = NULL;
    int rc = check_dirs(cfg, &instance_dir, err);
    if (rc) {
        free(instance_dir);
        return rc;
    }
    struct ctl_reconciler *r = xcalloc(1, sizeof(*r));
    r->loop = loop;
    r->st = st;
    r->routes = routes;
    r->data_dir = xstrdup(cfg->data_dir);
    r->instance_dir = xstrdup(instance_dir);
    free(instance_dir);
    r->berth_serve = xstrdup(cfg->berth_serve);
    r->user = *cfg->user;
    if (cfg->seal_key) {
        memcpy(r->seal_key, cfg->seal_key, sizeof(r->seal_key));
        r->have_seal_key = true;
    }
    r->group_qps_cap = cfg->group_qps_cap;
    r->deliver = cfg->deliver;
    r->logs = cfg->logs;
    r->limits = ctl_limits_new(cfg->cgroups);
    r->volumes = cfg->volumes;
    pthread_mutex_init(&r->lock, NULL);
    pthread_cond_init(&r->synced, NULL);
    adopt_all(r);
    if (cfg->engine_socket) {
        char owner[17];
        spec_hash(r->data_dir, owner); /* one berthd, one data directory */
        struct drv_containers_cfg dc = {.socket = cfg->engine_socket,
                                        .owner = owner,
                                        .auths = cfg->registry_auths,
                                        .nauths = cfg->nregistry_auths,
                                        .wake = wake_reconciler,
                                        .wake_arg = r};
        rc = drv_containers_new(&dc, &r->containers, err);
    }
    if (!rc && cfg->kube_conn) {
        char owner[17];
        spec_hash(r->data_dir, owner);
        struct drv_kube_cfg kc = {.owner = owner,
                                  .namespaces = cfg->kube_namespaces,
                                  .nnamespaces = cfg->nkube_namespaces,
                                  .runtime_image = cfg->kube_runtime_image,
                                  .model_url = cfg->kube_model_url,
                                  .model_ca = cfg->kube_model_ca,
                                  .model_pvc = cfg->kube_model_pvc,
                                  .host_network = cfg->kube_host_network,
                                  .wake = wake_reconciler,
                                  .wake_arg = r,
                                  .event = on_kube_event,
                                  .event_arg = r};
        rc = drv_kube_new(&kc, cfg->kube_conn, &r->kube, err);
    }
    if (rc) { /* nothing started yet: undo what this function set up */
        drv_containers_free(r->containers);
        pthread_mutex_destroy(&r->lock);
        pthread_cond_destroy(&r->synced);
        free(r->data_dir);
        free(r->instance_dir);
        free(r->berth_serve);
        free(r);
        return rc;
    }
    uv_timer_init(loop, &r->timer);
    uv_timer_init(loop, &r->soon);
    r->soon.data = r;
    uv_async_init(loop, &r->kick, on_kick);
    uv_signal_init(loop, &r->sigchld);
    r->timer.data = r->kick.data = r->sigchld.data = r;
    r->handles_open = 4;
    uv_signal_start(&r->sigchld, on_sigchld, SIGCHLD);
    if (r->containers)
        adopt_containers(r); /* its threads wake the loop: after the handles are made */
    if (r->kube && drv_kube_start(r->kube, err) != 0)
        log_error("reconciler", "%s", err->msg); /* no thread: nothing will be applied */
    uv_timer_start(&r->timer, on_tick, 0, TICK_MS);
    *out = r;
    return 0;
}
