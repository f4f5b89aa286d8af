/* concat.c: concat, which joins tensors along an existing axis, and stack, along a new one.
 *
 *   concat  y = [x_0, x_1, ..., x_{n-1}] along `axis`; y's size there is the sum of theirs
 *           dL/dx_i = slice(dL/dy, axis, o_i, o_i + size_i)   with o_i the sizes before i
 *   stack   y = concat of the x_i, each reshaped with a size-1 dimension at `axis`
 *           (a composite: its gradient comes from reshape's and concat's own rules)
 *
 * Invariant: a concat node's inputs are exactly the joined tensors in order, so backward
 * recomputes the offsets from their shapes. Node attributes: iattr[0] = axis (normalised). */
#include <stdio.h>

#include "op_util.h"

/* ---- concat ---- */
static void concat_backward(tg_tape *t, const tg_node *n, tg_tensor *g, tg_tensor **grads) {
    int axis = (int)n->iattr[0];
    int64_t off = 0;
    for (int i = 0; i < n->n_inputs; i++) {
        int64_t size = n->inputs[i]->shape[axis];
        if (tg_node_needs_grad(n, i)) grads[i] = tg_slice(t, g, axis, off, off + size, 1);
        off += size;
    }
}

static void describe_concat(const tg_node *n, char *buf, size_t size) {
    snprintf(buf, size, "axis=%lld n=%d", (long long)n->iattr[0], n->n_inputs);
}

/* n_inputs -1: any number of inputs (the node keeps them in an arena array past 4). */
const tg_op_desc tg_op_concat = {"concat", -1, concat_backward, describe_concat, TG_OPF_SMOOTH};

/* Enters an op on a list of tensors: the count, the array, each tensor and their dtypes. */
static bool enter_list(tg_tape *t, const char *file, int line, const char *op, int n,
                       tg_tensor *const *xs) {
    if (!t) return false;
    tg_tape_set_site(t, file, line);
    if (n <= 0) {
        tg_fail(t, TG_ERR_ARG, "%s: needs at least one tensor, got n = %d", op, n);
        return false;
    }
    if (!xs) {
        tg_fail(t, TG_ERR_NULL, "%s: the array of %d tensors is NULL", op, n);
        return false;
    }
    return tg_op_enter(t, NULL, 0, op, n, xs);
}

tg_tensor *tg_concat_at(tg_tape *t, const char *file, int line, int n, tg_tensor *const *xs,
                        int axis) {
    if (!enter_list(t, file, line, "concat", n, xs)) return NULL;
    const tg_tensor *x0 = xs[0];
    int a = tg_norm_axis(t, "concat", axis, x0->ndim);
    if (a < 0) return NULL;
    int64_t shape[TG_MAX_DIMS];
    for (int d = 0; d < x0->ndim; d++) shape[d] = x0->shape[d];
    shape[a] = 0;
    for (int i = 0; i < n; i++) {
        const tg_tensor *x = xs[i];
        bool fits = x->ndim == x0->ndim;
        for (int d = 0; fits && d < x0->ndim; d++) fits = d == a || x->shape[d] == x0->shape[d];
        char s0[TG_SHAPE_STR_MAX], si[TG_SHAPE_STR_MAX];
        if (!fits)
            return tg_fail(t, TG_ERR_SHAPE,
                           "concat: input %d has shape %s but input 0 has %s; they may differ "
                           "only along axis %d",
                           i, tg_shape_str(x, si, sizeof si), tg_shape_str(x0, s0, sizeof s0), a);
        /* Each size is below 2^40, but n of them could still overflow the sum. */
        if (shape[a] > TG_MAX_NUMEL - x->shape[a])
            return tg_fail(t, TG_ERR_SHAPE, "concat: the joined axis %d exceeds 2^40 elements", a);
        shape[a] += x->shape[a];
    }
    if (!tg_check_shape(t, "concat", x0->dtype, x0->ndim, shape)) return NULL;
    tg_tensor *y = tg_tensor_alloc(t, x0->dtype, x0->ndim, shape);
    if (!y) return NULL;
    int64_t es = (int64_t)tg_dtype_size(y->dtype), off = 0;
    for (int i = 0; i < n; i++) {
        const tg_tensor *x = xs[i];
        kern_copy(y->dtype, y->data + off * y->strides[a] * es, y->strides, x->dtype, x->data,
                  x->strides, x->ndim, x->shape);
        off += x->shape[a];
    }
    if (!tg_record(t, &tg_op_concat, y, n, xs)) return NULL;
    if (y->node) y->node->iattr[0] = a;
    return y;
}

/* ---- stack ---- */
tg_tensor *tg_stack_at(tg_tape *t, const char *file, int line, int n, tg_tensor *const *xs,
                       int axis) {
    if (!enter_list(t, file, line, "stack", n, xs)) return NULL;
    const tg_tensor *x0 = xs[0];
    int nd = x0->ndim + 1;
    if (nd > TG_MAX_DIMS)
        return tg_fail(t, TG_ERR_SHAPE,
                       "stack: inputs have %d dimensions; the result would need %d, at most %d "
                       "are supported",
                       x0->ndim, nd, TG_MAX_DIMS);
    int a = tg_norm_axis(t, "stack", axis, nd);
    if (a < 0) return NULL;
    for (int i = 1; i < n; i++) {
        char s0[TG_SHAPE_STR_MAX], si[TG_SHAPE_STR_MAX];
        if (!tg_same_shape(xs[i], x0))
            return tg_fail(t, TG_ERR_SHAPE, "stack: input %d has shape %s but input 0 has %s", i,
                           tg_shape_str(xs[i], si, sizeof si), tg_shape_str(x0, s0, sizeof s0));
    }
    int64_t shape[TG_MAX_DIMS];
    for (int d = 0, s = 0; d < nd; d++) shape[d] = d == a ? 1 : x0->shape[s++];
    tg_tensor **parts = tg_arena_alloc(&t->arena, (size_t)n * sizeof *parts);
    if (!parts) return tg_fail(t, TG_ERR_NOMEM, "stack: out of memory for %d inputs", n);
    for (int i = 0; i < n; i++) {
        parts[i] = tg_reshape(t, xs[i], nd, shape);
        if (!parts[i]) return NULL;
    }
    return tg_concat(t, n, parts, a);
}
