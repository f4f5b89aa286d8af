/* test_elementwise_ops.c: the elementwise, comparison, where, reduction, softmax, loss and
 * dropout ops beyond their gradient proofs (those are cases in op_cases_elementwise.c): forward
 * values worked out by hand (in both dtypes), the documented gradients at kinks and ties, which
 * finite differences cannot check, the stability promises (inputs of +-1000, log 0 in bce,
 * -inf log-probabilities off the label), and every family's bad input, which must give NULL and
 * an error naming the op and the calling line, never a crash. */
#include <string.h>

#include "test_util.h"

/* ---- helpers ---- */

static const tg_dtype dtypes[2] = {TG_F64, TG_F32};

/* A tensor of `dtype` holding the doubles v (rounded to f32 when asked). */
static tg_tensor *mk(tg_tape *t, tg_dtype dtype, int ndim, const int64_t *shape, const double *v) {
    tg_tensor *x = tg_zeros(t, dtype, ndim, shape);
    ck_assert_ptr_nonnull(x);
    ck_assert_int_eq(tg_tensor_copy_in(x, TG_F64, v), TG_OK);
    return x;
}

#define MK(t, dtype, shape_list, ...) mk(t, dtype, shape_list, (const double[]){__VA_ARGS__})

/* A leaf that requires a gradient. */
static tg_tensor *leaf(tg_tensor *x) {
    ck_assert_int_eq(tg_tensor_set_requires_grad(x, true), TG_OK);
    return x;
}

/* The tolerance for values computed in dtype: f32 keeps ~7 digits. */
static double tol_of(tg_dtype d) { return d == TG_F32 ? 2e-6 : 1e-13; }

/* Asserts x's shape and values against want, relatively within tol (infinities and NaN must
 * match exactly). */
static void expect_near(const tg_tensor *x, int ndim, const int64_t *shape, const double *want,
                        double tol) {
    ck_assert_msg(x != NULL, "result is NULL");
    ck_assert_int_eq(tg_tensor_ndim(x), ndim);
    for (int d = 0; d < ndim; d++) ck_assert_int_eq(tg_tensor_dim(x, d), shape[d]);
    int64_t n = tg_tensor_numel(x);
    double got[64];
    ck_assert_int_le(n, 64);
    ck_assert_int_eq(tg_tensor_copy_out(x, TG_F64, got), TG_OK);
    for (int64_t i = 0; i < n; i++) {
        bool ok;
        if (isnan(want[i]))
            ok = isnan(got[i]);
        else if (isinf(want[i]))
            ok = got[i] == want[i];
        else
            ok = fabs(got[i] - want[i]) <= tol * (1.0 + fabs(want[i]));
        ck_assert_msg(ok, "%s element %lld: got %.17g, want %.17g",
                      tg_dtype_name(tg_tensor_dtype(x)), (long long)i, got[i], want[i]);
    }
}

#define EXPECT(x, tol, shape_list, ...)                                                         \
    expect_near(x, shape_list, (const double[]){__VA_ARGS__}, tol)

/* The gradient of sum(y) (or of sum(y * w) when w is given) with respect to x. */
static tg_tensor *grad_of(tg_tape *t, tg_tensor *y, tg_tensor *w, tg_tensor *x) {
    ck_assert_msg(y != NULL, "%s", tg_tape_error(t));
    tg_tensor *s = tg_sum_all(t, w ? tg_mul(t, y, w) : y), *g = NULL;
    ck_assert_int_eq(tg_tape_grad(t, s, NULL, 1, &x, &g, TG_RETAIN_GRAPH), TG_OK);
    return g;
}

/* Asserts that y is NULL and the tape holds status s with a message that starts with "op:",
 * contains `detail` when given, and names this file's line. Then clears the error. */
static void expect_error(tg_tape *t, const tg_tensor *y, tg_status s, const char *op,
                         const char *detail) {
    const char *e = tg_tape_error(t);
    ck_assert_msg(y == NULL, "expected NULL from %s", op);
    ck_assert_msg(tg_tape_status(t) == s, "%s: status %s, want %s (%s)", op,
                  tg_status_string(tg_tape_status(t)), tg_status_string(s), e);
    ck_assert_msg(strncmp(e, op, strlen(op)) == 0 && e[strlen(op)] == ':',
                  "message does not start with '%s:': %s", op, e);
    if (detail) ck_assert_msg(strstr(e, detail) != NULL, "message lacks '%s': %s", detail, e);
    ck_assert_msg(strstr(e, "test_elementwise_ops.c:") != NULL, "no call site: %s", e);
    tg_tape_clear_error(t);
}

/* ---- one input: values ---- */

START_TEST(unary_values) {
    tg_dtype d = dtypes[_i];
    double tol = tol_of(d);
    tg_tape *t = tg_tape_new();
    tg_tensor *x = MK(t, d, TG_SHAPE(3), -1.5, 0, 2);
    EXPECT(tg_abs(t, x), tol, TG_SHAPE(3), 1.5, 0, 2);
    EXPECT(tg_sign(t, x), tol, TG_SHAPE(3), -1, 0, 1);
    EXPECT(tg_square(t, x), tol, TG_SHAPE(3), 2.25, 0, 4);
    EXPECT(tg_sqrt(t, MK(t, d, TG_SHAPE(3), 0, 0.25, 4)), tol, TG_SHAPE(3), 0, 0.5, 2);
    /* sin(pi/6) = 1/2, cos(pi/3) = 1/2 */
    const double pi = 3.14159265358979323846;
    EXPECT(tg_sin(t, MK(t, d, TG_SHAPE(2), 0, pi / 6)), tol, TG_SHAPE(2), 0, 0.5);
    EXPECT(tg_cos(t, MK(t, d, TG_SHAPE(2), 0, pi / 3)), tol, TG_SHAPE(2), 1, 0.5);
    EXPECT(tg_pow_scalar(t, MK(t, d, TG_SHAPE(2), 4, 9), 0.5), tol, TG_SHAPE(2), 2, 3);
    EXPECT(tg_pow_scalar(t, MK(t, d, TG_SHAPE(2), 2, -2), 3), tol, TG_SHAPE(2), 8, -8);
    EXPECT(tg_pow_scalar(t, MK(t, d, TG_SHAPE(2), 2, -3), 0), tol, TG_SHAPE(2), 1, 1);
    EXPECT(tg_sub_scalar(t, MK(t, d, TG_SHAPE(2), 1, 2), 0.5), tol, TG_SHAPE(2), 0.5, 1.5);
    EXPECT(tg_rsub_scalar(t, MK(t, d, TG_SHAPE(2), 1, 2), 0.5), tol, TG_SHAPE(2), -0.5, -1.5);
    EXPECT(tg_div_scalar(t, MK(t, d, TG_SHAPE(2), 1, -3), 2), tol, TG_SHAPE(2), 0.5, -1.5);
    EXPECT(tg_rdiv_scalar(t, MK(t, d, TG_SHAPE(2), 2, -4), 1), tol, TG_SHAPE(2), 0.5, -0.25);
    EXPECT(tg_div_scalar(t, MK(t, d, TG_SHAPE(2), 1, -1), 0), tol, TG_SHAPE(2), INFINITY,
           -INFINITY);
    tg_tape_free(t);
}
END_TEST

START_TEST(activation_values) {
    tg_dtype d = dtypes[_i];
    double tol = tol_of(d);
    tg_tape *t = tg_tape_new();
    EXPECT(tg_leaky_relu(t, MK(t, d, TG_SHAPE(3), -2, 0, 3), 0.1), tol, TG_SHAPE(3), -0.2, 0, 3);
    /* elu(-1) = e^-1 - 1 */
    EXPECT(tg_elu(t, MK(t, d, TG_SHAPE(3), -1, 0, 2), 1.0), tol, TG_SHAPE(3), exp(-1.0) - 1.0, 0,
           2);
    EXPECT(tg_elu(t, MK(t, d, TG_SHAPE(1), -1), 2.0), tol, TG_SHAPE(1), 2.0 * (exp(-1.0) - 1.0));
    /* gelu(x) = x Phi(x): Phi(1) = 0.8413447460685429, Phi(-1) = 1 - Phi(1), Phi(3) =
     * 0.9986501019683699 (tables of the normal CDF). */
    EXPECT(tg_gelu(t, MK(t, d, TG_SHAPE(4), -1, 0, 1, 3)), tol, TG_SHAPE(4),
           -(1 - 0.8413447460685429), 0, 0.8413447460685429, 3 * 0.9986501019683699);
    /* gelu'(x) = Phi(x) + x phi(x), phi(1) = e^(-1/2)/sqrt(2 pi) = 0.24197072451914337 */
    EXPECT(tg_gelu_grad(t, MK(t, d, TG_SHAPE(3), 0, 1, -1)), tol, TG_SHAPE(3), 0.5,
           0.8413447460685429 + 0.24197072451914337,
           (1 - 0.8413447460685429) - 0.24197072451914337);
    /* softplus: ln 2 at 0, ln(1 + e) at 1, x itself far right, 0 far left (no overflow) */
    EXPECT(tg_softplus(t, MK(t, d, TG_SHAPE(5), 0, 1, 1000, -1000, -30)), tol, TG_SHAPE(5),
           log(2.0), log(1.0 + exp(1.0)), 1000, 0, exp(-30.0));
    EXPECT(tg_clamp(t, MK(t, d, TG_SHAPE(5), -2, -1, 0.5, 1, 3), -1, 1), tol, TG_SHAPE(5), -1,
           -1, 0.5, 1, 1);
    EXPECT(tg_clamp(t, MK(t, d, TG_SHAPE(3), -5, 0, 5), -INFINITY, 1), tol, TG_SHAPE(3), -5, 0,
           1);
    EXPECT(tg_sign_ste(t, MK(t, d, TG_SHAPE(4), -2, -0.5, 0, 3)), tol, TG_SHAPE(4), -1, -1, 0, 1);
    /* a view: every other element of (2,4) */
    tg_tensor *v = tg_slice(t, MK(t, d, TG_SHAPE(2, 4), -3, 9, 0.5, 9, 2, 9, -0.25, 9), 1, 0, 4,
                            2);
    EXPECT(tg_clamp(t, v, -1, 1), tol, TG_SHAPE(2, 2), -1, 0.5, 1, -0.25);
    EXPECT(tg_abs(t, v), tol, TG_SHAPE(2, 2), 3, 0.5, 2, 0.25);
    tg_tape_free(t);
}
END_TEST

/* NaN passes through the functions whose kernels compare (sign, clamp, maximum). */
START_TEST(nan_propagates) {
    tg_tape *t = tg_tape_new();
    tg_tensor *x = MK(t, TG_F64, TG_SHAPE(2), NAN, 1);
    EXPECT(tg_sign(t, x), 0, TG_SHAPE(2), NAN, 1);
    EXPECT(tg_clamp(t, x, -1, 0.5), 0, TG_SHAPE(2), NAN, 0.5);
    tg_tensor *y = MK(t, TG_F64, TG_SHAPE(2), 3, NAN);
    EXPECT(tg_maximum(t, x, y), 0, TG_SHAPE(2), NAN, NAN);
    EXPECT(tg_minimum(t, x, y), 0, TG_SHAPE(2), NAN, NAN);
    EXPECT(tg_max_all(t, x), 0, TG_SCALAR_SHAPE, NAN);
    EXPECT(tg_min(t, MK(t, TG_F64, TG_SHAPE(2, 2), 1, 2, 3, NAN), 1, (int[]){1}, false), 0,
           TG_SHAPE(2), 1, NAN);
    tg_tape_free(t);
}
END_TEST

/* ---- one input: the documented gradients at kinks ---- */

START_TEST(kink_gradients) {
    tg_dtype d = dtypes[_i];
    double tol = tol_of(d);
    tg_tape *t = tg_tape_new();
    tg_tensor *x = leaf(MK(t, d, TG_SHAPE(7), -2, -1, -0.5, 0, 0.5, 1, 2));
    /* abs: sign(x), 0 at the kink */
    EXPECT(grad_of(t, tg_abs(t, x), NULL, x), tol, TG_SHAPE(7), -1, -1, -1, 0, 1, 1, 1);
    /* sign: zero everywhere */
    EXPECT(grad_of(t, tg_sign(t, x), NULL, x), tol, TG_SHAPE(7), 0, 0, 0, 0, 0, 0, 0);
    /* clamp to [-1, 1]: 1 inside and at both edges */
    EXPECT(grad_of(t, tg_clamp(t, x, -1, 1), NULL, x), tol, TG_SHAPE(7), 0, 1, 1, 1, 1, 1, 0);
    /* sign_ste: passes g where |x| <= 1 (edges included), blocks it beyond */
    EXPECT(grad_of(t, tg_sign_ste(t, x), NULL, x), tol, TG_SHAPE(7), 0, 1, 1, 1, 1, 1, 0);
    /* leaky_relu: the slope at 0 and below */
    EXPECT(grad_of(t, tg_leaky_relu(t, x, 0.1), NULL, x), tol, TG_SHAPE(7), 0.1, 0.1, 0.1, 0.1,
           1, 1, 1);
    /* elu: alpha e^x at and below 0 */
    EXPECT(grad_of(t, tg_elu(t, x, 2.0), NULL, x), tol, TG_SHAPE(7), 2 * exp(-2.0),
           2 * exp(-1.0), 2 * exp(-0.5), 2, 1, 1, 1);
    /* x^0: exactly zero, even at x = 0 (no 0 * inf) */
    EXPECT(grad_of(t, tg_pow_scalar(t, x, 0.0), NULL, x), 0, TG_SHAPE(7), 0, 0, 0, 0, 0, 0, 0);
    /* x^1: one everywhere, including 0 */
    EXPECT(grad_of(t, tg_pow_scalar(t, x, 1.0), NULL, x), tol, TG_SHAPE(7), 1, 1, 1, 1, 1, 1, 1);
    tg_tape_free(t);
}
END_TEST

/* ---- two inputs ---- */

START_TEST(pow_values_and_gradients) {
    tg_dtype d = dtypes[_i];
    double tol = tol_of(d);
    tg_tape *t = tg_tape_new();
    tg_tensor *a = leaf(MK(t, d, TG_SHAPE(3), 2, 9, 4));
    tg_tensor *b = leaf(MK(t, d, TG_SHAPE(3), 3, 0.5, -1));
    tg_tensor *z = tg_pow(t, a, b);
    EXPECT(z, tol, TG_SHAPE(3), 8, 3, 0.25);
    /* dz/da = b a^(b-1), dz/db = z ln a */
    EXPECT(grad_of(t, z, NULL, a), tol, TG_SHAPE(3), 12, 0.5 / 3, -1.0 / 16);
    EXPECT(grad_of(t, z, NULL, b), tol, TG_SHAPE(3), 8 * log(2.0), 3 * log(9.0), 0.25 * log(4.0));
    /* a <= 0: the exponent's gradient is its limit 0 at a = 0 and, as in PyTorch, NaN for
     * a < 0 (the real log is undefined there); the base's is b a^(b-1) */
    tg_tensor *a0 = leaf(MK(t, d, TG_SHAPE(2), 0, -2)), *b0 = leaf(MK(t, d, TG_SHAPE(2), 2, 2));
    tg_tensor *z0 = tg_pow(t, a0, b0);
    EXPECT(z0, tol, TG_SHAPE(2), 0, 4);
    tg_tensor *gb0 = grad_of(t, z0, NULL, b0);
    ck_assert(tg_tensor_get(gb0, 0) == 0 && isnan(tg_tensor_get(gb0, 1)));
    EXPECT(grad_of(t, z0, NULL, a0), tol, TG_SHAPE(2), 0, -4);
    /* broadcasting: (2,1) ^ (3,) -> (2,3); b's gradient sums over the rows */
    tg_tensor *ab = leaf(MK(t, d, TG_SHAPE(2, 1), 1, 2));
    tg_tensor *bb = leaf(MK(t, d, TG_SHAPE(3), 0, 1, 2));
    tg_tensor *zb = tg_pow(t, ab, bb);
    EXPECT(zb, tol, TG_SHAPE(2, 3), 1, 1, 1, 1, 2, 4);
    EXPECT(grad_of(t, zb, NULL, bb), tol, TG_SHAPE(3), log(2.0), 2 * log(2.0), 4 * log(2.0));
    tg_tape_free(t);
}
END_TEST

START_TEST(maximum_minimum_ties_split) {
    tg_dtype d = dtypes[_i];
    double tol = tol_of(d);
    tg_tape *t = tg_tape_new();
    tg_tensor *a = leaf(MK(t, d, TG_SHAPE(3), 1, 5, 3)), *b = leaf(MK(t, d, TG_SHAPE(3), 2, 5, 1));
    tg_tensor *hi = tg_maximum(t, a, b), *lo = tg_minimum(t, a, b);
    EXPECT(hi, tol, TG_SHAPE(3), 2, 5, 3);
    EXPECT(lo, tol, TG_SHAPE(3), 1, 5, 1);
    /* the tie (5, 5) gives each input half */
    EXPECT(grad_of(t, hi, NULL, a), tol, TG_SHAPE(3), 0, 0.5, 1);
    EXPECT(grad_of(t, hi, NULL, b), tol, TG_SHAPE(3), 1, 0.5, 0);
    EXPECT(grad_of(t, lo, NULL, a), tol, TG_SHAPE(3), 1, 0.5, 0);
    EXPECT(grad_of(t, lo, NULL, b), tol, TG_SHAPE(3), 0, 0.5, 1);
    /* broadcast (2,2) against (2,): b's gradient counts its wins over the rows */
    tg_tensor *m = leaf(MK(t, d, TG_SHAPE(2, 2), 1, 4, 3, 0));
    tg_tensor *r = leaf(MK(t, d, TG_SHAPE(2), 2, 2));
    tg_tensor *z = tg_maximum(t, m, r);
    EXPECT(z, tol, TG_SHAPE(2, 2), 2, 4, 3, 2);
    EXPECT(grad_of(t, z, NULL, m), tol, TG_SHAPE(2, 2), 0, 1, 1, 0);
    EXPECT(grad_of(t, z, NULL, r), tol, TG_SHAPE(2), 1, 1);
    tg_tape_free(t);
}
END_TEST

START_TEST(comparison_values) {
    tg_dtype d = dtypes[_i];
    tg_tape *t = tg_tape_new();
    tg_tensor *a = MK(t, d, TG_SHAPE(4), 1, 2, 3, NAN), *b = MK(t, d, TG_SCALAR_SHAPE, 2);
    EXPECT(tg_gt(t, a, b), 0, TG_SHAPE(4), 0, 0, 1, 0);
    EXPECT(tg_ge(t, a, b), 0, TG_SHAPE(4), 0, 1, 1, 0);
    EXPECT(tg_lt(t, a, b), 0, TG_SHAPE(4), 1, 0, 0, 0);
    EXPECT(tg_le(t, a, b), 0, TG_SHAPE(4), 1, 1, 0, 0);
    EXPECT(tg_eq(t, a, b), 0, TG_SHAPE(4), 0, 1, 0, 0);
    EXPECT(tg_ne(t, a, b), 0, TG_SHAPE(4), 1, 0, 1, 1);
    ck_assert_int_eq(tg_tensor_dtype(tg_gt(t, a, b)), d);
    /* broadcast (2,1) against (3,) */
    tg_tensor *c = MK(t, d, TG_SHAPE(2, 1), 1, 3), *e = MK(t, d, TG_SHAPE(3), 0, 1, 2);
    EXPECT(tg_ge(t, c, e), 0, TG_SHAPE(2, 3), 1, 1, 0, 1, 1, 1);
    /* the derivative is zero: a mask times x passes exactly the mask */
    tg_tensor *x = leaf(MK(t, d, TG_SHAPE(3), -1, 0.5, 2));
    tg_tensor *masked = tg_mul(t, tg_gt(t, x, tg_scalar(t, d, 0.0)), x);
    EXPECT(grad_of(t, masked, NULL, x), 0, TG_SHAPE(3), 0, 1, 1);
    tg_tape_free(t);
}
END_TEST

START_TEST(where_values_and_gradients) {
    tg_dtype d = dtypes[_i];
    double tol = tol_of(d);
    tg_tape *t = tg_tape_new();
    tg_tensor *mask = MK(t, d, TG_SHAPE(2, 1), 1, 0);
    tg_tensor *a = leaf(MK(t, d, TG_SHAPE(3), 1, 2, 3)), *b = leaf(MK(t, d, TG_SCALAR_SHAPE, 9));
    tg_tensor *z = tg_where(t, mask, a, b);
    EXPECT(z, tol, TG_SHAPE(2, 3), 1, 2, 3, 9, 9, 9);
    EXPECT(grad_of(t, z, NULL, a), tol, TG_SHAPE(3), 1, 1, 1);
    EXPECT(grad_of(t, z, NULL, b), tol, TG_SCALAR_SHAPE, 3);
    /* NaN and negative values count as nonzero */
    EXPECT(tg_where(t, MK(t, d, TG_SHAPE(3), NAN, -2, 0), a, b), tol, TG_SHAPE(3), 1, 2, 9);
    /* an infinite output gradient reaches only the selected side: the other gets exact zeros */
    tg_tensor *x = leaf(MK(t, d, TG_SHAPE(2), 1, 2)), *y = leaf(MK(t, d, TG_SHAPE(2), 3, 4));
    tg_tensor *sel = tg_where(t, MK(t, d, TG_SHAPE(2), 1, 0), x, y), *g[2];
    tg_tensor *inputs[2] = {x, y};
    tg_tensor *gout = MK(t, d, TG_SHAPE(2), INFINITY, INFINITY);
    ck_assert_int_eq(tg_tape_grad(t, sel, gout, 2, inputs, g, 0), TG_OK);
    EXPECT(g[0], 0, TG_SHAPE(2), INFINITY, 0);
    EXPECT(g[1], 0, TG_SHAPE(2), 0, INFINITY);
    tg_tape_free(t);
}
END_TEST

/* ---- reductions ---- */

START_TEST(max_min_values_and_ties) {
    tg_dtype d = dtypes[_i];
    double tol = tol_of(d);
    tg_tape *t = tg_tape_new();
    tg_tensor *x = leaf(MK(t, d, TG_SHAPE(2, 3), 1, 3, 3, -1, -5, 0));
    tg_tensor *m1 = tg_max(t, x, 1, (int[]){1}, false);
    EXPECT(m1, tol, TG_SHAPE(2), 3, 0);
    /* the tie 3, 3 splits the gradient equally */
    EXPECT(grad_of(t, m1, NULL, x), tol, TG_SHAPE(2, 3), 0, 0.5, 0.5, 0, 0, 1);
    EXPECT(tg_max(t, x, 1, (int[]){-1}, true), tol, TG_SHAPE(2, 1), 3, 0);
    tg_tensor *all = tg_max_all(t, x);
    EXPECT(all, tol, TG_SCALAR_SHAPE, 3);
    EXPECT(grad_of(t, all, NULL, x), tol, TG_SHAPE(2, 3), 0, 0.5, 0.5, 0, 0, 0);
    tg_tensor *n0 = tg_min(t, x, 1, (int[]){0}, false);
    EXPECT(n0, tol, TG_SHAPE(3), -1, -5, 0);
    /* weights w = (1, 2, 3) on the outputs land on the selected rows */
    EXPECT(grad_of(t, n0, MK(t, d, TG_SHAPE(3), 1, 2, 3), x), tol, TG_SHAPE(2, 3), 0, 0, 0, 1, 2,
           3);
    EXPECT(tg_min_all(t, x), tol, TG_SCALAR_SHAPE, -5);
    /* three-way tie over two axes: each gets a third */
    tg_tensor *y = leaf(MK(t, d, TG_SHAPE(2, 2), 7, 7, 1, 7));
    EXPECT(grad_of(t, tg_max_all(t, y), NULL, y), tol, TG_SHAPE(2, 2), 1.0 / 3, 1.0 / 3, 0,
           1.0 / 3);
    /* a transposed view is read through its strides */
    EXPECT(tg_max(t, tg_transpose(t, x, 0, 1), 1, (int[]){0}, false), tol, TG_SHAPE(2), 3, 0);
    tg_tape_free(t);
}
END_TEST

START_TEST(var_values) {
    tg_dtype d = dtypes[_i];
    double tol = tol_of(d);
    tg_tape *t = tg_tape_new();
    tg_tensor *x = leaf(MK(t, d, TG_SHAPE(4), 1, 2, 3, 4));
    /* mean 2.5, squared deviations sum to 5: unbiased 5/3, population 5/4 */
    tg_tensor *v = tg_var_all(t, x, 1);
    EXPECT(v, tol, TG_SCALAR_SHAPE, 5.0 / 3);
    EXPECT(tg_var_all(t, x, 0), tol, TG_SCALAR_SHAPE, 1.25);
    /* dv/dx = 2 (x - mean) / (n - 1) */
    EXPECT(grad_of(t, v, NULL, x), tol, TG_SHAPE(4), -1, -1.0 / 3, 1.0 / 3, 1);
    tg_tensor *y = MK(t, d, TG_SHAPE(2, 3), 1, 2, 3, 2, 4, 6);
    EXPECT(tg_var(t, y, 1, (int[]){1}, 1, false), tol, TG_SHAPE(2), 1, 4);
    EXPECT(tg_var(t, y, 1, (int[]){0}, 0, true), tol, TG_SHAPE(1, 3), 0.25, 1, 2.25);
    /* no degrees of freedom left: NaN (0/0) or inf, as PyTorch */
    EXPECT(tg_var_all(t, MK(t, d, TG_SCALAR_SHAPE, 3), 1), 0, TG_SCALAR_SHAPE, NAN);
    EXPECT(tg_var_all(t, MK(t, d, TG_SHAPE(2), 1, 3), 2), 0, TG_SCALAR_SHAPE, INFINITY);
    tg_tape_free(t);
}
END_TEST

START_TEST(logsumexp_values) {
    tg_dtype d = dtypes[_i];
    double tol = tol_of(d);
    tg_tape *t = tg_tape_new();
    tg_tensor *x = leaf(MK(t, d, TG_SHAPE(2), 0, log(3.0)));
    tg_tensor *l = tg_logsumexp_all(t, x);
    EXPECT(l, tol, TG_SCALAR_SHAPE, log(4.0));
    /* the gradient is the softmax */
    EXPECT(grad_of(t, l, NULL, x), tol, TG_SHAPE(2), 0.25, 0.75);
    /* large inputs stay finite and exact; all -inf gives -inf */
    tg_tensor *big = MK(t, d, TG_SHAPE(3, 2), 1000, 1000, -1000, -1000, -INFINITY, -INFINITY);
    EXPECT(tg_logsumexp(t, big, 1, (int[]){1}, false), tol, TG_SHAPE(3), 1000 + log(2.0),
           -1000 + log(2.0), -INFINITY);
    EXPECT(tg_logsumexp(t, big, 1, (int[]){0}, true), tol, TG_SHAPE(1, 2), 1000, 1000);
    /* and so is the gradient: taken as e^(x - y) it carried y's rounding (ulp(10000) in f32 is
     * 1e-3, so up to 5e-4 relative error in e^(x - y)) */
    tg_tensor *huge = leaf(MK(t, d, TG_SHAPE(2, 3), 10000, 10000, -10000, 3000, 0, 3000));
    EXPECT(grad_of(t, tg_logsumexp(t, huge, 1, (int[]){1}, false), NULL, huge), tol,
           TG_SHAPE(2, 3), 0.5, 0.5, 0, 0.5, 0, 0.5);
    /* a row holding +inf: the gradient is e^(x - inf), 0 at every finite x and NaN (inf - inf)
     * at the infinities, as in PyTorch 1.13. A large finite x beside the +inf (e^1000
     * overflows f32 and f64) gave NaN when the softmax was shifted by 0 instead of the max. */
    tg_tensor *inf_row = leaf(MK(t, d, TG_SHAPE(3, 3), 1000, INFINITY, -5, INFINITY, 2,
                                 INFINITY, 0, log(3.0), -INFINITY));
    EXPECT(tg_logsumexp(t, inf_row, 1, (int[]){1}, false), tol, TG_SHAPE(3), INFINITY, INFINITY,
           log(4.0));
    EXPECT(grad_of(t, tg_logsumexp(t, inf_row, 1, (int[]){1}, false), NULL, inf_row), tol,
           TG_SHAPE(3, 3), 0, NAN, 0, NAN, 0, NAN, 0.25, 0.75, 0);
    /* an empty reduction is ln 0 = -inf */
    EXPECT(tg_logsumexp(t, tg_zeros(t, d, TG_SHAPE(2, 0)), 1, (int[]){1}, false), 0, TG_SHAPE(2),
           -INFINITY, -INFINITY);
    tg_tape_free(t);
}
END_TEST

/* ---- softmax ---- */

START_TEST(softmax_values_and_stability) {
    tg_dtype d = dtypes[_i];
    double tol = tol_of(d);
    tg_tape *t = tg_tape_new();
    EXPECT(tg_softmax(t, MK(t, d, TG_SHAPE(2), 0, log(3.0)), 0), tol, TG_SHAPE(2), 0.25, 0.75);
    tg_tensor *big = MK(t, d, TG_SHAPE(3, 2), 1000, -1000, -1000, 1000, 1000, 1000);
    /* exact at +-1000: e^-2000 is 0, nothing overflows */
    EXPECT(tg_softmax(t, big, 1), 0, TG_SHAPE(3, 2), 1, 0, 0, 1, 0.5, 0.5);
    EXPECT(tg_log_softmax(t, big, -1), tol, TG_SHAPE(3, 2), 0, -2000, -2000, 0, -log(2.0),
           -log(2.0));
    EXPECT(tg_log_softmax(t, MK(t, d, TG_SHAPE(2), -1000, -1000), 0), tol, TG_SHAPE(2),
           -log(2.0), -log(2.0));
    /* along axis 0, and of a transposed view */
    tg_tensor *x = MK(t, d, TG_SHAPE(2, 2), 0, 1, 0, 1);
    EXPECT(tg_softmax(t, x, 0), tol, TG_SHAPE(2, 2), 0.5, 0.5, 0.5, 0.5);
    double e = exp(1.0);
    EXPECT(tg_softmax(t, tg_transpose(t, x, 0, 1), 0), tol, TG_SHAPE(2, 2), 1 / (1 + e),
           1 / (1 + e), e / (1 + e), e / (1 + e));
    /* the gradient of one output: dy_0/dx = y_0 (e_0 - y) */
    tg_tensor *z = leaf(MK(t, d, TG_SHAPE(2), 0, log(3.0)));
    tg_tensor *w = MK(t, d, TG_SHAPE(2), 1, 0);
    EXPECT(grad_of(t, tg_softmax(t, z, 0), w, z), tol, TG_SHAPE(2), 0.25 * 0.75, -0.25 * 0.75);
    /* log_softmax at +-1000: its gradient is finite too */
    tg_tensor *bl = leaf(MK(t, d, TG_SHAPE(2), 1000, -1000));
    EXPECT(grad_of(t, tg_log_softmax(t, bl, 0), MK(t, d, TG_SHAPE(2), 0, 1), bl), tol,
           TG_SHAPE(2), -1, 1);
    tg_tape_free(t);
}
END_TEST

/* ---- losses ---- */

START_TEST(cross_entropy_values) {
    tg_dtype d = dtypes[_i];
    double tol = tol_of(d);
    tg_tape *t = tg_tape_new();
    /* row 0: softmax is (1, 2, 3, 4)/10, label 2 -> -ln 0.3; row 1: uniform, label 0 -> ln 4 */
    tg_tensor *x = leaf(MK(t, d, TG_SHAPE(2, 4), 0, log(2.0), log(3.0), log(4.0), 0, 0, 0, 0));
    const int64_t labels[2] = {2, 0};
    double l0 = -log(0.3), l1 = log(4.0);
    tg_tensor *mean = tg_cross_entropy(t, x, labels, 0.0, TG_REDUCE_MEAN);
    EXPECT(mean, tol, TG_SCALAR_SHAPE, (l0 + l1) / 2);
    EXPECT(tg_cross_entropy(t, x, labels, 0.0, TG_REDUCE_SUM), tol, TG_SCALAR_SHAPE, l0 + l1);
    EXPECT(tg_cross_entropy(t, x, labels, 0.0, TG_REDUCE_NONE), tol, TG_SHAPE(2), l0, l1);
    /* gradient: (softmax - onehot) / N */
    EXPECT(grad_of(t, mean, NULL, x), tol, TG_SHAPE(2, 4), 0.05, 0.1, (0.3 - 1) / 2, 0.2,
           (0.25 - 1) / 2, 0.125, 0.125, 0.125);
    /* smoothing e: (1-e) nll + e mean_c(-log_softmax) */
    double e = 0.1, u0 = -(log(0.1) + log(0.2) + log(0.3) + log(0.4)) / 4;
    EXPECT(tg_cross_entropy(t, x, labels, e, TG_REDUCE_NONE), tol, TG_SHAPE(2),
           (1 - e) * l0 + e * u0, l1);
    /* probability targets: one-hot targets give the label form, smoothing included */
    tg_tensor *onehot = MK(t, d, TG_SHAPE(2, 4), 0, 0, 1, 0, 1, 0, 0, 0);
    EXPECT(tg_cross_entropy_probs(t, x, onehot, 0.0, TG_REDUCE_MEAN), tol, TG_SCALAR_SHAPE,
           (l0 + l1) / 2);
    EXPECT(tg_cross_entropy_probs(t, x, onehot, e, TG_REDUCE_NONE), tol, TG_SHAPE(2),
           (1 - e) * l0 + e * u0, l1);
    /* huge logits: finite */
    tg_tensor *h = MK(t, d, TG_SHAPE(1, 2), 1000, -1000);
    EXPECT(tg_cross_entropy(t, h, (const int64_t[]){1}, 0.0, TG_REDUCE_MEAN), 0, TG_SCALAR_SHAPE,
           2000);
    tg_tape_free(t);
}
END_TEST

START_TEST(nll_mse_values) {
    tg_dtype d = dtypes[_i];
    double tol = tol_of(d);
    tg_tape *t = tg_tape_new();
    tg_tensor *lp = leaf(MK(t, d, TG_SHAPE(2, 3), -1, -2, -3, -0.5, -0.25, -4));
    const int64_t labels[2] = {2, 1};
    tg_tensor *l = tg_nll(t, lp, labels, TG_REDUCE_MEAN);
    EXPECT(l, tol, TG_SCALAR_SHAPE, (3 + 0.25) / 2);
    EXPECT(grad_of(t, l, NULL, lp), tol, TG_SHAPE(2, 3), 0, 0, -0.5, 0, -0.5, 0);
    /* -inf off the label: no NaN in the loss or its gradient */
    tg_tensor *inf = leaf(MK(t, d, TG_SHAPE(1, 3), -INFINITY, -0.5, -INFINITY));
    tg_tensor *li = tg_nll(t, inf, (const int64_t[]){1}, TG_REDUCE_SUM);
    EXPECT(li, tol, TG_SCALAR_SHAPE, 0.5);
    EXPECT(grad_of(t, li, NULL, inf), 0, TG_SHAPE(1, 3), 0, -1, 0);
    /* mse: squares (0, 4, 4) */
    tg_tensor *p = leaf(MK(t, d, TG_SHAPE(3), 1, 2, 3)), *q = MK(t, d, TG_SHAPE(3), 1, 0, 5);
    tg_tensor *m = tg_mse(t, p, q, TG_REDUCE_MEAN);
    EXPECT(m, tol, TG_SCALAR_SHAPE, 8.0 / 3);
    EXPECT(tg_mse(t, p, q, TG_REDUCE_NONE), tol, TG_SHAPE(3), 0, 4, 4);
    EXPECT(grad_of(t, m, NULL, p), tol, TG_SHAPE(3), 0, 4.0 / 3, -4.0 / 3);
    tg_tape_free(t);
}
END_TEST

START_TEST(bce_values_and_clamp) {
    tg_dtype d = dtypes[_i];
    double tol = tol_of(d);
    tg_tape *t = tg_tape_new();
    tg_tensor *p = leaf(MK(t, d, TG_SHAPE(2), 0.5, 0.9)), *y = MK(t, d, TG_SHAPE(2), 1, 0);
    tg_tensor *l = tg_bce(t, p, y, TG_REDUCE_MEAN);
    EXPECT(l, tol, TG_SCALAR_SHAPE, (log(2.0) - log(0.1)) / 2);
    /* dl/dp = (p - t) / (p (1 - p)) / N */
    EXPECT(grad_of(t, l, NULL, p), tol, TG_SHAPE(2), -0.5 / 0.25 / 2, 0.9 / 0.09 / 2);
    /* p = 0 or 1: each log clamps at -100, the loss is finite, the clamped branch's gradient is
     * 0 and nothing is NaN; p below e^-100 clamps too */
    tg_tensor *e = leaf(MK(t, d, TG_SHAPE(4), 0, 1, 0, d == TG_F64 ? 1e-50 : 0));
    tg_tensor *te = MK(t, d, TG_SHAPE(4), 1, 0, 0, 1);
    tg_tensor *le = tg_bce(t, e, te, TG_REDUCE_NONE);
    EXPECT(le, tol, TG_SHAPE(4), 100, 100, 0, 100);
    EXPECT(grad_of(t, le, NULL, e), 0, TG_SHAPE(4), 0, 0, 1, 0);
    /* from logits: softplus(x) - x t, finite at +-1000; gradient (sigmoid(x) - t) / N */
    tg_tensor *x = leaf(MK(t, d, TG_SHAPE(3), 0, 1000, -1000));
    tg_tensor *tx = MK(t, d, TG_SHAPE(3), 1, 0, 1);
    tg_tensor *lx = tg_bce_with_logits(t, x, tx, TG_REDUCE_MEAN);
    EXPECT(lx, tol, TG_SCALAR_SHAPE, (log(2.0) + 2000) / 3);
    EXPECT(grad_of(t, lx, NULL, x), tol, TG_SHAPE(3), -0.5 / 3, 1.0 / 3, -1.0 / 3);
    tg_tape_free(t);
}
END_TEST

/* ---- dropout ---- */

START_TEST(dropout_masks) {
    tg_dtype d = dtypes[_i];
    tg_tape *t = tg_tape_new();
    enum { N = 4000 };
    tg_tensor *x = leaf(tg_ones(t, d, TG_SHAPE(N)));
    tg_rng r1, r2;
    tg_rng_seed(&r1, 5);
    tg_rng_seed(&r2, 5);
    /* eval mode and p = 0 return x itself */
    ck_assert_ptr_eq(tg_dropout(t, x, 0.3, &r1, false), x);
    ck_assert_ptr_eq(tg_dropout(t, x, 0.3, NULL, false), x);
    ck_assert_ptr_eq(tg_dropout(t, x, 0.0, &r1, true), x);
    tg_tensor *a = tg_dropout(t, x, 0.3, &r1, true), *b = tg_dropout(t, x, 0.3, &r2, true);
    ck_assert_ptr_nonnull(a);
    int64_t dropped = 0;
    double keep = d == TG_F32 ? (double)(float)(1 / 0.7) : 1 / 0.7;
    for (int64_t i = 0; i < N; i++) {
        double v = tg_tensor_get(a, i);
        ck_assert_msg(v == 0 || v == keep, "element %lld is %g", (long long)i, v);
        /* the same seed gives the same mask */
        ck_assert(v == tg_tensor_get(b, i));
        dropped += v == 0;
    }
    /* about 30% dropped: the binomial's standard deviation is 29, so 1200 +- 150 */
    ck_assert_msg(dropped > 1050 && dropped < 1350, "%lld of %d dropped", (long long)dropped, N);
    /* another draw differs */
    tg_tensor *c = tg_dropout(t, x, 0.3, &r1, true);
    int64_t same = 0;
    for (int64_t i = 0; i < N; i++) same += tg_tensor_get(a, i) == tg_tensor_get(c, i);
    ck_assert_int_lt(same, N);
    /* the gradient is the mask itself */
    tg_tensor *g = grad_of(t, a, NULL, x);
    for (int64_t i = 0; i < N; i++) ck_assert(tg_tensor_get(g, i) == tg_tensor_get(a, i));
    tg_tape_free(t);
}
END_TEST

/* ---- bad input, per family ---- */

START_TEST(errors_elementwise) {
    tg_tape *t = tg_tape_new();
    tg_tensor *a = tg_zeros(t, TG_F64, TG_SHAPE(2, 3)), *b = tg_zeros(t, TG_F64, TG_SHAPE(4));
    tg_tensor *f = tg_zeros(t, TG_F32, TG_SHAPE(2, 3));
    expect_error(t, tg_pow(t, a, b), TG_ERR_SHAPE, "pow", "(2, 3)");
    expect_error(t, tg_maximum(t, a, f), TG_ERR_DTYPE, "maximum", "f32");
    expect_error(t, tg_minimum(t, a, b), TG_ERR_SHAPE, "minimum", NULL);
    expect_error(t, tg_gt(t, a, b), TG_ERR_SHAPE, "gt", NULL);
    expect_error(t, tg_eq(t, f, a), TG_ERR_DTYPE, "eq", NULL);
    expect_error(t, tg_where(t, b, a, a), TG_ERR_SHAPE, "where", "mask (4,)");
    expect_error(t, tg_where(t, a, a, f), TG_ERR_DTYPE, "where", NULL);
    expect_error(t, tg_clamp(t, a, 1, -1), TG_ERR_ARG, "clamp", "above");
    expect_error(t, tg_clamp(t, a, NAN, 1), TG_ERR_ARG, "clamp", "NaN");
    /* a NULL input gives NULL and keeps the first error */
    expect_error(t, tg_abs(t, NULL), TG_ERR_NULL, "abs", NULL);
    tg_tensor *y = tg_sqrt(t, tg_pow(t, a, b));
    ck_assert_ptr_null(y);
    ck_assert_msg(strncmp(tg_tape_error(t), "pow:", 4) == 0, "%s", tg_tape_error(t));
    tg_tape_clear_error(t);
    ck_assert_ptr_null(tg_gelu(NULL, a));
    ck_assert_ptr_null(tg_where(t, a, NULL, a));
    expect_error(t, NULL, TG_ERR_NULL, "where", "input 1");
    tg_tape_free(t);
}
END_TEST

START_TEST(errors_reductions_and_softmax) {
    tg_tape *t = tg_tape_new();
    tg_tensor *a = tg_zeros(t, TG_F64, TG_SHAPE(2, 3));
    expect_error(t, tg_max(t, a, 1, (int[]){2}, false), TG_ERR_AXIS, "max", "axis 2");
    expect_error(t, tg_min(t, a, 2, (int[]){1, -1}, false), TG_ERR_AXIS, "min", "twice");
    expect_error(t, tg_max(t, a, -1, NULL, false), TG_ERR_ARG, "max", NULL);
    expect_error(t, tg_max_all(t, tg_zeros(t, TG_F64, TG_SHAPE(0, 3))), TG_ERR_SHAPE, "max",
                 "empty");
    expect_error(t, tg_min(t, tg_zeros(t, TG_F64, TG_SHAPE(2, 0)), 1, (int[]){1}, true),
                 TG_ERR_SHAPE, "min", "empty");
    expect_error(t, tg_var(t, a, 1, (int[]){-3}, 1, false), TG_ERR_AXIS, "var", NULL);
    expect_error(t, tg_var_all(t, a, -1), TG_ERR_ARG, "var", "correction -1");
    expect_error(t, tg_logsumexp(t, a, 1, (int[]){5}, false), TG_ERR_AXIS, "logsumexp", NULL);
    expect_error(t, tg_softmax(t, a, 2), TG_ERR_AXIS, "softmax", "axis 2");
    expect_error(t, tg_log_softmax(t, a, -3), TG_ERR_AXIS, "log_softmax", NULL);
    expect_error(t, tg_softmax(t, tg_scalar(t, TG_F64, 1), 0), TG_ERR_AXIS, "softmax", NULL);
    tg_tape_free(t);
}
END_TEST

START_TEST(errors_losses_and_dropout) {
    tg_tape *t = tg_tape_new();
    tg_tensor *x = tg_zeros(t, TG_F64, TG_SHAPE(3, 4)), *v = tg_zeros(t, TG_F64, TG_SHAPE(4));
    const int64_t good[3] = {0, 3, 1}, bad[3] = {0, 4, 1}, neg[3] = {0, 1, -2};
    expect_error(t, tg_cross_entropy(t, x, bad, 0, TG_REDUCE_MEAN), TG_ERR_ARG, "cross_entropy",
                 "label 4 at index 1");
    expect_error(t, tg_cross_entropy(t, x, neg, 0, TG_REDUCE_MEAN), TG_ERR_ARG, "cross_entropy",
                 "index 2");
    expect_error(t, tg_cross_entropy(t, x, NULL, 0, TG_REDUCE_MEAN), TG_ERR_NULL,
                 "cross_entropy", "labels");
    expect_error(t, tg_cross_entropy(t, v, good, 0, TG_REDUCE_MEAN), TG_ERR_SHAPE,
                 "cross_entropy", "(N, C)");
    expect_error(t, tg_cross_entropy(t, x, good, 1.5, TG_REDUCE_MEAN), TG_ERR_ARG,
                 "cross_entropy", "smoothing");
    expect_error(t, tg_cross_entropy(t, x, good, 0, (tg_reduction)7), TG_ERR_ARG,
                 "cross_entropy", "reduction");
    expect_error(t, tg_cross_entropy_probs(t, x, tg_zeros(t, TG_F64, TG_SHAPE(3, 5)), 0,
                                           TG_REDUCE_MEAN),
                 TG_ERR_SHAPE, "cross_entropy_probs", "(3, 5)");
    expect_error(t, tg_nll(t, x, bad, TG_REDUCE_SUM), TG_ERR_ARG, "nll", "index 1");
    expect_error(t, tg_mse(t, x, tg_zeros(t, TG_F64, TG_SHAPE(4, 3)), TG_REDUCE_MEAN),
                 TG_ERR_SHAPE, "mse", NULL);
    expect_error(t, tg_mse(t, x, tg_zeros(t, TG_F32, TG_SHAPE(3, 4)), TG_REDUCE_MEAN),
                 TG_ERR_DTYPE, "mse", NULL);
    tg_tensor *p = tg_full(t, TG_F64, TG_SHAPE(2), 0.5), *q = tg_zeros(t, TG_F64, TG_SHAPE(2));
    expect_error(t, tg_bce(t, tg_add(t, p, tg_from_data(t, TG_F64, TG_SHAPE(2), (double[]){0, 1})),
                           q, TG_REDUCE_MEAN),
                 TG_ERR_ARG, "bce", "index 1");
    expect_error(t, tg_bce(t, tg_full(t, TG_F64, TG_SHAPE(2), NAN), q, TG_REDUCE_MEAN), TG_ERR_ARG,
                 "bce", "index 0");
    expect_error(t, tg_bce_with_logits(t, p, v, TG_REDUCE_MEAN), TG_ERR_SHAPE, "bce_with_logits",
                 NULL);
    tg_rng r;
    tg_rng_seed(&r, 1);
    expect_error(t, tg_dropout(t, x, 1.0, &r, true), TG_ERR_ARG, "dropout", "[0, 1)");
    expect_error(t, tg_dropout(t, x, -0.1, &r, false), TG_ERR_ARG, "dropout", NULL);
    expect_error(t, tg_dropout(t, x, NAN, &r, true), TG_ERR_ARG, "dropout", NULL);
    expect_error(t, tg_dropout(t, x, 0.5, NULL, true), TG_ERR_NULL, "dropout", "rng");
    tg_tape_free(t);
}
END_TEST

static Suite *elementwise_suite(void) {
    Suite *s = suite_create("elementwise_ops");
    TCase *tc = tcase_create("values");
    tcase_add_loop_test(tc, unary_values, 0, 2);
    tcase_add_loop_test(tc, activation_values, 0, 2);
    tcase_add_test(tc, nan_propagates);
    tcase_add_loop_test(tc, kink_gradients, 0, 2);
    tcase_add_loop_test(tc, pow_values_and_gradients, 0, 2);
    tcase_add_loop_test(tc, maximum_minimum_ties_split, 0, 2);
    tcase_add_loop_test(tc, comparison_values, 0, 2);
    tcase_add_loop_test(tc, where_values_and_gradients, 0, 2);
    tcase_add_loop_test(tc, max_min_values_and_ties, 0, 2);
    tcase_add_loop_test(tc, var_values, 0, 2);
    tcase_add_loop_test(tc, logsumexp_values, 0, 2);
    tcase_add_loop_test(tc, softmax_values_and_stability, 0, 2);
    tcase_add_loop_test(tc, cross_entropy_values, 0, 2);
    tcase_add_loop_test(tc, nll_mse_values, 0, 2);
    tcase_add_loop_test(tc, bce_values_and_clamp, 0, 2);
    tcase_add_loop_test(tc, dropout_masks, 0, 2);
    suite_add_tcase(s, tc);
    tc = tcase_create("errors");
    tcase_add_test(tc, errors_elementwise);
    tcase_add_test(tc, errors_reductions_and_softmax);
    tcase_add_test(tc, errors_losses_and_dropout);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tg_test_run(elementwise_suite()); }
