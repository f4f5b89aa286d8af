/* simd_neon.h: the vector vocabulary of the kernel templates (simd_avx512.h lists the names) in
 * AArch64 NEON words: f32 vectors of 4 lanes, or f64 vectors of 2 when the includer has defined
 * SIMD_F64. NEON has no masked loads or stores, so a "mask" is the count of first lanes and the
 * partial accesses are neon_util.h's. No include guard: include it again, with or without
 * SIMD_F64, for the next instantiation. */
#include <arm_neon.h>

#include "neon_util.h"
#include "simd_reset.h"

#ifndef SIMD_F64
#define T                float
#define V                float32x4_t
#define VL               4
#define VLOAD            vld1q_f32
#define VSTORE           vst1q_f32
#define VSET1            vdupq_n_f32
#define VZERO()          vdupq_n_f32(0.0f)
#define VFMA(a, b, c)    vfmaq_f32(c, a, b)
#define VADD             vaddq_f32
#define VHSUM            vaddvq_f32
#define VLOADM(p, m)     kern_neon_load_first_f32(p, m)
#define VSTOREM(p, m, v) kern_neon_store_first_f32(p, m, v)
#else
#define T                double
#define V                float64x2_t
#define VL               2
#define VLOAD            vld1q_f64
#define VSTORE           vst1q_f64
#define VSET1            vdupq_n_f64
#define VZERO()          vdupq_n_f64(0.0)
#define VFMA(a, b, c)    vfmaq_f64(c, a, b)
#define VADD             vaddq_f64
#define VHSUM            vaddvq_f64
#define VLOADM(p, m)     kern_neon_load_first_f64(p, m)
#define VSTOREM(p, m, v) kern_neon_store_first_f64(p, m, v)
#endif
#define MASK             int
#define MASK_FIRST(n)    (n)
#define VLOADN(p, n)     VLOADM(p, n)
#define VSTOREN(p, n, v) VSTOREM(p, n, v)
