/* exploding_gradients.c: lesson 2. A deep linear network 784-[64 x 16]-10 (--act tanh and others
 * for comparison) whose weights are drawn with a gain above 1, so that each layer's Jacobian
 * stretches the gradient on its way back: the product over the layers grows geometrically. Plain SGD on the cross-entropy cost then takes steps that make the gradient
 * larger still, until the loss overflows to Inf/NaN. The same network from the same initial
 * weights, with every step's gradient clipped to a global norm (tg_clip_grad_norm), trains.
 *
 * The finding (checked, exit status 1 when it fails): the first layer's gradient at
 * initialisation is orders of magnitude larger than the last's; without clipping the gradient
 * norm grows by orders of magnitude over the steps and the loss turns non-finite or diverges;
 * with clipping the loss stays finite and ends below where it started. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"
#include "mlp.h"
#include "progress.h"
#include "svg.h"
#include "xp.h"

#define MAX_STEPS 4000
#define FIRST_STEPS 30 /* the close-up of the first steps */

typedef struct config {
    long depth, width, steps, batch;
    double gain, lr, clip;
    int64_t n_train, n_test;
    int act; /* an xp_act */
} config;

/* One run's trace: per step the loss of the batch and the global gradient norm before any
 * clipping (NaN when the gradient held NaN, Inf when it held Inf). */
typedef struct trace {
    double step[MAX_STEPS], loss[MAX_STEPS], grad_norm[MAX_STEPS];
    int n;
    int64_t first_nonfinite; /* the first step whose loss was not finite, -1 if none */
    double layer_norm0[XP_MAX_LAYERS]; /* ||dC/db_l|| at step 0 */
    double accuracy;
} trace;

/* The global gradient norm over every parameter, made NaN/Inf when any element is. */
static double global_norm(tg_store *s) {
    tg_grad_stats total;
    if (tg_store_grad_stats(s, 0, NULL, &total) != TG_OK) return NAN;
    if (total.n_nan > 0) return NAN;
    if (total.n_inf > 0) return INFINITY;
    return total.norm;
}

static tg_status run(const xp_options *o, const config *c, const ex_images *d, bool clip,
                     trace *tr, tg_error *err) {
    memset(tr, 0, sizeof *tr);
    tr->first_nonfinite = -1;
    tr->accuracy = NAN;
    int64_t widths[XP_MAX_LAYERS + 1];
    int n_widths = 0;
    widths[n_widths++] = d->rows * d->cols;
    for (long l = 0; l < c->depth; l++) widths[n_widths++] = c->width;
    widths[n_widths++] = 10;
    tg_rng rng;
    tg_rng_seed(&rng, o->seed);
    tg_store *s = tg_store_new();
    tg_tape *t = tg_tape_new();
    int64_t *labels = malloc((size_t)c->batch * sizeof(int64_t));
    xp_mlp m;
    tg_optim *opt = NULL;
    tg_status st = !s || !t || !labels ? tg_error_set(err, TG_ERR_NOMEM, "out of memory") : TG_OK;
    /* N(0, gain^2 / fan_in): gain 1 keeps a signal's size through a linear layer; above 1 every
     * layer multiplies it (and the gradient coming back) by about the gain. */
    xp_init_spec init = {.kind = XP_INIT_NORMAL};
    if (st == TG_OK) st = xp_mlp_init(&m, s, widths, n_widths, (xp_act)c->act, init, TG_F32, &rng, err);
    for (int l = 0; st == TG_OK && l < m.n_layers; l++)
        st = tg_init_normal(m.layer[l].weight, &rng, 0.0,
                            c->gain / sqrt((double)m.layer[l].in_features), err);
    if (st == TG_OK) {
        tg_sgd_options so = tg_sgd_defaults(c->lr);
        opt = tg_optim_sgd(s, &so, err);
        if (!opt) st = err->status;
    }
    int64_t n_train = tg_dataset_count(d->train);
    for (long step = 0; step < c->steps && step < MAX_STEPS && st == TG_OK; step++) {
        tg_tensor *x = xp_image_batch(t, d, false, (step * c->batch) % n_train, c->batch, TG_F32,
                                      labels);
        tg_tensor *loss = tg_cross_entropy(t, xp_mlp_forward(t, &m, x, NULL), labels, 0.0,
                                           TG_REDUCE_MEAN);
        if (!loss || tg_tape_backward(t, loss, NULL, 0) != TG_OK) {
            st = tg_error_set(err, tg_tape_status(t), "step %ld: %s", step, tg_tape_error(t));
            break;
        }
        double l = tg_tensor_item(loss), g = global_norm(s);
        if (step == 0)
            for (int k = 0; k < m.n_layers; k++) tr->layer_norm0[k] = xp_grad_norm(m.layer[k].bias);
        tr->step[tr->n] = (double)step;
        tr->loss[tr->n] = l;
        tr->grad_norm[tr->n] = g;
        tr->n++;
        if (!isfinite(l)) {
            /* Nothing can be learned after this: the parameters are already non-finite or
             * the next step makes them so. The trace ends here. */
            tr->first_nonfinite = step;
            tg_tape_reset(t);
            break;
        }
        if (clip && tg_clip_grad_norm(s, c->clip, 2.0, false, NULL, err) != TG_OK) {
            st = err->status;
            break;
        }
        st = tg_optim_step(opt, err);
        tg_store_zero_grad(s);
        tg_tape_reset(t);
    }
    if (st == TG_OK && tr->first_nonfinite < 0) {
        double test_loss;
        st = xp_mlp_evaluate(&m, d, c->n_test, TG_F32, &tr->accuracy, &test_loss, err);
    }
    tg_optim_free(opt);
    free(labels);
    tg_tape_free(t);
    tg_store_free(s);
    return st;
}

/* The largest finite value of v[0..n), or NaN when none. */
static double max_finite(const double *v, int n) {
    double best = NAN;
    for (int i = 0; i < n; i++)
        if (isfinite(v[i]) && !(v[i] <= best)) best = v[i];
    return best;
}

int main(int argc, char **argv) {
    xp_options o = xp_defaults();
    config c = {.depth = 16, .width = 64, .steps = 2000, .batch = 32, .gain = 1.2, .lr = 0.01,
                .clip = 1.0, .n_train = 0, .n_test = 0, .act = XP_ACT_LINEAR};
    const ex_opt extra[] = {
        {"--depth", "L", "hidden tanh layers", EX_OPT_LONG, &c.depth, 1, XP_MAX_LAYERS - 1, NULL},
        {"--width", "W", "units per hidden layer", EX_OPT_LONG, &c.width, 1, 4096, NULL},
        {"--gain", "G", "weights N(0, G^2 / fan_in); 1 keeps sizes, above 1 they grow",
         EX_OPT_DOUBLE, &c.gain, 0, 1000, NULL},
        {"--lr", "X", "SGD learning rate", EX_OPT_DOUBLE, &c.lr, 1e-9, 100, NULL},
        {"--clip", "N", "the clipped run's largest global gradient norm", EX_OPT_DOUBLE, &c.clip,
         1e-9, 1e9, NULL},
        {"--act", "A", "the hidden layers' activation", EX_OPT_CHOICE, &c.act, 0, 0, xp_act_names},
        {"--steps", "N", "SGD steps per run", EX_OPT_LONG, &c.steps, 1, MAX_STEPS, NULL},
    };
    const ex_program prog = {
        .name = "exploding_gradients",
        .about = "Lesson 2: a deep tanh network with large weights; the gradient norm per SGD\n"
                 "step and the loss, without and with clipping by global norm.\n",
        .data_help = "an MNIST-format folder, or 'synthetic' (default: $TG_DATA_DIR or "
                     "data/fashion-mnist)",
        .extra = extra,
        .n_extra = (int)(sizeof extra / sizeof extra[0]),
    };
    int rc = xp_parse(argc, argv, &prog, &o);
    if (rc) return rc == 2 ? 0 : 1;
    if (o.quick) {
        c.steps = c.steps < 150 ? c.steps : 150;
        c.n_train = 2000;
        c.n_test = 500;
    }

    tg_error err = {0};
    ex_images d;
    if (xp_load_images(&o, c.n_train, c.n_test, &d, &err) != TG_OK) return xp_fail(prog.name, err.message);
    static trace runs[2];
    const char *run_names[2] = {"no clipping", "clipped"};
    char clip_name[64];
    snprintf(clip_name, sizeof clip_name, "clipped to norm %g", c.clip);
    run_names[1] = clip_name;
    for (int r = 0; r < 2; r++) {
        double t0 = ex_now();
        if (run(&o, &c, &d, r == 1, &runs[r], &err) != TG_OK) {
            ex_images_free(&d);
            return xp_fail(prog.name, err.message);
        }
        const trace *tr = &runs[r];
        printf("%-20s loss %.4g -> %.4g, |grad| %.3g -> %.3g (largest %.3g)", run_names[r],
               tr->loss[0], tr->loss[tr->n - 1], tr->grad_norm[0], tr->grad_norm[tr->n - 1],
               max_finite(tr->grad_norm, tr->n));
        if (tr->first_nonfinite >= 0)
            printf(", loss non-finite at step %lld", (long long)tr->first_nonfinite);
        else
            printf(", test accuracy %.1f%%", tr->accuracy);
        printf("  (%.1f s)\n", ex_now() - t0);
    }
    ex_images_free(&d);
    /* A NaN cannot be drawn, so the legend says where the line stops. */
    char nan_name[64];
    if (runs[0].first_nonfinite >= 0) {
        snprintf(nan_name, sizeof nan_name, "no clipping (loss NaN/Inf at step %lld)",
                 (long long)runs[0].first_nonfinite);
        run_names[0] = nan_name;
    }
    printf("step 0, ||dC/db_l|| per layer:");
    for (long l = 0; l <= c.depth; l++) printf(" %.3g", runs[0].layer_norm0[l]);
    printf("\n");

    /* CSV: per run and step, the loss and the gradient norm before clipping. */
    char path[4096];
    static double rows[2 * MAX_STEPS][4];
    int n_rows = 0;
    for (int r = 0; r < 2; r++)
        for (int k = 0; k < runs[r].n; k++) {
            rows[n_rows][0] = r;
            rows[n_rows][1] = runs[r].step[k];
            rows[n_rows][2] = runs[r].loss[k];
            rows[n_rows][3] = runs[r].grad_norm[k];
            n_rows++;
        }
    const char *names[] = {"clipped", "step", "loss", "grad_norm_before_clipping"};
    if (xp_out_path(&o, "exploding-gradients.csv", path, sizeof path, &err) != TG_OK ||
        ex_csv_write(path, 4, names, n_rows, &rows[0][0], &err) != TG_OK)
        return xp_fail(prog.name, err.message);

    /* Figure: the gradient per layer at step 0, the global norm per step, the loss per step. */
    static double layer_x[XP_MAX_LAYERS];
    for (long l = 0; l <= c.depth; l++) layer_x[l] = (double)(l + 1);
    ex_panel panels[4] = {0};
    panels[0] = (ex_panel){.title = "at initialisation", .x_label = "layer l (1 = next to the input)",
                           .y_label = "||dC/db_l|| (bias gradient)", .x_integer = true, .y_log = true,
                           .n_series = 1};
    panels[0].series[0] = (ex_series){"bias gradient", (int)c.depth + 1, layer_x,
                                      runs[0].layer_norm0, NULL, false};
    panels[1] = (ex_panel){.title = "gradient norm, first steps", .x_label = "SGD step",
                           .y_label = "global ||dC/dtheta|| before clipping", .y_log = true,
                           .x_integer = true, .n_series = 2};
    panels[2] = (ex_panel){.title = "gradient norm per step", .x_label = "SGD step",
                           .y_label = "global ||dC/dtheta|| before clipping", .y_log = true,
                           .n_series = 2};
    panels[3] = (ex_panel){.title = "training loss per step", .x_label = "SGD step",
                           .y_label = "cross-entropy of the batch (nats)", .y_log = true,
                           .n_series = 2};
    for (int r = 0; r < 2; r++) {
        int first = runs[r].n < FIRST_STEPS ? runs[r].n : FIRST_STEPS;
        panels[1].series[r] = (ex_series){run_names[r], first, runs[r].step, runs[r].grad_norm,
                                          NULL, false};
        panels[2].series[r] = (ex_series){run_names[r], runs[r].n, runs[r].step, runs[r].grad_norm,
                                          NULL, false};
        panels[3].series[r] = (ex_series){run_names[r], runs[r].n, runs[r].step, runs[r].loss, NULL,
                                          false};
    }
    char title[160];
    snprintf(title, sizeof title, "Exploding gradients: %s 784-[%ld x %ld]-10, weights N(0, %g^2/fan_in), SGD lr %g",
             xp_act_names[c.act], c.width, c.depth, c.gain, c.lr);
    if (xp_out_path(&o, "exploding-gradients.svg", path, sizeof path, &err) != TG_OK ||
        ex_svg_write(path, title, 4, panels, &err) != TG_OK)
        return xp_fail(prog.name, err.message);

    /* The findings. */
    const trace *un = &runs[0], *cl = &runs[1];
    double growth0 = runs[0].layer_norm0[0] / runs[0].layer_norm0[c.depth];
    xp_expect(&o, growth0 > 10, "at init the first layer's gradient is %.3g times the last's (> 10)",
              growth0);
    double grow = max_finite(un->grad_norm, un->n) / un->grad_norm[0];
    xp_expect(&o, grow > 100 || un->first_nonfinite >= 0,
              "without clipping the gradient norm grows %.3g-fold or turns non-finite", grow);
    bool diverged = un->first_nonfinite >= 0 || !(un->loss[un->n - 1] < 10 * un->loss[0]);
    xp_expect(&o, diverged, "without clipping the loss diverges (%s at step %d)",
              un->first_nonfinite >= 0 ? "non-finite" : "ends", un->n - 1);
    xp_expect(&o, cl->first_nonfinite < 0, "with clipping every loss is finite");
    double start = 0, end = 0;
    int w = cl->n < 20 ? 1 : 10; /* average a few batches: single ones are noisy */
    for (int k = 0; k < w; k++) {
        start += cl->loss[k] / w;
        end += cl->loss[cl->n - 1 - k] / w;
    }
    xp_expect(&o, end < start, "with clipping the loss falls (%.3g -> %.3g)", start, end);
    return xp_finish(&o);
}
