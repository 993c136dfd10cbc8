/* test_headers.c - what the gateway passes on of header fields: hop-by-hop
 * ones and those named in Connection are dropped both ways; the forwarding
 * fields are the gateway's own unless the peer is a trusted proxy. */
#include "harness.h"

#include "gateway/headers.h"

#define H(n, v)                                                                                    \
    {                                                                                              \
        STR_LIT(n), STR_LIT(v)                                                                     \
    }

static bool has_line(const struct buf *b, const char *line)
{
    return b->ptr && strstr(b->ptr, line) != NULL;
}

TEST(connection_named_fields_are_hop_by_hop)
{
    struct http_header hs[] = {H("Connection", "keep-alive, X-Secret ,x-other"),
                               H("X-Secret", "1"),
                               H("X-Other", "2"),
                               H("X-Kept", "3"),
                               H("Connection", "Close"),
                               H("TE", "trailers")};
    size_t n = sizeof(hs) / sizeof(hs[0]);
    CHECK(gw_hop_by_hop(hs, n, STR_LIT("x-secret")));
    CHECK(gw_hop_by_hop(hs, n, STR_LIT("X-OTHER")));
    CHECK(gw_hop_by_hop(hs, n, STR_LIT("te")));
    CHECK(!gw_hop_by_hop(hs, n, STR_LIT("X-Kept")));
    CHECK(!gw_hop_by_hop(hs, n, STR_LIT("X-Secre")));
    struct buf b;
    buf_init(&b, SIZE_MAX);
    gw_response_headers(&b, hs, n);
    CHECK_STR_EQ(b.ptr, "X-Kept: 3\r\n");
    buf_release(&b);
}

TEST(forwarding_fields_from_an_untrusted_peer_are_replaced)
{
    struct http_header hs[] = {H("Host", "api.example:8501"), H("X-Forwarded-For", "6.6.6.6"),
                               H("X-Real-IP", "6.6.6.6"),     H("Forwarded", "for=6.6.6.6"),
                               H("X-Forwarded-Host", "evil"), H("X-Forwarded-Proto", "https"),
                               H("Content-Length", "3"),      H("X-Custom", "kept")};
    struct buf b;
    buf_init(&b, SIZE_MAX);
    gw_request_headers(&b, hs, sizeof(hs) / sizeof(hs[0]), "10.1.2.3", false, false);
    CHECK(!has_line(&b, "6.6.6.6"));
    CHECK(!has_line(&b, "evil"));
    CHECK(!has_line(&b, "https"));
    CHECK(!has_line(&b, "Content-Length"));
    CHECK(has_line(&b, "X-Custom: kept\r\n"));
    CHECK(has_line(&b, "X-Forwarded-For: 10.1.2.3\r\n"));
    CHECK(has_line(&b, "X-Real-IP: 10.1.2.3\r\n"));
    CHECK(has_line(&b, "Forwarded: for=10.1.2.3;host=\"api.example:8501\";proto=http\r\n"));
    CHECK(has_line(&b, "X-Forwarded-Host: api.example:8501\r\n"));
    CHECK(has_line(&b, "X-Forwarded-Proto: http\r\n"));
    buf_release(&b);
}

TEST(a_request_over_tls_is_forwarded_as_https)
{
    struct http_header hs[] = {H("Host", "api.example:8501"), H("X-Forwarded-Proto", "http")};
    struct buf b;
    buf_init(&b, SIZE_MAX);
    gw_request_headers(&b, hs, sizeof(hs) / sizeof(hs[0]), "10.1.2.3", false, true);
    CHECK(has_line(&b, "Forwarded: for=10.1.2.3;host=\"api.example:8501\";proto=https\r\n"));
    CHECK(has_line(&b, "X-Forwarded-Proto: https\r\n"));
    CHECK(!has_line(&b, "X-Forwarded-Proto: http\r\n"));
    buf_release(&b);
}

TEST(forwarding_fields_from_a_trusted_proxy_are_appended_to)
{
    struct http_header hs[] = {H("Host", "h"),
                               H("X-Forwarded-For", "1.1.1.1"),
                               H("X-Forwarded-For", "2.2.2.2"),
                               H("X-Real-IP", "1.1.1.1"),
                               H("Forwarded", "for=1.1.1.1"),
                               H("X-Forwarded-Host", "front.example"),
                               H("X-Forwarded-Proto", "https"),
                               H("Connection", "X-Forwarded-Proto")};
    struct buf b;
    buf_init(&b, SIZE_MAX);
    gw_request_headers(&b, hs, sizeof(hs) / sizeof(hs[0]), "::1", true, false);
    CHECK(has_line(&b, "X-Forwarded-For: 1.1.1.1, 2.2.2.2, ::1\r\n"));
    CHECK(has_line(&b, "X-Real-IP: 1.1.1.1\r\n"));
    CHECK(has_line(&b, "Forwarded: for=1.1.1.1, for=\"[::1]\";host=\"h\";proto=http\r\n"));
    CHECK(has_line(&b, "X-Forwarded-Host: front.example\r\n"));
    /* Named in Connection: meant for us only, so not the proxy's word. */
    CHECK(has_line(&b, "X-Forwarded-Proto: http\r\n"));
    CHECK(!has_line(&b, "https"));
    buf_release(&b);
}

TEST(trusted_proxies_match_addresses_and_networks)
{
    struct gw_proxies p = {0};
    struct err err = {0};
    CHECK_EQ_INT(gw_proxies_add(&p, "127.0.0.2", &err), 0);
    CHECK_EQ_INT(gw_proxies_add(&p, "10.0.0.0/8", &err), 0);
    CHECK_EQ_INT(gw_proxies_add(&p, "192.168.4.0/22", &err), 0);
    CHECK_EQ_INT(gw_proxies_add(&p, "fd00::/8", &err), 0);
    CHECK(gw_proxies_match(&p, "127.0.0.2"));
    CHECK(!gw_proxies_match(&p, "127.0.0.1"));
    CHECK(gw_proxies_match(&p, "10.200.3.4"));
    CHECK(gw_proxies_match(&p, "192.168.7.255"));
    CHECK(!gw_proxies_match(&p, "192.168.8.0"));
    CHECK(gw_proxies_match(&p, "fd12::1"));
    CHECK(!gw_proxies_match(&p, "fe80::1"));
    CHECK(gw_proxies_match(&p, "::ffff:10.0.0.1"));
    CHECK(!gw_proxies_match(&p, "not an address"));
    static const char *const bad[] = {
        "", "10.0.0.0/33", "10.0.0.0/", "10.0.0/8", "host.example", "::1/129", "10.0.0.1/-1", NULL};
    for (const char *const *b = bad; *b; b++) {
        CHECK_EQ_INT(gw_proxies_add(&p, *b, &err), ERR_INVALID);
        CHECK(strstr(err.msg, "IPv4 or IPv6") != NULL);
    }
    gw_proxies_release(&p);
    CHECK(!gw_proxies_match(&p, "10.0.0.1"));
}
