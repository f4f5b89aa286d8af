/* update_f32.c: the optimisers' f32 update loops, instantiated from the update_f32.h template
 * for AVX-512, for AVX2, for NEON (AArch64) and with one-lane "vectors" (the portable path,
 * which also finishes every vector loop's tail), and the dispatchers that pick one by
 * kern_cpu_level().
 *
 * An update reads and writes about seven floats per parameter and does one or two divides and a
 * square root, so it is bound by memory bandwidth once vectorised; the scalar double-precision
 * loop it replaces for f32 spent most of its time waiting on scalar divides and square roots. */
#include <math.h>
#include <stdint.h>

#include "../ops/kernels/cpu.h"
#include "optim_impl.h"

/* ---- one lane: the portable path and the tails ---- */
#define V              float
#define VL             1
#define TARGET
#define FN(name)       update_##name##_scalar
#define VADD(a, b)     ((a) + (b))
#define VSUB(a, b)     ((a) - (b))
#define VMUL(a, b)     ((a) * (b))
#define VDIV(a, b)     ((a) / (b))
#define VSQRT(a)       sqrtf(a)
#define VSET1(x)       (x)
#define VLOAD(p)       (*(p))
#define VSTORE(p, v)   (*(p) = (v))
#define VKEEP_GE(a, b) ((a) >= (b) ? (a) : (b))
#include "update_f32.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define UPDATE_X86 1

/* ---- AVX-512 ---- */
#define V              __m512
#define VL             16
#define TARGET         __attribute__((target("avx512f")))
#define FN(name)       update_##name##_avx512
#define VADD           _mm512_add_ps
#define VSUB           _mm512_sub_ps
#define VMUL           _mm512_mul_ps
#define VDIV           _mm512_div_ps
#define VSQRT          _mm512_sqrt_ps
#define VSET1          _mm512_set1_ps
#define VLOAD          _mm512_loadu_ps
#define VSTORE         _mm512_storeu_ps
#define VKEEP_GE(a, b) _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a, b, _CMP_GE_OQ), b, a)
#include "update_f32.h"

/* ---- AVX2 ---- */
#define V              __m256
#define VL             8
#define TARGET         __attribute__((target("avx2")))
#define FN(name)       update_##name##_avx2
#define VADD           _mm256_add_ps
#define VSUB           _mm256_sub_ps
#define VMUL           _mm256_mul_ps
#define VDIV           _mm256_div_ps
#define VSQRT          _mm256_sqrt_ps
#define VSET1          _mm256_set1_ps
#define VLOAD          _mm256_loadu_ps
#define VSTORE         _mm256_storeu_ps
#define VKEEP_GE(a, b) _mm256_blendv_ps(b, a, _mm256_cmp_ps(a, b, _CMP_GE_OQ))
#include "update_f32.h"

#elif defined(__aarch64__)
#include <arm_neon.h>
#define UPDATE_NEON 1

/* ---- NEON: part of every AArch64 CPU, so no target attribute ---- */
#define V              float32x4_t
#define VL             4
#define TARGET
#define FN(name)       update_##name##_neon
#define VADD           vaddq_f32
#define VSUB           vsubq_f32
#define VMUL           vmulq_f32
#define VDIV           vdivq_f32
#define VSQRT          vsqrtq_f32
#define VSET1          vdupq_n_f32
#define VLOAD          vld1q_f32
#define VSTORE         vst1q_f32
#define VKEEP_GE(a, b) vbslq_f32(vcgeq_f32(a, b), a, b)
#include "update_f32.h"
#endif

/* Each update runs the widest loop the CPU level allows, then the one-lane loop over what is
 * left (the tail, or everything on the portable path); pointers advance by the count done. */
/* Advances an optional state pointer past the elements done. */
static float *skip(float *s, int64_t done) { return s ? s + done : NULL; }

void optim_sgd_f32_update(const optim_sgd_f32 *k, int64_t n, float *p, const float *g,
                          float *buf) {
    int64_t done = 0;
#ifdef UPDATE_X86
    tg_cpu_level cpu = kern_cpu_level();
    if (cpu == TG_CPU_AVX512)
        done = update_sgd_avx512(k, n, p, g, buf);
    else if (cpu == TG_CPU_AVX2)
        done = update_sgd_avx2(k, n, p, g, buf);
#elif defined(UPDATE_NEON)
    if (kern_cpu_level() == TG_CPU_NEON) done = update_sgd_neon(k, n, p, g, buf);
#endif
    update_sgd_scalar(k, n - done, p + done, g + done, skip(buf, done));
}

void optim_adagrad_f32_update(const optim_adagrad_f32 *k, int64_t n, float *p, const float *g,
                              float *sum) {
    int64_t done = 0;
#ifdef UPDATE_X86
    tg_cpu_level cpu = kern_cpu_level();
    if (cpu == TG_CPU_AVX512)
        done = update_adagrad_avx512(k, n, p, g, sum);
    else if (cpu == TG_CPU_AVX2)
        done = update_adagrad_avx2(k, n, p, g, sum);
#elif defined(UPDATE_NEON)
    if (kern_cpu_level() == TG_CPU_NEON) done = update_adagrad_neon(k, n, p, g, sum);
#endif
    update_adagrad_scalar(k, n - done, p + done, g + done, sum + done);
}

void optim_rmsprop_f32_update(const optim_rmsprop_f32 *k, int64_t n, float *p, const float *g,
                              float *sq, float *mom, float *avg) {
    int64_t done = 0;
#ifdef UPDATE_X86
    tg_cpu_level cpu = kern_cpu_level();
    if (cpu == TG_CPU_AVX512)
        done = update_rmsprop_avx512(k, n, p, g, sq, mom, avg);
    else if (cpu == TG_CPU_AVX2)
        done = update_rmsprop_avx2(k, n, p, g, sq, mom, avg);
#elif defined(UPDATE_NEON)
    if (kern_cpu_level() == TG_CPU_NEON) done = update_rmsprop_neon(k, n, p, g, sq, mom, avg);
#endif
    update_rmsprop_scalar(k, n - done, p + done, g + done, sq + done, skip(mom, done),
                          skip(avg, done));
}

void optim_adam_f32_update(const optim_adam_f32 *k, int64_t n, float *p, const float *g, float *m,
                           float *v, float *vmax) {
    int64_t done = 0;
#ifdef UPDATE_X86
    tg_cpu_level cpu = kern_cpu_level();
    if (cpu == TG_CPU_AVX512)
        done = update_adam_avx512(k, n, p, g, m, v, vmax);
    else if (cpu == TG_CPU_AVX2)
        done = update_adam_avx2(k, n, p, g, m, v, vmax);
#elif defined(UPDATE_NEON)
    if (kern_cpu_level() == TG_CPU_NEON) done = update_adam_neon(k, n, p, g, m, v, vmax);
#endif
    update_adam_scalar(k, n - done, p + done, g + done, m + done, v + done, skip(vmax, done));
}
