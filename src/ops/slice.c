/* slice.c: slice with a step along one axis (a view), and its adjoint slice_embed.
 *
 *   slice        y = x[..., start:stop:step, ...]     dL/dx = slice_embed(dL/dy)
 *   slice_embed  y = zeros(shape); y[..., start:stop:step, ...] = x
 *                                                     dL/dx = slice(dL/dy)
 *
 * Node attributes: iattr[0] = axis, [1] = start, [2] = stop, [3] = step (resolved and
 * clamped), and for slice_embed [4..4+ndim) = the full shape. */
#include <stdio.h>

#include "op_util.h"

/* Python's slice resolution for step > 0: negative bounds count from the end, then clamp.
 * A step longer than the axis selects what a step of the axis's length does (at most the start
 * element), so it is shortened to that: the view's stride, step x stride, then cannot overflow
 * (INT64_MAX as a step once made a (-1, 3) view). Returns the number of elements selected. */
static int64_t resolve(int64_t size, int64_t *start, int64_t *stop, int64_t *step) {
    if (*start < 0) *start += size;
    if (*stop < 0) *stop += size;
    if (*start < 0) *start = 0;
    if (*start > size) *start = size;
    if (*stop < *start) *stop = *start;
    if (*stop > size) *stop = size;
    if (*step > size) *step = size > 0 ? size : 1;
    int64_t span = *stop - *start;
    return span == 0 ? 0 : (span - 1) / *step + 1;
}

static void describe_slice(const tg_node *n, char *buf, size_t size) {
    snprintf(buf, size, "axis=%lld %lld:%lld:%lld", (long long)n->iattr[0],
             (long long)n->iattr[1], (long long)n->iattr[2], (long long)n->iattr[3]);
}

static void set_attrs(tg_node *n, int axis, int64_t start, int64_t stop, int64_t step) {
    n->iattr[0] = axis;
    n->iattr[1] = start;
    n->iattr[2] = stop;
    n->iattr[3] = step;
}

/* ---- slice ---- */
static void slice_backward(tg_tape *t, const tg_node *n, tg_tensor *g, tg_tensor **grads) {
    const tg_tensor *x = n->inputs[0];
    grads[0] = tg_slice_embed(t, g, x->ndim, x->shape, (int)n->iattr[0], n->iattr[1],
                              n->iattr[2], n->iattr[3]);
}

const tg_op_desc tg_op_slice = {"slice", 1, slice_backward, describe_slice,
                                TG_OPF_SMOOTH | TG_OPF_VIEW};

tg_tensor *tg_slice_at(tg_tape *t, const char *file, int line, tg_tensor *x, int axis,
                       int64_t start, int64_t stop, int64_t step) {
    if (!tg_op_enter(t, file, line, "slice", 1, &x)) return NULL;
    int a = tg_norm_axis_of(t, "slice", axis, x);
    if (a < 0) return NULL;
    if (step <= 0) return tg_fail(t, TG_ERR_ARG, "slice: step must be positive, got %lld",
                                  (long long)step);
    int64_t shape[TG_MAX_DIMS], strides[TG_MAX_DIMS];
    for (int d = 0; d < x->ndim; d++) {
        shape[d] = x->shape[d];
        strides[d] = x->strides[d];
    }
    shape[a] = resolve(x->shape[a], &start, &stop, &step);
    if (!tg_size_mul(x->strides[a], step, INT64_MAX, &strides[a]))
        return tg_fail(t, TG_ERR_ARG, "slice: step %lld times stride %lld overflows",
                       (long long)step, (long long)x->strides[a]);
    tg_tensor *y = tg_tensor_view(t, x, x->ndim, shape, strides, start * x->strides[a]);
    if (!y || !tg_record(t, &tg_op_slice, y, 1, &x)) return NULL;
    if (y->node) set_attrs(y->node, a, start, stop, step);
    return y;
}

/* ---- slice_embed ---- */
static void slice_embed_backward(tg_tape *t, const tg_node *n, tg_tensor *g, tg_tensor **grads) {
    grads[0] = tg_slice(t, g, (int)n->iattr[0], n->iattr[1], n->iattr[2], n->iattr[3]);
}

const tg_op_desc tg_op_slice_embed = {"slice_embed", 1, slice_embed_backward, describe_slice,
                                      TG_OPF_SMOOTH};

tg_tensor *tg_slice_embed_at(tg_tape *t, const char *file, int line, tg_tensor *x, int ndim,
                             const int64_t *shape, int axis, int64_t start, int64_t stop,
                             int64_t step) {
    if (!tg_op_enter(t, file, line, "slice_embed", 1, &x)) return NULL;
    if (!tg_check_shape(t, "slice_embed", x->dtype, ndim, shape)) return NULL;
    int a = tg_norm_axis(t, "slice_embed", axis, ndim);
    if (a < 0) return NULL;
    if (step <= 0) return tg_fail(t, TG_ERR_ARG, "slice_embed: step must be positive, got %lld",
                                  (long long)step);
    int64_t want[TG_MAX_DIMS];
    for (int d = 0; d < ndim; d++) want[d] = shape[d];
    want[a] = resolve(shape[a], &start, &stop, &step);
    char xs[TG_SHAPE_STR_MAX], ws[TG_SHAPE_STR_MAX];
    bool fits = x->ndim == ndim;
    for (int d = 0; fits && d < ndim; d++) fits = x->shape[d] == want[d];
    if (!fits)
        return tg_fail(t, TG_ERR_SHAPE, "slice_embed: input %s does not match the slice %s",
                       tg_shape_str(x, xs, sizeof xs), tg_dims_str(ndim, want, ws, sizeof ws));
    tg_tensor *y = tg_tensor_alloc(t, x->dtype, ndim, shape);
    if (!y) return NULL;
    kern_fill(y->dtype, y->data, tg_tensor_numel(y), 0.0);
    int64_t strides[TG_MAX_DIMS];
    for (int d = 0; d < ndim; d++) strides[d] = y->strides[d];
    /* y is contiguous and step at most its axis's length: no overflow past y's extent. */
    if (!tg_size_mul(strides[a], step, INT64_MAX, &strides[a]))
        return tg_fail(t, TG_ERR_ARG, "slice_embed: step %lld overflows", (long long)step);
    char *dst = y->data + start * y->strides[a] * (int64_t)tg_dtype_size(y->dtype);
    kern_copy(y->dtype, dst, strides, x->dtype, x->data, x->strides, ndim, x->shape);
    if (!tg_record(t, &tg_op_slice_embed, y, 1, &x)) return NULL;
    if (y->node) set_attrs(y->node, a, start, stop, step);
    return y;
}
