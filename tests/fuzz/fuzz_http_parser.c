/* fuzz_http_parser.c - HTTP/1 request assembly (http/parser.c over llhttp).
 * The first two bytes pick the body limit and seed the split points; the rest
 * is fed in pieces of pseudo-random size, each in a buffer of exactly that size
 * that is freed before the next, so the parser may keep nothing pointing into
 * its input. Checks: 'used' never exceeds what was fed, MORE takes everything,
 * requests come out whole with every view inside the parser's own buffers and
 * within the limits, and errors carry one of our statuses and a message. A
 * request handed out has token field names, values without control bytes
 * (HTAB aside) and a target without them: what a proxy may forward as is. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "http/parser.h"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile unsigned sink; /* keeps reads of every value */

static void check_inside(struct str s, const struct buf *b)
{
    if (s.len == 0)
        return;
    FUZZ_CHECK(s.ptr >= b->ptr && s.ptr + s.len <= b->ptr + b->len);
}

static bool is_tchar(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

static void check_framing(const struct http_request *req, const struct http_parser *p)
{
    for (size_t i = 0; i < p->url.len; i++)
        FUZZ_CHECK((unsigned char)p->url.ptr[i] >= 0x20 && p->url.ptr[i] != 0x7f);
    for (size_t i = 0; i < req->nheaders; i++) {
        struct str n = req->headers[i].name, v = req->headers[i].value;
        FUZZ_CHECK(n.len > 0);
        for (size_t k = 0; k < n.len; k++)
            FUZZ_CHECK(is_tchar((unsigned char)n.ptr[k]));
        for (size_t k = 0; k < v.len; k++) {
            unsigned char c = (unsigned char)v.ptr[k];
            FUZZ_CHECK(c == '\t' || (c >= 0x20 && c != 0x7f));
        }
        FUZZ_CHECK(v.len == 0 || (v.ptr[0] != ' ' && v.ptr[0] != '\t'));
        FUZZ_CHECK(v.len == 0 || (v.ptr[v.len - 1] != ' ' && v.ptr[v.len - 1] != '\t'));
    }
}

static void check_request(struct http_parser *p)
{
    struct http_request req;
    memset(&req, 0, sizeof(req));
    http_parser_request(p, &req);
    FUZZ_CHECK(req.method.ptr != NULL && req.method.len > 0);
    FUZZ_CHECK(p->url.len <= HTTP_URL_LIMIT_BYTES);
    FUZZ_CHECK(p->hdr.len <= HTTP_HEADER_LIMIT_BYTES);
    FUZZ_CHECK(p->body.len <= p->max_body_bytes);
    check_inside(req.path, &p->url);
    check_inside(req.query, &p->url);
    FUZZ_CHECK(req.path.len + (req.query.ptr ? req.query.len + 1 : 0) == p->url.len);
    FUZZ_CHECK(req.nheaders <= HTTP_MAX_HEADERS);
    for (size_t i = 0; i < req.nheaders; i++) {
        check_inside(req.headers[i].name, &p->hdr);
        check_inside(req.headers[i].value, &p->hdr);
        FUZZ_CHECK(req.headers[i].name.ptr[req.headers[i].name.len] == '\0');
        FUZZ_CHECK(req.headers[i].value.ptr[req.headers[i].value.len] == '\0');
        struct str v = http_request_header(&req, "content-length");
        (void)v;
    }
    check_framing(&req, p);
    FUZZ_CHECK(req.body.ptr == p->body.ptr && req.body.len == p->body.len);
    FUZZ_CHECK(req.body.ptr[req.body.len] == '\0');
    /* Touch every byte, so the sanitizers see any view past its buffer. */
    unsigned sum = 0;
    for (size_t i = 0; i < req.body.len; i++)
        sum += (unsigned char)req.body.ptr[i];
    for (size_t i = 0; i < req.path.len; i++)
        sum += (unsigned char)req.path.ptr[i];
    sink = sum;
    (void)http_parser_keep_alive(p);
    (void)http_parser_is_http10(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t limits[] = {0, 7, 1024, 1 << 20};
    if (size < 2)
        return 0;
    size_t max_body = limits[data[0] & 3];
    bool stream = data[0] & 4; /* bodies come out piece by piece */
    uint32_t seed = (uint32_t)data[0] << 8 | data[1];
    data += 2;
    size -= 2;

    struct http_parser p;
    http_parser_init(&p, max_body);
    p.stream_bodies = stream;
    size_t streamed = 0;
    size_t off = 0;
    int stalls = 0;
    while (off < size) {
        seed = seed * 1103515245u + 12345u;
        uint32_t r = seed >> 16;
        size_t chunk;
        switch (r & 3) {
        case 0:
            chunk = size - off;
            break;
        case 1:
            chunk = 1;
            break;
        default:
            chunk = 1 + (r >> 2) % 97;
            break;
        }
        if (chunk > size - off)
            chunk = size - off;
        char *piece = xmalloc(chunk);
        memcpy(piece, data + off, chunk);
        off += chunk;
        size_t pos = 0;
        bool stop = false;
        while (pos < chunk && !stop) {
            size_t used = (size_t)-1;
            enum http_parse_status st = http_parser_feed(&p, piece + pos, chunk - pos, &used);
            FUZZ_CHECK(used <= chunk - pos);
            if (used > 0)
                stalls = 0;
            switch (st) {
            case HTTP_PARSE_MORE:
                FUZZ_CHECK(used == chunk - pos);
                FUZZ_CHECK(p.in_message || p.url.len == 0);
                break;
            case HTTP_PARSE_HEAD:
                FUZZ_CHECK(stream && p.in_message);
                check_request(&p);
                http_parser_resume(&p);
                break;
            case HTTP_PARSE_BODY: {
                FUZZ_CHECK(stream);
                /* A view into what was just fed, inside the bytes taken. */
                struct str part = http_parser_piece(&p);
                FUZZ_CHECK(part.len > 0 && part.ptr >= piece + pos);
                FUZZ_CHECK(part.ptr + part.len <= piece + pos + used);
                sink = (unsigned char)part.ptr[0] + (unsigned char)part.ptr[part.len - 1];
                streamed += part.len;
                FUZZ_CHECK(streamed <= max_body);
                http_parser_resume(&p);
                break;
            }
            case HTTP_PARSE_REQUEST:
                streamed = 0;
                check_request(&p);
                http_parser_next(&p);
                /* Pausing after a request that ended earlier is fine once; twice is a loop. */
                stalls = used == 0 ? stalls + 1 : 0; /* a head or a piece in between resets it */
                FUZZ_CHECK(stalls < 3);
                break;
            case HTTP_PARSE_ERROR:
                FUZZ_CHECK(p.error_status == 400 || p.error_status == 413 ||
                           p.error_status == 414 || p.error_status == 431 || p.error_status == 501);
                FUZZ_CHECK(p.error_msg[0] != '\0');
                FUZZ_CHECK(memchr(p.error_msg, '\0', sizeof(p.error_msg)) != NULL);
                stop = true;
                break;
            default:
                FUZZ_CHECK(!"unknown status");
            }
            pos += used;
        }
        free(piece);
        if (stop)
            break;
    }
    http_parser_release(&p);
    return 0;
}
