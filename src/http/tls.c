/* tls.c - HTTPS for the server's listeners, over base/crypto's memory-buffer
 * sessions. The listener's context sits behind a lock only to be swapped:
 * a session takes its own reference to the context it starts with, so a
 * reload never touches the connections already open. */
#include "http/tls.h"
#include "base/alloc.h"
#include "base/crypto.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* Buffers this small are copied together and sent as one record (a head
 * and a short body): one record costs a header, a tag and a syscall's share. */
#define COALESCE_BYTES (16 * 1024)

struct http_tls {
    char *cert_file, *key_file;
    pthread_mutex_t lock;
    struct crypto_tls_ctx *ctx;
};

struct http_tls_conn {
    struct crypto_tls *s;
    bool started; /* the first byte has been seen */
    bool plain;   /* ... and it began a plain HTTP request */
    bool failed;  /* no close_notify after a fatal alert */
};

int http_tls_open(const char *cert_file, const char *key_file, const char *what,
                  struct http_tls **out, struct err *err)
{
    *out = NULL;
    if (!cert_file && !key_file)
        return 0;
    if (!cert_file || !key_file || !*cert_file || !*key_file)
        return err_set(err, ERR_INVALID, "%s-cert and %s-key go together: give both or neither",
                       what, what);
    struct crypto_tls_ctx *ctx;
    int rc = crypto_tls_server_ctx_new(cert_file, key_file, &ctx, err);
    if (rc)
        return rc;
    struct http_tls *t = xcalloc(1, sizeof(*t));
    t->cert_file = xstrdup(cert_file);
    t->key_file = xstrdup(key_file);
    pthread_mutex_init(&t->lock, NULL);
    t->ctx = ctx;
    *out = t;
    return 0;
}

int http_tls_reload(struct http_tls *t, struct err *err)
{
    struct crypto_tls_ctx *ctx;
    int rc = crypto_tls_server_ctx_new(t->cert_file, t->key_file, &ctx, err);
    if (rc)
        return rc;
    pthread_mutex_lock(&t->lock);
    struct crypto_tls_ctx *old = t->ctx;
    t->ctx = ctx;
    pthread_mutex_unlock(&t->lock);
    crypto_tls_ctx_free(old); /* its sessions hold their own references */
    return 0;
}

void http_tls_describe(struct http_tls *t, char *out, size_t size)
{
    pthread_mutex_lock(&t->lock);
    crypto_tls_ctx_describe(t->ctx, out, size);
    pthread_mutex_unlock(&t->lock);
}

void http_tls_free(struct http_tls *t)
{
    if (!t)
        return;
    crypto_tls_ctx_free(t->ctx);
    pthread_mutex_destroy(&t->lock);
    free(t->cert_file);
    free(t->key_file);
    free(t);
}

struct http_tls_conn *http_tls_conn_new(struct http_tls *t)
{
    struct http_tls_conn *tc = xcalloc(1, sizeof(*tc));
    pthread_mutex_lock(&t->lock);
    tc->s = crypto_tls_new_server(t->ctx);
    pthread_mutex_unlock(&t->lock);
    return tc;
}

void http_tls_conn_free(struct http_tls_conn *tc)
{
    if (!tc)
        return;
    crypto_tls_free(tc->s);
    free(tc);
}

int http_tls_conn_feed(struct http_tls_conn *tc, const char *data, size_t len)
{
    if (!len)
        return 0;
    if (!tc->started) {
        /* A TLS connection opens with a handshake record (22); a request
         * line opens with a method's capital letters. */
        tc->started = true;
        tc->plain = data[0] >= 'A' && data[0] <= 'Z';
    }
    if (tc->plain)
        return ERR_INVALID;
    crypto_tls_feed(tc->s, data, len);
    return 0;
}

bool http_tls_conn_plain(const struct http_tls_conn *tc)
{
    return tc->plain;
}

int http_tls_conn_read(struct http_tls_conn *tc, char *out, size_t cap, struct err *err)
{
    int n = crypto_tls_read(tc->s, out, cap, err);
    if (n < 0 && n != ERR_AGAIN)
        tc->failed = true;
    return n;
}

int http_tls_conn_write(struct http_tls_conn *tc, const uv_buf_t *bufs, unsigned nbufs)
{
    size_t total = 0;
    for (unsigned i = 0; i < nbufs; i++)
        total += bufs[i].len;
    if (nbufs > 1 && total <= COALESCE_BYTES) {
        static _Thread_local char joined[COALESCE_BYTES];
        size_t o = 0;
        for (unsigned i = 0; i < nbufs; i++) {
            memcpy(joined + o, bufs[i].base, bufs[i].len);
            o += bufs[i].len;
        }
        return crypto_tls_write(tc->s, joined, o, NULL);
    }
    for (unsigned i = 0; i < nbufs; i++) {
        int rc = crypto_tls_write(tc->s, bufs[i].base, bufs[i].len, NULL);
        if (rc)
            return rc;
    }
    return 0;
}

char *http_tls_conn_take(struct http_tls_conn *tc, size_t *len)
{
    size_t n = crypto_tls_pending(tc->s);
    if (!n)
        return NULL;
    char *block = xmalloc(n);
    *len = crypto_tls_take(tc->s, block, n);
    return block;
}

void http_tls_conn_close_notify(struct http_tls_conn *tc)
{
    if (!tc->failed && !tc->plain)
        crypto_tls_close_notify(tc->s);
}
