/* figures.h: the autoencoder example's outputs: a PNG grid of clean, noisy and reconstructed
 * test images (one per class, a row per epoch, rewritten after every epoch), the CSV of the
 * errors, the error against the noise level (SVG), and the 2-D codes next to PCA's (SVG). */
#ifndef EXAMPLES_AUTOENCODER_FIGURES_H
#define EXAMPLES_AUTOENCODER_FIGURES_H

#include "ae.h"

enum { AE_SHOW = 10 }; /* test images in the grid: the first of each class */

typedef struct ae_figures {
    const xp_options *xp;
    const ex_images *d;
    const float *test;     /* clean test images */
    int64_t show[AE_SHOW]; /* their indices */
    int n_show;
    long epochs;
    double sigma;
    float *grid;  /* (2 + epochs + 1) rows of n_show tiles */
    double *rows; /* the CSV, a row per epoch */
    double knn_ae, knn_pca; /* set by ae_figures_end */
} ae_figures;

tg_status ae_figures_begin(ae_figures *f, const xp_options *xp, const ex_images *d,
                           const float *test, long epochs, double sigma, tg_error *err);
/* After epoch e (0: untrained): the test images with noise, the denoiser's output for them,
 * the epoch's mean training losses (NaN at 0) and test errors. Rewrites the PNG and the CSV. */
tg_status ae_figures_epoch(ae_figures *f, long e, const float *noisy, const float *out,
                           double loss, double test_mse, double loss_2d, double test_mse_2d,
                           double noisy_mse, tg_error *err);
/* At the end: errors at n noise levels (input, denoiser, 2-D model), the 2-D codes of the test
 * images (cx, cy), and the training images PCA is fitted on. */
tg_status ae_figures_end(ae_figures *f, const double *levels, const double *e_in,
                         const double *e_big, const double *e_flat, int n, const double *cx,
                         const double *cy, const float *train, int64_t n_train, tg_error *err);
void ae_figures_free(ae_figures *f);

#endif
