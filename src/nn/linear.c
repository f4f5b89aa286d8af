/* linear.c: the Linear layer, y = x W^T + b, over the tg_linear op.
 *
 * Its parameters start as PyTorch's do: W from kaiming_uniform(a = sqrt(5)), which is
 * uniform(+-1/sqrt(in)), then b from uniform(+-1/sqrt(in)), drawn in that order. */
#include <math.h>
#include <string.h>

#include "nn_util.h"

tg_status tg_linear_init(tg_linear *l, tg_store *s, const char *name, int64_t in, int64_t out,
                         bool bias, tg_dtype dtype, tg_rng *rng, tg_error *err) {
    static const char *const suffixes[] = {"weight", "bias"};
    nn_maker m;
    nn_begin(&m, "linear", s, name, dtype, true, rng, bias ? 2 : 1, suffixes, err);
    if (!l)
        nn_fail(&m, TG_ERR_NULL, "the layer is NULL");
    else
        memset(l, 0, sizeof *l);
    nn_positive(&m, "in", in);
    nn_positive(&m, "out", out);
    tg_tensor *w = nn_tensor(&m, 0, false, TG_SHAPE(out, in));
    tg_tensor *b = bias ? nn_tensor(&m, 1, false, TG_SHAPE(out)) : NULL;
    if (m.status != TG_OK) return m.status;
    tg_status st = tg_init_kaiming_uniform(w, rng, sqrt(5.0), TG_FAN_IN, TG_NONLIN_LEAKY_RELU, err);
    double bound = 1.0 / sqrt((double)in);
    if (st == TG_OK && b) st = tg_init_uniform(b, rng, -bound, bound, err);
    if (st != TG_OK) return st;
    *l = (tg_linear){.weight = w, .bias = b, .in_features = in, .out_features = out};
    return TG_OK;
}

tg_tensor *tg_linear_forward_at(tg_tape *t, const char *file, int line, const tg_linear *l,
                                tg_tensor *x) {
    if (!nn_enter(t, file, line, "linear", l, l && l->weight, x)) return NULL;
    if (x->ndim < 1 || x->shape[x->ndim - 1] != l->in_features) {
        char xs[TG_SHAPE_STR_MAX], nm[TG_NAME_MAX];
        return tg_fail(
            t, TG_ERR_SHAPE, "linear '%s' (%lld -> %lld): x %s must end in %lld features",
            nn_layer_name(l->weight, nm, sizeof nm), (long long)l->in_features,
            (long long)l->out_features, tg_shape_str(x, xs, sizeof xs), (long long)l->in_features);
    }
    return tg_linear(t, x, l->weight, l->bias);
}
