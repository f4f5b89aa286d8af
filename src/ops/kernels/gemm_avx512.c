/* gemm_avx512.c: the AVX-512 GEMM kernels (f32 and f64), instantiated from gemm_simd.h.
 *
 * Only the functions here carry target("avx512f,avx512dq"); the rest of the library is built
 * for baseline x86-64, and the driver calls these only when cpu.c found the features. Tiles:
 * 14 rows x 2 vectors (28 of the 32 zmm registers accumulate), and 28 x 1 for narrow B. */
#include "gemm.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#define TARGET __attribute__((target("avx512f,avx512dq")))
#define MAIN_MR 14
#define MAIN_NV 2
#define DIRECT_ROWS 12
#define DIRECT_VECS 2
#define DIRECT_ROWS_1 24

#define T float
#define V __m512
#define VL 16
#define VLOAD _mm512_loadu_ps
#define VSTORE _mm512_storeu_ps
#define VSET1 _mm512_set1_ps
#define VZERO _mm512_setzero_ps
#define VFMA _mm512_fmadd_ps
#define VADD _mm512_add_ps
#define MASK __mmask16
#define MASK_FIRST(n) ((__mmask16)((1u << (n)) - 1))
#define VLOADM(p, m) _mm512_maskz_loadu_ps(m, p)
#define VSTOREM(p, m, v) _mm512_mask_storeu_ps(p, m, v)
#define FN(name) name##_avx512_f32
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
#define V __m512d
#define VL 8
#define VLOAD _mm512_loadu_pd
#define VSTORE _mm512_storeu_pd
#define VSET1 _mm512_set1_pd
#define VZERO _mm512_setzero_pd
#define VFMA _mm512_fmadd_pd
#define VADD _mm512_add_pd
#define MASK __mmask8
#define MASK_FIRST(n) ((__mmask8)((1u << (n)) - 1))
#define VLOADM(p, m) _mm512_maskz_loadu_pd(m, p)
#define VSTOREM(p, m, v) _mm512_mask_storeu_pd(p, m, v)
#define FN(name) name##_avx512_f64
#include "gemm_simd.h"

/* Blocking for a core with 32 KiB L1d and 1 MiB L2: an A block (mc x kc) of about 300-450 KiB
 * stays in L2 next to the B micro-panel; the B panel (kc x nc) lives in L3. */
const gemm_impl gemm_avx512_f32 = {
    .packed = {MAIN_MR, MAIN_NV * 16, 384, 280, 4096, ukr_main_avx512_f32},
    .direct = direct_avx512_f32,
    .direct_unit_b = true,
    .direct_kc = 256,
    .direct_mr = DIRECT_ROWS,
    .direct_nr = DIRECT_VECS * 16,
};

const gemm_impl gemm_avx512_f64 = {
    .packed = {MAIN_MR, MAIN_NV * 8, 256, 210, 2048, ukr_main_avx512_f64},
    .direct = direct_avx512_f64,
    .direct_unit_b = true,
    .direct_kc = 256,
    .direct_mr = DIRECT_ROWS,
    .direct_nr = DIRECT_VECS * 8,
};
#endif
