/* test_gradcheck.c: the finite-difference checkers (src/graph/gradcheck.c) pass on correct
 * gradients and, more importantly, FAIL on wrong ones, naming the worst Jacobian entry.
 *
 * Wrong gradients are built with a "detached" copy: a value computed with recording off has
 * the right value but no graph, so the analytic gradient misses its contribution while the
 * finite differences (which re-run the whole function) see it. */
#include <string.h>

#include "test_util.h"

/* x's value as a constant: recorded nowhere, so no gradient flows through it. */
static tg_tensor *detached(tg_tape *t, tg_tensor *x) {
    bool was = tg_tape_set_grad_enabled(t, false);
    tg_tensor *d = tg_contiguous(t, x);
    tg_tape_set_grad_enabled(t, was);
    return d;
}

static tg_tensor *input(tg_tape *t, tg_dtype dt, int ndim, const int64_t *shape, const double *v) {
    tg_tensor *x = tg_zeros(t, dt, ndim, shape);
    ck_assert_ptr_nonnull(x);
    ck_assert_int_eq(tg_tensor_copy_in(x, TG_F64, v), TG_OK);
    return x;
}

/* ---- functions under test ---- */

/* tanh(a * b) + exp(a) / 4: smooth, both inputs used. */
static int smooth2(tg_tape *t, tg_tensor *const *in, tg_tensor **out, void *ctx) {
    (void)ctx;
    out[0] =
        tg_add(t, tg_tanh(t, tg_mul(t, in[0], in[1])), tg_mul_scalar(t, tg_exp(t, in[0]), 0.25));
    return out[0] ? 1 : -1;
}

/* tanh(a @ b): smooth, a (2, 3) b (3, 2). */
static int mm_tanh(tg_tape *t, tg_tensor *const *in, tg_tensor **out, void *ctx) {
    (void)ctx;
    out[0] = tg_tanh(t, tg_matmul(t, in[0], in[1]));
    return out[0] ? 1 : -1;
}

/* 2a + b * detached(b): the value is 2a + b^2, the analytic d/db is b instead of 2b. */
static int wrong_square(tg_tape *t, tg_tensor *const *in, tg_tensor **out, void *ctx) {
    bool *constant_b = ctx;
    if (constant_b) *constant_b = !tg_tensor_requires_grad(in[1]);
    out[0] = tg_add(t, tg_mul_scalar(t, in[0], 2.0), tg_mul(t, in[1], detached(t, in[1])));
    return out[0] ? 1 : -1;
}

/* Two outputs: a * b, and sum over axis 1 of b * detached(b) (whose d/db is wrong). */
static int two_outputs(tg_tape *t, tg_tensor *const *in, tg_tensor **out, void *ctx) {
    bool wrong = ctx != NULL;
    out[0] = tg_mul(t, in[0], in[1]);
    tg_tensor *sq = wrong ? tg_mul(t, in[1], detached(t, in[1])) : tg_mul(t, in[1], in[1]);
    out[1] = tg_sum(t, sq, 1, (const int[]){1}, false);
    return out[0] && out[1] ? 2 : -1;
}

/* x^3 as g(x, d) = 2x^3 - 2x^2 d + x d^2 with d = detached(x). At d = x the value is x^3 and
 * the analytic first derivative g_x = 6x^2 - 4xd + d^2 = 3x^2 is right, but differentiating
 * g_x again with d held constant gives 12x - 4d = 8x instead of 6x. */
static int right_first_wrong_second(tg_tape *t, tg_tensor *const *in, tg_tensor **out, void *ctx) {
    (void)ctx;
    tg_tensor *x = in[0], *d = detached(t, x);
    tg_tensor *x2 = tg_mul(t, x, x);
    tg_tensor *a = tg_mul_scalar(t, tg_mul(t, x2, x), 2.0);
    tg_tensor *b = tg_mul_scalar(t, tg_mul(t, x2, d), -2.0);
    tg_tensor *c = tg_mul(t, x, tg_mul(t, d, d));
    out[0] = tg_add(t, tg_add(t, a, b), c);
    return out[0] ? 1 : -1;
}

/* x^3 the honest way. */
static int cube(tg_tape *t, tg_tensor *const *in, tg_tensor **out, void *ctx) {
    (void)ctx;
    out[0] = tg_mul(t, tg_mul(t, in[0], in[0]), in[0]);
    return out[0] ? 1 : -1;
}

/* Fails with a shape error. */
static int broken(tg_tape *t, tg_tensor *const *in, tg_tensor **out, void *ctx) {
    (void)ctx;
    out[0] = tg_add(t, in[0], tg_ones(t, tg_tensor_dtype(in[0]), TG_SHAPE(7)));
    return out[0] ? 1 : -1;
}

/* ---- first order ---- */

static const double AV[] = {0.3, -0.7, 1.1, 0.5, -0.2, 0.9};
static const double BV[] = {-0.4, 0.8, 0.6, -1.3, 0.25, 0.7}; /* largest |b| at index 3 */

START_TEST(test_passes_on_correct_ops) {
    tg_tape *t = tg_tape_new();
    tg_tensor *in[2] = {input(t, TG_F64, TG_SHAPE(2, 3), AV), input(t, TG_F64, TG_SHAPE(2, 3), BV)};
    tg_gradcheck_report rep;
    tg_status st = tg_gradcheck(smooth2, NULL, 2, in, NULL, &rep);
    ck_assert_gradcheck(st, rep);
    ck_assert_int_eq(rep.n_checked, 6 * 12); /* outputs x checked input elements */
    ck_assert_double_lt(rep.abs_err, 1e-5);
    ck_assert_int_eq(strncmp(rep.message, "ok", 2), 0);
    ck_assert_ptr_nonnull(strstr(rep.message, "atol 1e-05 rtol 0.001"));

    tg_tensor *mm[2] = {input(t, TG_F64, TG_SHAPE(2, 3), AV), input(t, TG_F64, TG_SHAPE(3, 2), BV)};
    st = tg_gradcheck(mm_tanh, NULL, 2, mm, NULL, &rep);
    ck_assert_gradcheck(st, rep);
    ck_assert_int_eq(rep.n_checked, 4 * 12);
    /* The inputs were only read. */
    for (int i = 0; i < 6; i++) ck_assert(tg_tensor_get(mm[1], i) == BV[i]);
    tg_tape_free(t);
}
END_TEST

/* Inputs may be views: the checker copies their logical values. */
START_TEST(test_view_inputs) {
    tg_tape *t = tg_tape_new();
    tg_tensor *base = input(t, TG_F64, TG_SHAPE(3, 2), BV);
    tg_tensor *in[2] = {input(t, TG_F64, TG_SHAPE(2, 3), AV), tg_transpose(t, base, 0, 1)};
    tg_gradcheck_report rep;
    ck_assert_gradcheck(tg_gradcheck(smooth2, NULL, 2, in, NULL, &rep), rep);
    ck_assert_int_eq(rep.n_checked, 72);
    /* The wrong gradient is found at the right place in the view's logical order: the view's
     * largest |b| is base[3] = -1.3 = view element (1, 1), flat index 4. */
    tg_tensor *in2[2] = {in[0], in[1]};
    ck_assert_int_eq(tg_gradcheck(wrong_square, NULL, 2, in2, NULL, &rep), TG_OK);
    ck_assert(!rep.ok);
    ck_assert_int_eq(rep.worst_input, 1);
    ck_assert_int_eq(rep.worst_index, 4);
    tg_tape_free(t);
}
END_TEST

START_TEST(test_fails_on_wrong_gradient) {
    tg_tape *t = tg_tape_new();
    tg_tensor *in[2] = {input(t, TG_F64, TG_SHAPE(2, 3), AV), input(t, TG_F64, TG_SHAPE(2, 3), BV)};
    tg_gradcheck_report rep;
    ck_assert_int_eq(tg_gradcheck(wrong_square, NULL, 2, in, NULL, &rep), TG_OK);
    ck_assert_int_eq(rep.status, TG_OK);
    ck_assert(!rep.ok);
    ck_assert_int_eq(rep.n_checked, 6 * 12);
    /* d out_j / d b_j is b_j analytically, 2 b_j numerically: the error |b_j| relative to
     * its tolerance atol + rtol * 2|b_j| grows with |b_j|, so the worst entry is the diagonal
     * one at the largest |b|, index 3 (-1.3). */
    ck_assert_int_eq(rep.worst_input, 1);
    ck_assert_int_eq(rep.worst_index, 3);
    ck_assert_int_eq(rep.worst_output, 0);
    ck_assert_int_eq(rep.worst_out_index, 3);
    ck_assert_double_eq_tol(rep.analytic, -1.3, 1e-12);
    ck_assert_double_eq_tol(rep.numeric, -2.6, 1e-7);
    ck_assert_double_eq_tol(rep.abs_err, 1.3, 1e-7);
    ck_assert_double_eq_tol(rep.rel_err, 0.5, 1e-7);
    ck_assert_ptr_nonnull(strstr(rep.message, "MISMATCH"));
    ck_assert_ptr_nonnull(strstr(rep.message, "input 1 [3]"));
    tg_tape_free(t);
}
END_TEST

/* check_mask: unchecked inputs are constants (no gradient asked for) and are skipped. */
START_TEST(test_check_mask) {
    tg_tape *t = tg_tape_new();
    tg_tensor *in[2] = {input(t, TG_F64, TG_SHAPE(2, 3), AV), input(t, TG_F64, TG_SHAPE(2, 3), BV)};
    tg_gradcheck_options o = {0};
    o.check_mask = 1u; /* input 0 only: the wrong d/db is never compared */
    tg_gradcheck_report rep;
    bool b_constant = false;
    ck_assert_gradcheck(tg_gradcheck(wrong_square, &b_constant, 2, in, &o, &rep), rep);
    ck_assert_int_eq(rep.n_checked, 6 * 6);
    ck_assert_int_eq(rep.worst_input, 0);
    ck_assert(b_constant);
    /* Checking input 1 alone finds it. */
    o.check_mask = 2u;
    ck_assert_int_eq(tg_gradcheck(wrong_square, &b_constant, 2, in, &o, &rep), TG_OK);
    ck_assert(!rep.ok);
    ck_assert(!b_constant);
    ck_assert_int_eq(rep.n_checked, 6 * 6);
    ck_assert_int_eq(rep.worst_input, 1);
    ck_assert_int_eq(rep.worst_index, 3);
    tg_tape_free(t);
}
END_TEST

START_TEST(test_multi_output) {
    tg_tape *t = tg_tape_new();
    tg_tensor *in[2] = {input(t, TG_F64, TG_SHAPE(2, 3), AV), input(t, TG_F64, TG_SHAPE(2, 3), BV)};
    tg_gradcheck_report rep;
    ck_assert_gradcheck(tg_gradcheck(two_outputs, NULL, 2, in, NULL, &rep), rep);
    ck_assert_int_eq(rep.n_checked, (6 + 2) * 12);
    /* Wrong only in output 1 = sum_k b_jk^2 over rows j: the analytic d/db_jk is b_jk. */
    ck_assert_int_eq(tg_gradcheck(two_outputs, (void *)1, 2, in, NULL, &rep), TG_OK);
    ck_assert(!rep.ok);
    ck_assert_int_eq(rep.worst_output, 1);
    ck_assert_int_eq(rep.worst_out_index, 1); /* row 1 holds b[3] = -1.3 */
    ck_assert_int_eq(rep.worst_input, 1);
    ck_assert_int_eq(rep.worst_index, 3);
    ck_assert_double_eq_tol(rep.analytic, -1.3, 1e-12);
    ck_assert_double_eq_tol(rep.numeric, -2.6, 1e-7);
    tg_tape_free(t);
}
END_TEST

/* f32 inputs: the f32 defaults apply and correct ops pass; wrong gradients still fail. */
START_TEST(test_f32_defaults) {
    tg_tape *t = tg_tape_new();
    tg_tensor *in[2] = {input(t, TG_F32, TG_SHAPE(2, 3), AV), input(t, TG_F32, TG_SHAPE(3, 2), BV)};
    tg_gradcheck_report rep;
    ck_assert_gradcheck(tg_gradcheck(mm_tanh, NULL, 2, in, NULL, &rep), rep);
    ck_assert_ptr_nonnull(strstr(rep.message, "atol 0.01 rtol 0.01"));
    ck_assert_int_eq(rep.n_checked, 4 * 12);
    tg_tensor *sq[2] = {input(t, TG_F32, TG_SHAPE(2, 3), AV), input(t, TG_F32, TG_SHAPE(2, 3), BV)};
    ck_assert_gradcheck(tg_gradcheck(smooth2, NULL, 2, sq, NULL, &rep), rep);
    ck_assert_int_eq(tg_gradcheck(wrong_square, NULL, 2, sq, NULL, &rep), TG_OK);
    ck_assert(!rep.ok);
    ck_assert_int_eq(rep.worst_input, 1);
    ck_assert_int_eq(rep.worst_index, 3);
    ck_assert_double_eq_tol(rep.numeric, -2.6, 1e-3);
    tg_tape_free(t);
}
END_TEST

START_TEST(test_errors_reported) {
    tg_tape *t = tg_tape_new();
    tg_tensor *in[2] = {input(t, TG_F64, TG_SHAPE(2, 3), AV), NULL};
    tg_gradcheck_report rep;
    ck_assert_int_eq(tg_gradcheck(broken, NULL, 1, in, NULL, &rep), TG_ERR_SHAPE);
    ck_assert(!rep.ok);
    ck_assert_int_eq(rep.status, TG_ERR_SHAPE);
    ck_assert_ptr_nonnull(strstr(rep.message, "(2, 3)"));
    ck_assert_int_eq(tg_gradcheck(smooth2, NULL, 2, in, NULL, &rep), TG_ERR_NULL);
    ck_assert(!rep.ok);
    ck_assert_int_eq(tg_gradcheck(NULL, NULL, 1, in, NULL, &rep), TG_ERR_ARG);
    ck_assert_int_eq(tg_gradcheck(smooth2, NULL, 0, in, NULL, &rep), TG_ERR_ARG);
    ck_assert_int_eq(tg_gradcheck(smooth2, NULL, TG_GRADCHECK_MAX_INPUTS + 1, in, NULL, &rep),
                     TG_ERR_ARG);
    /* The report is optional. */
    ck_assert_int_eq(tg_gradcheck(broken, NULL, 1, in, NULL, NULL), TG_ERR_SHAPE);
    ck_assert_int_eq(tg_gradgradcheck(broken, NULL, 1, in, NULL, NULL), TG_ERR_SHAPE);
    tg_tape_free(t);
}
END_TEST

/* ---- second order ---- */

START_TEST(test_gradgradcheck_passes) {
    tg_tape *t = tg_tape_new();
    tg_tensor *in[2] = {input(t, TG_F64, TG_SHAPE(2, 3), AV), input(t, TG_F64, TG_SHAPE(2, 3), BV)};
    tg_gradcheck_report rep;
    ck_assert_gradcheck(tg_gradgradcheck(smooth2, NULL, 2, in, NULL, &rep), rep);
    /* The checked function is (a, b, v) -> (grad_a, grad_b): 12 outputs, 18 inputs. */
    ck_assert_int_eq(rep.n_checked, 12 * 18);
    tg_tensor *mm[2] = {input(t, TG_F64, TG_SHAPE(2, 3), AV), input(t, TG_F64, TG_SHAPE(3, 2), BV)};
    ck_assert_gradcheck(tg_gradgradcheck(mm_tanh, NULL, 2, mm, NULL, &rep), rep);
    ck_assert_int_eq(rep.n_checked, 12 * (12 + 4));
    /* With a mask: only a's gradient is an output, v and a are checked. */
    tg_gradcheck_options o = {0};
    o.check_mask = 1u;
    ck_assert_gradcheck(tg_gradgradcheck(mm_tanh, NULL, 2, mm, &o, &rep), rep);
    ck_assert_int_eq(rep.n_checked, 6 * (6 + 4));
    tg_tape_free(t);
}
END_TEST

START_TEST(test_gradgradcheck_fails_on_wrong_second) {
    tg_tape *t = tg_tape_new();
    const double xv[] = {0.5, -1.2, 0.8, 1.5};
    tg_tensor *x = input(t, TG_F64, TG_SHAPE(4), xv);
    tg_gradcheck_report rep;
    /* The first derivative is right ... */
    ck_assert_gradcheck(tg_gradcheck(right_first_wrong_second, NULL, 1, &x, NULL, &rep), rep);
    /* ... the second is not: the analytic d/dx of v 3x^2 comes out as 8xv, not 6xv. */
    ck_assert_int_eq(tg_gradgradcheck(right_first_wrong_second, NULL, 1, &x, NULL, &rep), TG_OK);
    ck_assert(!rep.ok);
    ck_assert_int_eq(rep.n_checked, 4 * 8);
    ck_assert_int_eq(rep.worst_input, 0);                   /* x, not the weights v */
    ck_assert_int_eq(rep.worst_index, rep.worst_out_index); /* the Jacobian is diagonal */
    ck_assert_double_eq_tol(rep.analytic / rep.numeric, 8.0 / 6.0, 1e-5);
    /* A correct cube passes the same check. */
    ck_assert_gradcheck(tg_gradgradcheck(cube, NULL, 1, &x, NULL, &rep), rep);
    ck_assert_int_eq(rep.n_checked, 4 * 8);
    tg_tape_free(t);
}
END_TEST

START_TEST(test_gradgradcheck_f32) {
    tg_tape *t = tg_tape_new();
    tg_tensor *in[2] = {input(t, TG_F32, TG_SHAPE(2, 3), AV), input(t, TG_F32, TG_SHAPE(3, 2), BV)};
    tg_gradcheck_report rep;
    ck_assert_gradcheck(tg_gradgradcheck(mm_tanh, NULL, 2, in, NULL, &rep), rep);
    tg_tape_free(t);
}
END_TEST

static Suite *gradcheck_suite(void) {
    Suite *s = suite_create("graph_gradcheck");
    TCase *first = tcase_create("first_order");
    tcase_set_timeout(first, 60);
    tcase_add_test(first, test_passes_on_correct_ops);
    tcase_add_test(first, test_view_inputs);
    tcase_add_test(first, test_fails_on_wrong_gradient);
    tcase_add_test(first, test_check_mask);
    tcase_add_test(first, test_multi_output);
    tcase_add_test(first, test_f32_defaults);
    tcase_add_test(first, test_errors_reported);
    suite_add_tcase(s, first);
    TCase *second = tcase_create("second_order");
    tcase_set_timeout(second, 60);
    tcase_add_test(second, test_gradgradcheck_passes);
    tcase_add_test(second, test_gradgradcheck_fails_on_wrong_second);
    tcase_add_test(second, test_gradgradcheck_f32);
    suite_add_tcase(s, second);
    return s;
}

int main(void) { return tg_test_run(gradcheck_suite()); }
