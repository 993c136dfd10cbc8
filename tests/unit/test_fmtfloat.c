/* test_fmtfloat.c - shortest round-trip float32 text: known values, edge cases
 * (subnormals, FLT_MIN/MAX, powers of 2 and 10, the boundaries where the gap
 * below is half the gap above) and a seeded random sweep, each checked by the
 * independent oracle in fmtfloat_oracle.h and against the old %.6g..%.9g loop.
 * bench/fmtfloat_check.c runs the same oracle on every float. */
#include "harness.h"

#include <float.h>
#include <stdint.h>

#include "base/fmtfloat.h"
#include "fmtfloat_oracle.h"

static uint64_t rng_state = 0x2545F4914F6CDD1DULL;

static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static float from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof(f));
    return f;
}

static void check_text(uint32_t bits, const char *want)
{
    char got[FMTFLOAT_MAX];
    size_t n = fmtfloat_write(got, from_bits(bits));
    if (strcmp(got, want) != 0)
        harness_fail(__FILE__, __LINE__, "0x%08x printed as '%s', want '%s'", (unsigned)bits, got,
                     want);
    CHECK_STR_EQ(got, want);
    CHECK_EQ_INT(n, strlen(want));
}

/* The oracle on finite 'v'; 'old' also compares with the old loop's text where
 * that one had the fewest digits. Returns false (and fails the test) if wrong. */
static bool check_oracle(float v, bool old)
{
    char txt[FMTFLOAT_MAX + 8], why[128];
    size_t n = fmtfloat_write(txt, v);
    if (n >= FMTFLOAT_MAX) {
        harness_fail(__FILE__, __LINE__, "%.9g: %zu bytes", (double)v, n);
        return false;
    }
    if (v == 0)
        return strcmp(txt, signbit(v) ? "-0" : "0") == 0;
    int digits;
    double back;
    if (oracle_check(v, txt, why, sizeof(why), &digits, &back)) {
        uint32_t bits;
        memcpy(&bits, &v, sizeof(bits));
        harness_fail(__FILE__, __LINE__, "0x%08x (%.9g) printed as '%s': %s", (unsigned)bits,
                     (double)v, txt, why);
        return false;
    }
    if (old) {
        char prev[64];
        oracle_old_text(prev, sizeof(prev), v);
        struct oracle_dec d;
        if (oracle_parse(prev, &d) && d.n == digits && strcmp(prev, txt) != 0) {
            harness_fail(__FILE__, __LINE__, "%.9g printed as '%s', the old loop's '%s'", (double)v,
                         txt, prev);
            return false;
        }
    }
    return true;
}

TEST(fmtfloat_known_values)
{
    check_text(0x00000000, "0");
    check_text(0x80000000, "-0");
    check_text(0x3F800000, "1");
    check_text(0xC0200000, "-2.5");
    check_text(0x42C80000, "100");
    check_text(0x3DCCCCCD, "0.1");
    check_text(0x3E99999A, "0.3");
    check_text(0x3EAAAAAB, "0.33333334");
    check_text(0x40490FDB, "3.1415927");
    check_text(0x33D6BF95, "1e-07");
    check_text(0x38D1B717, "0.0001");
    check_text(0x38D1B716, "9.999999e-05");
    check_text(0x3727C5AC, "1e-05");
    check_text(0x501502F9, "1e+10");
    check_text(0x47F12000, "123456");
    check_text(0x497423F0, "999999");
    check_text(0x49742400, "1e+06");
    check_text(0x4996B438, "1234567");
    check_text(0x4B18967F, "9999999");
    check_text(0x4B189680, "1e+07");
    check_text(0x4B3C614E, "12345678");
    check_text(0x3F800001, "1.0000001");
    check_text(0x3F7FFFFF, "0.99999994");
    /* An odd significand does not own its interval's ends: 3.355445e+07 is
     * the midpoint below 33554452 and reads back as 33554448. */
    check_text(0x4C000005, "33554452");
    /* Shortest for strtof; strtod and a cast read it as 0x15AE43FE (that
     * double rounding is buf_json_float's to avoid, see test_buf). */
    check_text(0x15AE43FD, "7.038531e-26");
}

TEST(fmtfloat_limits_and_subnormals)
{
    check_text(0x7F7FFFFF, "3.4028235e+38");  /* FLT_MAX */
    check_text(0xFF7FFFFF, "-3.4028235e+38"); /* -FLT_MAX */
    check_text(0x7E967699, "1e+38");
    check_text(0x00800000, "1.1754944e-38"); /* FLT_MIN */
    check_text(0x007FFFFF, "1.1754942e-38"); /* the largest subnormal */
    check_text(0x006CE3EE, "1e-38");
    check_text(0x01081CEA, "2.5e-38");
    /* The smallest subnormals: one digit reads back (%.6g gave "1.4013e-45"). */
    check_text(0x00000001, "1e-45"); /* FLT_TRUE_MIN */
    check_text(0x80000001, "-1e-45");
    check_text(0x00000002, "3e-45");
    check_text(0x00000003, "4e-45");
    for (uint32_t b = 1; b < 4096 && !harness_failed; b++) {
        CHECK(check_oracle(from_bits(b), true));
        CHECK(check_oracle(from_bits(0x007FFFFF - b), true));
        CHECK(check_oracle(from_bits(0x00800000 + b), true));
        CHECK(check_oracle(from_bits(0x7F7FFFFF - b), true));
    }
}

/* At c = 2^23 (a power of two, but not the smallest normal) the float below is
 * half as far as the float above, and the 3/4-wide interval picks k. */
TEST(fmtfloat_powers_of_two)
{
    check_text(0x4B000000, "8388608");       /* 2^23 */
    check_text(0x4B800000, "16777216");      /* 2^24 */
    check_text(0x4B800001, "16777218");      /* 2^24 + 2 */
    check_text(0x7F000000, "1.7014118e+38"); /* 2^127 */
    check_text(0x0D800000, "7.888609e-31");  /* 2^-100 */
    check_text(0x0D7FFFFF, "7.8886086e-31"); /* the float below */
    check_text(0x3F000000, "0.5");
    for (int e = -149; e <= 127; e++) {
        float p = ldexpf(1.0f, e);
        uint32_t bits;
        memcpy(&bits, &p, sizeof(bits));
        CHECK(check_oracle(p, true));
        CHECK(check_oracle(-p, true));
        CHECK(check_oracle(from_bits(bits - 1), true));
        CHECK(check_oracle(from_bits(bits + 1), true));
    }
}

TEST(fmtfloat_powers_of_ten)
{
    for (int e = -45; e <= 38; e++) {
        char t[16];
        snprintf(t, sizeof(t), "1e%d", e);
        float p = strtof(t, NULL);
        uint32_t bits;
        memcpy(&bits, &p, sizeof(bits));
        if (e >= -44) { /* 1e-45 reads as FLT_TRUE_MIN, 1.4e-45 */
            char got[FMTFLOAT_MAX], want[16];
            fmtfloat_write(got, p);
            snprintf(want, sizeof(want), "%g", 1.0 * pow(10, e));
            CHECK_STR_EQ(got, want);
        }
        CHECK(check_oracle(p, true));
        CHECK(check_oracle(from_bits(bits - 1), true));
        CHECK(check_oracle(from_bits(bits + 1), true));
    }
}

TEST(fmtfloat_decimal_parts)
{
    struct fmtfloat_dec d = fmtfloat_decimal(1e-7f);
    CHECK_EQ_INT(d.digits, 1);
    CHECK_EQ_INT(d.exp10, -7);
    CHECK_EQ_INT(d.ndigits, 1);
    d = fmtfloat_decimal(-123.25f);
    CHECK_EQ_INT(d.digits, 12325);
    CHECK_EQ_INT(d.exp10, -2);
    CHECK_EQ_INT(d.ndigits, 5);
    d = fmtfloat_decimal(FLT_MAX);
    CHECK_EQ_INT(d.digits, 34028235);
    CHECK_EQ_INT(d.exp10, 31);
    CHECK_EQ_INT(d.ndigits, 8);
}

/* Every text reads back through strtof; every 16th (and all of the first
 * 20,000) also gets the whole oracle and the old loop's comparison, which cost
 * a few microseconds each. */
TEST(fmtfloat_random_sweep)
{
    for (int i = 0; i < 3000000 && !harness_failed; i++) {
        uint32_t bits = (uint32_t)(rng() >> 32);
        float v = from_bits(bits);
        if (!isfinite(v))
            continue;
        if (i < 20000 || i % 16 == 0) {
            CHECK(check_oracle(v, true));
            continue;
        }
        char txt[FMTFLOAT_MAX];
        fmtfloat_write(txt, v);
        float back = strtof(txt, NULL);
        if (!oracle_same_float(back, v))
            harness_fail(__FILE__, __LINE__, "0x%08x printed as '%s' reads back as %.9g",
                         (unsigned)bits, txt, (double)back);
    }
}

/* Predictions live in a few decades around 1: sweep those more densely. */
TEST(fmtfloat_prediction_range_sweep)
{
    for (int i = 0; i < 100000 && !harness_failed; i++) {
        float v = (float)((double)(rng() >> 11) / 9007199254740992.0);
        v = ldexpf(v, (int)(rng() % 40) - 20);
        CHECK(check_oracle(v, true));
    }
}
