/* test_client.c - the upstream HTTP client against a real server over
 * loopback: what a proxied request costs in system calls on the client's
 * loop (one write for a streamed request's head and body, no epoll_ctl on a
 * pooled connection), and that a head whose body is slow to come is not
 * held back. The upstream server runs on threads of its own; the client runs
 * on the test's thread. */
#include "harness.h"

#include "base/alloc.h"
#include "base/buf.h"
#include "http/client.h"
#include "http/server.h"

#include <pthread.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

/* libuv reaches these through the dynamic linker, and a definition in the
 * executable comes first: so each thread counts its own calls, and the
 * test's thread (the client's loop) is told apart from the server's. */
static _Thread_local int writes, epoll_ctls;

ssize_t write(int fd, const void *p, size_t n)
{
    writes++;
    return syscall(SYS_write, fd, p, n);
}

ssize_t writev(int fd, const struct iovec *iov, int n)
{
    writes++;
    return syscall(SYS_writev, fd, iov, n);
}

int epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
    epoll_ctls++;
    return (int)syscall(SYS_epoll_ctl, epfd, op, fd, ev);
}

/* ------------------------------------------------------------------------ */
/* The upstream                                                             */

struct upstream {
    uv_loop_t loop;
    uv_async_t stop;
    pthread_t thread;
    struct http_server *srv;
    int port;
};

static void upstream_on_stop(uv_async_t *a)
{
    struct upstream *u = a->data;
    http_server_stop(u->srv);
    uv_close((uv_handle_t *)&u->stop, NULL);
}

static void *upstream_main(void *arg)
{
    struct upstream *u = arg;
    uv_run(&u->loop, UV_RUN_DEFAULT);
    return NULL;
}

/* Answers at once with the request's body length (0 while a streamed body
 * has not come: the server drops it). */
static void echo_handler(struct http_request *req, struct http_response *res, void *ud)
{
    (void)ud;
    buf_printf(&res->body, "{\"bytes\": %zu, \"follows\": %d}", req->body.len,
               (int)req->body_follows);
}

static bool upstream_start(struct upstream *u, bool stream_bodies)
{
    memset(u, 0, sizeof(*u));
    uv_loop_init(&u->loop);
    uv_async_init(&u->loop, &u->stop, upstream_on_stop);
    u->stop.data = u;
    struct http_server_config cfg = {.host = "127.0.0.1",
                                     .num_threads = 1,
                                     .timeout_ms = 5000,
                                     .max_body_bytes = 1 << 20,
                                     .handler = echo_handler,
                                     .stream_bodies = stream_bodies};
    struct err err = {0};
    if (http_server_start(&u->loop, &cfg, &u->srv, &err) != 0) {
        harness_fail(__FILE__, __LINE__, "cannot start: %s", err.msg);
        return false;
    }
    u->port = http_server_port(u->srv);
    pthread_create(&u->thread, NULL, upstream_main, u);
    return true;
}

static void upstream_stop(struct upstream *u)
{
    uv_async_send(&u->stop);
    pthread_join(u->thread, NULL);
    uv_loop_close(&u->loop);
}

/* ------------------------------------------------------------------------ */
/* A request                                                                */

struct call {
    struct http_client_req *req;
    uv_idle_t later; /* sends the body on the loop's next turn, as a proxy does */
    const char *body;
    int status, rc;
    bool done;
    struct buf answer;
};

static void call_head(void *ud, int status, const struct http_header *hs, size_t n,
                      long long content_length)
{
    (void)hs;
    (void)n;
    (void)content_length;
    ((struct call *)ud)->status = status;
}

static void call_body(void *ud, const char *data, size_t len)
{
    buf_append(&((struct call *)ud)->answer, data, len);
}

static void call_done(void *ud, int rc, const char *reason)
{
    struct call *c = ud;
    (void)reason;
    c->rc = rc;
    c->done = true;
}

static const struct http_client_callbacks call_cb = {call_head, call_body, call_done, NULL};

static void on_later(uv_idle_t *h)
{
    struct call *c = h->data;
    uv_idle_stop(h);
    if (c->done)
        return;
    http_client_send_body(c->req, c->body, strlen(c->body));
    http_client_end_body(c->req);
}

/* POST 'body' (NULL: announce 5 bytes and never send them) as a streamed
 * request, the body on the next turn of the loop; run until the answer. */
static void call_run(struct http_client *cl, uv_loop_t *loop, int port, const char *body,
                     struct call *c)
{
    memset(c, 0, sizeof(*c));
    buf_init(&c->answer, SIZE_MAX);
    c->body = body;
    char head[128];
    snprintf(head, sizeof(head), "POST /p HTTP/1.1\r\nContent-Length: %zu\r\n\r\n",
             body ? strlen(body) : 5);
    c->req = http_client_request_stream(cl, "127.0.0.1", port, (struct str){head, strlen(head)},
                                        false, 3000, &call_cb, c);
    uv_idle_init(loop, &c->later);
    c->later.data = c;
    if (body)
        uv_idle_start(&c->later, on_later);
    while (!c->done)
        uv_run(loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&c->later, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
}

/* ------------------------------------------------------------------------ */

/* On a pooled connection, a streamed request whose body comes on the next
 * turn of the loop goes in one write (it took two: the head, then the body)
 * and costs no epoll_ctl (each write re-armed the connection in epoll). */
TEST(streamed_request_is_one_write_and_no_epoll_ctl)
{
    struct upstream up;
    CHECK(upstream_start(&up, false));
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct http_client *cl = http_client_new(&loop);
    struct call c;
    call_run(cl, &loop, up.port, "hello world", &c); /* connects */
    CHECK_EQ_INT(c.rc, 0);
    buf_release(&c.answer);
    int w0 = writes, e0 = epoll_ctls, ok = 0;
    for (int i = 0; i < 20; i++) {
        call_run(cl, &loop, up.port, "hello world", &c);
        ok += c.rc == 0 && c.status == 200 && c.answer.len &&
              strstr(c.answer.ptr, "{\"bytes\": 11, \"follows\": 0}") != NULL;
        buf_release(&c.answer);
    }
    CHECK_EQ_INT(ok, 20);
    CHECK_EQ_INT(writes - w0, 20);
    CHECK_EQ_INT(epoll_ctls - e0, 0);
    http_client_free(cl);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(uv_loop_close(&loop), 0);
    upstream_stop(&up);
}

/* The head of a request whose body does not come goes out before the loop
 * waits: an upstream that answers on the head alone answers it. */
TEST(head_without_its_body_is_not_held)
{
    struct upstream up;
    CHECK(upstream_start(&up, true));
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct http_client *cl = http_client_new(&loop);
    struct call c;
    call_run(cl, &loop, up.port, NULL, &c);
    CHECK_EQ_INT(c.rc, 0);
    CHECK_EQ_INT(c.status, 200);
    CHECK(c.answer.len && strstr(c.answer.ptr, "\"follows\": 1"));
    buf_release(&c.answer);
    http_client_free(cl);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(uv_loop_close(&loop), 0);
    upstream_stop(&up);
}
