/* deliver.c - syslog sinks: a producer side that any thread calls (routes
 * and a bounded buffer of frames per sink, under one mutex) and a delivery
 * thread with its own libuv loop that moves the frames to the sink's spool
 * and from the spool to the receiver.
 *
 * What counts as delivered. Syslog over TCP has no acknowledgement of its
 * own, so Berth takes the receiver's TCP acknowledgements: the bytes written
 * that have left the socket's send queue (SIOCOUTQ), mapped back to the
 * spool position of the last whole write they cover. Every write is whole
 * frames, so a position is always at a frame boundary. After a connection
 * ends, sending starts again:
 *   - from the acknowledged position when the receiver closed in order (EOF
 *     or TLS close_notify: a receiver closes in order only with nothing left
 *     unread, so what its TCP acknowledged it has read);
 *   - from the committed position otherwise (a reset, a timeout, an error),
 *     which trails the acknowledged one by one to two seconds: a receiver
 *     that dies with acknowledged bytes unread in its socket loses them, and
 *     this sends them again.
 * So nothing is lost, and what is duplicated is bounded: the frames
 * acknowledged in the last two seconds before a failed connection (or before
 * berthd was killed), and never more than WINDOW_BYTES at a time were out
 * unacknowledged. */
#include "logs/deliver.h"
#include "base/alloc.h"
#include "base/buf.h"
#include "base/crypto.h"
#include "base/log.h"
#include "logs/spool.h"
#include "logs/syslog.h"

#include <inttypes.h>
#include <jansson.h>
#include <linux/sockios.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <uv.h>

/* Frames waiting for the thread, per sink: more than the capture hands over
 * at once (a batch of at most 4096 lines and 4 MiB of text, each line with a
 * header of ~200 bytes), so a burst is not dropped while the thread is busy. */
#define PENDING_BYTES (8 << 20)
#define CHUNK_BYTES (64 * 1024)   /* plain bytes per write, whole frames */
#define WINDOW_BYTES (256 * 1024) /* sent and not acknowledged, at most */
#define CKPT_MAX 256              /* writes not acknowledged, at most */
#define TICK_MS 100
#define ACK_POLL_MS 2 /* a full window's wait before looking for acknowledgements again */
#define COMMIT_EVERY_MS 1000
#define CONNECT_TIMEOUT_MS 5000
#define STALL_MS 30000 /* unacknowledged bytes and no progress: reconnect */
#define RETRY_FIRST_MS 100
#define RETRY_MAX_MS 5000
#define ROUTE_BUCKETS 256

enum conn_state { C_WAIT, C_RESOLVING, C_CONNECTING, C_HANDSHAKE, C_UP, C_CLOSING };

struct ckpt {
    uint64_t wire_end;  /* bytes written on this connection, this write included */
    uint64_t plain_end; /* the spool position after it */
    uint32_t frames;
};

struct sink;

struct wreq {
    uv_write_t req;
    struct sink *k;
    size_t len;
    bool data;
    char bytes[];
};

struct sink {
    struct logs_deliver *d;
    struct logs_sink_config cfg;
    char name[2 * LOGS_ID_MAX + 2];
    struct crypto_tls_ctx *tls_ctx;
    struct logs_spool *spool;

    /* Under d->lock. */
    struct buf pending;
    uint32_t pending_frames;
    uint64_t handover_dropped; /* lines dropped because 'pending' was full */
    struct logs_sink_stats stats;

    /* The delivery thread's. */
    enum conn_state state;
    uv_tcp_t tcp;
    bool tcp_open;
    uv_getaddrinfo_t gai;
    uv_timer_t timer; /* the wait before a reconnect, or the connect timeout */
    struct crypto_tls *tls;
    uint32_t backoff_ms;
    bool orderly;  /* the receiver closed in order */
    bool warned;   /* a failure was logged since the last connection */
    bool dropping; /* lines are being dropped: logged once */
    uint64_t handover_logged;
    uint64_t send_pos, acked, commit_next;
    uint64_t wire_queued, wire_done;
    struct ckpt ck[CKPT_MAX];
    size_t ck_head, ck_n;
    unsigned data_writes;
    uint64_t progress_ms;
    char chunk[CHUNK_BYTES];
    char rbuf[16384];
};

struct route {
    char *service_id;
    struct sink *k;
    struct route *next;
};

struct logs_deliver {
    pthread_t thread;
    uv_loop_t loop;
    uv_async_t wake;
    uv_timer_t tick;
    pthread_mutex_t lock;
    bool stopping; /* under lock */
    bool closing;  /* the thread's: handles are being closed */
    struct sink *sinks;
    size_t nsinks;
    char hostname[256];
    uint32_t retry_max_ms;
    uint64_t last_commit_ms;
    struct route *routes[ROUTE_BUCKETS]; /* under lock */
};

/* ------------------------------------------------------------------------ */
/* Configuration                                                            */

static bool valid_id(const char *s, size_t n)
{
    if (n == 0 || n > LOGS_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-", s[i]) ||
            !s[i])
            return false;
    return true;
}

static int parse_facility(const char *v, int *out)
{
    if (strcmp(v, "user") == 0) {
        *out = LOGS_SYSLOG_USER;
        return 0;
    }
    if (strncmp(v, "local", 5) == 0 && v[5] >= '0' && v[5] <= '7' && !v[6]) {
        *out = LOGS_SYSLOG_LOCAL0 + (v[5] - '0');
        return 0;
    }
    return -1;
}

static int copy_field(char *dst, size_t cap, const char *v, const char *key, struct err *err)
{
    size_t n = strlen(v);
    if (n == 0 || n >= cap)
        return err_set(err, ERR_INVALID, "%s must be 1 to %zu characters", key, cap - 1);
    memcpy(dst, v, n + 1);
    return 0;
}

static int parse_url(const char *url, struct logs_sink_config *c, struct err *err)
{
    const char *rest;
    if (strncmp(url, "syslog+tcp://", 13) == 0)
        c->transport = LOGS_SYSLOG_TCP;
    else if (strncmp(url, "syslog+tls://", 13) == 0)
        c->transport = LOGS_SYSLOG_TLS;
    else
        return err_set(err, ERR_INVALID, "'%s' must start with syslog+tcp:// or syslog+tls://",
                       url);
    rest = url + 13;
    const char *host = rest, *host_end, *colon;
    if (*rest == '[') {
        host = rest + 1;
        host_end = strchr(host, ']');
        if (!host_end || host_end[1] != ':')
            return err_set(err, ERR_INVALID, "'%s': an IPv6 address goes as [ADDRESS]:PORT", url);
        colon = host_end + 1;
    } else {
        colon = strrchr(rest, ':');
        host_end = colon;
        if (!colon || memchr(rest, ':', (size_t)(colon - rest)))
            return err_set(err, ERR_INVALID, "'%s' must be syslog+tcp://HOST:PORT", url);
    }
    size_t hn = (size_t)(host_end - host);
    if (hn == 0 || hn >= sizeof(c->host) || memchr(host, '/', hn) || memchr(host, '@', hn))
        return err_set(err, ERR_INVALID, "'%s': the host is missing or malformed", url);
    memcpy(c->host, host, hn);
    c->host[hn] = '\0';
    char *end;
    errno = 0;
    long port = strtol(colon + 1, &end, 10);
    if (errno || end == colon + 1 || *end || port < 1 || port > 65535)
        return err_set(err, ERR_INVALID, "'%s': the port must be a number from 1 to 65535", url);
    c->port = (int)port;
    return 0;
}

int logs_sink_parse(const char *value, struct logs_sink_config *out, struct err *err)
{
    memset(out, 0, sizeof(*out));
    out->facility = LOGS_SYSLOG_USER;
    char *copy = xstrdup(value), *save = NULL;
    char *name = strtok_r(copy, " \t", &save);
    char *url = name ? strtok_r(NULL, " \t", &save) : NULL;
    int rc = 0;
    const char *slash = name ? strchr(name, '/') : NULL;
    if (!name || !url) {
        rc = err_set(err, ERR_INVALID,
                     "expected 'LOGSET/TOPIC syslog+tcp://HOST:PORT [key=value]...'");
        goto out;
    }
    if (!slash || !valid_id(name, (size_t)(slash - name)) ||
        !valid_id(slash + 1, strlen(slash + 1))) {
        rc = err_set(err, ERR_INVALID,
                     "'%s' must be LOGSET/TOPIC, the LogsetId and TopicId a LogConfig names "
                     "(each 1 to %d of A-Z a-z 0-9 . _ -)",
                     name, LOGS_ID_MAX);
        goto out;
    }
    memcpy(out->logset, name, (size_t)(slash - name));
    snprintf(out->topic, sizeof(out->topic), "%s", slash + 1);
    if ((rc = parse_url(url, out, err)) != 0)
        goto out;
    for (char *kv; (kv = strtok_r(NULL, " \t", &save));) {
        char *eq = strchr(kv, '=');
        if (!eq) {
            rc = err_set(err, ERR_INVALID, "'%s' must be key=value", kv);
            goto out;
        }
        *eq = '\0';
        const char *k = kv, *v = eq + 1;
        bool tls_only = strcmp(k, "ca") == 0 || strcmp(k, "cert") == 0 || strcmp(k, "key") == 0 ||
                        strcmp(k, "server-name") == 0;
        if (tls_only && out->transport != LOGS_SYSLOG_TLS) {
            rc = err_set(err, ERR_INVALID, "%s is for syslog+tls:// sinks only", k);
            goto out;
        }
        if (strcmp(k, "facility") == 0) {
            if (parse_facility(v, &out->facility) != 0) {
                rc = err_set(err, ERR_INVALID,
                             "facility must be user or local0 to local7, got '%s'", v);
                goto out;
            }
        } else if (strcmp(k, "ca") == 0) {
            rc = copy_field(out->ca, sizeof(out->ca), v, k, err);
        } else if (strcmp(k, "cert") == 0) {
            rc = copy_field(out->cert, sizeof(out->cert), v, k, err);
        } else if (strcmp(k, "key") == 0) {
            rc = copy_field(out->key, sizeof(out->key), v, k, err);
        } else if (strcmp(k, "server-name") == 0) {
            rc = copy_field(out->server_name, sizeof(out->server_name), v, k, err);
        } else {
            rc = err_set(err, ERR_INVALID,
                         "unknown key '%s' (facility, and for TLS ca, cert, key, server-name)", k);
        }
        if (rc)
            goto out;
    }
    if (!out->cert[0] != !out->key[0])
        rc = err_set(err, ERR_INVALID, "cert and key go together");
    if (rc == 0 && !out->server_name[0])
        snprintf(out->server_name, sizeof(out->server_name), "%s", out->host);
out:
    free(copy);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Producer side (any thread)                                               */

static unsigned route_hash(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h % ROUTE_BUCKETS;
}

static struct route **route_slot(struct logs_deliver *d, const char *service_id)
{
    struct route **p = &d->routes[route_hash(service_id)];
    while (*p && strcmp((*p)->service_id, service_id) != 0)
        p = &(*p)->next;
    return p;
}

static struct sink *find_sink(const struct logs_deliver *d, const char *logset, const char *topic)
{
    for (size_t i = 0; d && logset && topic && i < d->nsinks; i++)
        if (strcmp(d->sinks[i].cfg.logset, logset) == 0 &&
            strcmp(d->sinks[i].cfg.topic, topic) == 0)
            return &d->sinks[i];
    return NULL;
}

bool logs_deliver_has_sink(const struct logs_deliver *d, const char *logset, const char *topic)
{
    return find_sink(d, logset, topic) != NULL;
}

void logs_deliver_route(struct logs_deliver *d, const char *service_id, const char *spec_json)
{
    if (!d)
        return;
    struct sink *k = NULL;
    json_t *spec = spec_json ? json_loads(spec_json, 0, NULL) : NULL;
    if (json_is_true(json_object_get(spec, "LogEnable"))) {
        const json_t *lc = json_object_get(spec, "LogConfig");
        k = find_sink(d, json_string_value(json_object_get(lc, "LogsetId")),
                      json_string_value(json_object_get(lc, "TopicId")));
    }
    json_decref(spec);
    pthread_mutex_lock(&d->lock);
    struct route **p = route_slot(d, service_id), *r = *p;
    struct sink *was = r ? r->k : NULL;
    if (k && r) {
        r->k = k;
    } else if (k) {
        r = xcalloc(1, sizeof(*r));
        r->service_id = xstrdup(service_id);
        r->k = k;
        *p = r;
    } else if (r) {
        *p = r->next;
        free(r->service_id);
        free(r);
    }
    pthread_mutex_unlock(&d->lock);
    if (was != k)
        log_info("deliver", "service %s: %s%s", service_id, k ? "lines go to log sink " : "",
                 k ? k->name : "log delivery off");
}

void logs_deliver_line(struct logs_deliver *d, const struct logs_line *l)
{
    if (!d)
        return;
    bool wake = false;
    pthread_mutex_lock(&d->lock);
    struct route *r = *route_slot(d, l->service_id);
    struct sink *k = r ? r->k : NULL;
    if (k) {
        size_t n = 0;
        if (buf_reserve(&k->pending, LOGS_SYSLOG_FRAME_MAX) == 0)
            n = logs_syslog_frame(l, k->cfg.facility, d->hostname, k->pending.ptr + k->pending.len,
                                  LOGS_SYSLOG_FRAME_MAX);
        if (n) {
            wake = k->pending.len == 0;
            k->pending.len += n;
            k->pending.ptr[k->pending.len] = '\0';
            k->pending_frames++;
        } else {
            k->stats.dropped_lines++;
            k->handover_dropped++;
        }
    }
    pthread_mutex_unlock(&d->lock);
    if (wake)
        uv_async_send(&d->wake);
}

void logs_deliver_on_line(void *arg, const struct logs_line *l)
{
    logs_deliver_line(arg, l);
}

size_t logs_deliver_stats(struct logs_deliver *d, struct logs_sink_stats *out, size_t max)
{
    if (!d)
        return 0;
    pthread_mutex_lock(&d->lock);
    for (size_t i = 0; i < d->nsinks && i < max; i++) {
        out[i] = d->sinks[i].stats;
        out[i].spooled_bytes += d->sinks[i].pending.len;
    }
    pthread_mutex_unlock(&d->lock);
    return d->nsinks;
}

/* ------------------------------------------------------------------------ */
/* The delivery thread: spool                                               */

static uint64_t now_ms(void)
{
    return uv_hrtime() / 1000000;
}

static void publish_spool(struct sink *k)
{
    uint64_t spooled = logs_spool_end(k->spool) - logs_spool_committed(k->spool);
    pthread_mutex_lock(&k->d->lock);
    k->stats.spooled_bytes = spooled;
    k->stats.connected = k->state == C_UP;
    pthread_mutex_unlock(&k->d->lock);
}

/* Frames handed over into the spool; those past its cap are dropped. */
static void spool_frames(struct sink *k, const char *p, size_t len, uint32_t frames)
{
    struct err err = {0};
    uint64_t dropped = 0;
    int rc = logs_spool_append(k->spool, p, len, &err);
    if (rc == ERR_TOOBIG) {
        size_t off = 0, fl;
        while (off < len && logs_syslog_next_frame(p + off, len - off, &fl) == 0) {
            dropped += logs_spool_append(k->spool, p + off, fl, NULL) != 0;
            off += fl;
        }
    } else if (rc) {
        dropped = frames;
    }
    if (dropped && !k->dropping)
        log_warn("deliver", "log sink %s: dropping lines: %s", k->name,
                 rc == ERR_TOOBIG ? "the spool is full" : err.msg);
    else if (!dropped && k->dropping)
        log_info("deliver", "log sink %s: spooling again", k->name);
    k->dropping = dropped != 0;
    if (dropped) {
        pthread_mutex_lock(&k->d->lock);
        k->stats.dropped_lines += dropped;
        pthread_mutex_unlock(&k->d->lock);
    }
}

static void take_pending(struct logs_deliver *d)
{
    for (size_t i = 0; i < d->nsinks; i++) {
        struct sink *k = &d->sinks[i];
        struct buf b;
        buf_init(&b, PENDING_BYTES);
        pthread_mutex_lock(&d->lock);
        struct buf full = k->pending;
        uint32_t frames = k->pending_frames;
        k->pending = b;
        k->pending_frames = 0;
        pthread_mutex_unlock(&d->lock);
        if (full.len)
            spool_frames(k, full.ptr, full.len, frames);
        buf_release(&full);
    }
}

static void commit(struct sink *k, uint64_t pos)
{
    struct err err = {0};
    if (pos > logs_spool_committed(k->spool) && logs_spool_commit(k->spool, pos, &err) != 0)
        log_warn("deliver", "log sink %s: %s", k->name, err.msg);
}

/* ------------------------------------------------------------------------ */
/* The delivery thread: the connection                                      */

static void start_connect(struct sink *k);
static void pump(struct sink *k);

static void on_retry(uv_timer_t *t)
{
    start_connect(t->data);
}

static void on_tcp_closed(uv_handle_t *h)
{
    struct sink *k = h->data;
    struct logs_deliver *d = k->d;
    k->tcp_open = false;
    crypto_tls_free(k->tls);
    k->tls = NULL;
    uint64_t resume = k->orderly ? k->acked : logs_spool_committed(k->spool);
    if (resume < logs_spool_committed(k->spool))
        resume = logs_spool_committed(k->spool);
    k->send_pos = k->acked = resume;
    if (k->commit_next > resume)
        k->commit_next = resume;
    k->ck_n = k->ck_head = 0;
    k->wire_queued = k->wire_done = 0;
    k->data_writes = 0;
    k->state = C_WAIT;
    publish_spool(k);
    if (d->closing)
        return;
    k->backoff_ms = k->backoff_ms ? k->backoff_ms * 2 : RETRY_FIRST_MS;
    if (k->backoff_ms > d->retry_max_ms)
        k->backoff_ms = d->retry_max_ms;
    uint32_t half = k->backoff_ms / 2;
    uint32_t wait = half + (half ? (uint32_t)(uv_hrtime() % half) : 0);
    uv_timer_start(&k->timer, on_retry, wait, 0);
}

static void conn_fail(struct sink *k, bool orderly, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void conn_fail(struct sink *k, bool orderly, const char *fmt, ...)
{
    if (k->state == C_CLOSING || k->state == C_WAIT)
        return;
    char why[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    if (!k->warned)
        log_warn("deliver", "log sink %s (%s:%d): %s; retrying", k->name, k->cfg.host, k->cfg.port,
                 why);
    else
        log_debug("deliver", "log sink %s: %s", k->name, why);
    k->warned = true;
    k->orderly = orderly;
    uv_timer_stop(&k->timer);
    k->state = C_CLOSING;
    if (k->tcp_open) {
        uv_read_stop((uv_stream_t *)&k->tcp);
        uv_close((uv_handle_t *)&k->tcp, on_tcp_closed);
    } else {
        on_tcp_closed((uv_handle_t *)&k->tcp);
    }
}

static void update_acked(struct sink *k);

static void on_write(uv_write_t *req, int status)
{
    struct wreq *w = (struct wreq *)req;
    struct sink *k = w->k;
    if (status == 0)
        k->wire_done += w->len;
    if (w->data)
        k->data_writes--;
    free(w);
    if (status < 0) {
        if (status != UV_ECANCELED)
            conn_fail(k, false, "write failed: %s", uv_strerror(status));
        return;
    }
    update_acked(k);
    pump(k);
}

static struct wreq *wreq_new(struct sink *k, size_t len, bool data)
{
    struct wreq *w = xmalloc(sizeof(*w) + len);
    w->k = k;
    w->len = len;
    w->data = data;
    return w;
}

static int queue_write(struct sink *k, struct wreq *w)
{
    uv_buf_t b = uv_buf_init(w->bytes, (unsigned)w->len);
    int rc = uv_write(&w->req, (uv_stream_t *)&k->tcp, &b, 1, on_write);
    if (rc) {
        free(w);
        conn_fail(k, false, "write failed: %s", uv_strerror(rc));
        return rc;
    }
    k->wire_queued += w->len;
    if (w->data)
        k->data_writes++;
    return 0;
}

/* Send the TLS records the session has made (handshake, alerts). */
static void flush_tls(struct sink *k)
{
    size_t n;
    while (k->state != C_CLOSING && (n = crypto_tls_pending(k->tls)) > 0) {
        struct wreq *w = wreq_new(k, n, false);
        w->len = crypto_tls_take(k->tls, w->bytes, n);
        if (queue_write(k, w))
            return;
    }
}

/* Move the acknowledged position on from what left the send queue. */
static void update_acked(struct sink *k)
{
    uv_os_fd_t fd;
    int outq = 0;
    if (k->state != C_UP || uv_fileno((uv_handle_t *)&k->tcp, &fd) != 0 ||
        ioctl(fd, SIOCOUTQ, &outq) != 0 || outq < 0)
        return;
    uint64_t acked_wire = k->wire_done > (uint64_t)outq ? k->wire_done - (uint64_t)outq : 0;
    uint64_t frames = 0;
    while (k->ck_n && k->ck[k->ck_head].wire_end <= acked_wire) {
        k->acked = k->ck[k->ck_head].plain_end;
        frames += k->ck[k->ck_head].frames;
        k->ck_head = (k->ck_head + 1) % CKPT_MAX;
        k->ck_n--;
    }
    if (frames || !k->ck_n)
        k->progress_ms = now_ms();
    if (frames) {
        k->backoff_ms = 0;
        if (k->warned)
            log_info("deliver", "log sink %s: delivering again", k->name);
        k->warned = false;
        pthread_mutex_lock(&k->d->lock);
        k->stats.delivered_lines += frames;
        pthread_mutex_unlock(&k->d->lock);
    }
}

static void on_ack_poll(uv_timer_t *t)
{
    struct sink *k = t->data;
    update_acked(k);
    pump(k);
}

/* Send from the spool while the window has room. A window that is full with
 * every write done waits for acknowledgements only: poll for them soon
 * rather than at the next tick. */
static void pump(struct sink *k)
{
    while (k->state == C_UP && k->data_writes < 2) {
        if (k->send_pos - k->acked >= WINDOW_BYTES || k->ck_n == CKPT_MAX) {
            if (!k->data_writes)
                uv_timer_start(&k->timer, on_ack_poll, ACK_POLL_MS, 0);
            return;
        }
        size_t got, frames;
        struct err err = {0};
        if (logs_spool_read(k->spool, k->send_pos, k->chunk, CHUNK_BYTES, &got, &frames, &err) !=
            0) {
            /* A spool that cannot be read on from here: skip what is there. */
            log_error("deliver", "log sink %s: %s; skipping to the end of the spool", k->name,
                      err.msg);
            k->send_pos = logs_spool_end(k->spool);
            return;
        }
        if (!got)
            return;
        struct wreq *w;
        if (k->tls) {
            if (crypto_tls_write(k->tls, k->chunk, got, &err) != 0) {
                conn_fail(k, false, "%s", err.msg);
                return;
            }
            size_t n = crypto_tls_pending(k->tls);
            w = wreq_new(k, n, true);
            w->len = crypto_tls_take(k->tls, w->bytes, n);
        } else {
            w = wreq_new(k, got, true);
            memcpy(w->bytes, k->chunk, got);
        }
        struct ckpt *c = &k->ck[(k->ck_head + k->ck_n) % CKPT_MAX];
        c->wire_end = k->wire_queued + w->len;
        c->plain_end = k->send_pos + got;
        c->frames = (uint32_t)frames;
        if (queue_write(k, w))
            return;
        k->ck_n++;
        k->send_pos += got;
    }
}

static void conn_up(struct sink *k)
{
    k->state = C_UP;
    k->progress_ms = now_ms();
    log_debug("deliver", "log sink %s: connected to %s:%d", k->name, k->cfg.host, k->cfg.port);
    publish_spool(k);
    pump(k);
}

static void tls_step(struct sink *k)
{
    struct err err = {0};
    int rc = crypto_tls_handshake(k->tls, &err);
    flush_tls(k);
    if (k->state == C_CLOSING)
        return;
    if (rc == 0)
        conn_up(k);
    else if (rc != ERR_AGAIN)
        conn_fail(k, false, "%s", err.msg);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    (void)suggested;
    struct sink *k = h->data;
    *b = uv_buf_init(k->rbuf, sizeof(k->rbuf));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
    struct sink *k = s->data;
    if (nread == UV_EOF) {
        conn_fail(k, true, "the receiver closed the connection");
        return;
    }
    if (nread < 0) {
        conn_fail(k, false, "%s", uv_strerror((int)nread));
        return;
    }
    if (!k->tls || nread == 0)
        return; /* a syslog receiver says nothing; ignore it if it does */
    crypto_tls_feed(k->tls, b->base, (size_t)nread);
    if (k->state == C_HANDSHAKE) {
        tls_step(k);
        return;
    }
    for (;;) {
        struct err err = {0};
        int n = crypto_tls_read(k->tls, k->rbuf, sizeof(k->rbuf), &err);
        if (n == ERR_AGAIN)
            break;
        if (n == 0) {
            conn_fail(k, true, "the receiver closed the TLS session");
            return;
        }
        if (n < 0) {
            conn_fail(k, false, "%s", err.msg);
            return;
        }
    }
    flush_tls(k);
}

static void on_connect(uv_connect_t *req, int status)
{
    struct sink *k = req->data;
    free(req);
    if (status == UV_ECANCELED || k->state != C_CONNECTING)
        return;
    uv_timer_stop(&k->timer);
    if (status < 0) {
        conn_fail(k, false, "cannot connect: %s", uv_strerror(status));
        return;
    }
    uv_tcp_nodelay(&k->tcp, 1);
    uv_tcp_keepalive(&k->tcp, 1, 30);
    int rc = uv_read_start((uv_stream_t *)&k->tcp, on_alloc, on_read);
    if (rc) {
        conn_fail(k, false, "cannot read: %s", uv_strerror(rc));
        return;
    }
    if (k->cfg.transport == LOGS_SYSLOG_TLS) {
        k->tls = crypto_tls_new(k->tls_ctx, k->cfg.server_name);
        k->state = C_HANDSHAKE;
        tls_step(k);
    } else {
        conn_up(k);
    }
}

static void on_connect_timeout(uv_timer_t *t)
{
    struct sink *k = t->data;
    conn_fail(k, false, "no connection within %d ms", CONNECT_TIMEOUT_MS);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct sink *k = req->data;
    if (k->d->closing || status < 0) {
        if (res)
            uv_freeaddrinfo(res);
        k->state = C_CONNECTING; /* so that conn_fail acts */
        if (k->d->closing)
            k->state = C_WAIT;
        else
            conn_fail(k, false, "cannot resolve '%s': %s", k->cfg.host, uv_strerror(status));
        return;
    }
    uv_tcp_init(&k->d->loop, &k->tcp);
    k->tcp.data = k;
    k->tcp_open = true;
    k->state = C_CONNECTING;
    uv_connect_t *c = xmalloc(sizeof(*c));
    c->data = k;
    int rc = uv_tcp_connect(c, &k->tcp, res->ai_addr, on_connect);
    uv_freeaddrinfo(res);
    if (rc) {
        free(c);
        conn_fail(k, false, "cannot connect: %s", uv_strerror(rc));
        return;
    }
    uv_timer_start(&k->timer, on_connect_timeout, CONNECT_TIMEOUT_MS, 0);
}

static void start_connect(struct sink *k)
{
    if (k->d->closing || k->state != C_WAIT)
        return;
    char port[8];
    snprintf(port, sizeof(port), "%d", k->cfg.port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    k->gai.data = k;
    k->state = C_RESOLVING;
    int rc = uv_getaddrinfo(&k->d->loop, &k->gai, on_resolved, k->cfg.host, port, &hints);
    if (rc) {
        k->state = C_CONNECTING;
        conn_fail(k, false, "cannot resolve '%s': %s", k->cfg.host, uv_strerror(rc));
    }
}

/* ------------------------------------------------------------------------ */
/* The delivery thread: loop                                                */

static void on_tick(uv_timer_t *t)
{
    struct logs_deliver *d = t->data;
    uint64_t now = now_ms();
    bool commit_due = now - d->last_commit_ms >= COMMIT_EVERY_MS;
    if (commit_due)
        d->last_commit_ms = now;
    for (size_t i = 0; i < d->nsinks; i++) {
        struct sink *k = &d->sinks[i];
        if (k->state == C_UP) {
            update_acked(k);
            pump(k);
            if (k->ck_n && now - k->progress_ms > STALL_MS)
                conn_fail(k, false, "nothing acknowledged for %d s", STALL_MS / 1000);
        }
        pthread_mutex_lock(&d->lock);
        uint64_t handover = k->handover_dropped;
        pthread_mutex_unlock(&d->lock);
        if (handover != k->handover_logged)
            log_warn("deliver",
                     "log sink %s: %" PRIu64 " lines dropped: the hand-over buffer "
                     "was full",
                     k->name, handover - k->handover_logged);
        k->handover_logged = handover;
        if (commit_due) {
            /* One tick late: see the top of the file. */
            commit(k, k->commit_next);
            k->commit_next = k->acked;
            publish_spool(k);
        }
    }
}

static void close_all(struct logs_deliver *d)
{
    d->closing = true;
    for (size_t i = 0; i < d->nsinks; i++) {
        struct sink *k = &d->sinks[i];
        update_acked(k);
        commit(k, k->acked);
        if (k->state == C_RESOLVING)
            uv_cancel((uv_req_t *)&k->gai);
        if (k->tcp_open && k->state != C_CLOSING) {
            k->state = C_CLOSING;
            k->orderly = true;
            uv_close((uv_handle_t *)&k->tcp, on_tcp_closed);
        }
        uv_close((uv_handle_t *)&k->timer, NULL);
    }
    uv_close((uv_handle_t *)&d->tick, NULL);
    uv_close((uv_handle_t *)&d->wake, NULL);
}

static void on_wake(uv_async_t *a)
{
    struct logs_deliver *d = a->data;
    pthread_mutex_lock(&d->lock);
    bool stopping = d->stopping;
    pthread_mutex_unlock(&d->lock);
    if (d->closing)
        return;
    take_pending(d);
    for (size_t i = 0; i < d->nsinks; i++)
        pump(&d->sinks[i]);
    if (stopping)
        close_all(d);
}

static void *thread_main(void *arg)
{
    struct logs_deliver *d = arg;
    uv_run(&d->loop, UV_RUN_DEFAULT);
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* Start and stop                                                           */

static void free_deliver(struct logs_deliver *d)
{
    for (size_t i = 0; i < d->nsinks; i++) {
        logs_spool_close(d->sinks[i].spool);
        crypto_tls_ctx_free(d->sinks[i].tls_ctx);
        buf_release(&d->sinks[i].pending);
    }
    for (size_t i = 0; i < ROUTE_BUCKETS; i++)
        while (d->routes[i]) {
            struct route *r = d->routes[i];
            d->routes[i] = r->next;
            free(r->service_id);
            free(r);
        }
    free(d->sinks);
    pthread_mutex_destroy(&d->lock);
    free(d);
}

static int open_sink(struct logs_deliver *d, struct sink *k, const char *value,
                     const struct logs_deliver_config *cfg, struct err *err)
{
    k->d = d;
    k->tcp.data = k;
    buf_init(&k->pending, PENDING_BYTES);
    int rc = logs_sink_parse(value, &k->cfg, err);
    if (rc)
        return err_prefix(err, "log-sink '%s': ", value);
    snprintf(k->name, sizeof(k->name), "%s/%s", k->cfg.logset, k->cfg.topic);
    snprintf(k->stats.name, sizeof(k->stats.name), "%s", k->name);
    for (struct sink *o = d->sinks; o < k; o++)
        if (strcmp(o->name, k->name) == 0)
            return err_set(err, ERR_INVALID, "log-sink '%s': %s is defined twice", value, k->name);
    if (k->cfg.transport == LOGS_SYSLOG_TLS &&
        (rc = crypto_tls_ctx_new(k->cfg.ca[0] ? k->cfg.ca : NULL,
                                 k->cfg.cert[0] ? k->cfg.cert : NULL,
                                 k->cfg.key[0] ? k->cfg.key : NULL, &k->tls_ctx, err)) != 0)
        return err_prefix(err, "log-sink %s: ", k->name);
    char *dir = xasprintf("%s/%s+%s", cfg->spool_dir, k->cfg.logset, k->cfg.topic);
    rc = logs_spool_open(dir, cfg->spool_cap_bytes, &k->spool, err);
    free(dir);
    if (rc)
        return err_prefix(err, "log-sink %s: ", k->name);
    k->send_pos = k->acked = k->commit_next = logs_spool_committed(k->spool);
    k->stats.spooled_bytes = logs_spool_end(k->spool) - logs_spool_committed(k->spool);
    if (k->stats.spooled_bytes)
        log_info("deliver", "log sink %s: %" PRIu64 " bytes spooled by an earlier run to send",
                 k->name, k->stats.spooled_bytes);
    return 0;
}

int logs_deliver_start(const struct logs_deliver_config *cfg, struct logs_deliver **out,
                       struct err *err)
{
    *out = NULL;
    if (!cfg->nsinks)
        return 0;
    struct logs_deliver *d = xcalloc(1, sizeof(*d));
    pthread_mutex_init(&d->lock, NULL);
    d->retry_max_ms = cfg->retry_max_ms ? cfg->retry_max_ms : RETRY_MAX_MS;
    if (cfg->hostname)
        snprintf(d->hostname, sizeof(d->hostname), "%s", cfg->hostname);
    else if (gethostname(d->hostname, sizeof(d->hostname) - 1) != 0)
        d->hostname[0] = '\0';
    d->sinks = xcalloc(cfg->nsinks, sizeof(*d->sinks));
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < cfg->nsinks; i++) {
        d->nsinks = i + 1;
        rc = open_sink(d, &d->sinks[i], cfg->sinks[i], cfg, err);
    }
    if (rc) {
        free_deliver(d);
        return rc;
    }
    uv_loop_init(&d->loop);
    uv_async_init(&d->loop, &d->wake, on_wake);
    d->wake.data = d;
    uv_timer_init(&d->loop, &d->tick);
    d->tick.data = d;
    uv_timer_start(&d->tick, on_tick, TICK_MS, TICK_MS);
    d->last_commit_ms = now_ms();
    for (size_t i = 0; i < d->nsinks; i++) {
        struct sink *k = &d->sinks[i];
        uv_timer_init(&d->loop, &k->timer);
        k->timer.data = k;
        k->state = C_WAIT;
        uv_timer_start(&k->timer, on_retry, 0, 0);
    }
    if ((rc = pthread_create(&d->thread, NULL, thread_main, d)) != 0) {
        log_error("deliver", "cannot start the delivery thread: %s", strerror(rc));
        abort(); /* like an allocation that fails */
    }
    for (size_t i = 0; i < d->nsinks; i++)
        log_info("deliver", "log sink %s: syslog+%s://%s:%d", d->sinks[i].name,
                 d->sinks[i].cfg.transport == LOGS_SYSLOG_TLS ? "tls" : "tcp", d->sinks[i].cfg.host,
                 d->sinks[i].cfg.port);
    *out = d;
    return 0;
}

void logs_deliver_stop(struct logs_deliver *d)
{
    if (!d)
        return;
    pthread_mutex_lock(&d->lock);
    d->stopping = true;
    pthread_mutex_unlock(&d->lock);
    uv_async_send(&d->wake);
    pthread_join(d->thread, NULL);
    if (uv_loop_close(&d->loop) != 0)
        log_warn("deliver", "the delivery loop closed with handles open");
    free_deliver(d);
}
