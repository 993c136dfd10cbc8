/* metrics.h - request counters and latency histograms by model, version and
 * API, rendered in the Prometheus text format with the models' load states.
 * Recording is thread-safe. */
#ifndef BERTH_SERVE_METRICS_H
#define BERTH_SERVE_METRICS_H

#include <stdint.h>

#include "base/buf.h"
#include "serve/repo.h"

/* 'model' may be "" when the request named no known model; 'version' 0 then. */
void serve_metrics_record(const char *model, int64_t version, const char *api, int status,
                          double seconds);
void serve_metrics_render(struct buf *out, const struct serve_snapshot *snap);
/* Drop every series (tests, and process exit under LeakSanitizer). */
void serve_metrics_reset(void);

#endif
