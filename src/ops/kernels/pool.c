/* pool.c: 2-D max and average pooling loops over contiguous (C, H, W) blocks.
 *
 * Max pooling selects, in each window, the first position (row-major scan) holding the largest
 * value; padding never wins (it acts as -infinity). The gather and scatter forms reuse exactly
 * that selection, so a forward and its adjoint always agree on ties. Selections are made a row
 * of output columns at a time; windows wholly inside the image skip the bounds checks, and 2x2
 * windows at stride 2 (no padding or dilation) have a path of their own. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "conv.h"
#include "cpu.h"
#include "threadpool.h"
#include "vec.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#include "avx2_util.h"
#define POOL_X86 1
#elif defined(__aarch64__)
#include "neon_util.h"
#define POOL_NEON 1
#endif

/* The taps [*lo, *hi) of a window that starts at `start` and steps by d (>= 1) over k taps
 * which land inside [0, size). Windows are clipped to them before any loop, so a window's cost
 * is what it covers of the image, not its size: a kernel of 2^31 over a 4x4 image costs 16. */
static inline void taps_inside(int64_t start, int64_t k, int64_t d, int64_t size, int64_t *lo,
                               int64_t *hi) {
    if (d == 1) { /* every average pool and most max pools: no division per window */
        *lo = start < 0 ? -start : 0;
        *hi = start >= size ? 0 : size - start;
    } else {
        *lo = start < 0 ? (-start + d - 1) / d : 0;
        *hi = start >= size ? 0 : (size - 1 - start) / d + 1;
    }
    if (*hi > k) *hi = k;
    if (*lo > *hi) *lo = *hi;
}

/* The flat (y * W + x) position selected in window (oy, ox) of channel plane p, or -1 when the
 * window holds only padding. NaN wins over numbers, as in PyTorch. */
#define ARGMAX(T)                                                                              \
    static int64_t argmax_##T(const kern_window *g, const T *p, int64_t oy, int64_t ox) {      \
        int64_t best = -1, i0, i1, j0, j1;                                                     \
        T bv = 0;                                                                              \
        taps_inside(oy * g->sh - g->ph, g->kh, g->dh, g->H, &i0, &i1);                         \
        taps_inside(ox * g->sw - g->pw, g->kw, g->dw, g->W, &j0, &j1);                         \
        for (int64_t i = i0; i < i1; i++) {                                                    \
            int64_t y = oy * g->sh - g->ph + i * g->dh;                                        \
            for (int64_t j = j0; j < j1; j++) {                                                \
                int64_t x = ox * g->sw - g->pw + j * g->dw;                                    \
                T v = p[y * g->W + x];                                                         \
                if (best < 0 || v > bv || (isnan(v) && !isnan(bv))) {                          \
                    best = y * g->W + x;                                                       \
                    bv = v;                                                                    \
                }                                                                              \
            }                                                                                  \
        }                                                                                      \
        return best;                                                                           \
    }

/* Output columns per pass of the row selection below, and the largest window (kh kw elements)
 * the f32 SIMD selection takes. */
enum { POOL_CHUNK = 64, POOL_VEC_MAX_WINDOW = 64 };

/* The output columns [*lo, *hi) of row oy whose windows lie wholly inside the image. */
static void inside_columns(const kern_window *g, int64_t oy, int64_t *lo, int64_t *hi) {
    int64_t y0 = oy * g->sh - g->ph;
    *lo = *hi = 0;
    if (y0 < 0 || y0 + (g->kh - 1) * g->dh >= g->H) return;
    int64_t a = g->pw <= 0 ? 0 : (g->pw + g->sw - 1) / g->sw;
    int64_t last = g->W - 1 - (g->kw - 1) * g->dw + g->pw; /* the largest ox * sw allowed */
    int64_t b = last < 0 ? 0 : last / g->sw + 1;
    if (b > g->ow) b = g->ow;
    if (a > b) a = b;
    *lo = a;
    *hi = b;
}

/* The selections of output columns [ox0, ox0 + n) of row oy (n <= POOL_CHUNK) into idx, the
 * same as argmax gives. Windows wholly inside the image are scanned for all columns at once, in
 * the same order, with selects rather than branches: on real data each comparison is a coin
 * toss that a branch predictor loses half the time, and the loop over columns vectorises. */
#define ARGMAX_ROW(T)                                                                          \
    static void argmax_row_##T(const kern_window *g, const T *p, int64_t oy, int64_t ox0,      \
                               int64_t n, int64_t *idx) {                                      \
        int64_t lo, hi;                                                                        \
        inside_columns(g, oy, &lo, &hi);                                                       \
        lo = lo < ox0 ? ox0 : lo > ox0 + n ? ox0 + n : lo;                                     \
        hi = hi > ox0 + n ? ox0 + n : hi < lo ? lo : hi;                                       \
        for (int64_t ox = ox0; ox < lo; ox++) idx[ox - ox0] = argmax_##T(g, p, oy, ox);         \
        for (int64_t ox = hi; ox < ox0 + n; ox++) idx[ox - ox0] = argmax_##T(g, p, oy, ox);     \
        int64_t m = hi - lo, first = (oy * g->sh - g->ph) * g->W + lo * g->sw - g->pw;         \
        if (m <= 0) return;                                                                    \
        int64_t *bi = idx + (lo - ox0);                                                        \
        if (sizeof(T) == sizeof(float) && g->kh * g->kw <= POOL_VEC_MAX_WINDOW) {              \
            int64_t offs[POOL_VEC_MAX_WINDOW];                                                 \
            int n_offs = 0;                                                                    \
            for (int64_t i = 0; i < g->kh; i++)                                                \
                for (int64_t j = 0; j < g->kw; j++) offs[n_offs++] = i * g->dh * g->W + j * g->dw; \
            if (kern_vec_select_max_f32((const float *)(const void *)p, first, g->sw, m, offs, \
                                        n_offs, bi))                                           \
                return;                                                                        \
        }                                                                                      \
        T bv[POOL_CHUNK];                                                                      \
        for (int64_t q = 0; q < m; q++) {                                                      \
            bi[q] = first + q * g->sw;                                                         \
            bv[q] = p[bi[q]];                                                                  \
        }                                                                                      \
        for (int64_t i = 0; i < g->kh; i++)                                                    \
            for (int64_t j = i == 0; j < g->kw; j++) {                                         \
                int64_t k0 = first + i * g->dh * g->W + j * g->dw;                             \
                for (int64_t q = 0; q < m; q++) {                                              \
                    int64_t k = k0 + q * g->sw;                                                \
                    T v = p[k];                                                                \
                    bool take = (v > bv[q]) | ((v != v) & (bv[q] == bv[q]));                   \
                    bv[q] = take ? v : bv[q];                                                  \
                    bi[q] = take ? k : bi[q];                                                  \
                }                                                                              \
            }                                                                                  \
    }

#define POOL_FUNCS(T)                                                                          \
    ARGMAX(T)                                                                                  \
    ARGMAX_ROW(T)                                                                              \
    static void gather_##T(const kern_window *g, const T *x, const T *src, T *out) {           \
        int64_t idx[POOL_CHUNK];                                                               \
        for (int64_t c = 0; c < g->C; c++) {                                                   \
            const T *px = x + c * g->H * g->W, *ps = src + c * g->H * g->W;                    \
            for (int64_t oy = 0; oy < g->oh; oy++)                                             \
                for (int64_t ox0 = 0; ox0 < g->ow; ox0 += POOL_CHUNK) {                        \
                    int64_t n = g->ow - ox0 < POOL_CHUNK ? g->ow - ox0 : POOL_CHUNK;           \
                    argmax_row_##T(g, px, oy, ox0, n, idx);                                    \
                    for (int64_t q = 0; q < n; q++)                                            \
                        *out++ = idx[q] < 0 ? (T)-INFINITY : ps[idx[q]];                       \
                }                                                                              \
        }                                                                                      \
    }                                                                                          \
    static void scatter_##T(const kern_window *g, const T *x, const T *grad, T *out) {         \
        int64_t idx[POOL_CHUNK];                                                               \
        for (int64_t c = 0; c < g->C; c++) {                                                   \
            const T *px = x + c * g->H * g->W;                                                 \
            T *po = out + c * g->H * g->W;                                                     \
            for (int64_t oy = 0; oy < g->oh; oy++)                                             \
                for (int64_t ox0 = 0; ox0 < g->ow; ox0 += POOL_CHUNK) {                        \
                    int64_t n = g->ow - ox0 < POOL_CHUNK ? g->ow - ox0 : POOL_CHUNK;           \
                    argmax_row_##T(g, px, oy, ox0, n, idx);                                    \
                    for (int64_t q = 0; q < n; q++, grad++)                                    \
                        if (idx[q] >= 0) po[idx[q]] += *grad;                                  \
                }                                                                              \
        }                                                                                      \
    }                                                                                          \
    static void avg_##T(const kern_window *g, const T *x, T *out, bool adjoint) {              \
        T inv = (T)1 / (T)(g->kh * g->kw);                                                     \
        for (int64_t c = 0; c < g->C; c++) {                                                   \
            const T *px = x + c * g->H * g->W;                                                 \
            T *pa = out + c * g->H * g->W; /* adjoint: out is (C, H, W), x is (C, OH, OW) */   \
            for (int64_t oy = 0; oy < g->oh; oy++) {                                           \
                int64_t y0 = oy * g->sh - g->ph, i0, i1; /* the rows, once per output row */   \
                taps_inside(y0, g->kh, g->dh, g->H, &i0, &i1);                                 \
                for (int64_t ox = 0; ox < g->ow; ox++) {                                       \
                    T acc = 0, gv = adjoint ? x[(c * g->oh + oy) * g->ow + ox] * inv : 0;      \
                    int64_t x0 = ox * g->sw - g->pw, j0, j1;                                   \
                    taps_inside(x0, g->kw, g->dw, g->W, &j0, &j1);                             \
                    for (int64_t i = i0; i < i1; i++) {                                        \
                        int64_t row = (y0 + i * g->dh) * g->W + x0;                            \
                        for (int64_t j = j0; j < j1; j++) {                                    \
                            if (adjoint)                                                       \
                                pa[row + j * g->dw] += gv;                                     \
                            else                                                               \
                                acc += px[row + j * g->dw];                                    \
                        }                                                                      \
                    }                                                                          \
                    if (!adjoint) out[(c * g->oh + oy) * g->ow + ox] = acc * inv;              \
                }                                                                              \
            }                                                                                  \
        }                                                                                      \
    }

POOL_FUNCS(float)
POOL_FUNCS(double)

/* ---- 2x2 windows at stride 2, no padding, no dilation (LeNet's and most CNNs' pooling) ----
 * Every window then lies inside the plane, and the windows tile it except for a last row or
 * column when H or W is odd. The selection is the one argmax makes: positions scanned in the
 * order (0,0), (0,1), (1,0), (1,1), a later one taken when it is larger or is the first NaN. The
 * scatter writes every element of its output (the selected position gets the gradient, the other
 * three and any uncovered last row or column get 0), so its output needs no zero fill first. */
static bool is_pool2(const kern_window *g) {
    return g->kh == 2 && g->kw == 2 && g->sh == 2 && g->sw == 2 && g->ph == 0 && g->pw == 0 &&
           g->dh == 1 && g->dw == 1;
}

/* The choices of a row of outputs, as the 2x2 path records them: per chunk of 16 outputs three
 * 16-bit masks, the outputs whose window picks b, c and d (the others pick a). */
static int64_t choice_row(const kern_window *g) { return 3 * ((g->ow + 15) / 16); }

static int choice_at(const uint16_t *row, int64_t ox) {
    const uint16_t *m = row + 3 * (ox / 16);
    unsigned bit = 1u << (ox % 16);
    return m[2] & bit ? 3 : m[1] & bit ? 2 : m[0] & bit ? 1 : 0;
}

#define POOL2_FUNCS(T)                                                                         \
    /* Which of a, b, c, d (scan order) the window selects: 0 to 3. */                         \
    static inline int pool2_pick_##T(T a, T b, T c, T d) {                                     \
        int k = 0;                                                                             \
        T best = a;                                                                            \
        if (b > best || (b != b && best == best)) k = 1, best = b;                             \
        if (c > best || (c != c && best == best)) k = 2, best = c;                             \
        if (d > best || (d != d && best == best)) k = 3;                                       \
        return k;                                                                              \
    }                                                                                          \
    static void pool2_gather_##T(const kern_window *g, const T *x, const T *src, T *out,       \
                                 uint16_t *sel) {                                              \
        for (int64_t c = 0; c < g->C; c++) {                                                   \
            const T *px = x + c * g->H * g->W, *ps = src + c * g->H * g->W;                    \
            for (int64_t oy = 0; oy < g->oh; oy++) {                                           \
                const T *r0 = px + 2 * oy * g->W, *r1 = r0 + g->W;                             \
                const T *s0 = ps + 2 * oy * g->W, *s1 = s0 + g->W;                             \
                if (sel) memset(sel, 0, (size_t)choice_row(g) * sizeof *sel);                  \
                for (int64_t ox = 0; ox < g->ow; ox++) {                                       \
                    int k = pool2_pick_##T(r0[2 * ox], r0[2 * ox + 1], r1[2 * ox],             \
                                           r1[2 * ox + 1]);                                    \
                    *out++ = (k < 2 ? s0 : s1)[2 * ox + (k & 1)];                              \
                    if (sel && k) sel[3 * (ox / 16) + k - 1] |= (uint16_t)(1u << (ox % 16));   \
                }                                                                              \
                if (sel) sel += choice_row(g);                                                 \
            }                                                                                  \
        }                                                                                      \
    }                                                                                          \
    /* With sel the choices are read from it (x is not used), else made from x. */           \
    static void pool2_scatter_##T(const kern_window *g, const T *x, const uint16_t *sel,       \
                                  const T *grad, T *out) {                                     \
        for (int64_t c = 0; c < g->C; c++) {                                                   \
            T *po = out + c * g->H * g->W;                                                     \
            for (int64_t oy = 0; oy < g->oh; oy++) {                                           \
                const T *r0 = sel ? x : x + (c * g->H + 2 * oy) * g->W;                        \
                const T *r1 = sel ? x : r0 + g->W;                                             \
                T *o0 = po + 2 * oy * g->W, *o1 = o0 + g->W;                                   \
                for (int64_t ox = 0; ox < g->ow; ox++, grad++) {                               \
                    int k = sel ? choice_at(sel, ox)                                           \
                                : pool2_pick_##T(r0[2 * ox], r0[2 * ox + 1], r1[2 * ox],       \
                                                 r1[2 * ox + 1]);                              \
                    o0[2 * ox] = k == 0 ? *grad : 0;                                           \
                    o0[2 * ox + 1] = k == 1 ? *grad : 0;                                       \
                    o1[2 * ox] = k == 2 ? *grad : 0;                                           \
                    o1[2 * ox + 1] = k == 3 ? *grad : 0;                                       \
                }                                                                              \
                if (g->W & 1) o0[g->W - 1] = o1[g->W - 1] = 0;                                 \
                if (sel) sel += choice_row(g);                                                 \
            }                                                                                  \
            if (g->H & 1) memset(po + (g->H - 1) * g->W, 0, (size_t)g->W * sizeof(T));         \
        }                                                                                      \
    }

POOL2_FUNCS(float)
POOL2_FUNCS(double)

#ifdef POOL_X86
/* ---- AVX-512: 16 outputs a vector, masks are 16-bit mask registers ---- */
#define POOL_AVX512 __attribute__((target("avx512f")))
/* The 2n (1 <= n <= 16) floats from p as the n even-placed (*e) and n odd-placed (*o) ones, in
 * the first n lanes; nothing past p[2n - 1] is read. */
POOL_AVX512 static inline void pool2_split16(const float *p, int n, __m512 *e, __m512 *o) {
    __mmask16 m1 = (__mmask16)(n >= 8 ? 0xffffu : (1u << (2 * n)) - 1);
    __mmask16 m2 = (__mmask16)(n > 8 ? (1u << (2 * n - 16)) - 1 : 0u);
    __m512 v0 = _mm512_maskz_loadu_ps(m1, p), v1 = _mm512_maskz_loadu_ps(m2, p + 16);
    __m512i ie = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    __m512i io = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    *e = _mm512_permutex2var_ps(v0, ie, v1);
    *o = _mm512_permutex2var_ps(v0, io, v1);
}

/* The inverse: stores e and o interleaved as 2n floats at p. */
POOL_AVX512 static inline void pool2_join16(float *p, int n, __m512 e, __m512 o) {
    __mmask16 m1 = (__mmask16)(n >= 8 ? 0xffffu : (1u << (2 * n)) - 1);
    __mmask16 m2 = (__mmask16)(n > 8 ? (1u << (2 * n - 16)) - 1 : 0u);
    __m512i il = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    __m512i ih = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    _mm512_mask_storeu_ps(p, m1, _mm512_permutex2var_ps(e, il, o));
    _mm512_mask_storeu_ps(p + 16, m2, _mm512_permutex2var_ps(e, ih, o));
}

/* Lanes where v replaces best in the scan: larger, or the first NaN. With best a number that
 * is "not v <= best" (true when v is NaN); a NaN best is never replaced. */
POOL_AVX512 static inline __mmask16 pool2_take16(__m512 v, __m512 best) {
    return _mm512_mask_cmp_ps_mask(_mm512_cmp_ps_mask(best, best, _CMP_ORD_Q), v, best,
                                   _CMP_NLE_UQ);
}

#define V                 __m512
#define M                 __mmask16
#define VL                16
#define TARGET            POOL_AVX512
#define FN(name)          pool2_##name##_avx512
#define VLOADN(p, n)      _mm512_maskz_loadu_ps((__mmask16)((1u << (n)) - 1), p)
#define VSTOREN(p, n, v)  _mm512_mask_storeu_ps(p, (__mmask16)((1u << (n)) - 1), v)
#define VSPLIT            pool2_split16
#define VJOIN             pool2_join16
#define VTAKE             pool2_take16
#define VBLEND(m, a, b)   _mm512_mask_blend_ps(m, a, b)
#define VKEEP(m, v)       _mm512_maskz_mov_ps(m, v)
#define VDROP(m, v)       _mm512_maskz_mov_ps((__mmask16) ~(m), v)
#define MOR(a, b)         ((__mmask16)((a) | (b)))
#define MANDNOT(a, b)     ((__mmask16)((a) & ~(b)))
#define MBITS(m)          ((unsigned)(m))
#define MUNBITS(bits)     ((__mmask16)(bits))
#include "pool2_simd.h"

/* ---- AVX2: 8 outputs a vector, two per chunk of the choices' format; masks are vectors of
 * all-ones or all-zero lanes ---- */
#define POOL_AVX2 __attribute__((target("avx2,fma")))
POOL_AVX2 static inline __m256i pool2_first8(int n) { /* the first n (0 <= n <= 8) lanes */
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* As pool2_split16, for 1 <= n <= 8. */
POOL_AVX2 static inline void pool2_split8(const float *p, int n, __m256 *e, __m256 *o) {
    __m256 v0, v1;
    if (n == 8) {
        v0 = _mm256_loadu_ps(p), v1 = _mm256_loadu_ps(p + 8);
    } else {
        v0 = _mm256_maskload_ps(p, pool2_first8(2 * n < 8 ? 2 * n : 8));
        v1 = _mm256_maskload_ps(p + 8, pool2_first8(2 * n > 8 ? 2 * n - 8 : 0));
    }
    /* Within 128-bit lanes, then the 64-bit pairs into order. */
    __m256 ev = _mm256_shuffle_ps(v0, v1, _MM_SHUFFLE(2, 0, 2, 0));
    __m256 od = _mm256_shuffle_ps(v0, v1, _MM_SHUFFLE(3, 1, 3, 1));
    *e = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(ev), _MM_SHUFFLE(3, 1, 2, 0)));
    *o = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(od), _MM_SHUFFLE(3, 1, 2, 0)));
}

/* The inverse: stores e and o interleaved as 2n floats at p. */
POOL_AVX2 static inline void pool2_join8(float *p, int n, __m256 e, __m256 o) {
    __m256 lo = _mm256_unpacklo_ps(e, o), hi = _mm256_unpackhi_ps(e, o);
    __m256 v0 = _mm256_permute2f128_ps(lo, hi, 0x20), v1 = _mm256_permute2f128_ps(lo, hi, 0x31);
    kern_avx2_store_first(p, 2 * n < 8 ? 2 * n : 8, v0);
    if (n > 4) kern_avx2_store_first(p + 8, 2 * n - 8, v1);
}

/* Lanes where v replaces best in the scan (as pool2_take16). */
POOL_AVX2 static inline __m256 pool2_take8(__m256 v, __m256 best) {
    return _mm256_and_ps(_mm256_cmp_ps(best, best, _CMP_ORD_Q), _mm256_cmp_ps(v, best, _CMP_NLE_UQ));
}

/* The mask of 8 outputs from the low 8 bits of `bits`. */
POOL_AVX2 static inline __m256 pool2_unbits8(unsigned bits) {
    __m256i b = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
    __m256i v = _mm256_and_si256(_mm256_set1_epi32((int)(bits & 0xffu)), b);
    return _mm256_castsi256_ps(_mm256_cmpeq_epi32(v, b));
}

#define V                 __m256
#define M                 __m256
#define VL                8
#define TARGET            POOL_AVX2
#define FN(name)          pool2_##name##_avx2
#define VLOADN(p, n)      _mm256_maskload_ps(p, pool2_first8(n))
#define VSTOREN(p, n, v)  kern_avx2_store_first(p, n, v)
#define VSPLIT            pool2_split8
#define VJOIN             pool2_join8
#define VTAKE             pool2_take8
#define VBLEND(m, a, b)   _mm256_blendv_ps(a, b, m)
#define VKEEP(m, v)       _mm256_and_ps(m, v)
#define VDROP(m, v)       _mm256_andnot_ps(m, v)
#define MOR               _mm256_or_ps
#define MANDNOT(a, b)     _mm256_andnot_ps(b, a)
#define MBITS(m)          ((unsigned)_mm256_movemask_ps(m))
#define MUNBITS(bits)     pool2_unbits8(bits)
#include "pool2_simd.h"
#endif

#ifdef POOL_NEON
/* ---- NEON: 4 outputs a vector, four per chunk of the choices' format; masks are vectors of
 * all-ones or all-zero lanes ---- */
/* As pool2_split16, for 1 <= n <= 4: a de-interleaving load of 8 floats, from a copy when
 * fewer may be read. */
static inline void pool2_split4(const float *p, int n, float32x4_t *e, float32x4_t *o) {
    float32x4x2_t v;
    if (n == 4) {
        v = vld2q_f32(p);
    } else {
        float t[8] = {0};
        for (int i = 0; i < 2 * n; i++) t[i] = p[i];
        v = vld2q_f32(t);
    }
    *e = v.val[0], *o = v.val[1];
}

/* The inverse: an interleaving store of 8 floats, through a copy when fewer may be written. */
static inline void pool2_join4(float *p, int n, float32x4_t e, float32x4_t o) {
    float32x4x2_t v = {{e, o}};
    if (n == 4) {
        vst2q_f32(p, v);
        return;
    }
    float t[8];
    vst2q_f32(t, v);
    for (int i = 0; i < 2 * n; i++) p[i] = t[i];
}

/* Lanes where v replaces best in the scan (as pool2_take16): best ordered and not v <= best. */
static inline uint32x4_t pool2_take4(float32x4_t v, float32x4_t best) {
    return vandq_u32(vceqq_f32(best, best), vmvnq_u32(vcleq_f32(v, best)));
}

static inline uint32x4_t pool2_lane_bits4(void) {
    static const uint32_t bits[4] = {1, 2, 4, 8};
    return vld1q_u32(bits);
}

static inline float32x4_t pool2_keep4(uint32x4_t m, float32x4_t v) {
    return vreinterpretq_f32_u32(vandq_u32(m, vreinterpretq_u32_f32(v)));
}

static inline float32x4_t pool2_drop4(uint32x4_t m, float32x4_t v) {
    return vreinterpretq_f32_u32(vbicq_u32(vreinterpretq_u32_f32(v), m));
}

#define V                 float32x4_t
#define M                 uint32x4_t
#define VL                4
#define TARGET
#define FN(name)          pool2_##name##_neon
#define VLOADN(p, n)      kern_neon_load_first_f32(p, n)
#define VSTOREN(p, n, v)  kern_neon_store_first_f32(p, n, v)
#define VSPLIT            pool2_split4
#define VJOIN             pool2_join4
#define VTAKE             pool2_take4
#define VBLEND(m, a, b)   vbslq_f32(m, b, a)
#define VKEEP             pool2_keep4
#define VDROP             pool2_drop4
#define MOR               vorrq_u32
#define MANDNOT(a, b)     vbicq_u32(a, b)
#define MBITS(m)          ((unsigned)vaddvq_u32(vandq_u32(m, pool2_lane_bits4())))
#define MUNBITS(bits)     vtstq_u32(vdupq_n_u32(bits), pool2_lane_bits4())
#include "pool2_simd.h"
#endif

/* The 2x2 path's vector forms at the level in effect, or NULL (the plain loops). */
typedef struct pool2_kernels {
    void (*gather)(const kern_window *, const float *, const float *, float *, uint16_t *);
    void (*scatter)(const kern_window *, const float *, const uint16_t *, const float *, float *);
} pool2_kernels;

static const pool2_kernels *pool2_level(void) {
#ifdef POOL_X86
    static const pool2_kernels avx512 = {pool2_gather_avx512, pool2_scatter_avx512};
    static const pool2_kernels avx2 = {pool2_gather_avx2, pool2_scatter_avx2};
    tg_cpu_level l = kern_cpu_level();
    return l == TG_CPU_AVX512 ? &avx512 : l == TG_CPU_AVX2 ? &avx2 : NULL;
#elif defined(POOL_NEON)
    static const pool2_kernels neon = {pool2_gather_neon, pool2_scatter_neon};
    return kern_cpu_level() == TG_CPU_NEON ? &neon : NULL;
#else
    return NULL;
#endif
}

/* ---- the entry points, sharing the planes between threads when there are many ----
 * Each plane is independent (its own selections, its own output), so a slice of planes per
 * thread computes exactly what one thread would. */
enum { POOL_GATHER, POOL_SCATTER, POOL_SCATTER_SET, POOL_AVG, POOL_AVG_ADJOINT };
/* The 2x2 path's forward that records its choices, and its scatter from them. */
enum { POOL2_SELECT = 16, POOL2_SCATTER_SEL };
enum { POOL_PAR_MIN = 1 << 16 }; /* input elements from which the planes are shared */

typedef struct pool_job {
    int kind;
    tg_dtype dtype;
    kern_window g;
    const char *x, *src; /* x: the input planes (or, for the adjoint, the gradient) */
    char *out;
    int64_t per;        /* planes per task */
    uint16_t *sel; /* POOL2_*: the recorded choices */
} pool_job;

/* Runs planes [c0, c1) of the job. */
static void pool_range(const pool_job *j, int64_t c0, int64_t c1) {
    kern_window g = j->g;
    g.C = c1 - c0;
    int64_t es = kern_elem_size(j->dtype);
    int64_t in = g.H * g.W * es, out = g.oh * g.ow * es;
    const char *x = j->x, *src = j->src;
    char *o = j->out;
    bool f32 = j->dtype == TG_F32;
    if (j->kind >= POOL2_SELECT ||
        (is_pool2(&g) && (j->kind == POOL_GATHER || j->kind == POOL_SCATTER_SET))) {
        bool gather = j->kind == POOL_GATHER || j->kind == POOL2_SELECT;
        uint16_t *sel = j->sel ? j->sel + c0 * g.oh * choice_row(&g) : NULL;
        const char *in_x = x ? x + c0 * in : NULL;
        const char *in_s = gather ? src + c0 * in : src + c0 * out;
        char *o_at = o + c0 * (gather ? out : in);
        const pool2_kernels *vk = f32 ? pool2_level() : NULL;
        if (vk) {
            if (gather)
                vk->gather(&g, (const float *)in_x, (const float *)in_s, (float *)o_at, sel);
            else
                vk->scatter(&g, (const float *)in_x, sel, (const float *)in_s, (float *)o_at);
            return;
        }
        if (f32 && gather)
            pool2_gather_float(&g, (const float *)in_x, (const float *)in_s, (float *)o_at, sel);
        else if (f32)
            pool2_scatter_float(&g, (const float *)in_x, sel, (const float *)in_s,
                                (float *)o_at);
        else if (gather)
            pool2_gather_double(&g, (const double *)in_x, (const double *)in_s, (double *)o_at,
                                sel);
        else
            pool2_scatter_double(&g, (const double *)in_x, sel, (const double *)in_s,
                                 (double *)o_at);
        return;
    }
    switch (j->kind) {
    case POOL_GATHER:
        if (f32)
            gather_float(&g, (const float *)(x + c0 * in), (const float *)(src + c0 * in),
                         (float *)(o + c0 * out));
        else
            gather_double(&g, (const double *)(x + c0 * in), (const double *)(src + c0 * in),
                          (double *)(o + c0 * out));
        break;
    case POOL_SCATTER_SET:
        memset(o + c0 * in, 0, (size_t)((c1 - c0) * in));
        /* fall through */
    case POOL_SCATTER:
        if (f32)
            scatter_float(&g, (const float *)(x + c0 * in), (const float *)(src + c0 * out),
                          (float *)(o + c0 * in));
        else
            scatter_double(&g, (const double *)(x + c0 * in), (const double *)(src + c0 * out),
                           (double *)(o + c0 * in));
        break;
    case POOL_AVG:
        if (f32)
            avg_float(&g, (const float *)(x + c0 * in), (float *)(o + c0 * out), false);
        else
            avg_double(&g, (const double *)(x + c0 * in), (double *)(o + c0 * out), false);
        break;
    default: /* the adjoint reads (C, OH, OW) and adds into (C, H, W) */
        if (f32)
            avg_float(&g, (const float *)(x + c0 * out), (float *)(o + c0 * in), true);
        else
            avg_double(&g, (const double *)(x + c0 * out), (double *)(o + c0 * in), true);
        break;
    }
}

static void pool_task(void *ctx, int64_t i) {
    const pool_job *j = ctx;
    int64_t c0 = i * j->per, c1 = c0 + j->per < j->g.C ? c0 + j->per : j->g.C;
    if (c0 < c1) pool_range(j, c0, c1);
}

static void pool_run_sel(int kind, tg_dtype dtype, const kern_window *g, const void *x,
                         const void *src, void *out, uint16_t *sel) {
    pool_job j = {kind, dtype, *g, x, src, out, g->C, sel};
    int threads = kern_threads();
    if (threads > 1 && g->C > 1 && g->C * g->H * g->W >= POOL_PAR_MIN) {
        j.per = (g->C + threads - 1) / threads;
        kern_parallel_for((g->C + j.per - 1) / j.per, threads, pool_task, &j);
        return;
    }
    pool_range(&j, 0, g->C);
}

static void pool_run(int kind, tg_dtype dtype, const kern_window *g, const void *x,
                     const void *src, void *out) {
    pool_run_sel(kind, dtype, g, x, src, out, NULL);
}

bool kern_max_pool2_fast(const kern_window *g) { return is_pool2(g); }

int64_t kern_max_pool2_choice_elems(const kern_window *g) { return g->C * g->oh * choice_row(g); }

void kern_max_pool2_select(tg_dtype dtype, const kern_window *g, const void *x, void *out,
                           uint16_t *choices) {
    pool_run_sel(POOL2_SELECT, dtype, g, x, x, out, choices);
}

void kern_max_pool2_scatter_sel(tg_dtype dtype, const kern_window *g, const uint16_t *choices,
                                const void *grad, void *out) {
    pool_run_sel(POOL2_SCATTER_SEL, dtype, g, NULL, grad, out, (uint16_t *)(uintptr_t)choices);
}

void kern_max_pool(tg_dtype dtype, const kern_window *g, const void *x, void *out) {
    pool_run(POOL_GATHER, dtype, g, x, x, out);
}

void kern_max_pool_gather(tg_dtype dtype, const kern_window *g, const void *x, const void *src,
                          void *out) {
    pool_run(POOL_GATHER, dtype, g, x, src, out);
}

void kern_max_pool_scatter_add(tg_dtype dtype, const kern_window *g, const void *x,
                               const void *grad, void *out) {
    pool_run(POOL_SCATTER, dtype, g, x, grad, out);
}

void kern_max_pool_scatter(tg_dtype dtype, const kern_window *g, const void *x,
                           const void *grad, void *out) {
    pool_run(POOL_SCATTER_SET, dtype, g, x, grad, out);
}

void kern_avg_pool(tg_dtype dtype, const kern_window *g, const void *x, void *out) {
    pool_run(POOL_AVG, dtype, g, x, NULL, out);
}

void kern_avg_pool_adjoint_add(tg_dtype dtype, const kern_window *g, const void *grad,
                               void *out) {
    pool_run(POOL_AVG_ADJOINT, dtype, g, grad, NULL, out);
}
