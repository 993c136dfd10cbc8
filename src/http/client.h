/* client.h - an HTTP/1.1 client for one libuv loop, with keep-alive
 * connection pools per upstream address: what the gateway forwards with.
 * Responses stream: the head, then body pieces, then done. Not thread-safe:
 * one client per loop, used on that loop's thread. */
#ifndef BERTH_HTTP_CLIENT_H
#define BERTH_HTTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "base/buf.h"
#include "http/server.h"

struct http_client;
struct http_client_req;

struct http_client_callbacks {
    /* The status and headers; content_length is -1 when the body is chunked
     * or runs to the end of the connection. Header views live for the call.
     * Malformed responses (a field name that is not a token, a value with
     * CR, LF, NUL or another control byte, obs-fold) never get here. */
    void (*on_head)(void *ud, int status, const struct http_header *headers, size_t nheaders,
                    long long content_length);
    void (*on_body)(void *ud, const char *data, size_t len);
    /* Last call for a request: 0 when the response is whole, else a negative
     * ERR_* with a reason: ERR_UNAVAILABLE (could not connect, or the
     * upstream closed or reset the connection), ERR_AGAIN (timed out),
     * ERR_INVALID (a malformed response), ERR_SYS(ECANCELED) (the client
     * was freed with the request in flight). */
    void (*on_done)(void *ud, int rc, const char *reason);
    /* Optional. The request did not reach host:port (the connection was
     * refused, or failed before it was established) and may go elsewhere:
     * fill 'host' (64 bytes) and '*port' with another address and return
     * 0 to send it there, once; anything else gives up and on_done follows. */
    int (*on_failover)(void *ud, const char *reason, char *host, int *port);
};

struct http_client *http_client_new(uv_loop_t *loop);
/* Close every connection. Requests in flight end at once with
 * on_done(ERR_SYS(ECANCELED)); none may be started from that callback. */
void http_client_free(struct http_client *cl);

/* Send 'head' (request line and headers without Host, ending with an empty
 * line) and 'body' to host:port; the client adds "Host: host:port" for the
 * address it sends to. The client copies both. A request on a reused
 * connection that fails before any response byte is retried once on a new
 * connection (the upstream may have closed it while idle). 'timeout_ms'
 * bounds the whole exchange, retries included. Callbacks never run before
 * this returns. */
struct http_client_req *http_client_request(struct http_client *cl, const char *host, int port,
                                            struct str head, struct str body, uint64_t timeout_ms,
                                            const struct http_client_callbacks *cb, void *ud);
/* Like http_client_request(), with the body to follow in pieces through
 * http_client_send_body() and http_client_end_body(). 'head' frames it:
 * Content-Length, or with 'chunked' "Transfer-Encoding: chunked", and the
 * client then chunk-encodes the pieces. A body of at most
 * HTTP_CLIENT_REPLAY_BYTES is kept until the request ends, so the retry
 * and failover above still apply; past that, bytes that went out are
 * dropped, and a request that has sent any is never sent again. The answer
 * may come before the body is whole; then the rest is not sent. While the
 * body goes out, 'timeout_ms' counts from the last time the upstream took
 * some of it, then from the end of the body. The head goes out with the
 * first piece of the body, so both take one write, or, when none comes in
 * this turn of the loop, before the loop next waits. */
#define HTTP_CLIENT_REPLAY_BYTES (64 * 1024)
struct http_client_req *http_client_request_stream(struct http_client *cl, const char *host,
                                                   int port, struct str head, bool chunked,
                                                   uint64_t timeout_ms,
                                                   const struct http_client_callbacks *cb,
                                                   void *ud);
/* Copies 'data'. Ignored once the request is done. */
void http_client_send_body(struct http_client_req *r, const void *data, size_t len);
void http_client_end_body(struct http_client_req *r);
/* Whether the request holds more than 'limit' bytes of the body: the copy
 * kept for a resend, what waits to go out (not connected yet, or the
 * upstream reads slowly) and what is being written. If so, stop sending and
 * let 'on_drain' (called once, when it holds at most 'limit', never after
 * the request's on_done) say when to go on. A caller that sends a piece only
 * while this is false holds at most 'limit' plus one piece (plus chunk
 * framing): the gateway passes HTTP_BODY_SHARE_BYTES - HTTP_BODY_PIECE_BYTES
 * so that its uploads stay within their shares of the body budget
 * (server.h). The copy for a resend is at most HTTP_CLIENT_REPLAY_BYTES, so
 * 'limit' must be at least that for a body to get past it. */
bool http_client_body_congested(struct http_client_req *r, size_t limit,
                                void (*on_drain)(void *arg), void *arg);

/* Stop reading the response (the client it goes to is slow), and go on. */
void http_client_pause(struct http_client_req *r);
void http_client_resume(struct http_client_req *r);
/* Abandon a request: no more callbacks; its connection is closed. */
void http_client_cancel(struct http_client_req *r);

#endif
