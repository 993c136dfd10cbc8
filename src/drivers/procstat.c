/* procstat.c - /proc and cgroup readers. Each sample opens a few small
 * files per process, so callers sample at a modest period (the reconciler:
 * every 2 s) rather than per scrape or per request. */
#include "drivers/procstat.h"
#include "base/alloc.h"
#include "base/err.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define TREE_MAX 4096 /* processes counted under one root */

static int read_text(const char *path, char *buf, size_t size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return ERR_SYS(errno);
    size_t len = 0;
    ssize_t n;
    while (len < size - 1 && (n = read(fd, buf + len, size - 1 - len)) > 0)
        len += (size_t)n;
    close(fd);
    buf[len] = '\0';
    return len ? 0 : ERR_NOTFOUND;
}

int drv_stat_parse(const char *text, struct drv_stat *out)
{
    memset(out, 0, sizeof(*out));
    const char *p = strrchr(text, ')');
    if (!p || p[1] != ' ')
        return ERR_INVALID;
    p += 2;
    /* Fields from 3 (state) on; we need up to 24 (rss). */
    unsigned long long f[25] = {0};
    int field = 3;
    while (*p && field <= 24) {
        if (field > 3) {
            char *end;
            f[field] = strtoull(p, &end, 10);
            if (end == p && *p != '-')
                return ERR_INVALID;
            p = end;
        } else {
            while (*p && *p != ' ')
                p++;
        }
        while (*p == ' ')
            p++;
        field++;
    }
    if (field <= 24)
        return ERR_INVALID;
    out->ppid = (pid_t)f[4];
    out->pgrp = (pid_t)f[5];
    out->utime = f[14];
    out->stime = f[15];
    out->cutime = f[16];
    out->cstime = f[17];
    out->starttime = f[22];
    out->vsize_bytes = f[23];
    out->rss_pages = f[24];
    return 0;
}

static int stat_of(pid_t pid, struct drv_stat *out)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    int rc = read_text(path, buf, sizeof(buf));
    return rc ? rc : drv_stat_parse(buf, out);
}

static double ticks_to_s(uint64_t ticks)
{
    static long hz;
    if (!hz)
        hz = sysconf(_SC_CLK_TCK) > 0 ? sysconf(_SC_CLK_TCK) : 100;
    return (double)ticks / (double)hz;
}

static uint64_t page_bytes(void)
{
    long p = sysconf(_SC_PAGESIZE);
    return p > 0 ? (uint64_t)p : 4096;
}

/* Append the children of 'pid' (every thread's) to list[*n]. */
static void add_children(pid_t pid, pid_t *list, size_t *n)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
    DIR *d = opendir(path);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) && *n < TREE_MAX) {
        if (e->d_name[0] == '.')
            continue;
        char file[96], buf[4096];
        snprintf(file, sizeof(file), "/proc/%d/task/%.16s/children", (int)pid, e->d_name);
        if (read_text(file, buf, sizeof(buf)) != 0)
            continue;
        for (char *p = buf; *p && *n < TREE_MAX;) {
            char *end;
            long c = strtol(p, &end, 10);
            if (end == p)
                break;
            if (c > 0)
                list[(*n)++] = (pid_t)c;
            p = end;
        }
    }
    closedir(d);
}

int drv_usage_tree(pid_t root, bool with_root, struct drv_usage *out)
{
    memset(out, 0, sizeof(*out));
    if (root <= 0)
        return ERR_INVALID;
    pid_t *list = xcalloc(TREE_MAX, sizeof(*list));
    size_t n = 0;
    if (with_root)
        list[n++] = root;
    else
        add_children(root, list, &n);
    /* Breadth first: list[i]'s children go to the end. */
    for (size_t i = 0; i < n; i++)
        add_children(list[i], list, &n);
    uint64_t ticks = 0, pages = 0;
    for (size_t i = 0; i < n; i++) {
        struct drv_stat s;
        if (stat_of(list[i], &s) != 0)
            continue; /* gone meanwhile */
        ticks += s.utime + s.stime + s.cutime + s.cstime;
        pages += s.rss_pages;
        out->nprocs++;
    }
    free(list);
    out->cpu_seconds = ticks_to_s(ticks);
    out->memory_bytes = pages * page_bytes();
    return 0;
}

/* "N:controllers:/path" lines; v1 controllers are comma-separated. */
static bool has_controller(const char *list, size_t len, const char *name)
{
    size_t nl = strlen(name);
    for (const char *p = list; p < list + len;) {
        const char *comma = memchr(p, ',', (size_t)(list + len - p));
        size_t l = comma ? (size_t)(comma - p) : (size_t)(list + len - p);
        if (l == nl && memcmp(p, name, nl) == 0)
            return true;
        p += l + 1;
    }
    return false;
}

int drv_cgroup_parse(const char *text, struct drv_cgroup *out)
{
    memset(out, 0, sizeof(*out));
    bool found = false;
    for (const char *line = text; *line;) {
        const char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        const char *c1 = memchr(line, ':', len);
        const char *c2 = c1 ? memchr(c1 + 1, ':', (size_t)(line + len - c1 - 1)) : NULL;
        if (c2) {
            const char *ctl = c1 + 1;
            size_t ctl_len = (size_t)(c2 - ctl);
            int plen = (int)(line + len - c2 - 1);
            if (ctl_len == 0 && strncmp(line, "0:", 2) == 0) { /* the unified hierarchy */
                if (!out->cpu_v1)
                    snprintf(out->cpu, sizeof(out->cpu), "%.*s", plen, c2 + 1);
                if (!out->memory_v1)
                    snprintf(out->memory, sizeof(out->memory), "%.*s", plen, c2 + 1);
                found = true;
            }
            if (has_controller(ctl, ctl_len, "cpuacct")) {
                snprintf(out->cpu, sizeof(out->cpu), "%.*s", plen, c2 + 1);
                out->cpu_v1 = found = true;
            }
            if (has_controller(ctl, ctl_len, "memory")) {
                snprintf(out->memory, sizeof(out->memory), "%.*s", plen, c2 + 1);
                out->memory_v1 = found = true;
            }
        }
        line += len + (nl ? 1 : 0);
    }
    return found ? 0 : ERR_NOTFOUND;
}

static int cgroup_of(const char *pid, struct drv_cgroup *out)
{
    char path[64], buf[4096];
    snprintf(path, sizeof(path), "/proc/%s/cgroup", pid);
    int rc = read_text(path, buf, sizeof(buf));
    return rc ? rc : drv_cgroup_parse(buf, out);
}

static int read_u64(const char *path, const char *key, uint64_t *out)
{
    char buf[4096];
    int rc = read_text(path, buf, sizeof(buf));
    if (rc)
        return rc;
    const char *p = buf;
    if (key) {
        size_t kl = strlen(key);
        for (p = buf; p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
            if (strncmp(p, key, kl) == 0 && p[kl] == ' ')
                break;
        if (!p)
            return ERR_NOTFOUND;
        p += strlen(key) + 1;
    }
    char *end;
    *out = strtoull(p, &end, 10);
    return end == p ? ERR_INVALID : 0;
}

/* The first v1 mount of a controller that has this cgroup's file. */
static int read_v1(const char *const *mounts, const char *cg, const char *file, uint64_t *out)
{
    for (size_t i = 0; mounts[i]; i++) {
        char path[512];
        snprintf(path, sizeof(path), "/sys/fs/cgroup/%s%s/%s", mounts[i], cg, file);
        if (read_u64(path, NULL, out) == 0)
            return 0;
    }
    return ERR_NOTFOUND;
}

int drv_usage_cgroup(pid_t pid, struct drv_usage *out)
{
    memset(out, 0, sizeof(*out));
    char pidtext[16];
    snprintf(pidtext, sizeof(pidtext), "%d", (int)pid);
    struct drv_cgroup them, self;
    if (pid <= 0 || cgroup_of(pidtext, &them) != 0 || cgroup_of("self", &self) != 0)
        return ERR_NOTFOUND;
    /* Sharing berthd's cgroup (or the root) says nothing of the instance alone. */
    if (strcmp(them.cpu, self.cpu) == 0 || strcmp(them.memory, self.memory) == 0 ||
        strcmp(them.cpu, "/") == 0 || strcmp(them.memory, "/") == 0)
        return ERR_NOTFOUND;
    static const char *const cpu_mounts[] = {"cpuacct", "cpu,cpuacct", "cpuacct,cpu", NULL};
    static const char *const mem_mounts[] = {"memory", NULL};
    uint64_t cpu, mem;
    char path[512];
    int rc;
    if (them.cpu_v1) {
        rc = read_v1(cpu_mounts, them.cpu, "cpuacct.usage", &cpu); /* ns */
        out->cpu_seconds = (double)cpu / 1e9;
    } else {
        snprintf(path, sizeof(path), "/sys/fs/cgroup%s/cpu.stat", them.cpu);
        rc = read_u64(path, "usage_usec", &cpu);
        out->cpu_seconds = (double)cpu / 1e6;
    }
    if (rc)
        return ERR_NOTFOUND;
    if (them.memory_v1) {
        rc = read_v1(mem_mounts, them.memory, "memory.usage_in_bytes", &mem);
    } else {
        snprintf(path, sizeof(path), "/sys/fs/cgroup%s/memory.current", them.memory);
        rc = read_u64(path, NULL, &mem);
    }
    if (rc)
        return ERR_NOTFOUND;
    out->memory_bytes = mem;
    out->cgroup = true;
    return 0;
}

int drv_usage_instance(pid_t keeper, pid_t pgid, struct drv_usage *out)
{
    if (drv_usage_cgroup(pgid, out) == 0)
        return 0;
    int rc = drv_usage_tree(keeper, false, out);
    /* What the keeper reaped (orphans of the instance) stays counted. */
    struct drv_stat k;
    if (rc == 0 && stat_of(keeper, &k) == 0)
        out->cpu_seconds += ticks_to_s(k.cutime + k.cstime);
    return rc;
}

static uint64_t count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return 0;
    uint64_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += e->d_name[0] != '.';
    closedir(d);
    return n ? n - 1 : 0; /* less the one opendir holds */
}

int drv_self_read(struct drv_self *out)
{
    memset(out, 0, sizeof(*out));
    struct drv_stat s;
    int rc = stat_of(getpid(), &s);
    if (rc)
        return rc;
    out->cpu_seconds = ticks_to_s(s.utime + s.stime);
    out->resident_bytes = s.rss_pages * page_bytes();
    out->virtual_bytes = s.vsize_bytes;
    out->open_fds = count_fds();
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
        out->max_fds = rl.rlim_cur == RLIM_INFINITY ? 0 : (uint64_t)rl.rlim_cur;
    uint64_t btime;
    if (read_u64("/proc/stat", "btime", &btime) == 0)
        out->start_time_s = (double)btime + ticks_to_s(s.starttime);
    return 0;
}
