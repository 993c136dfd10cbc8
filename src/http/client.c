/* client.c - the upstream side of the gateway. Each connection carries one
 * request at a time; when its response is complete and both sides allow
 * keep-alive it goes back to the idle list of its address. Idle connections
 * are watched: one the upstream closes is dropped at once. */
#include "http/client.h"
#include "base/alloc.h"
#include "base/log.h"

#include <llhttp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_IDLE_PER_ADDR 64
#define RESPONSE_HEADER_LIMIT (64 * 1024)

struct upstream_conn {
    uv_tcp_t tcp;
    uv_connect_t connect;
    struct http_client *cl;
    char addr[80];
    int port;
    struct http_client_req *req; /* the request it carries, NULL when idle */
    llhttp_t parser;
    bool reused;    /* served a request before: a failure may be a stale socket */
    bool got_bytes; /* of the current response */
    bool closing;
    bool keep_alive; /* decided when the response completes */
    bool complete;   /* the response is whole; finished after llhttp returns */
    struct upstream_conn *next_idle;
    /* header assembly */
    struct buf hdr;
    size_t hdr_off[HTTP_MAX_HEADERS][2];
    size_t nhdr;
    bool in_value;
    char readbuf[64 * 1024];
};

struct http_client_req {
    struct http_client *cl;
    struct upstream_conn *conn;
    char host[64];
    int port;
    char *head;
    size_t head_len;
    char *body;
    size_t body_len;
    struct http_client_callbacks cb;
    void *ud;
    uv_timer_t timer;
    bool retried;
    bool done;
    bool is_head;          /* a HEAD request: the response has no body, whatever it says */
    char early_error[160]; /* a failure before http_client_request() returned */
};

struct http_client {
    uv_loop_t *loop;
    struct upstream_conn *idle; /* all addresses; few, so a list is fine */
    size_t nidle;
    bool freeing;
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

static void conn_close(struct upstream_conn *u)
{
    if (u->closing)
        return;
    u->closing = true;
    if (!u->req)
        idle_remove(u->cl, u);
    uv_close((uv_handle_t *)&u->tcp, on_conn_closed);
}

static void req_free(uv_handle_t *h)
{
    struct http_client_req *r = h->data;
    free(r->head);
    free(r->body);
    free(r);
}

/* The request's last callback; the timer's close frees it. */
static void req_finish(struct http_client_req *r, int rc, const char *reason)
{
    if (r->done)
        return;
    r->done = true;
    uv_timer_stop(&r->timer);
    struct upstream_conn *u = r->conn;
    r->conn = NULL;
    if (u) {
        u->req = NULL;
        if (rc == 0 && u->keep_alive && !u->closing && !r->cl->freeing &&
            r->cl->nidle < MAX_IDLE_PER_ADDR * 4) {
            u->reused = true;
            u->next_idle = r->cl->idle;
            r->cl->idle = u;
            r->cl->nidle++;
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
    u->in_value = false;
    return 0;
}

static int on_header_field(llhttp_t *p, const char *at, size_t len)
{
    struct upstream_conn *u = p->data;
    if (u->in_value || u->hdr.len == 0) {
        if (u->in_value) {
            buf_putc(&u->hdr, '\0');
            u->nhdr++;
        }
        if (u->nhdr >= HTTP_MAX_HEADERS)
            return -1;
        u->hdr_off[u->nhdr][0] = u->hdr.len;
        u->in_value = false;
    }
    return buf_append(&u->hdr, at, len) ? -1 : 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t len)
{
    struct upstream_conn *u = p->data;
    if (!u->in_value) {
        if (u->hdr.len == 0 || buf_putc(&u->hdr, '\0'))
            return -1;
        u->hdr_off[u->nhdr][1] = u->hdr.len;
        u->in_value = true;
    }
    return buf_append(&u->hdr, at, len) ? -1 : 0;
}

static int on_headers_complete(llhttp_t *p)
{
    struct upstream_conn *u = p->data;
    if (u->in_value) {
        buf_putc(&u->hdr, '\0');
        u->nhdr++;
        u->in_value = false;
    }
    struct http_client_req *r = u->req;
    if (!r || p->status_code < 200)
        return 0; /* 1xx: the real head follows */
    struct http_header hs[HTTP_MAX_HEADERS];
    for (size_t i = 0; i < u->nhdr; i++) {
        hs[i].name = str_from(u->hdr.ptr + u->hdr_off[i][0]);
        hs[i].value = str_from(u->hdr.ptr + u->hdr_off[i][1]);
    }
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
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

/* ------------------------------------------------------------------------ */
/* I/O                                                                      */

static void start_on(struct http_client_req *r, struct upstream_conn *u);
static void connect_new(struct http_client_req *r);
static void on_timeout(uv_timer_t *t);

/* The upstream failed: retry a request that went out on a reused connection
 * and saw no reply (the upstream may have closed it while idle). */
static void conn_failed(struct upstream_conn *u, int rc, const char *reason)
{
    struct http_client_req *r = u->req;
    bool retry = r && u->reused && !u->got_bytes && !r->retried;
    u->req = NULL;
    conn_close(u);
    if (!r)
        return;
    r->conn = NULL;
    if (retry) {
        r->retried = true;
        connect_new(r);
        return;
    }
    req_finish(r, rc, reason);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    struct upstream_conn *u = h->data;
    (void)suggested;
    *b = uv_buf_init(u->readbuf, sizeof(u->readbuf));
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
        /* A response without a length ends with the connection. */
        if (n == UV_EOF && u->got_bytes && llhttp_finish(&u->parser) == HPE_OK && u->complete) {
            u->keep_alive = false;
            req_finish(u->req, 0, NULL);
            return;
        }
        conn_failed(u, ERR_UNAVAILABLE,
                    u->got_bytes ? "the upstream closed the connection mid-response"
                                 : "the upstream closed the connection");
        return;
    }
    if (!u->req) {
        conn_close(u); /* bytes nobody asked for */
        return;
    }
    u->got_bytes = true;
    llhttp_errno_t e = llhttp_execute(&u->parser, b->base, (size_t)n);
    if (e == HPE_PAUSED) {
        /* Complete. Bytes after it were never asked for: do not reuse the connection. */
        size_t used = (size_t)(llhttp_get_error_pos(&u->parser) - b->base);
        if (used < (size_t)n)
            u->keep_alive = false;
        req_finish(u->req, 0, NULL);
        return;
    }
    if (e != HPE_OK) {
        char msg[160];
        snprintf(msg, sizeof(msg), "malformed response from the upstream: %s",
                 llhttp_get_error_reason(&u->parser) ? llhttp_get_error_reason(&u->parser)
                                                     : llhttp_errno_name(e));
        u->got_bytes = true; /* never retry a request the upstream answered */
        conn_failed(u, ERR_INVALID, msg);
    }
}

/* A write owns a copy of what it sends: the upstream may answer (and the
 * request be freed) before the last byte has gone out. */
struct upstream_write {
    uv_write_t w;
    struct upstream_conn *u;
    char data[];
};

static void on_written(uv_write_t *w, int status)
{
    struct upstream_conn *u = ((struct upstream_write *)w)->u;
    free(w);
    if (status < 0 && u->req && !u->closing)
        conn_failed(u, ERR_UNAVAILABLE, uv_strerror(status));
}

static void start_on(struct http_client_req *r, struct upstream_conn *u)
{
    r->conn = u;
    u->req = r;
    u->got_bytes = false;
    u->complete = false;
    llhttp_init(&u->parser, HTTP_RESPONSE, &settings);
    u->parser.data = u;
    struct upstream_write *w = xmalloc(sizeof(*w) + r->head_len + r->body_len);
    w->u = u;
    memcpy(w->data, r->head, r->head_len);
    memcpy(w->data + r->head_len, r->body, r->body_len);
    uv_buf_t buf = uv_buf_init(w->data, (unsigned)(r->head_len + r->body_len));
    if (uv_write(&w->w, (uv_stream_t *)&u->tcp, &buf, 1, on_written) != 0) {
        free(w);
        conn_failed(u, ERR_UNAVAILABLE, "cannot write to the upstream");
    }
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
        u->req = NULL;
        r->conn = NULL;
        conn_close(u);
        uv_timer_start(&r->timer, on_timeout, 0, 0);
    }
}

static void on_timeout(uv_timer_t *t)
{
    struct http_client_req *r = t->data;
    if (r->early_error[0]) {
        req_finish(r, ERR_UNAVAILABLE, r->early_error);
        return;
    }
    struct upstream_conn *u = r->conn;
    if (u) {
        u->req = NULL;
        r->conn = NULL;
        conn_close(u);
    }
    req_finish(r, ERR_AGAIN, "the upstream did not answer in time");
}

/* ------------------------------------------------------------------------ */
/* API                                                                      */

struct http_client *http_client_new(uv_loop_t *loop)
{
    struct http_client *cl = xcalloc(1, sizeof(*cl));
    cl->loop = loop;
    return cl;
}

void http_client_free(struct http_client *cl)
{
    if (!cl)
        return;
    cl->freeing = true;
    while (cl->idle)
        conn_close(cl->idle);
    free(cl); /* connections still closing reference only themselves */
}

struct http_client_req *http_client_request(struct http_client *cl, const char *host, int port,
                                            struct str head, struct str body, uint64_t timeout_ms,
                                            const struct http_client_callbacks *cb, void *ud)
{
    struct http_client_req *r = xcalloc(1, sizeof(*r));
    r->cl = cl;
    snprintf(r->host, sizeof(r->host), "%s", host);
    r->port = port;
    r->head = xstrndup(head.ptr, head.len);
    r->head_len = head.len;
    r->is_head = head.len >= 5 && memcmp(head.ptr, "HEAD ", 5) == 0;
    r->body = xstrndup(body.ptr ? body.ptr : "", body.len);
    r->body_len = body.len;
    r->cb = *cb;
    r->ud = ud;
    uv_timer_init(cl->loop, &r->timer);
    r->timer.data = r;
    if (timeout_ms)
        uv_timer_start(&r->timer, on_timeout, timeout_ms, 0);
    for (struct upstream_conn *u = cl->idle; u; u = u->next_idle) {
        if (u->port == port && strcmp(u->addr, host) == 0) {
            idle_remove(cl, u);
            start_on(r, u);
            return r;
        }
    }
    connect_new(r);
    return r;
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
    struct upstream_conn *u = r->conn;
    if (u) {
        u->req = NULL;
        r->conn = NULL;
        conn_close(u);
    }
    req_finish(r, ERR_AGAIN, NULL);
}
