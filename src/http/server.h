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
    const char *peer;    /* the client's address, e.g. "127.0.0.1" */
    unsigned worker;     /* index of the worker thread running the handler */
    struct arena *arena; /* freed when the handler returns */
    void *conn;          /* the server's own; see http_request_defer() */
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

/* Called on each worker's thread as the server stops, before it closes the
 * worker's connections: release what the handler keeps per worker. */
typedef void (*http_worker_stop_fn)(unsigned worker, void *ud);

struct http_server_config {
    const char *host;
    int port; /* 0 picks a free port; see http_server_port() */
    unsigned num_threads;
    uint64_t timeout_ms;   /* a request must arrive whole within this; idle connections close */
    size_t max_body_bytes; /* larger bodies get 413 */
    http_handler_fn handler;
    void *ud;
    http_worker_stop_fn worker_stop; /* optional */
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

/* ------------------------------------------------------------------------ */
/* Deferred responses: a handler that must wait (a proxy) takes the request
 * over. It copies what it needs from 'req' (which dies when the handler
 * returns), leaves 'res' alone, and answers later on the same worker thread
 * with http_deferred_respond(), or streams with head/body/end. The connection
 * reads nothing more until then, so pipelined requests stay in order. */

struct http_deferred;

/* Called if the client goes away (or the server stops) before the answer;
 * after it the deferred object is gone and must not be used. */
typedef void (*http_cancel_fn)(void *arg);

struct http_deferred *http_request_defer(struct http_request *req, http_cancel_fn on_cancel,
                                         void *arg);
uv_loop_t *http_request_loop(const struct http_request *req);
/* A whole response (takes its buffers); ends the deferral. */
void http_deferred_respond(struct http_deferred *d, struct http_response *res);
/* Stream: the status line and 'headers' ("Name: value\r\n" lines, without
 * Content-Length, Transfer-Encoding or Connection); content_length < 0 means
 * unknown (chunked for HTTP/1.1 clients, close-delimited for HTTP/1.0). */
void http_deferred_head(struct http_deferred *d, int status, struct str headers,
                        long long content_length);
void http_deferred_body(struct http_deferred *d, const void *data, size_t len);
/* Whether the client is reading slower than the body is produced (more than
 * HTTP_DEFERRED_HIGH_BYTES wait to be sent). If so, stop producing and let
 * 'on_drain' (called once, when half of it has gone out) say when to go on. */
#define HTTP_DEFERRED_HIGH_BYTES (1024 * 1024)
bool http_deferred_congested(struct http_deferred *d, void (*on_drain)(void *arg), void *arg);
/* Ends the response and the deferral; with 'abort' the connection is closed
 * instead (the upstream failed after the head was sent). */
void http_deferred_end(struct http_deferred *d, bool abort);

/* The CPUs this process may run on (its affinity mask), at least 1: the
 * default number of worker threads. */
unsigned http_usable_cpus(void);

/* Header value by case-insensitive name, or an empty view with ptr NULL. */
struct str http_request_header(const struct http_request *req, const char *name);
const char *http_status_text(int status);
/* Set status and a protocol error body {"error": "<message>"}. */
void http_response_error(struct http_response *res, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
