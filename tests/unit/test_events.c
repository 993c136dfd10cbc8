/* test_events.c - the event table on :memory: with injected times: exact
 * repeats and reason-folded repeats fold into one row with a count and
 * first/last times, the per-object cap and the age limit bound the table,
 * and queries scope, filter, order and page. */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "control/events.h"
#include "store/store.h"

#define T0 1767225600000LL /* 2026-01-01T00:00:00Z */

static struct store *open_memory(void)
{
    struct store *st = NULL;
    struct err err = {0};
    log_set_level("warn");
    if (store_open(":memory:", &st, &err) != 0)
        fprintf(stderr, "# %s\n", err.msg);
    return st;
}

static void pod(struct store *st, const char *sid, const char *reason, unsigned flags,
                const char *msg, int64_t at)
{
    char name[64];
    snprintf(name, sizeof(name), "%s-0", sid);
    struct ctl_event ev = {.region = "r1",
                           .service_id = sid,
                           .kind = CTL_KIND_POD,
                           .name = name,
                           .type = CTL_EVENT_WARNING,
                           .reason = reason,
                           .message = msg,
                           .flags = flags};
    struct err err = {0};
    CHECK_EQ_INT(ctl_event_record_at(st, &ev, at, &err), 0);
}

static struct store_event_query all_of(const char *group, const char *sid)
{
    return (struct store_event_query){.region = "r1",
                                      .group_id = group,
                                      .service_id = sid,
                                      .start_ms = 0,
                                      .end_ms = INT64_MAX,
                                      .asc = true,
                                      .limit = 1000};
}

static size_t list(struct store *st, const struct store_event_query *q, struct store_event **rows,
                   uint64_t *total)
{
    size_t n = 0;
    struct err err = {0};
    *rows = NULL;
    if (store_event_list(st, q, rows, &n, total, &err) != 0)
        harness_fail(__FILE__, __LINE__, "store_event_list: %s", err.msg);
    return n;
}

static void release_all(struct store_event *rows, size_t n)
{
    for (size_t i = 0; i < n; i++)
        store_event_release(&rows[i]);
    free(rows);
}

TEST(a_crash_loop_folds_into_two_rows)
{
    struct store *st = open_memory();
    for (int i = 0; i < 50; i++) {
        char backoff[64];
        snprintf(backoff, sizeof(backoff), "Back-off %ds restarting the failed instance",
                 1 << (i < 5 ? i : 5));
        pod(st, "ms-aaaaaaaa-1", "Exited", 0, "The instance exited with status 1", T0 + i * 1000);
        pod(st, "ms-aaaaaaaa-1", "BackOff", CTL_EVENT_FOLD_REASON, backoff, T0 + i * 1000 + 1);
    }
    struct store_event_query q = all_of(NULL, NULL);
    struct store_event *rows;
    uint64_t total;
    size_t n = list(st, &q, &rows, &total);
    CHECK_EQ_INT(n, 2);
    CHECK_EQ_INT(total, 2);
    CHECK_STR_EQ(rows[0].reason, "Exited");
    CHECK_EQ_INT(rows[0].count, 50);
    CHECK_EQ_INT(rows[0].first_ms, T0);
    CHECK_EQ_INT(rows[0].last_ms, T0 + 49000);
    CHECK_STR_EQ(rows[0].group_id, "ms-aaaaaaaa");
    CHECK_STR_EQ(rows[0].type, "Warning");
    CHECK_STR_EQ(rows[1].reason, "BackOff");
    CHECK_EQ_INT(rows[1].count, 50);
    CHECK_STR_EQ(rows[1].message, "Back-off 32s restarting the failed instance"); /* the newest */
    release_all(rows, n);
    /* Another message of the same reason is another row. */
    pod(st, "ms-aaaaaaaa-1", "Exited", 0, "The instance was killed by signal 9", T0 + 60000);
    n = list(st, &q, &rows, &total);
    CHECK_EQ_INT(n, 3);
    release_all(rows, n);
    store_close(st);
}

TEST(rows_are_capped_per_object_and_by_age)
{
    struct store *st = open_memory();
    char msg[64];
    for (int i = 0; i < CTL_EVENTS_PER_OBJECT + 20; i++) {
        snprintf(msg, sizeof(msg), "message %d", i);
        pod(st, "ms-bbbbbbbb-1", "Distinct", 0, msg, T0 + i);
    }
    pod(st, "ms-bbbbbbbb-2", "Other", 0, "another version keeps its own", T0 + 1000);
    struct store_event_query q = all_of("ms-bbbbbbbb", "ms-bbbbbbbb-1");
    struct store_event *rows;
    uint64_t total;
    size_t n = list(st, &q, &rows, &total);
    CHECK_EQ_INT(n, CTL_EVENTS_PER_OBJECT);
    CHECK_STR_EQ(rows[0].message, "message 20"); /* the oldest went first */
    release_all(rows, n);
    q = all_of("ms-bbbbbbbb", "ms-bbbbbbbb-2");
    n = list(st, &q, &rows, &total);
    CHECK_EQ_INT(n, 1);
    release_all(rows, n);
    /* A day later, a new event prunes everything last seen before then. */
    pod(st, "ms-cccccccc-1", "Late", 0, "after a day", T0 + CTL_EVENTS_KEEP_MS + 1001);
    q = all_of(NULL, NULL);
    n = list(st, &q, &rows, &total);
    CHECK_EQ_INT(n, 1);
    CHECK_STR_EQ(rows[0].reason, "Late");
    release_all(rows, n);
    store_close(st);
}

TEST(a_version_sees_its_group_but_not_its_siblings)
{
    struct store *st = open_memory();
    struct err err = {0};
    pod(st, "ms-dddddddd-1", "Started", 0, "one", T0);
    pod(st, "ms-dddddddd-2", "Started", 0, "two", T0 + 1);
    pod(st, "ms-eeeeeeee-1", "Started", 0, "elsewhere", T0 + 2);
    struct ctl_event g = {.region = "r1",
                          .group_id = "ms-dddddddd",
                          .kind = CTL_KIND_GROUP,
                          .name = "ms-dddddddd",
                          .reason = "WeightsChanged",
                          .message = "weights"};
    CHECK_EQ_INT(ctl_event_record_at(st, &g, T0 + 3, &err), 0);
    struct ctl_event other = g;
    other.region = "r2";
    other.group_id = other.name = "ms-ffffffff";
    CHECK_EQ_INT(ctl_event_record_at(st, &other, T0 + 3, &err), 0);
    struct store_event *rows;
    uint64_t total;
    struct store_event_query q = all_of("ms-dddddddd", "ms-dddddddd-1");
    size_t n = list(st, &q, &rows, &total);
    CHECK_EQ_INT(n, 2);
    CHECK_STR_EQ(rows[0].message, "one");
    CHECK_STR_EQ(rows[1].kind, "ServiceGroup");
    CHECK_STR_EQ(rows[1].service_id, "");
    release_all(rows, n);
    q = all_of("ms-dddddddd", NULL);
    n = list(st, &q, &rows, &total);
    CHECK_EQ_INT(n, 3);
    release_all(rows, n);
    q = all_of(NULL, NULL); /* the region, not r2 */
    n = list(st, &q, &rows, &total);
    CHECK_EQ_INT(n, 4);
    release_all(rows, n);
    /* Kind and type filters. */
    q = all_of(NULL, NULL);
    q.kind = "ServiceGroup";
    n = list(st, &q, &rows, &total);
    CHECK_EQ_INT(n, 1);
    release_all(rows, n);
    q.kind = NULL;
    q.type = "Normal";
    n = list(st, &q, &rows, &total);
    CHECK_EQ_INT(n, 1); /* the group's; the pods' are Warning here */
    release_all(rows, n);
    /* An event without an object or a message is refused. */
    g.message = "";
    CHECK_EQ_INT(ctl_event_record_at(st, &g, T0, &err), ERR_INVALID);
    store_close(st);
}

TEST(windows_overlap_and_pages_are_ordered)
{
    struct store *st = open_memory();
    pod(st, "ms-gggggggg-1", "A", 0, "a", T0);
    pod(st, "ms-gggggggg-1", "B", 0, "b", T0 + 10000);
    pod(st, "ms-gggggggg-1", "C", 0, "c", T0 + 20000);
    pod(st, "ms-gggggggg-1", "A", 0, "a", T0 + 30000); /* A spans 0..30 s */
    struct store_event *rows;
    uint64_t total;
    struct store_event_query q = all_of(NULL, NULL);
    q.start_ms = T0 + 15000;
    q.end_ms = T0 + 25000;
    size_t n = list(st, &q, &rows, &total);
    CHECK_EQ_INT(n, 2); /* A overlaps, B ended before, C inside */
    CHECK_STR_EQ(rows[0].reason, "C");
    CHECK_STR_EQ(rows[1].reason, "A");
    release_all(rows, n);
    q = all_of(NULL, NULL);
    q.by_first = true;
    q.asc = false;
    q.limit = 1;
    q.offset = 1;
    n = list(st, &q, &rows, &total);
    CHECK_EQ_INT(n, 1);
    CHECK_EQ_INT(total, 3);
    CHECK_STR_EQ(rows[0].reason, "B"); /* C, B, A by first time, descending */
    release_all(rows, n);
    char group[32];
    CHECK(ctl_event_group_of("ms-gggggggg-12", group, sizeof(group)));
    CHECK_STR_EQ(group, "ms-gggggggg");
    CHECK(!ctl_event_group_of("ms-gggggggg", group, sizeof(group)));
    CHECK(!ctl_event_group_of("ms-gggggggg-x", group, sizeof(group)));
    store_close(st);
}

TEST(messages_that_are_not_utf8_are_cleaned)
{
    struct store *st = open_memory();
    pod(st, "ms-hhhhhhhh-1", "Failed", 0, "bad \xff byte, good \xc3\xa9", T0);
    struct store_event *rows;
    uint64_t total;
    struct store_event_query q = all_of(NULL, NULL);
    size_t n = list(st, &q, &rows, &total);
    CHECK_EQ_INT(n, 1);
    CHECK_STR_EQ(rows[0].message, "bad ? byte, good \xc3\xa9");
    release_all(rows, n);
    store_close(st);
}
