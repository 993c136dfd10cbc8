/* mounts.h - storage mounts (VolumeMount with VolumeSourceType CFS): the file
 * systems an operator defines (--file-system 'ID DIR [read-only]': a host
 * directory, which may itself be an NFS export the host mounted), the bind
 * mounts of one instance, and the cleaning of a service's source path.
 *
 * The process driver mounts in the instance's child, between fork and exec:
 * a private mount namespace (nothing propagates back to the host) with each
 * source bound at its target, remounted read-only where asked. That needs
 * root (CAP_SYS_ADMIN); drv_mounts_possible() says whether berthd has it.
 *
 * Cleaning: a source path the platform creates gets a marker file
 * (DRV_MOUNT_MARKER) naming the service, so everything below it came through
 * the platform (the model versions it wrote and what the service's instances
 * wrote). Only such a path is cleaned; one without the marker, or with
 * another service's, holds something the platform did not write and is left
 * as it is. */
#ifndef BERTH_DRIVERS_MOUNTS_H
#define BERTH_DRIVERS_MOUNTS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "base/err.h"

#define DRV_MOUNT_MARKER ".berth-source"
#define DRV_MOUNTS_MAX 8 /* per instance */

/* One bind mount of an instance: what Docker's HostConfig.Binds takes as
 * "source:target[:ro]". */
struct drv_mount {
    char *source; /* host path */
    char *target; /* path inside the instance */
    bool read_only;
};

/* The operator's file systems. */
struct drv_volumes;

/* Parse 'specs' ("ID DIR" or "ID DIR read-only"; ID like cfs-xxxx, DIR an
 * existing absolute directory). ERR_INVALID names the entry. n may be 0. */
int drv_volumes_new(const char *const *specs, size_t n, struct drv_volumes **out, struct err *err);
void drv_volumes_free(struct drv_volumes *v);
/* The directory of file system 'id' and whether it is read-only; NULL when
 * there is none. 'v' may be NULL (none configured). */
const char *drv_volumes_find(const struct drv_volumes *v, const char *id, bool *read_only);
/* The configured ids, comma-separated, for error messages ("" when none). */
void drv_volumes_list(const struct drv_volumes *v, char *out, size_t size);

/* Whether this berthd can mount (it runs as root). */
bool drv_mounts_possible(void);

/* In the child, before exec (async-signal-safe): a private mount namespace
 * with each mount in place. Returns 0 or an errno. */
int drv_mounts_apply(const struct drv_mount *m, size_t n);

void drv_mounts_release(struct drv_mount *m, size_t n);

/* Remove a file or a directory tree without following any link inside it
 * (openat with O_NOFOLLOW at each step); missing is fine. */
int drv_remove_tree(const char *path, struct err *err);

/* The bind mounts of an instance of a service whose spec is 'spec_json':
 * its "Mounts" ([{Id, Path, MountPath, ReadOnly}], written by the API from
 * VolumeMount and VolumeMounts) resolved against the file systems 'v'. Up
 * to DRV_MOUNTS_MAX go to 'out' (release them with drv_mounts_release()).
 * ERR_NOTFOUND when a file system is no longer configured. This is what a
 * container driver puts in HostConfig.Binds ("source:target[:ro]"). */
int drv_mounts_of_spec(const struct drv_volumes *v, const char *spec_json, struct drv_mount *out,
                       size_t *n, struct err *err);

/* Make the source path 'path' ready for service 'owner': create it (and its
 * parents inside the file system) when missing, with the marker, owned by
 * uid:gid (-1: unchanged) with 'mode'. An existing path is left as it is.
 * A path whose existing components include a link or a file is refused. */
int drv_mount_claim(const char *path, const char *owner, uid_t uid, gid_t gid, mode_t mode,
                    struct err *err);

/* Clean the source path of service 'owner': remove everything in it but the
 * marker and, with keep_versions, a hot-updated model's numbered version
 * directories and its ".berth-*" files (control/hotupdate.h). ERR_UNSUPPORTED,
 * with the reason, when the marker is missing or names another service;
 * nothing is removed then. A missing path is clean. *removed counts what went. */
int drv_mount_clean(const char *path, const char *owner, bool keep_versions, int *removed,
                    struct err *err);

#endif
