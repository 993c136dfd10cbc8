/* service.c - berth service create | update | weights | list | show | stop |
 * resume | scale | autoscale | delete, and berth predict. The commands that
 * change what runs can --wait (wait.c); each prints the service as it is
 * afterwards. */
#include "cli/cli.h"
#include "base/alloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------ */
/* Tables                                                                   */

void cli_service_header(void)
{
    printf("%-16s %-20s %-14s %9s %6s  %s\n", "SERVICE", "GROUP NAME", "STATUS", "READY", "WEIGHT",
           "RUNS");
}

void cli_service_row(const json_t *s)
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

/* The answer of an action on one version: JSON, or the table of it. */
static void print_service(const struct cli *c, const json_t *resp)
{
    if (c->json) {
        cli_print_json(resp);
        return;
    }
    cli_service_header();
    cli_service_row(json_object_get(resp, "Service"));
}

static long long jint(const json_t *o, const char *k)
{
    return (long long)json_integer_value(json_object_get(o, k));
}

static void print_scaling(const json_t *info)
{
    const char *mode = cli_jstr(info, "ScaleMode"), *strategy = cli_jstr(info, "ScaleStrategy");
    if (strcmp(mode, "AUTO") != 0) {
        printf("%-15s %s\n", "Scaling:", *mode ? mode : "MANUAL");
        return;
    }
    printf("%-15s AUTO %s\n", "Scaling:", strategy);
    const json_t *h = json_object_get(info, "HorizontalPodAutoscaler");
    if (json_is_object(h)) {
        printf("%-15s %lld to %lld replicas, windows up %llds down %llds, targets",
               "HPA:", jint(h, "MinReplicas"), jint(h, "MaxReplicas"),
               jint(h, "ScaleUpStabilizationWindowSeconds"),
               jint(h, "ScaleDownStabilizationWindowSeconds"));
        size_t i;
        const json_t *m;
        json_array_foreach(json_object_get(h, "HpaMetrics"), i, m)
            printf(" %s=%lld", cli_jstr(m, "Name"), jint(m, "Value"));
        printf("\n");
    }
    size_t i, k;
    const json_t *j, *x;
    json_array_foreach(json_object_get(info, "CronScaleJobs"), i, j)
    {
        printf("%-15s %s%s%s -> %lld", i ? "" : "Cron jobs:", cli_jstr(j, "Name"),
               *cli_jstr(j, "Name") ? ": " : "", cli_jstr(j, "Schedule"),
               jint(j, "TargetReplicas"));
        json_array_foreach(json_object_get(j, "ExcludeDates"), k, x)
            printf("%s%s", k ? ", " : " (except ", json_string_value(x));
        printf("%s\n", json_array_size(json_object_get(j, "ExcludeDates")) ? ")" : "");
    }
}

/* berth service show ms-ID-N: the version, then its instances. */
static void show_version(const json_t *s)
{
    const json_t *info = json_object_get(s, "ServiceInfo");
    const json_t *st = json_object_get(info, "Status");
    const json_t *model = json_object_get(info, "ModelInfo");
    printf("%-15s %s (version %s of group %s, %s)\n", "Service:", cli_jstr(s, "ServiceId"),
           cli_jstr(s, "Version"), cli_jstr(s, "ServiceGroupId"), cli_jstr(s, "ServiceGroupName"));
    printf("%-15s %s, %lld/%lld ready\n", "Status:", cli_jstr(s, "Status"),
           jint(st, "ReadyReplicas"), jint(info, "Replicas"));
    if (*cli_jstr(st, "Reason"))
        printf("%-15s %s\n", "Reason:", cli_jstr(st, "Reason"));
    if (json_is_object(model))
        printf("%-15s model %s (%s) version %s %s, %s\n", "Runs:", cli_jstr(model, "ModelName"),
               cli_jstr(model, "ModelId"), cli_jstr(model, "ModelVersion"),
               cli_jstr(model, "ModelVersionId"), cli_jstr(model, "ModelFormat"));
    else
        printf("%-15s %s\n", "Runs:", cli_jstr(info, "Command"));
    printf("%-15s %s (%s)\n", "Instance type:", cli_jstr(info, "InstanceType"),
           cli_jstr(info, "InstanceAlias"));
    printf("%-15s %lld\n", "Replicas:", jint(info, "Replicas"));
    print_scaling(info);
    printf("%-15s %lld\n", "Weight:", jint(s, "Weight"));
    size_t i;
    const json_t *e;
    printf("%-15s", "Env:");
    json_array_foreach(json_object_get(info, "Env"), i, e)
        printf(" %s=%s", cli_jstr(e, "Name"), cli_jstr(e, "Value"));
    printf("%s\n", json_array_size(json_object_get(info, "Env")) ? "" : " -");
    const json_t *l = json_object_get(info, "ServiceLimit");
    printf("%-15s ", "Limits:");
    if (json_is_true(json_object_get(l, "EnableInstanceRpsLimit")))
        printf("%lld requests/s", jint(l, "InstanceRpsLimit"));
    else
        printf("no rate limit");
    if (json_is_true(json_object_get(l, "EnableInstanceReqLimit")))
        printf(", %lld in flight per instance\n", jint(l, "InstanceReqLimit"));
    else
        printf(", no concurrency limit\n");
    printf("%-15s %s\n",
           "Call auth:", json_is_true(json_object_get(info, "AuthorizationEnable")) ? "on" : "off");
    printf("%-15s %s\n", "Created:", cli_jstr(s, "CreateTime"));
    printf("%-15s %s\n", "Updated:", cli_jstr(s, "UpdateTime"));
    const json_t *pods = json_object_get(info, "PodInfos");
    if (!json_array_size(pods)) {
        printf("\nno instances\n");
        return;
    }
    printf("\n%-20s %-12s %-5s %8s  %-16s %-20s %6s %8s\n", "INSTANCE", "STATUS", "READY",
           "RESTARTS", "ADDRESS", "STARTED", "CPU", "MEMORY");
    const json_t *p;
    json_array_foreach(pods, i, p)
    {
        const json_t *ci =
            json_object_get(json_array_get(json_object_get(p, "ContainerInfos"), 0), "Status");
        const json_t *use = json_object_get(p, "ResourceInfo");
        char cpu[24] = "-", mem[24] = "-";
        if (json_is_object(use)) {
            snprintf(cpu, sizeof(cpu), "%.2f", (double)jint(use, "Cpu") / 1000.0);
            snprintf(mem, sizeof(mem), "%lldMB", jint(use, "Memory"));
        }
        printf("%-20s %-12s %-5s %8lld  %-16s %-20s %6s %8s\n", cli_jstr(p, "Name"),
               cli_jstr(p, "Status"), json_is_true(json_object_get(ci, "Ready")) ? "yes" : "no",
               jint(ci, "RestartCount"), cli_jstr(p, "IP"), cli_jstr(p, "CreateTime"), cpu, mem);
    }
}

static void show_group(const json_t *g)
{
    printf("%-15s %s (%s)\n", "Group:", cli_jstr(g, "ServiceGroupId"),
           cli_jstr(g, "ServiceGroupName"));
    printf("%-15s %s, %lld of %lld versions Normal\n", "Status:", cli_jstr(g, "Status"),
           jint(g, "RunningServiceCount"), jint(g, "ServiceCount"));
    printf("%-15s %s\n",
           "Call auth:", json_is_true(json_object_get(g, "AuthorizationEnable")) ? "on" : "off");
    printf("%-15s %zu\n", "Tokens:", json_array_size(json_object_get(g, "AuthTokens")));
    printf("%-15s %s\n", "Created:", cli_jstr(g, "CreateTime"));
    printf("%-15s %s\n\n", "Updated:", cli_jstr(g, "UpdateTime"));
    cli_service_header();
    size_t i;
    const json_t *s;
    json_array_foreach(json_object_get(g, "Services"), i, s) cli_service_row(s);
}

/* ------------------------------------------------------------------------ */
/* create, update                                                           */

/* The options of create and update into request fields; only what is given. */
static int service_fields(const struct cli_args *a, json_t *p)
{
    const char *v;
    if ((v = cli_arg(a, "name")))
        json_object_set_new(p, "ServiceGroupName", json_string(v));
    if ((v = cli_arg(a, "group"))) {
        json_object_set_new(p, "ServiceGroupId", json_string(v));
        json_object_set_new(p, "NewVersion", json_true());
    }
    if ((v = cli_arg(a, "model-version")))
        json_object_set_new(p, "ModelInfo", json_pack("{s:s}", "ModelVersionId", v));
    if ((v = cli_arg(a, "command")))
        json_object_set_new(p, "Command", json_string(v));
    if ((v = cli_arg(a, "instance-type")))
        json_object_set_new(p, "InstanceType", json_string(v));
    long n;
    int got = cli_arg_long(a, "replicas", 0, 1000000, &n);
    if (got < 0)
        return CLI_USAGE;
    if (got)
        json_object_set_new(p, "Replicas", json_integer(n));
    size_t i = 0;
    while ((v = cli_arg_next(a, "env", &i))) {
        const char *eq = strchr(v, '=');
        if (!eq || eq == v)
            return cli_usage_error(a, "--env takes NAME=VALUE, got '%s'", v);
        if (!json_object_get(p, "Env"))
            json_object_set_new(p, "Env", json_array());
        json_array_append_new(
            json_object_get(p, "Env"),
            json_pack("{s:s%, s:s}", "Name", v, (size_t)(eq - v), "Value", eq + 1));
    }
    return CLI_OK;
}

/* After an action on one version: wait if asked, then print it as it is. */
static int finish(struct cli *c, const struct cli_args *a, const char *sid, json_t *resp,
                  enum cli_goal goal)
{
    double timeout_s;
    int wait = cli_wait_wanted(a, &timeout_s);
    int rc = CLI_OK;
    if (wait > 0) {
        json_t *last = NULL;
        rc = cli_wait_service(c, sid, json_object_get(resp, "Service"), goal, timeout_s, &last);
        if (rc == CLI_OK) {
            json_decref(resp);
            resp = last;
        }
    }
    if (rc == CLI_OK)
        print_service(c, resp);
    json_decref(resp);
    return rc;
}

static int service_create(struct cli *c, const struct cli_args *a)
{
    double timeout_s;
    if (cli_wait_wanted(a, &timeout_s) < 0)
        return CLI_USAGE;
    json_t *p = json_pack("{s:s, s:s, s:i}", "ChargeType", "POSTPAID_BY_HOUR", "InstanceType",
                          "TI.S.MEDIUM.POST", "Replicas", 1);
    int rc = service_fields(a, p);
    bool named = json_object_get(p, "ServiceGroupName") || json_object_get(p, "ServiceGroupId");
    bool runs = json_object_get(p, "ModelInfo") || json_object_get(p, "Command");
    if (rc == CLI_OK && (!named || !runs))
        rc = cli_usage_error(a, "give --name or --group, and --model-version or --command");
    if (rc) {
        json_decref(p);
        return rc;
    }
    json_t *resp = NULL;
    if ((rc = cli_call(c, "CreateModelService", p, &resp)))
        return rc;
    const json_t *svc = json_object_get(resp, "Service");
    char *sid = xstrdup(cli_jstr(svc, "ServiceId"));
    if (!c->json)
        printf("service %s in group %s is %s\n", sid, cli_jstr(svc, "ServiceGroupId"),
               cli_wait_wanted(a, &timeout_s) ? "created" : "being created");
    rc = finish(c, a, sid, resp, CLI_GOAL_RUNNING);
    free(sid);
    return rc;
}

/* Change what a version runs, in place (rolled out one instance at a time). */
static int service_update(struct cli *c, const struct cli_args *a)
{
    double timeout_s;
    if (cli_wait_wanted(a, &timeout_s) < 0)
        return CLI_USAGE;
    json_t *p = json_pack("{s:s}", "ServiceId", a->argv[0]);
    int rc = service_fields(a, p);
    if (rc == CLI_OK && json_object_size(p) == 1)
        rc = cli_usage_error(a, "nothing to change");
    if (rc) {
        json_decref(p);
        return rc;
    }
    /* Only a change of what runs is rolled out; --replicas alone scales. */
    bool rollout = json_object_get(p, "ModelInfo") || json_object_get(p, "Command") ||
                   json_object_get(p, "InstanceType") || json_object_get(p, "Env");
    json_t *resp = NULL;
    if ((rc = cli_call(c, "ModifyModelService", p, &resp)))
        return rc;
    return finish(c, a, a->argv[0], resp, rollout ? CLI_GOAL_ROLLOUT : CLI_GOAL_RUNNING);
}

static const struct cli_opt create_opts[] = {
    {"name", 'n', "NAME", "the name of a new service group"},
    {"group", 'g', "ms-ID", "add a version to this group instead"},
    {"model-version", 'm', "mv-ID", "serve this model version"},
    {"command", 'c', "CMD", "or run CMD (sh -c; it listens on 127.0.0.1:$PORT)"},
    {"instance-type", 't', "TYPE", "the instance type (default TI.S.MEDIUM.POST)"},
    {"replicas", 'r', "N", "the number of instances (default 1)"},
    {"env", 'e', "NAME=VALUE", "an environment variable; repeatable"},
    CLI_WAIT_OPTS,
    {NULL, 0, NULL, NULL}};

static const struct cli_cmd create_cmd = {
    "create",
    "(--name NAME | --group ms-ID) (--model-version mv-ID | --command CMD)",
    "create a service version (a new group, or a version of one)",
    NULL,
    0,
    0,
    create_opts,
    service_create,
    NULL};

static const struct cli_opt update_opts[] = {
    {"model-version", 'm', "mv-ID", "serve this model version"},
    {"command", 'c', "CMD", "run CMD instead"},
    {"instance-type", 't', "TYPE", "the instance type"},
    {"replicas", 'r', "N", "the number of instances"},
    {"env", 'e', "NAME=VALUE", "the environment (replaces it); repeatable"},
    CLI_WAIT_OPTS,
    {NULL, 0, NULL, NULL}};

static const struct cli_cmd update_cmd = {
    "update",
    "ms-ID-N",
    "change what a version runs, rolled out one instance at a time",
    "With --wait it waits until every instance runs the new spec and is ready.",
    1,
    1,
    update_opts,
    service_update,
    NULL};

/* ------------------------------------------------------------------------ */
/* weights, list, show                                                      */

/* berth service weights ms-ID ms-ID-1=W ms-ID-2=W ... */
static int service_weights(struct cli *c, const struct cli_args *a)
{
    json_t *list = json_array();
    for (int i = 1; i < a->argc; i++) {
        const char *arg = a->argv[i], *eq = strchr(arg, '=');
        char *end = NULL;
        long w = eq ? strtol(eq + 1, &end, 10) : -1;
        if (!eq || *end || end == eq + 1 || w < 0) {
            json_decref(list);
            return cli_usage_error(a, "weights take ms-ID-N=WEIGHT, got '%s'", arg);
        }
        json_array_append_new(
            list, json_pack("{s:s%, s:i}", "ServiceId", arg, (size_t)(eq - arg), "Weight", (int)w));
    }
    json_t *resp = NULL;
    int rc =
        cli_call(c, "ModifyServiceGroupWeights",
                 json_pack("{s:s, s:o}", "ServiceGroupId", a->argv[0], "Weights", list), &resp);
    if (rc == CLI_OK && c->json) {
        cli_print_json(resp);
    } else if (rc == CLI_OK) {
        size_t i;
        json_t *s;
        cli_service_header();
        json_array_foreach(json_object_get(json_object_get(resp, "ServiceGroup"), "Services"), i, s)
            cli_service_row(s);
    }
    json_decref(resp);
    return rc;
}

static const struct cli_cmd weights_cmd = {"weights",
                                           "ms-ID ms-ID-N=WEIGHT...",
                                           "split a group's traffic between its versions",
                                           NULL,
                                           2,
                                           -1,
                                           NULL,
                                           service_weights,
                                           NULL};

static int service_list(struct cli *c, const struct cli_args *a)
{
    (void)a;
    json_t *resp = NULL;
    int rc = cli_call(c, "DescribeModelServiceGroups", json_pack("{s:i}", "Limit", 100), &resp);
    if (rc)
        return rc;
    if (c->json) {
        cli_print_json(resp);
    } else {
        cli_service_header();
        size_t i, k;
        json_t *g, *s;
        json_array_foreach(json_object_get(resp, "ServiceGroups"), i, g)
            json_array_foreach(json_object_get(g, "Services"), k, s) cli_service_row(s);
    }
    json_decref(resp);
    return CLI_OK;
}

static const struct cli_cmd list_cmd = {
    "list", NULL, "list every version of every group", NULL, 0, 0, NULL, service_list, NULL};

/* "ms-xxxxxxxx" is a group, "ms-xxxxxxxx-N" a version. */
static bool is_group_id(const char *id)
{
    return strlen(id) == 11 && strncmp(id, "ms-", 3) == 0;
}

static int service_show(struct cli *c, const struct cli_args *a)
{
    const char *id = a->argv[0];
    bool group = is_group_id(id);
    json_t *resp = NULL;
    int rc = cli_call(c, group ? "DescribeModelServiceGroup" : "DescribeModelService",
                      json_pack("{s:s}", group ? "ServiceGroupId" : "ServiceId", id), &resp);
    const json_t *o = json_object_get(resp, group ? "ServiceGroup" : "Service");
    if (rc == CLI_OK && c->json)
        cli_print_json(o);
    else if (rc == CLI_OK && group)
        show_group(o);
    else if (rc == CLI_OK)
        show_version(o);
    json_decref(resp);
    return rc;
}

static const struct cli_cmd show_cmd = {
    "show",
    "ms-ID-N | ms-ID",
    "show a version and its instances, or a group and its versions",
    "With --json it prints the API's Service (or ServiceGroup) object.",
    1,
    1,
    NULL,
    service_show,
    NULL};

/* ------------------------------------------------------------------------ */
/* stop, resume, scale, delete                                              */

static int service_action(struct cli *c, const struct cli_args *a, const char *action,
                          long replicas, enum cli_goal goal)
{
    double timeout_s;
    if (cli_wait_wanted(a, &timeout_s) < 0)
        return CLI_USAGE;
    json_t *p = json_pack("{s:s, s:s}", "ServiceId", a->argv[0], "ServiceAction", action);
    if (replicas >= 0)
        json_object_set_new(p, "Replicas", json_integer(replicas));
    json_t *resp = NULL;
    int rc = cli_call(c, "ModifyModelService", p, &resp);
    if (rc)
        return rc;
    return finish(c, a, a->argv[0], resp, goal);
}

static int service_stop(struct cli *c, const struct cli_args *a)
{
    return service_action(c, a, "STOP", -1, CLI_GOAL_STOPPED);
}

static int service_resume(struct cli *c, const struct cli_args *a)
{
    return service_action(c, a, "RESUME", -1, CLI_GOAL_RUNNING);
}

static int service_scale(struct cli *c, const struct cli_args *a)
{
    char *end;
    long n = strtol(a->argv[1], &end, 10);
    if (*end || end == a->argv[1] || n < 0)
        return cli_usage_error(a, "REPLICAS must be a number >= 0, got '%s'", a->argv[1]);
    return service_action(c, a, "SCALE", n, CLI_GOAL_RUNNING);
}

static const struct cli_opt wait_opts[] = {CLI_WAIT_OPTS, {NULL, 0, NULL, NULL}};

static const struct cli_cmd stop_cmd = {"stop",
                                        "ms-ID-N",
                                        "stop a version's instances (resume brings them back)",
                                        NULL,
                                        1,
                                        1,
                                        wait_opts,
                                        service_stop,
                                        NULL};

static const struct cli_cmd resume_cmd = {
    "resume",       "ms-ID-N", "run a stopped version again", NULL, 1, 1, wait_opts,
    service_resume, NULL};

static const struct cli_cmd scale_cmd = {"scale",
                                         "ms-ID-N REPLICAS",
                                         "set the number of instances",
                                         NULL,
                                         2,
                                         2,
                                         wait_opts,
                                         service_scale,
                                         NULL};

static int service_delete(struct cli *c, const struct cli_args *a)
{
    const char *id = a->argv[0];
    bool group = is_group_id(id);
    json_t *resp = NULL;
    int rc = cli_call(c, group ? "DeleteModelServiceGroup" : "DeleteModelService",
                      json_pack("{s:s}", group ? "ServiceGroupId" : "ServiceId", id), &resp);
    if (rc == CLI_OK && !c->json)
        printf("deleted %s\n", id);
    else if (rc == CLI_OK)
        cli_print_json(resp);
    json_decref(resp);
    return rc;
}

static const struct cli_cmd delete_cmd = {"delete",
                                          "ms-ID-N | ms-ID",
                                          "delete a version, or a group with all its versions",
                                          NULL,
                                          1,
                                          1,
                                          NULL,
                                          service_delete,
                                          NULL};

/* ------------------------------------------------------------------------ */
/* autoscale                                                                */

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

static int service_autoscale(struct cli *c, const struct cli_args *a)
{
    json_t *p = json_pack("{s:s}", "ServiceId", a->argv[0]);
    json_t *jobs = json_array(), *metrics = json_array();
    long manual = -1, replicas = -1, min = -1, max = -1, up = -1, down = -1;
    bool hpa = cli_flag(a, "hpa");
    int rc = CLI_OK;
    static const char *const counts[] = {"replicas", "manual",    "min",
                                         "max",      "up-window", "down-window"};
    long *const slots[] = {&replicas, &manual, &min, &max, &up, &down};
    for (size_t k = 0; k < sizeof(counts) / sizeof(counts[0]) && rc == CLI_OK; k++)
        if (cli_arg_long(a, counts[k], 0, 1000000, slots[k]) < 0)
            rc = CLI_USAGE;
    const char *v;
    json_t *x;
    size_t i = 0;
    while (rc == CLI_OK && (v = cli_arg_next(a, "cron", &i)))
        if ((x = cron_job(v)))
            json_array_append_new(jobs, x);
        else
            rc = CLI_USAGE;
    i = 0;
    while (rc == CLI_OK && (v = cli_arg_next(a, "metric", &i)))
        if ((x = hpa_metric(v)))
            json_array_append_new(metrics, x);
        else
            rc = CLI_USAGE;
    bool cron = json_array_size(jobs) > 0;
    if (rc == CLI_OK && (int)cron + (int)hpa + (int)(manual >= 0) != 1)
        rc = cli_usage_error(a, "give --cron jobs, --hpa or --manual");
    if (rc == CLI_OK && hpa && (min < 0 || max < 0 || !json_array_size(metrics)))
        rc = cli_usage_error(a, "--hpa needs --min, --max and --metric");
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
    } else {
        json_decref(jobs);
        json_decref(metrics);
        json_object_set_new(p, "ScaleMode", json_string("MANUAL"));
        replicas = manual;
    }
    if (replicas >= 0)
        json_object_set_new(p, "Replicas", json_integer(replicas));
    json_t *resp = NULL;
    if ((rc = cli_call(c, "ModifyModelService", p, &resp)))
        return rc;
    print_service(c, resp);
    json_decref(resp);
    return CLI_OK;
}

static const struct cli_opt autoscale_opts[] = {
    {"cron", 0, "'SCHEDULE=TARGET[,name=N][,exclude=EXPR]...'",
     "a cron job: TARGET replicas from SCHEDULE on; repeatable"},
    {"replicas", 'r', "N", "with --cron: the replicas outside every job; with --hpa: to start"},
    {"hpa", 0, NULL, "scale on metrics between --min and --max"},
    {"min", 0, "N", "with --hpa: the fewest replicas"},
    {"max", 0, "N", "with --hpa: the most replicas"},
    {"metric", 0, "NAME=VALUE", "with --hpa: a target (cpu-util=60, service-qps=20); repeatable"},
    {"up-window", 0, "SECONDS", "with --hpa: the scale-up stabilization window"},
    {"down-window", 0, "SECONDS", "with --hpa: the scale-down stabilization window"},
    {"manual", 0, "N", "back to manual scaling with N replicas"},
    {NULL, 0, NULL, NULL}};

static const struct cli_cmd autoscale_cmd = {
    "autoscale",
    "ms-ID-N (--cron JOB... --replicas N | --hpa --min N --max N --metric NAME=VALUE... | "
    "--manual N)",
    "scale a version on a schedule (CRON), on metrics (HPA), or by hand",
    NULL,
    1,
    1,
    autoscale_opts,
    service_autoscale,
    NULL};

static const struct cli_cmd *const service_subs[] = {&create_cmd,
                                                     &update_cmd,
                                                     &weights_cmd,
                                                     &list_cmd,
                                                     &show_cmd,
                                                     &stop_cmd,
                                                     &resume_cmd,
                                                     &scale_cmd,
                                                     &autoscale_cmd,
                                                     &delete_cmd,
                                                     &cli_service_auth_cmd,
                                                     &cli_service_limit_cmd,
                                                     NULL};

const struct cli_cmd cli_service_cmd = {
    "service",
    NULL,
    "service groups and their versions",
    "A group (ms-ID) is what clients call; its versions (ms-ID-N) run a model version or a "
    "command\nand share its traffic by weight.",
    0,
    0,
    NULL,
    NULL,
    service_subs};

/* ------------------------------------------------------------------------ */
/* predict                                                                  */

static int predict(struct cli *c, const struct cli_args *a)
{
    const char *target = a->argv[0];
    const char *path = cli_arg(a, "path") ? cli_arg(a, "path") : "/v1/models/m:predict";
    const char *token = cli_arg(a, "token") ? cli_arg(a, "token") : getenv("BERTH_TOKEN");
    json_t *payload = cli_json_arg(a->argv[1]);
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
        size_t keep = strlen(endpoint) > strlen(group) ? strlen(endpoint) - strlen(group) : 0;
        /* The endpoint ends with the group id; a version id replaces it. */
        char *url = xasprintf("%.*s%s%s", (int)keep, endpoint, target, path);
        char *text = json_dumps(payload, JSON_COMPACT);
        rc = cli_post(url, token && *token ? token : NULL, text, strlen(text));
        free(text);
        free(url);
    }
    json_decref(resp);
    json_decref(payload);
    return rc;
}

static const struct cli_opt predict_opts[] = {
    {"path", 'p', "PATH", "the request path (default /v1/models/m:predict; /v2/models/m/infer)"},
    {"token", 't', "TOKEN", "the group's call token (default $BERTH_TOKEN)"},
    {NULL, 0, NULL, NULL}};

const struct cli_cmd cli_predict_cmd = {
    "predict",
    "ms-ID[-N] JSON | @FILE",
    "send a request through the gateway to a group (or one of its versions)",
    NULL,
    2,
    2,
    predict_opts,
    predict,
    NULL};
