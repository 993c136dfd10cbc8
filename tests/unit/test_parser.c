/* test_parser.c - HTTP/1.1 request assembly: whole, pipelined and byte-by-byte
 * requests, chunked bodies, the 413/414/431/400 refusals, Expect: 100-continue
 * and the HTTP/1.0 keep-alive rules. */
#include "harness.h"

#include "base/buf.h"
#include "http/parser.h"

static struct http_parser parser;
static struct http_request req;

static void start(size_t max_body_bytes)
{
    http_parser_release(&parser);
    http_parser_init(&parser, max_body_bytes);
    memset(&req, 0, sizeof(req));
}

/* Feed all of 's' expecting exactly one whole request that uses every byte. */
static void feed_one(const char *s)
{
    size_t used = 0, len = strlen(s);
    CHECK_EQ_INT(http_parser_feed(&parser, s, len, &used), HTTP_PARSE_REQUEST);
    CHECK_EQ_INT(used, len);
    http_parser_request(&parser, &req);
}

/* Feed all of 's' expecting a refusal with 'status'. */
static void feed_error(const char *s, size_t len, int status)
{
    size_t used = 0;
    enum http_parse_status st = http_parser_feed(&parser, s, len, &used);
    if (st != HTTP_PARSE_ERROR)
        harness_fail(__FILE__, __LINE__, "status %d, error_msg '%s'", (int)st, parser.error_msg);
    CHECK_EQ_INT(st, HTTP_PARSE_ERROR);
    CHECK_EQ_INT(parser.error_status, status);
    CHECK(parser.error_msg[0] != '\0');
}

static bool str_is(struct str s, const char *want)
{
    return str_eq_cstr(s, want);
}

#define CHECK_STR(view, want)                                                                      \
    do {                                                                                           \
        struct str v_ = (view);                                                                    \
        if (!str_is(v_, (want))) {                                                                 \
            harness_fail(__FILE__, __LINE__, "%s is \"%.*s\", want \"%s\"", #view, (int)v_.len,    \
                         v_.ptr ? v_.ptr : "", (want));                                            \
            return;                                                                                \
        }                                                                                          \
    } while (0)

/* ------------------------------------------------------------------------ */
/* Whole requests                                                           */

TEST(simple_get)
{
    start(1024);
    feed_one("GET /v1/models/iris?verbose=1&x=2 HTTP/1.1\r\n"
             "Host: localhost:8501\r\n"
             "User-Agent: test\r\n"
             "X-Empty:\r\n"
             "\r\n");
    CHECK_STR(req.method, "GET");
    CHECK_STR(req.path, "/v1/models/iris");
    CHECK_STR(req.query, "verbose=1&x=2");
    CHECK_EQ_INT(req.nheaders, 3);
    CHECK_STR(req.headers[0].name, "Host");
    CHECK_STR(req.headers[0].value, "localhost:8501");
    CHECK_STR(req.headers[1].name, "User-Agent");
    CHECK_STR(req.headers[1].value, "test");
    CHECK_STR(req.headers[2].name, "X-Empty");
    CHECK_STR(req.headers[2].value, "");
    CHECK_EQ_INT(req.body.len, 0);
    CHECK(http_parser_keep_alive(&parser));
    CHECK(!http_parser_is_http10(&parser));
    CHECK(!parser.expect_continue);
    http_parser_next(&parser);
}

TEST(header_lookup)
{
    start(1024);
    feed_one("GET / HTTP/1.1\r\nhost: a\r\nContent-Type:  application/json\r\n\r\n");
    CHECK_STR(req.path, "/");
    CHECK_EQ_INT(req.query.len, 0);
    CHECK_STR(http_request_header(&req, "HOST"), "a");
    CHECK_STR(http_request_header(&req, "content-type"), "application/json");
    struct str none = http_request_header(&req, "Accept");
    CHECK(none.ptr == NULL && none.len == 0);
}

TEST(empty_query_and_no_headers)
{
    start(1024);
    feed_one("DELETE /x? HTTP/1.1\r\n\r\n");
    CHECK_STR(req.method, "DELETE");
    CHECK_STR(req.path, "/x");
    CHECK_EQ_INT(req.query.len, 0);
    CHECK(req.query.ptr != NULL);
    CHECK_EQ_INT(req.nheaders, 0);
}

TEST(post_with_content_length)
{
    start(1024);
    feed_one("POST /v1/models/m:predict HTTP/1.1\r\n"
             "Content-Type: application/json\r\n"
             "Content-Length: 19\r\n"
             "\r\n"
             "{\"instances\": [1]}\n");
    CHECK_STR(req.method, "POST");
    CHECK_STR(req.path, "/v1/models/m:predict");
    CHECK_STR(req.body, "{\"instances\": [1]}\n");
    CHECK_EQ_INT(req.body.ptr[req.body.len], '\0'); /* bodies are terminated */
}

TEST(body_with_nul_bytes)
{
    start(1024);
    static const char msg[] = "PUT /b HTTP/1.1\r\nContent-Length: 5\r\n\r\na\0b\0c";
    size_t used;
    CHECK_EQ_INT(http_parser_feed(&parser, msg, sizeof(msg) - 1, &used), HTTP_PARSE_REQUEST);
    CHECK_EQ_INT(used, sizeof(msg) - 1);
    http_parser_request(&parser, &req);
    CHECK_EQ_INT(req.body.len, 5);
    CHECK(memcmp(req.body.ptr, "a\0b\0c", 5) == 0);
}

TEST(chunked_body)
{
    start(1024);
    feed_one("POST /v2/models/m/infer HTTP/1.1\r\n"
             "Transfer-Encoding: chunked\r\n"
             "\r\n"
             "5\r\nhello\r\n"
             "6;ext=1\r\n world\r\n"
             "A\r\n0123456789\r\n"
             "0\r\n"
             "Trailer: x\r\n"
             "\r\n");
    CHECK_STR(req.body, "hello world0123456789");
    CHECK(http_parser_keep_alive(&parser));
}

TEST(body_exactly_at_limit)
{
    start(10);
    feed_one("POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123456789");
    CHECK_EQ_INT(req.body.len, 10);
    http_parser_next(&parser);
    feed_one("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n0123\r\n6\r\n456789\r\n"
             "0\r\n\r\n");
    CHECK_STR(req.body, "0123456789");
}

/* ------------------------------------------------------------------------ */
/* Pipelining and partial input                                             */

static const char *const pipeline[] = {
    "GET /a HTTP/1.1\r\nHost: h\r\n\r\n",
    "POST /b?q HTTP/1.1\r\nContent-Length: 3\r\n\r\nxyz",
    ("POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n"
     "2\r\nok\r\n0\r\n\r\n"),
    "GET /d HTTP/1.1\r\nConnection: close\r\n\r\n",
};

static void check_pipelined(size_t i)
{
    static const char *const paths[] = {"/a", "/b", "/c", "/d"};
    static const char *const bodies[] = {"", "xyz", "ok", ""};
    CHECK_STR(req.path, paths[i]);
    CHECK_STR(req.body, bodies[i]);
    CHECK_EQ_INT(parser.expect_continue, i == 2);
    CHECK_EQ_INT(http_parser_keep_alive(&parser), i != 3);
    if (i == 1)
        CHECK_STR(req.query, "q");
}

TEST(pipelined_requests_one_at_a_time)
{
    start(1024);
    struct buf all;
    buf_init(&all, 4096);
    for (size_t i = 0; i < 4; i++)
        buf_puts(&all, pipeline[i]);
    const char *p = all.ptr;
    size_t left = all.len;
    for (size_t i = 0; i < 4; i++) {
        size_t used = 0;
        CHECK_EQ_INT(http_parser_feed(&parser, p, left, &used), HTTP_PARSE_REQUEST);
        CHECK_EQ_INT(used, strlen(pipeline[i]));
        http_parser_request(&parser, &req);
        check_pipelined(i);
        if (harness_failed)
            break;
        http_parser_next(&parser);
        p += used;
        left -= used;
    }
    CHECK_EQ_INT(left, 0);
    buf_release(&all);
}

TEST(byte_by_byte)
{
    start(1024);
    size_t done = 0;
    for (size_t i = 0; i < 4; i++) {
        const char *s = pipeline[i];
        size_t len = strlen(s);
        for (size_t k = 0; k < len; k++) {
            size_t used = 0;
            enum http_parse_status st = http_parser_feed(&parser, s + k, 1, &used);
            CHECK_EQ_INT(used, 1);
            if (k + 1 < len) {
                if (st != HTTP_PARSE_MORE)
                    harness_fail(__FILE__, __LINE__, "request %zu byte %zu: status %d", i, k,
                                 (int)st);
                CHECK_EQ_INT(st, HTTP_PARSE_MORE);
            } else {
                CHECK_EQ_INT(st, HTTP_PARSE_REQUEST);
            }
        }
        http_parser_request(&parser, &req);
        check_pipelined(i);
        if (harness_failed)
            return;
        http_parser_next(&parser);
        done++;
    }
    CHECK_EQ_INT(done, 4);
}

/* Every split point of a two-request stream gives the same two requests. */
TEST(every_split_point)
{
    struct buf all;
    buf_init(&all, 4096);
    buf_puts(&all, pipeline[1]);
    buf_puts(&all, pipeline[2]);
    for (size_t cut = 0; cut <= all.len; cut++) {
        start(1024);
        const char *p = all.ptr;
        size_t segs[2] = {cut, all.len - cut}, got = 0;
        for (int s = 0; s < 2; s++) {
            size_t left = segs[s];
            while (left > 0) {
                size_t used = 0;
                enum http_parse_status st = http_parser_feed(&parser, p, left, &used);
                CHECK(st != HTTP_PARSE_ERROR);
                CHECK(used <= left);
                p += used;
                left -= used;
                if (st == HTTP_PARSE_REQUEST) {
                    http_parser_request(&parser, &req);
                    check_pipelined(1 + got);
                    if (harness_failed) {
                        harness_fail(__FILE__, __LINE__, "split at %zu", cut);
                        buf_release(&all);
                        return;
                    }
                    got++;
                    http_parser_next(&parser);
                }
            }
        }
        CHECK_EQ_INT(got, 2);
    }
    buf_release(&all);
}

TEST(partial_request_is_more)
{
    start(1024);
    size_t used = 0;
    const char *head = "POST /x HTTP/1.1\r\nContent-Length: 4\r\n\r\nab";
    CHECK_EQ_INT(http_parser_feed(&parser, head, strlen(head), &used), HTTP_PARSE_MORE);
    CHECK_EQ_INT(used, strlen(head));
    CHECK(parser.in_message);
    CHECK(parser.headers_done);
    CHECK_EQ_INT(http_parser_feed(&parser, "cd", 2, &used), HTTP_PARSE_REQUEST);
    CHECK_EQ_INT(used, 2);
    http_parser_request(&parser, &req);
    CHECK_STR(req.body, "abcd");
    http_parser_next(&parser);
    CHECK_EQ_INT(http_parser_feed(&parser, "", 0, &used), HTTP_PARSE_MORE);
    CHECK_EQ_INT(used, 0);
}

TEST(next_clears_the_request)
{
    start(1024);
    feed_one("POST /first HTTP/1.1\r\nA: 1\r\nB: 2\r\nContent-Length: 1\r\n\r\nz");
    CHECK_EQ_INT(req.nheaders, 3);
    http_parser_next(&parser);
    feed_one("GET /second HTTP/1.1\r\nC: 3\r\n\r\n");
    CHECK_STR(req.path, "/second");
    CHECK_EQ_INT(req.nheaders, 1);
    CHECK_STR(req.headers[0].name, "C");
    CHECK_EQ_INT(req.body.len, 0);
}

/* ------------------------------------------------------------------------ */
/* Limits                                                                   */

TEST(header_fields_too_large_is_431)
{
    start(1024);
    struct buf b;
    buf_init(&b, 1 << 20);
    buf_puts(&b, "GET / HTTP/1.1\r\nX-Big: ");
    for (int i = 0; i < HTTP_HEADER_LIMIT_BYTES; i++)
        buf_putc(&b, 'a');
    buf_puts(&b, "\r\n\r\n");
    feed_error(b.ptr, b.len, 431);
    CHECK_STR_EQ(parser.error_msg, "header fields too large");
    buf_release(&b);
}

TEST(many_small_headers_over_limit_is_431)
{
    start(1024);
    struct buf b;
    buf_init(&b, 1 << 20);
    buf_puts(&b, "GET / HTTP/1.1\r\n");
    for (int i = 0; i < 40; i++) {
        buf_printf(&b, "X-%d: ", i);
        for (int k = 0; k < 2000; k++)
            buf_putc(&b, 'v');
        buf_puts(&b, "\r\n");
    }
    buf_puts(&b, "\r\n");
    /* Byte by byte, so the limit trips inside llhttp's per-byte callbacks too. */
    size_t used = 0, off = 0;
    enum http_parse_status st = HTTP_PARSE_MORE;
    while (off < b.len && st == HTTP_PARSE_MORE) {
        st = http_parser_feed(&parser, b.ptr + off, 1, &used);
        off += used;
    }
    CHECK_EQ_INT(st, HTTP_PARSE_ERROR);
    CHECK_EQ_INT(parser.error_status, 431);
    buf_release(&b);
}

TEST(too_many_headers_is_431)
{
    start(1024);
    struct buf b;
    buf_init(&b, 1 << 20);
    buf_puts(&b, "GET / HTTP/1.1\r\n");
    for (int i = 0; i < HTTP_MAX_HEADERS; i++)
        buf_printf(&b, "H%d: v\r\n", i);
    buf_puts(&b, "\r\n");
    feed_one(b.ptr); /* exactly the maximum is fine */
    CHECK_EQ_INT(req.nheaders, HTTP_MAX_HEADERS);
    CHECK_STR(req.headers[HTTP_MAX_HEADERS - 1].name, "H63");

    start(1024);
    buf_reset(&b);
    buf_puts(&b, "GET / HTTP/1.1\r\n");
    for (int i = 0; i < HTTP_MAX_HEADERS + 1; i++)
        buf_printf(&b, "H%d: v\r\n", i);
    buf_puts(&b, "\r\n");
    feed_error(b.ptr, b.len, 431);
    CHECK_STR_EQ(parser.error_msg, "too many header fields");
    buf_release(&b);
}

TEST(long_url_is_414)
{
    start(1024);
    struct buf b;
    buf_init(&b, 1 << 20);
    buf_puts(&b, "GET /");
    for (int i = 0; i < HTTP_URL_LIMIT_BYTES; i++)
        buf_putc(&b, 'u');
    buf_puts(&b, " HTTP/1.1\r\n\r\n");
    feed_error(b.ptr, b.len, 414);
    buf_release(&b);
}

TEST(content_length_over_limit_is_413_before_the_body)
{
    start(100);
    const char *head = "POST /x HTTP/1.1\r\nContent-Length: 101\r\n\r\n";
    feed_error(head, strlen(head), 413);
    CHECK_STR_EQ(parser.error_msg, "request body of 101 bytes exceeds the limit of 100 bytes");
}

TEST(chunked_over_limit_is_413)
{
    start(8);
    const char *msg = "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                      "5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n";
    feed_error(msg, strlen(msg), 413);
    CHECK_STR_EQ(parser.error_msg, "request body exceeds the limit of 8 bytes");
}

TEST(zero_body_limit)
{
    start(0);
    feed_one("GET / HTTP/1.1\r\n\r\n");
    http_parser_next(&parser);
    feed_one("POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
    http_parser_next(&parser);
    const char *msg = "POST / HTTP/1.1\r\nContent-Length: 1\r\n\r\nx";
    feed_error(msg, strlen(msg), 413);
}

/* ------------------------------------------------------------------------ */
/* Malformed requests                                                       */

static void check_400(const char *msg)
{
    start(1024);
    feed_error(msg, strlen(msg), 400);
    if (strncmp(parser.error_msg, "malformed HTTP request: ", 24) != 0)
        harness_fail(__FILE__, __LINE__, "error_msg '%s'", parser.error_msg);
    CHECK(strncmp(parser.error_msg, "malformed HTTP request: ", 24) == 0);
}

TEST(malformed_is_400)
{
    check_400("GARBAGE\r\n\r\n");
    check_400("GET / HTTP/1.1\r\nHost a\r\n\r\n");
    check_400("GET / HTTP/9.9\r\n\r\n");
    check_400("GET  HTTP/1.1\r\n\r\n");
    check_400("GET / HTTP/1.1\r\nContent-Length: abc\r\n\r\n");
    check_400("GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n");
    check_400("POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
              "0\r\n\r\n");
    check_400("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n");
    check_400("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX\r\n0\r\n\r\n");
    check_400("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n");
    check_400("POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n");
    check_400("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n");
    check_400("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\n");
    check_400("GET / HTTP/1.1\r\n Folded: x\r\n\r\n");
    check_400("GET /a b HTTP/1.1\r\n\r\n");
    check_400("GET / HTTP/1.1\r\nX: a\001b\r\n\r\n");
    check_400("HTTP/1.1 200 OK\r\n\r\n");
    check_400("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"); /* a TLS client hello */
}

TEST(nul_in_header_is_400)
{
    static const char value[] = "GET / HTTP/1.1\r\nX: a\0b\r\n\r\n";
    static const char name[] = "GET / HTTP/1.1\r\nX\0Y: ab\r\n\r\n";
    start(1024);
    feed_error(value, sizeof(value) - 1, 400);
    start(1024);
    feed_error(name, sizeof(name) - 1, 400);
}

/* llhttp 8 (non-strict) lets an empty header name through; that is a malformed
 * request (400), not an oversized one (431). */
TEST(empty_header_name_is_400)
{
    check_400("GET / HTTP/1.1\r\n: x\r\n\r\n");
}

/* RFC 9110 5.5: a recipient must exclude leading and trailing whitespace from a
 * field value. llhttp drops the leading whitespace only. */
TEST(header_values_drop_trailing_whitespace)
{
    start(1024);
    feed_one("POST / HTTP/1.1\r\nExpect: 100-continue \r\nX-A: \t v \t\r\n"
             "Content-Length: 0\r\n\r\n");
    CHECK_STR(http_request_header(&req, "X-A"), "v");
    CHECK_STR(http_request_header(&req, "Expect"), "100-continue");
    CHECK(parser.expect_continue);
}

/* An Upgrade or CONNECT request that the server answers in HTTP/1.1 (it never
 * switches protocols) must not stop the connection: curl --http2 on http://
 * sends "Connection: Upgrade, HTTP2-Settings" + "Upgrade: h2c" on its first
 * request and goes on with HTTP/1.1 on the same connection. */
TEST(upgrade_request_keeps_the_connection_usable)
{
    start(1024);
    const char *two = "GET /a HTTP/1.1\r\nConnection: Upgrade, HTTP2-Settings\r\n"
                      "Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n"
                      "GET /b HTTP/1.1\r\n\r\n";
    size_t used = 0, first = strlen(two) - strlen("GET /b HTTP/1.1\r\n\r\n");
    CHECK_EQ_INT(http_parser_feed(&parser, two, strlen(two), &used), HTTP_PARSE_REQUEST);
    CHECK_EQ_INT(used, first);
    http_parser_request(&parser, &req);
    CHECK_STR(req.path, "/a");
    http_parser_next(&parser);
    enum http_parse_status st = http_parser_feed(&parser, two + first, strlen(two + first), &used);
    if (st != HTTP_PARSE_REQUEST)
        harness_fail(__FILE__, __LINE__, "second request: %d %s", parser.error_status,
                     parser.error_msg);
    CHECK_EQ_INT(st, HTTP_PARSE_REQUEST);
    http_parser_request(&parser, &req);
    CHECK_STR(req.path, "/b");
}

TEST(error_after_a_good_request)
{
    start(1024);
    const char *two = "GET /ok HTTP/1.1\r\n\r\nBROKEN\r\n\r\n";
    size_t used = 0;
    CHECK_EQ_INT(http_parser_feed(&parser, two, strlen(two), &used), HTTP_PARSE_REQUEST);
    CHECK_EQ_INT(used, strlen("GET /ok HTTP/1.1\r\n\r\n"));
    http_parser_request(&parser, &req);
    CHECK_STR(req.path, "/ok");
    http_parser_next(&parser);
    feed_error(two + used, strlen(two + used), 400);
}

/* ------------------------------------------------------------------------ */
/* Expect: 100-continue and keep-alive                                      */

TEST(expect_continue_flag)
{
    start(1024);
    const char *head = "POST /x HTTP/1.1\r\nEXPECT: 100-Continue\r\nContent-Length: 2\r\n\r\n";
    size_t used;
    CHECK_EQ_INT(http_parser_feed(&parser, head, strlen(head), &used), HTTP_PARSE_MORE);
    CHECK(parser.headers_done);
    CHECK(parser.expect_continue); /* known before the body arrives */
    CHECK_EQ_INT(http_parser_feed(&parser, "hi", 2, &used), HTTP_PARSE_REQUEST);
    http_parser_next(&parser);
    CHECK(!parser.expect_continue);
    feed_one("POST /x HTTP/1.1\r\nExpect: 200-ok\r\nContent-Length: 0\r\n\r\n");
    CHECK(!parser.expect_continue);
    http_parser_next(&parser);
    feed_one("POST /x HTTP/1.1\r\nX-Expect: 100-continue\r\nContent-Length: 0\r\n\r\n");
    CHECK(!parser.expect_continue);
}

TEST(http10_keep_alive_rules)
{
    start(1024);
    feed_one("GET / HTTP/1.0\r\n\r\n");
    CHECK(http_parser_is_http10(&parser));
    CHECK(!http_parser_keep_alive(&parser));

    start(1024);
    feed_one("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    CHECK(http_parser_is_http10(&parser));
    CHECK(http_parser_keep_alive(&parser));

    start(1024);
    feed_one("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
    CHECK(http_parser_keep_alive(&parser));

    start(1024);
    feed_one("POST / HTTP/1.0\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nab");
    CHECK(http_parser_keep_alive(&parser));
    CHECK_STR(req.body, "ab");
}

TEST(http11_keep_alive_rules)
{
    start(1024);
    feed_one("GET / HTTP/1.1\r\n\r\n");
    CHECK(http_parser_keep_alive(&parser));
    CHECK(!http_parser_is_http10(&parser));

    start(1024);
    feed_one("GET / HTTP/1.1\r\nConnection: close\r\n\r\n");
    CHECK(!http_parser_keep_alive(&parser));

    start(1024);
    feed_one("GET / HTTP/1.1\r\nConnection: Close\r\n\r\n");
    CHECK(!http_parser_keep_alive(&parser));

    /* Keep-alive is decided per request. */
    start(1024);
    feed_one("GET / HTTP/1.1\r\nConnection: close\r\n\r\n");
    CHECK(!http_parser_keep_alive(&parser));
    http_parser_release(&parser);
    http_parser_init(&parser, 1024);
    feed_one("GET / HTTP/1.1\r\n\r\n");
    CHECK(http_parser_keep_alive(&parser));
}

TEST(request_views_point_into_parser_buffers)
{
    start(1024);
    feed_one("PATCH /p/q?r=s HTTP/1.1\r\nK1: V1\r\nK2: V2\r\nContent-Length: 3\r\n\r\nabc");
    CHECK_STR(req.method, "PATCH");
    const char *u = parser.url.ptr, *h = parser.hdr.ptr, *b = parser.body.ptr;
    CHECK(req.path.ptr >= u && req.path.ptr + req.path.len <= u + parser.url.len);
    CHECK(req.query.ptr >= u && req.query.ptr + req.query.len <= u + parser.url.len);
    for (size_t i = 0; i < req.nheaders; i++) {
        CHECK(req.headers[i].name.ptr >= h &&
              req.headers[i].name.ptr + req.headers[i].name.len <= h + parser.hdr.len);
        CHECK(req.headers[i].value.ptr >= h &&
              req.headers[i].value.ptr + req.headers[i].value.len <= h + parser.hdr.len);
    }
    CHECK(req.body.ptr == b && req.body.len == parser.body.len);
}

/* Chunked trailers come through llhttp's header callbacks after the headers
 * are complete. With HTTP_MAX_HEADERS headers already counted, the trailer's
 * value offset went to hdr_off[HTTP_MAX_HEADERS], past the table, over
 * body.ptr: a segfault for any client (tests/fuzz/corpus/http_parser/
 * crash_trailer_after_64_headers). The trailer is fed on its own so that the
 * test can see body.ptr change, and drop a corrupted parser instead of freeing
 * through it. */
TEST(trailers_after_max_headers)
{
    start(1024);
    struct buf b;
    buf_init(&b, 1 << 20);
    buf_puts(&b, "POST /t HTTP/1.1\r\nTransfer-Encoding: chunked\r\n");
    for (int i = 0; i < HTTP_MAX_HEADERS - 1; i++)
        buf_printf(&b, "H%d: v\r\n", i);
    buf_puts(&b, "\r\n3\r\nabc\r\n0\r\n");
    size_t head = b.len;
    buf_puts(&b, "Trailer-Name: trailer-value\r\n\r\n");
    size_t first = b.len;
    buf_puts(&b, "GET /next HTTP/1.1\r\n\r\n");
    size_t used = 0;
    CHECK_EQ_INT(http_parser_feed(&parser, b.ptr, head, &used), HTTP_PARSE_MORE);
    CHECK_EQ_INT(parser.nhdr, HTTP_MAX_HEADERS);
    const char *body_ptr = parser.body.ptr;
    enum http_parse_status st = http_parser_feed(&parser, b.ptr + head, b.len - head, &used);
    if (parser.body.ptr != body_ptr || parser.nhdr != HTTP_MAX_HEADERS) {
        harness_fail(__FILE__, __LINE__, "the trailer overwrote body.ptr (%p, was %p)",
                     (void *)parser.body.ptr, (const void *)body_ptr);
        memset(&parser, 0, sizeof(parser)); /* leak rather than free a wild pointer */
        buf_release(&b);
        return;
    }
    used += head;
    CHECK_EQ_INT(st, HTTP_PARSE_REQUEST);
    CHECK_EQ_INT(used, first);
    http_parser_request(&parser, &req);
    CHECK_EQ_INT(req.nheaders, HTTP_MAX_HEADERS);
    CHECK_STR(req.headers[HTTP_MAX_HEADERS - 1].name, "H62");
    CHECK_STR(req.headers[HTTP_MAX_HEADERS - 1].value, "v");
    CHECK_STR(req.body, "abc");
    http_parser_next(&parser);
    CHECK_EQ_INT(http_parser_feed(&parser, b.ptr + first, b.len - first, &used),
                 HTTP_PARSE_REQUEST);
    http_parser_request(&parser, &req);
    CHECK_STR(req.path, "/next");
    CHECK_EQ_INT(req.nheaders, 0);
    buf_release(&b);
}

/* Trailers are not headers: they must not show up in, or change, the request. */
TEST(trailers_are_not_headers)
{
    start(1024);
    feed_one("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nA: 1\r\n\r\n"
             "1\r\nz\r\n0\r\nB: 2\r\nC: 3\r\n\r\n");
    CHECK_EQ_INT(req.nheaders, 2);
    CHECK_STR(req.headers[1].name, "A");
    CHECK_STR(req.headers[1].value, "1");
    CHECK_STR(req.body, "z");
}

/* ------------------------------------------------------------------------ */
/* Request smuggling (issue 6, item 1)                                      */

/* Feed 's' whole, then byte by byte, then split at every point: each way
 * ends in a refusal with 'status' whose message holds 'why'. */
static void check_refused(const char *s, size_t len, int status, const char *why)
{
    for (size_t step = 0; step <= len; step++) {
        start(1024);
        size_t off = 0, used = 0;
        enum http_parse_status st = HTTP_PARSE_MORE;
        /* step 0: all at once; 1: byte by byte; k > 1: one split at k */
        while (off < len && st != HTTP_PARSE_ERROR) {
            size_t n = step == 0   ? len - off
                       : step == 1 ? 1
                                   : (off < step ? step - off : len - off);
            if (n > len - off)
                n = len - off;
            st = http_parser_feed(&parser, s + off, n, &used);
            off += used;
            if (st == HTTP_PARSE_REQUEST) {
                harness_fail(__FILE__, __LINE__, "accepted (split %zu): %.*s", step, (int)len, s);
                return;
            }
        }
        if (st != HTTP_PARSE_ERROR || parser.error_status != status ||
            !strstr(parser.error_msg, why)) {
            harness_fail(__FILE__, __LINE__, "split %zu: status %d/%d '%s', want %d '%s'", step,
                         (int)st, parser.error_status, parser.error_msg, status, why);
            return;
        }
    }
}

#define REFUSED(lit, status, why) check_refused(lit, sizeof(lit) - 1, status, why)

/* RFC 9112 5.1: "No whitespace is allowed between the field name and colon
 * ... A server MUST reject, with a response status code of 400". llhttp's
 * loose mode took "X-A : a" as the field "X-A ", which the gateway forwarded. */
TEST(whitespace_before_colon_is_400)
{
    REFUSED("GET / HTTP/1.1\r\nX-A : a\r\n\r\n", 400, "between the name and the colon");
    REFUSED("GET / HTTP/1.1\r\nX-A\t: a\r\n\r\n", 400, "");
    REFUSED("GET / HTTP/1.1\r\nX A: a\r\n\r\n", 400, "header field name 'X'");
    REFUSED("POST / HTTP/1.1\r\nContent-Length : 5\r\n\r\nhello", 400, "");
    REFUSED("POST / HTTP/1.1\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n", 400, "");
    /* The smuggling payload: a body that is a second request. */
    REFUSED("POST /m HTTP/1.1\r\nHost: a\r\nContent-Length : 30\r\n\r\n"
            "GET /admin HTTP/1.1\r\nHost: a\r\n\r\n",
            400, "");
    /* In a trailer too, though trailers are dropped. */
    REFUSED("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T : 1\r\n\r\n", 400,
            "between the name and the colon");
}

TEST(obs_fold_is_400)
{
    REFUSED("GET / HTTP/1.1\r\nX-A: a\r\n b\r\n\r\n", 400, "obs-fold");
    REFUSED("GET / HTTP/1.1\r\nX-A: a\r\n\tb\r\n\r\n", 400, "header field 'X-A' is folded");
    REFUSED("GET / HTTP/1.1\r\nX-A:\r\n b\r\n\r\n", 400, "obs-fold");
    REFUSED("GET / HTTP/1.1\r\nX-A: a\r\n    \t  b\r\n\r\n", 400, "obs-fold");
}

TEST(bare_cr_and_lf_are_400)
{
    REFUSED("GET / HTTP/1.1\r\nX-A: a\rb\r\n\r\n", 400, "");
    REFUSED("GET / HTTP/1.1\r\nX-A: a\r\r\n\r\n", 400, "");
    REFUSED("GET / HTTP/1.1\rX-A: a\r\n\r\n", 400, "");
    REFUSED("GET / HTTP/1.1\nX-A: a\r\n\r\n", 400, "bare LF");
    REFUSED("GET / HTTP/1.1\r\nX-A: a\nX-B: b\r\n\r\n", 400, "");
    REFUSED("POST / HTTP/1.1\r\nContent-Length: 2\r\n\nab", 400, "bare LF");
    REFUSED("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1;a\rb\r\n0\r\n\r\n", 400, "");
    REFUSED("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n2;a\rbc\r\n0\r\n\r\n",
            400, "bare LF or CR");
}

TEST(control_bytes_are_400)
{
    REFUSED("GET / HTTP/1.1\r\nX-A: a\0b\r\n\r\n", 400, "");
    REFUSED("GET / HTTP/1.1\r\nX-A: a\001b\r\n\r\n", 400, "");
    REFUSED("GET / HTTP/1.1\r\nX-A: a\013b\r\n\r\n", 400, "");
    REFUSED("GET / HTTP/1.1\r\nX-A: a\177b\r\n\r\n", 400, "");
    REFUSED("GET / HTTP/1.1\r\nX\0A: a\r\n\r\n", 400, "");
    REFUSED("GET / HTTP/1.1\r\nX\001A: a\r\n\r\n", 400, "");
    REFUSED("GET / HTTP/1.1\r\nX(A): a\r\n\r\n", 400, "");
    REFUSED("GET / HTTP/1.1\r\nX\351: a\r\n\r\n", 400, "");
    REFUSED("GET /a\tb HTTP/1.1\r\n\r\n", 400, "control character 0x09 in the request target");
    REFUSED("GET /a\014 HTTP/1.1\r\n\r\n", 400, "");
    REFUSED("GET /a\001 HTTP/1.1\r\n\r\n", 400, "");
}

/* HTAB inside a value and obs-text (bytes 0x80-0xff) are allowed (RFC 9110 5.5). */
TEST(htab_and_obs_text_in_values_pass)
{
    start(1024);
    feed_one("GET / HTTP/1.1\r\nX-A: a\tb\r\nX-B: caf\351\r\nX-C:\r\nX-D:  d \r\n\r\n");
    CHECK_EQ_INT(req.nheaders, 4);
    CHECK_STR(req.headers[0].value, "a\tb");
    CHECK_STR(req.headers[1].value, "caf\351");
    CHECK_STR(req.headers[2].value, "");
    CHECK_STR(req.headers[3].value, "d");
}

TEST(transfer_codings_besides_chunked)
{
    REFUSED("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501,
            "one 'chunked'");
    REFUSED("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"
            "0\r\n\r\n",
            400, "");
    REFUSED("POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400, "");
    REFUSED("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 400, "");
    REFUSED("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, "HTTP/1.0");
    REFUSED("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n",
            400, "");
    start(1024);
    feed_one("POST / HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n");
    CHECK_STR(req.body, "x");
}

/* The lenient modes that would undo the checks above are all off. */
TEST(llhttp_lenient_flags_off)
{
    start(1024);
    CHECK_EQ_INT(parser.ll.lenient_flags, 0);
    feed_one("GET / HTTP/1.1\r\n\r\n");
    http_parser_next(&parser);
    CHECK_EQ_INT(parser.ll.lenient_flags, 0);
}

/* ------------------------------------------------------------------------ */
/* Streamed bodies and the body budget                                      */

/* Feed 'msg' split at 'split' in stream mode; collect the pieces. Returns
 * how many heads and requests came out. */
static void stream_feed(const char *msg, size_t split, struct buf *body, int *heads, int *reqs)
{
    size_t len = strlen(msg), off = 0;
    *heads = *reqs = 0;
    size_t ends[2] = {split, len};
    for (int part = 0; part < 2; part++) {
        /* Each part in its own buffer, as reads come. */
        while (off < ends[part]) {
            size_t used = 0;
            enum http_parse_status st =
                http_parser_feed(&parser, msg + off, ends[part] - off, &used);
            CHECK(st != HTTP_PARSE_ERROR);
            off += used;
            if (st == HTTP_PARSE_HEAD) {
                (*heads)++;
                http_parser_resume(&parser);
            } else if (st == HTTP_PARSE_BODY) {
                struct str piece = http_parser_piece(&parser);
                buf_append(body, piece.ptr, piece.len);
                http_parser_resume(&parser);
                /* The request may end without another byte: feed nothing. */
                CHECK(http_parser_feed(&parser, msg + off, 0, &used) != HTTP_PARSE_ERROR);
                if (parser.paused_for == HTTP_PARSE_REQUEST && !parser.in_message) {
                    (*reqs)++;
                    http_parser_next(&parser);
                }
            } else if (st == HTTP_PARSE_REQUEST) {
                (*reqs)++;
                http_parser_next(&parser);
            }
        }
    }
}

TEST(streamed_bodies_at_every_split)
{
    static const char *const msgs[] = {
        "POST /a HTTP/1.1\r\nContent-Length: 11\r\n\r\nhello worldGET /b HTTP/1.1\r\n\r\n",
        "POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;x=1\r\n world\r\n"
        "0\r\nT: 1\r\n\r\nGET /b HTTP/1.1\r\n\r\n",
    };
    for (size_t m = 0; m < 2; m++)
        for (size_t split = 1; split < strlen(msgs[m]); split++) {
            start(1024);
            parser.stream_bodies = true;
            struct buf body;
            buf_init(&body, 1 << 20);
            int heads, reqs;
            stream_feed(msgs[m], split, &body, &heads, &reqs);
            if (heads != 1 || reqs != 2 || !str_is((struct str){body.ptr, body.len}, "hello world"))
                harness_fail(__FILE__, __LINE__, "msg %zu split %zu: %d heads, %d requests, '%s'",
                             m, split, heads, reqs, body.ptr);
            buf_release(&body);
        }
}

TEST(streamed_chunked_body_over_the_limit_is_413)
{
    start(4);
    parser.stream_bodies = true;
    const char *msg =
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n3\r\ndef\r\n";
    size_t off = 0, len = strlen(msg), used;
    enum http_parse_status st;
    while ((st = http_parser_feed(&parser, msg + off, len - off, &used)) != HTTP_PARSE_ERROR) {
        off += used;
        CHECK(off < len);
        http_parser_resume(&parser);
    }
    CHECK_EQ_INT(parser.error_status, 413);
}

static long long budget_left;

static bool test_budget(void *arg, long long delta)
{
    (void)arg;
    if (delta > budget_left)
        return false;
    budget_left -= delta;
    return true;
}

TEST(body_budget_reserves_and_gives_back)
{
    start(1024);
    parser.budget = test_budget;
    budget_left = 10;
    feed_one("POST / HTTP/1.1\r\nContent-Length: 6\r\n\r\nabcdef");
    CHECK_EQ_INT(budget_left, 4);
    http_parser_drop_body(&parser);
    CHECK_EQ_INT(budget_left, 10);
    http_parser_next(&parser);
    feed_error("POST / HTTP/1.1\r\nContent-Length: 11\r\n\r\n", 40, 503);
    CHECK_EQ_INT(budget_left, 10);
    start(1024);
    parser.budget = test_budget;
    feed_error("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nabcdef\r\n5\r\nghijk\r\n",
               69, 503);
    http_parser_release(&parser);
    CHECK_EQ_INT(budget_left, 10);
}

TEST(release_parser)
{
    http_parser_release(&parser);
    http_parser_release(&parser); /* twice is harmless */
}
