/* test_routes.c - the gateway's choice: versions by weight, evenly when every
 * ready version weighs 0, round robin over instances, and its refusals. */
#include "harness.h"

#include "gateway/routes.h"

static struct gw_instance at(int port)
{
    struct gw_instance i = {.host = "127.0.0.1", .port = port};
    return i;
}

TEST(weights_split_traffic)
{
    struct gw_routes *r = gw_routes_new();
    struct gw_instance a[] = {at(1001)}, b[] = {at(2001)};
    gw_routes_add(r, "ms-g", "ms-g-1", 75, 0, a, 1);
    gw_routes_add(r, "ms-g", "ms-g-2", 25, 0, b, 1);
    int first = 0, second = 0;
    for (int i = 0; i < 20000; i++) {
        struct gw_pick out;
        CHECK_EQ_INT(gw_routes_pick(r, STR_LIT("ms-g"), &out), 0);
        first += out.inst.port == 1001;
        second += out.inst.port == 2001;
    }
    CHECK_EQ_INT(first + second, 20000);
    CHECK(first > 14400 && first < 15600); /* 75% within 3 points */
    gw_routes_release(r);
}

TEST(weights_interleave_exactly)
{
    /* Smooth round robin: in every run of a period each version has its
     * exact share, not only on average (75:25 is a period of 4). */
    struct gw_routes *r = gw_routes_new();
    struct gw_instance a[] = {at(1001)}, b[] = {at(2001)}, c[] = {at(3001)};
    gw_routes_add(r, "ms-g", "ms-g-1", 75, 0, a, 1);
    gw_routes_add(r, "ms-g", "ms-g-2", 25, 0, b, 1);
    gw_routes_add(r, "ms-h", "ms-h-1", 2, 0, a, 1);
    gw_routes_add(r, "ms-h", "ms-h-2", 3, 0, b, 1);
    gw_routes_add(r, "ms-h", "ms-h-3", 5, 0, c, 1);
    int g[64], h[100];
    for (int i = 0; i < 64; i++) {
        struct gw_pick out;
        CHECK_EQ_INT(gw_routes_pick(r, STR_LIT("ms-g"), &out), 0);
        g[i] = out.inst.port;
    }
    for (int i = 0; i + 4 <= 64; i++) {
        int first = 0;
        for (int k = i; k < i + 4; k++)
            first += g[k] == 1001;
        CHECK_EQ_INT(first, 3);
    }
    for (int i = 0; i < 100; i++) {
        struct gw_pick out;
        CHECK_EQ_INT(gw_routes_pick(r, STR_LIT("ms-h"), &out), 0);
        h[i] = out.inst.port;
    }
    for (int i = 0; i + 10 <= 100; i++) {
        int n1 = 0, n2 = 0, n3 = 0;
        for (int k = i; k < i + 10; k++)
            n1 += h[k] == 1001, n2 += h[k] == 2001, n3 += h[k] == 3001;
        CHECK(n1 == 2 && n2 == 3 && n3 == 5);
    }
    gw_routes_release(r);
}

TEST(weights_beyond_a_short_period_are_drawn_by_lot)
{
    /* 4,999:5,001 has a period of 10,000, too long to keep: the lot still
     * gives each version its share, roughly. */
    struct gw_routes *r = gw_routes_new();
    struct gw_instance a[] = {at(1001)}, b[] = {at(2001)};
    gw_routes_add(r, "ms-g", "ms-g-1", 4999, 0, a, 1);
    gw_routes_add(r, "ms-g", "ms-g-2", 5001, 0, b, 1);
    int second = 0;
    for (int i = 0; i < 20000; i++) {
        struct gw_pick out;
        CHECK_EQ_INT(gw_routes_pick(r, STR_LIT("ms-g"), &out), 0);
        second += out.inst.port == 2001;
    }
    CHECK(second > 9400 && second < 10600);
    gw_routes_release(r);
}

TEST(zero_weight_gets_nothing_and_all_zero_is_even)
{
    struct gw_routes *r = gw_routes_new();
    struct gw_instance a[] = {at(1001)}, b[] = {at(2001)};
    gw_routes_add(r, "ms-g", "ms-g-1", 100, 0, a, 1);
    gw_routes_add(r, "ms-g", "ms-g-2", 0, 0, b, 1);
    gw_routes_add(r, "ms-h", "ms-h-1", 0, 0, a, 1);
    gw_routes_add(r, "ms-h", "ms-h-2", 0, 0, b, 1);
    int g2 = 0, h1 = 0;
    for (int i = 0; i < 2000; i++) {
        struct gw_pick out;
        CHECK_EQ_INT(gw_routes_pick(r, STR_LIT("ms-g"), &out), 0);
        g2 += out.inst.port == 2001;
        CHECK_EQ_INT(gw_routes_pick(r, STR_LIT("ms-h"), &out), 0);
        h1 += out.inst.port == 1001;
    }
    CHECK_EQ_INT(g2, 0);
    CHECK(h1 > 800 && h1 < 1200);
    gw_routes_release(r);
}

TEST(versions_without_ready_instances_are_skipped)
{
    struct gw_routes *r = gw_routes_new();
    struct gw_instance b[] = {at(2001)};
    gw_routes_add(r, "ms-g", "ms-g-1", 100, 0, NULL, 0);
    gw_routes_add(r, "ms-g", "ms-g-2", 0, 0, b, 1);
    struct gw_pick out;
    CHECK_EQ_INT(gw_routes_pick(r, STR_LIT("ms-g"), &out), 0);
    CHECK_STR_EQ(out.service_id, "ms-g-2");
    CHECK_EQ_INT(gw_routes_pick(r, STR_LIT("ms-g-1"), &out), ERR_UNAVAILABLE);
    gw_routes_release(r);
}

/* A version its CronScaleJobs hold at 0 is told apart, for the 503's reason. */
TEST(versions_scaled_to_zero_by_schedule)
{
    struct gw_routes *r = gw_routes_new();
    gw_routes_add(r, "ms-g", "ms-g-1", 100, 0, NULL, 0);
    gw_routes_add(r, "ms-g", "ms-g-2", 100, 0, NULL, 0);
    gw_routes_add(r, "ms-h", "ms-h-1", 100, 0, NULL, 0);
    gw_routes_scaled_to_zero(r, "ms-g-2");
    gw_routes_scaled_to_zero(r, "ms-nope"); /* unknown: nothing */
    struct gw_version *v;
    struct gw_group *g = gw_routes_find(r, STR_LIT("ms-g"), &v);
    CHECK(g && !v && gw_routes_at_zero(g, NULL));
    g = gw_routes_find(r, STR_LIT("ms-g-1"), &v);
    CHECK(g && v && !gw_routes_at_zero(g, v));
    g = gw_routes_find(r, STR_LIT("ms-g-2"), &v);
    CHECK(g && v && gw_routes_at_zero(g, v));
    g = gw_routes_find(r, STR_LIT("ms-h"), &v);
    CHECK(g && !gw_routes_at_zero(g, NULL));
    gw_routes_release(r);
}

TEST(service_ids_round_robin_and_unknown_targets)
{
    struct gw_routes *r = gw_routes_new();
    struct gw_instance a[] = {at(1001), at(1002), at(1003)};
    gw_routes_add(r, "ms-g", "ms-g-1", 100, 0, a, 3);
    int seen[3] = {0};
    for (int i = 0; i < 9; i++) {
        struct gw_pick out;
        CHECK_EQ_INT(gw_routes_pick(r, STR_LIT("ms-g-1"), &out), 0);
        CHECK_STR_EQ(out.service_id, "ms-g-1");
        seen[out.inst.port - 1001]++;
    }
    CHECK_EQ_INT(seen[0], 3);
    CHECK_EQ_INT(seen[1], 3);
    CHECK_EQ_INT(seen[2], 3);
    struct gw_pick out;
    CHECK_EQ_INT(gw_routes_pick(r, STR_LIT("ms-nope"), &out), ERR_NOTFOUND);
    CHECK_EQ_INT(gw_routes_pick(r, STR_LIT("ms-g-"), &out), ERR_NOTFOUND);
    gw_routes_release(r);
}

TEST(tables_swap_while_readers_hold_the_old_one)
{
    struct gw_table t;
    gw_table_init(&t);
    struct gw_routes *first = gw_routes_new();
    struct gw_instance a[] = {at(1001)};
    gw_routes_add(first, "ms-g", "ms-g-1", 1, 0, a, 1);
    gw_table_publish(&t, first);
    struct gw_routes *held = gw_table_acquire(&t);
    gw_table_publish(&t, gw_routes_new());
    struct gw_pick out;
    CHECK_EQ_INT(gw_routes_pick(held, STR_LIT("ms-g"), &out), 0); /* still valid */
    gw_routes_release(held);
    struct gw_routes *now = gw_table_acquire(&t);
    CHECK_EQ_INT(gw_routes_pick(now, STR_LIT("ms-g"), &out), ERR_NOTFOUND);
    gw_routes_release(now);
    gw_table_release(&t);
}

/* Passive health: an ejected instance gets nothing while another is ready,
 * the ejection survives a republished table, and a passed probe ends it. */
TEST(ejected_instances_are_passed_over_until_their_probe_passes)
{
    struct gw_table t;
    gw_table_init(&t);
    struct gw_routes *r = gw_routes_new();
    struct gw_instance a[] = {at(1001), at(1002)};
    gw_routes_add(r, "ms-g", "ms-g-1", 100, 5000, a, 2);
    gw_table_publish(&t, r);
    struct gw_routes *now = gw_table_acquire(&t);
    struct gw_instance dead = at(1001);
    CHECK(gw_routes_eject(now, &dead));
    CHECK(!gw_routes_eject(now, &dead)); /* once */
    struct gw_pick out;
    for (int i = 0; i < 10; i++) {
        CHECK_EQ_INT(gw_routes_pick(now, STR_LIT("ms-g"), &out), 0);
        CHECK_EQ_INT(out.inst.port, 1002);
        CHECK_EQ_INT((int)out.timeout_ms, 5000);
        CHECK_EQ_INT(gw_routes_pick(now, STR_LIT("ms-g-1"), &out), 0);
        CHECK_EQ_INT(out.inst.port, 1002);
    }
    gw_routes_release(now);

    /* The reconciler publishes again for its own reasons: still ejected. */
    struct gw_routes *again = gw_routes_new();
    gw_routes_add(again, "ms-g", "ms-g-1", 100, 0, a, 2);
    gw_table_publish(&t, again);
    now = gw_table_acquire(&t);
    for (int i = 0; i < 10; i++) {
        CHECK_EQ_INT(gw_routes_pick(now, STR_LIT("ms-g"), &out), 0);
        CHECK_EQ_INT(out.inst.port, 1002);
    }
    gw_table_probe_passed(&t, "127.0.0.1", 1001);
    int back = 0;
    for (int i = 0; i < 10; i++) {
        CHECK_EQ_INT(gw_routes_pick(now, STR_LIT("ms-g"), &out), 0);
        back += out.inst.port == 1001;
    }
    CHECK_EQ_INT(back, 5);
    gw_routes_release(now);
    gw_table_release(&t);
}

TEST(all_ejected_still_answers_and_a_new_instance_starts_healthy)
{
    struct gw_table t;
    gw_table_init(&t);
    struct gw_routes *r = gw_routes_new();
    struct gw_instance a[] = {at(1001)}, b[] = {at(2001)};
    gw_routes_add(r, "ms-g", "ms-g-1", 50, 0, a, 1);
    gw_routes_add(r, "ms-g", "ms-g-2", 50, 0, b, 1);
    gw_table_publish(&t, r);
    struct gw_routes *now = gw_table_acquire(&t);
    CHECK(gw_routes_eject(now, &a[0]));
    struct gw_pick out;
    /* The version whose only instance is ejected gets no traffic... */
    for (int i = 0; i < 20; i++) {
        CHECK_EQ_INT(gw_routes_pick(now, STR_LIT("ms-g"), &out), 0);
        CHECK_STR_EQ(out.service_id, "ms-g-2");
    }
    /* ...unless asked for by id, or when nothing healthy is left: a guess. */
    CHECK_EQ_INT(gw_routes_pick(now, STR_LIT("ms-g-1"), &out), 0);
    CHECK_EQ_INT(out.inst.port, 1001);
    CHECK(gw_routes_eject(now, &b[0]));
    CHECK_EQ_INT(gw_routes_pick(now, STR_LIT("ms-g"), &out), 0);
    gw_routes_release(now);

    /* ms-g-1 restarted on another port: not ejected. */
    struct gw_routes *next = gw_routes_new();
    struct gw_instance a2[] = {at(1005)};
    gw_routes_add(next, "ms-g", "ms-g-1", 50, 0, a2, 1);
    gw_routes_add(next, "ms-g", "ms-g-2", 50, 0, b, 1);
    gw_table_publish(&t, next);
    now = gw_table_acquire(&t);
    for (int i = 0; i < 20; i++) {
        CHECK_EQ_INT(gw_routes_pick(now, STR_LIT("ms-g"), &out), 0);
        CHECK_EQ_INT(out.inst.port, 1005);
    }
    gw_routes_release(now);
    gw_table_release(&t);
}

TEST(pick_other_never_returns_the_failed_instance)
{
    struct gw_routes *r = gw_routes_new();
    struct gw_instance a[] = {at(1001), at(1002), at(1003)};
    gw_routes_add(r, "ms-g", "ms-g-1", 100, 0, a, 3);
    gw_routes_add(r, "ms-g", "ms-g-2", 100, 0, a, 1);
    struct gw_pick out;
    CHECK(gw_routes_eject(r, &a[1]));
    for (int i = 0; i < 12; i++) {
        CHECK_EQ_INT(gw_routes_pick_other(r, "ms-g-1", &a[0], &out), 0);
        CHECK_EQ_INT(out.inst.port, 1003); /* not the failed one, not the ejected one */
        CHECK_STR_EQ(out.service_id, "ms-g-1");
    }
    CHECK_EQ_INT(gw_routes_pick_other(r, "ms-g-2", &a[0], &out), ERR_UNAVAILABLE);
    CHECK_EQ_INT(gw_routes_pick_other(r, "ms-nope", &a[0], &out), ERR_UNAVAILABLE);
    gw_routes_release(r);
}

/* ---- call authentication and limits ------------------------------------ */

static struct gw_routes *limited_table(size_t nready, unsigned rps, unsigned inflight)
{
    struct gw_instance inst[4] = {
        {"127.0.0.1", 9001}, {"127.0.0.1", 9002}, {"127.0.0.1", 9003}, {"127.0.0.1", 9004}};
    struct gw_routes *r = gw_routes_new();
    gw_routes_add(r, "ms-g", "ms-g-1", 100, 0, inst, nready);
    gw_routes_limit(r, "ms-g-1", rps, inflight);
    gw_routes_group(r, "ms-g", true, "APIDx", "secret", 500);
    uint8_t h[32] = {7};
    gw_routes_token(r, "ms-g", h, "tok-a", 3, 0);
    h[0] = 1;
    gw_routes_token(r, "ms-g", h, "tok-b", 0, 0);
    return r;
}

/* InstanceRpsLimit x ready instances, and the state survives a new table. */
TEST(rate_limit_follows_replicas_across_tables)
{
    struct gw_table t;
    gw_table_init(&t);
    gw_table_publish(&t, limited_table(2, 20, 0));
    uint64_t t0 = 1000000000000ull, ms = 1000000ull;
    int ok = 0;
    for (uint64_t at = 0; at < 2000 * ms; at += 10 * ms) {
        struct gw_routes *r = gw_table_acquire(&t);
        struct gw_version *v;
        struct gw_group *g = gw_routes_find(r, STR_LIT("ms-g"), &v);
        struct gw_pick p;
        CHECK_EQ_INT(gw_routes_pick_in(g, v, &p), 0);
        struct gw_admission a;
        gw_admit(g, p.version, NULL, t0 + at, &a);
        if (a.status == 0) {
            ok++;
            gw_admit_done(a.held);
        } else {
            CHECK_EQ_INT(a.status, 429);
            CHECK(a.retry_s >= 1);
            CHECK(strstr(a.reason, "20 requests per second per instance") != NULL);
        }
        gw_routes_release(r);
        if (at == 1000 * ms) /* a third replica: 60/s from now on */
            gw_table_publish(&t, limited_table(3, 20, 0));
    }
    CHECK(ok >= 40 + 60 && ok <= 40 + 60 + 3);
    gw_table_release(&t);
}

TEST(concurrency_limit_and_token_quota)
{
    struct gw_table t;
    gw_table_init(&t);
    gw_table_publish(&t, limited_table(2, 0, 2));
    struct gw_routes *r = gw_table_acquire(&t);
    struct gw_version *v;
    struct gw_group *g = gw_routes_find(r, STR_LIT("ms-g-1"), &v);
    CHECK(g != NULL && v != NULL);
    /* the tokens are sorted by hash and carry their quotas */
    CHECK_EQ_INT(g->ntokens, 2);
    CHECK_EQ_INT(g->tokens[0].hash[0], 1);
    CHECK_STR_EQ(g->tokens[1].id, "tok-a");
    const struct gw_token *a = &g->tokens[1];
    struct gw_admission held[5];
    for (int i = 0; i < 4; i++) {
        gw_admit(g, v, NULL, 1, &held[i]);
        CHECK_EQ_INT(held[i].status, 0);
    }
    gw_admit(g, v, NULL, 1, &held[4]);
    CHECK_EQ_INT(held[4].status, 429);
    CHECK(strstr(held[4].reason, "in flight") != NULL);
    for (int i = 0; i < 4; i++)
        gw_admit_done(held[i].held);
    /* 3 per minute for tok-a: the 4th waits, and nothing stays in flight */
    for (int i = 0; i < 3; i++) {
        gw_admit(g, v, a, 2, &held[0]);
        CHECK_EQ_INT(held[0].status, 0);
        gw_admit_done(held[0].held);
    }
    gw_admit(g, v, a, 2, &held[0]);
    CHECK_EQ_INT(held[0].status, 429);
    CHECK_EQ_INT(held[0].retry_s, 60);
    CHECK_EQ_INT(atomic_load(&v->state->inflight.n), 0);
    gw_routes_release(r);
    /* a new table keeps the token's window */
    gw_table_publish(&t, limited_table(2, 0, 2));
    r = gw_table_acquire(&t);
    g = gw_routes_find(r, STR_LIT("ms-g"), &v);
    gw_admit(g, &g->versions[0], &g->tokens[1], 3, &held[0]);
    CHECK_EQ_INT(held[0].status, 429);
    gw_routes_release(r);
    gw_table_release(&t);
}
