/* net.c: the random feature network, Gram matrices and losses of style.h.
 *
 * Invariant: every loss is a chain of registered ops on the tape, so its gradient with respect
 * to the pixels comes from the ops' own (proven) backward rules; nothing here differentiates
 * by hand. */
#include "style.h"

#include <math.h>
#include <stdio.h>

static const tg_conv2d_params same3 = {.padding = {1, 1}};
static const tg_pool2d_params halve = {.kernel = {2, 2}};

tg_status st_net_init(st_net *net, tg_store *s, tg_dtype dtype, int n_layers, const int *width,
                      tg_rng *rng, tg_error *err) {
    if (!net || !s || !width || !rng) return tg_error_set(err, TG_ERR_NULL, "st_net_init: NULL");
    if (n_layers < 1 || n_layers > ST_MAX_LAYERS)
        return tg_error_set(err, TG_ERR_ARG, "st_net_init: %d layers (1..%d)", n_layers,
                            ST_MAX_LAYERS);
    net->n_layers = n_layers;
    int c_in = 3;
    for (int i = 0; i < n_layers; i++) {
        if (width[i] < 1 || width[i] > 512)
            return tg_error_set(err, TG_ERR_ARG, "st_net_init: width %d (1..512)", width[i]);
        char name[32];
        snprintf(name, sizeof name, "st.w%d", i);
        net->w[i] = tg_store_buffer(s, name, dtype, TG_SHAPE(width[i], c_in, 3, 3));
        snprintf(name, sizeof name, "st.b%d", i);
        net->b[i] = tg_store_buffer(s, name, dtype, TG_SHAPE(width[i]));
        if (!net->w[i] || !net->b[i])
            return tg_error_set(err, tg_store_status(s), "st_net_init: %s", tg_store_error(s));
        int fan_in = c_in * 9;
        double sd = sqrt(2.0 / fan_in);
        for (int o = 0; o < width[i]; o++) {
            /* Zero-mean filters respond to structure, not to the patch's mean brightness, which
             * a plain normal draw would leave in every filter by chance. */
            double v[9 * 512], mean = 0;
            int n = fan_in < 9 * 512 ? fan_in : 9 * 512;
            for (int k = 0; k < n; k++) mean += v[k] = sd * tg_rng_normal(rng);
            mean /= n;
            for (int k = 0; k < n; k++) {
                int64_t at = (int64_t)o * fan_in + k;
                if (dtype == TG_F64) ((double *)tg_tensor_data(net->w[i]))[at] = v[k] - mean;
                else ((float *)tg_tensor_data(net->w[i]))[at] = (float)(v[k] - mean);
            }
            double bias = 0.1 * sd * tg_rng_normal(rng);
            if (dtype == TG_F64) ((double *)tg_tensor_data(net->b[i]))[o] = bias;
            else ((float *)tg_tensor_data(net->b[i]))[o] = (float)bias;
        }
        c_in = width[i];
    }
    return TG_OK;
}

bool st_features(tg_tape *t, const st_net *net, tg_tensor *x, tg_tensor **f) {
    /* Centred pixels, so the first layer's biases see a signal around zero. */
    tg_tensor *h = tg_add_scalar(t, x, -0.5);
    for (int i = 0; i < net->n_layers; i++) {
        if (i > 0) h = tg_avg_pool2d(t, h, &halve);
        h = f[i] = tg_relu(t, tg_conv2d(t, h, net->w[i], net->b[i], &same3));
        if (!h) return false;
    }
    return true;
}

tg_tensor *st_gram(tg_tape *t, tg_tensor *f) {
    if (!f) return NULL;
    int64_t c = tg_tensor_dim(f, 1), hw = tg_tensor_dim(f, 2) * tg_tensor_dim(f, 3);
    tg_tensor *m = tg_reshape(t, f, TG_SHAPE(c, hw));
    return tg_div_scalar(t, tg_matmul(t, m, tg_transpose(t, m, 0, 1)), (double)hw);
}

/* 1 / the mean square of x's elements (1 when they are all zero, so the loss stays finite). */
static double inverse_mean_square(tg_tape *t, tg_tensor *x) {
    tg_tensor *m = tg_mean_all(t, tg_mul(t, x, x));
    double v = m ? tg_tensor_item(m) : 0.0;
    return v > 0 ? 1.0 / v : 1.0;
}

/* A store buffer named `name` holding a copy of x's values. */
static tg_tensor *keep(tg_store *s, const char *name, tg_tensor *x) {
    if (!x) return NULL;
    int nd = tg_tensor_ndim(x);
    int64_t shape[4];
    for (int i = 0; i < nd && i < 4; i++) shape[i] = tg_tensor_dim(x, i);
    tg_tensor *b = tg_store_buffer(s, name, tg_tensor_dtype(x), nd, shape);
    if (b && tg_tensor_copy_out(x, tg_tensor_dtype(x), tg_tensor_data(b)) != TG_OK) return NULL;
    return b;
}

tg_status st_targets_init(st_targets *tg, const st_net *net, tg_store *s, tg_tape *t,
                          tg_tensor *content, tg_tensor *style, int content_layer,
                          tg_error *err) {
    if (!tg || !net || !s || !t) return tg_error_set(err, TG_ERR_NULL, "st_targets_init: NULL");
    if (content_layer < 0 || content_layer >= net->n_layers)
        return tg_error_set(err, TG_ERR_ARG, "st_targets_init: content layer %d of %d",
                            content_layer, net->n_layers);
    tg->n_layers = net->n_layers, tg->content_layer = content_layer;
    bool was = tg_tape_set_grad_enabled(t, false);
    tg_tensor *fc[ST_MAX_LAYERS], *fs[ST_MAX_LAYERS];
    bool ok = st_features(t, net, content, fc) && st_features(t, net, style, fs);
    if (ok) {
        tg->content = keep(s, "st.content", fc[content_layer]);
        tg->content_scale = inverse_mean_square(t, fc[content_layer]);
        ok = tg->content != NULL;
        for (int i = 0; ok && i < net->n_layers; i++) {
            char name[32];
            snprintf(name, sizeof name, "st.gram%d", i);
            tg_tensor *g = st_gram(t, fs[i]);
            tg->gram[i] = keep(s, name, g);
            tg->gram_scale[i] = g ? inverse_mean_square(t, g) : 1.0;
            ok = tg->gram[i] != NULL;
        }
    }
    tg_tape_set_grad_enabled(t, was);
    tg_status st = TG_OK;
    if (!ok) {
        st = tg_tape_status(t) != TG_OK ? tg_tape_status(t) : tg_store_status(s);
        tg_error_set(err, st != TG_OK ? st : TG_ERR_ARG, "style targets: %s",
                     tg_tape_status(t) != TG_OK ? tg_tape_error(t) : tg_store_error(s));
        st = st != TG_OK ? st : TG_ERR_ARG;
    }
    tg_tape_reset(t);
    return st;
}

st_losses st_loss(tg_tape *t, const st_net *net, const st_targets *tg, tg_tensor *x,
                  double style_weight) {
    st_losses l = {NULL, NULL, NULL};
    tg_tensor *f[ST_MAX_LAYERS];
    if (!st_features(t, net, x, f)) return l;
    l.content = tg_mul_scalar(t, tg_mse(t, f[tg->content_layer], tg->content, TG_REDUCE_MEAN),
                              tg->content_scale);
    for (int i = 0; i < tg->n_layers; i++) {
        tg_tensor *li = tg_mul_scalar(t, tg_mse(t, st_gram(t, f[i]), tg->gram[i], TG_REDUCE_MEAN),
                                      tg->gram_scale[i] / tg->n_layers);
        l.style = i == 0 ? li : tg_add(t, l.style, li);
    }
    l.total = tg_add(t, l.content, tg_mul_scalar(t, l.style, style_weight));
    if (!l.total) l.content = l.style = NULL;
    return l;
}
