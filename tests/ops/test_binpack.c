/* test_binpack.c: packed binary matrices and their products (tapegrad/binpack.h) through the
 * public API: packing a weight's signs (plain and scaled) against tg_binary_weight, the size
 * (1 bit per weight plus a scale per row), the products binmm and binxnor against the dense
 * product with the unpacked +-1 weights at every CPU level in f32 and f64, save and load (the
 * same bits back; truncated, padded and corrupt files refused with a reason), and the errors of
 * bad input. The gradients are proven by the op-case table. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test_util.h"

enum { ROWS = 13, COLS = 70, N = 5 };

/* Largest |a - b| over two tensors of the same shape, and the largest |b|. */
static double max_diff(const tg_tensor *a, const tg_tensor *b, double *scale) {
    double m = 0, s = 0;
    for (int64_t i = 0; i < tg_tensor_numel(a); i++) {
        m = fmax(m, fabs(tg_tensor_get(a, i) - tg_tensor_get(b, i)));
        s = fmax(s, fabs(tg_tensor_get(b, i)));
    }
    if (scale) *scale = s;
    return m;
}

START_TEST(pack_matches_the_binarised_weight) {
    tg_tape *t = tg_tape_new();
    tg_rng rng;
    tg_rng_seed(&rng, 5);
    tg_error err = {0};
    for (int d = 0; d < 2; d++) {
        tg_dtype dt = d ? TG_F64 : TG_F32;
        tg_tensor *w = tg_uniform(t, &rng, dt, TG_SHAPE(ROWS, COLS), -1.0, 1.0);
        ((d ? (void)(((double *)tg_tensor_data(w))[3] = 0.0)
            : (void)(((float *)tg_tensor_data(w))[3] = 0.0f)));
        for (int mode = 0; mode < 2; mode++) {
            tg_binpack *p = tg_binpack_from_weight(w, (tg_binary_mode)mode, &err);
            ck_assert_msg(p != NULL, "%s", err.message);
            ck_assert_int_eq(tg_binpack_rows(p), ROWS);
            ck_assert_int_eq(tg_binpack_cols(p), COLS);
            ck_assert_int_eq(tg_binpack_words(p), 3);
            ck_assert_uint_eq(tg_binpack_bytes(p), ROWS * (4 + 3 * 4));
            tg_tensor *dense = tg_zeros(t, dt, TG_SHAPE(ROWS, COLS));
            ck_assert_int_eq(tg_binpack_unpack(p, dense, &err), TG_OK);
            tg_tensor *want = tg_binary_weight(t, w, (tg_binary_mode)mode);
            double s;
            ck_assert_double_le(max_diff(dense, want, &s), 1e-6 * s);
            ck_assert_double_eq(tg_tensor_get(dense, 3), tg_binpack_scale(p)[0]); /* 0 is +1 */
            /* the bits past the columns are 0 */
            for (int64_t o = 0; o < ROWS; o++)
                ck_assert_uint_eq(tg_binpack_bits(p)[o * 3 + 2] >> 6, 0);
            tg_binpack_free(p);
        }
        /* a transposed view packs its logical matrix */
        tg_tensor *v =
            tg_transpose(t, tg_uniform(t, &rng, dt, TG_SHAPE(COLS, ROWS), -1.0, 1.0), 0, 1);
        tg_binpack *p = tg_binpack_from_weight(v, TG_BINARY_SCALED, &err);
        tg_tensor *dense = tg_zeros(t, dt, TG_SHAPE(ROWS, COLS));
        ck_assert_int_eq(tg_binpack_unpack(p, dense, &err), TG_OK);
        double s;
        ck_assert_double_le(max_diff(dense, tg_binary_weight(t, v, TG_BINARY_SCALED), &s),
                            1e-6 * s);
        tg_binpack_free(p);
    }
    tg_tape_free(t);
}
END_TEST

/* binmm and binxnor against matmul with the unpacked weights, at each level, f32 and f64. */
START_TEST(products_match_the_dense_product) {
    tg_tape *t = tg_tape_new();
    tg_rng rng;
    tg_rng_seed(&rng, 9);
    tg_error err = {0};
    tg_tensor *w = tg_uniform(t, &rng, TG_F64, TG_SHAPE(ROWS, COLS), -1.0, 1.0);
    tg_binpack *p = tg_binpack_from_weight(w, TG_BINARY_SCALED, &err);
    ck_assert_ptr_nonnull(p);
    tg_tensor *wd = tg_zeros(t, TG_F64, TG_SHAPE(ROWS, COLS));
    ck_assert_int_eq(tg_binpack_unpack(p, wd, &err), TG_OK);
    for (int l = TG_CPU_PORTABLE; l < TG_TEST_N_LEVELS; l++) {
        if (!tg_test_enter_level((tg_cpu_level)l)) continue;
        for (int d = 0; d < 2; d++) {
            tg_dtype dt = d ? TG_F64 : TG_F32;
            double tol = d ? 1e-12 : 1e-5;
            /* x seen through a transposed view, so the op copies it to rows first */
            tg_tensor *x =
                tg_transpose(t, tg_uniform(t, &rng, dt, TG_SHAPE(COLS, N), -2.0, 2.0), 0, 1);
            tg_tensor *wt = tg_transpose(t, tg_cast(t, wd, dt), 0, 1);
            tg_tensor *y = tg_binmm(t, p, x), *want = tg_matmul(t, x, wt);
            tg_tensor *yx = tg_binxnor(t, p, x), *wantx = tg_matmul(t, tg_binarize(t, x), wt);
            ck_assert_msg(y && want && yx && wantx, "%s", tg_tape_error(t));
            double s, sx;
            double e = max_diff(y, want, &s), ex = max_diff(yx, wantx, &sx);
            ck_assert_msg(e <= tol * (1 + s), "level %s %s: binmm off by %g",
                          tg_cpu_level_name((tg_cpu_level)l), tg_dtype_name(dt), e);
            ck_assert_msg(ex <= tol * (1 + sx), "level %s %s: binxnor off by %g",
                          tg_cpu_level_name((tg_cpu_level)l), tg_dtype_name(dt), ex);
            /* binmm_t is the transposed product */
            tg_tensor *g = tg_uniform(t, &rng, dt, TG_SHAPE(N, ROWS), -1.0, 1.0);
            e = max_diff(tg_binmm_t(t, p, g), tg_matmul(t, g, tg_cast(t, wd, dt)), &s);
            ck_assert_double_le(e, tol * (1 + s));
        }
    }
    tg_set_cpu_level(TG_CPU_AVX512);
    ck_assert_ptr_nonnull(tg_binpack_kernel_name());
    tg_binpack_free(p);
    tg_tape_free(t);
}
END_TEST

static void write_bytes(const char *path, const unsigned char *b, size_t n) {
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(b, 1, n, f), n);
    fclose(f);
}

static unsigned char *read_bytes(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    unsigned char *b = malloc(1 << 16);
    *n = fread(b, 1, 1 << 16, f);
    fclose(f);
    return b;
}

/* Loading `bytes` (n of them) fails with status and a message containing text. */
static void refused(const char *path, const unsigned char *bytes, size_t n, tg_status status,
                    const char *text) {
    write_bytes(path, bytes, n);
    tg_error err = {0};
    ck_assert_ptr_null(tg_binpack_load(path, &err));
    ck_assert_int_eq(err.status, status);
    ck_assert_msg(strstr(err.message, text) != NULL, "message '%s' lacks '%s'", err.message, text);
}

START_TEST(save_and_load) {
    tg_tape *t = tg_tape_new();
    tg_rng rng;
    tg_rng_seed(&rng, 11);
    tg_error err = {0};
    tg_binpack *p = tg_binpack_from_weight(
        tg_uniform(t, &rng, TG_F32, TG_SHAPE(ROWS, COLS), -1.0, 1.0), TG_BINARY_SCALED, &err);
    char path[] = "/tmp/tg_binpack_XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    ck_assert_int_eq(tg_binpack_save(p, path, &err), TG_OK);
    size_t n;
    unsigned char *bytes = read_bytes(path, &n);
    ck_assert_uint_eq(n, 32 + tg_binpack_bytes(p));
    tg_binpack *q = tg_binpack_load(path, &err);
    ck_assert_msg(q != NULL, "%s", err.message);
    ck_assert_int_eq(tg_binpack_rows(q), ROWS);
    ck_assert_int_eq(tg_binpack_cols(q), COLS);
    ck_assert_mem_eq(tg_binpack_bits(q), tg_binpack_bits(p), ROWS * 3 * 4);
    ck_assert_mem_eq(tg_binpack_scale(q), tg_binpack_scale(p), ROWS * 4);
    tg_binpack_free(q);

    unsigned char *bad = malloc(n + 1);
    memcpy(bad, bytes, n);
    refused(path, bad, 20, TG_ERR_FORMAT, "shorter than its header");
    refused(path, bad, n - 1, TG_ERR_FORMAT, "length");
    bad[n] = 0;
    refused(path, bad, n + 1, TG_ERR_FORMAT, "length");
    bad[0] = 'X';
    refused(path, bad, n, TG_ERR_FORMAT, "magic");
    bad[0] = bytes[0];
    bad[30] = 1;
    refused(path, bad, n, TG_ERR_FORMAT, "reserved");
    bad[30] = 0;
    bad[8 + 7] = 0x80; /* rows negative */
    refused(path, bad, n, TG_ERR_FORMAT, "sizes");
    bad[8 + 7] = 0;
    bad[32 + 4 * ROWS + 11] = 0x80; /* row 0's third word: bit 31, past the 70 columns */
    refused(path, bad, n, TG_ERR_FORMAT, "past the columns");
    bad[32 + 4 * ROWS + 11] = bytes[32 + 4 * ROWS + 11];
    bad[32 + 3] = 0x7f, bad[32 + 2] = 0xc0; /* scale 0 = NaN */
    refused(path, bad, n, TG_ERR_FORMAT, "not finite");
    remove(path);
    ck_assert_ptr_null(tg_binpack_load(path, &err));
    ck_assert_int_eq(err.status, TG_ERR_IO);
    ck_assert_int_eq(tg_binpack_save(p, "/no-such-dir/x.tgbin", &err), TG_ERR_IO);
    free(bad);
    free(bytes);
    tg_binpack_free(p);
    tg_tape_free(t);
}
END_TEST

START_TEST(bad_input) {
    tg_tape *t = tg_tape_new();
    tg_error err = {0};
    ck_assert_ptr_null(tg_binpack_from_weight(NULL, TG_BINARY_PLAIN, &err));
    ck_assert_int_eq(err.status, TG_ERR_NULL);
    ck_assert_ptr_null(
        tg_binpack_from_weight(tg_zeros(t, TG_F32, TG_SHAPE(4)), TG_BINARY_PLAIN, &err));
    ck_assert_int_eq(err.status, TG_ERR_SHAPE);
    tg_tensor *w = tg_zeros(t, TG_F32, TG_SHAPE(3, 40));
    ck_assert_ptr_null(tg_binpack_from_weight(w, (tg_binary_mode)9, &err));
    ck_assert_int_eq(err.status, TG_ERR_ARG);
    const uint32_t bits[2] = {1, 0x100};
    const float scale[1] = {1.0f}, nan_scale[1] = {NAN};
    ck_assert_ptr_null(tg_binpack_from_arrays(1, 40, bits, scale, &err));
    ck_assert_ptr_nonnull(strstr(err.message, "past the columns"));
    ck_assert_ptr_null(tg_binpack_from_arrays(1, 41, bits, nan_scale, &err));
    ck_assert_ptr_null(tg_binpack_from_arrays(0, 41, bits, scale, &err));
    ck_assert_ptr_null(tg_binpack_from_arrays(1, 41, NULL, scale, &err));
    ck_assert_int_eq(err.status, TG_ERR_NULL);
    tg_binpack *p = tg_binpack_from_arrays(1, 41, bits, scale, &err);
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(tg_binpack_unpack(p, w, &err), TG_ERR_SHAPE);
    ck_assert_ptr_null(tg_binmm(t, p, tg_zeros(t, TG_F32, TG_SHAPE(2, 40))));
    ck_assert_int_eq(tg_tape_status(t), TG_ERR_SHAPE);
    ck_assert_ptr_nonnull(strstr(tg_tape_error(t), "binmm: x must be (N, 41)"));
    tg_tape_clear_error(t);
    ck_assert_ptr_null(tg_binxnor(t, NULL, tg_zeros(t, TG_F32, TG_SHAPE(2, 41))));
    ck_assert_int_eq(tg_tape_status(t), TG_ERR_NULL);
    tg_tape_clear_error(t);
    ck_assert_ptr_null(tg_binmm_t(t, p, tg_zeros(t, TG_F32, TG_SHAPE(2, 41))));
    ck_assert_int_eq(tg_tape_status(t), TG_ERR_SHAPE);
    tg_tape_clear_error(t);
    ck_assert_ptr_null(tg_binmm(t, p, NULL)); /* an earlier failure: no new error */
    ck_assert_int_eq(tg_binpack_rows(NULL), 0);
    ck_assert_uint_eq(tg_binpack_bytes(NULL), 0);
    tg_binpack_free(NULL);
    tg_binpack_free(p);
    tg_tape_free(t);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("binpack");
    TCase *tc = tcase_create("binpack");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, pack_matches_the_binarised_weight);
    tcase_add_test(tc, products_match_the_dense_product);
    tcase_add_test(tc, save_and_load);
    tcase_add_test(tc, bad_input);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tg_test_run(suite()); }
