/* parser.c - request assembly on llhttp. on_message_complete pauses llhttp so
 * that exactly one request is handed out at a time, whatever the client
 * pipelined behind it. */
#include "http/parser.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static struct http_parser *owner(llhttp_t *ll)
{
    return ll->data;
}

static void clear_request(struct http_parser *p)
{
    buf_reset(&p->url);
    buf_reset(&p->hdr);
    buf_reset(&p->body);
    p->nhdr = 0;
    p->in_header_value = false;
    p->expect_continue = false;
    p->headers_done = false;
}

static int on_message_begin(llhttp_t *ll)
{
    struct http_parser *p = owner(ll);
    clear_request(p);
    p->in_message = true;
    return 0;
}

static int fail(llhttp_t *ll, int status, const char *msg)
{
    struct http_parser *p = owner(ll);
    p->error_status = status;
    snprintf(p->error_msg, sizeof(p->error_msg), "%s", msg);
    return HPE_USER;
}

static int on_url(llhttp_t *ll, const char *at, size_t len)
{
    if (buf_append(&owner(ll)->url, at, len) != 0)
        return fail(ll, 414, "request target too long");
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
    if (p->headers_done)
        return 0;
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
    if (buf_append(&p->hdr, at, len) != 0)
        return fail(ll, 431, "header fields too large");
    return 0;
}

static int on_header_value(llhttp_t *ll, const char *at, size_t len)
{
    struct http_parser *p = owner(ll);
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
    for (size_t i = 0; i < p->nhdr; i++)
        if (strcasecmp(p->hdr.ptr + p->hdr_off[i][0], "expect") == 0 &&
            strcasecmp(p->hdr.ptr + p->hdr_off[i][1], "100-continue") == 0)
            p->expect_continue = true;
    return 0;
}

static int on_body(llhttp_t *ll, const char *at, size_t len)
{
    struct http_parser *p = owner(ll);
    if (buf_append(&p->body, at, len) != 0) {
        snprintf(p->error_msg, sizeof(p->error_msg), "request body exceeds the limit of %zu bytes",
                 p->max_body_bytes);
        p->error_status = 413;
        return HPE_USER;
    }
    return 0;
}

static int on_message_complete(llhttp_t *ll)
{
    (void)ll;
    return HPE_PAUSED;
}

static const llhttp_settings_t settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

void http_parser_init(struct http_parser *p, size_t max_body_bytes)
{
    memset(p, 0, sizeof(*p));
    llhttp_init(&p->ll, HTTP_REQUEST, &settings);
    p->ll.data = p;
    buf_init(&p->url, HTTP_URL_LIMIT_BYTES);
    buf_init(&p->hdr, HTTP_HEADER_LIMIT_BYTES);
    buf_init(&p->body, max_body_bytes);
    p->max_body_bytes = max_body_bytes;
}

void http_parser_release(struct http_parser *p)
{
    buf_release(&p->url);
    buf_release(&p->hdr);
    buf_release(&p->body);
}

enum http_parse_status http_parser_feed(struct http_parser *p, const char *data, size_t len,
                                        size_t *used)
{
    llhttp_errno_t e = llhttp_execute(&p->ll, data, len);
    if (e == HPE_OK) {
        *used = len;
        return HTTP_PARSE_MORE;
    }
    if (e == HPE_PAUSED) {
        *used = (size_t)(llhttp_get_error_pos(&p->ll) - data);
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
