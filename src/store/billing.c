/* billing.c - accounts, the ledger and the billing state of postpaid
 * services. ledger_add() is the only code that changes an account's balance
 * or frozen sum, and it writes the ledger row in the same statement
 * sequence, inside the caller's transaction: the two cannot disagree unless
 * someone edits the database by hand, which store_billing_check() finds.
 * The billing tick also stops (arrears) and resumes (top-up) services by
 * changing their desired state here, in the transaction of the ledger rows
 * that caused it; the reconciler then does what the store says. */
#include "store/billing.h"
#include "base/alloc.h"
#include "base/log.h"
#include "store/store_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TICK_CATCH_UP_MAX 10000 /* billing hours one tick charges for one service */

/* ------------------------------------------------------------------------ */
/* Statements                                                               */

/* Prepare 'sql' and bind 'types' ('s' const char *, 'i' int64_t) from the
 * arguments, in order. */
static int stmt(struct store *st, sqlite3_stmt **s, struct err *err, const char *sql,
                const char *types, ...)
{
    if (sqlite3_prepare_v2(store__db(st), sql, -1, s, NULL) != SQLITE_OK)
        return store__db_error(st, err, "prepare");
    va_list ap;
    va_start(ap, types);
    for (int i = 0; types[i]; i++) {
        if (types[i] == 's')
            sqlite3_bind_text(*s, i + 1, va_arg(ap, const char *), -1, SQLITE_TRANSIENT);
        else
            sqlite3_bind_int64(*s, i + 1, va_arg(ap, int64_t));
    }
    va_end(ap);
    return 0;
}

/* Step a prepared statement that returns no rows, and finalize it. */
static int done(struct store *st, sqlite3_stmt *s, struct err *err, const char *what)
{
    int rc = sqlite3_step(s) == SQLITE_DONE ? 0 : store__db_error(st, err, what);
    sqlite3_finalize(s);
    return rc;
}

static char *col(sqlite3_stmt *s, int i)
{
    const unsigned char *t = sqlite3_column_text(s, i);
    return xstrdup(t ? (const char *)t : "");
}

typedef void (*row_read_fn)(sqlite3_stmt *s, void *row);
typedef void (*row_release_fn)(void *row);

/* Step 's' for its one row, read by 'read' into 'row', and finalize it:
 * ERR_NOTFOUND with 'missing' when there is none. */
static int one_row(struct store *st, sqlite3_stmt *s, row_read_fn read, void *row, const char *what,
                   const char *missing, struct err *err)
{
    int step = sqlite3_step(s), rc = 0;
    if (step == SQLITE_ROW)
        read(s, row);
    else
        rc = step == SQLITE_DONE ? err_set(err, ERR_NOTFOUND, "%s", missing)
                                 : store__db_error(st, err, what);
    sqlite3_finalize(s);
    return rc;
}

/* Step 's' through its rows into a growing array of 'size'-byte records,
 * and finalize it; on failure what was read is released and *out is NULL. */
static int all_rows(struct store *st, sqlite3_stmt *s, size_t size, row_read_fn read,
                    row_release_fn release, void **out, size_t *n, const char *what,
                    struct err *err)
{
    char *rows = NULL;
    size_t cap = 0;
    int step;
    *n = 0;
    while ((step = sqlite3_step(s)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            rows = xrealloc(rows, cap * size);
        }
        read(s, rows + (*n)++ * size);
    }
    int rc = step == SQLITE_DONE ? 0 : store__db_error(st, err, what);
    sqlite3_finalize(s);
    if (rc) {
        for (size_t i = 0; i < *n; i++)
            release(rows + i * size);
        free(rows);
        rows = NULL;
        *n = 0;
    }
    *out = rows;
    return rc;
}

static void read_text(sqlite3_stmt *s, void *row)
{
    *(char **)row = col(s, 0);
}

static void release_text(void *row)
{
    free(*(char **)row);
}

static void rfc3339(int64_t ms, char out[32])
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ------------------------------------------------------------------------ */
/* Accounts                                                                 */

void store_account_release(struct store_account *a)
{
    if (!a)
        return;
    free(a->id);
    free(a->name);
    free(a->created_at);
}

static void release_account(void *row)
{
    store_account_release(row);
}

static void read_account(sqlite3_stmt *s, void *row)
{
    struct store_account *a = row;
    a->id = col(s, 0);
    a->name = col(s, 1);
    a->balance = sqlite3_column_int64(s, 2);
    a->frozen = sqlite3_column_int64(s, 3);
    a->created_at = col(s, 4);
}

#define ACCOUNT_COLS "id, name, balance, frozen, created_at"

/* Within a transaction. */
static int account_read(struct store *st, const char *id, struct store_account *out,
                        struct err *err)
{
    sqlite3_stmt *s;
    int rc = stmt(st, &s, err, "SELECT " ACCOUNT_COLS " FROM accounts WHERE id = ?", "s", id);
    if (rc)
        return rc;
    char missing[128];
    snprintf(missing, sizeof(missing), "account '%.80s' does not exist", id);
    return one_row(st, s, read_account, out, "reading an account", missing, err);
}

/* What a ledger row is about; NULL for a TOPUP. */
struct subject {
    const char *region, *group_id, *service_id, *tags_json;
    int64_t price, instance_ms;
};

/* Change account 'id' by one ledger row of 'kind' and write that row, in
 * the caller's transaction. TOPUP and CHARGE move the balance, FREEZE and
 * REFUND the frozen sum. */
static int ledger_add(struct store *st, const char *id, const char *kind, int64_t amount,
                      const struct subject *sub, const char *note, int64_t now_ms, struct err *err)
{
    int64_t dbal = 0, dfro = 0;
    if (strcmp(kind, "TOPUP") == 0)
        dbal = amount;
    else if (strcmp(kind, "CHARGE") == 0)
        dbal = -amount;
    else if (strcmp(kind, "FREEZE") == 0)
        dfro = amount;
    else
        dfro = -amount;
    sqlite3_stmt *s;
    int rc = stmt(st, &s, err,
                  "UPDATE accounts SET balance = balance + ?, frozen = frozen + ? WHERE id = ?",
                  "iis", dbal, dfro, id);
    if (rc == 0)
        rc = done(st, s, err, "updating an account");
    if (rc == 0 && sqlite3_changes(store__db(st)) == 0)
        rc = err_set(err, ERR_NOTFOUND, "account '%s' does not exist", id);
    if (rc)
        return rc;
    static const struct subject none = {"", "", "", "[]", 0, 0};
    if (!sub)
        sub = &none;
    rc = stmt(st, &s, err,
              "INSERT INTO ledger (account_id, kind, amount, balance, frozen, region, group_id,"
              " service_id, tags, price, instance_ms, note, t_ms)"
              " SELECT id, ?2, ?3, balance, frozen, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11"
              " FROM accounts WHERE id = ?1",
              "ssissssiisi", id, kind, amount, sub->region, sub->group_id, sub->service_id,
              sub->tags_json, sub->price, sub->instance_ms, note ? note : "", now_ms);
    if (rc == 0)
        rc = done(st, s, err, "writing a ledger row");
    return rc;
}

int store_account_create(struct store *st, const char *id, const char *name, int64_t initial,
                         int64_t now_ms, struct err *err)
{
    char now[32];
    rfc3339(now_ms, now);
    store__lock(st);
    int rc = store__begin(st, err);
    sqlite3_stmt *s;
    if (rc == 0)
        rc = stmt(st, &s, err, "INSERT INTO accounts (id, name, created_at) VALUES (?, ?, ?)",
                  "sss", id, name, now);
    if (rc == 0 && (rc = done(st, s, err, "adding an account")) == ERR_EXISTS)
        rc = err_set(err, ERR_EXISTS, "an account named '%s' exists", name);
    if (rc == 0 && initial > 0)
        rc = ledger_add(st, id, "TOPUP", initial, NULL, "initial balance", now_ms, err);
    rc = store__finish(st, rc, err);
    store__unlock(st);
    return rc;
}

int store_account_get(struct store *st, const char *id, struct store_account *out, struct err *err)
{
    store__lock(st);
    int rc = account_read(st, id, out, err);
    store__unlock(st);
    return rc;
}

int store_account_list(struct store *st, struct store_account **out, size_t *n, struct err *err)
{
    *out = NULL;
    *n = 0;
    store__lock(st);
    sqlite3_stmt *s;
    int rc = stmt(st, &s, err, "SELECT " ACCOUNT_COLS " FROM accounts ORDER BY created_at, id", "");
    if (rc == 0)
        rc = all_rows(st, s, sizeof(**out), read_account, release_account, (void **)out, n,
                      "listing accounts", err);
    store__unlock(st);
    return rc;
}

int store_account_key_add(struct store *st, const char *account_id, const char *secret_id,
                          const char *secret_key, struct err *err)
{
    store__lock(st);
    int rc = store__begin(st, err);
    struct store_account a = {0};
    if (rc == 0)
        rc = account_read(st, account_id, &a, err);
    store_account_release(&a);
    sqlite3_stmt *s;
    if (rc == 0)
        rc = stmt(st, &s, err,
                  "INSERT INTO credentials (secret_id, secret_key, account_id) VALUES (?, ?, ?)",
                  "sss", secret_id, secret_key, account_id);
    if (rc == 0)
        rc = done(st, s, err, "adding a credential");
    rc = store__finish(st, rc, err);
    store__unlock(st);
    return rc;
}

int store_credential_account(struct store *st, const char *secret_id, char **account_id,
                             struct err *err)
{
    store__lock(st);
    sqlite3_stmt *s;
    int rc =
        stmt(st, &s, err, "SELECT account_id FROM credentials WHERE secret_id = ?", "s", secret_id);
    if (rc == 0)
        rc = one_row(st, s, read_text, account_id, "reading a credential", "no such credential",
                     err);
    store__unlock(st);
    return rc;
}

int store_account_available(struct store *st, const char *account_id, int64_t *available,
                            struct err *err)
{
    struct store_account a = {0};
    int rc = store_account_get(st, account_id, &a, err);
    if (rc == 0)
        *available = a.balance - a.frozen;
    store_account_release(&a);
    return rc;
}

int store_billing_check(struct store *st, const char *account_id, int64_t *ledger_balance,
                        int64_t *ledger_frozen, struct err *err)
{
    store__lock(st);
    sqlite3_stmt *s;
    int rc = stmt(st, &s, err,
                  "SELECT"
                  " COALESCE(SUM(CASE kind WHEN 'TOPUP' THEN amount WHEN 'CHARGE' THEN -amount"
                  " ELSE 0 END), 0),"
                  " COALESCE(SUM(CASE kind WHEN 'FREEZE' THEN amount WHEN 'REFUND' THEN -amount"
                  " ELSE 0 END), 0)"
                  " FROM ledger WHERE account_id = ?",
                  "s", account_id);
    if (rc == 0) {
        if (sqlite3_step(s) == SQLITE_ROW) {
            *ledger_balance = sqlite3_column_int64(s, 0);
            *ledger_frozen = sqlite3_column_int64(s, 1);
        } else {
            rc = store__db_error(st, err, "summing the ledger");
        }
        sqlite3_finalize(s);
    }
    store__unlock(st);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* The ledger                                                               */

void store_ledger_row_release(struct store_ledger_row *r)
{
    if (!r)
        return;
    free(r->account_id);
    free(r->kind);
    free(r->region);
    free(r->group_id);
    free(r->service_id);
    free(r->tags_json);
    free(r->note);
}

static void read_ledger_row(sqlite3_stmt *s, void *row);

static void release_ledger_row(void *row)
{
    store_ledger_row_release(row);
}

#define LEDGER_WHERE                                                                               \
    " WHERE (?1 = '' OR account_id = ?1) AND (?2 = '' OR service_id = ?2) AND"                     \
    " (?3 = '' OR kind = ?3) AND t_ms >= ?4 AND (?5 = 0 OR t_ms < ?5)"

int store_ledger_list(struct store *st, const struct store_ledger_query *q,
                      struct store_ledger_row **out, size_t *n, uint64_t *total, struct err *err)
{
    *out = NULL;
    *n = 0;
    *total = 0;
    const char *acc = q->account_id ? q->account_id : "", *svc = q->service_id ? q->service_id : "",
               *kind = q->kind ? q->kind : "";
    store__lock(st);
    sqlite3_stmt *s;
    int rc = stmt(st, &s, err, "SELECT COUNT(*) FROM ledger" LEDGER_WHERE, "sssii", acc, svc, kind,
                  q->start_ms, q->end_ms);
    if (rc == 0) {
        if (sqlite3_step(s) == SQLITE_ROW)
            *total = (uint64_t)sqlite3_column_int64(s, 0);
        else
            rc = store__db_error(st, err, "counting ledger rows");
        sqlite3_finalize(s);
    }
    if (rc == 0)
        rc = stmt(st, &s, err,
                  "SELECT seq, account_id, kind, amount, balance, frozen, region, group_id,"
                  " service_id, tags, price, instance_ms, note, t_ms FROM ledger" LEDGER_WHERE
                  " ORDER BY seq LIMIT ?6 OFFSET ?7",
                  "sssiiii", acc, svc, kind, q->start_ms, q->end_ms,
                  q->limit ? (int64_t)q->limit : (int64_t)-1, (int64_t)q->offset);
    if (rc == 0)
        rc = all_rows(st, s, sizeof(**out), read_ledger_row, release_ledger_row, (void **)out, n,
                      "listing the ledger", err);
    store__unlock(st);
    return rc;
}

static void read_ledger_row(sqlite3_stmt *s, void *row)
{
    struct store_ledger_row *r = row;
    r->seq = sqlite3_column_int64(s, 0);
    r->account_id = col(s, 1);
    r->kind = col(s, 2);
    r->amount = sqlite3_column_int64(s, 3);
    r->balance = sqlite3_column_int64(s, 4);
    r->frozen = sqlite3_column_int64(s, 5);
    r->region = col(s, 6);
    r->group_id = col(s, 7);
    r->service_id = col(s, 8);
    r->tags_json = col(s, 9);
    r->price = sqlite3_column_int64(s, 10);
    r->instance_ms = sqlite3_column_int64(s, 11);
    r->note = col(s, 12);
    r->t_ms = sqlite3_column_int64(s, 13);
}

void store_usage_release(struct store_usage *u)
{
    if (u)
        free(u->key);
}

static void read_usage(sqlite3_stmt *s, void *row)
{
    struct store_usage *u = row;
    u->key = col(s, 0);
    u->amount = sqlite3_column_int64(s, 1);
    u->instance_ms = sqlite3_column_int64(s, 2);
    u->charges = sqlite3_column_int64(s, 3);
}

static void release_usage(void *row)
{
    store_usage_release(row);
}

int store_billing_usage(struct store *st, enum store_usage_by by, const char *tag_key,
                        const char *account_id, int64_t start_ms, int64_t end_ms,
                        struct store_usage **out, size_t *n, struct err *err)
{
    /* A tag's value from the tags the row was written with (JSON1). */
    static const char *const keys[] = {
        [STORE_USAGE_ACCOUNT] = "account_id",
        [STORE_USAGE_SERVICE] = "service_id",
        [STORE_USAGE_TAG] = "COALESCE((SELECT json_extract(j.value, '$.TagValue')"
                            " FROM json_each(ledger.tags) j"
                            " WHERE json_extract(j.value, '$.TagKey') = ?4 LIMIT 1), '')",
    };
    char *sql = xasprintf("SELECT %s AS k, SUM(amount), SUM(instance_ms), COUNT(*) FROM ledger"
                          " WHERE kind = 'CHARGE' AND (?1 = '' OR account_id = ?1) AND"
                          " t_ms >= ?2 AND (?3 = 0 OR t_ms < ?3) AND ?4 = ?4"
                          " GROUP BY k ORDER BY k",
                          keys[by]);
    *out = NULL;
    *n = 0;
    store__lock(st);
    sqlite3_stmt *s;
    int rc = stmt(st, &s, err, sql, "siis", account_id ? account_id : "", start_ms, end_ms,
                  tag_key ? tag_key : "");
    free(sql);
    if (rc == 0)
        rc = all_rows(st, s, sizeof(**out), read_usage, release_usage, (void **)out, n,
                      "summing usage", err);
    store__unlock(st);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Billed services                                                          */

void store_billing_release(struct store_billing *b)
{
    if (!b)
        return;
    free(b->service_id);
    free(b->account_id);
    free(b->region);
    free(b->group_id);
    free(b->tags_json);
    free(b->status);
}

#define BILLING_COLS                                                                               \
    "b.service_id, b.account_id, b.region, b.group_id, b.tags, b.price, b.status, b.frozen,"       \
    " b.hour_start_ms, b.since_ms, b.instances, b.accrued_ms"

static void read_billing(sqlite3_stmt *s, void *row)
{
    struct store_billing *b = row;
    b->service_id = col(s, 0);
    b->account_id = col(s, 1);
    b->region = col(s, 2);
    b->group_id = col(s, 3);
    b->tags_json = col(s, 4);
    b->price = sqlite3_column_int64(s, 5);
    b->status = col(s, 6);
    b->frozen = sqlite3_column_int64(s, 7);
    b->hour_start_ms = sqlite3_column_int64(s, 8);
    b->since_ms = sqlite3_column_int64(s, 9);
    b->instances = sqlite3_column_int(s, 10);
    b->accrued_ms = sqlite3_column_int64(s, 11);
}

int store_billing_get(struct store *st, const char *service_id, struct store_billing *out,
                      struct err *err)
{
    store__lock(st);
    sqlite3_stmt *s;
    int rc = stmt(st, &s, err, "SELECT " BILLING_COLS " FROM billing b WHERE service_id = ?", "s",
                  service_id);
    if (rc == 0)
        rc = one_row(st, s, read_billing, out, "reading billing", "the service is not billed", err);
    store__unlock(st);
    return rc;
}

static void subject_of(const struct store_billing *b, int64_t instance_ms, struct subject *sub)
{
    *sub = (struct subject){b->region,    b->group_id, b->service_id,
                            b->tags_json, b->price,    instance_ms};
}

static int billing_save(struct store *st, const struct store_billing *b, struct err *err)
{
    sqlite3_stmt *s;
    int rc = stmt(st, &s, err,
                  "INSERT INTO billing (service_id, account_id, region, group_id, tags, price,"
                  " status, frozen, hour_start_ms, since_ms, instances, accrued_ms)"
                  " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
                  " ON CONFLICT (service_id) DO UPDATE SET status = ?7, frozen = ?8,"
                  " hour_start_ms = ?9, since_ms = ?10, instances = ?11, accrued_ms = ?12",
                  "sssssisiiiii", b->service_id, b->account_id, b->region, b->group_id,
                  b->tags_json, b->price, b->status, b->frozen, b->hour_start_ms, b->since_ms,
                  (int64_t)b->instances, b->accrued_ms);
    return rc ? rc : done(st, s, err, "saving billing");
}

static void set_status(struct store_billing *b, const char *status)
{
    free(b->status);
    b->status = xstrdup(status);
}

/* Stop (keeping the count for a resume) or resume a service, in the
 * caller's transaction, as store_service_set_replicas() would. */
static int service_stop(struct store *st, const char *id, int64_t now_ms, struct err *err)
{
    char now[32];
    rfc3339(now_ms, now);
    sqlite3_stmt *s;
    int rc = stmt(st, &s, err,
                  "UPDATE services SET old_replicas = CASE WHEN stopped THEN old_replicas ELSE"
                  " replicas END, replicas = 0, stopped = 1, updated_at = ?1 WHERE id = ?2",
                  "ss", now, id);
    if (rc == 0)
        rc = done(st, s, err, "stopping a service");
    if (rc == 0)
        rc = stmt(st, &s, err,
                  "UPDATE service_groups SET updated_at = ?1 WHERE id ="
                  " (SELECT group_id FROM services WHERE id = ?2)",
                  "ss", now, id);
    return rc ? rc : done(st, s, err, "updating a group");
}

static int service_resume(struct store *st, const char *id, int replicas, int64_t now_ms,
                          struct err *err)
{
    char now[32];
    rfc3339(now_ms, now);
    sqlite3_stmt *s;
    int rc = stmt(st, &s, err,
                  "UPDATE services SET replicas = ?3, old_replicas = 0, stopped = 0,"
                  " updated_at = ?1 WHERE id = ?2",
                  "ssi", now, id, (int64_t)replicas);
    if (rc == 0)
        rc = done(st, s, err, "resuming a service");
    if (rc == 0)
        rc = stmt(st, &s, err,
                  "UPDATE service_groups SET updated_at = ?1 WHERE id ="
                  " (SELECT group_id FROM services WHERE id = ?2)",
                  "ss", now, id);
    return rc ? rc : done(st, s, err, "updating a group");
}

/* Freeze two hours of b's price x 'instances' and bill from now, or stop the
 * service for arrears when the free balance does not cover it (returns 1).
 * In the caller's transaction. */
static int billing_begin(struct store *st, struct store_billing *b, int instances, int64_t now_ms,
                         struct err *err)
{
    struct store_account a = {0};
    int rc = account_read(st, b->account_id, &a, err);
    int64_t available = a.balance - a.frozen;
    store_account_release(&a);
    if (rc)
        return rc;
    int64_t freeze = 2 * b->price * instances;
    b->hour_start_ms = b->since_ms = now_ms;
    b->accrued_ms = 0;
    if (available < freeze) {
        set_status(b, "ARREARS_STOP");
        b->frozen = 0;
        b->instances = 0;
        rc = service_stop(st, b->service_id, now_ms, err);
        if (rc == 0)
            rc = billing_save(st, b, err);
        return rc ? rc : 1;
    }
    struct subject sub;
    subject_of(b, 0, &sub);
    set_status(b, "BILLING");
    b->frozen = freeze;
    b->instances = instances;
    if (freeze > 0)
        rc = ledger_add(st, b->account_id, "FREEZE", freeze, &sub, "two hours at start", now_ms,
                        err);
    return rc ? rc : billing_save(st, b, err);
}

int store_billing_start(struct store *st, const struct store_billing *in, int instances,
                        int64_t now_ms, struct err *err)
{
    struct store_billing b = {
        .service_id = xstrdup(in->service_id),
        .account_id = xstrdup(in->account_id),
        .region = xstrdup(in->region),
        .group_id = xstrdup(in->group_id),
        .tags_json = xstrdup(in->tags_json ? in->tags_json : "[]"),
        .price = in->price,
        .status = xstrdup("BILLING"),
    };
    store__lock(st);
    int rc = store__begin(st, err);
    if (rc == 0)
        rc = billing_begin(st, &b, instances, now_ms, err);
    int fin = store__finish(st, rc < 0 ? rc : 0, err);
    store__unlock(st);
    store_billing_release(&b);
    return fin ? fin : rc;
}

/* Charge 'instance_ms' of b's price: rounded up to the fen. */
static int charge(struct store *st, const struct store_billing *b, int64_t instance_ms,
                  int64_t hour_ms, int64_t now_ms, const char *note, struct err *err)
{
    if (instance_ms <= 0)
        return 0;
    int64_t amount = (b->price * instance_ms + hour_ms - 1) / hour_ms;
    if (amount <= 0)
        return 0;
    struct subject sub;
    subject_of(b, instance_ms, &sub);
    return ledger_add(st, b->account_id, "CHARGE", amount, &sub, note, now_ms, err);
}

static int refund(struct store *st, struct store_billing *b, int64_t now_ms, const char *note,
                  struct err *err)
{
    int64_t amount = b->frozen;
    b->frozen = 0;
    if (amount <= 0)
        return 0;
    struct subject sub;
    subject_of(b, 0, &sub);
    return ledger_add(st, b->account_id, "REFUND", amount, &sub, note, now_ms, err);
}

struct svc_state {
    bool exists, stopped;
    int replicas, old_replicas;
};

/* One service's billing at 'now_ms', in the caller's transaction. Returns 1
 * when it stopped the service, 2 when the billing row is gone. */
static int tick_one(struct store *st, struct store_billing *b, const struct svc_state *sv,
                    int64_t now_ms, int64_t hour_ms, struct err *err)
{
    int n_now = sv->exists && !sv->stopped ? sv->replicas : 0;
    int rc = 0;
    if (strcmp(b->status, "BILLING") != 0) {
        if (!sv->exists) {
            sqlite3_stmt *s;
            rc = stmt(st, &s, err, "DELETE FROM billing WHERE service_id = ?", "s", b->service_id);
            if (rc == 0)
                rc = done(st, s, err, "deleting billing");
            return rc ? rc : 2;
        }
        if (sv->stopped)
            return 0;
        /* Resumed (by RESUME, a top-up or scaling): freeze again or stop. */
        return billing_begin(st, b, n_now, now_ms, err);
    }
    for (int k = 0; k < TICK_CATCH_UP_MAX && b->hour_start_ms + hour_ms <= now_ms; k++) {
        int64_t end = b->hour_start_ms + hour_ms;
        /* Dated at the end of the hour it charges, also when caught up later. */
        rc = charge(st, b, b->accrued_ms + (int64_t)b->instances * (end - b->since_ms), hour_ms,
                    end, "billing hour", err);
        if (rc)
            return rc;
        b->hour_start_ms = b->since_ms = end;
        b->accrued_ms = 0;
        if (n_now > 0) {
            struct store_account a = {0};
            if ((rc = account_read(st, b->account_id, &a, err)))
                return rc;
            /* Its own freeze is there to be spent on it; the others' are not. */
            int64_t spendable = a.balance - (a.frozen - b->frozen);
            store_account_release(&a);
            if (spendable < b->price * n_now) {
                b->accrued_ms = 0;
                b->instances = 0;
                b->since_ms = now_ms;
                set_status(b, "ARREARS_STOP");
                if ((rc = refund(st, b, now_ms, "stopped for arrears", err)) ||
                    (rc = service_stop(st, b->service_id, now_ms, err)) ||
                    (rc = billing_save(st, b, err)))
                    return rc;
                return 1;
            }
        }
    }
    bool ending = !sv->exists || sv->stopped;
    if (n_now != b->instances || ending) {
        b->accrued_ms += (int64_t)b->instances * (now_ms - b->since_ms);
        b->since_ms = now_ms;
        b->instances = n_now;
    }
    if (ending) {
        if ((rc = charge(st, b, b->accrued_ms, hour_ms, now_ms,
                         sv->exists ? "part of an hour, stopped" : "part of an hour, deleted",
                         err)) ||
            (rc = refund(st, b, now_ms, sv->exists ? "stopped" : "deleted", err)))
            return rc;
        b->accrued_ms = 0;
        set_status(b, "STOPPED");
    }
    return billing_save(st, b, err);
}

/* Read the billing row and its service's state, in the caller's transaction. */
static int load(struct store *st, const char *id, struct store_billing *b, struct svc_state *sv,
                struct err *err)
{
    sqlite3_stmt *s;
    int rc = stmt(st, &s, err,
                  "SELECT " BILLING_COLS ", v.id IS NOT NULL, COALESCE(v.stopped, 1),"
                  " COALESCE(v.replicas, 0), COALESCE(v.old_replicas, 0)"
                  " FROM billing b LEFT JOIN services v ON v.id = b.service_id"
                  " WHERE b.service_id = ?",
                  "s", id);
    if (rc)
        return rc;
    int step = sqlite3_step(s);
    if (step == SQLITE_ROW) {
        read_billing(s, b);
        sv->exists = sqlite3_column_int(s, 12);
        sv->stopped = sqlite3_column_int(s, 13);
        sv->replicas = sqlite3_column_int(s, 14);
        sv->old_replicas = sqlite3_column_int(s, 15);
    } else {
        rc = step == SQLITE_DONE ? ERR_NOTFOUND : store__db_error(st, err, "reading billing");
    }
    sqlite3_finalize(s);
    return rc;
}

/* The ids of the billed services (of one account, or all), oldest first. */
static int billing_ids(struct store *st, const char *account_id, const char *status, char ***ids,
                       size_t *n, struct err *err)
{
    *ids = NULL;
    *n = 0;
    sqlite3_stmt *s;
    int rc = stmt(st, &s, err,
                  "SELECT service_id FROM billing WHERE (?1 = '' OR account_id = ?1) AND"
                  " (?2 = '' OR status = ?2) ORDER BY rowid",
                  "ss", account_id ? account_id : "", status ? status : "");
    return rc ? rc
              : all_rows(st, s, sizeof(**ids), read_text, release_text, (void **)ids, n,
                         "listing billing", err);
}

static void free_ids(char **ids, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(ids[i]);
    free(ids);
}

int store_billing_tick(struct store *st, int64_t now_ms, int64_t hour_ms,
                       struct store_billing **stopped, size_t *nstopped, struct err *err)
{
    *stopped = NULL;
    *nstopped = 0;
    char **ids;
    size_t n;
    store__lock(st);
    int rc = billing_ids(st, NULL, NULL, &ids, &n, err);
    store__unlock(st);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        struct store_billing b = {0};
        struct svc_state sv;
        store__lock(st);
        rc = store__begin(st, err);
        int r = 0;
        if (rc == 0) {
            r = load(st, ids[i], &b, &sv, err);
            if (r == 0)
                r = tick_one(st, &b, &sv, now_ms, hour_ms, err);
            if (r == ERR_NOTFOUND) /* gone since the list was read */
                r = 0;
            rc = store__finish(st, r < 0 ? r : 0, err);
        }
        store__unlock(st);
        if (rc == 0 && r == 1) {
            *stopped = xrealloc(*stopped, (*nstopped + 1) * sizeof(**stopped));
            (*stopped)[(*nstopped)++] = b;
        } else {
            store_billing_release(&b);
        }
    }
    free_ids(ids, n);
    return rc;
}

int store_account_topup(struct store *st, const char *account_id, int64_t amount, const char *note,
                        int64_t now_ms, char ***resumed, size_t *nresumed, struct err *err)
{
    if (resumed) {
        *resumed = NULL;
        *nresumed = 0;
    }
    char **ids = NULL;
    size_t n = 0, cap = 0;
    store__lock(st);
    int rc = store__begin(st, err);
    if (rc == 0)
        rc = ledger_add(st, account_id, "TOPUP", amount, NULL, note, now_ms, err);
    if (rc == 0)
        rc = billing_ids(st, account_id, "ARREARS_STOP", &ids, &n, err);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        struct store_billing b = {0};
        struct svc_state sv;
        rc = load(st, ids[i], &b, &sv, err);
        if (rc == 0 && sv.exists && sv.stopped) {
            struct store_account a = {0};
            int count = sv.old_replicas > 0 ? sv.old_replicas : 1;
            rc = account_read(st, account_id, &a, err);
            if (rc == 0 && a.balance - a.frozen >= 2 * b.price * count) {
                rc = service_resume(st, b.service_id, count, now_ms, err);
                if (rc == 0 && billing_begin(st, &b, count, now_ms, err) != 0)
                    rc = err_set(err, ERR_INTERNAL, "resuming '%s' after a top-up", ids[i]);
                if (rc == 0 && resumed) {
                    if (*nresumed == cap) {
                        cap = cap ? cap * 2 : 8;
                        *resumed = xrealloc(*resumed, cap * sizeof(**resumed));
                    }
                    (*resumed)[(*nresumed)++] = xstrdup(b.service_id);
                }
            }
            store_account_release(&a);
        }
        store_billing_release(&b);
    }
    free_ids(ids, n);
    rc = store__finish(st, rc, err);
    store__unlock(st);
    if (rc && resumed) {
        free_ids(*resumed, *nresumed);
        *resumed = NULL;
        *nresumed = 0;
    }
    if (rc == 0)
        log_info("store", "account %s topped up by %lld fen", account_id, (long long)amount);
    return rc;
}
