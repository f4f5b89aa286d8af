/* update_simd.h: the update loops of the optimisers, written once for any vector width and
 * element type; a template included by update_simd.c once per instruction set and element type
 * (f32 and f64), and with one-lane "vectors" (plain floats or doubles) for the portable path and
 * the tails (no include guard). It #undefs its macros when it ends.
 *
 * The includer defines: T (float or double), V (the vector type), VL (its lanes), TARGET,
 * FN(name), VADD VSUB VMUL VDIV VSQRT VSET1 VLOAD VSTORE, and VKEEP_GE(a, b) = (a >= b,
 * ordered) ? a : b.
 *
 * Invariant: every loop is a fixed sequence of IEEE adds, multiplies, divides and square roots
 * in T (no fused multiply-add; the library is compiled as ISO C, which does not contract), each
 * correctly rounded, so every width gives the same bits as the one-lane instance: a step's
 * result does not depend on the CPU level nor on where a vector's tail begins. The hyper-
 * parameters arrive in double (optim_impl.h) and are rounded to T once, here. The order of
 * operations is torch.optim's (for example the decay term as grad + weight_decay * param, and
 * addcdiv's param + ((-lr) * num) / den), except where a comment says otherwise (for Adagrad in
 * f32 this reproduced torch 1.13's bits on all of 100,000 random elements).
 *
 * Each FN(name) handles elements [0, n - n % VL) (nonfinite: n - n % (2 VL)) and returns that
 * count; update_simd.c runs the one-lane instance over the rest. */

static TARGET int64_t FN(sgd)(const optim_sgd_args *k, int64_t n, T *p, const T *g, T *buf) {
    const V wd = VSET1((T)k->weight_decay), mu = VSET1((T)k->momentum),
            keep = VSET1((T)k->one_minus_dampening), neg_lr = VSET1((T)k->neg_lr);
    int64_t i = 0;
    for (; i + VL <= n; i += VL) {
        V pv = VLOAD(p + i), d = VLOAD(g + i);
        if (k->has_weight_decay) d = VADD(d, VMUL(wd, pv));
        if (buf) {
            V b = k->first_step ? d : VADD(VMUL(VLOAD(buf + i), mu), VMUL(keep, d));
            VSTORE(buf + i, b);
            d = k->nesterov ? VADD(d, VMUL(mu, b)) : b;
        }
        VSTORE(p + i, VADD(pv, VMUL(neg_lr, d)));
    }
    return i;
}

static TARGET int64_t FN(adagrad)(const optim_adagrad_args *k, int64_t n, T *p, const T *g,
                                  T *sum) {
    const V wd = VSET1((T)k->weight_decay), eps = VSET1((T)k->eps), neg_clr = VSET1((T)k->neg_clr);
    int64_t i = 0;
    for (; i + VL <= n; i += VL) {
        V pv = VLOAD(p + i), d = VLOAD(g + i);
        if (k->has_weight_decay) d = VADD(d, VMUL(wd, pv));
        V s = VADD(VLOAD(sum + i), VMUL(d, d));
        VSTORE(sum + i, s);
        V std = VADD(VSQRT(s), eps);
        VSTORE(p + i, VADD(pv, VDIV(VMUL(neg_clr, d), std)));
    }
    return i;
}

static TARGET int64_t FN(rmsprop)(const optim_rmsprop_args *k, int64_t n, T *p, const T *g, T *sq,
                                  T *mom, T *avg) {
    const V wd = VSET1((T)k->weight_decay), alpha = VSET1((T)k->alpha),
            one_minus_alpha = VSET1((T)k->one_minus_alpha), mu = VSET1((T)k->momentum),
            eps = VSET1((T)k->eps), neg_lr = VSET1((T)k->neg_lr);
    int64_t i = 0;
    for (; i + VL <= n; i += VL) {
        V pv = VLOAD(p + i), d = VLOAD(g + i);
        if (k->has_weight_decay) d = VADD(d, VMUL(wd, pv));
        V s = VADD(VMUL(VLOAD(sq + i), alpha), VMUL(VMUL(one_minus_alpha, d), d));
        VSTORE(sq + i, s);
        V den;
        if (avg) {
            V a = VADD(VMUL(VLOAD(avg + i), alpha), VMUL(one_minus_alpha, d));
            VSTORE(avg + i, a);
            den = VSQRT(VSUB(s, VMUL(a, a)));
        } else {
            den = VSQRT(s);
        }
        den = VADD(den, eps);
        if (mom) {
            V b = VADD(VMUL(VLOAD(mom + i), mu), VDIV(d, den));
            VSTORE(mom + i, b);
            VSTORE(p + i, VADD(pv, VMUL(neg_lr, b)));
        } else {
            VSTORE(p + i, VADD(pv, VDIV(VMUL(neg_lr, d), den)));
        }
    }
    return i;
}

/* Not torch's order in one place: torch divides sqrt(v) by sqrt(1 - beta2^t) and then divides
 * (-step) m by (that + eps); here the bias correction is folded into the two constants
 * (optim_impl.h), so the update is ((-step') m) / (sqrt(v) + eps') with one divide instead of
 * two. The divider is what bounds this loop (at AVX2 on Zen 3 the MLP's update took 30% less
 * time); the value is the same up to a rounding or two of the update term, about 1e-7 of a
 * parameter against the fixtures' 1e-6. */
static TARGET int64_t FN(adam)(const optim_adam_args *k, int64_t n, T *p, const T *g, T *m, T *v,
                               T *vmax) {
    const V wd = VSET1((T)k->weight_decay), decay = VSET1((T)k->decoupled_factor),
            b1 = VSET1((T)k->beta1), one_minus_b1 = VSET1((T)k->one_minus_beta1),
            b2 = VSET1((T)k->beta2), one_minus_b2 = VSET1((T)k->one_minus_beta2),
            eps = VSET1((T)k->eps_scaled), neg_step = VSET1((T)k->neg_step_scaled);
    int64_t i = 0;
    for (; i + VL <= n; i += VL) {
        V pv = VLOAD(p + i), d = VLOAD(g + i);
        if (k->decoupled)
            pv = VMUL(pv, decay);
        else if (k->has_weight_decay)
            d = VADD(d, VMUL(wd, pv));
        V mv = VADD(VMUL(VLOAD(m + i), b1), VMUL(one_minus_b1, d));
        V vv = VADD(VMUL(VLOAD(v + i), b2), VMUL(VMUL(one_minus_b2, d), d));
        VSTORE(m + i, mv);
        VSTORE(v + i, vv);
        if (vmax) {
            /* torch.maximum lets a NaN in the new average win. */
            vv = VKEEP_GE(VLOAD(vmax + i), vv);
            VSTORE(vmax + i, vv);
        }
        V den = VADD(VSQRT(vv), eps);
        VSTORE(p + i, VADD(pv, VDIV(VMUL(neg_step, mv), den)));
    }
    return i;
}

/* Sets *bad when g[0 .. the count returned) holds a NaN or an infinity: x - x is +0 for every
 * finite x and NaN otherwise, and a NaN survives the sums. Two sums, so that consecutive adds
 * do not wait on each other. */
static TARGET int64_t FN(nonfinite)(int64_t n, const T *g, bool *bad) {
    V s0 = VSET1((T)0), s1 = VSET1((T)0);
    int64_t i = 0;
    for (; i + 2 * VL <= n; i += 2 * VL) {
        V x = VLOAD(g + i), y = VLOAD(g + i + VL);
        s0 = VADD(s0, VSUB(x, x));
        s1 = VADD(s1, VSUB(y, y));
    }
    T lanes[VL];
    VSTORE(lanes, VADD(s0, s1));
    for (int j = 0; j < VL; j++)
        if (lanes[j] != 0) *bad = true;
    return i;
}

#undef T
#undef V
#undef VL
#undef TARGET
#undef FN
#undef VADD
#undef VSUB
#undef VMUL
#undef VDIV
#undef VSQRT
#undef VSET1
#undef VLOAD
#undef VSTORE
#undef VKEEP_GE
