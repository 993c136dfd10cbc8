/* tls.h - HTTPS for the HTTP server's listeners: a listener's certificate
 * and key, reloadable while it serves, and the TLS session of each of its
 * connections over memory buffers (the server keeps the socket on its own
 * loop: bytes read go in with http_tls_conn_feed(), records to send come
 * out of http_tls_conn_take()). Fallible calls return 0 or a negative
 * ERR_* code and fill 'err' when it is not NULL. */
#ifndef BERTH_HTTP_TLS_H
#define BERTH_HTTP_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include <uv.h>

#include "base/err.h"

struct http_tls;

/* The TLS settings of a listener from PEM files: the certificate chain
 * (the server's own first) and its private key. Both NULL: no TLS, *out
 * is NULL and 0 is returned; one without the other is an error naming
 * 'what' (e.g. "--api-tls"). Main thread. */
int http_tls_open(const char *cert_file, const char *key_file, const char *what,
                  struct http_tls **out, struct err *err);
/* Read the files again: connections made from now on get the new
 * certificate, those open keep theirs. On failure the old one stays.
 * Main thread; sessions may start on other threads meanwhile. */
int http_tls_reload(struct http_tls *t, struct err *err);
/* The certificate in force, for a log line: subject, serial, expiry. */
void http_tls_describe(struct http_tls *t, char *out, size_t size);
/* After the servers using it have stopped. Accepts NULL. */
void http_tls_free(struct http_tls *t);

/* One connection's session; any thread, one at a time. */
struct http_tls_conn;
struct http_tls_conn *http_tls_conn_new(struct http_tls *t);
void http_tls_conn_free(struct http_tls_conn *tc); /* accepts NULL */
/* Bytes read from the client. ERR_INVALID when they are not TLS but a
 * plain HTTP request (http_tls_conn_plain() then says so). */
int http_tls_conn_feed(struct http_tls_conn *tc, const char *data, size_t len);
bool http_tls_conn_plain(const struct http_tls_conn *tc);
/* Plaintext from the client into 'out': > 0 bytes, ERR_AGAIN when no whole
 * record is there (the handshake may want to send: take), 0 when the
 * client closed the session, ERR_INVALID when it failed (a handshake the
 * client cannot finish: TLS 1.1, no common cipher; a bad record). */
int http_tls_conn_read(struct http_tls_conn *tc, char *out, size_t cap, struct err *err);
/* Encrypt 'bufs' in order, small ones together in one record. Fails
 * (and sends nothing) before the handshake is done. */
int http_tls_conn_write(struct http_tls_conn *tc, const uv_buf_t *bufs, unsigned nbufs);
/* The records waiting to go to the client as one block (the caller frees
 * it), or NULL when there are none. */
char *http_tls_conn_take(struct http_tls_conn *tc, size_t *len);
/* Queue close_notify (once, after a finished handshake that did not fail). */
void http_tls_conn_close_notify(struct http_tls_conn *tc);

#endif
