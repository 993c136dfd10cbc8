/* test_buf.c - struct buf (growth, caps, printf, JSON writers) and struct str helpers. */
#include "harness.h"

#include <float.h>
#include <limits.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/buf.h"
#include "base/err.h"
#include "base/json.h"

/* A small deterministic generator, so failures reproduce. */
static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;

static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static float float_from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof(f));
    return f;
}

/* ------------------------------------------------------------------------ */
/* struct buf                                                               */

TEST(buf_init_is_empty_string)
{
    struct buf b;
    buf_init(&b, 100);
    CHECK(b.ptr != NULL);
    CHECK_EQ_INT(b.len, 0);
    CHECK_STR_EQ(b.ptr, "");
    buf_reset(&b);
    CHECK_STR_EQ(b.ptr, "");
    buf_release(&b);
    CHECK(b.ptr != NULL);
    CHECK_EQ_INT(b.limit_bytes, 100);
}

TEST(buf_append_puts_putc)
{
    struct buf b;
    buf_init(&b, 1024);
    CHECK_EQ_INT(buf_append(&b, "abc", 3), 0);
    CHECK_EQ_INT(buf_puts(&b, "def"), 0);
    CHECK_EQ_INT(buf_putc(&b, 'g'), 0);
    CHECK_EQ_INT(buf_append(&b, "", 0), 0);
    CHECK_EQ_INT(b.len, 7);
    CHECK_STR_EQ(b.ptr, "abcdefg");
    CHECK_EQ_INT(b.ptr[b.len], '\0');
    CHECK_EQ_INT(buf_append(&b, "x\0y", 3), 0); /* NULs inside are kept */
    CHECK_EQ_INT(b.len, 10);
    CHECK(memcmp(b.ptr + 7, "x\0y", 4) == 0);
    buf_release(&b);
}

TEST(buf_grows_and_stays_terminated)
{
    struct buf b;
    buf_init(&b, 1 << 20);
    for (int i = 0; i < 10000; i++) {
        CHECK_EQ_INT(buf_putc(&b, (char)('a' + i % 26)), 0);
        CHECK_EQ_INT(b.ptr[b.len], '\0');
    }
    CHECK_EQ_INT(b.len, 10000);
    CHECK(b.cap > b.len);
    for (int i = 0; i < 10000; i++)
        CHECK_EQ_INT(b.ptr[i], 'a' + i % 26);
    buf_release(&b);
}

TEST(buf_reset_keeps_allocation)
{
    struct buf b;
    buf_init(&b, 1024);
    buf_puts(&b, "hello");
    size_t cap = b.cap;
    char *p = b.ptr;
    buf_reset(&b);
    CHECK_EQ_INT(b.len, 0);
    CHECK_STR_EQ(b.ptr, "");
    CHECK_EQ_INT(b.cap, cap);
    CHECK(b.ptr == p);
    buf_puts(&b, "again");
    CHECK_STR_EQ(b.ptr, "again");
    buf_release(&b);
}

TEST(buf_detach_hands_over_and_reinitialises)
{
    struct buf b;
    buf_init(&b, 1024);
    buf_puts(&b, "owned");
    size_t len = 0;
    char *s = buf_detach(&b, &len);
    CHECK_EQ_INT(len, 5);
    CHECK_STR_EQ(s, "owned");
    free(s);
    CHECK_EQ_INT(b.len, 0);
    CHECK_STR_EQ(b.ptr, "");
    CHECK_EQ_INT(b.limit_bytes, 1024);
    /* An empty buffer still hands out a heap string. */
    s = buf_detach(&b, NULL);
    CHECK_STR_EQ(s, "");
    free(s);
    buf_release(&b);
}

TEST(buf_cap_gives_toobig_and_leaves_contents)
{
    struct buf b;
    buf_init(&b, 10);
    CHECK_EQ_INT(buf_append(&b, "0123456789", 10), 0);
    CHECK_EQ_INT(buf_putc(&b, 'x'), ERR_TOOBIG);
    CHECK_EQ_INT(buf_puts(&b, "y"), ERR_TOOBIG);
    CHECK_EQ_INT(b.len, 10);
    CHECK_STR_EQ(b.ptr, "0123456789");
    CHECK_EQ_INT(buf_append(&b, "", 0), 0); /* nothing more is still fine */
    buf_reset(&b);
    CHECK_EQ_INT(buf_append(&b, "0123456789A", 11), ERR_TOOBIG);
    CHECK_EQ_INT(b.len, 0);
    CHECK_EQ_INT(buf_reserve(&b, SIZE_MAX), ERR_TOOBIG);
    CHECK_EQ_INT(buf_reserve(&b, 10), 0);
    CHECK_EQ_INT(buf_reserve(&b, 11), ERR_TOOBIG);
    buf_release(&b);

    buf_init(&b, SIZE_MAX);
    CHECK_EQ_INT(buf_puts(&b, "a"), 0);
    CHECK_EQ_INT(buf_reserve(&b, SIZE_MAX), ERR_TOOBIG); /* len + extra would wrap */
    buf_release(&b);

    buf_init(&b, 0);
    CHECK_EQ_INT(buf_putc(&b, 'a'), ERR_TOOBIG);
    CHECK_STR_EQ(b.ptr, "");
    buf_release(&b);
}

TEST(buf_printf_small_and_large)
{
    struct buf b;
    buf_init(&b, 1 << 20);
    CHECK_EQ_INT(buf_printf(&b, "%d-%s-%.2f", 42, "x", 1.5), 0);
    CHECK_STR_EQ(b.ptr, "42-x-1.50");
    CHECK_EQ_INT(buf_printf(&b, "%s", ""), 0);
    CHECK_STR_EQ(b.ptr, "42-x-1.50");
    /* Longer than printf's stack scratch space. */
    char big[1000];
    memset(big, 'z', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    CHECK_EQ_INT(buf_printf(&b, "[%s]%d", big, 7), 0);
    CHECK_EQ_INT(b.len, 9 + 1 + 999 + 1 + 1);
    CHECK_EQ_INT(b.ptr[b.len], '\0');
    CHECK(b.ptr[9] == '[' && b.ptr[10] == 'z' && b.ptr[1008] == 'z');
    CHECK_STR_EQ(b.ptr + 1009, "]7");
    CHECK_EQ_INT(strlen(b.ptr), b.len);
    buf_release(&b);
}

TEST(buf_printf_respects_cap)
{
    struct buf b;
    buf_init(&b, 300);
    char big[400];
    memset(big, 'q', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    CHECK_EQ_INT(buf_printf(&b, "%s", big), ERR_TOOBIG);
    CHECK_EQ_INT(b.len, 0);
    CHECK_EQ_INT(buf_printf(&b, "%.290s", big), 0);
    CHECK_EQ_INT(b.len, 290);
    CHECK_EQ_INT(buf_printf(&b, "%.11s", big), ERR_TOOBIG);
    CHECK_EQ_INT(buf_printf(&b, "%.10s", big), 0);
    CHECK_EQ_INT(b.len, 300);
    CHECK_EQ_INT(strlen(b.ptr), 300);
    buf_release(&b);
}

/* ------------------------------------------------------------------------ */
/* buf_json_str                                                             */

static void check_json_str(const char *in, size_t n, const char *want)
{
    struct buf b;
    buf_init(&b, 4096);
    CHECK_EQ_INT(buf_json_str(&b, in, n), 0);
    CHECK_STR_EQ(b.ptr, want);
    buf_release(&b);
}

TEST(json_str_escapes)
{
    check_json_str("", 0, "\"\"");
    check_json_str("plain", 5, "\"plain\"");
    check_json_str("a\"b\\c", 5, "\"a\\\"b\\\\c\"");
    check_json_str("\n\t\r", 3, "\"\\n\\t\\r\"");
    check_json_str("\x01\x1f\b\f", 4, "\"\\u0001\\u001f\\u0008\\u000c\"");
    check_json_str("a\0b", 3, "\"a\\u0000b\"");
    check_json_str("/\x7f", 2, "\"/\x7f\"");
    check_json_str("caf\xc3\xa9 \xe2\x82\xac", 9, "\"caf\xc3\xa9 \xe2\x82\xac\"");
    check_json_str("abc", 2, "\"ab\"");
}

TEST(json_str_round_trips_every_byte)
{
    char all[256];
    for (int i = 0; i < 256; i++)
        all[i] = (char)i;
    struct buf b;
    buf_init(&b, 4096);
    CHECK_EQ_INT(buf_json_str(&b, all, sizeof(all)), 0);
    struct arena a;
    arena_init(&a, 0);
    struct json *j = NULL;
    struct err err = {0};
    CHECK_EQ_INT(json_parse(&a, b.ptr, b.len, &j, &err), 0);
    CHECK_EQ_INT(j->type, JSON_STRING);
    CHECK_EQ_INT(j->len, 256);
    CHECK(memcmp(j->u.str, all, 256) == 0);
    arena_release(&a);
    buf_release(&b);
}

TEST(json_str_respects_cap)
{
    struct buf b;
    buf_init(&b, 8);
    CHECK_EQ_INT(buf_json_str(&b, "123456", 6), 0); /* 8 bytes with quotes */
    CHECK_STR_EQ(b.ptr, "\"123456\"");
    buf_reset(&b);
    CHECK_EQ_INT(buf_json_str(&b, "1234567", 7), ERR_TOOBIG);
    buf_reset(&b);
    /* Escapes make the output longer than the input: still capped. */
    CHECK_EQ_INT(buf_json_str(&b, "\n\n\n\n", 4), ERR_TOOBIG);
    CHECK(b.len <= 8);
    CHECK_EQ_INT(b.ptr[b.len], '\0');
    buf_release(&b);
}

/* When the first escape does not fit, the opening quote has been written
 * straight into ptr[] and nothing wrote the terminator after it. */
TEST(json_str_failure_keeps_terminator)
{
    struct buf b;
    buf_init(&b, 100);
    buf_puts(&b, "xxxxxxxxxx"); /* leave non-NUL bytes in the allocation */
    buf_reset(&b);
    b.limit_bytes = 3;
    CHECK_EQ_INT(buf_json_str(&b, "\x01", 1), ERR_TOOBIG);
    CHECK(b.len <= 3);
    CHECK_EQ_INT(b.ptr[b.len], '\0');
    CHECK_EQ_INT(strlen(b.ptr), b.len);
    buf_release(&b);
}

/* ------------------------------------------------------------------------ */
/* buf_json_float                                                           */

static void check_json_float(double v, const char *want)
{
    struct buf b;
    buf_init(&b, 64);
    CHECK_EQ_INT(buf_json_float(&b, v), 0);
    CHECK_STR_EQ(b.ptr, want);
    buf_release(&b);
}

TEST(json_float_known_values)
{
    check_json_float(0.0, "0");
    check_json_float(-0.0, "-0");
    check_json_float(1.0, "1");
    check_json_float(-2.5, "-2.5");
    check_json_float(0.1f, "0.1");
    check_json_float(1.0f / 3.0f, "0.33333334");
    check_json_float(3.14159265f, "3.1415927");
    check_json_float(16777216.0f, "16777216");
    check_json_float(1e10f, "1e+10");
    check_json_float(FLT_MAX, "3.4028235e+38");
    check_json_float(FLT_MIN, "1.1754944e-38");
    /* The shortest text that reads back; %.6g gave "1.4013e-45". */
    check_json_float(FLT_TRUE_MIN, "1e-45");
    check_json_float(-FLT_TRUE_MIN, "-1e-45");
    check_json_float(100.0f, "100");
    check_json_float(1e-7f, "1e-07");
    check_json_float(0.30000001192092896, "0.3"); /* 0.3f as a double */
    /* The one float whose shortest text, 7.038531e-26, strtod and a cast to
     * float read as its neighbour: one digit more, as before. */
    check_json_float(7.0385306918e-26f, "7.0385307e-26");
    check_json_float(-7.0385306918e-26f, "-7.0385307e-26");
    check_json_float(16777217.0, "16777217"); /* a double, printed exactly */
    /* Not a float32 value: full double precision. */
    check_json_float(0.1, "0.10000000000000001");
    check_json_float(1e300, "1.0000000000000001e+300");
}

TEST(json_float_nan_and_infinity_tokens)
{
    check_json_float(NAN, "NaN");
    check_json_float(-NAN, "NaN");
    check_json_float(INFINITY, "Infinity");
    check_json_float(-INFINITY, "-Infinity");
    check_json_float(HUGE_VAL, "Infinity");
}

/* Print 'f', read it back with strtod and with json_parse: the same float. */
static void check_float_round_trip(float f, struct arena *a)
{
    struct buf b;
    buf_init(&b, 64);
    CHECK_EQ_INT(buf_json_float(&b, f), 0);
    float back = (float)strtod(b.ptr, NULL);
    if (isnan(f)) {
        CHECK_STR_EQ(b.ptr, "NaN");
    } else if (memcmp(&back, &f, sizeof(f)) != 0) {
        uint32_t bits;
        memcpy(&bits, &f, sizeof(bits));
        harness_fail(__FILE__, __LINE__, "%.9g (0x%08x) printed as '%s' reads back as %.9g",
                     (double)f, (unsigned)bits, b.ptr, (double)back);
        buf_release(&b);
        return;
    }
    /* At most 9 significant digits: shortest-or-%.9g. */
    size_t digits = 0;
    bool leading = true;
    for (const char *p = b.ptr; *p && *p != 'e'; p++) {
        leading = leading && (*p < '1' || *p > '9');
        digits += !leading && *p >= '0' && *p <= '9';
    }
    if (digits > 9)
        harness_fail(__FILE__, __LINE__, "%.9g printed with %zu digits: '%s'", (double)f, digits,
                     b.ptr);
    CHECK(digits <= 9);
    struct json *j = NULL;
    struct err err = {0};
    CHECK_EQ_INT(json_parse(a, b.ptr, b.len, &j, &err), 0);
    CHECK_EQ_INT(j->type, JSON_NUMBER);
    float parsed = (float)j->u.num;
    CHECK(isnan(f) ? isnan(parsed) : memcmp(&parsed, &f, sizeof(f)) == 0);
    buf_release(&b);
}

TEST(json_float_round_trips_float32)
{
    struct arena a;
    arena_init(&a, 0);
    static const float edge[] = {0.0f,         -0.0f,   1.0f,         -1.0f,       0.1f,
                                 0.2f,         0.3f,    1e-7f,        123456.789f, FLT_MAX,
                                 -FLT_MAX,     FLT_MIN, FLT_TRUE_MIN, 8388608.5f,  16777217.0f,
                                 9.999999e-5f, 0.5f,    2.5e-38f};
    for (size_t i = 0; i < sizeof(edge) / sizeof(edge[0]); i++)
        check_float_round_trip(edge[i], &a);
    for (int i = 0; i < 200000 && !harness_failed; i++) {
        float f = float_from_bits((uint32_t)rng());
        if (isinf(f))
            continue;
        check_float_round_trip(f, &a);
        if (i % 1000 == 0) {
            arena_release(&a);
            arena_init(&a, 0);
        }
    }
    arena_release(&a);
}

TEST(json_float_round_trips_doubles)
{
    for (int i = 0; i < 20000; i++) {
        uint64_t bits = rng();
        double d;
        memcpy(&d, &bits, sizeof(d));
        if (isnan(d) || isinf(d))
            continue;
        struct buf b;
        buf_init(&b, 64);
        CHECK_EQ_INT(buf_json_float(&b, d), 0);
        double back = strtod(b.ptr, NULL);
        if ((float)d == d)
            CHECK((float)back == (float)d);
        else
            CHECK(memcmp(&back, &d, sizeof(d)) == 0);
        buf_release(&b);
    }
}

/* ------------------------------------------------------------------------ */
/* struct str                                                               */

static int u64(const char *s, unsigned long long max, unsigned long long *out)
{
    *out = 12345;
    return str_to_u64(str_from(s), max, out);
}

TEST(str_to_u64_parses)
{
    unsigned long long v;
    CHECK_EQ_INT(u64("0", ULLONG_MAX, &v), 0);
    CHECK_EQ_INT(v, 0);
    CHECK_EQ_INT(u64("42", ULLONG_MAX, &v), 0);
    CHECK_EQ_INT(v, 42);
    CHECK_EQ_INT(u64("007", ULLONG_MAX, &v), 0);
    CHECK_EQ_INT(v, 7);
    CHECK_EQ_INT(u64("18446744073709551615", ULLONG_MAX, &v), 0);
    CHECK(v == ULLONG_MAX);
    CHECK_EQ_INT(u64("100", 100, &v), 0);
    CHECK_EQ_INT(v, 100);
    CHECK_EQ_INT(u64("9223372036854775807", 0x7fffffffffffffffULL, &v), 0);
    CHECK(v == 0x7fffffffffffffffULL);
    /* A view need not be terminated. */
    CHECK_EQ_INT(str_to_u64((struct str){"123456", 3}, ULLONG_MAX, &v), 0);
    CHECK_EQ_INT(v, 123);
}

TEST(str_to_u64_rejects_non_digits)
{
    unsigned long long v;
    CHECK_EQ_INT(u64("", ULLONG_MAX, &v), ERR_INVALID);
    CHECK_EQ_INT(u64("-1", ULLONG_MAX, &v), ERR_INVALID);
    CHECK_EQ_INT(u64("+1", ULLONG_MAX, &v), ERR_INVALID);
    CHECK_EQ_INT(u64(" 1", ULLONG_MAX, &v), ERR_INVALID);
    CHECK_EQ_INT(u64("1 ", ULLONG_MAX, &v), ERR_INVALID);
    CHECK_EQ_INT(u64("12a", ULLONG_MAX, &v), ERR_INVALID);
    CHECK_EQ_INT(u64("0x10", ULLONG_MAX, &v), ERR_INVALID);
    CHECK_EQ_INT(u64("1.0", ULLONG_MAX, &v), ERR_INVALID);
    CHECK_EQ_INT(str_to_u64((struct str){"1\0", 2}, ULLONG_MAX, &v), ERR_INVALID);
    CHECK_EQ_INT(str_to_u64(STR_NULL, ULLONG_MAX, &v), ERR_INVALID);
    CHECK_EQ_INT(v, 12345); /* untouched on failure */
}

TEST(str_to_u64_overflow)
{
    unsigned long long v;
    CHECK_EQ_INT(u64("18446744073709551616", ULLONG_MAX, &v), ERR_TOOBIG);
    CHECK_EQ_INT(u64("18446744073709551620", ULLONG_MAX, &v), ERR_TOOBIG);
    CHECK_EQ_INT(u64("99999999999999999999", ULLONG_MAX, &v), ERR_TOOBIG);
    CHECK_EQ_INT(u64("101", 100, &v), ERR_TOOBIG);
    CHECK_EQ_INT(u64("1000", 100, &v), ERR_TOOBIG);
    CHECK_EQ_INT(u64("9223372036854775808", 0x7fffffffffffffffULL, &v), ERR_TOOBIG);
    CHECK_EQ_INT(u64("123456789012345678901", ULLONG_MAX, &v), ERR_INVALID); /* 21 digits */
    CHECK_EQ_INT(v, 12345);
}

/* A bound below 9: every value above it must be refused (v2.c passes the body
 * length as the bound of Inference-Header-Content-Length, which can be 0..8). */
TEST(str_to_u64_small_max)
{
    unsigned long long v;
    CHECK_EQ_INT(u64("5", 5, &v), 0);
    CHECK_EQ_INT(v, 5);
    CHECK_EQ_INT(u64("0", 0, &v), 0);
    CHECK_EQ_INT(v, 0);
    CHECK_EQ_INT(u64("6", 5, &v), ERR_TOOBIG);
    CHECK_EQ_INT(u64("9", 5, &v), ERR_TOOBIG);
    CHECK_EQ_INT(u64("1", 0, &v), ERR_TOOBIG);
    CHECK_EQ_INT(u64("77", 3, &v), ERR_TOOBIG);
    CHECK_EQ_INT(v, 12345);
}

TEST(str_helpers)
{
    CHECK(str_eq(STR_LIT("abc"), str_from("abc")));
    CHECK(!str_eq(STR_LIT("abc"), STR_LIT("abd")));
    CHECK(!str_eq(STR_LIT("abc"), STR_LIT("ab")));
    CHECK(str_eq(STR_NULL, STR_LIT("")));
    CHECK(str_eq_cstr((struct str){"abcdef", 3}, "abc"));
    CHECK_EQ_INT(str_from(NULL).len, 0);
    CHECK(str_from(NULL).ptr == NULL);
    CHECK(str_eq_nocase(STR_LIT("Content-Length"), "content-length"));
    CHECK(!str_eq_nocase(STR_LIT("Content-Length"), "content-lengt"));
    CHECK(!str_eq_nocase(STR_LIT("Content"), "content-length"));
    CHECK(str_has_prefix(STR_LIT("/v1/models"), "/v1/"));
    CHECK(str_has_prefix(STR_LIT("/v1"), ""));
    CHECK(!str_has_prefix(STR_LIT("/v"), "/v1"));
    CHECK(!str_has_prefix(STR_LIT("/V1/"), "/v1"));
}
