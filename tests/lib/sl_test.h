#ifndef SL_TEST_H
#define SL_TEST_H

/*
 * Minimal TAP producer (jq/SQLite spirit): SL_CHECK prints "ok N" or
 * "not ok N - expr # file:line"; SL_DONE prints the plan and returns the exit
 * code. meson runs these with protocol: 'tap'.
 */

#include <stdio.h>

static int sl_test_n, sl_test_failed;

#define SL_CHECK(cond) sl_test_check(!!(cond), #cond, __FILE__, __LINE__)
#define SL_CHECKF(cond, ...)                                                                       \
        do {                                                                                       \
                if (!sl_test_check(!!(cond), #cond, __FILE__, __LINE__)) {                         \
                        printf("#   ");                                                            \
                        printf(__VA_ARGS__);                                                       \
                        printf("\n");                                                              \
                }                                                                                  \
        } while (0)
#define SL_DONE() (printf("1..%d\n", sl_test_n), fflush(stdout), sl_test_failed ? 1 : 0)

static inline int sl_test_check(int ok, const char *expr, const char *file, int line)
{
        sl_test_n++;
        if (ok) {
                printf("ok %d - %s\n", sl_test_n, expr);
        } else {
                sl_test_failed++;
                printf("not ok %d - %s # %s:%d\n", sl_test_n, expr, file, line);
        }
        fflush(stdout);
        return ok;
}

#endif
