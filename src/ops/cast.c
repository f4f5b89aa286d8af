/* cast.c: cast between element types, and detach (stop-gradient).
 *
 *   cast    y = x converted to dtype d (f32 <-> f64; round to nearest)   dL/dx = cast(dL/dy, x's dtype)
 *   detach  y = x                                                        dL/dx = 0
 *
 * cast to the dtype x already has is a view of x, so it costs a header; across dtypes it is a
 * copy. detach is a view that records a node (so it shows in the DOT picture and the registry)
 * but whose result does not require a gradient: no op after it records on its account and the
 * sweep never reaches it, as PyTorch's detach. Its rule (zeros) is there for the registry: the
 * public API cannot make an op's result require a gradient again, so no sweep calls it.
 *
 * Node attribute of cast: iattr[0] = the target dtype. */
#include <stdio.h>

#include "op_util.h"

/* ---- cast ---- */
static void cast_backward(tg_tape *t, const tg_node *n, tg_tensor *g, tg_tensor **grads) {
    grads[0] = tg_cast(t, g, n->inputs[0]->dtype);
}

static void describe_cast(const tg_node *n, char *buf, size_t size) {
    snprintf(buf, size, "%s to %s", tg_dtype_name(n->inputs[0]->dtype),
             tg_dtype_name((tg_dtype)n->iattr[0]));
}

/* Not TG_OPF_VIEW: across dtypes the result is new memory, and f64 -> f32 can overflow to
 * infinity from finite inputs, which anomaly mode must see. */
const tg_op_desc tg_op_cast = {"cast", 1, cast_backward, describe_cast, TG_OPF_SMOOTH};

tg_tensor *tg_cast_at(tg_tape *t, const char *file, int line, tg_tensor *x, tg_dtype dtype) {
    if (!tg_op_enter(t, file, line, "cast", 1, &x)) return NULL;
    if (dtype != TG_F32 && dtype != TG_F64)
        return tg_fail(t, TG_ERR_DTYPE, "cast: target dtype %d is neither TG_F32 nor TG_F64",
                       (int)dtype);
    tg_tensor *y;
    if (dtype == x->dtype) {
        y = tg_tensor_view(t, x, x->ndim, x->shape, x->strides, 0);
    } else {
        y = tg_tensor_alloc(t, dtype, x->ndim, x->shape);
        if (y)
            kern_copy(dtype, y->data, y->strides, x->dtype, x->data, x->strides, x->ndim,
                      x->shape);
    }
    if (!y || !tg_record(t, &tg_op_cast, y, 1, &x)) return NULL;
    if (y->node) y->node->iattr[0] = dtype;
    return y;
}

/* ---- detach ---- */
static void detach_backward(tg_tape *t, const tg_node *n, tg_tensor *g, tg_tensor **grads) {
    (void)g;
    const tg_tensor *x = n->inputs[0];
    grads[0] = tg_zeros(t, x->dtype, x->ndim, x->shape);
}

const tg_op_desc tg_op_detach = {"detach", 1, detach_backward, NULL,
                                 TG_OPF_SMOOTH | TG_OPF_VIEW | TG_OPF_CONSTANT_GRAD};

tg_tensor *tg_detach_at(tg_tape *t, const char *file, int line, tg_tensor *x) {
    if (!tg_op_enter(t, file, line, "detach", 1, &x)) return NULL;
    tg_tensor *y = tg_tensor_view(t, x, x->ndim, x->shape, x->strides, 0);
    if (!y || !tg_record(t, &tg_op_detach, y, 1, &x)) return NULL;
    y->requires_grad = false; /* a constant from here on, though the node stays on the tape */
    return y;
}
