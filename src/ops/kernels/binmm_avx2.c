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

/* The 8 x 8 block at r[0..8) transposed in place: r[c] becomes column c. */
static inline TARGET void transpose8(__m256 r[8]) {
    __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]),
           t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]),
           t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]),
           t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xee),
           u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xee),
           u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xee),
           u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xee);
    r[0] = _mm256_permute2f128_ps(u0, u4, 0x20), r[1] = _mm256_permute2f128_ps(u1, u5, 0x20);
    r[2] = _mm256_permute2f128_ps(u2, u6, 0x20), r[3] = _mm256_permute2f128_ps(u3, u7, 0x20);
    r[4] = _mm256_permute2f128_ps(u0, u4, 0x31), r[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
    r[6] = _mm256_permute2f128_ps(u2, u6, 0x31), r[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
}

/* binmm_transpose_fn in 8 x 8 blocks (G a multiple of 8); the AVX-512 level shares it. Each
 * row's sum is taken over its columns in the order of the blocks. */
TARGET void binmm_transpose_avx2(int64_t G, int64_t live, int64_t cols, int64_t cols_pad,
                                 const float *x, int64_t ldx, float *xg, float *sx) {
    for (int64_t l0 = 0; l0 < G; l0 += 8) {
        __m256 sum = _mm256_setzero_ps();
        int64_t j = 0;
        for (; j < cols; j += 8) {
            __m256 r[8];
            for (int i = 0; i < 8; i++)
                r[i] = l0 + i < live ? load_x(x + (l0 + i) * ldx, j, cols) : _mm256_setzero_ps();
            transpose8(r);
            for (int c = 0; c < 8; c++) {
                _mm256_storeu_ps(xg + (j + c) * G + l0, r[c]);
                sum = _mm256_add_ps(sum, r[c]);
            }
        }
        for (; j < cols_pad; j++) _mm256_storeu_ps(xg + j * G + l0, _mm256_setzero_ps());
        _mm256_storeu_ps(sx + l0, sum);
    }
}

/* The table lookups' results for one group: y[l, o] = scale[o] (2 acc[(o - o0) G + l] - sx[l]),
 * eight outputs by eight rows at a time, turned from acc's row-per-output into y's rows; the
 * AVX-512 level shares it. */
TARGET void binmm_store_group_avx2(const kern_bits *w, int64_t o0, int64_t o1, int64_t G,
                                   int64_t live, const float *acc, const float *sx, float *y,
                                   int64_t ldy) {
    for (int64_t l0 = 0; l0 < live; l0 += 8) {
        int64_t rows = live - l0 < 8 ? live - l0 : 8;
        __m256 sxv = _mm256_loadu_ps(sx + l0);
        int64_t o = o0;
        for (; o + 8 <= o1; o += 8) {
            __m256 r[8];
            for (int i = 0; i < 8; i++) {
                __m256 a = _mm256_loadu_ps(acc + (o + i - o0) * G + l0);
                r[i] = _mm256_mul_ps(_mm256_set1_ps(w->scale[o + i]),
                                     _mm256_sub_ps(_mm256_add_ps(a, a), sxv));
            }
            transpose8(r);
            for (int c = 0; c < rows; c++) _mm256_storeu_ps(y + (l0 + c) * ldy + o, r[c]);
        }
        for (int64_t l = l0; l < l0 + rows; l++)
            for (int64_t oo = o; oo < o1; oo++)
                y[l * ldy + oo] = w->scale[oo] * (2 * acc[(oo - o0) * G + l] - sx[l]);
    }
}

#define STORE_GROUP binmm_store_group_avx2
#include "simd_avx2.h"
#define NB       1
#define FN(name) name##_avx2
#include "binmm_lut.h"
#define NB       2
#define FN(name) name##_wide_avx2
#include "binmm_lut.h"
#include "simd_reset.h"

const binmm_impl binmm_avx2 = {
    "avx2 (sign-select: blend adds, subset-sum tables; nibble-table popcount)",
    binmm_rows_avx2,
    binxnor_rows_avx2,
    binpack_rows_avx2,
    binmm_lut_avx2,
    binmm_lut_wide_avx2,
    binmm_transpose_avx2,
    8,
    2};

#endif
