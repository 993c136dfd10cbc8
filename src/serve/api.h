/* api.h - berth-serve's REST surface: the request handler the HTTP server
 * calls, and the two protocol modules it dispatches to. */
#ifndef BERTH_SERVE_API_H
#define BERTH_SERVE_API_H

#include <stdint.h>

#include "http/server.h"
#include "serve/repo.h"

struct serve_api {
    struct serve_repo *repo;
};

/* What a request addressed, for metrics: filled by the protocol handlers. */
struct serve_call {
    const char *model; /* a known model's name, else "" */
    int64_t version;
    const char *api; /* "predict", "classify", "regress", "infer", "metadata", "status", ... */
};

/* The http_handler_fn; 'ud' is a struct serve_api. */
void serve_api_handle(struct http_request *req, struct http_response *res, void *ud);
/* The http_worker_stop_fn: what the worker's thread kept for predicting goes. */
void serve_api_worker_stop(unsigned worker, void *ud);

void serve_tfs_handle(const struct serve_snapshot *snap, struct http_request *req,
                      struct http_response *res, struct serve_call *call);
void serve_v2_handle(const struct serve_snapshot *snap, struct http_request *req,
                     struct http_response *res, struct serve_call *call);

/* Shared by both protocols: run the backend, into arena memory. */
int serve_predict(struct arena *a, struct serve_version *v, enum serve_output kind,
                  const float *rows, size_t nrows, float **out, size_t *width, struct err *err);

/* Tensor backends: run v's infer() on sig.ninputs tensors; *out gets
 * sig.noutputs tensors, in arena memory. */
int serve_infer(struct arena *a, struct serve_version *v, const struct serve_tensor *in,
                struct serve_tensor **out, struct err *err);

#endif
