/* attn_avx2.c: the AVX2 instance of the fused causal-attention kernels (attn_simd.h), f32.
 *
 * Only the functions here carry target("avx2,fma"); the driver (attn.c) calls them only when
 * the level in effect is AVX2. Tiles, for 16 ymm registers: scores 4 rows x 2 vectors (8
 * accumulators, 2 key vectors and a broadcast), products 4 rows x 2 vectors (a head of 16 in
 * one pass: AVX2 has no broadcast operand in its FMA, so each broadcast should feed two). */
#include "attn.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#include <math.h>

#include "avx2_util.h"

__attribute__((target("avx2,fma"))) static inline float attn_hmax_avx2(__m256 v) {
    __m128 x = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    x = _mm_max_ps(x, _mm_movehl_ps(x, x));
    return _mm_cvtss_f32(_mm_max_ss(x, _mm_movehdup_ps(x)));
}

/* p 2^n for whole n in [-159, 0]: 2^n as two normal halves, so a denormal result rounds once. */
__attribute__((target("avx2,fma"))) static inline __m256 attn_scale2_avx2(__m256 p, __m256 n) {
    __m256i ni = _mm256_cvtps_epi32(n);
    __m256i n1 = _mm256_srai_epi32(ni, 1), n2 = _mm256_sub_epi32(ni, n1);
    __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, _mm256_set1_epi32(127)), 23));
    __m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, _mm256_set1_epi32(127)), 23));
    return _mm256_mul_ps(_mm256_mul_ps(p, s1), s2);
}

#include "simd_avx2.h"
#define ATTN_LEVEL kern_attn_avx2_f32
#define TARGET     __attribute__((target("avx2,fma")))
#define FN(name)   attn_##name##_avx2
#define VSUB       _mm256_sub_ps
#define VMUL       _mm256_mul_ps
#define VDIV       _mm256_div_ps
#define VMAX       _mm256_max_ps
#define VHMAX      attn_hmax_avx2
#define ATTN_VEXP  1
#define VROUND(x)  _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#define VSCALE2    attn_scale2_avx2
#define A_ROWS     4
#define A_VECS     2
#define B_ROWS     4
#define B_VECS     2
#include "attn_simd.h"
#endif
