/* conv_lanes.c: 2-D convolution with one image in each lane of a vector (16 images per AVX-512
 * vector, 8 per AVX2 one, 4 per NEON one), for f32 at stride 1 and dilation 1: the forward and
 * both gradients of layers whose rows are too short to fill vectors along a row (LeNet's second
 * layer: 10 output columns, 150 taps). Images are packed (zero-padded) as [group][channel][row]
 * [column][lane], so every multiply-add uses all lanes whatever the image size, and no im2col
 * columns are made. The kernels are written once (conv_lanes_simd.h) and instantiated here per
 * level.
 *
 * Invariant: lanes past the last image hold zeros in the packed input and output gradient, so
 * they add nothing to a weight gradient, and their outputs are never unpacked. */
#include <string.h>

#include "conv.h"
#include "cpu.h"
#include "threadpool.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#include "avx2_util.h"
#define LANES_X86  1
#define LANES_SIMD 1
#elif defined(__aarch64__)
#include "neon_util.h"
#define LANES_NEON 1
#define LANES_SIMD 1
#endif

/* The most images per vector at any level: the scratch is sized for groups of this many, which
 * also holds the smaller groups of a narrower level. */
enum { L_MAX = 16 };
enum { LANES_MAX_TAPS = 1024 };   /* the offsets table of the forward lives on the stack */
enum { LANES_PAR_MIN = 1 << 18 }; /* multiply-adds from which threads share the work */
/* The largest packed group of 16 images (bytes) taken: kernels sweep a group per block of
 * taps and outputs, which pays while it stays in L2. */
enum { LANES_MAX_GROUP_BYTES = 1 << 19 };

static int64_t padded_h(const kern_window *g) { return g->oh + g->kh - 1; }
static int64_t padded_w(const kern_window *g) { return g->ow + g->kw - 1; }
static int64_t max_groups(int64_t N) { return (N + L_MAX - 1) / L_MAX; }

bool kern_conv_lanes_usable(tg_dtype dtype, const kern_window *g, int64_t N) {
#ifdef LANES_SIMD
    return dtype == TG_F32 && kern_cpu_level() != TG_CPU_PORTABLE && g->sh == 1 && g->sw == 1 &&
           g->dh == 1 && g->dw == 1 && N >= L_MAX / 2 && g->C * g->kh * g->kw <= LANES_MAX_TAPS &&
           g->C * padded_h(g) * padded_w(g) * L_MAX * (int64_t)sizeof(float) <=
               LANES_MAX_GROUP_BYTES;
#else
    (void)dtype, (void)g, (void)N;
    return false;
#endif
}

int64_t kern_conv_lanes_x_elems(const kern_window *g, int64_t N) {
    return max_groups(N) * g->C * padded_h(g) * padded_w(g) * L_MAX;
}

int64_t kern_conv_lanes_y_elems(const kern_window *g, int64_t N, int64_t O) {
    return max_groups(N) * O * g->oh * g->ow * L_MAX;
}

int64_t kern_conv_lanes_dx_elems(const kern_window *g, int64_t N) {
    return kern_conv_lanes_x_elems(g, N);
}

/* What the tasks of each pass share. */
typedef struct fwd_job {
    const kern_window *g;
    int64_t N, O, taps, n_ob;
    const float *x;
    int64_t x_is;
    const float *wpk;  /* weights, block by block, tap-major within a block */
    const float *bias; /* O floats added to the outputs, or NULL */
    float *xp, *yp;
    float *y;
    int64_t y_is;
} fwd_job;

typedef struct wgrad_job {
    const kern_window *g;
    int64_t N, O, taps, n_ob;
    const float *x, *gy;
    int64_t x_is, gy_is;
    float *xp, *gp, *gw;
    int64_t n_chunks;
} wgrad_job;

typedef struct igrad_job {
    const kern_window *g;
    int64_t N, O, taps;
    const float *gy;
    int64_t gy_is;
    const float *wpk; /* weights by blocks of taps: wpk[t0 O + o nt + t] */
    float *gp, *dxp;  /* packed gradient (every group), padded packed input gradient */
    float *dx;
    int64_t dx_is;
} igrad_job;

#ifdef LANES_X86
/* Transposes the 16 x 16 block r in registers: afterwards r[b] lane a holds what r[a] lane b
 * held. Pairs within 128-bit lanes, then quads, then 128-bit lanes across vectors. */
__attribute__((target("avx512f"))) static inline void transpose16(__m512 r[16]) {
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

#define TARGET   __attribute__((target("avx512f")))
#define FN(name) lanes_##name##_avx512
#include "simd_avx512.h"
#define TRANSPOSE transpose16
#define VREGS     32
#define L_FOB     4
#define L_FPB     6
#define L_WOB     4
#define L_WTB     5
#define L_ITB     4
#define L_IPB     6
#include "conv_lanes_simd.h"
#include "simd_reset.h"

#define AVX2 __attribute__((target("avx2,fma")))

/* The 8 x 8 transpose: pairs, then quads within 128-bit lanes, then the 128-bit halves. */
AVX2 static inline void transpose8(__m256 r[8]) {
    __m256 t[8];
    for (int i = 0; i < 4; i++) {
        t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 2; i++) {
        r[4 * i] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], _MM_SHUFFLE(1, 0, 1, 0));
        r[4 * i + 1] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], _MM_SHUFFLE(3, 2, 3, 2));
        r[4 * i + 2] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(1, 0, 1, 0));
        r[4 * i + 3] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(3, 2, 3, 2));
    }
    for (int m = 0; m < 4; m++) {
        t[m] = _mm256_permute2f128_ps(r[m], r[4 + m], 0x20);
        t[4 + m] = _mm256_permute2f128_ps(r[m], r[4 + m], 0x31);
    }
    for (int m = 0; m < 8; m++) r[m] = t[m];
}

/* 16 ymm registers: the forward's and the input gradient's 2 x 6 accumulators, a broadcast
 * weight and an input; the weight gradient's 3 x 3 accumulators, three inputs, a gradient. */
#define TARGET   AVX2
#define FN(name) lanes_##name##_avx2
#include "simd_avx2.h"
#define TRANSPOSE transpose8
#define VREGS     16
#define L_FOB     2
#define L_FPB     6
#define L_WOB     4
#define L_WTB     3
#define L_ITB     2
#define L_IPB     6
#include "conv_lanes_simd.h"
#include "simd_reset.h"
#endif

#ifdef LANES_NEON
/* The 4 x 4 transpose: lanes of pairs of rows interleaved, then the halves recombined. */
static inline void transpose4(float32x4_t r[4]) {
    float32x4x2_t a = vtrnq_f32(r[0], r[1]), b = vtrnq_f32(r[2], r[3]);
    r[0] = vcombine_f32(vget_low_f32(a.val[0]), vget_low_f32(b.val[0]));
    r[1] = vcombine_f32(vget_low_f32(a.val[1]), vget_low_f32(b.val[1]));
    r[2] = vcombine_f32(vget_high_f32(a.val[0]), vget_high_f32(b.val[0]));
    r[3] = vcombine_f32(vget_high_f32(a.val[1]), vget_high_f32(b.val[1]));
}

/* 32 registers, as AVX-512 has: its register blocks. */
#define TARGET
#define FN(name) lanes_##name##_neon
#include "simd_neon.h"
#define TRANSPOSE transpose4
#define VREGS     32
#define L_FOB     4
#define L_FPB     6
#define L_WOB     4
#define L_WTB     5
#define L_ITB     4
#define L_IPB     6
#include "conv_lanes_simd.h"
#include "simd_reset.h"
#endif

#ifdef LANES_X86
/* Only reached after kern_conv_lanes_usable said yes, so the CPU has AVX2 at least; the
 * AVX-512 kernels when that is the level in effect now. */
static bool use_avx512(void) { return kern_cpu_level() >= TG_CPU_AVX512; }
#endif

void kern_conv_lanes_forward(const kern_window *g, int64_t N, int64_t O, const float *x,
                             int64_t x_is, const float *w, const float *bias, float *wpk, float *xp,
                             float *yp, float *y, int64_t y_is) {
#ifdef LANES_X86
    if (use_avx512())
        lanes_forward_avx512(g, N, O, x, x_is, w, bias, wpk, xp, yp, y, y_is);
    else
        lanes_forward_avx2(g, N, O, x, x_is, w, bias, wpk, xp, yp, y, y_is);
#elif defined(LANES_NEON)
    lanes_forward_neon(g, N, O, x, x_is, w, bias, wpk, xp, yp, y, y_is);
#else
    (void)g, (void)N, (void)O, (void)x, (void)x_is, (void)w, (void)bias, (void)wpk, (void)xp;
    (void)yp, (void)y, (void)y_is;
#endif
}

void kern_conv_lanes_weight_grad(const kern_window *g, int64_t N, int64_t O, const float *x,
                                 int64_t x_is, const float *gy, int64_t gy_is, float *xp, float *gp,
                                 float *gw) {
#ifdef LANES_X86
    if (use_avx512())
        lanes_weight_grad_avx512(g, N, O, x, x_is, gy, gy_is, xp, gp, gw);
    else
        lanes_weight_grad_avx2(g, N, O, x, x_is, gy, gy_is, xp, gp, gw);
#elif defined(LANES_NEON)
    lanes_weight_grad_neon(g, N, O, x, x_is, gy, gy_is, xp, gp, gw);
#else
    (void)g, (void)N, (void)O, (void)x, (void)x_is, (void)gy, (void)gy_is, (void)xp, (void)gp;
    (void)gw;
#endif
}

void kern_conv_lanes_input_grad(const kern_window *g, int64_t N, int64_t O, const float *gy,
                                int64_t gy_is, const float *w, float *wpk, float *gp, float *dxp,
                                float *dx, int64_t dx_is) {
#ifdef LANES_X86
    if (use_avx512())
        lanes_input_grad_avx512(g, N, O, gy, gy_is, w, wpk, gp, dxp, dx, dx_is);
    else
        lanes_input_grad_avx2(g, N, O, gy, gy_is, w, wpk, gp, dxp, dx, dx_is);
#elif defined(LANES_NEON)
    lanes_input_grad_neon(g, N, O, gy, gy_is, w, wpk, gp, dxp, dx, dx_is);
#else
    (void)g, (void)N, (void)O, (void)gy, (void)gy_is, (void)w, (void)wpk, (void)gp, (void)dxp;
    (void)dx, (void)dx_is;
#endif
}
