/* vanishing_gradients.c: lesson 1. Fully connected networks 784-[30 x k]-10 (k = 1..4 hidden
 * layers) with sigmoid, ReLU and Leaky ReLU, trained by plain mini-batch SGD on the
 * cross-entropy cost. The learning speed of hidden layer l is ||dC/db_l||, the norm of the
 * cost's gradient with respect to that layer's biases, over a fixed batch of training images,
 * measured at initialisation and every few hundred steps; the test accuracy per depth closes
 * each run.
 *
 * The finding (checked, exit status 1 when it fails): with sigmoid the first hidden layer
 * learns far more slowly than the last, and the more so the deeper the network; with ReLU or
 * Leaky ReLU under He initialisation the ratio stays near 1. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"
#include "mlp.h"
#include "progress.h"
#include "svg.h"
#include "xp.h"

#define MAX_DEPTH 4
#define WIDTH 30
#define N_ACTS 3
#define MAX_POINTS 512

static const xp_act acts[N_ACTS] = {XP_ACT_SIGMOID, XP_ACT_RELU, XP_ACT_LEAKY_RELU};
static const char *const act_titles[N_ACTS] = {"sigmoid", "ReLU (He init)", "Leaky ReLU (He init)"};

/* The run's sizes: the full run on Fashion-MNIST, or the test suite's quick one. */
typedef struct sizes {
    int64_t n_train, n_test, probe, batch, epochs, every;
    double lr;
} sizes;

/* What one network's run measured. */
typedef struct result {
    int depth;
    double speed0[MAX_DEPTH];  /* ||dC/db_l|| at initialisation, l = hidden layer */
    int n_points;
    double step[MAX_POINTS];
    double speed[MAX_POINTS][MAX_DEPTH];
    double accuracy, test_loss;
} result;

/* The learning speed of every hidden layer: the bias-gradient norms of the mean cost over the
 * probe batch (the same images for every network, so the numbers compare). */
static tg_status measure(const xp_mlp *m, tg_store *s, tg_tape *t,
                         tg_tensor *(*probe)(tg_tape *, void *, int64_t *), void *ctx,
                         double *speeds, const char *dot_path, tg_error *err) {
    static int64_t labels[4096];
    tg_store_zero_grad(s);
    tg_tensor *x = probe(t, ctx, labels);
    tg_tensor *loss = tg_cross_entropy(t, xp_mlp_forward(t, m, x, NULL), labels, 0.0,
                                       TG_REDUCE_MEAN);
    if (!loss || tg_tape_backward(t, loss, NULL, 0) != TG_OK)
        return tg_error_set(err, tg_tape_status(t), "probe: %s", tg_tape_error(t));
    for (int l = 0; l + 1 < m->n_layers; l++) speeds[l] = xp_grad_norm(m->layer[l].bias);
    /* The step's graph, each tensor coloured by its gradient's norm. */
    tg_dot_options dot = {.show_grad_norms = true,
                          .title = "sigmoid 784-[30 x 4]-10 at initialisation: one step, coloured by |grad|"};
    if (dot_path && tg_tape_write_dot_path(t, dot_path, &dot) != TG_OK)
        return tg_error_set(err, tg_tape_status(t), "%s", tg_tape_error(t));
    tg_tape_reset(t);
    tg_store_zero_grad(s);
    return TG_OK;
}

/* Builds, measures and trains one network. */
static tg_status run_one(const xp_options *o, const sizes *z, const ex_images *d, xp_act act,
                         int depth, result *r, tg_error *err) {
    memset(r, 0, sizeof *r);
    r->depth = depth;
    int64_t widths[MAX_DEPTH + 2];
    widths[0] = d->rows * d->cols;
    for (int l = 1; l <= depth; l++) widths[l] = WIDTH;
    widths[depth + 1] = 10;
    /* Sigmoid as the primer starts it: weights N(0, 1/fan_in), biases N(0, 1). ReLU and
     * Leaky ReLU with He's weights and zero biases. */
    xp_init_spec init = act == XP_ACT_SIGMOID ? (xp_init_spec){.kind = XP_INIT_LECUN, .bias_std = 1.0}
                                              : (xp_init_spec){.kind = XP_INIT_HE};
    tg_rng rng;
    tg_rng_seed(&rng, o->seed * 1000 + (uint64_t)depth);
    tg_store *s = tg_store_new();
    tg_tape *t = tg_tape_new();
    int64_t *labels = malloc((size_t)z->batch * sizeof(int64_t));
    xp_mlp m;
    tg_optim *opt = NULL;
    tg_status st = !s || !t || !labels ? tg_error_set(err, TG_ERR_NOMEM, "out of memory") : TG_OK;
    if (st == TG_OK) st = xp_mlp_init(&m, s, widths, depth + 2, act, init, TG_F32, &rng, err);
    if (st == TG_OK) {
        tg_sgd_options so = tg_sgd_defaults(z->lr);
        opt = tg_optim_sgd(s, &so, err);
        if (!opt) st = err->status;
    }
    xp_probe pc = {d, false, z->probe};
    char dot_path[4096];
    bool dot = act == XP_ACT_SIGMOID && depth == MAX_DEPTH;
    if (st == TG_OK && dot)
        st = xp_out_path(o, "vanishing-gradients-step.dot", dot_path, sizeof dot_path, err);
    if (st == TG_OK) st = measure(&m, s, t, xp_probe_batch, &pc, r->speed0, dot ? dot_path : NULL, err);
    int64_t n_train = tg_dataset_count(d->train), steps_per_epoch = n_train / z->batch;
    int64_t n_steps = steps_per_epoch * z->epochs;
    /* A fixed permutation per epoch would need a batcher; a stride through the set that is
     * coprime with its size visits every image once per epoch in a seeded order. */
    int64_t offset = (int64_t)tg_rng_below(&rng, (uint64_t)n_train);
    for (int64_t step = 0; step <= n_steps && st == TG_OK; step++) {
        if (step % z->every == 0 && r->n_points < MAX_POINTS) {
            int k = r->n_points++;
            r->step[k] = (double)step;
            st = measure(&m, s, t, xp_probe_batch, &pc, r->speed[k], NULL, err);
            if (st != TG_OK) break;
        }
        if (step == n_steps) break;
        tg_tensor *x = xp_image_batch(t, d, false, (offset + step * z->batch) % n_train, z->batch,
                                      TG_F32, labels);
        tg_tensor *loss = tg_cross_entropy(t, xp_mlp_forward(t, &m, x, NULL), labels, 0.0,
                                           TG_REDUCE_MEAN);
        if (!loss || tg_tape_backward(t, loss, NULL, 0) != TG_OK) {
            st = tg_error_set(err, tg_tape_status(t), "training: %s", tg_tape_error(t));
            break;
        }
        st = tg_optim_step(opt, err);
        tg_store_zero_grad(s);
        tg_tape_reset(t);
    }
    if (st == TG_OK) st = xp_mlp_evaluate(&m, d, z->n_test, TG_F32, &r->accuracy, &r->test_loss, err);
    tg_optim_free(opt);
    free(labels);
    tg_tape_free(t);
    tg_store_free(s);
    return st;
}

int main(int argc, char **argv) {
    xp_options o = xp_defaults();
    const ex_program prog = {
        .name = "vanishing_gradients",
        .about = "Lesson 1: the learning speed ||dC/db_l|| of each hidden layer of 784-[30 x k]-10\n"
                 "networks (k = 1..4), sigmoid against ReLU and Leaky ReLU, at initialisation\n"
                 "and over plain SGD training on the cross-entropy cost.\n",
        .data_help = "an MNIST-format folder, or 'synthetic' (default: $TG_DATA_DIR or "
                     "data/fashion-mnist)",
    };
    int rc = xp_parse(argc, argv, &prog, &o);
    if (rc) return rc == 2 ? 0 : 1;

    sizes z = o.quick ? (sizes){.n_train = 1000, .n_test = 500, .probe = 500, .batch = 10,
                                .epochs = 1, .every = 50, .lr = 0.1}
                      : (sizes){.n_train = 60000, .n_test = 0, .probe = 1000, .batch = 10,
                                .epochs = 2, .every = 400, .lr = 0.1};
    tg_error err = {0};
    ex_images d;
    if (xp_load_images(&o, z.n_train, z.n_test, &d, &err) != TG_OK) return xp_fail(prog.name, err.message);

    static result res[N_ACTS][MAX_DEPTH];
    for (int a = 0; a < N_ACTS; a++) {
        for (int k = 1; k <= MAX_DEPTH; k++) {
            double t0 = ex_now();
            if (run_one(&o, &z, &d, acts[a], k, &res[a][k - 1], &err) != TG_OK) {
                ex_images_free(&d);
                return xp_fail(prog.name, err.message);
            }
            const result *r = &res[a][k - 1];
            printf("%-10s depth %d  speed at init:", xp_act_names[acts[a]], k);
            for (int l = 0; l < k; l++) printf(" %.3g", r->speed0[l]);
            printf("  first/last %.3f  test accuracy %.1f%%  (%.1f s)\n",
                   r->speed0[0] / r->speed0[k - 1], r->accuracy, ex_now() - t0);
        }
    }
    ex_images_free(&d);

    /* CSV: one row per (activation, depth, step, layer). */
    char path[4096];
    static double rows[N_ACTS * MAX_DEPTH * (MAX_POINTS + 1) * MAX_DEPTH][7];
    int n_rows = 0;
    for (int a = 0; a < N_ACTS; a++)
        for (int k = 1; k <= MAX_DEPTH; k++) {
            const result *r = &res[a][k - 1];
            for (int p = 0; p < r->n_points; p++)
                for (int l = 0; l < k; l++) {
                    double *row = rows[n_rows++];
                    row[0] = a;
                    row[1] = k;
                    row[2] = r->step[p];
                    row[3] = l + 1;
                    row[4] = r->speed[p][l];
                    row[5] = r->speed[p][l] / r->speed[p][k - 1];
                    row[6] = p == r->n_points - 1 ? r->accuracy : NAN;
                }
        }
    const char *names[] = {"activation(0=sigmoid,1=relu,2=leaky_relu)", "depth", "step", "layer",
                           "bias_grad_norm", "ratio_to_last", "test_accuracy"};
    if (xp_out_path(&o, "vanishing-gradients.csv", path, sizeof path, &err) != TG_OK ||
        ex_csv_write(path, 7, names, n_rows, &rows[0][0], &err) != TG_OK)
        return xp_fail(prog.name, err.message);

    /* Figure 1: the speed at initialisation per layer, one line per depth, for each activation
     * on one shared scale, and the first/last ratio against depth. */
    static double xs[MAX_DEPTH], ys[N_ACTS][MAX_DEPTH][MAX_DEPTH], ratio[N_ACTS][MAX_DEPTH];
    static char depth_names[MAX_DEPTH][32], layer_names[MAX_DEPTH][32];
    double lo = INFINITY, hi = 0;
    for (int a = 0; a < N_ACTS; a++)
        for (int k = 1; k <= MAX_DEPTH; k++)
            for (int l = 0; l < k; l++) {
                lo = fmin(lo, res[a][k - 1].speed0[l]);
                hi = fmax(hi, res[a][k - 1].speed0[l]);
            }
    ex_panel panels[4] = {0};
    for (int l = 0; l < MAX_DEPTH; l++) xs[l] = l + 1;
    for (int a = 0; a < N_ACTS; a++) {
        ex_panel *p = &panels[a];
        p->title = act_titles[a];
        p->x_label = "hidden layer l (1 = next to the input)";
        p->y_label = "learning speed ||dC/db_l|| at initialisation";
        p->x_integer = true;
        p->y_log = true;
        p->y_min = lo;
        p->y_max = hi;
        p->n_series = MAX_DEPTH;
        for (int k = 1; k <= MAX_DEPTH; k++) {
            snprintf(depth_names[k - 1], sizeof depth_names[k - 1], "%d hidden", k);
            for (int l = 0; l < k; l++) ys[a][k - 1][l] = res[a][k - 1].speed0[l];
            p->series[k - 1] = (ex_series){depth_names[k - 1], k, xs, ys[a][k - 1], NULL, false};
            ratio[a][k - 1] = res[a][k - 1].speed0[0] / res[a][k - 1].speed0[k - 1];
        }
    }
    ex_panel *p = &panels[3];
    p->title = "first / last hidden layer";
    p->x_label = "hidden layers k";
    p->y_label = "||dC/db_1|| / ||dC/db_k|| at initialisation";
    p->x_integer = true;
    p->y_log = true;
    p->n_series = N_ACTS;
    for (int a = 0; a < N_ACTS; a++)
        p->series[a] = (ex_series){act_titles[a], MAX_DEPTH, xs, ratio[a], NULL, a == 2};
    if (xp_out_path(&o, "vanishing-gradients.svg", path, sizeof path, &err) != TG_OK ||
        ex_svg_write(path, "Vanishing gradients: learning speed per hidden layer at initialisation",
                     4, panels, &err) != TG_OK)
        return xp_fail(prog.name, err.message);

    /* Figure 2: the deepest networks' speeds over training, and the test accuracy per depth. */
    static double speed_t[N_ACTS][MAX_DEPTH][MAX_POINTS], acc[N_ACTS][MAX_DEPTH];
    ex_panel train[3] = {0};
    for (int a = 0; a < 2; a++) {
        const result *deep = &res[a][MAX_DEPTH - 1];
        p = &train[a];
        p->title = a == 0 ? "sigmoid, 4 hidden layers" : "ReLU (He init), 4 hidden layers";
        p->x_label = "SGD step (batch of 10)";
        p->y_label = "learning speed ||dC/db_l||";
        p->y_log = true;
        p->n_series = MAX_DEPTH;
        for (int l = 0; l < MAX_DEPTH; l++) {
            snprintf(layer_names[l], sizeof layer_names[l], "layer %d", l + 1);
            for (int k = 0; k < deep->n_points; k++) speed_t[a][l][k] = deep->speed[k][l];
            p->series[l] = (ex_series){layer_names[l], deep->n_points, deep->step, speed_t[a][l], NULL, false};
        }
    }
    p = &train[2];
    p->title = "test accuracy after training";
    p->x_label = "hidden layers k";
    p->y_label = "test accuracy (%)";
    p->x_integer = true;
    p->y_min = o.quick ? 0 : 60; /* a range that does not magnify a point of difference */
    p->y_max = 100;
    p->n_series = N_ACTS;
    for (int a = 0; a < N_ACTS; a++) {
        for (int k = 0; k < MAX_DEPTH; k++) acc[a][k] = res[a][k].accuracy;
        p->series[a] = (ex_series){act_titles[a], MAX_DEPTH, xs, acc[a], NULL, a == 2};
    }
    if (xp_out_path(&o, "vanishing-gradients-training.svg", path, sizeof path, &err) != TG_OK ||
        ex_svg_write(path, "Vanishing gradients: learning speed per hidden layer during training",
                     3, train, &err) != TG_OK)
        return xp_fail(prog.name, err.message);

    /* The findings. */
    double sig4 = res[0][3].speed0[0] / res[0][3].speed0[3];
    double sig2 = res[0][1].speed0[0] / res[0][1].speed0[1];
    xp_expect(&o, sig4 < 0.3, "sigmoid, 4 hidden layers: first/last ||dC/db|| at init %.3f < 0.3", sig4);
    xp_expect(&o, sig4 < sig2, "sigmoid: the ratio worsens with depth (%.3f at 4 < %.3f at 2)", sig4, sig2);
    for (int a = 1; a < N_ACTS; a++) {
        double r4 = res[a][3].speed0[0] / res[a][3].speed0[3];
        xp_expect(&o, r4 > 0.5, "%s, 4 hidden layers: first/last ratio at init %.3f > 0.5",
                  act_titles[a], r4);
    }
    return xp_finish(&o);
}
