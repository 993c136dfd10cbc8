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
    gw_routes_add(r, "ms-g", "ms-g-1", 75, a, 1);
    gw_routes_add(r, "ms-g", "ms-g-2", 25, b, 1);
    int first = 0, second = 0;
    for (int i = 0; i < 20000; i++) {
        struct gw_instance out;
        const char *sid;
        CHECK_EQ_INT(gw_routes_pick(r, STR_LIT("ms-g"), &out, &sid), 0);
        first += out.port == 1001;
        second += out.port == 2001;
    }
    CHECK_EQ_INT(first + second, 20000);
    CHECK(first > 14400 && first < 15600); /* 75% within 3 points */
    gw_routes_release(r);
}

TEST(zero_weight_gets_nothing_and_all_zero_is_even)
{
    struct gw_routes *r = gw_routes_new();
    struct gw_instance a[] = {at(1001)}, b[] = {at(2001)};
    gw_routes_add(r, "ms-g", "ms-g-1", 100, a, 1);
    gw_routes_add(r, "ms-g", "ms-g-2", 0, b, 1);
    gw_routes_add(r, "ms-h", "ms-h-1", 0, a, 1);
    gw_routes_add(r, "ms-h", "ms-h-2", 0, b, 1);
    int g2 = 0, h1 = 0;
    for (int i = 0; i < 2000; i++) {
        struct gw_instance out;
        const char *sid;
        CHECK_EQ_INT(gw_routes_pick(r, STR_LIT("ms-g"), &out, &sid), 0);
        g2 += out.port == 2001;
        CHECK_EQ_INT(gw_routes_pick(r, STR_LIT("ms-h"), &out, &sid), 0);
        h1 += out.port == 1001;
    }
    CHECK_EQ_INT(g2, 0);
    CHECK(h1 > 800 && h1 < 1200);
    gw_routes_release(r);
}

TEST(versions_without_ready_instances_are_skipped)
{
    struct gw_routes *r = gw_routes_new();
    struct gw_instance b[] = {at(2001)};
    gw_routes_add(r, "ms-g", "ms-g-1", 100, NULL, 0);
    gw_routes_add(r, "ms-g", "ms-g-2", 0, b, 1);
    struct gw_instance out;
    const char *sid;
    CHECK_EQ_INT(gw_routes_pick(r, STR_LIT("ms-g"), &out, &sid), 0);
    CHECK_STR_EQ(sid, "ms-g-2");
    CHECK_EQ_INT(gw_routes_pick(r, STR_LIT("ms-g-1"), &out, &sid), ERR_UNAVAILABLE);
    gw_routes_release(r);
}

TEST(service_ids_round_robin_and_unknown_targets)
{
    struct gw_routes *r = gw_routes_new();
    struct gw_instance a[] = {at(1001), at(1002), at(1003)};
    gw_routes_add(r, "ms-g", "ms-g-1", 100, a, 3);
    int seen[3] = {0};
    for (int i = 0; i < 9; i++) {
        struct gw_instance out;
        const char *sid;
        CHECK_EQ_INT(gw_routes_pick(r, STR_LIT("ms-g-1"), &out, &sid), 0);
        CHECK_STR_EQ(sid, "ms-g-1");
        seen[out.port - 1001]++;
    }
    CHECK_EQ_INT(seen[0], 3);
    CHECK_EQ_INT(seen[1], 3);
    CHECK_EQ_INT(seen[2], 3);
    struct gw_instance out;
    const char *sid;
    CHECK_EQ_INT(gw_routes_pick(r, STR_LIT("ms-nope"), &out, &sid), ERR_NOTFOUND);
    CHECK_EQ_INT(gw_routes_pick(r, STR_LIT("ms-g-"), &out, &sid), ERR_NOTFOUND);
    gw_routes_release(r);
}

TEST(tables_swap_while_readers_hold_the_old_one)
{
    struct gw_table t;
    gw_table_init(&t);
    struct gw_routes *first = gw_routes_new();
    struct gw_instance a[] = {at(1001)};
    gw_routes_add(first, "ms-g", "ms-g-1", 1, a, 1);
    gw_table_publish(&t, first);
    struct gw_routes *held = gw_table_acquire(&t);
    gw_table_publish(&t, gw_routes_new());
    struct gw_instance out;
    const char *sid;
    CHECK_EQ_INT(gw_routes_pick(held, STR_LIT("ms-g"), &out, &sid), 0); /* still valid */
    gw_routes_release(held);
    struct gw_routes *now = gw_table_acquire(&t);
    CHECK_EQ_INT(gw_routes_pick(now, STR_LIT("ms-g"), &out, &sid), ERR_NOTFOUND);
    gw_routes_release(now);
    gw_table_release(&t);
}
