/* deliver.h - delivery of services' lines to the log systems an operator
 * defines (sinks), for services with LogEnable. A sink is named by the ids
 * a LogConfig carries and speaks syslog: RFC 5424 messages in RFC 6587
 * octet-counting frames over TCP, or over TLS (RFC 5425).
 *
 *   log-sink = LOGSET/TOPIC syslog+tcp://HOST:PORT [facility=F]
 *   log-sink = LOGSET/TOPIC syslog+tls://HOST:PORT [ca=FILE] [cert=FILE key=FILE]
 *                                                  [server-name=NAME] [facility=F]
 *
 * Lines go to a spool on disk per sink first (DIR/log-spool/LOGSET+TOPIC,
 * at most spool_cap_bytes; past it new lines are dropped and counted), and
 * from there to the receiver, in order, resent after a reconnect from the
 * last position the receiver's TCP acknowledged. Delivery runs on a thread
 * of its own with its own libuv loop; the calls below may come from any
 * thread. */
#ifndef BERTH_LOGS_DELIVER_H
#define BERTH_LOGS_DELIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "logs/line.h"

#define LOGS_ID_MAX 64 /* a LogsetId or TopicId: [A-Za-z0-9._-], at most this */

enum logs_transport { LOGS_SYSLOG_TCP = 1, LOGS_SYSLOG_TLS };

/* One 'log-sink' value, parsed. */
struct logs_sink_config {
    char logset[LOGS_ID_MAX + 1], topic[LOGS_ID_MAX + 1];
    enum logs_transport transport;
    char host[256]; /* a name or an address (IPv6 without its brackets) */
    int port;
    int facility;          /* 0..23; default user (1) */
    char server_name[256]; /* TLS: the name the certificate must carry; default host */
    char ca[1024], cert[1024], key[1024]; /* TLS files; "" when not given */
};

/* Parse one 'log-sink' value (syntax above); ERR_INVALID with the reason. Pure. */
int logs_sink_parse(const char *value, struct logs_sink_config *out, struct err *err);

struct logs_deliver_config {
    const char *spool_dir;    /* DIR/log-spool */
    uint64_t spool_cap_bytes; /* per sink */
    const char *const *sinks; /* 'log-sink' values */
    size_t nsinks;
    const char *hostname;  /* HOSTNAME in the messages; NULL: gethostname() */
    uint32_t retry_max_ms; /* the longest wait between reconnects; 0: 5000 */
};

struct logs_deliver;

/* Parse the sinks, open their spools (what a previous berthd left is sent
 * first) and their TLS contexts, and start the delivery thread. With no
 * sink *out is NULL, which every call below accepts. */
int logs_deliver_start(const struct logs_deliver_config *cfg, struct logs_deliver **out,
                       struct err *err);
/* Stop the thread: lines handed over are in the spools, the positions the
 * receivers acknowledged are committed, the connections closed. Frees 'd'. */
void logs_deliver_stop(struct logs_deliver *d);

/* Whether a sink named LOGSET/TOPIC is configured. */
bool logs_deliver_has_sink(const struct logs_deliver *d, const char *logset, const char *topic);
/* The service's LogEnable and LogConfig, as its spec (the store's spec_json)
 * holds them: from now on its lines go to that sink, or nowhere when
 * LogEnable is off, spec_json is NULL (the service is gone) or no sink has
 * those ids. */
void logs_deliver_route(struct logs_deliver *d, const char *service_id, const char *spec_json);
/* One captured line (copied before returning): into its service's sink's
 * spool, or nowhere. Never blocks on the network or the disk: the frame goes
 * to a bounded buffer the delivery thread empties; when that is full the
 * line is dropped and counted. */
void logs_deliver_line(struct logs_deliver *d, const struct logs_line *l);
/* The same as the capture's on_line hook (logs_line_fn): 'arg' is the
 * struct logs_deliver, which may be NULL. */
void logs_deliver_on_line(void *arg, const struct logs_line *l);

struct logs_sink_stats {
    char name[2 * LOGS_ID_MAX + 2]; /* LOGSET/TOPIC */
    uint64_t delivered_lines;       /* acknowledged by the receiver's TCP */
    uint64_t dropped_lines;         /* spool or buffer full */
    uint64_t spooled_bytes;         /* waiting for the receiver */
    bool connected;
};
/* The first 'max' sinks' counters into 'out'; returns how many sinks there are. */
size_t logs_deliver_stats(struct logs_deliver *d, struct logs_sink_stats *out, size_t max);

#endif
