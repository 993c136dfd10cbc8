/* procstat.h - CPU time and memory of processes: of berthd itself (for its
 * process_* metrics) and of an instance, from /proc over the keeper's
 * descendants, or from the instance's own cgroup (v1 or v2) when it has one
 * (one that berthd is not in). Reads only; any thread. Fallible calls return
 * 0 or a negative ERR_* code. */
#ifndef BERTH_DRIVERS_PROCSTAT_H
#define BERTH_DRIVERS_PROCSTAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The fields of /proc/<pid>/stat used here; times in clock ticks. */
struct drv_stat {
    pid_t ppid, pgrp;
    uint64_t utime, stime, cutime, cstime;
    uint64_t starttime;
    uint64_t vsize_bytes, rss_pages;
};
/* Parse the text of a /proc/<pid>/stat (the command name may hold spaces
 * and parentheses). */
int drv_stat_parse(const char *text, struct drv_stat *out);

/* What a cgroup file says of a process: the path of its cgroup for cpu
 * accounting and for memory, and whether they are v1 hierarchies (else the
 * v2 unified one). A v1 controller wins over the unified line (hybrid). */
struct drv_cgroup {
    char cpu[256], memory[256];
    bool cpu_v1, memory_v1;
};
int drv_cgroup_parse(const char *text, struct drv_cgroup *out);

/* CPU and memory of a set of processes. */
struct drv_usage {
    double cpu_seconds;    /* user + system, waited-for children included */
    uint64_t memory_bytes; /* resident (sum of RSS), or the cgroup's usage */
    int nprocs;            /* processes counted (0 with a cgroup) */
    bool cgroup;           /* read from the instance's own cgroup */
};

/* The descendants of 'root' (not 'root' itself unless 'with_root'), found
 * through /proc/<pid>/task/<tid>/children: for an instance, its keeper's
 * descendants are the instance and everything it forked, those that left
 * its process group included (the keeper is their subreaper). */
int drv_usage_tree(pid_t root, bool with_root, struct drv_usage *out);
/* The cgroup of 'pid' when it is not berthd's own; ERR_NOTFOUND otherwise. */
int drv_usage_cgroup(pid_t pid, struct drv_usage *out);
/* An instance: from its own cgroup if it has one, else from the tree under
 * its keeper. */
int drv_usage_instance(pid_t keeper, pid_t pgid, struct drv_usage *out);

/* berthd itself, as Prometheus' process_* metrics want it. */
struct drv_self {
    double cpu_seconds;
    uint64_t resident_bytes, virtual_bytes;
    uint64_t open_fds, max_fds;
    double start_time_s; /* Unix seconds */
};
int drv_self_read(struct drv_self *out);

#endif
