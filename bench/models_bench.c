/* models_bench.c: whole training steps through tapegrad's public API, for bench/run-models:
 * the MLP, LeNet-5, the tanh RNN, the LSTM and the character transformer of examples/gpt (one
 * step each), a tiny-tensor op chain (per op cost of recording and of the reverse sweep), and
 * epochs of the MLP over Fashion-MNIST.
 *
 * Every case builds its model exactly as bench/peers/models_peers.py builds the PyTorch one
 * (same shapes, PyTorch's initialisation, f32, SGD with lr 0.1, mean cross entropy) and prints
 * one line per case in a format both programs share. Never part of the test run.
 *
 *   models_bench [--threads T] [--reps R] [--min-time S] [--epochs E] [--data DIR] CASE ...
 *   CASE: mlp lenet rnn lstm gpt chain epoch
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <tapegrad.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* CPU seconds of the whole process (every thread): on a machine shared with other jobs, the
 * cost of a step that waiting for a core does not inflate. */
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
    fprintf(stderr, "models_bench: %s: %s\n", what, msg);
    exit(1);
}

static int reps = 20;
static double min_time = 1.0;

/* Times so far, growing as needed. */
typedef struct timings {
    double *v;
    int n, cap;
} timings;

static void timings_add(timings *tm, double s) {
    if (tm->n == tm->cap) {
        tm->cap = tm->cap ? 2 * tm->cap : 64;
        tm->v = realloc(tm->v, (size_t)tm->cap * sizeof *tm->v);
        if (!tm->v) die("timings", "out of memory");
    }
    tm->v[tm->n++] = s;
}

static double timings_median(timings *tm) {
    qsort(tm->v, (size_t)tm->n, sizeof *tm->v, cmp_double);
    return tm->v[tm->n / 2];
}

/* ---- one training step, shared by the per-step cases ---- */

typedef struct model model;
/* Records the forward pass and returns the loss on t. */
typedef tg_tensor *(*forward_fn)(model *m, tg_tape *t);

struct model {
    tg_store *s;
    tg_optim *opt;
    forward_fn forward;
    tg_tensor *x;    /* the batch, a store buffer (as a batch already in memory is for torch) */
    int64_t *labels; /* class of each row of the logits */
    tg_linear fc[3];
    tg_conv2d conv[2];
    tg_rnn_cell rnn;
    tg_lstm_cell lstm;
    int64_t T, B, H, V; /* sequence cases */
    /* the transformer */
    tg_embedding wte, wpe;
    tg_transformer_block blk[4];
    tg_layernorm ln_f;
    int n_layers;
    int64_t *ids, *pos;
};

static void check(tg_status st, const tg_error *err, const char *what) {
    if (st != TG_OK) die(what, err->message);
}

/* One step; returns the seconds the optimiser's update took, so that the update's share of
 * the step can be reported. */
static double train_step(model *m, tg_tape *t) {
    tg_error err = {0};
    tg_store_zero_grad(m->s);
    tg_tensor *loss = m->forward(m, t);
    if (!loss || tg_tape_backward(t, loss, NULL, 0) != TG_OK) die("step", tg_tape_error(t));
    double t0 = now();
    check(tg_optim_step(m->opt, &err), &err, "optimiser step");
    double update = now() - t0;
    tg_tape_reset(t);
    return update;
}

/* Times train_step: warm-up steps, then until both `reps` steps and `min_time` seconds. */
static void time_steps(const char *name, model *m) {
    tg_tape *t = tg_tape_new();
    if (!t) die(name, "out of memory");
    for (int w = 0; w < 3; w++) train_step(m, t);
    timings tm = {0}, cpu = {0}, upd = {0};
    double start = now();
    while (tm.n < reps || (now() - start < min_time && tm.n < 100000)) {
        double t0 = now(), c0 = cpu_now();
        timings_add(&upd, train_step(m, t));
        timings_add(&tm, now() - t0);
        timings_add(&cpu, cpu_now() - c0);
    }
    double med = timings_median(&tm);
    printf("%s threads=%d reps=%d median_s=%.9f best_s=%.9f cpu_s=%.9f update_s=%.9f\n", name,
           tg_get_threads(), tm.n, med, tm.v[0], timings_median(&cpu), timings_median(&upd));
    free(cpu.v);
    free(upd.v);
    fflush(stdout);
    free(tm.v);
    tg_tape_free(t);
}

static void model_begin(model *m, forward_fn f) {
    memset(m, 0, sizeof *m);
    m->s = tg_store_new();
    if (!m->s) die("model", "out of memory");
    m->forward = f;
}

static void model_end(model *m) {
    tg_optim_free(m->opt);
    tg_store_free(m->s);
    free(m->labels);
}

/* SGD with lr 0.1, or Adam with torch.optim.Adam's defaults (lr 1e-3) for the _adam cases,
 * which measure the step the examples run. */
static void make_optim(model *m, bool adam) {
    tg_error err = {0};
    if (adam) {
        tg_adam_options o = tg_adam_defaults(1e-3);
        m->opt = tg_optim_adam(m->s, &o, &err);
    } else {
        tg_sgd_options o = tg_sgd_defaults(0.1);
        m->opt = tg_optim_sgd(m->s, &o, &err);
    }
    if (!m->opt) die(adam ? "adam" : "sgd", err.message);
}

/* A batch buffer of the given shape, uniform on [0, 1), and n labels below n_classes. */
static void make_batch(model *m, tg_rng *rng, int ndim, const int64_t *shape, int64_t n,
                       int64_t n_classes) {
    m->x = tg_store_buffer(m->s, "x", TG_F32, ndim, shape);
    m->labels = malloc((size_t)n * sizeof *m->labels);
    if (!m->x || !m->labels) die("batch", "out of memory");
    tg_tensor_fill_uniform(m->x, rng, 0.0, 1.0);
    for (int64_t i = 0; i < n; i++) m->labels[i] = (int64_t)tg_rng_below(rng, (uint64_t)n_classes);
}

/* ---- MLP 784-256-128-10 ---- */

static tg_tensor *mlp_logits(model *m, tg_tape *t, tg_tensor *x) {
    tg_tensor *h = tg_relu(t, tg_linear_forward(t, &m->fc[0], x));
    h = tg_relu(t, tg_linear_forward(t, &m->fc[1], h));
    return tg_linear_forward(t, &m->fc[2], h);
}

static tg_tensor *mlp_forward(model *m, tg_tape *t) {
    return tg_cross_entropy(t, mlp_logits(m, t, m->x), m->labels, 0.0, TG_REDUCE_MEAN);
}

static void mlp_init(model *m, tg_rng *rng) {
    tg_error err = {0};
    static const int64_t sizes[4] = {784, 256, 128, 10};
    static const char *const names[3] = {"fc1", "fc2", "fc3"};
    for (int i = 0; i < 3; i++)
        check(tg_linear_init(&m->fc[i], m->s, names[i], sizes[i], sizes[i + 1], true, TG_F32, rng,
                             &err),
              &err, "mlp");
}

static void case_mlp(bool adam) {
    model m;
    tg_rng rng;
    tg_rng_seed(&rng, 1);
    model_begin(&m, mlp_forward);
    mlp_init(&m, &rng);
    make_optim(&m, adam);
    make_batch(&m, &rng, TG_SHAPE(64, 784), 64, 10);
    time_steps(adam ? "mlp_adam" : "mlp", &m);
    model_end(&m);
}

/* ---- LeNet-5: conv 1->6 5x5 pad 2, relu, max 2; conv 6->16 5x5, relu, max 2; 400-120-84-10 */

static tg_tensor *lenet_forward(model *m, tg_tape *t) {
    const tg_pool2d_params pool = {.kernel = {2, 2}};
    tg_tensor *h = tg_max_pool2d(t, tg_relu(t, tg_conv2d_forward(t, &m->conv[0], m->x)), &pool);
    h = tg_max_pool2d(t, tg_relu(t, tg_conv2d_forward(t, &m->conv[1], h)), &pool);
    h = tg_flatten(t, h, 1, -1);
    h = tg_relu(t, tg_linear_forward(t, &m->fc[0], h));
    h = tg_relu(t, tg_linear_forward(t, &m->fc[1], h));
    tg_tensor *logits = tg_linear_forward(t, &m->fc[2], h);
    return tg_cross_entropy(t, logits, m->labels, 0.0, TG_REDUCE_MEAN);
}

static void case_lenet(bool adam) {
    model m;
    tg_rng rng;
    tg_error err = {0};
    tg_rng_seed(&rng, 2);
    model_begin(&m, lenet_forward);
    const tg_conv2d_params pad2 = {.padding = {2, 2}};
    check(tg_conv2d_init(&m.conv[0], m.s, "c1", 1, 6, 5, 5, &pad2, true, TG_F32, &rng, &err), &err,
          "lenet");
    check(tg_conv2d_init(&m.conv[1], m.s, "c2", 6, 16, 5, 5, NULL, true, TG_F32, &rng, &err), &err,
          "lenet");
    static const int64_t sizes[4] = {400, 120, 84, 10};
    static const char *const names[3] = {"f3", "f4", "f5"};
    for (int i = 0; i < 3; i++)
        check(tg_linear_init(&m.fc[i], m.s, names[i], sizes[i], sizes[i + 1], true, TG_F32, &rng,
                             &err),
              &err, "lenet");
    make_optim(&m, adam);
    make_batch(&m, &rng, TG_SHAPE(64, 1, 28, 28), 64, 10);
    time_steps(adam ? "lenet_adam" : "lenet", &m);
    model_end(&m);
}

/* ---- character models: one-hot x (T, B, V) -> cell (H) -> linear (V), loss over T*B ---- */

static tg_tensor *seq_forward(model *m, tg_tape *t) {
    tg_tensor *hs = m->lstm.weight_ih
                        ? tg_lstm_cell_unroll(t, &m->lstm, m->x, NULL, NULL, NULL, NULL)
                        : tg_rnn_cell_unroll(t, &m->rnn, m->x, NULL, NULL);
    tg_tensor *flat = tg_reshape(t, hs, TG_SHAPE(m->T * m->B, m->H));
    tg_tensor *logits = tg_linear_forward(t, &m->fc[0], flat);
    return tg_cross_entropy(t, logits, m->labels, 0.0, TG_REDUCE_MEAN);
}

static void case_seq(bool lstm, bool adam) {
    model m;
    tg_rng rng;
    tg_error err = {0};
    tg_rng_seed(&rng, 3);
    model_begin(&m, seq_forward);
    m.T = 64, m.B = 32, m.H = 128, m.V = 65;
    if (lstm)
        check(tg_lstm_cell_init(&m.lstm, m.s, "lstm", m.V, m.H, true, TG_F32, &rng, &err), &err,
              "lstm");
    else
        check(tg_rnn_cell_init(&m.rnn, m.s, "rnn", m.V, m.H, true, TG_F32, &rng, &err), &err,
              "rnn");
    check(tg_linear_init(&m.fc[0], m.s, "fc", m.H, m.V, true, TG_F32, &rng, &err), &err, "fc");
    make_optim(&m, adam);
    /* Random symbols, one-hot; the targets are the next symbol of each sequence. */
    int64_t n = m.T * m.B;
    m.x = tg_store_buffer(m.s, "x", TG_F32, TG_SHAPE(m.T, m.B, m.V));
    m.labels = malloc((size_t)n * sizeof *m.labels);
    int64_t *sym = malloc((size_t)(n + m.B) * sizeof *sym);
    if (!m.x || !m.labels || !sym) die("seq", "out of memory");
    for (int64_t i = 0; i < n + m.B; i++) sym[i] = (int64_t)tg_rng_below(&rng, (uint64_t)m.V);
    float *xd = tg_tensor_data(m.x);
    for (int64_t i = 0; i < n; i++) xd[i * m.V + sym[i]] = 1.0f;
    for (int64_t i = 0; i < n; i++) m.labels[i] = sym[i + m.B];
    free(sym);
    time_steps(lstm ? (adam ? "lstm_adam" : "lstm") : (adam ? "rnn_adam" : "rnn"), &m);
    model_end(&m);
}

/* ---- the character transformer of examples/gpt, at its default size: ids (B, T) -> token
 * plus position embeddings (E) -> GPT_LAYERS pre-norm blocks (H heads, MLP F, GELU, causal)
 * -> layer norm -> linear (V), loss over B*T ---- */
enum { GPT_LAYERS = 2, GPT_E = 64, GPT_HEADS = 4, GPT_F = 256 };

static tg_tensor *gpt_forward(model *m, tg_tape *t) {
    tg_tensor *x = tg_embedding_forward(t, &m->wte, 2, (const int64_t[]){m->B, m->T}, m->ids);
    x = tg_add(t, x, tg_embedding_forward(t, &m->wpe, 1, (const int64_t[]){m->T}, m->pos));
    for (int l = 0; l < m->n_layers; l++) x = tg_transformer_block_forward(t, &m->blk[l], x, true);
    x = tg_layernorm_forward(t, &m->ln_f, tg_reshape(t, x, TG_SHAPE(m->B * m->T, m->H)));
    return tg_cross_entropy(t, tg_linear_forward(t, &m->fc[0], x), m->labels, 0.0,
                            TG_REDUCE_MEAN);
}

static void case_gpt(void) {
    model m;
    tg_rng rng;
    tg_error err = {0};
    tg_rng_seed(&rng, 6);
    model_begin(&m, gpt_forward);
    m.T = 64, m.B = 32, m.H = GPT_E, m.V = 65, m.n_layers = GPT_LAYERS;
    check(tg_embedding_init(&m.wte, m.s, "wte", m.V, m.H, TG_F32, &rng, &err), &err, "gpt");
    check(tg_embedding_init(&m.wpe, m.s, "wpe", m.T, m.H, TG_F32, &rng, &err), &err, "gpt");
    for (int l = 0; l < m.n_layers; l++) {
        char name[16];
        snprintf(name, sizeof name, "h.%d", l);
        check(tg_transformer_block_init(&m.blk[l], m.s, name, m.H, GPT_HEADS, GPT_F, TG_F32, &rng,
                                        &err),
              &err, "gpt");
    }
    check(tg_layernorm_init(&m.ln_f, m.s, "ln_f", TG_SHAPE(m.H), 1e-5, true, TG_F32, &err), &err,
          "gpt");
    check(tg_linear_init(&m.fc[0], m.s, "head", m.H, m.V, true, TG_F32, &rng, &err), &err, "gpt");
    make_optim(&m, false);
    /* Random symbols; the target of each position is the next symbol of its row. */
    int64_t n = m.T * m.B;
    m.ids = malloc((size_t)n * sizeof *m.ids);
    m.pos = malloc((size_t)m.T * sizeof *m.pos);
    m.labels = malloc((size_t)n * sizeof *m.labels);
    if (!m.ids || !m.pos || !m.labels) die("gpt", "out of memory");
    for (int64_t b = 0; b < m.B; b++) {
        int64_t prev = (int64_t)tg_rng_below(&rng, (uint64_t)m.V);
        for (int64_t j = 0; j < m.T; j++) {
            int64_t next = (int64_t)tg_rng_below(&rng, (uint64_t)m.V);
            m.ids[b * m.T + j] = prev;
            m.labels[b * m.T + j] = next;
            prev = next;
        }
    }
    for (int64_t j = 0; j < m.T; j++) m.pos[j] = j;
    time_steps("gpt", &m);
    free(m.ids);
    free(m.pos);
    model_end(&m);
}

/* ---- tiny-tensor op chain: y = tanh(y) * w repeated, on 16 elements ---- */

static void case_chain(void) {
    enum { N_OPS = 1000 }; /* ops per chain, tanh and mul alternating */
    tg_store *s = tg_store_new();
    tg_tape *t = tg_tape_new();
    tg_rng rng;
    tg_rng_seed(&rng, 4);
    tg_tensor *x = tg_store_param(s, "x", TG_F32, TG_SHAPE(16));
    tg_tensor *w = tg_store_param(s, "w", TG_F32, TG_SHAPE(16));
    if (!x || !w || !t) die("chain", "out of memory");
    tg_tensor_fill_uniform(x, &rng, -1, 1);
    tg_tensor_fill_uniform(w, &rng, 0.5, 1.5);
    timings fwd = {0}, bwd = {0};
    double start = now();
    for (int it = 0; it < 3 || fwd.n < reps || (now() - start < min_time && fwd.n < 100000); it++) {
        double t0 = now();
        tg_tensor *y = x;
        for (int i = 0; i < N_OPS / 2; i++) y = tg_mul(t, tg_tanh(t, y), w);
        tg_tensor *loss = tg_sum_all(t, y);
        double t1 = now();
        if (!loss || tg_tape_backward(t, loss, NULL, 0) != TG_OK) die("chain", tg_tape_error(t));
        double t2 = now();
        tg_tape_reset(t);
        if (it >= 3) { /* warm-up first */
            timings_add(&fwd, (t1 - t0) / (N_OPS + 1));
            timings_add(&bwd, (t2 - t1) / (N_OPS + 1));
        }
    }
    /* The median of the sums, not the sum of the medians, so both sides report alike. */
    timings tot = {0};
    for (int i = 0; i < fwd.n; i++) timings_add(&tot, fwd.v[i] + bwd.v[i]);
    double med = timings_median(&tot), best = tot.v[0];
    printf("chain threads=%d reps=%d median_s=%.9f best_s=%.9f fwd_s=%.9f bwd_s=%.9f\n",
           tg_get_threads(), tot.n, med, best, timings_median(&fwd), timings_median(&bwd));
    fflush(stdout);
    free(fwd.v), free(bwd.v), free(tot.v);
    tg_tape_free(t);
    tg_store_free(s);
}

/* ---- epochs of the MLP over Fashion-MNIST (or synthetic data of its shape) ---- */

static tg_dataset *synthetic(int64_t n, uint64_t seed) {
    uint8_t *img = malloc((size_t)n * 784), *lab = malloc((size_t)n);
    if (!img || !lab) die("synthetic", "out of memory");
    tg_rng rng;
    tg_rng_seed(&rng, seed);
    for (int64_t i = 0; i < n * 784; i++) img[i] = (uint8_t)tg_rng_below(&rng, 256);
    for (int64_t i = 0; i < n; i++) lab[i] = (uint8_t)tg_rng_below(&rng, 10);
    tg_error err = {0};
    tg_dataset *d = tg_dataset_from_memory(n, 28, 28, img, lab, &err);
    free(img), free(lab);
    if (!d) die("synthetic", err.message);
    return d;
}

/* Accuracy of the MLP on d, in no-grad mode. */
static double accuracy(model *m, tg_tape *t, const tg_dataset *d) {
    tg_error err = {0};
    tg_batcher_opts o = {.batch_size = 1000, .dtype = TG_F32, .flatten = true};
    tg_batcher *b = tg_batcher_new(d, &o, &err);
    if (!b) die("test", err.message);
    bool was = tg_tape_set_grad_enabled(t, false);
    int64_t right = 0, total = 0;
    tg_tensor *x;
    const int64_t *y;
    while (tg_batcher_next(b, t, &x, &y)) {
        tg_tensor *logits = mlp_logits(m, t, x);
        if (!logits) die("test", tg_tape_error(t));
        int64_t n = tg_tensor_dim(logits, 0);
        const float *l = tg_tensor_data(logits);
        for (int64_t i = 0; i < n; i++) {
            int best = 0;
            for (int c = 1; c < 10; c++)
                if (l[i * 10 + c] > l[i * 10 + best]) best = c;
            right += best == y[i];
        }
        total += n;
        tg_tape_reset(t);
    }
    tg_tape_set_grad_enabled(t, was);
    tg_batcher_free(b);
    return (double)right / (double)total;
}

static void case_epoch(const char *dir, int epochs) {
    tg_error err = {0};
    tg_dataset *train = tg_dataset_load_dir(dir, "train", &err);
    tg_dataset *test = train ? tg_dataset_load_dir(dir, "t10k", &err) : NULL;
    const char *data = "real";
    if (!train || !test) {
        tg_dataset_free(train);
        train = synthetic(60000, 5);
        test = synthetic(10000, 6);
        data = "synthetic";
    }
    model m;
    tg_rng rng;
    tg_rng_seed(&rng, 7);
    model_begin(&m, NULL);
    mlp_init(&m, &rng);
    make_optim(&m, false);
    tg_batcher_opts o = {
        .batch_size = 64, .shuffle = true, .seed = 8, .dtype = TG_F32, .flatten = true};
    tg_batcher *b = tg_batcher_new(train, &o, &err);
    tg_tape *t = tg_tape_new();
    if (!b || !t) die("epoch", err.message);
    timings tm = {0};
    for (int e = 0; e < epochs; e++) {
        double t0 = now();
        tg_tensor *x;
        const int64_t *y;
        while (tg_batcher_next(b, t, &x, &y)) {
            tg_store_zero_grad(m.s);
            tg_tensor *loss = tg_cross_entropy(t, mlp_logits(&m, t, x), y, 0.0, TG_REDUCE_MEAN);
            if (!loss || tg_tape_backward(t, loss, NULL, 0) != TG_OK)
                die("epoch", tg_tape_error(t));
            check(tg_optim_step(m.opt, &err), &err, "sgd");
            tg_tape_reset(t);
        }
        if (tg_tape_status(t) != TG_OK) die("epoch", tg_tape_error(t));
        timings_add(&tm, now() - t0);
    }
    double acc = accuracy(&m, t, test);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double med = timings_median(&tm);
    printf("epoch threads=%d reps=%d median_s=%.9f best_s=%.9f test_acc=%.4f data=%s "
           "maxrss_kb=%ld\n",
           tg_get_threads(), tm.n, med, tm.v[0], acc, data, ru.ru_maxrss);
    fflush(stdout);
    free(tm.v);
    tg_tape_free(t);
    tg_batcher_free(b);
    model_end(&m);
    tg_dataset_free(train);
    tg_dataset_free(test);
}

static void usage(void) {
    fprintf(stderr, "usage: models_bench [--threads T] [--reps R] [--min-time S] [--epochs E] "
                    "[--data DIR] mlp|lenet|rnn|lstm|gpt|chain|epoch|mlp_adam|lenet_adam|lstm_adam ...\n");
    exit(2);
}

int main(int argc, char **argv) {
    int threads = 1, epochs = 5, first = argc;
    const char *dir = "data/fashion-mnist";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc)
            reps = atoi(argv[++i]);
        else if (strcmp(argv[i], "--min-time") == 0 && i + 1 < argc)
            min_time = atof(argv[++i]);
        else if (strcmp(argv[i], "--epochs") == 0 && i + 1 < argc)
            epochs = atoi(argv[++i]);
        else if (strcmp(argv[i], "--data") == 0 && i + 1 < argc)
            dir = argv[++i];
        else if (argv[i][0] == '-')
            usage();
        else {
            first = i;
            break;
        }
    }
    if (first == argc || reps < 1 || epochs < 1) usage();
    tg_set_threads(threads);
    printf("# tapegrad models_bench: f32, level %s, %d threads\n",
           tg_cpu_level_name(tg_get_cpu_level()), tg_get_threads());
    for (int i = first; i < argc; i++) {
        const char *c = argv[i];
        if (strcmp(c, "mlp") == 0 || strcmp(c, "mlp_adam") == 0)
            case_mlp(strcmp(c, "mlp_adam") == 0);
        else if (strcmp(c, "lenet") == 0 || strcmp(c, "lenet_adam") == 0)
            case_lenet(strcmp(c, "lenet_adam") == 0);
        else if (strcmp(c, "rnn") == 0)
            case_seq(false, false);
        else if (strcmp(c, "lstm") == 0 || strcmp(c, "lstm_adam") == 0)
            case_seq(true, strcmp(c, "lstm_adam") == 0);
        else if (strcmp(c, "gpt") == 0)
            case_gpt();
        else if (strcmp(c, "chain") == 0)
            case_chain();
        else if (strcmp(c, "epoch") == 0)
            case_epoch(dir, epochs);
        else
            usage();
    }
    return 0;
}
