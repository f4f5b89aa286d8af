/* reduce_stats.c: variance and log-sum-exp over chosen axes (or all), with keepdim.
 *
 *   var        y = sum_i (x_i - mean)^2 / (n - c)     n = elements reduced, c = correction
 *              dy/dx_i = 2 (x_i - mean) / (n - c)     (the mean's own dependence on x_i drops
 *              out, as the deviations sum to zero). c = 1 is the unbiased estimate
 *              (torch.var's default), c = 0 the population variance; n <= c divides by zero
 *              and gives inf or NaN, as PyTorch does. A negative c is an error.
 *   logsumexp  y = m + ln sum_i e^(x_i - m),  m = max_i x_i (any m gives the same y; the max
 *              keeps every exponent <= 0, so nothing overflows, and a non-finite m is replaced
 *              by 0 so that all -inf gives -inf and an empty reduction gives -inf)
 *              dy/dx_i = e^(x_i - y), the softmax of the slice, computed as e^(x_i - m) / sum
 *              e^(x_j - m) so that y's rounding does not reach it
 *
 * Both are smooth; their rules use mean, sub, exp and the output itself, so they differentiate
 * again. The forward passes run the kernels on tape temporaries: two passes for var (mean, then
 * squared deviations, both summed in double), three for logsumexp. */
#include <float.h>
#include <math.h>

#include "reduce_axes.h"

extern const tg_op_desc tg_op_var, tg_op_logsumexp;

/* Writes x - r into the contiguous tmp of x's shape, where r (keepdim layout, contiguous) is
 * broadcast back along the reduced axes. */
static void sub_reduced(const tg_tensor *x, const tg_reduce_plan *p, const tg_tensor *r,
                        tg_tensor *tmp) {
    int64_t rs[TG_MAX_DIMS];
    tg_reduce_plan_bstrides(p, x->ndim, rs);
    kern_binary(KERN_SUB, x->dtype, x->ndim, x->shape, tmp->data, x->data, x->strides, r->data,
                rs);
}

/* ---- var ---- */
static tg_tensor *var(tg_tape *t, const char *file, int line, tg_tensor *x, bool all, int n_axes,
                      const int *axes, int correction, bool keepdim) {
    if (!tg_op_enter(t, file, line, "var", 1, &x)) return NULL;
    if (correction < 0) {
        char xs[TG_SHAPE_STR_MAX];
        return tg_fail(t, TG_ERR_ARG, "var: correction %d is negative (x %s)", correction,
                       tg_shape_str(x, xs, sizeof xs));
    }
    tg_reduce_plan p;
    if (!tg_reduce_plan_make(t, "var", x, all, n_axes, axes, keepdim, &p)) return NULL;
    tg_tensor *mean = tg_tensor_alloc(t, x->dtype, x->ndim, p.kept_shape);
    tg_tensor *dev = tg_tensor_alloc(t, x->dtype, x->ndim, x->shape);
    tg_tensor *y = tg_tensor_alloc(t, x->dtype, p.out_ndim, p.out_shape);
    if (!mean || !dev || !y) return NULL;
    int64_t dof = p.count - correction;
    double scale = 1.0 / (double)(dof > 0 ? dof : 0); /* inf at dof <= 0, as described above */
    kern_sum(x->dtype, x->ndim, x->shape, x->data, x->strides, p.mask, mean->data,
             1.0 / (double)p.count);
    sub_reduced(x, &p, mean, dev);
    kern_unary(KERN_SQUARE, x->dtype, tg_tensor_numel(dev), dev->data, dev->data, 0.0);
    kern_sum(x->dtype, x->ndim, x->shape, dev->data, dev->strides, p.mask, y->data, scale);
    if (!tg_record(t, &tg_op_var, y, 1, &x)) return NULL;
    tg_reduce_plan_store(&p, x, y);
    if (y->node) y->node->fattr[0] = 2.0 * scale;
    return y;
}

static void var_backward(tg_tape *t, const tg_node *n, tg_tensor *g, tg_tensor **grads) {
    tg_tensor *x = n->inputs[0];
    int axes[TG_MAX_DIMS];
    int n_axes = tg_reduce_node_axes(n, axes);
    tg_tensor *dev = tg_sub(t, x, tg_mean(t, x, n_axes, axes, true));
    grads[0] = tg_mul(t, tg_reduce_node_kept(t, n, g), tg_mul_scalar(t, dev, n->fattr[0]));
}

const tg_op_desc tg_op_var = {"var", 1, var_backward, tg_reduce_describe, TG_OPF_SMOOTH};

tg_tensor *tg_var_at(tg_tape *t, const char *file, int line, tg_tensor *x, int n_axes,
                     const int *axes, int correction, bool keepdim) {
    return var(t, file, line, x, false, n_axes, axes, correction, keepdim);
}

tg_tensor *tg_var_all_at(tg_tape *t, const char *file, int line, tg_tensor *x, int correction) {
    return var(t, file, line, x, true, 0, NULL, correction, false);
}

/* ---- logsumexp ---- */
/* Replaces non-finite maxima by 0 (see the top of the file). */
static void finite_or_zero(tg_tensor *m) {
    int64_t n = tg_tensor_numel(m);
    if (m->dtype == TG_F32) {
        float *v = (float *)(void *)m->data;
        for (int64_t i = 0; i < n; i++) v[i] = isfinite(v[i]) ? v[i] : 0.0f;
    } else {
        double *v = (double *)(void *)m->data;
        for (int64_t i = 0; i < n; i++) v[i] = isfinite(v[i]) ? v[i] : 0.0;
    }
}

static tg_tensor *logsumexp(tg_tape *t, const char *file, int line, tg_tensor *x, bool all,
                            int n_axes, const int *axes, bool keepdim) {
    if (!tg_op_enter(t, file, line, "logsumexp", 1, &x)) return NULL;
    tg_reduce_plan p;
    if (!tg_reduce_plan_make(t, "logsumexp", x, all, n_axes, axes, keepdim, &p)) return NULL;
    tg_tensor *m = tg_tensor_alloc(t, x->dtype, x->ndim, p.kept_shape);
    tg_tensor *e = tg_tensor_alloc(t, x->dtype, x->ndim, x->shape);
    tg_tensor *y = tg_tensor_alloc(t, x->dtype, p.out_ndim, p.out_shape);
    if (!m || !e || !y) return NULL;
    kern_extrema(x->dtype, x->ndim, x->shape, x->data, x->strides, p.mask, true, m->data);
    finite_or_zero(m);
    sub_reduced(x, &p, m, e);
    kern_unary(KERN_EXP, x->dtype, tg_tensor_numel(e), e->data, e->data, 0.0);
    kern_sum(x->dtype, x->ndim, x->shape, e->data, e->strides, p.mask, y->data, 1.0);
    int64_t n_out = tg_tensor_numel(y), one = 1;
    kern_unary(KERN_LOG, x->dtype, n_out, y->data, y->data, 0.0);
    kern_binary(KERN_ADD, x->dtype, 1, &n_out, y->data, y->data, &one, m->data, &one);
    if (!tg_record(t, &tg_op_logsumexp, y, 1, &x)) return NULL;
    tg_reduce_plan_store(&p, x, y);
    return y;
}

/* The shift of the backward's softmax: the maximum, except that +inf becomes the largest finite
 * value (so every finite x - shift is <= 0 and e^(x - shift) cannot overflow: the finite x get
 * weight 0 and the infinities inf/inf = NaN, as PyTorch's e^(x - y)), and -inf or NaN 0 (the
 * row's sums are then 0 or NaN anyway). A shift of 0 for +inf overflowed e^x at a large finite
 * x beside the +inf and turned its 0 into NaN. */
static void softmax_shift(tg_tensor *m) {
    int64_t n = tg_tensor_numel(m);
    if (m->dtype == TG_F32) {
        float *v = (float *)(void *)m->data;
        for (int64_t i = 0; i < n; i++)
            v[i] = isfinite(v[i]) ? v[i] : (v[i] == INFINITY ? FLT_MAX : 0.0f);
    } else {
        double *v = (double *)(void *)m->data;
        for (int64_t i = 0; i < n; i++)
            v[i] = isfinite(v[i]) ? v[i] : (v[i] == INFINITY ? DBL_MAX : 0.0);
    }
}

/* The softmax is recomputed from the slice's maximum rather than taken as e^(x - y): y is
 * rounded to |y| ulp, which e^(x - y) passes on to every gradient (3e-5 relative in f32 at
 * |x| = 1000), while x - max is exact near the top. The maximum is a constant leaf (the softmax
 * is the same for any shift), so the rule, made of ops of x, still differentiates again. */
static void logsumexp_backward(tg_tape *t, const tg_node *n, tg_tensor *g, tg_tensor **grads) {
    tg_tensor *x = n->inputs[0];
    bool mask[TG_MAX_DIMS] = {false};
    int64_t kept[TG_MAX_DIMS];
    int axes[TG_MAX_DIMS];
    int n_axes = tg_reduce_node_axes(n, axes);
    for (int d = 0; d < x->ndim; d++) {
        mask[d] = (n->iattr[0] >> d) & 1;
        kept[d] = mask[d] ? 1 : x->shape[d];
    }
    tg_tensor *m = tg_tensor_alloc(t, x->dtype, x->ndim, kept);
    if (m) {
        kern_extrema(x->dtype, x->ndim, x->shape, x->data, x->strides, mask, true, m->data);
        softmax_shift(m);
    }
    tg_tensor *e = tg_exp(t, tg_sub(t, x, m));
    tg_tensor *soft = tg_div(t, e, tg_sum(t, e, n_axes, axes, true));
    grads[0] = tg_mul(t, tg_reduce_node_kept(t, n, g), soft);
}

const tg_op_desc tg_op_logsumexp = {"logsumexp", 1, logsumexp_backward, tg_reduce_describe,
                                    TG_OPF_SMOOTH};

tg_tensor *tg_logsumexp_at(tg_tape *t, const char *file, int line, tg_tensor *x, int n_axes,
                           const int *axes, bool keepdim) {
    return logsumexp(t, file, line, x, false, n_axes, axes, keepdim);
}

tg_tensor *tg_logsumexp_all_at(tg_tape *t, const char *file, int line, tg_tensor *x) {
    return logsumexp(t, file, line, x, true, 0, NULL, false);
}
