/* activation_smooth.c: GELU (exact erf form, PyTorch's default), the op for its derivative, and
 * softplus. All are smooth; every rule is made of ops, so each can be differentiated again.
 *
 *   gelu       y = x Phi(x),  Phi(x) = (1 + erf(x / sqrt 2)) / 2, the standard normal CDF
 *              dy/dx = gelu_grad(x)
 *   gelu_grad  y = Phi(x) + x phi(x),  phi(x) = e^(-x^2/2) / sqrt(2 pi)
 *              dy/dx = 2 phi(x) + x phi'(x) = phi(x) (2 - x^2)     (phi' = -x phi)
 *   softplus   y = ln(1 + e^x), computed as max(x, 0) + log1p(e^-|x|) so that e^x never
 *              overflows and small results keep their digits
 *              dy/dx = sigmoid(x)
 *
 * gelu_grad is a registered op because Phi has no expression in the other ops (erf is not one);
 * its own derivative needs only exp and polynomials, so its rule is made of existing ops. */
#include <string.h>

#include "op_util.h"

#define TG_INV_SQRT_2PI 0.39894228040143267794

static tg_tensor *smooth(tg_tape *t, const char *file, int line, const tg_op_desc *op,
                         kern_unary_kind k, tg_tensor *x) {
    if (!tg_op_enter(t, file, line, op->name, 1, &x)) return NULL;
    return tg_unary_forward(t, op, k, x, 0.0);
}

/* ---- gelu ----
 * When its node is recorded on a contiguous input, the forward keeps gelu'(x) (a tape tensor
 * of x's size, saved on the node), computed with y from the same erfc (kern_gelu_and_grad):
 * the first-order backward is then g * gelu'(x), one multiplication per element, with the
 * bits of g * gelu_grad(x). Without it (a strided input), that product still runs as one pass,
 * KERN_MUL_GELU_GRAD. Under TG_CREATE_GRAPH the ops are recorded, to be differentiated again. */
static void gelu_backward(tg_tape *t, const tg_node *n, tg_tensor *g, tg_tensor **grads) {
    tg_tensor *x = n->inputs[0], *d = NULL;
    if (tg_tape_grad_enabled(t) || g->dtype != x->dtype || !tg_same_shape(g, x) ||
        !tg_tensor_is_contiguous(g) || !tg_tensor_is_contiguous(x)) {
        grads[0] = tg_mul(t, g, tg_gelu_grad(t, x));
        return;
    }
    tg_tensor *dx = tg_tensor_alloc(t, x->dtype, x->ndim, x->shape);
    if (!dx) return;
    if (n->saved_bytes == sizeof d) memcpy(&d, n->saved, sizeof d);
    if (d)
        kern_binary(KERN_MUL, x->dtype, x->ndim, x->shape, dx->data, g->data, g->strides, d->data,
                    d->strides);
    else
        kern_binary(KERN_MUL_GELU_GRAD, x->dtype, x->ndim, x->shape, dx->data, g->data,
                    g->strides, x->data, x->strides);
    grads[0] = dx;
}
const tg_op_desc tg_op_gelu = {"gelu", 1, gelu_backward, NULL, TG_OPF_SMOOTH};
tg_tensor *tg_gelu_at(tg_tape *t, const char *file, int line, tg_tensor *x) {
    if (!tg_op_enter(t, file, line, tg_op_gelu.name, 1, &x)) return NULL;
    /* Only a node that will be recorded needs the derivative (tg_record's own test). */
    if (!t->grad_enabled || !x->requires_grad || !tg_tensor_is_contiguous(x))
        return tg_unary_forward(t, &tg_op_gelu, KERN_GELU, x, 0.0);
    tg_tensor *y = tg_tensor_alloc(t, x->dtype, x->ndim, x->shape);
    tg_tensor *d = tg_tensor_alloc(t, x->dtype, x->ndim, x->shape);
    if (!y || !d) return NULL;
    kern_gelu_and_grad(x->dtype, tg_tensor_numel(x), x->data, y->data, d->data);
    if (!tg_record(t, &tg_op_gelu, y, 1, &x)) return NULL;
    if (y->node && !tg_node_save(t, y->node, &d, sizeof d)) return NULL;
    return y;
}

/* ---- gelu_grad ---- */
static void gelu_grad_backward(tg_tape *t, const tg_node *n, tg_tensor *g, tg_tensor **grads) {
    tg_tensor *x2 = tg_square(t, n->inputs[0]);
    tg_tensor *phi = tg_mul_scalar(t, tg_exp(t, tg_mul_scalar(t, x2, -0.5)), TG_INV_SQRT_2PI);
    grads[0] = tg_mul(t, g, tg_mul(t, phi, tg_rsub_scalar(t, x2, 2.0)));
}
const tg_op_desc tg_op_gelu_grad = {"gelu_grad", 1, gelu_grad_backward, NULL, TG_OPF_SMOOTH};
tg_tensor *tg_gelu_grad_at(tg_tape *t, const char *file, int line, tg_tensor *x) {
    return smooth(t, file, line, &tg_op_gelu_grad, KERN_GELU_GRAD, x);
}

/* ---- softplus ---- */
static void softplus_backward(tg_tape *t, const tg_node *n, tg_tensor *g, tg_tensor **grads) {
    grads[0] = tg_mul(t, g, tg_sigmoid(t, n->inputs[0]));
}
const tg_op_desc tg_op_softplus = {"softplus", 1, softplus_backward, NULL, TG_OPF_SMOOTH};
tg_tensor *tg_softplus_at(tg_tape *t, const char *file, int line, tg_tensor *x) {
    return smooth(t, file, line, &tg_op_softplus, KERN_SOFTPLUS, x);
}
