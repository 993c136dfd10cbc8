/* json.c - recursive-descent JSON reader.
 * Numbers take a fast exact path when the decimal mantissa fits in 2^53 and the
 * power of ten is at most 22 (both exactly representable, so one rounding);
 * anything else goes through strtod(). */
#include "base/json.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct parser {
    const char *s, *p, *end;
    struct arena *a;
    struct err *err;
};

static int fail(struct parser *ps, const char *what)
{
    return err_set(ps->err, ERR_INVALID, "invalid JSON at byte %zu: %s", (size_t)(ps->p - ps->s),
                   what);
}

static void skip_ws(struct parser *ps)
{
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\n' || *ps->p == '\r' || *ps->p == '\t'))
        ps->p++;
}

static bool take_word(struct parser *ps, const char *w)
{
    size_t n = strlen(w);
    if ((size_t)(ps->end - ps->p) >= n && memcmp(ps->p, w, n) == 0) {
        ps->p += n;
        return true;
    }
    return false;
}

static const double pow10_exact[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                     1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                     1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

static int parse_number(struct parser *ps, struct json *v)
{
    const char *start = ps->p;
    bool neg = false;
    if (ps->p < ps->end && *ps->p == '-') {
        neg = true;
        ps->p++;
        if (take_word(ps, "Infinity")) {
            v->type = JSON_NUMBER;
            v->u.num = -INFINITY;
            return 0;
        }
    }
    uint64_t mant = 0;
    int digits = 0, frac_digits = 0;
    bool exact = true;
    if (ps->p >= ps->end || *ps->p < '0' || *ps->p > '9')
        return fail(ps, "expected a digit");
    if (*ps->p == '0') {
        ps->p++;
        if (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9')
            return fail(ps, "leading zero in number");
    } else {
        while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9') {
            if (digits < 19)
                mant = mant * 10 + (uint64_t)(*ps->p - '0');
            else
                exact = false;
            digits++;
            ps->p++;
        }
    }
    v->is_integer = true;
    if (ps->p < ps->end && *ps->p == '.') {
        v->is_integer = false;
        ps->p++;
        if (ps->p >= ps->end || *ps->p < '0' || *ps->p > '9')
            return fail(ps, "expected a digit after '.'");
        while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9') {
            if (digits < 19) {
                mant = mant * 10 + (uint64_t)(*ps->p - '0');
                frac_digits++;
            } else {
                exact = false;
            }
            if (mant || digits)
                digits++;
            ps->p++;
        }
    }
    int exp10 = 0;
    if (ps->p < ps->end && (*ps->p == 'e' || *ps->p == 'E')) {
        v->is_integer = false;
        ps->p++;
        bool eneg = false;
        if (ps->p < ps->end && (*ps->p == '+' || *ps->p == '-'))
            eneg = *ps->p++ == '-';
        if (ps->p >= ps->end || *ps->p < '0' || *ps->p > '9')
            return fail(ps, "expected a digit in exponent");
        while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9') {
            if (exp10 < 100000)
                exp10 = exp10 * 10 + (*ps->p - '0');
            ps->p++;
        }
        if (eneg)
            exp10 = -exp10;
    }
    v->type = JSON_NUMBER;
    int e = exp10 - frac_digits;
    if (exact && mant < (1ULL << 53) && e >= -22 && e <= 22) {
        double d = (double)mant;
        d = e < 0 ? d / pow10_exact[-e] : d * pow10_exact[e];
        v->u.num = neg ? -d : d;
        return 0;
    }
    char tmp[128];
    size_t n = (size_t)(ps->p - start);
    if (n >= sizeof(tmp)) {
        char *big = arena_strndup(ps->a, start, n);
        v->u.num = strtod(big, NULL);
    } else {
        memcpy(tmp, start, n);
        tmp[n] = '\0';
        v->u.num = strtod(tmp, NULL);
    }
    return 0;
}

static int hex4(struct parser *ps, unsigned *out)
{
    if (ps->end - ps->p < 4)
        return fail(ps, "truncated \\u escape");
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = *ps->p++;
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return fail(ps, "bad hex digit in \\u escape");
    }
    *out = v;
    return 0;
}

static size_t put_utf8(char *o, unsigned cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Parse a string at ps->p (on the opening quote). The unescaped text is never
 * longer than the escaped one, so one allocation of the raw length suffices. */
static int parse_string(struct parser *ps, const char **out, size_t *out_len)
{
    ps->p++;
    const char *q = ps->p;
    while (q < ps->end && *q != '"' && *q != '\\')
        q++;
    if (q < ps->end && *q == '"') { /* fast path: no escapes */
        for (const char *c = ps->p; c < q; c++)
            if ((unsigned char)*c < 0x20)
                return fail(ps, "control character in string");
        *out = arena_strndup(ps->a, ps->p, (size_t)(q - ps->p));
        *out_len = (size_t)(q - ps->p);
        ps->p = q + 1;
        return 0;
    }
    const char *close = q;
    while (close < ps->end && *close != '"')
        close += *close == '\\' ? 2 : 1;
    if (close >= ps->end)
        return fail(ps, "unterminated string");
    char *o = arena_alloc(ps->a, (size_t)(close - ps->p) + 1);
    size_t n = 0;
    while (ps->p < close) {
        char c = *ps->p;
        if ((unsigned char)c < 0x20)
            return fail(ps, "control character in string");
        if (c != '\\') {
            o[n++] = c;
            ps->p++;
            continue;
        }
        ps->p++;
        char e = *ps->p++;
        switch (e) {
        case '"':
            o[n++] = '"';
            break;
        case '\\':
            o[n++] = '\\';
            break;
        case '/':
            o[n++] = '/';
            break;
        case 'b':
            o[n++] = '\b';
            break;
        case 'f':
            o[n++] = '\f';
            break;
        case 'n':
            o[n++] = '\n';
            break;
        case 'r':
            o[n++] = '\r';
            break;
        case 't':
            o[n++] = '\t';
            break;
        case 'u': {
            unsigned cp;
            if (hex4(ps, &cp))
                return ERR_INVALID;
            if (cp >= 0xD800 && cp < 0xDC00 && close - ps->p >= 6 && ps->p[0] == '\\' &&
                ps->p[1] == 'u') {
                ps->p += 2;
                unsigned lo;
                if (hex4(ps, &lo))
                    return ERR_INVALID;
                if (lo < 0xDC00 || lo > 0xDFFF)
                    return fail(ps, "invalid surrogate pair");
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            /* A \uXXXX escape is 6 bytes and its UTF-8 at most 4: it fits. */
            n += put_utf8(o + n, cp);
            break;
        }
        default:
            ps->p--;
            return fail(ps, "bad escape in string");
        }
    }
    o[n] = '\0';
    ps->p = close + 1;
    *out = o;
    *out_len = n;
    return 0;
}

static int parse_value(struct parser *ps, struct json *v, int depth);

/* Items are first collected in a growing scratch vector, then copied into the
 * arena in one contiguous block so that arrays index in O(1). */
static int parse_array(struct parser *ps, struct json *v, int depth)
{
    ps->p++;
    size_t n = 0, cap = 8;
    struct json stack_items[8], *items = stack_items;
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == ']') {
        ps->p++;
        goto done;
    }
    for (;;) {
        if (n == cap) {
            struct json *bigger = arena_alloc(ps->a, 2 * cap * sizeof(*items));
            memcpy(bigger, items, n * sizeof(*items));
            items = bigger;
            cap *= 2;
        }
        memset(&items[n], 0, sizeof(items[n]));
        int rc = parse_value(ps, &items[n], depth + 1);
        if (rc)
            return rc;
        n++;
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            continue;
        }
        if (ps->p < ps->end && *ps->p == ']') {
            ps->p++;
            break;
        }
        return fail(ps, "expected ',' or ']'");
    }
done:
    v->type = JSON_ARRAY;
    v->len = n;
    if (items == stack_items) {
        v->u.items = arena_alloc(ps->a, (n ? n : 1) * sizeof(*items));
        memcpy(v->u.items, items, n * sizeof(*items));
    } else {
        v->u.items = items; /* already in the arena; the slack is the price of one copy less */
    }
    return 0;
}

static int parse_object(struct parser *ps, struct json *v, int depth)
{
    ps->p++;
    size_t n = 0, cap = 8;
    struct json_member *m = arena_alloc(ps->a, cap * sizeof(*m));
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == '}') {
        ps->p++;
        goto done;
    }
    for (;;) {
        skip_ws(ps);
        if (ps->p >= ps->end || *ps->p != '"')
            return fail(ps, "expected a string key");
        if (n == cap) {
            struct json_member *bigger = arena_alloc(ps->a, 2 * cap * sizeof(*m));
            memcpy(bigger, m, n * sizeof(*m));
            m = bigger;
            cap *= 2;
        }
        memset(&m[n], 0, sizeof(m[n]));
        m[n].offset = (size_t)(ps->p - ps->s);
        int rc = parse_string(ps, &m[n].key, &m[n].key_len);
        if (rc)
            return rc;
        skip_ws(ps);
        if (ps->p >= ps->end || *ps->p != ':')
            return fail(ps, "expected ':' after key");
        ps->p++;
        if ((rc = parse_value(ps, &m[n].value, depth + 1)))
            return rc;
        n++;
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            continue;
        }
        if (ps->p < ps->end && *ps->p == '}') {
            ps->p++;
            break;
        }
        return fail(ps, "expected ',' or '}'");
    }
done:
    v->type = JSON_OBJECT;
    v->len = n;
    v->u.members = m;
    return 0;
}

static int parse_value(struct parser *ps, struct json *v, int depth)
{
    if (depth > JSON_MAX_DEPTH)
        return fail(ps, "nesting too deep");
    skip_ws(ps);
    if (ps->p >= ps->end)
        return fail(ps, "unexpected end of input");
    switch (*ps->p) {
    case '{':
        return parse_object(ps, v, depth);
    case '[':
        return parse_array(ps, v, depth);
    case '"':
        v->type = JSON_STRING;
        return parse_string(ps, &v->u.str, &v->len);
    case 't':
        if (!take_word(ps, "true"))
            return fail(ps, "unexpected token");
        v->type = JSON_TRUE;
        return 0;
    case 'f':
        if (!take_word(ps, "false"))
            return fail(ps, "unexpected token");
        v->type = JSON_FALSE;
        return 0;
    case 'n':
        if (!take_word(ps, "null"))
            return fail(ps, "unexpected token");
        v->type = JSON_NULL;
        return 0;
    case 'N':
        if (!take_word(ps, "NaN"))
            return fail(ps, "unexpected token");
        v->type = JSON_NUMBER;
        v->u.num = NAN;
        return 0;
    case 'I':
        if (!take_word(ps, "Infinity"))
            return fail(ps, "unexpected token");
        v->type = JSON_NUMBER;
        v->u.num = INFINITY;
        return 0;
    default:
        if (*ps->p == '-' || (*ps->p >= '0' && *ps->p <= '9'))
            return parse_number(ps, v);
        return fail(ps, "unexpected character");
    }
}

int json_parse(struct arena *a, const char *s, size_t n, struct json **out, struct err *err)
{
    struct parser ps = {.s = s, .p = s, .end = s + n, .a = a, .err = err};
    struct json *root = arena_calloc(a, 1, sizeof(*root));
    int rc = parse_value(&ps, root, 0);
    if (rc)
        return rc;
    skip_ws(&ps);
    if (ps.p != ps.end)
        return fail(&ps, "trailing characters after the value");
    *out = root;
    return 0;
}

const struct json *json_get(const struct json *o, const char *key)
{
    if (!o || o->type != JSON_OBJECT)
        return NULL;
    size_t n = strlen(key);
    for (size_t i = 0; i < o->len; i++)
        if (o->u.members[i].key_len == n && memcmp(o->u.members[i].key, key, n) == 0)
            return &o->u.members[i].value;
    return NULL;
}

const char *json_type_name(enum json_type t)
{
    switch (t) {
    case JSON_NULL:
        return "null";
    case JSON_FALSE:
    case JSON_TRUE:
        return "a boolean";
    case JSON_NUMBER:
        return "a number";
    case JSON_STRING:
        return "a string";
    case JSON_ARRAY:
        return "a list";
    case JSON_OBJECT:
        return "an object";
    }
    return "unknown";
}
