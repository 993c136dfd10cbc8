/* server.c - the HTTP/1.1 server.
 *
 * The caller's loop owns the listening socket and accepts with accept4() when
 * it is readable; each accepted fd is handed round-robin to a worker through a
 * locked queue and a uv_async. A worker adopts the fd with uv_tcp_open() and
 * feeds what it reads to its http_parser, which stops after each request, so
 * a whole request is handled before the next pipelined one is parsed. */
#include "http/server.h"
#include "http/parser.h"
#include "http/tls.h"
#include "base/alloc.h"
#include "base/log.h"

#include <arpa/inet.h>
#include <errno.h>
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
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define READ_CHUNK_BYTES HTTP_BODY_PIECE_BYTES
/* A client that pipelines requests without reading the answers is not read
 * from while this much response data waits to be sent. */
#define WRITE_BACKLOG_LIMIT_BYTES (64 * 1024)
/* While a response is deferred the connection keeps reading pipelined bytes
 * into 'pending' up to this much, then waits; reads are sized to fit. (The
 * rest of the read that held the deferred request, at most one read, is
 * kept too.) Pipelining behind a slow answer gains little: keep it small. */
#define PENDING_HIGH_BYTES (16 * 1024)
/* After accept() fails for want of descriptors, the listener rests this long. */
#define ACCEPT_PAUSE_MS 100
/* Warnings that a flood could repeat are logged at most once per this. */
#define LOG_INTERVAL_MS 1000

struct worker;

struct conn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    struct http_parser parser;
    struct worker *w;
    struct conn *prev, *next; /* the worker's list, until the handles have closed */
    struct conn *kick_next;   /* the worker's list of connections to pump */
    int handles_open;         /* tcp and timer; freed when both have closed */
    bool closing;
    bool reading;                   /* uv_read_start is in force */
    bool backlogged;                /* too much response data waits to be written */
    bool continue_sent;             /* "100 Continue" answered for the current request */
    bool kicked;                    /* on the worker's kick list */
    bool streaming;                 /* the handler has run; the body is still coming */
    bool discard;                   /* ... and nobody wants it: drop it */
    bool pumping;                   /* inside conn_pump() */
    bool answer_done;               /* the deferral ended while pumping */
    bool head_request;              /* the current request is HEAD: answers carry no body */
    char peer[48];                  /* the client's address */
    struct http_deferred *deferred; /* the request being answered later */
    struct buf pending;             /* bytes read behind it, parsed once it is done */
    bool peer_eof;                  /* the client will send nothing more */
    struct http_access *acc;        /* with cfg.access_log: the request being answered */
    struct http_tls_conn *tls;      /* NULL: plain HTTP */
    bool tls_stalled;               /* plaintext waits in the session: reading stopped */
    bool pump_due;                  /* on the kick list for conn_pump() */
    bool fresh;                     /* accepted, nothing read yet: its request is coming */
};

struct http_deferred {
    struct conn *c; /* NULL once cancelled */
    struct http_server *srv;
    http_cancel_fn on_cancel;
    void *cancel_arg;
    bool keep_alive, http10;
    bool no_body;   /* a HEAD request, or a status without content */
    bool chunked;   /* the streamed body is chunk-encoded */
    bool close_end; /* the body ends with the connection (HTTP/1.0, unknown length) */
    bool head_sent;
    struct buf head; /* the status line and headers, sent with the first body bytes */
    void (*on_drain)(void *arg);
    void *drain_arg;
    http_body_data_fn on_data; /* set by http_deferred_read_body() */
    http_body_end_fn on_end;
    void *body_arg;
    bool body_paused;
    bool end_pending;   /* on_end is due for a request without a body to stream */
    bool share_refused; /* no share of the body budget was left: answer 503 */
    size_t share;       /* bytes of the body budget this request holds */
};

struct worker {
    struct http_server *srv;
    unsigned index;
    uv_loop_t loop;
    uv_async_t wake;
    uv_idle_t kick;   /* runs conn_pump() for the connections on 'kicks' */
    uv_timer_t drain; /* bounds the drain */
    pthread_t thread;
    pthread_mutex_t lock;
    int *pending; /* accepted fds waiting for this worker */
    size_t npending, cap_pending;
    bool stopping;    /* set by the stopping thread, under 'lock' */
    bool draining;    /* the worker's own copy, once it has seen 'stopping' */
    bool closing_all; /* the drain is over: close without waiting */
    bool finished;    /* worker_stop has run */
    struct conn *conns;
    struct conn *kicks;
    char *readbuf; /* every read lands here and is consumed or copied at once */
    uint64_t next_id;
};

struct http_server {
    struct http_server_config cfg;
    uv_loop_t *loop;
    uv_poll_t poll;
    uv_timer_t accept_timer; /* restarts accepting after ACCEPT_PAUSE_MS */
    int handles_open;        /* poll and accept_timer */
    int fd;
    int reserve_fd; /* /dev/null, given up to accept-and-close when out of descriptors */
    int port;
    bool shut_down, stopped;
    struct worker *workers;
    unsigned next_worker;
    atomic_size_t nconns;     /* accepted and not yet freed */
    atomic_size_t body_bytes; /* buffered request bodies, all connections */
    uint64_t accept_log_ms;   /* last accept-failure warning */
    unsigned long accept_failures;
    atomic_uint_fast64_t busy_log_ms; /* last "busy" warning */
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

/* Once per LOG_INTERVAL_MS across threads: whether to log now. */
static bool log_due(atomic_uint_fast64_t *last_ms)
{
    uint64_t now = uv_hrtime() / 1000000, last = atomic_load(last_ms);
    return now - last >= LOG_INTERVAL_MS && atomic_compare_exchange_strong(last_ms, &last, now);
}

/* An error the server answers itself, in the surface's format. */
static void format_error(const struct http_server *srv, struct http_response *res, int status,
                         const char *msg)
{
    if (srv->cfg.error_format) {
        res->status = status;
        srv->cfg.error_format(res, status, msg, srv->cfg.ud);
    } else {
        http_response_error(res, status, "%s", msg);
    }
}

int http_put_uint(struct buf *b, unsigned long long v)
{
    char d[24], *p = d + sizeof(d);
    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return buf_append(b, p, (size_t)(d + sizeof(d) - p));
}

/* "HTTP/1.1 200 OK\r\n", without printf (which buf_printf runs twice). */
static void put_status_line(struct buf *head, int status)
{
    buf_puts(head, "HTTP/1.1 ");
    if (status >= 0)
        http_put_uint(head, (unsigned long long)status);
    else
        buf_printf(head, "%d", status);
    buf_putc(head, ' ');
    buf_puts(head, http_status_text(status));
    buf_puts(head, "\r\n");
}

/* The status line and headers of 'res'; with 'keep_alive' false, Connection: close. */
static void format_head(struct buf *head, const struct http_response *res, bool keep_alive,
                        bool http10)
{
    buf_reserve(head, 160 + res->headers.len);
    put_status_line(head, res->status);
    buf_puts(head, "Content-Type: ");
    buf_puts(head, res->content_type ? res->content_type : "application/json");
    buf_puts(head, "\r\nContent-Length: ");
    http_put_uint(head, res->body.len);
    buf_puts(head, "\r\n");
    if (!keep_alive || res->close)
        buf_puts(head, "Connection: close\r\n");
    else if (http10)
        buf_puts(head, "Connection: keep-alive\r\n");
    buf_append(head, res->headers.ptr, res->headers.len);
    buf_puts(head, "\r\n");
}

/* A write libuv still holds: what the socket did not take at once. The
 * blocks are freed when it ends. */
struct write_req {
    uv_write_t req;
    char *head, *body;
};

static void conn_close(struct conn *c);
static bool body_budget(void *arg, long long delta);
static void conn_update_reading(struct conn *c);
static void conn_resume(struct conn *c);
static void conn_pump(struct conn *c);
static void kick_queue(struct conn *c);
static void conn_tls_deliver(struct conn *c);
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b);
static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b);
static void conn_tls_write(struct conn *c, const uv_buf_t *bufs, unsigned nbufs);
static void conn_tls_flush(struct conn *c);

static void on_write(uv_write_t *wr, int status)
{
    struct write_req *w = (struct write_req *)wr;
    struct conn *c = wr->handle->data;
    free(w->head);
    free(w->body);
    free(w);
    struct http_deferred *d = c->deferred;
    if (status < 0 && d && !c->closing) {
        /* The client is gone. A read may not say so: once the write has
         * taken the socket's error, a read sees a plain EOF, which a
         * deferred answer takes for a half-close and goes on (waiting, if
         * it was congested, for an on_drain that never comes). */
        conn_close(c);
        return;
    }
    if (status == 0 && d && d->on_drain && c->tcp.write_queue_size < HTTP_DEFERRED_HIGH_BYTES / 2) {
        void (*cb)(void *) = d->on_drain;
        d->on_drain = NULL;
        cb(d->drain_arg); /* may end the deferral: 'd' is not used after this */
        if (c->closing)
            return;
    }
    /* A failed write shows up as a read error too, which closes the connection. */
    if (status == 0 && c->backlogged && !c->closing &&
        c->tcp.write_queue_size < WRITE_BACKLOG_LIMIT_BYTES / 2) {
        c->backlogged = false;
        conn_update_reading(c);
    }
}

/* Write before waiting: hand the socket what it takes now, and leave in
 * 'bufs' (moved to the front, '*nbufs' of them) what it did not. An answer
 * that fits the socket buffer then needs no write request, so libuv never
 * re-arms the descriptor in epoll after it (an epoll_ctl per answer). libuv
 * refuses with EAGAIN while earlier writes are queued, so bytes never
 * overtake each other; an error leaves everything for uv_write, which
 * reports it as it always has. */
static void conn_try_write(struct conn *c, uv_buf_t *bufs, unsigned *nbufs)
{
    if (c->tls) { /* encrypted and queued whole: nothing is left to the caller */
        conn_tls_write(c, bufs, *nbufs);
        *nbufs = 0;
        return;
    }
    size_t total = 0;
    for (unsigned i = 0; i < *nbufs; i++)
        total += bufs[i].len;
    int rc = total ? uv_try_write((uv_stream_t *)&c->tcp, bufs, *nbufs) : 0;
    if (rc < 0)
        return;
    size_t n = (size_t)rc;
    unsigned i = 0;
    while (i < *nbufs && n >= bufs[i].len)
        n -= bufs[i++].len;
    if (i < *nbufs) {
        bufs[i].base += n;
        bufs[i].len -= n;
    }
    memmove(bufs, bufs + i, (*nbufs - i) * sizeof(*bufs));
    *nbufs -= i;
}

/* Send 'bufs' in order; what the socket does not take at once is copied
 * and queued. On failure the connection closes and -1 is returned. */
static int conn_write_copy(struct conn *c, uv_buf_t *bufs, unsigned nbufs)
{
    conn_try_write(c, bufs, &nbufs);
    if (nbufs == 0)
        return 0;
    size_t total = 0;
    for (unsigned i = 0; i < nbufs; i++)
        total += bufs[i].len;
    struct write_req *w = xcalloc(1, sizeof(*w));
    w->head = xmalloc(total);
    char *o = w->head;
    for (unsigned i = 0; i < nbufs; i++) {
        memcpy(o, bufs[i].base, bufs[i].len);
        o += bufs[i].len;
    }
    uv_buf_t b = uv_buf_init(w->head, (unsigned)total);
    if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_write) != 0) {
        free(w->head);
        free(w);
        conn_close(c);
        return -1;
    }
    return 0;
}

/* Whether the connection would close after answering the current request. */
static bool conn_keep_alive(struct conn *c)
{
    return http_parser_keep_alive(&c->parser) && !c->w->draining;
}

/* ------------------------------------------------------------------------ */
/* Access log                                                               */

static void copy_field(char *dst, size_t size, struct str v)
{
    size_t n = v.len < size - 1 ? v.len : size - 1;
    memcpy(dst, v.ptr, n);
    dst[n] = '\0';
}

/* The head is complete: note what the line will say of the request. */
static void access_begin(struct conn *c, const struct http_request *req)
{
    if (!c->acc)
        c->acc = xcalloc(1, sizeof(*c->acc));
    struct http_access *a = c->acc;
    a->start_ns = http_access_now_ns();
    a->start = time(NULL);
    a->id = req->id;
    a->status = 0;
    a->bytes = 0;
    copy_field(a->method, sizeof(a->method), req->method);
    copy_field(a->target, sizeof(a->target), req->path);
    if (req->query.len && strlen(a->target) + 1 < sizeof(a->target)) {
        size_t n = strlen(a->target);
        a->target[n] = '?';
        copy_field(a->target + n + 1, sizeof(a->target) - n - 1, req->query);
    }
    strcpy(a->proto, http_parser_is_http10(&c->parser) ? "HTTP/1.0" : "HTTP/1.1");
    copy_field(a->referer, sizeof(a->referer), http_request_header(req, "referer"));
    copy_field(a->agent, sizeof(a->agent), http_request_header(req, "user-agent"));
}

/* The answer is out (or cut, with 'status' 499 as nginx logs a client that
 * went away): write the line. An error the server answers before any
 * request was whole is logged with "-" for the request. */
static void access_end(struct conn *c, int status)
{
    const struct http_access_log *log = c->w->srv->cfg.access_log;
    if (!log)
        return;
    if (!c->acc)
        c->acc = xcalloc(1, sizeof(*c->acc));
    struct http_access *a = c->acc;
    if (!a->start_ns) {
        if (!status)
            return;
        a->start_ns = http_access_now_ns();
        a->start = time(NULL);
        a->bytes = 0;
        strcpy(a->method, "-");
        a->target[0] = a->referer[0] = a->agent[0] = '\0';
        strcpy(a->proto, "-");
    }
    if (status)
        a->status = status;
    http_access_write(log, a, c->peer);
    a->start_ns = 0;
}

/* Send 'res' on the connection; takes its buffers. A HEAD answer keeps
 * the Content-Length and drops the body. What the socket takes at once
 * goes from the response's own buffers; the write request that sends the
 * rest takes them over, so nothing is copied. */
static void conn_send(struct conn *c, struct http_response *res, bool keep_alive, bool http10)
{
    struct buf head;
    buf_init(&head, SIZE_MAX);
    format_head(&head, res, keep_alive, http10);
    buf_release(&res->headers);
    size_t blen = c->head_request ? 0 : res->body.len;
    uv_buf_t bufs[2] = {uv_buf_init(head.ptr, (unsigned)head.len),
                        uv_buf_init(res->body.ptr, (unsigned)blen)};
    unsigned nbufs = blen ? 2 : 1;
    if (c->w->srv->cfg.access_log) {
        if (c->acc)
            c->acc->bytes += blen;
        access_end(c, res->status);
    }
    conn_try_write(c, bufs, &nbufs);
    if (nbufs == 0) {
        buf_release(&head);
        buf_release(&res->body);
    } else {
        /* 'bufs' point into these blocks, which the detach leaves in place. */
        struct write_req *w = xcalloc(1, sizeof(*w));
        w->head = buf_detach(&head, NULL);
        w->body = buf_detach(&res->body, NULL);
        if (uv_write(&w->req, (uv_stream_t *)&c->tcp, bufs, nbufs, on_write) != 0) {
            free(w->head);
            free(w->body);
            free(w);
            conn_close(c);
            return;
        }
    }
    if (!keep_alive || res->close) {
        conn_close(c); /* uv_shutdown in conn_close lets the write go out first */
    } else if (c->tcp.write_queue_size >= WRITE_BACKLOG_LIMIT_BYTES && !c->backlogged) {
        c->backlogged = true;
        conn_update_reading(c);
    }
}

static void send_error_and_close(struct conn *c, int status, const char *msg)
{
    struct http_response res = {0};
    c->head_request = false; /* the error is about bytes, not a handled HEAD */
    buf_init(&res.headers, SIZE_MAX);
    buf_init(&res.body, SIZE_MAX);
    format_error(c->w->srv, &res, status, msg);
    res.close = true;
    conn_send(c, &res, false, false);
}

/* ------------------------------------------------------------------------ */
/* Connection lifecycle                                                     */

static void worker_maybe_finish(struct worker *w);

static void on_handle_closed(uv_handle_t *h)
{
    struct conn *c = h->data;
    if (--c->handles_open > 0)
        return;
    struct worker *w = c->w;
    if (c->prev)
        c->prev->next = c->next;
    else
        w->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    http_parser_release(&c->parser);
    buf_release(&c->pending);
    free(c->acc);
    http_tls_conn_free(c->tls);
    free(c);
    atomic_fetch_sub(&w->srv->nconns, 1);
    worker_maybe_finish(w);
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

static void unkick(struct conn *c)
{
    if (!c->kicked)
        return;
    for (struct conn **p = &c->w->kicks; *p; p = &(*p)->kick_next)
        if (*p == c) {
            *p = c->kick_next;
            break;
        }
    c->kicked = false;
}

/* The deferral is gone: its share of the body budget goes back. */
static void deferred_free(struct http_deferred *d)
{
    if (d->share)
        body_budget(d->srv, -(long long)d->share);
    buf_release(&d->head);
    free(d);
}

/* Close after every queued write has gone out: uv_shutdown waits for them,
 * except when the server stops, which does not wait for slow readers. */
static void conn_close(struct conn *c)
{
    if (c->closing)
        return;
    c->closing = true;
    unkick(c);
    if (c->deferred) {
        struct http_deferred *d = c->deferred;
        c->deferred = NULL;
        d->c = NULL;
        if (d->on_cancel)
            d->on_cancel(d->cancel_arg);
        if (c->acc && c->acc->start_ns)
            access_end(c, d->head_sent ? 0 : 499);
        deferred_free(d);
    }
    uv_read_stop((uv_stream_t *)&c->tcp);
    c->reading = false;
    uv_timer_stop(&c->timer);
    if (c->w->closing_all) {
        conn_close_now(c);
        return;
    }
    if (c->tls) {
        http_tls_conn_close_notify(c->tls);
        conn_tls_flush(c);
    }
    uv_shutdown_t *sd = xcalloc(1, sizeof(*sd));
    sd->data = c;
    if (uv_shutdown(sd, (uv_stream_t *)&c->tcp, on_shutdown) != 0) {
        free(sd);
        conn_close_now(c);
    }
}

/* Whether bytes from the client are wanted now. */
static bool conn_wants_read(const struct conn *c)
{
    if (c->closing || c->peer_eof || c->backlogged)
        return false;
    if (c->streaming && c->deferred) /* the handler reads the body */
        return c->deferred->on_data && !c->deferred->body_paused && !c->deferred->share_refused &&
               c->pending.len == 0;
    if (c->deferred) /* answering: hold what follows, up to a point */
        return c->pending.len < PENDING_HIGH_BYTES;
    return true;
}

/* Reading stops lazily: uv_read_stop and the uv_read_start that follows
 * cost an epoll_ctl each (libuv drops the descriptor from epoll and adds it
 * again), and most pauses end before the loop polls again (a deferred
 * request's body is handed over from 'pending' on the next turn of the
 * loop, its answer comes from the same worker). So while bytes are not
 * wanted the watch stays; if the client does send some, on_alloc offers
 * them no room, nothing is read, and on_read stops reading for real. */
static void conn_update_reading(struct conn *c)
{
    if (!c->reading && conn_wants_read(c)) {
        if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0) {
            conn_close(c);
            return;
        }
        c->reading = true;
    }
    if (c->tls_stalled && conn_wants_read(c))
        kick_queue(c); /* the socket may have nothing more to say: on_kick hands it on */
}

static void on_timeout(uv_timer_t *t)
{
    struct conn *c = t->data;
    struct http_deferred *d = c->deferred;
    if (c->parser.in_message && !(d && d->head_sent)) {
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
    if (ms && !c->closing)
        uv_timer_start(&c->timer, on_timeout, ms, 0);
}

/* Run conn_pump() from the worker's loop, not from the caller's stack (and
 * hand on the plaintext a TLS session holds). */
static void on_kick(uv_idle_t *h)
{
    struct worker *w = h->data;
    uv_idle_stop(h);
    while (w->kicks) {
        struct conn *c = w->kicks;
        w->kicks = c->kick_next;
        c->kicked = false;
        bool pump = c->pump_due;
        c->pump_due = false;
        if (pump)
            conn_pump(c);
        if (c->tls_stalled && !c->closing)
            conn_tls_deliver(c);
    }
}

static void kick_queue(struct conn *c)
{
    if (c->kicked || c->closing)
        return;
    c->kicked = true;
    c->kick_next = c->w->kicks;
    c->w->kicks = c;
    uv_idle_start(&c->w->kick, on_kick);
}

static void kick(struct conn *c)
{
    c->pump_due = true;
    kick_queue(c);
}

/* ------------------------------------------------------------------------ */
/* Requests                                                                 */

static void release_large(struct buf *b)
{
    if (b->cap > 8 * 1024)
        buf_release(b);
}

static void conn_handle(struct conn *c, bool body_follows)
{
    struct http_server *srv = c->w->srv;
    struct arena arena;
    arena_init(&arena, 16 * 1024);
    struct http_request req = {0};
    http_parser_request(&c->parser, &req);
    req.id = atomic_fetch_add(&request_ids, 1);
    req.peer = c->peer;
    req.worker = c->w->index;
    req.tls = c->tls != NULL;
    req.arena = &arena;
    req.conn = c;
    req.body_follows = body_follows;
    req.body_length = -1;
    if (body_follows && (c->parser.ll.flags & F_CONTENT_LENGTH))
        req.body_length = (long long)c->parser.ll.content_length;
    c->head_request = str_eq_cstr(req.method, "HEAD");
    if (srv->cfg.access_log)
        access_begin(c, &req);
    if (c->head_request && srv->cfg.head_as_get)
        req.method = STR_LIT("GET"); /* the same answer, without its body */

    struct http_response res = {.status = 200, .content_type = "application/json"};
    buf_init(&res.headers, SIZE_MAX);
    buf_init(&res.body, SIZE_MAX);
    srv->cfg.handler(&req, &res, srv->cfg.ud);
    arena_release(&arena);
    http_parser_drop_body(&c->parser);
    if (c->deferred && !body_follows) {
        /* The handler has what it needs of the head: a large one is not
         * kept for the whole of a slow answer. */
        release_large(&c->parser.url);
        release_large(&c->parser.hdr);
    }
    if (c->deferred) {
        struct http_deferred *d = c->deferred;
        d->keep_alive = http_parser_keep_alive(&c->parser);
        d->http10 = http_parser_is_http10(&c->parser);
        d->no_body = c->head_request;
        buf_release(&res.headers);
        buf_release(&res.body);
        return;
    }
    bool keep_alive = conn_keep_alive(c);
    /* A client that waits for "100 Continue" before its body gets none:
     * there is no telling whether the body comes, so close. */
    if (body_follows && c->parser.expect_continue && !c->continue_sent)
        keep_alive = false;
    conn_send(c, &res, keep_alive, http_parser_is_http10(&c->parser));
}

/* The body of a request could not be read (malformed, too large, too slow). */
static void conn_body_failed(struct conn *c, int status, const char *msg)
{
    struct http_deferred *d = c->deferred;
    if (d && d->head_sent)
        conn_close(c); /* part of an answer is out: cut it */
    else
        send_error_and_close(c, status, msg);
}

static void send_continue(struct conn *c)
{
    /* curl and others wait for this before sending a large body. */
    static char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
    uv_buf_t b = uv_buf_init(cont, sizeof(cont) - 1);
    c->continue_sent = true;
    conn_write_copy(c, &b, 1);
}

/* Parse what the client sent, handling each request in turn; stops at a
 * deferral (the rest goes to 'pending') and drops the bodies of requests
 * answered before their bodies came. */
static void conn_feed(struct conn *c, const char *data, size_t len)
{
    bool stream = c->w->srv->cfg.stream_bodies;
    if (!data)
        data = "";
    while ((len > 0 || c->streaming) && !c->closing) {
        size_t used;
        enum http_parse_status st = http_parser_feed(&c->parser, data, len, &used);
        if (st == HTTP_PARSE_ERROR) {
            if (c->streaming)
                conn_body_failed(c, c->parser.error_status, c->parser.error_msg);
            else
                send_error_and_close(c, c->parser.error_status, c->parser.error_msg);
            return;
        }
        if (!stream && c->parser.expect_continue && !c->continue_sent) {
            send_continue(c);
            if (c->closing)
                return;
        }
        data += used;
        len -= used;
        if (st == HTTP_PARSE_MORE)
            return;
        if (st == HTTP_PARSE_BODY) { /* answered already: drop it */
            http_parser_resume(&c->parser);
            continue;
        }
        if (st == HTTP_PARSE_HEAD) {
            http_parser_resume(&c->parser);
            c->streaming = true;
            conn_handle(c, true);
            if (c->closing)
                return;
            if (c->deferred) {
                uv_timer_stop(&c->timer); /* until the handler reads the body */
                buf_reset(&c->pending);
                buf_append(&c->pending, data, len);
                conn_update_reading(c);
                return;
            }
            c->discard = true;
            continue;
        }
        /* HTTP_PARSE_REQUEST */
        if (c->streaming) { /* the end of a dropped body */
            c->streaming = c->discard = false;
        } else {
            conn_handle(c, false);
            if (c->deferred) {
                /* Keep what follows for after the answer (on_read adds to it). */
                uv_timer_stop(&c->timer);
                buf_reset(&c->pending);
                buf_append(&c->pending, data, len);
                conn_update_reading(c);
                return;
            }
        }
        http_parser_next(&c->parser);
        c->continue_sent = false;
        if (!c->closing)
            arm_timer(c);
    }
}

/* Remove the first 'n' bytes of 'pending'. */
static void pending_consume(struct conn *c, size_t n)
{
    struct buf *b = &c->pending;
    memmove(b->ptr, b->ptr + n, b->len - n);
    b->len -= n;
    if (b->cap)
        b->ptr[b->len] = '\0';
}

/* Hand the body of a deferred request from 'pending' to its reader. */
static void conn_pump(struct conn *c)
{
    if (c->pumping || c->closing)
        return;
    struct http_deferred *first = c->deferred;
    if (first && first->share_refused) {
        /* Before any byte of the body was read: the client may try again. */
        conn_body_failed(c, 503, "too many request bodies are in flight; try again later");
        return;
    }
    c->pumping = true;
    if (first && first->end_pending) {
        first->end_pending = false;
        if (first->on_end)
            first->on_end(first->body_arg); /* may answer */
    }
    bool again = true;
    while (c->streaming && c->deferred && !c->closing) {
        struct http_deferred *d = c->deferred;
        if (!d->on_data || d->body_paused || (c->pending.len == 0 && !again))
            break;
        size_t used;
        enum http_parse_status st =
            http_parser_feed(&c->parser, c->pending.ptr, c->pending.len, &used);
        if (st == HTTP_PARSE_ERROR) {
            conn_body_failed(c, c->parser.error_status, c->parser.error_msg);
            break;
        }
        again = st == HTTP_PARSE_BODY; /* the request may end without another byte */
        if (st == HTTP_PARSE_BODY) {
            struct str piece = http_parser_piece(&c->parser);
            d->on_data(d->body_arg, piece.ptr, piece.len); /* may pause, answer, close */
            pending_consume(c, used);
            http_parser_resume(&c->parser);
            continue;
        }
        pending_consume(c, used);
        if (st == HTTP_PARSE_REQUEST) {
            c->streaming = false;
            uv_timer_stop(&c->timer); /* the body is in: the handler answers in its time */
            if (d->on_end)
                d->on_end(d->body_arg); /* may answer */
        }
    }
    c->pumping = false;
    if (c->closing)
        return;
    if (!c->deferred && (c->answer_done || c->streaming)) {
        c->answer_done = false;
        conn_resume(c);
        return;
    }
    conn_update_reading(c);
}

/* ------------------------------------------------------------------------ */
/* Deferred responses                                                       */

struct http_deferred *http_request_defer(struct http_request *req, http_cancel_fn on_cancel,
                                         void *arg)
{
    struct conn *c = req->conn;
    struct http_deferred *d = xcalloc(1, sizeof(*d));
    d->c = c;
    d->srv = c->w->srv;
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

/* The request is answered: go on with what the client sent behind it (the
 * rest of its body first, when that is still coming), then read again. */
static void conn_resume(struct conn *c)
{
    if (c->streaming) {
        c->discard = true;
        arm_timer(c);
    } else {
        http_parser_next(&c->parser);
        c->continue_sent = false;
    }
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
    if (!c->parser.in_message && !c->streaming)
        arm_timer(c);
    conn_update_reading(c);
}

/* The answer to a deferred request is out (or cut): go on. */
static void conn_answered(struct conn *c, bool close)
{
    if (close || c->closing || c->w->draining) {
        conn_close(c);
        return;
    }
    if (c->pumping) {
        c->answer_done = true; /* conn_pump() goes on when it unwinds */
        return;
    }
    conn_resume(c);
}

/* The deferral is over. */
static void deferred_finish(struct http_deferred *d, bool close)
{
    struct conn *c = d->c;
    if (c && c->acc && c->acc->start_ns)
        access_end(c, 0);
    deferred_free(d);
    if (!c)
        return;
    c->deferred = NULL;
    conn_answered(c, close);
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
    bool close = !d->keep_alive || res->close || c->w->draining;
    /* A body not read whole: the client may still be sending it, or waiting
     * for "100 Continue" to send it; closing is the only sure end. */
    if (c->streaming && c->parser.expect_continue && !c->continue_sent)
        close = true;
    /* Detach first: a closing conn_send() must not cancel what it answers. */
    c->deferred = NULL;
    d->c = NULL;
    bool http10 = d->http10;
    deferred_finish(d, false);
    conn_send(c, res, !close, http10);
    conn_answered(c, close);
}

void http_deferred_head(struct http_deferred *d, int status, struct str headers,
                        long long content_length)
{
    struct conn *c = d->c;
    if (!c || d->head_sent)
        return;
    d->head_sent = true;
    if (c->acc)
        c->acc->status = status;
    /* RFC 9110 6.4.1: no content in these, whatever the upstream framed. */
    if (status < 200 || status == 204 || status == 304)
        d->no_body = true;
    if (c->w->draining)
        d->keep_alive = false;
    struct buf head;
    buf_init(&head, SIZE_MAX);
    buf_reserve(&head, 128 + headers.len);
    put_status_line(&head, status);
    buf_append(&head, headers.ptr, headers.len);
    if (content_length >= 0) {
        if (status != 204 && status >= 200) {
            buf_puts(&head, "Content-Length: ");
            http_put_uint(&head, (unsigned long long)content_length);
            buf_puts(&head, "\r\n");
        }
    } else if (d->no_body) {
        /* nothing: the length is unknown and no body follows */
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

/* Write the held head (if any), then 'data' framed as a chunk when 'size'
 * (its chunk-size line) is given, in one write. */
static void deferred_write(struct http_deferred *d, const char *size, const void *data, size_t len)
{
    static char crlf[] = "\r\n";
    uv_buf_t bufs[4];
    unsigned n = 0;
    if (d->head.len)
        bufs[n++] = uv_buf_init(d->head.ptr, (unsigned)d->head.len);
    if (size)
        bufs[n++] = uv_buf_init((char *)size, (unsigned)strlen(size));
    if (len)
        bufs[n++] = uv_buf_init((char *)data, (unsigned)len);
    if (size)
        bufs[n++] = uv_buf_init(crlf, 2);
    conn_write_copy(d->c, bufs, n);
    buf_release(&d->head);
}

void http_deferred_body(struct http_deferred *d, const void *data, size_t len)
{
    struct conn *c = d->c;
    if (!c || !d->head_sent || len == 0 || c->closing || d->no_body)
        return;
    if (c->acc)
        c->acc->bytes += len;
    if (d->chunked) {
        char size[24];
        snprintf(size, sizeof(size), "%zx\r\n", len);
        deferred_write(d, size, data, len);
    } else {
        deferred_write(d, NULL, data, len);
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
    bool close = abort || !d->keep_alive || d->close_end;
    if (c && !abort && !c->closing && d->head_sent && (d->head.len || d->chunked))
        deferred_write(d, NULL, "0\r\n\r\n", d->chunked && !d->no_body ? 5 : 0);
    if (c && c->streaming && c->parser.expect_continue && !c->continue_sent)
        close = true;
    deferred_finish(d, close);
}

void http_deferred_read_body(struct http_deferred *d, http_body_data_fn on_data,
                             http_body_end_fn on_end, void *arg)
{
    struct conn *c = d->c;
    d->on_data = on_data;
    d->on_end = on_end;
    d->body_arg = arg;
    if (!c || c->closing)
        return;
    if (!c->streaming) { /* no body, or it came whole: the end is all there is */
        d->end_pending = true;
        kick(c);
        return;
    }
    /* A share of the budget for what the body costs while it streams: one
     * piece held here, the rest by the reader. None left: 503, from the loop. */
    if (!d->share && !body_budget(c->w->srv, HTTP_BODY_SHARE_BYTES)) {
        d->share_refused = true;
        kick(c);
        return;
    }
    d->share = HTTP_BODY_SHARE_BYTES;
    if (c->parser.expect_continue && !c->continue_sent)
        send_continue(c);
    if (!d->body_paused)
        arm_timer(c);
    kick(c);
}

void http_deferred_pause_body(struct http_deferred *d)
{
    struct conn *c = d->c;
    d->body_paused = true;
    if (!c || c->closing || !c->streaming)
        return;
    uv_timer_stop(&c->timer); /* the reader holds it back, not the client */
    conn_update_reading(c);
}

void http_deferred_resume_body(struct http_deferred *d)
{
    struct conn *c = d->c;
    if (!d->body_paused)
        return;
    d->body_paused = false;
    if (!c || c->closing || !c->streaming)
        return;
    arm_timer(c);
    kick(c);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    struct conn *c = h->data;
    size_t n = READ_CHUNK_BYTES;
    (void)suggested;
    if (!conn_wants_read(c))
        n = 0; /* on_read gets UV_ENOBUFS and stops reading */
    else if (c->deferred && !c->streaming)
        n = PENDING_HIGH_BYTES - c->pending.len; /* pipelined bytes behind an answer */
    *b = uv_buf_init(c->w->readbuf, (unsigned)n);
}

/* What the client sent (plaintext, after TLS), or a read error. */
static void conn_read(struct conn *c, ssize_t n, const uv_buf_t *b)
{
    if (n == 0)
        return;
    c->fresh = false;
    if (n == UV_ENOBUFS) { /* bytes came while none were wanted: now stop */
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = false;
        return;
    }
    if (n < 0) {
        if (n == UV_EOF && c->deferred && !c->streaming) {
            /* Answering a request: the client may half-close after it. */
            c->peer_eof = true;
            conn_update_reading(c);
            return;
        }
        if (n == UV_EOF && c->parser.in_message && !c->closing)
            log_debug("http", "client closed the connection mid-request");
        conn_close(c);
        return;
    }
    if (c->deferred) {
        /* Hold what arrives: the body for its reader, the rest until the answer. */
        if (buf_append(&c->pending, b->base, (size_t)n) != 0) {
            conn_close(c);
            return;
        }
        if (c->streaming) {
            arm_timer(c);
            conn_pump(c);
        } else {
            conn_update_reading(c);
        }
        return;
    }
    if (!c->parser.in_message)
        arm_timer(c); /* the timeout runs from the first byte of a request */
    else if (c->streaming)
        arm_timer(c); /* a dropped body: the timeout runs between pieces */
    conn_feed(c, b->base, (size_t)n);
}

/* ------------------------------------------------------------------------ */
/* TLS: records read go into the session, the plaintext it gives goes on to
 * conn_read() as much as the connection wants (on_alloc says how much);
 * what it does not want stays in the session (tls_stalled) until
 * conn_update_reading() sees it wanted again. Everything written is
 * encrypted at once and the records are sent in order. */

/* Send the records the session has for the client. */
static void conn_tls_flush(struct conn *c)
{
    size_t len;
    char *block = http_tls_conn_take(c->tls, &len);
    if (!block)
        return;
    uv_buf_t b = uv_buf_init(block, (unsigned)len);
    int rc = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    if (rc == (int)len) {
        free(block);
        return;
    }
    if (rc > 0) {
        b.base += rc;
        b.len -= (unsigned)rc;
    }
    struct write_req *w = xcalloc(1, sizeof(*w));
    w->head = block;
    if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_write) != 0) {
        free(block);
        free(w);
        conn_close(c);
    }
}

static void conn_tls_write(struct conn *c, const uv_buf_t *bufs, unsigned nbufs)
{
    if (http_tls_conn_write(c->tls, bufs, nbufs) != 0) {
        conn_close(c);
        return;
    }
    conn_tls_flush(c);
}

static void conn_tls_deliver(struct conn *c)
{
    c->tls_stalled = false;
    while (!c->closing) {
        uv_buf_t b;
        on_alloc((uv_handle_t *)&c->tcp, 0, &b);
        if (b.len == 0) {
            c->tls_stalled = true;
            break;
        }
        struct err err = {0};
        int n = http_tls_conn_read(c->tls, b.base, b.len, &err);
        if (n == ERR_AGAIN)
            break;
        if (n < 0) {
            log_debug("http", "TLS with %s failed: %s", c->peer, err.msg);
            conn_tls_flush(c); /* the alert that says why */
            conn_close(c);
            return;
        }
        conn_read(c, n ? n : UV_EOF, &b); /* 0: close_notify */
        if (n == 0)
            return;
    }
    if (c->closing)
        return;
    conn_tls_flush(c); /* the handshake's answers, session tickets */
    conn_update_reading(c);
}

static void conn_tls_on_read(struct conn *c, ssize_t n, const uv_buf_t *b)
{
    if (n == UV_EOF && c->tls_stalled) {
        /* Plaintext is still in the session and goes first; the end is
         * read again once reading starts again. */
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = false;
        return;
    }
    if (n < 0) {
        conn_read(c, n, b);
        return;
    }
    if (http_tls_conn_feed(c->tls, b->base, (size_t)n) != 0) {
        /* A plain HTTP request: say so in plain HTTP, then close. */
        http_tls_conn_free(c->tls);
        c->tls = NULL;
        send_error_and_close(c, 400, "this port speaks HTTPS: use https:// to reach it");
        return;
    }
    conn_tls_deliver(c);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    struct conn *c = s->data;
    if (c->tls && n != 0)
        conn_tls_on_read(c, n, b);
    else
        conn_read(c, n, b);
}

static bool body_budget(void *arg, long long delta)
{
    struct http_server *s = arg;
    if (delta <= 0) {
        atomic_fetch_sub(&s->body_bytes, (size_t)-delta);
        return true;
    }
    size_t cap = s->cfg.body_budget_bytes, cur = atomic_load(&s->body_bytes);
    do {
        if (cap && (cur + (size_t)delta > cap || cur + (size_t)delta < cur)) {
            if (log_due(&s->busy_log_ms))
                log_warn("http",
                         "request bodies in flight would pass the budget of %zu bytes; "
                         "answering 503",
                         cap);
            return false;
        }
    } while (!atomic_compare_exchange_weak(&s->body_bytes, &cur, cur + (size_t)delta));
    return true;
}

static void conn_start(struct worker *w, int fd)
{
    struct http_server *srv = w->srv;
    struct conn *c = xcalloc(1, sizeof(*c));
    c->w = w;
    c->fresh = true;
    http_parser_init(&c->parser, srv->cfg.max_body_bytes);
    c->parser.stream_bodies = srv->cfg.stream_bodies;
    c->parser.budget = body_budget;
    c->parser.budget_arg = srv;
    buf_init(&c->pending, PENDING_HIGH_BYTES + READ_CHUNK_BYTES);
    uv_tcp_init(&w->loop, &c->tcp);
    uv_timer_init(&w->loop, &c->timer);
    c->tcp.data = c;
    c->timer.data = c;
    c->handles_open = 2;
    if (srv->cfg.tls)
        c->tls = http_tls_conn_new(srv->cfg.tls);
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
    conn_update_reading(c);
}

/* ------------------------------------------------------------------------ */
/* Workers                                                                  */

/* Once every connection is gone, the handler's per-worker state goes, then
 * the loop's own handles, and uv_run() returns. */
static void worker_maybe_finish(struct worker *w)
{
    if (!w->draining || w->finished || w->conns)
        return;
    w->finished = true;
    if (w->srv->cfg.worker_stop)
        w->srv->cfg.worker_stop(w->index, w->srv->cfg.ud);
    uv_close((uv_handle_t *)&w->drain, NULL);
    uv_close((uv_handle_t *)&w->kick, NULL);
    uv_close((uv_handle_t *)&w->wake, NULL);
}

/* Close every connection without waiting for anything. */
static void worker_close_all(struct worker *w)
{
    w->closing_all = true;
    for (struct conn *c = w->conns, *next; c; c = next) {
        next = c->next;
        if (c->closing)
            conn_close_now(c); /* it waited on a client that does not read */
        else
            conn_close(c);
    }
}

static void on_drain_timeout(uv_timer_t *t)
{
    struct worker *w = t->data;
    size_t n = 0;
    for (struct conn *c = w->conns; c; c = c->next)
        n++;
    if (n)
        log_info("http", "closing %zu connections still busy after the drain of %llu ms", n,
                 (unsigned long long)w->srv->cfg.drain_timeout_ms);
    worker_close_all(w);
}

/* Whether a connection is between requests (nothing read of the next). One
 * just accepted is not: its client connected to send a request, which a
 * drain answers (a successor taking over the listener must not cost the
 * requests that reached this one). */
static bool conn_idle(const struct conn *c)
{
    return !c->fresh && !c->parser.in_message && !c->deferred && !c->streaming &&
           c->pending.len == 0;
}

static void worker_drain(struct worker *w)
{
    w->draining = true;
    uint64_t ms = w->srv->cfg.drain_timeout_ms;
    if (!ms) {
        worker_close_all(w);
        worker_maybe_finish(w);
        return;
    }
    for (struct conn *c = w->conns, *next; c; c = next) {
        next = c->next;
        if (!c->closing && conn_idle(c))
            conn_close(c);
    }
    uv_timer_start(&w->drain, on_drain_timeout, ms, 0);
    worker_maybe_finish(w);
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
        if (stopping && !w->srv->cfg.drain_timeout_ms) {
            close(fds[i]);
            atomic_fetch_sub(&w->srv->nconns, 1);
        } else {
            conn_start(w, fds[i]);
        }
    }
    free(fds);
    if (stopping && !w->draining)
        worker_drain(w);
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

/* ------------------------------------------------------------------------ */
/* Accepting                                                                */

/* Answer 503 on a connection the server will not take, and close it. What
 * the client sent already is read first, so that the close does not reset
 * the connection before the answer arrives. */
static void refuse_connection(struct http_server *s, int fd, const char *msg)
{
    if (s->cfg.tls) { /* no plain answer for a TLS client: it sees the close */
        close(fd);
        return;
    }
    struct http_response res = {0};
    buf_init(&res.headers, SIZE_MAX);
    buf_init(&res.body, SIZE_MAX);
    format_error(s, &res, 503, msg);
    struct buf out;
    buf_init(&out, SIZE_MAX);
    format_head(&out, &res, false, false);
    buf_append(&out, res.body.ptr, res.body.len);
    ssize_t sent = send(fd, out.ptr, out.len, MSG_DONTWAIT | MSG_NOSIGNAL);
    (void)sent; /* best effort: a new socket's buffer takes a few hundred bytes */
    char sink[4096];
    for (int i = 0; i < 4 && recv(fd, sink, sizeof(sink), MSG_DONTWAIT) > 0; i++)
        ;
    shutdown(fd, SHUT_WR);
    close(fd);
    buf_release(&out);
    buf_release(&res.headers);
    buf_release(&res.body);
}

static void on_listen_readable(uv_poll_t *p, int status, int events);

static void on_accept_timer(uv_timer_t *t)
{
    struct http_server *s = t->data;
    if (!s->shut_down)
        uv_poll_start(&s->poll, UV_READABLE, on_listen_readable);
}

/* Out of descriptors: shed what waits in the backlog with the reserve
 * descriptor (accept, answer 503, close), then rest the listener for
 * ACCEPT_PAUSE_MS instead of spinning on a socket that stays readable. */
static void accept_exhausted(struct http_server *s, int e)
{
    unsigned shed = 0;
    if (s->reserve_fd >= 0) {
        close(s->reserve_fd);
        s->reserve_fd = -1;
        for (; shed < 64; shed++) {
            int fd = accept4(s->fd, NULL, NULL, SOCK_CLOEXEC);
            if (fd < 0)
                break;
            refuse_connection(s, fd, "the server is out of file descriptors; try again later");
        }
        s->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    }
    s->accept_failures++;
    uint64_t now = uv_now(s->loop);
    if (now - s->accept_log_ms >= LOG_INTERVAL_MS || !s->accept_log_ms) {
        struct rlimit rl = {0};
        getrlimit(RLIMIT_NOFILE, &rl);
        log_warn("http",
                 "accept failed %lu times: %s (descriptor limit %llu); refusing new "
                 "connections with 503 and pausing accept for %d ms",
                 s->accept_failures, strerror(e), (unsigned long long)rl.rlim_cur, ACCEPT_PAUSE_MS);
        s->accept_log_ms = now;
        s->accept_failures = 0;
    }
    uv_poll_stop(&s->poll);
    uv_timer_start(&s->accept_timer, on_accept_timer, ACCEPT_PAUSE_MS, 0);
}

static void on_listen_readable(uv_poll_t *p, int status, int events)
{
    struct http_server *s = p->data;
    (void)events;
    if (status < 0 || s->shut_down)
        return;
    for (int i = 0; i < 64; i++) {
        int fd = accept4(s->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            int e = errno;
            if (e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM)
                accept_exhausted(s, e);
            else if (e != EAGAIN && e != EWOULDBLOCK && e != EINTR && e != ECONNABORTED)
                log_warn("http", "accept failed: %s", strerror(e));
            return;
        }
        size_t max = s->cfg.max_connections;
        if (max && atomic_load(&s->nconns) >= max) {
            if (log_due(&s->busy_log_ms))
                log_warn("http", "%zu connections open, the most allowed; answering 503", max);
            refuse_connection(s, fd, "too many connections; try again later");
            continue;
        }
        atomic_fetch_add(&s->nconns, 1);
        worker_push(&s->workers[s->next_worker++ % s->cfg.num_threads], fd);
    }
}

static int server_start_fd(uv_loop_t *loop, const struct http_server_config *cfg, int fd,
                           struct http_server **out, struct err *err);

int http_server_start(uv_loop_t *loop, const struct http_server_config *cfg,
                      struct http_server **out, struct err *err)
{
    if (cfg->listen_fd > 0)
        return server_start_fd(loop, cfg, cfg->listen_fd, out, err);
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
    return server_start_fd(loop, cfg, fd, out, err);
}

/* Serve on the listening socket 'fd' (ours from here). */
static int server_start_fd(uv_loop_t *loop, const struct http_server_config *cfg, int fd,
                           struct http_server **out, struct err *err)
{
    (void)err;
    struct sockaddr_storage ss;
    struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
    memset(&ss, 0, sizeof(ss));
    socklen_t slen = sizeof(ss);
    getsockname(fd, (struct sockaddr *)&ss, &slen);

    struct http_server *s = xcalloc(1, sizeof(*s));
    s->cfg = *cfg;
    if (s->cfg.num_threads == 0)
        s->cfg.num_threads = 1;
    s->loop = loop;
    s->fd = fd;
    s->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    s->port = ntohs(ss.ss_family == AF_INET ? a4->sin_port : a6->sin6_port);
    s->workers = xcalloc(s->cfg.num_threads, sizeof(*s->workers));
    for (unsigned i = 0; i < s->cfg.num_threads; i++) {
        struct worker *w = &s->workers[i];
        w->srv = s;
        w->index = i;
        w->readbuf = xmalloc(READ_CHUNK_BYTES);
        pthread_mutex_init(&w->lock, NULL);
        uv_loop_init(&w->loop);
        uv_async_init(&w->loop, &w->wake, on_wake);
        w->wake.data = w;
        uv_idle_init(&w->loop, &w->kick);
        w->kick.data = w;
        uv_timer_init(&w->loop, &w->drain);
        w->drain.data = w;
        if (pthread_create(&w->thread, NULL, worker_main, w) != 0)
            abort(); /* only fails on resource exhaustion at start-up */
    }
    uv_poll_init(loop, &s->poll, fd);
    s->poll.data = s;
    uv_timer_init(loop, &s->accept_timer);
    s->accept_timer.data = s;
    s->handles_open = 2;
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

unsigned long http_raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 0;
    if (rl.rlim_cur < rl.rlim_max) {
        rlim_t want = rl.rlim_max;
        rl.rlim_cur = want;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            log_warn("http", "cannot raise the descriptor limit to %llu: %s",
                     (unsigned long long)want, strerror(errno));
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    return (unsigned long)rl.rlim_cur;
}

int http_server_port(const struct http_server *s)
{
    return s->port;
}

int http_server_listen_fd(const struct http_server *s)
{
    return s && !s->shut_down ? s->fd : -1;
}

static void on_server_handle_closed(uv_handle_t *h)
{
    struct http_server *s = h->data;
    if (--s->handles_open > 0 || !s->stopped)
        return;
    free(s->workers);
    free(s);
}

void http_server_shutdown(struct http_server *s)
{
    if (!s || s->shut_down)
        return;
    s->shut_down = true;
    uv_poll_stop(&s->poll);
    uv_timer_stop(&s->accept_timer);
    /* Refuse new clients at once, while the workers drain: the listening
     * socket becomes /dev/null, which the poll handle may close later. */
    int nul = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (nul >= 0) {
        dup3(nul, s->fd, O_CLOEXEC);
        close(nul);
    } else {
        shutdown(s->fd, SHUT_RDWR);
    }
    for (unsigned i = 0; i < s->cfg.num_threads; i++) {
        struct worker *w = &s->workers[i];
        pthread_mutex_lock(&w->lock);
        w->stopping = true;
        pthread_mutex_unlock(&w->lock);
        uv_async_send(&w->wake);
    }
}

void http_server_stop(struct http_server *s)
{
    if (!s)
        return;
    http_server_shutdown(s);
    for (unsigned i = 0; i < s->cfg.num_threads; i++) {
        struct worker *w = &s->workers[i];
        pthread_join(w->thread, NULL);
        uv_loop_close(&w->loop);
        pthread_mutex_destroy(&w->lock);
        free(w->readbuf);
    }
    if (s->reserve_fd >= 0)
        close(s->reserve_fd);
    s->stopped = true;
    uv_close((uv_handle_t *)&s->poll, on_server_handle_closed);
    uv_close((uv_handle_t *)&s->accept_timer, on_server_handle_closed);
    close(s->fd); /* after uv_close: libuv forgets the fd first */
}
