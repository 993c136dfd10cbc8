/* client.h - an HTTP/1.1 client for one libuv loop, with keep-alive
 * connection pools per upstream address: what the gateway forwards with.
 * Responses stream: the head, then body pieces, then done. Not thread-safe:
 * one client per loop, used on that loop's thread. */
#ifndef BERTH_HTTP_CLIENT_H
#define BERTH_HTTP_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "base/buf.h"
#include "http/server.h"

struct http_client;
struct http_client_req;

struct http_client_callbacks {
    /* The status and headers; content_length is -1 when the body is chunked
     * or runs to the end of the connection. Header views live for the call. */
    void (*on_head)(void *ud, int status, const struct http_header *headers, size_t nheaders,
                    long long content_length);
    void (*on_body)(void *ud, const char *data, size_t len);
    /* Last call for a request: 0 when the response is whole, else a negative
     * ERR_* (ERR_UNAVAILABLE: could not connect or the upstream closed;
     * ERR_AGAIN: timed out) with a reason. */
    void (*on_done)(void *ud, int rc, const char *reason);
};

struct http_client *http_client_new(uv_loop_t *loop);
/* Close every connection; requests in flight are cancelled without callbacks. */
void http_client_free(struct http_client *cl);

/* Send 'head' (request line and headers, ending with an empty line) and
 * 'body' to 127.0.0.1:port (or host:port). The client copies both. A request
 * on a reused connection that fails before any response byte is retried once
 * on a new connection. 'timeout_ms' bounds the whole exchange. Callbacks
 * never run before this returns. */
struct http_client_req *http_client_request(struct http_client *cl, const char *host, int port,
                                            struct str head, struct str body, uint64_t timeout_ms,
                                            const struct http_client_callbacks *cb, void *ud);
/* Stop reading the response (the client it goes to is slow), and go on. */
void http_client_pause(struct http_client_req *r);
void http_client_resume(struct http_client_req *r);
/* Abandon a request: no more callbacks; its connection is closed. */
void http_client_cancel(struct http_client_req *r);

#endif
