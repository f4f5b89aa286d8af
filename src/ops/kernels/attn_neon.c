/* attn_neon.c: the AArch64 NEON instance of the fused causal-attention kernels (attn_simd.h),
 * f32. NEON is part of the AArch64 baseline, so nothing here needs a target attribute. Tiles,
 * for 32 registers of 4 floats: scores 4 rows x 4 vectors, products 8 rows x 2 vectors. */
#include "attn.h"

#if defined(__aarch64__)
#include <arm_neon.h>
#include <math.h>

#include "neon_util.h"

/* p 2^n for whole n in [-159, 0]: 2^n as two normal halves, so a denormal result rounds once. */
static inline float32x4_t attn_scale2_neon(float32x4_t p, float32x4_t n) {
    int32x4_t ni = vcvtnq_s32_f32(n);
    int32x4_t n1 = vshrq_n_s32(ni, 1), n2 = vsubq_s32(ni, n1);
    float32x4_t s1 = vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(n1, vdupq_n_s32(127)), 23));
    float32x4_t s2 = vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(n2, vdupq_n_s32(127)), 23));
    return vmulq_f32(vmulq_f32(p, s1), s2);
}

#include "simd_neon.h"
#define ATTN_LEVEL       kern_attn_neon_f32
#define TARGET
#define FN(name)         attn_##name##_neon
#define VSUB             vsubq_f32
#define VMUL             vmulq_f32
#define VDIV             vdivq_f32
#define VMAX             vmaxq_f32
#define VHMAX            vmaxvq_f32
#define ATTN_VEXP        1
#define VROUND           vrndnq_f32
#define VSCALE2          attn_scale2_neon
#define A_ROWS           4
#define A_VECS           4
#define B_VECS           2
#include "attn_simd.h"
#endif
