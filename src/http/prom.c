/* prom.c - the Prometheus text format writer. Samples are formatted by hand
 * rather than with one printf per line: a scrape of a busy berthd writes
 * thousands of them on an API worker. */
#include "http/prom.h"
#include "http/server.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *type_name(enum prom_type t)
{
    switch (t) {
    case PROM_COUNTER:
        return "counter";
    case PROM_GAUGE:
        return "gauge";
    case PROM_HISTOGRAM:
        return "histogram";
    default:
        return "untyped";
    }
}

/* HELP text escapes only backslash and newline (a quote stays as it is). */
static void escape(struct buf *out, const char *s, int quotes)
{
    const char *run = s;
    for (; *s; s++) {
        const char *rep = *s == '\\'            ? "\\\\"
                          : *s == '\n'          ? "\\n"
                          : quotes && *s == '"' ? "\\\""
                                                : NULL;
        if (!rep)
            continue;
        buf_append(out, run, (size_t)(s - run));
        buf_puts(out, rep);
        run = s + 1;
    }
    buf_append(out, run, (size_t)(s - run));
}

void prom_escape_value(struct buf *out, const char *value)
{
    escape(out, value ? value : "", 1);
}

void prom_family(struct buf *out, const char *name, enum prom_type type, const char *help)
{
    buf_puts(out, "# HELP ");
    buf_puts(out, name);
    buf_putc(out, ' ');
    escape(out, help, 0);
    buf_puts(out, "\n# TYPE ");
    buf_puts(out, name);
    buf_putc(out, ' ');
    buf_puts(out, type_name(type));
    buf_putc(out, '\n');
}

/* 'v' as the format spells it, into 'text' (32 bytes); returns the length. */
static size_t fmt_double(char *text, double v)
{
    if (isnan(v))
        return (size_t)snprintf(text, 32, "NaN");
    if (isinf(v))
        return (size_t)snprintf(text, 32, "%s", v > 0 ? "+Inf" : "-Inf");
    if (v == floor(v) && fabs(v) < 9007199254740992.0) /* 2^53: exact as an integer */
        return (size_t)snprintf(text, 32, "%lld", (long long)v);
    /* The fewest digits that read back as the same double. */
    int n = 0;
    for (int prec = 15; prec <= 17; prec++) {
        n = snprintf(text, 32, "%.*g", prec, v);
        if (strtod(text, NULL) == v)
            break;
    }
    return (size_t)n;
}

void prom_put_double(struct buf *out, double v)
{
    char text[32];
    buf_append(out, text, fmt_double(text, v));
}

static void put_labels(struct buf *out, const struct prom_label *labels, size_t n, const char *le)
{
    if (!n && !le)
        return;
    buf_putc(out, '{');
    for (size_t i = 0; i < n; i++) {
        if (i)
            buf_putc(out, ',');
        buf_puts(out, labels[i].name);
        buf_puts(out, "=\"");
        prom_escape_value(out, labels[i].value);
        buf_putc(out, '"');
    }
    if (le) {
        buf_puts(out, n ? ",le=\"" : "le=\"");
        buf_puts(out, le);
        buf_putc(out, '"');
    }
    buf_putc(out, '}');
}

void prom_sample(struct buf *out, const char *name, const struct prom_label *labels, size_t nlabels,
                 double value)
{
    buf_puts(out, name);
    put_labels(out, labels, nlabels, NULL);
    buf_putc(out, ' ');
    prom_put_double(out, value);
    buf_putc(out, '\n');
}

void prom_sample_u64(struct buf *out, const char *name, const struct prom_label *labels,
                     size_t nlabels, uint64_t value)
{
    buf_puts(out, name);
    put_labels(out, labels, nlabels, NULL);
    buf_putc(out, ' ');
    http_put_uint(out, value);
    buf_putc(out, '\n');
}

static void series_name(char *dst, size_t size, const char *name, const char *suffix)
{
    snprintf(dst, size, "%s%s", name, suffix);
}

void prom_histogram(struct buf *out, const char *name, const struct prom_label *labels,
                    size_t nlabels, const double *bounds, const uint64_t *counts, size_t nbounds,
                    double sum)
{
    char series[160], le[32];
    series_name(series, sizeof(series), name, "_bucket");
    uint64_t total = 0;
    for (size_t b = 0; b <= nbounds; b++) {
        total += counts[b];
        if (b < nbounds)
            fmt_double(le, bounds[b]);
        else
            snprintf(le, sizeof(le), "+Inf");
        buf_puts(out, series);
        put_labels(out, labels, nlabels, le);
        buf_putc(out, ' ');
        http_put_uint(out, total);
        buf_putc(out, '\n');
    }
    series_name(series, sizeof(series), name, "_sum");
    prom_sample(out, series, labels, nlabels, sum);
    series_name(series, sizeof(series), name, "_count");
    prom_sample_u64(out, series, labels, nlabels, total);
}
