/* capture.h - every instance's stdout and stderr, line by line, into the log
 * store. berthd makes one pipe per stream for each instance it starts; a
 * capture thread of its own (named "berthd-logs", at nice 19) reads them on
 * its own libuv loop, cuts and escapes the lines (line.h), writes them to the
 * store in batched transactions and then hands each to the on_line hook.
 *
 * Backpressure, not drops: while the thread writes a batch (at most 4096
 * lines or 4 MiB) it reads nothing, so an instance that prints faster than
 * the store takes its lines fills its pipe and blocks in write(2) until the
 * store catches up. berthd's memory stays bounded (a batch, 16 KiB per stream
 * being cut), the gateway's threads and the main loop never touch a line,
 * and no line is lost unless the store itself fails (counted as dropped).
 *
 * logs_capture_new/free and logs_capture_open are for the main thread; the
 * hook and the stats may be read from any thread. */
#ifndef BERTH_LOGS_CAPTURE_H
#define BERTH_LOGS_CAPTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "base/buf.h"
#include "logs/line.h"

struct logs_capture;

/* Called on the capture thread for every line right after the transaction
 * that stored it committed (or failed: the line then counts as dropped from
 * the store, but still comes here), in the order each stream printed them.
 * It must not block: copy what it keeps (nothing in 'line' is owned) and
 * queue it. Delivery (logs/deliver) hangs here. */
typedef void logs_line_fn(void *arg, const struct logs_line *line);

struct logs_config {
    const char *db_path;   /* the store, e.g. DIR/logs.db */
    int64_t retention_us;  /* lines older than this go; 0: kept */
    int64_t max_bytes;     /* the store's size cap (oldest lines go first); 0: none */
    logs_line_fn *on_line; /* may be NULL; see logs_capture_set_hook() */
    void *on_line_arg;
};

/* Open the store and start the capture thread. */
int logs_capture_new(const struct logs_config *cfg, struct logs_capture **out, struct err *err);
/* Read what is left in every pipe, store it (a last unterminated line
 * included), stop the thread, close the store. Accepts NULL. */
void logs_capture_free(struct logs_capture *c);
/* Set (or clear, with NULL) the hook; takes effect from the next line. */
void logs_capture_set_hook(struct logs_capture *c, logs_line_fn *fn, void *arg);

/* Capture one instance: makes a pipe for stdout and one for stderr and puts
 * their write ends in fds[0] and fds[1] (close-on-exec), which the caller
 * hands to the instance (drv_spawn.out_fd/err_fd) and then closes, whether the
 * spawn worked or not. The capture reads until every holder of the write ends
 * has closed them. */
int logs_capture_open(struct logs_capture *c, const char *group_id, const char *service_id,
                      const char *pod, int fds[2], struct err *err);

/* logs_capture_open(), and when 'held' is not NULL, a copy of each read end
 * in held[0] and held[1] (close-on-exec) for the instance's keeper to hold,
 * so that the instance can write while no berthd reads (drivers/process.h);
 * the caller closes them after the spawn. */
int logs_capture_open_held(struct logs_capture *c, const char *group_id, const char *service_id,
                           const char *pod, int fds[2], int held[2], struct err *err);
/* Read an instance again after a restart: 'fds' are read ends of its stdout
 * and stderr (drv_keeper_pipes()); the capture owns them from here. */
void logs_capture_attach(struct logs_capture *c, const char *group_id, const char *service_id,
                         const char *pod, const int fds[2]);

struct logs_stats {
    uint64_t lines_stored;  /* lines committed to the store since start */
    uint64_t bytes_stored;  /* their text's bytes */
    uint64_t lines_dropped; /* lines the store failed to take */
    uint64_t lines_trimmed; /* lines the retention and the cap removed */
    int64_t store_bytes;    /* the store's size in use, as last measured */
    uint64_t sources_open;  /* streams being read */
};
/* Any thread. */
void logs_capture_stats(struct logs_capture *c, struct logs_stats *out);
/* The stats as Prometheus families (berth_log_*), for ctl_metrics_add() with
 * the capture as 'ud'. Any thread. */
void logs_capture_write_metrics(struct buf *out, void *ud);

/* Escape up to 'n' bytes of output for a line: valid UTF-8 and tab are kept,
 * other control bytes, DEL and bytes that are not UTF-8 become \xNN. Writes
 * at most 'cap' bytes to 'out' and returns how many; *used gets how many input
 * bytes went. Unless 'final', an incomplete UTF-8 sequence at the end of the
 * input is left (it may complete in the next read). Pure; for tests. */
size_t logs_escape(const unsigned char *in, size_t n, bool final, char *out, size_t cap,
                   size_t *used);

/* The line cutter behind each stream, exposed for tests: feed it bytes and
 * it calls 'emit' for every complete line (escaped, at most LOGS_LINE_MAX). */
struct logs_cutter {
    unsigned char raw[LOGS_LINE_MAX];
    size_t len;
    bool split; /* the line so far was already emitted in part */
    void (*emit)(void *arg, const char *text, size_t len);
    void *arg;
};
void logs_cutter_feed(struct logs_cutter *k, const char *data, size_t n);
/* End of input: the last line, if unterminated, goes out. */
void logs_cutter_finish(struct logs_cutter *k);

#endif
