/* crypto.h - the few primitives Berth needs: SHA-256, HMAC-SHA256, secure
 * random bytes, constant-time comparison, hex and base64. The only module that
 * includes OpenSSL. Thread-safe. */
#ifndef BERTH_CRYPTO_H
#define BERTH_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CRYPTO_SHA256_BYTES 32

void crypto_sha256(const void *data, size_t len, uint8_t out[CRYPTO_SHA256_BYTES]);
void crypto_hmac_sha256(const void *key, size_t key_len, const void *msg, size_t msg_len,
                        uint8_t out[CRYPTO_SHA256_BYTES]);
void crypto_hmac_sha1(const void *key, size_t key_len, const void *msg, size_t msg_len,
                      uint8_t out[20]);
/* MD5, only where a protocol names it (the legacy gateway's Content-MD5):
 * at once, or piece by piece (crypto_md5_end frees the state). */
void crypto_md5(const void *data, size_t len, uint8_t out[16]);
struct crypto_md5;
struct crypto_md5 *crypto_md5_begin(void);
void crypto_md5_add(struct crypto_md5 *m, const void *data, size_t len);
void crypto_md5_end(struct crypto_md5 *m, uint8_t out[16]); /* out NULL: just free */
/* Fill 'buf' from the system CSPRNG; aborts if none is available. */
void crypto_random(void *buf, size_t len);
/* Compare without leaking where the first difference is. */
bool crypto_equal(const void *a, const void *b, size_t len);
/* Zero memory that held a secret, in a way the compiler cannot drop. */
void crypto_wipe(void *p, size_t len);
/* Lower-case hex of 'len' bytes into 'out', which holds 2 * len + 1. */
void crypto_hex(const uint8_t *data, size_t len, char *out);
/* Decode exactly 2 * len hex digits (either case) of 'hex' into 'out';
 * ERR_INVALID for any other text. */
int crypto_unhex(const char *hex, size_t hexlen, uint8_t *out, size_t len);
/* Standard base64 with padding into 'out', which holds 4 * ceil(len / 3) + 1. */
size_t crypto_base64(const uint8_t *data, size_t len, char *out);
/* Decode standard base64 into 'out', which holds 3 * len / 4 bytes: strict
 * RFC 4648 (groups of four, '=' padding only at the end, no stray bits, no
 * whitespace); ERR_INVALID otherwise. */
int crypto_base64_decode(const char *in, size_t len, uint8_t *out, size_t *out_len);
/* Sealing: AES-256-GCM with a random 96-bit nonce, for secrets kept at rest.
 * The sealed text is "v1:" + base64(nonce || ciphertext || tag), bound to
 * 'ad' (associated data, e.g. the row's id) so that a sealed value copied to
 * another row does not open. */
#define CRYPTO_SEAL_KEY_BYTES 32
/* Characters crypto_seal() writes for 'len' plaintext bytes, NUL included. */
size_t crypto_sealed_size(size_t len);
void crypto_seal(const uint8_t key[CRYPTO_SEAL_KEY_BYTES], const char *ad, const void *plain,
                 size_t len, char *out);
/* Open 'sealed' into 'out' (room for strlen(sealed) bytes; NUL-terminated);
 * ERR_INVALID when it is malformed, was sealed with another key or 'ad', or
 * was altered. */
int crypto_open(const uint8_t key[CRYPTO_SEAL_KEY_BYTES], const char *ad, const char *sealed,
                char *out, size_t *out_len);
/* A random RFC 4122 version 4 UUID, 36 characters plus NUL. */
void crypto_uuid(char out[37]);
/* 'n' random characters from 'alphabet' (uniform, no modulo bias), NUL-terminated. */
void crypto_random_string(const char *alphabet, size_t n, char *out);

/* TLS client sessions over memory buffers, so the caller keeps its sockets
 * on its own event loop (RFC 5425 syslog delivery): bytes from the network
 * go in with crypto_tls_feed(), bytes for it come out of crypto_tls_take().
 * A context is made once and may serve sessions on any one thread at a
 * time; a session belongs to one thread. Fallible calls return 0 or a
 * negative ERR_* code and fill 'err' when it is not NULL. */
struct err;
struct crypto_tls_ctx;
struct crypto_tls;
/* Peers are verified against 'ca_file' (PEM; NULL: the system's store);
 * 'cert_file' and 'key_file' (PEM, both or neither) are the client's own
 * certificate for receivers that ask for one. TLS 1.2 at least. */
int crypto_tls_ctx_new(const char *ca_file, const char *cert_file, const char *key_file,
                       struct crypto_tls_ctx **out, struct err *err);
void crypto_tls_ctx_free(struct crypto_tls_ctx *c); /* accepts NULL */
/* A session that expects the peer's certificate to name 'server_name' (a
 * DNS name, sent as SNI, or an IP address). */
struct crypto_tls *crypto_tls_new(struct crypto_tls_ctx *c, const char *server_name);
void crypto_tls_free(struct crypto_tls *t); /* accepts NULL */
void crypto_tls_feed(struct crypto_tls *t, const void *data, size_t len);
/* Move the handshake on: 0 when it is done, ERR_AGAIN when it waits for the
 * peer (send what crypto_tls_take() gives first), ERR_INVALID when it failed
 * (a certificate that does not verify, a protocol error). */
int crypto_tls_handshake(struct crypto_tls *t, struct err *err);
/* Encrypt all 'len' bytes (after the handshake); the records wait for
 * crypto_tls_take(). */
int crypto_tls_write(struct crypto_tls *t, const void *data, size_t len, struct err *err);
/* Decrypt what was fed: > 0 bytes into 'out', ERR_AGAIN when no whole record
 * is there, 0 when the peer closed the session, ERR_INVALID on an error. */
int crypto_tls_read(struct crypto_tls *t, void *out, size_t cap, struct err *err);
/* Bytes waiting to go to the peer, and taking up to 'cap' of them. */
size_t crypto_tls_pending(struct crypto_tls *t);
size_t crypto_tls_take(struct crypto_tls *t, void *out, size_t cap);

/* TLS servers, over the same sessions. 'cert_file' holds the certificate
 * chain (PEM, the server's own first), 'key_file' its private key (PEM).
 * TLS 1.2 at least with forward-secret AEAD ciphers in the server's order,
 * OpenSSL's default security level, no compression, no renegotiation,
 * ALPN http/1.1. The context may serve sessions on several threads at
 * once; free it while sessions live, they keep what they need. */
int crypto_tls_server_ctx_new(const char *cert_file, const char *key_file,
                              struct crypto_tls_ctx **out, struct err *err);
/* "subject=/CN=... serial=HEX not_after=RFC3339" of the context's certificate, for logs. */
void crypto_tls_ctx_describe(const struct crypto_tls_ctx *c, char *out, size_t size);
/* A session that answers a client's handshake: feed it, then crypto_tls_read(). */
struct crypto_tls *crypto_tls_new_server(struct crypto_tls_ctx *c);
/* Queue close_notify for the peer (once, after a finished handshake). */
void crypto_tls_close_notify(struct crypto_tls *t);

#endif
