/* events.h - what happened to services and their instances, recorded as
 * Kubernetes-style events (TI-ONE's Event, reference §4.8) in the store for
 * DescribeEvents. Written by the reconciler (instances, rollouts) and the API
 * (what a caller changed); the autoscaler and billing use the same call.
 * Repeats fold into one row with a count and first/last times; the table is
 * bounded in age and per object. Any thread (the store serialises). */
#ifndef BERTH_CONTROL_EVENTS_H
#define BERTH_CONTROL_EVENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "store/store.h"

#define CTL_EVENTS_KEEP_MS (24LL * 3600 * 1000) /* rows last seen longer ago go */
#define CTL_EVENTS_PER_OBJECT 500               /* rows kept per version, and per group's own */

/* ResourceKind values, in TI-ONE's (Kubernetes') terms. */
#define CTL_KIND_POD "Pod"            /* an instance; the name is PodInfos[].Name */
#define CTL_KIND_VERSION "Deployment" /* a version (ServiceId) */
#define CTL_KIND_GROUP "ServiceGroup" /* a service group (ServiceGroupId) */
/* Every kind recorded, NULL-terminated (what DescribeEvents' filter accepts). */
extern const char *const ctl_event_kinds[];

enum ctl_event_type { CTL_EVENT_NORMAL, CTL_EVENT_WARNING };

enum ctl_event_flags {
    /* Fold repeats on the reason alone and keep the newest message: for
     * messages that carry a detail that changes (a back-off delay, a port),
     * as Kubernetes combines similar events. */
    CTL_EVENT_FOLD_REASON = 1 << 0,
};

struct ctl_event {
    const char *region;
    const char *service_id; /* the version it concerns; NULL for a group's own event */
    const char *group_id;   /* NULL: the group of service_id */
    const char *kind;       /* ResourceKind (CTL_KIND_*) */
    const char *name;       /* ResourceName */
    enum ctl_event_type type;
    const char *reason;  /* CamelCase, Kubernetes style: Started, BackOff, Scaled... */
    const char *message; /* a sentence for people; not empty */
    unsigned flags;      /* enum ctl_event_flags */
};

/* Record 'ev' now; a repeat folds into its row. ERR_INVALID for an event
 * without region, object, reason or message. */
int ctl_event_record(struct store *st, const struct ctl_event *ev, struct err *err);
/* The same at 'now_ms' (Unix ms), for tests. */
int ctl_event_record_at(struct store *st, const struct ctl_event *ev, int64_t now_ms,
                        struct err *err);

/* Conveniences that format the message and log (not return) a failure: an
 * event that cannot be written never fails the work it reports. */
void ctl_event_pod(struct store *st, const char *region, const char *service_id, int index,
                   enum ctl_event_type type, const char *reason, unsigned flags, const char *fmt,
                   ...) __attribute__((format(printf, 8, 9)));
void ctl_event_version(struct store *st, const char *region, const char *service_id,
                       enum ctl_event_type type, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
void ctl_event_group(struct store *st, const char *region, const char *group_id,
                     enum ctl_event_type type, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
/* A group's weights changed: 'before' are its versions as they were, 'after'
 * their weights now (same order). One event on the group, naming each
 * version whose weight moved. */
void ctl_event_weights(struct store *st, const char *region, const char *group_id,
                       const struct store_service *before, size_t n, const int *after);

const char *ctl_event_type_name(enum ctl_event_type t);
/* The group of a version id ("ms-xxxxxxxx-3" -> "ms-xxxxxxxx") into 'out';
 * false when 'service_id' is not a version id. */
bool ctl_event_group_of(const char *service_id, char *out, size_t size);

#endif
