/* gemm_neon.c: the AArch64 NEON GEMM kernels (f32 and f64): micro- and direct kernels from the
 * gemm_simd.h template. Built only for AArch64 (src/ops/kernels/meson.build), where NEON is
 * part of the baseline, so nothing here needs a target attribute.
 *
 * 32 registers of 4 floats (2 doubles). Tiles: packed 8 rows x 3 vectors (24 accumulate);
 * direct 6 x 4 and 12 x 1 vectors; dot form 4 x 4 entries. NEON has no masked loads: a "mask"
 * is the number of leading lanes, read and written element by element (neon_util.h). Packing
 * a row-major A or a column-major B transposes 4 x 4 (f32) or 2 x 2 (f64) blocks in
 * registers. */
#include "gemm.h"

#define TARGET
#define MAIN_MR       8
#define MAIN_NV       3
#define DIRECT_ROWS   6
#define DIRECT_VECS   4
#define DIRECT_ROWS_1 12
#define DOT_ROWS      4
#define DOT_COLS      4

#include "simd_neon.h"
#define FN(name) name##_neon_f32
#include "gemm_simd.h"
#undef FN

#define SIMD_F64
#include "simd_neon.h"
#define FN(name) name##_neon_f64
#include "gemm_simd.h"

/* Transposing copies (dst[k*ds + r] = src[r*ss + k]) for packing a row-major A or a
 * column-major B: 4 x 4 (f32) or 2 x 2 (f64) blocks in registers, where element by element
 * every value cost a load and a store of its own. Rows from `rows` to `lanes` come out zero;
 * a block's last columns past `cols` are neither read nor written. */

static void transpose_neon_f32(const void *srcv, int64_t ss, int rows, int lanes, int64_t cols,
                               void *dstv, int64_t ds) {
    const float *src = srcv;
    float *dst = dstv;
    for (int64_t k0 = 0; k0 < cols; k0 += 4) {
        int n = cols - k0 < 4 ? (int)(cols - k0) : 4;
        float32x4_t v[4];
        for (int r = 0; r < 4; r++)
            v[r] = r < rows ? kern_neon_load_first_f32(src + r * ss + k0, n) : vdupq_n_f32(0.0f);
        /* Pairs of rows interleaved (t0: columns 0 and 2 of rows 0, 1; t1: columns 1 and 3),
         * then the 64-bit halves of the pairs: col[c] holds column c of rows 0-3. */
        float32x4_t t0 = vtrn1q_f32(v[0], v[1]), t1 = vtrn2q_f32(v[0], v[1]);
        float32x4_t t2 = vtrn1q_f32(v[2], v[3]), t3 = vtrn2q_f32(v[2], v[3]);
        float64x2_t d0 = vreinterpretq_f64_f32(t0), d1 = vreinterpretq_f64_f32(t1);
        float64x2_t d2 = vreinterpretq_f64_f32(t2), d3 = vreinterpretq_f64_f32(t3);
        float32x4_t col[4] = {
            vreinterpretq_f32_f64(vtrn1q_f64(d0, d2)), vreinterpretq_f32_f64(vtrn1q_f64(d1, d3)),
            vreinterpretq_f32_f64(vtrn2q_f64(d0, d2)), vreinterpretq_f32_f64(vtrn2q_f64(d1, d3))};
        for (int j = 0; j < n; j++) kern_neon_store_first_f32(dst + (k0 + j) * ds, lanes, col[j]);
    }
}

static void transpose_neon_f64(const void *srcv, int64_t ss, int rows, int lanes, int64_t cols,
                               void *dstv, int64_t ds) {
    const double *src = srcv;
    double *dst = dstv;
    for (int64_t k0 = 0; k0 < cols; k0 += 2) {
        int n = cols - k0 < 2 ? (int)(cols - k0) : 2;
        float64x2_t v0 = rows > 0 ? kern_neon_load_first_f64(src + k0, n) : vdupq_n_f64(0.0);
        float64x2_t v1 = rows > 1 ? kern_neon_load_first_f64(src + ss + k0, n) : vdupq_n_f64(0.0);
        float64x2_t col[2] = {vtrn1q_f64(v0, v1), vtrn2q_f64(v0, v1)};
        for (int j = 0; j < n; j++) kern_neon_store_first_f64(dst + (k0 + j) * ds, lanes, col[j]);
    }
}

/* Blocking: an 8 x 512 A panel (16 KB) stays in L1 beside the B micro-panel; mc a multiple of
 * 8 and nc of 12 (f32) and 6 (f64). Not tuned on ARM hardware (none here). */
const gemm_impl gemm_neon_f32 = {
    .packed = {MAIN_MR, MAIN_NV * 4, 512, 128, 2040, ukr_main_neon_f32},
    .transpose = transpose_neon_f32,
    .transpose_lanes = 4,
    .direct = direct_neon_f32,
    .direct_unit_b = true,
    .dot = dot_neon_f32,
    .direct_lanes = 4,
    .direct_kc = 256,
    .direct_mr = DIRECT_ROWS,
    .direct_nr = DIRECT_VECS * 4,
};

const gemm_impl gemm_neon_f64 = {
    .packed = {MAIN_MR, MAIN_NV * 2, 256, 64, 2040, ukr_main_neon_f64},
    .transpose = transpose_neon_f64,
    .transpose_lanes = 2,
    .direct = direct_neon_f64,
    .direct_unit_b = true,
    .dot = dot_neon_f64,
    .direct_lanes = 2,
    .direct_kc = 256,
    .direct_mr = DIRECT_ROWS,
    .direct_nr = DIRECT_VECS * 2,
};
