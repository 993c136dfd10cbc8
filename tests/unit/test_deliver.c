/* test_deliver.c - log sinks: the 'log-sink' syntax, routes from a service's
 * spec, and delivery to a TCP receiver on loopback (a plain socket in this
 * thread): in order, through a receiver that goes away and comes back, from
 * the spool after a restart, and with the dropped-line counter at the cap. */
#include "harness.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/err.h"
#include "logs/deliver.h"
#include "logs/syslog.h"

/* ------------------------------------------------------------------------ */
/* Configuration                                                            */

TEST(sink_parse_tcp_and_tls)
{
    struct logs_sink_config c;
    struct err err = {0};
    CHECK_EQ_INT(logs_sink_parse("ls-1/topic.a syslog+tcp://127.0.0.1:5514", &c, &err), 0);
    CHECK_STR_EQ(c.logset, "ls-1");
    CHECK_STR_EQ(c.topic, "topic.a");
    CHECK_EQ_INT(c.transport, LOGS_SYSLOG_TCP);
    CHECK_STR_EQ(c.host, "127.0.0.1");
    CHECK_EQ_INT(c.port, 5514);
    CHECK_EQ_INT(c.facility, LOGS_SYSLOG_USER);
    CHECK_EQ_INT(logs_sink_parse("a/b  syslog+tls://[::1]:6514 ca=/etc/ca.pem cert=/c key=/k "
                                 "server-name=logs.example facility=local3",
                                 &c, &err),
                 0);
    CHECK_EQ_INT(c.transport, LOGS_SYSLOG_TLS);
    CHECK_STR_EQ(c.host, "::1");
    CHECK_EQ_INT(c.port, 6514);
    CHECK_STR_EQ(c.ca, "/etc/ca.pem");
    CHECK_STR_EQ(c.cert, "/c");
    CHECK_STR_EQ(c.key, "/k");
    CHECK_STR_EQ(c.server_name, "logs.example");
    CHECK_EQ_INT(c.facility, LOGS_SYSLOG_LOCAL0 + 3);
    CHECK_EQ_INT(logs_sink_parse("a/b syslog+tls://logs.example:6514", &c, &err), 0);
    CHECK_STR_EQ(c.server_name, "logs.example"); /* the host by default */
}

TEST(sink_parse_refuses_with_the_reason)
{
    static const struct {
        const char *value, *reason;
    } bad[] = {
        {"", "expected"},
        {"a/b", "expected"},
        {"ab syslog+tcp://h:1", "LOGSET/TOPIC"},
        {"a/ syslog+tcp://h:1", "LOGSET/TOPIC"},
        {"a b/c syslog+tcp://h:1", "LOGSET/TOPIC"},
        {"a/b/c syslog+tcp://h:1", "LOGSET/TOPIC"},
        {"a/b udp://h:1", "syslog+tcp://"},
        {"a/b syslog+tcp://h", "HOST:PORT"},
        {"a/b syslog+tcp://h:0", "port"},
        {"a/b syslog+tcp://h:65536", "port"},
        {"a/b syslog+tcp://h:1x", "port"},
        {"a/b syslog+tcp://:1", "host"},
        {"a/b syslog+tcp://::1:5", "HOST:PORT"},
        {"a/b syslog+tcp://h:1 ca=/x", "syslog+tls:// sinks only"},
        {"a/b syslog+tcp://h:1 facility=kern", "facility"},
        {"a/b syslog+tcp://h:1 colour=red", "unknown key"},
        {"a/b syslog+tcp://h:1 facility", "key=value"},
        {"a/b syslog+tls://h:1 cert=/c", "cert and key"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct logs_sink_config c;
        struct err err = {0};
        CHECK_EQ_INT(logs_sink_parse(bad[i].value, &c, &err), ERR_INVALID);
        if (!strstr(err.msg, bad[i].reason))
            printf("# '%s': %s\n", bad[i].value, err.msg);
        CHECK(strstr(err.msg, bad[i].reason) != NULL);
    }
}

/* ------------------------------------------------------------------------ */
/* A receiver                                                               */

struct receiver {
    int listen_fd, conn_fd;
    int port;
    char buf[1 << 20];
    size_t len;
};

static void receiver_listen(struct receiver *r, int port)
{
    r->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(r->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(r->listen_fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(r->listen_fd, 4) != 0)
        abort();
    socklen_t al = sizeof(a);
    getsockname(r->listen_fd, (struct sockaddr *)&a, &al);
    r->port = ntohs(a.sin_port);
    r->conn_fd = -1;
}

static void receiver_close(struct receiver *r)
{
    if (r->conn_fd >= 0)
        close(r->conn_fd);
    if (r->listen_fd >= 0)
        close(r->listen_fd);
    r->conn_fd = r->listen_fd = -1;
}

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static size_t count_frames(const struct receiver *r)
{
    size_t off = 0, fl, n = 0;
    while (logs_syslog_next_frame(r->buf + off, r->len - off, &fl) == 0) {
        off += fl;
        n++;
    }
    return n;
}

/* Read until 'want' frames are in (or timeout_ms passes); returns the count. */
static size_t receive(struct receiver *r, size_t want, int timeout_ms)
{
    uint64_t deadline = mono_ms() + (uint64_t)timeout_ms;
    size_t have = count_frames(r);
    while (have < want && mono_ms() < deadline) {
        struct pollfd p = {.fd = r->conn_fd >= 0 ? r->conn_fd : r->listen_fd, .events = POLLIN};
        if (poll(&p, 1, 50) <= 0)
            continue;
        if (r->conn_fd < 0) {
            r->conn_fd = accept(r->listen_fd, NULL, NULL);
            continue;
        }
        ssize_t n = read(r->conn_fd, r->buf + r->len, sizeof(r->buf) - r->len);
        if (n <= 0) {
            close(r->conn_fd);
            r->conn_fd = -1;
            continue;
        }
        r->len += (size_t)n;
        have = count_frames(r);
    }
    return have;
}

/* The numbers the messages end with ("line N"), in the order received. */
static size_t numbers(const struct receiver *r, int *out, size_t max)
{
    size_t off = 0, fl, n = 0;
    while (n < max && logs_syslog_next_frame(r->buf + off, r->len - off, &fl) == 0) {
        const char *end = r->buf + off + fl, *p = end;
        while (p > r->buf + off && p[-1] >= '0' && p[-1] <= '9')
            p--;
        int v = 0;
        for (; p < end; p++)
            v = v * 10 + (*p - '0');
        out[n++] = v;
        off += fl;
    }
    return n;
}

/* ------------------------------------------------------------------------ */
/* Delivery                                                                 */

static char *temp_dir(void)
{
    char tmpl[] = "/tmp/berth-test-deliver-XXXXXX";
    char *d = mkdtemp(tmpl);
    return d ? strdup(d) : NULL;
}

static void remove_tree(const char *dir)
{
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        printf("# cannot remove %s\n", dir);
}

static struct logs_deliver *start(const char *spool, int port, uint64_t cap, struct err *err)
{
    char sink[128];
    snprintf(sink, sizeof(sink), "ls1/tp1 syslog+tcp://127.0.0.1:%d", port);
    const char *sinks[] = {sink};
    struct logs_deliver_config cfg = {.spool_dir = spool,
                                      .spool_cap_bytes = cap,
                                      .sinks = sinks,
                                      .nsinks = 1,
                                      .hostname = "testhost",
                                      .retry_max_ms = 200};
    struct logs_deliver *d = NULL;
    if (logs_deliver_start(&cfg, &d, err) != 0)
        return NULL;
    logs_deliver_route(d, "ms-aaaa-1",
                       "{\"LogEnable\": true, \"LogConfig\": {\"LogsetId\": \"ls1\", "
                       "\"TopicId\": \"tp1\"}}");
    return d;
}

static void send_lines(struct logs_deliver *d, const char *service, int from, int to)
{
    for (int i = from; i < to; i++) {
        char text[64];
        int n = snprintf(text, sizeof(text), "line %d", i);
        struct logs_line l = {.time_us = 1796190879000000LL + i,
                              .group_id = "ms-aaaa",
                              .service_id = service,
                              .pod = "ms-aaaa-1-0",
                              .stream = LOGS_STDOUT,
                              .text = text,
                              .len = (size_t)n};
        logs_deliver_line(d, &l);
    }
}

/* Every number from 0 to n-1 came, first times in order; duplicates only
 * as a resent run. */
static bool complete_in_order(const int *got, size_t ngot, int n)
{
    int next = 0;
    for (size_t i = 0; i < ngot; i++) {
        if (got[i] == next)
            next++;
        else if (got[i] > next)
            return false; /* a gap: something before it is missing */
    }
    return next == n;
}

/* Wait (2 s at most) until 'want' lines count as delivered. */
static void wait_delivered(struct logs_deliver *d, uint64_t want, struct logs_sink_stats *st)
{
    for (int i = 0; i < 100; i++) {
        logs_deliver_stats(d, st, 1);
        if (st->delivered_lines >= want)
            return;
        usleep(20000);
    }
}

static struct receiver rx;
static int got[4096];

TEST(lines_reach_the_receiver_in_order)
{
    char *dir = temp_dir();
    memset(&rx, 0, sizeof(rx));
    receiver_listen(&rx, 0);
    struct err err = {0};
    struct logs_deliver *d = start(dir, rx.port, 1 << 20, &err);
    CHECK(d != NULL);
    CHECK(logs_deliver_has_sink(d, "ls1", "tp1"));
    CHECK(!logs_deliver_has_sink(d, "ls1", "tp2"));
    send_lines(d, "ms-aaaa-1", 0, 200);
    send_lines(d, "ms-other-1", 0, 5); /* no route: not delivered */
    CHECK_EQ_INT(receive(&rx, 200, 3000), 200);
    size_t n = numbers(&rx, got, 4096);
    CHECK_EQ_INT(n, 200);
    for (int i = 0; i < 200; i++)
        CHECK_EQ_INT(got[i], i);
    /* The message is RFC 5424 with the structured data. */
    CHECK(strstr(rx.buf, "<14>1 2026-12-02T05:54:39.000000Z testhost ms-aaaa-1 ms-aaaa-1-0 stdout "
                         "[berth@32473 service=\"ms-aaaa-1\" group=\"ms-aaaa\" "
                         "pod=\"ms-aaaa-1-0\" stream=\"stdout\"] line 0") != NULL);
    /* LogEnable off: nothing more goes. */
    logs_deliver_route(d, "ms-aaaa-1", "{\"LogEnable\": false}");
    send_lines(d, "ms-aaaa-1", 200, 210);
    CHECK_EQ_INT(receive(&rx, 201, 300), 200);
    struct logs_sink_stats st;
    wait_delivered(d, 200, &st);
    CHECK_EQ_INT(logs_deliver_stats(d, &st, 1), 1);
    CHECK_STR_EQ(st.name, "ls1/tp1");
    CHECK_EQ_INT(st.delivered_lines, 200);
    CHECK_EQ_INT(st.dropped_lines, 0);
    CHECK(st.connected);
    logs_deliver_stop(d);
    receiver_close(&rx);
    remove_tree(dir);
    free(dir);
}

TEST(receiver_down_and_back_loses_nothing)
{
    char *dir = temp_dir();
    memset(&rx, 0, sizeof(rx));
    receiver_listen(&rx, 0);
    int port = rx.port;
    struct err err = {0};
    struct logs_deliver *d = start(dir, port, 1 << 20, &err);
    CHECK(d != NULL);
    send_lines(d, "ms-aaaa-1", 0, 100);
    CHECK_EQ_INT(receive(&rx, 100, 3000), 100);
    struct logs_sink_stats st;
    wait_delivered(d, 100, &st);
    /* The receiver goes away; lines keep coming and wait in the spool. */
    receiver_close(&rx);
    send_lines(d, "ms-aaaa-1", 100, 300);
    usleep(400000);
    logs_deliver_stats(d, &st, 1);
    CHECK(!st.connected);
    CHECK(st.spooled_bytes > 0);
    /* Back on the same port: everything after what it had arrives. */
    rx.len = 0;
    receiver_listen(&rx, port);
    CHECK(receive(&rx, 200, 5000) >= 200);
    size_t n = numbers(&rx, got, 4096);
    /* A resent run may come first (at-least-once); then 100..299 in order. */
    int first = got[0];
    CHECK(first <= 100);
    int shifted[4096];
    for (size_t i = 0; i < n; i++)
        shifted[i] = got[i] - first;
    CHECK(complete_in_order(shifted, n, 300 - first));
    logs_deliver_stop(d);
    receiver_close(&rx);
    remove_tree(dir);
    free(dir);
}

TEST(spool_is_sent_after_a_restart)
{
    char *dir = temp_dir();
    memset(&rx, 0, sizeof(rx));
    receiver_listen(&rx, 0);
    int port = rx.port;
    receiver_close(&rx); /* nobody listens while the first run spools */
    struct err err = {0};
    struct logs_deliver *d = start(dir, port, 1 << 20, &err);
    CHECK(d != NULL);
    send_lines(d, "ms-aaaa-1", 0, 50);
    logs_deliver_stop(d); /* the lines are in the spool */
    receiver_listen(&rx, port);
    d = start(dir, port, 1 << 20, &err);
    CHECK(d != NULL);
    send_lines(d, "ms-aaaa-1", 50, 60);
    CHECK_EQ_INT(receive(&rx, 60, 5000), 60);
    size_t n = numbers(&rx, got, 4096);
    CHECK_EQ_INT(n, 60);
    for (int i = 0; i < 60; i++)
        CHECK_EQ_INT(got[i], i);
    struct logs_sink_stats st;
    wait_delivered(d, 60, &st);
    logs_deliver_stop(d);
    /* Delivered and committed: a third run sends nothing again. */
    rx.len = 0;
    d = start(dir, port, 1 << 20, &err);
    CHECK(d != NULL);
    CHECK_EQ_INT(receive(&rx, 1, 500), 0);
    logs_deliver_stop(d);
    receiver_close(&rx);
    remove_tree(dir);
    free(dir);
}

TEST(full_spool_drops_and_counts)
{
    char *dir = temp_dir();
    memset(&rx, 0, sizeof(rx));
    receiver_listen(&rx, 0);
    int port = rx.port;
    receiver_close(&rx);
    struct err err = {0};
    /* 8 KiB hold about 50 of these frames of ~160 bytes. */
    struct logs_deliver *d = start(dir, port, 8192, &err);
    CHECK(d != NULL);
    send_lines(d, "ms-aaaa-1", 0, 200);
    struct logs_sink_stats st = {0};
    for (int i = 0; i < 100 && st.dropped_lines == 0; i++) {
        usleep(20000);
        logs_deliver_stats(d, &st, 1);
    }
    CHECK(st.dropped_lines > 100);
    CHECK(st.dropped_lines < 200);
    CHECK(st.spooled_bytes <= 8192);
    /* What was kept is the oldest, and it arrives once the receiver is back. */
    receiver_listen(&rx, port);
    size_t kept = 200 - (size_t)st.dropped_lines;
    CHECK_EQ_INT(receive(&rx, kept, 5000), kept);
    size_t n = numbers(&rx, got, 4096);
    for (size_t i = 0; i < n; i++)
        CHECK_EQ_INT(got[i], (int)i);
    logs_deliver_stop(d);
    receiver_close(&rx);
    remove_tree(dir);
    free(dir);
}

TEST(start_refuses_bad_and_twice_defined_sinks)
{
    char *dir = temp_dir();
    const char *twice[] = {"a/b syslog+tcp://127.0.0.1:1", "a/b syslog+tcp://127.0.0.1:2"};
    struct logs_deliver_config cfg = {
        .spool_dir = dir, .spool_cap_bytes = 1 << 20, .sinks = twice, .nsinks = 2};
    struct logs_deliver *d = NULL;
    struct err err = {0};
    CHECK(logs_deliver_start(&cfg, &d, &err) != 0);
    CHECK(strstr(err.msg, "defined twice") != NULL);
    const char *tls[] = {"a/b syslog+tls://127.0.0.1:1 ca=/nonexistent/ca.pem"};
    cfg.sinks = tls;
    cfg.nsinks = 1;
    CHECK(logs_deliver_start(&cfg, &d, &err) != 0);
    CHECK(strstr(err.msg, "/nonexistent/ca.pem") != NULL);
    cfg.nsinks = 0;
    CHECK_EQ_INT(logs_deliver_start(&cfg, &d, &err), 0);
    CHECK(d == NULL);
    CHECK(!logs_deliver_has_sink(d, "a", "b"));
    logs_deliver_stop(d);
    remove_tree(dir);
    free(dir);
}
