/* test_err.c - error codes, names and the one-line context. */
#include "harness.h"

#include "base/err.h"

TEST(err_set_fills_and_returns_code)
{
    struct err e = {0};
    CHECK_EQ_INT(err_set(&e, ERR_NOTFOUND, "model '%s' not found", "iris"), ERR_NOTFOUND);
    CHECK_EQ_INT(e.code, ERR_NOTFOUND);
    CHECK_STR_EQ(e.msg, "model 'iris' not found");
    CHECK_EQ_INT(err_set(NULL, ERR_INVALID, "ignored %d", 1), ERR_INVALID);
}

TEST(err_set_truncates_long_messages)
{
    struct err e;
    char big[600];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    err_set(&e, ERR_INVALID, "%s", big);
    CHECK_EQ_INT(strlen(e.msg), sizeof(e.msg) - 1);
}

TEST(err_prefix_prepends_context)
{
    struct err e;
    err_set(&e, ERR_INVALID, "bad value");
    CHECK_EQ_INT(err_prefix(&e, "config '%s': ", "m.conf"), ERR_INVALID);
    CHECK_STR_EQ(e.msg, "config 'm.conf': bad value");
    CHECK_EQ_INT(err_prefix(NULL, "x"), ERR_INTERNAL);

    char big[300];
    memset(big, 'p', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    err_set(&e, ERR_TOOBIG, "tail");
    err_prefix(&e, "%s", big);
    CHECK_EQ_INT(strlen(e.msg), sizeof(e.msg) - 1);
    CHECK_EQ_INT(e.msg[0], 'p');

    memset(e.msg, 'm', sizeof(e.msg) - 1);
    e.msg[sizeof(e.msg) - 1] = '\0';
    err_prefix(&e, "ctx: ");
    CHECK_EQ_INT(strlen(e.msg), sizeof(e.msg) - 1);
    CHECK(strncmp(e.msg, "ctx: mmm", 8) == 0);
}

TEST(names_and_strings)
{
    CHECK_STR_EQ(err_name(ERR_OK), "OK");
    CHECK_STR_EQ(err_name(ERR_AGAIN), "AGAIN");
    CHECK_STR_EQ(err_name(ERR_INVALID), "INVALID");
    CHECK_STR_EQ(err_name(ERR_NOTFOUND), "NOTFOUND");
    CHECK_STR_EQ(err_name(ERR_TOOBIG), "TOOBIG");
    CHECK_STR_EQ(err_name(ERR_EXISTS), "EXISTS");
    CHECK_STR_EQ(err_name(ERR_UNAVAILABLE), "UNAVAILABLE");
    CHECK_STR_EQ(err_name(ERR_INTERNAL), "INTERNAL");
    CHECK_STR_EQ(err_name(ERR_UNSUPPORTED), "UNSUPPORTED");
    CHECK_STR_EQ(err_name(ERR_SYS(ENOENT)), "SYS");
    CHECK_STR_EQ(err_name(-5000), "UNKNOWN");
    CHECK_STR_EQ(err_name(1), "UNKNOWN");
    CHECK_STR_EQ(err_str(ERR_OK), "success");
    CHECK_STR_EQ(err_str(ERR_TOOBIG), "too large");
    CHECK_STR_EQ(err_str(ERR_SYS(ENOENT)), "No such file or directory");
    CHECK_STR_EQ(err_str(-5000), "unknown error");
    CHECK_EQ_INT(ERR_SYS(EAGAIN), -EAGAIN);
}
