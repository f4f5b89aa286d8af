/* activation.c: tanh, sigmoid and the piecewise activations: relu, the Heaviside step that
 * relu's gradient uses, leaky_relu, elu, clamp and the straight-through sign.
 *
 *   tanh        y = tanh x            dy/dx = 1 - y^2
 *   sigmoid     y = 1 / (1 + e^-x)    dy/dx = y (1 - y)
 *   relu        y = max(x, 0)         dy/dx = step(x): 1 for x > 0, 0 for x < 0, and 0 at x = 0
 *   step        y = [x > 0]           dy/dx = 0 wherever it exists (so relu's second derivative
 *                                     is 0 too, as it is everywhere but the kink)
 *   leaky_relu  y = x > 0 ? x : s x   dy/dx = 1 for x > 0, s for x <= 0 (s at the kink)
 *   elu         y = x > 0 ? x : a (e^x - 1)
 *                                     dy/dx = 1 for x > 0, a e^x = y + a for x <= 0 (a at the
 *                                     kink); d2y/dx2 = a e^x for x < 0, 0 for x > 0
 *   NaN, as in PyTorch: relu(NaN) = step(NaN) = NaN (PyTorch has no step; its heaviside gives
 *   0 there, see docs/nan-semantics.md); the gradient at NaN is relu's 1 and leaky_relu's s
 *   (PyTorch's rules test x <= 0 and x > 0), elu's NaN.
 *   clamp       y = min(max(x, lo), hi)
 *                                     dy/dx = [lo <= x <= hi]: 1 inside and AT both edges (as
 *                                     PyTorch), 0 outside; lo > hi or a NaN bound is an error
 *   sign_ste    y = sign(x)           backward passes g where |x| <= 1, else 0: the
 *                                     straight-through estimator for binary weights. It is not the
 *                                     derivative of sign (which is 0) but that of clamp(x, -1, 1),
 *                                     and it is checked against that.
 *   binarize    y = x < 0 ? -1 : +1   the same straight-through rule as sign_ste (g where
 *                                     |x| <= 1, else 0); only the value at 0 differs: +1, so that
 *                                     every weight is one of two values and packs into one bit
 *                                     (tapegrad/binary.h). NaN stays NaN.
 *
 * gelu and softplus, which are smooth, live in activation_smooth.c. */
#include <stdio.h>

#include "op_util.h"

static tg_tensor *activation(tg_tape *t, const char *file, int line, const tg_op_desc *op,
                             kern_unary_kind k, tg_tensor *x) {
    if (!tg_op_enter(t, file, line, op->name, 1, &x)) return NULL;
    return tg_unary_forward(t, op, k, x, 0.0);
}

/* A 0-d constant for comparing with or selecting, in x's dtype. */
static tg_tensor *constant(tg_tape *t, const tg_tensor *x, double v) {
    return tg_scalar(t, x->dtype, v);
}

/* 1 - y*y, written with ops so that it can be differentiated again. */
static tg_tensor *one_minus_square(tg_tape *t, tg_tensor *y) {
    return tg_add_scalar(t, tg_neg(t, tg_mul(t, y, y)), 1.0);
}

/* A first-order sweep records nothing, so a rule's chain of ops over y (an op result, hence
 * contiguous) may run as the same kernels, in the same order, in place on one new tensor: the
 * same bits for one allocation instead of four, which is most of a tanh chain's tape. Under
 * TG_CREATE_GRAPH the ops are recorded as written, to be differentiated again. */
static tg_tensor *unrecorded_scratch(tg_tape *t, const tg_tensor *g, const tg_tensor *y) {
    if (tg_tape_grad_enabled(t) || g->dtype != y->dtype || !tg_same_shape(g, y)) return NULL;
    return tg_tensor_alloc(t, y->dtype, y->ndim, y->shape);
}

/* ---- tanh ---- */
static void tanh_backward(tg_tape *t, const tg_node *n, tg_tensor *g, tg_tensor **grads) {
    tg_tensor *y = n->out, *d = unrecorded_scratch(t, g, y);
    if (!d) {
        grads[0] = tg_mul(t, g, one_minus_square(t, y));
        return;
    }
    int64_t count = tg_tensor_numel(y);
    kern_binary(KERN_MUL, y->dtype, y->ndim, y->shape, d->data, y->data, y->strides, y->data,
                y->strides);
    kern_unary(KERN_NEG, d->dtype, count, d->data, d->data, 0.0);
    kern_unary(KERN_ADD_SCALAR, d->dtype, count, d->data, d->data, 1.0);
    kern_binary(KERN_MUL, d->dtype, d->ndim, d->shape, d->data, g->data, g->strides, d->data,
                d->strides);
    grads[0] = d;
}
const tg_op_desc tg_op_tanh = {"tanh", 1, tanh_backward, NULL, TG_OPF_SMOOTH | TG_OPF_NO_ATTR};
tg_tensor *tg_tanh_at(tg_tape *t, const char *file, int line, tg_tensor *x) {
    return activation(t, file, line, &tg_op_tanh, KERN_TANH, x);
}

/* ---- sigmoid ---- */
static void sigmoid_backward(tg_tape *t, const tg_node *n, tg_tensor *g, tg_tensor **grads) {
    tg_tensor *y = n->out, *d = unrecorded_scratch(t, g, y);
    if (d) { /* the ops below as kernels in place (see unrecorded_scratch) */
        int64_t count = tg_tensor_numel(y);
        kern_unary(KERN_NEG, y->dtype, count, y->data, d->data, 0.0);
        kern_unary(KERN_ADD_SCALAR, d->dtype, count, d->data, d->data, 1.0);
        kern_binary(KERN_MUL, d->dtype, d->ndim, d->shape, d->data, y->data, y->strides,
                    d->data, d->strides);
        kern_binary(KERN_MUL, d->dtype, d->ndim, d->shape, d->data, g->data, g->strides,
                    d->data, d->strides);
        grads[0] = d;
        return;
    }
    tg_tensor *one_minus_y = tg_add_scalar(t, tg_neg(t, y), 1.0);
    grads[0] = tg_mul(t, g, tg_mul(t, y, one_minus_y));
}
const tg_op_desc tg_op_sigmoid = {"sigmoid", 1, sigmoid_backward, NULL,
                                  TG_OPF_SMOOTH | TG_OPF_NO_ATTR};
tg_tensor *tg_sigmoid_at(tg_tape *t, const char *file, int line, tg_tensor *x) {
    return activation(t, file, line, &tg_op_sigmoid, KERN_SIGMOID, x);
}

/* ---- relu ----
 * The gradient passes where x > 0 and is 0 elsewhere, selected rather than multiplied by
 * step(x), so an infinite gradient behind a dead unit gives 0, not NaN (as PyTorch). Not
 * recorded, that is one pass (kern_binary's pass-if-positive); recorded, where(step(x), g, 0)
 * with ops, the same values. */
static void relu_backward(tg_tape *t, const tg_node *n, tg_tensor *g, tg_tensor **grads) {
    tg_tensor *x = n->inputs[0];
    if (tg_tape_grad_enabled(t)) {
        grads[0] = tg_where(t, tg_step(t, x), g, constant(t, x, 0.0));
        return;
    }
    tg_tensor *dx = tg_tensor_alloc(t, x->dtype, x->ndim, x->shape);
    if (!dx) return;
    kern_binary(KERN_PASS_IF_POSITIVE, x->dtype, x->ndim, x->shape, dx->data, g->data, g->strides,
                x->data, x->strides);
    grads[0] = dx;
}
const tg_op_desc tg_op_relu = {"relu", 1, relu_backward, NULL, TG_OPF_NO_ATTR};
tg_tensor *tg_relu_at(tg_tape *t, const char *file, int line, tg_tensor *x) {
    return activation(t, file, line, &tg_op_relu, KERN_RELU, x);
}

/* ---- step ---- */
static void step_backward(tg_tape *t, const tg_node *n, tg_tensor *g, tg_tensor **grads) {
    (void)g;
    const tg_tensor *x = n->inputs[0];
    grads[0] = tg_zeros(t, x->dtype, x->ndim, x->shape);
}
const tg_op_desc tg_op_step = {"step", 1, step_backward, NULL,
                               TG_OPF_CONSTANT_GRAD | TG_OPF_NO_ATTR};
tg_tensor *tg_step_at(tg_tape *t, const char *file, int line, tg_tensor *x) {
    return activation(t, file, line, &tg_op_step, KERN_STEP, x);
}

/* ---- leaky_relu ---- */
static void describe_slope(const tg_node *n, char *buf, size_t size) {
    snprintf(buf, size, "slope=%g", n->fattr[0]);
}

static void leaky_relu_backward(tg_tape *t, const tg_node *n, tg_tensor *g, tg_tensor **grads) {
    double s = n->fattr[0];
    tg_tensor *x = n->inputs[0];
    tg_tensor *d = tg_add_scalar(t, tg_mul_scalar(t, tg_gt(t, x, constant(t, x, 0.0)), 1.0 - s), s);
    grads[0] = tg_mul(t, g, d);
}
const tg_op_desc tg_op_leaky_relu = {"leaky_relu", 1, leaky_relu_backward, describe_slope, 0};
tg_tensor *tg_leaky_relu_at(tg_tape *t, const char *file, int line, tg_tensor *x, double slope) {
    if (!tg_op_enter(t, file, line, "leaky_relu", 1, &x)) return NULL;
    tg_note_fattr(t, 1, &slope);
    tg_tensor *y = tg_unary_forward(t, &tg_op_leaky_relu, KERN_LEAKY_RELU, x, slope);
    if (y && y->node) y->node->fattr[0] = slope;
    return y;
}

/* ---- elu ---- */
static void describe_alpha(const tg_node *n, char *buf, size_t size) {
    snprintf(buf, size, "alpha=%g", n->fattr[0]);
}

static void elu_backward(tg_tape *t, const tg_node *n, tg_tensor *g, tg_tensor **grads) {
    /* where(x > 0, 1, y + a): y + a is a e^x on the negative side, and using y keeps the
     * second derivative flowing through this node again. Selected, not multiplied by a mask,
     * so that y = inf on the positive side does not give 0 * inf; NaN takes the y + a side. */
    tg_tensor *x = n->inputs[0];
    tg_tensor *pos = tg_gt(t, x, constant(t, x, 0.0));
    grads[0] = tg_mul(t, g, tg_where(t, pos, constant(t, x, 1.0),
                                     tg_add_scalar(t, n->out, n->fattr[0])));
}
/* Smooth away from the kink at 0, where the tests keep finite differences off. */
const tg_op_desc tg_op_elu = {"elu", 1, elu_backward, describe_alpha, TG_OPF_SMOOTH};
tg_tensor *tg_elu_at(tg_tape *t, const char *file, int line, tg_tensor *x, double alpha) {
    if (!tg_op_enter(t, file, line, "elu", 1, &x)) return NULL;
    tg_note_fattr(t, 1, &alpha);
    tg_tensor *y = tg_unary_forward(t, &tg_op_elu, KERN_ELU, x, alpha);
    if (y && y->node) y->node->fattr[0] = alpha;
    return y;
}

/* ---- clamp ---- */
static void describe_clamp(const tg_node *n, char *buf, size_t size) {
    snprintf(buf, size, "[%g, %g]", n->fattr[0], n->fattr[1]);
}

static void clamp_backward(tg_tape *t, const tg_node *n, tg_tensor *g, tg_tensor **grads) {
    tg_tensor *x = n->inputs[0];
    tg_tensor *inside = tg_mul(t, tg_ge(t, x, constant(t, x, n->fattr[0])),
                               tg_le(t, x, constant(t, x, n->fattr[1])));
    grads[0] = tg_mul(t, g, inside);
}
const tg_op_desc tg_op_clamp = {"clamp", 1, clamp_backward, describe_clamp, 0};
tg_tensor *tg_clamp_at(tg_tape *t, const char *file, int line, tg_tensor *x, double lo, double hi) {
    if (!tg_op_enter(t, file, line, "clamp", 1, &x)) return NULL;
    char xs[TG_SHAPE_STR_MAX];
    if (lo != lo || hi != hi)
        return tg_fail(t, TG_ERR_ARG, "clamp: the bounds [%g, %g] for %s include NaN", lo, hi,
                       tg_shape_str(x, xs, sizeof xs));
    if (lo > hi)
        return tg_fail(t, TG_ERR_ARG, "clamp: lower bound %g is above upper bound %g for %s", lo,
                       hi, tg_shape_str(x, xs, sizeof xs));
    tg_tensor *y = tg_tensor_alloc(t, x->dtype, x->ndim, x->shape);
    if (!y) return NULL;
    const void *src = x->data;
    if (!tg_tensor_is_contiguous(x)) { /* gather the view, then clamp in place */
        kern_copy(y->dtype, y->data, y->strides, x->dtype, x->data, x->strides, x->ndim, x->shape);
        src = y->data;
    }
    kern_unary2(KERN_CLAMP, x->dtype, tg_tensor_numel(x), src, y->data, lo, hi);
    tg_note_fattr(t, 2, (const double[]){lo, hi});
    if (!tg_record(t, &tg_op_clamp, y, 1, &x)) return NULL;
    if (y->node) {
        y->node->fattr[0] = lo;
        y->node->fattr[1] = hi;
    }
    return y;
}

/* ---- sign_ste ---- */
static void sign_ste_backward(tg_tape *t, const tg_node *n, tg_tensor *g, tg_tensor **grads) {
    tg_tensor *x = n->inputs[0];
    tg_tensor *inside =
        tg_mul(t, tg_ge(t, x, constant(t, x, -1.0)), tg_le(t, x, constant(t, x, 1.0)));
    grads[0] = tg_mul(t, g, inside);
}
const tg_op_desc tg_op_sign_ste = {"sign_ste", 1, sign_ste_backward, NULL, TG_OPF_NO_ATTR};
tg_tensor *tg_sign_ste_at(tg_tape *t, const char *file, int line, tg_tensor *x) {
    return activation(t, file, line, &tg_op_sign_ste, KERN_SIGN, x);
}

/* ---- binarize: sign_ste's rule, +1 at 0 ---- */
const tg_op_desc tg_op_binarize = {"binarize", 1, sign_ste_backward, NULL, TG_OPF_NO_ATTR};
tg_tensor *tg_binarize_at(tg_tape *t, const char *file, int line, tg_tensor *x) {
    return activation(t, file, line, &tg_op_binarize, KERN_BINARIZE, x);
}
