/* gateway.c - forwarding. The handler copies what the upstream request needs,
 * defers the client's response and lets the worker's HTTP client stream the
 * upstream answer back; each worker thread has its own client and pools. */
#include "gateway/gateway.h"
#include "base/alloc.h"
#include "base/log.h"
#include "http/client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct gw_gateway {
    struct gw_config cfg;
    struct http_client **clients; /* per worker, made on first use by that worker */
};

struct forward {
    struct gw_gateway *gw;
    struct http_deferred *d;
    struct http_client_req *req;
    bool finished;
    char service_id[64];
};

/* Hop-by-hop headers and those the gateway sets itself. */
static bool skip_header(struct str name)
{
    static const char *const names[] = {"connection",
                                        "keep-alive",
                                        "proxy-connection",
                                        "proxy-authenticate",
                                        "proxy-authorization",
                                        "te",
                                        "trailer",
                                        "transfer-encoding",
                                        "upgrade",
                                        "host",
                                        "content-length",
                                        "expect",
                                        "x-forwarded-for",
                                        "x-forwarded-prefix",
                                        NULL};
    for (const char *const *n = names; *n; n++)
        if (str_eq_nocase(name, *n))
            return true;
    return false;
}

static void on_head(void *ud, int status, const struct http_header *hs, size_t n,
                    long long content_length)
{
    struct forward *f = ud;
    struct buf h;
    buf_init(&h, SIZE_MAX);
    for (size_t i = 0; i < n; i++) {
        if (skip_header(hs[i].name))
            continue;
        buf_append(&h, hs[i].name.ptr, hs[i].name.len);
        buf_puts(&h, ": ");
        buf_append(&h, hs[i].value.ptr, hs[i].value.len);
        buf_puts(&h, "\r\n");
    }
    http_deferred_head(f->d, status, (struct str){h.ptr, h.len}, content_length);
    buf_release(&h);
}

static void on_drained(void *arg)
{
    struct forward *f = arg;
    if (f->req)
        http_client_resume(f->req);
}

/* Stream on, but never faster than the client reads: a slow reader pauses
 * the upstream instead of growing the write queue. */
static void on_body(void *ud, const char *data, size_t len)
{
    struct forward *f = ud;
    http_deferred_body(f->d, data, len);
    if (f->req && http_deferred_congested(f->d, on_drained, f))
        http_client_pause(f->req);
}

static void respond_error(struct http_deferred *d, int status, const char *what,
                          const char *service_id, const char *reason)
{
    struct http_response res = {0};
    buf_init(&res.headers, SIZE_MAX);
    buf_init(&res.body, SIZE_MAX);
    http_response_error(&res, status, "service %s %s: %s", service_id, what, reason);
    http_deferred_respond(d, &res);
}

static void on_done(void *ud, int rc, const char *reason)
{
    struct forward *f = ud;
    f->finished = true;
    f->req = NULL;
    if (rc == 0) {
        http_deferred_end(f->d, false);
    } else {
        log_warn("gateway", "upstream of %s failed: %s", f->service_id, reason);
        /* Before the head: an error response; after it: cut the connection. */
        if (rc == ERR_AGAIN)
            respond_error(f->d, 504, "did not answer in time", f->service_id, reason);
        else
            respond_error(f->d, 502, "failed", f->service_id, reason);
    }
    free(f);
}

static void on_cancel(void *arg)
{
    struct forward *f = arg;
    if (f->req)
        http_client_cancel(f->req);
    free(f);
}

void gw_handle(struct http_request *req, struct http_response *res, void *ud)
{
    struct gw_gateway *gw = ud;
    /* /<target>/<rest> */
    struct str path = req->path;
    if (path.len < 2 || path.ptr[0] != '/') {
        http_response_error(res, 404, "no service in path '%.*s'; use /<ServiceGroupId>/<path>",
                            (int)path.len, path.ptr);
        return;
    }
    const char *slash = memchr(path.ptr + 1, '/', path.len - 1);
    struct str target = {path.ptr + 1, slash ? (size_t)(slash - path.ptr - 1) : path.len - 1};
    struct str rest =
        slash ? (struct str){slash, path.len - (size_t)(slash - path.ptr)} : STR_LIT("/");
    struct gw_routes *routes = gw_table_acquire(gw->cfg.routes);
    struct gw_instance inst;
    const char *service_id = NULL;
    int rc = gw_routes_pick(routes, target, &inst, &service_id);
    char sid[64] = "";
    if (service_id)
        snprintf(sid, sizeof(sid), "%s", service_id);
    gw_routes_release(routes);
    if (rc == ERR_NOTFOUND) {
        http_response_error(res, 404, "no service group or service '%.*s'", (int)target.len,
                            target.ptr);
        return;
    }
    if (rc) {
        http_response_error(res, 503, "'%.*s' has no ready instance", (int)target.len, target.ptr);
        return;
    }

    struct buf head;
    buf_init(&head, SIZE_MAX);
    buf_append(&head, req->method.ptr, req->method.len);
    buf_putc(&head, ' ');
    buf_append(&head, rest.ptr, rest.len);
    if (req->query.len) {
        buf_putc(&head, '?');
        buf_append(&head, req->query.ptr, req->query.len);
    }
    buf_puts(&head, " HTTP/1.1\r\n");
    for (size_t i = 0; i < req->nheaders; i++) {
        if (skip_header(req->headers[i].name))
            continue;
        buf_append(&head, req->headers[i].name.ptr, req->headers[i].name.len);
        buf_puts(&head, ": ");
        buf_append(&head, req->headers[i].value.ptr, req->headers[i].value.len);
        buf_puts(&head, "\r\n");
    }
    /* Who asked: appended to what earlier proxies said. */
    struct str xff = http_request_header(req, "X-Forwarded-For");
    if (xff.ptr && xff.len)
        buf_printf(&head, "X-Forwarded-For: %.*s, %s\r\n", (int)xff.len, xff.ptr, req->peer);
    else
        buf_printf(&head, "X-Forwarded-For: %s\r\n", req->peer);
    buf_printf(&head, "Host: %s:%d\r\nContent-Length: %zu\r\nX-Forwarded-Prefix: /%.*s\r\n\r\n",
               inst.host, inst.port, req->body.len, (int)target.len, target.ptr);

    if (!gw->clients[req->worker])
        gw->clients[req->worker] = http_client_new(http_request_loop(req));
    struct forward *f = xcalloc(1, sizeof(*f));
    f->gw = gw;
    snprintf(f->service_id, sizeof(f->service_id), "%s", sid);
    f->d = http_request_defer(req, on_cancel, f);
    static const struct http_client_callbacks cb = {on_head, on_body, on_done};
    /* No callback runs before this returns, so f->req is set before on_done clears it. */
    f->req = http_client_request(gw->clients[req->worker], inst.host, inst.port,
                                 (struct str){head.ptr, head.len}, req->body,
                                 gw->cfg.upstream_timeout_ms, &cb, f);
    buf_release(&head);
}

void gw_worker_stop(unsigned worker, void *ud)
{
    struct gw_gateway *gw = ud;
    http_client_free(gw->clients[worker]);
    gw->clients[worker] = NULL;
}

struct gw_gateway *gw_new(const struct gw_config *cfg)
{
    struct gw_gateway *gw = xcalloc(1, sizeof(*gw));
    gw->cfg = *cfg;
    gw->clients = xcalloc(cfg->num_threads ? cfg->num_threads : 1, sizeof(*gw->clients));
    return gw;
}

void gw_free(struct gw_gateway *g)
{
    if (!g)
        return;
    free(g->clients);
    free(g);
}
