/* pad.c: constant padding of any number of dimensions at once.
 *
 *   y = value everywhere, except y[b_0 + i_0, ..., b_k + i_k] = x[i_0, ..., i_k]
 *       where (b_d, a_d) are the counts added before and after dimension d, both >= 0
 *   dL/dx = dL/dy with the padding cut away: one slice (a view) per padded dimension
 *   The constant is not an input and gets no gradient.
 *
 * Node attributes: iattr[2d], iattr[2d + 1] = (b_d, a_d) for each dimension d of x (at most
 * 2 * TG_MAX_DIMS of them); fattr[0] = value. */
#include <stdio.h>

#include "op_util.h"

static void pad_backward(tg_tape *t, const tg_node *n, tg_tensor *g, tg_tensor **grads) {
    const tg_tensor *x = n->inputs[0];
    tg_tensor *gx = g;
    for (int d = 0; d < x->ndim; d++) {
        int64_t before = n->iattr[2 * d], after = n->iattr[2 * d + 1];
        if (before || after) gx = tg_slice(t, gx, d, before, before + x->shape[d], 1);
    }
    grads[0] = gx;
}

static void describe_pad(const tg_node *n, char *buf, size_t size) {
    size_t used = (size_t)snprintf(buf, size, "pads=(");
    for (int d = 0; d < n->inputs[0]->ndim && used < size; d++)
        used += (size_t)snprintf(buf + used, size - used, d ? ", %lld:%lld" : "%lld:%lld",
                                 (long long)n->iattr[2 * d], (long long)n->iattr[2 * d + 1]);
    if (used < size) snprintf(buf + used, size - used, ") value=%g", n->fattr[0]);
}

const tg_op_desc tg_op_pad = {"pad", 1, pad_backward, describe_pad, TG_OPF_SMOOTH};

tg_tensor *tg_pad_at(tg_tape *t, const char *file, int line, tg_tensor *x, int n_pads,
                     const int64_t *pads, double value) {
    if (!tg_op_enter(t, file, line, "pad", 1, &x)) return NULL;
    char xs[TG_SHAPE_STR_MAX];
    if (n_pads != 2 * x->ndim)
        return tg_fail(t, TG_ERR_ARG,
                       "pad: x %s needs %d pad counts (before and after each dimension), got %d",
                       tg_shape_str(x, xs, sizeof xs), 2 * x->ndim, n_pads);
    if (n_pads > 0 && !pads) return tg_fail(t, TG_ERR_NULL, "pad: pads is NULL");
    int64_t shape[TG_MAX_DIMS];
    for (int d = 0; d < x->ndim; d++) {
        int64_t before = pads[2 * d], after = pads[2 * d + 1];
        if (before < 0 || after < 0)
            return tg_fail(t, TG_ERR_ARG,
                           "pad: negative pad (%lld before, %lld after) for dimension %d of %s",
                           (long long)before, (long long)after, d, tg_shape_str(x, xs, sizeof xs));
        /* Bounded first so that the sum cannot overflow; tg_check_shape does the rest. */
        if (before > TG_MAX_NUMEL || after > TG_MAX_NUMEL)
            return tg_fail(t, TG_ERR_SHAPE, "pad: pad for dimension %d exceeds 2^40", d);
        shape[d] = x->shape[d] + before + after;
    }
    if (!tg_check_shape(t, "pad", x->dtype, x->ndim, shape)) return NULL;
    tg_tensor *y = tg_tensor_alloc(t, x->dtype, x->ndim, shape);
    if (!y) return NULL;
    kern_fill(y->dtype, y->data, tg_tensor_numel(y), value);
    tg_note_fattr(t, 1, &value);
    int64_t off = 0;
    for (int d = 0; d < x->ndim; d++) off += pads[2 * d] * y->strides[d];
    kern_copy(y->dtype, y->data + off * (int64_t)tg_dtype_size(y->dtype), y->strides, x->dtype,
              x->data, x->strides, x->ndim, x->shape);
    if (!tg_record(t, &tg_op_pad, y, 1, &x)) return NULL;
    if (y->node) {
        for (int i = 0; i < n_pads; i++) y->node->iattr[i] = pads[i];
        y->node->fattr[0] = value;
    }
    return y;
}
