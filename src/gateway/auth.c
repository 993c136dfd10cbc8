/* auth.c - checking a call's credential against its group's (auth.h). */
#include "gateway/auth.h"
#include "base/crypto.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int cmp_token(const void *a, const void *b)
{
    return memcmp(((const struct gw_token *)a)->hash, ((const struct gw_token *)b)->hash, 32);
}

void gw_tokens_sort(struct gw_token *t, size_t n)
{
    if (n > 1)
        qsort(t, n, sizeof(*t), cmp_token);
}

__attribute__((format(printf, 3, 4))) static void fail(struct gw_auth_result *out, int status,
                                                       const char *fmt, ...)
{
    out->status = status;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out->reason, sizeof(out->reason), fmt, ap);
    va_end(ap);
}

static struct str trim(struct str s)
{
    while (s.len && (s.ptr[0] == ' ' || s.ptr[0] == '\t'))
        s.ptr++, s.len--;
    while (s.len && (s.ptr[s.len - 1] == ' ' || s.ptr[s.len - 1] == '\t'))
        s.len--;
    return s;
}

static bool starts_with_word(struct str s, const char *word)
{
    size_t n = strlen(word);
    return s.len > n && strncasecmp(s.ptr, word, n) == 0 && (s.ptr[n] == ' ' || s.ptr[n] == '\t');
}

/* ------------------------------------------------------------------------ */
/* Tokens                                                                   */

static void check_token(const struct gw_credentials *c, struct str token,
                        struct gw_auth_result *out)
{
    for (size_t i = 0; i < token.len; i++)
        if ((unsigned char)token.ptr[i] <= ' ' || (unsigned char)token.ptr[i] >= 0x7f)
            return fail(out, 401, "the Authorization token is malformed");
    uint8_t h[32];
    crypto_sha256(token.ptr, token.len, h);
    /* The search compares hashes, not values: where it stops says nothing
     * about any token's value. The last comparison is constant-time. */
    size_t lo = 0, hi = c->ntokens;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int d = memcmp(c->tokens[mid].hash, h, 32);
        if (d == 0) {
            lo = mid;
            break;
        }
        if (d < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < c->ntokens && crypto_equal(c->tokens[lo].hash, h, 32)) {
        out->status = 0;
        out->token = &c->tokens[lo];
        return;
    }
    fail(out, 403, "the token is not valid for this service group");
}

/* ------------------------------------------------------------------------ */
/* Signatures                                                               */

struct hmac_params {
    struct str id, algorithm, headers, signature;
};

/* id="...", algorithm="...", headers="...", signature="..." */
static bool parse_hmac(struct str s, struct hmac_params *p)
{
    memset(p, 0, sizeof(*p));
    while (s.len) {
        s = trim(s);
        const char *eq = memchr(s.ptr, '=', s.len);
        if (!eq)
            return false;
        struct str key = trim((struct str){s.ptr, (size_t)(eq - s.ptr)});
        s.len -= (size_t)(eq + 1 - s.ptr);
        s.ptr = eq + 1;
        s = trim(s);
        if (!s.len || s.ptr[0] != '"')
            return false;
        const char *close = memchr(s.ptr + 1, '"', s.len - 1);
        if (!close)
            return false;
        struct str val = {s.ptr + 1, (size_t)(close - s.ptr - 1)};
        s.len -= (size_t)(close + 1 - s.ptr);
        s.ptr = close + 1;
        s = trim(s);
        if (s.len && s.ptr[0] != ',')
            return false;
        if (s.len)
            s.ptr++, s.len--;
        struct str *slot = NULL;
        if (str_eq_nocase(key, "id"))
            slot = &p->id;
        else if (str_eq_nocase(key, "algorithm"))
            slot = &p->algorithm;
        else if (str_eq_nocase(key, "headers"))
            slot = &p->headers;
        else if (str_eq_nocase(key, "signature"))
            slot = &p->signature;
        if (slot) {
            if (slot->ptr)
                return false; /* given twice */
            *slot = val;
        }
    }
    return p->id.ptr && p->algorithm.ptr && p->headers.ptr && p->signature.ptr;
}

static const char *const month_names[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

/* "Mon, 19 Mar 2018 12:08:40 GMT" (RFC 9110's IMF-fixdate). */
static bool parse_http_date(struct str s, time_t *out)
{
    char buf[40], wday[4], mon[4], zone[4];
    int day, year, hh, mm, ss, used = 0;
    if (s.len >= sizeof(buf))
        return false;
    memcpy(buf, s.ptr, s.len);
    buf[s.len] = '\0';
    if (sscanf(buf, "%3[A-Za-z], %d %3s %d %d:%d:%d %3s%n", wday, &day, mon, &year, &hh, &mm, &ss,
               zone, &used) != 8 ||
        (size_t)used != s.len || strlen(wday) != 3 || strcmp(zone, "GMT") != 0)
        return false;
    int m = -1;
    for (int i = 0; i < 12; i++)
        if (strcmp(mon, month_names[i]) == 0)
            m = i;
    if (m < 0 || day < 1 || day > 31 || year < 1970 || year > 9999 || hh > 23 || mm > 59 ||
        ss > 60 || hh < 0 || mm < 0 || ss < 0)
        return false;
    struct tm tm = {.tm_year = year - 1900,
                    .tm_mon = m,
                    .tm_mday = day,
                    .tm_hour = hh,
                    .tm_min = mm,
                    .tm_sec = ss};
    *out = timegm(&tm);
    return true;
}

struct qpair {
    struct str key, val;
};

static int cmp_qpair(const void *a, const void *b)
{
    const struct qpair *x = a, *y = b;
    size_t n = x->key.len < y->key.len ? x->key.len : y->key.len;
    int d = memcmp(x->key.ptr, y->key.ptr, n);
    if (d || x->key.len != y->key.len)
        return d ? d : x->key.len < y->key.len ? -1 : 1;
    n = x->val.len < y->val.len ? x->val.len : y->val.len;
    d = memcmp(x->val.ptr, y->val.ptr, n);
    return d ? d : x->val.len < y->val.len ? -1 : x->val.len > y->val.len;
}

#define MAX_QUERY_PAIRS 64

/* The path and its query parameters sorted by name: "/p?a=1&b=2". */
static bool path_and_parameters(const struct http_request *req, struct str path, struct buf *out)
{
    buf_append(out, path.ptr, path.len);
    if (!req->query.len)
        return true;
    struct qpair pairs[MAX_QUERY_PAIRS];
    size_t n = 0;
    struct str q = req->query;
    while (q.len) {
        const char *amp = memchr(q.ptr, '&', q.len);
        struct str part = {q.ptr, amp ? (size_t)(amp - q.ptr) : q.len};
        q.ptr += part.len + (amp ? 1 : 0);
        q.len -= part.len + (amp ? 1 : 0);
        if (!part.len)
            continue;
        if (n == MAX_QUERY_PAIRS)
            return false;
        const char *eq = memchr(part.ptr, '=', part.len);
        pairs[n].key = (struct str){part.ptr, eq ? (size_t)(eq - part.ptr) : part.len};
        pairs[n].val = eq ? (struct str){eq + 1, part.len - (size_t)(eq + 1 - part.ptr)}
                          : (struct str){NULL, 0};
        n++;
    }
    qsort(pairs, n, sizeof(*pairs), cmp_qpair);
    for (size_t i = 0; i < n; i++) {
        buf_putc(out, i ? '&' : '?');
        buf_append(out, pairs[i].key.ptr, pairs[i].key.len);
        if (pairs[i].val.ptr) {
            buf_putc(out, '=');
            buf_append(out, pairs[i].val.ptr, pairs[i].val.len);
        }
    }
    return true;
}

static bool mac_matches(const char *secret, const struct buf *msg, const uint8_t *given)
{
    uint8_t mac[20];
    crypto_hmac_sha1(secret, strlen(secret), msg->ptr, msg->len, mac);
    return crypto_equal(mac, given, sizeof(mac));
}

static void check_signature(const struct gw_credentials *c, const struct http_request *req,
                            struct str params, time_t now, struct gw_auth_result *out)
{
    struct hmac_params p;
    if (!parse_hmac(params, &p))
        return fail(out, 401,
                    "the hmac Authorization must hold id, algorithm, headers and signature, each "
                    "once, as name=\"value\"");
    if (!str_eq_nocase(p.algorithm, "hmac-sha1"))
        return fail(out, 401, "the signature algorithm must be hmac-sha1");
    uint8_t given[24];
    size_t glen = 0;
    if (p.signature.len != 28 || crypto_base64_decode(p.signature.ptr, 28, given, &glen) != 0 ||
        glen != 20)
        return fail(out, 401, "the signature must be the base64 of 20 bytes");

    /* The signed headers: "name: value" lines; X-Date or Date among them. */
    struct buf hp;
    buf_init(&hp, 64 * 1024);
    bool dated = false;
    struct str names = p.headers;
    while (out->status == 0 && names.len) {
        names = trim(names);
        const char *sp = memchr(names.ptr, ' ', names.len);
        struct str name = {names.ptr, sp ? (size_t)(sp - names.ptr) : names.len};
        names.ptr += name.len;
        names.len -= name.len;
        if (!name.len)
            continue;
        char nz[64];
        if (name.len >= sizeof(nz)) {
            fail(out, 401, "a signed header name is too long");
            break;
        }
        for (size_t i = 0; i < name.len; i++)
            nz[i] = (char)tolower((unsigned char)name.ptr[i]);
        nz[name.len] = '\0';
        struct str v = http_request_header(req, nz);
        if (!v.ptr) {
            fail(out, 401, "header '%s' is listed as signed but not sent", nz);
            break;
        }
        if (strcmp(nz, "x-date") == 0 || strcmp(nz, "date") == 0) {
            time_t t;
            if (!parse_http_date(trim(v), &t)) {
                fail(out, 401, "%s must be a date like 'Mon, 19 Mar 2018 12:08:40 GMT'", nz);
                break;
            }
            if (t > now + GW_AUTH_SKEW_S || t < now - GW_AUTH_SKEW_S) {
                fail(out, 401, "%s is more than 15 minutes from the gateway's clock", nz);
                break;
            }
            dated = true;
        }
        if (hp.len)
            buf_putc(&hp, '\n');
        buf_printf(&hp, "%s: %.*s", nz, (int)v.len, v.ptr);
    }
    if (out->status == 0 && !dated)
        fail(out, 401, "the signed headers must include x-date (or date)");
    if (out->status) {
        buf_release(&hp);
        return;
    }
    /* A signed Content-MD5 must be the body's, when the body is here whole:
     * base64 of the MD5's hex digits, as the legacy gateway's samples do. */
    struct str md5 = http_request_header(req, "content-md5");
    if (md5.ptr && !req->body_follows) {
        uint8_t d[16];
        char b64[48];
        crypto_md5(req->body.ptr, req->body.len, d);
        gw_content_md5(d, b64);
        struct str m = trim(md5);
        if (m.len != strlen(b64) || !crypto_equal(m.ptr, b64, m.len)) {
            buf_release(&hp);
            return fail(out, 403, "Content-MD5 does not match the body");
        }
    }
    /* The key pair and the application share the group's AppKey: the id must
     * be it, and either string to sign may match. */
    bool key_ok = c->app_key && p.id.len == strlen(c->app_key) &&
                  crypto_equal(p.id.ptr, c->app_key, p.id.len);
    struct buf app;
    buf_init(&app, 128 * 1024);
    buf_append(&app, hp.ptr, hp.len);
    struct str accept = http_request_header(req, "accept");
    struct str ctype = http_request_header(req, "content-type");
    buf_printf(&app, "\n%.*s\n%.*s\n%.*s\n%.*s\n", (int)req->method.len, req->method.ptr,
               (int)accept.len, accept.ptr ? accept.ptr : "", (int)ctype.len,
               ctype.ptr ? ctype.ptr : "", (int)md5.len, md5.ptr ? md5.ptr : "");
    bool paths_ok = path_and_parameters(req, req->path, &app);
    bool ok = key_ok && c->app_secret &&
              ((paths_ok && mac_matches(c->app_secret, &app, given)) |
               mac_matches(c->app_secret, &hp, given));
    buf_release(&app);
    buf_release(&hp);
    if (!ok)
        return fail(out, 403, "the signature does not match");
    out->status = 0;
    struct str m = trim(md5);
    if (md5.ptr && req->body_follows) {
        out->md5_pending = true;
        snprintf(out->md5, sizeof(out->md5), "%.*s", (int)(m.len < 47 ? m.len : 47), m.ptr);
    }
}

void gw_content_md5(const uint8_t digest[16], char out[48])
{
    char hex[33];
    crypto_hex(digest, 16, hex);
    crypto_base64((const uint8_t *)hex, 32, out);
}

void gw_authenticate(const struct gw_credentials *c, const struct http_request *req, time_t now,
                     struct gw_auth_result *out)
{
    memset(out, 0, sizeof(*out));
    size_t count = 0;
    for (size_t i = 0; i < req->nheaders; i++)
        count += str_eq_nocase(req->headers[i].name, "authorization");
    if (count > 1)
        return fail(out, 401, "more than one Authorization header");
    struct str a = http_request_header(req, "authorization");
    if (!a.ptr || !trim(a).len)
        return fail(out, 401,
                    "call authentication is on for this service group: send Authorization: "
                    "Bearer <token>");
    a = trim(a);
    if (starts_with_word(a, "bearer"))
        return check_token(c, trim((struct str){a.ptr + 6, a.len - 6}), out);
    if (starts_with_word(a, "hmac"))
        return check_signature(c, req, (struct str){a.ptr + 4, a.len - 4}, now, out);
    if (memchr(a.ptr, ' ', a.len) || memchr(a.ptr, '\t', a.len))
        return fail(out, 401,
                    "the Authorization scheme is not one of Bearer, hmac or a bare token");
    check_token(c, a, out);
}
