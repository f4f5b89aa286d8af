/* colourise.c: the colourisation example. A small fully convolutional network reads the
 * luminance Y of a photo and predicts its two chroma channels (Cb, Cr; photos.h), trained with
 * Adam on the mean squared chroma error of small patches cut at random from the training photos
 * (flipped left-right at random), the learning rate decaying as a cosine. It is judged on whole
 * photos it never saw, against the baseline that paints every pixel with the training photos'
 * mean chroma, and writes a grid of grey input | predicted colour | true colour for those
 * photos.
 *
 * The network: Y - 0.5 -> four 3x3 convolutions of width 32 with ReLU, dilated 1, 2, 4 and 8
 * (padding to match, so the size is kept), then a 1x1 convolution to 2 channels. Dilation grows
 * the window each output pixel sees to 31x31 pixels at the cost of four 3x3 layers: colour
 * depends on what a region is (a petal, a leaf, the sky), which a 3x3 window cannot tell.
 *
 * Invariant: a run is a function of its flags and the photos: the weights, patches and flips
 * come from generators seeded by --seed. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"
#include "montage.h"
#include "photos.h"
#include "progress.h"
#include "svg.h"
#include "xp.h"

enum { WIDTH = 32, N_DILATED = 4, MAX_EVALS = 64, MICRO = 8 };

typedef struct options {
    xp_options xp;
    long steps, batch, patch;
    double lr, max_ratio;
} options;

typedef struct net {
    tg_conv2d c[N_DILATED], out;
} net;

static tg_status net_init(net *m, tg_store *s, tg_rng *rng, tg_error *err) {
    tg_status st = TG_OK;
    for (int i = 0; i < N_DILATED && st == TG_OK; i++) {
        int d = 1 << i;
        tg_conv2d_params p = {.padding = {d, d}, .dilation = {d, d}};
        char name[32];
        snprintf(name, sizeof name, "c%d", i);
        st = tg_conv2d_init(&m->c[i], s, name, i ? WIDTH : 1, WIDTH, 3, 3, &p, true, TG_F32, rng,
                            err);
    }
    if (st == TG_OK) st = tg_conv2d_init(&m->out, s, "out", WIDTH, 2, 1, 1, NULL, true, TG_F32, rng, err);
    return st;
}

/* y: (N, 1, H, W) luminance in [0, 1] -> (N, 2, H, W) chroma. */
static tg_tensor *net_forward(tg_tape *t, const net *m, tg_tensor *y) {
    tg_tensor *h = tg_add_scalar(t, y, -0.5);
    for (int i = 0; i < N_DILATED; i++) h = tg_relu(t, tg_conv2d_forward(t, &m->c[i], h));
    return tg_conv2d_forward(t, &m->out, h);
}

/* A photo split into planes once: y, then cb and cr (3 planes of w * h). */
typedef struct planes {
    int w, h;
    float *ycc;
} planes;

static tg_status split(const co_photos *set, planes *out, tg_error *err) {
    for (int i = 0; i < set->n; i++) {
        const ex_picture *p = &set->pics[i];
        int64_t n = (int64_t)p->width * p->height;
        out[i].w = p->width, out[i].h = p->height;
        if (!(out[i].ycc = malloc(sizeof(float) * 3 * (size_t)n)))
            return tg_error_set(err, TG_ERR_NOMEM, "colourise: out of memory");
        co_to_ycc(p->rgb, n, out[i].ycc, out[i].ycc + n, out[i].ycc + 2 * n);
    }
    return TG_OK;
}

/* A batch of random patches: luminance into y (B, 1, P, P), chroma into c (B, 2, P, P). */
static void cut_patches(const planes *ph, int n_photos, int64_t batch, int p, tg_rng *rng,
                        float *y, float *c) {
    for (int64_t b = 0; b < batch; b++) {
        const planes *s = &ph[tg_rng_below(rng, (uint64_t)n_photos)];
        int x0 = (int)tg_rng_below(rng, (uint64_t)(s->w - p + 1));
        int y0 = (int)tg_rng_below(rng, (uint64_t)(s->h - p + 1));
        bool flip = tg_rng_below(rng, 2) == 1;
        int64_t n = (int64_t)s->w * s->h;
        for (int r = 0; r < p; r++)
            for (int q = 0; q < p; q++) {
                int64_t at = (int64_t)(y0 + r) * s->w + x0 + (flip ? p - 1 - q : q);
                int64_t to = (b * p + r) * p + q;
                y[to] = s->ycc[at];
                c[(b * 2) * p * p + r * p + q] = s->ycc[n + at];
                c[(b * 2 + 1) * p * p + r * p + q] = s->ycc[2 * n + at];
            }
    }
}

/* The network's chroma for a whole photo into cb, cr (w * h each), in bands of BAND rows: each
 * band runs with REACH rows of the photo above and below it, as far as the dilated layers see
 * (1 + 2 + 4 + 8), so its rows are what the whole photo would give, while the tape holds one
 * band's activations and columns instead of the photo's (at 192x120, a third). */
enum { BAND = 16, REACH = (1 << N_DILATED) - 1 };

static tg_status predict(tg_tape *t, const net *m, const planes *s, float *cb, float *cr,
                         tg_error *err) {
    bool was = tg_tape_set_grad_enabled(t, false);
    tg_status st = TG_OK;
    for (int y0 = 0; y0 < s->h && st == TG_OK; y0 += BAND) {
        int y1 = y0 + BAND < s->h ? y0 + BAND : s->h;
        int a = y0 > REACH ? y0 - REACH : 0, b = y1 + REACH < s->h ? y1 + REACH : s->h;
        tg_tensor *y = tg_from_data(t, TG_F32, TG_SHAPE(1, 1, b - a, s->w),
                                    s->ycc + (size_t)a * s->w);
        tg_tensor *c = net_forward(t, m, y);
        if (!c) {
            st = tg_error_set(err, tg_tape_status(t), "colourise: %s", tg_tape_error(t));
        } else {
            const float *d = tg_tensor_data(c);
            size_t plane = (size_t)(b - a) * s->w, skip = (size_t)(y0 - a) * s->w,
                   n = (size_t)(y1 - y0) * s->w, at = (size_t)y0 * s->w;
            memcpy(cb + at, d + skip, sizeof(float) * n);
            memcpy(cr + at, d + plane + skip, sizeof(float) * n);
        }
        tg_tape_reset(t);
    }
    tg_tape_set_grad_enabled(t, was);
    return st;
}

/* Mean squared chroma error over every pixel of the photos (both channels), of the network and
 * of the constant (mean_cb, mean_cr). */
static tg_status evaluate(tg_tape *t, const net *m, const planes *ph, int n, double mean_cb,
                          double mean_cr, double *net_mse, double *base_mse, tg_error *err) {
    double se = 0, sb = 0;
    int64_t count = 0;
    for (int i = 0; i < n; i++) {
        int64_t np = (int64_t)ph[i].w * ph[i].h;
        float *cb = malloc(sizeof(float) * 2 * (size_t)np);
        if (!cb) return tg_error_set(err, TG_ERR_NOMEM, "colourise: out of memory");
        tg_status st = predict(t, m, &ph[i], cb, cb + np, err);
        if (st != TG_OK) return free(cb), st;
        const float *tb = ph[i].ycc + np, *tr = ph[i].ycc + 2 * np;
        for (int64_t k = 0; k < np; k++) {
            se += (cb[k] - tb[k]) * (double)(cb[k] - tb[k]) + (cb[np + k] - tr[k]) * (double)(cb[np + k] - tr[k]);
            sb += (mean_cb - tb[k]) * (mean_cb - tb[k]) + (mean_cr - tr[k]) * (mean_cr - tr[k]);
        }
        count += 2 * np;
        free(cb);
    }
    *net_mse = se / count, *base_mse = sb / count;
    return TG_OK;
}

/* p at half size, each pixel the mean of a 2x2 block (a trailing odd row or column is
 * dropped), in place: the grids of full photos stay a few hundred kilobytes, since the PNG
 * writer does not compress. */
static void halve(ex_picture *p) {
    int w = p->width / 2, h = p->height / 2;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < 3; c++) {
                const float *a = p->rgb + ((size_t)(2 * y) * p->width + 2 * x) * 3 + c;
                const float *b = a + (size_t)p->width * 3;
                p->rgb[((size_t)y * w + x) * 3 + c] = 0.25f * (a[0] + a[3] + b[0] + b[3]);
            }
    p->width = w, p->height = h;
}

/* grey | predicted | true for each photo, one row each, into path; photos 160 pixels wide or
 * more are drawn at half size. */
static tg_status write_grid(tg_tape *t, const net *m, const planes *ph, int n, const char *path,
                            tg_error *err) {
    ex_picture *pics = calloc((size_t)3 * n, sizeof *pics);
    const ex_picture **order = calloc((size_t)3 * n, sizeof *order);
    tg_status st = pics && order ? TG_OK : tg_error_set(err, TG_ERR_NOMEM, "grid: out of memory");
    for (int i = 0; i < n && st == TG_OK; i++) {
        int64_t np = (int64_t)ph[i].w * ph[i].h;
        float *zero = calloc((size_t)np * 2, sizeof(float));
        for (int k = 0; k < 3; k++) {
            pics[3 * i + k].width = ph[i].w, pics[3 * i + k].height = ph[i].h;
            pics[3 * i + k].rgb = malloc(sizeof(float) * 3 * (size_t)np);
            order[3 * i + k] = &pics[3 * i + k];
        }
        if (!zero || !pics[3 * i].rgb || !pics[3 * i + 1].rgb || !pics[3 * i + 2].rgb) {
            free(zero);
            st = tg_error_set(err, TG_ERR_NOMEM, "grid: out of memory");
            break;
        }
        const float *y = ph[i].ycc;
        co_to_rgb(y, zero, zero + np, np, pics[3 * i].rgb);
        st = predict(t, m, &ph[i], zero, zero + np, err);
        if (st == TG_OK) co_to_rgb(y, zero, zero + np, np, pics[3 * i + 1].rgb);
        co_to_rgb(y, y + np, y + 2 * np, np, pics[3 * i + 2].rgb);
        free(zero);
        if (ph[i].w >= 160)
            for (int k = 0; k < 3; k++) halve(&pics[3 * i + k]);
    }
    if (st == TG_OK) st = ex_montage_write(path, 3 * n, order, 3, err);
    for (int i = 0; pics && i < 3 * n; i++) ex_picture_free(&pics[i]);
    free(pics);
    free(order);
    return st;
}

enum { COL_STEP, COL_TRAIN, COL_TEST, COL_BASE, N_COLS };

static tg_status write_curves(const options *o, const double *rows, int n, tg_error *err) {
    static const char *const names[N_COLS] = {"step", "train_patch_mse", "test_mse",
                                              "test_baseline_mse"};
    char path[4096];
    tg_status st = xp_out_path(&o->xp, "colourise.csv", path, sizeof path, err);
    if (st == TG_OK) st = ex_csv_write(path, N_COLS, names, n, rows, err);
    if (st != TG_OK) return st;
    double col[N_COLS][MAX_EVALS];
    for (int i = 0; i < n; i++)
        for (int j = 0; j < N_COLS; j++) col[j][i] = rows[i * N_COLS + j];
    ex_panel p = {.title = "mean squared chroma error (Cb and Cr)", .x_label = "training step",
                  .y_label = "MSE", .y_min = 0, .n_series = 3,
                  .series = {{"training patches (mean since the last point)", n - 1, col[0] + 1,
                              col[COL_TRAIN] + 1, NULL, false},
                             {"held-out photos: network", n, col[0], col[COL_TEST], NULL, false},
                             {"held-out photos: mean chroma of training", n, col[0],
                              col[COL_BASE], NULL, true}}};
    double hi = 0;
    for (int i = 0; i < n; i++) {
        hi = fmax(hi, fmax(col[COL_TEST][i], col[COL_BASE][i]));
        if (i > 0) hi = fmax(hi, col[COL_TRAIN][i]);
    }
    p.y_max = 1.2 * hi;
    st = xp_out_path(&o->xp, "colourise_error.svg", path, sizeof path, err);
    if (st == TG_OK) st = ex_svg_write(path, "Colourisation: error over training", 1, &p, err);
    return st;
}

static int run(options *o) {
    bool synth = strcmp(o->xp.data, XP_SYNTHETIC) == 0;
    long steps = o->steps ? o->steps : o->xp.quick ? 60 : 1200;
    int64_t batch = o->batch ? o->batch : o->xp.quick ? 8 : 32;
    int p = (int)(o->patch ? o->patch : o->xp.quick ? 24 : 32);
    tg_error err = {0};
    co_photos *train = calloc(1, sizeof *train), *test = calloc(1, sizeof *test);
    planes *tp = NULL, *vp = NULL;
    float *by = NULL, *bc = NULL;
    double *rows = NULL;
    tg_store *s = tg_store_new();
    tg_tape *t = tg_tape_new();
    tg_optim *opt = NULL;
    int rc = 1;
    if (!train || !test || !s || !t) {
        fprintf(stderr, "colourise: out of memory\n");
        goto done;
    }
    char dir[4096];
    tg_status st;
    if (synth) {
        st = co_photos_synthetic(train, 8, 48, 36, o->xp.seed * 7 + 1, &err);
        if (st == TG_OK) st = co_photos_synthetic(test, 2, 48, 36, o->xp.seed * 7 + 2, &err);
    } else {
        snprintf(dir, sizeof dir, "%s/colour/train", o->xp.data);
        st = co_photos_load(train, dir, &err);
        snprintf(dir, sizeof dir, "%s/colour/test", o->xp.data);
        if (st == TG_OK) st = co_photos_load(test, dir, &err);
    }
    if (st != TG_OK) {
        fprintf(stderr, "colourise: %s (tools/get-images fetches the photos and prints the "
                "folder to give --data)\n", err.message);
        goto done;
    }
    for (int i = 0; i < train->n; i++)
        if (train->pics[i].width < p || train->pics[i].height < p) {
            fprintf(stderr, "colourise: training photo %s is %dx%d, smaller than a %d-pixel "
                    "patch\n", train->names[i], train->pics[i].width, train->pics[i].height, p);
            goto done;
        }
    tp = calloc((size_t)train->n, sizeof *tp), vp = calloc((size_t)test->n, sizeof *vp);
    by = malloc(sizeof(float) * (size_t)(batch * p * p));
    bc = malloc(sizeof(float) * (size_t)(batch * 2 * p * p));
    rows = calloc(MAX_EVALS * N_COLS, sizeof *rows);
    if (!tp || !vp || !by || !bc || !rows) {
        fprintf(stderr, "colourise: out of memory\n");
        goto done;
    }
    if (split(train, tp, &err) != TG_OK || split(test, vp, &err) != TG_OK) {
        fprintf(stderr, "colourise: %s\n", err.message);
        goto done;
    }
    /* The baseline's constant: the mean chroma over every training pixel. */
    double mean_cb = 0, mean_cr = 0, n_px = 0;
    for (int i = 0; i < train->n; i++) {
        int64_t np = (int64_t)tp[i].w * tp[i].h;
        for (int64_t k = 0; k < np; k++) mean_cb += tp[i].ycc[np + k], mean_cr += tp[i].ycc[2 * np + k];
        n_px += (double)np;
    }
    mean_cb /= n_px, mean_cr /= n_px;
    net m;
    tg_rng rng, data;
    tg_rng_seed(&rng, o->xp.seed);
    tg_rng_seed(&data, o->xp.seed * 3 + 1);
    tg_adam_options ao = tg_adam_defaults(o->lr);
    if (net_init(&m, s, &rng, &err) != TG_OK || !(opt = tg_optim_adam(s, &ao, &err))) {
        fprintf(stderr, "colourise: %s\n", err.message);
        goto done;
    }
    /* The untrained network starts as the baseline: its output bias is the mean chroma and its
     * output weights are a tenth of their initial draw, so what training adds is what the grey
     * tells about colour beyond the average, and step 0 is the number to beat. */
    float *ob = tg_tensor_data(m.out.bias), *ow = tg_tensor_data(m.out.weight);
    ob[0] = (float)mean_cb, ob[1] = (float)mean_cr;
    for (int64_t i = 0; i < tg_tensor_numel(m.out.weight); i++) ow[i] *= 0.1f;
    printf("colourise: %d training photos, %d held out; %ld Adam steps (lr %g) on batches of "
           "%lld %dx%d patches; mean training chroma Cb %.4f Cr %.4f\n", train->n, test->n,
           steps, o->lr, (long long)batch, p, p, mean_cb, mean_cr);
    int n_evals = 11;
    long every = steps >= 10 ? steps / 10 : 1;
    int row = 0;
    double sum = 0, t0 = ex_now();
    long since = 0;
    for (long k = 0; k <= steps; k++) {
        if (k % every == 0 && row < n_evals) {
            double *r = rows + row++ * N_COLS;
            r[COL_STEP] = (double)k, r[COL_TRAIN] = since ? sum / since : NAN;
            if (evaluate(t, &m, vp, test->n, mean_cb, mean_cr, &r[COL_TEST], &r[COL_BASE],
                         &err) != TG_OK) {
                fprintf(stderr, "colourise: %s\n", err.message);
                goto done;
            }
            printf("step %5ld  training patches %.5f  held-out photos %.5f  (mean chroma "
                   "%.5f)  (%.0f s)\n", k, r[COL_TRAIN], r[COL_TEST], r[COL_BASE], ex_now() - t0);
            fflush(stdout);
            sum = 0, since = 0;
        }
        if (k == steps) break;
        /* Cosine decay to zero: the held-out error swings by a third from one evaluation to
         * the next at a constant rate, so the run ends with small steps that settle it. */
        tg_lr_schedule cos = {.kind = TG_LR_COSINE, .base_lr = o->lr, .t_max = steps};
        if (tg_optim_schedule(opt, &cos, k, &err) != TG_OK) {
            fprintf(stderr, "colourise: %s\n", err.message);
            goto done;
        }
        cut_patches(tp, train->n, batch, p, &data, by, bc);
        tg_store_zero_grad(s);
        /* The batch goes through in slices of MICRO patches, each slice's loss weighted by its
         * share of the batch, the gradients adding up in the parameters: the batch's mean loss
         * and gradient, with a tape that holds one slice's activations and convolution columns
         * (a quarter of a whole batch's at the default 32). */
        for (int64_t b0 = 0; b0 < batch; b0 += MICRO) {
            int64_t nb = batch - b0 < MICRO ? batch - b0 : MICRO;
            tg_tensor *y = tg_from_data(t, TG_F32, TG_SHAPE(nb, 1, p, p), by + b0 * p * p);
            tg_tensor *c = tg_from_data(t, TG_F32, TG_SHAPE(nb, 2, p, p), bc + b0 * 2 * p * p);
            tg_tensor *loss = tg_mse(t, net_forward(t, &m, y), c, TG_REDUCE_MEAN);
            loss = loss ? tg_mul_scalar(t, loss, (double)nb / (double)batch) : NULL;
            if (!loss || tg_tape_backward(t, loss, NULL, 0) != TG_OK) {
                fprintf(stderr, "colourise: step %ld: %s\n", k, tg_tape_error(t));
                goto done;
            }
            sum += tg_tensor_item(loss);
            tg_tape_reset(t);
        }
        since++;
        if (tg_optim_step(opt, &err) != TG_OK) {
            fprintf(stderr, "colourise: step %ld: %s\n", k, err.message);
            goto done;
        }
    }
    char path[4096];
    if (xp_out_path(&o->xp, "colourise_test.png", path, sizeof path, &err) != TG_OK ||
        write_grid(t, &m, vp, test->n, path, &err) != TG_OK ||
        xp_out_path(&o->xp, "colourise_train.png", path, sizeof path, &err) != TG_OK ||
        write_grid(t, &m, tp, train->n < 3 ? train->n : 3, path, &err) != TG_OK ||
        write_curves(o, rows, row, &err) != TG_OK) {
        fprintf(stderr, "colourise: %s\n", err.message);
        goto done;
    }
    const double *last = rows + (row - 1) * N_COLS;
    printf("colourise: wrote colourise_test.png (held-out photos) and colourise_train.png "
           "(grey | predicted | true), the errors (CSV, SVG) in %s\n", o->xp.out);
    xp_expect(&o->xp, last[COL_TEST] < o->max_ratio * last[COL_BASE],
              "held-out chroma error %.5f < %g x the mean-chroma baseline's %.5f (ratio %.3f)",
              last[COL_TEST], o->max_ratio, last[COL_BASE], last[COL_TEST] / last[COL_BASE]);
    rc = xp_finish(&o->xp);
done:
    for (int i = 0; tp && i < train->n; i++) free(tp[i].ycc);
    for (int i = 0; vp && i < test->n; i++) free(vp[i].ycc);
    free(tp), free(vp), free(by), free(bc), free(rows);
    tg_optim_free(opt);
    tg_tape_free(t);
    tg_store_free(s);
    if (train) co_photos_free(train);
    if (test) co_photos_free(test);
    free(train), free(test);
    return rc;
}

int main(int argc, char **argv) {
    options o = {.xp = xp_defaults(), .steps = 0, .batch = 0, .patch = 0, .lr = 1e-3,
                 .max_ratio = 1.0};
    o.xp.out = "out/colourise";
    o.xp.data = EX_SOURCE_ROOT "/data/images";
    const ex_opt extra[] = {
        {"--steps", "N", "Adam steps (0: 1200, --quick 60)", EX_OPT_LONG, &o.steps, 0, 10000000,
         NULL},
        {"--batch", "B", "patches per step (0: 32, --quick 8)", EX_OPT_LONG, &o.batch, 0, 4096,
         NULL},
        {"--patch", "P", "side of the square training patches (0: 32, --quick 24)", EX_OPT_LONG,
         &o.patch, 0, 512,
         NULL},
        {"--lr", "R", "Adam's first learning rate (cosine decay to 0)", EX_OPT_DOUBLE, &o.lr, 1e-7, 1, NULL},
        {"--max-ratio", "Q", "exit with status 1 unless the held-out error is below Q times the "
         "mean-chroma baseline's", EX_OPT_DOUBLE, &o.max_ratio, 0, 100, NULL},
    };
    const ex_program prog = {
        .name = "colourise",
        .about = "Trains a small dilated convolutional network to predict a photo's colour\n"
                 "(the two chroma channels of YCbCr) from its grey (luminance) on random\n"
                 "patches of the training photos, then colours held-out photos and compares\n"
                 "their error with painting every pixel the training photos' mean chroma.\n"
                 "Writes grey | predicted | true grids (PNG) and the errors (CSV, SVG).\n",
        .data_help = "folder with colour/train/*.ppm and colour/test/*.ppm (tools/get-images), "
                     "or 'synthetic'",
        .extra = extra,
        .n_extra = (int)(sizeof extra / sizeof extra[0]),
    };
    int rc = xp_parse(argc, argv, &prog, &o.xp);
    if (rc) return rc == 2 ? 0 : 2;
    return run(&o);
}
