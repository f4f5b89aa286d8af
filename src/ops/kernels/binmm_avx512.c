/* binmm_avx512.c: the packed binary products with AVX-512: sign-select adds under a mask (each
 * 16 bits of a weight row are the mask of one masked add of 16 x values) and the XNOR product
 * counted with VPOPCNTQ where the CPU has AVX512_VPOPCNTDQ (else with the AVX2 nibble table).
 *
 * Only the functions here carry target attributes; the driver calls them only when cpu.c found
 * AVX-512 F and DQ (and, for the popcount, __builtin_cpu_supports("avx512vpopcntdq")). */
#include "binmm.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#define TARGET        __attribute__((target("avx512f,avx512dq,avx2,fma")))
#define TARGET_POPCNT __attribute__((target("avx512f,avx512dq,avx512vpopcntdq,avx2,fma")))

/* The 16 weights of bits j0 .. j0 + 16 of a row (j0 a multiple of 16) as a mask. */
static inline __mmask16 mask_of(const uint32_t *row, int64_t j0) {
    return (__mmask16)(row[j0 >> 5] >> (j0 & 16));
}

static TARGET void binmm_rows_avx512(const kern_bits *w, int64_t o0, int64_t o1, int64_t n,
                                     const float *x, int64_t ldx, float *y, int64_t ldy) {
    int64_t cols = w->cols, words = w->words, full = cols & ~(int64_t)15;
    __mmask16 tail = (__mmask16)((1u << (cols - full)) - 1);
    for (int64_t b = 0; b < n; b++) {
        const float *xb = x + b * ldx;
        __m512 s = _mm512_setzero_ps();
        for (int64_t j = 0; j < full; j += 16) s = _mm512_add_ps(s, _mm512_loadu_ps(xb + j));
        if (tail) s = _mm512_add_ps(s, _mm512_maskz_loadu_ps(tail, xb + full));
        float sx = _mm512_reduce_add_ps(s);
        int64_t o = o0;
        for (; o + 4 <= o1; o += 4) { /* four rows share each load of x */
            const uint32_t *r0 = w->bits + o * words, *r1 = r0 + words, *r2 = r1 + words,
                           *r3 = r2 + words;
            __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
            for (int64_t j = 0; j < full; j += 16) {
                __m512 xv = _mm512_loadu_ps(xb + j);
                a0 = _mm512_mask_add_ps(a0, mask_of(r0, j), a0, xv);
                a1 = _mm512_mask_add_ps(a1, mask_of(r1, j), a1, xv);
                a2 = _mm512_mask_add_ps(a2, mask_of(r2, j), a2, xv);
                a3 = _mm512_mask_add_ps(a3, mask_of(r3, j), a3, xv);
            }
            if (tail) { /* the bits past cols are 0, so only x needs the mask */
                __m512 xv = _mm512_maskz_loadu_ps(tail, xb + full);
                a0 = _mm512_mask_add_ps(a0, mask_of(r0, full), a0, xv);
                a1 = _mm512_mask_add_ps(a1, mask_of(r1, full), a1, xv);
                a2 = _mm512_mask_add_ps(a2, mask_of(r2, full), a2, xv);
                a3 = _mm512_mask_add_ps(a3, mask_of(r3, full), a3, xv);
            }
            y[b * ldy + o] = w->scale[o] * (2 * _mm512_reduce_add_ps(a0) - sx);
            y[b * ldy + o + 1] = w->scale[o + 1] * (2 * _mm512_reduce_add_ps(a1) - sx);
            y[b * ldy + o + 2] = w->scale[o + 2] * (2 * _mm512_reduce_add_ps(a2) - sx);
            y[b * ldy + o + 3] = w->scale[o + 3] * (2 * _mm512_reduce_add_ps(a3) - sx);
        }
        for (; o < o1; o++) {
            const uint32_t *r0 = w->bits + o * words;
            __m512 a0 = _mm512_setzero_ps();
            for (int64_t j = 0; j < full; j += 16)
                a0 = _mm512_mask_add_ps(a0, mask_of(r0, j), a0, _mm512_loadu_ps(xb + j));
            if (tail)
                a0 = _mm512_mask_add_ps(a0, mask_of(r0, full), a0,
                                        _mm512_maskz_loadu_ps(tail, xb + full));
            y[b * ldy + o] = w->scale[o] * (2 * _mm512_reduce_add_ps(a0) - sx);
        }
    }
}

/* Words [k, k + 16) of a row, zeros past `words`. */
static inline TARGET_POPCNT __m512i load_words(const uint32_t *p, int64_t k, int64_t words) {
    return words - k >= 16 ? _mm512_loadu_si512(p + k)
                           : _mm512_maskz_loadu_epi32((__mmask16)((1u << (words - k)) - 1), p + k);
}

static inline TARGET_POPCNT __m512i count(__m512i acc, __m512i a, const uint32_t *r, int64_t k,
                                          int64_t words) {
    return _mm512_add_epi64(acc, _mm512_popcnt_epi64(_mm512_xor_si512(a, load_words(r, k, words))));
}

static TARGET_POPCNT void binxnor_rows_avx512(const kern_bits *w, int64_t o0, int64_t o1, int64_t n,
                                              const uint32_t *a, float *y, int64_t ldy) {
    int64_t words = w->words;
    for (int64_t b = 0; b < n; b++) {
        const uint32_t *ab = a + b * words;
        int64_t o = o0;
        for (; o + 4 <= o1; o += 4) {
            const uint32_t *r = w->bits + o * words;
            __m512i c0 = _mm512_setzero_si512(), c1 = c0, c2 = c0, c3 = c0;
            for (int64_t k = 0; k < words; k += 16) {
                __m512i av = load_words(ab, k, words);
                c0 = count(c0, av, r, k, words);
                c1 = count(c1, av, r + words, k, words);
                c2 = count(c2, av, r + 2 * words, k, words);
                c3 = count(c3, av, r + 3 * words, k, words);
            }
            y[b * ldy + o] = w->scale[o] * (float)(w->cols - 2 * _mm512_reduce_add_epi64(c0));
            y[b * ldy + o + 1] =
                w->scale[o + 1] * (float)(w->cols - 2 * _mm512_reduce_add_epi64(c1));
            y[b * ldy + o + 2] =
                w->scale[o + 2] * (float)(w->cols - 2 * _mm512_reduce_add_epi64(c2));
            y[b * ldy + o + 3] =
                w->scale[o + 3] * (float)(w->cols - 2 * _mm512_reduce_add_epi64(c3));
        }
        for (; o < o1; o++) {
            const uint32_t *r = w->bits + o * words;
            __m512i c = _mm512_setzero_si512();
            for (int64_t k = 0; k < words; k += 16)
                c = count(c, load_words(ab, k, words), r, k, words);
            y[b * ldy + o] = w->scale[o] * (float)(w->cols - 2 * _mm512_reduce_add_epi64(c));
        }
    }
}

static TARGET void binpack_rows_avx512(int64_t n, int64_t cols, const float *x, int64_t ldx,
                                       uint32_t *a) {
    int64_t words = (cols + 31) / 32;
    for (int64_t b = 0; b < n; b++) {
        const float *xb = x + b * ldx;
        for (int64_t k = 0; k < words; k++) {
            uint32_t word = 0;
            for (int h = 0; h < 2 && 32 * k + 16 * h < cols; h++) {
                int64_t j = 32 * k + 16 * h;
                __mmask16 live =
                    cols - j >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (cols - j)) - 1);
                __m512 xv = _mm512_maskz_loadu_ps(live, xb + j);
                word |= (uint32_t)_mm512_mask_cmp_ps_mask(live, xv, _mm512_setzero_ps(), _CMP_GE_OQ)
                        << (16 * h);
            }
            a[b * words + k] = word;
        }
    }
}

#define STORE_GROUP binmm_store_group_avx2
#include "simd_avx512.h"
#define NB       1
#define FN(name) name##_avx512
#include "binmm_lut.h"
#define NB       2
#define FN(name) name##_wide_avx512
#include "binmm_lut.h"
#include "simd_reset.h"

const binmm_impl binmm_avx512 = {"avx512 (sign-select: masked adds, subset-sum tables; vpopcntq)",
                                 binmm_rows_avx512,
                                 binxnor_rows_avx512,
                                 binpack_rows_avx512,
                                 binmm_lut_avx512,
                                 binmm_lut_wide_avx512,
                                 binmm_transpose_avx2,
                                 16,
                                 2};
const binmm_impl binmm_avx512_nopopcnt = {
    "avx512 (sign-select: masked adds, subset-sum tables; avx2 nibble-table popcount)",
    binmm_rows_avx512,
    binxnor_rows_avx2,
    binpack_rows_avx512,
    binmm_lut_avx512,
    binmm_lut_wide_avx512,
    binmm_transpose_avx2,
    16,
    2};
#endif
