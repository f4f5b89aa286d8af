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

static void adagrad_prepare(const tg_optim *o, double t, double lr, tg_optim_args *args) {
    const tg_adagrad_options *h = &o->opt.adagrad;
    double clr = lr / (1 + (t - 1) * h->lr_decay);
    args->adagrad = (optim_adagrad_args){.weight_decay = h->weight_decay,
                                         .eps = h->eps,
                                         .neg_clr = -clr,
                                         .has_weight_decay = h->weight_decay != 0};
}

static void adagrad_update(const tg_optim *o, const tg_optim_slot *sl, const tg_optim_args *args) {
    (void)o;
    optim_adagrad_update(&args->adagrad, sl->dtype, sl->n, sl->p, sl->g, sl->s[0]);
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
    tg_optim *opt = tg_optim_make(s, "adagrad", adagrad_prepare, adagrad_update, o->lr, o->prefix,
                                  o->params, 1, names, init, err);
    if (opt) {
        opt->opt.adagrad = *o;
        opt->opt.adagrad.prefix = opt->opt.adagrad.params = NULL; /* the caller's strings */
    }
    return opt;
}
