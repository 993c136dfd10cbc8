/* parser.h - HTTP/1.1 request assembly over llhttp: URL, headers and body of
 * one request at a time, with hard caps. Pure (no I/O), so it can be fuzzed.
 * Feed bytes; when a request is complete the parser stops and hands it out;
 * http_parser_next() then goes on with any pipelined bytes.
 * Framing is strict (RFC 9112): field names are tokens with nothing between
 * name and colon; values hold no control bytes but HTAB; no obs-fold; lines
 * end with CRLF; the request target holds no control bytes; the only
 * transfer coding is chunked. Anything else is refused before it is handed
 * out, so a proxy may forward what comes out without another reading. */
#ifndef BERTH_HTTP_PARSER_H
#define BERTH_HTTP_PARSER_H

#include <stdbool.h>
#include <stddef.h>

#include <llhttp.h>

#include "base/buf.h"
#include "http/server.h"

#define HTTP_HEADER_LIMIT_BYTES (64 * 1024)
#define HTTP_URL_LIMIT_BYTES (16 * 1024)

enum http_parse_status {
    HTTP_PARSE_MORE = 0,    /* every byte consumed; feed more */
    HTTP_PARSE_REQUEST = 1, /* a whole request is ready: http_parser_request() */
    /* With stream_bodies: the head of a request with a body is ready
     * (http_parser_request(), body empty); http_parser_resume(), then feed on. */
    HTTP_PARSE_HEAD = 2,
    /* With stream_bodies: a piece of the body, http_parser_piece(), a view
     * into the bytes just fed; http_parser_resume(), then feed the rest (even
     * if nothing is left: the request may be complete without another byte). */
    HTTP_PARSE_BODY = 3,
    HTTP_PARSE_ERROR = -1, /* answer error_status with error_msg and close */
};

/* Reserve (delta > 0) or give back (delta < 0) buffered body bytes; false
 * refuses a reservation, and the request gets 503. */
typedef bool (*http_parser_budget_fn)(void *arg, long long delta);

struct http_parser {
    llhttp_t ll;
    bool in_message;      /* bytes of a request have arrived, not yet complete */
    bool in_header_value; /* the last header callback was a value */
    bool expect_continue; /* the request asked for "100 Continue" */
    bool headers_done;
    bool in_field; /* a field name has begun and not yet ended */
    struct buf url;
    struct buf hdr; /* "name\0value\0" pairs, as received */
    size_t hdr_off[HTTP_MAX_HEADERS][2];
    size_t nhdr;
    struct buf body;
    size_t max_body_bytes;
    bool stream_bodies;           /* set after init: bodies come out piece by piece */
    http_parser_budget_fn budget; /* optional, set after init; not for streamed bodies */
    void *budget_arg;
    size_t reserved;  /* bytes this request holds of the budget */
    size_t streamed;  /* body bytes handed out as pieces */
    struct str piece; /* with HTTP_PARSE_BODY */
    int paused_for;   /* the status to return for HPE_PAUSED */
    /* Where the bytes being fed start, and the last two bytes of earlier
     * feeds: what precedes a callback's span, to find obs-fold and bare LF. */
    const char *feed_base;
    char tail[2];
    char last_nonws;   /* the last byte fed that is not SP or HTAB */
    bool body_started; /* on_body has run for this request */
    int error_status;  /* 400, 413, 414, 431 or 501 */
    char error_msg[256];
};

void http_parser_init(struct http_parser *p, size_t max_body_bytes);
void http_parser_release(struct http_parser *p);
/* Parse up to 'len' bytes; *used says how many were taken. */
enum http_parse_status http_parser_feed(struct http_parser *p, const char *data, size_t len,
                                        size_t *used);
/* Views of the complete request (method, path, query, headers, body); valid
 * until http_parser_next(). Leaves id, worker and arena alone. */
void http_parser_request(struct http_parser *p, struct http_request *req);
bool http_parser_keep_alive(const struct http_parser *p);
bool http_parser_is_http10(const struct http_parser *p);
/* Forget the handed-out request and get ready for the next one. */
void http_parser_next(struct http_parser *p);
/* Go on after HTTP_PARSE_HEAD or HTTP_PARSE_BODY. */
void http_parser_resume(struct http_parser *p);
struct str http_parser_piece(const struct http_parser *p);
/* Free the body of the handed-out request (and give its budget back): the
 * handler is done with it. */
void http_parser_drop_body(struct http_parser *p);

#endif
