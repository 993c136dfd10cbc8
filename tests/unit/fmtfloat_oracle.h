/* fmtfloat_oracle.h - an independent check of one fmtfloat_write() result, on
 * glibc's correctly rounded printf and strtof (shared by test_fmtfloat.c and
 * bench/fmtfloat_check.c, which runs it on every float).
 *
 * For finite v printed as 'txt' with n significant digits it checks that
 * - strtof(txt) is v, bit for bit;
 * - no decimal of n - 1 digits reads back as v: the nearest such decimal
 *   (printf's %.*e) and its two neighbours on the decimal grid do not (if any
 *   shorter decimal did, one of those three would, as the decimals that read
 *   back as v form an interval around it);
 * - txt is the nearest n-digit decimal to v when that one reads back as v, and
 *   otherwise that decimal's neighbour on the grid;
 * - the layout is printf's %.*g with P = max(6, n) of those digits. */
#ifndef BERTH_FMTFLOAT_ORACLE_H
#define BERTH_FMTFLOAT_ORACLE_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A decimal as an integer of 'n' digits (no leading zero) times 10^exp. */
struct oracle_dec {
    uint64_t m;
    int exp, n;
};

static inline bool oracle_same_float(float a, float b)
{
    return memcmp(&a, &b, sizeof(a)) == 0;
}

/* Parse printf-style text "-d.ddde+XX" or "ddd.ddd" into a decimal (sign dropped). */
static inline bool oracle_parse(const char *s, struct oracle_dec *d)
{
    d->m = 0;
    d->exp = 0;
    d->n = 0;
    if (*s == '-')
        s++;
    bool point = false;
    for (; *s && *s != 'e'; s++) {
        if (*s == '.') {
            point = true;
            continue;
        }
        if (*s < '0' || *s > '9' || d->n >= 19)
            return false;
        if (d->m || *s != '0') {
            d->m = d->m * 10 + (uint64_t)(*s - '0');
            d->n++;
        }
        d->exp -= point;
    }
    if (*s == 'e')
        d->exp += atoi(s + 1);
    while (d->m && d->m % 10 == 0) {
        d->m /= 10;
        d->exp++;
        d->n--;
    }
    return d->m != 0;
}

/* The decimal nearest v with exactly 'n' digits (trailing zeros kept). */
static inline struct oracle_dec oracle_nearest(float v, int n)
{
    char t[64];
    snprintf(t, sizeof(t), "%.*e", n - 1, fabs((double)v));
    struct oracle_dec d = {0, atoi(strchr(t, 'e') + 1) - (n - 1), n};
    for (const char *p = t; *p != 'e'; p++)
        if (*p >= '0' && *p <= '9')
            d.m = d.m * 10 + (uint64_t)(*p - '0');
    return d;
}

static inline uint64_t oracle_pow10(int n)
{
    uint64_t p = 1;
    while (n-- > 0)
        p *= 10;
    return p;
}

/* The next n-digit decimal up (dir 1) or down (dir -1). */
static inline struct oracle_dec oracle_step(struct oracle_dec d, int dir)
{
    d.m += (uint64_t)(int64_t)dir;
    if (d.m == oracle_pow10(d.n)) {
        d.m /= 10;
        d.exp++;
    } else if (d.m < oracle_pow10(d.n - 1)) {
        d.m = d.m * 10 + 9;
        d.exp--;
    }
    return d;
}

static inline bool oracle_reads_back(struct oracle_dec d, float v)
{
    /* "[-]<m>e<exp>", by hand: snprintf would double the cost of a check. */
    char t[48], *p = t + sizeof(t);
    int e = d.exp;
    unsigned ae = e < 0 ? (unsigned)-e : (unsigned)e;
    *--p = '\0';
    do
        *--p = (char)('0' + ae % 10);
    while (ae /= 10);
    if (e < 0)
        *--p = '-';
    *--p = 'e';
    uint64_t m = d.m;
    do
        *--p = (char)('0' + m % 10);
    while (m /= 10);
    if (signbit(v))
        *--p = '-';
    return oracle_same_float(strtof(p, NULL), v);
}

static inline bool oracle_equal(struct oracle_dec a, struct oracle_dec b)
{
    /* Compare as values: strip trailing zeros. */
    while (a.m && a.m % 10 == 0) {
        a.m /= 10;
        a.exp++;
    }
    while (b.m && b.m % 10 == 0) {
        b.m /= 10;
        b.exp++;
    }
    return a.m == b.m && a.exp == b.exp;
}

/* 0 if 'txt' is right for finite non-zero 'v'; else 1 and a reason in 'why'.
 * *ndigits gets the text's significant digits and *as_double strtod's value. */
static inline int oracle_check(float v, const char *txt, char *why, size_t whylen, int *ndigits,
                               double *as_double)
{
    struct oracle_dec d;
    if (!oracle_parse(txt, &d) || (txt[0] == '-') != (signbit(v) != 0))
        return snprintf(why, whylen, "unparsable text"), 1;
    *ndigits = d.n;
    *as_double = strtod(txt, NULL);
    if (!oracle_same_float(strtof(txt, NULL), v))
        return snprintf(why, whylen, "does not read back"), 1;
    if (d.n > 1) {
        struct oracle_dec r = oracle_nearest(v, d.n - 1);
        if (oracle_reads_back(r, v) || oracle_reads_back(oracle_step(r, 1), v) ||
            oracle_reads_back(oracle_step(r, -1), v))
            return snprintf(why, whylen, "a %d-digit decimal reads back too", d.n - 1), 1;
    }
    struct oracle_dec r = oracle_nearest(v, d.n);
    if (oracle_reads_back(r, v)
            ? !oracle_equal(r, d)
            : !oracle_equal(oracle_step(r, 1), d) && !oracle_equal(oracle_step(r, -1), d))
        return snprintf(why, whylen, "not the nearest %d-digit decimal (%llue%d)", d.n,
                        (unsigned long long)r.m, r.exp),
               1;
    char g[64];
    snprintf(g, sizeof(g), "%.*g", d.n > 6 ? d.n : 6, *as_double);
    if (strcmp(g, txt) != 0)
        return snprintf(why, whylen, "layout differs from %%g's '%s'", g), 1;
    return 0;
}

/* buf_json_float's float32 text before fmtfloat (issue 7): the first of %.6g to
 * %.9g that reads back through strtod, the reference for tests and the bench. */
static inline size_t oracle_old_text(char *tmp, size_t size, float f)
{
    double v = f;
    int n = 0;
    for (int prec = 6; prec <= 9; prec++) {
        n = snprintf(tmp, size, "%.*g", prec, v);
        if ((float)strtod(tmp, NULL) == (float)v)
            break;
    }
    return (size_t)n;
}

#endif
