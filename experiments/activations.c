/* activations.c: lesson 4. One fully connected network, 784-[128 x 3]-10, trained with Adam
 * on the cross-entropy cost with each of sigmoid, tanh, ReLU, Leaky ReLU (slope 0.01), ELU and
 * GELU after every hidden layer, all from He-scaled weights of one seed. For each: the test
 * accuracy and the training seconds per epoch; and, over training, two counts of the hidden
 * units on a fixed held-out batch (test images the network never trains on):
 *   inactive: the pre-activation z <= 0 on every image of the batch;
 *   dead:     the gradient of the batch's cost reaching the unit (its incoming weights and
 *             bias) is exactly zero, so no step can change the unit again.
 * A ReLU unit that is inactive is dead; an active one is dead too when every unit it feeds is.
 * A Leaky ReLU unit can be inactive but never dead: its slope below 0 is 0.01, not 0. Then
 * ReLU and Leaky ReLU are trained again with a learning rate 100 times too high for the first
 * epoch (then the normal one), which pushes many ReLU units into the negative half for good.
 * A last, separate measurement times each activation alone (forward and backward over a large
 * tensor), the cost the primer compares. Writes activations.csv (per epoch),
 * activations-units.csv (per probe) and activations.svg.
 *
 * The finding (checked, exit status 1 when it fails): after the high-rate epoch a large share
 * of the ReLU units are dead (few are at the normal rate) while no Leaky ReLU unit is, and the
 * Leaky ReLU network ends more accurate; at the normal rate every activation learns and only
 * ReLU has dead units. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"
#include "mlp.h"
#include "progress.h"
#include "svg.h"
#include "xp.h"

#define N_ACTS     6
#define DEPTH      3
#define MAX_POINTS 256
#define MAX_EPOCHS 16

static const xp_act acts[N_ACTS] = {XP_ACT_SIGMOID,    XP_ACT_TANH, XP_ACT_RELU,
                                    XP_ACT_LEAKY_RELU, XP_ACT_ELU,  XP_ACT_GELU};
static const char *const titles[N_ACTS] = {"sigmoid", "tanh", "ReLU", "Leaky ReLU", "ELU", "GELU"};
/* The runs at the high learning rate: ReLU and Leaky ReLU (indices into acts). */
#define HIGH_RELU  2
#define HIGH_LEAKY 3

typedef struct sizes {
    int64_t n_train, n_test, probe, batch, width, epochs, high_epochs, every;
    int64_t spike; /* the high-rate runs use high_lr for this many steps, then lr */
    double lr, high_lr;
    int64_t bench_n; /* elements through the activation per timing trial */
} sizes;

/* What one training run measured. */
typedef struct result {
    xp_act act;
    double lr;
    int n_epochs;
    double accuracy[MAX_EPOCHS], seconds[MAX_EPOCHS]; /* after / of each epoch */
    int n_points;
    double step[MAX_POINTS], dead[MAX_POINTS], inactive[MAX_POINTS]; /* fractions of units */
    double train_loss[MAX_EPOCHS]; /* mean over each epoch's batches */
} result;

/* Logits of the network, with the hidden layers' pre-activations in z[0..DEPTH) when z is not
 * NULL (xp_mlp_forward hands out only the activations, and a sigmoid unit's activation is
 * never 0). */
static tg_tensor *forward(tg_tape *t, const xp_mlp *m, tg_tensor *x, tg_tensor **z) {
    tg_tensor *h = x;
    for (int l = 0; l < m->n_layers; l++) {
        h = tg_linear_forward(t, &m->layer[l], h);
        if (l + 1 == m->n_layers) break;
        if (z) z[l] = h;
        h = xp_activate(t, m->act, h);
    }
    return h;
}

/* Counts, over the hidden units, those inactive and those dead on the probe batch x (see the
 * top of the file). The store's gradients are zeroed before and after. */
static tg_status probe_units(const xp_mlp *m, tg_store *s, tg_tape *t,
                             tg_tensor *(*batch)(tg_tape *, void *, int64_t *), void *ctx,
                             double *dead, double *inactive, tg_error *err) {
    static int64_t labels[4096];
    tg_tensor *z[DEPTH] = {NULL};
    tg_store_zero_grad(s);
    tg_tensor *x = batch(t, ctx, labels);
    tg_tensor *loss = tg_cross_entropy(t, forward(t, m, x, z), labels, 0.0, TG_REDUCE_MEAN);
    if (!loss || tg_tape_backward(t, loss, NULL, 0) != TG_OK)
        return tg_error_set(err, tg_tape_status(t), "probe: %s", tg_tape_error(t));
    int64_t n_units = 0, n_dead = 0, n_inactive = 0;
    tg_status st = TG_OK;
    for (int l = 0; l < DEPTH && st == TG_OK; l++) {
        const tg_linear *lay = &m->layer[l];
        int64_t out = lay->out_features, in = lay->in_features, n = tg_tensor_dim(z[l], 0);
        double *gw = malloc((size_t)(out * in) * sizeof(double));
        double *gb = malloc((size_t)out * sizeof(double));
        double *zv = malloc((size_t)(n * out) * sizeof(double));
        if (!gw || !gb || !zv)
            st = tg_error_set(err, TG_ERR_NOMEM, "probe: out of memory");
        else if (tg_tensor_copy_out(tg_tensor_grad(lay->weight), TG_F64, gw) != TG_OK ||
                 tg_tensor_copy_out(tg_tensor_grad(lay->bias), TG_F64, gb) != TG_OK ||
                 tg_tensor_copy_out(z[l], TG_F64, zv) != TG_OK)
            st = tg_error_set(err, TG_ERR_ARG, "probe: reading layer %d failed", l + 1);
        for (int64_t j = 0; j < out && st == TG_OK; j++) {
            bool active = false, moving = gb[j] != 0;
            for (int64_t i = 0; i < n && !active; i++) active = zv[i * out + j] > 0;
            for (int64_t k = 0; k < in && !moving; k++) moving = gw[j * in + k] != 0;
            n_inactive += !active;
            n_dead += !moving;
            n_units++;
        }
        free(gw);
        free(gb);
        free(zv);
    }
    tg_tape_reset(t);
    tg_store_zero_grad(s);
    if (st == TG_OK) {
        *dead = (double)n_dead / (double)n_units;
        *inactive = (double)n_inactive / (double)n_units;
    }
    return st;
}

/* Trains one network for `epochs` at rate lr, probing every z->every steps. */
static tg_status run_one(const xp_options *o, const sizes *z, const ex_images *d, xp_act act,
                         double lr, int64_t spike, int epochs, result *r, tg_error *err) {
    memset(r, 0, sizeof *r);
    r->act = act;
    r->lr = lr;
    int64_t widths[DEPTH + 2];
    widths[0] = d->rows * d->cols;
    for (int l = 1; l <= DEPTH; l++) widths[l] = z->width;
    widths[DEPTH + 1] = d->n_classes;
    /* The same seed for every activation: the weights differ only by the activation's gain. */
    tg_rng rng;
    tg_rng_seed(&rng, o->seed);
    tg_store *s = tg_store_new();
    tg_tape *t = tg_tape_new();
    int64_t *labels = malloc((size_t)z->batch * sizeof(int64_t));
    xp_mlp m;
    tg_optim *opt = NULL;
    tg_status st = !s || !t || !labels ? tg_error_set(err, TG_ERR_NOMEM, "out of memory") : TG_OK;
    if (st == TG_OK)
        st = xp_mlp_init(&m, s, widths, DEPTH + 2, act, (xp_init_spec){.kind = XP_INIT_HE}, TG_F32,
                         &rng, err);
    if (st == TG_OK) {
        tg_adam_options ao = tg_adam_defaults(lr);
        opt = tg_optim_adam(s, &ao, err);
        if (!opt) st = err->status;
    }
    xp_probe pc = {d, true, z->probe};
    int64_t n_train = tg_dataset_count(d->train), per_epoch = n_train / z->batch;
    /* Consecutive windows from a seeded start: every image once per epoch. */
    int64_t offset = (int64_t)tg_rng_below(&rng, (uint64_t)n_train), step = 0;
    double loss_sum = 0;
    for (int e = 0; e < epochs && st == TG_OK; e++) {
        double seconds = 0;
        loss_sum = 0;
        for (int64_t b = 0; b < per_epoch && st == TG_OK; b++, step++) {
            if (step % z->every == 0 && r->n_points < MAX_POINTS) {
                int k = r->n_points++;
                r->step[k] = (double)step;
                st = probe_units(&m, s, t, xp_probe_batch, &pc, &r->dead[k], &r->inactive[k], err);
                if (st != TG_OK) break;
            }
            if (spike > 0 && step == spike) st = tg_optim_set_lr(opt, z->lr, err);
            double t0 = ex_now();
            tg_tensor *x = xp_image_batch(t, d, false, (offset + step * z->batch) % n_train,
                                          z->batch, TG_F32, labels);
            tg_tensor *loss =
                tg_cross_entropy(t, forward(t, &m, x, NULL), labels, 0.0, TG_REDUCE_MEAN);
            if (!loss || tg_tape_backward(t, loss, NULL, 0) != TG_OK) {
                st = tg_error_set(err, tg_tape_status(t), "training: %s", tg_tape_error(t));
                break;
            }
            loss_sum += tg_tensor_item(loss);
            st = tg_optim_step(opt, err);
            tg_store_zero_grad(s);
            tg_tape_reset(t);
            seconds += ex_now() - t0;
        }
        double test_loss;
        if (st == TG_OK)
            st = xp_mlp_evaluate(&m, d, z->n_test, TG_F32, &r->accuracy[e], &test_loss, err);
        r->seconds[e] = seconds;
        r->train_loss[e] = per_epoch > 0 ? loss_sum / (double)per_epoch : NAN;
        r->n_epochs = e + 1;
    }
    if (st == TG_OK && r->n_points < MAX_POINTS) {
        int k = r->n_points++;
        r->step[k] = (double)step;
        st = probe_units(&m, s, t, xp_probe_batch, &pc, &r->dead[k], &r->inactive[k], err);
    }
    tg_optim_free(opt);
    free(labels);
    tg_tape_free(t);
    tg_store_free(s);
    return st;
}

/* Nanoseconds per element of the activation's forward and backward: the cost the primer means
 * by "cheaper than sigmoid", without the matrix products around it. A block of 2^16 numbers
 * (256 KB, in cache, so the arithmetic is timed rather than the memory) is run through it
 * `total` / 2^16 times per trial; the best of 5 trials counts. */
static double time_activation(xp_act act, int64_t total, tg_error *err) {
    const int64_t n = 1 << 16;
    int64_t reps = total / n > 0 ? total / n : 1;
    tg_store *s = tg_store_new();
    tg_tape *t = tg_tape_new();
    tg_tensor *x = s ? tg_store_param(s, "x", TG_F32, 1, &n) : NULL;
    tg_rng rng;
    tg_rng_seed(&rng, 7);
    double best = INFINITY;
    if (!t || !x || tg_tensor_fill_normal(x, &rng, 0.0, 1.0) != TG_OK) {
        tg_error_set(err, TG_ERR_NOMEM, "timing: out of memory");
        best = NAN;
    }
    for (int trial = 0; trial < 5 && !isnan(best); trial++) {
        double t0 = ex_now();
        for (int64_t r = 0; r < reps; r++) {
            tg_tensor *y = xp_activate(t, act, x);
            if (!y || tg_tape_backward(t, y, tg_ones(t, TG_F32, 1, &n), 0) != TG_OK) {
                tg_error_set(err, tg_tape_status(t), "timing: %s", tg_tape_error(t));
                best = NAN;
                break;
            }
            tg_tape_reset(t);
        }
        double dt = ex_now() - t0;
        if (dt < best) best = dt;
    }
    tg_tape_free(t);
    tg_store_free(s);
    return best * 1e9 / (double)(reps * n);
}

static double mean_seconds(const result *r) {
    double s = 0;
    for (int e = 0; e < r->n_epochs; e++) s += r->seconds[e];
    return r->n_epochs ? s / r->n_epochs : NAN;
}

static double max_of(const double *v, int n) {
    double m = 0;
    for (int i = 0; i < n; i++) m = v[i] > m ? v[i] : m;
    return m;
}

/* Two tables: activations-units.csv, one row per (run, probe point); activations.csv, one row
 * per (run, epoch). The run is named by its activation (xp_act's numbering) and its rate. */
static tg_status write_csv(const xp_options *o, const result *runs, int n_runs, tg_error *err) {
    static double units[(N_ACTS + 2) * MAX_POINTS][5], epochs[(N_ACTS + 2) * MAX_EPOCHS][6];
    int n_units = 0, n_epochs = 0;
    for (int i = 0; i < n_runs; i++) {
        const result *r = &runs[i];
        for (int k = 0; k < r->n_points; k++) {
            double *row = units[n_units++];
            row[0] = r->act;
            row[1] = r->lr;
            row[2] = r->step[k];
            row[3] = 100 * r->dead[k];
            row[4] = 100 * r->inactive[k];
        }
        for (int e = 0; e < r->n_epochs; e++) {
            double *row = epochs[n_epochs++];
            row[0] = r->act;
            row[1] = r->lr;
            row[2] = e + 1;
            row[3] = r->accuracy[e];
            row[4] = r->seconds[e];
            row[5] = r->train_loss[e];
        }
    }
    const char *act = "activation(0=sigmoid,1=tanh,2=relu,3=leaky_relu,5=gelu,6=elu)";
    const char *unit_names[] = {act, "first_lr", "step", "dead_percent", "inactive_percent"};
    const char *epoch_names[] = {act,       "first_lr",  "epoch", "test_accuracy",
                                 "seconds", "train_loss"};
    char path[4096];
    tg_status st = xp_out_path(o, "activations-units.csv", path, sizeof path, err);
    if (st == TG_OK) st = ex_csv_write(path, 5, unit_names, n_units, &units[0][0], err);
    if (st == TG_OK) st = xp_out_path(o, "activations.csv", path, sizeof path, err);
    if (st == TG_OK) st = ex_csv_write(path, 6, epoch_names, n_epochs, &epochs[0][0], err);
    return st;
}

/* One colour per activation in every panel; the high-rate runs in a darker shade of their
 * activation's colour. */
static const char *const act_colour[N_ACTS] = {"#7f7f7f", "#9467bd", "#d62728",
                                               "#1f77b4", "#2ca02c", "#ff7f0e"};
static const char *const high_colour[2] = {"#7a0d0e", "#0b3c66"};

static tg_status write_svg(const xp_options *o, const sizes *z, const result *normal,
                           const result *high, tg_error *err) {
    static double epochs[MAX_EPOCHS], acc[N_ACTS][MAX_EPOCHS], secs[N_ACTS][MAX_EPOCHS];
    static double dead[4][MAX_POINTS], inactive[4][MAX_POINTS];
    static char titles34[3][128], names[4][64];
    ex_panel p[4] = {0};
    for (int e = 0; e < MAX_EPOCHS; e++) epochs[e] = e + 1;
    snprintf(titles34[2], sizeof titles34[2], "test accuracy (Adam, lr %g)", z->lr);
    p[0] = (ex_panel){.title = titles34[2],
                      .x_label = "epoch",
                      .y_label = "accuracy (%)",
                      .x_integer = true,
                      .n_series = N_ACTS};
    p[1] = (ex_panel){.title = "training time per epoch",
                      .x_label = "epoch",
                      .y_label = "seconds",
                      .x_integer = true,
                      .n_series = N_ACTS};
    double slowest = 0;
    for (int a = 0; a < N_ACTS; a++) {
        const result *r = &normal[a];
        for (int e = 0; e < r->n_epochs; e++) {
            acc[a][e] = r->accuracy[e];
            secs[a][e] = r->seconds[e];
            slowest = secs[a][e] > slowest ? secs[a][e] : slowest;
        }
        p[0].series[a] = (ex_series){
            .name = titles[a], .n = r->n_epochs, .x = epochs, .y = acc[a], .colour = act_colour[a]};
        p[1].series[a] = (ex_series){.name = titles[a],
                                     .n = r->n_epochs,
                                     .x = epochs,
                                     .y = secs[a],
                                     .colour = act_colour[a]};
    }
    p[1].y_min = 0; /* from zero, so that the heights compare as costs */
    p[1].y_max = slowest > 0 ? 1.9 * slowest : 1; /* room above the lines for the legend */
    /* Panels 3 and 4: ReLU and Leaky ReLU at the normal rate and after the high-rate epoch,
     * dead units and inactive ones. */
    snprintf(titles34[0], sizeof titles34[0], "dead units (spike: lr %g in epoch 1)", z->high_lr);
    snprintf(titles34[1], sizeof titles34[1], "inactive units (spike: lr %g in epoch 1)",
             z->high_lr);
    for (int q = 0; q < 2; q++)
        p[2 + q] = (ex_panel){.title = titles34[q],
                              .x_label = "Adam step",
                              .y_label = q ? "% of units with z <= 0 on all probes"
                                           : "% of units with zero gradient",
                              .y_min = 0,
                              .y_max = 100,
                              .n_series = 4};
    for (int i = 0; i < 4; i++) {
        int a = HIGH_RELU + i % 2;
        const result *r = i < 2 ? &normal[a] : &high[i % 2];
        /* Short names keep the legend small enough to find a corner free of data. */
        if (i < 2)
            snprintf(names[i], sizeof names[i], "%s", titles[a]);
        else
            snprintf(names[i], sizeof names[i], "%s, spike", i == 2 ? "ReLU" : "Leaky");
        for (int k = 0; k < r->n_points; k++) {
            dead[i][k] = 100 * r->dead[k];
            inactive[i][k] = 100 * r->inactive[k];
        }
        const char *c = i < 2 ? act_colour[a] : high_colour[i % 2];
        p[2].series[i] = (ex_series){
            .name = names[i], .n = r->n_points, .x = r->step, .y = dead[i], .colour = c};
        p[3].series[i] = (ex_series){
            .name = names[i], .n = r->n_points, .x = r->step, .y = inactive[i], .colour = c};
    }
    char path[4096];
    tg_status st = xp_out_path(o, "activations.svg", path, sizeof path, err);
    return st == TG_OK
               ? ex_svg_write(path, "Activations: accuracy, cost, and dead ReLU units", 4, p, err)
               : st;
}

int main(int argc, char **argv) {
    xp_options o = xp_defaults();
    ex_program prog = {
        .name = "activations",
        .about = "Lesson 4: one 784-[128 x 3]-10 network trained by Adam with sigmoid, tanh,\n"
                 "ReLU, Leaky ReLU, ELU and GELU: test accuracy, seconds per epoch, and the share\n"
                 "of dead hidden units (no gradient on a fixed held-out batch) over training;\n"
                 "then ReLU and Leaky ReLU with a high learning rate for the first epoch, where\n"
                 "ReLU units die. Writes activations.csv (per epoch), activations-units.csv\n"
                 "(dead and inactive units per probe) and activations.svg, and prints the\n"
                 "table of docs/lessons/activations.md.\n",
        .data_help = "an MNIST-format folder, or 'synthetic' (default: $TG_DATA_DIR or "
                     "data/fashion-mnist)",
    };
    double lr = 0, high_lr = 0;
    long epochs = 0, spike = -1;
    const ex_opt extra[] = {
        {"--lr", "R", "the normal learning rate (default 0.05)", EX_OPT_DOUBLE, &lr, 1e-6, 100,
         NULL},
        {"--high-lr", "R", "the high learning rate of the ReLU / Leaky ReLU runs", EX_OPT_DOUBLE,
         &high_lr, 1e-6, 100, NULL},
        {"--epochs", "E", "epochs at the normal rate", EX_OPT_LONG, &epochs, 1, MAX_EPOCHS, NULL},
        {"--spike", "N", "steps at the high rate before the normal one (0: all)", EX_OPT_LONG,
         &spike, 0, 1000000, NULL},
    };
    prog.extra = extra;
    prog.n_extra = (int)(sizeof extra / sizeof extra[0]);
    int rc = xp_parse(argc, argv, &prog, &o);
    if (rc) return rc == 2 ? 0 : 1;

    sizes z = o.quick ? (sizes){.n_train = 1000,
                                .n_test = 500,
                                .probe = 200,
                                .batch = 32,
                                .width = 64,
                                .epochs = 2,
                                .high_epochs = 1,
                                .every = 8,
                                .lr = 1e-3,
                                .high_lr = 0.1,
                                .spike = 31,
                                .bench_n = 1 << 18}
                      : (sizes){.n_train = 20000,
                                .n_test = 0,
                                .probe = 1000,
                                .batch = 64,
                                .width = 128,
                                .epochs = 3,
                                .high_epochs = 2,
                                .every = 50,
                                .lr = 1e-3,
                                .high_lr = 0.1,
                                .spike = 312,
                                .bench_n = 1 << 24};
    if (lr > 0) z.lr = lr;
    if (high_lr > 0) z.high_lr = high_lr;
    if (epochs > 0) z.epochs = epochs;
    if (spike >= 0) z.spike = spike;
    tg_error err = {0};
    ex_images d;
    if (xp_load_images(&o, z.n_train, z.n_test, &d, &err) != TG_OK)
        return xp_fail(prog.name, err.message);

    static result runs[N_ACTS + 2];
    result *normal = runs, *high = runs + N_ACTS;
    for (int i = 0; i < N_ACTS + 2; i++) {
        bool hi = i >= N_ACTS;
        xp_act act = hi ? acts[HIGH_RELU + i - N_ACTS] : acts[i];
        double lr = hi ? z.high_lr : z.lr;
        if (run_one(&o, &z, &d, act, lr, hi ? z.spike : 0, (int)(hi ? z.high_epochs : z.epochs),
                    &runs[i], &err) != TG_OK) {
            ex_images_free(&d);
            return xp_fail(prog.name, err.message);
        }
        const result *r = &runs[i];
        printf("%-10s lr %-5g test accuracy %5.1f%%  %.2f s/epoch  dead %4.1f%% (max %4.1f%%)  "
               "inactive %4.1f%%\n",
               xp_act_names[act], lr, r->accuracy[r->n_epochs - 1], mean_seconds(r),
               100 * r->dead[r->n_points - 1], 100 * max_of(r->dead, r->n_points),
               100 * r->inactive[r->n_points - 1]);
        fflush(stdout);
    }
    ex_images_free(&d);

    double ns[N_ACTS];
    for (int a = 0; a < N_ACTS; a++) {
        ns[a] = time_activation(acts[a], z.bench_n, &err);
        if (isnan(ns[a])) return xp_fail(prog.name, err.message);
    }

    /* The page's table, in Markdown. */
    printf("\n| activation | lr | test accuracy (%%) | seconds per epoch | activation alone, "
           "forward + backward (ns per element) | dead units at the end (%%) | inactive at the "
           "end (%%) |\n|---|---|---|---|---|---|---|\n");
    for (int i = 0; i < N_ACTS + 2; i++) {
        const result *r = &runs[i];
        int a = i < N_ACTS ? i : HIGH_RELU + i - N_ACTS;
        printf("| %s | %g | %.1f | %.2f | %.2f | %.1f | %.1f |\n", titles[a], r->lr,
               r->accuracy[r->n_epochs - 1], mean_seconds(r), ns[a], 100 * r->dead[r->n_points - 1],
               100 * r->inactive[r->n_points - 1]);
    }
    printf("\n");

    if (write_csv(&o, runs, N_ACTS + 2, &err) != TG_OK ||
        write_svg(&o, &z, normal, high, &err) != TG_OK)
        return xp_fail(prog.name, err.message);
    printf("wrote %s/activations.csv, activations-units.csv and activations.svg\n", o.out);

    /* The findings. */
    const result *hr = &high[0], *hl = &high[1], *nr = &normal[HIGH_RELU];
    double relu_dead = hr->dead[hr->n_points - 1], leaky_dead = max_of(hl->dead, hl->n_points);
    double relu_dead_normal = max_of(nr->dead, nr->n_points);
    xp_expect(&o, relu_dead > 0.15,
              "lr %g then %g: %.0f%% of the ReLU units are dead at the end (> 15%%)", z.high_lr,
              z.lr, 100 * relu_dead);
    xp_expect(&o, relu_dead_normal < 0.10,
              "lr %g throughout: at most %.1f%% of the ReLU units are dead (< 10%%)", z.lr,
              100 * relu_dead_normal);
    xp_expect(&o, leaky_dead == 0, "lr %g then %g: no Leaky ReLU unit is ever dead", z.high_lr,
              z.lr);
    xp_expect(&o, hl->accuracy[hl->n_epochs - 1] > hr->accuracy[hr->n_epochs - 1],
              "lr %g then %g: Leaky ReLU ends more accurate than ReLU (%.1f%% > %.1f%%)", z.high_lr,
              z.lr, hl->accuracy[hl->n_epochs - 1], hr->accuracy[hr->n_epochs - 1]);
    for (int a = 0; a < N_ACTS; a++) {
        const result *r = &normal[a];
        xp_expect(&o, r->accuracy[r->n_epochs - 1] > 50,
                  "lr %g: %s learns (test accuracy %.1f%% > 50%%)", z.lr, titles[a],
                  r->accuracy[r->n_epochs - 1]);
    }
    /* Only a unit whose gradient can be exactly zero everywhere dies: sigmoid, tanh, ELU and
     * GELU have nonzero slopes on any finite input that does not saturate them. */
    for (int a = 0; a < N_ACTS; a++)
        if (acts[a] != XP_ACT_RELU)
            xp_expect(&o, max_of(normal[a].dead, normal[a].n_points) == 0,
                      "lr %g: no %s unit is ever dead", z.lr, titles[a]);
    return xp_finish(&o);
}
