/* fmtfloat.c - shortest round-trip float32 to decimal (Schubfach).
 *
 * A positive float is v = c * 2^q. Every real in its rounding interval (halfway
 * to each neighbour; the ends included when c is even, since strtof rounds a tie
 * to the even significand) reads back as v. Let k be the largest integer with
 * 10^k no larger than the interval's width. Then the interval holds at least one
 * multiple of 10^k and at most one multiple of 10^(k+1), so the shortest decimal
 * is that multiple of 10^(k+1) if there is one; otherwise it is the nearer to v
 * of s * 10^k and (s + 1) * 10^k, s = floor(v / 10^k), among those two that lie
 * inside (at least one does). No other multiple of 10^k can be nearer to v.
 *
 * The decisions compare the interval's ends and v, scaled by 4 / 10^k, with
 * multiples of 4. Each scaled value is computed exactly, rounded to odd:
 * floor(x), with the low bit set when x is not an integer. Such a value compares
 * with any even integer exactly as x does, so every decision is exact. For the
 * common magnitudes (floats of 2^-33 up to 2^23) the product fits in 64 bits;
 * tiny and huge floats take a 128-bit path.
 */
#include "base/fmtfloat.h"

#include <stdbool.h>
#include <string.h>

__extension__ typedef unsigned __int128 u128;

/* 5^0 .. 5^27, the powers of five below 2^64. */
static const uint64_t pow5[28] = {1ULL,
                                  5ULL,
                                  25ULL,
                                  125ULL,
                                  625ULL,
                                  3125ULL,
                                  15625ULL,
                                  78125ULL,
                                  390625ULL,
                                  1953125ULL,
                                  9765625ULL,
                                  48828125ULL,
                                  244140625ULL,
                                  1220703125ULL,
                                  6103515625ULL,
                                  30517578125ULL,
                                  152587890625ULL,
                                  762939453125ULL,
                                  3814697265625ULL,
                                  19073486328125ULL,
                                  95367431640625ULL,
                                  476837158203125ULL,
                                  2384185791015625ULL,
                                  11920928955078125ULL,
                                  59604644775390625ULL,
                                  298023223876953125ULL,
                                  1490116119384765625ULL,
                                  7450580596923828125ULL};

/* 5^n for n <= 55. */
static u128 pow5_wide(int n)
{
    return n <= 27 ? pow5[n] : (u128)pow5[27] * pow5[n - 27];
}

/* floor(q * log10(2)) and floor(q * log10(2) + log10(3/4)): log10(2) and
 * log10(4/3) in 2^-41 units, exact for |q| < 2^10 (the float range is -149 to
 * 104). Right shifts of negative values are arithmetic with gcc and clang. */
static int floor_log10_pow2(int q)
{
    return (int)(((int64_t)q * 661971961083LL) >> 41);
}

static int floor_log10_three_quarters_pow2(int q)
{
    return (int)(((int64_t)q * 661971961083LL - 274743187320LL) >> 41);
}

/* cbx * 5^n / 2^s rounded to odd, 5^n up to 2^105 and cbx below 2^26: a
 * 192-bit product hi * 2^64 + lo. */
static uint64_t rop_mul_pow5_wide(uint64_t cbx, int n, int s)
{
    u128 m = pow5_wide(n);
    u128 lo = (u128)cbx * (uint64_t)m;
    u128 hi = (u128)cbx * (uint64_t)(m >> 64) + (lo >> 64);
    uint64_t lo64 = (uint64_t)lo;
    if (s >= 64) {
        int t = s - 64;
        u128 rest = t ? hi & (((u128)1 << t) - 1) : 0;
        return (uint64_t)(hi >> t) | (rest != 0 || lo64 != 0);
    }
    uint64_t rest = lo64 & ((1ULL << s) - 1);
    return (uint64_t)((hi << (64 - s)) | (lo64 >> s)) | (rest != 0);
}

/* cbx * 2^q / 10^k rounded to odd, exactly, outside the fast path's range. */
static uint64_t scale_wide(uint64_t cbx, int q, int k)
{
    if (k < 0) { /* cbx * 5^n * 2^(q + n) with n = -k; 36 <= -(q + n) <= 104 */
        int n = -k;
        return rop_mul_pow5_wide(cbx, n, -(q + n));
    }
    u128 x = (u128)cbx << (q - k); /* q - k <= 73: below 2^99 */
    if (k == 0)
        return (uint64_t)x;
    u128 d = pow5_wide(k);
    return (uint64_t)(x / d) | (x % d != 0);
}

/* x / 2^s rounded to odd, for 0 < s < 64. */
static uint64_t rop_shift64(uint64_t x, int s)
{
    return (x >> s) | ((x & ((1ULL << s) - 1)) != 0);
}

static int count_digits(uint32_t d)
{
    static const uint32_t pow10[] = {10,      100,      1000,      10000,     100000,
                                     1000000, 10000000, 100000000, 1000000000};
    int n = 1;
    while (n < 10 && d >= pow10[n - 1])
        n++;
    return n;
}

struct fmtfloat_dec fmtfloat_decimal(float v)
{
    uint32_t bits;
    memcpy(&bits, &v, sizeof(bits));
    uint32_t frac = bits & 0x7FFFFF, be = (bits >> 23) & 0xFF;
    uint64_t c = be ? frac | 1u << 23 : frac;
    int q = be ? (int)be - 150 : -149;
    /* Just above a power of two the gap below is half the gap above. */
    bool irregular = frac == 0 && be > 1;
    int k = irregular ? floor_log10_three_quarters_pow2(q) : floor_log10_pow2(q);
    uint64_t cb = c << 2, cbr = cb + 2, cbl = cb - (irregular ? 1 : 2);
    uint64_t vb, vbl, vbr;
    if (k < 0 && k >= -16) { /* cbx * 5^-k * 2^(q - k), and 5^16 * 2^26 < 2^64 */
        uint64_t p = pow5[-k];
        int e2 = q - k;
        if (e2 >= 0) {
            vb = cb * p << e2;
            vbl = cbl * p << e2;
            vbr = cbr * p << e2;
        } else {
            vb = rop_shift64(cb * p, -e2);
            vbl = rop_shift64(cbl * p, -e2);
            vbr = rop_shift64(cbr * p, -e2);
        }
    } else {
        vb = scale_wide(cb, q, k);
        vbl = scale_wide(cbl, q, k);
        vbr = scale_wide(cbr, q, k);
    }
    uint64_t out = c & 1; /* an odd significand does not own its interval's ends */

    struct fmtfloat_dec r;
    uint64_t s = vb >> 2;
    uint64_t sp10 = s / 10 * 10, tp10 = sp10 + 10;
    bool upin = vbl + out <= sp10 << 2, wpin = (tp10 << 2) + out <= vbr;
    if (upin != wpin) {
        /* A multiple of 10^(k+1), maybe of a higher power too. */
        uint64_t d = (upin ? sp10 : tp10) / 10;
        r.exp10 = k + 1;
        while (d % 10 == 0) { /* d > 0: the interval holds no zero */
            d /= 10;
            r.exp10++;
        }
        r.digits = (uint32_t)d;
    } else {
        /* s or s + 1, neither a multiple of 10 (that case ended above). */
        uint64_t t = s + 1;
        bool uin = vbl + out <= s << 2, win = (t << 2) + out <= vbr;
        uint64_t mid = (s + t) << 1; /* 4 * (s + 1/2) */
        if (uin != win)
            r.digits = (uint32_t)(uin ? s : t);
        else
            r.digits = (uint32_t)(vb < mid || (vb == mid && (s & 1) == 0) ? s : t);
        r.exp10 = k;
    }
    r.ndigits = count_digits(r.digits);
    return r;
}

size_t fmtfloat_write(char *out, float v)
{
    return fmtfloat_write_dec(out, v, NULL);
}

size_t fmtfloat_write_dec(char *out, float v, struct fmtfloat_dec *dec)
{
    uint32_t bits;
    memcpy(&bits, &v, sizeof(bits));
    char *p = out;
    if (bits >> 31)
        *p++ = '-';
    if ((bits & 0x7FFFFFFF) == 0) {
        if (dec)
            *dec = (struct fmtfloat_dec){0, 0, 0};
        *p++ = '0';
        *p = '\0';
        return (size_t)(p - out);
    }
    struct fmtfloat_dec d = fmtfloat_decimal(v);
    if (dec)
        *dec = d;
    static const char pairs[201] = "00010203040506070809101112131415161718192021222324"
                                   "25262728293031323334353637383940414243444546474849"
                                   "50515253545556575859606162636465666768697071727374"
                                   "75767778798081828384858687888990919293949596979899";
    char dig[10];
    int n = d.ndigits, at = n;
    uint32_t u = d.digits;
    for (; u >= 100; u /= 100) {
        at -= 2;
        memcpy(dig + at, pairs + 2 * (u % 100), 2);
    }
    if (u >= 10)
        memcpy(dig + at - 2, pairs + 2 * u, 2);
    else
        dig[at - 1] = (char)('0' + u);
    /* printf's %g: x is the decimal exponent of the first digit. */
    int x = d.exp10 + n - 1, prec = n > 6 ? n : 6;
    if (x < -4 || x >= prec) {
        *p++ = dig[0];
        if (n > 1) {
            *p++ = '.';
            memcpy(p, dig + 1, (size_t)(n - 1));
            p += n - 1;
        }
        unsigned ax = x < 0 ? (unsigned)-x : (unsigned)x; /* at most 45 */
        *p++ = 'e';
        *p++ = x < 0 ? '-' : '+';
        *p++ = (char)('0' + ax / 10);
        *p++ = (char)('0' + ax % 10);
    } else if (x < 0) {
        *p++ = '0';
        *p++ = '.';
        for (int i = 0; i < -x - 1; i++)
            *p++ = '0';
        memcpy(p, dig, (size_t)n);
        p += n;
    } else if (n <= x + 1) {
        memcpy(p, dig, (size_t)n);
        p += n;
        for (int i = n; i < x + 1; i++)
            *p++ = '0';
    } else {
        memcpy(p, dig, (size_t)(x + 1));
        p += x + 1;
        *p++ = '.';
        memcpy(p, dig + x + 1, (size_t)(n - x - 1));
        p += n - x - 1;
    }
    *p = '\0';
    return (size_t)(p - out);
}
