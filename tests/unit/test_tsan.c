/* test_tsan.c - descriptors that libuv closes on one thread and another thread
 * reuses, as berthd's import thread reuses the numbers of the API's sockets.
 * Under SANITIZE=thread a race report fails the binary (exit 66): without
 * src/base/tsan.c, TSan never sees libuv's close and blames the reuse. In every
 * build the descriptors must behave: closed once, reused, syscall() intact. */
#include "harness.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <uv.h>

/* Relaxed on purpose: TSan takes no ordering from relaxed atomics, so nothing
 * but the kernel's descriptor table links the two threads, as in berthd. */
static atomic_int closed_fd = -1;

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    (void)s, (void)n, (void)b;
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    (void)h, (void)hint;
    static char mem[64];
    *b = uv_buf_init(mem, sizeof(mem));
}

/* A loop thread: watch one end of a socket pair (epoll_ctl), then close it
 * with uv_close, which closes the descriptor with syscall(SYS_close). */
static void *loop_main(void *arg)
{
    int *sv = arg;
    uv_loop_t loop;
    uv_pipe_t p;
    uv_loop_init(&loop);
    uv_pipe_init(&loop, &p, 0);
    if (uv_pipe_open(&p, sv[0]) == 0 && uv_read_start((uv_stream_t *)&p, on_alloc, on_read) == 0)
        uv_run(&loop, UV_RUN_NOWAIT);
    uv_close((uv_handle_t *)&p, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    atomic_store_explicit(&closed_fd, sv[0], memory_order_relaxed);
    return NULL;
}

/* Another thread, after the close: the lowest free number is the socket's. */
static void *reuse_main(void *arg)
{
    int *got = arg;
    while (atomic_load_explicit(&closed_fd, memory_order_relaxed) < 0)
        usleep(1000);
    int dfd = openat(AT_FDCWD, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    struct stat st;
    if (dfd >= 0 && fstat(dfd, &st) == 0) {
        int d2 = dup(dfd);
        DIR *d = d2 >= 0 ? fdopendir(d2) : NULL;
        if (d) {
            while (readdir(d))
                ;
            closedir(d);
        }
    }
    *got = dfd;
    if (dfd >= 0)
        close(dfd);
    return NULL;
}

TEST(a_socket_closed_by_libuv_is_reused_by_another_thread)
{
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    int got = -1;
    pthread_t a, b;
    CHECK(pthread_create(&b, NULL, reuse_main, &got) == 0);
    CHECK(pthread_create(&a, NULL, loop_main, sv) == 0);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    close(sv[1]);
    /* libuv closed it once: the number came back for openat. */
    CHECK_EQ_INT(got, sv[0]);
    CHECK_EQ_INT(fcntl(sv[0], F_GETFD), -1);
}

TEST(syscall_passes_every_call_through)
{
    CHECK_EQ_INT(syscall(SYS_getpid), getpid());
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    CHECK(fd >= 0);
    CHECK_EQ_INT(syscall(SYS_close, fd), 0);
    CHECK_EQ_INT(fcntl(fd, F_GETFD), -1);
    CHECK_EQ_INT(errno, EBADF);
    errno = 0;
    CHECK_EQ_INT(syscall(SYS_close, fd), -1);
    CHECK_EQ_INT(errno, EBADF);
}
