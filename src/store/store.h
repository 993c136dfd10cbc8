/* store.h - persistent platform state in SQLite: credentials, the model
 * repository, service groups, services and their instances. The only module
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

/* ------------------------------------------------------------------------ */
/* Model repository                                                         */

enum store_import_status { STORE_IMPORT_RUNNING, STORE_IMPORT_SUCCESS, STORE_IMPORT_FAILED };

struct store_model {
    char *id;
    char *region;
    char *name;
    char *tags_json; /* [{"TagKey":..,"TagValue":..}] */
    char *created_at; /* RFC 3339, UTC */
};

struct store_model_version {
    char *id;
    char *model_id;
    char *model_name;
    char *region;
    char *version;    /* label, e.g. "v1" */
    enum store_import_status status;
    int progress;     /* 0-100 */
    char *error;      /* "" unless failed */
    char *source_path; /* where the files were imported from */
    char *move_mode;  /* COPY or CUT */
    char *path;       /* the files, inside the data directory */
    char *format;     /* ModelFormat, e.g. XGBOOST */
    char *attrs_json; /* the DTO fields given at import, echoed by Describe */
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
                                   enum store_import_status status, int progress,
                                   const char *error, struct err *err);
int store_model_version_delete(struct store *st, const char *region, const char *id,
                               struct err *err);
/* Delete a model and every version of it. */
int store_model_delete(struct store *st, const char *region, const char *id, struct err *err);
const char *store_import_status_name(enum store_import_status s);

#endif
