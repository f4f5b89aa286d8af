/* arith.c: add, sub, mul, div, pow, maximum, minimum, elementwise with NumPy broadcasting.
 *
 *   add      z = a + b      dz/da = 1          dz/db = 1
 *   sub      z = a - b      dz/da = 1          dz/db = -1
 *   mul      z = a * b      dz/da = b          dz/db = a
 *   div      z = a / b      dz/da = 1/b        dz/db = -a/b^2 = -z/b
 *   pow      z = a^b        dz/da = b a^(b-1), 0 where b = 0
 *                           dz/db = z ln a, 0 where a = 0 and b >= 0 (the limit)
 *            As PyTorch: for a < 0 (and NaN) dz/db is NaN, the real log being undefined there.
 *   maximum  z = max(a, b)  dz/da = 1 - [a < b] - [a = b]/2   dz/db = 1 - [b < a] - [a = b]/2
 *   minimum  z = min(a, b)  dz/da = 1 - [a > b] - [a = b]/2   dz/db = 1 - [b > a] - [a = b]/2
 *            At a tie the kink's gradient is split equally between the two inputs (as PyTorch
 *            does); where a or b is NaN (z is NaN) no comparison holds and both inputs get the
 *            whole gradient, as in PyTorch.
 *
 * Shapes: a and b broadcast to z's shape; in backward each gradient is summed over the
 * dimensions its input was broadcast along (tg_sum_to) so it has the input's shape again. */
#include "op_util.h"


/* g summed back to input i's shape. */
static tg_tensor *to_input(tg_tape *t, const tg_node *n, int i, tg_tensor *g) {
    return tg_sum_to(t, g, n->inputs[i]->ndim, n->inputs[i]->shape);
}

/* ---- add ---- */
static void add_backward(tg_tape *t, const tg_node *n, tg_tensor *g, tg_tensor **grads) {
    for (int i = 0; i < 2; i++)
        if (tg_node_needs_grad(n, i)) grads[i] = to_input(t, n, i, g);
}
const tg_op_desc tg_op_add = {"add", 2, add_backward, NULL, TG_OPF_SMOOTH | TG_OPF_NO_ATTR};
tg_tensor *tg_add_at(tg_tape *t, const char *file, int line, tg_tensor *a, tg_tensor *b) {
    return tg_binary_forward(t, file, line, &tg_op_add, KERN_ADD, a, b);
}

/* ---- sub ---- */
static void sub_backward(tg_tape *t, const tg_node *n, tg_tensor *g, tg_tensor **grads) {
    if (tg_node_needs_grad(n, 0)) grads[0] = to_input(t, n, 0, g);
    if (tg_node_needs_grad(n, 1)) grads[1] = to_input(t, n, 1, tg_neg(t, g));
}
const tg_op_desc tg_op_sub = {"sub", 2, sub_backward, NULL, TG_OPF_SMOOTH | TG_OPF_NO_ATTR};
tg_tensor *tg_sub_at(tg_tape *t, const char *file, int line, tg_tensor *a, tg_tensor *b) {
    return tg_binary_forward(t, file, line, &tg_op_sub, KERN_SUB, a, b);
}

/* ---- mul ---- */
static void mul_backward(tg_tape *t, const tg_node *n, tg_tensor *g, tg_tensor **grads) {
    if (tg_node_needs_grad(n, 0)) grads[0] = to_input(t, n, 0, tg_mul(t, g, n->inputs[1]));
    if (tg_node_needs_grad(n, 1)) grads[1] = to_input(t, n, 1, tg_mul(t, g, n->inputs[0]));
}
const tg_op_desc tg_op_mul = {"mul", 2, mul_backward, NULL, TG_OPF_SMOOTH | TG_OPF_NO_ATTR};
tg_tensor *tg_mul_at(tg_tape *t, const char *file, int line, tg_tensor *a, tg_tensor *b) {
    return tg_binary_forward(t, file, line, &tg_op_mul, KERN_MUL, a, b);
}

/* ---- div ---- */
static void div_backward(tg_tape *t, const tg_node *n, tg_tensor *g, tg_tensor **grads) {
    tg_tensor *b = n->inputs[1];
    if (tg_node_needs_grad(n, 0)) grads[0] = to_input(t, n, 0, tg_div(t, g, b));
    if (tg_node_needs_grad(n, 1))
        grads[1] = to_input(t, n, 1, tg_neg(t, tg_div(t, tg_mul(t, g, n->out), b)));
}
const tg_op_desc tg_op_div = {"div", 2, div_backward, NULL, TG_OPF_SMOOTH | TG_OPF_NO_ATTR};
tg_tensor *tg_div_at(tg_tape *t, const char *file, int line, tg_tensor *a, tg_tensor *b) {
    return tg_binary_forward(t, file, line, &tg_op_div, KERN_DIV, a, b);
}

/* ---- pow ---- */
static void pow_backward(tg_tape *t, const tg_node *n, tg_tensor *g, tg_tensor **grads) {
    tg_tensor *a = n->inputs[0], *b = n->inputs[1];
    if (tg_node_needs_grad(n, 0)) {
        /* 0 where b = 0 (a^0 is constant in a), as PyTorch, even where a^(b-1) is not finite */
        tg_tensor *zero = tg_scalar(t, a->dtype, 0.0);
        tg_tensor *d = tg_mul(t, b, tg_pow(t, a, tg_sub_scalar(t, b, 1.0)));
        d = tg_where(t, tg_eq(t, b, zero), zero, d);
        grads[0] = to_input(t, n, 0, tg_mul(t, g, d));
    }
    if (tg_node_needs_grad(n, 1)) {
        tg_tensor *zero = tg_scalar(t, a->dtype, 0.0);
        tg_tensor *limit = tg_mul(t, tg_eq(t, a, zero), tg_ge(t, b, zero));
        tg_tensor *d = tg_where(t, limit, zero, tg_mul(t, n->out, tg_log(t, a)));
        grads[1] = to_input(t, n, 1, tg_mul(t, g, d));
    }
}
const tg_op_desc tg_op_pow = {"pow", 2, pow_backward, NULL, TG_OPF_SMOOTH | TG_OPF_NO_ATTR};
tg_tensor *tg_pow_at(tg_tape *t, const char *file, int line, tg_tensor *a, tg_tensor *b) {
    return tg_binary_forward(t, file, line, &tg_op_pow, KERN_POW, a, b);
}

/* ---- maximum, minimum ---- */
/* The shares of g that a and b receive: all of it less what the other input strictly wins
 * less half the ties, and the mirror image. Both are constants built from comparisons; with NaN
 * no comparison holds and both shares are 1. */
static void extremum_backward(tg_tape *t, const tg_node *n, tg_tensor *g, tg_tensor **grads,
                              bool is_max) {
    tg_tensor *a = n->inputs[0], *b = n->inputs[1];
    tg_tensor *half = tg_mul_scalar(t, tg_eq(t, a, b), 0.5);
    if (tg_node_needs_grad(n, 0)) {
        tg_tensor *loses = is_max ? tg_lt(t, a, b) : tg_gt(t, a, b);
        tg_tensor *share = tg_rsub_scalar(t, tg_add(t, loses, half), 1.0);
        grads[0] = to_input(t, n, 0, tg_mul(t, g, share));
    }
    if (tg_node_needs_grad(n, 1)) {
        tg_tensor *loses = is_max ? tg_gt(t, a, b) : tg_lt(t, a, b);
        tg_tensor *share = tg_rsub_scalar(t, tg_add(t, loses, half), 1.0);
        grads[1] = to_input(t, n, 1, tg_mul(t, g, share));
    }
}

static void maximum_backward(tg_tape *t, const tg_node *n, tg_tensor *g, tg_tensor **grads) {
    extremum_backward(t, n, g, grads, true);
}
const tg_op_desc tg_op_maximum = {"maximum", 2, maximum_backward, NULL, TG_OPF_NO_ATTR};
tg_tensor *tg_maximum_at(tg_tape *t, const char *file, int line, tg_tensor *a, tg_tensor *b) {
    return tg_binary_forward(t, file, line, &tg_op_maximum, KERN_MAXIMUM, a, b);
}

static void minimum_backward(tg_tape *t, const tg_node *n, tg_tensor *g, tg_tensor **grads) {
    extremum_backward(t, n, g, grads, false);
}
const tg_op_desc tg_op_minimum = {"minimum", 2, minimum_backward, NULL, TG_OPF_NO_ATTR};
tg_tensor *tg_minimum_at(tg_tape *t, const char *file, int line, tg_tensor *a, tg_tensor *b) {
    return tg_binary_forward(t, file, line, &tg_op_minimum, KERN_MINIMUM, a, b);
}
