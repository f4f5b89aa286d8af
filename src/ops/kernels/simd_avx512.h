/* simd_avx512.h: the vector vocabulary of the kernel templates (*_simd.h, binmm_lut.h) in
 * AVX-512 words: f32 vectors of 16 lanes, or f64 vectors of 8 when the includer has defined
 * SIMD_F64. simd_avx2.h and simd_neon.h define the same names for the other instruction sets,
 * so a template is written once against them:
 *
 *   T          the element type                 V, VL       a vector and its lane count
 *   VLOAD(p), VSTORE(p, v)   unaligned           VSET1(x), VZERO()
 *   VFMA(a, b, c) = a b + c  VADD(a, b)          VHSUM(v)    the sum of the lanes
 *   MASK, MASK_FIRST(n)      a lane mask and the one of the first n lanes (1 <= n <= VL)
 *   VLOADM(p, m), VSTOREM(p, m, v)   lanes outside m read as 0 and are never touched
 *   VLOADN(p, n), VSTOREN(p, n, v)   the same for the first n lanes
 *
 * The includer gives the target attribute (TARGET) and FN itself: which instructions a file
 * may use is the file's decision. No include guard: include it again, with or without
 * SIMD_F64, for the next instantiation. */
#include <immintrin.h>

#include "simd_reset.h"

#ifndef SIMD_F64
#define T                float
#define V                __m512
#define VL               16
#define VLOAD            _mm512_loadu_ps
#define VSTORE           _mm512_storeu_ps
#define VSET1            _mm512_set1_ps
#define VZERO            _mm512_setzero_ps
#define VFMA             _mm512_fmadd_ps
#define VADD             _mm512_add_ps
#define VHSUM            _mm512_reduce_add_ps
#define MASK             __mmask16
#define MASK_FIRST(n)    ((__mmask16)((1u << (n)) - 1))
#define VLOADM(p, m)     _mm512_maskz_loadu_ps(m, p)
#define VSTOREM(p, m, v) _mm512_mask_storeu_ps(p, m, v)
#else
#define T                double
#define V                __m512d
#define VL               8
#define VLOAD            _mm512_loadu_pd
#define VSTORE           _mm512_storeu_pd
#define VSET1            _mm512_set1_pd
#define VZERO            _mm512_setzero_pd
#define VFMA             _mm512_fmadd_pd
#define VADD             _mm512_add_pd
#define VHSUM            _mm512_reduce_add_pd
#define MASK             __mmask8
#define MASK_FIRST(n)    ((__mmask8)((1u << (n)) - 1))
#define VLOADM(p, m)     _mm512_maskz_loadu_pd(m, p)
#define VSTOREM(p, m, v) _mm512_mask_storeu_pd(p, m, v)
#endif
#define VLOADN(p, n)     VLOADM(p, MASK_FIRST(n))
#define VSTOREN(p, n, v) VSTOREM(p, MASK_FIRST(n), v)
