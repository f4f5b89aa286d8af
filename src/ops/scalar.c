/* scalar.c: arithmetic with a constant c (a double, converted to the tensor's dtype).
 *
 *   add_scalar  y = x + c    dy/dx = 1
 *   mul_scalar  y = x * c    dy/dx = c
 *
 * c is kept in the node's fattr[0]. */
#include <stdio.h>

#include "op_util.h"

static void describe_scalar(const tg_node *n, char *buf, size_t size) {
    snprintf(buf, size, "c=%g", n->fattr[0]);
}

static tg_tensor *with_scalar(tg_tape *t, const char *file, int line, const tg_op_desc *op,
                              kern_unary_kind k, tg_tensor *x, double c) {
    if (!tg_op_enter(t, file, line, op->name, 1, &x)) return NULL;
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
