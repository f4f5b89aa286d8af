/* simd_exp.h: the core the f32 vector exponentials share (vec_f32.h's exp and exp_scaled,
 * attn_simd.h's exp_nonpos): for x already clamped to where e^x is finite and not 0 in float,
 * x = n ln2 + r with |r| <= ln2 / 2 (ln2 split in a high part exact in n times it and a low
 * part), and e^r by its Taylor polynomial to r^7 (relative error under 6e-9). Each caller
 * applies 2^n its own way. A template includes this after its level's vocabulary, with TARGET
 * and FN defined; no include guard, since each instantiation needs its own copy. */
static inline __attribute__((always_inline)) TARGET V FN(exp_core)(V xc, V *n_out) {
    V n = VROUND(VMUL(xc, VSET1(1.44269504088896341f)));
    V r = VFMA(n, VSET1(-0.693359375f), xc);
    r = VFMA(n, VSET1(2.12194440054690583e-4f), r);
    V p = VSET1(1.0f / 5040.0f);
    p = VFMA(p, r, VSET1(1.0f / 720.0f));
    p = VFMA(p, r, VSET1(1.0f / 120.0f));
    p = VFMA(p, r, VSET1(1.0f / 24.0f));
    p = VFMA(p, r, VSET1(1.0f / 6.0f));
    p = VFMA(p, r, VSET1(0.5f));
    p = VFMA(p, r, VSET1(1.0f));
    p = VFMA(p, r, VSET1(1.0f));
    *n_out = n;
    return p;
}
