/* split_bench.c: what splitting a tensor into gates costs in a GRU training step, to decide
 * how tg_split / tg_chunk are built (one slice view per piece, or one node with several
 * outputs, which the sweep does not have). Never part of the test run.
 *
 *   split_bench [--rounds R] [--batch B] [--input I] [--hidden H] [T ...]   (default T: 16 64 256)
 *
 * For each sequence length T it times, alternating the variants round by round, one training
 * step (forward over T steps, sum of squares of the last state, backward, tape reset) of a GRU
 * with B, I, H (f32, one thread) written four ways, all from one input product (T, B, 3H):
 *   chunk   tg_chunk of the product into its T steps (squeezed), tg_chunk of each into gates;
 *   select  tg_select of each step's rows, tg_chunk for the gates;
 *   slices  what a user wrote before: slice + reshape per step, six tg_slice for the gates;
 *   nn      the library's tg_gru_cell_unroll (its own halving step split and gate slices).
 * The variants must agree on the loss (to 1e-4, f32) or the run fails. Times are CPU time of
 * this process (getrusage user + system), medians over the rounds. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <tapegrad.h>

static double cpu_now(void) {
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (double)u.ru_utime.tv_sec + 1e-6 * (double)u.ru_utime.tv_usec +
           (double)u.ru_stime.tv_sec + 1e-6 * (double)u.ru_stime.tv_usec;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return v[n / 2];
}

static void die(const char *what, const char *msg) {
    fprintf(stderr, "split_bench: %s: %s\n", what, msg);
    exit(1);
}

typedef enum variant { V_CHUNK, V_SELECT, V_SLICES, V_NN, N_VARIANTS } variant;
static const char *const variant_name[N_VARIANTS] = {"chunk", "select", "slices", "nn"};

typedef struct setup {
    int64_t T, B, I, H;
    tg_gru_cell cell;
    tg_tensor *x; /* (T, B, I), a store buffer */
} setup;

/* One step of the GRU from its input rows gi (B, 3H): PyTorch's GRUCell arithmetic. */
static tg_tensor *gru_gates(tg_tape *t, const setup *s, tg_tensor *const *gi, tg_tensor *h,
                            bool use_chunk) {
    tg_tensor *gh_all = tg_linear(t, h, s->cell.weight_hh, s->cell.bias_hh), *gh[3];
    if (use_chunk) {
        if (tg_chunk(t, gh_all, -1, 3, gh) != TG_OK) return NULL;
    } else {
        for (int k = 0; k < 3; k++) gh[k] = tg_slice(t, gh_all, 1, k * s->H, (k + 1) * s->H, 1);
    }
    tg_tensor *r = tg_sigmoid(t, tg_add(t, gi[0], gh[0]));
    tg_tensor *z = tg_sigmoid(t, tg_add(t, gi[1], gh[1]));
    tg_tensor *n = tg_tanh(t, tg_add(t, gi[2], tg_mul(t, r, gh[2])));
    return tg_add(t, n, tg_mul(t, z, tg_sub(t, h, n)));
}

static tg_tensor *forward(tg_tape *t, const setup *s, variant v) {
    if (v == V_NN) {
        tg_tensor *h_n = NULL;
        return tg_gru_cell_unroll(t, &s->cell, s->x, NULL, &h_n) ? h_n : NULL;
    }
    tg_tensor *flat = tg_reshape(t, s->x, TG_SHAPE(s->T * s->B, s->I));
    tg_tensor *gx = tg_reshape(t, tg_linear(t, flat, s->cell.weight_ih, s->cell.bias_ih),
                               TG_SHAPE(s->T, s->B, 3 * s->H));
    tg_tensor *h = tg_zeros(t, TG_F32, TG_SHAPE(s->B, s->H)), **rows = NULL;
    if (v == V_CHUNK) { /* every step's rows at once: T pieces cut by halving */
        rows = malloc((size_t)s->T * sizeof *rows);
        if (!rows) die("rows", "out of memory");
        if (tg_chunk(t, gx, 0, (int)s->T, rows) != TG_OK) die("chunk", tg_tape_error(t));
    }
    for (int64_t k = 0; k < s->T && h; k++) {
        tg_tensor *gi[3];
        if (v == V_CHUNK) {
            if (tg_chunk(t, tg_squeeze(t, rows[k], 0), -1, 3, gi) != TG_OK) return NULL;
        } else if (v == V_SELECT) {
            if (tg_chunk(t, tg_select(t, gx, 0, k), -1, 3, gi) != TG_OK) return NULL;
        } else {
            tg_tensor *row = tg_reshape(t, tg_slice(t, gx, 0, k, k + 1, 1),
                                        TG_SHAPE(s->B, 3 * s->H));
            for (int g = 0; g < 3; g++) gi[g] = tg_slice(t, row, 1, g * s->H, (g + 1) * s->H, 1);
        }
        h = gru_gates(t, s, gi, h, v != V_SLICES);
    }
    free(rows);
    return h;
}

/* One training step's CPU seconds; the final state's checksum into *sum (for the variants'
 * agreement). */
static double step(tg_tape *t, tg_store *st, const setup *s, variant v, double *sum) {
    double t0 = cpu_now();
    tg_tensor *h = forward(t, s, v);
    tg_tensor *loss = tg_sum_all(t, tg_mul(t, h, h));
    if (!loss || tg_tape_backward(t, loss, NULL, 0) != TG_OK) die(variant_name[v], tg_tape_error(t));
    double t1 = cpu_now();
    *sum = tg_tensor_get(loss, 0);
    tg_store_zero_grad(st);
    tg_tape_reset(t);
    return t1 - t0;
}

static void run(int64_t T, int64_t B, int64_t I, int64_t H, int rounds) {
    setup s = {T, B, I, H, {0}, NULL};
    tg_store *st = tg_store_new();
    tg_tape *t = tg_tape_new();
    tg_rng rng;
    tg_error err = {0};
    tg_rng_seed(&rng, 16);
    if (!st || !t) die("setup", "out of memory");
    if (tg_gru_cell_init(&s.cell, st, "gru", I, H, true, TG_F32, &rng, &err) != TG_OK)
        die("gru", err.message);
    s.x = tg_store_buffer(st, "x", TG_F32, TG_SHAPE(T, B, I));
    if (!s.x) die("x", "out of memory");
    float *xd = tg_tensor_data(s.x);
    for (int64_t i = 0; i < T * B * I; i++) xd[i] = (float)(tg_rng_uniform(&rng) * 2.0 - 1.0);
    double *tv[N_VARIANTS], sums[N_VARIANTS];
    for (int v = 0; v < N_VARIANTS; v++) {
        tv[v] = malloc((size_t)rounds * sizeof **tv);
        if (!tv[v]) die("timings", "out of memory");
    }
    for (int v = 0; v < N_VARIANTS; v++) step(t, st, &s, (variant)v, &sums[v]); /* warm up */
    for (int r = 0; r < rounds; r++) {
        for (int v = 0; v < N_VARIANTS; v++) tv[v][r] = step(t, st, &s, (variant)v, &sums[v]);
    }
    double med[N_VARIANTS];
    for (int v = 0; v < N_VARIANTS; v++) med[v] = median(tv[v], rounds);
    for (int v = 1; v < N_VARIANTS; v++)
        if (sums[v] != sums[0] && !(sums[v] - sums[0] < 1e-4 * sums[0] &&
                                    sums[0] - sums[v] < 1e-4 * sums[0]))
            die(variant_name[v], "the variants disagree on the loss");
    printf("T=%-4lld chunk %8.3f ms  select %8.3f ms  slices %8.3f ms  nn %8.3f ms   "
           "select/chunk %.2f  slices/chunk %.2f  nn/chunk %.2f\n", (long long)T,
           1e3 * med[V_CHUNK], 1e3 * med[V_SELECT], 1e3 * med[V_SLICES], 1e3 * med[V_NN],
           med[V_SELECT] / med[V_CHUNK], med[V_SLICES] / med[V_CHUNK], med[V_NN] / med[V_CHUNK]);
    for (int v = 0; v < N_VARIANTS; v++) free(tv[v]);
    tg_tape_free(t);
    tg_store_free(st);
}

int main(int argc, char **argv) {
    int rounds = 15;
    int64_t B = 32, I = 64, H = 128, Ts[16];
    int n_T = 0;
    for (int i = 1; i < argc; i++) {
        if (i + 1 < argc && strcmp(argv[i], "--rounds") == 0)
            rounds = atoi(argv[++i]);
        else if (i + 1 < argc && strcmp(argv[i], "--batch") == 0)
            B = atoll(argv[++i]);
        else if (i + 1 < argc && strcmp(argv[i], "--input") == 0)
            I = atoll(argv[++i]);
        else if (i + 1 < argc && strcmp(argv[i], "--hidden") == 0)
            H = atoll(argv[++i]);
        else if (argv[i][0] != '-' && n_T < 16)
            Ts[n_T++] = atoll(argv[i]);
        else
            die("usage", "split_bench [--rounds R] [--batch B] [--input I] [--hidden H] [T ...]");
    }
    if (rounds < 1 || B < 1 || I < 1 || H < 1) die("usage", "sizes and rounds must be >= 1");
    if (n_T == 0) {
        Ts[0] = 16, Ts[1] = 64, Ts[2] = 256;
        n_T = 3;
    }
    tg_set_threads(1);
    printf("# split_bench: GRU B=%lld I=%lld H=%lld, f32, 1 thread, %s kernels, %d rounds, "
           "CPU time medians\n", (long long)B, (long long)I, (long long)H,
           tg_cpu_level_name(tg_get_cpu_level()), rounds);
    for (int k = 0; k < n_T; k++) {
        if (Ts[k] < 1) die("usage", "T must be >= 1");
        run(Ts[k], B, I, H, rounds);
    }
    return 0;
}
