/* binary.c: BinaryConnect's pieces on top of the ops: the binarised (optionally alpha-scaled)
 * weight, the Linear and Conv2d layers computed with it, and the clip that keeps the shadow
 * weights in [-1, 1].
 *
 * Invariant: the forward pass never changes the shadow weights; only tg_binary_clip writes to
 * them, and it only moves a weight towards [-1, 1], never across zero, so a weight's sign (what
 * the network computes with) is the same before and after a clip. */
#include <math.h>

#include "nn_util.h"
#include "tapegrad/binary.h"

/* Every axis but the first: alpha's reduction, one output channel per row. */
static tg_tensor *row_mean_abs(tg_tape *t, tg_tensor *w) {
    int axes[TG_MAX_DIMS];
    int n = tg_tensor_ndim(w) - 1;
    for (int i = 0; i < n; i++) axes[i] = i + 1;
    return tg_mean(t, tg_abs(t, w), n, axes, true);
}

tg_tensor *tg_binary_weight_at(tg_tape *t, const char *file, int line, tg_tensor *w,
                               tg_binary_mode mode) {
    if (!nn_enter(t, file, line, "binary_weight", w, true, w)) return NULL;
    if (tg_tensor_ndim(w) < 2) {
        char ws[TG_SHAPE_STR_MAX];
        return tg_fail(t, TG_ERR_SHAPE, "binary_weight: w %s must be at least 2-D (out, ...)",
                       tg_shape_str(w, ws, sizeof ws));
    }
    if (mode != TG_BINARY_PLAIN && mode != TG_BINARY_SCALED)
        return tg_fail(t, TG_ERR_ARG,
                       "binary_weight: mode %d is neither TG_BINARY_PLAIN nor "
                       "TG_BINARY_SCALED",
                       (int)mode);
    tg_tensor *b = tg_binarize(t, w);
    return mode == TG_BINARY_SCALED ? tg_mul(t, b, row_mean_abs(t, w)) : b;
}

tg_tensor *tg_binary_linear_forward_at(tg_tape *t, const char *file, int line, const tg_linear *l,
                                       tg_tensor *x, tg_binary_mode mode) {
    if (!nn_enter(t, file, line, "binary_linear", l, l && l->weight, x)) return NULL;
    if (x->ndim < 1 || x->shape[x->ndim - 1] != l->in_features) {
        char xs[TG_SHAPE_STR_MAX], nm[TG_NAME_MAX];
        return tg_fail(
            t, TG_ERR_SHAPE, "binary_linear '%s' (%lld -> %lld): x %s must end in %lld features",
            nn_layer_name(l->weight, nm, sizeof nm), (long long)l->in_features,
            (long long)l->out_features, tg_shape_str(x, xs, sizeof xs), (long long)l->in_features);
    }
    tg_tensor *w = tg_binary_weight_at(t, file, line, l->weight, mode);
    return tg_linear_at(t, file, line, x, w, l->bias);
}

tg_tensor *tg_binary_conv2d_forward_at(tg_tape *t, const char *file, int line, const tg_conv2d *c,
                                       tg_tensor *x, tg_binary_mode mode) {
    if (!nn_enter(t, file, line, "binary_conv2d", c, c && c->weight, x)) return NULL;
    if (x->ndim != 4 || x->shape[1] != c->in_channels) {
        char xs[TG_SHAPE_STR_MAX], nm[TG_NAME_MAX];
        return tg_fail(t, TG_ERR_SHAPE,
                       "binary_conv2d '%s' (%lld -> %lld channels): x must be (N, %lld, H, W), "
                       "got %s",
                       nn_layer_name(c->weight, nm, sizeof nm), (long long)c->in_channels,
                       (long long)c->out_channels, (long long)c->in_channels,
                       tg_shape_str(x, xs, sizeof xs));
    }
    tg_tensor *w = tg_binary_weight_at(t, file, line, c->weight, mode);
    return tg_conv2d_at(t, file, line, x, w, c->bias, &c->params);
}

tg_status tg_binary_clip(int n, tg_tensor *const *params, tg_error *err) {
    if (n < 0 || (n > 0 && !params))
        return tg_error_set(err, TG_ERR_NULL, "binary_clip: %d tensors from a NULL list", n);
    for (int i = 0; i < n; i++) { /* check all first: nothing changes on an error */
        tg_tensor *p = params[i];
        if (!p) return tg_error_set(err, TG_ERR_NULL, "binary_clip: tensor %d is NULL", i);
        tg_dtype d = tg_tensor_dtype(p);
        if ((d != TG_F32 && d != TG_F64) || !tg_tensor_is_contiguous(p))
            return tg_error_set(err, TG_ERR_ARG,
                                "binary_clip: tensor %d must be contiguous f32 or f64", i);
    }
    for (int i = 0; i < n; i++) {
        int64_t count = tg_tensor_numel(params[i]);
        if (tg_tensor_dtype(params[i]) == TG_F32) {
            float *w = tg_tensor_data(params[i]);
            for (int64_t e = 0; e < count; e++)
                w[e] = w[e] > 1.0f ? 1.0f : w[e] < -1.0f ? -1.0f : w[e];
        } else {
            double *w = tg_tensor_data(params[i]);
            for (int64_t e = 0; e < count; e++) w[e] = w[e] > 1.0 ? 1.0 : w[e] < -1.0 ? -1.0 : w[e];
        }
    }
    return TG_OK;
}
