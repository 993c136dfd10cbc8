/* modelcheck.c - nesting depth, size and UBJSON lengths of a model file,
 * checked without recursion before XGBoost's recursive readers see the file.
 *
 * JSON is only lexed: strings (with their escapes) are skipped so that
 * brackets inside them do not count, and every '[' or '{' must be closed by
 * its own kind. The whole file is scanned, also past the first value.
 *
 * UBJSON (https://ubjson.org, as XGBoost writes it: '{' with 'L'-sized keys,
 * arrays with '#' counts and '$'-typed numeric arrays) is walked value by
 * value with an explicit stack. Every length and count must fit in the bytes
 * that are left: XGBoost reads them without bounds checks and sizes its
 * vectors from the count before reading. The walk ends with the first value,
 * as the library's does. Anything the grammar does not allow is refused: the
 * library would refuse it too, and what it does with it is not ours to guess. */
#include "serve/modelcheck.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* The deepest stack the walk keeps; larger limits are clamped to it. */
#define MODELCHECK_STACK 1024

const char *serve_model_format_name(enum serve_model_format f)
{
    switch (f) {
    case SERVE_MODEL_JSON:
        return "JSON";
    case SERVE_MODEL_UBJSON:
        return "UBJSON";
    case SERVE_MODEL_BINARY:
        break;
    }
    return "binary";
}

static bool is_space(unsigned char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}

static bool is_alpha(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

enum serve_model_format serve_model_format_of(const void *data, size_t len)
{
    const unsigned char *p = data;
    if (len == 0 || p[0] != '{')
        return SERVE_MODEL_BINARY;
    size_t i = 1;
    while (i < len && is_space(p[i]))
        i++;
    /* Neither '"' nor a letter: the library refuses the file, but lexing it as
     * JSON costs nothing and assumes less. */
    return i < len && is_alpha(p[i]) ? SERVE_MODEL_UBJSON : SERVE_MODEL_JSON;
}

static int too_deep(struct err *err, const char *what, size_t max_depth, size_t pos)
{
    return err_set(err, ERR_TOOBIG,
                   "%s nests deeper than the nesting limit of %zu levels (byte %zu)", what,
                   max_depth, pos);
}

/* ------------------------------------------------------------------------ */
/* JSON                                                                     */

static int check_json(const unsigned char *p, size_t len, size_t max_depth, struct err *err)
{
    unsigned char open[MODELCHECK_STACK]; /* the closing bracket each level waits for */
    size_t depth = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = p[i];
        if (c == '"') {
            size_t start = i++;
            while (i < len && p[i] != '"')
                i += p[i] == '\\' ? 2 : 1;
            if (i >= len)
                return err_set(err, ERR_INVALID,
                               "JSON ends inside the string that starts at byte %zu", start);
        } else if (c == '[' || c == '{') {
            if (depth == max_depth)
                return too_deep(err, "JSON", max_depth, i);
            open[depth++] = c == '[' ? ']' : '}';
        } else if (c == ']' || c == '}') {
            if (depth == 0 || open[depth - 1] != c)
                return err_set(err, ERR_INVALID, "JSON has an unexpected '%c' at byte %zu", c, i);
            depth--;
        }
    }
    if (depth)
        return err_set(err, ERR_INVALID, "JSON ends with %zu arrays or objects not closed", depth);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* UBJSON                                                                   */

struct ubj {
    const unsigned char *p;
    size_t len, pos;
    struct err *err;
};

struct ubj_frame {
    int64_t left;  /* values (pairs for objects) still to come; -1: until the closing marker */
    char kind;     /* '[' or '{' */
    char type;     /* the '$' type of every value, or 0 */
    bool have_key; /* objects: the key is read, its value comes next */
};

static int ubj_truncated(struct ubj *u, const char *what)
{
    return err_set(u->err, ERR_INVALID, "UBJSON ends inside %s at byte %zu", what, u->pos);
}

/* Bytes a value of scalar type 'marker' takes after its marker; -1 for a
 * length-prefixed one (string, high-precision number), -2 for no scalar. */
static int ubj_scalar_size(unsigned char marker)
{
    switch (marker) {
    case 'Z':
    case 'T':
    case 'F':
    case 'N':
        return 0;
    case 'i':
    case 'U':
    case 'C':
        return 1;
    case 'I':
        return 2;
    case 'l':
    case 'd':
        return 4;
    case 'L':
    case 'D':
        return 8;
    case 'S':
    case 'H':
        return -1;
    default:
        return -2;
    }
}

/* An integer (a length or a count): its marker, then big-endian bytes. */
static int ubj_read_count(struct ubj *u, const char *what, int64_t *out)
{
    if (u->pos >= u->len)
        return ubj_truncated(u, what);
    unsigned char m = u->p[u->pos];
    int size = m == 'i' || m == 'U' ? 1 : m == 'I' ? 2 : m == 'l' ? 4 : m == 'L' ? 8 : 0;
    if (size == 0)
        return err_set(u->err, ERR_INVALID, "UBJSON %s at byte %zu has type '%c', not an integer",
                       what, u->pos, m >= 0x20 && m < 0x7f ? m : '?');
    if (u->len - u->pos - 1 < (size_t)size)
        return ubj_truncated(u, what);
    const unsigned char *b = u->p + u->pos + 1;
    uint64_t v = 0;
    for (int i = 0; i < size; i++)
        v = v << 8 | b[i];
    int64_t n;
    if (m == 'U')
        n = (int64_t)v;
    else if (size == 1)
        n = (int8_t)v;
    else if (size == 2)
        n = (int16_t)v;
    else if (size == 4)
        n = (int32_t)v;
    else
        n = (int64_t)v;
    if (n < 0)
        return err_set(u->err, ERR_INVALID, "UBJSON %s at byte %zu is negative (%lld)", what,
                       u->pos, (long long)n);
    u->pos += 1 + (size_t)size;
    *out = n;
    return 0;
}

/* Skip 'n' bytes of payload, which must be there. */
static int ubj_skip(struct ubj *u, uint64_t n, const char *what)
{
    if (n > u->len - u->pos)
        return err_set(u->err, ERR_INVALID,
                       "UBJSON %s at byte %zu needs %llu bytes but the file has %zu left", what,
                       u->pos, (unsigned long long)n, u->len - u->pos);
    u->pos += (size_t)n;
    return 0;
}

/* A length, then that many bytes: 'what' is "string" or "object key". */
static int ubj_string(struct ubj *u, const char *what)
{
    char len_what[32];
    snprintf(len_what, sizeof(len_what), "%s length", what);
    int64_t n;
    int rc = ubj_read_count(u, len_what, &n);
    return rc ? rc : ubj_skip(u, (uint64_t)n, what);
}

/* The payload of a scalar whose marker (or '$' type) is 'marker'. */
static int ubj_scalar(struct ubj *u, unsigned char marker, size_t at)
{
    int size = ubj_scalar_size(marker);
    if (size == -2)
        return err_set(u->err, ERR_INVALID, "UBJSON has an unknown type marker 0x%02x at byte %zu",
                       marker, at);
    if (size == -1)
        return ubj_string(u, "string");
    return ubj_skip(u, (uint64_t)size, "number");
}

/* After '[' or '{': the optional '$' type and '#' count. Fills 'f'; a typed
 * array of fixed-size values is skipped whole and leaves f->left at 0. */
static int ubj_container(struct ubj *u, char kind, struct ubj_frame *f)
{
    memset(f, 0, sizeof(*f));
    f->kind = kind;
    f->left = -1;
    if (u->pos < u->len && u->p[u->pos] == '$') {
        u->pos++;
        if (u->pos >= u->len)
            return ubj_truncated(u, "a container type");
        unsigned char t = u->p[u->pos];
        if (ubj_scalar_size(t) == -2)
            return err_set(u->err, ERR_INVALID,
                           "UBJSON container at byte %zu has type 0x%02x, not a scalar type",
                           u->pos, t);
        f->type = (char)t;
        u->pos++;
        if (u->pos >= u->len || u->p[u->pos] != '#')
            return u->pos >= u->len
                       ? ubj_truncated(u, "a container header")
                       : err_set(u->err, ERR_INVALID,
                                 "UBJSON typed container at byte %zu has no '#' count", u->pos);
    }
    if (u->pos < u->len && u->p[u->pos] == '#') {
        u->pos++;
        int rc = ubj_read_count(u, "container count", &f->left);
        if (rc)
            return rc;
        int size = f->type ? ubj_scalar_size((unsigned char)f->type) : 1;
        if (kind == '[' && size >= 0) {
            /* Every value has a fixed size (or, untyped, at least its marker). */
            uint64_t n = (uint64_t)f->left;
            if (size > 0 && n > (u->len - u->pos) / (uint64_t)size)
                return err_set(u->err, ERR_INVALID,
                               "UBJSON array at byte %zu declares %llu values but the file has "
                               "%zu bytes left",
                               u->pos, (unsigned long long)n, u->len - u->pos);
            if (f->type) {
                u->pos += (size_t)(n * (uint64_t)size);
                f->left = 0;
            }
        } else if ((uint64_t)f->left > u->len - u->pos) {
            /* Strings and pairs take at least one byte each. */
            return err_set(u->err, ERR_INVALID,
                           "UBJSON container at byte %zu declares %lld values but the file has "
                           "%zu bytes left",
                           u->pos, (long long)f->left, u->len - u->pos);
        }
    }
    return 0;
}

static int check_ubjson(const unsigned char *p, size_t len, size_t max_depth, struct err *err)
{
    struct ubj u = {.p = p, .len = len, .pos = 0, .err = err};
    struct ubj_frame st[MODELCHECK_STACK];
    size_t depth = 0;
    bool started = false;
    for (;;) {
        unsigned char marker;
        size_t at;
        if (depth == 0) {
            if (started)
                return 0; /* the first value is whole; the library reads no further */
            started = true;
            if (u.pos >= u.len)
                return ubj_truncated(&u, "the first value");
            at = u.pos;
            marker = p[u.pos++];
        } else {
            struct ubj_frame *f = &st[depth - 1];
            if (f->left == 0) {
                depth--;
                continue;
            }
            if (f->left < 0 && !f->have_key) {
                if (u.pos >= u.len)
                    return ubj_truncated(&u, f->kind == '[' ? "an array" : "an object");
                if (p[u.pos] == (f->kind == '[' ? ']' : '}')) {
                    u.pos++;
                    depth--;
                    continue;
                }
            }
            if (f->kind == '{' && !f->have_key) {
                int rc = ubj_string(&u, "object key");
                if (rc)
                    return rc;
                f->have_key = true;
                continue;
            }
            f->have_key = false;
            if (f->left > 0)
                f->left--;
            at = u.pos;
            if (f->type) {
                marker = (unsigned char)f->type;
            } else {
                if (u.pos >= u.len)
                    return ubj_truncated(&u, "a value");
                marker = p[u.pos++];
            }
        }
        if (marker == '[' || marker == '{') {
            if (depth == max_depth)
                return too_deep(err, "UBJSON", max_depth, at);
            int rc = ubj_container(&u, (char)marker, &st[depth]);
            if (rc)
                return rc;
            depth++;
            continue;
        }
        int rc = ubj_scalar(&u, marker, at);
        if (rc)
            return rc;
    }
}

/* ------------------------------------------------------------------------ */
/* The legacy binary format                                                 */

/* The binary format is flat, but the library parses one of its strings as
 * JSON: the learner's "objective" attribute, stored near the end as a
 * little-endian u64 length and bytes after the key, itself stored the same
 * way. Finding where the attribute list starts means parsing every tree, so
 * every place the key could be is checked instead; only depth refuses, as
 * bytes that merely look like the key may be anything. */
static int check_binary(const unsigned char *p, size_t len, size_t max_depth, struct err *err)
{
    static const char key[] = "\x09\0\0\0\0\0\0\0objective";
    const size_t klen = sizeof(key) - 1;
    const unsigned char *at = p, *end = p + len;
    while ((size_t)(end - at) >= klen + 8 && (at = memmem(at, (size_t)(end - at), key, klen))) {
        const unsigned char *v = at + klen;
        at++;
        if ((size_t)(end - v) < 8)
            break;
        uint64_t n = 0;
        for (int i = 7; i >= 0; i--)
            n = n << 8 | v[i];
        if (n > (uint64_t)(end - v - 8))
            continue;
        struct err e;
        if (check_json(v + 8, (size_t)n, max_depth, &e) == ERR_TOOBIG)
            return err_set(err, ERR_TOOBIG, "the 'objective' attribute at byte %zu: %s",
                           (size_t)(v - p), e.msg);
    }
    return 0;
}

/* ------------------------------------------------------------------------ */

int serve_model_check(const void *data, size_t len, const struct serve_model_limits *lim,
                      enum serve_model_format *fmt, struct err *err)
{
    static const struct serve_model_limits defaults = {SERVE_MODEL_MAX_DEPTH,
                                                       SERVE_MODEL_MAX_BYTES};
    if (!lim)
        lim = &defaults;
    size_t max_depth = lim->max_depth < MODELCHECK_STACK ? lim->max_depth : MODELCHECK_STACK;
    enum serve_model_format f = serve_model_format_of(data, len);
    if (fmt)
        *fmt = f;
    if ((uint64_t)len > lim->max_bytes)
        return err_set(err, ERR_TOOBIG, "the file has %zu bytes, more than the limit of %llu", len,
                       (unsigned long long)lim->max_bytes);
    switch (f) {
    case SERVE_MODEL_JSON:
        return check_json(data, len, max_depth, err);
    case SERVE_MODEL_UBJSON:
        return check_ubjson(data, len, max_depth, err);
    case SERVE_MODEL_BINARY:
        return check_binary(data, len, max_depth, err);
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* PyTorch files                                                            */

/* torch.jit.save and torch.save (since PyTorch 1.6) both write a zip archive
 * whose entries sit under one folder, '<name>/'. Both have '<name>/data.pkl'
 * (the pickled object) and '<name>/data/<n>' (tensor storages); only
 * TorchScript has '<name>/code/...' (the compiled Python) and
 * '<name>/constants.pkl'. Entries are found through the central directory at
 * the end of the file, as zip readers (PyTorch's miniz too) do. */

#define ZIP_EOCD 0x06054b50u
#define ZIP64_LOCATOR 0x07064b50u
#define ZIP64_EOCD 0x06064b50u
#define ZIP_CDIR 0x02014b50u

static uint32_t le16(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}

static uint32_t le32(const unsigned char *p)
{
    return le16(p) | le16(p + 2) << 16;
}

static uint64_t le64(const unsigned char *p)
{
    return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

/* The central directory's offset, size and entry count, from the end of the file. */
static int zip_directory(const unsigned char *p, size_t len, uint64_t *off, uint64_t *size,
                         uint64_t *count)
{
    if (len < 22)
        return -1;
    /* The end record is 22 bytes and a comment of at most 65535. */
    size_t lowest = len > 22 + 65535 ? len - 22 - 65535 : 0;
    for (size_t i = len - 22 + 1; i-- > lowest;) {
        if (le32(p + i) != ZIP_EOCD || i + 22 + le16(p + i + 20) != len)
            continue;
        *count = le16(p + i + 10);
        *size = le32(p + i + 12);
        *off = le32(p + i + 16);
        if (*count != 0xFFFF && *size != 0xFFFFFFFFu && *off != 0xFFFFFFFFu)
            return 0;
        /* zip64: a locator just before the end record points at the zip64 end record. */
        if (i < 20 || le32(p + i - 20) != ZIP64_LOCATOR)
            return -1;
        uint64_t z = le64(p + i - 20 + 8);
        if (len < 56 || z > len - 56 || le32(p + z) != ZIP64_EOCD)
            return -1;
        *count = le64(p + z + 32);
        *size = le64(p + z + 40);
        *off = le64(p + z + 48);
        return 0;
    }
    return -1;
}

static bool has_suffix_after_folder(const unsigned char *name, size_t n, const char *suffix,
                                    bool prefix_match)
{
    const unsigned char *slash = memchr(name, '/', n);
    if (!slash)
        return false;
    size_t rest = n - (size_t)(slash + 1 - name), sl = strlen(suffix);
    if (prefix_match)
        return rest >= sl && memcmp(slash + 1, suffix, sl) == 0;
    return rest == sl && memcmp(slash + 1, suffix, sl) == 0;
}

int serve_torch_check(const void *data, size_t len, const char *name, enum serve_torch_kind *kind,
                      struct err *err)
{
    const unsigned char *p = data;
    enum serve_torch_kind k = SERVE_TORCH_UNKNOWN;
    uint64_t off, size, count;
    bool code = false, constants = false, pickle = false;
    if (zip_directory(p, len, &off, &size, &count) == 0 && off <= len && size <= len - off) {
        const unsigned char *e = p + off, *end = p + off + size;
        uint64_t seen = 0;
        while (seen < count && end - e >= 46 && le32(e) == ZIP_CDIR) {
            size_t n = le16(e + 28), extra = le16(e + 30), comment = le16(e + 32);
            if ((size_t)(end - e) - 46 < n + extra + comment)
                break;
            const unsigned char *nm = e + 46;
            code |= has_suffix_after_folder(nm, n, "code/", true);
            constants |= has_suffix_after_folder(nm, n, "constants.pkl", false);
            pickle |= has_suffix_after_folder(nm, n, "data.pkl", false);
            e += 46 + n + extra + comment;
            seen++;
        }
        if (seen == count && pickle)
            k = code && constants ? SERVE_TORCH_SCRIPT : SERVE_TORCH_EAGER;
    } else if (len >= 2 && p[0] == 0x80 && p[1] >= 2 && p[1] <= 5) {
        k = SERVE_TORCH_LEGACY; /* a pickle's PROTO opcode */
    }
    if (kind)
        *kind = k;
    switch (k) {
    case SERVE_TORCH_SCRIPT:
        return 0;
    case SERVE_TORCH_EAGER:
        return err_set(err, ERR_INVALID,
                       "'%s' is an eager-mode PyTorch file (torch.save of a module or a state "
                       "dict), not TorchScript: script or trace the model (torch.jit.script or "
                       "torch.jit.trace) and save it with torch.jit.save",
                       name);
    case SERVE_TORCH_LEGACY:
        return err_set(err, ERR_INVALID,
                       "'%s' is a pickle (torch.save in the legacy format), not TorchScript: "
                       "script or trace the model (torch.jit.script or torch.jit.trace) and "
                       "save it with torch.jit.save",
                       name);
    case SERVE_TORCH_UNKNOWN:
        break;
    }
    return err_set(err, ERR_INVALID,
                   "'%s' is not a TorchScript file (a zip archive written by torch.jit.save)",
                   name);
}
