/* engine.c - the Docker Engine API over a unix socket. Requests are plain
 * HTTP/1.1 to http://engine/v1.41/...; answers are capped (ENGINE_MAX_BYTES)
 * except the two streams (a pull's progress, a container's output), which
 * are consumed as they come. */
#include "drivers/engine.h"
#include "base/alloc.h"
#include "base/buf.h"
#include "base/crypto.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ENGINE_MAX_BYTES (4u << 20)
#define ENGINE_CONNECT_MS 5000L
#define ENGINE_CALL_MS 60000L

int drv_registry_auths_load(const char *path, struct drv_registry_auth **out, size_t *n,
                            struct err *err)
{
    *out = NULL;
    *n = 0;
    struct buf text;
    buf_init(&text, 1 << 20);
    int rc = buf_read_file(&text, path, err);
    if (rc) {
        buf_release(&text);
        return rc;
    }
    int line = 0;
    for (char *p = text.ptr, *eol; !rc && p && *p; p = eol ? eol + 1 : NULL) {
        eol = strchr(p, '\n');
        if (eol)
            *eol = '\0';
        line++;
        char *hash = strchr(p, '#');
        if (hash)
            *hash = '\0';
        char host[256], user[256], pass[512], extra[2];
        int k = sscanf(p, "%255s %255s %511s %1s", host, user, pass, extra);
        if (k <= 0)
            continue;
        if (k != 3) {
            rc = err_set(err, ERR_INVALID, "%s:%d: want 'HOST USERNAME PASSWORD'", path, line);
            break;
        }
        *out = xrealloc(*out, (*n + 1) * sizeof(**out));
        (*out)[*n] = (struct drv_registry_auth){xstrdup(host), xstrdup(user), xstrdup(pass)};
        (*n)++;
    }
    crypto_wipe(text.ptr, text.len);
    buf_release(&text);
    if (rc) {
        drv_registry_auths_free(*out, *n);
        *out = NULL;
        *n = 0;
    }
    return rc;
}

void drv_registry_auths_free(struct drv_registry_auth *a, size_t n)
{
    for (size_t i = 0; a && i < n; i++) {
        free(a[i].host);
        free(a[i].username);
        crypto_wipe(a[i].password, strlen(a[i].password));
        free(a[i].password);
    }
    free(a);
}

void drv_image_registry(const char *image, char *out, size_t size)
{
    const char *slash = strchr(image, '/');
    size_t n = slash ? (size_t)(slash - image) : 0;
    bool host = n && (memchr(image, '.', n) || memchr(image, ':', n) ||
                      (n == 9 && strncmp(image, "localhost", 9) == 0));
    if (!host)
        snprintf(out, size, "docker.io");
    else
        snprintf(out, size, "%.*s", (int)n, image);
}

void drv_image_split(const char *image, char *from, size_t from_size, char *tag, size_t tag_size)
{
    const char *at = strchr(image, '@');
    const char *slash = strrchr(image, '/');
    const char *colon = strrchr(image, ':');
    if (at) {
        snprintf(from, from_size, "%s", image); /* a digest goes whole into fromImage */
        snprintf(tag, tag_size, "%s", "");
    } else if (colon && (!slash || colon > slash)) {
        snprintf(from, from_size, "%.*s", (int)(colon - image), image);
        snprintf(tag, tag_size, "%s", colon + 1);
    } else {
        snprintf(from, from_size, "%s", image);
        snprintf(tag, tag_size, "latest");
    }
}

char *drv_registry_auth_header(const struct drv_registry_auth *a)
{
    json_t *j = json_pack("{s:s, s:s, s:s}", "username", a->username, "password", a->password,
                          "serveraddress", a->host);
    char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    size_t len = strlen(text);
    char *out = xmalloc(4 * (len / 3 + 1) + 1);
    size_t n = crypto_base64((const uint8_t *)text, len, out);
    free(text);
    for (size_t i = 0; i < n; i++) /* base64url, as the engine expects */
        out[i] = out[i] == '+' ? '-' : out[i] == '/' ? '_' : out[i];
    out[n] = '\0';
    return out;
}

/* ------------------------------------------------------------------------ */
/* Requests                                                                 */

struct call {
    struct buf body; /* the answer, capped */
    bool toobig;
    /* Streaming instead: each chunk goes here. */
    size_t (*stream)(void *arg, const char *data, size_t n);
    void *arg;
};

static size_t on_data(char *data, size_t size, size_t nmemb, void *userp)
{
    struct call *c = userp;
    size_t n = size * nmemb;
    if (c->stream)
        return c->stream(c->arg, data, n);
    if (buf_append(&c->body, data, n) != 0) {
        c->toobig = true;
        return 0;
    }
    return n;
}

/* The engine's reason from an error answer: {"message": "..."} or the text. */
static void engine_reason(const struct call *c, char *out, size_t size)
{
    json_t *j = json_loads(c->body.ptr ? c->body.ptr : "", 0, NULL);
    const char *m = json_string_value(json_object_get(j, "message"));
    snprintf(out, size, "%s", m ? m : c->body.ptr ? c->body.ptr : "");
    json_decref(j);
    size_t n = strlen(out);
    while (n && (out[n - 1] == '\n' || out[n - 1] == '\r'))
        out[--n] = '\0';
}

/* One request. *status gets the HTTP status; a transport failure is an
 * error. 'timeout_ms' 0: no limit (streams). */
static int request(const char *sock, const char *method, const char *path, const char *json_body,
                   const char *auth, long timeout_ms, struct call *c, long *status, struct err *err)
{
    CURL *h = curl_easy_init();
    if (!h)
        return err_set(err, ERR_INTERNAL, "cannot make a curl handle");
    char *url = xasprintf("http://engine/%s%s", DRV_ENGINE_API, path);
    struct curl_slist *hdrs = NULL;
    char *auth_hdr = auth ? xasprintf("X-Registry-Auth: %s", auth) : NULL;
    if (json_body)
        hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
    if (auth_hdr)
        hdrs = curl_slist_append(hdrs, auth_hdr);
    hdrs = curl_slist_append(hdrs, "Expect:");
    curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, sock);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    if (json_body)
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, json_body);
    else if (strcmp(method, "POST") == 0)
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, ENGINE_CONNECT_MS);
    if (timeout_ms > 0)
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
    CURLcode cc = curl_easy_perform(h);
    int rc = 0;
    *status = 0;
    if (cc == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
    else if (c->toobig)
        rc = err_set(err, ERR_TOOBIG, "the engine's answer to %s %s is over %u bytes", method, path,
                     ENGINE_MAX_BYTES);
    else
        rc = err_set(err, ERR_UNAVAILABLE, "container engine at '%s': %s %s: %s", sock, method,
                     path, curl_easy_strerror(cc));
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);
    free(url);
    free(auth_hdr);
    return rc;
}

/* A request whose answer is small; 2xx is success, anything else an error
 * with the engine's message. 'ok_also' is one more status taken as success
 * (304 not modified, 404 already gone), 0 for none. */
static int simple(const char *sock, const char *method, const char *path, const char *json_body,
                  long ok_also, long timeout_ms, struct buf *answer, struct err *err)
{
    struct call c = {0};
    buf_init(&c.body, ENGINE_MAX_BYTES);
    long status;
    int rc = request(sock, method, path, json_body, NULL, timeout_ms, &c, &status, err);
    if (!rc && (status < 200 || status >= 300) && status != ok_also) {
        char reason[400];
        engine_reason(&c, reason, sizeof(reason));
        rc = err_set(err, status == 404 ? ERR_NOTFOUND : ERR_UNAVAILABLE, "%s %s: %ld %s", method,
                     path, status, reason);
    }
    if (answer && !rc) {
        buf_release(answer);
        *answer = c.body;
    } else {
        buf_release(&c.body);
    }
    return rc;
}

static char *escape(const char *s)
{
    CURL *h = curl_easy_init();
    char *e = h ? curl_easy_escape(h, s, 0) : NULL;
    char *out = xstrdup(e ? e : "");
    curl_free(e);
    if (h)
        curl_easy_cleanup(h);
    return out;
}

int drv_engine_ping(const char *sock, struct err *err)
{
    return simple(sock, "GET", "/version", NULL, 0, ENGINE_CONNECT_MS, NULL, err);
}

/* ------------------------------------------------------------------------ */
/* Pull                                                                     */

struct pull {
    struct buf line;
    drv_pull_cb cb;
    void *arg;
    char error[512];
};

static void pull_line(struct pull *p)
{
    json_t *j = json_loads(p->line.ptr, 0, NULL);
    if (!j)
        return;
    const char *e = json_string_value(json_object_get(j, "error"));
    if (e && !p->error[0])
        snprintf(p->error, sizeof(p->error), "%s", e);
    const char *status = json_string_value(json_object_get(j, "status"));
    json_t *d = json_object_get(j, "progressDetail");
    if (status && p->cb)
        p->cb(p->arg, status, json_string_value(json_object_get(j, "id")),
              (long long)json_integer_value(json_object_get(d, "current")),
              (long long)json_integer_value(json_object_get(d, "total")));
    json_decref(j);
}

static size_t pull_data(void *arg, const char *data, size_t n)
{
    struct pull *p = arg;
    for (size_t i = 0; i < n; i++) {
        if (data[i] != '\n') {
            if (buf_putc(&p->line, data[i]) != 0)
                return 0; /* a line over the cap: not the engine we know */
            continue;
        }
        if (p->line.len)
            pull_line(p);
        buf_reset(&p->line);
    }
    return n;
}

int drv_engine_pull(const char *sock, const char *image, const struct drv_registry_auth *auth,
                    drv_pull_cb cb, void *arg, struct err *err)
{
    char from[512], tag[256];
    drv_image_split(image, from, sizeof(from), tag, sizeof(tag));
    char *ef = escape(from), *et = escape(tag);
    char *path = tag[0] ? xasprintf("/images/create?fromImage=%s&tag=%s", ef, et)
                        : xasprintf("/images/create?fromImage=%s", ef);
    char *hdr = auth ? drv_registry_auth_header(auth) : NULL;
    struct pull p = {.cb = cb, .arg = arg};
    buf_init(&p.line, 1 << 16);
    struct call c = {.stream = pull_data, .arg = &p};
    buf_init(&c.body, ENGINE_MAX_BYTES);
    long status;
    int rc = request(sock, "POST", path, NULL, hdr, 0, &c, &status, err);
    if (!rc && p.line.len)
        pull_line(&p);
    if (!rc && (status < 200 || status >= 300)) {
        /* An error answer is one JSON object: it went through the line parser. */
        rc = err_set(err, ERR_UNAVAILABLE, "cannot pull '%s': %s", image,
                     p.error[0] ? p.error : "the engine refused the pull");
    } else if (!rc && p.error[0]) {
        rc = err_set(err, ERR_UNAVAILABLE, "cannot pull '%s': %s", image, p.error);
    }
    buf_release(&p.line);
    buf_release(&c.body);
    free(ef);
    free(et);
    free(path);
    free(hdr);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Containers                                                               */

int drv_engine_create(const char *sock, const char *name, json_t *body, char id[72],
                      struct err *err)
{
    char *en = escape(name);
    char *path = xasprintf("/containers/create?name=%s", en);
    char *text = json_dumps(body, JSON_COMPACT);
    struct buf answer;
    buf_init(&answer, ENGINE_MAX_BYTES);
    int rc = simple(sock, "POST", path, text, 0, ENGINE_CALL_MS, &answer, err);
    if (!rc) {
        json_t *j = json_loads(answer.ptr, 0, NULL);
        const char *v = json_string_value(json_object_get(j, "Id"));
        if (v && strlen(v) < 72)
            snprintf(id, 72, "%s", v);
        else
            rc = err_set(err, ERR_INTERNAL, "the engine created '%s' without an Id", name);
        json_decref(j);
    }
    buf_release(&answer);
    free(text);
    free(path);
    free(en);
    return rc;
}

static int container_call(const char *sock, const char *method, const char *id, const char *what,
                          long ok_also, long timeout_ms, struct err *err)
{
    char *path = xasprintf("/containers/%s%s", id, what);
    int rc = simple(sock, method, path, NULL, ok_also, timeout_ms, NULL, err);
    free(path);
    return rc;
}

int drv_engine_start(const char *sock, const char *id, struct err *err)
{
    return container_call(sock, "POST", id, "/start", 304, ENGINE_CALL_MS, err);
}

int drv_engine_stop(const char *sock, const char *id, int timeout_s, struct err *err)
{
    char what[32];
    snprintf(what, sizeof(what), "/stop?t=%d", timeout_s);
    return container_call(sock, "POST", id, what, 304, ENGINE_CALL_MS + timeout_s * 1000L, err);
}

int drv_engine_kill(const char *sock, const char *id, struct err *err)
{
    /* 409: it is not running, which is what a kill wants. */
    return container_call(sock, "POST", id, "/kill?signal=KILL", 409, ENGINE_CALL_MS, err);
}

int drv_engine_remove(const char *sock, const char *id, struct err *err)
{
    return container_call(sock, "DELETE", id, "?v=1&force=1", 404, ENGINE_CALL_MS, err);
}

int drv_engine_inspect_json(const char *sock, const char *id, json_t **out, struct err *err)
{
    char *path = xasprintf("/containers/%s/json", id);
    struct buf answer;
    buf_init(&answer, ENGINE_MAX_BYTES);
    int rc = simple(sock, "GET", path, NULL, 0, ENGINE_CALL_MS, &answer, err);
    *out = rc ? NULL : json_loads(answer.ptr, 0, NULL);
    if (!rc && !*out)
        rc = err_set(err, ERR_INVALID, "the engine's inspect of '%s' is not JSON", id);
    buf_release(&answer);
    free(path);
    return rc;
}

int drv_engine_image_check(const char *sock, const char *ref, struct err *err)
{
    char *path = xasprintf("/images/%s/json", ref);
    int rc = simple(sock, "GET", path, NULL, 0, ENGINE_CALL_MS, NULL, err);
    free(path);
    return rc;
}

int drv_engine_inspect(const char *sock, const char *id, struct drv_engine_state *out,
                       struct err *err)
{
    memset(out, 0, sizeof(*out));
    json_t *j;
    int rc = drv_engine_inspect_json(sock, id, &j, err);
    if (rc)
        return rc;
    json_t *st = json_object_get(j, "State");
    out->running = json_is_true(json_object_get(st, "Running"));
    out->exit_code = (int)json_integer_value(json_object_get(st, "ExitCode"));
    out->oom_killed = json_is_true(json_object_get(st, "OOMKilled"));
    out->pid = (int)json_integer_value(json_object_get(st, "Pid"));
    snprintf(out->error, sizeof(out->error), "%s",
             json_string_value(json_object_get(st, "Error")) ?: "");
    json_decref(j);
    return 0;
}

/* The output stream: frames of an 8-byte header (stream type, 3 zero bytes,
 * big-endian length) and the payload. */
struct demux {
    unsigned char hdr[8];
    size_t have; /* header bytes so far */
    size_t left; /* payload bytes still to come */
    int fd;      /* where this frame goes */
    int out_fd, err_fd;
};

static void write_all(int fd, const char *p, size_t n)
{
    while (n > 0 && fd >= 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return; /* the capture went away: drop the rest */
        p += w;
        n -= (size_t)w;
    }
}

static size_t demux_data(void *arg, const char *data, size_t n)
{
    struct demux *d = arg;
    size_t i = 0;
    while (i < n) {
        if (d->left == 0) {
            d->hdr[d->have++] = (unsigned char)data[i++];
            if (d->have < 8)
                continue;
            d->have = 0;
            d->left = (size_t)d->hdr[4] << 24 | (size_t)d->hdr[5] << 16 | (size_t)d->hdr[6] << 8 |
                      (size_t)d->hdr[7];
            d->fd = d->hdr[0] == 2 ? d->err_fd : d->out_fd;
            continue;
        }
        size_t k = n - i < d->left ? n - i : d->left;
        write_all(d->fd, data + i, k);
        i += k;
        d->left -= k;
    }
    return n;
}

int drv_engine_logs(const char *sock, const char *id, long long since, int out_fd, int err_fd,
                    struct err *err)
{
    char *path = xasprintf("/containers/%s/logs?follow=1&stdout=1&stderr=1&since=%lld", id, since);
    struct demux d = {.out_fd = out_fd, .err_fd = err_fd};
    struct call c = {.stream = demux_data, .arg = &d};
    buf_init(&c.body, ENGINE_MAX_BYTES);
    long status;
    int rc = request(sock, "GET", path, NULL, NULL, 0, &c, &status, err);
    if (!rc && status != 200)
        rc = err_set(err, ERR_UNAVAILABLE, "GET %s: %ld", path, status);
    buf_release(&c.body);
    free(path);
    return rc;
}

int drv_engine_exec(const char *sock, const char *id, char *const *argv, int timeout_s, int *status,
                    struct err *err)
{
    *status = -1;
    json_t *cmd = json_array();
    for (size_t i = 0; argv[i]; i++)
        json_array_append_new(cmd, json_string(argv[i]));
    json_t *body = json_pack("{s:o, s:b, s:b}", "Cmd", cmd, "AttachStdout", 1, "AttachStderr", 1);
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    char *path = xasprintf("/containers/%s/exec", id);
    struct buf answer;
    buf_init(&answer, ENGINE_MAX_BYTES);
    int rc = simple(sock, "POST", path, text, 0, ENGINE_CALL_MS, &answer, err);
    free(text);
    free(path);
    char exec_id[80] = "";
    if (!rc) {
        json_t *j = json_loads(answer.ptr, 0, NULL);
        snprintf(exec_id, sizeof(exec_id), "%s", json_string_value(json_object_get(j, "Id")) ?: "");
        json_decref(j);
        if (!exec_id[0])
            rc = err_set(err, ERR_INTERNAL, "the engine made an exec without an Id");
    }
    if (!rc) {
        /* Its output is read and dropped; the call returns when it exits. */
        path = xasprintf("/exec/%s/start", exec_id);
        struct demux d = {.out_fd = -1, .err_fd = -1};
        struct call c = {.stream = demux_data, .arg = &d};
        buf_init(&c.body, ENGINE_MAX_BYTES);
        long st;
        rc = request(sock, "POST", path, "{\"Detach\":false,\"Tty\":false}", NULL,
                     timeout_s * 1000L, &c, &st, err);
        buf_release(&c.body);
        free(path);
    }
    if (!rc) {
        path = xasprintf("/exec/%s/json", exec_id);
        buf_reset(&answer);
        rc = simple(sock, "GET", path, NULL, 0, ENGINE_CALL_MS, &answer, err);
        free(path);
        json_t *j = rc ? NULL : json_loads(answer.ptr, 0, NULL);
        if (j && !json_is_true(json_object_get(j, "Running")))
            *status = (int)json_integer_value(json_object_get(j, "ExitCode"));
        json_decref(j);
    }
    buf_release(&answer);
    return rc;
}

int drv_engine_list(const char *sock, const char *label, json_t **out, struct err *err)
{
    json_t *f = json_pack("{s:[s]}", "label", label);
    char *ft = json_dumps(f, JSON_COMPACT);
    json_decref(f);
    char *ef = escape(ft);
    char *path = xasprintf("/containers/json?all=1&filters=%s", ef);
    struct buf answer;
    buf_init(&answer, ENGINE_MAX_BYTES);
    int rc = simple(sock, "GET", path, NULL, 0, ENGINE_CALL_MS, &answer, err);
    *out = rc ? NULL : json_loads(answer.ptr, 0, NULL);
    if (!rc && !json_is_array(*out)) {
        json_decref(*out);
        *out = NULL;
        rc = err_set(err, ERR_INVALID, "the engine's container list is not a JSON array");
    }
    buf_release(&answer);
    free(path);
    free(ef);
    free(ft);
    return rc;
}
