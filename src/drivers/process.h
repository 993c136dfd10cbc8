/* process.h - the process driver: instances as child processes, each the
 * leader of its own process group, in its own work directory, with its
 * environment and output file. Children get SIGKILL if berthd dies
 * (PR_SET_PDEATHSIG), and drv_process_sweep() kills what a crashed berthd
 * left behind, so no instance outlives the daemon that owns it. Reaping is the
 * caller's (waitpid on SIGCHLD). Call from the main thread only. */
#ifndef BERTH_DRIVERS_PROCESS_H
#define BERTH_DRIVERS_PROCESS_H

#include <stdint.h>
#include <sys/types.h>

#include "base/err.h"

struct drv_spawn {
    char *const *argv; /* argv[0] is a path */
    char *const *env;  /* full environment, NAME=VALUE */
    const char *workdir;
    const char *log_path; /* stdout and stderr are appended here */
};

/* Start a process; *pid is also its process group id. *start_ticks is its
 * start time from /proc (to recognise it after a restart). */
int drv_process_spawn(const struct drv_spawn *s, pid_t *pid, uint64_t *start_ticks,
                      struct err *err);
/* Signal a whole instance (its process group). */
void drv_process_signal(pid_t pgid, int sig);
/* Kill every process of group 'pgid' started at or after 'start_ticks': what
 * an instance recorded before a crash may have left running. Returns how many. */
int drv_process_sweep(pid_t pgid, uint64_t start_ticks);
/* A free TCP port on 127.0.0.1 (the kernel's choice), or a negative error. */
int drv_free_port(void);

#endif
