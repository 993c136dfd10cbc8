/* takeover.c - listening sockets across an exec. Two ways in: our own
 * BERTH_LISTEN_FDS ("API,GATEWAY" descriptor numbers) with
 * BERTH_TAKEOVER_READY_FD, set by takeover_spawn() for a successor; and
 * systemd's LISTEN_PID / LISTEN_FDS / LISTEN_FDNAMES, for socket
 * activation. Each inherited descriptor must be a listening stream socket;
 * it is made close-on-exec at once so that no instance inherits it. */
#include "berthd/takeover.h"
#include "base/alloc.h"
#include "base/log.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

extern char **environ;

#define FD_API 3
#define FD_GATEWAY 4
#define FD_READY 5

static int parse_fd(const char *s, int *fd)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || v < 3 || v > 65535)
        return -1;
    *fd = (int)v;
    return (int)(end - s);
}

static int check_listener(int fd, const char *what, struct err *err)
{
    int on = 0, type = 0;
    socklen_t len = sizeof(on), tlen = sizeof(type);
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &len) != 0 || !on ||
        getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) != 0 || type != SOCK_STREAM)
        return err_set(err, ERR_INVALID,
                       "inherited descriptor %d for the %s is not a listening stream socket", fd,
                       what);
    if (fcntl(fd, F_SETFD, FD_CLOEXEC) != 0 ||
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) != 0)
        return err_set(err, ERR_SYS(errno), "inherited descriptor %d: %s", fd, strerror(errno));
    return 0;
}

/* systemd: LISTEN_FDS descriptors from 3, named by LISTEN_FDNAMES
 * ("api:gateway"); without names the first is the API, the second the
 * gateway. */
static int inherit_systemd(struct takeover_inherited *out, struct err *err)
{
    const char *pid = getenv("LISTEN_PID"), *nfds = getenv("LISTEN_FDS");
    if (!pid || !nfds || strtol(pid, NULL, 10) != (long)getpid())
        return 0;
    long n = strtol(nfds, NULL, 10);
    if (n < 1 || n > 2)
        return err_set(err, ERR_INVALID, "LISTEN_FDS=%s: berthd takes one or two sockets", nfds);
    const char *names = getenv("LISTEN_FDNAMES");
    for (long i = 0; i < n; i++) {
        int fd = 3 + (int)i;
        bool gateway = i == 1;
        if (names && *names) {
            const char *colon = strchr(names, ':');
            size_t len = colon ? (size_t)(colon - names) : strlen(names);
            if (len == 3 && strncmp(names, "api", 3) == 0)
                gateway = false;
            else if (len == 7 && strncmp(names, "gateway", 7) == 0)
                gateway = true;
            else
                return err_set(err, ERR_INVALID,
                               "LISTEN_FDNAMES: '%.*s' is neither 'api' nor 'gateway'", (int)len,
                               names);
            names = colon ? colon + 1 : names + len;
        }
        int *slot = gateway ? &out->gateway_fd : &out->api_fd;
        if (*slot >= 0)
            return err_set(err, ERR_INVALID, "LISTEN_FDNAMES names the %s twice",
                           gateway ? "gateway" : "api");
        int rc = check_listener(fd, gateway ? "gateway" : "management API", err);
        if (rc)
            return rc;
        *slot = fd;
    }
    return 0;
}

int takeover_inherit(struct takeover_inherited *out, struct err *err)
{
    out->api_fd = out->gateway_fd = out->ready_fd = -1;
    out->successor = false;
    const char *ours = getenv("BERTH_LISTEN_FDS");
    int rc = 0;
    if (ours) {
        int api, gw, k = parse_fd(ours, &api), k2 = -1;
        if (k > 0 && ours[k] == ',')
            k2 = parse_fd(ours + k + 1, &gw);
        if (k2 <= 0 || ours[k + 1 + k2] != '\0' || api == gw)
            rc = err_set(err, ERR_INVALID, "BERTH_LISTEN_FDS='%s': expected 'API,GATEWAY'", ours);
        if (!rc)
            rc = check_listener(api, "management API", err);
        if (!rc)
            rc = check_listener(gw, "gateway", err);
        if (!rc) {
            out->api_fd = api;
            out->gateway_fd = gw;
            out->successor = true;
        }
        const char *ready = getenv("BERTH_TAKEOVER_READY_FD");
        int fd;
        if (!rc && ready && parse_fd(ready, &fd) > 0 && fcntl(fd, F_SETFD, FD_CLOEXEC) == 0)
            out->ready_fd = fd;
    } else {
        rc = inherit_systemd(out, err);
    }
    unsetenv("BERTH_LISTEN_FDS");
    unsetenv("BERTH_TAKEOVER_READY_FD");
    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDS");
    unsetenv("LISTEN_FDNAMES");
    return rc;
}

void takeover_ready(struct takeover_inherited *in)
{
    if (in->ready_fd < 0)
        return;
    ssize_t w = write(in->ready_fd, "R", 1);
    (void)w;
    close(in->ready_fd);
    in->ready_fd = -1;
}

int takeover_spawn(const char *exe, char *const argv[], int api_fd, int gateway_fd, pid_t *pid,
                   int *ready_fd, struct err *err)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0)
        return err_set(err, ERR_SYS(errno), "pipe: %s", strerror(errno));
    /* Out of the way of 3..5 first: dup2 onto a different descriptor is what
     * clears close-on-exec in the child. */
    int src[3] = {fcntl(api_fd, F_DUPFD_CLOEXEC, 64), fcntl(gateway_fd, F_DUPFD_CLOEXEC, 64),
                  fcntl(p[1], F_DUPFD_CLOEXEC, 64)};
    size_t nenv = 0;
    while (environ[nenv])
        nenv++;
    char **env = xcalloc(nenv + 3, sizeof(char *));
    size_t k = 0;
    for (size_t i = 0; i < nenv; i++)
        if (strncmp(environ[i], "BERTH_LISTEN_FDS=", 17) != 0 &&
            strncmp(environ[i], "BERTH_TAKEOVER_READY_FD=", 24) != 0 &&
            strncmp(environ[i], "LISTEN_", 7) != 0)
            env[k++] = environ[i];
    char *fds = xasprintf("BERTH_LISTEN_FDS=%d,%d", FD_API, FD_GATEWAY);
    char *ready = xasprintf("BERTH_TAKEOVER_READY_FD=%d", FD_READY);
    env[k++] = fds;
    env[k++] = ready;
    int rc = 0;
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&attr);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    sigdelset(&all, SIGKILL);
    sigdelset(&all, SIGSTOP);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    if (src[0] < 0 || src[1] < 0 || src[2] < 0)
        rc = err_set(err, ERR_SYS(errno), "dup: %s", strerror(errno));
    if (!rc) {
        posix_spawn_file_actions_adddup2(&fa, src[0], FD_API);
        posix_spawn_file_actions_adddup2(&fa, src[1], FD_GATEWAY);
        posix_spawn_file_actions_adddup2(&fa, src[2], FD_READY);
        int e = posix_spawn(pid, exe, &fa, &attr, argv, env);
        if (e)
            rc = err_set(err, ERR_SYS(e), "cannot start '%s': %s", exe, strerror(e));
    }
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    for (int i = 0; i < 3; i++)
        if (src[i] >= 0)
            close(src[i]);
    close(p[1]);
    free(fds);
    free(ready);
    free(env);
    if (rc) {
        close(p[0]);
        return rc;
    }
    *ready_fd = p[0];
    return 0;
}

char *takeover_self_exe(void)
{
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0)
        return NULL;
    self[n] = '\0';
    /* Replaced since it started (an upgrade installs the new one there). */
    static const char deleted[] = " (deleted)";
    size_t len = (size_t)n, dl = sizeof(deleted) - 1;
    if (len > dl && strcmp(self + len - dl, deleted) == 0)
        self[len - dl] = '\0';
    return xstrdup(self);
}
