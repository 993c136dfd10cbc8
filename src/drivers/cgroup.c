/* cgroup.c - instance groups in cgroup v1 or v2. The limits are written
 * before any process joins, and the instance joins from its own side of the
 * fork, before exec, by writing "0" (itself) to cgroup.procs descriptors that
 * berthd opened for it: from then on every child it forks is born inside, so
 * no fork escapes, and no window exists in which it runs unlimited. */
#include "drivers/cgroup.h"
#include "base/log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CPU_PERIOD_US 100000

static int write_file(const char *dir, const char *file, const char *text)
{
    char path[DRV_CGROUP_PATH_MAX + 64];
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return ERR_SYS(errno);
    size_t n = strlen(text);
    int rc = write(fd, text, n) == (ssize_t)n ? 0 : ERR_SYS(errno);
    close(fd);
    return rc;
}

static bool file_exists(const char *dir, const char *file)
{
    char path[DRV_CGROUP_PATH_MAX + 64];
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    return access(path, F_OK) == 0;
}

/* Read a small file into 'buf' (NUL-terminated); the byte count or -1. */
static ssize_t read_small(const char *path, char *buf, size_t size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t got = 0;
    ssize_t n;
    while (got + 1 < size && (n = read(fd, buf + got, size - 1 - got)) > 0)
        got += (size_t)n;
    close(fd);
    buf[got] = '\0';
    return (ssize_t)got;
}

/* Whether comma-separated 'list' holds 'word'. */
static bool has_word(const char *list, const char *word, char sep)
{
    size_t n = strlen(word);
    for (const char *p = list; p && *p;) {
        const char *end = strchr(p, sep);
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && strncmp(p, word, n) == 0)
            return true;
        p = end ? end + 1 : NULL;
    }
    return false;
}

/* SIGKILL every process in group 'dir' (a few rounds, for forks in flight). */
static void kill_members(const char *dir)
{
    char path[DRV_CGROUP_PATH_MAX + 64];
    snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
    for (int round = 0; round < 10; round++) {
        char buf[8192];
        if (read_small(path, buf, sizeof(buf)) <= 0)
            return;
        for (char *p = buf; *p;) {
            char *end;
            long pid = strtol(p, &end, 10);
            if (end == p)
                break;
            if (pid > 1)
                kill((pid_t)pid, SIGKILL);
            p = end;
            while (*p == '\n')
                p++;
        }
    }
}

/* Remove group 'dir' after killing its processes; waits up to ~100 ms for
 * them to leave. */
static int remove_group(const char *dir)
{
    if (!dir[0])
        return 0;
    for (int i = 0; i < 20; i++) {
        if (rmdir(dir) == 0 || errno == ENOENT)
            return 0;
        if (errno != EBUSY)
            return ERR_SYS(errno);
        kill_members(dir);
        usleep(5000);
    }
    return ERR_AGAIN;
}

/* Empty and remove every group below 'dir' (left by an earlier berthd)
 * but those named in 'keep' (of instances adopted since). */
static void sweep_children(const char *dir, const char *const *keep, size_t nkeep)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || e->d_type != DT_DIR)
            continue;
        bool kept = false;
        for (size_t k = 0; k < nkeep && !kept; k++)
            kept = strcmp(keep[k], e->d_name) == 0;
        if (kept)
            continue;
        char sub[DRV_CGROUP_PATH_MAX];
        if (snprintf(sub, sizeof(sub), "%s/%s", dir, e->d_name) >= (int)sizeof(sub))
            continue;
        if (remove_group(sub) == 0)
            log_info("cgroup", "removed the leftover group %s", sub);
        else
            log_warn("cgroup", "cannot remove the leftover group %s", sub);
    }
    closedir(d);
}

/* ------------------------------------------------------------------------ */
/* Detection                                                                */

struct mount {
    char root[DRV_CGROUP_PATH_MAX];
    char point[DRV_CGROUP_PATH_MAX];
};

/* The mount of a v1 hierarchy holding 'controller', or of v2 when NULL. */
static bool find_mount(const char *mountinfo, const char *controller, struct mount *out)
{
    FILE *f = fopen(mountinfo, "re");
    if (!f)
        return false;
    char line[4096];
    bool found = false;
    while (!found && fgets(line, sizeof(line), f)) {
        /* id parent maj:min root point options [optional...] - fstype source superopts */
        char root[DRV_CGROUP_PATH_MAX], point[DRV_CGROUP_PATH_MAX];
        if (sscanf(line, "%*s %*s %*s %511s %511s", root, point) != 2)
            continue;
        char *dash = strstr(line, " - ");
        if (!dash)
            continue;
        char fstype[32], source[256], opts[1024] = "";
        if (sscanf(dash + 3, "%31s %255s %1023s", fstype, source, opts) < 2)
            continue;
        if (controller ? strcmp(fstype, "cgroup") == 0 && has_word(opts, controller, ',')
                       : strcmp(fstype, "cgroup2") == 0) {
            snprintf(out->root, sizeof(out->root), "%s", root);
            snprintf(out->point, sizeof(out->point), "%s", point);
            found = true;
        }
    }
    fclose(f);
    return found;
}

/* berthd's own group in the hierarchy holding 'controller' (v2: NULL). */
static bool own_path(const char *self_cgroup, const char *controller, char *out, size_t size)
{
    FILE *f = fopen(self_cgroup, "re");
    if (!f)
        return false;
    char line[4096];
    bool found = false;
    while (!found && fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\n")] = '\0';
        char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2)
            continue;
        *c1 = *c2 = '\0';
        const char *ctrls = c1 + 1;
        if (controller ? has_word(ctrls, controller, ',') : (strcmp(line, "0") == 0 && !*ctrls)) {
            snprintf(out, size, "%s", c2 + 1);
            found = true;
        }
    }
    fclose(f);
    return found;
}

/* mount point + own path less the mount's root. */
static int join_path(const struct mount *m, const char *own, const char *name, char *out,
                     size_t size)
{
    size_t rl = strlen(m->root);
    const char *rel = own;
    if (strcmp(m->root, "/") != 0 && strncmp(own, m->root, rl) == 0 &&
        (own[rl] == '/' || own[rl] == '\0'))
        rel = own + rl;
    if (strcmp(rel, "/") == 0)
        rel = "";
    int n = name ? snprintf(out, size, "%s%s/%s", m->point, rel, name)
                 : snprintf(out, size, "%s%s", m->point, rel);
    return n > 0 && (size_t)n < size ? 0 : -1;
}

static int make_dir(const char *dir, char *why, size_t size)
{
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        snprintf(why, size, "cannot create the control group '%s': %s", dir, strerror(errno));
        return -1;
    }
    return 0;
}

static void detect_v1(const char *mountinfo, const char *self_cgroup, const char *name,
                      struct drv_cgroup_host *h)
{
    struct mount cm, mm;
    char cown[DRV_CGROUP_PATH_MAX], mown[DRV_CGROUP_PATH_MAX];
    if (!find_mount(mountinfo, "cpu", &cm) || !find_mount(mountinfo, "memory", &mm) ||
        !own_path(self_cgroup, "cpu", cown, sizeof(cown)) ||
        !own_path(self_cgroup, "memory", mown, sizeof(mown)) ||
        join_path(&cm, cown, name, h->cpu_dir, sizeof(h->cpu_dir)) ||
        join_path(&mm, mown, name, h->mem_dir, sizeof(h->mem_dir))) {
        snprintf(h->why, sizeof(h->why), "cannot find berthd's own cgroup v1 groups");
        return;
    }
    if (make_dir(h->cpu_dir, h->why, sizeof(h->why)) ||
        make_dir(h->mem_dir, h->why, sizeof(h->why)))
        return;
    if (!file_exists(h->cpu_dir, "cpu.cfs_quota_us") ||
        !file_exists(h->mem_dir, "memory.limit_in_bytes")) {
        snprintf(h->why, sizeof(h->why),
                 "cgroup v1 without cpu.cfs_quota_us or memory.limit_in_bytes (kernel without "
                 "CFS bandwidth control or the memory controller)");
        return;
    }
    h->memsw = file_exists(h->mem_dir, "memory.memsw.limit_in_bytes");
    h->version = DRV_CGROUP_V1;
}

static void detect_v2(const char *mountinfo, const char *self_cgroup, const char *name,
                      struct drv_cgroup_host *h)
{
    struct mount m;
    char own_path_s[DRV_CGROUP_PATH_MAX], own[DRV_CGROUP_PATH_MAX], buf[1024];
    if (!find_mount(mountinfo, NULL, &m) ||
        !own_path(self_cgroup, NULL, own_path_s, sizeof(own_path_s)) ||
        join_path(&m, own_path_s, NULL, own, sizeof(own)) ||
        join_path(&m, own_path_s, name, h->cpu_dir, sizeof(h->cpu_dir))) {
        snprintf(h->why, sizeof(h->why),
                 "no cgroup v1 cpu and memory controllers and no cgroup v2 hierarchy");
        return;
    }
    char path[DRV_CGROUP_PATH_MAX + 64];
    snprintf(path, sizeof(path), "%s/cgroup.controllers", own);
    ssize_t got = read_small(path, buf, sizeof(buf));
    buf[got > 0 ? strcspn(buf, "\n") : 0] = '\0';
    if (!has_word(buf, "cpu", ' ') || !has_word(buf, "memory", ' ')) {
        snprintf(h->why, sizeof(h->why),
                 "cgroup v2 at '%s' does not offer the cpu and memory controllers to berthd's "
                 "group '%s'",
                 m.point, own);
        return;
    }
    int rc = write_file(own, "cgroup.subtree_control", "+cpu +memory");
    if (rc == ERR_SYS(EBUSY)) {
        /* Processes in our group (berthd itself): v2 lets controllers go only
         * to the children of groups without any. Move berthd to a leaf. */
        char self[DRV_CGROUP_PATH_MAX + 8], pid[32];
        snprintf(self, sizeof(self), "%s-self", h->cpu_dir);
        snprintf(pid, sizeof(pid), "%ld", (long)getpid());
        if (make_dir(self, h->why, sizeof(h->why)))
            return;
        rc = write_file(self, "cgroup.procs", pid);
        if (rc == 0)
            rc = write_file(own, "cgroup.subtree_control", "+cpu +memory");
        if (rc == 0)
            log_info("cgroup",
                     "moved berthd into %s to give the cpu and memory controllers to "
                     "its instances",
                     self);
    }
    if (rc) {
        snprintf(h->why, sizeof(h->why), "cannot enable the cpu and memory controllers in '%s': %s",
                 own, strerror(-rc));
        return;
    }
    if (make_dir(h->cpu_dir, h->why, sizeof(h->why)))
        return;
    rc = write_file(h->cpu_dir, "cgroup.subtree_control", "+cpu +memory");
    if (rc) {
        snprintf(h->why, sizeof(h->why), "cannot enable the cpu and memory controllers in '%s': %s",
                 h->cpu_dir, strerror(-rc));
        return;
    }
    h->version = DRV_CGROUP_V2;
}

void drv_cgroup_detect(const char *mountinfo, const char *self_cgroup, const char *name,
                       struct drv_cgroup_host *out)
{
    memset(out, 0, sizeof(*out));
    mountinfo = mountinfo ? mountinfo : "/proc/self/mountinfo";
    self_cgroup = self_cgroup ? self_cgroup : "/proc/self/cgroup";
    struct mount m;
    if (find_mount(mountinfo, "cpu", &m) && find_mount(mountinfo, "memory", &m))
        detect_v1(mountinfo, self_cgroup, name, out);
    else
        detect_v2(mountinfo, self_cgroup, name, out);
    if (out->version == DRV_CGROUP_NONE) {
        if (out->cpu_dir[0]) /* what it made before it found out; fails when not made */
            rmdir(out->cpu_dir);
        if (out->mem_dir[0])
            rmdir(out->mem_dir);
        out->cpu_dir[0] = out->mem_dir[0] = '\0';
        log_warn("cgroup", "instances cannot be limited, so none will start: %s", out->why);
    } else {
        log_info("cgroup", "instance limits in cgroup v%d under %s%s%s",
                 out->version == DRV_CGROUP_V1 ? 1 : 2, out->cpu_dir,
                 out->mem_dir[0] ? " and " : "", out->mem_dir);
    }
}

void drv_cgroup_host_release(const struct drv_cgroup_host *h)
{
    if (h->version == DRV_CGROUP_NONE)
        return;
    rmdir(h->cpu_dir);
    if (h->mem_dir[0])
        rmdir(h->mem_dir);
}

/* ------------------------------------------------------------------------ */
/* Instance groups                                                          */

static int open_procs(struct drv_cgroup_instance *cg, const char *dir, struct err *err)
{
    char path[DRV_CGROUP_PATH_MAX + 64];
    snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return err_set(err, ERR_SYS(errno), "cannot open '%s': %s", path, strerror(errno));
    cg->fds[cg->nfds++] = fd;
    return 0;
}

static int set_limit(const char *dir, const char *file, const char *value, struct err *err)
{
    int rc = write_file(dir, file, value);
    if (rc)
        return err_set(err, rc, "cannot set %s/%s to %s: %s", dir, file, value, strerror(-rc));
    return 0;
}

void drv_cgroup_sweep(const struct drv_cgroup_host *h, const char *const *keep, size_t nkeep)
{
    if (h->version == DRV_CGROUP_NONE)
        return;
    sweep_children(h->cpu_dir, keep, nkeep);
    if (h->version == DRV_CGROUP_V1)
        sweep_children(h->mem_dir, keep, nkeep);
}

int drv_cgroup_attach(const struct drv_cgroup_host *h, const char *name, uint32_t memory_mib,
                      struct drv_cgroup_instance *out)
{
    memset(out, 0, sizeof(*out));
    out->fds[0] = out->fds[1] = -1;
    out->memory_mib = memory_mib;
    struct stat st;
    if (h->version == DRV_CGROUP_NONE ||
        snprintf(out->cpu, sizeof(out->cpu), "%s/%s", h->cpu_dir, name) >= (int)sizeof(out->cpu) ||
        (h->version == DRV_CGROUP_V1 && snprintf(out->mem, sizeof(out->mem), "%s/%s", h->mem_dir,
                                                 name) >= (int)sizeof(out->mem)) ||
        stat(out->cpu, &st) != 0) {
        out->cpu[0] = out->mem[0] = '\0';
        return ERR_NOTFOUND;
    }
    /* OOM kills from before the adoption were the earlier berthd's to report. */
    out->oom_seen = drv_cgroup_oom_kills(out);
    return 0;
}

int drv_cgroup_create(const struct drv_cgroup_host *h, const char *name, uint32_t cpu_millicores,
                      uint32_t memory_mib, struct drv_cgroup_instance *out, struct err *err)
{
    memset(out, 0, sizeof(*out));
    out->fds[0] = out->fds[1] = -1;
    out->memory_mib = memory_mib;
    if (h->version == DRV_CGROUP_NONE)
        return err_set(err, ERR_UNSUPPORTED, "cannot enforce the instance's CPU and memory: %s",
                       h->why);
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '.' || *p == '_' || *p == '-'))
            return err_set(err, ERR_INVALID, "bad control group name '%s'", name);
    if (!*name || cpu_millicores == 0 || memory_mib == 0)
        return err_set(err, ERR_INVALID, "an instance needs a name, a CPU and a memory limit");
    if (snprintf(out->cpu, sizeof(out->cpu), "%s/%s", h->cpu_dir, name) >= (int)sizeof(out->cpu) ||
        (h->version == DRV_CGROUP_V1 && snprintf(out->mem, sizeof(out->mem), "%s/%s", h->mem_dir,
                                                 name) >= (int)sizeof(out->mem))) {
        out->cpu[0] = out->mem[0] = '\0';
        return err_set(err, ERR_TOOBIG, "the control group path of '%s' is too long", name);
    }
    /* A group of that name from an instance that did not end cleanly goes first. */
    remove_group(out->cpu);
    remove_group(out->mem);
    char quota[32], bytes[32];
    snprintf(bytes, sizeof(bytes), "%llu", (unsigned long long)memory_mib << 20);
    unsigned long long q = (unsigned long long)cpu_millicores * CPU_PERIOD_US / 1000;
    int rc = 0;
    const char *dirs[2] = {out->cpu, out->mem};
    for (int i = 0; i < 2 && !rc; i++)
        if (dirs[i][0] && mkdir(dirs[i], 0755) != 0)
            rc = err_set(err, ERR_SYS(errno), "cannot create the control group '%s': %s", dirs[i],
                         strerror(errno));
    if (!rc && h->version == DRV_CGROUP_V1) {
        snprintf(quota, sizeof(quota), "%llu", q);
        rc = set_limit(out->cpu, "cpu.cfs_period_us", "100000", err);
        if (!rc)
            rc = set_limit(out->cpu, "cpu.cfs_quota_us", quota, err);
        if (!rc)
            rc = set_limit(out->mem, "memory.limit_in_bytes", bytes, err);
        /* memsw is memory + swap: the same figure leaves no swap to use. */
        if (!rc && h->memsw)
            rc = set_limit(out->mem, "memory.memsw.limit_in_bytes", bytes, err);
        else if (!rc)
            write_file(out->mem, "memory.swappiness", "0");
        if (!rc)
            rc = open_procs(out, out->cpu, err);
        if (!rc)
            rc = open_procs(out, out->mem, err);
    } else if (!rc) {
        snprintf(quota, sizeof(quota), "%llu %d", q, CPU_PERIOD_US);
        rc = set_limit(out->cpu, "cpu.max", quota, err);
        if (!rc)
            rc = set_limit(out->cpu, "memory.max", bytes, err);
        if (!rc && file_exists(out->cpu, "memory.swap.max"))
            rc = set_limit(out->cpu, "memory.swap.max", "0", err);
        /* One OOM kill ends every process of the instance, as a pod's would. */
        if (!rc && file_exists(out->cpu, "memory.oom.group"))
            write_file(out->cpu, "memory.oom.group", "1");
        if (!rc)
            rc = open_procs(out, out->cpu, err);
    }
    if (rc) {
        drv_cgroup_close_fds(out);
        drv_cgroup_remove(out);
    }
    return rc;
}

void drv_cgroup_close_fds(struct drv_cgroup_instance *cg)
{
    for (int i = 0; i < cg->nfds; i++)
        if (cg->fds[i] >= 0)
            close(cg->fds[i]);
    cg->fds[0] = cg->fds[1] = -1;
    cg->nfds = 0;
}

/* The number after "oom_kill " in a flat-keyed file. */
static uint64_t read_key(const char *dir, const char *file, const char *key)
{
    char path[DRV_CGROUP_PATH_MAX + 64], buf[2048];
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    if (read_small(path, buf, sizeof(buf)) <= 0)
        return 0;
    size_t n = strlen(key);
    for (char *line = buf; line && *line;) {
        if (strncmp(line, key, n) == 0 && line[n] == ' ')
            return strtoull(line + n + 1, NULL, 10);
        line = strchr(line, '\n');
        if (line)
            line++;
    }
    return 0;
}

uint64_t drv_cgroup_oom_kills(const struct drv_cgroup_instance *cg)
{
    if (cg->mem[0])
        return read_key(cg->mem, "memory.oom_control", "oom_kill");
    if (cg->cpu[0])
        return read_key(cg->cpu, "memory.events", "oom_kill");
    return 0;
}

int drv_cgroup_remove(struct drv_cgroup_instance *cg)
{
    int rc = remove_group(cg->cpu);
    if (rc == 0)
        cg->cpu[0] = '\0';
    int rc2 = remove_group(cg->mem);
    if (rc2 == 0)
        cg->mem[0] = '\0';
    return rc ? rc : rc2;
}
