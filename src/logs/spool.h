/* spool.h - one sink's frames on disk until its receiver has them: a
 * directory of append-only segment files, each named by the position (the
 * byte offset in the whole stream since the spool was made) of its first
 * byte, and a 'commit' file holding the position up to which the receiver
 * has everything. A position is always at a frame boundary. Segments wholly
 * before the commit are deleted, so the disk holds at most cap_bytes plus one
 * segment. One thread at a time. Fallible calls return 0 or a negative ERR_*
 * code and fill 'err' when it is not NULL. */
#ifndef BERTH_LOGS_SPOOL_H
#define BERTH_LOGS_SPOOL_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

struct logs_spool;

/* Open the spool in 'dir' (made if missing) that holds at most 'cap_bytes'
 * of frames not yet committed. What an earlier process left is kept: a torn
 * frame at the end (a crash mid-write) is cut off. */
int logs_spool_open(const char *dir, uint64_t cap_bytes, struct logs_spool **out, struct err *err);
/* Accepts NULL. */
void logs_spool_close(struct logs_spool *s);
/* Append whole frames. ERR_TOOBIG, and nothing written, when the spool
 * would hold more than its cap. */
int logs_spool_append(struct logs_spool *s, const void *frames, size_t len, struct err *err);
/* Whole frames from position 'pos' (a frame boundary at or after the
 * commit), at most 'cap' bytes (cap >= LOGS_SYSLOG_FRAME_MAX), never across
 * segments: *got bytes and *nframes frames, both 0 at the end. */
int logs_spool_read(struct logs_spool *s, uint64_t pos, char *buf, size_t cap, size_t *got,
                    size_t *nframes, struct err *err);
/* The receiver has everything before 'pos': persist it (a write and a
 * rename, no fsync) and delete the segments it passed. */
int logs_spool_commit(struct logs_spool *s, uint64_t pos, struct err *err);
uint64_t logs_spool_committed(const struct logs_spool *s);
uint64_t logs_spool_end(const struct logs_spool *s);

#endif
