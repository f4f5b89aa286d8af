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

/* The step's constants, with the bias corrections folded in (optim_impl.h). */
static void adam_prepare(const tg_optim *o, double t, double lr, tg_optim_args *args) {
    const tg_adam_options *h = &o->opt.adam;
    double step_size = lr / (1 - pow(h->beta1, t));
    double bc2_sqrt = sqrt(1 - pow(h->beta2, t));
    args->adam = (optim_adam_args){.weight_decay = h->weight_decay,
                                   .decoupled_factor = 1 - lr * h->weight_decay,
                                   .beta1 = h->beta1,
                                   .one_minus_beta1 = 1 - h->beta1,
                                   .beta2 = h->beta2,
                                   .one_minus_beta2 = 1 - h->beta2,
                                   .eps_scaled = h->eps * bc2_sqrt,
                                   .neg_step_scaled = -step_size * bc2_sqrt,
                                   .has_weight_decay = h->weight_decay != 0,
                                   .decoupled = o->decoupled_decay};
}

static void adam_update(const tg_optim *o, const tg_optim_slot *sl, const tg_optim_args *args) {
    optim_adam_update(&args->adam, sl->dtype, sl->n, sl->p, sl->g, sl->s[0], sl->s[1],
                      o->opt.adam.amsgrad ? sl->s[2] : NULL);
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
    tg_optim *opt = tg_optim_make(s, algo, adam_prepare, adam_update, o->lr, o->prefix, o->params,
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
