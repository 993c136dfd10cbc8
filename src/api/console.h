/* console.h - the web console's files at /console/ on the API listener, and
 * the API's answer to browsers (CORS for the console's own origin only).
 *
 * The console (web/, docs/console.md) is one more API client: its pages sign
 * TC3 in the browser, so it has no session of its own. Its files are built
 * into berthd (gen/console_files.c), so an installed berthd, its image and a
 * cluster's pod serve the console of their own version. */
#ifndef BERTH_API_CONSOLE_H
#define BERTH_API_CONSOLE_H

#include <stdbool.h>
#include <stddef.h>

struct http_request;
struct http_response;

/* One file of web/, as the build embedded it. */
struct console_file {
    const char *name; /* "index.html", "js/app.js" */
    const unsigned char *data;
    size_t size;
};
/* Ends with a { NULL } row. */
extern const struct console_file console_files[];

/* Answer GET (and HEAD) /console and /console/...; false for any other
 * request, which is the API's. */
bool api_console_serve(const struct http_request *req, struct http_response *res);

/* What the API does with a request's Origin header, before anything else:
 * API_ORIGIN_NONE (no Origin: not a browser's cross-site call, or a
 * same-origin GET), API_ORIGIN_OWN (the listener's own origin: the console;
 * CORS headers added to 'res'), API_ORIGIN_FOREIGN (another site's page:
 * 'res' is a bare 403, the action does not run). An OPTIONS preflight from
 * the own origin is answered whole (204) and returns API_ORIGIN_ANSWERED. */
enum api_origin { API_ORIGIN_NONE, API_ORIGIN_OWN, API_ORIGIN_FOREIGN, API_ORIGIN_ANSWERED };
enum api_origin api_check_origin(const struct http_request *req, struct http_response *res);

#endif
