/* binary.c: binary weights. An MLP 784-300-100-10 and LeNet-5 are trained on Fashion-MNIST
 * four ways from the same initial weights: full precision; BinaryConnect with weights of +1 and
 * -1 and batch normalisation after every layer (the recipe of the BinaryConnect paper, where
 * the normalisation sets each layer's scale); binary weights scaled per output channel by
 * alpha = mean |w| of the row (XNOR-Net's scale, no normalisation); and the scaled binary
 * weights with binary activations (every hidden layer's output is its sign) as well. The binary
 * runs keep real-valued shadow weights clipped to [-1, 1] after each step (tapegrad/binary.h).
 *
 * The scaled binary MLPs are then packed, 1 bit per weight plus a scale per row
 * (tapegrad/binpack.h), saved, loaded back and run for inference on the bits: tg_binmm for real
 * activations, tg_binxnor (XNOR and popcount) where they are binary.
 *
 * The finding (checked, exit status 1 when it fails): every binary MLP keeps its accuracy within
 * a bound of the full-precision one (see main), the scaled binary MLP within 3 points; no shadow
 * weight leaves [-1, 1]; the packed MLPs predict what the trained ones predict and their weight
 * files are at least 29 times smaller than the f32 weights. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"
#include "progress.h"
#include "svg.h"
#include "xp.h"

typedef enum net_kind { NET_MLP, NET_LENET, N_NETS } net_kind;
static const char *const net_names[N_NETS] = {"MLP 784-300-100-10", "LeNet-5"};

typedef enum variant { V_FULL, V_BC, V_SCALED, V_BNN, N_VARIANTS } variant;
static const char *const variant_names[N_VARIANTS] = {
    "full precision", "binary weights + batch norm", "binary weights x alpha",
    "binary weights x alpha, binary activations"};

typedef struct net {
    net_kind kind;
    variant v;
    tg_linear fc[3];
    tg_conv2d conv[2];
    tg_batchnorm bn_fc[3], bn_conv[2];
    tg_pool2d pool;
    int n_weights;
    tg_tensor *weights[5]; /* the shadow weights (biases stay real and unclipped) */
} net;

static tg_status net_init(net *m, tg_store *s, net_kind kind, variant v, const ex_images *d,
                          tg_rng *rng, tg_error *err) {
    memset(m, 0, sizeof *m);
    m->kind = kind;
    m->v = v;
    int64_t in = d->rows * d->cols;
    tg_status st = TG_OK;
    if (kind == NET_LENET) {
        int64_t side_h = ((d->rows / 2) - 4) / 2, side_w = ((d->cols / 2) - 4) / 2;
        in = 16 * side_h * side_w;
        const int64_t ch[2][2] = {{1, 6}, {6, 16}};
        for (int c = 0; c < 2 && st == TG_OK; c++) {
            char name[8];
            snprintf(name, sizeof name, "conv%d", c + 1);
            st = tg_conv2d_init(&m->conv[c], s, name, ch[c][0], ch[c][1], 5, 5,
                                c == 0 ? &(tg_conv2d_params){.padding = {2, 2}} : NULL, true,
                                TG_F32, rng, err);
            snprintf(name, sizeof name, "bnc%d", c + 1);
            if (st == TG_OK && v == V_BC)
                st = tg_batchnorm2d_init(&m->bn_conv[c], s, name, ch[c][1], 0.1, 1e-5, true, TG_F32,
                                         err);
        }
        if (st == TG_OK)
            st = tg_pool2d_init(&m->pool, TG_POOL_MAX, &(tg_pool2d_params){.kernel = {2, 2}}, err);
        if (st != TG_OK) return st;
    }
    const int64_t widths[2][4] = {{in, 300, 100, 10}, {in, 120, 84, 10}};
    const int64_t *w = widths[kind];
    for (int l = 0; l < 3 && st == TG_OK; l++) {
        char name[8];
        snprintf(name, sizeof name, "fc%d", l + 1);
        st = tg_linear_init(&m->fc[l], s, name, w[l], w[l + 1], true, TG_F32, rng, err);
        snprintf(name, sizeof name, "bn%d", l + 1);
        if (st == TG_OK && v == V_BC)
            st = tg_batchnorm1d_init(&m->bn_fc[l], s, name, w[l + 1], 0.1, 1e-5, true, TG_F32, err);
    }
    if (st != TG_OK) return st;
    for (int l = 0; l < 3; l++) m->weights[m->n_weights++] = m->fc[l].weight;
    if (kind == NET_LENET)
        for (int c = 0; c < 2; c++) m->weights[m->n_weights++] = m->conv[c].weight;
    return TG_OK;
}

/* A hidden layer's nonlinearity: ReLU, or the sign with the hard-tanh straight-through
 * gradient when the activations are binary. */
static tg_tensor *hidden(tg_tape *t, const net *m, tg_tensor *x) {
    return m->v == V_BNN ? tg_binarize(t, x) : tg_relu(t, x);
}

static tg_binary_mode mode_of(variant v) { return v == V_BC ? TG_BINARY_PLAIN : TG_BINARY_SCALED; }

/* Logits (B, 10) from images flattened to (B, rows * cols). */
static tg_tensor *net_forward(tg_tape *t, const net *m, const ex_images *d, tg_tensor *x,
                              bool training) {
    if (m->kind == NET_LENET) {
        x = tg_reshape(t, x, 4, (int64_t[]){tg_tensor_dim(x, 0), 1, d->rows, d->cols});
        for (int c = 0; c < 2; c++) {
            x = m->v == V_FULL ? tg_conv2d_forward(t, &m->conv[c], x)
                               : tg_binary_conv2d_forward(t, &m->conv[c], x, mode_of(m->v));
            if (m->v == V_BC) x = tg_batchnorm_forward(t, &m->bn_conv[c], x, training);
            x = tg_pool2d_forward(t, &m->pool, hidden(t, m, x));
        }
        x = tg_flatten(t, x, 1, -1);
    }
    for (int l = 0; l < 3; l++) {
        x = m->v == V_FULL ? tg_linear_forward(t, &m->fc[l], x)
                           : tg_binary_linear_forward(t, &m->fc[l], x, mode_of(m->v));
        if (m->v == V_BC) x = tg_batchnorm_forward(t, &m->bn_fc[l], x, training);
        if (l < 2) x = hidden(t, m, x);
    }
    return x;
}

/* The trained network on a test batch, for xp_evaluate. */
typedef struct eval_net {
    const net *m;
    const ex_images *d;
} eval_net;

static tg_tensor *eval_logits(tg_tape *t, const void *ctx, tg_tensor *x) {
    const eval_net *e = ctx;
    return net_forward(t, e->m, e->d, x, false);
}

/* Test accuracy (%) on the first n test images; pred, when not NULL, receives each prediction. */
static tg_status evaluate(const net *m, const ex_images *d, int64_t n, double *accuracy,
                          int64_t *pred, tg_error *err) {
    eval_net e = {m, d};
    return xp_evaluate(d, n, eval_logits, &e, pred, NULL, NULL, accuracy, err);
}

typedef struct sizes {
    int64_t n_train, n_test, batch;
    int epochs[N_NETS];
    double lr;
} sizes;

#define MAX_EPOCHS 16

typedef struct outcome {
    double acc[N_VARIANTS];               /* final test accuracy (%) */
    double curve[N_VARIANTS][MAX_EPOCHS]; /* test accuracy after each epoch */
    double max_abs[N_VARIANTS];           /* the largest |shadow weight| after training */
    double flipped[N_VARIANTS];           /* % of weight signs that differ from the start */
    double seconds[N_VARIANTS];
    double packed_agree[N_VARIANTS]; /* % of test predictions the packed MLP shares */
    double packed_acc[N_VARIANTS];
    double f32_bytes, file_bytes[N_VARIANTS]; /* the MLP's weights: f32, and the packed files */
} outcome;

/* The MLP on its packed layers p, for xp_evaluate. */
typedef struct packed_net {
    const net *m;
    tg_binpack *const *p;
} packed_net;

static tg_tensor *packed_logits(tg_tape *t, const void *ctx, tg_tensor *h) {
    const packed_net *pn = ctx;
    const net *m = pn->m;
    for (int l = 0; l < 3; l++) {
        /* binary activations: binxnor binarises its input, as the trained network's sign */
        h = tg_add(t,
                   m->v == V_BNN && l > 0 ? tg_binxnor(t, pn->p[l], h) : tg_binmm(t, pn->p[l], h),
                   m->fc[l].bias);
        if (l < 2 && m->v != V_BNN) h = tg_relu(t, h);
    }
    return h;
}

/* The MLP's layers packed, saved, loaded back and run on the bits; out's packed_* and *_bytes
 * for variant v (the scaled ones). pred holds the trained network's test predictions. */
static tg_status packed_check(const xp_options *o, const net *m, const ex_images *d, int64_t n,
                              const int64_t *pred, outcome *out, tg_error *err) {
    tg_binpack *p[3] = {NULL, NULL, NULL};
    tg_status st = TG_OK;
    out->f32_bytes = 0;
    out->file_bytes[m->v] = 0;
    for (int l = 0; l < 3 && st == TG_OK; l++) {
        char name[64], path[4096];
        snprintf(name, sizeof name, "binary-mlp-v%d-fc%d.tgbin", (int)m->v, l + 1);
        tg_binpack *packed = tg_binpack_from_weight(m->fc[l].weight, TG_BINARY_SCALED, err);
        st = packed ? xp_out_path(o, name, path, sizeof path, err) : err->status;
        if (st == TG_OK) st = tg_binpack_save(packed, path, err);
        tg_binpack_free(packed);
        if (st == TG_OK && !(p[l] = tg_binpack_load(path, err))) st = err->status;
        FILE *f = st == TG_OK ? fopen(path, "rb") : NULL;
        if (f && fseek(f, 0, SEEK_END) == 0) out->file_bytes[m->v] += (double)ftell(f);
        if (f) fclose(f);
        out->f32_bytes += 4.0 * (double)tg_tensor_numel(m->fc[l].weight);
    }
    packed_net pn = {m, p};
    if (st == TG_OK)
        st = xp_evaluate(d, n, packed_logits, &pn, NULL, pred, &out->packed_agree[m->v],
                         &out->packed_acc[m->v], err);
    if (st == TG_OK) {
        printf("  packed (%s): %.2f%%, same prediction for %.2f%%; weights %.0f bytes in files, "
               "%.0f as f32 (%.1fx) [kernels: %s]\n",
               m->v == V_BNN ? "binxnor" : "binmm", out->packed_acc[m->v], out->packed_agree[m->v],
               out->file_bytes[m->v], out->f32_bytes, out->f32_bytes / out->file_bytes[m->v],
               tg_binpack_kernel_name());
    }
    for (int l = 0; l < 3; l++) tg_binpack_free(p[l]);
    return st;
}

/* Trains one variant with Adam for z->epochs[kind] epochs, from the weights rng draws. */
static tg_status run_variant(const xp_options *o, const sizes *z, const ex_images *d, net_kind kind,
                             variant v, int64_t n_test, outcome *out, tg_error *err) {
    tg_rng rng;
    tg_rng_seed(&rng, o->seed);
    tg_store *s = tg_store_new();
    tg_tape *t = tg_tape_new();
    int64_t *labels = malloc((size_t)z->batch * sizeof(int64_t));
    net m;
    tg_optim *opt = NULL;
    float *start = NULL;
    int64_t n_w = 0;
    tg_status st = !s || !t || !labels ? tg_error_set(err, TG_ERR_NOMEM, "out of memory") : TG_OK;
    if (st == TG_OK) st = net_init(&m, s, kind, v, d, &rng, err);
    if (st == TG_OK) {
        tg_adam_options ao = tg_adam_defaults(z->lr);
        if (!(opt = tg_optim_adam(s, &ao, err))) st = err->status;
    }
    for (int i = 0; i < m.n_weights && st == TG_OK; i++) n_w += tg_tensor_numel(m.weights[i]);
    if (st == TG_OK && !(start = malloc((size_t)n_w * sizeof(float))))
        st = tg_error_set(err, TG_ERR_NOMEM, "out of memory");
    for (int i = 0, at = 0; i < m.n_weights && st == TG_OK; i++) {
        memcpy(start + at, tg_tensor_data(m.weights[i]),
               (size_t)tg_tensor_numel(m.weights[i]) * sizeof(float));
        at += (int)tg_tensor_numel(m.weights[i]);
    }
    double t0 = ex_now();
    int64_t per_epoch = tg_dataset_count(d->train) / z->batch;
    for (int e = 0; e < z->epochs[kind] && st == TG_OK; e++) {
        for (int64_t i = 0; i < per_epoch && st == TG_OK; i++) {
            int64_t step = e * per_epoch + i;
            tg_tensor *x = xp_image_batch(t, d, false, step * z->batch, z->batch, TG_F32, labels);
            tg_tensor *loss =
                tg_cross_entropy(t, net_forward(t, &m, d, x, true), labels, 0.0, TG_REDUCE_MEAN);
            tg_store_zero_grad(s);
            if (!loss || tg_tape_backward(t, loss, NULL, 0) != TG_OK) {
                st = tg_error_set(err, tg_tape_status(t), "training: %s", tg_tape_error(t));
                break;
            }
            st = tg_optim_step(opt, err);
            if (st == TG_OK && v != V_FULL) st = tg_binary_clip(m.n_weights, m.weights, err);
            tg_tape_reset(t);
        }
        if (st == TG_OK) st = evaluate(&m, d, n_test, &out->curve[v][e], NULL, err);
    }
    out->seconds[v] = ex_now() - t0;
    if (st == TG_OK) {
        out->acc[v] = out->curve[v][z->epochs[kind] - 1];
        double top = 0;
        int64_t flips = 0;
        for (int i = 0, at = 0; i < m.n_weights; i++) {
            const float *w = tg_tensor_data(m.weights[i]);
            for (int64_t k = 0; k < tg_tensor_numel(m.weights[i]); k++, at++) {
                top = fmax(top, fabs(w[k]));
                flips += (w[k] < 0) != (start[at] < 0);
            }
        }
        out->max_abs[v] = top;
        out->flipped[v] = 100.0 * (double)flips / (double)n_w;
        printf("%s, %s: %.2f%% after %d epochs; max |w| %.3f, %.1f%% of signs flipped (%.1f s)\n",
               net_names[kind], variant_names[v], out->acc[v], z->epochs[kind], top,
               out->flipped[v], out->seconds[v]);
        fflush(stdout);
    }
    if (st == TG_OK && kind == NET_MLP && (v == V_SCALED || v == V_BNN)) {
        int64_t *pred = malloc((size_t)n_test * sizeof *pred);
        st = pred ? evaluate(&m, d, n_test, &out->acc[v], pred, err)
                  : tg_error_set(err, TG_ERR_NOMEM, "out of memory");
        if (st == TG_OK) st = packed_check(o, &m, d, n_test, pred, out, err);
        free(pred);
    }
    free(start);
    free(labels);
    tg_optim_free(opt);
    tg_tape_free(t);
    tg_store_free(s);
    return st;
}

static tg_status draw(const xp_options *o, const sizes *z, const outcome res[N_NETS],
                      tg_error *err) {
    static double x[N_NETS][MAX_EPOCHS];
    static const char *const colours[N_VARIANTS] = {"#000000", "#1f77b4", "#d62728", "#2ca02c"};
    ex_panel p[N_NETS] = {0};
    for (int k = 0; k < N_NETS; k++) {
        /* room below the curves for the legend: the lowest point sits 40% up the axis */
        double lo = 100, hi = 0;
        for (int v = 0; v < N_VARIANTS; v++)
            for (int e = 0; e < z->epochs[k]; e++) {
                lo = fmin(lo, res[k].curve[v][e]);
                hi = fmax(hi, res[k].curve[v][e]);
            }
        hi = fmin(100, ceil(hi + 1));
        lo = fmax(0, floor(hi - (hi - lo) / 0.6 - 1));
        for (int e = 0; e < z->epochs[k]; e++) x[k][e] = e + 1;
        p[k] = (ex_panel){.title = net_names[k],
                          .x_label = "epoch",
                          .x_integer = true,
                          .y_label = "test accuracy (%)",
                          .y_min = lo,
                          .y_max = hi,
                          .n_series = N_VARIANTS};
        for (int v = 0; v < N_VARIANTS; v++)
            p[k].series[v] = (ex_series){variant_names[v], z->epochs[k], x[k],
                                         res[k].curve[v],  colours[v],   false};
    }
    char path[4096];
    tg_status st = xp_out_path(o, "binary.svg", path, sizeof path, err);
    return st == TG_OK
               ? ex_svg_write(path, "Binary weights on Fashion-MNIST: test accuracy while training",
                              N_NETS, p, err)
               : st;
}

static tg_status write_csv(const xp_options *o, const outcome res[N_NETS], tg_error *err) {
    static double rows[N_NETS * N_VARIANTS][6];
    int n = 0;
    for (int k = 0; k < N_NETS; k++)
        for (int v = 0; v < N_VARIANTS; v++) {
            double *row = rows[n++];
            row[0] = k;
            row[1] = v;
            row[2] = res[k].acc[v];
            row[3] = res[k].max_abs[v];
            row[4] = res[k].flipped[v];
            row[5] = res[k].seconds[v];
        }
    const char *names[] = {"net(0=mlp,1=lenet)", "variant(0=full,1=bc+bn,2=alpha,3=alpha+binact)",
                           "test_accuracy",      "max_abs_weight",
                           "signs_flipped_pct",  "seconds"};
    char path[4096];
    tg_status st = xp_out_path(o, "binary.csv", path, sizeof path, err);
    return st == TG_OK ? ex_csv_write(path, 6, names, n, &rows[0][0], err) : st;
}

int main(int argc, char **argv) {
    xp_options o = xp_defaults();
    const ex_program prog = {
        .name = "binary",
        .about = "Binary weights: an MLP and LeNet-5 trained in full precision, with +-1\n"
                 "weights and batch norm (BinaryConnect), with +-alpha weights, and with\n"
                 "binary activations too; test accuracy of each.\n",
        .data_help = "an MNIST-format folder, or 'synthetic' (default: $TG_DATA_DIR or "
                     "data/fashion-mnist)",
    };
    int rc = xp_parse(argc, argv, &prog, &o);
    if (rc) return rc == 2 ? 0 : 1;
    sizes z =
        o.quick ? (sizes){.n_train = 1280, .n_test = 500, .batch = 64, .epochs = {3, 2}, .lr = 2e-3}
                : (sizes){.n_train = 0, .n_test = 0, .batch = 64, .epochs = {5, 3}, .lr = 1e-3};
    tg_error err = {0};
    ex_images d;
    if (xp_load_images(&o, z.n_train, z.n_test, &d, &err) != TG_OK)
        return xp_fail(prog.name, err.message);
    static outcome res[N_NETS];
    for (int k = 0; k < N_NETS; k++) {
        int64_t n_test = z.n_test > 0 && z.n_test < tg_dataset_count(d.test)
                             ? z.n_test
                             : tg_dataset_count(d.test);
        for (int v = 0; v < N_VARIANTS; v++)
            if (run_variant(&o, &z, &d, (net_kind)k, (variant)v, n_test, &res[k], &err) != TG_OK) {
                ex_images_free(&d);
                return xp_fail(prog.name, err.message);
            }
    }
    ex_images_free(&d);
    if (write_csv(&o, res, &err) != TG_OK || draw(&o, &z, res, &err) != TG_OK)
        return xp_fail(prog.name, err.message);

    const outcome *mlp = &res[NET_MLP];
    double floor = o.quick ? 90.0 : 80.0; /* chance is 10%: a broken gradient stays near it */
    for (int v = V_BC; v < N_VARIANTS; v++)
        xp_expect(&o, mlp->acc[v] >= floor, "MLP, %s: %.2f%% reaches %.0f%%", variant_names[v],
                  mlp->acc[v], floor);
    xp_expect(&o, mlp->acc[V_SCALED] >= mlp->acc[V_FULL] - 3.0,
              "MLP: binary weights x alpha %.2f%% within 3 points of full precision %.2f%%",
              mlp->acc[V_SCALED], mlp->acc[V_FULL]);
    xp_expect(&o, mlp->acc[V_BC] >= mlp->acc[V_FULL] - 5.0,
              "MLP: +-1 weights with batch norm %.2f%% within 5 points of full precision %.2f%%",
              mlp->acc[V_BC], mlp->acc[V_FULL]);
    xp_expect(
        &o, mlp->acc[V_BNN] >= mlp->acc[V_FULL] - 15.0,
        "MLP: binary weights and activations %.2f%% within 15 points of full precision %.2f%%",
        mlp->acc[V_BNN], mlp->acc[V_FULL]);
    for (int v = V_SCALED; v <= V_BNN; v++) {
        xp_expect(&o, mlp->packed_agree[v] >= 99.9,
                  "MLP, %s, packed and loaded back: %.2f%% of predictions as trained (>= 99.9%%)",
                  variant_names[v], mlp->packed_agree[v]);
        xp_expect(&o, mlp->file_bytes[v] * 29 <= mlp->f32_bytes,
                  "MLP, %s: packed weight files %.0f bytes, at least 29x under f32's %.0f",
                  variant_names[v], mlp->file_bytes[v], mlp->f32_bytes);
    }
    for (int k = 0; k < N_NETS; k++)
        for (int v = V_BC; v < N_VARIANTS; v++)
            xp_expect(&o, res[k].max_abs[v] <= 1.0,
                      "%s, %s: every shadow weight in [-1, 1] (max %.4f)", net_names[k],
                      variant_names[v], res[k].max_abs[v]);
    return xp_finish(&o);
}
