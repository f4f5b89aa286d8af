/* linear.c: the affine map of a fully connected layer, composed of recorded ops.
 *
 *   y = x W^T + b      x: (..., in)   W: (out, in)   b: (out) or none   y: (..., out)
 *   dL/dx = dL/dy W    dL/dW = sum over (...) of dL/dy^T x    dL/db = sum over (...) of dL/dy
 *
 * linear records no node of its own: the gradients come from transpose's, matmul's and add's
 * rules, so it is differentiable to any order they are. It checks the shapes itself, so that a
 * mismatch is reported as linear's and not as that of an op inside it. */
#include "op_util.h"

tg_tensor *tg_linear_at(tg_tape *t, const char *file, int line, tg_tensor *x, tg_tensor *w,
                        tg_tensor *b) {
    tg_tensor *in[3] = {x, w, b};
    if (!tg_op_enter(t, file, line, "linear", b ? 3 : 2, in)) return NULL;
    char xs[TG_SHAPE_STR_MAX], ws[TG_SHAPE_STR_MAX], bs[TG_SHAPE_STR_MAX];
    if (w->ndim != 2)
        return tg_fail(t, TG_ERR_SHAPE, "linear: W must be (out, in), got %s",
                       tg_shape_str(w, ws, sizeof ws));
    if (x->ndim < 1 || x->shape[x->ndim - 1] != w->shape[1])
        return tg_fail(
            t, TG_ERR_SHAPE, "linear: x %s must end in W's %lld input features (W is %s)",
            tg_shape_str(x, xs, sizeof xs), (long long)w->shape[1], tg_shape_str(w, ws, sizeof ws));
    if (b && (b->ndim != 1 || b->shape[0] != w->shape[0]))
        return tg_fail(t, TG_ERR_SHAPE, "linear: bias %s must be (%lld) for W %s",
                       tg_shape_str(b, bs, sizeof bs), (long long)w->shape[0],
                       tg_shape_str(w, ws, sizeof ws));
    /* The product is taken on a matrix: a single vector as a one-row matrix, and every leading
     * dimension folded into the rows. Left batched, matmul would run one small product per
     * leading index and, in the sweep, make one weight gradient per index and sum them: for a
     * (32, 64, 64) input, 32 products of 64 rows and a (32, out, in) intermediate, where folded
     * it is one product over 2048 rows (half the transformer step's time went there). The
     * fold is a view when x is contiguous and one copy otherwise. */
    int64_t in_f = w->shape[1], out = w->shape[0];
    int64_t rows = 1;
    for (int d = 0; d + 1 < x->ndim; d++) rows *= x->shape[d];
    int64_t mat[2] = {x->ndim == 1 ? 1 : rows, in_f};
    tg_tensor *x2 = x->ndim == 2 ? x : tg_reshape(t, x, 2, mat);
    tg_tensor *y = tg_matmul(t, x2, tg_transpose(t, w, 0, 1));
    if (b) y = tg_add(t, y, b);
    if (x->ndim == 2) return y;
    int64_t shape[TG_MAX_DIMS];
    for (int d = 0; d + 1 < x->ndim; d++) shape[d] = x->shape[d];
    shape[x->ndim - 1] = out;
    return tg_reshape(t, y, x->ndim, shape);
}
