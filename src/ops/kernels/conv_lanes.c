/* conv_lanes.c: 2-D convolution with 16 images in the lanes of each AVX-512 vector, for f32 at
 * stride 1 and dilation 1: the forward and both gradients of layers whose rows are too short to
 * fill vectors along a row (LeNet's second layer: 10 output columns, 150 taps). Images are
 * packed (zero-padded) as [group of 16][channel][row][column][lane], so every multiply-add uses
 * all 16 lanes whatever the image size, and no im2col columns are made.
 *
 * Invariant: lanes past the last image hold zeros in the packed input and output gradient, so
 * they add nothing to a weight gradient, and their outputs are never unpacked. */
#include <string.h>

#include "conv.h"
#include "cpu.h"
#include "threadpool.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define LANES_X86 1
#endif

enum { L = 16 };       /* images per vector */
enum { OB = 4, PB = 6, TB = 5 }; /* register blocks: output channels, positions, taps */
enum { LANES_MAX_TAPS = 1024 };  /* the offsets table of the forward lives on the stack */
enum { LANES_PAR_MIN = 1 << 18 }; /* multiply-adds from which threads share the work */
/* The largest packed group of 16 images (bytes) taken: kernels sweep a group per block of
 * taps and outputs, which pays while it stays in L2. */
enum { LANES_MAX_GROUP_BYTES = 1 << 19 };

static int64_t padded_h(const kern_window *g) { return g->oh + g->kh - 1; }
static int64_t padded_w(const kern_window *g) { return g->ow + g->kw - 1; }
static int64_t n_groups(int64_t N) { return (N + L - 1) / L; }

bool kern_conv_lanes_usable(tg_dtype dtype, const kern_window *g, int64_t N) {
#ifdef LANES_X86
    return dtype == TG_F32 && kern_cpu_level() >= TG_CPU_AVX512 && g->sh == 1 && g->sw == 1 &&
           g->dh == 1 && g->dw == 1 && N >= L / 2 && g->C * g->kh * g->kw <= LANES_MAX_TAPS &&
           g->C * padded_h(g) * padded_w(g) * L * (int64_t)sizeof(float) <= LANES_MAX_GROUP_BYTES;
#else
    (void)dtype, (void)g, (void)N;
    return false;
#endif
}

int64_t kern_conv_lanes_x_elems(const kern_window *g, int64_t N) {
    return n_groups(N) * g->C * padded_h(g) * padded_w(g) * L;
}

int64_t kern_conv_lanes_y_elems(const kern_window *g, int64_t N, int64_t O) {
    return n_groups(N) * O * g->oh * g->ow * L;
}

/* Tap t = (c, i, j) at (c hp + i) wp + j positions (times L floats) in a packed group. */
static int64_t tap_offsets(const kern_window *g, int64_t *off, int64_t pad_to) {
    int64_t taps = g->C * g->kh * g->kw, hp = padded_h(g), wp = padded_w(g);
    for (int64_t t = 0; t < taps; t++) {
        int64_t c = t / (g->kh * g->kw), i = t / g->kw % g->kh, j = t % g->kw;
        off[t] = ((c * hp + i) * wp + j) * L;
    }
    for (int64_t t = taps; t < pad_to; t++) off[t] = 0;
    return taps;
}

#ifdef LANES_X86
#define AVX512 __attribute__((target("avx512f")))

/* Transposes the 16 x 16 block r in registers: afterwards r[b] lane a holds what r[a] lane b
 * held. Pairs within 128-bit lanes, then quads, then 128-bit lanes across vectors. */
AVX512 static inline void transpose16(__m512 r[16]) {
    __m512 t[16];
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 4; i++) {
        r[4 * i] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], _MM_SHUFFLE(1, 0, 1, 0));
        r[4 * i + 1] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], _MM_SHUFFLE(3, 2, 3, 2));
        r[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(1, 0, 1, 0));
        r[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(3, 2, 3, 2));
    }
    for (int m = 0; m < 4; m++) {
        t[m] = _mm512_shuffle_f32x4(r[m], r[4 + m], 0x88);
        t[4 + m] = _mm512_shuffle_f32x4(r[m], r[4 + m], 0xdd);
        t[8 + m] = _mm512_shuffle_f32x4(r[8 + m], r[12 + m], 0x88);
        t[12 + m] = _mm512_shuffle_f32x4(r[8 + m], r[12 + m], 0xdd);
    }
    for (int m = 0; m < 4; m++) {
        r[m] = _mm512_shuffle_f32x4(t[m], t[8 + m], 0x88);
        r[8 + m] = _mm512_shuffle_f32x4(t[m], t[8 + m], 0xdd);
        r[4 + m] = _mm512_shuffle_f32x4(t[4 + m], t[12 + m], 0x88);
        r[12 + m] = _mm512_shuffle_f32x4(t[4 + m], t[12 + m], 0xdd);
    }
}

static __mmask16 first(int64_t n) { return (__mmask16)(n >= 16 ? 0xffffu : (1u << n) - 1); }

/* Lanes of runs of n (<= 16) floats: run l of image l starts at src + l stride, for the nl
 * images there are (the others read as 0); stored transposed, element k of every run as the
 * vector at dst + k step. */
AVX512 static void pack_runs(const float *src, int64_t stride, int64_t nl, int64_t n, float *dst,
                             int64_t step) {
    __m512 r[16];
    for (int64_t l = 0; l < 16; l++)
        r[l] = l < nl ? _mm512_maskz_loadu_ps(first(n), src + l * stride) : _mm512_setzero_ps();
    transpose16(r);
    for (int64_t k = 0; k < n; k++) _mm512_storeu_ps(dst + k * step, r[k]);
}

/* Group gi of images (C planes of H x W at image stride x_is), zero border included. */
AVX512 static void pack_images(const kern_window *g, int64_t N, const float *x, int64_t x_is,
                               int64_t gi, float *xp) {
    int64_t hp = padded_h(g), wp = padded_w(g), n0 = gi * L, nl = N - n0 < L ? N - n0 : L;
    float *dst = xp + gi * g->C * hp * wp * L;
    memset(dst, 0, (size_t)(g->C * hp * wp * L) * sizeof *dst);
    for (int64_t c = 0; c < g->C; c++)
        for (int64_t y = 0; y < g->H; y++)
            for (int64_t x0 = 0; x0 < g->W; x0 += 16)
                pack_runs(x + n0 * x_is + (c * g->H + y) * g->W + x0, x_is, nl,
                          g->W - x0 < 16 ? g->W - x0 : 16,
                          dst + ((c * hp + y + g->ph) * wp + g->pw + x0) * L, L);
}

/* Group gi of the output gradient (O planes of oh x ow at image stride gy_is). */
AVX512 static void pack_grad(const kern_window *g, int64_t N, int64_t O, const float *gy,
                             int64_t gy_is, int64_t gi, float *gp) {
    int64_t hw = g->oh * g->ow, n0 = gi * L, nl = N - n0 < L ? N - n0 : L;
    float *dst = gp + gi * O * hw * L;
    for (int64_t o = 0; o < O; o++)
        for (int64_t k0 = 0; k0 < hw; k0 += 16)
            pack_runs(gy + n0 * gy_is + o * hw + k0, gy_is, nl, hw - k0 < 16 ? hw - k0 : 16,
                      dst + (o * hw + k0) * L, L);
}

/* The inverse for outputs: ob packed planes of hw positions at yg into y, images n0.. (nl). */
AVX512 static void unpack_out(const float *yg, int64_t ob, int64_t hw, int64_t nl, float *y,
                              int64_t y_is) {
    __m512 r[16];
    for (int64_t o = 0; o < ob; o++)
        for (int64_t k0 = 0; k0 < hw; k0 += 16) {
            int64_t n = hw - k0 < 16 ? hw - k0 : 16;
            for (int64_t k = 0; k < 16; k++)
                r[k] = k < n ? _mm512_loadu_ps(yg + (o * hw + k0 + k) * L) : _mm512_setzero_ps();
            transpose16(r);
            for (int64_t l = 0; l < nl; l++)
                _mm512_mask_storeu_ps(y + l * y_is + o * hw + k0, first(n), r[l]);
        }
}

/* Forward of NO output channels at NP consecutive positions of one row: xs is the packed input
 * at the row's first position, wp the block's weights tap-major (wp[t NO + o]), and the sums go
 * to out (NO planes of `plane` packed positions, starting at the row's first). */
#define FWD(NO, NP)                                                                            \
    AVX512 static void fwd_##NO##_##NP(const float *xs, const int64_t *off, int64_t taps,     \
                                       const float *wp, float *out, int64_t plane) {           \
        __m512 a[NO][NP];                                                                      \
        _Pragma("GCC unroll 8") for (int o = 0; o < NO; o++)                                   \
            _Pragma("GCC unroll 8") for (int k = 0; k < NP; k++) a[o][k] = _mm512_setzero_ps(); \
        for (int64_t t = 0; t < taps; t++, wp += NO) {                                         \
            const float *x = xs + off[t];                                                      \
            __m512 v[NP];                                                                      \
            _Pragma("GCC unroll 8") for (int k = 0; k < NP; k++) v[k] =                        \
                _mm512_loadu_ps(x + k * L);                                                    \
            _Pragma("GCC unroll 8") for (int o = 0; o < NO; o++) {                             \
                __m512 w = _mm512_set1_ps(wp[o]);                                              \
                _Pragma("GCC unroll 8") for (int k = 0; k < NP; k++) a[o][k] =                 \
                    _mm512_fmadd_ps(w, v[k], a[o][k]);                                         \
            }                                                                                  \
        }                                                                                      \
        _Pragma("GCC unroll 8") for (int o = 0; o < NO; o++)                                   \
            _Pragma("GCC unroll 8") for (int k = 0; k < NP; k++)                               \
                _mm512_storeu_ps(out + (o * plane + k) * L, a[o][k]);                          \
    }

#define FWD_ROW(NO) FWD(NO, 1) FWD(NO, 2) FWD(NO, 3) FWD(NO, 4) FWD(NO, 5) FWD(NO, 6)
FWD_ROW(1)
FWD_ROW(2)
FWD_ROW(3)
FWD_ROW(4)

typedef void (*fwd_fn)(const float *, const int64_t *, int64_t, const float *, float *, int64_t);
#define FWD_FNS(NO) {NULL, fwd_##NO##_1, fwd_##NO##_2, fwd_##NO##_3, fwd_##NO##_4, fwd_##NO##_5, \
                     fwd_##NO##_6}
static const fwd_fn fwd_fns[OB + 1][PB + 1] = {{NULL}, FWD_FNS(1), FWD_FNS(2), FWD_FNS(3),
                                               FWD_FNS(4)};

/* Weight gradient of NO output channels and TB taps (offsets o0..o4, the last ones possibly
 * repeats whose sums are dropped) over every position of n_grp packed groups, added into acc. */
#define WGRAD(NO)                                                                              \
    AVX512 static void wgrad_##NO(const kern_window *g, int64_t n_grp, const float *xp,       \
                                  int64_t x_gs, const float *gp, int64_t g_gs,                 \
                                  const int64_t *off, float *acc, int64_t taps,                \
                                  int64_t n_taps) {                                            \
        __m512 a[NO][TB];                                                                      \
        _Pragma("GCC unroll 8") for (int o = 0; o < NO; o++)                                   \
            _Pragma("GCC unroll 8") for (int t = 0; t < TB; t++) a[o][t] = _mm512_setzero_ps(); \
        int64_t wp = padded_w(g), plane = g->oh * g->ow * L;                                   \
        int64_t o0 = off[0], o1 = off[1], o2 = off[2], o3 = off[3], o4 = off[4];               \
        for (int64_t gi = 0; gi < n_grp; gi++)                                                 \
            for (int64_t p = 0; p < g->oh; p++) {                                              \
                const float *xs = xp + gi * x_gs + p * wp * L;                                 \
                const float *gs = gp + gi * g_gs + p * g->ow * L;                              \
                for (int64_t q = 0; q < g->ow; q++, xs += L, gs += L) {                        \
                    __m512 v[TB] = {_mm512_loadu_ps(xs + o0), _mm512_loadu_ps(xs + o1),        \
                                    _mm512_loadu_ps(xs + o2), _mm512_loadu_ps(xs + o3),        \
                                    _mm512_loadu_ps(xs + o4)};                                 \
                    _Pragma("GCC unroll 8") for (int o = 0; o < NO; o++) {                     \
                        __m512 w = _mm512_loadu_ps(gs + o * plane);                            \
                        _Pragma("GCC unroll 8") for (int t = 0; t < TB; t++) a[o][t] =         \
                            _mm512_fmadd_ps(w, v[t], a[o][t]);                                 \
                    }                                                                          \
                }                                                                              \
            }                                                                                  \
        _Pragma("GCC unroll 8") for (int o = 0; o < NO; o++)                                   \
            _Pragma("GCC unroll 8") for (int t = 0; t < TB; t++) if (t < n_taps)               \
                acc[o * taps + t] += _mm512_reduce_add_ps(a[o][t]);                            \
    }

WGRAD(1)
WGRAD(2)
WGRAD(3)
WGRAD(4)

typedef void (*wgrad_fn)(const kern_window *, int64_t, const float *, int64_t, const float *,
                         int64_t, const int64_t *, float *, int64_t, int64_t);
static const wgrad_fn wgrad_fns[OB + 1] = {NULL, wgrad_1, wgrad_2, wgrad_3, wgrad_4};

/* Input gradient of NT taps at NP consecutive positions of one row of the output gradient: the
 * products sum_o w[o, t] g[o, position] (gs: the packed gradient at the row's first position,
 * planes `plane` floats apart; wp: the block's weights, wp[o NT + t]) are added into the
 * padded packed input gradient at each tap's shift (dst[t]: where the row's first position
 * lands for tap t). */
#define IGRAD(NT, NP)                                                                          \
    AVX512 static void igrad_##NT##_##NP(const float *gs, int64_t plane, int64_t O,            \
                                         const float *wp, float *const *dst) {                 \
        __m512 a[NT][NP];                                                                      \
        _Pragma("GCC unroll 8") for (int t = 0; t < NT; t++)                                   \
            _Pragma("GCC unroll 8") for (int k = 0; k < NP; k++) a[t][k] = _mm512_setzero_ps(); \
        for (int64_t o = 0; o < O; o++, gs += plane, wp += NT) {                               \
            __m512 v[NP];                                                                      \
            _Pragma("GCC unroll 8") for (int k = 0; k < NP; k++) v[k] =                        \
                _mm512_loadu_ps(gs + k * L);                                                   \
            _Pragma("GCC unroll 8") for (int t = 0; t < NT; t++) {                             \
                __m512 w = _mm512_set1_ps(wp[t]);                                              \
                _Pragma("GCC unroll 8") for (int k = 0; k < NP; k++) a[t][k] =                 \
                    _mm512_fmadd_ps(w, v[k], a[t][k]);                                         \
            }                                                                                  \
        }                                                                                      \
        _Pragma("GCC unroll 8") for (int t = 0; t < NT; t++)                                   \
            _Pragma("GCC unroll 8") for (int k = 0; k < NP; k++) {                             \
                float *d = dst[t] + k * L;                                                     \
                _mm512_storeu_ps(d, _mm512_add_ps(_mm512_loadu_ps(d), a[t][k]));               \
            }                                                                                  \
    }

#define IGRAD_ROW(NT) IGRAD(NT, 1) IGRAD(NT, 2) IGRAD(NT, 3) IGRAD(NT, 4) IGRAD(NT, 5) IGRAD(NT, 6)
IGRAD_ROW(1)
IGRAD_ROW(2)
IGRAD_ROW(3)
IGRAD_ROW(4)

typedef void (*igrad_fn)(const float *, int64_t, int64_t, const float *, float *const *);
#define IGRAD_FNS(NT) {NULL, igrad_##NT##_1, igrad_##NT##_2, igrad_##NT##_3, igrad_##NT##_4,   \
                       igrad_##NT##_5, igrad_##NT##_6}
static const igrad_fn igrad_fns[OB + 1][PB + 1] = {{NULL}, IGRAD_FNS(1), IGRAD_FNS(2),
                                                   IGRAD_FNS(3), IGRAD_FNS(4)};

/* Unpacks rows of a padded packed group (C planes of hp x wp, lanes L) into x's images. */
AVX512 static void unpack_images(const kern_window *g, const float *xp, int64_t nl, float *x,
                                 int64_t x_is) {
    int64_t hp = padded_h(g), wp = padded_w(g);
    for (int64_t c = 0; c < g->C; c++)
        for (int64_t y = 0; y < g->H; y++)
            unpack_out(xp + ((c * hp + y + g->ph) * wp + g->pw) * L, 1, g->W, nl,
                       x + (c * g->H + y) * g->W, x_is);
}
#endif

/* ---- forward: tasks are (group of images, block of output channels) ---- */

typedef struct fwd_job {
    const kern_window *g;
    int64_t N, O, taps, n_ob;
    const float *x;
    int64_t x_is;
    const float *wpk; /* weights, block by block, tap-major within a block */
    float *xp, *yp;
    float *y;
    int64_t y_is;
} fwd_job;

static void pack_task(void *ctx, int64_t gi) {
#ifdef LANES_X86
    const fwd_job *j = ctx;
    pack_images(j->g, j->N, j->x, j->x_is, gi, j->xp);
#else
    (void)ctx, (void)gi;
#endif
}

static void fwd_task(void *ctx, int64_t task) {
#ifdef LANES_X86
    const fwd_job *j = ctx;
    const kern_window *g = j->g;
    int64_t gi = task / j->n_ob, o0 = task % j->n_ob * OB, ob = j->O - o0 < OB ? j->O - o0 : OB;
    int64_t hp = padded_h(g), wp = padded_w(g), hw = g->oh * g->ow, off[LANES_MAX_TAPS];
    tap_offsets(g, off, 0);
    const float *xg = j->xp + gi * g->C * hp * wp * L, *wb = j->wpk + o0 * j->taps;
    float *yg = j->yp + (gi * j->O + o0) * hw * L;
    for (int64_t p = 0; p < g->oh; p++)
        for (int64_t q = 0; q < g->ow; q += PB) {
            int64_t np = g->ow - q < PB ? g->ow - q : PB;
            fwd_fns[ob][np](xg + (p * wp + q) * L, off, j->taps, wb, yg + (p * g->ow + q) * L,
                            hw);
        }
    /* Unpack the block's outputs of the group's real images into y. */
    int64_t n0 = gi * L, nl = j->N - n0 < L ? j->N - n0 : L;
    unpack_out(yg, ob, hw, nl, j->y + n0 * j->y_is + o0 * hw, j->y_is);
#else
    (void)ctx, (void)task;
#endif
}

void kern_conv_lanes_forward(const kern_window *g, int64_t N, int64_t O, const float *x,
                             int64_t x_is, const float *w, float *wpk, float *xp, float *yp,
                             float *y, int64_t y_is) {
    int64_t taps = g->C * g->kh * g->kw, n_ob = (O + OB - 1) / OB, ng = n_groups(N);
    for (int64_t o0 = 0; o0 < O; o0 += OB) {
        int64_t ob = O - o0 < OB ? O - o0 : OB;
        for (int64_t t = 0; t < taps; t++)
            for (int64_t o = 0; o < ob; o++) wpk[o0 * taps + t * ob + o] = w[(o0 + o) * taps + t];
    }
    fwd_job j = {g, N, O, taps, n_ob, x, x_is, wpk, xp, yp, y, y_is};
    int threads = kern_threads();
    bool par = threads > 1 && ng * n_ob > 1 && N * O * g->oh * g->ow * taps >= LANES_PAR_MIN;
    if (par && ng > 1)
        kern_parallel_for(ng, threads, pack_task, &j);
    else
        for (int64_t gi = 0; gi < ng; gi++) pack_task(&j, gi);
    if (par)
        kern_parallel_for(ng * n_ob, threads, fwd_task, &j);
    else
        for (int64_t k = 0; k < ng * n_ob; k++) fwd_task(&j, k);
}

/* ---- weight gradient: tasks are (block of taps, block of output channels), each writing its
 * own entries of gw, so the sums are the same on any number of threads ---- */

typedef struct wgrad_job {
    const kern_window *g;
    int64_t N, O, taps, n_ob;
    const float *x, *gy;
    int64_t x_is, gy_is;
    float *xp, *gp, *gw;
    int64_t n_chunks;
} wgrad_job;

static void wpack_task(void *ctx, int64_t k) {
#ifdef LANES_X86
    const wgrad_job *j = ctx;
    int64_t ng = n_groups(j->N);
    if (k < ng)
        pack_images(j->g, j->N, j->x, j->x_is, k, j->xp);
    else
        pack_grad(j->g, j->N, j->O, j->gy, j->gy_is, k - ng, j->gp);
#else
    (void)ctx, (void)k;
#endif
}

/* Chunk `task` of the (block of taps, block of outputs) pairs, over every group in turn: one
 * group's packed images and gradient serve all of the chunk's pairs while they are in cache. */
static void wgrad_task(void *ctx, int64_t task) {
#ifdef LANES_X86
    const wgrad_job *j = ctx;
    const kern_window *g = j->g;
    int64_t taps = j->taps, n_pairs = (taps + TB - 1) / TB * j->n_ob;
    int64_t k0 = n_pairs * task / j->n_chunks, k1 = n_pairs * (task + 1) / j->n_chunks;
    int64_t hp = padded_h(g), wp = padded_w(g), hw = g->oh * g->ow, x_gs = g->C * hp * wp * L;
    for (int64_t gi = 0; gi < n_groups(j->N); gi++)
        for (int64_t k = k0; k < k1; k++) {
            int64_t t0 = k / j->n_ob * TB, o0 = k % j->n_ob * OB, off[TB];
            int64_t ob = j->O - o0 < OB ? j->O - o0 : OB;
            for (int64_t t = 0; t < TB; t++) {
                int64_t tt = t0 + t < taps ? t0 + t : t0, c = tt / (g->kh * g->kw);
                off[t] = ((c * hp + tt / g->kw % g->kh) * wp + tt % g->kw) * L;
            }
            wgrad_fns[ob](g, 1, j->xp + gi * x_gs, x_gs, j->gp + (gi * j->O + o0) * hw * L,
                          j->O * hw * L, off, j->gw + o0 * taps + t0, taps, taps - t0);
        }
#else
    (void)ctx, (void)task;
#endif
}

void kern_conv_lanes_weight_grad(const kern_window *g, int64_t N, int64_t O, const float *x,
                                 int64_t x_is, const float *gy, int64_t gy_is, float *xp,
                                 float *gp, float *gw) {
    int64_t taps = g->C * g->kh * g->kw, n_ob = (O + OB - 1) / OB, ng = n_groups(N);
    int64_t n_pairs = (taps + TB - 1) / TB * n_ob;
    int threads = kern_threads();
    bool par = threads > 1 && N * O * g->oh * g->ow * taps >= LANES_PAR_MIN;
    /* A few chunks per thread; each entry of gw is summed by one chunk, group by group, so the
     * chunking never changes a result. */
    int64_t n_chunks = par ? (n_pairs < 4 * threads ? n_pairs : 4 * threads) : 1;
    wgrad_job j = {g, N, O, taps, n_ob, x, gy, x_is, gy_is, xp, gp, gw, n_chunks};
    memset(gw, 0, (size_t)(O * taps) * sizeof *gw);
    if (par)
        kern_parallel_for(2 * ng, threads, wpack_task, &j);
    else
        for (int64_t k = 0; k < 2 * ng; k++) wpack_task(&j, k);
    if (par)
        kern_parallel_for(n_chunks, threads, wgrad_task, &j);
    else
        wgrad_task(&j, 0);
}

/* ---- input gradient: tasks are (group of images, input channel); each task adds the taps of
 * its channel, in order, into its own planes, so the sums do not depend on the threads ---- */

typedef struct igrad_job {
    const kern_window *g;
    int64_t N, O, taps;
    const float *gy;
    int64_t gy_is;
    const float *wpk; /* weights by blocks of OB taps: wpk[t0 O + o nt + t] */
    float *gp, *dxp;  /* packed gradient (every group), padded packed input gradient */
    float *dx;
    int64_t dx_is;
} igrad_job;

static void ipack_task(void *ctx, int64_t gi) {
#ifdef LANES_X86
    const igrad_job *j = ctx;
    pack_grad(j->g, j->N, j->O, j->gy, j->gy_is, gi, j->gp);
#else
    (void)ctx, (void)gi;
#endif
}

static void igrad_task(void *ctx, int64_t task) {
#ifdef LANES_X86
    const igrad_job *j = ctx;
    const kern_window *g = j->g;
    int64_t kk = g->kh * g->kw, gi = task / g->C, c = task % g->C;
    int64_t hp = padded_h(g), wp = padded_w(g), hw = g->oh * g->ow;
    const float *gg = j->gp + gi * j->O * hw * L;
    float *plane = j->dxp + (gi * g->C + c) * hp * wp * L;
    memset(plane, 0, (size_t)(hp * wp * L) * sizeof *plane);
    for (int64_t t0 = c * kk; t0 < (c + 1) * kk; t0 += OB) {
        int64_t nt = (c + 1) * kk - t0 < OB ? (c + 1) * kk - t0 : OB;
        const float *wb = j->wpk + t0 * j->O;
        for (int64_t p = 0; p < g->oh; p++)
            for (int64_t q = 0; q < g->ow; q += PB) {
                int64_t np = g->ow - q < PB ? g->ow - q : PB;
                float *dst[OB];
                for (int64_t t = 0; t < nt; t++) {
                    int64_t i = (t0 + t) % kk / g->kw, jj = (t0 + t) % g->kw;
                    dst[t] = plane + ((p + i) * wp + q + jj) * L;
                }
                igrad_fns[nt][np](gg + (p * g->ow + q) * L, hw * L, j->O, wb, dst);
            }
    }
    int64_t n0 = gi * L, nl = j->N - n0 < L ? j->N - n0 : L;
    kern_window one = *g;
    one.C = 1;
    unpack_images(&one, plane, nl, j->dx + n0 * j->dx_is + c * g->H * g->W, j->dx_is);
#else
    (void)ctx, (void)task;
#endif
}

int64_t kern_conv_lanes_dx_elems(const kern_window *g, int64_t N) {
    return kern_conv_lanes_x_elems(g, N);
}

void kern_conv_lanes_input_grad(const kern_window *g, int64_t N, int64_t O, const float *gy,
                                int64_t gy_is, const float *w, float *wpk, float *gp, float *dxp,
                                float *dx, int64_t dx_is) {
    int64_t taps = g->C * g->kh * g->kw, ng = n_groups(N);
    /* Weights by blocks of taps (the blocks igrad_task takes: each channel's taps from its
     * first), output-major within a block, for broadcasts in order. */
    int64_t kk = g->kh * g->kw;
    for (int64_t c = 0; c < g->C; c++)
        for (int64_t t0 = c * kk; t0 < (c + 1) * kk; t0 += OB) {
            int64_t nt = (c + 1) * kk - t0 < OB ? (c + 1) * kk - t0 : OB;
            for (int64_t o = 0; o < O; o++)
                for (int64_t t = 0; t < nt; t++) wpk[t0 * O + o * nt + t] = w[o * taps + t0 + t];
        }
    igrad_job j = {g, N, O, taps, gy, gy_is, wpk, gp, dxp, dx, dx_is};
    int threads = kern_threads();
    bool par = threads > 1 && N * O * g->oh * g->ow * taps >= LANES_PAR_MIN;
    if (par && ng > 1)
        kern_parallel_for(ng, threads, ipack_task, &j);
    else
        for (int64_t gi = 0; gi < ng; gi++) ipack_task(&j, gi);
    if (par)
        kern_parallel_for(ng * g->C, threads, igrad_task, &j);
    else
        for (int64_t k = 0; k < ng * g->C; k++) igrad_task(&j, k);
}
