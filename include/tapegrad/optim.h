/* tapegrad/optim.h: optimisers that update a store's parameters from their gradients, learning-
 * rate schedules, and gradient clipping.
 *
 * An optimiser is made over a tg_store and, at each tg_optim_step, updates every parameter it
 * covers from the gradient the last backward pass accumulated, with torch.optim's formulas (the
 * tests compare against PyTorch to 1e-12 in f64 and 1e-6 in f32). Updates are never recorded on
 * a tape; they are vector loops in the parameters' own precision that give the same bits at
 * every CPU level and on any number of threads.
 *
 * All of an optimiser's state lives in the store as buffers, so a checkpoint of the store saves
 * and restores it and a resumed run continues bit for bit. With prefix P (default "optim"):
 *   P.step                 f64 scalar, the number of steps taken
 *   P.lr                   f64 scalar, the learning rate the next step uses
 *   P.<state>/<param>      one per parameter and state, the parameter's dtype and shape, under
 *                          torch's state names: momentum_buffer (SGD, RMSprop), sum (Adagrad),
 *                          square_avg, grad_avg (RMSprop), exp_avg, exp_avg_sq, max_exp_avg_sq
 *                          (Adam, AdamW).
 * Store names hold at most 63 bytes; an optimiser whose state name would be longer is not made
 * (TG_ERR_ARG naming it): choose a shorter prefix. Two optimisers over one store need different
 * prefixes. The buffers are made when the optimiser is, so the usual order to resume is: build
 * the model, make the optimiser, then load the checkpoint into the store.
 *
 *     tg_adam_options ao = tg_adam_defaults(1e-3);
 *     tg_error err = {0};
 *     tg_optim *opt = tg_optim_adam(store, &ao, &err);     // NULL, err set, on bad options
 *     tg_lr_schedule cos = {.kind = TG_LR_COSINE, .base_lr = 1e-3, .t_max = n_epochs};
 *     for (int epoch = 0; epoch < n_epochs; epoch++) {
 *         tg_optim_schedule(opt, &cos, epoch, &err);
 *         for (int b = 0; b < n_batches; b++) {
 *             tg_store_zero_grad(store);
 *             tg_tensor *loss = forward(tape, b);            // the model's ops
 *             tg_tape_backward(tape, loss, NULL, 0);
 *             tg_clip_grad_norm(store, 1.0, 2.0, false, NULL, &err);
 *             if (tg_optim_step(opt, &err) != TG_OK) fprintf(stderr, "%s\n", err.message);
 *             tg_tape_reset(tape);
 *         }
 *     }
 *     tg_optim_free(opt);
 */
#ifndef TAPEGRAD_OPTIM_H
#define TAPEGRAD_OPTIM_H

#include "tapegrad/tape.h"

#ifdef __cplusplus
extern "C" {
#endif

TG_PUBLIC_BEGIN

typedef struct tg_optim tg_optim; /* opaque */

/* Every options struct ends with these two fields:
 *   prefix  the first part of the state buffers' names; NULL means "optim".
 *   params  the optimiser covers the store's parameters whose names start with this (a layer,
 *           "gen." for a GAN's generator); NULL or "" covers all of them. It covers those that
 *           exist when it is made. */

/* SGD as torch.optim.SGD: with weight decay wd, momentum mu, dampening d,
 *   g += wd p;  b = g at the first step, else b = mu b + (1 - d) g;
 *   g = nesterov ? g + mu b : b (when mu != 0);  p -= lr g.
 * Nesterov needs mu > 0 and d = 0. */
typedef struct tg_sgd_options {
    double lr, momentum, dampening, weight_decay;
    bool nesterov;
    const char *prefix, *params;
} tg_sgd_options;

/* Adagrad as torch.optim.Adagrad: g += wd p; sum += g^2 (sum starts at
 * initial_accumulator_value); p -= lr / (1 + (t - 1) lr_decay) * g / (sqrt(sum) + eps). */
typedef struct tg_adagrad_options {
    double lr, lr_decay, weight_decay, initial_accumulator_value, eps;
    const char *prefix, *params;
} tg_adagrad_options;

/* RMSprop as torch.optim.RMSprop: g += wd p; v = alpha v + (1 - alpha) g^2; centered: a =
 * alpha a + (1 - alpha) g and the denominator is sqrt(v - a^2) + eps, else sqrt(v) + eps; with
 * momentum mu > 0: b = mu b + g / denominator, p -= lr b; else p -= lr g / denominator. */
typedef struct tg_rmsprop_options {
    double lr, alpha, eps, weight_decay, momentum;
    bool centered;
    const char *prefix, *params;
} tg_rmsprop_options;

/* Adam as torch.optim.Adam and AdamW as torch.optim.AdamW, at step t:
 *   Adam: g += wd p;   AdamW: p *= 1 - lr wd (decoupled decay);
 *   m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;  amsgrad: vmax = max(vmax, v), used for v;
 *   p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps).
 * Both betas are in [0, 1). */
typedef struct tg_adam_options {
    double lr, beta1, beta2, eps, weight_decay;
    bool amsgrad;
    const char *prefix, *params;
} tg_adam_options;

/* PyTorch's defaults with the given learning rate: SGD all zero; Adagrad eps 1e-10; RMSprop
 * alpha 0.99, eps 1e-8; Adam betas (0.9, 0.999), eps 1e-8; AdamW the same with weight decay
 * 0.01. Change fields after, e.g. `o.momentum = 0.9`. */
tg_sgd_options tg_sgd_defaults(double lr);
tg_adagrad_options tg_adagrad_defaults(double lr);
tg_rmsprop_options tg_rmsprop_defaults(double lr);
tg_adam_options tg_adam_defaults(double lr);
tg_adam_options tg_adamw_defaults(double lr);

/* Makes an optimiser over the parameters of s (see `params` above) and its state buffers in s.
 * The optimiser is owned by the caller (tg_optim_free); s must outlive it. NULL with *err set
 * when s or o is NULL (TG_ERR_NULL), an option is out of range, no parameter matches, a state
 * name is too long or already in the store (TG_ERR_ARG; the store is left as it was), or
 * memory runs out (TG_ERR_NOMEM; buffers made so far stay in the store). */
tg_optim *tg_optim_sgd(tg_store *s, const tg_sgd_options *o, tg_error *err);
tg_optim *tg_optim_adagrad(tg_store *s, const tg_adagrad_options *o, tg_error *err);
tg_optim *tg_optim_rmsprop(tg_store *s, const tg_rmsprop_options *o, tg_error *err);
tg_optim *tg_optim_adam(tg_store *s, const tg_adam_options *o, tg_error *err);
tg_optim *tg_optim_adamw(tg_store *s, const tg_adam_options *o, tg_error *err);

/* Frees the optimiser; its buffers stay in the store. NULL is a no-op. */
void tg_optim_free(tg_optim *o);

/* Updates every covered parameter in place from its gradient and counts the step. Gradients
 * are read, never changed. TG_ERR_NULL for a NULL optimiser. With skip_nonfinite on (below),
 * TG_ERR_NONFINITE when some covered gradient holds NaN or Inf. */
tg_status tg_optim_step(tg_optim *o, tg_error *err);

/* One covered parameter's elements [lo, lo + n) in its flat (contiguous) order. */
typedef struct tg_optim_part {
    const tg_tensor *param;
    int64_t lo, n;
} tg_optim_part;

/* A step over parts of parameters: what a data-parallel group that divides the optimiser step
 * among its ranks runs on each rank (tapegrad/dist.h, TG_DIST_SHARD_ON). Updates only the
 * elements the n_parts parts name, with the formulas, state and step number tg_optim_step
 * would use, so a step over parts that together cover every element once leaves the same bits
 * as tg_optim_step; then counts the step. Elements outside the parts, and their state, are not
 * read or written. With skip_nonfinite on, only the parts' gradients are scanned. TG_ERR_ARG
 * (nothing updated) for a part of a parameter the optimiser does not cover or outside its
 * parameter, TG_ERR_NULL for NULL arguments (parts may be NULL when n_parts is 0). */
tg_status tg_optim_step_parts(tg_optim *o, int n_parts, const tg_optim_part *parts,
                              tg_error *err);

/* State buffers per covered parameter (0 for plain SGD, 3 for AMSGrad), and covered parameter
 * i's k-th one, the store buffer "<prefix>.<state>/<param>" (NULL out of range). */
int tg_optim_n_state(const tg_optim *o);
tg_tensor *tg_optim_state(const tg_optim *o, int i, int k);

/* Refusing non-finite gradients: off for a new optimiser. On, tg_optim_step first scans every
 * covered gradient and, if any element is NaN or infinite, returns TG_ERR_NONFINITE with *err
 * naming the parameter and the counts, leaving every parameter, every state buffer, the step
 * count and the learning rate exactly as they were (so one bad batch cannot write NaN into the
 * weights and the moments). The caller decides what follows: zero the gradients and go on
 * with the next batch, lower the learning rate, or stop. The scan reads each gradient once.
 * Returns the previous setting (false for NULL). */
bool tg_optim_set_skip_nonfinite(tg_optim *o, bool on);
bool tg_optim_skip_nonfinite(const tg_optim *o);
/* Steps this optimiser has refused so far (0 for NULL); not saved in the store. */
int64_t tg_optim_n_refused(const tg_optim *o);

/* Sets every covered parameter's gradient to zero (for optimisers over part of a store). */
void tg_optim_zero_grad(tg_optim *o);

/* The learning rate the next step uses (NaN for NULL), and setting it: TG_ERR_ARG unless
 * lr >= 0 and finite. */
double tg_optim_lr(const tg_optim *o);
tg_status tg_optim_set_lr(tg_optim *o, double lr, tg_error *err);

/* Steps taken (as kept in the store, so a loaded checkpoint sets it); 0 for NULL. */
int64_t tg_optim_steps(const tg_optim *o);

/* Number of parameters the optimiser covers, and the i-th of them (NULL out of range). */
int tg_optim_n_params(const tg_optim *o);
tg_tensor *tg_optim_param(const tg_optim *o, int i);

/* ---- learning-rate schedules ----
 * Closed forms of torch.optim.lr_scheduler as pure functions of the epoch (0 is the first,
 * when torch gives base_lr, or the warm-up's first value). "Epoch" is whatever the caller counts:
 * epochs or steps. Invalid arguments give NaN. */

/* StepLR: base_lr * gamma^floor(epoch / step_size); step_size >= 1. */
double tg_lr_step(double base_lr, int64_t epoch, int64_t step_size, double gamma);
/* ExponentialLR: base_lr * gamma^epoch. */
double tg_lr_exponential(double base_lr, int64_t epoch, double gamma);
/* CosineAnnealingLR: eta_min + (base_lr - eta_min) (1 + cos(pi epoch / t_max)) / 2; t_max >= 1.
 * Past t_max it climbs back, as torch's does. */
double tg_lr_cosine(double base_lr, int64_t epoch, int64_t t_max, double eta_min);
/* LinearLR to factor 1: base_lr * (s + (1 - s) min(epoch, warmup_steps) / warmup_steps), with
 * start factor s in [0, 1] and warmup_steps >= 1. */
double tg_lr_linear_warmup(double base_lr, int64_t epoch, int64_t warmup_steps,
                           double start_factor);

/* One schedule as data, optionally preceded by a linear warm-up: with warmup_steps > 0, epochs
 * below it follow tg_lr_linear_warmup and epoch e >= warmup_steps follows the main schedule at
 * e - warmup_steps (torch's SequentialLR([LinearLR, main], milestones=[warmup_steps])). */
typedef enum tg_lr_kind {
    TG_LR_CONSTANT = 0, /* base_lr */
    TG_LR_STEP,         /* step_size, gamma */
    TG_LR_EXPONENTIAL,  /* gamma */
    TG_LR_COSINE        /* t_max, eta_min */
} tg_lr_kind;

typedef struct tg_lr_schedule {
    tg_lr_kind kind;
    double base_lr;
    int64_t step_size;
    double gamma;
    int64_t t_max;
    double eta_min;
    int64_t warmup_steps;       /* 0: no warm-up */
    double warmup_start_factor; /* the warm-up's first factor, in [0, 1] */
} tg_lr_schedule;

/* The schedule's lr at `epoch` (>= 0); NaN when the schedule is invalid. */
double tg_lr_at(const tg_lr_schedule *sched, int64_t epoch);
/* Sets o's lr to tg_lr_at(sched, epoch); TG_ERR_ARG (lr unchanged) when that is not a valid
 * learning rate, TG_ERR_NULL for NULL arguments. */
tg_status tg_optim_schedule(tg_optim *o, const tg_lr_schedule *sched, int64_t epoch, tg_error *err);

/* ---- gradient clipping ---- */

/* As torch.nn.utils.clip_grad_norm_ over every parameter gradient in s: the total norm of
 * order norm_type (> 0, or INFINITY for the largest |g|) of all gradients seen as one vector;
 * when it exceeds max_norm every gradient is scaled by max_norm / (total + 1e-6). The total is
 * written to *total_norm (may be NULL). When it is NaN or infinite the gradients are left as
 * they are (torch would scale them by NaN or 0) so the caller can skip the step; with
 * error_if_nonfinite that also returns TG_ERR_ARG. TG_ERR_ARG for max_norm < 0 or a bad
 * norm_type, TG_ERR_NULL for a NULL store. */
tg_status tg_clip_grad_norm(tg_store *s, double max_norm, double norm_type, bool error_if_nonfinite,
                            double *total_norm, tg_error *err);

/* As torch.nn.utils.clip_grad_value_: clamps every gradient element of s to [-v, v] (NaN stays
 * NaN). TG_ERR_ARG unless v >= 0. */
tg_status tg_clip_grad_value(tg_store *s, double v, tg_error *err);

TG_PUBLIC_END

#ifdef __cplusplus
}
#endif
#endif
