/* test_nn_op_errors.c: bad input to the neural-network ops (conv2d and its two gradient ops, the
 * transposed convolution, max and average pooling and their adjoints, batch_norm and layer_norm)
 * never aborts: each call returns NULL, keeps the right status on the tape with a message that
 * starts with the op's name and names this file and line, records no node, and ops chained after
 * the failure return NULL without touching that first error.
 *
 * Each failing call sits alone on one line, inside TRY(...), and is checked by FAILED(...) on
 * the next: a call split over lines would be attributed to one of them differently by GCC and
 * Clang, so the expected site could not be exact. */
#include <limits.h>
#include <string.h>

#include "test_util.h"

/* ---- helpers ---- */

/* A tensor of ones that requires a gradient, so that a call that wrongly went ahead would
 * record a node (and the checks below would see it). */
static tg_tensor *leaf(tg_tape *t, tg_dtype dt, int ndim, const int64_t *shape) {
    tg_tensor *x = tg_ones(t, dt, ndim, shape);
    ck_assert_ptr_nonnull(x);
    ck_assert_int_eq(tg_tensor_set_requires_grad(x, true), TG_OK);
    return x;
}

#define F64(...) leaf(t, TG_F64, TG_SHAPE(__VA_ARGS__))
#define F32(...) leaf(t, TG_F32, TG_SHAPE(__VA_ARGS__))

/* Asserts that y is NULL, that t holds status s with a message "op: ..." containing detail
 * (when not NULL) and the site "test_nn_op_errors.c:line", and that no node was recorded since
 * n_nodes_before. Then clears the error so the next call can fail on its own. */
static void expect_fail(tg_tape *t, const tg_tensor *y, int64_t n_nodes_before, int line,
                        tg_status s, const char *op, const char *detail) {
    const char *e = tg_tape_error(t);
    char site[64];
    snprintf(site, sizeof site, "test_nn_op_errors.c:%d]", line);
    ck_assert_msg(y == NULL, "line %d: %s returned a tensor", line, op);
    ck_assert_msg(tg_tape_status(t) == s, "line %d: %s: status %s, want %s (%s)", line, op,
                  tg_status_string(tg_tape_status(t)), tg_status_string(s), e);
    size_t len = strlen(op);
    ck_assert_msg(strncmp(e, op, len) == 0 && e[len] == ':',
                  "line %d: message does not start with '%s:': %s", line, op, e);
    if (detail)
        ck_assert_msg(strstr(e, detail), "line %d: message lacks '%s': %s", line, detail, e);
    ck_assert_msg(strstr(e, site), "line %d: message does not name %s: %s", line, site, e);
    ck_assert_msg(tg_tape_n_nodes(t) == n_nodes_before, "line %d: %s recorded %lld node(s)", line,
                  op, (long long)(tg_tape_n_nodes(t) - n_nodes_before));
    tg_tape_clear_error(t);
}

/* TRY(call) runs a call that must fail, on one line of its own; FAILED(status, op, detail) on
 * the very next line checks it, expecting the call's site to be the line above. */
#define TRY(call)             (n0 = tg_tape_n_nodes(t), y = (call))
#define FAILED(s, op, detail) expect_fail(t, y, n0, __LINE__ - 1, s, op, detail)

/* Geometry literals. */
#define CONV(...) (&(tg_conv2d_params){__VA_ARGS__})
#define POOL(...) (&(tg_pool2d_params){__VA_ARGS__})

#define CONVT(...) (&(tg_conv_transpose2d_params){__VA_ARGS__})

/* ---- conv2d ---- */

START_TEST(conv2d_bad_shapes) {
    tg_tape *t = tg_tape_new();
    tg_tensor *y = NULL;
    int64_t n0 = 0;
    tg_tensor *x = F64(1, 2, 5, 5), *w = F64(3, 2, 3, 3), *x3 = F64(2, 5, 5), *w2 = F64(3, 18);
    TRY(tg_conv2d(t, x3, w, NULL, NULL));
    FAILED(TG_ERR_SHAPE, "conv2d", "input must be 4-D");
    TRY(tg_conv2d(t, x3, w, NULL, NULL));
    FAILED(TG_ERR_SHAPE, "conv2d", "(2, 5, 5)");
    TRY(tg_conv2d(t, x, w2, NULL, NULL));
    FAILED(TG_ERR_SHAPE, "conv2d", "weight must be 4-D");
    TRY(tg_conv2d(t, F64(5), w, NULL, NULL));
    FAILED(TG_ERR_SHAPE, "conv2d", "input must be 4-D");
    /* C_in 2 against a weight made for 3 input channels. */
    TRY(tg_conv2d(t, x, F64(3, 3, 3, 3), NULL, NULL));
    FAILED(TG_ERR_SHAPE, "conv2d", "(3, 3, 3, 3)");
    /* groups 2: C_out 3 does not divide; C_in 2 / 2 = 1 but the weight says 2. */
    TRY(tg_conv2d(t, x, F64(3, 1, 3, 3), NULL, CONV(.groups = 2)));
    FAILED(TG_ERR_SHAPE, "conv2d", "2 groups");
    TRY(tg_conv2d(t, x, F64(4, 2, 3, 3), NULL, CONV(.groups = 2)));
    FAILED(TG_ERR_SHAPE, "conv2d", "2 groups");
    /* groups 4 does not divide C_in 2. */
    TRY(tg_conv2d(t, x, F64(4, 1, 3, 3), NULL, CONV(.groups = 4)));
    FAILED(TG_ERR_SHAPE, "conv2d", "4 groups");
    TRY(tg_conv2d(t, x, w, NULL, CONV(.groups = -1)));
    FAILED(TG_ERR_ARG, "conv2d", "groups");
    /* An empty kernel. */
    TRY(tg_conv2d(t, x, F64(3, 2, 0, 3), NULL, NULL));
    FAILED(TG_ERR_SHAPE, "conv2d", "empty kernel");
    tg_tape_free(t);
}
END_TEST

START_TEST(conv2d_kernel_larger_than_padded_input) {
    tg_tape *t = tg_tape_new();
    tg_tensor *y = NULL;
    int64_t n0 = 0;
    tg_tensor *x = F64(1, 1, 3, 3), *w5 = F64(1, 1, 5, 5), *w3 = F64(1, 1, 3, 3);
    TRY(tg_conv2d(t, x, w5, NULL, NULL));
    FAILED(TG_ERR_SHAPE, "conv2d", "does not fit");
    /* Padding 1 on the width only: the height (3 < 5) still does not fit. */
    TRY(tg_conv2d(t, x, w5, NULL, CONV(.padding = {0, 1})));
    FAILED(TG_ERR_SHAPE, "conv2d", "(0, 1)");
    /* Dilation 2 makes a 3x3 kernel span 5x5. */
    TRY(tg_conv2d(t, x, w3, NULL, CONV(.dilation = {2, 2})));
    FAILED(TG_ERR_SHAPE, "conv2d", "dilated 5x5");
    /* ...and padding 1 on each side makes it fit: the same call succeeds. */
    y = tg_conv2d(t, x, w3, NULL, CONV(.padding = {1, 1}, .dilation = {2, 2}));
    ck_assert_ptr_nonnull(y);
    ck_assert_int_eq(tg_tensor_dim(y, 2), 1);
    ck_assert_int_eq(tg_tape_status(t), TG_OK);
    tg_tape_free(t);
}
END_TEST

START_TEST(conv2d_negative_geometry) {
    tg_tape *t = tg_tape_new();
    tg_tensor *y = NULL;
    int64_t n0 = 0;
    tg_tensor *x = F64(1, 1, 4, 4), *w = F64(1, 1, 2, 2);
    TRY(tg_conv2d(t, x, w, NULL, CONV(.stride = {-1, 1})));
    FAILED(TG_ERR_ARG, "conv2d", "axis 0");
    TRY(tg_conv2d(t, x, w, NULL, CONV(.stride = {1, -2})));
    FAILED(TG_ERR_ARG, "conv2d", "axis 1");
    TRY(tg_conv2d(t, x, w, NULL, CONV(.padding = {0, -1})));
    FAILED(TG_ERR_ARG, "conv2d", ">= 0");
    TRY(tg_conv2d(t, x, w, NULL, CONV(.dilation = {-3, 1})));
    FAILED(TG_ERR_ARG, "conv2d", ">= 0");
    TRY(tg_conv2d(t, x, w, NULL, CONV(.padding = {INT_MIN, 0})));
    FAILED(TG_ERR_ARG, "conv2d", NULL);
    tg_tape_free(t);
}
END_TEST

START_TEST(conv2d_bad_bias) {
    tg_tape *t = tg_tape_new();
    tg_tensor *y = NULL;
    int64_t n0 = 0;
    tg_tensor *x = F64(1, 2, 4, 4), *w = F64(3, 2, 3, 3);
    TRY(tg_conv2d(t, x, w, F64(2), NULL));
    FAILED(TG_ERR_SHAPE, "conv2d", "(3,)");
    TRY(tg_conv2d(t, x, w, F64(1, 3), NULL));
    FAILED(TG_ERR_SHAPE, "conv2d", "(1, 3)");
    TRY(tg_conv2d(t, x, w, F64(3, 1, 1), NULL));
    FAILED(TG_ERR_SHAPE, "conv2d", "bias");
    TRY(tg_conv2d(t, x, w, F32(3), NULL));
    FAILED(TG_ERR_DTYPE, "conv2d", "bias is f32");
    tg_tape_free(t);
}
END_TEST

START_TEST(conv2d_bad_dtype_and_null) {
    tg_tape *t = tg_tape_new();
    tg_tensor *y = NULL;
    int64_t n0 = 0;
    tg_tensor *x = F64(1, 2, 4, 4), *w = F64(3, 2, 3, 3), *w32 = F32(3, 2, 3, 3);
    TRY(tg_conv2d(t, x, w32, NULL, NULL));
    FAILED(TG_ERR_DTYPE, "conv2d", "f32");
    TRY(tg_conv2d(t, NULL, w, NULL, NULL));
    FAILED(TG_ERR_NULL, "conv2d", "input 0");
    TRY(tg_conv2d(t, x, NULL, NULL, NULL));
    FAILED(TG_ERR_NULL, "conv2d", "input 1");
    ck_assert_ptr_null(tg_conv2d(NULL, x, w, NULL, NULL));
    tg_tape_free(t);
}
END_TEST

/* ---- conv2d_input_grad and conv2d_weight_grad ---- */

START_TEST(conv2d_input_grad_errors) {
    static const char op[] = "conv2d_input_grad";
    tg_tape *t = tg_tape_new();
    tg_tensor *y = NULL;
    int64_t n0 = 0;
    /* x (1,2,4,4) and w (3,2,3,3) give g (1,3,2,2). */
    tg_tensor *g = F64(1, 3, 2, 2), *w = F64(3, 2, 3, 3);
    const int64_t xs[4] = {1, 2, 4, 4}, neg[4] = {1, 2, -4, 4}, few[4] = {1, 3, 4, 4};
    TRY(tg_conv2d_input_grad(t, g, w, NULL, NULL));
    FAILED(TG_ERR_NULL, op, "x_shape is NULL");
    TRY(tg_conv2d_input_grad(t, g, w, neg, NULL));
    FAILED(TG_ERR_SHAPE, op, "negative size");
    TRY(tg_conv2d_input_grad(t, g, F64(3, 18), xs, NULL));
    FAILED(TG_ERR_SHAPE, op, "weight must be 4-D");
    TRY(tg_conv2d_input_grad(t, g, w, few, NULL));
    FAILED(TG_ERR_SHAPE, op, "groups");
    TRY(tg_conv2d_input_grad(t, F64(1, 3, 3, 3), w, xs, NULL));
    FAILED(TG_ERR_SHAPE, op, "output gradient");
    TRY(tg_conv2d_input_grad(t, F64(3, 2, 2), w, xs, NULL));
    FAILED(TG_ERR_SHAPE, op, "(1, 3, 2, 2)");
    TRY(tg_conv2d_input_grad(t, g, F64(3, 2, 5, 5), xs, NULL));
    FAILED(TG_ERR_SHAPE, op, "does not fit");
    TRY(tg_conv2d_input_grad(t, g, w, xs, CONV(.stride = {0, -1})));
    FAILED(TG_ERR_ARG, op, ">= 0");
    TRY(tg_conv2d_input_grad(t, g, w, xs, CONV(.groups = -2)));
    FAILED(TG_ERR_ARG, op, "groups");
    TRY(tg_conv2d_input_grad(t, F32(1, 3, 2, 2), w, xs, NULL));
    FAILED(TG_ERR_DTYPE, op, "f32");
    TRY(tg_conv2d_input_grad(t, NULL, w, xs, NULL));
    FAILED(TG_ERR_NULL, op, "input 0");
    /* The right call goes through. */
    ck_assert_ptr_nonnull(tg_conv2d_input_grad(t, g, w, xs, NULL));
    tg_tape_free(t);
}
END_TEST

START_TEST(conv2d_weight_grad_errors) {
    static const char op[] = "conv2d_weight_grad";
    tg_tape *t = tg_tape_new();
    tg_tensor *y = NULL;
    int64_t n0 = 0;
    tg_tensor *x = F64(1, 2, 4, 4), *g = F64(1, 3, 2, 2);
    const int64_t ws[4] = {3, 2, 3, 3}, neg[4] = {3, -2, 3, 3}, chans[4] = {3, 1, 3, 3};
    const int64_t big[4] = {3, 2, 5, 5};
    TRY(tg_conv2d_weight_grad(t, x, g, NULL, NULL));
    FAILED(TG_ERR_NULL, op, "w_shape is NULL");
    TRY(tg_conv2d_weight_grad(t, x, g, neg, NULL));
    FAILED(TG_ERR_SHAPE, op, "negative size");
    TRY(tg_conv2d_weight_grad(t, F64(2, 4, 4), g, ws, NULL));
    FAILED(TG_ERR_SHAPE, op, "input must be 4-D");
    TRY(tg_conv2d_weight_grad(t, x, g, chans, NULL));
    FAILED(TG_ERR_SHAPE, op, "groups");
    TRY(tg_conv2d_weight_grad(t, x, g, big, NULL));
    FAILED(TG_ERR_SHAPE, op, "does not fit");
    TRY(tg_conv2d_weight_grad(t, x, F64(1, 2, 2, 2), ws, NULL));
    FAILED(TG_ERR_SHAPE, op, "output gradient");
    TRY(tg_conv2d_weight_grad(t, x, g, ws, CONV(.dilation = {1, -1})));
    FAILED(TG_ERR_ARG, op, ">= 0");
    TRY(tg_conv2d_weight_grad(t, x, F32(1, 3, 2, 2), ws, NULL));
    FAILED(TG_ERR_DTYPE, op, "f32");
    TRY(tg_conv2d_weight_grad(t, x, NULL, ws, NULL));
    FAILED(TG_ERR_NULL, op, "input 1");
    ck_assert_ptr_nonnull(tg_conv2d_weight_grad(t, x, g, ws, NULL));
    tg_tape_free(t);
}
END_TEST

/* ---- pooling ---- */

START_TEST(pool_bad_geometry) {
    tg_tape *t = tg_tape_new();
    tg_tensor *y = NULL;
    int64_t n0 = 0;
    tg_tensor *x = F64(1, 1, 4, 4);
    /* Each pool in turn: the checks are shared, the name in the message is the op's own. */
    TRY(tg_max_pool2d(t, x, POOL(.kernel = {0, 2})));
    FAILED(TG_ERR_ARG, "max_pool2d", "kernel 0");
    TRY(tg_avg_pool2d(t, x, POOL(.kernel = {2, 0})));
    FAILED(TG_ERR_ARG, "avg_pool2d", "kernel 0");
    TRY(tg_max_pool2d(t, x, POOL(.kernel = {-2, 2})));
    FAILED(TG_ERR_ARG, "max_pool2d", "kernel -2");
    TRY(tg_max_pool2d(t, x, NULL));
    FAILED(TG_ERR_NULL, "max_pool2d", "params are NULL");
    TRY(tg_avg_pool2d(t, x, NULL));
    FAILED(TG_ERR_NULL, "avg_pool2d", "params are NULL");
    /* Padding more than half the kernel: 2 for a kernel of 3; 1 for a kernel of 1. */
    TRY(tg_max_pool2d(t, x, POOL(.kernel = {3, 3}, .stride = {1, 1}, .padding = {2, 0})));
    FAILED(TG_ERR_ARG, "max_pool2d", "padding 2");
    TRY(tg_avg_pool2d(t, x, POOL(.kernel = {1, 1}, .padding = {0, 1})));
    FAILED(TG_ERR_ARG, "avg_pool2d", "padding 1");
    TRY(tg_max_pool2d(t, x, POOL(.kernel = {2, 2}, .padding = {-1, 0})));
    FAILED(TG_ERR_ARG, "max_pool2d", "padding -1");
    TRY(tg_avg_pool2d(t, x, POOL(.kernel = {2, 2}, .stride = {-1, 1})));
    FAILED(TG_ERR_ARG, "avg_pool2d", "stride -1");
    TRY(tg_max_pool2d(t, x, POOL(.kernel = {2, 2}, .dilation = {-1, 1})));
    FAILED(TG_ERR_ARG, "max_pool2d", "dilation -1");
    /* Dilation is for max pooling only; 0 and 1 both mean none. */
    TRY(tg_avg_pool2d(t, x, POOL(.kernel = {2, 2}, .dilation = {1, 2})));
    FAILED(TG_ERR_ARG, "avg_pool2d", "dilation");
    ck_assert_ptr_nonnull(tg_avg_pool2d(t, x, POOL(.kernel = {2, 2}, .dilation = {1, 1})));
    /* Half the kernel is allowed. */
    ck_assert_ptr_nonnull(tg_max_pool2d(t, x, POOL(.kernel = {2, 2}, .padding = {1, 1})));
    ck_assert_int_eq(tg_tape_status(t), TG_OK);
    tg_tape_free(t);
}
END_TEST

START_TEST(pool_bad_input) {
    tg_tape *t = tg_tape_new();
    tg_tensor *y = NULL;
    int64_t n0 = 0;
    tg_tensor *x3 = F64(1, 4, 4), *small = F64(1, 1, 2, 2);
    TRY(tg_max_pool2d(t, x3, POOL(.kernel = {2, 2})));
    FAILED(TG_ERR_SHAPE, "max_pool2d", "4-D");
    TRY(tg_avg_pool2d(t, x3, POOL(.kernel = {2, 2})));
    FAILED(TG_ERR_SHAPE, "avg_pool2d", "(1, 4, 4)");
    TRY(tg_max_pool2d(t, small, POOL(.kernel = {3, 3})));
    FAILED(TG_ERR_SHAPE, "max_pool2d", "does not fit");
    TRY(tg_avg_pool2d(t, small, POOL(.kernel = {1, 3})));
    FAILED(TG_ERR_SHAPE, "avg_pool2d", "does not fit");
    /* Dilation 2 spreads a kernel of 2 over 3 rows. */
    TRY(tg_max_pool2d(t, small, POOL(.kernel = {2, 2}, .dilation = {2, 1})));
    FAILED(TG_ERR_SHAPE, "max_pool2d", "does not fit");
    TRY(tg_max_pool2d(t, NULL, POOL(.kernel = {2, 2})));
    FAILED(TG_ERR_NULL, "max_pool2d", "input 0");
    TRY(tg_avg_pool2d(t, NULL, POOL(.kernel = {2, 2})));
    FAILED(TG_ERR_NULL, "avg_pool2d", "input 0");
    tg_tape_free(t);
}
END_TEST

START_TEST(pool_adjoints_bad_gradient) {
    tg_tape *t = tg_tape_new();
    tg_tensor *y = NULL;
    int64_t n0 = 0;
    /* x (1,2,4,4) pooled by 2 gives (1,2,2,2). */
    tg_tensor *x = F64(1, 2, 4, 4), *g = F64(1, 2, 2, 2), *bad = F64(1, 2, 3, 3);
    const tg_pool2d_params *k2 = POOL(.kernel = {2, 2});
    const int64_t xs[4] = {1, 2, 4, 4}, neg[4] = {1, -2, 4, 4};
    TRY(tg_max_pool2d_scatter(t, bad, x, k2));
    FAILED(TG_ERR_SHAPE, "max_pool2d_scatter", "gradient has shape");
    TRY(tg_max_pool2d_scatter(t, F64(2, 2, 2), x, k2));
    FAILED(TG_ERR_SHAPE, "max_pool2d_scatter", "(1, 2, 2, 2)");
    TRY(tg_max_pool2d_scatter(t, g, F64(2, 4, 4), k2));
    FAILED(TG_ERR_SHAPE, "max_pool2d_scatter", "4-D");
    TRY(tg_max_pool2d_scatter(t, g, x, POOL(.kernel = {0, 2})));
    FAILED(TG_ERR_ARG, "max_pool2d_scatter", "kernel 0");
    TRY(tg_max_pool2d_scatter(t, F32(1, 2, 2, 2), x, k2));
    FAILED(TG_ERR_DTYPE, "max_pool2d_scatter", "f32");
    TRY(tg_max_pool2d_gather(t, g, x, k2));
    FAILED(TG_ERR_SHAPE, "max_pool2d_gather", "(1, 2, 2, 2)");
    TRY(tg_max_pool2d_gather(t, F64(1, 2, 4, 3), x, k2));
    FAILED(TG_ERR_SHAPE, "max_pool2d_gather", "input's shape");
    TRY(tg_max_pool2d_gather(t, x, x, NULL));
    FAILED(TG_ERR_NULL, "max_pool2d_gather", "params");
    TRY(tg_avg_pool2d_adjoint(t, bad, xs, k2));
    FAILED(TG_ERR_SHAPE, "avg_pool2d_adjoint", "gradient has shape");
    TRY(tg_avg_pool2d_adjoint(t, g, NULL, k2));
    FAILED(TG_ERR_NULL, "avg_pool2d_adjoint", "x_shape is NULL");
    TRY(tg_avg_pool2d_adjoint(t, g, neg, k2));
    FAILED(TG_ERR_SHAPE, "avg_pool2d_adjoint", "negative size");
    TRY(tg_avg_pool2d_adjoint(t, g, xs, POOL(.kernel = {2, 2}, .dilation = {2, 2})));
    FAILED(TG_ERR_ARG, "avg_pool2d_adjoint", "dilation");
    /* The right calls go through. */
    ck_assert_ptr_nonnull(tg_max_pool2d_scatter(t, g, x, k2));
    ck_assert_ptr_nonnull(tg_max_pool2d_gather(t, x, x, k2));
    ck_assert_ptr_nonnull(tg_avg_pool2d_adjoint(t, g, xs, k2));
    tg_tape_free(t);
}
END_TEST

/* ---- batch_norm and layer_norm ---- */

START_TEST(batch_norm_bad_shapes_and_dtypes) {
    static const char op[] = "batch_norm";
    tg_tape *t = tg_tape_new();
    tg_tensor *y = NULL;
    int64_t n0 = 0;
    tg_tensor *x = F64(4, 3), *c3 = F64(3);
    TRY(tg_batch_norm(t, F64(6), NULL, NULL, NULL, NULL, true, 0.1, 1e-5));
    FAILED(TG_ERR_SHAPE, op, "(N, C, ...)");
    TRY(tg_batch_norm(t, x, F64(4), NULL, NULL, NULL, true, 0.1, 1e-5));
    FAILED(TG_ERR_SHAPE, op, "gamma has shape (4,)");
    TRY(tg_batch_norm(t, x, c3, F64(1, 3), NULL, NULL, true, 0.1, 1e-5));
    FAILED(TG_ERR_SHAPE, op, "beta has shape (1, 3)");
    TRY(tg_batch_norm(t, x, F32(3), c3, NULL, NULL, true, 0.1, 1e-5));
    FAILED(TG_ERR_DTYPE, op, "gamma is f32");
    TRY(tg_batch_norm(t, x, NULL, NULL, F64(2), c3, true, 0.1, 1e-5));
    FAILED(TG_ERR_SHAPE, op, "running_mean");
    TRY(tg_batch_norm(t, x, NULL, NULL, c3, F32(3), false, 0.1, 1e-5));
    FAILED(TG_ERR_DTYPE, op, "running_var is f32");
    /* One value per channel has no variance to normalise by. */
    TRY(tg_batch_norm(t, F64(1, 3), NULL, NULL, NULL, NULL, true, 0.1, 1e-5));
    FAILED(TG_ERR_SHAPE, op, "more than one value");
    TRY(tg_batch_norm(t, NULL, c3, c3, NULL, NULL, true, 0.1, 1e-5));
    FAILED(TG_ERR_NULL, op, "input 0");
    tg_tape_free(t);
}
END_TEST

START_TEST(batch_norm_bad_arguments) {
    static const char op[] = "batch_norm";
    tg_tape *t = tg_tape_new();
    tg_tensor *y = NULL;
    int64_t n0 = 0;
    tg_tensor *x = F64(4, 3);
    tg_tensor *rm = tg_zeros(t, TG_F64, TG_SHAPE(3)), *rv = tg_ones(t, TG_F64, TG_SHAPE(3));
    TRY(tg_batch_norm(t, x, NULL, NULL, NULL, NULL, true, 0.1, 0.0));
    FAILED(TG_ERR_ARG, op, "eps > 0");
    TRY(tg_batch_norm(t, x, NULL, NULL, NULL, NULL, true, 0.1, -1e-5));
    FAILED(TG_ERR_ARG, op, "eps > 0");
    TRY(tg_batch_norm(t, x, NULL, NULL, NULL, NULL, true, 0.1, NAN));
    FAILED(TG_ERR_ARG, op, "eps > 0");
    TRY(tg_batch_norm(t, x, NULL, NULL, rm, rv, true, -0.1, 1e-5));
    FAILED(TG_ERR_ARG, op, "momentum in [0, 1]");
    TRY(tg_batch_norm(t, x, NULL, NULL, rm, rv, true, 1.5, 1e-5));
    FAILED(TG_ERR_ARG, op, "momentum in [0, 1]");
    TRY(tg_batch_norm(t, x, NULL, NULL, rm, rv, true, NAN, 1e-5));
    FAILED(TG_ERR_ARG, op, "momentum in [0, 1]");
    TRY(tg_batch_norm(t, x, NULL, NULL, NULL, NULL, false, 0.1, 1e-5));
    FAILED(TG_ERR_ARG, op, "eval mode needs");
    TRY(tg_batch_norm(t, x, NULL, NULL, rm, NULL, false, 0.1, 1e-5));
    FAILED(TG_ERR_ARG, op, "eval mode needs");
    TRY(tg_batch_norm(t, x, NULL, NULL, NULL, rv, true, 0.1, 1e-5));
    FAILED(TG_ERR_ARG, op, "both running estimates");
    /* A failed call leaves the running estimates as they were. */
    ck_assert_double_eq(tg_tensor_get(rm, 0), 0.0);
    ck_assert_double_eq(tg_tensor_get(rv, 2), 1.0);
    /* The edges of momentum are allowed. */
    ck_assert_ptr_nonnull(tg_batch_norm(t, x, NULL, NULL, rm, rv, true, 0.0, 1e-5));
    ck_assert_ptr_nonnull(tg_batch_norm(t, x, NULL, NULL, rm, rv, true, 1.0, 1e-5));
    ck_assert_int_eq(tg_tape_status(t), TG_OK);
    tg_tape_free(t);
}
END_TEST

START_TEST(layer_norm_errors) {
    static const char op[] = "layer_norm";
    tg_tape *t = tg_tape_new();
    tg_tensor *y = NULL;
    int64_t n0 = 0;
    tg_tensor *x = F64(2, 3, 4), *g4 = F64(4);
    TRY(tg_layer_norm(t, x, 0, NULL, NULL, 1e-5));
    FAILED(TG_ERR_AXIS, op, "last 0 axes");
    TRY(tg_layer_norm(t, x, 4, NULL, NULL, 1e-5));
    FAILED(TG_ERR_AXIS, op, "last 4 axes of (2, 3, 4)");
    TRY(tg_layer_norm(t, x, -1, NULL, NULL, 1e-5));
    FAILED(TG_ERR_AXIS, op, "last -1 axes");
    TRY(tg_layer_norm(t, x, 1, NULL, NULL, 0.0));
    FAILED(TG_ERR_ARG, op, "eps must be > 0");
    TRY(tg_layer_norm(t, x, 1, NULL, NULL, -0.5));
    FAILED(TG_ERR_ARG, op, "eps must be > 0");
    TRY(tg_layer_norm(t, x, 2, g4, NULL, 1e-5));
    FAILED(TG_ERR_SHAPE, op, "gamma has shape (4,), expected (3, 4)");
    TRY(tg_layer_norm(t, x, 1, g4, F64(3), 1e-5));
    FAILED(TG_ERR_SHAPE, op, "beta has shape (3,)");
    TRY(tg_layer_norm(t, x, 1, g4, F32(4), 1e-5));
    FAILED(TG_ERR_DTYPE, op, "beta is f32");
    TRY(tg_layer_norm(t, NULL, 1, g4, g4, 1e-5));
    FAILED(TG_ERR_NULL, op, "input 0");
    /* Every axis (n_dims = ndim) is in range. */
    ck_assert_ptr_nonnull(tg_layer_norm(t, x, 3, NULL, NULL, 1e-5));
    ck_assert_int_eq(tg_tape_status(t), TG_OK);
    tg_tape_free(t);
}
END_TEST

/* ---- chains ---- */

/* After a failure, every op fed its NULL result returns NULL and the tape keeps the first
 * error, word for word: the failure's site, not a later line, is what the user sees. */
START_TEST(chain_keeps_first_error) {
    tg_tape *t = tg_tape_new();
    tg_tensor *x = F64(1, 2, 4, 4), *w = F64(3, 2, 3, 3), *g = F64(1, 3, 2, 2);
    const int64_t xs[4] = {1, 2, 4, 4}, ws[4] = {3, 2, 3, 3};
    int line = __LINE__ + 1;
    tg_tensor *bad = tg_conv2d(t, x, w, NULL, CONV(.stride = {-1, 1}));
    ck_assert_ptr_null(bad);
    char first[512];
    snprintf(first, sizeof first, "%s", tg_tape_error(t));
    char site[64];
    snprintf(site, sizeof site, "test_nn_op_errors.c:%d]", line);
    ck_assert_msg(strstr(first, site), "first error does not name line %d: %s", line, first);

    const tg_pool2d_params *k2 = POOL(.kernel = {2, 2});
    tg_tensor *chain[] = {
        tg_conv2d(t, bad, w, NULL, NULL),
        tg_conv2d(t, x, bad, NULL, NULL),
        tg_conv2d_input_grad(t, bad, w, xs, NULL),
        tg_conv2d_weight_grad(t, x, bad, ws, NULL),
        tg_max_pool2d(t, bad, k2),
        tg_avg_pool2d(t, bad, k2),
        tg_max_pool2d_scatter(t, bad, x, k2),
        tg_max_pool2d_gather(t, bad, x, k2),
        tg_avg_pool2d_adjoint(t, bad, xs, k2),
        tg_batch_norm(t, bad, NULL, NULL, NULL, NULL, true, 0.1, 1e-5),
        tg_layer_norm(t, bad, 2, NULL, NULL, 1e-5),
        tg_relu(t, tg_max_pool2d(t, tg_conv2d(t, bad, w, NULL, NULL), k2)),
        /* A later call that is itself wrong is not the first error either. */
        tg_conv2d_input_grad(t, g, w, NULL, NULL),
        tg_batch_norm(t, x, NULL, NULL, NULL, NULL, false, 0.1, -1.0),
    };
    for (size_t i = 0; i < sizeof chain / sizeof chain[0]; i++)
        ck_assert_msg(chain[i] == NULL, "call %zu of the chain returned a tensor", i);
    ck_assert_int_eq(tg_tape_status(t), TG_ERR_ARG);
    ck_assert_str_eq(tg_tape_error(t), first);
    ck_assert_int_eq(tg_tape_n_nodes(t), 0);
    tg_tape_free(t);
}
END_TEST

/* ---- conv_transpose2d ---- */

START_TEST(conv_transpose2d_errors) {
    tg_tape *t = tg_tape_new();
    tg_tensor *y = NULL;
    int64_t n0 = 0;
    tg_tensor *x = F64(1, 2, 3, 3), *w = F64(2, 3, 4, 4);
    TRY(tg_conv_transpose2d(t, F64(2, 3, 3), w, NULL, NULL));
    FAILED(TG_ERR_SHAPE, "conv_transpose2d", "input must be 4-D");
    TRY(tg_conv_transpose2d(t, x, F64(2, 48), NULL, NULL));
    FAILED(TG_ERR_SHAPE, "conv_transpose2d", "weight must be 4-D");
    /* The weight is (C_in, C_out / groups, kH, kW): its first dimension must be x's channels. */
    TRY(tg_conv_transpose2d(t, x, F64(3, 2, 4, 4), NULL, NULL));
    FAILED(TG_ERR_SHAPE, "conv_transpose2d", "(3, 2, 4, 4)");
    TRY(tg_conv_transpose2d(t, x, w, NULL, CONVT(.groups = 4)));
    FAILED(TG_ERR_SHAPE, "conv_transpose2d", "4 groups");
    TRY(tg_conv_transpose2d(t, x, w, NULL, CONVT(.groups = -1)));
    FAILED(TG_ERR_ARG, "conv_transpose2d", "groups");
    TRY(tg_conv_transpose2d(t, x, w, NULL, CONVT(.stride = {-2, 2})));
    FAILED(TG_ERR_ARG, "conv_transpose2d", "stride");
    /* output_padding picks among the stride's sizes: it must be below the stride. */
    TRY(tg_conv_transpose2d(t, x, w, NULL, CONVT(.stride = {2, 2}, .output_padding = {0, 2})));
    FAILED(TG_ERR_ARG, "conv_transpose2d", "output_padding 2, stride 2");
    TRY(tg_conv_transpose2d(t, x, w, NULL, CONVT(.output_padding = {1, 0})));
    FAILED(TG_ERR_ARG, "conv_transpose2d", "output_padding");
    TRY(tg_conv_transpose2d(t, x, w, NULL, CONVT(.output_padding = {-1, 0})));
    FAILED(TG_ERR_ARG, "conv_transpose2d", "output_padding");
    /* Padding that removes the whole output, an empty kernel. */
    TRY(tg_conv_transpose2d(t, F64(1, 2, 1, 1), F64(2, 1, 1, 1), NULL, CONVT(.padding = {1, 1})));
    FAILED(TG_ERR_SHAPE, "conv_transpose2d", "gives no output");
    TRY(tg_conv_transpose2d(t, x, F64(2, 3, 0, 4), NULL, NULL));
    FAILED(TG_ERR_SHAPE, "conv_transpose2d", "gives no output");
    TRY(tg_conv_transpose2d(t, x, w, NULL, CONVT(.padding = {INT_MAX, INT_MAX})));
    FAILED(TG_ERR_SHAPE, "conv_transpose2d", "gives no output");
    /* A stride near INT_MAX makes an output of more than 2^40 elements, refused before any
     * allocation is sized from it. */
    TRY(tg_conv_transpose2d(t, F64(1, 2, 600, 600), w, NULL, CONVT(.stride = {INT_MAX, INT_MAX})));
    FAILED(TG_ERR_SHAPE, "conv_transpose2d", NULL);
    TRY(tg_conv_transpose2d(t, x, F64(2, 3, 4, 4), F64(2), NULL));
    FAILED(TG_ERR_SHAPE, "conv_transpose2d", "bias must have shape (3,)");
    TRY(tg_conv_transpose2d(t, x, w, F32(3), NULL));
    FAILED(TG_ERR_DTYPE, "conv_transpose2d", "bias is f32");
    TRY(tg_conv_transpose2d(t, x, F32(2, 3, 4, 4), NULL, NULL));
    FAILED(TG_ERR_DTYPE, "conv_transpose2d", NULL);
    TRY(tg_conv_transpose2d(t, NULL, w, NULL, NULL));
    FAILED(TG_ERR_NULL, "conv_transpose2d", "input 0 is NULL");
    /* After all that, a good call works and has the documented size. */
    y = tg_conv_transpose2d(t, x, w, NULL, CONVT(.stride = {2, 2}, .padding = {1, 1}));
    ck_assert_ptr_nonnull(y);
    ck_assert_int_eq(tg_tensor_dim(y, 1), 3);
    ck_assert_int_eq(tg_tensor_dim(y, 2), 6);
    ck_assert_int_eq(tg_tensor_dim(y, 3), 6);
    tg_tape_free(t);
}
END_TEST

static Suite *nn_op_errors_suite(void) {
    Suite *s = suite_create("nn_op_errors");
    TCase *tc = tcase_create("conv2d");
    tcase_add_test(tc, conv2d_bad_shapes);
    tcase_add_test(tc, conv2d_kernel_larger_than_padded_input);
    tcase_add_test(tc, conv2d_negative_geometry);
    tcase_add_test(tc, conv2d_bad_bias);
    tcase_add_test(tc, conv2d_bad_dtype_and_null);
    tcase_add_test(tc, conv2d_input_grad_errors);
    tcase_add_test(tc, conv2d_weight_grad_errors);
    tcase_add_test(tc, conv_transpose2d_errors);
    suite_add_tcase(s, tc);
    tc = tcase_create("pool");
    tcase_add_test(tc, pool_bad_geometry);
    tcase_add_test(tc, pool_bad_input);
    tcase_add_test(tc, pool_adjoints_bad_gradient);
    suite_add_tcase(s, tc);
    tc = tcase_create("norm");
    tcase_add_test(tc, batch_norm_bad_shapes_and_dtypes);
    tcase_add_test(tc, batch_norm_bad_arguments);
    tcase_add_test(tc, layer_norm_errors);
    suite_add_tcase(s, tc);
    tc = tcase_create("chain");
    tcase_add_test(tc, chain_keeps_first_error);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tg_test_run(nn_op_errors_suite()); }
