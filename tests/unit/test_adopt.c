/* test_adopt.c - recognising processes after a restart, watching a process
 * through a pidfd, the keeper's status file, and the output pipes a keeper
 * holds, reopened through /proc while the instance writes. */
#include "drivers/adopt.h"
#include "drivers/process.h"
#include "base/err.h"
#include "harness.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

static void nap_ms(int ms)
{
    nanosleep(&(struct timespec){.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L}, NULL);
}

TEST(keeper_status_file)
{
    char path[] = "/tmp/berth-adopt-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    close(fd);
    int st = -1;
    CHECK_EQ_INT(drv_keeper_status(path, &st), ERR_NOTFOUND); /* empty: it said nothing */
    write_file(path, "exit 3\n");
    CHECK_EQ_INT(drv_keeper_status(path, &st), 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 3);
    write_file(path, "signal 9\n");
    CHECK_EQ_INT(drv_keeper_status(path, &st), 0);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == 9);
    write_file(path, "signal 400\n");
    CHECK_EQ_INT(drv_keeper_status(path, &st), ERR_NOTFOUND);
    write_file(path, "gone\n");
    CHECK_EQ_INT(drv_keeper_status(path, &st), ERR_NOTFOUND);
    unlink(path);
    CHECK_EQ_INT(drv_keeper_status(path, &st), ERR_NOTFOUND);
}

TEST(process_identity)
{
    uint64_t ticks;
    bool running;
    CHECK_EQ_INT(drv_proc_ticks(getpid(), &ticks, &running), 0);
    CHECK(running);
    CHECK(drv_proc_is(getpid(), ticks));
    CHECK(!drv_proc_is(getpid(), ticks + 1)); /* a recycled pid: another start time */
    CHECK(!drv_proc_is(getpid(), 0));
    CHECK_EQ_INT(drv_proc_ticks(1 << 30, &ticks, &running), ERR_NOTFOUND);
}

TEST(watch_sees_the_exit_of_a_process)
{
    pid_t pid = fork();
    if (pid == 0) {
        pause();
        _exit(0);
    }
    uint64_t ticks;
    bool running;
    CHECK_EQ_INT(drv_proc_ticks(pid, &ticks, &running), 0);
    struct drv_watch w;
    CHECK_EQ_INT(drv_watch_open(&w, pid, ticks + 7), ERR_NOTFOUND);
    CHECK_EQ_INT(drv_watch_open(&w, pid, ticks), 0);
    CHECK(w.pidfd >= 0); /* this kernel has pidfd_open */
    CHECK(!drv_watch_exited(&w));
    kill(pid, SIGKILL);
    for (int i = 0; i < 200 && !drv_watch_exited(&w); i++)
        nap_ms(5);
    CHECK(drv_watch_exited(&w)); /* a zombie, not reaped yet */
    CHECK(!drv_proc_is(pid, ticks));
    drv_watch_close(&w);
    CHECK_EQ_INT(w.pidfd, -1);
    waitpid(pid, NULL, 0);
}

/* A keeper holds the read ends; its instance writes while we read through a
 * reopened end, and the status file says how the instance ended. */
TEST(keeper_holds_pipes_and_reports)
{
    char dir[] = "/tmp/berth-adopt-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char status[128];
    snprintf(status, sizeof(status), "%s/keeper.status", dir);
    int out[2], er[2];
    CHECK_EQ_INT(pipe2(out, O_CLOEXEC), 0);
    CHECK_EQ_INT(pipe2(er, O_CLOEXEC), 0);
    char sh[] = "/bin/sh", dash_c[] = "-c",
         script[] = "sleep 0.3; echo hello-out; echo hello-err >&2; exit 7",
         path[] = "PATH=/usr/bin:/bin";
    char *argv[] = {sh, dash_c, script, NULL};
    char *env[] = {path, NULL};
    struct drv_spawn sp = {.argv = argv,
                           .env = env,
                           .workdir = dir,
                           .out_fd = out[1],
                           .err_fd = er[1],
                           .status_path = status,
                           .hold = {out[0], er[0]},
                           .nhold = 2};
    struct drv_proc proc;
    struct err err = {0};
    CHECK_EQ_INT(drv_process_spawn(&sp, &proc, &err), 0);
    close(out[1]);
    close(er[1]);
    CHECK(proc.keeper_ticks > 0 && drv_proc_is(proc.pid, proc.keeper_ticks));
    CHECK(drv_proc_is(proc.pgid, proc.start_ticks));
    /* As a berthd after a restart would: our own read ends closed, new ones
     * opened from the keeper. */
    close(out[0]);
    close(er[0]);
    int fds[2];
    CHECK_EQ_INT(drv_keeper_pipes(proc.pid, fds), 0);
    char buf[2][64] = {{0}};
    size_t got[2] = {0, 0};
    for (int i = 0; i < 400 && (!strchr(buf[0], '\n') || !strchr(buf[1], '\n')); i++) {
        for (int k = 0; k < 2; k++) {
            ssize_t n = read(fds[k], buf[k] + got[k], sizeof(buf[k]) - 1 - got[k]);
            if (n > 0)
                got[k] += (size_t)n;
        }
        nap_ms(5);
    }
    CHECK_STR_EQ(buf[0], "hello-out\n");
    CHECK_STR_EQ(buf[1], "hello-err\n");
    int wst;
    CHECK_EQ_INT(waitpid(proc.pid, &wst, 0), proc.pid);
    CHECK(WIFEXITED(wst) && WEXITSTATUS(wst) == 7); /* the keeper exits as the instance did */
    int st;
    CHECK_EQ_INT(drv_keeper_status(status, &st), 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 7);
    /* The writers gone, the reopened ends see the end. */
    CHECK_EQ_INT((int)read(fds[0], buf[0], 1), 0);
    close(fds[0]);
    close(fds[1]);
    CHECK_EQ_INT(drv_keeper_pipes(proc.pid, fds), ERR_NOTFOUND);
    unlink(status);
    rmdir(dir);
}

/* The keeper does not end its instance when its parent goes: only SIGHUP
 * does (what a berthd that no longer wants it sends). */
TEST(keeper_outlives_its_parent_until_sighup)
{
    int rep[2];
    CHECK_EQ_INT(pipe(rep), 0);
    pid_t mid = fork();
    if (mid == 0) {
        close(rep[0]);
        char sleep[] = "/bin/sleep", secs[] = "30";
        char *argv[] = {sleep, secs, NULL};
        char *env[] = {NULL};
        struct drv_spawn sp = {
            .argv = argv, .env = env, .workdir = "/", .out_fd = -1, .err_fd = -1};
        int nul = open("/dev/null", O_WRONLY);
        sp.out_fd = sp.err_fd = nul;
        struct drv_proc proc;
        struct err err = {0};
        if (drv_process_spawn(&sp, &proc, &err) != 0)
            _exit(1);
        ssize_t w = write(rep[1], &proc, sizeof(proc));
        _exit(w == (ssize_t)sizeof(proc) ? 0 : 1); /* the parent dies, as berthd would */
    }
    close(rep[1]);
    struct drv_proc proc;
    CHECK_EQ_INT((int)read(rep[0], &proc, sizeof(proc)), (int)sizeof(proc));
    close(rep[0]);
    int wst;
    CHECK_EQ_INT(waitpid(mid, &wst, 0), mid);
    CHECK(WIFEXITED(wst) && WEXITSTATUS(wst) == 0);
    nap_ms(200);
    CHECK(drv_proc_is(proc.pid, proc.keeper_ticks));
    CHECK(drv_proc_is(proc.pgid, proc.start_ticks));
    struct drv_watch w;
    CHECK_EQ_INT(drv_watch_open(&w, proc.pid, proc.keeper_ticks), 0);
    kill(proc.pid, SIGHUP);
    for (int i = 0; i < 400 && (!drv_watch_exited(&w) || drv_proc_is(proc.pgid, proc.start_ticks));
         i++)
        nap_ms(5);
    CHECK(drv_watch_exited(&w));
    CHECK(!drv_proc_is(proc.pgid, proc.start_ticks));
    drv_watch_close(&w);
}
