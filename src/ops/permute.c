/* permute.c: permute (and transpose, the permutation that swaps two axes), always a view.
 *
 *   y = x with dimension i of y taken from dimension perm[i] of x
 *   dL/dx = dL/dy permuted by the inverse permutation
 *
 * Node attributes: iattr[0..ndim) = perm. */
#include <stdio.h>

#include "op_util.h"

static void permute_backward(tg_tape *t, const tg_node *n, tg_tensor *g, tg_tensor **grads) {
    int inverse[TG_MAX_DIMS];
    for (int i = 0; i < g->ndim; i++) inverse[n->iattr[i]] = i;
    grads[0] = tg_permute(t, g, inverse);
}

static void describe_permute(const tg_node *n, char *buf, size_t size) {
    size_t used = (size_t)snprintf(buf, size, "perm=(");
    for (int i = 0; i < n->out->ndim && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, i ? ",%d" : "%d", (int)n->iattr[i]);
    if (used < size) snprintf(buf + used, size - used, ")");
}

const tg_op_desc tg_op_permute = {"permute", 1, permute_backward, describe_permute,
                                  TG_OPF_SMOOTH | TG_OPF_VIEW};

tg_tensor *tg_permute_at(tg_tape *t, const char *file, int line, tg_tensor *x,
                         const int *perm) {
    if (!tg_op_enter(t, file, line, "permute", 1, &x)) return NULL;
    if (!perm && x->ndim > 0) return tg_fail(t, TG_ERR_NULL, "permute: perm is NULL");
    bool seen[TG_MAX_DIMS] = {false};
    int64_t shape[TG_MAX_DIMS], strides[TG_MAX_DIMS];
    for (int i = 0; i < x->ndim; i++) {
        int p = perm[i];
        if (p < 0 || p >= x->ndim || seen[p])
            return tg_fail(t, TG_ERR_AXIS,
                           "permute: entry %d (%d) is out of range or repeated for %d dimensions",
                           i, p, x->ndim);
        seen[p] = true;
        shape[i] = x->shape[p];
        strides[i] = x->strides[p];
    }
    tg_tensor *y = tg_tensor_view(t, x, x->ndim, shape, strides, 0);
    if (!y || !tg_record(t, &tg_op_permute, y, 1, &x)) return NULL;
    if (y->node)
        for (int i = 0; i < x->ndim; i++) y->node->iattr[i] = perm[i];
    return y;
}

tg_tensor *tg_transpose_at(tg_tape *t, const char *file, int line, tg_tensor *x, int dim0,
                           int dim1) {
    if (!tg_op_enter(t, file, line, "transpose", 1, &x)) return NULL;
    int a = tg_norm_axis_of(t, "transpose", dim0, x);
    int b = a < 0 ? -1 : tg_norm_axis_of(t, "transpose", dim1, x);
    if (b < 0) return NULL;
    int perm[TG_MAX_DIMS];
    for (int i = 0; i < x->ndim; i++) perm[i] = i;
    perm[a] = b;
    perm[b] = a;
    return tg_permute_at(t, NULL, 0, x, perm);
}
