/* conv_direct_simd.h: the direct convolution kernels written once for any vector width; a
 * template that conv_direct.c includes once per instruction set (no include guard).
 *
 * The includer includes its level's vector vocabulary (simd_avx512.h, simd_avx2.h or
 * simd_neon.h, f32) and defines TARGET (the target attribute), FN(name) (the name with the
 * level appended) and the register blocks: D_FOB output channels of the forward (two strips
 * each, D_FOB <= 8), D_WOB output channels and D_WTB taps of the weight gradient (D_WOB <= 4,
 * D_WTB <= TB_MAX). Block sizes reach the bodies as constants and every loop over them is
 * unrolled, so the accumulators stay in registers. The template #undefs TARGET, FN and the
 * blocks when it ends, so the includer can define them again for the next instruction set. */

/* A strip: output row p, columns [q0, q0 + n). The full strips (n = VL) of every row come
 * first, then each row's shorter last one, so that pairs of strips are mostly both full and
 * take the unmasked loop. Lengths rather than masks cross function boundaries: a vector
 * argument to a function compiled without the vector extension would change the calling
 * convention. */
typedef struct FN(strip) {
    int64_t p, q0;
    int n;
} FN(strip);

static inline FN(strip) FN(strip_at)(const kern_window *g, int64_t s) {
    int64_t full = g->ow / VL, n_full = g->oh * full;
    if (s < n_full) return (FN(strip)){s / full, s % full * VL, VL};
    return (FN(strip)){s - n_full, full * VL, (int)(g->ow - full * VL)};
}

static inline int64_t FN(n_strips)(const kern_window *g) {
    return g->oh * (g->ow / VL + (g->ow % VL != 0));
}

/* Forward of NB output channels over two strips at once (the same strip twice when one is
 * left): y[o, strip] = b[o] + sum over taps t of w[o, t] x[strip shifted by tap t] (no b[o]
 * when b is NULL). wp holds the block's weights tap-major (wp[t NB + o]); off[t] is tap t's
 * offset in the image. */
static inline __attribute__((always_inline)) TARGET void
FN(fwd_body)(const int NB, const bool FULL, const float *x0, const float *x1, int n0, int n1,
             const int64_t *off, int64_t taps, const float *wp, const float *b, float *y0,
             float *y1, int64_t ys) {
    MASK m0 = MASK_FIRST(n0), m1 = MASK_FIRST(n1);
    V a0[8], a1[8];
#pragma GCC unroll 8
    for (int o = 0; o < NB; o++) a0[o] = a1[o] = b ? VSET1(b[o]) : VZERO();
    for (int64_t t = 0; t < taps; t++, wp += NB) {
        V v0 = FULL ? VLOAD(x0 + off[t]) : VLOADM(x0 + off[t], m0);
        V v1 = FULL ? VLOAD(x1 + off[t]) : VLOADM(x1 + off[t], m1);
#pragma GCC unroll 8
        for (int o = 0; o < NB; o++) {
            V b = VSET1(wp[o]);
            a0[o] = VFMA(b, v0, a0[o]);
            a1[o] = VFMA(b, v1, a1[o]);
        }
    }
#pragma GCC unroll 8
    for (int o = 0; o < NB; o++) {
        if (FULL) {
            VSTORE(y1 + o * ys, a1[o]);
            VSTORE(y0 + o * ys, a0[o]);
        } else {
            VSTOREN(y1 + o * ys, n1, a1[o]);
            VSTOREN(y0 + o * ys, n0, a0[o]);
        }
    }
}

#define D_FWD(NB)                                                                              \
    static TARGET void FN(fwd_block_##NB)(const float *x0, const float *x1, int n0, int n1,     \
                                          const int64_t *off, int64_t taps, const float *wp,   \
                                          const float *b, float *y0, float *y1, int64_t ys) {  \
        if (n0 == VL && n1 == VL)                                                              \
            FN(fwd_body)(NB, true, x0, x1, n0, n1, off, taps, wp, b, y0, y1, ys);              \
        else                                                                                   \
            FN(fwd_body)(NB, false, x0, x1, n0, n1, off, taps, wp, b, y0, y1, ys);             \
    }
D_FWD(1)
D_FWD(2)
D_FWD(3)
D_FWD(4)
D_FWD(5)
D_FWD(6)
#if D_FOB > 6
D_FWD(7)
D_FWD(8)
#endif
#undef D_FWD

typedef void (*FN(fwd_block_fn))(const float *, const float *, int, int, const int64_t *,
                                  int64_t, const float *, const float *, float *, float *,
                                  int64_t);
static const FN(fwd_block_fn) FN(fwd_blocks)[D_FOB + 1] = {
    NULL, FN(fwd_block_1), FN(fwd_block_2), FN(fwd_block_3), FN(fwd_block_4), FN(fwd_block_5),
    FN(fwd_block_6),
#if D_FOB > 6
    FN(fwd_block_7), FN(fwd_block_8),
#endif
};

/* The weight gradient's block: for NB output channels and D_WTB taps, the sums over strips of
 * g[o, strip] x[strip shifted by tap t], accumulated lane-wise and added into acc[o][t]. */
static inline __attribute__((always_inline)) TARGET void
FN(wgrad_body)(const int NB, const kern_window *g, int64_t n_img, const float *x, int64_t x_is,
               int64_t wp, const float *gy, int64_t gy_is, const int64_t *off, float *acc,
               int64_t taps, int64_t n_taps) {
    V a[4][D_WTB];
    int64_t o[D_WTB];
#pragma GCC unroll 8
    for (int t = 0; t < D_WTB; t++) o[t] = off[t];
#pragma GCC unroll 4
    for (int k = 0; k < NB; k++)
#pragma GCC unroll 8
        for (int t = 0; t < D_WTB; t++) a[k][t] = VZERO();
    int64_t ps = g->oh * g->ow, full = g->ow / VL * VL;
    MASK m = MASK_FIRST(g->ow > full ? (int)(g->ow - full) : VL);
    for (int64_t n = 0; n < n_img; n++)
        for (int64_t p = 0; p < g->oh; p++)
            for (int64_t q0 = 0; q0 < g->ow; q0 += VL) {
                const float *xs = x + n * x_is + p * wp + q0;
                const float *gs = gy + n * gy_is + p * g->ow + q0;
                bool tail = q0 >= full; /* masked loads only for a row's last, short strip */
                V v[D_WTB];
#pragma GCC unroll 8
                for (int t = 0; t < D_WTB; t++) v[t] = tail ? VLOADM(xs + o[t], m) : VLOAD(xs + o[t]);
#pragma GCC unroll 4
                for (int k = 0; k < NB; k++) {
                    V w = tail ? VLOADM(gs + k * ps, m) : VLOAD(gs + k * ps);
#pragma GCC unroll 8
                    for (int t = 0; t < D_WTB; t++) a[k][t] = VFMA(w, v[t], a[k][t]);
                }
            }
#pragma GCC unroll 4
    for (int k = 0; k < NB; k++)
#pragma GCC unroll 8
        for (int t = 0; t < D_WTB; t++)
            if (t < n_taps) acc[k * taps + t] += VHSUM(a[k][t]);
}

#define D_WGRAD(NB)                                                                            \
    static TARGET void FN(wgrad_block_##NB)(const kern_window *g, int64_t n_img, const float *x, \
                                            int64_t x_is, int64_t wp, const float *gy,          \
                                            int64_t gy_is, const int64_t *off, float *acc,      \
                                            int64_t taps, int64_t n_taps) {                     \
        FN(wgrad_body)(NB, g, n_img, x, x_is, wp, gy, gy_is, off, acc, taps, n_taps);          \
    }
D_WGRAD(1)
D_WGRAD(2)
D_WGRAD(3)
D_WGRAD(4)
#undef D_WGRAD

typedef void (*FN(wgrad_block_fn))(const kern_window *, int64_t, const float *, int64_t, int64_t,
                                    const float *, int64_t, const int64_t *, float *, int64_t,
                                    int64_t);
static const FN(wgrad_block_fn) FN(wgrad_blocks)[5] = {NULL, FN(wgrad_block_1),
                                                       FN(wgrad_block_2), FN(wgrad_block_3),
                                                       FN(wgrad_block_4)};

/* The forward of image n (fwd_job), output channels in blocks of D_FOB. */
static void FN(fwd_task)(void *ctx, int64_t n) {
    const fwd_job *j = ctx;
    const kern_window *g = j->g;
    int64_t hp = padded_h(g), wp = padded_w(g), off[DIRECT_MAX_TAPS + TB_MAX];
    int64_t taps = tap_offsets(g, hp, wp, off);
    const float *x = j->x + n * j->x_is;
    if (j->pad) {
        float *d = j->pad + n * g->C * hp * wp;
        pad_image(g, x, d);
        x = d;
    }
    float *y = j->y + n * j->y_is;
    int64_t n_strips = FN(n_strips)(g), ys = g->oh * g->ow;
    for (int64_t o0 = 0; o0 < j->O; o0 += D_FOB) {
        int64_t ob = j->O - o0 < D_FOB ? j->O - o0 : D_FOB;
        const float *wb = j->wpk + o0 * taps;
        for (int64_t s = 0; s < n_strips; s += 2) {
            FN(strip) a = FN(strip_at)(g, s), b = FN(strip_at)(g, s + 1 < n_strips ? s + 1 : s);
            FN(fwd_blocks)[ob](x + a.p * wp + a.q0, x + b.p * wp + b.q0, a.n, b.n, off, taps, wb,
                               j->bias ? j->bias + o0 : NULL, y + o0 * ys + a.p * g->ow + a.q0,
                               y + o0 * ys + b.p * g->ow + b.q0, ys);
        }
    }
}

/* The weight gradient's sums over images [x, x + n_img x_is) (padded when the layer pads)
 * into acc (O taps floats, already zero), in blocks of D_WTB taps and D_WOB outputs. */
static void FN(wgrad_images)(const kern_window *g, int64_t O, int64_t n_img, const float *x,
                             int64_t x_is, const float *gy, int64_t gy_is, float *acc) {
    int64_t hp = padded_h(g), wp = padded_w(g), off[DIRECT_MAX_TAPS + TB_MAX];
    int64_t taps = tap_offsets(g, hp, wp, off);
    for (int64_t t0 = 0; t0 < taps; t0 += D_WTB)
        for (int64_t o0 = 0; o0 < O; o0 += D_WOB) {
            int64_t ob = O - o0 < D_WOB ? O - o0 : D_WOB;
            FN(wgrad_blocks)[ob](g, n_img, x, x_is, wp, gy + o0 * g->oh * g->ow, gy_is, off + t0,
                                 acc + o0 * taps + t0, taps, taps - t0);
        }
}

#undef TARGET
#undef FN
#undef D_FOB
#undef D_WOB
#undef D_WTB
