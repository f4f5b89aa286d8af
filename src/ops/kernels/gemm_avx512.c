/* gemm_avx512.c: the AVX-512 GEMM kernels (f32 and f64): micro- and direct kernels from the
 * gemm_simd.h template, and the in-register transposes used for packing.
 *
 * Only the functions here carry target("avx512f,avx512dq"); the rest of the library is built
 * for baseline x86-64, and the driver calls these only when cpu.c found the features. Tiles:
 * packed 14 rows x 2 vectors (28 of the 32 zmm registers accumulate); direct 12 x 2 and
 * 24 x 1 vectors; dot form 6 x 4 entries (24 accumulators, 4 + 1 operand vectors). */
#include "gemm.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#define TARGET        __attribute__((target("avx512f,avx512dq")))
#define MAIN_MR       14
#define MAIN_NV       2
#define DIRECT_ROWS   12
#define DIRECT_VECS   2
#define DIRECT_ROWS_1 24
#define DOT_ROWS      6
#define DOT_COLS      4

#include "simd_avx512.h"
#define FN(name) name##_avx512_f32
#include "gemm_simd.h"
#undef FN

#define SIMD_F64
#include "simd_avx512.h"
#define FN(name) name##_avx512_f64
#include "gemm_simd.h"

/* Transposing copies (dst[k*ds + r] = src[r*ss + k]), which packing a row-major A or a
 * column-major B amounts to: 16 x 16 (f32) or 8 x 8 (f64) blocks in registers, a fraction of
 * the cost of scalar copies with strided stores. Rows from `rows` to `lanes` come out zero. */

/* Transposes 4 vectors' 128-bit lanes as a 4 x 4 matrix of lanes: out[l] = lane l of each. */
static inline TARGET void lanes_4x4(__m512 s0, __m512 s1, __m512 s2, __m512 s3, __m512 *out) {
    __m512 x0 = _mm512_shuffle_f32x4(s0, s1, 0x44), x1 = _mm512_shuffle_f32x4(s0, s1, 0xee);
    __m512 x2 = _mm512_shuffle_f32x4(s2, s3, 0x44), x3 = _mm512_shuffle_f32x4(s2, s3, 0xee);
    out[0] = _mm512_shuffle_f32x4(x0, x2, 0x88);
    out[1] = _mm512_shuffle_f32x4(x0, x2, 0xdd);
    out[2] = _mm512_shuffle_f32x4(x1, x3, 0x88);
    out[3] = _mm512_shuffle_f32x4(x1, x3, 0xdd);
}

static inline TARGET __m512 unpack_pd_ps(__m512 a, __m512 b, bool hi) {
    __m512d x = _mm512_castps_pd(a), y = _mm512_castps_pd(b);
    return _mm512_castpd_ps(hi ? _mm512_unpackhi_pd(x, y) : _mm512_unpacklo_pd(x, y));
}

static TARGET void transpose_avx512_f32(const void *srcv, int64_t ss, int rows, int lanes,
                                        int64_t cols, void *dstv, int64_t ds) {
    const float *src = srcv;
    float *dst = dstv;
    __mmask16 keep = (__mmask16)((1u << lanes) - 1);
    for (int64_t k0 = 0; k0 < cols; k0 += 16) {
        int n = cols - k0 < 16 ? (int)(cols - k0) : 16;
        __mmask16 in = (__mmask16)((1u << n) - 1);
        __m512 v[16], s[4][4], col[16];
        for (int r = 0; r < 16; r++)
            v[r] = r < rows ? _mm512_maskz_loadu_ps(in, src + r * ss + k0) : _mm512_setzero_ps();
        /* Within each 128-bit lane, 4 x 4 blocks: s[g][c] lane l = column 4l+c, rows 4g.. */
        for (int g = 0; g < 4; g++) {
            __m512 t0 = _mm512_unpacklo_ps(v[4 * g], v[4 * g + 1]);
            __m512 t1 = _mm512_unpackhi_ps(v[4 * g], v[4 * g + 1]);
            __m512 t2 = _mm512_unpacklo_ps(v[4 * g + 2], v[4 * g + 3]);
            __m512 t3 = _mm512_unpackhi_ps(v[4 * g + 2], v[4 * g + 3]);
            s[g][0] = unpack_pd_ps(t0, t2, false);
            s[g][1] = unpack_pd_ps(t0, t2, true);
            s[g][2] = unpack_pd_ps(t1, t3, false);
            s[g][3] = unpack_pd_ps(t1, t3, true);
        }
        for (int c = 0; c < 4; c++) {
            __m512 out[4];
            lanes_4x4(s[0][c], s[1][c], s[2][c], s[3][c], out);
            for (int l = 0; l < 4; l++) col[4 * l + c] = out[l];
        }
        for (int j = 0; j < n; j++) _mm512_mask_storeu_ps(dst + (k0 + j) * ds, keep, col[j]);
    }
}

static TARGET void transpose_avx512_f64(const void *srcv, int64_t ss, int rows, int lanes,
                                        int64_t cols, void *dstv, int64_t ds) {
    const double *src = srcv;
    double *dst = dstv;
    __mmask8 keep = (__mmask8)((1u << lanes) - 1);
    for (int64_t k0 = 0; k0 < cols; k0 += 8) {
        int n = cols - k0 < 8 ? (int)(cols - k0) : 8;
        __mmask8 in = (__mmask8)((1u << n) - 1);
        __m512d v[8], t[8], col[8];
        for (int r = 0; r < 8; r++)
            v[r] = r < rows ? _mm512_maskz_loadu_pd(in, src + r * ss + k0) : _mm512_setzero_pd();
        /* t[2p + c] lane l = column 2l+c, rows 2p and 2p+1. */
        for (int p = 0; p < 4; p++) {
            t[2 * p] = _mm512_unpacklo_pd(v[2 * p], v[2 * p + 1]);
            t[2 * p + 1] = _mm512_unpackhi_pd(v[2 * p], v[2 * p + 1]);
        }
        for (int c = 0; c < 2; c++) {
            __m512 out[4];
            lanes_4x4(_mm512_castpd_ps(t[c]), _mm512_castpd_ps(t[2 + c]),
                      _mm512_castpd_ps(t[4 + c]), _mm512_castpd_ps(t[6 + c]), out);
            for (int l = 0; l < 4; l++) col[2 * l + c] = _mm512_castps_pd(out[l]);
        }
        for (int j = 0; j < n; j++) _mm512_mask_storeu_pd(dst + (k0 + j) * ds, keep, col[j]);
    }
}

/* Blocking, measured on Zen 4 (1 MiB L2 per core): an A block of mc x kc (about 450 KiB)
 * stays in L2, and so does the B micro-panel (kc x nr) it is multiplied by, whose rows stream
 * to the registers from there; the B panel (kc x nc, 8 MiB) lives in L3. A long kc (1024 f32)
 * means C is read and written back fewer times: kc 384-512 measured 3-5% slower. */
const gemm_impl gemm_avx512_f32 = {
    .packed = {MAIN_MR, MAIN_NV * 16, 1024, 112, 2048, ukr_main_avx512_f32},
    .transpose = transpose_avx512_f32,
    .transpose_lanes = 16,
    .direct = direct_avx512_f32,
    .direct_unit_b = true,
    .dot = dot_avx512_f32,
    .direct_lanes = 16,
    .direct_kc = 256,
    .direct_mr = DIRECT_ROWS,
    .direct_nr = DIRECT_VECS * 16,
};

const gemm_impl gemm_avx512_f64 = {
    .packed = {MAIN_MR, MAIN_NV * 8, 512, 112, 2048, ukr_main_avx512_f64},
    .transpose = transpose_avx512_f64,
    .transpose_lanes = 8,
    .direct = direct_avx512_f64,
    .direct_unit_b = true,
    .dot = dot_avx512_f64,
    .direct_lanes = 8,
    .direct_kc = 256,
    .direct_mr = DIRECT_ROWS,
    .direct_nr = DIRECT_VECS * 8,
};
#endif
