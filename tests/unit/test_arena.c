/* test_arena.c - the bump allocator: alignment, big blocks, reuse after release. */
#include "harness.h"

#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"

TEST(alloc_is_aligned_and_writable)
{
    struct arena a;
    arena_init(&a, 256);
    for (size_t n = 0; n < 300; n++) {
        unsigned char *p = arena_alloc(&a, n);
        CHECK(p != NULL);
        CHECK_EQ_INT((uintptr_t)p % alignof(max_align_t), 0);
        memset(p, 0xab, n); /* ASan checks the size */
    }
    arena_release(&a);
}

TEST(allocations_do_not_overlap)
{
    struct arena a;
    arena_init(&a, 1024);
    enum { N = 500 };
    unsigned char *ptrs[N];
    size_t sizes[N];
    for (int i = 0; i < N; i++) {
        sizes[i] = (size_t)(i * 37 % 700) + 1; /* some above chunk_bytes / 4 */
        ptrs[i] = arena_alloc(&a, sizes[i]);
        memset(ptrs[i], i & 0xff, sizes[i]);
    }
    for (int i = 0; i < N; i++)
        for (size_t k = 0; k < sizes[i]; k++)
            CHECK_EQ_INT(ptrs[i][k], i & 0xff);
    arena_release(&a);
}

TEST(big_blocks_keep_the_current_chunk)
{
    struct arena a;
    arena_init(&a, 4096);
    char *small1 = arena_alloc(&a, 16);
    char *big = arena_alloc(&a, 100000);
    char *small2 = arena_alloc(&a, 16);
    memset(big, 1, 100000);
    /* The small allocations share the regular chunk. */
    CHECK(small2 == small1 + 16);
    arena_release(&a);
}

TEST(calloc_zeroes_and_strndup_terminates)
{
    struct arena a;
    arena_init(&a, 0); /* default chunk size */
    int *z = arena_calloc(&a, 100, sizeof(int));
    for (int i = 0; i < 100; i++)
        CHECK_EQ_INT(z[i], 0);
    char *s = arena_strndup(&a, "hello world", 5);
    CHECK_STR_EQ(s, "hello");
    char *e = arena_strndup(&a, "", 0);
    CHECK_STR_EQ(e, "");
    char *nul = arena_strndup(&a, "a\0b", 3);
    CHECK(memcmp(nul, "a\0b\0", 4) == 0);
    arena_release(&a);
}

TEST(release_then_reuse)
{
    struct arena a;
    arena_init(&a, 128);
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 100; i++)
            memset(arena_alloc(&a, 100), round, 100);
        arena_release(&a);
        CHECK(a.head == NULL);
    }
    arena_release(&a); /* releasing an empty arena is fine */
}
