/* test_logs_capture.c - the line cutter and the escaping the capture path
 * applies before a line reaches the store: lines, CRLF, long lines split at
 * LOGS_LINE_MAX with nothing lost, control bytes and bad UTF-8 escaped,
 * UTF-8 split across reads kept whole, a last unterminated line. */
#include "harness.h"

#include <stdlib.h>
#include <string.h>

#include "logs/capture.h"

struct got {
    char *lines[64];
    size_t len[64];
    size_t n;
};

static void collect(void *arg, const char *text, size_t len)
{
    struct got *g = arg;
    if (g->n == 64)
        return;
    g->lines[g->n] = malloc(len + 1);
    memcpy(g->lines[g->n], text, len);
    g->lines[g->n][len] = '\0';
    g->len[g->n++] = len;
}

static void got_free(struct got *g)
{
    for (size_t i = 0; i < g->n; i++)
        free(g->lines[i]);
}

static struct logs_cutter *cutter(struct got *g)
{
    struct logs_cutter *k = calloc(1, sizeof(*k));
    k->emit = collect;
    k->arg = g;
    return k;
}

TEST(lines_and_crlf)
{
    struct got g = {0};
    struct logs_cutter *k = cutter(&g);
    logs_cutter_feed(k, "one\ntw", 6);
    logs_cutter_feed(k, "o\r\n\nthree", 9);
    CHECK_EQ_INT(g.n, 3);
    CHECK_STR_EQ(g.lines[0], "one");
    CHECK_STR_EQ(g.lines[1], "two");
    CHECK_STR_EQ(g.lines[2], "");
    logs_cutter_finish(k);
    CHECK_EQ_INT(g.n, 4);
    CHECK_STR_EQ(g.lines[3], "three");
    logs_cutter_finish(k);
    CHECK_EQ_INT(g.n, 4);
    got_free(&g);
    free(k);
}

TEST(long_line_split_nothing_lost)
{
    struct got g = {0};
    struct logs_cutter *k = cutter(&g);
    size_t n = LOGS_LINE_MAX * 2 + 100;
    char *big = malloc(n + 1);
    for (size_t i = 0; i < n; i++)
        big[i] = (char)('a' + i % 26);
    big[n] = '\n';
    for (size_t off = 0; off <= n; off += 1000)
        logs_cutter_feed(k, big + off, off + 1000 > n + 1 ? n + 1 - off : 1000);
    CHECK_EQ_INT(g.n, 3);
    CHECK_EQ_INT(g.len[0], LOGS_LINE_MAX);
    CHECK_EQ_INT(g.len[1], LOGS_LINE_MAX);
    CHECK_EQ_INT(g.len[2], 100);
    CHECK(memcmp(g.lines[1], big + LOGS_LINE_MAX, LOGS_LINE_MAX) == 0);
    CHECK(memcmp(g.lines[2], big + 2 * LOGS_LINE_MAX, 100) == 0);
    got_free(&g);
    /* Exactly LOGS_LINE_MAX then a newline: one line, no empty one after. */
    struct got h = {0};
    k->arg = &h;
    big[LOGS_LINE_MAX] = '\n';
    logs_cutter_feed(k, big, LOGS_LINE_MAX + 1);
    logs_cutter_feed(k, "next\n", 5);
    CHECK_EQ_INT(h.n, 2);
    CHECK_EQ_INT(h.len[0], LOGS_LINE_MAX);
    CHECK_STR_EQ(h.lines[1], "next");
    got_free(&h);
    free(big);
    free(k);
}

TEST(binary_escaped)
{
    struct got g = {0};
    struct logs_cutter *k = cutter(&g);
    const char in[] = "a\x1b[2Jb\tc\x7f\xff\xc3(\x00z\n";
    logs_cutter_feed(k, in, sizeof(in) - 1);
    CHECK_EQ_INT(g.n, 1);
    CHECK_STR_EQ(g.lines[0], "a\\x1b[2Jb\tc\\x7f\\xff\\xc3(\\x00z");
    got_free(&g);
    free(k);
}

TEST(utf8_across_reads)
{
    struct got g = {0};
    struct logs_cutter *k = cutter(&g);
    const char *s = "h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80\n"; /* héllo € 😀 */
    for (size_t i = 0; s[i]; i++)
        logs_cutter_feed(k, s + i, 1);
    CHECK_EQ_INT(g.n, 1);
    CHECK_STR_EQ(g.lines[0], "h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80");
    /* An incomplete sequence at the end of the stream is escaped. */
    logs_cutter_feed(k, "x\xe2\x82", 3);
    logs_cutter_finish(k);
    CHECK_EQ_INT(g.n, 2);
    CHECK_STR_EQ(g.lines[1], "x\\xe2\\x82");
    got_free(&g);
    free(k);
}

TEST(escape_bounds)
{
    char out[8];
    size_t used;
    /* Surrogates and overlong forms are not UTF-8. */
    size_t w = logs_escape((const unsigned char *)"\xed\xa0\x80", 3, true, out, sizeof(out), &used);
    CHECK_EQ_INT(w, 8);
    CHECK_EQ_INT(used, 2);
    w = logs_escape((const unsigned char *)"\xc0\xaf", 2, true, out, sizeof(out), &used);
    CHECK_EQ_INT(w, 8);
    CHECK(memcmp(out, "\\xc0\\xaf", 8) == 0);
    /* Never more than cap, and an escape is never cut. */
    w = logs_escape((const unsigned char *)"abcde\x01", 6, true, out, 7, &used);
    CHECK_EQ_INT(w, 5);
    CHECK_EQ_INT(used, 5);
}
