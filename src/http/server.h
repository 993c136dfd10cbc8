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
#include "http/access.h"

#define HTTP_MAX_HEADERS 64

struct http_tls;

struct http_header {
    struct str name, value;
};

struct http_request {
    struct str method; /* "GET", "POST", ... */
    struct str path;   /* raw path, before any '?' */
    struct str query;  /* after '?', without it; empty if none */
    struct http_header headers[HTTP_MAX_HEADERS];
    size_t nheaders;
    struct str body;       /* empty while body_follows */
    bool body_follows;     /* cfg.stream_bodies: the body comes after the handler runs */
    long long body_length; /* with body_follows: its Content-Length, or -1 when chunked */
    uint64_t id;           /* unique within the process, for log lines */
    const char *peer;      /* the client's address, e.g. "127.0.0.1" */
    unsigned worker;       /* index of the worker thread running the handler */
    bool tls;              /* it came over HTTPS */
    struct arena *arena;   /* freed when the handler returns */
    void *conn;            /* the server's own; see http_request_defer() */
};

struct http_response {
    int status;
    const char *content_type; /* default application/json */
    struct buf headers;       /* extra "Name: value\r\n" lines */
    struct buf body;
    bool close; /* close the connection after this response */
};

/* Runs on a worker thread. Fill 'res'; its buffers are owned by the server.
 * The server sends no body in the answer to a HEAD request (whatever the
 * handler put there), but keeps the Content-Length of the body. */
typedef void (*http_handler_fn)(struct http_request *req, struct http_response *res, void *ud);

/* Called on each worker's thread as the server stops, after every
 * connection of the worker has been closed (so after every on_cancel of its
 * deferred requests has run) and before its loop ends: release what the
 * handler keeps per worker. No handler or callback of that worker runs
 * after it. */
typedef void (*http_worker_stop_fn)(unsigned worker, void *ud);

/* Fill 'res' with an error the server itself answers (400 malformed, 408,
 * 413, 414, 431, 501, 503 busy): the status and message; the server adds
 * "Connection: close". Runs on any of the server's threads, so it must be
 * thread-safe. Without it the body is {"error": "<message>"}. */
typedef void (*http_error_fn)(struct http_response *res, int status, const char *msg, void *ud);

struct http_server_config {
    const char *host;
    int port; /* 0 picks a free port; see http_server_port() */
    unsigned num_threads;
    uint64_t timeout_ms;   /* a request must arrive whole within this; idle connections close */
    size_t max_body_bytes; /* larger bodies get 413 */
    http_handler_fn handler;
    void *ud;
    http_worker_stop_fn worker_stop; /* optional */
    http_error_fn error_format;      /* optional; gets 'ud' */
    /* Connections open at once; one more is answered 503 and closed. 0: no cap. */
    size_t max_connections;
    /* Request-body bytes held at once across all connections: whole bodies
     * of requests being read or handled, and a share of
     * HTTP_BODY_SHARE_BYTES per streamed body being read (see "Streaming
     * request bodies"). A request whose body would pass it is answered 503
     * before its body is read. 0: no cap. */
    size_t body_budget_bytes;
    /* On http_server_stop, how long requests in flight may go on before their
     * connections are closed; 0 closes at once. */
    uint64_t drain_timeout_ms;
    /* Run the handler when the head is complete, before the body: see
     * "Streaming request bodies" below. */
    bool stream_bodies;
    /* Hand HEAD requests to the handler as GET: the answer keeps GET's
     * headers and Content-Length, and the server drops its body. Off, the
     * handler sees HEAD (a proxy forwards it as it is). */
    bool head_as_get;
    /* Log each answered request there (access.h); NULL: no access log. */
    const struct http_access_log *access_log;
    /* HTTPS with these settings (see http/tls.h; the caller's, alive until
     * the server has stopped); NULL: plain HTTP. */
    struct http_tls *tls;
    /* A listening socket to serve on (inherited: berthd/takeover.h) instead
     * of binding host:port; 0: bind. The server owns it from the start. */
    int listen_fd;
};

struct http_server;

/* Bind, listen and start the workers; accepting runs on 'loop' (the caller's).
 * On success *out owns the server; stop it with http_server_stop(). */
int http_server_start(uv_loop_t *loop, const struct http_server_config *cfg,
                      struct http_server **out, struct err *err);
int http_server_port(const struct http_server *s);
/* The listening socket, to hand to a successor before shutting down; -1
 * once shut down. */
int http_server_listen_fd(const struct http_server *s);
/* Begin to stop, without waiting: close the listening socket (new clients are
 * refused), close idle connections, and let each request in flight finish
 * (its connection then closes) for at most cfg.drain_timeout_ms; what is left
 * then is closed, cancelling deferred requests (on_cancel runs). Then
 * worker_stop runs on each worker. Call it on several servers, then stop
 * each, to drain them at the same time. Main thread only; accepts NULL and
 * a second call. */
void http_server_shutdown(struct http_server *s);
/* http_server_shutdown(), then wait for the workers (at most about
 * cfg.drain_timeout_ms) and free 's'. Must be called on the thread running
 * 'loop'. Accepts NULL. */
void http_server_stop(struct http_server *s);

/* Raise the soft limit on open descriptors (RLIMIT_NOFILE) to the hard
 * limit, for a server with many connections. Returns the soft limit now in
 * force. Call once at start-up, before threads start. */
unsigned long http_raise_fd_limit(void);

/* ------------------------------------------------------------------------ */
/* Deferred responses: a handler that must wait (a proxy) takes the request
 * over. It copies what it needs from 'req' (which dies when the handler
 * returns), leaves 'res' alone, and answers later on the same worker thread
 * with http_deferred_respond(), or streams with head/body/end. The connection
 * reads nothing more until then, so pipelined requests stay in order. */

struct http_deferred;

/* Called if the client goes away (or the server stops, or a streamed body
 * turns out malformed, too large or too slow) before the answer has ended;
 * after it the deferred object is gone and must not be used. The server
 * answers the client itself when no head was sent yet. */
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
#define HTTP_DEFERRED_HIGH_BYTES (64 * 1024)
bool http_deferred_congested(struct http_deferred *d, void (*on_drain)(void *arg), void *arg);
/* Ends the response and the deferral; with 'abort' the connection is closed
 * instead (the upstream failed after the head was sent). */
void http_deferred_end(struct http_deferred *d, bool abort);

/* ------------------------------------------------------------------------ */
/* Streaming request bodies. With cfg.stream_bodies the handler of a request
 * that has a body (req->body_follows; req->body_length says how long, -1 for
 * chunked) runs as soon as the head is complete. Requests without a body
 * are handled as always.
 *
 * - A handler that answers at once leaves the body to the server, which
 *   reads and drops it, then goes on with the next request (or closes, if
 *   the client waits for "100 Continue").
 * - A handler that defers owns the body: nothing of it is read until it
 *   calls http_deferred_read_body() (which also sends "100 Continue" when the
 *   client asked for it). Then on_data gets each piece as it arrives
 *   (chunked coding removed; the view lives for the call), and on_end runs
 *   once after the last piece. Callbacks run on the worker's thread, never
 *   inside http_deferred_read_body() or http_deferred_resume_body(). For a
 *   request without a body to stream (body_follows false) on_end alone runs,
 *   so a proxy may call it for every request.
 * - Flow control: http_deferred_pause_body() stops reading from the client
 *   (no on_data runs until http_deferred_resume_body()); the request timeout
 *   does not run while paused. At most HTTP_BODY_PIECE_BYTES are held per
 *   connection meanwhile.
 * - Between pieces the client has cfg.timeout_ms to send more; a slow,
 *   malformed (400) or too large (413, cfg.max_body_bytes) body, or a client
 *   that goes away, cancels the deferral: on_cancel runs, instead of on_end.
 * - The answer may start, or end, before the body is whole. If it ends
 *   first, no callback runs for the rest of the body: the server reads and
 *   drops it before the next request.
 * - Budget: from http_deferred_read_body() until the deferral ends, a
 *   streamed body holds a fixed share of cfg.body_budget_bytes,
 *   HTTP_BODY_SHARE_BYTES, whatever its length; when no share is left the
 *   request is answered 503 before any byte of its body is read (on_cancel
 *   runs, from the loop). The share covers the piece the server holds
 *   (at most HTTP_BODY_PIECE_BYTES, read only while the reader does not
 *   pause) and what the reader keeps of the body: a reader must pause
 *   whenever it keeps more than HTTP_BODY_SHARE_BYTES - HTTP_BODY_PIECE_BYTES
 *   (the gateway: what waits for the upstream and the copy for a resend)
 *   and resume when it keeps at most that. So every admitted body can
 *   always take one more piece once its reader has passed on the last one,
 *   no body waits on another's, and the bytes all streamed bodies hold stay
 *   within the budget. */
#define HTTP_BODY_PIECE_BYTES (16 * 1024)
#define HTTP_BODY_SHARE_BYTES (HTTP_BODY_PIECE_BYTES + 64 * 1024)
typedef void (*http_body_data_fn)(void *arg, const char *data, size_t len);
typedef void (*http_body_end_fn)(void *arg);
void http_deferred_read_body(struct http_deferred *d, http_body_data_fn on_data,
                             http_body_end_fn on_end, void *arg);
void http_deferred_pause_body(struct http_deferred *d);
void http_deferred_resume_body(struct http_deferred *d);

/* The CPUs this process may run on (its affinity mask), at least 1: the
 * default number of worker threads. */
unsigned http_usable_cpus(void);

/* Header value by case-insensitive name, or an empty view with ptr NULL. */
struct str http_request_header(const struct http_request *req, const char *name);
const char *http_status_text(int status);
/* Append the decimal digits of 'v' (for header values, without printf). */
int http_put_uint(struct buf *b, unsigned long long v);
/* Set status and a protocol error body {"error": "<message>"}. */
void http_response_error(struct http_response *res, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
