/* test_gw_limits.c - the gateway's GCRA rates, in-flight counts and exact
 * quota windows, on simulated time. */
#include "harness.h"

#include "gateway/limits.h"

#include <pthread.h>

#define SEC 1000000000ull
#define MS 1000000ull

/* Offered 100/s for 5 s at a limit of 40/s: 200 let through, and the burst
 * (4 at this rate) at most on top. */
TEST(rate_holds_its_rate_over_seconds)
{
    struct gw_rate r = {0};
    uint64_t t0 = 1000 * SEC;
    int ok = 0;
    for (uint64_t t = 0; t < 5 * SEC; t += 10 * MS)
        ok += gw_rate_take(&r, 40, t0 + t) == 0;
    CHECK(ok >= 200 && ok <= 204);
    /* at 1000/s for 1 s with a limit of 500: 500 and a burst of 50 */
    struct gw_rate q = {0};
    ok = 0;
    for (uint64_t t = 0; t < SEC; t += MS)
        ok += gw_rate_take(&q, 500, t0 + t) == 0;
    CHECK(ok >= 500 && ok <= 551);
}

TEST(rate_burst_then_wait)
{
    struct gw_rate r = {0};
    uint64_t now = 50 * SEC;
    for (int i = 0; i < 4; i++) /* a burst of 4 */
        CHECK_EQ_INT(gw_rate_take(&r, 10, now), 0);
    uint64_t wait = gw_rate_take(&r, 10, now);
    CHECK(wait > 0 && wait <= 100 * MS);
    CHECK(gw_rate_take(&r, 10, now + wait - 1) > 0);
    CHECK_EQ_INT(gw_rate_take(&r, 10, now + wait), 0);
}

/* Replicas 2 -> 3: the rate follows at once, the state stays. */
TEST(rate_change_applies_at_once)
{
    struct gw_rate r = {0};
    uint64_t t0 = 7 * SEC;
    int a = 0, b = 0;
    for (uint64_t t = 0; t < 2 * SEC; t += 5 * MS)
        a += gw_rate_take(&r, 40, t0 + t) == 0;
    for (uint64_t t = 2 * SEC; t < 4 * SEC; t += 5 * MS)
        b += gw_rate_take(&r, 60, t0 + t) == 0;
    CHECK(a >= 80 && a <= 84);
    CHECK(b >= 119 && b <= 122);
}

struct racer {
    struct gw_rate *r;
    struct gw_inflight *f;
    int ok, entered;
};

static void *race(void *arg)
{
    struct racer *x = arg;
    for (int i = 0; i < 100000; i++)
        x->ok += gw_rate_take(x->r, 1000, 3 * SEC) == 0; /* all at one instant */
    for (int i = 0; i < 100000; i++)
        if (gw_inflight_enter(x->f, 4)) {
            x->entered++;
            gw_inflight_leave(x->f);
        }
    return NULL;
}

/* Threads at one instant share one burst: 100 at 1000/s. */
TEST(rate_and_inflight_are_shared_by_threads)
{
    struct gw_rate r = {0};
    struct gw_inflight f = {0};
    struct racer x[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        x[i] = (struct racer){&r, &f, 0, 0};
        pthread_create(&th[i], NULL, race, &x[i]);
    }
    int ok = 0, entered = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        ok += x[i].ok;
        entered += x[i].entered;
    }
    CHECK_EQ_INT(ok, 100);
    CHECK(entered > 0);
    CHECK_EQ_INT(atomic_load(&f.n), 0);
}

TEST(inflight_caps)
{
    struct gw_inflight f = {0};
    CHECK(gw_inflight_enter(&f, 2));
    CHECK(gw_inflight_enter(&f, 2));
    CHECK(!gw_inflight_enter(&f, 2));
    gw_inflight_leave(&f);
    CHECK(gw_inflight_enter(&f, 2));
    CHECK(!gw_inflight_enter(&f, 0));
}

/* A PerMinute quota of 30 lets exactly 30 through in any minute. */
TEST(window_is_exact_over_any_window)
{
    struct gw_window w;
    gw_window_init(&w);
    uint64_t t0 = 100 * SEC, span = 60 * SEC;
    int ok = 0;
    for (int i = 0; i < 100; i++)
        ok += gw_window_take(&w, 30, span, t0) == 0;
    CHECK_EQ_INT(ok, 30);
    uint64_t wait = gw_window_take(&w, 30, span, t0 + 59 * SEC);
    CHECK_EQ_INT(wait, SEC);
    CHECK_EQ_INT(gw_window_take(&w, 30, span, t0 + span), 0);
    gw_window_release(&w);

    /* random arrivals: every accepted request sees at most 30 in the minute
     * up to it, and a steady 1/s offer is never refused */
    gw_window_init(&w);
    uint64_t seed = 12345, t = t0, accepted[4096];
    size_t na = 0;
    for (int i = 0; i < 4000 && na < 4096; i++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        t += (seed >> 33) % (4 * SEC);
        if (gw_window_take(&w, 30, span, t) == 0) {
            accepted[na++] = t;
            size_t in = 0;
            for (size_t k = 0; k < na; k++)
                in += t - accepted[k] < span;
            CHECK(in <= 30);
        }
    }
    CHECK(na > 900);
    gw_window_release(&w);
}

TEST(window_lowered_quota_waits_for_the_oldest)
{
    struct gw_window w;
    gw_window_init(&w);
    uint64_t t0 = 5 * SEC;
    for (int i = 0; i < 10; i++)
        CHECK_EQ_INT(gw_window_take(&w, 10, 60 * SEC, t0 + (uint64_t)i * SEC), 0);
    /* now 5 per minute: the 6th oldest (at t0 + 5 s) must leave first */
    uint64_t wait = gw_window_take(&w, 5, 60 * SEC, t0 + 20 * SEC);
    CHECK_EQ_INT(wait, 45 * SEC);
    gw_window_release(&w);
}

/* A quota past GW_WINDOW_EXACT_MAX counts in buckets: never more than Max in
 * any window of the span, a bounded few later than exact, and 8 KiB. */
TEST(window_large_quota_counts_in_buckets)
{
    struct gw_window w;
    gw_window_init(&w);
    uint64_t span = 60 * SEC, max = 10000, t0 = 3600 * SEC;
    int ok = 0;
    for (int i = 0; i < 12000; i++)
        ok += gw_window_take(&w, max, span, t0) == 0;
    CHECK_EQ_INT(ok, 10000);
    CHECK(w.times == NULL);
    /* still closed just before a whole span has passed, open after it and one bucket */
    uint64_t wait = gw_window_take(&w, max, span, t0 + 59 * SEC);
    CHECK(wait > SEC && wait <= SEC + span / 1024 + 1);
    CHECK_EQ_INT(gw_window_take(&w, max, span, t0 + span + span / 1024 + 1), 0);
    gw_window_release(&w);

    /* random arrivals at about 3x the quota: no 60 s window ever holds more than Max */
    gw_window_init(&w);
    uint64_t seed = 99, t = t0;
    static uint64_t accepted[40000];
    size_t na = 0, lo = 0;
    for (int i = 0; i < 120000 && na < 40000; i++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        t += (seed >> 33) % (4 * MS);
        if (gw_window_take(&w, max, span, t) == 0) {
            accepted[na++] = t;
            while (t - accepted[lo] >= span)
                lo++;
            CHECK(na - lo <= max);
        }
    }
    CHECK(na > 20000);
    gw_window_release(&w);

    /* raised from an exact quota: what was let through counts on */
    gw_window_init(&w);
    for (int i = 0; i < 3000; i++)
        CHECK_EQ_INT(gw_window_take(&w, 3000, span, t0), 0);
    ok = 0;
    for (int i = 0; i < 6000; i++)
        ok += gw_window_take(&w, 5000, span, t0 + SEC) == 0;
    CHECK_EQ_INT(ok, 2000);
    gw_window_release(&w);
}
