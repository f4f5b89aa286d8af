/* vec_f32.c: the f32 SIMD loops of vec.h, instantiated from the vec_f32.h template for AVX-512,
 * for AVX2 + FMA and for AArch64 NEON, and the dispatchers that pick one by kern_cpu_level().
 *
 * On x86-64 only the functions made here carry target attributes; the library is built for
 * the baseline and reaches them only through kern_cpu_level(), which never names a level the
 * CPU lacks. NEON is part of the AArch64 baseline. On other architectures every dispatcher
 * returns false. */
#include <math.h>
#include <stdint.h>

#include "cpu.h"
#include "vec.h"
#include "window.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define TG_VEC_X86 1

/* ---- AVX-512 ---- */
/* Elements 0, 2, ..., 2 (n - 1) of p in the first n lanes (1 <= n <= 16), reading p[0] to
 * p[2n - 2] only; the other lanes are 0. */
__attribute__((target("avx512f,avx512dq"))) static inline __m512
vec_load_even_avx512(const float *p, int n) {
    int k = 2 * n - 1;
    __mmask16 m1 = (__mmask16)(k >= 16 ? 0xffffu : (1u << k) - 1);
    __mmask16 m2 = (__mmask16)(k > 16 ? (1u << (k - 16)) - 1 : 0u);
    __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    return _mm512_permutex2var_ps(_mm512_maskz_loadu_ps(m1, p), even,
                                  _mm512_maskz_loadu_ps(m2, p + 16));
}

#define TARGET           __attribute__((target("avx512f,avx512dq")))
#define V                __m512
#define VI               __m512i
#define M                __mmask16
#define MANY(m)          ((m) != 0)
#define VL               16
#define FN(name)         vec_##name##_avx512
#define VADD             _mm512_add_ps
#define VSUB             _mm512_sub_ps
#define VMUL             _mm512_mul_ps
#define VDIV             _mm512_div_ps
#define VFMA             _mm512_fmadd_ps
#define VMAX             _mm512_max_ps
#define VMIN             _mm512_min_ps
#define VSET1            _mm512_set1_ps
#define VZERO            _mm512_setzero_ps
#define VLOAD            _mm512_loadu_ps
#define VSTORE           _mm512_storeu_ps
#define VLOADN(p, n)     _mm512_maskz_loadu_ps((__mmask16)((1u << (n)) - 1), p)
#define VSTOREN(p, n, v) _mm512_mask_storeu_ps(p, (__mmask16)((1u << (n)) - 1), v)
#define VAND             _mm512_and_ps
#define VOR              _mm512_or_ps
#define VXOR             _mm512_xor_ps
#define VABS             _mm512_abs_ps
#define VROUND(x)        _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#define VLT(a, b)        _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ)
#define VLE(a, b)        _mm512_cmp_ps_mask(a, b, _CMP_LE_OQ)
#define VGT(a, b)        _mm512_cmp_ps_mask(a, b, _CMP_GT_OQ)
#define VNE(a, b)        _mm512_cmp_ps_mask(a, b, _CMP_NEQ_UQ)
#define VNAN(a)          _mm512_cmp_ps_mask(a, a, _CMP_UNORD_Q)
#define MOR(a, b)        ((__mmask16)((a) | (b)))
#define VSEL(m, a, b)    _mm512_mask_blend_ps(m, b, a)
#define VI_SET1          _mm512_set1_epi32
#define VI_ADD           _mm512_add_epi32
#define VI_SUB           _mm512_sub_epi32
#define VI_SRAI1(x)      _mm512_srai_epi32(x, 1)
#define VI_SLLI23(x)     _mm512_slli_epi32(x, 23)
#define VCVT             _mm512_cvtps_epi32
#define VASF             _mm512_castsi512_ps
#define VD               __m512d
#define VD_ZERO          _mm512_setzero_pd
#define VD_ADD           _mm512_add_pd
#define VD_LOAD          _mm512_loadu_pd
#define VD_STORE         _mm512_storeu_pd
#define VD_CVT_LO(v)     _mm512_cvtps_pd(_mm512_castps512_ps256(v))
#define VD_CVT_HI(v)                                                                               \
    _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)))
#define VD_HSUM _mm512_reduce_add_pd
#define VD_SUB  _mm512_sub_pd
#define VD_SET1 _mm512_set1_pd
#define VD_MUL  _mm512_mul_pd
#define VD_FMA  _mm512_fmadd_pd
#define VF_FROM_VD2(lo, hi)                                                                        \
    _mm512_insertf32x8(_mm512_castps256_ps512(_mm512_cvtpd_ps(lo)), _mm512_cvtpd_ps(hi), 1)
#define MFIRST(n) ((__mmask16)((1u << (n)) - 1))
#define VLOAD_LANES(p, lo, hi)                                                                     \
    _mm512_maskz_loadu_ps((__mmask16)(((1u << (hi)) - 1) & ~((1u << (lo)) - 1)), p)
#define MANDNOT(a, b)      ((__mmask16)((a) & ~(b)))
#define VI_IOTA            _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)
#define VI_MULLO           _mm512_mullo_epi32
#define VI_MIN             _mm512_min_epi32
#define VI_STORE(p, v)     _mm512_storeu_si512((void *)(p), v)
#define VGATHER(base, vi)  _mm512_i32gather_ps(vi, base, 4)
#define VISEL(m, a, b)     _mm512_mask_blend_epi32(m, b, a)
#define VLOAD_EVEN_N(p, n) vec_load_even_avx512(p, n)
#include "vec_f32.h"

/* ---- AVX2 + FMA ---- */
/* The sum of a double vector's four lanes. */
__attribute__((target("avx2,fma"))) static inline double vec_hsum_avx2(__m256d v) {
    __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}
/* The first n lanes, as the all-ones/all-zeros lanes masked loads and stores take. */
__attribute__((target("avx2,fma"))) static inline __m256i vec_first_avx2(int n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* Elements 0, 2, ..., 2 (n - 1) of p in the first n lanes (1 <= n <= 8), reading p[0] to
 * p[2n - 2] only; the other lanes are 0. */
__attribute__((target("avx2,fma"))) static inline __m256 vec_load_even_avx2(const float *p, int n) {
    int k = 2 * n - 1;
    __m256 a = _mm256_maskload_ps(p, vec_first_avx2(k < 8 ? k : 8));
    __m256 b = _mm256_maskload_ps(p + 8, vec_first_avx2(k > 8 ? k - 8 : 0));
    __m256 t = _mm256_shuffle_ps(a, b, 0x88); /* a0 a2 b0 b2 | a4 a6 b4 b6 */
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(t), 0xD8));
}
#define TARGET           __attribute__((target("avx2,fma")))
#define V                __m256
#define VI               __m256i
#define M                __m256
#define MANY(m)          (_mm256_movemask_ps(m) != 0)
#define VL               8
#define FN(name)         vec_##name##_avx2
#define VADD             _mm256_add_ps
#define VSUB             _mm256_sub_ps
#define VMUL             _mm256_mul_ps
#define VDIV             _mm256_div_ps
#define VFMA             _mm256_fmadd_ps
#define VMAX             _mm256_max_ps
#define VMIN             _mm256_min_ps
#define VSET1            _mm256_set1_ps
#define VZERO            _mm256_setzero_ps
#define VLOAD            _mm256_loadu_ps
#define VSTORE           _mm256_storeu_ps
#define VLOADN(p, n)     _mm256_maskload_ps(p, vec_first_avx2(n))
#define VSTOREN(p, n, v) _mm256_maskstore_ps(p, vec_first_avx2(n), v)
#define VAND             _mm256_and_ps
#define VOR              _mm256_or_ps
#define VXOR             _mm256_xor_ps
#define VABS(x)          _mm256_andnot_ps(_mm256_set1_ps(-0.0f), x)
#define VROUND(x)        _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#define VLT(a, b)        _mm256_cmp_ps(a, b, _CMP_LT_OQ)
#define VLE(a, b)        _mm256_cmp_ps(a, b, _CMP_LE_OQ)
#define VGT(a, b)        _mm256_cmp_ps(a, b, _CMP_GT_OQ)
#define VNE(a, b)        _mm256_cmp_ps(a, b, _CMP_NEQ_UQ)
#define VNAN(a)          _mm256_cmp_ps(a, a, _CMP_UNORD_Q)
#define MOR              _mm256_or_ps
#define VSEL(m, a, b)    _mm256_blendv_ps(b, a, m)
#define VI_SET1          _mm256_set1_epi32
#define VI_ADD           _mm256_add_epi32
#define VI_SUB           _mm256_sub_epi32
#define VI_SRAI1(x)      _mm256_srai_epi32(x, 1)
#define VI_SLLI23(x)     _mm256_slli_epi32(x, 23)
#define VCVT             _mm256_cvtps_epi32
#define VASF             _mm256_castsi256_ps
#define VD               __m256d
#define VD_ZERO          _mm256_setzero_pd
#define VD_ADD           _mm256_add_pd
#define VD_LOAD          _mm256_loadu_pd
#define VD_STORE         _mm256_storeu_pd
#define VD_CVT_LO(v)     _mm256_cvtps_pd(_mm256_castps256_ps128(v))
#define VD_CVT_HI(v)     _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1))
#define VD_HSUM          vec_hsum_avx2
#define VD_SUB           _mm256_sub_pd
#define VD_SET1          _mm256_set1_pd
#define VD_MUL           _mm256_mul_pd
#define VD_FMA           _mm256_fmadd_pd
#define VF_FROM_VD2(lo, hi)                                                                        \
    _mm256_insertf128_ps(_mm256_castps128_ps256(_mm256_cvtpd_ps(lo)), _mm256_cvtpd_ps(hi), 1)
#define MFIRST(n) _mm256_castsi256_ps(vec_first_avx2(n))
#define VLOAD_LANES(p, lo, hi)                                                                     \
    _mm256_maskload_ps(p, _mm256_andnot_si256(vec_first_avx2(lo), vec_first_avx2(hi)))
#define MANDNOT(a, b)     _mm256_andnot_ps(b, a)
#define VI_IOTA           _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)
#define VI_MULLO          _mm256_mullo_epi32
#define VI_MIN            _mm256_min_epi32
#define VI_STORE(p, v)    _mm256_storeu_si256((__m256i *)(void *)(p), v)
#define VGATHER(base, vi) _mm256_i32gather_ps(base, vi, 4)
#define VISEL(m, a, b)                                                                             \
    _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(b), _mm256_castsi256_ps(a), m))
#define VLOAD_EVEN_N(p, n) vec_load_even_avx2(p, n)
#include "vec_f32.h"

#elif defined(__aarch64__)
#include "neon_util.h"
#define TG_VEC_NEON 1

/* ---- NEON (AArch64) ---- */
/* Bitwise operations on floats, through their bits. */
static inline float32x4_t vec_and_neon(float32x4_t a, float32x4_t b) {
    return vreinterpretq_f32_u32(vandq_u32(vreinterpretq_u32_f32(a), vreinterpretq_u32_f32(b)));
}
static inline float32x4_t vec_or_neon(float32x4_t a, float32x4_t b) {
    return vreinterpretq_f32_u32(vorrq_u32(vreinterpretq_u32_f32(a), vreinterpretq_u32_f32(b)));
}
static inline float32x4_t vec_xor_neon(float32x4_t a, float32x4_t b) {
    return vreinterpretq_f32_u32(veorq_u32(vreinterpretq_u32_f32(a), vreinterpretq_u32_f32(b)));
}
static inline int32x4_t vec_iota_neon(void) {
    static const int32_t iota[4] = {0, 1, 2, 3};
    return vld1q_s32(iota);
}
/* The first n lanes, as the all-ones/all-zeros lanes that vbslq selects with. */
static inline uint32x4_t vec_first_neon(int n) {
    return vcltq_s32(vec_iota_neon(), vdupq_n_s32(n));
}
/* Lanes [lo, hi) of p, the others 0; no element outside them is read (p itself may lie before
 * the buffer). */
static inline float32x4_t vec_load_lanes_neon(const float *p, int lo, int hi) {
    float t[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    for (int l = lo; l < hi; l++) t[l] = p[l];
    return vld1q_f32(t);
}
/* base[vi[0]], ..., base[vi[3]]: NEON has no gather. */
static inline float32x4_t vec_gather_neon(const float *base, int32x4_t vi) {
    int32_t k[4];
    vst1q_s32(k, vi);
    float t[4] = {base[k[0]], base[k[1]], base[k[2]], base[k[3]]};
    return vld1q_f32(t);
}
/* Elements 0, 2, ..., 2 (n - 1) of p in the first n lanes (1 <= n <= 4), reading p[0] to
 * p[2n - 2] only; the other lanes are 0. Four lanes take p[0..3] and p[3..6]. */
static inline float32x4_t vec_load_even_neon(const float *p, int n) {
    if (n == 4) {
        float32x4_t lo = vld1q_f32(p), hi = vld1q_f32(p + 3); /* p0 p1 p2 p3, p3 p4 p5 p6 */
        return vcombine_f32(vget_low_f32(vuzp1q_f32(lo, lo)), vget_low_f32(vuzp2q_f32(hi, hi)));
    }
    float t[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    for (int l = 0; l < n; l++) t[l] = p[2 * l];
    return vld1q_f32(t);
}
/* Every comparison is ordered (false when either side is NaN), as the x86 forms ask for; VNE
 * and VNAN are their complements, true for NaN. vmaxq/vminq return NaN when either side is
 * NaN, where x86 returns the second operand: the template never depends on which (exp, gelu
 * and softmax select NaN inputs explicitly). */
#define TARGET
#define V                      float32x4_t
#define VI                     int32x4_t
#define M                      uint32x4_t
#define MANY(m)                (vmaxvq_u32(m) != 0)
#define VL                     4
#define FN(name)               vec_##name##_neon
#define VADD                   vaddq_f32
#define VSUB                   vsubq_f32
#define VMUL                   vmulq_f32
#define VDIV                   vdivq_f32
#define VFMA(a, b, c)          vfmaq_f32(c, a, b)
#define VMAX                   vmaxq_f32
#define VMIN                   vminq_f32
#define VSET1                  vdupq_n_f32
#define VZERO()                vdupq_n_f32(0.0f)
#define VLOAD                  vld1q_f32
#define VSTORE                 vst1q_f32
#define VLOADN(p, n)           kern_neon_load_first_f32(p, n)
#define VSTOREN(p, n, v)       kern_neon_store_first_f32(p, n, v)
#define VAND                   vec_and_neon
#define VOR                    vec_or_neon
#define VXOR                   vec_xor_neon
#define VABS                   vabsq_f32
#define VROUND                 vrndnq_f32
#define VLT                    vcltq_f32
#define VLE                    vcleq_f32
#define VGT                    vcgtq_f32
#define VNE(a, b)              vmvnq_u32(vceqq_f32(a, b))
#define VNAN(a)                vmvnq_u32(vceqq_f32(a, a))
#define MOR                    vorrq_u32
#define VSEL(m, a, b)          vbslq_f32(m, a, b)
#define VI_SET1                vdupq_n_s32
#define VI_ADD                 vaddq_s32
#define VI_SUB                 vsubq_s32
#define VI_SRAI1(x)            vshrq_n_s32(x, 1)
#define VI_SLLI23(x)           vshlq_n_s32(x, 23)
#define VCVT                   vcvtnq_s32_f32
#define VASF                   vreinterpretq_f32_s32
#define VD                     float64x2_t
#define VD_ZERO()              vdupq_n_f64(0.0)
#define VD_ADD                 vaddq_f64
#define VD_LOAD                vld1q_f64
#define VD_STORE               vst1q_f64
#define VD_CVT_LO(v)           vcvt_f64_f32(vget_low_f32(v))
#define VD_CVT_HI(v)           vcvt_high_f64_f32(v)
#define VD_HSUM                vaddvq_f64
#define VD_SUB                 vsubq_f64
#define VD_SET1                vdupq_n_f64
#define VD_MUL                 vmulq_f64
#define VD_FMA(a, b, c)        vfmaq_f64(c, a, b)
#define VF_FROM_VD2(lo, hi)    vcvt_high_f32_f64(vcvt_f32_f64(lo), hi)
#define MFIRST(n)              vec_first_neon(n)
#define VLOAD_LANES(p, lo, hi) vec_load_lanes_neon(p, lo, hi)
#define MANDNOT(a, b)          vbicq_u32(a, b)
#define VI_IOTA                vec_iota_neon()
#define VI_MULLO               vmulq_s32
#define VI_MIN                 vminq_s32
#define VI_STORE(p, v)         vst1q_s32(p, v)
#define VGATHER(base, vi)      vec_gather_neon(base, vi)
#define VISEL(m, a, b)         vbslq_s32(m, a, b)
#define VLOAD_EVEN_N(p, n)     vec_load_even_neon(p, n)
#include "vec_f32.h"
#endif

bool kern_vec_map_f32(kern_unary_kind k, int64_t n, const float *x, float *y, double a) {
#ifdef TG_VEC_X86
    tg_cpu_level l = kern_cpu_level();
    if (l >= TG_CPU_AVX512) return vec_map_avx512(k, n, x, y, (float)a);
    if (l >= TG_CPU_AVX2) return vec_map_avx2(k, n, x, y, (float)a);
#elif defined(TG_VEC_NEON)
    if (kern_cpu_level() == TG_CPU_NEON) return vec_map_neon(k, n, x, y, (float)a);
#else
    (void)k, (void)n, (void)x, (void)y, (void)a;
#endif
    return false;
}

bool kern_vec_zip_f32(kern_binary_kind k, int64_t n, const float *a, int64_t sa, const float *b,
                      int64_t sb, float *out) {
#ifdef TG_VEC_X86
    tg_cpu_level l = kern_cpu_level();
    if (l >= TG_CPU_AVX512) return vec_zip_avx512(k, n, a, sa, b, sb, out);
    if (l >= TG_CPU_AVX2) return vec_zip_avx2(k, n, a, sa, b, sb, out);
#elif defined(TG_VEC_NEON)
    if (kern_cpu_level() == TG_CPU_NEON) return vec_zip_neon(k, n, a, sa, b, sb, out);
#else
    (void)k, (void)n, (void)a, (void)sa, (void)b, (void)sb, (void)out;
#endif
    return false;
}

bool kern_vec_gelu_and_grad_f32(int64_t n, const float *x, float *y, float *d) {
#ifdef TG_VEC_X86
    tg_cpu_level l = kern_cpu_level();
    if (l >= TG_CPU_AVX512) return vec_gelu_and_grad_avx512(n, x, y, d), true;
    if (l >= TG_CPU_AVX2) return vec_gelu_and_grad_avx2(n, x, y, d), true;
#elif defined(TG_VEC_NEON)
    if (kern_cpu_level() == TG_CPU_NEON) return vec_gelu_and_grad_neon(n, x, y, d), true;
#else
    (void)n, (void)x, (void)y, (void)d;
#endif
    return false;
}

bool kern_vec_layer_norm_forward_f32(int64_t first, int64_t last, int64_t C, const float *x,
                                     const float *g, const float *b, double eps, float *y,
                                     double *stats) {
#ifdef TG_VEC_X86
    tg_cpu_level l = kern_cpu_level();
    if (l >= TG_CPU_AVX512) return vec_ln_forward_avx512(first, last, C, x, g, b, eps, y, stats), true;
    if (l >= TG_CPU_AVX2) return vec_ln_forward_avx2(first, last, C, x, g, b, eps, y, stats), true;
#elif defined(TG_VEC_NEON)
    if (kern_cpu_level() == TG_CPU_NEON)
        return vec_ln_forward_neon(first, last, C, x, g, b, eps, y, stats), true;
#else
    (void)first, (void)last, (void)C, (void)x, (void)g, (void)b, (void)eps, (void)y, (void)stats;
#endif
    return false;
}

bool kern_vec_layer_norm_backward_f32(int64_t first, int64_t last, int64_t C, const float *x,
                                      const float *g, const float *gy, const double *stats,
                                      float *dx, double *acc_g, double *acc_b) {
#ifdef TG_VEC_X86
    tg_cpu_level l = kern_cpu_level();
    if (l >= TG_CPU_AVX512)
        return vec_ln_backward_avx512(first, last, C, x, g, gy, stats, dx, acc_g, acc_b), true;
    if (l >= TG_CPU_AVX2)
        return vec_ln_backward_avx2(first, last, C, x, g, gy, stats, dx, acc_g, acc_b), true;
#elif defined(TG_VEC_NEON)
    if (kern_cpu_level() == TG_CPU_NEON)
        return vec_ln_backward_neon(first, last, C, x, g, gy, stats, dx, acc_g, acc_b), true;
#else
    (void)first, (void)last, (void)C, (void)x, (void)g, (void)gy, (void)stats, (void)dx,
        (void)acc_g, (void)acc_b;
#endif
    return false;
}

bool kern_vec_where_f32(int64_t n, const float *m, int64_t sm, const float *a, int64_t sa,
                        const float *b, int64_t sb, float *out) {
#ifdef TG_VEC_X86
    tg_cpu_level l = kern_cpu_level();
    if (l >= TG_CPU_AVX512) return vec_where_avx512(n, m, sm, a, sa, b, sb, out);
    if (l >= TG_CPU_AVX2) return vec_where_avx2(n, m, sm, a, sa, b, sb, out);
#elif defined(TG_VEC_NEON)
    if (kern_cpu_level() == TG_CPU_NEON) return vec_where_neon(n, m, sm, a, sa, b, sb, out);
#else
    (void)n, (void)m, (void)sm, (void)a, (void)sa, (void)b, (void)sb, (void)out;
#endif
    return false;
}

bool kern_vec_sum_f32(const float *x, int64_t n, double *sum) {
#ifdef TG_VEC_X86
    tg_cpu_level l = kern_cpu_level();
    if (l >= TG_CPU_AVX512) return *sum = vec_sum_avx512(x, n), true;
    if (l >= TG_CPU_AVX2) return *sum = vec_sum_avx2(x, n), true;
#elif defined(TG_VEC_NEON)
    if (kern_cpu_level() == TG_CPU_NEON) return *sum = vec_sum_neon(x, n), true;
#else
    (void)x, (void)n, (void)sum;
#endif
    return false;
}

bool kern_vec_sum_into_f32(double *acc, const float *x, int64_t n) {
#ifdef TG_VEC_X86
    tg_cpu_level l = kern_cpu_level();
    if (l >= TG_CPU_AVX512) return vec_sum_into_avx512(acc, x, n), true;
    if (l >= TG_CPU_AVX2) return vec_sum_into_avx2(acc, x, n), true;
#elif defined(TG_VEC_NEON)
    if (kern_cpu_level() == TG_CPU_NEON) return vec_sum_into_neon(acc, x, n), true;
#else
    (void)acc, (void)x, (void)n;
#endif
    return false;
}

bool kern_vec_lstm_forward_f32(const kern_lstm_fwd *f) {
#ifdef TG_VEC_X86
    tg_cpu_level l = kern_cpu_level();
    if (l >= TG_CPU_AVX512) return vec_lstm_forward_avx512(f), true;
    if (l >= TG_CPU_AVX2) return vec_lstm_forward_avx2(f), true;
#elif defined(TG_VEC_NEON)
    if (kern_cpu_level() == TG_CPU_NEON) return vec_lstm_forward_neon(f), true;
#else
    (void)f;
#endif
    return false;
}

bool kern_vec_lstm_backward_f32(const kern_lstm_bwd *b) {
#ifdef TG_VEC_X86
    tg_cpu_level l = kern_cpu_level();
    if (l >= TG_CPU_AVX512) return vec_lstm_backward_avx512(b), true;
    if (l >= TG_CPU_AVX2) return vec_lstm_backward_avx2(b), true;
#elif defined(TG_VEC_NEON)
    if (kern_cpu_level() == TG_CPU_NEON) return vec_lstm_backward_neon(b), true;
#else
    (void)b;
#endif
    return false;
}

bool kern_vec_im2col_f32(const kern_window *g, const float *image, float *cols, int64_t ld) {
    if (g->sw != 1) return false;
#ifdef TG_VEC_X86
    tg_cpu_level l = kern_cpu_level();
    if (l >= TG_CPU_AVX512) return vec_im2col_avx512(g, image, cols, ld), true;
    if (l >= TG_CPU_AVX2) return vec_im2col_avx2(g, image, cols, ld), true;
#elif defined(TG_VEC_NEON)
    if (kern_cpu_level() == TG_CPU_NEON) return vec_im2col_neon(g, image, cols, ld), true;
#else
    (void)g, (void)image, (void)cols, (void)ld;
#endif
    return false;
}

bool kern_vec_col2im_f32(const kern_window *g, const float *cols, int64_t ld, float *image) {
    if (g->sw != 1) return false;
#ifdef TG_VEC_X86
    tg_cpu_level l = kern_cpu_level();
    if (l >= TG_CPU_AVX512) return vec_col2im_avx512(g, cols, ld, image), true;
    if (l >= TG_CPU_AVX2) return vec_col2im_avx2(g, cols, ld, image), true;
#elif defined(TG_VEC_NEON)
    if (kern_cpu_level() == TG_CPU_NEON) return vec_col2im_neon(g, cols, ld, image), true;
#else
    (void)g, (void)cols, (void)ld, (void)image;
#endif
    return false;
}

bool kern_vec_softmax_row_f32(const float *x, int64_t n, float *out, bool log_form, double *stats) {
#ifdef TG_VEC_X86
    tg_cpu_level l = kern_cpu_level();
    if (l >= TG_CPU_AVX512) return vec_softmax_row_avx512(x, n, out, log_form, stats), true;
    if (l >= TG_CPU_AVX2) return vec_softmax_row_avx2(x, n, out, log_form, stats), true;
#elif defined(TG_VEC_NEON)
    if (kern_cpu_level() == TG_CPU_NEON)
        return vec_softmax_row_neon(x, n, out, log_form, stats), true;
#else
    (void)x, (void)n, (void)out, (void)log_form, (void)stats;
#endif
    return false;
}

bool kern_vec_select_max_f32(const float *p, int64_t first, int64_t sw, int64_t m,
                             const int64_t *offs, int n_offs, int64_t *idx) {
    int64_t last = first + (m - 1) * sw + offs[n_offs - 1];
    if (m <= 0 || first < 0 || last > INT32_MAX || sw > INT32_MAX) return false;
#ifdef TG_VEC_X86
    tg_cpu_level l = kern_cpu_level();
    if (l >= TG_CPU_AVX512) return vec_select_max_avx512(p, first, sw, m, offs, n_offs, idx);
    if (l >= TG_CPU_AVX2) return vec_select_max_avx2(p, first, sw, m, offs, n_offs, idx);
#elif defined(TG_VEC_NEON)
    if (kern_cpu_level() == TG_CPU_NEON)
        return vec_select_max_neon(p, first, sw, m, offs, n_offs, idx);
#else
    (void)p, (void)idx;
#endif
    return false;
}
