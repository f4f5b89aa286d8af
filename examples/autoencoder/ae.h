/* ae.h: what the denoising autoencoder example's files share: the model (an MLP encoder to a
 * small code and a decoder back to pixels), its options, and the helpers of pca.c and
 * figures.c.
 *
 * Invariant: images here are float pixels in [0, 1], row-major, rows * cols per image. */
#ifndef EXAMPLES_AUTOENCODER_AE_H
#define EXAMPLES_AUTOENCODER_AE_H

#include <tapegrad.h>

#include "xp.h"

typedef struct ae_model {
    tg_linear enc1, enc2, dec1, dec2;
    int64_t code;
} ae_model;

/* x (B, P) -> code (B, code). */
tg_tensor *ae_encode(tg_tape *t, const ae_model *m, tg_tensor *x);
/* code (B, code) -> pixels (B, P) in (0, 1). */
tg_tensor *ae_decode(tg_tape *t, const ae_model *m, tg_tensor *code);

/* The first two principal axes of n images (n, p): axes (2, p) unit vectors and the mean (p),
 * by power iteration on the covariance (formed with tg_matmul). TG_OK or an error. */
tg_status ae_pca2(const float *x, int64_t n, int64_t p, double *axes, double *mean,
                  tg_error *err);

/* The share of points whose k nearest other points (Euclidean, in 2-D) mostly carry their
 * label (ties broken toward the nearest): how well a 2-D map keeps the classes apart. */
double ae_knn_accuracy(const double *x, const double *y, const int *label, int n, int k);

/* The class names of Fashion-MNIST for its 10 labels, or "class N" otherwise (into buf). */
const char *ae_class_name(bool fashion, int label, char *buf, size_t size);

#endif
