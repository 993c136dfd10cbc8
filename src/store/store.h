/* store.h - persistent platform state in SQLite: credentials, the model
 * repository, service groups, services, their instances and events. The only module
 * that includes sqlite3.h. Every call is one transaction, committed (and
 * synced, WAL with synchronous=FULL) before it returns, so what the API
 * accepted survives a crash. Calls may come from any thread: one connection
 * behind a mutex. Fallible calls return 0 or a negative ERR_* code and fill
 * 'err' when it is non-NULL. Strings handed out are heap copies the caller
 * frees (free(), or the matching *_release). */
#ifndef BERTH_STORE_H
#define BERTH_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

struct store;

/* Open, creating and migrating if needed. On success *out owns the store;
 * release it with store_close(), which accepts NULL. ":memory:" works. */
int store_open(const char *path, struct store **out, struct err *err);
void store_close(struct store *st);
int store_schema_version(struct store *st);

/* ------------------------------------------------------------------------ */
/* Credentials                                                              */

int store_credential_add(struct store *st, const char *secret_id, const char *secret_key,
                         struct err *err);
/* *secret_key is a heap copy; ERR_NOTFOUND when the id is unknown. */
int store_credential_get(struct store *st, const char *secret_id, char **secret_key,
                         struct err *err);

/* Access policies (api/policy.h). A key is an administrator's (the one
 * berthd makes, store_credential_add) or not (store_credential_add_key); a
 * policy is CAM-shaped JSON text, NULL for none. */
int store_credential_add_key(struct store *st, const char *secret_id, const char *secret_key,
                             const char *policy_json, struct err *err);
/* *policy_json is a heap copy or NULL; ERR_NOTFOUND when the id is unknown. */
int store_credential_access(struct store *st, const char *secret_id, bool *admin,
                            char **policy_json, struct err *err);
/* Set (NULL: remove) the policy of a key that is not an administrator's;
 * ERR_NOTFOUND when there is no such key. */
int store_credential_set_policy(struct store *st, const char *secret_id, const char *policy_json,
                                struct err *err);

/* ------------------------------------------------------------------------ */
/* Model repository                                                         */

enum store_import_status { STORE_IMPORT_RUNNING, STORE_IMPORT_SUCCESS, STORE_IMPORT_FAILED };

struct store_model {
    char *id;
    char *region;
    char *name;
    char *tags_json;  /* [{"TagKey":..,"TagValue":..}] */
    char *created_at; /* RFC 3339, UTC */
};

struct store_model_version {
    char *id;
    char *model_id;
    char *model_name;
    char *region;
    char *version; /* label, e.g. "v1" */
    enum store_import_status status;
    int progress;      /* 0-100 */
    char *error;       /* "" unless failed */
    char *source_path; /* where the files were imported from */
    char *move_mode;   /* COPY or CUT */
    char *path;        /* the files, inside the data directory */
    char *format;      /* ModelFormat, e.g. XGBOOST */
    char *attrs_json;  /* the DTO fields given at import, echoed by Describe */
    char *created_at;
};

void store_model_release(struct store_model *m);
void store_model_version_release(struct store_model_version *v);

/* Insert a model (if model->id is new) and its first or next version in one
 * transaction. ERR_EXISTS when the name (per region) or the version label
 * (per model) is taken; err names which. */
int store_model_version_create(struct store *st, const struct store_model *model, bool new_model,
                               const struct store_model_version *v, struct err *err);
int store_model_get(struct store *st, const char *region, const char *id, struct store_model *out,
                    struct err *err);
int store_model_list(struct store *st, const char *region, struct store_model **out, size_t *n,
                     struct err *err);
/* 'region' NULL finds the version in any region (internal use). */
int store_model_version_get(struct store *st, const char *region, const char *id,
                            struct store_model_version *out, struct err *err);
/* Versions of one model, oldest first. */
int store_model_version_list(struct store *st, const char *region, const char *model_id,
                             struct store_model_version **out, size_t *n, struct err *err);
/* Every version still importing, in every region (to resume after a restart). */
int store_model_version_list_running(struct store *st, struct store_model_version **out, size_t *n,
                                     struct err *err);
int store_model_version_set_status(struct store *st, const char *id,
                                   enum store_import_status status, int progress, const char *error,
                                   struct err *err);
/* ERR_UNSUPPORTED when a service runs the version: checked in the delete's
 * transaction, so a concurrent store_service_create() cannot slip in. */
int store_model_version_delete(struct store *st, const char *region, const char *id,
                               struct err *err);
/* Delete a model and every version of it; ERR_UNSUPPORTED when a service
 * runs one of them. */
int store_model_delete(struct store *st, const char *region, const char *id, struct err *err);
const char *store_import_status_name(enum store_import_status s);

/* ------------------------------------------------------------------------ */
/* Service groups and services                                              */

struct store_group {
    char *id; /* ms-xxxxxxxx */
    char *region;
    char *name;
    char *tags_json;
    char *charge_type;
    bool auth_enable;
    char *app_key;    /* the legacy gateway's ApiAppKey, "APID..." */
    char *app_secret; /* its ApiAppSecret, sealed (crypto_seal, associated data: the group id) */
    char *created_at;
    char *updated_at;
};

/* A data-plane token of a group. The value itself is never stored in the
 * clear: 'value_hash' (hex SHA-256) finds it, 'value_sealed' gives it back to
 * the API with the key that berthd keeps outside the database. */
struct store_token {
    char *id; /* changes with the value on a reset */
    char *group_id;
    char *value_hash;
    char *value_sealed; /* crypto_seal(value), associated data: the id */
    char *name;
    char *description;
    char *limits_json; /* [{"Strategy":"PerMinute","Max":600}] */
    char *status;      /* "Enabled" */
    char *created_at;
};

#define STORE_TOKENS_MAX 100 /* per group */

struct store_service {
    char *id; /* <group>-<version> */
    char *group_id;
    char *region;
    int version;
    char *description;
    char *spec_json;        /* what runs and how: the accepted CreateModelService fields */
    char *model_version_id; /* "" for a custom command */
    int replicas;           /* desired; 0 when stopped */
    int old_replicas;       /* before the last STOP */
    int weight;
    bool stopped;
    char *created_at;
    char *updated_at;
};

void store_group_release(struct store_group *g);
void store_service_release(struct store_service *s);

/* Create a group with its first service (s->version is set to 1), or, with
 * new_group false, add the next version to g->id (s->version is set). A
 * non-empty s->model_version_id must name an imported version of g's region,
 * checked in the same transaction: ERR_NOTFOUND when it does not exist (any
 * more), ERR_UNAVAILABLE when it is importing or failed.
 *
 * A new group also gets 'token' when it is not NULL (its first token, when
 * it is created with authentication on).
 *
 * Every call that changes a service (create, set_replicas, update,
 * set_weights, delete) also sets its group's updated_at, in the same
 * transaction. */
int store_service_create(struct store *st, const struct store_group *g, bool new_group,
                         const struct store_token *token, struct store_service *s, struct err *err);
int store_group_get(struct store *st, const char *region, const char *id, struct store_group *out,
                    struct err *err);
/* Groups of 'region', or of every region when it is NULL. */
int store_group_list(struct store *st, const char *region, struct store_group **out, size_t *n,
                     struct err *err);
/* 'region' NULL finds the service in any region (internal use). */
int store_service_get(struct store *st, const char *region, const char *id,
                      struct store_service *out, struct err *err);
/* Services of one group (group_id non-NULL) or of every group in every
 * region (group_id NULL, for the reconciler), by group and version. */
int store_service_list(struct store *st, const char *group_id, struct store_service **out,
                       size_t *n, struct err *err);
/* Set replicas, old_replicas and stopped of one service. */
int store_service_set_replicas(struct store *st, const char *id, int replicas, int old_replicas,
                               bool stopped, struct err *err);
int store_service_delete(struct store *st, const char *region, const char *id, struct err *err);
/* Replace what a service runs: its spec, its model version ("" for a command)
 * and description (NULL keeps them), and its replicas (< 0 keeps them). A
 * new model version is checked as in store_service_create(). */
int store_service_update(struct store *st, const char *id, const char *spec_json,
                         const char *model_version_id, const char *description, int replicas,
                         struct err *err);
/* A scheduled stop (control/schedstop.h): if the service still has
 * 'old_spec' and 'was_stopped', stop it (replicas 0, old_replicas kept as
 * for a STOP) and give it 'new_spec', in one transaction; ERR_AGAIN when
 * it changed meanwhile. */
int store_service_stop_scheduled(struct store *st, const char *id, const char *old_spec,
                                 bool was_stopped, const char *new_spec, struct err *err);
/* Set the weights of some services of one group, all or none. */
int store_service_set_weights(struct store *st, const char *group_id, const char *const *ids,
                              const int *weights, size_t n, struct err *err);
/* Delete a group and all its services. */
int store_group_delete(struct store *st, const char *region, const char *id, struct err *err);
/* How many services use a model version. */
int store_model_version_users(struct store *st, const char *model_version_id, int *count,
                              struct err *err);

/* ------------------------------------------------------------------------ */
/* Call authentication. Each changes the group's updated_at in the same
 * transaction; ERR_NOTFOUND when the group (in 'region') or the token does
 * not exist. */

void store_token_release(struct store_token *t);
/* Tokens of one group (group_id non-NULL), oldest first, or of every group
 * (NULL, for the gateway's table). */
int store_token_list(struct store *st, const char *group_id, struct store_token **out, size_t *n,
                     struct err *err);
/* Switch authentication; turning it on with 'token' non-NULL also inserts
 * that token when the group has none. */
int store_group_set_auth(struct store *st, const char *region, const char *group_id, bool enable,
                         const struct store_token *token, struct err *err);
/* Give a group made before key pairs existed its AppKey and sealed AppSecret;
 * a group that has one keeps it. */
int store_group_set_key_pair(struct store *st, const char *group_id, const char *app_key,
                             const char *app_secret, struct err *err);
/* ERR_TOOBIG past STORE_TOKENS_MAX; ERR_EXISTS if the value is taken. */
int store_token_create(struct store *st, const char *region, const char *group_id,
                       const struct store_token *t, struct err *err);
/* Change the token whose value hashes to 'value_hash': name, description and
 * limits from 't'; with t->id, t->value_hash and t->value_sealed non-NULL
 * (a reset) also those. */
int store_token_update(struct store *st, const char *region, const char *group_id,
                       const char *value_hash, const struct store_token *t, struct err *err);
int store_token_delete(struct store *st, const char *region, const char *group_id,
                       const char *value_hash, struct err *err);

/* ------------------------------------------------------------------------ */
/* Instances: the processes berthd started, recorded so that a restarted
 * berthd can adopt those still running (control/adopt) and end the rest. */

struct store_instance {
    char *id; /* <service-id>-<index> */
    char *service_id;
    int pgid;
    uint64_t start_ticks;
    int port;
    int keeper_pid; /* 0: recorded by a berthd before adoption (not adoptable) */
    uint64_t keeper_ticks;
    char *spec;       /* the run spec it was started with; NULL or "" when put: none */
    char *started_at; /* RFC 3339 */
    int restarts;
};

void store_instance_release(struct store_instance *in);
int store_instance_put(struct store *st, const struct store_instance *in, struct err *err);
int store_instance_delete(struct store *st, const char *id, struct err *err);
int store_instance_list(struct store *st, struct store_instance **out, size_t *n, struct err *err);

/* ------------------------------------------------------------------------ */
/* Events: what happened to services and their instances (control/events.h
 * says what they mean). Times are Unix milliseconds. */

struct store_event {
    char *id; /* a UUID, the Event's Id */
    char *region;
    char *group_id;
    char *service_id; /* the version; "" for an event of the group itself */
    char *kind;       /* ResourceKind */
    char *name;       /* ResourceName */
    char *type;       /* Normal or Warning */
    char *reason;
    char *message;
    bool fold_reason; /* in: a repeat folds whatever its message (the last one is kept) */
    int64_t count;
    int64_t first_ms, last_ms;
};

void store_event_release(struct store_event *e);
/* Record one occurrence at 'now_ms'. A repeat (same group, version, kind,
 * name, type, reason and message, or any message with fold_reason) adds one
 * to the row's count and moves its last time; otherwise a row is inserted
 * (e->id, region and the rest), then rows of the same group and version past
 * the newest 'per_object' go, and so do rows of any object last seen before
 * now_ms - keep_ms. */
int store_event_record(struct store *st, const struct store_event *e, int64_t now_ms,
                       int64_t keep_ms, int per_object, struct err *err);

struct store_event_query {
    const char *region;
    const char *group_id;     /* NULL: every group of the region */
    const char *service_id;   /* with group_id: this version's events and the group's own */
    const char *kind;         /* NULL: any */
    const char *type;         /* NULL: any */
    int64_t start_ms, end_ms; /* events whose [first, last] overlaps [start, end] */
    bool by_first;            /* order by first_ms, else by last_ms */
    bool asc;
    size_t offset, limit;
};

/* One page of the events a query matches, and in *total how many match. */
int store_event_list(struct store *st, const struct store_event_query *q, struct store_event **out,
                     size_t *n, uint64_t *total, struct err *err);

#endif
