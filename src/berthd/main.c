/* main.c - berthd: the platform daemon. Start-up creates the data directory,
 * takes its lock, opens the store, makes the administrator credential on first
 * start, resumes unfinished imports and serves the management API.
 * Options come from one table: defaults < --config file < command line. */
#include "api/api.h"
#include "berthd/takeover.h"
#include "base/alloc.h"
#include "base/buf.h"
#include "base/crypto.h"
#include "base/exe.h"
#include "base/log.h"
#include "base/version.h"
#include "berthd/notify.h"
#include "control/imports.h"
#include "control/metrics.h"
#include "control/billing.h"
#include "control/cronscale.h"
#include "control/schedstop.h"
#include "control/resgroups.h"
#include "control/hpa.h"
#include "control/reconciler.h"
#include "control/specs.h"
#include "drivers/cgroup.h"
#include "drivers/engine.h"
#include "drivers/mounts.h"
#include "drivers/process.h"
#include "gateway/gateway.h"
#include "gateway/metrics.h"
#include "http/server.h"
#include "http/tls.h"
#include "logs/deliver.h"
#include "logs/capture.h"
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define INSTANCE_USER_DEFAULT "berth-instance"

/* A repeatable option's values, NULL-terminated; its row says how many. */
#define OPT_LIST_MAX 64
struct opt_list {
    const char *v[OPT_LIST_MAX + 1];
    size_t n;
};

struct options {
    const char *data_dir;
    const char *api_listen;
    const char *gateway_listen;
    long long gateway_threads; /* 0: the usable CPUs */
    struct opt_list regions, import_roots, trusted_proxies, log_sinks, specs, file_systems,
        resource_groups, kube_namespaces;
    const char *test_cgroup_mountinfo; /* NULL: /proc/self/mountinfo */
    long long log_spool_mib;
    const char *log_level, *log_format;
    const char *access_log; /* the gateway's; NULL: none */
    long long api_max_connections, gateway_max_connections;
    long long group_qps_cap;
    long long api_body_budget_mib, gateway_body_budget_mib;
    long long drain_timeout_ms;
    long long log_retention_days, log_max_mib;
    const char *instance_user;   /* NULL: INSTANCE_USER_DEFAULT, not chosen */
    const char *instance_dir;    /* NULL: DIR-instances */
    const char *secret_key_file; /* NULL: DIR/secret.key */
    const char *metrics_token;   /* its file; NULL: /metrics is open */
    const char *time_zone;       /* NULL: the machine's */
    long long test_clock_offset_s;
    long long wake_timeout_ms;
    const char *api_tls_cert, *api_tls_key, *gateway_tls_cert, *gateway_tls_key;
    const char *engine_socket;       /* the container driver's; NULL: none */
    const char *model_runtime;       /* process, container or kubernetes */
    const char *kubeconfig;          /* the kubernetes driver's, "in-cluster"; NULL: none */
    const char *kube_model_url;      /* berthd's API as pods reach it */
    const char *kube_model_pvc;      /* or the claim holding DIR/models */
    const char *kube_model_ca;       /* a PEM file the pods verify an https URL by */
    const char *kube_pod_network;    /* pod or host */
    const char *model_runtime_image; /* NULL: localhost/berth-serve:VERSION */
    const char *registry_auth_file;  /* NULL: pull without credentials */
    const char *instances_on_exit;   /* keep or stop */
    long long billing_hour_s;
    const char *config; /* read before the flags */
    char **owned;       /* values read from --config, freed at exit */
    size_t nowned;
};

enum opt_type { OPT_STR, OPT_INT, OPT_LIST };

/* Each option once: the parser, the defaults and --help come from here.
 * 'def' is set before anything is parsed (NULL: none, the field stays
 * NULL or 0 and 'shown' says what that means); OPT_INT takes a number from
 * 'min' to 'max', OPT_LIST at most 'max' values ('noun' names them). */
static const struct option_row {
    const char *name;
    enum opt_type type;
    size_t offset;
    long long min, max;
    const char *def;
    const char *shown; /* the default --help shows when 'def' is NULL */
    const char *noun;
    const char *help;
} option_table[] = {
#define OFF(f) offsetof(struct options, f)
    {"data-dir", OPT_STR, OFF(data_dir), 0, 0, NULL, NULL, NULL,
     "directory for the store, model files and credentials (required)"},
    {"api-listen", OPT_STR, OFF(api_listen), 0, 0, "127.0.0.1:7700", NULL, NULL,
     "address:port of the management API"},
    {"gateway-listen", OPT_STR, OFF(gateway_listen), 0, 0, "127.0.0.1:8501", NULL, NULL,
     "address:port of the inference gateway"},
    {"gateway-threads", OPT_INT, OFF(gateway_threads), 1, 256, NULL, "usable CPUs", NULL,
     "gateway worker threads"},
    {"region", OPT_LIST, OFF(regions), 0, 32, NULL, "any name", "regions",
     "a region this berthd serves; repeat for more"},
    {"import-root", OPT_LIST, OFF(import_roots), 0, 32, NULL, IMPORTS_DEFAULT_ROOT, "import roots",
     "a directory models may be imported from; repeat for more"},
    {"trusted-proxy", OPT_LIST, OFF(trusted_proxies), 0, 64, NULL, "none", "trusted proxies",
     "address or network (10.0.0.0/8) of a proxy in front of the gateway whose "
     "X-Forwarded-*, X-Real-IP and Forwarded fields are kept; repeat for more"},
    {"log-level", OPT_STR, OFF(log_level), 0, 0, "info", NULL, NULL, "error, warn, info or debug"},
    {"access-log", OPT_STR, OFF(access_log), 0, 0, NULL, "none", NULL,
     "a file the gateway appends a line to per request (combined format plus seconds, or JSON "
     "with --log-format json); SIGUSR1 reopens it, for logrotate"},
    {"log-format", OPT_STR, OFF(log_format), 0, 0, "text", NULL, NULL,
     "text ('ts level sub message') or json (one object per line)"},
    {"api-max-connections", OPT_INT, OFF(api_max_connections), 1, 1000000, "256", NULL, NULL,
     "connections the management API holds at once"},
    {"gateway-max-connections", OPT_INT, OFF(gateway_max_connections), 1, 1000000, "1536", NULL,
     NULL, "connections the gateway holds at once"},
    {"group-qps-cap", OPT_INT, OFF(group_qps_cap), 0, 1000000, "500", NULL, NULL,
     "requests per second a service group with rate limits takes in all, whatever its "
     "versions' limits add up to (TI-ONE's cap); 0: none"},
    {"api-body-budget-mib", OPT_INT, OFF(api_body_budget_mib), 1, 1 << 20, "32", NULL, NULL,
     "MiB of request bodies the management API buffers at once, all connections"},
    {"gateway-body-budget-mib", OPT_INT, OFF(gateway_body_budget_mib), 1, 1 << 20, "48", NULL, NULL,
     "MiB of request bodies the gateway holds at once, all connections: each upload "
     "streaming to an instance holds 80 KiB of it; none left is 503"},
    {"drain-timeout-ms", OPT_INT, OFF(drain_timeout_ms), 0, 600000, "2000", NULL, NULL,
     "on SIGTERM, how long requests in flight may finish before their connections close"},
    {"log-retention-days", OPT_INT, OFF(log_retention_days), 1, 3650, "7", NULL, NULL,
     "days the log store keeps what instances print (DescribeLogs, berth logs)"},
    {"log-max-mib", OPT_INT, OFF(log_max_mib), 1, 1 << 20, "1024", NULL, NULL,
     "MiB the log store may use: past it the oldest lines go first"},
    {"instance-user", OPT_STR, OFF(instance_user), 0, 0, NULL, INSTANCE_USER_DEFAULT, NULL,
     "the unprivileged user instances run as"},
    {"instance-dir", OPT_STR, OFF(instance_dir), 0, 0, NULL, "DIR-instances", NULL,
     "the instances' work directories (not in DIR)"},
    {"secret-key-file", OPT_STR, OFF(secret_key_file), 0, 0, NULL, "DIR/secret.key", NULL,
     "the key sealing tokens and AppSecrets in the store; made on first start"},
    {"metrics-token-file", OPT_STR, OFF(metrics_token), 0, 0, NULL, "none", NULL,
     "a file whose first line is the bearer token /metrics and /sd/instances then require"},
    {"time-zone", OPT_STR, OFF(time_zone), 0, 0, NULL, "the machine's", NULL,
     "the zone of CronScaleJobs schedules, from tzdata (Asia/Shanghai, UTC)"},
    {"test-clock-offset-s", OPT_INT, OFF(test_clock_offset_s), -315360000, 315360000, "0", NULL,
     NULL, "for tests only: seconds added to the clock CronScaleJobs run by"},
    {"log-sink", OPT_LIST, OFF(log_sinks), 0, 32, NULL, "none", "log sinks",
     "a log system services with LogEnable deliver to: 'LOGSET/TOPIC syslog+tcp://HOST:PORT' "
     "or 'LOGSET/TOPIC syslog+tls://HOST:PORT [ca=FILE] [cert=FILE key=FILE] "
     "[server-name=NAME]', then [facility=user|local0..local7]; repeat for more"},
    {"file-system", OPT_LIST, OFF(file_systems), 0, 64, NULL, "none", "file systems",
     "a file system services may mount (VolumeMount CFSConfig.Id): 'ID DIR' or 'ID DIR "
     "read-only', DIR a host directory (an NFS export the host mounts, say); repeat for more"},
    {"log-spool-mib", OPT_INT, OFF(log_spool_mib), 1, 1 << 20, "256", NULL, NULL,
     "MiB of lines each log sink keeps on disk (DIR/log-spool) while its receiver is down or "
     "slow; past it new lines are dropped and counted"},
    {"wake-timeout-ms", OPT_INT, OFF(wake_timeout_ms), 100, 600000, "30000", NULL, NULL,
     "how long the gateway holds a request for a service scaled to zero (then 503)"},
    {"spec", OPT_LIST, OFF(specs), 0, 64, NULL, "the built-in TI.S.* specs", "specs",
     "an instance spec (InstanceType): 'NAME cpu=CORES memory=MIB price=FEN [gpu=CARDS] "
     "[gpu-type=T4] [currency=CNY] [alias=TEXT]'; a built-in NAME is redefined; repeat for more"},
    {"test-cgroup-mountinfo", OPT_STR, OFF(test_cgroup_mountinfo), 0, 0, NULL,
     "/proc/self/mountinfo", NULL, "for tests only: the mount table cgroups are looked for in"},
    {"api-tls-cert", OPT_STR, OFF(api_tls_cert), 0, 0, NULL, "none: plain HTTP", NULL,
     "PEM certificate chain for HTTPS on the management API (with --api-tls-key; "
     "reread on SIGHUP)"},
    {"api-tls-key", OPT_STR, OFF(api_tls_key), 0, 0, NULL, NULL, NULL,
     "PEM private key of --api-tls-cert"},
    {"gateway-tls-cert", OPT_STR, OFF(gateway_tls_cert), 0, 0, NULL, "none: plain HTTP", NULL,
     "PEM certificate chain for HTTPS on the gateway (with --gateway-tls-key; reread on "
     "SIGHUP); DescribeModelServiceCallInfo then gives https addresses"},
    {"gateway-tls-key", OPT_STR, OFF(gateway_tls_key), 0, 0, NULL, NULL, NULL,
     "PEM private key of --gateway-tls-cert"},
    {"engine-socket", OPT_STR, OFF(engine_socket), 0, 0, NULL, "none", NULL,
     "the unix socket of a Docker Engine API (Docker, or 'podman system service'): services "
     "with ImageInfo run there as containers"},
    {"model-runtime", OPT_STR, OFF(model_runtime), 0, 0, "process", NULL, NULL,
     "where SYSTEM model services run: 'process' (berth-serve children), 'container' (the "
     "built-in runtime image, `make runtime-image`; needs --engine-socket) or 'kubernetes' "
     "(that image on the cluster of --kubeconfig)"},
    {"model-runtime-image", OPT_STR, OFF(model_runtime_image), 0, 0, NULL,
     "localhost/berth-serve:VERSION", NULL,
     "the built-in runtime's image for --model-runtime container or kubernetes"},
    {"kubeconfig", OPT_STR, OFF(kubeconfig), 0, 0, NULL, "none", NULL,
     "a kubeconfig file (its current context), or 'in-cluster' for the pod's service account: "
     "services with ImageInfo run on that Kubernetes cluster as Deployments (docs/kubernetes.md)"},
    {"kube-namespace", OPT_LIST, OFF(kube_namespaces), 0, 32, NULL, "the context's", "namespaces",
     "[REGION=]NAMESPACE: where a region's services go on the cluster, or without REGION= the "
     "rest's; repeat for more"},
    {"kube-model-url", OPT_STR, OFF(kube_model_url), 0, 0, NULL, "none", NULL,
     "this berthd's management API as the cluster's pods reach it (http[s]://host:port): model "
     "services' pods fetch their files from it"},
    {"kube-model-ca", OPT_STR, OFF(kube_model_ca), 0, 0, NULL, "the image's", NULL,
     "a PEM file of the CA the pods verify an https --kube-model-url by (put in each version's "
     "Secret)"},
    {"kube-model-pvc", OPT_STR, OFF(kube_model_pvc), 0, 0, NULL, "none", NULL,
     "or a PersistentVolumeClaim in each namespace that holds DIR/models: model services' pods "
     "mount it read-only"},
    {"kube-pod-network", OPT_STR, OFF(kube_pod_network), 0, 0, NULL, "pod", NULL,
     "pod, or host: the pods run on their node's network (hostNetwork), for a cluster without a "
     "pod network; model services' pods serve on the node's IP"},
    {"registry-auth-file", OPT_STR, OFF(registry_auth_file), 0, 0, NULL, "none", NULL,
     "registry credentials for pulls: 'HOST USERNAME PASSWORD' lines (keep it 0600)"},
    {"instances-on-exit", OPT_STR, OFF(instances_on_exit), 0, 0, "keep", NULL, NULL,
     "on SIGTERM, 'keep' the instances running for the next berthd to adopt, or 'stop' them"},
    {"billing-hour-s", OPT_INT, OFF(billing_hour_s), 1, 86400, "3600", NULL, NULL,
     "seconds in a billing hour: postpaid services are charged (and freeze two) of them; "
     "shorten it to test billing"},
    {"resource-group", OPT_LIST, OFF(resource_groups), 0, 64, NULL, "none", "resource groups",
     "prepaid capacity: 'ID [name=NAME] nodes=N cpu=CORES memory=MIB [gpu=CARDS] "
     "[gpu-type=T4]'; repeat an ID to add nodes of another size"},
    {"config", OPT_STR, OFF(config), 0, 0, NULL, NULL, NULL,
     "a file of 'name = value' lines with the options above"},
#undef OFF
};
#define NOPTIONS (sizeof(option_table) / sizeof(option_table[0]))

static const struct option_row *find_option(const char *name)
{
    for (size_t i = 0; i < NOPTIONS; i++)
        if (strcmp(option_table[i].name, name) == 0)
            return &option_table[i];
    return NULL;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: berthd --data-dir DIR [--option value | --option=value]...\n\n");
    for (size_t i = 0; i < NOPTIONS; i++) {
        const struct option_row *row = &option_table[i];
        const char *def = row->def ? row->def : row->shown;
        fprintf(f, "  --%-23s %s", row->name, row->help);
        if (row->type == OPT_INT)
            fprintf(f, " (%lld to %lld%s%s)", row->min, row->max, def ? "; default: " : "",
                    def ? def : "");
        else if (def)
            fprintf(f, " (default: %s)", def);
        fputc('\n', f);
    }
    fprintf(f, "  --%-23s %s\n", "version", "print berthd's version");
    fprintf(f, "  --%-23s %s\n", "print-config",
            "print a config file of every option at its default");
    fprintf(f, "  --%-23s %s\n", "help", "print this help");
}

/* A config file with every option commented out at its default, each with
 * its help: what `make install` puts in /etc/berth (so it cannot drift). */
static void print_config(FILE *f)
{
    fprintf(f, "# Every berthd option, at its default. One 'name = value' per line; '#'\n"
               "# starts a comment; a repeatable option takes one line per value; a flag\n"
               "# on the command line overrides what is here.\n");
    for (size_t i = 0; i < NOPTIONS; i++) {
        const struct option_row *row = &option_table[i];
        if (strcmp(row->name, "config") == 0)
            continue;
        fputc('\n', f);
        /* The help, wrapped at 78 columns. */
        const char *h = row->help;
        while (*h) {
            size_t n = strlen(h);
            if (n > 76) {
                n = 76;
                while (n > 0 && h[n] != ' ')
                    n--;
                if (n == 0)
                    n = strcspn(h, " ");
            }
            fprintf(f, "# %.*s\n", (int)n, h);
            h += n;
            while (*h == ' ')
                h++;
        }
        const char *def = row->def ? row->def : row->shown;
        if (row->type == OPT_INT)
            fprintf(f, "# (%lld to %lld)\n", row->min, row->max);
        if (row->def)
            fprintf(f, "#%s = %s\n", row->name, row->def);
        else
            fprintf(f, "#%s =%s%s\n", row->name, def ? "   # default: " : "", def ? def : "");
    }
}

/* Store 'value' for 'row'; 'where' is "--name" or "file:line name". */
static int apply_option(struct options *o, const struct option_row *row, const char *value,
                        const char *where)
{
    char *field = (char *)o + row->offset;
    if (row->type == OPT_STR) {
        *(const char **)field = value;
        return 0;
    }
    if (row->type == OPT_LIST) {
        struct opt_list *l = (struct opt_list *)field;
        if (l->n == (size_t)row->max) {
            fprintf(stderr, "berthd: %s: at most %lld %s\n", where, row->max, row->noun);
            return -1;
        }
        l->v[l->n++] = value;
        return 0;
    }
    char *end;
    errno = 0;
    long long n = strtoll(value, &end, 10);
    if (errno || *end || end == value || n < row->min || n > row->max) {
        fprintf(stderr, "berthd: %s: '%s' must be a number from %lld to %lld\n", where, value,
                row->min, row->max);
        return -1;
    }
    *(long long *)field = n;
    return 0;
}

static void set_defaults(struct options *o)
{
    for (size_t i = 0; i < NOPTIONS; i++)
        if (option_table[i].def && apply_option(o, &option_table[i], option_table[i].def, "") != 0)
            abort(); /* a default out of its own range: a bug in the table */
}

static int set_option(struct options *o, const char *name, const char *value, const char *where)
{
    const struct option_row *row = find_option(name);
    if (!row) {
        fprintf(stderr, "berthd: %s: unknown option '%s' (see --help)\n", where, name);
        return -1;
    }
    return apply_option(o, row, value, where);
}

/* Read 'name = value' lines; '#' starts a comment. Values are kept for the
 * process lifetime (the options point into them). */
static int load_config(struct options *o, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "berthd: cannot open config '%s': %s\n", path, strerror(errno));
        return -1;
    }
    char line[4096];
    int lineno = 0, rc = 0;
    while (rc == 0 && fgets(line, sizeof(line), f)) {
        lineno++;
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        char *s = line;
        while (*s == ' ' || *s == '\t')
            s++;
        char *end = s + strlen(s);
        while (end > s && (end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
            *--end = '\0';
        if (!*s)
            continue;
        char *eq = strchr(s, '=');
        char where[512];
        snprintf(where, sizeof(where), "%s:%d", path, lineno);
        if (!eq) {
            fprintf(stderr, "berthd: %s: expected 'name = value'\n", where);
            rc = -1;
            break;
        }
        char *k = s, *kend = eq;
        while (kend > k && (kend[-1] == ' ' || kend[-1] == '\t'))
            kend--;
        *kend = '\0';
        char *v = eq + 1;
        while (*v == ' ' || *v == '\t')
            v++;
        if (strcmp(k, "config") == 0) {
            fprintf(stderr, "berthd: %s: 'config' cannot be set in a config file\n", where);
            rc = -1;
            break;
        }
        const struct option_row *row = find_option(k);
        if (!row) {
            fprintf(stderr, "berthd: %s: unknown option '%s' (see --help)\n", where, k);
            rc = -1;
            break;
        }
        o->owned = xrealloc(o->owned, (o->nowned + 1) * sizeof(char *));
        o->owned[o->nowned] = xstrdup(v);
        snprintf(where, sizeof(where), "%s:%d: %s", path, lineno, k);
        rc = apply_option(o, row, o->owned[o->nowned++], where);
    }
    fclose(f);
    return rc;
}

static int parse_args(int argc, char **argv, struct options *o)
{
    /* The config file first, so that flags override it whatever their order. */
    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], "--config=", 9) == 0 && load_config(o, argv[i] + 9))
            return -1;
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc && load_config(o, argv[i + 1]))
            return -1;
    }
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            usage(stdout);
            return 1;
        }
        if (strcmp(arg, "--version") == 0 || strcmp(arg, "-V") == 0) {
            printf("berthd %s\n", berth_version);
            return 1;
        }
        if (strcmp(arg, "--print-config") == 0) {
            print_config(stdout);
            return 1;
        }
        if (strncmp(arg, "--", 2) != 0) {
            fprintf(stderr, "berthd: unexpected argument '%s' (see --help)\n", arg);
            return -1;
        }
        char name[64];
        const char *eq = strchr(arg + 2, '=');
        size_t n = eq ? (size_t)(eq - arg - 2) : strlen(arg + 2);
        if (n >= sizeof(name)) {
            fprintf(stderr, "berthd: unknown option '%s'\n", arg);
            return -1;
        }
        memcpy(name, arg + 2, n);
        name[n] = '\0';
        const char *value = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (!value) {
            fprintf(stderr, "berthd: --%s needs a value\n", name);
            return -1;
        }
        if (strcmp(name, "config") == 0)
            continue;
        char where[80];
        snprintf(where, sizeof(where), "--%s", name);
        if (set_option(o, name, value, where))
            return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Data directory                                                           */

static int write_credentials(const char *dir, const char *id, const char *key, struct err *err)
{
    char *path = xasprintf("%s/credentials", dir), *tmp = xasprintf("%s/credentials.tmp", dir);
    int rc = 0;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        rc = err_set(err, ERR_SYS(errno), "cannot write '%s': %s", tmp, strerror(errno));
    } else {
        char *text = xasprintf("{\"secretId\": \"%s\", \"secretKey\": \"%s\"}\n", id, key);
        size_t len = strlen(text);
        if (write(fd, text, len) != (ssize_t)len || fsync(fd) != 0)
            rc = err_set(err, ERR_SYS(errno), "cannot write '%s': %s", tmp, strerror(errno));
        crypto_wipe(text, len);
        free(text);
        close(fd);
        if (rc == 0 && rename(tmp, path) != 0)
            rc = err_set(err, ERR_SYS(errno), "cannot write '%s': %s", path, strerror(errno));
    }
    free(path);
    free(tmp);
    return rc;
}

/* On first start make the administrator credential: in the store first, then
 * in DIR/credentials (the shape of tccli's credential file). */
static int ensure_credentials(const char *dir, struct store *st, struct err *err)
{
    char *path = xasprintf("%s/credentials", dir);
    struct stat sb;
    bool exists = stat(path, &sb) == 0;
    free(path);
    if (exists)
        return 0;
    static const char alnum[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    char id[37] = "AKID", key[33];
    crypto_random_string(alnum, 32, id + 4);
    crypto_random_string(alnum, 32, key);
    int rc = store_credential_add(st, id, key, err);
    if (rc == 0)
        rc = write_credentials(dir, id, key, err);
    if (rc == 0)
        log_info("berthd", "created the administrator credential in %s/credentials", dir);
    crypto_wipe(key, sizeof(key));
    return rc;
}

/* The key that seals secrets in the store (tokens, AppSecrets): 64 hex
 * digits in 'path', made on first start (0600). Kept out of the database so
 * that a copy of the database alone opens none of them. */
static int load_secret_key(const char *path, uint8_t key[CRYPTO_SEAL_KEY_BYTES], struct err *err)
{
    char hex[2 * CRYPTO_SEAL_KEY_BYTES + 2];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
        uint8_t fresh[CRYPTO_SEAL_KEY_BYTES];
        crypto_random(fresh, sizeof(fresh));
        crypto_hex(fresh, sizeof(fresh), hex);
        hex[2 * CRYPTO_SEAL_KEY_BYTES] = '\n';
        crypto_wipe(fresh, sizeof(fresh));
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        int rc = 0;
        if (fd < 0 || write(fd, hex, sizeof(hex) - 1) != (ssize_t)sizeof(hex) - 1 || fsync(fd) != 0)
            rc = err_set(err, ERR_SYS(errno), "cannot write the secret key '%s': %s", path,
                         strerror(errno));
        if (fd >= 0)
            close(fd);
        crypto_wipe(hex, sizeof(hex));
        if (rc) {
            unlink(path);
            return rc;
        }
        log_info("berthd", "created the secret key %s", path);
        fd = open(path, O_RDONLY | O_CLOEXEC);
    }
    if (fd < 0)
        return err_set(err, ERR_SYS(errno), "cannot read the secret key '%s': %s", path,
                       strerror(errno));
    struct stat sb;
    ssize_t n = fstat(fd, &sb) == 0 ? read(fd, hex, sizeof(hex)) : -1;
    close(fd);
    int rc = 0;
    if (n < 0)
        rc = err_set(err, ERR_SYS(errno), "cannot read the secret key '%s': %s", path,
                     strerror(errno));
    else if (sb.st_mode & 077)
        rc = err_set(err, ERR_INVALID,
                     "the secret key '%s' can be read by others (mode %03o): chmod 600 it", path,
                     (unsigned)(sb.st_mode & 0777));
    else if (n > 2 * CRYPTO_SEAL_KEY_BYTES + 1 ||
             (n == 2 * CRYPTO_SEAL_KEY_BYTES + 1 && hex[n - 1] != '\n') ||
             crypto_unhex(
                 hex, 2 * CRYPTO_SEAL_KEY_BYTES < (size_t)n ? 2 * CRYPTO_SEAL_KEY_BYTES : (size_t)n,
                 key, CRYPTO_SEAL_KEY_BYTES) != 0)
        rc = err_set(err, ERR_INVALID, "the secret key '%s' is not 64 hex digits", path);
    crypto_wipe(hex, sizeof(hex));
    return rc;
}

/* A successor waits this long for its predecessor to finish and let go. */
#define TAKEOVER_LOCK_WAIT_MS 60000

static int lock_data_dir(const char *dir, bool wait, int *fd_out, struct err *err)
{
    char *path = xasprintf("%s/berthd.lock", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    free(path);
    if (fd < 0)
        return err_set(err, ERR_SYS(errno), "cannot create the lock file in '%s': %s", dir,
                       strerror(errno));
    for (int waited = 0; wait && flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK &&
                         waited < TAKEOVER_LOCK_WAIT_MS;
         waited += 20)
        nanosleep(&(struct timespec){.tv_nsec = 20 * 1000000}, NULL);
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        close(fd);
        if (e == EWOULDBLOCK)
            return err_set(err, ERR_EXISTS, "another berthd is running on '%s'", dir);
        return err_set(err, ERR_SYS(e), "cannot lock '%s': %s", dir, strerror(e));
    }
    char pid[32];
    int n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) == 0 && write(fd, pid, (size_t)n) != n)
        log_warn("berthd", "cannot write the pid to the lock file");
    *fd_out = fd; /* held open, and so locked, until the process exits */
    return 0;
}

/* Only berthd reads the store, its WAL, the credentials and the lock (0600).
 * When instances run as another user, the directory and models/ are
 * searchable by its group (0710) so it can reach the model files, and list
 * nothing; others cannot enter. */
static void secure_data_dir(const char *dir, const struct drv_user *user)
{
    static const char *const secret[] = {"berth.db",    "berth.db-wal", "berth.db-shm",
                                         "credentials", "berthd.lock",  "secret.key"};
    for (size_t i = 0; i < sizeof(secret) / sizeof(secret[0]); i++) {
        char *path = xasprintf("%s/%s", dir, secret[i]);
        if (chmod(path, 0600) != 0 && errno != ENOENT)
            log_warn("berthd", "cannot chmod '%s': %s", path, strerror(errno));
        free(path);
    }
    char *models = xasprintf("%s/models", dir);
    const char *paths[] = {dir, models};
    for (size_t i = 0; i < 2; i++)
        if ((user->set && chown(paths[i], (uid_t)-1, user->gid) != 0) ||
            chmod(paths[i], user->set ? 0710 : 0700) != 0)
            log_warn("berthd", "cannot secure '%s': %s", paths[i], strerror(errno));
    free(models);
}

/* --model-runtime: NULL for process, else the runtime image, which the
 * engine must hold (`make runtime-image`), or the cluster pull. Complains
 * and fails otherwise. */
static int runtime_image_check(const struct options *o, char **image)
{
    *image = NULL;
    if (strcmp(o->model_runtime, "process") == 0)
        return 0;
    if (strcmp(o->model_runtime, "kubernetes") == 0) {
        if (!o->kubeconfig) {
            fprintf(stderr, "berthd: --model-runtime kubernetes needs --kubeconfig\n");
            return -1;
        }
        if (!o->kube_model_url == !o->kube_model_pvc) {
            fprintf(stderr, "berthd: --model-runtime kubernetes needs one of --kube-model-url "
                            "and --kube-model-pvc: how the pods get the model files\n");
            return -1;
        }
        *image = o->model_runtime_image ? xstrdup(o->model_runtime_image)
                                        : xasprintf("localhost/berth-serve:%s", berth_version);
        return 0;
    }
    if (strcmp(o->model_runtime, "container") != 0) {
        fprintf(stderr,
                "berthd: --model-runtime: '%s' is not 'process', 'container' or 'kubernetes'\n",
                o->model_runtime);
        return -1;
    }
    if (!o->engine_socket) {
        fprintf(stderr, "berthd: --model-runtime container needs --engine-socket\n");
        return -1;
    }
    *image = o->model_runtime_image ? xstrdup(o->model_runtime_image)
                                    : xasprintf("localhost/berth-serve:%s", berth_version);
    struct err err = {0};
    if (drv_engine_image_check(o->engine_socket, *image, &err) != 0) {
        fprintf(stderr,
                "berthd: --model-runtime container: the engine has no image '%s' (build it "
                "with `make runtime-image`): %s\n",
                *image, err.msg);
        free(*image);
        *image = NULL;
        return -1;
    }
    return 0;
}

static bool dns_label_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 63 || s[0] == '-' || s[n - 1] == '-')
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-'))
            return false;
    return true;
}

#define KUBE_NAMESPACES_MAX 32

/* --kubeconfig, --kube-namespace, --kube-model-*: the cluster's connection
 * (heap, NULL when there is none) and the regions' namespaces (their region
 * names heap). Complains and fails on what cannot work. */
static int kube_options(const struct options *o, struct kube_conn **conn,
                        struct drv_kube_namespace *ns, size_t *nns, char **model_ca)
{
    *conn = NULL;
    *nns = 0;
    *model_ca = NULL;
    if (!o->kubeconfig) {
        if (o->kube_namespaces.n || o->kube_model_url || o->kube_model_pvc || o->kube_model_ca ||
            o->kube_pod_network) {
            fprintf(stderr, "berthd: --kube-namespace, --kube-model-* and --kube-pod-network need "
                            "--kubeconfig\n");
            return -1;
        }
        return 0;
    }
    if (o->kube_pod_network && strcmp(o->kube_pod_network, "pod") != 0 &&
        strcmp(o->kube_pod_network, "host") != 0) {
        fprintf(stderr, "berthd: --kube-pod-network: '%s' is not pod or host\n",
                o->kube_pod_network);
        return -1;
    }
    if (o->engine_socket) {
        fprintf(stderr, "berthd: --kubeconfig and --engine-socket: services with images run "
                        "on one of them; give one\n");
        return -1;
    }
    if (o->kube_model_url && strncmp(o->kube_model_url, "http://", 7) != 0 &&
        strncmp(o->kube_model_url, "https://", 8) != 0) {
        fprintf(stderr, "berthd: --kube-model-url: '%s' is not an http:// or https:// URL\n",
                o->kube_model_url);
        return -1;
    }
    if (o->kube_model_ca) {
        struct err cerr = {0};
        if (!o->kube_model_url || strncmp(o->kube_model_url, "https://", 8) != 0) {
            fprintf(stderr, "berthd: --kube-model-ca is for an https:// --kube-model-url\n");
            return -1;
        }
        struct buf b;
        buf_init(&b, 1 << 20);
        if (buf_read_file(&b, o->kube_model_ca, &cerr) != 0 ||
            !strstr(b.ptr, "-----BEGIN CERTIFICATE-----")) {
            fprintf(stderr, "berthd: --kube-model-ca: %s\n",
                    cerr.msg[0] ? cerr.msg : "no PEM certificate in it");
            buf_release(&b);
            return -1;
        }
        *model_ca = xstrdup(b.ptr);
        buf_release(&b);
    }
    if (o->kube_model_pvc && !dns_label_ok(o->kube_model_pvc)) {
        fprintf(stderr, "berthd: --kube-model-pvc: '%s' is not a claim name (a DNS-1123 label)\n",
                o->kube_model_pvc);
        return -1;
    }
    for (size_t i = 0; i < o->kube_namespaces.n; i++) {
        const char *v = o->kube_namespaces.v[i], *eq = strchr(v, '=');
        const char *name = eq ? eq + 1 : v;
        char *region = eq ? xstrndup(v, (size_t)(eq - v)) : NULL;
        ns[*nns].region = region;
        ns[(*nns)++].name = name;
        if ((region && !*region) || !dns_label_ok(name)) {
            fprintf(stderr,
                    "berthd: --kube-namespace: '%s' is not [REGION=]NAMESPACE with a DNS-1123 "
                    "label for NAMESPACE\n",
                    v);
            return -1;
        }
        for (size_t k = 0; k + 1 < *nns; k++)
            if ((!region && !ns[k].region) ||
                (region && ns[k].region && strcmp(region, ns[k].region) == 0)) {
                fprintf(stderr, "berthd: --kube-namespace: '%s': that region has one already\n", v);
                return -1;
            }
    }
    struct kube_conn c;
    struct err err = {0};
    int rc = strcmp(o->kubeconfig, "in-cluster") == 0
                 ? kube_conn_in_cluster(KUBE_IN_CLUSTER_DIR, &c, &err)
                 : kube_conn_from_kubeconfig(o->kubeconfig, &c, &err);
    if (rc) {
        fprintf(stderr, "berthd: --kubeconfig: %s\n", err.msg);
        return -1;
    }
    *conn = xmalloc(sizeof(c));
    **conn = c;
    return 0;
}

static int split_listen(const char *spec, char *host, size_t size, int *port)
{
    const char *colon = strrchr(spec, ':');
    if (!colon || colon == spec || (size_t)(colon - spec) >= size)
        return -1;
    memcpy(host, spec, (size_t)(colon - spec));
    host[colon - spec] = '\0';
    char *end;
    long p = strtol(colon + 1, &end, 10);
    if (*end || p < 0 || p > 65535 || end == colon + 1)
        return -1;
    *port = (int)p;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Main                                                                     */

static struct http_server *api_server, *gateway_server;
static struct ctl_reconciler *reconciler;
static struct ctl_cronscale *cronscale;
static struct ctl_hpa *hpa;
static uv_signal_t sigterm, sigint, sigusr1, sighup, sigusr2;
static struct http_tls *api_tls, *gateway_tls;
static struct http_access_log access_log = {.fd = -1};
static const char *access_log_path;

static int open_access_log(const char *path)
{
    return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
}

/* logrotate's postrotate: the file moved away; write to a new one in its
 * place. dup2() swaps the descriptor under the workers, who never see it
 * closed. */
static void on_reopen(uv_signal_t *s, int signum)
{
    (void)s;
    (void)signum;
    int fd = open_access_log(access_log_path);
    if (fd < 0) {
        log_error("berthd", "cannot reopen the access log '%s': %s", access_log_path,
                  strerror(errno));
        return;
    }
    if (dup2(fd, access_log.fd) < 0)
        log_error("berthd", "cannot reopen the access log: %s", strerror(errno));
    close(fd);
    log_info("berthd", "reopened the access log %s", access_log_path);
}
static struct ctl_schedstop *schedstop;
static char **saved_argv;
static char *saved_exe;     /* the path berthd started from: where an upgrade installs */
static bool stop_instances; /* --instances-on-exit stop */
/* A handover in progress: the successor's pid and the pipe it reports on. */
static struct {
    pid_t pid;
    int ready_fd;
    uv_poll_t poll;
    uv_timer_t timer;
    bool active;
    int closing; /* handles of the last try not yet closed */
} successor;
static struct ctl_billing *billing;

static void on_reconciler_stopped(void *arg)
{
    (void)arg;
    reconciler = NULL;
    uv_close((uv_handle_t *)&sigterm, NULL);
    uv_close((uv_handle_t *)&sigint, NULL);
    if (access_log.fd >= 0)
        uv_close((uv_handle_t *)&sigusr1, NULL);
    uv_close((uv_handle_t *)&sighup, NULL);
    uv_close((uv_handle_t *)&sigusr2, NULL);
}

/* SIGHUP: reread the listeners' certificates; a bad one leaves the old. */
static void on_sighup(uv_signal_t *s, int signum)
{
    (void)s;
    (void)signum;
    struct http_tls *tls[] = {api_tls, gateway_tls};
    const char *names[] = {"management API", "gateway"};
    for (int i = 0; i < 2; i++) {
        struct err err = {0};
        char desc[512];
        if (!tls[i])
            continue;
        if (http_tls_reload(tls[i], &err) != 0) {
            log_error("berthd", "SIGHUP: keeping the %s's certificate: %s", names[i], err.msg);
            continue;
        }
        http_tls_describe(tls[i], desc, sizeof(desc));
        log_info("berthd", "SIGHUP: the %s's certificate reloaded %s", names[i], desc);
    }
}

/* Stop taking requests (drain what is in flight), then stop the instances or
 * leave them to the next berthd, then let uv_run return. */
static void shut_down(const char *why, bool keep_instances)
{
    if (!api_server)
        return; /* already stopping */
    log_info("berthd", "%s; shutting down%s", why,
             keep_instances ? ", leaving the instances running" : "");
    if (!successor.active)
        notify_send("STOPPING=1"); /* a handover: the successor is the service now */
    /* Both stop accepting and drain at once; then the instances go. */
    http_server_shutdown(api_server);
    http_server_shutdown(gateway_server);
    http_server_stop(api_server);
    http_server_stop(gateway_server);
    api_server = gateway_server = NULL;
    ctl_cronscale_stop(cronscale);
    cronscale = NULL;
    ctl_hpa_stop(hpa);
    hpa = NULL;
    ctl_schedstop_stop(schedstop);
    schedstop = NULL;
    ctl_billing_stop(billing);
    billing = NULL;
    if (keep_instances)
        ctl_reconciler_detach(reconciler, on_reconciler_stopped, NULL);
    else
        ctl_reconciler_stop(reconciler, on_reconciler_stopped, NULL);
}

static void on_signal(uv_signal_t *s, int signum)
{
    (void)s;
    if (successor.active)
        return; /* handing over: the successor takes the instances */
    shut_down(signum == SIGTERM ? "received SIGTERM" : "received SIGINT", !stop_instances);
}

static void successor_closed(uv_handle_t *h)
{
    (void)h;
    successor.closing--;
}

/* The successor said whether it read its configuration ('R'), or exited. */
static void successor_done(bool ready)
{
    uv_poll_stop(&successor.poll);
    uv_timer_stop(&successor.timer);
    successor.closing = 2;
    uv_close((uv_handle_t *)&successor.poll, successor_closed);
    uv_close((uv_handle_t *)&successor.timer, successor_closed);
    close(successor.ready_fd);
    if (!ready) {
        log_error("berthd", "the new berthd (pid %d) did not start: carrying on",
                  (int)successor.pid);
        successor.active = false;
        return;
    }
    log_info("berthd", "the new berthd (pid %d) is starting: handing over to it",
             (int)successor.pid);
    shut_down("handing over", true);
}

static void on_successor_readable(uv_poll_t *p, int status, int events)
{
    (void)p;
    (void)events;
    char c = 0;
    ssize_t n = status == 0 ? read(successor.ready_fd, &c, 1) : -1;
    if (n < 0 && status == 0 && (errno == EAGAIN || errno == EINTR))
        return;
    successor_done(n == 1 && c == 'R');
}

static void on_successor_timeout(uv_timer_t *t)
{
    (void)t;
    kill(successor.pid, SIGKILL); /* reaped with the instances (waitpid -1) */
    successor_done(false);
}

/* SIGUSR2: start the binary installed at our path, with our arguments and
 * listeners (berthd/takeover.h); hand over once it has read its
 * configuration. */
static void on_upgrade(uv_signal_t *s, int signum)
{
    (void)s;
    (void)signum;
    if (!api_server || successor.active || successor.closing)
        return; /* stopping, handing over, or a failed try still closing */
    const char *exe = saved_exe;
    struct err err = {0};
    int rc = exe ? takeover_spawn(exe, saved_argv, http_server_listen_fd(api_server),
                                  http_server_listen_fd(gateway_server), &successor.pid,
                                  &successor.ready_fd, &err)
                 : err_set(&err, ERR_NOTFOUND, "cannot find berthd's own binary");
    if (rc) {
        log_error("berthd", "SIGUSR2: %s; carrying on", err.msg);
        return;
    }
    log_info("berthd", "SIGUSR2: started %s (pid %d) to take over", exe, (int)successor.pid);
    successor.active = true;
    uv_loop_t *loop = uv_default_loop();
    uv_poll_init(loop, &successor.poll, successor.ready_fd);
    uv_timer_init(loop, &successor.timer);
    uv_poll_start(&successor.poll, UV_READABLE, on_successor_readable);
    uv_timer_start(&successor.timer, on_successor_timeout, 30000, 0);
}

/* berth-serve sits beside berthd. */
static char *sibling_binary(const char *name)
{
    char *path = exe_beside(name);
    return path ? path : xstrdup(name);
}

int main(int argc, char **argv)
{
    struct options o = {0};
    struct takeover_inherited inherited = {.api_fd = -1, .gateway_fd = -1, .ready_fd = -1};
    struct gw_table routes;
    struct gw_gateway *gateway = NULL;
    char *gateway_url = NULL;
    unsigned gateway_threads = 0;
    struct gw_proxies proxies = {0};
    struct gw_mset *unrouted = NULL;
    struct ctl_metrics *metrics = NULL;
    char *metrics_token = NULL;
    gw_table_init(&routes);
    char *data_dir = NULL, *db = NULL, *models = NULL, *instance_dir = NULL;
    char *secret_key_file = NULL, *model_image = NULL;
    struct kube_conn *kube_conn = NULL;
    struct drv_kube_namespace kube_ns[KUBE_NAMESPACES_MAX];
    size_t nkube_ns = 0;
    char *kube_model_ca = NULL;
    static uint8_t seal_key[CRYPTO_SEAL_KEY_BYTES];
    int lock_fd = -1;
    struct store *st = NULL;
    struct imports *im = NULL;
    struct logs_deliver *deliver = NULL;
    char *log_spool = NULL;
    struct logs_capture *logs = NULL;
    char *logs_db = NULL;
    static struct drv_cgroup_host cgroups;
    struct drv_volumes *volumes = NULL;
    set_defaults(&o);
    int rc = parse_args(argc, argv, &o);
    if (rc) {
        rc = rc > 0 ? 0 : 2;
        goto out;
    }
    char host[256], gw_host[256];
    int port, gw_port;
    rc = 2;
    if (log_set_level(o.log_level) != 0) {
        fprintf(stderr, "berthd: --log-level: '%s' is not one of error, warn, info, debug\n",
                o.log_level);
        goto out;
    }
    if (log_set_format(o.log_format) != 0) {
        fprintf(stderr, "berthd: --log-format: '%s' is not one of text, json\n", o.log_format);
        goto out;
    }
    if (!o.data_dir || !*o.data_dir) {
        fprintf(stderr, "berthd: --data-dir is required (see --help)\n");
        goto out;
    }
    if (split_listen(o.api_listen, host, sizeof(host), &port) != 0) {
        fprintf(stderr, "berthd: --api-listen: '%s' must be address:port\n", o.api_listen);
        goto out;
    }
    gateway_threads = (unsigned)o.gateway_threads;
    if (split_listen(o.gateway_listen, gw_host, sizeof(gw_host), &gw_port) != 0) {
        fprintf(stderr, "berthd: --gateway-listen: '%s' must be address:port\n", o.gateway_listen);
        goto out;
    }
    for (size_t i = 0; i < o.trusted_proxies.n; i++) {
        struct err perr = {0};
        if (gw_proxies_add(&proxies, o.trusted_proxies.v[i], &perr) != 0) {
            fprintf(stderr, "berthd: --trusted-proxy: %s\n", perr.msg);
            goto out;
        }
    }
    for (size_t i = 0; i < o.resource_groups.n; i++) {
        struct err gerr = {0};
        if (ctl_resgroups_define(o.resource_groups.v[i], &gerr) != 0) {
            fprintf(stderr, "berthd: resource-group '%s': %s\n", o.resource_groups.v[i], gerr.msg);
            goto out;
        }
    }
    struct err terr = {0};
    if (http_tls_open(o.api_tls_cert, o.api_tls_key, "--api-tls", &api_tls, &terr) != 0 ||
        http_tls_open(o.gateway_tls_cert, o.gateway_tls_key, "--gateway-tls", &gateway_tls,
                      &terr) != 0) {
        fprintf(stderr, "berthd: %s\n", terr.msg);
        goto out;
    }
    for (size_t i = 0; i < o.log_sinks.n; i++) {
        struct logs_sink_config sc;
        struct err serr = {0};
        if (logs_sink_parse(o.log_sinks.v[i], &sc, &serr) != 0) {
            fprintf(stderr, "berthd: log-sink '%s': %s\n", o.log_sinks.v[i], serr.msg);
            goto out;
        }
    }
    for (size_t i = 0; i < o.specs.n; i++) {
        struct err serr = {0};
        if (specs_define(o.specs.v[i], &serr) != 0) {
            fprintf(stderr, "berthd: spec '%s': %s\n", o.specs.v[i], serr.msg);
            goto out;
        }
    }
    struct err verr = {0};
    if (drv_volumes_new(o.file_systems.v, o.file_systems.n, &volumes, &verr) != 0) {
        fprintf(stderr, "berthd: %s\n", verr.msg);
        goto out;
    }
    if (strcmp(o.instances_on_exit, "keep") != 0 && strcmp(o.instances_on_exit, "stop") != 0) {
        fprintf(stderr, "berthd: --instances-on-exit: '%s' is not 'keep' or 'stop'\n",
                o.instances_on_exit);
        goto out;
    }
    if (runtime_image_check(&o, &model_image) != 0 ||
        kube_options(&o, &kube_conn, kube_ns, &nkube_ns, &kube_model_ca) != 0)
        goto out;
    struct err herr = {0};
    if (takeover_inherit(&inherited, &herr) != 0) {
        fprintf(stderr, "berthd: %s\n", herr.msg);
        goto out;
    }
    saved_argv = argv;
    saved_exe = takeover_self_exe();
    stop_instances = strcmp(o.instances_on_exit, "stop") == 0;
    rc = 0;
    /* The gateway's pieces (64 KiB reads, their write copies) come and go by
     * the thousand. glibc raises its mmap threshold after the first such
     * free and serves them from heaps that it keeps: measured, 20 uploads to
     * a stalled instance kept 1.6 MiB each instead of the 0.3 MiB they hold.
     * A fixed threshold maps them and gives them back on free. */
    mallopt(M_MMAP_THRESHOLD, 64 * 1024);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGUSR2, SIG_IGN); /* until the handler is in place: an early one must not kill us */
    http_raise_fd_limit();
    umask(077); /* the store and the credentials file hold secret keys */

    struct err err = {0};
    if (mkdir(o.data_dir, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "berthd: cannot create '%s': %s\n", o.data_dir, strerror(errno));
        rc = 1;
        goto out;
    }
    data_dir = realpath(o.data_dir, NULL);
    if (!data_dir) {
        fprintf(stderr, "berthd: cannot resolve '%s': %s\n", o.data_dir, strerror(errno));
        rc = 1;
        goto out;
    }
    if (o.access_log) {
        access_log_path = o.access_log;
        access_log.fd = open_access_log(o.access_log);
        access_log.json = strcmp(o.log_format, "json") == 0;
        if (access_log.fd < 0) {
            fprintf(stderr, "berthd: --access-log: cannot open '%s': %s\n", o.access_log,
                    strerror(errno));
            rc = 1;
            goto out;
        }
    }
    db = xasprintf("%s/berth.db", data_dir);
    models = xasprintf("%s/models", data_dir);
    mkdir(models, 0700);
    /* Before the imports: instances write there, so no import may read it. */
    instance_dir = o.instance_dir ? xstrdup(o.instance_dir) : xasprintf("%s-instances", data_dir);
    secret_key_file =
        o.secret_key_file ? xstrdup(o.secret_key_file) : xasprintf("%s/secret.key", data_dir);
    takeover_ready(&inherited); /* the predecessor may stop accepting now */
    if (inherited.successor)
        log_info("berthd", "taking over from the berthd that started this one");
    if (lock_data_dir(data_dir, inherited.successor, &lock_fd, &err) != 0 ||
        load_secret_key(secret_key_file, seal_key, &err) != 0 || store_open(db, &st, &err) != 0 ||
        imports_start(st, data_dir, instance_dir, o.import_roots.v, &im, &err) != 0) {
        fprintf(stderr, "berthd: %s\n", err.msg);
        rc = 1;
        goto out;
    }
    struct drv_user user;
    if (drv_user_resolve(o.instance_user ? o.instance_user : INSTANCE_USER_DEFAULT, o.instance_user,
                         &user, &err) != 0) {
        fprintf(stderr, "berthd: %s\n", err.msg);
        rc = 1;
        goto out;
    }
    secure_data_dir(data_dir, &user);
    log_spool = xasprintf("%s/log-spool", data_dir);
    struct logs_deliver_config dc = {.spool_dir = log_spool,
                                     .spool_cap_bytes = (uint64_t)o.log_spool_mib << 20,
                                     .sinks = o.log_sinks.v,
                                     .nsinks = o.log_sinks.n};
    if (logs_deliver_start(&dc, &deliver, &err) != 0) {
        fprintf(stderr, "berthd: %s\n", err.msg);
        rc = 1;
        goto out;
    }

    if (o.metrics_token) {
        struct buf t;
        buf_init(&t, 4096);
        int trc = buf_read_file(&t, o.metrics_token, &err);
        t.ptr[strcspn(t.ptr, "\r\n")] = '\0';
        if (trc != 0 || !t.ptr[0]) {
            fprintf(stderr, "berthd: --metrics-token-file: %s\n",
                    trc ? err.msg : "its first line is empty");
            buf_release(&t);
            rc = 1;
            goto out;
        }
        metrics_token = buf_detach(&t, NULL);
    }
    /* Before the reconciler publishes routes: their metrics have a cell per worker. */
    gw_metrics_set_workers(gateway_threads ? gateway_threads : http_usable_cpus());
    unrouted = gw_mset_new();

    logs_db = xasprintf("%s/logs.db", data_dir);
    struct logs_config lc = {.db_path = logs_db,
                             .retention_us = o.log_retention_days * 86400LL * 1000000,
                             .max_bytes = o.log_max_mib << 20,
                             .on_line = logs_deliver_on_line,
                             .on_line_arg = deliver};
    if (logs_capture_new(&lc, &logs, &err) != 0) {
        fprintf(stderr, "berthd: %s\n", err.msg);
        rc = 1;
        goto out;
    }
    /* Each berthd's instance groups under a name of its data directory's. */
    uint8_t dir_hash[CRYPTO_SHA256_BYTES];
    char hex[2 * CRYPTO_SHA256_BYTES + 1], cg_name[32];
    crypto_sha256(data_dir, strlen(data_dir), dir_hash);
    crypto_hex(dir_hash, 6, hex);
    snprintf(cg_name, sizeof(cg_name), "berth-%.12s", hex);
    drv_cgroup_detect(o.test_cgroup_mountinfo, NULL, cg_name, &cgroups);
    uv_loop_t *loop = uv_default_loop();
    char *serve_bin = sibling_binary("berth-serve");
    struct drv_registry_auth *auths = NULL;
    size_t nauths = 0;
    if (o.registry_auth_file &&
        drv_registry_auths_load(o.registry_auth_file, &auths, &nauths, &err) != 0) {
        fprintf(stderr, "berthd: --registry-auth-file: %s\n", err.msg);
        free(serve_bin);
        rc = 1;
        goto out;
    }
    struct ctl_config cc = {.data_dir = data_dir,
                            .instance_dir = instance_dir,
                            .berth_serve = serve_bin,
                            .user = &user,
                            .seal_key = seal_key,
                            .group_qps_cap = (double)o.group_qps_cap,
                            .deliver = deliver,
                            .logs = logs,
                            .cgroups = &cgroups,
                            .volumes = volumes,
                            .engine_socket = o.engine_socket,
                            .registry_auths = auths,
                            .nregistry_auths = nauths,
                            .kube_conn = kube_conn,
                            .kube_namespaces = kube_ns,
                            .nkube_namespaces = nkube_ns,
                            .kube_runtime_image = model_image,
                            .kube_model_url = o.kube_model_url,
                            .kube_model_ca = kube_model_ca,
                            .kube_model_pvc = o.kube_model_pvc,
                            .kube_host_network =
                                o.kube_pod_network && strcmp(o.kube_pod_network, "host") == 0};
    rc = ctl_reconciler_start(loop, st, &cc, &routes, &reconciler, &err);
    free(serve_bin);
    drv_registry_auths_free(auths, nauths); /* the driver keeps its copy */
    if (rc) {
        fprintf(stderr, "berthd: %s\n", err.msg);
        rc = 1;
        goto out;
    }
    metrics = ctl_metrics_new(&(struct ctl_metrics_config){.reconciler = reconciler,
                                                           .store = st,
                                                           .routes = &routes,
                                                           .unrouted = unrouted,
                                                           .token = metrics_token});
    ctl_metrics_add(metrics, logs_capture_write_metrics, logs);
    if (ctl_cronscale_start(loop, st, reconciler, o.time_zone, o.test_clock_offset_s, &cronscale,
                            &err) != 0) {
        fprintf(stderr, "berthd: --time-zone: %s\n", err.msg);
        ctl_reconciler_stop(reconciler, NULL, NULL);
        uv_run(loop, UV_RUN_DEFAULT);
        rc = 1;
        goto out;
    }
    hpa = ctl_hpa_start(loop, st, reconciler, &routes);
    schedstop = ctl_schedstop_start(loop, st, reconciler);
    billing = ctl_billing_start(loop, st, reconciler, o.billing_hour_s);
    struct api_config api = {
        .billing = billing,
        .gateway_url = gateway_url,
        .store = st,
        .imports = im,
        .reconciler = reconciler,
        .cronscale = cronscale,
        .schedstop = schedstop,
        .data_dir = data_dir,
        .regions = o.regions.n ? o.regions.v : NULL,
        .seal_key = seal_key,
        .metrics = metrics,
        .deliver = deliver,
        .logs_db = logs_db,
        .volumes = volumes,
        .containers = o.engine_socket != NULL || kube_conn != NULL,
        .kube = kube_conn != NULL,
        .model_image = model_image,
    };
    struct http_server_config hc = {
        .host = host,
        .port = port,
        .num_threads = 2,
        .timeout_ms = 30000,
        .max_body_bytes = 10 * 1024 * 1024,
        .handler = api_handle,
        .ud = &api,
        .error_format = api_format_http_error,
        .head_as_get = true,
        .max_connections = (size_t)o.api_max_connections,
        .body_budget_bytes = (size_t)o.api_body_budget_mib << 20,
        .drain_timeout_ms = (uint64_t)o.drain_timeout_ms,
        .tls = api_tls,
        .listen_fd = inherited.api_fd,
    };
    unsigned gw_threads = gateway_threads ? gateway_threads : http_usable_cpus();
    struct gw_config gc = {.routes = &routes,
                           .num_threads = gw_threads,
                           .upstream_timeout_ms = 60000,
                           .trusted_proxies = proxies,
                           .unrouted = unrouted,
                           .wake = ctl_hpa_wake,
                           .wake_ud = hpa,
                           .wake_timeout_ms = (uint64_t)o.wake_timeout_ms};
    gateway = gw_new(&gc);
    ctl_hpa_set_gateway(hpa, gateway);
    struct http_server_config gwc = {
        .host = gw_host,
        .port = gw_port,
        .num_threads = gw_threads,
        .timeout_ms = 60000,
        .max_body_bytes = (size_t)1 << 30, /* streamed through: costs a bounded buffer */
        .stream_bodies = true,
        .handler = gw_handle,
        .ud = gateway,
        .worker_stop = gw_worker_stop,
        .max_connections = (size_t)o.gateway_max_connections,
        .body_budget_bytes = (size_t)o.gateway_body_budget_mib << 20,
        .drain_timeout_ms = (uint64_t)o.drain_timeout_ms,
        .access_log = access_log.fd >= 0 ? &access_log : NULL,
        .tls = gateway_tls,
        .listen_fd = inherited.gateway_fd,
    };
    /* The gateway first: the API hands out its address. The servers own the
     * inherited sockets from here, whatever happens. */
    inherited.api_fd = inherited.gateway_fd = -1;
    if (http_server_start(loop, &gwc, &gateway_server, &err) == 0) {
        gateway_url = xasprintf("%s://%s:%d", gateway_tls ? "https" : "http",
                                strcmp(gw_host, "0.0.0.0") ? gw_host : "127.0.0.1",
                                http_server_port(gateway_server));
        api.gateway_url = gateway_url;
        ctl_metrics_set_gateway(metrics, true);
    }
    /* The credential only once both listen: a berthd that cannot hands out
     * none for an API that is not there (the next start, on a free port,
     * makes it). */
    if (!gateway_server || http_server_start(loop, &hc, &api_server, &err) != 0 ||
        ensure_credentials(data_dir, st, &err) != 0) {
        fprintf(stderr, "berthd: %s\n", err.msg);
        http_server_stop(api_server);
        http_server_stop(gateway_server);
        api_server = gateway_server = NULL;
        ctl_cronscale_stop(cronscale);
        ctl_hpa_stop(hpa);
        ctl_schedstop_stop(schedstop);
        ctl_billing_stop(billing);
        ctl_reconciler_stop(reconciler, NULL, NULL);
        uv_run(loop, UV_RUN_DEFAULT);
        rc = 1;
        goto out;
    }
    uv_signal_init(loop, &sigterm);
    uv_signal_init(loop, &sigint);
    uv_signal_start(&sigterm, on_signal, SIGTERM);
    uv_signal_start(&sigint, on_signal, SIGINT);
    if (access_log.fd >= 0) {
        uv_signal_init(loop, &sigusr1);
        uv_signal_start(&sigusr1, on_reopen, SIGUSR1);
    }
    uv_signal_init(loop, &sighup);
    uv_signal_start(&sighup, on_sighup, SIGHUP);
    uv_signal_init(loop, &sigusr2);
    uv_signal_start(&sigusr2, on_upgrade, SIGUSR2);
    log_info("berthd", "gateway listening on %s:%d%s", gw_host, http_server_port(gateway_server),
             gateway_tls ? " (https)" : "");
    log_info("berthd", "management API listening on %s:%d%s data_dir=%s", host,
             http_server_port(api_server), api_tls ? " (https)" : "", data_dir);
    log_info("berthd", "time zone %s (CronScaleJobs)", ctl_tz_name(ctl_cronscale_tz(cronscale)));
    /* MAINPID: after a handover (SIGUSR2) the service's main process is this one. */
    char ready[64];
    snprintf(ready, sizeof(ready), "READY=1\nSTATUS=serving\nMAINPID=%ld", (long)getpid());
    if (notify_send(ready) != 0)
        log_warn("berthd", "cannot tell the service manager (NOTIFY_SOCKET) that berthd is ready");
    uv_run(loop, UV_RUN_DEFAULT);
    uv_loop_close(loop);
    log_info("berthd", "stopped");
out:
    takeover_ready(&inherited); /* failed early: the predecessor carries on */
    free(saved_exe);
    free(model_image);
    if (kube_conn) /* the driver took what it keeps */
        kube_conn_release(kube_conn);
    free(kube_conn);
    free(kube_model_ca);
    for (size_t i = 0; i < nkube_ns; i++)
        free((char *)kube_ns[i].region);
    if (inherited.api_fd >= 0)
        close(inherited.api_fd);
    if (inherited.gateway_fd >= 0)
        close(inherited.gateway_fd);
    ctl_resgroups_reset();
    free(gateway_url);
    gw_free(gateway);
    http_tls_free(api_tls);
    http_tls_free(gateway_tls);
    ctl_metrics_free(metrics);
    gw_mset_free(unrouted);
    if (metrics_token) {
        crypto_wipe(metrics_token, strlen(metrics_token));
        free(metrics_token);
    }
    gw_proxies_release(&proxies);
    gw_table_release(&routes);
    imports_stop(im);
    logs_capture_free(logs);    /* after the instances: their last lines are stored */
    logs_deliver_stop(deliver); /* after the capture: every line it hands over is spooled */
    free(log_spool);
    free(logs_db);
    drv_cgroup_host_release(&cgroups);
    drv_volumes_free(volumes);
    store_close(st);
    if (lock_fd >= 0)
        close(lock_fd);
    free(db);
    free(models);
    free(instance_dir);
    free(secret_key_file);
    crypto_wipe(seal_key, sizeof(seal_key));
    free(data_dir);
    if (access_log.fd >= 0)
        close(access_log.fd);
    for (size_t i = 0; i < o.nowned; i++)
        free(o.owned[i]);
    free(o.owned);
    return rc;
}
