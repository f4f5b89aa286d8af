/* test_nonfinite.c: an optimiser told to refuse non-finite gradients (tg_optim_set_skip_nonfinite)
 * returns TG_ERR_NONFINITE naming the parameter and leaves every parameter, state buffer, the
 * step count and the learning rate bit for bit as they were; every algorithm and configuration
 * of optim_cases.h, with NaN and with an infinity, in both dtypes. Off (the default), the same
 * step writes NaN into the weights, which is what the option exists to prevent. */
#include <math.h>
#include <string.h>

#include "../test_util.h"
#include "optim_cases.h"

/* Every tensor of the store, copied as bytes, for comparing before and after. */
typedef struct snapshot {
    int n;
    size_t bytes[16];
    unsigned char *data[16];
} snapshot;

static void take(snapshot *sn, const tg_store *s) {
    sn->n = tg_store_n_tensors(s);
    ck_assert_int_le(sn->n, 16);
    for (int i = 0; i < sn->n; i++) {
        const tg_tensor *x = tg_store_get_tensor(s, i);
        sn->bytes[i] = (size_t)tg_tensor_numel(x) * (tg_tensor_dtype(x) == TG_F32 ? 4 : 8);
        sn->data[i] = malloc(sn->bytes[i] ? sn->bytes[i] : 1);
        ck_assert_ptr_nonnull(sn->data[i]);
        memcpy(sn->data[i], tg_tensor_data(x), sn->bytes[i]);
    }
}

static bool same(const snapshot *sn, const tg_store *s) {
    bool ok = sn->n == tg_store_n_tensors(s);
    for (int i = 0; ok && i < sn->n; i++)
        ok = memcmp(sn->data[i], tg_tensor_data(tg_store_get_tensor(s, i)), sn->bytes[i]) == 0;
    return ok;
}

static void drop(snapshot *sn) {
    for (int i = 0; i < sn->n; i++) free(sn->data[i]);
    sn->n = 0;
}

static void set_grads(tg_store *s, int step, double bad) {
    for (int i = 0; i < tg_store_n_params(s); i++) {
        tg_tensor *g = tg_tensor_grad(tg_store_get_param(s, i));
        int64_t n = tg_tensor_numel(g);
        for (int64_t k = 0; k < n; k++) {
            double v = 0.3 * (double)(k + 1) * (i ? -1 : 1) + 0.1 * step;
            if (i == 1 && k == n - 1 && bad != 0) v = bad;
            if (tg_tensor_dtype(g) == TG_F32)
                ((float *)tg_tensor_data(g))[k] = (float)v;
            else
                ((double *)tg_tensor_data(g))[k] = v;
        }
    }
}

static bool all_finite(const tg_store *s) {
    for (int i = 0; i < tg_store_n_tensors(s); i++) {
        const tg_tensor *x = tg_store_get_tensor(s, i);
        for (int64_t k = 0; k < tg_tensor_numel(x); k++)
            if (!isfinite(tg_tensor_get(x, k))) return false;
    }
    return true;
}

/* _i: case index * 4 + (dtype, bad value) */
START_TEST(test_refuses_and_changes_nothing) {
    const optim_case *c = &optim_cases[_i / 4];
    tg_dtype dt = _i % 2 ? TG_F64 : TG_F32;
    double bad = _i % 4 < 2 ? NAN : -INFINITY;
    tg_store *s = tg_store_new();
    tg_tensor *w = tg_store_param(s, "w", dt, TG_SHAPE(3, 2));
    ck_assert_ptr_nonnull(tg_store_param(s, "layer.bias", dt, TG_SHAPE(2)));
    tg_tensor_fill(w, 0.5);
    tg_error err = {0};
    tg_optim *o = optim_case_make(c, s, NULL, &err);
    ck_assert_msg(o != NULL, "%s", err.message);
    ck_assert(!tg_optim_skip_nonfinite(o));
    ck_assert(!tg_optim_set_skip_nonfinite(o, true));
    ck_assert(tg_optim_skip_nonfinite(o));
    for (int step = 0; step < 2; step++) { /* some state first, so "unchanged" means something */
        set_grads(s, step, 0);
        ck_assert_int_eq(tg_optim_step(o, &err), TG_OK);
    }
    set_grads(s, 2, bad);
    snapshot before;
    take(&before, s);
    ck_assert_int_eq(tg_optim_step(o, &err), TG_ERR_NONFINITE);
    ck_assert_msg(strstr(err.message, "'layer.bias' (2,)") && strstr(err.message, "refused") &&
                      strstr(err.message, isnan(bad) ? "1 NaN and 0 Inf" : "0 NaN and 1 Inf"),
                  "%s: %s", c->fixture, err.message);
    ck_assert_msg(same(&before, s), "%s: a refused step changed the store", c->fixture);
    ck_assert_int_eq(tg_optim_steps(o), 2);
    ck_assert_int_eq(tg_optim_n_refused(o), 1);
    /* the next good batch steps as usual */
    set_grads(s, 3, 0);
    ck_assert_int_eq(tg_optim_step(o, &err), TG_OK);
    ck_assert_int_eq(tg_optim_steps(o), 3);
    ck_assert(all_finite(s));
    /* off, the bad gradient goes in: NaN (or an infinity turning into NaN) in the weights */
    drop(&before);
    tg_optim_set_skip_nonfinite(o, false);
    set_grads(s, 4, bad);
    ck_assert_int_eq(tg_optim_step(o, &err), TG_OK);
    ck_assert(!all_finite(s));
    ck_assert_int_eq(tg_optim_n_refused(o), 1);
    tg_optim_free(o);
    tg_store_free(s);
}
END_TEST

/* The scan is a vector pass at every CPU level, with a one-lane tail: a single bad element
 * anywhere (the vectors, the pairs after them, the last odd one) must be found, and large,
 * tiny and negative-zero finite values must pass. _i: 0 f32, 1 f64. */
START_TEST(test_scan_finds_every_position) {
    tg_dtype dt = _i ? TG_F64 : TG_F32;
    static const int64_t lengths[] = {1, 2, 3, 15, 16, 17, 31, 33, 40, 67};
    const double bad[] = {NAN, INFINITY, -INFINITY};
    const double good[] = {dt == TG_F32 ? 3.4e38 : 1.7e308, -1e-40, -0.0, 1.0};
    for (int li = 0; li < TG_TEST_N_LEVELS; li++) {
        if (!tg_test_enter_level(tg_test_all_levels[li])) continue;
        for (size_t l = 0; l < sizeof lengths / sizeof lengths[0]; l++) {
            int64_t n = lengths[l];
            tg_store *s = tg_store_new();
            tg_tensor *w = tg_store_param(s, "w", dt, TG_SHAPE(n));
            ck_assert_ptr_nonnull(w);
            tg_sgd_options so = tg_sgd_defaults(0.0); /* lr 0: a taken step keeps w finite */
            tg_error err = {0};
            tg_optim *o = tg_optim_sgd(s, &so, &err);
            ck_assert_ptr_nonnull(o);
            tg_optim_set_skip_nonfinite(o, true);
            void *g = tg_tensor_data(tg_tensor_grad(w));
            for (int64_t at = 0; at < n; at++) {
                for (int64_t k = 0; k < n; k++) {
                    double v = good[k % 4];
                    if (dt == TG_F32)
                        ((float *)g)[k] = (float)v;
                    else
                        ((double *)g)[k] = v;
                }
                ck_assert_msg(tg_optim_step(o, &err) == TG_OK, "level %s, n %lld: %s",
                              tg_cpu_level_name(tg_test_all_levels[li]), (long long)n, err.message);
                for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++) {
                    if (dt == TG_F32)
                        ((float *)g)[at] = (float)bad[b];
                    else
                        ((double *)g)[at] = bad[b];
                    ck_assert_msg(tg_optim_step(o, &err) == TG_ERR_NONFINITE,
                                  "level %s, n %lld: %g at %lld was not found",
                                  tg_cpu_level_name(tg_test_all_levels[li]), (long long)n, bad[b],
                                  (long long)at);
                }
            }
            tg_optim_free(o);
            tg_store_free(s);
        }
    }
    tg_set_cpu_level(tg_cpu_best_level());
}
END_TEST

START_TEST(test_null) {
    ck_assert(!tg_optim_set_skip_nonfinite(NULL, true));
    ck_assert(!tg_optim_skip_nonfinite(NULL));
    ck_assert_int_eq(tg_optim_n_refused(NULL), 0);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("optim_nonfinite");
    TCase *tc = tcase_create("nonfinite");
    tcase_add_loop_test(tc, test_refuses_and_changes_nothing, 0, 4 * N_OPTIM_CASES);
    tcase_add_loop_test(tc, test_scan_finds_every_position, 0, 2);
    tcase_add_test(tc, test_null);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tg_test_run(suite()); }
