/* log.h - one line per event on stderr: "ts level sub message key=value...".
 * The level is checked before any formatting happens. Thread-safe. */
#ifndef BERTH_LOG_H
#define BERTH_LOG_H

enum log_level { LOG_ERROR = 0, LOG_WARN, LOG_INFO, LOG_DEBUG };

extern int log_level_current;

/* Parse "error", "warn", "info" or "debug"; returns 0 or ERR_INVALID. */
int log_set_level(const char *name);
void log_write(enum log_level level, const char *sub, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

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
