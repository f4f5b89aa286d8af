/* mlp.c: the experiments' fully connected networks and the statistics they measure.
 *
 * Invariant: a network is a function of (widths, activation, init spec, dtype, rng state):
 * parameters are created and drawn in one fixed order, fc1.weight, fc1.bias, fc2.weight, ... */
#include "mlp.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "xp.h"

const char *const xp_act_names[XP_N_ACTS + 1] = {"sigmoid", "tanh", "relu", "leaky_relu",
                                                 "linear",  "gelu", "elu",  NULL};

#define LEAKY_SLOPE 0.01

tg_tensor *xp_activate(tg_tape *t, xp_act act, tg_tensor *x) {
    switch (act) {
    case XP_ACT_SIGMOID: return tg_sigmoid(t, x);
    case XP_ACT_TANH: return tg_tanh(t, x);
    case XP_ACT_RELU: return tg_relu(t, x);
    case XP_ACT_LEAKY_RELU: return tg_leaky_relu(t, x, LEAKY_SLOPE);
    case XP_ACT_LINEAR: return x;
    case XP_ACT_GELU: return tg_gelu(t, x);
    case XP_ACT_ELU: return tg_elu(t, x, 1.0);
    case XP_N_ACTS: break;
    }
    return NULL;
}

/* The gain torch.nn.init.calculate_gain gives the activation (GELU and ELU borrow ReLU's). */
static double act_gain(xp_act act) {
    switch (act) {
    case XP_ACT_SIGMOID: return tg_init_gain(TG_NONLIN_SIGMOID, 0);
    case XP_ACT_TANH: return tg_init_gain(TG_NONLIN_TANH, 0);
    case XP_ACT_LEAKY_RELU: return tg_init_gain(TG_NONLIN_LEAKY_RELU, LEAKY_SLOPE);
    case XP_ACT_LINEAR: return 1.0;
    case XP_ACT_RELU:
    case XP_ACT_GELU:
    case XP_ACT_ELU:
    case XP_N_ACTS: break;
    }
    return tg_init_gain(TG_NONLIN_RELU, 0);
}

static tg_status init_layer(tg_linear *l, xp_act act, xp_init_spec init, tg_rng *rng,
                            tg_error *err) {
    double fan_in = (double)l->in_features, fan_out = (double)l->out_features;
    tg_status st = TG_OK;
    switch (init.kind) {
    case XP_INIT_TORCH: return TG_OK; /* tg_linear_init already drew them */
    case XP_INIT_NORMAL: st = tg_init_normal(l->weight, rng, 0.0, init.std, err); break;
    case XP_INIT_LECUN: st = tg_init_normal(l->weight, rng, 0.0, 1.0 / sqrt(fan_in), err); break;
    case XP_INIT_XAVIER:
        st = tg_init_normal(l->weight, rng, 0.0, sqrt(2.0 / (fan_in + fan_out)), err);
        break;
    case XP_INIT_HE: st = tg_init_normal(l->weight, rng, 0.0, act_gain(act) / sqrt(fan_in), err); break;
    case XP_INIT_ORTHOGONAL: st = tg_init_orthogonal(l->weight, rng, act_gain(act), err); break;
    }
    if (st != TG_OK) return st;
    if (init.bias_std > 0) return tg_init_normal(l->bias, rng, 0.0, init.bias_std, err);
    return tg_init_zeros(l->bias, err);
}

tg_status xp_mlp_init(xp_mlp *m, tg_store *s, const int64_t *widths, int n_widths, xp_act act,
                      xp_init_spec init, tg_dtype dtype, tg_rng *rng, tg_error *err) {
    if (n_widths < 2 || n_widths > XP_MAX_LAYERS + 1)
        return tg_error_set(err, TG_ERR_ARG, "mlp: %d widths; 2 to %d fit", n_widths,
                            XP_MAX_LAYERS + 1);
    m->n_layers = n_widths - 1;
    m->act = act;
    for (int l = 0; l < m->n_layers; l++) {
        char name[16];
        snprintf(name, sizeof name, "fc%d", l + 1);
        tg_status st = tg_linear_init(&m->layer[l], s, name, widths[l], widths[l + 1], true,
                                      dtype, rng, err);
        if (st == TG_OK) st = init_layer(&m->layer[l], act, init, rng, err);
        if (st != TG_OK) return st;
    }
    return TG_OK;
}

tg_tensor *xp_mlp_forward(tg_tape *t, const xp_mlp *m, tg_tensor *x, tg_tensor **hidden) {
    tg_tensor *h = x;
    for (int l = 0; l < m->n_layers; l++) {
        char scope[16];
        snprintf(scope, sizeof scope, "layer%d", l + 1);
        tg_tape_push_scope(t, scope); /* a DOT picture draws each layer as one cluster */
        h = tg_linear_forward(t, &m->layer[l], h);
        if (l + 1 < m->n_layers) {
            h = xp_activate(t, m->act, h);
            if (hidden) hidden[l] = h;
        }
        tg_tape_pop_scope(t);
    }
    return h;
}

/* The elements as doubles (malloc'd; the caller frees), NULL when empty or out of memory. */
static double *values(const tg_tensor *x, int64_t *n) {
    *n = x ? tg_tensor_numel(x) : 0;
    if (*n <= 0) return NULL;
    double *v = malloc((size_t)*n * sizeof(double));
    if (v && tg_tensor_copy_out(x, TG_F64, v) != TG_OK) {
        free(v);
        v = NULL;
    }
    return v;
}

double xp_norm(const tg_tensor *x) {
    int64_t n;
    double *v = values(x, &n);
    if (!v) return n > 0 ? NAN : 0.0;
    double sum = 0;
    for (int64_t i = 0; i < n; i++) sum += v[i] * v[i];
    free(v);
    return sqrt(sum);
}

double xp_std(const tg_tensor *x) {
    int64_t n;
    double *v = values(x, &n);
    if (!v) return NAN;
    double mean = 0, var = 0;
    for (int64_t i = 0; i < n; i++) mean += v[i];
    mean /= (double)n;
    for (int64_t i = 0; i < n; i++) var += (v[i] - mean) * (v[i] - mean);
    free(v);
    return sqrt(var / (double)n);
}

double xp_grad_norm(const tg_tensor *param) {
    tg_grad_stats st;
    if (tg_tensor_stats(tg_tensor_grad(param), &st) != TG_OK) return 0.0; /* no gradient */
    /* The library's norm leaves non-finite elements out; a lesson must show them. */
    if (st.n_nan > 0) return NAN;
    if (st.n_inf > 0) return INFINITY;
    return st.norm;
}

#define EVAL_BATCH 500

tg_status xp_mlp_evaluate(const xp_mlp *m, const ex_images *d, int64_t n, tg_dtype dtype,
                          double *accuracy, double *loss, tg_error *err) {
    int64_t total = tg_dataset_count(d->test);
    if (n <= 0 || n > total) n = total;
    tg_tape *t = tg_tape_new();
    int64_t *labels = malloc(EVAL_BATCH * sizeof(int64_t));
    if (!t || !labels) {
        tg_tape_free(t);
        free(labels);
        return tg_error_set(err, TG_ERR_NOMEM, "evaluate: out of memory");
    }
    tg_tape_set_grad_enabled(t, false);
    int64_t correct = 0;
    double loss_sum = 0;
    tg_status st = TG_OK;
    for (int64_t first = 0; first < n && st == TG_OK; first += EVAL_BATCH) {
        int64_t b = n - first < EVAL_BATCH ? n - first : EVAL_BATCH;
        tg_tensor *x = xp_image_batch(t, d, true, first, b, dtype, labels);
        tg_tensor *logits = xp_mlp_forward(t, m, x, NULL);
        tg_tensor *ce = tg_cross_entropy(t, logits, labels, 0.0, TG_REDUCE_SUM);
        if (!ce) {
            st = tg_error_set(err, tg_tape_status(t), "evaluate: %s", tg_tape_error(t));
            break;
        }
        loss_sum += tg_tensor_item(ce);
        int64_t c = tg_tensor_dim(logits, 1);
        for (int64_t i = 0; i < b; i++) {
            int64_t best = 0;
            for (int64_t k = 1; k < c; k++)
                if (tg_tensor_get(logits, i * c + k) > tg_tensor_get(logits, i * c + best)) best = k;
            correct += best == labels[i];
        }
        tg_tape_reset(t);
    }
    if (st == TG_OK) {
        *accuracy = 100.0 * (double)correct / (double)n;
        *loss = loss_sum / (double)n;
    }
    tg_tape_free(t);
    free(labels);
    return st;
}
