/* alloc.h - allocation that never returns NULL.
 * Out of memory is not a condition Berth handles: it logs and aborts, and the
 * supervisor restarts the process (redis zmalloc, tmux xmalloc). */
#ifndef BERTH_ALLOC_H
#define BERTH_ALLOC_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* Like asprintf(), aborting on failure. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
