/* policy.c - CAM-shaped policies: the checks a document must pass, and the
 * evaluation (explicit deny first, then allow, else default deny).
 *
 * A document is parsed once into flat statements, so that evaluation walks
 * arrays of strings and never touches JSON; a key's policy is parsed again
 * on each call, which costs microseconds for the 6 KB a policy may hold. */
#include "api/policy.h"
#include "base/alloc.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum cond_op { OP_EQUAL, OP_NOT_EQUAL, OP_LIKE };
enum cond_qual { QUAL_ANY, QUAL_ALL };
enum cond_key { KEY_RESOURCE_TAG, KEY_REQUEST_TAG };

struct cond {
    enum cond_op op;
    enum cond_qual qual;
    enum cond_key key;
    char **values; /* "key&value" */
    size_t n;
};

struct res {
    bool any;     /* "*" */
    char *region; /* "" or "*": any */
    char *path;   /* "<type>/<id>" glob */
};

struct stmt {
    bool deny;
    char **actions; /* the part after "tione:", or "*" */
    size_t nactions;
    struct res *res;
    size_t nres;
    struct cond *conds;
    size_t nconds;
};

struct api_policy {
    struct stmt *st;
    size_t n;
};

static void strings_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

void api_policy_free(struct api_policy *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++) {
        struct stmt *s = &p->st[i];
        strings_free(s->actions, s->nactions);
        for (size_t k = 0; k < s->nres; k++) {
            free(s->res[k].region);
            free(s->res[k].path);
        }
        free(s->res);
        for (size_t k = 0; k < s->nconds; k++)
            strings_free(s->conds[k].values, s->conds[k].n);
        free(s->conds);
    }
    free(p->st);
    free(p);
}

bool api_policy_glob(const char *pattern, const char *s, bool nocase)
{
    /* Iterative with one back-track point: linear enough for short strings. */
    const char *star = NULL, *resume = NULL;
    while (*s) {
        char pc = nocase ? (char)tolower((unsigned char)*pattern) : *pattern;
        char sc = nocase ? (char)tolower((unsigned char)*s) : *s;
        if (*pattern == '*') {
            star = pattern++;
            resume = s;
        } else if (*pattern && (*pattern == '?' || pc == sc)) {
            pattern++;
            s++;
        } else if (star) {
            pattern = star + 1;
            s = ++resume;
        } else {
            return false;
        }
    }
    while (*pattern == '*')
        pattern++;
    return !*pattern;
}

/* ------------------------------------------------------------------------ */
/* Parsing                                                                  */

/* A string or a non-empty list of non-empty strings at 'where' into *out. */
static int read_strings(const json_t *v, const char *where, char ***out, size_t *n, struct err *err)
{
    *out = NULL;
    *n = 0;
    if (json_is_string(v)) {
        if (!json_string_length(v))
            return err_set(err, ERR_INVALID, "%s must not be empty", where);
        *out = xcalloc(1, sizeof(char *));
        (*out)[(*n)++] = xstrdup(json_string_value(v));
        return 0;
    }
    if (!json_is_array(v) || !json_array_size(v))
        return err_set(err, ERR_INVALID, "%s must be a string or a non-empty list of strings",
                       where);
    if (json_array_size(v) > API_POLICY_MAX_VALUES)
        return err_set(err, ERR_INVALID, "%s holds more than %d values", where,
                       API_POLICY_MAX_VALUES);
    *out = xcalloc(json_array_size(v), sizeof(char *));
    size_t i;
    const json_t *e;
    json_array_foreach(v, i, e)
    {
        if (!json_is_string(e) || !json_string_length(e)) {
            strings_free(*out, *n);
            *out = NULL;
            *n = 0;
            return err_set(err, ERR_INVALID, "%s[%zu] must be a non-empty string", where, i);
        }
        (*out)[(*n)++] = xstrdup(json_string_value(e));
    }
    return 0;
}

/* "tione:Describe*", "name/tione:Describe*" or "*" into the action part. */
static int read_actions(struct stmt *s, const json_t *v, const char *where, struct err *err)
{
    int rc = read_strings(v, where, &s->actions, &s->nactions, err);
    for (size_t i = 0; rc == 0 && i < s->nactions; i++) {
        char *a = s->actions[i];
        const char *rest = a;
        if (strncmp(rest, "name/", 5) == 0)
            rest += 5;
        if (strcmp(a, "*") == 0)
            continue;
        if (strncasecmp(rest, "tione:", 6) != 0 || !rest[6]) {
            rc = err_set(err, ERR_INVALID,
                         "%s[%zu] '%s' must be \"*\" or a tione action such as "
                         "\"tione:Describe*\"",
                         where, i, a);
            break;
        }
        for (const char *p = rest + 6; *p && rc == 0; p++)
            if (!isalnum((unsigned char)*p) && *p != '*' && *p != '?')
                rc = err_set(err, ERR_INVALID,
                             "%s[%zu] '%s': an action name is letters and digits with '*' or '?'",
                             where, i, a);
        if (rc == 0)
            memmove(a, rest + 6, strlen(rest + 6) + 1);
    }
    return rc;
}

/* "*" or qcs:<project>:tione:<region>:<account>:<type>/<id>. */
static int read_resources(struct stmt *s, const json_t *v, const char *where, struct err *err)
{
    char **list;
    size_t n;
    int rc = read_strings(v, where, &list, &n, err);
    if (rc)
        return rc;
    s->res = xcalloc(n, sizeof(*s->res));
    for (size_t i = 0; i < n && rc == 0; i++) {
        struct res *r = &s->res[s->nres++];
        if (strcmp(list[i], "*") == 0) {
            r->any = true;
            continue;
        }
        char *seg[6] = {0};
        char *copy = xstrdup(list[i]), *p = copy;
        size_t k = 0;
        for (; k < 6 && p; k++) {
            seg[k] = p;
            p = k < 5 ? strchr(p, ':') : NULL;
            if (p)
                *p++ = '\0';
        }
        if (k < 6 || strcmp(seg[0], "qcs") != 0)
            rc = err_set(err, ERR_INVALID,
                         "%s[%zu] '%s' must be \"*\" or a six-part "
                         "qcs:<project>:tione:<region>:<account>:<type>/<id>",
                         where, i, list[i]);
        else if (strcmp(seg[2], "tione") != 0 && strcmp(seg[2], "*") != 0)
            rc = err_set(err, ERR_INVALID, "%s[%zu] '%s': the service must be tione, not '%s'",
                         where, i, list[i], seg[2]);
        else if (!*seg[5])
            rc = err_set(err, ERR_INVALID, "%s[%zu] '%s': the resource part is empty", where, i,
                         list[i]);
        else if (strcmp(seg[5], "*") != 0 && strncmp(seg[5], "service-group/", 14) != 0 &&
                 strncmp(seg[5], "service/", 8) != 0 && strncmp(seg[5], "model/", 6) != 0)
            rc = err_set(err, ERR_INVALID,
                         "%s[%zu] '%s': the resource must be *, service-group/<id>, "
                         "service/<id> or model/<id>",
                         where, i, list[i]);
        if (rc == 0) {
            r->region = xstrdup(seg[3]);
            r->path = xstrdup(seg[5]);
        }
        free(copy);
    }
    strings_free(list, n);
    return rc;
}

static int read_condition(struct stmt *s, const json_t *v, const char *where, struct err *err)
{
    if (!json_is_object(v))
        return err_set(err, ERR_INVALID, "%s must be an object {operator: {key: values}}", where);
    const char *opname;
    const json_t *keys;
    size_t total = 0;
    json_object_foreach((json_t *)v, opname, keys) total +=
        json_is_object(keys) ? json_object_size(keys) : 1;
    s->conds = xcalloc(total ? total : 1, sizeof(*s->conds));
    json_object_foreach((json_t *)v, opname, keys)
    {
        char at[160];
        snprintf(at, sizeof(at), "%s.%s", where, opname);
        struct cond proto = {.qual = QUAL_ANY};
        const char *op = opname;
        if (strncmp(op, "for_any_value:", 14) == 0) {
            op += 14;
        } else if (strncmp(op, "for_all_value:", 14) == 0) {
            proto.qual = QUAL_ALL;
            op += 14;
        }
        if (strcmp(op, "string_equal") == 0)
            proto.op = OP_EQUAL;
        else if (strcmp(op, "string_not_equal") == 0)
            proto.op = OP_NOT_EQUAL;
        else if (strcmp(op, "string_like") == 0)
            proto.op = OP_LIKE;
        else
            return err_set(err, ERR_INVALID,
                           "%s: the operator must be string_equal, string_not_equal or "
                           "string_like, optionally after for_any_value: or for_all_value:",
                           at);
        if (!json_is_object(keys) || !json_object_size(keys))
            return err_set(err, ERR_INVALID, "%s must be an object {key: values}", at);
        const char *key;
        const json_t *values;
        json_object_foreach((json_t *)keys, key, values)
        {
            char kat[224];
            snprintf(kat, sizeof(kat), "%s.%s", at, key);
            struct cond *c = &s->conds[s->nconds];
            *c = proto;
            if (strcmp(key, "qcs:resource_tag") == 0)
                c->key = KEY_RESOURCE_TAG;
            else if (strcmp(key, "qcs:request_tag") == 0)
                c->key = KEY_REQUEST_TAG;
            else
                return err_set(err, ERR_INVALID,
                               "%s: the condition key must be qcs:resource_tag or "
                               "qcs:request_tag",
                               kat);
            int rc = read_strings(values, kat, &c->values, &c->n, err);
            if (rc)
                return rc;
            s->nconds++;
            for (size_t i = 0; i < c->n; i++) {
                const char *amp = strchr(c->values[i], '&');
                if (!amp || amp == c->values[i])
                    return err_set(err, ERR_INVALID,
                                   "%s[%zu] '%s' must be \"<TagKey>&<TagValue>\" (e.g. "
                                   "\"team&ads\")",
                                   kat, i, c->values[i]);
            }
        }
    }
    return 0;
}

static int read_statement(struct stmt *s, const json_t *v, size_t i, struct err *err)
{
    char where[48];
    snprintf(where, sizeof(where), "statement[%zu]", i);
    if (!json_is_object(v))
        return err_set(err, ERR_INVALID,
                       "%s must be an object {effect, action, resource, condition}", where);
    const char *key;
    const json_t *val;
    json_object_foreach((json_t *)v, key, val)
    {
        if (strcmp(key, "principal") == 0)
            return err_set(err, ERR_INVALID,
                           "%s.principal is not supported: a policy applies to the key it is "
                           "set on",
                           where);
        if (strcmp(key, "effect") && strcmp(key, "action") && strcmp(key, "resource") &&
            strcmp(key, "condition"))
            return err_set(err, ERR_INVALID,
                           "%s.%s is not a statement element (effect, action, resource, "
                           "condition)",
                           where, key);
    }
    const char *effect = json_string_value(json_object_get(v, "effect"));
    if (!effect || (strcmp(effect, "allow") && strcmp(effect, "deny")))
        return err_set(err, ERR_INVALID, "%s.effect must be \"allow\" or \"deny\"", where);
    s->deny = strcmp(effect, "deny") == 0;
    char at[64];
    snprintf(at, sizeof(at), "%s.action", where);
    if (!json_object_get(v, "action"))
        return err_set(err, ERR_INVALID, "%s is required", at);
    int rc = read_actions(s, json_object_get(v, "action"), at, err);
    if (rc)
        return rc;
    snprintf(at, sizeof(at), "%s.resource", where);
    if (!json_object_get(v, "resource"))
        return err_set(err, ERR_INVALID, "%s is required (\"*\" for every resource)", at);
    rc = read_resources(s, json_object_get(v, "resource"), at, err);
    if (rc)
        return rc;
    snprintf(at, sizeof(at), "%s.condition", where);
    if (json_object_get(v, "condition"))
        return read_condition(s, json_object_get(v, "condition"), at, err);
    return 0;
}

int api_policy_parse(const json_t *doc, struct api_policy **out, char **compact, struct err *err)
{
    json_t *owned = NULL;
    if (json_is_string(doc)) {
        if (json_string_length(doc) > API_POLICY_MAX_BYTES)
            return err_set(err, ERR_INVALID, "the policy has %zu bytes, more than %d",
                           json_string_length(doc), API_POLICY_MAX_BYTES);
        json_error_t jerr;
        owned = json_loads(json_string_value(doc), JSON_REJECT_DUPLICATES, &jerr);
        if (!owned)
            return err_set(err, ERR_INVALID, "the policy is not valid JSON: %s (column %d)",
                           jerr.text, jerr.column);
        doc = owned;
    }
    int rc = 0;
    struct api_policy *p = xcalloc(1, sizeof(*p));
    char *text = json_is_object(doc) ? json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    const json_t *stmts = json_object_get(doc, "statement");
    const char *key;
    const json_t *val;
    if (!json_is_object(doc))
        rc = err_set(err, ERR_INVALID, "the policy must be an object {version, statement}");
    else if (strlen(text) > API_POLICY_MAX_BYTES)
        rc = err_set(err, ERR_INVALID, "the policy has %zu bytes, more than %d", strlen(text),
                     API_POLICY_MAX_BYTES);
    else if (!json_is_string(json_object_get(doc, "version")) ||
             strcmp(json_string_value(json_object_get(doc, "version")), "2.0") != 0)
        rc = err_set(err, ERR_INVALID, "version must be \"2.0\"");
    else if (!json_is_array(stmts))
        rc = err_set(err, ERR_INVALID, "statement must be a list of statements");
    else if (json_array_size(stmts) > API_POLICY_MAX_STATEMENTS)
        rc = err_set(err, ERR_INVALID, "statement holds more than %d statements",
                     API_POLICY_MAX_STATEMENTS);
    if (rc == 0)
        json_object_foreach((json_t *)doc, key,
                            val) if (strcmp(key, "version") && strcmp(key, "statement")) rc =
            err_set(err, ERR_INVALID, "%s is not a policy element (version, statement)", key);
    if (rc == 0) {
        p->st = xcalloc(json_array_size(stmts) ? json_array_size(stmts) : 1, sizeof(*p->st));
        size_t i;
        json_array_foreach(stmts, i, val)
        {
            rc = read_statement(&p->st[p->n++], val, i, err);
            if (rc)
                break;
        }
    }
    json_decref(owned);
    if (rc) {
        free(text);
        api_policy_free(p);
        return rc;
    }
    if (compact)
        *compact = text;
    else
        free(text);
    *out = p;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Evaluation                                                               */

static bool action_matches(const struct stmt *s, const char *action)
{
    for (size_t i = 0; i < s->nactions; i++)
        if (api_policy_glob(s->actions[i], action, true))
            return true;
    return false;
}

static bool resource_matches(const struct stmt *s, const struct api_policy_request *r)
{
    for (size_t i = 0; i < s->nres; i++) {
        const struct res *x = &s->res[i];
        if (x->any)
            return true;
        if (*x->region && !api_policy_glob(x->region, r->region ? r->region : "", false))
            continue;
        if ((r->resource && api_policy_glob(x->path, r->resource, false)) ||
            (r->resource2 && api_policy_glob(x->path, r->resource2, false)))
            return true;
    }
    return false;
}

static bool value_matches(const struct cond *c, const char *v)
{
    for (size_t i = 0; i < c->n; i++) {
        bool hit = c->op == OP_LIKE ? api_policy_glob(c->values[i], v, false)
                                    : strcmp(c->values[i], v) == 0;
        if (hit)
            return c->op != OP_NOT_EQUAL;
    }
    return c->op == OP_NOT_EQUAL;
}

/* The tags as "key&value" values: any one (or, for for_all_value, every
 * one) must match; no tags match nothing. */
static bool cond_holds(const struct cond *c, const json_t *tags)
{
    size_t i, seen = 0, hits = 0;
    const json_t *t;
    json_array_foreach(tags, i, t)
    {
        const char *k = json_string_value(json_object_get(t, "TagKey"));
        const char *v = json_string_value(json_object_get(t, "TagValue"));
        if (!k)
            continue;
        char buf[512];
        snprintf(buf, sizeof(buf), "%s&%s", k, v ? v : "");
        seen++;
        hits += value_matches(c, buf);
    }
    if (!seen)
        return false;
    return c->qual == QUAL_ALL ? hits == seen : hits > 0;
}

static bool conditions_hold(const struct stmt *s, const struct api_policy_request *r)
{
    for (size_t i = 0; i < s->nconds; i++) {
        const struct cond *c = &s->conds[i];
        if (!cond_holds(c, c->key == KEY_RESOURCE_TAG ? r->tags : r->request_tags))
            return false;
    }
    return true;
}

enum api_policy_effect api_policy_eval(const struct api_policy *p,
                                       const struct api_policy_request *r, int *statement)
{
    int allow = -1;
    for (size_t i = 0; i < p->n; i++) {
        const struct stmt *s = &p->st[i];
        if (!action_matches(s, r->action) || !resource_matches(s, r) || !conditions_hold(s, r))
            continue;
        if (s->deny) {
            if (statement)
                *statement = (int)i;
            return API_POLICY_DENY;
        }
        if (allow < 0)
            allow = (int)i;
    }
    if (statement)
        *statement = allow;
    return allow >= 0 ? API_POLICY_ALLOW : API_POLICY_NONE;
}

/* Whether a statement covers every resource: "*", or a pattern whose region
 * and resource parts are both wildcards. */
static bool every_resource(const struct stmt *s)
{
    for (size_t i = 0; i < s->nres; i++) {
        const struct res *x = &s->res[i];
        if (x->any || ((!*x->region || strcmp(x->region, "*") == 0) && strcmp(x->path, "*") == 0))
            return true;
    }
    return false;
}

enum api_policy_effect api_policy_eval_action(const struct api_policy *p, const char *action,
                                              int *statement)
{
    int allow = -1;
    for (size_t i = 0; i < p->n; i++) {
        const struct stmt *s = &p->st[i];
        if (!action_matches(s, action))
            continue;
        if (s->deny && !s->nconds && every_resource(s)) {
            if (statement)
                *statement = (int)i;
            return API_POLICY_DENY;
        }
        if (!s->deny && allow < 0)
            allow = (int)i;
    }
    if (statement)
        *statement = allow;
    return allow >= 0 ? API_POLICY_ALLOW : API_POLICY_NONE;
}
