/* fuzz_log_escape.c - log_escape(), which keeps every log line one line.
 * Input: any bytes, escaped whole and with a room taken from the first byte.
 * The output must hold no control byte, read back to the input, and when
 * cut short be a prefix of the whole escaping that stops only for lack of room. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/log.h"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Undo the escaping; the output must be well formed. Returns the length. */
static size_t unescape(const char *s, size_t n, char *out)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '\\') {
            out[k++] = s[i];
            continue;
        }
        FUZZ_CHECK(i + 1 < n);
        char c = s[++i];
        if (c == 'n' || c == 'r' || c == 't' || c == '\\') {
            out[k++] = c == 'n' ? '\n' : c == 'r' ? '\r' : c == 't' ? '\t' : '\\';
            continue;
        }
        FUZZ_CHECK(c == 'x' && i + 2 < n);
        int hi = hexval(s[i + 1]), lo = hexval(s[i + 2]);
        FUZZ_CHECK(hi >= 0 && lo >= 0);
        unsigned char v = (unsigned char)(hi << 4 | lo);
        /* Only what has no shorter form is written as \xHH. */
        FUZZ_CHECK((v < 0x20 || v == 0x7f) && v != '\n' && v != '\r' && v != '\t');
        out[k++] = (char)v;
        i += 2;
    }
    return k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *src = (const char *)data;
    size_t cap = 4 * size;
    char *full = xmalloc(cap + 1), *back = xmalloc(size + 1);
    size_t used = 0;
    size_t n = log_escape(full, cap, src, size, &used);
    FUZZ_CHECK(used == size && n <= cap);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)full[i];
        FUZZ_CHECK(c >= 0x20 && c != 0x7f);
    }
    FUZZ_CHECK(unescape(full, n, back) == size);
    FUZZ_CHECK(memcmp(back, src, size) == 0);

    /* A short room: a prefix, cut between escapes, as long as the room allows. */
    size_t room = size ? (size_t)data[0] % (cap + 1) : 0;
    char *part = xmalloc(room + 1);
    size_t pused = 0;
    size_t pn = log_escape(part, room, src, size, &pused);
    FUZZ_CHECK(pn <= room && pused <= size && pn <= n);
    FUZZ_CHECK(memcmp(part, full, pn) == 0);
    /* The escaping of what was used, exactly. */
    char *chk = xmalloc(4 * pused + 1);
    FUZZ_CHECK(log_escape(chk, 4 * pused, src, pused, NULL) == pn);
    FUZZ_CHECK(memcmp(chk, part, pn) == 0);
    free(chk);
    if (pused < size) {
        /* The next byte's escape would not have fitted. */
        char one[4];
        size_t need = log_escape(one, sizeof(one), src + pused, 1, NULL);
        FUZZ_CHECK(need > room - pn);
    }
    free(part);
    free(full);
    free(back);
    return 0;
}
