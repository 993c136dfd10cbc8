/* client.c - the upstream side of the gateway. Each connection carries one
 * request at a time; when its response is complete and both sides allow
 * keep-alive it goes back to the idle list of its address. Idle connections
 * are watched: one the upstream closes is dropped at once. */
#include "http/client.h"
#include "base/alloc.h"
#include "base/log.h"

#include <assert.h>
#include <errno.h>
#include <llhttp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_IDLE_PER_ADDR 64
#define RESPONSE_HEADER_LIMIT (64 * 1024)
/* Every read lands in the client's one buffer and is parsed (and copied on)
 * at once, so a connection, in flight or idle, costs no buffer of its own;
 * a read is also the most a slow reader's queue grows past its high mark. */
#define READ_BYTES (16 * 1024)

struct upstream_conn {
    uv_tcp_t tcp;
    uv_connect_t connect;
    struct http_client *cl;
    char addr[80];
    int port;
    struct http_client_req *req; /* the request it carries, NULL when idle */
    llhttp_t parser;
    bool connected;
    bool reused;    /* served a request before: a failure may be a stale socket */
    bool got_bytes; /* of the current response */
    bool closing;
    bool keep_alive; /* decided when the response completes */
    bool complete;   /* the response is whole; finished after llhttp returns */
    struct upstream_conn *next_idle;
    /* header assembly: NUL-terminated names and values in 'hdr' */
    struct buf hdr;
    size_t hdr_off[HTTP_MAX_HEADERS][2];
    size_t nhdr;
    char bad_header[128];  /* why the head was refused */
    bool value_open;       /* a field value has begun and not ended */
    const char *value_end; /* where its last piece ended, in readbuf */
    const char *exec_end;  /* the end of the bytes llhttp parses now */
};

struct http_client_req {
    struct http_client *cl;
    struct http_client_req *prev, *next; /* in cl->reqs until done */
    struct upstream_conn *conn;
    char host[64];
    int port;
    char *head; /* request line and fields, without Host */
    size_t head_len;
    size_t line_len; /* of the request line, with its CRLF */
    /* The body as it goes out (chunk-encoded when 'chunked'). While
     * 'replayable' it holds every byte from the start, so the request can be
     * sent again; past HTTP_CLIENT_REPLAY_BYTES only what is not written yet. */
    struct buf body;
    size_t body_written;    /* of 'body', handed to the current connection */
    size_t body_sent_total; /* handed to any connection */
    bool replayable;
    bool whole;      /* http_client_request(): the body came at once, keep it all */
    bool chunked;    /* encode the pieces */
    bool body_ended; /* nothing more will come */
    bool started;    /* the head went out on r->conn: the body may follow */
    void (*on_drain)(void *arg);
    void *drain_arg;
    size_t drain_limit; /* on_drain runs once body_held() is at most this */
    struct http_client_callbacks cb;
    void *ud;
    uv_timer_t timer;
    uint64_t timeout_ms;
    uint64_t deadline; /* loop time; 0: none */
    bool retried;      /* on a fresh connection, after a reused one failed */
    bool failed_over;  /* to another address */
    bool done;
    bool is_head; /* a HEAD request: the response has no body, whatever it says */
    bool corked;  /* on r->conn, its head waits for the first body bytes */
    struct http_client_req *cork_prev, *cork_next; /* in cl->corked while corked */
    char early_error[160];                         /* a failure to report from the loop */
};

struct http_client {
    uv_loop_t *loop;
    struct upstream_conn *idle; /* all addresses; few, so a list is fine */
    size_t nidle;
    struct http_client_req *reqs; /* in flight */
    struct http_client_req *corked;
    uv_prepare_t *uncork; /* sends the corked heads before the loop polls */
    bool freeing;
    char readbuf[READ_BYTES];
};

static const llhttp_settings_t settings;

/* ------------------------------------------------------------------------ */
/* Connections                                                              */

static void on_conn_closed(uv_handle_t *h)
{
    struct upstream_conn *u = h->data;
    buf_release(&u->hdr);
    free(u);
}

static void idle_remove(struct http_client *cl, struct upstream_conn *u)
{
    for (struct upstream_conn **p = &cl->idle; *p; p = &(*p)->next_idle) {
        if (*p == u) {
            *p = u->next_idle;
            cl->nidle--;
            return;
        }
    }
}

/* A connection that is closing references only itself: the client may be
 * freed before its close callback runs. */
static void conn_close(struct upstream_conn *u)
{
    if (u->closing)
        return;
    u->closing = true;
    if (!u->req)
        idle_remove(u->cl, u);
    uv_close((uv_handle_t *)&u->tcp, on_conn_closed);
}

static void cork_remove(struct http_client_req *r)
{
    if (!r->corked)
        return;
    r->corked = false;
    if (r->cork_prev)
        r->cork_prev->cork_next = r->cork_next;
    else
        r->cl->corked = r->cork_next;
    if (r->cork_next)
        r->cork_next->cork_prev = r->cork_prev;
    r->cork_prev = r->cork_next = NULL;
}

/* Detach the request's connection and close it. */
static void req_drop_conn(struct http_client_req *r)
{
    struct upstream_conn *u = r->conn;
    cork_remove(r);
    r->started = false;
    if (!u)
        return;
    u->req = NULL;
    r->conn = NULL;
    conn_close(u);
}

static void req_free(uv_handle_t *h)
{
    struct http_client_req *r = h->data;
    free(r->head);
    buf_release(&r->body);
    free(r);
}

/* Whether the request may go out again from its first byte. */
static bool can_resend(const struct http_client_req *r)
{
    return r->replayable || r->body_sent_total == 0;
}

/* The request's last callback; the timer's close frees it. */
static void req_finish(struct http_client_req *r, int rc, const char *reason)
{
    if (r->done)
        return;
    r->done = true;
    r->on_drain = NULL;
    struct http_client *cl = r->cl;
    if (r->prev)
        r->prev->next = r->next;
    else
        cl->reqs = r->next;
    if (r->next)
        r->next->prev = r->prev;
    uv_timer_stop(&r->timer);
    cork_remove(r);
    struct upstream_conn *u = r->conn;
    r->conn = NULL;
    /* An answer before the whole body went out: the upstream may not have
     * read the rest, so the connection cannot carry another request. */
    bool all_sent = r->body_ended && r->body_written == r->body.len;
    if (u) {
        u->req = NULL;
        if (rc == 0 && all_sent && u->keep_alive && !u->closing && !cl->freeing &&
            cl->nidle < MAX_IDLE_PER_ADDR * 4) {
            u->reused = true;
            u->next_idle = cl->idle;
            cl->idle = u;
            cl->nidle++;
        } else {
            conn_close(u);
        }
    }
    if (r->cb.on_done)
        r->cb.on_done(r->ud, rc, reason);
    uv_close((uv_handle_t *)&r->timer, req_free);
}

/* ------------------------------------------------------------------------ */
/* Response parsing                                                         */

static int on_message_begin(llhttp_t *p)
{
    struct upstream_conn *u = p->data;
    buf_reset(&u->hdr);
    u->nhdr = 0;
    u->hdr_off[0][0] = 0;
    u->bad_header[0] = '\0';
    u->value_open = false;
    return 0;
}

static int on_header_field(llhttp_t *p, const char *at, size_t len)
{
    struct upstream_conn *u = p->data;
    if (u->nhdr >= HTTP_MAX_HEADERS) {
        snprintf(u->bad_header, sizeof(u->bad_header), "more than %d header fields",
                 HTTP_MAX_HEADERS);
        return -1;
    }
    return buf_append(&u->hdr, at, len) ? -1 : 0;
}

static int on_header_field_complete(llhttp_t *p)
{
    struct upstream_conn *u = p->data;
    if (u->nhdr >= HTTP_MAX_HEADERS || buf_putc(&u->hdr, '\0'))
        return -1;
    u->hdr_off[u->nhdr][1] = u->hdr.len;
    return 0;
}

/* llhttp joins an obs-fold's lines and passes the pieces without the CRLF
 * between them: a piece that does not start where the last one ended. */
static int on_header_value(llhttp_t *p, const char *at, size_t len)
{
    struct upstream_conn *u = p->data;
    if (u->value_open && at != u->value_end) {
        snprintf(u->bad_header, sizeof(u->bad_header), "a field value is folded (obs-fold)");
        return -1;
    }
    u->value_open = true;
    u->value_end = at + len;
    return buf_append(&u->hdr, at, len) ? -1 : 0;
}

static int on_header_value_complete(llhttp_t *p)
{
    struct upstream_conn *u = p->data;
    u->value_open = false;
    if (buf_putc(&u->hdr, '\0'))
        return -1;
    u->nhdr++;
    if (u->nhdr < HTTP_MAX_HEADERS)
        u->hdr_off[u->nhdr][0] = u->hdr.len;
    return 0;
}

/* RFC 9110 §5.6.2 */
static bool is_tchar(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* A field name must be a token and a value field-content (RFC 9110 §5.5):
 * no CR, LF, NUL or other control byte but HTAB, so no obs-fold either.
 * llhttp lets some of these through; an upstream that sends them could make
 * the client read another message than the gateway did. */
static bool check_field(struct upstream_conn *u, struct str name, struct str value)
{
    bool ok = name.len > 0;
    for (size_t i = 0; ok && i < name.len; i++)
        ok = is_tchar((unsigned char)name.ptr[i]);
    if (!ok) {
        snprintf(u->bad_header, sizeof(u->bad_header), "the field name '%.40s' is not a token",
                 name.ptr);
        return false;
    }
    for (size_t i = 0; i < value.len; i++) {
        unsigned char c = (unsigned char)value.ptr[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f) {
            snprintf(u->bad_header, sizeof(u->bad_header),
                     "the value of '%.40s' holds the control byte 0x%02x", name.ptr, c);
            return false;
        }
    }
    return true;
}

static int on_headers_complete(llhttp_t *p)
{
    struct upstream_conn *u = p->data;
    struct http_header hs[HTTP_MAX_HEADERS];
    for (size_t i = 0; i < u->nhdr; i++) {
        /* The value's length is its stored length: a NUL inside stays visible. */
        size_t name_at = u->hdr_off[i][0], value_at = u->hdr_off[i][1];
        size_t value_end = i + 1 < u->nhdr ? u->hdr_off[i + 1][0] - 1 : u->hdr.len - 1;
        hs[i].name = (struct str){u->hdr.ptr + name_at, value_at - 1 - name_at};
        hs[i].value = (struct str){u->hdr.ptr + value_at, value_end - value_at};
        while (hs[i].value.len && (hs[i].value.ptr[hs[i].value.len - 1] == ' ' ||
                                   hs[i].value.ptr[hs[i].value.len - 1] == '\t'))
            hs[i].value.len--;
        if (!check_field(u, hs[i].name, hs[i].value))
            return -1;
    }
    struct http_client_req *r = u->req;
    if (!r || p->status_code < 200)
        return 0; /* 1xx: the real head follows */
    long long cl = (p->flags & F_CONTENT_LENGTH) && !(p->flags & F_CHUNKED)
                       ? (long long)p->content_length
                       : -1;
    if (r->cb.on_head)
        r->cb.on_head(r->ud, p->status_code, hs, u->nhdr, cl);
    return r->is_head ? 1 : 0; /* 1: llhttp reads no body */
}

static int on_body(llhttp_t *p, const char *at, size_t len)
{
    struct upstream_conn *u = p->data;
    if (u->req && u->req->cb.on_body)
        u->req->cb.on_body(u->req->ud, at, len);
    return 0;
}

static int on_message_complete(llhttp_t *p)
{
    struct upstream_conn *u = p->data;
    if (p->status_code < 200)
        return 0;
    u->keep_alive = llhttp_should_keep_alive(p);
    u->complete = true;
    /* Finish outside llhttp: the request's callback may reuse this very
     * connection (and its parser) for the client's next request. */
    return HPE_PAUSED;
}

static const llhttp_settings_t settings = {
    .on_message_begin = on_message_begin,
    .on_header_field = on_header_field,
    .on_header_field_complete = on_header_field_complete,
    .on_header_value = on_header_value,
    .on_header_value_complete = on_header_value_complete,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

/* ------------------------------------------------------------------------ */
/* I/O                                                                      */

static void dispatch(struct http_client_req *r);
static void connect_new(struct http_client_req *r);
static void on_timeout(uv_timer_t *t);

/* The request did not reach its address: let the owner name another one. */
static bool fail_over(struct http_client_req *r, const char *reason)
{
    if (r->failed_over || !r->cb.on_failover || r->cl->freeing || !can_resend(r))
        return false;
    char host[64] = "";
    int port = 0;
    if (r->cb.on_failover(r->ud, reason, host, &port) != 0 || !host[0] || port <= 0)
        return false;
    r->failed_over = true;
    r->retried = false; /* a stale connection to the new address may be retried too */
    str_copy(r->host, sizeof(r->host), host);
    r->port = port;
    log_debug("http", "upstream request failed over to %s:%d: %s", r->host, r->port, reason);
    dispatch(r);
    return true;
}

/* The upstream failed: retry a request that went out on a reused connection
 * and saw no reply (the upstream may have closed it while idle); send one
 * that never reached its address elsewhere if the owner can. */
static void conn_failed(struct upstream_conn *u, int rc, const char *reason)
{
    struct http_client_req *r = u->req;
    bool stale = r && u->reused && !u->got_bytes && !r->retried;
    bool unsent = !u->connected;
    u->req = NULL;
    conn_close(u);
    if (!r)
        return;
    cork_remove(r);
    r->conn = NULL;
    r->started = false;
    if (stale && !r->cl->freeing && can_resend(r)) {
        r->retried = true;
        connect_new(r);
        return;
    }
    if (unsent && fail_over(r, reason))
        return;
    req_finish(r, rc, reason);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    struct upstream_conn *u = h->data;
    (void)suggested;
    *b = uv_buf_init(u->cl->readbuf, sizeof(u->cl->readbuf));
}

static void parse_failed(struct upstream_conn *u, llhttp_errno_t e)
{
    char msg[200];
    const char *why = u->bad_header[0] ? u->bad_header : llhttp_get_error_reason(&u->parser);
    snprintf(msg, sizeof(msg), "malformed response from the upstream: %s",
             why ? why : llhttp_errno_name(e));
    u->got_bytes = true; /* never retry a request the upstream answered */
    conn_failed(u, ERR_INVALID, msg);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    struct upstream_conn *u = s->data;
    if (n == 0)
        return;
    if (n < 0) {
        if (!u->req) {
            conn_close(u); /* idle and closed by the upstream */
            return;
        }
        /* A response without a length ends with the connection: llhttp_finish
         * runs on_message_complete, which pauses like any other end. */
        if (n == UV_EOF && u->got_bytes) {
            llhttp_errno_t e = llhttp_finish(&u->parser);
            if ((e == HPE_OK || e == HPE_PAUSED) && u->complete) {
                u->keep_alive = false;
                req_finish(u->req, 0, NULL);
                return;
            }
        }
        char msg[160];
        snprintf(msg, sizeof(msg), "%s: %s",
                 u->got_bytes ? "the upstream closed the connection mid-response"
                              : "the upstream closed the connection",
                 n == UV_EOF ? "end of stream" : uv_strerror((int)n));
        conn_failed(u, ERR_UNAVAILABLE, msg);
        return;
    }
    if (!u->req) {
        conn_close(u); /* bytes nobody asked for */
        return;
    }
    u->got_bytes = true;
    if (u->value_open && u->value_end == u->exec_end)
        u->value_end = b->base; /* a value split across reads goes on here */
    u->exec_end = b->base + n;
    llhttp_errno_t e = llhttp_execute(&u->parser, b->base, (size_t)n);
    if (e == HPE_PAUSED) {
        /* Complete. Bytes after it were never asked for: do not reuse the connection. */
        size_t used = (size_t)(llhttp_get_error_pos(&u->parser) - b->base);
        if (used < (size_t)n)
            u->keep_alive = false;
        req_finish(u->req, 0, NULL);
        return;
    }
    if (e != HPE_OK)
        parse_failed(u, e);
}

/* A write owns a copy of what it sends: the upstream may answer (and the
 * request be freed) before the last byte has gone out. */
struct upstream_write {
    uv_write_t w;
    struct upstream_conn *u;
    char data[];
};

/* Body bytes the request holds: 'body' (the copy for a resend and what has
 * not gone out) and the copies in the connection's write queue. */
static size_t body_held(const struct http_client_req *r)
{
    size_t n = r->body.len;
    if (r->started && r->conn && !r->conn->closing)
        n += r->conn->tcp.write_queue_size;
    return n;
}

static void check_drained(struct http_client_req *r)
{
    if (r->on_drain && body_held(r) <= r->drain_limit) {
        void (*cb)(void *) = r->on_drain;
        r->on_drain = NULL;
        cb(r->drain_arg);
    }
}

/* A streamed body may take longer than the timeout to upload: while it
 * goes out, the timeout counts from the last progress (the upstream took
 * bytes), and from the end of the body for the answer. */
static void rearm_timeout(struct http_client_req *r)
{
    if (!r->timeout_ms || r->whole || r->done)
        return;
    r->deadline = uv_now(r->cl->loop) + r->timeout_ms;
    uv_timer_start(&r->timer, on_timeout, r->timeout_ms, 0);
}

static void on_written(uv_write_t *w, int status)
{
    struct upstream_conn *u = ((struct upstream_write *)w)->u;
    free(w);
    if (u->closing || !u->req)
        return;
    if (status < 0) {
        conn_failed(u, ERR_UNAVAILABLE, uv_strerror(status));
        return;
    }
    if (!u->got_bytes)
        rearm_timeout(u->req);
    check_drained(u->req);
}

/* A write went out whole at once: what on_written does for a queued one.
 * The request's own callbacks never run from here (on_drain may: it only
 * lets the caller send more). */
static void wrote_at_once(struct http_client_req *r)
{
    if (r->conn && !r->conn->got_bytes)
        rearm_timeout(r);
    check_drained(r);
}

#define MAX_PARTS 3

/* One write of the parts (any may be empty), in order. What the socket
 * takes at once goes without a write request (so libuv does not re-arm the
 * descriptor in epoll after it); only the rest is copied and queued. libuv
 * refuses with EAGAIN while earlier writes are queued, so bytes never
 * overtake each other; an error leaves everything to uv_write, which
 * reports it from the loop as it always has. Returns 1 when it all went at
 * once, 0 when some is queued (on_written follows), -1 on failure. */
static int write_parts(struct upstream_conn *u, const struct str *parts, size_t n)
{
    uv_buf_t bufs[MAX_PARTS];
    unsigned nbufs = 0;
    size_t total = 0;
    assert(n <= MAX_PARTS);
    for (size_t i = 0; i < n; i++) {
        if (parts[i].len)
            bufs[nbufs++] = uv_buf_init((char *)parts[i].ptr, (unsigned)parts[i].len);
        total += parts[i].len;
    }
    if (total == 0)
        return 1;
    int rc = uv_try_write((uv_stream_t *)&u->tcp, bufs, nbufs);
    size_t skip = rc > 0 ? (size_t)rc : 0;
    if (skip == total)
        return 1;
    struct upstream_write *w = xmalloc(sizeof(*w) + total - skip);
    w->u = u;
    char *o = w->data;
    for (unsigned i = 0; i < nbufs; i++) {
        size_t from = skip < bufs[i].len ? skip : bufs[i].len;
        skip -= from;
        memcpy(o, bufs[i].base + from, bufs[i].len - from);
        o += bufs[i].len - from;
    }
    uv_buf_t buf = uv_buf_init(w->data, (unsigned)(o - w->data));
    if (uv_write(&w->w, (uv_stream_t *)&u->tcp, &buf, 1, on_written) != 0) {
        free(w);
        return -1;
    }
    return 0;
}

/* Everything in 'body' has gone out and none of it is kept for a resend:
 * give its memory back (what follows mostly goes out directly). */
static void body_drop(struct http_client_req *r)
{
    buf_release(&r->body);
    buf_init(&r->body, SIZE_MAX);
    r->body_written = 0;
}

static void send_head(struct http_client_req *r);

/* Send what of the body has not gone out on the current connection. */
static void flush_body(struct http_client_req *r)
{
    if (r->corked) {
        send_head(r); /* with what of the body has come */
        return;
    }
    struct upstream_conn *u = r->conn;
    size_t n = r->body.len - r->body_written;
    if (!r->started || !u || u->closing || n == 0)
        return;
    struct str part = {r->body.ptr + r->body_written, n};
    int rc = write_parts(u, &part, 1);
    if (rc < 0) {
        conn_failed(u, ERR_UNAVAILABLE, "cannot write to the upstream");
        return;
    }
    r->body_written += n;
    r->body_sent_total += n;
    if (!r->replayable)
        body_drop(r);
    if (rc == 1)
        wrote_at_once(r);
}

/* Send the head with the body so far (all of it, when this is a resend). */
static void send_head(struct http_client_req *r)
{
    struct upstream_conn *u = r->conn;
    cork_remove(r);
    struct buf head;
    buf_init(&head, SIZE_MAX);
    buf_reserve(&head, r->head_len + sizeof(r->host) + 16);
    buf_append(&head, r->head, r->line_len);
    buf_puts(&head, "Host: ");
    buf_puts(&head, r->host);
    buf_putc(&head, ':');
    http_put_uint(&head, (unsigned long long)r->port);
    buf_puts(&head, "\r\n");
    buf_append(&head, r->head + r->line_len, r->head_len - r->line_len);
    r->body_written = 0;
    struct str parts[] = {{head.ptr, head.len}, {r->body.ptr, r->body.len}};
    int rc = write_parts(u, parts, 2);
    buf_release(&head);
    if (rc < 0) {
        conn_failed(u, ERR_UNAVAILABLE, "cannot write to the upstream");
        return;
    }
    r->started = true;
    r->body_written = r->body.len;
    r->body_sent_total += r->body.len;
    if (!r->replayable)
        body_drop(r);
    if (rc == 1)
        wrote_at_once(r);
}

static void on_uncork(uv_prepare_t *p)
{
    struct http_client *cl = p->data;
    while (cl->corked)
        send_head(cl->corked);
    uv_prepare_stop(p);
}

static void start_on(struct http_client_req *r, struct upstream_conn *u)
{
    r->conn = u;
    u->req = r;
    u->got_bytes = false;
    u->complete = false;
    llhttp_init(&u->parser, HTTP_RESPONSE, &settings);
    u->parser.data = u;
    if (r->whole || r->body_ended || r->body.len) {
        send_head(r);
        return;
    }
    /* A body is to follow and none has come: the head waits for its first
     * bytes (a proxied body is most often already read, and is handed over
     * on the loop's next turn), so that both go in one write. It waits no
     * longer than until the loop would poll. */
    struct http_client *cl = r->cl;
    r->corked = true;
    r->cork_prev = NULL;
    r->cork_next = cl->corked;
    if (cl->corked)
        cl->corked->cork_prev = r;
    cl->corked = r;
    uv_prepare_start(cl->uncork, on_uncork);
}

static void on_connect(uv_connect_t *c, int status)
{
    struct upstream_conn *u = c->data;
    if (u->closing)
        return;
    if (status < 0) {
        char msg[160];
        snprintf(msg, sizeof(msg), "cannot connect to %s:%d: %s", u->addr, u->port,
                 uv_strerror(status));
        u->reused = false;
        conn_failed(u, ERR_UNAVAILABLE, msg);
        return;
    }
    u->connected = true;
    uv_tcp_nodelay(&u->tcp, 1);
    if (uv_read_start((uv_stream_t *)&u->tcp, on_alloc, on_read) != 0) {
        conn_failed(u, ERR_UNAVAILABLE, "cannot read from the upstream");
        return;
    }
    start_on(u->req, u);
}

static void connect_new(struct http_client_req *r)
{
    struct upstream_conn *u = xcalloc(1, sizeof(*u));
    u->cl = r->cl;
    snprintf(u->addr, sizeof(u->addr), "%s", r->host);
    u->port = r->port;
    buf_init(&u->hdr, RESPONSE_HEADER_LIMIT);
    uv_tcp_init(r->cl->loop, &u->tcp);
    u->tcp.data = u;
    u->connect.data = u;
    u->req = r;
    r->conn = u;
    struct sockaddr_in sa;
    int rc = uv_ip4_addr(r->host, r->port, &sa);
    if (rc == 0)
        rc = uv_tcp_connect(&u->connect, &u->tcp, (struct sockaddr *)&sa, on_connect);
    if (rc != 0) {
        /* Report it from the loop, never from inside http_client_request(). */
        snprintf(r->early_error, sizeof(r->early_error), "cannot connect to %s:%d: %s", r->host,
                 r->port, uv_strerror(rc));
        req_drop_conn(r);
        uv_timer_start(&r->timer, on_timeout, 0, 0);
    }
}

/* An idle connection to the request's address, or a new one. */
static void dispatch(struct http_client_req *r)
{
    struct http_client *cl = r->cl;
    for (struct upstream_conn *u = cl->idle; u; u = u->next_idle) {
        if (u->port == r->port && strcmp(u->addr, r->host) == 0) {
            idle_remove(cl, u);
            start_on(r, u);
            return;
        }
    }
    connect_new(r);
}

static void on_timeout(uv_timer_t *t)
{
    struct http_client_req *r = t->data;
    if (r->early_error[0]) {
        char reason[sizeof(r->early_error)];
        snprintf(reason, sizeof(reason), "%s", r->early_error);
        r->early_error[0] = '\0';
        uint64_t now = uv_now(r->cl->loop);
        if (r->deadline)
            uv_timer_start(&r->timer, on_timeout, r->deadline > now ? r->deadline - now : 0, 0);
        if (!fail_over(r, reason))
            req_finish(r, ERR_UNAVAILABLE, reason);
        return;
    }
    req_drop_conn(r);
    req_finish(r, ERR_AGAIN, "the upstream did not answer in time");
}

/* ------------------------------------------------------------------------ */
/* API                                                                      */

struct http_client *http_client_new(uv_loop_t *loop)
{
    struct http_client *cl = xcalloc(1, sizeof(*cl));
    cl->loop = loop;
    cl->uncork = xcalloc(1, sizeof(*cl->uncork));
    uv_prepare_init(loop, cl->uncork);
    cl->uncork->data = cl;
    return cl;
}

static void free_handle(uv_handle_t *h)
{
    free(h);
}

void http_client_free(struct http_client *cl)
{
    if (!cl)
        return;
    cl->freeing = true;
    /* End what is in flight now, so that no owner holds a request of a
     * client that is gone, whatever order its owner and the connections it
     * serves are torn down in. */
    while (cl->reqs) {
        struct http_client_req *r = cl->reqs;
        req_drop_conn(r);
        req_finish(r, ERR_SYS(ECANCELED), "the gateway is stopping");
    }
    while (cl->idle)
        conn_close(cl->idle);
    uv_close((uv_handle_t *)cl->uncork, free_handle);
    free(cl); /* connections still closing reference only themselves */
}

static struct http_client_req *request_new(struct http_client *cl, const char *host, int port,
                                           struct str head, uint64_t timeout_ms,
                                           const struct http_client_callbacks *cb, void *ud)
{
    struct http_client_req *r = xcalloc(1, sizeof(*r));
    r->cl = cl;
    str_copy(r->host, sizeof(r->host), host);
    r->port = port;
    r->head = xstrndup(head.ptr, head.len);
    r->head_len = head.len;
    const char *eol = memchr(head.ptr, '\n', head.len);
    r->line_len = eol ? (size_t)(eol - head.ptr) + 1 : head.len;
    r->is_head = head.len >= 5 && memcmp(head.ptr, "HEAD ", 5) == 0;
    buf_init(&r->body, SIZE_MAX);
    r->replayable = true;
    r->cb = *cb;
    r->ud = ud;
    r->next = cl->reqs;
    if (cl->reqs)
        cl->reqs->prev = r;
    cl->reqs = r;
    uv_timer_init(cl->loop, &r->timer);
    r->timer.data = r;
    r->timeout_ms = timeout_ms;
    if (timeout_ms) {
        r->deadline = uv_now(cl->loop) + timeout_ms;
        uv_timer_start(&r->timer, on_timeout, timeout_ms, 0);
    }
    return r;
}

struct http_client_req *http_client_request(struct http_client *cl, const char *host, int port,
                                            struct str head, struct str body, uint64_t timeout_ms,
                                            const struct http_client_callbacks *cb, void *ud)
{
    struct http_client_req *r = request_new(cl, host, port, head, timeout_ms, cb, ud);
    r->whole = true;
    if (body.len)
        buf_append(&r->body, body.ptr, body.len);
    r->body_ended = true;
    dispatch(r);
    return r;
}

struct http_client_req *http_client_request_stream(struct http_client *cl, const char *host,
                                                   int port, struct str head, bool chunked,
                                                   uint64_t timeout_ms,
                                                   const struct http_client_callbacks *cb, void *ud)
{
    struct http_client_req *r = request_new(cl, host, port, head, timeout_ms, cb, ud);
    r->chunked = chunked;
    dispatch(r);
    return r;
}

/* Past the replay limit the bytes already written are dropped: a failure
 * after that can no longer be retried. */
static void body_appended(struct http_client_req *r)
{
    if (r->replayable && !r->whole && r->body.len > HTTP_CLIENT_REPLAY_BYTES) {
        r->replayable = false;
        size_t rest = r->body.len - r->body_written;
        memmove(r->body.ptr, r->body.ptr + r->body_written, rest);
        r->body.len = rest;
        r->body.ptr[rest] = '\0';
        r->body_written = 0;
        if (rest == 0) /* give its memory back: pieces go out directly now */
            body_drop(r);
    }
    flush_body(r);
}

void http_client_send_body(struct http_client_req *r, const void *data, size_t len)
{
    if (r->done || r->body_ended || len == 0)
        return;
    struct upstream_conn *u = r->conn;
    if (!r->replayable && r->started && u && !u->closing && r->body.len == 0) {
        /* Nothing kept, nothing queued: straight to the connection. */
        char size[24] = "";
        int n = r->chunked ? snprintf(size, sizeof(size), "%zx\r\n", len) : 0;
        struct str parts[] = {{size, (size_t)n}, {data, len}, STR_LIT("\r\n")};
        if (!r->chunked)
            parts[2].len = 0;
        int rc = write_parts(u, parts, 3);
        if (rc < 0) {
            conn_failed(u, ERR_UNAVAILABLE, "cannot write to the upstream");
            return;
        }
        r->body_sent_total += (size_t)n + len + parts[2].len;
        if (rc == 1)
            wrote_at_once(r);
        return;
    }
    if (r->chunked)
        buf_printf(&r->body, "%zx\r\n", len);
    buf_append(&r->body, data, len);
    if (r->chunked)
        buf_puts(&r->body, "\r\n");
    body_appended(r);
}

void http_client_end_body(struct http_client_req *r)
{
    if (r->done || r->body_ended)
        return;
    r->body_ended = true;
    if (r->chunked)
        buf_puts(&r->body, "0\r\n\r\n");
    rearm_timeout(r);
    body_appended(r);
}

bool http_client_body_congested(struct http_client_req *r, size_t limit,
                                void (*on_drain)(void *arg), void *arg)
{
    if (r->done || body_held(r) <= limit)
        return false;
    r->on_drain = on_drain;
    r->drain_arg = arg;
    r->drain_limit = limit;
    return true;
}

void http_client_pause(struct http_client_req *r)
{
    if (!r->done && r->conn && !r->conn->closing)
        uv_read_stop((uv_stream_t *)&r->conn->tcp);
}

void http_client_resume(struct http_client_req *r)
{
    struct upstream_conn *u = r->conn;
    if (!r->done && u && !u->closing &&
        uv_read_start((uv_stream_t *)&u->tcp, on_alloc, on_read) != 0)
        conn_failed(u, ERR_UNAVAILABLE, "cannot read from the upstream");
}

void http_client_cancel(struct http_client_req *r)
{
    if (r->done)
        return;
    r->cb.on_done = NULL;
    r->cb.on_head = NULL;
    r->cb.on_body = NULL;
    r->cb.on_failover = NULL;
    req_drop_conn(r);
    req_finish(r, ERR_AGAIN, NULL);
}
