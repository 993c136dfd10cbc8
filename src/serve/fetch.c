/* fetch.c - berth-serve fetch (fetch.h). One file at a time through
 * libcurl, written straight to a temporary name next to its place (no more
 * than curl's own buffer held), checked, then renamed into place. */
#include "serve/fetch.h"
#include "base/alloc.h"
#include "base/arena.h"
#include "base/buf.h"
#include "base/crypto.h"
#include "base/json.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MANIFEST_MAX_BYTES (16 * 1024 * 1024)
#define ERROR_BODY_MAX_BYTES 4096
#define DEFAULT_TRIES 5
#define BACKOFF_FIRST_MS 500
#define BACKOFF_MAX_MS 8000
/* A transfer that moves nothing for this long is given up (and retried). */
#define STALL_S 60L
#define CONNECT_TIMEOUT_S 10L

struct fetch_opts {
    const char *from; /* .../model-files/v1/{ServiceId}/ */
    const char *into;
    const char *ca;
    long tries;
    const char *token;
};

/* What one GET gave: the status, and the body (in 'body' when 'fd' < 0,
 * else written to 'fd' while the status is 200, up to 'limit' bytes). */
struct get {
    CURL *curl;
    int fd;
    long long limit, got;
    struct buf body; /* the manifest, or an error's text */
    bool too_long, write_failed;
    int write_errno;
};

static void usage(FILE *f)
{
    fprintf(f,
            "usage: berth-serve fetch --from URL --into DIR [--ca FILE] [--tries N]\n"
            "\n"
            "Copy a model version's files from berthd into DIR (created if need be), each\n"
            "checked against berthd's manifest (size and SHA-256), then exit 0; exit 1\n"
            "naming the file that could not be fetched. URL is berthd's\n"
            "http(s)://HOST:PORT/model-files/v1/SERVICE_ID/ ; the token is read from the\n"
            "environment variable BERTH_MODEL_TOKEN.\n"
            "\n"
            "  --from URL   the version's model files (its manifest)\n"
            "  --into DIR   where the files go; a file already there with the right\n"
            "               size and SHA-256 is kept\n"
            "  --ca FILE    PEM CAs an https URL is verified against (default: the system's)\n"
            "  --tries N    attempts per request, 1-100 (default %d); transient failures\n"
            "               (no connection, 5xx, a cut transfer) are retried with backoff\n",
            DEFAULT_TRIES);
}

static size_t on_body(char *ptr, size_t size, size_t n, void *ud)
{
    struct get *g = ud;
    size_t len = size * n;
    long status = 0;
    curl_easy_getinfo(g->curl, CURLINFO_RESPONSE_CODE, &status);
    if (g->fd < 0 || status != 200) {
        if (buf_append(&g->body, ptr, len) != 0) {
            g->too_long = true;
            return 0;
        }
        return len;
    }
    if (g->got + (long long)len > g->limit) {
        g->too_long = true;
        return 0;
    }
    for (size_t off = 0; off < len;) {
        ssize_t w = write(g->fd, ptr + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            g->write_failed = true;
            g->write_errno = errno;
            return 0;
        }
        off += (size_t)w;
    }
    g->got += (long long)len;
    return len;
}

/* The server's {"error": "..."} or, failing that, the start of its body. */
static void error_text(const struct buf *b, char *out, size_t size)
{
    struct arena a;
    arena_init(&a, 4096);
    struct json *j = NULL;
    const struct json *e = NULL;
    if (b->len && json_parse(&a, b->ptr, b->len, &j, NULL) == 0)
        e = json_get(j, "error");
    if (e && e->type == JSON_STRING)
        snprintf(out, size, "%s", e->u.str);
    else
        snprintf(out, size, "%.*s", (int)(b->len > 200 ? 200 : b->len), b->ptr);
    arena_release(&a);
    for (char *c = out; *c; c++)
        if ((unsigned char)*c < 0x20)
            *c = ' ';
}

enum outcome { GOT, RETRY, FAIL };

/* One GET of 'url'. 'why' gets the reason of a failure. */
static enum outcome get_once(const struct fetch_opts *o, const char *url, struct get *g, char *why,
                             size_t why_size)
{
    char auth[128];
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", o->token);
    struct curl_slist *hs = curl_slist_append(NULL, auth);
    crypto_wipe(auth, sizeof(auth));
    CURL *curl = curl_easy_init();
    if (!curl) {
        curl_slist_free_all(hs);
        snprintf(why, why_size, "cannot start libcurl");
        return FAIL;
    }
    g->curl = curl;
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hs);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, g);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, CONNECT_TIMEOUT_S);
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, STALL_S);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
#endif
    if (o->ca)
        curl_easy_setopt(curl, CURLOPT_CAINFO, o->ca);
    CURLcode rc = curl_easy_perform(curl);
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(curl);
    curl_slist_free_all(hs);
    g->curl = NULL;
    if (g->write_failed) {
        snprintf(why, why_size, "cannot write: %s", strerror(g->write_errno));
        return FAIL;
    }
    if (g->too_long && status == 200) {
        snprintf(why, why_size, "the answer is longer than %s",
                 g->fd < 0 ? "a manifest may be" : "the manifest says");
        return RETRY;
    }
    if (rc != CURLE_OK && status == 0) {
        snprintf(why, why_size, "%s", curl_easy_strerror(rc));
        /* A bad URL, TLS set-up or certificate will not mend by itself. */
        bool permanent = rc == CURLE_URL_MALFORMAT || rc == CURLE_UNSUPPORTED_PROTOCOL ||
                         rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT_BADFILE ||
                         rc == CURLE_SSL_CERTPROBLEM;
        return permanent ? FAIL : RETRY;
    }
    if (status != 200) {
        char text[256];
        error_text(&g->body, text, sizeof(text));
        snprintf(why, why_size, "HTTP %ld%s%s", status, *text ? ": " : "", text);
        return status >= 500 || status == 408 || status == 429 ? RETRY : FAIL;
    }
    if (rc != CURLE_OK) {
        snprintf(why, why_size, "%s", curl_easy_strerror(rc));
        return RETRY;
    }
    return GOT;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static long backoff_ms(long attempt)
{
    long ms = BACKOFF_FIRST_MS;
    for (long i = 1; i < attempt && ms < BACKOFF_MAX_MS; i++)
        ms *= 2;
    return ms < BACKOFF_MAX_MS ? ms : BACKOFF_MAX_MS;
}

/* The SHA-256 of the open file 'fd' of 'size' bytes, through a mapping. */
static int fd_sha256(int fd, long long size, char hex[65])
{
    uint8_t d[CRYPTO_SHA256_BYTES];
    if (size == 0) {
        crypto_sha256("", 0, d);
    } else {
        void *p = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED)
            return -1;
        madvise(p, (size_t)size, MADV_SEQUENTIAL);
        crypto_sha256(p, (size_t)size, d);
        munmap(p, (size_t)size);
    }
    crypto_hex(d, sizeof(d), hex);
    return 0;
}

/* Whether 'path' is already the file the manifest names. */
static bool already_there(const char *path, long long size, const char *sha)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return false;
    struct stat sb;
    char hex[65];
    bool same = fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size == size &&
                fd_sha256(fd, size, hex) == 0 && strcmp(hex, sha) == 0;
    close(fd);
    return same;
}

/* A manifest path: relative, of plain segments, no NUL, no control bytes. */
static bool path_ok(const char *p, size_t len)
{
    if (len == 0 || len >= PATH_MAX || strlen(p) != len || p[0] == '/')
        return false;
    for (const char *seg = p;;) {
        const char *end = strchr(seg, '/');
        size_t sl = end ? (size_t)(end - seg) : strlen(seg);
        if (sl == 0 || sl > NAME_MAX || (sl == 1 && seg[0] == '.') ||
            (sl == 2 && seg[0] == '.' && seg[1] == '.'))
            return false;
        for (size_t i = 0; i < sl; i++)
            if ((unsigned char)seg[i] < 0x20 || seg[i] == 0x7f)
                return false;
        if (!end)
            return true;
        seg = end + 1;
    }
}

static bool sha_ok(const char *s, size_t len)
{
    if (len != 64)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

/* mkdir -p of the directories above 'path' (a file's), below 'into'. */
static int make_parents(const char *into, const char *rel)
{
    char *p = xstrdup(rel);
    int rc = 0;
    for (char *s = strchr(p, '/'); s && rc == 0; s = strchr(s + 1, '/')) {
        *s = '\0';
        char *dir = xasprintf("%s/%s", into, p);
        struct stat sb;
        if (mkdir(dir, 0755) != 0 && errno != EEXIST)
            rc = -1;
        else if (lstat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
            rc = -1; /* not a link to elsewhere either */
        free(dir);
        *s = '/';
    }
    free(p);
    return rc;
}

/* mkdir -p 'dir' (0755). */
static int mkdir_p(const char *dir)
{
    char *p = xstrdup(dir);
    int rc = 0;
    for (char *s = p + 1; rc == 0; s++) {
        if (*s != '/' && *s != '\0')
            continue;
        char c = *s;
        *s = '\0';
        struct stat sb;
        if (mkdir(p, 0755) != 0 && (errno != EEXIST || stat(p, &sb) != 0 || !S_ISDIR(sb.st_mode)))
            rc = -1;
        *s = c;
        if (!c)
            break;
    }
    free(p);
    return rc;
}

/* The file's URL: the base and the path, percent-encoded but for '/'. */
static char *file_url(const char *base, const char *rel)
{
    struct buf b;
    buf_init(&b, SIZE_MAX);
    buf_puts(&b, base);
    static const char hexd[] = "0123456789ABCDEF";
    for (const unsigned char *c = (const unsigned char *)rel; *c; c++) {
        if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
            *c == '-' || *c == '.' || *c == '_' || *c == '~' || *c == '/') {
            buf_putc(&b, (char)*c);
        } else {
            buf_putc(&b, '%');
            buf_putc(&b, hexd[*c >> 4]);
            buf_putc(&b, hexd[*c & 15]);
        }
    }
    return buf_detach(&b, NULL);
}

/* Fetch one file to its place; 0, or -1 with the reason in 'why'. */
static int fetch_file(const struct fetch_opts *o, const char *rel, long long size, const char *sha,
                      char *why, size_t why_size)
{
    char *dst = xasprintf("%s/%s", o->into, rel);
    if (already_there(dst, size, sha)) {
        free(dst);
        return 0;
    }
    if (make_parents(o->into, rel) != 0) {
        snprintf(why, why_size, "cannot create its directory: %s", strerror(errno));
        free(dst);
        return -1;
    }
    const char *slash = strrchr(rel, '/');
    /* A dot-name beside its place (berth-serve skips those), on the same file system. */
    char *tmp = slash ? xasprintf("%s/%.*s/.%s.fetch-%ld", o->into, (int)(slash - rel), rel,
                                  slash + 1, (long)getpid())
                      : xasprintf("%s/.%s.fetch-%ld", o->into, rel, (long)getpid());
    char *url = file_url(o->from, rel);
    int rc = -1;
    for (long attempt = 1; attempt <= o->tries; attempt++) {
        if (attempt > 1)
            sleep_ms(backoff_ms(attempt - 1));
        int fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (fd < 0) {
            snprintf(why, why_size, "cannot create '%s': %s", tmp, strerror(errno));
            break;
        }
        struct get g = {.fd = fd, .limit = size};
        buf_init(&g.body, ERROR_BODY_MAX_BYTES);
        enum outcome out = get_once(o, url, &g, why, why_size);
        buf_release(&g.body);
        char hex[65];
        if (out == GOT && g.got != size) {
            snprintf(why, why_size, "got %lld bytes, the manifest says %lld", g.got, size);
            out = RETRY;
        } else if (out == GOT && (fd_sha256(fd, size, hex) != 0 || strcmp(hex, sha) != 0)) {
            snprintf(why, why_size, "its SHA-256 is not the manifest's");
            out = RETRY;
        } else if (out == GOT && fsync(fd) != 0) {
            snprintf(why, why_size, "cannot write: %s", strerror(errno));
            out = FAIL;
        }
        close(fd);
        if (out == GOT && rename(tmp, dst) != 0) {
            snprintf(why, why_size, "cannot rename '%s' into place: %s", tmp, strerror(errno));
            out = FAIL;
        }
        if (out == GOT) {
            rc = 0;
            break;
        }
        unlink(tmp);
        if (out == FAIL)
            break;
        if (attempt < o->tries)
            fprintf(stderr, "berth-serve fetch: '%s': %s; trying again (%ld of %ld)\n", rel, why,
                    attempt + 1, o->tries);
    }
    free(url);
    free(tmp);
    free(dst);
    return rc;
}

/* GET the manifest into 'body' (retried like a file). */
static int fetch_manifest(const struct fetch_opts *o, struct buf *body, char *why, size_t why_size)
{
    for (long attempt = 1; attempt <= o->tries; attempt++) {
        if (attempt > 1)
            sleep_ms(backoff_ms(attempt - 1));
        struct get g = {.fd = -1};
        buf_init(&g.body, MANIFEST_MAX_BYTES);
        enum outcome out = get_once(o, o->from, &g, why, why_size);
        if (out == GOT) {
            *body = g.body;
            return 0;
        }
        buf_release(&g.body);
        if (out == FAIL)
            return -1;
        if (attempt < o->tries)
            fprintf(stderr, "berth-serve fetch: the manifest: %s; trying again (%ld of %ld)\n", why,
                    attempt + 1, o->tries);
    }
    return -1;
}

static int run(const struct fetch_opts *o)
{
    char why[512] = "";
    struct buf body;
    if (fetch_manifest(o, &body, why, sizeof(why)) != 0) {
        fprintf(stderr, "berth-serve fetch: cannot get the manifest %s: %s\n", o->from, why);
        return 1;
    }
    struct arena a;
    arena_init(&a, 64 * 1024);
    struct json *m = NULL;
    struct err err = {0};
    int rc = 0;
    const struct json *files = NULL;
    if (json_parse(&a, body.ptr, body.len, &m, &err) != 0 || !(files = json_get(m, "Files")) ||
        files->type != JSON_ARRAY) {
        fprintf(stderr, "berth-serve fetch: the manifest %s is not one (%s)\n", o->from,
                err.msg[0] ? err.msg : "no Files array");
        rc = 1;
    }
    /* Check it all before the first download. */
    for (size_t i = 0; rc == 0 && files && i < files->len; i++) {
        const struct json *f = &files->u.items[i];
        const struct json *p = json_get(f, "Path"), *s = json_get(f, "Size"),
                          *h = json_get(f, "Sha256");
        if (!p || p->type != JSON_STRING || !path_ok(p->u.str, p->len) || !s ||
            s->type != JSON_NUMBER || !s->is_integer || s->u.num < 0 || s->u.num > 0x1p53 || !h ||
            h->type != JSON_STRING || !sha_ok(h->u.str, h->len)) {
            fprintf(stderr, "berth-serve fetch: the manifest's file %zu (%s) is malformed\n", i,
                    p && p->type == JSON_STRING ? p->u.str : "no Path");
            rc = 1;
        }
    }
    if (rc == 0 && mkdir_p(o->into) != 0) {
        fprintf(stderr, "berth-serve fetch: cannot create '%s': %s\n", o->into, strerror(errno));
        rc = 1;
    }
    long long bytes = 0;
    for (size_t i = 0; rc == 0 && i < files->len; i++) {
        const struct json *f = &files->u.items[i];
        const char *rel = json_get(f, "Path")->u.str;
        long long size = (long long)json_get(f, "Size")->u.num;
        if (fetch_file(o, rel, size, json_get(f, "Sha256")->u.str, why, sizeof(why)) != 0) {
            fprintf(stderr, "berth-serve fetch: cannot fetch '%s': %s\n", rel, why);
            rc = 1;
        }
        bytes += size;
    }
    if (rc == 0)
        fprintf(stderr, "berth-serve fetch: %zu files, %lld bytes, verified in %s\n", files->len,
                bytes, o->into);
    arena_release(&a);
    buf_release(&body);
    return rc;
}

int serve_fetch_main(int argc, char **argv)
{
    struct fetch_opts o = {.tries = DEFAULT_TRIES};
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
            usage(stdout);
            return 0;
        }
        const char *eq = strchr(arg, '=');
        size_t nlen = eq ? (size_t)(eq - arg) : strlen(arg);
        const char **slot = NULL;
        const char *tries = NULL;
        if (nlen == 6 && !strncmp(arg, "--from", 6))
            slot = &o.from;
        else if (nlen == 6 && !strncmp(arg, "--into", 6))
            slot = &o.into;
        else if (nlen == 4 && !strncmp(arg, "--ca", 4))
            slot = &o.ca;
        else if (nlen == 7 && !strncmp(arg, "--tries", 7))
            slot = &tries;
        if (!slot) {
            fprintf(stderr, "berth-serve fetch: unknown argument '%s' (see --help)\n", arg);
            return 2;
        }
        const char *value = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (!value || !*value) {
            fprintf(stderr, "berth-serve fetch: %.*s needs a value\n", (int)nlen, arg);
            return 2;
        }
        *slot = value;
        if (tries) {
            char *end;
            errno = 0;
            long t = strtol(tries, &end, 10);
            if (errno || *end || t < 1 || t > 100) {
                fprintf(stderr, "berth-serve fetch: --tries: '%s' is not in [1, 100]\n", tries);
                return 2;
            }
            o.tries = t;
        }
    }
    if (!o.from || !o.into) {
        fprintf(stderr, "berth-serve fetch: --from and --into are required (see --help)\n");
        return 2;
    }
    if (strncmp(o.from, "http://", 7) != 0 && strncmp(o.from, "https://", 8) != 0) {
        fprintf(stderr, "berth-serve fetch: --from: '%s' is not an http(s) URL\n", o.from);
        return 2;
    }
    o.token = getenv("BERTH_MODEL_TOKEN");
    if (!o.token || strlen(o.token) != 64 || !sha_ok(o.token, 64)) {
        fprintf(stderr, "berth-serve fetch: BERTH_MODEL_TOKEN must hold the version's model "
                        "token (64 hex digits)\n");
        return 2;
    }
    /* The base ends with '/': the manifest is there, the files below it. */
    size_t fl = strlen(o.from);
    char *from = o.from[fl - 1] == '/' ? xstrdup(o.from) : xasprintf("%s/", o.from);
    o.from = from;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
        fprintf(stderr, "berth-serve fetch: cannot start libcurl\n");
        free(from);
        return 1;
    }
    int rc = run(&o);
    curl_global_cleanup();
    free(from);
    return rc;
}
