/* events.c - berth events: what happened to a service group or a version
 * (DescribeEvents), oldest first like kubectl get events. */
#include "cli/cli.h"
#include "base/alloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PAGE 100 /* DescribeEvents' largest Limit */

/* "--since 10m" into an RFC 3339 StartTime; anything else goes to the API as it is. */
static char *since_time(const char *v)
{
    long long secs = cli_duration_s(v);
    if (secs < 0)
        return xstrdup(v);
    time_t t = time(NULL) - (time_t)secs;
    struct tm tm;
    gmtime_r(&t, &tm);
    char out[32];
    strftime(out, sizeof(out), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return xstrdup(out);
}

static void add_filter(json_t *p, const char *name, const char *value)
{
    if (!json_object_get(p, "Filters"))
        json_object_set_new(p, "Filters", json_array());
    json_array_append_new(json_object_get(p, "Filters"),
                          json_pack("{s:s, s:[s]}", "Name", name, "Values", value));
}

/* Read the options into the request; *limit is how many events to show. */
static int read_opts(const struct cli_args *a, json_t *p, long *limit)
{
    const char *target = a->argv[0], *v;
    if ((v = cli_arg(a, "version"))) {
        char *id =
            strspn(v, "0123456789") == strlen(v) ? xasprintf("%s-%s", target, v) : xstrdup(v);
        json_object_set_new(p, "ServiceId", json_string(id));
        free(id);
    } else {
        json_object_set_new(p, "ServiceId", json_string(target));
    }
    if ((v = cli_arg(a, "since"))) {
        char *t = since_time(v);
        json_object_set_new(p, "StartTime", json_string(t));
        free(t);
    }
    if ((v = cli_arg(a, "type")))
        add_filter(p, "Type", v);
    if ((v = cli_arg(a, "kind")))
        add_filter(p, "ResourceKind", v);
    return cli_arg_long(a, "limit", 1, 100000, limit) < 0 ? CLI_USAGE : CLI_OK;
}

static void print_table(const json_t *events)
{
    printf("%-20s  %-20s  %-7s  %-36s  %5s  %s\n", "LAST SEEN", "FIRST SEEN", "TYPE", "OBJECT",
           "COUNT", "MESSAGE");
    for (size_t i = json_array_size(events); i-- > 0;) {
        const json_t *e = json_array_get(events, i);
        char object[160];
        snprintf(object, sizeof(object), "%s/%s", cli_jstr(e, "ResourceKind"),
                 cli_jstr(e, "ResourceName"));
        printf("%-20s  %-20s  %-7s  %-36s  %5lld  %s\n", cli_jstr(e, "LastTimestamp"),
               cli_jstr(e, "FirstTimestamp"), cli_jstr(e, "Type"), object,
               (long long)json_integer_value(json_object_get(e, "Count")), cli_jstr(e, "Message"));
    }
}

static int events(struct cli *c, const struct cli_args *a)
{
    json_t *p = json_pack("{s:s}", "Service", "INFER");
    long limit = PAGE;
    int rc = read_opts(a, p, &limit);
    /* Newest first, page by page, then shown oldest first. */
    json_t *all = json_array();
    json_int_t total = 0;
    for (long offset = 0; rc == CLI_OK && offset < limit; offset += PAGE) {
        json_t *q = json_deep_copy(p), *resp = NULL;
        json_object_set_new(q, "Limit",
                            json_integer(limit - offset < PAGE ? limit - offset : PAGE));
        json_object_set_new(q, "Offset", json_integer(offset));
        rc = cli_call(c, "DescribeEvents", q, &resp);
        if (rc)
            break;
        json_t *page = json_object_get(resp, "Events");
        total = json_integer_value(json_object_get(resp, "TotalCount"));
        json_array_extend(all, page);
        bool last = json_array_size(page) < PAGE || offset + PAGE >= total;
        json_decref(resp);
        if (last)
            break;
    }
    if (rc == CLI_OK && c->json) {
        json_t *out = json_pack("{s:O, s:I}", "Events", all, "TotalCount", total);
        cli_print_json(out);
        json_decref(out);
    } else if (rc == CLI_OK) {
        print_table(all);
        if ((json_int_t)json_array_size(all) < total)
            printf("(%zu of %lld events; see --limit)\n", json_array_size(all), (long long)total);
    }
    json_decref(all);
    json_decref(p);
    return rc;
}

static const struct cli_opt events_opts[] = {
    {"version", 0, "N|ms-ID-N", "only this version of the group"},
    {"since", 0, "DURATION|RFC3339", "from this long ago (30s, 10m, 2h, 1d) or this time"},
    {"type", 0, "Normal|Warning", "only events of this type"},
    {"kind", 0, "Pod|Deployment|ServiceGroup", "only events about this kind of object"},
    {"limit", 'n', "N", "show at most N events (default 100)"},
    {NULL, 0, NULL, NULL}};

const struct cli_cmd cli_events_cmd = {
    "events",    "ms-ID[-N]", "what happened to a group or a version, oldest first",
    NULL,        1,           1,
    events_opts, events,      NULL};
