/* spmm_avx2.c: the AVX2+FMA sparse kernels (f32 and f64) from the spmm_simd.h template.
 *
 * Only the functions here carry target("avx2,fma"); kern_spmm calls them only when cpu.c found
 * the features. */
#include "spmm.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#define TARGET __attribute__((target("avx2,fma")))

static inline TARGET float hsum_spmm_avx2_f32(__m256 v) {
    __m128 x = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    x = _mm_add_ps(x, _mm_movehl_ps(x, x));
    return _mm_cvtss_f32(_mm_add_ss(x, _mm_movehdup_ps(x)));
}

static inline TARGET double hsum_spmm_avx2_f64(__m256d v) {
    __m128d x = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    return _mm_cvtsd_f64(_mm_add_sd(x, _mm_unpackhi_pd(x, x)));
}

static inline TARGET __m256i first_lanes_spmm_f32(int n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

static inline TARGET __m256i first_lanes_spmm_f64(int n) {
    return _mm256_cmpgt_epi64(_mm256_set1_epi64x(n), _mm256_setr_epi64x(0, 1, 2, 3));
}

#define T                float
#define V                __m256
#define VL               8
#define VLOAD            _mm256_loadu_ps
#define VSTORE           _mm256_storeu_ps
#define VSET1            _mm256_set1_ps
#define VZERO            _mm256_setzero_ps
#define VFMA             _mm256_fmadd_ps
#define VADD             _mm256_add_ps
#define VHSUM            hsum_spmm_avx2_f32
#define VLOADN(p, n)     _mm256_maskload_ps(p, first_lanes_spmm_f32(n))
#define VSTOREN(p, n, v) _mm256_maskstore_ps(p, first_lanes_spmm_f32(n), v)
#define VGATHER(x, c)    _mm256_i32gather_ps(x, _mm256_loadu_si256((const __m256i *)(c)), 4)
#define FN(name)         name##_avx2_f32
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
#define V                __m256d
#define VL               4
#define VLOAD            _mm256_loadu_pd
#define VSTORE           _mm256_storeu_pd
#define VSET1            _mm256_set1_pd
#define VZERO            _mm256_setzero_pd
#define VFMA             _mm256_fmadd_pd
#define VADD             _mm256_add_pd
#define VHSUM            hsum_spmm_avx2_f64
#define VLOADN(p, n)     _mm256_maskload_pd(p, first_lanes_spmm_f64(n))
#define VSTOREN(p, n, v) _mm256_maskstore_pd(p, first_lanes_spmm_f64(n), v)
#define VGATHER(x, c)    _mm256_i32gather_pd(x, _mm_loadu_si128((const __m128i *)(c)), 8)
#define FN(name)         name##_avx2_f64
#include "spmm_simd.h"
#endif
