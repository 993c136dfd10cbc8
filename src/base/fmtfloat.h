/* fmtfloat.h - shortest round-trip decimal text for float32 values.
 * The digits are the fewest that read back (strtof, round to nearest even) as
 * the same float, and among those the decimal nearest the float's exact value
 * (ties to an even last digit): the Schubfach method, in exact integer
 * arithmetic. The text is laid out the way printf("%.*g", P, v) lays out those
 * digits with P = max(6, number of digits): "100", "0.1", "1e-07", "1e+10". */
#ifndef BERTH_FMTFLOAT_H
#define BERTH_FMTFLOAT_H

#include <stddef.h>
#include <stdint.h>

/* Bytes a fmtfloat_write() result can take, NUL included ("-1.17549435e-38"). */
#define FMTFLOAT_MAX 16

/* A positive decimal: digits * 10^exp10, 'digits' with no trailing zero. */
struct fmtfloat_dec {
    uint32_t digits;
    int exp10;
    int ndigits; /* decimal digits in 'digits', 1 to 9 */
};

/* The shortest nearest decimal of |v| for a finite, non-zero 'v'. */
struct fmtfloat_dec fmtfloat_decimal(float v);

/* Write finite 'v' into 'out' (FMTFLOAT_MAX bytes), NUL-terminated; return the
 * length. Zero is "0" or "-0". NaN and infinities are the caller's to spell. */
size_t fmtfloat_write(char *out, float v);
/* The same, also filling *dec with the decimal written (ndigits 0 for zero). */
size_t fmtfloat_write_dec(char *out, float v, struct fmtfloat_dec *dec);

#endif
