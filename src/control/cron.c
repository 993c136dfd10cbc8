/* cron.c - cron expressions, TZif time zones and CronScaleJob windows.
 * The zone is read from the TZif file itself (RFC 8536: transitions, then
 * the POSIX TZ rule of its footer for times after them) rather than through
 * localtime_r() under a TZ variable: TZ is process-wide, so switching it for
 * one service would change the clock of every other thread. */
#include "control/cron.h"
#include "base/alloc.h"

#include <ctype.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TZIF_MAX_BYTES (1 << 20)
#define DAY_S 86400
#define MIN_PER_DAY 1440
/* How far the window searches look: a window longer than this, or a start
 * further back, is reported as NEVER / LONG_AGO. */
#define WINDOW_SCAN_DAYS 400
/* How far the next fire is looked for (29 February on a weekday, ...). */
#define FIRE_SCAN_DAYS 3660

/* ------------------------------------------------------------------------ */
/* Civil dates                                                              */

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (the era arithmetic
 * of the 400-year cycle). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = floor_div(y, 400);
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int *y, int *m, int *d)
{
    z += 719468;
    int64_t era = floor_div(z, 146097);
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yoe + era * 400 + (*m <= 2));
}

static int wday_of(int64_t days)
{
    return (int)(((days % 7) + 7 + 4) % 7); /* 1970-01-01 was a Thursday */
}

static bool is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int month_days(int y, int m)
{
    static const int n[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : n[m - 1];
}

/* ------------------------------------------------------------------------ */
/* Time zones                                                               */

/* A POSIX TZ rule date: Mm.w.d, Jn (1-365, no 29 February) or n (0-365). */
struct tz_rule_date {
    char kind; /* 'M', 'J', 'N' */
    int month, week, wday, n;
    int32_t time_s; /* local time of day of the change, may be <0 or >24h */
};

struct tz_rule {
    bool present, has_dst;
    int32_t std_off, dst_off; /* seconds east of UTC */
    struct tz_rule_date start, end;
};

struct ctl_tz {
    char name[64];
    size_t ntrans, ntypes;
    int64_t *trans;
    uint8_t *trans_type;
    int32_t *type_off;
    struct tz_rule rule;
};

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const unsigned char *p)
{
    return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

/* [+-]hh[:mm[:ss]] into seconds; hours up to 167 (RFC 8536 §3.3.1). */
static const char *posix_time(const char *s, int32_t *out)
{
    int sign = 1;
    if (*s == '+' || *s == '-')
        sign = *s++ == '-' ? -1 : 1;
    if (!isdigit((unsigned char)*s))
        return NULL;
    int32_t v[3] = {0, 0, 0};
    for (int i = 0; i < 3; i++) {
        if (i > 0) {
            if (*s != ':')
                break;
            s++;
        }
        if (!isdigit((unsigned char)*s))
            return NULL;
        while (isdigit((unsigned char)*s) && v[i] < 1000)
            v[i] = v[i] * 10 + (*s++ - '0');
    }
    if (v[0] > 167 || v[1] > 59 || v[2] > 59)
        return NULL;
    *out = sign * (v[0] * 3600 + v[1] * 60 + v[2]);
    return s;
}

static const char *posix_name(const char *s)
{
    if (*s == '<') {
        const char *e = strchr(s, '>');
        return e ? e + 1 : NULL;
    }
    const char *b = s;
    while (isalpha((unsigned char)*s))
        s++;
    return s - b >= 3 ? s : NULL;
}

static const char *posix_num(const char *s, int *out, int min, int max)
{
    if (!isdigit((unsigned char)*s))
        return NULL;
    int v = 0;
    while (isdigit((unsigned char)*s) && v < 1000)
        v = v * 10 + (*s++ - '0');
    if (v < min || v > max)
        return NULL;
    *out = v;
    return s;
}

static const char *posix_date(const char *s, struct tz_rule_date *d)
{
    d->time_s = 7200; /* 02:00 when no time is given */
    if (*s == 'M') {
        d->kind = 'M';
        if (!(s = posix_num(s + 1, &d->month, 1, 12)) || *s != '.' ||
            !(s = posix_num(s + 1, &d->week, 1, 5)) || *s != '.' ||
            !(s = posix_num(s + 1, &d->wday, 0, 6)))
            return NULL;
    } else if (*s == 'J') {
        d->kind = 'J';
        if (!(s = posix_num(s + 1, &d->n, 1, 365)))
            return NULL;
    } else {
        d->kind = 'N';
        if (!(s = posix_num(s, &d->n, 0, 365)))
            return NULL;
    }
    if (*s == '/' && !(s = posix_time(s + 1, &d->time_s)))
        return NULL;
    return s;
}

/* A TZ string such as "EST5EDT,M3.2.0,M11.1.0" or "<+08>-8" (offsets are
 * west of UTC there; ours are east). */
static bool posix_parse(const char *s, struct tz_rule *r)
{
    int32_t off;
    memset(r, 0, sizeof(*r));
    if (!(s = posix_name(s)) || !(s = posix_time(s, &off)))
        return false;
    r->std_off = -off;
    r->present = true;
    if (*s == '\0')
        return true;
    if (!(s = posix_name(s)))
        return false;
    r->has_dst = true;
    r->dst_off = r->std_off + 3600;
    if (*s && *s != ',') {
        if (!(s = posix_time(s, &off)))
            return false;
        r->dst_off = -off;
    }
    if (*s == '\0') /* POSIX leaves the rule to the implementation: the US one */
        s = ",M3.2.0,M11.1.0";
    if (*s != ',' || !(s = posix_date(s + 1, &r->start)) || *s != ',' ||
        !(s = posix_date(s + 1, &r->end)))
        return false;
    return *s == '\0';
}

/* Local seconds (days since epoch * 86400 + time of day) of a rule date. */
static int64_t rule_local(const struct tz_rule_date *d, int y)
{
    int64_t day;
    if (d->kind == 'M') {
        int64_t first = days_from_civil(y, d->month, 1);
        day = first + (d->wday - wday_of(first) + 7) % 7 + (int64_t)(d->week - 1) * 7;
        while (day >= first + month_days(y, d->month))
            day -= 7;
    } else if (d->kind == 'J') {
        day = days_from_civil(y, 1, 1) + d->n - 1 + (is_leap(y) && d->n >= 60);
    } else {
        day = days_from_civil(y, 1, 1) + d->n;
    }
    return day * DAY_S + d->time_s;
}

static int32_t rule_offset(const struct tz_rule *r, int64_t t)
{
    if (!r->has_dst)
        return r->std_off;
    int y, m, d;
    civil_from_days(floor_div(t + r->std_off, DAY_S), &y, &m, &d);
    int64_t s = rule_local(&r->start, y) - r->std_off; /* the change is in standard time */
    int64_t e = rule_local(&r->end, y) - r->dst_off;   /* and back in daylight time */
    bool dst = s < e ? (t >= s && t < e) : !(t >= e && t < s);
    return dst ? r->dst_off : r->std_off;
}

int32_t ctl_tz_offset(const struct ctl_tz *tz, int64_t t)
{
    if (tz->ntrans == 0 || t < tz->trans[0]) {
        if (tz->ntrans == 0 && tz->rule.present)
            return rule_offset(&tz->rule, t);
        return tz->type_off[0];
    }
    if (t >= tz->trans[tz->ntrans - 1] && tz->rule.present)
        return rule_offset(&tz->rule, t);
    size_t lo = 0, hi = tz->ntrans; /* the last transition at or before t */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (tz->trans[mid] <= t)
            lo = mid;
        else
            hi = mid;
    }
    return tz->type_off[tz->trans_type[lo]];
}

static bool valid_zone_name(const char *n)
{
    size_t len = strlen(n);
    if (len == 0 || len >= 64 || n[0] == '/' || strstr(n, ".."))
        return false;
    for (const char *p = n; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr("/_+-", *p))
            return false;
    return true;
}

static int read_file(const char *path, unsigned char **out, size_t *len, struct err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return err_set(err, errno == ENOENT ? ERR_NOTFOUND : ERR_SYS(errno),
                       "cannot open zone file '%s': %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > TZIF_MAX_BYTES) {
        close(fd);
        return err_set(err, ERR_INVALID, "zone file '%s' is not a TZif file", path);
    }
    unsigned char *buf = xmalloc((size_t)st.st_size + 1);
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    buf[got] = '\0';
    *out = buf;
    *len = got;
    return 0;
}

/* Parse a TZif file (v1 or the 64-bit v2+ block and its footer). */
static int tzif_parse(struct ctl_tz *tz, const unsigned char *p, size_t len)
{
    if (len < 44 || memcmp(p, "TZif", 4) != 0)
        return -1;
    bool v2 = p[4] >= '2';
    const unsigned char *h = p;
    size_t tsize = 4;
    for (int pass = 0; pass < 2; pass++) {
        if ((size_t)(h - p) + 44 > len || memcmp(h, "TZif", 4) != 0)
            return -1;
        uint32_t isut = be32(h + 20), isstd = be32(h + 24), leap = be32(h + 28);
        uint32_t timecnt = be32(h + 32), typecnt = be32(h + 36), charcnt = be32(h + 40);
        if (timecnt > 100000 || typecnt == 0 || typecnt > 256 || charcnt > 100000 || leap > 100000)
            return -1;
        size_t body =
            timecnt * tsize + timecnt + typecnt * 6 + charcnt + leap * (tsize + 4) + isstd + isut;
        const unsigned char *d = h + 44;
        if ((size_t)(d - p) + body > len)
            return -1;
        if (pass == 0 && v2) { /* skip the 32-bit block */
            h = d + body;
            tsize = 8;
            continue;
        }
        tz->ntrans = timecnt;
        tz->ntypes = typecnt;
        tz->trans = xcalloc(timecnt + 1, sizeof(int64_t));
        tz->trans_type = xcalloc(timecnt + 1, 1);
        tz->type_off = xcalloc(typecnt, sizeof(int32_t));
        for (uint32_t i = 0; i < timecnt; i++)
            tz->trans[i] = tsize == 8 ? be64(d + i * 8) : (int32_t)be32(d + i * 4);
        const unsigned char *idx = d + timecnt * tsize;
        for (uint32_t i = 0; i < timecnt; i++) {
            if (idx[i] >= typecnt)
                return -1;
            tz->trans_type[i] = idx[i];
        }
        const unsigned char *types = idx + timecnt;
        for (uint32_t i = 0; i < typecnt; i++)
            tz->type_off[i] = (int32_t)be32(types + i * 6);
        const unsigned char *foot = d + body;
        if (v2 && foot < p + len && *foot == '\n') {
            const unsigned char *e = memchr(foot + 1, '\n', (size_t)(p + len - foot - 1));
            char rule[128];
            size_t n = e ? (size_t)(e - foot - 1) : 0;
            if (e && n > 0 && n < sizeof(rule)) {
                memcpy(rule, foot + 1, n);
                rule[n] = '\0';
                if (!posix_parse(rule, &tz->rule))
                    memset(&tz->rule, 0, sizeof(tz->rule));
            }
        }
        return 0;
    }
    return -1;
}

int ctl_tz_load(const char *name, struct ctl_tz **out, struct err *err)
{
    char path[512];
    bool local = !name || !*name || strcmp(name, "localtime") == 0;
    *out = NULL;
    if (local) {
        snprintf(path, sizeof(path), "/etc/localtime");
    } else {
        if (!valid_zone_name(name))
            return err_set(err, ERR_INVALID,
                           "time zone '%s' is not a zone name like Asia/Shanghai or UTC", name);
        const char *dir = getenv("TZDIR");
        snprintf(path, sizeof(path), "%s/%s", dir && *dir ? dir : "/usr/share/zoneinfo", name);
    }
    unsigned char *buf = NULL;
    size_t len = 0;
    int rc = read_file(path, &buf, &len, err);
    if (rc == ERR_NOTFOUND && local) { /* no /etc/localtime: the machine runs on UTC */
        struct ctl_tz *tz = xcalloc(1, sizeof(*tz));
        snprintf(tz->name, sizeof(tz->name), "localtime");
        tz->ntypes = 1;
        tz->type_off = xcalloc(1, sizeof(int32_t));
        *out = tz;
        return 0;
    }
    if (rc == ERR_NOTFOUND)
        return err_set(err, ERR_NOTFOUND, "time zone '%s' is not in the zone database", name);
    if (rc)
        return rc;
    struct ctl_tz *tz = xcalloc(1, sizeof(*tz));
    snprintf(tz->name, sizeof(tz->name), "%s", local ? "localtime" : name);
    rc = tzif_parse(tz, buf, len);
    free(buf);
    if (rc) {
        ctl_tz_free(tz);
        return err_set(err, ERR_INVALID, "zone file '%s' is not a valid TZif file", path);
    }
    *out = tz;
    return 0;
}

void ctl_tz_free(struct ctl_tz *tz)
{
    if (!tz)
        return;
    free(tz->trans);
    free(tz->trans_type);
    free(tz->type_off);
    free(tz);
}

const char *ctl_tz_name(const struct ctl_tz *tz)
{
    return tz->name;
}

void ctl_tz_civil(const struct ctl_tz *tz, int64_t t, struct ctl_civil *out)
{
    int32_t off = ctl_tz_offset(tz, t);
    int64_t local = t + off;
    int64_t days = floor_div(local, DAY_S);
    int64_t sod = local - days * DAY_S;
    civil_from_days(days, &out->year, &out->month, &out->day);
    out->hour = (int)(sod / 3600);
    out->minute = (int)(sod / 60 % 60);
    out->second = (int)(sod % 60);
    out->wday = wday_of(days);
    out->utc_offset_s = off;
}

/* The first instant in (lo, hi] whose offset differs from lo's (one
 * transition between them). */
static int64_t find_transition(const struct ctl_tz *tz, int64_t lo, int64_t hi)
{
    int32_t o = ctl_tz_offset(tz, lo);
    while (hi - lo > 1) {
        int64_t mid = lo + (hi - lo) / 2;
        if (ctl_tz_offset(tz, mid) == o)
            lo = mid;
        else
            hi = mid;
    }
    return hi;
}

/* The instants of local seconds 'w' (see ctl_tz_instants). */
static int local_instants(const struct ctl_tz *tz, int64_t w, int64_t out[2], int64_t *gap_end)
{
    int32_t cand[3] = {ctl_tz_offset(tz, w - 2 * DAY_S), ctl_tz_offset(tz, w + 2 * DAY_S),
                       ctl_tz_offset(tz, w - ctl_tz_offset(tz, w))};
    int n = 0;
    for (int i = 0; i < 3; i++) {
        int64_t t = w - cand[i];
        if (ctl_tz_offset(tz, t) != cand[i] || (n > 0 && out[0] == t) || (n > 1 && out[1] == t))
            continue;
        if (n < 2)
            out[n++] = t;
    }
    if (n == 2 && out[0] > out[1]) {
        int64_t x = out[0];
        out[0] = out[1];
        out[1] = x;
    }
    if (n == 0 && gap_end) {
        int32_t before = cand[0], after = cand[1];
        *gap_end = find_transition(tz, w - after, w - before);
    }
    return n;
}

int ctl_tz_instants(const struct ctl_tz *tz, int year, int month, int day, int hour, int minute,
                    int64_t out[2], int64_t *gap_end)
{
    int64_t w = days_from_civil(year, month, day) * DAY_S + hour * 3600 + minute * 60;
    return local_instants(tz, w, out, gap_end);
}

void ctl_tz_format(const struct ctl_tz *tz, int64_t t, char out[32])
{
    struct ctl_civil c;
    ctl_tz_civil(tz, t, &c);
    int32_t off = c.utc_offset_s;
    char sign = off < 0 ? '-' : '+';
    if (off < 0)
        off = -off;
    snprintf(out, 32, "%04d-%02d-%02dT%02d:%02d:%02d%c%02d:%02d", c.year % 10000, c.month, c.day,
             c.hour, c.minute, c.second, sign, (int)(off / 3600 % 100), (int)(off / 60 % 60));
}

/* ------------------------------------------------------------------------ */
/* Cron expressions                                                         */

struct cron_field {
    const char *name;
    int min, max;
    const char *const *names; /* names for min.. in order, or NULL */
};

static const char *const month_names[] = {"jan", "feb", "mar", "apr", "may", "jun", "jul",
                                          "aug", "sep", "oct", "nov", "dec", NULL};
static const char *const wday_names[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat", NULL};

static const struct cron_field fields[] = {
    {"minute", 0, 59, NULL},           {"hour", 0, 23, NULL},
    {"day-of-month", 1, 31, NULL},     {"month", 1, 12, month_names},
    {"day-of-week", 0, 7, wday_names},
};

/* One value (a number or a name) at *s; the rule broken goes into 'why'. */
static int field_value(const struct cron_field *f, const char **s, int *out, char *why, size_t n)
{
    const char *p = *s;
    if (isdigit((unsigned char)*p)) {
        long v = 0;
        while (isdigit((unsigned char)*p)) {
            if (v < 100000)
                v = v * 10 + (*p - '0');
            p++;
        }
        if (v < f->min || v > f->max) {
            snprintf(why, n, "%ld is out of range %d-%d", v, f->min, f->max);
            return -1;
        }
        *out = (int)v;
        *s = p;
        return 0;
    }
    if (f->names && isalpha((unsigned char)p[0]) && isalpha((unsigned char)p[1]) &&
        isalpha((unsigned char)p[2]) && !isalpha((unsigned char)p[3])) {
        for (int i = 0; f->names[i]; i++)
            if (strncasecmp(p, f->names[i], 3) == 0) {
                *out = f->min + i;
                *s = p + 3;
                return 0;
            }
        snprintf(why, n, "'%.3s' is not a %s name", p,
                 f->names == month_names ? "month (JAN-DEC)" : "day (SUN-SAT)");
        return -1;
    }
    if (*p == '\0' || *p == ',' || *p == '-' || *p == '/')
        snprintf(why, n, "a value is missing");
    else
        snprintf(why, n, "'%c' is not a number%s", *p, f->names ? " or a name" : "");
    return -1;
}

/* One field's text into a bit set; *star when it starts with '*' or '?'. */
static int parse_field(const struct cron_field *f, const char *text, uint64_t *bits, bool *star,
                       bool day_field, struct err *err)
{
    char why[128];
    const char *s = text;
    *bits = 0;
    *star = text[0] == '*' || (day_field && text[0] == '?');
    for (;;) {
        int lo, hi, step = 1;
        bool any = *s == '*' || (day_field && *s == '?');
        if (*s == '?' && !day_field) {
            snprintf(why, sizeof(why), "'?' is only for day-of-month and day-of-week");
            goto bad;
        }
        if (any) {
            lo = f->min;
            hi = f->max == 7 ? 6 : f->max;
            s++;
        } else {
            if (field_value(f, &s, &lo, why, sizeof(why)))
                goto bad;
            hi = lo;
            if (*s == '-') {
                s++;
                if (field_value(f, &s, &hi, why, sizeof(why)))
                    goto bad;
                if (hi < lo) {
                    snprintf(why, sizeof(why), "range %d-%d runs backwards", lo, hi);
                    goto bad;
                }
            }
        }
        if (*s == '/') {
            s++;
            if (!isdigit((unsigned char)*s)) {
                snprintf(why, sizeof(why), "a step needs a number after '/'");
                goto bad;
            }
            long v = 0;
            while (isdigit((unsigned char)*s)) {
                if (v < 100000)
                    v = v * 10 + (*s - '0');
                s++;
            }
            if (v < 1 || v > f->max) {
                snprintf(why, sizeof(why), "step %ld is out of range 1-%d", v, f->max);
                goto bad;
            }
            step = (int)v;
            if (!any && hi == lo) /* "a/n" is a-max/n, as Kubernetes reads it */
                hi = f->max;
        }
        for (int v = lo; v <= hi; v += step)
            *bits |= 1ull << (f->max == 7 && v == 7 ? 0 : v);
        if (*s == '\0')
            return 0;
        if (*s != ',') {
            snprintf(why, sizeof(why), "'%c' is not allowed here", *s);
            goto bad;
        }
        s++;
    }
bad:
    return err_set(err, ERR_INVALID, "%s field '%s': %s", f->name, text, why);
}

int ctl_cron_parse(const char *expr, struct ctl_cron *out, struct err *err)
{
    char buf[256];
    char *tok[7];
    int n = 0;
    if (!expr)
        return err_set(err, ERR_INVALID, "cron expression is empty");
    if (strlen(expr) >= sizeof(buf))
        return err_set(err, ERR_INVALID, "cron expression is longer than %zu characters",
                       sizeof(buf) - 1);
    memcpy(buf, expr, strlen(expr) + 1);
    for (char *p = buf; *p;) {
        while (*p && isspace((unsigned char)*p))
            *p++ = '\0';
        if (!*p)
            break;
        if (n == 7)
            break;
        tok[n++] = p;
        while (*p && !isspace((unsigned char)*p))
            p++;
    }
    if (n == 1 && tok[0][0] == '@')
        return err_set(err, ERR_INVALID,
                       "cron expression '%s': macros such as @daily are not supported; give 5 "
                       "fields (minute hour day-of-month month day-of-week)",
                       expr);
    if (n != 5 && n != 6)
        return err_set(err, ERR_INVALID,
                       "cron expression '%s' has %d fields: give 5 (minute hour day-of-month "
                       "month day-of-week), or 6 with seconds first",
                       expr, n);
    char **f5 = tok;
    if (n == 6) {
        if (strcmp(tok[0], "0") != 0 && strcmp(tok[0], "00") != 0 && strcmp(tok[0], "*") != 0)
            return err_set(err, ERR_INVALID,
                           "seconds field '%s': Berth schedules to the minute, so the seconds "
                           "field must be 0 or *",
                           tok[0]);
        f5 = tok + 1;
    }
    memset(out, 0, sizeof(*out));
    uint64_t bits[5];
    bool star[5];
    for (int i = 0; i < 5; i++)
        if (parse_field(&fields[i], f5[i], &bits[i], &star[i], i == 2 || i == 4, err))
            return ERR_INVALID;
    out->minutes = bits[0];
    out->hours = (uint32_t)bits[1];
    out->mdays = (uint32_t)bits[2];
    out->months = (uint16_t)bits[3];
    out->wdays = (uint8_t)bits[4];
    out->mday_star = star[2];
    out->wday_star = star[4];
    /* Day-of-month alone decides when day-of-week is '*': it must occur in
     * one of the months (29 February does, in leap years). */
    if (out->wday_star && !out->mday_star) {
        bool ok = false;
        for (int m = 1; m <= 12 && !ok; m++)
            for (int d = 1; d <= (m == 2 ? 29 : month_days(2001, m)) && !ok; d++)
                ok = (out->months >> m & 1) && (out->mdays >> d & 1);
        if (!ok)
            return err_set(err, ERR_INVALID,
                           "cron expression '%s' never matches: no chosen month has the chosen "
                           "day-of-month",
                           expr);
    }
    return 0;
}

bool ctl_cron_match_day(const struct ctl_cron *c, int month, int mday, int wday)
{
    if (!(c->months >> month & 1))
        return false;
    bool md = c->mdays >> mday & 1, wd = c->wdays >> wday & 1;
    return c->mday_star || c->wday_star ? md && wd : md || wd;
}

bool ctl_cron_match(const struct ctl_cron *c, const struct ctl_civil *w)
{
    return ctl_cron_match_day(c, w->month, w->day, w->wday) && (c->hours >> w->hour & 1) &&
           (c->minutes >> w->minute & 1);
}

/* ------------------------------------------------------------------------ */
/* Wall-clock minutes                                                       */

/* Minutes of the zone's clock are counted as local seconds / 60 since the
 * epoch ("wall minutes"): they follow the calendar, not elapsed time. */

static bool day_ok(const struct ctl_cron_job *j, int64_t day)
{
    int y, m, d;
    civil_from_days(day, &y, &m, &d);
    int wd = wday_of(day);
    if (!ctl_cron_match_day(&j->schedule, m, d, wd))
        return false;
    for (size_t i = 0; i < j->n_exclude; i++)
        if (ctl_cron_match_day(&j->exclude[i], m, d, wd))
            return false;
    return true;
}

static bool minute_ok(const struct ctl_cron *c, int mod)
{
    return (c->hours >> (mod / 60) & 1) && (c->minutes >> (mod % 60) & 1);
}

static bool wall_match(const struct ctl_cron_job *j, int64_t w)
{
    int64_t day = floor_div(w, MIN_PER_DAY);
    return day_ok(j, day) && minute_ok(&j->schedule, (int)(w - day * MIN_PER_DAY));
}

/* The first wall minute from 'w' on (dir +1) or back (dir -1), 'w'
 * included, whose match is 'want'; NEVER / LONG_AGO past 'days' days. */
static int64_t scan(const struct ctl_cron_job *j, int64_t w, int dir, bool want, int days)
{
    int64_t day = floor_div(w, MIN_PER_DAY);
    int mod = (int)(w - day * MIN_PER_DAY);
    bool all_day = j->schedule.hours == 0xffffffu && j->schedule.minutes == (1ull << 60) - 1;
    for (int k = 0; k <= days; k++) {
        if (!day_ok(j, day)) {
            if (!want)
                return day * MIN_PER_DAY + mod;
        } else if (!(all_day && !want)) {
            for (int m = mod; m >= 0 && m < MIN_PER_DAY; m += dir)
                if (minute_ok(&j->schedule, m) == want)
                    return day * MIN_PER_DAY + m;
        }
        day += dir;
        mod = dir > 0 ? 0 : MIN_PER_DAY - 1;
    }
    return dir > 0 ? CTL_CRON_NEVER : CTL_CRON_LONG_AGO;
}

static int64_t wall_of(const struct ctl_tz *tz, int64_t t)
{
    return floor_div(t + ctl_tz_offset(tz, t), 60);
}

/* The instant at which the clock first reads wall minute 'w' at or after
 * 'after': a minute skipped by a jump forward is "read" at the jump. */
static int64_t first_reading(const struct ctl_tz *tz, int64_t w, int64_t after)
{
    int64_t ins[2], gap = 0;
    int n = local_instants(tz, w * 60, ins, &gap);
    if (n == 0)
        return gap;
    if (n == 2 && ins[0] + 60 <= after)
        return ins[1];
    return ins[0];
}

/* The wall minute that decides the state at 't': its own, except in the
 * second pass of a repeated time, where the clock's last minute before it
 * went back holds. */
static int64_t effective_wall(const struct ctl_tz *tz, int64_t t)
{
    int64_t w = wall_of(tz, t), ins[2];
    if (local_instants(tz, w * 60, ins, NULL) == 2 && t >= ins[1]) {
        int64_t back = find_transition(tz, ins[0], ins[1]);
        return wall_of(tz, back - 60);
    }
    return w;
}

/* The end of the hold that a jump forward shortly before 't' gives to
 * windows that fell wholly in the skipped time (0 if none), and the jump. */
static int64_t gap_hold_end(const struct ctl_cron_job *j, const struct ctl_tz *tz, int64_t t,
                            int64_t *jump)
{
    const int64_t look = 3 * 3600;
    if (ctl_tz_offset(tz, t - look) >= ctl_tz_offset(tz, t))
        return 0;
    int64_t T = find_transition(tz, t - look, t);
    if (T > t)
        return 0;
    int64_t g0 = wall_of(tz, T - 60) + 1, g1 = wall_of(tz, T);
    bool prev = wall_match(j, g0 - 1), inside = false;
    int64_t start = 0, longest = 0;
    for (int64_t w = g0; w <= g1; w++) {
        bool cur = wall_match(j, w);
        if (cur && !prev) {
            inside = w < g1;
            start = w;
        }
        if (!cur && prev && inside && w - start > longest)
            longest = w - start;
        prev = cur;
        if (w == g1)
            break;
    }
    *jump = T;
    return longest > 0 && t < T + longest * 60 ? T + longest * 60 : 0;
}

static bool held(const struct ctl_cron_job *j, const struct ctl_tz *tz, int64_t t)
{
    int64_t jump;
    return wall_match(j, effective_wall(tz, t)) || gap_hold_end(j, tz, t, &jump) != 0;
}

int64_t ctl_cron_job_next_change(const struct ctl_cron_job *j, const struct ctl_tz *tz, int64_t t)
{
    bool s0 = held(j, tz, t);
    int64_t u = floor_div(t, 60) * 60 + 60;
    for (int iter = 0; iter < 64; iter++) {
        if (held(j, tz, u) != s0)
            return u;
        int64_t e = effective_wall(tz, u);
        int64_t w = scan(j, e + 1, +1, !s0, s0 ? WINDOW_SCAN_DAYS : FIRE_SCAN_DAYS);
        if (w == CTL_CRON_NEVER)
            return CTL_CRON_NEVER;
        int64_t c = first_reading(tz, w, u), jump;
        int64_t g = s0 ? gap_hold_end(j, tz, u, &jump) : 0;
        if (g && g < c)
            c = g;
        /* The candidate is no later than the change; a jump or a repeated
         * time between may make it an instant of no change: go on from it. */
        u = c > u ? c : u + 60;
    }
    return u;
}

bool ctl_cron_job_window(const struct ctl_cron_job *j, const struct ctl_tz *tz, int64_t t,
                         int64_t *start, int64_t *end)
{
    if (!held(j, tz, t))
        return false;
    int64_t u = t;
    *start = CTL_CRON_LONG_AGO;
    for (int iter = 0; iter < 64; iter++) {
        int64_t jump = 0, c;
        int64_t e = effective_wall(tz, u);
        if (wall_match(j, e)) {
            int64_t w = scan(j, e, -1, false, WINDOW_SCAN_DAYS);
            if (w == CTL_CRON_LONG_AGO)
                break;
            c = first_reading(tz, w + 1, (w + 1) * 60 - 2 * DAY_S);
            if (c > u)
                c = floor_div(u, 60) * 60;
        } else if (gap_hold_end(j, tz, u, &jump)) {
            c = jump;
        } else {
            break;
        }
        if (!held(j, tz, c - 60)) {
            *start = c;
            break;
        }
        u = c - 60;
    }
    *end = ctl_cron_job_next_change(j, tz, t);
    return true;
}

/* A bare expression as a job, for next/prev fire. */
static void as_job(const struct ctl_cron *c, struct ctl_cron_job *j)
{
    memset(j, 0, sizeof(*j));
    j->schedule = *c;
}

int64_t ctl_cron_next(const struct ctl_cron *c, const struct ctl_tz *tz, int64_t t)
{
    struct ctl_cron_job j;
    as_job(c, &j);
    int64_t w = effective_wall(tz, t) + 1;
    for (int iter = 0; iter < 1000; iter++) {
        w = scan(&j, w, +1, true, FIRE_SCAN_DAYS);
        if (w == CTL_CRON_NEVER)
            return CTL_CRON_NEVER;
        int64_t ins[2], gap = 0;
        int n = local_instants(tz, w * 60, ins, &gap);
        int64_t fire = n == 0 ? gap : ins[0]; /* a repeated minute fires at its first pass */
        if (fire > t)
            return fire;
        w++;
    }
    return CTL_CRON_NEVER;
}

int64_t ctl_cron_prev(const struct ctl_cron *c, const struct ctl_tz *tz, int64_t t)
{
    struct ctl_cron_job j;
    as_job(c, &j);
    /* From the minute after the latest the clock has read: a jump forward may
     * put a fire in a later wall minute, a repeated time an earlier one. */
    int64_t w = effective_wall(tz, t) + 1;
    for (int iter = 0; iter < 1000; iter++) {
        w = scan(&j, w, -1, true, FIRE_SCAN_DAYS);
        if (w == CTL_CRON_LONG_AGO)
            return CTL_CRON_LONG_AGO;
        int64_t ins[2], gap = 0;
        int n = local_instants(tz, w * 60, ins, &gap);
        int64_t fire = n == 0 ? gap : ins[0];
        if (fire <= t)
            return fire;
        w--;
    }
    return CTL_CRON_LONG_AGO;
}

/* ------------------------------------------------------------------------ */
/* The jobs together                                                        */

void ctl_cron_state_at(const struct ctl_cron_job *jobs, size_t n, long long replicas,
                       const struct ctl_tz *tz, int64_t t, struct ctl_cron_state *out)
{
    out->job = -1;
    out->replicas = out->min_replicas = out->max_replicas = replicas;
    out->since = CTL_CRON_LONG_AGO;
    out->next_change = CTL_CRON_NEVER;
    for (size_t i = 0; i < n; i++) {
        int64_t start, end;
        if (ctl_cron_job_window(&jobs[i], tz, t, &start, &end)) {
            if (end < out->next_change)
                out->next_change = end;
            if (out->job < 0 || start > out->since) {
                out->job = (int)i;
                out->since = start;
            }
        } else {
            int64_t next = ctl_cron_job_next_change(&jobs[i], tz, t);
            if (next < out->next_change)
                out->next_change = next;
        }
    }
    if (out->job >= 0) {
        const struct ctl_cron_job *j = &jobs[out->job];
        out->replicas = j->target_replicas;
        out->min_replicas = j->min_replicas;
        out->max_replicas = j->max_replicas;
    }
}
