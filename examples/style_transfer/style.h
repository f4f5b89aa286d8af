/* style.h: the pieces of the style-transfer example that the program and its gradient test
 * share: a convolutional network with fixed random filters, the Gram matrices of its feature
 * maps, and the content and style losses built from them out of the library's ops (conv2d,
 * relu, avg_pool2d, reshape, matmul, transpose, mse), so that the gradient with respect to the
 * image's pixels is derived by the tape like any other.
 *
 *     st_net net;
 *     st_net_init(&net, store, TG_F32, 4, widths, &rng, &err);    // filters drawn once
 *     st_targets tgt;
 *     st_targets_init(&tgt, &net, store, tape, content, style, 2, &err);  // (1, 3, H, W) each
 *     st_losses l = st_loss(tape, &net, &tgt, image, 10.0);   // image: a store parameter
 *     tg_tape_backward(tape, l.total, NULL, 0);               // tg_tensor_grad(image)
 *
 * Invariant: the network's filters and the targets are store buffers (no gradient), so an
 * optimiser over the store's parameters moves the image alone. */
#ifndef EXAMPLES_STYLE_TRANSFER_STYLE_H
#define EXAMPLES_STYLE_TRANSFER_STYLE_H

#include <tapegrad.h>

enum { ST_MAX_LAYERS = 6 };

/* Layer i: (average pooling by 2 when i > 0), a 3x3 convolution to width[i] channels with
 * padding 1, ReLU. Each layer sees the image at half the scale of the one before, so the
 * layers together describe texture at several sizes. */
typedef struct st_net {
    int n_layers;
    tg_tensor *w[ST_MAX_LAYERS]; /* (width[i], width[i-1] or 3, 3, 3), owned by the store */
    tg_tensor *b[ST_MAX_LAYERS]; /* (width[i]) */
} st_net;

/* Draws the filters (zero-mean normal, variance 2 / fan-in, so each layer's output keeps the
 * scale of its input) and small random biases into buffers "st.w<i>", "st.b<i>" of s.
 * TG_ERR_ARG for n_layers outside 1..ST_MAX_LAYERS or a width < 1; store errors. */
tg_status st_net_init(st_net *net, tg_store *s, tg_dtype dtype, int n_layers, const int *width,
                      tg_rng *rng, tg_error *err);

/* The feature maps of every layer for x (1, 3, H, W), pixels in [0, 1], into f[0..n_layers).
 * Returns false when an op failed (the tape holds the error). */
bool st_features(tg_tape *t, const st_net *net, tg_tensor *x, tg_tensor **f);

/* The Gram matrix of a feature map f (1, C, H, W): G = F F^T / (H W) with F = f as (C, H W),
 * the channels' mean products over positions (the statistics that forget where things are). */
tg_tensor *st_gram(tg_tape *t, tg_tensor *f);

/* What the image is pulled towards: the style image's Gram matrices at every layer and the
 * content image's feature map at layer content_layer, each with the scale that makes its loss
 * relative (1 / the mean square of the target), so layers of any width weigh alike. */
typedef struct st_targets {
    int n_layers, content_layer;
    tg_tensor *gram[ST_MAX_LAYERS]; /* (C_i, C_i), store buffers "st.gram<i>" */
    tg_tensor *content;             /* (1, C, H', W'), store buffer "st.content" */
    double gram_scale[ST_MAX_LAYERS], content_scale;
} st_targets;

/* Computes the targets from content and style (1, 3, H, W) tensors (any sizes, may differ)
 * with t, then resets t. TG_ERR_ARG for a content layer out of range; op errors. */
tg_status st_targets_init(st_targets *tg, const st_net *net, tg_store *s, tg_tape *t,
                          tg_tensor *content, tg_tensor *style, int content_layer,
                          tg_error *err);

/* The losses of an image x (1, 3, H, W) of the content image's size, as 0-d tensors on t:
 *   content = mse(f_c(x), f_c(content)) / mean(f_c(content)^2)
 *   style   = mean over layers i of mse(G_i(x), G_i(style)) / mean(G_i(style)^2)
 *   total   = content + style_weight * style.
 * NULL fields when an op failed (the tape holds the error). */
typedef struct st_losses {
    tg_tensor *content, *style, *total;
} st_losses;
st_losses st_loss(tg_tape *t, const st_net *net, const st_targets *tg, tg_tensor *x,
                  double style_weight);

#endif
