/* compare.c: elementwise comparisons with NumPy broadcasting, giving 1 where the relation holds
 * and 0 elsewhere, in the inputs' dtype (so masks multiply and select directly).
 *
 *   gt  z = [a > b]    ge  z = [a >= b]    lt  z = [a < b]
 *   le  z = [a <= b]   eq  z = [a == b]    ne  z = [a != b]
 *   dz/da = dz/db = 0 wherever the derivative exists (everywhere but where a = b)
 *
 * Invariant: a comparison records a node like any op (so that it sits in the registry and the
 * case table like the others), and its rule returns zero gradients: the result is a constant for
 * differentiation, as step's is. NaN compares false (ne: true). */
#include "op_util.h"


static void compare_backward(tg_tape *t, const tg_node *n, tg_tensor *g, tg_tensor **grads) {
    (void)g;
    for (int i = 0; i < 2; i++) {
        const tg_tensor *x = n->inputs[i];
        if (tg_node_needs_grad(n, i)) grads[i] = tg_zeros(t, x->dtype, x->ndim, x->shape);
    }
}

#define COMPARE_OP(NAME, KIND)                                                                 \
    const tg_op_desc tg_op_##NAME = {#NAME, 2, compare_backward, NULL,                         \
                                     TG_OPF_CONSTANT_GRAD | TG_OPF_NO_ATTR};                   \
    tg_tensor *tg_##NAME##_at(tg_tape *t, const char *file, int line, tg_tensor *a,            \
                              tg_tensor *b) {                                                  \
        return tg_binary_forward(t, file, line, &tg_op_##NAME, KIND, a, b);                              \
    }

COMPARE_OP(gt, KERN_GT)
COMPARE_OP(ge, KERN_GE)
COMPARE_OP(lt, KERN_LT)
COMPARE_OP(le, KERN_LE)
COMPARE_OP(eq, KERN_EQ)
COMPARE_OP(ne, KERN_NE)
