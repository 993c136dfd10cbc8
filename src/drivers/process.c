/* process.c - fork/exec without libuv's spawn, because the child must ask for
 * PR_SET_PDEATHSIG and a process group of its own between fork and exec. */
#include "drivers/process.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
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

int drv_process_spawn(const struct drv_spawn *s, pid_t *pid_out, uint64_t *start_ticks,
                      struct err *err)
{
    int logfd = open(s->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (logfd < 0)
        return err_set(err, ERR_SYS(errno), "cannot open '%s': %s", s->log_path, strerror(errno));
    /* The child reports an exec failure through this pipe (closed on exec). */
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) != 0) {
        close(logfd);
        return err_set(err, ERR_SYS(errno), "pipe: %s", strerror(errno));
    }
    pid_t parent = getpid();
    /* No signal handler of ours may run in the child before exec: block all
     * around fork, and let the child reset every handler to the default. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pid_t pid = fork();
    if (pid != 0)
        pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (pid < 0) {
        int e = errno;
        close(logfd);
        close(pipefd[0]);
        close(pipefd[1]);
        return err_set(err, ERR_SYS(e), "fork: %s", strerror(e));
    }
    if (pid == 0) {
        /* Child: only async-signal-safe calls from here to exec. */
        int e = 0;
        struct sigaction dfl;
        memset(&dfl, 0, sizeof(dfl));
        dfl.sa_handler = SIG_DFL;
        for (int sig = 1; sig < NSIG; sig++)
            if (sig != SIGKILL && sig != SIGSTOP)
                sigaction(sig, &dfl, NULL);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
            _exit(127); /* the parent died already */
        if (setpgid(0, 0) != 0 || chdir(s->workdir) != 0)
            e = errno;
        int devnull = open("/dev/null", O_RDONLY);
        if (!e && (devnull < 0 || dup2(devnull, 0) < 0 || dup2(logfd, 1) < 0 || dup2(logfd, 2) < 0))
            e = errno;
        if (!e)
            execve(s->argv[0], s->argv, s->env);
        e = e ? e : errno;
        ssize_t w = write(pipefd[1], &e, sizeof(e));
        (void)w;
        _exit(127);
    }
    close(logfd);
    close(pipefd[1]);
    /* Both ends set the group, so signals can target it as soon as we return. */
    setpgid(pid, pid);
    int child_errno = 0;
    ssize_t n;
    do
        n = read(pipefd[0], &child_errno, sizeof(child_errno));
    while (n < 0 && errno == EINTR);
    close(pipefd[0]);
    if (n == sizeof(child_errno)) {
        /* Exec failed; the caller's SIGCHLD handling reaps the child. */
        return err_set(err, ERR_SYS(child_errno), "cannot run '%s': %s", s->argv[0],
                       strerror(child_errno));
    }
    pid_t pg;
    uint64_t start = 0;
    if (read_stat(pid, &pg, &start) != 0)
        start = 0;
    *pid_out = pid;
    *start_ticks = start;
    return 0;
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
