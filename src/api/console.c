/* console.c - the console's files and the API's CORS (console.h). */
#include "api/console.h"
#include "base/buf.h"
#include "http/server.h"
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define PREFIX "/console/"

/* The pages load only what they came with and talk only to this listener:
 * a script injected into a service's name or a log line cannot run, nor
 * send the key anywhere. */
#define CONSOLE_CSP                                                                                \
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "              \
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

static const struct {
    const char *ext;
    const char *type;
} types[] = {
    {".html", "text/html; charset=utf-8"}, {".js", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},   {".svg", "image/svg+xml"},
    {".json", "application/json"},         {".png", "image/png"},
};

static const char *content_type(const char *name)
{
    const char *dot = strrchr(name, '.');
    for (size_t i = 0; dot && i < sizeof(types) / sizeof(types[0]); i++)
        if (strcmp(dot, types[i].ext) == 0)
            return types[i].type;
    return "application/octet-stream";
}

static const struct console_file *find(const char *name, size_t len)
{
    for (const struct console_file *f = console_files; f->name; f++)
        if (strlen(f->name) == len && memcmp(f->name, name, len) == 0)
            return f;
    return NULL;
}

static void plain(struct http_response *res, int status, const char *msg)
{
    res->status = status;
    res->content_type = "text/plain; charset=utf-8";
    buf_reset(&res->body);
    buf_puts(&res->body, msg);
}

bool api_console_serve(const struct http_request *req, struct http_response *res)
{
    struct str p = req->path;
    bool get = str_eq_cstr(req->method, "GET") || str_eq_cstr(req->method, "HEAD");
    if (str_eq_cstr(p, "/console")) {
        if (!get)
            return false;
        buf_puts(&res->headers, "Location: /console/\r\n");
        plain(res, 301, "the console is at /console/\n");
        return true;
    }
    if (p.len < strlen(PREFIX) || memcmp(p.ptr, PREFIX, strlen(PREFIX)) != 0)
        return false;
    if (!get) {
        buf_puts(&res->headers, "Allow: GET, HEAD\r\n");
        plain(res, 405, "the console's files are read with GET\n");
        return true;
    }
    const char *name = p.ptr + strlen(PREFIX);
    size_t len = p.len - strlen(PREFIX);
    if (len == 0) {
        name = "index.html";
        len = strlen(name);
    }
    /* Only the names the build embedded: nothing else is read. */
    const struct console_file *f = find(name, len);
    if (!f) {
        plain(res, 404, "no such file in the console\n");
        return true;
    }
    res->status = 200;
    res->content_type = content_type(f->name);
    buf_puts(&res->headers, "Cache-Control: no-cache\r\n"
                            "X-Content-Type-Options: nosniff\r\n"
                            "Referrer-Policy: no-referrer\r\n"
                            "Content-Security-Policy: " CONSOLE_CSP "\r\n");
    buf_reset(&res->body);
    buf_append(&res->body, f->data, f->size);
    return true;
}

/* Whether 'origin' is this listener's own: the Host the request names
 * (which is what the browser put in the console's address bar), over http
 * or https. Either scheme: behind a proxy that ends TLS the page is https
 * and the request to berthd is not, and no other server can answer the
 * same host and port with the other scheme. */
static bool own_origin(const struct http_request *req, struct str origin)
{
    struct str host = http_request_header(req, "Host");
    if (!host.ptr || !host.len)
        return false;
    static const char *const schemes[] = {"http://", "https://"};
    for (size_t i = 0; i < 2; i++) {
        size_t sl = strlen(schemes[i]);
        if (origin.len == sl + host.len && strncasecmp(origin.ptr, schemes[i], sl) == 0 &&
            strncasecmp(origin.ptr + sl, host.ptr, host.len) == 0)
            return true;
    }
    return false;
}

enum api_origin api_check_origin(const struct http_request *req, struct http_response *res)
{
    struct str origin = http_request_header(req, "Origin");
    if (!origin.ptr)
        return API_ORIGIN_NONE;
    if (!own_origin(req, origin)) {
        /* No Access-Control-* header, no body: the other site's page reads
         * nothing, and its preflight fails so the request never comes. */
        res->status = 403;
        res->content_type = "text/plain; charset=utf-8";
        buf_reset(&res->body);
        buf_puts(&res->headers, "Vary: Origin\r\n");
        return API_ORIGIN_FOREIGN;
    }
    buf_puts(&res->headers, "Access-Control-Allow-Origin: ");
    buf_append(&res->headers, origin.ptr, origin.len);
    buf_puts(&res->headers, "\r\nVary: Origin\r\n");
    if (!str_eq_cstr(req->method, "OPTIONS"))
        return API_ORIGIN_OWN;
    buf_puts(&res->headers,
             "Access-Control-Allow-Methods: POST\r\n"
             "Access-Control-Allow-Headers: Authorization, Content-Type, X-TC-Action, "
             "X-TC-Version, X-TC-Region, X-TC-Timestamp, X-TC-Language, X-TC-Token\r\n"
             "Access-Control-Max-Age: 600\r\n");
    res->status = 204;
    buf_reset(&res->body);
    return API_ORIGIN_ANSWERED;
}
