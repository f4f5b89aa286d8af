/* activation.c: tanh, sigmoid, relu and the Heaviside step that relu's gradient uses.
 *
 *   tanh     y = tanh x            dy/dx = 1 - y^2
 *   sigmoid  y = 1 / (1 + e^-x)    dy/dx = y (1 - y)
 *   relu     y = max(x, 0)         dy/dx = step(x): 1 for x > 0, 0 for x < 0, and 0 at x = 0
 *   step     y = [x > 0]           dy/dx = 0 wherever it exists (so relu's second derivative
 *                                  is 0 too, as it is everywhere but the kink)
 */
#include "op_util.h"

static tg_tensor *activation(tg_tape *t, const char *file, int line, const tg_op_desc *op,
                             kern_unary_kind k, tg_tensor *x) {
    if (!tg_op_enter(t, file, line, op->name, 1, &x)) return NULL;
    return tg_unary_forward(t, op, k, x, 0.0);
}

/* 1 - y*y, written with ops so that it can be differentiated again. */
static tg_tensor *one_minus_square(tg_tape *t, tg_tensor *y) {
    return tg_add_scalar(t, tg_neg(t, tg_mul(t, y, y)), 1.0);
}

/* ---- tanh ---- */
static void tanh_backward(tg_tape *t, const tg_node *n, tg_tensor *g, tg_tensor **grads) {
    grads[0] = tg_mul(t, g, one_minus_square(t, n->out));
}
const tg_op_desc tg_op_tanh = {"tanh", 1, tanh_backward, NULL, TG_OPF_SMOOTH};
tg_tensor *tg_tanh_at(tg_tape *t, const char *file, int line, tg_tensor *x) {
    return activation(t, file, line, &tg_op_tanh, KERN_TANH, x);
}

/* ---- sigmoid ---- */
static void sigmoid_backward(tg_tape *t, const tg_node *n, tg_tensor *g, tg_tensor **grads) {
    tg_tensor *y = n->out;
    tg_tensor *one_minus_y = tg_add_scalar(t, tg_neg(t, y), 1.0);
    grads[0] = tg_mul(t, g, tg_mul(t, y, one_minus_y));
}
const tg_op_desc tg_op_sigmoid = {"sigmoid", 1, sigmoid_backward, NULL, TG_OPF_SMOOTH};
tg_tensor *tg_sigmoid_at(tg_tape *t, const char *file, int line, tg_tensor *x) {
    return activation(t, file, line, &tg_op_sigmoid, KERN_SIGMOID, x);
}

/* ---- relu ---- */
static void relu_backward(tg_tape *t, const tg_node *n, tg_tensor *g, tg_tensor **grads) {
    grads[0] = tg_mul(t, g, tg_step(t, n->inputs[0]));
}
const tg_op_desc tg_op_relu = {"relu", 1, relu_backward, NULL, 0};
tg_tensor *tg_relu_at(tg_tape *t, const char *file, int line, tg_tensor *x) {
    return activation(t, file, line, &tg_op_relu, KERN_RELU, x);
}

/* ---- step ---- */
static void step_backward(tg_tape *t, const tg_node *n, tg_tensor *g, tg_tensor **grads) {
    (void)g;
    const tg_tensor *x = n->inputs[0];
    grads[0] = tg_zeros(t, x->dtype, x->ndim, x->shape);
}
const tg_op_desc tg_op_step = {"step", 1, step_backward, NULL, TG_OPF_CONSTANT_GRAD};
tg_tensor *tg_step_at(tg_tape *t, const char *file, int line, tg_tensor *x) {
    return activation(t, file, line, &tg_op_step, KERN_STEP, x);
}
