/* gemm_bench.c: times tg_matmul through the public API, one line per shape, for bench/run.
 *
 * Each shape is M x K x N (A: M x K, B: K x N, both row-major f32 or f64 parameters in a store;
 * C on a tape in no-grad mode, reset after every call, so the timing is the op as a user calls
 * it). After warm-up calls it repeats until both --reps calls and --min-time seconds are done
 * and prints the median, best and GFLOP/s of the median. Never part of the test run. A shape
 * may end in :XY, X and Y each n or t: t stores that operand transposed (A as K x M, B as
 * N x K) and multiplies a transposed view of it, as the backward products of a layer do.
 *
 *   gemm_bench [--threads T] [--level portable|avx2|avx512] [--f64] [--reps R]
 *              [--min-time S] MxKxN[:XY] ...
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <tapegrad.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void usage(void) {
    fprintf(stderr, "usage: gemm_bench [--threads T] [--level L] [--f64] [--reps R] "
                    "[--min-time S] MxKxN[:XY] ...\n");
    exit(2);
}

int main(int argc, char **argv) {
    int threads = 1, reps = 5;
    double min_time = 0.3;
    tg_dtype dtype = TG_F32;
    tg_cpu_level level = tg_cpu_best_level();
    int first_shape = argc;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc)
            reps = atoi(argv[++i]);
        else if (strcmp(argv[i], "--min-time") == 0 && i + 1 < argc)
            min_time = atof(argv[++i]);
        else if (strcmp(argv[i], "--f64") == 0)
            dtype = TG_F64;
        else if (strcmp(argv[i], "--level") == 0 && i + 1 < argc) {
            const char *l = argv[++i];
            level = strcmp(l, "portable") == 0 ? TG_CPU_PORTABLE
                    : strcmp(l, "avx2") == 0   ? TG_CPU_AVX2
                                               : TG_CPU_AVX512;
        } else if (argv[i][0] == '-')
            usage();
        else {
            first_shape = i;
            break;
        }
    }
    if (first_shape == argc || reps < 1) usage();
    tg_set_threads(threads);
    level = tg_set_cpu_level(level);
    printf("# tapegrad gemm_bench: %s, level %s, %d threads\n", tg_dtype_name(dtype),
           tg_cpu_level_name(level), tg_get_threads());

    tg_rng rng;
    tg_rng_seed(&rng, 1);
    for (int s = first_shape; s < argc; s++) {
        long long M, K, N;
        char ta = 'n', tb = 'n';
        int got = sscanf(argv[s], "%lldx%lldx%lld:%c%c", &M, &K, &N, &ta, &tb);
        if ((got != 3 && got != 5) || M < 1 || K < 1 || N < 1 || (ta != 'n' && ta != 't') ||
            (tb != 'n' && tb != 't'))
            usage();
        tg_store *st = tg_store_new();
        tg_tape *t = tg_tape_new();
        long long ar = ta == 't' ? K : M, ac = ta == 't' ? M : K;
        long long br = tb == 't' ? N : K, bc = tb == 't' ? K : N;
        tg_tensor *a = tg_store_buffer(st, "a", dtype, TG_SHAPE(ar, ac));
        tg_tensor *b = tg_store_buffer(st, "b", dtype, TG_SHAPE(br, bc));
        if (!a || !b || !t) {
            fprintf(stderr, "gemm_bench: out of memory for %s\n", argv[s]);
            return 1;
        }
        tg_tensor_fill_uniform(a, &rng, -1, 1);
        tg_tensor_fill_uniform(b, &rng, -1, 1);
        tg_tape_set_grad_enabled(t, false);
        /* Transposed views, made once: the tape is reset after every product, so these live on
         * a tape of their own. */
        tg_tape *views = tg_tape_new();
        if (!views) return 1;
        tg_tape_set_grad_enabled(views, false);
        if (ta == 't') a = tg_transpose(views, a, 0, 1);
        if (tb == 't') b = tg_transpose(views, b, 0, 1);
        if (!a || !b) {
            fprintf(stderr, "gemm_bench: %s\n", tg_tape_error(views));
            return 1;
        }
        for (int w = 0; w < 2; w++) { /* warm-up: pool threads, scratch, caches, clocks */
            if (!tg_matmul(t, a, b)) {
                fprintf(stderr, "gemm_bench: %s\n", tg_tape_error(t));
                return 1;
            }
            tg_tape_reset(t);
        }
        int cap = 64, n = 0;
        double *times = malloc((size_t)cap * sizeof *times), start = now();
        while (n < reps || (now() - start < min_time && n < 100000)) {
            if (n == cap) times = realloc(times, (size_t)(cap *= 2) * sizeof *times);
            double t0 = now();
            tg_tensor *c = tg_matmul(t, a, b);
            times[n++] = now() - t0;
            if (!c) return 1;
            tg_tape_reset(t);
        }
        qsort(times, (size_t)n, sizeof *times, cmp_double);
        double flop = 2.0 * (double)M * (double)N * (double)K, med = times[n / 2];
        printf("%lldx%lldx%lld%s threads=%d reps=%d median_s=%.9f best_s=%.9f gflops=%.2f\n", M, K,
               N, got == 5 ? argv[s] + strcspn(argv[s], ":") : "", tg_get_threads(), n, med,
               times[0], flop / med * 1e-9);
        fflush(stdout);
        free(times);
        tg_tape_free(t);
        tg_tape_free(views);
        tg_store_free(st);
    }
    return 0;
}
