/* compare_scalar.c: comparisons against a plain number, and selection between a tensor and a
 * plain number, so that a mask or a fill needs no scalar tensor of the matching dtype.
 *
 *   gt_scalar  z = [x > c]   (ge, lt, le, eq likewise)     no derivative: a constant mask
 *   where_scalar(cond, x, c)  z = x where cond != 0, else c     dz/dx = [cond != 0]
 *   masked_fill(x, mask, c)   z = c where mask != 0, else x     dz/dx = [mask == 0]
 *
 * Masks are 1 or 0 in x's dtype (NaN compares false), as the tensor comparisons' (compare.c).
 * Unlike those, whose rule returns zeros, a scalar comparison's result is a constant: its node
 * is recorded but the result does not require a gradient, so a product with the mask records
 * no rule for the mask's side. cond and mask count NaN as nonzero (kern_where) and get no
 * gradient; they broadcast with x, and the result has the broadcast shape. The selections'
 * rules are the same selections of the gradient with c = 0, summed back to x's shape, so they
 * differentiate again. A fill of +-inf (the usual attention mask) is allowed and told to
 * anomaly mode as deliberate.
 *
 * Node attributes: fattr[0] = c. */
#include <stdio.h>

#include "op_util.h"

/* c in dtype's representation, for a stride-0 operand of the kernels. */
typedef union scalar_buf {
    float f;
    double d;
} scalar_buf;

static const void *scalar_of(tg_dtype dtype, double c, scalar_buf *buf) {
    if (dtype == TG_F32) {
        buf->f = (float)c;
        return &buf->f;
    }
    buf->d = c;
    return &buf->d;
}

static void describe_scalar(const tg_node *n, char *buf, size_t size) {
    snprintf(buf, size, "c=%g", n->fattr[0]);
}

/* ---- comparisons ---- */
static void compare_scalar_backward(tg_tape *t, const tg_node *n, tg_tensor *g,
                                    tg_tensor **grads) {
    (void)g;
    const tg_tensor *x = n->inputs[0];
    grads[0] = tg_zeros(t, x->dtype, x->ndim, x->shape);
}

static tg_tensor *compare_scalar(tg_tape *t, const char *file, int line, const tg_op_desc *op,
                                 kern_binary_kind kind, tg_tensor *x, double c) {
    if (!tg_op_enter(t, file, line, op->name, 1, &x)) return NULL;
    tg_tensor *z = tg_tensor_alloc(t, x->dtype, x->ndim, x->shape);
    if (!z) return NULL;
    int64_t zero[TG_MAX_DIMS] = {0};
    scalar_buf buf;
    kern_binary(kind, x->dtype, x->ndim, x->shape, z->data, x->data, x->strides,
                scalar_of(x->dtype, c, &buf), zero);
    if (!tg_record(t, op, z, 1, &x)) return NULL;
    if (z->node) z->node->fattr[0] = c;
    z->requires_grad = false; /* a mask is a constant for differentiation */
    return z;
}

#define COMPARE_SCALAR(NAME, KIND)                                                             \
    const tg_op_desc tg_op_##NAME##_scalar = {#NAME "_scalar", 1, compare_scalar_backward,      \
                                              describe_scalar, TG_OPF_CONSTANT_GRAD};           \
    tg_tensor *tg_##NAME##_scalar_at(tg_tape *t, const char *file, int line, tg_tensor *x,     \
                                     double c) {                                               \
        return compare_scalar(t, file, line, &tg_op_##NAME##_scalar, KIND, x, c);              \
    }

COMPARE_SCALAR(gt, KERN_GT)
COMPARE_SCALAR(ge, KERN_GE)
COMPARE_SCALAR(lt, KERN_LT)
COMPARE_SCALAR(le, KERN_LE)
COMPARE_SCALAR(eq, KERN_EQ)

/* ---- where_scalar, masked_fill ---- */
/* z = mask != 0 ? (fill ? c : x) : (fill ? x : c) over the broadcast shape; recorded with op
 * on the inputs in the order the public function takes them. */
static tg_tensor *select_scalar(tg_tape *t, const char *file, int line, const tg_op_desc *op,
                                tg_tensor *mask, tg_tensor *x, double c, bool fill) {
    tg_tensor *in[2] = {fill ? x : mask, fill ? mask : x};
    if (!tg_op_enter(t, file, line, op->name, 2, in)) return NULL;
    int ndim;
    int64_t shape[TG_MAX_DIMS], ms[TG_MAX_DIMS], xs[TG_MAX_DIMS], zero[TG_MAX_DIMS] = {0};
    if (!tg_broadcast_shape(t, op->name, in[0], in[1], &ndim, shape)) return NULL;
    tg_tensor *z = tg_tensor_alloc(t, x->dtype, ndim, shape);
    if (!z) return NULL;
    tg_broadcast_strides(mask, ndim, shape, ms);
    tg_broadcast_strides(x, ndim, shape, xs);
    scalar_buf buf;
    const void *cv = scalar_of(x->dtype, c, &buf);
    if (fill)
        kern_where(x->dtype, ndim, shape, z->data, mask->data, ms, cv, zero, x->data, xs);
    else
        kern_where(x->dtype, ndim, shape, z->data, mask->data, ms, x->data, xs, cv, zero);
    tg_note_fattr(t, 1, &c);
    if (!tg_record(t, op, z, 2, in)) return NULL;
    if (z->node) z->node->fattr[0] = c;
    return z;
}

/* Gives the mask (input m) zeros if it needs a gradient, and x (input 1 - m) the gradient
 * selected by `selected` (a where_scalar or masked_fill of g with c = 0) summed to its shape. */
static void select_grads(tg_tape *t, const tg_node *n, int m, tg_tensor *selected,
                         tg_tensor **grads) {
    const tg_tensor *mask = n->inputs[m], *x = n->inputs[1 - m];
    if (tg_node_needs_grad(n, m)) grads[m] = tg_zeros(t, mask->dtype, mask->ndim, mask->shape);
    if (tg_node_needs_grad(n, 1 - m)) grads[1 - m] = tg_sum_to(t, selected, x->ndim, x->shape);
}

static void where_scalar_backward(tg_tape *t, const tg_node *n, tg_tensor *g,
                                  tg_tensor **grads) {
    tg_tensor *sel = tg_node_needs_grad(n, 1) ? tg_where_scalar(t, n->inputs[0], g, 0.0) : NULL;
    select_grads(t, n, 0, sel, grads);
}

static void masked_fill_backward(tg_tape *t, const tg_node *n, tg_tensor *g, tg_tensor **grads) {
    tg_tensor *sel = tg_node_needs_grad(n, 0) ? tg_masked_fill(t, g, n->inputs[1], 0.0) : NULL;
    select_grads(t, n, 1, sel, grads);
}

/* Smooth: linear in x, the only input differentiated. */
const tg_op_desc tg_op_where_scalar = {"where_scalar", 2, where_scalar_backward,
                                       describe_scalar, TG_OPF_SMOOTH};
const tg_op_desc tg_op_masked_fill = {"masked_fill", 2, masked_fill_backward, describe_scalar,
                                      TG_OPF_SMOOTH};

tg_tensor *tg_where_scalar_at(tg_tape *t, const char *file, int line, tg_tensor *cond,
                              tg_tensor *x, double c) {
    return select_scalar(t, file, line, &tg_op_where_scalar, cond, x, c, false);
}

tg_tensor *tg_masked_fill_at(tg_tape *t, const char *file, int line, tg_tensor *x,
                             tg_tensor *mask, double c) {
    return select_scalar(t, file, line, &tg_op_masked_fill, mask, x, c, true);
}
