/* spirals.c: trains a small MLP to separate the classic two interleaved spirals, using only
 * the public API (tapegrad.h): the network, the loss and a momentum SGD update are all written
 * here from ops. It prints the loss as it falls, writes one training step's graph as DOT, and
 * exits non-zero unless the final training accuracy reaches the stated target (95%). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tapegrad.h>

#define TARGET_ACCURACY 0.95
#define N_PER_CLASS     200
#define N_POINTS        (2 * N_PER_CLASS)
#define N_LAYERS        3

typedef struct options {
    long epochs;
    double lr;
    double momentum;
    unsigned long long seed;
    long hidden;
    long report_every;
    const char *dot_path;
} options;

static void usage(FILE *out, const char *prog) {
    fprintf(out,
            "usage: %s [--epochs N] [--lr X] [--seed S] [--hidden H] [--dot PATH]\n"
            "Trains a 2 -> H -> H -> 1 tanh MLP (sigmoid output, binary cross-entropy) on two\n"
            "interleaved spirals of %d points each, with full-batch momentum SGD, and exits 0\n"
            "only if the final training accuracy is at least %.0f%%.\n"
            "  --epochs N   full-batch training steps (default 1000)\n"
            "  --lr X       learning rate (default 0.2; momentum 0.9)\n"
            "  --seed S     seed for the data and the initial weights (default 1)\n"
            "  --hidden H   width of both hidden layers (default 32)\n"
            "  --dot PATH   where to write the DOT graph of the last step (default\n"
            "               out/spirals.dot); render it with: dot -Tsvg PATH -o graph.svg\n"
            "  --help       show this text\n",
            prog, N_PER_CLASS, 100 * TARGET_ACCURACY);
}

/* Parses a whole-string number; false on junk, overflow or a value outside [lo, hi]. */
static bool parse_long(const char *s, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return false;
    *out = v;
    return true;
}

static bool parse_double(const char *s, double lo, double hi, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi)) return false;
    *out = v;
    return true;
}

/* Returns 0 to go on, 1 for an error (already reported), 2 after --help. Accepts both
 * "--opt VALUE" and "--opt=VALUE". */
static int parse_args(int argc, char **argv, options *o) {
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            usage(stdout, argv[0]);
            return 2;
        }
        static const char *const names[] = {"--epochs", "--lr", "--seed", "--hidden", "--dot"};
        int which = -1;
        const char *value = NULL;
        for (int k = 0; k < (int)(sizeof names / sizeof names[0]); k++) {
            size_t len = strlen(names[k]);
            if (strncmp(arg, names[k], len) != 0) continue;
            if (arg[len] == '=') {
                value = arg + len + 1;
            } else if (arg[len] == '\0' && i + 1 < argc) {
                value = argv[++i];
            } else if (arg[len] != '\0') {
                continue;
            }
            which = k;
            break;
        }
        if (which < 0 || !value) {
            fprintf(stderr, "%s: %s '%s' (try --help)\n", argv[0],
                    which < 0 ? "unknown option" : "missing value for", arg);
            return 1;
        }
        long l = 0;
        bool ok = true;
        switch (which) {
        case 0:
            ok = parse_long(value, 1, 100000000, &o->epochs);
            break;
        case 1:
            ok = parse_double(value, 1e-9, 100, &o->lr);
            break;
        case 2:
            ok = parse_long(value, 0, 2147483647, &l);
            o->seed = (unsigned long long)l;
            break;
        case 3:
            ok = parse_long(value, 1, 4096, &o->hidden);
            break;
        default:
            o->dot_path = value;
            break;
        }
        if (!ok) {
            fprintf(stderr, "%s: bad value '%s' for %s\n", argv[0], value, names[which]);
            return 1;
        }
    }
    return 0;
}

/* Two spirals, each turning 1.75 times around the origin, the second the first rotated by
 * half a turn; radius grows with the angle so the arms stay apart. Labels: 0 and 1.
 * xs: (N_POINTS, 2), ys: (N_POINTS, 1). */
static void make_spirals(tg_rng *rng, float *xs, float *ys) {
    const double pi = 3.14159265358979323846, noise = 0.02;
    for (int c = 0; c < 2; c++) {
        for (int i = 0; i < N_PER_CLASS; i++) {
            double u = (double)i / N_PER_CLASS;
            double r = 0.1 + 0.9 * u;
            double a = 3.5 * pi * u + c * pi;
            int k = c * N_PER_CLASS + i;
            xs[2 * k] = (float)(r * cos(a) + noise * tg_rng_normal(rng));
            xs[2 * k + 1] = (float)(r * sin(a) + noise * tg_rng_normal(rng));
            ys[k] = (float)c;
        }
    }
}

/* Shifts and scales each input coordinate to mean 0 and variance 1, so that the first layer's
 * tanh units start with pre-activations of order 1 (the raw spirals fill only [-1, 1]). */
static void standardize(float *xs) {
    for (int d = 0; d < 2; d++) {
        double sum = 0, sum_sq = 0;
        for (int k = 0; k < N_POINTS; k++) sum += xs[2 * k + d];
        double mean = sum / N_POINTS;
        for (int k = 0; k < N_POINTS; k++)
            sum_sq += (xs[2 * k + d] - mean) * (xs[2 * k + d] - mean);
        double std = sqrt(sum_sq / N_POINTS);
        for (int k = 0; k < N_POINTS; k++) xs[2 * k + d] = (float)((xs[2 * k + d] - mean) / std);
    }
}

typedef struct mlp {
    tg_tensor *w[N_LAYERS], *b[N_LAYERS];   /* w[l]: (in, out), b[l]: (out) */
    tg_tensor *vw[N_LAYERS], *vb[N_LAYERS]; /* momentum buffers, same shapes */
} mlp;

/* Parameters and momentum buffers in the store; weights N(0, 1/fan_in), which keeps tanh
 * units out of saturation at the start, and zero biases. */
static bool mlp_init(mlp *m, tg_store *s, tg_rng *rng, int64_t hidden) {
    const int64_t sizes[N_LAYERS + 1] = {2, hidden, hidden, 1};
    for (int l = 0; l < N_LAYERS; l++) {
        char name[32];
        int64_t in = sizes[l], out = sizes[l + 1];
        snprintf(name, sizeof name, "W%d", l + 1);
        m->w[l] = tg_store_param(s, name, TG_F32, TG_SHAPE(in, out));
        snprintf(name, sizeof name, "b%d", l + 1);
        m->b[l] = tg_store_param(s, name, TG_F32, TG_SHAPE(out));
        snprintf(name, sizeof name, "vW%d", l + 1);
        m->vw[l] = tg_store_buffer(s, name, TG_F32, TG_SHAPE(in, out));
        snprintf(name, sizeof name, "vb%d", l + 1);
        m->vb[l] = tg_store_buffer(s, name, TG_F32, TG_SHAPE(out));
        if (!m->w[l] || !m->b[l] || !m->vw[l] || !m->vb[l]) return false;
        if (tg_tensor_fill_normal(m->w[l], rng, 0.0, 1.0 / sqrt((double)in)) != TG_OK) return false;
    }
    return true;
}

/* Logits z: (N, 1) for inputs x: (N, 2). */
static tg_tensor *mlp_forward(tg_tape *t, const mlp *m, tg_tensor *x) {
    tg_tensor *h = x;
    for (int l = 0; l < N_LAYERS; l++) {
        char scope[16]; /* one scope per layer: a cluster in the DOT picture */
        snprintf(scope, sizeof scope, "layer%d", l + 1);
        tg_tape_push_scope(t, scope);
        h = tg_add(t, tg_matmul(t, h, m->w[l]), m->b[l]);
        if (l + 1 < N_LAYERS) h = tg_tanh(t, h);
        tg_tape_pop_scope(t);
    }
    return h;
}

/* Mean binary cross-entropy of sigmoid(z) against y, from the logits so that it never takes
 * the log of 0:  -y log s(z) - (1-y) log(1-s(z)) = max(z,0) + log(1 + e^-|z|) - z y,
 * with max(z,0) = relu(z) and |z| = relu(z) + relu(-z). */
static tg_tensor *bce_with_logits(tg_tape *t, tg_tensor *z, tg_tensor *y) {
    tg_tensor *pos = tg_relu(t, z);
    tg_tensor *abs_z = tg_add(t, pos, tg_relu(t, tg_neg(t, z)));
    tg_tensor *softplus_tail = tg_log(t, tg_add_scalar(t, tg_exp(t, tg_neg(t, abs_z)), 1.0));
    tg_tensor *per_point = tg_sub(t, tg_add(t, pos, softplus_tail), tg_mul(t, z, y));
    return tg_mean_all(t, per_point);
}

/* v = mu v + g;  p -= lr v.  Store tensors are contiguous f32. */
static void momentum_step(tg_tensor *p, tg_tensor *v, double lr, double mu) {
    float *pv = tg_tensor_data(p), *vv = tg_tensor_data(v);
    const float *gv = tg_tensor_data(tg_tensor_grad(p));
    int64_t n = tg_tensor_numel(p);
    for (int64_t i = 0; i < n; i++) {
        vv[i] = (float)(mu * vv[i] + gv[i]);
        pv[i] -= (float)(lr * vv[i]);
    }
}

/* Fraction of points whose logit has the sign of their label. z: (N, 1) f32. */
static double accuracy(const tg_tensor *z, const float *ys) {
    const float *zv = tg_tensor_data(z);
    int64_t n = tg_tensor_numel(z), right = 0;
    for (int64_t i = 0; i < n; i++) right += (zv[i] > 0) == (ys[i] > 0.5f);
    return (double)right / (double)n;
}

/* Runs training; returns the exit status. */
static int train(const options *o, tg_store *s, tg_tape *t) {
    static float xs[N_POINTS * 2], ys[N_POINTS];
    tg_rng rng;
    tg_rng_seed(&rng, o->seed);
    make_spirals(&rng, xs, ys);
    standardize(xs);
    mlp m;
    if (!mlp_init(&m, s, &rng, o->hidden)) {
        fprintf(stderr, "spirals: %s\n", tg_store_error(s));
        return 1;
    }
    printf("two spirals: %d points, MLP 2 -> %ld -> %ld -> 1 (%lld parameters), "
           "target %.0f%% training accuracy\n",
           N_POINTS, o->hidden, o->hidden, (long long)tg_store_n_param_elements(s),
           100 * TARGET_ACCURACY);
    for (long epoch = 1; epoch <= o->epochs; epoch++) {
        tg_tensor *x = tg_from_data(t, TG_F32, TG_SHAPE(N_POINTS, 2), xs);
        tg_tensor *y = tg_from_data(t, TG_F32, TG_SHAPE(N_POINTS, 1), ys);
        tg_tensor *z = mlp_forward(t, &m, x);
        tg_tape_push_scope(t, "loss");
        tg_tensor *loss = bce_with_logits(t, z, y);
        tg_tape_pop_scope(t);
        tg_store_zero_grad(s);
        if (tg_tape_backward(t, loss, NULL, 0) != TG_OK) {
            fprintf(stderr, "spirals: epoch %ld: %s\n", epoch, tg_tape_error(t));
            return 1;
        }
        if (epoch == 1 || epoch % o->report_every == 0 || epoch == o->epochs)
            printf("epoch %6ld  loss %.4f  accuracy %5.1f%%\n", epoch, tg_tensor_item(loss),
                   100 * accuracy(z, ys));
        if (epoch == o->epochs) {
            /* The last step's graph, gradient norms included, before the tape lets it go. */
            tg_tensor_set_name(x, "x");
            tg_tensor_set_name(y, "y");
            tg_tensor_set_name(z, "logits");
            tg_tensor_set_name(loss, "loss");
            tg_dot_options dot = {.show_grad_norms = true, .title = "two spirals: one step"};
            if (tg_tape_write_dot_path(t, o->dot_path, &dot) != TG_OK) {
                fprintf(stderr, "spirals: %s\n", tg_tape_error(t));
                return 1;
            }
        }
        for (int l = 0; l < N_LAYERS; l++) {
            momentum_step(m.w[l], m.vw[l], o->lr, o->momentum);
            momentum_step(m.b[l], m.vb[l], o->lr, o->momentum);
        }
        tg_tape_reset(t);
    }

    /* Final accuracy with the trained weights, without recording a graph. */
    tg_tape_set_grad_enabled(t, false);
    tg_tensor *z = mlp_forward(t, &m, tg_from_data(t, TG_F32, TG_SHAPE(N_POINTS, 2), xs));
    if (!z) {
        fprintf(stderr, "spirals: %s\n", tg_tape_error(t));
        return 1;
    }
    double acc = accuracy(z, ys);
    bool reached = acc >= TARGET_ACCURACY;
    printf("final training accuracy %.1f%% (target %.0f%%): %s\n", 100 * acc, 100 * TARGET_ACCURACY,
           reached ? "reached" : "NOT reached");
    printf("graph of the last step written to %s\n", o->dot_path);
    return reached ? 0 : 1;
}

int main(int argc, char **argv) {
    options o = {.epochs = 1000,
                 .lr = 0.2,
                 .momentum = 0.9,
                 .seed = 1,
                 .hidden = 32,
                 .report_every = 1,
                 .dot_path = "out/spirals.dot"};
    int parsed = parse_args(argc, argv, &o);
    if (parsed) return parsed == 2 ? 0 : 2;
    o.report_every = o.epochs >= 10 ? o.epochs / 10 : 1;

    tg_store *s = tg_store_new();
    tg_tape *t = tg_tape_new();
    int status = 1;
    if (!s || !t)
        fprintf(stderr, "spirals: out of memory\n");
    else
        status = train(&o, s, t);
    tg_tape_free(t);
    tg_store_free(s);
    return status;
}
