/* test_procstat.c - /proc/<pid>/stat and cgroup parsing, and the usage of a
 * real process tree: a child that burns CPU and holds memory. */
#include "drivers/procstat.h"
#include "base/err.h"
#include "harness.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

TEST(stat_parse)
{
    /* A command name with spaces and a parenthesis, as a process may set it. */
    const char *text = "4242 (my (odd) cmd) S 1 4242 4242 0 -1 4194560 100 0 0 0 "
                       "250 50 7 3 20 0 4 0 123456 104857600 2560 18446744073709551615 1 1 0";
    struct drv_stat s;
    CHECK_EQ_INT(drv_stat_parse(text, &s), 0);
    CHECK_EQ_INT(s.ppid, 1);
    CHECK_EQ_INT(s.pgrp, 4242);
    CHECK_EQ_INT((int)s.utime, 250);
    CHECK_EQ_INT((int)s.stime, 50);
    CHECK_EQ_INT((int)s.cutime, 7);
    CHECK_EQ_INT((int)s.cstime, 3);
    CHECK_EQ_INT((int)s.starttime, 123456);
    CHECK(s.vsize_bytes == 104857600u);
    CHECK_EQ_INT((int)s.rss_pages, 2560);
    CHECK_EQ_INT(drv_stat_parse("4242 (cut short) S 1 2", &s), ERR_INVALID);
    CHECK_EQ_INT(drv_stat_parse("no parenthesis", &s), ERR_INVALID);
}

TEST(cgroup_parse_v1_hybrid)
{
    const char *text = "12:memory:/berth/ms-a-1-0\n"
                       "11:cpu,cpuacct:/berth/ms-a-1-0\n"
                       "5:pids:/user.slice\n"
                       "1:name=systemd:/user.slice\n"
                       "0::/user.slice/session-1.scope\n";
    struct drv_cgroup cg;
    CHECK_EQ_INT(drv_cgroup_parse(text, &cg), 0);
    CHECK_STR_EQ(cg.cpu, "/berth/ms-a-1-0");
    CHECK_STR_EQ(cg.memory, "/berth/ms-a-1-0");
    CHECK(cg.cpu_v1 && cg.memory_v1);
}

TEST(cgroup_parse_v2)
{
    struct drv_cgroup cg;
    CHECK_EQ_INT(drv_cgroup_parse("0::/system.slice/berth-ms-a-1-0.scope\n", &cg), 0);
    CHECK_STR_EQ(cg.cpu, "/system.slice/berth-ms-a-1-0.scope");
    CHECK_STR_EQ(cg.memory, "/system.slice/berth-ms-a-1-0.scope");
    CHECK(!cg.cpu_v1 && !cg.memory_v1);
    CHECK_EQ_INT(drv_cgroup_parse("garbage", &cg), ERR_NOTFOUND);
}

static void burn_and_hold(int write_fd)
{
    size_t n = 48u << 20;
    char *p = malloc(n);
    memset(p, 1, n); /* resident */
    /* 400 ms of its own CPU time, however long a loaded machine takes to give it. */
    struct timespec t;
    volatile unsigned long x = 0;
    do {
        for (int i = 0; i < 100000; i++)
            x += (unsigned long)i * p[i];
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    } while (t.tv_sec * 1000 + t.tv_nsec / 1000000 < 400);
    char c = 'r';
    if (write(write_fd, &c, 1) != 1)
        _exit(1);
    pause();
    _exit(0);
}

TEST(usage_of_a_real_tree)
{
    int fds[2];
    CHECK(pipe(fds) == 0);
    pid_t child = fork();
    CHECK(child >= 0);
    if (child == 0) {
        close(fds[0]);
        burn_and_hold(fds[1]);
    }
    close(fds[1]);
    char c;
    CHECK(read(fds[0], &c, 1) == 1);
    close(fds[0]);
    struct drv_usage u;
    int rc = drv_usage_tree(getpid(), false, &u);
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    CHECK_EQ_INT(rc, 0);
    CHECK(u.nprocs >= 1);
    /* The child's 400 ms of CPU (counted in clock ticks), 48 MiB resident. */
    CHECK(u.cpu_seconds >= 0.38);
    CHECK(u.memory_bytes >= (48u << 20));
    CHECK(!u.cgroup);
    /* The root alone: this test process, not its child. */
    struct drv_usage me;
    CHECK_EQ_INT(drv_usage_tree(getpid(), true, &me), 0);
    CHECK_EQ_INT(me.nprocs, 1);
    CHECK_EQ_INT(drv_usage_tree(-1, false, &me), ERR_INVALID);
}

TEST(own_cgroup_only)
{
    /* This process shares its own cgroup: no cgroup figures for it. */
    struct drv_usage u;
    CHECK_EQ_INT(drv_usage_cgroup(getpid(), &u), ERR_NOTFOUND);
}

TEST(self)
{
    struct drv_self s;
    CHECK_EQ_INT(drv_self_read(&s), 0);
    CHECK(s.resident_bytes > 0 && s.virtual_bytes >= s.resident_bytes);
    CHECK(s.open_fds >= 3);
    CHECK(s.max_fds >= s.open_fds);
    double now = (double)time(NULL);
    CHECK(s.start_time_s > now - 3600 && s.start_time_s <= now + 1);
    CHECK(s.cpu_seconds >= 0);
}
