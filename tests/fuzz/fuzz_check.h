/* fuzz_check.h - FUZZ_CHECK(cond): a fuzz target's invariant, checked in
 * every build (assert() may be compiled out); a failure aborts with its line. */
#ifndef BERTH_FUZZ_CHECK_H
#define BERTH_FUZZ_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond);           \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#endif
