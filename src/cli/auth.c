/* auth.c - berth service auth | limit, and berth token create | list |
 * update | reset | delete: a group's call authentication, its tokens and a
 * version's limits. */
#include "cli/cli.h"
#include "base/alloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "N" (a count >= 0) or "off" into *n (-1 for off); false after a message. */
static bool count_or_off(const char *opt, const char *v, long long *n)
{
    if (strcmp(v, "off") == 0) {
        *n = -1;
        return true;
    }
    char *end;
    *n = strtoll(v, &end, 10);
    if (*v && !*end && *n >= 0)
        return true;
    fprintf(stderr, "berth: %s takes a number >= 0 or off, got '%s'\n", opt, v);
    return false;
}

static int service_auth(struct cli *c, const struct cli_args *a)
{
    char **argv = a->argv;
    if (strcmp(argv[1], "on") && strcmp(argv[1], "off"))
        return cli_usage_error(a, "say on or off, not '%s'", argv[1]);
    bool on = strcmp(argv[1], "on") == 0;
    json_t *resp = NULL;
    int rc = cli_call(c, "ModifyModelServiceAuthorization",
                      json_pack("{s:s, s:b}", "ServiceGroupId", argv[0], "AuthorizationEnable", on),
                      &resp);
    json_decref(resp);
    if (rc)
        return rc;
    rc = cli_call(c, "DescribeModelServiceCallInfo", json_pack("{s:s}", "ServiceGroupId", argv[0]),
                  &resp);
    if (rc == CLI_OK && c->json) {
        cli_print_json(resp);
    } else if (rc == CLI_OK) {
        const json_t *v2 = json_object_get(resp, "ServiceCallInfoV2");
        printf("call authentication of %s is %s\n", argv[0], on ? "on" : "off");
        if (on && *cli_jstr(v2, "AuthToken"))
            printf("token: %s\n(send it as 'Authorization: Bearer <token>'; berth token list %s "
                   "shows them all)\n",
                   cli_jstr(v2, "AuthToken"), argv[0]);
    }
    json_decref(resp);
    return rc;
}

const struct cli_cmd cli_service_auth_cmd = {
    "auth",
    "ms-ID on|off",
    "turn a group's call authentication on or off",
    "When on, callers send 'Authorization: Bearer TOKEN' (berth token ...).",
    2,
    2,
    NULL,
    service_auth,
    NULL};

static int service_limit(struct cli *c, const struct cli_args *a)
{
    char **argv = a->argv;
    const char *rps_v = cli_arg(a, "rps"), *conc_v = cli_arg(a, "concurrency");
    long long rps_n = 0, conc_n = 0;
    if (!rps_v && !conc_v)
        return cli_usage_error(a, "give --rps or --concurrency");
    if ((rps_v && !count_or_off("--rps", rps_v, &rps_n)) ||
        (conc_v && !count_or_off("--concurrency", conc_v, &conc_n)))
        return CLI_USAGE;
    /* Start from what the version has, so that one limit changes alone. */
    json_t *resp = NULL;
    int rc = cli_call(c, "DescribeModelService", json_pack("{s:s}", "ServiceId", argv[0]), &resp);
    if (rc)
        return rc;
    const json_t *cur = json_object_get(
        json_object_get(json_object_get(resp, "Service"), "ServiceInfo"), "ServiceLimit");
    json_t *lim =
        json_is_object(cur)
            ? json_deep_copy(cur)
            : json_pack("{s:b, s:i, s:b, s:i}", "EnableInstanceRpsLimit", 0, "InstanceRpsLimit", 0,
                        "EnableInstanceReqLimit", 0, "InstanceReqLimit", 0);
    json_decref(resp);
    for (int i = 0; i < 2; i++) {
        bool rps = i == 0;
        long long n = rps ? rps_n : conc_n;
        if (!(rps ? rps_v : conc_v))
            continue;
        json_object_set_new(lim, rps ? "EnableInstanceRpsLimit" : "EnableInstanceReqLimit",
                            json_boolean(n >= 0));
        if (n >= 0)
            json_object_set_new(lim, rps ? "InstanceRpsLimit" : "InstanceReqLimit",
                                json_integer(n));
    }
    rc = cli_call(c, "ModifyModelService",
                  json_pack("{s:s, s:o}", "ServiceId", argv[0], "ServiceLimit", lim), &resp);
    if (rc == CLI_OK && c->json) {
        cli_print_json(resp);
    } else if (rc == CLI_OK) {
        const json_t *l = json_object_get(
            json_object_get(json_object_get(resp, "Service"), "ServiceInfo"), "ServiceLimit");
        printf("%s: ", argv[0]);
        if (json_is_true(json_object_get(l, "EnableInstanceRpsLimit")))
            printf("%lld requests/s",
                   (long long)json_integer_value(json_object_get(l, "InstanceRpsLimit")));
        else
            printf("no rate limit");
        if (json_is_true(json_object_get(l, "EnableInstanceReqLimit")))
            printf(", %lld in flight",
                   (long long)json_integer_value(json_object_get(l, "InstanceReqLimit")));
        else
            printf(", no concurrency limit");
        printf(" per ready instance\n");
    }
    json_decref(resp);
    return rc;
}

static const struct cli_opt limit_opts[] = {
    {"rps", 0, "N|off", "requests per second per ready instance"},
    {"concurrency", 0, "N|off", "requests in flight per ready instance"},
    {NULL, 0, NULL, NULL}};

const struct cli_cmd cli_service_limit_cmd = {
    "limit",
    "ms-ID-N (--rps N|off | --concurrency N|off)",
    "limit a version's requests per instance (ServiceLimit)",
    NULL,
    1,
    1,
    limit_opts,
    service_limit,
    NULL};

/* The group's tokens (a new reference), or NULL after an error. */
static json_t *tokens_of(struct cli *c, const char *gid, int *rc)
{
    json_t *resp = NULL;
    *rc =
        cli_call(c, "DescribeModelServiceGroup", json_pack("{s:s}", "ServiceGroupId", gid), &resp);
    if (*rc)
        return NULL;
    json_t *t = json_object_get(json_object_get(resp, "ServiceGroup"), "AuthTokens");
    json_incref(t);
    json_decref(resp);
    return t;
}

static const json_t *find_token(const json_t *tokens, const char *value)
{
    size_t i;
    const json_t *t;
    json_array_foreach(tokens, i, t) if (strcmp(cli_jstr(json_object_get(t, "Base"), "Value"),
                                                value) == 0) return t;
    return NULL;
}

static void print_limits(const json_t *limits)
{
    size_t i;
    const json_t *l;
    if (!json_array_size(limits))
        printf("-");
    json_array_foreach(limits, i, l)
        printf("%s%lld/%s", i ? "," : "", (long long)json_integer_value(json_object_get(l, "Max")),
               strcmp(cli_jstr(l, "Strategy"), "PerDay") == 0 ? "day" : "min");
}

static void print_token(const json_t *t)
{
    const json_t *b = json_object_get(t, "Base");
    printf("%-34s %-16s %-20s ", cli_jstr(b, "Value"), cli_jstr(b, "Name"),
           cli_jstr(b, "CreateTime"));
    print_limits(json_object_get(t, "Limits"));
    printf("\n");
}

/* --name, --description, --per-minute, --per-day into a token ('t', its
 * Base and Limits); false after a message. */
static bool token_opts(const struct cli_args *a, json_t *t, bool *limits_given)
{
    json_t *base = json_object_get(t, "Base");
    json_t *limits = json_object_get(t, "Limits");
    const char *v;
    if ((v = cli_arg(a, "name")))
        json_object_set_new(base, "Name", json_string(v));
    if ((v = cli_arg(a, "description")))
        json_object_set_new(base, "Description", json_string(v));
    static const char *const opts[] = {"per-minute", "per-day"};
    static const char *const strategies[] = {"PerMinute", "PerDay"};
    for (int i = 0; i < 2; i++) {
        if (!(v = cli_arg(a, opts[i])))
            continue;
        long long n;
        if (!count_or_off(i ? "--per-day" : "--per-minute", v, &n))
            return false;
        for (size_t k = 0; k < json_array_size(limits); k++)
            if (strcmp(cli_jstr(json_array_get(limits, k), "Strategy"), strategies[i]) == 0)
                json_array_remove(limits, k--);
        if (n > 0)
            json_array_append_new(limits,
                                  json_pack("{s:s, s:I}", "Strategy", strategies[i], "Max", n));
        *limits_given = true;
    }
    return true;
}

static int token_modify(struct cli *c, const char *gid, json_t *t, bool reset)
{
    json_t *resp = NULL;
    int rc = cli_call(
        c, "ModifyModelServiceAuthToken",
        json_pack("{s:s, s:b, s:O}", "ServiceGroupId", gid, "NeedReset", reset, "AuthToken", t),
        &resp);
    json_decref(resp);
    return rc;
}

static int token_create(struct cli *c, const struct cli_args *a)
{
    const char *gid = a->argv[0];
    json_t *t = json_pack("{s:{}, s:[]}", "Base", "Limits");
    bool limits = false;
    if (!token_opts(a, t, &limits)) {
        json_decref(t);
        return CLI_USAGE;
    }
    const json_t *b = json_object_get(t, "Base");
    json_t *p = json_pack("{s:s}", "ServiceGroupId", gid);
    if (*cli_jstr(b, "Name"))
        json_object_set(p, "Name", json_object_get(b, "Name"));
    if (*cli_jstr(b, "Description"))
        json_object_set(p, "Description", json_object_get(b, "Description"));
    json_t *resp = NULL;
    int rc = cli_call(c, "CreateModelServiceAuthToken", p, &resp);
    json_decref(resp);
    json_t *all = rc ? NULL : tokens_of(c, gid, &rc);
    /* The answer has no token: the newest of the group is the one made. */
    json_t *made = json_array_get(all, json_array_size(all) - 1);
    if (rc == CLI_OK && made && limits) {
        json_object_set(made, "Limits", json_object_get(t, "Limits"));
        rc = token_modify(c, gid, made, false);
    }
    if (rc == CLI_OK && made) {
        if (c->json)
            cli_print_json(made);
        else
            print_token(made);
    }
    json_decref(all);
    json_decref(t);
    return rc;
}

static int token_list(struct cli *c, const struct cli_args *a)
{
    int rc;
    json_t *all = tokens_of(c, a->argv[0], &rc);
    if (rc == CLI_OK && c->json) {
        cli_print_json(all);
    } else if (rc == CLI_OK) {
        printf("%-34s %-16s %-20s %s\n", "TOKEN", "NAME", "CREATED", "LIMITS");
        size_t i;
        const json_t *t;
        json_array_foreach(all, i, t) print_token(t);
    }
    json_decref(all);
    return rc;
}

static int token_delete(struct cli *c, const struct cli_args *a)
{
    json_t *resp = NULL;
    int rc = cli_call(
        c, "DeleteModelServiceAuthToken",
        json_pack("{s:s, s:s}", "ServiceGroupId", a->argv[0], "AuthTokenValue", a->argv[1]), &resp);
    if (rc == CLI_OK && c->json)
        cli_print_json(resp);
    else if (rc == CLI_OK)
        printf("deleted the token\n");
    json_decref(resp);
    return rc;
}

static int token_reset(struct cli *c, const struct cli_args *a)
{
    const char *gid = a->argv[0];
    int rc;
    json_t *t = json_pack("{s:{s:s}}", "Base", "Value", a->argv[1]);
    json_t *before = tokens_of(c, gid, &rc);
    if (rc == CLI_OK)
        rc = token_modify(c, gid, t, true);
    json_decref(t);
    json_t *after = rc ? NULL : tokens_of(c, gid, &rc);
    /* The reset token is the one whose id was not there before. */
    const json_t *fresh = NULL;
    size_t i, k;
    const json_t *n, *o;
    json_array_foreach(after, i, n)
    {
        bool seen = false;
        json_array_foreach(before, k, o) seen |=
            strcmp(cli_jstr(json_object_get(n, "Base"), "Id"),
                   cli_jstr(json_object_get(o, "Base"), "Id")) == 0;
        if (!seen && !fresh)
            fresh = n;
    }
    if (rc == CLI_OK && fresh && c->json)
        cli_print_json(fresh);
    else if (rc == CLI_OK && fresh)
        print_token(fresh);
    json_decref(before);
    json_decref(after);
    return rc;
}

static int token_update(struct cli *c, const struct cli_args *a)
{
    const char *gid = a->argv[0], *value = a->argv[1];
    int rc;
    json_t *all = tokens_of(c, gid, &rc);
    const json_t *found = rc ? NULL : find_token(all, value);
    if (rc == CLI_OK && !found) {
        fprintf(stderr, "berth: %s has no such token\n", gid);
        rc = CLI_API_ERROR;
    }
    json_t *t = found ? json_deep_copy(found) : NULL;
    bool limits = false;
    if (t && !token_opts(a, t, &limits))
        rc = CLI_USAGE;
    if (rc == CLI_OK)
        rc = token_modify(c, gid, t, false);
    json_decref(all);
    json_t *again = rc ? NULL : tokens_of(c, gid, &rc);
    const json_t *now = again ? find_token(again, value) : NULL;
    if (rc == CLI_OK && now)
        c->json ? cli_print_json(now) : print_token(now);
    json_decref(again);
    json_decref(t);
    return rc;
}

static const struct cli_opt token_opts_table[] = {
    {"name", 'n', "NAME", "the token's name"},
    {"description", 'd', "TEXT", "what it is for"},
    {"per-minute", 0, "N|off", "a quota of calls per minute"},
    {"per-day", 0, "N|off", "a quota of calls per day"},
    {NULL, 0, NULL, NULL}};

static const struct cli_cmd token_create_cmd = {
    "create",     "ms-ID", "make a call token for a group", NULL, 1, 1, token_opts_table,
    token_create, NULL};
static const struct cli_cmd token_list_cmd = {
    "list", "ms-ID", "list a group's tokens", NULL, 1, 1, NULL, token_list, NULL};
static const struct cli_cmd token_update_cmd = {"update",
                                                "ms-ID TOKEN",
                                                "rename a token or change its quotas",
                                                NULL,
                                                2,
                                                2,
                                                token_opts_table,
                                                token_update,
                                                NULL};
static const struct cli_cmd token_reset_cmd = {
    "reset",
    "ms-ID TOKEN",
    "replace a token's value (the old one stops working)",
    NULL,
    2,
    2,
    NULL,
    token_reset,
    NULL};
static const struct cli_cmd token_delete_cmd = {"delete", "ms-ID TOKEN", "delete a token", NULL, 2,
                                                2,        NULL,          token_delete,     NULL};

static const struct cli_cmd *const token_subs[] = {&token_create_cmd, &token_list_cmd,
                                                   &token_update_cmd, &token_reset_cmd,
                                                   &token_delete_cmd, NULL};

const struct cli_cmd cli_token_cmd = {
    "token", NULL, "a group's call tokens and their quotas", NULL, 0, 0, NULL, NULL, token_subs};
