/* logs.h - the log store: what instances printed, one row per line, in its
 * own SQLite database (DIR/logs.db, WAL) beside berth.db, with an FTS5 index
 * of the text for keyword search. One writer (the capture thread) holds the
 * handle from store_logs_open(); store_logs_query() opens a read-only
 * connection of its own per call, so any thread may query while lines are
 * written. Line ids grow with time: a line's timestamp is never before the
 * previous line's (the writer holds it to that), so id order is time order
 * and a page cursor is an id. Fallible calls return 0 or a negative ERR_*
 * code and fill 'err' when it is not NULL. */
#ifndef BERTH_STORE_LOGS_H
#define BERTH_STORE_LOGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "logs/line.h"

struct store_logs;

/* Open (creating if needed) the database at 'path' for writing. */
int store_logs_open(const char *path, struct store_logs **out, struct err *err);
void store_logs_close(struct store_logs *sl);
/* Append 'n' lines in one transaction. A line stamped before the last one
 * stored is stored with the last one's time (a clock that went back). */
int store_logs_append(struct store_logs *sl, const struct logs_line *lines, size_t n,
                      struct err *err);
/* Delete lines older than 'before_us' and, when the database uses more than
 * 'max_bytes' (0: no cap), the oldest lines down to about 90 % of it. At most
 * STORE_LOGS_TRIM_MAX lines per call (in transactions of 10000): when that
 * many went, call again soon; otherwise now and then (berthd: every second).
 * *deleted (may be NULL) gets how many went. */
#define STORE_LOGS_TRIM_MAX 40000
int store_logs_trim(struct store_logs *sl, int64_t before_us, int64_t max_bytes, int64_t *deleted,
                    struct err *err);
/* Bytes of the database in use (pages less free pages). */
int64_t store_logs_bytes(struct store_logs *sl);

#define STORE_LOGS_MAX_KEYWORDS 100
#define STORE_LOGS_MAX_GROUPS 4096

struct store_logs_query {
    const char *service_id;       /* NULL: any */
    const char *const *group_ids; /* NULL: any; else only these ('ngroups', may be 0) */
    size_t ngroups;
    const char *pod;             /* NULL: any */
    bool pod_prefix;             /* 'pod' is a prefix (PodName ended with '*') */
    int stream;                  /* 0: both; else an enum logs_stream */
    int64_t start_us, end_us;    /* inclusive */
    const char *const *keywords; /* each must occur as words, in order, in the line */
    size_t nkeywords;
    bool asc;         /* oldest first */
    int64_t after_id; /* a cursor: only lines after it in the order; 0: none */
    size_t limit, offset;
};

struct store_logs_row {
    int64_t id, time_us;
    const char *pod;
    int stream;
    const char *text;
    size_t len;
};

/* Run 'q' against the database at 'path', calling 'row' for each line found
 * (its strings live until it returns); a non-zero return from 'row' stops. */
int store_logs_query(const char *path, const struct store_logs_query *q,
                     int (*row)(void *arg, const struct store_logs_row *r), void *arg,
                     struct err *err);

#endif
