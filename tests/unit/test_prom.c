/* test_prom.c - the Prometheus text writer: escaping, values, histograms,
 * and what promtool says of a whole exposition. */
#include "harness.h"
#include "http/prom.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

TEST(family_header)
{
    struct buf b;
    buf_init(&b, 1 << 16);
    prom_family(&b, "berth_x_total", PROM_COUNTER, "Things \\ counted\nso far, \"quoted\".");
    CHECK_STR_EQ(b.ptr, "# HELP berth_x_total Things \\\\ counted\\nso far, \"quoted\".\n"
                        "# TYPE berth_x_total counter\n");
    buf_release(&b);
}

TEST(label_values_are_escaped)
{
    struct buf b;
    buf_init(&b, 1 << 16);
    struct prom_label l[] = {{"a", "back\\slash"}, {"b", "quo\"te"}, {"c", "new\nline"}, {"d", ""}};
    prom_sample_u64(&b, "m", l, 4, 7);
    CHECK_STR_EQ(b.ptr, "m{a=\"back\\\\slash\",b=\"quo\\\"te\",c=\"new\\nline\",d=\"\"} 7\n");
    buf_reset(&b);
    prom_sample_u64(&b, "m", NULL, 0, 18446744073709551615ull);
    CHECK_STR_EQ(b.ptr, "m 18446744073709551615\n");
    buf_release(&b);
}

TEST(double_values)
{
    struct buf b;
    buf_init(&b, 1 << 16);
    const double v[] = {0, 3, -2, 0.1, 1.5e-7, 1e300, INFINITY, -INFINITY, NAN, 123456.25};
    const char *want = "0 3 -2 0.1 1.5e-07 1e+300 +Inf -Inf NaN 123456.25 ";
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        prom_put_double(&b, v[i]);
        buf_putc(&b, ' ');
    }
    CHECK_STR_EQ(b.ptr, want);
    /* Whatever the digits, they read back as the same double. */
    buf_reset(&b);
    prom_put_double(&b, 0.1 + 0.2);
    CHECK(strtod(b.ptr, NULL) == 0.1 + 0.2);
    buf_release(&b);
}

TEST(histogram_is_cumulative)
{
    struct buf b;
    buf_init(&b, 1 << 16);
    const double bounds[] = {0.005, 0.1, 1};
    const uint64_t counts[] = {2, 0, 3, 1};
    struct prom_label l[] = {{"group", "g"}};
    prom_histogram(&b, "h_seconds", l, 1, bounds, counts, 3, 2.5);
    CHECK_STR_EQ(b.ptr, "h_seconds_bucket{group=\"g\",le=\"0.005\"} 2\n"
                        "h_seconds_bucket{group=\"g\",le=\"0.1\"} 2\n"
                        "h_seconds_bucket{group=\"g\",le=\"1\"} 5\n"
                        "h_seconds_bucket{group=\"g\",le=\"+Inf\"} 6\n"
                        "h_seconds_sum{group=\"g\"} 2.5\n"
                        "h_seconds_count{group=\"g\"} 6\n");
    buf_reset(&b);
    prom_histogram(&b, "h", NULL, 0, bounds, counts, 3, 0);
    CHECK(strstr(b.ptr, "h_bucket{le=\"+Inf\"} 6\n") != NULL);
    buf_release(&b);
}

/* promtool is the format's own checker; without it (no deps.sh) the test skips. */
TEST(promtool_check_metrics)
{
    if (access("/usr/bin/promtool", X_OK) != 0) {
        printf("# skip: no /usr/bin/promtool\n");
        return;
    }
    struct buf b;
    buf_init(&b, 1 << 16);
    prom_family(&b, "berth_test_requests_total", PROM_COUNTER, "Requests \"by\" code.\n2nd line");
    struct prom_label l[] = {{"code", "200"}, {"path", "/a\"b\\c\nd"}};
    prom_sample_u64(&b, "berth_test_requests_total", l, 2, 5);
    prom_family(&b, "berth_test_temperature_celsius", PROM_GAUGE, "A gauge.");
    prom_sample(&b, "berth_test_temperature_celsius", NULL, 0, -3.25);
    prom_family(&b, "berth_test_latency_seconds", PROM_HISTOGRAM, "A histogram.");
    const double bounds[] = {0.001, 0.01};
    const uint64_t counts[] = {1, 2, 3};
    prom_histogram(&b, "berth_test_latency_seconds", l, 1, bounds, counts, 2, 0.75);
    char path[] = "/tmp/test_prom_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    CHECK(write(fd, b.ptr, b.len) == (ssize_t)b.len);
    close(fd);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "/usr/bin/promtool check metrics < %s 2>&1", path);
    FILE *p = popen(cmd, "r");
    char out[4096] = "";
    size_t n = fread(out, 1, sizeof(out) - 1, p);
    out[n] = '\0';
    int status = pclose(p);
    unlink(path);
    buf_release(&b);
    CHECK_STR_EQ(out, "");
    CHECK_EQ_INT(status, 0);
}

TEST(promtool_refuses_a_broken_exposition)
{
    /* The check above can fail: promtool does complain about a bad line. */
    if (access("/usr/bin/promtool", X_OK) != 0)
        return;
    FILE *p =
        popen("printf 'x{a=\"1} 2\\n' | /usr/bin/promtool check metrics >/dev/null 2>&1", "r");
    CHECK(p != NULL);
    CHECK(pclose(p) != 0);
}
