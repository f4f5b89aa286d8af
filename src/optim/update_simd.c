/* update_simd.c: the optimisers' update loops, f32 and f64, instantiated from the update_simd.h
 * template for AVX-512, for AVX2, for NEON (AArch64) and with one-lane "vectors" (the portable
 * path, which also finishes every vector loop's tail), and the dispatchers that pick one by
 * element type and kern_cpu_level().
 *
 * An update reads and writes about seven numbers per parameter and does a divide and a square
 * root, so it is bound by memory bandwidth and the divider once vectorised; the scalar loops it
 * replaces spent most of their time waiting on scalar divides and square roots. */
#include <math.h>
#include <stdint.h>

#include "../ops/kernels/cpu.h"
#include "optim_impl.h"

/* ---- one lane: the portable path and the tails ---- */
#define T              float
#define FN(name)       update_##name##_f32_scalar
#define VSQRT(a)       sqrtf(a)
#include "update_one_lane.h"
#include "update_simd.h"

#define T              double
#define FN(name)       update_##name##_f64_scalar
#define VSQRT(a)       sqrt(a)
#include "update_one_lane.h"
#include "update_simd.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

/* ---- AVX-512 ---- */
#define T              float
#define V              __m512
#define VL             16
#define TARGET         __attribute__((target("avx512f")))
#define FN(name)       update_##name##_f32_avx512
#define VADD           _mm512_add_ps
#define VSUB           _mm512_sub_ps
#define VMUL           _mm512_mul_ps
#define VDIV           _mm512_div_ps
#define VSQRT          _mm512_sqrt_ps
#define VSET1          _mm512_set1_ps
#define VLOAD          _mm512_loadu_ps
#define VSTORE         _mm512_storeu_ps
#define VKEEP_GE(a, b) _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a, b, _CMP_GE_OQ), b, a)
#include "update_simd.h"

#define T              double
#define V              __m512d
#define VL             8
#define TARGET         __attribute__((target("avx512f")))
#define FN(name)       update_##name##_f64_avx512
#define VADD           _mm512_add_pd
#define VSUB           _mm512_sub_pd
#define VMUL           _mm512_mul_pd
#define VDIV           _mm512_div_pd
#define VSQRT          _mm512_sqrt_pd
#define VSET1          _mm512_set1_pd
#define VLOAD          _mm512_loadu_pd
#define VSTORE         _mm512_storeu_pd
#define VKEEP_GE(a, b) _mm512_mask_blend_pd(_mm512_cmp_pd_mask(a, b, _CMP_GE_OQ), b, a)
#include "update_simd.h"

/* ---- AVX2 ---- */
#define T              float
#define V              __m256
#define VL             8
#define TARGET         __attribute__((target("avx2")))
#define FN(name)       update_##name##_f32_avx2
#define VADD           _mm256_add_ps
#define VSUB           _mm256_sub_ps
#define VMUL           _mm256_mul_ps
#define VDIV           _mm256_div_ps
#define VSQRT          _mm256_sqrt_ps
#define VSET1          _mm256_set1_ps
#define VLOAD          _mm256_loadu_ps
#define VSTORE         _mm256_storeu_ps
#define VKEEP_GE(a, b) _mm256_blendv_ps(b, a, _mm256_cmp_ps(a, b, _CMP_GE_OQ))
#include "update_simd.h"

#define T              double
#define V              __m256d
#define VL             4
#define TARGET         __attribute__((target("avx2")))
#define FN(name)       update_##name##_f64_avx2
#define VADD           _mm256_add_pd
#define VSUB           _mm256_sub_pd
#define VMUL           _mm256_mul_pd
#define VDIV           _mm256_div_pd
#define VSQRT          _mm256_sqrt_pd
#define VSET1          _mm256_set1_pd
#define VLOAD          _mm256_loadu_pd
#define VSTORE         _mm256_storeu_pd
#define VKEEP_GE(a, b) _mm256_blendv_pd(b, a, _mm256_cmp_pd(a, b, _CMP_GE_OQ))
#include "update_simd.h"

/* The widest instance the CPU level allows of update_<name>_<type>, over the leading whole
 * vectors; 0 elements done on the portable level. */
#define WIDEST(name, type, ...)                                                                    \
    (kern_cpu_level() == TG_CPU_AVX512 ? update_##name##_##type##_avx512(__VA_ARGS__)              \
     : kern_cpu_level() == TG_CPU_AVX2 ? update_##name##_##type##_avx2(__VA_ARGS__)                \
                                       : 0)

#elif defined(__aarch64__)
#include <arm_neon.h>

/* ---- NEON: part of every AArch64 CPU, so no target attribute ---- */
#define T  float
#define V  float32x4_t
#define VL 4
#define TARGET
#define FN(name)       update_##name##_f32_neon
#define VADD           vaddq_f32
#define VSUB           vsubq_f32
#define VMUL           vmulq_f32
#define VDIV           vdivq_f32
#define VSQRT          vsqrtq_f32
#define VSET1          vdupq_n_f32
#define VLOAD          vld1q_f32
#define VSTORE         vst1q_f32
#define VKEEP_GE(a, b) vbslq_f32(vcgeq_f32(a, b), a, b)
#include "update_simd.h"

#define T  double
#define V  float64x2_t
#define VL 2
#define TARGET
#define FN(name)       update_##name##_f64_neon
#define VADD           vaddq_f64
#define VSUB           vsubq_f64
#define VMUL           vmulq_f64
#define VDIV           vdivq_f64
#define VSQRT          vsqrtq_f64
#define VSET1          vdupq_n_f64
#define VLOAD          vld1q_f64
#define VSTORE         vst1q_f64
#define VKEEP_GE(a, b) vbslq_f64(vcgeq_f64(a, b), a, b)
#include "update_simd.h"

#define WIDEST(name, type, ...)                                                                    \
    (kern_cpu_level() == TG_CPU_NEON ? update_##name##_##type##_neon(__VA_ARGS__) : 0)

#else
#define WIDEST(name, type, ...) 0
#endif

/* Each update runs the widest loop the CPU level allows, then the one-lane loop over what is
 * left (the tail, or everything on the portable path); pointers advance by the count done. */

/* Advances an optional state pointer past the elements done. */
static float *skip32(float *s, int64_t done) { return s ? s + done : NULL; }
static double *skip64(double *s, int64_t done) { return s ? s + done : NULL; }

void optim_sgd_update(const optim_sgd_args *k, tg_dtype dt, int64_t n, void *p, const void *g,
                      void *buf) {
    if (dt == TG_F32) {
        int64_t done = WIDEST(sgd, f32, k, n, p, g, buf);
        update_sgd_f32_scalar(k, n - done, (float *)p + done, (const float *)g + done,
                              skip32(buf, done));
    } else {
        int64_t done = WIDEST(sgd, f64, k, n, p, g, buf);
        update_sgd_f64_scalar(k, n - done, (double *)p + done, (const double *)g + done,
                              skip64(buf, done));
    }
}

void optim_adagrad_update(const optim_adagrad_args *k, tg_dtype dt, int64_t n, void *p,
                          const void *g, void *sum) {
    if (dt == TG_F32) {
        int64_t done = WIDEST(adagrad, f32, k, n, p, g, sum);
        update_adagrad_f32_scalar(k, n - done, (float *)p + done, (const float *)g + done,
                                  (float *)sum + done);
    } else {
        int64_t done = WIDEST(adagrad, f64, k, n, p, g, sum);
        update_adagrad_f64_scalar(k, n - done, (double *)p + done, (const double *)g + done,
                                  (double *)sum + done);
    }
}

void optim_rmsprop_update(const optim_rmsprop_args *k, tg_dtype dt, int64_t n, void *p,
                          const void *g, void *sq, void *mom, void *avg) {
    if (dt == TG_F32) {
        int64_t done = WIDEST(rmsprop, f32, k, n, p, g, sq, mom, avg);
        update_rmsprop_f32_scalar(k, n - done, (float *)p + done, (const float *)g + done,
                                  (float *)sq + done, skip32(mom, done), skip32(avg, done));
    } else {
        int64_t done = WIDEST(rmsprop, f64, k, n, p, g, sq, mom, avg);
        update_rmsprop_f64_scalar(k, n - done, (double *)p + done, (const double *)g + done,
                                  (double *)sq + done, skip64(mom, done), skip64(avg, done));
    }
}

void optim_adam_update(const optim_adam_args *k, tg_dtype dt, int64_t n, void *p, const void *g,
                       void *m, void *v, void *vmax) {
    if (dt == TG_F32) {
        int64_t done = WIDEST(adam, f32, k, n, p, g, m, v, vmax);
        update_adam_f32_scalar(k, n - done, (float *)p + done, (const float *)g + done,
                               (float *)m + done, (float *)v + done, skip32(vmax, done));
    } else {
        int64_t done = WIDEST(adam, f64, k, n, p, g, m, v, vmax);
        update_adam_f64_scalar(k, n - done, (double *)p + done, (const double *)g + done,
                               (double *)m + done, (double *)v + done, skip64(vmax, done));
    }
}

bool optim_has_nonfinite(tg_dtype dt, int64_t n, const void *g) {
    bool bad = false;
    if (dt == TG_F32) {
        const float *x = g;
        int64_t done = WIDEST(nonfinite, f32, n, x, &bad);
        done += update_nonfinite_f32_scalar(n - done, x + done, &bad);
        if (done < n) bad |= x[done] - x[done] != 0; /* the one left after the pairs */
    } else {
        const double *x = g;
        int64_t done = WIDEST(nonfinite, f64, n, x, &bad);
        done += update_nonfinite_f64_scalar(n - done, x + done, &bad);
        if (done < n) bad |= x[done] - x[done] != 0;
    }
    return bad;
}
