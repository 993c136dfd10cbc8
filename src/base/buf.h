/* buf.h - growable, always NUL-terminated byte buffers (git strbuf) with a hard
 * cap fixed at init (curl dynbuf), and 'struct str' views into parsed data. */
#ifndef BERTH_BUF_H
#define BERTH_BUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>

struct str {
    const char *ptr;
    size_t len;
};

#define STR_NULL ((struct str){NULL, 0})
#define STR_LIT(s) ((struct str){(s), sizeof(s) - 1})

static inline struct str str_from(const char *s)
{
    return (struct str){s, s ? strlen(s) : 0};
}

static inline bool str_eq(struct str a, struct str b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

static inline bool str_eq_cstr(struct str a, const char *b)
{
    return str_eq(a, str_from(b));
}

/* Copy the string 'src' into 'dst' of 'size' bytes (> 0), cut to fit and
 * NUL-terminated, as snprintf("%s") without its cost on hot paths. */
static inline void str_copy(char *dst, size_t size, const char *src)
{
    size_t n = strnlen(src, size - 1);
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* Inline, so that a literal's length is known at compile time. */
static inline bool str_eq_nocase(struct str a, const char *b)
{
    size_t n = strlen(b);
    return a.len == n && strncasecmp(a.ptr, b, n) == 0;
}
bool str_has_prefix(struct str s, const char *prefix);
/* Parse a whole view as a non-negative decimal integer no larger than 'max'. */
int str_to_u64(struct str s, unsigned long long max, unsigned long long *out);

struct buf {
    char *ptr; /* never NULL after buf_init; ptr[len] == '\0' */
    size_t len;
    size_t cap;
    size_t limit_bytes; /* appends that would pass this fail with ERR_TOOBIG */
};

void buf_init(struct buf *b, size_t limit_bytes);
void buf_release(struct buf *b);
/* Forget the contents, keeping the allocation. */
void buf_reset(struct buf *b);
/* Hand the bytes to the caller (free with free()) and reinitialise 'b'. */
char *buf_detach(struct buf *b, size_t *len);
int buf_reserve(struct buf *b, size_t extra);
int buf_append(struct buf *b, const void *data, size_t n);
/* Inline, so that a literal's length is known at compile time. */
static inline int buf_puts(struct buf *b, const char *s)
{
    return buf_append(b, s, strlen(s));
}
int buf_putc(struct buf *b, char c);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int buf_vprintf(struct buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/* Append the whole file at 'path'. ERR_SYS(errno) if it cannot be opened or
 * read, ERR_TOOBIG past the buffer's cap; 'err' names the file. */
struct err;
int buf_read_file(struct buf *b, const char *path, struct err *err);
/* Append 's' as a JSON string literal, quotes included. */
int buf_json_str(struct buf *b, const char *s, size_t n);
/* Append a float the way JSON and Prometheus read it back exactly: for float32
 * values the shortest decimal that reads back as the same float, in %g's layout
 * (base/fmtfloat.h), for other doubles %.17g; NaN and infinities as TF
 * Serving's tokens. */
int buf_json_float(struct buf *b, double v);

#endif
