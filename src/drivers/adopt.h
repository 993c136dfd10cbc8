/* adopt.h - instances that outlived the berthd that started them: telling a
 * live keeper and instance from a recycled pid (pid and start time from
 * /proc), watching a keeper that is not our child (a pidfd where the kernel
 * has pidfd_open, else /proc), reading the exit status its keeper wrote
 * (process.h) and reopening the output pipes it holds. Reads /proc only; no
 * signals are sent here. Main thread. Fallible calls return 0 or a negative
 * ERR_* code. */
#ifndef BERTH_DRIVERS_ADOPT_H
#define BERTH_DRIVERS_ADOPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The start time (clock ticks since boot) of 'pid' and whether it still runs
 * (not a zombie). ERR_NOTFOUND when there is no such process. */
int drv_proc_ticks(pid_t pid, uint64_t *ticks, bool *running);

/* Whether 'pid' is the process that started at 'ticks' and still runs. */
bool drv_proc_is(pid_t pid, uint64_t ticks);

/* A watch on a keeper: 'pidfd' is -1 where the kernel has no pidfd_open. */
struct drv_watch {
    pid_t pid;
    uint64_t ticks;
    int pidfd;
};

/* Start watching the keeper 'pid' started at 'ticks'; ERR_NOTFOUND when it
 * is gone (or the pid is another process's now). */
int drv_watch_open(struct drv_watch *w, pid_t pid, uint64_t ticks);
/* Whether the keeper has exited (or was never there). Never blocks. */
bool drv_watch_exited(const struct drv_watch *w);
void drv_watch_close(struct drv_watch *w);

/* What the keeper wrote to 'path' on its way out, as a wait(2) status in
 * *status: 0 when it said, ERR_NOTFOUND when it said nothing (the keeper was
 * killed itself). */
int drv_keeper_status(const char *path, int *status);

/* Open the instance's output pipes again from the keeper that holds them
 * (its DRV_KEEPER_FD_HOLD descriptors): fds[0] stdout, fds[1] stderr, read
 * ends, non-blocking and close-on-exec. ERR_NOTFOUND when it holds none. */
int drv_keeper_pipes(pid_t keeper, int fds[2]);

#endif
