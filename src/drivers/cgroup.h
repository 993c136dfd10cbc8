/* cgroup.h - CPU and memory limits of instances in Linux control groups,
 * cgroup v1 (the cpu and memory controllers, mounted apart or together) or
 * v2 (the unified hierarchy), found once at start. Each berthd keeps its
 * instances' groups below one group of its own, named after its data
 * directory, in the hierarchy berthd itself is in; each instance gets one
 * group there. The instance joins it before exec (drv_spawn.cgroup_fds), so
 * whatever it forks is inside. Main thread only. */
#ifndef BERTH_DRIVERS_CGROUP_H
#define BERTH_DRIVERS_CGROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

#define DRV_CGROUP_PATH_MAX 512

enum drv_cgroup_version { DRV_CGROUP_NONE, DRV_CGROUP_V1, DRV_CGROUP_V2 };

/* Where instance groups go. */
struct drv_cgroup_host {
    enum drv_cgroup_version version;
    char cpu_dir[DRV_CGROUP_PATH_MAX]; /* v2: the one directory */
    char mem_dir[DRV_CGROUP_PATH_MAX]; /* v1 only */
    bool memsw;                        /* v1 memory.memsw.* exists: swap is limited too */
    char why[1400];                    /* DRV_CGROUP_NONE: why instances cannot be limited */
};

/* Find the hierarchy from 'mountinfo' and 'self_cgroup' (NULL: /proc/self/
 * mountinfo and /proc/self/cgroup) and make berthd's own group 'name'
 * ("berth-0123abcd") in it; on v2 this enables the cpu and memory
 * controllers below berthd's group, moving berthd into a leaf 'name'-self
 * when its group holds processes (v2 allows controllers only above groups
 * without them). Groups 'name' left by an earlier berthd are emptied (their
 * processes killed) and removed. Never fails: without a usable hierarchy
 * out->version is DRV_CGROUP_NONE and out->why says why. */
void drv_cgroup_detect(const char *mountinfo, const char *self_cgroup, const char *name,
                       struct drv_cgroup_host *out);

/* One instance's group. */
struct drv_cgroup_instance {
    char cpu[DRV_CGROUP_PATH_MAX]; /* "" when not made */
    char mem[DRV_CGROUP_PATH_MAX]; /* v1: the memory controller's; v2: "" */
    int fds[2];                    /* cgroup.procs, open for the instance to join; -1 */
    int nfds;
    uint32_t memory_mib;
    uint64_t oom_seen; /* OOM kills already reported (ctl_limits_oom_news) */
};

/* Make group 'name' ([A-Za-z0-9._-]) with its limits: quota = cpu_millicores
 * per 1000 of the period, memory (and swap with it: no swap) memory_mib. An
 * existing group of that name is emptied and replaced. On failure nothing is
 * left behind. */
/* Empty and remove the groups an earlier berthd left under ours, but
 * those named in 'keep' (the instances adopted: berthd/takeover, drivers/adopt). */
void drv_cgroup_sweep(const struct drv_cgroup_host *h, const char *const *keep, size_t nkeep);
/* The group 'name' of an adopted instance, as drv_cgroup_create() would have
 * made it (no descriptors): 0, or ERR_NOTFOUND when there is none. */
int drv_cgroup_attach(const struct drv_cgroup_host *h, const char *name, uint32_t memory_mib,
                      struct drv_cgroup_instance *out);
int drv_cgroup_create(const struct drv_cgroup_host *h, const char *name, uint32_t cpu_millicores,
                      uint32_t memory_mib, struct drv_cgroup_instance *out, struct err *err);
/* Close the cgroup.procs descriptors (after the spawn; the instance closes
 * its copies at exec). */
void drv_cgroup_close_fds(struct drv_cgroup_instance *cg);
/* How many processes the kernel killed for the memory limit (memory.events
 * oom_kill, or memory.oom_control oom_kill on v1); 0 when unknown. */
uint64_t drv_cgroup_oom_kills(const struct drv_cgroup_instance *cg);
/* SIGKILL what is left in the group and remove it; returns 0, or ERR_AGAIN
 * when the kernel still holds dying processes (try again later). */
int drv_cgroup_remove(struct drv_cgroup_instance *cg);
/* Remove berthd's own group when it is empty (at exit); best effort. */
void drv_cgroup_host_release(const struct drv_cgroup_host *h);

#endif
