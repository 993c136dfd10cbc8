/* test_json.c - the JSON reader: every value type, TF Serving's NaN/Infinity
 * tokens, escapes, numbers exactly as strtod reads them, errors with offsets. */
#include "harness.h"

#include <stdint.h>

#include "base/arena.h"
#include "base/buf.h"
#include "base/json.h"

static struct arena arena;
static struct err err;

/* Parse 's' (its strlen) into a fresh arena; NULL on error, with 'err' filled. */
static struct json *parse_n(const char *s, size_t n)
{
    arena_release(&arena);
    arena_init(&arena, 0);
    memset(&err, 0, sizeof(err));
    struct json *j = NULL;
    if (json_parse(&arena, s, n, &j, &err) != 0)
        return NULL;
    return j;
}

static struct json *parse(const char *s)
{
    return parse_n(s, strlen(s));
}

static void check_error(const char *s, const char *want_msg)
{
    CHECK(parse(s) == NULL);
    CHECK_EQ_INT(err.code, ERR_INVALID);
    CHECK_STR_EQ(err.msg, want_msg);
}

static uint64_t rng_state = 0x2545F4914F6CDD1DULL;

static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* ------------------------------------------------------------------------ */
/* Value types                                                              */

TEST(scalars)
{
    struct json *j;
    CHECK((j = parse("null")) && j->type == JSON_NULL);
    CHECK((j = parse("true")) && j->type == JSON_TRUE);
    CHECK((j = parse("false")) && j->type == JSON_FALSE);
    CHECK((j = parse(" \t\r\n 42 \n")) && j->type == JSON_NUMBER);
    CHECK(j->is_integer);
    CHECK_EQ_INT(j->u.num, 42);
    CHECK((j = parse("\"hi\"")) && j->type == JSON_STRING);
    CHECK_EQ_INT(j->len, 2);
    CHECK_STR_EQ(j->u.str, "hi");
    CHECK((j = parse("\"\"")) && j->type == JSON_STRING);
    CHECK_EQ_INT(j->len, 0);
    CHECK_STR_EQ(j->u.str, "");
}

TEST(arrays)
{
    struct json *j = parse("[1, \"two\", [3], {}, null, true, false, []]");
    CHECK(j && j->type == JSON_ARRAY);
    CHECK_EQ_INT(j->len, 8);
    CHECK_EQ_INT(j->u.items[0].type, JSON_NUMBER);
    CHECK_STR_EQ(j->u.items[1].u.str, "two");
    CHECK_EQ_INT(j->u.items[2].type, JSON_ARRAY);
    CHECK_EQ_INT(j->u.items[2].len, 1);
    CHECK_EQ_INT(j->u.items[2].u.items[0].u.num, 3);
    CHECK_EQ_INT(j->u.items[3].type, JSON_OBJECT);
    CHECK_EQ_INT(j->u.items[3].len, 0);
    CHECK_EQ_INT(j->u.items[4].type, JSON_NULL);
    CHECK_EQ_INT(j->u.items[5].type, JSON_TRUE);
    CHECK_EQ_INT(j->u.items[6].type, JSON_FALSE);
    CHECK_EQ_INT(j->u.items[7].type, JSON_ARRAY);
    CHECK_EQ_INT(j->u.items[7].len, 0);
    CHECK((j = parse("[ ]")) && j->type == JSON_ARRAY && j->len == 0);
}

TEST(large_array_keeps_order)
{
    struct buf b;
    buf_init(&b, 1 << 20);
    buf_putc(&b, '[');
    for (int i = 0; i < 5000; i++)
        buf_printf(&b, "%s[%d, %d]", i ? "," : "", i, -i);
    buf_putc(&b, ']');
    struct json *j = parse_n(b.ptr, b.len);
    buf_release(&b);
    CHECK(j && j->type == JSON_ARRAY);
    CHECK_EQ_INT(j->len, 5000);
    for (int i = 0; i < 5000; i++) {
        CHECK_EQ_INT(j->u.items[i].len, 2);
        CHECK_EQ_INT(j->u.items[i].u.items[0].u.num, i);
        CHECK_EQ_INT(j->u.items[i].u.items[1].u.num, -i);
    }
}

TEST(objects_and_json_get)
{
    struct json *j = parse("{\"a\": 1, \"b\": {\"c\": [true]}, \"\": \"empty\", \"a\": 2}");
    CHECK(j && j->type == JSON_OBJECT);
    CHECK_EQ_INT(j->len, 4);
    CHECK_STR_EQ(j->u.members[0].key, "a");
    CHECK_EQ_INT(j->u.members[0].key_len, 1);
    const struct json *a = json_get(j, "a");
    CHECK(a && a->type == JSON_NUMBER);
    CHECK_EQ_INT(a->u.num, 1); /* the first of duplicate keys */
    const struct json *b = json_get(j, "b");
    CHECK(b && b->type == JSON_OBJECT);
    const struct json *c = json_get(b, "c");
    CHECK(c && c->type == JSON_ARRAY && c->len == 1 && c->u.items[0].type == JSON_TRUE);
    CHECK(json_get(j, "")->type == JSON_STRING);
    CHECK(json_get(j, "missing") == NULL);
    CHECK(json_get(j, "A") == NULL);
    CHECK(json_get(c, "c") == NULL);
    CHECK(json_get(NULL, "a") == NULL);
    CHECK((j = parse("{ }")) && j->type == JSON_OBJECT && j->len == 0);
}

TEST(large_object)
{
    struct buf b;
    buf_init(&b, 1 << 20);
    buf_putc(&b, '{');
    for (int i = 0; i < 300; i++)
        buf_printf(&b, "%s\"k%d\": %d", i ? "," : "", i, i * 10);
    buf_putc(&b, '}');
    struct json *j = parse_n(b.ptr, b.len);
    buf_release(&b);
    CHECK(j && j->type == JSON_OBJECT);
    CHECK_EQ_INT(j->len, 300);
    for (int i = 0; i < 300; i++) {
        char key[16];
        snprintf(key, sizeof(key), "k%d", i);
        const struct json *v = json_get(j, key);
        CHECK(v != NULL);
        CHECK_EQ_INT(v->u.num, i * 10);
    }
}

TEST(keys_with_escapes)
{
    struct json *j = parse("{\"a\\u0000b\": 1, \"q\\\"\": 2}");
    CHECK(j && j->len == 2);
    CHECK_EQ_INT(j->u.members[0].key_len, 3);
    CHECK(memcmp(j->u.members[0].key, "a\0b", 4) == 0);
    CHECK_STR_EQ(j->u.members[1].key, "q\"");
    CHECK_EQ_INT(json_get(j, "q\"")->u.num, 2);
}

TEST(type_names)
{
    CHECK_STR_EQ(json_type_name(JSON_NULL), "null");
    CHECK_STR_EQ(json_type_name(JSON_TRUE), "a boolean");
    CHECK_STR_EQ(json_type_name(JSON_FALSE), "a boolean");
    CHECK_STR_EQ(json_type_name(JSON_NUMBER), "a number");
    CHECK_STR_EQ(json_type_name(JSON_STRING), "a string");
    CHECK_STR_EQ(json_type_name(JSON_ARRAY), "a list");
    CHECK_STR_EQ(json_type_name(JSON_OBJECT), "an object");
}

/* ------------------------------------------------------------------------ */
/* TF Serving's tokens                                                      */

TEST(nan_and_infinity_tokens)
{
    struct json *j = parse("[NaN, Infinity, -Infinity, 1]");
    CHECK(j && j->len == 4);
    for (int i = 0; i < 3; i++) {
        CHECK_EQ_INT(j->u.items[i].type, JSON_NUMBER);
        CHECK(!j->u.items[i].is_integer);
    }
    CHECK(isnan(j->u.items[0].u.num));
    CHECK(isinf(j->u.items[1].u.num) && j->u.items[1].u.num > 0);
    CHECK(isinf(j->u.items[2].u.num) && j->u.items[2].u.num < 0);
    CHECK((j = parse("NaN")) && isnan(j->u.num));
    CHECK((j = parse("-Infinity")) && isinf(j->u.num) && j->u.num < 0);
    CHECK((j = parse("{\"x\":Infinity}")) && isinf(json_get(j, "x")->u.num));
}

TEST(near_miss_tokens_are_errors)
{
    check_error("nan", "invalid JSON at byte 0: unexpected token");
    check_error("NAN", "invalid JSON at byte 0: unexpected token");
    check_error("Inf", "invalid JSON at byte 0: unexpected token");
    check_error("infinity", "invalid JSON at byte 0: unexpected character");
    check_error("-NaN", "invalid JSON at byte 1: expected a digit");
    check_error("+Infinity", "invalid JSON at byte 0: unexpected character");
    check_error("NaNa", "invalid JSON at byte 3: trailing characters after the value");
    check_error("tru", "invalid JSON at byte 0: unexpected token");
    check_error("nul", "invalid JSON at byte 0: unexpected token");
    check_error("True", "invalid JSON at byte 0: unexpected character");
}

/* ------------------------------------------------------------------------ */
/* Strings                                                                  */

static void check_string(const char *json, const char *want, size_t want_len)
{
    struct json *j = parse(json);
    if (!j)
        harness_fail(__FILE__, __LINE__, "'%s': %s", json, err.msg);
    CHECK(j && j->type == JSON_STRING);
    CHECK_EQ_INT(j->len, want_len);
    CHECK(memcmp(j->u.str, want, want_len) == 0);
    CHECK_EQ_INT(j->u.str[want_len], '\0');
}

TEST(string_escapes)
{
    check_string("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "\"\\/\b\f\n\r\t", 8);
    check_string("\"a\\nb\"", "a\nb", 3);
    check_string("\"\\u0041\\u00e9\\u00E9\"", "A\xc3\xa9\xc3\xa9", 5);
    check_string("\"\\u20ac\"", "\xe2\x82\xac", 3);
    check_string("\"\\u07ff\\u0800\\uffff\"", "\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf", 8);
    check_string("\"x\\u0000y\"", "x\0y", 3);
    check_string("\"caf\xc3\xa9\"", "caf\xc3\xa9", 5); /* raw UTF-8 passes through */
    check_string("\"\x7f\"", "\x7f", 1);
}

TEST(string_surrogate_pairs)
{
    check_string("\"\\ud83d\\ude00\"", "\xf0\x9f\x98\x80", 4);   /* U+1F600 */
    check_string("\"\\uD834\\uDD1E!\"", "\xf0\x9d\x84\x9e!", 5); /* U+1D11E */
    check_string("\"\\ud800\\udc00\"", "\xf0\x90\x80\x80", 4);   /* U+10000 */
    check_string("\"\\udbff\\udfff\"", "\xf4\x8f\xbf\xbf", 4);   /* U+10FFFF */
    check_string("\"a\\ud83d\\ude00b\\u00e9\"",
                 "a\xf0\x9f\x98\x80"
                 "b\xc3\xa9",
                 8);
    check_error("\"\\ud83d\\u0041\"", "invalid JSON at byte 13: invalid surrogate pair");
    check_error("\"\\ud83d\\ud83d\"", "invalid JSON at byte 13: invalid surrogate pair");
}

TEST(string_errors)
{
    check_error("\"abc", "invalid JSON at byte 1: unterminated string");
    check_error("\"ab\\\"", "invalid JSON at byte 1: unterminated string");
    check_error("\"ab\\", "invalid JSON at byte 1: unterminated string");
    check_error("\"a\nb\"", "invalid JSON at byte 1: control character in string");
    check_error("\"a\\n\tb\"", "invalid JSON at byte 4: control character in string");
    check_error("\"\\x41\"", "invalid JSON at byte 2: bad escape in string");
    check_error("\"\\u12\"", "invalid JSON at byte 3: truncated \\u escape");
    check_error("\"\\u12\"  ", "invalid JSON at byte 6: bad hex digit in \\u escape");
    check_error("\"\\u12g4\"", "invalid JSON at byte 6: bad hex digit in \\u escape");
    check_error("\"\\u12", "invalid JSON at byte 1: unterminated string");
    check_error("{\"a\nb\": 1}", "invalid JSON at byte 2: control character in string");
    check_error("'single'", "invalid JSON at byte 0: unexpected character");
}

/* ------------------------------------------------------------------------ */
/* Numbers                                                                  */

static void check_number(const char *s, double want, bool is_integer)
{
    struct json *j = parse(s);
    if (!j)
        harness_fail(__FILE__, __LINE__, "'%s': %s", s, err.msg);
    CHECK(j && j->type == JSON_NUMBER);
    if (memcmp(&j->u.num, &want, sizeof(want)) != 0)
        harness_fail(__FILE__, __LINE__, "'%s' parsed as %.17g, want %.17g", s, j->u.num, want);
    CHECK(memcmp(&j->u.num, &want, sizeof(want)) == 0);
    CHECK_EQ_INT(j->is_integer, is_integer);
}

TEST(numbers)
{
    check_number("0", 0.0, true);
    check_number("-0", -0.0, true);
    check_number("7", 7.0, true);
    check_number("-12", -12.0, true);
    check_number("1.5", 1.5, false);
    check_number("-0.25", -0.25, false);
    check_number("0.1", 0.1, false);
    check_number("1e3", 1000.0, false);
    check_number("1E+3", 1000.0, false);
    check_number("25e-1", 2.5, false);
    check_number("-0.0", -0.0, false);
    check_number("0e0", 0.0, false);
    check_number("9007199254740993", 9007199254740992.0, true); /* 2^53 + 1 rounds to even */
    check_number("18446744073709551616", 18446744073709551616.0, true);
    check_number("123456789012345678901234567890", 1.2345678901234568e29, true);
    check_number("1.7976931348623157e308", 1.7976931348623157e308, false);
    check_number("4.9e-324", 4.9e-324, false);
    check_number("2.2250738585072011e-308", 2.2250738585072011e-308, false);
    check_number("1e400", HUGE_VAL, false);
    check_number("-1e400", -HUGE_VAL, false);
    check_number("1e-400", 0.0, false);
    check_number("0.000000000000000000000000000001e30", 1.0, false);
    check_number("1e99999999999999999999", HUGE_VAL, false);
}

TEST(number_errors)
{
    check_error("01", "invalid JSON at byte 1: leading zero in number");
    check_error("-01", "invalid JSON at byte 2: leading zero in number");
    check_error("1.", "invalid JSON at byte 2: expected a digit after '.'");
    check_error("1.e5", "invalid JSON at byte 2: expected a digit after '.'");
    check_error(".5", "invalid JSON at byte 0: unexpected character");
    check_error("1e", "invalid JSON at byte 2: expected a digit in exponent");
    check_error("1e+", "invalid JSON at byte 3: expected a digit in exponent");
    check_error("-", "invalid JSON at byte 1: expected a digit");
    check_error("- 1", "invalid JSON at byte 1: expected a digit");
    check_error("+1", "invalid JSON at byte 0: unexpected character");
    check_error("0x10", "invalid JSON at byte 1: trailing characters after the value");
    check_error("1_000", "invalid JSON at byte 1: trailing characters after the value");
}

/* Print a random decimal literal: up to 25 mantissa digits, maybe a fraction,
 * maybe an exponent, so both the fast path and the strtod path are taken. */
static size_t random_number(char *out, size_t cap)
{
    size_t n = 0;
    if (rng() % 4 == 0)
        out[n++] = '-';
    int int_digits = 1 + (int)(rng() % 20);
    if (rng() % 5 == 0)
        int_digits = 1;
    for (int i = 0; i < int_digits; i++) {
        char d = (char)('0' + rng() % 10);
        if (i == 0 && int_digits > 1 && d == '0')
            d = '1';
        out[n++] = d;
    }
    if (rng() % 2) {
        out[n++] = '.';
        int frac = 1 + (int)(rng() % 20);
        for (int i = 0; i < frac; i++)
            out[n++] = (char)('0' + rng() % 10);
    }
    if (rng() % 2) {
        out[n++] = rng() % 2 ? 'e' : 'E';
        int sel = (int)(rng() % 3);
        if (sel == 1)
            out[n++] = '-';
        else if (sel == 2)
            out[n++] = '+';
        int e = rng() % 3 ? (int)(rng() % 30) : (int)(rng() % 340);
        n += (size_t)snprintf(out + n, cap - n, "%d", e);
    }
    out[n] = '\0';
    return n;
}

TEST(numbers_match_strtod)
{
    char s[128];
    int checked = 0;
    for (int i = 0; i < 20000; i++) {
        size_t n = random_number(s, sizeof(s));
        struct json *j = parse_n(s, n);
        if (!j) {
            harness_fail(__FILE__, __LINE__, "'%s': %s", s, err.msg);
            return;
        }
        double want = strtod(s, NULL);
        if (memcmp(&j->u.num, &want, sizeof(want)) != 0) {
            harness_fail(__FILE__, __LINE__, "'%s' parsed as %.17g, strtod gives %.17g", s,
                         j->u.num, want);
            return;
        }
        checked++;
    }
    CHECK_EQ_INT(checked, 20000);
}

/* Short literals near float32 and double boundaries: the fast path's territory. */
TEST(short_numbers_match_strtod)
{
    char s[64];
    for (int i = 0; i < 20000; i++) {
        uint64_t m = rng() % 10000000000000000ULL; /* up to 16 digits */
        int e = (int)(rng() % 45) - 22;
        int len = snprintf(s, sizeof(s), "%llue%d", (unsigned long long)m, e);
        struct json *j = parse_n(s, (size_t)len);
        CHECK(j != NULL);
        double want = strtod(s, NULL);
        if (memcmp(&j->u.num, &want, sizeof(want)) != 0) {
            harness_fail(__FILE__, __LINE__, "'%s' parsed as %.17g, strtod gives %.17g", s,
                         j->u.num, want);
            return;
        }
    }
}

/* ------------------------------------------------------------------------ */
/* Structure errors                                                         */

TEST(syntax_errors_name_the_byte)
{
    check_error("", "invalid JSON at byte 0: unexpected end of input");
    check_error("   ", "invalid JSON at byte 3: unexpected end of input");
    check_error("[1,2,", "invalid JSON at byte 5: unexpected end of input");
    check_error("[1 2]", "invalid JSON at byte 3: expected ',' or ']'");
    check_error("[1,]", "invalid JSON at byte 3: unexpected character");
    check_error("[", "invalid JSON at byte 1: unexpected end of input");
    check_error("{", "invalid JSON at byte 1: expected a string key");
    check_error("{\"a\" 1}", "invalid JSON at byte 5: expected ':' after key");
    check_error("{\"a\": 1,}", "invalid JSON at byte 8: expected a string key");
    check_error("{\"a\": 1 \"b\": 2}", "invalid JSON at byte 8: expected ',' or '}'");
    check_error("{a: 1}", "invalid JSON at byte 1: expected a string key");
    check_error("{\"a\":}", "invalid JSON at byte 5: unexpected character");
    check_error("[1]\n\n  x", "invalid JSON at byte 7: trailing characters after the value");
}

TEST(trailing_garbage)
{
    check_error("1 2", "invalid JSON at byte 2: trailing characters after the value");
    check_error("{} x", "invalid JSON at byte 3: trailing characters after the value");
    check_error("[]]", "invalid JSON at byte 2: trailing characters after the value");
    check_error("\"a\"\"b\"", "invalid JSON at byte 3: trailing characters after the value");
    CHECK(parse_n("[1]\0", 4) == NULL);
    CHECK_STR_EQ(err.msg, "invalid JSON at byte 3: trailing characters after the value");
    CHECK(parse("[1] \r\n\t ") != NULL);
    /* Only the given length is read. */
    CHECK(parse_n("[1]xyz", 3) != NULL);
    CHECK(parse_n("truex", 4) != NULL);
}

static void nested(struct buf *b, int depth, const char *open, const char *inner, const char *close)
{
    buf_reset(b);
    for (int i = 0; i < depth; i++)
        buf_puts(b, open);
    buf_puts(b, inner);
    for (int i = 0; i < depth; i++)
        buf_puts(b, close);
}

TEST(depth_limit)
{
    struct buf b;
    buf_init(&b, 1 << 20);
    nested(&b, JSON_MAX_DEPTH, "[", "1", "]");
    CHECK(parse_n(b.ptr, b.len) != NULL);
    nested(&b, JSON_MAX_DEPTH + 1, "[", "1", "]");
    CHECK(parse_n(b.ptr, b.len) == NULL);
    CHECK(strstr(err.msg, "nesting too deep") != NULL);
    nested(&b, JSON_MAX_DEPTH, "{\"k\":", "1", "}");
    CHECK(parse_n(b.ptr, b.len) != NULL);
    nested(&b, JSON_MAX_DEPTH + 1, "{\"k\":", "1", "}");
    CHECK(parse_n(b.ptr, b.len) == NULL);
    CHECK(strstr(err.msg, "nesting too deep") != NULL);
    /* Far deeper than the limit: refused without exhausting the stack. */
    nested(&b, 200000, "[", "", "");
    CHECK(parse_n(b.ptr, b.len) == NULL);
    CHECK_STR_EQ(err.msg, "invalid JSON at byte 65: nesting too deep");
    buf_release(&b);
}

TEST(failure_leaves_out_alone)
{
    arena_release(&arena);
    arena_init(&arena, 0);
    struct json *j = (struct json *)&arena;                       /* any sentinel */
    CHECK(json_parse(&arena, "[1,", 3, &j, NULL) == ERR_INVALID); /* err may be NULL */
    CHECK(j == (struct json *)&arena);
    arena_release(&arena);
}
