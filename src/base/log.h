/* log.h - one line per event on stderr: "ts level sub message key=value...",
 * or, after log_set_format("json"), one JSON object per line:
 * {"ts":"...","level":"info","sub":"api","msg":"..."}.
 * The level is checked before any formatting happens. Thread-safe. A line is
 * always one line: the formatted message is escaped with log_escape(), so a
 * logged value cannot end it early or forge the next one. */
#ifndef BERTH_LOG_H
#define BERTH_LOG_H

#include <stddef.h>

enum log_level { LOG_ERROR = 0, LOG_WARN, LOG_INFO, LOG_DEBUG };

extern int log_level_current;

/* Parse "error", "warn", "info" or "debug"; returns 0 or ERR_INVALID. */
int log_set_level(const char *name);
/* Parse "text" or "json"; returns 0 or ERR_INVALID. Call before threads start. */
int log_set_format(const char *name);
void log_write(enum log_level level, const char *sub, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Copy the 'len' bytes at 'src' into 'dst', which has room for 'cap' bytes,
 * escaping what would break or disguise a log line: '\n', '\r' and '\t' as
 * "\n", "\r" and "\t", '\\' as "\\", other C0 controls (NUL and ESC included)
 * and DEL as "\xHH". Bytes from 0x80 on are kept, so UTF-8 stays readable.
 * The escaping is reversible. It stops before a byte whose escape does not
 * fit; returns the bytes written and, if 'used' is not NULL, sets it to the
 * source bytes consumed. Does not NUL-terminate. Pure. */
size_t log_escape(char *dst, size_t cap, const char *src, size_t len, size_t *used);

/* Like log_escape(), for a JSON string's contents: '"' and '\\' escaped,
 * controls as \n, \r, \t or \u00HH, well-formed UTF-8 kept and any other
 * byte as \ufffd. Stops before what does not fit; does not NUL-terminate. */
size_t log_escape_json(char *dst, size_t cap, const char *src, size_t len);

#define log_at(lvl, sub, ...)                                                                      \
    do {                                                                                           \
        if ((int)(lvl) <= log_level_current)                                                       \
            log_write((lvl), (sub), __VA_ARGS__);                                                  \
    } while (0)
#define log_error(sub, ...) log_at(LOG_ERROR, sub, __VA_ARGS__)
#define log_warn(sub, ...) log_at(LOG_WARN, sub, __VA_ARGS__)
#define log_info(sub, ...) log_at(LOG_INFO, sub, __VA_ARGS__)
#define log_debug(sub, ...) log_at(LOG_DEBUG, sub, __VA_ARGS__)

#endif
