/* test_logs_store.c - the log store on disk: append keeps time order (a clock
 * that went back included), queries by keyword, pod prefix, stream, window,
 * cursor and offset, retention by age and by size drop the oldest first. */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/logs.h"

static char path[256];

static struct store_logs *open_fresh(void)
{
    snprintf(path, sizeof(path), "/tmp/berth-test-logs-%d.db", (int)getpid());
    char wal[300], shm[300];
    snprintf(wal, sizeof(wal), "%s-wal", path);
    snprintf(shm, sizeof(shm), "%s-shm", path);
    unlink(path);
    unlink(wal);
    unlink(shm);
    struct store_logs *sl = NULL;
    struct err err = {0};
    if (store_logs_open(path, &sl, &err) != 0)
        printf("# %s\n", err.msg);
    return sl;
}

static void put(struct store_logs *sl, int64_t t, const char *pod, int stream, const char *text)
{
    struct logs_line l = {.time_us = t,
                          .group_id = "ms-g",
                          .service_id = "ms-g-1",
                          .pod = pod,
                          .stream = stream,
                          .text = text,
                          .len = strlen(text)};
    struct err err = {0};
    CHECK_EQ_INT(store_logs_append(sl, &l, 1, &err), 0);
}

struct rows {
    int64_t ids[64], times[64];
    char text[64][64];
    size_t n;
};

static int collect(void *arg, const struct store_logs_row *r)
{
    struct rows *rs = arg;
    if (rs->n < 64) {
        rs->ids[rs->n] = r->id;
        rs->times[rs->n] = r->time_us;
        snprintf(rs->text[rs->n], 64, "%.*s", (int)r->len, r->text);
        rs->n++;
    }
    return 0;
}

static struct rows query(struct store_logs_query q)
{
    struct rows rs = {0};
    struct err err = {0};
    if (!q.limit)
        q.limit = 100;
    if (!q.end_us)
        q.end_us = INT64_MAX;
    if (store_logs_query(path, &q, collect, &rs, &err) != 0) {
        printf("# %s\n", err.msg);
        rs.n = 999;
    }
    return rs;
}

TEST(query_filters)
{
    struct store_logs *sl = open_fresh();
    CHECK(sl != NULL);
    put(sl, 100, "ms-g-1-0", LOGS_STDOUT, "alpha beta");
    put(sl, 200, "ms-g-1-1", LOGS_STDERR, "alpha gamma");
    put(sl, 300, "ms-g-1-10", LOGS_STDOUT, "delta \"quoted\" OR NOT");
    put(sl, 250, "ms-g-1-0", LOGS_STDOUT, "clock went back");
    const char *kw_alpha[] = {"alpha"}, *kw_and[] = {"alpha", "gamma"}, *kw_syn[] = {"OR NOT"};
    struct rows r = query((struct store_logs_query){.keywords = kw_alpha, .nkeywords = 1});
    CHECK_EQ_INT(r.n, 2);
    CHECK_STR_EQ(r.text[0], "alpha gamma"); /* newest first */
    r = query((struct store_logs_query){.keywords = kw_and, .nkeywords = 2});
    CHECK_EQ_INT(r.n, 1);
    r = query((struct store_logs_query){.keywords = kw_syn, .nkeywords = 1});
    CHECK_EQ_INT(r.n, 1); /* a keyword is a phrase, not FTS syntax */
    r = query((struct store_logs_query){.pod = "ms-g-1-1", .pod_prefix = true, .asc = true});
    CHECK_EQ_INT(r.n, 2);
    CHECK_STR_EQ(r.text[0], "alpha gamma");
    r = query((struct store_logs_query){.pod = "ms-g-1-1"});
    CHECK_EQ_INT(r.n, 1);
    r = query((struct store_logs_query){.stream = LOGS_STDERR});
    CHECK_EQ_INT(r.n, 1);
    /* The line stamped 250 after one of 300 is stored at 300: time order is id order. */
    r = query((struct store_logs_query){.asc = true});
    CHECK_EQ_INT(r.n, 4);
    CHECK_EQ_INT(r.times[3], 300);
    r = query((struct store_logs_query){.start_us = 150, .end_us = 250, .asc = true});
    CHECK_EQ_INT(r.n, 1);
    CHECK_STR_EQ(r.text[0], "alpha gamma");
    /* Cursor and offset. */
    struct rows all = query((struct store_logs_query){.asc = true});
    r = query((struct store_logs_query){.asc = true, .after_id = all.ids[1]});
    CHECK_EQ_INT(r.n, 2);
    CHECK_EQ_INT(r.ids[0], all.ids[2]);
    r = query((struct store_logs_query){.after_id = all.ids[2]});
    CHECK_EQ_INT(r.n, 2);
    CHECK_EQ_INT(r.ids[0], all.ids[1]);
    r = query((struct store_logs_query){.asc = true, .offset = 3});
    CHECK_EQ_INT(r.n, 1);
    /* Groups: only those given; none given means none. */
    const char *gs[] = {"ms-other"};
    r = query((struct store_logs_query){.group_ids = gs, .ngroups = 1});
    CHECK_EQ_INT(r.n, 0);
    store_logs_close(sl);
    unlink(path);
}

TEST(retention_and_cap)
{
    struct store_logs *sl = open_fresh();
    CHECK(sl != NULL);
    put(sl, 1000, "p", LOGS_STDOUT, "old one");
    put(sl, 2000, "p", LOGS_STDOUT, "old two");
    put(sl, 3000, "p", LOGS_STDOUT, "new three");
    int64_t deleted = 0;
    struct err err = {0};
    CHECK_EQ_INT(store_logs_trim(sl, 2500, 0, &deleted, &err), 0);
    CHECK_EQ_INT(deleted, 2);
    struct rows r = query((struct store_logs_query){0});
    CHECK_EQ_INT(r.n, 1);
    CHECK_STR_EQ(r.text[0], "new three");
    /* The FTS index forgot them too. */
    const char *kw[] = {"old"};
    r = query((struct store_logs_query){.keywords = kw, .nkeywords = 1});
    CHECK_EQ_INT(r.n, 0);
    /* Past the cap the oldest go until under it. */
    char text[200];
    struct logs_line batch[500];
    for (int round = 0; round < 20; round++) {
        for (int i = 0; i < 500; i++) {
            snprintf(text, sizeof(text), "line r%d i%d padding padding padding padding", round, i);
            batch[i] = (struct logs_line){.time_us = 4000 + round,
                                          .group_id = "g",
                                          .service_id = "s",
                                          .pod = "p",
                                          .stream = LOGS_STDOUT,
                                          .text = strdup(text),
                                          .len = strlen(text)};
        }
        CHECK_EQ_INT(store_logs_append(sl, batch, 500, &err), 0);
        for (int i = 0; i < 500; i++)
            free((char *)batch[i].text);
    }
    int64_t before = store_logs_bytes(sl), cap = before / 2;
    CHECK_EQ_INT(store_logs_trim(sl, 0, cap, &deleted, &err), 0);
    CHECK(deleted > 0);
    /* As berthd does, every second: the index gives the space back as it merges. */
    for (int i = 0; i < 20 && deleted > 0; i++)
        CHECK_EQ_INT(store_logs_trim(sl, 0, cap, &deleted, &err), 0);
    CHECK_EQ_INT(deleted, 0);
    CHECK(store_logs_bytes(sl) <= cap);
    CHECK(query((struct store_logs_query){.limit = 1000}).n > 0);
    const char *first[] = {"r0"}, *last[] = {"r19", "i499"};
    r = query((struct store_logs_query){.keywords = first, .nkeywords = 1});
    CHECK_EQ_INT(r.n, 0);
    r = query((struct store_logs_query){.keywords = last, .nkeywords = 2});
    CHECK_EQ_INT(r.n, 1);
    /* Ids are never reused, even once every line went: a cursor stays valid. */
    struct rows newest = query((struct store_logs_query){.limit = 1});
    CHECK_EQ_INT(store_logs_trim(sl, INT64_MAX, 0, &deleted, &err), 0);
    CHECK_EQ_INT(query((struct store_logs_query){0}).n, 0);
    put(sl, 9000, "p", LOGS_STDOUT, "after the purge");
    r = query((struct store_logs_query){.after_id = newest.ids[0], .asc = true});
    CHECK_EQ_INT(r.n, 1);
    CHECK(r.ids[0] > newest.ids[0]);
    store_logs_close(sl);
    /* Reopened: the lines are there. */
    CHECK_EQ_INT(store_logs_open(path, &sl, &err), 0);
    const char *kw_after[] = {"purge"};
    r = query((struct store_logs_query){.keywords = kw_after, .nkeywords = 1});
    CHECK_EQ_INT(r.n, 1);
    store_logs_close(sl);
    unlink(path);
}
