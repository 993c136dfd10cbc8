/* log.c - the stderr logger. Each line is formatted whole and written with one
 * write(2), so lines from different threads never interleave; the message is
 * escaped, so each event is one line whatever the values in it hold. */
#include "base/log.h"
#include "base/err.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int log_level_current = LOG_INFO;
static bool log_json;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

int log_set_level(const char *name)
{
    for (int i = 0; i < 4; i++) {
        if (strcmp(name, level_names[i]) == 0) {
            log_level_current = i;
            return 0;
        }
    }
    return ERR_INVALID;
}

int log_set_format(const char *name)
{
    if (strcmp(name, "text") != 0 && strcmp(name, "json") != 0)
        return ERR_INVALID;
    log_json = name[0] == 'j';
    return 0;
}

/* The length of the well-formed UTF-8 sequence at 's' (at most 'len'
 * bytes), or 0: a stray or truncated byte, an overlong form, a surrogate. */
static size_t utf8_length(const unsigned char *s, size_t len)
{
    size_t k = s[0] >= 0xf0 && s[0] <= 0xf4  ? 4
               : s[0] >= 0xe0 && s[0] < 0xf0 ? 3
               : s[0] >= 0xc2 && s[0] < 0xe0 ? 2
                                             : 0;
    if (k == 0 || k > len)
        return 0;
    for (size_t i = 1; i < k; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    if ((k == 3 && s[0] == 0xe0 && s[1] < 0xa0) || (k == 3 && s[0] == 0xed && s[1] >= 0xa0) ||
        (k == 4 && s[0] == 0xf0 && s[1] < 0x90) || (k == 4 && s[0] == 0xf4 && s[1] >= 0x90))
        return 0;
    return k;
}

/* The one escaping loop: log.h's rules (controls as \xHH, '"' kept, any
 * byte from 0x80 kept) or, with 'json', a JSON string's (controls as \u00HH,
 * '"' escaped, a byte that is not well-formed UTF-8 as \ufffd). */
static size_t escape(char *dst, size_t cap, const char *src, size_t len, size_t *used, bool json)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = 0, i = 0;
    for (; i < len; i++) {
        unsigned char c = (unsigned char)src[i];
        char esc = c == '\n'          ? 'n'
                   : c == '\r'        ? 'r'
                   : c == '\t'        ? 't'
                   : c == '\\'        ? '\\'
                   : c == '"' && json ? '"'
                                      : 0;
        char put[6];
        const char *from = put;
        size_t m;
        if (esc) {
            put[0] = '\\';
            put[1] = esc;
            m = 2;
        } else if (c < 0x20 || c == 0x7f) {
            memcpy(put, json ? "\\u00" : "\\x", json ? 4 : 2);
            m = json ? 6 : 4;
            put[m - 2] = hex[c >> 4];
            put[m - 1] = hex[c & 15];
        } else if (c >= 0x80 && json) {
            m = utf8_length((const unsigned char *)src + i, len - i);
            from = m ? src + i : "\\ufffd";
            if (!m)
                m = 6;
        } else {
            put[0] = (char)c;
            m = 1;
        }
        if (cap - n < m)
            break;
        memcpy(dst + n, from, m);
        n += m;
        if (from == src + i)
            i += m - 1;
    }
    if (used)
        *used = i;
    return n;
}

size_t log_escape_json(char *dst, size_t cap, const char *src, size_t len)
{
    return escape(dst, cap, src, len, NULL, true);
}

size_t log_escape(char *dst, size_t cap, const char *src, size_t len, size_t *used)
{
    return escape(dst, cap, src, len, used, false);
}

void log_write(enum log_level level, const char *sub, const char *fmt, ...)
{
    char line[2048], msg[2048], ts_text[40];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t tl = strftime(ts_text, sizeof(ts_text), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts_text + tl, sizeof(ts_text) - tl, ".%03ldZ", ts.tv_nsec / 1000000);
    int h = log_json ? snprintf(line, sizeof(line),
                                "{\"ts\":\"%s\",\"level\":\"%s\",\"sub\":\"%s\",\"msg\":\"",
                                ts_text, level_names[level], sub)
                     : snprintf(line, sizeof(line), "%s %s %s ", ts_text, level_names[level], sub);
    size_t n = h < 0 ? 0 : (size_t)h < sizeof(line) ? (size_t)h : sizeof(line) - 1;
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    size_t mlen = m < 0 ? 0 : (size_t)m < sizeof(msg) ? (size_t)m : sizeof(msg) - 1;
    /* Values in the message (names, paths, reasons) may hold anything;
     * room is kept for the line's end ("\"}\n" or "\n"). */
    if (log_json) {
        n += log_escape_json(line + n, sizeof(line) - 3 - n, msg, mlen);
        line[n++] = '"';
        line[n++] = '}';
    } else {
        n += log_escape(line + n, sizeof(line) - 1 - n, msg, mlen, NULL);
    }
    line[n++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, n);
    (void)w;
}
