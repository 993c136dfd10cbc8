/* access.h - the access log: one line per answered request, written whole
 * with one write(2) as nginx does without a buffer, so lines from the
 * server's threads never interleave and `tail -f` shows each at once.
 *
 * Text lines are the combined log format with the request's duration in
 * seconds and its id after it:
 *   127.0.0.1 - - [02/Dec/2026:15:50:00 +0000] "POST /g/v1/models/m:predict HTTP/1.1"
 *   200 112 "-" "curl/7.88.1" 0.000412 id=42
 * JSON lines carry the same fields by name. Values are escaped (log.h's
 * rules), so a request cannot end a line early or forge the next one. */
#ifndef BERTH_HTTP_ACCESS_H
#define BERTH_HTTP_ACCESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* A request's part of the line, captured when its head is complete. */
struct http_access {
    uint64_t start_ns; /* CLOCK_MONOTONIC; 0: no request is being logged */
    time_t start;      /* wall clock, for the timestamp */
    uint64_t id;
    int status;
    unsigned long long bytes; /* body bytes sent */
    char method[16];
    char target[512]; /* path and query, cut at 511 bytes */
    char proto[9];    /* "HTTP/1.1" or "HTTP/1.0" */
    char referer[256], agent[256];
};

/* Where lines go: an fd the caller owns (reopened in place by dup2() on
 * SIGUSR1), in 'json' or text. */
struct http_access_log {
    int fd;
    bool json;
};

/* Format the line for 'a', answered by now (CLOCK_MONOTONIC 'end_ns'), into
 * 'out' of 'cap' bytes, ending in '\n' (cut to fit). Returns its length. */
size_t http_access_format(char *out, size_t cap, const struct http_access *a, const char *peer,
                          uint64_t end_ns, bool json);
/* Format and write the line. */
void http_access_write(const struct http_access_log *log, const struct http_access *a,
                       const char *peer);
uint64_t http_access_now_ns(void);

#endif
