/* hotupdate.h - model hot update (TF Serving style) for services with
 * ModelHotUpdateEnable: the service's model base path holds numbered version
 * directories, 1 for the version the service was created with and N+1 for
 * each newer version of the same model imported since, so berth-serve, which
 * polls its base path, loads it and retires the old one without a restart.
 * Auto-clean (the newest version's AutoClean and MaxReservedModels) removes
 * the oldest directories beyond the limit once every instance serves a newer
 * one. A manifest (.berth-versions, ignored by berth-serve) records which
 * model version each number holds. Main thread (the reconciler's) only. */
#ifndef BERTH_CONTROL_HOTUPDATE_H
#define BERTH_CONTROL_HOTUPDATE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

#include "base/err.h"
#include "store/store.h"

/* Whether a service spec has hot update on (a model service with
 * ModelHotUpdateEnable). */
bool ctl_hotupdate_on(const json_t *spec);
/* The service's model base path: INSTANCE_DIR/SERVICE/model (heap). */
char *ctl_hotupdate_dir(const char *instance_dir, const char *service_id);

struct ctl_hot_result {
    int64_t newest;         /* the highest number on disk; 0 when none */
    int added;              /* directories added by this call */
    int removed;            /* by auto-clean */
    long long keep;         /* the auto-clean limit in force; 0: none */
    char added_version[96]; /* the model version of the newest one added */
};

/* Bring the base path 'dir' up to date with the model repository: the
 * spec's version (ModelVersionId) and every newer successfully imported
 * version of its model (ModelId) with the same ModelFormat get a number,
 * each copied in (hard links where the file system allows) under a hidden
 * name and renamed into place, readable by group 'gid' only ((gid_t)-1:
 * unchanged). Then auto-clean: past the limit, directories numbered below
 * 'served' (the lowest version every running instance serves; 0: unknown,
 * nothing goes) are removed, oldest first. */
int ctl_hotupdate_sync(struct store *st, const char *region, const json_t *spec, const char *dir,
                       gid_t gid, int64_t served, struct ctl_hot_result *out, struct err *err);

/* One pass of a running service with hot update: its base path (on its
 * mount or its own, ctl_model_base()) synced by ctl_hotupdate_sync() on a
 * thread of 'loop' (copying a large version to a mount takes time the
 * control loop has not), its events recorded (ModelHotUpdated,
 * ModelAutoCleaned), then done(arg, service_id) on the loop. The strings are
 * copied. Returns 0, or an error (also: hot update off) and done never runs. */
struct drv_volumes;
struct ctl_hot_job {
    uv_loop_t *loop;
    struct store *st;
    const struct drv_volumes *volumes;
    const char *instance_dir;
    gid_t gid;
    const char *service_id, *region, *spec_json;
    int64_t served;
    void (*done)(void *arg, const char *service_id);
    void *arg;
};
int ctl_hotupdate_queue(const struct ctl_hot_job *job);

/* Where a model service keeps its numbered versions: on its first writable
 * mount (*host the source path, *inside the mount path), else, with hot
 * update, in INSTANCE_DIR/SERVICE/model (both the same); heap strings.
 * False (and NULLs): neither, the instance links its one version. Without
 * hot update, ctl_hotupdate_sync() puts only the spec's version there. */
struct drv_mount;
bool ctl_model_base(const json_t *spec, const struct drv_mount *mounts, size_t n,
                    const char *instance_dir, const char *service_id, char **host, char **inside);

#endif
