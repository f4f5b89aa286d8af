/* adam.c: Adam (L2 weight decay added to the gradient) and AdamW (decoupled weight decay),
 * with bias correction and optional AMSGrad, step for step as torch.optim.Adam and AdamW (see
 * tapegrad/optim.h for the formulas).
 *
 * Invariant: the state buffers are exp_avg, exp_avg_sq and, with amsgrad, max_exp_avg_sq, all
 * starting at zero; the bias corrections use the store's step count, so they continue exactly
 * after a checkpoint is loaded. */
#include <math.h>

#include "optim_impl.h"

tg_adam_options tg_adam_defaults(double lr) {
    return (tg_adam_options){.lr = lr, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8};
}

tg_adam_options tg_adamw_defaults(double lr) {
    tg_adam_options o = tg_adam_defaults(lr);
    o.weight_decay = 1e-2;
    return o;
}

/* The f64 update (f32 goes through optim_adam_f32_update). */
static void adam_loop(const tg_optim *o, const tg_optim_slot *sl, double lr, double step_size,
                      double bc2_sqrt) {
    const tg_dtype dt = TG_F64;
    const tg_adam_options *h = &o->opt.adam;
    const double b1 = h->beta1, b2 = h->beta2, eps = h->eps, wd = h->weight_decay;
    const bool decoupled = o->decoupled_decay;
    void *m_buf = sl->s[0], *v_buf = sl->s[1], *vmax_buf = h->amsgrad ? sl->s[2] : NULL;
    for (int64_t i = 0; i < sl->n; i++) {
        double p = tg_optim_ld(dt, sl->p, i);
        double d = tg_optim_ld(dt, sl->g, i);
        if (decoupled) {
            /* torch rounds the decayed parameter before the update adds to it. */
            tg_optim_st(dt, sl->p, i, p * (1 - lr * wd));
            p = tg_optim_ld(dt, sl->p, i);
        } else if (wd != 0) {
            d = d + wd * p;
        }
        tg_optim_st(dt, m_buf, i, tg_optim_ld(dt, m_buf, i) * b1 + (1 - b1) * d);
        tg_optim_st(dt, v_buf, i, tg_optim_ld(dt, v_buf, i) * b2 + (1 - b2) * d * d);
        double v = tg_optim_ld(dt, v_buf, i);
        if (vmax_buf) {
            double vmax = tg_optim_ld(dt, vmax_buf, i);
            /* torch.maximum: NaN wins. */
            if (!(vmax >= v)) vmax = v;
            tg_optim_st(dt, vmax_buf, i, vmax);
            v = vmax;
        }
        double denom = sqrt(v) / bc2_sqrt + eps;
        tg_optim_st(dt, sl->p, i, p - step_size * tg_optim_ld(dt, m_buf, i) / denom);
    }
}

static void adam_update(const tg_optim *o, const tg_optim_slot *sl, double t, double lr) {
    const tg_adam_options *h = &o->opt.adam;
    double bias_correction1 = 1 - pow(h->beta1, t);
    double bias_correction2 = 1 - pow(h->beta2, t);
    double step_size = lr / bias_correction1;
    double bc2_sqrt = sqrt(bias_correction2);
    if (sl->dtype == TG_F32) {
        optim_adam_f32 k = {.weight_decay = (float)h->weight_decay,
                            .decoupled_factor = (float)(1 - lr * h->weight_decay),
                            .beta1 = (float)h->beta1,
                            .one_minus_beta1 = (float)(1 - h->beta1),
                            .beta2 = (float)h->beta2,
                            .one_minus_beta2 = (float)(1 - h->beta2),
                            .bias_correction2_sqrt = (float)bc2_sqrt,
                            .eps = (float)h->eps,
                            .neg_step_size = (float)-step_size,
                            .has_weight_decay = h->weight_decay != 0,
                            .decoupled = o->decoupled_decay};
        optim_adam_f32_update(&k, sl->n, sl->p, sl->g, sl->s[0], sl->s[1],
                              h->amsgrad ? sl->s[2] : NULL);
    } else {
        adam_loop(o, sl, lr, step_size, bc2_sqrt);
    }
}

static tg_optim *make(tg_store *s, const tg_adam_options *o, const char *algo, bool decoupled,
                      tg_error *err) {
    if (!o) {
        tg_error_set(err, TG_ERR_NULL, "tg_optim_%s: the options are NULL (see tg_%s_defaults)",
                     algo, algo);
        return NULL;
    }
    if (tg_optim_check_min(algo, "lr", o->lr, 0, err) ||
        tg_optim_check_min(algo, "eps", o->eps, 0, err) ||
        tg_optim_check_min(algo, "weight_decay", o->weight_decay, 0, err))
        return NULL;
    if (!(o->beta1 >= 0 && o->beta1 < 1) || !(o->beta2 >= 0 && o->beta2 < 1)) {
        tg_error_set(err, TG_ERR_ARG, "tg_optim_%s: betas are (%g, %g); each must be in [0, 1)",
                     algo, o->beta1, o->beta2);
        return NULL;
    }
    static const char *const names[] = {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"};
    static const double init[] = {0, 0, 0};
    tg_optim *opt = tg_optim_make(s, algo, adam_update, o->lr, o->prefix, o->params,
                                  o->amsgrad ? 3 : 2, names, init, err);
    if (opt) {
        opt->opt.adam = *o;
        opt->opt.adam.prefix = opt->opt.adam.params = NULL; /* the caller's strings */
        opt->decoupled_decay = decoupled;
    }
    return opt;
}

tg_optim *tg_optim_adam(tg_store *s, const tg_adam_options *o, tg_error *err) {
    return make(s, o, "adam", false, err);
}

tg_optim *tg_optim_adamw(tg_store *s, const tg_adam_options *o, tg_error *err) {
    return make(s, o, "adamw", true, err);
}
