/* sparse_bench.c: inference of pruned fully connected networks, dense (tg_matmul) against CSR
 * (tg_spmm), through the public API, for bench/run-sparse.
 *
 * The networks are the MLP 784-300-100-10 and LeNet-5's fully connected part 400-120-84-10,
 * with weights drawn from a fixed seed and pruned by magnitude, layer by layer, to each
 * sparsity. Activations are kept as columns (features, batch), so each layer is
 * relu(W h + b), and the CSR form multiplies the same matrices. Each forward runs on a tape in
 * no-grad mode, reset after every call; after warm-up it repeats until --reps calls and
 * --min-time seconds are done and prints the median and best time, the model's bytes in each
 * form and a checksum of the output, so bench/run-sparse can check that every side computed the
 * same thing. --dump DIR writes the pruned matrices and biases (raw f32, row-major) for the
 * PyTorch side and exits. Never part of the test run.
 *
 *   sparse_bench [--threads T] [--level portable|avx2|avx512] [--reps R] [--min-time S]
 *                [--sparsities 0,50,...] [--batches 1,64] [--dump DIR]
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>

#include "fc_bench.h"

/* One pruned network in both forms, its weights in a store. */
typedef struct net {
    tg_tensor *w[3], *b[3], *v[3];
    tg_csr *a[3];
    size_t dense_bytes, csr_bytes;
} net;

/* Layer l's weights for model m: uniform(-1, 1) / sqrt(fan_in) from seed 100 m + l, with the
 * fraction `sparsity` of smallest magnitudes set to zero. The bias from seed 200 + 100 m + l. */
static void make_layer(const fc_model *m, int l, double sparsity, float *w, float *b) {
    int64_t in = m->widths[l], out = m->widths[l + 1], n = in * out;
    tg_rng rng;
    tg_rng_seed(&rng, (uint64_t)(100 * (m - fc_models) + l));
    double scale = 1.0 / sqrt((double)in);
    for (int64_t e = 0; e < n; e++) w[e] = (float)((2 * tg_rng_uniform(&rng) - 1) * scale);
    int64_t k = (int64_t)floor(sparsity * (double)n + 0.5);
    if (k > 0) {
        double *mag = malloc((size_t)n * sizeof *mag);
        if (!mag) exit(1);
        for (int64_t e = 0; e < n; e++) mag[e] = fabs(w[e]);
        qsort(mag, (size_t)n, sizeof *mag, fc_cmp_double);
        double cut = mag[k - 1];
        int64_t zeroed = 0;
        for (int64_t e = 0; e < n && zeroed < k; e++)
            if (fabs(w[e]) <= cut) {
                w[e] = 0.0f;
                zeroed++;
            }
        free(mag);
    }
    tg_rng_seed(&rng, (uint64_t)(200 + 100 * (m - fc_models) + l));
    for (int64_t o = 0; o < out; o++) b[o] = (float)(0.1 * (2 * tg_rng_uniform(&rng) - 1));
}

static int net_make(net *nt, tg_store *s, const fc_model *m, double sparsity) {
    memset(nt, 0, sizeof *nt);
    for (int l = 0; l < 3; l++) {
        int64_t in = m->widths[l], out = m->widths[l + 1];
        char name[32];
        snprintf(name, sizeof name, "w%d", l);
        nt->w[l] = tg_store_buffer(s, name, TG_F32, 2, (int64_t[]){out, in});
        snprintf(name, sizeof name, "b%d", l);
        nt->b[l] = tg_store_buffer(s, name, TG_F32, 2, (int64_t[]){out, 1});
        if (!nt->w[l] || !nt->b[l]) return 1;
        make_layer(m, l, sparsity, tg_tensor_data(nt->w[l]), tg_tensor_data(nt->b[l]));
        tg_error err = {0};
        nt->a[l] = tg_csr_from_dense(nt->w[l], 0.0, &err);
        if (!nt->a[l]) {
            fprintf(stderr, "sparse_bench: %s\n", err.message);
            return 1;
        }
        snprintf(name, sizeof name, "v%d", l);
        nt->v[l] = tg_store_buffer(s, name, TG_F32, 1, (int64_t[]){tg_csr_nnz(nt->a[l])});
        if (!nt->v[l] || tg_csr_gather(nt->a[l], nt->w[l], nt->v[l], &err) != TG_OK) return 1;
        nt->dense_bytes += (size_t)(in * out + out) * sizeof(float);
        nt->csr_bytes += tg_csr_bytes(nt->a[l], TG_F32) + (size_t)out * sizeof(float);
    }
    return 0;
}

static void net_free(net *nt) {
    for (int l = 0; l < 3; l++) tg_csr_free(nt->a[l]);
}

/* The network's output (10, B) from x (in, B), by the dense product (impl 0) or CSR (1). */
static tg_tensor *forward(tg_tape *t, const void *net_, tg_tensor *x, int sparse) {
    const net *nt = net_;
    tg_tensor *h = x;
    for (int l = 0; l < 3; l++) {
        tg_tensor *z = sparse ? tg_spmm(t, nt->a[l], nt->v[l], h) : tg_matmul(t, nt->w[l], h);
        h = tg_add(t, z, nt->b[l]);
        if (l < 2) h = tg_relu(t, h);
    }
    return h;
}

static int dump(const fc_opts *o) {
    for (int mi = 0; mi < FC_N_MODELS; mi++)
        if (fc_dump_inputs(o, &fc_models[mi])) return 1;
    for (int mi = 0; mi < FC_N_MODELS; mi++)
        for (int si = 0; si < o->n_list; si++)
            for (int l = 0; l < 3; l++) {
                const fc_model *m = &fc_models[mi];
                int64_t in = m->widths[l], out = m->widths[l + 1];
                float *w = malloc((size_t)(in * out) * sizeof *w),
                      *b = malloc((size_t)out * sizeof *b);
                if (!w || !b) return 1;
                make_layer(m, l, o->list[si] / 100.0, w, b);
                char path[4096];
                snprintf(path, sizeof path, "%s/%s-s%g-w%d.f32", o->dump_dir, m->name, o->list[si],
                         l);
                if (fc_write_f32(path, w, in * out)) return 1;
                snprintf(path, sizeof path, "%s/%s-b%d.f32", o->dump_dir, m->name, l);
                if (fc_write_f32(path, b, out)) return 1;
                free(w);
                free(b);
            }
    return 0;
}

int main(int argc, char **argv) {
    fc_opts o = {.threads = 1,
                 .reps = 20,
                 .min_time = 0.2,
                 .level = tg_cpu_best_level(),
                 .batches = {1, 64},
                 .n_batches = 2,
                 .list_option = "--sparsities",
                 .list = {0, 50, 80, 90, 95, 98},
                 .n_list = 6};
    if (!fc_parse_opts(argc, argv, &o,
                       "usage: sparse_bench [--threads T] [--level L] [--reps R] [--min-time S] "
                       "[--sparsities a,b,...] [--batches a,b] [--dump DIR]"))
        return 2;
    if (o.dump_dir) return dump(&o);
    tg_set_threads(o.threads);
    tg_cpu_level level = tg_set_cpu_level(o.level);
    printf("# tapegrad sparse_bench: f32, level %s, %d threads\n", tg_cpu_level_name(level),
           tg_get_threads());
    tg_tape *t = tg_tape_new();
    double *scratch = malloc(2 * FC_MAX_REPS * sizeof *scratch);
    if (!t || !scratch) return 1;
    tg_tape_set_grad_enabled(t, false);
    for (int mi = 0; mi < FC_N_MODELS; mi++)
        for (int si = 0; si < o.n_list; si++) {
            const fc_model *m = &fc_models[mi];
            tg_store *s = tg_store_new();
            net nt;
            if (!s || net_make(&nt, s, m, o.list[si] / 100.0)) return 1;
            printf("mem %s s=%g dense_bytes=%zu csr_bytes=%zu\n", m->name, o.list[si],
                   nt.dense_bytes, nt.csr_bytes);
            for (int bi = 0; bi < o.n_batches; bi++) {
                int64_t B = (int64_t)o.batches[bi];
                tg_tensor *x =
                    tg_store_buffer(s, bi ? "x1" : "x0", TG_F32, 2, (int64_t[]){m->widths[0], B});
                if (!x) return 1;
                fc_make_input(m->widths[0], B, tg_tensor_data(x));
                for (int sparse = 0; sparse < 2; sparse++) {
                    fc_timing r;
                    if (!fc_time_forward(t, forward, &nt, x, sparse, &o, scratch, &r)) return 1;
                    printf("%s s=%g batch=%lld impl=%s reps=%d median_s=%.9g best_s=%.9g "
                           "check=%.6g\n",
                           m->name, o.list[si], (long long)B, sparse ? "csr" : "dense", r.n,
                           r.median, r.best, r.check);
                }
            }
            net_free(&nt);
            tg_store_free(s);
        }
    free(scratch);
    tg_tape_free(t);
    return 0;
}
