/* cron.h - cron expressions, time zones read from tzdata, and the windows of
 * TI-ONE's CronScaleJobs (docs/autoscaling.md has the rules for users).
 * Pure computation apart from ctl_tz_load(), which reads one file. Parsed
 * expressions, zones and jobs are immutable once made, so any thread may use
 * them at once; nothing here touches TZ or the C library's zone state.
 * Instants are seconds since the Unix epoch (UTC); cron works at minute
 * precision, so windows start and end on whole minutes of the zone's clock. */
#ifndef BERTH_CTL_CRON_H
#define BERTH_CTL_CRON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

/* ------------------------------------------------------------------------ */
/* Time zones                                                               */

struct ctl_tz;

/* Load zone 'name' ("Asia/Shanghai", "UTC") from $TZDIR or
 * /usr/share/zoneinfo; NULL or "" loads the machine's zone (/etc/localtime).
 * Names with "..", a leading '/' or other than [A-Za-z0-9/_+-] are refused
 * (ERR_INVALID), a missing zone is ERR_NOTFOUND. *out is released with
 * ctl_tz_free(), which accepts NULL. */
int ctl_tz_load(const char *name, struct ctl_tz **out, struct err *err);
void ctl_tz_free(struct ctl_tz *tz);
/* The name it was loaded by ("localtime" for the machine's). */
const char *ctl_tz_name(const struct ctl_tz *tz);
/* Seconds east of UTC at instant 't'. */
int32_t ctl_tz_offset(const struct ctl_tz *tz, int64_t t);

/* A wall-clock reading in a zone. */
struct ctl_civil {
    int year, month, day; /* month 1-12, day 1-31 */
    int hour, minute, second;
    int wday; /* 0 = Sunday */
    int32_t utc_offset_s;
};
void ctl_tz_civil(const struct ctl_tz *tz, int64_t t, struct ctl_civil *out);
/* The instants at which the zone's clock reads year-month-day hour:minute:00:
 * 1 (a normal time), 2 (a time repeated when clocks go back; out[0] < out[1])
 * or 0 (a time skipped when clocks go forward; *gap_end is then the instant
 * of the jump, when the clock first reads a later time). */
int ctl_tz_instants(const struct ctl_tz *tz, int year, int month, int day, int hour, int minute,
                    int64_t out[2], int64_t *gap_end);
/* An instant as RFC 3339 in the zone, e.g. 2026-03-08T03:00:00-04:00. */
void ctl_tz_format(const struct ctl_tz *tz, int64_t t, char out[32]);

/* ------------------------------------------------------------------------ */
/* Cron expressions                                                         */

/* Five fields, minute hour day-of-month month day-of-week, each '*', a
 * number, a range a-b, a step (*, a-b or a, then /n) or a list of those;
 * months JAN-DEC and days SUN-SAT by name in any case; Sunday is 0 or 7; '?'
 * is '*' in the day fields. Six fields (TI-ONE's example) put seconds first,
 * which must be 0 or '*': Berth works at minute precision. When both day
 * fields are restricted (neither starts with '*'), a day matches if either
 * does (Vixie cron). */
struct ctl_cron {
    uint64_t minutes; /* bit 0-59 */
    uint32_t hours;   /* bit 0-23 */
    uint32_t mdays;   /* bit 1-31 */
    uint16_t months;  /* bit 1-12 */
    uint8_t wdays;    /* bit 0-6 */
    bool mday_star, wday_star;
};

/* Parse 'expr'. Errors (ERR_INVALID) name the field and the rule, e.g.
 * "hour field '25': 25 is out of range 0-23". An expression that can never
 * match (day-of-month 31 in months that have 30 days) is refused too. */
int ctl_cron_parse(const char *expr, struct ctl_cron *out, struct err *err);
/* Whether the date fields match a day (month 1-12, wday 0 = Sunday). */
bool ctl_cron_match_day(const struct ctl_cron *c, int month, int mday, int wday);
/* Whether a wall-clock minute matches. */
bool ctl_cron_match(const struct ctl_cron *c, const struct ctl_civil *w);
/* The first instant strictly after 't' at which the expression fires, in
 * the zone, or CTL_CRON_NEVER when there is none within 10 years. A minute
 * repeated when clocks go back fires once (its first time); a minute skipped
 * when clocks go forward fires at the jump (as Vixie cron runs them). */
int64_t ctl_cron_next(const struct ctl_cron *c, const struct ctl_tz *tz, int64_t t);
/* The latest instant at or before 't' at which it fired, or CTL_CRON_LONG_AGO. */
int64_t ctl_cron_prev(const struct ctl_cron *c, const struct ctl_tz *tz, int64_t t);

#define CTL_CRON_NEVER INT64_MAX
#define CTL_CRON_LONG_AGO INT64_MIN

/* ------------------------------------------------------------------------ */
/* CronScaleJobs                                                            */

#define CTL_CRON_MAX_EXCLUDES 3
#define CTL_CRON_NAME_MAX 64

/* One CronScaleJob. Its windows are the runs of consecutive minutes of the
 * zone's clock that Schedule matches, on days no ExcludeDates expression
 * names (their date fields are what counts): "* 9-17 * * 1-5" holds from
 * 09:00 to 18:00 on weekdays, "0 9 * * *" for the minute 09:00-09:01. When
 * clocks go forward, a window that falls wholly in the skipped time holds
 * from the jump for as long as it would have; one that straddles it is cut.
 * When clocks go back, the repeated time changes nothing: what held at the
 * end of its first pass holds until the clock passes it again, so no window
 * starts twice. */
struct ctl_cron_job {
    char name[CTL_CRON_NAME_MAX];
    struct ctl_cron schedule;
    struct ctl_cron exclude[CTL_CRON_MAX_EXCLUDES];
    size_t n_exclude;
    long long target_replicas, min_replicas, max_replicas;
};

/* Whether the job holds at 't'; if so, *start is when the window began
 * (CTL_CRON_LONG_AGO beyond 400 days) and *end when it ends (CTL_CRON_NEVER
 * beyond 400 days). */
bool ctl_cron_job_window(const struct ctl_cron_job *j, const struct ctl_tz *tz, int64_t t,
                         int64_t *start, int64_t *end);
/* The first instant after 't' at which the job starts or stops holding, or
 * CTL_CRON_NEVER. */
int64_t ctl_cron_job_next_change(const struct ctl_cron_job *j, const struct ctl_tz *tz, int64_t t);

/* What the jobs say at one instant. */
struct ctl_cron_state {
    int job;            /* index of the job that holds, or -1: Replicas applies */
    long long replicas; /* the count to run */
    long long min_replicas, max_replicas;
    int64_t since;       /* start of that job's window (CTL_CRON_LONG_AGO if unknown or none) */
    int64_t next_change; /* first instant after 't' at which any job starts or ends
                          * (arm a timer for it), or CTL_CRON_NEVER */
};

/* The state at 't' for 'jobs' and the default count 'replicas' (used
 * outside every window). When windows overlap, the job whose window started
 * last holds; of jobs whose windows started at the same minute, the one
 * listed first. It depends on 't' alone, so a berthd that was down at a
 * window's start applies it when it comes back. */
void ctl_cron_state_at(const struct ctl_cron_job *jobs, size_t n, long long replicas,
                       const struct ctl_tz *tz, int64_t t, struct ctl_cron_state *out);

#endif
