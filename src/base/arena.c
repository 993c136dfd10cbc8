/* arena.c - chunked bump allocator. Large requests get a chunk of their own so
 * that one big tensor does not waste the rest of a regular chunk. */
#include "base/arena.h"
#include "base/alloc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct arena_chunk {
    struct arena_chunk *next;
    size_t used, size;
    _Alignas(max_align_t) unsigned char data[];
};

void arena_init(struct arena *a, size_t chunk_bytes)
{
    a->head = NULL;
    a->chunk_bytes = chunk_bytes ? chunk_bytes : 4096;
}

void arena_release(struct arena *a)
{
    struct arena_chunk *c = a->head;
    while (c) {
        struct arena_chunk *next = c->next;
        free(c);
        c = next;
    }
    a->head = NULL;
}

void *arena_alloc(struct arena *a, size_t n)
{
    const size_t align = _Alignof(max_align_t);
    n = (n + align - 1) & ~(align - 1);
    if (n == 0)
        n = align;
    struct arena_chunk *c = a->head;
    if (c && c->size - c->used >= n) {
        void *p = c->data + c->used;
        c->used += n;
        return p;
    }
    if (n > SIZE_MAX - sizeof(*c))
        abort();
    size_t size = n > a->chunk_bytes / 4 ? n : a->chunk_bytes;
    struct arena_chunk *nc = xmalloc(sizeof(*nc) + size);
    nc->size = size;
    nc->used = n;
    if (c && size == n) {
        /* A dedicated chunk goes behind the current one, which still has room. */
        nc->next = c->next;
        c->next = nc;
    } else {
        nc->next = c;
        a->head = nc;
    }
    return nc->data;
}

void *arena_calloc(struct arena *a, size_t count, size_t size)
{
    if (size && count > SIZE_MAX / size)
        abort();
    void *p = arena_alloc(a, count * size);
    memset(p, 0, count * size);
    return p;
}

char *arena_strndup(struct arena *a, const char *s, size_t n)
{
    char *p = arena_alloc(a, n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}
