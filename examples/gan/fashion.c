/* fashion.c: the GAN on Fashion-MNIST (or any MNIST-format set, or --data synthetic), with a
 * generator that upsamples by nearest-neighbour doubling followed by an ordinary convolution
 * (7 -> 14 -> 28). A transposed convolution of kernel 3 at stride 2 imprints a checkerboard
 * (its output pixels alternate between 1, 2 and 4 kernel taps); kernel 4 at stride 2 covers
 * every pixel with four taps, but its four interleaved sub-grids still have weights of their
 * own, and the samples of a real run kept a fine grid of light and dark lines. Doubling each
 * pixel and then convolving gives every output pixel the same kernel over the same kind of
 * neighbourhood, so no sub-grid has weights of its own to learn a pattern with.
 *
 * G: z (32) -> linear 64*7*7 -> BatchNorm -> ReLU -> up x2, conv 64->32 k3 (14x14) ->
 *    BatchNorm -> ReLU -> up x2, conv 32->1 k3 (28x28) -> tanh, pixels in [-1, 1].
 * D: conv 1->32 k4 s2 p1 (14x14) -> LeakyReLU(0.2) -> conv 32->64 (7x7) -> LeakyReLU ->
 *    linear -> 1 (a logit).
 *
 * What is measured each epoch, on 256 samples from fixed noise against 500 test images (pixels
 * in [0, 1]): how far the samples' per-pixel mean and standard deviation lie from the test
 * images' (root mean square over the 784 pixels; both fall as samples come to look like
 * clothes on a black ground), and how far the samples lie from each other (RMS pixel distance
 * averaged over pairs: a collapsed generator scores near 0; the test images' own spread is
 * drawn next to it). The grid shows the first 64 samples. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"
#include "progress.h"
#include "gan.h"
#include "png.h"
#include "svg.h"

enum { Z_DIM = 32, C1 = 64, C2 = 32, N_SHOW = 64, N_EVAL = 256, N_REF = 500, SIDE = 28,
       PIX = SIDE * SIDE };

typedef struct generator {
    tg_linear fc;
    tg_batchnorm bn0, bn1;
    tg_conv2d up1, up2; /* each after a nearest-neighbour doubling */
} generator;

typedef struct discriminator {
    tg_conv2d c1, c2;
    tg_linear fc;
} discriminator;

static tg_tensor *gen_forward(tg_tape *t, const void *net, tg_tensor *z, bool training) {
    const generator *g = net;
    tg_tensor *h = tg_linear_forward(t, &g->fc, z);
    h = h ? tg_reshape(t, h, 4, (int64_t[]){tg_tensor_dim(h, 0), C1, 7, 7}) : NULL;
    h = tg_relu(t, tg_batchnorm_forward(t, &g->bn0, h, training));
    h = tg_conv2d_forward(t, &g->up1, tg_upsample_nearest2d(t, h, 2));
    h = tg_relu(t, tg_batchnorm_forward(t, &g->bn1, h, training));
    return tg_tanh(t, tg_conv2d_forward(t, &g->up2, tg_upsample_nearest2d(t, h, 2)));
}

static tg_tensor *disc_forward(tg_tape *t, const void *net, tg_tensor *x, bool training) {
    (void)training;
    const discriminator *d = net;
    tg_tensor *h = tg_leaky_relu(t, tg_conv2d_forward(t, &d->c1, x), 0.2);
    h = tg_leaky_relu(t, tg_conv2d_forward(t, &d->c2, h), 0.2);
    return tg_linear_forward(t, &d->fc, tg_flatten(t, h, 1, -1));
}

static tg_status init_nets(generator *g, discriminator *d, tg_store *s, tg_rng *rng,
                           tg_error *err) {
    tg_conv2d_params up = {.stride = {1, 1}, .padding = {1, 1}};
    tg_conv2d_params down = {.stride = {2, 2}, .padding = {1, 1}};
    tg_status st = tg_linear_init(&g->fc, s, "gen.fc", Z_DIM, C1 * 49, true, TG_F32, rng, err);
    if (st == TG_OK) st = tg_batchnorm2d_init(&g->bn0, s, "gen.bn0", C1, 0.1, 1e-5, true, TG_F32, err);
    if (st == TG_OK)
        st = tg_conv2d_init(&g->up1, s, "gen.up1", C1, C2, 3, 3, &up, true, TG_F32, rng, err);
    if (st == TG_OK) st = tg_batchnorm2d_init(&g->bn1, s, "gen.bn1", C2, 0.1, 1e-5, true, TG_F32, err);
    if (st == TG_OK)
        st = tg_conv2d_init(&g->up2, s, "gen.up2", C2, 1, 3, 3, &up, true, TG_F32, rng, err);
    if (st == TG_OK) st = tg_conv2d_init(&d->c1, s, "disc.c1", 1, C2, 4, 4, &down, true, TG_F32, rng, err);
    if (st == TG_OK) st = tg_conv2d_init(&d->c2, s, "disc.c2", C2, C1, 4, 4, &down, true, TG_F32, rng, err);
    if (st == TG_OK) st = tg_linear_init(&d->fc, s, "disc.fc", C1 * 49, 1, true, TG_F32, rng, err);
    return st;
}

typedef struct source {
    const ex_images *d;
    int64_t *order, next, batch;
    tg_rng data, noise;
} source;

/* The next batch of the epoch's shuffled order, pixels scaled to [-1, 1] like tanh's range. */
static tg_tensor *real_batch(tg_tape *t, void *ctx) {
    source *s = ctx;
    tg_tensor *x = tg_zeros(t, TG_F32, TG_SHAPE(s->batch, 1, SIDE, SIDE));
    if (!x) return NULL;
    float *p = tg_tensor_data(x);
    const uint8_t *px = tg_dataset_images(s->d->train);
    for (int64_t i = 0; i < s->batch; i++) {
        const uint8_t *img = px + s->order[s->next++] * PIX;
        for (int j = 0; j < PIX; j++) p[i * PIX + j] = img[j] / 127.5f - 1.0f;
    }
    return x;
}

static tg_tensor *noise_batch(tg_tape *t, void *ctx) {
    source *s = ctx;
    return tg_normal(t, &s->noise, TG_F32, TG_SHAPE(s->batch, Z_DIM), 0.0, 1.0);
}

static void shuffle(int64_t *order, int64_t n, tg_rng *rng) {
    for (int64_t i = 0; i < n; i++) order[i] = i;
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)tg_rng_below(rng, (uint64_t)i + 1), k = order[i];
        order[i] = order[j], order[j] = k;
    }
}

static double rms(const float *a, const float *b) {
    double s = 0;
    for (int j = 0; j < PIX; j++) s += (double)(a[j] - b[j]) * (a[j] - b[j]);
    return sqrt(s / PIX);
}

/* The per-pixel mean and standard deviation of n images into mean and sd (PIX each). */
static void moments(const float *x, int n, double *mean, double *sd) {
    for (int j = 0; j < PIX; j++) {
        double s = 0, s2 = 0;
        for (int i = 0; i < n; i++) s += x[i * PIX + j], s2 += (double)x[i * PIX + j] * x[i * PIX + j];
        mean[j] = s / n;
        sd[j] = sqrt(fmax(s2 / n - mean[j] * mean[j], 0.0));
    }
}

/* The distances of the header comment: samples x (n) against the reference moments. */
typedef struct quality {
    double mean_dist, sd_dist, spread;
} quality;

static quality measure(const float *x, int n, const double *ref_mean, const double *ref_sd) {
    static double mean[PIX], sd[PIX];
    moments(x, n, mean, sd);
    quality q = {0, 0, 0};
    for (int j = 0; j < PIX; j++) {
        q.mean_dist += (mean[j] - ref_mean[j]) * (mean[j] - ref_mean[j]);
        q.sd_dist += (sd[j] - ref_sd[j]) * (sd[j] - ref_sd[j]);
    }
    q.mean_dist = sqrt(q.mean_dist / PIX);
    q.sd_dist = sqrt(q.sd_dist / PIX);
    int pairs = 0;
    for (int i = 0; i < n && i < N_SHOW; i++)
        for (int k = i + 1; k < n && k < N_SHOW; k++, pairs++) q.spread += rms(x + i * PIX, x + k * PIX);
    q.spread /= pairs > 0 ? pairs : 1;
    return q;
}

/* G's images from the fixed noise, in [0, 1], into out (N_EVAL * PIX). BatchNorm runs as in
 * training (on these samples' own statistics), as GANs are usually sampled. */
static tg_status sample(const gan_pair *p, tg_tape *t, const float *z, float *out,
                        tg_error *err) {
    bool was = tg_tape_set_grad_enabled(t, false);
    tg_tensor *g = p->gen(t, p->g, tg_from_data(t, TG_F32, TG_SHAPE(N_EVAL, Z_DIM), z), true);
    tg_tensor *img = tg_mul_scalar(t, tg_add_scalar(t, g, 1.0), 0.5);
    tg_tape_set_grad_enabled(t, was);
    tg_status st = img ? tg_tensor_copy_out(img, TG_F32, out) : TG_OK;
    if (!img || st != TG_OK)
        st = tg_error_set(err, tg_tape_status(t), "sampling: %s", tg_tape_error(t));
    tg_tape_reset(t);
    return st;
}

enum { COL_EPOCH, COL_D, COL_G, COL_DREAL, COL_DFAKE, COL_MEAN, COL_SD, COL_SPREAD, N_COLS };

static tg_status write_curves(const gan_options *o, const double *rows, int n, double real_spread,
                              tg_error *err) {
    static const char *const names[N_COLS] = {"epoch", "d_loss", "g_loss", "d_real", "d_fake",
                                              "mean_image_rms", "sd_image_rms",
                                              "sample_spread_rms"};
    char path[4096];
    tg_status st = xp_out_path(&o->xp, "gan_fashion.csv", path, sizeof path, err);
    if (st == TG_OK) st = ex_csv_write(path, N_COLS, names, n, rows, err);
    if (st != TG_OK) return st;
    double col[N_COLS][64], spread_real[64];
    int m = n < 64 ? n : 64;
    for (int i = 0; i < m; i++) {
        for (int j = 0; j < N_COLS; j++) col[j][i] = rows[i * N_COLS + j];
        spread_real[i] = real_spread;
    }
    ex_panel p[2] = {
        {.title = "losses per epoch (mean)", .x_label = "epoch", .y_label = "BCE",
         .x_integer = true, .n_series = 2,
         .series = {{"discriminator (real + fake)", m, col[COL_EPOCH], col[COL_D], NULL, false},
                    {"generator, -log D(G(z))", m, col[COL_EPOCH], col[COL_G], NULL, false}}},
        {.title = "samples against test images (RMS over pixels)", .x_label = "epoch",
         .y_label = "RMS", .x_integer = true, .y_min = 0, .y_max = 0.6, .n_series = 4,
         .series = {{"per-pixel mean: distance", m, col[COL_EPOCH], col[COL_MEAN], NULL, false},
                    {"per-pixel sd: distance", m, col[COL_EPOCH], col[COL_SD], NULL, false},
                    {"between samples (0: collapse)", m, col[COL_EPOCH], col[COL_SPREAD], NULL,
                     false},
                    {"between test images", m, col[COL_EPOCH], spread_real, NULL, true}}},
    };
    st = xp_out_path(&o->xp, "gan_fashion_curves.svg", path, sizeof path, err);
    if (st == TG_OK) st = ex_svg_write(path, "GAN on Fashion-MNIST: training", 2, p, err);
    return st;
}

int gan_fashion(gan_options *o) {
    long epochs = o->epochs ? o->epochs : o->xp.quick ? 3 : 5;
    int64_t limit = o->limit ? o->limit : o->xp.quick ? 2000 : 24000;
    int64_t batch = o->batch ? o->batch : 64;
    double lr = o->lr > 0 ? o->lr : 2e-4;
    tg_error err = {0};
    ex_images d;
    if (xp_load_images(&o->xp, limit, N_REF, &d, &err) != TG_OK) {
        fprintf(stderr, "gan: %s\n", err.message);
        return 1;
    }
    if (d.rows != SIDE || d.cols != SIDE || tg_dataset_count(d.test) < N_REF ||
        tg_dataset_count(d.train) < batch) {
        fprintf(stderr, "gan: need 28x28 images, at least %d test and %lld training ones\n",
                N_REF, (long long)batch);
        ex_images_free(&d);
        return 1;
    }
    tg_store *s = tg_store_new();
    tg_tape *t = tg_tape_new();
    generator g;
    discriminator dn;
    source src = {.d = &d, .batch = batch};
    int64_t n_train = tg_dataset_count(d.train), per_epoch = n_train / batch;
    src.order = malloc(sizeof(int64_t) * (size_t)n_train);
    float *z = malloc(sizeof(float) * N_EVAL * Z_DIM), *shown = malloc(sizeof(float) * N_EVAL * PIX);
    float *ref = malloc(sizeof(float) * N_REF * PIX);
    double *rows = calloc((size_t)(epochs + 1) * N_COLS, sizeof *rows);
    gan_pair p = {gen_forward, disc_forward, &g, &dn, NULL, NULL, s};
    tg_rng rng;
    tg_rng_seed(&rng, o->xp.seed);
    tg_rng_seed(&src.data, o->xp.seed * 3 + 1);
    tg_rng_seed(&src.noise, o->xp.seed * 5 + 2);
    tg_adam_options ag = tg_adam_defaults(lr), ad = tg_adam_defaults(lr);
    ag.beta1 = ad.beta1 = 0.5;
    ag.prefix = "adam_g", ag.params = "gen.";
    ad.prefix = "adam_d", ad.params = "disc.";
    int rc = 1;
    if (!s || !t || !src.order || !z || !shown || !ref || !rows) {
        fprintf(stderr, "gan: out of memory\n");
        goto done;
    }
    if (init_nets(&g, &dn, s, &rng, &err) != TG_OK || !(p.opt_g = tg_optim_adam(s, &ag, &err)) ||
        !(p.opt_d = tg_optim_adam(s, &ad, &err))) {
        fprintf(stderr, "gan: %s\n", err.message);
        goto done;
    }
    for (int i = 0; i < N_EVAL * Z_DIM; i++) z[i] = (float)tg_rng_normal(&rng);
    const uint8_t *tp = tg_dataset_images(d.test);
    for (int i = 0; i < N_REF * PIX; i++) ref[i] = tp[i] / 255.0f;
    static double ref_mean[PIX], ref_sd[PIX];
    moments(ref, N_REF, ref_mean, ref_sd);
    double real_spread = measure(ref, N_SHOW, ref_mean, ref_sd).spread;
    printf("gan: %ld epochs of %lld images (%lld steps each), batch %lld, Adam lr %g; test "
           "images lie %.3f apart (RMS)\n", epochs, (long long)n_train, (long long)per_epoch,
           (long long)batch, lr, real_spread);
    quality first = {0, 0, 0}, q = first;
    double t0 = ex_now();
    gan_batch_maker maker = {real_batch, noise_batch, &src};
    for (long e = 0; e <= epochs; e++) {
        gan_losses sum = {0}, l;
        if (e > 0) {
            shuffle(src.order, n_train, &src.data);
            src.next = 0;
            for (int64_t b = 0; b < per_epoch; b++) {
                if (gan_step(&p, t, &maker, &l, &err) != TG_OK) {
                    fprintf(stderr, "gan: epoch %ld: %s\n", e, err.message);
                    goto done;
                }
                sum.d += l.d, sum.g += l.g, sum.d_real += l.d_real, sum.d_fake += l.d_fake;
            }
        }
        if (sample(&p, t, z, shown, &err) != TG_OK) {
            fprintf(stderr, "gan: %s\n", err.message);
            goto done;
        }
        q = measure(shown, N_EVAL, ref_mean, ref_sd);
        if (e == 0) first = q;
        double k = e > 0 ? (double)per_epoch : NAN;
        double *r = rows + e * N_COLS;
        r[COL_EPOCH] = (double)e, r[COL_D] = sum.d / k, r[COL_G] = sum.g / k;
        r[COL_DREAL] = sum.d_real / k, r[COL_DFAKE] = sum.d_fake / k;
        r[COL_MEAN] = q.mean_dist, r[COL_SD] = q.sd_dist, r[COL_SPREAD] = q.spread;
        char name[64], path[4096];
        snprintf(name, sizeof name, "gan_fashion_epoch%ld.png", e);
        if (xp_out_path(&o->xp, name, path, sizeof path, &err) != TG_OK ||
            ex_png_tiles(path, N_SHOW, SIDE, SIDE, 8, 2, shown, &err) != TG_OK) {
            fprintf(stderr, "gan: %s\n", err.message);
            goto done;
        }
        printf("epoch %2ld  D loss %.3f  G loss %.3f  D(x) %.2f  D(G(z)) %.2f  mean-image "
               "distance %.3f  sd-image distance %.3f  spread %.3f  %s  (%.0f s)\n", e, r[COL_D],
               r[COL_G], r[COL_DREAL], r[COL_DFAKE], q.mean_dist, q.sd_dist, q.spread, name,
               ex_now() - t0);
        fflush(stdout);
    }
    if (write_curves(o, rows, (int)epochs + 1, real_spread, &err) != TG_OK) {
        fprintf(stderr, "gan: %s\n", err.message);
        goto done;
    }
    double moved = q.mean_dist + q.sd_dist, was = first.mean_dist + first.sd_dist;
    xp_expect(&o->xp, moved < 0.8 * was,
              "samples moved toward the data: mean-image + sd-image distance %.3f < 0.8 x %.3f",
              moved, was);
    xp_expect(&o->xp, q.spread > 0.25 * real_spread,
              "no collapse: samples spread %.3f > 0.25 x the test images' %.3f", q.spread,
              real_spread);
    rc = xp_finish(&o->xp);
done:
    tg_optim_free(p.opt_g);
    tg_optim_free(p.opt_d);
    free(src.order);
    free(z);
    free(shown);
    free(ref);
    free(rows);
    tg_tape_free(t);
    tg_store_free(s);
    ex_images_free(&d);
    return rc;
}
