/* adagrad.c: Adagrad with learning-rate decay, weight decay and an initial accumulator value,
 * step for step as torch.optim.Adagrad (see tapegrad/optim.h for the formulas).
 *
 * Invariant: the sum of squared gradients only grows, from initial_accumulator_value, so the
 * denominator sqrt(sum) + eps is positive whenever eps > 0 or a gradient was non-zero. */
#include <math.h>

#include "optim_impl.h"

tg_adagrad_options tg_adagrad_defaults(double lr) {
    return (tg_adagrad_options){.lr = lr, .eps = 1e-10};
}

/* The f64 update (f32 goes through optim_adagrad_f32_update). */
static void adagrad_loop(const tg_adagrad_options *h, const tg_optim_slot *sl, double clr) {
    const tg_dtype dt = TG_F64;
    const double wd = h->weight_decay, eps = h->eps;
    for (int64_t i = 0; i < sl->n; i++) {
        double p = tg_optim_ld(dt, sl->p, i);
        double d = tg_optim_ld(dt, sl->g, i);
        if (wd != 0) d = d + wd * p;
        double sum = tg_optim_ld(dt, sl->s[0], i) + d * d;
        tg_optim_st(dt, sl->s[0], i, sum);
        double std = sqrt(tg_optim_ld(dt, sl->s[0], i)) + eps;
        tg_optim_st(dt, sl->p, i, p - clr * d / std);
    }
}

static void adagrad_update(const tg_optim *o, const tg_optim_slot *sl, double t, double lr) {
    const tg_adagrad_options *h = &o->opt.adagrad;
    double clr = lr / (1 + (t - 1) * h->lr_decay);
    if (sl->dtype == TG_F32) {
        optim_adagrad_f32 k = {.weight_decay = (float)h->weight_decay,
                               .eps = (float)h->eps,
                               .neg_clr = (float)-clr,
                               .has_weight_decay = h->weight_decay != 0};
        optim_adagrad_f32_update(&k, sl->n, sl->p, sl->g, sl->s[0]);
    } else {
        adagrad_loop(h, sl, clr);
    }
}

tg_optim *tg_optim_adagrad(tg_store *s, const tg_adagrad_options *o, tg_error *err) {
    if (!o) {
        tg_error_set(err, TG_ERR_NULL,
                     "tg_optim_adagrad: the options are NULL (see tg_adagrad_defaults)");
        return NULL;
    }
    if (tg_optim_check_min("adagrad", "lr", o->lr, 0, err) ||
        tg_optim_check_min("adagrad", "lr_decay", o->lr_decay, 0, err) ||
        tg_optim_check_min("adagrad", "weight_decay", o->weight_decay, 0, err) ||
        tg_optim_check_min("adagrad", "initial_accumulator_value", o->initial_accumulator_value, 0,
                           err) ||
        tg_optim_check_min("adagrad", "eps", o->eps, 0, err))
        return NULL;
    static const char *const names[] = {"sum"};
    const double init[] = {o->initial_accumulator_value};
    tg_optim *opt = tg_optim_make(s, "adagrad", adagrad_update, o->lr, o->prefix, o->params, 1,
                                  names, init, err);
    if (opt) {
        opt->opt.adagrad = *o;
        opt->opt.adagrad.prefix = opt->opt.adagrad.params = NULL; /* the caller's strings */
    }
    return opt;
}
