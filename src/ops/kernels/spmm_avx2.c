/* spmm_avx2.c: the AVX2+FMA sparse kernels (f32 and f64) from the spmm_simd.h template.
 *
 * Only the functions here carry target("avx2,fma"); kern_spmm calls them only when cpu.c found
 * the features. */
#include "spmm.h"

#if defined(__x86_64__) || defined(__i386__)
#define TARGET __attribute__((target("avx2,fma")))

#include "simd_avx2.h"
#define VGATHER(x, c) _mm256_i32gather_ps(x, _mm256_loadu_si256((const __m256i *)(c)), 4)
#define FN(name)      name##_avx2_f32
#include "spmm_simd.h"
#undef VGATHER
#undef FN

#define SIMD_F64
#include "simd_avx2.h"
#define VGATHER(x, c) _mm256_i32gather_pd(x, _mm_loadu_si128((const __m128i *)(c)), 8)
#define FN(name)      name##_avx2_f64
#include "spmm_simd.h"
#endif
