/* test_nan_semantics.c: every numeric op on NaN, +inf, -inf, signed zeros and ordinary inputs,
 * value and gradient, against PyTorch (tests/fixtures/nan, from tools/make_fixtures_nan.py, with
 * the deliberate differences of docs/nan-semantics.md applied there). NaN must meet NaN and an
 * infinity the same infinity; finite values agree to a tolerance. Both dtypes; f32 at every
 * CPU level the machine has, so the SIMD maps are held to the scalar loops' semantics. */
#include <float.h>
#include <string.h>

#include "../fixture.h"
#include "test_util.h"

typedef tg_tensor *(*op_fn)(tg_tape *t, tg_tensor *const *x);

#define UNARY(NAME, EXPR)                                                                          \
    static tg_tensor *NAME(tg_tape *t, tg_tensor *const *x) { return EXPR; }

UNARY(f_neg, tg_neg(t, x[0]))
UNARY(f_exp, tg_exp(t, x[0]))
UNARY(f_log, tg_log(t, x[0]))
UNARY(f_tanh, tg_tanh(t, x[0]))
UNARY(f_sigmoid, tg_sigmoid(t, x[0]))
UNARY(f_relu, tg_relu(t, x[0]))
UNARY(f_step, tg_step(t, x[0]))
UNARY(f_sqrt, tg_sqrt(t, x[0]))
UNARY(f_square, tg_square(t, x[0]))
UNARY(f_sin, tg_sin(t, x[0]))
UNARY(f_cos, tg_cos(t, x[0]))
UNARY(f_abs, tg_abs(t, x[0]))
UNARY(f_sign, tg_sign(t, x[0]))
UNARY(f_gelu, tg_gelu(t, x[0]))
UNARY(f_gelu_grad, tg_gelu_grad(t, x[0]))
UNARY(f_softplus, tg_softplus(t, x[0]))
UNARY(f_leaky_relu, tg_leaky_relu(t, x[0], 0.1))
UNARY(f_elu, tg_elu(t, x[0], 1.0))
UNARY(f_clamp, tg_clamp(t, x[0], -1.0, 1.0))
UNARY(f_sign_ste, tg_sign_ste(t, x[0]))
UNARY(f_add_scalar, tg_add_scalar(t, x[0], 2.0))
UNARY(f_sub_scalar, tg_sub_scalar(t, x[0], 2.0))
UNARY(f_rsub_scalar, tg_rsub_scalar(t, x[0], 2.0))
UNARY(f_mul_scalar, tg_mul_scalar(t, x[0], 3.0))
UNARY(f_mul_scalar_0, tg_mul_scalar(t, x[0], 0.0))
UNARY(f_div_scalar, tg_div_scalar(t, x[0], 2.0))
UNARY(f_div_scalar_0, tg_div_scalar(t, x[0], 0.0))
UNARY(f_rdiv_scalar, tg_rdiv_scalar(t, x[0], 1.0))
UNARY(f_pow_scalar_2, tg_pow_scalar(t, x[0], 2.0))
UNARY(f_pow_scalar_3, tg_pow_scalar(t, x[0], 3.0))
UNARY(f_pow_scalar_half, tg_pow_scalar(t, x[0], 0.5))
UNARY(f_pow_scalar_m1, tg_pow_scalar(t, x[0], -1.0))
UNARY(f_pow_scalar_0, tg_pow_scalar(t, x[0], 0.0))
UNARY(f_add, tg_add(t, x[0], x[1]))
UNARY(f_sub, tg_sub(t, x[0], x[1]))
UNARY(f_mul, tg_mul(t, x[0], x[1]))
UNARY(f_div, tg_div(t, x[0], x[1]))
UNARY(f_pow, tg_pow(t, x[0], x[1]))
UNARY(f_maximum, tg_maximum(t, x[0], x[1]))
UNARY(f_minimum, tg_minimum(t, x[0], x[1]))
UNARY(f_gt, tg_gt(t, x[0], x[1]))
UNARY(f_ge, tg_ge(t, x[0], x[1]))
UNARY(f_lt, tg_lt(t, x[0], x[1]))
UNARY(f_le, tg_le(t, x[0], x[1]))
UNARY(f_eq, tg_eq(t, x[0], x[1]))
UNARY(f_ne, tg_ne(t, x[0], x[1]))
UNARY(f_where, tg_where(t, x[0], x[1], x[2]))
UNARY(f_sum, tg_sum(t, x[0], 1, (int[]){1}, false))
UNARY(f_mean, tg_mean(t, x[0], 1, (int[]){1}, false))
UNARY(f_var, tg_var(t, x[0], 1, (int[]){1}, 1, false))
UNARY(f_logsumexp, tg_logsumexp(t, x[0], 1, (int[]){1}, false))
UNARY(f_softmax, tg_softmax(t, x[0], 1))
UNARY(f_log_softmax, tg_log_softmax(t, x[0], 1))
UNARY(f_max, tg_max(t, x[0], 1, (int[]){1}, false))
UNARY(f_min, tg_min(t, x[0], 1, (int[]){1}, false))
UNARY(f_max_all, tg_max_all(t, x[0]))
UNARY(f_min_all, tg_min_all(t, x[0]))
UNARY(f_max_pool2d, tg_max_pool2d(t, x[0], &(tg_pool2d_params){.kernel = {2, 2}}))
UNARY(f_avg_pool2d, tg_avg_pool2d(t, x[0], &(tg_pool2d_params){.kernel = {2, 2}}))
UNARY(f_conv2d, tg_conv2d(t, x[0], x[1], NULL, NULL))
UNARY(f_matmul, tg_matmul(t, x[0], x[1]))
UNARY(f_lstm_gates, tg_lstm_gates(t, x[0], x[1]))

/* Per-row cross entropy against the labels held (as whole numbers) in x[1]. */
static tg_tensor *f_softmax_cross_entropy(tg_tape *t, tg_tensor *const *x) {
    int64_t labels[16];
    int64_t n = tg_tensor_numel(x[1]);
    ck_assert_int_le(n, 16);
    for (int64_t i = 0; i < n; i++) labels[i] = (int64_t)tg_tensor_get(x[1], i);
    return tg_cross_entropy(t, x[0], labels, 0.0, TG_REDUCE_NONE);
}

typedef struct nan_case {
    const char *fixture;
    op_fn fn;
    int n_grad; /* leading inputs whose gradients are compared (the rest: masks, labels) */
} nan_case;

static const nan_case cases[] = {
    {"neg", f_neg, 1}, {"exp", f_exp, 1}, {"log", f_log, 1}, {"tanh", f_tanh, 1},
    {"sigmoid", f_sigmoid, 1}, {"relu", f_relu, 1}, {"step", f_step, 0}, {"sqrt", f_sqrt, 1},
    {"square", f_square, 1}, {"sin", f_sin, 1}, {"cos", f_cos, 1}, {"abs", f_abs, 1},
    {"sign", f_sign, 0}, {"gelu", f_gelu, 1}, {"gelu_grad", f_gelu_grad, 1},
    {"softplus", f_softplus, 1}, {"leaky_relu", f_leaky_relu, 1}, {"elu", f_elu, 1},
    {"clamp", f_clamp, 1}, {"sign_ste", f_sign_ste, 1}, {"add_scalar", f_add_scalar, 1},
    {"sub_scalar", f_sub_scalar, 1}, {"rsub_scalar", f_rsub_scalar, 1},
    {"mul_scalar", f_mul_scalar, 1}, {"mul_scalar_0", f_mul_scalar_0, 1},
    {"div_scalar", f_div_scalar, 1}, {"div_scalar_0", f_div_scalar_0, 1},
    {"rdiv_scalar", f_rdiv_scalar, 1}, {"pow_scalar_2", f_pow_scalar_2, 1},
    {"pow_scalar_3", f_pow_scalar_3, 1}, {"pow_scalar_half", f_pow_scalar_half, 1},
    {"pow_scalar_m1", f_pow_scalar_m1, 1}, {"pow_scalar_0", f_pow_scalar_0, 1},
    {"add", f_add, 2}, {"sub", f_sub, 2}, {"mul", f_mul, 2}, {"div", f_div, 2},
    {"pow", f_pow, 2}, {"maximum", f_maximum, 2}, {"minimum", f_minimum, 2},
    {"gt", f_gt, 0}, {"ge", f_ge, 0}, {"lt", f_lt, 0}, {"le", f_le, 0}, {"eq", f_eq, 0},
    {"ne", f_ne, 0}, {"where", f_where, -1}, {"sum", f_sum, 1}, {"mean", f_mean, 1},
    {"var", f_var, 1}, {"logsumexp", f_logsumexp, 1}, {"softmax", f_softmax, 1},
    {"log_softmax", f_log_softmax, 1}, {"max", f_max, 1}, {"min", f_min, 1},
    {"max_all_0", f_max_all, 1}, {"max_all_1", f_max_all, 1}, {"max_all_2", f_max_all, 1},
    {"max_all_3", f_max_all, 1}, {"max_all_4", f_max_all, 1}, {"max_all_5", f_max_all, 1},
    {"max_all_6", f_max_all, 1}, {"max_all_7", f_max_all, 1}, {"min_all_0", f_min_all, 1},
    {"min_all_1", f_min_all, 1}, {"min_all_2", f_min_all, 1}, {"min_all_3", f_min_all, 1},
    {"min_all_4", f_min_all, 1}, {"min_all_5", f_min_all, 1}, {"min_all_6", f_min_all, 1},
    {"min_all_7", f_min_all, 1}, {"softmax_cross_entropy", f_softmax_cross_entropy, 1},
    {"max_pool2d", f_max_pool2d, 1}, {"avg_pool2d", f_avg_pool2d, 1}, {"conv2d", f_conv2d, 2},
    {"matmul", f_matmul, 2}, {"lstm_gates", f_lstm_gates, 2},
};
#define N_CASES ((int)(sizeof cases / sizeof cases[0]))

/* True when got agrees with want: both NaN, the same infinity, or finite and close. In f32 the
 * expectation is first rounded to float, so a value past FLT_MAX is the infinity f32 gives. */
static bool agrees(double got, double want, tg_dtype dt) {
    if (dt == TG_F32) want = (double)(float)want;
    if (isnan(want) || isnan(got)) return isnan(want) && isnan(got);
    if (isinf(want) || isinf(got)) return got == want;
    double tol = dt == TG_F32 ? 2e-5 : 1e-11;
    return fabs(got - want) <= tol * (1.0 + fabs(want));
}

static void expect_tensor(const char *what, const char *name, const char *key,
                          const fixture *f, const tg_tensor *x, tg_dtype dt) {
    const fixture_tensor *w = fixture_get(f, key);
    ck_assert_msg(w != NULL, "%s: fixture has no %s", name, key);
    ck_assert_msg(x != NULL, "%s %s: no result", name, what);
    ck_assert_int_eq(tg_tensor_numel(x), w->numel);
    for (int64_t i = 0; i < w->numel; i++) {
        double got = tg_tensor_get(x, i);
        ck_assert_msg(agrees(got, w->values[i], dt),
                      "%s %s (%s, %s kernels): element %lld is %.17g, PyTorch %.17g", name, what,
                      tg_dtype_name(dt), tg_cpu_level_name(tg_get_cpu_level()), (long long)i, got,
                      w->values[i]);
    }
}

static void run_case(const nan_case *c, tg_dtype dt) {
    char name[64];
    snprintf(name, sizeof name, "nan/%s", c->fixture);
    fixture f;
    ck_assert_msg(fixture_load(&f, name), "%s: %s", name, f.error);
    tg_tape *t = tg_tape_new();
    tg_tensor *x[3] = {NULL, NULL, NULL};
    int n_in = 0;
    for (; n_in < 3; n_in++) {
        char key[16];
        snprintf(key, sizeof key, "x%d", n_in);
        const fixture_tensor *ft = fixture_get(&f, key);
        if (!ft) break;
        x[n_in] = tg_zeros(t, dt, ft->ndim, ft->shape);
        ck_assert_int_eq(tg_tensor_copy_in(x[n_in], TG_F64, ft->values), TG_OK);
    }
    /* where: the mask (input 0) takes no gradient; a and b (inputs 1, 2) do. */
    int first = c->n_grad < 0 ? 1 : 0, last = c->n_grad < 0 ? n_in : c->n_grad;
    for (int i = first; i < last; i++) tg_tensor_set_requires_grad(x[i], true);
    tg_tensor *y = c->fn(t, x);
    ck_assert_msg(y != NULL, "%s: %s", name, tg_tape_error(t));
    expect_tensor("value", c->fixture, "y", &f, y, dt);
    if (last > first) {
        ck_assert_msg(tg_tape_backward(t, tg_sum_all(t, y), NULL, 0) == TG_OK, "%s: %s", name,
                      tg_tape_error(t));
        for (int i = first; i < last; i++) {
            char key[16], what[48];
            snprintf(key, sizeof key, "g%d", i);
            snprintf(what, sizeof what, "gradient of input %d", i);
            expect_tensor(what, c->fixture, key, &f, tg_tensor_grad(x[i]), dt);
        }
    }
    tg_tape_free(t);
    fixture_free(&f);
}

START_TEST(test_f64) {
    run_case(&cases[_i], TG_F64);
}
END_TEST

/* f32 at every level: the SIMD maps (relu, step, max pooling, the arithmetic) must agree with
 * the portable loops on NaN and infinities, not only on ordinary numbers. */
START_TEST(test_f32_every_level) {
    tg_cpu_level best = tg_cpu_best_level();
    for (int l = TG_CPU_PORTABLE; l < TG_TEST_N_LEVELS; l++) {
        if (!tg_test_enter_level((tg_cpu_level)l)) continue;
        run_case(&cases[_i], TG_F32);
    }
    tg_set_cpu_level(best);
}
END_TEST

/* Long tensors, so that the SIMD maps run many full vectors and the threaded split: relu and
 * step keep NaN in every lane position, and relu's gradient passes through NaN as PyTorch's. */
START_TEST(test_long_relu_step) {
    enum { N = 70000 };
    tg_cpu_level best = tg_cpu_best_level();
    for (int l = TG_CPU_PORTABLE; l < TG_TEST_N_LEVELS; l++) {
        if (!tg_test_enter_level((tg_cpu_level)l)) continue;
        tg_tape *t = tg_tape_new();
        tg_tensor *x = tg_zeros(t, TG_F32, 1, (int64_t[]){N});
        float *v = tg_tensor_data(x);
        for (int i = 0; i < N; i++) v[i] = i % 7 == 3 ? NAN : (float)(i % 5) - 2.0f;
        tg_tensor_set_requires_grad(x, true);
        tg_tensor *r = tg_relu(t, x), *s = tg_step(t, x);
        ck_assert_int_eq(tg_tape_backward(t, tg_sum_all(t, r), NULL, 0), TG_OK);
        const tg_tensor *g = tg_tensor_grad(x);
        for (int i = 0; i < N; i++) {
            double xi = v[i], ri = tg_tensor_get(r, i), si = tg_tensor_get(s, i);
            double gi = tg_tensor_get(g, i);
            if (isnan(xi)) {
                ck_assert_msg(isnan(ri) && isnan(si) && gi == 1.0, "element %d at level %d", i, l);
            } else {
                ck_assert_msg(ri == (xi > 0 ? xi : 0) && si == (xi > 0) && gi == (xi > 0),
                              "element %d at level %d", i, l);
            }
        }
        tg_tape_free(t);
    }
    tg_set_cpu_level(best);
}
END_TEST

/* Larger inputs with NaN and infinities scattered, so that the SIMD max-pool selections (the
 * 2x2 stride-2 path and the general one), the softmax rows and the reductions see them in
 * every lane position: f32 at each level against the f64 computation (scalar loops), values and
 * gradients. */
typedef tg_tensor *(*spread_fn)(tg_tape *t, tg_tensor *x);
static tg_tensor *s_pool2(tg_tape *t, tg_tensor *x) {
    return tg_max_pool2d(t, x, &(tg_pool2d_params){.kernel = {2, 2}});
}
static tg_tensor *s_pool3(tg_tape *t, tg_tensor *x) {
    return tg_max_pool2d(t, x, &(tg_pool2d_params){.kernel = {3, 3}, .stride = {1, 1}});
}
static tg_tensor *s_softmax(tg_tape *t, tg_tensor *x) { return tg_softmax(t, x, 3); }
static tg_tensor *s_log_softmax(tg_tape *t, tg_tensor *x) { return tg_log_softmax(t, x, 3); }
static tg_tensor *s_max(tg_tape *t, tg_tensor *x) { return tg_max(t, x, 1, (int[]){3}, false); }
static tg_tensor *s_relu(tg_tape *t, tg_tensor *x) { return tg_relu(t, x); }
/* x as (96, 34) times its transpose: the GEMM's packed and SIMD paths with NaN and infinities
 * in the operands (0 * inf and inf - inf must give NaN whatever the order of the sums). */
static tg_tensor *s_matmul(tg_tape *t, tg_tensor *x) {
    tg_tensor *a = tg_reshape(t, x, 2, (int64_t[]){96, 34});
    return tg_matmul(t, a, tg_transpose(t, a, 0, 1));
}
/* A 3x3 convolution with finite weights (3 -> 4 channels) over the scattered input. Inputs and
 * weights are multiples of 1/8, so the f32 sums are exact and the comparison with f64 is too. */
static tg_tensor *s_conv(tg_tape *t, tg_tensor *x) {
    tg_tensor *w = tg_zeros(t, tg_tensor_dtype(x), 4, (int64_t[]){4, 3, 3, 3});
    for (int i = 0; i < 108; i++) {
        double v = (double)(i % 7) / 8.0 - 0.375;
        if (tg_tensor_dtype(x) == TG_F32)
            ((float *)tg_tensor_data(w))[i] = (float)v;
        else
            ((double *)tg_tensor_data(w))[i] = v;
    }
    return tg_conv2d(t, x, w, NULL, &(tg_conv2d_params){.padding = {1, 1}});
}
static const spread_fn spread[] = {s_pool2, s_pool3, s_softmax, s_log_softmax,
                                   s_max,   s_relu,  s_matmul,  s_conv};

/* Multiples of 1/8 in [-2, 2) with about 3% NaN, +inf and -inf scattered. */
static tg_tensor *spread_input(tg_tape *t, tg_dtype dt) {
    tg_tensor *x = tg_zeros(t, dt, 4, (int64_t[]){2, 3, 16, 34});
    int64_t n = tg_tensor_numel(x);
    double *v = malloc((size_t)n * sizeof *v);
    ck_assert_ptr_nonnull(v);
    uint32_t r = 12345;
    for (int64_t i = 0; i < n; i++) {
        r = r * 1664525u + 1013904223u;
        uint32_t k = r >> 8;
        v[i] = k % 97 == 0 ? NAN : k % 89 == 0 ? INFINITY : k % 83 == 0 ? -INFINITY
                                                          : (double)(k % 32) / 8.0 - 2.0;
    }
    /* a row of all -inf and one starting with NaN */
    for (int j = 0; j < 34; j++) v[5 * 34 + j] = -INFINITY;
    v[7 * 34] = NAN;
    ck_assert_int_eq(tg_tensor_copy_in(x, TG_F64, v), TG_OK);
    free(v);
    tg_tensor_set_requires_grad(x, true);
    return x;
}

START_TEST(test_spread_every_level) {
    tg_tape *ref_t = tg_tape_new();
    tg_tensor *xr = spread_input(ref_t, TG_F64);
    tg_tensor *yr = spread[_i](ref_t, xr);
    ck_assert_int_eq(tg_tape_backward(ref_t, tg_sum_all(ref_t, yr), NULL, 0), TG_OK);
    tg_cpu_level best = tg_cpu_best_level();
    for (int l = TG_CPU_PORTABLE; l < TG_TEST_N_LEVELS; l++) {
        if (!tg_test_enter_level((tg_cpu_level)l)) continue;
        tg_tape *t = tg_tape_new();
        tg_tensor *x = spread_input(t, TG_F32);
        tg_tensor *y = spread[_i](t, x);
        ck_assert_int_eq(tg_tape_backward(t, tg_sum_all(t, y), NULL, 0), TG_OK);
        const tg_tensor *pairs[2][2] = {{y, yr}, {tg_tensor_grad(x), tg_tensor_grad(xr)}};
        for (int p = 0; p < 2; p++) {
            ck_assert_int_eq(tg_tensor_numel(pairs[p][0]), tg_tensor_numel(pairs[p][1]));
            for (int64_t i = 0; i < tg_tensor_numel(pairs[p][1]); i++) {
                double got = tg_tensor_get(pairs[p][0], i), want = tg_tensor_get(pairs[p][1], i);
                ck_assert_msg(agrees(got, want, TG_F32),
                              "case %d %s at %s: element %lld is %.9g, f64 gives %.17g", _i,
                              p ? "gradient" : "value", tg_cpu_level_name((tg_cpu_level)l),
                              (long long)i, got, want);
            }
        }
        tg_tape_free(t);
    }
    tg_set_cpu_level(best);
    tg_tape_free(ref_t);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("nan_semantics");
    TCase *tc = tcase_create("ops");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_f64, 0, N_CASES);
    tcase_add_loop_test(tc, test_f32_every_level, 0, N_CASES);
    tcase_add_test(tc, test_long_relu_step);
    tcase_add_loop_test(tc, test_spread_every_level, 0, (int)(sizeof spread / sizeof spread[0]));
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tg_test_run(suite()); }
