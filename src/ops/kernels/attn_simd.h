/* attn_simd.h: the fused causal-attention kernels (attn.h) written once for any vector width;
 * a template that each level's file includes once (no include guard), in the manner of
 * gemm_simd.h. It #undefs every macro below when it ends.
 *
 * The includer defines the vector vocabulary of simd_avx512.h (its float words: T, V, VL, VLOAD,
 * VSTORE, VSTOREN, VSET1, VZERO, VADD, VFMA, VHSUM; the SIMD levels include it, the portable
 * instances simd_scalar.h's: VL = 1 and V = T, f32 or f64), and beyond it:
 * TARGET, FN(name), VSUB VMUL VDIV VMAX, VHMAX (the max of the lanes), either VEXP (e^x lane by
 * lane, e^-inf = 0) or ATTN_VEXP with VROUND (to nearest) and VSCALE2 for the float vectors'
 * own, the score tile A_ROWS x A_VECS vectors (A_ROWS divides 8), the product tile B_ROWS x
 * B_VECS vectors (B_ROWS divides 8; 8 unless defined), and ATTN_LEVEL, the name of the
 * kern_attn_level it defines. In the template, n_t is the number of rows (the sequence length)
 * and T the element type.
 *
 * Per item, in one thread's scratch block: the operands' rows as whole vectors (read in place
 * when their columns are contiguous and D and n_t are whole vectors and tiles, as for the gpt
 * case's heads; else packed, dp = D rounded up to VL, zeros after D) and, for the score
 * products, k or v transposed into columns (D x tp, zeros after n_t), so that every load is a
 * whole vector. The scale is applied as a score tile is stored. Rows are taken
 * in tiles of 8: a tile's scores s = q k^T (or g v^T) cover keys [0, end of the tile) only,
 * then each row's softmax (or its adjoint) runs over its own keys in place, and the tile's
 * products (p v, ds k) read the tile's rows of p while they are in L1. The products that sum
 * over rows (p^T g, ds^T q) take tiles of 8 columns and rows from the tile's first column on:
 * p is zero above its diagonal. So the work is the triangle rounded out to whole tiles. */

#ifndef ATTN_ROWS
#define ATTN_ROWS 8
#endif
#ifndef B_ROWS
#define B_ROWS ATTN_ROWS
#endif

#ifdef ATTN_VEXP
#include "simd_exp.h"

/* e^x for x <= 0 (the softmax's exponents, shifted by their row's maximum) and -inf: e^r from
 * simd_exp.h's exp_core, times 2^n. x is first raised to -110, past which e^x rounds to 0 in
 * float, so -inf (the masked keys) gives exactly 0; a NaN passes through VMAX (its second
 * operand) and stays NaN. VSCALE2(p, n) = p 2^n for whole n in [-159, 0], rounding once. */
static inline __attribute__((always_inline)) TARGET V FN(exp_nonpos)(V x) {
    V xc = VMAX(VSET1(-110.0f), x);
    V n, p = FN(exp_core)(xc, &n);
    return VSCALE2(p, n);
}
#define VEXP FN(exp_nonpos)
#endif

static inline int64_t FN(round_up)(int64_t n, int64_t m) { return (n + m - 1) / m * m; }

/* The rows of src (n_t rows of D, strides rs and cs) as whole vectors: src itself when its
 * columns are contiguous, D is whole vectors and n_t whole tiles (no tile reads a row past n_t),
 * with *stride = rs; otherwise dst, packed (tp rows of dp, rows past n_t and columns past D
 * zero), with *stride = dp. */
static void FN(pack_rows)(T *dst, int64_t tp, int64_t dp, const T *src, int64_t rs, int64_t cs,
                          int64_t n_t, int64_t D);
static const T *FN(rows)(T *dst, int64_t tp, int64_t dp, const T *src, int64_t rs, int64_t cs,
                         int64_t n_t, int64_t D, int64_t *stride) {
    if (cs == 1 && D == dp && n_t % ATTN_ROWS == 0) {
        *stride = rs;
        return src;
    }
    FN(pack_rows)(dst, tp, dp, src, rs, cs, n_t, D);
    *stride = dp;
    return dst;
}

static void FN(pack_rows)(T *dst, int64_t tp, int64_t dp, const T *src, int64_t rs, int64_t cs,
                          int64_t n_t, int64_t D) {
    for (int64_t i = 0; i < tp; i++) {
        T *d = dst + i * dp;
        int64_t c = 0;
        if (i < n_t) {
            const T *s = src + i * rs;
            if (cs == 1)
                for (; c < D; c++) d[c] = s[c];
            else
                for (; c < D; c++) d[c] = s[c * cs];
        }
        for (; c < dp; c++) d[c] = 0;
    }
}

/* dst (D rows of tp, columns past n_t zero) = src^T. */
static void FN(pack_cols)(T *dst, int64_t tp, const T *src, int64_t rs, int64_t cs, int64_t n_t,
                          int64_t D) {
    for (int64_t c = 0; c < D; c++) {
        T *d = dst + c * tp;
        const T *s = src + c * cs;
        int64_t i = 0;
        for (; i < n_t; i++) d[i] = s[i * rs];
        for (; i < tp; i++) d[i] = 0;
    }
}

/* out (A_ROWS rows of stride tp, NJ vectors) = scale a (A_ROWS rows of stride a_rs) bt (D rows
 * of stride tp): the score tile, one broadcast of a per row and step of d. */
static inline __attribute__((always_inline)) TARGET void FN(score_body)(const int NJ, const T *a,
                                                                        int64_t a_rs, const T *bt,
                                                                        int64_t tp, int64_t D,
                                                                        T scale, T *out) {
    V acc[A_ROWS][A_VECS];
#pragma GCC unroll 8
    for (int r = 0; r < A_ROWS; r++)
#pragma GCC unroll 8
        for (int n = 0; n < NJ; n++) acc[r][n] = VZERO();
    for (int64_t d = 0; d < D; d++) {
        V b[A_VECS];
#pragma GCC unroll 8
        for (int n = 0; n < NJ; n++) b[n] = VLOAD(bt + d * tp + n * VL);
#pragma GCC unroll 8
        for (int r = 0; r < A_ROWS; r++) {
            V x = VSET1(a[r * a_rs + d]);
#pragma GCC unroll 8
            for (int n = 0; n < NJ; n++) acc[r][n] = VFMA(x, b[n], acc[r][n]);
        }
    }
#pragma GCC unroll 8
    for (int r = 0; r < A_ROWS; r++)
#pragma GCC unroll 8
        for (int n = 0; n < NJ; n++) VSTORE(out + r * tp + n * VL, VMUL(acc[r][n], VSET1(scale)));
}

#define ATTN_SCORE(NJ)                                                                             \
    static TARGET void FN(score_##NJ)(const T *a, int64_t a_rs, const T *bt, int64_t tp,           \
                                      int64_t D, T scale, T *out) {                                \
        FN(score_body)(NJ, a, a_rs, bt, tp, D, scale, out);                                        \
    }
ATTN_SCORE(1)
#if A_VECS > 1
ATTN_SCORE(2)
#endif
#if A_VECS > 2
ATTN_SCORE(3)
ATTN_SCORE(4)
#endif
#undef ATTN_SCORE

/* Scores of A_ROWS rows against keys [0, end) (end a multiple of VL, at most tp). */
static void FN(scores)(const T *a, int64_t a_rs, const T *bt, int64_t tp, int64_t D, T scale,
                       int64_t end, T *out) {
    for (int64_t j0 = 0; j0 < end; j0 += A_VECS * VL) {
        int64_t n = (end - j0) / VL < A_VECS ? (end - j0) / VL : A_VECS;
        switch (n) {
#if A_VECS > 2
        case 4:
            FN(score_4)(a, a_rs, bt + j0, tp, D, scale, out + j0);
            break;
        case 3:
            FN(score_3)(a, a_rs, bt + j0, tp, D, scale, out + j0);
            break;
#endif
#if A_VECS > 1
        case 2:
            FN(score_2)(a, a_rs, bt + j0, tp, D, scale, out + j0);
            break;
#endif
        default:
            FN(score_1)(a, a_rs, bt + j0, tp, D, scale, out + j0);
            break;
        }
    }
}

/* out (rows < n_rows of ATTN_ROWS, stride out_rs; lanes [d0, d0 + ND VL) of D) = sum over c in
 * [c0, c1) of m[r rs + c cs] b[c b_rs + lanes]: the product tile, one broadcast of m per row and
 * step of c. last: how many lanes of the last vector are inside D. */
static inline __attribute__((always_inline)) TARGET void
FN(prod_body)(const int ND, const T *m, int64_t rs, int64_t cs, int64_t c0, int64_t c1, const T *b,
              int64_t b_rs, T *out, int64_t out_rs, int64_t n_rows, int last) {
    V acc[B_ROWS][B_VECS];
#pragma GCC unroll 8
    for (int r = 0; r < B_ROWS; r++)
#pragma GCC unroll 8
        for (int n = 0; n < ND; n++) acc[r][n] = VZERO();
    for (int64_t c = c0; c < c1; c++) {
        V bv[B_VECS];
#pragma GCC unroll 8
        for (int n = 0; n < ND; n++) bv[n] = VLOAD(b + c * b_rs + n * VL);
#pragma GCC unroll 8
        for (int r = 0; r < B_ROWS; r++) {
            V x = VSET1(m[r * rs + c * cs]);
#pragma GCC unroll 8
            for (int n = 0; n < ND; n++) acc[r][n] = VFMA(x, bv[n], acc[r][n]);
        }
    }
#pragma GCC unroll 8
    for (int r = 0; r < B_ROWS; r++) {
        if (r >= n_rows) break;
#pragma GCC unroll 8
        for (int n = 0; n < ND; n++) {
            if (n == ND - 1 && last < VL)
                VSTOREN(out + r * out_rs + n * VL, last, acc[r][n]);
            else
                VSTORE(out + r * out_rs + n * VL, acc[r][n]);
        }
    }
}

#define ATTN_PROD(ND)                                                                              \
    static TARGET void FN(prod_##ND)(const T *m, int64_t rs, int64_t cs, int64_t c0, int64_t c1,   \
                                     const T *b, int64_t b_rs, T *out, int64_t out_rs,             \
                                     int64_t n_rows, int last) {                                   \
        FN(prod_body)(ND, m, rs, cs, c0, c1, b, b_rs, out, out_rs, n_rows, last);                  \
    }
ATTN_PROD(1)
#if B_VECS > 1
ATTN_PROD(2)
#endif
#undef ATTN_PROD

/* All D columns of a product tile, in chunks of B_VECS vectors (b's rows: stride b_rs). */
static void FN(products)(const T *m, int64_t rs, int64_t cs, int64_t c0, int64_t c1, const T *b,
                         int64_t b_rs, int64_t D, T *out, int64_t out_rs, int64_t n_rows) {
    int64_t dp = FN(round_up)(D, VL);
    for (int64_t r0 = 0; r0 < n_rows; r0 += B_ROWS) {
        const T *mr = m + r0 * rs;
        T *o = out + r0 * out_rs;
        int64_t nr = n_rows - r0 < B_ROWS ? n_rows - r0 : B_ROWS;
        for (int64_t d0 = 0; d0 < dp; d0 += B_VECS * VL) {
            int64_t n = (dp - d0) / VL < B_VECS ? (dp - d0) / VL : B_VECS;
            int last = d0 + n * VL >= dp ? (int)(D - (dp - VL)) : VL;
#if B_VECS > 1
            if (n == 2) {
                FN(prod_2)(mr, rs, cs, c0, c1, b + d0, b_rs, o + d0, out_rs, nr, last);
                continue;
            }
#endif
            FN(prod_1)(mr, rs, cs, c0, c1, b + d0, b_rs, o + d0, out_rs, nr, last);
        }
    }
}

/* Rows [i0, i0 + n_rows) of the scores (already scaled; row i has n = i + 1 keys and holds at
 * least their whole vectors) become rows of p: softmaxed over their keys, zero from key n to
 * tp. In phases over the tile's rows (maxima, exponentials and sums, scaling), so that the
 * rows' reductions, each a chain of dependent steps, overlap. */
static TARGET void FN(softmax_rows)(T *s, int64_t i0, int64_t n_rows, int64_t tp) {
    T m[ATTN_ROWS], inv[ATTN_ROWS];
    for (int64_t r = 0; r < n_rows; r++) {
        T *row = s + (i0 + r) * tp;
        int64_t n = i0 + r + 1, full = n / VL * VL, nv = FN(round_up)(n, VL);
        V vm = VSET1((T)-INFINITY);
        for (int64_t c = 0; c < full; c += VL) vm = VMAX(vm, VLOAD(row + c));
        T mr = VHMAX(vm);
        for (int64_t c = full; c < n; c++) mr = row[c] > mr ? row[c] : mr;
        for (int64_t c = n; c < nv; c++) row[c] = (T)-INFINITY;
        m[r] = mr;
    }
    for (int64_t r = 0; r < n_rows; r++) {
        T *row = s + (i0 + r) * tp;
        int64_t nv = FN(round_up)(i0 + r + 1, VL);
        V sum = VZERO(), mv = VSET1(m[r]);
        for (int64_t c = 0; c < nv; c += VL) {
            V e = VEXP(VSUB(VLOAD(row + c), mv));
            VSTORE(row + c, e);
            sum = VADD(sum, e);
        }
        inv[r] = (T)1 / VHSUM(sum);
    }
    for (int64_t r = 0; r < n_rows; r++) {
        T *row = s + (i0 + r) * tp;
        int64_t nv = FN(round_up)(i0 + r + 1, VL);
        V vi = VSET1(inv[r]);
        for (int64_t c = 0; c < nv; c += VL) VSTORE(row + c, VMUL(VLOAD(row + c), vi));
        for (int64_t c = nv; c < tp; c += VL) VSTORE(row + c, VZERO());
    }
}

/* Rows [i0, i0 + n_rows) of scale g v^T in ds (row i has n = i + 1 keys) become rows of
 * ds = p (dp - sum_c p_c dp_c), the scale already in dp; zero from key n to tp. */
static TARGET void FN(softmax_adjoint_rows)(T *ds, const T *p, int64_t i0, int64_t n_rows,
                                            int64_t tp) {
    T dot[ATTN_ROWS];
    for (int64_t r = 0; r < n_rows; r++) {
        T *row = ds + (i0 + r) * tp;
        const T *pr = p + (i0 + r) * tp;
        int64_t n = i0 + r + 1, nv = FN(round_up)(n, VL);
        for (int64_t c = n; c < nv; c++) row[c] = 0; /* keys past the diagonal: p is 0 there */
        V acc = VZERO();
        for (int64_t c = 0; c < nv; c += VL) acc = VFMA(VLOAD(pr + c), VLOAD(row + c), acc);
        dot[r] = VHSUM(acc);
    }
    for (int64_t r = 0; r < n_rows; r++) {
        T *row = ds + (i0 + r) * tp;
        const T *pr = p + (i0 + r) * tp;
        int64_t nv = FN(round_up)(i0 + r + 1, VL);
        V vd = VSET1(dot[r]);
        for (int64_t c = 0; c < nv; c += VL)
            VSTORE(row + c, VMUL(VLOAD(pr + c), VSUB(VLOAD(row + c), vd)));
        for (int64_t c = nv; c < tp; c += VL) VSTORE(row + c, VZERO());
    }
}

/* The scratch a thread needs for one item (elements): three packed row blocks, one transposed
 * block and the (tp, tp) adjoint of the scores. */
static int64_t FN(scratch_elems)(int64_t n_t, int64_t D) {
    int64_t tp = kern_attn_padded(n_t), dp = FN(round_up)(D, VL);
    return 3 * tp * dp + D * tp + tp * tp;
}

static void FN(forward_item)(const kern_attn *j, int64_t b, T *scratch) {
    int64_t n_t = j->n_t, D = j->D, tp = kern_attn_padded(n_t), dp = FN(round_up)(D, VL), q_rs,
            v_rs;
    T *qr = scratch, *vr = qr + tp * dp, *kt = vr + tp * dp;
    const T *q = FN(rows)(qr, tp, dp, (const T *)j->q + j->qo[b], j->q_rs, j->q_cs, n_t, D, &q_rs);
    const T *v = FN(rows)(vr, tp, dp, (const T *)j->v + j->vo[b], j->v_rs, j->v_cs, n_t, D, &v_rs);
    FN(pack_cols)(kt, tp, (const T *)j->k + j->ko[b], j->k_rs, j->k_cs, n_t, D);
    T *p = (T *)j->p + b * tp * tp, *y = (T *)j->y + j->yo[b], scale = (T)j->scale;
    for (int64_t i0 = 0; i0 < n_t; i0 += ATTN_ROWS) {
        int64_t i1 = i0 + ATTN_ROWS < n_t ? i0 + ATTN_ROWS : n_t;
        for (int64_t a0 = i0; a0 < i1; a0 += A_ROWS) {
            int64_t end = FN(round_up)(a0 + A_ROWS < n_t ? a0 + A_ROWS : n_t, VL);
            FN(scores)(q + a0 * q_rs, q_rs, kt, tp, D, scale, end, p + a0 * tp);
        }
        FN(softmax_rows)(p, i0, i1 - i0, tp);
        for (int64_t i = i1; i < i0 + ATTN_ROWS; i++)
            for (int64_t c = 0; c < tp; c++) p[i * tp + c] = 0;
        FN(products)(p + i0 * tp, tp, 1, 0, i1, v, v_rs, D, y + i0 * j->y_rs, j->y_rs, i1 - i0);
    }
}

static void FN(backward_item)(const kern_attn *j, int64_t b, T *scratch) {
    int64_t n_t = j->n_t, D = j->D, tp = kern_attn_padded(n_t), dp = FN(round_up)(D, VL);
    int64_t g_rs, k_rs = 0, q_rs = 0; /* k_rs, q_rs read only when k, q were made */
    T *gr = scratch, *kr = gr + tp * dp, *qr = kr + tp * dp, *vt = qr + tp * dp, *ds = vt + D * tp;
    const T *p = (const T *)j->p + b * tp * tp;
    const T *g = FN(rows)(gr, tp, dp, (const T *)j->g + j->go[b], j->g_rs, j->g_cs, n_t, D, &g_rs);
    /* dv = p^T g: a tile of columns j0.. of p against the rows of g from j0 on. */
    if (j->dv) {
        T *dv = (T *)j->dv + j->dvo[b];
        for (int64_t j0 = 0; j0 < n_t; j0 += ATTN_ROWS)
            FN(products)
            (p + j0, 1, tp, j0, n_t, g, g_rs, D, dv + j0 * j->dv_rs, j->dv_rs,
             n_t - j0 < ATTN_ROWS ? n_t - j0 : ATTN_ROWS);
    }
    if (!j->dq && !j->dk) return;
    FN(pack_cols)(vt, tp, (const T *)j->v + j->vo[b], j->v_rs, j->v_cs, n_t, D);
    const T *k =
        j->dq ? FN(rows)(kr, tp, dp, (const T *)j->k + j->ko[b], j->k_rs, j->k_cs, n_t, D, &k_rs)
              : NULL;
    const T *q =
        j->dk ? FN(rows)(qr, tp, dp, (const T *)j->q + j->qo[b], j->q_rs, j->q_cs, n_t, D, &q_rs)
              : NULL;
    T scale = (T)j->scale;
    for (int64_t i0 = 0; i0 < n_t; i0 += ATTN_ROWS) {
        int64_t i1 = i0 + ATTN_ROWS < n_t ? i0 + ATTN_ROWS : n_t;
        for (int64_t a0 = i0; a0 < i1; a0 += A_ROWS) {
            int64_t end = FN(round_up)(a0 + A_ROWS < n_t ? a0 + A_ROWS : n_t, VL);
            FN(scores)(g + a0 * g_rs, g_rs, vt, tp, D, scale, end, ds + a0 * tp);
        }
        FN(softmax_adjoint_rows)(ds, p, i0, i1 - i0, tp);
        for (int64_t i = i1; i < i0 + ATTN_ROWS; i++)
            for (int64_t c = 0; c < tp; c++) ds[i * tp + c] = 0;
        if (j->dq)
            FN(products)
            (ds + i0 * tp, tp, 1, 0, i1, k, k_rs, D, (T *)j->dq + j->dqo[b] + i0 * j->dq_rs,
             j->dq_rs, i1 - i0);
    }
    if (j->dk) {
        T *dk = (T *)j->dk + j->dko[b];
        for (int64_t j0 = 0; j0 < n_t; j0 += ATTN_ROWS)
            FN(products)
            (ds + j0, 1, tp, j0, n_t, q, q_rs, D, dk + j0 * j->dk_rs, j->dk_rs,
             n_t - j0 < ATTN_ROWS ? n_t - j0 : ATTN_ROWS);
    }
}

static void FN(forward_any)(const kern_attn *j, int64_t b, void *scratch) {
    FN(forward_item)(j, b, scratch);
}
static void FN(backward_any)(const kern_attn *j, int64_t b, void *scratch) {
    FN(backward_item)(j, b, scratch);
}
const kern_attn_level ATTN_LEVEL = {FN(scratch_elems), FN(forward_any), FN(backward_any)};

#undef ATTN_LEVEL
#include "simd_reset.h"
#undef TARGET
#undef FN
#undef VSUB
#undef VMUL
#undef VDIV
#undef VMAX
#undef VHMAX
#undef VEXP
#undef ATTN_VEXP
#undef VROUND
#undef VSCALE2
#undef A_ROWS
#undef A_VECS
#undef B_VECS
#undef B_ROWS
