/* err.c - error names and the err_set() helper. */
#include "base/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int err_set(struct err *e, int code, const char *fmt, ...)
{
    if (e) {
        va_list ap;
        va_start(ap, fmt);
        e->code = code;
        vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
        va_end(ap);
    }
    return code;
}

int err_prefix(struct err *e, const char *fmt, ...)
{
    if (!e)
        return ERR_INTERNAL;
    char head[256], old[sizeof(e->msg)];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(head, sizeof(head), fmt, ap);
    va_end(ap);
    memcpy(old, e->msg, sizeof(old));
    size_t n = strlen(head);
    if (n >= sizeof(e->msg))
        n = sizeof(e->msg) - 1;
    memcpy(e->msg, head, n);
    size_t m = strnlen(old, sizeof(old) - 1);
    if (m > sizeof(e->msg) - 1 - n)
        m = sizeof(e->msg) - 1 - n;
    memcpy(e->msg + n, old, m);
    e->msg[n + m] = '\0';
    return e->code;
}

const char *err_name(int code)
{
    switch (code) {
    case ERR_OK:
        return "OK";
    case ERR_AGAIN:
        return "AGAIN";
    case ERR_INVALID:
        return "INVALID";
    case ERR_NOTFOUND:
        return "NOTFOUND";
    case ERR_TOOBIG:
        return "TOOBIG";
    case ERR_EXISTS:
        return "EXISTS";
    case ERR_UNAVAILABLE:
        return "UNAVAILABLE";
    case ERR_INTERNAL:
        return "INTERNAL";
    case ERR_UNSUPPORTED:
        return "UNSUPPORTED";
    }
    return code < 0 && code > -4096 ? "SYS" : "UNKNOWN";
}

const char *err_str(int code)
{
    switch (code) {
    case ERR_OK:
        return "success";
    case ERR_AGAIN:
        return "operation would block";
    case ERR_INVALID:
        return "invalid input";
    case ERR_NOTFOUND:
        return "not found";
    case ERR_TOOBIG:
        return "too large";
    case ERR_EXISTS:
        return "already exists";
    case ERR_UNAVAILABLE:
        return "unavailable";
    case ERR_INTERNAL:
        return "internal error";
    case ERR_UNSUPPORTED:
        return "unsupported";
    }
    if (code < 0 && code > -4096)
        return strerror(-code);
    return "unknown error";
}
