/* tape_bench.c: what the tape costs per recorded op as the graph grows, for bench/tape_bench.
 *
 * The chain y = tanh(y) * w on 16-element f32 tensors (tanh and mul alternating, then one sum),
 * recorded and swept back at each size given (1k to 1M ops): per op, the forward time with
 * recording, the backward time, and the bytes the tape's arena handed out (its own accounting,
 * tg_tape_bytes_used, over forward and backward). Times are CPU time of this process
 * (CLOCK_PROCESS_CPUTIME_ID), so that other processes on a shared machine count less; each
 * size is repeated until it has run `reps` times and for at least `min_time` seconds, and the
 * median is printed. bench/peers/tape_peers.py prints the same lines for PyTorch.
 *
 *   tape_bench [--reps R] [--min-time S] N_OPS ...
 * prints, per size:  tape n_ops=N reps=R fwd_s=... bwd_s=... bytes_per_op=...
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

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return v[n / 2];
}

static void die(const char *what, const char *msg) {
    fprintf(stderr, "tape_bench: %s: %s\n", what, msg);
    exit(1);
}

enum { MAX_REPS = 1000 };

static void run(long n_ops, int reps, double min_time) {
    tg_store *s = tg_store_new();
    tg_tape *t = tg_tape_new();
    tg_rng rng;
    tg_rng_seed(&rng, 4);
    tg_tensor *x = tg_store_param(s, "x", TG_F32, TG_SHAPE(16));
    tg_tensor *w = tg_store_param(s, "w", TG_F32, TG_SHAPE(16));
    if (!s || !t || !x || !w) die("setup", "out of memory");
    tg_tensor_fill_uniform(x, &rng, -1, 1);
    tg_tensor_fill_uniform(w, &rng, 0.5, 1.5);
    double fwd[MAX_REPS], bwd[MAX_REPS], bytes = 0;
    int n = 0;
    double start = cpu_now();
    /* One warm-up: the first pass grows the arena to its size, later ones reuse it. */
    for (int it = 0; n < MAX_REPS && (n < reps || cpu_now() - start < min_time); it++) {
        tg_tape_reset(t);
        size_t before = tg_tape_bytes_used(t);
        double t0 = cpu_now();
        tg_tensor *y = x;
        for (long i = 0; i < n_ops / 2; i++) y = tg_mul(t, tg_tanh(t, y), w);
        tg_tensor *loss = tg_sum_all(t, y);
        double t1 = cpu_now();
        if (!loss || tg_tape_backward(t, loss, NULL, 0) != TG_OK) die("chain", tg_tape_error(t));
        double t2 = cpu_now();
        bytes = (double)(tg_tape_bytes_used(t) - before) / (double)n_ops;
        tg_store_zero_grad(s);
        if (it == 0) continue;
        fwd[n] = (t1 - t0) / (double)n_ops;
        bwd[n] = (t2 - t1) / (double)n_ops;
        n++;
    }
    printf("tape n_ops=%ld reps=%d fwd_s=%.12f bwd_s=%.12f bytes_per_op=%.1f\n", n_ops, n,
           median(fwd, n), median(bwd, n), bytes);
    fflush(stdout);
    tg_tape_free(t);
    tg_store_free(s);
}

int main(int argc, char **argv) {
    int reps = 5;
    double min_time = 0.5;
    int first = 1;
    for (; first < argc && argv[first][0] == '-'; first += 2) {
        if (first + 1 >= argc) die(argv[first], "needs a value");
        if (strcmp(argv[first], "--reps") == 0)
            reps = atoi(argv[first + 1]);
        else if (strcmp(argv[first], "--min-time") == 0)
            min_time = atof(argv[first + 1]);
        else
            die(argv[first], "unknown option (usage: tape_bench [--reps R] [--min-time S] N ...)");
    }
    if (reps < 1 || reps > MAX_REPS) die("--reps", "must be 1 to 1000");
    if (first >= argc) die("usage", "tape_bench [--reps R] [--min-time S] N_OPS ...");
    printf("# tapegrad tape_bench: f32, level %s, %d threads\n",
           tg_cpu_level_name(tg_get_cpu_level()), tg_get_threads());
    for (int i = first; i < argc; i++) {
        long n = atol(argv[i]);
        if (n < 2 || n > 100000000) die(argv[i], "ops must be 2 to 1e8");
        run(n, reps, min_time);
    }
    return 0;
}
