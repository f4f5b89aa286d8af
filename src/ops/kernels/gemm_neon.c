/* gemm_neon.c: the AArch64 NEON GEMM kernels (f32 and f64): micro- and direct kernels from the
 * gemm_simd.h template. Built only for AArch64 (src/ops/kernels/meson.build), where NEON is
 * part of the baseline, so nothing here needs a target attribute.
 *
 * 32 registers of 4 floats (2 doubles). Tiles: packed 8 rows x 3 vectors (24 accumulate);
 * direct 6 x 4 and 12 x 1 vectors; dot form 4 x 4 entries. NEON has no masked loads: a "mask"
 * is the number of leading lanes, read and written element by element (neon_util.h). Packing
 * uses the driver's scalar loops (no transposer at this level). */
#include "gemm.h"

#include "neon_util.h"

#define TARGET
#define MAIN_MR       8
#define MAIN_NV       3
#define DIRECT_ROWS   6
#define DIRECT_VECS   4
#define DIRECT_ROWS_1 12
#define DOT_ROWS      4
#define DOT_COLS      4
#define MASK          int
#define MASK_FIRST(n) (n)
/* vfmaq(c, a, b) is c + a * b: the template's VFMA(a, b, c) = a * b + c. */

#define T                float
#define V                float32x4_t
#define VL               4
#define VLOAD            vld1q_f32
#define VSTORE           vst1q_f32
#define VSET1            vdupq_n_f32
#define VZERO()          vdupq_n_f32(0.0f)
#define VFMA(a, b, c)    vfmaq_f32(c, a, b)
#define VADD             vaddq_f32
#define VLOADM(p, m)     kern_neon_load_first_f32(p, m)
#define VSTOREM(p, m, v) kern_neon_store_first_f32(p, m, v)
#define VHSUM            vaddvq_f32
#define FN(name)         name##_neon_f32
#include "gemm_simd.h"
#undef T
#undef V
#undef VL
#undef VLOAD
#undef VSTORE
#undef VSET1
#undef VZERO
#undef VFMA
#undef VADD
#undef VLOADM
#undef VSTOREM
#undef VHSUM
#undef FN

#define T                double
#define V                float64x2_t
#define VL               2
#define VLOAD            vld1q_f64
#define VSTORE           vst1q_f64
#define VSET1            vdupq_n_f64
#define VZERO()          vdupq_n_f64(0.0)
#define VFMA(a, b, c)    vfmaq_f64(c, a, b)
#define VADD             vaddq_f64
#define VLOADM(p, m)     kern_neon_load_first_f64(p, m)
#define VSTOREM(p, m, v) kern_neon_store_first_f64(p, m, v)
#define VHSUM            vaddvq_f64
#define FN(name)         name##_neon_f64
#include "gemm_simd.h"

/* Blocking: an 8 x 512 A panel (16 KB) stays in L1 beside the B micro-panel; mc a multiple of
 * 8 and nc of 12 (f32) and 6 (f64). Not tuned on ARM hardware (none here). */
const gemm_impl gemm_neon_f32 = {
    .packed = {MAIN_MR, MAIN_NV * 4, 512, 128, 2040, ukr_main_neon_f32},
    .transpose = NULL,
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
    .transpose = NULL,
    .direct = direct_neon_f64,
    .direct_unit_b = true,
    .dot = dot_neon_f64,
    .direct_lanes = 2,
    .direct_kc = 256,
    .direct_mr = DIRECT_ROWS,
    .direct_nr = DIRECT_VECS * 2,
};
