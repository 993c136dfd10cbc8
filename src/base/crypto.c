/* crypto.c - thin wrappers over OpenSSL's libcrypto, and libssl for TLS clients and servers. */
#include "base/crypto.h"
#include "base/err.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Fetched once, and a context kept per thread: OpenSSL 3 looks an algorithm
 * up by name (under locks) on every call that does not name a fetched one,
 * and EVP_Digest() allocates a context each time; together they cost more
 * than the digest of a token (191 ns against 116 ns for 46 bytes). */
static EVP_MD *sha256_md;
static pthread_key_t sha256_key;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void sha256_ctx_free(void *ctx)
{
    EVP_MD_CTX_free(ctx);
}

static void sha256_fetch(void)
{
    if (!(sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL)) ||
        pthread_key_create(&sha256_key, sha256_ctx_free) != 0)
        abort();
}

void crypto_sha256(const void *data, size_t len, uint8_t out[CRYPTO_SHA256_BYTES])
{
    pthread_once(&sha256_once, sha256_fetch);
    EVP_MD_CTX *ctx = pthread_getspecific(sha256_key);
    if (!ctx && (!(ctx = EVP_MD_CTX_new()) || pthread_setspecific(sha256_key, ctx) != 0))
        abort();
    unsigned int n = CRYPTO_SHA256_BYTES;
    if (EVP_DigestInit_ex2(ctx, sha256_md, NULL) != 1 || EVP_DigestUpdate(ctx, data, len) != 1 ||
        EVP_DigestFinal_ex(ctx, out, &n) != 1)
        abort();
}

void crypto_hmac_sha256(const void *key, size_t key_len, const void *msg, size_t msg_len,
                        uint8_t out[CRYPTO_SHA256_BYTES])
{
    unsigned int n = CRYPTO_SHA256_BYTES;
    if (!HMAC(EVP_sha256(), key, (int)key_len, msg, msg_len, out, &n))
        abort(); /* only fails on allocation failure */
}

void crypto_hmac_sha1(const void *key, size_t key_len, const void *msg, size_t msg_len,
                      uint8_t out[20])
{
    unsigned int n = 20;
    if (!HMAC(EVP_sha1(), key, (int)key_len, msg, msg_len, out, &n))
        abort();
}

void crypto_md5(const void *data, size_t len, uint8_t out[16])
{
    unsigned int n = 16;
    if (EVP_Digest(data, len, out, &n, EVP_md5(), NULL) != 1)
        abort();
}

struct crypto_md5 *crypto_md5_begin(void)
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    if (!c || EVP_DigestInit_ex(c, EVP_md5(), NULL) != 1)
        abort();
    return (struct crypto_md5 *)c;
}

void crypto_md5_add(struct crypto_md5 *m, const void *data, size_t len)
{
    if (len && EVP_DigestUpdate((EVP_MD_CTX *)m, data, len) != 1)
        abort();
}

void crypto_md5_end(struct crypto_md5 *m, uint8_t out[16])
{
    unsigned int n = 16;
    if (out && EVP_DigestFinal_ex((EVP_MD_CTX *)m, out, &n) != 1)
        abort();
    EVP_MD_CTX_free((EVP_MD_CTX *)m);
}

void crypto_random(void *buf, size_t len)
{
    if (RAND_bytes(buf, (int)len) != 1) {
        fprintf(stderr, "fatal: no secure random source\n");
        abort();
    }
}

bool crypto_equal(const void *a, const void *b, size_t len)
{
    const volatile unsigned char *x = a, *y = b;
    unsigned char d = 0;
    for (size_t i = 0; i < len; i++)
        d |= x[i] ^ y[i];
    return d == 0;
}

void crypto_wipe(void *p, size_t len)
{
    OPENSSL_cleanse(p, len);
}

void crypto_hex(const uint8_t *data, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[data[i] >> 4];
        out[2 * i + 1] = digits[data[i] & 15];
    }
    out[2 * len] = '\0';
}

static int hex_digit(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

int crypto_unhex(const char *hex, size_t hexlen, uint8_t *out, size_t len)
{
    if (hexlen != 2 * len)
        return ERR_INVALID;
    for (size_t i = 0; i < len; i++) {
        int hi = hex_digit(hex[2 * i]), lo = hex_digit(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return ERR_INVALID;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

size_t crypto_base64(const uint8_t *data, size_t len, char *out)
{
    int n = EVP_EncodeBlock((unsigned char *)out, data, (int)len);
    return n < 0 ? 0 : (size_t)n;
}

int crypto_base64_decode(const char *in, size_t len, uint8_t *out, size_t *out_len)
{
    /* RFC 4648 section 4, strictly: whole groups of four, '=' only as the
     * padding of the last group, and no stray bits in its last character,
     * so that one text has exactly one meaning. */
    if (len % 4 != 0)
        return ERR_INVALID;
    size_t pad = len && in[len - 1] == '=' ? (in[len - 2] == '=' ? 2 : 1) : 0;
    uint32_t acc = 0;
    int bits = 0;
    size_t n = 0;
    for (size_t i = 0; i < len - pad; i++) {
        char c = in[i];
        int v = c >= 'A' && c <= 'Z'   ? c - 'A'
                : c >= 'a' && c <= 'z' ? c - 'a' + 26
                : c >= '0' && c <= '9' ? c - '0' + 52
                : c == '+'             ? 62
                : c == '/'             ? 63
                                       : -1;
        if (v < 0)
            return ERR_INVALID;
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[n++] = (uint8_t)(acc >> bits);
        }
    }
    if (acc & ((1u << bits) - 1))
        return ERR_INVALID;
    *out_len = n;
    return 0;
}

void crypto_uuid(char out[37])
{
    uint8_t b[16];
    crypto_random(b, sizeof(b));
    b[6] = (uint8_t)((b[6] & 0x0F) | 0x40);
    b[8] = (uint8_t)((b[8] & 0x3F) | 0x80);
    char hex[33];
    crypto_hex(b, sizeof(b), hex);
    snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16, hex + 20);
}

void crypto_random_string(const char *alphabet, size_t n, char *out)
{
    size_t k = strlen(alphabet);
    unsigned limit = 256 - 256 % (unsigned)k; /* reject bytes that would bias the modulo */
    size_t i = 0;
    while (i < n) {
        uint8_t b[32];
        crypto_random(b, sizeof(b));
        for (size_t j = 0; j < sizeof(b) && i < n; j++)
            if (b[j] < limit)
                out[i++] = alphabet[b[j] % k];
    }
    out[n] = '\0';
}

#define SEAL_NONCE 12
#define SEAL_TAG 16
#define SEAL_PREFIX "v1:"

size_t crypto_sealed_size(size_t len)
{
    return sizeof(SEAL_PREFIX) - 1 + 4 * ((SEAL_NONCE + len + SEAL_TAG + 2) / 3) + 1;
}

/* One AES-256-GCM pass; 'tag' is written when sealing and checked when opening. */
static bool gcm(bool seal, const uint8_t *key, const uint8_t *nonce, const char *ad,
                const uint8_t *in, size_t len, uint8_t *out, uint8_t *tag)
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int n = 0;
    bool ok = c && EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL, seal) == 1 &&
              EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, SEAL_NONCE, NULL) == 1 &&
              EVP_CipherInit_ex(c, NULL, NULL, key, nonce, seal) == 1 &&
              EVP_CipherUpdate(c, NULL, &n, (const uint8_t *)ad, (int)strlen(ad)) == 1 &&
              (len == 0 || EVP_CipherUpdate(c, out, &n, in, (int)len) == 1) &&
              (seal || EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, SEAL_TAG, tag) == 1) &&
              EVP_CipherFinal_ex(c, out + (len ? n : 0), &n) == 1 &&
              (!seal || EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, SEAL_TAG, tag) == 1);
    EVP_CIPHER_CTX_free(c);
    return ok;
}

void crypto_seal(const uint8_t key[CRYPTO_SEAL_KEY_BYTES], const char *ad, const void *plain,
                 size_t len, char *out)
{
    uint8_t *box = malloc(SEAL_NONCE + len + SEAL_TAG);
    if (!box)
        abort();
    crypto_random(box, SEAL_NONCE);
    if (!gcm(true, key, box, ad, plain, len, box + SEAL_NONCE, box + SEAL_NONCE + len))
        abort(); /* only fails on allocation failure */
    memcpy(out, SEAL_PREFIX, sizeof(SEAL_PREFIX) - 1);
    crypto_base64(box, SEAL_NONCE + len + SEAL_TAG, out + sizeof(SEAL_PREFIX) - 1);
    crypto_wipe(box, SEAL_NONCE + len + SEAL_TAG);
    free(box);
}

int crypto_open(const uint8_t key[CRYPTO_SEAL_KEY_BYTES], const char *ad, const char *sealed,
                char *out, size_t *out_len)
{
    size_t plen = sizeof(SEAL_PREFIX) - 1, n = strlen(sealed);
    if (n < plen || memcmp(sealed, SEAL_PREFIX, plen) != 0)
        return ERR_INVALID;
    uint8_t *box = malloc(3 * (n - plen) / 4 + 1);
    if (!box)
        abort();
    size_t blen = 0;
    int rc = crypto_base64_decode(sealed + plen, n - plen, box, &blen);
    if (rc == 0 && blen < SEAL_NONCE + SEAL_TAG)
        rc = ERR_INVALID;
    if (rc == 0) {
        size_t len = blen - SEAL_NONCE - SEAL_TAG;
        if (gcm(false, key, box, ad, box + SEAL_NONCE, len, (uint8_t *)out,
                box + SEAL_NONCE + len)) {
            out[len] = '\0';
            *out_len = len;
        } else {
            crypto_wipe(out, len);
            rc = ERR_INVALID;
        }
    }
    free(box);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* TLS clients over memory BIOs                                             */

struct crypto_tls_ctx {
    SSL_CTX *ctx;
};

struct crypto_tls {
    SSL *ssl;
    BIO *in, *out; /* network -> SSL, SSL -> network; owned by ssl */
};

static int tls_error(struct err *err, const char *what)
{
    char msg[200] = "unknown error";
    unsigned long e = ERR_get_error();
    if (e)
        ERR_error_string_n(e, msg, sizeof(msg));
    ERR_clear_error();
    return err_set(err, ERR_INVALID, "%s: %s", what, msg);
}

/* The certificate chain and its key, each when given. */
static int load_identity(SSL_CTX *ctx, const char *cert_file, const char *key_file, struct err *err)
{
    char what[600];
    if (cert_file && SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
        snprintf(what, sizeof(what), "cannot load the certificate '%s'", cert_file);
        return tls_error(err, what);
    }
    if (key_file && (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1 ||
                     SSL_CTX_check_private_key(ctx) != 1)) {
        snprintf(what, sizeof(what), "cannot load the key '%s' for '%s'", key_file, cert_file);
        return tls_error(err, what);
    }
    return 0;
}

/* *out wraps 'ctx' when 'rc' is 0; otherwise 'ctx' goes. Returns 'rc'. */
static int ctx_finish(SSL_CTX *ctx, int rc, struct crypto_tls_ctx **out)
{
    if (rc) {
        SSL_CTX_free(ctx);
        return rc;
    }
    *out = calloc(1, sizeof(**out));
    if (!*out)
        abort();
    (*out)->ctx = ctx;
    return 0;
}

int crypto_tls_ctx_new(const char *ca_file, const char *cert_file, const char *key_file,
                       struct crypto_tls_ctx **out, struct err *err)
{
    if (!cert_file != !key_file)
        return err_set(err, ERR_INVALID,
                       "a client certificate needs its key, and a key its "
                       "certificate");
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx)
        return tls_error(err, "cannot make a TLS context");
    int rc = 0;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    if (ca_file ? SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1
                : SSL_CTX_set_default_verify_paths(ctx) != 1) {
        char what[300];
        snprintf(what, sizeof(what), "cannot load the CA certificates '%s'",
                 ca_file ? ca_file : "(system)");
        rc = tls_error(err, what);
    } else {
        rc = load_identity(ctx, cert_file, key_file, err);
    }
    return ctx_finish(ctx, rc, out);
}

void crypto_tls_ctx_free(struct crypto_tls_ctx *c)
{
    if (!c)
        return;
    SSL_CTX_free(c->ctx);
    free(c);
}

/* A session of 'ctx' over a pair of memory BIOs. */
static struct crypto_tls *session_new(SSL_CTX *ctx)
{
    struct crypto_tls *t = calloc(1, sizeof(*t));
    if (!t || !(t->ssl = SSL_new(ctx)) || !(t->in = BIO_new(BIO_s_mem())) ||
        !(t->out = BIO_new(BIO_s_mem())))
        abort(); /* allocation */
    SSL_set_bio(t->ssl, t->in, t->out);
    return t;
}

struct crypto_tls *crypto_tls_new(struct crypto_tls_ctx *c, const char *server_name)
{
    struct crypto_tls *t = session_new(c->ctx);
    SSL_set_connect_state(t->ssl);
    unsigned char ip[16];
    X509_VERIFY_PARAM *param = SSL_get0_param(t->ssl);
    if (inet_pton(AF_INET, server_name, ip) == 1 || inet_pton(AF_INET6, server_name, ip) == 1) {
        X509_VERIFY_PARAM_set1_ip_asc(param, server_name);
    } else {
        SSL_set_tlsext_host_name(t->ssl, server_name);
        X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        X509_VERIFY_PARAM_set1_host(param, server_name, 0);
    }
    return t;
}

void crypto_tls_free(struct crypto_tls *t)
{
    if (!t)
        return;
    SSL_free(t->ssl); /* and the BIOs */
    free(t);
}

void crypto_tls_feed(struct crypto_tls *t, const void *data, size_t len)
{
    if (len && BIO_write(t->in, data, (int)len) != (int)len)
        abort(); /* a memory BIO takes everything */
}

/* What an SSL call that returned 'ret' <= 0 means. */
static int tls_result(struct crypto_tls *t, int ret, const char *what, struct err *err)
{
    int e = SSL_get_error(t->ssl, ret);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
        return ERR_AGAIN;
    if (e == SSL_ERROR_ZERO_RETURN)
        return 0;
    long v = SSL_get_verify_result(t->ssl);
    if (v != X509_V_OK) {
        ERR_clear_error();
        return err_set(err, ERR_INVALID, "%s: the certificate does not verify: %s", what,
                       X509_verify_cert_error_string(v));
    }
    return tls_error(err, what);
}

int crypto_tls_handshake(struct crypto_tls *t, struct err *err)
{
    int ret = SSL_do_handshake(t->ssl);
    if (ret == 1)
        return 0;
    int rc = tls_result(t, ret, "TLS handshake", err);
    return rc == 0 ? err_set(err, ERR_INVALID, "TLS handshake: the peer closed") : rc;
}

int crypto_tls_write(struct crypto_tls *t, const void *data, size_t len, struct err *err)
{
    size_t done = 0;
    while (done < len) {
        size_t n;
        int ret = SSL_write_ex(t->ssl, (const char *)data + done, len - done, &n);
        if (ret != 1) {
            int rc = tls_result(t, ret, "TLS write", err);
            return rc ? rc : err_set(err, ERR_INVALID, "TLS write: the peer closed");
        }
        done += n;
    }
    return 0;
}

int crypto_tls_read(struct crypto_tls *t, void *out, size_t cap, struct err *err)
{
    size_t n;
    if (cap > INT32_MAX)
        cap = INT32_MAX;
    int ret = SSL_read_ex(t->ssl, out, cap, &n);
    if (ret == 1)
        return (int)n;
    return tls_result(t, ret, "TLS read", err);
}

size_t crypto_tls_pending(struct crypto_tls *t)
{
    return BIO_ctrl_pending(t->out);
}

size_t crypto_tls_take(struct crypto_tls *t, void *out, size_t cap)
{
    if (cap > INT32_MAX)
        cap = INT32_MAX;
    int n = BIO_read(t->out, out, (int)cap);
    return n > 0 ? (size_t)n : 0;
}

/* ------------------------------------------------------------------------ */
/* TLS servers over memory BIOs                                             */

/* ALPN: HTTP/1.1 is all the server speaks. A client that offers only other
 * protocols goes on without ALPN rather than failing (as nginx does). */
static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned inlen, void *arg)
{
    static const unsigned char http11[] = "\x08http/1.1";
    unsigned char *sel;
    (void)ssl;
    (void)arg;
    if (SSL_select_next_proto(&sel, outlen, http11, sizeof(http11) - 1, in, inlen) !=
        OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK;
    *out = sel;
    return SSL_TLSEXT_ERR_OK;
}

int crypto_tls_server_ctx_new(const char *cert_file, const char *key_file,
                              struct crypto_tls_ctx **out, struct err *err)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx)
        return tls_error(err, "cannot make a TLS context");
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    /* Compression is CRIME; client renegotiation costs the server a
     * handshake per request of the client's choosing. */
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                 SSL_OP_CIPHER_SERVER_PREFERENCE);
    /* Idle keep-alive connections give their record buffers back. */
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
    /* TLS 1.2: forward secrecy and AEAD only; TLS 1.3 keeps OpenSSL's suites.
     * The security level stays OpenSSL's default. */
    int rc = SSL_CTX_set_cipher_list(ctx, "ECDHE+AESGCM:ECDHE+CHACHA20") != 1
                 ? tls_error(err, "cannot set the TLS 1.2 ciphers")
                 : load_identity(ctx, cert_file, key_file, err);
    return ctx_finish(ctx, rc, out);
}

void crypto_tls_ctx_describe(const struct crypto_tls_ctx *c, char *out, size_t size)
{
    X509 *x = SSL_CTX_get0_certificate(c->ctx);
    char subject[256] = "?", serial[80] = "?", until[40] = "?";
    if (x) {
        X509_NAME_oneline(X509_get_subject_name(x), subject, sizeof(subject));
        BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
        char *hex = bn ? BN_bn2hex(bn) : NULL;
        if (hex)
            snprintf(serial, sizeof(serial), "%s", hex);
        OPENSSL_free(hex);
        BN_free(bn);
        struct tm tm;
        if (ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) == 1)
            strftime(until, sizeof(until), "%Y-%m-%dT%H:%M:%SZ", &tm);
    }
    snprintf(out, size, "subject=%s serial=%s not_after=%s", subject, serial, until);
}

struct crypto_tls *crypto_tls_new_server(struct crypto_tls_ctx *c)
{
    struct crypto_tls *t = session_new(c->ctx); /* SSL_new takes a reference to the context */
    SSL_set_accept_state(t->ssl);
    return t;
}

void crypto_tls_close_notify(struct crypto_tls *t)
{
    if (SSL_is_init_finished(t->ssl) && !(SSL_get_shutdown(t->ssl) & SSL_SENT_SHUTDOWN))
        SSL_shutdown(t->ssl); /* 0: sent, the peer's answer is not awaited */
    ERR_clear_error();
}
