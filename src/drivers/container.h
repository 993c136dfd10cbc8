/* container.h - the container driver: instances as containers of a Docker
 * Engine API service (engine.h). Each container has a runner thread that
 * pulls its image, creates and starts it, follows its output into the
 * instance's log capture until it stops, and removes it with its volumes;
 * stop requests run on helper threads (PreStopCommand, then stop with the
 * grace period, or kill). Threads report to the main thread through a
 * queue: they call 'wake' (any thread), and the owner drains the reports
 * with drv_containers_poll() on its loop. Containers carry the labels
 * berth.owner (this berthd), berth.service, berth.index, berth.spec and
 * berth.port, so a restarted berthd finds them (drv_containers_list) and
 * adopts or removes them. Everything but the threads' own work runs on the
 * main thread. */
#ifndef BERTH_DRIVERS_CONTAINER_H
#define BERTH_DRIVERS_CONTAINER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "drivers/engine.h"

struct drv_containers;
struct drv_container;

struct drv_containers_cfg {
    const char *socket; /* the engine's unix socket */
    const char *owner;  /* the berth.owner label's value */
    const struct drv_registry_auth *auths;
    size_t nauths;
    void (*wake)(void *arg); /* reports are waiting: call drv_containers_poll soon */
    void *wake_arg;
};

enum drv_ct_report_kind {
    DRV_CT_PROGRESS, /* text: how the pull goes */
    DRV_CT_RUNNING,  /* it started */
    DRV_CT_EXITED,   /* the last report: it is gone (removed); exit_code, text */
};

struct drv_ct_report {
    enum drv_ct_report_kind kind;
    void *data;         /* the owner's, as given to drv_container_run/adopt */
    int exit_code;      /* EXITED: its exit status; -1 when it never ran */
    bool create_failed; /* EXITED: the image could not be pulled or the container made */
    char text[600];
};

typedef void (*drv_ct_report_fn)(void *arg, struct drv_container *ct,
                                 const struct drv_ct_report *rep);

/* A new driver for the engine at cfg->socket (which must answer). */
int drv_containers_new(const struct drv_containers_cfg *cfg, struct drv_containers **out,
                       struct err *err);
/* Join every thread (after the containers exited) and free; NULL does nothing. */
void drv_containers_free(struct drv_containers *d);
/* Deliver the waiting reports to fn(arg, ...). After an EXITED report the
 * container handle is freed: the owner forgets it in fn. */
void drv_containers_poll(struct drv_containers *d, drv_ct_report_fn fn, void *arg);
/* The containers of this berthd (label berth.owner), as the engine lists them. */
int drv_containers_list(struct drv_containers *d, json_t **out, struct err *err);
/* Remove an unwanted container in the background (its EXITED report has
 * data NULL). */
void drv_containers_remove(struct drv_containers *d, const char *id);

struct drv_ct_spec {
    const char *name;  /* the container's name */
    const char *image; /* pulled every time (its tag may have moved) */
    const char *service_id, *spec_hash;
    int index;
    char *const *cmd;     /* NULL: the image's own */
    char *const *env;     /* NAME=VALUE, NULL-terminated */
    char *const *prestop; /* exec form, NULL: none */
    int host_port;        /* published on 127.0.0.1 */
    int container_port;
    const char *model_path; /* mounted read-only at /data/model; NULL: none */
    bool local;             /* the image is the engine's own (built here): not pulled */
    char *const
        *binds;  /* more "HOST:CONTAINER[:ro]" mounts (VolumeMount), NULL-ended; NULL: none */
    double cpus; /* 0: no limit */
    uint64_t memory_bytes; /* 0: no limit */
    uint64_t grace_ms;
    int out_fd, err_fd; /* where its output goes; the driver closes them */
    void *data;
};

/* Start a container (asynchronously: reports follow). Never fails: a
 * failure comes as an EXITED report. */
struct drv_container *drv_container_run(struct drv_containers *d, const struct drv_ct_spec *s);
/* Take over a running container 'id' found by drv_containers_list: follow
 * its output from now on, report its exit. Uses s->prestop, grace_ms, fds
 * and data only. */
struct drv_container *drv_container_adopt(struct drv_containers *d, const char *id,
                                          const struct drv_ct_spec *s);
/* Stop it: gracefully (PreStopCommand, SIGTERM, SIGKILL after the grace
 * period) or, when 'now', kill it. An EXITED report follows. */
void drv_container_stop(struct drv_container *ct, bool now);
/* Its main process on the host (for usage), 0 when not known. */
int drv_container_pid(struct drv_container *ct);

#endif
