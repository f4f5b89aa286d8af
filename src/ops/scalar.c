/* scalar.c: arithmetic with a constant c (a double, converted to the tensor's dtype).
 *
 *   add_scalar   y = x + c    dy/dx = 1
 *   mul_scalar   y = x * c    dy/dx = c
 *   sub_scalar   y = x - c    dy/dx = 1
 *   rsub_scalar  y = c - x    dy/dx = -1
 *   div_scalar   y = x / c    dy/dx = 1/c      (c = 0 gives inf/NaN, as IEEE does; no error)
 *   rdiv_scalar  y = c / x    dy/dx = -c/x^2 = -y/x
 *   pow_scalar   y = x^c      dy/dx = c x^(c-1), taken as exactly 0 when c = 0 (so x = 0 gives
 *                             no 0 * inf); for 0 < c < 1 it is infinite at x = 0, and x < 0 with
 *                             a fractional c is NaN, as the real power is
 *
 * c is kept in the node's fattr[0]. There is no separate rpow (c^x): tg_pow with a 0-d tensor
 * for c does it. */
#include <stdio.h>

#include "op_util.h"

static void describe_scalar(const tg_node *n, char *buf, size_t size) {
    snprintf(buf, size, "c=%g", n->fattr[0]);
}

static tg_tensor *with_scalar(tg_tape *t, const char *file, int line, const tg_op_desc *op,
                              kern_unary_kind k, tg_tensor *x, double c) {
    if (!tg_op_enter(t, file, line, op->name, 1, &x)) return NULL;
    tg_note_fattr(t, 1, &c);
    tg_tensor *y = tg_unary_forward(t, op, k, x, c);
    if (y && y->node) y->node->fattr[0] = c;
    return y;
}

/* ---- add_scalar ---- */
static void add_scalar_backward(tg_tape *t, const tg_node *n, tg_tensor *g, tg_tensor **grads) {
    (void)t;
    (void)n;
    grads[0] = g;
}
const tg_op_desc tg_op_add_scalar = {"add_scalar", 1, add_scalar_backward, describe_scalar,
                                     TG_OPF_SMOOTH};
tg_tensor *tg_add_scalar_at(tg_tape *t, const char *file, int line, tg_tensor *x, double c) {
    return with_scalar(t, file, line, &tg_op_add_scalar, KERN_ADD_SCALAR, x, c);
}

/* ---- mul_scalar ---- */
static void mul_scalar_backward(tg_tape *t, const tg_node *n, tg_tensor *g, tg_tensor **grads) {
    grads[0] = tg_mul_scalar(t, g, n->fattr[0]);
}
const tg_op_desc tg_op_mul_scalar = {"mul_scalar", 1, mul_scalar_backward, describe_scalar,
                                     TG_OPF_SMOOTH};
tg_tensor *tg_mul_scalar_at(tg_tape *t, const char *file, int line, tg_tensor *x, double c) {
    return with_scalar(t, file, line, &tg_op_mul_scalar, KERN_MUL_SCALAR, x, c);
}

/* ---- sub_scalar ---- */
static void sub_scalar_backward(tg_tape *t, const tg_node *n, tg_tensor *g, tg_tensor **grads) {
    (void)t;
    (void)n;
    grads[0] = g;
}
const tg_op_desc tg_op_sub_scalar = {"sub_scalar", 1, sub_scalar_backward, describe_scalar,
                                     TG_OPF_SMOOTH};
tg_tensor *tg_sub_scalar_at(tg_tape *t, const char *file, int line, tg_tensor *x, double c) {
    return with_scalar(t, file, line, &tg_op_sub_scalar, KERN_SUB_SCALAR, x, c);
}

/* ---- rsub_scalar ---- */
static void rsub_scalar_backward(tg_tape *t, const tg_node *n, tg_tensor *g, tg_tensor **grads) {
    (void)n;
    grads[0] = tg_neg(t, g);
}
const tg_op_desc tg_op_rsub_scalar = {"rsub_scalar", 1, rsub_scalar_backward, describe_scalar,
                                      TG_OPF_SMOOTH};
tg_tensor *tg_rsub_scalar_at(tg_tape *t, const char *file, int line, tg_tensor *x, double c) {
    return with_scalar(t, file, line, &tg_op_rsub_scalar, KERN_RSUB_SCALAR, x, c);
}

/* ---- div_scalar ---- */
static void div_scalar_backward(tg_tape *t, const tg_node *n, tg_tensor *g, tg_tensor **grads) {
    grads[0] = tg_div_scalar(t, g, n->fattr[0]);
}
const tg_op_desc tg_op_div_scalar = {"div_scalar", 1, div_scalar_backward, describe_scalar,
                                     TG_OPF_SMOOTH};
tg_tensor *tg_div_scalar_at(tg_tape *t, const char *file, int line, tg_tensor *x, double c) {
    return with_scalar(t, file, line, &tg_op_div_scalar, KERN_DIV_SCALAR, x, c);
}

/* ---- rdiv_scalar ---- */
static void rdiv_scalar_backward(tg_tape *t, const tg_node *n, tg_tensor *g, tg_tensor **grads) {
    grads[0] = tg_neg(t, tg_div(t, tg_mul(t, g, n->out), n->inputs[0]));
}
const tg_op_desc tg_op_rdiv_scalar = {"rdiv_scalar", 1, rdiv_scalar_backward, describe_scalar,
                                      TG_OPF_SMOOTH};
tg_tensor *tg_rdiv_scalar_at(tg_tape *t, const char *file, int line, tg_tensor *x, double c) {
    return with_scalar(t, file, line, &tg_op_rdiv_scalar, KERN_RDIV_SCALAR, x, c);
}

/* ---- pow_scalar ---- */
static void pow_scalar_backward(tg_tape *t, const tg_node *n, tg_tensor *g, tg_tensor **grads) {
    const tg_tensor *x = n->inputs[0];
    double c = n->fattr[0];
    if (c == 0.0) {
        grads[0] = tg_zeros(t, x->dtype, x->ndim, x->shape);
        return;
    }
    grads[0] = tg_mul(t, tg_mul_scalar(t, g, c), tg_pow_scalar(t, n->inputs[0], c - 1.0));
}
const tg_op_desc tg_op_pow_scalar = {"pow_scalar", 1, pow_scalar_backward, describe_scalar,
                                     TG_OPF_SMOOTH};
tg_tensor *tg_pow_scalar_at(tg_tape *t, const char *file, int line, tg_tensor *x, double c) {
    return with_scalar(t, file, line, &tg_op_pow_scalar, KERN_POW_SCALAR, x, c);
}
