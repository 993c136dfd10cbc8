/* takeover.h - a berthd handing over to its successor without refusing a
 * connection (nginx's binary upgrade): on SIGUSR2 the running berthd starts
 * the binary installed at its own path with its own arguments and its two
 * listening sockets, waits until the successor has read its configuration,
 * then stops accepting, finishes the requests in flight and exits, leaving
 * the instances running. The successor waits for the data directory's lock,
 * adopts the instances and accepts on the same sockets: clients that connect
 * meanwhile wait in the listen queue. The same inheritance takes sockets
 * from systemd's socket activation (LISTEN_FDS, names "api" and "gateway").
 * Main thread only. Fallible calls return 0 or a negative ERR_* code. */
#ifndef BERTH_BERTHD_TAKEOVER_H
#define BERTH_BERTHD_TAKEOVER_H

#include <stdbool.h>
#include <sys/types.h>

#include "base/err.h"

struct takeover_inherited {
    int api_fd, gateway_fd; /* listening sockets, close-on-exec; -1: none */
    int ready_fd;           /* the predecessor waits for a byte here; -1: none */
    bool successor;         /* started by a predecessor that still holds the lock */
};

/* Read what the environment hands over (and clear its variables, so that
 * nothing started later sees them). */
int takeover_inherit(struct takeover_inherited *out, struct err *err);
/* Tell the predecessor that the configuration was read (closes ready_fd). */
void takeover_ready(struct takeover_inherited *in);

/* Start the successor: 'exe' with 'argv', the two listeners as descriptors 3
 * and 4. *ready_fd gets the read end of the pipe the successor writes to once
 * it has read its configuration (EOF without a byte: it failed). */
int takeover_spawn(const char *exe, char *const argv[], int api_fd, int gateway_fd, pid_t *pid,
                   int *ready_fd, struct err *err);

/* The binary berthd runs from, as a path (what is installed there now). */
char *takeover_self_exe(void);

#endif
