/* test_util.h: what the Check suites share: building tensors from literals, comparing, and
 * running the gradient checkers with a failure message that names the worst element. */
#ifndef TG_TEST_UTIL_H
#define TG_TEST_UTIL_H

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <tapegrad.h>

/* Asserts that a gradcheck report passed, printing its summary on failure. */
#define ck_assert_gradcheck(status, rep)                                                       \
    do {                                                                                       \
        ck_assert_msg((status) == TG_OK && (rep).ok, "%s", (rep).message);                     \
        ck_assert_msg((rep).n_checked > 0, "gradcheck compared nothing");                      \
    } while (0)

/* Runs a suite with Check's default (fork) mode and returns the process exit code. */
static inline int tg_test_run(Suite *s) {
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

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
