/* spmm_avx512.c: the AVX-512 sparse kernels (f32 and f64) from the spmm_simd.h template.
 *
 * Only the functions here carry target("avx512f,avx512dq"); kern_spmm calls them only when
 * cpu.c found the features. A row block of the product is 4 zmm vectors: 64 f32 columns, a
 * whole batch of 64 in registers. */
#include "spmm.h"

#if defined(__x86_64__) || defined(__i386__)
#define TARGET __attribute__((target("avx512f,avx512dq")))

#include "simd_avx512.h"
#define VGATHER(x, c) _mm512_i32gather_ps(_mm512_loadu_si512((const void *)(c)), x, 4)
#define FN(name)      name##_avx512_f32
#include "spmm_simd.h"
#undef VGATHER
#undef FN

#define SIMD_F64
#include "simd_avx512.h"
#define VGATHER(x, c) _mm512_i32gather_pd(_mm256_loadu_si256((const __m256i *)(c)), x, 8)
#define FN(name)      name##_avx512_f64
#include "spmm_simd.h"
#endif
