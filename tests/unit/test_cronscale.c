/* test_cronscale.c - the pure parts of CRON scaling: when the timer fires
 * (just past the exact second of a window's edge) and what the CronScaled
 * event says, in Shanghai and across New York's spring-forward. */
#include "harness.h"

#include "api/scaling.h"
#include "control/cronscale.h"

static const struct api_scaling_limits limits = {64, false};

static struct api_scaling *scaling(const char *text)
{
    static struct api_scaling s;
    json_t *p = json_loads(text, 0, NULL);
    struct api_call c;
    memset(&c, 0, sizeof(c));
    c.action = "CreateModelService";
    c.params = p;
    if (!p || api_scaling_read(&c, p, &limits, &s) != 0) {
        printf("# %s: %s\n", text, c.error_message);
        abort();
    }
    json_decref(p);
    return &s;
}

static struct ctl_tz *zone(const char *name)
{
    struct ctl_tz *tz = NULL;
    struct err e = {0};
    if (ctl_tz_load(name, &tz, &e) != 0) {
        printf("# cannot load %s: %s\n", name, e.msg);
        abort();
    }
    return tz;
}

static int64_t at(const struct ctl_tz *tz, int y, int mo, int d, int h, int mi)
{
    int64_t ins[2], gap = 0;
    return ctl_tz_instants(tz, y, mo, d, h, mi, ins, &gap) ? ins[0] : gap;
}

static const char *message(const struct api_scaling *s, const struct ctl_tz *tz, int64_t t,
                           long long from)
{
    static char out[512];
    struct ctl_cron_state st;
    ctl_cron_state_at(s->jobs, s->n_jobs, s->replicas, tz, t, &st);
    ctl_cronscale_message(s, tz, t, &st, from, out, sizeof(out));
    return out;
}

TEST(delay_is_just_past_the_second)
{
    const int64_t s = 1000000000;
    CHECK_EQ_INT(ctl_cronscale_delay_ms(1000, 999 * s + s / 2), 501);
    CHECK_EQ_INT(ctl_cronscale_delay_ms(1000, 999 * s + 1), 1001);
    CHECK_EQ_INT(ctl_cronscale_delay_ms(1000, 999 * s + s - 1), 2);
    /* Due or past: at once (the loop's next turn). */
    CHECK_EQ_INT(ctl_cronscale_delay_ms(1000, 1000 * s), 1);
    CHECK_EQ_INT(ctl_cronscale_delay_ms(1000, 1005 * s), 1);
    /* Far or never: look again within the recheck period (a clock step). */
    CHECK_EQ_INT(ctl_cronscale_delay_ms(CTL_CRON_NEVER, 0), CTL_CRONSCALE_RECHECK_MS);
    CHECK_EQ_INT(ctl_cronscale_delay_ms(1000 + 3600, 1000 * s), CTL_CRONSCALE_RECHECK_MS);
    CHECK_EQ_INT(ctl_cronscale_delay_ms(1029, 1000 * s), 29001);
}

TEST(message_names_the_job_its_window_and_the_change)
{
    struct ctl_tz *sh = zone("Asia/Shanghai");
    struct api_scaling *s =
        scaling("{\"ScaleMode\": \"AUTO\", \"ScaleStrategy\": \"CRON\", \"Replicas\": 1, "
                "\"CronScaleJobs\": ["
                "{\"Schedule\": \"* 9-17 * * *\", \"Name\": \"day\", \"TargetReplicas\": 5},"
                "{\"Schedule\": \"* 12 * * *\", \"TargetReplicas\": 10}]}");
    CHECK_STR_EQ(message(s, sh, at(sh, 2026, 12, 2, 9, 0), 1),
                 "CronScaleJobs[0] 'day' holds from 2026-12-02T09:00:00+08:00 until "
                 "2026-12-02T18:00:00+08:00: 1 -> 5 replicas");
    CHECK_STR_EQ(message(s, sh, at(sh, 2026, 12, 2, 12, 30), 5),
                 "CronScaleJobs[1] (* 12 * * *) holds from 2026-12-02T12:00:00+08:00 until "
                 "2026-12-02T13:00:00+08:00: 5 -> 10 replicas");
    CHECK_STR_EQ(message(s, sh, at(sh, 2026, 12, 2, 18, 0), 5),
                 "Outside every CronScaleJobs window (the next change is at "
                 "2026-12-03T09:00:00+08:00): Replicas, 5 -> 1 replicas");
    /* A new service: the count alone. */
    CHECK_STR_EQ(message(s, sh, at(sh, 2026, 12, 2, 8, 59), -1),
                 "Outside every CronScaleJobs window (the next change is at "
                 "2026-12-02T09:00:00+08:00): Replicas, 1 replica");
    ctl_tz_free(sh);
}

TEST(message_across_spring_forward)
{
    /* 02:00 EST does not happen on 8 March 2026: the window of hour 2
     * holds from the jump for an hour. */
    struct ctl_tz *ny = zone("America/New_York");
    struct api_scaling *s =
        scaling("{\"ScaleMode\": \"AUTO\", \"ScaleStrategy\": \"CRON\", \"Replicas\": 0, "
                "\"CronScaleJobs\": ["
                "{\"Schedule\": \"* 2 * * *\", \"Name\": \"two\", \"TargetReplicas\": 3}]}");
    int64_t jump = at(ny, 2026, 3, 8, 3, 0);
    CHECK_STR_EQ(message(s, ny, jump, 0),
                 "CronScaleJobs[0] 'two' holds from 2026-03-08T03:00:00-04:00 until "
                 "2026-03-08T04:00:00-04:00: 0 -> 3 replicas");
    CHECK_STR_EQ(message(s, ny, jump - 1, 3),
                 "Outside every CronScaleJobs window (the next change is at "
                 "2026-03-08T03:00:00-04:00): Replicas, 3 -> 0 replicas");
    ctl_tz_free(ny);
}
