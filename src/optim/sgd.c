/* sgd.c: stochastic gradient descent with momentum, dampening, Nesterov momentum and weight
 * decay, step for step as torch.optim.SGD (see tapegrad/optim.h for the formulas).
 *
 * Invariant: the momentum buffer is taken to be empty exactly at step 1 (torch starts it as a
 * copy of the first gradient, without dampening), which the stored step count tells even after
 * a checkpoint is loaded. */
#include <math.h>

#include "optim_impl.h"

tg_sgd_options tg_sgd_defaults(double lr) { return (tg_sgd_options){.lr = lr}; }

static void sgd_prepare(const tg_optim *o, double t, double lr, tg_optim_args *args) {
    const tg_sgd_options *h = &o->opt.sgd;
    args->sgd = (optim_sgd_args){.weight_decay = h->weight_decay,
                                 .momentum = h->momentum,
                                 .one_minus_dampening = 1 - h->dampening,
                                 .neg_lr = -lr,
                                 .has_weight_decay = h->weight_decay != 0,
                                 .nesterov = h->nesterov,
                                 .first_step = t == 1};
}

static void sgd_update(const tg_optim *o, const tg_optim_slot *sl, const tg_optim_args *args) {
    optim_sgd_update(&args->sgd, sl->dtype, sl->n, sl->p, sl->g,
                     o->opt.sgd.momentum != 0 ? sl->s[0] : NULL);
}

tg_optim *tg_optim_sgd(tg_store *s, const tg_sgd_options *o, tg_error *err) {
    if (!o) {
        tg_error_set(err, TG_ERR_NULL, "tg_optim_sgd: the options are NULL (see tg_sgd_defaults)");
        return NULL;
    }
    if (tg_optim_check_min("sgd", "lr", o->lr, 0, err) ||
        tg_optim_check_min("sgd", "momentum", o->momentum, 0, err) ||
        tg_optim_check_min("sgd", "weight_decay", o->weight_decay, 0, err) ||
        tg_optim_check_min("sgd", "dampening", o->dampening, -INFINITY, err))
        return NULL;
    if (o->nesterov && (o->momentum <= 0 || o->dampening != 0)) {
        tg_error_set(err, TG_ERR_ARG,
                     "tg_optim_sgd: Nesterov momentum needs momentum > 0 and dampening 0 (got "
                     "momentum %g, dampening %g)",
                     o->momentum, o->dampening);
        return NULL;
    }
    static const char *const names[] = {"momentum_buffer"};
    static const double init[] = {0};
    tg_optim *opt = tg_optim_make(s, "sgd", sgd_prepare, sgd_update, o->lr, o->prefix, o->params,
                                  o->momentum != 0 ? 1 : 0, names, init, err);
    if (opt) {
        opt->opt.sgd = *o;
        opt->opt.sgd.prefix = opt->opt.sgd.params = NULL; /* the caller's strings */
    }
    return opt;
}
