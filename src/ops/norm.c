/* norm.c: batch normalisation and layer normalisation, composed from ops so that their
 * gradients (of every order) come from the ops' own rules; layer normalisation with both gamma
 * and beta is one node instead (layer_norm.c).
 *
 *   batch_norm  over every axis but 1 (channels):  y = (x - mu) / sqrt(var + eps) * gamma + beta
 *               training: mu, var are the batch's (var biased), and the running estimates move
 *               toward them: r <- (1 - momentum) r + momentum b, with the UNBIASED batch var for
 *               running_var (as PyTorch); eval: mu, var are the running estimates (constants).
 *   layer_norm  over the last n_dims axes, with gamma and beta of those axes' shape.
 */
#include "op_util.h"

/* 1 / sqrt(var + eps). */
static tg_tensor *inv_std(tg_tape *t, tg_tensor *var, double eps) {
    return tg_pow_scalar(t, tg_add_scalar(t, var, eps), -0.5);
}

/* x centred over `axes` (d = x - mean) and its biased variance, both keeping dims. */
static tg_tensor *centre(tg_tape *t, tg_tensor *x, int n_axes, const int *axes, tg_tensor **mu,
                         tg_tensor **var) {
    *mu = tg_mean(t, x, n_axes, axes, true);
    tg_tensor *d = tg_sub(t, x, *mu);
    *var = tg_mean(t, tg_mul(t, d, d), n_axes, axes, true);
    return d;
}

/* Moves a running estimate toward the batch statistic, outside any graph. */
static bool update_running(tg_tape *t, tg_tensor *running, const tg_tensor *batch, double momentum,
                           double scale) {
    int64_t n = tg_tensor_numel(running);
    tg_tensor *tmp = tg_tensor_alloc(t, TG_F64, 1, (int64_t[]){2 * n});
    if (!tmp) return false;
    double *r = (double *)(void *)tmp->data, *b = r + n;
    tg_tensor_copy_out(running, TG_F64, r);
    tg_tensor_copy_out(batch, TG_F64, b);
    for (int64_t i = 0; i < n; i++) r[i] = (1.0 - momentum) * r[i] + momentum * scale * b[i];
    tg_tensor_copy_in(running, TG_F64, r);
    return true;
}

static bool check_affine(tg_tape *t, const char *op, const char *what, const tg_tensor *p,
                         const tg_tensor *x, int ndim, const int64_t *shape) {
    char ps[TG_SHAPE_STR_MAX], es[TG_SHAPE_STR_MAX];
    if (!p) return true;
    if (!tg_op_current(t, op, what, p)) return false;
    if (p->dtype != x->dtype) {
        tg_fail(t, TG_ERR_DTYPE, "%s: %s is %s but the input is %s", op, what,
                tg_dtype_name(p->dtype), tg_dtype_name(x->dtype));
        return false;
    }
    bool ok = p->ndim == ndim;
    for (int d = 0; ok && d < ndim; d++) ok = p->shape[d] == shape[d];
    if (!ok)
        tg_fail(t, TG_ERR_SHAPE, "%s: %s has shape %s, expected %s", op, what,
                tg_shape_str(p, ps, sizeof ps), tg_dims_str(ndim, shape, es, sizeof es));
    return ok;
}

tg_tensor *tg_batch_norm_at(tg_tape *t, const char *file, int line, tg_tensor *x,
                            tg_tensor *gamma, tg_tensor *beta, tg_tensor *running_mean,
                            tg_tensor *running_var, bool training, double momentum, double eps) {
    static const char op[] = "batch_norm";
    if (!tg_op_enter(t, file, line, op, 1, &x)) return NULL;
    char xs[TG_SHAPE_STR_MAX];
    if (x->ndim < 2)
        return tg_fail(t, TG_ERR_SHAPE, "batch_norm: input must be (N, C, ...), got %s",
                       tg_shape_str(x, xs, sizeof xs));
    int64_t C = x->shape[1];
    if (!check_affine(t, op, "gamma", gamma, x, 1, &C) ||
        !check_affine(t, op, "beta", beta, x, 1, &C) ||
        !check_affine(t, op, "running_mean", running_mean, x, 1, &C) ||
        !check_affine(t, op, "running_var", running_var, x, 1, &C))
        return NULL;
    if (!(eps > 0) || !(momentum >= 0 && momentum <= 1))
        return tg_fail(t, TG_ERR_ARG, "batch_norm: needs eps > 0 and momentum in [0, 1] (got %g, %g)",
                       eps, momentum);
    if (!training && (!running_mean || !running_var))
        return tg_fail(t, TG_ERR_ARG, "batch_norm: eval mode needs running_mean and running_var");
    if ((running_mean == NULL) != (running_var == NULL))
        return tg_fail(t, TG_ERR_ARG, "batch_norm: give both running estimates or neither");

    /* Per-channel values broadcast as (C, 1, ..., 1) against (N, C, ...). */
    int64_t cshape[TG_MAX_DIMS];
    int cdim = x->ndim - 1;
    cshape[0] = C;
    for (int d = 1; d < cdim; d++) cshape[d] = 1;
    int axes[TG_MAX_DIMS], n_axes = 0;
    for (int d = 0; d < x->ndim; d++)
        if (d != 1) axes[n_axes++] = d;

    tg_tensor *y;
    if (training) {
        int64_t count = tg_tensor_numel(x) / (C ? C : 1);
        if (count < 2)
            return tg_fail(t, TG_ERR_SHAPE, "batch_norm: training needs more than one value per "
                           "channel, got input %s", tg_shape_str(x, xs, sizeof xs));
        tg_tensor *mu, *var, *d = centre(t, x, n_axes, axes, &mu, &var);
        y = tg_mul(t, d, inv_std(t, var, eps));
        if (y && running_mean &&
            (!update_running(t, running_mean, mu, momentum, 1.0) ||
             !update_running(t, running_var, var, momentum, (double)count / (double)(count - 1))))
            return NULL;
    } else {
        bool was = tg_tape_set_grad_enabled(t, false); /* the estimates are constants */
        tg_tensor *mu = tg_reshape(t, running_mean, cdim, cshape);
        tg_tensor *var = tg_reshape(t, running_var, cdim, cshape);
        tg_tape_set_grad_enabled(t, was);
        y = tg_mul(t, tg_sub(t, x, mu), inv_std(t, var, eps));
    }
    if (gamma) y = tg_mul(t, y, tg_reshape(t, gamma, cdim, cshape));
    if (beta) y = tg_add(t, y, tg_reshape(t, beta, cdim, cshape));
    return y;
}

tg_tensor *tg_layer_norm_at(tg_tape *t, const char *file, int line, tg_tensor *x, int n_dims,
                            tg_tensor *gamma, tg_tensor *beta, double eps) {
    static const char op[] = "layer_norm";
    if (!tg_op_enter(t, file, line, op, 1, &x)) return NULL;
    char xs[TG_SHAPE_STR_MAX];
    if (n_dims < 1 || n_dims > x->ndim)
        return tg_fail(t, TG_ERR_AXIS, "layer_norm: cannot normalise the last %d axes of %s",
                       n_dims, tg_shape_str(x, xs, sizeof xs));
    if (!(eps > 0)) return tg_fail(t, TG_ERR_ARG, "layer_norm: eps must be > 0, got %g", eps);
    const int64_t *tail = x->shape + (x->ndim - n_dims);
    if (!check_affine(t, op, "gamma", gamma, x, n_dims, tail) ||
        !check_affine(t, op, "beta", beta, x, n_dims, tail))
        return NULL;
    /* With both affine parts, one node (layer_norm.c); otherwise the composition. */
    if (gamma && beta && gamma->dtype == x->dtype && beta->dtype == x->dtype)
        return tg_layer_norm_fused(t, x, n_dims, gamma, beta, eps);
    int axes[TG_MAX_DIMS];
    for (int d = 0; d < n_dims; d++) axes[d] = x->ndim - n_dims + d;
    tg_tensor *mu, *var, *d = centre(t, x, n_dims, axes, &mu, &var);
    tg_tensor *y = tg_mul(t, d, inv_std(t, var, eps));
    if (gamma) y = tg_mul(t, y, gamma);
    if (beta) y = tg_add(t, y, beta);
    return y;
}
