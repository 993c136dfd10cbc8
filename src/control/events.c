/* events.c - recording events. Folding happens in the store (an UPDATE of
 * the matching row, an INSERT only for something new), so a crash loop costs
 * one small transaction per exit and its rows stay two. */
#include "control/events.h"
#include "base/alloc.h"
#include "base/buf.h"
#include "base/crypto.h"
#include "base/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ReplicaSet and HorizontalPodAutoscaler: a cluster's own events (the
 * kubernetes driver passes them on). */
const char *const ctl_event_kinds[] = {CTL_KIND_POD, CTL_KIND_VERSION,          CTL_KIND_GROUP,
                                       "ReplicaSet", "HorizontalPodAutoscaler", NULL};

const char *ctl_event_type_name(enum ctl_event_type t)
{
    return t == CTL_EVENT_WARNING ? "Warning" : "Normal";
}

bool ctl_event_group_of(const char *service_id, char *out, size_t size)
{
    const char *dash = strrchr(service_id, '-');
    if (!dash || dash == service_id || !dash[1] || strncmp(service_id, "ms-", 3) != 0 ||
        dash - service_id <= 3 || (size_t)(dash - service_id) >= size)
        return false;
    for (const char *p = dash + 1; *p; p++)
        if (*p < '0' || *p > '9')
            return false;
    memcpy(out, service_id, (size_t)(dash - service_id));
    out[dash - service_id] = '\0';
    return true;
}

/* The length of the valid UTF-8 sequence at p (strict: no overlongs,
 * surrogates or code points past U+10FFFF), or 0. */
static size_t utf8_seq(const unsigned char *p)
{
    if (p[0] < 0x80)
        return 1;
    size_t n = p[0] >= 0xC2 && p[0] <= 0xDF   ? 2
               : (p[0] & 0xF0) == 0xE0        ? 3
               : p[0] >= 0xF0 && p[0] <= 0xF4 ? 4
                                              : 0;
    for (size_t i = 1; i < n; i++)
        if ((p[i] & 0xC0) != 0x80)
            return 0;
    if ((n == 3 && ((p[0] == 0xE0 && p[1] < 0xA0) || (p[0] == 0xED && p[1] >= 0xA0))) ||
        (n == 4 && ((p[0] == 0xF0 && p[1] < 0x90) || (p[0] == 0xF4 && p[1] >= 0x90))))
        return 0;
    return n;
}

/* Messages go out as JSON strings: bytes that are not UTF-8 become '?'. */
static char *utf8_clean(const char *s)
{
    char *out = xstrdup(s);
    for (unsigned char *p = (unsigned char *)out; *p;) {
        size_t n = utf8_seq(p);
        if (n == 0)
            *p++ = '?';
        else
            p += n;
    }
    return out;
}

int ctl_event_record_at(struct store *st, const struct ctl_event *ev, int64_t now_ms,
                        struct err *err)
{
    char group[64];
    const char *group_id = ev->group_id;
    if (!group_id && ev->service_id && ctl_event_group_of(ev->service_id, group, sizeof(group)))
        group_id = group;
    if (!ev->region || !*ev->region || !group_id || !*group_id || !ev->kind || !ev->name ||
        !*ev->name || !ev->reason || !*ev->reason || !ev->message || !*ev->message)
        return err_set(err, ERR_INVALID,
                       "an event needs a region, an object, a reason and a "
                       "message");
    char id[37];
    crypto_uuid(id);
    struct store_event row = {.id = id,
                              .region = (char *)ev->region,
                              .group_id = (char *)group_id,
                              .service_id = (char *)(ev->service_id ? ev->service_id : ""),
                              .kind = (char *)ev->kind,
                              .name = (char *)ev->name,
                              .type = (char *)ctl_event_type_name(ev->type),
                              .reason = (char *)ev->reason,
                              .message = utf8_clean(ev->message),
                              .fold_reason = (ev->flags & CTL_EVENT_FOLD_REASON) != 0};
    int rc = store_event_record(st, &row, now_ms, CTL_EVENTS_KEEP_MS, CTL_EVENTS_PER_OBJECT, err);
    free(row.message);
    return rc;
}

int ctl_event_record(struct store *st, const struct ctl_event *ev, struct err *err)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ctl_event_record_at(st, ev, (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, err);
}

/* Record an event with a formatted message; failures are logged. */
static void emit(struct store *st, struct ctl_event ev, const char *fmt, va_list ap)
{
    char msg[1024];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    ev.message = msg;
    struct err err = {0};
    if (ctl_event_record(st, &ev, &err) != 0)
        log_warn("events", "cannot record event %s of %s %s: %s", ev.reason, ev.kind, ev.name,
                 err.msg);
}

void ctl_event_pod(struct store *st, const char *region, const char *service_id, int index,
                   enum ctl_event_type type, const char *reason, unsigned flags, const char *fmt,
                   ...)
{
    char name[128];
    snprintf(name, sizeof(name), "%s-%d", service_id, index);
    va_list ap;
    va_start(ap, fmt);
    emit(
        st,
        (struct ctl_event){region, service_id, NULL, CTL_KIND_POD, name, type, reason, NULL, flags},
        fmt, ap);
    va_end(ap);
}

void ctl_event_version(struct store *st, const char *region, const char *service_id,
                       enum ctl_event_type type, const char *reason, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    emit(st,
         (struct ctl_event){region, service_id, NULL, CTL_KIND_VERSION, service_id, type, reason,
                            NULL, 0},
         fmt, ap);
    va_end(ap);
}

void ctl_event_group(struct store *st, const char *region, const char *group_id,
                     enum ctl_event_type type, const char *reason, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    emit(
        st,
        (struct ctl_event){region, NULL, group_id, CTL_KIND_GROUP, group_id, type, reason, NULL, 0},
        fmt, ap);
    va_end(ap);
}

void ctl_event_weights(struct store *st, const char *region, const char *group_id,
                       const struct store_service *before, size_t n, const int *after)
{
    struct buf b;
    buf_init(&b, 900);
    for (size_t i = 0; i < n; i++)
        if (before[i].weight != after[i])
            buf_printf(&b, "%s%s %d -> %d", b.len ? ", " : "", before[i].id, before[i].weight,
                       after[i]);
    if (b.len)
        ctl_event_group(st, region, group_id, CTL_EVENT_NORMAL, "WeightsChanged",
                        "Traffic weights changed: %s", b.ptr);
    buf_release(&b);
}
