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

static void logs_usage(void)
{
    fprintf(stderr,
            "usage: berth logs ms-ID[-N] [--follow] [--since DURATION|RFC3339] "
            "[--grep WORD]... [--version ms-ID-N] [--pod NAME[*]] [--stream stdout|stderr]\n"
            "  DURATION: a number with s, m, h or d (e.g. 10m); default: the last hour\n");
}

/* "10m" -> seconds; -1 when not a duration. */
static long long parse_duration(const char *s)
{
    char *end;
    long long v = strtoll(s, &end, 10);
    if (end == s || v < 0 || end[0] == '\0' || end[1] != '\0')
        return -1;
    switch (*end) {
    case 's':
        return v;
    case 'm':
        return v * 60;
    case 'h':
        return v * 3600;
    case 'd':
        return v * 86400;
    default:
        return -1;
    }
}

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

int cli_logs(struct cli *c, int argc, char **argv)
{
    if (argc < 1 || strncmp(argv[0], "ms-", 3) != 0) {
        logs_usage();
        return CLI_USAGE;
    }
    const char *target = argv[0], *since = NULL, *version = NULL, *pod = NULL, *stream = NULL;
    bool follow = false;
    json_t *words = json_array();
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--follow") == 0 || strcmp(a, "-f") == 0) {
            follow = true;
            continue;
        }
        if (i + 1 >= argc) {
            logs_usage();
            json_decref(words);
            return CLI_USAGE;
        }
        const char *v = argv[++i];
        if (strcmp(a, "--since") == 0)
            since = v;
        else if (strcmp(a, "--grep") == 0)
            json_array_append_new(words, json_string(v));
        else if (strcmp(a, "--version") == 0)
            version = v;
        else if (strcmp(a, "--pod") == 0)
            pod = v;
        else if (strcmp(a, "--stream") == 0)
            stream = v;
        else {
            logs_usage();
            json_decref(words);
            return CLI_USAGE;
        }
    }
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
        long long secs = parse_duration(since);
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
