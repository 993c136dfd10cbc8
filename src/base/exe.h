/* exe.h - paths beside the running binary (/proc/self/exe). */
#ifndef BERTH_EXE_H
#define BERTH_EXE_H

/* "<directory of the running binary>/<rel>", to free(); NULL when
 * /proc/self/exe cannot be read. */
char *exe_beside(const char *rel);

#endif
