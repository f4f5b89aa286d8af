/* gemm_avx2.c: the AVX2+FMA GEMM kernels (f32 and f64): micro- and direct kernels from the
 * gemm_simd.h template, and the in-register transposes used for packing.
 *
 * Only the functions here carry target("avx2,fma"); the driver calls them only when cpu.c
 * found the features. Tiles: packed 6 rows x 2 vectors (12 of the 16 ymm registers
 * accumulate); direct 6 x 2 and 12 x 1 vectors; dot form 3 x 3 entries. */
#include "gemm.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#define TARGET        __attribute__((target("avx2,fma")))
#define MAIN_MR       6
#define MAIN_NV       2
#define DIRECT_ROWS   6
#define DIRECT_VECS   2
#define DIRECT_ROWS_1 12
#define DOT_ROWS      3
#define DOT_COLS      3

#include "simd_avx2.h"
#define FN(name) name##_avx2_f32
#include "gemm_simd.h"
#undef FN

#define SIMD_F64
#include "simd_avx2.h"
#define FN(name) name##_avx2_f64
#include "gemm_simd.h"

/* Transposing copies (dst[k*ds + r] = src[r*ss + k]) for packing a row-major A or a
 * column-major B: 8 x 8 (f32) or 4 x 4 (f64) blocks in registers. Rows from `rows` to
 * `lanes` come out zero. Whole blocks are read with plain loads, and a partial vector (the
 * 6-row panels of A) is written in halves and quarters: vmaskmov stores are slow on AMD's
 * AVX2 cores, and they were every store of a row-major A's packing. */

static TARGET void transpose_avx2_f32(const void *srcv, int64_t ss, int rows, int lanes,
                                      int64_t cols, void *dstv, int64_t ds) {
    const float *src = srcv;
    float *dst = dstv;
    for (int64_t k0 = 0; k0 < cols; k0 += 8) {
        int n = cols - k0 < 8 ? (int)(cols - k0) : 8;
        __m256i in = kern_avx2_first_lanes(n);
        __m256 v[8], t[8], u[8], col[8];
        for (int r = 0; r < 8; r++)
            v[r] = r >= rows ? _mm256_setzero_ps()
                   : n == 8  ? _mm256_loadu_ps(src + r * ss + k0)
                             : _mm256_maskload_ps(src + r * ss + k0, in);
        /* Pairs of rows interleaved, then pairs of pairs: u[4h + c] holds, in each 128-bit
         * lane l, column 4l+c of rows 4h..4h+3. */
        for (int p = 0; p < 4; p++) {
            t[2 * p] = _mm256_unpacklo_ps(v[2 * p], v[2 * p + 1]);
            t[2 * p + 1] = _mm256_unpackhi_ps(v[2 * p], v[2 * p + 1]);
        }
        for (int h = 0; h < 2; h++) {
            u[4 * h + 0] = _mm256_shuffle_ps(t[4 * h], t[4 * h + 2], 0x44);
            u[4 * h + 1] = _mm256_shuffle_ps(t[4 * h], t[4 * h + 2], 0xee);
            u[4 * h + 2] = _mm256_shuffle_ps(t[4 * h + 1], t[4 * h + 3], 0x44);
            u[4 * h + 3] = _mm256_shuffle_ps(t[4 * h + 1], t[4 * h + 3], 0xee);
        }
        for (int c = 0; c < 4; c++) {
            col[c] = _mm256_permute2f128_ps(u[c], u[4 + c], 0x20);
            col[4 + c] = _mm256_permute2f128_ps(u[c], u[4 + c], 0x31);
        }
        for (int j = 0; j < n; j++) kern_avx2_store_first(dst + (k0 + j) * ds, lanes, col[j]);
    }
}

static TARGET void transpose_avx2_f64(const void *srcv, int64_t ss, int rows, int lanes,
                                      int64_t cols, void *dstv, int64_t ds) {
    const double *src = srcv;
    double *dst = dstv;
    for (int64_t k0 = 0; k0 < cols; k0 += 4) {
        int n = cols - k0 < 4 ? (int)(cols - k0) : 4;
        __m256i in = _mm256_cmpgt_epi64(_mm256_set1_epi64x(n), _mm256_setr_epi64x(0, 1, 2, 3));
        __m256d v[4], col[4];
        for (int r = 0; r < 4; r++)
            v[r] = r >= rows ? _mm256_setzero_pd()
                   : n == 4  ? _mm256_loadu_pd(src + r * ss + k0)
                             : _mm256_maskload_pd(src + r * ss + k0, in);
        __m256d t0 = _mm256_unpacklo_pd(v[0], v[1]), t1 = _mm256_unpackhi_pd(v[0], v[1]);
        __m256d t2 = _mm256_unpacklo_pd(v[2], v[3]), t3 = _mm256_unpackhi_pd(v[2], v[3]);
        col[0] = _mm256_permute2f128_pd(t0, t2, 0x20);
        col[1] = _mm256_permute2f128_pd(t1, t3, 0x20);
        col[2] = _mm256_permute2f128_pd(t0, t2, 0x31);
        col[3] = _mm256_permute2f128_pd(t1, t3, 0x31);
        for (int j = 0; j < n; j++) kern_avx2_store_first_f64(dst + (k0 + j) * ds, lanes, col[j]);
    }
}

/* Blocking as for AVX-512 (gemm_avx512.c), with mc a multiple of 6. */
const gemm_impl gemm_avx2_f32 = {
    .packed = {MAIN_MR, MAIN_NV * 8, 1024, 120, 2048, ukr_main_avx2_f32},
    .transpose = transpose_avx2_f32,
    .transpose_lanes = 8,
    .direct = direct_avx2_f32,
    .direct_unit_b = true,
    .dot = dot_avx2_f32,
    .direct_lanes = 8,
    .direct_kc = 256,
    .direct_mr = DIRECT_ROWS,
    .direct_nr = DIRECT_VECS * 8,
};

const gemm_impl gemm_avx2_f64 = {
    .packed = {MAIN_MR, MAIN_NV * 4, 512, 120, 2048, ukr_main_avx2_f64},
    .transpose = transpose_avx2_f64,
    .transpose_lanes = 4,
    .direct = direct_avx2_f64,
    .direct_unit_b = true,
    .dot = dot_avx2_f64,
    .direct_lanes = 4,
    .direct_kc = 256,
    .direct_mr = DIRECT_ROWS,
    .direct_nr = DIRECT_VECS * 4,
};
#endif
