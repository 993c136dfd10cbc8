/* wait.c - --wait: poll a service version until an action is done, printing
 * each change of its state to stderr ("ms-ID-N: Waiting, 1/2 ready"), and stop
 * early on failure: CREATE_FAILED, or Abnormal, which the control plane
 * reports as soon as an instance exits (a crash loop) or fails its probe. */
#include "cli/cli.h"
#include "base/alloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define POLL_FIRST_MS 500
#define POLL_MAX_MS 2000
#define DEFAULT_TIMEOUT_S 600
/* A failure the action's own answer already showed (an update of a
 * crash-looping version) is taken for the action's once the state moved, its
 * reason changed, or this long has passed. */
#define SETTLE_S 10.0
#define LAST_LINES 5

double cli_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void cli_poll_sleep(long *ms)
{
    struct timespec ts = {*ms / 1000, (*ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
    *ms = *ms * 3 / 2 < POLL_MAX_MS ? *ms * 3 / 2 : POLL_MAX_MS;
}

int cli_wait_wanted(const struct cli_args *a, double *timeout_s)
{
    const char *t = cli_arg(a, "timeout");
    *timeout_s = DEFAULT_TIMEOUT_S;
    if (!t)
        return cli_flag(a, "wait");
    long long s = cli_duration_s(t);
    if (s <= 0) {
        cli_usage_error(a, "--timeout takes a duration such as 90s, 10m or 1h, got '%s'", t);
        return -1;
    }
    *timeout_s = (double)s;
    return 1;
}

static bool is_failure(const char *status)
{
    return strcmp(status, "Abnormal") == 0 || strcmp(status, "CREATE_FAILED") == 0;
}

static const char *reason_of(const json_t *svc)
{
    const char *r =
        cli_jstr(json_object_get(json_object_get(svc, "ServiceInfo"), "Status"), "Reason");
    if (!*r)
        r = cli_jstr(svc, "CreateFailedReason");
    return r;
}

/* Instances started before 'since' (the spec's UpdateTime; both RFC 3339 in
 * UTC, so they compare as strings) still run the old spec. */
static int updated_pods(const json_t *pods, const char *since)
{
    int n = 0;
    size_t i;
    const json_t *p;
    json_array_foreach(pods, i, p) n += strcmp(cli_jstr(p, "CreateTime"), since) >= 0;
    return n;
}

static bool reached(const json_t *svc, enum cli_goal goal, const char *since, int *updated)
{
    const json_t *info = json_object_get(svc, "ServiceInfo");
    const json_t *st = json_object_get(info, "Status");
    const char *status = cli_jstr(svc, "Status");
    json_int_t desired = json_integer_value(json_object_get(info, "Replicas"));
    json_int_t alive = json_integer_value(json_object_get(st, "Replicas"));
    json_int_t ready = json_integer_value(json_object_get(st, "ReadyReplicas"));
    const json_t *pods = json_object_get(info, "PodInfos");
    *updated = updated_pods(pods, since);
    if (goal == CLI_GOAL_STOPPED || desired == 0)
        return strcmp(status, "Stopped") == 0;
    if (strcmp(status, "Normal") != 0 || ready < desired || alive != desired)
        return false;
    return goal != CLI_GOAL_ROLLOUT || *updated >= (int)json_array_size(pods);
}

/* The last lines the version's instances printed, to go with a failure. */
static void print_last_lines(struct cli *c, const char *service_id)
{
    json_t *resp = NULL;
    if (cli_call(c, "DescribeLogs",
                 json_pack("{s:s, s:s, s:s, s:i}", "Service", "INFER", "ServiceId", service_id,
                           "Order", "DESC", "Limit", LAST_LINES),
                 &resp) != CLI_OK)
        return;
    const json_t *lines = json_object_get(resp, "Content");
    if (json_array_size(lines))
        fprintf(stderr, "berth: the last lines of its output:\n");
    for (size_t i = json_array_size(lines); i-- > 0;) {
        const json_t *l = json_array_get(lines, i);
        fprintf(stderr, "  %s %s\n", cli_jstr(l, "PodName"), cli_jstr(l, "Message"));
    }
    json_decref(resp);
}

int cli_wait_service(struct cli *c, const char *service_id, const json_t *before,
                     enum cli_goal goal, double timeout_s, json_t **last)
{
    const char *before_status = cli_jstr(before, "Status");
    char *before_reason = xstrdup(reason_of(before));
    char *since = xstrdup(cli_jstr(before, "UpdateTime"));
    bool armed = !is_failure(before_status);
    char shown[700] = "";
    double t0 = cli_now_s();
    long poll_ms = POLL_FIRST_MS;
    int rc;
    for (;;) {
        json_t *resp = NULL;
        rc =
            cli_call(c, "DescribeModelService", json_pack("{s:s}", "ServiceId", service_id), &resp);
        if (rc)
            break;
        const json_t *svc = json_object_get(resp, "Service");
        const json_t *info = json_object_get(svc, "ServiceInfo");
        const json_t *st = json_object_get(info, "Status");
        const char *status = cli_jstr(svc, "Status"), *reason = reason_of(svc);
        int updated;
        bool done = reached(svc, goal, since, &updated);
        double elapsed = cli_now_s() - t0;
        char line[700];
        int n = snprintf(line, sizeof(line), "%s: %s, %lld/%lld ready", service_id, status,
                         (long long)json_integer_value(json_object_get(st, "ReadyReplicas")),
                         (long long)json_integer_value(json_object_get(info, "Replicas")));
        if (goal == CLI_GOAL_ROLLOUT && n > 0 && (size_t)n < sizeof(line))
            n += snprintf(line + n, sizeof(line) - (size_t)n, ", %d/%zu updated", updated,
                          json_array_size(json_object_get(info, "PodInfos")));
        if (*reason && is_failure(status) && n > 0 && (size_t)n < sizeof(line))
            snprintf(line + n, sizeof(line) - (size_t)n, ": %s", reason);
        if (strcmp(line, shown) != 0) {
            fprintf(stderr, "%s (%.1fs)\n", line, elapsed);
            snprintf(shown, sizeof(shown), "%s", line);
            poll_ms = POLL_FIRST_MS;
        }
        if (!is_failure(status))
            armed = true;
        if (done) {
            *last = resp;
            break;
        }
        if (is_failure(status) &&
            (armed || strcmp(reason, before_reason) != 0 || elapsed > SETTLE_S)) {
            fprintf(
                stderr, "berth: %s is %s: %s\nberth: see 'berth logs %s' and 'berth events %s'\n",
                service_id, status, *reason ? reason : "(no reason given)", service_id, service_id);
            json_decref(resp);
            print_last_lines(c, service_id);
            rc = CLI_FAILED;
            break;
        }
        json_decref(resp);
        if (elapsed >= timeout_s) {
            fprintf(stderr,
                    "berth: %s is not done after %.0fs (%s)\nberth: see 'berth events %s' and "
                    "'berth logs %s'\n",
                    service_id, elapsed, shown, service_id, service_id);
            rc = CLI_TIMEOUT;
            break;
        }
        double left_ms = (timeout_s - elapsed) * 1000.0;
        if (left_ms < (double)poll_ms)
            poll_ms = left_ms > 50 ? (long)left_ms : 50;
        cli_poll_sleep(&poll_ms);
    }
    free(before_reason);
    free(since);
    return rc;
}
