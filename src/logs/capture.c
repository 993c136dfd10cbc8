/* capture.c - the capture thread: pipes in, lines cut and escaped, batched
 * into the log store, handed to the hook. Reading stops while a batch is
 * written, which is the backpressure (capture.h). The main thread only
 * queues new pipes (logs_capture_open) and asks the thread to stop. */
#include "logs/capture.h"
#include "base/alloc.h"
#include "base/log.h"
#include "http/prom.h"
#include "store/logs.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#define BATCH_LINES 4096
#define BATCH_BYTES (4u << 20)
#define READ_BYTES 65536
#define PIPE_BYTES (256 * 1024)
#define TRIM_EVERY_MS 1000
#define TRIM_AGAIN_MS 10
#define LINGER_MS 50   /* a line waits at most this long for its batch to fill */
#define DRAIN_READS 64 /* per stream when berthd stops: bounded if a writer lives on */

/* ------------------------------------------------------------------------ */
/* Cutting and escaping (pure)                                              */

/* Length of the UTF-8 sequence at 'p' (n bytes available): 1..4 when valid
 * and complete, 0 when not valid, -1 when valid so far but cut short. */
static int utf8_seq(const unsigned char *p, size_t n)
{
    unsigned char c = p[0];
    int len;
    unsigned char lo = 0x80, hi = 0xbf;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        lo = c == 0xe0 ? 0xa0 : 0x80;
        hi = c == 0xed ? 0x9f : 0xbf;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        lo = c == 0xf0 ? 0x90 : 0x80;
        hi = c == 0xf4 ? 0x8f : 0xbf;
    } else
        return 0;
    for (int i = 1; i < len; i++) {
        if ((size_t)i >= n)
            return -1;
        unsigned char b = p[i];
        if (b < (i == 1 ? lo : 0x80) || b > (i == 1 ? hi : 0xbf))
            return 0;
    }
    return len;
}

size_t logs_escape(const unsigned char *in, size_t n, bool final, char *out, size_t cap,
                   size_t *used)
{
    static const char hex[] = "0123456789abcdef";
    size_t i = 0, w = 0;
    while (i < n) {
        unsigned char c = in[i];
        int len = c == '\t' || (c >= 0x20 && c < 0x7f) ? 1 : c < 0x80 ? 0 : utf8_seq(in + i, n - i);
        if (len < 0 && !final)
            break; /* the rest of the character may come in the next read */
        if (len > 0) {
            if (cap - w < (size_t)len)
                break;
            memcpy(out + w, in + i, (size_t)len);
            w += (size_t)len;
            i += (size_t)len;
            continue;
        }
        if (cap - w < 4)
            break;
        out[w++] = '\\';
        out[w++] = 'x';
        out[w++] = hex[c >> 4];
        out[w++] = hex[c & 15];
        i++;
    }
    *used = i;
    return w;
}

/* Emit the first part of the raw line (or all of it when 'final'). */
static void cut_emit(struct logs_cutter *k, bool final)
{
    char out[LOGS_LINE_MAX];
    size_t off = 0;
    do {
        size_t used;
        size_t w = logs_escape(k->raw + off, k->len - off, final, out, sizeof(out), &used);
        if (!final && w < sizeof(out) - 3 && off + used == k->len)
            break; /* not a full line's worth yet: wait for more */
        if (used == 0 && !final)
            break;
        k->emit(k->arg, out, w);
        off += used;
        k->split = !final;
    } while (off < k->len);
    memmove(k->raw, k->raw + off, k->len - off);
    k->len -= off;
}

void logs_cutter_feed(struct logs_cutter *k, const char *data, size_t n)
{
    while (n > 0) {
        const char *nl = memchr(data, '\n', n);
        size_t take = nl ? (size_t)(nl - data) : n;
        size_t room = sizeof(k->raw) - k->len;
        if (take > room) {
            memcpy(k->raw + k->len, data, room);
            k->len += room;
            data += room;
            n -= room;
            cut_emit(k, false); /* a long line: out in pieces of LOGS_LINE_MAX */
            continue;
        }
        memcpy(k->raw + k->len, data, take);
        k->len += take;
        data += take;
        n -= take;
        if (!nl)
            break;
        data++; /* the newline */
        n--;
        if (k->len && k->raw[k->len - 1] == '\r')
            k->len--; /* CRLF */
        if (k->len || !k->split)
            cut_emit(k, true);
        k->len = 0;
        k->split = false;
    }
}

void logs_cutter_finish(struct logs_cutter *k)
{
    if (k->len)
        cut_emit(k, true);
    k->len = 0;
    k->split = false;
}

/* ------------------------------------------------------------------------ */
/* The thread                                                               */

struct source {
    uv_pipe_t pipe;
    struct logs_capture *c;
    char *group, *service, *pod;
    enum logs_stream stream;
    int fd;
    bool paused; /* a batch was written while reading it: resumes after this turn */
    struct logs_cutter cut;
    struct source *next, *prev; /* the thread's list, or the pending list */
};

struct entry {
    struct source *src;
    int64_t time_us;
    size_t off, len;
};

struct logs_capture {
    uv_loop_t loop;
    uv_async_t wake;
    uv_timer_t linger;
    uv_check_t resume;
    uv_timer_t trim;
    pthread_t thread;
    struct store_logs *store;
    int64_t retention_us, max_bytes;

    pthread_mutex_t lock; /* guards 'pending', 'stopping' and the hook */
    struct source *pending;
    bool stopping;
    logs_line_fn *on_line;
    void *on_line_arg;

    /* The thread's own. */
    struct source *sources;
    char readbuf[READ_BYTES];
    int64_t now_us; /* when the bytes being cut were read */
    bool flushed;   /* a batch went to the store since the flag was cleared */
    bool any_paused;
    struct entry entries[BATCH_LINES];
    size_t nentries;
    char *text; /* BATCH_BYTES */
    size_t text_len;

    struct logs_stats stats; /* __atomic */
};

static int64_t wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void stat_add(uint64_t *v, uint64_t n)
{
    __atomic_fetch_add(v, n, __ATOMIC_RELAXED);
}

/* Commit the batch, then hand its lines to the hook. */
static void flush(struct logs_capture *c)
{
    if (c->nentries == 0)
        return;
    struct logs_line *lines = xcalloc(c->nentries, sizeof(*lines));
    for (size_t i = 0; i < c->nentries; i++) {
        const struct entry *e = &c->entries[i];
        lines[i] = (struct logs_line){.time_us = e->time_us,
                                      .group_id = e->src->group,
                                      .service_id = e->src->service,
                                      .pod = e->src->pod,
                                      .stream = e->src->stream,
                                      .text = c->text + e->off,
                                      .len = e->len};
    }
    struct err err = {0};
    if (store_logs_append(c->store, lines, c->nentries, &err) == 0) {
        stat_add(&c->stats.lines_stored, c->nentries);
        stat_add(&c->stats.bytes_stored, c->text_len);
    } else {
        stat_add(&c->stats.lines_dropped, c->nentries);
        log_error("logs", "cannot store %zu lines: %s", c->nentries, err.msg);
    }
    pthread_mutex_lock(&c->lock);
    logs_line_fn *fn = c->on_line;
    void *arg = c->on_line_arg;
    pthread_mutex_unlock(&c->lock);
    for (size_t i = 0; fn && i < c->nentries; i++)
        fn(arg, &lines[i]);
    free(lines);
    c->nentries = 0;
    c->text_len = 0;
    c->flushed = true;
}

/* The first line of a batch waited long enough: store what came since. */
static void on_linger(uv_timer_t *t)
{
    flush(t->data);
}

static void on_cut(void *arg, const char *text, size_t len)
{
    struct source *s = arg;
    struct logs_capture *c = s->c;
    if (c->nentries == BATCH_LINES || BATCH_BYTES - c->text_len < len)
        flush(c);
    if (c->nentries == 0)
        uv_timer_start(&c->linger, on_linger, LINGER_MS, 0);
    memcpy(c->text + c->text_len, text, len);
    c->entries[c->nentries++] = (struct entry){s, c->now_us, c->text_len, len};
    c->text_len += len;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    (void)suggested;
    struct source *s = h->data;
    *b = uv_buf_init(s->c->readbuf, sizeof(s->c->readbuf));
}

static void on_closed(uv_handle_t *h)
{
    struct source *s = h->data;
    free(s->group);
    free(s->service);
    free(s->pod);
    free(s);
}

/* The stream ended: its last line out, its lines stored (entries point at
 * the source), then it goes. */
static void source_end(struct source *s)
{
    struct logs_capture *c = s->c;
    c->now_us = wall_us();
    logs_cutter_finish(&s->cut);
    flush(c);
    if (s->prev)
        s->prev->next = s->next;
    else
        c->sources = s->next;
    if (s->next)
        s->next->prev = s->prev;
    __atomic_fetch_sub(&c->stats.sources_open, 1, __ATOMIC_RELAXED);
    uv_close((uv_handle_t *)&s->pipe, on_closed);
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *b)
{
    struct source *s = st->data;
    struct logs_capture *c = s->c;
    if (nread > 0) {
        c->now_us = wall_us();
        c->flushed = false;
        logs_cutter_feed(&s->cut, b->base, (size_t)nread);
        /* libuv reads a ready stream up to 32 times in a row: after a batch,
         * let the timers (trim, linger) and the other streams have a turn. */
        if (c->flushed) {
            uv_read_stop(st);
            s->paused = true;
            c->any_paused = true;
        }
    } else if (nread < 0) {
        source_end(s);
    }
}

/* After the loop polled: streams paused for a batch read on. */
static void on_resume(uv_check_t *h)
{
    struct logs_capture *c = h->data;
    if (!c->any_paused)
        return;
    c->any_paused = false;
    for (struct source *s = c->sources; s; s = s->next) {
        if (s->paused) {
            s->paused = false;
            uv_read_start((uv_stream_t *)&s->pipe, on_alloc, on_read);
        }
    }
}

/* Take the pipes the main thread queued. */
static void adopt(struct logs_capture *c, struct source *list)
{
    while (list) {
        struct source *s = list;
        list = s->next;
        uv_pipe_init(&c->loop, &s->pipe, 0);
        s->pipe.data = s;
        if (uv_pipe_open(&s->pipe, s->fd) != 0) {
            log_error("logs", "cannot read the output of %s", s->pod);
            close(s->fd);
            uv_close((uv_handle_t *)&s->pipe, on_closed);
            continue;
        }
        s->prev = NULL;
        s->next = c->sources;
        if (c->sources)
            c->sources->prev = s;
        c->sources = s;
        __atomic_fetch_add(&c->stats.sources_open, 1, __ATOMIC_RELAXED);
        uv_read_start((uv_stream_t *)&s->pipe, on_alloc, on_read);
    }
}

/* berthd stops: what the pipes still hold (the instances have gone, or are
 * going), then everything closes and the loop ends. */
static void drain_and_close(struct logs_capture *c)
{
    while (c->sources) {
        struct source *s = c->sources;
        uv_os_fd_t fd;
        if (uv_fileno((uv_handle_t *)&s->pipe, &fd) == 0) {
            for (int i = 0; i < DRAIN_READS; i++) {
                ssize_t n = read(fd, c->readbuf, sizeof(c->readbuf));
                if (n <= 0)
                    break;
                c->now_us = wall_us();
                logs_cutter_feed(&s->cut, c->readbuf, (size_t)n);
            }
        }
        source_end(s);
    }
    uv_close((uv_handle_t *)&c->wake, NULL);
    uv_close((uv_handle_t *)&c->linger, NULL);
    uv_close((uv_handle_t *)&c->resume, NULL);
    uv_close((uv_handle_t *)&c->trim, NULL);
}

static void on_wake(uv_async_t *a)
{
    struct logs_capture *c = a->data;
    pthread_mutex_lock(&c->lock);
    struct source *list = c->pending;
    c->pending = NULL;
    bool stop = c->stopping;
    pthread_mutex_unlock(&c->lock);
    adopt(c, list);
    if (stop)
        drain_and_close(c);
}

static void on_trim(uv_timer_t *t)
{
    struct logs_capture *c = t->data;
    flush(c);
    int64_t before = c->retention_us > 0 ? wall_us() - c->retention_us : INT64_MIN;
    int64_t deleted = 0;
    struct err err = {0};
    if (store_logs_trim(c->store, before, c->max_bytes, &deleted, &err) != 0)
        log_error("logs", "cannot trim the log store: %s", err.msg);
    if (deleted)
        stat_add(&c->stats.lines_trimmed, (uint64_t)deleted);
    /* More to go: again after a turn of reading, so that the deletions keep
     * up with a flood (each turn reads at most a batch). */
    if (deleted >= STORE_LOGS_TRIM_MAX)
        uv_timer_start(&c->trim, on_trim, TRIM_AGAIN_MS, TRIM_EVERY_MS);
    __atomic_store_n(&c->stats.store_bytes, store_logs_bytes(c->store), __ATOMIC_RELAXED);
}

static void *run(void *arg)
{
    struct logs_capture *c = arg;
    /* Lines wait for the gateway and the API, never the other way round. */
    if (setpriority(PRIO_PROCESS, (id_t)gettid(), 19) != 0)
        log_debug("logs", "cannot lower the capture thread's priority: %s", strerror(errno));
    uv_run(&c->loop, UV_RUN_DEFAULT);
    flush(c);
    return NULL;
}

int logs_capture_new(const struct logs_config *cfg, struct logs_capture **out, struct err *err)
{
    *out = NULL;
    struct store_logs *st;
    int rc = store_logs_open(cfg->db_path, &st, err);
    if (rc)
        return rc;
    struct logs_capture *c = xcalloc(1, sizeof(*c));
    c->store = st;
    c->retention_us = cfg->retention_us;
    c->max_bytes = cfg->max_bytes;
    c->on_line = cfg->on_line;
    c->on_line_arg = cfg->on_line_arg;
    c->text = xmalloc(BATCH_BYTES);
    pthread_mutex_init(&c->lock, NULL);
    uv_loop_init(&c->loop);
    uv_async_init(&c->loop, &c->wake, on_wake);
    c->wake.data = c;
    uv_timer_init(&c->loop, &c->linger);
    c->linger.data = c;
    uv_check_init(&c->loop, &c->resume);
    c->resume.data = c;
    uv_check_start(&c->resume, on_resume);
    uv_timer_init(&c->loop, &c->trim);
    c->trim.data = c;
    uv_timer_start(&c->trim, on_trim, 0, TRIM_EVERY_MS);
    rc = pthread_create(&c->thread, NULL, run, c);
    if (rc != 0) {
        uv_close((uv_handle_t *)&c->wake, NULL);
        uv_close((uv_handle_t *)&c->linger, NULL);
        uv_close((uv_handle_t *)&c->resume, NULL);
        uv_close((uv_handle_t *)&c->trim, NULL);
        uv_run(&c->loop, UV_RUN_DEFAULT);
        uv_loop_close(&c->loop);
        store_logs_close(st);
        free(c->text);
        free(c);
        return err_set(err, ERR_SYS(rc), "cannot start the log capture thread: %s", strerror(rc));
    }
    pthread_setname_np(c->thread, "berthd-logs");
    *out = c;
    return 0;
}

void logs_capture_free(struct logs_capture *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->lock);
    c->stopping = true;
    pthread_mutex_unlock(&c->lock);
    uv_async_send(&c->wake);
    pthread_join(c->thread, NULL);
    uv_loop_close(&c->loop);
    for (struct source *s = c->pending, *next; s; s = next) {
        next = s->next;
        close(s->fd);
        on_closed((uv_handle_t *)&s->pipe);
    }
    store_logs_close(c->store);
    pthread_mutex_destroy(&c->lock);
    free(c->text);
    free(c);
}

void logs_capture_set_hook(struct logs_capture *c, logs_line_fn *fn, void *arg)
{
    pthread_mutex_lock(&c->lock);
    c->on_line = fn;
    c->on_line_arg = arg;
    pthread_mutex_unlock(&c->lock);
}

static struct source *source_new(struct logs_capture *c, const char *group_id,
                                 const char *service_id, const char *pod, enum logs_stream stream,
                                 int fd)
{
    struct source *s = xcalloc(1, sizeof(*s));
    s->c = c;
    s->group = xstrdup(group_id);
    s->service = xstrdup(service_id);
    s->pod = xstrdup(pod);
    s->stream = stream;
    s->fd = fd;
    s->pipe.data = s;
    s->cut.emit = on_cut;
    s->cut.arg = s;
    return s;
}

int logs_capture_open(struct logs_capture *c, const char *group_id, const char *service_id,
                      const char *pod, int fds[2], struct err *err)
{
    return logs_capture_open_held(c, group_id, service_id, pod, fds, NULL, err);
}

static void queue_sources(struct logs_capture *c, struct source *out, struct source *er)
{
    pthread_mutex_lock(&c->lock);
    er->next = c->pending;
    out->next = er;
    c->pending = out;
    pthread_mutex_unlock(&c->lock);
    uv_async_send(&c->wake);
}

int logs_capture_open_held(struct logs_capture *c, const char *group_id, const char *service_id,
                           const char *pod, int fds[2], int held[2], struct err *err)
{
    int p[2][2];
    if (pipe2(p[0], O_CLOEXEC) != 0)
        return err_set(err, ERR_SYS(errno), "pipe: %s", strerror(errno));
    if (pipe2(p[1], O_CLOEXEC) != 0) {
        int e = errno;
        close(p[0][0]);
        close(p[0][1]);
        return err_set(err, ERR_SYS(e), "pipe: %s", strerror(e));
    }
    for (int i = 0; held && i < 2; i++) {
        held[i] = fcntl(p[i][0], F_DUPFD_CLOEXEC, 3);
        if (held[i] < 0) {
            int e = errno;
            if (i)
                close(held[0]);
            for (int k = 0; k < 2; k++)
                close(p[k][0]), close(p[k][1]);
            return err_set(err, ERR_SYS(e), "dup: %s", strerror(e));
        }
    }
    for (int i = 0; i < 2; i++) {
        /* Room for a burst before the instance has to wait (best effort). */
        (void)fcntl(p[i][0], F_SETPIPE_SZ, PIPE_BYTES);
        fds[i] = p[i][1];
    }
    struct source *out = source_new(c, group_id, service_id, pod, LOGS_STDOUT, p[0][0]);
    struct source *er = source_new(c, group_id, service_id, pod, LOGS_STDERR, p[1][0]);
    queue_sources(c, out, er);
    return 0;
}

void logs_capture_attach(struct logs_capture *c, const char *group_id, const char *service_id,
                         const char *pod, const int fds[2])
{
    struct source *out = source_new(c, group_id, service_id, pod, LOGS_STDOUT, fds[0]);
    struct source *er = source_new(c, group_id, service_id, pod, LOGS_STDERR, fds[1]);
    queue_sources(c, out, er);
}

void logs_capture_stats(struct logs_capture *c, struct logs_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (!c)
        return;
    out->lines_stored = __atomic_load_n(&c->stats.lines_stored, __ATOMIC_RELAXED);
    out->bytes_stored = __atomic_load_n(&c->stats.bytes_stored, __ATOMIC_RELAXED);
    out->lines_dropped = __atomic_load_n(&c->stats.lines_dropped, __ATOMIC_RELAXED);
    out->lines_trimmed = __atomic_load_n(&c->stats.lines_trimmed, __ATOMIC_RELAXED);
    out->store_bytes = __atomic_load_n(&c->stats.store_bytes, __ATOMIC_RELAXED);
    out->sources_open = __atomic_load_n(&c->stats.sources_open, __ATOMIC_RELAXED);
}

void logs_capture_write_metrics(struct buf *out, void *ud)
{
    struct logs_stats st;
    logs_capture_stats(ud, &st);
    prom_family(out, "berth_log_lines_stored_total", PROM_COUNTER,
                "Lines instances printed that the log store took.");
    prom_sample_u64(out, "berth_log_lines_stored_total", NULL, 0, st.lines_stored);
    prom_family(out, "berth_log_bytes_stored_total", PROM_COUNTER,
                "Bytes of the lines the log store took (escaped text).");
    prom_sample_u64(out, "berth_log_bytes_stored_total", NULL, 0, st.bytes_stored);
    prom_family(out, "berth_log_lines_dropped_total", PROM_COUNTER,
                "Lines the log store failed to take (a write error).");
    prom_sample_u64(out, "berth_log_lines_dropped_total", NULL, 0, st.lines_dropped);
    prom_family(out, "berth_log_lines_trimmed_total", PROM_COUNTER,
                "Stored lines removed by the retention (--log-retention-days) or the size cap "
                "(--log-max-mib).");
    prom_sample_u64(out, "berth_log_lines_trimmed_total", NULL, 0, st.lines_trimmed);
    prom_family(out, "berth_log_store_bytes", PROM_GAUGE,
                "The log store's size in use, as last measured.");
    prom_sample_u64(out, "berth_log_store_bytes", NULL, 0,
                    st.store_bytes > 0 ? (uint64_t)st.store_bytes : 0);
    prom_family(out, "berth_log_streams_open", PROM_GAUGE, "Instance output streams being read.");
    prom_sample_u64(out, "berth_log_streams_open", NULL, 0, st.sources_open);
}
