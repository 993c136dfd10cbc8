/* gateway.h - the data plane inside berthd: /<ServiceGroupId>/<path> goes to
 * a ready instance of the group (a version chosen by weight), and
 * /<ServiceId>/<path> to that version; the prefix is stripped, requests go
 * over pooled keep-alive upstream connections and responses stream back.
 * Instances that fail are ejected until their probe passes (routes.h).
 * Its own errors use the inference protocols' {"error": "..."} body. */
#ifndef BERTH_GATEWAY_H
#define BERTH_GATEWAY_H

#include <stdint.h>

#include "gateway/headers.h"
#include "gateway/routes.h"
#include "http/server.h"

struct gw_gateway;

struct gw_config {
    struct gw_table *routes;
    unsigned num_threads;              /* of the HTTP server it serves on */
    uint64_t upstream_timeout_ms;      /* for versions that set none */
    struct gw_proxies trusted_proxies; /* whose forwarding fields are kept (not owned) */
    struct gw_mset *unrouted;          /* counts requests that name no group (not owned) */
    /* Scale from zero (wake.h): called, from any thread, when a request waits
     * for a wakeable version at zero; NULL: such requests get 503 at once. */
    void (*wake)(const char *service_id, void *wake_ud);
    void *wake_ud;
    uint64_t wake_timeout_ms; /* how long a request waits; 0: GW_WAKE_TIMEOUT_MS_DEFAULT */
};

struct gw_gateway *gw_new(const struct gw_config *cfg);
void gw_free(struct gw_gateway *g);
/* The HTTP server's handler and worker-stop hook; 'ud' is the gateway. */
void gw_handle(struct http_request *req, struct http_response *res, void *ud);
void gw_worker_stop(unsigned worker, void *ud);
/* Requests waiting now for an instance of 'service_id' (wake.h). Any thread. */
unsigned gw_held(struct gw_gateway *gw, const char *service_id);

#endif
