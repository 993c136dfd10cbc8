/* events.c - DescribeEvents (reference §3.16): the events of the caller's
 * region (control/events.h), of one version with its group's own, or of a
 * whole group, in a time window, filtered, ordered and paged. */
#include "api/api.h"
#include "base/alloc.h"
#include "control/events.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define DAY_MS (24LL * 3600 * 1000)

/* Parse the digits s[0..n) into *out. */
static bool digits(const char *s, int n, int *out)
{
    *out = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        *out = *out * 10 + (s[i] - '0');
    }
    return true;
}

/* An RFC 3339 time ("2022-01-10T19:22:04+08:00", "2022-01-10T11:22:04.5Z")
 * into Unix seconds; a fraction is dropped (events are shown to the second). */
bool api_parse_time(const char *s, int64_t *out)
{
    struct tm tm = {0};
    int year, mon, day, hour, min, sec;
    if (strlen(s) < 20 || !digits(s, 4, &year) || s[4] != '-' || !digits(s + 5, 2, &mon) ||
        s[7] != '-' || !digits(s + 8, 2, &day) || (s[10] != 'T' && s[10] != 't') ||
        !digits(s + 11, 2, &hour) || s[13] != ':' || !digits(s + 14, 2, &min) || s[16] != ':' ||
        !digits(s + 17, 2, &sec))
        return false;
    if (mon < 1 || mon > 12 || day < 1 || day > 31 || hour > 23 || min > 59 || sec > 60)
        return false;
    const char *p = s + 19;
    if (*p == '.') {
        int d;
        if (!digits(++p, 1, &d))
            return false;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    int offset_s = 0;
    if ((p[0] == 'Z' || p[0] == 'z') && !p[1]) {
        offset_s = 0;
    } else if ((p[0] == '+' || p[0] == '-') && strlen(p) == 6 && p[3] == ':') {
        int oh, om;
        if (!digits(p + 1, 2, &oh) || !digits(p + 4, 2, &om) || oh > 23 || om > 59)
            return false;
        offset_s = (oh * 3600 + om * 60) * (p[0] == '-' ? -1 : 1);
    } else {
        return false;
    }
    tm.tm_year = year - 1900;
    tm.tm_mon = mon - 1;
    tm.tm_mday = day;
    tm.tm_hour = hour;
    tm.tm_min = min;
    tm.tm_sec = sec;
    *out = (int64_t)timegm(&tm) - offset_s;
    return true;
}

static void format_time(int64_t ms, char out[32])
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* StartTime and EndTime into the query: whole seconds, both ends included. */
static int read_window(struct api_call *c, struct store_event_query *q)
{
    const char *start, *end;
    if (api_get_str(c, c->params, "StartTime", false, &start) ||
        api_get_str(c, c->params, "EndTime", false, &end))
        return -1;
    /* Not time(): glibc reads a coarse clock that can trail the one events
     * are stamped with, and an event from this very millisecond would fall
     * past the window's end. */
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    int64_t now_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
    int64_t start_s, end_s = (int64_t)now.tv_sec;
    if (end && !api_parse_time(end, &end_s))
        return api_fail(c, "InvalidParameterValue",
                        "EndTime must be an RFC 3339 time such as 2022-01-10T19:22:04+08:00, "
                        "got '%s'",
                        end);
    start_s = end_s - DAY_MS / 1000;
    if (start && !api_parse_time(start, &start_s))
        return api_fail(c, "InvalidParameterValue",
                        "StartTime must be an RFC 3339 time such as 2022-01-10T19:22:04+08:00, "
                        "got '%s'",
                        start);
    if (start_s > end_s)
        return api_fail(c, "InvalidParameterValue", "StartTime '%s' is after EndTime", start);
    /* What is older than the retention is gone, even before it is pruned. */
    int64_t oldest = now_ms - CTL_EVENTS_KEEP_MS;
    q->start_ms = start_s * 1000 > oldest ? start_s * 1000 : oldest;
    q->end_ms = end ? end_s * 1000 + 999 : INT64_MAX;
    return 0;
}

/* Filters: ResourceKind and Type, several values ANDed as the reference
 * says. An event has one kind and one type, so two different values of one
 * name match nothing: *none is set. */
static int read_filters(struct api_call *c, struct store_event_query *q, bool *none)
{
    static const char *const allowed[] = {"ResourceKind", "Type", NULL};
    static const char *const types[] = {"Normal", "Warning", NULL};
    struct api_filter fs[10];
    size_t nf;
    if (api_read_filters(c, allowed, fs, &nf))
        return -1;
    const json_t *raw = json_object_get(c->params, "Filters");
    for (size_t i = 0; i < nf; i++) {
        const json_t *f = json_array_get(raw, i);
        const char *flags[] = {"Negative", "Fuzzy"};
        for (size_t k = 0; k < 2; k++)
            if (json_is_true(json_object_get(f, flags[k])))
                return api_fail(c, "UnsupportedOperation",
                                "Filters[%zu].%s: DescribeEvents matches values exactly", i,
                                flags[k]);
        bool is_kind = strcasecmp(fs[i].name, "ResourceKind") == 0;
        const char *const *known = is_kind ? ctl_event_kinds : types;
        const char **slot = is_kind ? &q->kind : &q->type;
        size_t k;
        const json_t *v;
        json_array_foreach(fs[i].values, k, v)
        {
            const char *want = json_string_value(v);
            const char *const *m = known;
            while (*m && strcmp(*m, want) != 0)
                m++;
            if (!*m)
                return api_fail(c, "InvalidParameterValue.InvalidFilter",
                                "Filters[%zu].Values[%zu] '%s' is not a %s: use %s", i, k, want,
                                is_kind ? "ResourceKind of Berth's events" : "Type",
                                is_kind ? "Pod, Deployment or ServiceGroup" : "Normal or Warning");
            if (*slot && strcmp(*slot, *m) != 0)
                *none = true;
            *slot = *m;
        }
    }
    return 0;
}

/* Whether 'q' (its scope alone) matches any event at all. */
static int scope_has_events(struct api_call *c, const struct store_event_query *q, bool *any)
{
    struct store_event_query all = {.region = q->region,
                                    .group_id = q->group_id,
                                    .service_id = q->service_id,
                                    .start_ms = 0,
                                    .end_ms = INT64_MAX,
                                    .limit = 0};
    struct store_event *rows;
    size_t n;
    uint64_t total = 0;
    struct err err = {0};
    if (store_event_list(c->cfg->store, &all, &rows, &n, &total, &err) != 0)
        return api_fail_store(c, &err);
    free(rows);
    *any = total > 0;
    return 0;
}

/* ServiceId: a version (its events and its group's own), or, as a Berth
 * extension, a group (all of them). A deleted one's events stay readable. */
static int read_scope(struct api_call *c, struct store_event_query *q, char *group, size_t size)
{
    const char *id;
    if (api_get_str(c, c->params, "ServiceId", false, &id))
        return -1;
    if (!id)
        return 0;
    struct err err = {0};
    bool exists;
    if (ctl_event_group_of(id, group, size)) {
        struct store_service s;
        q->group_id = group;
        q->service_id = id;
        exists = store_service_get(c->cfg->store, c->region, id, &s, &err) == 0;
        if (exists)
            store_service_release(&s);
    } else {
        struct store_group g;
        q->group_id = id;
        exists = store_group_get(c->cfg->store, c->region, id, &g, &err) == 0;
        if (exists)
            store_group_release(&g);
    }
    if (!exists && err.code != ERR_NOTFOUND)
        return api_fail_store(c, &err);
    if (!exists && scope_has_events(c, q, &exists))
        return -1;
    if (!exists)
        return api_fail(c, "ResourceNotFound", "ServiceId '%s': no such service, and no events",
                        id);
    return 0;
}

static json_t *event_json(const struct store_event *e)
{
    char first[32], last[32];
    format_time(e->first_ms, first);
    format_time(e->last_ms, last);
    return json_pack("{s:s, s:s, s:s, s:s, s:I, s:s, s:s, s:s}", "Id", e->id, "Message", e->message,
                     "FirstTimestamp", first, "LastTimestamp", last, "Count", (json_int_t)e->count,
                     "Type", e->type, "ResourceKind", e->kind, "ResourceName", e->name);
}

int api_describe_events(struct api_call *c)
{
    static const struct api_field fields[] = {
        {"Service", API_FIELD_USED},   {"ServiceId", API_FIELD_USED},
        {"StartTime", API_FIELD_USED}, {"EndTime", API_FIELD_USED},
        {"Limit", API_FIELD_USED},     {"Offset", API_FIELD_USED},
        {"Order", API_FIELD_USED},     {"OrderField", API_FIELD_USED},
        {"Filters", API_FIELD_USED},   {"TiProjectId", API_FIELD_IGNORED},
        {NULL, API_FIELD_USED}};
    static const char *const services[] = {"TRAIN", "NOTEBOOK", "BATCH", NULL};
    const char *service, *order, *order_field;
    long long limit = 100, offset = 0;
    struct store_event_query q = {.region = c->region};
    char group[64];
    bool none = false;
    if (api_check_fields(c, c->params, NULL, fields) ||
        api_get_str(c, c->params, "Service", true, &service))
        return -1;
    if (api_in_list(services, service) && strcmp(service, "INFER") != 0)
        return api_fail(c, "UnsupportedOperation",
                        "Service %s: Berth runs online services only (INFER)", service);
    if (strcmp(service, "INFER") != 0)
        return api_fail(c, "InvalidParameterValue",
                        "Service must be INFER (or TRAIN, NOTEBOOK, BATCH), got '%s'", service);
    if (api_get_int(c, c->params, "Limit", false, 1, 100, &limit) ||
        api_get_int(c, c->params, "Offset", false, 0, 1LL << 40, &offset) ||
        api_get_str(c, c->params, "Order", false, &order) ||
        api_get_str(c, c->params, "OrderField", false, &order_field) || read_window(c, &q) ||
        read_filters(c, &q, &none))
        return -1;
    if (order && strcmp(order, "ASC") != 0 && strcmp(order, "DESC") != 0)
        return api_fail(c, "InvalidParameterValue", "Order must be ASC or DESC, got '%s'", order);
    if (order_field && strcmp(order_field, "FirstTimestamp") != 0 &&
        strcmp(order_field, "LastTimestamp") != 0)
        return api_fail(c, "InvalidParameterValue",
                        "OrderField must be FirstTimestamp or LastTimestamp, got '%s'",
                        order_field);
    if (read_scope(c, &q, group, sizeof(group)))
        return -1;
    q.asc = order && strcmp(order, "ASC") == 0;
    q.by_first = order_field && strcmp(order_field, "FirstTimestamp") == 0;
    q.limit = (size_t)limit;
    q.offset = (size_t)offset;
    struct store_event *rows = NULL;
    size_t n = 0;
    uint64_t total = 0;
    struct err err = {0};
    if (!none && store_event_list(c->cfg->store, &q, &rows, &n, &total, &err) != 0)
        return api_fail_store(c, &err);
    json_t *list = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *e = event_json(&rows[i]);
        if (e)
            json_array_append_new(list, e);
        store_event_release(&rows[i]);
    }
    free(rows);
    json_object_set_new(c->out, "Events", list);
    json_object_set_new(c->out, "TotalCount", json_integer((json_int_t)total));
    return 0;
}
