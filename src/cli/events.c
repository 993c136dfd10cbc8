/* events.c - berth events: what happened to a service group or a version
 * (DescribeEvents), oldest first like kubectl get events. */
#include "cli/cli.h"
#include "base/alloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PAGE 100 /* DescribeEvents' largest Limit */

static const char events_usage[] =
    "usage: berth events ms-ID[-N] [--version N | ms-ID-N] [--since 30s|10m|2h|1d|RFC3339]\n"
    "                    [--type Normal|Warning] [--kind Pod|Deployment|ServiceGroup] [--limit "
    "N]\n";

/* "--since 10m" into an RFC 3339 StartTime; anything else goes to the API as it is. */
static char *since_time(const char *v)
{
    char *end;
    long n = strtol(v, &end, 10);
    long unit = !strcmp(end, "s")   ? 1
                : !strcmp(end, "m") ? 60
                : !strcmp(end, "h") ? 3600
                : !strcmp(end, "d") ? 86400
                                    : 0;
    if (end == v || n < 0 || unit == 0)
        return xstrdup(v);
    time_t t = time(NULL) - (time_t)(n * unit);
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
static int read_opts(int argc, char **argv, json_t *p, long *limit)
{
    const char *target = argv[0];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (i + 1 >= argc) {
            fprintf(stderr, "berth: events: %s needs a value\n", a);
            return CLI_USAGE;
        }
        const char *v = argv[++i];
        if (strcmp(a, "--version") == 0) {
            char *id =
                strspn(v, "0123456789") == strlen(v) ? xasprintf("%s-%s", argv[0], v) : xstrdup(v);
            json_object_set_new(p, "ServiceId", json_string(id));
            free(id);
            target = NULL;
        } else if (strcmp(a, "--since") == 0) {
            char *t = since_time(v);
            json_object_set_new(p, "StartTime", json_string(t));
            free(t);
        } else if (strcmp(a, "--type") == 0) {
            add_filter(p, "Type", v);
        } else if (strcmp(a, "--kind") == 0) {
            add_filter(p, "ResourceKind", v);
        } else if (strcmp(a, "--limit") == 0) {
            char *end;
            *limit = strtol(v, &end, 10);
            if (*end || end == v || *limit < 1 || *limit > 100000) {
                fprintf(stderr, "berth: events: --limit must be 1 to 100000, got '%s'\n", v);
                return CLI_USAGE;
            }
        } else {
            fprintf(stderr, "berth: events: unknown option '%s'\n%s", a, events_usage);
            return CLI_USAGE;
        }
    }
    if (target)
        json_object_set_new(p, "ServiceId", json_string(target));
    return CLI_OK;
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

int cli_events(struct cli *c, int argc, char **argv)
{
    if (argc < 1 || argv[0][0] == '-') {
        fputs(events_usage, stderr);
        return CLI_USAGE;
    }
    json_t *p = json_pack("{s:s}", "Service", "INFER");
    long limit = PAGE;
    int rc = read_opts(argc, argv, p, &limit);
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
