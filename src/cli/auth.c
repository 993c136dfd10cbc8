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

int cli_service_auth(struct cli *c, int argc, char **argv)
{
    if (argc != 2 || (strcmp(argv[1], "on") && strcmp(argv[1], "off"))) {
        fprintf(stderr, "usage: berth service auth ms-ID on|off\n");
        return CLI_USAGE;
    }
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

int cli_service_limit(struct cli *c, int argc, char **argv)
{
    if (argc < 3 || argc % 2 == 0) {
        fprintf(stderr, "usage: berth service limit ms-ID-N [--rps N|off] [--concurrency N|off]\n");
        return CLI_USAGE;
    }
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
    for (int i = 1; i + 1 < argc; i += 2) {
        long long n;
        bool rps = strcmp(argv[i], "--rps") == 0;
        if (!rps && strcmp(argv[i], "--concurrency") != 0) {
            fprintf(stderr, "berth: service limit: unknown option '%s'\n", argv[i]);
            json_decref(lim);
            return CLI_USAGE;
        }
        if (!count_or_off(argv[i], argv[i + 1], &n)) {
            json_decref(lim);
            return CLI_USAGE;
        }
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
static bool token_opts(int argc, char **argv, json_t *t, bool *limits_given)
{
    json_t *base = json_object_get(t, "Base");
    json_t *limits = json_object_get(t, "Limits");
    for (int i = 0; i < argc; i += 2) {
        if (i + 1 >= argc) {
            fprintf(stderr, "berth: %s needs a value\n", argv[i]);
            return false;
        }
        const char *a = argv[i], *v = argv[i + 1];
        if (strcmp(a, "--name") == 0) {
            json_object_set_new(base, "Name", json_string(v));
        } else if (strcmp(a, "--description") == 0) {
            json_object_set_new(base, "Description", json_string(v));
        } else if (strcmp(a, "--per-minute") == 0 || strcmp(a, "--per-day") == 0) {
            const char *strategy = a[6] == 'm' ? "PerMinute" : "PerDay";
            long long n;
            if (!count_or_off(a, v, &n))
                return false;
            for (size_t k = 0; k < json_array_size(limits); k++)
                if (strcmp(cli_jstr(json_array_get(limits, k), "Strategy"), strategy) == 0)
                    json_array_remove(limits, k--);
            if (n > 0)
                json_array_append_new(limits,
                                      json_pack("{s:s, s:I}", "Strategy", strategy, "Max", n));
            *limits_given = true;
        } else {
            fprintf(stderr, "berth: token: unknown option '%s'\n", a);
            return false;
        }
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

int cli_token(struct cli *c, int argc, char **argv)
{
    const char *sub = argc >= 2 ? argv[0] : "";
    const char *gid = argc >= 2 ? argv[1] : "";
    int rc;
    if (strcmp(sub, "create") == 0) {
        json_t *t = json_pack("{s:{}, s:[]}", "Base", "Limits");
        bool limits = false;
        if (!token_opts(argc - 2, argv + 2, t, &limits)) {
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
        rc = cli_call(c, "CreateModelServiceAuthToken", p, &resp);
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
    if (strcmp(sub, "list") == 0 && argc == 2) {
        json_t *all = tokens_of(c, gid, &rc);
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
    bool reset = strcmp(sub, "reset") == 0, update = strcmp(sub, "update") == 0;
    if ((reset || strcmp(sub, "delete") == 0) && argc == 3) {
        json_t *resp = NULL;
        if (!reset) {
            rc = cli_call(c, "DeleteModelServiceAuthToken",
                          json_pack("{s:s, s:s}", "ServiceGroupId", gid, "AuthTokenValue", argv[2]),
                          &resp);
            json_decref(resp);
            if (rc == CLI_OK && !c->json)
                printf("deleted the token\n");
            return rc;
        }
        json_t *t = json_pack("{s:{s:s}}", "Base", "Value", argv[2]);
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
    if (update && argc >= 3) {
        json_t *all = tokens_of(c, gid, &rc);
        const json_t *found = rc ? NULL : find_token(all, argv[2]);
        if (rc == CLI_OK && !found) {
            fprintf(stderr, "berth: %s has no such token\n", gid);
            rc = CLI_API_ERROR;
        }
        json_t *t = found ? json_deep_copy(found) : NULL;
        bool limits = false;
        if (t && !token_opts(argc - 3, argv + 3, t, &limits))
            rc = CLI_USAGE;
        if (rc == CLI_OK)
            rc = token_modify(c, gid, t, false);
        json_decref(all);
        json_t *again = rc ? NULL : tokens_of(c, gid, &rc);
        const json_t *now = again ? find_token(again, argv[2]) : NULL;
        if (rc == CLI_OK && now)
            c->json ? cli_print_json(now) : print_token(now);
        json_decref(again);
        json_decref(t);
        return rc;
    }
    fprintf(stderr, "usage: berth token create|list|update|reset|delete ms-ID [TOKEN] ... (see "
                    "berth --help)\n");
    return CLI_USAGE;
}
