/* dist_bench.c: data-parallel training steps through tapegrad/dist.h, for bench/run-dist. Run
 * under mpirun; every rank trains LeNet-5 or the 784-256-128-10 MLP (the models of
 * models_bench.c, f32, SGD lr 0.1 (--momentum: with momentum 0.9) or with --adam Adam lr 1e-3, mean cross entropy) on its share of a global batch of
 * generated images, on one kernel thread, and rank 0 prints one line:
 *
 *   dist_bench MODEL ranks=N mode=M batch=B steps=S wall_ms=W cpu_ms=C wait_ms=X busy_cpu_ms=U
 *              opt_ms=O buckets=K early=E algo=A looks=L overlap=V share=F skew_ms=K shard=H
 *
 * wall_ms is the slowest rank's wall time per step, cpu_ms the largest per-rank CPU time (user +
 * system, getrusage) per step, opt_ms the largest per-rank CPU time per step spent zeroing the
 * gradients and in the optimiser step (what sharding the optimiser step could divide), wait_ms
 * the largest per-rank time per step blocked in
 * tg_dist_sync waiting for communication, busy_cpu_ms the largest per-rank CPU time per step
 * outside those waits (on a shared machine a wait lasts as long as the peer is descheduled, and
 * its polling costs CPU in proportion). mode: plain (no tg_dist at all: the one-process
 * baseline), overlap (buckets start during the sweep), after (every all-reduce starts after
 * the sweep) or auto (the library's default: the first step decides, overlap= says what, from
 * share=, the part of the gradient's bytes deposited before the sweep's last bucket); algo: tg_dist_opts.algo (the line says which ran, and looks= how many times per
 * step the sweep's node hook looked at the messages in flight). skew_ms is the mean over steps
 * of how far apart the ranks entered tg_dist_sync (the latest minus the earliest, on the
 * machine's monotonic clock, which all ranks on one machine share): the part of a wait that is
 * one rank still computing, not communication. The optimiser step is sharded as
 * TG_DIST_SHARD_AUTO decides (Adam over shared memory), with --no-shard never, with --shard
 * always: divided among the ranks (TG_DIST_SHARD_ON: tg_dist_step reduces, updates this rank's slices and
 * gathers the parameters), so opt_ms counts only the zeroing: the update happens inside
 * tg_dist_step, between its waits; shard= says whether it ran sharded. Never part of the test
 * run.
 *
 *   dist_bench [--batch B] [--steps S] [--warmup W] [--bucket BYTES] [--algo ring|pairs|mpi|shared|auto] [--shard | --no-shard] [--adam | --momentum]
 *              mlp|lenet plain|overlap|after|auto
 *   dist_bench allreduce [--steps S] [FLOATS ...]
 *
 * The second form times MPI_Allreduce (sum) of 1 to 2^20 floats in powers of 4, then of each
 * FLOATS given, the fastest of S calls (the
 * machine's noise only adds), one line per size: "allreduce ranks=N floats=F us=T", the
 * measurements docs/distributed.md fits its latency and bandwidth to.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <tapegrad.h>
#include <tapegrad/dist.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double thread_cpu(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double cpu_seconds(void) {
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (double)u.ru_utime.tv_sec + 1e-6 * (double)u.ru_utime.tv_usec +
           (double)u.ru_stime.tv_sec + 1e-6 * (double)u.ru_stime.tv_usec;
}

static void die(const char *msg) {
    fprintf(stderr, "dist_bench: %s\n", msg);
    MPI_Abort(MPI_COMM_WORLD, 1);
    exit(1);
}

typedef struct model {
    tg_conv2d conv[2];
    tg_linear fc[3];
    bool lenet;
} model;

static void build(model *m, tg_store *s, bool lenet) {
    tg_rng rng;
    tg_rng_seed(&rng, 2);
    tg_error err = {0};
    m->lenet = lenet;
    static const int64_t mlp_sizes[4] = {784, 256, 128, 10}, lenet_sizes[4] = {400, 120, 84, 10};
    const int64_t *sizes = lenet ? lenet_sizes : mlp_sizes;
    const tg_conv2d_params pad2 = {.padding = {2, 2}};
    if (lenet && (tg_conv2d_init(&m->conv[0], s, "c1", 1, 6, 5, 5, &pad2, true, TG_F32, &rng,
                                 &err) != TG_OK ||
                  tg_conv2d_init(&m->conv[1], s, "c2", 6, 16, 5, 5, NULL, true, TG_F32, &rng,
                                 &err) != TG_OK))
        die(err.message);
    static const char *const names[3] = {"f1", "f2", "f3"};
    for (int i = 0; i < 3; i++)
        if (tg_linear_init(&m->fc[i], s, names[i], sizes[i], sizes[i + 1], true, TG_F32, &rng,
                           &err) != TG_OK)
            die(err.message);
}

static tg_tensor *loss_of(tg_tape *t, const model *m, tg_tensor *x, const int64_t *y) {
    tg_tensor *h = x;
    if (m->lenet) {
        const tg_pool2d_params pool = {.kernel = {2, 2}};
        h = tg_max_pool2d(t, tg_relu(t, tg_conv2d_forward(t, &m->conv[0], h)), &pool);
        h = tg_max_pool2d(t, tg_relu(t, tg_conv2d_forward(t, &m->conv[1], h)), &pool);
        h = tg_flatten(t, h, 1, -1);
    } else {
        h = tg_reshape(t, h, TG_SHAPE(tg_tensor_dim(x, 0), 784));
    }
    h = tg_relu(t, tg_linear_forward(t, &m->fc[0], h));
    h = tg_relu(t, tg_linear_forward(t, &m->fc[1], h));
    return tg_cross_entropy(t, tg_linear_forward(t, &m->fc[2], h), y, 0.0, TG_REDUCE_MEAN);
}

static void time_allreduce(int rank, int size, long reps, int n_extra, char **extra) {
    static float buf[1 << 20];
    long sizes[32];
    int n_sizes = 0;
    for (long n = 1; n <= (1 << 20); n *= 4) sizes[n_sizes++] = n;
    for (int i = 0; i < n_extra && n_sizes < 32; i++) {
        long n = atol(extra[i]);
        if (n >= 1 && n <= (1 << 20)) sizes[n_sizes++] = n;
    }
    for (int k = 0; k < n_sizes; k++) {
        long n = sizes[k];
        double best = 1e30;
        for (long r = 0; r < reps + 3; r++) {
            MPI_Barrier(MPI_COMM_WORLD);
            double t0 = now();
            MPI_Allreduce(MPI_IN_PLACE, buf, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
            double dt = now() - t0, worst;
            MPI_Allreduce(&dt, &worst, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
            if (r >= 3 && worst < best) best = worst;
        }
        if (rank == 0) printf("allreduce ranks=%d floats=%ld us=%.2f\n", size, n, 1e6 * best);
    }
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    int rank = 0, size = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (argc >= 2 && !strcmp(argv[1], "allreduce")) {
        bool given = argc >= 4 && !strcmp(argv[2], "--steps");
        long reps = given ? atol(argv[3]) : 50;
        time_allreduce(rank, size, reps, argc - (given ? 4 : 2), argv + (given ? 4 : 2));
        MPI_Finalize();
        return 0;
    }
    long batch = 128, steps = 40, warmup = 5, bucket = 0;
    const char *which = NULL, *mode = NULL;
    static const char *const algos[] = {"auto", "ring", "pairs", "mpi", "shared"};
    int algo = 0;
    bool shard = false, no_shard = false, adam = false;
    tg_sgd_options so = tg_sgd_defaults(0.1);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--batch") && i + 1 < argc) batch = atol(argv[++i]);
        else if (!strcmp(argv[i], "--steps") && i + 1 < argc) steps = atol(argv[++i]);
        else if (!strcmp(argv[i], "--warmup") && i + 1 < argc) warmup = atol(argv[++i]);
        else if (!strcmp(argv[i], "--bucket") && i + 1 < argc) bucket = atol(argv[++i]);
        else if (!strcmp(argv[i], "--shard")) shard = true;
        else if (!strcmp(argv[i], "--no-shard")) no_shard = true;
        else if (!strcmp(argv[i], "--adam")) adam = true;
        else if (!strcmp(argv[i], "--momentum")) so.momentum = 0.9;
        else if (!strcmp(argv[i], "--algo") && i + 1 < argc) {
            const char *v = argv[++i];
            algo = -1;
            for (int k = 0; k < 5; k++)
                if (!strcmp(v, algos[k])) algo = k;
        }
        else if (!which) which = argv[i];
        else mode = argv[i];
    }
    if (!which || !mode || (strcmp(which, "mlp") && strcmp(which, "lenet")) ||
        (strcmp(mode, "plain") && strcmp(mode, "overlap") && strcmp(mode, "after") &&
         strcmp(mode, "auto")) ||
        batch % size || steps < 1 || algo < 0)
        die("usage: dist_bench [--batch B] [--steps S] [--warmup W] [--bucket BYTES] "
            "[--algo ring|pairs|mpi|shared|auto] mlp|lenet plain|overlap|after|auto (B divisible by "
            "the ranks)");
    bool plain = !strcmp(mode, "plain");
    if (plain && size != 1) die("plain is the one-process baseline: run it with -np 1");
    tg_set_threads(1);

    tg_store *s = tg_store_new();
    model m;
    build(&m, s, !strcmp(which, "lenet"));
    tg_adam_options ao = tg_adam_defaults(1e-3);
    tg_error err = {0};
    tg_optim *opt = adam ? tg_optim_adam(s, &ao, &err) : tg_optim_sgd(s, &so, &err);
    if (!opt) die(err.message);
    tg_tape *t = tg_tape_new();
    tg_dist *d = NULL;
    if (!plain) {
        tg_dist_overlap ov = !strcmp(mode, "after")     ? TG_DIST_OVERLAP_OFF
                             : !strcmp(mode, "overlap") ? TG_DIST_OVERLAP_ON
                                                        : TG_DIST_OVERLAP_AUTO;
        tg_dist_opts o = {.bucket_bytes = bucket, .overlap = ov, .algo = (tg_dist_algo)algo,
                          .optim = opt,
                          .shard = shard      ? TG_DIST_SHARD_ON
                                   : no_shard ? TG_DIST_SHARD_OFF
                                              : TG_DIST_SHARD_AUTO};
        d = tg_dist_new(s, MPI_COMM_WORLD, &o, &err);
        if (!d || tg_dist_broadcast(d, &err) != TG_OK) die(err.message);
        tg_dist_attach(d, t);
    }

    /* This rank's rows of one global batch of generated images, reused every step. */
    int64_t local = batch / size;
    float *pixels = malloc((size_t)local * 784 * sizeof *pixels);
    int64_t *labels = malloc((size_t)local * sizeof *labels);
    if (!pixels || !labels) die("out of memory");
    tg_rng rng;
    tg_rng_seed(&rng, 7 + (uint64_t)rank);
    for (int64_t i = 0; i < local * 784; i++) pixels[i] = (float)tg_rng_uniform(&rng);
    for (int64_t i = 0; i < local; i++) labels[i] = (int64_t)tg_rng_below(&rng, 10);

    double wall0 = 0, cpu0 = 0, wait0 = 0, wait_cpu0 = 0, opt_cpu = 0;
    double *entered = calloc((size_t)steps + 1, sizeof *entered); /* sync entry, per step */
    if (!entered) die("out of memory");
    for (long step = 0; step < warmup + steps; step++) {
        if (step == warmup) {
            MPI_Barrier(MPI_COMM_WORLD);
            tg_dist_stats st;
            tg_dist_get_stats(d, &st);
            wall0 = now();
            cpu0 = cpu_seconds();
            wait0 = st.wait_seconds;
            wait_cpu0 = st.wait_cpu_seconds;
        }
        tg_tensor *x = tg_from_data(t, TG_F32, TG_SHAPE(local, 1, 28, 28), pixels);
        double z0 = thread_cpu();
        tg_store_zero_grad(s);
        if (step >= warmup) opt_cpu += thread_cpu() - z0;
        if (tg_tape_backward(t, loss_of(t, &m, x, labels), NULL, 0) != TG_OK)
            die(tg_tape_error(t));
        if (step >= warmup) entered[step - warmup] = now();
        if (d && tg_dist_shard_used(d) == TG_DIST_SHARD_ON) {
            if (tg_dist_step(d, &err) != TG_OK) die(err.message);
        } else {
            if (d && tg_dist_sync(d, &err) != TG_OK) die(err.message);
            double o0 = thread_cpu();
            if (tg_optim_step(opt, &err) != TG_OK) die(err.message);
            if (step >= warmup) opt_cpu += thread_cpu() - o0;
        }
        tg_tape_reset(t);
    }
    double mine[5] = {now() - wall0, cpu_seconds() - cpu0, 0, 0, opt_cpu}, worst[5];
    tg_dist_stats st;
    tg_dist_get_stats(d, &st);
    mine[2] = st.wait_seconds - wait0;
    /* CPU time outside the waits: what a step costs when no rank waits on a descheduled peer */
    mine[3] = mine[1] - (st.wait_cpu_seconds - wait_cpu0);
    MPI_Reduce(mine, worst, 5, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
    double *latest = malloc((size_t)steps * sizeof *latest);
    double *earliest = malloc((size_t)steps * sizeof *earliest);
    if (!latest || !earliest) die("out of memory");
    MPI_Reduce(entered, latest, (int)steps, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
    MPI_Reduce(entered, earliest, (int)steps, MPI_DOUBLE, MPI_MIN, 0, MPI_COMM_WORLD);
    double skew = 0;
    for (long i = 0; i < steps; i++) skew += latest[i] - earliest[i];
    free(latest);
    free(earliest);
    free(entered);
    if (rank == 0)
        printf("dist_bench %s ranks=%d mode=%s batch=%ld steps=%ld wall_ms=%.3f cpu_ms=%.3f "
               "wait_ms=%.3f busy_cpu_ms=%.3f opt_ms=%.3f buckets=%d early=%.2f algo=%s "
               "looks=%.1f overlap=%s share=%.3f skew_ms=%.3f shard=%s\n",
               which, size, mode, batch, steps, 1e3 * worst[0] / (double)steps,
               1e3 * worst[1] / (double)steps, 1e3 * worst[2] / (double)steps,
               1e3 * worst[3] / (double)steps, 1e3 * worst[4] / (double)steps, st.n_buckets,
               st.steps ? (double)st.buckets_started_early / (double)st.steps : 0.0,
               d ? algos[tg_dist_algo_used(d)] : "none",
               st.steps ? (double)st.progress_looks / (double)st.steps : 0.0,
               !d                                                  ? "none"
               : tg_dist_overlap_used(d) == TG_DIST_OVERLAP_ON  ? "on"
               : tg_dist_overlap_used(d) == TG_DIST_OVERLAP_OFF ? "off"
                                                                : "auto",
               st.overlap_share, 1e3 * skew / (double)steps,
               tg_dist_shard_used(d) == TG_DIST_SHARD_ON ? "on" : "off");
    tg_dist_free(d);
    tg_tape_free(t);
    tg_optim_free(opt);
    tg_store_free(s);
    free(pixels);
    free(labels);
    MPI_Finalize();
    return 0;
}
