/* pixels.c: u8 pixels to f32 in [0, 1] (value / 255), the batcher's conversion when it is not
 * normalising, vectorised for AVX-512, AVX2 and NEON; the portable path reads a 256-entry
 * table.
 *
 * Invariant: every path gives the bits of the batcher's table, (float)(v / 255.0) computed in
 * double: the vector paths divide in single precision, which a batcher uses only after
 * tg_pixels_divide_is_exact has compared the two for all 256 values (they agree under IEEE
 * arithmetic), so the CPU level never changes a batch. */
#include <stdbool.h>
#include <stdint.h>

#include "../ops/kernels/cpu.h"
#include "pixels.h"

bool tg_pixels_divide_is_exact(const float lut[256]) {
    /* volatile: the comparison is about the division the vector loops do at run time, not one
     * the compiler might fold in another precision. */
    volatile float divisor = 255.0f;
    for (int v = 0; v < 256; v++)
        if ((float)v / divisor != lut[v]) return false;
    return true;
}

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

/* 16 pixels a step; returns the count converted (a multiple of 16). */
__attribute__((target("avx512f"))) static int64_t div255_avx512(const uint8_t *src, float *dst,
                                                                int64_t n) {
    const __m512 d = _mm512_set1_ps(255.0f);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m128i b = _mm_loadu_si128((const __m128i *)(const void *)(src + i));
        _mm512_storeu_ps(dst + i, _mm512_div_ps(_mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(b)), d));
    }
    return i;
}

/* 8 pixels a step. */
__attribute__((target("avx2"))) static int64_t div255_avx2(const uint8_t *src, float *dst,
                                                           int64_t n) {
    const __m256 d = _mm256_set1_ps(255.0f);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m128i b = _mm_loadl_epi64((const __m128i *)(const void *)(src + i));
        _mm256_storeu_ps(dst + i, _mm256_div_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(b)), d));
    }
    return i;
}
#elif defined(__aarch64__)
#include <arm_neon.h>

/* 8 pixels a step, widened u8 -> u16 -> two u32 halves. */
static int64_t div255_neon(const uint8_t *src, float *dst, int64_t n) {
    const float32x4_t d = vdupq_n_f32(255.0f);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint16x8_t w = vmovl_u8(vld1_u8(src + i));
        vst1q_f32(dst + i, vdivq_f32(vcvtq_f32_u32(vmovl_u16(vget_low_u16(w))), d));
        vst1q_f32(dst + i + 4, vdivq_f32(vcvtq_f32_u32(vmovl_u16(vget_high_u16(w))), d));
    }
    return i;
}
#endif

void tg_pixels_to_unit_f32(const uint8_t *src, float *dst, int64_t n, const float lut[256]) {
    int64_t done = 0;
#if defined(__x86_64__) || defined(__i386__)
    tg_cpu_level cpu = kern_cpu_level();
    if (cpu == TG_CPU_AVX512)
        done = div255_avx512(src, dst, n);
    else if (cpu == TG_CPU_AVX2)
        done = div255_avx2(src, dst, n);
#elif defined(__aarch64__)
    if (kern_cpu_level() == TG_CPU_NEON) done = div255_neon(src, dst, n);
#endif
    for (int64_t i = done; i < n; i++) dst[i] = lut[src[i]];
}
