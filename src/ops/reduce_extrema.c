/* reduce_extrema.c: max and min over chosen axes (or all), with keepdim.
 *
 *   max  y = max_{i in axes} x_i     dy/dx_i = [x_i = y] / #{j : x_j = y}
 *   min  y = min_{i in axes} x_i     the same with min
 *
 * The gradient goes to the selected element; when several elements tie for the extreme, it is
 * split equally among all of them (so the gradient still sums to g whichever order the elements
 * come in; PyTorch's amax/amin and full max/min do the same). The rule is made of ops:
 * g * eq(x, y) / sum(eq(x, y)), where the comparison is a constant. A NaN in a reduced slice
 * makes that result NaN, and its gradient goes to the NaN elements, split equally (as
 * PyTorch's max() over all elements; its amax gives the whole slice NaN). Reducing an empty axis is an error: the extreme of nothing is
 * undefined. Not flagged smooth: piecewise linear, the second derivative is 0 off the ties. */
#include "reduce_axes.h"

extern const tg_op_desc tg_op_max, tg_op_min;

static tg_tensor *extrema(tg_tape *t, const char *file, int line, const tg_op_desc *op,
                          tg_tensor *x, bool all, int n_axes, const int *axes, bool keepdim) {
    if (!tg_op_enter(t, file, line, op->name, 1, &x)) return NULL;
    tg_reduce_plan p;
    if (!tg_reduce_plan_make(t, op->name, x, all, n_axes, axes, keepdim, &p)) return NULL;
    for (int d = 0; d < x->ndim; d++) {
        if (p.mask[d] && x->shape[d] == 0) {
            char xs[TG_SHAPE_STR_MAX];
            return tg_fail(t, TG_ERR_SHAPE, "%s: cannot reduce axis %d of %s: it is empty",
                           op->name, d, tg_shape_str(x, xs, sizeof xs));
        }
    }
    tg_tensor *y = tg_tensor_alloc(t, x->dtype, p.out_ndim, p.out_shape);
    if (!y) return NULL;
    kern_extrema(x->dtype, x->ndim, x->shape, x->data, x->strides, p.mask, op == &tg_op_max,
                 y->data);
    if (!tg_record(t, op, y, 1, &x)) return NULL;
    tg_reduce_plan_store(&p, x, y);
    return y;
}

static void extrema_backward(tg_tape *t, const tg_node *n, tg_tensor *g, tg_tensor **grads) {
    tg_tensor *x = n->inputs[0];
    int axes[TG_MAX_DIMS];
    int n_axes = tg_reduce_node_axes(n, axes);
    tg_tensor *m = tg_reduce_node_kept(t, n, n->out);
    tg_tensor *hit = tg_eq(t, x, m);
    /* Where the extreme is NaN the NaN elements are the hits (x = NaN never holds), as in
     * PyTorch's max() over all elements; found by scanning the result, so rows without NaN
     * cost nothing more. */
    int64_t c[2];
    const tg_tensor *y = n->out;
    kern_count_nonfinite(y->dtype, y->ndim, y->shape, y->data, y->strides, c);
    if (c[0] > 0) hit = tg_add(t, hit, tg_mul(t, tg_ne(t, x, x), tg_ne(t, m, m)));
    tg_tensor *share = tg_div(t, hit, tg_sum(t, hit, n_axes, axes, true));
    grads[0] = tg_mul(t, tg_reduce_node_kept(t, n, g), share);
}

const tg_op_desc tg_op_max = {"max", 1, extrema_backward, tg_reduce_describe, 0};
const tg_op_desc tg_op_min = {"min", 1, extrema_backward, tg_reduce_describe, 0};

tg_tensor *tg_max_at(tg_tape *t, const char *file, int line, tg_tensor *x, int n_axes,
                     const int *axes, bool keepdim) {
    return extrema(t, file, line, &tg_op_max, x, false, n_axes, axes, keepdim);
}

tg_tensor *tg_min_at(tg_tape *t, const char *file, int line, tg_tensor *x, int n_axes,
                     const int *axes, bool keepdim) {
    return extrema(t, file, line, &tg_op_min, x, false, n_axes, axes, keepdim);
}

tg_tensor *tg_max_all_at(tg_tape *t, const char *file, int line, tg_tensor *x) {
    return extrema(t, file, line, &tg_op_max, x, true, 0, NULL, false);
}

tg_tensor *tg_min_all_at(tg_tape *t, const char *file, int line, tg_tensor *x) {
    return extrema(t, file, line, &tg_op_min, x, true, 0, NULL, false);
}
