/* test_prune.c: magnitude pruning (tapegrad/prune.h): which weights each scope removes, ties,
 * masks that only lose ones, the cubic schedule, masked gradients keeping pruned weights at
 * exactly zero through steps of SGD with momentum and of Adam (whose state is masked too),
 * masks that come back from a checkpoint, and the errors of bad input. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <unistd.h>

#include "test_util.h"

static tg_tensor *param(tg_store *s, const char *name, int64_t n, const double *v) {
    tg_tensor *p = tg_store_param(s, name, TG_F64, 1, &n);
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(tg_tensor_copy_in(p, TG_F64, v), TG_OK);
    return p;
}

START_TEST(scopes_pick_the_smallest) {
    const double a[] = {0.1, -5, 0.3, 2}, b[] = {-0.2, 0.05, 7, -0.01};
    for (int scope = 0; scope < 2; scope++) {
        tg_store *s = tg_store_new();
        tg_tensor *ps[] = {param(s, "a", 4, a), param(s, "b", 4, b)};
        tg_error err = {0};
        tg_pruner *p = tg_pruner_new(s, 2, ps, &err);
        ck_assert_msg(p != NULL, "%s", err.message);
        ck_assert_ptr_eq(tg_store_find(s, "a_mask"), tg_pruner_mask(p, 0));
        ck_assert_int_eq(tg_pruner_prune(p, 0.5, (tg_prune_scope)scope, &err), TG_OK);
        if (scope == TG_PRUNE_PER_TENSOR) {
            const double wa[] = {0, -5, 0, 2}, wb[] = {-0.2, 0, 7, 0};
            ck_assert_tensor_near(ps[0], wa, 4, 0.0);
            ck_assert_tensor_near(ps[1], wb, 4, 0.0);
        } else { /* the four smallest overall: -0.01, 0.05, 0.1, -0.2 */
            const double wa[] = {0, -5, 0.3, 2}, wb[] = {0, 0, 7, 0};
            ck_assert_tensor_near(ps[0], wa, 4, 0.0);
            ck_assert_tensor_near(ps[1], wb, 4, 0.0);
        }
        ck_assert_double_eq(tg_pruner_sparsity(p, -1), 0.5);
        /* Lower targets change nothing; a pruned weight that grows back stays pruned. */
        ((double *)tg_tensor_data(ps[0]))[0] = 100;
        ck_assert_int_eq(tg_pruner_prune(p, 0.25, (tg_prune_scope)scope, &err), TG_OK);
        ck_assert_double_eq(tg_tensor_get(ps[0], 0), 0.0);
        ck_assert_double_eq(tg_pruner_sparsity(p, -1), 0.5);
        ck_assert_int_eq(tg_pruner_prune(p, 1.0, (tg_prune_scope)scope, &err), TG_OK);
        ck_assert_double_eq(tg_pruner_sparsity(p, 1), 1.0);
        tg_pruner_free(p);
        tg_store_free(s);
    }
}
END_TEST

START_TEST(ties_go_to_the_lower_index) {
    const double a[] = {1, 1, 1, 1, 2};
    tg_store *s = tg_store_new();
    tg_tensor *w = param(s, "w", 5, a);
    tg_error err = {0};
    tg_pruner *p = tg_pruner_new(s, 1, &w, &err);
    ck_assert_int_eq(tg_pruner_prune(p, 0.4, TG_PRUNE_GLOBAL, &err), TG_OK);
    const double want[] = {0, 0, 1, 1, 2};
    ck_assert_tensor_near(w, want, 5, 0.0);
    tg_pruner_free(p);
    tg_store_free(s);
}
END_TEST

START_TEST(cubic_schedule) {
    ck_assert_double_eq(tg_prune_cubic(0, 0.9, -5, 0, 100), 0.0);
    ck_assert_double_eq(tg_prune_cubic(0, 0.9, 0, 0, 100), 0.0);
    ck_assert_double_eq_tol(tg_prune_cubic(0, 0.9, 50, 0, 100), 0.9 * (1 - 0.125), 1e-15);
    ck_assert_double_eq(tg_prune_cubic(0, 0.9, 100, 0, 100), 0.9);
    ck_assert_double_eq(tg_prune_cubic(0, 0.9, 1000, 0, 100), 0.9);
    ck_assert_double_eq(tg_prune_cubic(0.2, 0.9, 3, 10, 10), 0.9);
}
END_TEST

/* Several steps of `opt` on loss = sum((w - target)^2) with masked gradients: the pruned
 * weights never move, the others do. Momentum and Adam state were filled before pruning, so
 * without masking the state the pruned weights would move. */
static void steps_keep_zeros(bool adam) {
    const double w0[] = {0.5, -0.01, 2, 0.02, -3, 0.03};
    tg_store *s = tg_store_new();
    tg_tensor *w = param(s, "w", 6, w0);
    tg_error err = {0};
    tg_sgd_options so = tg_sgd_defaults(0.1);
    so.momentum = 0.9;
    tg_adam_options ao = tg_adam_defaults(0.1);
    tg_optim *opt = adam ? tg_optim_adam(s, &ao, &err) : tg_optim_sgd(s, &so, &err);
    ck_assert_ptr_nonnull(opt);
    tg_pruner *p = tg_pruner_new(s, 1, &w, &err);
    ck_assert_ptr_nonnull(p);
    tg_tape *t = tg_tape_new();
    const double target[] = {1, 1, 1, 1, 1, 1};
    double at_prune[6];
    for (int step = 0; step < 8; step++) {
        if (step == 3) {
            ck_assert_int_eq(tg_pruner_prune(p, 0.5, TG_PRUNE_GLOBAL, &err), TG_OK);
            ck_assert_int_eq(tg_tensor_copy_out(w, TG_F64, at_prune), TG_OK);
        }
        tg_tensor *d = tg_sub(t, w, tg_from_data(t, TG_F64, 1, (int64_t[]){6}, target));
        tg_store_zero_grad(s);
        ck_assert_int_eq(tg_tape_backward(t, tg_sum_all(t, tg_mul(t, d, d)), NULL, 0), TG_OK);
        tg_pruner_mask_grads(p);
        ck_assert_int_eq(tg_optim_step(opt, &err), TG_OK);
        tg_tape_reset(t);
    }
    const double *v = tg_tensor_data(w), *mask = tg_tensor_data(tg_pruner_mask(p, 0));
    int n_pruned = 0;
    for (int e = 0; e < 6; e++) {
        if (mask[e] == 0.0) {
            n_pruned++;
            ck_assert_double_eq(v[e], 0.0);
        } else {
            ck_assert_msg(v[e] != at_prune[e], "weight %d did not move after pruning", e);
        }
    }
    ck_assert_int_eq(n_pruned, 3);
    tg_tape_free(t);
    tg_pruner_free(p);
    tg_optim_free(opt);
    tg_store_free(s);
}

START_TEST(sgd_momentum_keeps_zeros) { steps_keep_zeros(false); }
END_TEST

START_TEST(adam_keeps_zeros) { steps_keep_zeros(true); }
END_TEST

START_TEST(masks_come_back_from_a_checkpoint) {
    const double a[] = {0.1, -5, 0.3, 2};
    char path[64];
    snprintf(path, sizeof path, "/tmp/tg_prune_%ld.safetensors", (long)getpid());
    tg_error err = {0};
    tg_store *s = tg_store_new();
    tg_tensor *w = param(s, "w", 4, a);
    tg_pruner *p = tg_pruner_new(s, 1, &w, &err);
    ck_assert_int_eq(tg_pruner_prune(p, 0.5, TG_PRUNE_GLOBAL, &err), TG_OK);
    ck_assert_int_eq(tg_checkpoint_save(s, path, NULL, &err), TG_OK);
    tg_pruner_free(p);
    tg_store_free(s);

    s = tg_store_new();
    const double ones[] = {1, 1, 1, 1};
    w = param(s, "w", 4, ones);
    p = tg_pruner_new(s, 1, &w, &err);
    ck_assert_int_eq(tg_checkpoint_load(s, path, NULL, &err), TG_OK);
    remove(path);
    const double want[] = {0, -5, 0, 2}, mask[] = {0, 1, 0, 1};
    ck_assert_tensor_near(w, want, 4, 0.0);
    ck_assert_tensor_near(tg_pruner_mask(p, 0), mask, 4, 0.0);
    /* A pruner made over the loaded store finds the masks instead of making new ones. */
    tg_pruner *again = tg_pruner_new(s, 1, &w, &err);
    ck_assert_double_eq(tg_pruner_sparsity(again, 0), 0.5);
    tg_pruner_free(again);
    tg_pruner_free(p);
    tg_store_free(s);
}
END_TEST

START_TEST(bad_input_is_refused) {
    tg_error err = {0};
    tg_store *s = tg_store_new(), *other = tg_store_new();
    const double a[] = {1, 2};
    tg_tensor *w = param(s, "w", 2, a), *x = param(other, "x", 2, a);
    ck_assert_ptr_null(tg_pruner_new(NULL, 1, &w, &err));
    ck_assert_int_eq(err.status, TG_ERR_NULL);
    ck_assert_ptr_null(tg_pruner_new(s, 0, &w, &err));
    ck_assert_int_eq(err.status, TG_ERR_ARG);
    ck_assert_ptr_null(tg_pruner_new(s, 1, &x, &err));
    ck_assert_ptr_nonnull(strstr(err.message, "not a parameter"));
    int64_t three = 3;
    ck_assert_ptr_nonnull(tg_store_buffer(s, "w_mask", TG_F64, 1, &three));
    ck_assert_ptr_null(tg_pruner_new(s, 1, &w, &err));
    ck_assert_int_eq(err.status, TG_ERR_SHAPE);
    tg_store *s2 = tg_store_new();
    tg_tensor *w2 = param(s2, "w", 2, a);
    tg_pruner *p = tg_pruner_new(s2, 1, &w2, &err);
    ck_assert_int_eq(tg_pruner_prune(p, 1.5, TG_PRUNE_GLOBAL, &err), TG_ERR_ARG);
    ck_assert_int_eq(tg_pruner_prune(p, NAN, TG_PRUNE_GLOBAL, &err), TG_ERR_ARG);
    ck_assert_int_eq(tg_pruner_prune(NULL, 0.5, TG_PRUNE_GLOBAL, &err), TG_ERR_NULL);
    ck_assert(isnan(tg_pruner_sparsity(p, 3)));
    ck_assert_ptr_null(tg_pruner_mask(p, -1));
    tg_pruner_free(p);
    tg_pruner_free(NULL);
    tg_store_free(s2);
    tg_store_free(s);
    tg_store_free(other);
}
END_TEST

int main(void) {
    Suite *s = suite_create("optim_prune");
    TCase *tc = tcase_create("prune");
    tcase_add_test(tc, scopes_pick_the_smallest);
    tcase_add_test(tc, ties_go_to_the_lower_index);
    tcase_add_test(tc, cubic_schedule);
    tcase_add_test(tc, sgd_momentum_keeps_zeros);
    tcase_add_test(tc, adam_keeps_zeros);
    tcase_add_test(tc, masks_come_back_from_a_checkpoint);
    tcase_add_test(tc, bad_input_is_refused);
    suite_add_tcase(s, tc);
    return tg_test_run(s);
}
