/* line.h - one line an instance printed: what the capture path hands to the
 * log store (logs/store) and to delivery (logs/deliver). The capture path
 * makes lines safe before anyone sees them: no newline, binary and control
 * bytes escaped, at most LOGS_LINE_MAX bytes (longer output is split into
 * several lines, nothing is lost). Nothing here is owned: a consumer copies
 * what it keeps before it returns. */
#ifndef BERTH_LOGS_LINE_H
#define BERTH_LOGS_LINE_H

#include <stddef.h>
#include <stdint.h>

#define LOGS_LINE_MAX 16384

enum logs_stream { LOGS_STDOUT = 1, LOGS_STDERR = 2 };

struct logs_line {
    int64_t time_us;        /* when berthd read it, Unix microseconds */
    const char *group_id;   /* the service group, "ms-..." */
    const char *service_id; /* the version, "ms-...-1" */
    const char *pod;        /* the instance, as PodInfos[].Name */
    enum logs_stream stream;
    const char *text; /* 'len' bytes, not NUL-terminated */
    size_t len;
};

#endif
