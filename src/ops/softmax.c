/* softmax.c: softmax and log_softmax along one axis.
 *
 *   softmax      y_i = e^(x_i - m) / sum_j e^(x_j - m),   m = max_j x_j
 *                dL/dx_i = y_i (g_i - sum_j g_j y_j)
 *   log_softmax  y_i = (x_i - m) - ln sum_j e^(x_j - m)
 *                dL/dx_i = g_i - e^(y_i) sum_j g_j
 *
 * Subtracting the row maximum (kern_softmax) makes every exponent <= 0 and the sum >= 1, so the
 * results are finite and exact for inputs as large as +-1000: log_softmax of (-1000, 1000) is
 * exactly (-2000, 0). The rules are made of ops on the output y, so they differentiate again.
 * Node attribute: iattr[0] = the (normalised) axis. */
#include <stdio.h>

#include "op_util.h"

extern const tg_op_desc tg_op_softmax, tg_op_log_softmax;

static void describe_axis(const tg_node *n, char *buf, size_t size) {
    snprintf(buf, size, "axis=%d", (int)n->iattr[0]);
}

static tg_tensor *softmax(tg_tape *t, const char *file, int line, const tg_op_desc *op,
                          tg_tensor *x, int axis) {
    if (!tg_op_enter(t, file, line, op->name, 1, &x)) return NULL;
    int a = tg_norm_axis_of(t, op->name, axis, x);
    if (a < 0) return NULL;
    tg_tensor *y = tg_tensor_alloc(t, x->dtype, x->ndim, x->shape);
    if (!y) return NULL;
    kern_softmax(x->dtype, x->ndim, x->shape, x->data, x->strides, a, op == &tg_op_log_softmax,
                 y->data);
    if (!tg_record(t, op, y, 1, &x)) return NULL;
    if (y->node) y->node->iattr[0] = a;
    return y;
}

/* ---- softmax ---- */
static void softmax_backward(tg_tape *t, const tg_node *n, tg_tensor *g, tg_tensor **grads) {
    int axis = (int)n->iattr[0];
    tg_tensor *y = n->out;
    tg_tensor *gy = tg_sum(t, tg_mul(t, g, y), 1, &axis, true);
    grads[0] = tg_mul(t, y, tg_sub(t, g, gy));
}
const tg_op_desc tg_op_softmax = {"softmax", 1, softmax_backward, describe_axis, TG_OPF_SMOOTH};
tg_tensor *tg_softmax_at(tg_tape *t, const char *file, int line, tg_tensor *x, int axis) {
    return softmax(t, file, line, &tg_op_softmax, x, axis);
}

/* ---- log_softmax ---- */
static void log_softmax_backward(tg_tape *t, const tg_node *n, tg_tensor *g, tg_tensor **grads) {
    int axis = (int)n->iattr[0];
    tg_tensor *gsum = tg_sum(t, g, 1, &axis, true);
    grads[0] = tg_sub(t, g, tg_mul(t, tg_exp(t, n->out), gsum));
}
const tg_op_desc tg_op_log_softmax = {"log_softmax", 1, log_softmax_backward, describe_axis,
                                      TG_OPF_SMOOTH};
tg_tensor *tg_log_softmax_at(tg_tape *t, const char *file, int line, tg_tensor *x, int axis) {
    return softmax(t, file, line, &tg_op_log_softmax, x, axis);
}

/* ---- softmax_cross_entropy ----
 * The loss of each row of logits x (N, C) against a label y_i with label smoothing e, i.e.
 * against the target t_i = (1 - e) onehot(y_i) + e/C:
 *   l_i = -sum_c t_ic lsm_ic = -((1 - e) lsm_{i,y_i} + (e/C) sum_c lsm_ic),
 *   lsm_ic = (x_ic - m_i) - ln s_i  (m_i the row's maximum, s_i = sum_c e^(x_ic - m_i))
 *   dl_i/dx_ic = p_ic - t_ic,  p = softmax(x)
 * One node where log_softmax, a label mask, where, sum and neg recorded five (cross entropy
 * over a character RNN's 2048 x 65 predictions was ~8% of its training step). The forward is
 * one pass of exponentials giving p, m and ln s; the loss needs only m, ln s and the picked
 * logit, so it is as exact as log_softmax's; p is kept for the backward, which is then one
 * pass with no exponentials. When the backward is recorded (create_graph) the rule is
 * softmax(x) - t with ops, so higher derivatives follow from softmax's.
 * Saved: the probabilities p and the labels (xent_saved); fattr[0] = e. */
extern const tg_op_desc tg_op_softmax_cross_entropy;

typedef struct xent_saved {
    const tg_tensor *p; /* softmax(x), (N, C) contiguous, on the tape */
    int64_t labels[];   /* N */
} xent_saved;

static double element(const tg_tensor *x, int64_t k) {
    return x->dtype == TG_F32 ? (double)((const float *)(const void *)x->data)[k]
                              : ((const double *)(const void *)x->data)[k];
}

static void store(tg_tensor *y, int64_t k, double v) {
    if (y->dtype == TG_F32)
        ((float *)(void *)y->data)[k] = (float)v;
    else
        ((double *)(void *)y->data)[k] = v;
}

/* The target t (N, C) of the rule as a constant tensor. */
static tg_tensor *smoothed_target(tg_tape *t, const tg_tensor *x, const int64_t *labels, double e) {
    int64_t n = x->shape[0], c = x->shape[1];
    tg_tensor *tt = tg_full(t, x->dtype, 2, x->shape, e / (double)c);
    for (int64_t i = 0; tt && i < n; i++) store(tt, i * c + labels[i], 1.0 - e + e / (double)c);
    return tt;
}

static void softmax_cross_entropy_backward(tg_tape *t, const tg_node *n, tg_tensor *g,
                                           tg_tensor **grads) {
    tg_tensor *x = n->inputs[0];
    const xent_saved *sv = n->saved;
    double e = n->fattr[0];
    int64_t rows = x->shape[0], c = x->shape[1];
    if (tg_tape_grad_enabled(t)) {
        tg_tensor *tt = smoothed_target(t, x, sv->labels, e);
        tg_tensor *gcol = tg_reshape(t, g, TG_SHAPE(rows, 1));
        grads[0] = tg_mul(t, tg_sub(t, tg_softmax(t, x, 1), tt), gcol);
        return;
    }
    tg_tensor *dx = tg_tensor_alloc(t, x->dtype, 2, x->shape);
    if (!dx) return;
    /* dx = g_i (p - e/C), then the label's entry less g_i (1 - e). */
    for (int64_t i = 0; i < rows; i++) {
        double gi = element(g, i * g->strides[0]), off = gi * e / (double)c;
        int64_t y = sv->labels[i];
        if (x->dtype == TG_F32) {
            const float *p = (const float *)(const void *)sv->p->data + i * c;
            float *r = (float *)(void *)dx->data + i * c, gf = (float)gi, of = (float)off;
            for (int64_t j = 0; j < c; j++) r[j] = p[j] * gf - of;
            r[y] -= (float)(gi * (1.0 - e));
        } else {
            const double *p = (const double *)(const void *)sv->p->data + i * c;
            double *r = (double *)(void *)dx->data + i * c;
            for (int64_t j = 0; j < c; j++) r[j] = p[j] * gi - off;
            r[y] -= gi * (1.0 - e);
        }
    }
    grads[0] = dx;
}

static void describe_smoothing(const tg_node *n, char *buf, size_t size) {
    snprintf(buf, size, "smoothing=%g", n->fattr[0]);
}

const tg_op_desc tg_op_softmax_cross_entropy = {
    "softmax_cross_entropy", 1, softmax_cross_entropy_backward, describe_smoothing, TG_OPF_SMOOTH};

tg_tensor *tg_softmax_cross_entropy_at(tg_tape *t, const char *file, int line, tg_tensor *x,
                                       const int64_t *labels, double e) {
    const tg_op_desc *op = &tg_op_softmax_cross_entropy;
    if (!tg_op_enter(t, file, line, op->name, 1, &x)) return NULL;
    int64_t rows = x->shape[0], c = x->shape[1];
    tg_tensor *p = tg_tensor_alloc(t, x->dtype, 2, x->shape);
    tg_tensor *stats = tg_tensor_alloc(t, TG_F64, TG_SHAPE(rows, 2));
    tg_tensor *l = tg_tensor_alloc(t, x->dtype, TG_SHAPE(rows));
    if (!p || !stats || !l) return NULL;
    const double *st = (const double *)(const void *)stats->data;
    kern_softmax_rows(x->dtype, rows, c, x->data, x->strides[0], x->strides[1], p->data,
                      (double *)(void *)stats->data);
    for (int64_t i = 0; i < rows; i++) {
        double m = st[2 * i], ls = st[2 * i + 1];
        double picked = (element(x, i * x->strides[0] + labels[i] * x->strides[1]) - m) - ls;
        double all = 0;
        if (e > 0) {
            for (int64_t j = 0; j < c; j++)
                all += element(x, i * x->strides[0] + j * x->strides[1]);
            all = (all - (double)c * m) - (double)c * ls;
        }
        store(l, i, e > 0 ? -((1.0 - e) * picked + e / (double)c * all) : -picked);
    }
    if (!tg_record(t, op, l, 1, &x)) return NULL;
    if (l->node) {
        l->node->fattr[0] = e;
        xent_saved *sv =
            tg_node_save_space(t, l->node, sizeof(xent_saved) + (size_t)rows * sizeof(int64_t));
        if (!sv) return NULL;
        sv->p = p;
        for (int64_t i = 0; i < rows; i++) sv->labels[i] = labels[i];
    }
    return l;
}
