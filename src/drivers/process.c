/* process.c - fork/exec without libuv's spawn, because the instance must ask
 * for its keeper's death signal, a process group of its own and another user
 * between fork and exec, and the keeper stays between berthd and the
 * instance. */
#include "drivers/process.h"
#include "base/log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* Field 22 (starttime) and field 5 (pgrp) of /proc/<pid>/stat. */
static int read_stat(pid_t pid, pid_t *pgrp, uint64_t *start)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    char *p = strrchr(buf, ')'); /* the command name may hold spaces and parens */
    if (!p)
        return -1;
    /* After ") ": state(3) ppid(4) pgrp(5) ... starttime(22). */
    int field = 2;
    long long pg = 0;
    unsigned long long st = 0;
    for (char *tok = p + 1; *tok; tok++) {
        if (*tok != ' ')
            continue;
        field++;
        if (field == 5)
            pg = strtoll(tok + 1, NULL, 10);
        if (field == 22) {
            st = strtoull(tok + 1, NULL, 10);
            break;
        }
    }
    if (field != 22)
        return -1;
    *pgrp = (pid_t)pg;
    *start = st;
    return 0;
}

/* In a child of the fork: no handler of ours may run before exec, so every
 * handler goes back to the default (the signals stay blocked). */
static void reset_handlers(void)
{
    struct sigaction dfl;
    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            sigaction(sig, &dfl, NULL);
}

static int switch_user(const struct drv_user *u)
{
    if (!u || !u->set)
        return 0;
    /* Groups first, while we may still change them; then no way back to root,
     * nor to it again through a set-user-ID program. Raw system calls: the
     * libc wrappers would signal threads that a forked child does not have. */
    if (syscall(SYS_setgroups, 0, NULL) != 0 ||
        syscall(SYS_setresgid, u->gid, u->gid, u->gid) != 0 ||
        syscall(SYS_setresuid, u->uid, u->uid, u->uid) != 0 ||
        prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return errno;
    return 0;
}

/* The instance, in the keeper's child: only async-signal-safe calls from here
 * to exec (we forked a threaded process). An error goes up the pipe. */
static _Noreturn void run_instance(const struct drv_spawn *s, const int out[2], int pipefd,
                                   pid_t keeper)
{
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    int e = setpgid(0, 0) != 0 ? errno : 0;
    /* Into its control groups while still privileged: "0" is the writer. */
    for (int i = 0; !e && i < s->ncgroup_fds; i++)
        if (write(s->cgroup_fds[i], "0", 1) != 1)
            e = errno;
    if (!e) /* while still root */
        e = drv_mounts_apply(s->mounts, s->nmounts);
    if (!e)
        e = switch_user(s->user);
    /* After the switch: a change of uid clears the parent-death signal. It
     * ties the instance to its keeper only (killed by hand, nothing else
     * would end the instance), never to berthd. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != keeper)
        _exit(127); /* the keeper died already */
    if (!e && chdir(s->workdir) != 0)
        e = errno;
    int devnull = open("/dev/null", O_RDONLY);
    if (!e && (devnull < 0 || dup2(devnull, 0) < 0 || dup2(out[0], 1) < 0 || dup2(out[1], 2) < 0))
        e = errno;
    /* Nothing of berthd's (the store, listeners, the lock) may reach the
     * instance: every other descriptor closes on exec. Kernels before 5.11
     * lack the flag; berthd opens its own descriptors close-on-exec anyway. */
    if (!e)
        close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
    if (!e)
        execve(s->argv[0], s->argv, s->env);
    e = e ? e : errno;
    ssize_t w = write(pipefd, &e, sizeof(e));
    (void)w;
    _exit(127);
}

/* Kill and reap every process below the keeper. It is a subreaper, so what
 * the instance started is its descendant even in a session of its own (after
 * setsid), and orphans come to it: repeat until none is left (bounded, in
 * case something forks as fast as we kill). */
static void end_descendants(pid_t self)
{
    char path[64] = "/proc/self/task/", digits[16];
    size_t len = strlen(path), nd = 0;
    for (unsigned v = (unsigned)self; v || !nd; v /= 10)
        digits[nd++] = (char)('0' + v % 10);
    while (nd)
        path[len++] = digits[--nd];
    memcpy(path + len, "/children", sizeof("/children"));
    for (int round = 0; round < 1000; round++) {
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return;
        char buf[4096];
        ssize_t n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        if (n <= 0)
            return;
        pid_t pids[512];
        size_t np = 0;
        long v = -1;
        for (ssize_t i = 0; i <= n && np < 512; i++) {
            if (i < n && buf[i] >= '0' && buf[i] <= '9') {
                v = (v < 0 ? 0 : v * 10) + (buf[i] - '0');
            } else if (v > 0) {
                pids[np++] = (pid_t)v;
                v = -1;
            }
        }
        for (size_t i = 0; i < np; i++)
            kill(pids[i], SIGKILL);
        for (size_t i = 0; i < np; i++)
            waitpid(pids[i], NULL, 0);
    }
}

/* Reap the orphans that came to the keeper; true once the instance itself
 * has exited. It is looked at, not reaped: while the leader is a zombie its
 * group id cannot be reused, so a kill of the group hits only what it left. */
static bool instance_exited(pid_t child)
{
    for (;;) {
        siginfo_t info;
        memset(&info, 0, sizeof(info));
        if (waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) != 0 || info.si_pid == 0)
            return false;
        if (info.si_pid == child)
            return true;
        waitpid(info.si_pid, NULL, 0);
    }
}

/* The keeper's descriptors, at fixed numbers (process.h): /dev/null, the
 * status file, the held ones; nothing else of berthd's. */
static void keeper_fds(const struct drv_spawn *s, int statusfd)
{
    int want[3 + 1 + 2];
    size_t n = 0;
    int nul = open("/dev/null", O_RDWR);
    for (int i = 0; i < 3; i++)
        want[n++] = nul;
    want[n++] = statusfd >= 0 ? statusfd : nul;
    for (size_t i = 0; i < 2; i++)
        want[n++] = i < s->nhold ? s->hold[i] : nul;
    /* Out of the way first: a source may sit where another one goes. */
    for (size_t i = 0; i < n; i++)
        want[i] = want[i] >= 0 ? fcntl(want[i], F_DUPFD_CLOEXEC, 64) : -1;
    for (size_t i = 0; i < n; i++)
        if (want[i] >= 0)
            dup2(want[i], (int)i);
    close_range((unsigned)n, ~0U, 0);
}

/* How the instance ended, for a berthd that is not the keeper's parent:
 * "exit N" or "signal N", written once. */
static void keeper_report(int status)
{
    char buf[32] = "exit ";
    size_t len = 5;
    int v = WEXITSTATUS(status);
    if (WIFSIGNALED(status)) {
        memcpy(buf, "signal ", 7);
        len = 7;
        v = WTERMSIG(status);
    }
    char digits[12];
    size_t nd = 0;
    for (unsigned u = (unsigned)v; u || !nd; u /= 10)
        digits[nd++] = (char)('0' + u % 10);
    while (nd)
        buf[len++] = digits[--nd];
    buf[len++] = '\n';
    ssize_t w = pwrite(DRV_KEEPER_FD_STATUS, buf, len, 0);
    (void)w;
}

/* The keeper, berthd's child, in a session of its own: it forks the
 * instance, waits for it, kills what is left of the instance (its group and
 * every descendant), reports and exits with the instance's status. It does
 * not watch berthd: when berthd goes, it goes on under init (or the nearest
 * subreaper) and a new berthd adopts it. SIGHUP ends the instance at once.
 * Async-signal-safe calls only, as in the instance. */
static _Noreturn void run_keeper(const struct drv_spawn *s, const int out[2], int pipefd,
                                 int statusfd)
{
    if (setsid() < 0)
        setpgid(0, 0);
    prctl(PR_SET_NAME, "berthd-keeper", 0, 0, 0);
    prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    pid_t self = getpid();
    pid_t child = fork();
    if (child == 0)
        run_instance(s, out, pipefd, self);
    int msg = child > 0 ? (int)child : -errno;
    if (child > 0)
        setpgid(child, child); /* both ends, so the group exists once the pid is out */
    ssize_t w = write(pipefd, &msg, sizeof(msg));
    (void)w;
    keeper_fds(s, statusfd);
    if (child < 0)
        _exit(127);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGHUP);
    for (;;) {
        int sig = sigwaitinfo(&set, NULL); /* every signal is blocked since the fork */
        if (sig == SIGHUP) {
            kill(-child, SIGKILL);
            end_descendants(self);
            keeper_report(SIGKILL); /* as a wait status: killed */
            _exit(128 + SIGKILL);
        }
        if (sig == SIGCHLD && instance_exited(child))
            break;
    }
    kill(-child, SIGKILL);
    int status = 0;
    waitpid(child, &status, 0);
    end_descendants(self);
    keeper_report(status);
    if (WIFEXITED(status))
        _exit(WEXITSTATUS(status));
    /* Die of the same signal, without a core of berthd's memory. */
    int sig = WTERMSIG(status);
    struct rlimit nocore = {0, 0};
    setrlimit(RLIMIT_CORE, &nocore);
    kill(self, sig);
    sigset_t one;
    sigemptyset(&one);
    sigaddset(&one, sig);
    sigprocmask(SIG_UNBLOCK, &one, NULL);
    _exit(128 + sig);
}

/* Read what the keeper and the instance report: the instance's pid (or the
 * keeper's fork error), then an errno if the instance could not be run. */
static int read_report(int fd, int msg[2])
{
    size_t got = 0;
    while (got < 2 * sizeof(int)) {
        ssize_t n = read(fd, (char *)msg + got, 2 * sizeof(int) - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    return (int)(got / sizeof(int));
}

int drv_process_spawn(const struct drv_spawn *s, struct drv_proc *out, struct err *err)
{
    int logfd = -1;
    if (s->log_path) {
        logfd = open(s->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY,
                     0600);
        if (logfd < 0)
            return err_set(err, ERR_SYS(errno), "cannot open '%s': %s", s->log_path,
                           strerror(errno));
    }
    const int outfd[2] = {logfd >= 0 ? logfd : s->out_fd, logfd >= 0 ? logfd : s->err_fd};
    int statusfd = -1;
    if (s->status_path) {
        statusfd = open(s->status_path,
                        O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
        if (statusfd < 0) {
            int e = errno;
            if (logfd >= 0)
                close(logfd);
            return err_set(err, ERR_SYS(e), "cannot open '%s': %s", s->status_path, strerror(e));
        }
    }
    /* The keeper and the instance report through this pipe (closed on exec). */
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) != 0) {
        if (logfd >= 0)
            close(logfd);
        if (statusfd >= 0)
            close(statusfd);
        return err_set(err, ERR_SYS(errno), "pipe: %s", strerror(errno));
    }
    /* No signal handler of ours may run in the children before exec: block
     * all around fork; the children reset every handler to the default. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pid_t pid = fork();
    if (pid == 0) {
        close(pipefd[0]);
        reset_handlers();
        run_keeper(s, outfd, pipefd[1], statusfd);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (logfd >= 0)
        close(logfd);
    if (statusfd >= 0)
        close(statusfd);
    close(pipefd[1]);
    if (pid < 0) {
        int e = errno;
        close(pipefd[0]);
        return err_set(err, ERR_SYS(e), "fork: %s", strerror(e));
    }
    int msg[2] = {0, 0};
    int n = read_report(pipefd[0], msg);
    close(pipefd[0]);
    /* On failure the caller's SIGCHLD handling reaps the keeper. */
    if (n == 0)
        return err_set(err, ERR_SYS(ECHILD), "cannot run '%s': its keeper exited", s->argv[0]);
    if (msg[0] < 0)
        return err_set(err, ERR_SYS(-msg[0]), "fork: %s", strerror(-msg[0]));
    if (n == 2)
        return err_set(err, ERR_SYS(msg[1]), "cannot run '%s': %s", s->argv[0], strerror(msg[1]));
    pid_t pg;
    uint64_t start = 0;
    if (read_stat((pid_t)msg[0], &pg, &start) != 0)
        start = 0;
    if (read_stat(pid, &pg, &out->keeper_ticks) != 0)
        out->keeper_ticks = 0;
    out->pid = pid;
    out->pgid = (pid_t)msg[0];
    out->start_ticks = start;
    return 0;
}

int drv_user_resolve(const char *name, bool chosen, struct drv_user *out, struct err *err)
{
    memset(out, 0, sizeof(*out));
    uid_t self = geteuid();
    struct passwd *pw = getpwnam(name);
    if (pw && pw->pw_uid == self)
        return 0; /* already that user */
    if (self != 0) {
        if (chosen)
            return err_set(err, ERR_INVALID,
                           "--instance-user '%s': berthd runs as uid %d, not root, and cannot "
                           "switch users (leave the option out to run instances as berthd's user)",
                           name, (int)self);
        log_warn("process",
                 "berthd is not root: instances run as its own user (uid %d) instead of '%s', "
                 "and can read what it can",
                 (int)self, name);
        return 0;
    }
    if (!pw)
        return err_set(err, ERR_NOTFOUND,
                       "--instance-user: no user '%s' to run instances as; create it with "
                       "'useradd --system --no-create-home --shell /usr/sbin/nologin %s' "
                       "(scripts/deps.sh does) or name another",
                       name, name);
    if (pw->pw_uid == 0) {
        log_warn("process", "instances run as root ('%s'): they can read the data directory", name);
        return 0;
    }
    out->set = true;
    out->uid = pw->pw_uid;
    out->gid = pw->pw_gid;
    snprintf(out->name, sizeof(out->name), "%s", name);
    return 0;
}

int drv_user_access(const struct drv_user *u, const char *path, int mode)
{
    if (!u->set)
        return access(path, mode) == 0 ? 0 : ERR_SYS(errno);
    pid_t pid = fork();
    if (pid < 0)
        return ERR_SYS(errno);
    if (pid == 0) {
        int e = switch_user(u);
        if (!e && access(path, mode) != 0)
            e = errno;
        _exit(e & 0xff);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return ERR_SYS(errno);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : ERR_SYS(WEXITSTATUS(status));
}

void drv_process_signal(pid_t pgid, int sig)
{
    if (pgid > 1)
        kill(-pgid, sig);
}

int drv_process_sweep(pid_t pgid, uint64_t start_ticks)
{
    if (pgid <= 1)
        return 0;
    DIR *d = opendir("/proc");
    if (!d)
        return 0;
    int killed = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        char *end;
        long pid = strtol(e->d_name, &end, 10);
        if (*end || pid <= 1)
            continue;
        pid_t pg;
        uint64_t start;
        if (read_stat((pid_t)pid, &pg, &start) == 0 && pg == pgid && start >= start_ticks) {
            kill((pid_t)pid, SIGKILL);
            killed++;
        }
    }
    closedir(d);
    return killed;
}

int drv_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return ERR_SYS(errno);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int rc;
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0)
        rc = ERR_SYS(errno);
    else
        rc = ntohs(a.sin_port);
    close(fd);
    return rc;
}
