/* tc3.h - TC3-HMAC-SHA256, the signature of Tencent Cloud API 3.0 requests
 * (../shared/reference/tione-api.md §1.5-1.6): parsing the Authorization
 * header, verifying a received request against what the client signed, and
 * signing (for the CLI and the tests). Pure functions. */
#ifndef BERTH_API_TC3_H
#define BERTH_API_TC3_H

#include <stdbool.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "http/server.h"

#define TC3_ALGORITHM "TC3-HMAC-SHA256"
#define TC3_MAX_SIGNED_HEADERS 16

struct tc3_auth {
    struct str secret_id;
    struct str date;           /* YYYY-MM-DD, from the credential scope */
    struct str service;        /* e.g. "tione" */
    struct str signed_headers; /* "content-type;host", as sent */
    struct str signature;      /* 64 lower-case hex digits */
};

/* Parse an Authorization header value. */
int tc3_parse_authorization(struct str value, struct tc3_auth *out, struct err *err);

/* The UTC date of a Unix time as YYYY-MM-DD. */
void tc3_date(int64_t timestamp, char out[11]);

/* Hex signature of 'string_to_sign' with the key derived from secret, date, service. */
void tc3_signature(const char *secret_key, const char *date, const char *service,
                   struct str string_to_sign, char out[65]);

/* Build the canonical request from the request as received. With
 * 'strip_host_port' the host line omits ":port" (the Node.js SDK signs the
 * host name alone). Fails if a signed header is missing or content-type or
 * host is not signed. */
int tc3_canonical_request(const struct http_request *req, struct str signed_headers,
                          bool strip_host_port, struct buf *out, struct err *err);
void tc3_string_to_sign(int64_t timestamp, const char *date, const char *service,
                        struct str canonical_request, struct buf *out);

/* Verify 'req' signed with 'secret_key'; 'auth' comes from its Authorization
 * header. Checks the signature only (the caller checks the clock and the key). */
bool tc3_verify(const struct http_request *req, const struct tc3_auth *auth, int64_t timestamp,
                const char *secret_key);

/* Sign a POST to "/" the way the official SDKs do (SignedHeaders
 * content-type;host); writes the Authorization header value. */
void tc3_sign(const char *secret_id, const char *secret_key, const char *service, const char *host,
              const char *content_type, struct str body, int64_t timestamp,
              struct buf *authorization);

#endif
