/* conv_direct.c: 2-D convolution straight from the image, without im2col, for f32 on AVX-512
 * at stride 1 and dilation 1 with few input channels per group (a network's first layer: with
 * one input channel the columns would be kh kw floats per pixel, written and read once each).
 * The forward and the weight gradient; the input gradient stays on the column path.
 *
 * Invariant: outputs are walked in strips of up to 16 consecutive columns of one row, and every
 * load and store of a strip is masked to its length, so nothing outside the (padded) images,
 * the output gradient or the output is touched. */
#include <string.h>

#include "conv.h"
#include "cpu.h"
#include "threadpool.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define DIRECT_X86 1
#endif

/* Up to how many taps (C kh kw) the direct path is used, and from how many output columns (a
 * strip shorter than that leaves most of each vector idle). */
enum { DIRECT_MAX_TAPS = 64, DIRECT_MIN_OW = 12 };
/* Taps and output channels per block of the weight gradient's accumulators (TB x OB vectors),
 * output channels per block of the forward's (2 strips x FOB vectors). */
enum { TB = 5, OB = 4, FOB = 8 }; /* TB = 5: the five loads in wgrad_block */
/* Multiply-adds from which the work is shared between threads. */
enum { DIRECT_PAR_MIN = 1 << 18 };

bool kern_conv_direct_usable(tg_dtype dtype, const kern_window *g) {
#ifdef DIRECT_X86
    return dtype == TG_F32 && kern_cpu_level() >= TG_CPU_AVX512 && g->sh == 1 && g->sw == 1 &&
           g->dh == 1 && g->dw == 1 && g->C * g->kh * g->kw <= DIRECT_MAX_TAPS &&
           g->ow >= DIRECT_MIN_OW;
#else
    (void)dtype, (void)g;
    return false;
#endif
}

int64_t kern_conv_direct_parts(void) { return kern_threads(); }

/* Padded images are (C, oh + kh - 1, ow + kw - 1): at stride 1 the output needs no more. */
static int64_t padded_h(const kern_window *g) { return g->oh + g->kh - 1; }
static int64_t padded_w(const kern_window *g) { return g->ow + g->kw - 1; }

int64_t kern_conv_direct_pad_elems(const kern_window *g, int64_t n) {
    if (g->ph == 0 && g->pw == 0) return 0;
    return n * g->C * padded_h(g) * padded_w(g);
}

/* Image n of x (C planes of H x W, image stride x_is) into dst with its zero border. */
static void pad_image(const kern_window *g, const float *x, float *dst) {
    int64_t hp = padded_h(g), wp = padded_w(g);
    for (int64_t c = 0; c < g->C; c++)
        for (int64_t y = 0; y < hp; y++) {
            float *row = dst + (c * hp + y) * wp;
            int64_t sy = y - g->ph;
            if (sy < 0 || sy >= g->H) {
                memset(row, 0, (size_t)wp * sizeof *row);
                continue;
            }
            int64_t n = g->W < wp - g->pw ? g->W : wp - g->pw; /* columns of x that fit */
            memset(row, 0, (size_t)g->pw * sizeof *row);
            memcpy(row + g->pw, x + (c * g->H + sy) * g->W, (size_t)n * sizeof *row);
            memset(row + g->pw + n, 0, (size_t)(wp - g->pw - n) * sizeof *row);
        }
}

#ifdef DIRECT_X86
#define AVX512 __attribute__((target("avx512f")))

/* A strip: output row p, columns [q0, q0 + n). */
typedef struct strip {
    int64_t p, q0;
    __mmask16 m;
} strip;

static strip strip_at(const kern_window *g, int64_t s) {
    int64_t chunks = (g->ow + 15) / 16, q0 = (s % chunks) * 16;
    int64_t n = g->ow - q0 < 16 ? g->ow - q0 : 16;
    return (strip){s / chunks, q0, (__mmask16)((1u << n) - 1)};
}

/* Forward of ob (<= FOB) output channels over two strips at once (the same strip twice when
 * one is left): y[o, strip] = sum over taps t of w[o, t] x[strip shifted by tap t]. wp holds
 * the block's weights tap-major (wp[t * ob + o]); off[t] is tap t's offset in the image. */
#define FWD_BLOCK(NB)                                                                          \
    AVX512 static void fwd_block_##NB(const float *x0, const float *x1, __mmask16 m0,          \
                                      __mmask16 m1, const int64_t *off, int64_t taps,          \
                                      const float *wp, float *y0, float *y1, int64_t ys) {     \
        __m512 a0[NB], a1[NB];                                                                 \
        _Pragma("GCC unroll 8") for (int o = 0; o < NB; o++) a0[o] = a1[o] =                   \
            _mm512_setzero_ps();                                                               \
        for (int64_t t = 0; t < taps; t++, wp += NB) {                                         \
            __m512 v0 = _mm512_maskz_loadu_ps(m0, x0 + off[t]);                                \
            __m512 v1 = _mm512_maskz_loadu_ps(m1, x1 + off[t]);                                \
            _Pragma("GCC unroll 8") for (int o = 0; o < NB; o++) {                             \
                __m512 b = _mm512_set1_ps(wp[o]);                                              \
                a0[o] = _mm512_fmadd_ps(b, v0, a0[o]);                                         \
                a1[o] = _mm512_fmadd_ps(b, v1, a1[o]);                                         \
            }                                                                                  \
        }                                                                                      \
        _Pragma("GCC unroll 8") for (int o = 0; o < NB; o++) {                                 \
            _mm512_mask_storeu_ps(y1 + o * ys, m1, a1[o]);                                     \
            _mm512_mask_storeu_ps(y0 + o * ys, m0, a0[o]);                                     \
        }                                                                                      \
    }

FWD_BLOCK(1)
FWD_BLOCK(2)
FWD_BLOCK(3)
FWD_BLOCK(4)
FWD_BLOCK(5)
FWD_BLOCK(6)
FWD_BLOCK(7)
FWD_BLOCK(8)

typedef void (*fwd_block_fn)(const float *, const float *, __mmask16, __mmask16, const int64_t *,
                             int64_t, const float *, float *, float *, int64_t);
static const fwd_block_fn fwd_blocks[FOB + 1] = {NULL,         fwd_block_1, fwd_block_2,
                                                 fwd_block_3,  fwd_block_4, fwd_block_5,
                                                 fwd_block_6,  fwd_block_7, fwd_block_8};

/* The weight gradient's block: for NB output channels and TB taps, the sums over strips of
 * g[o, strip] x[strip shifted by tap t], accumulated lane-wise and added into acc[o][t]. */
#define WGRAD_BLOCK(NB)                                                                        \
    AVX512 static void wgrad_block_##NB(const kern_window *g, int64_t n_img, const float *x,   \
                                        int64_t x_is, int64_t wp, const float *gy,             \
                                        int64_t gy_is, const int64_t *off, float *acc,         \
                                        int64_t taps, int64_t n_taps) {                        \
        __m512 a[NB][TB];                                                                      \
        _Pragma("GCC unroll 8") for (int o = 0; o < NB; o++)                                   \
            _Pragma("GCC unroll 8") for (int t = 0; t < TB; t++) a[o][t] = _mm512_setzero_ps(); \
        int64_t ps = g->oh * g->ow, o0 = off[0], o1 = off[1], o2 = off[2], o3 = off[3];        \
        int64_t o4 = off[4];                                                                   \
        for (int64_t n = 0; n < n_img; n++)                                                    \
            for (int64_t p = 0; p < g->oh; p++)                                                \
                for (int64_t q0 = 0; q0 < g->ow; q0 += 16) {                                   \
                    int64_t len = g->ow - q0 < 16 ? g->ow - q0 : 16;                           \
                    __mmask16 m = (__mmask16)((1u << len) - 1);                                \
                    const float *xs = x + n * x_is + p * wp + q0;                              \
                    const float *gs = gy + n * gy_is + p * g->ow + q0;                         \
                    __m512 v[TB] = {_mm512_maskz_loadu_ps(m, xs + o0),                         \
                                    _mm512_maskz_loadu_ps(m, xs + o1),                         \
                                    _mm512_maskz_loadu_ps(m, xs + o2),                         \
                                    _mm512_maskz_loadu_ps(m, xs + o3),                         \
                                    _mm512_maskz_loadu_ps(m, xs + o4)};                        \
                    _Pragma("GCC unroll 8") for (int o = 0; o < NB; o++) {                     \
                        __m512 w = _mm512_maskz_loadu_ps(m, gs + o * ps);                      \
                        _Pragma("GCC unroll 8") for (int t = 0; t < TB; t++) a[o][t] =         \
                            _mm512_fmadd_ps(w, v[t], a[o][t]);                                 \
                    }                                                                          \
                }                                                                              \
        _Pragma("GCC unroll 8") for (int o = 0; o < NB; o++)                                   \
            _Pragma("GCC unroll 8") for (int t = 0; t < TB; t++) if (t < n_taps)               \
                acc[o * taps + t] += _mm512_reduce_add_ps(a[o][t]);                            \
    }

WGRAD_BLOCK(1)
WGRAD_BLOCK(2)
WGRAD_BLOCK(3)
WGRAD_BLOCK(4)

typedef void (*wgrad_block_fn)(const kern_window *, int64_t, const float *, int64_t, int64_t,
                               const float *, int64_t, const int64_t *, float *, int64_t,
                               int64_t);
static const wgrad_block_fn wgrad_blocks[OB + 1] = {NULL, wgrad_block_1, wgrad_block_2,
                                                    wgrad_block_3, wgrad_block_4};
#endif

/* Tap t = (c, i, j) sits at c hp wp + i wp + j in an image of row length wp; taps past the end
 * (up to a whole block) repeat offset 0, and their sums are dropped. */
static int64_t tap_offsets(const kern_window *g, int64_t hp, int64_t wp, int64_t *off) {
    int64_t taps = g->C * g->kh * g->kw;
    for (int64_t t = 0; t < taps; t++) {
        int64_t c = t / (g->kh * g->kw), i = t / g->kw % g->kh, j = t % g->kw;
        off[t] = (c * hp + i) * wp + j;
    }
    for (int64_t t = taps; t < taps + TB; t++) off[t] = 0;
    return taps;
}

/* ---- the forward, one image per task ---- */

typedef struct fwd_job {
    const kern_window *g;
    int64_t O;
    const float *x;
    int64_t x_is;
    float *pad; /* padded images, or NULL when there is no padding */
    const float *wpk;
    float *y;
    int64_t y_is;
} fwd_job;

static void fwd_task(void *ctx, int64_t n) {
#ifdef DIRECT_X86
    const fwd_job *j = ctx;
    const kern_window *g = j->g;
    int64_t hp = padded_h(g), wp = padded_w(g), off[DIRECT_MAX_TAPS + TB];
    int64_t taps = tap_offsets(g, hp, wp, off);
    const float *x = j->x + n * j->x_is;
    if (j->pad) {
        float *d = j->pad + n * g->C * hp * wp;
        pad_image(g, x, d);
        x = d;
    }
    float *y = j->y + n * j->y_is;
    int64_t n_strips = g->oh * ((g->ow + 15) / 16), ys = g->oh * g->ow;
    for (int64_t o0 = 0; o0 < j->O; o0 += FOB) {
        int64_t ob = j->O - o0 < FOB ? j->O - o0 : FOB;
        const float *wb = j->wpk + o0 * taps;
        for (int64_t s = 0; s < n_strips; s += 2) {
            strip a = strip_at(g, s), b = strip_at(g, s + 1 < n_strips ? s + 1 : s);
            fwd_blocks[ob](x + a.p * wp + a.q0, x + b.p * wp + b.q0, a.m, b.m, off, taps, wb,
                           y + o0 * ys + a.p * g->ow + a.q0, y + o0 * ys + b.p * g->ow + b.q0,
                           ys);
        }
    }
#else
    (void)ctx, (void)n;
#endif
}

void kern_conv_direct_forward(const kern_window *g, int64_t N, int64_t O, const float *x,
                              int64_t x_is, const float *w, float *pad, float *wpk, float *y,
                              int64_t y_is) {
    int64_t taps = g->C * g->kh * g->kw;
    /* Weights block by block, tap-major within a block, for broadcasts from consecutive floats. */
    for (int64_t o0 = 0; o0 < O; o0 += FOB) {
        int64_t ob = O - o0 < FOB ? O - o0 : FOB;
        for (int64_t t = 0; t < taps; t++)
            for (int64_t o = 0; o < ob; o++) wpk[o0 * taps + t * ob + o] = w[(o0 + o) * taps + t];
    }
    fwd_job j = {g, O, x, x_is, g->ph || g->pw ? pad : NULL, wpk, y, y_is};
    int threads = kern_threads();
    if (threads > 1 && N > 1 && N * O * g->oh * g->ow * taps >= DIRECT_PAR_MIN)
        kern_parallel_for(N, threads, fwd_task, &j);
    else
        for (int64_t n = 0; n < N; n++) fwd_task(&j, n);
}

/* ---- the weight gradient: images split into parts, each part's sums added at the end ---- */

typedef struct wgrad_job {
    const kern_window *g;
    int64_t N, O;
    const float *x;
    int64_t x_is;
    float *pad;
    const float *gy;
    int64_t gy_is;
    float *parts; /* n_parts blocks of O taps sums */
    int64_t n_parts;
} wgrad_job;

static void wgrad_task(void *ctx, int64_t part) {
    const wgrad_job *j = ctx;
    const kern_window *g = j->g;
    int64_t hp = padded_h(g), wp = padded_w(g), off[DIRECT_MAX_TAPS + TB];
    int64_t taps = tap_offsets(g, hp, wp, off);
    int64_t n0 = j->N * part / j->n_parts, n1 = j->N * (part + 1) / j->n_parts;
    float *acc = j->parts + part * j->O * taps;
    memset(acc, 0, (size_t)(j->O * taps) * sizeof *acc);
    if (n1 <= n0) return;
    const float *x = j->x + n0 * j->x_is;
    int64_t x_is = j->x_is;
    if (j->pad) {
        for (int64_t n = n0; n < n1; n++)
            pad_image(g, j->x + n * j->x_is, j->pad + n * g->C * hp * wp);
        x = j->pad + n0 * g->C * hp * wp;
        x_is = g->C * hp * wp;
    }
#ifdef DIRECT_X86
    const float *gy = j->gy + n0 * j->gy_is;
    for (int64_t t0 = 0; t0 < taps; t0 += TB)
        for (int64_t o0 = 0; o0 < j->O; o0 += OB) {
            int64_t ob = j->O - o0 < OB ? j->O - o0 : OB;
            wgrad_blocks[ob](g, n1 - n0, x, x_is, wp, gy + o0 * g->oh * g->ow, j->gy_is,
                             off + t0, acc + o0 * taps + t0, taps, taps - t0);
        }
#else
    (void)x, (void)x_is;
#endif
}

void kern_conv_direct_weight_grad(const kern_window *g, int64_t N, int64_t O, const float *x,
                                  int64_t x_is, const float *gy, int64_t gy_is, float *pad,
                                  float *parts, int64_t n_parts, float *gw) {
    int64_t taps = g->C * g->kh * g->kw;
    if (n_parts < 1) n_parts = 1;
    wgrad_job j = {g, N, O, x, x_is, g->ph || g->pw ? pad : NULL, gy, gy_is, parts, n_parts};
    if (n_parts > 1 && N * O * g->oh * g->ow * taps >= DIRECT_PAR_MIN)
        kern_parallel_for(n_parts, (int)n_parts, wgrad_task, &j);
    else
        for (int64_t p = 0; p < n_parts; p++) wgrad_task(&j, p);
    /* Parts in a fixed order, so a thread count always gives the same sums. */
    for (int64_t i = 0; i < O * taps; i++) {
        float s = 0;
        for (int64_t p = 0; p < n_parts; p++) s += parts[p * O * taps + i];
        gw[i] = s;
    }
}
