/* pointwise.c: neg, exp, log, elementwise on one input.
 *
 *   neg  y = -x       dy/dx = -1
 *   exp  y = e^x      dy/dx = e^x = y
 *   log  y = ln x     dy/dx = 1/x     (x <= 0 gives -inf or NaN, as IEEE does; no error)
 */
#include "op_util.h"

static tg_tensor *pointwise(tg_tape *t, const char *file, int line, const tg_op_desc *op,
                            kern_unary_kind k, tg_tensor *x) {
    if (!tg_op_enter(t, file, line, op->name, 1, &x)) return NULL;
    return tg_unary_forward(t, op, k, x, 0.0);
}

/* ---- neg ---- */
static void neg_backward(tg_tape *t, const tg_node *n, tg_tensor *g, tg_tensor **grads) {
    (void)n;
    grads[0] = tg_neg(t, g);
}
const tg_op_desc tg_op_neg = {"neg", 1, neg_backward, NULL, TG_OPF_SMOOTH};
tg_tensor *tg_neg_at(tg_tape *t, const char *file, int line, tg_tensor *x) {
    return pointwise(t, file, line, &tg_op_neg, KERN_NEG, x);
}

/* ---- exp ---- */
static void exp_backward(tg_tape *t, const tg_node *n, tg_tensor *g, tg_tensor **grads) {
    grads[0] = tg_mul(t, g, n->out);
}
const tg_op_desc tg_op_exp = {"exp", 1, exp_backward, NULL, TG_OPF_SMOOTH};
tg_tensor *tg_exp_at(tg_tape *t, const char *file, int line, tg_tensor *x) {
    return pointwise(t, file, line, &tg_op_exp, KERN_EXP, x);
}

/* ---- log ---- */
static void log_backward(tg_tape *t, const tg_node *n, tg_tensor *g, tg_tensor **grads) {
    grads[0] = tg_div(t, g, n->inputs[0]);
}
const tg_op_desc tg_op_log = {"log", 1, log_backward, NULL, TG_OPF_SMOOTH};
tg_tensor *tg_log_at(tg_tape *t, const char *file, int line, tg_tensor *x) {
    return pointwise(t, file, line, &tg_op_log, KERN_LOG, x);
}
