/* fc_bench.h: what the fully connected inference benchmarks (sparse_bench.c, binary_bench.c)
 * share: the two networks' widths, the command line they have in common, the fixed input batch,
 * raw f32 dumps for the PyTorch side, and the timing of one forward pass (warm-up with a
 * checksum, then repeats until a count and a time are both reached, medians of wall and CPU
 * time). Each benchmark is compiled as one file by its bench/run-* script, so this header holds
 * the functions themselves. */
#ifndef TG_BENCH_FC_BENCH_H
#define TG_BENCH_FC_BENCH_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <tapegrad.h>

#define FC_MAX_LIST 16
#define FC_MAX_REPS 100000

static double fc_now(clockid_t c) {
    struct timespec ts;
    clock_gettime(c, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int fc_cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef struct fc_model {
    const char *name;
    int64_t widths[4];
} fc_model;

/* The MLP 784-300-100-10 and LeNet-5's fully connected part 400-120-84-10. */
static const fc_model fc_models[] = {{"mlp", {784, 300, 100, 10}},
                                     {"lenet_fc", {400, 120, 84, 10}}};
enum { FC_N_MODELS = sizeof fc_models / sizeof fc_models[0] };

/* "a,b,c" into out (at most FC_MAX_LIST numbers); the count, or -1 when one is not a number. */
static int fc_parse_list(const char *s, double *out) {
    int n = 0;
    while (*s && n < FC_MAX_LIST) {
        char *end;
        out[n++] = strtod(s, &end);
        if (end == s) return -1;
        s = *end == ',' ? end + 1 : end;
    }
    return n;
}

/* The options every benchmark takes; `list` is its own extra list option (NULL for none). */
typedef struct fc_opts {
    int threads, reps;
    double min_time;
    tg_cpu_level level;
    double batches[FC_MAX_LIST];
    int n_batches;
    const char *dump_dir;
    const char *list_option; /* e.g. "--sparsities" */
    double list[FC_MAX_LIST];
    int n_list;
} fc_opts;

/* Parses argv into o (whose defaults and list_option the caller set); on an unknown option or
 * a bad value prints `usage` and returns false. */
static bool fc_parse_opts(int argc, char **argv, fc_opts *o, const char *usage) {
    for (int i = 1; i < argc; i++) {
        bool more = i + 1 < argc;
        if (strcmp(argv[i], "--threads") == 0 && more)
            o->threads = atoi(argv[++i]);
        else if (strcmp(argv[i], "--reps") == 0 && more)
            o->reps = atoi(argv[++i]);
        else if (strcmp(argv[i], "--min-time") == 0 && more)
            o->min_time = atof(argv[++i]);
        else if (strcmp(argv[i], "--batches") == 0 && more)
            o->n_batches = fc_parse_list(argv[++i], o->batches);
        else if (o->list_option && strcmp(argv[i], o->list_option) == 0 && more)
            o->n_list = fc_parse_list(argv[++i], o->list);
        else if (strcmp(argv[i], "--dump") == 0 && more)
            o->dump_dir = argv[++i];
        else if (strcmp(argv[i], "--level") == 0 && more) {
            const char *l = argv[++i];
            o->level = strcmp(l, "portable") == 0 ? TG_CPU_PORTABLE
                       : strcmp(l, "avx2") == 0   ? TG_CPU_AVX2
                       : strcmp(l, "neon") == 0   ? TG_CPU_NEON
                                                  : TG_CPU_AVX512;
        } else {
            fprintf(stderr, "%s\n", usage);
            return false;
        }
    }
    if (o->n_batches < 1 || o->reps < 1 || (o->list_option && o->n_list < 1)) {
        fprintf(stderr, "%s\n", usage);
        return false;
    }
    return true;
}

/* The input batch, in * B values uniform(-1, 1) from seed 7 (rows or columns: the same
 * numbers). */
static void fc_make_input(int64_t in, int64_t B, float *x) {
    tg_rng rng;
    tg_rng_seed(&rng, 7);
    for (int64_t e = 0; e < in * B; e++) x[e] = (float)(2 * tg_rng_uniform(&rng) - 1);
}

/* n floats to the file at path, raw; 1 with a message when it cannot. */
static int fc_write_f32(const char *path, const float *v, int64_t n) {
    FILE *f = fopen(path, "wb");
    bool ok = f && fwrite(v, sizeof *v, (size_t)n, f) == (size_t)n;
    if (f && fclose(f)) ok = false;
    if (!ok) {
        fprintf(stderr, "cannot write %s\n", path);
        return 1;
    }
    return 0;
}

/* The input batch of each size in o's batches for the first layer of model m, to
 * DIR/x-IN-B.f32. */
static int fc_dump_inputs(const fc_opts *o, const fc_model *m) {
    for (int bi = 0; bi < o->n_batches; bi++) {
        int64_t in = m->widths[0], B = (int64_t)o->batches[bi];
        float *x = malloc((size_t)(in * B) * sizeof *x);
        if (!x) return 1;
        fc_make_input(in, B, x);
        char path[4096];
        snprintf(path, sizeof path, "%s/x-%lld-%lld.f32", o->dump_dir, (long long)in, (long long)B);
        int bad = fc_write_f32(path, x, in * B);
        free(x);
        if (bad) return 1;
    }
    return 0;
}

/* One forward pass of variant `impl` on the tape; NULL on an error (the tape has it). */
typedef tg_tensor *(*fc_forward_fn)(tg_tape *t, const void *net, tg_tensor *x, int impl);

typedef struct fc_timing {
    int n;                    /* passes timed */
    double median, best, cpu; /* seconds: wall median and best, CPU median */
    double check;             /* the sum of the output's elements */
} fc_timing;

/* Three warm-up passes (the last one's output summed into check), then passes until o->reps
 * and o->min_time are both reached (at most FC_MAX_REPS), the tape reset after each. The
 * scratch holds 2 FC_MAX_REPS doubles. False when a pass fails (its message printed). */
static bool fc_time_forward(tg_tape *t, fc_forward_fn fwd, const void *net, tg_tensor *x, int impl,
                            const fc_opts *o, double *scratch, fc_timing *out) {
    double *times = scratch, *cpu = scratch + FC_MAX_REPS;
    out->check = 0;
    for (int w = 0; w < 3; w++) {
        tg_tensor *y = fwd(t, net, x, impl);
        if (!y) {
            fprintf(stderr, "forward failed: %s\n", tg_tape_error(t));
            return false;
        }
        out->check = 0;
        for (int64_t e = 0; e < tg_tensor_numel(y); e++) out->check += tg_tensor_get(y, e);
        tg_tape_reset(t);
    }
    int n = 0;
    double start = fc_now(CLOCK_MONOTONIC);
    while ((n < o->reps || fc_now(CLOCK_MONOTONIC) - start < o->min_time) && n < FC_MAX_REPS) {
        double t0 = fc_now(CLOCK_MONOTONIC), c0 = fc_now(CLOCK_PROCESS_CPUTIME_ID);
        fwd(t, net, x, impl);
        cpu[n] = fc_now(CLOCK_PROCESS_CPUTIME_ID) - c0;
        times[n++] = fc_now(CLOCK_MONOTONIC) - t0;
        tg_tape_reset(t);
    }
    qsort(times, (size_t)n, sizeof *times, fc_cmp_double);
    qsort(cpu, (size_t)n, sizeof *cpu, fc_cmp_double);
    out->n = n;
    out->median = times[n / 2];
    out->best = times[0];
    out->cpu = cpu[n / 2];
    return true;
}

#endif
