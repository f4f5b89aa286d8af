/* gemm_avx2.c: the AVX2+FMA GEMM kernels (f32 and f64), instantiated from gemm_simd.h.
 *
 * Only the functions here carry target("avx2,fma"); the driver calls them only when cpu.c
 * found the features. Tiles: 6 rows x 2 vectors (12 of the 16 ymm registers accumulate), and
 * 12 x 1 for narrow B. */
#include "gemm.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#define TARGET __attribute__((target("avx2,fma")))
#define MAIN_MR 6
#define MAIN_NV 2
#define DIRECT_ROWS 6
#define DIRECT_VECS 2
#define DIRECT_ROWS_1 12

#define T float
#define V __m256
#define VL 8
#define VLOAD _mm256_loadu_ps
#define VSTORE _mm256_storeu_ps
#define VSET1 _mm256_set1_ps
#define VZERO _mm256_setzero_ps
#define VFMA _mm256_fmadd_ps
#define VADD _mm256_add_ps
#define MASK __m256i
#define MASK_FIRST(n) _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7))
#define VLOADM(p, m) _mm256_maskload_ps(p, m)
#define VSTOREM(p, m, v) _mm256_maskstore_ps(p, m, v)
#define FN(name) name##_avx2_f32
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
#undef MASK
#undef MASK_FIRST
#undef VLOADM
#undef VSTOREM
#undef FN

#define T double
#define V __m256d
#define VL 4
#define VLOAD _mm256_loadu_pd
#define VSTORE _mm256_storeu_pd
#define VSET1 _mm256_set1_pd
#define VZERO _mm256_setzero_pd
#define VFMA _mm256_fmadd_pd
#define VADD _mm256_add_pd
#define MASK __m256i
#define MASK_FIRST(n) _mm256_cmpgt_epi64(_mm256_set1_epi64x(n), _mm256_setr_epi64x(0, 1, 2, 3))
#define VLOADM(p, m) _mm256_maskload_pd(p, m)
#define VSTOREM(p, m, v) _mm256_maskstore_pd(p, m, v)
#define FN(name) name##_avx2_f64
#include "gemm_simd.h"

const gemm_impl gemm_avx2_f32 = {
    .packed = {MAIN_MR, MAIN_NV * 8, 384, 264, 4096, ukr_main_avx2_f32},
    .direct = direct_avx2_f32,
    .direct_unit_b = true,
    .direct_kc = 256,
    .direct_mr = DIRECT_ROWS,
    .direct_nr = DIRECT_VECS * 8,
};

const gemm_impl gemm_avx2_f64 = {
    .packed = {MAIN_MR, MAIN_NV * 4, 256, 198, 2048, ukr_main_avx2_f64},
    .direct = direct_avx2_f64,
    .direct_unit_b = true,
    .direct_kc = 256,
    .direct_mr = DIRECT_ROWS,
    .direct_nr = DIRECT_VECS * 4,
};
#endif
