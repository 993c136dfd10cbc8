/* test_cron.c - cron expressions, time zones from tzdata and CronScaleJob
 * windows, in real zones across their DST changes (New York, Berlin) and in
 * Shanghai, where TI-ONE's users are. Times are written and compared as the
 * zone's own RFC 3339, as a user would read them. */
#include "harness.h"

#include "control/cron.h"

#include <pthread.h>
#include <time.h>

static struct ctl_tz *ny, *berlin, *shanghai, *lord_howe;

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

__attribute__((constructor)) static void load_zones(void)
{
    ny = zone("America/New_York");
    berlin = zone("Europe/Berlin");
    shanghai = zone("Asia/Shanghai");
    lord_howe = zone("Australia/Lord_Howe"); /* DST of 30 minutes, in the south */
}

/* "YYYY-MM-DD HH:MM" on the zone's clock: its first reading (the jump for a
 * skipped time); with " 2nd" after it, the second reading of a repeated time. */
static int64_t at(const struct ctl_tz *tz, const char *s)
{
    int y, mo, d, h, mi;
    if (sscanf(s, "%d-%d-%d %d:%d", &y, &mo, &d, &h, &mi) != 5)
        abort();
    int64_t ins[2], gap = 0;
    int n = ctl_tz_instants(tz, y, mo, d, h, mi, ins, &gap);
    if (strstr(s, " 2nd"))
        return n == 2 ? ins[1] : -1;
    return n == 0 ? gap : ins[0];
}

static const char *fmt(const struct ctl_tz *tz, int64_t t)
{
    static char ring[8][32];
    static int k;
    char *b = ring[k++ % 8];
    if (t == CTL_CRON_NEVER)
        return "never";
    if (t == CTL_CRON_LONG_AGO)
        return "long ago";
    ctl_tz_format(tz, t, b);
    return b;
}

static struct ctl_cron cron(const char *expr)
{
    struct ctl_cron c;
    struct err e = {0};
    if (ctl_cron_parse(expr, &c, &e) != 0) {
        printf("# '%s': %s\n", expr, e.msg);
        abort();
    }
    return c;
}

static struct ctl_cron_job job(const char *schedule, long long target, const char *exclude)
{
    struct ctl_cron_job j;
    memset(&j, 0, sizeof(j));
    snprintf(j.name, sizeof(j.name), "%s", schedule);
    j.schedule = cron(schedule);
    if (exclude)
        j.exclude[j.n_exclude++] = cron(exclude);
    j.target_replicas = j.min_replicas = j.max_replicas = target;
    return j;
}

static const char *parse_error(const char *expr)
{
    static char msg[256];
    struct ctl_cron c;
    struct err e = {0};
    if (ctl_cron_parse(expr, &c, &e) == 0)
        return "(accepted)";
    snprintf(msg, sizeof(msg), "%s", e.msg);
    return msg;
}

/* ------------------------------------------------------------------------ */
/* Zones                                                                    */

/* The offsets read from the TZif files agree with the C library's, from
 * 1970 to 2100 (past the 2037 end of the transition tables, where the
 * footer's rule takes over), in zones with odd rules: southern DST
 * (Sydney), half-hour DST (Lord Howe), negative DST (Dublin), DST abolished
 * (Sao Paulo), a skipped day (Apia), a half-hour offset (Kolkata). */
TEST(tz_offsets_agree_with_the_c_library)
{
    static const char *const zones[] = {
        "America/New_York",    "Europe/Berlin", "Asia/Shanghai",       "Australia/Sydney",
        "Australia/Lord_Howe", "Europe/Dublin", "America/Sao_Paulo",   "Pacific/Apia",
        "Asia/Kolkata",        "UTC",           "America/Los_Angeles", NULL};
    for (const char *const *z = zones; *z; z++) {
        struct ctl_tz *tz = zone(*z);
        setenv("TZ", *z, 1);
        tzset();
        int bad = 0;
        for (int64_t t = 0; t < 4102444800LL && bad < 3; t += 86400 + 37 * 60 + 11) {
            time_t tt = (time_t)t;
            struct tm tm;
            localtime_r(&tt, &tm);
            if (tm.tm_gmtoff != ctl_tz_offset(tz, t)) {
                printf("# %s at %lld: libc %ld, ours %d\n", *z, (long long)t, tm.tm_gmtoff,
                       ctl_tz_offset(tz, t));
                bad++;
            }
        }
        ctl_tz_free(tz);
        CHECK_EQ_INT(bad, 0);
    }
    unsetenv("TZ");
    tzset();
}

TEST(tz_reads_the_clock_around_dst_changes)
{
    /* New York springs forward at 02:00 on 8 March 2026 and falls back at 02:00 on 1 Nov */
    CHECK_STR_EQ(fmt(ny, at(ny, "2026-03-08 01:59")), "2026-03-08T01:59:00-05:00");
    CHECK_STR_EQ(fmt(ny, at(ny, "2026-03-08 01:59") + 60), "2026-03-08T03:00:00-04:00");
    CHECK_STR_EQ(fmt(ny, at(ny, "2026-11-01 01:30")), "2026-11-01T01:30:00-04:00");
    CHECK_STR_EQ(fmt(ny, at(ny, "2026-11-01 01:30 2nd")), "2026-11-01T01:30:00-05:00");
    CHECK_EQ_INT(at(ny, "2026-11-01 01:30 2nd") - at(ny, "2026-11-01 01:30"), 3600);
    /* a skipped time has no reading; its "first reading" is the jump */
    int64_t ins[2], gap = 0;
    CHECK_EQ_INT(ctl_tz_instants(ny, 2026, 3, 8, 2, 30, ins, &gap), 0);
    CHECK_STR_EQ(fmt(ny, gap), "2026-03-08T03:00:00-04:00");
    CHECK_EQ_INT(ctl_tz_instants(ny, 2026, 11, 1, 1, 30, ins, &gap), 2);
    CHECK_EQ_INT(ctl_tz_instants(ny, 2026, 7, 1, 12, 0, ins, &gap), 1);
    /* Berlin: 02:00 -> 03:00 on 29 March, 03:00 -> 02:00 on 25 October */
    CHECK_EQ_INT(ctl_tz_instants(berlin, 2026, 3, 29, 2, 15, ins, &gap), 0);
    CHECK_STR_EQ(fmt(berlin, gap), "2026-03-29T03:00:00+02:00");
    CHECK_EQ_INT(ctl_tz_instants(berlin, 2026, 10, 25, 2, 15, ins, &gap), 2);
    CHECK_STR_EQ(fmt(berlin, ins[0]), "2026-10-25T02:15:00+02:00");
    CHECK_STR_EQ(fmt(berlin, ins[1]), "2026-10-25T02:15:00+01:00");
    /* Shanghai keeps +08:00 all year */
    CHECK_STR_EQ(fmt(shanghai, at(shanghai, "2026-03-08 02:30")), "2026-03-08T02:30:00+08:00");
    CHECK_STR_EQ(fmt(shanghai, at(shanghai, "2026-11-01 01:30")), "2026-11-01T01:30:00+08:00");
    /* 2040 is past the transition table: the footer's rule (second Sunday of March) */
    CHECK_EQ_INT(ctl_tz_instants(ny, 2040, 3, 11, 2, 30, ins, &gap), 0);
    CHECK_STR_EQ(fmt(ny, gap), "2040-03-11T03:00:00-04:00");
}

TEST(tz_load_refuses_bad_names_and_leaves_TZ_alone)
{
    struct ctl_tz *tz = NULL;
    struct err e = {0};
    setenv("TZ", "Europe/Berlin", 1);
    CHECK_EQ_INT(ctl_tz_load("../../etc/passwd", &tz, &e), ERR_INVALID);
    CHECK(strstr(e.msg, "'../../etc/passwd' is not a zone name") != NULL);
    CHECK_EQ_INT(ctl_tz_load("/etc/localtime", &tz, &e), ERR_INVALID);
    CHECK_EQ_INT(ctl_tz_load("Mars/Olympus_Mons", &tz, &e), ERR_NOTFOUND);
    CHECK(strstr(e.msg, "'Mars/Olympus_Mons' is not in the zone database") != NULL);
    CHECK(tz == NULL);
    CHECK_EQ_INT(ctl_tz_load(NULL, &tz, &e), 0); /* the machine's zone */
    CHECK_STR_EQ(ctl_tz_name(tz), "localtime");
    ctl_tz_free(tz);
    CHECK_EQ_INT(ctl_tz_load("Asia/Shanghai", &tz, &e), 0);
    CHECK_STR_EQ(getenv("TZ"), "Europe/Berlin"); /* nothing global was touched */
    ctl_tz_free(tz);
    ctl_tz_free(NULL);
    unsetenv("TZ");
}

/* ------------------------------------------------------------------------ */
/* Expressions                                                              */

TEST(cron_errors_name_the_field_and_the_rule)
{
    CHECK_STR_EQ(parse_error("61 * * * *"), "minute field '61': 61 is out of range 0-59");
    CHECK_STR_EQ(parse_error("0 24 * * *"), "hour field '24': 24 is out of range 0-23");
    CHECK_STR_EQ(parse_error("0 0 0 * *"), "day-of-month field '0': 0 is out of range 1-31");
    CHECK_STR_EQ(parse_error("0 0 * 13 *"), "month field '13': 13 is out of range 1-12");
    CHECK_STR_EQ(parse_error("0 0 * * 8"), "day-of-week field '8': 8 is out of range 0-7");
    CHECK_STR_EQ(parse_error("0 0 * FOO *"),
                 "month field 'FOO': 'FOO' is not a month (JAN-DEC) name");
    CHECK_STR_EQ(parse_error("0 0 * * Funday"),
                 "day-of-week field 'Funday': 'F' is not a number or a name");
    CHECK_STR_EQ(parse_error("5-1 * * * *"), "minute field '5-1': range 5-1 runs backwards");
    CHECK_STR_EQ(parse_error("*/0 * * * *"), "minute field '*/0': step 0 is out of range 1-59");
    CHECK_STR_EQ(parse_error("*/ * * * *"), "minute field '*/': a step needs a number after '/'");
    CHECK_STR_EQ(parse_error("1,,2 * * * *"), "minute field '1,,2': a value is missing");
    CHECK_STR_EQ(parse_error("? * * * *"),
                 "minute field '?': '?' is only for day-of-month and day-of-week");
    CHECK_STR_EQ(parse_error("1x * * * *"), "minute field '1x': 'x' is not allowed here");
    CHECK_STR_EQ(parse_error("* * *"),
                 "cron expression '* * *' has 3 fields: give 5 (minute hour day-of-month month "
                 "day-of-week), or 6 with seconds first");
    CHECK(strstr(parse_error("@daily"), "macros such as @daily are not supported") != NULL);
    CHECK_STR_EQ(parse_error("30 0 12 * * *"),
                 "seconds field '30': Berth schedules to the minute, so the seconds field must "
                 "be 0 or *");
    CHECK(strstr(parse_error("0 0 30 2 *"), "never matches") != NULL);
    CHECK(strstr(parse_error("0 0 31 4,6,9,11 *"), "never matches") != NULL);
    CHECK_STR_EQ(parse_error("0 0 29 2 *"), "(accepted)"); /* leap years */
    CHECK_STR_EQ(parse_error(""), "cron expression '' has 0 fields: give 5 (minute hour "
                                  "day-of-month month day-of-week), or 6 with seconds first");
}

static bool matches(const char *expr, const struct ctl_tz *tz, const char *when)
{
    struct ctl_cron c = cron(expr);
    struct ctl_civil w;
    ctl_tz_civil(tz, at(tz, when), &w);
    return ctl_cron_match(&c, &w);
}

TEST(cron_syntax_lists_ranges_steps_names)
{
    /* 2026-12-02 is a Wednesday */
    CHECK(matches("0 30 12 * * *", shanghai, "2026-12-02 12:30")); /* TI-ONE's 6 fields */
    CHECK(matches("* 30 12 * * *", shanghai, "2026-12-02 12:30"));
    CHECK(!matches("0 30 12 * * *", shanghai, "2026-12-02 12:31"));
    CHECK(matches("0 9 * JAN-MAR,dec MON-FRI", shanghai, "2026-12-02 09:00"));
    CHECK(!matches("0 9 * JAN-MAR MON-FRI", shanghai, "2026-12-02 09:00"));
    CHECK(matches("0 9 * * wed", shanghai, "2026-12-02 09:00"));
    CHECK(matches("0 0 * * 7", shanghai, "2026-12-06 00:00")); /* Sunday as 7 */
    CHECK(matches("0 0 * * 0", shanghai, "2026-12-06 00:00")); /* and as 0 */
    CHECK(matches("0 0 * * 5-7", shanghai, "2026-12-06 00:00"));
    CHECK(matches("0 0 * * 5-7", shanghai, "2026-12-04 00:00"));
    CHECK(!matches("0 0 * * 5-7", shanghai, "2026-12-03 00:00"));
    CHECK(matches("5/15 * * * *", shanghai, "2026-12-02 10:50")); /* 5,20,35,50 */
    CHECK(!matches("5/15 * * * *", shanghai, "2026-12-02 10:55"));
    CHECK(matches("*/15 * * * *", shanghai, "2026-12-02 10:45"));
    CHECK(!matches("*/15 * * * *", shanghai, "2026-12-02 10:46"));
    CHECK(matches("1-5,10-20/5 * * * *", shanghai, "2026-12-02 10:15"));
    CHECK(!matches("1-5,10-20/5 * * * *", shanghai, "2026-12-02 10:12"));
    CHECK(matches("0 0 ? * *", shanghai, "2026-12-02 00:00"));
    CHECK(matches("  0   0  *  *  *  ", shanghai, "2026-12-02 00:00")); /* any spacing */
}

/* Both day fields restricted: either matches (Vixie cron). One starting
 * with '*' (even '*' + a step): both must. */
TEST(cron_day_fields_follow_the_vixie_rule)
{
    /* 13 November 2026 is a Friday; 13 December a Sunday; 4 December a Friday */
    CHECK(matches("0 0 13 * FRI", shanghai, "2026-12-13 00:00"));
    CHECK(matches("0 0 13 * FRI", shanghai, "2026-12-04 00:00"));
    CHECK(!matches("0 0 13 * FRI", shanghai, "2026-12-05 00:00"));
    CHECK(matches("0 0 * * FRI", shanghai, "2026-12-04 00:00"));
    CHECK(!matches("0 0 * * FRI", shanghai, "2026-12-13 00:00"));
    /* '*' + step in day-of-month: AND. The 7th is a Monday, the 14th a Monday (even) */
    CHECK(matches("0 0 */2 * MON", shanghai, "2026-12-07 00:00"));
    CHECK(!matches("0 0 */2 * MON", shanghai, "2026-12-14 00:00"));
    CHECK(!matches("0 0 */2 * MON", shanghai, "2026-12-09 00:00"));
}

TEST(cron_next_fire_in_shanghai)
{
    struct ctl_cron c = cron("30 12 * * *");
    CHECK_STR_EQ(fmt(shanghai, ctl_cron_next(&c, shanghai, at(shanghai, "2026-06-01 12:29"))),
                 "2026-06-01T12:30:00+08:00");
    /* strictly after */
    CHECK_STR_EQ(fmt(shanghai, ctl_cron_next(&c, shanghai, at(shanghai, "2026-06-01 12:30"))),
                 "2026-06-02T12:30:00+08:00");
    CHECK_STR_EQ(fmt(shanghai, ctl_cron_prev(&c, shanghai, at(shanghai, "2026-06-01 12:30"))),
                 "2026-06-01T12:30:00+08:00");
    CHECK_STR_EQ(fmt(shanghai, ctl_cron_prev(&c, shanghai, at(shanghai, "2026-06-01 12:29"))),
                 "2026-05-31T12:30:00+08:00");
    struct ctl_cron leap = cron("0 0 29 2 *");
    CHECK_STR_EQ(fmt(shanghai, ctl_cron_next(&leap, shanghai, at(shanghai, "2026-03-01 00:00"))),
                 "2028-02-29T00:00:00+08:00");
    struct ctl_cron eom = cron("0 0 31 * *");
    CHECK_STR_EQ(fmt(shanghai, ctl_cron_next(&eom, shanghai, at(shanghai, "2026-04-01 00:00"))),
                 "2026-05-31T00:00:00+08:00");
    struct ctl_cron mon = cron("0 9 * * MON");
    CHECK_STR_EQ(fmt(shanghai, ctl_cron_next(&mon, shanghai, at(shanghai, "2026-12-02 10:00"))),
                 "2026-12-07T09:00:00+08:00");
    struct ctl_cron year_end = cron("59 23 31 12 *");
    CHECK_STR_EQ(
        fmt(shanghai, ctl_cron_next(&year_end, shanghai, at(shanghai, "2026-12-31 23:59"))),
        "2027-12-31T23:59:00+08:00");
}

/* A minute skipped by spring-forward fires at the jump, once; a minute
 * repeated by fall-back fires at its first pass only. */
TEST(cron_next_fire_across_dst)
{
    struct ctl_cron c = cron("30 2 * * *");
    int64_t t = ctl_cron_next(&c, ny, at(ny, "2026-03-07 12:00"));
    CHECK_STR_EQ(fmt(ny, t), "2026-03-08T03:00:00-04:00");
    CHECK_STR_EQ(fmt(ny, ctl_cron_next(&c, ny, t)), "2026-03-09T02:30:00-04:00");
    CHECK_STR_EQ(fmt(ny, ctl_cron_prev(&c, ny, at(ny, "2026-03-08 03:10"))),
                 "2026-03-08T03:00:00-04:00");
    t = ctl_cron_next(&c, berlin, at(berlin, "2026-03-28 12:00"));
    CHECK_STR_EQ(fmt(berlin, t), "2026-03-29T03:00:00+02:00");
    t = ctl_cron_next(&c, berlin, at(berlin, "2026-10-24 12:00"));
    CHECK_STR_EQ(fmt(berlin, t), "2026-10-25T02:30:00+02:00");
    CHECK_STR_EQ(fmt(berlin, ctl_cron_next(&c, berlin, t)), "2026-10-26T02:30:00+01:00");

    struct ctl_cron back = cron("30 1 * * *");
    t = ctl_cron_next(&back, ny, at(ny, "2026-10-31 12:00"));
    CHECK_STR_EQ(fmt(ny, t), "2026-11-01T01:30:00-04:00");
    CHECK_STR_EQ(fmt(ny, ctl_cron_next(&back, ny, t)), "2026-11-02T01:30:00-05:00");
    /* asked in the repeated hour, after its second 01:30 */
    CHECK_STR_EQ(fmt(ny, ctl_cron_prev(&back, ny, at(ny, "2026-11-01 01:40 2nd"))),
                 "2026-11-01T01:30:00-04:00");
    CHECK_STR_EQ(fmt(ny, ctl_cron_next(&back, ny, at(ny, "2026-11-01 01:10 2nd"))),
                 "2026-11-02T01:30:00-05:00");
}

static int count_fires(const char *expr, const struct ctl_tz *tz, int64_t from, int64_t to)
{
    struct ctl_cron c = cron(expr);
    int n = 0;
    for (int64_t t = ctl_cron_next(&c, tz, from - 1); t < to; t = ctl_cron_next(&c, tz, t))
        n++;
    return n;
}

TEST(cron_every_quarter_hour_across_dst_fires_once_per_reading)
{
    /* fall back: 00:00-02:59 by the clock, the repeated hour not again: 12, not 16 */
    CHECK_EQ_INT(
        count_fires("*/15 * * * *", ny, at(ny, "2026-11-01 00:00"), at(ny, "2026-11-01 03:00")),
        12);
    /* spring forward: 00:00-01:45 (8), the skipped 02:xx all at the jump 03:00 (1,
     * with 03:00's own), 03:15-03:45 (3) */
    CHECK_EQ_INT(
        count_fires("*/15 * * * *", ny, at(ny, "2026-03-08 00:00"), at(ny, "2026-03-08 04:00")),
        12);
    CHECK_EQ_INT(count_fires("*/15 * * * *", shanghai, at(shanghai, "2026-03-08 00:00"),
                             at(shanghai, "2026-03-08 04:00")),
                 16);
}

/* ------------------------------------------------------------------------ */
/* Job windows                                                              */

struct window {
    bool held;
    const char *start, *end;
};

static struct window window(const struct ctl_cron_job *j, const struct ctl_tz *tz, const char *when)
{
    int64_t s = 0, e = 0;
    struct window w = {false, "-", "-"};
    if (ctl_cron_job_window(j, tz, at(tz, when), &s, &e)) {
        w.held = true;
        w.start = fmt(tz, s);
        w.end = fmt(tz, e);
    }
    return w;
}

TEST(window_is_the_run_of_matching_minutes)
{
    struct ctl_cron_job j = job("* 9-17 * * 1-5", 5, NULL);
    struct window w = window(&j, shanghai, "2026-12-02 10:00");
    CHECK(w.held);
    CHECK_STR_EQ(w.start, "2026-12-02T09:00:00+08:00");
    CHECK_STR_EQ(w.end, "2026-12-02T18:00:00+08:00");
    CHECK(window(&j, shanghai, "2026-12-02 17:59").held);
    CHECK(!window(&j, shanghai, "2026-12-02 18:00").held);
    CHECK(!window(&j, shanghai, "2026-12-02 08:59").held);
    CHECK_STR_EQ(
        fmt(shanghai, ctl_cron_job_next_change(&j, shanghai, at(shanghai, "2026-12-02 18:00"))),
        "2026-12-03T09:00:00+08:00");
    /* Friday evening: next is Monday */
    CHECK_STR_EQ(
        fmt(shanghai, ctl_cron_job_next_change(&j, shanghai, at(shanghai, "2026-12-04 20:00"))),
        "2026-12-07T09:00:00+08:00");
    /* one minute */
    struct ctl_cron_job once = job("0 9 * * *", 5, NULL);
    w = window(&once, shanghai, "2026-12-02 09:00");
    CHECK(w.held);
    CHECK_STR_EQ(w.start, "2026-12-02T09:00:00+08:00");
    CHECK_STR_EQ(w.end, "2026-12-02T09:01:00+08:00");
    /* across midnight */
    struct ctl_cron_job night = job("* 22-23,0-5 * * *", 1, NULL);
    w = window(&night, shanghai, "2026-12-02 23:30");
    CHECK_STR_EQ(w.start, "2026-12-02T22:00:00+08:00");
    CHECK_STR_EQ(w.end, "2026-12-03T06:00:00+08:00");
    /* mid-minute instants count with their minute */
    int64_t s, e;
    CHECK(ctl_cron_job_window(&once, shanghai, at(shanghai, "2026-12-02 09:00") + 59, &s, &e));
    CHECK(!ctl_cron_job_window(&once, shanghai, at(shanghai, "2026-12-02 09:00") + 60, &s, &e));
    /* never ends */
    struct ctl_cron_job always = job("* * * * *", 3, NULL);
    w = window(&always, shanghai, "2026-12-02 09:00");
    CHECK_STR_EQ(w.start, "long ago");
    CHECK_STR_EQ(w.end, "never");
}

TEST(window_skips_excluded_dates)
{
    struct ctl_cron_job j = job("* 9-17 * * *", 5, "* * 25 12 *");
    CHECK(!window(&j, shanghai, "2026-12-25 10:00").held);
    CHECK(window(&j, shanghai, "2026-12-24 10:00").held);
    CHECK_STR_EQ(
        fmt(shanghai, ctl_cron_job_next_change(&j, shanghai, at(shanghai, "2026-12-24 18:00"))),
        "2026-12-26T09:00:00+08:00");
    /* the date fields are what counts: "0 0 25 12 *" names the whole day */
    struct ctl_cron_job k = job("* 9-17 * * *", 5, "0 0 25 12 *");
    CHECK(!window(&k, shanghai, "2026-12-25 16:00").held);
    /* Alibaba's 6-field form for weekends */
    struct ctl_cron_job wk = job("* 9-17 * * *", 5, "* * * * * 6,0");
    CHECK(!window(&wk, shanghai, "2026-12-05 10:00").held); /* Saturday */
    CHECK(!window(&wk, shanghai, "2026-12-06 10:00").held); /* Sunday */
    CHECK(window(&wk, shanghai, "2026-12-07 10:00").held);
    /* an excluded day cuts a long window at midnight */
    struct ctl_cron_job all = job("* * * * *", 5, "* * * * SUN");
    struct window w = window(&all, shanghai, "2026-12-05 12:00");
    CHECK_STR_EQ(w.start, "2026-11-30T00:00:00+08:00");
    CHECK_STR_EQ(w.end, "2026-12-06T00:00:00+08:00");
    /* up to three */
    struct ctl_cron_job three = job("* 9-17 * * *", 5, "* * 1 1 *");
    three.exclude[three.n_exclude++] = cron("* * 1 5 *");
    three.exclude[three.n_exclude++] = cron("* * 1 10 *");
    CHECK(!window(&three, shanghai, "2026-10-01 10:00").held);
    CHECK(!window(&three, shanghai, "2026-05-01 10:00").held);
    CHECK(window(&three, shanghai, "2026-10-02 10:00").held);
}

/* A window wholly in the skipped hour holds from the jump for as long as it
 * would have; one that straddles it is cut by it. */
TEST(window_in_skipped_time_holds_from_the_jump)
{
    struct ctl_cron_job hour2 = job("* 2 * * *", 5, NULL);
    struct window w = window(&hour2, ny, "2026-03-08 03:30");
    CHECK(w.held);
    CHECK_STR_EQ(w.start, "2026-03-08T03:00:00-04:00");
    CHECK_STR_EQ(w.end, "2026-03-08T04:00:00-04:00");
    CHECK(!window(&hour2, ny, "2026-03-08 04:00").held);
    CHECK(!window(&hour2, ny, "2026-03-08 01:59").held);
    CHECK_STR_EQ(fmt(ny, ctl_cron_job_next_change(&hour2, ny, at(ny, "2026-03-08 01:00"))),
                 "2026-03-08T03:00:00-04:00");
    struct ctl_cron_job half = job("30 2 * * *", 5, NULL);
    w = window(&half, ny, "2026-03-08 03:00");
    CHECK(w.held);
    CHECK_STR_EQ(w.start, "2026-03-08T03:00:00-04:00");
    CHECK_STR_EQ(w.end, "2026-03-08T03:01:00-04:00");
    /* straddling: 01:00-02:59 by the clock is one real hour */
    struct ctl_cron_job early = job("* 1-2 * * *", 5, NULL);
    w = window(&early, ny, "2026-03-08 01:30");
    CHECK_STR_EQ(w.start, "2026-03-08T01:00:00-05:00");
    CHECK_STR_EQ(w.end, "2026-03-08T03:00:00-04:00");
    struct ctl_cron_job late = job("* 2-3 * * *", 5, NULL);
    w = window(&late, ny, "2026-03-08 03:30");
    CHECK_STR_EQ(w.start, "2026-03-08T03:00:00-04:00");
    CHECK_STR_EQ(w.end, "2026-03-08T04:00:00-04:00");
    w = window(&hour2, berlin, "2026-03-29 03:10");
    CHECK_STR_EQ(w.start, "2026-03-29T03:00:00+02:00");
    CHECK_STR_EQ(w.end, "2026-03-29T04:00:00+02:00");
    /* Shanghai has no jump: 02:00-03:00 */
    w = window(&hour2, shanghai, "2026-03-08 02:10");
    CHECK_STR_EQ(w.start, "2026-03-08T02:00:00+08:00");
    CHECK_STR_EQ(w.end, "2026-03-08T03:00:00+08:00");
}

/* The repeated hour changes nothing: no window starts twice. */
TEST(window_in_repeated_time_starts_once)
{
    struct ctl_cron_job hour1 = job("* 1 * * *", 5, NULL);
    struct window w = window(&hour1, ny, "2026-11-01 01:30 2nd");
    CHECK(w.held);
    CHECK_STR_EQ(w.start, "2026-11-01T01:00:00-04:00");
    CHECK_STR_EQ(w.end, "2026-11-01T02:00:00-05:00");
    struct ctl_cron_job first_half = job("0-29 1 * * *", 5, NULL);
    w = window(&first_half, ny, "2026-11-01 01:10");
    CHECK_STR_EQ(w.end, "2026-11-01T01:30:00-04:00");
    CHECK(!window(&first_half, ny, "2026-11-01 01:10 2nd").held);
    CHECK_STR_EQ(fmt(ny, ctl_cron_job_next_change(&first_half, ny, at(ny, "2026-11-01 01:10 2nd"))),
                 "2026-11-02T01:00:00-05:00");
    struct ctl_cron_job second_half = job("30-59 1 * * *", 5, NULL);
    w = window(&second_half, ny, "2026-11-01 01:10 2nd");
    CHECK(w.held);
    CHECK_STR_EQ(w.start, "2026-11-01T01:30:00-04:00");
    CHECK_STR_EQ(w.end, "2026-11-01T02:00:00-05:00");
    struct ctl_cron_job minute = job("30 1 * * *", 5, NULL);
    CHECK(window(&minute, ny, "2026-11-01 01:30").held);
    CHECK(!window(&minute, ny, "2026-11-01 01:30 2nd").held);
    /* Berlin repeats 02:00-02:59 */
    struct ctl_cron_job hour2 = job("* 2 * * *", 5, NULL);
    w = window(&hour2, berlin, "2026-10-25 02:30 2nd");
    CHECK(w.held);
    CHECK_STR_EQ(w.start, "2026-10-25T02:00:00+02:00");
    CHECK_STR_EQ(w.end, "2026-10-25T03:00:00+01:00");
    struct ctl_cron_job at230 = job("30 2 * * *", 5, NULL);
    CHECK(!window(&at230, berlin, "2026-10-25 02:30 2nd").held);
}

/* Lord Howe moves its clock by 30 minutes: 02:00 -> 02:30 on 4 October
 * 2026, 02:00 -> 01:30 on 5 April 2026. */
TEST(window_with_a_half_hour_shift)
{
    struct ctl_cron_job hour2 = job("* 2 * * *", 5, NULL);
    struct window w = window(&hour2, lord_howe, "2026-10-04 02:40");
    CHECK_STR_EQ(w.start, "2026-10-04T02:30:00+11:00");
    CHECK_STR_EQ(w.end, "2026-10-04T03:00:00+11:00");
    struct ctl_cron_job q = job("15 2 * * *", 5, NULL);
    w = window(&q, lord_howe, "2026-10-04 02:30");
    CHECK(w.held);
    CHECK_STR_EQ(w.end, "2026-10-04T02:31:00+11:00");
    struct ctl_cron_job hour1 = job("* 1 * * *", 5, NULL);
    w = window(&hour1, lord_howe, "2026-04-05 01:45 2nd");
    CHECK(w.held);
    CHECK_STR_EQ(w.start, "2026-04-05T01:00:00+11:00");
    CHECK_STR_EQ(w.end, "2026-04-05T02:00:00+10:30");
    struct ctl_cron_job m = job("45 1 * * *", 5, NULL);
    CHECK(window(&m, lord_howe, "2026-04-05 01:45").held);
    CHECK(!window(&m, lord_howe, "2026-04-05 01:45 2nd").held);
}

/* next_change is exactly the first minute at which the window's answer
 * changes, minute by minute over DST days. */
TEST(next_change_agrees_with_window_minute_by_minute)
{
    static const char *const schedules[] = {
        "* 2 * * *",    "30 2 * * *",  "* 1 * * *",       "0-29 1 * * *",   "30-59 1 * * *",
        "*/15 * * * *", "* 1-2 * * *", "0 0,1,2,3 * * *", "* 9-17 * * 1-5", "*/7 0-4 * * *",
    };
    struct {
        const struct ctl_tz *tz;
        const char *from;
    } days[] = {{ny, "2026-03-07 20:00"},       {ny, "2026-10-31 20:00"},
                {berlin, "2026-03-28 20:00"},   {berlin, "2026-10-24 20:00"},
                {shanghai, "2026-12-04 20:00"}, {lord_howe, "2026-10-03 20:00"},
                {lord_howe, "2026-04-04 20:00"}};
    for (size_t d = 0; d < sizeof(days) / sizeof(days[0]); d++)
        for (size_t i = 0; i < sizeof(schedules) / sizeof(schedules[0]); i++) {
            struct ctl_cron_job j = job(schedules[i], 1, NULL);
            int64_t t0 = at(days[d].tz, days[d].from), s, e;
            enum { SPAN = 12 * 60, HORIZON = 80 * 60 };
            static bool h[HORIZON];
            static int64_t change[HORIZON]; /* minute by minute: the next minute that differs */
            for (int k = 0; k < HORIZON; k++)
                h[k] = ctl_cron_job_window(&j, days[d].tz, t0 + k * 60, &s, &e);
            change[HORIZON - 1] = -1;
            for (int k = HORIZON - 2; k >= 0; k--)
                change[k] = h[k + 1] != h[k] ? t0 + (k + 1) * 60 : change[k + 1];
            for (int k = 0; k < SPAN; k++) {
                int64_t t = t0 + k * 60, want = change[k];
                int64_t got = ctl_cron_job_next_change(&j, days[d].tz, t);
                if (want >= 0 && got != want) {
                    printf("# %s from %s: next change %s, minute by minute %s\n", schedules[i],
                           fmt(days[d].tz, t), fmt(days[d].tz, got), fmt(days[d].tz, want));
                    CHECK_EQ_INT(got, want);
                }
                ctl_cron_job_window(&j, days[d].tz, t, &s, &e);
                if (h[k]) /* the window's own end is that change */
                    CHECK_EQ_INT(e, got);
            }
        }
}

/* ------------------------------------------------------------------------ */
/* Jobs together                                                            */

TEST(state_outside_every_window_is_replicas)
{
    struct ctl_cron_job jobs[] = {job("* 9-17 * * *", 5, NULL)};
    struct ctl_cron_state st;
    ctl_cron_state_at(jobs, 1, 2, shanghai, at(shanghai, "2026-12-02 20:00"), &st);
    CHECK_EQ_INT(st.job, -1);
    CHECK_EQ_INT(st.replicas, 2);
    CHECK_STR_EQ(fmt(shanghai, st.next_change), "2026-12-03T09:00:00+08:00");
    ctl_cron_state_at(jobs, 1, 2, shanghai, at(shanghai, "2026-12-03 09:00"), &st);
    CHECK_EQ_INT(st.job, 0);
    CHECK_EQ_INT(st.replicas, 5);
    CHECK_STR_EQ(fmt(shanghai, st.since), "2026-12-03T09:00:00+08:00");
    CHECK_STR_EQ(fmt(shanghai, st.next_change), "2026-12-03T18:00:00+08:00");
    ctl_cron_state_at(NULL, 0, 3, shanghai, at(shanghai, "2026-12-03 09:00"), &st);
    CHECK_EQ_INT(st.job, -1);
    CHECK_EQ_INT(st.replicas, 3);
    CHECK_EQ_INT(st.next_change, CTL_CRON_NEVER);
}

/* A berthd that was down at 09:00 and comes back at 09:07 applies the job,
 * with the window's true start: the state depends on the instant alone. */
TEST(state_after_a_restart_inside_a_window)
{
    struct ctl_cron_job jobs[] = {job("* 9-10 * * *", 4, NULL)};
    struct ctl_cron_state st;
    ctl_cron_state_at(jobs, 1, 1, shanghai, at(shanghai, "2026-12-02 09:07") + 13, &st);
    CHECK_EQ_INT(st.job, 0);
    CHECK_EQ_INT(st.replicas, 4);
    CHECK_STR_EQ(fmt(shanghai, st.since), "2026-12-02T09:00:00+08:00");
    CHECK_STR_EQ(fmt(shanghai, st.next_change), "2026-12-02T11:00:00+08:00");
}

/* Overlapping windows: the one that started last holds; when it ends, the
 * one still open takes over again; a tie goes to the job listed first. */
TEST(state_overlapping_jobs_latest_start_wins)
{
    struct ctl_cron_job jobs[] = {job("* 9-17 * * *", 5, NULL), job("* 12 * * *", 10, NULL),
                                  job("* 9-17 * * *", 7, NULL)};
    struct ctl_cron_state st;
    ctl_cron_state_at(jobs, 3, 1, shanghai, at(shanghai, "2026-12-02 10:00"), &st);
    CHECK_EQ_INT(st.job, 0); /* tie with job 2: listed first */
    CHECK_EQ_INT(st.replicas, 5);
    CHECK_STR_EQ(fmt(shanghai, st.next_change), "2026-12-02T12:00:00+08:00");
    ctl_cron_state_at(jobs, 3, 1, shanghai, at(shanghai, "2026-12-02 12:30"), &st);
    CHECK_EQ_INT(st.job, 1);
    CHECK_EQ_INT(st.replicas, 10);
    CHECK_STR_EQ(fmt(shanghai, st.since), "2026-12-02T12:00:00+08:00");
    CHECK_STR_EQ(fmt(shanghai, st.next_change), "2026-12-02T13:00:00+08:00");
    ctl_cron_state_at(jobs, 3, 1, shanghai, at(shanghai, "2026-12-02 13:00"), &st);
    CHECK_EQ_INT(st.job, 0);
    CHECK_EQ_INT(st.replicas, 5);
    ctl_cron_state_at(jobs, 3, 1, shanghai, at(shanghai, "2026-12-02 18:00"), &st);
    CHECK_EQ_INT(st.job, -1);
    CHECK_EQ_INT(st.replicas, 1);
    /* a night job to zero (MinReplicas 0) inside an all-day one */
    struct ctl_cron_job night[] = {job("* * * * *", 3, NULL), job("* 0-5 * * *", 0, NULL)};
    ctl_cron_state_at(night, 2, 1, shanghai, at(shanghai, "2026-12-02 03:00"), &st);
    CHECK_EQ_INT(st.job, 1);
    CHECK_EQ_INT(st.replicas, 0);
    CHECK_STR_EQ(fmt(shanghai, st.next_change), "2026-12-02T06:00:00+08:00");
}

/* Zones and jobs are read-only: threads in different zones at once get
 * what one thread gets. */
struct thread_arg {
    const struct ctl_tz *tz;
    int64_t t0;
    int64_t sum;
};

static void *thread_main(void *p)
{
    struct thread_arg *a = p;
    struct ctl_cron_job j = job("*/7 1-3 * * *", 1, NULL);
    for (int64_t t = a->t0; t < a->t0 + 6 * 3600; t += 60)
        a->sum += ctl_cron_job_next_change(&j, a->tz, t) - t;
    return NULL;
}

TEST(zones_are_safe_across_threads)
{
    struct thread_arg solo[2] = {{ny, at(ny, "2026-11-01 00:00"), 0},
                                 {berlin, at(berlin, "2026-10-25 00:00"), 0}};
    thread_main(&solo[0]);
    thread_main(&solo[1]);
    struct thread_arg args[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        args[i] = solo[i % 2];
        args[i].sum = 0;
        CHECK_EQ_INT(pthread_create(&th[i], NULL, thread_main, &args[i]), 0);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < 4; i++)
        CHECK_EQ_INT(args[i].sum, solo[i % 2].sum);
}
