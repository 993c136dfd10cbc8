/* syslog.c - RFC 5424 messages in RFC 6587 octet-counting frames. The
 * message is written after room for the longest length prefix and then
 * moved down once its length is known, so nothing is formatted twice. */
#include "logs/syslog.h"
#include "base/err.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define PREFIX_MAX 8     /* "NNNNNNN " covers LOGS_SYSLOG_FRAME_MAX */
#define SD_VALUE_MAX 255 /* bytes of an id taken into a value, before escaping */

struct out {
    char *p;
    size_t len, cap;
    int full;
};

static void put(struct out *o, const char *s, size_t n)
{
    if (o->full || n > o->cap - o->len) {
        o->full = 1;
        return;
    }
    memcpy(o->p + o->len, s, n);
    o->len += n;
}

static void puts_(struct out *o, const char *s)
{
    put(o, s, strlen(s));
}

/* A header field: printable US-ASCII only, at most 'max' bytes, "-" when empty. */
static void header_field(struct out *o, const char *s, size_t max)
{
    size_t n = s ? strlen(s) : 0;
    if (n > max)
        n = max;
    if (n == 0) {
        put(o, "-", 1);
        return;
    }
    if (o->full || n > o->cap - o->len) {
        o->full = 1;
        return;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        o->p[o->len++] = c >= 33 && c <= 126 ? (char)c : '_';
    }
}

size_t logs_syslog_sd_escape(char *out, size_t cap, const char *s, size_t len)
{
    size_t w = 0;
    for (size_t i = 0; i < len; i++) {
        int esc = s[i] == '"' || s[i] == '\\' || s[i] == ']';
        if (w + 1 + (size_t)esc > cap)
            break;
        if (esc)
            out[w++] = '\\';
        out[w++] = s[i];
    }
    return w;
}

static void sd_param(struct out *o, const char *name, const char *value)
{
    char esc[2 * SD_VALUE_MAX];
    size_t n = value ? strlen(value) : 0;
    if (n > SD_VALUE_MAX)
        n = SD_VALUE_MAX;
    put(o, " ", 1);
    puts_(o, name);
    put(o, "=\"", 2);
    put(o, esc, logs_syslog_sd_escape(esc, sizeof(esc), value ? value : "", n));
    put(o, "\"", 1);
}

static void timestamp(struct out *o, int64_t time_us)
{
    time_t t = (time_t)(time_us / 1000000);
    long us = (long)(time_us % 1000000);
    if (us < 0) {
        us += 1000000;
        t -= 1;
    }
    struct tm tm;
    char ts[40];
    gmtime_r(&t, &tm);
    int n = snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, us);
    if (n > 0 && (size_t)n < sizeof(ts) && tm.tm_year + 1900 <= 9999 && tm.tm_year + 1900 >= 0)
        put(o, ts, (size_t)n);
    else
        put(o, "-", 1); /* NILVALUE: no time RFC 5424 can write */
}

size_t logs_syslog_frame(const struct logs_line *l, int facility, const char *hostname, char *out,
                         size_t cap)
{
    if (cap <= PREFIX_MAX)
        return 0;
    const char *stream = l->stream == LOGS_STDERR ? "stderr" : "stdout";
    int severity = l->stream == LOGS_STDERR ? LOGS_SYSLOG_WARNING : LOGS_SYSLOG_INFO;
    if (facility < 0 || facility > 23)
        facility = LOGS_SYSLOG_USER;
    struct out o = {out + PREFIX_MAX, 0, cap - PREFIX_MAX, 0};
    char pri[16];
    int n = snprintf(pri, sizeof(pri), "<%d>1 ", facility * 8 + severity);
    put(&o, pri, (size_t)n);
    timestamp(&o, l->time_us);
    put(&o, " ", 1);
    header_field(&o, hostname, 255);
    put(&o, " ", 1);
    header_field(&o, l->service_id, 48);
    put(&o, " ", 1);
    header_field(&o, l->pod, 128);
    put(&o, " ", 1);
    header_field(&o, stream, 32);
    put(&o, " [" LOGS_SYSLOG_SD_ID, sizeof(" [" LOGS_SYSLOG_SD_ID) - 1);
    sd_param(&o, "service", l->service_id);
    sd_param(&o, "group", l->group_id);
    sd_param(&o, "pod", l->pod);
    sd_param(&o, "stream", stream);
    put(&o, "]", 1);
    if (l->len) {
        put(&o, " ", 1);
        put(&o, l->text, l->len);
    }
    if (o.full)
        return 0;
    char prefix[PREFIX_MAX + 1];
    n = snprintf(prefix, sizeof(prefix), "%zu ", o.len);
    if (n <= 0 || n > PREFIX_MAX)
        return 0;
    memcpy(out, prefix, (size_t)n);
    memmove(out + n, out + PREFIX_MAX, o.len);
    return (size_t)n + o.len;
}

int logs_syslog_next_frame(const char *p, size_t len, size_t *frame_len)
{
    size_t i = 0, msg = 0;
    while (i < len && p[i] >= '0' && p[i] <= '9') {
        if (i == 0 && p[i] == '0')
            return ERR_INVALID; /* NONZERO-DIGIT first (RFC 6587 §3.4.1) */
        msg = msg * 10 + (size_t)(p[i] - '0');
        if (msg > LOGS_SYSLOG_FRAME_MAX)
            return ERR_INVALID;
        i++;
    }
    if (i == len)
        return ERR_AGAIN;
    if (i == 0 || p[i] != ' ' || msg == 0)
        return ERR_INVALID;
    if (len - i - 1 < msg)
        return ERR_AGAIN;
    *frame_len = i + 1 + msg;
    return 0;
}
