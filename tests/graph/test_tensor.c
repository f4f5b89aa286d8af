/* test_tensor.c: tensors on a tape (src/graph/tensor.c and the view ops): creation, layout
 * accessors, views that share memory, data in and out with dtype conversion, printing, names
 * and the requires_grad rules.
 *
 * Every expected value here is written out by hand from the documented semantics. */
#include <stdint.h>
#include <string.h>

#include "test_util.h"

/* True when p lies inside x's data region [data, data + numel * elsize). */
static bool inside(const tg_tensor *x, const void *p) {
    const char *base = tg_tensor_data(x);
    size_t bytes = (size_t)tg_tensor_numel(x) * tg_dtype_size(tg_tensor_dtype(x));
    return (const char *)p >= base && (const char *)p < base + bytes;
}

/* A (rows, cols) f64 tensor holding 0, 1, 2, ... in row-major order. */
static tg_tensor *arange2(tg_tape *t, int64_t rows, int64_t cols) {
    double v[64];
    ck_assert(rows * cols <= 64);
    for (int64_t i = 0; i < rows * cols; i++) v[i] = (double)i;
    return tg_from_data(t, TG_F64, TG_SHAPE(rows, cols), v);
}

/* Everything tg_tensor_print writes, as a malloc'd string. */
static char *print_to_string(const tg_tensor *x) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(tg_tensor_print(x, f), TG_OK);
    fclose(f);
    return buf;
}

#define ck_assert_prints(x, want)                                                                  \
    do {                                                                                           \
        char *got_ = print_to_string(x);                                                           \
        ck_assert_msg(strcmp(got_, want) == 0, "printed:\n%s\nwanted:\n%s", got_, want);           \
        free(got_);                                                                                \
    } while (0)

/* ---- creation and layout ---- */

START_TEST(test_dims_0_to_8) {
    tg_tape *t = tg_tape_new();
    const tg_dtype dts[] = {TG_F32, TG_F64};
    for (int k = 0; k < 2; k++) {
        for (int nd = 0; nd <= TG_MAX_DIMS; nd++) {
            int64_t shape[TG_MAX_DIMS];
            int64_t numel = 1;
            for (int d = 0; d < nd; d++) {
                shape[d] = 1 + (d % 3); /* 1, 2, 3, 1, 2, 3, ... */
                numel *= shape[d];
            }
            tg_tensor *x = tg_zeros(t, dts[k], nd, nd ? shape : NULL);
            ck_assert_msg(x != NULL, "%d dims: %s", nd, tg_tape_error(t));
            ck_assert_int_eq(tg_tensor_dtype(x), dts[k]);
            ck_assert_int_eq(tg_tensor_ndim(x), nd);
            ck_assert_int_eq(tg_tensor_numel(x), numel);
            ck_assert(tg_tensor_is_contiguous(x));
            /* Row-major strides in elements, read with positive and negative dims. */
            int64_t stride = 1;
            for (int d = nd - 1; d >= 0; d--) {
                ck_assert_int_eq(tg_tensor_dim(x, d), shape[d]);
                ck_assert_int_eq(tg_tensor_dim(x, d - nd), shape[d]);
                ck_assert_int_eq(tg_tensor_stride(x, d), stride);
                ck_assert_int_eq(tg_tensor_stride(x, d - nd), stride);
                stride *= shape[d];
            }
            /* Out of range either way: 0. */
            ck_assert_int_eq(tg_tensor_dim(x, nd), 0);
            ck_assert_int_eq(tg_tensor_dim(x, -nd - 1), 0);
            ck_assert_int_eq(tg_tensor_stride(x, nd), 0);
            for (int64_t i = 0; i < numel; i++) ck_assert(tg_tensor_get(x, i) == 0.0);
        }
    }
    /* One more than TG_MAX_DIMS is refused with a shape error. */
    int64_t nine[TG_MAX_DIMS + 1];
    for (int d = 0; d <= TG_MAX_DIMS; d++) nine[d] = 1;
    ck_assert_ptr_null(tg_zeros(t, TG_F64, TG_MAX_DIMS + 1, nine));
    ck_assert_int_eq(tg_tape_status(t), TG_ERR_SHAPE);
    tg_tape_free(t);
}
END_TEST

START_TEST(test_dim_accessors_negative) {
    tg_tape *t = tg_tape_new();
    tg_tensor *x = tg_zeros(t, TG_F32, TG_SHAPE(2, 3, 4));
    ck_assert_int_eq(tg_tensor_dim(x, -1), 4);
    ck_assert_int_eq(tg_tensor_dim(x, -2), 3);
    ck_assert_int_eq(tg_tensor_dim(x, -3), 2);
    ck_assert_int_eq(tg_tensor_dim(x, -4), 0);
    ck_assert_int_eq(tg_tensor_stride(x, -1), 1);
    ck_assert_int_eq(tg_tensor_stride(x, -2), 4);
    ck_assert_int_eq(tg_tensor_stride(x, -3), 12);
    ck_assert_int_eq(tg_tensor_numel(x), 24);
    /* NULL is accepted everywhere and gives the neutral answers. */
    ck_assert_int_eq(tg_tensor_ndim(NULL), 0);
    ck_assert_int_eq(tg_tensor_dim(NULL, 0), 0);
    ck_assert_int_eq(tg_tensor_numel(NULL), 0);
    ck_assert_ptr_null(tg_tensor_data(NULL));
    ck_assert_ptr_null(tg_tensor_grad(NULL));
    ck_assert(!tg_tensor_is_contiguous(NULL));
    ck_assert(!tg_tensor_requires_grad(NULL));
    ck_assert(isnan(tg_tensor_get(NULL, 0)));
    tg_tape_free(t);
}
END_TEST

START_TEST(test_creation_values) {
    tg_tape *t = tg_tape_new();
    tg_tensor *o32 = tg_ones(t, TG_F32, TG_SHAPE(2, 2));
    tg_tensor *f64 = tg_full(t, TG_F64, TG_SHAPE(3), -2.5);
    tg_tensor *z = tg_zeros(t, TG_F64, TG_SHAPE(2, 0, 3));
    tg_tensor *s = tg_scalar(t, TG_F32, 0.25);
    const float data32[] = {1.5f, -2.0f, 3.25f, 0.0f, 7.0f, -8.5f};
    tg_tensor *d32 = tg_from_data(t, TG_F32, TG_SHAPE(3, 2), data32);
    ck_assert_int_eq(tg_tape_status(t), TG_OK);

    const float *o = tg_tensor_data(o32);
    for (int i = 0; i < 4; i++) ck_assert(o[i] == 1.0f);
    const double *f = tg_tensor_data(f64);
    for (int i = 0; i < 3; i++) ck_assert(f[i] == -2.5);
    ck_assert_int_eq(tg_tensor_numel(z), 0);
    ck_assert_int_eq(tg_tensor_ndim(z), 3);
    ck_assert_int_eq(tg_tensor_ndim(s), 0);
    ck_assert_int_eq(tg_tensor_numel(s), 1);
    ck_assert(tg_tensor_item(s) == 0.25);
    ck_assert(tg_tensor_get(s, 0) == 0.25);
    /* from_data copies: changing the source afterwards does not change the tensor. */
    float scratch[6];
    memcpy(scratch, data32, sizeof scratch);
    tg_tensor *copy = tg_from_data(t, TG_F32, TG_SHAPE(6), scratch);
    scratch[0] = 100.0f;
    ck_assert(tg_tensor_get(copy, 0) == 1.5);
    ck_assert_ptr_ne(tg_tensor_data(copy), scratch);
    for (int i = 0; i < 6; i++) ck_assert(tg_tensor_get(d32, i) == (double)data32[i]);
    ck_assert(tg_tensor_get(d32, 4) == 7.0);
    /* get and item outside their domain: NaN. */
    ck_assert(isnan(tg_tensor_get(d32, 6)));
    ck_assert(isnan(tg_tensor_get(d32, -1)));
    ck_assert(isnan(tg_tensor_item(d32)));
    /* A one-element tensor of any rank has an item. */
    tg_tensor *one = tg_full(t, TG_F64, TG_SHAPE(1, 1, 1), 9.0);
    ck_assert(tg_tensor_item(one) == 9.0);
    /* fill overwrites. */
    ck_assert_int_eq(tg_tensor_fill(d32, 4.0), TG_OK);
    for (int i = 0; i < 6; i++) ck_assert(tg_tensor_get(d32, i) == 4.0);
    /* The data of a tensor on a tape is 64-byte aligned on a step the arena does not skew (the
     * first), and 16-byte aligned on every step (the skew moves by 16, graph.h). */
    ck_assert_uint_eq((uintptr_t)tg_tensor_data(f64) % 64, 0);
    for (int step = 0; step < 6; step++) {
        tg_tape_reset(t);
        tg_tensor *z = tg_zeros(t, TG_F32, TG_SHAPE(3));
        ck_assert_uint_eq((uintptr_t)tg_tensor_data(z) % 16, 0);
        ck_assert_uint_eq((uintptr_t)z % 16, 0);
    }
    tg_tape_free(t);
}
END_TEST

START_TEST(test_creation_errors) {
    tg_tape *t = tg_tape_new();
    ck_assert_ptr_null(tg_from_data(t, TG_F64, TG_SHAPE(2), NULL));
    ck_assert_int_eq(tg_tape_status(t), TG_ERR_NULL);
    tg_tape_clear_error(t);
    ck_assert_ptr_null(tg_zeros(t, TG_F64, TG_SHAPE(2, -1)));
    ck_assert_int_eq(tg_tape_status(t), TG_ERR_SHAPE);
    tg_tape_clear_error(t);
    ck_assert_ptr_null(tg_zeros(t, (tg_dtype)7, TG_SHAPE(2)));
    ck_assert_int_eq(tg_tape_status(t), TG_ERR_DTYPE);
    tg_tape_clear_error(t);
    ck_assert_ptr_null(tg_zeros(t, TG_F64, 2, NULL));
    ck_assert_int_eq(tg_tape_status(t), TG_ERR_NULL);
    tg_tape_clear_error(t);
    /* More than 2^40 elements is refused before any allocation is tried. */
    ck_assert_ptr_null(tg_zeros(t, TG_F32, TG_SHAPE(1 << 21, 1 << 20)));
    ck_assert_int_eq(tg_tape_status(t), TG_ERR_SHAPE);
    /* No tape: NULL, no crash. */
    ck_assert_ptr_null(tg_zeros(NULL, TG_F64, TG_SHAPE(2)));
    tg_tape_free(t);
}
END_TEST

/* Ids count creations on the tape (views included) and restart after a reset. */
START_TEST(test_ids) {
    tg_tape *t = tg_tape_new();
    tg_tensor *a = tg_zeros(t, TG_F64, TG_SHAPE(2, 3));
    tg_tensor *b = tg_transpose(t, a, 0, 1);
    tg_tensor *c = tg_ones(t, TG_F64, TG_SHAPE(1));
    ck_assert_int_eq(tg_tensor_id(a), 0);
    ck_assert_int_eq(tg_tensor_id(b), 1);
    ck_assert_int_eq(tg_tensor_id(c), 2);
    tg_tape_reset(t);
    ck_assert_int_eq(tg_tensor_id(tg_scalar(t, TG_F64, 1.0)), 0);
    ck_assert_int_eq(tg_tensor_id(NULL), -1);
    tg_tape_free(t);
}
END_TEST

/* ---- views ---- */

START_TEST(test_reshape_is_view) {
    tg_tape *t = tg_tape_new();
    tg_tensor *x = arange2(t, 2, 6);
    tg_tensor *y = tg_reshape(t, x, TG_SHAPE(3, -1, 2));
    ck_assert_ptr_nonnull(y);
    ck_assert_int_eq(tg_tensor_ndim(y), 3);
    ck_assert_int_eq(tg_tensor_dim(y, 1), 2);
    ck_assert_ptr_eq(tg_tensor_data(y), tg_tensor_data(x));
    ck_assert(tg_tensor_is_contiguous(y));
    ck_assert_int_eq(tg_tensor_stride(y, 0), 4);
    /* Writing through the source shows in the view: shared memory, not a copy. */
    double *xd = tg_tensor_data(x);
    xd[7] = -70.0;
    ck_assert(tg_tensor_get(y, 7) == -70.0);
    for (int i = 0; i < 12; i++)
        if (i != 7) ck_assert(tg_tensor_get(y, i) == (double)i);
    /* And the other way round. */
    ck_assert_int_eq(tg_tensor_fill(y, 2.0), TG_OK);
    ck_assert(tg_tensor_get(x, 0) == 2.0 && tg_tensor_get(x, 11) == 2.0);
    /* To 0 dimensions and back. */
    tg_tensor *one = tg_full(t, TG_F32, TG_SHAPE(1, 1), 3.0);
    tg_tensor *sc = tg_reshape(t, one, 0, NULL);
    ck_assert_int_eq(tg_tensor_ndim(sc), 0);
    ck_assert(tg_tensor_item(sc) == 3.0);
    ck_assert_ptr_eq(tg_tensor_data(sc), tg_tensor_data(one));
    tg_tape_free(t);
}
END_TEST

START_TEST(test_transpose_permute_are_views) {
    tg_tape *t = tg_tape_new();
    tg_tensor *x = arange2(t, 2, 3);
    tg_tensor *xt = tg_transpose(t, x, 0, -1);
    ck_assert_ptr_nonnull(xt);
    ck_assert_int_eq(tg_tensor_dim(xt, 0), 3);
    ck_assert_int_eq(tg_tensor_dim(xt, 1), 2);
    ck_assert_int_eq(tg_tensor_stride(xt, 0), 1);
    ck_assert_int_eq(tg_tensor_stride(xt, 1), 3);
    ck_assert(!tg_tensor_is_contiguous(xt));
    ck_assert_ptr_eq(tg_tensor_data(xt), tg_tensor_data(x));
    /* xt[i][j] = x[j][i] = 3 j + i, read in xt's row-major order. */
    const double want[] = {0, 3, 1, 4, 2, 5};
    for (int i = 0; i < 6; i++) ck_assert(tg_tensor_get(xt, i) == want[i]);
    ((double *)tg_tensor_data(x))[4] = 40.0; /* x[1][1] */
    ck_assert(tg_tensor_get(xt, 3) == 40.0); /* xt[1][1] */

    /* A 3-d permutation: y = x3 with dims (2, 0, 1). */
    double v[24];
    for (int i = 0; i < 24; i++) v[i] = i;
    tg_tensor *x3 = tg_from_data(t, TG_F64, TG_SHAPE(2, 3, 4), v);
    tg_tensor *y = tg_permute(t, x3, (const int[]){2, 0, 1});
    ck_assert_int_eq(tg_tensor_dim(y, 0), 4);
    ck_assert_int_eq(tg_tensor_dim(y, 1), 2);
    ck_assert_int_eq(tg_tensor_dim(y, 2), 3);
    ck_assert_int_eq(tg_tensor_stride(y, 0), 1);
    ck_assert_int_eq(tg_tensor_stride(y, 1), 12);
    ck_assert_int_eq(tg_tensor_stride(y, 2), 4);
    ck_assert(inside(x3, tg_tensor_data(y)));
    for (int a = 0; a < 4; a++)
        for (int b = 0; b < 2; b++)
            for (int c = 0; c < 3; c++)
                ck_assert(tg_tensor_get(y, (a * 2 + b) * 3 + c) == 12 * b + 4 * c + a);
    tg_tape_free(t);
}
END_TEST

START_TEST(test_slice_is_view) {
    tg_tape *t = tg_tape_new();
    double v[10];
    for (int i = 0; i < 10; i++) v[i] = 10.0 * i;
    tg_tensor *x = tg_from_data(t, TG_F64, TG_SHAPE(10), v);
    tg_tensor *s = tg_slice(t, x, 0, 1, 9, 3); /* 1, 4, 7 */
    ck_assert_int_eq(tg_tensor_dim(s, 0), 3);
    ck_assert_int_eq(tg_tensor_stride(s, 0), 3);
    ck_assert(inside(x, tg_tensor_data(s)));
    ck_assert_ptr_eq(tg_tensor_data(s), (double *)tg_tensor_data(x) + 1);
    ck_assert(tg_tensor_get(s, 0) == 10.0 && tg_tensor_get(s, 1) == 40.0 &&
              tg_tensor_get(s, 2) == 70.0);
    ((double *)tg_tensor_data(x))[4] = -1.0;
    ck_assert(tg_tensor_get(s, 1) == -1.0);
    /* Negative start counts from the end; stop is clamped: x[-4:100:2] = 6, 8. */
    tg_tensor *e = tg_slice(t, x, -1, -4, 100, 2);
    ck_assert_int_eq(tg_tensor_dim(e, 0), 2);
    ck_assert(tg_tensor_get(e, 0) == 60.0 && tg_tensor_get(e, 1) == 80.0);
    /* An empty slice is fine. */
    ck_assert_int_eq(tg_tensor_dim(tg_slice(t, x, 0, 5, 5, 1), 0), 0);

    /* Along the columns of a matrix with a step: m[:, 1:6:2] of a (3, 6). */
    tg_tensor *m = arange2(t, 3, 6);
    tg_tensor *c = tg_slice(t, m, 1, 1, 6, 2);
    ck_assert_int_eq(tg_tensor_dim(c, 0), 3);
    ck_assert_int_eq(tg_tensor_dim(c, 1), 3);
    ck_assert_int_eq(tg_tensor_stride(c, 0), 6);
    ck_assert_int_eq(tg_tensor_stride(c, 1), 2);
    ck_assert(inside(m, tg_tensor_data(c)));
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) ck_assert(tg_tensor_get(c, 3 * i + j) == 6 * i + 1 + 2 * j);
    /* A slice of a transposed view is still a view of the original memory. */
    tg_tensor *ct = tg_slice(t, tg_transpose(t, m, 0, 1), 0, 2, 4, 1); /* columns 2, 3 */
    ck_assert(inside(m, tg_tensor_data(ct)));
    ck_assert(tg_tensor_get(ct, 0) == 2.0 && tg_tensor_get(ct, 1) == 8.0 &&
              tg_tensor_get(ct, 3) == 3.0);
    tg_tape_free(t);
}
END_TEST

/* Reshaping a view that is not contiguous gathers a copy in logical order. */
START_TEST(test_reshape_noncontiguous_copies) {
    tg_tape *t = tg_tape_new();
    tg_tensor *x = arange2(t, 2, 3);
    tg_tensor *xt = tg_transpose(t, x, 0, 1); /* (3, 2): 0 3 1 4 2 5 */
    tg_tensor *flat = tg_reshape(t, xt, TG_SHAPE(6));
    ck_assert_ptr_nonnull(flat);
    ck_assert(tg_tensor_is_contiguous(flat));
    ck_assert(!inside(x, tg_tensor_data(flat)));
    const double want[] = {0, 3, 1, 4, 2, 5};
    for (int i = 0; i < 6; i++) ck_assert(tg_tensor_get(flat, i) == want[i]);
    /* A copy: later writes to the source do not show. */
    ((double *)tg_tensor_data(x))[1] = 100.0;
    ck_assert(tg_tensor_get(flat, 2) == 1.0);
    /* A stepped slice reshaped to 2-d: m[:, ::2] of a (2, 4) is 0 2 4 6. */
    tg_tensor *m = arange2(t, 2, 4);
    tg_tensor *r = tg_reshape(t, tg_slice(t, m, 1, 0, 4, 2), TG_SHAPE(4, 1));
    ck_assert(tg_tensor_is_contiguous(r));
    for (int i = 0; i < 4; i++) ck_assert(tg_tensor_get(r, i) == 2.0 * i);
    tg_tape_free(t);
}
END_TEST

/* ---- data in and out ---- */

START_TEST(test_copy_out_in_conversion) {
    tg_tape *t = tg_tape_new();
    /* copy_out of a transposed f64 view into f32, in the view's logical order. */
    tg_tensor *x = arange2(t, 2, 3);
    tg_tensor *xt = tg_transpose(t, x, 0, 1);
    float out32[6];
    ck_assert_int_eq(tg_tensor_copy_out(xt, TG_F32, out32), TG_OK);
    const float want[] = {0, 3, 1, 4, 2, 5};
    for (int i = 0; i < 6; i++) ck_assert(out32[i] == want[i]);

    /* copy_in into a stepped column slice of an f32 matrix from f64 values: only the slice's
     * elements change, each rounded to f32. */
    tg_tensor *m = tg_full(t, TG_F32, TG_SHAPE(3, 4), -1.0);
    tg_tensor *v = tg_slice(t, m, 1, 1, 4, 2); /* columns 1 and 3 */
    const double src[] = {0.1, 0.2, 0.3, 0.4, 0.7, 0.6};
    ck_assert_int_eq(tg_tensor_copy_in(v, TG_F64, src), TG_OK);
    const float *md = tg_tensor_data(m);
    for (int i = 0; i < 3; i++) {
        ck_assert(md[4 * i + 0] == -1.0f);
        ck_assert(md[4 * i + 1] == (float)src[2 * i]);
        ck_assert(md[4 * i + 2] == -1.0f);
        ck_assert(md[4 * i + 3] == (float)src[2 * i + 1]);
    }
    /* And back out, to f64: the f32-rounded values. */
    double back[6];
    ck_assert_int_eq(tg_tensor_copy_out(v, TG_F64, back), TG_OK);
    for (int i = 0; i < 6; i++) {
        ck_assert(back[i] == (double)(float)src[i]);
        ck_assert(back[i] != src[i]); /* none of these is exact in f32 */
    }
    /* f32 -> f64 -> f32 through a permuted 3-d view is the identity on values. */
    float v3[24];
    for (int i = 0; i < 24; i++) v3[i] = 0.5f * (float)i - 3.0f;
    tg_tensor *a = tg_from_data(t, TG_F32, TG_SHAPE(2, 3, 4), v3);
    tg_tensor *p = tg_permute(t, a, (const int[]){1, 2, 0});
    double mid[24];
    ck_assert_int_eq(tg_tensor_copy_out(p, TG_F64, mid), TG_OK);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 4; j++)
            for (int k = 0; k < 2; k++)
                ck_assert(mid[(i * 4 + j) * 2 + k] == v3[k * 12 + i * 4 + j]);
    ck_assert_int_eq(tg_tensor_fill(a, 0.0), TG_OK);
    ck_assert_int_eq(tg_tensor_copy_in(p, TG_F64, mid), TG_OK);
    ck_assert_int_eq(memcmp(tg_tensor_data(a), v3, sizeof v3), 0);
    /* Errors. */
    ck_assert_int_eq(tg_tensor_copy_out(NULL, TG_F64, back), TG_ERR_NULL);
    ck_assert_int_eq(tg_tensor_copy_out(x, TG_F64, NULL), TG_ERR_NULL);
    ck_assert_int_eq(tg_tensor_copy_in(x, (tg_dtype)5, src), TG_ERR_DTYPE);
    tg_tape_free(t);
}
END_TEST

/* fill on a non-contiguous view touches only the view. */
START_TEST(test_fill_view) {
    tg_tape *t = tg_tape_new();
    tg_tensor *m = tg_zeros(t, TG_F64, TG_SHAPE(3, 3));
    ck_assert_int_eq(tg_tensor_fill(tg_slice(t, m, 0, 0, 3, 2), 5.0), TG_OK); /* rows 0, 2 */
    const double want[] = {5, 5, 5, 0, 0, 0, 5, 5, 5};
    for (int i = 0; i < 9; i++) ck_assert(tg_tensor_get(m, i) == want[i]);
    ck_assert_int_eq(tg_tensor_fill(tg_transpose(t, tg_slice(t, m, 1, 1, 2, 1), 0, 1), -1.0),
                     TG_OK); /* column 1 */
    const double want2[] = {5, -1, 5, 0, -1, 0, 5, -1, 5};
    for (int i = 0; i < 9; i++) ck_assert(tg_tensor_get(m, i) == want2[i]);
    tg_tape_free(t);
}
END_TEST

/* ---- printing ---- */

START_TEST(test_print_small) {
    tg_tape *t = tg_tape_new();
    tg_tensor *x =
        tg_from_data(t, TG_F64, TG_SHAPE(2, 3), ((const double[]){1, 2.5, -3, 0.1, 1e-7, 1234567}));
    ck_assert_prints(x, "tensor f64 (2, 3)\n[[1, 2.5, -3],\n [0.1, 1e-07, 1.23457e+06]]\n");
    ck_assert_int_eq(tg_tensor_set_name(x, "w"), TG_OK);
    ck_assert_prints(x, "tensor f64 (2, 3) w\n[[1, 2.5, -3],\n [0.1, 1e-07, 1.23457e+06]]\n");
    ck_assert_prints(tg_scalar(t, TG_F32, 0.5), "tensor f32 ()\n0.5\n");
    ck_assert_prints(tg_full(t, TG_F32, TG_SHAPE(3), 0.1), "tensor f32 (3,)\n[0.1, 0.1, 0.1]\n");
    /* A view prints in its logical order. */
    ck_assert_prints(tg_transpose(t, x, 0, 1),
                     "tensor f64 (3, 2)\n[[1, 0.1],\n [2.5, 1e-07],\n [-3, 1.23457e+06]]\n");
    double v[8];
    for (int i = 0; i < 8; i++) v[i] = i;
    ck_assert_prints(tg_from_data(t, TG_F64, TG_SHAPE(2, 2, 2), v),
                     "tensor f64 (2, 2, 2)\n[[[0, 1],\n  [2, 3]],\n [[4, 5],\n  [6, 7]]]\n");
    ck_assert_prints(tg_zeros(t, TG_F64, TG_SHAPE(0)), "tensor f64 (0,)\n[]\n");
    ck_assert_int_eq(tg_tensor_print(NULL, stdout), TG_ERR_NULL);
    ck_assert_int_eq(tg_tensor_print(x, NULL), TG_ERR_NULL);
    tg_tape_free(t);
}
END_TEST

START_TEST(test_print_elides_long_dims) {
    tg_tape *t = tg_tape_new();
    double v[40];
    for (int i = 0; i < 40; i++) v[i] = i;
    /* Seven elements are printed in full, eight lose their middle. */
    ck_assert_prints(tg_from_data(t, TG_F64, TG_SHAPE(7), v),
                     "tensor f64 (7,)\n[0, 1, 2, 3, 4, 5, 6]\n");
    ck_assert_prints(tg_from_data(t, TG_F64, TG_SHAPE(8), v),
                     "tensor f64 (8,)\n[0, 1, 2, ..., 5, 6, 7]\n");
    ck_assert_prints(tg_from_data(t, TG_F64, TG_SHAPE(40), v),
                     "tensor f64 (40,)\n[0, 1, 2, ..., 37, 38, 39]\n");
    /* Rows elided too: (10, 2), and (2, 20) with long rows. */
    ck_assert_prints(tg_from_data(t, TG_F64, TG_SHAPE(10, 2), v),
                     "tensor f64 (10, 2)\n[[0, 1],\n [2, 3],\n [4, 5],\n ...,\n [14, 15],\n"
                     " [16, 17],\n [18, 19]]\n");
    ck_assert_prints(tg_from_data(t, TG_F64, TG_SHAPE(2, 20), v),
                     "tensor f64 (2, 20)\n[[0, 1, 2, ..., 17, 18, 19],\n"
                     " [20, 21, 22, ..., 37, 38, 39]]\n");
    tg_tape_free(t);
}
END_TEST

/* ---- names and requires_grad ---- */

START_TEST(test_names) {
    tg_tape *t = tg_tape_new();
    tg_tensor *x = tg_zeros(t, TG_F64, TG_SHAPE(2));
    ck_assert_ptr_null(tg_tensor_name(x));
    char name[16] = "weights";
    ck_assert_int_eq(tg_tensor_set_name(x, name), TG_OK);
    strcpy(name, "changed"); /* the name was copied */
    ck_assert_str_eq(tg_tensor_name(x), "weights");
    ck_assert_int_eq(tg_tensor_set_name(x, "bias"), TG_OK);
    ck_assert_str_eq(tg_tensor_name(x), "bias");
    /* At most 63 bytes are kept. */
    char longname[100];
    memset(longname, 'a', 99);
    longname[99] = '\0';
    ck_assert_int_eq(tg_tensor_set_name(x, longname), TG_OK);
    ck_assert_uint_eq(strlen(tg_tensor_name(x)), 63);
    ck_assert_int_eq(strncmp(tg_tensor_name(x), longname, 63), 0);
    ck_assert_int_eq(tg_tensor_set_name(x, NULL), TG_ERR_NULL);
    ck_assert_int_eq(tg_tensor_set_name(NULL, "x"), TG_ERR_NULL);
    ck_assert_ptr_null(tg_tensor_name(NULL));
    tg_tape_free(t);
}
END_TEST

START_TEST(test_requires_grad_rules) {
    tg_tape *t = tg_tape_new();
    tg_tensor *x = tg_ones(t, TG_F64, TG_SHAPE(3));
    ck_assert(!tg_tensor_requires_grad(x)); /* leaves on a tape start without */
    ck_assert_int_eq(tg_tensor_set_requires_grad(x, true), TG_OK);
    ck_assert(tg_tensor_requires_grad(x));
    tg_tensor *y = tg_mul(t, x, x);
    ck_assert(tg_tensor_requires_grad(y));
    /* An op's result: its gradient is defined by its graph. */
    ck_assert_int_eq(tg_tensor_set_requires_grad(y, false), TG_ERR_ARG);
    ck_assert_int_eq(tg_tensor_set_requires_grad(y, true), TG_ERR_ARG);
    ck_assert(tg_tensor_requires_grad(y));
    /* A view made by an op is an op result too. */
    ck_assert_int_eq(
        tg_tensor_set_requires_grad(tg_transpose(t, tg_reshape(t, x, TG_SHAPE(3, 1)), 0, 1), false),
        TG_ERR_ARG);
    /* A leaf can be switched off again, and then ops on it are not recorded. */
    ck_assert_int_eq(tg_tensor_set_requires_grad(x, false), TG_OK);
    int64_t before = tg_tape_n_nodes(t);
    tg_tensor *z = tg_mul(t, x, x);
    ck_assert(!tg_tensor_requires_grad(z));
    ck_assert_int_eq(tg_tape_n_nodes(t), before);
    ck_assert_int_eq(tg_tensor_set_requires_grad(NULL, true), TG_ERR_NULL);
    tg_tape_free(t);
}
END_TEST

static Suite *tensor_suite(void) {
    Suite *s = suite_create("graph_tensor");
    TCase *c = tcase_create("create");
    tcase_add_test(c, test_dims_0_to_8);
    tcase_add_test(c, test_dim_accessors_negative);
    tcase_add_test(c, test_creation_values);
    tcase_add_test(c, test_creation_errors);
    tcase_add_test(c, test_ids);
    suite_add_tcase(s, c);
    TCase *v = tcase_create("views");
    tcase_add_test(v, test_reshape_is_view);
    tcase_add_test(v, test_transpose_permute_are_views);
    tcase_add_test(v, test_slice_is_view);
    tcase_add_test(v, test_reshape_noncontiguous_copies);
    suite_add_tcase(s, v);
    TCase *d = tcase_create("data");
    tcase_add_test(d, test_copy_out_in_conversion);
    tcase_add_test(d, test_fill_view);
    tcase_add_test(d, test_print_small);
    tcase_add_test(d, test_print_elides_long_dims);
    suite_add_tcase(s, d);
    TCase *g = tcase_create("attributes");
    tcase_add_test(g, test_names);
    tcase_add_test(g, test_requires_grad_rules);
    suite_add_tcase(s, g);
    return s;
}

int main(void) { return tg_test_run(tensor_suite()); }
