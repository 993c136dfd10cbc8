/* tsan.c - in a ThreadSanitizer build only: let TSan see libuv's closes.
 *
 * libuv closes descriptors with syscall(SYS_close) (uv__close_nocancel), which
 * TSan does not intercept; built with TSan itself, libuv announces the close
 * with the sanitizer's syscall hooks. The distribution's libuv is not, so TSan
 * would keep each closed descriptor's history (its accept, libuv's epoll_ctl
 * and reads on another thread) and blame the next user of the number: an
 * opendir or openat on the import thread then looks like a race with a
 * connection's socket. This definition of syscall() takes precedence over
 * libc's for libuv and announces SYS_close as libuv's own TSan build does;
 * every call, that one included, goes on to libc unchanged.
 *
 * Compiled to nothing unless -fsanitize=thread. */
#if defined(__SANITIZE_THREAD__)

#include <dlfcn.h>
#include <stdarg.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Exported by libtsan (sanitizer/linux_syscall_hooks.h, not shipped by GCC). */
void __sanitizer_syscall_pre_impl_close(long fd);
void __sanitizer_syscall_post_impl_close(long res, long fd);

typedef long syscall_fn(long number, ...);
static syscall_fn *real_syscall;

/* Resolved before main(): fork children of berthd call syscall() too. */
__attribute__((constructor)) static void tsan_resolve_syscall(void)
{
    real_syscall = (syscall_fn *)dlsym(RTLD_NEXT, "syscall");
}

long syscall(long number, ...)
{
    va_list ap;
    long a[6];
    va_start(ap, number);
    /* As libc's syscall() does: six register-sized arguments, used or not. */
    for (int i = 0; i < 6; i++)
        a[i] = va_arg(ap, long);
    va_end(ap);
    if (!real_syscall)
        tsan_resolve_syscall();
    if (number != SYS_close)
        return real_syscall(number, a[0], a[1], a[2], a[3], a[4], a[5]);
    __sanitizer_syscall_pre_impl_close(a[0]);
    long rc = real_syscall(number, a[0]);
    __sanitizer_syscall_post_impl_close(rc, a[0]);
    return rc;
}

#endif
