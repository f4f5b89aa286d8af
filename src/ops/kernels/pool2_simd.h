/* pool2_simd.h: the 2x2 stride-2 max pooling of pool.c (no padding or dilation, f32) written
 * once for any vector width; a template that pool.c includes once per instruction set (no
 * include guard). It #undefs its macros when it ends.
 *
 * The includer defines: V (vector of VL floats), M (a lane mask), TARGET, FN(name), VLOADN(p, n)
 * / VSTOREN(p, n, v) (the first n lanes only, the others 0 / untouched), VSPLIT(p, n, e, o) (the
 * 2n floats at p as the n even-placed into *e and the n odd-placed into *o, first lanes; nothing
 * past p[2n - 1] read) and VJOIN(p, n, e, o) (its inverse: e and o interleaved as 2n floats at
 * p, nothing past them written), VTAKE(v, best) (the lanes where v replaces best in the scan:
 * best is a number and v is larger or NaN), VBLEND(m, a, b) = m ? b : a, VKEEP(m, v) = m ? v : 0,
 * VDROP(m, v) = m ? 0 : v, MOR, MANDNOT(a, b) = a & ~b, MBITS(m) (lane l as bit l of an
 * unsigned) and MUNBITS(bits) (its inverse, from the low VL bits).
 *
 * The choices are recorded as the scalar loop records them: per chunk of 16 outputs three
 * 16-bit masks, the outputs whose window picks b, c and d (VL divides 16, so a vector's bits
 * land at shift ox0 % 16 of its chunk). Ties keep the first in scan order (a, b, c, d), and a
 * NaN, once taken, is kept: the selections are the scalar loop's, bit for bit. */

/* The windows of output columns [ox0, ox0 + n) of rows r0, r1: the masks of lanes whose final
 * selection is b, c and d (the rest select a), and the selected values. */
static inline __attribute__((always_inline)) TARGET V FN(select)(const float *r0, const float *r1,
                                                                 int n, M *kb, M *kc, M *kd) {
    V a, b, c, d;
    VSPLIT(r0, n, &a, &b);
    VSPLIT(r1, n, &c, &d);
    M mb = VTAKE(b, a);
    V best = VBLEND(mb, a, b);
    M mc = VTAKE(c, best);
    best = VBLEND(mc, best, c);
    M md = VTAKE(d, best);
    *kd = md;
    *kc = MANDNOT(mc, md);
    *kb = MANDNOT(mb, MOR(mc, md));
    return VBLEND(md, best, d);
}

/* out = the selected elements of src (x when src is x: max pooling; another tensor of x's
 * shape: the gather that max pooling's rules use), choices recorded in sel when it is given. */
static TARGET void FN(gather)(const kern_window *g, const float *x, const float *src, float *out,
                              uint16_t *sel) {
    for (int64_t c = 0; c < g->C; c++) {
        const float *px = x + c * g->H * g->W, *ps = src + c * g->H * g->W;
        for (int64_t oy = 0; oy < g->oh; oy++) {
            int64_t r = 2 * oy * g->W;
            for (int64_t ox0 = 0; ox0 < g->ow; ox0 += VL) {
                int n = g->ow - ox0 < VL ? (int)(g->ow - ox0) : VL;
                M kb, kc, kd;
                V v = FN(select)(px + r + 2 * ox0, px + r + g->W + 2 * ox0, n, &kb, &kc, &kd);
                if (src != x) {
                    V a, b, cc, d;
                    VSPLIT(ps + r + 2 * ox0, n, &a, &b);
                    VSPLIT(ps + r + g->W + 2 * ox0, n, &cc, &d);
                    v = VBLEND(kb, a, b);
                    v = VBLEND(kc, v, cc);
                    v = VBLEND(kd, v, d);
                }
                VSTOREN(out + ox0, n, v);
                if (sel) {
                    uint16_t *m = sel + 3 * (ox0 / 16);
                    int sh = (int)(ox0 % 16);
                    uint16_t b = (uint16_t)(MBITS(kb) << sh), cm = (uint16_t)(MBITS(kc) << sh);
                    uint16_t dm = (uint16_t)(MBITS(kd) << sh);
                    if (sh == 0)
                        m[0] = b, m[1] = cm, m[2] = dm;
                    else
                        m[0] |= b, m[1] |= cm, m[2] |= dm;
                }
            }
            out += g->ow;
            if (sel) sel += choice_row(g);
        }
    }
}

/* The adjoint: each output's gradient to the input its window selected, zeros elsewhere. With
 * sel the choices are read from it (x is not used), else made from x. */
static TARGET void FN(scatter)(const kern_window *g, const float *x, const uint16_t *sel,
                               const float *grad, float *out) {
    for (int64_t c = 0; c < g->C; c++) {
        float *po = out + c * g->H * g->W;
        for (int64_t oy = 0; oy < g->oh; oy++) {
            int64_t r = 2 * oy * g->W;
            for (int64_t ox0 = 0; ox0 < g->ow; ox0 += VL) {
                int n = g->ow - ox0 < VL ? (int)(g->ow - ox0) : VL;
                M kb, kc, kd;
                if (sel) {
                    const uint16_t *m = sel + 3 * (ox0 / 16);
                    int sh = (int)(ox0 % 16);
                    kb = MUNBITS((unsigned)m[0] >> sh), kc = MUNBITS((unsigned)m[1] >> sh);
                    kd = MUNBITS((unsigned)m[2] >> sh);
                } else {
                    const float *px = x + c * g->H * g->W;
                    FN(select)(px + r + 2 * ox0, px + r + g->W + 2 * ox0, n, &kb, &kc, &kd);
                }
                V gv = VLOADN(grad + ox0, n);
                M not_a = MOR(MOR(kb, kc), kd);
                VJOIN(po + r + 2 * ox0, n, VDROP(not_a, gv), VKEEP(kb, gv));
                VJOIN(po + r + g->W + 2 * ox0, n, VKEEP(kc, gv), VKEEP(kd, gv));
            }
            grad += g->ow;
            if (sel) sel += choice_row(g);
            if (g->W & 1) po[r + g->W - 1] = po[r + 2 * g->W - 1] = 0;
        }
        if (g->H & 1) memset(po + (g->H - 1) * g->W, 0, (size_t)g->W * sizeof(float));
    }
}

#undef V
#undef M
#undef VL
#undef TARGET
#undef FN
#undef VLOADN
#undef VSTOREN
#undef VSPLIT
#undef VJOIN
#undef VTAKE
#undef VBLEND
#undef VKEEP
#undef VDROP
#undef MOR
#undef MANDNOT
#undef MBITS
#undef MUNBITS
