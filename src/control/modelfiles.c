/* modelfiles.c - a version's model files for its instances (modelfiles.h). */
#include "control/modelfiles.h"
#include "base/alloc.h"
#include "base/buf.h"
#include "base/crypto.h"
#include "base/err.h"
#include "base/log.h"
#include "http/server.h"
#include "store/store.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#define PREFIX "/model-files/v1/"
#define MAX_FILES 10000
#define MAX_DEPTH 32
/* A file goes out in pieces of this, at most TURN_BYTES per turn of the
 * worker's loop (its other connections get their turn), and while the
 * client reads slower than that, no more is read until it has caught up. */
#define PIECE_BYTES (64 * 1024)
#define TURN_BYTES (1024 * 1024)
/* A client that takes nothing for this long is cut off. */
#define STALL_MS 60000
/* Hashes of the files last listed, so that each instance's manifest does
 * not hash the whole model again: checked against the file's identity. */
#define HASH_CACHE 256

void ctl_model_token(const uint8_t *seal_key, size_t key_len, const char *service_id, char out[65])
{
    char *msg = xasprintf("berth-model-files:%s", service_id);
    uint8_t mac[CRYPTO_SHA256_BYTES];
    crypto_hmac_sha256(seal_key, key_len, msg, strlen(msg), mac);
    crypto_hex(mac, sizeof(mac), out);
    crypto_wipe(mac, sizeof(mac));
    free(msg);
}

static void json_error(struct http_response *res, int status, const char *msg)
{
    json_t *o = json_pack("{s:s}", "error", msg);
    char *t = json_dumps(o, JSON_COMPACT);
    res->status = status;
    res->content_type = "application/json";
    buf_reset(&res->body);
    buf_puts(&res->body, t ? t : "{\"error\":\"?\"}");
    free(t);
    json_decref(o);
}

/* The version's ModelPath, resolved (realpath), when it lies inside the
 * data directory's models/; NULL when the service does not exist or has
 * none. A service id is unique across regions: the lookup needs none. */
static char *model_dir(struct store *st, const char *data_dir, const char *id)
{
    struct store_service s = {0};
    struct err err = {0};
    if (store_service_get(st, NULL, id, &s, &err) != 0) {
        if (err.code != ERR_NOTFOUND)
            log_warn("modelfiles", "cannot read service %s: %s", id, err.msg);
        return NULL;
    }
    char *path = NULL;
    json_t *spec = s.spec_json ? json_loads(s.spec_json, 0, NULL) : NULL;
    const char *mp = json_string_value(json_object_get(spec, "ModelPath"));
    if (mp && *mp)
        path = mp[0] == '/' ? xstrdup(mp) : xasprintf("%s/%s", data_dir, mp);
    json_decref(spec);
    store_service_release(&s);
    if (!path)
        return NULL;
    char *real = realpath(path, NULL);
    free(path);
    char *models = xasprintf("%s/models/", data_dir);
    if (real && strncmp(real, models, strlen(models)) != 0) {
        log_warn("modelfiles", "service %s: its ModelPath '%s' is outside %s", id, real, models);
        free(real);
        real = NULL;
    }
    free(models);
    return real;
}

/* ------------------------------------------------------------------------ */
/* Hashes                                                                   */

struct hash_entry {
    char *path;
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime, ctime;
    char hex[65];
};

static pthread_mutex_t hash_lock = PTHREAD_MUTEX_INITIALIZER;
static struct hash_entry hashes[HASH_CACHE];
static size_t hash_next;

static bool same_file(const struct hash_entry *e, const char *path, const struct stat *sb)
{
    return e->path && strcmp(e->path, path) == 0 && e->dev == sb->st_dev && e->ino == sb->st_ino &&
           e->size == sb->st_size && e->mtime.tv_sec == sb->st_mtim.tv_sec &&
           e->mtime.tv_nsec == sb->st_mtim.tv_nsec && e->ctime.tv_sec == sb->st_ctim.tv_sec &&
           e->ctime.tv_nsec == sb->st_ctim.tv_nsec;
}

static bool hash_cached(const char *path, const struct stat *sb, char hex[65])
{
    bool found = false;
    pthread_mutex_lock(&hash_lock);
    for (size_t i = 0; i < HASH_CACHE && !found; i++)
        if (same_file(&hashes[i], path, sb)) {
            memcpy(hex, hashes[i].hex, 65);
            found = true;
        }
    pthread_mutex_unlock(&hash_lock);
    return found;
}

static void hash_remember(const char *path, const struct stat *sb, const char hex[65])
{
    pthread_mutex_lock(&hash_lock);
    struct hash_entry *e = &hashes[hash_next];
    hash_next = (hash_next + 1) % HASH_CACHE;
    free(e->path);
    *e = (struct hash_entry){.path = xstrdup(path),
                             .dev = sb->st_dev,
                             .ino = sb->st_ino,
                             .size = sb->st_size,
                             .mtime = sb->st_mtim,
                             .ctime = sb->st_ctim};
    memcpy(e->hex, hex, 65);
    pthread_mutex_unlock(&hash_lock);
}

/* SHA-256 of a whole file through a read-only mapping, so that no heap
 * buffer holds it (a model version's files do not change once imported). */
static int file_sha256(const char *path, struct stat *sb, char hex[65])
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return -1;
    if (fstat(fd, sb) != 0 || !S_ISREG(sb->st_mode)) {
        close(fd);
        return -1;
    }
    if (hash_cached(path, sb, hex)) {
        close(fd);
        return 0;
    }
    uint8_t d[CRYPTO_SHA256_BYTES];
    if (sb->st_size == 0) {
        crypto_sha256("", 0, d);
    } else {
        void *p = mmap(NULL, (size_t)sb->st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            close(fd);
            return -1;
        }
        madvise(p, (size_t)sb->st_size, MADV_SEQUENTIAL);
        crypto_sha256(p, (size_t)sb->st_size, d);
        munmap(p, (size_t)sb->st_size);
    }
    close(fd);
    crypto_hex(d, sizeof(d), hex);
    hash_remember(path, sb, hex);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* The manifest                                                             */

static int cmp_path(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Whether the resolved 'path' lies inside the resolved directory 'root'. */
static bool inside(const char *path, const char *root)
{
    size_t n = strlen(root);
    return strncmp(path, root, n) == 0 && path[n] == '/';
}

/* Every regular file under 'root' + 'rel', and every link to one that stays
 * inside 'root' (listed as the file it leads to: a fetched copy holds a
 * plain file there). Links to directories are not followed. */
static int walk(const char *root, const char *rel, int depth, char ***v, size_t *n)
{
    if (depth > MAX_DEPTH)
        return -1;
    char *dir = *rel ? xasprintf("%s/%s", root, rel) : xstrdup(root);
    DIR *d = opendir(dir);
    free(dir);
    if (!d)
        return -1;
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char *r = *rel ? xasprintf("%s/%s", rel, e->d_name) : xstrdup(e->d_name);
        char *full = xasprintf("%s/%s", root, r);
        struct stat sb;
        if (lstat(full, &sb) != 0) {
            rc = -1;
        } else if (S_ISDIR(sb.st_mode)) {
            rc = walk(root, r, depth + 1, v, n);
        } else if (S_ISREG(sb.st_mode) || S_ISLNK(sb.st_mode)) {
            char *real = S_ISLNK(sb.st_mode) ? realpath(full, NULL) : NULL;
            bool keep = S_ISREG(sb.st_mode) ||
                        (real && inside(real, root) && stat(real, &sb) == 0 && S_ISREG(sb.st_mode));
            free(real);
            if (!keep) {
                /* not listed */
            } else if (*n >= MAX_FILES) {
                rc = -1;
            } else {
                *v = xrealloc(*v, (*n + 1) * sizeof(**v));
                (*v)[(*n)++] = r;
                r = NULL;
            }
        }
        free(full);
        free(r);
    }
    closedir(d);
    return rc;
}

static void manifest(const char *id, const char *root, struct http_response *res)
{
    char **v = NULL;
    size_t n = 0;
    int rc = walk(root, "", 0, &v, &n);
    if (rc == 0)
        qsort(v, n, sizeof(*v), cmp_path);
    json_t *files = json_array();
    for (size_t i = 0; i < n; i++) {
        char *link = xasprintf("%s/%s", root, v[i]);
        char *full = realpath(link, NULL);
        free(link);
        struct stat sb;
        char hex[65];
        json_t *f = NULL;
        if (rc == 0 && full && inside(full, root) && file_sha256(full, &sb, hex) == 0)
            f = json_pack("{s:s, s:I, s:s}", "Path", v[i], "Size", (json_int_t)sb.st_size, "Sha256",
                          hex);
        if (rc == 0 && !f) /* unreadable, or a name that is not UTF-8 */
            log_warn("modelfiles", "service %s: cannot list '%s'", id, v[i]);
        if (!f || json_array_append_new(files, f) != 0)
            rc = -1;
        free(full);
        free(v[i]);
    }
    free(v);
    if (rc != 0) {
        json_decref(files);
        json_error(res, 500, "cannot read the model's files");
        return;
    }
    json_t *o = json_pack("{s:s, s:o}", "ServiceId", id, "Files", files);
    char *t = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    res->status = 200;
    res->content_type = "application/json";
    buf_puts(&res->body, t);
    free(t);
    json_decref(o);
}

/* ------------------------------------------------------------------------ */
/* One file, streamed                                                       */

struct file_send {
    struct http_deferred *d; /* NULL once the answer ended or was cancelled */
    uv_timer_t timer;        /* the next turn, or the stall limit */
    int fd;
    long long size, left;
    bool head_sent, closing;
    char *path; /* for log lines */
    char buf[PIECE_BYTES];
};

static void send_closed(uv_handle_t *h)
{
    struct file_send *s = h->data;
    free(s->path);
    free(s);
}

static void send_close(struct file_send *s)
{
    if (s->closing)
        return;
    s->closing = true;
    s->d = NULL;
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
    uv_close((uv_handle_t *)&s->timer, send_closed);
}

static void on_send_cancel(void *arg)
{
    struct file_send *s = arg;
    s->d = NULL; /* gone: not to be used */
    send_close(s);
}

static void send_turn(uv_timer_t *t);

static void on_send_drained(void *arg)
{
    struct file_send *s = arg;
    if (!s->closing)
        uv_timer_start(&s->timer, send_turn, 0, 0);
}

static void on_send_stalled(uv_timer_t *t)
{
    struct file_send *s = t->data;
    log_warn("modelfiles", "'%s': the client took nothing for %d s; cut off", s->path,
             STALL_MS / 1000);
    http_deferred_end(s->d, true);
    send_close(s);
}

static void send_turn(uv_timer_t *t)
{
    struct file_send *s = t->data;
    if (!s->head_sent) {
        /* Not from the handler: the server settles keep-alive and HEAD after it returns. */
        s->head_sent = true;
        http_deferred_head(s->d, 200, STR_LIT("Content-Type: application/octet-stream\r\n"),
                           s->size);
    }
    size_t turn = 0;
    while (s->left > 0) {
        if (http_deferred_congested(s->d, on_send_drained, s)) {
            uv_timer_start(&s->timer, on_send_stalled, STALL_MS, 0);
            return;
        }
        if (turn >= TURN_BYTES) {
            uv_timer_start(&s->timer, send_turn, 0, 0);
            return;
        }
        size_t want = s->left < (long long)sizeof(s->buf) ? (size_t)s->left : sizeof(s->buf);
        ssize_t n = read(s->fd, s->buf, want);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            log_warn("modelfiles", "'%s': %s after %lld of %lld bytes; answer cut", s->path,
                     n < 0 ? strerror(errno) : "the file ended", s->size - s->left, s->size);
            http_deferred_end(s->d, true);
            send_close(s);
            return;
        }
        http_deferred_body(s->d, s->buf, (size_t)n);
        if (!s->d) /* the connection failed under the write */
            return;
        s->left -= n;
        turn += (size_t)n;
    }
    http_deferred_end(s->d, false);
    send_close(s);
}

static void one_file(const char *root, const char *rel, struct http_request *req,
                     struct http_response *res)
{
    char *full = xasprintf("%s/%s", root, rel);
    char *real = realpath(full, NULL);
    free(full);
    int fd = -1;
    struct stat sb;
    if (real && inside(real, root))
        fd = open(real, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 || fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        if (fd >= 0)
            close(fd);
        free(real);
        json_error(res, 404, "no such file in the model");
        return;
    }
    struct file_send *s = xcalloc(1, sizeof(*s));
    s->fd = fd;
    s->size = s->left = (long long)sb.st_size;
    s->path = real;
    uv_timer_init(http_request_loop(req), &s->timer);
    s->timer.data = s;
    s->d = http_request_defer(req, on_send_cancel, s);
    uv_timer_start(&s->timer, send_turn, 0, 0);
}

/* ------------------------------------------------------------------------ */
/* Requests                                                                 */

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decode 'len' bytes of 'p' (RFC 3986 2.1); NULL for a malformed
 * escape or one that gives NUL. */
static char *pct_decode(const char *p, size_t len)
{
    char *out = xmalloc(len + 1);
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (p[i] != '%') {
            out[o++] = p[i];
            continue;
        }
        int hi = i + 2 < len ? hexval(p[i + 1]) : -1;
        int lo = i + 2 < len ? hexval(p[i + 2]) : -1;
        if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
            free(out);
            return NULL;
        }
        out[o++] = (char)(hi * 16 + lo);
        i += 2;
    }
    out[o] = '\0';
    return out;
}

/* A relative path of plain segments: no "", "." or "..". */
static bool safe_rel(const char *p)
{
    if (!*p || p[0] == '/')
        return false;
    for (const char *seg = p;;) {
        const char *end = strchr(seg, '/');
        size_t sl = end ? (size_t)(end - seg) : strlen(seg);
        if (sl == 0 || (sl == 1 && seg[0] == '.') || (sl == 2 && seg[0] == '.' && seg[1] == '.'))
            return false;
        if (!end)
            return true;
        seg = end + 1;
    }
}

static bool id_ok(const char *id)
{
    if (!*id)
        return false;
    for (const char *c = id; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              *c == '-' || *c == '_'))
            return false;
    return true;
}

bool ctl_modelfiles_serve(struct store *st, const char *data_dir, const uint8_t *seal_key,
                          struct http_request *req, struct http_response *res)
{
    if (!str_has_prefix(req->path, PREFIX))
        return false;
    if (!str_eq_cstr(req->method, "GET") && !str_eq_cstr(req->method, "HEAD")) {
        buf_puts(&res->headers, "Allow: GET, HEAD\r\n");
        json_error(res, 405, "only GET and HEAD");
        return true;
    }
    if (!st || !seal_key || !data_dir) {
        json_error(res, 404, "model files are not served here");
        return true;
    }
    const char *p = req->path.ptr + strlen(PREFIX);
    size_t len = req->path.len - strlen(PREFIX);
    const char *slash = memchr(p, '/', len);
    if (!slash || slash == p || slash - p > 200) {
        json_error(res, 404, "the path is /model-files/v1/{ServiceId}/[{Path}]");
        return true;
    }
    char id[256];
    memcpy(id, p, (size_t)(slash - p));
    id[slash - p] = '\0';
    const char *rel_raw = slash + 1;
    size_t rel_len = len - (size_t)(slash - p) - 1;

    char want[65];
    ctl_model_token(seal_key, CRYPTO_SEAL_KEY_BYTES, id, want);
    struct str a = http_request_header(req, "Authorization");
    bool ok = a.ptr && a.len == 7 + 64 && str_has_prefix(a, "Bearer ") &&
              crypto_equal(a.ptr + 7, want, 64);
    crypto_wipe(want, sizeof(want));
    if (!ok) {
        buf_puts(&res->headers, "WWW-Authenticate: Bearer realm=\"berth-model-files\"\r\n");
        json_error(res, 401, "the version's model token is required (Authorization: Bearer)");
        return true;
    }
    char *rel = pct_decode(rel_raw, rel_len);
    if (!rel || (rel_len > 0 && !safe_rel(rel))) {
        free(rel);
        json_error(res, 400, "the file's path must be relative, without '.' or '..' segments");
        return true;
    }
    char *root = id_ok(id) ? model_dir(st, data_dir, id) : NULL;
    if (!root)
        json_error(res, 404, "no such service, or it has no model files");
    else if (rel_len == 0)
        manifest(id, root, res);
    else
        one_file(root, rel, req, res);
    free(rel);
    free(root);
    return true;
}
