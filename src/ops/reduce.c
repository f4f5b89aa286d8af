/* reduce.c: sum and mean over chosen axes.
 *
 *   sum   y = sum_{i in axes} x_i           dy/dx_i = 1
 *   mean  y = (1/n) sum_{i in axes} x_i     dy/dx_i = 1/n,  n = product of the reduced sizes
 *
 * Backward: g (with the reduced axes restored as size 1) is broadcast back to x's shape.
 * Node attributes: iattr[0] = bit mask of reduced axes, iattr[1] = keepdim. */
#include <math.h>
#include <stdio.h>

#include "op_util.h"

static void describe_reduce(const tg_node *n, char *buf, size_t size) {
    size_t used = (size_t)snprintf(buf, size, "axes=(");
    bool first = true;
    for (int d = 0; d < n->inputs[0]->ndim && used < size; d++) {
        if (!(n->iattr[0] & (1 << d))) continue;
        used += (size_t)snprintf(buf + used, size - used, first ? "%d" : ",%d", d);
        first = false;
    }
    if (used < size) snprintf(buf + used, size - used, ")%s", n->iattr[1] ? " keepdim" : "");
}

/* Scale 1 for sum, 1/n for mean. */
static tg_tensor *reduce(tg_tape *t, const char *file, int line, const tg_op_desc *op,
                         tg_tensor *x, int n_axes, const int *axes, bool all, bool keepdim,
                         bool mean) {
    if (!tg_op_enter(t, file, line, op->name, 1, &x)) return NULL;
    bool mask[TG_MAX_DIMS];
    if (all) {
        for (int d = 0; d < TG_MAX_DIMS; d++) mask[d] = d < x->ndim;
    } else if (!tg_axes_mask(t, op->name, x, n_axes, axes, mask)) {
        return NULL;
    }
    int64_t shape[TG_MAX_DIMS], count = 1;
    int ndim = 0;
    for (int d = 0; d < x->ndim; d++) {
        /* Saturates: only an empty x, whose mean is empty too, can overflow it. */
        if (mask[d] && !tg_size_mul(count, x->shape[d], INT64_MAX, &count)) count = INT64_MAX;
        if (!mask[d] || keepdim) shape[ndim++] = mask[d] ? 1 : x->shape[d];
    }
    tg_tensor *y = tg_tensor_alloc(t, x->dtype, ndim, shape);
    if (!y) return NULL;
    double scale = mean ? (count ? 1.0 / (double)count : NAN) : 1.0;
    kern_sum(x->dtype, x->ndim, x->shape, x->data, x->strides, mask, y->data, scale);
    if (!tg_record(t, op, y, 1, &x)) return NULL;
    if (y->node) {
        int64_t bits = 0;
        for (int d = 0; d < x->ndim; d++) bits |= (int64_t)mask[d] << d;
        y->node->iattr[0] = bits;
        y->node->iattr[1] = keepdim;
        y->node->fattr[0] = scale;
    }
    return y;
}

static void reduce_backward(tg_tape *t, const tg_node *n, tg_tensor *g, tg_tensor **grads) {
    const tg_tensor *x = n->inputs[0];
    int64_t kept[TG_MAX_DIMS];
    for (int d = 0; d < x->ndim; d++) kept[d] = (n->iattr[0] >> d) & 1 ? 1 : x->shape[d];
    tg_tensor *gk = n->iattr[1] ? g : tg_reshape(t, g, x->ndim, kept);
    if (n->fattr[0] != 1.0) gk = tg_mul_scalar(t, gk, n->fattr[0]);
    grads[0] = tg_broadcast_to(t, gk, x->ndim, x->shape);
}

const tg_op_desc tg_op_sum = {"sum", 1, reduce_backward, describe_reduce, TG_OPF_SMOOTH};
const tg_op_desc tg_op_mean = {"mean", 1, reduce_backward, describe_reduce, TG_OPF_SMOOTH};

tg_tensor *tg_sum_at(tg_tape *t, const char *file, int line, tg_tensor *x, int n_axes,
                     const int *axes, bool keepdim) {
    return reduce(t, file, line, &tg_op_sum, x, n_axes, axes, false, keepdim, false);
}

tg_tensor *tg_mean_at(tg_tape *t, const char *file, int line, tg_tensor *x, int n_axes,
                      const int *axes, bool keepdim) {
    return reduce(t, file, line, &tg_op_mean, x, n_axes, axes, false, keepdim, true);
}

tg_tensor *tg_sum_all_at(tg_tape *t, const char *file, int line, tg_tensor *x) {
    return reduce(t, file, line, &tg_op_sum, x, 0, NULL, true, false, false);
}

tg_tensor *tg_mean_all_at(tg_tape *t, const char *file, int line, tg_tensor *x) {
    return reduce(t, file, line, &tg_op_mean, x, 0, NULL, true, false, true);
}
