/* test_server.c - the HTTP server over real loopback sockets: request bodies
 * streamed to a deferred handler with pause/resume, bodies dropped after an
 * early answer, HEAD answers without a body, the connection cap, the body
 * budget, the error formatter, the orderly stop (drain, then on_cancel,
 * then worker_stop), and what the answers cost in epoll_ctl calls (none,
 * when they fit the socket buffer) with whole answers when they do not. The
 * server's accepting loop runs on a thread of its own; the tests talk to it
 * with blocking sockets. */
#include "harness.h"

#include "base/alloc.h"
#include "base/buf.h"
#include "http/server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

/* libuv reaches epoll_ctl through the dynamic linker, and a definition in
 * the executable comes first: so the tests count the calls the server's
 * loops make (the test's own thread makes none). */
static atomic_int epoll_ctls;

int epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
    atomic_fetch_add(&epoll_ctls, 1);
    return (int)syscall(SYS_epoll_ctl, epfd, op, fd, ev);
}

/* ------------------------------------------------------------------------ */
/* A server on its own thread                                               */

struct fixture {
    uv_loop_t loop;
    uv_async_t stop;
    pthread_t thread;
    struct http_server *srv;
    struct http_server_config cfg;
    int port;
};

static void on_stop(uv_async_t *a)
{
    struct fixture *f = a->data;
    http_server_stop(f->srv);
    uv_close((uv_handle_t *)&f->stop, NULL);
}

static void *loop_main(void *arg)
{
    struct fixture *f = arg;
    uv_run(&f->loop, UV_RUN_DEFAULT);
    return NULL;
}

static bool fixture_start(struct fixture *f)
{
    uv_loop_init(&f->loop);
    uv_async_init(&f->loop, &f->stop, on_stop);
    f->stop.data = f;
    f->cfg.host = "127.0.0.1";
    if (!f->cfg.num_threads)
        f->cfg.num_threads = 1;
    if (!f->cfg.timeout_ms)
        f->cfg.timeout_ms = 5000;
    if (!f->cfg.max_body_bytes)
        f->cfg.max_body_bytes = 8 << 20;
    struct err err = {0};
    if (http_server_start(&f->loop, &f->cfg, &f->srv, &err) != 0) {
        harness_fail(__FILE__, __LINE__, "cannot start: %s", err.msg);
        return false;
    }
    f->port = http_server_port(f->srv);
    pthread_create(&f->thread, NULL, loop_main, f);
    return true;
}

static void fixture_stop(struct fixture *f)
{
    uv_async_send(&f->stop);
    pthread_join(f->thread, NULL);
    uv_loop_close(&f->loop);
}

static int dial(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static void send_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n <= 0)
            return;
        p += n;
        len -= (size_t)n;
    }
}

static void send_str(int fd, const char *s)
{
    send_all(fd, s, strlen(s));
}

/* Read until 'want' answers have come whole (by Content-Length, no body for
 * HEAD when 'head') or the peer closes; the text goes to 'out'. */
static void read_answers(int fd, int want, bool head, struct buf *out)
{
    int done = 0;
    size_t scan = 0;
    while (done < want) {
        char tmp[65536];
        ssize_t n = recv(fd, tmp, sizeof(tmp), 0);
        if (n <= 0)
            return;
        buf_append(out, tmp, (size_t)n);
        for (;;) {
            const char *end = strstr(out->ptr + scan, "\r\n\r\n");
            if (!end)
                break;
            const char *cl = strstr(out->ptr + scan, "Content-Length: ");
            size_t len = cl && cl < end ? strtoul(cl + 16, NULL, 10) : 0;
            if (head || strstr(out->ptr + scan, " 100 Continue") == out->ptr + scan + 8)
                len = 0;
            size_t total = (size_t)(end + 4 - out->ptr) + len;
            if (total > out->len)
                break;
            if (strstr(out->ptr + scan, " 100 Continue") != out->ptr + scan + 8)
                done++;
            scan = total;
        }
    }
}

/* Whether the peer has closed (recv gives 0 within a second). */
static bool peer_closed(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    char c;
    return poll(&p, 1, 1000) == 1 && recv(fd, &c, 1, MSG_DONTWAIT) <= 0;
}

/* ------------------------------------------------------------------------ */
/* A handler that streams the body in                                       */

struct upload {
    struct http_deferred *d;
    uv_timer_t timer;
    size_t bytes, pieces;
    unsigned long sum;
    bool paused, ended;
};

static atomic_int cancels, worker_stops, cancels_before_stop;

static void upload_closed(uv_handle_t *h)
{
    free(h->data);
}

static void upload_free(struct upload *u)
{
    uv_close((uv_handle_t *)&u->timer, upload_closed);
}

static void upload_answer(struct upload *u)
{
    struct http_response res = {.status = 200};
    buf_init(&res.headers, SIZE_MAX);
    buf_init(&res.body, SIZE_MAX);
    buf_printf(&res.body, "{\"bytes\": %zu, \"sum\": %lu, \"paused\": %d}", u->bytes, u->sum,
               (int)u->paused);
    http_deferred_respond(u->d, &res);
    upload_free(u);
}

static void on_resume_timer(uv_timer_t *t)
{
    struct upload *u = t->data;
    http_deferred_resume_body(u->d);
}

static void upload_data(void *arg, const char *data, size_t len)
{
    struct upload *u = arg;
    CHECK(!u->ended);
    for (size_t i = 0; i < len; i++)
        u->sum += (unsigned char)data[i];
    u->bytes += len;
    /* Every third piece, hold the client back for a moment. */
    if (++u->pieces % 3 == 0) {
        u->paused = true;
        http_deferred_pause_body(u->d);
        uv_timer_start(&u->timer, on_resume_timer, 5, 0);
    }
}

static void upload_end(void *arg)
{
    struct upload *u = arg;
    u->ended = true;
    upload_answer(u);
}

static void upload_cancel(void *arg)
{
    atomic_fetch_add(&cancels, 1);
    upload_free(arg);
}

static void on_early_timer(uv_timer_t *t)
{
    struct upload *u = t->data;
    struct http_response res = {.status = 413};
    buf_init(&res.headers, SIZE_MAX);
    buf_init(&res.body, SIZE_MAX);
    buf_puts(&res.body, "{\"early\": true}");
    http_deferred_respond(u->d, &res);
    upload_free(u);
}

/* The byte at offset 'i' of the large answers. */
static char pattern(size_t i)
{
    return (char)('A' + (i * 7 + i / 4096) % 26);
}

#define BIG_ANSWER_BYTES (4u << 20)
#define STREAM_PIECE_BYTES (48u * 1024)
#define STREAM_PIECES 40u

/* A deferred answer streamed (chunked) in pieces from the loop, without
 * waiting for the client: most of it waits in the write queue. */
static void on_stream_timer(uv_timer_t *t)
{
    struct upload *u = t->data;
    http_deferred_head(u->d, 200, STR_LIT("Content-Type: text/plain\r\n"), -1);
    char *piece = xmalloc(STREAM_PIECE_BYTES);
    for (size_t k = 0, off = 0; k < STREAM_PIECES; k++) {
        for (size_t i = 0; i < STREAM_PIECE_BYTES; i++)
            piece[i] = pattern(off + i);
        http_deferred_body(u->d, piece, STREAM_PIECE_BYTES);
        off += STREAM_PIECE_BYTES;
    }
    free(piece);
    http_deferred_end(u->d, false);
    upload_free(u);
}

/* /upload streams the body in; /early answers before reading it; /hang
 * never answers; /sync answers at once; /big answers BIG_ANSWER_BYTES at
 * once; /stream streams a chunked answer later; anything else echoes the
 * method. */
static void stream_handler(struct http_request *req, struct http_response *res, void *ud)
{
    (void)ud;
    if (str_eq_cstr(req->path, "/big")) {
        res->content_type = "text/plain";
        buf_reserve(&res->body, BIG_ANSWER_BYTES);
        for (size_t i = 0; i < BIG_ANSWER_BYTES; i++)
            res->body.ptr[i] = pattern(i);
        res->body.len = BIG_ANSWER_BYTES;
        res->body.ptr[res->body.len] = '\0';
        return;
    }
    if (str_eq_cstr(req->path, "/stream")) {
        struct upload *u = xcalloc(1, sizeof(*u));
        uv_timer_init(http_request_loop(req), &u->timer);
        u->timer.data = u;
        u->d = http_request_defer(req, upload_cancel, u);
        uv_timer_start(&u->timer, on_stream_timer, 0, 0);
        return;
    }
    bool upload = str_eq_cstr(req->path, "/upload"), early = str_eq_cstr(req->path, "/early");
    if (upload || early || str_eq_cstr(req->path, "/hang")) {
        struct upload *u = xcalloc(1, sizeof(*u));
        uv_timer_init(http_request_loop(req), &u->timer);
        u->timer.data = u;
        u->d = http_request_defer(req, upload_cancel, u);
        if (upload)
            http_deferred_read_body(u->d, upload_data, upload_end, u);
        else if (early)
            uv_timer_start(&u->timer, on_early_timer, 20, 0);
        return;
    }
    res->status = str_eq_cstr(req->path, "/sync") ? 404 : 200;
    buf_printf(&res->body, "{\"method\": \"%.*s\", \"follows\": %d, \"length\": %lld}",
               (int)req->method.len, req->method.ptr, (int)req->body_follows, req->body_length);
}

static void count_worker_stop(unsigned worker, void *ud)
{
    (void)worker;
    (void)ud;
    atomic_store(&cancels_before_stop, atomic_load(&cancels));
    atomic_fetch_add(&worker_stops, 1);
}

static struct fixture *stream_server(void)
{
    static struct fixture f;
    memset(&f, 0, sizeof(f));
    f.cfg.handler = stream_handler;
    f.cfg.stream_bodies = true;
    f.cfg.worker_stop = count_worker_stop;
    return fixture_start(&f) ? &f : NULL;
}

static char *big_body(size_t len, unsigned long *sum)
{
    char *b = xmalloc(len);
    *sum = 0;
    for (size_t i = 0; i < len; i++) {
        b[i] = (char)('a' + i % 26);
        *sum += (unsigned char)b[i];
    }
    return b;
}

/* ------------------------------------------------------------------------ */
/* Streaming                                                                */

TEST(streamed_content_length_body_with_pauses)
{
    struct fixture *f = stream_server();
    CHECK(f);
    int fd = dial(f->port);
    size_t len = 3 << 20;
    unsigned long sum;
    char *body = big_body(len, &sum);
    char head[128];
    snprintf(head, sizeof(head), "POST /upload HTTP/1.1\r\nContent-Length: %zu\r\n\r\n", len);
    send_str(fd, head);
    send_all(fd, body, len);
    send_str(fd, "GET /after HTTP/1.1\r\n\r\n"); /* pipelined behind the body */
    struct buf out;
    buf_init(&out, SIZE_MAX);
    read_answers(fd, 2, false, &out);
    char want[96];
    snprintf(want, sizeof(want), "{\"bytes\": %zu, \"sum\": %lu, \"paused\": 1}", len, sum);
    if (!strstr(out.ptr, want))
        harness_fail(__FILE__, __LINE__, "answer '%.300s', want '%s'", out.ptr, want);
    CHECK(strstr(out.ptr, "\"method\": \"GET\", \"follows\": 0"));
    buf_release(&out);
    free(body);
    close(fd);
    fixture_stop(f);
}

TEST(streamed_chunked_body_and_100_continue)
{
    struct fixture *f = stream_server();
    CHECK(f);
    int fd = dial(f->port);
    send_str(fd, "POST /upload HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
                 "Expect: 100-continue\r\n\r\n");
    char buf[64] = "";
    ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0); /* 100 Continue before any byte of body */
    CHECK(n > 0 && strstr(buf, "100 Continue"));
    unsigned long sum = 0;
    size_t total = 0;
    for (int i = 1; i <= 20; i++) {
        char chunk[2100];
        int k = 100 * i;
        int h = snprintf(chunk, sizeof(chunk), "%x\r\n", k);
        for (int j = 0; j < k; j++) {
            chunk[h + j] = (char)('A' + j % 7);
            sum += (unsigned char)chunk[h + j];
        }
        memcpy(chunk + h + k, "\r\n", 2);
        send_all(fd, chunk, (size_t)(h + k + 2));
        total += (size_t)k;
    }
    send_str(fd, "0\r\n\r\n");
    struct buf out;
    buf_init(&out, SIZE_MAX);
    read_answers(fd, 1, false, &out);
    char want[64];
    snprintf(want, sizeof(want), "{\"bytes\": %zu, \"sum\": %lu", total, sum);
    if (!strstr(out.ptr, want))
        harness_fail(__FILE__, __LINE__, "answer '%.300s', want '%s'", out.ptr, want);
    buf_release(&out);
    close(fd);
    fixture_stop(f);
}

/* Without a body to stream, on_end alone runs, after the handler returns. */
TEST(read_body_without_a_body_ends_at_once)
{
    struct fixture *f = stream_server();
    CHECK(f);
    int fd = dial(f->port);
    send_str(fd, "GET /upload HTTP/1.1\r\n\r\nPOST /upload HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
    struct buf out;
    buf_init(&out, SIZE_MAX);
    read_answers(fd, 2, false, &out);
    const char *first = strstr(out.ptr, "{\"bytes\": 0, \"sum\": 0, \"paused\": 0}");
    CHECK(first && strstr(first + 1, "{\"bytes\": 0, \"sum\": 0, \"paused\": 0}"));
    buf_release(&out);
    close(fd);
    fixture_stop(f);
}

/* A handler that answers at once leaves the body to the server, which drops
 * it and goes on with the next request on the connection. */
TEST(body_of_a_request_answered_at_once_is_dropped)
{
    struct fixture *f = stream_server();
    CHECK(f);
    int fd = dial(f->port);
    size_t len = 1 << 20;
    unsigned long sum;
    char *body = big_body(len, &sum);
    char head[128];
    snprintf(head, sizeof(head), "POST /sync HTTP/1.1\r\nContent-Length: %zu\r\n\r\n", len);
    send_str(fd, head);
    send_all(fd, body, len);
    send_str(fd, "POST /x HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcGET /y HTTP/1.1\r\n\r\n");
    struct buf out;
    buf_init(&out, SIZE_MAX);
    read_answers(fd, 3, false, &out);
    CHECK(strstr(out.ptr, "HTTP/1.1 404"));
    CHECK(strstr(out.ptr, "\"follows\": 1, \"length\": 1048576"));
    CHECK(strstr(out.ptr, "\"follows\": 1, \"length\": 3"));
    CHECK(strstr(out.ptr, "\"method\": \"GET\", \"follows\": 0"));
    CHECK(!strstr(out.ptr, "Connection: close"));
    buf_release(&out);
    free(body);
    close(fd);
    fixture_stop(f);
}

/* A deferred answer that ends before the body: the rest is dropped. */
TEST(answer_before_the_body_drops_the_rest)
{
    struct fixture *f = stream_server();
    CHECK(f);
    int fd = dial(f->port);
    send_str(fd, "POST /early HTTP/1.1\r\nContent-Length: 200000\r\n\r\n");
    struct buf out;
    buf_init(&out, SIZE_MAX);
    read_answers(fd, 1, false, &out);
    CHECK(strstr(out.ptr, "HTTP/1.1 413") && strstr(out.ptr, "{\"early\": true}"));
    char *body = xcalloc(1, 200000);
    send_all(fd, body, 200000);
    send_str(fd, "GET /z HTTP/1.1\r\n\r\n");
    buf_reset(&out);
    read_answers(fd, 1, false, &out);
    CHECK(strstr(out.ptr, "\"method\": \"GET\""));
    free(body);
    buf_release(&out);
    close(fd);
    fixture_stop(f);
}

/* A client that goes away mid-body cancels the deferral. */
TEST(client_gone_mid_body_cancels)
{
    atomic_store(&cancels, 0);
    struct fixture *f = stream_server();
    CHECK(f);
    int fd = dial(f->port);
    send_str(fd, "POST /upload HTTP/1.1\r\nContent-Length: 100000\r\n\r\nabc");
    usleep(50 * 1000);
    close(fd);
    for (int i = 0; i < 100 && atomic_load(&cancels) == 0; i++)
        usleep(10 * 1000);
    CHECK_EQ_INT(atomic_load(&cancels), 1);
    fixture_stop(f);
}

/* A malformed chunk in a streamed body: 400 and on_cancel, no on_end. */
TEST(malformed_streamed_body_is_400)
{
    atomic_store(&cancels, 0);
    struct fixture *f = stream_server();
    CHECK(f);
    int fd = dial(f->port);
    send_str(fd, "POST /upload HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\nzz\r\n");
    struct buf out;
    buf_init(&out, SIZE_MAX);
    read_answers(fd, 1, false, &out);
    CHECK(strstr(out.ptr, "HTTP/1.1 400"));
    CHECK(peer_closed(fd));
    CHECK_EQ_INT(atomic_load(&cancels), 1);
    buf_release(&out);
    close(fd);
    fixture_stop(f);
}

/* ------------------------------------------------------------------------ */
/* Writes                                                                   */

/* Keep-alive requests one after another on one connection, each answered
 * before the next is sent; returns the epoll_ctl calls they cost. */
static int epoll_ctls_for(int fd, const char *request, int n)
{
    struct buf out;
    buf_init(&out, SIZE_MAX);
    send_str(fd, request); /* the first one: the connection's own setup */
    read_answers(fd, 1, false, &out);
    int before = atomic_load(&epoll_ctls), answered = 0;
    for (int i = 0; i < n; i++) {
        buf_reset(&out);
        send_str(fd, request);
        read_answers(fd, 1, false, &out);
        answered += strncmp(out.ptr, "HTTP/1.1 200 OK\r\n", 17) == 0;
    }
    usleep(20 * 1000); /* a re-arm after the last answer would come now */
    int calls = atomic_load(&epoll_ctls) - before;
    buf_release(&out);
    return answered == n ? calls : -1;
}

/* An answer that fits the socket buffer goes out at once: no write request,
 * so libuv does not re-arm the connection in epoll after it (it did, one
 * epoll_ctl per answer); and a deferred request whose body is handed over
 * from what was read does not stop and restart reading (two more). */
TEST(answers_that_fit_cost_no_epoll_ctl)
{
    struct fixture *f = stream_server();
    CHECK(f);
    int fd = dial(f->port);
    CHECK_EQ_INT(epoll_ctls_for(fd, "GET /x HTTP/1.1\r\n\r\n", 20), 0);
    CHECK_EQ_INT(
        epoll_ctls_for(fd, "POST /upload HTTP/1.1\r\nContent-Length: 11\r\n\r\nhello world", 20),
        0);
    close(fd);
    fixture_stop(f);
}

/* Read 'len' bytes, waiting for them. */
static bool recv_all(int fd, char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = recv(fd, p, len, 0);
        if (n <= 0)
            return false;
        p += n;
        len -= (size_t)n;
    }
    return true;
}

/* Read one answer with a Content-Length body; returns the body length, or
 * -1. 'body' gets the body. */
static long read_sized_answer(int fd, struct buf *body)
{
    char head[4096];
    size_t n = 0;
    while (n < sizeof(head) - 1) {
        if (!recv_all(fd, head + n, 1))
            return -1;
        n++;
        if (n >= 4 && memcmp(head + n - 4, "\r\n\r\n", 4) == 0)
            break;
    }
    head[n] = '\0';
    const char *cl = strstr(head, "Content-Length: ");
    if (strncmp(head, "HTTP/1.1 200 OK\r\n", 17) != 0 || !cl)
        return -1;
    size_t len = strtoul(cl + 16, NULL, 10);
    buf_reset(body);
    if (buf_reserve(body, len) != 0 || !recv_all(fd, body->ptr, len))
        return -1;
    body->len = len;
    return (long)len;
}

static bool is_pattern(const char *p, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (p[i] != pattern(i))
            return false;
    return true;
}

/* Answers larger than the socket takes at once go out whole and in order,
 * pipelined behind and ahead of small ones, to a client that reads late. */
TEST(large_answers_go_out_whole_and_in_order)
{
    struct fixture *f = stream_server();
    CHECK(f);
    int fd = dial(f->port);
    send_str(fd, "GET /big HTTP/1.1\r\n\r\nGET /x HTTP/1.1\r\n\r\nGET /big HTTP/1.1\r\n\r\n"
                 "GET /x HTTP/1.1\r\n\r\n");
    usleep(200 * 1000); /* the server's writes fill the socket and wait */
    struct buf body;
    buf_init(&body, SIZE_MAX);
    for (int i = 0; i < 4; i++) {
        long n = read_sized_answer(fd, &body);
        if (i % 2 == 0) {
            CHECK_EQ_INT(n, (long)BIG_ANSWER_BYTES);
            CHECK(is_pattern(body.ptr, body.len));
        } else {
            CHECK(n > 0 && strstr(body.ptr, "\"method\": \"GET\""));
        }
    }
    buf_release(&body);
    close(fd);
    fixture_stop(f);
}

/* A deferred answer streamed faster than the client reads arrives whole:
 * pieces the socket takes only in part are finished from the write queue,
 * the chunk framing included. */
TEST(streamed_answer_to_a_slow_reader_arrives_whole)
{
    struct fixture *f = stream_server();
    CHECK(f);
    int fd = dial(f->port);
    send_str(fd, "GET /stream HTTP/1.1\r\n\r\nGET /x HTTP/1.1\r\n\r\n");
    usleep(200 * 1000);
    char head[4096];
    size_t n = 0;
    while (n < sizeof(head) - 1 && (n < 4 || memcmp(head + n - 4, "\r\n\r\n", 4) != 0)) {
        CHECK(recv_all(fd, head + n, 1));
        n++;
    }
    head[n] = '\0';
    CHECK(strstr(head, "Transfer-Encoding: chunked\r\n"));
    struct buf body;
    buf_init(&body, SIZE_MAX);
    for (;;) {
        char line[32];
        size_t k = 0;
        while (k < sizeof(line) - 1 && (k < 2 || memcmp(line + k - 2, "\r\n", 2) != 0)) {
            CHECK(recv_all(fd, line + k, 1));
            k++;
        }
        line[k] = '\0';
        size_t size = strtoul(line, NULL, 16);
        char crlf[2];
        if (size == 0) {
            CHECK(recv_all(fd, crlf, 2) && memcmp(crlf, "\r\n", 2) == 0);
            break;
        }
        CHECK(buf_reserve(&body, size) == 0);
        CHECK(recv_all(fd, body.ptr + body.len, size));
        body.len += size;
        CHECK(recv_all(fd, crlf, 2) && memcmp(crlf, "\r\n", 2) == 0);
    }
    CHECK_EQ_INT(body.len, (long)(STREAM_PIECE_BYTES * STREAM_PIECES));
    CHECK(is_pattern(body.ptr, body.len));
    /* The pipelined request behind it is answered after it. */
    CHECK(read_sized_answer(fd, &body) > 0 && strstr(body.ptr, "\"method\": \"GET\""));
    buf_release(&body);
    close(fd);
    fixture_stop(f);
}

/* ------------------------------------------------------------------------ */
/* HEAD, caps, budget, errors                                               */

TEST(head_answers_have_no_body)
{
    struct fixture *f = stream_server();
    CHECK(f);
    int fd = dial(f->port);
    send_str(fd, "HEAD /h HTTP/1.1\r\n\r\nGET /g HTTP/1.1\r\n\r\n");
    struct buf out;
    buf_init(&out, SIZE_MAX);
    read_answers(fd, 1, true, &out);
    usleep(100 * 1000);
    char tmp[4096];
    ssize_t n = recv(fd, tmp, sizeof(tmp), MSG_DONTWAIT);
    if (n > 0)
        buf_append(&out, tmp, (size_t)n);
    /* HEAD's answer: the GET's Content-Length, then at once the next answer. */
    const char *get = strstr(out.ptr, "\r\n\r\nHTTP/1.1 200");
    CHECK(get != NULL);
    char cl[64];
    snprintf(cl, sizeof(cl), "Content-Length: %zu\r\n",
             strlen("{\"method\": \"HEAD\", \"follows\": 0, \"length\": -1}"));
    const char *at = strstr(out.ptr, cl);
    CHECK(at != NULL && at < get);
    CHECK(strstr(get, "{\"method\": \"GET\""));
    CHECK(!strstr(out.ptr, "\"HEAD\""));
    buf_release(&out);
    close(fd);
    fixture_stop(f);
}

static void envelope_error(struct http_response *res, int status, const char *msg, void *ud)
{
    (void)ud;
    res->status = 200;
    buf_reset(&res->body);
    buf_printf(&res->body, "{\"Response\": {\"Error\": {\"Code\": \"E%d\", \"Message\": \"%s\"}}}",
               status, msg);
}

TEST(connection_cap_answers_503)
{
    static struct fixture f;
    memset(&f, 0, sizeof(f));
    f.cfg.handler = stream_handler;
    f.cfg.max_connections = 2;
    f.cfg.error_format = envelope_error;
    CHECK(fixture_start(&f));
    int a = dial(f.port), b = dial(f.port);
    usleep(100 * 1000);
    int c = dial(f.port);
    struct buf out;
    buf_init(&out, SIZE_MAX);
    read_answers(c, 1, false, &out);
    CHECK(strstr(out.ptr, "HTTP/1.1 200") && strstr(out.ptr, "\"Code\": \"E503\""));
    CHECK(strstr(out.ptr, "too many connections"));
    close(c);
    close(a);
    usleep(100 * 1000);
    c = dial(f.port); /* a place came free */
    send_str(c, "GET / HTTP/1.1\r\n\r\n");
    buf_reset(&out);
    read_answers(c, 1, false, &out);
    CHECK(strstr(out.ptr, "\"method\": \"GET\""));
    buf_release(&out);
    close(b);
    close(c);
    fixture_stop(&f);
}

TEST(body_budget_answers_503_before_the_body)
{
    static struct fixture f;
    memset(&f, 0, sizeof(f));
    f.cfg.handler = stream_handler;
    f.cfg.body_budget_bytes = 1000;
    CHECK(fixture_start(&f));
    int a = dial(f.port), b = dial(f.port);
    send_str(a, "POST /a HTTP/1.1\r\nContent-Length: 600\r\n\r\npartial");
    usleep(100 * 1000);
    send_str(b, "POST /b HTTP/1.1\r\nContent-Length: 600\r\n\r\n");
    struct buf out;
    buf_init(&out, SIZE_MAX);
    read_answers(b, 1, false, &out);
    CHECK(strstr(out.ptr, "HTTP/1.1 503") && strstr(out.ptr, "too many request bodies"));
    close(b);
    /* Chunked bodies count as they come. */
    b = dial(f.port);
    send_str(b, "POST /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n190\r\n");
    char chunk[400];
    memset(chunk, 'x', sizeof(chunk));
    send_all(b, chunk, sizeof(chunk));
    send_str(b, "\r\n190\r\n");
    send_all(b, chunk, sizeof(chunk));
    buf_reset(&out);
    read_answers(b, 1, false, &out);
    CHECK(strstr(out.ptr, "HTTP/1.1 503"));
    close(b);
    /* Once the first body is in and answered, its share comes back. */
    char rest[593];
    memset(rest, 'y', sizeof(rest));
    send_all(a, rest, sizeof(rest));
    buf_reset(&out);
    read_answers(a, 1, false, &out);
    CHECK(strstr(out.ptr, "HTTP/1.1 200"));
    b = dial(f.port);
    send_str(b, "POST /b HTTP/1.1\r\nContent-Length: 900\r\n\r\n");
    char nine[900];
    memset(nine, 'z', sizeof(nine));
    send_all(b, nine, sizeof(nine));
    buf_reset(&out);
    read_answers(b, 1, false, &out);
    CHECK(strstr(out.ptr, "HTTP/1.1 200"));
    buf_release(&out);
    close(a);
    close(b);
    fixture_stop(&f);
}

/* A streamed body holds a fixed share of the budget while its reader reads
 * it, whatever its length: no share left is 503 before the body is read,
 * and an ended request gives its share back. */
TEST(streamed_bodies_take_shares_of_the_budget)
{
    static struct fixture f;
    memset(&f, 0, sizeof(f));
    f.cfg.handler = stream_handler;
    f.cfg.stream_bodies = true;
    f.cfg.body_budget_bytes = 2 * HTTP_BODY_SHARE_BYTES;
    f.cfg.max_body_bytes = 64 << 20;
    CHECK(fixture_start(&f));
    size_t len = 32 << 20; /* far more than the budget: only the share counts */
    char head[128];
    snprintf(head, sizeof(head), "POST /upload HTTP/1.1\r\nContent-Length: %zu\r\n\r\n", len);
    int a = dial(f.port), b = dial(f.port);
    send_str(a, head);
    send_str(a, "partial");
    send_str(b, head);
    usleep(100 * 1000);
    int c = dial(f.port);
    send_str(c, head);
    struct buf out;
    buf_init(&out, SIZE_MAX);
    read_answers(c, 1, false, &out);
    CHECK(strstr(out.ptr, "HTTP/1.1 503") && strstr(out.ptr, "too many request bodies"));
    CHECK(peer_closed(c));
    close(c);
    /* A request without a body needs no share. */
    c = dial(f.port);
    send_str(c, "GET /x HTTP/1.1\r\n\r\n");
    buf_reset(&out);
    read_answers(c, 1, false, &out);
    CHECK(strstr(out.ptr, "HTTP/1.1 200"));
    close(c);
    /* The first body comes whole: answered, and its share is back for another. */
    char *rest = xmalloc(len);
    memset(rest, 'y', len);
    send_all(a, rest, len - 7);
    buf_reset(&out);
    read_answers(a, 1, false, &out);
    char want[64];
    snprintf(want, sizeof(want), "{\"bytes\": %zu", len);
    CHECK(strstr(out.ptr, "HTTP/1.1 200") && strstr(out.ptr, want));
    c = dial(f.port);
    snprintf(head, sizeof(head), "POST /upload HTTP/1.1\r\nContent-Length: %d\r\n\r\n", 300000);
    send_str(c, head);
    send_all(c, rest, 300000);
    buf_reset(&out);
    read_answers(c, 1, false, &out);
    CHECK(strstr(out.ptr, "HTTP/1.1 200") && strstr(out.ptr, "{\"bytes\": 300000"));
    free(rest);
    buf_release(&out);
    close(a);
    close(b);
    close(c);
    fixture_stop(&f);
}

TEST(error_formatter_shapes_server_errors)
{
    static struct fixture f;
    memset(&f, 0, sizeof(f));
    f.cfg.handler = stream_handler;
    f.cfg.error_format = envelope_error;
    CHECK(fixture_start(&f));
    int fd = dial(f.port);
    send_str(fd, "GET / HTTP/1.1\r\nX-A : 1\r\n\r\n");
    struct buf out;
    buf_init(&out, SIZE_MAX);
    read_answers(fd, 1, false, &out);
    CHECK(strstr(out.ptr, "HTTP/1.1 200 OK"));
    CHECK(strstr(out.ptr, "\"Code\": \"E400\""));
    CHECK(strstr(out.ptr, "Connection: close"));
    CHECK(peer_closed(fd));
    buf_release(&out);
    close(fd);
    fixture_stop(&f);
}

/* ------------------------------------------------------------------------ */
/* Orderly stop                                                             */

struct stopper {
    struct fixture *f;
    int delay_ms;
};

static void *stop_later(void *arg)
{
    struct stopper *s = arg;
    usleep((useconds_t)s->delay_ms * 1000);
    fixture_stop(s->f);
    return NULL;
}

/* A request in flight when the stop begins is answered; an idle connection
 * is closed at once; new connections are refused. */
TEST(stop_drains_requests_in_flight)
{
    static struct fixture f;
    memset(&f, 0, sizeof(f));
    f.cfg.handler = stream_handler;
    f.cfg.stream_bodies = true;
    f.cfg.drain_timeout_ms = 3000;
    CHECK(fixture_start(&f));
    int idle = dial(f.port), busy = dial(f.port);
    send_str(idle, "GET / HTTP/1.1\r\n\r\n");
    struct buf out;
    buf_init(&out, SIZE_MAX);
    read_answers(idle, 1, false, &out);
    send_str(busy, "POST /early HTTP/1.1\r\nContent-Length: 5\r\n\r\n");
    usleep(10 * 1000); /* read and deferred; answered 20 ms after */
    struct stopper st = {&f, 0};
    pthread_t t;
    pthread_create(&t, NULL, stop_later, &st);
    buf_reset(&out);
    read_answers(busy, 1, false, &out);
    CHECK(strstr(out.ptr, "{\"early\": true}"));
    CHECK(strstr(out.ptr, "Connection: close"));
    CHECK(peer_closed(idle));
    pthread_join(t, NULL);
    CHECK(dial(f.port) < 0);
    buf_release(&out);
    close(idle);
    close(busy);
}

/* A connection accepted just before the stop, its request not sent yet, is
 * answered rather than closed as idle: its client connected to send one (a
 * successor that took over the listener must not cost it). */
TEST(stop_answers_a_connection_that_has_sent_nothing_yet)
{
    static struct fixture f;
    memset(&f, 0, sizeof(f));
    f.cfg.handler = stream_handler;
    f.cfg.drain_timeout_ms = 3000;
    CHECK(fixture_start(&f));
    int fresh = dial(f.port);
    usleep(50 * 1000); /* accepted and handed to the worker */
    struct stopper st = {&f, 0};
    pthread_t t;
    pthread_create(&t, NULL, stop_later, &st);
    usleep(100 * 1000);
    send_str(fresh, "GET / HTTP/1.1\r\n\r\n");
    struct buf out;
    buf_init(&out, SIZE_MAX);
    read_answers(fresh, 1, false, &out);
    CHECK(strstr(out.ptr, "HTTP/1.1 200"));
    CHECK(strstr(out.ptr, "Connection: close"));
    CHECK(peer_closed(fresh));
    pthread_join(t, NULL);
    buf_release(&out);
    close(fresh);
}

/* A server takes a listening socket made elsewhere (inherited) as it is. */
TEST(serves_on_a_given_listening_socket)
{
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    CHECK_EQ_INT(bind(lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    CHECK_EQ_INT(listen(lfd, 16), 0);
    CHECK_EQ_INT(getsockname(lfd, (struct sockaddr *)&a, &len), 0);
    static struct fixture f;
    memset(&f, 0, sizeof(f));
    f.cfg.handler = stream_handler;
    f.cfg.port = 1; /* ignored: the socket's own address counts */
    f.cfg.listen_fd = lfd;
    CHECK(fixture_start(&f));
    CHECK_EQ_INT(f.port, ntohs(a.sin_port));
    int fd = dial(f.port);
    send_str(fd, "GET / HTTP/1.1\r\n\r\n");
    struct buf out;
    buf_init(&out, SIZE_MAX);
    read_answers(fd, 1, false, &out);
    CHECK(strstr(out.ptr, "HTTP/1.1 200"));
    buf_release(&out);
    close(fd);
    fixture_stop(&f);
}

/* Past the drain, what is left is cancelled, and worker_stop runs after
 * every on_cancel of its worker. */
TEST(stop_cancels_after_the_drain_then_worker_stop)
{
    atomic_store(&cancels, 0);
    atomic_store(&worker_stops, 0);
    atomic_store(&cancels_before_stop, -1);
    static struct fixture f;
    memset(&f, 0, sizeof(f));
    f.cfg.handler = stream_handler;
    f.cfg.drain_timeout_ms = 200;
    f.cfg.num_threads = 2;
    f.cfg.worker_stop = count_worker_stop;
    CHECK(fixture_start(&f));
    int a = dial(f.port), b = dial(f.port);
    send_str(a, "GET /hang HTTP/1.1\r\n\r\n");
    send_str(b, "GET /hang HTTP/1.1\r\n\r\n");
    usleep(100 * 1000);
    uint64_t t0 = uv_hrtime();
    fixture_stop(&f);
    uint64_t ms = (uv_hrtime() - t0) / 1000000;
    CHECK(ms >= 150 && ms < 2000);
    CHECK_EQ_INT(atomic_load(&cancels), 2);
    CHECK_EQ_INT(atomic_load(&worker_stops), 2);
    CHECK(atomic_load(&cancels_before_stop) >= 1); /* each worker's own cancel came first */
    CHECK(peer_closed(a));
    close(a);
    close(b);
}
