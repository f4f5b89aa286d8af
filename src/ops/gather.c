/* gather.c: gather along an axis (NumPy's take_along_axis, torch.gather) and its adjoint
 * scatter_add.
 *
 *   gather       y[p] = x[p with p_axis replaced by index[p]]      y and index: index's shape
 *                dL/dx = scatter_add(dL/dy, axis, index, x's size along axis)
 *   scatter_add  y = zeros (index's shape, `size` along axis); y[p with p_axis = index[p]] += x[p]
 *                dL/dx = gather(dL/dy, axis, index)
 *
 * Each is the other's adjoint, so each rule is the other op and second derivatives come with
 * no extra code. The index is a tensor of either dtype holding whole numbers (argmax's result
 * is one); every entry is checked to be a whole number in [0, size along axis) before anything
 * is written. index has x's number of dimensions and, off the axis, x's sizes (broadcast it
 * with tg_broadcast_to first when it repeats). The index gets no gradient (zeros if asked).
 * scatter_add sums repeated positions in double, whatever the dtype (CONTRIBUTING S7.1), so
 * its result does not depend on the order of the repeats' rounding. */
#include <math.h>
#include <stdio.h>

#include "op_util.h"

static double load(tg_dtype dtype, const char *base, int64_t offset) {
    return dtype == TG_F32 ? (double)((const float *)(const void *)base)[offset]
                           : ((const double *)(const void *)base)[offset];
}

/* Advances the row-major position pos over shape; the caller counts the steps. */
static void advance(int ndim, const int64_t *shape, int64_t *pos) {
    for (int d = ndim - 1; d >= 0 && ++pos[d] == shape[d]; d--) pos[d] = 0;
}

/* Checks index against x-like operand `other` (the gathered x, or the scattered x) and reads
 * its entries, row-major, into an array on the tape: NULL with the error kept on a problem.
 * `size` is the length the entries must fall below. */
static int64_t *read_index(tg_tape *t, const char *op, const tg_tensor *other,
                           const char *other_name, int a, const tg_tensor *index, int64_t size) {
    char os[TG_SHAPE_STR_MAX], is[TG_SHAPE_STR_MAX];
    bool fits = index->ndim == other->ndim;
    for (int d = 0; fits && d < other->ndim; d++)
        fits = d == a || index->shape[d] == other->shape[d];
    if (!fits) {
        tg_fail(t, TG_ERR_SHAPE, "%s: index %s does not fit %s %s: same number of dimensions "
                "and the same sizes off axis %d", op, tg_shape_str(index, is, sizeof is),
                other_name, tg_shape_str(other, os, sizeof os), a);
        return NULL;
    }
    int64_t n = tg_tensor_numel(index), pos[TG_MAX_DIMS] = {0};
    int64_t *idx = tg_arena_alloc(&t->arena, (size_t)(n > 0 ? n : 1) * sizeof *idx);
    if (!idx) {
        tg_fail(t, TG_ERR_NOMEM, "%s: no memory for %lld indices", op, (long long)n);
        return NULL;
    }
    for (int64_t k = 0; k < n; k++) {
        int64_t off = 0;
        for (int d = 0; d < index->ndim; d++) off += pos[d] * index->strides[d];
        double v = load(index->dtype, index->data, off);
        if (!(v >= 0.0 && v < (double)size && v == floor(v))) {
            tg_fail(t, TG_ERR_ARG, "%s: index element %lld is %g, not a whole number in "
                    "[0, %lld)", op, (long long)k, v, (long long)size);
            return NULL;
        }
        idx[k] = (int64_t)v;
        advance(index->ndim, index->shape, pos);
    }
    return idx;
}

/* Enters either op: x and index current and non-NULL; returns the normalised axis or -1. */
static int enter(tg_tape *t, const char *file, int line, const char *op, tg_tensor *x,
                 int axis, tg_tensor *index) {
    if (!tg_op_enter(t, file, line, op, 1, &x)) return -1;
    if (!index) {
        tg_fail(t, TG_ERR_NULL, "%s: index is NULL", op);
        return -1;
    }
    if (!tg_op_current(t, op, "the index", index)) return -1;
    return tg_norm_axis_of(t, op, axis, x);
}

static void index_grad(tg_tape *t, const tg_node *n, tg_tensor **grads) {
    const tg_tensor *index = n->inputs[1];
    if (tg_node_needs_grad(n, 1))
        grads[1] = tg_zeros(t, index->dtype, index->ndim, index->shape);
}

static void describe_axis(const tg_node *n, char *buf, size_t size) {
    snprintf(buf, size, "axis=%lld", (long long)n->iattr[0]);
}

/* ---- gather ---- */
static void gather_backward(tg_tape *t, const tg_node *n, tg_tensor *g, tg_tensor **grads) {
    const tg_tensor *x = n->inputs[0];
    int a = (int)n->iattr[0];
    if (tg_node_needs_grad(n, 0))
        grads[0] = tg_scatter_add(t, g, a, n->inputs[1], x->shape[a]);
    index_grad(t, n, grads);
}

const tg_op_desc tg_op_gather = {"gather", 2, gather_backward, describe_axis, TG_OPF_SMOOTH};

tg_tensor *tg_gather_at(tg_tape *t, const char *file, int line, tg_tensor *x, int axis,
                        tg_tensor *index) {
    int a = enter(t, file, line, "gather", x, axis, index);
    if (a < 0) return NULL;
    int64_t *idx = read_index(t, "gather", x, "x", a, index, x->shape[a]);
    if (!idx) return NULL;
    tg_tensor *y = tg_tensor_alloc(t, x->dtype, index->ndim, index->shape);
    if (!y) return NULL;
    int64_t n = tg_tensor_numel(y), pos[TG_MAX_DIMS] = {0};
    for (int64_t k = 0; k < n; k++) {
        int64_t off = 0;
        for (int d = 0; d < x->ndim; d++) off += (d == a ? idx[k] : pos[d]) * x->strides[d];
        double v = load(x->dtype, x->data, off);
        if (y->dtype == TG_F32)
            ((float *)(void *)y->data)[k] = (float)v;
        else
            ((double *)(void *)y->data)[k] = v;
        advance(y->ndim, y->shape, pos);
    }
    tg_tensor *in[2] = {x, index};
    if (!tg_record(t, &tg_op_gather, y, 2, in)) return NULL;
    if (y->node) y->node->iattr[0] = a;
    return y;
}

/* ---- scatter_add ---- */
static void scatter_add_backward(tg_tape *t, const tg_node *n, tg_tensor *g, tg_tensor **grads) {
    if (tg_node_needs_grad(n, 0)) grads[0] = tg_gather(t, g, (int)n->iattr[0], n->inputs[1]);
    index_grad(t, n, grads);
}

const tg_op_desc tg_op_scatter_add = {"scatter_add", 2, scatter_add_backward, describe_axis,
                                      TG_OPF_SMOOTH};

tg_tensor *tg_scatter_add_at(tg_tape *t, const char *file, int line, tg_tensor *x, int axis,
                             tg_tensor *index, int64_t size) {
    int a = enter(t, file, line, "scatter_add", x, axis, index);
    if (a < 0) return NULL;
    if (size < 0)
        return tg_fail(t, TG_ERR_ARG, "scatter_add: size %lld is negative", (long long)size);
    char xs[TG_SHAPE_STR_MAX], is[TG_SHAPE_STR_MAX];
    if (!tg_same_shape(x, index))
        return tg_fail(t, TG_ERR_SHAPE, "scatter_add: x %s and index %s differ in shape",
                       tg_shape_str(x, xs, sizeof xs), tg_shape_str(index, is, sizeof is));
    int64_t *idx = read_index(t, "scatter_add", x, "x", a, index, size);
    if (!idx) return NULL;
    int64_t shape[TG_MAX_DIMS], numel;
    for (int d = 0; d < x->ndim; d++) shape[d] = d == a ? size : x->shape[d];
    if (!tg_numel_checked(x->ndim, shape, &numel))
        return tg_fail(t, TG_ERR_SHAPE, "scatter_add: a result of %s with %lld along axis %d "
                       "has more than 2^40 elements", tg_shape_str(x, xs, sizeof xs),
                       (long long)size, axis);
    tg_tensor *y = tg_tensor_alloc(t, x->dtype, x->ndim, shape);
    double *acc = y ? tg_arena_alloc(&t->arena, (size_t)(numel > 0 ? numel : 1) * sizeof *acc)
                    : NULL;
    if (!acc) return y ? tg_fail(t, TG_ERR_NOMEM, "scatter_add: no memory for the sums") : NULL;
    for (int64_t k = 0; k < numel; k++) acc[k] = 0.0;
    int64_t n = tg_tensor_numel(x), pos[TG_MAX_DIMS] = {0};
    for (int64_t k = 0; k < n; k++) {
        int64_t xoff = 0, yoff = 0;
        for (int d = 0; d < x->ndim; d++) {
            xoff += pos[d] * x->strides[d];
            yoff += (d == a ? idx[k] : pos[d]) * y->strides[d];
        }
        acc[yoff] += load(x->dtype, x->data, xoff);
        advance(x->ndim, x->shape, pos);
    }
    kern_copy(y->dtype, y->data, y->strides, TG_F64, acc, y->strides, y->ndim, y->shape);
    tg_tensor *in[2] = {x, index};
    if (!tg_record(t, &tg_op_scatter_add, y, 2, in)) return NULL;
    if (y->node) y->node->iattr[0] = a;
    return y;
}
