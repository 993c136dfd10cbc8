/* api.c - request dispatch: TF Serving under /v1, the Open Inference Protocol
 * under /v2, metrics, and one metrics record per request. */
#include "serve/api.h"
#include "base/log.h"
#include "serve/metrics.h"

#include <time.h>

int serve_predict(struct arena *a, struct serve_version *v, enum serve_output kind,
                  const float *rows, size_t nrows, float **out, size_t *width, struct err *err)
{
    size_t w = kind == SERVE_OUT_PROBA ? v->sig.num_classes : v->sig.output_width;
    float *res = arena_alloc(a, nrows * w * sizeof(float));
    int rc = v->backend->predict(v->handle, kind, rows, nrows, res, err);
    if (rc)
        return rc;
    *out = res;
    *width = w;
    return 0;
}

int serve_infer(struct arena *a, struct serve_version *v, const struct serve_tensor *in,
                struct serve_tensor **out, struct err *err)
{
    struct serve_tensor *res = arena_calloc(a, v->sig.noutputs, sizeof(*res));
    int rc = v->backend->infer(v->handle, in, a, res, err);
    if (rc)
        return rc;
    *out = res;
    return 0;
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void serve_api_worker_stop(unsigned worker, void *ud)
{
    (void)worker;
    (void)ud;
    for (const struct serve_backend *const *b = serve_backends; *b; b++)
        (*b)->thread_done();
}

void serve_api_handle(struct http_request *req, struct http_response *res, void *ud)
{
    struct serve_api *api = ud;
    double t0 = now_seconds();
    struct serve_call call = {.model = "", .version = 0, .api = NULL};
    struct serve_snapshot *snap = serve_repo_acquire(api->repo);

    if (str_has_prefix(req->path, "/v2") || str_eq_cstr(req->path, "/v2")) {
        serve_v2_handle(snap, req, res, &call);
    } else if (req->path.len >= 4 && str_eq_nocase((struct str){req->path.ptr, 4}, "/v1/")) {
        serve_tfs_handle(snap, req, res, &call);
    } else if (str_eq_cstr(req->path, "/metrics") ||
               str_eq_cstr(req->path, "/monitoring/prometheus/metrics")) {
        if (!str_eq_cstr(req->method, "GET") && !str_eq_cstr(req->method, "HEAD")) {
            http_response_error(res, 405, "%.*s is not allowed on %.*s; use GET",
                                (int)req->method.len, req->method.ptr, (int)req->path.len,
                                req->path.ptr);
        } else {
            res->content_type = "text/plain; version=0.0.4; charset=utf-8";
            serve_metrics_render(&res->body, snap);
        }
    } else {
        http_response_error(res, 404, "no such endpoint: %.*s %.*s", (int)req->method.len,
                            req->method.ptr, (int)req->path.len, req->path.ptr);
    }
    if (call.api)
        serve_metrics_record(call.model, call.version, call.api, res->status, now_seconds() - t0);
    if (res->status >= 500)
        log_error("api", "%.*s %.*s status=%d req=%llu", (int)req->method.len, req->method.ptr,
                  (int)req->path.len, req->path.ptr, res->status, (unsigned long long)req->id);
    else
        log_debug("api", "%.*s %.*s status=%d req=%llu", (int)req->method.len, req->method.ptr,
                  (int)req->path.len, req->path.ptr, res->status, (unsigned long long)req->id);
    serve_snapshot_release(snap);
}
