/* service.c - berth service create | list | show | stop | resume | scale | autoscale |
 * delete, and berth predict. */
#include "cli/cli.h"
#include "base/alloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int wait_normal(struct cli *c, const char *service_id)
{
    const char *last = "";
    char seen[32] = "";
    for (int i = 0; i < 6000; i++) {
        json_t *resp = NULL;
        int rc =
            cli_call(c, "DescribeModelService", json_pack("{s:s}", "ServiceId", service_id), &resp);
        if (rc)
            return rc;
        json_t *s = json_object_get(resp, "Service");
        last = cli_jstr(s, "Status");
        snprintf(seen, sizeof(seen), "%s", last);
        if (strcmp(last, "Normal") == 0) {
            json_decref(resp);
            return CLI_OK;
        }
        if (strcmp(last, "CREATE_FAILED") == 0) {
            fprintf(stderr, "berth: %s failed: %s\n", service_id,
                    cli_jstr(s, "CreateFailedReason"));
            json_decref(resp);
            return CLI_API_ERROR;
        }
        json_decref(resp);
        usleep(20 * 1000);
    }
    fprintf(stderr, "berth: %s is still %s after 120 s\n", service_id, seen);
    return CLI_API_ERROR;
}

static void print_service_row(const json_t *s)
{
    const json_t *info = json_object_get(s, "ServiceInfo");
    const json_t *st = json_object_get(info, "Status");
    const json_t *model = json_object_get(info, "ModelInfo");
    printf("%-16s %-20s %-14s %4lld/%-4lld %6lld  %s\n", cli_jstr(s, "ServiceId"),
           cli_jstr(s, "ServiceGroupName"), cli_jstr(s, "Status"),
           (long long)json_integer_value(json_object_get(st, "ReadyReplicas")),
           (long long)json_integer_value(json_object_get(info, "Replicas")),
           (long long)json_integer_value(json_object_get(s, "Weight")),
           json_is_object(model) ? cli_jstr(model, "ModelVersionId") : cli_jstr(info, "Command"));
}

/* Options of create and update into request fields; only what is given.
 * --name and --group only make sense for create. */
static int read_service_opts(int argc, char **argv, bool creating, json_t *p, bool *wait)
{
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--wait") == 0) {
            *wait = true;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "berth: %s needs a value\n", a);
            return CLI_USAGE;
        }
        const char *v = argv[++i];
        if (creating && strcmp(a, "--name") == 0) {
            json_object_set_new(p, "ServiceGroupName", json_string(v));
        } else if (creating && strcmp(a, "--group") == 0) {
            json_object_set_new(p, "ServiceGroupId", json_string(v));
            json_object_set_new(p, "NewVersion", json_true());
        } else if (strcmp(a, "--model-version") == 0) {
            json_object_set_new(p, "ModelInfo", json_pack("{s:s}", "ModelVersionId", v));
        } else if (strcmp(a, "--command") == 0) {
            json_object_set_new(p, "Command", json_string(v));
        } else if (strcmp(a, "--instance-type") == 0) {
            json_object_set_new(p, "InstanceType", json_string(v));
        } else if (strcmp(a, "--replicas") == 0) {
            char *end;
            long n = strtol(v, &end, 10);
            if (*end || end == v || n < 0) {
                fprintf(stderr, "berth: --replicas must be a number >= 0, got '%s'\n", v);
                return CLI_USAGE;
            }
            json_object_set_new(p, "Replicas", json_integer(n));
        } else if (strcmp(a, "--env") == 0) {
            const char *eq = strchr(v, '=');
            if (!eq) {
                fprintf(stderr, "berth: --env takes NAME=VALUE, got '%s'\n", v);
                return CLI_USAGE;
            }
            if (!json_object_get(p, "Env"))
                json_object_set_new(p, "Env", json_array());
            char *k = xstrndup(v, (size_t)(eq - v));
            json_array_append_new(json_object_get(p, "Env"),
                                  json_pack("{s:s, s:s}", "Name", k, "Value", eq + 1));
            free(k);
        } else {
            fprintf(stderr, "berth: service %s: unknown option '%s'\n",
                    creating ? "create" : "update", a);
            return CLI_USAGE;
        }
    }
    return CLI_OK;
}

static int service_create(struct cli *c, int argc, char **argv)
{
    bool wait = false;
    json_t *p = json_pack("{s:s, s:s, s:i}", "ChargeType", "POSTPAID_BY_HOUR", "InstanceType",
                          "TI.S.MEDIUM.POST", "Replicas", 1);
    int rc = read_service_opts(argc, argv, true, p, &wait);
    bool named = json_object_get(p, "ServiceGroupName") || json_object_get(p, "ServiceGroupId");
    bool runs = json_object_get(p, "ModelInfo") || json_object_get(p, "Command");
    if (rc == CLI_OK && (!named || !runs)) {
        fprintf(stderr, "usage: berth service create --name N (--model-version mv-ID | --command "
                        "CMD) [--instance-type T] [--replicas N] [--env K=V]... [--group ms-ID] "
                        "[--wait]\n");
        rc = CLI_USAGE;
    }
    if (rc) {
        json_decref(p);
        return rc;
    }
    json_t *resp = NULL;
    rc = cli_call(c, "CreateModelService", p, &resp);
    if (rc)
        return rc;
    const char *sid = cli_jstr(json_object_get(resp, "Service"), "ServiceId");
    if (wait)
        rc = wait_normal(c, sid);
    if (c->json)
        cli_print_json(resp);
    else if (rc == CLI_OK)
        printf("service %s in group %s is %s\n", sid,
               cli_jstr(json_object_get(resp, "Service"), "ServiceGroupId"),
               wait ? "Normal" : "being created");
    json_decref(resp);
    return rc;
}

/* Change what a version runs, in place (rolled out one instance at a time). */
static int service_update(struct cli *c, int argc, char **argv)
{
    bool wait = false;
    if (argc < 2 || argv[0][0] == '-') {
        fprintf(stderr, "usage: berth service update ms-ID-N [--model-version mv-ID | --command "
                        "CMD] [--instance-type T] [--replicas N] [--env K=V]... [--wait]\n");
        return CLI_USAGE;
    }
    json_t *p = json_pack("{s:s}", "ServiceId", argv[0]);
    int rc = read_service_opts(argc - 1, argv + 1, false, p, &wait);
    if (rc) {
        json_decref(p);
        return rc;
    }
    json_t *resp = NULL;
    if ((rc = cli_call(c, "ModifyModelService", p, &resp)))
        return rc;
    if (wait)
        rc = wait_normal(c, argv[0]);
    if (c->json)
        cli_print_json(resp);
    else if (rc == CLI_OK)
        print_service_row(json_object_get(resp, "Service"));
    json_decref(resp);
    return rc;
}

/* berth service weights ms-ID ms-ID-1=W ms-ID-2=W ... */
static int service_weights(struct cli *c, int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: berth service weights ms-ID ms-ID-N=WEIGHT...\n");
        return CLI_USAGE;
    }
    json_t *list = json_array();
    for (int i = 1; i < argc; i++) {
        const char *eq = strchr(argv[i], '=');
        char *end = NULL;
        long w = eq ? strtol(eq + 1, &end, 10) : -1;
        if (!eq || *end || end == eq + 1 || w < 0) {
            fprintf(stderr, "berth: weights take ms-ID-N=WEIGHT, got '%s'\n", argv[i]);
            json_decref(list);
            return CLI_USAGE;
        }
        char *sid = xstrndup(argv[i], (size_t)(eq - argv[i]));
        json_array_append_new(list, json_pack("{s:s, s:i}", "ServiceId", sid, "Weight", (int)w));
        free(sid);
    }
    json_t *resp = NULL;
    int rc = cli_call(c, "ModifyServiceGroupWeights",
                      json_pack("{s:s, s:o}", "ServiceGroupId", argv[0], "Weights", list), &resp);
    if (rc == CLI_OK) {
        size_t i;
        json_t *s;
        if (c->json)
            cli_print_json(resp);
        else
            json_array_foreach(json_object_get(json_object_get(resp, "ServiceGroup"), "Services"),
                               i, s) print_service_row(s);
    }
    json_decref(resp);
    return rc;
}

static int service_list(struct cli *c)
{
    json_t *resp = NULL;
    int rc = cli_call(c, "DescribeModelServiceGroups", json_pack("{s:i}", "Limit", 100), &resp);
    if (rc)
        return rc;
    if (c->json) {
        cli_print_json(resp);
    } else {
        printf("%-16s %-20s %-14s %9s %6s  %s\n", "SERVICE", "GROUP NAME", "STATUS", "READY",
               "WEIGHT", "RUNS");
        size_t i, k;
        json_t *g, *s;
        json_array_foreach(json_object_get(resp, "ServiceGroups"), i, g)
            json_array_foreach(json_object_get(g, "Services"), k, s) print_service_row(s);
    }
    json_decref(resp);
    return CLI_OK;
}

static int service_action(struct cli *c, const char *id, const char *action, long replicas)
{
    json_t *p = json_pack("{s:s, s:s}", "ServiceId", id, "ServiceAction", action);
    if (replicas >= 0)
        json_object_set_new(p, "Replicas", json_integer(replicas));
    json_t *resp = NULL;
    int rc = cli_call(c, "ModifyModelService", p, &resp);
    if (rc == CLI_OK) {
        if (c->json)
            cli_print_json(resp);
        else
            print_service_row(json_object_get(resp, "Service"));
    }
    json_decref(resp);
    return rc;
}

/* One --cron value, SCHEDULE=TARGET[,name=N][,exclude=EXPR]..., into a
 * CronScaleJob. The schedule and the exclusions may hold commas (cron
 * lists): a value runs to the next ",name=" or ",exclude=". */
static json_t *cron_job(const char *v)
{
    const char *eq = strchr(v, '=');
    char *end;
    long target = eq ? strtol(eq + 1, &end, 10) : -1;
    if (!eq || eq == v || end == eq + 1 || target < 0 || (*end && *end != ',')) {
        fprintf(stderr,
                "berth: --cron takes SCHEDULE=TARGET[,name=N][,exclude=EXPR]..., got '%s'\n", v);
        return NULL;
    }
    char *sched = xstrndup(v, (size_t)(eq - v));
    json_t *job = json_pack("{s:s, s:I}", "Schedule", sched, "TargetReplicas", (json_int_t)target);
    free(sched);
    json_t *ex = json_array();
    for (const char *p = end; *p;) {
        bool name = strncmp(p, ",name=", 6) == 0, exclude = strncmp(p, ",exclude=", 9) == 0;
        if (!name && !exclude) {
            fprintf(stderr,
                    "berth: --cron: after TARGET come ,name=N and ,exclude=EXPR, got '%s'\n", p);
            json_decref(ex);
            json_decref(job);
            return NULL;
        }
        p += name ? 6 : 9;
        const char *next = p;
        while (*next && strncmp(next, ",name=", 6) != 0 && strncmp(next, ",exclude=", 9) != 0)
            next++;
        char *val = xstrndup(p, (size_t)(next - p));
        if (name)
            json_object_set_new(job, "Name", json_string(val));
        else
            json_array_append_new(ex, json_string(val));
        free(val);
        p = next;
    }
    json_object_set_new(job, "ExcludeDates", ex);
    return job;
}

/* --metric NAME=VALUE: {"Name", "Value"}; NULL (said why) when malformed. */
static json_t *hpa_metric(const char *v)
{
    const char *eq = strchr(v, '=');
    char *end = NULL;
    long n = eq ? strtol(eq + 1, &end, 10) : -1;
    if (!eq || eq == v || end == eq + 1 || *end || n < 0) {
        fprintf(stderr, "berth: --metric '%s': want NAME=VALUE, e.g. cpu-util=60\n", v);
        return NULL;
    }
    return json_pack("{s:s%, s:i}", "Name", v, (size_t)(eq - v), "Value", (int)n);
}

/* berth service autoscale ms-ID-N (--cron SCHEDULE=TARGET[,...]... --replicas N |
 * --hpa --min N --max N --metric NAME=VALUE... [--up-window S] [--down-window S]
 * [--replicas N] | --manual N) */
static int service_autoscale(struct cli *c, int argc, char **argv)
{
    static const char usage[] =
        "usage: berth service autoscale ms-ID-N --cron "
        "'SCHEDULE=TARGET[,name=N][,exclude=EXPR]'... --replicas N\n"
        "       berth service autoscale ms-ID-N --hpa --min N --max N --metric NAME=VALUE... "
        "[--up-window S] [--down-window S] [--replicas N]\n"
        "       berth service autoscale ms-ID-N --manual N\n";
    if (argc < 2 || argv[0][0] == '-') {
        fputs(usage, stderr);
        return CLI_USAGE;
    }
    json_t *p = json_pack("{s:s}", "ServiceId", argv[0]);
    json_t *jobs = json_array(), *metrics = json_array();
    long manual = -1, replicas = -1, min = -1, max = -1, up = -1, down = -1;
    bool hpa = false;
    int rc = CLI_OK;
    static const char *const counts[] = {"--replicas", "--manual",    "--min",
                                         "--max",      "--up-window", "--down-window"};
    long *const slots[] = {&replicas, &manual, &min, &max, &up, &down};
    for (int i = 1; i < argc && rc == CLI_OK; i += 2) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--hpa") == 0) {
            hpa = true;
            i--;
            continue;
        }
        char *end = NULL;
        long n = v ? strtol(v, &end, 10) : -1;
        bool number = v && end != v && !*end && n >= 0;
        int slot = -1;
        for (int k = 0; k < (int)(sizeof(counts) / sizeof(counts[0])); k++)
            if (strcmp(a, counts[k]) == 0)
                slot = k;
        json_t *x;
        if (!v) {
            fprintf(stderr, "berth: %s needs a value\n", a);
            rc = CLI_USAGE;
        } else if (strcmp(a, "--cron") == 0 && (x = cron_job(v))) {
            json_array_append_new(jobs, x);
        } else if (strcmp(a, "--metric") == 0 && (x = hpa_metric(v))) {
            json_array_append_new(metrics, x);
        } else if (strcmp(a, "--cron") == 0 || strcmp(a, "--metric") == 0) {
            rc = CLI_USAGE;
        } else if (slot >= 0 && number) {
            *slots[slot] = n;
        } else {
            fprintf(stderr, "berth: service autoscale: %s\n%s",
                    slot >= 0 ? "the count must be a number >= 0" : "unknown option", usage);
            rc = CLI_USAGE;
        }
    }
    bool cron = json_array_size(jobs) > 0;
    if (rc == CLI_OK && (int)cron + (int)hpa + (int)(manual >= 0) != 1) {
        fprintf(stderr, "berth: service autoscale: give --cron jobs, --hpa or --manual\n%s", usage);
        rc = CLI_USAGE;
    }
    if (rc == CLI_OK && hpa && (min < 0 || max < 0 || !json_array_size(metrics))) {
        fprintf(stderr, "berth: service autoscale: --hpa needs --min, --max and --metric\n%s",
                usage);
        rc = CLI_USAGE;
    }
    if (rc) {
        json_decref(jobs);
        json_decref(metrics);
        json_decref(p);
        return rc;
    }
    if (cron) {
        json_object_set_new(p, "ScaleMode", json_string("AUTO"));
        json_object_set_new(p, "ScaleStrategy", json_string("CRON"));
        json_object_set_new(p, "CronScaleJobs", jobs);
        json_decref(metrics);
        if (replicas >= 0)
            json_object_set_new(p, "Replicas", json_integer(replicas));
    } else if (hpa) {
        json_decref(jobs);
        json_t *h = json_pack("{s:i, s:i, s:o}", "MinReplicas", (int)min, "MaxReplicas", (int)max,
                              "HpaMetrics", metrics);
        if (up >= 0)
            json_object_set_new(h, "ScaleUpStabilizationWindowSeconds", json_integer(up));
        if (down >= 0)
            json_object_set_new(h, "ScaleDownStabilizationWindowSeconds", json_integer(down));
        json_object_set_new(p, "ScaleMode", json_string("AUTO"));
        json_object_set_new(p, "ScaleStrategy", json_string("HPA"));
        json_object_set_new(p, "HorizontalPodAutoscaler", h);
        if (replicas >= 0)
            json_object_set_new(p, "Replicas", json_integer(replicas));
    } else {
        json_decref(jobs);
        json_decref(metrics);
        json_object_set_new(p, "ScaleMode", json_string("MANUAL"));
        json_object_set_new(p, "Replicas", json_integer(manual));
    }
    json_t *resp = NULL;
    if ((rc = cli_call(c, "ModifyModelService", p, &resp)))
        return rc;
    if (c->json)
        cli_print_json(resp);
    else
        print_service_row(json_object_get(resp, "Service"));
    json_decref(resp);
    return CLI_OK;
}

/* "ms-xxxxxxxx" is a group, "ms-xxxxxxxx-N" a version. */
static bool is_group_id(const char *id)
{
    return strlen(id) == 11 && strncmp(id, "ms-", 3) == 0;
}

int cli_service(struct cli *c, int argc, char **argv)
{
    if (argc >= 1 && strcmp(argv[0], "create") == 0)
        return service_create(c, argc - 1, argv + 1);
    if (argc >= 1 && strcmp(argv[0], "update") == 0)
        return service_update(c, argc - 1, argv + 1);
    if (argc >= 1 && strcmp(argv[0], "autoscale") == 0)
        return service_autoscale(c, argc - 1, argv + 1);
    if (argc >= 1 && strcmp(argv[0], "weights") == 0)
        return service_weights(c, argc - 1, argv + 1);
    if (argc == 1 && strcmp(argv[0], "list") == 0)
        return service_list(c);
    if (argc >= 1 && strcmp(argv[0], "auth") == 0)
        return cli_service_auth(c, argc - 1, argv + 1);
    if (argc >= 1 && strcmp(argv[0], "limit") == 0)
        return cli_service_limit(c, argc - 1, argv + 1);
    if (argc == 2 && strcmp(argv[0], "show") == 0) {
        json_t *resp = NULL;
        bool group = is_group_id(argv[1]);
        int rc =
            cli_call(c, group ? "DescribeModelServiceGroup" : "DescribeModelService",
                     json_pack("{s:s}", group ? "ServiceGroupId" : "ServiceId", argv[1]), &resp);
        if (rc == CLI_OK)
            cli_print_json(json_object_get(resp, group ? "ServiceGroup" : "Service"));
        json_decref(resp);
        return rc;
    }
    if (argc == 2 && (strcmp(argv[0], "stop") == 0 || strcmp(argv[0], "resume") == 0))
        return service_action(c, argv[1], strcmp(argv[0], "stop") == 0 ? "STOP" : "RESUME", -1);
    if (argc == 3 && strcmp(argv[0], "scale") == 0) {
        char *end;
        long n = strtol(argv[2], &end, 10);
        if (*end || n < 0) {
            fprintf(stderr, "berth: scale: REPLICAS must be a number >= 0, got '%s'\n", argv[2]);
            return CLI_USAGE;
        }
        return service_action(c, argv[1], "SCALE", n);
    }
    if (argc == 2 && strcmp(argv[0], "delete") == 0) {
        bool group = is_group_id(argv[1]);
        json_t *resp = NULL;
        int rc =
            cli_call(c, group ? "DeleteModelServiceGroup" : "DeleteModelService",
                     json_pack("{s:s}", group ? "ServiceGroupId" : "ServiceId", argv[1]), &resp);
        if (rc == CLI_OK && !c->json)
            printf("deleted %s\n", argv[1]);
        else if (rc == CLI_OK)
            cli_print_json(resp);
        json_decref(resp);
        return rc;
    }
    fprintf(stderr, "usage: berth service "
                    "create|update|autoscale|weights|list|show|stop|resume|scale|delete|auth|"
                    "limit ... "
                    "(see berth --help)\n");
    return CLI_USAGE;
}

int cli_predict(struct cli *c, int argc, char **argv)
{
    const char *target = NULL, *body = NULL, *path = "/v1/models/m:predict";
    const char *token = getenv("BERTH_TOKEN");
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--path") == 0 && i + 1 < argc)
            path = argv[++i];
        else if (strcmp(argv[i], "--token") == 0 && i + 1 < argc)
            token = argv[++i];
        else if (!target)
            target = argv[i];
        else if (!body)
            body = argv[i];
        else {
            fprintf(stderr, "berth: predict: unexpected '%s'\n", argv[i]);
            return CLI_USAGE;
        }
    }
    if (!target || !body) {
        fprintf(stderr, "usage: berth predict ms-ID[-N] JSON|@FILE [--path /v1/models/m:predict] "
                        "[--token T]\n");
        return CLI_USAGE;
    }
    json_t *payload = cli_json_arg(body);
    if (!payload)
        return CLI_USAGE;
    /* The group's gateway address comes from DescribeModelServiceCallInfo. */
    char group[16];
    snprintf(group, sizeof(group), "%.11s", target);
    json_t *resp = NULL;
    int rc = cli_call(c, "DescribeModelServiceCallInfo",
                      json_pack("{s:s}", "ServiceGroupId", group), &resp);
    if (rc == CLI_OK) {
        const char *endpoint =
            cli_jstr(json_object_get(resp, "ServiceCallInfoV2"), "InternetEndpoint");
        /* The endpoint ends with the group id; a version id replaces it. */
        char *url =
            xasprintf("%.*s%s%s", (int)(strlen(endpoint) - strlen(group)), endpoint, target, path);
        char *text = json_dumps(payload, JSON_COMPACT);
        rc = cli_post(url, token && *token ? token : NULL, text, strlen(text));
        free(text);
        free(url);
    }
    json_decref(resp);
    json_decref(payload);
    return rc;
}
