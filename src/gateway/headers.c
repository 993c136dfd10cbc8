/* headers.c - hop-by-hop fields, Connection-named fields, and the
 * forwarding fields the gateway writes itself. */
#include "gateway/headers.h"
#include "base/alloc.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ------------------------------------------------------------------------ */
/* Trusted proxies                                                          */

static bool parse_addr(const char *s, uint8_t out[16], bool *v6)
{
    memset(out, 0, 16);
    if (inet_pton(AF_INET, s, out) == 1) {
        *v6 = false;
        return true;
    }
    if (inet_pton(AF_INET6, s, out) == 1) {
        *v6 = true;
        return true;
    }
    return false;
}

int gw_proxies_add(struct gw_proxies *p, const char *spec, struct err *err)
{
    char addr[64];
    const char *slash = strchr(spec, '/');
    size_t alen = slash ? (size_t)(slash - spec) : strlen(spec);
    struct gw_net net = {0};
    if (alen == 0 || alen >= sizeof(addr))
        goto bad;
    memcpy(addr, spec, alen);
    addr[alen] = '\0';
    if (!parse_addr(addr, net.addr, &net.v6))
        goto bad;
    unsigned max = net.v6 ? 128 : 32;
    net.bits = max;
    if (slash) {
        char *end;
        unsigned long bits = strtoul(slash + 1, &end, 10);
        if (!slash[1] || *end || slash[1] < '0' || slash[1] > '9' || bits > max)
            goto bad;
        net.bits = (unsigned)bits;
    }
    p->nets = xrealloc(p->nets, (p->n + 1) * sizeof(*p->nets));
    p->nets[p->n++] = net;
    return 0;
bad:
    return err_set(err, ERR_INVALID,
                   "'%s' must be an IPv4 or IPv6 address, or one with a prefix length such as "
                   "10.0.0.0/8",
                   spec);
}

static bool prefix_equal(const uint8_t *a, const uint8_t *b, unsigned bits)
{
    size_t whole = bits / 8;
    if (memcmp(a, b, whole) != 0)
        return false;
    unsigned rest = bits % 8;
    if (!rest)
        return true;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (a[whole] & mask) == (b[whole] & mask);
}

bool gw_proxies_match(const struct gw_proxies *p, const char *addr)
{
    uint8_t a[16];
    bool v6;
    if (!p || !p->n || !addr || !parse_addr(addr, a, &v6))
        return false;
    /* An IPv4 peer on a dual-stack socket reads ::ffff:a.b.c.d. */
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (v6 && memcmp(a, mapped, sizeof(mapped)) == 0) {
        memmove(a, a + 12, 4);
        memset(a + 4, 0, 12);
        v6 = false;
    }
    for (size_t i = 0; i < p->n; i++)
        if (p->nets[i].v6 == v6 && prefix_equal(a, p->nets[i].addr, p->nets[i].bits))
            return true;
    return false;
}

void gw_proxies_release(struct gw_proxies *p)
{
    free(p->nets);
    p->nets = NULL;
    p->n = 0;
}

/* ------------------------------------------------------------------------ */
/* Hop-by-hop                                                               */

/* Names with their lengths: a field name is first told apart by length,
 * without a strlen() or a call per candidate (a request's fields meet both
 * lists). */
static bool in_list(struct str name, const struct str *names, size_t count)
{
    for (size_t i = 0; i < count; i++)
        if (name.len == names[i].len && strncasecmp(name.ptr, names[i].ptr, name.len) == 0)
            return true;
    return false;
}

static const struct str hop_names[] = {
    STR_LIT("connection"),          STR_LIT("keep-alive"), STR_LIT("proxy-connection"),
    STR_LIT("proxy-authenticate"),  STR_LIT("te"),         STR_LIT("trailer"),
    STR_LIT("proxy-authorization"), STR_LIT("upgrade"),    STR_LIT("transfer-encoding"),
};
#define NHOP (sizeof(hop_names) / sizeof(hop_names[0]))

static bool is_connection(struct str name)
{
    return name.len == 10 && strncasecmp(name.ptr, "connection", 10) == 0;
}

static bool has_connection(const struct http_header *hs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (is_connection(hs[i].name))
            return true;
    return false;
}

/* Whether the comma-separated 'list' holds the token 'name'. */
static bool list_has(struct str list, struct str name)
{
    size_t i = 0;
    while (i < list.len) {
        while (i < list.len && (list.ptr[i] == ' ' || list.ptr[i] == '\t' || list.ptr[i] == ','))
            i++;
        size_t start = i;
        while (i < list.len && list.ptr[i] != ',')
            i++;
        size_t end = i;
        while (end > start && (list.ptr[end - 1] == ' ' || list.ptr[end - 1] == '\t'))
            end--;
        struct str tok = {list.ptr + start, end - start};
        if (tok.len && tok.len == name.len && strncasecmp(tok.ptr, name.ptr, tok.len) == 0)
            return true;
    }
    return false;
}

/* gw_hop_by_hop() for a message whose Connection fields the caller looked
 * for once ('conn': it has some). */
static bool hop(const struct http_header *hs, size_t n, struct str name, bool conn)
{
    if (in_list(name, hop_names, NHOP))
        return true;
    if (conn)
        for (size_t i = 0; i < n; i++)
            if (is_connection(hs[i].name) && list_has(hs[i].value, name))
                return true;
    return false;
}

bool gw_hop_by_hop(const struct http_header *hs, size_t n, struct str name)
{
    return hop(hs, n, name, has_connection(hs, n));
}

/* ------------------------------------------------------------------------ */
/* Forwarding fields                                                        */

/* Set by the gateway itself: a client's copies are dropped (spoofable) or,
 * from a trusted proxy, folded into the gateway's own line. */
static const struct str own_names[] = {
    STR_LIT("host"),
    STR_LIT("content-length"),
    STR_LIT("expect"),
    STR_LIT("x-forwarded-prefix"),
    STR_LIT("x-forwarded-for"),
    STR_LIT("x-real-ip"),
    STR_LIT("forwarded"),
    STR_LIT("x-forwarded-host"),
    STR_LIT("x-forwarded-proto"),
};
#define NOWN (sizeof(own_names) / sizeof(own_names[0]))

/* The client's end-to-end values of 'name', joined with ", " into 'out'. */
static void joined(struct buf *out, const struct http_header *hs, size_t n, bool conn,
                   const char *name)
{
    for (size_t i = 0; i < n; i++) {
        if (!str_eq_nocase(hs[i].name, name) || hop(hs, n, hs[i].name, conn) || !hs[i].value.len)
            continue;
        if (out->len)
            buf_puts(out, ", ");
        buf_append(out, hs[i].value.ptr, hs[i].value.len);
    }
}

/* A quoted-string for Forwarded (RFC 7239 §4). */
static void quoted(struct buf *out, struct str s)
{
    buf_putc(out, '"');
    for (size_t i = 0; i < s.len; i++) {
        if (s.ptr[i] == '"' || s.ptr[i] == '\\')
            buf_putc(out, '\\');
        buf_putc(out, s.ptr[i]);
    }
    buf_putc(out, '"');
}

/* "Name: value\r\n" */
static void put_field(struct buf *out, const char *name, struct str value)
{
    buf_puts(out, name);
    buf_puts(out, ": ");
    buf_append(out, value.ptr, value.len);
    buf_puts(out, "\r\n");
}

static struct str first_value(const struct http_header *hs, size_t n, bool conn, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (str_eq_nocase(hs[i].name, name) && !hop(hs, n, hs[i].name, conn))
            return hs[i].value;
    return STR_NULL;
}

void gw_request_headers(struct buf *out, const struct http_header *hs, size_t n, const char *peer,
                        bool trusted, bool https)
{
    bool conn = has_connection(hs, n);
    for (size_t i = 0; i < n; i++) {
        if (in_list(hs[i].name, own_names, NOWN) || hop(hs, n, hs[i].name, conn))
            continue;
        buf_append(out, hs[i].name.ptr, hs[i].name.len);
        buf_puts(out, ": ");
        buf_append(out, hs[i].value.ptr, hs[i].value.len);
        buf_puts(out, "\r\n");
    }
    struct str host = first_value(hs, n, conn, "host");
    struct buf v;
    buf_init(&v, SIZE_MAX);

    /* X-Forwarded-For: the chain, ending with whoever connected to us. */
    if (trusted)
        joined(&v, hs, n, conn, "x-forwarded-for");
    buf_puts(out, "X-Forwarded-For: ");
    if (v.len) {
        buf_append(out, v.ptr, v.len);
        buf_puts(out, ", ");
    }
    buf_puts(out, peer);
    buf_puts(out, "\r\n");

    /* Forwarded: the same as one element per hop. */
    buf_reset(&v);
    if (trusted)
        joined(&v, hs, n, conn, "forwarded");
    buf_puts(out, "Forwarded: ");
    if (v.len) {
        buf_append(out, v.ptr, v.len);
        buf_puts(out, ", ");
    }
    buf_puts(out, "for=");
    if (strchr(peer, ':')) {
        char v6[64];
        snprintf(v6, sizeof(v6), "[%s]", peer);
        quoted(out, str_from(v6));
    } else {
        buf_puts(out, peer);
    }
    if (host.ptr && host.len) {
        buf_puts(out, ";host=");
        quoted(out, host);
    }
    buf_puts(out, https ? ";proto=https\r\n" : ";proto=http\r\n");

    /* The single-valued ones: the first proxy's word, or ours. */
    struct str real_ip = trusted ? first_value(hs, n, conn, "x-real-ip") : STR_NULL;
    struct str fhost = trusted ? first_value(hs, n, conn, "x-forwarded-host") : STR_NULL;
    struct str proto = trusted ? first_value(hs, n, conn, "x-forwarded-proto") : STR_NULL;
    if (!real_ip.len)
        real_ip = str_from(peer);
    if (!fhost.len)
        fhost = host;
    if (!proto.len)
        proto = https ? STR_LIT("https") : STR_LIT("http");
    put_field(out, "X-Real-IP", real_ip);
    if (fhost.len)
        put_field(out, "X-Forwarded-Host", fhost);
    put_field(out, "X-Forwarded-Proto", proto);
    buf_release(&v);
}

void gw_response_headers(struct buf *out, const struct http_header *hs, size_t n)
{
    bool conn = has_connection(hs, n);
    for (size_t i = 0; i < n; i++) {
        if (str_eq_nocase(hs[i].name, "content-length") || hop(hs, n, hs[i].name, conn))
            continue;
        buf_append(out, hs[i].name.ptr, hs[i].name.len);
        buf_puts(out, ": ");
        buf_append(out, hs[i].value.ptr, hs[i].value.len);
        buf_puts(out, "\r\n");
    }
}
