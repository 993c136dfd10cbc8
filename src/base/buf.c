/* buf.c - byte buffers and string views. */
#include "base/buf.h"
#include "base/alloc.h"
#include "base/err.h"
#include "base/fmtfloat.h"

#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

static char buf_empty[1];

bool str_has_prefix(struct str s, const char *prefix)
{
    size_t n = strlen(prefix);
    return s.len >= n && memcmp(s.ptr, prefix, n) == 0;
}

int str_to_u64(struct str s, unsigned long long max, unsigned long long *out)
{
    if (s.len == 0 || s.len > 20)
        return ERR_INVALID;
    unsigned long long v = 0;
    for (size_t i = 0; i < s.len; i++) {
        if (!isdigit((unsigned char)s.ptr[i]))
            return ERR_INVALID;
        unsigned d = (unsigned)(s.ptr[i] - '0');
        if (d > max || v > (max - d) / 10)
            return ERR_TOOBIG;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

void buf_init(struct buf *b, size_t limit_bytes)
{
    b->ptr = buf_empty;
    b->len = 0;
    b->cap = 0;
    b->limit_bytes = limit_bytes;
}

void buf_release(struct buf *b)
{
    if (b->cap)
        free(b->ptr);
    buf_init(b, b->limit_bytes);
}

void buf_reset(struct buf *b)
{
    b->len = 0;
    if (b->cap)
        b->ptr[0] = '\0';
}

char *buf_detach(struct buf *b, size_t *len)
{
    char *p = b->cap ? b->ptr : xstrdup("");
    if (len)
        *len = b->len;
    buf_init(b, b->limit_bytes);
    return p;
}

int buf_reserve(struct buf *b, size_t extra)
{
    if (extra > b->limit_bytes || b->len > b->limit_bytes - extra)
        return ERR_TOOBIG;
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    if (b->limit_bytes < SIZE_MAX && cap > b->limit_bytes + 1)
        cap = b->limit_bytes + 1; /* doubling must not allocate past the cap */
    if (b->cap) {
        b->ptr = xrealloc(b->ptr, cap);
    } else {
        b->ptr = xmalloc(cap);
        b->ptr[0] = '\0';
    }
    b->cap = cap;
    return 0;
}

int buf_append(struct buf *b, const void *data, size_t n)
{
    int rc = buf_reserve(b, n);
    if (rc)
        return rc;
    if (n)
        memcpy(b->ptr + b->len, data, n);
    b->len += n;
    b->ptr[b->len] = '\0';
    return 0;
}

int buf_putc(struct buf *b, char c)
{
    return buf_append(b, &c, 1);
}

int buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
    va_list cp;
    va_copy(cp, ap);
    char small[256];
    int n = vsnprintf(small, sizeof(small), fmt, cp);
    va_end(cp);
    if (n < 0)
        return ERR_INVALID;
    if ((size_t)n < sizeof(small))
        return buf_append(b, small, (size_t)n);
    int rc = buf_reserve(b, (size_t)n);
    if (rc)
        return rc;
    vsnprintf(b->ptr + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return 0;
}

int buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

int buf_read_file(struct buf *b, const char *path, struct err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return err_set(err, ERR_SYS(errno), "cannot open '%s': %s", path, strerror(errno));
    int rc = 0;
    for (;;) {
        /* Read straight into the buffer, growing it a chunk at a time. */
        size_t room = b->limit_bytes - b->len < 65536 ? b->limit_bytes - b->len : 65536;
        if (room == 0) {
            if (fgetc(f) != EOF)
                rc =
                    err_set(err, ERR_TOOBIG, "'%s' is larger than %zu bytes", path, b->limit_bytes);
            break;
        }
        if ((rc = buf_reserve(b, room)))
            break;
        size_t n = fread(b->ptr + b->len, 1, room, f);
        b->len += n;
        b->ptr[b->len] = '\0';
        if (n < room)
            break;
    }
    if (rc == 0 && ferror(f))
        rc = err_set(err, ERR_SYS(EIO), "cannot read '%s'", path);
    fclose(f);
    return rc;
}

int buf_json_str(struct buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    int rc = buf_reserve(b, n + 2);
    if (rc)
        return rc;
    b->ptr[b->len++] = '"';
    b->ptr[b->len] = '\0';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[7];
        size_t k = 0;
        if (c == '"' || c == '\\') {
            esc[k++] = '\\';
            esc[k++] = (char)c;
        } else if (c == '\n') {
            esc[k++] = '\\';
            esc[k++] = 'n';
        } else if (c == '\t') {
            esc[k++] = '\\';
            esc[k++] = 't';
        } else if (c == '\r') {
            esc[k++] = '\\';
            esc[k++] = 'r';
        } else if (c < 0x20) {
            memcpy(esc, "\\u00", 4);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            k = 6;
        } else {
            esc[k++] = (char)c;
        }
        if ((rc = buf_append(b, esc, k)))
            return rc;
    }
    return buf_putc(b, '"');
}

/* m * 10^e as a double, within two ulps (m < 2^30, |e| <= 45). */
static double decimal_value(uint32_t m, int e)
{
    static const double p10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                 1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    double x = m;
    for (; e > 22; e -= 22)
        x *= 1e22;
    for (; e < -22; e += 22)
        x /= 1e22;
    return e >= 0 ? x * p10[e] : x / p10[-e];
}

/* Whether 'text' (fmtfloat's for 'f', with decimal 'd') also reads back as
 * 'f' through strtod and a cast to float, as JSON readers that parse doubles
 * do (our own json.c, Python's json with numpy). Only a decimal within 2^-53 of
 * an end of the float's interval can round to that end as a double and then,
 * a tie, to the even neighbour; that needs an odd significand (it owns no end).
 * Of all float32 values only +-7.0385307e-26 meet it ("7.038531e-26", see
 * bench/fmtfloat_check.c), so strtod runs for the very few texts near an end. */
static bool reads_back_as_double(float f, const char *text, const struct fmtfloat_dec *d)
{
    uint32_t bits;
    memcpy(&bits, &f, sizeof(bits));
    bits &= 0x7FFFFFFF;
    if ((bits & 1) == 0)
        return true;
    float a = fabsf(f), below;
    uint32_t bb = bits - 1;
    memcpy(&below, &bb, sizeof(below));
    double half_gap = ((double)a - below) / 2; /* the same gap above: c is odd */
    double dist = fabs(decimal_value(d->digits, d->exp10) - a);
    if (dist < half_gap * (1 - 0x1p-20))
        return true;
    return (float)strtod(text, NULL) == f;
}

int buf_json_float(struct buf *b, double v)
{
    if (isnan(v))
        return buf_puts(b, "NaN");
    if (isinf(v))
        return buf_puts(b, v > 0 ? "Infinity" : "-Infinity");
    char tmp[40];
    size_t n;
    if (fabs(v) <= FLT_MAX && (float)v == v) { /* float32 values: the shortest text */
        float f = (float)v;
        struct fmtfloat_dec d;
        n = fmtfloat_write_dec(tmp, f, &d);
        /* The rare text a double-rounding reader takes for the neighbour: one
         * digit more, as the old %.6g..%.9g loop chose. */
        if (!reads_back_as_double(f, tmp, &d)) {
            for (int prec = d.ndigits + 1; prec <= 9; prec++) {
                n = (size_t)snprintf(tmp, sizeof(tmp), "%.*g", prec, v);
                if ((float)strtod(tmp, NULL) == f && strtof(tmp, NULL) == f)
                    break;
            }
        }
    } else { /* not a float32: keep double precision */
        n = (size_t)snprintf(tmp, sizeof(tmp), "%.17g", v);
    }
    return buf_append(b, tmp, n);
}
