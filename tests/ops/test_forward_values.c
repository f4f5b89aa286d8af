/* test_forward_values.c: each op's forward result on small literal examples, against values
 * worked out by hand in this file (never taken from tapegrad's own output).
 *
 * Every test runs twice, in f32 and in f64 (a Check loop test over the dtype). Results that are
 * exact in both precisions (integer arithmetic, halves, sigmoid's saturation) must match
 * exactly; transcendental ones within a few ulps of the reference computed here in double. */
#include <check.h>
#include <math.h>

#include "test_util.h"

/* The loop index is the dtype: TG_F32 (0) and TG_F64 (1). */
#define DT ((tg_dtype)_i)
/* A double array literal: V(1, 2, 3). */
#define V(...) ((const double[]){__VA_ARGS__})

/* Relative tolerance for results that go through libm (exp, log, tanh, sigmoid). */
static double tol_of(tg_dtype dt) { return dt == TG_F64 ? 1e-14 : 1e-6; }

/* A tensor of dtype dt holding the given values (row-major). */
static tg_tensor *lit(tg_tape *t, tg_dtype dt, int ndim, const int64_t *shape,
                      const double *vals) {
    tg_tensor *x = tg_zeros(t, dt, ndim, shape);
    ck_assert_ptr_nonnull(x);
    ck_assert_int_eq(tg_tensor_copy_in(x, TG_F64, vals), TG_OK);
    return x;
}

/* Checks y's dtype, shape and values: |y - want| <= rtol |want| (so a zero must be exact). */
static void expect_at(int line, tg_tape *t, tg_dtype dt, const tg_tensor *y, int ndim,
                      const int64_t *shape, const double *want, double rtol) {
    ck_assert_msg(y != NULL, "line %d: the op failed: %s", line, tg_tape_error(t));
    ck_assert_msg(tg_tape_status(t) == TG_OK, "line %d: error on the tape: %s", line,
                  tg_tape_error(t));
    ck_assert_msg(tg_tensor_dtype(y) == dt, "line %d: dtype %s, want %s", line,
                  tg_dtype_name(tg_tensor_dtype(y)), tg_dtype_name(dt));
    ck_assert_msg(tg_tensor_ndim(y) == ndim, "line %d: %d dimensions, want %d", line,
                  tg_tensor_ndim(y), ndim);
    for (int d = 0; d < ndim; d++)
        ck_assert_msg(tg_tensor_dim(y, d) == shape[d], "line %d: dimension %d is %lld, want %lld",
                      line, d, (long long)tg_tensor_dim(y, d), (long long)shape[d]);
    for (int64_t i = 0; i < tg_tensor_numel(y); i++) {
        double got = tg_tensor_get(y, i);
        ck_assert_msg(got == want[i] || fabs(got - want[i]) <= rtol * fabs(want[i]),
                      "line %d (%s): element %lld is %.17g, want %.17g", line,
                      tg_dtype_name(dt), (long long)i, got, want[i]);
    }
}

/* EXPECT(y, TG_SHAPE(2, 3), V(...)) for exact results; EXPECT_NEAR with a tolerance. */
#define EXPECT(y, ...) expect_at(__LINE__, t, DT, y, __VA_ARGS__, 0.0)
#define EXPECT_NEAR(y, ...) expect_at(__LINE__, t, DT, y, __VA_ARGS__, tol_of(DT))

static double sigmoid_ref(double x) { return 1.0 / (1.0 + exp(-x)); }

/* ---- elementwise arithmetic ---- */

START_TEST(add_broadcasts_a_row) {
    tg_tape *t = tg_tape_new();
    tg_tensor *a = lit(t, DT, TG_SHAPE(2, 3), V(1, 2, 3, 4, 5, 6));
    tg_tensor *b = lit(t, DT, TG_SHAPE(3), V(10, 20, 30));
    EXPECT(tg_add(t, a, b), TG_SHAPE(2, 3), V(11, 22, 33, 14, 25, 36));
    EXPECT(tg_add(t, b, a), TG_SHAPE(2, 3), V(11, 22, 33, 14, 25, 36));
    tg_tape_free(t);
}
END_TEST

START_TEST(sub_broadcasts_both_ways) {
    tg_tape *t = tg_tape_new();
    tg_tensor *a = lit(t, DT, TG_SHAPE(3, 1), V(1, 2, 3));
    tg_tensor *b = lit(t, DT, TG_SHAPE(1, 2), V(10, 20));
    EXPECT(tg_sub(t, a, b), TG_SHAPE(3, 2), V(-9, -19, -8, -18, -7, -17));
    EXPECT(tg_sub(t, b, a), TG_SHAPE(3, 2), V(9, 19, 8, 18, 7, 17));
    tg_tape_free(t);
}
END_TEST

START_TEST(mul_by_0d_and_scalar_like) {
    tg_tape *t = tg_tape_new();
    tg_tensor *a = lit(t, DT, TG_SHAPE(2, 2), V(1, -2, 3, -4));
    tg_tensor *half = tg_scalar(t, DT, 0.5);
    tg_tensor *three = lit(t, DT, TG_SHAPE(1), V(3));
    EXPECT(tg_mul(t, a, half), TG_SHAPE(2, 2), V(0.5, -1, 1.5, -2));
    EXPECT(tg_mul(t, three, a), TG_SHAPE(2, 2), V(3, -6, 9, -12));
    EXPECT(tg_mul(t, half, half), TG_SCALAR_SHAPE, V(0.25));
    tg_tape_free(t);
}
END_TEST

START_TEST(div_elementwise_and_broadcast) {
    tg_tape *t = tg_tape_new();
    tg_tensor *a = lit(t, DT, TG_SHAPE(2, 2), V(1, 2, 3, -4));
    tg_tensor *b = lit(t, DT, TG_SHAPE(2, 2), V(2, 4, 8, 16));
    tg_tensor *c = lit(t, DT, TG_SHAPE(2), V(2, -4));
    EXPECT(tg_div(t, a, b), TG_SHAPE(2, 2), V(0.5, 0.5, 0.375, -0.25));
    EXPECT(tg_div(t, a, c), TG_SHAPE(2, 2), V(0.5, -0.5, 1.5, 1));
    /* 2/3 is rounded in either precision: compared within the dtype's tolerance. */
    EXPECT_NEAR(tg_div(t, c, a), TG_SHAPE(2, 2), V(2, -2, 2.0 / 3.0, 1));
    tg_tape_free(t);
}
END_TEST

START_TEST(scalar_ops_and_neg) {
    tg_tape *t = tg_tape_new();
    tg_tensor *x = lit(t, DT, TG_SHAPE(4), V(-1, 0, 0.5, 2));
    EXPECT(tg_add_scalar(t, x, 1.5), TG_SHAPE(4), V(0.5, 1.5, 2, 3.5));
    EXPECT(tg_mul_scalar(t, x, -2), TG_SHAPE(4), V(2, -0.0, -1, -4));
    EXPECT(tg_neg(t, x), TG_SHAPE(4), V(1, -0.0, -0.5, -2));
    tg_tape_free(t);
}
END_TEST

/* ---- matmul ---- */

START_TEST(matmul_2x3_by_3x2) {
    tg_tape *t = tg_tape_new();
    tg_tensor *a = lit(t, DT, TG_SHAPE(2, 3), V(1, 2, 3, 4, 5, 6));
    tg_tensor *b = lit(t, DT, TG_SHAPE(3, 2), V(7, 8, 9, 10, 11, 12));
    /* [1 2 3; 4 5 6] [7 8; 9 10; 11 12] = [58 64; 139 154] */
    EXPECT(tg_matmul(t, a, b), TG_SHAPE(2, 2), V(58, 64, 139, 154));
    /* The same product with a stored transposed: a^T held as (3,2), viewed back. */
    tg_tensor *at = lit(t, DT, TG_SHAPE(3, 2), V(1, 4, 2, 5, 3, 6));
    EXPECT(tg_matmul(t, tg_transpose(t, at, 0, 1), b), TG_SHAPE(2, 2), V(58, 64, 139, 154));
    /* b a: [7 8; 9 10; 11 12] [1 2 3; 4 5 6] */
    EXPECT(tg_matmul(t, b, a), TG_SHAPE(3, 3),
           V(39, 54, 69, 49, 68, 87, 59, 82, 105));
    tg_tape_free(t);
}
END_TEST

START_TEST(matmul_batched_and_broadcast) {
    tg_tape *t = tg_tape_new();
    /* batch 0: [1 2; 3 4] [5 6; 7 8] = [19 22; 43 50]
     * batch 1: [2 0; 0 3] [1 2; 3 4] = [2 4; 9 12] */
    tg_tensor *a = lit(t, DT, TG_SHAPE(2, 2, 2), V(1, 2, 3, 4, 2, 0, 0, 3));
    tg_tensor *b = lit(t, DT, TG_SHAPE(2, 2, 2), V(5, 6, 7, 8, 1, 2, 3, 4));
    EXPECT(tg_matmul(t, a, b), TG_SHAPE(2, 2, 2), V(19, 22, 43, 50, 2, 4, 9, 12));
    /* One matrix for both batches: [5 6; 7 8] against each a. */
    tg_tensor *m = lit(t, DT, TG_SHAPE(2, 2), V(5, 6, 7, 8));
    EXPECT(tg_matmul(t, a, m), TG_SHAPE(2, 2, 2), V(19, 22, 43, 50, 10, 12, 21, 24));
    /* (1,2,2) @ (2,2,2): the left batch of one repeats. */
    tg_tensor *a1 = lit(t, DT, TG_SHAPE(1, 2, 2), V(1, 2, 3, 4));
    EXPECT(tg_matmul(t, a1, b), TG_SHAPE(2, 2, 2), V(19, 22, 43, 50, 7, 10, 15, 22));
    tg_tape_free(t);
}
END_TEST

/* ---- reductions ---- */

START_TEST(sum_and_mean_over_axes) {
    tg_tape *t = tg_tape_new();
    tg_tensor *x = lit(t, DT, TG_SHAPE(2, 3), V(1, 2, 3, 4, 5, 6));
    EXPECT(tg_sum(t, x, 1, (int[]){0}, false), TG_SHAPE(3), V(5, 7, 9));
    EXPECT(tg_sum(t, x, 1, (int[]){0}, true), TG_SHAPE(1, 3), V(5, 7, 9));
    EXPECT(tg_sum(t, x, 1, (int[]){1}, false), TG_SHAPE(2), V(6, 15));
    EXPECT(tg_sum(t, x, 1, (int[]){-1}, true), TG_SHAPE(2, 1), V(6, 15));
    EXPECT(tg_sum(t, x, 0, NULL, false), TG_SHAPE(2, 3), V(1, 2, 3, 4, 5, 6));
    EXPECT(tg_sum_all(t, x), TG_SCALAR_SHAPE, V(21));
    EXPECT(tg_mean(t, x, 1, (int[]){1}, true), TG_SHAPE(2, 1), V(2, 5));
    EXPECT(tg_mean(t, x, 1, (int[]){0}, false), TG_SHAPE(3), V(2.5, 3.5, 4.5));
    EXPECT(tg_mean_all(t, x), TG_SCALAR_SHAPE, V(3.5));

    /* (2,2,3) holding 1..12: over axes 0 and 2, index 1 keeps rows {1,2,3,7,8,9} and
     * {4,5,6,10,11,12}: sums 30 and 48, means 5 and 8. */
    tg_tensor *y = lit(t, DT, TG_SHAPE(2, 2, 3), V(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12));
    EXPECT(tg_sum(t, y, 2, (int[]){0, 2}, false), TG_SHAPE(2), V(30, 48));
    EXPECT(tg_sum(t, y, 2, (int[]){-1, -3}, true), TG_SHAPE(1, 2, 1), V(30, 48));
    EXPECT(tg_mean(t, y, 2, (int[]){0, 2}, true), TG_SHAPE(1, 2, 1), V(5, 8));
    /* Over axis 1 of the transposed view (3,2): the rows of x summed, 6 and 15. */
    EXPECT(tg_sum(t, tg_transpose(t, x, 0, 1), 1, (int[]){0}, false), TG_SHAPE(2), V(6, 15));
    tg_tape_free(t);
}
END_TEST

/* ---- views and layout ---- */

START_TEST(slice_with_steps_and_negative_start) {
    tg_tape *t = tg_tape_new();
    tg_tensor *x = lit(t, DT, TG_SHAPE(10), V(0, 1, 2, 3, 4, 5, 6, 7, 8, 9));
    EXPECT(tg_slice(t, x, 0, 1, 8, 3), TG_SHAPE(3), V(1, 4, 7));
    EXPECT(tg_slice(t, x, 0, -3, INT64_MAX, 1), TG_SHAPE(3), V(7, 8, 9));
    EXPECT(tg_slice(t, x, 0, -4, -1, 2), TG_SHAPE(2), V(6, 8));
    EXPECT(tg_slice(t, x, 0, 8, 100, 1), TG_SHAPE(2), V(8, 9));
    tg_tensor *m = lit(t, DT, TG_SHAPE(3, 4), V(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11));
    EXPECT(tg_slice(t, m, 1, 0, 4, 2), TG_SHAPE(3, 2), V(0, 2, 4, 6, 8, 10));
    EXPECT(tg_slice(t, m, 0, -2, INT64_MAX, 1), TG_SHAPE(2, 4), V(4, 5, 6, 7, 8, 9, 10, 11));
    EXPECT(tg_slice(t, tg_slice(t, m, 1, 1, 4, 2), 0, 0, 3, 2), TG_SHAPE(2, 2), V(1, 3, 9, 11));
    tg_tape_free(t);
}
END_TEST

START_TEST(slice_embed_places_and_zero_fills) {
    tg_tape *t = tg_tape_new();
    tg_tensor *x = lit(t, DT, TG_SHAPE(2), V(1, 2));
    EXPECT(tg_slice_embed(t, x, TG_SHAPE(5), 0, 1, 5, 2), TG_SHAPE(5), V(0, 1, 0, 2, 0));
    tg_tensor *r = lit(t, DT, TG_SHAPE(1, 2), V(7, 8));
    EXPECT(tg_slice_embed(t, r, TG_SHAPE(3, 2), 0, -2, -1, 1), TG_SHAPE(3, 2),
           V(0, 0, 7, 8, 0, 0));
    tg_tape_free(t);
}
END_TEST

START_TEST(permute_moves_every_element) {
    tg_tape *t = tg_tape_new();
    double v[24];
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 3; j++)
            for (int k = 0; k < 4; k++) v[(i * 3 + j) * 4 + k] = 100 * i + 10 * j + k;
    tg_tensor *x = lit(t, DT, TG_SHAPE(2, 3, 4), v);
    /* y = permute(x, (2,0,1)) has shape (4,2,3) and y[k][i][j] = x[i][j][k]. */
    double want[24];
    for (int k = 0; k < 4; k++)
        for (int i = 0; i < 2; i++)
            for (int j = 0; j < 3; j++) want[(k * 2 + i) * 3 + j] = 100 * i + 10 * j + k;
    EXPECT(tg_permute(t, x, (int[]){2, 0, 1}), TG_SHAPE(4, 2, 3), want);
    /* Transposing dims 0 and 2: z[k][j][i] = x[i][j][k]. */
    for (int k = 0; k < 4; k++)
        for (int j = 0; j < 3; j++)
            for (int i = 0; i < 2; i++) want[(k * 3 + j) * 2 + i] = 100 * i + 10 * j + k;
    EXPECT(tg_transpose(t, x, 0, -1), TG_SHAPE(4, 3, 2), want);
    tg_tape_free(t);
}
END_TEST

START_TEST(reshape_contiguous_broadcast_sum_to) {
    tg_tape *t = tg_tape_new();
    tg_tensor *x = lit(t, DT, TG_SHAPE(2, 3), V(1, 2, 3, 4, 5, 6));
    EXPECT(tg_reshape(t, x, TG_SHAPE(3, -1)), TG_SHAPE(3, 2), V(1, 2, 3, 4, 5, 6));
    tg_tensor *xt = tg_transpose(t, x, 0, 1); /* [1 4; 2 5; 3 6] */
    EXPECT(tg_reshape(t, xt, TG_SHAPE(-1)), TG_SHAPE(6), V(1, 4, 2, 5, 3, 6));
    tg_tensor *c = tg_contiguous(t, xt);
    EXPECT(c, TG_SHAPE(3, 2), V(1, 4, 2, 5, 3, 6));
    ck_assert(tg_tensor_is_contiguous(c));
    ck_assert(!tg_tensor_is_contiguous(xt));

    tg_tensor *row = lit(t, DT, TG_SHAPE(3), V(1, 2, 3));
    tg_tensor *col = lit(t, DT, TG_SHAPE(2, 1), V(1, 2));
    EXPECT(tg_broadcast_to(t, row, TG_SHAPE(2, 3)), TG_SHAPE(2, 3), V(1, 2, 3, 1, 2, 3));
    EXPECT(tg_broadcast_to(t, col, TG_SHAPE(2, 3)), TG_SHAPE(2, 3), V(1, 1, 1, 2, 2, 2));
    EXPECT(tg_broadcast_to(t, tg_scalar(t, DT, 4), TG_SHAPE(2)), TG_SHAPE(2), V(4, 4));

    EXPECT(tg_sum_to(t, x, TG_SHAPE(3)), TG_SHAPE(3), V(5, 7, 9));
    EXPECT(tg_sum_to(t, x, TG_SHAPE(2, 1)), TG_SHAPE(2, 1), V(6, 15));
    EXPECT(tg_sum_to(t, x, TG_SHAPE(1, 3)), TG_SHAPE(1, 3), V(5, 7, 9));
    EXPECT(tg_sum_to(t, x, TG_SCALAR_SHAPE), TG_SCALAR_SHAPE, V(21));
    tg_tape_free(t);
}
END_TEST

/* ---- transcendental and piecewise ---- */

START_TEST(sigmoid_centre_and_saturation) {
    tg_tape *t = tg_tape_new();
    tg_tensor *x = lit(t, DT, TG_SHAPE(3), V(0, 1000, -1000));
    tg_tensor *y = tg_sigmoid(t, x);
    /* Exactly 1/2 at 0, and exactly 1 and 0 (finite, no NaN) far out. */
    EXPECT(y, TG_SHAPE(3), V(0.5, 1, 0));
    for (int i = 0; i < 3; i++) ck_assert(isfinite(tg_tensor_get(y, i)));
    tg_tensor *z = lit(t, DT, TG_SHAPE(4), V(1, -1, 30, -50));
    EXPECT_NEAR(tg_sigmoid(t, z), TG_SHAPE(4),
                V(sigmoid_ref(1), sigmoid_ref(-1), sigmoid_ref(30), sigmoid_ref(-50)));
    tg_tape_free(t);
}
END_TEST

START_TEST(exp_and_log) {
    tg_tape *t = tg_tape_new();
    const double e = 2.718281828459045;
    tg_tensor *x = lit(t, DT, TG_SHAPE(4), V(0, 1, -1, 2));
    EXPECT_NEAR(tg_exp(t, x), TG_SHAPE(4), V(1, e, 1 / e, e * e));
    tg_tensor *p = lit(t, DT, TG_SHAPE(4), V(1, 2, 0.5, 8));
    const double ln2 = 0.6931471805599453;
    EXPECT_NEAR(tg_log(t, p), TG_SHAPE(4), V(0, ln2, -ln2, 3 * ln2));
    /* IEEE at the edge of the domain: -inf at 0, NaN below, and no error on the tape. */
    tg_tensor *edge = tg_log(t, lit(t, DT, TG_SHAPE(2), V(0, -1)));
    ck_assert_ptr_nonnull(edge);
    ck_assert_int_eq(tg_tape_status(t), TG_OK);
    ck_assert(isinf(tg_tensor_get(edge, 0)) && tg_tensor_get(edge, 0) < 0);
    ck_assert(isnan(tg_tensor_get(edge, 1)));
    tg_tape_free(t);
}
END_TEST

START_TEST(tanh_values) {
    tg_tape *t = tg_tape_new();
    /* tanh x = (e^{2x} - 1) / (e^{2x} + 1) */
    double e1 = exp(1.0), e4 = exp(4.0);
    double t05 = (e1 - 1) / (e1 + 1), t2 = (e4 - 1) / (e4 + 1);
    tg_tensor *x = lit(t, DT, TG_SHAPE(5), V(0, 0.5, -0.5, 2, -30));
    EXPECT_NEAR(tg_tanh(t, x), TG_SHAPE(5), V(0, t05, -t05, t2, -1));
    tg_tape_free(t);
}
END_TEST

START_TEST(relu_and_step_at_zero) {
    tg_tape *t = tg_tape_new();
    tg_tensor *x = lit(t, DT, TG_SHAPE(5), V(-2, -0.5, 0, 0.5, 3));
    EXPECT(tg_relu(t, x), TG_SHAPE(5), V(0, 0, 0, 0.5, 3));
    EXPECT(tg_step(t, x), TG_SHAPE(5), V(0, 0, 0, 1, 1));
    /* On a transposed view the gathered order is the view's. */
    tg_tensor *m = lit(t, DT, TG_SHAPE(2, 2), V(-1, 2, 3, -4));
    EXPECT(tg_relu(t, tg_transpose(t, m, 0, 1)), TG_SHAPE(2, 2), V(0, 3, 2, 0));
    tg_tape_free(t);
}
END_TEST

static Suite *forward_suite(void) {
    Suite *s = suite_create("forward_values");
    TCase *tc = tcase_create("forward");
    tcase_add_loop_test(tc, add_broadcasts_a_row, TG_F32, TG_F64 + 1);
    tcase_add_loop_test(tc, sub_broadcasts_both_ways, TG_F32, TG_F64 + 1);
    tcase_add_loop_test(tc, mul_by_0d_and_scalar_like, TG_F32, TG_F64 + 1);
    tcase_add_loop_test(tc, div_elementwise_and_broadcast, TG_F32, TG_F64 + 1);
    tcase_add_loop_test(tc, scalar_ops_and_neg, TG_F32, TG_F64 + 1);
    tcase_add_loop_test(tc, matmul_2x3_by_3x2, TG_F32, TG_F64 + 1);
    tcase_add_loop_test(tc, matmul_batched_and_broadcast, TG_F32, TG_F64 + 1);
    tcase_add_loop_test(tc, sum_and_mean_over_axes, TG_F32, TG_F64 + 1);
    tcase_add_loop_test(tc, slice_with_steps_and_negative_start, TG_F32, TG_F64 + 1);
    tcase_add_loop_test(tc, slice_embed_places_and_zero_fills, TG_F32, TG_F64 + 1);
    tcase_add_loop_test(tc, permute_moves_every_element, TG_F32, TG_F64 + 1);
    tcase_add_loop_test(tc, reshape_contiguous_broadcast_sum_to, TG_F32, TG_F64 + 1);
    tcase_add_loop_test(tc, sigmoid_centre_and_saturation, TG_F32, TG_F64 + 1);
    tcase_add_loop_test(tc, exp_and_log, TG_F32, TG_F64 + 1);
    tcase_add_loop_test(tc, tanh_values, TG_F32, TG_F64 + 1);
    tcase_add_loop_test(tc, relu_and_step_at_zero, TG_F32, TG_F64 + 1);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tg_test_run(forward_suite()); }
