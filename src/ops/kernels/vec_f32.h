/* vec_f32.h: f32 elementwise maps on contiguous data written once for any vector width; a
 * template included by vec_f32.c once per instruction set (no include guard), in the manner
 * of gemm_simd.h. It #undefs every macro below when it ends.
 *
 * The includer defines: V (float vector), VI (int32 vector), VL (lanes), TARGET, FN(name), the
 * arithmetic VADD VSUB VMUL VDIV VFMA(a, b, c) = a*b + c, VMAX VMIN VSET1 VZERO VLOAD VSTORE,
 * VLOADN(p, n) / VSTOREN(p, n, v) (only the first n lanes read or written), VAND VOR VXOR VABS,
 * VROUND (to nearest), comparisons M VLT VLE VGT VNAN (unordered with itself) giving masks of
 * type M, MOR, VSEL(m, a, b) = m ? a : b, and on VI: VI_SET1 VI_ADD VI_SUB VI_SRAI1 (>> 1,
 * arithmetic) VI_SLLI23 VCVT (float to int, already integral) VASF (reinterpret as float).
 *
 * Accuracy, checked by tests/kernels/test_elementwise.c against double-precision libm over
 * every float exponent: exp within 1 ulp (denormal results included), tanh and sigmoid within
 * 2 ulp; NaN stays NaN, exp(+inf) = inf, exp(-inf) = 0, tanh(+-inf) = +-1, sigmoid saturates to
 * exactly 0 and 1. */

#include "simd_exp.h"

/* e^x: e^r from simd_exp.h's exp_core, times 2^n applied as two halves so that results near the
 * overflow and underflow edges (including denormals) round once. x is first clamped to [-110, 100],
 * where every e^x already is 0 or inf in float. exp_scaled(x, k) is e^x 2^k (for x <= 0 and 0 <= k
 * <= 64), for a caller that keeps e^x out of float's denormal range until its last multiply. */
static inline __attribute__((always_inline)) TARGET V FN(exp_scaled)(V x, int k) {
    V xc = VMIN(VMAX(x, VSET1(-110.0f)), VSET1(100.0f));
    V n, p = FN(exp_core)(xc, &n);
    VI ni = VCVT(n);
    VI n1 = VI_SRAI1(ni), n2 = VI_ADD(VI_SUB(ni, n1), VI_SET1(k));
    V s1 = VASF(VI_SLLI23(VI_ADD(n1, VI_SET1(127))));
    V s2 = VASF(VI_SLLI23(VI_ADD(n2, VI_SET1(127))));
    V y = VMUL(VMUL(p, s1), s2);
    return VSEL(VNAN(x), x, y);
}
static inline __attribute__((always_inline)) TARGET V FN(exp)(V x) { return FN(exp_scaled)(x, 0); }

/* tanh, computed on |x| and given x's sign at the end (so tanh(-0) = -0): for |x| < 1/2,
 * |x| + |x| u Q(u) with u = x^2 and Q a degree-4 fit of (tanh x / x - 1) / u (relative error
 * under 4e-10 before rounding); above, 1 - 2 / (e^(2|x|) + 1), whose rounding errors are
 * damped since the result is at least tanh(1/2). e^(2|x|) = inf for huge |x| gives exactly 1. */
static inline __attribute__((always_inline)) TARGET V FN(tanh)(V x) {
    V ax = VABS(x);
    V u = VMUL(x, x);
    V q = VSET1(-6.61342730e-3f);
    q = VFMA(q, u, VSET1(2.12747082e-2f));
    q = VFMA(q, u, VSET1(-5.38934171e-2f));
    q = VFMA(q, u, VSET1(1.33329019e-1f));
    q = VFMA(q, u, VSET1(-3.33333254e-1f));
    V small = VFMA(VMUL(ax, u), q, ax);
    V e = FN(exp)(VADD(ax, ax));
    V big = VSUB(VSET1(1.0f), VDIV(VSET1(2.0f), VADD(e, VSET1(1.0f))));
    return VOR(VSEL(VLT(ax, VSET1(0.5f)), small, big), VAND(x, VSET1(-0.0f)));
}

/* sigmoid: with e = e^-|x| (never overflows), 1 / (1 + e) for x >= 0 and e / (1 + e) below,
 * one division either way; e rounds to nothing beside 1 far out, so the ends are exactly 1 and
 * (via e = 0) 0. */
static inline __attribute__((always_inline)) TARGET V FN(sigmoid)(V x) {
    V e = FN(exp)(VSUB(VZERO(), VABS(x)));
    return VDIV(VSEL(VLT(x, VZERO()), e, VSET1(1.0f)), VADD(VSET1(1.0f), e));
}

/* The standard normal CDF Phi(x) = erfc(-x / sqrt 2) / 2, from erfc(z) for z = |x| / sqrt 2 >= 0,
 * returned as two factors f and e with erfc(z) / 2 = f e, e = e^-hi, where hi + lo = z^2 =
 * x^2 / 2 exactly (hi rounded, lo its FMA remainder, taken from x itself: rounding z or z^2
 * first would cost the tail 2 z^2 times their relative error, 1e-5 at x = -12). e is returned
 * scaled, es = e^-hi 2^64: past |x| = 13.2 e^-hi itself is denormal, with a few
 * significant bits, while GELU x Phi(x) and its derivative are still normal there. A caller
 * multiplies its other factor by 2^-64 (ERFC_UNSCALE; exact) and es in last, so a result rounds
 * once.
 * For |x| <= 3.1 (z <= 2.192), f = Q(z - c) (1 - lo) / 2 with Q a degree-10 polynomial fit of
 * e^(z^2) erfc(z) on z in [0.53, 2.2] (relative error 1.3e-7 evaluated in float; e^-lo = 1 - lo
 * since |lo| is under half an ulp of hi): one exponential, no division. Below |x| = 0.75
 * callers use phi_near0 instead, and f there is unused. Only when some lane lies past 3.1 is
 * the tail form computed as well: there g = z e^(z^2) erfc(z) is smooth in u = 1 / z^2 (it
 * tends to 1 / sqrt pi as z grows), so f = g (1 - lo) / (2 z) with g a degree-8 polynomial in
 * u - 0.1 fitted on z in [2.18, 10.26] (relative error 1.5e-9 in double, within 0.55 ulp when
 * evaluated in float), u taken as 1 / hi; no second exponential. |x| is capped at 14.5, past
 * which erfc(z) / 2 rounds to 0 in float. Either way a lane's result depends on its x alone. */
#ifndef ERFC_UNSCALE
#define ERFC_UNSCALE 0x1p-64f
#endif
static inline __attribute__((always_inline)) TARGET void FN(half_erfc_lo)(V x, V *f, V *e,
                                                                          V *lo_out) {
    V a = VMIN(VABS(x), VSET1(14.5f));
    V z = VMUL(a, VSET1(0.70710678118654752f));
    V ha = VMUL(a, VSET1(0.5f));
    V hi = VMUL(ha, a);
    V lo = VFMA(ha, a, VSUB(VZERO(), hi)); /* a^2 / 2 - hi, exactly */
    V w = VSUB(z, VSET1(1.36500001f));
    V q = VSET1(4.164292840869166e-05f);
    q = VFMA(q, w, VSET1(-0.00013582078099716455f));
    q = VFMA(q, w, VSET1(0.0003315337235108018f));
    q = VFMA(q, w, VSET1(-0.0009412889485247433f));
    q = VFMA(q, w, VSET1(0.0026420492213219404f));
    q = VFMA(q, w, VSET1(-0.006966344080865383f));
    q = VFMA(q, w, VSET1(0.017429394647479057f));
    q = VFMA(q, w, VSET1(-0.04119299352169037f));
    q = VFMA(q, w, VSET1(0.09108750522136688f));
    q = VFMA(q, w, VSET1(-0.18612495064735413f));
    q = VFMA(q, w, VSET1(0.3451480567455292f));
    V fm = VMUL(VFMA(VSUB(VZERO(), lo), q, q), VSET1(0.5f));
    M tail = VGT(a, VSET1(3.1f));
    if (MANY(tail)) {
        V u = VSUB(VDIV(VSET1(1.0f), hi), VSET1(0.1f));
        V g = VSET1(46.10628128051758f);
        g = VFMA(g, u, VSET1(-17.990352630615234f));
        g = VFMA(g, u, VSET1(4.983240604400635f));
        g = VFMA(g, u, VSET1(-1.7781157493591309f));
        g = VFMA(g, u, VSET1(0.7556743025779724f));
        g = VFMA(g, u, VSET1(-0.37421271204948425f));
        g = VFMA(g, u, VSET1(0.2348354458808899f));
        g = VFMA(g, u, VSET1(-0.21952293813228607f));
        g = VFMA(g, u, VSET1(0.53941410779953f));
        V h = VDIV(VMUL(g, VSET1(0.70710678118654752f)), a); /* g / (2 z) */
        fm = VSEL(tail, VFMA(VSUB(VZERO(), lo), h, h), fm);
    }
    *f = fm;
    /* Past the cap the unscaled e^-hi is 0 in float; so is es, as it always was before. */
    *e = VSEL(VGT(VABS(x), VSET1(14.5f)), VZERO(), FN(exp_scaled)(VSUB(VZERO(), hi), 64));
    *lo_out = lo;
}
static inline __attribute__((always_inline)) TARGET void FN(half_erfc)(V x, V *f, V *e) {
    V lo;
    FN(half_erfc_lo)(x, f, e, &lo);
}

/* Near 0, where 1 - erfc / 2 would cancel, Phi(x) = 1/2 + erf(z) / 2 from erf's Taylor series
 * z (2 / sqrt pi) sum (-z^2)^n / (n! (2n + 1)) to n = 8 (truncation under 1e-9 for |x| < 3/4). */
static inline __attribute__((always_inline)) TARGET V FN(phi_near0)(V x) {
    V z = VMUL(x, VSET1(0.70710678118654752f)), u = VMUL(z, z);
    V q = VSET1(1.0f / 685440.0f);           /* 1 / (8! 17) */
    q = VFMA(q, u, VSET1(-1.0f / 75600.0f)); /* 7! 15 */
    q = VFMA(q, u, VSET1(1.0f / 9360.0f));   /* 6! 13 */
    q = VFMA(q, u, VSET1(-1.0f / 1320.0f));  /* 5! 11 */
    q = VFMA(q, u, VSET1(1.0f / 216.0f));    /* 4! 9 */
    q = VFMA(q, u, VSET1(-1.0f / 42.0f));    /* 3! 7 */
    q = VFMA(q, u, VSET1(1.0f / 10.0f));     /* 2! 5 */
    q = VFMA(q, u, VSET1(-1.0f / 3.0f));     /* 1! 3 */
    q = VFMA(q, u, VSET1(1.0f));
    /* erf(z) / 2 = z q / sqrt pi */
    return VFMA(VMUL(z, VSET1(0.56418958354775629f)), q, VSET1(0.5f));
}

/* Phi(x) from half_erfc's factors f and es; NaN stays NaN, Phi(+inf) = 1, Phi(-inf) = 0. */
static inline __attribute__((always_inline)) TARGET V FN(phi_cdf_of)(V x, V f, V e) {
    V half = VMUL(VMUL(f, VSET1(ERFC_UNSCALE)), e);
    V phi = VSEL(VLT(x, VZERO()), half, VSUB(VSET1(1.0f), half));
    phi = VSEL(VLT(VABS(x), VSET1(0.75f)), FN(phi_near0)(x), phi);
    return VSEL(VNAN(x), x, phi);
}

/* GELU x Phi(x), and its derivative Phi(x) + x e^(-x^2 / 2) / sqrt(2 pi). The derivative's
 * exponential is the one half_erfc already took, e = e^-hi, times e^-lo = 1 - lo (|lo| is
 * under half an ulp of hi, so lo^2 / 2 is far below float's precision): two exponentials
 * instead of four. Past |x| = 14.5, where half_erfc caps |x|, the term x phi(x) is below
 * float's smallest denormal and is 0. At +-inf both give what the plain loop gives (inf * 0
 * is NaN there too). Left of 0, GELU is (x f) e, rounding once. */
static inline __attribute__((always_inline)) TARGET V FN(gelu)(V x) {
    V f, e;
    FN(half_erfc)(x, &f, &e);
    V fu = VMUL(f, VSET1(ERFC_UNSCALE));
    V y = VSEL(VLT(x, VZERO()), VMUL(VMUL(x, fu), e), VMUL(x, VSUB(VSET1(1.0f), VMUL(fu, e))));
    y = VSEL(VLT(VABS(x), VSET1(0.75f)), VMUL(x, FN(phi_near0)(x)), y);
    return VSEL(VNAN(x), x, y);
}
static inline __attribute__((always_inline)) TARGET V FN(gelu_grad)(V x) {
    V f, e, lo;
    FN(half_erfc_lo)(x, &f, &e, &lo);
    V g = VFMA(VSUB(VZERO(), e), lo, e); /* e^(-x^2 / 2) 2^64 = es (1 - lo) */
    g = VSEL(VGT(VABS(x), VSET1(14.5f)), VZERO(), g);
    V c = VMUL(VMUL(x, VSET1(0.39894228040143268f)), VSET1(ERFC_UNSCALE));
    return VFMA(c, g, FN(phi_cdf_of)(x, f, e));
}

/* GELU and its derivative at once, for a forward that keeps gelu'(x) for its backward: y gets
 * FN(gelu)'s bits and d FN(gelu_grad)'s, from one evaluation of half_erfc (FN(gelu) and
 * FN(gelu_grad) spelled out, sharing what they have in common). */
static TARGET void FN(gelu_and_grad)(int64_t n, const float *x, float *y, float *d) {
    for (int64_t i = 0; i < n; i += VL) {
        int r = n - i < VL ? (int)(n - i) : VL;
        V v = r == VL ? VLOAD(x + i) : VLOADN(x + i, r), f, e, lo;
        FN(half_erfc_lo)(v, &f, &e, &lo);
        V fu = VMUL(f, VSET1(ERFC_UNSCALE));
        V half = VMUL(fu, e), near = FN(phi_near0)(v);
        M neg = VLT(v, VZERO()), small = VLT(VABS(v), VSET1(0.75f)), nan = VNAN(v);
        V yv = VSEL(neg, VMUL(VMUL(v, fu), e), VMUL(v, VSUB(VSET1(1.0f), half)));
        yv = VSEL(nan, v, VSEL(small, VMUL(v, near), yv));
        V p = VSEL(nan, v, VSEL(small, near, VSEL(neg, half, VSUB(VSET1(1.0f), half))));
        V g = VFMA(VSUB(VZERO(), e), lo, e);
        g = VSEL(VGT(VABS(v), VSET1(14.5f)), VZERO(), g);
        V c = VMUL(VMUL(v, VSET1(0.39894228040143268f)), VSET1(ERFC_UNSCALE));
        V dv = VFMA(c, g, p);
        if (r == VL) {
            VSTORE(y + i, yv);
            VSTORE(d + i, dv);
        } else {
            VSTOREN(y + i, r, yv);
            VSTOREN(d + i, r, dv);
        }
    }
}

/* One vector of a map; `kind` is a constant in every instantiation below, so the switch folds
 * away. */
static inline __attribute__((always_inline)) TARGET V FN(map1)(kern_unary_kind kind, V v, V va) {
    switch (kind) {
    case KERN_NEG:
        return VXOR(v, VSET1(-0.0f));
    case KERN_EXP:
        return FN(exp)(v);
    case KERN_TANH:
        return FN(tanh)(v);
    case KERN_SIGMOID:
        return FN(sigmoid)(v);
    /* x < 0 ? 0 : x, so that NaN stays NaN as in the portable loop (not max(x, 0), whose
     * instruction returns its second operand when either is NaN), and -0 stays -0. */
    case KERN_RELU:
        return VSEL(VLT(v, VZERO()), VZERO(), v);
    case KERN_STEP: /* 1 above 0, 0 at or below, NaN for NaN */
        return VSEL(VGT(v, VZERO()), VSET1(1.0f), VSEL(VLE(v, VZERO()), VZERO(), v));
    case KERN_ADD_SCALAR:
        return VADD(v, va);
    case KERN_MUL_SCALAR:
        return VMUL(v, va);
    case KERN_SUB_SCALAR:
        return VSUB(v, va);
    case KERN_RSUB_SCALAR:
        return VSUB(va, v);
    case KERN_DIV_SCALAR:
        return VDIV(v, va);
    case KERN_RDIV_SCALAR:
        return VDIV(va, v);
    case KERN_SQUARE:
        return VMUL(v, v);
    case KERN_GELU:
        return FN(gelu)(v);
    case KERN_GELU_GRAD:
        return FN(gelu_grad)(v);
    default:
        return v;
    }
}

static inline __attribute__((always_inline)) TARGET void
FN(map_loop)(kern_unary_kind kind, int64_t n, const float *x, float *y, float a) {
    V va = VSET1(a);
    int64_t i = 0;
    for (; i + VL <= n; i += VL) VSTORE(y + i, FN(map1)(kind, VLOAD(x + i), va));
    if (i < n) VSTOREN(y + i, (int)(n - i), FN(map1)(kind, VLOADN(x + i, (int)(n - i)), va));
}

/* y[i] = f(x[i]) for the kinds above (y may equal x); false, doing nothing, for the others. */
static TARGET bool FN(map)(kern_unary_kind kind, int64_t n, const float *x, float *y, float a) {
    switch (kind) {
#define VEC_F32_CASE(K)                                                                            \
    case K:                                                                                        \
        FN(map_loop)(K, n, x, y, a);                                                               \
        return true;
        VEC_F32_CASE(KERN_NEG)
        VEC_F32_CASE(KERN_EXP)
        VEC_F32_CASE(KERN_TANH)
        VEC_F32_CASE(KERN_SIGMOID)
        VEC_F32_CASE(KERN_RELU)
        VEC_F32_CASE(KERN_STEP)
        VEC_F32_CASE(KERN_ADD_SCALAR)
        VEC_F32_CASE(KERN_MUL_SCALAR)
        VEC_F32_CASE(KERN_SUB_SCALAR)
        VEC_F32_CASE(KERN_RSUB_SCALAR)
        VEC_F32_CASE(KERN_DIV_SCALAR)
        VEC_F32_CASE(KERN_RDIV_SCALAR)
        VEC_F32_CASE(KERN_SQUARE)
        VEC_F32_CASE(KERN_GELU)
        VEC_F32_CASE(KERN_GELU_GRAD)
#undef VEC_F32_CASE
    default:
        return false;
    }
}

/* One vector of a two-input map. */
static inline __attribute__((always_inline)) TARGET V FN(zip1)(kern_binary_kind kind, V u, V v) {
    switch (kind) {
    case KERN_ADD:
        return VADD(u, v);
    case KERN_SUB:
        return VSUB(u, v);
    case KERN_MUL:
        return VMUL(u, v);
    case KERN_DIV:
        return VDIV(u, v);
    case KERN_PASS_IF_POSITIVE: /* NaN in v passes u, as in the portable loop */
        return VSEL(VLE(v, VZERO()), VZERO(), u);
    case KERN_MUL_GELU_GRAD:
        return VMUL(u, FN(gelu_grad)(v));
    default:
        return u;
    }
}

/* out[i] = a[i * sa] (op) b[i * sb] with each stride 0 (a repeated scalar) or 1; SA and SB are
 * constants in every instantiation. out may equal a or b (each vector is read before it is
 * written). */
static inline __attribute__((always_inline)) TARGET void FN(zip_loop)(kern_binary_kind kind,
                                                                      const int SA, const int SB,
                                                                      int64_t n, const float *a,
                                                                      const float *b, float *out) {
    V ua = VSET1(a[0]), vb = VSET1(b[0]);
    int64_t i = 0;
    for (; i + VL <= n; i += VL)
        VSTORE(out + i, FN(zip1)(kind, SA ? VLOAD(a + i) : ua, SB ? VLOAD(b + i) : vb));
    if (i < n) {
        int m = (int)(n - i);
        VSTOREN(out + i, m, FN(zip1)(kind, SA ? VLOADN(a + i, m) : ua, SB ? VLOADN(b + i, m) : vb));
    }
}

/* out = a (op) b over n elements for add, sub, mul, div and pass-if-positive with strides sa,
 * sb in {0, 1};
 * false, doing nothing, for other kinds or strides. */
static TARGET bool FN(zip)(kern_binary_kind kind, int64_t n, const float *a, int64_t sa,
                           const float *b, int64_t sb, float *out) {
    if (sa < 0 || sa > 1 || sb < 0 || sb > 1 || (sa == 0 && sb == 0) || n <= 0) return false;
    switch (kind) {
#define VEC_F32_ZIP(K)                                                                             \
    case K:                                                                                        \
        if (sa && sb)                                                                              \
            FN(zip_loop)(K, 1, 1, n, a, b, out);                                                   \
        else if (sa)                                                                               \
            FN(zip_loop)(K, 1, 0, n, a, b, out);                                                   \
        else                                                                                       \
            FN(zip_loop)(K, 0, 1, n, a, b, out);                                                   \
        return true;
        VEC_F32_ZIP(KERN_ADD)
        VEC_F32_ZIP(KERN_SUB)
        VEC_F32_ZIP(KERN_MUL)
        VEC_F32_ZIP(KERN_DIV)
        VEC_F32_ZIP(KERN_PASS_IF_POSITIVE)
        VEC_F32_ZIP(KERN_MUL_GELU_GRAD)
#undef VEC_F32_ZIP
    default:
        return false;
    }
}

/* Max-pooling selection (vec.h's kern_vec_select_max_f32), VL windows at a time: lane q holds
 * window q's best value and position so far. With window strides 1 and 2 the elements are
 * loaded directly (stride 2: the even lanes of two vectors, VLOAD_EVEN_N, reading only the
 * 2n - 1 elements it needs for n lanes); other strides gather them, lanes past m repeating the
 * last window's (always readable) positions. */
static TARGET bool FN(select_max)(const float *p, int64_t first, int64_t sw, int64_t m,
                                  const int64_t *offs, int n_offs, int64_t *idx) {
    int32_t lanes[VL];
    VI step = VI_SET1((int)sw), top = VI_SET1((int)(m - 1));
    bool direct = sw == 1 || sw == 2;
    for (int64_t q0 = 0; q0 < m; q0 += VL) {
        int n = m - q0 < VL ? (int)(m - q0) : VL;
        VI q = VI_MIN(VI_ADD(VI_SET1((int)q0), VI_IOTA), top);
        VI k0 = VI_ADD(VI_SET1((int)first), VI_MULLO(q, step));
        const float *b0 = p + first + q0 * sw;
        VI bi = k0;
        V bv = !direct ? VGATHER(p, k0) : sw == 1 ? VLOADN(b0, n) : VLOAD_EVEN_N(b0, n);
        for (int t = 1; t < n_offs; t++) {
            VI k = VI_ADD(k0, VI_SET1((int)offs[t]));
            V v = !direct   ? VGATHER(p, k)
                  : sw == 1 ? VLOADN(b0 + offs[t], n)
                            : VLOAD_EVEN_N(b0 + offs[t], n);
            M take = MOR(VGT(v, bv), MANDNOT(VNAN(v), VNAN(bv)));
            bv = VSEL(take, v, bv);
            bi = VISEL(take, k, bi);
        }
        VI_STORE(lanes, bi);
        for (int i = 0; i < n; i++) idx[q0 + i] = lanes[i];
    }
    return true;
}

/* im2col (conv.h) of one (C, H, W) image at column stride 1: each column row is zeros, a run
 * copied from the image, zeros, with full vectors and one masked vector per run. */
static inline __attribute__((always_inline)) TARGET void FN(copy_run)(float *d, const float *s,
                                                                      int64_t n) {
    int64_t i = 0;
    for (; i + VL <= n; i += VL) VSTORE(d + i, VLOAD(s + i));
    if (i < n) VSTOREN(d + i, (int)(n - i), VLOADN(s + i, (int)(n - i)));
}

static inline __attribute__((always_inline)) TARGET void FN(zero_run)(float *d, int64_t n) {
    int64_t i = 0;
    for (; i + VL <= n; i += VL) VSTORE(d + i, VZERO());
    if (i < n) VSTOREN(d + i, (int)(n - i), VZERO());
}

static TARGET void FN(im2col)(const kern_window *g, const float *img, float *cols, int64_t ld) {
    for (int64_t c = 0; c < g->C; c++)
        for (int64_t i = 0; i < g->kh; i++)
            for (int64_t j = 0; j < g->kw; j++) {
                float *row = cols + ((c * g->kh + i) * g->kw + j) * ld;
                int64_t off = j * g->dw - g->pw, lo, hi;
                kern_col_range(g, off, &lo, &hi);
                for (int64_t oy = 0; oy < g->oh; oy++) {
                    int64_t y = oy * g->sh - g->ph + i * g->dh;
                    float *dst = row + oy * g->ow;
                    if (y < 0 || y >= g->H) {
                        FN(zero_run)(dst, g->ow);
                        continue;
                    }
                    const float *src = img + (c * g->H + y) * g->W;
                    FN(zero_run)(dst, lo);
                    FN(copy_run)(dst + lo, src + lo + off, hi - lo);
                    FN(zero_run)(dst + hi, g->ow - hi);
                }
            }
}

/* The address off elements from p, formed as an integer so that an offset that reaches before
 * the buffer (lanes a masked load leaves untouched) is not pointer arithmetic out of bounds. */
static inline __attribute__((always_inline)) const float *FN(at)(const float *p, int64_t off) {
    return (const float *)(uintptr_t)((uintptr_t)p + (uintptr_t)(off * (int64_t)sizeof(float)));
}

/* col2im (conv.h) at column stride 1, gathered: each vector of an image row sums, in
 * registers, every column entry that lands on it (kernel rows i whose output row exists, then
 * kernel columns j, each a masked load of the lanes it covers) and is stored once. Scattering
 * column rows into the image instead re-reads every image row kw times right after writing
 * it, which stalls on the store. Sums the same terms as the scalar loop, in another order. */
static TARGET void FN(col2im)(const kern_window *g, const float *cols, int64_t ld, float *img) {
    for (int64_t c = 0; c < g->C; c++)
        for (int64_t y = 0; y < g->H; y++) {
            float *dst = img + (c * g->H + y) * g->W;
            for (int64_t x0 = 0; x0 < g->W; x0 += VL) {
                int64_t w = g->W - x0 < VL ? g->W - x0 : VL;
                V acc = w == VL ? VLOAD(dst + x0) : VLOADN(dst + x0, (int)w);
                for (int64_t i = 0; i < g->kh; i++) {
                    int64_t t = y + g->ph - i * g->dh;
                    if (t < 0 || t % g->sh != 0 || t / g->sh >= g->oh) continue;
                    const float *row = cols + ((c * g->kh + i) * g->kw) * ld + (t / g->sh) * g->ow;
                    for (int64_t j = 0; j < g->kw; j++, row += ld) {
                        /* lane l reads output column ox = off + l, which must be in [0, ow) */
                        int64_t off = x0 + g->pw - j * g->dw;
                        int64_t lo = off < 0 ? -off : 0, hi = g->ow - off < w ? g->ow - off : w;
                        if (hi <= lo) continue;
                        acc = VADD(acc, VLOAD_LANES(FN(at)(row, off), (int)lo, (int)hi));
                    }
                }
                if (w == VL)
                    VSTORE(dst + x0, acc);
                else
                    VSTOREN(dst + x0, (int)w, acc);
            }
        }
}

/* The sum of n contiguous floats, accumulated in double (VD: the double vector of VL/2 lanes,
 * VD_CVT_LO/HI the widening conversions of a V's halves, VD_ADD, VD_ZERO, VD_HSUM): four
 * double accumulators per float vector's halves, summed at the end. */
static TARGET double FN(sum)(const float *x, int64_t n) {
    VD a0 = VD_ZERO(), a1 = VD_ZERO(), a2 = VD_ZERO(), a3 = VD_ZERO();
    int64_t i = 0;
    for (; i + 2 * VL <= n; i += 2 * VL) {
        V u = VLOAD(x + i), v = VLOAD(x + i + VL);
        a0 = VD_ADD(a0, VD_CVT_LO(u));
        a1 = VD_ADD(a1, VD_CVT_HI(u));
        a2 = VD_ADD(a2, VD_CVT_LO(v));
        a3 = VD_ADD(a3, VD_CVT_HI(v));
    }
    if (i + VL <= n) {
        V u = VLOAD(x + i);
        a0 = VD_ADD(a0, VD_CVT_LO(u));
        a1 = VD_ADD(a1, VD_CVT_HI(u));
        i += VL;
    }
    if (i < n) {
        V u = VLOADN(x + i, (int)(n - i)); /* the lanes not loaded are 0 */
        a2 = VD_ADD(a2, VD_CVT_LO(u));
        a3 = VD_ADD(a3, VD_CVT_HI(u));
    }
    return VD_HSUM(VD_ADD(VD_ADD(a0, a1), VD_ADD(a2, a3)));
}

/* acc[j] += x[j] for j < n, acc in double. */
static TARGET void FN(sum_into)(double *acc, const float *x, int64_t n) {
    int64_t i = 0;
    for (; i + VL <= n; i += VL) {
        V u = VLOAD(x + i);
        VD_STORE(acc + i, VD_ADD(VD_LOAD(acc + i), VD_CVT_LO(u)));
        VD_STORE(acc + i + VL / 2, VD_ADD(VD_LOAD(acc + i + VL / 2), VD_CVT_HI(u)));
    }
    for (; i < n; i++) acc[i] += (double)x[i];
}

/* Softmax or log-softmax of one contiguous row (extrema.c's SOFTMAX_ROW): m = the row's
 * maximum (NaN if any element is; then every result is NaN, as there), z = x - m split
 * exactly into a float hi plus a small lo (TwoSum), e^z = e^hi (1 + lo) to nearly float
 * precision, s = the sum of e^z in double. Softmax writes e^z / s (e^z first, then scaled:
 * within 2 ulp); log-softmax writes (x - m) - ln s evaluated in double. Lanes past the row's
 * end read as -inf, whose e^z is 0. */
static TARGET void FN(softmax_row)(const float *x, int64_t n, float *out, bool log_form,
                                   double *stats) {
    V vm = VSET1(-INFINITY);
    float m = -INFINITY;
    bool nan = false;
    int64_t i = 0;
    /* v - v is 0 unless v is NaN or infinite: a cheap screen, so that the exact (scalar) look
     * for a NaN runs only for rows that hold a non-finite value. */
    V screen = VZERO();
    for (; i + VL <= n; i += VL) {
        V v = VLOAD(x + i);
        vm = VMAX(vm, v);
        screen = VADD(screen, VSUB(v, v));
    }
    float lanes[VL], flags[VL];
    VSTORE(lanes, vm);
    VSTORE(flags, screen);
    bool finite = true;
    for (int l = 0; l < VL; l++) {
        m = lanes[l] > m ? lanes[l] : m;
        finite = finite && flags[l] == 0;
    }
    for (; i < n; i++) m = x[i] > m ? x[i] : m;
    for (i = 0; i < n && !finite && !nan; i++) nan = x[i] != x[i];
    for (i = n - n % VL; i < n && !nan; i++) nan = x[i] != x[i];
    if (nan) m = NAN;
    V mv = VSET1(m), nmv = VSET1(-m);
    VD acc = VD_ZERO();
    for (i = 0; i < n; i += VL) {
        int r = n - i < VL ? (int)(n - i) : VL;
        V v = r == VL ? VLOAD(x + i) : VSEL(MFIRST(r), VLOADN(x + i, r), VSET1(-INFINITY));
        V hi = VSUB(v, mv);
        V ap = VADD(hi, mv), bp = VSUB(hi, ap);
        V lo = VADD(VSUB(v, ap), VSUB(nmv, bp));
        lo = VSEL(VNAN(lo), VZERO(), lo); /* z = -inf: e^z is 0 whatever lo says */
        V eh = FN(exp)(hi);
        V e = VFMA(eh, lo, eh);
        acc = VD_ADD(acc, VD_ADD(VD_CVT_LO(e), VD_CVT_HI(e)));
        if (!log_form) {
            if (r == VL)
                VSTORE(out + i, e);
            else
                VSTOREN(out + i, r, e);
        }
    }
    double s = VD_HSUM(acc);
    if (stats) {
        stats[0] = (double)m;
        stats[1] = log(s);
    }
    if (log_form) {
        /* In double, as ((double)x - m) - ln s rounded once, eight or sixteen at a time. */
        double ls = log(s), md = (double)m;
        VD mdv = VD_SET1(md), lsv = VD_SET1(ls);
        for (i = 0; i < n; i += VL) {
            int r = n - i < VL ? (int)(n - i) : VL;
            V v = r == VL ? VLOAD(x + i) : VLOADN(x + i, r);
            VD lo = VD_SUB(VD_SUB(VD_CVT_LO(v), mdv), lsv);
            VD hi = VD_SUB(VD_SUB(VD_CVT_HI(v), mdv), lsv);
            if (r == VL)
                VSTORE(out + i, VF_FROM_VD2(lo, hi));
            else
                VSTOREN(out + i, r, VF_FROM_VD2(lo, hi));
        }
    } else {
        V inv = VSET1((float)(1.0 / s));
        for (i = 0; i + VL <= n; i += VL) VSTORE(out + i, VMUL(VLOAD(out + i), inv));
        if (i < n) VSTOREN(out + i, (int)(n - i), VMUL(VLOADN(out + i, (int)(n - i)), inv));
    }
}

/* Layer norm's rows (layer_norm.c, which has the math and the plain loops these match): rows
 * first..last of C values each. Sums are taken in double, as there: the floats are widened
 * half a vector at a time (VD_CVT_LO/HI) into VL double lanes, summed lane-wise and then
 * across lanes; the C % VL values past the last full vector are summed one by one. The
 * elementwise results are evaluated in float in the plain loops' order, so only the last bits
 * of a row's statistics (summed in another order) can differ from them.
 * Forward: y = ((x - mu) r) gamma + beta, stats[2 i] = mu, stats[2 i + 1] = r. */
static TARGET void FN(ln_forward)(int64_t first, int64_t last, int64_t C, const float *x,
                                  const float *g, const float *b, double eps, float *y,
                                  double *stats) {
    int64_t cv = C - C % VL;
    for (int64_t i = first; i < last; i++) {
        const float *xr = x + i * C;
        float *yr = y + i * C;
        VD s0 = VD_ZERO(), s1 = VD_ZERO();
        for (int64_t j = 0; j < cv; j += VL) {
            V u = VLOAD(xr + j);
            s0 = VD_ADD(s0, VD_CVT_LO(u));
            s1 = VD_ADD(s1, VD_CVT_HI(u));
        }
        double s = VD_HSUM(VD_ADD(s0, s1));
        for (int64_t j = cv; j < C; j++) s += (double)xr[j];
        double mu = s / (double)C;
        VD md = VD_SET1(mu), q0 = VD_ZERO(), q1 = VD_ZERO();
        for (int64_t j = 0; j < cv; j += VL) {
            V u = VLOAD(xr + j);
            VD d0 = VD_SUB(VD_CVT_LO(u), md), d1 = VD_SUB(VD_CVT_HI(u), md);
            q0 = VD_FMA(d0, d0, q0);
            q1 = VD_FMA(d1, d1, q1);
        }
        double q = VD_HSUM(VD_ADD(q0, q1));
        for (int64_t j = cv; j < C; j++) {
            double d = (double)xr[j] - mu;
            q += d * d;
        }
        double r = 1.0 / sqrt(q / (double)C + eps);
        stats[2 * i] = mu;
        stats[2 * i + 1] = r;
        float mt = (float)mu, rt = (float)r;
        V mv = VSET1(mt), rv = VSET1(rt);
        for (int64_t j = 0; j < cv; j += VL)
            VSTORE(yr + j,
                   VADD(VMUL(VMUL(VSUB(VLOAD(xr + j), mv), rv), VLOAD(g + j)), VLOAD(b + j)));
        for (int64_t j = cv; j < C; j++) yr[j] = (xr[j] - mt) * rt * g[j] + b[j];
    }
}

/* Backward of rows first..last with G = gy: acc_g[j] += G xh and acc_b[j] += G (double, C
 * each), and when dx is not NULL, dx = r (G gamma - mean(G gamma) - xh mean(G gamma xh)).
 * Products of two floats are exact in double, so the FMAs below add what the plain loops add. */
static TARGET void FN(ln_backward)(int64_t first, int64_t last, int64_t C, const float *x,
                                   const float *g, const float *gy, const double *stats, float *dx,
                                   double *acc_g, double *acc_b) {
    int64_t cv = C - C % VL;
    for (int64_t i = first; i < last; i++) {
        const float *xr = x + i * C, *gr = gy + i * C;
        float mt = (float)stats[2 * i], rt = (float)stats[2 * i + 1];
        V mv = VSET1(mt), rv = VSET1(rt);
        VD a0 = VD_ZERO(), a1 = VD_ZERO(), b0 = VD_ZERO(), b1 = VD_ZERO();
        for (int64_t j = 0; j < cv; j += VL) {
            V xh = VMUL(VSUB(VLOAD(xr + j), mv), rv), gv = VLOAD(gr + j);
            VD xl = VD_CVT_LO(xh), xu = VD_CVT_HI(xh), gl = VD_CVT_LO(gv), gu = VD_CVT_HI(gv);
            VD_STORE(acc_g + j, VD_FMA(gl, xl, VD_LOAD(acc_g + j)));
            VD_STORE(acc_g + j + VL / 2, VD_FMA(gu, xu, VD_LOAD(acc_g + j + VL / 2)));
            VD_STORE(acc_b + j, VD_ADD(VD_LOAD(acc_b + j), gl));
            VD_STORE(acc_b + j + VL / 2, VD_ADD(VD_LOAD(acc_b + j + VL / 2), gu));
            V gg = VMUL(gv, VLOAD(g + j));
            VD ggl = VD_CVT_LO(gg), ggu = VD_CVT_HI(gg);
            a0 = VD_ADD(a0, ggl);
            a1 = VD_ADD(a1, ggu);
            b0 = VD_FMA(ggl, xl, b0);
            b1 = VD_FMA(ggu, xu, b1);
        }
        double as = VD_HSUM(VD_ADD(a0, a1)), bs = VD_HSUM(VD_ADD(b0, b1));
        for (int64_t j = cv; j < C; j++) {
            float xh = (xr[j] - mt) * rt;
            acc_g[j] += (double)gr[j] * (double)xh;
            acc_b[j] += (double)gr[j];
            double gg = (double)(gr[j] * g[j]);
            as += gg;
            bs += gg * (double)xh;
        }
        if (!dx) continue;
        float am = (float)(as / (double)C), bm = (float)(bs / (double)C);
        V amv = VSET1(am), bmv = VSET1(bm);
        float *dr = dx + i * C;
        for (int64_t j = 0; j < cv; j += VL) {
            V xh = VMUL(VSUB(VLOAD(xr + j), mv), rv);
            V gg = VMUL(VLOAD(gr + j), VLOAD(g + j));
            VSTORE(dr + j, VMUL(rv, VSUB(VSUB(gg, amv), VMUL(xh, bmv))));
        }
        for (int64_t j = cv; j < C; j++) {
            float xh = (xr[j] - mt) * rt;
            dr[j] = rt * (gr[j] * g[j] - am - xh * bm);
        }
    }
}

/* out[i] = m[i sm] != 0 ? a[i sa] : b[i sb] (NaN counts as nonzero) for strides 0 or 1; SM,
 * SA, SB are constants in every instantiation. */
static inline __attribute__((always_inline)) TARGET void
FN(where_loop)(const int SM, const int SA, const int SB, int64_t n, const float *m, const float *a,
               const float *b, float *out) {
    V um = VSET1(m[0]), ua = VSET1(a[0]), ub = VSET1(b[0]);
    for (int64_t i = 0; i < n; i += VL) {
        int r = n - i < VL ? (int)(n - i) : VL;
        V vm = SM ? (r == VL ? VLOAD(m + i) : VLOADN(m + i, r)) : um;
        V va = SA ? (r == VL ? VLOAD(a + i) : VLOADN(a + i, r)) : ua;
        V vb = SB ? (r == VL ? VLOAD(b + i) : VLOADN(b + i, r)) : ub;
        V v = VSEL(VNE(vm, VZERO()), va, vb);
        if (r == VL)
            VSTORE(out + i, v);
        else
            VSTOREN(out + i, r, v);
    }
}

static TARGET bool FN(where)(int64_t n, const float *m, int64_t sm, const float *a, int64_t sa,
                             const float *b, int64_t sb, float *out) {
    if (n <= 0 || sm < 0 || sm > 1 || sa < 0 || sa > 1 || sb < 0 || sb > 1) return false;
    switch (sm * 4 + sa * 2 + sb) {
    case 0:
        FN(where_loop)(0, 0, 0, n, m, a, b, out);
        break;
    case 1:
        FN(where_loop)(0, 0, 1, n, m, a, b, out);
        break;
    case 2:
        FN(where_loop)(0, 1, 0, n, m, a, b, out);
        break;
    case 3:
        FN(where_loop)(0, 1, 1, n, m, a, b, out);
        break;
    case 4:
        FN(where_loop)(1, 0, 0, n, m, a, b, out);
        break;
    case 5:
        FN(where_loop)(1, 0, 1, n, m, a, b, out);
        break;
    case 6:
        FN(where_loop)(1, 1, 0, n, m, a, b, out);
        break;
    default:
        FN(where_loop)(1, 1, 1, n, m, a, b, out);
        break;
    }
    return true;
}

/* ---- the LSTM cell's rows (cell.h, cell.c) ----
 * One pass per row over the units, a vector of units at a time: the four gates' sums,
 * sigmoids and tanhs, c' and h' (forward), or the gradient reaching h' and every dz and dc
 * (backward), with the intermediate values in registers instead of act and z read back by
 * separate passes. The expressions and their order are cell.c's plain loops' (no FMA), and the
 * sigmoid and tanh are map1's, so the bits are those of the plain loops over kern_unary. */

static inline __attribute__((always_inline)) TARGET V FN(lstm_ld)(const float *p, int r) {
    return r == VL ? VLOAD(p) : VLOADN(p, r);
}
static inline __attribute__((always_inline)) TARGET void FN(lstm_st)(float *p, int r, V v) {
    if (r == VL)
        VSTORE(p, v);
    else
        VSTOREN(p, r, v);
}

static inline __attribute__((always_inline)) TARGET void FN(lstm_forward_rows)(const bool GX,
                                                                             const kern_lstm_fwd *p) {
    const int64_t H = p->H, zg = p->z_gs, xg = p->gx_gs, ag = p->act_gs;
    for (int64_t b = 0; b < p->B; b++) {
        const float *z = (const float *)p->z + b * p->z_rs, *c = (const float *)p->c + b * p->c_rs;
        const float *x = GX ? (const float *)p->gx + b * p->gx_rs : NULL;
        float *a = (float *)p->act + b * p->act_rs, *h = (float *)p->h + b * p->h_rs;
        float *cn = (float *)p->cn + b * p->cn_rs;
        for (int64_t j = 0; j < H; j += VL) {
            int r = H - j < VL ? (int)(H - j) : VL;
            V zi = FN(lstm_ld)(z + j, r), zf = FN(lstm_ld)(z + zg + j, r);
            V zc = FN(lstm_ld)(z + 2 * zg + j, r), zo = FN(lstm_ld)(z + 3 * zg + j, r);
            if (GX) {
                zi = VADD(FN(lstm_ld)(x + j, r), zi);
                zf = VADD(FN(lstm_ld)(x + xg + j, r), zf);
                zc = VADD(FN(lstm_ld)(x + 2 * xg + j, r), zc);
                zo = VADD(FN(lstm_ld)(x + 3 * xg + j, r), zo);
            }
            V si = FN(sigmoid)(zi), sf = FN(sigmoid)(zf), tg = FN(tanh)(zc), so = FN(sigmoid)(zo);
            FN(lstm_st)(a + j, r, si);
            FN(lstm_st)(a + ag + j, r, sf);
            FN(lstm_st)(a + 2 * ag + j, r, tg);
            FN(lstm_st)(a + 3 * ag + j, r, so);
            FN(lstm_st)(cn + j, r, VADD(VMUL(sf, FN(lstm_ld)(c + j, r)), VMUL(si, tg)));
        }
        /* tanh(c') in a second pass over the row: in one pass, each vector's chain (the gates'
         * exponentials and divisions, then c', then its tanh's) was longer than what the core
         * could overlap with the next vector's, and the loop waited on its latency. */
        for (int64_t j = 0; j < H; j += VL) {
            int r = H - j < VL ? (int)(H - j) : VL;
            V tc = FN(tanh)(FN(lstm_ld)(cn + j, r));
            FN(lstm_st)(a + 4 * ag + j, r, tc);
            FN(lstm_st)(h + j, r, VMUL(FN(lstm_ld)(a + 3 * ag + j, r), tc));
        }
    }
}

static TARGET void FN(lstm_forward)(const kern_lstm_fwd *p) {
    if (p->gx)
        FN(lstm_forward_rows)(true, p);
    else
        FN(lstm_forward_rows)(false, p);
}

static inline __attribute__((always_inline)) TARGET void
FN(lstm_backward_rows)(const bool DZ, const bool DC, const bool DH, const kern_lstm_bwd *p) {
    const int64_t H = p->H, ag = p->act_gs, dg = p->dz_gs;
    const V one = VSET1(1.0f);
    for (int64_t b = 0; b < p->B; b++) {
        const float *a = (const float *)p->act + b * p->act_rs;
        const float *c = (const float *)p->c + b * p->c_rs;
        const float *gh = (const float *)p->gh + b * p->gh_rs;
        const float *dh = DH ? (const float *)p->dh + b * p->dh_rs : NULL;
        const float *gc = (const float *)p->gc + b * p->gc_rs;
        float *dz = DZ ? (float *)p->dz + b * p->dz_rs : NULL;
        float *dc = DC ? (float *)p->dc + b * p->dc_rs : NULL;
        for (int64_t j = 0; j < H; j += VL) {
            int r = H - j < VL ? (int)(H - j) : VL;
            V g = FN(lstm_ld)(gh + j, r);
            if (DH) g = VADD(g, FN(lstm_ld)(dh + j, r));
            V si = FN(lstm_ld)(a + j, r), sf = FN(lstm_ld)(a + ag + j, r);
            V tg = FN(lstm_ld)(a + 2 * ag + j, r), so = FN(lstm_ld)(a + 3 * ag + j, r);
            V tc = FN(lstm_ld)(a + 4 * ag + j, r);
            V d = VADD(FN(lstm_ld)(gc + j, r), VMUL(VMUL(g, so), VSUB(one, VMUL(tc, tc))));
            if (DZ) {
                FN(lstm_st)(dz + j, r, VMUL(VMUL(VMUL(d, tg), si), VSUB(one, si)));
                V cf = VMUL(VMUL(VMUL(d, FN(lstm_ld)(c + j, r)), sf), VSUB(one, sf));
                FN(lstm_st)(dz + dg + j, r, cf);
                FN(lstm_st)(dz + 2 * dg + j, r, VMUL(VMUL(d, si), VSUB(one, VMUL(tg, tg))));
                FN(lstm_st)(dz + 3 * dg + j, r, VMUL(VMUL(VMUL(g, tc), so), VSUB(one, so)));
            }
            if (DC) FN(lstm_st)(dc + j, r, VMUL(d, sf));
        }
    }
}

static TARGET void FN(lstm_backward)(const kern_lstm_bwd *p) {
    switch ((p->dz ? 4 : 0) + (p->dc ? 2 : 0) + (p->dh ? 1 : 0)) {
    case 7:
        FN(lstm_backward_rows)(true, true, true, p);
        break;
    case 6:
        FN(lstm_backward_rows)(true, true, false, p);
        break;
    case 5:
        FN(lstm_backward_rows)(true, false, true, p);
        break;
    case 4:
        FN(lstm_backward_rows)(true, false, false, p);
        break;
    case 3:
        FN(lstm_backward_rows)(false, true, true, p);
        break;
    case 2:
        FN(lstm_backward_rows)(false, true, false, p);
        break;
    default: /* nothing wanted */
        break;
    }
}

/* The template leaves no macro behind, so that the next instruction set can define its own. */
#undef TARGET
#undef V
#undef VI
#undef M
#undef VL
#undef FN
#undef VADD
#undef VSUB
#undef VMUL
#undef VDIV
#undef VFMA
#undef VMAX
#undef VMIN
#undef VSET1
#undef VZERO
#undef VLOAD
#undef VSTORE
#undef VLOADN
#undef VSTOREN
#undef VAND
#undef VOR
#undef VXOR
#undef VABS
#undef VROUND
#undef VLT
#undef VLE
#undef VGT
#undef VNE
#undef VNAN
#undef MOR
#undef MANY
#undef VSEL
#undef VI_SET1
#undef VI_ADD
#undef VI_SUB
#undef VI_SRAI1
#undef VI_SLLI23
#undef VCVT
#undef VASF
#undef VD
#undef VD_ZERO
#undef VD_ADD
#undef VD_LOAD
#undef VD_STORE
#undef VD_CVT_LO
#undef VD_CVT_HI
#undef VD_HSUM
#undef VD_SUB
#undef VD_SET1
#undef VD_MUL
#undef VD_FMA
#undef VF_FROM_VD2
#undef MFIRST
#undef VLOAD_LANES
#undef MANDNOT
#undef VI_IOTA
#undef VI_MULLO
#undef VI_MIN
#undef VI_STORE
#undef VGATHER
#undef VISEL
#undef VLOAD_EVEN_N
