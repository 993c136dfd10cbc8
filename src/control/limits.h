/* limits.h - each instance's CPU and memory limits, from its spec (the
 * InstanceType's figures, or a prepaid Resources request), enforced in a
 * control group of its own (drivers/cgroup.h): made before the instance
 * starts, read for a memory-limit kill when it exits, then removed. Groups
 * the kernel does not let go of at once are retried on later ticks.
 * Main thread only. */
#ifndef BERTH_CTL_LIMITS_H
#define BERTH_CTL_LIMITS_H

#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"
#include "control/specs.h"
#include "drivers/cgroup.h"

struct ctl_limits;

/* 'host' is kept (not copied) and outlives the result; NULL: no hierarchy,
 * every instance is refused. */
struct ctl_limits *ctl_limits_new(const struct drv_cgroup_host *host);
/* Removes what groups are still pending; accepts NULL. */
void ctl_limits_free(struct ctl_limits *l);

/* What a stored service spec asks for one instance: LimitCpuMilli and
 * LimitMemoryMiB (written by the API), else its InstanceType's figures.
 * Returns 0, or ERR_NOTFOUND when the spec names neither. */
int ctl_limits_of_spec(const char *spec_json, struct spec_request *out);

/* Make instance 'name's group with the spec's limits; cg->fds are for
 * drv_spawn.cgroup_fds. On failure (no hierarchy, no limits, a write
 * refused) 'err' says why and nothing is left behind. */
int ctl_limits_prepare(struct ctl_limits *l, const char *spec_json, const char *name,
                       struct drv_cgroup_instance *cg, struct err *err);
/* An adopted instance 'name': its group as ctl_limits_prepare() made it
 * (for the OOM reports and the removal); ERR_NOTFOUND when it has none. */
int ctl_limits_adopt(struct ctl_limits *l, const char *spec_json, const char *name,
                     struct drv_cgroup_instance *cg);
/* Remove the groups earlier berthds left, but those of adopted instances
 * ('keep': their names). Once, after the adoption at start. */
void ctl_limits_sweep(struct ctl_limits *l, const char *const *keep, size_t nkeep);
/* The instance is gone (or never started): close the descriptors, tell
 * whether the kernel killed a process of it for its memory limit, and
 * remove the group (later, if the kernel still holds it). */
bool ctl_limits_finish(struct ctl_limits *l, struct drv_cgroup_instance *cg);
/* OOM kills in a running instance's group since the last call: a process
 * of it (a forked child, on v1 where the kernel kills one process) that the
 * kernel killed for the group's memory limit while the instance lives on. */
uint64_t ctl_limits_oom_news(struct drv_cgroup_instance *cg);
/* Try the pending removals again (each tick). */
void ctl_limits_retry(struct ctl_limits *l);

#endif
