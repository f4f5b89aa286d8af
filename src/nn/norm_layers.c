/* norm_layers.c: BatchNorm1d/BatchNorm2d and LayerNorm layers over tg_batch_norm and
 * tg_layer_norm (tapegrad/norm.h).
 *
 * Invariant: a BatchNorm's running estimates are store buffers that only a training forward
 * changes (the op writes them in place, outside the graph); eval reads them. Both layers start
 * as PyTorch's: weight 1, bias 0, running_mean 0, running_var 1. */
#include <math.h>
#include <string.h>

#include "nn_util.h"

static tg_status batchnorm_init(tg_batchnorm *b, const char *kind, int spatial, tg_store *s,
                                const char *name, int64_t channels, double momentum, double eps,
                                bool affine, tg_dtype dtype, tg_error *err) {
    static const char *const with_affine[] = {"weight", "bias", "running_mean", "running_var"};
    const char *const *suffixes = affine ? with_affine : with_affine + 2;
    nn_maker m;
    nn_begin(&m, kind, s, name, dtype, false, NULL, 2 + 2 * affine, suffixes, err);
    if (!b)
        nn_fail(&m, TG_ERR_NULL, "the layer is NULL");
    else
        memset(b, 0, sizeof *b);
    nn_positive(&m, "channels", channels);
    if (m.status == TG_OK && !(momentum >= 0 && momentum <= 1))
        nn_fail(&m, TG_ERR_ARG, "momentum %g is outside [0, 1]", momentum);
    if (m.status == TG_OK && !(eps > 0 && isfinite(eps)))
        nn_fail(&m, TG_ERR_ARG, "eps must be positive and finite, got %g", eps);
    int k = affine ? 2 : 0;
    tg_tensor *w = affine ? nn_tensor(&m, 0, false, TG_SHAPE(channels)) : NULL;
    tg_tensor *bias = affine ? nn_tensor(&m, 1, false, TG_SHAPE(channels)) : NULL;
    tg_tensor *rm = nn_tensor(&m, k, true, TG_SHAPE(channels));
    tg_tensor *rv = nn_tensor(&m, k + 1, true, TG_SHAPE(channels));
    if (m.status != TG_OK) return m.status;
    /* The store zero-fills: only the ones need writing. */
    if (w) tg_tensor_fill(w, 1.0);
    tg_tensor_fill(rv, 1.0);
    *b = (tg_batchnorm){.weight = w,
                        .bias = bias,
                        .running_mean = rm,
                        .running_var = rv,
                        .num_features = channels,
                        .momentum = momentum,
                        .eps = eps,
                        .spatial_dims = spatial};
    return TG_OK;
}

tg_status tg_batchnorm1d_init(tg_batchnorm *b, tg_store *s, const char *name, int64_t channels,
                              double momentum, double eps, bool affine, tg_dtype dtype,
                              tg_error *err) {
    return batchnorm_init(b, "batchnorm1d", 1, s, name, channels, momentum, eps, affine, dtype,
                          err);
}

tg_status tg_batchnorm2d_init(tg_batchnorm *b, tg_store *s, const char *name, int64_t channels,
                              double momentum, double eps, bool affine, tg_dtype dtype,
                              tg_error *err) {
    return batchnorm_init(b, "batchnorm2d", 2, s, name, channels, momentum, eps, affine, dtype,
                          err);
}

tg_tensor *tg_batchnorm_forward_at(tg_tape *t, const char *file, int line, const tg_batchnorm *b,
                                   tg_tensor *x, bool training) {
    if (!nn_enter(t, file, line, "batchnorm", b, b && b->running_mean, x)) return NULL;
    bool one_d = b->spatial_dims == 1;
    bool fits =
        (one_d ? x->ndim == 2 || x->ndim == 3 : x->ndim == 4) && x->shape[1] == b->num_features;
    if (!fits) {
        char xs[TG_SHAPE_STR_MAX], nm[TG_NAME_MAX];
        long long c = (long long)b->num_features;
        return tg_fail(t, TG_ERR_SHAPE, "batchnorm%dd '%s': x must be %s with C = %lld, got %s",
                       b->spatial_dims, nn_layer_name(b->running_mean, nm, sizeof nm),
                       one_d ? "(N, C) or (N, C, L)" : "(N, C, H, W)", c,
                       tg_shape_str(x, xs, sizeof xs));
    }
    return tg_batch_norm(t, x, b->weight, b->bias, b->running_mean, b->running_var, training,
                         b->momentum, b->eps);
}

tg_status tg_layernorm_init(tg_layernorm *l, tg_store *s, const char *name, int n_dims,
                            const int64_t *shape, double eps, bool affine, tg_dtype dtype,
                            tg_error *err) {
    static const char *const suffixes[] = {"weight", "bias"};
    nn_maker m;
    nn_begin(&m, "layernorm", s, name, dtype, false, NULL, affine ? 2 : 0, suffixes, err);
    if (!l)
        nn_fail(&m, TG_ERR_NULL, "the layer is NULL");
    else
        memset(l, 0, sizeof *l);
    if (m.status == TG_OK && (n_dims < 1 || n_dims > TG_MAX_DIMS || !shape))
        nn_fail(&m, TG_ERR_ARG, "the normalised shape needs 1 to %d sizes, got %d%s", TG_MAX_DIMS,
                n_dims, shape ? "" : " and a NULL shape");
    for (int d = 0; m.status == TG_OK && d < n_dims; d++) nn_positive(&m, "each size", shape[d]);
    if (m.status == TG_OK && !(eps > 0 && isfinite(eps)))
        nn_fail(&m, TG_ERR_ARG, "eps must be positive and finite, got %g", eps);
    tg_tensor *w = affine ? nn_tensor(&m, 0, false, n_dims, shape) : NULL;
    tg_tensor *b = affine ? nn_tensor(&m, 1, false, n_dims, shape) : NULL;
    if (m.status != TG_OK) return m.status;
    if (w) tg_tensor_fill(w, 1.0);
    l->weight = w;
    l->bias = b;
    l->n_dims = n_dims;
    for (int d = 0; d < n_dims; d++) l->shape[d] = shape[d];
    l->eps = eps;
    return TG_OK;
}

tg_tensor *tg_layernorm_forward_at(tg_tape *t, const char *file, int line, const tg_layernorm *l,
                                   tg_tensor *x) {
    if (!nn_enter(t, file, line, "layernorm", l, l && l->n_dims > 0, x)) return NULL;
    bool fits = x->ndim >= l->n_dims;
    for (int d = 0; fits && d < l->n_dims; d++)
        fits = x->shape[x->ndim - l->n_dims + d] == l->shape[d];
    if (!fits) {
        char xs[TG_SHAPE_STR_MAX], ns[TG_SHAPE_STR_MAX];
        return tg_fail(t, TG_ERR_SHAPE, "layernorm: x %s must end in the normalised shape %s",
                       tg_shape_str(x, xs, sizeof xs),
                       tg_dims_str(l->n_dims, l->shape, ns, sizeof ns));
    }
    return tg_layer_norm(t, x, l->n_dims, l->weight, l->bias, l->eps);
}
