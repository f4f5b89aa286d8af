/* update_f32.h: the f32 update loops of the optimisers, written once for any vector width; a
 * template included by update_f32.c once per instruction set and once with one-lane "vectors"
 * (plain floats) for the portable path and the tails (no include guard). It #undefs its macros
 * when it ends.
 *
 * The includer defines: V (the vector type), VL (its lanes), TARGET, FN(name), VADD VSUB VMUL
 * VDIV VSQRT VSET1 VLOAD VSTORE, and VKEEP_GE(a, b) = (a >= b, ordered) ? a : b.
 *
 * Invariant: every loop is a fixed sequence of IEEE single-precision adds, multiplies, divides
 * and square roots (no fused multiply-add; the library is compiled as ISO C, which does not
 * contract), each correctly rounded, so every width gives the same bits as the one-lane
 * instance: a step's result does not depend on the CPU level nor on where a vector's tail
 * begins. The order of operations is torch.optim's for f32 tensors (for example the decay term
 * as grad + weight_decay * param, and the parameter update as param + (-lr) * (num / den)).
 *
 * Each FN(algo) updates elements [0, n - n % VL) and returns that count; update_f32.c runs the
 * one-lane instance over the rest. */

static TARGET int64_t FN(sgd)(const optim_sgd_f32 *k, int64_t n, float *p, const float *g,
                              float *buf) {
    const V wd = VSET1(k->weight_decay), mu = VSET1(k->momentum),
            keep = VSET1(k->one_minus_dampening), neg_lr = VSET1(k->neg_lr);
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

static TARGET int64_t FN(adagrad)(const optim_adagrad_f32 *k, int64_t n, float *p, const float *g,
                                  float *sum) {
    const V wd = VSET1(k->weight_decay), eps = VSET1(k->eps), neg_clr = VSET1(k->neg_clr);
    int64_t i = 0;
    for (; i + VL <= n; i += VL) {
        V pv = VLOAD(p + i), d = VLOAD(g + i);
        if (k->has_weight_decay) d = VADD(d, VMUL(wd, pv));
        V s = VADD(VLOAD(sum + i), VMUL(d, d));
        VSTORE(sum + i, s);
        V std = VADD(VSQRT(s), eps);
        VSTORE(p + i, VADD(pv, VMUL(neg_clr, VDIV(d, std))));
    }
    return i;
}

static TARGET int64_t FN(rmsprop)(const optim_rmsprop_f32 *k, int64_t n, float *p, const float *g,
                                  float *sq, float *mom, float *avg) {
    const V wd = VSET1(k->weight_decay), alpha = VSET1(k->alpha),
            one_minus_alpha = VSET1(k->one_minus_alpha), mu = VSET1(k->momentum),
            eps = VSET1(k->eps), neg_lr = VSET1(k->neg_lr);
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
            VSTORE(p + i, VADD(pv, VMUL(neg_lr, VDIV(d, den))));
        }
    }
    return i;
}

static TARGET int64_t FN(adam)(const optim_adam_f32 *k, int64_t n, float *p, const float *g,
                               float *m, float *v, float *vmax) {
    const V wd = VSET1(k->weight_decay), decay = VSET1(k->decoupled_factor), b1 = VSET1(k->beta1),
            one_minus_b1 = VSET1(k->one_minus_beta1), b2 = VSET1(k->beta2),
            one_minus_b2 = VSET1(k->one_minus_beta2), bc2_sqrt = VSET1(k->bias_correction2_sqrt),
            eps = VSET1(k->eps), neg_step = VSET1(k->neg_step_size);
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
        V den = VADD(VDIV(VSQRT(vv), bc2_sqrt), eps);
        VSTORE(p + i, VADD(pv, VMUL(neg_step, VDIV(mv, den))));
    }
    return i;
}

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
