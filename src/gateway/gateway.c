/* gateway.c - forwarding. The handler copies what the upstream request needs,
 * defers the client's response, streams the request body to the upstream as
 * it arrives and lets the worker's HTTP client stream the upstream answer
 * back; each worker thread has its own client and pools.
 * An instance that fails a request (refused, reset, closed early, timed out)
 * is ejected from the routes of every worker at once; a request that never
 * reached it goes to another ready instance of the same version. */
#include "gateway/gateway.h"
#include "base/alloc.h"
#include "base/crypto.h"
#include "base/log.h"
#include "gateway/headers.h"
#include "gateway/metrics.h"
#include "gateway/wake.h"
#include "http/client.h"

#include <stddef.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

struct gw_gateway {
    struct gw_config cfg;
    struct http_client **clients; /* per worker, made on first use by that worker */
    struct gw_waker *waker;       /* requests held for a version at zero */
};

struct forward {
    struct gw_gateway *gw;
    struct http_deferred *d;
    struct http_client_req *req;
    struct gw_instance inst; /* where the request goes now */
    bool body_paused;        /* reading the client's body waits for the upstream */
    char service_id[64];
    struct gw_vstate *held; /* the version's in-flight count, taken by gw_admit() */
    /* A signed Content-MD5 of a streamed body: the last byte waits until the
     * body is known to match, so the instance never has a whole request
     * whose signature does not hold. */
    struct crypto_md5 *md5;
    char md5_want[48];
    bool has_last;
    char last;
    struct gw_mreq m; /* its metrics */
    /* What a request held for a version at zero (wake.h) keeps to go on
     * later: the upstream head, made before it waited, and the rest of what
     * the handler's request said. */
    struct gw_wait wait;
    bool waiting;
    struct buf head;
    char target[80];
    bool has_token;
    uint8_t token_hash[32];
    bool body_follows;
    long long body_length;
    char *body;
    size_t body_len;
    uv_loop_t *loop;
    unsigned worker;
    uint64_t start_ns;
};

static void forward_free(struct forward *f)
{
    if (f->waiting)
        gw_waker_remove(f->gw->waker, &f->wait);
    buf_release(&f->head);
    free(f->body);
    gw_mreq_end(&f->m);
    gw_admit_done(f->held);
    if (f->md5)
        crypto_md5_end(f->md5, NULL);
    free(f);
}

static void on_head(void *ud, int status, const struct http_header *hs, size_t n,
                    long long content_length)
{
    struct forward *f = ud;
    f->m.status = status;
    struct buf h;
    buf_init(&h, SIZE_MAX);
    gw_response_headers(&h, hs, n);
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

/* Passive health check: out of rotation for every worker until its
 * readiness probe passes again. */
static void eject(struct forward *f, const char *reason)
{
    struct gw_routes *routes = gw_table_acquire(f->gw->cfg.routes);
    if (gw_routes_eject(routes, &f->inst))
        log_warn("gateway", "instance %s:%d of %s out of rotation until its probe passes: %s",
                 f->inst.host, f->inst.port, f->service_id, reason);
    gw_routes_release(routes);
}

static int on_failover(void *ud, const char *reason, char *host, int *port)
{
    struct forward *f = ud;
    gw_mreq_failover(&f->m);
    eject(f, reason);
    struct gw_routes *routes = gw_table_acquire(f->gw->cfg.routes);
    struct gw_pick pick;
    int rc = gw_routes_pick_other(routes, f->service_id, &f->inst, &pick);
    gw_routes_release(routes);
    if (rc)
        return rc;
    f->inst = pick.inst;
    snprintf(host, 64, "%s", pick.inst.host);
    *port = pick.inst.port;
    return 0;
}

static void on_done(void *ud, int rc, const char *reason)
{
    struct forward *f = ud;
    f->req = NULL;
    if (rc == 0) {
        http_deferred_end(f->d, false);
    } else {
        gw_mreq_failed(&f->m, rc);
        log_warn("gateway", "upstream %s:%d of %s failed: %s", f->inst.host, f->inst.port,
                 f->service_id, reason);
        if (rc == ERR_AGAIN || rc == ERR_UNAVAILABLE)
            eject(f, reason);
        /* Before the head: an error response; after it: cut the connection. */
        if (rc == ERR_AGAIN)
            respond_error(f->d, 504, "did not answer in time", f->service_id, reason);
        else if (rc == ERR_SYS(ECANCELED))
            respond_error(f->d, 503, "is unavailable", f->service_id, reason);
        else
            respond_error(f->d, 502, "failed", f->service_id, reason);
    }
    forward_free(f);
}

/* The request body, piece by piece as the client sends it: never faster
 * than the upstream takes it. Reading pauses while the upstream request
 * holds more than this, so an upload stays within its share of the
 * listener's body budget (HTTP_BODY_SHARE_BYTES: this plus the piece the
 * server reads next). */
#define GW_BODY_HELD_BYTES (HTTP_BODY_SHARE_BYTES - HTTP_BODY_PIECE_BYTES)
_Static_assert(GW_BODY_HELD_BYTES >= HTTP_CLIENT_REPLAY_BYTES,
               "an upload must be able to get past the copy kept for a resend");

static void on_upstream_drained(void *arg)
{
    struct forward *f = arg;
    if (f->body_paused) {
        f->body_paused = false;
        http_deferred_resume_body(f->d);
    }
}

static void on_body_data(void *arg, const char *data, size_t len)
{
    struct forward *f = arg;
    if (!f->req)
        return;
    if (f->md5 && len) {
        crypto_md5_add(f->md5, data, len);
        if (f->has_last)
            http_client_send_body(f->req, &f->last, 1);
        f->last = data[len - 1];
        f->has_last = true;
        len--;
        if (!f->req || !len)
            return;
    }
    http_client_send_body(f->req, data, len);
    if (f->req && !f->body_paused &&
        http_client_body_congested(f->req, GW_BODY_HELD_BYTES, on_upstream_drained, f)) {
        f->body_paused = true;
        http_deferred_pause_body(f->d);
    }
}

static void on_body_end(void *arg)
{
    struct forward *f = arg;
    if (f->req && f->md5) {
        uint8_t digest[16];
        char got[48];
        crypto_md5_end(f->md5, digest);
        f->md5 = NULL;
        gw_content_md5(digest, got);
        if (strlen(got) != strlen(f->md5_want) || !crypto_equal(got, f->md5_want, strlen(got))) {
            http_client_cancel(f->req);
            f->req = NULL;
            struct http_response res = {0};
            buf_init(&res.headers, SIZE_MAX);
            buf_init(&res.body, SIZE_MAX);
            http_response_error(&res, 403, "Content-MD5 does not match the body");
            f->m.status = 403;
            http_deferred_respond(f->d, &res);
            forward_free(f);
            return;
        }
        if (f->has_last)
            http_client_send_body(f->req, &f->last, 1);
    }
    if (f->req)
        http_client_end_body(f->req);
}

static void on_cancel(void *arg)
{
    struct forward *f = arg;
    if (f->req)
        http_client_cancel(f->req);
    forward_free(f);
}

/* A forward with the upstream head of 'req' made (it does not depend on
 * the instance chosen). */
static struct forward *forward_new(struct gw_gateway *gw, struct http_request *req,
                                   struct str target, struct str rest, bool authenticated,
                                   const char *md5_want, uint64_t start_ns)
{
    struct forward *f = xcalloc(1, sizeof(*f));
    f->gw = gw;
    f->worker = req->worker;
    f->loop = http_request_loop(req);
    f->start_ns = start_ns;
    f->body_follows = req->body_follows;
    f->body_length = req->body_length;
    snprintf(f->target, sizeof(f->target), "%.*s", (int)target.len, target.ptr);
    if (md5_want) {
        f->md5 = crypto_md5_begin();
        snprintf(f->md5_want, sizeof(f->md5_want), "%s", md5_want);
    }
    struct buf *head = &f->head;
    buf_init(head, SIZE_MAX);
    buf_reserve(head, 1024);
    buf_append(head, req->method.ptr, req->method.len);
    buf_putc(head, ' ');
    buf_append(head, rest.ptr, rest.len);
    if (req->query.len) {
        buf_putc(head, '?');
        buf_append(head, req->query.ptr, req->query.len);
    }
    buf_puts(head, " HTTP/1.1\r\n");
    /* The gateway's credential is the gateway's: the instance never sees it. */
    struct http_header kept[HTTP_MAX_HEADERS];
    size_t nkept = 0;
    for (size_t i = 0; i < req->nheaders; i++)
        if (!authenticated || !str_eq_nocase(req->headers[i].name, "authorization"))
            kept[nkept++] = req->headers[i];
    gw_request_headers(head, kept, nkept, req->peer,
                       gw_proxies_match(&gw->cfg.trusted_proxies, req->peer), req->tls);
    if (!req->body_follows || req->body_length >= 0) {
        buf_puts(head, "Content-Length: ");
        http_put_uint(head, req->body_follows ? (unsigned long long)req->body_length
                                              : (unsigned long long)req->body.len);
        buf_puts(head, "\r\n");
    } else {
        buf_puts(head, "Transfer-Encoding: chunked\r\n");
    }
    buf_puts(head, "X-Forwarded-Prefix: /");
    buf_append(head, target.ptr, target.len);
    buf_puts(head, "\r\n\r\n");
    return f;
}

/* Send 'f' (deferred already) to the instance of 'pick', admitted ('held'). */
static void forward_go(struct forward *f, const struct gw_pick *pick, struct gw_vstate *held,
                       struct str body)
{
    struct gw_gateway *gw = f->gw;
    f->held = held;
    f->inst = pick->inst;
    str_copy(f->service_id, sizeof(f->service_id), pick->service_id);
    gw_mreq_begin(&f->m, held->metrics, f->worker, f->start_ns);
    if (!gw->clients[f->worker])
        gw->clients[f->worker] = http_client_new(f->loop);
    static const struct http_client_callbacks cb = {on_head, on_body, on_done, on_failover};
    uint64_t timeout_ms = pick->timeout_ms ? pick->timeout_ms : gw->cfg.upstream_timeout_ms;
    struct str h = {f->head.ptr, f->head.len};
    /* No callback runs before these return, so f->req is set before on_done clears it. */
    if (f->body_follows) {
        f->req =
            http_client_request_stream(gw->clients[f->worker], pick->inst.host, pick->inst.port, h,
                                       f->body_length < 0, timeout_ms, &cb, f);
        http_deferred_read_body(f->d, on_body_data, on_body_end, f);
    } else {
        f->req = http_client_request(gw->clients[f->worker], pick->inst.host, pick->inst.port, h,
                                     body, timeout_ms, &cb, f);
    }
    buf_release(&f->head);
}

static void wait_answer(struct forward *f, int status, const char *msg)
{
    struct http_response res = {0};
    buf_init(&res.headers, SIZE_MAX);
    buf_init(&res.body, SIZE_MAX);
    f->m.status = status;
    http_response_error(&res, status, "%s", msg);
    http_deferred_respond(f->d, &res);
    forward_free(f);
}

/* A request for a version at zero: held until an instance is ready. */
static void hold(struct gw_gateway *gw, struct http_request *req, struct gw_routes *routes,
                 struct gw_group *g, struct gw_version *want, const struct gw_version *counted,
                 const struct gw_token *token, struct str target, struct str rest,
                 bool authenticated, const char *md5_want, uint64_t start_ns)
{
    struct forward *f = forward_new(gw, req, target, rest, authenticated, md5_want, start_ns);
    if (token) {
        f->has_token = true;
        memcpy(f->token_hash, token->hash, sizeof(f->token_hash));
    }
    if (!req->body_follows && req->body.len) {
        f->body = xmalloc(req->body.len);
        memcpy(f->body, req->body.ptr, req->body.len);
        f->body_len = req->body.len;
    }
    str_copy(f->wait.service_id, sizeof(f->wait.service_id), counted->service_id);
    f->wait.bytes = sizeof(*f) + f->head.cap + f->body_len;
    gw_waker_wake(gw->waker, g, want);
    f->d = http_request_defer(req, on_cancel, f);
    if (gw_waker_hold(gw->waker, &f->wait, req->worker, f->loop) != 0) {
        gw_metrics_refused(g, want, req->worker, 503);
        gw_routes_release(routes);
        char msg[200];
        snprintf(msg, sizeof(msg),
                 "'%s' is starting an instance and too many requests wait for one already (%d "
                 "requests or %u bytes in all)",
                 f->target, GW_WAKE_MAX_REQUESTS, GW_WAKE_MAX_BYTES);
        wait_answer(f, 503, msg);
        return;
    }
    gw_routes_release(routes);
    f->waiting = true;
}

static const struct gw_token *find_token(const struct gw_group *g, const uint8_t hash[32])
{
    for (size_t i = 0; i < g->ntokens; i++)
        if (memcmp(g->tokens[i].hash, hash, 32) == 0)
            return &g->tokens[i];
    return NULL;
}

static enum gw_wait_result wait_retry(struct gw_wait *w, void *ud)
{
    (void)ud;
    struct forward *f = (struct forward *)((char *)w - offsetof(struct forward, wait));
    f->waiting = false;
    struct gw_routes *routes = gw_table_acquire(f->gw->cfg.routes);
    struct gw_version *want;
    struct gw_group *g = gw_routes_find(routes, str_from(f->target), &want);
    struct gw_pick pick;
    int rc = g ? gw_routes_pick_in(g, want, &pick) : ERR_NOTFOUND;
    const struct gw_version *counted;
    if (rc == ERR_UNAVAILABLE && gw_waker_wants(g, want, &counted)) {
        gw_routes_release(routes);
        f->waiting = true;
        return GW_WAIT_AGAIN;
    }
    if (rc) {
        if (g)
            gw_metrics_refused(g, want, f->worker, 503);
        gw_routes_release(routes);
        char msg[200];
        snprintf(msg, sizeof(msg), "'%s' %s", f->target,
                 rc == ERR_NOTFOUND ? "went away while the request waited for an instance"
                                    : "has no ready instance and is no longer woken by requests");
        wait_answer(f, rc == ERR_NOTFOUND ? 404 : 503, msg);
        return GW_WAIT_DONE;
    }
    const struct gw_token *token = f->has_token ? find_token(g, f->token_hash) : NULL;
    if (f->has_token && !token) {
        gw_metrics_refused(g, pick.version, f->worker, 403);
        gw_routes_release(routes);
        wait_answer(f, 403, "the token of this request was removed while it waited");
        return GW_WAIT_DONE;
    }
    struct gw_admission adm = {0};
    gw_admit(g, pick.version, token, gw_now_ns(), &adm);
    if (adm.status)
        gw_metrics_refused(g, pick.version, f->worker, adm.status);
    gw_routes_release(routes);
    if (adm.status) {
        wait_answer(f, adm.status, adm.reason);
        return GW_WAIT_DONE;
    }
    forward_go(f, &pick, adm.held, (struct str){f->body, f->body_len});
    return GW_WAIT_DONE;
}

static void wait_expired(struct gw_wait *w, void *ud)
{
    struct gw_gateway *gw = ud;
    struct forward *f = (struct forward *)((char *)w - offsetof(struct forward, wait));
    f->waiting = false;
    struct gw_routes *routes = gw_table_acquire(gw->cfg.routes);
    struct gw_version *want;
    struct gw_group *g = gw_routes_find(routes, str_from(f->target), &want);
    if (g)
        gw_metrics_refused(g, want, f->worker, 503);
    gw_routes_release(routes);
    char msg[160];
    snprintf(msg, sizeof(msg),
             "'%s' is scaled to zero and no instance became ready within %llu ms of waiting",
             f->target, (unsigned long long)gw->cfg.wake_timeout_ms);
    wait_answer(f, 503, msg);
}

void gw_handle(struct http_request *req, struct http_response *res, void *ud)
{
    struct gw_gateway *gw = ud;
    uint64_t start_ns = gw_now_ns();
    /* /<target>/<rest> */
    struct str path = req->path;
    if (path.len < 2 || path.ptr[0] != '/') {
        gw_metrics_answer(gw->cfg.unrouted, req->worker, 404);
        http_response_error(res, 404, "no service in path '%.*s'; use /<ServiceGroupId>/<path>",
                            (int)path.len, path.ptr);
        return;
    }
    const char *slash = memchr(path.ptr + 1, '/', path.len - 1);
    struct str target = {path.ptr + 1, slash ? (size_t)(slash - path.ptr - 1) : path.len - 1};
    struct str rest =
        slash ? (struct str){slash, path.len - (size_t)(slash - path.ptr)} : STR_LIT("/");
    struct gw_routes *routes = gw_table_acquire(gw->cfg.routes);
    struct gw_version *want;
    struct gw_group *g = gw_routes_find(routes, target, &want);
    if (!g) {
        gw_routes_release(routes);
        gw_metrics_answer(gw->cfg.unrouted, req->worker, 404);
        http_response_error(res, 404, "no service group or service '%.*s'", (int)target.len,
                            target.ptr);
        return;
    }
    /* Who calls before what is there: an unauthenticated caller learns
     * nothing of the group's versions or instances. */
    const struct gw_token *token = NULL;
    bool authenticated = g->auth, md5_pending = false;
    char md5_want[48] = "";
    if (g->auth) {
        struct gw_credentials cred = gw_group_credentials(g);
        struct gw_auth_result ar;
        gw_authenticate(&cred, req, time(NULL), &ar);
        if (ar.status) {
            if (ar.status == 401)
                buf_printf(&res->headers, "WWW-Authenticate: Bearer realm=\"%s\"\r\n", g->id);
            gw_metrics_refused(g, want, req->worker, ar.status);
            gw_routes_release(routes);
            http_response_error(res, ar.status, "%s", ar.reason);
            return;
        }
        token = ar.token;
        md5_pending = ar.md5_pending;
        if (md5_pending)
            snprintf(md5_want, sizeof(md5_want), "%s", ar.md5);
    }
    struct gw_pick pick;
    int rc = gw_routes_pick_in(g, want, &pick);
    const struct gw_version *counted;
    if (rc == ERR_UNAVAILABLE && gw->waker && gw_waker_wants(g, want, &counted)) {
        hold(gw, req, routes, g, want, counted, token, target, rest, authenticated,
             md5_pending ? md5_want : NULL, start_ns);
        return;
    }
    struct gw_admission adm = {0};
    if (rc == 0)
        gw_admit(g, pick.version, token, start_ns, &adm);
    if (rc || adm.status)
        gw_metrics_refused(g, rc ? want : pick.version, req->worker, rc ? 503 : adm.status);
    bool at_zero = rc && gw_routes_at_zero(g, want);
    gw_routes_release(routes);
    if (rc) {
        http_response_error(res, 503,
                            at_zero ? "'%.*s' is scaled to zero by its schedule (CronScaleJobs): "
                                      "it runs no instance until its next window"
                                    : "'%.*s' has no ready instance",
                            (int)target.len, target.ptr);
        return;
    }
    if (adm.status) {
        buf_printf(&res->headers, "Retry-After: %u\r\n", adm.retry_s);
        http_response_error(res, adm.status, "%s", adm.reason);
        return;
    }

    struct forward *f =
        forward_new(gw, req, target, rest, authenticated, md5_pending ? md5_want : NULL, start_ns);
    f->d = http_request_defer(req, on_cancel, f);
    forward_go(f, &pick, adm.held, req->body);
}

void gw_worker_stop(unsigned worker, void *ud)
{
    struct gw_gateway *gw = ud;
    gw_waker_worker_stop(gw->waker, worker);
    /* Requests still in flight end here, answered 503; the connections the
     * server closes next have nothing left to cancel. */
    http_client_free(gw->clients[worker]);
    gw->clients[worker] = NULL;
}

struct gw_gateway *gw_new(const struct gw_config *cfg)
{
    struct gw_gateway *gw = xcalloc(1, sizeof(*gw));
    gw->cfg = *cfg;
    gw->clients = xcalloc(cfg->num_threads ? cfg->num_threads : 1, sizeof(*gw->clients));
    if (!gw->cfg.wake_timeout_ms)
        gw->cfg.wake_timeout_ms = GW_WAKE_TIMEOUT_MS_DEFAULT;
    if (cfg->wake)
        gw->waker = gw_waker_new(&(struct gw_waker_config){.num_threads = cfg->num_threads,
                                                           .timeout_ms = gw->cfg.wake_timeout_ms,
                                                           .routes = cfg->routes,
                                                           .retry = wait_retry,
                                                           .expired = wait_expired,
                                                           .ud = gw,
                                                           .wake = cfg->wake,
                                                           .wake_ud = cfg->wake_ud});
    return gw;
}

unsigned gw_held(struct gw_gateway *gw, const char *service_id)
{
    return gw ? gw_waker_held(gw->waker, service_id) : 0;
}

void gw_free(struct gw_gateway *g)
{
    if (!g)
        return;
    gw_waker_free(g->waker);
    free(g->clients);
    free(g);
}
