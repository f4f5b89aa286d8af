/* binmm_neon.c: the packed binary products with AArch64 NEON: sign-select adds (each bit of a
 * weight word tested into a lane mask, which keeps x or 0 for the add), the XNOR product with
 * the byte popcount (vcntq_u8), sign packing, and the batched table lookups of binmm_lut.h with
 * 4-lane vectors. Built only for AArch64 (src/ops/kernels/meson.build), where NEON is always
 * there. */
#include "binmm.h"

#if defined(__aarch64__)
#include "neon_util.h"

/* The bits (j0 % 32) .. + 4 of a row's word as lane masks: all ones where the bit is set. */
static inline uint32x4_t sign_mask(const uint32_t *row, int64_t j0) {
    static const uint32_t bit[4] = {1, 2, 4, 8};
    return vtstq_u32(vdupq_n_u32(row[j0 >> 5] >> (j0 & 31)), vld1q_u32(bit));
}

#define SELECT_ADD(acc, row, xv, j0)                                                               \
    acc = vaddq_f32(                                                                               \
        acc, vreinterpretq_f32_u32(vandq_u32(sign_mask(row, j0), vreinterpretq_u32_f32(xv))))

static inline float32x4_t load_x(const float *x, int64_t j0, int64_t cols) {
    return kern_neon_load_first_f32(x + j0, cols - j0 >= 4 ? 4 : (int)(cols - j0));
}

static void binmm_rows_neon(const kern_bits *w, int64_t o0, int64_t o1, int64_t n, const float *x,
                            int64_t ldx, float *y, int64_t ldy) {
    int64_t cols = w->cols, words = w->words;
    for (int64_t b = 0; b < n; b++) {
        const float *xb = x + b * ldx;
        float32x4_t s = vdupq_n_f32(0.0f);
        for (int64_t j = 0; j < cols; j += 4) s = vaddq_f32(s, load_x(xb, j, cols));
        float sx = vaddvq_f32(s);
        int64_t o = o0;
        for (; o + 4 <= o1; o += 4) { /* four rows share each load of x */
            const uint32_t *r0 = w->bits + o * words, *r1 = r0 + words, *r2 = r1 + words,
                           *r3 = r2 + words;
            float32x4_t a0 = vdupq_n_f32(0.0f), a1 = a0, a2 = a0, a3 = a0;
            for (int64_t j = 0; j < cols; j += 4) {
                float32x4_t xv = load_x(xb, j, cols);
                SELECT_ADD(a0, r0, xv, j);
                SELECT_ADD(a1, r1, xv, j);
                SELECT_ADD(a2, r2, xv, j);
                SELECT_ADD(a3, r3, xv, j);
            }
            y[b * ldy + o] = w->scale[o] * (2 * vaddvq_f32(a0) - sx);
            y[b * ldy + o + 1] = w->scale[o + 1] * (2 * vaddvq_f32(a1) - sx);
            y[b * ldy + o + 2] = w->scale[o + 2] * (2 * vaddvq_f32(a2) - sx);
            y[b * ldy + o + 3] = w->scale[o + 3] * (2 * vaddvq_f32(a3) - sx);
        }
        for (; o < o1; o++) {
            const uint32_t *r0 = w->bits + o * words;
            float32x4_t a0 = vdupq_n_f32(0.0f);
            for (int64_t j = 0; j < cols; j += 4) {
                float32x4_t xv = load_x(xb, j, cols);
                SELECT_ADD(a0, r0, xv, j);
            }
            y[b * ldy + o] = w->scale[o] * (2 * vaddvq_f32(a0) - sx);
        }
    }
}

/* Words [k, k + 4) of a row, zeros past `words`. */
static inline uint8x16_t load_words(const uint32_t *p, int64_t k, int64_t words) {
    if (words - k >= 4) return vreinterpretq_u8_u32(vld1q_u32(p + k));
    uint32_t t[4] = {0, 0, 0, 0};
    for (int64_t i = 0; i < words - k; i++) t[i] = p[k + i];
    return vreinterpretq_u8_u32(vld1q_u32(t));
}

/* c plus the bit counts of a XOR b, summed into four 32-bit lanes. */
static inline uint32x4_t count(uint32x4_t c, uint8x16_t a, uint8x16_t b) {
    return vpadalq_u16(c, vpaddlq_u8(vcntq_u8(veorq_u8(a, b))));
}

static void binxnor_rows_neon(const kern_bits *w, int64_t o0, int64_t o1, int64_t n,
                              const uint32_t *a, float *y, int64_t ldy) {
    int64_t words = w->words;
    for (int64_t b = 0; b < n; b++) {
        const uint32_t *ab = a + b * words;
        int64_t o = o0;
        for (; o + 4 <= o1; o += 4) {
            const uint32_t *r = w->bits + o * words;
            uint32x4_t c0 = vdupq_n_u32(0), c1 = c0, c2 = c0, c3 = c0;
            for (int64_t k = 0; k < words; k += 4) {
                uint8x16_t av = load_words(ab, k, words);
                c0 = count(c0, av, load_words(r, k, words));
                c1 = count(c1, av, load_words(r + words, k, words));
                c2 = count(c2, av, load_words(r + 2 * words, k, words));
                c3 = count(c3, av, load_words(r + 3 * words, k, words));
            }
            y[b * ldy + o] = w->scale[o] * (float)(w->cols - 2 * (int64_t)vaddvq_u32(c0));
            y[b * ldy + o + 1] = w->scale[o + 1] * (float)(w->cols - 2 * (int64_t)vaddvq_u32(c1));
            y[b * ldy + o + 2] = w->scale[o + 2] * (float)(w->cols - 2 * (int64_t)vaddvq_u32(c2));
            y[b * ldy + o + 3] = w->scale[o + 3] * (float)(w->cols - 2 * (int64_t)vaddvq_u32(c3));
        }
        for (; o < o1; o++) {
            const uint32_t *r = w->bits + o * words;
            uint32x4_t c = vdupq_n_u32(0);
            for (int64_t k = 0; k < words; k += 4)
                c = count(c, load_words(ab, k, words), load_words(r, k, words));
            y[b * ldy + o] = w->scale[o] * (float)(w->cols - 2 * (int64_t)vaddvq_u32(c));
        }
    }
}

static void binpack_rows_neon(int64_t n, int64_t cols, const float *x, int64_t ldx, uint32_t *a) {
    static const uint32_t bit[4] = {1, 2, 4, 8};
    uint32x4_t bits = vld1q_u32(bit);
    int64_t words = (cols + 31) / 32;
    for (int64_t b = 0; b < n; b++) {
        const float *xb = x + b * ldx;
        for (int64_t k = 0; k < words; k++) {
            uint32_t word = 0;
            for (int q = 0; q < 8 && 32 * k + 4 * q < cols; q++) {
                int64_t j = 32 * k + 4 * q;
                /* lanes past cols load as 0 (>= 0): mask them off */
                uint32_t live = cols - j >= 4 ? 0xf : (1u << (cols - j)) - 1;
                uint32x4_t ge = vcgeq_f32(load_x(xb, j, cols), vdupq_n_f32(0.0f));
                word |= (vaddvq_u32(vandq_u32(ge, bits)) & live) << (4 * q);
            }
            a[b * words + k] = word;
        }
    }
}

/* The 4 x 4 block r[0..4) transposed in place: r[c] becomes column c. */
static inline void transpose4(float32x4_t r[4]) {
    float64x2_t t0 = vreinterpretq_f64_f32(vtrn1q_f32(r[0], r[1])),
                t1 = vreinterpretq_f64_f32(vtrn2q_f32(r[0], r[1])),
                t2 = vreinterpretq_f64_f32(vtrn1q_f32(r[2], r[3])),
                t3 = vreinterpretq_f64_f32(vtrn2q_f32(r[2], r[3]));
    r[0] = vreinterpretq_f32_f64(vtrn1q_f64(t0, t2));
    r[1] = vreinterpretq_f32_f64(vtrn1q_f64(t1, t3));
    r[2] = vreinterpretq_f32_f64(vtrn2q_f64(t0, t2));
    r[3] = vreinterpretq_f32_f64(vtrn2q_f64(t1, t3));
}

/* binmm_transpose_fn in 4 x 4 blocks (G a multiple of 4). */
static void binmm_transpose_neon(int64_t G, int64_t live, int64_t cols, int64_t cols_pad,
                                 const float *x, int64_t ldx, float *xg, float *sx) {
    for (int64_t l0 = 0; l0 < G; l0 += 4) {
        float32x4_t sum = vdupq_n_f32(0.0f);
        int64_t j = 0;
        for (; j < cols; j += 4) {
            float32x4_t r[4];
            for (int i = 0; i < 4; i++)
                r[i] = l0 + i < live ? load_x(x + (l0 + i) * ldx, j, cols) : vdupq_n_f32(0.0f);
            transpose4(r);
            for (int c = 0; c < 4; c++) {
                vst1q_f32(xg + (j + c) * G + l0, r[c]);
                sum = vaddq_f32(sum, r[c]);
            }
        }
        for (; j < cols_pad; j++) vst1q_f32(xg + j * G + l0, vdupq_n_f32(0.0f));
        vst1q_f32(sx + l0, sum);
    }
}

/* y[l, o] = scale[o] (2 acc[(o - o0) G + l] - sx[l]), four outputs by four rows at a time. */
static void binmm_store_group_neon(const kern_bits *w, int64_t o0, int64_t o1, int64_t G,
                                   int64_t live, const float *acc, const float *sx, float *y,
                                   int64_t ldy) {
    for (int64_t l0 = 0; l0 < live; l0 += 4) {
        int64_t rows = live - l0 < 4 ? live - l0 : 4;
        float32x4_t sxv = vld1q_f32(sx + l0);
        int64_t o = o0;
        for (; o + 4 <= o1; o += 4) {
            float32x4_t r[4];
            for (int i = 0; i < 4; i++) {
                float32x4_t a = vld1q_f32(acc + (o + i - o0) * G + l0);
                r[i] = vmulq_n_f32(vsubq_f32(vaddq_f32(a, a), sxv), w->scale[o + i]);
            }
            transpose4(r);
            for (int c = 0; c < rows; c++) vst1q_f32(y + (l0 + c) * ldy + o, r[c]);
        }
        for (int64_t l = l0; l < l0 + rows; l++)
            for (int64_t oo = o; oo < o1; oo++)
                y[l * ldy + oo] = w->scale[oo] * (2 * acc[(oo - o0) * G + l] - sx[l]);
    }
}

#define STORE_GROUP binmm_store_group_neon
#define TARGET
#include "simd_neon.h"
#define NB       1
#define FN(name) name##_neon
#include "binmm_lut.h"
#define NB       4
#define FN(name) name##_wide_neon
#include "binmm_lut.h"
#include "simd_reset.h"

const binmm_impl binmm_neon = {"neon (sign-select: masked adds, subset-sum tables; vcnt popcount)",
                               binmm_rows_neon,
                               binxnor_rows_neon,
                               binpack_rows_neon,
                               binmm_lut_neon,
                               binmm_lut_wide_neon,
                               binmm_transpose_neon,
                               4,
                               4};

#endif
