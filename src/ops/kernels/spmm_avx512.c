/* spmm_avx512.c: the AVX-512 sparse kernels (f32 and f64) from the spmm_simd.h template.
 *
 * Only the functions here carry target("avx512f,avx512dq"); kern_spmm calls them only when
 * cpu.c found the features. A row block of the product is 4 zmm vectors: 64 f32 columns, a
 * whole batch of 64 in registers. */
#include "spmm.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#define TARGET __attribute__((target("avx512f,avx512dq")))

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
#define VLOADN(p, n)     _mm512_maskz_loadu_ps((__mmask16)((1u << (n)) - 1), p)
#define VSTOREN(p, n, v) _mm512_mask_storeu_ps(p, (__mmask16)((1u << (n)) - 1), v)
#define VGATHER(x, c)    _mm512_i32gather_ps(_mm512_loadu_si512((const void *)(c)), x, 4)
#define FN(name)         name##_avx512_f32
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
#define V                __m512d
#define VL               8
#define VLOAD            _mm512_loadu_pd
#define VSTORE           _mm512_storeu_pd
#define VSET1            _mm512_set1_pd
#define VZERO            _mm512_setzero_pd
#define VFMA             _mm512_fmadd_pd
#define VADD             _mm512_add_pd
#define VHSUM            _mm512_reduce_add_pd
#define VLOADN(p, n)     _mm512_maskz_loadu_pd((__mmask8)((1u << (n)) - 1), p)
#define VSTOREN(p, n, v) _mm512_mask_storeu_pd(p, (__mmask8)((1u << (n)) - 1), v)
#define VGATHER(x, c)    _mm512_i32gather_pd(_mm256_loadu_si256((const __m256i *)(c)), x, 8)
#define FN(name)         name##_avx512_f64
#include "spmm_simd.h"
#endif
