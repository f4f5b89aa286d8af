/* simd_avx2.h: the vector vocabulary of the kernel templates (simd_avx512.h lists the names) in
 * AVX2+FMA words: f32 vectors of 8 lanes, or f64 vectors of 4 when the includer has defined
 * SIMD_F64. The sums of lanes and the first-lane masks and stores are avx2_util.h's. No include
 * guard: include it again, with or without SIMD_F64, for the next instantiation. */
#include <immintrin.h>

#include "avx2_util.h"
#include "simd_reset.h"

#ifndef SIMD_F64
#define T                float
#define V                __m256
#define VL               8
#define VLOAD            _mm256_loadu_ps
#define VSTORE           _mm256_storeu_ps
#define VSET1            _mm256_set1_ps
#define VZERO            _mm256_setzero_ps
#define VFMA             _mm256_fmadd_ps
#define VADD             _mm256_add_ps
#define VHSUM            kern_avx2_hsum
#define MASK             __m256i
#define MASK_FIRST       kern_avx2_first_lanes
#define VLOADM(p, m)     _mm256_maskload_ps(p, m)
#define VSTOREM(p, m, v) _mm256_maskstore_ps(p, m, v)
#define VSTOREN          kern_avx2_store_first
#else
#define T                double
#define V                __m256d
#define VL               4
#define VLOAD            _mm256_loadu_pd
#define VSTORE           _mm256_storeu_pd
#define VSET1            _mm256_set1_pd
#define VZERO            _mm256_setzero_pd
#define VFMA             _mm256_fmadd_pd
#define VADD             _mm256_add_pd
#define VHSUM            kern_avx2_hsum_f64
#define MASK             __m256i
#define MASK_FIRST       kern_avx2_first_lanes_f64
#define VLOADM(p, m)     _mm256_maskload_pd(p, m)
#define VSTOREM(p, m, v) _mm256_maskstore_pd(p, m, v)
#define VSTOREN          kern_avx2_store_first_f64
#endif
#define VLOADN(p, n) VLOADM(p, MASK_FIRST(n))
