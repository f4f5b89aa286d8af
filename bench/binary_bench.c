/* binary_bench.c: inference of binary-weight fully connected networks, our dense f32 product
 * (tg_matmul) against the packed products (tg_binmm, and tg_binxnor where the activations are
 * binary too), through the public API, for bench/run-binary.
 *
 * The networks are the MLP 784-300-100-10 and LeNet-5's fully connected part 400-120-84-10,
 * with weights +-alpha (the signs of uniform(-1, 1) numbers from a fixed seed, alpha the row's
 * mean |w|, as tapegrad/binary.h's TG_BINARY_SCALED) and real biases. Activations are rows
 * (batch, features). Two networks per model:
 *   real activations:   h = relu(h W^T + b) per layer ("dense" with the unpacked weights, or
 *                       "binmm" on the bits), logits without relu;
 *   binary activations: the first layer as above, then h = binarize(h) W^T + b ("dense_bin":
 *                       tg_binarize then tg_matmul; "xnor": tg_binxnor on the bits).
 * Each forward runs on a no-grad tape reset after every call; after warm-up it repeats until
 * --reps calls and --min-time seconds are done and prints the median and best time (wall) and
 * the median CPU time of the process per call, the bytes of the weights each way and a checksum
 * of the output. --dump DIR writes the unpacked weights, biases and inputs (raw f32) for the
 * PyTorch side and exits. Never part of the test run.
 *
 *   binary_bench [--threads T] [--level portable|avx2|avx512] [--reps R] [--min-time S]
 *                [--batches 1,64] [--dump DIR]
 */
#define _POSIX_C_SOURCE 200809L
#include "fc_bench.h"

typedef struct net {
    tg_binpack *p[3];
    tg_tensor *wt[3]; /* (in, out): the unpacked weights, transposed for h W^T */
    tg_tensor *b[3];  /* (out) */
    size_t dense_bytes, packed_bytes;
} net;

static int fail(const char *what) {
    fprintf(stderr, "binary_bench: %s\n", what);
    return 1;
}

/* Layer l of model m: real weights uniform(-1, 1) from seed 100 m + l, packed scaled; the
 * bias uniform(-0.1, 0.1) from seed 200 + 100 m + l. */
static int net_make(net *nt, tg_store *s, tg_tape *t, const fc_model *m) {
    memset(nt, 0, sizeof *nt);
    for (int l = 0; l < 3; l++) {
        int64_t in = m->widths[l], out = m->widths[l + 1];
        tg_rng rng;
        tg_rng_seed(&rng, (uint64_t)(100 * (m - fc_models) + l));
        tg_tensor *w = tg_uniform(t, &rng, TG_F32, 2, (int64_t[]){out, in}, -1.0, 1.0);
        tg_error err = {0};
        if (!w || !(nt->p[l] = tg_binpack_from_weight(w, TG_BINARY_SCALED, &err)))
            return fail(err.message[0] ? err.message : "no weights");
        char name[16];
        snprintf(name, sizeof name, "wt%d", l);
        nt->wt[l] = tg_store_buffer(s, name, TG_F32, 2, (int64_t[]){in, out});
        snprintf(name, sizeof name, "b%d", l);
        nt->b[l] = tg_store_buffer(s, name, TG_F32, 1, (int64_t[]){out});
        tg_tensor *dense = tg_zeros(t, TG_F32, 2, (int64_t[]){out, in});
        if (!nt->wt[l] || !nt->b[l] || !dense || tg_binpack_unpack(nt->p[l], dense, &err) != TG_OK)
            return fail("cannot unpack");
        float *wt = tg_tensor_data(nt->wt[l]), *d = tg_tensor_data(dense),
              *b = tg_tensor_data(nt->b[l]);
        for (int64_t o = 0; o < out; o++)
            for (int64_t j = 0; j < in; j++) wt[j * out + o] = d[o * in + j];
        tg_rng_seed(&rng, (uint64_t)(200 + 100 * (m - fc_models) + l));
        for (int64_t o = 0; o < out; o++) b[o] = (float)(0.1 * (2 * tg_rng_uniform(&rng) - 1));
        nt->dense_bytes += (size_t)(in * out + out) * sizeof(float);
        nt->packed_bytes += tg_binpack_bytes(nt->p[l]) + (size_t)out * sizeof(float);
    }
    tg_tape_reset(t);
    return 0;
}

enum { IMPL_DENSE, IMPL_BINMM, IMPL_DENSE_BIN, IMPL_XNOR, N_IMPLS };
static const char *const impl_names[N_IMPLS] = {"dense", "binmm", "dense_bin", "xnor"};

/* Logits (B, 10) from x (B, in). */
static tg_tensor *forward(tg_tape *t, const void *net_, tg_tensor *x, int impl) {
    const net *nt = net_;
    tg_tensor *h = x;
    for (int l = 0; l < 3; l++) {
        tg_tensor *z;
        bool binary_in = l > 0 && (impl == IMPL_DENSE_BIN || impl == IMPL_XNOR);
        if (impl == IMPL_XNOR && l > 0)
            z = tg_binxnor(t, nt->p[l], h);
        else if (impl == IMPL_BINMM || impl == IMPL_XNOR)
            z = tg_binmm(t, nt->p[l], h);
        else
            z = tg_matmul(t, binary_in ? tg_binarize(t, h) : h, nt->wt[l]);
        h = tg_add(t, z, nt->b[l]);
        if (l < 2 && !(impl == IMPL_DENSE_BIN || impl == IMPL_XNOR)) h = tg_relu(t, h);
    }
    return h;
}

static int dump(const fc_opts *o) {
    tg_tape *t = tg_tape_new();
    for (int mi = 0; mi < FC_N_MODELS; mi++) {
        tg_store *s = tg_store_new();
        net nt;
        if (!s || !t || net_make(&nt, s, t, &fc_models[mi])) return 1;
        char path[4096];
        for (int l = 0; l < 3; l++) {
            snprintf(path, sizeof path, "%s/%s-wt%d.f32", o->dump_dir, fc_models[mi].name, l);
            if (fc_write_f32(path, tg_tensor_data(nt.wt[l]), tg_tensor_numel(nt.wt[l]))) return 1;
            snprintf(path, sizeof path, "%s/%s-b%d.f32", o->dump_dir, fc_models[mi].name, l);
            if (fc_write_f32(path, tg_tensor_data(nt.b[l]), tg_tensor_numel(nt.b[l]))) return 1;
            tg_binpack_free(nt.p[l]);
        }
        if (fc_dump_inputs(o, &fc_models[mi])) return 1;
        tg_store_free(s);
    }
    tg_tape_free(t);
    return 0;
}

int main(int argc, char **argv) {
    fc_opts o = {.threads = 1,
                 .reps = 20,
                 .min_time = 0.2,
                 .level = tg_cpu_best_level(),
                 .batches = {1, 64},
                 .n_batches = 2};
    if (!fc_parse_opts(argc, argv, &o,
                       "usage: binary_bench [--threads T] [--level L] [--reps R] "
                       "[--min-time S] [--batches a,b] [--dump DIR]"))
        return 2;
    if (o.dump_dir) return dump(&o);
    tg_set_threads(o.threads);
    tg_cpu_level level = tg_set_cpu_level(o.level);
    printf("# tapegrad binary_bench: f32, level %s, %d threads, packed kernels: %s\n",
           tg_cpu_level_name(level), tg_get_threads(), tg_binpack_kernel_name());
    tg_tape *t = tg_tape_new();
    double *scratch = malloc(2 * FC_MAX_REPS * sizeof *scratch);
    if (!t || !scratch) return 1;
    for (int mi = 0; mi < FC_N_MODELS; mi++) {
        const fc_model *m = &fc_models[mi];
        tg_store *s = tg_store_new();
        net nt;
        if (!s || net_make(&nt, s, t, m)) return 1;
        tg_tape_set_grad_enabled(t, false);
        printf("mem %s dense_bytes=%zu packed_bytes=%zu\n", m->name, nt.dense_bytes,
               nt.packed_bytes);
        for (int bi = 0; bi < o.n_batches; bi++) {
            int64_t B = (int64_t)o.batches[bi];
            char xname[16];
            snprintf(xname, sizeof xname, "x%d", bi);
            tg_tensor *x = tg_store_buffer(s, xname, TG_F32, 2, (int64_t[]){B, m->widths[0]});
            if (!x) return 1;
            fc_make_input(m->widths[0], B, tg_tensor_data(x));
            for (int impl = 0; impl < N_IMPLS; impl++) {
                fc_timing r;
                if (!fc_time_forward(t, forward, &nt, x, impl, &o, scratch, &r)) return 1;
                printf("%s batch=%lld impl=%s reps=%d median_s=%.9g best_s=%.9g cpu_s=%.9g "
                       "check=%.6g\n",
                       m->name, (long long)B, impl_names[impl], r.n, r.median, r.best, r.cpu,
                       r.check);
            }
        }
        tg_tape_set_grad_enabled(t, true);
        for (int l = 0; l < 3; l++) tg_binpack_free(nt.p[l]);
        tg_store_free(s);
    }
    free(scratch);
    tg_tape_free(t);
    return 0;
}
