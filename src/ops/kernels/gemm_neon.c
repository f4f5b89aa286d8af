/* gemm_neon.c: the AArch64 NEON GEMM kernels (f32 and f64): micro- and direct kernels from the
 * gemm_simd.h template. Built only for AArch64 (src/ops/kernels/meson.build), where NEON is
 * part of the baseline, so nothing here needs a target attribute.
 *
 * 32 registers of 4 floats (2 doubles). Tiles: packed 8 rows x 3 vectors (24 accumulate);
 * direct 6 x 4 and 12 x 1 vectors; dot form 4 x 4 entries. NEON has no masked loads: a "mask"
 * is the number of leading lanes, read and written element by element (neon_util.h). Packing
 * uses the driver's scalar loops (no transposer at this level). */
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
