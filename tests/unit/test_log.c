/* test_log.c - the logger: levels, and the escaping that keeps every event on
 * one line whatever the logged values hold (CR, LF, NUL, ANSI escapes). */
#include "harness.h"

#include <fcntl.h>
#include <unistd.h>

#include "base/err.h"
#include "base/log.h"

static char out[4096];

/* log_escape() with room 'cap' over the whole of 's' (of 'len' bytes), as a
 * NUL-terminated string in 'out'; returns the source bytes used. */
static size_t esc(const char *s, size_t len, size_t cap)
{
    size_t used = 12345;
    size_t n = log_escape(out, cap, s, len, &used);
    if (n > cap)
        harness_fail(__FILE__, __LINE__, "wrote %zu bytes into %zu", n, cap);
    out[n] = '\0';
    return used;
}

#define ESC(s) esc((s), sizeof(s) - 1, sizeof(out) - 1)

TEST(escape_plain_text_unchanged)
{
    CHECK_EQ_INT(ESC("model=iris version=3 path=/v1/models/iris:predict"), 49);
    CHECK_STR_EQ(out, "model=iris version=3 path=/v1/models/iris:predict");
    CHECK_EQ_INT(ESC(""), 0);
    CHECK_STR_EQ(out, "");
}

TEST(escape_line_breaks)
{
    ESC("a\nb");
    CHECK_STR_EQ(out, "a\\nb");
    ESC("a\r\n2026-12-02T00:00:00.000Z info api forged");
    CHECK_STR_EQ(out, "a\\r\\n2026-12-02T00:00:00.000Z info api forged");
    ESC("tab\there");
    CHECK_STR_EQ(out, "tab\\there");
    CHECK(strchr(out, '\n') == NULL);
}

TEST(escape_other_controls_and_del)
{
    ESC("nul\0end");
    CHECK_STR_EQ(out, "nul\\x00end");
    ESC("\x1b[31mred\x1b[0m \x1b]0;title\x07");
    CHECK_STR_EQ(out, "\\x1b[31mred\\x1b[0m \\x1b]0;title\\x07");
    ESC("\x01\x08\x0b\x0c\x1f\x7f");
    CHECK_STR_EQ(out, "\\x01\\x08\\x0b\\x0c\\x1f\\x7f");
}

TEST(escape_backslash_so_it_reads_back)
{
    /* A literal backslash-n in a value must not look like an escaped newline. */
    ESC("C:\\new");
    CHECK_STR_EQ(out, "C:\\\\new");
}

TEST(escape_keeps_utf8)
{
    ESC("caf\xc3\xa9 \xe6\xbc\xa2\xe5\xad\x97 \xf0\x9f\x99\x82");
    CHECK_STR_EQ(out, "caf\xc3\xa9 \xe6\xbc\xa2\xe5\xad\x97 \xf0\x9f\x99\x82");
    ESC("\x80\xff\xfe");
    CHECK_STR_EQ(out, "\x80\xff\xfe");
}

TEST(escape_never_splits_an_escape)
{
    CHECK_EQ_INT(esc("ab\n", 3, 4), 3);
    CHECK_STR_EQ(out, "ab\\n");
    CHECK_EQ_INT(esc("ab\n", 3, 3), 2);
    CHECK_STR_EQ(out, "ab");
    CHECK_EQ_INT(esc("a\x01", 2, 4), 1);
    CHECK_STR_EQ(out, "a");
    CHECK_EQ_INT(esc("a\x01", 2, 5), 2);
    CHECK_STR_EQ(out, "a\\x01");
    CHECK_EQ_INT(esc("abc", 3, 0), 0);
    CHECK_STR_EQ(out, "");
    CHECK_EQ_INT(log_escape(out, 10, "x", 1, NULL), 1);
}

/* ------------------------------------------------------------------------ */
/* log_write                                                                */

/* Run log_write with stderr sent to a file; returns what it wrote in 'out'. */
static size_t capture(enum log_level level, const char *value)
{
    char path[] = "/tmp/berth-test-log-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) {
        harness_fail(__FILE__, __LINE__, "mkstemp failed");
        return 0;
    }
    unlink(path);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    dup2(fd, STDERR_FILENO);
    log_write(level, "test", "model=%s reason=%s", value, "ok");
    dup2(saved, STDERR_FILENO);
    close(saved);
    ssize_t n = pread(fd, out, sizeof(out) - 1, 0);
    close(fd);
    out[n > 0 ? n : 0] = '\0';
    return n > 0 ? (size_t)n : 0;
}

static size_t count_char(const char *s, size_t n, char c)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += s[i] == c;
    return k;
}

TEST(write_escapes_values_into_one_line)
{
    size_t n =
        capture(LOG_ERROR, "a\r\n2026-12-02T00:00:00.000Z info repo version available\x1b[2J");
    CHECK(n > 0);
    CHECK_EQ_INT(count_char(out, n, '\n'), 1);
    CHECK(out[n - 1] == '\n');
    CHECK(strstr(out, " error test model=a\\r\\n2026-12-02T00:00:00.000Z info repo version "
                      "available\\x1b[2J reason=ok\n") != NULL);
    CHECK_EQ_INT(count_char(out, n, '\r'), 0);
    CHECK_EQ_INT(count_char(out, n, '\x1b'), 0);
}

TEST(write_long_values_stay_one_line)
{
    static char big[5000];
    for (size_t i = 0; i < sizeof(big) - 1; i++)
        big[i] = i % 3 ? 'x' : '\n';
    size_t n = capture(LOG_WARN, big);
    CHECK(n > 1000 && n <= 2048);
    CHECK_EQ_INT(count_char(out, n, '\n'), 1);
    CHECK(out[n - 1] == '\n');
    /* Cut before an escape, never inside one. */
    CHECK(out[n - 2] == 'x' || out[n - 2] == 'n');
}

TEST(levels)
{
    CHECK_EQ_INT(log_set_level("debug"), 0);
    CHECK_EQ_INT(log_level_current, LOG_DEBUG);
    CHECK_EQ_INT(log_set_level("loud"), ERR_INVALID);
    CHECK_EQ_INT(log_level_current, LOG_DEBUG);
    CHECK_EQ_INT(log_set_level("info"), 0);
    CHECK_EQ_INT(log_level_current, LOG_INFO);
}

TEST(json_format_is_one_object_per_line)
{
    CHECK_EQ_INT(log_set_format("yaml"), ERR_INVALID);
    CHECK_EQ_INT(log_set_format("json"), 0);
    size_t n = capture(LOG_WARN, "say \"hi\"\\ \n\x01 caf\xc3\xa9");
    log_set_format("text");
    CHECK_EQ_INT(count_char(out, n, '\n'), 1);
    CHECK(strncmp(out, "{\"ts\":\"20", 9) == 0);
    CHECK(strstr(out, "Z\",\"level\":\"warn\",\"sub\":\"test\",\"msg\":\"model=say \\\"hi\\\"\\\\ "
                      "\\n\\u0001 caf\xc3\xa9 reason=ok\"}\n") != NULL);
}

TEST(json_format_replaces_bytes_that_are_not_utf8)
{
    log_set_format("json");
    /* A stray continuation byte, a truncated sequence, an overlong '/', a surrogate. */
    size_t n = capture(LOG_INFO, "\x80 \xe6\xbc \xc0\xaf \xed\xa0\x80 \xf0\x9f\x99\x82");
    log_set_format("text");
    CHECK(n > 0);
    CHECK(strstr(out, "model=\\ufffd \\ufffd\\ufffd \\ufffd\\ufffd \\ufffd\\ufffd\\ufffd "
                      "\xf0\x9f\x99\x82 reason=ok\"}\n") != NULL);
}

TEST(json_format_long_values_stay_closed)
{
    static char big[5000];
    for (size_t i = 0; i < sizeof(big) - 1; i++)
        big[i] = i % 3 ? 'x' : '"';
    log_set_format("json");
    size_t n = capture(LOG_WARN, big);
    log_set_format("text");
    CHECK(n > 1000 && n <= 2048);
    CHECK_EQ_INT(count_char(out, n, '\n'), 1);
    CHECK(n >= 3 && strcmp(out + n - 3, "\"}\n") == 0);
    /* Cut before an escape, never inside one: the string before the close has no lone '\'. */
    CHECK(out[n - 4] != '\\' || out[n - 5] == '\\');
}
