/* argmax.c: argmax and argmin along one axis.
 *
 *   argmax  y[..] = the first i with x[.., i, ..] = max_j x[.., j, ..]   (argmin likewise)
 *   no derivative: y is an integer-valued step function of x
 *
 * The indices are stored in x's dtype (the library's tensors are f32 or f64), exactly: an axis
 * longer than 2^24 is refused for f32, whose integers stop being exact there. A NaN counts as
 * the extreme (the first NaN wins), as NumPy and PyTorch do; ties go to the first position.
 * The result is a constant for differentiation: the node is recorded (DOT, registry), but the
 * result does not require a gradient, so no op after it records on its account; the rule
 * (zeros) is never reached through the public API.
 *
 * Node attributes: iattr[0] = the normalised axis, iattr[1] = keepdim. */
#include <math.h>
#include <stdio.h>

#include "op_util.h"

static double load(tg_dtype dtype, const char *base, int64_t offset) {
    return dtype == TG_F32 ? (double)((const float *)(const void *)base)[offset]
                           : ((const double *)(const void *)base)[offset];
}

/* Whether v replaces the best so far: NaN beats everything but an earlier NaN. */
static bool better(double v, double best, bool is_max) {
    if (isnan(best)) return false;
    if (isnan(v)) return true;
    return is_max ? v > best : v < best;
}

static void arg_backward(tg_tape *t, const tg_node *n, tg_tensor *g, tg_tensor **grads) {
    (void)g;
    const tg_tensor *x = n->inputs[0];
    grads[0] = tg_zeros(t, x->dtype, x->ndim, x->shape);
}

static void describe_arg(const tg_node *n, char *buf, size_t size) {
    snprintf(buf, size, "axis=%lld%s", (long long)n->iattr[0], n->iattr[1] ? " keepdim" : "");
}

const tg_op_desc tg_op_argmax = {"argmax", 1, arg_backward, describe_arg, TG_OPF_CONSTANT_GRAD};
const tg_op_desc tg_op_argmin = {"argmin", 1, arg_backward, describe_arg, TG_OPF_CONSTANT_GRAD};

static tg_tensor *arg_extreme(tg_tape *t, const char *file, int line, const tg_op_desc *op,
                              tg_tensor *x, int axis, bool keepdim) {
    if (!tg_op_enter(t, file, line, op->name, 1, &x)) return NULL;
    int a = tg_norm_axis_of(t, op->name, axis, x);
    if (a < 0) return NULL;
    char xs[TG_SHAPE_STR_MAX];
    int64_t len = x->shape[a];
    if (len == 0)
        return tg_fail(t, TG_ERR_SHAPE, "%s: axis %d of %s is empty", op->name, axis,
                       tg_shape_str(x, xs, sizeof xs));
    if (x->dtype == TG_F32 && len > (INT64_C(1) << 24))
        return tg_fail(t, TG_ERR_SHAPE, "%s: axis %d of f32 %s is longer than 2^24, past which "
                       "f32 cannot hold every index exactly; cast x to f64 first", op->name,
                       axis, tg_shape_str(x, xs, sizeof xs));
    /* The outer positions: every axis but a, walked in row-major order. */
    int n_outer = 0;
    int64_t oshape[TG_MAX_DIMS], ostride[TG_MAX_DIMS], yshape[TG_MAX_DIMS];
    for (int d = 0; d < x->ndim; d++) {
        if (d == a) continue;
        oshape[n_outer] = x->shape[d];
        ostride[n_outer++] = x->strides[d];
    }
    int y_ndim = 0;
    for (int d = 0; d < x->ndim; d++)
        if (d != a || keepdim) yshape[y_ndim++] = d == a ? 1 : x->shape[d];
    tg_tensor *y = tg_tensor_alloc(t, x->dtype, y_ndim, yshape);
    if (!y) return NULL;
    int64_t count = tg_tensor_numel(y), pos[TG_MAX_DIMS] = {0}, step = x->strides[a];
    bool is_max = op == &tg_op_argmax;
    for (int64_t k = 0; k < count; k++) {
        int64_t base = 0;
        for (int d = 0; d < n_outer; d++) base += pos[d] * ostride[d];
        double best = load(x->dtype, x->data, base);
        int64_t at = 0;
        for (int64_t i = 1; i < len; i++) {
            double v = load(x->dtype, x->data, base + i * step);
            if (better(v, best, is_max)) {
                best = v;
                at = i;
            }
        }
        if (y->dtype == TG_F32)
            ((float *)(void *)y->data)[k] = (float)at;
        else
            ((double *)(void *)y->data)[k] = (double)at;
        for (int d = n_outer - 1; d >= 0 && ++pos[d] == oshape[d]; d--) pos[d] = 0;
    }
    if (!tg_record(t, op, y, 1, &x)) return NULL;
    if (y->node) {
        y->node->iattr[0] = a;
        y->node->iattr[1] = keepdim;
    }
    y->requires_grad = false; /* indices are constants for differentiation */
    return y;
}

tg_tensor *tg_argmax_at(tg_tape *t, const char *file, int line, tg_tensor *x, int axis,
                        bool keepdim) {
    return arg_extreme(t, file, line, &tg_op_argmax, x, axis, keepdim);
}

tg_tensor *tg_argmin_at(tg_tape *t, const char *file, int line, tg_tensor *x, int axis,
                        bool keepdim) {
    return arg_extreme(t, file, line, &tg_op_argmin, x, axis, keepdim);
}
