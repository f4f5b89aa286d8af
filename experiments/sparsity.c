/* sparsity.c: pruning. An MLP 784-300-100-10 and LeNet-5 are trained dense, then pruned by
 * weight magnitude to 50, 80, 90, 95 and 98% zeros in three ways: one-shot per layer and
 * one-shot global (no retraining), and gradual global pruning along the cubic schedule during a
 * fine-tuning run whose masked gradients keep every pruned weight at zero (tapegrad/prune.h).
 * Each pruned MLP is also run for inference with its layers as CSR matrices (tg_spmm) and must
 * predict what the dense network with zeros predicts; the most pruned one is saved as a
 * checkpoint (dense tensors with zeros, plus the masks) and loaded back.
 *
 * The finding (checked, exit status 1 when it fails): gradual pruning keeps the MLP within 1.5
 * points of its dense accuracy up to 90% sparsity (3 points on the quick run) and is better
 * than one-shot pruning at 98%; the pruned weights stay exactly zero through fine-tuning; the
 * sparse inference and the reloaded checkpoint agree with the dense-with-zeros network. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"
#include "mlp.h"
#include "progress.h"
#include "svg.h"
#include "xp.h"

#define N_LEVELS 6
#define N_WAYS   3
static const double levels[N_LEVELS] = {0.0, 0.5, 0.8, 0.9, 0.95, 0.98};
enum { WAY_GRADUAL, WAY_ONESHOT_GLOBAL, WAY_ONESHOT_LAYER };
static const char *const way_names[N_WAYS] = {"gradual, global (fine-tuned)",
                                              "one-shot, global", "one-shot, per layer"};

typedef enum net_kind { NET_MLP, NET_LENET, N_NETS } net_kind;
static const char *const net_names[N_NETS] = {"MLP 784-300-100-10", "LeNet-5"};

/* Either network; `prunable` lists its weights (not biases), fully connected ones first. */
typedef struct net {
    net_kind kind;
    tg_linear fc[3];
    tg_conv2d conv[2];
    tg_pool2d pool;
    int n_prunable, n_fc;
    tg_tensor *prunable[5];
} net;

static tg_status net_init(net *m, tg_store *s, net_kind kind, const ex_images *d, tg_rng *rng,
                          tg_error *err) {
    memset(m, 0, sizeof *m);
    m->kind = kind;
    int64_t in = d->rows * d->cols;
    tg_status st = TG_OK;
    if (kind == NET_LENET) {
        int64_t side_h = ((d->rows / 2) - 4) / 2, side_w = ((d->cols / 2) - 4) / 2;
        in = 16 * side_h * side_w;
        if ((st = tg_conv2d_init(&m->conv[0], s, "conv1", 1, 6, 5, 5,
                                 &(tg_conv2d_params){.padding = {2, 2}}, true, TG_F32, rng,
                                 err)) != TG_OK ||
            (st = tg_conv2d_init(&m->conv[1], s, "conv2", 6, 16, 5, 5, NULL, true, TG_F32, rng,
                                 err)) != TG_OK ||
            (st = tg_pool2d_init(&m->pool, TG_POOL_MAX, &(tg_pool2d_params){.kernel = {2, 2}},
                                 err)) != TG_OK)
            return st;
    }
    const int64_t widths[2][4] = {{in, 300, 100, 10}, {in, 120, 84, 10}};
    const int64_t *w = widths[kind];
    for (int l = 0; l < 3 && st == TG_OK; l++) {
        char name[8];
        snprintf(name, sizeof name, "fc%d", l + 1);
        st = tg_linear_init(&m->fc[l], s, name, w[l], w[l + 1], true, TG_F32, rng, err);
    }
    if (st != TG_OK) return st;
    m->n_fc = 3;
    for (int l = 0; l < 3; l++) m->prunable[m->n_prunable++] = m->fc[l].weight;
    if (kind == NET_LENET)
        for (int c = 0; c < 2; c++) m->prunable[m->n_prunable++] = m->conv[c].weight;
    return TG_OK;
}

/* Logits (B, 10) from images flattened to (B, rows * cols). */
static tg_tensor *net_forward(tg_tape *t, const net *m, const ex_images *d, tg_tensor *x) {
    if (m->kind == NET_LENET) {
        x = tg_reshape(t, x, 4, (int64_t[]){tg_tensor_dim(x, 0), 1, d->rows, d->cols});
        for (int c = 0; c < 2; c++)
            x = tg_pool2d_forward(t, &m->pool, tg_relu(t, tg_conv2d_forward(t, &m->conv[c], x)));
        x = tg_flatten(t, x, 1, -1);
    }
    for (int l = 0; l < 3; l++) {
        x = tg_linear_forward(t, &m->fc[l], x);
        if (l < 2) x = tg_relu(t, x);
    }
    return x;
}

/* The same MLP with its layers as CSR matrices, on activations kept as columns (features, B):
 * h = relu(A h + b). a[l] and v[l] are layer l's pattern and values. */
static tg_tensor *mlp_forward_sparse(tg_tape *t, const net *m, tg_csr *const *a,
                                     tg_tensor *const *v, tg_tensor *x) {
    tg_tensor *h = tg_transpose(t, x, 0, 1);
    for (int l = 0; l < 3; l++) {
        int64_t out = m->fc[l].out_features;
        h = tg_add(t, tg_spmm(t, a[l], v[l], h), tg_reshape(t, m->fc[l].bias, 2, (int64_t[]){out, 1}));
        if (l < 2) h = tg_relu(t, h);
    }
    return tg_transpose(t, h, 0, 1);
}

/* The network, or with `a` set the MLP on its CSR layers, for xp_evaluate. */
typedef struct eval_net {
    const net *m;
    const ex_images *d;
    tg_csr *const *a;
    tg_tensor *const *v;
} eval_net;

static tg_tensor *eval_logits(tg_tape *t, const void *ctx, tg_tensor *x) {
    const eval_net *e = ctx;
    return e->a ? mlp_forward_sparse(t, e->m, e->a, e->v, x) : net_forward(t, e->m, e->d, x);
}

/* Test accuracy (%) of the network on the first n test images; with `a` set, the MLP runs on
 * its CSR layers. When `pred` is not NULL it receives every prediction (n of them). */
static tg_status evaluate(const net *m, const ex_images *d, int64_t n, tg_csr *const *a,
                          tg_tensor *const *v, int64_t *pred, double *accuracy, tg_error *err) {
    eval_net e = {m, d, a, v};
    return xp_evaluate(d, n, eval_logits, &e, pred, NULL, NULL, accuracy, err);
}

typedef struct sizes {
    int64_t n_train, n_test, batch;
    int dense_epochs[N_NETS], tune_epochs[N_NETS];
    double lr, tune_lr;
} sizes;

/* Trains (or fine-tunes) for `epochs` epochs with Adam. With a pruner, masks the gradients at
 * every step and, when `target` > 0, prunes globally along the cubic schedule from 0 to target
 * over the first 70% of the steps, every 1% of them. */
static tg_status train(const xp_options *o, const sizes *z, const ex_images *d, net *m,
                       tg_store *s, int epochs, double lr, tg_pruner *p, double target,
                       tg_optim *opt, tg_error *err) {
    (void)o;
    tg_tape *t = tg_tape_new();
    int64_t *labels = malloc((size_t)z->batch * sizeof(int64_t));
    tg_status st = !t || !labels ? tg_error_set(err, TG_ERR_NOMEM, "train: out of memory") : TG_OK;
    int64_t per_epoch = tg_dataset_count(d->train) / z->batch, n_steps = per_epoch * epochs;
    int64_t ramp = n_steps * 7 / 10, every = n_steps / 100 > 0 ? n_steps / 100 : 1;
    (void)lr;
    for (int64_t step = 0; step < n_steps && st == TG_OK; step++) {
        if (p && target > 0 && step % every == 0)
            st = tg_pruner_prune(p, tg_prune_cubic(0.0, target, step, 0, ramp), TG_PRUNE_GLOBAL,
                                 err);
        if (st != TG_OK) break;
        tg_tensor *x = xp_image_batch(t, d, false, step * z->batch, z->batch, TG_F32, labels);
        tg_tensor *loss = tg_cross_entropy(t, net_forward(t, m, d, x), labels, 0.0, TG_REDUCE_MEAN);
        tg_store_zero_grad(s);
        if (!loss || tg_tape_backward(t, loss, NULL, 0) != TG_OK) {
            st = tg_error_set(err, tg_tape_status(t), "training: %s", tg_tape_error(t));
            break;
        }
        if (p) tg_pruner_mask_grads(p);
        st = tg_optim_step(opt, err);
        tg_tape_reset(t);
    }
    if (st == TG_OK && p && target > 0) st = tg_pruner_prune(p, target, TG_PRUNE_GLOBAL, err);
    free(labels);
    tg_tape_free(t);
    return st;
}

typedef struct outcome {
    double dense_acc;
    double acc[N_WAYS][N_LEVELS];
    double got[N_LEVELS];         /* the gradual run's sparsity over the pruned weights */
    int64_t stray[N_LEVELS];      /* nonzero weights under a zero mask after fine-tuning */
    double agree[N_LEVELS];       /* % of test predictions the CSR network shares (MLP) */
    double dense_bytes, csr_bytes[N_LEVELS]; /* the prunable weights, f32 */
    double reload_acc;            /* the most pruned network, saved and loaded back */
    int64_t reload_zeros, zeros;  /* zero weights after the reload and before */
} outcome;

/* The parameters' values, in creation order, to start every pruning run from the same net. */
typedef struct snapshot {
    int n;
    float *data[16];
    int64_t numel[16];
} snapshot;

static tg_status snapshot_take(snapshot *sn, const tg_store *s, tg_error *err) {
    sn->n = tg_store_n_params(s);
    if (sn->n > 16) return tg_error_set(err, TG_ERR_ARG, "snapshot: too many parameters");
    for (int i = 0; i < sn->n; i++) {
        tg_tensor *p = tg_store_get_param(s, i);
        sn->numel[i] = tg_tensor_numel(p);
        sn->data[i] = malloc((size_t)sn->numel[i] * sizeof(float));
        if (!sn->data[i]) return tg_error_set(err, TG_ERR_NOMEM, "snapshot: out of memory");
        memcpy(sn->data[i], tg_tensor_data(p), (size_t)sn->numel[i] * sizeof(float));
    }
    return TG_OK;
}

static void snapshot_put(const snapshot *sn, tg_store *s) {
    for (int i = 0; i < sn->n; i++)
        memcpy(tg_tensor_data(tg_store_get_param(s, i)), sn->data[i],
               (size_t)sn->numel[i] * sizeof(float));
}

static int64_t count_zeros(const net *m) {
    int64_t z = 0;
    for (int i = 0; i < m->n_prunable; i++) {
        const float *w = tg_tensor_data(m->prunable[i]);
        for (int64_t e = 0; e < tg_tensor_numel(m->prunable[i]); e++) z += w[e] == 0.0f;
    }
    return z;
}

static int64_t count_stray(const net *m, const tg_pruner *p) {
    int64_t n = 0;
    for (int i = 0; i < m->n_prunable; i++) {
        const float *w = tg_tensor_data(m->prunable[i]), *k = tg_tensor_data(tg_pruner_mask(p, i));
        for (int64_t e = 0; e < tg_tensor_numel(m->prunable[i]); e++) n += k[e] == 0.0f && w[e] != 0.0f;
    }
    return n;
}

/* A fresh store holding the network, an Adam optimiser and a pruner over its weights, all
 * made in the same order every time (so a checkpoint of one loads into another). */
typedef struct run_state {
    tg_store *s;
    net m;
    tg_optim *opt;
    tg_pruner *p;
} run_state;

static tg_status run_open(run_state *r, net_kind kind, const ex_images *d, const xp_options *o,
                          double lr, tg_error *err) {
    memset(r, 0, sizeof *r);
    tg_rng rng;
    tg_rng_seed(&rng, o->seed);
    r->s = tg_store_new();
    if (!r->s) return tg_error_set(err, TG_ERR_NOMEM, "out of memory");
    tg_status st = net_init(&r->m, r->s, kind, d, &rng, err);
    if (st != TG_OK) return st;
    tg_adam_options ao = tg_adam_defaults(lr);
    if (!(r->opt = tg_optim_adam(r->s, &ao, err))) return err->status;
    if (!(r->p = tg_pruner_new(r->s, r->m.n_prunable, r->m.prunable, err))) return err->status;
    return TG_OK;
}

static void run_close(run_state *r) {
    tg_pruner_free(r->p);
    tg_optim_free(r->opt);
    tg_store_free(r->s);
}

/* The MLP's layers as CSR patterns and values, its sparse inference against the dense one. */
static tg_status sparse_check(const run_state *r, const ex_images *d, int64_t n_test,
                              const int64_t *dense_pred, outcome *out, int lv, tg_error *err) {
    tg_csr *a[3] = {NULL, NULL, NULL};
    tg_tensor *v[3] = {NULL, NULL, NULL};
    tg_store *vs = tg_store_new();
    int64_t *pred = malloc((size_t)n_test * sizeof(int64_t));
    tg_status st = !vs || !pred ? tg_error_set(err, TG_ERR_NOMEM, "out of memory") : TG_OK;
    double bytes = 0, acc = 0;
    for (int l = 0; l < 3 && st == TG_OK; l++) {
        tg_tensor *w = r->m.fc[l].weight;
        if (!(a[l] = tg_csr_from_dense(w, 0.0, err))) st = err->status;
        char name[16];
        snprintf(name, sizeof name, "v%d", l);
        if (st == TG_OK && !(v[l] = tg_store_buffer(vs, name, TG_F32, 1, (int64_t[]){tg_csr_nnz(a[l])})))
            st = tg_error_set(err, TG_ERR_NOMEM, "out of memory");
        if (st == TG_OK) st = tg_csr_gather(a[l], w, v[l], err);
        if (st == TG_OK) bytes += (double)tg_csr_bytes(a[l], TG_F32);
    }
    if (st == TG_OK) st = evaluate(&r->m, d, n_test, a, v, pred, &acc, err);
    if (st == TG_OK) {
        int64_t same = 0;
        for (int64_t i = 0; i < n_test; i++) same += pred[i] == dense_pred[i];
        out->agree[lv] = 100.0 * (double)same / (double)n_test;
        out->csr_bytes[lv] = bytes;
    }
    for (int l = 0; l < 3; l++) tg_csr_free(a[l]);
    tg_store_free(vs);
    free(pred);
    return st;
}

static tg_status run_net(const xp_options *o, const sizes *z, const ex_images *d, net_kind kind,
                         outcome *out, tg_error *err) {
    memset(out, 0, sizeof *out);
    int64_t n_test = z->n_test > 0 && z->n_test < tg_dataset_count(d->test) ? z->n_test
                                                                         : tg_dataset_count(d->test);
    int64_t *pred = malloc((size_t)n_test * sizeof(int64_t));
    snapshot sn = {0};
    run_state r;
    tg_status st = pred ? run_open(&r, kind, d, o, z->lr, err)
                        : tg_error_set(err, TG_ERR_NOMEM, "out of memory");
    double t0 = ex_now();
    if (st == TG_OK)
        st = train(o, z, d, &r.m, r.s, z->dense_epochs[kind], z->lr, NULL, 0, r.opt, err);
    if (st == TG_OK) st = evaluate(&r.m, d, n_test, NULL, NULL, NULL, &out->dense_acc, err);
    if (st == TG_OK) st = snapshot_take(&sn, r.s, err);
    for (int i = 0; i < r.m.n_prunable && st == TG_OK; i++)
        out->dense_bytes += 4.0 * (double)tg_tensor_numel(r.m.prunable[i]) * (i < r.m.n_fc);
    run_close(&r);
    printf("%s: dense %.2f%% after %d epochs (%.1f s)\n", net_names[kind], out->dense_acc,
           z->dense_epochs[kind], ex_now() - t0);
    for (int w = 0; w < N_WAYS; w++) out->acc[w][0] = out->dense_acc;
    out->csr_bytes[0] = NAN;
    out->agree[0] = NAN;
    for (int lv = 1; lv < N_LEVELS && st == TG_OK; lv++) {
        double s = levels[lv];
        t0 = ex_now();
        for (int w = WAY_ONESHOT_GLOBAL; w <= WAY_ONESHOT_LAYER && st == TG_OK; w++) {
            if ((st = run_open(&r, kind, d, o, z->tune_lr, err)) == TG_OK) {
                snapshot_put(&sn, r.s);
                st = tg_pruner_prune(r.p, s, w == WAY_ONESHOT_GLOBAL ? TG_PRUNE_GLOBAL
                                                                     : TG_PRUNE_PER_TENSOR, err);
            }
            if (st == TG_OK) st = evaluate(&r.m, d, n_test, NULL, NULL, NULL, &out->acc[w][lv], err);
            run_close(&r);
        }
        if (st == TG_OK && (st = run_open(&r, kind, d, o, z->tune_lr, err)) == TG_OK) {
            snapshot_put(&sn, r.s);
            st = train(o, z, d, &r.m, r.s, z->tune_epochs[kind], z->tune_lr, r.p, s, r.opt, err);
        }
        if (st == TG_OK) st = evaluate(&r.m, d, n_test, NULL, NULL, pred, &out->acc[WAY_GRADUAL][lv], err);
        if (st == TG_OK) {
            out->got[lv] = tg_pruner_sparsity(r.p, -1);
            out->stray[lv] = count_stray(&r.m, r.p);
        }
        if (st == TG_OK && kind == NET_MLP) st = sparse_check(&r, d, n_test, pred, out, lv, err);
        if (st == TG_OK && lv == N_LEVELS - 1) {
            /* Saved and loaded back into a fresh store of the same layout. */
            char path[4096];
            run_state back;
            out->zeros = count_zeros(&r.m);
            st = xp_out_path(o, kind == NET_MLP ? "sparsity-mlp-pruned.safetensors"
                                                : "sparsity-lenet-pruned.safetensors",
                             path, sizeof path, err);
            if (st == TG_OK) st = tg_checkpoint_save(r.s, path, NULL, err);
            if (st == TG_OK && (st = run_open(&back, kind, d, o, z->tune_lr, err)) == TG_OK) {
                st = tg_checkpoint_load(back.s, path, NULL, err);
                if (st == TG_OK) {
                    out->reload_zeros = count_zeros(&back.m);
                    st = evaluate(&back.m, d, n_test, NULL, NULL, NULL, &out->reload_acc, err);
                }
            }
            run_close(&back);
        }
        run_close(&r);
        printf("%s at %4.1f%%: gradual %.2f%% (sparsity %.4f, %lld stray), one-shot global "
               "%.2f%%, per layer %.2f%%", net_names[kind], 100 * s,
               out->acc[WAY_GRADUAL][lv], out->got[lv], (long long)out->stray[lv],
               out->acc[WAY_ONESHOT_GLOBAL][lv], out->acc[WAY_ONESHOT_LAYER][lv]);
        if (kind == NET_MLP)
            printf("; CSR agrees on %.2f%%, %.0f of %.0f bytes", out->agree[lv], out->csr_bytes[lv],
                   out->dense_bytes);
        printf("  (%.1f s)\n", ex_now() - t0);
    }
    for (int i = 0; i < sn.n; i++) free(sn.data[i]);
    free(pred);
    return st;
}

static tg_status draw(const xp_options *o, const outcome res[N_NETS], tg_error *err) {
    static double x[N_LEVELS], dense_y[N_NETS][2];
    static const double dense_x[2] = {0, 98};
    for (int lv = 0; lv < N_LEVELS; lv++) x[lv] = 100 * levels[lv];
    ex_panel p[N_NETS] = {0};
    for (int k = 0; k < N_NETS; k++) {
        dense_y[k][0] = dense_y[k][1] = res[k].dense_acc;
        p[k] = (ex_panel){.title = net_names[k], .x_label = "weights pruned (%)",
                          .y_label = "test accuracy (%)", .n_series = N_WAYS + 1};
        for (int w = 0; w < N_WAYS; w++)
            p[k].series[w] = (ex_series){way_names[w], N_LEVELS, x, res[k].acc[w], NULL, w > 0};
        p[k].series[N_WAYS] = (ex_series){"dense network", 2, dense_x, dense_y[k], "#7f7f7f", true};
    }
    char path[4096];
    tg_status st = xp_out_path(o, "sparsity.svg", path, sizeof path, err);
    return st == TG_OK ? ex_svg_write(path, "Magnitude pruning on Fashion-MNIST: accuracy against sparsity",
                                      N_NETS, p, err)
                       : st;
}

static tg_status write_csv(const xp_options *o, const outcome res[N_NETS], tg_error *err) {
    static double rows[N_NETS * N_LEVELS][10];
    int n = 0;
    for (int k = 0; k < N_NETS; k++)
        for (int lv = 0; lv < N_LEVELS; lv++) {
            double *row = rows[n++];
            row[0] = k;
            row[1] = 100 * levels[lv];
            row[2] = res[k].acc[WAY_GRADUAL][lv];
            row[3] = res[k].acc[WAY_ONESHOT_GLOBAL][lv];
            row[4] = res[k].acc[WAY_ONESHOT_LAYER][lv];
            row[5] = lv ? 100 * res[k].got[lv] : 0;
            row[6] = (double)res[k].stray[lv];
            row[7] = k == NET_MLP ? res[k].agree[lv] : NAN;
            row[8] = k == NET_MLP ? res[k].csr_bytes[lv] : NAN;
            row[9] = k == NET_MLP ? res[k].dense_bytes : NAN;
        }
    const char *names[] = {"net(0=mlp,1=lenet)", "target_sparsity", "acc_gradual_global",
                           "acc_oneshot_global", "acc_oneshot_per_layer", "sparsity_reached",
                           "stray_nonzeros", "csr_agrees_pct", "csr_fc_bytes", "dense_fc_bytes"};
    char path[4096];
    tg_status st = xp_out_path(o, "sparsity.csv", path, sizeof path, err);
    return st == TG_OK ? ex_csv_write(path, 10, names, n, &rows[0][0], err) : st;
}

int main(int argc, char **argv) {
    xp_options o = xp_defaults();
    const ex_program prog = {
        .name = "sparsity",
        .about = "Pruning: an MLP and LeNet-5 trained dense, then pruned by magnitude to\n"
                 "50-98% zeros one-shot (per layer, global) and gradually while fine-tuning\n"
                 "with masked gradients; accuracy against sparsity, CSR inference, checkpoint.\n",
        .data_help = "an MNIST-format folder, or 'synthetic' (default: $TG_DATA_DIR or "
                     "data/fashion-mnist)",
    };
    int rc = xp_parse(argc, argv, &prog, &o);
    if (rc) return rc == 2 ? 0 : 1;
    sizes z = o.quick ? (sizes){.n_train = 1280, .n_test = 500, .batch = 64,
                                .dense_epochs = {3, 2}, .tune_epochs = {2, 1}, .lr = 2e-3,
                                .tune_lr = 1e-3}
                      : (sizes){.n_train = 0, .n_test = 0, .batch = 64, .dense_epochs = {5, 3},
                                .tune_epochs = {2, 1}, .lr = 1e-3, .tune_lr = 5e-4};
    tg_error err = {0};
    ex_images d;
    if (xp_load_images(&o, z.n_train, z.n_test, &d, &err) != TG_OK) return xp_fail(prog.name, err.message);
    static outcome res[N_NETS];
    for (int k = 0; k < N_NETS; k++)
        if (run_net(&o, &z, &d, (net_kind)k, &res[k], &err) != TG_OK) {
            ex_images_free(&d);
            return xp_fail(prog.name, err.message);
        }
    ex_images_free(&d);
    if (write_csv(&o, res, &err) != TG_OK || draw(&o, res, &err) != TG_OK)
        return xp_fail(prog.name, err.message);

    const outcome *mlp = &res[NET_MLP];
    double bound = o.quick ? 3.0 : 1.5;
    for (int lv = 1; lv <= 3; lv++)
        xp_expect(&o, mlp->acc[WAY_GRADUAL][lv] >= mlp->dense_acc - bound,
                  "MLP, gradual, %.0f%% pruned: %.2f%% within %.1f points of dense %.2f%%",
                  100 * levels[lv], mlp->acc[WAY_GRADUAL][lv], bound, mlp->dense_acc);
    if (!o.quick)
        xp_expect(&o, mlp->acc[WAY_GRADUAL][N_LEVELS - 1] > mlp->acc[WAY_ONESHOT_GLOBAL][N_LEVELS - 1],
                  "MLP at 98%%: gradual %.2f%% beats one-shot %.2f%%",
                  mlp->acc[WAY_GRADUAL][N_LEVELS - 1], mlp->acc[WAY_ONESHOT_GLOBAL][N_LEVELS - 1]);
    for (int k = 0; k < N_NETS; k++) {
        int64_t stray = 0;
        double worst = 0;
        for (int lv = 1; lv < N_LEVELS; lv++) {
            stray += res[k].stray[lv];
            worst = fmax(worst, fabs(res[k].got[lv] - levels[lv]));
        }
        xp_expect(&o, stray == 0, "%s: no pruned weight moved during fine-tuning (%lld did)",
                  net_names[k], (long long)stray);
        xp_expect(&o, worst < 1e-3, "%s: every sparsity reached within 0.1%% (worst %.5f off)",
                  net_names[k], worst);
        xp_expect(&o, res[k].reload_acc == res[k].acc[WAY_GRADUAL][N_LEVELS - 1] &&
                          res[k].reload_zeros == res[k].zeros,
                  "%s: the 98%%-pruned checkpoint reloads with %.2f%% and %lld zeros (saved: "
                  "%.2f%%, %lld)", net_names[k], res[k].reload_acc, (long long)res[k].reload_zeros,
                  res[k].acc[WAY_GRADUAL][N_LEVELS - 1], (long long)res[k].zeros);
    }
    double agree = 100;
    for (int lv = 1; lv < N_LEVELS; lv++) agree = fmin(agree, mlp->agree[lv]);
    xp_expect(&o, agree >= 99.8, "MLP on CSR layers: at least 99.8%% of predictions as dense (%.2f%%)",
              agree);
    xp_expect(&o, mlp->csr_bytes[4] * 8 < mlp->dense_bytes,
              "MLP at 95%%: CSR layers take %.0f bytes, under 1/8 of dense %.0f", mlp->csr_bytes[4],
              mlp->dense_bytes);
    return xp_finish(&o);
}
