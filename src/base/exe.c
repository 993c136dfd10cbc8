/* exe.c - paths beside the running binary: berthd finds berth-serve there,
 * berth-serve its torch module. */
#include "base/exe.h"

#include "base/alloc.h"

#include <string.h>
#include <unistd.h>

char *exe_beside(const char *rel)
{
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0)
        return NULL;
    self[n] = '\0';
    /* A replaced binary reads "<path> (deleted)": only its last part changes. */
    char *slash = strrchr(self, '/');
    if (slash)
        *slash = '\0';
    return xasprintf("%s/%s", self, rel);
}
