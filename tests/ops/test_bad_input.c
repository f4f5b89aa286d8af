/* test_bad_input.c: inputs to ops that once got through (issue 11): sizes whose products wrap,
 * steps and windows near the integer limits, allocations asked for after one failed, and
 * tensors kept over a tg_tape_reset, which every registered op must refuse. Each test failed
 * (or, for the pools, ran for hours) before its fix. Nothing here is timed: where the old code
 * was only slow, the test gives it far more work than its time limit allows, and the fixed
 * code bounds the work by construction. */
#include <limits.h>
#include <string.h>

#include "op_cases.h"
#include "test_util.h"

#define EXPECT_STATUS(t, s, ...)                                                               \
    do {                                                                                       \
        ck_assert_msg(tg_tape_status(t) == (s), "status %s, want %s: %s",                     \
                      tg_status_string(tg_tape_status(t)), tg_status_string(s),                \
                      tg_tape_error(t));                                                       \
        const char *parts_[] = {__VA_ARGS__};                                                  \
        for (size_t i_ = 0; i_ < sizeof parts_ / sizeof parts_[0]; i_++)                       \
            ck_assert_msg(strstr(tg_tape_error(t), parts_[i_]) != NULL,                        \
                          "error \"%s\" does not mention \"%s\"", tg_tape_error(t), parts_[i_]); \
        tg_tape_clear_error(t);                                                                \
    } while (0)

static tg_tensor *iota(tg_tape *t, int ndim, const int64_t *shape, double first) {
    tg_tensor *x = tg_zeros(t, TG_F64, ndim, shape);
    ck_assert_ptr_nonnull(x);
    double *d = tg_tensor_data(x);
    for (int64_t i = 0; i < tg_tensor_numel(x); i++) d[i] = first + (double)i;
    return x;
}

/* ---- 1: element counts that wrap ---- */

/* (2, 4) as (8, 2^61 + 1): 8 (2^61 + 1) wraps to 8 in 64 bits, so the view was accepted and
 * its row 1 read outside the tensor. */
START_TEST(test_reshape_count_overflow) {
    tg_tape *t = tg_tape_new();
    tg_tensor *x = iota(t, 2, (int64_t[]){2, 4}, 0.0);
    const int64_t big = (INT64_C(1) << 61) + 1;
    tg_tensor *v = tg_reshape(t, x, TG_SHAPE(8, big));
    ck_assert_ptr_null(v);
    EXPECT_STATUS(t, TG_ERR_SHAPE, "reshape", "2^40");
    ck_assert_ptr_null(tg_reshape(t, x, TG_SHAPE(-1, big, 8)));
    EXPECT_STATUS(t, TG_ERR_SHAPE, "reshape", "2^40");
    /* The chain the issue crashed with now stops at the reshape. */
    ck_assert_ptr_null(tg_contiguous(t, tg_slice(t, tg_reshape(t, x, TG_SHAPE(8, big)), 0, 1, 2, 1)));
    EXPECT_STATUS(t, TG_ERR_SHAPE, "reshape");
    /* An empty tensor may take sizes whose product would overflow: it has no element. */
    tg_tensor *e = tg_zeros(t, TG_F64, TG_SHAPE(0, 4));
    tg_tensor *ev = tg_reshape(t, e, TG_SHAPE(0, INT64_MAX, INT64_MAX));
    ck_assert_ptr_nonnull(ev);
    ck_assert_int_eq(tg_tensor_numel(ev), 0);
    ck_assert_ptr_nonnull(tg_contiguous(t, ev));
    ck_assert_int_eq(tg_tape_status(t), TG_OK);
    /* The ordinary case still works. */
    tg_tensor *ok = tg_reshape(t, x, TG_SHAPE(4, -1));
    ck_assert_ptr_nonnull(ok);
    ck_assert_int_eq(tg_tensor_dim(ok, 1), 2);
    tg_tape_free(t);
}
END_TEST

/* ---- 3: a step near INT64_MAX ---- */

/* (stop - start + step - 1) / step wrapped: a (-1, 3) view, whose mean was -2 for 2. */
START_TEST(test_slice_huge_step) {
    tg_tape *t = tg_tape_new();
    tg_tensor *x = iota(t, 2, (int64_t[]){3, 3}, 1.0); /* rows (1 2 3) (4 5 6) (7 8 9) */
    const int64_t steps[] = {INT64_MAX, INT64_MAX - 1, INT64_MAX / 2 + 1, 3, 4};
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        tg_tensor *s = tg_slice(t, x, 0, 0, 3, steps[i]);
        ck_assert_ptr_nonnull(s);
        ck_assert_int_eq(tg_tensor_ndim(s), 2);
        ck_assert_int_eq(tg_tensor_dim(s, 0), 1);
        ck_assert_int_eq(tg_tensor_dim(s, 1), 3);
        ck_assert_double_eq(tg_tensor_item(tg_mean_all(t, s)), 2.0);
        /* Starting at row 1 selects row 1 alone; from the end, nothing. */
        ck_assert_double_eq(tg_tensor_item(tg_mean_all(t, tg_slice(t, x, 0, 1, 3, steps[i]))), 5.0);
        ck_assert_int_eq(tg_tensor_dim(tg_slice(t, x, 0, 3, 3, steps[i]), 0), 0);
        /* Along the contiguous axis, and the adjoint with the same step. */
        tg_tensor *c = tg_slice(t, x, 1, 2, INT64_MAX, steps[i]);
        ck_assert_int_eq(tg_tensor_dim(c, 1), 1);
        ck_assert_double_eq(tg_tensor_item(tg_sum_all(t, c)), 3.0 + 6.0 + 9.0);
        tg_tensor *e = tg_slice_embed(t, s, 2, (int64_t[]){3, 3}, 0, 0, 3, steps[i]);
        ck_assert_ptr_nonnull(e);
        ck_assert_double_eq(tg_tensor_item(tg_sum_all(t, e)), 6.0);
        ck_assert_double_eq(tg_tensor_get(e, 3), 0.0);
        ck_assert_int_eq(tg_tape_status(t), TG_OK);
    }
    /* Its gradient: ones on row 0, zeros elsewhere. */
    tg_tensor_set_requires_grad(x, true);
    tg_tensor *loss = tg_sum_all(t, tg_slice(t, x, 0, 0, 3, INT64_MAX));
    ck_assert_int_eq(tg_tape_backward(t, loss, NULL, 0), TG_OK);
    const double want[] = {1, 1, 1, 0, 0, 0, 0, 0, 0};
    ck_assert_tensor_near(tg_tensor_grad(x), want, 9, 0.0);
    tg_tape_free(t);
}
END_TEST

/* ---- 4: pooling windows far larger than the input ---- */

/* A kernel of INT_MAX with padding INT_MAX / 2 is allowed; every window covers the whole 4x4
 * plane. The old loops walked every tap of every window (9 s per window); here are 64 planes
 * of 16 windows, hours for them, while clipped windows cost 16 reads each. */
START_TEST(test_pool_huge_window) {
    tg_tape *t = tg_tape_new();
    const int64_t C = 64;
    tg_tensor *x = iota(t, 4, (int64_t[]){1, C, 4, 4}, -100.0);
    tg_tensor_set_requires_grad(x, true);
    const int k = INT_MAX, pad = INT_MAX / 2;
    tg_pool2d_params p = {.kernel = {k, k}, .stride = {1, 1}, .padding = {pad, pad}};
    tg_tensor *m = tg_max_pool2d(t, x, &p), *a = tg_avg_pool2d(t, x, &p);
    ck_assert_ptr_nonnull(m);
    ck_assert_ptr_nonnull(a);
    for (int d = 2; d < 4; d++) {
        ck_assert_int_eq(tg_tensor_dim(m, d), 4);
        ck_assert_int_eq(tg_tensor_dim(a, d), 4);
    }
    const double area = (double)k * (double)k;
    for (int64_t c = 0; c < C; c++) {
        double first = -100.0 + 16.0 * (double)c, sum = 16.0 * first + 120.0;
        for (int64_t q = 0; q < 16; q++) {
            ck_assert_double_eq(tg_tensor_get(m, c * 16 + q), first + 15.0);
            ck_assert_double_eq_tol(tg_tensor_get(a, c * 16 + q), sum / area, 1e-30);
        }
    }
    /* Both backward passes go through the same clipped windows: every max window picks the
     * plane's last element; every average window spreads 1 / k^2 over the plane. */
    tg_tensor *loss = tg_add(t, tg_sum_all(t, m), tg_sum_all(t, a));
    ck_assert_int_eq(tg_tape_backward(t, loss, NULL, 0), TG_OK);
    tg_tensor *g = tg_tensor_grad(x);
    for (int64_t c = 0; c < C; c++)
        for (int64_t q = 0; q < 16; q++)
            ck_assert_double_eq_tol(tg_tensor_get(g, c * 16 + q),
                                    (q == 15 ? 16.0 : 0.0) + 16.0 / area, 1e-12);
    tg_tape_free(t);
}
END_TEST

/* ---- 5 and 7: convolution with a huge padding ---- */

/* An allocator that refuses anything over 1 GiB and counts those requests. */
typedef struct big_counter {
    int64_t n_big;
} big_counter;

static void *big_malloc(size_t size, void *user) {
    if (size > ((size_t)1 << 30)) {
        ((big_counter *)user)->n_big++;
        return NULL;
    }
    return malloc(size);
}

static void big_free(void *p, void *user) {
    (void)user;
    free(p);
}

/* Padding 2^15 on a 1x1 image: a (1, 1, 65537, 65537) output, 32 GiB in f64, which fails; the
 * old code then asked for as much again (and more) of scratch. Only the output is asked for. */
START_TEST(test_conv_stops_at_first_failed_allocation) {
    for (int keep = 0; keep < 2; keep++) {
        big_counter cnt = {0};
        tg_set_allocator(&(tg_allocator){big_malloc, big_free, &cnt});
        tg_tape *t = tg_tape_new();
        tg_tensor *x = tg_ones(t, TG_F64, TG_SHAPE(1, 1, 1, 1));
        tg_tensor *w = tg_ones(t, TG_F64, TG_SHAPE(1, 1, 1, 1));
        tg_tensor_set_requires_grad(w, keep != 0); /* keeps the columns for the weight grad */
        tg_conv2d_params p = {.padding = {1 << 15, 1 << 15}};
        ck_assert_ptr_null(tg_conv2d(t, x, w, NULL, &p));
        EXPECT_STATUS(t, TG_ERR_NOMEM, "out of memory");
        ck_assert_msg(cnt.n_big == 1, "keep %d: %lld allocations over 1 GiB asked for", keep,
                      (long long)cnt.n_big);
        /* The gradient ops behave the same. */
        cnt.n_big = 0;
        tg_tensor *g = tg_ones(t, TG_F64, TG_SHAPE(1, 1, 1, 1));
        tg_conv2d_params q = {.stride = {1 << 16, 1 << 16}}; /* a (1, 1, 1, 1) output */
        ck_assert_ptr_null(tg_conv2d_input_grad(t, g, w, (int64_t[]){1, 1, 1 << 16, 1 << 16}, &q));
        EXPECT_STATUS(t, TG_ERR_NOMEM, "out of memory");
        ck_assert_int_eq(cnt.n_big, 1);
        tg_tape_free(t);
        tg_set_allocator(NULL);
    }
}
END_TEST

/* Padding INT_MAX makes OH OW about 2^64: the plan's products overflowed (UBSan). Now the
 * geometry refuses it before any product, naming the padding. */
START_TEST(test_conv_padding_int_max) {
    tg_tape *t = tg_tape_new();
    tg_tensor *x = tg_ones(t, TG_F32, TG_SHAPE(1, 1, 3, 3));
    tg_tensor *w = tg_ones(t, TG_F32, TG_SHAPE(1, 1, 3, 3));
    tg_conv2d_params p = {.padding = {INT_MAX, INT_MAX}};
    ck_assert_ptr_null(tg_conv2d(t, x, w, NULL, &p));
    EXPECT_STATUS(t, TG_ERR_SHAPE, "conv2d", "padding", "2^40");
    tg_conv2d_params p1 = {.padding = {INT_MAX, 0}, .dilation = {INT_MAX, INT_MAX}};
    ck_assert_ptr_null(tg_conv2d(t, x, w, NULL, &p1));
    EXPECT_STATUS(t, TG_ERR_SHAPE, "conv2d");
    ck_assert_ptr_null(tg_conv2d_weight_grad(t, x, tg_ones(t, TG_F32, TG_SHAPE(1, 1, 1, 1)),
                                             (int64_t[]){1, 1, 3, 3}, &p));
    EXPECT_STATUS(t, TG_ERR_SHAPE, "conv2d_weight_grad", "padding");
    tg_tape_free(t);
}
END_TEST

/* ---- 9: every registered op refuses a tensor from before a reset ---- */

/* Each case of the gradient-proof table is run twice on one tape after a reset: on fresh inputs
 * (it must work) and on the inputs made before the reset, whose memory the fresh ones now
 * occupy (it must fail with TG_ERR_STALE, not compute with whatever the memory holds). */
START_TEST(test_every_op_refuses_stale_inputs) {
    int n_checked = 0;
    for (int i = 0; i < op_case_count(); i++) {
        const op_case *c = op_case_at(i);
        if (c->n_inputs == 0) continue;
        tg_tape *t = tg_tape_new();
        tg_rng rng;
        tg_rng_seed(&rng, op_case_seed(i));
        tg_tensor *stale[OP_CASE_MAX_INPUTS], *fresh[OP_CASE_MAX_INPUTS];
        tg_tensor *out[TG_GRADCHECK_MAX_OUTPUTS];
        ck_assert_int_eq(op_case_make_inputs(c, t, TG_F64, &rng, stale), c->n_inputs);
        tg_tape_reset(t);
        ck_assert_int_eq(op_case_make_inputs(c, t, TG_F64, &rng, fresh), c->n_inputs);
        ck_assert_msg(c->fn(t, fresh, out, c->ctx) > 0 && tg_tape_status(t) == TG_OK,
                      "%s (%s): fresh inputs failed: %s", c->op, c->label, tg_tape_error(t));
        for (int j = 0; j < c->n_inputs; j++)
            ck_assert_int_eq(tg_tape_check_tensor(t, stale[j]), TG_ERR_STALE);
        int r = c->fn(t, stale, out, c->ctx);
        ck_assert_msg(r <= 0 && tg_tape_status(t) == TG_ERR_STALE,
                      "%s (%s): stale inputs gave %d outputs, status %s: %s", c->op, c->label, r,
                      tg_status_string(tg_tape_status(t)), tg_tape_error(t));
        ck_assert_msg(strstr(tg_tape_error(t), "stale tensor, made before the last tg_tape_reset"),
                      "%s: %s", c->op, tg_tape_error(t));
        tg_tape_free(t);
        n_checked++;
    }
    ck_assert_int_gt(n_checked, 50);
}
END_TEST

/* The optional tensors an op takes besides its inputs (a bias, affine parameters, running
 * statistics) are checked the same way, before their shapes are read. */
START_TEST(test_optional_inputs_refuse_stale) {
    tg_tape *t = tg_tape_new();
    tg_tensor *old_b = tg_zeros(t, TG_F64, TG_SHAPE(2));
    tg_tensor *old_g = tg_ones(t, TG_F64, TG_SHAPE(3));
    tg_tape_reset(t);
    tg_tensor *x = tg_ones(t, TG_F64, TG_SHAPE(1, 2, 4, 3));
    tg_tensor *w = tg_ones(t, TG_F64, TG_SHAPE(2, 2, 1, 1));
    tg_tensor *b = tg_zeros(t, TG_F64, TG_SHAPE(2));
    tg_tensor *g = tg_ones(t, TG_F64, TG_SHAPE(3));
    ck_assert_ptr_null(tg_conv2d(t, x, w, old_b, NULL));
    EXPECT_STATUS(t, TG_ERR_STALE, "conv2d: the bias is a stale tensor");
    ck_assert_ptr_null(tg_batch_norm(t, x, NULL, NULL, old_b, b, true, 0.1, 1e-5));
    EXPECT_STATUS(t, TG_ERR_STALE, "batch_norm: running_mean is a stale tensor");
    ck_assert_ptr_null(tg_batch_norm(t, x, old_b, NULL, NULL, NULL, true, 0.1, 1e-5));
    EXPECT_STATUS(t, TG_ERR_STALE, "batch_norm: gamma");
    ck_assert_ptr_null(tg_layer_norm(t, x, 1, g, old_g, 1e-5));
    EXPECT_STATUS(t, TG_ERR_STALE, "layer_norm: beta");
    ck_assert_ptr_nonnull(tg_conv2d(t, x, w, b, NULL));
    ck_assert_ptr_nonnull(tg_layer_norm(t, x, 1, g, g, 1e-5));
    ck_assert_int_eq(tg_tape_status(t), TG_OK);
    tg_tape_free(t);
}
END_TEST

static Suite *bad_input_suite(void) {
    Suite *s = suite_create("ops_bad_input");
    TCase *sizes = tcase_create("sizes");
    tcase_add_test(sizes, test_reshape_count_overflow);
    tcase_add_test(sizes, test_slice_huge_step);
    tcase_add_test(sizes, test_pool_huge_window);
    tcase_add_test(sizes, test_conv_stops_at_first_failed_allocation);
    tcase_add_test(sizes, test_conv_padding_int_max);
    suite_add_tcase(s, sizes);
    TCase *stale = tcase_create("stale");
    tcase_add_test(stale, test_every_op_refuses_stale_inputs);
    tcase_add_test(stale, test_optional_inputs_refuse_stale);
    suite_add_tcase(s, stale);
    return s;
}

int main(void) { return tg_test_run(bad_input_suite()); }
