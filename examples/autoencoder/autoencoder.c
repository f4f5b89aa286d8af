/* autoencoder.c: a denoising autoencoder on Fashion-MNIST (or any MNIST-format set, or --data
 * synthetic). Each training image x gets Gaussian noise, x~ = clip(x + sigma e, 0, 1), and the
 * network learns to give back the clean x from x~: encoder 784 -> 256 -> ReLU -> code,
 * decoder code -> 256 -> ReLU -> 784 -> sigmoid, loss the mean squared error against x.
 *
 * Two models are trained on the same batches: one with a code of --code numbers (32: the
 * denoiser, whose pictures and error curves the program draws) and one with a code of 2, whose
 * codes of the test set are a 2-D map of the images, drawn next to the map of the first two
 * principal components and scored by how often an image's 5 nearest neighbours on the map share
 * its class.
 *
 * Invariant: a run is a function of its flags and data (every random number comes from
 * generators seeded by --seed; the test noise is drawn afresh from a fixed seed for each
 * measurement, so every epoch is scored on the same noisy images). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ae.h"
#include "figures.h"
#include "progress.h"

enum { HIDDEN = 256, EVAL_CHUNK = 500 };

tg_tensor *ae_encode(tg_tape *t, const ae_model *m, tg_tensor *x) {
    return tg_linear_forward(t, &m->enc2, tg_relu(t, tg_linear_forward(t, &m->enc1, x)));
}

tg_tensor *ae_decode(tg_tape *t, const ae_model *m, tg_tensor *code) {
    return tg_sigmoid(t, tg_linear_forward(t, &m->dec2,
                                           tg_relu(t, tg_linear_forward(t, &m->dec1, code))));
}

static tg_status model_init(ae_model *m, tg_store *s, const char *prefix, int64_t pixels,
                            int64_t code, tg_rng *rng, tg_error *err) {
    char n[4][32];
    const char *parts[4] = {"enc1", "enc2", "dec1", "dec2"};
    for (int i = 0; i < 4; i++) snprintf(n[i], sizeof n[i], "%s.%s", prefix, parts[i]);
    m->code = code;
    tg_status st = tg_linear_init(&m->enc1, s, n[0], pixels, HIDDEN, true, TG_F32, rng, err);
    if (st == TG_OK) st = tg_linear_init(&m->enc2, s, n[1], HIDDEN, code, true, TG_F32, rng, err);
    if (st == TG_OK) st = tg_linear_init(&m->dec1, s, n[2], code, HIDDEN, true, TG_F32, rng, err);
    if (st == TG_OK) st = tg_linear_init(&m->dec2, s, n[3], HIDDEN, pixels, true, TG_F32, rng, err);
    return st;
}

/* clip(x + sigma e, 0, 1) for n values. */
static void add_noise(const float *x, float *out, int64_t n, double sigma, tg_rng *rng) {
    for (int64_t i = 0; i < n; i++) {
        double v = x[i] + sigma * tg_rng_normal(rng);
        out[i] = (float)(v < 0 ? 0 : v > 1 ? 1 : v);
    }
}

/* Runs the model on n noisy images (with recording off) into out (n * pixels), in chunks. */
static tg_status reconstruct(const ae_model *m, tg_tape *t, const float *noisy, int64_t n,
                             int64_t pixels, float *out, tg_error *err) {
    bool was = tg_tape_set_grad_enabled(t, false);
    tg_status st = TG_OK;
    for (int64_t i = 0; i < n && st == TG_OK; i += EVAL_CHUNK) {
        int64_t b = n - i < EVAL_CHUNK ? n - i : EVAL_CHUNK;
        tg_tensor *x = tg_from_data(t, TG_F32, TG_SHAPE(b, pixels), noisy + i * pixels);
        tg_tensor *y = ae_decode(t, m, ae_encode(t, m, x));
        st = y ? tg_tensor_copy_out(y, TG_F32, out + i * pixels) : TG_OK;
        if (!y || st != TG_OK)
            st = tg_error_set(err, tg_tape_status(t), "reconstruction: %s", tg_tape_error(t));
        tg_tape_reset(t);
    }
    tg_tape_set_grad_enabled(t, was);
    return st;
}

static double mse(const float *a, const float *b, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += (double)(a[i] - b[i]) * (a[i] - b[i]);
    return s / (double)n;
}

/* The error of m on the test images at noise sigma, and of the noisy images themselves. */
static tg_status test_error(const ae_model *m, tg_tape *t, const float *clean, int64_t n,
                            int64_t pixels, double sigma, uint64_t seed, float *noisy,
                            float *out, double *model_mse, double *noisy_mse, tg_error *err) {
    tg_rng rng;
    tg_rng_seed(&rng, seed);
    add_noise(clean, noisy, n * pixels, sigma, &rng);
    tg_status st = reconstruct(m, t, noisy, n, pixels, out, err);
    if (st != TG_OK) return st;
    *model_mse = mse(out, clean, n * pixels);
    if (noisy_mse) *noisy_mse = mse(noisy, clean, n * pixels);
    return TG_OK;
}

typedef struct run {
    xp_options xp;
    long epochs, limit, n_test, batch, code;
    double lr, sigma;
} run;

/* One epoch for both models on the same shuffled noisy batches; mean training losses out. */
static tg_status train_epoch(const run *r, tg_tape *t, tg_store *s, tg_optim *opt,
                             const ae_model *big, const ae_model *flat, const float *train,
                             int64_t n, int64_t pixels, int64_t *order, tg_rng *rng,
                             float *noisy, double *loss_big, double *loss_flat, tg_error *err) {
    for (int64_t i = 0; i < n; i++) order[i] = i;
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)tg_rng_below(rng, (uint64_t)i + 1), k = order[i];
        order[i] = order[j], order[j] = k;
    }
    int64_t steps = n / r->batch;
    double sb = 0, sf = 0;
    for (int64_t k = 0; k < steps; k++) {
        tg_store_zero_grad(s);
        tg_tensor *x = tg_zeros(t, TG_F32, TG_SHAPE(r->batch, pixels));
        tg_tensor *xn = tg_zeros(t, TG_F32, TG_SHAPE(r->batch, pixels));
        if (!x || !xn) break;
        float *xd = tg_tensor_data(x);
        for (int64_t i = 0; i < r->batch; i++)
            memcpy(xd + i * pixels, train + order[k * r->batch + i] * pixels,
                   sizeof(float) * (size_t)pixels);
        add_noise(xd, noisy, r->batch * pixels, r->sigma, rng);
        memcpy(tg_tensor_data(xn), noisy, sizeof(float) * (size_t)(r->batch * pixels));
        tg_tensor *lb = tg_mse(t, ae_decode(t, big, ae_encode(t, big, xn)), x, TG_REDUCE_MEAN);
        tg_tensor *lf = tg_mse(t, ae_decode(t, flat, ae_encode(t, flat, xn)), x, TG_REDUCE_MEAN);
        tg_tensor *loss = tg_add(t, lb, lf); /* the models share nothing: one sweep trains both */
        if (!loss || tg_tape_backward(t, loss, NULL, 0) != TG_OK) break;
        sb += tg_tensor_item(lb);
        sf += tg_tensor_item(lf);
        tg_status st = tg_optim_step(opt, err);
        tg_tape_reset(t);
        if (st != TG_OK) return st;
    }
    if (tg_tape_status(t) != TG_OK) {
        tg_status st = tg_error_set(err, tg_tape_status(t), "training: %s", tg_tape_error(t));
        tg_tape_reset(t);
        return st;
    }
    *loss_big = sb / (double)(steps > 0 ? steps : 1);
    *loss_flat = sf / (double)(steps > 0 ? steps : 1);
    return TG_OK;
}

static float *to_floats(const tg_dataset *d, int64_t n, int64_t pixels) {
    float *x = malloc(sizeof(float) * (size_t)(n * pixels));
    const uint8_t *px = tg_dataset_images(d);
    if (x)
        for (int64_t i = 0; i < n * pixels; i++) x[i] = px[i] / 255.0f;
    return x;
}

static int train_and_draw(run *r, const ex_images *d) {
    int64_t pixels = d->rows * d->cols, n_train = tg_dataset_count(d->train);
    int64_t n_test = tg_dataset_count(d->test);
    tg_error err = {0};
    tg_store *s = tg_store_new();
    tg_tape *t = tg_tape_new();
    float *train = to_floats(d->train, n_train, pixels), *test = to_floats(d->test, n_test, pixels);
    float *noisy = malloc(sizeof(float) * (size_t)(n_test * pixels));
    float *out = malloc(sizeof(float) * (size_t)(n_test * pixels));
    int64_t *order = malloc(sizeof(int64_t) * (size_t)n_train);
    ae_figures fig;
    memset(&fig, 0, sizeof fig);
    ae_model big, flat;
    tg_rng rng;
    tg_rng_seed(&rng, r->xp.seed);
    tg_optim *opt = NULL;
    int rc = 1;
    uint64_t test_seed = r->xp.seed * 7 + 3;
    if (!s || !t || !train || !test || !noisy || !out || !order) {
        fprintf(stderr, "autoencoder: out of memory\n");
        goto done;
    }
    tg_adam_options ao = tg_adam_defaults(r->lr);
    if (model_init(&big, s, "dae", pixels, r->code, &rng, &err) != TG_OK ||
        model_init(&flat, s, "dae2d", pixels, 2, &rng, &err) != TG_OK ||
        !(opt = tg_optim_adam(s, &ao, &err)) ||
        ae_figures_begin(&fig, &r->xp, d, test, r->epochs, r->sigma, &err) != TG_OK) {
        fprintf(stderr, "autoencoder: %s\n", err.message);
        goto done;
    }
    printf("autoencoder: %ld epochs of %lld images, batch %ld, noise sd %.2f, codes of %ld and 2"
           "\n", r->epochs, (long long)n_train, r->batch, r->sigma, r->code);
    double first = 0, last = 0, noisy_mse = 0, t0 = ex_now();
    for (long e = 0; e <= r->epochs; e++) {
        double lb = NAN, lf = NAN, mb, mf;
        if (e > 0 && train_epoch(r, t, s, opt, &big, &flat, train, n_train, pixels, order, &rng,
                                 noisy, &lb, &lf, &err) != TG_OK) {
            fprintf(stderr, "autoencoder: epoch %ld: %s\n", e, err.message);
            goto done;
        }
        if (test_error(&flat, t, test, n_test, pixels, r->sigma, test_seed, noisy, out, &mf, NULL,
                       &err) != TG_OK ||
            test_error(&big, t, test, n_test, pixels, r->sigma, test_seed, noisy, out, &mb,
                       &noisy_mse, &err) != TG_OK ||
            ae_figures_epoch(&fig, e, noisy, out, lb, mb, lf, mf, noisy_mse, &err) != TG_OK) {
            fprintf(stderr, "autoencoder: %s\n", err.message);
            goto done;
        }
        if (e == 0) first = mb;
        last = mb;
        printf("epoch %2ld  train loss %.4f (2-D code %.4f)  test error %.4f (2-D code %.4f; the "
               "noisy input's %.4f)  (%.0f s)\n", e, lb, lf, mb, mf, noisy_mse, ex_now() - t0);
        fflush(stdout);
    }
    /* The error against the noise level, for both models. */
    enum { N_LEVELS = 11 };
    double levels[N_LEVELS], e_in[N_LEVELS], e_big[N_LEVELS], e_flat[N_LEVELS];
    for (int i = 0; i < N_LEVELS; i++) {
        levels[i] = 0.1 * i;
        if (test_error(&big, t, test, n_test, pixels, levels[i], test_seed + 1 + i, noisy, out,
                       &e_big[i], &e_in[i], &err) != TG_OK ||
            test_error(&flat, t, test, n_test, pixels, levels[i], test_seed + 1 + i, noisy, out,
                       &e_flat[i], NULL, &err) != TG_OK) {
            fprintf(stderr, "autoencoder: %s\n", err.message);
            goto done;
        }
    }
    /* The 2-D codes of the (clean) test images, next to PCA's. */
    double *cx = malloc(sizeof(double) * (size_t)n_test), *cy = malloc(sizeof(double) * (size_t)n_test);
    tg_status st = cx && cy ? TG_OK : TG_ERR_NOMEM;
    bool was = tg_tape_set_grad_enabled(t, false);
    for (int64_t i = 0; i < n_test && st == TG_OK; i += 500) {
        int64_t b = n_test - i < 500 ? n_test - i : 500;
        tg_tensor *c = ae_encode(t, &flat, tg_from_data(t, TG_F32, TG_SHAPE(b, pixels),
                                                        test + i * pixels));
        float xy[2 * 500];
        st = c ? tg_tensor_copy_out(c, TG_F32, xy) : tg_tape_status(t);
        for (int64_t k = 0; st == TG_OK && k < b; k++) cx[i + k] = xy[2 * k], cy[i + k] = xy[2 * k + 1];
        tg_tape_reset(t);
    }
    tg_tape_set_grad_enabled(t, was);
    if (st != TG_OK || ae_figures_end(&fig, levels, e_in, e_big, e_flat, N_LEVELS, cx, cy, train,
                                      n_train, &err) != TG_OK) {
        fprintf(stderr, "autoencoder: %s\n", st != TG_OK ? "the 2-D codes failed" : err.message);
        free(cx);
        free(cy);
        goto done;
    }
    free(cx);
    free(cy);
    printf("autoencoder: 5-nearest-neighbour class agreement on the 2-D maps: autoencoder %.1f%%,"
           " PCA %.1f%%\n", 100 * fig.knn_ae, 100 * fig.knn_pca);
    xp_expect(&r->xp, last < 0.5 * first, "the test error fell: %.4f < 0.5 x %.4f (untrained)",
              last, first);
    xp_expect(&r->xp, last < 0.5 * noisy_mse,
              "it denoises: test error %.4f < 0.5 x the noisy input's %.4f", last, noisy_mse);
    rc = xp_finish(&r->xp);
done:
    ae_figures_free(&fig);
    tg_optim_free(opt);
    free(train);
    free(test);
    free(noisy);
    free(out);
    free(order);
    tg_tape_free(t);
    tg_store_free(s);
    return rc;
}

int main(int argc, char **argv) {
    run r = {.xp = xp_defaults(), .batch = 128, .code = 32, .sigma = 0.5, .lr = 1e-3};
    r.xp.out = "out/autoencoder";
    const ex_opt extra[] = {
        {"--epochs", "N", "epochs (0: 10, --quick 3)", EX_OPT_LONG, &r.epochs, 0, 1000, NULL},
        {"--limit", "N", "training images used (0: all, --quick 2000)", EX_OPT_LONG, &r.limit, 0,
         100000000, NULL},
        {"--test", "N", "test images used (0: 5000, --quick 500)", EX_OPT_LONG, &r.n_test, 0,
         100000000, NULL},
        {"--batch", "B", "images per step", EX_OPT_LONG, &r.batch, 1, 65536, NULL},
        {"--code", "K", "the denoiser's code size", EX_OPT_LONG, &r.code, 1, 4096, NULL},
        {"--noise", "S", "standard deviation of the training noise", EX_OPT_DOUBLE,
         &r.sigma, 0, 2, NULL},
        {"--lr", "R", "Adam's learning rate", EX_OPT_DOUBLE, &r.lr, 1e-9, 1, NULL},
    };
    const ex_program prog = {
        .name = "autoencoder",
        .about = "Trains a denoising autoencoder (noisy image in, clean image out) and, on the\n"
                 "same batches, one with a 2-D code. Writes a PNG of clean, noisy and denoised\n"
                 "test images after every epoch, the error against the noise level (SVG), and\n"
                 "the test set's 2-D codes coloured by class next to PCA's (SVG).\n",
        .data_help = "folder with train-/t10k- images in IDX format, or 'synthetic'",
        .extra = extra,
        .n_extra = (int)(sizeof extra / sizeof extra[0]),
    };
    int rc = xp_parse(argc, argv, &prog, &r.xp);
    if (rc) return rc == 2 ? 0 : 2;
    if (!r.epochs) r.epochs = r.xp.quick ? 3 : 10;
    if (!r.limit && r.xp.quick) r.limit = 2000;
    if (!r.n_test) r.n_test = r.xp.quick ? 500 : 5000;
    ex_images d;
    tg_error err = {0};
    if (xp_load_images(&r.xp, r.limit, r.n_test, &d, &err) != TG_OK) {
        fprintf(stderr, "autoencoder: %s\n", err.message);
        return 1;
    }
    if (tg_dataset_count(d.train) < r.batch || tg_dataset_count(d.test) < 10) {
        fprintf(stderr, "autoencoder: need at least %ld training and 10 test images\n", r.batch);
        ex_images_free(&d);
        return 1;
    }
    rc = train_and_draw(&r, &d);
    ex_images_free(&d);
    return rc;
}
