/* process.h - the process driver: instances as child processes, each the
 * leader of its own process group, in its own work directory, with its
 * environment and output file, optionally as another (unprivileged) user.
 * Each instance runs under a keeper, berthd's child in a session of its own:
 * the keeper exits with the instance's status, and when the instance exits
 * (or the keeper gets SIGHUP) it kills the instance's whole group and every
 * descendant (it is a subreaper) first, so nothing an instance forked
 * outlives it. Instances outlive berthd: the keeper does not watch berthd,
 * writes the instance's exit status to a file for a berthd that is not its
 * parent (drivers/adopt.h), and holds the read ends of the output pipes so
 * that the instance can write while no berthd reads. drv_process_sweep()
 * ends what a keeper could not (the keeper itself killed). Reaping is the
 * caller's (waitpid on SIGCHLD). Call from the main thread only. */
#ifndef BERTH_DRIVERS_PROCESS_H
#define BERTH_DRIVERS_PROCESS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/err.h"
#include "drivers/mounts.h"

/* Whom instances run as. */
struct drv_user {
    bool set; /* switch to uid:gid, without supplementary groups */
    uid_t uid;
    gid_t gid;
    char name[64];
};

struct drv_spawn {
    char *const *argv; /* argv[0] is a path */
    char *const *env;  /* full environment, NAME=VALUE */
    const char *workdir;
    const char *log_path; /* stdout and stderr are appended here (opened by us), or, when
                             NULL, go to out_fd and err_fd (the log capture's pipes) */
    int out_fd, err_fd;
    const struct drv_user *user;
    const int *cgroup_fds; /* cgroup.procs files the instance joins before exec (cgroup.h) */
    int ncgroup_fds;
    const struct drv_mount *mounts; /* bound in a mount namespace of its own (drivers/mounts.h) */
    size_t nmounts;
    /* Where the keeper writes how the instance ended (DRV_STATUS_*), read by a
     * berthd that adopted it; NULL: nowhere. */
    const char *status_path;
    /* Descriptors the keeper holds open as DRV_KEEPER_FD_HOLD + i while it
     * lives (the read ends of the output pipes); nhold 0: none. */
    int hold[2];
    size_t nhold;
};

/* The keeper's own descriptors: 0-2 /dev/null, the status file, then the
 * held ones (/proc/<keeper>/fd/N reopens them). */
#define DRV_KEEPER_FD_STATUS 3
#define DRV_KEEPER_FD_HOLD 4

struct drv_proc {
    pid_t pid;  /* the keeper: waitpid() reports the instance's exit status as its own */
    pid_t pgid; /* the instance's process group: what to signal */
    uint64_t start_ticks;
    uint64_t keeper_ticks; /* the keeper's start time, to recognise it after a restart */
};

/* Resolve the user instances run as. berthd as root switches to 'name',
 * which must exist. Otherwise it cannot switch: a name the administrator
 * 'chosen' is an error, the default a warning (logged here, once), and
 * instances run as berthd's own user. */
int drv_user_resolve(const char *name, bool chosen, struct drv_user *out, struct err *err);
/* Whether 'u' may access 'path' with 'mode' (access(2) bits), checked in a
 * child that switched to it. Returns 0 or the negative errno. */
int drv_user_access(const struct drv_user *u, const char *path, int mode);

/* Start an instance. start_ticks is its start time from /proc (to recognise
 * it after a restart). */
int drv_process_spawn(const struct drv_spawn *s, struct drv_proc *out, struct err *err);
/* Signal a whole instance (its process group). */
void drv_process_signal(pid_t pgid, int sig);
/* Kill every process of group 'pgid' started at or after 'start_ticks': what
 * an instance recorded before a crash may have left running. Returns how many. */
int drv_process_sweep(pid_t pgid, uint64_t start_ticks);
/* A free TCP port on 127.0.0.1 (the kernel's choice), or a negative error. */
int drv_free_port(void);

#endif
