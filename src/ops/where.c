/* where.c: elementwise selection, where(mask, a, b), with three-way NumPy broadcasting.
 *
 *   z = a where mask != 0, else b          (NaN in mask counts as nonzero)
 *   dz/da = [mask != 0]    dz/db = [mask == 0]    dz/dmask = 0: the mask gets no gradient
 *
 * Backward selects rather than multiplies (where(mask, g, 0) and where(mask, 0, g)), so an
 * infinite or NaN gradient on one side never leaks into the other as 0 * inf. Each gradient is
 * then summed back to its input's shape. All three inputs share one dtype; a mask from the
 * comparison ops (compare.c) has it already. */
#include "op_util.h"

/* The broadcast shape of three tensors, or false with an error naming all three shapes. */
static bool broadcast3(tg_tape *t, tg_tensor *const *in, int *ndim, int64_t *shape) {
    int n = 0;
    for (int k = 0; k < 3; k++) n = in[k]->ndim > n ? in[k]->ndim : n;
    for (int i = 0; i < n; i++) {
        int64_t d = 1;
        for (int k = 0; k < 3; k++) {
            int ik = i - (n - in[k]->ndim);
            int64_t dk = ik >= 0 ? in[k]->shape[ik] : 1;
            if (dk == 1 || dk == d) continue;
            if (d != 1) {
                char ms[TG_SHAPE_STR_MAX], as[TG_SHAPE_STR_MAX], bs[TG_SHAPE_STR_MAX];
                tg_fail(t, TG_ERR_SHAPE,
                        "where: mask %s, a %s and b %s cannot broadcast (dimension %d)",
                        tg_shape_str(in[0], ms, sizeof ms), tg_shape_str(in[1], as, sizeof as),
                        tg_shape_str(in[2], bs, sizeof bs), i);
                return false;
            }
            d = dk;
        }
        shape[i] = d;
    }
    *ndim = n;
    return true;
}

static void where_backward(tg_tape *t, const tg_node *n, tg_tensor *g, tg_tensor **grads) {
    tg_tensor *mask = n->inputs[0];
    tg_tensor *zero = tg_scalar(t, g->dtype, 0.0);
    if (tg_node_needs_grad(n, 0)) grads[0] = tg_zeros(t, mask->dtype, mask->ndim, mask->shape);
    if (tg_node_needs_grad(n, 1)) {
        const tg_tensor *a = n->inputs[1];
        grads[1] = tg_sum_to(t, tg_where(t, mask, g, zero), a->ndim, a->shape);
    }
    if (tg_node_needs_grad(n, 2)) {
        const tg_tensor *b = n->inputs[2];
        grads[2] = tg_sum_to(t, tg_where(t, mask, zero, g), b->ndim, b->shape);
    }
}

/* Smooth: linear in a and b, which are what is differentiated. */
const tg_op_desc tg_op_where = {"where", 3, where_backward, NULL, TG_OPF_SMOOTH | TG_OPF_NO_ATTR};

tg_tensor *tg_where_at(tg_tape *t, const char *file, int line, tg_tensor *mask, tg_tensor *a,
                       tg_tensor *b) {
    tg_tensor *in[3] = {mask, a, b};
    if (!tg_op_enter(t, file, line, "where", 3, in)) return NULL;
    int ndim;
    int64_t shape[TG_MAX_DIMS], ms[TG_MAX_DIMS], as[TG_MAX_DIMS], bs[TG_MAX_DIMS];
    if (!broadcast3(t, in, &ndim, shape)) return NULL;
    tg_tensor *z = tg_tensor_alloc(t, a->dtype, ndim, shape);
    if (!z) return NULL;
    tg_broadcast_strides(mask, ndim, shape, ms);
    tg_broadcast_strides(a, ndim, shape, as);
    tg_broadcast_strides(b, ndim, shape, bs);
    kern_where(a->dtype, ndim, shape, z->data, mask->data, ms, a->data, as, b->data, bs);
    return tg_record(t, &tg_op_where, z, 3, in);
}
