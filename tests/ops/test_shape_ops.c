/* test_shape_ops.c: concat, stack, pad, index_select, index_add, embedding, one_hot and linear
 * beyond their gradient proofs (those are cases in op_cases_shape.c): forward values worked
 * out by hand, gradients that must accumulate (repeated indices, one leaf joined twice, more
 * inputs than a node keeps inline), and every kind of bad input, which must give a NULL result
 * and an error naming the op, never a crash. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

/* ---- helpers ---- */

static tg_tensor *f64(tg_tape *t, int ndim, const int64_t *shape, const double *v) {
    return tg_from_data(t, TG_F64, ndim, shape, v);
}

/* Asserts that x has the given shape and (as doubles, exactly) the given values. */
static void expect(const tg_tensor *x, int ndim, const int64_t *shape, const double *want) {
    ck_assert_ptr_nonnull(x);
    ck_assert_int_eq(tg_tensor_ndim(x), ndim);
    for (int d = 0; d < ndim; d++) ck_assert_int_eq(tg_tensor_dim(x, d), shape[d]);
    int64_t n = tg_tensor_numel(x);
    double got[64];
    ck_assert_int_le(n, 64);
    ck_assert_int_eq(tg_tensor_copy_out(x, TG_F64, got), TG_OK);
    for (int64_t i = 0; i < n; i++)
        ck_assert_msg(got[i] == want[i], "element %lld: got %g, want %g", (long long)i, got[i],
                      want[i]);
}

#define EXPECT(x, shape_list, ...) expect(x, shape_list, (const double[]){__VA_ARGS__})

/* Asserts that y is NULL and the tape holds status s with a message naming `op` and, when
 * `detail` is not NULL, containing it. Then clears the error. */
static void expect_error(tg_tape *t, const tg_tensor *y, tg_status s, const char *op,
                         const char *detail) {
    const char *e = tg_tape_error(t);
    ck_assert_msg(y == NULL, "expected NULL from %s", op);
    ck_assert_msg(tg_tape_status(t) == s, "%s: status %s, want %s (%s)", op,
                  tg_status_string(tg_tape_status(t)), tg_status_string(s), e);
    ck_assert_msg(strncmp(e, op, strlen(op)) == 0 && e[strlen(op)] == ':',
                  "message does not start with '%s:': %s", op, e);
    if (detail) ck_assert_msg(strstr(e, detail), "message lacks '%s': %s", detail, e);
    /* The call site is the test's own line. */
    ck_assert_msg(strstr(e, "test_shape_ops.c:"), "message names no call site: %s", e);
    tg_tape_clear_error(t);
}

/* ---- concat and stack ---- */

START_TEST(concat_values) {
    tg_tape *t = tg_tape_new();
    tg_tensor *a = f64(t, TG_SHAPE(2, 2), (const double[]){1, 2, 3, 4});
    tg_tensor *b = f64(t, TG_SHAPE(2, 1), (const double[]){5, 6});
    tg_tensor *c = f64(t, TG_SHAPE(1, 2), (const double[]){7, 8});
    EXPECT(tg_concat(t, 2, (tg_tensor *[]){a, b}, 1), TG_SHAPE(2, 3), 1, 2, 5, 3, 4, 6);
    EXPECT(tg_concat(t, 2, (tg_tensor *[]){a, c}, 0), TG_SHAPE(3, 2), 1, 2, 3, 4, 7, 8);
    EXPECT(tg_concat(t, 2, (tg_tensor *[]){b, a}, -1), TG_SHAPE(2, 3), 5, 1, 2, 6, 3, 4);
    /* A transposed view is read through its strides. */
    EXPECT(tg_concat(t, 2, (tg_tensor *[]){tg_transpose(t, a, 0, 1), b}, 1), TG_SHAPE(2, 3), 1, 3,
           5, 2, 4, 6);
    /* A piece with no elements along the axis adds nothing. */
    tg_tensor *e = tg_zeros(t, TG_F64, TG_SHAPE(2, 0));
    EXPECT(tg_concat(t, 3, (tg_tensor *[]){e, a, e}, 1), TG_SHAPE(2, 2), 1, 2, 3, 4);
    /* f32 */
    tg_tensor *af = tg_from_data(t, TG_F32, TG_SHAPE(2), (const float[]){1.5f, 2.5f});
    tg_tensor *y = tg_concat(t, 2, (tg_tensor *[]){af, af}, 0);
    ck_assert_int_eq(tg_tensor_dtype(y), TG_F32);
    EXPECT(y, TG_SHAPE(4), 1.5, 2.5, 1.5, 2.5);
    ck_assert_int_eq(tg_tape_status(t), TG_OK);
    tg_tape_free(t);
}
END_TEST

START_TEST(stack_values) {
    tg_tape *t = tg_tape_new();
    tg_tensor *a = f64(t, TG_SHAPE(3), (const double[]){1, 2, 3});
    tg_tensor *b = f64(t, TG_SHAPE(3), (const double[]){4, 5, 6});
    tg_tensor *ab[2] = {a, b};
    EXPECT(tg_stack(t, 2, ab, 0), TG_SHAPE(2, 3), 1, 2, 3, 4, 5, 6);
    EXPECT(tg_stack(t, 2, ab, 1), TG_SHAPE(3, 2), 1, 4, 2, 5, 3, 6);
    EXPECT(tg_stack(t, 2, ab, -1), TG_SHAPE(3, 2), 1, 4, 2, 5, 3, 6);
    EXPECT(tg_stack(t, 2, ab, -2), TG_SHAPE(2, 3), 1, 2, 3, 4, 5, 6);
    /* 0-d tensors stack into a vector. */
    tg_tensor *s = tg_scalar(t, TG_F64, 7), *u = tg_scalar(t, TG_F64, 9);
    EXPECT(tg_stack(t, 2, (tg_tensor *[]){s, u}, 0), TG_SHAPE(2), 7, 9);
    /* Views that are not contiguous (a transpose) stack by value. */
    tg_tensor *m = f64(t, TG_SHAPE(2, 2), (const double[]){1, 2, 3, 4});
    tg_tensor *mt = tg_transpose(t, m, 0, 1);
    EXPECT(tg_stack(t, 2, (tg_tensor *[]){m, mt}, 0), TG_SHAPE(2, 2, 2), 1, 2, 3, 4, 1, 3, 2, 4);
    ck_assert_int_eq(tg_tape_status(t), TG_OK);
    tg_tape_free(t);
}
END_TEST

/* Six leaves joined: more inputs than a node keeps inline, so the node's inputs and the sweep's
 * gradient slots live in the arena. Each leaf's gradient is its weight in the loss. */
START_TEST(concat_many_inputs_gradients) {
    tg_tape *t = tg_tape_new();
    tg_tensor *xs[6];
    double w[12];
    for (int i = 0; i < 6; i++) {
        xs[i] = f64(t, TG_SHAPE(2), (const double[]){i, -i});
        tg_tensor_set_requires_grad(xs[i], true);
        w[2 * i] = i + 1;
        w[2 * i + 1] = -(i + 1) * 10;
    }
    tg_tensor *y = tg_concat(t, 6, xs, 0);
    ck_assert_int_eq(tg_tape_n_nodes(t), 1);
    tg_tensor *loss = tg_sum_all(t, tg_mul(t, y, f64(t, TG_SHAPE(12), w)));
    ck_assert_int_eq(tg_tape_backward(t, loss, NULL, 0), TG_OK);
    for (int i = 0; i < 6; i++)
        expect(tg_tensor_grad(xs[i]), TG_SHAPE(2), (const double[]){i + 1, -(i + 1) * 10});
    tg_tape_free(t);
}
END_TEST

/* One leaf joined twice gets both slices' gradients. */
START_TEST(concat_same_leaf_twice) {
    tg_tape *t = tg_tape_new();
    tg_tensor *a = f64(t, TG_SHAPE(2), (const double[]){1, 2});
    tg_tensor_set_requires_grad(a, true);
    tg_tensor *y = tg_concat(t, 2, (tg_tensor *[]){a, a}, 0);
    tg_tensor *w = f64(t, TG_SHAPE(4), (const double[]){1, 2, 30, 40});
    ck_assert_int_eq(tg_tape_backward(t, tg_sum_all(t, tg_mul(t, y, w)), NULL, 0), TG_OK);
    EXPECT(tg_tensor_grad(a), TG_SHAPE(2), 31, 42);
    tg_tape_free(t);
}
END_TEST

START_TEST(concat_stack_errors) {
    tg_tape *t = tg_tape_new();
    tg_tensor *a = tg_zeros(t, TG_F64, TG_SHAPE(2, 3));
    tg_tensor *b = tg_zeros(t, TG_F64, TG_SHAPE(3, 3));
    tg_tensor *c = tg_zeros(t, TG_F64, TG_SHAPE(2, 3, 1));
    tg_tensor *f = tg_zeros(t, TG_F32, TG_SHAPE(2, 3));
    tg_tensor *s = tg_scalar(t, TG_F64, 1);
    expect_error(t, tg_concat(t, 0, (tg_tensor *[]){a}, 0), TG_ERR_ARG, "concat", "n = 0");
    expect_error(t, tg_concat(t, -1, (tg_tensor *[]){a}, 0), TG_ERR_ARG, "concat", NULL);
    expect_error(t, tg_concat(t, 2, NULL, 0), TG_ERR_NULL, "concat", NULL);
    expect_error(t, tg_concat(t, 2, (tg_tensor *[]){a, NULL}, 0), TG_ERR_NULL, "concat", "input 1");
    expect_error(t, tg_concat(t, 2, (tg_tensor *[]){a, f}, 0), TG_ERR_DTYPE, "concat", "input 1");
    expect_error(t, tg_concat(t, 2, (tg_tensor *[]){a, b}, 1), TG_ERR_SHAPE, "concat", "(3, 3)");
    expect_error(t, tg_concat(t, 2, (tg_tensor *[]){a, c}, 0), TG_ERR_SHAPE, "concat", "input 1");
    expect_error(t, tg_concat(t, 2, (tg_tensor *[]){a, a}, 2), TG_ERR_AXIS, "concat", "axis 2");
    expect_error(t, tg_concat(t, 2, (tg_tensor *[]){a, a}, -3), TG_ERR_AXIS, "concat", NULL);
    expect_error(t, tg_concat(t, 2, (tg_tensor *[]){s, s}, 0), TG_ERR_AXIS, "concat", NULL);

    expect_error(t, tg_stack(t, 0, (tg_tensor *[]){a}, 0), TG_ERR_ARG, "stack", NULL);
    expect_error(t, tg_stack(t, 1, NULL, 0), TG_ERR_NULL, "stack", NULL);
    expect_error(t, tg_stack(t, 2, (tg_tensor *[]){a, b}, 0), TG_ERR_SHAPE, "stack", "input 1");
    expect_error(t, tg_stack(t, 2, (tg_tensor *[]){a, f}, 0), TG_ERR_DTYPE, "stack", NULL);
    expect_error(t, tg_stack(t, 2, (tg_tensor *[]){a, a}, 3), TG_ERR_AXIS, "stack", "axis 3");
    expect_error(t, tg_stack(t, 2, (tg_tensor *[]){a, a}, -4), TG_ERR_AXIS, "stack", NULL);
    tg_tensor *big = tg_zeros(t, TG_F64, TG_SHAPE(1, 1, 1, 1, 1, 1, 1, 1));
    expect_error(t, tg_stack(t, 1, &big, 0), TG_ERR_SHAPE, "stack", NULL);
    tg_tape_free(t);
}
END_TEST

/* ---- pad ---- */

START_TEST(pad_values) {
    tg_tape *t = tg_tape_new();
    tg_tensor *x = f64(t, TG_SHAPE(2, 2), (const double[]){1, 2, 3, 4});
    EXPECT(tg_pad(t, x, 4, (const int64_t[]){1, 0, 0, 2}, 9.0), TG_SHAPE(3, 4), 9, 9, 9, 9, 1, 2, 9,
           9, 3, 4, 9, 9);
    EXPECT(tg_pad(t, x, 4, (const int64_t[]){0, 0, 1, 1}, 0.0), TG_SHAPE(2, 4), 0, 1, 2, 0, 0, 3, 4,
           0);
    /* A transposed view, padded before its first dimension. */
    EXPECT(tg_pad(t, tg_transpose(t, x, 0, 1), 4, (const int64_t[]){1, 0, 0, 0}, -1.0),
           TG_SHAPE(3, 2), -1, -1, 1, 3, 2, 4);
    /* f32, 1-D, the value converted to the dtype. */
    tg_tensor *v = tg_from_data(t, TG_F32, TG_SHAPE(1), (const float[]){5.0f});
    EXPECT(tg_pad(t, v, 2, (const int64_t[]){2, 1}, 0.5), TG_SHAPE(4), 0.5, 0.5, 5, 0.5);
    /* Nothing to pad: a copy, not the input itself. */
    tg_tensor *same = tg_pad(t, x, 4, (const int64_t[]){0, 0, 0, 0}, 1.0);
    ck_assert_ptr_ne(same, x);
    ck_assert_ptr_ne(tg_tensor_data(same), tg_tensor_data(x));
    EXPECT(same, TG_SHAPE(2, 2), 1, 2, 3, 4);
    ck_assert_int_eq(tg_tape_status(t), TG_OK);
    tg_tape_free(t);
}
END_TEST

/* The padding gets no gradient; the interior gets the output's. */
START_TEST(pad_gradient_by_hand) {
    tg_tape *t = tg_tape_new();
    tg_tensor *x = f64(t, TG_SHAPE(1, 2), (const double[]){1, 2});
    tg_tensor_set_requires_grad(x, true);
    tg_tensor *y = tg_pad(t, x, 4, (const int64_t[]){1, 0, 1, 1}, 3.0); /* (2, 4) */
    tg_tensor *w = f64(t, TG_SHAPE(2, 4), (const double[]){1, 2, 3, 4, 5, 6, 7, 8});
    ck_assert_int_eq(tg_tape_backward(t, tg_sum_all(t, tg_mul(t, y, w)), NULL, 0), TG_OK);
    EXPECT(tg_tensor_grad(x), TG_SHAPE(1, 2), 6, 7);
    tg_tape_free(t);
}
END_TEST

START_TEST(pad_errors) {
    tg_tape *t = tg_tape_new();
    tg_tensor *x = tg_zeros(t, TG_F64, TG_SHAPE(2, 3));
    expect_error(t, tg_pad(t, x, 4, (const int64_t[]){0, -1, 0, 0}, 0.0), TG_ERR_ARG, "pad",
                 "negative");
    expect_error(t, tg_pad(t, x, 4, (const int64_t[]){0, 0, -2, 0}, 0.0), TG_ERR_ARG, "pad",
                 "dimension 1");
    expect_error(t, tg_pad(t, x, 2, (const int64_t[]){1, 1}, 0.0), TG_ERR_ARG, "pad", "4 pad");
    expect_error(t, tg_pad(t, x, 4, NULL, 0.0), TG_ERR_NULL, "pad", NULL);
    expect_error(t, tg_pad(t, NULL, 4, (const int64_t[]){0, 0, 0, 0}, 0.0), TG_ERR_NULL, "pad",
                 NULL);
    expect_error(t, tg_pad(t, x, 4, (const int64_t[]){0, INT64_MAX, 0, 0}, 0.0), TG_ERR_SHAPE,
                 "pad", NULL);
    expect_error(t, tg_pad(t, x, 4, (const int64_t[]){0, 1, 0, INT64_C(1) << 39}, 0.0),
                 TG_ERR_SHAPE, "pad", NULL);
    tg_tape_free(t);
}
END_TEST

/* ---- upsample_nearest2d (a composite; its gradient is proven in the op table) ---- */

START_TEST(upsample_values_and_gradient) {
    tg_tape *t = tg_tape_new();
    /* x (1, 2, 2, 3): channel c, row r, column k holds 100 c + 10 r + k. */
    double xs[12];
    for (int i = 0; i < 12; i++) xs[i] = 100 * (i / 6) + 10 * ((i / 3) % 2) + i % 3;
    tg_tensor *x = tg_from_data(t, TG_F64, TG_SHAPE(1, 2, 2, 3), xs);
    tg_tensor_set_requires_grad(x, true);
    tg_tensor *u = tg_upsample_nearest2d(t, x, 2);
    ck_assert_ptr_nonnull(u);
    ck_assert_int_eq(tg_tensor_dim(u, 2), 4);
    ck_assert_int_eq(tg_tensor_dim(u, 3), 6);
    for (int c = 0; c < 2; c++)
        for (int r = 0; r < 4; r++)
            for (int k = 0; k < 6; k++)
                ck_assert_double_eq(tg_tensor_get(u, (c * 4 + r) * 6 + k),
                                    100 * c + 10 * (r / 2) + k / 2);
    /* Each pixel's gradient is the sum over its 2 x 2 block: 4 for a sum. */
    ck_assert_int_eq(tg_tape_backward(t, tg_sum_all(t, u), NULL, 0), TG_OK);
    for (int i = 0; i < 12; i++) ck_assert_double_eq(tg_tensor_get(tg_tensor_grad(x), i), 4.0);
    /* Scale 1 is the identity. */
    tg_tensor *same = tg_upsample_nearest2d(t, x, 1);
    ck_assert_ptr_nonnull(same);
    for (int i = 0; i < 12; i++) ck_assert_double_eq(tg_tensor_get(same, i), xs[i]);
    tg_tape_free(t);
}
END_TEST

START_TEST(upsample_errors) {
    tg_tape *t = tg_tape_new();
    tg_tensor *x3 = tg_zeros(t, TG_F64, TG_SHAPE(2, 3, 4));
    tg_tensor *x4 = tg_zeros(t, TG_F64, TG_SHAPE(1, 1, 2, 2));
    expect_error(t, tg_upsample_nearest2d(t, x3, 2), TG_ERR_SHAPE, "upsample_nearest2d",
                 "(N, C, H, W)");
    expect_error(t, tg_upsample_nearest2d(t, x4, 0), TG_ERR_ARG, "upsample_nearest2d", "scale 0");
    expect_error(t, tg_upsample_nearest2d(t, x4, 1 << 20), TG_ERR_ARG, "upsample_nearest2d",
                 NULL);
    expect_error(t, tg_upsample_nearest2d(t, NULL, 2), TG_ERR_NULL, "upsample_nearest2d", NULL);
    tg_tape_free(t);
}
END_TEST

/* ---- index_select, index_add, embedding, one_hot ---- */

START_TEST(index_select_values) {
    tg_tape *t = tg_tape_new();
    tg_tensor *x = f64(t, TG_SHAPE(3, 2), (const double[]){1, 2, 3, 4, 5, 6});
    tg_tensor *y = tg_index_select(t, x, 0, 3, (const int64_t[]){2, 0, 2});
    EXPECT(y, TG_SHAPE(3, 2), 5, 6, 1, 2, 5, 6);
    ck_assert(tg_tensor_is_contiguous(y));
    EXPECT(tg_index_select(t, x, -1, 3, (const int64_t[]){1, 1, 0}), TG_SHAPE(3, 3), 2, 2, 1, 4, 4,
           3, 6, 6, 5);
    /* Through a transposed view: the rows of x^T are x's columns. */
    EXPECT(tg_index_select(t, tg_transpose(t, x, 0, 1), 0, 1, (const int64_t[]){1}), TG_SHAPE(1, 3),
           2, 4, 6);
    /* No indices: an empty selection of the right shape. */
    tg_tensor *e = tg_index_select(t, x, 0, 0, NULL);
    ck_assert_ptr_nonnull(e);
    ck_assert_int_eq(tg_tensor_dim(e, 0), 0);
    ck_assert_int_eq(tg_tensor_dim(e, 1), 2);
    tg_tensor *xf = tg_from_data(t, TG_F32, TG_SHAPE(4), (const float[]){1, 2, 3, 4});
    EXPECT(tg_index_select(t, xf, 0, 2, (const int64_t[]){3, 3}), TG_SHAPE(2), 4, 4);
    ck_assert_int_eq(tg_tape_status(t), TG_OK);
    tg_tape_free(t);
}
END_TEST

START_TEST(index_add_values) {
    tg_tape *t = tg_tape_new();
    tg_tensor *x = f64(t, TG_SHAPE(3, 2), (const double[]){1, 2, 3, 4, 5, 6});
    EXPECT(tg_index_add(t, x, 0, 4, 3, (const int64_t[]){3, 0, 3}), TG_SHAPE(4, 2), 3, 4, 0, 0, 0,
           0, 6, 8);
    EXPECT(tg_index_add(t, x, 1, 3, 2, (const int64_t[]){2, 2}), TG_SHAPE(3, 3), 0, 0, 3, 0, 0, 7,
           0, 0, 11);
    /* Size 0 along the axis with no indices: an empty result. */
    tg_tensor *none = tg_zeros(t, TG_F64, TG_SHAPE(0, 2));
    tg_tensor *e = tg_index_add(t, none, 0, 0, 0, NULL);
    ck_assert_ptr_nonnull(e);
    ck_assert_int_eq(tg_tensor_numel(e), 0);
    ck_assert_int_eq(tg_tape_status(t), TG_OK);
    tg_tape_free(t);
}
END_TEST

/* f32 repeats are summed in double: 2^24 + 1 + 1 + 1 + 1 in float, one at a time, stays 2^24
 * (each +1 rounds away), while the double sum 2^24 + 4 is a float. */
START_TEST(index_add_f32_sums_in_double) {
    tg_tape *t = tg_tape_new();
    tg_tensor *x = tg_from_data(t, TG_F32, TG_SHAPE(5), (const float[]){16777216.0f, 1, 1, 1, 1});
    tg_tensor *y = tg_index_add(t, x, 0, 1, 5, (const int64_t[]){0, 0, 0, 0, 0});
    ck_assert_ptr_nonnull(y);
    ck_assert_double_eq(tg_tensor_get(y, 0), 16777220.0);
    tg_tape_free(t);
}
END_TEST

/* Repeated indices accumulate in index_select's gradient, and the caller's array may change
 * after the call: the op keeps its own copy. */
START_TEST(index_select_gradient_by_hand) {
    tg_tape *t = tg_tape_new();
    tg_tensor *x = f64(t, TG_SHAPE(3), (const double[]){10, 20, 30});
    tg_tensor_set_requires_grad(x, true);
    int64_t idx[4] = {2, 0, 2, 2};
    tg_tensor *y = tg_index_select(t, x, 0, 4, idx);
    idx[0] = idx[1] = idx[2] = idx[3] = 1;
    EXPECT(y, TG_SHAPE(4), 30, 10, 30, 30);
    tg_tensor *w = f64(t, TG_SHAPE(4), (const double[]){1, 2, 3, 4});
    ck_assert_int_eq(tg_tape_backward(t, tg_sum_all(t, tg_mul(t, y, w)), NULL, 0), TG_OK);
    EXPECT(tg_tensor_grad(x), TG_SHAPE(3), 2, 0, 8);
    tg_tape_free(t);
}
END_TEST

/* An allocator that fails once `left` more allocations have succeeded (left < 0: never). */
typedef struct failing_alloc {
    long left;
} failing_alloc;

static void *failing_malloc(size_t size, void *user) {
    failing_alloc *f = user;
    if (f->left == 0) return NULL;
    if (f->left > 0) f->left--;
    return malloc(size);
}

static void plain_free(void *ptr, void *user) {
    (void)user;
    free(ptr);
}

/* A recorded index_select keeps its own copy of the indices in the tape's arena, saved on the
 * node rather than as a fake input. Whichever allocation of the call fails (the result, the
 * node, or that copy: 1.6 MB, more than an arena chunk, so it needs one of its own), the call
 * returns NULL with TG_ERR_NOMEM naming the op; with memory enough it works. */
START_TEST(index_select_out_of_memory) {
    enum { N = 200000 };
    int64_t *idx = calloc(N, sizeof *idx);
    ck_assert_ptr_nonnull(idx);
    failing_alloc f = {-1};
    tg_set_allocator(&(tg_allocator){failing_malloc, plain_free, &f});
    bool saw_save = false, worked = false;
    for (long k = 0; k < 8 && !worked; k++) {
        f.left = -1;
        tg_tape *t = tg_tape_new();
        tg_tensor *x = tg_ones(t, TG_F64, TG_SHAPE(1, 1));
        ck_assert_int_eq(tg_tensor_set_requires_grad(x, true), TG_OK);
        f.left = k;
        tg_tensor *y = tg_index_select(t, x, 0, N, idx);
        f.left = -1;
        if (y) {
            worked = true;
            ck_assert_int_eq(tg_tape_backward(t, tg_sum_all(t, y), NULL, 0), TG_OK);
            ck_assert_double_eq(tg_tensor_get(tg_tensor_grad(x), 0), (double)N);
        } else {
            const char *e = tg_tape_error(t);
            ck_assert_int_eq(tg_tape_status(t), TG_ERR_NOMEM);
            ck_assert_msg(strstr(e, "out of memory"), "allocation %ld: %s", k, e);
            saw_save |= strncmp(e, "index_select: out of memory saving", 34) == 0;
        }
        tg_tape_free(t);
    }
    tg_set_allocator(NULL);
    free(idx);
    ck_assert_msg(saw_save, "no failing allocation was the saved copy of the indices");
    ck_assert_msg(worked, "index_select never succeeded");
}
END_TEST

START_TEST(embedding_values_and_gradient) {
    tg_store *s = tg_store_new();
    tg_tape *t = tg_tape_new();
    tg_tensor *w = tg_store_param(s, "emb", TG_F64, TG_SHAPE(3, 2));
    tg_tensor_copy_in(w, TG_F64, (const double[]){0, 1, 10, 11, 20, 21});
    const int64_t ids[4] = {2, 0, 1, 2};
    tg_tensor *e = tg_embedding(t, w, TG_SHAPE(2, 2), ids);
    EXPECT(e, TG_SHAPE(2, 2, 2), 20, 21, 0, 1, 10, 11, 20, 21);
    ck_assert_int_eq(tg_tape_backward(t, tg_sum_all(t, e), NULL, 0), TG_OK);
    /* Row r's gradient counts how often r was looked up. */
    EXPECT(tg_tensor_grad(w), TG_SHAPE(3, 2), 1, 1, 1, 1, 2, 2);
    /* One id, 0-dimensional: a single row (D,). */
    EXPECT(tg_embedding(t, w, TG_SCALAR_SHAPE, (const int64_t[]){1}), TG_SHAPE(2), 10, 11);
    ck_assert_int_eq(tg_tape_status(t), TG_OK);
    tg_tape_free(t);
    tg_store_free(s);
}
END_TEST

START_TEST(one_hot_values) {
    tg_tape *t = tg_tape_new();
    tg_tensor *y = tg_one_hot(t, TG_F32, 3, (const int64_t[]){2, 0, 2}, 3);
    ck_assert_int_eq(tg_tensor_dtype(y), TG_F32);
    EXPECT(y, TG_SHAPE(3, 3), 0, 0, 1, 1, 0, 0, 0, 0, 1);
    ck_assert(!tg_tensor_requires_grad(y));
    ck_assert_int_eq(tg_tape_n_nodes(t), 0);
    EXPECT(tg_one_hot(t, TG_F64, 1, (const int64_t[]){0}, 1), TG_SHAPE(1, 1), 1);
    tg_tensor *none = tg_one_hot(t, TG_F64, 0, NULL, 4);
    ck_assert_ptr_nonnull(none);
    ck_assert_int_eq(tg_tensor_dim(none, 1), 4);
    ck_assert_int_eq(tg_tape_status(t), TG_OK);
    tg_tape_free(t);
}
END_TEST

START_TEST(index_errors) {
    tg_tape *t = tg_tape_new();
    tg_tensor *x = tg_zeros(t, TG_F64, TG_SHAPE(3, 2));
    const int64_t ok[2] = {0, 1};
    expect_error(t, tg_index_select(t, x, 0, 3, (const int64_t[]){0, 3, 1}), TG_ERR_ARG,
                 "index_select", "index 3 at position 1");
    expect_error(t, tg_index_select(t, x, 0, 2, (const int64_t[]){-1, 0}), TG_ERR_ARG,
                 "index_select", "position 0");
    expect_error(t, tg_index_select(t, x, 1, 2, (const int64_t[]){0, 2}), TG_ERR_ARG,
                 "index_select", "axis 1");
    expect_error(t, tg_index_select(t, x, 0, 2, NULL), TG_ERR_NULL, "index_select", NULL);
    expect_error(t, tg_index_select(t, x, 0, -1, ok), TG_ERR_ARG, "index_select", NULL);
    expect_error(t, tg_index_select(t, x, 2, 2, ok), TG_ERR_AXIS, "index_select", NULL);
    expect_error(t, tg_index_select(t, NULL, 0, 2, ok), TG_ERR_NULL, "index_select", NULL);

    expect_error(t, tg_index_add(t, x, 0, 4, 2, ok), TG_ERR_SHAPE, "index_add", "(3, 2)");
    expect_error(t, tg_index_add(t, x, 0, 2, 3, (const int64_t[]){0, 1, 2}), TG_ERR_ARG,
                 "index_add", "position 2");
    expect_error(t, tg_index_add(t, x, 0, -1, 3, (const int64_t[]){0, 0, 0}), TG_ERR_ARG,
                 "index_add", "negative");
    expect_error(t, tg_index_add(t, x, 1, 3, 2, NULL), TG_ERR_NULL, "index_add", NULL);
    expect_error(t, tg_index_add(t, x, -3, 3, 2, ok), TG_ERR_AXIS, "index_add", NULL);

    tg_tensor *w = tg_zeros(t, TG_F64, TG_SHAPE(4, 2));
    expect_error(t, tg_embedding(t, w, TG_SHAPE(2), (const int64_t[]){1, 4}), TG_ERR_ARG,
                 "embedding", "position 1");
    expect_error(t, tg_embedding(t, w, TG_SHAPE(2), NULL), TG_ERR_NULL, "embedding", NULL);
    expect_error(t, tg_embedding(t, tg_zeros(t, TG_F64, TG_SHAPE(4)), TG_SHAPE(1), ok),
                 TG_ERR_SHAPE, "embedding", "(V, D)");
    expect_error(t, tg_embedding(t, w, TG_SHAPE(1, 1, 1, 1, 1, 1, 1, 1), ok), TG_ERR_SHAPE,
                 "embedding", NULL);
    expect_error(t, tg_embedding(t, w, TG_SHAPE(-1), ok), TG_ERR_SHAPE, "embedding", NULL);

    expect_error(t, tg_one_hot(t, TG_F64, 3, (const int64_t[]){0, 1, 3}, 3), TG_ERR_ARG, "one_hot",
                 "label 3 at position 2");
    expect_error(t, tg_one_hot(t, TG_F64, 1, (const int64_t[]){-1}, 3), TG_ERR_ARG, "one_hot",
                 NULL);
    expect_error(t, tg_one_hot(t, TG_F64, 2, ok, 0), TG_ERR_ARG, "one_hot", "n_classes");
    expect_error(t, tg_one_hot(t, TG_F64, 2, NULL, 3), TG_ERR_NULL, "one_hot", NULL);
    expect_error(t, tg_one_hot(t, TG_F64, -2, ok, 3), TG_ERR_ARG, "one_hot", NULL);
    expect_error(t, tg_one_hot(t, (tg_dtype)7, 2, ok, 3), TG_ERR_DTYPE, "one_hot", NULL);
    tg_tape_free(t);
}
END_TEST

/* ---- linear ---- */

START_TEST(linear_values) {
    tg_tape *t = tg_tape_new();
    tg_tensor *x = f64(t, TG_SHAPE(2, 3), (const double[]){1, 2, 3, 4, 5, 6});
    tg_tensor *w = f64(t, TG_SHAPE(2, 3), (const double[]){1, 0, -1, 2, 1, 0});
    tg_tensor *b = f64(t, TG_SHAPE(2), (const double[]){10, 20});
    EXPECT(tg_linear(t, x, w, b), TG_SHAPE(2, 2), 8, 24, 8, 33);
    EXPECT(tg_linear(t, x, w, NULL), TG_SHAPE(2, 2), -2, 4, -2, 13);
    tg_tensor *v = f64(t, TG_SHAPE(3), (const double[]){1, 2, 3});
    EXPECT(tg_linear(t, v, w, b), TG_SHAPE(2), 8, 24);
    /* Leading batch dimensions are kept. */
    tg_tensor *xb = tg_reshape(t, x, TG_SHAPE(2, 1, 3));
    EXPECT(tg_linear(t, xb, w, b), TG_SHAPE(2, 1, 2), 8, 24, 8, 33);
    ck_assert_int_eq(tg_tape_status(t), TG_OK);
    tg_tape_free(t);
}
END_TEST

/* dL/dW = sum over rows of g^T x and dL/db = sum of g, with g = 1 everywhere. */
START_TEST(linear_gradient_by_hand) {
    tg_tape *t = tg_tape_new();
    tg_tensor *x = f64(t, TG_SHAPE(2, 3), (const double[]){1, 2, 3, 4, 5, 6});
    tg_tensor *w = f64(t, TG_SHAPE(2, 3), (const double[]){1, 0, -1, 2, 1, 0});
    tg_tensor *b = f64(t, TG_SHAPE(2), (const double[]){10, 20});
    tg_tensor_set_requires_grad(x, true);
    tg_tensor_set_requires_grad(w, true);
    tg_tensor_set_requires_grad(b, true);
    ck_assert_int_eq(tg_tape_backward(t, tg_sum_all(t, tg_linear(t, x, w, b)), NULL, 0), TG_OK);
    EXPECT(tg_tensor_grad(w), TG_SHAPE(2, 3), 5, 7, 9, 5, 7, 9);
    EXPECT(tg_tensor_grad(b), TG_SHAPE(2), 2, 2);
    EXPECT(tg_tensor_grad(x), TG_SHAPE(2, 3), 3, 1, -1, 3, 1, -1);
    tg_tape_free(t);
}
END_TEST

/* A batch of 16 to 64 rows through a layer with more outputs than rows is computed as the
 * product's transpose and then put the right way round with the bias (linear.c,
 * product_transposed): shapes that go that way (row and column counts that are not multiples
 * of its 16 x 16 blocks, a folded batch dimension) and one that does not (80 rows), against
 * exact sums, in f64 and f32, with and without a bias. */
START_TEST(linear_wide_layer_small_batch) {
    static const int64_t cases[][3] = {{20, 100, 40}, {64, 200, 150}, {16, 64, 33}, {80, 120, 100}};
    for (int dk = 0; dk < 2; dk++) {
        tg_dtype dt = dk ? TG_F32 : TG_F64;
        double tol = dk ? 1e-5 : 1e-13;
        for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
            int64_t rows = cases[c][0], in = cases[c][1], out = cases[c][2];
            tg_tape *t = tg_tape_new();
            double *xv = malloc((size_t)(rows * in) * sizeof *xv);
            double *wv = malloc((size_t)(out * in) * sizeof *wv);
            double bv[150];
            ck_assert_ptr_nonnull(xv);
            ck_assert_ptr_nonnull(wv);
            /* Values an f32 holds exactly (multiples of 1/8 or 1/4), so both dtypes get them. */
            for (int64_t i = 0; i < rows * in; i++) xv[i] = (double)((i * 37) % 23) / 8.0 - 1.0;
            for (int64_t i = 0; i < out * in; i++) wv[i] = (double)((i * 29) % 19) / 4.0 - 2.0;
            for (int64_t j = 0; j < out; j++) bv[j] = (double)(j % 7) - 3.5;
            tg_tensor *x = tg_cast(t, f64(t, TG_SHAPE(2, rows / 2, in), xv), dt);
            tg_tensor *w = tg_cast(t, f64(t, TG_SHAPE(out, in), wv), dt);
            tg_tensor *b = tg_cast(t, f64(t, TG_SHAPE(out), bv), dt);
            for (int with_bias = 0; with_bias < 2; with_bias++) {
                tg_tensor *y = tg_linear(t, x, w, with_bias ? b : NULL);
                ck_assert_ptr_nonnull(y);
                ck_assert_int_eq(tg_tensor_ndim(y), 3);
                ck_assert_int_eq(tg_tensor_dim(y, 2), out);
                for (int64_t i = 0; i < rows; i++)
                    for (int64_t j = 0; j < out; j++) {
                        double sum = with_bias ? bv[j] : 0; /* exact: multiples of 1/32 */
                        double mag = with_bias ? fabs(bv[j]) : 0;
                        for (int64_t k = 0; k < in; k++) {
                            double p = xv[i * in + k] * wv[j * in + k]; /* exact */
                            sum += p;
                            mag += fabs(p);
                        }
                        double got = tg_tensor_get(y, i * out + j);
                        ck_assert_msg(fabs(got - sum) <= tol * (mag + 1),
                                      "%lldx%lldx%lld row %lld col %lld: %g, want %g",
                                      (long long)rows, (long long)in, (long long)out,
                                      (long long)i, (long long)j, got, sum);
                    }
            }
            free(xv);
            free(wv);
            tg_tape_free(t);
        }
    }
}
END_TEST

START_TEST(linear_errors) {
    tg_tape *t = tg_tape_new();
    tg_tensor *x = tg_zeros(t, TG_F64, TG_SHAPE(4, 3));
    tg_tensor *w = tg_zeros(t, TG_F64, TG_SHAPE(2, 3));
    tg_tensor *b = tg_zeros(t, TG_F64, TG_SHAPE(2));
    expect_error(t, tg_linear(t, tg_zeros(t, TG_F64, TG_SHAPE(4, 2)), w, b), TG_ERR_SHAPE, "linear",
                 "input features");
    expect_error(t, tg_linear(t, x, tg_zeros(t, TG_F64, TG_SHAPE(1, 2, 3)), b), TG_ERR_SHAPE,
                 "linear", "(out, in)");
    expect_error(t, tg_linear(t, x, w, tg_zeros(t, TG_F64, TG_SHAPE(3))), TG_ERR_SHAPE, "linear",
                 "bias");
    expect_error(t, tg_linear(t, x, w, tg_zeros(t, TG_F64, TG_SHAPE(1, 2))), TG_ERR_SHAPE, "linear",
                 "bias");
    expect_error(t, tg_linear(t, tg_scalar(t, TG_F64, 1), w, b), TG_ERR_SHAPE, "linear", NULL);
    expect_error(t, tg_linear(t, x, tg_zeros(t, TG_F32, TG_SHAPE(2, 3)), b), TG_ERR_DTYPE, "linear",
                 NULL);
    expect_error(t, tg_linear(t, x, NULL, b), TG_ERR_NULL, "linear", NULL);
    tg_tape_free(t);
}
END_TEST

/* ---- shared behaviour ---- */

/* An op given NULL (an earlier failure) returns NULL and keeps the first error as it was. */
START_TEST(null_input_keeps_first_error) {
    tg_tape *t = tg_tape_new();
    tg_tensor *x = tg_zeros(t, TG_F64, TG_SHAPE(2, 2));
    tg_tensor *bad = tg_index_select(t, x, 0, 1, (const int64_t[]){5});
    ck_assert_ptr_null(bad);
    char first[512];
    snprintf(first, sizeof first, "%s", tg_tape_error(t));
    ck_assert_ptr_null(tg_concat(t, 2, (tg_tensor *[]){x, bad}, 0));
    ck_assert_ptr_null(tg_stack(t, 2, (tg_tensor *[]){bad, x}, 0));
    ck_assert_ptr_null(tg_pad(t, bad, 4, (const int64_t[]){0, 0, 0, 0}, 0.0));
    ck_assert_ptr_null(tg_index_add(t, bad, 0, 2, 2, (const int64_t[]){0, 0}));
    ck_assert_ptr_null(tg_embedding(t, bad, TG_SHAPE(1), (const int64_t[]){0}));
    ck_assert_ptr_null(tg_linear(t, bad, x, NULL));
    ck_assert_int_eq(tg_tape_status(t), TG_ERR_ARG);
    ck_assert_str_eq(tg_tape_error(t), first);
    tg_tape_free(t);
}
END_TEST

/* With recording off, or no input requiring a gradient, the ops compute and record nothing. */
START_TEST(no_nodes_without_gradients) {
    tg_tape *t = tg_tape_new();
    tg_tensor *x = f64(t, TG_SHAPE(2, 2), (const double[]){1, 2, 3, 4});
    tg_tensor *w = f64(t, TG_SHAPE(2, 2), (const double[]){1, 0, 0, 1});
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1) {
            tg_tensor_set_requires_grad(x, true);
            tg_tensor_set_requires_grad(w, true);
            tg_tape_set_grad_enabled(t, false);
        }
        tg_tensor *y[6] = {
            tg_concat(t, 2, (tg_tensor *[]){x, x}, 0),
            tg_stack(t, 2, (tg_tensor *[]){x, x}, 1),
            tg_pad(t, x, 4, (const int64_t[]){1, 1, 1, 1}, 0.0),
            tg_index_select(t, x, 1, 1, (const int64_t[]){1}),
            tg_index_add(t, x, 0, 3, 2, (const int64_t[]){2, 2}),
            tg_linear(t, x, w, NULL),
        };
        for (int i = 0; i < 6; i++) {
            ck_assert_ptr_nonnull(y[i]);
            ck_assert(!tg_tensor_requires_grad(y[i]));
        }
        EXPECT(y[5], TG_SHAPE(2, 2), 1, 2, 3, 4);
        ck_assert_int_eq(tg_tape_n_nodes(t), 0);
    }
    tg_tape_free(t);
}
END_TEST

static Suite *shape_ops_suite(void) {
    Suite *s = suite_create("shape_ops");
    TCase *tc = tcase_create("concat");
    tcase_add_test(tc, concat_values);
    tcase_add_test(tc, stack_values);
    tcase_add_test(tc, concat_many_inputs_gradients);
    tcase_add_test(tc, concat_same_leaf_twice);
    tcase_add_test(tc, concat_stack_errors);
    suite_add_tcase(s, tc);
    tc = tcase_create("pad");
    tcase_add_test(tc, pad_values);
    tcase_add_test(tc, pad_gradient_by_hand);
    tcase_add_test(tc, pad_errors);
    suite_add_tcase(s, tc);
    tc = tcase_create("upsample");
    tcase_add_test(tc, upsample_values_and_gradient);
    tcase_add_test(tc, upsample_errors);
    suite_add_tcase(s, tc);
    tc = tcase_create("index");
    tcase_add_test(tc, index_select_values);
    tcase_add_test(tc, index_add_values);
    tcase_add_test(tc, index_add_f32_sums_in_double);
    tcase_add_test(tc, index_select_gradient_by_hand);
    tcase_add_test(tc, index_select_out_of_memory);
    tcase_add_test(tc, embedding_values_and_gradient);
    tcase_add_test(tc, one_hot_values);
    tcase_add_test(tc, index_errors);
    suite_add_tcase(s, tc);
    tc = tcase_create("linear");
    tcase_add_test(tc, linear_values);
    tcase_add_test(tc, linear_gradient_by_hand);
    tcase_add_test(tc, linear_errors);
    tcase_add_test(tc, linear_wide_layer_small_batch);
    suite_add_tcase(s, tc);
    tc = tcase_create("shared");
    tcase_add_test(tc, null_input_keeps_first_error);
    tcase_add_test(tc, no_nodes_without_gradients);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tg_test_run(shape_ops_suite()); }
