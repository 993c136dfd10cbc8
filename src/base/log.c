/* log.c - the stderr logger. Each line is formatted whole and written with one
 * write(2), so lines from different threads never interleave; the message is
 * escaped, so each event is one line whatever the values in it hold. */
#include "base/log.h"
#include "base/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int log_level_current = LOG_INFO;

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

size_t log_escape(char *dst, size_t cap, const char *src, size_t len, size_t *used)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = 0, i = 0;
    for (; i < len; i++) {
        unsigned char c = (unsigned char)src[i];
        char esc = c == '\n' ? 'n' : c == '\r' ? 'r' : c == '\t' ? 't' : c == '\\' ? '\\' : 0;
        if (esc) {
            if (cap - n < 2)
                break;
            dst[n++] = '\\';
            dst[n++] = esc;
        } else if (c < 0x20 || c == 0x7f) {
            if (cap - n < 4)
                break;
            dst[n++] = '\\';
            dst[n++] = 'x';
            dst[n++] = hex[c >> 4];
            dst[n++] = hex[c & 15];
        } else {
            if (cap - n < 1)
                break;
            dst[n++] = (char)c;
        }
    }
    if (used)
        *used = i;
    return n;
}

void log_write(enum log_level level, const char *sub, const char *fmt, ...)
{
    char line[2048], msg[2048];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
    n += (size_t)snprintf(line + n, sizeof(line) - n, ".%03ldZ %s %s ", ts.tv_nsec / 1000000,
                          level_names[level], sub);
    if (n > sizeof(line) - 1)
        n = sizeof(line) - 1;
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    size_t mlen = m < 0 ? 0 : (size_t)m < sizeof(msg) ? (size_t)m : sizeof(msg) - 1;
    /* Values in the message (names, paths, reasons) may hold anything. */
    n += log_escape(line + n, sizeof(line) - 1 - n, msg, mlen, NULL);
    line[n++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, n);
    (void)w;
}
