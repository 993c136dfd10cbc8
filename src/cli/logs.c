/* logs.c - berth logs: what a service's instances printed, through
 * DescribeLogs, oldest first, a page of 1000 at a time by Context; with
 * --follow it keeps polling from the last line (once a second). */
#include "cli/cli.h"
#include "base/alloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LOGS_PAGE 1000
#define FOLLOW_POLL_MS 1000

static void rfc3339_ago(long long seconds, char out[40])
{
    time_t t = time(NULL) - (time_t)seconds;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 40, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void print_line(const struct cli *c, const json_t *l)
{
    if (c->json) {
        char *s = json_dumps(l, JSON_COMPACT);
        if (s)
            printf("%s\n", s);
        free(s);
        return;
    }
    printf("%s %s %s\n", cli_jstr(l, "Timestamp"), cli_jstr(l, "PodName"), cli_jstr(l, "Message"));
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int logs(struct cli *c, const struct cli_args *a)
{
    const char *target = a->argv[0], *since = cli_arg(a, "since");
    const char *version = cli_arg(a, "version"), *pod = cli_arg(a, "pod");
    const char *stream = cli_arg(a, "stream");
    bool follow = cli_flag(a, "follow");
    if (strncmp(target, "ms-", 3) != 0)
        return cli_usage_error(a, "'%s' is not a service (ms-ID or ms-ID-N)", target);
    json_t *words = json_array();
    const char *w;
    size_t wi = 0;
    while ((w = cli_arg_next(a, "grep", &wi)))
        json_array_append_new(words, json_string(w));
    /* ms-ID is a group: every version's pods are named ms-ID-N-i. */
    const char *dash = strchr(target + 3, '-');
    char prefix[128];
    snprintf(prefix, sizeof(prefix), "%s-*", target);
    json_t *base =
        json_pack("{s:s, s:s, s:i}", "Service", "INFER", "Order", "ASC", "Limit", LOGS_PAGE);
    if (version || dash)
        json_object_set_new(base, "ServiceId", json_string(version ? version : target));
    if (pod)
        json_object_set_new(base, "PodName", json_string(pod));
    else if (!dash && !version)
        json_object_set_new(base, "PodName", json_string(prefix));
    if (stream)
        json_object_set_new(base, "LogStream", json_string(stream));
    if (json_array_size(words))
        json_object_set_new(base, "Filters",
                            json_pack("[{s:s, s:O}]", "Name", "Key", "Values", words));
    json_decref(words);
    if (since) {
        long long secs = cli_duration_s(since);
        char t[40];
        if (secs >= 0)
            rfc3339_ago(secs, t);
        json_object_set_new(base, "StartTime", json_string(secs >= 0 ? t : since));
    } else if (follow) {
        char t[40];
        rfc3339_ago(3600, t); /* fixed, so that the window does not slide past lines */
        json_object_set_new(base, "StartTime", json_string(t));
    }
    char *context = NULL;
    int rc = CLI_OK;
    for (;;) {
        json_t *params = json_deep_copy(base);
        if (context)
            json_object_set_new(params, "Context", json_string(context));
        json_t *resp = NULL;
        rc = cli_call(c, "DescribeLogs", params, &resp);
        if (rc != CLI_OK)
            break;
        const json_t *content = json_object_get(resp, "Content");
        size_t i;
        const json_t *l;
        json_array_foreach(content, i, l) print_line(c, l);
        fflush(stdout);
        const char *next = cli_jstr(resp, "Context");
        if (*next) {
            free(context);
            context = xstrdup(next);
        }
        size_t n = json_array_size(content);
        json_decref(resp);
        if (n == LOGS_PAGE)
            continue;
        if (!follow)
            break;
        sleep_ms(FOLLOW_POLL_MS);
    }
    free(context);
    json_decref(base);
    return rc;
}

static const struct cli_opt logs_opts[] = {
    {"follow", 'f', NULL, "keep printing lines as they come (polls once a second)"},
    {"since", 0, "DURATION|RFC3339", "from this long ago (10m, 2h) or this time; default 1h"},
    {"grep", 'g', "WORD", "only lines with WORD; repeatable (all must match)"},
    {"version", 0, "ms-ID-N", "only this version of the group"},
    {"pod", 0, "NAME[*]", "only this instance (a trailing * matches a prefix)"},
    {"stream", 0, "stdout|stderr", "only this stream"},
    {NULL, 0, NULL, NULL}};

const struct cli_cmd cli_logs_cmd = {
    "logs",    "ms-ID[-N]", "what a group's or a version's instances printed, oldest first",
    NULL,      1,           1,
    logs_opts, logs,        NULL};
