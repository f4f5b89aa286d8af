/* reshape.c: reshape and contiguous, the ops that change layout but not values.
 *
 *   reshape     y = x seen with a new shape (same numel)   dL/dx = reshape(dL/dy, x's shape)
 *   contiguous  y = x gathered into row-major memory       dL/dx = dL/dy
 *
 * reshape is a view when x is contiguous and a gathered copy otherwise. */
#include <stdio.h>

#include "op_util.h"

static void reshape_backward(tg_tape *t, const tg_node *n, tg_tensor *g, tg_tensor **grads) {
    const tg_tensor *x = n->inputs[0];
    grads[0] = tg_reshape(t, g, x->ndim, x->shape);
}

static void describe_reshape(const tg_node *n, char *buf, size_t size) {
    char s[TG_SHAPE_STR_MAX];
    snprintf(buf, size, "from %s", tg_shape_str(n->inputs[0], s, sizeof s));
}

const tg_op_desc tg_op_reshape = {"reshape", 1, reshape_backward, describe_reshape,
                                  TG_OPF_SMOOTH | TG_OPF_VIEW};

/* Resolves one -1 and checks the element count; false with an error. */
static bool resolve_shape(tg_tape *t, const tg_tensor *x, int ndim, const int64_t *shape,
                          int64_t *out) {
    char xs[TG_SHAPE_STR_MAX], ss[TG_SHAPE_STR_MAX];
    if (ndim < 0 || ndim > TG_MAX_DIMS || (ndim > 0 && !shape)) {
        tg_fail(t, TG_ERR_SHAPE, "reshape: invalid target of %d dimensions", ndim);
        return false;
    }
    int infer = -1;
    int64_t known = 1;
    for (int d = 0; d < ndim; d++) {
        out[d] = shape[d];
        if (shape[d] == -1 && infer < 0) {
            infer = d;
        } else if (shape[d] < 0) {
            tg_fail(t, TG_ERR_SHAPE, "reshape: bad size %lld in target %s", (long long)shape[d],
                    tg_dims_str(ndim, shape, ss, sizeof ss));
            return false;
        } else if (!tg_size_mul(known, shape[d], TG_MAX_NUMEL, &known)) {
            /* Checked, or (8, 2^61 + 1) would wrap to 8 elements and pass as a view of 8. */
            tg_fail(t, TG_ERR_SHAPE, "reshape: target %s has more than 2^40 elements",
                    tg_dims_str(ndim, shape, ss, sizeof ss));
            return false;
        }
    }
    int64_t n = tg_tensor_numel(x);
    if (infer >= 0) {
        if (known == 0 || n % known != 0) {
            tg_fail(t, TG_ERR_SHAPE, "reshape: cannot infer -1 in %s from %s",
                    tg_dims_str(ndim, shape, ss, sizeof ss), tg_shape_str(x, xs, sizeof xs));
            return false;
        }
        out[infer] = n / known;
        known = n;
    }
    if (known != n) {
        tg_fail(t, TG_ERR_SHAPE, "reshape: %s has %lld elements, target %s has %lld",
                tg_shape_str(x, xs, sizeof xs), (long long)n,
                tg_dims_str(ndim, shape, ss, sizeof ss), (long long)known);
        return false;
    }
    return true;
}

tg_tensor *tg_reshape_at(tg_tape *t, const char *file, int line, tg_tensor *x, int ndim,
                         const int64_t *shape) {
    if (!tg_op_enter(t, file, line, "reshape", 1, &x)) return NULL;
    int64_t target[TG_MAX_DIMS], strides[TG_MAX_DIMS];
    if (!resolve_shape(t, x, ndim, shape, target)) return NULL;
    tg_tensor *y;
    if (tg_tensor_is_contiguous(x)) {
        tg_contiguous_strides(ndim, target, strides);
        y = tg_tensor_view(t, x, ndim, target, strides, 0);
    } else {
        y = tg_tensor_alloc(t, x->dtype, ndim, target);
        if (y) {
            /* Gather x in its logical order into y's memory, read as x's shape. */
            int64_t xs_contig[TG_MAX_DIMS];
            tg_contiguous_strides(x->ndim, x->shape, xs_contig);
            kern_copy(y->dtype, y->data, xs_contig, x->dtype, x->data, x->strides, x->ndim,
                      x->shape);
        }
    }
    return y ? tg_record(t, &tg_op_reshape, y, 1, &x) : NULL;
}

static void contiguous_backward(tg_tape *t, const tg_node *n, tg_tensor *g, tg_tensor **grads) {
    (void)t;
    (void)n;
    grads[0] = g;
}

const tg_op_desc tg_op_contiguous = {"contiguous", 1, contiguous_backward, NULL, TG_OPF_SMOOTH};

tg_tensor *tg_contiguous_at(tg_tape *t, const char *file, int line, tg_tensor *x) {
    if (!tg_op_enter(t, file, line, "contiguous", 1, &x)) return NULL;
    tg_tensor *y = tg_tensor_alloc(t, x->dtype, x->ndim, x->shape);
    if (!y) return NULL;
    kern_copy(y->dtype, y->data, y->strides, x->dtype, x->data, x->strides, x->ndim, x->shape);
    return tg_record(t, &tg_op_contiguous, y, 1, &x);
}
