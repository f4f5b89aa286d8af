/* test_util.h: what the Check suites share: building tensors from literals, comparing, and
 * running the gradient checkers with a failure message that names the worst element. */
#ifndef TG_TEST_UTIL_H
#define TG_TEST_UTIL_H

#include <check.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tapegrad.h>

/* Asserts that a gradcheck report passed, printing its summary on failure. */
#define ck_assert_gradcheck(status, rep)                                                       \
    do {                                                                                       \
        ck_assert_msg((status) == TG_OK && (rep).ok, "%s", (rep).message);                     \
        ck_assert_msg((rep).n_checked > 0, "gradcheck compared nothing");                      \
    } while (0)

/* Asserts cond for every i in [0, n), naming the first i where it fails. Each passing
 * ck_assert costs Check a write to its report file, so an assert per element of a large
 * buffer spends seconds natively, minutes under AddressSanitizer or emulation: this walks the
 * elements in plain C and asserts once, at the first bad one (cond is evaluated again there,
 * so it must have no side effects). */
#define tg_ck_assert_each(i, n, cond, ...)                                                     \
    do {                                                                                       \
        int64_t i = 0, tg_each_n_ = (n);                                                       \
        while (i < tg_each_n_ && (cond)) i++;                                                  \
        if (i < tg_each_n_) ck_assert_msg(cond, __VA_ARGS__);                                  \
    } while (0)

/* Runs a suite with Check's default (fork) mode and returns the process exit code. */
static inline int tg_test_run(Suite *s) {
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/* Sets CPU level l when this machine runs it and returns true; otherwise (a level this CPU
 * lacks, or one of the other architecture, which tg_set_cpu_level maps to another) puts the
 * best level back and returns false. For loops over every level that skip the absent ones.
 * TG_TEST_LEVELS, a comma-separated list of level names, skips the levels it does not name:
 * tools/test runs the ARM build under emulation, many times slower, with TG_TEST_LEVELS=neon,
 * since the portable C loops are the same source the native runs test at every level. */
static inline bool tg_test_enter_level(tg_cpu_level l) {
    const char *only = getenv("TG_TEST_LEVELS");
    if (only && *only) {
        const char *name = tg_cpu_level_name(l);
        size_t len = strlen(name);
        bool named = false;
        for (const char *p = only; *p && !named; p += strcspn(p, ",") + (p[strcspn(p, ",")] != 0))
            named = strcspn(p, ",") == len && strncmp(p, name, len) == 0;
        if (!named) {
            tg_set_cpu_level(tg_cpu_best_level());
            return false;
        }
    }
    if (tg_set_cpu_level(l) == l) return true;
    tg_set_cpu_level(tg_cpu_best_level());
    return false;
}

/* True under user-mode emulation (tools/test sets TG_TEST_QEMU for its qemu-aarch64 run),
 * where code runs tens of times slower: the biggest sweeps use fewer thread counts or layouts
 * there (each says what it cuts). Emulation on an x86-64 host cannot show ARM's weaker memory
 * ordering anyway, so what it proves is the NEON kernels' arithmetic, which the cut sweeps
 * still reach at every size. */
static inline bool tg_test_emulated(void) {
    const char *qemu = getenv("TG_TEST_QEMU");
    return qemu && *qemu;
}

/* Every level of the enum, for such loops: portable, the x86 ones, NEON. */
static const tg_cpu_level tg_test_all_levels[] = {TG_CPU_PORTABLE, TG_CPU_AVX2, TG_CPU_AVX512,
                                                  TG_CPU_NEON};
enum { TG_TEST_N_LEVELS = (int)(sizeof tg_test_all_levels / sizeof tg_test_all_levels[0]) };

/* Max |a[i] - b[i]| over n doubles. */
static inline double tg_test_max_diff(const double *a, const double *b, int64_t n) {
    double m = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs(a[i] - b[i]);
        if (d > m || isnan(d)) m = d;
    }
    return m;
}

/* Index of the first of x's n elements (row-major) that differs from want[] by more than tol,
 * -1 when all are close and n matches x's size; x's size when the sizes differ. */
static inline int64_t tg_test_first_mismatch(const tg_tensor *x, const double *want, int64_t n,
                                             double tol) {
    if (!x || tg_tensor_numel(x) != n) return tg_tensor_numel(x);
    for (int64_t i = 0; i < n; i++) {
        double d = fabs(tg_tensor_get(x, i) - want[i]);
        if (!(d <= tol)) return i;
    }
    return -1;
}

/* Asserts that tensor x holds want[0..n) within an absolute tolerance, naming the element. */
#define ck_assert_tensor_near(x, want, n, tol)                                                  \
    do {                                                                                       \
        const tg_tensor *x_ = (x);                                                             \
        int64_t bad_ = tg_test_first_mismatch(x_, (want), (n), (tol));                         \
        ck_assert_msg(bad_ < 0, "%s: element %lld is %.17g, want %.17g (numel %lld)", #x,      \
                      (long long)bad_, bad_ < (n) ? tg_tensor_get(x_, bad_) : NAN,             \
                      bad_ < (n) ? (want)[bad_] : NAN, (long long)tg_tensor_numel(x_));        \
    } while (0)

#endif
