/* derivatives_bench.c: what tapegrad's Jacobian-vector and Hessian-vector products cost, for
 * bench/run-derivatives, which runs PyTorch's forward-mode and double-backward products on the
 * same function in the same run.
 *
 * The function: y = tanh(tanh(x W1) W2), x (B, N), W1 and W2 (N, N), in f32 (f64 with --f64).
 * The inputs are drawn once and copied in by every call. Cases, each the CPU time of one call
 * including the recording of the forward pass:
 *   forward   the forward pass alone, recorded (x requires a gradient);
 *   vjp       forward and one reverse sweep (the gradient with respect to x of <y, u>);
 *   jvp       forward and tg_jvp along v (the double-backward trick: two sweeps);
 *   hvp       forward of sum(y^2) and tg_hvp along v.
 * Prints one line per case: "name cpu_us=<median> best_us=<min> reps=<n>".
 *
 *     derivatives_bench [--batch B] [--width N] [--reps R] [--f64]
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <tapegrad.h>

static double cpu_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct bench {
    tg_tape *t;
    tg_tensor *w1, *w2; /* store parameters */
    tg_dtype dt;
    int64_t batch, width;
    tg_rng rng;
    void *xdata, *vdata; /* drawn once, so that the timed calls only copy them in */
} bench;

static tg_tensor *f(bench *b, tg_tensor *x) {
    tg_tape *t = b->t;
    return tg_tanh(t, tg_matmul(t, tg_tanh(t, tg_matmul(t, x, b->w1)), b->w2));
}

static tg_tensor *input(bench *b) {
    tg_tensor *x = tg_from_data(b->t, b->dt, TG_SHAPE(b->batch, b->width), b->xdata);
    tg_tensor_set_requires_grad(x, true);
    return x;
}

/* One call of the case; returns false after an error (printed). */
static bool run_case(bench *b, const char *name) {
    tg_tape *t = b->t;
    tg_tensor *x = input(b), *out = NULL;
    tg_tensor *v = tg_from_data(t, b->dt, TG_SHAPE(b->batch, b->width), b->vdata);
    if (strcmp(name, "forward") == 0) {
        out = f(b, x);
    } else if (strcmp(name, "vjp") == 0) {
        tg_tensor *y = f(b, x);
        tg_tape_grad(t, y, v, 1, &x, &out, 0);
    } else if (strcmp(name, "jvp") == 0) {
        tg_jvp(t, f(b, x), 1, &x, &v, &out, 0);
    } else {
        tg_tensor *y = f(b, x);
        tg_hvp(t, tg_sum_all(t, tg_mul(t, y, y)), 1, &x, &v, &out, 0);
    }
    bool ok = out && tg_tape_status(t) == TG_OK;
    if (!ok) fprintf(stderr, "%s: %s\n", name, tg_tape_error(t));
    tg_tape_reset(t);
    return ok;
}

int main(int argc, char **argv) {
    bench b = {.dt = TG_F32, .batch = 64, .width = 256};
    int reps = 200;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--f64") == 0)
            b.dt = TG_F64;
        else if (i + 1 < argc && strcmp(argv[i], "--batch") == 0)
            b.batch = atol(argv[++i]);
        else if (i + 1 < argc && strcmp(argv[i], "--width") == 0)
            b.width = atol(argv[++i]);
        else if (i + 1 < argc && strcmp(argv[i], "--reps") == 0)
            reps = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: %s [--batch B] [--width N] [--reps R] [--f64]\n", argv[0]);
            return 2;
        }
    }
    if (reps < 1 || b.batch < 1 || b.width < 1) return 2;
    tg_set_threads(1);
    tg_rng_seed(&b.rng, 14);
    tg_store *s = tg_store_new();
    b.w1 = tg_store_param(s, "w1", b.dt, TG_SHAPE(b.width, b.width));
    b.w2 = tg_store_param(s, "w2", b.dt, TG_SHAPE(b.width, b.width));
    tg_tensor_fill_normal(b.w1, &b.rng, 0.0, 1.0 / sqrt((double)b.width));
    tg_tensor_fill_normal(b.w2, &b.rng, 0.0, 1.0 / sqrt((double)b.width));
    b.t = tg_tape_new();
    size_t bytes = (size_t)(b.batch * b.width) * tg_dtype_size(b.dt);
    b.xdata = malloc(bytes);
    b.vdata = malloc(bytes);
    if (!b.xdata || !b.vdata) return 1;
    tg_tensor_copy_out(tg_normal(b.t, &b.rng, b.dt, TG_SHAPE(b.batch, b.width), 0.0, 1.0), b.dt,
                       b.xdata);
    tg_tensor_copy_out(tg_normal(b.t, &b.rng, b.dt, TG_SHAPE(b.batch, b.width), 0.0, 1.0), b.dt,
                       b.vdata);
    tg_tape_reset(b.t);
    printf("# tapegrad derivatives: batch %lld width %lld %s, 1 thread, level %s\n",
           (long long)b.batch, (long long)b.width, tg_dtype_name(b.dt),
           tg_cpu_level_name(tg_get_cpu_level()));
    const char *cases[] = {"forward", "vjp", "jvp", "hvp"};
    double *times = malloc((size_t)reps * sizeof *times);
    if (!times) return 1;
    for (int c = 0; c < 4; c++) {
        for (int r = 0; r < 3; r++)
            if (!run_case(&b, cases[c])) return 1; /* warm-up: the arena reaches its size */
        for (int r = 0; r < reps; r++) {
            double t0 = cpu_seconds();
            if (!run_case(&b, cases[c])) return 1;
            times[r] = cpu_seconds() - t0;
        }
        qsort(times, (size_t)reps, sizeof *times, cmp_double);
        printf("%s cpu_us=%.1f best_us=%.1f reps=%d\n", cases[c], 1e6 * times[reps / 2],
               1e6 * times[0], reps);
    }
    free(times);
    free(b.xdata);
    free(b.vdata);
    tg_tape_free(b.t);
    tg_store_free(s);
    return 0;
}
