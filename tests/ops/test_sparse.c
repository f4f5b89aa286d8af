/* test_sparse.c: the sparse patterns and products of tapegrad/sparse.h against sums evaluated
 * here in double: every CPU level, one and two threads, f32 and f64, column counts that reach
 * each path of the kernels (one column: the gather loop; under one vector, one to four vectors
 * and a masked tail), rows long enough for the gathers and an empty row. Each element is
 * compared within a bound scaled by the sum of its terms' magnitudes. Results on one and two
 * threads must be the same bits. Also the patterns' construction and the errors of bad input
 * (the gradients themselves are proven by the op-case table). */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

#define DT ((tg_dtype)_i)
enum { ROWS = 37, COLS = 300 };

/* A (ROWS, COLS) dense matrix with about a fifth of its entries nonzero, row 5 all zero, and
 * row 7 full. */
static tg_tensor *sparse_dense(tg_tape *t, tg_dtype dt, tg_rng *rng) {
    tg_tensor *w = tg_uniform(t, rng, dt, 2, (int64_t[]){ROWS, COLS}, -1.0, 1.0);
    ck_assert_ptr_nonnull(w);
    for (int64_t i = 0; i < ROWS; i++)
        for (int64_t j = 0; j < COLS; j++) {
            bool keep = i == 7 || (i != 5 && (tg_rng_next_u32(rng) % 5) == 0);
            if (!keep) {
                if (dt == TG_F64)
                    ((double *)tg_tensor_data(w))[i * COLS + j] = 0.0;
                else
                    ((float *)tg_tensor_data(w))[i * COLS + j] = 0.0f;
            }
        }
    return w;
}

static double tol_of(tg_dtype dt, double abs_sum) {
    return (dt == TG_F32 ? 4e-6 : 1e-13) * (abs_sum + 1e-30);
}

/* Checks y (R, N) = op(W) x against the double sums; transposed: y = W^T x. */
static void check_product(tg_dtype dt, const tg_tensor *w, const tg_tensor *x, const tg_tensor *y,
                          bool transposed) {
    int64_t R = tg_tensor_dim(y, 0), N = tg_tensor_dim(y, 1), K = tg_tensor_dim(x, 0);
    ck_assert_int_eq(K, transposed ? ROWS : COLS);
    for (int64_t r = 0; r < R; r++)
        for (int64_t n = 0; n < N; n++) {
            double s = 0, abs_sum = 0;
            for (int64_t k = 0; k < K; k++) {
                double a = transposed ? tg_tensor_get(w, k * COLS + r) : tg_tensor_get(w, r * COLS + k);
                double term = a * tg_tensor_get(x, k * N + n);
                s += term;
                abs_sum += fabs(term);
            }
            double got = tg_tensor_get(y, r * N + n);
            ck_assert_msg(fabs(got - s) <= tol_of(dt, abs_sum),
                          "%s (%lld, %lld) of (%lld, %lld): %.17g, want %.17g",
                          transposed ? "spmm_t" : "spmm", (long long)r, (long long)n,
                          (long long)R, (long long)N, got, s);
        }
}

static void check_sddmm(tg_dtype dt, const tg_csr *a, const tg_tensor *p, const tg_tensor *q,
                        const tg_tensor *v) {
    int64_t N = tg_tensor_dim(p, 1);
    const int32_t *rp = tg_csr_row_ptr(a), *col = tg_csr_col_idx(a);
    for (int64_t i = 0; i < ROWS; i++)
        for (int32_t e = rp[i]; e < rp[i + 1]; e++) {
            double s = 0, abs_sum = 0;
            for (int64_t n = 0; n < N; n++) {
                double term = tg_tensor_get(p, i * N + n) * tg_tensor_get(q, col[e] * N + n);
                s += term;
                abs_sum += fabs(term);
            }
            double got = tg_tensor_get(v, e);
            ck_assert_msg(fabs(got - s) <= tol_of(dt, abs_sum), "sddmm entry %d: %.17g, want %.17g",
                          (int)e, got, s);
        }
}

static bool same_bits(const tg_tensor *a, const tg_tensor *b) {
    return tg_tensor_numel(a) == tg_tensor_numel(b) &&
           memcmp(tg_tensor_data(a), tg_tensor_data(b),
                  (size_t)tg_tensor_numel(a) * tg_dtype_size(tg_tensor_dtype(a))) == 0;
}

START_TEST(products_every_path) {
    static const int64_t widths[] = {1, 3, 16, 64, 70};
    tg_tape *t = tg_tape_new();
    tg_rng rs, *rng = &rs;
    tg_rng_seed(rng, 11);
    tg_error err = {0};
    tg_tensor *w = sparse_dense(t, DT, rng);
    tg_csr *a = tg_csr_from_dense(w, 0.0, &err);
    ck_assert_msg(a != NULL, "%s", err.message);
    ck_assert_int_eq(tg_csr_row_ptr(a)[6] - tg_csr_row_ptr(a)[5], 0);
    ck_assert_int_eq(tg_csr_row_ptr(a)[8] - tg_csr_row_ptr(a)[7], COLS);
    tg_tensor *v = tg_zeros(t, DT, 1, (int64_t[]){tg_csr_nnz(a)});
    ck_assert_int_eq(tg_csr_gather(a, w, v, &err), TG_OK);
    for (size_t wi = 0; wi < sizeof widths / sizeof *widths; wi++) {
        int64_t N = widths[wi];
        tg_tensor *x = tg_uniform(t, rng, DT, 2, (int64_t[]){COLS, N}, -1.0, 1.0);
        tg_tensor *g = tg_uniform(t, rng, DT, 2, (int64_t[]){ROWS, N}, -1.0, 1.0);
        tg_tensor *first[3] = {NULL, NULL, NULL};
        for (int threads = 1; threads <= 2; threads++)
            for (int l = TG_CPU_PORTABLE; l < TG_TEST_N_LEVELS; l++) {
                tg_set_threads(threads);
                if (!tg_test_enter_level((tg_cpu_level)l)) continue;
                tg_tensor *y = tg_spmm(t, a, v, x), *z = tg_spmm_t(t, a, v, g);
                tg_tensor *s = tg_sddmm(t, a, g, x);
                ck_assert_msg(y && z && s, "%s", tg_tape_error(t));
                check_product(DT, w, x, y, false);
                check_product(DT, w, g, z, true);
                check_sddmm(DT, a, g, x, s);
                if (l == (int)tg_cpu_best_level()) {
                    tg_tensor *now[3] = {y, z, s};
                    for (int k = 0; k < 3; k++) {
                        if (first[k])
                            ck_assert_msg(same_bits(first[k], now[k]),
                                          "product %d, N = %lld: 2 threads differ from 1", k,
                                          (long long)N);
                        first[k] = now[k];
                    }
                }
            }
    }
    tg_set_cpu_level(TG_CPU_AVX512);
    tg_set_threads(1);
    tg_csr_free(a);
    tg_tape_free(t);
}
END_TEST

START_TEST(patterns_and_their_arrays) {
    tg_tape *t = tg_tape_new();
    const double wv[] = {0.5, 0, -2, 0, 0.1, 0, 3, 0, -0.05};
    tg_tensor *w = tg_from_data(t, TG_F64, 2, (int64_t[]){3, 3}, wv);
    tg_error err = {0};
    tg_csr *a = tg_csr_from_dense(w, 0.2, &err);
    ck_assert_ptr_nonnull(a);
    ck_assert_int_eq(tg_csr_nnz(a), 3);
    const int32_t want_rp[] = {0, 2, 2, 3}, want_col[] = {0, 2, 0};
    ck_assert_mem_eq(tg_csr_row_ptr(a), want_rp, sizeof want_rp);
    ck_assert_mem_eq(tg_csr_col_idx(a), want_col, sizeof want_col);
    ck_assert_uint_eq(tg_csr_bytes(a, TG_F32), 3 * 8 + 4 * 4);
    /* Gather then scatter gives w with the small entries zeroed; a transposed view of w
     * gathers w's transpose. */
    tg_tensor *v = tg_zeros(t, TG_F64, 1, (int64_t[]){3});
    tg_tensor *back = tg_zeros(t, TG_F32, 2, (int64_t[]){3, 3});
    ck_assert_int_eq(tg_csr_gather(a, w, v, &err), TG_OK);
    ck_assert_int_eq(tg_csr_scatter(a, v, back, &err), TG_OK);
    const double want_back[] = {0.5, 0, -2, 0, 0, 0, 3, 0, 0};
    ck_assert_tensor_near(back, want_back, 9, 0.0);
    ck_assert_int_eq(tg_csr_gather(a, tg_transpose(t, w, 0, 1), v, &err), TG_OK);
    const double want_vt[] = {0.5, 3, -2};
    ck_assert_tensor_near(v, want_vt, 3, 0.0);
    tg_csr *m = tg_csr_from_mask(back, &err);
    ck_assert_ptr_nonnull(m);
    ck_assert_mem_eq(tg_csr_col_idx(m), want_col, sizeof want_col);
    tg_csr *all = tg_csr_from_dense(w, -1.0, &err);
    ck_assert_int_eq(tg_csr_nnz(all), 9);
    tg_csr *copy = tg_csr_from_arrays(3, 3, want_rp, want_col, &err);
    ck_assert_ptr_nonnull(copy);
    ck_assert_mem_eq(tg_csr_row_ptr(copy), want_rp, sizeof want_rp);
    tg_csr_free(copy);
    tg_csr_free(all);
    tg_csr_free(m);
    tg_csr_free(a);
    tg_csr_free(NULL);
    tg_tape_free(t);
}
END_TEST

START_TEST(bad_patterns_are_refused) {
    tg_error err = {0};
    const int32_t rp_bad0[] = {1, 2}, rp_down[] = {0, 2, 1}, rp[] = {0, 2, 3};
    const int32_t col_range[] = {0, 5, 1}, col_order[] = {1, 0, 1}, col_ok[] = {0, 1, 1};
    ck_assert_ptr_null(tg_csr_from_arrays(1, 3, rp_bad0, col_ok, &err));
    ck_assert_int_eq(err.status, TG_ERR_ARG);
    ck_assert_ptr_null(tg_csr_from_arrays(2, 3, rp_down, col_ok, &err));
    ck_assert_int_eq(err.status, TG_ERR_ARG);
    ck_assert_ptr_null(tg_csr_from_arrays(2, 3, rp, col_range, &err));
    ck_assert_ptr_nonnull(strstr(err.message, "outside"));
    ck_assert_ptr_null(tg_csr_from_arrays(2, 3, rp, col_order, &err));
    ck_assert_ptr_nonnull(strstr(err.message, "do not increase"));
    ck_assert_ptr_null(tg_csr_from_arrays(-1, 3, rp, col_ok, &err));
    ck_assert_int_eq(err.status, TG_ERR_SHAPE);
    ck_assert_ptr_null(tg_csr_from_arrays(2, 3, NULL, col_ok, &err));
    ck_assert_int_eq(err.status, TG_ERR_NULL);
    ck_assert_ptr_null(tg_csr_from_dense(NULL, 0, &err));
    ck_assert_int_eq(err.status, TG_ERR_NULL);
    tg_tape *t = tg_tape_new();
    ck_assert_ptr_null(tg_csr_from_mask(tg_zeros(t, TG_F32, 1, (int64_t[]){4}), &err));
    ck_assert_int_eq(err.status, TG_ERR_SHAPE);
    tg_csr *a = tg_csr_from_arrays(2, 3, rp, col_ok, &err);
    ck_assert_ptr_nonnull(a);
    tg_tensor *v3 = tg_zeros(t, TG_F32, 1, (int64_t[]){3});
    ck_assert_int_eq(tg_csr_gather(a, tg_zeros(t, TG_F32, 2, (int64_t[]){3, 2}), v3, &err),
                     TG_ERR_SHAPE);
    ck_assert_int_eq(tg_csr_scatter(a, tg_zeros(t, TG_F32, 1, (int64_t[]){2}),
                                    tg_zeros(t, TG_F32, 2, (int64_t[]){2, 3}), &err),
                     TG_ERR_SHAPE);
    tg_tape_free(t);
    tg_csr_free(a);
}
END_TEST

/* Each bad call leaves one error on the tape naming the op; the tape is then cleared. */
static void expect_error(tg_tape *t, tg_tensor *y, tg_status s, const char *op) {
    ck_assert_ptr_null(y);
    ck_assert_int_eq(tg_tape_status(t), s);
    ck_assert_msg(strstr(tg_tape_error(t), op) != NULL, "%s", tg_tape_error(t));
    tg_tape_clear_error(t);
}

START_TEST(bad_operands_are_refused) {
    tg_error err = {0};
    const int32_t rp[] = {0, 2, 3}, col[] = {0, 1, 1};
    tg_csr *a = tg_csr_from_arrays(2, 3, rp, col, &err);
    tg_tape *t = tg_tape_new();
    tg_tensor *v = tg_ones(t, TG_F32, 1, (int64_t[]){3});
    tg_tensor *x = tg_ones(t, TG_F32, 2, (int64_t[]){3, 4});
    tg_tensor *g = tg_ones(t, TG_F32, 2, (int64_t[]){2, 4});
    expect_error(t, tg_spmm(t, NULL, v, x), TG_ERR_NULL, "spmm");
    expect_error(t, tg_spmm(t, a, tg_ones(t, TG_F32, 1, (int64_t[]){2}), x), TG_ERR_SHAPE,
                 "spmm: the values must be (3)");
    expect_error(t, tg_spmm(t, a, v, g), TG_ERR_SHAPE, "spmm: x must be (3, N)");
    expect_error(t, tg_spmm_t(t, a, v, x), TG_ERR_SHAPE, "spmm_t: x must be (2, N)");
    expect_error(t, tg_spmm(t, a, tg_ones(t, TG_F64, 1, (int64_t[]){3}), x), TG_ERR_DTYPE,
                 "spmm");
    expect_error(t, tg_sddmm(t, a, g, tg_ones(t, TG_F32, 2, (int64_t[]){3, 5})), TG_ERR_SHAPE,
                 "sddmm");
    expect_error(t, tg_sddmm(t, a, x, x), TG_ERR_SHAPE, "sddmm: p must be (2, N)");
    ck_assert_ptr_null(tg_spmm(t, a, NULL, x));
    /* The good calls work on the same operands. */
    tg_tensor *y = tg_spmm(t, a, v, x);
    ck_assert_ptr_nonnull(y);
    const double want[] = {2, 2, 2, 2, 1, 1, 1, 1};
    ck_assert_tensor_near(y, want, 8, 0.0);
    tg_tape_free(t);
    tg_csr_free(a);
}
END_TEST

/* The allocator fails from the first call on: making a pattern reports TG_ERR_NOMEM. */
static void *no_malloc(size_t size, void *user) {
    (void)size;
    (void)user;
    return NULL;
}
static void plain_free(void *p, void *user) {
    (void)user;
    free(p);
}

START_TEST(out_of_memory_is_reported) {
    tg_error err = {0};
    const int32_t rp[] = {0, 1}, col[] = {0};
    tg_set_allocator(&(tg_allocator){no_malloc, plain_free, NULL});
    tg_csr *a = tg_csr_from_arrays(1, 1, rp, col, &err);
    tg_set_allocator(NULL);
    ck_assert_ptr_null(a);
    ck_assert_int_eq(err.status, TG_ERR_NOMEM);
}
END_TEST

int main(void) {
    Suite *s = suite_create("ops_sparse");
    TCase *tc = tcase_create("sparse");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, products_every_path, TG_F32, TG_F64 + 1);
    tcase_add_test(tc, patterns_and_their_arrays);
    tcase_add_test(tc, bad_patterns_are_refused);
    tcase_add_test(tc, bad_operands_are_refused);
    tcase_add_test(tc, out_of_memory_is_reported);
    suite_add_tcase(s, tc);
    return tg_test_run(s);
}
