/* test_basic_ops.c: cast, detach, squeeze, unsqueeze, select, split and chunk beyond their
 * gradient proofs (those are cases in op_cases_basic.c): values and layouts worked out by hand
 * (the views must share memory, not copy), what detach leaves on the tape, a GRU cell written
 * from primitives with chunk against the nn layer, and every kind of bad input, which must give
 * a NULL result (or a status) and an error naming the op and the calling line. */
#include <string.h>

#include "test_util.h"

static tg_tensor *f64(tg_tape *t, int ndim, const int64_t *shape, const double *v) {
    return tg_from_data(t, TG_F64, ndim, shape, v);
}

static void expect(const tg_tensor *x, int ndim, const int64_t *shape, const double *want) {
    ck_assert_ptr_nonnull(x);
    ck_assert_int_eq(tg_tensor_ndim(x), ndim);
    for (int d = 0; d < ndim; d++) ck_assert_int_eq(tg_tensor_dim(x, d), shape[d]);
    int64_t n = tg_tensor_numel(x);
    double got[64];
    ck_assert_int_le(n, 64);
    ck_assert_int_eq(tg_tensor_copy_out(x, TG_F64, got), TG_OK);
    for (int64_t i = 0; i < n; i++)
        ck_assert_msg(got[i] == want[i], "element %lld: got %.17g, want %.17g", (long long)i,
                      got[i], want[i]);
}

#define EXPECT(x, shape_list, ...) expect(x, shape_list, (const double[]){__VA_ARGS__})

/* Asserts that the tape holds status s with a message starting "op:", containing `detail` and
 * naming this file as the call site; then clears the error. */
static void expect_error_status(tg_tape *t, tg_status s, const char *op, const char *detail) {
    const char *e = tg_tape_error(t);
    ck_assert_msg(tg_tape_status(t) == s, "%s: status %s, want %s (%s)", op,
                  tg_status_string(tg_tape_status(t)), tg_status_string(s), e);
    ck_assert_msg(strncmp(e, op, strlen(op)) == 0 && e[strlen(op)] == ':',
                  "message does not start with '%s:': %s", op, e);
    if (detail) ck_assert_msg(strstr(e, detail), "message lacks '%s': %s", detail, e);
    ck_assert_msg(strstr(e, "test_basic_ops.c:"), "message names no call site: %s", e);
    tg_tape_clear_error(t);
}

static void expect_error(tg_tape *t, const tg_tensor *y, tg_status s, const char *op,
                         const char *detail) {
    ck_assert_msg(y == NULL, "expected NULL from %s", op);
    expect_error_status(t, s, op, detail);
}

static const char *byte_at(const tg_tensor *x, int64_t elements) {
    return (const char *)tg_tensor_data(x) + elements * (int64_t)sizeof(double);
}

/* ---- squeeze, unsqueeze, select ---- */

START_TEST(squeeze_unsqueeze_values_and_views) {
    tg_tape *t = tg_tape_new();
    tg_tensor *x = f64(t, TG_SHAPE(2, 1, 3), (const double[]){1, 2, 3, 4, 5, 6});
    tg_tensor *y = tg_squeeze(t, x, 1);
    EXPECT(y, TG_SHAPE(2, 3), 1, 2, 3, 4, 5, 6);
    ck_assert_ptr_eq(tg_tensor_data(y), tg_tensor_data(x));
    EXPECT(tg_squeeze(t, x, -2), TG_SHAPE(2, 3), 1, 2, 3, 4, 5, 6);
    /* squeeze of a transposed (non-contiguous) tensor is still a view */
    tg_tensor *xt = tg_transpose(t, tg_squeeze(t, x, 1), 0, 1); /* (3, 2) */
    tg_tensor *u = tg_unsqueeze(t, xt, 1);                       /* (3, 1, 2) */
    EXPECT(u, TG_SHAPE(3, 1, 2), 1, 4, 2, 5, 3, 6);
    ck_assert_ptr_eq(tg_tensor_data(u), tg_tensor_data(x));
    EXPECT(tg_squeeze(t, u, 1), TG_SHAPE(3, 2), 1, 4, 2, 5, 3, 6);
    EXPECT(tg_unsqueeze(t, xt, -1), TG_SHAPE(3, 2, 1), 1, 4, 2, 5, 3, 6);
    EXPECT(tg_unsqueeze(t, xt, 0), TG_SHAPE(1, 3, 2), 1, 4, 2, 5, 3, 6);
    EXPECT(tg_unsqueeze(t, xt, -3), TG_SHAPE(1, 3, 2), 1, 4, 2, 5, 3, 6);
    /* a contiguous x stays contiguous after unsqueeze, wherever the axis goes */
    tg_tensor *c = tg_squeeze(t, x, 1);
    for (int a = -3; a <= 2; a++) ck_assert(tg_tensor_is_contiguous(tg_unsqueeze(t, c, a)));
    /* squeeze_all drops every size-1 axis, down to 0-d */
    tg_tensor *o = f64(t, TG_SHAPE(1, 1), (const double[]){7});
    expect(tg_squeeze_all(t, o), 0, NULL, (const double[]){7});
    EXPECT(tg_squeeze_all(t, x), TG_SHAPE(2, 3), 1, 2, 3, 4, 5, 6);
    EXPECT(tg_unsqueeze(t, tg_squeeze_all(t, o), 0), TG_SHAPE(1), 7);
    ck_assert_int_eq(tg_tape_status(t), TG_OK);
    tg_tape_free(t);
}
END_TEST

START_TEST(select_values_and_views) {
    tg_tape *t = tg_tape_new();
    tg_tensor *x = f64(t, TG_SHAPE(3, 4), (const double[]){0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11});
    tg_tensor *r = tg_select(t, x, 0, 1);
    EXPECT(r, TG_SHAPE(4), 4, 5, 6, 7);
    ck_assert_ptr_eq(tg_tensor_data(r), byte_at(x, 4));
    EXPECT(tg_select(t, x, 0, -1), TG_SHAPE(4), 8, 9, 10, 11);
    tg_tensor *col = tg_select(t, x, -1, 2);
    EXPECT(col, TG_SHAPE(3), 2, 6, 10);
    ck_assert_int_eq(tg_tensor_stride(col, 0), 4);
    ck_assert_ptr_eq(tg_tensor_data(col), byte_at(x, 2));
    expect(tg_select(t, tg_select(t, x, 1, -4), 0, 2), 0, NULL, (const double[]){8});
    /* f32 */
    tg_tensor *xf = tg_from_data(t, TG_F32, TG_SHAPE(2, 2), (const float[]){1.5f, 2.5f, 3.5f, 4.5f});
    tg_tensor *yf = tg_select(t, xf, 1, 1);
    ck_assert_int_eq(tg_tensor_dtype(yf), TG_F32);
    EXPECT(yf, TG_SHAPE(2), 2.5, 4.5);
    /* the gradient lands at the selected row only */
    tg_tensor_set_requires_grad(x, true);
    tg_tensor *loss = tg_sum_all(t, tg_mul_scalar(t, tg_select(t, x, 0, 2), 3.0));
    ck_assert_int_eq(tg_tape_backward(t, loss, NULL, 0), TG_OK);
    EXPECT(tg_tensor_grad(x), TG_SHAPE(3, 4), 0, 0, 0, 0, 0, 0, 0, 0, 3, 3, 3, 3);
    tg_tape_free(t);
}
END_TEST

START_TEST(axis_views_bad_input) {
    tg_tape *t = tg_tape_new();
    tg_tensor *x = f64(t, TG_SHAPE(2, 1, 3), (const double[]){1, 2, 3, 4, 5, 6});
    expect_error(t, tg_squeeze(t, x, 0), TG_ERR_SHAPE, "squeeze", "size 2, not 1");
    expect_error(t, tg_squeeze(t, x, 3), TG_ERR_AXIS, "squeeze", "(2, 1, 3)");
    expect_error(t, tg_squeeze(t, x, -4), TG_ERR_AXIS, "squeeze", NULL);
    expect_error(t, tg_unsqueeze(t, x, 4), TG_ERR_AXIS, "unsqueeze", "-4 to 3");
    expect_error(t, tg_unsqueeze(t, x, -5), TG_ERR_AXIS, "unsqueeze", NULL);
    tg_tensor *big = tg_zeros(t, TG_F64, TG_SHAPE(1, 1, 1, 1, 1, 1, 1, 1));
    expect_error(t, tg_unsqueeze(t, big, 0), TG_ERR_SHAPE, "unsqueeze", "most dimensions");
    expect_error(t, tg_select(t, x, 2, 3), TG_ERR_ARG, "select", "index 3 is out of range");
    expect_error(t, tg_select(t, x, 0, -3), TG_ERR_ARG, "select", "index -3");
    expect_error(t, tg_select(t, x, 5, 0), TG_ERR_AXIS, "select", NULL);
    tg_tensor *s = tg_scalar(t, TG_F64, 1.0);
    expect_error(t, tg_select(t, s, 0, 0), TG_ERR_AXIS, "select", NULL);
    expect_error(t, tg_squeeze(t, s, 0), TG_ERR_AXIS, "squeeze", NULL);
    /* NULL inputs: NULL out, the first error kept */
    ck_assert_ptr_null(tg_squeeze(t, x, 0));
    ck_assert_ptr_null(tg_unsqueeze(t, tg_squeeze(t, NULL, 0), 0));
    ck_assert_ptr_null(tg_select(t, NULL, 0, 0));
    ck_assert_ptr_null(tg_squeeze_all(t, NULL));
    expect_error_status(t, TG_ERR_SHAPE, "squeeze", "size 2, not 1");
    ck_assert_ptr_null(tg_squeeze(NULL, x, 1));
    /* stale inputs */
    tg_tape_reset(t);
    expect_error(t, tg_squeeze(t, x, 1), TG_ERR_STALE, "squeeze", "stale");
    expect_error(t, tg_unsqueeze(t, x, 0), TG_ERR_STALE, "unsqueeze", "stale");
    expect_error(t, tg_select(t, x, 0, 0), TG_ERR_STALE, "select", "stale");
    expect_error(t, tg_squeeze_all(t, x), TG_ERR_STALE, "squeeze", "stale");
    tg_tape_free(t);
}
END_TEST

/* ---- split, chunk ---- */

START_TEST(split_chunk_values_views_and_gradient) {
    tg_tape *t = tg_tape_new();
    tg_tensor *x = f64(t, TG_SHAPE(2, 6), (const double[]){0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11});
    tg_tensor *p[3];
    ck_assert_int_eq(tg_chunk(t, x, -1, 3, p), TG_OK);
    EXPECT(p[0], TG_SHAPE(2, 2), 0, 1, 6, 7);
    EXPECT(p[1], TG_SHAPE(2, 2), 2, 3, 8, 9);
    EXPECT(p[2], TG_SHAPE(2, 2), 4, 5, 10, 11);
    for (int k = 0; k < 3; k++) ck_assert_ptr_eq(tg_tensor_data(p[k]), byte_at(x, 2 * k));
    ck_assert_int_eq(tg_split(t, x, 1, (const int64_t[]){1, 0, 5}, 3, p), TG_OK);
    EXPECT(p[0], TG_SHAPE(2, 1), 0, 6);
    ck_assert_int_eq(tg_tensor_dim(p[1], 1), 0);
    EXPECT(p[2], TG_SHAPE(2, 5), 1, 2, 3, 4, 5, 7, 8, 9, 10, 11);
    ck_assert_int_eq(tg_chunk(t, x, 0, 2, p), TG_OK);
    EXPECT(p[1], TG_SHAPE(1, 6), 6, 7, 8, 9, 10, 11);
    ck_assert_int_eq(tg_chunk(t, x, 0, 1, p), TG_OK);
    ck_assert_ptr_eq(tg_tensor_data(p[0]), tg_tensor_data(x));
    /* each piece's gradient lands in its own columns */
    tg_tensor_set_requires_grad(x, true);
    ck_assert_int_eq(tg_chunk(t, x, 1, 3, p), TG_OK);
    tg_tensor *loss = tg_sum_all(t, tg_add(t, tg_mul_scalar(t, p[0], 1.0),
                                           tg_mul_scalar(t, p[2], -2.0)));
    ck_assert_int_eq(tg_tape_backward(t, loss, NULL, 0), TG_OK);
    EXPECT(tg_tensor_grad(x), TG_SHAPE(2, 6), 1, 1, 0, 0, -2, -2, 1, 1, 0, 0, -2, -2);
    tg_tape_free(t);
}
END_TEST

/* Cutting n pieces straight from x would embed each piece's gradient into zeros of x's full
 * size: at least n full-size tensors in backward. Halving embeds into each parent's size:
 * about 2 log2(n) full sizes (each level's embeddings and their sums) plus the pieces' own
 * gradients. Memory is deterministic, so the test counts the bytes the sweep takes from the
 * tape: for 64 rows (x 128 KiB) straight cutting needs over 64 times x's size; halving took
 * 20 times when this was written. */
START_TEST(chunk_backward_memory_grows_n_log_n) {
    enum { N = 64, COLS = 256 };
    tg_tape *t = tg_tape_new();
    tg_tensor *x = tg_zeros(t, TG_F64, TG_SHAPE(N, COLS));
    tg_tensor_set_requires_grad(x, true);
    tg_tensor *rows[N];
    ck_assert_int_eq(tg_chunk(t, x, 0, N, rows), TG_OK);
    tg_tensor *loss = NULL;
    for (int k = 0; k < N; k++) {
        tg_tensor *term = tg_sum_all(t, tg_mul_scalar(t, rows[k], (double)k));
        loss = loss ? tg_add(t, loss, term) : term;
    }
    size_t before = tg_tape_bytes_used(t);
    ck_assert_int_eq(tg_tape_backward(t, loss, NULL, 0), TG_OK);
    size_t used = tg_tape_bytes_used(t) - before, full = (size_t)N * COLS * sizeof(double);
    ck_assert_msg(used < 32 * full,
                  "backward took %zu bytes, %.1f times x's size", used, (double)used / full);
    /* and the gradient is right: row k gets k */
    for (int k = 0; k < N; k += 21) ck_assert(tg_tensor_get(tg_tensor_grad(x), k * COLS + 7) == k);
    tg_tape_free(t);
}
END_TEST

START_TEST(split_chunk_bad_input) {
    tg_tape *t = tg_tape_new();
    tg_tensor *x = f64(t, TG_SHAPE(2, 6), (const double[]){0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11});
    tg_tensor *p[4];
    ck_assert_int_eq(tg_chunk(t, x, 0, 2, p), TG_OK);
#define FAILS(call, status, op, detail)                                                        \
    do {                                                                                       \
        ck_assert_int_eq((call), (status));                                                    \
        for (int k = 0; k < 2; k++) ck_assert_ptr_null(p[k]);                                  \
        expect_error_status(t, status, op, detail);                                           \
        ck_assert_int_eq(tg_chunk(t, x, 0, 2, p), TG_OK);                                      \
    } while (0)
    FAILS(tg_chunk(t, x, 1, 4, p), TG_ERR_SHAPE, "chunk", "does not divide into 4");
    FAILS(tg_chunk(t, x, 2, 2, p), TG_ERR_AXIS, "chunk", NULL);
    FAILS(tg_split(t, x, 1, (const int64_t[]){2, 3}, 2, p), TG_ERR_SHAPE, "split",
          "add up to 5");
    FAILS(tg_split(t, x, 1, (const int64_t[]){-1, 7}, 2, p), TG_ERR_ARG, "split",
          "size 0 (-1)");
    FAILS(tg_split(t, x, 1, (const int64_t[]){INT64_MAX, INT64_MAX}, 2, p), TG_ERR_ARG,
          "split", "out of range");
    FAILS(tg_split(t, x, 1, NULL, 2, p), TG_ERR_NULL, "split", "sizes is NULL");
#undef FAILS
    /* with no valid count the array's length is unknown: it is left alone */
    ck_assert_int_eq(tg_chunk(t, x, 1, 0, p), TG_ERR_ARG);
    expect_error_status(t, TG_ERR_ARG, "chunk", "at least 1");
    ck_assert_int_eq(tg_split(t, x, 1, (const int64_t[]){6}, -1, p), TG_ERR_ARG);
    expect_error_status(t, TG_ERR_ARG, "split", "at least 1");
    ck_assert_int_eq(tg_chunk(t, x, 0, 2, NULL), TG_ERR_NULL);
    expect_error_status(t, TG_ERR_NULL, "chunk", "output array");
    /* a NULL x keeps the first error and returns its status */
    ck_assert_ptr_null(tg_squeeze(t, x, 0));
    ck_assert_int_eq(tg_chunk(t, NULL, 0, 2, p), TG_ERR_SHAPE);
    ck_assert_ptr_null(p[0]);
    expect_error_status(t, TG_ERR_SHAPE, "squeeze", NULL);
    tg_tape_reset(t);
    ck_assert_int_eq(tg_split(t, x, 0, (const int64_t[]){1, 1}, 2, p), TG_ERR_STALE);
    expect_error_status(t, TG_ERR_STALE, "split", "stale");
    ck_assert_int_eq(tg_chunk(NULL, x, 0, 2, p), TG_ERR_NULL);
    tg_tape_free(t);
}
END_TEST

/* ---- cast, detach ---- */

START_TEST(cast_values_and_gradient) {
    tg_tape *t = tg_tape_new();
    tg_tensor *x = f64(t, TG_SHAPE(4), (const double[]){0.1, -1e300, 1.0 / 3.0, 1e-50});
    tg_tensor *y = tg_cast(t, x, TG_F32);
    ck_assert_int_eq(tg_tensor_dtype(y), TG_F32);
    const float *yv = tg_tensor_data(y);
    ck_assert(yv[0] == (float)0.1 && yv[2] == (float)(1.0 / 3.0) && yv[3] == 0.0f);
    ck_assert(isinf(yv[1]) && yv[1] < 0);
    /* f32 -> f64 is exact, and to the same dtype is a view */
    tg_tensor *back = tg_cast(t, y, TG_F64);
    ck_assert_int_eq(tg_tensor_dtype(back), TG_F64);
    ck_assert(tg_tensor_get(back, 0) == (double)(float)0.1);
    ck_assert_ptr_eq(tg_tensor_data(tg_cast(t, x, TG_F64)), tg_tensor_data(x));
    ck_assert_ptr_eq(tg_tensor_data(tg_cast(t, tg_transpose(t, tg_reshape(t, x, TG_SHAPE(2, 2)),
                                                             0, 1), TG_F64)),
                     tg_tensor_data(x));
    /* a transposed f64 view converts through its strides */
    tg_tensor *m = f64(t, TG_SHAPE(2, 2), (const double[]){1, 2, 3, 4});
    EXPECT(tg_cast(t, tg_transpose(t, m, 0, 1), TG_F32), TG_SHAPE(2, 2), 1, 3, 2, 4);
    /* the gradient comes back in the input's dtype */
    tg_tensor *xf = tg_from_data(t, TG_F32, TG_SHAPE(2), (const float[]){1.5f, -2.0f});
    tg_tensor_set_requires_grad(xf, true);
    tg_tensor *l = tg_sum_all(t, tg_mul(t, tg_cast(t, xf, TG_F64), tg_cast(t, xf, TG_F64)));
    ck_assert_int_eq(tg_tensor_dtype(l), TG_F64);
    ck_assert_int_eq(tg_tape_backward(t, l, NULL, 0), TG_OK);
    ck_assert_int_eq(tg_tensor_dtype(tg_tensor_grad(xf)), TG_F32);
    EXPECT(tg_tensor_grad(xf), TG_SHAPE(2), 3.0, -4.0);
    /* mixing dtypes without a cast is still refused */
    expect_error(t, tg_add(t, xf, x), TG_ERR_DTYPE, "add", NULL);
    expect_error(t, tg_cast(t, x, (tg_dtype)7), TG_ERR_DTYPE, "cast", "neither");
    ck_assert_ptr_null(tg_cast(t, NULL, TG_F32));
    expect_error_status(t, TG_ERR_NULL, "cast", "input 0 is NULL");
    tg_tape_reset(t);
    expect_error(t, tg_cast(t, x, TG_F32), TG_ERR_STALE, "cast", "stale");
    tg_tape_free(t);
}
END_TEST

/* Second derivatives pass through cast: d2/dx2 of cast(x)^3 summed, x f32, is 6x. */
START_TEST(cast_second_order) {
    tg_tape *t = tg_tape_new();
    tg_tensor *x = tg_from_data(t, TG_F32, TG_SHAPE(2), (const float[]){0.5f, -2.0f});
    tg_tensor_set_requires_grad(x, true);
    tg_tensor *c = tg_cast(t, x, TG_F64);
    tg_tensor *l = tg_sum_all(t, tg_mul(t, c, tg_mul(t, c, c)));
    tg_tensor *g;
    ck_assert_int_eq(tg_tape_grad(t, l, NULL, 1, &x, &g, TG_CREATE_GRAPH), TG_OK);
    EXPECT(g, TG_SHAPE(2), 0.75, 12.0);
    tg_tensor *h;
    ck_assert_int_eq(tg_tape_grad(t, tg_sum_all(t, g), NULL, 1, &x, &h, 0), TG_OK);
    ck_assert_int_eq(tg_tensor_dtype(h), TG_F32);
    EXPECT(h, TG_SHAPE(2), 3.0, -12.0);
    tg_tape_free(t);
}
END_TEST

START_TEST(detach_blocks_and_shows) {
    tg_tape *t = tg_tape_new();
    tg_tensor *x = f64(t, TG_SHAPE(3), (const double[]){1, -2, 3});
    tg_tensor_set_requires_grad(x, true);
    tg_tensor *d = tg_detach(t, x);
    EXPECT(d, TG_SHAPE(3), 1, -2, 3);
    ck_assert_ptr_eq(tg_tensor_data(d), tg_tensor_data(x));
    ck_assert(!tg_tensor_requires_grad(d));
    int op = tg_op_registry_find("detach");
    ck_assert_int_ge(op, 0);
    ck_assert_int_eq(tg_op_registry_recorded(t, op), 1);
    /* d(x * detach(x))/dx = detach(x) = x, not 2x */
    tg_tensor *l = tg_sum_all(t, tg_mul(t, x, d));
    ck_assert_int_eq(tg_tape_backward(t, l, NULL, 0), TG_OK);
    EXPECT(tg_tensor_grad(x), TG_SHAPE(3), 1, -2, 3);
    /* nothing depending on x only through detach can be differentiated */
    ck_assert_int_eq(tg_tape_backward(t, tg_sum_all(t, d), NULL, 0), TG_ERR_NOGRAD);
    tg_tape_clear_error(t);
    /* an op's result cannot be made to require a gradient again */
    ck_assert_int_eq(tg_tensor_set_requires_grad(d, true), TG_ERR_ARG);
    ck_assert(!tg_tensor_requires_grad(d));
    /* with recording off: no node, same values */
    tg_tape_set_grad_enabled(t, false);
    EXPECT(tg_detach(t, x), TG_SHAPE(3), 1, -2, 3);
    ck_assert_int_eq(tg_op_registry_recorded(t, op), 1);
    tg_tape_set_grad_enabled(t, true);
    ck_assert_ptr_null(tg_detach(t, NULL));
    expect_error_status(t, TG_ERR_NULL, "detach", "input 0 is NULL");
    tg_tape_reset(t);
    expect_error(t, tg_detach(t, x), TG_ERR_STALE, "detach", "stale");
    tg_tape_free(t);
}
END_TEST

/* ---- a GRU cell from primitives with chunk, against the nn layer ---- */

/* h' = (1 - z) n + z h with r, z, n from chunks of the two input products (PyTorch's GRUCell). */
static tg_tensor *gru_from_primitives(tg_tape *t, const tg_gru_cell *c, tg_tensor *x,
                                      tg_tensor *h) {
    tg_tensor *gi[3], *gh[3];
    if (tg_chunk(t, tg_linear(t, x, c->weight_ih, c->bias_ih), -1, 3, gi) != TG_OK ||
        tg_chunk(t, tg_linear(t, h, c->weight_hh, c->bias_hh), -1, 3, gh) != TG_OK)
        return NULL;
    tg_tensor *r = tg_sigmoid(t, tg_add(t, gi[0], gh[0]));
    tg_tensor *z = tg_sigmoid(t, tg_add(t, gi[1], gh[1]));
    tg_tensor *n = tg_tanh(t, tg_add(t, gi[2], tg_mul(t, r, gh[2])));
    return tg_add(t, tg_mul(t, tg_rsub_scalar(t, z, 1.0), n), tg_mul(t, z, h));
}

START_TEST(gru_cell_from_chunk_matches_nn) {
    enum { B = 3, I = 4, H = 5, STEPS = 3 };
    tg_store *s = tg_store_new();
    tg_rng rng;
    tg_rng_seed(&rng, 14);
    tg_gru_cell cell;
    ck_assert_int_eq(tg_gru_cell_init(&cell, s, "gru", I, H, true, TG_F64, &rng, NULL), TG_OK);
    tg_tensor *params[4] = {cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh};
    tg_tape *t = tg_tape_new();
    tg_tensor *xs[STEPS];
    for (int k = 0; k < STEPS; k++) xs[k] = tg_normal(t, &rng, TG_F64, TG_SHAPE(B, I), 0.0, 1.0);
    tg_tensor *h0 = tg_normal(t, &rng, TG_F64, TG_SHAPE(B, H), 0.0, 1.0);
    /* three steps each way, then the gradients of sum(h_3^2) in every parameter and in h0 */
    tg_tensor *ha = h0, *hb = h0;
    for (int k = 0; k < STEPS; k++) {
        ha = gru_from_primitives(t, &cell, xs[k], ha);
        hb = tg_gru_cell_step(t, &cell, xs[k], hb);
    }
    ck_assert_ptr_nonnull(ha);
    ck_assert_ptr_nonnull(hb);
    double va[B * H], vb[B * H];
    tg_tensor_copy_out(ha, TG_F64, va);
    tg_tensor_copy_out(hb, TG_F64, vb);
    ck_assert_double_le(tg_test_max_diff(va, vb, B * H), 1e-14);
    tg_tensor_set_requires_grad(h0, true);
    tg_tensor *wrt[5] = {params[0], params[1], params[2], params[3], h0};
    tg_tensor *ga[5], *gb[5];
    ha = hb = h0;
    for (int k = 0; k < STEPS; k++) {
        ha = gru_from_primitives(t, &cell, xs[k], ha);
        hb = tg_gru_cell_step(t, &cell, xs[k], hb);
    }
    ck_assert_int_eq(tg_tape_grad(t, tg_sum_all(t, tg_mul(t, ha, ha)), NULL, 5, wrt, ga, 0), TG_OK);
    ck_assert_int_eq(tg_tape_grad(t, tg_sum_all(t, tg_mul(t, hb, hb)), NULL, 5, wrt, gb, 0), TG_OK);
    for (int k = 0; k < 5; k++) {
        int64_t n = tg_tensor_numel(ga[k]);
        double a[3 * H * H], b[3 * H * H];
        ck_assert_int_le(n, 3 * H * H);
        tg_tensor_copy_out(ga[k], TG_F64, a);
        tg_tensor_copy_out(gb[k], TG_F64, b);
        double norm = 0;
        for (int64_t i = 0; i < n; i++) norm += fabs(b[i]);
        ck_assert_msg(norm > 1e-3, "gradient %d is zero: the comparison would prove nothing", k);
        ck_assert_msg(tg_test_max_diff(a, b, n) <= 1e-13, "gradient %d differs by %g", k,
                      tg_test_max_diff(a, b, n));
    }
    tg_tape_free(t);
    tg_store_free(s);
}
END_TEST

static Suite *basic_ops_suite(void) {
    Suite *s = suite_create("basic_ops");
    TCase *tc = tcase_create("views");
    tcase_add_test(tc, squeeze_unsqueeze_values_and_views);
    tcase_add_test(tc, select_values_and_views);
    tcase_add_test(tc, axis_views_bad_input);
    tcase_add_test(tc, split_chunk_values_views_and_gradient);
    tcase_add_test(tc, split_chunk_bad_input);
    tcase_add_test(tc, chunk_backward_memory_grows_n_log_n);
    suite_add_tcase(s, tc);
    tc = tcase_create("dtype_and_flow");
    tcase_add_test(tc, cast_values_and_gradient);
    tcase_add_test(tc, cast_second_order);
    tcase_add_test(tc, detach_blocks_and_shows);
    tcase_add_test(tc, gru_cell_from_chunk_matches_nn);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tg_test_run(basic_ops_suite()); }
