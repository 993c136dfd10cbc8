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

#endif
