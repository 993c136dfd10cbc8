/* tc3.c - TC3-HMAC-SHA256. Header names and values are lower-cased and
 * trimmed in the canonical request; the body is hashed exactly as received,
 * never re-serialised; the credential date is the UTC date of the timestamp. */
#include "api/tc3.h"
#include "base/alloc.h"
#include "base/crypto.h"

#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static struct str trim(struct str s)
{
    while (s.len && isspace((unsigned char)s.ptr[0])) {
        s.ptr++;
        s.len--;
    }
    while (s.len && isspace((unsigned char)s.ptr[s.len - 1]))
        s.len--;
    return s;
}

/* Split "k1=v1, k2=v2" style parameters: next key=value up to ','. */
static bool next_param(struct str *rest, struct str *key, struct str *value)
{
    *rest = trim(*rest);
    if (!rest->len)
        return false;
    const char *comma = memchr(rest->ptr, ',', rest->len);
    struct str part = {rest->ptr, comma ? (size_t)(comma - rest->ptr) : rest->len};
    rest->ptr += part.len + (comma ? 1 : 0);
    rest->len -= part.len + (comma ? 1 : 0);
    const char *eq = memchr(part.ptr, '=', part.len);
    if (!eq)
        return false;
    *key = trim((struct str){part.ptr, (size_t)(eq - part.ptr)});
    *value = trim((struct str){eq + 1, part.len - (size_t)(eq + 1 - part.ptr)});
    return true;
}

int tc3_parse_authorization(struct str value, struct tc3_auth *out, struct err *err)
{
    memset(out, 0, sizeof(*out));
    value = trim(value);
    size_t alen = strlen(TC3_ALGORITHM);
    if (value.len <= alen || memcmp(value.ptr, TC3_ALGORITHM, alen) != 0 ||
        !isspace((unsigned char)value.ptr[alen]))
        return err_set(err, ERR_INVALID,
                       "the Authorization header must start with '" TC3_ALGORITHM " '");
    struct str rest = {value.ptr + alen, value.len - alen}, k, v, credential = STR_NULL;
    while (next_param(&rest, &k, &v)) {
        if (str_eq_cstr(k, "Credential"))
            credential = v;
        else if (str_eq_cstr(k, "SignedHeaders"))
            out->signed_headers = v;
        else if (str_eq_cstr(k, "Signature"))
            out->signature = v;
    }
    if (rest.len)
        return err_set(err, ERR_INVALID, "malformed Authorization header near '%.*s'",
                       (int)(rest.len > 20 ? 20 : rest.len), rest.ptr);
    if (!credential.len || !out->signed_headers.len || !out->signature.len)
        return err_set(err, ERR_INVALID,
                       "the Authorization header needs Credential, SignedHeaders and Signature");
    /* Credential = SecretId/Date/Service/tc3_request */
    struct str parts[4];
    size_t n = 0;
    const char *p = credential.ptr, *end = credential.ptr + credential.len;
    while (n < 4) {
        const char *slash = memchr(p, '/', (size_t)(end - p));
        const char *stop = slash && n < 3 ? slash : end;
        parts[n++] = (struct str){p, (size_t)(stop - p)};
        if (stop == end)
            break;
        p = stop + 1;
    }
    if (n != 4 || !str_eq_cstr(parts[3], "tc3_request") || !parts[0].len || parts[1].len != 10 ||
        !parts[2].len)
        return err_set(err, ERR_INVALID,
                       "Credential must be SecretId/YYYY-MM-DD/service/tc3_request");
    out->secret_id = parts[0];
    out->date = parts[1];
    out->service = parts[2];
    if (out->signature.len != 64)
        return err_set(err, ERR_INVALID, "Signature must be 64 hex digits");
    return 0;
}

void tc3_date(int64_t timestamp, char out[11])
{
    time_t t = (time_t)timestamp;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 11, "%Y-%m-%d", &tm);
}

void tc3_signature(const char *secret_key, const char *date, const char *service,
                   struct str string_to_sign, char out[65])
{
    uint8_t k_date[32], k_service[32], k_signing[32], sig[32];
    size_t klen = strlen(secret_key) + 3;
    char key[512];
    if (klen >= sizeof(key))
        klen = sizeof(key) - 1;
    memcpy(key, "TC3", 3);
    memcpy(key + 3, secret_key, klen - 3);
    crypto_hmac_sha256(key, klen, date, strlen(date), k_date);
    crypto_hmac_sha256(k_date, 32, service, strlen(service), k_service);
    crypto_hmac_sha256(k_service, 32, "tc3_request", 11, k_signing);
    crypto_hmac_sha256(k_signing, 32, string_to_sign.ptr, string_to_sign.len, sig);
    crypto_hex(sig, 32, out);
    crypto_wipe(key, sizeof(key));
    crypto_wipe(k_signing, sizeof(k_signing));
}

static void put_lower(struct buf *b, struct str s)
{
    for (size_t i = 0; i < s.len; i++)
        buf_putc(b, (char)tolower((unsigned char)s.ptr[i]));
}

int tc3_canonical_request(const struct http_request *req, struct str signed_headers,
                          bool strip_host_port, struct buf *out, struct err *err)
{
    buf_reset(out);
    buf_append(out, req->method.ptr, req->method.len);
    buf_putc(out, '\n');
    buf_append(out, req->path.ptr, req->path.len);
    buf_putc(out, '\n');
    buf_append(out, req->query.ptr, req->query.len);
    buf_putc(out, '\n');
    bool have_ct = false, have_host = false;
    struct str rest = signed_headers;
    size_t count = 0;
    while (rest.len) {
        const char *semi = memchr(rest.ptr, ';', rest.len);
        struct str name = {rest.ptr, semi ? (size_t)(semi - rest.ptr) : rest.len};
        rest.ptr += name.len + (semi ? 1 : 0);
        rest.len -= name.len + (semi ? 1 : 0);
        if (!name.len)
            continue;
        if (++count > TC3_MAX_SIGNED_HEADERS)
            return err_set(err, ERR_INVALID, "too many signed headers");
        char cname[128];
        if (name.len >= sizeof(cname))
            return err_set(err, ERR_INVALID, "signed header name too long");
        memcpy(cname, name.ptr, name.len);
        cname[name.len] = '\0';
        struct str value = http_request_header(req, cname);
        if (!value.ptr)
            return err_set(err, ERR_INVALID, "signed header '%s' is not in the request", cname);
        value = trim(value);
        bool is_host = str_eq_nocase(name, "host");
        have_ct |= str_eq_nocase(name, "content-type");
        have_host |= is_host;
        if (is_host && strip_host_port) {
            const char *colon = memchr(value.ptr, ':', value.len);
            if (colon && value.ptr[0] != '[')
                value.len = (size_t)(colon - value.ptr);
        }
        put_lower(out, name);
        buf_putc(out, ':');
        put_lower(out, value);
        buf_putc(out, '\n');
    }
    if (!have_ct || !have_host)
        return err_set(err, ERR_INVALID, "SignedHeaders must include content-type and host");
    buf_putc(out, '\n');
    buf_append(out, signed_headers.ptr, signed_headers.len);
    buf_putc(out, '\n');
    uint8_t h[32];
    struct str unsigned_payload = http_request_header(req, "X-TC-Content-SHA256");
    if (unsigned_payload.ptr && str_eq_cstr(trim(unsigned_payload), "UNSIGNED-PAYLOAD"))
        crypto_sha256("UNSIGNED-PAYLOAD", 16, h);
    else
        crypto_sha256(req->body.ptr, req->body.len, h);
    char hex[65];
    crypto_hex(h, 32, hex);
    buf_append(out, hex, 64);
    return 0;
}

void tc3_string_to_sign(int64_t timestamp, const char *date, const char *service,
                        struct str canonical_request, struct buf *out)
{
    uint8_t h[32];
    char hex[65];
    crypto_sha256(canonical_request.ptr, canonical_request.len, h);
    crypto_hex(h, 32, hex);
    buf_reset(out);
    buf_printf(out, TC3_ALGORITHM "\n%lld\n%s/%s/tc3_request\n%s", (long long)timestamp, date,
               service, hex);
}

static bool verify_once(const struct http_request *req, const struct tc3_auth *auth,
                        int64_t timestamp, const char *secret_key, bool strip)
{
    struct buf canon, sts;
    buf_init(&canon, 1 << 20);
    buf_init(&sts, 1 << 20);
    bool ok = false;
    char date[11], service[64], sig[65];
    if (auth->service.len < sizeof(service) &&
        tc3_canonical_request(req, auth->signed_headers, strip, &canon, NULL) == 0) {
        tc3_date(timestamp, date);
        memcpy(service, auth->service.ptr, auth->service.len);
        service[auth->service.len] = '\0';
        tc3_string_to_sign(timestamp, date, service, (struct str){canon.ptr, canon.len}, &sts);
        tc3_signature(secret_key, date, service, (struct str){sts.ptr, sts.len}, sig);
        ok = auth->signature.len == 64 && crypto_equal(sig, auth->signature.ptr, 64);
    }
    buf_release(&canon);
    buf_release(&sts);
    return ok;
}

bool tc3_verify(const struct http_request *req, const struct tc3_auth *auth, int64_t timestamp,
                const char *secret_key)
{
    if (verify_once(req, auth, timestamp, secret_key, false))
        return true;
    struct str host = http_request_header(req, "Host");
    return host.ptr && memchr(host.ptr, ':', host.len) &&
           verify_once(req, auth, timestamp, secret_key, true);
}

void tc3_sign(const char *secret_id, const char *secret_key, const char *service, const char *host,
              const char *content_type, const char *action, struct str body, int64_t timestamp,
              struct buf *authorization)
{
    struct str signed_headers =
        action ? STR_LIT("content-type;host;x-tc-action") : STR_LIT("content-type;host");
    struct http_request req = {0};
    req.method = STR_LIT("POST");
    req.path = STR_LIT("/");
    req.query = STR_NULL;
    req.headers[0] = (struct http_header){STR_LIT("Content-Type"), str_from(content_type)};
    req.headers[1] = (struct http_header){STR_LIT("Host"), str_from(host)};
    req.headers[2] = (struct http_header){STR_LIT("X-TC-Action"), str_from(action ? action : "")};
    req.nheaders = 3;
    req.body = body;
    struct buf canon, sts;
    buf_init(&canon, 1 << 20);
    buf_init(&sts, 1 << 20);
    char date[11], sig[65];
    tc3_date(timestamp, date);
    tc3_canonical_request(&req, signed_headers, false, &canon, NULL);
    tc3_string_to_sign(timestamp, date, service, (struct str){canon.ptr, canon.len}, &sts);
    tc3_signature(secret_key, date, service, (struct str){sts.ptr, sts.len}, sig);
    buf_reset(authorization);
    buf_printf(authorization,
               TC3_ALGORITHM " Credential=%s/%s/%s/tc3_request, SignedHeaders=%.*s, Signature=%s",
               secret_id, date, service, (int)signed_headers.len, signed_headers.ptr, sig);
    buf_release(&canon);
    buf_release(&sts);
}

/* ------------------------------------------------------------------------ */
/* Replay binding                                                           */

/* A ring of entries in the order they were recorded (the oldest is dropped
 * first when the ring is full or the entry has expired) with a chained hash
 * index over it. Signatures are HMAC outputs: their first 16 bytes identify
 * them and hash well; a binding and the first use's peer are kept as 16
 * bytes of their SHA-256. */
#define REPLAY_END UINT32_MAX
#define REPLAY_ID_BYTES 16

struct replay_entry {
    uint8_t sig[REPLAY_ID_BYTES];
    uint8_t bindings[TC3_REPLAY_BINDINGS][REPLAY_ID_BYTES];
    uint8_t peer[REPLAY_ID_BYTES]; /* of the first use */
    int64_t first_ms, expires_ms;
    uint32_t next; /* the next entry of the same bucket */
    uint8_t nbindings;
};

struct tc3_replay {
    pthread_mutex_t lock;
    struct replay_entry *ring;
    uint32_t *buckets;
    size_t capacity, nbuckets, oldest, count;
    int64_t grace_ms;
};

struct tc3_replay *tc3_replay_new(size_t capacity, int64_t grace_ms)
{
    struct tc3_replay *r = xcalloc(1, sizeof(*r));
    pthread_mutex_init(&r->lock, NULL);
    r->capacity = capacity ? capacity : 1;
    if (r->capacity >= REPLAY_END)
        r->capacity = REPLAY_END - 1;
    r->grace_ms = grace_ms;
    r->nbuckets = 1;
    while (r->nbuckets < r->capacity)
        r->nbuckets <<= 1;
    r->ring = xcalloc(r->capacity, sizeof(*r->ring));
    r->buckets = xmalloc(r->nbuckets * sizeof(*r->buckets));
    for (size_t i = 0; i < r->nbuckets; i++)
        r->buckets[i] = REPLAY_END;
    return r;
}

void tc3_replay_free(struct tc3_replay *r)
{
    if (!r)
        return;
    pthread_mutex_destroy(&r->lock);
    free(r->ring);
    free(r->buckets);
    free(r);
}

static uint32_t *replay_bucket(struct tc3_replay *r, const uint8_t *sig)
{
    uint32_t h =
        (uint32_t)sig[0] | (uint32_t)sig[1] << 8 | (uint32_t)sig[2] << 16 | (uint32_t)sig[3] << 24;
    return &r->buckets[h & (r->nbuckets - 1)];
}

static void replay_drop_oldest(struct tc3_replay *r)
{
    uint32_t idx = (uint32_t)r->oldest;
    uint32_t *link = replay_bucket(r, r->ring[idx].sig);
    while (*link != idx)
        link = &r->ring[*link].next;
    *link = r->ring[idx].next;
    r->oldest = (r->oldest + 1) % r->capacity;
    r->count--;
}

static int hex_digit(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* A signature first used at first_ms may gain another binding within the
 * grace period, from the first use's address only: requests signed in the
 * same second with byte-identical bodies share their signature (e.g.
 * DescribeModelService then DeleteModelService of one ServiceId from an SDK
 * that signs only content-type and host). After it, only the bindings seen
 * so far pass. */
static enum tc3_replay_verdict replay_admit(struct tc3_replay *r, struct replay_entry *e,
                                            const uint8_t *bind, const uint8_t *peer,
                                            int64_t now_ms)
{
    for (uint8_t k = 0; k < e->nbindings; k++)
        if (memcmp(e->bindings[k], bind, REPLAY_ID_BYTES) == 0)
            return TC3_REPLAY_OK;
    if (now_ms - e->first_ms > r->grace_ms || e->nbindings == TC3_REPLAY_BINDINGS)
        return TC3_REPLAY_BOUND;
    if (memcmp(e->peer, peer, REPLAY_ID_BYTES) != 0)
        return TC3_REPLAY_OTHER_PEER;
    memcpy(e->bindings[e->nbindings++], bind, REPLAY_ID_BYTES);
    return TC3_REPLAY_OK;
}

/* The first REPLAY_ID_BYTES of the SHA-256 of 's'. */
static void replay_id(const char *s, size_t len, uint8_t out[REPLAY_ID_BYTES])
{
    uint8_t hash[32];
    crypto_sha256(s, len, hash);
    memcpy(out, hash, REPLAY_ID_BYTES);
}

enum tc3_replay_verdict tc3_replay_check(struct tc3_replay *r, struct str signature,
                                         struct str binding, const char *peer, int64_t expires_ms,
                                         int64_t now_ms)
{
    uint8_t sig[REPLAY_ID_BYTES], bind[REPLAY_ID_BYTES], from[REPLAY_ID_BYTES];
    if (signature.len != 64)
        return TC3_REPLAY_MALFORMED;
    for (size_t i = 0; i < 32; i++) {
        int hi = hex_digit(signature.ptr[2 * i]), lo = hex_digit(signature.ptr[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return TC3_REPLAY_MALFORMED;
        if (i < REPLAY_ID_BYTES)
            sig[i] = (uint8_t)(hi << 4 | lo);
    }
    replay_id(binding.ptr, binding.len, bind);
    replay_id(peer ? peer : "", peer ? strlen(peer) : 0, from);
    pthread_mutex_lock(&r->lock);
    while (r->count && r->ring[r->oldest].expires_ms <= now_ms)
        replay_drop_oldest(r);
    struct replay_entry *found = NULL;
    for (uint32_t i = *replay_bucket(r, sig); i != REPLAY_END && !found; i = r->ring[i].next)
        if (memcmp(r->ring[i].sig, sig, REPLAY_ID_BYTES) == 0)
            found = &r->ring[i];
    enum tc3_replay_verdict v = TC3_REPLAY_OK;
    if (found) {
        v = replay_admit(r, found, bind, from, now_ms);
    } else {
        if (r->count == r->capacity)
            replay_drop_oldest(r);
        uint32_t idx = (uint32_t)((r->oldest + r->count) % r->capacity);
        struct replay_entry *e = &r->ring[idx];
        memcpy(e->sig, sig, REPLAY_ID_BYTES);
        memcpy(e->bindings[0], bind, REPLAY_ID_BYTES);
        memcpy(e->peer, from, REPLAY_ID_BYTES);
        e->nbindings = 1;
        e->first_ms = now_ms;
        e->expires_ms = expires_ms;
        uint32_t *head = replay_bucket(r, sig);
        e->next = *head;
        *head = idx;
        r->count++;
    }
    pthread_mutex_unlock(&r->lock);
    return v;
}

size_t tc3_replay_count(struct tc3_replay *r)
{
    pthread_mutex_lock(&r->lock);
    size_t n = r->count;
    pthread_mutex_unlock(&r->lock);
    return n;
}
