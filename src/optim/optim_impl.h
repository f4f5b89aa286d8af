/* optim_impl.h: what the optimiser files share: the object's layout, the common constructor and
 * the element access the update loops use. Private to src/optim.
 *
 * Invariant: everything an update reads or writes besides the fixed options (parameters, their
 * gradients, per-parameter state, the step count, the learning rate) is a tensor in the store,
 * so saving the store saves the optimiser. */
#ifndef TG_OPTIM_IMPL_H
#define TG_OPTIM_IMPL_H

#include "tapegrad.h"
#include "tapegrad/optim.h"

#define TG_OPTIM_MAX_STATE 3

/* One parameter's flat data for an update: n elements of `dtype`, all contiguous; s[k] is the
 * k-th state buffer the algorithm asked for, NULL for unused slots. */
typedef struct tg_optim_slot {
    tg_dtype dtype;
    int64_t n;
    void *p;
    const void *g;
    void *s[TG_OPTIM_MAX_STATE];
} tg_optim_slot;

/* The updates, f32 and f64, vectorised for each instruction set (update_simd.c). Each takes its
 * hyper-parameters in double, in the form the loop uses (the loop rounds them to the element
 * type once), and updates n contiguous elements of type dt; state pointers that an option
 * leaves unused are NULL. They give the same bits at every CPU level. */
typedef struct optim_sgd_args {
    double weight_decay, momentum, one_minus_dampening, neg_lr;
    bool has_weight_decay, nesterov, first_step;
} optim_sgd_args;
typedef struct optim_adagrad_args {
    double weight_decay, eps, neg_clr;
    bool has_weight_decay;
} optim_adagrad_args;
typedef struct optim_rmsprop_args {
    double weight_decay, alpha, one_minus_alpha, momentum, eps, neg_lr;
    bool has_weight_decay;
} optim_rmsprop_args;
/* Adam's bias corrections are folded into two constants: with step size lr / (1 - beta1^t) and
 * c = sqrt(1 - beta2^t), neg_step_scaled = -step size * c and eps_scaled = eps * c. */
typedef struct optim_adam_args {
    double weight_decay, decoupled_factor, beta1, one_minus_beta1, beta2, one_minus_beta2,
        eps_scaled, neg_step_scaled;
    bool has_weight_decay, decoupled;
} optim_adam_args;

/* The step's constants of whichever algorithm, computed once per step (bias corrections, the
 * learning rate's terms) before any parameter is updated. */
typedef union tg_optim_args {
    optim_sgd_args sgd;
    optim_adagrad_args adagrad;
    optim_rmsprop_args rmsprop;
    optim_adam_args adam;
} tg_optim_args;

/* Fills *args for step t (1 for the first step) with learning rate lr. */
typedef void (*tg_optim_prepare_fn)(const tg_optim *o, double t, double lr, tg_optim_args *args);
/* Updates one parameter's slot with the step's constants. */
typedef void (*tg_optim_update_fn)(const tg_optim *o, const tg_optim_slot *slot,
                                   const tg_optim_args *args);

struct tg_optim {
    const char *algo; /* "SGD", "Adam" ... for messages */
    tg_optim_prepare_fn prepare;
    tg_optim_update_fn update;
    union {
        tg_sgd_options sgd;
        tg_adagrad_options adagrad;
        tg_rmsprop_options rmsprop;
        tg_adam_options adam;
    } opt; /* the options as given; prefix and params are not kept (the caller owns them) */
    bool decoupled_decay; /* AdamW */
    tg_store *store;
    char prefix[64];
    int n_params;
    int n_state;
    tg_tensor **params;
    tg_tensor **state; /* n_params * n_state: state[i * n_state + k] */
    tg_tensor *step;   /* f64 scalar buffers in the store */
    tg_tensor *lr;
    bool skip_nonfinite; /* refuse a step whose gradients hold NaN/Inf (a setting, not state) */
    int64_t n_refused;   /* steps refused so far by this object */
};

/* Makes an optimiser over s's parameters whose names start with `params` (all when NULL or ""),
 * with n_state state buffers per parameter called "<prefix>.<state_names[k]>/<param>" and
 * filled with state_init[k], plus "<prefix>.step" = 0 and "<prefix>.lr" = lr. Checks every
 * name before making anything, so a refusal leaves the store as it was. NULL with *err set on
 * failure; `algo` names the optimiser in messages. */
tg_optim *tg_optim_make(tg_store *s, const char *algo, tg_optim_prepare_fn prepare,
                        tg_optim_update_fn update, double lr, const char *prefix,
                        const char *params, int n_state, const char *const *state_names,
                        const double *state_init, tg_error *err);

/* Shared validation: TG_OK when x is finite and >= lo, else TG_ERR_ARG with a message naming
 * the optimiser and the option. */
tg_status tg_optim_check_min(const char *algo, const char *option, double x, double lo,
                             tg_error *err);

/* Element i of f32 or f64 data as a double, and storing a double into it (rounded for f32),
 * for the clipping code (the updates have their own vector loops, update_simd.c). */
static inline double tg_optim_ld(tg_dtype dt, const void *base, int64_t i) {
    return dt == TG_F32 ? (double)((const float *)base)[i] : ((const double *)base)[i];
}
static inline void tg_optim_st(tg_dtype dt, void *base, int64_t i, double v) {
    if (dt == TG_F32)
        ((float *)base)[i] = (float)v;
    else
        ((double *)base)[i] = v;
}

void optim_sgd_update(const optim_sgd_args *k, tg_dtype dt, int64_t n, void *p, const void *g,
                      void *buf);
void optim_adagrad_update(const optim_adagrad_args *k, tg_dtype dt, int64_t n, void *p,
                          const void *g, void *sum);
void optim_rmsprop_update(const optim_rmsprop_args *k, tg_dtype dt, int64_t n, void *p,
                          const void *g, void *sq, void *mom, void *avg);
void optim_adam_update(const optim_adam_args *k, tg_dtype dt, int64_t n, void *p, const void *g,
                       void *m, void *v, void *vmax);

/* Whether n elements of f32 or f64 data hold a NaN or an infinity (one vector pass). */
bool optim_has_nonfinite(tg_dtype dt, int64_t n, const void *g);

#endif
