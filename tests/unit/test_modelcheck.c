/* test_modelcheck.c - the model-file check that runs before XGBoost parses a
 * file: format dispatch, nesting depth in JSON and UBJSON, brackets inside
 * strings, truncated files, UBJSON lengths past the end, the size limit. */
#include "harness.h"

#include <stdint.h>

#include "base/alloc.h"
#include "base/buf.h"
#include "serve/modelcheck.h"

static struct err err;

static int check(const void *data, size_t len)
{
    memset(&err, 0, sizeof(err));
    return serve_model_check(data, len, NULL, NULL, &err);
}

static int check_str(const char *s)
{
    return check(s, strlen(s));
}

/* '{"learner":' + 'open' * n + 'close' * n + '}': n + 1 levels in all. */
static char *json_nested(size_t n, char open, char close)
{
    struct buf b;
    buf_init(&b, 64 << 20);
    buf_puts(&b, "{\"learner\":");
    for (size_t i = 0; i < n; i++) {
        buf_putc(&b, open);
        if (open == '{')
            buf_puts(&b, "\"a\":");
    }
    if (open == '{')
        buf_puts(&b, "1");
    for (size_t i = 0; i < n; i++)
        buf_putc(&b, close);
    buf_putc(&b, '}');
    return buf_detach(&b, NULL);
}

/* ------------------------------------------------------------------------ */
/* Formats                                                                  */

TEST(format_dispatch_follows_xgboost)
{
    CHECK_EQ_INT(serve_model_format_of("{\"learner\": {}}", 15), SERVE_MODEL_JSON);
    CHECK_EQ_INT(serve_model_format_of("{ \n\"a\"", 6), SERVE_MODEL_JSON);
    CHECK_EQ_INT(serve_model_format_of("{L\0\0\0\0\0\0\0\1a", 11), SERVE_MODEL_UBJSON);
    CHECK_EQ_INT(serve_model_format_of("{ L", 3), SERVE_MODEL_UBJSON);
    CHECK_EQ_INT(serve_model_format_of("binf\0\0\0?", 8), SERVE_MODEL_BINARY);
    CHECK_EQ_INT(serve_model_format_of(" {\"a\":1}", 8), SERVE_MODEL_BINARY);
    CHECK_EQ_INT(serve_model_format_of("", 0), SERVE_MODEL_BINARY);
    /* Neither JSON nor UBJSON to the library, lexed as JSON all the same. */
    CHECK_EQ_INT(serve_model_format_of("{[[[", 4), SERVE_MODEL_JSON);
    CHECK_STR_EQ(serve_model_format_name(SERVE_MODEL_UBJSON), "UBJSON");
}

TEST(binary_format_brackets_outside_the_attribute_do_not_count)
{
    char data[2000];
    memcpy(data, "binf", 4);
    memset(data + 4, '[', sizeof(data) - 4);
    CHECK_EQ_INT(check(data, sizeof(data)), 0);
}

/* "binf", some tree bytes, then the attribute list: ("objective", value). */
static void binary_model(struct buf *b, const char *value, size_t value_len, uint64_t claimed)
{
    buf_init(b, 1 << 20);
    buf_append(b, "binf\0\0\0?\x03\0\0\0[[[[{{{{\x01\0\0\0\0\0\0\0", 24);
    buf_append(b, "\x09\0\0\0\0\0\0\0objective", 17);
    for (int i = 0; i < 8; i++)
        buf_putc(b, (char)(claimed >> (8 * i)));
    buf_append(b, value, value_len);
}

TEST(binary_format_objective_attribute_depth)
{
    /* The library parses this one string as JSON: its depth counts. */
    struct buf b;
    const char *ok =
        "{\"name\":\"binary:logistic\",\"reg_loss_param\":{\"scale_pos_weight\":\"1\"}}";
    binary_model(&b, ok, strlen(ok), strlen(ok));
    CHECK_EQ_INT(check(b.ptr, b.len), 0);
    buf_release(&b);
    char *deep = json_nested(50000, '[', ']');
    binary_model(&b, deep, strlen(deep), strlen(deep));
    CHECK_EQ_INT(check(b.ptr, b.len), ERR_TOOBIG);
    CHECK_STR_EQ(err.msg,
                 "the 'objective' attribute at byte 41: JSON nests deeper than the nesting "
                 "limit of 64 levels (byte 74)");
    buf_release(&b);
    /* Bytes that only look like the key: a length past the end, or no JSON. */
    binary_model(&b, deep, strlen(deep), (uint64_t)1 << 40);
    CHECK_EQ_INT(check(b.ptr, b.len), 0);
    buf_release(&b);
    binary_model(&b, "]]]}}", 5, 5);
    CHECK_EQ_INT(check(b.ptr, b.len), 0);
    buf_release(&b);
    binary_model(&b, "", 0, 0);
    CHECK_EQ_INT(check(b.ptr, b.len - 3), 0);
    buf_release(&b);
    free(deep);
}

TEST(size_limit)
{
    struct serve_model_limits lim = {.max_depth = 64, .max_bytes = 10};
    memset(&err, 0, sizeof(err));
    CHECK_EQ_INT(serve_model_check("{\"a\": 1234}", 11, &lim, NULL, &err), ERR_TOOBIG);
    CHECK_STR_EQ(err.msg, "the file has 11 bytes, more than the limit of 10");
    CHECK_EQ_INT(serve_model_check("{\"a\":1234}", 10, &lim, NULL, &err), 0);
    enum serve_model_format f = SERVE_MODEL_BINARY;
    CHECK_EQ_INT(serve_model_check("{\"a\":1234}", 10, NULL, &f, &err), 0);
    CHECK_EQ_INT(f, SERVE_MODEL_JSON);
}

/* ------------------------------------------------------------------------ */
/* JSON                                                                     */

TEST(json_real_model_shape_passes)
{
    CHECK_EQ_INT(
        check_str("{\"learner\":{\"attributes\":{},\"feature_names\":[],\"gradient_booster\":"
                  "{\"model\":{\"gbtree_model_param\":{\"num_trees\":\"1\"},\"trees\":[{"
                  "\"split_conditions\":[0.5,1E0,-2.5e-1],\"left_children\":[1,-1,-1]}]},"
                  "\"name\":\"gbtree\"},\"objective\":{\"name\":\"binary:logistic\"}},"
                  "\"version\":[1,7,4]}\n"),
        0);
}

TEST(json_depth_limit_arrays)
{
    char *ok = json_nested(SERVE_MODEL_MAX_DEPTH - 1, '[', ']');
    char *deep = json_nested(SERVE_MODEL_MAX_DEPTH, '[', ']');
    CHECK_EQ_INT(check_str(ok), 0);
    CHECK_EQ_INT(check_str(deep), ERR_TOOBIG);
    CHECK_STR_EQ(err.msg, "JSON nests deeper than the nesting limit of 64 levels (byte 74)");
    free(ok);
    free(deep);
}

TEST(json_depth_limit_objects)
{
    char *ok = json_nested(SERVE_MODEL_MAX_DEPTH - 1, '{', '}');
    char *deep = json_nested(SERVE_MODEL_MAX_DEPTH, '{', '}');
    CHECK_EQ_INT(check_str(ok), 0);
    CHECK_EQ_INT(check_str(deep), ERR_TOOBIG);
    CHECK(strstr(err.msg, "nesting limit of 64 levels") != NULL);
    free(ok);
    free(deep);
}

TEST(json_50000_levels_refused)
{
    char *deep = json_nested(50000, '[', ']');
    CHECK_EQ_INT(check_str(deep), ERR_TOOBIG);
    free(deep);
    deep = json_nested(50000, '{', '}');
    CHECK_EQ_INT(check_str(deep), ERR_TOOBIG);
    free(deep);
}

TEST(json_brackets_inside_strings_do_not_count)
{
    struct buf b;
    buf_init(&b, 1 << 20);
    buf_puts(&b, "{\"[[[[\":\"");
    for (int i = 0; i < 1000; i++)
        buf_puts(&b, "[{");
    buf_puts(&b, "\\\"[[\\\\\",\"b\":[\"]]]}}}\"]}");
    CHECK_EQ_INT(check(b.ptr, b.len), 0);
    buf_release(&b);
    /* An escaped quote does not end the string; the brackets after it are in it. */
    CHECK_EQ_INT(check_str("{\"a\":\"\\\"]]]]\"}"), 0);
}

TEST(json_truncated_and_mismatched)
{
    CHECK_EQ_INT(check_str("{\"a\":[1,2"), ERR_INVALID);
    CHECK_STR_EQ(err.msg, "JSON ends with 2 arrays or objects not closed");
    CHECK_EQ_INT(check_str("{\"a\":\"[[["), ERR_INVALID);
    CHECK_STR_EQ(err.msg, "JSON ends inside the string that starts at byte 5");
    CHECK_EQ_INT(check_str("{\"a\":\"\\"), ERR_INVALID);
    CHECK_EQ_INT(check_str("{\"a\":[}"), ERR_INVALID);
    CHECK_STR_EQ(err.msg, "JSON has an unexpected '}' at byte 6");
    CHECK_EQ_INT(check_str("{}]"), ERR_INVALID);
    /* Closing too much cannot hide depth that follows. */
    CHECK_EQ_INT(check_str("{}]]]][[[["), ERR_INVALID);
}

/* ------------------------------------------------------------------------ */
/* UBJSON                                                                   */

static void ubj_key(struct buf *b, const char *key)
{
    size_t n = strlen(key);
    buf_putc(b, 'L');
    for (int i = 7; i >= 0; i--)
        buf_putc(b, (char)((uint64_t)n >> (8 * i)));
    buf_append(b, key, n);
}

static void ubj_count(struct buf *b, uint64_t n)
{
    buf_putc(b, 'L');
    for (int i = 7; i >= 0; i--)
        buf_putc(b, (char)(n >> (8 * i)));
}

/* {"learner": <n levels of arrays or objects>}, as XGBoost writes them. */
static void ubj_nested(struct buf *b, size_t n, char open)
{
    buf_init(b, 64 << 20);
    buf_putc(b, '{');
    ubj_key(b, "learner");
    for (size_t i = 0; i < n; i++) {
        buf_putc(b, open);
        if (open == '{')
            ubj_key(b, "a");
    }
    buf_putc(b, 'Z');
    for (size_t i = 0; i < n; i++)
        buf_putc(b, open == '{' ? '}' : ']');
    buf_putc(b, '}');
}

/* A model-shaped document using every construct XGBoost writes. */
static void ubj_model(struct buf *b)
{
    buf_init(b, 1 << 20);
    buf_putc(b, '{');
    ubj_key(b, "learner");
    buf_putc(b, '{');
    ubj_key(b, "trees");
    buf_puts(b, "[#");
    ubj_count(b, 2);
    for (int t = 0; t < 2; t++) {
        buf_putc(b, '{');
        ubj_key(b, "split_conditions");
        buf_puts(b, "[$d#");
        ubj_count(b, 3);
        buf_append(b, "\x3f\x00\x00\x00\x3f\x80\x00\x00\xbe\x80\x00\x00", 12);
        ubj_key(b, "left_children");
        buf_puts(b, "[$l#");
        ubj_count(b, 1);
        buf_append(b, "\x00\x00\x00\x01", 4);
        ubj_key(b, "[{name}]");
        buf_putc(b, 'S');
        ubj_key(b, "{[{[\"]}"); /* a string value: same encoding as a key */
        ubj_key(b, "n");
        buf_puts(b, "i\x05");
        ubj_key(b, "m");
        buf_puts(b, "I\x01\x02");
        ubj_key(b, "b");
        buf_putc(b, 'T');
        buf_putc(b, '}');
    }
    ubj_key(b, "version");
    buf_puts(b, "[U\x01U\x07U\x04]");
    buf_putc(b, '}');
    buf_putc(b, '}');
}

TEST(ubjson_model_shape_passes)
{
    struct buf b;
    ubj_model(&b);
    CHECK_EQ_INT(serve_model_format_of(b.ptr, b.len), SERVE_MODEL_UBJSON);
    CHECK_EQ_INT(check(b.ptr, b.len), 0);
    /* The library stops after the first value, and so does the check. */
    buf_puts(&b, "[[[[");
    CHECK_EQ_INT(check(b.ptr, b.len), 0);
    buf_release(&b);
}

TEST(ubjson_every_truncation_refused)
{
    struct buf b;
    ubj_model(&b);
    for (size_t n = 1; n < b.len; n++) {
        if (check(b.ptr, n) != ERR_INVALID) {
            harness_fail(__FILE__, __LINE__, "a prefix of %zu of %zu bytes passed", n, b.len);
            break;
        }
        /* One byte, '{', is no UBJSON yet: lexed as JSON, it is not closed. */
        CHECK(strstr(err.msg, n == 1 ? "JSON ends with 1" : "UBJSON") != NULL);
    }
    buf_release(&b);
}

/* 63 levels below the top object pass, 64 and 50 000 are refused. */
static void ubjson_depth_limit(char open)
{
    struct buf b;
    ubj_nested(&b, SERVE_MODEL_MAX_DEPTH - 1, open);
    CHECK_EQ_INT(check(b.ptr, b.len), 0);
    buf_release(&b);
    ubj_nested(&b, SERVE_MODEL_MAX_DEPTH, open);
    CHECK_EQ_INT(check(b.ptr, b.len), ERR_TOOBIG);
    CHECK(strstr(err.msg, "UBJSON nests deeper than the nesting limit of 64 levels") != NULL);
    buf_release(&b);
    ubj_nested(&b, 50000, open);
    CHECK_EQ_INT(check(b.ptr, b.len), ERR_TOOBIG);
    buf_release(&b);
}

TEST(ubjson_depth_limit_arrays)
{
    ubjson_depth_limit('[');
    struct buf b;
    ubj_nested(&b, SERVE_MODEL_MAX_DEPTH, '[');
    CHECK_EQ_INT(check(b.ptr, b.len), ERR_TOOBIG);
    CHECK_STR_EQ(err.msg, "UBJSON nests deeper than the nesting limit of 64 levels (byte 80)");
    buf_release(&b);
}

TEST(ubjson_depth_limit_objects)
{
    ubjson_depth_limit('{');
}

TEST(ubjson_counted_containers_nest_too)
{
    /* '#'-counted arrays have no closing marker but are levels all the same. */
    struct buf b;
    buf_init(&b, 1 << 20);
    buf_putc(&b, '{');
    ubj_key(&b, "a");
    for (int i = 0; i < 100; i++) {
        buf_puts(&b, "[#");
        ubj_count(&b, 1);
    }
    buf_puts(&b, "Z}");
    CHECK_EQ_INT(check(b.ptr, b.len), ERR_TOOBIG);
    buf_release(&b);
}

TEST(ubjson_lengths_past_the_end_refused)
{
    /* A string longer than the file. */
    struct buf b;
    buf_init(&b, 4096);
    buf_putc(&b, '{');
    ubj_key(&b, "a");
    buf_putc(&b, 'S');
    ubj_count(&b, 1000);
    buf_puts(&b, "short}");
    CHECK_EQ_INT(check(b.ptr, b.len), ERR_INVALID);
    CHECK(strstr(err.msg, "needs 1000 bytes") != NULL);
    buf_release(&b);
    /* A typed array whose count exceeds the bytes left, also by overflow. */
    uint64_t counts[] = {1000, (uint64_t)1 << 62, UINT64_C(0x7fffffffffffffff)};
    for (size_t i = 0; i < 3; i++) {
        buf_init(&b, 4096);
        buf_putc(&b, '{');
        ubj_key(&b, "a");
        buf_puts(&b, "[$d#");
        ubj_count(&b, counts[i]);
        buf_puts(&b, "\x3f\x00\x00\x00}");
        CHECK_EQ_INT(check(b.ptr, b.len), ERR_INVALID);
        CHECK(strstr(err.msg, "declares") != NULL);
        buf_release(&b);
    }
    /* A counted array of a billion values in a few bytes. */
    buf_init(&b, 4096);
    buf_putc(&b, '{');
    ubj_key(&b, "a");
    buf_puts(&b, "[#");
    ubj_count(&b, 1000000000);
    buf_puts(&b, "ZZZ}");
    CHECK_EQ_INT(check(b.ptr, b.len), ERR_INVALID);
    buf_release(&b);
    /* A negative length. */
    CHECK_EQ_INT(check("{i\xff", 3), ERR_INVALID);
    CHECK(strstr(err.msg, "negative") != NULL);
}

TEST(ubjson_malformed_refused)
{
    CHECK_EQ_INT(check("{La", 3), ERR_INVALID); /* short length */
    CHECK_EQ_INT(check("{Ui", 3), ERR_INVALID); /* key without its byte */
    CHECK_EQ_INT(check("{U\x01"
                       "aX}",
                       6),
                 ERR_INVALID); /* unknown marker */
    CHECK(strstr(err.msg, "unknown type marker 0x58") != NULL);
    CHECK_EQ_INT(check("{U\x01"
                       "a}",
                       5),
                 ERR_INVALID); /* key without a value */
    CHECK_EQ_INT(check("{U\x01"
                       "a[$[#U\x01]}",
                       12),
                 ERR_INVALID); /* typed by a container */
    CHECK_EQ_INT(check("{U\x01"
                       "a[$dU}",
                       9),
                 ERR_INVALID);                   /* '$' without '#' */
    CHECK_EQ_INT(check("{Sx}", 4), ERR_INVALID); /* a key must have an integer length */
    CHECK_EQ_INT(check("{U\x01"
                       "aZ}",
                       6),
                 0);
}

/* ------------------------------------------------------------------------ */
/* PyTorch files                                                            */

static void put16(struct buf *b, uint32_t v)
{
    buf_putc(b, (char)(v & 0xFF));
    buf_putc(b, (char)(v >> 8 & 0xFF));
}

static void put32(struct buf *b, uint32_t v)
{
    put16(b, v & 0xFFFF);
    put16(b, v >> 16);
}

static void put64(struct buf *b, uint64_t v)
{
    put32(b, (uint32_t)v);
    put32(b, (uint32_t)(v >> 32));
}

/* A zip of empty stored entries named 'names' (NULL-terminated), as miniz
 * lays it out: local headers, the central directory, the end record (zip64
 * when asked), then 'comment'. */
static void zip_of(struct buf *b, const char *const *names, bool zip64, const char *comment)
{
    buf_init(b, 1 << 20);
    size_t offs[32], n = 0;
    for (; names[n]; n++) {
        offs[n] = b->len;
        put32(b, 0x04034b50);
        for (int i = 0; i < 11; i++)
            put16(b, 0); /* version .. crc, sizes (2-byte halves) */
        put16(b, (uint32_t)strlen(names[n]));
        put16(b, 0);
        buf_puts(b, names[n]);
    }
    size_t cd = b->len;
    for (size_t i = 0; i < n; i++) {
        put32(b, 0x02014b50);
        for (int k = 0; k < 12; k++)
            put16(b, 0); /* versions, flags, method, time, date, crc, sizes */
        put16(b, (uint32_t)strlen(names[i]));
        put16(b, 0);
        put16(b, 0);
        put16(b, 0);
        put16(b, 0);
        put32(b, 0);
        put32(b, (uint32_t)offs[i]);
        buf_puts(b, names[i]);
    }
    size_t cd_size = b->len - cd;
    if (zip64) {
        size_t z = b->len;
        put32(b, 0x06064b50);
        put64(b, 44);
        put16(b, 45);
        put16(b, 45);
        put32(b, 0);
        put32(b, 0);
        put64(b, n);
        put64(b, n);
        put64(b, cd_size);
        put64(b, cd);
        put32(b, 0x07064b50);
        put32(b, 0);
        put64(b, z);
        put32(b, 1);
    }
    put32(b, 0x06054b50);
    put16(b, 0);
    put16(b, 0);
    put16(b, zip64 ? 0xFFFF : (uint32_t)n);
    put16(b, zip64 ? 0xFFFF : (uint32_t)n);
    put32(b, zip64 ? 0xFFFFFFFFu : (uint32_t)cd_size);
    put32(b, zip64 ? 0xFFFFFFFFu : (uint32_t)cd);
    put16(b, (uint32_t)strlen(comment));
    buf_puts(b, comment);
}

static const char *const scripted[] = {"m/data/0",        "m/data.pkl", "m/code/__torch__.py",
                                       "m/constants.pkl", "m/version",  NULL};
static const char *const eager[] = {"m/data.pkl", "m/data/0", "m/data/1", "m/version", NULL};

static int torch_check(const struct buf *b, enum serve_torch_kind *kind)
{
    memset(&err, 0, sizeof(err));
    return serve_torch_check(b->ptr, b->len, "model.pt", kind, &err);
}

TEST(torch_script_is_accepted)
{
    struct buf b;
    enum serve_torch_kind kind = SERVE_TORCH_UNKNOWN;
    zip_of(&b, scripted, false, "");
    CHECK_EQ_INT(torch_check(&b, &kind), 0);
    CHECK_EQ_INT(kind, SERVE_TORCH_SCRIPT);
    buf_release(&b);
    zip_of(&b, scripted, true, "");
    CHECK_EQ_INT(torch_check(&b, &kind), 0);
    CHECK_EQ_INT(kind, SERVE_TORCH_SCRIPT);
    buf_release(&b);
    zip_of(&b, scripted, false, "a comment at the end, PK\x05\x06 inside it");
    CHECK_EQ_INT(torch_check(&b, &kind), 0);
    buf_release(&b);
}

TEST(torch_eager_and_legacy_are_refused)
{
    struct buf b;
    enum serve_torch_kind kind;
    zip_of(&b, eager, false, "");
    CHECK_EQ_INT(torch_check(&b, &kind), ERR_INVALID);
    CHECK_EQ_INT(kind, SERVE_TORCH_EAGER);
    CHECK(strstr(err.msg, "'model.pt' is an eager-mode PyTorch file") != NULL);
    CHECK(strstr(err.msg, "torch.jit.script or torch.jit.trace") != NULL);
    buf_release(&b);
    /* code/ without constants.pkl is not TorchScript either */
    static const char *const half[] = {"m/data.pkl", "m/code/x.py", NULL};
    zip_of(&b, half, false, "");
    CHECK_EQ_INT(torch_check(&b, &kind), ERR_INVALID);
    CHECK_EQ_INT(kind, SERVE_TORCH_EAGER);
    buf_release(&b);
    static const unsigned char legacy[] = {0x80, 0x02, 0x8a, 0x0a, 'l', 0xfc, 0x9c, 'F'};
    memset(&err, 0, sizeof(err));
    CHECK_EQ_INT(serve_torch_check(legacy, sizeof(legacy), "w.pth", &kind, &err), ERR_INVALID);
    CHECK_EQ_INT(kind, SERVE_TORCH_LEGACY);
    CHECK(strstr(err.msg, "'w.pth' is a pickle") != NULL);
}

TEST(torch_not_a_zip)
{
    enum serve_torch_kind kind;
    CHECK_EQ_INT(serve_torch_check("", 0, "x.pt", &kind, &err), ERR_INVALID);
    CHECK_EQ_INT(kind, SERVE_TORCH_UNKNOWN);
    CHECK_STR_EQ(err.msg, "'x.pt' is not a TorchScript file (a zip archive written by "
                          "torch.jit.save)");
    CHECK_EQ_INT(serve_torch_check("{\"learner\": {}}", 15, "x.pt", &kind, &err), ERR_INVALID);
    CHECK_EQ_INT(kind, SERVE_TORCH_UNKNOWN);
    /* a zip without data.pkl */
    struct buf b;
    static const char *const other[] = {"a/readme.txt", NULL};
    zip_of(&b, other, false, "");
    CHECK_EQ_INT(torch_check(&b, &kind), ERR_INVALID);
    CHECK_EQ_INT(kind, SERVE_TORCH_UNKNOWN);
    buf_release(&b);
}

TEST(torch_damaged_directories)
{
    struct buf b;
    enum serve_torch_kind kind;
    zip_of(&b, scripted, false, "");
    /* Every truncation (the end record moves out of reach, or the directory
     * points past the end) is refused, never read past the end. */
    for (size_t n = 0; n < b.len; n++) {
        memset(&err, 0, sizeof(err));
        unsigned char *copy = xmalloc(n ? n : 1);
        memcpy(copy, b.ptr, n);
        int rc = serve_torch_check(copy, n, "t.pt", &kind, &err);
        free(copy);
        if (rc != ERR_INVALID) {
            harness_fail(__FILE__, __LINE__, "truncated at %zu of %zu: rc %d", n, b.len, rc);
            break;
        }
    }
    /* A count larger than the entries there. */
    unsigned char *p = (unsigned char *)b.ptr;
    p[b.len - 22 + 10] = 99;
    CHECK_EQ_INT(torch_check(&b, &kind), ERR_INVALID);
    CHECK_EQ_INT(kind, SERVE_TORCH_UNKNOWN);
    buf_release(&b);
    /* A zip64 locator pointing past the end. */
    zip_of(&b, scripted, true, "");
    p = (unsigned char *)b.ptr;
    p[b.len - 22 - 20 + 8 + 3] = 0x7F;
    CHECK_EQ_INT(torch_check(&b, &kind), ERR_INVALID);
    buf_release(&b);
}
