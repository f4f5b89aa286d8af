/* checkpoint_bench.c: training with and without recomputed segments (tapegrad/recompute.h),
 * for bench/checkpoint_bench: the tape's peak memory (tg_tape_bytes_peak) against the time of a
 * training step (CPU time of the process, median over the steps).
 *
 * Two models, each trained the same way in both modes (same seed, f32, SGD lr 0.01, mean cross
 * entropy on fixed random data), so that the modes differ only in what the tape keeps:
 *   mlp   32 fully connected layers of width 128 with relu, batch 512, 10 classes; segments
 *         of `seg` layers (default 4). Activations outweigh the weights' gradients here, as
 *         where recomputation is worth having: those gradients stay on the tape either way.
 *   lstm  an LSTM with 65 inputs, hidden 128, batch 32, unrolled over 64 steps from primitive
 *         ops (the gates' products, slices, sigmoid, tanh), each step's output through one
 *         linear layer, in segments of `seg` steps (default 8, about sqrt(64)). Each step's
 *         input projection depends on no state; with --proj outside it is made before the
 *         segments (not replayed, but its result, gradient and weight-gradient terms stay on
 *         the tape), with --proj inside (the default) in them.
 * The loss of the fourth step is printed in both modes: they must agree exactly.
 *
 *   checkpoint_bench [--reps R] [--min-time S] [--seg K] [--proj inside|outside] CASE MODE
 *   CASE: mlp lstm   MODE: plain recompute
 * prints: ckpt case=C mode=M reps=R step_s=... peak_bytes=... loss=...
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <tapegrad.h>

static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void die(const char *what, const char *msg) {
    fprintf(stderr, "checkpoint_bench: %s: %s\n", what, msg);
    exit(1);
}

enum { MAX_REPS = 2000 };

/* ---- the deep MLP ---- */
enum { MLP_LAYERS = 32, MLP_WIDTH = 128, MLP_BATCH = 512, MLP_CLASSES = 10 };

typedef struct mlp {
    tg_linear fc[MLP_LAYERS + 1];
} mlp;

typedef struct mlp_span {
    const mlp *m;
    int first, n;
} mlp_span;

static tg_tensor *mlp_layers(tg_tape *t, const mlp *m, int first, int n, tg_tensor *h) {
    for (int i = first; i < first + n; i++) h = tg_relu(t, tg_linear_forward(t, &m->fc[i], h));
    return h;
}

static int mlp_segment(tg_tape *t, tg_tensor *const *in, tg_tensor **out, void *ctx) {
    const mlp_span *sp = ctx;
    out[0] = mlp_layers(t, sp->m, sp->first, sp->n, in[0]);
    return out[0] ? 1 : -1;
}

/* ---- the LSTM ---- */
enum { LSTM_T = 64, LSTM_B = 32, LSTM_I = 65, LSTM_H = 128 };

typedef struct lstm {
    tg_tensor *w_ih, *w_hh, *bias; /* (4H, I), (4H, H), (4H) */
    tg_linear out;
    tg_tensor *x;          /* (T, B, I) one-hot inputs, a buffer */
    tg_tensor *xp[LSTM_T]; /* each step's input projection (B, 4H), when made outside */
    bool proj_inside;      /* projections made (and so replayed) inside the segments */
} lstm;

typedef struct lstm_span {
    const lstm *m;
    int first, n;
} lstm_span;

/* One step from the input projection xp: (h, c) -> (h', c'), gates in PyTorch's order. */
static tg_tensor *lstm_step(tg_tape *t, const lstm *m, tg_tensor *xp, tg_tensor *h,
                            tg_tensor **c) {
    tg_tensor *z = tg_add(t, xp, tg_matmul(t, h, tg_transpose(t, m->w_hh, 0, 1)));
    tg_tensor *i = tg_sigmoid(t, tg_slice(t, z, 1, 0, LSTM_H, 1));
    tg_tensor *f = tg_sigmoid(t, tg_slice(t, z, 1, LSTM_H, 2 * LSTM_H, 1));
    tg_tensor *g = tg_tanh(t, tg_slice(t, z, 1, 2 * LSTM_H, 3 * LSTM_H, 1));
    tg_tensor *o = tg_sigmoid(t, tg_slice(t, z, 1, 3 * LSTM_H, 4 * LSTM_H, 1));
    *c = tg_add(t, tg_mul(t, f, *c), tg_mul(t, i, g));
    return tg_mul(t, o, tg_tanh(t, *c));
}

/* Step s's input projection x_s W_ih^T + b, from a view of the (gradient-free) inputs: a
 * product per step rather than one sliced afterwards, whose slices' gradients would each be
 * embedded back into the whole projection's shape. */
static tg_tensor *step_projection(tg_tape *t, const lstm *m, int s) {
    if (!m->proj_inside) return m->xp[s];
    tg_tensor *xs = tg_reshape(t, tg_slice(t, m->x, 0, s, s + 1, 1), TG_SHAPE(LSTM_B, LSTM_I));
    return tg_linear(t, xs, m->w_ih, m->bias);
}

/* in: h, c. out: the steps' h stacked (n B, H), the last h, the last c. */
static int lstm_segment(tg_tape *t, tg_tensor *const *in, tg_tensor **out, void *ctx) {
    const lstm_span *sp = ctx;
    tg_tensor *h = in[0], *c = in[1], *hs[LSTM_T];
    for (int s = 0; s < sp->n; s++)
        hs[s] = h = lstm_step(t, sp->m, step_projection(t, sp->m, sp->first + s), h, &c);
    out[0] = sp->n > 1 ? tg_concat(t, sp->n, hs, 0) : h;
    out[1] = h;
    out[2] = c;
    return out[2] ? 3 : -1;
}

int main(int argc, char **argv) {
    int reps = 10, seg = 0;
    bool proj_inside = true;
    double min_time = 2.0;
    int a = 1;
    for (; a + 1 < argc && argv[a][0] == '-'; a += 2) {
        if (strcmp(argv[a], "--reps") == 0)
            reps = atoi(argv[a + 1]);
        else if (strcmp(argv[a], "--min-time") == 0)
            min_time = atof(argv[a + 1]);
        else if (strcmp(argv[a], "--seg") == 0)
            seg = atoi(argv[a + 1]);
        else if (strcmp(argv[a], "--proj") == 0)
            proj_inside = strcmp(argv[a + 1], "inside") == 0;
        else
            die(argv[a], "unknown option");
    }
    if (a + 2 != argc) die("usage", "checkpoint_bench [--reps R] [--min-time S] [--seg K] "
                                    "mlp|lstm plain|recompute");
    const char *which = argv[a], *mode = argv[a + 1];
    bool is_mlp = strcmp(which, "mlp") == 0, rec = strcmp(mode, "recompute") == 0;
    if ((!is_mlp && strcmp(which, "lstm") != 0) || (!rec && strcmp(mode, "plain") != 0))
        die("usage", "CASE is mlp or lstm, MODE plain or recompute");
    if (reps < 1 || reps > MAX_REPS) die("--reps", "1 to 2000");
    if (seg <= 0) seg = is_mlp ? 4 : 8;
    printf("# tapegrad checkpoint_bench: f32, level %s, %d threads\n",
           tg_cpu_level_name(tg_get_cpu_level()), tg_get_threads());

    tg_store *s = tg_store_new();
    tg_tape *t = tg_tape_new();
    tg_error err = {0};
    tg_rng rng;
    tg_rng_seed(&rng, 7);
    mlp m = {0};
    lstm l = {0};
    int64_t n_rows = is_mlp ? MLP_BATCH : LSTM_T * LSTM_B;
    int64_t *labels = malloc((size_t)n_rows * sizeof *labels);
    tg_tensor *x;
    if (!s || !t || !labels) die("setup", "out of memory");
    if (is_mlp) {
        for (int i = 0; i <= MLP_LAYERS; i++) {
            char name[16];
            snprintf(name, sizeof name, "fc%d", i);
            if (tg_linear_init(&m.fc[i], s, name, MLP_WIDTH,
                               i == MLP_LAYERS ? MLP_CLASSES : MLP_WIDTH, true, TG_F32, &rng,
                               &err) != TG_OK)
                die("mlp", err.message);
        }
        x = tg_store_buffer(s, "x", TG_F32, TG_SHAPE(MLP_BATCH, MLP_WIDTH));
        if (!x) die("mlp", "out of memory");
        tg_tensor_fill_normal(x, &rng, 0, 1);
        for (int64_t i = 0; i < n_rows; i++) labels[i] = (int64_t)tg_rng_below(&rng, MLP_CLASSES);
    } else {
        l.w_ih = tg_store_param(s, "lstm.weight_ih", TG_F32, TG_SHAPE(4 * LSTM_H, LSTM_I));
        l.w_hh = tg_store_param(s, "lstm.weight_hh", TG_F32, TG_SHAPE(4 * LSTM_H, LSTM_H));
        l.bias = tg_store_param(s, "lstm.bias", TG_F32, TG_SHAPE(4 * LSTM_H));
        if (!l.w_ih || !l.w_hh || !l.bias) die("lstm", "out of memory");
        double k = 1.0 / 11.3137; /* PyTorch's 1 / sqrt(H) */
        tg_tensor_fill_uniform(l.w_ih, &rng, -k, k);
        tg_tensor_fill_uniform(l.w_hh, &rng, -k, k);
        tg_tensor_fill_uniform(l.bias, &rng, -k, k);
        if (tg_linear_init(&l.out, s, "out", LSTM_H, LSTM_I, true, TG_F32, &rng, &err) != TG_OK)
            die("lstm", err.message);
        x = l.x = tg_store_buffer(s, "x", TG_F32, TG_SHAPE(LSTM_T, LSTM_B, LSTM_I));
        if (!x) die("lstm", "out of memory");
        l.proj_inside = proj_inside;
        float *xd = tg_tensor_data(x);
        int64_t prev = 0;
        for (int64_t i = 0; i < n_rows; i++) {
            xd[i * LSTM_I + prev] = 1.0f;
            labels[i] = prev = (int64_t)tg_rng_below(&rng, LSTM_I);
        }
    }
    tg_sgd_options so = tg_sgd_defaults(0.01);
    tg_optim *opt = tg_optim_sgd(s, &so, &err);
    if (!opt) die("optim", err.message);

    double times[MAX_REPS], loss_v = 0;
    int n = 0;
    double start = cpu_now();
    mlp_span msp[MLP_LAYERS];
    lstm_span lsp[LSTM_T];
    for (int it = 0; it < 4 || (n < MAX_REPS && (n < reps || cpu_now() - start < min_time));
         it++) {
        double t0 = cpu_now();
        tg_tape_reset(t);
        tg_store_zero_grad(s);
        tg_tensor *logits;
        if (is_mlp) {
            tg_tensor *h = x;
            for (int i = 0; i < MLP_LAYERS; i += seg) {
                int k = seg < MLP_LAYERS - i ? seg : MLP_LAYERS - i;
                if (rec) {
                    msp[i] = (mlp_span){&m, i, k};
                    if (tg_recompute(t, mlp_segment, &msp[i], 1, &h, &h, 1, NULL, 0) != 1) break;
                } else {
                    h = mlp_layers(t, &m, i, k, h);
                }
            }
            logits = tg_linear_forward(t, &m.fc[MLP_LAYERS], h);
        } else {
            for (int s2 = 0; s2 < LSTM_T && !l.proj_inside; s2++) {
                l.proj_inside = true; /* made here, outside the segments */
                l.xp[s2] = step_projection(t, &l, s2);
                l.proj_inside = false;
            }
            tg_tensor *h = tg_zeros(t, TG_F32, TG_SHAPE(LSTM_B, LSTM_H));
            tg_tensor *c = tg_zeros(t, TG_F32, TG_SHAPE(LSTM_B, LSTM_H));
            tg_tensor *parts[LSTM_T];
            int n_parts = 0;
            for (int s2 = 0; s2 < LSTM_T; s2 += seg) {
                int k = seg < LSTM_T - s2 ? seg : LSTM_T - s2;
                lsp[s2] = (lstm_span){&l, s2, k};
                tg_tensor *out[3], *in[2] = {h, c};
                int got = rec ? tg_recompute(t, lstm_segment, &lsp[s2], 2, in, out, 3, NULL, 0)
                              : lstm_segment(t, in, out, &lsp[s2]);
                if (got != 3) break;
                parts[n_parts++] = out[0];
                h = out[1];
                c = out[2];
            }
            logits = tg_linear_forward(t, &l.out, tg_concat(t, n_parts, parts, 0));
        }
        tg_tensor *loss = tg_cross_entropy(t, logits, labels, 0.0, TG_REDUCE_MEAN);
        if (!loss || tg_tape_backward(t, loss, NULL, 0) != TG_OK) die(which, tg_tape_error(t));
        if (tg_optim_step(opt, &err) != TG_OK) die("step", err.message);
        if (it == 3) loss_v = tg_tensor_item(loss);
        double t1 = cpu_now();
        if (it == 0) continue; /* the first step sizes the arena */
        times[n++] = t1 - t0;
    }
    qsort(times, (size_t)n, sizeof *times, cmp_double);
    printf("ckpt case=%s mode=%s reps=%d step_s=%.9f peak_bytes=%zu loss=%.9g seg=%d\n", which,
           mode, n, times[n / 2], tg_tape_bytes_peak(t), loss_v, seg);
    tg_optim_free(opt);
    tg_tape_free(t);
    tg_store_free(s);
    free(labels);
    return 0;
}
