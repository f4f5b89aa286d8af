/* initialisation.c: lesson 3. One network of 10 linear layers, 784-[128 x 9]-10, started from
 * five initialisations of its weights (biases zero): N(0, 1), N(0, 0.01^2), Xavier (Glorot's
 * normal, gain 1), He (normal, fan_in, the activation's gain) and orthogonal (times the same
 * gain); with tanh and with ReLU. At step 0: the standard deviation of every layer's output
 * over a batch and the norm of every layer's weight gradient; then the training loss over the
 * first epoch of plain SGD.
 *
 * The finding (checked, exit status 1 when it fails): Xavier (for tanh) and He (for ReLU) keep
 * the 10th layer's output std within a small factor of the first's, N(0, 0.01^2) shrinks it by
 * orders of magnitude, and N(0, 1) under ReLU blows it up. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"
#include "mlp.h"
#include "progress.h"
#include "svg.h"
#include "xp.h"

#define N_LAYERS 10
#define N_INITS 5
#define N_ACTS 2
#define MAX_STEPS 2000

static const xp_init_spec inits[N_INITS] = {
    {.kind = XP_INIT_NORMAL, .std = 1.0},  {.kind = XP_INIT_NORMAL, .std = 0.01},
    {.kind = XP_INIT_XAVIER},              {.kind = XP_INIT_HE},
    {.kind = XP_INIT_ORTHOGONAL},
};
static const char *const init_names[N_INITS] = {"N(0, 1)", "N(0, 0.01^2)", "Xavier", "He",
                                                "orthogonal"};
static const xp_act acts[N_ACTS] = {XP_ACT_TANH, XP_ACT_RELU};

typedef struct sizes {
    int64_t n_train, n_test, probe, batch, width;
    double lr;
} sizes;

typedef struct result {
    double act_std[N_LAYERS];   /* std of layer l's output (after its activation; logits for 10) */
    double grad_norm[N_LAYERS]; /* ||dC/dW_l|| at step 0 */
    int n_points;
    double step[MAX_STEPS], loss[MAX_STEPS]; /* the first epoch, averaged over AVG steps */
    double final_loss, accuracy;
} result;

#define AVG 10 /* steps per point of the loss curve: single batches are noisy */

static tg_status run(const xp_options *o, const sizes *z, const ex_images *d, xp_act act,
                     xp_init_spec init, result *r, tg_error *err) {
    memset(r, 0, sizeof *r);
    int64_t widths[N_LAYERS + 1];
    widths[0] = d->rows * d->cols;
    for (int l = 1; l < N_LAYERS; l++) widths[l] = z->width;
    widths[N_LAYERS] = 10;
    tg_rng rng;
    tg_rng_seed(&rng, o->seed);
    tg_store *s = tg_store_new();
    tg_tape *t = tg_tape_new();
    int64_t n_alloc = z->probe > z->batch ? z->probe : z->batch;
    int64_t *labels = malloc((size_t)n_alloc * sizeof(int64_t));
    xp_mlp m;
    tg_optim *opt = NULL;
    tg_status st = !s || !t || !labels ? tg_error_set(err, TG_ERR_NOMEM, "out of memory") : TG_OK;
    if (st == TG_OK) st = xp_mlp_init(&m, s, widths, N_LAYERS + 1, act, init, TG_F32, &rng, err);
    if (st == TG_OK) {
        tg_sgd_options so = tg_sgd_defaults(z->lr);
        opt = tg_optim_sgd(s, &so, err);
        if (!opt) st = err->status;
    }
    /* Step 0: every layer's output std and weight gradient on the probe batch. */
    if (st == TG_OK) {
        tg_tensor *hidden[N_LAYERS];
        tg_tensor *x = xp_image_batch(t, d, false, 0, z->probe, TG_F32, labels);
        tg_tensor *logits = xp_mlp_forward(t, &m, x, hidden);
        tg_tensor *loss = tg_cross_entropy(t, logits, labels, 0.0, TG_REDUCE_MEAN);
        if (!loss || tg_tape_backward(t, loss, NULL, 0) != TG_OK) {
            st = tg_error_set(err, tg_tape_status(t), "step 0: %s", tg_tape_error(t));
        } else {
            for (int l = 0; l + 1 < N_LAYERS; l++) r->act_std[l] = xp_std(hidden[l]);
            r->act_std[N_LAYERS - 1] = xp_std(logits);
            for (int l = 0; l < N_LAYERS; l++) r->grad_norm[l] = xp_grad_norm(m.layer[l].weight);
        }
        tg_store_zero_grad(s);
        tg_tape_reset(t);
    }
    /* The first epoch, in the order of the set (the same batches for every network). */
    int64_t n_steps = tg_dataset_count(d->train) / z->batch;
    if (n_steps > MAX_STEPS * AVG) n_steps = MAX_STEPS * AVG;
    double sum = 0;
    for (int64_t step = 0; step < n_steps && st == TG_OK; step++) {
        tg_tensor *x = xp_image_batch(t, d, false, step * z->batch, z->batch, TG_F32, labels);
        tg_tensor *loss = tg_cross_entropy(t, xp_mlp_forward(t, &m, x, NULL), labels, 0.0,
                                           TG_REDUCE_MEAN);
        if (!loss || tg_tape_backward(t, loss, NULL, 0) != TG_OK) {
            st = tg_error_set(err, tg_tape_status(t), "training: %s", tg_tape_error(t));
            break;
        }
        sum += tg_tensor_item(loss);
        if ((step + 1) % AVG == 0 || step + 1 == n_steps) {
            int64_t k = step % AVG + 1;
            r->step[r->n_points] = (double)(step + 1);
            r->loss[r->n_points++] = sum / (double)k;
            sum = 0;
        }
        st = tg_optim_step(opt, err);
        tg_store_zero_grad(s);
        tg_tape_reset(t);
    }
    if (st == TG_OK) {
        r->final_loss = r->n_points ? r->loss[r->n_points - 1] : NAN;
        st = xp_mlp_evaluate(&m, d, z->n_test, TG_F32, &r->accuracy, &(double){0}, err);
    }
    tg_optim_free(opt);
    free(labels);
    tg_tape_free(t);
    tg_store_free(s);
    return st;
}

/* One activation's figure: output std per layer, weight gradient per layer, first-epoch loss. */
static tg_status draw(const xp_options *o, int a, result res[N_INITS], tg_error *err) {
    static double layer_x[N_LAYERS];
    for (int l = 0; l < N_LAYERS; l++) layer_x[l] = l + 1;
    ex_panel p[3] = {0};
    p[0] = (ex_panel){.title = "activations at step 0", .x_label = "layer l (10 = logits)",
                      .y_label = "std of layer l's output over a batch", .x_integer = true,
                      .y_log = true, .n_series = N_INITS};
    p[1] = (ex_panel){.title = "gradients at step 0", .x_label = "layer l (10 = logits)",
                      .y_label = "||dC/dW_l|| (weight gradient)", .x_integer = true,
                      .y_log = true, .n_series = N_INITS};
    p[2] = (ex_panel){.title = "first epoch", .x_label = "SGD step",
                      .y_label = "training loss (nats, mean of 10 batches)", .y_log = true,
                      .n_series = N_INITS};
    for (int i = 0; i < N_INITS; i++) {
        bool dashed = i == N_INITS - 1; /* orthogonal often lies on He */
        p[0].series[i] = (ex_series){init_names[i], N_LAYERS, layer_x, res[i].act_std, NULL, dashed};
        p[1].series[i] = (ex_series){init_names[i], N_LAYERS, layer_x, res[i].grad_norm, NULL, dashed};
        p[2].series[i] = (ex_series){init_names[i], res[i].n_points, res[i].step, res[i].loss, NULL,
                                     dashed};
    }
    char file[64], title[128], path[4096];
    snprintf(file, sizeof file, "initialisation-%s.svg", xp_act_names[acts[a]]);
    snprintf(title, sizeof title, "Initialisation: %s network of 10 layers, 784-[128 x 9]-10",
             xp_act_names[acts[a]]);
    tg_status st = xp_out_path(o, file, path, sizeof path, err);
    return st == TG_OK ? ex_svg_write(path, title, 3, p, err) : st;
}

int main(int argc, char **argv) {
    xp_options o = xp_defaults();
    const ex_program prog = {
        .name = "initialisation",
        .about = "Lesson 3: a 10-layer network (tanh, then ReLU) from N(0,1), N(0,0.01^2),\n"
                 "Xavier, He and orthogonal weights: per-layer activation std and gradient\n"
                 "norm at step 0, and the loss over the first epoch of SGD.\n",
        .data_help = "an MNIST-format folder, or 'synthetic' (default: $TG_DATA_DIR or "
                     "data/fashion-mnist)",
    };
    int rc = xp_parse(argc, argv, &prog, &o);
    if (rc) return rc == 2 ? 0 : 1;
    sizes z = o.quick ? (sizes){.n_train = 1280, .n_test = 500, .probe = 256, .batch = 64,
                                .width = 128, .lr = 0.05}
                      : (sizes){.n_train = 0, .n_test = 0, .probe = 1000, .batch = 64,
                                .width = 128, .lr = 0.05};
    tg_error err = {0};
    ex_images d;
    if (xp_load_images(&o, z.n_train, z.n_test, &d, &err) != TG_OK) return xp_fail(prog.name, err.message);

    static result res[N_ACTS][N_INITS];
    for (int a = 0; a < N_ACTS; a++)
        for (int i = 0; i < N_INITS; i++) {
            double t0 = ex_now();
            if (run(&o, &z, &d, acts[a], inits[i], &res[a][i], &err) != TG_OK) {
                ex_images_free(&d);
                return xp_fail(prog.name, err.message);
            }
            const result *r = &res[a][i];
            printf("%-5s %-13s std layer 1 %.3g, layer 10 %.3g; |dC/dW| layer 1 %.3g, layer 10 "
                   "%.3g; epoch loss %.3g -> %.3g, test accuracy %.1f%%  (%.1f s)\n",
                   xp_act_names[acts[a]], init_names[i], r->act_std[0], r->act_std[N_LAYERS - 1],
                   r->grad_norm[0], r->grad_norm[N_LAYERS - 1], r->loss[0], r->final_loss,
                   r->accuracy, ex_now() - t0);
        }
    ex_images_free(&d);

    /* CSV: per activation, init and layer, the step-0 numbers and the run's outcome. */
    static double rows[N_ACTS * N_INITS * N_LAYERS][7];
    int n_rows = 0;
    for (int a = 0; a < N_ACTS; a++)
        for (int i = 0; i < N_INITS; i++)
            for (int l = 0; l < N_LAYERS; l++) {
                double *row = rows[n_rows++];
                row[0] = a;
                row[1] = i;
                row[2] = l + 1;
                row[3] = res[a][i].act_std[l];
                row[4] = res[a][i].grad_norm[l];
                row[5] = res[a][i].final_loss;
                row[6] = res[a][i].accuracy;
            }
    const char *names[] = {"activation(0=tanh,1=relu)",
                           "init(0=N(0;1),1=N(0;0.01^2),2=xavier,3=he,4=orthogonal)",
                           "layer", "output_std", "weight_grad_norm", "loss_end_of_epoch",
                           "test_accuracy"};
    char path[4096];
    if (xp_out_path(&o, "initialisation.csv", path, sizeof path, &err) != TG_OK ||
        ex_csv_write(path, 7, names, n_rows, &rows[0][0], &err) != TG_OK)
        return xp_fail(prog.name, err.message);
    for (int a = 0; a < N_ACTS; a++)
        if (draw(&o, a, res[a], &err) != TG_OK) return xp_fail(prog.name, err.message);

    /* The findings: the 10th layer's output std over the first's. */
    double ratio[N_ACTS][N_INITS];
    for (int a = 0; a < N_ACTS; a++)
        for (int i = 0; i < N_INITS; i++)
            ratio[a][i] = res[a][i].act_std[N_LAYERS - 1] / res[a][i].act_std[0];
    xp_expect(&o, ratio[0][2] > 0.25 && ratio[0][2] < 4,
              "tanh, Xavier: layer-10/layer-1 std %.3g within a factor of 4", ratio[0][2]);
    xp_expect(&o, ratio[1][3] > 0.25 && ratio[1][3] < 4,
              "ReLU, He: layer-10/layer-1 std %.3g within a factor of 4", ratio[1][3]);
    xp_expect(&o, ratio[1][4] > 0.25 && ratio[1][4] < 4,
              "ReLU, orthogonal: layer-10/layer-1 std %.3g within a factor of 4", ratio[1][4]);
    for (int a = 0; a < N_ACTS; a++)
        xp_expect(&o, ratio[a][1] < 1e-3, "%s, N(0, 0.01^2): layer-10/layer-1 std %.3g < 1e-3",
                  xp_act_names[acts[a]], ratio[a][1]);
    xp_expect(&o, !(ratio[1][0] < 1e3), "ReLU, N(0, 1): layer-10/layer-1 std %.3g > 1e3",
              ratio[1][0]);
    xp_expect(&o, res[1][3].final_loss < res[1][3].loss[0],
              "ReLU, He: the loss falls over the first epoch (%.3g -> %.3g)", res[1][3].loss[0],
              res[1][3].final_loss);
    return xp_finish(&o);
}
