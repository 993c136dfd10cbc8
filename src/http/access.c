/* access.c - formats and writes access log lines (access.h). */
#include "http/access.h"
#include "base/log.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

uint64_t http_access_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Append 's' escaped: JSON's rules, or log.h's with '"' as \x22 so that a
 * quoted field of the combined format ends only where it should. */
static size_t put_value(char *out, size_t cap, size_t n, const char *s, bool json)
{
    size_t len = strlen(s);
    if (json)
        return n + log_escape_json(out + n, cap - n, s, len);
    if (len == 0) {
        if (n < cap)
            out[n++] = '-';
        return n;
    }
    for (size_t i = 0; i < len && n < cap;) {
        size_t run = strcspn(s + i, "\""), used = 0;
        n += log_escape(out + n, cap - n, s + i, run, &used);
        i += used;
        if (used < run || i == len)
            break;
        if (cap - n < 4)
            break;
        memcpy(out + n, "\\x22", 4);
        n += 4;
        i++;
    }
    return n;
}

size_t http_access_format(char *out, size_t cap, const struct http_access *a, const char *peer,
                          uint64_t end_ns, bool json)
{
    char when[40];
    struct tm tm;
    gmtime_r(&a->start, &tm);
    double secs = end_ns > a->start_ns ? (double)(end_ns - a->start_ns) / 1e9 : 0;
    size_t room = cap - 1; /* for the '\n' */
    size_t n;
    if (json) {
        strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
        n = (size_t)snprintf(out, room, "{\"ts\":\"%s\",\"remote_addr\":\"%s\",\"method\":\"", when,
                             peer);
        n = put_value(out, room, n, a->method, true);
        n += (size_t)snprintf(out + n, room - n, "\",\"target\":\"");
        n = put_value(out, room, n < room ? n : room, a->target, true);
        n += (size_t)snprintf(out + n, room - n,
                              "\",\"protocol\":\"%s\",\"status\":%d,\"bytes\":%llu,"
                              "\"referer\":\"",
                              a->proto, a->status, a->bytes);
        n = put_value(out, room, n < room ? n : room, a->referer, true);
        n += (size_t)snprintf(out + n, room - n, "\",\"user_agent\":\"");
        n = put_value(out, room, n < room ? n : room, a->agent, true);
        n += (size_t)snprintf(out + n, room - n, "\",\"request_time\":%.6f,\"id\":%llu}", secs,
                              (unsigned long long)a->id);
    } else {
        strftime(when, sizeof(when), "%d/%b/%Y:%H:%M:%S +0000", &tm);
        n = (size_t)snprintf(out, room, "%s - - [%s] \"", peer, when);
        n = put_value(out, room, n, a->method, false);
        if (n < room)
            out[n++] = ' ';
        n = put_value(out, room, n, a->target, false);
        n += (size_t)snprintf(out + n, room - n, " %s\" %d %llu \"", a->proto, a->status, a->bytes);
        n = put_value(out, room, n < room ? n : room, a->referer, false);
        n += (size_t)snprintf(out + n, room - n, "\" \"");
        n = put_value(out, room, n < room ? n : room, a->agent, false);
        n +=
            (size_t)snprintf(out + n, room - n, "\" %.6f id=%llu", secs, (unsigned long long)a->id);
    }
    if (n > room)
        n = room;
    out[n++] = '\n';
    return n;
}

void http_access_write(const struct http_access_log *log, const struct http_access *a,
                       const char *peer)
{
    char line[8192]; /* the longest line, every byte escaped, fits */
    size_t n = http_access_format(line, sizeof(line), a, peer, http_access_now_ns(), log->json);
    ssize_t w = write(log->fd, line, n);
    (void)w;
}
