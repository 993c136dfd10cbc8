/* logs.c - the log store in SQLite. Lines go to a plain table; an external-
 * content FTS5 table indexes their text, kept in step here, in the same
 * transaction (a delete hands FTS5 the old text so it can drop its tokens).
 * Not by triggers: FTS5 fed from a trigger took 4 times as long per line
 * (measured, 20k against 80k lines/s) as the same rows inserted directly. Keyword
 * queries walk the FTS5 index in rowid order over the id range the time
 * window maps to, so a page of a 7-day store costs what the page costs, not
 * what the store holds. synchronous=NORMAL: a power cut may lose the last
 * batches (not a crash of berthd); the database stays consistent. */
#include "store/logs.h"
#include "base/alloc.h"
#include "base/buf.h"
#include "base/log.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct store_logs {
    sqlite3 *db;
    sqlite3_stmt *insert, *index;
    int64_t *ids; /* of the batch being appended */
    size_t ids_cap;
    int64_t last_us;
};

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS lines ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT," /* never reused, even once all lines went */
    "  t INTEGER NOT NULL,"
    "  grp TEXT NOT NULL,"
    "  svc TEXT NOT NULL,"
    "  pod TEXT NOT NULL,"
    "  stream INTEGER NOT NULL,"
    "  text TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS lines_t ON lines(t);"
    "CREATE INDEX IF NOT EXISTS lines_svc ON lines(svc);"
    "CREATE VIRTUAL TABLE IF NOT EXISTS lines_fts USING fts5(text, content='lines', "
    "  content_rowid='id');";

static int db_fail(sqlite3 *db, struct err *err, const char *what)
{
    return err_set(err, ERR_INTERNAL, "log store: %s: %s", what, sqlite3_errmsg(db));
}

static int exec(sqlite3 *db, const char *sql, struct err *err)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) == SQLITE_OK)
        return 0;
    int rc = err_set(err, ERR_INTERNAL, "log store: %s", msg ? msg : sqlite3_errmsg(db));
    sqlite3_free(msg);
    return rc;
}

static int64_t one_int(sqlite3 *db, const char *sql, int64_t arg, int64_t dflt)
{
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
        return dflt;
    if (sqlite3_bind_parameter_count(s) > 0)
        sqlite3_bind_int64(s, 1, arg);
    int64_t v = dflt;
    if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_type(s, 0) != SQLITE_NULL)
        v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return v;
}

int store_logs_open(const char *path, struct store_logs **out, struct err *err)
{
    *out = NULL;
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX |
                            SQLITE_OPEN_NOFOLLOW,
                        NULL) != SQLITE_OK) {
        int rc = err_set(err, ERR_INTERNAL, "cannot open log store '%s': %s", path,
                         db ? sqlite3_errmsg(db) : "out of memory");
        sqlite3_close(db);
        return rc;
    }
    sqlite3_busy_timeout(db, 5000);
    /* The lines are not secret, and SECURE_DELETE (Debian's default) would
     * overwrite every page the retention frees. */
    int rc = exec(db,
                  "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA secure_delete=OFF;"
                  "PRAGMA cache_size=-16384; PRAGMA journal_size_limit=67108864;",
                  err);
    if (!rc)
        rc = exec(db, schema, err);
    struct store_logs *sl = NULL;
    if (!rc) {
        sl = xcalloc(1, sizeof(*sl));
        sl->db = db;
        if (sqlite3_prepare_v3(db,
                               "INSERT INTO lines(t, grp, svc, pod, stream, text) "
                               "VALUES (?, ?, ?, ?, ?, ?)",
                               -1, SQLITE_PREPARE_PERSISTENT, &sl->insert, NULL) != SQLITE_OK ||
            sqlite3_prepare_v3(db, "INSERT INTO lines_fts(rowid, text) VALUES (?, ?)", -1,
                               SQLITE_PREPARE_PERSISTENT, &sl->index, NULL) != SQLITE_OK)
            rc = db_fail(db, err, "prepare insert");
        sl->last_us = one_int(db, "SELECT max(t) FROM lines", 0, 0);
    }
    if (rc) {
        if (sl) {
            sqlite3_finalize(sl->insert);
            sqlite3_finalize(sl->index);
        }
        free(sl);
        sqlite3_close(db);
        return rc;
    }
    *out = sl;
    return 0;
}

void store_logs_close(struct store_logs *sl)
{
    if (!sl)
        return;
    sqlite3_finalize(sl->insert);
    sqlite3_finalize(sl->index);
    sqlite3_close(sl->db);
    free(sl->ids);
    free(sl);
}

int store_logs_append(struct store_logs *sl, const struct logs_line *lines, size_t n,
                      struct err *err)
{
    if (n == 0)
        return 0;
    if (n > sl->ids_cap) {
        sl->ids = xrealloc(sl->ids, n * sizeof(*sl->ids));
        sl->ids_cap = n;
    }
    int rc = exec(sl->db, "BEGIN IMMEDIATE", err);
    if (rc)
        return rc;
    int64_t last = sl->last_us;
    for (size_t i = 0; i < n && !rc; i++) {
        const struct logs_line *l = &lines[i];
        int64_t t = l->time_us > last ? l->time_us : last;
        sqlite3_stmt *s = sl->insert;
        sqlite3_bind_int64(s, 1, t);
        sqlite3_bind_text(s, 2, l->group_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 3, l->service_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 4, l->pod, -1, SQLITE_STATIC);
        sqlite3_bind_int(s, 5, (int)l->stream);
        sqlite3_bind_text(s, 6, l->len ? l->text : "", (int)l->len, SQLITE_STATIC);
        if (sqlite3_step(s) != SQLITE_DONE)
            rc = db_fail(sl->db, err, "insert");
        sqlite3_reset(s);
        sl->ids[i] = sqlite3_last_insert_rowid(sl->db);
        last = t;
    }
    /* The index after the rows: FTS5 gathers a batch's terms in memory. */
    for (size_t i = 0; i < n && !rc; i++) {
        sqlite3_stmt *s = sl->index;
        sqlite3_bind_int64(s, 1, sl->ids[i]);
        sqlite3_bind_text(s, 2, lines[i].len ? lines[i].text : "", (int)lines[i].len,
                          SQLITE_STATIC);
        if (sqlite3_step(s) != SQLITE_DONE)
            rc = db_fail(sl->db, err, "index");
        sqlite3_reset(s);
    }
    if (!rc)
        rc = exec(sl->db, "COMMIT", err);
    if (rc) {
        exec(sl->db, "ROLLBACK", NULL);
        return rc;
    }
    sl->last_us = last;
    return 0;
}

int64_t store_logs_bytes(struct store_logs *sl)
{
    int64_t pages = one_int(sl->db, "PRAGMA page_count", 0, 0);
    int64_t free_pages = one_int(sl->db, "PRAGMA freelist_count", 0, 0);
    int64_t size = one_int(sl->db, "PRAGMA page_size", 0, 4096);
    return (pages - free_pages) * size;
}

/* Delete the oldest lines up to and including id 'upto', and their terms, in
 * one transaction. */
static int delete_upto(struct store_logs *sl, int64_t upto, int64_t *deleted, struct err *err)
{
    static const char *const sql[] = {
        "INSERT INTO lines_fts(lines_fts, rowid, text) SELECT 'delete', id, text FROM lines "
        "WHERE id <= ?",
        "DELETE FROM lines WHERE id <= ?"};
    int rc = exec(sl->db, "BEGIN IMMEDIATE", err);
    for (size_t i = 0; i < 2 && !rc; i++) {
        sqlite3_stmt *s;
        if (sqlite3_prepare_v2(sl->db, sql[i], -1, &s, NULL) != SQLITE_OK) {
            rc = db_fail(sl->db, err, "prepare delete");
            break;
        }
        sqlite3_bind_int64(s, 1, upto);
        rc = sqlite3_step(s) == SQLITE_DONE ? 0 : db_fail(sl->db, err, "delete");
        sqlite3_finalize(s);
        if (!rc && i == 1 && deleted)
            *deleted += sqlite3_changes(sl->db);
    }
    if (!rc)
        rc = exec(sl->db, "COMMIT", err);
    if (rc)
        exec(sl->db, "ROLLBACK", NULL);
    return rc;
}

#define TRIM_CHUNK 10000 /* lines per transaction: bounds how long a trim holds the writer */
#define TRIM_CHUNKS_PER_CALL (STORE_LOGS_TRIM_MAX / TRIM_CHUNK) /* lines come in between */

int store_logs_trim(struct store_logs *sl, int64_t before_us, int64_t max_bytes, int64_t *deleted,
                    struct err *err)
{
    int64_t gone = 0;
    int rc = 0, chunks = 0;
    /* Ids grow with time, and only the oldest lines are ever deleted (ids are
     * never reused), so the lines are ids first..last with no gaps and "older
     * than" is a range of them. */
    int64_t first = one_int(sl->db, "SELECT min(id) FROM lines", 0, -1);
    int64_t last = one_int(sl->db, "SELECT max(id) FROM lines", 0, -1);
    int64_t last_old =
        one_int(sl->db, "SELECT id FROM lines WHERE t < ? ORDER BY t DESC LIMIT 1", before_us, -1);
    int64_t upto = last_old;
    /* The cap: down to 90 % of it at the average line's size. The space of
     * deleted lines in the FTS5 index comes back as its segments merge, so
     * the size in use lags, and a cap small against the ingest rate may see
     * more lines go than needed. */
    int64_t bytes = max_bytes > 0 && first > 0 ? store_logs_bytes(sl) : 0;
    if (max_bytes > 0 && first > 0 && bytes > max_bytes) {
        int64_t count = last - first + 1;
        int64_t keep = (int64_t)((double)max_bytes * 0.9 / ((double)bytes / (double)count));
        keep = keep < 1 ? 1 : keep; /* the newest line stays */
        upto = last - keep > upto ? last - keep : upto;
    }
    for (int64_t from = first; first > 0 && from <= upto && chunks < TRIM_CHUNKS_PER_CALL;
         chunks++) {
        int64_t to = upto - from >= TRIM_CHUNK ? from + TRIM_CHUNK - 1 : upto;
        if ((rc = delete_upto(sl, to, &gone, err)))
            break;
        from = to + 1;
    }
    /* Let FTS5 fold some of the deletions in (a bounded amount of work). */
    if (!rc && gone > 0)
        exec(sl->db, "INSERT INTO lines_fts(lines_fts, rank) VALUES ('merge', 256)", NULL);
    if (deleted)
        *deleted = gone;
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Queries                                                                  */

/* An FTS5 expression: each keyword a quoted phrase (so nothing in it is
 * syntax), all of them ANDed. */
static void match_expr(struct buf *b, const char *const *kw, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        buf_puts(b, i ? " AND \"" : "\"");
        for (const char *p = kw[i]; *p; p++) {
            if (*p == '"')
                buf_putc(b, '"');
            buf_putc(b, *p);
        }
        buf_putc(b, '"');
    }
}

/* The id range a time window covers: [lo, hi]; false when none. */
static bool id_range(sqlite3 *db, int64_t start_us, int64_t end_us, int64_t *lo, int64_t *hi)
{
    *lo = one_int(db, "SELECT id FROM lines WHERE t >= ? ORDER BY t, id LIMIT 1", start_us, -1);
    *hi = one_int(db, "SELECT id FROM lines WHERE t <= ? ORDER BY t DESC, id DESC LIMIT 1", end_us,
                  -1);
    return *lo >= 0 && *hi >= *lo;
}

static int run_query(sqlite3 *db, const struct store_logs_query *q,
                     int (*row)(void *, const struct store_logs_row *), void *arg, struct err *err)
{
    int64_t lo, hi;
    if (q->end_us < q->start_us || !id_range(db, q->start_us, q->end_us, &lo, &hi))
        return 0;
    if (q->after_id > 0 && q->asc && q->after_id + 1 > lo)
        lo = q->after_id + 1;
    if (q->after_id > 0 && !q->asc && q->after_id - 1 < hi)
        hi = q->after_id - 1;
    if (hi < lo || (q->group_ids && q->ngroups == 0))
        return 0;
    struct buf sql;
    buf_init(&sql, 4096);
    const char *id = q->nkeywords ? "f.rowid" : "l.id";
    if (q->nkeywords)
        buf_puts(&sql, "SELECT l.id, l.t, l.pod, l.stream, l.text FROM lines_fts f "
                       "CROSS JOIN lines l ON l.id = f.rowid WHERE lines_fts MATCH ?1 AND ");
    else
        buf_puts(&sql, "SELECT l.id, l.t, l.pod, l.stream, l.text FROM lines l WHERE ");
    buf_printf(&sql, "%s >= ?2 AND %s <= ?3", id, id);
    if (q->service_id)
        buf_puts(&sql, " AND l.svc = ?4");
    if (q->pod && q->pod_prefix)
        buf_puts(&sql, " AND substr(l.pod, 1, length(?5)) = ?5");
    else if (q->pod)
        buf_puts(&sql, " AND l.pod = ?5");
    if (q->stream)
        buf_puts(&sql, " AND l.stream = ?6");
    if (q->group_ids) {
        buf_puts(&sql, " AND l.grp IN (");
        for (size_t i = 0; i < q->ngroups; i++)
            buf_printf(&sql, "%s?%zu", i ? ", " : "", 10 + i);
        buf_puts(&sql, ")");
    }
    buf_printf(&sql, " ORDER BY %s %s LIMIT ?7 OFFSET ?8", id, q->asc ? "ASC" : "DESC");
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(db, sql.ptr, (int)sql.len, &s, NULL) != SQLITE_OK) {
        int rc = db_fail(db, err, "prepare query");
        buf_release(&sql);
        return rc;
    }
    buf_release(&sql);
    struct buf m;
    buf_init(&m, 1 << 20);
    if (q->nkeywords) {
        match_expr(&m, q->keywords, q->nkeywords);
        sqlite3_bind_text(s, 1, m.ptr, (int)m.len, SQLITE_STATIC);
    }
    sqlite3_bind_int64(s, 2, lo);
    sqlite3_bind_int64(s, 3, hi);
    if (q->service_id)
        sqlite3_bind_text(s, 4, q->service_id, -1, SQLITE_STATIC);
    if (q->pod)
        sqlite3_bind_text(s, 5, q->pod, -1, SQLITE_STATIC);
    if (q->stream)
        sqlite3_bind_int(s, 6, q->stream);
    sqlite3_bind_int64(s, 7, (int64_t)q->limit);
    sqlite3_bind_int64(s, 8, (int64_t)q->offset);
    for (size_t i = 0; q->group_ids && i < q->ngroups; i++)
        sqlite3_bind_text(s, (int)(10 + i), q->group_ids[i], -1, SQLITE_STATIC);
    int rc = 0, step;
    while ((step = sqlite3_step(s)) == SQLITE_ROW) {
        struct store_logs_row r = {
            .id = sqlite3_column_int64(s, 0),
            .time_us = sqlite3_column_int64(s, 1),
            .pod = (const char *)sqlite3_column_text(s, 2),
            .stream = sqlite3_column_int(s, 3),
            .text = (const char *)sqlite3_column_text(s, 4),
            .len = (size_t)sqlite3_column_bytes(s, 4),
        };
        if (!r.pod || !r.text)
            continue;
        if (row(arg, &r))
            break;
    }
    if (step != SQLITE_ROW && step != SQLITE_DONE)
        rc = db_fail(db, err, "query");
    sqlite3_finalize(s);
    buf_release(&m);
    return rc;
}

int store_logs_query(const char *path, const struct store_logs_query *q,
                     int (*row)(void *, const struct store_logs_row *), void *arg, struct err *err)
{
    if (q->nkeywords > STORE_LOGS_MAX_KEYWORDS || q->ngroups > STORE_LOGS_MAX_GROUPS)
        return err_set(err, ERR_TOOBIG, "log query: too many keywords or groups");
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        int rc = err_set(err, ERR_INTERNAL, "cannot open log store '%s': %s", path,
                         db ? sqlite3_errmsg(db) : "out of memory");
        sqlite3_close(db);
        return rc;
    }
    sqlite3_busy_timeout(db, 5000);
    /* One read transaction: the id range and the page see the same lines. */
    int rc = exec(db, "BEGIN", err);
    if (!rc)
        rc = run_query(db, q, row, arg, err);
    exec(db, "COMMIT", NULL);
    sqlite3_close(db);
    return rc;
}
