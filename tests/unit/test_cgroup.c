/* test_cgroup.c - finding the cgroup hierarchy from a mount table and
 * berthd's own cgroup file (v1, v2, hybrid, none) on directory trees laid out
 * like cgroupfs, cleanup when a limit cannot be written, the OOM counters,
 * and, where this host has a writable hierarchy, one real group with a
 * process that joins it. */
#include "drivers/cgroup.h"
#include "base/alloc.h"
#include "harness.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char root[256];

static void put(const char *rel, const char *text)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", root, rel);
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static void dir(const char *rel)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", root, rel);
    mkdir(path, 0755);
}

static bool exists(const char *rel)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", root, rel);
    return access(path, F_OK) == 0;
}

static void fresh(void)
{
    if (root[0]) {
        char cmd[300];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
        if (system(cmd) != 0)
            printf("# cannot remove %s\n", root);
    }
    snprintf(root, sizeof(root), "/tmp/berth-test-cgroup-XXXXXX");
    if (!mkdtemp(root))
        abort();
}

static void paths(char *mi, char *self, size_t size)
{
    snprintf(mi, size, "%s/mountinfo", root);
    snprintf(self, size, "%s/cgroup", root);
}

TEST(v1_found_with_its_files_and_refused_without)
{
    fresh();
    char mi[512], self[512], line[2048];
    paths(mi, self, sizeof(mi));
    snprintf(line, sizeof(line),
             "31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n"
             "32 31 0:29 / %s/cpu rw,relatime shared:9 - cgroup cgroup rw,cpu,cpuacct\n"
             "33 31 0:30 / %s/cpuset rw - cgroup cgroup rw,cpuset\n"
             "35 31 0:32 / %s/memory rw - cgroup cgroup rw,memory\n"
             "41 31 0:38 / %s/unified rw - cgroup2 cgroup2 rw\n",
             root, root, root, root);
    put("mountinfo", line);
    put("cgroup", "4:memory:/jobs/j1\n3:cpuset:/\n1:cpu,cpuacct:/\n0::/\n");
    dir("cpu");
    dir("memory");
    dir("memory/jobs");
    dir("memory/jobs/j1");
    struct drv_cgroup_host h;
    drv_cgroup_detect(mi, self, "berth-t", &h);
    CHECK_EQ_INT(h.version, DRV_CGROUP_NONE);
    CHECK(strstr(h.why, "cgroup v1 without cpu.cfs_quota_us") != NULL);
    CHECK(h.cpu_dir[0] == '\0');
    /* Nothing was left of the attempt. */
    CHECK(!exists("cpu/berth-t"));
    CHECK(!exists("memory/jobs/j1/berth-t"));
    dir("cpu/berth-t");
    dir("memory/jobs/j1/berth-t");
    put("cpu/berth-t/cpu.cfs_quota_us", "-1\n");
    put("memory/jobs/j1/berth-t/memory.limit_in_bytes", "9223372036854771712\n");
    dir("cpu/berth-t/ms-old-1-0");  /* left by an earlier berthd: removed */
    dir("cpu/berth-t/ms-kept-1-0"); /* an adopted instance's: kept */
    drv_cgroup_detect(mi, self, "berth-t", &h);
    CHECK_EQ_INT(h.version, DRV_CGROUP_V1);
    CHECK(exists("cpu/berth-t/ms-old-1-0")); /* the sweep comes after the adoption */
    const char *keep[] = {"ms-kept-1-0"};
    drv_cgroup_sweep(&h, keep, 1);
    CHECK(exists("cpu/berth-t/ms-kept-1-0"));
    char want[600];
    snprintf(want, sizeof(want), "%s/cpu/berth-t", root);
    CHECK_STR_EQ(h.cpu_dir, want);
    snprintf(want, sizeof(want), "%s/memory/jobs/j1/berth-t", root);
    CHECK_STR_EQ(h.mem_dir, want);
    CHECK(!h.memsw);
    CHECK(!exists("cpu/berth-t/ms-old-1-0"));
    /* The limit files of a new group are the kernel's to make: here they are
     * missing, so creation fails and leaves nothing. */
    struct drv_cgroup_instance cg;
    struct err err = {0};
    CHECK(drv_cgroup_create(&h, "ms-a-1-0", 1000, 64, &cg, &err) != 0);
    CHECK(strstr(err.msg, "cpu.cfs_period_us") != NULL);
    CHECK(!exists("cpu/berth-t/ms-a-1-0"));
    CHECK(!exists("memory/jobs/j1/berth-t/ms-a-1-0"));
    CHECK_EQ_INT(cg.nfds, 0);
    CHECK(drv_cgroup_create(&h, "../x", 1000, 64, &cg, &err) == ERR_INVALID);
    CHECK(drv_cgroup_create(&h, "ok", 0, 64, &cg, &err) == ERR_INVALID);
}

TEST(v2_needs_the_controllers)
{
    fresh();
    char mi[512], self[512], line[1024];
    paths(mi, self, sizeof(mi));
    /* A container's view: the mount's root is its own group. */
    snprintf(line, sizeof(line), "30 20 0:26 /kubepods/pod1 %s/fs rw - cgroup2 cgroup2 rw\n", root);
    put("mountinfo", line);
    put("cgroup", "0::/kubepods/pod1/berthd\n");
    dir("fs");
    dir("fs/berthd");
    put("fs/berthd/cgroup.controllers", "io pids\n");
    struct drv_cgroup_host h;
    drv_cgroup_detect(mi, self, "berth-t", &h);
    CHECK_EQ_INT(h.version, DRV_CGROUP_NONE);
    CHECK(strstr(h.why, "does not offer the cpu and memory controllers") != NULL);
    put("fs/berthd/cgroup.controllers", "cpuset cpu io memory pids\n");
    put("fs/berthd/cgroup.subtree_control", "");
    drv_cgroup_detect(mi, self, "berth-t", &h);
    CHECK_EQ_INT(h.version, DRV_CGROUP_NONE);
    CHECK(strstr(h.why, "berth-t': ") != NULL); /* its own subtree_control is the kernel's */
    CHECK(!exists("fs/berthd/berth-t"));
    dir("fs/berthd/berth-t");
    put("fs/berthd/berth-t/cgroup.subtree_control", "");
    drv_cgroup_detect(mi, self, "berth-t", &h);
    CHECK_EQ_INT(h.version, DRV_CGROUP_V2);
    char want[600];
    snprintf(want, sizeof(want), "%s/fs/berthd/berth-t", root);
    CHECK_STR_EQ(h.cpu_dir, want);
    CHECK(h.mem_dir[0] == '\0');
    struct drv_cgroup_instance cg;
    struct err err = {0};
    CHECK(drv_cgroup_create(&h, "ms-a-1-0", 500, 64, &cg, &err) != 0);
    CHECK(strstr(err.msg, "cpu.max") != NULL);
    CHECK(!exists("fs/berthd/berth-t/ms-a-1-0"));
}

TEST(none_at_all)
{
    fresh();
    char mi[512], self[512];
    paths(mi, self, sizeof(mi));
    put("mountinfo", "22 1 0:21 / /proc rw - proc proc rw\n");
    put("cgroup", "0::/\n");
    struct drv_cgroup_host h;
    drv_cgroup_detect(mi, self, "berth-t", &h);
    CHECK_EQ_INT(h.version, DRV_CGROUP_NONE);
    CHECK(strstr(h.why, "no cgroup v1 cpu and memory controllers and no cgroup v2") != NULL);
    struct drv_cgroup_instance cg;
    struct err err = {0};
    CHECK_EQ_INT(drv_cgroup_create(&h, "ms-a-1-0", 1000, 64, &cg, &err), ERR_UNSUPPORTED);
    CHECK(strstr(err.msg, "cannot enforce the instance's CPU and memory: no cgroup v1") != NULL);
    drv_cgroup_detect("/nonexistent/mountinfo", self, "berth-t", &h);
    CHECK_EQ_INT(h.version, DRV_CGROUP_NONE);
}

TEST(oom_counters)
{
    fresh();
    struct drv_cgroup_instance cg = {0};
    snprintf(cg.mem, sizeof(cg.mem), "%s", root);
    put("memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n");
    CHECK_EQ_INT((int)drv_cgroup_oom_kills(&cg), 3);
    cg.mem[0] = '\0';
    snprintf(cg.cpu, sizeof(cg.cpu), "%s", root);
    put("memory.events", "low 0\nhigh 0\nmax 12\noom 2\noom_kill 1\noom_group_kill 0\n");
    CHECK_EQ_INT((int)drv_cgroup_oom_kills(&cg), 1);
    put("memory.events", "low 0\nhigh 0\nmax 0\noom 0\n");
    CHECK_EQ_INT((int)drv_cgroup_oom_kills(&cg), 0);
    cg.cpu[0] = '\0';
    CHECK_EQ_INT((int)drv_cgroup_oom_kills(&cg), 0);
}

/* The host's own hierarchy, when it has one berthd may write (as root). */
TEST(real_group_holds_a_process)
{
    char name[64];
    snprintf(name, sizeof(name), "berth-unit-%d", (int)getpid());
    struct drv_cgroup_host h;
    drv_cgroup_detect(NULL, NULL, name, &h);
    if (h.version == DRV_CGROUP_NONE) {
        printf("# skipped: %s\n", h.why);
        return;
    }
    struct drv_cgroup_instance cg;
    struct err err = {0};
    CHECK_EQ_INT(drv_cgroup_create(&h, "inst-0", 250, 32, &cg, &err), 0);
    CHECK_EQ_INT(cg.nfds, h.version == DRV_CGROUP_V1 ? 2 : 1);
    pid_t pid = fork();
    if (pid == 0) {
        for (int i = 0; i < cg.nfds; i++)
            if (write(cg.fds[i], "0", 1) != 1)
                _exit(1);
        pause();
        _exit(0);
    }
    drv_cgroup_close_fds(&cg);
    char path[128], buf[4096] = "";
    snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
    bool inside = false;
    for (int i = 0; i < 100 && !inside; i++) {
        FILE *f = fopen(path, "r");
        size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
        if (f)
            fclose(f);
        buf[n] = '\0';
        char want[128];
        snprintf(want, sizeof(want), "/%s/inst-0\n", name);
        inside = strstr(buf, want) != NULL;
        if (!inside)
            usleep(10000);
    }
    CHECK(inside);
    char file[DRV_CGROUP_PATH_MAX + 32], text[64] = "";
    snprintf(file, sizeof(file), "%s/%s", cg.cpu,
             h.version == DRV_CGROUP_V1 ? "cpu.cfs_quota_us" : "cpu.max");
    FILE *f = fopen(file, "r");
    if (f) {
        if (!fgets(text, sizeof(text), f))
            text[0] = '\0';
        fclose(f);
    }
    CHECK_STR_EQ(text, h.version == DRV_CGROUP_V1 ? "25000\n" : "25000 100000\n");
    CHECK_EQ_INT((int)drv_cgroup_oom_kills(&cg), 0);
    /* Removal kills what is left. */
    CHECK_EQ_INT(drv_cgroup_remove(&cg), 0);
    int status = 0;
    CHECK_EQ_INT(waitpid(pid, &status, 0), pid);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    drv_cgroup_host_release(&h);
    CHECK(access(h.cpu_dir, F_OK) != 0);
}

TEST(cleanup)
{
    fresh();
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
    CHECK_EQ_INT(system(cmd), 0);
}
