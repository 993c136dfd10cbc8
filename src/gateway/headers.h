/* headers.h - what the gateway passes on of a message's header fields. Both
 * directions drop the hop-by-hop fields: the fixed list and those the
 * message's Connection field names (RFC 9110 §7.6.1). Towards the instance
 * the gateway states who asked: X-Forwarded-For, X-Real-IP, Forwarded,
 * X-Forwarded-Host and X-Forwarded-Proto are replaced with what it saw
 * itself, unless the peer is a trusted proxy, whose values are kept and
 * appended to. Pure functions, for any thread. */
#ifndef BERTH_GATEWAY_HEADERS_H
#define BERTH_GATEWAY_HEADERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "http/server.h"

/* Trusted proxies: addresses and networks (--trusted-proxy). */
struct gw_net {
    uint8_t addr[16]; /* IPv4 in the first 4 bytes */
    unsigned bits;
    bool v6;
};

struct gw_proxies {
    struct gw_net *nets;
    size_t n;
};

/* Add "ADDR" or "ADDR/BITS" (IPv4 or IPv6); ERR_INVALID with a reason. */
int gw_proxies_add(struct gw_proxies *p, const char *spec, struct err *err);
/* Whether 'addr' (a peer's numeric address) is in the list. */
bool gw_proxies_match(const struct gw_proxies *p, const char *addr);
void gw_proxies_release(struct gw_proxies *p);

/* Whether 'name' of a message with headers 'hs' must not be passed on:
 * hop-by-hop, or named in one of its Connection fields. */
bool gw_hop_by_hop(const struct http_header *hs, size_t n, struct str name);

/* The request's fields for the instance, as "Name: value\r\n" lines: the
 * end-to-end ones the client sent, then the forwarding fields for a client
 * at 'peer'. Host, Content-Length, Expect and X-Forwarded-Prefix are the
 * caller's to write. */
void gw_request_headers(struct buf *out, const struct http_header *hs, size_t n, const char *peer,
                        bool trusted, bool https);
/* The response's fields for the client, without framing (Content-Length). */
void gw_response_headers(struct buf *out, const struct http_header *hs, size_t n);

#endif
