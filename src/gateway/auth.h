/* auth.h - who may call a service group whose call authentication is on
 * (tione-api.md §2). Accepted credentials:
 *   - a token of the group: "Authorization: <token>" (TI-ONE's own form) or
 *     "Authorization: Bearer <token>" (what OpenAI-style clients send);
 *   - the legacy API gateway's HMAC-SHA1 signatures with the group's AppKey
 *     and AppSecret: application auth (§2.4, method, Accept, Content-Type,
 *     Content-MD5 and path signed) or the key-pair form (§2.3, the listed
 *     headers signed), "Authorization: hmac id=..., algorithm="hmac-sha1",
 *     headers="...", signature="..."", with X-Date within 15 minutes.
 * Tokens are looked up by their SHA-256; every secret comparison takes the
 * same time whatever matched. Pure functions, for any thread. */
#ifndef BERTH_GATEWAY_AUTH_H
#define BERTH_GATEWAY_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "http/server.h"

#define GW_AUTH_SKEW_S (15 * 60)

struct gw_token {
    uint8_t hash[32]; /* SHA-256 of the value */
    char id[33];
    void *ud; /* the caller's: e.g. the token's quota */
};

/* A group's credentials, as the route table holds them. */
struct gw_credentials {
    const struct gw_token *tokens; /* sorted by hash (gw_tokens_sort) */
    size_t ntokens;
    const char *app_key;    /* NULL: no signatures accepted */
    const char *app_secret; /* in the clear, as HMAC needs it */
};

void gw_tokens_sort(struct gw_token *t, size_t n);

struct gw_auth_result {
    int status;                   /* 0: accepted; 401: no or malformed credential; 403: wrong */
    const struct gw_token *token; /* the token that matched, when one did */
    char reason[160];             /* for the client; never holds a secret */
    /* Accepted, but the body (still streaming) must still match this signed
     * Content-MD5 (base64 of the MD5's hex digits): see gw_content_md5(). */
    bool md5_pending;
    char md5[48];
};

/* Check the credential of 'req' against 'c'; 'now' is the current time.
 * Signatures cover req->path as the client sent it. A signed Content-MD5 is
 * checked against a body that has arrived whole; for one still streaming
 * (req->body_follows) the caller checks it once the body has passed
 * (md5_pending), and must not let the request complete before. */
void gw_authenticate(const struct gw_credentials *c, const struct http_request *req, time_t now,
                     struct gw_auth_result *out);

/* Content-MD5 as the legacy gateway writes it for a body with MD5 'digest'. */
void gw_content_md5(const uint8_t digest[16], char out[48]);

#endif
