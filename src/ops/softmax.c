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
