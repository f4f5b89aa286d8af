/* conv.c: the Conv2d and ConvTranspose2d layers and the MaxPool2d/AvgPool2d wrappers, over the
 * ops of tapegrad/conv.h.
 *
 * Invariant: an initialised layer's geometry is valid (checked once in init), so a forward can
 * only fail on its input, and says which layer the input did not fit. Conv2d's parameters start
 * as PyTorch's: W kaiming_uniform(a = sqrt(5)), then b uniform(+-1/sqrt(fan_in)), with
 * fan_in = in / groups x kernel area. */
#include <math.h>
#include <string.h>

#include "nn_util.h"

tg_status tg_conv2d_init(tg_conv2d *c, tg_store *s, const char *name, int64_t in, int64_t out,
                         int kernel_h, int kernel_w, const tg_conv2d_params *params, bool bias,
                         tg_dtype dtype, tg_rng *rng, tg_error *err) {
    static const char *const suffixes[] = {"weight", "bias"};
    nn_maker m;
    nn_begin(&m, "conv2d", s, name, dtype, true, rng, bias ? 2 : 1, suffixes, err);
    if (!c)
        nn_fail(&m, TG_ERR_NULL, "the layer is NULL");
    else
        memset(c, 0, sizeof *c);
    tg_conv2d_params p = params ? *params : (tg_conv2d_params){{0, 0}, {0, 0}, {0, 0}, 0};
    nn_positive(&m, "in", in);
    nn_positive(&m, "out", out);
    nn_positive(&m, "kernel_h", kernel_h);
    nn_positive(&m, "kernel_w", kernel_w);
    for (int a = 0; a < 2 && m.status == TG_OK; a++)
        if (p.stride[a] < 0 || p.padding[a] < 0 || p.dilation[a] < 0)
            nn_fail(&m, TG_ERR_ARG,
                    "stride, padding and dilation must be >= 0 (axis %d: %d, %d, "
                    "%d)",
                    a, p.stride[a], p.padding[a], p.dilation[a]);
    int64_t groups = p.groups ? p.groups : 1;
    if (m.status == TG_OK && (groups < 1 || in % groups || out % groups))
        nn_fail(&m, TG_ERR_ARG, "in %lld and out %lld must both divide by groups %d", (long long)in,
                (long long)out, p.groups);
    tg_tensor *w = nn_tensor(&m, 0, false, TG_SHAPE(out, in / groups, kernel_h, kernel_w));
    tg_tensor *b = bias ? nn_tensor(&m, 1, false, TG_SHAPE(out)) : NULL;
    if (m.status != TG_OK) return m.status;
    tg_status st = tg_init_kaiming_uniform(w, rng, sqrt(5.0), TG_FAN_IN, TG_NONLIN_LEAKY_RELU, err);
    double bound = 1.0 / sqrt((double)(in / groups * kernel_h * kernel_w));
    if (st == TG_OK && b) st = tg_init_uniform(b, rng, -bound, bound, err);
    if (st != TG_OK) return st;
    *c = (tg_conv2d){.weight = w,
                     .bias = b,
                     .in_channels = in,
                     .out_channels = out,
                     .kernel = {kernel_h, kernel_w},
                     .params = p};
    return TG_OK;
}

tg_tensor *tg_conv2d_forward_at(tg_tape *t, const char *file, int line, const tg_conv2d *c,
                                tg_tensor *x) {
    if (!nn_enter(t, file, line, "conv2d", c, c && c->weight, x)) return NULL;
    if (x->ndim != 4 || x->shape[1] != c->in_channels) {
        char xs[TG_SHAPE_STR_MAX], nm[TG_NAME_MAX];
        return tg_fail(t, TG_ERR_SHAPE,
                       "conv2d '%s' (%lld -> %lld channels): x must be (N, %lld, "
                       "H, W), got %s",
                       nn_layer_name(c->weight, nm, sizeof nm), (long long)c->in_channels,
                       (long long)c->out_channels, (long long)c->in_channels,
                       tg_shape_str(x, xs, sizeof xs));
    }
    return tg_conv2d(t, x, c->weight, c->bias, &c->params);
}

tg_status tg_conv_transpose2d_init(tg_conv_transpose2d *c, tg_store *s, const char *name,
                                   int64_t in, int64_t out, int kernel_h, int kernel_w,
                                   const tg_conv_transpose2d_params *params, bool bias,
                                   tg_dtype dtype, tg_rng *rng, tg_error *err) {
    static const char *const suffixes[] = {"weight", "bias"};
    nn_maker m;
    nn_begin(&m, "conv_transpose2d", s, name, dtype, true, rng, bias ? 2 : 1, suffixes, err);
    if (!c)
        nn_fail(&m, TG_ERR_NULL, "the layer is NULL");
    else
        memset(c, 0, sizeof *c);
    tg_conv_transpose2d_params p =
        params ? *params : (tg_conv_transpose2d_params){{0, 0}, {0, 0}, {0, 0}, {0, 0}, 0};
    nn_positive(&m, "in", in);
    nn_positive(&m, "out", out);
    nn_positive(&m, "kernel_h", kernel_h);
    nn_positive(&m, "kernel_w", kernel_w);
    for (int a = 0; a < 2 && m.status == TG_OK; a++) {
        int st = p.stride[a] ? p.stride[a] : 1;
        if (p.stride[a] < 0 || p.padding[a] < 0 || p.dilation[a] < 0 || p.output_padding[a] < 0 ||
            p.output_padding[a] >= st)
            nn_fail(&m, TG_ERR_ARG,
                    "stride, padding and dilation must be >= 0 and output_padding in [0, stride) "
                    "(axis %d: %d, %d, %d, output_padding %d)",
                    a, p.stride[a], p.padding[a], p.dilation[a], p.output_padding[a]);
    }
    int64_t groups = p.groups ? p.groups : 1;
    if (m.status == TG_OK && (groups < 1 || in % groups || out % groups))
        nn_fail(&m, TG_ERR_ARG, "in %lld and out %lld must both divide by groups %d", (long long)in,
                (long long)out, p.groups);
    tg_tensor *w = nn_tensor(&m, 0, false, TG_SHAPE(in, out / groups, kernel_h, kernel_w));
    tg_tensor *b = bias ? nn_tensor(&m, 1, false, TG_SHAPE(out)) : NULL;
    if (m.status != TG_OK) return m.status;
    tg_status st = tg_init_kaiming_uniform(w, rng, sqrt(5.0), TG_FAN_IN, TG_NONLIN_LEAKY_RELU, err);
    double bound = 1.0 / sqrt((double)(out / groups * kernel_h * kernel_w));
    if (st == TG_OK && b) st = tg_init_uniform(b, rng, -bound, bound, err);
    if (st != TG_OK) return st;
    *c = (tg_conv_transpose2d){.weight = w,
                               .bias = b,
                               .in_channels = in,
                               .out_channels = out,
                               .kernel = {kernel_h, kernel_w},
                               .params = p};
    return TG_OK;
}

tg_tensor *tg_conv_transpose2d_forward_at(tg_tape *t, const char *file, int line,
                                          const tg_conv_transpose2d *c, tg_tensor *x) {
    if (!nn_enter(t, file, line, "conv_transpose2d", c, c && c->weight, x)) return NULL;
    if (x->ndim != 4 || x->shape[1] != c->in_channels) {
        char xs[TG_SHAPE_STR_MAX], nm[TG_NAME_MAX];
        return tg_fail(t, TG_ERR_SHAPE,
                       "conv_transpose2d '%s' (%lld -> %lld channels): x must be (N, %lld, H, W), "
                       "got %s",
                       nn_layer_name(c->weight, nm, sizeof nm), (long long)c->in_channels,
                       (long long)c->out_channels, (long long)c->in_channels,
                       tg_shape_str(x, xs, sizeof xs));
    }
    return tg_conv_transpose2d(t, x, c->weight, c->bias, &c->params);
}

tg_status tg_pool2d_init(tg_pool2d *p, tg_pool_kind kind, const tg_pool2d_params *params,
                         tg_error *err) {
    if (p) memset(p, 0, sizeof *p);
    if (!p) return tg_error_set(err, TG_ERR_NULL, "pool2d: the layer is NULL");
    if (kind != TG_POOL_MAX && kind != TG_POOL_AVG)
        return tg_error_set(err, TG_ERR_ARG,
                            "pool2d: kind %d is neither TG_POOL_MAX nor "
                            "TG_POOL_AVG",
                            (int)kind);
    const char *what = kind == TG_POOL_MAX ? "max_pool2d" : "avg_pool2d";
    if (!params)
        return tg_error_set(err, TG_ERR_NULL, "%s: params are NULL (the kernel is required)", what);
    for (int a = 0; a < 2; a++) {
        int k = params->kernel[a], st = params->stride[a], pd = params->padding[a];
        int d = params->dilation[a];
        if (k <= 0 || st < 0 || pd < 0 || d < 0 || 2 * pd > k)
            return tg_error_set(err, TG_ERR_ARG,
                                "%s: bad geometry on axis %d: kernel %d (> 0), "
                                "stride %d (>= 0), padding %d (>= 0, at most half the kernel), "
                                "dilation %d (>= 0)",
                                what, a, k, st, pd, d);
        if (kind == TG_POOL_AVG && d > 1)
            return tg_error_set(err, TG_ERR_ARG,
                                "avg_pool2d: dilation %d on axis %d is not "
                                "supported",
                                d, a);
    }
    *p = (tg_pool2d){.kind = kind, .params = *params};
    return TG_OK;
}

tg_tensor *tg_pool2d_forward_at(tg_tape *t, const char *file, int line, const tg_pool2d *p,
                                tg_tensor *x) {
    if (!nn_enter(t, file, line, "pool2d", p, p && p->params.kernel[0] > 0, x)) return NULL;
    return p->kind == TG_POOL_MAX ? tg_max_pool2d(t, x, &p->params)
                                  : tg_avg_pool2d(t, x, &p->params);
}
