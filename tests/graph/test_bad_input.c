/* test_bad_input.c: graph-level calls given what once crashed them or overflowed (issue 11):
 * empty shapes whose other sizes overflow any product, NULL generators, a NULL message format.
 * Each failed before its fix (UBSan's signed overflow or a NULL dereference); the stale-tensor
 * checks are in test_stale.c. */
#include <string.h>

#include "test_util.h"

/* (0, INT64_MAX, INT64_MAX) holds no element, so it is a valid shape; its row-major strides
 * overflowed int64 (UBSan) in tg_zeros, in the store and in the contiguity test. */
START_TEST(test_empty_shape_with_huge_sizes) {
    tg_tape *t = tg_tape_new();
    tg_tensor *z = tg_zeros(t, TG_F64, TG_SHAPE(0, INT64_MAX, INT64_MAX));
    ck_assert_ptr_nonnull(z);
    ck_assert_int_eq(tg_tensor_numel(z), 0);
    ck_assert(tg_tensor_is_contiguous(z));
    ck_assert_double_eq(tg_tensor_item(tg_sum_all(t, z)), 0.0);
    tg_tensor *s = tg_sum(t, z, 2, (int[]){1, 2}, false);
    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(tg_tensor_dim(s, 0), 0);
    ck_assert_double_eq(tg_tensor_item(tg_sum_all(t, tg_transpose(t, z, 0, 2))), 0.0);
    ck_assert_ptr_nonnull(tg_contiguous(t, z));
    ck_assert_ptr_nonnull(tg_reshape(t, z, TG_SHAPE(0, 5, INT64_MAX)));
    ck_assert_int_eq(tg_tape_status(t), TG_OK);
    /* The same shape with the zero last is more than 2^40 elements before the zero: refused. */
    ck_assert_ptr_null(tg_zeros(t, TG_F64, TG_SHAPE(INT64_MAX, INT64_MAX, 0)));
    ck_assert_int_eq(tg_tape_status(t), TG_ERR_SHAPE);
    tg_store *st = tg_store_new();
    tg_tensor *p = tg_store_param(st, "p", TG_F32, TG_SHAPE(0, INT64_MAX, INT64_MAX));
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(tg_tensor_numel(tg_tensor_grad(p)), 0);
    tg_store_free(st);
    tg_tape_free(t);
}
END_TEST

/* The four draws crashed on a NULL generator; they now draw 0 or NaN, and seeding NULL is a
 * no-op. Fills and tensor makers already refused a NULL generator with an error. */
START_TEST(test_rng_null) {
    tg_rng_seed(NULL, 1);
    ck_assert_uint_eq(tg_rng_next_u32(NULL), 0);
    ck_assert(isnan(tg_rng_uniform(NULL)));
    ck_assert_uint_eq(tg_rng_below(NULL, 10), 0);
    ck_assert(isnan(tg_rng_normal(NULL)));
    tg_tape *t = tg_tape_new();
    ck_assert_ptr_null(tg_normal(t, NULL, TG_F64, TG_SHAPE(2), 0.0, 1.0));
    ck_assert_int_eq(tg_tape_status(t), TG_ERR_NULL);
    tg_tape_free(t);
    ck_assert_int_eq(tg_tensor_fill_uniform(NULL, NULL, 0, 1), TG_ERR_NULL);
}
END_TEST

/* A NULL format crashed in vsnprintf. The status is kept, the message names it. */
static const char *no_format(void) { return NULL; }

START_TEST(test_error_set_null_format) {
    tg_error e = {TG_OK, "old"};
    ck_assert_int_eq(tg_error_set(&e, TG_ERR_IO, no_format()), TG_ERR_IO);
    ck_assert_int_eq(e.status, TG_ERR_IO);
    ck_assert_str_eq(e.message, tg_status_string(TG_ERR_IO));
    ck_assert_int_eq(tg_error_set(NULL, TG_ERR_ARG, no_format()), TG_ERR_ARG);
}
END_TEST

/* Thread counts of 0 and 10,000 and CPU levels outside the enum are accepted and brought into
 * range (0: one per CPU; above 256: 256; levels clamped to what the CPU has); a product computed
 * under each gives the same answer. */
START_TEST(test_runtime_knobs_out_of_range) {
    const int counts[] = {0, 10000, -1, INT32_MAX, 1};
    const int levels[] = {99, -7, TG_CPU_PORTABLE, TG_CPU_AVX512};
    double want = 0;
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
        int n = tg_set_threads(counts[i]);
        ck_assert_int_ge(n, 1);
        ck_assert_int_le(n, 256);
        ck_assert_int_eq(tg_get_threads(), n);
        if (counts[i] > 256) ck_assert_int_eq(n, 256);
        for (size_t j = 0; j < sizeof levels / sizeof levels[0]; j++) {
            tg_cpu_level l = tg_set_cpu_level((tg_cpu_level)levels[j]);
            ck_assert_int_ge((int)l, TG_CPU_PORTABLE);
            ck_assert_int_le((int)l, TG_CPU_NEON);
            ck_assert_int_eq((int)tg_get_cpu_level(), (int)l);
            tg_tape *t = tg_tape_new();
            tg_tensor *a = tg_full(t, TG_F64, TG_SHAPE(64, 96), 0.5);
            tg_tensor *b = tg_full(t, TG_F64, TG_SHAPE(96, 80), 2.0);
            double got = tg_tensor_item(tg_sum_all(t, tg_matmul(t, a, b)));
            if (i == 0 && j == 0) want = got;
            ck_assert_double_eq(got, want);
            ck_assert_double_eq(got, 64.0 * 80.0 * 96.0);
            tg_tape_free(t);
        }
    }
    tg_set_threads(1);
    tg_set_cpu_level(TG_CPU_AVX512);
}
END_TEST

/* The store refuses an unknown dtype and keeps the error; the tensors it holds stay usable. */
START_TEST(test_store_bad_dtype) {
    tg_store *s = tg_store_new();
    ck_assert_ptr_null(tg_store_param(s, "w", (tg_dtype)7, TG_SHAPE(2)));
    ck_assert_int_eq(tg_store_status(s), TG_ERR_DTYPE);
    ck_assert_ptr_null(tg_store_buffer(s, "b", (tg_dtype)-1, TG_SHAPE(2)));
    ck_assert_int_eq(tg_store_n_tensors(s), 0);
    tg_store_free(s);
}
END_TEST

static Suite *bad_input_suite(void) {
    Suite *s = suite_create("graph_bad_input");
    TCase *c = tcase_create("bad_input");
    tcase_add_test(c, test_empty_shape_with_huge_sizes);
    tcase_add_test(c, test_rng_null);
    tcase_add_test(c, test_error_set_null_format);
    tcase_add_test(c, test_runtime_knobs_out_of_range);
    tcase_add_test(c, test_store_bad_dtype);
    suite_add_tcase(s, c);
    return s;
}

int main(void) { return tg_test_run(bad_input_suite()); }
