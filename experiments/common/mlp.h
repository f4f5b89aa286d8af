/* mlp.h: the fully connected networks the experiments compare: a list of widths (784, 30, 30,
 * 10), one activation after every hidden layer, and an initialiser for the weights and biases;
 * plus the measurements they share: gradient norms, activation statistics, accuracy.
 *
 *     int64_t widths[] = {784, 30, 30, 10};
 *     xp_mlp m;
 *     xp_init_spec init = {.kind = XP_INIT_LECUN, .bias_std = 1.0};
 *     xp_mlp_init(&m, store, widths, 4, XP_ACT_SIGMOID, init, TG_F32, &rng, &err);
 *     tg_tensor *logits = xp_mlp_forward(t, &m, x, NULL);
 *
 * Layer l (from 1) is "fc<l>" in the store, and its forward is recorded under the tape scope
 * "layer<l>", so a DOT picture groups each layer's nodes. */
#ifndef EXPERIMENTS_COMMON_MLP_H
#define EXPERIMENTS_COMMON_MLP_H

#include <stdbool.h>
#include <stdint.h>

#include <tapegrad.h>

#include "classify.h"

#define XP_MAX_LAYERS 24

typedef enum xp_act {
    XP_ACT_SIGMOID = 0,
    XP_ACT_TANH,
    XP_ACT_RELU,
    XP_ACT_LEAKY_RELU, /* negative slope 0.01 */
    XP_ACT_LINEAR,
    XP_ACT_GELU,
    XP_ACT_ELU, /* alpha 1 */
    XP_N_ACTS
} xp_act;

/* "sigmoid", "tanh", "relu", "leaky_relu", "linear", "gelu", "elu"; NULL-terminated, indexed
 * by xp_act, so it doubles as an EX_OPT_CHOICE list. */
extern const char *const xp_act_names[XP_N_ACTS + 1];

/* y = act(x), recorded on t. */
tg_tensor *xp_activate(tg_tape *t, xp_act act, tg_tensor *x);

typedef enum xp_init {
    XP_INIT_TORCH = 0, /* tg_linear_init's own: uniform(+-1/sqrt(fan_in)), bias likewise */
    XP_INIT_NORMAL,    /* N(0, std^2), whatever the fan */
    XP_INIT_LECUN,     /* N(0, 1/fan_in): the primer's "improved" initialisation */
    XP_INIT_XAVIER,    /* normal, std = sqrt(2 / (fan_in + fan_out)): Glorot's, gain 1 */
    XP_INIT_HE,        /* normal, std = gain / sqrt(fan_in), gain for the activation */
    XP_INIT_ORTHOGONAL /* orthogonal rows or columns times the activation's gain */
} xp_init;

typedef struct xp_init_spec {
    xp_init kind;
    double std;      /* XP_INIT_NORMAL's standard deviation */
    double bias_std; /* biases N(0, bias_std^2); 0 gives zero biases (not for XP_INIT_TORCH) */
} xp_init_spec;

typedef struct xp_mlp {
    int n_layers; /* linear layers: n_widths - 1 */
    tg_linear layer[XP_MAX_LAYERS];
    xp_act act;
} xp_mlp;

/* Creates layers fc1..fc<n_widths-1> in s and initialises them as `init` says, drawing from
 * rng layer by layer (weight, then bias). TG_ERR_ARG for fewer than 2 or more than
 * XP_MAX_LAYERS + 1 widths. */
tg_status xp_mlp_init(xp_mlp *m, tg_store *s, const int64_t *widths, int n_widths, xp_act act,
                      xp_init_spec init, tg_dtype dtype, tg_rng *rng, tg_error *err);

/* Logits (B, widths[last]) from x (B, widths[0]); the output layer has no activation. When
 * `hidden` is not NULL, hidden[l] receives the activation after hidden layer l + 1
 * (n_layers - 1 of them). */
tg_tensor *xp_mlp_forward(tg_tape *t, const xp_mlp *m, tg_tensor *x, tg_tensor **hidden);

/* The 2-norm of a tensor's elements (0 for NULL), accumulated in double. */
double xp_norm(const tg_tensor *x);
/* The population standard deviation of a tensor's elements. */
double xp_std(const tg_tensor *x);
/* The norm of a parameter's gradient (tg_tensor_stats'), NaN or Inf when an element is; 0
 * when it has none. */
double xp_grad_norm(const tg_tensor *param);

/* Test accuracy (%) and mean cross-entropy of m on the first n test images (0: all). */
tg_status xp_mlp_evaluate(const xp_mlp *m, const ex_images *d, int64_t n, tg_dtype dtype,
                          double *accuracy, double *loss, tg_error *err);

#endif
