/* logs.c - DescribeLogs (§3.15): the lines a region's instances printed, from
 * the log store (store/logs.h), filtered by version, pod, stream, time and
 * keywords, a page at a time. A Context is the id of the last line of the
 * previous page: ids grow with time, so paging by it returns every line of
 * the window once, in order, however many lines arrive meanwhile. */
#include "api/api.h"
#include "base/alloc.h"
#include "store/logs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LOGS_LIMIT_DEFAULT 100
#define LOGS_LIMIT_MAX 1000
#define LOGS_OFFSET_MAX 100000
#define LOGS_KEYWORDS_MAX 20
#define LOGS_WINDOW_DEFAULT_US (3600LL * 1000000)

static int digits(const char *p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        v = v * 10 + (p[i] - '0');
    }
    *out = v;
    return 0;
}

/* RFC 3339: 2022-01-11T04:14:36[.348499491](Z|+08:00), to Unix microseconds. */
static int parse_rfc3339(const char *s, int64_t *out_us)
{
    int y, mo, d, h, mi, sec;
    size_t n = strlen(s);
    if (n < 20 || digits(s, 4, &y) || s[4] != '-' || digits(s + 5, 2, &mo) || s[7] != '-' ||
        digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
        digits(s + 11, 2, &h) || s[13] != ':' || digits(s + 14, 2, &mi) || s[16] != ':' ||
        digits(s + 17, 2, &sec))
        return -1;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return -1;
    const char *p = s + 19;
    int64_t frac_us = 0;
    if (*p == '.') {
        p++;
        int k = 0;
        for (; *p >= '0' && *p <= '9'; p++, k++)
            if (k < 6)
                frac_us = frac_us * 10 + (*p - '0');
        if (k == 0)
            return -1;
        for (; k < 6; k++)
            frac_us *= 10;
    }
    int64_t offset_s = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om;
        if (digits(p + 1, 2, &oh) || p[3] != ':' || digits(p + 4, 2, &om) || oh > 23 || om > 59)
            return -1;
        offset_s = (oh * 3600 + om * 60) * (*p == '-' ? -1 : 1);
        p += 6;
    } else {
        return -1;
    }
    if (*p)
        return -1;
    struct tm tm = {.tm_year = y - 1900,
                    .tm_mon = mo - 1,
                    .tm_mday = d,
                    .tm_hour = h,
                    .tm_min = mi,
                    .tm_sec = sec > 59 ? 59 : sec};
    time_t t = timegm(&tm);
    *out_us = ((int64_t)t - offset_s) * 1000000 + frac_us;
    return 0;
}

static void format_time(int64_t us, char out[40])
{
    time_t s = (time_t)(us / 1000000);
    struct tm tm;
    gmtime_r(&s, &tm);
    size_t n = strftime(out, 40, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 40 - n, ".%06lld000Z", (long long)(us % 1000000));
}

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int read_time(struct api_call *c, const char *name, int64_t dflt, int64_t *out)
{
    const char *v;
    if (api_get_str(c, c->params, name, false, &v))
        return -1;
    *out = dflt;
    if (v && parse_rfc3339(v, out) != 0)
        return api_fail(c, "InvalidParameterValue",
                        "%s must be an RFC 3339 time such as 2022-01-11T04:14:36.348499491Z, "
                        "got '%.64s'",
                        name, v);
    return 0;
}

/* Filters: only Name "Key", whose Values must all occur in a line. */
static int read_keywords(struct api_call *c, const char **kw, size_t *nkw)
{
    static const char *const allowed[] = {"Key", NULL};
    struct api_filter fs[10];
    size_t nf;
    *nkw = 0;
    if (api_read_filters(c, allowed, fs, &nf))
        return -1;
    const json_t *filters = json_object_get(c->params, "Filters");
    for (size_t i = 0; i < nf; i++) {
        const json_t *f = json_array_get(filters, i);
        if (json_is_true(json_object_get(f, "Negative")) ||
            json_is_true(json_object_get(f, "Fuzzy")))
            return api_fail(c, "InvalidParameterValue.InvalidFilter",
                            "Filters[%zu]: Negative and Fuzzy are not supported by DescribeLogs "
                            "(a Key matches whole words)",
                            i);
        size_t k;
        const json_t *v;
        json_array_foreach(fs[i].values, k, v)
        {
            const char *s = json_string_value(v);
            bool word = false;
            for (const unsigned char *p = (const unsigned char *)s; *p; p++)
                word |= *p >= 0x80 || (*p >= '0' && *p <= '9') ||
                        ((*p | 0x20) >= 'a' && (*p | 0x20) <= 'z');
            if (!word || strlen(s) > 256)
                return api_fail(c, "InvalidParameterValue.InvalidFilter",
                                "Filters[%zu].Values[%zu] must hold a word (letters or digits), "
                                "at most 256 bytes",
                                i, k);
            if (*nkw == LOGS_KEYWORDS_MAX)
                return api_fail(c, "InvalidParameterValue.LimitExceeded",
                                "at most %d keywords in Filters", LOGS_KEYWORDS_MAX);
            kw[(*nkw)++] = s;
        }
    }
    return 0;
}

struct page {
    json_t *content;
    int64_t last_id;
};

static int add_row(void *arg, const struct store_logs_row *r)
{
    struct page *pg = arg;
    char id[24], ts[40];
    snprintf(id, sizeof(id), "%lld", (long long)r->id);
    format_time(r->time_us, ts);
    json_t *msg = json_stringn(r->text, r->len);
    json_array_append_new(pg->content, json_pack("{s:s, s:o, s:s, s:s}", "Id", id, "Message",
                                                 msg ? msg : json_string(""), "PodName", r->pod,
                                                 "Timestamp", ts));
    pg->last_id = r->id;
    return 0;
}

/* Which groups the region holds (lines are stored by group, not region). */
static int region_groups(struct api_call *c, struct store_group **groups, size_t *n,
                         const char ***ids)
{
    struct err err = {0};
    if (store_group_list(c->cfg->store, c->region, groups, n, &err) != 0)
        return api_fail_store(c, &err);
    if (*n > STORE_LOGS_MAX_GROUPS) {
        for (size_t i = 0; i < *n; i++)
            store_group_release(&(*groups)[i]);
        free(*groups);
        return api_fail(c, "LimitExceeded",
                        "the region has more than %d service groups: give ServiceId",
                        STORE_LOGS_MAX_GROUPS);
    }
    *ids = xcalloc(*n ? *n : 1, sizeof(**ids));
    for (size_t i = 0; i < *n; i++)
        (*ids)[i] = (*groups)[i].id;
    return 0;
}

int api_describe_logs(struct api_call *c)
{
    static const struct api_field fields[] = {
        {"Service", API_FIELD_USED},    {"TiProjectId", API_FIELD_IGNORED},
        {"StartTime", API_FIELD_USED},  {"EndTime", API_FIELD_USED},
        {"Limit", API_FIELD_USED},      {"ServiceId", API_FIELD_USED},
        {"PodName", API_FIELD_USED},    {"Order", API_FIELD_USED},
        {"OrderField", API_FIELD_USED}, {"Context", API_FIELD_USED},
        {"Filters", API_FIELD_USED},    {"Offset", API_FIELD_USED},
        {"LogStream", API_FIELD_USED},  {NULL, API_FIELD_USED}};
    const char *service, *service_id, *pod, *order, *order_field, *context, *stream;
    long long limit = LOGS_LIMIT_DEFAULT, offset = 0;
    if (api_check_fields(c, c->params, NULL, fields) ||
        api_get_str(c, c->params, "Service", true, &service) ||
        api_get_str(c, c->params, "ServiceId", false, &service_id) ||
        api_get_str(c, c->params, "PodName", false, &pod) ||
        api_get_str(c, c->params, "Order", false, &order) ||
        api_get_str(c, c->params, "OrderField", false, &order_field) ||
        api_get_str(c, c->params, "Context", false, &context) ||
        api_get_str(c, c->params, "LogStream", false, &stream) ||
        api_get_int(c, c->params, "Limit", false, 1, LOGS_LIMIT_MAX, &limit) ||
        api_get_int(c, c->params, "Offset", false, 0, LOGS_OFFSET_MAX, &offset))
        return -1;
    if (strcmp(service, "INFER") != 0) {
        if (strcmp(service, "TRAIN") == 0 || strcmp(service, "NOTEBOOK") == 0 ||
            strcmp(service, "BATCH") == 0)
            return api_fail(c, "UnsupportedOperation",
                            "Service '%s' is not run by Berth: only INFER (online services) "
                            "has logs",
                            service);
        return api_fail(c, "InvalidParameterValue",
                        "Service must be INFER (or TRAIN, NOTEBOOK, BATCH), got '%.64s'", service);
    }
    if (order && strcmp(order, "ASC") != 0 && strcmp(order, "DESC") != 0)
        return api_fail(c, "InvalidParameterValue", "Order must be ASC or DESC, got '%.64s'",
                        order);
    if (order_field && strcmp(order_field, "Timestamp") != 0)
        return api_fail(c, "InvalidParameterValue", "OrderField must be Timestamp, got '%.64s'",
                        order_field);
    int stream_no = 0;
    if (stream && strcmp(stream, "stdout") == 0)
        stream_no = LOGS_STDOUT;
    else if (stream && strcmp(stream, "stderr") == 0)
        stream_no = LOGS_STDERR;
    else if (stream)
        return api_fail(c, "InvalidParameterValue",
                        "LogStream must be stdout or stderr, got '%.64s'", stream);
    int64_t after = 0;
    if (context) {
        char *end;
        long long v = strtoll(context, &end, 10);
        if (*end || v <= 0 || end == context)
            return api_fail(c, "InvalidParameterValue",
                            "Context must be the Context of a previous DescribeLogs answer, got "
                            "'%.64s'",
                            context);
        if (offset > 0)
            return api_fail(c, "InvalidParameterValue",
                            "Offset and Context are two ways to page: give one");
        after = v;
    }
    char pod_buf[128] = "";
    bool pod_prefix = false;
    if (pod) {
        size_t n = strlen(pod);
        const char *star = strchr(pod, '*');
        if (n >= sizeof(pod_buf) || (star && star != pod + n - 1))
            return api_fail(c, "InvalidParameterValue",
                            "PodName must be a pod name (PodInfos[].Name), optionally ending "
                            "with one '*', got '%.64s'",
                            pod);
        memcpy(pod_buf, pod, n + 1);
        if (star) {
            pod_buf[n - 1] = '\0';
            pod_prefix = true;
        }
    }
    int64_t now = now_us(), start, end;
    if (read_time(c, "EndTime", now, &end) ||
        read_time(c, "StartTime", end - LOGS_WINDOW_DEFAULT_US, &start))
        return -1;
    if (end < start)
        return api_fail(c, "InvalidParameterValue", "EndTime must not be before StartTime");
    const char *kw[LOGS_KEYWORDS_MAX];
    size_t nkw;
    if (read_keywords(c, kw, &nkw))
        return -1;

    struct store_logs_query q = {.service_id = service_id,
                                 .pod = pod ? pod_buf : NULL,
                                 .pod_prefix = pod_prefix,
                                 .stream = stream_no,
                                 .start_us = start,
                                 .end_us = end,
                                 .keywords = kw,
                                 .nkeywords = nkw,
                                 .asc = order && strcmp(order, "ASC") == 0,
                                 .after_id = after,
                                 .limit = (size_t)limit,
                                 .offset = (size_t)offset};
    struct store_group *groups = NULL;
    size_t ngroups = 0;
    const char **ids = NULL;
    struct err err = {0};
    if (service_id) {
        /* The version must be the region's; its lines outlive nothing else. */
        struct store_service s;
        if (store_service_get(c->cfg->store, c->region, service_id, &s, &err) != 0)
            return api_fail_store(c, &err);
        store_service_release(&s);
    } else {
        if (region_groups(c, &groups, &ngroups, &ids))
            return -1;
        q.group_ids = ids;
        q.ngroups = ngroups;
    }
    struct page pg = {.content = json_array(), .last_id = 0};
    int rc = store_logs_query(c->cfg->logs_db, &q, add_row, &pg, &err);
    for (size_t i = 0; i < ngroups; i++)
        store_group_release(&groups[i]);
    free(groups);
    free(ids);
    if (rc) {
        json_decref(pg.content);
        return api_fail_store(c, &err);
    }
    /* The next page starts after the last line; with none, where this one
     * started (so a follower polls on from the same place). */
    char next[24] = "";
    if (pg.last_id > 0 || after > 0)
        snprintf(next, sizeof(next), "%lld", (long long)(pg.last_id > 0 ? pg.last_id : after));
    json_object_set_new(c->out, "Context", json_string(next));
    json_object_set_new(c->out, "Content", pg.content);
    return 0;
}
