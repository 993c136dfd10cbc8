/* notify.h - tell a service manager how berthd is doing: systemd's
 * sd_notify(3) protocol (a datagram to $NOTIFY_SOCKET), for Type=notify
 * units. Without $NOTIFY_SOCKET nothing is sent. */
#ifndef BERTH_BERTHD_NOTIFY_H
#define BERTH_BERTHD_NOTIFY_H

/* Send 'state' ("READY=1", "STOPPING=1", "STATUS=..."); returns 0, or a
 * negative errno when there is a socket and the message did not go. */
int notify_send(const char *state);

#endif
