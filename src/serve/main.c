/* main.c - berth-serve: command line, start-up and shutdown.
 * Flags follow tensorflow_model_server where they apply; one option table
 * drives parsing, validation and --help. */
#include "base/alloc.h"
#include "base/log.h"
#include "base/version.h"
#include "http/server.h"
#include "serve/api.h"
#include "serve/config.h"
#include "serve/fetch.h"
#include "serve/metrics.h"
#include "serve/repo.h"

#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct options {
    long long rest_api_port;
    const char *rest_api_host;
    const char *model_name;
    const char *model_base_path;
    const char *model_config_file;
    long long config_poll_s;
    long long fs_poll_s;
    long long num_threads;
    long long timeout_ms;
    long long max_request_bytes;
    long long max_connections;
    long long body_budget_bytes;
    long long drain_ms;
    const char *log_level;
    const char *log_format;
    const char *xgboost_predictor;
};

enum opt_type { OPT_INT, OPT_STR };

struct option_row {
    const char *name;
    enum opt_type type;
    size_t offset;
    long long min, max;
    const char *def; /* shown in --help */
    const char *help;
};

#define OFF(f) offsetof(struct options, f)
static const struct option_row option_table[] = {
    {"rest_api_port", OPT_INT, OFF(rest_api_port), 0, 65535, "8501",
     "TCP port of the REST API; 0 picks a free one"},
    {"rest_api_host", OPT_STR, OFF(rest_api_host), 0, 0, "127.0.0.1", "address to listen on"},
    {"model_name", OPT_STR, OFF(model_name), 0, 0, "default",
     "name of the model served from --model_base_path"},
    {"model_base_path", OPT_STR, OFF(model_base_path), 0, 0, "",
     "directory holding numbered version directories"},
    {"model_config_file", OPT_STR, OFF(model_config_file), 0, 0, "",
     "TF Serving model config (text format or JSON), instead of the two above"},
    {"model_config_file_poll_wait_seconds", OPT_INT, OFF(config_poll_s), 0, 86400, "0",
     "re-read the model config file this often; 0 never"},
    {"file_system_poll_wait_seconds", OPT_INT, OFF(fs_poll_s), 0, 86400, "1",
     "scan base paths for new versions this often; 0 only at start"},
    {"rest_api_num_threads", OPT_INT, OFF(num_threads), 1, 1024, "usable CPUs",
     "worker threads serving requests"},
    {"rest_api_timeout_in_ms", OPT_INT, OFF(timeout_ms), 1, 86400000, "30000",
     "a request must arrive whole within this; idle connections close after it"},
    {"max_request_bytes", OPT_INT, OFF(max_request_bytes), 1024, 1LL << 34, "67108864",
     "largest request body accepted; larger ones get 413"},
    {"max_connections", OPT_INT, OFF(max_connections), 1, 1000000, "1024",
     "connections held at once; one more is answered 503"},
    {"request_body_budget_bytes", OPT_INT, OFF(body_budget_bytes), 1024, 1LL << 40, "268435456",
     "request-body bytes buffered at once over all connections; past it requests get 503"},
    {"drain_timeout_ms", OPT_INT, OFF(drain_ms), 0, 600000, "3000",
     "on SIGTERM, how long requests in flight may finish before their connections close"},
    {"log_level", OPT_STR, OFF(log_level), 0, 0, "info", "error, warn, info or debug"},
    {"log_format", OPT_STR, OFF(log_format), 0, 0, "text", "text, or json (one object per line)"},
    {"xgboost_predictor", OPT_STR, OFF(xgboost_predictor), 0, 0, "auto",
     "auto (native evaluator where it agrees with the library at load), native or library; "
     "a version's berth.json \"predictor\" overrides it"},
};
#define NOPTIONS (sizeof(option_table) / sizeof(option_table[0]))

static void usage(FILE *f)
{
    fprintf(f, "usage: berth-serve [--flag=value | --flag value]...\n"
               "       berth-serve fetch --from URL --into DIR   (see berth-serve fetch --help)\n\n"
               "Serves XGBoost models over TF Serving's REST API and the Open Inference "
               "Protocol.\n\n");
    for (size_t i = 0; i < NOPTIONS; i++)
        fprintf(f, "  --%-38s %s (default: %s)\n", option_table[i].name, option_table[i].help,
                option_table[i].def);
    fprintf(f, "  --%-38s %s\n  --%-38s %s\n", "help", "print this help", "version",
            "print the version");
}

static int set_option(struct options *o, const struct option_row *row, const char *value)
{
    char *field = (char *)o + row->offset;
    if (row->type == OPT_STR) {
        *(const char **)field = value;
        return 0;
    }
    char *end;
    errno = 0;
    long long v = strtoll(value, &end, 10);
    if (errno || *end || end == value) {
        fprintf(stderr, "berth-serve: --%s: '%s' is not an integer\n", row->name, value);
        return -1;
    }
    if (v < row->min || v > row->max) {
        fprintf(stderr, "berth-serve: --%s: %lld is out of range [%lld, %lld]\n", row->name, v,
                row->min, row->max);
        return -1;
    }
    *(long long *)field = v;
    return 0;
}

/* Returns 0 to run, 1 to exit successfully (help, version), -1 on a usage error. */
static int parse_args(int argc, char **argv, struct options *o)
{
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            usage(stdout);
            return 1;
        }
        if (strcmp(arg, "--version") == 0 || strcmp(arg, "-V") == 0) {
            printf("berth-serve %s\n", berth_version);
            return 1;
        }
        if (strncmp(arg, "--", 2) != 0) {
            fprintf(stderr, "berth-serve: unexpected argument '%s' (flags start with --)\n", arg);
            return -1;
        }
        const char *name = arg + 2, *eq = strchr(name, '=');
        size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
        const struct option_row *row = NULL;
        for (size_t k = 0; k < NOPTIONS; k++)
            if (strlen(option_table[k].name) == nlen &&
                strncmp(option_table[k].name, name, nlen) == 0)
                row = &option_table[k];
        if (!row) {
            if (nlen == 4 && strncmp(name, "port", 4) == 0)
                fprintf(stderr, "berth-serve: --port (gRPC) is not supported: berth-serve speaks "
                                "REST only; use --rest_api_port\n");
            else
                fprintf(stderr, "berth-serve: unknown flag '--%.*s' (see --help)\n", (int)nlen,
                        name);
            return -1;
        }
        const char *value = eq ? eq + 1 : NULL;
        if (!value) {
            if (i + 1 >= argc) {
                fprintf(stderr, "berth-serve: --%s needs a value\n", row->name);
                return -1;
            }
            value = argv[++i];
        }
        if (set_option(o, row, value))
            return -1;
    }
    return 0;
}

static struct http_server *server;
static struct serve_repo *repo;
static uv_signal_t sigterm, sigint;

/* Stop serving; with the signal handles closed too, uv_run() returns. */
static void on_signal(uv_signal_t *s, int signum)
{
    (void)s;
    log_info("serve", "received %s; shutting down", signum == SIGTERM ? "SIGTERM" : "SIGINT");
    http_server_stop(server);
    server = NULL;
    uv_close((uv_handle_t *)&sigterm, NULL);
    uv_close((uv_handle_t *)&sigint, NULL);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "fetch") == 0)
        return serve_fetch_main(argc - 1, argv + 1);
    long ncpu = (long)http_usable_cpus();
    struct options o = {
        .rest_api_port = 8501,
        .rest_api_host = "127.0.0.1",
        .model_name = "default",
        .fs_poll_s = 1,
        .num_threads = ncpu > 0 ? ncpu : 1,
        .timeout_ms = 30000,
        .max_request_bytes = 64 * 1024 * 1024,
        .max_connections = 1024,
        .body_budget_bytes = 256 * 1024 * 1024,
        .drain_ms = 3000,
        .log_level = "info",
        .log_format = "text",
        .xgboost_predictor = "auto",
    };
    int rc = parse_args(argc, argv, &o);
    if (rc)
        return rc > 0 ? 0 : 2;
    if (log_set_level(o.log_level) != 0) {
        fprintf(stderr, "berth-serve: --log_level: '%s' is not one of error, warn, info, debug\n",
                o.log_level);
        return 2;
    }
    if (log_set_format(o.log_format) != 0) {
        fprintf(stderr, "berth-serve: --log_format: '%s' is not one of text, json\n", o.log_format);
        return 2;
    }
    bool have_config = o.model_config_file && *o.model_config_file;
    bool have_base = o.model_base_path && *o.model_base_path;
    if (have_config == have_base) {
        fprintf(stderr,
                "berth-serve: give either --model_base_path (with --model_name) or "
                "--model_config_file, not %s\n",
                have_config ? "both" : "neither");
        return 2;
    }

    struct serve_config cfg = {0};
    struct err err = {0};
    if (have_config) {
        if (serve_config_load(o.model_config_file, &cfg, &err) != 0) {
            fprintf(stderr, "berth-serve: %s\n", err.msg);
            return 2;
        }
    } else {
        struct serve_config probe;
        char *text = xasprintf("model_config_list { config { name: '%s' base_path: '%s' } }",
                               o.model_name, "x");
        rc = serve_config_parse("--model_name", text, strlen(text), &probe, &err);
        free(text);
        if (rc) {
            fprintf(stderr,
                    "berth-serve: --model_name '%s': use letters, digits, '_', '-' and "
                    "'.'\n",
                    o.model_name);
            return 2;
        }
        serve_config_release(&probe);
        serve_config_add(&cfg, o.model_name, o.model_base_path);
    }
    signal(SIGPIPE, SIG_IGN);
    http_raise_fd_limit();

    int predictor = serve_predictor_parse(o.xgboost_predictor);
    if (predictor < 0) {
        fprintf(stderr,
                "berth-serve: --xgboost_predictor: '%s' is not one of auto, native, library\n",
                o.xgboost_predictor);
        return 2;
    }
    struct serve_repo_options ropt = {
        .predictor = (enum serve_predictor)predictor,
        .config_path = have_config ? o.model_config_file : NULL,
        .config_poll_s = (unsigned)o.config_poll_s,
        .fs_poll_s = (unsigned)o.fs_poll_s,
    };
    if (serve_repo_new(&cfg, &ropt, &repo, &err) != 0) {
        fprintf(stderr, "berth-serve: %s\n", err.msg);
        return 1;
    }
    struct serve_api api = {.repo = repo};
    struct http_server_config hc = {
        .host = o.rest_api_host,
        .port = (int)o.rest_api_port,
        .num_threads = (unsigned)o.num_threads,
        .timeout_ms = (uint64_t)o.timeout_ms,
        .max_body_bytes = (size_t)o.max_request_bytes,
        .handler = serve_api_handle,
        .ud = &api,
        .worker_stop = serve_api_worker_stop,
        .max_connections = (size_t)o.max_connections,
        .head_as_get = true,
        .body_budget_bytes = (size_t)o.body_budget_bytes,
        .drain_timeout_ms = (uint64_t)o.drain_ms,
    };
    uv_loop_t *loop = uv_default_loop();
    if (http_server_start(loop, &hc, &server, &err) != 0) {
        fprintf(stderr, "berth-serve: %s\n", err.msg);
        serve_repo_free(repo);
        return 1;
    }
    uv_signal_init(loop, &sigterm);
    uv_signal_init(loop, &sigint);
    uv_signal_start(&sigterm, on_signal, SIGTERM);
    uv_signal_start(&sigint, on_signal, SIGINT);
    log_info("serve", "listening on %s:%d threads=%lld", o.rest_api_host, http_server_port(server),
             o.num_threads);

    uv_run(loop, UV_RUN_DEFAULT);
    uv_loop_close(loop);
    serve_repo_free(repo);
    serve_metrics_reset();
    log_info("serve", "stopped");
    return 0;
}
