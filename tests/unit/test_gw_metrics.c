/* test_gw_metrics.c - the gateway's counters: summed over workers, kept
 * across route tables, gone with a deleted version, promtool-clean. */
#include "base/err.h"
#include "gateway/limits.h"
#include "gateway/metrics.h"
#include "gateway/routes.h"
#include "harness.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct gw_routes *table_of(bool with_v2)
{
    struct gw_routes *r = gw_routes_new();
    struct gw_instance i = {"127.0.0.1", 9000};
    gw_routes_add(r, "ms-aaaa", "ms-aaaa-1", 1, 0, &i, 1);
    if (with_v2)
        gw_routes_add(r, "ms-aaaa", "ms-aaaa-2", 1, 0, &i, 1);
    return r;
}

static struct gw_version *version(struct gw_table *t, const char *id)
{
    struct gw_routes *r = gw_table_acquire(t);
    struct gw_version *v;
    gw_routes_find(r, str_from(id), &v);
    gw_routes_release(r); /* the table keeps it */
    return v;
}

static void scrape(struct gw_table *t, struct gw_mset *unrouted, struct buf *out)
{
    buf_reset(out);
    gw_metrics_write(out, t, unrouted);
}

TEST(counts_sum_over_workers_and_survive_a_new_table)
{
    gw_metrics_set_workers(4);
    struct gw_table t;
    gw_table_init(&t);
    gw_table_publish(&t, table_of(true));
    struct gw_mset *unrouted = gw_mset_new();
    struct buf b;
    buf_init(&b, 1 << 20);

    struct gw_version *v1 = version(&t, "ms-aaaa-1");
    for (unsigned w = 0; w < 4; w++) {
        struct gw_mreq r;
        gw_mreq_begin(&r, v1->state->metrics, w, gw_now_ns());
        r.status = 200;
        gw_mreq_end(&r);
    }
    struct gw_mreq slow;
    gw_mreq_begin(&slow, v1->state->metrics, 2, gw_now_ns()); /* still in flight */
    struct gw_mreq failed;
    gw_mreq_begin(&failed, v1->state->metrics, 1, gw_now_ns());
    gw_mreq_failed(&failed, ERR_AGAIN);
    gw_mreq_end(&failed);
    struct gw_mreq gone;
    gw_mreq_begin(&gone, v1->state->metrics, 3, gw_now_ns());
    gw_mreq_end(&gone); /* the client went away */
    struct gw_routes *r = gw_table_acquire(&t);
    gw_metrics_refused(&r->groups[0], NULL, 0, 401);
    gw_metrics_refused(&r->groups[0], v1, 1, 429);
    gw_routes_release(r);
    gw_metrics_answer(unrouted, 3, 404);
    gw_metrics_answer(unrouted, 9, 404); /* no such worker: not counted */

    /* A new table (the reconciler publishes every tick) keeps the counts. */
    gw_table_publish(&t, table_of(true));
    scrape(&t, unrouted, &b);
    const char *want[] = {
        "berth_gateway_requests_total{group=\"\",version=\"\",code=\"404\"} 1\n",
        "berth_gateway_requests_total{group=\"ms-aaaa\",version=\"\",code=\"401\"} 1\n",
        "berth_gateway_requests_total{group=\"ms-aaaa\",version=\"ms-aaaa-1\",code=\"200\"} 4\n",
        "berth_gateway_requests_total{group=\"ms-aaaa\",version=\"ms-aaaa-1\",code=\"429\"} 1\n",
        "berth_gateway_requests_total{group=\"ms-aaaa\",version=\"ms-aaaa-1\",code=\"499\"} 1\n",
        "berth_gateway_requests_total{group=\"ms-aaaa\",version=\"ms-aaaa-1\",code=\"504\"} 1\n",
        "berth_gateway_requests_total{group=\"ms-aaaa\",version=\"ms-aaaa-2\",code=\"200\"} 0\n",
        "berth_gateway_requests_in_flight{group=\"ms-aaaa\",version=\"ms-aaaa-1\"} 1\n",
        "berth_gateway_upstream_errors_total{group=\"ms-aaaa\",version=\"ms-aaaa-1\",reason="
        "\"timeout\"} 1\n",
        "berth_gateway_upstream_seconds_count{group=\"ms-aaaa\",version=\"ms-aaaa-1\"} 6\n",
        "berth_gateway_overhead_seconds_bucket{group=\"ms-aaaa\",version=\"ms-aaaa-1\",le=\"+Inf\"}"
        " "
        "6\n",
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        if (!strstr(b.ptr, want[i])) {
            fprintf(stderr, "# missing: %s# in:\n%s", want[i], b.ptr);
            CHECK(0);
        }
    slow.status = 200;
    gw_mreq_end(&slow);

    /* Version 2 deleted: its series go. */
    gw_table_publish(&t, table_of(false));
    scrape(&t, unrouted, &b);
    CHECK(strstr(b.ptr, "ms-aaaa-2") == NULL);
    CHECK(strstr(b.ptr, "version=\"ms-aaaa-1\",code=\"200\"} 5\n") != NULL);

    if (access("/usr/bin/promtool", X_OK) == 0) {
        char path[] = "/tmp/test_gw_metrics_XXXXXX";
        int fd = mkstemp(path);
        CHECK(fd >= 0);
        CHECK(write(fd, b.ptr, b.len) == (ssize_t)b.len);
        close(fd);
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "/usr/bin/promtool check metrics < %s", path);
        int status = system(cmd);
        unlink(path);
        CHECK_EQ_INT(status, 0);
    }
    buf_release(&b);
    gw_mset_free(unrouted);
    gw_table_release(&t);
}

TEST(load_of_a_version_for_the_autoscaler)
{
    gw_metrics_set_workers(2);
    struct gw_table t;
    gw_table_init(&t);
    gw_table_publish(&t, table_of(true));
    struct gw_version *v1 = version(&t, "ms-aaaa-1");
    struct gw_mreq a, b, c;
    gw_mreq_begin(&a, v1->state->metrics, 0, gw_now_ns());
    gw_mreq_begin(&b, v1->state->metrics, 1, gw_now_ns());
    gw_mreq_begin(&c, v1->state->metrics, 1, gw_now_ns());
    a.status = 200;
    gw_mreq_end(&a);
    struct gw_load l;
    CHECK_EQ_INT(gw_metrics_load(&t, "ms-aaaa-1", &l), 0);
    CHECK_EQ_INT((int)l.forwarded, 3);
    CHECK_EQ_INT((int)l.inflight, 2);
    CHECK_EQ_INT(gw_metrics_load(&t, "ms-aaaa-2", &l), 0);
    CHECK_EQ_INT((int)l.forwarded, 0);
    CHECK_EQ_INT(gw_metrics_load(&t, "ms-aaaa", &l), ERR_NOTFOUND); /* a group is no version */
    CHECK_EQ_INT(gw_metrics_load(&t, "ms-zzzz-1", &l), ERR_NOTFOUND);
    gw_mreq_end(&b);
    gw_mreq_end(&c);
    gw_table_publish(&t, table_of(true)); /* a new table keeps the counter */
    CHECK_EQ_INT(gw_metrics_load(&t, "ms-aaaa-1", &l), 0);
    CHECK_EQ_INT((int)l.forwarded, 3);
    CHECK_EQ_INT((int)l.inflight, 0);
    gw_table_release(&t);
}
