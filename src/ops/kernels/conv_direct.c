/* conv_direct.c: 2-D convolution straight from the image, without im2col, for f32 on AVX-512,
 * AVX2 or NEON at stride 1 and dilation 1 with few input channels per group (a network's first
 * layer: with one input channel the columns would be kh kw floats per pixel, written and read
 * once each). The forward and the weight gradient; the input gradient stays on the column
 * path. The kernels are written once (conv_direct_simd.h) and instantiated here per level.
 *
 * Invariant: outputs are walked in strips of up to one vector of consecutive columns of one
 * row (16 at AVX-512, 8 at AVX2, 4 at NEON), and every load and store of a strip is masked to
 * its length, so nothing outside the (padded) images, the output gradient or the output is
 * touched. */
#include <string.h>

#include "conv.h"
#include "cpu.h"
#include "threadpool.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#include "avx2_util.h"
#define DIRECT_X86  1
#define DIRECT_SIMD 1
#elif defined(__aarch64__)
#include "neon_util.h"
#define DIRECT_NEON 1
#define DIRECT_SIMD 1
#endif

/* Up to how many taps (C kh kw) the direct path is used, and from how many output columns (a
 * strip shorter than that leaves most of each vector idle). */
enum { DIRECT_MAX_TAPS = 64, DIRECT_MIN_OW = 12 };
enum { TB_MAX = 5 }; /* the most taps a weight-gradient block takes, at any level */
/* Multiply-adds from which the work is shared between threads. */
enum { DIRECT_PAR_MIN = 1 << 18 };

bool kern_conv_direct_usable(tg_dtype dtype, const kern_window *g) {
#ifdef DIRECT_SIMD
    return dtype == TG_F32 && kern_cpu_level() != TG_CPU_PORTABLE && g->sh == 1 && g->sw == 1 &&
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

/* Tap t = (c, i, j) sits at c hp wp + i wp + j in an image of row length wp; taps past the end
 * (up to a whole block) repeat offset 0, and their sums are dropped. */
static int64_t tap_offsets(const kern_window *g, int64_t hp, int64_t wp, int64_t *off) {
    int64_t taps = g->C * g->kh * g->kw;
    for (int64_t t = 0; t < taps; t++) {
        int64_t c = t / (g->kh * g->kw), i = t / g->kw % g->kh, j = t % g->kw;
        off[t] = (c * hp + i) * wp + j;
    }
    for (int64_t t = taps; t < taps + TB_MAX; t++) off[t] = 0;
    return taps;
}

/* ---- the forward, one image per task; the weight gradient, images split into parts ---- */

typedef struct fwd_job {
    const kern_window *g;
    int64_t O;
    const float *x;
    int64_t x_is;
    float *pad; /* padded images, or NULL when there is no padding */
    const float *wpk;
    const float *bias; /* O floats, or NULL */
    float *y;
    int64_t y_is;
} fwd_job;

#ifdef DIRECT_X86
#define TARGET   __attribute__((target("avx512f")))
#define FN(name) direct_##name##_avx512
#include "simd_avx512.h"
#define D_FOB 8
#define D_WOB 4
#define D_WTB 5
#include "conv_direct_simd.h"
#include "simd_reset.h"

/* 16 ymm registers: the forward's 2 x 6 accumulators, two inputs and a broadcast weight; the
 * weight gradient's 3 x 3 accumulators, three inputs and a gradient vector. */
#define TARGET   __attribute__((target("avx2,fma")))
#define FN(name) direct_##name##_avx2
#include "simd_avx2.h"
#define D_FOB 6
#define D_WOB 3
#define D_WTB 3
#include "conv_direct_simd.h"
#include "simd_reset.h"
#endif

#ifdef DIRECT_NEON
/* 32 registers of 4 floats: the blocks of AVX-512, which has as many. */
#define TARGET
#define FN(name) direct_##name##_neon
#include "simd_neon.h"
#define D_FOB 8
#define D_WOB 4
#define D_WTB 5
#include "conv_direct_simd.h"
#include "simd_reset.h"
#endif

#ifdef DIRECT_SIMD
/* One level's kernels. Only reached after kern_conv_direct_usable said yes, so the CPU has a
 * vector level; on x86 the AVX-512 kernels when that is the level in effect now (it may have
 * changed since, between two threads), else the AVX2 ones. */
typedef struct direct_kernels {
    int64_t fob; /* D_FOB of the level's forward */
    void (*fwd_task)(void *, int64_t);
    void (*wgrad_images)(const kern_window *, int64_t, int64_t, const float *, int64_t,
                         const float *, int64_t, float *);
} direct_kernels;

static const direct_kernels *level_kernels(void) {
#ifdef DIRECT_X86
    static const direct_kernels avx512 = {8, direct_fwd_task_avx512, direct_wgrad_images_avx512};
    static const direct_kernels avx2 = {6, direct_fwd_task_avx2, direct_wgrad_images_avx2};
    return kern_cpu_level() == TG_CPU_AVX512 ? &avx512 : &avx2;
#else
    static const direct_kernels neon = {8, direct_fwd_task_neon, direct_wgrad_images_neon};
    return &neon;
#endif
}
#endif

void kern_conv_direct_forward(const kern_window *g, int64_t N, int64_t O, const float *x,
                              int64_t x_is, const float *w, const float *bias, float *pad,
                              float *wpk, float *y, int64_t y_is) {
#ifdef DIRECT_SIMD
    int64_t taps = g->C * g->kh * g->kw;
    const direct_kernels *lk = level_kernels();
    int64_t fob = lk->fob;
    /* Weights block by block, tap-major within a block, for broadcasts from consecutive floats. */
    for (int64_t o0 = 0; o0 < O; o0 += fob) {
        int64_t ob = O - o0 < fob ? O - o0 : fob;
        for (int64_t t = 0; t < taps; t++)
            for (int64_t o = 0; o < ob; o++) wpk[o0 * taps + t * ob + o] = w[(o0 + o) * taps + t];
    }
    fwd_job j = {g, O, x, x_is, g->ph || g->pw ? pad : NULL, wpk, bias, y, y_is};
    void (*task)(void *, int64_t) = lk->fwd_task;
    int threads = kern_threads();
    if (threads > 1 && N > 1 && N * O * g->oh * g->ow * taps >= DIRECT_PAR_MIN)
        kern_parallel_for(N, threads, task, &j);
    else
        for (int64_t n = 0; n < N; n++) task(&j, n);
#else
    (void)g, (void)N, (void)O, (void)x, (void)x_is, (void)w, (void)bias, (void)pad, (void)wpk;
    (void)y, (void)y_is;
#endif
}

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
    const void *kernels; /* the level's direct_kernels; NULL without a vector level */
} wgrad_job;

static void wgrad_task(void *ctx, int64_t part) {
    const wgrad_job *j = ctx;
    const kern_window *g = j->g;
    int64_t hp = padded_h(g), wp = padded_w(g), taps = g->C * g->kh * g->kw;
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
#ifdef DIRECT_SIMD
    const direct_kernels *lk = j->kernels;
    lk->wgrad_images(g, j->O, n1 - n0, x, x_is, j->gy + n0 * j->gy_is, j->gy_is, acc);
#else
    (void)x, (void)x_is;
#endif
}

void kern_conv_direct_weight_grad(const kern_window *g, int64_t N, int64_t O, const float *x,
                                  int64_t x_is, const float *gy, int64_t gy_is, float *pad,
                                  float *parts, int64_t n_parts, float *gw) {
    int64_t taps = g->C * g->kh * g->kw;
    if (n_parts < 1) n_parts = 1;
    wgrad_job j = {g, N, O, x, x_is, g->ph || g->pw ? pad : NULL, gy, gy_is, parts, n_parts, NULL};
#ifdef DIRECT_SIMD
    j.kernels = level_kernels();
#endif
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
