/* server.h - HTTP/1.1 server: one accepting thread and N worker threads, each
 * with its own libuv loop. A connection belongs to one worker for its life;
 * the handler runs on that worker's thread, synchronously, so a slow handler
 * delays only the connections of its own worker, and pipelined requests are
 * answered in order. Requests are parsed with llhttp and capped in size. */
#ifndef BERTH_HTTP_SERVER_H
#define BERTH_HTTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "base/arena.h"
#include "base/buf.h"
#include "base/err.h"

#define HTTP_MAX_HEADERS 64

struct http_header {
    struct str name, value;
};

struct http_request {
    struct str method; /* "GET", "POST", ... */
    struct str path;   /* raw path, before any '?' */
    struct str query;  /* after '?', without it; empty if none */
    struct http_header headers[HTTP_MAX_HEADERS];
    size_t nheaders;
    struct str body;
    uint64_t id;         /* unique within the process, for log lines */
    unsigned worker;     /* index of the worker thread running the handler */
    struct arena *arena; /* freed when the response has been queued */
};

struct http_response {
    int status;
    const char *content_type; /* default application/json */
    struct buf headers;       /* extra "Name: value\r\n" lines */
    struct buf body;
    bool close; /* close the connection after this response */
};

/* Runs on a worker thread. Fill 'res'; its buffers are owned by the server. */
typedef void (*http_handler_fn)(struct http_request *req, struct http_response *res, void *ud);

struct http_server_config {
    const char *host;
    int port; /* 0 picks a free port; see http_server_port() */
    unsigned num_threads;
    uint64_t timeout_ms;   /* a request must arrive whole within this; idle connections close */
    size_t max_body_bytes; /* larger bodies get 413 */
    http_handler_fn handler;
    void *ud;
};

struct http_server;

/* Bind, listen and start the workers; accepting runs on 'loop' (the caller's).
 * On success *out owns the server; stop it with http_server_stop(). */
int http_server_start(uv_loop_t *loop, const struct http_server_config *cfg,
                      struct http_server **out, struct err *err);
int http_server_port(const struct http_server *s);
/* Stop accepting, close every connection, join the workers and free 's'.
 * Must be called on the thread running 'loop'. Accepts NULL. */
void http_server_stop(struct http_server *s);

/* Header value by case-insensitive name, or an empty view with ptr NULL. */
struct str http_request_header(const struct http_request *req, const char *name);
const char *http_status_text(int status);
/* Set status and a protocol error body {"error": "<message>"}. */
void http_response_error(struct http_response *res, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
