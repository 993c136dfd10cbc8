/* driver.h - what the reconciler asks of the driver that runs an instance:
 * a switch on the instance's kind over the process driver (process.h, a
 * child of berthd under its keeper) and the container driver (container.h,
 * a container of a Docker Engine API service). Which driver a service uses
 * follows from what it runs: an image (ImageInfo) runs in a container, a
 * model file or a command as a process. Main thread only. */
#ifndef BERTH_DRIVERS_DRIVER_H
#define BERTH_DRIVERS_DRIVER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "drivers/procstat.h"

enum drv_kind { DRV_PROCESS, DRV_CONTAINER };

struct drv_container;

/* One running instance, whichever driver runs it. */
struct drv_handle {
    enum drv_kind kind;
    pid_t pid;  /* process: its keeper's, for waitpid */
    pid_t pgid; /* process: its own group, for signals */
    uint64_t start_ticks;
    struct drv_container *ct; /* container: the driver's handle, NULL once it exited */
};

/* The driver for a service's spec (its "Kind": "image" runs in a container). */
enum drv_kind drv_kind_of(const char *kind);
/* Ask an instance to stop: SIGTERM stops it gracefully (a container runs its
 * PreStopCommand first, then gets SIGTERM and, after its grace period, is
 * killed by its engine), SIGKILL ends it at once. The exit is reported the
 * way the driver reports exits (SIGCHLD, or the container driver's report). */
void drv_signal(const struct drv_handle *h, int sig);
/* CPU and memory of a running instance; negative when not known. */
int drv_usage(const struct drv_handle *h, struct drv_usage *out);

#endif
