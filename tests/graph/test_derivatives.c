/* test_derivatives.c: Hessian-vector and Jacobian-vector products and small Jacobians
 * (tapegrad/derivatives.h).
 *
 * Each is compared with PyTorch's torch.autograd.functional on the functions of
 * tools/make_fixtures_derivatives.py (to 1e-12 in f64), and with central finite differences;
 * errors (a v of the wrong shape or dtype, a non-scalar output for hvp, NULLs) are checked to be
 * clear and to leave nothing behind. */
#include <string.h>

#include "../fixture.h"
#include "../test_util.h"

#define REF_TOL 1e-12

static fixture fx;

static void load(const char *name) {
    ck_assert_msg(fixture_load(&fx, name), "%s: %s", name, fx.error);
}

/* f(x, w) = sum(tanh(x @ w) * sigmoid(x @ w)) + sum(exp(0.3 x) * x) */
static tg_tensor *f_of(tg_tape *t, tg_tensor *x, tg_tensor *w) {
    tg_tensor *z = tg_matmul(t, x, w);
    tg_tensor *a = tg_sum_all(t, tg_mul(t, tg_tanh(t, z), tg_sigmoid(t, z)));
    return tg_add(t, a, tg_sum_all(t, tg_mul(t, tg_exp(t, tg_mul_scalar(t, x, 0.3)), x)));
}

/* g(x, w) = log_softmax(tanh(x @ w) * (x @ w), dim=1) */
static tg_tensor *g_of(tg_tape *t, tg_tensor *x, tg_tensor *w) {
    tg_tensor *z = tg_matmul(t, x, w);
    return tg_log_softmax(t, tg_mul(t, tg_tanh(t, z), z), 1);
}

/* h(x) = exp(x)[:, None] * tanh(x)[None, :] */
static tg_tensor *h_of(tg_tape *t, tg_tensor *x) {
    int64_t n = tg_tensor_dim(x, 0);
    return tg_mul(t, tg_reshape(t, tg_exp(t, x), TG_SHAPE(n, 1)),
                  tg_reshape(t, tg_tanh(t, x), TG_SHAPE(1, n)));
}

/* x + s v, as a new leaf requiring a gradient */
static tg_tensor *shifted(tg_tape *t, const tg_tensor *x, const tg_tensor *v, double s) {
    int64_t n = tg_tensor_numel(x);
    int64_t shape[TG_MAX_DIMS];
    for (int i = 0; i < tg_tensor_ndim(x); i++) shape[i] = tg_tensor_dim(x, i);
    tg_tensor *y = tg_zeros(t, TG_F64, tg_tensor_ndim(x), shape);
    double *d = tg_tensor_data(y);
    for (int64_t i = 0; i < n; i++) d[i] = tg_tensor_get(x, i) + s * (v ? tg_tensor_get(v, i) : 0);
    tg_tensor_set_requires_grad(y, true);
    return y;
}

static double max_diff_tensors(const tg_tensor *a, const tg_tensor *b) {
    ck_assert_int_eq(tg_tensor_numel(a), tg_tensor_numel(b));
    double m = 0;
    for (int64_t i = 0; i < tg_tensor_numel(a); i++) {
        double d = fabs(tg_tensor_get(a, i) - tg_tensor_get(b, i));
        if (!(d <= m)) m = d;
    }
    return m;
}

START_TEST(hvp_matches_pytorch_and_finite_differences) {
    load("derivatives_hvp");
    tg_tape *t = tg_tape_new();
    tg_tensor *xs[2] = {fixture_tensor_on(&fx, t, "x", true), fixture_tensor_on(&fx, t, "w", true)};
    tg_tensor *v[2] = {fixture_tensor_on(&fx, t, "vx", false), fixture_tensor_on(&fx, t, "vw", false)};
    tg_tensor *y = f_of(t, xs[0], xs[1]);
    ck_assert_double_eq_tol(tg_tensor_item(y), fixture_get(&fx, "f")->values[0], REF_TOL);
    tg_tensor *hv[2];
    ck_assert_msg(tg_hvp(t, y, 2, xs, v, hv, 0) == TG_OK, "%s", tg_tape_error(t));
    double dx = fixture_max_diff(&fx, "hvp_x", hv[0]), dw = fixture_max_diff(&fx, "hvp_w", hv[1]);
    ck_assert_msg(dx <= REF_TOL && dw <= REF_TOL, "against PyTorch: %g %g", dx, dw);
    /* The graph is kept: a second product from the same recording gives the same numbers. */
    tg_tensor *again[2];
    ck_assert_int_eq(tg_hvp(t, y, 2, xs, v, again, 0), TG_OK);
    ck_assert_double_eq(max_diff_tensors(hv[0], again[0]), 0);
    /* Central differences of the gradient along v: (grad f(x + hv) - grad f(x - hv)) / 2h. */
    const double h = 1e-5;
    tg_tensor *gp[2], *gm[2];
    tg_tensor *p[2] = {shifted(t, xs[0], v[0], h), shifted(t, xs[1], v[1], h)};
    tg_tensor *m[2] = {shifted(t, xs[0], v[0], -h), shifted(t, xs[1], v[1], -h)};
    ck_assert_int_eq(tg_tape_grad(t, f_of(t, p[0], p[1]), NULL, 2, p, gp, 0), TG_OK);
    ck_assert_int_eq(tg_tape_grad(t, f_of(t, m[0], m[1]), NULL, 2, m, gm, 0), TG_OK);
    for (int k = 0; k < 2; k++)
        for (int64_t i = 0; i < tg_tensor_numel(hv[k]); i++) {
            double fd = (tg_tensor_get(gp[k], i) - tg_tensor_get(gm[k], i)) / (2 * h);
            ck_assert_msg(fabs(fd - tg_tensor_get(hv[k], i)) <= 1e-7,
                          "input %d element %lld: hvp %.12g, differences %.12g", k,
                          (long long)i, tg_tensor_get(hv[k], i), fd);
        }
    tg_tape_free(t);
    fixture_free(&fx);
}
END_TEST

START_TEST(jvp_matches_pytorch_and_finite_differences) {
    load("derivatives_jvp");
    tg_tape *t = tg_tape_new();
    tg_tensor *xs[2] = {fixture_tensor_on(&fx, t, "x", true), fixture_tensor_on(&fx, t, "w", true)};
    tg_tensor *v[2] = {fixture_tensor_on(&fx, t, "vx", false), fixture_tensor_on(&fx, t, "vw", false)};
    tg_tensor *y = g_of(t, xs[0], xs[1]);
    ck_assert_double_le(fixture_max_diff(&fx, "g", y), REF_TOL);
    tg_tensor *jv = NULL;
    ck_assert_msg(tg_jvp(t, y, 2, xs, v, &jv, 0) == TG_OK, "%s", tg_tape_error(t));
    ck_assert_int_eq(tg_tensor_ndim(jv), 2);
    double d = fixture_max_diff(&fx, "jvp", jv);
    ck_assert_msg(d <= REF_TOL, "against PyTorch: %g", d);
    const double h = 1e-6;
    tg_tensor *yp = g_of(t, shifted(t, xs[0], v[0], h), shifted(t, xs[1], v[1], h));
    tg_tensor *ym = g_of(t, shifted(t, xs[0], v[0], -h), shifted(t, xs[1], v[1], -h));
    for (int64_t i = 0; i < tg_tensor_numel(jv); i++) {
        double fd = (tg_tensor_get(yp, i) - tg_tensor_get(ym, i)) / (2 * h);
        ck_assert_msg(fabs(fd - tg_tensor_get(jv, i)) <= 1e-7, "element %lld: jvp %.12g, "
                      "differences %.12g", (long long)i, tg_tensor_get(jv, i), fd);
    }
    tg_tape_free(t);
    fixture_free(&fx);
}
END_TEST

START_TEST(jacobian_matches_pytorch_and_finite_differences) {
    load("derivatives_jacobian");
    tg_tape *t = tg_tape_new();
    tg_tensor *x = fixture_tensor_on(&fx, t, "x", true);
    tg_tensor *y = h_of(t, x);
    tg_tensor *jac = NULL;
    ck_assert_msg(tg_jacobian(t, y, x, &jac, 0) == TG_OK, "%s", tg_tape_error(t));
    ck_assert_int_eq(tg_tensor_ndim(jac), 3);
    double d = fixture_max_diff(&fx, "jac", jac);
    ck_assert_msg(d <= REF_TOL, "against PyTorch: %g", d);
    /* Column j by central differences along the j-th unit vector. */
    const double h = 1e-6;
    for (int j = 0; j < 3; j++) {
        double e[3] = {0, 0, 0};
        e[j] = 1;
        tg_tensor *ev = tg_from_data(t, TG_F64, TG_SHAPE(3), e);
        tg_tensor *yp = h_of(t, shifted(t, x, ev, h)), *ym = h_of(t, shifted(t, x, ev, -h));
        for (int64_t i = 0; i < 9; i++) {
            double fd = (tg_tensor_get(yp, i) - tg_tensor_get(ym, i)) / (2 * h);
            ck_assert_msg(fabs(fd - tg_tensor_get(jac, i * 3 + j)) <= 1e-7,
                          "d y[%lld] / d x[%d]: %.12g, differences %.12g", (long long)i, j,
                          tg_tensor_get(jac, i * 3 + j), fd);
        }
    }
    tg_tape_free(t);
    fixture_free(&fx);
}
END_TEST

/* The products of one recording agree with each other: row i of the Jacobian times v is the
 * i-th element of J v; in f32 too, within f32 rounding. */
START_TEST(jacobian_times_v_is_jvp_in_both_dtypes) {
    for (int dt = 0; dt < 2; dt++) {
        tg_dtype dtype = dt ? TG_F64 : TG_F32;
        tg_tape *t = tg_tape_new();
        const double xv[] = {0.3, -0.8, 1.1}, vv[] = {0.5, 2.0, -1.0};
        tg_tensor *x = tg_zeros(t, dtype, TG_SHAPE(3)), *v = tg_zeros(t, dtype, TG_SHAPE(3));
        tg_tensor_copy_in(x, TG_F64, xv);
        tg_tensor_copy_in(v, TG_F64, vv);
        tg_tensor_set_requires_grad(x, true);
        tg_tensor *y = h_of(t, x), *jac = NULL, *jv = NULL;
        ck_assert_int_eq(tg_jacobian(t, y, x, &jac, 0), TG_OK);
        ck_assert_int_eq(tg_jvp(t, y, 1, &x, &v, &jv, 0), TG_OK);
        ck_assert_int_eq(tg_tensor_dtype(jv), dtype);
        for (int i = 0; i < 9; i++) {
            double s = 0;
            for (int j = 0; j < 3; j++) s += tg_tensor_get(jac, i * 3 + j) * vv[j];
            ck_assert_double_eq_tol(tg_tensor_get(jv, i), s, (dt ? 1e-14 : 1e-5));
        }
        tg_tape_free(t);
    }
}
END_TEST

/* With TG_CREATE_GRAPH the product is itself differentiable: for f = sum x^3, H v = 6 x v,
 * and d/dx sum(H v) = 6 v. */
START_TEST(create_graph_makes_the_products_differentiable) {
    tg_tape *t = tg_tape_new();
    const double xv[] = {0.5, -1.5, 2.0}, vv[] = {1.0, 0.25, -2.0};
    tg_tensor *x = tg_from_data(t, TG_F64, TG_SHAPE(3), xv);
    tg_tensor *v = tg_from_data(t, TG_F64, TG_SHAPE(3), vv);
    tg_tensor_set_requires_grad(x, true);
    tg_tensor *y = tg_sum_all(t, tg_mul(t, x, tg_mul(t, x, x)));
    tg_tensor *hv = NULL, *g = NULL;
    ck_assert_int_eq(tg_hvp(t, y, 1, &x, &v, &hv, TG_CREATE_GRAPH), TG_OK);
    for (int i = 0; i < 3; i++) ck_assert_double_eq_tol(tg_tensor_get(hv, i), 6 * xv[i] * vv[i], 1e-14);
    ck_assert_msg(tg_tape_grad(t, tg_sum_all(t, hv), NULL, 1, &x, &g, 0) == TG_OK, "%s",
                  tg_tape_error(t));
    for (int i = 0; i < 3; i++) ck_assert_double_eq_tol(tg_tensor_get(g, i), 6 * vv[i], 1e-14);
    /* Jacobian-vector product of y = x^2 (elementwise) is 2 x v; its gradient is 2 v. */
    tg_tensor *y2 = tg_mul(t, x, x), *jv = NULL;
    ck_assert_int_eq(tg_jvp(t, y2, 1, &x, &v, &jv, TG_CREATE_GRAPH), TG_OK);
    ck_assert_int_eq(tg_tape_grad(t, tg_sum_all(t, jv), NULL, 1, &x, &g, 0), TG_OK);
    for (int i = 0; i < 3; i++) ck_assert_double_eq_tol(tg_tensor_get(g, i), 2 * vv[i], 1e-14);
    tg_tape_free(t);
}
END_TEST

/* Linear functions and inputs the output ignores give zeros, not an error. */
START_TEST(zero_curvature_and_unused_inputs_give_zeros) {
    tg_tape *t = tg_tape_new();
    tg_tensor *x = tg_ones(t, TG_F64, TG_SHAPE(2)), *z = tg_ones(t, TG_F64, TG_SHAPE(3));
    tg_tensor_set_requires_grad(x, true);
    tg_tensor_set_requires_grad(z, true);
    tg_tensor *v[2] = {tg_ones(t, TG_F64, TG_SHAPE(2)), tg_ones(t, TG_F64, TG_SHAPE(3))};
    tg_tensor *xs[2] = {x, z};
    tg_tensor *y = tg_sum_all(t, tg_mul_scalar(t, x, 3.0)); /* linear in x, ignores z */
    tg_tensor *hv[2];
    ck_assert_msg(tg_hvp(t, y, 2, xs, v, hv, 0) == TG_OK, "%s", tg_tape_error(t));
    ck_assert_int_eq(tg_tensor_numel(hv[1]), 3);
    for (int k = 0; k < 2; k++)
        for (int64_t i = 0; i < tg_tensor_numel(hv[k]); i++)
            ck_assert_double_eq(tg_tensor_get(hv[k], i), 0.0);
    tg_tensor *jv = NULL;
    ck_assert_int_eq(tg_jvp(t, y, 2, xs, v, &jv, 0), TG_OK);
    ck_assert_double_eq_tol(tg_tensor_item(jv), 6.0, 1e-15); /* 3 * (1 + 1) */
    tg_tape_free(t);
}
END_TEST

static void expect_error(tg_tape *t, tg_status got, tg_status want, const char *msg) {
    ck_assert_int_eq(got, want);
    ck_assert_int_eq(tg_tape_status(t), want);
    ck_assert_msg(strstr(tg_tape_error(t), msg), "'%s' does not say '%s'", tg_tape_error(t), msg);
    tg_tape_clear_error(t);
}

START_TEST(bad_arguments_give_clear_errors) {
    tg_tape *t = tg_tape_new();
    tg_tensor *x = tg_ones(t, TG_F64, TG_SHAPE(2, 3));
    tg_tensor_set_requires_grad(x, true);
    tg_tensor *y = tg_sum_all(t, tg_mul(t, x, x)), *vec = tg_mul(t, x, x);
    tg_tensor *v_bad = tg_ones(t, TG_F64, TG_SHAPE(3, 2)), *v_f32 = tg_ones(t, TG_F32, TG_SHAPE(2, 3));
    tg_tensor *v = tg_ones(t, TG_F64, TG_SHAPE(2, 3));
    tg_tensor *r = x; /* overwritten with NULL on error */
    expect_error(t, tg_hvp(t, y, 1, &x, &v_bad, &r, 0), TG_ERR_SHAPE,
                 "hvp: v[0] is f64 (3, 2) but input 0 is f64 (2, 3)");
    ck_assert_ptr_null(r);
    expect_error(t, tg_hvp(t, y, 1, &x, &v_f32, &r, 0), TG_ERR_DTYPE,
                 "hvp: v[0] is f32 (2, 3) but input 0 is f64 (2, 3)");
    expect_error(t, tg_hvp(t, vec, 1, &x, &v, &r, 0), TG_ERR_SHAPE,
                 "hvp: the output has shape (2, 3); a Hessian-vector product needs a scalar");
    expect_error(t, tg_jvp(t, vec, 1, &x, &v_bad, &r, 0), TG_ERR_SHAPE,
                 "jvp: v[0] is f64 (3, 2) but input 0 is f64 (2, 3)");
    ck_assert_ptr_null(r);
    expect_error(t, tg_hvp(t, NULL, 1, &x, &v, &r, 0), TG_ERR_NULL, "hvp: the output is NULL");
    expect_error(t, tg_jvp(t, vec, 1, &x, NULL, &r, 0), TG_ERR_NULL, "jvp: the vectors is NULL");
    expect_error(t, tg_jvp(t, vec, 0, &x, &v, &r, 0), TG_ERR_ARG, "jvp: n_inputs is 0");
    expect_error(t, tg_jacobian(t, vec, NULL, &r, 0), TG_ERR_NULL, "jacobian: input 0 is NULL");
    tg_tensor *big = tg_ones(t, TG_F64, TG_SHAPE(1, 1, 1, 1, 1));
    tg_tensor_set_requires_grad(big, true);
    tg_tensor *bigy = tg_reshape(t, big, TG_SHAPE(1, 1, 1, 1));
    expect_error(t, tg_jacobian(t, bigy, big, &r, 0), TG_ERR_SHAPE,
                 "a Jacobian of 9 dimensions, more than 8");
    /* An output that does not depend on any input requiring a gradient. */
    tg_tensor *c = tg_sum_all(t, tg_ones(t, TG_F64, TG_SHAPE(2, 3)));
    expect_error(t, tg_hvp(t, c, 1, &x, &v, &r, 0), TG_ERR_NOGRAD, "does not require a gradient");
    /* A tape holding an error refuses, keeping that first error. */
    tg_reshape(t, x, TG_SHAPE(7));
    tg_status before = tg_tape_status(t);
    ck_assert_int_ne(before, TG_OK);
    ck_assert_int_eq(tg_hvp(t, y, 1, &x, &v, &r, 0), before);
    ck_assert_msg(strstr(tg_tape_error(t), "reshape"), "%s", tg_tape_error(t));
    ck_assert_int_eq(tg_hvp(NULL, y, 1, &x, &v, &r, 0), TG_ERR_NULL);
    ck_assert(tg_tape_grad_enabled(t)); /* recording restored after every failure */
    tg_tape_free(t);
}
END_TEST

int main(void) {
    Suite *s = suite_create("derivatives");
    TCase *tc = tcase_create("derivatives");
    tcase_add_test(tc, hvp_matches_pytorch_and_finite_differences);
    tcase_add_test(tc, jvp_matches_pytorch_and_finite_differences);
    tcase_add_test(tc, jacobian_matches_pytorch_and_finite_differences);
    tcase_add_test(tc, jacobian_times_v_is_jvp_in_both_dtypes);
    tcase_add_test(tc, create_graph_makes_the_products_differentiable);
    tcase_add_test(tc, zero_curvature_and_unused_inputs_give_zeros);
    tcase_add_test(tc, bad_arguments_give_clear_errors);
    suite_add_tcase(s, tc);
    return tg_test_run(s);
}
