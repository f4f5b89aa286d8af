/* test_index_ops.c: argmax/argmin, comparisons with a number, where_scalar, masked_fill, gather
 * and scatter_add beyond their gradient proofs (cases in op_cases_basic.c): values worked out by
 * hand (ties, NaN, keepdim, broadcasting, repeated indices), what "no gradient" means for the
 * index and mask ops, and every kind of bad input, which must give NULL and an error naming the
 * op and the calling line. */
#include <string.h>

#include "test_util.h"

static tg_tensor *f64(tg_tape *t, int ndim, const int64_t *shape, const double *v) {
    return tg_from_data(t, TG_F64, ndim, shape, v);
}

static void expect(const tg_tensor *x, int ndim, const int64_t *shape, const double *want) {
    ck_assert_ptr_nonnull(x);
    ck_assert_int_eq(tg_tensor_ndim(x), ndim);
    for (int d = 0; d < ndim; d++) ck_assert_int_eq(tg_tensor_dim(x, d), shape[d]);
    int64_t n = tg_tensor_numel(x);
    double got[64];
    ck_assert_int_le(n, 64);
    ck_assert_int_eq(tg_tensor_copy_out(x, TG_F64, got), TG_OK);
    for (int64_t i = 0; i < n; i++)
        ck_assert_msg(got[i] == want[i] || (isnan(got[i]) && isnan(want[i])),
                      "element %lld: got %.17g, want %.17g", (long long)i, got[i], want[i]);
}

#define EXPECT(x, shape_list, ...) expect(x, shape_list, (const double[]){__VA_ARGS__})

static void expect_error(tg_tape *t, const tg_tensor *y, tg_status s, const char *op,
                         const char *detail) {
    const char *e = tg_tape_error(t);
    ck_assert_msg(y == NULL, "expected NULL from %s", op);
    ck_assert_msg(tg_tape_status(t) == s, "%s: status %s, want %s (%s)", op,
                  tg_status_string(tg_tape_status(t)), tg_status_string(s), e);
    ck_assert_msg(strncmp(e, op, strlen(op)) == 0 && e[strlen(op)] == ':',
                  "message does not start with '%s:': %s", op, e);
    if (detail) ck_assert_msg(strstr(e, detail), "message lacks '%s': %s", detail, e);
    ck_assert_msg(strstr(e, "test_index_ops.c:"), "message names no call site: %s", e);
    tg_tape_clear_error(t);
}

/* ---- argmax, argmin ---- */

START_TEST(argmax_values) {
    tg_tape *t = tg_tape_new();
    tg_tensor *x = f64(t, TG_SHAPE(2, 4), (const double[]){1, 5, 5, -2, 7, 0, 7, 9});
    EXPECT(tg_argmax(t, x, 1, false), TG_SHAPE(2), 1, 3); /* the first of tied maxima */
    EXPECT(tg_argmax(t, x, -1, true), TG_SHAPE(2, 1), 1, 3);
    EXPECT(tg_argmin(t, x, 1, false), TG_SHAPE(2), 3, 1);
    EXPECT(tg_argmax(t, x, 0, false), TG_SHAPE(4), 1, 0, 1, 1);
    EXPECT(tg_argmin(t, x, 0, true), TG_SHAPE(1, 4), 0, 1, 0, 0);
    /* through a transposed view */
    EXPECT(tg_argmax(t, tg_transpose(t, x, 0, 1), 0, false), TG_SHAPE(2), 1, 3);
    /* NaN is the extreme both ways; the first NaN wins */
    tg_tensor *n = f64(t, TG_SHAPE(5), (const double[]){1, NAN, 3, NAN, -1});
    expect(tg_argmax(t, n, 0, false), 0, NULL, (const double[]){1});
    expect(tg_argmin(t, n, 0, false), 0, NULL, (const double[]){1});
    /* f32 indices, and a 1-element axis */
    tg_tensor *xf = tg_from_data(t, TG_F32, TG_SHAPE(2, 1), (const float[]){3.0f, -1.0f});
    tg_tensor *i = tg_argmax(t, xf, 1, false);
    ck_assert_int_eq(tg_tensor_dtype(i), TG_F32);
    EXPECT(i, TG_SHAPE(2), 0, 0);
    EXPECT(tg_argmax(t, xf, 0, false), TG_SHAPE(1), 0);
    /* an accuracy count: argmax compared with labels held in the same dtype */
    tg_tensor *labels = f64(t, TG_SHAPE(2), (const double[]){1, 2});
    expect(tg_sum_all(t, tg_eq(t, tg_argmax(t, x, 1, false), labels)), 0, NULL, (const double[]){1});
    ck_assert_int_eq(tg_tape_status(t), TG_OK);
    tg_tape_free(t);
}
END_TEST

START_TEST(argmax_is_a_constant) {
    tg_tape *t = tg_tape_new();
    tg_tensor *x = f64(t, TG_SHAPE(2, 3), (const double[]){1, 4, 2, 0, -1, 3});
    tg_tensor_set_requires_grad(x, true);
    tg_tensor *i = tg_argmax(t, x, 1, true);
    ck_assert(!tg_tensor_requires_grad(i));
    ck_assert_int_eq(tg_op_registry_recorded(t, tg_op_registry_find("argmax")), 1);
    /* backward from the indices alone is refused: nothing that requires a gradient reaches them */
    ck_assert_int_eq(tg_tape_backward(t, tg_sum_all(t, i), NULL, 0), TG_ERR_NOGRAD);
    tg_tape_clear_error(t);
    /* in a product the indices scale the gradient and get none */
    tg_tensor *l = tg_sum_all(t, tg_mul(t, x, i));
    ck_assert_int_eq(tg_tape_backward(t, l, NULL, 0), TG_OK);
    EXPECT(tg_tensor_grad(x), TG_SHAPE(2, 3), 1, 1, 1, 2, 2, 2);
    tg_tape_free(t);
}
END_TEST

START_TEST(argmax_bad_input) {
    tg_tape *t = tg_tape_new();
    tg_tensor *x = f64(t, TG_SHAPE(2, 3), (const double[]){1, 4, 2, 0, -1, 3});
    expect_error(t, tg_argmax(t, x, 2, false), TG_ERR_AXIS, "argmax", "(2, 3)");
    expect_error(t, tg_argmin(t, x, -3, true), TG_ERR_AXIS, "argmin", NULL);
    tg_tensor *e = tg_zeros(t, TG_F64, TG_SHAPE(2, 0));
    expect_error(t, tg_argmax(t, e, 1, false), TG_ERR_SHAPE, "argmax", "is empty");
    expect(tg_argmax(t, e, 0, false), TG_SHAPE(0), NULL); /* (2, 0) along axis 0: no positions, an empty result */
    expect_error(t, tg_argmax(t, tg_scalar(t, TG_F64, 1.0), 0, false), TG_ERR_AXIS, "argmax",
                 NULL);
    /* an f32 axis past 2^24 is refused before anything is read (a broadcast view: no memory) */
    tg_tensor *big = tg_broadcast_to(t, tg_scalar(t, TG_F32, 1.0), TG_SHAPE((INT64_C(1) << 24) + 1));
    expect_error(t, tg_argmin(t, big, 0, false), TG_ERR_SHAPE, "argmin", "2^24");
    ck_assert_ptr_null(tg_argmax(t, NULL, 0, false));
    expect_error(t, NULL, TG_ERR_NULL, "argmax", "input 0 is NULL");
    tg_tape_reset(t);
    expect_error(t, tg_argmax(t, x, 0, false), TG_ERR_STALE, "argmax", "stale");
    tg_tape_free(t);
}
END_TEST

/* ---- comparisons with a number, where_scalar, masked_fill ---- */

START_TEST(compare_scalar_values) {
    tg_tape *t = tg_tape_new();
    tg_tensor *x = f64(t, TG_SHAPE(5), (const double[]){-1, 0, 0.5, NAN, 2});
    EXPECT(tg_gt_scalar(t, x, 0.5), TG_SHAPE(5), 0, 0, 0, 0, 1);
    EXPECT(tg_ge_scalar(t, x, 0.5), TG_SHAPE(5), 0, 0, 1, 0, 1);
    EXPECT(tg_lt_scalar(t, x, 0.5), TG_SHAPE(5), 1, 1, 0, 0, 0);
    EXPECT(tg_le_scalar(t, x, 0.5), TG_SHAPE(5), 1, 1, 1, 0, 0);
    EXPECT(tg_eq_scalar(t, x, 0.0), TG_SHAPE(5), 0, 1, 0, 0, 0);
    EXPECT(tg_eq_scalar(t, x, NAN), TG_SHAPE(5), 0, 0, 0, 0, 0);
    /* f32: c is rounded to f32 as the elements are, so 0.1 equals 0.1f */
    tg_tensor *xf = tg_from_data(t, TG_F32, TG_SHAPE(2), (const float[]){0.1f, 0.2f});
    tg_tensor *m = tg_eq_scalar(t, xf, 0.1);
    ck_assert_int_eq(tg_tensor_dtype(m), TG_F32);
    EXPECT(m, TG_SHAPE(2), 1, 0);
    /* a transposed view */
    tg_tensor *y = f64(t, TG_SHAPE(2, 2), (const double[]){1, 2, 3, 4});
    EXPECT(tg_gt_scalar(t, tg_transpose(t, y, 0, 1), 1.5), TG_SHAPE(2, 2), 0, 1, 1, 1);
    /* the mask is a constant */
    tg_tensor_set_requires_grad(y, true);
    ck_assert(!tg_tensor_requires_grad(tg_lt_scalar(t, y, 3.0)));
    ck_assert_int_eq(tg_op_registry_recorded(t, tg_op_registry_find("lt_scalar")), 1);
    expect_error(t, tg_gt_scalar(t, NULL, 0.0), TG_ERR_NULL, "gt_scalar", "NULL");
    tg_tape_reset(t);
    expect_error(t, tg_le_scalar(t, x, 0.0), TG_ERR_STALE, "le_scalar", "stale");
    tg_tape_free(t);
}
END_TEST

START_TEST(where_scalar_masked_fill_values_and_gradient) {
    tg_tape *t = tg_tape_new();
    tg_tensor *x = f64(t, TG_SHAPE(2, 3), (const double[]){1, 2, 3, 4, 5, 6});
    tg_tensor *rows = f64(t, TG_SHAPE(2, 1), (const double[]){1, 0});
    EXPECT(tg_where_scalar(t, rows, x, -7), TG_SHAPE(2, 3), 1, 2, 3, -7, -7, -7);
    EXPECT(tg_masked_fill(t, x, rows, -7), TG_SHAPE(2, 3), -7, -7, -7, 4, 5, 6);
    /* NaN in the mask counts as nonzero, as tg_where's */
    tg_tensor *nm = f64(t, TG_SHAPE(3), (const double[]){NAN, 0, 2});
    EXPECT(tg_masked_fill(t, x, nm, 0.5), TG_SHAPE(2, 3), 0.5, 2, 0.5, 0.5, 5, 0.5);
    /* x broadcast by a larger mask */
    tg_tensor *v = f64(t, TG_SHAPE(3), (const double[]){1, 2, 3});
    tg_tensor *m = f64(t, TG_SHAPE(2, 3), (const double[]){1, 0, 1, 0, 1, 0});
    EXPECT(tg_where_scalar(t, m, v, 0), TG_SHAPE(2, 3), 1, 0, 3, 0, 2, 0);
    /* a causal-style mask of -inf before a softmax: the masked entries get probability 0 */
    tg_tensor *s = f64(t, TG_SHAPE(2, 2), (const double[]){0.3, 9, 1, 1});
    tg_tensor *upper = f64(t, TG_SHAPE(2, 2), (const double[]){0, 1, 0, 0});
    EXPECT(tg_softmax(t, tg_masked_fill(t, s, upper, -INFINITY), -1), TG_SHAPE(2, 2), 1, 0,
           0.5, 0.5);
    /* gradients: x's where it is kept (summed back over the broadcast), the mask's none */
    tg_tensor_set_requires_grad(v, true);
    tg_tensor_set_requires_grad(m, true);
    tg_tensor *l = tg_sum_all(t, tg_add(t, tg_where_scalar(t, m, v, 5.0),
                                        tg_mul_scalar(t, tg_masked_fill(t, v, m, 5.0), 10.0)));
    tg_tensor *wrt[2] = {v, m}, *g[2];
    ck_assert_int_eq(tg_tape_grad(t, l, NULL, 2, wrt, g, 0), TG_OK);
    EXPECT(g[0], TG_SHAPE(3), 11, 11, 11);
    EXPECT(g[1], TG_SHAPE(2, 3), 0, 0, 0, 0, 0, 0);
    /* f32 */
    tg_tensor *xf = tg_from_data(t, TG_F32, TG_SHAPE(2), (const float[]){1.5f, 2.5f});
    tg_tensor *mf = tg_gt_scalar(t, xf, 2.0);
    tg_tensor *yf = tg_masked_fill(t, xf, mf, 0.1);
    ck_assert_int_eq(tg_tensor_dtype(yf), TG_F32);
    EXPECT(yf, TG_SHAPE(2), 1.5, (double)0.1f);
    ck_assert_int_eq(tg_tape_status(t), TG_OK);
    tg_tape_free(t);
}
END_TEST

START_TEST(where_scalar_masked_fill_bad_input) {
    tg_tape *t = tg_tape_new();
    tg_tensor *x = f64(t, TG_SHAPE(2, 3), (const double[]){1, 2, 3, 4, 5, 6});
    tg_tensor *m2 = f64(t, TG_SHAPE(2), (const double[]){1, 0});
    expect_error(t, tg_where_scalar(t, m2, x, 0), TG_ERR_SHAPE, "where_scalar",
                 "cannot broadcast");
    expect_error(t, tg_masked_fill(t, x, m2, 0), TG_ERR_SHAPE, "masked_fill", "(2, 3)");
    tg_tensor *mf = tg_from_data(t, TG_F32, TG_SHAPE(3), (const float[]){1, 0, 1});
    expect_error(t, tg_masked_fill(t, x, mf, 0), TG_ERR_DTYPE, "masked_fill", "f32");
    expect_error(t, tg_where_scalar(t, mf, x, 0), TG_ERR_DTYPE, "where_scalar", "f64");
    expect_error(t, tg_where_scalar(t, NULL, x, 0), TG_ERR_NULL, "where_scalar", "NULL");
    expect_error(t, tg_masked_fill(t, x, NULL, 0), TG_ERR_NULL, "masked_fill", "NULL");
    tg_tape_reset(t);
    tg_tensor *y = f64(t, TG_SHAPE(3), (const double[]){1, 2, 3});
    expect_error(t, tg_masked_fill(t, y, mf, 0), TG_ERR_STALE, "masked_fill", "stale");
    tg_tape_free(t);
}
END_TEST

/* ---- gather, scatter_add ---- */

START_TEST(gather_scatter_values_and_gradient) {
    tg_tape *t = tg_tape_new();
    tg_tensor *x = f64(t, TG_SHAPE(2, 3), (const double[]){10, 11, 12, 20, 21, 22});
    tg_tensor *ic = f64(t, TG_SHAPE(2, 2), (const double[]){2, 0, 1, 1});
    EXPECT(tg_gather(t, x, 1, ic), TG_SHAPE(2, 2), 12, 10, 21, 21);
    EXPECT(tg_gather(t, x, -1, ic), TG_SHAPE(2, 2), 12, 10, 21, 21);
    tg_tensor *ir = f64(t, TG_SHAPE(3, 3), (const double[]){1, 0, 1, 0, 0, 0, 1, 1, 1});
    EXPECT(tg_gather(t, x, 0, ir), TG_SHAPE(3, 3), 20, 11, 22, 10, 11, 12, 20, 21, 22);
    /* an index of the other dtype, and an index that is a transposed view */
    tg_tensor *if32 = tg_from_data(t, TG_F32, TG_SHAPE(2, 1), (const float[]){2, 0});
    EXPECT(tg_gather(t, x, 1, if32), TG_SHAPE(2, 1), 12, 20);
    tg_tensor *it = tg_transpose(t, f64(t, TG_SHAPE(3, 2), (const double[]){0, 1, 1, 0, 1, 1}),
                                 0, 1);
    EXPECT(tg_gather(t, x, 0, it), TG_SHAPE(2, 3), 10, 21, 22, 20, 11, 22);
    /* scatter_add sums repeats */
    tg_tensor *s = f64(t, TG_SHAPE(2, 2), (const double[]){1, 2, 3, 4});
    EXPECT(tg_scatter_add(t, s, 1, ic, 4), TG_SHAPE(2, 4), 2, 0, 1, 0, 0, 7, 0, 0);
    EXPECT(tg_scatter_add(t, s, 1, ic, 3), TG_SHAPE(2, 3), 2, 0, 1, 0, 7, 0);
    /* f32 */
    tg_tensor *xf = tg_from_data(t, TG_F32, TG_SHAPE(3), (const float[]){1.5f, 2.5f, 3.5f});
    tg_tensor *g1 = tg_gather(t, xf, 0, f64(t, TG_SHAPE(2), (const double[]){2, 2}));
    ck_assert_int_eq(tg_tensor_dtype(g1), TG_F32);
    EXPECT(g1, TG_SHAPE(2), 3.5, 3.5);
    /* the gradient of gather is scatter_add of the gradient: repeats accumulate */
    tg_tensor_set_requires_grad(x, true);
    tg_tensor *l = tg_sum_all(t, tg_gather(t, x, 1, ic));
    ck_assert_int_eq(tg_tape_backward(t, l, NULL, 0), TG_OK);
    EXPECT(tg_tensor_grad(x), TG_SHAPE(2, 3), 1, 0, 1, 0, 2, 0);
    int sa = tg_op_registry_find("scatter_add");
    ck_assert_int_eq(tg_op_registry_recorded(t, sa), 0); /* not recording during a plain sweep */
    /* picking the log-probability of each label, as a loss does */
    tg_tensor *logits = f64(t, TG_SHAPE(2, 3), (const double[]){0, 0, 0, 1, 2, 3});
    tg_tensor *lab = f64(t, TG_SHAPE(2, 1), (const double[]){1, 2});
    tg_tensor *picked = tg_gather(t, tg_log_softmax(t, logits, 1), 1, lab);
    ck_assert_double_eq_tol(tg_tensor_get(picked, 0), -log(3.0), 1e-15);
    ck_assert_int_eq(tg_tape_status(t), TG_OK);
    tg_tape_free(t);
}
END_TEST

START_TEST(gather_scatter_bad_input) {
    tg_tape *t = tg_tape_new();
    tg_tensor *x = f64(t, TG_SHAPE(2, 3), (const double[]){10, 11, 12, 20, 21, 22});
    tg_tensor *bad_n = f64(t, TG_SHAPE(2, 2), (const double[]){0, 1.5, 1, 1});
    expect_error(t, tg_gather(t, x, 1, bad_n), TG_ERR_ARG, "gather", "element 1 is 1.5");
    tg_tensor *bad_r = f64(t, TG_SHAPE(2, 2), (const double[]){0, 1, 3, 1});
    expect_error(t, tg_gather(t, x, 1, bad_r), TG_ERR_ARG, "gather", "[0, 3)");
    tg_tensor *neg = f64(t, TG_SHAPE(2, 1), (const double[]){-1, 0});
    expect_error(t, tg_gather(t, x, 1, neg), TG_ERR_ARG, "gather", "is -1");
    tg_tensor *nan = f64(t, TG_SHAPE(2, 1), (const double[]){NAN, 0});
    expect_error(t, tg_gather(t, x, 1, nan), TG_ERR_ARG, "gather", "element 0 is nan");
    tg_tensor *rows3 = f64(t, TG_SHAPE(3, 1), (const double[]){0, 0, 0});
    expect_error(t, tg_gather(t, x, 1, rows3), TG_ERR_SHAPE, "gather", "does not fit");
    tg_tensor *flat = f64(t, TG_SHAPE(2), (const double[]){0, 0});
    expect_error(t, tg_gather(t, x, 1, flat), TG_ERR_SHAPE, "gather", "(2, 3)");
    expect_error(t, tg_gather(t, x, 2, rows3), TG_ERR_AXIS, "gather", NULL);
    expect_error(t, tg_gather(t, x, 1, NULL), TG_ERR_NULL, "gather", "index is NULL");
    tg_tensor *i2 = f64(t, TG_SHAPE(2, 2), (const double[]){0, 1, 1, 0});
    tg_tensor *s = f64(t, TG_SHAPE(2, 2), (const double[]){1, 2, 3, 4});
    expect_error(t, tg_scatter_add(t, s, 1, i2, -1), TG_ERR_ARG, "scatter_add", "negative");
    expect_error(t, tg_scatter_add(t, s, 1, i2, 1), TG_ERR_ARG, "scatter_add", "[0, 1)");
    expect_error(t, tg_scatter_add(t, x, 1, i2, 4), TG_ERR_SHAPE, "scatter_add", "differ");
    expect_error(t, tg_scatter_add(t, s, 1, i2, INT64_C(1) << 50), TG_ERR_SHAPE, "scatter_add",
                 "2^40");
    /* a stale index is refused before it is read */
    tg_tape *t2 = tg_tape_new();
    tg_tensor *old = f64(t2, TG_SHAPE(2, 1), (const double[]){0, 0});
    tg_tape_reset(t2);
    expect_error(t, tg_gather(t, x, 1, old), TG_ERR_STALE, "gather", "the index");
    tg_tape_free(t2);
    tg_tape_free(t);
}
END_TEST

static Suite *index_ops_suite(void) {
    Suite *s = suite_create("index_ops");
    TCase *tc = tcase_create("argmax");
    tcase_add_test(tc, argmax_values);
    tcase_add_test(tc, argmax_is_a_constant);
    tcase_add_test(tc, argmax_bad_input);
    suite_add_tcase(s, tc);
    tc = tcase_create("compare_where");
    tcase_add_test(tc, compare_scalar_values);
    tcase_add_test(tc, where_scalar_masked_fill_values_and_gradient);
    tcase_add_test(tc, where_scalar_masked_fill_bad_input);
    suite_add_tcase(s, tc);
    tc = tcase_create("gather");
    tcase_add_test(tc, gather_scatter_values_and_gradient);
    tcase_add_test(tc, gather_scatter_bad_input);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tg_test_run(index_ops_suite()); }
