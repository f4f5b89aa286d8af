/* figures.c: the autoencoder example's pictures and table (figures.h).
 *
 * Invariant: every file is rewritten whole (ex_outfile underneath), so a run stopped between
 * epochs leaves the pictures of the last finished epoch. */
#include "figures.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"
#include "png.h"
#include "scatter.h"
#include "svg.h"

enum { COL_EPOCH, COL_LOSS, COL_TEST, COL_LOSS2, COL_TEST2, COL_NOISY, N_COLS };
enum { MAP_POINTS = 3000, PCA_FIT = 5000, KNN = 5, KNN_POINTS = 2000 };

static bool is_fashion(const ae_figures *f) {
    return f->d->n_classes == 10 && strcmp(f->xp->data, XP_SYNTHETIC) != 0;
}

tg_status ae_figures_begin(ae_figures *f, const xp_options *xp, const ex_images *d,
                           const float *test, long epochs, double sigma, tg_error *err) {
    memset(f, 0, sizeof *f);
    f->xp = xp, f->d = d, f->test = test, f->epochs = epochs, f->sigma = sigma;
    /* The first test image of each class, in class order. */
    const uint8_t *lab = tg_dataset_labels(d->test);
    int64_t n = tg_dataset_count(d->test);
    for (int c = 0; c < AE_SHOW && c < d->n_classes; c++)
        for (int64_t i = 0; i < n; i++)
            if (lab[i] == c) {
                f->show[f->n_show++] = i;
                break;
            }
    for (int64_t i = 0; f->n_show < AE_SHOW && i < n; i++) f->show[f->n_show++] = i;
    size_t pix = (size_t)(d->rows * d->cols);
    f->grid = calloc((size_t)(epochs + 3) * (size_t)f->n_show * pix, sizeof(float));
    f->rows = calloc((size_t)(epochs + 1) * N_COLS, sizeof(double));
    if (!f->grid || !f->rows) return tg_error_set(err, TG_ERR_NOMEM, "figures: out of memory");
    for (int k = 0; k < f->n_show; k++)
        memcpy(f->grid + k * pix, test + f->show[k] * pix, pix * sizeof(float));
    return TG_OK;
}

tg_status ae_figures_epoch(ae_figures *f, long e, const float *noisy, const float *out,
                           double loss, double test_mse, double loss_2d, double test_mse_2d,
                           double noisy_mse, tg_error *err) {
    size_t pix = (size_t)(f->d->rows * f->d->cols), row = (size_t)f->n_show * pix;
    for (int k = 0; k < f->n_show; k++) {
        memcpy(f->grid + row + k * pix, noisy + f->show[k] * pix, pix * sizeof(float));
        memcpy(f->grid + (2 + e) * row + k * pix, out + f->show[k] * pix, pix * sizeof(float));
    }
    double *r = f->rows + e * N_COLS;
    r[COL_EPOCH] = (double)e, r[COL_LOSS] = loss, r[COL_TEST] = test_mse;
    r[COL_LOSS2] = loss_2d, r[COL_TEST2] = test_mse_2d, r[COL_NOISY] = noisy_mse;
    static const char *const names[N_COLS] = {"epoch", "train_loss", "test_mse", "train_loss_2d",
                                              "test_mse_2d", "noisy_input_mse"};
    char path[4096];
    tg_status st = xp_out_path(f->xp, "autoencoder_denoise.png", path, sizeof path, err);
    if (st == TG_OK)
        st = ex_png_tiles(path, (int)(3 + e) * f->n_show, (int)f->d->rows, (int)f->d->cols,
                          f->n_show, 2, f->grid, err);
    if (st == TG_OK) st = xp_out_path(f->xp, "autoencoder.csv", path, sizeof path, err);
    if (st == TG_OK) st = ex_csv_write(path, N_COLS, names, (int)e + 1, f->rows, err);
    return st;
}

static tg_status write_noise_curve(const ae_figures *f, const double *levels, const double *e_in,
                                   const double *e_big, const double *e_flat, int n,
                                   tg_error *err) {
    char title[96];
    snprintf(title, sizeof title, "trained at noise sd %.2f (dashed line)", f->sigma);
    double mark_x[2] = {f->sigma, f->sigma}, mark_y[2] = {0, 1};
    double top = 0;
    for (int i = 0; i < n; i++) top = fmax(top, fmax(e_in[i], fmax(e_big[i], e_flat[i])));
    mark_y[1] = top;
    ex_panel p = {.title = title, .x_label = "noise standard deviation (pixels in [0, 1])",
                  .y_label = "mean squared error against the clean image", .n_series = 4,
                  .series = {{"noisy input", n, levels, e_in, NULL, false},
                             {"denoiser's output", n, levels, e_big, NULL, false},
                             {"2-D code model's output", n, levels, e_flat, NULL, false},
                             {"training noise level", 2, mark_x, mark_y, "#999999", true}}};
    char path[4096];
    tg_status st = xp_out_path(f->xp, "autoencoder_noise.svg", path, sizeof path, err);
    if (st != TG_OK) return st;
    return ex_svg_write(path, "Denoising autoencoder: error vs noise", 1, &p,
                        err);
}

tg_status ae_figures_end(ae_figures *f, const double *levels, const double *e_in,
                         const double *e_big, const double *e_flat, int n, const double *cx,
                         const double *cy, const float *train, int64_t n_train, tg_error *err) {
    tg_status st = write_noise_curve(f, levels, e_in, e_big, e_flat, n, err);
    if (st != TG_OK) return st;
    int64_t p = f->d->rows * f->d->cols, n_test = tg_dataset_count(f->d->test);
    int m = (int)(n_test < MAP_POINTS ? n_test : MAP_POINTS);
    double *axes = malloc(sizeof(double) * (size_t)(2 * p)), *mean = malloc(sizeof(double) * (size_t)p);
    double *px = malloc(sizeof(double) * (size_t)m), *py = malloc(sizeof(double) * (size_t)m);
    int *label = malloc(sizeof(int) * (size_t)m);
    if (!axes || !mean || !px || !py || !label) {
        st = tg_error_set(err, TG_ERR_NOMEM, "figures: out of memory");
        goto done;
    }
    st = ae_pca2(train, n_train < PCA_FIT ? n_train : PCA_FIT, p, axes, mean, err);
    if (st != TG_OK) goto done;
    const uint8_t *lab = tg_dataset_labels(f->d->test);
    for (int i = 0; i < m; i++) {
        double a = 0, b = 0;
        for (int64_t j = 0; j < p; j++) {
            double v = f->test[i * p + j] - mean[j];
            a += v * axes[j];
            b += v * axes[p + j];
        }
        px[i] = a, py[i] = b, label[i] = lab[i];
    }
    int k_n = m < KNN_POINTS ? m : KNN_POINTS;
    f->knn_ae = ae_knn_accuracy(cx, cy, label, k_n, KNN);
    f->knn_pca = ae_knn_accuracy(px, py, label, k_n, KNN);
    char names_buf[EX_SCATTER_MAX_GROUPS][32];
    const char *names[EX_SCATTER_MAX_GROUPS];
    int groups = f->d->n_classes < EX_SCATTER_MAX_GROUPS ? f->d->n_classes : EX_SCATTER_MAX_GROUPS;
    for (int g = 0; g < groups; g++)
        names[g] = ae_class_name(is_fashion(f), g, names_buf[g], sizeof names_buf[g]);
    char note_ae[96], note_pca[96];
    snprintf(note_ae, sizeof note_ae, "%d test images; 5-NN class agreement %.1f%%", m,
             100 * f->knn_ae);
    snprintf(note_pca, sizeof note_pca, "%d test images; 5-NN class agreement %.1f%%", m,
             100 * f->knn_pca);
    ex_scatter_panel panels[2] = {
        {.title = "autoencoder's 2-D code", .x_label = "code 1", .y_label = "code 2", .n = m,
         .x = cx, .y = cy, .group = label, .n_groups = groups, .group_names = NULL,
         .note = note_ae},
        {.title = "PCA: first two principal components", .x_label = "component 1",
         .y_label = "component 2", .n = m, .x = px, .y = py, .group = label, .n_groups = groups,
         .group_names = names, .note = note_pca},
    };
    char path[4096];
    st = xp_out_path(f->xp, "autoencoder_codes.svg", path, sizeof path, err);
    if (st == TG_OK)
        st = ex_scatter_write(path, "Test images in two dimensions, coloured by class", 2, panels,
                              err);
done:
    free(axes);
    free(mean);
    free(px);
    free(py);
    free(label);
    return st;
}

void ae_figures_free(ae_figures *f) {
    free(f->grid);
    free(f->rows);
    f->grid = NULL;
    f->rows = NULL;
}
