/* spmm_neon.c: the AArch64 NEON sparse kernels (f32 and f64) from the spmm_simd.h template.
 * Built only for AArch64 (src/ops/kernels/meson.build), where NEON is always there. */
#include "spmm.h"

#include "neon_util.h"

#define TARGET
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
#define VHSUM            vaddvq_f32
#define VLOADN(p, n)     kern_neon_load_first_f32(p, n)
#define VSTOREN(p, n, v) kern_neon_store_first_f32(p, n, v)
#define VGATHER(x, c)    kern_neon_gather_f32(x, c)
#define FN(name)         name##_neon_f32
#include "spmm_simd.h"
#undef T
#undef V
#undef VL
#undef VLOAD
#undef VSTORE
#undef VSET1
#undef VZERO
#undef VFMA
#undef VADD
#undef VHSUM
#undef VLOADN
#undef VSTOREN
#undef VGATHER
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
#define VHSUM            vaddvq_f64
#define VLOADN(p, n)     kern_neon_load_first_f64(p, n)
#define VSTOREN(p, n, v) kern_neon_store_first_f64(p, n, v)
#define VGATHER(x, c)    kern_neon_gather_f64(x, c)
#define FN(name)         name##_neon_f64
#include "spmm_simd.h"
