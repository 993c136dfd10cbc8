/* tc3.h - TC3-HMAC-SHA256, the signature of Tencent Cloud API 3.0 requests
 * (../shared/reference/tione-api.md §1.5-1.6): parsing the Authorization
 * header, verifying a received request against what the client signed, and
 * signing (for the CLI and the tests): pure functions. And a bounded record
 * of accepted signatures that binds each to what it was first used for. */
#ifndef BERTH_API_TC3_H
#define BERTH_API_TC3_H

#include <stdbool.h>
#include <stddef.h>
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

/* Sign a POST to "/" the way the official SDKs do: SignedHeaders
 * content-type;host, or content-type;host;x-tc-action when 'action' is not
 * NULL (as Tencent's newer documentation does; the request must then carry
 * that X-TC-Action).
 * Writes the Authorization header value. */
void tc3_sign(const char *secret_id, const char *secret_key, const char *service, const char *host,
              const char *content_type, const char *action, struct str body, int64_t timestamp,
              struct buf *authorization);

/* ------------------------------------------------------------------------ */
/* Replay binding                                                           */

/* The SDKs sign only content-type and host, so X-TC-Action, X-TC-Region and
 * X-TC-Version are not covered by the signature: a captured request could
 * be resent, within the clock window, as another action. This record binds
 * each accepted signature to the action, region and version it came with
 * until it expires; the same request sent again passes (clients retry).
 *
 * Requests signed in the same second with byte-identical bodies have the
 * same signature, so a signature may gain up to TC3_REPLAY_BINDINGS
 * bindings within 'grace_ms' of its first use (a client's next call, not a
 * replay), but only from the address of that first use: a client's next
 * call comes from where its first one came from, a replay by someone who
 * captured the request from elsewhere. After the grace period, another
 * binding is refused whatever its address.
 *
 * A re-binding to a mutating action (Delete*, Modify*, Create*) needs no
 * more than that. The case the grace period exists for is a script's read
 * then write of one resource, e.g. DescribeModelService then
 * DeleteModelService of one ServiceId: refusing mutating re-bindings would
 * refuse that case itself, and nothing else tells it from a replay from the
 * same address (tccli runs each call in a process and a connection of its
 * own, so neither can be required). What is left is a replay from the
 * client's own address within 2 s of its first use: on loopback, capturing
 * the request needs root, who can read the credentials anyway. Behind a
 * proxy every client has the proxy's address and only the 2 s bound holds.
 * A client that wants no window signs x-tc-action too (the berth CLI
 * does): its signature then covers the action and verifies for no other.
 *
 * The record holds at most 'capacity' signatures: when full, the oldest is
 * forgotten first. Safe to call from several threads. */
struct tc3_replay;

#define TC3_REPLAY_CAPACITY 65536
#define TC3_REPLAY_GRACE_MS 2000
#define TC3_REPLAY_BINDINGS 4

enum tc3_replay_verdict {
    TC3_REPLAY_OK,         /* new, then recorded; or already bound to it; or a re-binding */
    TC3_REPLAY_BOUND,      /* bound to other uses: past its grace or at TC3_REPLAY_BINDINGS */
    TC3_REPLAY_OTHER_PEER, /* within its grace, but from another address than its first use */
    TC3_REPLAY_MALFORMED,  /* not 64 hex digits */
};

struct tc3_replay *tc3_replay_new(size_t capacity, int64_t grace_ms);
void tc3_replay_free(struct tc3_replay *r);
/* Whether 'signature' (64 hex digits) may be used with 'binding' (e.g.
 * "action\nregion\nversion") from 'peer' (the client's address; NULL counts
 * as "") at 'now_ms' (Unix milliseconds). A new signature is recorded until
 * 'expires_ms' with its binding and peer. Entries expired at 'now_ms' are
 * dropped first. */
enum tc3_replay_verdict tc3_replay_check(struct tc3_replay *r, struct str signature,
                                         struct str binding, const char *peer, int64_t expires_ms,
                                         int64_t now_ms);
/* How many signatures are recorded. */
size_t tc3_replay_count(struct tc3_replay *r);

#endif
