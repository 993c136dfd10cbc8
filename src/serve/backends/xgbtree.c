/* xgbtree.c - the native evaluator for XGBoost tree ensembles (xgbtree.h).
 * The model document is untrusted input: every field is checked before it is
 * used, and a tree is compiled only once it is known to be a tree (each node
 * reached once from the root, children in range, bounded depth). Prediction
 * then walks flat arrays without checks, allocation or locks.
 *
 * What the library does, and so what this file does (XGBoost 1.7; each point
 * checked against the library by tests/unit/test_xgbtree.c):
 * - the margin starts at base_score passed through the objective's
 *   ProbToMargin, in float: logit for reg:logistic and binary:logistic (not
 *   binary:logitraw, which keeps base_score as it is), log for count:poisson,
 *   reg:gamma, reg:tweedie, survival:cox and survival:aft, identity for the
 *   rest; every tree's leaf is then added to its output group (tree_info) in
 *   float, in tree order;
 * - a split sends a value left when value < condition (float compare), a
 *   missing value (NaN) to the default child; the library's predictor takes
 *   left + 1 as the right child, so only such trees are accepted;
 * - iteration_end keeps the first iteration_end * num_parallel_tree *
 *   output-group trees, and more than the model has is an error;
 * - the type-0 output is the objective's PredTransform: sigmoid 1/(1+expf(-x)),
 *   expf (exp in double for survival:aft), hinge (x > 0), softmax (max by fmaxf, expf of the
 * differences, a double sum divided in float) or the index of the first largest margin. Margins are
 * therefore bit-identical to the library's, whichever walk (the layouts and vector widths below
 * only change how a leaf is found). Type-0 outputs are computed with the same libm calls in the
 * same order, and are bit-identical with Debian's libxgboost and glibc; a libm other than the
 * library's could differ in the last bit, which is float rounding. */
#include "serve/backends/xgbtree.h"

#include "base/alloc.h"
#include "base/arena.h"
#include "base/json.h"

#include <math.h>
#include <stdint.h>
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define XGBT_X86 1
#include <immintrin.h>
#else
#define XGBT_X86 0
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Most output groups (classes or targets) a model may have: the margins of a
 * block of rows live on the stack while they are summed. */
#define XGBT_MAX_GROUPS 4096
/* Deepest tree accepted; the walk is iterative, this only bounds the work. */
#define XGBT_MAX_DEPTH 256
/* Trees this deep or shallower are stored as complete binary trees (see
 * "Layouts"); deeper ones as explicit nodes. Chosen by measurement: see
 * docs/benchmarks.md, "Native tree evaluator". (A build may override it to
 * measure again; at most 12.) */
#ifndef XGBT_COMPLETE_MAX_DEPTH
#define XGBT_COMPLETE_MAX_DEPTH 10
#endif
/* ... unless the padding would take more memory than this. */
#define XGBT_COMPLETE_MAX_BYTES ((size_t)64 << 20)
/* Rows whose margins are summed together: one tree's nodes serve them all. */
#define XGBT_BLOCK_ROWS 64
/* Rows (or trees, for a single row) walked in lock-step to overlap their loads. */
#define XGBT_LANES 8
/* Floats of prepared rows on the stack (see "Predicting"); a model using more
 * than half as many features reads the input rows as they are. */
#define XGBT_PREP_FLOATS 4096

/* The lanes' indices must live in registers, not in memory: unroll. */
#define UNROLL_LANES _Pragma("GCC unroll 8")

#define FEAT_MASK 0x7fffffffu
#define DEFAULT_LEFT 0x80000000u

/* ------------------------------------------------------------------------ */
/* Objectives                                                               */

enum xf { XF_IDENTITY, XF_SIGMOID, XF_EXP, XF_EXP_DOUBLE, XF_HINGE, XF_SOFTMAX, XF_SOFTPROB };
enum base_fn { BASE_IDENTITY, BASE_LOGIT, BASE_LOG };

struct objective {
    const char *name;
    enum xf xf;
    enum base_fn base;
};

/* Every objective of XGBoost 1.7 with its PredTransform and ProbToMargin. */
static const struct objective objectives[] = {
    {"reg:squarederror", XF_IDENTITY, BASE_IDENTITY},
    {"reg:squaredlogerror", XF_IDENTITY, BASE_IDENTITY},
    {"reg:pseudohubererror", XF_IDENTITY, BASE_IDENTITY},
    {"reg:absoluteerror", XF_IDENTITY, BASE_IDENTITY},
    {"reg:logistic", XF_SIGMOID, BASE_LOGIT},
    {"binary:logistic", XF_SIGMOID, BASE_LOGIT},
    {"binary:logitraw", XF_IDENTITY, BASE_IDENTITY}, /* not logit: measured */
    {"binary:hinge", XF_HINGE, BASE_IDENTITY},
    {"reg:gamma", XF_EXP, BASE_LOG},
    {"reg:tweedie", XF_EXP, BASE_LOG},
    {"count:poisson", XF_EXP, BASE_LOG},
    {"survival:cox", XF_EXP, BASE_LOG},
    {"survival:aft", XF_EXP_DOUBLE, BASE_LOG}, /* exp in double: measured */
    {"multi:softmax", XF_SOFTMAX, BASE_IDENTITY},
    {"multi:softprob", XF_SOFTPROB, BASE_IDENTITY},
    {"rank:pairwise", XF_IDENTITY, BASE_IDENTITY},
    {"rank:ndcg", XF_IDENTITY, BASE_IDENTITY},
    {"rank:map", XF_IDENTITY, BASE_IDENTITY},
};

static const char *const xf_names[] = {"identity", "sigmoid", "exp",     "exp (double)",
                                       "hinge",    "softmax", "softprob"};

/* ------------------------------------------------------------------------ */
/* Layouts                                                                  */

/* Complete layout: a tree of depth <= D padded to a complete binary tree of
 * depth D, internal nodes in heap order (children of i at 2i+1 and 2i+2), then
 * the 2^D leaf values. A leaf above the bottom becomes pass-through nodes
 * whose every bottom leaf holds its value, so each walk is exactly D steps of
 * one 8-byte load, one feature load and a compare, with no branch: rows and
 * trees can be walked side by side. */
struct cnode {
    float cond;
    uint32_t feat; /* feature index | DEFAULT_LEFT */
};

/* Explicit layout, for deeper trees: nodes in breadth-first order with the
 * right child next to the left one, a leaf's value in 'cond'. With prepared
 * rows a leaf is its own left child and reads the prepared row's last value,
 * -inf, which is below any value: the walk is then as branch-free as the
 * complete one, a tree's depth in steps. With input rows a leaf has left == 0
 * (the root is nobody's child) and the walk stops there. */
struct enode {
    float cond;
    uint32_t feat;
    uint32_t left;
};

enum layout { LAYOUT_COMPLETE, LAYOUT_EXPLICIT };

struct xgbt_model {
    size_t num_features, num_groups, num_trees; /* trees kept (iteration_end) */
    size_t max_depth, total_nodes;
    float base_margin;
    enum xf xf;
    enum layout layout;
    char objective[32];
    uint32_t *group; /* output group of each tree */
    /* complete layout */
    unsigned depth;
    size_t inner_per_tree, leaves_per_tree;
    struct cnode *cnodes; /* num_trees * inner_per_tree */
    float *cleaves;       /* num_trees * leaves_per_tree */
    /* explicit layout */
    struct enode *enodes;
    size_t *eroot;    /* first node of each tree */
    uint32_t *edepth; /* depth of each tree */
    /* Prepared rows (see "Predicting"): the features the trees use, and
     * whether nodes index those rather than the input's features. */
    bool prepared;
    size_t num_used;
    uint32_t *used;
    bool avx2, avx512; /* walk complete trees with AVX2 or AVX-512 gathers */
};

/* ------------------------------------------------------------------------ */
/* Reading the document                                                     */

/* Where in the document a check is: the path for messages. */
struct at {
    char path[160];
};

static int bad(struct err *err, const struct at *at, const char *fmt, const char *what)
{
    return err_set(err, ERR_INVALID, "%s: %s%s", at->path, fmt, what ? what : "");
}

static const struct json *member(const struct json *o, const char *key, enum json_type t,
                                 const struct at *at, struct err *err)
{
    const struct json *v = json_get(o, key);
    if (!v) {
        err_set(err, ERR_INVALID, "%s: missing field '%s'", at->path, key);
        return NULL;
    }
    if (v->type != t) {
        err_set(err, ERR_INVALID, "%s.%s: expected %s, not %s", at->path, key, json_type_name(t),
                json_type_name(v->type));
        return NULL;
    }
    return v;
}

static void at_push(struct at *dst, const struct at *src, const char *key)
{
    /* Paths are short; a cut one only shortens a message. */
    int n = snprintf(dst->path, sizeof(dst->path), "%.120s.%.30s", src->path, key);
    (void)n;
}

/* An unsigned decimal in a string field, as the library writes its parameters. */
static int str_uint(const struct json *o, const char *key, bool optional, uint64_t dflt,
                    uint64_t max, const struct at *at, uint64_t *out, struct err *err)
{
    const struct json *v = json_get(o, key);
    if (!v && optional) {
        *out = dflt;
        return 0;
    }
    if (!(v = member(o, key, JSON_STRING, at, err)))
        return ERR_INVALID;
    const char *s = v->u.str;
    uint64_t n = 0;
    if (v->len == 0 || v->len > 19 || strlen(s) != v->len)
        goto fail;
    for (size_t i = 0; i < v->len; i++) {
        if (s[i] < '0' || s[i] > '9')
            goto fail;
        n = n * 10 + (uint64_t)(s[i] - '0');
    }
    if (n > max)
        return err_set(err, ERR_INVALID, "%s.%s: %llu is above the limit %llu", at->path, key,
                       (unsigned long long)n, (unsigned long long)max);
    *out = n;
    return 0;
fail:
    return err_set(err, ERR_INVALID, "%s.%s: expected an unsigned integer in a string, not '%.40s'",
                   at->path, key, s);
}

/* An array field of exactly 'n' numbers. */
static const struct json *num_array(const struct json *tree, const char *key, size_t n,
                                    const struct at *at, struct err *err)
{
    const struct json *a = member(tree, key, JSON_ARRAY, at, err);
    if (!a)
        return NULL;
    if (a->len != n) {
        err_set(err, ERR_INVALID, "%s.%s: %zu values for %zu nodes (tree_param.num_nodes)",
                at->path, key, a->len, n);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        enum json_type t = a->u.items[i].type;
        /* default_left may be written as booleans */
        if (t != JSON_NUMBER && t != JSON_TRUE && t != JSON_FALSE) {
            err_set(err, ERR_INVALID, "%s.%s[%zu]: expected a number, not %s", at->path, key, i,
                    json_type_name(t));
            return NULL;
        }
    }
    return a;
}

static double num_at(const struct json *a, size_t i)
{
    const struct json *v = &a->u.items[i];
    return v->type == JSON_NUMBER ? v->u.num : v->type == JSON_TRUE ? 1 : 0;
}

/* A node index field: an integer in [-1, n). */
static int index_at(const struct json *a, size_t i, size_t n, const struct at *at, const char *key,
                    int64_t *out, struct err *err)
{
    double d = num_at(a, i);
    if (!(d >= -1 && d < (double)n) || d != floor(d))
        return err_set(err, ERR_INVALID, "%s.%s[%zu]: %.17g is not -1 or a node index below %zu",
                       at->path, key, i, d, n);
    *out = (int64_t)d;
    return 0;
}

/* One tree, checked, in plain arrays. */
struct tree {
    size_t n;
    int64_t *left;
    uint32_t *feat; /* with DEFAULT_LEFT */
    float *cond;    /* split condition, or leaf value */
    uint32_t *depth;
    uint32_t *order; /* nodes reachable from the root, breadth first */
    size_t reached;
    size_t max_depth;
};

static int read_tree(struct arena *a, const struct json *t, size_t num_features,
                     const struct at *at, struct tree *out, struct err *err)
{
    if (t->type != JSON_OBJECT)
        return bad(err, at, "expected an object, not ", json_type_name(t->type));
    struct at pat;
    at_push(&pat, at, "tree_param");
    const struct json *param = member(t, "tree_param", JSON_OBJECT, at, err);
    uint64_t n, leafvec;
    if (!param || str_uint(param, "num_nodes", false, 0, 1u << 30, &pat, &n, err))
        return ERR_INVALID;
    if (str_uint(param, "size_leaf_vector", true, 0, UINT32_MAX, &pat, &leafvec, err))
        return ERR_INVALID;
    if (leafvec > 1)
        return err_set(err, ERR_UNSUPPORTED, "%s: vector leaves (size_leaf_vector %llu)", pat.path,
                       (unsigned long long)leafvec);
    if (n == 0)
        return err_set(err, ERR_INVALID, "%s.num_nodes: a tree has at least one node", pat.path);
    const struct json *lc = num_array(t, "left_children", n, at, err);
    const struct json *rc = lc ? num_array(t, "right_children", n, at, err) : NULL;
    const struct json *si = rc ? num_array(t, "split_indices", n, at, err) : NULL;
    const struct json *sc = si ? num_array(t, "split_conditions", n, at, err) : NULL;
    const struct json *dl = sc ? num_array(t, "default_left", n, at, err) : NULL;
    if (!dl)
        return ERR_INVALID;
    /* Categorical splits: split_type 1 on any node, or categories listed. */
    const struct json *st = json_get(t, "split_type");
    if (st) {
        if (!(st = num_array(t, "split_type", n, at, err)))
            return ERR_INVALID;
        for (size_t i = 0; i < n; i++)
            if (num_at(st, i) != 0)
                return err_set(err, ERR_UNSUPPORTED,
                               "%s.split_type[%zu]: categorical splits are not supported", at->path,
                               i);
    }
    const struct json *cats = json_get(t, "categories");
    if (cats && (cats->type != JSON_ARRAY || cats->len != 0))
        return err_set(err, ERR_UNSUPPORTED, "%s.categories: categorical splits are not supported",
                       at->path);

    out->n = n;
    out->left = arena_alloc(a, n * sizeof(*out->left));
    out->feat = arena_alloc(a, n * sizeof(*out->feat));
    out->cond = arena_alloc(a, n * sizeof(*out->cond));
    out->depth = arena_calloc(a, n, sizeof(*out->depth));
    out->order = arena_alloc(a, n * sizeof(*out->order));
    uint8_t *seen = arena_calloc(a, n, 1);

    /* Breadth-first from the root; 'order' doubles as the queue. */
    size_t head = 0, tail = 0;
    out->order[tail++] = 0;
    seen[0] = 1;
    out->max_depth = 0;
    while (head < tail) {
        size_t i = out->order[head++];
        int64_t l, r;
        if (index_at(lc, i, n, at, "left_children", &l, err) ||
            index_at(rc, i, n, at, "right_children", &r, err))
            return ERR_INVALID;
        double c = num_at(sc, i);
        if (!isfinite(c) || !isfinite((float)c))
            return err_set(err, ERR_INVALID,
                           "%s.split_conditions[%zu]: %.17g is not a finite float", at->path, i, c);
        out->cond[i] = (float)c;
        out->left[i] = l;
        if (l == -1) {
            if (r != -1)
                return err_set(err, ERR_INVALID,
                               "%s.right_children[%zu]: a leaf (left child -1) has right child "
                               "%lld",
                               at->path, i, (long long)r);
            out->feat[i] = 0;
            if (out->depth[i] > out->max_depth)
                out->max_depth = out->depth[i];
            continue;
        }
        if (r != l + 1)
            return err_set(err, ERR_UNSUPPORTED,
                           "%s.right_children[%zu]: %lld is not left child + 1, which the "
                           "library's predictor assumes",
                           at->path, i, (long long)r);
        double f = num_at(si, i);
        if (!(f >= 0 && f < (double)num_features) || f != floor(f))
            return err_set(err, ERR_INVALID,
                           "%s.split_indices[%zu]: %.17g is not a feature index below num_feature "
                           "%zu",
                           at->path, i, f, num_features);
        double d = num_at(dl, i);
        if (d != 0 && d != 1)
            return err_set(err, ERR_INVALID, "%s.default_left[%zu]: %.17g is not 0 or 1", at->path,
                           i, d);
        out->feat[i] = (uint32_t)f | (d != 0 ? DEFAULT_LEFT : 0);
        if (out->depth[i] + 1 > XGBT_MAX_DEPTH)
            return err_set(err, ERR_INVALID, "%s: deeper than %d levels", at->path, XGBT_MAX_DEPTH);
        for (int64_t k = l; k <= r; k++) {
            if (seen[k])
                return err_set(err, ERR_INVALID,
                               "%s.%s[%zu]: node %lld is reached twice (a cycle or a shared "
                               "subtree)",
                               at->path, k == l ? "left_children" : "right_children", i,
                               (long long)k);
            seen[k] = 1;
            out->depth[k] = out->depth[i] + 1;
            out->order[tail++] = (uint32_t)k;
        }
    }
    /* Nodes nothing reaches are the deleted nodes of a pruned tree: ignored. */
    out->reached = tail;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Compiling                                                                */

/* Fill the complete-layout slot 'slot' (at depth 'd') and its subtree from
 * node 'i' of 't'. Iterative over a small explicit stack: depth <= 8 here. */
static void fill_complete(const struct tree *t, unsigned D, struct cnode *inner, float *leaves)
{
    struct {
        uint32_t slot, node;
    } stack[2 * (XGBT_COMPLETE_MAX_DEPTH + 1)];
    size_t sp = 0;
    size_t ninner = ((size_t)1 << D) - 1;
    stack[sp].slot = 0;
    stack[sp++].node = 0;
    while (sp) {
        uint32_t slot = stack[--sp].slot, node = stack[sp].node;
        if (t->left[node] == -1) {
            /* A leaf: every bottom slot under 'slot' gets its value; the
             * internal slots on the way pass through (feature 0, any side). */
            size_t lo = slot, hi = slot;
            while (lo < ninner) {
                inner[lo] = (struct cnode){0, 0};
                for (size_t s = lo + 1; s <= hi; s++)
                    inner[s] = (struct cnode){0, 0};
                lo = 2 * lo + 1;
                hi = 2 * hi + 2;
            }
            for (size_t s = lo; s <= hi; s++)
                leaves[s - ninner] = t->cond[node];
            continue;
        }
        inner[slot] = (struct cnode){t->cond[node], t->feat[node]};
        uint32_t l = (uint32_t)t->left[node];
        stack[sp].slot = 2 * slot + 1;
        stack[sp++].node = l;
        stack[sp].slot = 2 * slot + 2;
        stack[sp++].node = l + 1;
    }
}

/* The explicit layout of 't' at 'base': breadth-first order keeps siblings
 * adjacent, as the walk needs. */
static void fill_explicit(const struct tree *t, struct arena *a, struct enode *base, bool prepared,
                          uint32_t leaf_slot)
{
    uint32_t *pos = arena_alloc(a, t->n * sizeof(*pos));
    for (size_t k = 0; k < t->reached; k++)
        pos[t->order[k]] = (uint32_t)k;
    for (size_t k = 0; k < t->reached; k++) {
        uint32_t i = t->order[k];
        struct enode *e = &base[k];
        e->cond = t->cond[i];
        e->feat = t->feat[i];
        e->left = t->left[i] == -1 ? 0 : pos[t->left[i]];
        if (t->left[i] == -1 && prepared) {
            e->feat = leaf_slot;
            e->left = (uint32_t)k;
        }
    }
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* Find the features the first 'keep' trees split on and, if few enough for
 * prepared rows, renumber their nodes: the feature's rank among those, plus
 * num_used when missing values go left. */
static void use_features(struct xgbt_model *m, struct tree *ts, size_t keep, struct arena *a)
{
    size_t n = 0;
    for (size_t i = 0; i < keep; i++)
        n += ts[i].reached;
    uint32_t *f = arena_alloc(a, (n ? n : 1) * sizeof(*f));
    n = 0;
    for (size_t i = 0; i < keep; i++)
        for (size_t k = 0; k < ts[i].reached; k++) {
            uint32_t node = ts[i].order[k];
            if (ts[i].left[node] != -1)
                f[n++] = ts[i].feat[node] & FEAT_MASK;
        }
    qsort(f, n, sizeof(*f), cmp_u32);
    size_t u = 0;
    for (size_t k = 0; k < n; k++)
        if (u == 0 || f[k] != f[u - 1])
            f[u++] = f[k];
    m->num_used = u;
    m->prepared = 2 * u + 1 <= XGBT_PREP_FLOATS;
    if (!m->prepared)
        return;
    m->used = xcalloc(u ? u : 1, sizeof(*m->used));
    memcpy(m->used, f, u * sizeof(*f));
    for (size_t i = 0; i < keep; i++)
        for (size_t k = 0; k < ts[i].reached; k++) {
            uint32_t node = ts[i].order[k], raw = ts[i].feat[node];
            if (ts[i].left[node] == -1)
                continue;
            uint32_t key = raw & FEAT_MASK;
            const uint32_t *at = bsearch(&key, m->used, u, sizeof(key), cmp_u32);
            ts[i].feat[node] = (uint32_t)(at - m->used) + (raw & DEFAULT_LEFT ? (uint32_t)u : 0);
        }
}

static int read_learner(const struct json *root, struct xgbt_model *m, const struct json **trees,
                        const struct json **tree_info, uint64_t *npt, struct err *err)
{
    struct at at = {"document"};
    if (root->type != JSON_OBJECT)
        return bad(err, &at, "expected an object, not ", json_type_name(root->type));
    const struct json *learner = member(root, "learner", JSON_OBJECT, &at, err);
    if (!learner)
        return ERR_INVALID;
    struct at lat = {"learner"}, mat, oat, gat, gmat, gpat;
    at_push(&mat, &lat, "learner_model_param");
    at_push(&oat, &lat, "objective");
    at_push(&gat, &lat, "gradient_booster");
    const struct json *mp = member(learner, "learner_model_param", JSON_OBJECT, &lat, err);
    const struct json *obj = mp ? member(learner, "objective", JSON_OBJECT, &lat, err) : NULL;
    const struct json *gb =
        obj ? member(learner, "gradient_booster", JSON_OBJECT, &lat, err) : NULL;
    if (!gb)
        return ERR_INVALID;

    uint64_t nfeat, nclass, ntarget;
    if (str_uint(mp, "num_feature", false, 0, FEAT_MASK, &mat, &nfeat, err) ||
        str_uint(mp, "num_class", true, 0, UINT32_MAX, &mat, &nclass, err) ||
        str_uint(mp, "num_target", true, 1, UINT32_MAX, &mat, &ntarget, err))
        return ERR_INVALID;
    uint64_t groups = nclass > ntarget ? nclass : ntarget;
    if (groups == 0)
        groups = 1;
    if (groups > XGBT_MAX_GROUPS)
        return err_set(err, ERR_UNSUPPORTED, "%s: %llu outputs per row, more than %d", mat.path,
                       (unsigned long long)groups, XGBT_MAX_GROUPS);
    m->num_features = nfeat;
    m->num_groups = groups;

    const struct json *bs = member(mp, "base_score", JSON_STRING, &mat, err);
    if (!bs)
        return ERR_INVALID;
    char *end;
    float base = strtof(bs->u.str, &end);
    if (bs->len == 0 || *end || (size_t)(end - bs->u.str) != bs->len || !isfinite(base))
        return err_set(err, ERR_INVALID, "%s.base_score: '%.40s' is not a finite number", mat.path,
                       bs->u.str);

    const struct json *name = member(obj, "name", JSON_STRING, &oat, err);
    if (!name)
        return ERR_INVALID;
    const struct objective *o = NULL;
    for (size_t i = 0; i < sizeof(objectives) / sizeof(objectives[0]); i++)
        if (strcmp(name->u.str, objectives[i].name) == 0)
            o = &objectives[i];
    if (!o)
        return err_set(err, ERR_UNSUPPORTED, "%s.name: objective '%.40s' is not supported",
                       oat.path, name->u.str);
    snprintf(m->objective, sizeof(m->objective), "%s", o->name);
    m->xf = o->xf;
    /* ProbToMargin, in float as the library computes it. */
    switch (o->base) {
    case BASE_IDENTITY:
        m->base_margin = base;
        break;
    case BASE_LOGIT:
        if (!(base > 0.0f && base < 1.0f))
            return err_set(err, ERR_INVALID, "%s.base_score: %g is not in (0,1) for %s", mat.path,
                           (double)base, o->name);
        m->base_margin = -logf(1.0f / base - 1.0f);
        break;
    case BASE_LOG:
        if (!(base > 0.0f))
            return err_set(err, ERR_INVALID, "%s.base_score: %g is not positive for %s", mat.path,
                           (double)base, o->name);
        m->base_margin = logf(base);
        break;
    }

    const struct json *gname = member(gb, "name", JSON_STRING, &gat, err);
    if (!gname)
        return ERR_INVALID;
    if (strcmp(gname->u.str, "gbtree") != 0)
        return err_set(err, ERR_UNSUPPORTED,
                       "%s.name: booster '%.40s' is not supported (only gbtree)", gat.path,
                       gname->u.str);
    at_push(&gmat, &gat, "model");
    const struct json *model = member(gb, "model", JSON_OBJECT, &gat, err);
    const struct json *gp =
        model ? member(model, "gbtree_model_param", JSON_OBJECT, &gmat, err) : NULL;
    if (!gp)
        return ERR_INVALID;
    at_push(&gpat, &gmat, "gbtree_model_param");
    uint64_t ntrees;
    if (str_uint(gp, "num_trees", false, 0, 1u << 30, &gpat, &ntrees, err) ||
        str_uint(gp, "num_parallel_tree", true, 1, 1u << 30, &gpat, npt, err))
        return ERR_INVALID;
    if (*npt == 0)
        return err_set(err, ERR_INVALID, "%s.num_parallel_tree: must be at least 1", gpat.path);
    *trees = member(model, "trees", JSON_ARRAY, &gmat, err);
    *tree_info = *trees ? member(model, "tree_info", JSON_ARRAY, &gmat, err) : NULL;
    if (!*tree_info)
        return ERR_INVALID;
    if ((*trees)->len != ntrees || (*tree_info)->len != ntrees)
        return err_set(err, ERR_INVALID,
                       "%s: num_trees %llu, but %zu trees and %zu tree_info entries", gmat.path,
                       (unsigned long long)ntrees, (*trees)->len, (*tree_info)->len);
    for (size_t i = 0; i < ntrees; i++) {
        const struct json *g = &(*tree_info)->u.items[i];
        if (g->type != JSON_NUMBER || !(g->u.num >= 0 && g->u.num < (double)groups) ||
            g->u.num != floor(g->u.num))
            return err_set(err, ERR_INVALID, "%s.tree_info[%zu]: not an output group below %llu",
                           gmat.path, i, (unsigned long long)groups);
    }
    return 0;
}

static int compile(const struct json *root, size_t iteration_end, struct arena *a,
                   struct xgbt_model *m, struct err *err)
{
    const struct json *trees = NULL, *tree_info = NULL;
    uint64_t npt = 1;
    int rc = read_learner(root, m, &trees, &tree_info, &npt, err);
    if (rc)
        return rc;
    size_t ntrees = trees->len;
    size_t keep = ntrees;
    if (iteration_end) {
        size_t per_iter = (size_t)npt * m->num_groups;
        if (iteration_end > ntrees / per_iter)
            return err_set(err, ERR_INVALID,
                           "iteration_end %zu: the model has %zu iterations of %zu trees",
                           iteration_end, ntrees / per_iter, per_iter);
        keep = iteration_end * per_iter;
    }

    /* Check every tree, the ones past iteration_end too: it is one document. */
    struct tree *ts = arena_alloc(a, (ntrees ? ntrees : 1) * sizeof(*ts));
    size_t max_depth = 0, total = 0;
    for (size_t i = 0; i < ntrees; i++) {
        struct at at;
        snprintf(at.path, sizeof(at.path), "learner.gradient_booster.model.trees[%zu]", i);
        if ((rc = read_tree(a, &trees->u.items[i], m->num_features, &at, &ts[i], err)))
            return rc;
        if (i < keep) {
            if (ts[i].max_depth > max_depth)
                max_depth = ts[i].max_depth;
            total += ts[i].reached;
        }
    }
    m->num_trees = keep;
    m->max_depth = max_depth;
    m->total_nodes = total;
    m->group = xcalloc(keep ? keep : 1, sizeof(*m->group));
    for (size_t i = 0; i < keep; i++)
        m->group[i] = (uint32_t)tree_info->u.items[i].u.num;
    use_features(m, ts, keep, a);
#if XGBT_X86
    /* BERTH_XGBT_NO_SIMD=1 keeps to the portable walk, =2 to AVX2 at most
     * (the tests compare all three). */
    const char *no_simd = getenv("BERTH_XGBT_NO_SIMD");
    m->avx2 = m->prepared && __builtin_cpu_supports("avx2") && !(no_simd && *no_simd == '1');
    m->avx512 = m->avx2 && __builtin_cpu_supports("avx512f") && !(no_simd && *no_simd == '2');
#endif

    bool complete =
        max_depth <= XGBT_COMPLETE_MAX_DEPTH &&
        (keep * (sizeof(struct cnode) + sizeof(float)) << max_depth) <= XGBT_COMPLETE_MAX_BYTES;
    if (complete) {
        m->layout = LAYOUT_COMPLETE;
        m->depth = (unsigned)max_depth;
        m->inner_per_tree = ((size_t)1 << max_depth) - 1;
        m->leaves_per_tree = (size_t)1 << max_depth;
        m->cnodes = xcalloc(keep * m->inner_per_tree + 1, sizeof(*m->cnodes));
        m->cleaves = xcalloc(keep * m->leaves_per_tree + 1, sizeof(*m->cleaves));
        for (size_t i = 0; i < keep; i++)
            fill_complete(&ts[i], m->depth, m->cnodes + i * m->inner_per_tree,
                          m->cleaves + i * m->leaves_per_tree);
    } else {
        m->layout = LAYOUT_EXPLICIT;
        m->enodes = xcalloc(total, sizeof(*m->enodes));
        m->eroot = xcalloc(keep, sizeof(*m->eroot));
        m->edepth = xcalloc(keep, sizeof(*m->edepth));
        size_t at = 0;
        for (size_t i = 0; i < keep; i++) {
            m->eroot[i] = at;
            m->edepth[i] = (uint32_t)ts[i].max_depth;
            fill_explicit(&ts[i], a, m->enodes + at, m->prepared, (uint32_t)(2 * m->num_used));
            at += ts[i].reached;
        }
    }
    return 0;
}

int xgbt_compile(const char *json, size_t len, size_t iteration_end, struct xgbt_model **out,
                 struct err *err)
{
    *out = NULL;
    struct arena a;
    arena_init(&a, 1 << 20);
    struct json *root;
    int rc = json_parse(&a, json, len, &root, err);
    if (rc) {
        arena_release(&a);
        err_prefix(err, "model document: ");
        if (err)
            err->code = ERR_INVALID;
        return ERR_INVALID;
    }
    struct xgbt_model *m = xcalloc(1, sizeof(*m));
    rc = compile(root, iteration_end, &a, m, err);
    arena_release(&a);
    if (rc) {
        xgbt_free(m);
        return rc;
    }
    *out = m;
    return 0;
}

void xgbt_free(struct xgbt_model *m)
{
    if (!m)
        return;
    free(m->group);
    free(m->cnodes);
    free(m->cleaves);
    free(m->enodes);
    free(m->eroot);
    free(m->edepth);
    free(m->used);
    free(m);
}

size_t xgbt_num_features(const struct xgbt_model *m)
{
    return m->num_features;
}

size_t xgbt_width(const struct xgbt_model *m, bool margin)
{
    return !margin && m->xf == XF_SOFTMAX ? 1 : m->num_groups;
}

void xgbt_describe(const struct xgbt_model *m, char *out, size_t n)
{
    const char *walk = m->avx512 ? ", AVX-512" : m->avx2 ? ", AVX2" : "";
    snprintf(out, n,
             "%zu trees of depth <= %zu (%zu nodes), %zu features (%zu used), %zu output%s, %s "
             "(%s), %s layout%s, %s rows",
             m->num_trees, m->max_depth, m->total_nodes, m->num_features, m->num_used,
             m->num_groups, m->num_groups == 1 ? "" : "s", m->objective, xf_names[m->xf],
             m->layout == LAYOUT_COMPLETE ? "complete-tree" : "explicit-node",
             m->layout == LAYOUT_COMPLETE ? walk : "", m->prepared ? "prepared" : "input");
}

/* ------------------------------------------------------------------------ */
/* Predicting                                                               */

/* Prepared rows. The features the trees use are copied, once per row and
 * block, into two halves: in the first a missing value becomes +inf, in the
 * second -inf. A node whose missing values go right reads the first half, one
 * whose missing values go left the second: every condition is finite, so
 * !(+inf < c) sends a missing value right and !(-inf < c) left, and any other
 * value, infinities included, compares as itself. A step is then one compare,
 * and the rows the trees read are packed together. A last value, -inf, keeps
 * explicit-layout leaves where they are. */
static void prepare(const struct xgbt_model *m, const float *rows, size_t nrows, float *prep)
{
    const size_t F = m->num_features, U = m->num_used;
    for (size_t r = 0; r < nrows; r++) {
        const float *x = rows + r * F;
        float *p = prep + r * (2 * U + 1);
        for (size_t j = 0; j < U; j++) {
            float v = x[m->used[j]];
            bool missing = isnan(v);
            p[j] = missing ? INFINITY : v;
            p[U + j] = missing ? -INFINITY : v;
        }
        p[2 * U] = -INFINITY; /* what explicit-layout leaves read */
    }
}

/* One step down a complete tree from slot 'i'. Unprepared, a missing value
 * goes to the default side: !(NaN < c) is true (right), and the default-left
 * bit flips it for NaN alone. */
static inline __attribute__((always_inline)) uint32_t cstep(const struct cnode *nd, uint32_t i,
                                                            const float *row, bool prepared)
{
    struct cnode n = nd[i];
    if (prepared)
        return 2 * i + 1 + (uint32_t) !(row[n.feat] < n.cond);
    float v = row[n.feat & FEAT_MASK];
    uint32_t right = (uint32_t) !(v < n.cond) ^ ((uint32_t)(v != v) & (n.feat >> 31));
    return 2 * i + 1 + right;
}

/* The margins of 'nrows' rows (nrows <= XGBT_BLOCK_ROWS, 'stride' floats
 * apart) added into 'acc' (nrows * num_groups, holding the base margin). Every
 * row's leaves are added in tree order, the order the library sums them in. */
static inline __attribute__((always_inline)) void sum_complete(const struct xgbt_model *m,
                                                               const float *rows, size_t stride,
                                                               size_t nrows, float *acc,
                                                               bool prepared)
{
    const size_t G = m->num_groups, T = m->num_trees;
    const unsigned D = m->depth;
    const size_t NI = m->inner_per_tree, NL = m->leaves_per_tree;
    if (nrows < XGBT_LANES) {
        /* Few rows: walk XGBT_LANES trees side by side, then add their leaves. */
        for (size_t r = 0; r < nrows; r++) {
            const float *row = rows + r * stride;
            float *a = acc + r * G;
            size_t t = 0;
            for (; t + XGBT_LANES <= T; t += XGBT_LANES) {
                uint32_t idx[XGBT_LANES] = {0};
                const struct cnode *nd = m->cnodes + t * NI;
                for (unsigned d = 0; d < D; d++) {
                    UNROLL_LANES
                    for (int k = 0; k < XGBT_LANES; k++)
                        idx[k] = cstep(nd + k * NI, idx[k], row, prepared);
                }
                const float *lv = m->cleaves + t * NL - NI;
                for (int k = 0; k < XGBT_LANES; k++)
                    a[m->group[t + k]] += lv[k * NL + idx[k]];
            }
            for (; t < T; t++) {
                const struct cnode *nd = m->cnodes + t * NI;
                uint32_t i = 0;
                for (unsigned d = 0; d < D; d++)
                    i = cstep(nd, i, row, prepared);
                a[m->group[t]] += m->cleaves[t * NL + i - NI];
            }
        }
        return;
    }
    for (size_t t = 0; t < T; t++) {
        const struct cnode *nd = m->cnodes + t * NI;
        const float *lv = m->cleaves + t * NL - NI;
        const uint32_t g = m->group[t];
        size_t r = 0;
        for (; r + XGBT_LANES <= nrows; r += XGBT_LANES) {
            uint32_t idx[XGBT_LANES] = {0};
            const float *row = rows + r * stride;
            for (unsigned d = 0; d < D; d++) {
                UNROLL_LANES
                for (int k = 0; k < XGBT_LANES; k++)
                    idx[k] = cstep(nd, idx[k], row + k * stride, prepared);
            }
            for (int k = 0; k < XGBT_LANES; k++)
                acc[(r + k) * G + g] += lv[idx[k]];
        }
        for (; r < nrows; r++) {
            uint32_t i = 0;
            for (unsigned d = 0; d < D; d++)
                i = cstep(nd, i, rows + r * stride, prepared);
            acc[r * G + g] += lv[i];
        }
    }
}

/* An explicit tree walked with input rows: until a leaf. */
static float ewalk_raw(const struct enode *nd, const float *row)
{
    uint32_t i = 0;
    while (nd[i].left) {
        struct enode n = nd[i];
        float v = row[n.feat & FEAT_MASK];
        i = n.left + ((uint32_t) !(v < n.cond) ^ ((uint32_t)(v != v) & (n.feat >> 31)));
    }
    return nd[i].cond;
}

/* One step in an explicit tree with prepared rows; a leaf stays put. */
static inline __attribute__((always_inline)) uint32_t estep(const struct enode *nd, uint32_t i,
                                                            const float *row)
{
    struct enode n = nd[i];
    return n.left + (uint32_t) !(row[n.feat] < n.cond);
}

/* sum_complete() for the explicit layout: lanes of rows through one tree, or
 * for a few rows lanes of trees (as deep as the deepest of them). */
static void sum_explicit_prepared(const struct xgbt_model *m, const float *rows, size_t stride,
                                  size_t nrows, float *acc)
{
    const size_t G = m->num_groups, T = m->num_trees;
    if (nrows < XGBT_LANES) {
        for (size_t r = 0; r < nrows; r++) {
            const float *row = rows + r * stride;
            float *a = acc + r * G;
            size_t t = 0;
            for (; t + XGBT_LANES <= T; t += XGBT_LANES) {
                uint32_t idx[XGBT_LANES] = {0}, D = 0;
                const struct enode *nd[XGBT_LANES];
                for (int k = 0; k < XGBT_LANES; k++) {
                    nd[k] = m->enodes + m->eroot[t + k];
                    D = m->edepth[t + k] > D ? m->edepth[t + k] : D;
                }
                for (uint32_t d = 0; d < D; d++) {
                    UNROLL_LANES
                    for (int k = 0; k < XGBT_LANES; k++)
                        idx[k] = estep(nd[k], idx[k], row);
                }
                for (int k = 0; k < XGBT_LANES; k++)
                    a[m->group[t + k]] += nd[k][idx[k]].cond;
            }
            for (; t < T; t++) {
                const struct enode *nd = m->enodes + m->eroot[t];
                uint32_t i = 0;
                for (uint32_t d = 0; d < m->edepth[t]; d++)
                    i = estep(nd, i, row);
                a[m->group[t]] += nd[i].cond;
            }
        }
        return;
    }
    for (size_t t = 0; t < T; t++) {
        const struct enode *nd = m->enodes + m->eroot[t];
        const uint32_t g = m->group[t], D = m->edepth[t];
        size_t r = 0;
        for (; r + XGBT_LANES <= nrows; r += XGBT_LANES) {
            uint32_t idx[XGBT_LANES] = {0};
            const float *row = rows + r * stride;
            for (uint32_t d = 0; d < D; d++) {
                UNROLL_LANES
                for (int k = 0; k < XGBT_LANES; k++)
                    idx[k] = estep(nd, idx[k], row + k * stride);
            }
            for (int k = 0; k < XGBT_LANES; k++)
                acc[(r + k) * G + g] += nd[idx[k]].cond;
        }
        for (; r < nrows; r++) {
            uint32_t i = 0;
            for (uint32_t d = 0; d < D; d++)
                i = estep(nd, i, rows + r * stride);
            acc[r * G + g] += nd[i].cond;
        }
    }
}

static void sum_explicit_raw(const struct xgbt_model *m, const float *rows, size_t stride,
                             size_t nrows, float *acc)
{
    const size_t G = m->num_groups;
    for (size_t t = 0; t < m->num_trees; t++) {
        const struct enode *nd = m->enodes + m->eroot[t];
        const uint32_t g = m->group[t];
        for (size_t r = 0; r < nrows; r++)
            acc[r * G + g] += ewalk_raw(nd, rows + r * stride);
    }
}

#if XGBT_X86
/* The complete-tree walk with vector gathers: V vectors of lanes, each lane a
 * (tree, row) pair given by its tree's node offset ('nbase') and leaf offset
 * ('lbase') and its prepared row's offset ('roff'). A level is three gathers
 * per vector (feature and condition of the lanes' nodes, then the lanes'
 * values) and one compare, and the indices move as in cstep(); several
 * vectors are in flight because a level's gathers depend on each other, and
 * one vector alone waits on their latency. The leaves come back in 'leaf'. */
typedef void walk_fn(const struct cnode *nd, const float *leaves, const float *prep,
                     const int32_t *nbase, const int32_t *roff, const int32_t *lbase, unsigned D,
                     size_t NI, float *leaf);

__attribute__((target("avx2"))) static inline __attribute__((always_inline)) void
walk_avx2(const struct cnode *nd, const float *leaves, const float *prep, const int32_t *nbase,
          const int32_t *roff, const int32_t *lbase, int V, unsigned D, size_t NI, float *leaf)
{
    const int *feat = (const int *)(const void *)&nd->feat;
    const float *cond = &nd->cond;
    const __m256i one = _mm256_set1_epi32(1);
    __m256i idx[4], nb[4], ro[4];
    for (int k = 0; k < V; k++) {
        idx[k] = _mm256_setzero_si256();
        nb[k] = _mm256_loadu_si256((const __m256i *)(const void *)(nbase + 8 * k));
        ro[k] = _mm256_loadu_si256((const __m256i *)(const void *)(roff + 8 * k));
    }
    for (unsigned d = 0; d < D; d++) {
        for (int k = 0; k < V; k++) {
            __m256i g = _mm256_add_epi32(nb[k], idx[k]);
            __m256i f = _mm256_i32gather_epi32(feat, g, 8);
            __m256 c = _mm256_i32gather_ps(cond, g, 8);
            __m256 v = _mm256_i32gather_ps(prep, _mm256_add_epi32(ro[k], f), 4);
            /* all ones where !(v < c): right, so subtracting adds one */
            __m256i right = _mm256_castps_si256(_mm256_cmp_ps(v, c, _CMP_NLT_UQ));
            idx[k] =
                _mm256_sub_epi32(_mm256_add_epi32(_mm256_add_epi32(idx[k], idx[k]), one), right);
        }
    }
    const __m256i ni = _mm256_set1_epi32((int)NI);
    for (int k = 0; k < V; k++) {
        __m256i lb = _mm256_loadu_si256((const __m256i *)(const void *)(lbase + 8 * k));
        __m256i at = _mm256_add_epi32(lb, _mm256_sub_epi32(idx[k], ni));
        _mm256_storeu_ps(leaf + 8 * k, _mm256_i32gather_ps(leaves, at, 4));
    }
}

__attribute__((target("avx512f"))) static inline __attribute__((always_inline)) void
walk_avx512f(const struct cnode *nd, const float *leaves, const float *prep, const int32_t *nbase,
             const int32_t *roff, const int32_t *lbase, int V, unsigned D, size_t NI, float *leaf)
{
    const int *feat = (const int *)(const void *)&nd->feat;
    const float *cond = &nd->cond;
    const __m512i one = _mm512_set1_epi32(1);
    __m512i idx[4], nb[4], ro[4];
    for (int k = 0; k < V; k++) {
        idx[k] = _mm512_setzero_si512();
        nb[k] = _mm512_loadu_si512(nbase + 16 * k);
        ro[k] = _mm512_loadu_si512(roff + 16 * k);
    }
    for (unsigned d = 0; d < D; d++) {
        for (int k = 0; k < V; k++) {
            __m512i g = _mm512_add_epi32(nb[k], idx[k]);
            __m512i f = _mm512_i32gather_epi32(g, feat, 8);
            __m512 c = _mm512_i32gather_ps(g, cond, 8);
            __m512 v = _mm512_i32gather_ps(_mm512_add_epi32(ro[k], f), prep, 4);
            __mmask16 right = _mm512_cmp_ps_mask(v, c, _CMP_NLT_UQ); /* !(v < c) */
            __m512i next = _mm512_add_epi32(_mm512_add_epi32(idx[k], idx[k]), one);
            idx[k] = _mm512_mask_add_epi32(next, right, next, one);
        }
    }
    const __m512i ni = _mm512_set1_epi32((int)NI);
    for (int k = 0; k < V; k++) {
        __m512i at =
            _mm512_add_epi32(_mm512_loadu_si512(lbase + 16 * k), _mm512_sub_epi32(idx[k], ni));
        _mm512_storeu_ps(leaf + 16 * k, _mm512_i32gather_ps(at, leaves, 4));
    }
}

/* Each walk for one to four vectors, compiled for that count. */
#define WALKS(isa)                                                                                 \
    __attribute__((target(#isa))) static void isa##_1(WALK_ARGS)                                   \
    {                                                                                              \
        walk_##isa(nd, leaves, prep, nbase, roff, lbase, 1, D, NI, leaf);                          \
    }                                                                                              \
    __attribute__((target(#isa))) static void isa##_2(WALK_ARGS)                                   \
    {                                                                                              \
        walk_##isa(nd, leaves, prep, nbase, roff, lbase, 2, D, NI, leaf);                          \
    }                                                                                              \
    __attribute__((target(#isa))) static void isa##_3(WALK_ARGS)                                   \
    {                                                                                              \
        walk_##isa(nd, leaves, prep, nbase, roff, lbase, 3, D, NI, leaf);                          \
    }                                                                                              \
    __attribute__((target(#isa))) static void isa##_4(WALK_ARGS)                                   \
    {                                                                                              \
        walk_##isa(nd, leaves, prep, nbase, roff, lbase, 4, D, NI, leaf);                          \
    }
#define WALK_ARGS                                                                                  \
    const struct cnode *nd, const float *leaves, const float *prep, const int32_t *nbase,          \
        const int32_t *roff, const int32_t *lbase, unsigned D, size_t NI, float *leaf
WALKS(avx2)
WALKS(avx512f)
#undef WALKS
#undef WALK_ARGS

struct simd {
    size_t width;     /* lanes per vector */
    walk_fn *walk[4]; /* for 1 to 4 vectors */
};

static const struct simd simd_avx2 = {8, {avx2_1, avx2_2, avx2_3, avx2_4}};
static const struct simd simd_avx512 = {16, {avx512f_1, avx512f_2, avx512f_3, avx512f_4}};

/* sum_complete() for prepared rows with a vector walk: up to four vectors of
 * rows through one tree, or for fewer rows than one vector holds, up to four
 * vectors of trees for one row; what is left over (rows past the last whole
 * vector, trees past the last whole vector) as there. */
static void sum_complete_simd(const struct xgbt_model *m, const struct simd *s, const float *rows,
                              size_t stride, size_t nrows, float *acc)
{
    const size_t G = m->num_groups, T = m->num_trees, W = s->width;
    const unsigned D = m->depth;
    const size_t NI = m->inner_per_tree, NL = m->leaves_per_tree;
    int32_t nbase[64], roff[64], lbase[64];
    float leaf[64];
    if (nrows < W) {
        for (size_t j = 0; j < 4 * W; j++) {
            nbase[j] = (int32_t)(j * NI);
            lbase[j] = (int32_t)(j * NL);
            roff[j] = 0;
        }
        size_t whole = T - T % W;
        for (size_t r = 0; r < nrows; r++) {
            const float *row = rows + r * stride;
            float *a = acc + r * G;
            for (size_t t = 0; t < whole;) {
                size_t n = whole - t >= 4 * W ? 4 * W : whole - t;
                s->walk[n / W - 1](m->cnodes + t * NI, m->cleaves + t * NL, row, nbase, roff, lbase,
                                   D, NI, leaf);
                for (size_t k = 0; k < n; k++)
                    a[m->group[t + k]] += leaf[k];
                t += n;
            }
        }
        /* The trees past the last whole vector, in order, after them. */
        if (whole < T) {
            struct xgbt_model rest = *m;
            rest.num_trees = T - whole;
            rest.cnodes = m->cnodes + whole * NI;
            rest.cleaves = m->cleaves + whole * NL;
            rest.group = m->group + whole;
            sum_complete(&rest, rows, stride, nrows, acc, true);
        }
        return;
    }
    for (size_t j = 0; j < 4 * W; j++) {
        nbase[j] = lbase[j] = 0;
        roff[j] = (int32_t)(j * stride);
    }
    size_t whole = nrows - nrows % W;
    for (size_t t = 0; t < T; t++) {
        const struct cnode *nd = m->cnodes + t * NI;
        const float *lv = m->cleaves + t * NL;
        const uint32_t g = m->group[t];
        for (size_t r = 0; r < whole;) {
            size_t n = whole - r >= 4 * W ? 4 * W : whole - r;
            s->walk[n / W - 1](nd, lv, rows + r * stride, nbase, roff, lbase, D, NI, leaf);
            for (size_t k = 0; k < n; k++)
                acc[(r + k) * G + g] += leaf[k];
            r += n;
        }
        for (size_t r = whole; r < nrows; r++) {
            uint32_t i = 0;
            for (unsigned d = 0; d < D; d++)
                i = cstep(nd, i, rows + r * stride, true);
            acc[r * G + g] += lv[i - NI];
        }
    }
}
#endif

/* The complete walks, each compiled for its own case. */
static void sum_complete_prepared(const struct xgbt_model *m, const float *rows, size_t stride,
                                  size_t nrows, float *acc)
{
#if XGBT_X86
    if (m->avx512 || m->avx2) {
        sum_complete_simd(m, m->avx512 ? &simd_avx512 : &simd_avx2, rows, stride, nrows, acc);
        return;
    }
#endif
    sum_complete(m, rows, stride, nrows, acc, true);
}

static void sum_complete_raw(const struct xgbt_model *m, const float *rows, size_t stride,
                             size_t nrows, float *acc)
{
    sum_complete(m, rows, stride, nrows, acc, false);
}

/* The library's softmax: max by fmaxf, expf of the differences in float,
 * summed in double, each divided by the sum rounded to float. */
static void softmax(const float *x, size_t n, float *out)
{
    float wmax = x[0];
    for (size_t i = 1; i < n; i++)
        wmax = fmaxf(x[i], wmax);
    double wsum = 0;
    for (size_t i = 0; i < n; i++) {
        out[i] = expf(x[i] - wmax);
        wsum += out[i];
    }
    for (size_t i = 0; i < n; i++)
        out[i] /= (float)wsum;
}

static void transform(const struct xgbt_model *m, bool margin, const float *acc, size_t nrows,
                      float *out)
{
    const size_t G = m->num_groups, n = nrows * G;
    switch (margin ? XF_IDENTITY : m->xf) {
    case XF_IDENTITY:
        memcpy(out, acc, n * sizeof(*out));
        break;
    case XF_SIGMOID:
        for (size_t i = 0; i < n; i++)
            out[i] = 1.0f / (1.0f + expf(-acc[i]));
        break;
    case XF_EXP:
        for (size_t i = 0; i < n; i++)
            out[i] = expf(acc[i]);
        break;
    case XF_EXP_DOUBLE: /* survival:aft's transform calls exp() on a double */
        for (size_t i = 0; i < n; i++)
            out[i] = (float)exp((double)acc[i]);
        break;
    case XF_HINGE:
        for (size_t i = 0; i < n; i++)
            out[i] = acc[i] > 0.0f ? 1.0f : 0.0f;
        break;
    case XF_SOFTPROB:
        for (size_t r = 0; r < nrows; r++)
            softmax(acc + r * G, G, out + r * G);
        break;
    case XF_SOFTMAX:
        /* The first largest margin wins, as std::max_element. */
        for (size_t r = 0; r < nrows; r++) {
            const float *x = acc + r * G;
            size_t best = 0;
            for (size_t k = 1; k < G; k++)
                if (x[k] > x[best])
                    best = k;
            out[r] = (float)best;
        }
        break;
    }
}

void xgbt_predict(const struct xgbt_model *m, bool margin, const float *rows, size_t nrows,
                  float *out)
{
    /* The margins and prepared rows of one block, on the stack: no allocation. */
    float acc[XGBT_MAX_GROUPS > XGBT_BLOCK_ROWS ? XGBT_MAX_GROUPS : XGBT_BLOCK_ROWS];
    float prep[XGBT_PREP_FLOATS];
    const size_t G = m->num_groups, F = m->num_features, W = xgbt_width(m, margin);
    const size_t U2 = 2 * m->num_used + 1; /* prepared row stride */
    size_t block = sizeof(acc) / sizeof(acc[0]) / G;
    if (block > XGBT_BLOCK_ROWS)
        block = XGBT_BLOCK_ROWS;
    if (m->prepared && block > XGBT_PREP_FLOATS / U2)
        block = XGBT_PREP_FLOATS / U2;
    for (size_t r0 = 0; r0 < nrows; r0 += block) {
        size_t nb = nrows - r0 < block ? nrows - r0 : block;
        for (size_t i = 0; i < nb * G; i++)
            acc[i] = m->base_margin;
        if (m->prepared) {
            prepare(m, rows + r0 * F, nb, prep);
            if (m->layout == LAYOUT_COMPLETE)
                sum_complete_prepared(m, prep, U2, nb, acc);
            else
                sum_explicit_prepared(m, prep, U2, nb, acc);
        } else if (m->layout == LAYOUT_COMPLETE) {
            sum_complete_raw(m, rows + r0 * F, F, nb, acc);
        } else {
            sum_explicit_raw(m, rows + r0 * F, F, nb, acc);
        }
        transform(m, margin, acc, nb, out + r0 * W);
    }
}
