/* avx2_util.h: small AVX2 helpers the kernel templates share (x86 only): the sum of a vector's
 * lanes, the mask of its first lanes, and a store of its first lanes, in f32 and f64. Each
 * function carries its own target attribute, so including this file enables no wider
 * instruction anywhere else. */
#ifndef TG_KERN_AVX2_UTIL_H
#define TG_KERN_AVX2_UTIL_H

#include <immintrin.h>

__attribute__((target("avx2,fma"))) static inline float kern_avx2_hsum(__m256 v) {
    __m128 x = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    x = _mm_add_ps(x, _mm_movehl_ps(x, x));
    return _mm_cvtss_f32(_mm_add_ss(x, _mm_movehdup_ps(x)));
}

__attribute__((target("avx2,fma"))) static inline double kern_avx2_hsum_f64(__m256d v) {
    __m128d x = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    return _mm_cvtsd_f64(_mm_add_sd(x, _mm_unpackhi_pd(x, x)));
}

/* All ones in the first n lanes, for vmaskmov. */
__attribute__((target("avx2,fma"))) static inline __m256i kern_avx2_first_lanes(int n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

__attribute__((target("avx2,fma"))) static inline __m256i kern_avx2_first_lanes_f64(int n) {
    return _mm256_cmpgt_epi64(_mm256_set1_epi64x(n), _mm256_setr_epi64x(0, 1, 2, 3));
}

/* The first n (0 <= n <= 8) lanes of v to p, nothing past them: halves, quarters and a last
 * lane rather than vmaskmovps, whose stores are slow on AMD's AVX2 cores. */
__attribute__((target("avx2,fma"))) static inline void kern_avx2_store_first(float *p, int n,
                                                                             __m256 v) {
    if (n >= 8) {
        _mm256_storeu_ps(p, v);
        return;
    }
    __m128 part = _mm256_castps256_ps128(v);
    if (n & 4) {
        _mm_storeu_ps(p, part);
        p += 4;
        part = _mm256_extractf128_ps(v, 1);
    }
    if (n & 2) {
        _mm_storel_pi((__m64 *)(void *)p, part);
        p += 2;
        part = _mm_movehl_ps(part, part);
    }
    if (n & 1) _mm_store_ss(p, part);
}

/* The first n (0 <= n <= 4) lanes of v to p, nothing past them. */
__attribute__((target("avx2,fma"))) static inline void kern_avx2_store_first_f64(double *p, int n,
                                                                                 __m256d v) {
    if (n >= 4) {
        _mm256_storeu_pd(p, v);
        return;
    }
    __m128d part = _mm256_castpd256_pd128(v);
    if (n & 2) {
        _mm_storeu_pd(p, part);
        p += 2;
        part = _mm256_extractf128_pd(v, 1);
    }
    if (n & 1) _mm_store_sd(p, part);
}

#endif
