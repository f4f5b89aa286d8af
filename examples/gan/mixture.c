/* mixture.c: the GAN on a ring of eight Gaussians in the plane (centres at radius 2, standard
 * deviation 0.05), where what the generator covers can be counted: a sample is "on" the mode
 * whose centre lies within 3 standard deviations of it, and a mode is covered when at least 2%
 * of 2000 samples are on it (a fair share would be 12.5%). A generator that collapses onto one
 * or two modes, the classic GAN failure, scores 1 or 2.
 *
 * G: z (8) -> 128 -> ReLU -> 128 -> ReLU -> 2. D: 2 -> 128 -> LeakyReLU(0.2) -> 128 ->
 * LeakyReLU -> 1 (a logit). Both Adam with betas (0.5, 0.999), the usual choice for GANs: a
 * long momentum makes the two players overshoot and circle each other. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"
#include "progress.h"
#include "gan.h"
#include "scatter.h"
#include "svg.h"

enum { Z_DIM = 8, HIDDEN = 128, N_MODES = 8, N_EVAL = 2000, LOG_EVERY = 100, N_SNAPS = 4 };
#define RADIUS 2.0
#define SIGMA 0.05
#define COVERED_SHARE 0.02

typedef struct mlp3 {
    tg_linear a, b, c;
    bool leaky;
} mlp3;

static tg_tensor *act(tg_tape *t, const mlp3 *m, tg_tensor *x) {
    return m->leaky ? tg_leaky_relu(t, x, 0.2) : tg_relu(t, x);
}

static tg_tensor *mlp3_forward(tg_tape *t, const void *net, tg_tensor *x, bool training) {
    (void)training;
    const mlp3 *m = net;
    tg_tensor *h = act(t, m, tg_linear_forward(t, &m->a, x));
    h = act(t, m, tg_linear_forward(t, &m->b, h));
    return tg_linear_forward(t, &m->c, h);
}

static tg_status mlp3_init(mlp3 *m, tg_store *s, const char *prefix, int64_t in, int64_t out,
                           bool leaky, tg_rng *rng, tg_error *err) {
    char n[3][32];
    for (int i = 0; i < 3; i++) snprintf(n[i], sizeof n[i], "%s.fc%d", prefix, i + 1);
    m->leaky = leaky;
    tg_status st = tg_linear_init(&m->a, s, n[0], in, HIDDEN, true, TG_F32, rng, err);
    if (st == TG_OK) st = tg_linear_init(&m->b, s, n[1], HIDDEN, HIDDEN, true, TG_F32, rng, err);
    if (st == TG_OK) st = tg_linear_init(&m->c, s, n[2], HIDDEN, out, true, TG_F32, rng, err);
    return st;
}

static void centre(int k, double *x, double *y) {
    *x = RADIUS * cos(6.283185307179586 * k / N_MODES);
    *y = RADIUS * sin(6.283185307179586 * k / N_MODES);
}

typedef struct source {
    tg_rng data, noise;
    int64_t batch;
} source;

/* A batch of points from the mixture: a uniformly chosen centre plus Gaussian noise. */
static tg_tensor *real_batch(tg_tape *t, void *ctx) {
    source *s = ctx;
    tg_tensor *x = tg_zeros(t, TG_F32, TG_SHAPE(s->batch, 2));
    if (!x) return NULL;
    float *p = tg_tensor_data(x);
    for (int64_t i = 0; i < s->batch; i++) {
        double cx, cy;
        centre((int)tg_rng_below(&s->data, N_MODES), &cx, &cy);
        p[2 * i] = (float)(cx + SIGMA * tg_rng_normal(&s->data));
        p[2 * i + 1] = (float)(cy + SIGMA * tg_rng_normal(&s->data));
    }
    return x;
}

static tg_tensor *noise_batch(tg_tape *t, void *ctx) {
    source *s = ctx;
    return tg_normal(t, &s->noise, TG_F32, TG_SHAPE(s->batch, Z_DIM), 0.0, 1.0);
}

/* How G's samples from the fixed noise z (N_EVAL, Z_DIM) fall on the modes. */
typedef struct coverage {
    int modes;          /* covered */
    double on_mode;     /* share of samples within 3 sigma of some centre */
    float xy[2 * N_EVAL]; /* the samples */
} coverage;

static tg_status measure(const gan_pair *p, tg_tape *t, const float *z, coverage *c,
                         tg_error *err) {
    bool was = tg_tape_set_grad_enabled(t, false);
    tg_tensor *zt = tg_from_data(t, TG_F32, TG_SHAPE(N_EVAL, Z_DIM), z);
    tg_tensor *g = p->gen(t, p->g, zt, false);
    tg_tape_set_grad_enabled(t, was);
    if (!g || tg_tensor_copy_out(g, TG_F32, c->xy) != TG_OK) {
        tg_status st = tg_error_set(err, tg_tape_status(t), "sampling: %s", tg_tape_error(t));
        tg_tape_reset(t);
        return st;
    }
    tg_tape_reset(t);
    int count[N_MODES] = {0}, on = 0;
    for (int i = 0; i < N_EVAL; i++)
        for (int k = 0; k < N_MODES; k++) {
            double cx, cy;
            centre(k, &cx, &cy);
            if (hypot(c->xy[2 * i] - cx, c->xy[2 * i + 1] - cy) < 3.0 * SIGMA) {
                count[k]++;
                on++;
                break;
            }
        }
    c->modes = 0;
    for (int k = 0; k < N_MODES; k++) c->modes += count[k] >= COVERED_SHARE * N_EVAL;
    c->on_mode = (double)on / N_EVAL;
    return TG_OK;
}

/* The pictures: samples at N_SNAPS moments over the centres, and the curves. */
typedef struct snapshot {
    long step;
    coverage cov;
} snapshot;

static tg_status write_samples(const gan_options *o, const snapshot *snaps, int n,
                               tg_error *err) {
    static double xs[N_SNAPS][N_EVAL], ys[N_SNAPS][N_EVAL];
    static char titles[N_SNAPS][48], notes[N_SNAPS][64];
    double mx[N_MODES], my[N_MODES];
    for (int k = 0; k < N_MODES; k++) centre(k, &mx[k], &my[k]);
    ex_scatter_panel panels[N_SNAPS];
    static const char *const names[] = {"G(z)"};
    for (int s = 0; s < n; s++) {
        for (int i = 0; i < N_EVAL; i++) {
            xs[s][i] = snaps[s].cov.xy[2 * i];
            ys[s][i] = snaps[s].cov.xy[2 * i + 1];
        }
        snprintf(titles[s], sizeof titles[s], "after %ld steps", snaps[s].step);
        snprintf(notes[s], sizeof notes[s], "%d of 8 modes covered, %.0f%% of samples on a mode",
                 snaps[s].cov.modes, 100.0 * snaps[s].cov.on_mode);
        panels[s] = (ex_scatter_panel){.title = titles[s], .x_label = "x", .y_label = "y",
                                       .n = N_EVAL, .x = xs[s], .y = ys[s], .n_groups = 1,
                                       .group_names = s == n - 1 ? names : NULL,
                                       .x_min = -3, .x_max = 3, .y_min = -3, .y_max = 3,
                                       .n_marks = N_MODES, .mark_x = mx, .mark_y = my,
                                       .note = notes[s]};
    }
    char path[4096];
    tg_status st = xp_out_path(&o->xp, "gan_mixture_samples.svg", path, sizeof path, err);
    if (st != TG_OK) return st;
    return ex_scatter_write(path, "GAN on 8 Gaussians: generator samples (dots) and the "
                            "mixture's centres (crosses)", n, panels, err);
}

enum { COL_STEP, COL_D, COL_G, COL_DREAL, COL_DFAKE, COL_MODES, COL_ON, N_COLS };

static tg_status write_curves(const gan_options *o, const double *rows, int n, tg_error *err) {
    static const char *const names[N_COLS] = {"step", "d_loss", "g_loss", "d_real", "d_fake",
                                              "modes_covered", "on_mode_share"};
    char path[4096];
    tg_status st = xp_out_path(&o->xp, "gan_mixture.csv", path, sizeof path, err);
    if (st == TG_OK) st = ex_csv_write(path, N_COLS, names, n, rows, err);
    if (st != TG_OK) return st;
    double *col = malloc(sizeof(double) * (size_t)n * N_COLS);
    if (!col) return tg_error_set(err, TG_ERR_NOMEM, "curves: out of memory");
    for (int i = 0; i < n; i++)
        for (int j = 0; j < N_COLS; j++) col[j * n + i] = rows[i * N_COLS + j];
    const double *x = col;
    ex_panel p[2] = {
        {.title = "losses (D cannot tell: D 2 ln 2 = 1.39, G ln 2 = 0.69)", .x_label = "step", .y_label = "BCE",
         .n_series = 2,
         .series = {{"discriminator (real + fake)", n, x, col + COL_D * n, NULL, false},
                    {"generator, -log D(G(z))", n, x, col + COL_G * n, NULL, false}}},
        {.title = "modes covered (of 8)", .x_label = "step", .y_label = "modes",
         .y_min = 0, .y_max = 8, .n_series = 1,
         .series = {{"covered (>= 2% of samples within 3 sd)", n, x, col + COL_MODES * n, NULL,
                     false}}},
    };
    st = xp_out_path(&o->xp, "gan_mixture_curves.svg", path, sizeof path, err);
    if (st == TG_OK) st = ex_svg_write(path, "GAN on 8 Gaussians: training", 2, p, err);
    free(col);
    return st;
}

int gan_mixture(gan_options *o) {
    long steps = o->steps ? o->steps : o->xp.quick ? 3000 : 6000;
    int64_t batch = o->batch ? o->batch : 256;
    double lr = o->lr > 0 ? o->lr : 1e-3;
    tg_error err = {0};
    tg_store *s = tg_store_new();
    tg_tape *t = tg_tape_new();
    tg_rng rng;
    tg_rng_seed(&rng, o->xp.seed);
    mlp3 g, d;
    source src = {.batch = batch};
    tg_rng_seed(&src.data, o->xp.seed * 3 + 1);
    tg_rng_seed(&src.noise, o->xp.seed * 5 + 2);
    gan_pair p = {mlp3_forward, mlp3_forward, &g, &d, NULL, NULL, s};
    int rc = 1;
    int n_rows = (int)(steps / LOG_EVERY) + 2;
    double *rows = calloc((size_t)n_rows * N_COLS, sizeof *rows);
    float *z = malloc(sizeof(float) * N_EVAL * Z_DIM);
    snapshot *snaps = calloc(N_SNAPS, sizeof *snaps);
    tg_adam_options ag = tg_adam_defaults(lr), ad = tg_adam_defaults(lr);
    ag.beta1 = ad.beta1 = 0.5;
    ag.prefix = "adam_g", ag.params = "gen.";
    ad.prefix = "adam_d", ad.params = "disc.";
    if (!s || !t || !rows || !z || !snaps) {
        fprintf(stderr, "gan: out of memory\n");
        goto done;
    }
    if (mlp3_init(&g, s, "gen", Z_DIM, 2, false, &rng, &err) != TG_OK ||
        mlp3_init(&d, s, "disc", 2, 1, true, &rng, &err) != TG_OK ||
        !(p.opt_g = tg_optim_adam(s, &ag, &err)) || !(p.opt_d = tg_optim_adam(s, &ad, &err))) {
        fprintf(stderr, "gan: %s\n", err.message);
        goto done;
    }
    for (int i = 0; i < N_EVAL * Z_DIM; i++) z[i] = (float)tg_rng_normal(&rng);
    printf("gan: %ld steps of %lld real and %lld generated points, Adam lr %g\n", steps,
           (long long)batch, (long long)batch, lr);
    long snap_at[N_SNAPS] = {0, steps / 8, steps / 3, steps};
    int n_snaps = 0, n = 0;
    gan_batch_maker maker = {real_batch, noise_batch, &src};
    gan_losses l = {0}, sum = {0};
    coverage cov;
    double t0 = ex_now();
    for (long step = 0; step <= steps; step++) {
        if (step > 0) {
            if (gan_step(&p, t, &maker, &l, &err) != TG_OK) {
                fprintf(stderr, "gan: step %ld: %s\n", step, err.message);
                goto done;
            }
            sum.d += l.d, sum.g += l.g, sum.d_real += l.d_real, sum.d_fake += l.d_fake;
        }
        bool snap = n_snaps < N_SNAPS && step == snap_at[n_snaps];
        if (step % LOG_EVERY != 0 && !snap) continue;
        if (measure(&p, t, z, &cov, &err) != TG_OK) {
            fprintf(stderr, "gan: %s\n", err.message);
            goto done;
        }
        if (snap) snaps[n_snaps++] = (snapshot){step, cov};
        if (step % LOG_EVERY != 0) continue;
        double k = step > 0 ? LOG_EVERY : 1;
        double *r = rows + (size_t)n * N_COLS;
        r[COL_STEP] = (double)step, r[COL_D] = step ? sum.d / k : NAN;
        r[COL_G] = step ? sum.g / k : NAN, r[COL_DREAL] = step ? sum.d_real / k : NAN;
        r[COL_DFAKE] = step ? sum.d_fake / k : NAN, r[COL_MODES] = cov.modes;
        r[COL_ON] = cov.on_mode;
        n++;
        if (step % (steps / 10 > LOG_EVERY ? steps / 10 / LOG_EVERY * LOG_EVERY : LOG_EVERY) == 0)
            printf("step %6ld  D loss %.3f  G loss %.3f  D(x) %.2f  D(G(z)) %.2f  modes %d/8  "
                   "on a mode %.0f%%  (%.0f s)\n", step, r[COL_D], r[COL_G], r[COL_DREAL],
                   r[COL_DFAKE], cov.modes, 100 * cov.on_mode, ex_now() - t0);
        sum = (gan_losses){0};
    }
    if (write_samples(o, snaps, n_snaps, &err) != TG_OK ||
        write_curves(o, rows, n, &err) != TG_OK) {
        fprintf(stderr, "gan: %s\n", err.message);
        goto done;
    }
    printf("gan: wrote %s/gan_mixture_samples.svg, gan_mixture_curves.svg, gan_mixture.csv\n",
           o->xp.out);
    if (o->min_modes > 0)
        xp_expect(&o->xp, cov.modes >= o->min_modes, "%d of 8 modes covered (at least %ld)",
                  cov.modes, o->min_modes);
    rc = xp_finish(&o->xp);
done:
    tg_optim_free(p.opt_g);
    tg_optim_free(p.opt_d);
    free(rows);
    free(z);
    free(snaps);
    tg_tape_free(t);
    tg_store_free(s);
    return rc;
}
