/* json.h - a small JSON reader into an arena-allocated tree.
 * It accepts TF Serving's NaN, Infinity and -Infinity number tokens, which
 * strict JSON (and jansson) refuse. Nesting is limited to JSON_MAX_DEPTH. */
#ifndef BERTH_JSON_H
#define BERTH_JSON_H

#include <stdbool.h>
#include <stddef.h>

#include "base/arena.h"
#include "base/err.h"

#define JSON_MAX_DEPTH 64

enum json_type {
    JSON_NULL,
    JSON_FALSE,
    JSON_TRUE,
    JSON_NUMBER,
    JSON_STRING,
    JSON_ARRAY,
    JSON_OBJECT
};

struct json_member;

struct json {
    enum json_type type;
    bool is_integer; /* a number literal with no fraction or exponent */
    size_t len;      /* string bytes, array items or object members */
    union {
        double num;
        const char *str; /* unescaped, NUL-terminated (may hold NULs inside) */
        struct json *items;
        struct json_member *members;
    } u;
};

struct json_member {
    const char *key;
    size_t key_len;
    size_t offset; /* of the key in the parsed text, for error messages */
    struct json value;
};

/* Parse 'n' bytes at 's' into a tree allocated in 'a'. On success *out points
 * into the arena; on failure 'err' says what and at which byte offset. */
int json_parse(struct arena *a, const char *s, size_t n, struct json **out, struct err *err);

/* Member 'key' of object 'o', or NULL if 'o' is not an object or has none. */
const struct json *json_get(const struct json *o, const char *key);
const char *json_type_name(enum json_type t);

#endif
