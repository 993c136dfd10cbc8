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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define PREFIX "/model-files/v1/"
#define MAX_FILES 10000

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

/* The version's ModelPath, resolved (realpath); NULL when the service does
 * not exist or has none. */
static char *model_dir(struct store *st, const char *data_dir, const char *id)
{
    struct store_service *list = NULL;
    size_t n = 0;
    struct err err = {0};
    if (store_service_list(st, NULL, &list, &n, &err) != 0) {
        log_warn("modelfiles", "cannot list services: %s", err.msg);
        return NULL;
    }
    char *path = NULL;
    for (size_t i = 0; i < n; i++) {
        if (!path && strcmp(list[i].id, id) == 0 && list[i].spec_json) {
            json_t *spec = json_loads(list[i].spec_json, 0, NULL);
            const char *mp = json_string_value(json_object_get(spec, "ModelPath"));
            if (mp && *mp)
                path = mp[0] == '/' || !data_dir ? xstrdup(mp) : xasprintf("%s/%s", data_dir, mp);
            json_decref(spec);
        }
        store_service_release(&list[i]);
    }
    free(list);
    if (!path)
        return NULL;
    char *real = realpath(path, NULL);
    free(path);
    return real;
}

/* SHA-256 of a whole file through a read-only mapping, so that no heap
 * buffer holds it. */
static int file_sha256(const char *path, off_t size, char hex[65])
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return -1;
    uint8_t d[CRYPTO_SHA256_BYTES];
    if (size == 0) {
        crypto_sha256("", 0, d);
    } else {
        void *p = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            close(fd);
            return -1;
        }
        crypto_sha256(p, (size_t)size, d);
        munmap(p, (size_t)size);
    }
    close(fd);
    crypto_hex(d, sizeof(d), hex);
    return 0;
}

static int cmp_path(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every regular file under 'root' + 'rel' (symlinks are not followed). */
static int walk(const char *root, const char *rel, char ***v, size_t *n)
{
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
            rc = walk(root, r, v, n);
        } else if (S_ISREG(sb.st_mode)) {
            if (*n >= MAX_FILES) {
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
    if (walk(root, "", &v, &n) != 0) {
        for (size_t i = 0; i < n; i++)
            free(v[i]);
        free(v);
        json_error(res, 500, "cannot read the model's files");
        return;
    }
    qsort(v, n, sizeof(*v), cmp_path);
    json_t *files = json_array();
    bool ok = true;
    for (size_t i = 0; i < n; i++) {
        char *full = xasprintf("%s/%s", root, v[i]);
        struct stat sb;
        char hex[65];
        if (ok && lstat(full, &sb) == 0 && file_sha256(full, sb.st_size, hex) == 0)
            json_array_append_new(files, json_pack("{s:s, s:I, s:s}", "Path", v[i], "Size",
                                                   (json_int_t)sb.st_size, "Sha256", hex));
        else
            ok = false;
        free(full);
        free(v[i]);
    }
    free(v);
    if (!ok) {
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

/* A relative path of plain segments: no "", ".", ".." or NUL. */
static bool safe_rel(const char *p, size_t len)
{
    if (len == 0 || p[0] == '/' || memchr(p, '\0', len))
        return false;
    size_t i = 0;
    while (i <= len) {
        size_t j = i;
        while (j < len && p[j] != '/')
            j++;
        size_t sl = j - i;
        if (sl == 0 || (sl == 1 && p[i] == '.') || (sl == 2 && p[i] == '.' && p[i + 1] == '.'))
            return false;
        i = j + 1;
    }
    return true;
}

static void one_file(const char *root, const char *rel, struct http_response *res)
{
    char *full = xasprintf("%s/%s", root, rel);
    char *real = realpath(full, NULL);
    free(full);
    size_t rl = strlen(root);
    struct stat sb;
    if (!real || strncmp(real, root, rl) != 0 || real[rl] != '/' || stat(real, &sb) != 0 ||
        !S_ISREG(sb.st_mode)) {
        free(real);
        json_error(res, 404, "no such file in the model");
        return;
    }
    struct err err = {0};
    if (buf_read_file(&res->body, real, &err) != 0) {
        free(real);
        buf_reset(&res->body);
        json_error(res, 500, "cannot read the file");
        return;
    }
    free(real);
    res->status = 200;
    res->content_type = "application/octet-stream";
}

bool ctl_modelfiles_serve(struct store *st, const char *data_dir, const uint8_t *seal_key,
                          const struct http_request *req, struct http_response *res)
{
    if (!str_has_prefix(req->path, PREFIX))
        return false;
    if (!str_eq_cstr(req->method, "GET") && !str_eq_cstr(req->method, "HEAD")) {
        json_error(res, 405, "only GET");
        return true;
    }
    if (!st || !seal_key) {
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
    const char *rel = slash + 1;
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
    if (rel_len > 0 && !safe_rel(rel, rel_len)) {
        json_error(res, 400, "the file's path must be relative, without '.' or '..'");
        return true;
    }
    char *root = model_dir(st, data_dir, id);
    if (!root) {
        json_error(res, 404, "no such service, or it has no model files");
        return true;
    }
    if (rel_len == 0) {
        manifest(id, root, res);
    } else {
        char *r = xstrndup(rel, rel_len);
        one_file(root, r, res);
        free(r);
    }
    free(root);
    return true;
}
