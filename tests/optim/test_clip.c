/* test_clip.c: gradient clipping against torch.nn.utils.clip_grad_norm_ and clip_grad_value_
 * (tests/fixtures/optim_clip.txt), in f64 to 1e-12 and f32 to 1e-6 relative, plus what torch
 * leaves undefined or gets wrong: non-finite norms, gradients too large for a plain sum of
 * squares, and bad arguments. */
#include <string.h>

#include "../fixture.h"
#include "../test_util.h"

#define N_PARAMS 3

static fixture clip_fixture;

static void setup(void) {
    ck_assert_msg(fixture_load(&clip_fixture, "optim_clip"), "%s", clip_fixture.error);
}
static void teardown(void) { fixture_free(&clip_fixture); }

static const fixture_tensor *get(const char *name) {
    const fixture_tensor *x = fixture_get(&clip_fixture, name);
    ck_assert_msg(x != NULL, "optim_clip has no %s", name);
    return x;
}

/* A store of three parameters of dtype dt whose gradients are the fixture's g0, g1, g2. A
 * buffer is added too: clipping must leave buffers alone. */
static tg_store *store_with_grads(tg_dtype dt) {
    tg_store *s = tg_store_new();
    for (int i = 0; i < N_PARAMS; i++) {
        char name[8];
        snprintf(name, sizeof name, "g%d", i);
        const fixture_tensor *g = get(name);
        tg_tensor *p = tg_store_param(s, name, dt, g->ndim, g->shape);
        ck_assert_ptr_nonnull(p);
        ck_assert_int_eq(tg_tensor_copy_in(tg_tensor_grad(p), TG_F64, g->values), TG_OK);
    }
    tg_tensor_fill(tg_store_buffer(s, "running_var", dt, TG_SHAPE(2)), 100.0);
    return s;
}

static void expect_grads(tg_store *s, const char *prefix, double rel, const char *what) {
    for (int i = 0; i < N_PARAMS; i++) {
        char name[64];
        snprintf(name, sizeof name, "%s_%d", prefix, i);
        const fixture_tensor *want = get(name);
        const tg_tensor *g = tg_tensor_grad(tg_store_get_param(s, i));
        for (int64_t k = 0; k < want->numel; k++) {
            double got = tg_tensor_get(g, k), w = want->values[k];
            ck_assert_msg(fabs(got - w) <= rel * (fabs(w) > 1 ? fabs(w) : 1),
                          "%s: %s[%lld] is %.17g, want %.17g", what, name, (long long)k, got, w);
        }
    }
    ck_assert_double_eq(tg_tensor_get(tg_store_find(s, "running_var"), 1), 100.0);
}

static const char *const norm_cases[] = {"norm2", "norm2_noclip", "norm1", "norm_inf", "norm3"};

START_TEST(test_clip_norm_matches_torch) {
    const char *name = norm_cases[_i % 5];
    tg_dtype dt = _i < 5 ? TG_F64 : TG_F32;
    double tol = dt == TG_F64 ? 1e-12 : 1e-6;
    char key[64];
    snprintf(key, sizeof key, "%s_hyper", name);
    const double *h = get(key)->values;
    snprintf(key, sizeof key, "%s_total", name);
    double want_total = get(key)->values[0];
    tg_store *s = store_with_grads(dt);
    double total = 0;
    tg_error err = {0};
    ck_assert_int_eq(tg_clip_grad_norm(s, h[0], h[1], true, &total, &err), TG_OK);
    ck_assert_msg(fabs(total - want_total) <= tol * want_total, "%s (%s): total %.17g, want %.17g",
                  name, tg_dtype_name(dt), total, want_total);
    expect_grads(s, name, tol, name);
    tg_store_free(s);
}
END_TEST

START_TEST(test_clip_value_matches_torch) {
    tg_dtype dt = _i ? TG_F32 : TG_F64;
    tg_store *s = store_with_grads(dt);
    tg_error err = {0};
    ck_assert_int_eq(tg_clip_grad_value(s, get("value_hyper")->values[0], &err), TG_OK);
    /* Clamping is exact; in f32 the gradients themselves were rounded. */
    expect_grads(s, "value", dt == TG_F64 ? 0 : 1e-6, "clip_grad_value");
    tg_store_free(s);
}
END_TEST

/* Gradients of 1e200 overflow a plain sum of squares; the scaled sum gets the norm right. */
START_TEST(test_huge_gradients) {
    tg_store *s = tg_store_new();
    tg_tensor *p = tg_store_param(s, "p", TG_F64, TG_SHAPE(4));
    tg_tensor *q = tg_store_param(s, "q", TG_F64, TG_SHAPE(5));
    tg_tensor_fill(tg_tensor_grad(p), 3e200);
    tg_tensor_fill(tg_tensor_grad(q), -4e200);
    double total = 0;
    tg_error err = {0};
    ck_assert_int_eq(tg_clip_grad_norm(s, 2.0, 2.0, true, &total, &err), TG_OK);
    double want = sqrt(4 * 9.0 + 5 * 16.0) * 1e200;
    ck_assert_msg(fabs(total - want) <= 1e-14 * want, "total %g, want %g", total, want);
    /* After clipping, the norm is max_norm (the 1e-6 in the divisor is lost against 1e200). */
    ck_assert_int_eq(tg_clip_grad_norm(s, 1e300, 2.0, true, &total, &err), TG_OK);
    ck_assert_double_eq_tol(total, 2.0, 1e-13);
    ck_assert_double_eq_tol(tg_tensor_get(tg_tensor_grad(p), 0), 2.0 * 3 / sqrt(116.0), 1e-14);
    tg_store_free(s);
}
END_TEST

START_TEST(test_nonfinite_norm_leaves_grads) {
    const double bad[] = {INFINITY, NAN};
    for (int k = 0; k < 2; k++) {
        tg_store *s = store_with_grads(TG_F64);
        tg_tensor *g1 = tg_tensor_grad(tg_store_get_param(s, 1));
        double *gv = tg_tensor_data(g1);
        gv[2] = bad[k];
        double total = 0;
        tg_error err = {0};
        ck_assert_int_eq(tg_clip_grad_norm(s, 0.1, 2.0, false, &total, &err), TG_OK);
        ck_assert(k == 0 ? isinf(total) : isnan(total));
        const fixture_tensor *g0 = get("g0");
        for (int64_t i = 0; i < g0->numel; i++)
            ck_assert_double_eq(tg_tensor_get(tg_tensor_grad(tg_store_get_param(s, 0)), i),
                                g0->values[i]);
        ck_assert_int_eq(tg_clip_grad_norm(s, 0.1, INFINITY, true, &total, &err), TG_ERR_ARG);
        ck_assert_msg(strstr(err.message, "total norm") != NULL, "%s", err.message);
        ck_assert(!isfinite(total));
        ck_assert_double_eq(tg_tensor_get(tg_tensor_grad(tg_store_get_param(s, 0)), 0),
                            g0->values[0]);
        /* Value clipping keeps NaN as NaN and clamps infinity, as torch.clamp does. */
        ck_assert_int_eq(tg_clip_grad_value(s, 0.5, &err), TG_OK);
        ck_assert(k == 0 ? gv[2] == 0.5 : isnan(gv[2]));
        tg_store_free(s);
    }
}
END_TEST

START_TEST(test_zero_and_empty) {
    tg_store *s = tg_store_new();
    double total = -1;
    tg_error err = {0};
    ck_assert_int_eq(tg_clip_grad_norm(s, 1.0, 2.0, true, &total, &err), TG_OK);
    ck_assert_double_eq(total, 0);
    tg_tensor *p = tg_store_param(s, "p", TG_F32, TG_SHAPE(3));
    ck_assert_int_eq(tg_clip_grad_norm(s, 0.0, 2.0, true, &total, &err), TG_OK);
    ck_assert_double_eq(total, 0);
    tg_tensor_fill(tg_tensor_grad(p), 1);
    /* max_norm 0 zeroes every gradient, as torch's coefficient 0 / (total + 1e-6) does. */
    ck_assert_int_eq(tg_clip_grad_norm(s, 0.0, 1.0, true, NULL, &err), TG_OK);
    ck_assert_double_eq(tg_tensor_get(tg_tensor_grad(p), 2), 0);
    tg_store_free(s);
}
END_TEST

START_TEST(test_bad_arguments) {
    tg_store *s = store_with_grads(TG_F64);
    tg_error err = {0};
    double total = 0;
    ck_assert_int_eq(tg_clip_grad_norm(NULL, 1, 2, false, &total, &err), TG_ERR_NULL);
    ck_assert_msg(strstr(err.message, "store") != NULL, "%s", err.message);
    ck_assert_int_eq(tg_clip_grad_norm(s, -1, 2, false, &total, &err), TG_ERR_ARG);
    ck_assert_msg(strstr(err.message, "max_norm") != NULL, "%s", err.message);
    ck_assert_int_eq(tg_clip_grad_norm(s, NAN, 2, false, NULL, NULL), TG_ERR_ARG);
    ck_assert_int_eq(tg_clip_grad_norm(s, 1, 0, false, &total, &err), TG_ERR_ARG);
    ck_assert_msg(strstr(err.message, "norm_type") != NULL, "%s", err.message);
    ck_assert_int_eq(tg_clip_grad_norm(s, 1, NAN, false, &total, &err), TG_ERR_ARG);
    ck_assert_int_eq(tg_clip_grad_norm(s, 1, -2, false, &total, &err), TG_ERR_ARG);
    ck_assert_int_eq(tg_clip_grad_value(NULL, 1, &err), TG_ERR_NULL);
    ck_assert_int_eq(tg_clip_grad_value(s, -0.5, &err), TG_ERR_ARG);
    ck_assert_int_eq(tg_clip_grad_value(s, NAN, NULL), TG_ERR_ARG);
    /* None of the refused calls touched a gradient. */
    const fixture_tensor *g2 = get("g2");
    ck_assert_double_eq(tg_tensor_get(tg_tensor_grad(tg_store_get_param(s, 2)), 0), g2->values[0]);
    tg_store_free(s);
}
END_TEST

int main(void) {
    Suite *s = suite_create("optim_clip");
    TCase *tc = tcase_create("clip");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_loop_test(tc, test_clip_norm_matches_torch, 0, 10);
    tcase_add_loop_test(tc, test_clip_value_matches_torch, 0, 2);
    tcase_add_test(tc, test_huge_gradients);
    tcase_add_test(tc, test_nonfinite_norm_leaves_grads);
    tcase_add_test(tc, test_zero_and_empty);
    tcase_add_test(tc, test_bad_arguments);
    suite_add_tcase(s, tc);
    return tg_test_run(s);
}
