/* test_syslog.c - RFC 5424 messages in RFC 6587 octet-counting frames. */
#include "harness.h"

#include <stdlib.h>

#include "base/err.h"
#include "logs/syslog.h"

static struct logs_line line_of(const char *text, enum logs_stream stream)
{
    struct logs_line l = {.time_us = 1796190879123456LL, /* 2026-12-02T05:54:39.123456Z */
                          .group_id = "ms-ab12cd34",
                          .service_id = "ms-ab12cd34-1",
                          .pod = "ms-ab12cd34-1-0",
                          .stream = stream,
                          .text = text,
                          .len = strlen(text)};
    return l;
}

/* The frame's message, NUL-terminated, after checking its octet count. */
static char *message_of(const char *frame, size_t len)
{
    char *sp = memchr(frame, ' ', len);
    if (!sp)
        return NULL;
    size_t count = strtoul(frame, NULL, 10);
    if (count != len - (size_t)(sp + 1 - frame))
        return NULL;
    char *m = malloc(count + 1);
    memcpy(m, sp + 1, count);
    m[count] = '\0';
    return m;
}

TEST(frame_stdout_is_user_info_with_structured_data)
{
    char out[LOGS_SYSLOG_FRAME_MAX];
    struct logs_line l = line_of("hello world", LOGS_STDOUT);
    size_t n = logs_syslog_frame(&l, LOGS_SYSLOG_USER, "host1", out, sizeof(out));
    CHECK(n > 0);
    char *m = message_of(out, n);
    CHECK(m != NULL);
    CHECK_STR_EQ(m, "<14>1 2026-12-02T05:54:39.123456Z host1 ms-ab12cd34-1 ms-ab12cd34-1-0 stdout "
                    "[berth@32473 service=\"ms-ab12cd34-1\" group=\"ms-ab12cd34\" "
                    "pod=\"ms-ab12cd34-1-0\" stream=\"stdout\"] hello world");
    free(m);
}

TEST(frame_octet_count_is_the_message_bytes)
{
    char out[LOGS_SYSLOG_FRAME_MAX];
    struct logs_line l = line_of("x", LOGS_STDOUT);
    size_t n = logs_syslog_frame(&l, LOGS_SYSLOG_USER, "h", out, sizeof(out));
    char *sp = memchr(out, ' ', n);
    CHECK_EQ_INT(strtoul(out, NULL, 10), n - (size_t)(sp + 1 - out));
    /* UTF-8 counts bytes, not characters. */
    struct logs_line u = line_of("\xc3\xa9t\xc3\xa9", LOGS_STDOUT); /* "été" */
    size_t nu = logs_syslog_frame(&u, LOGS_SYSLOG_USER, "h", out, sizeof(out));
    CHECK_EQ_INT(nu, n + 4);
    char *m = message_of(out, nu);
    CHECK(m != NULL);
    free(m);
    size_t fl;
    CHECK_EQ_INT(logs_syslog_next_frame(out, nu, &fl), 0);
    CHECK_EQ_INT(fl, nu);
}

TEST(frame_stderr_is_a_warning_and_facility_is_chosen)
{
    char out[LOGS_SYSLOG_FRAME_MAX];
    struct logs_line l = line_of("oops", LOGS_STDERR);
    size_t n = logs_syslog_frame(&l, LOGS_SYSLOG_LOCAL0, "h", out, sizeof(out));
    char *m = message_of(out, n);
    CHECK(strncmp(m, "<132>1 ", 7) == 0); /* 16 * 8 + 4 */
    CHECK(strstr(m, " stderr [berth@32473 ") != NULL);
    CHECK(strstr(m, "stream=\"stderr\"] oops") != NULL);
    free(m);
    n = logs_syslog_frame(&l, LOGS_SYSLOG_USER, "h", out, sizeof(out));
    m = message_of(out, n);
    CHECK(strncmp(m, "<12>1 ", 6) == 0);
    free(m);
}

TEST(sd_values_escape_quote_backslash_bracket)
{
    char out[64];
    size_t n = logs_syslog_sd_escape(out, sizeof(out), "a\"b\\c]d[e", 9);
    out[n] = '\0';
    CHECK_STR_EQ(out, "a\\\"b\\\\c\\]d[e");
    /* An escape that does not fit is not split. */
    n = logs_syslog_sd_escape(out, 2, "a\"", 2);
    CHECK_EQ_INT(n, 1);

    char frame[LOGS_SYSLOG_FRAME_MAX];
    struct logs_line l = line_of("m", LOGS_STDOUT);
    l.group_id = "g\"]\\";
    n = logs_syslog_frame(&l, LOGS_SYSLOG_USER, "h", frame, sizeof(frame));
    char *m = message_of(frame, n);
    CHECK(strstr(m, " group=\"g\\\"\\]\\\\\" ") != NULL);
    free(m);
}

TEST(header_fields_are_printable_ascii_and_nil_when_empty)
{
    char out[LOGS_SYSLOG_FRAME_MAX];
    struct logs_line l = line_of("", LOGS_STDOUT);
    l.pod = "a b\x01";
    size_t n = logs_syslog_frame(&l, LOGS_SYSLOG_USER, "", out, sizeof(out));
    char *m = message_of(out, n);
    CHECK(strncmp(m, "<14>1 2026-12-02T05:54:39.123456Z - ms-ab12cd34-1 a_b_ stdout ", 62) == 0);
    /* No text: the message ends with the structured data. */
    CHECK(m[strlen(m) - 1] == ']');
    free(m);
    /* APP-NAME is cut at 48 characters. */
    char app[80];
    memset(app, 'a', sizeof(app) - 1);
    app[sizeof(app) - 1] = '\0';
    l.service_id = app;
    n = logs_syslog_frame(&l, LOGS_SYSLOG_USER, "h", out, sizeof(out));
    m = message_of(out, n);
    char want[64];
    snprintf(want, sizeof(want), " h %.48s ", app);
    CHECK(strstr(m, want) != NULL);
    free(m);
}

TEST(timestamp_keeps_microseconds)
{
    char out[LOGS_SYSLOG_FRAME_MAX];
    struct logs_line l = line_of("t", LOGS_STDOUT);
    l.time_us = 7; /* 1970-01-01T00:00:00.000007Z */
    size_t n = logs_syslog_frame(&l, LOGS_SYSLOG_USER, "h", out, sizeof(out));
    char *m = message_of(out, n);
    CHECK(strncmp(m, "<14>1 1970-01-01T00:00:00.000007Z h ", 36) == 0);
    free(m);
}

TEST(long_line_fits_the_frame_max_and_small_buffers_refuse)
{
    static char text[LOGS_LINE_MAX + 1];
    memset(text, 'x', LOGS_LINE_MAX);
    static char out[LOGS_SYSLOG_FRAME_MAX];
    struct logs_line l = line_of(text, LOGS_STDOUT);
    static char host[300];
    memset(host, 'h', sizeof(host) - 1);
    size_t n = logs_syslog_frame(&l, LOGS_SYSLOG_USER, host, out, sizeof(out));
    CHECK(n > LOGS_LINE_MAX);
    size_t fl;
    CHECK_EQ_INT(logs_syslog_next_frame(out, n, &fl), 0);
    CHECK_EQ_INT(fl, n);
    CHECK_EQ_INT(logs_syslog_frame(&l, LOGS_SYSLOG_USER, host, out, 1000), 0);
}

TEST(next_frame_finds_frames_and_refuses_garbage)
{
    size_t fl = 0;
    CHECK_EQ_INT(logs_syslog_next_frame("3 abc4 defg", 11, &fl), 0);
    CHECK_EQ_INT(fl, 5);
    CHECK_EQ_INT(logs_syslog_next_frame("4 defg", 6, &fl), 0);
    CHECK_EQ_INT(fl, 6);
    CHECK_EQ_INT(logs_syslog_next_frame("4 def", 5, &fl), ERR_AGAIN);
    CHECK_EQ_INT(logs_syslog_next_frame("12", 2, &fl), ERR_AGAIN);
    CHECK_EQ_INT(logs_syslog_next_frame("", 0, &fl), ERR_AGAIN);
    CHECK_EQ_INT(logs_syslog_next_frame("03 abc", 6, &fl), ERR_INVALID);
    CHECK_EQ_INT(logs_syslog_next_frame("x abc", 5, &fl), ERR_INVALID);
    CHECK_EQ_INT(logs_syslog_next_frame("3xabc", 5, &fl), ERR_INVALID);
    CHECK_EQ_INT(logs_syslog_next_frame("0 ", 2, &fl), ERR_INVALID);
    CHECK_EQ_INT(logs_syslog_next_frame("99999999 a", 10, &fl), ERR_INVALID);
}
