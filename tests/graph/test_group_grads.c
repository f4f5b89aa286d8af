/* test_group_grads.c: tg_store_group_grads lays chosen parameters' gradients one after another
 * in one block, keeping their values, and sweeps, zeroing and optimiser steps then work on the
 * block exactly as on the separate gradients; bad lists are refused with nothing moved. */
#include <string.h>

#include "test_util.h"

static tg_tensor *param(tg_store *st, const char *name, tg_dtype dt, int64_t r, int64_t c,
                        double v0) {
    tg_tensor *p = tg_store_param(st, name, dt, TG_SHAPE(r, c));
    ck_assert_ptr_nonnull(p);
    for (int64_t i = 0; i < r * c; i++)
        if (dt == TG_F64)
            ((double *)tg_tensor_data(p))[i] = v0 + 0.1 * (double)((i * 7) % 5) - 0.2;
        else
            ((float *)tg_tensor_data(p))[i] = (float)(v0 + 0.1 * (double)((i * 7) % 5) - 0.2);
    return p;
}

/* loss = sum(tanh(x w1) w2) + sum(w3^2) */
static tg_tensor *loss(tg_tape *t, tg_tensor *w1, tg_tensor *w2, tg_tensor *w3) {
    const double xv[] = {0.5, -1.0, 2.0, 0.25, 1.5, -0.75};
    tg_tensor *x = tg_from_data(t, TG_F64, TG_SHAPE(2, 3), xv);
    tg_tensor *h = tg_tanh(t, tg_matmul(t, x, w1));
    return tg_add(t, tg_sum_all(t, tg_matmul(t, h, w2)), tg_sum_all(t, tg_mul(t, w3, w3)));
}

/* Two sweeps (accumulating) and an SGD step on grouped gradients give the same bits as on an
 * identical store left alone; the block is contiguous in the order given, which need not be
 * the creation order; zeroing clears it. */
START_TEST(test_grouped_same_results) {
    tg_store *st[2];
    tg_tensor *w[2][3];
    tg_optim *opt[2];
    for (int k = 0; k < 2; k++) {
        st[k] = tg_store_new();
        w[k][0] = param(st[k], "w1", TG_F64, 3, 4, 0.3);
        w[k][1] = param(st[k], "w2", TG_F64, 4, 2, -0.1);
        w[k][2] = param(st[k], "w3", TG_F64, 2, 5, 0.2);
        tg_sgd_options so = tg_sgd_defaults(0.1);
        so.momentum = 0.9;
        opt[k] = tg_optim_sgd(st[k], &so, NULL);
        ck_assert_ptr_nonnull(opt[k]);
    }
    tg_tape *t = tg_tape_new();
    /* a gradient already held is carried into the block */
    ck_assert_int_eq(tg_tape_backward(t, loss(t, w[1][0], w[1][1], w[1][2]), NULL, 0), TG_OK);
    tg_tape_reset(t);
    double held = ((double *)tg_tensor_data(tg_tensor_grad(w[1][1])))[3];
    ck_assert(held != 0.0);
    tg_tensor *order[3] = {w[1][2], w[1][0], w[1][1]};
    tg_error err = {0};
    ck_assert_int_eq(tg_store_group_grads(st[1], 3, order, &err), TG_OK);
    ck_assert(((double *)tg_tensor_data(tg_tensor_grad(w[1][1])))[3] == held);
    const double *base = tg_tensor_data(tg_tensor_grad(w[1][2]));
    ck_assert_ptr_eq(tg_tensor_data(tg_tensor_grad(w[1][0])), base + 10);
    ck_assert_ptr_eq(tg_tensor_data(tg_tensor_grad(w[1][1])), base + 10 + 12);
    /* zeroing is deferred; asking for each gradient writes the zeros into the block */
    tg_store_zero_grad(st[1]);
    for (int i = 0; i < 3; i++) ck_assert_ptr_nonnull(tg_tensor_grad(w[1][i]));
    for (int i = 0; i < 30; i++) ck_assert(base[i] == 0.0);
    for (int k = 0; k < 2; k++) {
        for (int step = 0; step < 3; step++) {
            tg_store_zero_grad(st[k]);
            for (int sweep = 0; sweep < 2; sweep++) {
                ck_assert_int_eq(
                    tg_tape_backward(t, loss(t, w[k][0], w[k][1], w[k][2]), NULL, 0), TG_OK);
                tg_tape_reset(t);
            }
            ck_assert_int_eq(tg_optim_step(opt[k], NULL), TG_OK);
        }
    }
    for (int i = 0; i < 3; i++) {
        int64_t n = tg_tensor_numel(w[0][i]);
        ck_assert_mem_eq(tg_tensor_data(w[0][i]), tg_tensor_data(w[1][i]),
                         (size_t)n * sizeof(double));
        ck_assert_mem_eq(tg_tensor_data(tg_tensor_grad(w[0][i])),
                         tg_tensor_data(tg_tensor_grad(w[1][i])), (size_t)n * sizeof(double));
    }
    tg_tape_free(t);
    for (int k = 0; k < 2; k++) {
        tg_optim_free(opt[k]);
        tg_store_free(st[k]);
    }
}
END_TEST

/* A buffer, another store's parameter, a repeat, mixed dtypes or NULL: refused, naming it, and
 * no gradient moved. */
START_TEST(test_bad_lists_refused) {
    tg_store *st = tg_store_new(), *other = tg_store_new();
    tg_tensor *a = param(st, "a", TG_F64, 2, 2, 0.1), *b = param(st, "b", TG_F64, 2, 3, 0.2);
    tg_tensor *f = param(st, "f", TG_F32, 2, 2, 0.3);
    tg_tensor *buf = tg_store_buffer(st, "buf", TG_F64, TG_SHAPE(2));
    tg_tensor *alien = param(other, "alien", TG_F64, 2, 2, 0.4);
    const void *was_a = tg_tensor_data(tg_tensor_grad(a));
    struct {
        tg_tensor *list[2];
        tg_status want;
        const char *says;
    } cases[] = {
        {{a, buf}, TG_ERR_ARG, "'buf' is not a parameter"},
        {{a, alien}, TG_ERR_ARG, "'alien' is not a parameter"},
        {{a, a}, TG_ERR_ARG, "'a' is listed twice"},
        {{a, f}, TG_ERR_ARG, "one dtype"},
        {{a, NULL}, TG_ERR_NULL, "parameter 1 is NULL"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        tg_error err = {0};
        ck_assert_int_eq(tg_store_group_grads(st, 2, cases[k].list, &err), cases[k].want);
        ck_assert_msg(strstr(err.message, cases[k].says), "case %zu: %s", k, err.message);
        ck_assert_ptr_eq(tg_tensor_data(tg_tensor_grad(a)), was_a);
    }
    tg_tensor *ab[2] = {a, b};
    tg_error err = {0};
    ck_assert_int_eq(tg_store_group_grads(NULL, 2, ab, &err), TG_ERR_NULL);
    ck_assert_int_eq(tg_store_group_grads(st, 2, NULL, &err), TG_ERR_NULL);
    ck_assert_int_eq(tg_store_group_grads(st, -1, ab, &err), TG_ERR_ARG);
    ck_assert_int_eq(tg_store_group_grads(st, 0, NULL, &err), TG_OK);
    ck_assert_ptr_eq(tg_tensor_data(tg_tensor_grad(a)), was_a);
    tg_store_free(st);
    tg_store_free(other);
}
END_TEST

/* Grouped into the caller's block: the gradients live there with their values, a sweep
 * accumulates there, and grouping again with tg_store_group_grads moves them back into the
 * store's memory, values kept, so the block may then be reused. A NULL block is refused. */
START_TEST(test_grouped_at_callers_block) {
    tg_store *st = tg_store_new();
    tg_tensor *w1 = param(st, "w1", TG_F64, 3, 4, 0.3), *w2 = param(st, "w2", TG_F64, 4, 2, -0.1);
    tg_tensor *w3 = param(st, "w3", TG_F64, 2, 5, 0.2);
    tg_tape *t = tg_tape_new();
    ck_assert_int_eq(tg_tape_backward(t, loss(t, w1, w2, w3), NULL, 0), TG_OK);
    tg_tape_reset(t);
    double want[30];
    tg_tensor *order[3] = {w2, w1, w3};
    size_t at = 0;
    for (int i = 0; i < 3; i++) {
        size_t n = (size_t)tg_tensor_numel(order[i]);
        memcpy(want + at, tg_tensor_data(tg_tensor_grad(order[i])), n * sizeof(double));
        at += n;
    }
    double block[30];
    tg_error err = {0};
    ck_assert_int_eq(tg_store_group_grads_at(st, 3, order, NULL, &err), TG_ERR_NULL);
    ck_assert_int_eq(tg_store_group_grads_at(st, 3, order, block, &err), TG_OK);
    ck_assert_ptr_eq(tg_tensor_data(tg_tensor_grad(w2)), block);
    ck_assert_ptr_eq(tg_tensor_data(tg_tensor_grad(w1)), block + 8);
    ck_assert_mem_eq(block, want, sizeof want);
    /* a second sweep accumulates into the block: twice the first gradient */
    ck_assert_int_eq(tg_tape_backward(t, loss(t, w1, w2, w3), NULL, 0), TG_OK);
    tg_tape_reset(t);
    for (int i = 0; i < 30; i++) ck_assert(block[i] == 2 * want[i]);
    /* grouping in place again is a no-op on the values */
    ck_assert_int_eq(tg_store_group_grads_at(st, 3, order, block, &err), TG_OK);
    for (int i = 0; i < 30; i++) ck_assert(block[i] == 2 * want[i]);
    ck_assert_int_eq(tg_store_group_grads(st, 3, order, &err), TG_OK);
    const double *moved = tg_tensor_data(tg_tensor_grad(w2));
    ck_assert_ptr_ne(moved, block);
    memset(block, 0x7f, sizeof block);
    for (int i = 0; i < 30; i++) ck_assert(moved[i] == 2 * want[i]);
    tg_tape_free(t);
    tg_store_free(st);
}
END_TEST

/* tg_store_group_params(_at) moves the parameters' own values, keeping them: training on the
 * moved parameters gives the bits of an identical store left alone, in the caller's block and
 * back in the store's memory; bad lists are refused as for gradients. */
START_TEST(test_grouped_params) {
    tg_store *st[2];
    tg_tensor *w[2][3];
    tg_optim *opt[2];
    for (int k = 0; k < 2; k++) {
        st[k] = tg_store_new();
        w[k][0] = param(st[k], "w1", TG_F64, 3, 4, 0.3);
        w[k][1] = param(st[k], "w2", TG_F64, 4, 2, -0.1);
        w[k][2] = param(st[k], "w3", TG_F64, 2, 5, 0.2);
        tg_sgd_options so = tg_sgd_defaults(0.1);
        so.momentum = 0.9;
        opt[k] = tg_optim_sgd(st[k], &so, NULL);
        ck_assert_ptr_nonnull(opt[k]);
    }
    double block[30];
    tg_tensor *order[3] = {w[1][1], w[1][2], w[1][0]};
    tg_error err = {0};
    double kept = ((double *)tg_tensor_data(w[1][2]))[7];
    ck_assert_int_eq(tg_store_group_params_at(st[1], 3, order, block, &err), TG_OK);
    ck_assert_ptr_eq(tg_tensor_data(w[1][1]), block);
    ck_assert_ptr_eq(tg_tensor_data(w[1][2]), block + 8);
    ck_assert_ptr_eq(tg_tensor_data(w[1][0]), block + 18);
    ck_assert(block[8 + 7] == kept);
    tg_tape *t = tg_tape_new();
    for (int step = 0; step < 4; step++) {
        if (step == 2) /* back into the store's memory, values kept */
            ck_assert_int_eq(tg_store_group_params(st[1], 3, order, &err), TG_OK);
        for (int k = 0; k < 2; k++) {
            tg_store_zero_grad(st[k]);
            ck_assert_int_eq(tg_tape_backward(t, loss(t, w[k][0], w[k][1], w[k][2]), NULL, 0),
                             TG_OK);
            tg_tape_reset(t);
            ck_assert_int_eq(tg_optim_step(opt[k], &err), TG_OK);
        }
    }
    ck_assert_ptr_ne(tg_tensor_data(w[1][1]), block);
    for (int i = 0; i < 3; i++)
        ck_assert(memcmp(tg_tensor_data(w[0][i]), tg_tensor_data(w[1][i]),
                         tg_tensor_numel(w[0][i]) * sizeof(double)) == 0);
    tg_tensor *twice[2] = {w[1][0], w[1][0]};
    ck_assert_int_eq(tg_store_group_params(st[1], 2, twice, &err), TG_ERR_ARG);
    ck_assert_msg(strstr(err.message, "parameters") && strstr(err.message, "twice"), "%s",
                  err.message);
    ck_assert_int_eq(tg_store_group_params_at(st[1], 1, twice, NULL, &err), TG_ERR_NULL);
    tg_tape_free(t);
    for (int k = 0; k < 2; k++) {
        tg_optim_free(opt[k]);
        tg_store_free(st[k]);
    }
}
END_TEST

int main(void) {
    Suite *s = suite_create("graph_group_grads");
    TCase *c = tcase_create("group");
    tcase_add_test(c, test_grouped_same_results);
    tcase_add_test(c, test_bad_lists_refused);
    tcase_add_test(c, test_grouped_at_callers_block);
    tcase_add_test(c, test_grouped_params);
    suite_add_tcase(s, c);
    return tg_test_run(s);
}
