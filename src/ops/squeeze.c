/* squeeze.c: views that drop or add an axis: squeeze, unsqueeze and select.
 *
 *   squeeze    y = x without the size-1 axes in the mask       dL/dx = unsqueeze(dL/dy) per axis
 *   unsqueeze  y = x with a size-1 axis inserted at `axis`     dL/dx = squeeze(dL/dy, axis)
 *   select     y = x[..., i, ...] (axis dropped)               dL/dx = slice_embed of
 *                                                              unsqueeze(dL/dy, axis) at i:i+1
 *
 * All three are views whatever x's layout (a size-1 axis can take any stride, and select only
 * moves the data pointer), so they never copy. Axes count from the end when negative, as
 * NumPy's; squeezing an axis whose size is not 1 is an error (as NumPy, not PyTorch, which
 * returns x unchanged and so hides a wrong axis).
 *
 * Node attributes: squeeze iattr[0] = the bit mask of removed axes of x; unsqueeze iattr[0] =
 * the new axis of y; select iattr[0] = axis of x, iattr[1] = the resolved index. */
#include <stdio.h>

#include "op_util.h"

/* ---- squeeze ---- */
static void squeeze_backward(tg_tape *t, const tg_node *n, tg_tensor *g, tg_tensor **grads) {
    /* Re-inserting the removed axes in increasing order puts each at its place in x. */
    const tg_tensor *x = n->inputs[0];
    tg_tensor *r = g;
    for (int d = 0; d < x->ndim && r; d++)
        if (n->iattr[0] & (INT64_C(1) << d)) r = tg_unsqueeze(t, r, d);
    grads[0] = r;
}

static void describe_squeeze(const tg_node *n, char *buf, size_t size) {
    size_t used = (size_t)snprintf(buf, size, "axes=(");
    int k = 0;
    for (int d = 0; d < n->inputs[0]->ndim && used < size; d++)
        if (n->iattr[0] & (INT64_C(1) << d))
            used += (size_t)snprintf(buf + used, size - used, k++ ? ",%d" : "%d", d);
    if (used < size) snprintf(buf + used, size - used, ")");
}

const tg_op_desc tg_op_squeeze = {"squeeze", 1, squeeze_backward, describe_squeeze,
                                  TG_OPF_SMOOTH | TG_OPF_VIEW};

/* The view of x without the axes in mask (each of size 1), recorded as squeeze. */
static tg_tensor *squeeze_mask(tg_tape *t, tg_tensor *x, int64_t mask) {
    int64_t shape[TG_MAX_DIMS], strides[TG_MAX_DIMS];
    int k = 0;
    for (int d = 0; d < x->ndim; d++) {
        if (mask & (INT64_C(1) << d)) continue;
        shape[k] = x->shape[d];
        strides[k++] = x->strides[d];
    }
    tg_tensor *y = tg_tensor_view(t, x, k, shape, strides, 0);
    if (!y || !tg_record(t, &tg_op_squeeze, y, 1, &x)) return NULL;
    if (y->node) y->node->iattr[0] = mask;
    return y;
}

tg_tensor *tg_squeeze_at(tg_tape *t, const char *file, int line, tg_tensor *x, int axis) {
    if (!tg_op_enter(t, file, line, "squeeze", 1, &x)) return NULL;
    int a = tg_norm_axis_of(t, "squeeze", axis, x);
    if (a < 0) return NULL;
    if (x->shape[a] != 1) {
        char xs[TG_SHAPE_STR_MAX];
        return tg_fail(t, TG_ERR_SHAPE, "squeeze: axis %d of %s has size %lld, not 1", axis,
                       tg_shape_str(x, xs, sizeof xs), (long long)x->shape[a]);
    }
    return squeeze_mask(t, x, INT64_C(1) << a);
}

tg_tensor *tg_squeeze_all_at(tg_tape *t, const char *file, int line, tg_tensor *x) {
    if (!tg_op_enter(t, file, line, "squeeze", 1, &x)) return NULL;
    int64_t mask = 0;
    for (int d = 0; d < x->ndim; d++)
        if (x->shape[d] == 1) mask |= INT64_C(1) << d;
    return squeeze_mask(t, x, mask);
}

/* ---- unsqueeze ---- */
static void unsqueeze_backward(tg_tape *t, const tg_node *n, tg_tensor *g, tg_tensor **grads) {
    grads[0] = tg_squeeze(t, g, (int)n->iattr[0]);
}

static void describe_axis(const tg_node *n, char *buf, size_t size) {
    snprintf(buf, size, "axis=%lld", (long long)n->iattr[0]);
}

const tg_op_desc tg_op_unsqueeze = {"unsqueeze", 1, unsqueeze_backward, describe_axis,
                                    TG_OPF_SMOOTH | TG_OPF_VIEW};

tg_tensor *tg_unsqueeze_at(tg_tape *t, const char *file, int line, tg_tensor *x, int axis) {
    if (!tg_op_enter(t, file, line, "unsqueeze", 1, &x)) return NULL;
    char xs[TG_SHAPE_STR_MAX];
    if (x->ndim >= TG_MAX_DIMS)
        return tg_fail(t, TG_ERR_SHAPE, "unsqueeze: %s already has the most dimensions (%d)",
                       tg_shape_str(x, xs, sizeof xs), TG_MAX_DIMS);
    /* The axis is one of the result's: -1 appends, as NumPy's expand_dims. */
    int a = axis < 0 ? axis + x->ndim + 1 : axis;
    if (a < 0 || a > x->ndim)
        return tg_fail(t, TG_ERR_AXIS, "unsqueeze: axis %d is out of range for %s (%d to %d)",
                       axis, tg_shape_str(x, xs, sizeof xs), -(x->ndim + 1), x->ndim);
    int64_t shape[TG_MAX_DIMS], strides[TG_MAX_DIMS];
    for (int d = 0, k = 0; d <= x->ndim; d++) {
        if (d == a) {
            shape[d] = 1;
            /* Any stride serves a size-1 axis; this one keeps a contiguous x contiguous. */
            strides[d] = a < x->ndim ? x->shape[a] * x->strides[a] : 1;
            continue;
        }
        shape[d] = x->shape[k];
        strides[d] = x->strides[k++];
    }
    tg_tensor *y = tg_tensor_view(t, x, x->ndim + 1, shape, strides, 0);
    if (!y || !tg_record(t, &tg_op_unsqueeze, y, 1, &x)) return NULL;
    if (y->node) y->node->iattr[0] = a;
    return y;
}

/* ---- select ---- */
static void select_backward(tg_tape *t, const tg_node *n, tg_tensor *g, tg_tensor **grads) {
    const tg_tensor *x = n->inputs[0];
    int a = (int)n->iattr[0];
    int64_t i = n->iattr[1];
    grads[0] = tg_slice_embed(t, tg_unsqueeze(t, g, a), x->ndim, x->shape, a, i, i + 1, 1);
}

static void describe_select(const tg_node *n, char *buf, size_t size) {
    snprintf(buf, size, "axis=%lld index=%lld", (long long)n->iattr[0], (long long)n->iattr[1]);
}

const tg_op_desc tg_op_select = {"select", 1, select_backward, describe_select,
                                 TG_OPF_SMOOTH | TG_OPF_VIEW};

tg_tensor *tg_select_at(tg_tape *t, const char *file, int line, tg_tensor *x, int axis,
                        int64_t index) {
    if (!tg_op_enter(t, file, line, "select", 1, &x)) return NULL;
    int a = tg_norm_axis_of(t, "select", axis, x);
    if (a < 0) return NULL;
    int64_t size = x->shape[a], i = index < 0 ? index + size : index;
    if (i < 0 || i >= size) {
        char xs[TG_SHAPE_STR_MAX];
        return tg_fail(t, TG_ERR_ARG, "select: index %lld is out of range for axis %d of %s",
                       (long long)index, axis, tg_shape_str(x, xs, sizeof xs));
    }
    int64_t shape[TG_MAX_DIMS], strides[TG_MAX_DIMS];
    for (int d = 0, k = 0; d < x->ndim; d++) {
        if (d == a) continue;
        shape[k] = x->shape[d];
        strides[k++] = x->strides[d];
    }
    tg_tensor *y = tg_tensor_view(t, x, x->ndim - 1, shape, strides, i * x->strides[a]);
    if (!y || !tg_record(t, &tg_op_select, y, 1, &x)) return NULL;
    if (y->node) {
        y->node->iattr[0] = a;
        y->node->iattr[1] = i;
    }
    return y;
}
