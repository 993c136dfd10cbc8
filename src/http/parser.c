/* parser.c - request assembly on llhttp. on_message_complete pauses llhttp so
 * that exactly one request is handed out at a time, whatever the client
 * pipelined behind it.
 *
 * llhttp's loose mode (the one Debian's sources and libllhttp build) takes
 * some framing that other parsers read differently: a space inside or after
 * a field name ("X-A : a"), obsolete line folding, a bare LF as the end of
 * the request line. A proxy that forwards such a request lets the upstream
 * see another message boundary (request smuggling), so the callbacks check
 * every byte of names, values and targets themselves and refuse with 400. */
#include "http/parser.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static struct http_parser *owner(llhttp_t *ll)
{
    return ll->data;
}

/* Keep small buffers for the next request; free large ones, so that an idle
 * connection holds little. */
#define KEEP_BUFFER_BYTES (8 * 1024)

static void reset_or_free(struct buf *b)
{
    if (b->cap > KEEP_BUFFER_BYTES)
        buf_release(b);
    else
        buf_reset(b);
}

void http_parser_drop_body(struct http_parser *p)
{
    buf_release(&p->body);
    if (p->reserved && p->budget)
        p->budget(p->budget_arg, -(long long)p->reserved);
    p->reserved = 0;
}

static void clear_request(struct http_parser *p)
{
    reset_or_free(&p->url);
    reset_or_free(&p->hdr);
    http_parser_drop_body(p);
    p->streamed = 0;
    p->piece = STR_NULL;
    p->nhdr = 0;
    p->in_header_value = false;
    p->expect_continue = false;
    p->headers_done = false;
    p->in_field = false;
    p->body_started = false;
}

static int on_message_begin(llhttp_t *ll)
{
    struct http_parser *p = owner(ll);
    clear_request(p);
    p->in_message = true;
    return 0;
}

__attribute__((format(printf, 3, 4))) static int fail(llhttp_t *ll, int status, const char *fmt,
                                                      ...)
{
    struct http_parser *p = owner(ll);
    va_list ap;
    va_start(ap, fmt);
    p->error_status = status;
    vsnprintf(p->error_msg, sizeof(p->error_msg), fmt, ap);
    va_end(ap);
    return HPE_USER;
}

/* ------------------------------------------------------------------------ */
/* Byte rules (RFC 9110 5.1, 5.5 and 5.6.2; RFC 9112 2.2, 3.2 and 5)          */

/* tchar: "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" / "_"
 * / "`" / "|" / "~" / DIGIT / ALPHA */
static bool is_tchar(unsigned char c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return true;
    return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* A control byte: never allowed in a target, and only HTAB in a value. */
static bool is_ctl(unsigned char c)
{
    return c < 0x20 || c == 0x7f;
}

/* The byte 'back' (1 or 2) positions before 'at', which is inside the input
 * of the current feed; earlier feeds are remembered in 'tail'. */
static char byte_before(const struct http_parser *p, const char *at, size_t back)
{
    size_t off = (size_t)(at - p->feed_base);
    return off >= back ? at[-(ptrdiff_t)back] : p->tail[2 - (back - off)];
}

/* The nearest byte before 'at' that is not SP or HTAB. */
static char nonws_before(const struct http_parser *p, const char *at)
{
    for (const char *q = at; q > p->feed_base; q--)
        if (q[-1] != ' ' && q[-1] != '\t')
            return q[-1];
    return p->last_nonws;
}

/* The name of the field being read, for messages: what is stored of it,
 * then 'n' bytes of 'at'. Trailer names are not stored: only 'at' shows. */
static void field_name(const struct http_parser *p, const char *at, size_t n, char *out,
                       size_t size)
{
    size_t start = p->hdr_off[p->nhdr][0];
    size_t stored = 0;
    if (!p->headers_done && p->hdr.len > start)
        stored = strnlen(p->hdr.ptr + start, p->hdr.len - start);
    snprintf(out, size, "%.*s%.*s", (int)stored, stored ? p->hdr.ptr + start : "", (int)n, at);
    for (char *c = out; *c; c++)
        if (!is_tchar((unsigned char)*c))
            *c = '?'; /* the message goes into logs and JSON */
}

static int on_url(llhttp_t *ll, const char *at, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (is_ctl((unsigned char)at[i]))
            return fail(ll, 400,
                        "malformed HTTP request: control character 0x%02x in the request target",
                        (unsigned char)at[i]);
    if (buf_append(&owner(ll)->url, at, len) != 0)
        return fail(ll, 414, "request target too long");
    return 0;
}

#define BARE_LINE_END                                                                              \
    "malformed HTTP request: a line ends with a bare LF or CR; lines end with CRLF (RFC 9112 "     \
    "section 2.2)"

/* A field name is a token that starts a line ended by CRLF; whitespace
 * before the colon is refused, not stripped (RFC 9112 5.1). */
static int check_field_name(llhttp_t *ll, const char *at, size_t len, bool starts)
{
    struct http_parser *p = owner(ll);
    char name[64];
    if (starts && (byte_before(p, at, 1) != '\n' || byte_before(p, at, 2) != '\r'))
        return fail(ll, 400, BARE_LINE_END);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)at[i];
        if (is_tchar(c))
            continue;
        field_name(p, at, i, name, sizeof(name));
        if (c == ' ' || c == '\t')
            return fail(ll, 400,
                        "malformed HTTP request: whitespace in or after header field name '%s'; "
                        "nothing may stand between the name and the colon (RFC 9112 section 5.1)",
                        name);
        return fail(ll, 400,
                    "malformed HTTP request: byte 0x%02x in header field name '%s'; a name is a "
                    "token (RFC 9110 section 5.1)",
                    c, name);
    }
    return 0;
}

/* A value holds visible bytes, obs-text, SP and HTAB; a line that starts
 * with whitespace continues the previous one (obs-fold), which RFC 9112 5.2
 * lets a server refuse: llhttp's span then follows a LF. */
static int check_field_value(llhttp_t *ll, const char *at, size_t len)
{
    struct http_parser *p = owner(ll);
    char name[64];
    /* llhttp hands an empty value as an empty span after the line's CRLF. */
    if (len > 0 && nonws_before(p, at) == '\n') {
        field_name(p, at, 0, name, sizeof(name));
        return fail(ll, 400,
                    "malformed HTTP request: header field '%s' is folded over lines (obs-fold, "
                    "RFC 9112 section 5.2)",
                    name);
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)at[i];
        if (!is_ctl(c) || c == '\t')
            continue;
        field_name(p, at, 0, name, sizeof(name));
        return fail(ll, 400,
                    "malformed HTTP request: control character 0x%02x in the value of header "
                    "field '%s' (RFC 9110 section 5.5)",
                    c, name);
    }
    return 0;
}

/* RFC 9110 5.5: the field value excludes trailing whitespace (llhttp drops the leading). */
static void trim_value(struct http_parser *p)
{
    while (p->hdr.len > p->hdr_off[p->nhdr][1] &&
           (p->hdr.ptr[p->hdr.len - 1] == ' ' || p->hdr.ptr[p->hdr.len - 1] == '\t'))
        p->hdr.len--;
}

static int on_header_field(llhttp_t *ll, const char *at, size_t len)
{
    struct http_parser *p = owner(ll);
    bool starts = !p->in_field;
    if (len == 0)
        return 0;
    p->in_field = true;
    if (p->headers_done) /* a trailer: checked, then dropped */
        return check_field_name(ll, at, len, starts) ? HPE_USER : 0;
    if (p->in_header_value || p->hdr.len == 0) {
        if (p->in_header_value) {
            trim_value(p);
            if (buf_putc(&p->hdr, '\0'))
                return fail(ll, 431, "header fields too large");
            p->nhdr++;
        }
        if (p->nhdr >= HTTP_MAX_HEADERS)
            return fail(ll, 431, "too many header fields");
        p->hdr_off[p->nhdr][0] = p->hdr.len;
        p->in_header_value = false;
    }
    if (check_field_name(ll, at, len, starts))
        return HPE_USER;
    if (buf_append(&p->hdr, at, len) != 0)
        return fail(ll, 431, "header fields too large");
    return 0;
}

static int on_header_field_complete(llhttp_t *ll)
{
    owner(ll)->in_field = false;
    return 0;
}

static int on_header_value(llhttp_t *ll, const char *at, size_t len)
{
    struct http_parser *p = owner(ll);
    if (check_field_value(ll, at, len))
        return HPE_USER;
    if (p->headers_done)
        return 0;
    if (!p->in_header_value) {
        if (p->hdr.len == p->hdr_off[p->nhdr][0])
            return fail(ll, 400, "malformed HTTP request: empty header name");
        if (buf_putc(&p->hdr, '\0'))
            return fail(ll, 431, "header fields too large");
        p->hdr_off[p->nhdr][1] = p->hdr.len;
        p->in_header_value = true;
    }
    if (buf_append(&p->hdr, at, len) != 0)
        return fail(ll, 431, "header fields too large");
    return 0;
}

/* Whether the last coding of a Transfer-Encoding value is chunked. */
static bool ends_with_chunked(const char *v)
{
    const char *comma = strrchr(v, ',');
    const char *last = comma ? comma + 1 : v;
    while (*last == ' ' || *last == '\t')
        last++;
    return strcasecmp(last, "chunked") == 0; /* the value has no trailing whitespace */
}

static int on_headers_complete(llhttp_t *ll)
{
    struct http_parser *p = owner(ll);
    if (p->in_header_value) {
        trim_value(p);
        if (buf_putc(&p->hdr, '\0')) {
            fail(ll, 431, "header fields too large");
            return -1;
        }
        p->nhdr++;
        p->in_header_value = false;
    }
    p->headers_done = true;
    ll->upgrade = 0; /* we never switch protocols: go on parsing HTTP/1.1 */
    if ((ll->flags & F_CONTENT_LENGTH) && ll->content_length > p->max_body_bytes) {
        snprintf(p->error_msg, sizeof(p->error_msg),
                 "request body of %llu bytes exceeds the limit of %zu bytes",
                 (unsigned long long)ll->content_length, p->max_body_bytes);
        p->error_status = 413;
        return -1; /* llhttp reads 1 and 2 here as "no body" and "upgrade" */
    }
    size_t ntransfer = 0;
    const char *coding = NULL;
    for (size_t i = 0; i < p->nhdr; i++) {
        const char *name = p->hdr.ptr + p->hdr_off[i][0], *value = p->hdr.ptr + p->hdr_off[i][1];
        if (strcasecmp(name, "expect") == 0 && strcasecmp(value, "100-continue") == 0)
            p->expect_continue = true;
        if (strcasecmp(name, "transfer-encoding") == 0) {
            ntransfer++;
            coding = value;
        }
    }
    /* Framing other parsers could read differently: an HTTP/1.0 request
     * with Transfer-Encoding (RFC 9112 6.1), codings besides chunked. */
    if (ntransfer && (ll->http_major == 1 && ll->http_minor == 0)) {
        fail(ll, 400,
             "malformed HTTP request: Transfer-Encoding in an HTTP/1.0 request "
             "(RFC 9112 section 6.1)");
        return -1;
    }
    if (ntransfer && !ends_with_chunked(coding)) {
        fail(ll, 400,
             "malformed HTTP request: the last Transfer-Encoding is not chunked, so "
             "the body has no length (RFC 9112 section 6.3)");
        return -1;
    }
    if (ntransfer > 1 || (ntransfer == 1 && strcasecmp(coding, "chunked") != 0)) {
        fail(ll, 501, "transfer codings other than one 'chunked' are not supported");
        return -1;
    }
    if (ntransfer && (ll->flags & F_CONTENT_LENGTH)) {
        fail(ll, 400,
             "malformed HTTP request: both Content-Length and Transfer-Encoding "
             "(RFC 9112 section 6.3)");
        return -1;
    }
    bool has_body = ntransfer || ((ll->flags & F_CONTENT_LENGTH) && ll->content_length > 0);
    if (has_body && p->stream_bodies) {
        p->paused_for = HTTP_PARSE_HEAD;
        return HPE_PAUSED; /* llhttp goes on with the body on resume */
    }
    if (!ntransfer && has_body && p->budget) {
        if (!p->budget(p->budget_arg, (long long)ll->content_length)) {
            fail(ll, 503, "too many request bodies are in flight; try again later");
            return -1;
        }
        p->reserved = (size_t)ll->content_length;
    }
    return 0;
}

static int on_body(llhttp_t *ll, const char *at, size_t len)
{
    struct http_parser *p = owner(ll);
    /* The head and each chunk-size line end with CRLF; llhttp's loose mode
     * also takes a bare LF after the head and a bare CR in a chunk extension. */
    if (!p->body_started && len > 0 &&
        (byte_before(p, at, 1) != '\n' || byte_before(p, at, 2) != '\r'))
        return fail(ll, 400, BARE_LINE_END);
    p->body_started = true;
    if (p->stream_bodies) {
        if (len == 0)
            return 0;
        p->streamed += len;
        if (p->streamed > p->max_body_bytes)
            return fail(ll, 413, "request body exceeds the limit of %zu bytes", p->max_body_bytes);
        p->piece = (struct str){at, len};
        p->paused_for = HTTP_PARSE_BODY;
        return HPE_PAUSED;
    }
    if (p->budget && p->body.len + len > p->reserved) { /* chunked: reserve as it comes */
        size_t more = p->body.len + len - p->reserved;
        if (!p->budget(p->budget_arg, (long long)more))
            return fail(ll, 503, "too many request bodies are in flight; try again later");
        p->reserved += more;
    }
    if (buf_append(&p->body, at, len) != 0) {
        snprintf(p->error_msg, sizeof(p->error_msg), "request body exceeds the limit of %zu bytes",
                 p->max_body_bytes);
        p->error_status = 413;
        return HPE_USER;
    }
    return 0;
}

static int on_chunk_complete(llhttp_t *ll)
{
    owner(ll)->body_started = false; /* check the next chunk's line too */
    return 0;
}

static int on_message_complete(llhttp_t *ll)
{
    owner(ll)->paused_for = HTTP_PARSE_REQUEST;
    return HPE_PAUSED;
}

static const llhttp_settings_t settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_field_complete = on_header_field_complete,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_chunk_complete = on_chunk_complete,
    .on_message_complete = on_message_complete,
};

void http_parser_init(struct http_parser *p, size_t max_body_bytes)
{
    memset(p, 0, sizeof(*p));
    llhttp_init(&p->ll, HTTP_REQUEST, &settings);
    /* Strict framing: none of llhttp's lenient modes (they are off by
     * default; say so, in case a build of llhttp changes that). */
    llhttp_set_lenient_headers(&p->ll, 0);
    llhttp_set_lenient_chunked_length(&p->ll, 0);
    llhttp_set_lenient_keep_alive(&p->ll, 0);
    llhttp_set_lenient_transfer_encoding(&p->ll, 0);
    p->ll.data = p;
    buf_init(&p->url, HTTP_URL_LIMIT_BYTES);
    buf_init(&p->hdr, HTTP_HEADER_LIMIT_BYTES);
    buf_init(&p->body, max_body_bytes);
    p->max_body_bytes = max_body_bytes;
}

void http_parser_release(struct http_parser *p)
{
    http_parser_drop_body(p);
    buf_release(&p->url);
    buf_release(&p->hdr);
    buf_release(&p->body);
}

/* Remember the end of what llhttp took, for byte_before() and nonws_before(). */
static void keep_tail(struct http_parser *p, const char *data, size_t used)
{
    if (used >= 2) {
        p->tail[0] = data[used - 2];
        p->tail[1] = data[used - 1];
    } else if (used == 1) {
        p->tail[0] = p->tail[1];
        p->tail[1] = data[0];
    }
    for (size_t i = used; i > 0; i--)
        if (data[i - 1] != ' ' && data[i - 1] != '\t') {
            p->last_nonws = data[i - 1];
            break;
        }
}

enum http_parse_status http_parser_feed(struct http_parser *p, const char *data, size_t len,
                                        size_t *used)
{
    p->feed_base = data;
    llhttp_errno_t e = llhttp_execute(&p->ll, data, len);
    p->feed_base = NULL;
    if (e == HPE_OK) {
        *used = len;
        keep_tail(p, data, len);
        return HTTP_PARSE_MORE;
    }
    if (e == HPE_PAUSED) {
        *used = (size_t)(llhttp_get_error_pos(&p->ll) - data);
        keep_tail(p, data, *used);
        if (p->paused_for != HTTP_PARSE_REQUEST)
            return (enum http_parse_status)p->paused_for;
        p->in_message = false;
        return HTTP_PARSE_REQUEST;
    }
    *used = len;
    if (!p->error_status) { /* not one of our callbacks' refusals */
        const char *reason = llhttp_get_error_reason(&p->ll);
        p->error_status = 400;
        snprintf(p->error_msg, sizeof(p->error_msg), "malformed HTTP request: %s",
                 reason ? reason : llhttp_errno_name(e));
    }
    return HTTP_PARSE_ERROR;
}

void http_parser_request(struct http_parser *p, struct http_request *req)
{
    req->method = str_from(llhttp_method_name((llhttp_method_t)p->ll.method));
    const char *q = memchr(p->url.ptr, '?', p->url.len);
    req->path = (struct str){p->url.ptr, q ? (size_t)(q - p->url.ptr) : p->url.len};
    req->query = q ? (struct str){q + 1, p->url.len - (size_t)(q + 1 - p->url.ptr)} : STR_NULL;
    for (size_t i = 0; i < p->nhdr; i++) {
        req->headers[i].name = str_from(p->hdr.ptr + p->hdr_off[i][0]);
        req->headers[i].value = str_from(p->hdr.ptr + p->hdr_off[i][1]);
    }
    req->nheaders = p->nhdr;
    req->body = (struct str){p->body.ptr, p->body.len};
}

bool http_parser_keep_alive(const struct http_parser *p)
{
    return llhttp_should_keep_alive(&p->ll);
}

bool http_parser_is_http10(const struct http_parser *p)
{
    return p->ll.http_major == 1 && p->ll.http_minor == 0;
}

void http_parser_next(struct http_parser *p)
{
    clear_request(p);
    llhttp_resume(&p->ll);
}

void http_parser_resume(struct http_parser *p)
{
    p->piece = STR_NULL;
    llhttp_resume(&p->ll);
}

struct str http_parser_piece(const struct http_parser *p)
{
    return p->piece;
}
