/* conv_lanes_simd.h: the images-in-lanes convolution written once for any vector width; a
 * template that conv_lanes.c includes once per instruction set (no include guard). A group is
 * VL images, one per lane.
 *
 * The includer includes its level's vector vocabulary (simd_avx512.h, simd_avx2.h or
 * simd_neon.h, f32) and defines TRANSPOSE(r) (the VL x VL block in the array r, in place),
 * TARGET, FN(name) (the name with the level appended), VREGS (the vector registers there are)
 * and the register blocks: the forward's L_FOB outputs x L_FPB positions, the weight
 * gradient's L_WOB outputs x L_WTB taps, the input gradient's L_ITB taps x L_IPB positions
 * (L_FOB, L_WOB, L_ITB <= 4; L_FPB, L_IPB <= 6). The template #undefs all but the vocabulary
 * when it ends, so the includer can define them again for the next instruction set. */

static int64_t FN(n_groups)(int64_t N) { return (N + VL - 1) / VL; }

/* Tap t = (c, i, j) at (c hp + i) wp + j positions (times VL floats) in a packed group. */
static int64_t FN(tap_offsets)(const kern_window *g, int64_t *off) {
    int64_t taps = g->C * g->kh * g->kw, hp = padded_h(g), wp = padded_w(g);
    for (int64_t t = 0; t < taps; t++) {
        int64_t c = t / (g->kh * g->kw), i = t / g->kw % g->kh, j = t % g->kw;
        off[t] = ((c * hp + i) * wp + j) * VL;
    }
    return taps;
}

static inline TARGET MASK FN(first)(int64_t n) { return MASK_FIRST((int)(n >= VL ? VL : n)); }

/* Lanes of runs of n (<= VL) floats: run l of image l starts at src + l stride, for the nl
 * images there are (the others read as 0); stored transposed, element k of every run as the
 * vector at dst + k step. */
static TARGET void FN(pack_runs)(const float *src, int64_t stride, int64_t nl, int64_t n,
                                 float *dst, int64_t step) {
    V r[VL];
    MASK m = FN(first)(n);
    for (int64_t l = 0; l < VL; l++) r[l] = l < nl ? VLOADM(src + l * stride, m) : VZERO();
    TRANSPOSE(r);
    for (int64_t k = 0; k < n; k++) VSTORE(dst + k * step, r[k]);
}

/* Group gi of images (C planes of H x W at image stride x_is), zero border included. */
static TARGET void FN(pack_images)(const kern_window *g, int64_t N, const float *x, int64_t x_is,
                                   int64_t gi, float *xp) {
    int64_t hp = padded_h(g), wp = padded_w(g), n0 = gi * VL, nl = N - n0 < VL ? N - n0 : VL;
    float *dst = xp + gi * g->C * hp * wp * VL;
    memset(dst, 0, (size_t)(g->C * hp * wp * VL) * sizeof *dst);
    for (int64_t c = 0; c < g->C; c++)
        for (int64_t y = 0; y < g->H; y++)
            for (int64_t x0 = 0; x0 < g->W; x0 += VL)
                FN(pack_runs)(x + n0 * x_is + (c * g->H + y) * g->W + x0, x_is, nl,
                              g->W - x0 < VL ? g->W - x0 : VL,
                              dst + ((c * hp + y + g->ph) * wp + g->pw + x0) * VL, VL);
}

/* Group gi of the output gradient (O planes of oh x ow at image stride gy_is). */
static TARGET void FN(pack_grad)(const kern_window *g, int64_t N, int64_t O, const float *gy,
                                 int64_t gy_is, int64_t gi, float *gp) {
    int64_t hw = g->oh * g->ow, n0 = gi * VL, nl = N - n0 < VL ? N - n0 : VL;
    float *dst = gp + gi * O * hw * VL;
    for (int64_t o = 0; o < O; o++)
        for (int64_t k0 = 0; k0 < hw; k0 += VL)
            FN(pack_runs)(gy + n0 * gy_is + o * hw + k0, gy_is, nl, hw - k0 < VL ? hw - k0 : VL,
                          dst + (o * hw + k0) * VL, VL);
}

/* The inverse for outputs: ob packed planes of hw positions at yg into y, images n0.. (nl),
 * plus b[o] on plane o when b is not NULL (added here, where every output passes anyway). */
static TARGET void FN(unpack_out)(const float *yg, int64_t ob, int64_t hw, int64_t nl,
                                  const float *b, float *y, int64_t y_is) {
    V r[VL];
    for (int64_t o = 0; o < ob; o++)
        for (int64_t k0 = 0; k0 < hw; k0 += VL) {
            int64_t n = hw - k0 < VL ? hw - k0 : VL;
            for (int64_t k = 0; k < VL; k++) r[k] = k < n ? VLOAD(yg + (o * hw + k0 + k) * VL) : VZERO();
            if (b) {
                V bo = VSET1(b[o]);
                for (int64_t k = 0; k < n; k++) r[k] = VADD(r[k], bo);
            }
            TRANSPOSE(r);
            for (int64_t l = 0; l < nl; l++) VSTOREN(y + l * y_is + o * hw + k0, (int)n, r[l]);
        }
}

/* Forward of NO output channels at NP consecutive positions of one row: xs is the packed input
 * at the row's first position, wp the block's weights tap-major (wp[t NO + o]), and the sums go
 * to out (NO planes of `plane` packed positions, starting at the row's first). */
static inline __attribute__((always_inline)) TARGET void
FN(fwd_body)(const int NO, const int NP, const float *xs, const int64_t *off, int64_t taps,
             const float *wp, float *out, int64_t plane) {
    V a[4][6];
#pragma GCC unroll 4
    for (int o = 0; o < NO; o++)
#pragma GCC unroll 6
        for (int k = 0; k < NP; k++) a[o][k] = VZERO();
    for (int64_t t = 0; t < taps; t++, wp += NO) {
        const float *x = xs + off[t];
        if (NO * NP + NP + 1 <= VREGS) { /* all inputs in registers, each weight once */
            V v[6];
#pragma GCC unroll 6
            for (int k = 0; k < NP; k++) v[k] = VLOAD(x + k * VL);
#pragma GCC unroll 4
            for (int o = 0; o < NO; o++) {
                V w = VSET1(wp[o]);
#pragma GCC unroll 6
                for (int k = 0; k < NP; k++) a[o][k] = VFMA(w, v[k], a[o][k]);
            }
        } else { /* too few registers for that: all weights, then each input in turn */
            V w[4];
#pragma GCC unroll 4
            for (int o = 0; o < NO; o++) w[o] = VSET1(wp[o]);
#pragma GCC unroll 6
            for (int k = 0; k < NP; k++) {
                V v = VLOAD(x + k * VL);
#pragma GCC unroll 4
                for (int o = 0; o < NO; o++) a[o][k] = VFMA(w[o], v, a[o][k]);
            }
        }
    }
#pragma GCC unroll 4
    for (int o = 0; o < NO; o++)
#pragma GCC unroll 6
        for (int k = 0; k < NP; k++) VSTORE(out + (o * plane + k) * VL, a[o][k]);
}

/* Weight gradient of NO output channels and L_WTB taps (offsets off[], the last ones possibly
 * repeats whose sums are dropped) over every position of one packed group, added into acc. */
static inline __attribute__((always_inline)) TARGET void
FN(wgrad_body)(const int NO, const kern_window *g, const float *xp, const float *gp,
               int64_t plane, const int64_t *off, float *acc, int64_t taps, int64_t n_taps) {
    V a[4][L_WTB];
    int64_t of[L_WTB];
#pragma GCC unroll 8
    for (int t = 0; t < L_WTB; t++) of[t] = off[t];
#pragma GCC unroll 4
    for (int o = 0; o < NO; o++)
#pragma GCC unroll 8
        for (int t = 0; t < L_WTB; t++) a[o][t] = VZERO();
    int64_t wp = padded_w(g);
    for (int64_t p = 0; p < g->oh; p++) {
        const float *xs = xp + p * wp * VL, *gs = gp + p * g->ow * VL;
        for (int64_t q = 0; q < g->ow; q++, xs += VL, gs += VL) {
            V v[L_WTB];
#pragma GCC unroll 8
            for (int t = 0; t < L_WTB; t++) v[t] = VLOAD(xs + of[t]);
#pragma GCC unroll 4
            for (int o = 0; o < NO; o++) {
                V w = VLOAD(gs + o * plane);
#pragma GCC unroll 8
                for (int t = 0; t < L_WTB; t++) a[o][t] = VFMA(w, v[t], a[o][t]);
            }
        }
    }
#pragma GCC unroll 4
    for (int o = 0; o < NO; o++)
#pragma GCC unroll 8
        for (int t = 0; t < L_WTB; t++)
            if (t < n_taps) acc[o * taps + t] += VHSUM(a[o][t]);
}

/* Input gradient of NT taps at NP consecutive positions of one row of the output gradient: the
 * products sum_o w[o, t] g[o, position] (gs: the packed gradient at the row's first position,
 * planes `plane` floats apart; wp: the block's weights, wp[o NT + t]) are added into the
 * padded packed input gradient at each tap's shift (dst[t]: where the row's first position
 * lands for tap t). */
static inline __attribute__((always_inline)) TARGET void
FN(igrad_body)(const int NT, const int NP, const float *gs, int64_t plane, int64_t O,
               const float *wp, float *const *dst) {
    V a[4][6];
#pragma GCC unroll 4
    for (int t = 0; t < NT; t++)
#pragma GCC unroll 6
        for (int k = 0; k < NP; k++) a[t][k] = VZERO();
    for (int64_t o = 0; o < O; o++, gs += plane, wp += NT) {
        if (NT * NP + NP + 1 <= VREGS) { /* as in fwd_body */
            V v[6];
#pragma GCC unroll 6
            for (int k = 0; k < NP; k++) v[k] = VLOAD(gs + k * VL);
#pragma GCC unroll 4
            for (int t = 0; t < NT; t++) {
                V w = VSET1(wp[t]);
#pragma GCC unroll 6
                for (int k = 0; k < NP; k++) a[t][k] = VFMA(w, v[k], a[t][k]);
            }
        } else {
            V w[4];
#pragma GCC unroll 4
            for (int t = 0; t < NT; t++) w[t] = VSET1(wp[t]);
#pragma GCC unroll 6
            for (int k = 0; k < NP; k++) {
                V v = VLOAD(gs + k * VL);
#pragma GCC unroll 4
                for (int t = 0; t < NT; t++) a[t][k] = VFMA(w[t], v, a[t][k]);
            }
        }
    }
#pragma GCC unroll 4
    for (int t = 0; t < NT; t++)
#pragma GCC unroll 6
        for (int k = 0; k < NP; k++) {
            float *d = dst[t] + k * VL;
            VSTORE(d, VADD(VLOAD(d), a[t][k]));
        }
}

/* One function per block shape, in tables indexed by the shape: [NO][NP], [NO], [NT][NP]. */
#define L_FWD(NO, NP)                                                                          \
    static TARGET void FN(fwd_##NO##_##NP)(const float *xs, const int64_t *off, int64_t taps,  \
                                           const float *wp, float *out, int64_t plane) {       \
        FN(fwd_body)(NO, NP, xs, off, taps, wp, out, plane);                                   \
    }
#define L_IGRAD(NT, NP)                                                                        \
    static TARGET void FN(igrad_##NT##_##NP)(const float *gs, int64_t plane, int64_t O,        \
                                             const float *wp, float *const *dst) {             \
        FN(igrad_body)(NT, NP, gs, plane, O, wp, dst);                                         \
    }
#define L_ROW(M, NO) M(NO, 1) M(NO, 2) M(NO, 3) M(NO, 4) M(NO, 5) M(NO, 6)
L_ROW(L_FWD, 1)
L_ROW(L_FWD, 2)
#if L_FOB > 2
L_ROW(L_FWD, 3)
L_ROW(L_FWD, 4)
#endif
L_ROW(L_IGRAD, 1)
L_ROW(L_IGRAD, 2)
#if L_ITB > 2
L_ROW(L_IGRAD, 3)
L_ROW(L_IGRAD, 4)
#endif
#undef L_ROW
#undef L_FWD
#undef L_IGRAD

#define L_WGRAD(NO)                                                                            \
    static TARGET void FN(wgrad_##NO)(const kern_window *g, const float *xp, const float *gp,  \
                                      int64_t plane, const int64_t *off, float *acc,           \
                                      int64_t taps, int64_t n_taps) {                          \
        FN(wgrad_body)(NO, g, xp, gp, plane, off, acc, taps, n_taps);                          \
    }
L_WGRAD(1)
L_WGRAD(2)
L_WGRAD(3)
#if L_WOB > 3
L_WGRAD(4)
#endif
#undef L_WGRAD

typedef void (*FN(fwd_fn))(const float *, const int64_t *, int64_t, const float *, float *,
                           int64_t);
typedef void (*FN(igrad_fn))(const float *, int64_t, int64_t, const float *, float *const *);
typedef void (*FN(wgrad_fn))(const kern_window *, const float *, const float *, int64_t,
                             const int64_t *, float *, int64_t, int64_t);
#define L_FNS(K, NO)                                                                           \
    {NULL, FN(K##_##NO##_1), FN(K##_##NO##_2), FN(K##_##NO##_3), FN(K##_##NO##_4),            \
     FN(K##_##NO##_5), FN(K##_##NO##_6)}
static const FN(fwd_fn) FN(fwd_fns)[L_FOB + 1][7] = {
    {NULL}, L_FNS(fwd, 1), L_FNS(fwd, 2),
#if L_FOB > 2
    L_FNS(fwd, 3), L_FNS(fwd, 4),
#endif
};
static const FN(igrad_fn) FN(igrad_fns)[L_ITB + 1][7] = {
    {NULL}, L_FNS(igrad, 1), L_FNS(igrad, 2),
#if L_ITB > 2
    L_FNS(igrad, 3), L_FNS(igrad, 4),
#endif
};
#undef L_FNS
static const FN(wgrad_fn) FN(wgrad_fns)[L_WOB + 1] = {NULL, FN(wgrad_1), FN(wgrad_2), FN(wgrad_3),
#if L_WOB > 3
                                                      FN(wgrad_4),
#endif
};

/* Unpacks rows of a padded packed plane (hp x wp, lanes VL) into x's images. */
static TARGET void FN(unpack_plane)(const kern_window *g, const float *xp, int64_t nl, float *x,
                                    int64_t x_is) {
    int64_t wp = padded_w(g);
    for (int64_t y = 0; y < g->H; y++)
        FN(unpack_out)(xp + ((y + g->ph) * wp + g->pw) * VL, 1, g->W, nl, NULL, x + y * g->W,
                       x_is);
}

/* ---- forward: tasks are (group of images, block of output channels) ---- */

static void FN(pack_task)(void *ctx, int64_t gi) {
    const fwd_job *j = ctx;
    FN(pack_images)(j->g, j->N, j->x, j->x_is, gi, j->xp);
}

static void FN(fwd_task)(void *ctx, int64_t task) {
    const fwd_job *j = ctx;
    const kern_window *g = j->g;
    int64_t gi = task / j->n_ob, o0 = task % j->n_ob * L_FOB;
    int64_t ob = j->O - o0 < L_FOB ? j->O - o0 : L_FOB;
    int64_t hp = padded_h(g), wp = padded_w(g), hw = g->oh * g->ow, off[LANES_MAX_TAPS];
    FN(tap_offsets)(g, off);
    const float *xg = j->xp + gi * g->C * hp * wp * VL, *wb = j->wpk + o0 * j->taps;
    float *yg = j->yp + (gi * j->O + o0) * hw * VL;
    for (int64_t p = 0; p < g->oh; p++)
        for (int64_t q = 0; q < g->ow; q += L_FPB) {
            int64_t np = g->ow - q < L_FPB ? g->ow - q : L_FPB;
            FN(fwd_fns)[ob][np](xg + (p * wp + q) * VL, off, j->taps, wb,
                                yg + (p * g->ow + q) * VL, hw);
        }
    /* Unpack the block's outputs of the group's real images into y. */
    int64_t n0 = gi * VL, nl = j->N - n0 < VL ? j->N - n0 : VL;
    FN(unpack_out)(yg, ob, hw, nl, j->bias ? j->bias + o0 : NULL, j->y + n0 * j->y_is + o0 * hw,
                   j->y_is);
}

static void FN(forward)(const kern_window *g, int64_t N, int64_t O, const float *x, int64_t x_is,
                        const float *w, const float *bias, float *wpk, float *xp, float *yp,
                        float *y, int64_t y_is) {
    int64_t taps = g->C * g->kh * g->kw, n_ob = (O + L_FOB - 1) / L_FOB, ng = FN(n_groups)(N);
    /* Weights block by block, tap-major within a block, for broadcasts from consecutive floats. */
    for (int64_t o0 = 0; o0 < O; o0 += L_FOB) {
        int64_t ob = O - o0 < L_FOB ? O - o0 : L_FOB;
        for (int64_t t = 0; t < taps; t++)
            for (int64_t o = 0; o < ob; o++) wpk[o0 * taps + t * ob + o] = w[(o0 + o) * taps + t];
    }
    fwd_job j = {g, N, O, taps, n_ob, x, x_is, wpk, bias, xp, yp, y, y_is};
    int threads = kern_threads();
    bool par = threads > 1 && ng * n_ob > 1 && N * O * g->oh * g->ow * taps >= LANES_PAR_MIN;
    if (par && ng > 1)
        kern_parallel_for(ng, threads, FN(pack_task), &j);
    else
        for (int64_t gi = 0; gi < ng; gi++) FN(pack_task)(&j, gi);
    if (par)
        kern_parallel_for(ng * n_ob, threads, FN(fwd_task), &j);
    else
        for (int64_t k = 0; k < ng * n_ob; k++) FN(fwd_task)(&j, k);
}

/* ---- weight gradient: tasks are (block of taps, block of output channels), each writing its
 * own entries of gw, so the sums are the same on any number of threads ---- */

static void FN(wpack_task)(void *ctx, int64_t k) {
    const wgrad_job *j = ctx;
    int64_t ng = FN(n_groups)(j->N);
    if (k < ng)
        FN(pack_images)(j->g, j->N, j->x, j->x_is, k, j->xp);
    else
        FN(pack_grad)(j->g, j->N, j->O, j->gy, j->gy_is, k - ng, j->gp);
}

/* Chunk `task` of the (block of taps, block of outputs) pairs, over every group in turn: one
 * group's packed images and gradient serve all of the chunk's pairs while they are in cache. */
static void FN(wgrad_task)(void *ctx, int64_t task) {
    const wgrad_job *j = ctx;
    const kern_window *g = j->g;
    int64_t taps = j->taps, n_pairs = (taps + L_WTB - 1) / L_WTB * j->n_ob;
    int64_t k0 = n_pairs * task / j->n_chunks, k1 = n_pairs * (task + 1) / j->n_chunks;
    int64_t hp = padded_h(g), wp = padded_w(g), hw = g->oh * g->ow, x_gs = g->C * hp * wp * VL;
    for (int64_t gi = 0; gi < FN(n_groups)(j->N); gi++)
        for (int64_t k = k0; k < k1; k++) {
            int64_t t0 = k / j->n_ob * L_WTB, o0 = k % j->n_ob * L_WOB, off[L_WTB];
            int64_t ob = j->O - o0 < L_WOB ? j->O - o0 : L_WOB;
            for (int64_t t = 0; t < L_WTB; t++) {
                int64_t tt = t0 + t < taps ? t0 + t : t0, c = tt / (g->kh * g->kw);
                off[t] = ((c * hp + tt / g->kw % g->kh) * wp + tt % g->kw) * VL;
            }
            FN(wgrad_fns)[ob](g, j->xp + gi * x_gs, j->gp + (gi * j->O + o0) * hw * VL, hw * VL,
                              off, j->gw + o0 * taps + t0, taps, taps - t0);
        }
}

static void FN(weight_grad)(const kern_window *g, int64_t N, int64_t O, const float *x,
                            int64_t x_is, const float *gy, int64_t gy_is, float *xp, float *gp,
                            float *gw) {
    int64_t taps = g->C * g->kh * g->kw, n_ob = (O + L_WOB - 1) / L_WOB, ng = FN(n_groups)(N);
    int64_t n_pairs = (taps + L_WTB - 1) / L_WTB * n_ob;
    int threads = kern_threads();
    bool par = threads > 1 && N * O * g->oh * g->ow * taps >= LANES_PAR_MIN;
    /* A few chunks per thread; each entry of gw is summed by one chunk, group by group, so the
     * chunking never changes a result. */
    int64_t n_chunks = par ? (n_pairs < 4 * threads ? n_pairs : 4 * threads) : 1;
    wgrad_job j = {g, N, O, taps, n_ob, x, gy, x_is, gy_is, xp, gp, gw, n_chunks};
    memset(gw, 0, (size_t)(O * taps) * sizeof *gw);
    if (par)
        kern_parallel_for(2 * ng, threads, FN(wpack_task), &j);
    else
        for (int64_t k = 0; k < 2 * ng; k++) FN(wpack_task)(&j, k);
    if (par)
        kern_parallel_for(n_chunks, threads, FN(wgrad_task), &j);
    else
        FN(wgrad_task)(&j, 0);
}

/* ---- input gradient: tasks are (group of images, input channel); each task adds the taps of
 * its channel, in order, into its own planes, so the sums do not depend on the threads ---- */

static void FN(ipack_task)(void *ctx, int64_t gi) {
    const igrad_job *j = ctx;
    FN(pack_grad)(j->g, j->N, j->O, j->gy, j->gy_is, gi, j->gp);
}

static void FN(igrad_task)(void *ctx, int64_t task) {
    const igrad_job *j = ctx;
    const kern_window *g = j->g;
    int64_t kk = g->kh * g->kw, gi = task / g->C, c = task % g->C;
    int64_t hp = padded_h(g), wp = padded_w(g), hw = g->oh * g->ow;
    const float *gg = j->gp + gi * j->O * hw * VL;
    float *plane = j->dxp + (gi * g->C + c) * hp * wp * VL;
    memset(plane, 0, (size_t)(hp * wp * VL) * sizeof *plane);
    for (int64_t t0 = c * kk; t0 < (c + 1) * kk; t0 += L_ITB) {
        int64_t nt = (c + 1) * kk - t0 < L_ITB ? (c + 1) * kk - t0 : L_ITB;
        const float *wb = j->wpk + t0 * j->O;
        for (int64_t p = 0; p < g->oh; p++)
            for (int64_t q = 0; q < g->ow; q += L_IPB) {
                int64_t np = g->ow - q < L_IPB ? g->ow - q : L_IPB;
                float *dst[4];
                for (int64_t t = 0; t < nt; t++) {
                    int64_t i = (t0 + t) % kk / g->kw, jj = (t0 + t) % g->kw;
                    dst[t] = plane + ((p + i) * wp + q + jj) * VL;
                }
                FN(igrad_fns)[nt][np](gg + (p * g->ow + q) * VL, hw * VL, j->O, wb, dst);
            }
    }
    int64_t n0 = gi * VL, nl = j->N - n0 < VL ? j->N - n0 : VL;
    FN(unpack_plane)(g, plane, nl, j->dx + n0 * j->dx_is + c * g->H * g->W, j->dx_is);
}

static void FN(input_grad)(const kern_window *g, int64_t N, int64_t O, const float *gy,
                           int64_t gy_is, const float *w, float *wpk, float *gp, float *dxp,
                           float *dx, int64_t dx_is) {
    int64_t taps = g->C * g->kh * g->kw, ng = FN(n_groups)(N), kk = g->kh * g->kw;
    /* Weights by blocks of taps (the blocks igrad_task takes: each channel's taps from its
     * first), output-major within a block, for broadcasts in order. */
    for (int64_t c = 0; c < g->C; c++)
        for (int64_t t0 = c * kk; t0 < (c + 1) * kk; t0 += L_ITB) {
            int64_t nt = (c + 1) * kk - t0 < L_ITB ? (c + 1) * kk - t0 : L_ITB;
            for (int64_t o = 0; o < O; o++)
                for (int64_t t = 0; t < nt; t++) wpk[t0 * O + o * nt + t] = w[o * taps + t0 + t];
        }
    igrad_job j = {g, N, O, taps, gy, gy_is, wpk, gp, dxp, dx, dx_is};
    int threads = kern_threads();
    bool par = threads > 1 && N * O * g->oh * g->ow * taps >= LANES_PAR_MIN;
    if (par && ng > 1)
        kern_parallel_for(ng, threads, FN(ipack_task), &j);
    else
        for (int64_t gi = 0; gi < ng; gi++) FN(ipack_task)(&j, gi);
    if (par)
        kern_parallel_for(ng * g->C, threads, FN(igrad_task), &j);
    else
        for (int64_t k = 0; k < ng * g->C; k++) FN(igrad_task)(&j, k);
}

#undef TARGET
#undef FN
#undef TRANSPOSE
#undef VREGS
#undef L_FOB
#undef L_FPB
#undef L_WOB
#undef L_WTB
#undef L_ITB
#undef L_IPB
