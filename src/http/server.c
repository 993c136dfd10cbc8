/* server.c - the HTTP/1.1 server.
 *
 * The caller's loop owns the listening socket and accepts with accept4() when
 * it is readable; each accepted fd is handed round-robin to a worker through a
 * locked queue and a uv_async. A worker adopts the fd with uv_tcp_open() and
 * feeds what it reads to its http_parser, which stops after each request, so
 * a whole request is handled before the next pipelined one is parsed. */
#include "http/server.h"
#include "http/parser.h"
#include "base/alloc.h"
#include "base/log.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define READ_CHUNK_BYTES (64 * 1024)
/* A client that pipelines requests without reading the answers is not read
 * from while this much response data waits to be sent. */
#define WRITE_BACKLOG_LIMIT_BYTES (8 * 1024 * 1024)
/* While a response is deferred the connection keeps reading pipelined bytes
 * into 'pending' up to this much, then waits (one more read always fits). */
#define PENDING_HIGH_BYTES (256 * 1024)

struct worker;

struct conn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    struct http_parser parser;
    struct worker *w;
    struct conn *prev, *next; /* the worker's list of open connections */
    int handles_open;         /* tcp and timer; freed when both have closed */
    bool closing;
    bool read_paused;   /* by the write backlog limit */
    bool continue_sent; /* "100 Continue" answered for the current request */
    char *readbuf;
    char peer[48];                  /* the client's address */
    struct http_deferred *deferred; /* the request being answered later */
    struct buf pending;             /* bytes read behind it, parsed once it is done */
    bool reading_stopped;           /* while deferred: pending is full, or the peer sent EOF */
    bool peer_eof;                  /* the client will send nothing more */
};

struct http_deferred {
    struct conn *c; /* NULL once cancelled */
    http_cancel_fn on_cancel;
    void *cancel_arg;
    bool keep_alive, http10;
    bool chunked;   /* the streamed body is chunk-encoded */
    bool close_end; /* the body ends with the connection (HTTP/1.0, unknown length) */
    bool head_sent;
    struct buf head; /* the status line and headers, sent with the first body bytes */
    void (*on_drain)(void *arg);
    void *drain_arg;
};

struct worker {
    struct http_server *srv;
    unsigned index;
    uv_loop_t loop;
    uv_async_t wake;
    pthread_t thread;
    pthread_mutex_t lock;
    int *pending; /* accepted fds waiting for this worker */
    size_t npending, cap_pending;
    bool stopping;    /* set by the stopping thread, under 'lock' */
    bool closing_all; /* the worker's own copy, once it has seen 'stopping' */
    struct conn *conns;
    uint64_t next_id;
};

struct http_server {
    struct http_server_config cfg;
    uv_loop_t *loop;
    uv_poll_t poll;
    int fd;
    int port;
    struct worker *workers;
    unsigned next_worker;
};

static atomic_uint_fast64_t request_ids = 1;

/* ------------------------------------------------------------------------ */
/* Responses                                                                */

const char *http_status_text(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 200:
        return "OK";
    case 204:
        return "No Content";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 411:
        return "Length Required";
    case 413:
        return "Payload Too Large";
    case 414:
        return "URI Too Long";
    case 415:
        return "Unsupported Media Type";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 499:
        return "Client Closed Request";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    case 505:
        return "HTTP Version Not Supported";
    }
    return "Unknown";
}

void http_response_error(struct http_response *res, int status, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    res->status = status;
    res->content_type = "application/json";
    buf_reset(&res->body);
    buf_puts(&res->body, "{\"error\": ");
    buf_json_str(&res->body, msg, strlen(msg));
    buf_puts(&res->body, "}");
}

struct str http_request_header(const struct http_request *req, const char *name)
{
    for (size_t i = 0; i < req->nheaders; i++)
        if (str_eq_nocase(req->headers[i].name, name))
            return req->headers[i].value;
    return STR_NULL;
}

struct write_req {
    uv_write_t req;
    char *head, *body;
};

static void conn_close(struct conn *c);
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b);
static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b);

static void on_write(uv_write_t *wr, int status)
{
    struct write_req *w = (struct write_req *)wr;
    struct conn *c = wr->handle->data;
    free(w->head);
    free(w->body);
    free(w);
    struct http_deferred *d = c->deferred;
    if (status == 0 && d && d->on_drain && c->tcp.write_queue_size < HTTP_DEFERRED_HIGH_BYTES / 2) {
        void (*cb)(void *) = d->on_drain;
        d->on_drain = NULL;
        cb(d->drain_arg); /* may end the deferral: 'd' is not used after this */
        if (c->closing)
            return;
    }
    /* A failed write shows up as a read error too, which closes the connection. */
    if (status == 0 && c->read_paused && !c->closing &&
        c->tcp.write_queue_size < WRITE_BACKLOG_LIMIT_BYTES / 2) {
        c->read_paused = false;
        if (!c->reading_stopped && uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0)
            conn_close(c);
    }
}

/* Queue 'res' on the connection; takes its buffers. */
static void conn_send(struct conn *c, struct http_response *res, bool keep_alive, bool http10)
{
    struct buf head;
    buf_init(&head, SIZE_MAX);
    buf_printf(&head, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n", res->status,
               http_status_text(res->status),
               res->content_type ? res->content_type : "application/json", res->body.len);
    if (!keep_alive || res->close)
        buf_puts(&head, "Connection: close\r\n");
    else if (http10)
        buf_puts(&head, "Connection: keep-alive\r\n");
    buf_append(&head, res->headers.ptr, res->headers.len);
    buf_puts(&head, "\r\n");

    struct write_req *w = xcalloc(1, sizeof(*w));
    size_t hlen, blen;
    w->head = buf_detach(&head, &hlen);
    w->body = buf_detach(&res->body, &blen);
    buf_release(&res->headers);
    uv_buf_t bufs[2] = {uv_buf_init(w->head, (unsigned)hlen), uv_buf_init(w->body, (unsigned)blen)};
    if (uv_write(&w->req, (uv_stream_t *)&c->tcp, bufs, blen ? 2 : 1, on_write) != 0) {
        free(w->head);
        free(w->body);
        free(w);
        conn_close(c);
        return;
    }
    if (!keep_alive || res->close) {
        conn_close(c); /* uv_shutdown in conn_close lets the write go out first */
    } else if (c->tcp.write_queue_size >= WRITE_BACKLOG_LIMIT_BYTES && !c->read_paused) {
        c->read_paused = true;
        uv_read_stop((uv_stream_t *)&c->tcp);
    }
}

static void send_error_and_close(struct conn *c, int status, const char *msg)
{
    struct http_response res = {0};
    buf_init(&res.headers, SIZE_MAX);
    buf_init(&res.body, SIZE_MAX);
    http_response_error(&res, status, "%s", msg);
    res.close = true;
    conn_send(c, &res, false, false);
}

/* ------------------------------------------------------------------------ */
/* Connection lifecycle                                                     */

static void on_handle_closed(uv_handle_t *h)
{
    struct conn *c = h->data;
    if (--c->handles_open > 0)
        return;
    http_parser_release(&c->parser);
    buf_release(&c->pending);
    free(c->readbuf);
    free(c);
}

/* Also reached from on_shutdown after a stop closed the handles (ECANCELED). */
static void conn_close_now(struct conn *c)
{
    if (!uv_is_closing((uv_handle_t *)&c->tcp))
        uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
    if (!uv_is_closing((uv_handle_t *)&c->timer))
        uv_close((uv_handle_t *)&c->timer, on_handle_closed);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    struct conn *c = req->data;
    (void)status;
    free(req);
    conn_close_now(c);
}

/* Close after every queued write has gone out: uv_shutdown waits for them,
 * except when the server stops, which does not wait for slow readers. */
static void conn_close(struct conn *c)
{
    if (c->closing)
        return;
    c->closing = true;
    if (c->deferred) {
        struct http_deferred *d = c->deferred;
        c->deferred = NULL;
        d->c = NULL;
        if (d->on_cancel)
            d->on_cancel(d->cancel_arg);
        buf_release(&d->head);
        free(d);
    }
    uv_read_stop((uv_stream_t *)&c->tcp);
    uv_timer_stop(&c->timer);
    if (c->prev)
        c->prev->next = c->next;
    else
        c->w->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    if (c->w->closing_all) {
        conn_close_now(c);
        return;
    }
    uv_shutdown_t *sd = xcalloc(1, sizeof(*sd));
    sd->data = c;
    if (uv_shutdown(sd, (uv_stream_t *)&c->tcp, on_shutdown) != 0) {
        free(sd);
        conn_close_now(c);
    }
}

static void on_timeout(uv_timer_t *t)
{
    struct conn *c = t->data;
    if (c->parser.in_message) {
        log_info("http", "request timed out after %llu ms; closing connection",
                 (unsigned long long)c->w->srv->cfg.timeout_ms);
        send_error_and_close(c, 408, "request not received within the timeout");
    } else {
        conn_close(c);
    }
}

static void arm_timer(struct conn *c)
{
    uint64_t ms = c->w->srv->cfg.timeout_ms;
    if (ms)
        uv_timer_start(&c->timer, on_timeout, ms, 0);
}

/* ------------------------------------------------------------------------ */
/* Requests                                                                 */

static void conn_handle(struct conn *c)
{
    struct http_server *srv = c->w->srv;
    struct arena arena;
    arena_init(&arena, 16 * 1024);
    struct http_request req = {0};
    http_parser_request(&c->parser, &req);
    req.id = atomic_fetch_add(&request_ids, 1);
    req.peer = c->peer;
    req.worker = c->w->index;
    req.arena = &arena;

    req.conn = c;

    struct http_response res = {.status = 200, .content_type = "application/json"};
    buf_init(&res.headers, SIZE_MAX);
    buf_init(&res.body, SIZE_MAX);
    srv->cfg.handler(&req, &res, srv->cfg.ud);
    arena_release(&arena);
    if (c->deferred) {
        c->deferred->keep_alive = http_parser_keep_alive(&c->parser);
        c->deferred->http10 = http_parser_is_http10(&c->parser);
        buf_release(&res.headers);
        buf_release(&res.body);
        return;
    }
    conn_send(c, &res, http_parser_keep_alive(&c->parser), http_parser_is_http10(&c->parser));
}

static void conn_feed(struct conn *c, const char *data, size_t len)
{
    while (len > 0 && !c->closing) {
        size_t used;
        enum http_parse_status st = http_parser_feed(&c->parser, data, len, &used);
        if (st == HTTP_PARSE_ERROR) {
            send_error_and_close(c, c->parser.error_status, c->parser.error_msg);
            return;
        }
        if (c->parser.expect_continue && !c->continue_sent) {
            /* curl and others wait for this before sending a large body. */
            static char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
            uv_buf_t b = uv_buf_init(cont, sizeof(cont) - 1);
            uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
            c->continue_sent = true;
        }
        data += used;
        len -= used;
        if (st == HTTP_PARSE_MORE)
            return;
        conn_handle(c);
        if (c->deferred) {
            /* Keep what follows for after the answer (on_read adds to it). */
            uv_timer_stop(&c->timer);
            buf_reset(&c->pending);
            buf_append(&c->pending, data, len);
            return;
        }
        http_parser_next(&c->parser);
        c->continue_sent = false;
        if (!c->closing)
            arm_timer(c);
    }
}

/* ------------------------------------------------------------------------ */
/* Deferred responses                                                       */

struct http_deferred *http_request_defer(struct http_request *req, http_cancel_fn on_cancel,
                                         void *arg)
{
    struct conn *c = req->conn;
    struct http_deferred *d = xcalloc(1, sizeof(*d));
    d->c = c;
    d->on_cancel = on_cancel;
    d->cancel_arg = arg;
    buf_init(&d->head, SIZE_MAX);
    c->deferred = d;
    return d;
}

uv_loop_t *http_request_loop(const struct http_request *req)
{
    return &((struct conn *)req->conn)->w->loop;
}

static void conn_write_copy(struct conn *c, const void *a, size_t alen, const void *b, size_t blen)
{
    struct write_req *w = xcalloc(1, sizeof(*w));
    w->head = xmalloc(alen + blen);
    memcpy(w->head, a, alen);
    if (blen)
        memcpy(w->head + alen, b, blen);
    uv_buf_t buf = uv_buf_init(w->head, (unsigned)(alen + blen));
    if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &buf, 1, on_write) != 0) {
        free(w->head);
        free(w);
        conn_close(c);
    }
}

/* The deferral is over: go on with pipelined bytes, then read again. */
static void deferred_finish(struct http_deferred *d, bool close)
{
    struct conn *c = d->c;
    buf_release(&d->head);
    free(d);
    if (!c)
        return;
    c->deferred = NULL;
    if (close || c->closing) {
        conn_close(c);
        return;
    }
    http_parser_next(&c->parser);
    c->continue_sent = false;
    size_t n;
    char *rest = buf_detach(&c->pending, &n);
    conn_feed(c, rest, n);
    free(rest);
    if (c->closing || c->deferred)
        return;
    if (c->peer_eof) {
        conn_close(c); /* everything the client sent has been answered */
        return;
    }
    arm_timer(c);
    if (c->reading_stopped) {
        c->reading_stopped = false;
        if (!c->read_paused && uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0)
            conn_close(c);
    }
}

void http_deferred_respond(struct http_deferred *d, struct http_response *res)
{
    struct conn *c = d->c;
    if (d->head_sent && d->head.len) {
        /* The head was held, not written: this answer can still replace it. */
        buf_release(&d->head);
        d->head_sent = false;
    }
    if (!c || d->head_sent) {
        buf_release(&res->headers);
        buf_release(&res->body);
        deferred_finish(d, c != NULL);
        return;
    }
    bool close = !d->keep_alive || res->close;
    conn_send(c, res, d->keep_alive, d->http10);
    deferred_finish(d, close);
}

void http_deferred_head(struct http_deferred *d, int status, struct str headers,
                        long long content_length)
{
    struct conn *c = d->c;
    if (!c || d->head_sent)
        return;
    d->head_sent = true;
    struct buf head;
    buf_init(&head, SIZE_MAX);
    buf_printf(&head, "HTTP/1.1 %d %s\r\n", status, http_status_text(status));
    buf_append(&head, headers.ptr, headers.len);
    if (content_length >= 0) {
        buf_printf(&head, "Content-Length: %lld\r\n", content_length);
    } else if (!d->http10) {
        d->chunked = true;
        buf_puts(&head, "Transfer-Encoding: chunked\r\n");
    } else {
        d->close_end = true;
        d->keep_alive = false;
    }
    if (!d->keep_alive)
        buf_puts(&head, "Connection: close\r\n");
    else if (d->http10)
        buf_puts(&head, "Connection: keep-alive\r\n");
    buf_puts(&head, "\r\n");
    d->head = head; /* goes out with the first body bytes, in one write */
}

/* Write the held head (if any) followed by 'data'. */
static void deferred_write(struct http_deferred *d, const void *data, size_t len)
{
    conn_write_copy(d->c, d->head.ptr, d->head.len, data, len);
    buf_release(&d->head);
}

void http_deferred_body(struct http_deferred *d, const void *data, size_t len)
{
    struct conn *c = d->c;
    if (!c || !d->head_sent || len == 0 || c->closing)
        return;
    if (d->chunked) {
        char size[24];
        int n = snprintf(size, sizeof(size), "%zx\r\n", len);
        struct buf b;
        buf_init(&b, SIZE_MAX);
        buf_append(&b, size, (size_t)n);
        buf_append(&b, data, len);
        buf_puts(&b, "\r\n");
        deferred_write(d, b.ptr, b.len);
        buf_release(&b);
    } else {
        deferred_write(d, data, len);
    }
}

bool http_deferred_congested(struct http_deferred *d, void (*on_drain)(void *arg), void *arg)
{
    struct conn *c = d->c;
    if (!c || c->closing || c->tcp.write_queue_size < HTTP_DEFERRED_HIGH_BYTES)
        return false;
    d->on_drain = on_drain;
    d->drain_arg = arg;
    return true;
}

void http_deferred_end(struct http_deferred *d, bool abort)
{
    struct conn *c = d->c;
    if (c && !abort && !c->closing && d->head_sent && (d->head.len || d->chunked))
        deferred_write(d, "0\r\n\r\n", d->chunked ? 5 : 0);
    deferred_finish(d, abort || !d->keep_alive || d->close_end);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    struct conn *c = h->data;
    (void)suggested;
    if (!c->readbuf)
        c->readbuf = xmalloc(READ_CHUNK_BYTES);
    *b = uv_buf_init(c->readbuf, READ_CHUNK_BYTES);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    struct conn *c = s->data;
    (void)b;
    if (c->deferred) {
        /* Answering a request: hold what arrives until the answer is out. */
        if (n == UV_EOF) {
            c->peer_eof = c->reading_stopped = true;
            uv_read_stop(s);
        } else if (n < 0) {
            conn_close(c);
        } else if (n > 0) {
            buf_append(&c->pending, c->readbuf, (size_t)n);
            if (c->pending.len >= PENDING_HIGH_BYTES) {
                c->reading_stopped = true;
                uv_read_stop(s);
            }
        }
        return;
    }
    if (n < 0) {
        if (n == UV_EOF && c->parser.in_message && !c->closing)
            log_debug("http", "client closed the connection mid-request");
        conn_close(c);
        return;
    }
    if (n == 0)
        return;
    if (!c->parser.in_message)
        arm_timer(c); /* the timeout runs from the first byte of a request */
    conn_feed(c, c->readbuf, (size_t)n);
}

static void conn_start(struct worker *w, int fd)
{
    struct conn *c = xcalloc(1, sizeof(*c));
    c->w = w;
    http_parser_init(&c->parser, w->srv->cfg.max_body_bytes);
    buf_init(&c->pending, PENDING_HIGH_BYTES + READ_CHUNK_BYTES);
    uv_tcp_init(&w->loop, &c->tcp);
    uv_timer_init(&w->loop, &c->timer);
    c->tcp.data = c;
    c->timer.data = c;
    c->handles_open = 2;
    c->next = w->conns;
    if (w->conns)
        w->conns->prev = c;
    w->conns = c;
    if (uv_tcp_open(&c->tcp, fd) != 0) {
        close(fd);
        conn_close(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    struct sockaddr_storage sa;
    int salen = sizeof(sa);
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&sa, &salen) == 0) {
        if (sa.ss_family == AF_INET6)
            uv_ip6_name((struct sockaddr_in6 *)&sa, c->peer, sizeof(c->peer));
        else
            uv_ip4_name((struct sockaddr_in *)&sa, c->peer, sizeof(c->peer));
    }
    arm_timer(c);
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0)
        conn_close(c);
}

/* ------------------------------------------------------------------------ */
/* Workers                                                                  */

static void close_lingering(uv_handle_t *h, void *arg)
{
    (void)arg;
    if ((h->type == UV_TCP || h->type == UV_TIMER) && !uv_is_closing(h))
        uv_close(h, on_handle_closed);
}

static void on_wake(uv_async_t *a)
{
    struct worker *w = a->data;
    pthread_mutex_lock(&w->lock);
    int *fds = w->pending;
    size_t n = w->npending;
    bool stopping = w->stopping;
    w->pending = NULL;
    w->npending = w->cap_pending = 0;
    pthread_mutex_unlock(&w->lock);
    for (size_t i = 0; i < n; i++) {
        if (stopping)
            close(fds[i]);
        else
            conn_start(w, fds[i]);
    }
    free(fds);
    if (stopping) {
        w->closing_all = true;
        if (w->srv->cfg.worker_stop)
            w->srv->cfg.worker_stop(w->index, w->srv->cfg.ud);
        while (w->conns)
            conn_close(w->conns);
        /* Connections already shutting down may wait on a client that does
         * not read: close those too. */
        uv_walk(&w->loop, close_lingering, NULL);
        uv_close((uv_handle_t *)&w->wake, NULL);
    }
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    uv_run(&w->loop, UV_RUN_DEFAULT);
    return NULL;
}

static void worker_push(struct worker *w, int fd)
{
    pthread_mutex_lock(&w->lock);
    if (w->npending == w->cap_pending) {
        w->cap_pending = w->cap_pending ? 2 * w->cap_pending : 16;
        w->pending = xrealloc(w->pending, w->cap_pending * sizeof(int));
    }
    w->pending[w->npending++] = fd;
    pthread_mutex_unlock(&w->lock);
    uv_async_send(&w->wake);
}

static void on_listen_readable(uv_poll_t *p, int status, int events)
{
    struct http_server *s = p->data;
    (void)events;
    if (status < 0)
        return;
    for (int i = 0; i < 64; i++) {
        int fd = accept4(s->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                log_warn("http", "accept failed: %s", strerror(errno));
            return;
        }
        worker_push(&s->workers[s->next_worker++ % s->cfg.num_threads], fd);
    }
}

int http_server_start(uv_loop_t *loop, const struct http_server_config *cfg,
                      struct http_server **out, struct err *err)
{
    struct sockaddr_storage ss;
    socklen_t slen;
    struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
    memset(&ss, 0, sizeof(ss));
    if (inet_pton(AF_INET, cfg->host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)cfg->port);
        slen = sizeof(*a4);
    } else if (inet_pton(AF_INET6, cfg->host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)cfg->port);
        slen = sizeof(*a6);
    } else {
        return err_set(err, ERR_INVALID, "invalid listen address '%s': expected an IP address",
                       cfg->host);
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return err_set(err, ERR_SYS(errno), "cannot create socket: %s", strerror(errno));
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&ss, slen) != 0 || listen(fd, 1024) != 0) {
        int e = errno;
        close(fd);
        return err_set(err, ERR_SYS(e), "cannot listen on %s:%d: %s", cfg->host, cfg->port,
                       strerror(e));
    }
    slen = sizeof(ss);
    getsockname(fd, (struct sockaddr *)&ss, &slen);

    struct http_server *s = xcalloc(1, sizeof(*s));
    s->cfg = *cfg;
    if (s->cfg.num_threads == 0)
        s->cfg.num_threads = 1;
    s->loop = loop;
    s->fd = fd;
    s->port = ntohs(ss.ss_family == AF_INET ? a4->sin_port : a6->sin6_port);
    s->workers = xcalloc(s->cfg.num_threads, sizeof(*s->workers));
    for (unsigned i = 0; i < s->cfg.num_threads; i++) {
        struct worker *w = &s->workers[i];
        w->srv = s;
        w->index = i;
        pthread_mutex_init(&w->lock, NULL);
        uv_loop_init(&w->loop);
        uv_async_init(&w->loop, &w->wake, on_wake);
        w->wake.data = w;
        if (pthread_create(&w->thread, NULL, worker_main, w) != 0)
            abort(); /* only fails on resource exhaustion at start-up */
    }
    uv_poll_init(loop, &s->poll, fd);
    s->poll.data = s;
    uv_poll_start(&s->poll, UV_READABLE, on_listen_readable);
    *out = s;
    return 0;
}

unsigned http_usable_cpus(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
        return (unsigned)CPU_COUNT(&set);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (unsigned)n : 1;
}

int http_server_port(const struct http_server *s)
{
    return s->port;
}

static void on_poll_closed(uv_handle_t *h)
{
    struct http_server *s = h->data;
    close(s->fd);
    free(s->workers);
    free(s);
}

void http_server_stop(struct http_server *s)
{
    if (!s)
        return;
    uv_poll_stop(&s->poll);
    for (unsigned i = 0; i < s->cfg.num_threads; i++) {
        struct worker *w = &s->workers[i];
        pthread_mutex_lock(&w->lock);
        w->stopping = true;
        pthread_mutex_unlock(&w->lock);
        uv_async_send(&w->wake);
    }
    for (unsigned i = 0; i < s->cfg.num_threads; i++) {
        struct worker *w = &s->workers[i];
        pthread_join(w->thread, NULL);
        uv_loop_close(&w->loop);
        pthread_mutex_destroy(&w->lock);
    }
    uv_close((uv_handle_t *)&s->poll, on_poll_closed);
}
