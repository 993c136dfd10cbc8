/* adopt.c - /proc readers for instances a previous berthd started. A pid
 * alone proves nothing after a restart (pids are recycled), so each check
 * compares the start time recorded when the process was started; a pidfd,
 * once open, pins the process and says when it exits without polling /proc.
 * Zombies count as gone: the keeper's new parent (init or a subreaper) may
 * not have reaped it yet. */
#include "drivers/adopt.h"
#include "base/err.h"
#include "drivers/process.h"
#include "drivers/procstat.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* A small file's text (one read: /proc files and the status are short). */
static int read_small(const char *path, char *buf, size_t size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return ERR_NOTFOUND;
    ssize_t n = read(fd, buf, size - 1);
    close(fd);
    if (n <= 0)
        return ERR_NOTFOUND;
    buf[n] = '\0';
    return 0;
}

int drv_proc_ticks(pid_t pid, uint64_t *ticks, bool *running)
{
    char path[64], buf[1024];
    if (pid <= 1)
        return ERR_NOTFOUND;
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    if (read_small(path, buf, sizeof(buf)) != 0)
        return ERR_NOTFOUND;
    struct drv_stat st;
    if (drv_stat_parse(buf, &st) != 0)
        return ERR_INVALID;
    const char *p = strrchr(buf, ')'); /* drv_stat_parse checked it */
    char state = p[1] == ' ' ? p[2] : '?';
    *ticks = st.starttime;
    *running = state != 'Z' && state != 'X' && state != 'x';
    return 0;
}

bool drv_proc_is(pid_t pid, uint64_t ticks)
{
    uint64_t t;
    bool running;
    return ticks && drv_proc_ticks(pid, &t, &running) == 0 && running && t == ticks;
}

int drv_watch_open(struct drv_watch *w, pid_t pid, uint64_t ticks)
{
    w->pid = pid;
    w->ticks = ticks;
    w->pidfd = -1;
    if (!drv_proc_is(pid, ticks))
        return ERR_NOTFOUND;
#ifdef SYS_pidfd_open
    int fd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (fd >= 0) {
        /* The pid might have been recycled between the check and the open:
         * check again, now that the pidfd holds it. */
        if (fcntl(fd, F_SETFD, FD_CLOEXEC) != 0 || !drv_proc_is(pid, ticks)) {
            close(fd);
            return ERR_NOTFOUND;
        }
        w->pidfd = fd;
    }
#endif
    return 0;
}

bool drv_watch_exited(const struct drv_watch *w)
{
    if (w->pidfd >= 0) {
        struct pollfd p = {.fd = w->pidfd, .events = POLLIN};
        return poll(&p, 1, 0) == 1;
    }
    return !drv_proc_is(w->pid, w->ticks);
}

void drv_watch_close(struct drv_watch *w)
{
    if (w->pidfd >= 0)
        close(w->pidfd);
    w->pidfd = -1;
}

int drv_keeper_status(const char *path, int *status)
{
    char buf[64];
    if (read_small(path, buf, sizeof(buf)) != 0)
        return ERR_NOTFOUND;
    int v;
    if (sscanf(buf, "exit %d", &v) == 1 && v >= 0 && v <= 255)
        *status = v << 8; /* as wait(2) puts an exit code */
    else if (sscanf(buf, "signal %d", &v) == 1 && v > 0 && v < 128)
        *status = v;
    else
        return ERR_NOTFOUND;
    return 0;
}

int drv_keeper_pipes(pid_t keeper, int fds[2])
{
    fds[0] = fds[1] = -1;
    for (int i = 0; i < 2; i++) {
        char path[64], link[64];
        snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)keeper, DRV_KEEPER_FD_HOLD + i);
        ssize_t n = readlink(path, link, sizeof(link) - 1);
        if (n <= 0 || (size_t)n < 5 || strncmp(link, "pipe:", 5) != 0)
            goto none;
        /* Opening a pipe through /proc gives a new reader on the same pipe;
         * non-blocking, the open does not wait for a writer. */
        fds[i] = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
        if (fds[i] < 0)
            goto none;
    }
    return 0;
none:
    for (int i = 0; i < 2; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    fds[0] = fds[1] = -1;
    return ERR_NOTFOUND;
}
