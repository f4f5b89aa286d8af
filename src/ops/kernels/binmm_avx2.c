/* binmm_avx2.c: the packed binary products with AVX2: sign-select adds (each bit of a weight
 * word shifted into a lane's sign bit, which selects x or 0 for the add) and the XNOR product
 * with the nibble-table popcount (vpshufb looks up the bit count of each half-byte).
 *
 * Only the functions here carry target("avx2,fma"); the driver calls them only when cpu.c found
 * the features. They are also the AVX-512 level's popcount on a CPU without VPOPCNTDQ. */
#include "binmm.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#define TARGET __attribute__((target("avx2,fma")))

static inline TARGET float hsum8(__m256 v) {
    __m128 x = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    x = _mm_add_ps(x, _mm_movehl_ps(x, x));
    return _mm_cvtss_f32(_mm_add_ss(x, _mm_movehdup_ps(x)));
}

/* Lanes [0, n) on (all bits set), the rest off: a masked load's mask. */
static inline TARGET __m256i first_lanes(int64_t n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* x[j0 .. j0 + 8), zeros past cols. */
static inline TARGET __m256 load_x(const float *x, int64_t j0, int64_t cols) {
    return cols - j0 >= 8 ? _mm256_loadu_ps(x + j0)
                          : _mm256_maskload_ps(x + j0, first_lanes(cols - j0));
}

/* The 8 weights of bits j0 .. j0 + 8 of a row as sign bits: lane i holds bit (j0 % 32) + i at
 * bit 31. */
static inline TARGET __m256i sign_lanes(const uint32_t *row, int64_t j0) {
    int s = (int)(j0 & 31);
    __m256i shifts =
        _mm256_sub_epi32(_mm256_set1_epi32(31 - s), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    return _mm256_sllv_epi32(_mm256_set1_epi32((int)row[j0 >> 5]), shifts);
}

#define SELECT_ADD(acc, row, xv, j0)                                                               \
    acc = _mm256_add_ps(                                                                           \
        acc, _mm256_blendv_ps(_mm256_setzero_ps(), xv, _mm256_castsi256_ps(sign_lanes(row, j0))))

static TARGET void binmm_rows_avx2(const kern_bits *w, int64_t o0, int64_t o1, int64_t n,
                                   const float *x, int64_t ldx, float *y, int64_t ldy) {
    int64_t cols = w->cols, words = w->words;
    for (int64_t b = 0; b < n; b++) {
        const float *xb = x + b * ldx;
        __m256 s = _mm256_setzero_ps();
        for (int64_t j = 0; j < cols; j += 8) s = _mm256_add_ps(s, load_x(xb, j, cols));
        float sx = hsum8(s);
        int64_t o = o0;
        for (; o + 4 <= o1; o += 4) { /* four rows share each load of x */
            const uint32_t *r0 = w->bits + o * words, *r1 = r0 + words, *r2 = r1 + words,
                           *r3 = r2 + words;
            __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
            for (int64_t j = 0; j < cols; j += 8) {
                __m256 xv = load_x(xb, j, cols);
                SELECT_ADD(a0, r0, xv, j);
                SELECT_ADD(a1, r1, xv, j);
                SELECT_ADD(a2, r2, xv, j);
                SELECT_ADD(a3, r3, xv, j);
            }
            y[b * ldy + o] = w->scale[o] * (2 * hsum8(a0) - sx);
            y[b * ldy + o + 1] = w->scale[o + 1] * (2 * hsum8(a1) - sx);
            y[b * ldy + o + 2] = w->scale[o + 2] * (2 * hsum8(a2) - sx);
            y[b * ldy + o + 3] = w->scale[o + 3] * (2 * hsum8(a3) - sx);
        }
        for (; o < o1; o++) {
            const uint32_t *r0 = w->bits + o * words;
            __m256 a0 = _mm256_setzero_ps();
            for (int64_t j = 0; j < cols; j += 8) {
                __m256 xv = load_x(xb, j, cols);
                SELECT_ADD(a0, r0, xv, j);
            }
            y[b * ldy + o] = w->scale[o] * (2 * hsum8(a0) - sx);
        }
    }
}

/* Words [k, k + 8) of a row, zeros past `words`. */
static inline TARGET __m256i load_words(const uint32_t *p, int64_t k, int64_t words) {
    return words - k >= 8 ? _mm256_loadu_si256((const __m256i *)(p + k))
                          : _mm256_maskload_epi32((const int *)(p + k), first_lanes(words - k));
}

/* The bit counts of v's bytes, summed into four 64-bit lanes. */
static inline TARGET __m256i popcount_lanes(__m256i v) {
    const __m256i table = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1,
                                           2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
    const __m256i low = _mm256_set1_epi8(0x0f);
    __m256i lo = _mm256_shuffle_epi8(table, _mm256_and_si256(v, low));
    __m256i hi = _mm256_shuffle_epi8(table, _mm256_and_si256(_mm256_srli_epi16(v, 4), low));
    return _mm256_sad_epu8(_mm256_add_epi8(lo, hi), _mm256_setzero_si256());
}

static inline TARGET int64_t hsum_epi64(__m256i v) {
    __m128i x = _mm_add_epi64(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    return _mm_cvtsi128_si64(_mm_add_epi64(x, _mm_unpackhi_epi64(x, x)));
}

TARGET void binxnor_rows_avx2(const kern_bits *w, int64_t o0, int64_t o1, int64_t n,
                              const uint32_t *a, float *y, int64_t ldy) {
    int64_t words = w->words;
    for (int64_t b = 0; b < n; b++) {
        const uint32_t *ab = a + b * words;
        int64_t o = o0;
        for (; o + 4 <= o1; o += 4) {
            const uint32_t *r = w->bits + o * words;
            __m256i c0 = _mm256_setzero_si256(), c1 = c0, c2 = c0, c3 = c0;
            for (int64_t k = 0; k < words; k += 8) {
                __m256i av = load_words(ab, k, words);
                c0 = _mm256_add_epi64(
                    c0, popcount_lanes(_mm256_xor_si256(av, load_words(r, k, words))));
                c1 = _mm256_add_epi64(
                    c1, popcount_lanes(_mm256_xor_si256(av, load_words(r + words, k, words))));
                c2 = _mm256_add_epi64(
                    c2, popcount_lanes(_mm256_xor_si256(av, load_words(r + 2 * words, k, words))));
                c3 = _mm256_add_epi64(
                    c3, popcount_lanes(_mm256_xor_si256(av, load_words(r + 3 * words, k, words))));
            }
            y[b * ldy + o] = w->scale[o] * (float)(w->cols - 2 * hsum_epi64(c0));
            y[b * ldy + o + 1] = w->scale[o + 1] * (float)(w->cols - 2 * hsum_epi64(c1));
            y[b * ldy + o + 2] = w->scale[o + 2] * (float)(w->cols - 2 * hsum_epi64(c2));
            y[b * ldy + o + 3] = w->scale[o + 3] * (float)(w->cols - 2 * hsum_epi64(c3));
        }
        for (; o < o1; o++) {
            const uint32_t *r = w->bits + o * words;
            __m256i c = _mm256_setzero_si256();
            for (int64_t k = 0; k < words; k += 8)
                c = _mm256_add_epi64(c, popcount_lanes(_mm256_xor_si256(load_words(ab, k, words),
                                                                        load_words(r, k, words))));
            y[b * ldy + o] = w->scale[o] * (float)(w->cols - 2 * hsum_epi64(c));
        }
    }
}

static TARGET void binpack_rows_avx2(int64_t n, int64_t cols, const float *x, int64_t ldx,
                                     uint32_t *a) {
    int64_t words = (cols + 31) / 32;
    for (int64_t b = 0; b < n; b++) {
        const float *xb = x + b * ldx;
        for (int64_t k = 0; k < words; k++) {
            uint32_t word = 0;
            for (int q = 0; q < 4 && 32 * k + 8 * q < cols; q++) {
                int64_t j = 32 * k + 8 * q;
                /* lanes past cols load as 0 (>= 0): mask them off */
                int live = cols - j >= 8 ? 0xff : (1 << (cols - j)) - 1;
                __m256 ge = _mm256_cmp_ps(load_x(xb, j, cols), _mm256_setzero_ps(), _CMP_GE_OQ);
                word |= (uint32_t)(_mm256_movemask_ps(ge) & live) << (8 * q);
            }
            a[b * words + k] = word;
        }
    }
}

#define V        __m256
#define VL       8
#define VZERO    _mm256_setzero_ps
#define VLOAD    _mm256_loadu_ps
#define VSTORE   _mm256_storeu_ps
#define VADD     _mm256_add_ps
#define FN(name) name##_avx2
#include "binmm_lut.h"

const binmm_impl binmm_avx2 = {
    "avx2 (sign-select: blend adds, subset-sum tables; nibble-table popcount)",
    binmm_rows_avx2,
    binxnor_rows_avx2,
    binpack_rows_avx2,
    binmm_lut_avx2,
    8};

#endif
