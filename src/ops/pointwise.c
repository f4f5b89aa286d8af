/* pointwise.c: elementwise functions of one input without parameters.
 *
 *   neg     y = -x       dy/dx = -1
 *   exp     y = e^x      dy/dx = e^x = y
 *   log     y = ln x     dy/dx = 1/x      (x <= 0 gives -inf or NaN, as IEEE does; no error)
 *   abs     y = |x|      dy/dx = sign(x): -1, 1, and 0 at the kink x = 0 (as PyTorch)
 *   sign    y = sign(x)  dy/dx = 0 wherever it exists (the jump at 0 has none): zero gradient
 *   sqrt    y = sqrt x   dy/dx = 1 / (2 y)   (infinite at 0; NaN below, as IEEE does)
 *   square  y = x^2      dy/dx = 2 x
 *   sin     y = sin x    dy/dx = cos x
 *   cos     y = cos x    dy/dx = -sin x
 *
 * Every rule is written with ops, so second derivatives come from differentiating it again. */
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
const tg_op_desc tg_op_neg = {"neg", 1, neg_backward, NULL, TG_OPF_SMOOTH | TG_OPF_NO_ATTR};
tg_tensor *tg_neg_at(tg_tape *t, const char *file, int line, tg_tensor *x) {
    return pointwise(t, file, line, &tg_op_neg, KERN_NEG, x);
}

/* ---- exp ---- */
static void exp_backward(tg_tape *t, const tg_node *n, tg_tensor *g, tg_tensor **grads) {
    grads[0] = tg_mul(t, g, n->out);
}
const tg_op_desc tg_op_exp = {"exp", 1, exp_backward, NULL, TG_OPF_SMOOTH | TG_OPF_NO_ATTR};
tg_tensor *tg_exp_at(tg_tape *t, const char *file, int line, tg_tensor *x) {
    return pointwise(t, file, line, &tg_op_exp, KERN_EXP, x);
}

/* ---- log ---- */
static void log_backward(tg_tape *t, const tg_node *n, tg_tensor *g, tg_tensor **grads) {
    grads[0] = tg_div(t, g, n->inputs[0]);
}
const tg_op_desc tg_op_log = {"log", 1, log_backward, NULL, TG_OPF_SMOOTH | TG_OPF_NO_ATTR};
tg_tensor *tg_log_at(tg_tape *t, const char *file, int line, tg_tensor *x) {
    return pointwise(t, file, line, &tg_op_log, KERN_LOG, x);
}

/* ---- abs ---- */
static void abs_backward(tg_tape *t, const tg_node *n, tg_tensor *g, tg_tensor **grads) {
    grads[0] = tg_mul(t, g, tg_sign(t, n->inputs[0]));
}
/* Not flagged smooth: the second derivative is 0 away from the kink, which checks nothing. */
const tg_op_desc tg_op_abs = {"abs", 1, abs_backward, NULL, TG_OPF_NO_ATTR};
tg_tensor *tg_abs_at(tg_tape *t, const char *file, int line, tg_tensor *x) {
    return pointwise(t, file, line, &tg_op_abs, KERN_ABS, x);
}

/* ---- sign ---- */
static void sign_backward(tg_tape *t, const tg_node *n, tg_tensor *g, tg_tensor **grads) {
    (void)g;
    const tg_tensor *x = n->inputs[0];
    grads[0] = tg_zeros(t, x->dtype, x->ndim, x->shape);
}
const tg_op_desc tg_op_sign = {"sign", 1, sign_backward, NULL,
                               TG_OPF_CONSTANT_GRAD | TG_OPF_NO_ATTR};
tg_tensor *tg_sign_at(tg_tape *t, const char *file, int line, tg_tensor *x) {
    return pointwise(t, file, line, &tg_op_sign, KERN_SIGN, x);
}

/* ---- sqrt ---- */
static void sqrt_backward(tg_tape *t, const tg_node *n, tg_tensor *g, tg_tensor **grads) {
    grads[0] = tg_div(t, tg_mul_scalar(t, g, 0.5), n->out);
}
const tg_op_desc tg_op_sqrt = {"sqrt", 1, sqrt_backward, NULL, TG_OPF_SMOOTH | TG_OPF_NO_ATTR};
tg_tensor *tg_sqrt_at(tg_tape *t, const char *file, int line, tg_tensor *x) {
    return pointwise(t, file, line, &tg_op_sqrt, KERN_SQRT, x);
}

/* ---- square ---- */
static void square_backward(tg_tape *t, const tg_node *n, tg_tensor *g, tg_tensor **grads) {
    grads[0] = tg_mul(t, tg_mul_scalar(t, g, 2.0), n->inputs[0]);
}
const tg_op_desc tg_op_square = {"square", 1, square_backward, NULL,
                                 TG_OPF_SMOOTH | TG_OPF_NO_ATTR};
tg_tensor *tg_square_at(tg_tape *t, const char *file, int line, tg_tensor *x) {
    return pointwise(t, file, line, &tg_op_square, KERN_SQUARE, x);
}

/* ---- sin ---- */
static void sin_backward(tg_tape *t, const tg_node *n, tg_tensor *g, tg_tensor **grads) {
    grads[0] = tg_mul(t, g, tg_cos(t, n->inputs[0]));
}
const tg_op_desc tg_op_sin = {"sin", 1, sin_backward, NULL, TG_OPF_SMOOTH | TG_OPF_NO_ATTR};
tg_tensor *tg_sin_at(tg_tape *t, const char *file, int line, tg_tensor *x) {
    return pointwise(t, file, line, &tg_op_sin, KERN_SIN, x);
}

/* ---- cos ---- */
static void cos_backward(tg_tape *t, const tg_node *n, tg_tensor *g, tg_tensor **grads) {
    grads[0] = tg_neg(t, tg_mul(t, g, tg_sin(t, n->inputs[0])));
}
const tg_op_desc tg_op_cos = {"cos", 1, cos_backward, NULL, TG_OPF_SMOOTH | TG_OPF_NO_ATTR};
tg_tensor *tg_cos_at(tg_tape *t, const char *file, int line, tg_tensor *x) {
    return pointwise(t, file, line, &tg_op_cos, KERN_COS, x);
}
