/* config.c - TF Serving's ModelServerConfig, in the protobuf text format or as
 * JSON. Both are first read into a small generic tree (key, line, scalar or
 * message) and then checked against one schema walk, so the two syntaxes
 * accept and refuse exactly the same things. */
#include "serve/config.h"
#include "base/alloc.h"
#include "base/arena.h"
#include "base/buf.h"
#include "base/json.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONFIG_LIMIT_BYTES (16 * 1024 * 1024)

enum node_kind { NODE_STRING, NODE_NUMBER, NODE_MESSAGE };

struct node {
    const char *key;
    int line; /* 0 when the source has no lines to give (JSON members) */
    enum node_kind kind;
    const char *value; /* scalars, as written */
    struct node *children;
    size_t nchildren;
};

struct ctx {
    const char *file;
    const char *src; /* the text, to turn JSON offsets into lines */
    struct arena *a;
    struct err *err;
};

static int fail_at(struct ctx *c, const struct node *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail_at(struct ctx *c, const struct node *n, const char *fmt, ...)
{
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (n && n->line)
        return err_set(c->err, ERR_INVALID, "%s:%d: %s", c->file, n->line, msg);
    return err_set(c->err, ERR_INVALID, "%s: %s", c->file, msg);
}

static void add_child(struct ctx *c, struct node *parent, size_t *cap, const struct node *child)
{
    if (parent->nchildren == *cap) {
        *cap = *cap ? *cap * 2 : 8;
        struct node *bigger = arena_alloc(c->a, *cap * sizeof(*bigger));
        if (parent->nchildren)
            memcpy(bigger, parent->children, parent->nchildren * sizeof(*bigger));
        parent->children = bigger;
    }
    parent->children[parent->nchildren++] = *child;
}

/* ------------------------------------------------------------------------ */
/* Text format                                                              */

struct lexer {
    const char *p, *end;
    int line;
};

static void lex_skip(struct lexer *lx)
{
    while (lx->p < lx->end) {
        if (*lx->p == '\n') {
            lx->line++;
            lx->p++;
        } else if (isspace((unsigned char)*lx->p) || *lx->p == ',' || *lx->p == ';') {
            lx->p++;
        } else if (*lx->p == '#') {
            while (lx->p < lx->end && *lx->p != '\n')
                lx->p++;
        } else {
            break;
        }
    }
}

static int parse_text_body(struct ctx *c, struct lexer *lx, struct node *msg, bool top, int depth);

static int parse_text_field(struct ctx *c, struct lexer *lx, struct node *msg, size_t *cap,
                            int depth)
{
    struct node n = {.line = lx->line};
    const char *start = lx->p;
    while (lx->p < lx->end && (isalnum((unsigned char)*lx->p) || *lx->p == '_'))
        lx->p++;
    if (lx->p == start)
        return fail_at(c, &n, "expected a field name, found '%c'", *lx->p);
    n.key = arena_strndup(c->a, start, (size_t)(lx->p - start));
    lex_skip(lx);
    bool colon = lx->p < lx->end && *lx->p == ':';
    if (colon) {
        lx->p++;
        lex_skip(lx);
    }
    if (lx->p >= lx->end)
        return fail_at(c, &n, "'%s' has no value", n.key);
    if (*lx->p == '{' || *lx->p == '<') {
        if (depth > 16)
            return fail_at(c, &n, "nesting too deep");
        char close = *lx->p == '{' ? '}' : '>';
        lx->p++;
        n.kind = NODE_MESSAGE;
        int rc = parse_text_body(c, lx, &n, false, depth + 1);
        if (rc)
            return rc;
        if (lx->p >= lx->end || *lx->p != close)
            return fail_at(c, &n, "'%s' is not closed with '%c'", n.key, close);
        lx->p++;
    } else if (!colon) {
        return fail_at(c, &n, "expected ':' or '{' after '%s'", n.key);
    } else if (*lx->p == '\'' || *lx->p == '"') {
        char q = *lx->p++;
        struct buf v;
        buf_init(&v, 64 * 1024);
        while (lx->p < lx->end && *lx->p != q && *lx->p != '\n') {
            char ch = *lx->p++;
            if (ch == '\\' && lx->p < lx->end) {
                ch = *lx->p++;
                ch = ch == 'n' ? '\n' : ch == 't' ? '\t' : ch;
            }
            if (buf_putc(&v, ch)) {
                buf_release(&v);
                return fail_at(c, &n, "string value of '%s' too long", n.key);
            }
        }
        if (lx->p >= lx->end || *lx->p != q) {
            buf_release(&v);
            return fail_at(c, &n, "unterminated string for '%s'", n.key);
        }
        lx->p++;
        n.kind = NODE_STRING;
        n.value = arena_strndup(c->a, v.ptr, v.len);
        buf_release(&v);
    } else {
        start = lx->p;
        while (lx->p < lx->end && (isalnum((unsigned char)*lx->p) || *lx->p == '-' ||
                                   *lx->p == '.' || *lx->p == '+' || *lx->p == '_'))
            lx->p++;
        if (lx->p == start)
            return fail_at(c, &n, "'%s' has no value", n.key);
        n.kind = NODE_NUMBER;
        n.value = arena_strndup(c->a, start, (size_t)(lx->p - start));
    }
    add_child(c, msg, cap, &n);
    return 0;
}

static int parse_text_body(struct ctx *c, struct lexer *lx, struct node *msg, bool top, int depth)
{
    size_t cap = 0;
    for (;;) {
        lex_skip(lx);
        if (lx->p >= lx->end) {
            if (top)
                return 0;
            return fail_at(c, &(struct node){.line = lx->line}, "unexpected end of file");
        }
        if (*lx->p == '}' || *lx->p == '>') {
            if (top)
                return fail_at(c, &(struct node){.line = lx->line}, "unexpected '%c'", *lx->p);
            return 0;
        }
        int rc = parse_text_field(c, lx, msg, &cap, depth);
        if (rc)
            return rc;
    }
}

/* ------------------------------------------------------------------------ */
/* JSON (proto3 JSON mapping)                                               */

static int json_to_node(struct ctx *c, const char *key, int line, const struct json *j,
                        struct node *out, struct node *parent, size_t *cap);

static int line_at(const struct ctx *c, size_t offset)
{
    int line = 1;
    for (size_t i = 0; i < offset && c->src[i]; i++)
        line += c->src[i] == '\n';
    return line;
}

static int json_members(struct ctx *c, const struct json *obj, struct node *msg)
{
    size_t cap = 0;
    for (size_t i = 0; i < obj->len; i++) {
        const struct json_member *m = &obj->u.members[i];
        int rc = json_to_node(c, m->key, line_at(c, m->offset), &m->value, NULL, msg, &cap);
        if (rc)
            return rc;
    }
    return 0;
}

/* A JSON list becomes repeated fields of the same key, as in the text format. */
static int json_to_node(struct ctx *c, const char *key, int line, const struct json *j,
                        struct node *out, struct node *parent, size_t *cap)
{
    struct node n = {.key = key, .line = line};
    char num[64];
    switch (j->type) {
    case JSON_ARRAY:
        if (!parent)
            return fail_at(c, &n, "'%s': nested lists are not allowed", key);
        for (size_t i = 0; i < j->len; i++) {
            int rc = json_to_node(c, key, line, &j->u.items[i], NULL, parent, cap);
            if (rc)
                return rc;
        }
        return 0;
    case JSON_OBJECT:
        n.kind = NODE_MESSAGE;
        if (strcmp(key, "version_labels") == 0 && json_get(j, "key") == NULL) {
            /* proto3 maps a map<string,int64> to an object: {"stable": 1}. */
            for (size_t i = 0; i < j->len; i++) {
                int mline = line_at(c, j->u.members[i].offset);
                struct node lab = {.key = key, .line = mline, .kind = NODE_MESSAGE};
                size_t lcap = 0;
                struct node k = {
                    .key = "key", .line = mline, .kind = NODE_STRING, .value = j->u.members[i].key};
                add_child(c, &lab, &lcap, &k);
                int rc = json_to_node(c, "value", mline, &j->u.members[i].value, NULL, &lab, &lcap);
                if (rc)
                    return rc;
                add_child(c, parent, cap, &lab);
            }
            return 0;
        }
        if (json_members(c, j, &n))
            return c->err ? c->err->code : ERR_INVALID;
        break;
    case JSON_STRING:
        n.kind = NODE_STRING;
        n.value = j->u.str;
        break;
    case JSON_NUMBER:
        n.kind = NODE_NUMBER;
        if (!j->is_integer)
            return fail_at(c, &n, "'%s' must be an integer", key);
        snprintf(num, sizeof(num), "%.0f", j->u.num);
        n.value = arena_strndup(c->a, num, strlen(num));
        break;
    default:
        return fail_at(c, &n, "'%s' has an unexpected value (%s)", key, json_type_name(j->type));
    }
    if (out)
        *out = n;
    else
        add_child(c, parent, cap, &n);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Schema                                                                   */

static int node_int(struct ctx *c, const struct node *n, int64_t min, int64_t *out)
{
    if (n->kind == NODE_MESSAGE)
        return fail_at(c, n, "'%s' must be an integer", n->key);
    char *end;
    errno = 0;
    long long v = strtoll(n->value, &end, 10);
    if (errno || *end || end == n->value)
        return fail_at(c, n, "'%s' must be an integer, got '%s'", n->key, n->value);
    if (v < min)
        return fail_at(c, n, "'%s' must be at least %lld, got %lld", n->key, (long long)min, v);
    *out = v;
    return 0;
}

static int node_str(struct ctx *c, const struct node *n, const char **out)
{
    if (n->kind != NODE_STRING)
        return fail_at(c, n, "'%s' must be a quoted string", n->key);
    *out = n->value;
    return 0;
}

static int node_msg(struct ctx *c, const struct node *n)
{
    if (n->kind != NODE_MESSAGE)
        return fail_at(c, n, "'%s' must be a message in braces", n->key);
    return 0;
}

static int parse_policy(struct ctx *c, const struct node *n, struct serve_model_config *m)
{
    if (node_msg(c, n))
        return ERR_INVALID;
    if (n->nchildren != 1)
        return fail_at(c, n, "model_version_policy must hold exactly one of latest, all, specific");
    const struct node *p = &n->children[0];
    if (node_msg(c, p))
        return ERR_INVALID;
    if (strcmp(p->key, "all") == 0) {
        if (p->nchildren)
            return fail_at(c, &p->children[0], "unknown field '%s' in all", p->children[0].key);
        m->policy = SERVE_POLICY_ALL;
        return 0;
    }
    if (strcmp(p->key, "latest") == 0) {
        m->policy = SERVE_POLICY_LATEST;
        m->latest_n = 1;
        for (size_t i = 0; i < p->nchildren; i++) {
            const struct node *f = &p->children[i];
            if (strcmp(f->key, "num_versions") != 0)
                return fail_at(c, f, "unknown field '%s' in latest", f->key);
            if (node_int(c, f, 1, &m->latest_n))
                return ERR_INVALID;
        }
        return 0;
    }
    if (strcmp(p->key, "specific") == 0) {
        m->policy = SERVE_POLICY_SPECIFIC;
        for (size_t i = 0; i < p->nchildren; i++) {
            const struct node *f = &p->children[i];
            if (strcmp(f->key, "versions") != 0)
                return fail_at(c, f, "unknown field '%s' in specific", f->key);
            int64_t v;
            if (node_int(c, f, 1, &v))
                return ERR_INVALID;
            m->versions = xrealloc(m->versions, (m->nversions + 1) * sizeof(int64_t));
            m->versions[m->nversions++] = v;
        }
        if (m->nversions == 0)
            return fail_at(c, p, "specific must list at least one version");
        return 0;
    }
    return fail_at(c, p, "unknown version policy '%s' (expected latest, all or specific)", p->key);
}

static int parse_label(struct ctx *c, const struct node *n, struct serve_model_config *m)
{
    if (node_msg(c, n))
        return ERR_INVALID;
    const char *key = NULL;
    int64_t value = 0;
    for (size_t i = 0; i < n->nchildren; i++) {
        const struct node *f = &n->children[i];
        if (strcmp(f->key, "key") == 0) {
            if (node_str(c, f, &key))
                return ERR_INVALID;
        } else if (strcmp(f->key, "value") == 0) {
            if (node_int(c, f, 1, &value))
                return ERR_INVALID;
        } else {
            return fail_at(c, f, "unknown field '%s' in version_labels", f->key);
        }
    }
    if (!key || !*key)
        return fail_at(c, n, "version_labels needs a non-empty key");
    if (!value)
        return fail_at(c, n, "version_labels '%s' needs a value (a version number)", key);
    for (size_t i = 0; i < m->nlabels; i++)
        if (strcmp(m->labels[i].name, key) == 0)
            return fail_at(c, n, "version label '%s' given twice", key);
    m->labels = xrealloc(m->labels, (m->nlabels + 1) * sizeof(*m->labels));
    m->labels[m->nlabels].name = xstrdup(key);
    m->labels[m->nlabels++].version = value;
    return 0;
}

static bool valid_model_name(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-' && *s != '.')
            return false;
    return true;
}

static int parse_model(struct ctx *c, const struct node *n, struct serve_config *out)
{
    if (node_msg(c, n))
        return ERR_INVALID;
    out->models = xrealloc(out->models, (out->nmodels + 1) * sizeof(*out->models));
    struct serve_model_config *m = &out->models[out->nmodels++];
    memset(m, 0, sizeof(*m));
    m->policy = SERVE_POLICY_LATEST;
    m->latest_n = 1;
    bool have_policy = false;
    for (size_t i = 0; i < n->nchildren; i++) {
        const struct node *f = &n->children[i];
        const char *s = NULL;
        if (strcmp(f->key, "name") == 0) {
            if (node_str(c, f, &s))
                return ERR_INVALID;
            if (!valid_model_name(s))
                return fail_at(c, f,
                               "model name '%s' must be non-empty and use only letters, "
                               "digits, '_', '-' and '.'",
                               s);
            free(m->name);
            m->name = xstrdup(s);
        } else if (strcmp(f->key, "base_path") == 0) {
            if (node_str(c, f, &s))
                return ERR_INVALID;
            if (!*s)
                return fail_at(c, f, "base_path must not be empty");
            free(m->base_path);
            m->base_path = xstrdup(s);
        } else if (strcmp(f->key, "model_platform") == 0) {
            if (node_str(c, f, &s))
                return ERR_INVALID;
            if (strcmp(s, "pytorch_torchscript") == 0)
                s = "pytorch";
            if (strcmp(s, "xgboost") != 0 && strcmp(s, "pytorch") != 0)
                return fail_at(c, f,
                               "model_platform '%s' is not supported (expected 'xgboost', "
                               "'pytorch' or 'pytorch_torchscript')",
                               s);
            free(m->platform);
            m->platform = xstrdup(s);
        } else if (strcmp(f->key, "model_version_policy") == 0) {
            if (have_policy)
                return fail_at(c, f, "model_version_policy given twice");
            have_policy = true;
            if (parse_policy(c, f, m))
                return ERR_INVALID;
        } else if (strcmp(f->key, "version_labels") == 0) {
            if (parse_label(c, f, m))
                return ERR_INVALID;
        } else {
            return fail_at(c, f, "unknown or unsupported field '%s' in config", f->key);
        }
    }
    if (!m->name)
        return fail_at(c, n, "config has no name");
    if (!m->base_path)
        return fail_at(c, n, "config '%s' has no base_path", m->name);
    for (size_t i = 0; i + 1 < out->nmodels; i++)
        if (strcmp(out->models[i].name, m->name) == 0)
            return fail_at(c, n, "model '%s' is configured twice", m->name);
    return 0;
}

static int parse_root(struct ctx *c, const struct node *root, struct serve_config *out)
{
    bool seen = false;
    for (size_t i = 0; i < root->nchildren; i++) {
        const struct node *f = &root->children[i];
        if (strcmp(f->key, "model_config_list") != 0)
            return fail_at(c, f, "unknown or unsupported field '%s' (expected model_config_list)",
                           f->key);
        if (seen)
            return fail_at(c, f, "model_config_list given twice");
        seen = true;
        if (node_msg(c, f))
            return ERR_INVALID;
        for (size_t k = 0; k < f->nchildren; k++) {
            const struct node *m = &f->children[k];
            if (strcmp(m->key, "config") != 0)
                return fail_at(c, m, "unknown field '%s' in model_config_list", m->key);
            if (parse_model(c, m, out))
                return ERR_INVALID;
        }
    }
    if (!seen)
        return fail_at(c, NULL, "no model_config_list");
    return 0;
}

static bool looks_like_json(const char *data, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (!isspace((unsigned char)data[i]))
            return data[i] == '{';
    return false;
}

int serve_config_parse(const char *file, const char *data, size_t len, struct serve_config *out,
                       struct err *err)
{
    struct arena a;
    arena_init(&a, 8192);
    struct ctx c = {.file = file, .src = data, .a = &a, .err = err};
    struct node root = {.key = "", .kind = NODE_MESSAGE};
    int rc;
    memset(out, 0, sizeof(*out));
    if (looks_like_json(data, len)) {
        struct json *j;
        struct err jerr = {0};
        rc = json_parse(&a, data, len, &j, &jerr);
        if (rc) {
            /* Turn the byte offset into a line for the message. */
            const char *at = strstr(jerr.msg, "at byte ");
            size_t off = at ? strtoul(at + 8, NULL, 10) : 0;
            int line = 1;
            for (size_t i = 0; i < off && i < len; i++)
                line += data[i] == '\n';
            rc = fail_at(&c, &(struct node){.line = line}, "%s", jerr.msg);
        } else {
            rc = j->type == JSON_OBJECT ? json_members(&c, j, &root)
                                        : fail_at(&c, NULL, "top level must be a JSON object");
        }
    } else {
        struct lexer lx = {.p = data, .end = data + len, .line = 1};
        rc = parse_text_body(&c, &lx, &root, true, 0);
    }
    if (rc == 0)
        rc = parse_root(&c, &root, out);
    arena_release(&a);
    if (rc)
        serve_config_release(out);
    return rc;
}

int serve_config_load(const char *path, struct serve_config *out, struct err *err)
{
    struct buf b;
    buf_init(&b, CONFIG_LIMIT_BYTES);
    int rc = buf_read_file(&b, path, err);
    if (rc == ERR_TOOBIG)
        err_set(err, rc, "model config '%s' is larger than 16 MiB", path);
    else if (rc)
        err_set(err, rc, "cannot open model config '%s': %s", path, strerror(-rc));
    else
        rc = serve_config_parse(path, b.ptr, b.len, out, err);
    buf_release(&b);
    return rc;
}

void serve_config_add(struct serve_config *c, const char *name, const char *base_path)
{
    c->models = xrealloc(c->models, (c->nmodels + 1) * sizeof(*c->models));
    struct serve_model_config *m = &c->models[c->nmodels++];
    memset(m, 0, sizeof(*m));
    m->name = xstrdup(name);
    m->base_path = xstrdup(base_path);
    m->policy = SERVE_POLICY_LATEST;
    m->latest_n = 1;
}

void serve_model_config_release(struct serve_model_config *m)
{
    free(m->name);
    free(m->base_path);
    free(m->platform);
    free(m->versions);
    for (size_t k = 0; k < m->nlabels; k++)
        free(m->labels[k].name);
    free(m->labels);
    memset(m, 0, sizeof(*m));
}

void serve_config_release(struct serve_config *c)
{
    for (size_t i = 0; i < c->nmodels; i++)
        serve_model_config_release(&c->models[i]);
    free(c->models);
    memset(c, 0, sizeof(*c));
}
