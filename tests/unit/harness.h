/* harness.h - a tiny TAP unit-test harness (redis testhelp.h).
 * TEST(name) { ... } registers a test; main() runs them in file order and prints
 * "ok N - name" or "not ok N - name", with "# file:line: ..." lines before a failure.
 * A failed CHECK ends the current function (the test, or the void helper it is in)
 * and marks the test failed; the binary exits 1 if any test failed.
 * A test that crashes (a signal, or a sanitizer report) still gets its "not ok" line.
 * Run one binary with a substring argument to run only the tests whose name holds it. */
#ifndef BERTH_TEST_HARNESS_H
#define BERTH_TEST_HARNESS_H

#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HARNESS_MAX_TESTS 512

struct harness_test {
    const char *name;
    void (*fn)(void);
    int line;
};

static struct harness_test harness_tests[HARNESS_MAX_TESTS];
static int harness_ntests;
static bool harness_failed; /* the running test has failed */

static inline void harness_register(const char *name, void (*fn)(void), int line)
{
    if (harness_ntests == HARNESS_MAX_TESTS) {
        fprintf(stderr, "harness: more than %d tests\n", HARNESS_MAX_TESTS);
        abort();
    }
    harness_tests[harness_ntests++] = (struct harness_test){name, fn, line};
}

/* Constructors may run in any order; main() sorts by line to keep file order. */
#define TEST(name)                                                                                 \
    static void test_##name(void);                                                                 \
    __attribute__((constructor)) static void register_##name(void)                                 \
    {                                                                                              \
        harness_register(#name, test_##name, __LINE__);                                            \
    }                                                                                              \
    static void test_##name(void)

__attribute__((format(printf, 3, 4))) static inline void harness_fail(const char *file, int line,
                                                                      const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("# %s:%d: ", file, line);
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    harness_failed = true;
}

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            harness_fail(__FILE__, __LINE__, "CHECK(%s) failed", #cond);                           \
            return;                                                                                \
        }                                                                                          \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                                         \
    do {                                                                                           \
        long long a_ = (long long)(a), b_ = (long long)(b);                                        \
        if (a_ != b_) {                                                                            \
            harness_fail(__FILE__, __LINE__, "%s == %s failed: %lld != %lld", #a, #b, a_, b_);     \
            return;                                                                                \
        }                                                                                          \
    } while (0)

#define CHECK_STR_EQ(a, b)                                                                         \
    do {                                                                                           \
        const char *a_ = (a), *b_ = (b);                                                           \
        if (!a_ || !b_ || strcmp(a_, b_) != 0) {                                                   \
            harness_fail(__FILE__, __LINE__, "%s == %s failed: \"%s\" != \"%s\"", #a, #b,          \
                         a_ ? a_ : "(null)", b_ ? b_ : "(null)");                                  \
            return;                                                                                \
        }                                                                                          \
    } while (0)

/* Equal within 'eps'; two NaNs are equal. */
#define CHECK_NEAR(a, b, eps)                                                                      \
    do {                                                                                           \
        double a_ = (double)(a), b_ = (double)(b);                                                 \
        if (!(isnan(a_) && isnan(b_)) && !(fabs(a_ - b_) <= (eps)) && a_ != b_) {                  \
            harness_fail(__FILE__, __LINE__, "%s ~= %s failed: %.17g != %.17g", #a, #b, a_, b_);   \
            return;                                                                                \
        }                                                                                          \
    } while (0)

static const char *harness_running; /* name of the test being run, for a crash */
static int harness_running_n;

static void harness_crashed(const char *why)
{
    if (!harness_running)
        return;
    fflush(stdout);
    printf("not ok %d - %s # %s\n", harness_running_n, harness_running, why);
    fflush(stdout);
    harness_running = NULL;
}

static void harness_on_signal(int sig)
{
    harness_crashed(sig == SIGABRT ? "aborted" : "crashed with a signal");
    signal(sig, SIG_DFL);
    raise(sig);
}

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define HARNESS_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define HARNESS_SANITIZER 1
#endif
#endif
#ifdef HARNESS_SANITIZER
void __sanitizer_set_death_callback(void (*callback)(void));
static void harness_on_sanitizer_death(void)
{
    harness_crashed("sanitizer report");
}
#endif

static int harness_by_line(const void *a, const void *b)
{
    return ((const struct harness_test *)a)->line - ((const struct harness_test *)b)->line;
}

int main(int argc, char **argv)
{
    const char *only = argc > 1 ? argv[1] : NULL;
    int n = 0, failed = 0;
    qsort(harness_tests, (size_t)harness_ntests, sizeof(harness_tests[0]), harness_by_line);
    static const int sigs[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
        signal(sigs[i], harness_on_signal);
#ifdef HARNESS_SANITIZER
    __sanitizer_set_death_callback(harness_on_sanitizer_death);
#endif
    for (int i = 0; i < harness_ntests; i++)
        n += !only || strstr(harness_tests[i].name, only);
    printf("1..%d\n", n);
    n = 0;
    for (int i = 0; i < harness_ntests; i++) {
        if (only && !strstr(harness_tests[i].name, only))
            continue;
        harness_failed = false;
        harness_running = harness_tests[i].name;
        harness_running_n = ++n;
        fflush(stdout);
        harness_tests[i].fn();
        harness_running = NULL;
        printf("%s %d - %s\n", harness_failed ? "not ok" : "ok", n, harness_tests[i].name);
        failed += harness_failed;
    }
    if (failed)
        printf("# %d of %d tests failed\n", failed, n);
    return failed ? 1 : 0;
}

#endif
