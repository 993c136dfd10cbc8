/* fuzz_model_check.c - the model-file check (serve/modelcheck.c).
 * Input: the bytes of a model file. The check must answer 0, ERR_INVALID or
 * ERR_TOOBIG with a message, and a lower depth limit may only refuse more.
 * When it passes a UBJSON file, the file is read again the way XGBoost's
 * UBJReader reads it (recursive, trusting every length), here with bounds
 * asserted: such a reader must stay inside the file and within the depth. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve/modelcheck.h"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ------------------------------------------------------------------------ */
/* XGBoost's UBJSON reader, with the bounds it does not check asserted      */

struct reader {
    const uint8_t *p;
    size_t len, pos, max_depth;
};

/* Take 'n' bytes: the check passed the file, so they must be there. */
static const uint8_t *take(struct reader *r, uint64_t n)
{
    FUZZ_CHECK(n <= r->len - r->pos);
    const uint8_t *at = r->p + r->pos;
    r->pos += (size_t)n;
    return at;
}

static int64_t read_i64(struct reader *r)
{
    const uint8_t *b = take(r, 8);
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | b[i];
    return (int64_t)v;
}

/* false where the library stops with an error. */
static bool read_str(struct reader *r)
{
    if (*take(r, 1) != 'L')
        return false;
    int64_t n = read_i64(r);
    if (n < 0)
        return false; /* std::string::resize throws */
    take(r, (uint64_t)n);
    return true;
}

static bool parse(struct reader *r, size_t depth);

static bool parse_array(struct reader *r, size_t depth)
{
    FUZZ_CHECK(r->pos < r->len);
    if (r->p[r->pos] == '$') {
        r->pos++;
        uint8_t type = *take(r, 1);
        if (*take(r, 1) != '#' || *take(r, 1) != 'L')
            return false;
        int64_t n = read_i64(r);
        int size = type == 'd' || type == 'l' ? 4 : type == 'U' ? 1 : type == 'L' ? 8 : 0;
        if (size == 0 || n < 0)
            return false;
        FUZZ_CHECK((uint64_t)n <= (r->len - r->pos) / (uint64_t)size);
        take(r, (uint64_t)n * (uint64_t)size);
        return true;
    }
    if (r->p[r->pos] == '#') {
        r->pos++;
        if (*take(r, 1) != 'L')
            return false;
        int64_t n = read_i64(r);
        if (n < 0)
            return false;
        /* The library sizes a vector of n values before reading one. */
        FUZZ_CHECK((uint64_t)n <= r->len - r->pos);
        for (int64_t i = 0; i < n; i++)
            if (!parse(r, depth))
                return false;
        return true;
    }
    for (;;) {
        FUZZ_CHECK(r->pos < r->len);
        if (r->p[r->pos] == ']') {
            r->pos++;
            return true;
        }
        if (!parse(r, depth))
            return false;
    }
}

static bool parse_object(struct reader *r, size_t depth)
{
    for (;;) {
        FUZZ_CHECK(r->pos < r->len);
        if (r->p[r->pos] == '}') {
            r->pos++;
            return true;
        }
        if (!read_str(r) || !parse(r, depth))
            return false;
    }
}

static bool parse(struct reader *r, size_t depth)
{
    uint8_t c = *take(r, 1);
    switch (c) {
    case '{':
    case '[':
        FUZZ_CHECK(depth < r->max_depth);
        return c == '{' ? parse_object(r, depth + 1) : parse_array(r, depth + 1);
    case 'Z':
    case 'T':
    case 'F':
        return true;
    case 'i':
    case 'U':
    case 'C':
        take(r, 1);
        return true;
    case 'I':
        take(r, 2);
        return true;
    case 'd':
    case 'l':
        take(r, 4);
        return true;
    case 'L':
        take(r, 8);
        return true;
    case 'S':
        return read_str(r);
    default:
        return false; /* 'D', 'H' and unknown markers: the library stops */
    }
}

/* ------------------------------------------------------------------------ */

static int run(const uint8_t *data, size_t size, size_t max_depth, enum serve_model_format *fmt)
{
    struct serve_model_limits lim = {.max_depth = max_depth, .max_bytes = SERVE_MODEL_MAX_BYTES};
    struct err err;
    memset(&err, 0, sizeof(err));
    int rc = serve_model_check(data, size, &lim, fmt, &err);
    FUZZ_CHECK(rc == 0 || rc == ERR_INVALID || rc == ERR_TOOBIG);
    FUZZ_CHECK(rc == 0 || (err.code == rc && err.msg[0] != '\0'));
    FUZZ_CHECK(rc != ERR_TOOBIG || strstr(err.msg, "nesting limit") != NULL);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    enum serve_model_format fmt;
    int deep = run(data, size, SERVE_MODEL_MAX_DEPTH, &fmt);
    FUZZ_CHECK(fmt == serve_model_format_of(data, size));
    int shallow = run(data, size, 3, NULL);
    /* A lower limit refuses everything a higher one refuses, for the same reason
     * unless it stops earlier on depth. */
    FUZZ_CHECK(deep == 0 || shallow != 0);
    FUZZ_CHECK(deep != ERR_TOOBIG || shallow == ERR_TOOBIG);
    if (fmt == SERVE_MODEL_BINARY) /* only the depth of its JSON attribute refuses */
        FUZZ_CHECK(deep == 0 || deep == ERR_TOOBIG);
    if (fmt == SERVE_MODEL_UBJSON) {
        size_t limits[2] = {SERVE_MODEL_MAX_DEPTH, 3};
        int rcs[2] = {deep, shallow};
        for (int i = 0; i < 2; i++) {
            if (rcs[i] != 0)
                continue;
            struct reader r = {.p = data, .len = size, .pos = 0, .max_depth = limits[i]};
            parse(&r, 0);
        }
    }
    return 0;
}
