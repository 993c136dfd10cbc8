/* repo.h - the model repository: watches each model's base path, loads new
 * versions, retires old ones per policy and publishes what is servable as an
 * immutable snapshot. Request threads read snapshots without touching the
 * repository's own state: acquire one, use it for the whole request (it keeps
 * every version in it alive), release it. */
#ifndef BERTH_SERVE_REPO_H
#define BERTH_SERVE_REPO_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "serve/backend.h"
#include "serve/config.h"

/* TF Serving's ModelVersionStatus.State values. */
enum serve_state {
    SERVE_STATE_UNKNOWN = 0,
    SERVE_STATE_START = 10,
    SERVE_STATE_LOADING = 20,
    SERVE_STATE_AVAILABLE = 30,
    SERVE_STATE_UNLOADING = 40,
    SERVE_STATE_END = 50,
};

/* One loaded version. Reference-counted: snapshots hold references. */
struct serve_version {
    atomic_int refs;
    int64_t number;
    const struct serve_backend *backend;
    void *handle;
    struct serve_signature sig;
};

struct serve_version_status {
    int64_t number;
    enum serve_state state;
    char *error; /* NULL when OK */
};

/* A model as one snapshot sees it. */
struct serve_model {
    char *name;
    struct serve_version **versions; /* available, highest number first */
    size_t nversions;
    struct serve_label *labels;
    size_t nlabels;
    struct serve_version_status *status; /* every known version, ascending */
    size_t nstatus;
};

struct serve_snapshot {
    atomic_int refs;
    struct serve_model *models;
    size_t nmodels;
};

struct serve_repo;

struct serve_repo_options {
    const char *config_path; /* re-read every config_poll_s seconds if both set */
    unsigned config_poll_s;
    unsigned fs_poll_s;             /* 0: scan once, at serve_repo_new() */
    enum serve_predictor predictor; /* default for versions whose berth.json names none */
};

/* Take 'cfg' (emptied on return), scan and load every model once, and start
 * the watcher thread if polling is on. Fails only on a thread error. */
int serve_repo_new(struct serve_config *cfg, const struct serve_repo_options *opt,
                   struct serve_repo **out, struct err *err);
/* Stop the watcher and drop the repository's snapshot. Accepts NULL. */
void serve_repo_free(struct serve_repo *r);

/* The current snapshot; takes a reference. Any thread. */
struct serve_snapshot *serve_repo_acquire(struct serve_repo *r);
void serve_snapshot_release(struct serve_snapshot *s);

const struct serve_model *serve_snapshot_model(const struct serve_snapshot *s, struct str name);
/* NULL when the model has no available version with that number. */
struct serve_version *serve_model_version(const struct serve_model *m, int64_t number);
/* The version a label points at; *number is set when the label exists. */
int serve_model_label(const struct serve_model *m, struct str label, int64_t *number);
const char *serve_state_name(enum serve_state s);

#endif
