/* test_wake.c - requests held for a version at zero: which requests wait,
 * retried as soon as a new route table is out, answered at the timeout,
 * and the bounds on the queue. */
#include "harness.h"

#include "base/err.h"
#include "gateway/routes.h"
#include "gateway/wake.h"

#include <uv.h>

static struct gw_routes *table(bool ready)
{
    struct gw_routes *r = gw_routes_new();
    struct gw_instance i = {"127.0.0.1", 9000};
    gw_routes_add(r, "ms-g", "ms-g-1", 1, 0, &i, ready ? 1 : 0);
    gw_routes_add(r, "ms-g", "ms-g-2", 0, 0, NULL, 0);
    gw_routes_wakeable(r, "ms-g-1");
    gw_routes_add(r, "ms-h", "ms-h-1", 1, 0, NULL, 0); /* not wakeable */
    return r;
}

TEST(which_requests_wait)
{
    struct gw_routes *r = table(false);
    struct gw_version *v;
    const struct gw_version *counted = NULL;
    struct gw_group *g = gw_routes_find(r, STR_LIT("ms-g"), &v);
    CHECK(g && !v);
    CHECK(gw_waker_wants(g, NULL, &counted));
    CHECK_STR_EQ(counted->service_id, "ms-g-1");
    g = gw_routes_find(r, STR_LIT("ms-g-2"), &v);
    CHECK(!gw_waker_wants(g, v, &counted)); /* HPA at zero only */
    g = gw_routes_find(r, STR_LIT("ms-h"), &v);
    CHECK(!gw_waker_wants(g, NULL, &counted));
    gw_routes_release(r);
    r = table(true); /* ready: it goes, it does not wait */
    g = gw_routes_find(r, STR_LIT("ms-g-1"), &v);
    CHECK(!gw_waker_wants(g, v, &counted));
    gw_routes_release(r);
}

struct fixture {
    struct gw_table t;
    int retried, done, expired, woken;
};

static enum gw_wait_result retry(struct gw_wait *w, void *ud)
{
    struct fixture *f = ud;
    (void)w;
    f->retried++;
    struct gw_routes *r = gw_table_acquire(&f->t);
    struct gw_pick pick;
    int rc = gw_routes_pick(r, STR_LIT("ms-g"), &pick);
    gw_routes_release(r);
    if (rc)
        return GW_WAIT_AGAIN;
    f->done++;
    return GW_WAIT_DONE;
}

static void expired(struct gw_wait *w, void *ud)
{
    (void)w;
    ((struct fixture *)ud)->expired++;
}

static void wake(const char *id, void *ud)
{
    (void)id;
    ((struct fixture *)ud)->woken++;
}

static struct gw_waker *late_waker;
static struct gw_wait late;

static void publish_ready(uv_timer_t *t)
{
    struct fixture *f = t->data;
    gw_table_publish(&f->t, table(true));
}

/* A second request while the first has been retried alone already. */
static void hold_late(uv_timer_t *t)
{
    late.bytes = 100;
    snprintf(late.service_id, sizeof(late.service_id), "ms-g-1");
    if (gw_waker_hold(late_waker, &late, 0, t->loop) != 0)
        abort();
}

TEST(held_until_ready_then_retried)
{
    struct fixture f = {0};
    gw_table_init(&f.t);
    gw_table_publish(&f.t, table(false));
    struct gw_waker *w = gw_waker_new(&(struct gw_waker_config){.num_threads = 1,
                                                                .timeout_ms = 5000,
                                                                .routes = &f.t,
                                                                .retry = retry,
                                                                .expired = expired,
                                                                .ud = &f,
                                                                .wake = wake,
                                                                .wake_ud = &f});
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct gw_wait a = {.bytes = 100}, b = {.bytes = 100};
    snprintf(a.service_id, sizeof(a.service_id), "ms-g-1");
    snprintf(b.service_id, sizeof(b.service_id), "ms-g-1");
    struct gw_routes *r = gw_table_acquire(&f.t);
    struct gw_version *v;
    gw_waker_wake(w, gw_routes_find(r, STR_LIT("ms-g"), &v), NULL);
    gw_routes_release(r);
    CHECK_EQ_INT(f.woken, 1);
    CHECK_EQ_INT(gw_waker_hold(w, &a, 0, &loop), 0);
    CHECK_EQ_INT(gw_waker_hold(w, &b, 0, &loop), 0);
    CHECK_EQ_INT((int)gw_waker_held(w, "ms-g-1"), 2);
    gw_waker_remove(w, &b);
    CHECK_EQ_INT((int)gw_waker_held(w, "ms-g-1"), 1);
    late_waker = w;
    uv_timer_t t, t2;
    uv_timer_init(&loop, &t);
    uv_timer_init(&loop, &t2);
    t.data = &f;
    uv_timer_start(&t, publish_ready, 60, 0);
    uv_timer_start(&t2, hold_late, 20, 0);
    uv_run(&loop, UV_RUN_DEFAULT); /* the waker's timer stops once the queue is empty */
    CHECK_EQ_INT(f.done, 2);
    CHECK_EQ_INT(f.expired, 0);
    CHECK(f.retried >= 3); /* a first look at the old table, then the new one */
    CHECK(f.retried <= 8); /* not a retry per tick: only a new table or every 100 ms */
    CHECK_EQ_INT((int)gw_waker_held(w, "ms-g-1"), 0);
    gw_waker_worker_stop(w, 0);
    uv_close((uv_handle_t *)&t, NULL);
    uv_close((uv_handle_t *)&t2, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(uv_loop_close(&loop), 0);
    gw_waker_free(w);
    gw_table_release(&f.t);
}

TEST(answered_at_the_timeout_and_bounded)
{
    struct fixture f = {0};
    gw_table_init(&f.t);
    gw_table_publish(&f.t, table(false));
    struct gw_waker *w = gw_waker_new(&(struct gw_waker_config){.num_threads = 1,
                                                                .timeout_ms = 40,
                                                                .routes = &f.t,
                                                                .retry = retry,
                                                                .expired = expired,
                                                                .ud = &f});
    uv_loop_t loop;
    uv_loop_init(&loop);
    static struct gw_wait many[GW_WAKE_MAX_REQUESTS + 1];
    for (int i = 0; i < GW_WAKE_MAX_REQUESTS; i++) {
        many[i].bytes = 10;
        snprintf(many[i].service_id, sizeof(many[i].service_id), "ms-g-1");
        CHECK_EQ_INT(gw_waker_hold(w, &many[i], 0, &loop), 0);
    }
    many[GW_WAKE_MAX_REQUESTS].bytes = 10;
    CHECK_EQ_INT(gw_waker_hold(w, &many[GW_WAKE_MAX_REQUESTS], 0, &loop), ERR_TOOBIG);
    gw_waker_remove(w, &many[5]); /* the client went away */
    CHECK_EQ_INT((int)gw_waker_held(w, "ms-g-1"), GW_WAKE_MAX_REQUESTS - 1);
    struct gw_wait big = {.bytes = GW_WAKE_MAX_BYTES};
    CHECK_EQ_INT(gw_waker_hold(w, &big, 0, &loop), ERR_TOOBIG);
    uint64_t t0 = uv_hrtime();
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(f.expired, GW_WAKE_MAX_REQUESTS - 1);
    CHECK_EQ_INT(f.done, 0);
    CHECK((uv_hrtime() - t0) / 1000000 >= 35);
    CHECK_EQ_INT((int)gw_waker_held(w, "ms-g-1"), 0);
    gw_waker_worker_stop(w, 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_EQ_INT(uv_loop_close(&loop), 0);
    gw_waker_free(w);
    gw_table_release(&f.t);
}
