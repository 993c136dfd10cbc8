/* arena.h - bump allocation freed in one call, for request-scoped work
 * (nginx pools, h2o mem pools). Not thread-safe: one owner at a time. */
#ifndef BERTH_ARENA_H
#define BERTH_ARENA_H

#include <stddef.h>

struct arena_chunk;

struct arena {
    struct arena_chunk *head;
    size_t chunk_bytes;
};

void arena_init(struct arena *a, size_t chunk_bytes);
/* Free every allocation at once; the arena can be used again. */
void arena_release(struct arena *a);
/* Memory aligned for any type; never NULL (aborts on OOM). */
void *arena_alloc(struct arena *a, size_t n);
void *arena_calloc(struct arena *a, size_t count, size_t size);
char *arena_strndup(struct arena *a, const char *s, size_t n);

#endif
