/* store.c - SQLite behind a mutex. Migrations are an ordered list of SQL
 * scripts; PRAGMA user_version records how many have run. Each public call
 * runs in one transaction (BEGIN IMMEDIATE for writes, so a writer never has
 * to upgrade a read lock and deadlock). */
#include "store/store.h"
#include "store/store_int.h"
#include "base/alloc.h"
#include "base/log.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct store {
    sqlite3 *db;
    pthread_mutex_t lock;
};

static const char *const migrations[] = {
    /* 1: credentials and the model repository */
    "CREATE TABLE credentials ("
    "  secret_id TEXT PRIMARY KEY,"
    "  secret_key TEXT NOT NULL,"
    "  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ','now')));"
    "CREATE TABLE models ("
    "  id TEXT PRIMARY KEY,"
    "  region TEXT NOT NULL,"
    "  name TEXT NOT NULL,"
    "  tags TEXT NOT NULL DEFAULT '[]',"
    "  created_at TEXT NOT NULL,"
    "  UNIQUE (region, name));"
    "CREATE TABLE model_versions ("
    "  id TEXT PRIMARY KEY,"
    "  model_id TEXT NOT NULL REFERENCES models(id) ON DELETE CASCADE,"
    "  region TEXT NOT NULL,"
    "  version TEXT NOT NULL,"
    "  status INTEGER NOT NULL,"
    "  progress INTEGER NOT NULL DEFAULT 0,"
    "  error TEXT NOT NULL DEFAULT '',"
    "  source_path TEXT NOT NULL,"
    "  move_mode TEXT NOT NULL,"
    "  path TEXT NOT NULL,"
    "  format TEXT NOT NULL,"
    "  attrs TEXT NOT NULL DEFAULT '{}',"
    "  created_at TEXT NOT NULL,"
    "  UNIQUE (model_id, version));"
    "CREATE INDEX model_versions_by_model ON model_versions(model_id);",
    /* 2: service groups and their versions (services) */
    "CREATE TABLE service_groups ("
    "  id TEXT PRIMARY KEY,"
    "  region TEXT NOT NULL,"
    "  name TEXT NOT NULL,"
    "  tags TEXT NOT NULL DEFAULT '[]',"
    "  charge_type TEXT NOT NULL,"
    "  auth_enable INTEGER NOT NULL DEFAULT 0,"
    "  next_version INTEGER NOT NULL DEFAULT 1,"
    "  created_at TEXT NOT NULL,"
    "  updated_at TEXT NOT NULL,"
    "  UNIQUE (region, name));"
    "CREATE TABLE services ("
    "  id TEXT PRIMARY KEY,"
    "  group_id TEXT NOT NULL REFERENCES service_groups(id) ON DELETE CASCADE,"
    "  region TEXT NOT NULL,"
    "  version INTEGER NOT NULL,"
    "  description TEXT NOT NULL DEFAULT '',"
    "  spec TEXT NOT NULL,"
    "  model_version_id TEXT NOT NULL DEFAULT '',"
    "  replicas INTEGER NOT NULL,"
    "  old_replicas INTEGER NOT NULL DEFAULT 0,"
    "  weight INTEGER NOT NULL,"
    "  stopped INTEGER NOT NULL DEFAULT 0,"
    "  created_at TEXT NOT NULL,"
    "  updated_at TEXT NOT NULL,"
    "  UNIQUE (group_id, version));"
    "CREATE INDEX services_by_model_version ON services(model_version_id);"
    "CREATE TABLE instances ("
    "  id TEXT PRIMARY KEY,"
    "  service_id TEXT NOT NULL,"
    "  pgid INTEGER NOT NULL,"
    "  start_ticks INTEGER NOT NULL,"
    "  port INTEGER NOT NULL);",
    /* 3: call authentication: the group's application key pair and its tokens.
     * Secrets are sealed (crypto_seal) with a key kept outside the database;
     * tokens are found by the SHA-256 of their value. */
    "ALTER TABLE service_groups ADD COLUMN app_key TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE service_groups ADD COLUMN app_secret TEXT NOT NULL DEFAULT '';"
    "CREATE TABLE auth_tokens ("
    "  id TEXT PRIMARY KEY,"
    "  group_id TEXT NOT NULL REFERENCES service_groups(id) ON DELETE CASCADE,"
    "  value_hash TEXT NOT NULL UNIQUE,"
    "  value_sealed TEXT NOT NULL,"
    "  name TEXT NOT NULL DEFAULT '',"
    "  description TEXT NOT NULL DEFAULT '',"
    "  limits TEXT NOT NULL DEFAULT '[]',"
    "  status TEXT NOT NULL DEFAULT 'Enabled',"
    "  created_at TEXT NOT NULL);"
    "CREATE INDEX auth_tokens_by_group ON auth_tokens(group_id, created_at);",
    /* 4: events (Kubernetes-style): one row per distinct occurrence, folded
     * by the fold key (the message, or '' when the emitter folds on the
     * reason alone) with a count and the first and last times (Unix ms).
     * Not tied to the services by a foreign key: a deleted version's events
     * stay until they age out. */
    "CREATE TABLE events ("
    "  seq INTEGER PRIMARY KEY,"
    "  id TEXT NOT NULL UNIQUE,"
    "  region TEXT NOT NULL,"
    "  group_id TEXT NOT NULL,"
    "  service_id TEXT NOT NULL,"
    "  kind TEXT NOT NULL,"
    "  name TEXT NOT NULL,"
    "  type TEXT NOT NULL,"
    "  reason TEXT NOT NULL,"
    "  message TEXT NOT NULL,"
    "  fold_key TEXT NOT NULL,"
    "  count INTEGER NOT NULL,"
    "  first_ms INTEGER NOT NULL,"
    "  last_ms INTEGER NOT NULL,"
    "  UNIQUE (group_id, service_id, kind, name, type, reason, fold_key));"
    "CREATE INDEX events_by_region ON events(region, last_ms);"
    "CREATE INDEX events_by_age ON events(last_ms);",
    /* 5: accounts, their keys and the ledger (store/billing.c). Amounts are
     * fen; an account's balance and frozen sums are what its ledger rows add
     * up to (store_billing_check). 'billing' holds what each billed service
     * froze and the instance-time it has used in its current billing hour. */
    "CREATE TABLE accounts ("
    "  id TEXT PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE,"
    "  balance INTEGER NOT NULL DEFAULT 0,"
    "  frozen INTEGER NOT NULL DEFAULT 0,"
    "  created_at TEXT NOT NULL);"
    "ALTER TABLE credentials ADD COLUMN account_id TEXT NOT NULL DEFAULT '';"
    "CREATE TABLE ledger ("
    "  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  account_id TEXT NOT NULL,"
    "  kind TEXT NOT NULL,"
    "  amount INTEGER NOT NULL,"
    "  balance INTEGER NOT NULL,"
    "  frozen INTEGER NOT NULL,"
    "  region TEXT NOT NULL DEFAULT '',"
    "  group_id TEXT NOT NULL DEFAULT '',"
    "  service_id TEXT NOT NULL DEFAULT '',"
    "  tags TEXT NOT NULL DEFAULT '[]',"
    "  price INTEGER NOT NULL DEFAULT 0,"
    "  instance_ms INTEGER NOT NULL DEFAULT 0,"
    "  note TEXT NOT NULL DEFAULT '',"
    "  t_ms INTEGER NOT NULL);"
    "CREATE INDEX ledger_by_account ON ledger(account_id, seq);"
    "CREATE INDEX ledger_by_time ON ledger(t_ms);"
    "CREATE TABLE billing ("
    "  service_id TEXT PRIMARY KEY,"
    "  account_id TEXT NOT NULL,"
    "  region TEXT NOT NULL,"
    "  group_id TEXT NOT NULL,"
    "  tags TEXT NOT NULL DEFAULT '[]',"
    "  price INTEGER NOT NULL,"
    "  status TEXT NOT NULL,"
    "  frozen INTEGER NOT NULL DEFAULT 0,"
    "  hour_start_ms INTEGER NOT NULL,"
    "  since_ms INTEGER NOT NULL,"
    "  instances INTEGER NOT NULL,"
    "  accrued_ms INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX billing_by_account ON billing(account_id);",
    /* 6: access policies of API keys (api/policy.h): a CAM-shaped policy,
     * NULL for none, and whether the key is an administrator's. The keys
     * made before this are berthd's administrator key. */
    "ALTER TABLE credentials ADD COLUMN policy TEXT;"
    "ALTER TABLE credentials ADD COLUMN admin INTEGER NOT NULL DEFAULT 0;"
    "UPDATE credentials SET admin = 1;",
    /* 7: what a restarted berthd needs to adopt an instance that outlived
     * its predecessor: the keeper (pid and start time), the spec it runs,
     * when it started and its restarts. */
    "ALTER TABLE instances ADD COLUMN keeper_pid INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE instances ADD COLUMN keeper_ticks INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE instances ADD COLUMN spec TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE instances ADD COLUMN started_at TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE instances ADD COLUMN restarts INTEGER NOT NULL DEFAULT 0;",
};
#define NMIGRATIONS ((int)(sizeof(migrations) / sizeof(migrations[0])))

static int db_error(struct store *st, struct err *err, const char *what)
{
    int code = sqlite3_errcode(st->db);
    int rc = code == SQLITE_CONSTRAINT                     ? ERR_EXISTS
             : code == SQLITE_FULL || code == SQLITE_IOERR ? ERR_SYS(EIO)
                                                           : ERR_INTERNAL;
    return err_set(err, rc, "store: %s: %s", what, sqlite3_errmsg(st->db));
}

static int exec(struct store *st, const char *sql, struct err *err)
{
    char *msg = NULL;
    if (sqlite3_exec(st->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        int rc = err_set(err, ERR_INTERNAL, "store: %s", msg ? msg : "unknown error");
        sqlite3_free(msg);
        return rc;
    }
    return 0;
}

static void lock(struct store *st)
{
    pthread_mutex_lock(&st->lock);
}

static void unlock(struct store *st)
{
    pthread_mutex_unlock(&st->lock);
}

static int begin_write(struct store *st, struct err *err)
{
    return exec(st, "BEGIN IMMEDIATE", err);
}

static int finish(struct store *st, int rc, struct err *err)
{
    if (rc == 0)
        return exec(st, "COMMIT", err);
    exec(st, "ROLLBACK", NULL);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Open and migrate                                                         */

static int migrate(struct store *st, struct err *err)
{
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(st->db, "PRAGMA user_version", -1, &s, NULL) != SQLITE_OK)
        return db_error(st, err, "reading the schema version");
    int version = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int(s, 0) : 0;
    sqlite3_finalize(s);
    if (version > NMIGRATIONS)
        return err_set(err, ERR_UNSUPPORTED,
                       "store: schema version %d is newer than this berthd knows (%d)", version,
                       NMIGRATIONS);
    for (int v = version; v < NMIGRATIONS; v++) {
        char pragma[64];
        snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", v + 1);
        int rc = begin_write(st, err);
        if (rc == 0)
            rc = exec(st, migrations[v], err);
        if (rc == 0)
            rc = exec(st, pragma, err);
        if ((rc = finish(st, rc, err)))
            return err_prefix(err, "migration %d: ", v + 1);
        log_info("store", "migrated schema to version %d", v + 1);
    }
    return 0;
}

int store_open(const char *path, struct store **out, struct err *err)
{
    struct store *st = xcalloc(1, sizeof(*st));
    pthread_mutex_init(&st->lock, NULL);
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX;
    if (sqlite3_open_v2(path, &st->db, flags, NULL) != SQLITE_OK) {
        int rc = err_set(err, ERR_SYS(EIO), "cannot open store '%s': %s", path,
                         st->db ? sqlite3_errmsg(st->db) : "out of memory");
        store_close(st);
        return rc;
    }
    sqlite3_busy_timeout(st->db, 5000);
    int rc = exec(st,
                  "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"
                  "PRAGMA foreign_keys = ON;",
                  err);
    if (rc == 0)
        rc = migrate(st, err);
    if (rc) {
        store_close(st);
        return rc;
    }
    *out = st;
    return 0;
}

void store_close(struct store *st)
{
    if (!st)
        return;
    sqlite3_close(st->db);
    pthread_mutex_destroy(&st->lock);
    free(st);
}

int store_schema_version(struct store *st)
{
    (void)st;
    return NMIGRATIONS;
}

/* ------------------------------------------------------------------------ */
/* Statements                                                               */

/* Prepare 'sql' and bind the NULL-terminated list of text arguments. */
static int prepare(struct store *st, sqlite3_stmt **s, struct err *err, const char *sql,
                   const char *const *args)
{
    if (sqlite3_prepare_v2(st->db, sql, -1, s, NULL) != SQLITE_OK)
        return db_error(st, err, "prepare");
    for (int i = 0; args && args[i]; i++)
        sqlite3_bind_text(*s, i + 1, args[i], -1, SQLITE_STATIC);
    return 0;
}

/* Run a statement that returns no rows. */
static int run(struct store *st, struct err *err, const char *what, const char *sql,
               const char *const *args)
{
    sqlite3_stmt *s;
    int rc = prepare(st, &s, err, sql, args);
    if (rc)
        return rc;
    if (sqlite3_step(s) != SQLITE_DONE)
        rc = db_error(st, err, what);
    sqlite3_finalize(s);
    return rc;
}

/* Run a query whose first row's first column is an integer: *found says
 * whether there was a row, *out holds the value. */
static int query_int(struct store *st, struct err *err, const char *what, const char *sql,
                     const char *const *args, bool *found, int *out)
{
    sqlite3_stmt *s;
    int rc = prepare(st, &s, err, sql, args);
    if (rc)
        return rc;
    int step = sqlite3_step(s);
    *found = step == SQLITE_ROW;
    if (step == SQLITE_ROW)
        *out = sqlite3_column_int(s, 0);
    else if (step != SQLITE_DONE)
        rc = db_error(st, err, what);
    sqlite3_finalize(s);
    return rc;
}

/* The current UTC time as the store writes it (RFC 3339). */
static void rfc3339_now(char out[32])
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static char *col(sqlite3_stmt *s, int i)
{
    const unsigned char *t = sqlite3_column_text(s, i);
    return xstrdup(t ? (const char *)t : "");
}

/* Run a query and read every row with 'read' into a growing array of
 * 'size'-byte records; on failure the records read so far are released. */
typedef void (*row_read_fn)(sqlite3_stmt *s, void *row);
typedef void (*row_release_fn)(void *row);

static int list_rows(struct store *st, const char *sql, const char *const *args, size_t size,
                     row_read_fn read, row_release_fn release, void **out, size_t *n,
                     const char *what, struct err *err)
{
    lock(st);
    sqlite3_stmt *s = NULL;
    int rc = prepare(st, &s, err, sql, args);
    char *list = NULL;
    size_t count = 0;
    while (rc == 0) {
        int step = sqlite3_step(s);
        if (step == SQLITE_DONE)
            break;
        if (step != SQLITE_ROW) {
            rc = db_error(st, err, what);
            break;
        }
        list = xrealloc(list, (count + 1) * size);
        memset(list + count * size, 0, size);
        read(s, list + count++ * size);
    }
    sqlite3_finalize(s);
    unlock(st);
    if (rc) {
        for (size_t i = 0; i < count; i++)
            release(list + i * size);
        free(list);
        return rc;
    }
    *out = list;
    *n = count;
    return 0;
}

/* The public release functions, typed for list_rows(). */
static void release_model(void *row)
{
    store_model_release(row);
}

static void release_model_version(void *row)
{
    store_model_version_release(row);
}

static void release_group(void *row)
{
    store_group_release(row);
}

static void release_service(void *row)
{
    store_service_release(row);
}

static void release_instance(void *row)
{
    store_instance_release(row);
}

/* ------------------------------------------------------------------------ */
/* Credentials                                                              */

int store_credential_add(struct store *st, const char *secret_id, const char *secret_key,
                         struct err *err)
{
    lock(st);
    const char *args[] = {secret_id, secret_key, NULL};
    int rc = begin_write(st, err);
    if (rc == 0)
        rc = run(st, err, "adding a credential",
                 "INSERT INTO credentials (secret_id, secret_key, admin) VALUES (?, ?, 1)", args);
    rc = finish(st, rc, err);
    unlock(st);
    return rc;
}

int store_credential_get(struct store *st, const char *secret_id, char **secret_key,
                         struct err *err)
{
    lock(st);
    sqlite3_stmt *s;
    const char *args[] = {secret_id, NULL};
    int rc = prepare(st, &s, err, "SELECT secret_key FROM credentials WHERE secret_id = ?", args);
    if (rc == 0) {
        int step = sqlite3_step(s);
        if (step == SQLITE_ROW)
            *secret_key = col(s, 0);
        else if (step == SQLITE_DONE)
            rc = err_set(err, ERR_NOTFOUND, "no credential '%s'", secret_id);
        else
            rc = db_error(st, err, "reading a credential");
        sqlite3_finalize(s);
    }
    unlock(st);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Model repository                                                         */

const char *store_import_status_name(enum store_import_status s)
{
    switch (s) {
    case STORE_IMPORT_RUNNING:
        return "STATUS_RUNNING";
    case STORE_IMPORT_SUCCESS:
        return "STATUS_SUCCESS";
    case STORE_IMPORT_FAILED:
        return "STATUS_FAILED";
    }
    return "STATUS_FAILED";
}

void store_model_release(struct store_model *m)
{
    free(m->id);
    free(m->region);
    free(m->name);
    free(m->tags_json);
    free(m->created_at);
    memset(m, 0, sizeof(*m));
}

void store_model_version_release(struct store_model_version *v)
{
    free(v->id);
    free(v->model_id);
    free(v->model_name);
    free(v->region);
    free(v->version);
    free(v->error);
    free(v->source_path);
    free(v->move_mode);
    free(v->path);
    free(v->format);
    free(v->attrs_json);
    free(v->created_at);
    memset(v, 0, sizeof(*v));
}

int store_model_version_create(struct store *st, const struct store_model *model, bool new_model,
                               const struct store_model_version *v, struct err *err)
{
    lock(st);
    int rc = begin_write(st, err);
    if (rc == 0 && new_model) {
        const char *args[] = {model->id,        model->region,     model->name,
                              model->tags_json, model->created_at, NULL};
        rc =
            run(st, err, "adding a model",
                "INSERT INTO models (id, region, name, tags, created_at) VALUES (?,?,?,?,?)", args);
        if (rc == ERR_EXISTS)
            rc = err_set(err, ERR_EXISTS, "a model named '%s' already exists in region '%s'",
                         model->name, model->region);
    }
    if (rc == 0) {
        char status[8];
        snprintf(status, sizeof(status), "%d", (int)v->status);
        const char *args[] = {v->id,     v->model_id,    v->region,     v->version,
                              status,    v->source_path, v->move_mode,  v->path,
                              v->format, v->attrs_json,  v->created_at, NULL};
        rc = run(st, err, "adding a model version",
                 "INSERT INTO model_versions (id, model_id, region, version, status, source_path,"
                 " move_mode, path, format, attrs, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                 args);
        if (rc == ERR_EXISTS)
            rc = err_set(err, ERR_EXISTS, "model '%s' already has a version '%s'", model->name,
                         v->version);
    }
    rc = finish(st, rc, err);
    unlock(st);
    return rc;
}

#define MODEL_COLS "id, region, name, tags, created_at"

static void read_model(sqlite3_stmt *s, void *row)
{
    struct store_model *m = row;
    m->id = col(s, 0);
    m->region = col(s, 1);
    m->name = col(s, 2);
    m->tags_json = col(s, 3);
    m->created_at = col(s, 4);
}

int store_model_get(struct store *st, const char *region, const char *id, struct store_model *out,
                    struct err *err)
{
    lock(st);
    sqlite3_stmt *s;
    const char *args[] = {id, region, NULL};
    int rc =
        prepare(st, &s, err, "SELECT " MODEL_COLS " FROM models WHERE id = ? AND region = ?", args);
    if (rc == 0) {
        int step = sqlite3_step(s);
        if (step == SQLITE_ROW)
            read_model(s, out);
        else if (step == SQLITE_DONE)
            rc = err_set(err, ERR_NOTFOUND, "model '%s' does not exist", id);
        else
            rc = db_error(st, err, "reading a model");
        sqlite3_finalize(s);
    }
    unlock(st);
    return rc;
}

int store_model_list(struct store *st, const char *region, struct store_model **out, size_t *n,
                     struct err *err)
{
    const char *args[] = {region, NULL};
    return list_rows(
        st, "SELECT " MODEL_COLS " FROM models WHERE region = ? ORDER BY created_at, id", args,
        sizeof(**out), read_model, release_model, (void **)out, n, "listing models", err);
}

#define VERSION_COLS                                                                               \
    "v.id, v.model_id, m.name, v.region, v.version, v.status, v.progress, v.error,"                \
    " v.source_path, v.move_mode, v.path, v.format, v.attrs, v.created_at"

static void read_version(sqlite3_stmt *s, void *row)
{
    struct store_model_version *v = row;
    v->id = col(s, 0);
    v->model_id = col(s, 1);
    v->model_name = col(s, 2);
    v->region = col(s, 3);
    v->version = col(s, 4);
    v->status = (enum store_import_status)sqlite3_column_int(s, 5);
    v->progress = sqlite3_column_int(s, 6);
    v->error = col(s, 7);
    v->source_path = col(s, 8);
    v->move_mode = col(s, 9);
    v->path = col(s, 10);
    v->format = col(s, 11);
    v->attrs_json = col(s, 12);
    v->created_at = col(s, 13);
}

static int list_versions(struct store *st, const char *sql, const char *const *args,
                         struct store_model_version **out, size_t *n, struct err *err)
{
    return list_rows(st, sql, args, sizeof(**out), read_version, release_model_version,
                     (void **)out, n, "listing model versions", err);
}

int store_model_version_get(struct store *st, const char *region, const char *id,
                            struct store_model_version *out, struct err *err)
{
    struct store_model_version *list;
    size_t n;
    const char *args[] = {id, region, NULL};
    int rc = list_versions(st,
                           region ? "SELECT " VERSION_COLS " FROM model_versions v JOIN models m"
                                    " ON m.id = v.model_id WHERE v.id = ? AND v.region = ?"
                                  : "SELECT " VERSION_COLS " FROM model_versions v JOIN models m"
                                    " ON m.id = v.model_id WHERE v.id = ?",
                           args, &list, &n, err);
    if (rc)
        return rc;
    if (n == 0) {
        free(list);
        return err_set(err, ERR_NOTFOUND, "model version '%s' does not exist", id);
    }
    *out = list[0];
    free(list);
    return 0;
}

int store_model_version_list(struct store *st, const char *region, const char *model_id,
                             struct store_model_version **out, size_t *n, struct err *err)
{
    const char *args[] = {model_id, region, NULL};
    return list_versions(st,
                         "SELECT " VERSION_COLS " FROM model_versions v JOIN models m ON"
                         " m.id = v.model_id WHERE v.model_id = ? AND v.region = ?"
                         " ORDER BY v.created_at, v.rowid",
                         args, out, n, err);
}

int store_model_version_list_running(struct store *st, struct store_model_version **out, size_t *n,
                                     struct err *err)
{
    return list_versions(st,
                         "SELECT " VERSION_COLS " FROM model_versions v JOIN models m ON"
                         " m.id = v.model_id WHERE v.status = 0 ORDER BY v.rowid",
                         NULL, out, n, err);
}

int store_model_version_set_status(struct store *st, const char *id,
                                   enum store_import_status status, int progress, const char *error,
                                   struct err *err)
{
    char sbuf[8], pbuf[8];
    snprintf(sbuf, sizeof(sbuf), "%d", (int)status);
    snprintf(pbuf, sizeof(pbuf), "%d", progress);
    const char *args[] = {sbuf, pbuf, error ? error : "", id, NULL};
    lock(st);
    int rc = begin_write(st, err);
    if (rc == 0)
        rc =
            run(st, err, "updating an import",
                "UPDATE model_versions SET status = ?, progress = ?, error = ? WHERE id = ?", args);
    rc = finish(st, rc, err);
    unlock(st);
    return rc;
}

/* What a delete checks or does first, in its transaction. */
typedef int (*before_delete_fn)(struct store *st, const char *id, const char *region,
                                struct err *err);

static int delete_where(struct store *st, before_delete_fn before, const char *sql,
                        const char *const *args, const char *what, const char *id, struct err *err)
{
    lock(st);
    int rc = begin_write(st, err);
    if (rc == 0 && before)
        rc = before(st, id, args[1], err);
    if (rc == 0)
        rc = run(st, err, what, sql, args);
    if (rc == 0 && sqlite3_changes(st->db) == 0)
        rc = err_set(err, ERR_NOTFOUND, "%s '%s' does not exist", what, id);
    rc = finish(st, rc, err);
    unlock(st);
    return rc;
}

/* Refuse (ERR_UNSUPPORTED) when the services counted by 'sql' exist. Run in
 * the transaction of the delete, so that a service created at the same time
 * is either counted here or refused by check_version_usable(). */
static int check_unused(struct store *st, const char *sql, const char *id, const char *region,
                        const char *what, struct err *err)
{
    const char *args[] = {id, region, NULL};
    bool found;
    int users = 0;
    int rc = query_int(st, err, "counting the users of a model version", sql, args, &found, &users);
    if (rc == 0 && users)
        rc = err_set(err, ERR_UNSUPPORTED, "%s %s is used by %d service%s; delete those first",
                     what, id, users, users == 1 ? "" : "s");
    return rc;
}

static int version_unused(struct store *st, const char *id, const char *region, struct err *err)
{
    return check_unused(st,
                        "SELECT count(*) FROM services WHERE model_version_id = ?1 AND"
                        " region = ?2",
                        id, region, "model version", err);
}

static int model_unused(struct store *st, const char *id, const char *region, struct err *err)
{
    return check_unused(st,
                        "SELECT count(*) FROM services WHERE model_version_id IN"
                        " (SELECT id FROM model_versions WHERE model_id = ?1 AND region = ?2)",
                        id, region, "a version of model", err);
}

int store_model_version_delete(struct store *st, const char *region, const char *id,
                               struct err *err)
{
    const char *args[] = {id, region, NULL};
    return delete_where(st, version_unused,
                        "DELETE FROM model_versions WHERE id = ? AND region = ?", args,
                        "model version", id, err);
}

int store_model_delete(struct store *st, const char *region, const char *id, struct err *err)
{
    /* ON DELETE CASCADE removes the versions in the same transaction. */
    const char *args[] = {id, region, NULL};
    return delete_where(st, model_unused, "DELETE FROM models WHERE id = ? AND region = ?", args,
                        "model", id, err);
}

/* A service may run only a version that exists and is imported; checked in
 * the transaction that writes the service ('sql' selects the status). */
static int check_version_usable(struct store *st, const char *sql, const char *const *args,
                                const char *version_id, struct err *err)
{
    bool found;
    int status = 0;
    int rc = query_int(st, err, "reading a model version", sql, args, &found, &status);
    if (rc)
        return rc;
    if (!found)
        return err_set(err, ERR_NOTFOUND, "model version '%s' does not exist", version_id);
    if (status == STORE_IMPORT_RUNNING)
        return err_set(err, ERR_UNAVAILABLE, "model version %s is still being imported",
                       version_id);
    if (status != STORE_IMPORT_SUCCESS)
        return err_set(err, ERR_UNAVAILABLE, "model version %s failed to import", version_id);
    return 0;
}

/* Set the update time of the group of service 'id', in the open transaction. */
static int touch_group_of(struct store *st, const char *id, const char *now, struct err *err)
{
    const char *args[] = {now, id, NULL};
    return run(st, err, "updating a group",
               "UPDATE service_groups SET updated_at = ?1 WHERE id ="
               " (SELECT group_id FROM services WHERE id = ?2)",
               args);
}

/* ------------------------------------------------------------------------ */
/* Service groups and services                                              */

void store_group_release(struct store_group *g)
{
    free(g->id);
    free(g->region);
    free(g->name);
    free(g->tags_json);
    free(g->charge_type);
    free(g->app_key);
    free(g->app_secret);
    free(g->created_at);
    free(g->updated_at);
    memset(g, 0, sizeof(*g));
}

void store_service_release(struct store_service *s)
{
    free(s->id);
    free(s->group_id);
    free(s->region);
    free(s->description);
    free(s->spec_json);
    free(s->model_version_id);
    free(s->created_at);
    free(s->updated_at);
    memset(s, 0, sizeof(*s));
}

static int bind_int(sqlite3_stmt *s, int idx, long long v)
{
    return sqlite3_bind_int64(s, idx, v);
}

/* Insert token 't' into group 'group_id' (in the caller's transaction),
 * within the group's cap. */
static int token_insert(struct store *st, const char *group_id, const struct store_token *t,
                        struct err *err)
{
    bool found;
    int count = 0;
    const char *gargs[] = {group_id, NULL};
    int rc =
        query_int(st, err, "counting tokens", "SELECT count(*) FROM auth_tokens WHERE group_id = ?",
                  gargs, &found, &count);
    if (rc == 0 && count >= STORE_TOKENS_MAX)
        return err_set(err, ERR_TOOBIG,
                       "service group '%s' already has %d tokens, the most it may have", group_id,
                       STORE_TOKENS_MAX);
    const char *args[] = {t->id,
                          group_id,
                          t->value_hash,
                          t->value_sealed,
                          t->name ? t->name : "",
                          t->description ? t->description : "",
                          t->limits_json ? t->limits_json : "[]",
                          t->status ? t->status : "Enabled",
                          t->created_at,
                          NULL};
    if (rc == 0)
        rc = run(
            st, err, "adding a token",
            "INSERT INTO auth_tokens (id, group_id, value_hash, value_sealed, name, description,"
            " limits, status, created_at) VALUES (?,?,?,?,?,?,?,?,?)",
            args);
    return rc;
}

int store_service_create(struct store *st, const struct store_group *g, bool new_group,
                         const struct store_token *token, struct store_service *s, struct err *err)
{
    lock(st);
    int rc = begin_write(st, err);
    if (rc == 0 && new_group) {
        const char *args[] = {g->id,
                              g->region,
                              g->name,
                              g->tags_json,
                              g->charge_type,
                              g->auth_enable ? "1" : "0",
                              g->app_key ? g->app_key : "",
                              g->app_secret ? g->app_secret : "",
                              g->created_at,
                              g->created_at,
                              NULL};
        rc = run(st, err, "adding a service group",
                 "INSERT INTO service_groups (id, region, name, tags, charge_type, auth_enable,"
                 " app_key, app_secret, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
                 args);
        if (rc == ERR_EXISTS)
            rc = err_set(err, ERR_EXISTS, "a service group named '%s' already exists in '%s'",
                         g->name, g->region);
    }
    if (rc == 0 && new_group && token)
        rc = token_insert(st, g->id, token, err);
    if (rc == 0 && s->model_version_id && *s->model_version_id) {
        const char *args[] = {s->model_version_id, g->region, NULL};
        rc = check_version_usable(st,
                                  "SELECT status FROM model_versions WHERE id = ? AND region = ?",
                                  args, s->model_version_id, err);
    }
    sqlite3_stmt *q = NULL;
    if (rc == 0) {
        /* Take the group's next version number in the same transaction. */
        const char *args[] = {g->id, g->region, NULL};
        rc = prepare(st, &q, err,
                     "UPDATE service_groups SET next_version = next_version + 1 WHERE id = ? AND"
                     " region = ? RETURNING next_version - 1",
                     args);
        if (rc == 0) {
            int step = sqlite3_step(q);
            if (step == SQLITE_ROW)
                s->version = sqlite3_column_int(q, 0);
            else if (step == SQLITE_DONE)
                rc = err_set(err, ERR_NOTFOUND, "service group '%s' does not exist", g->id);
            else
                rc = db_error(st, err, "numbering a service");
            sqlite3_finalize(q);
        }
    }
    if (rc == 0) {
        free(s->id);
        s->id = xasprintf("%s-%d", g->id, s->version);
        sqlite3_stmt *ins;
        const char *args[] = {s->id,          g->id,         g->region,
                              s->description, s->spec_json,  s->model_version_id,
                              s->created_at,  s->created_at, NULL};
        rc = prepare(st, &ins, err,
                     "INSERT INTO services (id, group_id, region, description, spec,"
                     " model_version_id, created_at, updated_at, version, replicas, weight)"
                     " VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                     args);
        if (rc == 0) {
            bind_int(ins, 9, s->version);
            bind_int(ins, 10, s->replicas);
            bind_int(ins, 11, s->weight);
            if (sqlite3_step(ins) != SQLITE_DONE)
                rc = db_error(st, err, "adding a service");
            sqlite3_finalize(ins);
        }
    }
    if (rc == 0 && !new_group) {
        const char *args[] = {s->created_at, g->id, NULL};
        rc = run(st, err, "updating a group",
                 "UPDATE service_groups SET updated_at = ? WHERE id = ?", args);
    }
    rc = finish(st, rc, err);
    unlock(st);
    return rc;
}

#define GROUP_COLS                                                                                 \
    "id, region, name, tags, charge_type, auth_enable, created_at, updated_at, app_key, "          \
    "app_secret"

static void read_group(sqlite3_stmt *s, void *row)
{
    struct store_group *g = row;
    g->id = col(s, 0);
    g->region = col(s, 1);
    g->name = col(s, 2);
    g->tags_json = col(s, 3);
    g->charge_type = col(s, 4);
    g->auth_enable = sqlite3_column_int(s, 5) != 0;
    g->created_at = col(s, 6);
    g->updated_at = col(s, 7);
    g->app_key = col(s, 8);
    g->app_secret = col(s, 9);
}

int store_group_list(struct store *st, const char *region, struct store_group **out, size_t *n,
                     struct err *err)
{
    const char *args[] = {region, NULL};
    return list_rows(st,
                     region ? "SELECT " GROUP_COLS " FROM service_groups WHERE region = ?"
                              " ORDER BY created_at, rowid"
                            : "SELECT " GROUP_COLS
                              " FROM service_groups ORDER BY created_at, rowid",
                     region ? args : NULL, sizeof(**out), read_group, release_group, (void **)out,
                     n, "listing service groups", err);
}

int store_group_get(struct store *st, const char *region, const char *id, struct store_group *out,
                    struct err *err)
{
    lock(st);
    sqlite3_stmt *s;
    const char *args[] = {id, region, NULL};
    int rc = prepare(st, &s, err,
                     "SELECT " GROUP_COLS " FROM service_groups WHERE id = ? AND region = ?", args);
    if (rc == 0) {
        int step = sqlite3_step(s);
        if (step == SQLITE_ROW)
            read_group(s, out);
        else if (step == SQLITE_DONE)
            rc = err_set(err, ERR_NOTFOUND, "service group '%s' does not exist", id);
        else
            rc = db_error(st, err, "reading a service group");
        sqlite3_finalize(s);
    }
    unlock(st);
    return rc;
}

#define SERVICE_COLS                                                                               \
    "id, group_id, region, version, description, spec, model_version_id, replicas,"                \
    " old_replicas, weight, stopped, created_at, updated_at"

static void read_service(sqlite3_stmt *s, void *row)
{
    struct store_service *v = row;
    v->id = col(s, 0);
    v->group_id = col(s, 1);
    v->region = col(s, 2);
    v->version = sqlite3_column_int(s, 3);
    v->description = col(s, 4);
    v->spec_json = col(s, 5);
    v->model_version_id = col(s, 6);
    v->replicas = sqlite3_column_int(s, 7);
    v->old_replicas = sqlite3_column_int(s, 8);
    v->weight = sqlite3_column_int(s, 9);
    v->stopped = sqlite3_column_int(s, 10) != 0;
    v->created_at = col(s, 11);
    v->updated_at = col(s, 12);
}

static int list_services(struct store *st, const char *sql, const char *const *args,
                         struct store_service **out, size_t *n, struct err *err)
{
    return list_rows(st, sql, args, sizeof(**out), read_service, release_service, (void **)out, n,
                     "listing services", err);
}

int store_service_get(struct store *st, const char *region, const char *id,
                      struct store_service *out, struct err *err)
{
    struct store_service *list;
    size_t n;
    const char *args[] = {id, region, NULL};
    int rc =
        list_services(st,
                      region ? "SELECT " SERVICE_COLS " FROM services WHERE id = ? AND region = ?"
                             : "SELECT " SERVICE_COLS " FROM services WHERE id = ?",
                      args, &list, &n, err);
    if (rc)
        return rc;
    if (n == 0) {
        free(list);
        return err_set(err, ERR_NOTFOUND, "service '%s' does not exist", id);
    }
    *out = list[0];
    free(list);
    return 0;
}

int store_service_list(struct store *st, const char *group_id, struct store_service **out,
                       size_t *n, struct err *err)
{
    const char *args[] = {group_id, NULL};
    return list_services(st,
                         group_id ? "SELECT " SERVICE_COLS " FROM services WHERE group_id = ?"
                                    " ORDER BY version"
                                  : "SELECT " SERVICE_COLS
                                    " FROM services ORDER BY group_id, version",
                         group_id ? args : NULL, out, n, err);
}

int store_service_set_replicas(struct store *st, const char *id, int replicas, int old_replicas,
                               bool stopped, struct err *err)
{
    char now[32];
    rfc3339_now(now);
    lock(st);
    sqlite3_stmt *s;
    const char *args[] = {now, id, NULL};
    int rc = begin_write(st, err);
    if (rc == 0)
        rc = prepare(st, &s, err,
                     "UPDATE services SET updated_at = ?, replicas = ?3, old_replicas = ?4,"
                     " stopped = ?5 WHERE id = ?2",
                     args);
    if (rc == 0) {
        bind_int(s, 3, replicas);
        bind_int(s, 4, old_replicas);
        bind_int(s, 5, stopped);
        if (sqlite3_step(s) != SQLITE_DONE)
            rc = db_error(st, err, "updating a service");
        else if (sqlite3_changes(st->db) == 0)
            rc = err_set(err, ERR_NOTFOUND, "service '%s' does not exist", id);
        sqlite3_finalize(s);
    }
    if (rc == 0)
        rc = touch_group_of(st, id, now, err);
    rc = finish(st, rc, err);
    unlock(st);
    return rc;
}

int store_service_update(struct store *st, const char *id, const char *spec_json,
                         const char *model_version_id, const char *description, int replicas,
                         struct err *err)
{
    char now[32];
    rfc3339_now(now);
    lock(st);
    sqlite3_stmt *s;
    const char *args[] = {now, id, NULL};
    int rc = begin_write(st, err);
    if (rc == 0 && model_version_id && *model_version_id) {
        const char *vargs[] = {model_version_id, id, NULL};
        rc = check_version_usable(st,
                                  "SELECT v.status FROM model_versions v JOIN services s ON"
                                  " s.region = v.region WHERE v.id = ? AND s.id = ?",
                                  vargs, model_version_id, err);
    }
    if (rc == 0)
        rc =
            prepare(st, &s, err,
                    "UPDATE services SET updated_at = ?1,"
                    " spec = coalesce(?3, spec), model_version_id = coalesce(?4, model_version_id),"
                    " description = coalesce(?5, description),"
                    " replicas = CASE WHEN ?6 < 0 THEN replicas ELSE ?6 END,"
                    " stopped = CASE WHEN ?6 < 0 THEN stopped ELSE ?6 = 0 END"
                    " WHERE id = ?2",
                    args);
    if (rc == 0) {
        if (spec_json)
            sqlite3_bind_text(s, 3, spec_json, -1, SQLITE_STATIC);
        if (model_version_id)
            sqlite3_bind_text(s, 4, model_version_id, -1, SQLITE_STATIC);
        if (description)
            sqlite3_bind_text(s, 5, description, -1, SQLITE_STATIC);
        bind_int(s, 6, replicas);
        if (sqlite3_step(s) != SQLITE_DONE)
            rc = db_error(st, err, "updating a service");
        else if (sqlite3_changes(st->db) == 0)
            rc = err_set(err, ERR_NOTFOUND, "service '%s' does not exist", id);
        sqlite3_finalize(s);
    }
    if (rc == 0)
        rc = touch_group_of(st, id, now, err);
    rc = finish(st, rc, err);
    unlock(st);
    return rc;
}

int store_service_set_weights(struct store *st, const char *group_id, const char *const *ids,
                              const int *weights, size_t n, struct err *err)
{
    char now[32];
    rfc3339_now(now);
    lock(st);
    int rc = begin_write(st, err);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        sqlite3_stmt *s;
        const char *args[] = {ids[i], group_id, now, NULL};
        rc = prepare(st, &s, err,
                     "UPDATE services SET weight = ?4, updated_at = ?3 WHERE id = ?1 AND"
                     " group_id = ?2",
                     args);
        if (rc)
            break;
        bind_int(s, 4, weights[i]);
        if (sqlite3_step(s) != SQLITE_DONE)
            rc = db_error(st, err, "setting a weight");
        else if (sqlite3_changes(st->db) == 0)
            rc = err_set(err, ERR_NOTFOUND, "service '%s' is not in group '%s'", ids[i], group_id);
        sqlite3_finalize(s);
    }
    if (rc == 0) {
        const char *args[] = {now, group_id, NULL};
        rc = run(st, err, "updating a group",
                 "UPDATE service_groups SET updated_at = ? WHERE id = ?", args);
    }
    rc = finish(st, rc, err);
    unlock(st);
    return rc;
}

static int touch_group_now(struct store *st, const char *id, const char *region, struct err *err)
{
    (void)region; /* the delete that follows checks it */
    char now[32];
    rfc3339_now(now);
    return touch_group_of(st, id, now, err);
}

int store_service_delete(struct store *st, const char *region, const char *id, struct err *err)
{
    const char *args[] = {id, region, NULL};
    return delete_where(st, touch_group_now, "DELETE FROM services WHERE id = ? AND region = ?",
                        args, "service", id, err);
}

/* ------------------------------------------------------------------------ */
/* Call authentication                                                      */

void store_token_release(struct store_token *t)
{
    free(t->id);
    free(t->group_id);
    free(t->value_hash);
    free(t->value_sealed);
    free(t->name);
    free(t->description);
    free(t->limits_json);
    free(t->status);
    free(t->created_at);
    memset(t, 0, sizeof(*t));
}

static void read_token(sqlite3_stmt *s, void *row)
{
    struct store_token *t = row;
    t->id = col(s, 0);
    t->group_id = col(s, 1);
    t->value_hash = col(s, 2);
    t->value_sealed = col(s, 3);
    t->name = col(s, 4);
    t->description = col(s, 5);
    t->limits_json = col(s, 6);
    t->status = col(s, 7);
    t->created_at = col(s, 8);
}

static void release_token(void *row)
{
    store_token_release(row);
}

#define TOKEN_COLS                                                                                 \
    "id, group_id, value_hash, value_sealed, name, description, limits, status, created_at"

int store_token_list(struct store *st, const char *group_id, struct store_token **out, size_t *n,
                     struct err *err)
{
    const char *args[] = {group_id, NULL};
    return list_rows(st,
                     group_id ? "SELECT " TOKEN_COLS " FROM auth_tokens WHERE group_id = ?"
                                " ORDER BY created_at, rowid"
                              : "SELECT " TOKEN_COLS " FROM auth_tokens ORDER BY group_id,"
                                " created_at, rowid",
                     group_id ? args : NULL, sizeof(**out), read_token, release_token, (void **)out,
                     n, "listing tokens", err);
}

/* Is 'id' a group of 'region'? ERR_NOTFOUND when not. */
static int group_exists(struct store *st, const char *region, const char *id, struct err *err)
{
    bool found;
    int one;
    const char *args[] = {id, region, NULL};
    int rc =
        query_int(st, err, "reading a service group",
                  "SELECT 1 FROM service_groups WHERE id = ? AND region = ?", args, &found, &one);
    if (rc == 0 && !found)
        rc = err_set(err, ERR_NOTFOUND, "service group '%s' does not exist", id);
    return rc;
}

static int touch_group(struct store *st, const char *id, struct err *err)
{
    char now[32];
    rfc3339_now(now);
    const char *args[] = {now, id, NULL};
    return run(st, err, "updating a group", "UPDATE service_groups SET updated_at = ? WHERE id = ?",
               args);
}

int store_group_set_key_pair(struct store *st, const char *group_id, const char *app_key,
                             const char *app_secret, struct err *err)
{
    lock(st);
    const char *args[] = {app_key, app_secret, group_id, NULL};
    int rc = run(st, err, "setting a key pair",
                 "UPDATE service_groups SET app_key = ?, app_secret = ? WHERE id = ? AND"
                 " app_key = ''",
                 args);
    unlock(st);
    return rc;
}

int store_group_set_auth(struct store *st, const char *region, const char *group_id, bool enable,
                         const struct store_token *token, struct err *err)
{
    lock(st);
    int rc = begin_write(st, err);
    if (rc == 0)
        rc = group_exists(st, region, group_id, err);
    if (rc == 0) {
        const char *args[] = {enable ? "1" : "0", group_id, NULL};
        rc = run(st, err, "switching authentication",
                 "UPDATE service_groups SET auth_enable = ? WHERE id = ?", args);
    }
    if (rc == 0 && enable && token) {
        bool found;
        int count = 0;
        const char *args[] = {group_id, NULL};
        rc = query_int(st, err, "counting tokens",
                       "SELECT count(*) FROM auth_tokens WHERE group_id = ?", args, &found, &count);
        if (rc == 0 && count == 0)
            rc = token_insert(st, group_id, token, err);
    }
    if (rc == 0)
        rc = touch_group(st, group_id, err);
    rc = finish(st, rc, err);
    unlock(st);
    return rc;
}

int store_token_create(struct store *st, const char *region, const char *group_id,
                       const struct store_token *t, struct err *err)
{
    lock(st);
    int rc = begin_write(st, err);
    if (rc == 0)
        rc = group_exists(st, region, group_id, err);
    if (rc == 0)
        rc = token_insert(st, group_id, t, err);
    if (rc == 0)
        rc = touch_group(st, group_id, err);
    rc = finish(st, rc, err);
    unlock(st);
    return rc;
}

int store_token_update(struct store *st, const char *region, const char *group_id,
                       const char *value_hash, const struct store_token *t, struct err *err)
{
    lock(st);
    int rc = begin_write(st, err);
    if (rc == 0)
        rc = group_exists(st, region, group_id, err);
    if (rc == 0) {
        sqlite3_stmt *q;
        const char *args[] = {t->name ? t->name : "",
                              t->description ? t->description : "",
                              t->limits_json ? t->limits_json : "[]",
                              t->id,
                              t->value_hash,
                              t->value_sealed,
                              group_id,
                              value_hash,
                              NULL};
        /* A reset gives the token a new id, hash and sealed value; without
         * one the COALESCEs keep the old. */
        rc = prepare(st, &q, err,
                     "UPDATE auth_tokens SET name = ?, description = ?, limits = ?,"
                     " id = COALESCE(?4, id), value_hash = COALESCE(?5, value_hash),"
                     " value_sealed = COALESCE(?6, value_sealed)"
                     " WHERE group_id = ?7 AND value_hash = ?8",
                     args);
        if (rc == 0) {
            for (int i = 4; i <= 6; i++)
                if (!args[i - 1])
                    sqlite3_bind_null(q, i);
            /* prepare() stops binding at the first NULL: bind the rest. */
            sqlite3_bind_text(q, 7, group_id, -1, SQLITE_STATIC);
            sqlite3_bind_text(q, 8, value_hash, -1, SQLITE_STATIC);
            if (sqlite3_step(q) != SQLITE_DONE)
                rc = db_error(st, err, "changing a token");
            else if (sqlite3_changes(st->db) == 0)
                rc = err_set(err, ERR_NOTFOUND, "service group '%s' has no such token", group_id);
            sqlite3_finalize(q);
        }
    }
    if (rc == 0)
        rc = touch_group(st, group_id, err);
    rc = finish(st, rc, err);
    unlock(st);
    return rc;
}

int store_token_delete(struct store *st, const char *region, const char *group_id,
                       const char *value_hash, struct err *err)
{
    lock(st);
    int rc = begin_write(st, err);
    if (rc == 0)
        rc = group_exists(st, region, group_id, err);
    if (rc == 0) {
        const char *args[] = {group_id, value_hash, NULL};
        rc = run(st, err, "deleting a token",
                 "DELETE FROM auth_tokens WHERE group_id = ? AND value_hash = ?", args);
        if (rc == 0 && sqlite3_changes(st->db) == 0)
            rc = err_set(err, ERR_NOTFOUND, "service group '%s' has no such token", group_id);
    }
    if (rc == 0)
        rc = touch_group(st, group_id, err);
    rc = finish(st, rc, err);
    unlock(st);
    return rc;
}

int store_group_delete(struct store *st, const char *region, const char *id, struct err *err)
{
    const char *args[] = {id, region, NULL};
    return delete_where(st, NULL, "DELETE FROM service_groups WHERE id = ? AND region = ?", args,
                        "service group", id, err);
}

int store_model_version_users(struct store *st, const char *model_version_id, int *count,
                              struct err *err)
{
    lock(st);
    sqlite3_stmt *s;
    const char *args[] = {model_version_id, NULL};
    int rc = prepare(st, &s, err, "SELECT count(*) FROM services WHERE model_version_id = ?", args);
    if (rc == 0) {
        if (sqlite3_step(s) == SQLITE_ROW)
            *count = sqlite3_column_int(s, 0);
        else
            rc = db_error(st, err, "counting users of a model version");
        sqlite3_finalize(s);
    }
    unlock(st);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Instances                                                                */

int store_instance_put(struct store *st, const struct store_instance *in, struct err *err)
{
    lock(st);
    sqlite3_stmt *s;
    const char *args[] = {in->id, in->service_id, NULL};
    int rc = begin_write(st, err);
    if (rc == 0)
        rc = prepare(st, &s, err,
                     "INSERT OR REPLACE INTO instances (id, service_id, pgid, start_ticks, port,"
                     " keeper_pid, keeper_ticks, spec, started_at, restarts)"
                     " VALUES (?, ?, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                     args);
    if (rc == 0) {
        bind_int(s, 3, in->pgid);
        bind_int(s, 4, (long long)in->start_ticks);
        bind_int(s, 5, in->port);
        bind_int(s, 6, in->keeper_pid);
        bind_int(s, 7, (long long)in->keeper_ticks);
        sqlite3_bind_text(s, 8, in->spec ? in->spec : "", -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(s, 9, in->started_at ? in->started_at : "", -1, SQLITE_TRANSIENT);
        bind_int(s, 10, in->restarts);
        if (sqlite3_step(s) != SQLITE_DONE)
            rc = db_error(st, err, "recording an instance");
        sqlite3_finalize(s);
    }
    rc = finish(st, rc, err);
    unlock(st);
    return rc;
}

int store_instance_delete(struct store *st, const char *id, struct err *err)
{
    lock(st);
    const char *args[] = {id, NULL};
    int rc = begin_write(st, err);
    if (rc == 0)
        rc = run(st, err, "forgetting an instance", "DELETE FROM instances WHERE id = ?", args);
    rc = finish(st, rc, err);
    unlock(st);
    return rc;
}

static void read_instance(sqlite3_stmt *s, void *row)
{
    struct store_instance *in = row;
    in->id = col(s, 0);
    in->service_id = col(s, 1);
    in->pgid = sqlite3_column_int(s, 2);
    in->start_ticks = (uint64_t)sqlite3_column_int64(s, 3);
    in->port = sqlite3_column_int(s, 4);
    in->keeper_pid = sqlite3_column_int(s, 5);
    in->keeper_ticks = (uint64_t)sqlite3_column_int64(s, 6);
    in->spec = col(s, 7);
    in->started_at = col(s, 8);
    in->restarts = sqlite3_column_int(s, 9);
}

int store_instance_list(struct store *st, struct store_instance **out, size_t *n, struct err *err)
{
    return list_rows(st,
                     "SELECT id, service_id, pgid, start_ticks, port, keeper_pid, keeper_ticks,"
                     " spec, started_at, restarts FROM instances",
                     NULL, sizeof(**out), read_instance, release_instance, (void **)out, n,
                     "listing instances", err);
}

void store_instance_release(struct store_instance *in)
{
    free(in->id);
    free(in->service_id);
    free(in->spec);
    free(in->started_at);
    memset(in, 0, sizeof(*in));
}

/* ------------------------------------------------------------------------ */
/* Events                                                                   */

void store_event_release(struct store_event *e)
{
    free(e->id);
    free(e->region);
    free(e->group_id);
    free(e->service_id);
    free(e->kind);
    free(e->name);
    free(e->type);
    free(e->reason);
    free(e->message);
    memset(e, 0, sizeof(*e));
}

static void read_event(sqlite3_stmt *s, void *row)
{
    struct store_event *e = row;
    e->id = col(s, 0);
    e->region = col(s, 1);
    e->group_id = col(s, 2);
    e->service_id = col(s, 3);
    e->kind = col(s, 4);
    e->name = col(s, 5);
    e->type = col(s, 6);
    e->reason = col(s, 7);
    e->message = col(s, 8);
    e->count = sqlite3_column_int64(s, 9);
    e->first_ms = sqlite3_column_int64(s, 10);
    e->last_ms = sqlite3_column_int64(s, 11);
}

static void release_event(void *row)
{
    store_event_release(row);
}

/* Run a prepared statement that returns no rows and finalize it. */
static int step_done(struct store *st, sqlite3_stmt *s, const char *what, struct err *err)
{
    int rc = sqlite3_step(s) == SQLITE_DONE ? 0 : db_error(st, err, what);
    sqlite3_finalize(s);
    return rc;
}

/* A repeat is one UPDATE; only a new row pays for the INSERT and the two
 * DELETEs that keep the table bounded. */
int store_event_record(struct store *st, const struct store_event *e, int64_t now_ms,
                       int64_t keep_ms, int per_object, struct err *err)
{
    const char *fold_key = e->fold_reason ? "" : e->message;
    const char *key[] = {e->message, e->group_id, e->service_id, e->kind, e->name,
                         e->type,    e->reason,   fold_key,      NULL};
    sqlite3_stmt *s;
    lock(st);
    int rc = begin_write(st, err);
    if (rc == 0)
        rc = prepare(st, &s, err,
                     "UPDATE events SET count = count + 1, message = ?1,"
                     " last_ms = max(last_ms, ?9) WHERE group_id = ?2 AND service_id = ?3"
                     " AND kind = ?4 AND name = ?5 AND type = ?6 AND reason = ?7 AND fold_key = ?8",
                     key);
    if (rc == 0) {
        bind_int(s, 9, now_ms);
        rc = step_done(st, s, "folding an event", err);
    }
    if (rc == 0 && sqlite3_changes(st->db) == 0) {
        const char *args[] = {e->id,   e->region, e->group_id, e->service_id, e->kind, e->name,
                              e->type, e->reason, e->message,  fold_key,      NULL};
        rc = prepare(st, &s, err,
                     "INSERT INTO events (id, region, group_id, service_id, kind, name, type,"
                     " reason, message, fold_key, count, first_ms, last_ms)"
                     " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?11, ?11)",
                     args);
        if (rc == 0) {
            bind_int(s, 11, now_ms);
            rc = step_done(st, s, "adding an event", err);
        }
        const char *obj[] = {e->group_id, e->service_id, NULL};
        bool found;
        int rows = 0;
        if (rc == 0)
            rc = query_int(st, err, "counting events",
                           "SELECT count(*) FROM events WHERE group_id = ? AND service_id = ?", obj,
                           &found, &rows);
        if (rc == 0 && rows > per_object)
            rc = prepare(st, &s, err,
                         "DELETE FROM events WHERE seq IN (SELECT seq FROM events"
                         " WHERE group_id = ?1 AND service_id = ?2"
                         " ORDER BY last_ms DESC, seq DESC LIMIT -1 OFFSET ?3)",
                         obj);
        if (rc == 0 && rows > per_object) {
            bind_int(s, 3, per_object);
            rc = step_done(st, s, "capping events", err);
        }
        if (rc == 0)
            rc = prepare(st, &s, err, "DELETE FROM events WHERE last_ms < ?1", NULL);
        if (rc == 0) {
            bind_int(s, 1, now_ms - keep_ms);
            rc = step_done(st, s, "ageing events", err);
        }
    }
    rc = finish(st, rc, err);
    unlock(st);
    return rc;
}

/* The WHERE clause of a query, its parameters bound by bind_query(). */
#define EVENT_WHERE                                                                                \
    " WHERE region = ?1 AND (?2 IS NULL OR group_id = ?2)"                                         \
    " AND (?3 IS NULL OR service_id = ?3 OR service_id = '')"                                      \
    " AND (?4 IS NULL OR kind = ?4) AND (?5 IS NULL OR type = ?5)"                                 \
    " AND last_ms >= ?6 AND first_ms <= ?7"

static void bind_query(sqlite3_stmt *s, const struct store_event_query *q)
{
    const char *text[] = {q->region, q->group_id, q->service_id, q->kind, q->type};
    for (int i = 0; i < 5; i++)
        if (text[i])
            sqlite3_bind_text(s, i + 1, text[i], -1, SQLITE_STATIC);
    bind_int(s, 6, q->start_ms);
    bind_int(s, 7, q->end_ms);
}

int store_event_list(struct store *st, const struct store_event_query *q, struct store_event **out,
                     size_t *n, uint64_t *total, struct err *err)
{
    char sql[1024];
    const char *field = q->by_first ? "first_ms" : "last_ms", *dir = q->asc ? "ASC" : "DESC";
    snprintf(sql, sizeof(sql),
             "SELECT id, region, group_id, service_id, kind, name, type, reason, message, count,"
             " first_ms, last_ms FROM events" EVENT_WHERE
             " ORDER BY %s %s, seq %s LIMIT ?8 OFFSET ?9",
             field, dir, dir);
    sqlite3_stmt *s;
    lock(st);
    int rc = prepare(st, &s, err, "SELECT count(*) FROM events" EVENT_WHERE, NULL);
    if (rc == 0) {
        bind_query(s, q);
        if (sqlite3_step(s) == SQLITE_ROW)
            *total = (uint64_t)sqlite3_column_int64(s, 0);
        else
            rc = db_error(st, err, "counting events");
        sqlite3_finalize(s);
    }
    char *list = NULL;
    size_t count = 0;
    if (rc == 0)
        rc = prepare(st, &s, err, sql, NULL);
    if (rc == 0) {
        bind_query(s, q);
        bind_int(s, 8, (long long)q->limit);
        bind_int(s, 9, (long long)q->offset);
        int step;
        while ((step = sqlite3_step(s)) == SQLITE_ROW) {
            list = xrealloc(list, (count + 1) * sizeof(struct store_event));
            memset(list + count * sizeof(struct store_event), 0, sizeof(struct store_event));
            read_event(s, list + count++ * sizeof(struct store_event));
        }
        if (step != SQLITE_DONE)
            rc = db_error(st, err, "reading events");
        sqlite3_finalize(s);
    }
    unlock(st);
    if (rc) {
        for (size_t i = 0; i < count; i++)
            release_event(list + i * sizeof(struct store_event));
        free(list);
        return rc;
    }
    *out = (struct store_event *)list;
    *n = count;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* For the other files of store/ (store_int.h)                              */

sqlite3 *store__db(struct store *st)
{
    return st->db;
}

void store__lock(struct store *st)
{
    lock(st);
}

void store__unlock(struct store *st)
{
    unlock(st);
}

int store__begin(struct store *st, struct err *err)
{
    return begin_write(st, err);
}

int store__finish(struct store *st, int rc, struct err *err)
{
    return finish(st, rc, err);
}

int store__db_error(struct store *st, struct err *err, const char *what)
{
    return db_error(st, err, what);
}

/* ------------------------------------------------------------------------ */
/* Access policies of API keys                                              */

int store_credential_add_key(struct store *st, const char *secret_id, const char *secret_key,
                             const char *policy_json, struct err *err)
{
    lock(st);
    const char *args[] = {secret_id, secret_key, NULL};
    sqlite3_stmt *s;
    int rc = begin_write(st, err);
    if (rc == 0)
        rc = prepare(st, &s, err,
                     "INSERT INTO credentials (secret_id, secret_key, policy, admin)"
                     " VALUES (?, ?, ?3, 0)",
                     args);
    if (rc == 0) {
        if (policy_json)
            sqlite3_bind_text(s, 3, policy_json, -1, SQLITE_STATIC);
        if (sqlite3_step(s) != SQLITE_DONE)
            rc = db_error(st, err, "adding a key");
        sqlite3_finalize(s);
    }
    rc = finish(st, rc, err);
    unlock(st);
    return rc;
}

int store_credential_access(struct store *st, const char *secret_id, bool *admin,
                            char **policy_json, struct err *err)
{
    lock(st);
    sqlite3_stmt *s;
    const char *args[] = {secret_id, NULL};
    *policy_json = NULL;
    int rc =
        prepare(st, &s, err, "SELECT admin, policy FROM credentials WHERE secret_id = ?", args);
    if (rc == 0) {
        int step = sqlite3_step(s);
        if (step == SQLITE_ROW) {
            *admin = sqlite3_column_int(s, 0) != 0;
            if (sqlite3_column_type(s, 1) != SQLITE_NULL)
                *policy_json = col(s, 1);
        } else if (step == SQLITE_DONE) {
            rc = err_set(err, ERR_NOTFOUND, "no key '%s'", secret_id);
        } else {
            rc = db_error(st, err, "reading a key's policy");
        }
        sqlite3_finalize(s);
    }
    unlock(st);
    return rc;
}

int store_credential_set_policy(struct store *st, const char *secret_id, const char *policy_json,
                                struct err *err)
{
    lock(st);
    const char *args[] = {secret_id, NULL};
    sqlite3_stmt *s;
    int rc = begin_write(st, err);
    if (rc == 0)
        rc = prepare(st, &s, err,
                     "UPDATE credentials SET policy = ?2 WHERE secret_id = ?1 AND admin = 0", args);
    if (rc == 0) {
        if (policy_json)
            sqlite3_bind_text(s, 2, policy_json, -1, SQLITE_STATIC);
        if (sqlite3_step(s) != SQLITE_DONE)
            rc = db_error(st, err, "setting a key's policy");
        else if (sqlite3_changes(st->db) == 0)
            rc = err_set(err, ERR_NOTFOUND, "no key '%s' other than an administrator's", secret_id);
        sqlite3_finalize(s);
    }
    rc = finish(st, rc, err);
    unlock(st);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Scheduled stops                                                          */

int store_service_stop_scheduled(struct store *st, const char *id, const char *old_spec,
                                 bool was_stopped, const char *new_spec, struct err *err)
{
    char now[32];
    rfc3339_now(now);
    lock(st);
    sqlite3_stmt *s;
    const char *args[] = {now, id, old_spec, new_spec, NULL};
    int rc = begin_write(st, err);
    if (rc == 0)
        rc = prepare(st, &s, err,
                     "UPDATE services SET updated_at = ?1, spec = ?4,"
                     " old_replicas = CASE WHEN stopped THEN old_replicas ELSE replicas END,"
                     " replicas = 0, stopped = 1"
                     " WHERE id = ?2 AND spec = ?3 AND stopped = ?5",
                     args);
    if (rc == 0) {
        bind_int(s, 5, was_stopped);
        if (sqlite3_step(s) != SQLITE_DONE)
            rc = db_error(st, err, "stopping a service on schedule");
        else if (sqlite3_changes(st->db) == 0)
            rc = err_set(err, ERR_AGAIN, "service '%s' changed", id);
        sqlite3_finalize(s);
    }
    if (rc == 0)
        rc = touch_group_of(st, id, now, err);
    rc = finish(st, rc, err);
    unlock(st);
    return rc;
}
