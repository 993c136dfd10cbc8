/* err.h - error codes and the optional one-line context that travels with them.
 * 0 is success; system errors are -errno (ERR_SYS); project codes sit below -4096. */
#ifndef BERTH_ERR_H
#define BERTH_ERR_H

#include <errno.h>

#define ERR_SYS(e) (-(e))

enum err_code {
    ERR_OK = 0,
    ERR_AGAIN = -4097,   /* would block; never logged as a failure */
    ERR_INVALID = -4098, /* malformed or out-of-range input */
    ERR_NOTFOUND = -4099,
    ERR_TOOBIG = -4100, /* a capped buffer or count would be exceeded */
    ERR_EXISTS = -4101,
    ERR_UNAVAILABLE = -4102, /* not ready yet, try later */
    ERR_INTERNAL = -4103,
    ERR_UNSUPPORTED = -4104,
};

struct err {
    int code;
    char msg[256];
};

/* Record 'code' and a formatted reason in 'e' (which may be NULL); returns 'code'. */
int err_set(struct err *e, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Prefix the message already in 'e' with a formatted context; returns e->code. */
int err_prefix(struct err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const char *err_name(int code);
const char *err_str(int code);

#endif
