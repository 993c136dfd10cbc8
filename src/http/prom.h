/* prom.h - a writer for Prometheus' text exposition format, version 0.0.4:
 * a family's "# HELP" and "# TYPE" lines, then its samples, each
 * 'name{label="value",...} value'. Label values are escaped (backslash,
 * double quote, newline), help texts too (backslash, newline). Histograms
 * are written from per-bucket counts as the cumulative _bucket{le=...}
 * series with +Inf, then _sum and _count. Everything appends to a struct buf;
 * nothing here allocates but the buffer. */
#ifndef BERTH_HTTP_PROM_H
#define BERTH_HTTP_PROM_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

#define PROM_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

enum prom_type { PROM_COUNTER, PROM_GAUGE, PROM_HISTOGRAM, PROM_UNTYPED };

struct prom_label {
    const char *name; /* [a-zA-Z_][a-zA-Z0-9_]*, not starting with "__" */
    const char *value;
};

/* The "# HELP" and "# TYPE" lines that open family 'name'. Write a family's
 * samples right after its header, and each family once. */
void prom_family(struct buf *out, const char *name, enum prom_type type, const char *help);
/* One sample; 'name' is the family's (or, for a histogram's own series, with
 * its suffix). Values: integers exactly, other doubles in the shortest text
 * that reads back, infinities and NaN as +Inf, -Inf, NaN. */
void prom_sample(struct buf *out, const char *name, const struct prom_label *labels, size_t nlabels,
                 double value);
void prom_sample_u64(struct buf *out, const char *name, const struct prom_label *labels,
                     size_t nlabels, uint64_t value);
/* A histogram's series: 'counts' holds nbounds + 1 non-cumulative counts, one
 * per upper bound in 'bounds' (ascending) and the last one for above them. */
void prom_histogram(struct buf *out, const char *name, const struct prom_label *labels,
                    size_t nlabels, const double *bounds, const uint64_t *counts, size_t nbounds,
                    double sum);
/* A label value, escaped, without the quotes. */
void prom_escape_value(struct buf *out, const char *value);
/* A double as the format spells it. */
void prom_put_double(struct buf *out, double v);

#endif
