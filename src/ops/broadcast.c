/* broadcast.c: broadcast_to (a view with stride 0 along repeated dimensions) and sum_to, the
 * summation that undoes it.
 *
 *   broadcast_to  y[i] = x[i with repeated dimensions at 0]   dL/dx = sum_to(dL/dy, x's shape)
 *   sum_to        not an op of its own: sum over the broadcast axes, then reshape
 */
#include <stdio.h>

#include "op_util.h"

static void broadcast_backward(tg_tape *t, const tg_node *n, tg_tensor *g, tg_tensor **grads) {
    const tg_tensor *x = n->inputs[0];
    grads[0] = tg_sum_to(t, g, x->ndim, x->shape);
}

static void describe_broadcast(const tg_node *n, char *buf, size_t size) {
    char s[TG_SHAPE_STR_MAX];
    snprintf(buf, size, "from %s", tg_shape_str(n->inputs[0], s, sizeof s));
}

const tg_op_desc tg_op_broadcast_to = {"broadcast_to", 1, broadcast_backward,
                                       describe_broadcast, TG_OPF_SMOOTH | TG_OPF_VIEW};

/* True when x broadcasts to (ndim, shape). */
static bool broadcasts(const tg_tensor *x, int ndim, const int64_t *shape) {
    if (x->ndim > ndim) return false;
    for (int i = 0; i < x->ndim; i++) {
        int64_t xd = x->shape[i], sd = shape[ndim - x->ndim + i];
        if (xd != sd && xd != 1) return false;
    }
    return true;
}

tg_tensor *tg_broadcast_to_at(tg_tape *t, const char *file, int line, tg_tensor *x, int ndim,
                              const int64_t *shape) {
    if (!tg_op_enter(t, file, line, "broadcast_to", 1, &x)) return NULL;
    if (!tg_check_shape(t, "broadcast_to", x->dtype, ndim, shape)) return NULL;
    char xs[TG_SHAPE_STR_MAX], ss[TG_SHAPE_STR_MAX];
    if (!broadcasts(x, ndim, shape))
        return tg_fail(t, TG_ERR_SHAPE, "broadcast_to: %s cannot broadcast to %s",
                       tg_shape_str(x, xs, sizeof xs), tg_dims_str(ndim, shape, ss, sizeof ss));
    int64_t strides[TG_MAX_DIMS];
    tg_broadcast_strides(x, ndim, shape, strides);
    tg_tensor *y = tg_tensor_view(t, x, ndim, shape, strides, 0);
    return y ? tg_record(t, &tg_op_broadcast_to, y, 1, &x) : NULL;
}

tg_tensor *tg_sum_to_at(tg_tape *t, const char *file, int line, tg_tensor *x, int ndim,
                        const int64_t *shape) {
    if (!tg_op_enter(t, file, line, "sum_to", 1, &x)) return NULL;
    if (!tg_check_shape(t, "sum_to", x->dtype, ndim, shape)) return NULL;
    char xs[TG_SHAPE_STR_MAX], ss[TG_SHAPE_STR_MAX];
    /* x must be what (ndim, shape) broadcasts to. */
    bool ok = ndim <= x->ndim;
    for (int i = 0; ok && i < ndim; i++) {
        int64_t sd = shape[i], xd = x->shape[x->ndim - ndim + i];
        ok = sd == xd || sd == 1;
    }
    if (!ok)
        return tg_fail(t, TG_ERR_SHAPE, "sum_to: %s does not broadcast to %s",
                       tg_dims_str(ndim, shape, ss, sizeof ss), tg_shape_str(x, xs, sizeof xs));
    int axes[TG_MAX_DIMS], n_axes = 0, lead = x->ndim - ndim;
    for (int i = 0; i < x->ndim; i++)
        if (i < lead || (shape[i - lead] == 1 && x->shape[i] != 1)) axes[n_axes++] = i;
    if (n_axes == 0 && lead == 0) return x; /* already that shape */
    tg_tensor *s = tg_sum(t, x, n_axes, axes, true);
    return tg_reshape(t, s, ndim, shape);
}
