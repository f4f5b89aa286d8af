/* rmsprop.c: RMSprop, plain or centered, with momentum and weight decay, step for step as
 * torch.optim.RMSprop (see tapegrad/optim.h for the formulas).
 *
 * Invariant: the state buffers are, in order, square_avg, then momentum_buffer when momentum >
 * 0, then grad_avg when centered; buffers start at zero, as torch's do. */
#include <math.h>

#include "optim_impl.h"

tg_rmsprop_options tg_rmsprop_defaults(double lr) {
    return (tg_rmsprop_options){.lr = lr, .alpha = 0.99, .eps = 1e-8};
}

static void rmsprop_prepare(const tg_optim *o, double t, double lr, tg_optim_args *args) {
    (void)t; /* RMSprop has no bias correction: the step count is only kept */
    const tg_rmsprop_options *h = &o->opt.rmsprop;
    args->rmsprop = (optim_rmsprop_args){.weight_decay = h->weight_decay,
                                         .alpha = h->alpha,
                                         .one_minus_alpha = 1 - h->alpha,
                                         .momentum = h->momentum,
                                         .eps = h->eps,
                                         .neg_lr = -lr,
                                         .has_weight_decay = h->weight_decay != 0};
}

static void rmsprop_update(const tg_optim *o, const tg_optim_slot *sl, const tg_optim_args *args) {
    const tg_rmsprop_options *h = &o->opt.rmsprop;
    void *mom = h->momentum > 0 ? sl->s[1] : NULL;
    void *avg = h->centered ? sl->s[h->momentum > 0 ? 2 : 1] : NULL;
    optim_rmsprop_update(&args->rmsprop, sl->dtype, sl->n, sl->p, sl->g, sl->s[0], mom, avg);
}

tg_optim *tg_optim_rmsprop(tg_store *s, const tg_rmsprop_options *o, tg_error *err) {
    if (!o) {
        tg_error_set(err, TG_ERR_NULL,
                     "tg_optim_rmsprop: the options are NULL (see tg_rmsprop_defaults)");
        return NULL;
    }
    if (tg_optim_check_min("rmsprop", "lr", o->lr, 0, err) ||
        tg_optim_check_min("rmsprop", "alpha", o->alpha, 0, err) ||
        tg_optim_check_min("rmsprop", "eps", o->eps, 0, err) ||
        tg_optim_check_min("rmsprop", "weight_decay", o->weight_decay, 0, err) ||
        tg_optim_check_min("rmsprop", "momentum", o->momentum, 0, err))
        return NULL;
    if (o->alpha > 1) {
        tg_error_set(err, TG_ERR_ARG, "tg_optim_rmsprop: alpha is %g; it must be in [0, 1]",
                     o->alpha);
        return NULL;
    }
    const char *names[TG_OPTIM_MAX_STATE] = {"square_avg"};
    const double init[TG_OPTIM_MAX_STATE] = {0};
    int n = 1;
    if (o->momentum > 0) names[n++] = "momentum_buffer";
    if (o->centered) names[n++] = "grad_avg";
    tg_optim *opt = tg_optim_make(s, "rmsprop", rmsprop_prepare, rmsprop_update, o->lr, o->prefix,
                                  o->params, n, names, init, err);
    if (opt) {
        opt->opt.rmsprop = *o;
        opt->opt.rmsprop.prefix = opt->opt.rmsprop.params = NULL; /* the caller's strings */
    }
    return opt;
}
