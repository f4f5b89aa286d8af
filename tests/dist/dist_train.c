/* dist_train.c: the program the distributed tests run under mpirun (tests/dist/run_dist.py
 * starts it with 1 to 4 ranks and compares what rank 0 saves). Not a Check runner: Check forks
 * each test into a child process, and an MPI process cannot be forked into several.
 *
 * It trains a small MLP (36-16-4, tanh) on 480 generated 6x6 images of 4 classes for --steps
 * global batches of 24, SGD with momentum (or Adam with AMSGrad, --adam), through tapegrad/dist.h,
 * with the optimiser step on every rank or divided among them (--shard), and checks on the way what
 * must hold on every rank count: after the broadcast every rank holds rank 0's parameters (each
 * rank initialises from its own seed, so only the broadcast can make them equal), and after
 * every step all ranks hold the same bits. It can also save and resume checkpoints, kill one
 * rank, give one rank a corrupt data file or a different model, to test how the group fails.
 * Exit status 0 only when every check held; errors go to stderr as "dist_train: rank R: ...". */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tapegrad.h>
#include <tapegrad/dist.h>

enum { SIDE = 6, PIX = SIDE * SIDE, N_CLASSES = 4, N_SAMPLES = 480, HIDDEN = 16 };

typedef struct opts {
    tg_dtype dtype;
    bool deterministic;
    tg_dist_overlap overlap;
    const char *expect_overlap; /* "on" or "off": what tg_dist_overlap_used must say, or NULL */
    int hidden2; /* > 0: a middle layer of this width, whose gradients the sweep finishes early */
    int chunks, steps, save_every, kill_rank, kill_step, bad_rank, wrong_rank;
    int nan_rank, nan_step; /* that rank puts a NaN into a gradient before that step ends */
    long bucket_bytes, second_group; /* second_group: bucket size of a second group, or -1 */
    double timeout;
    const char *out, *save, *resume, *bad_file, *verify;
    bool expect_early, shard, shard_auto, adam;
    const char *expect_shard; /* "on" or "off": what tg_dist_shard_used must say, or NULL */
    tg_dist_algo algo;
    const char *expect_algo; /* the algorithm tg_dist_algo_used must report, or NULL */
} opts;

static const char *const algo_names[] = {"auto", "ring", "pairs", "mpi", "shared"};

/* The tg_dist_algo named s, or -1. */
static int algo_named(const char *s) {
    for (int i = 0; i < 5; i++)
        if (!strcmp(s, algo_names[i])) return i;
    return -1;
}

static int rank_of_world(void) {
    int r = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &r);
    return r;
}

/* One line on stderr in one write, so that mpirun does not mix it with another rank's. */
static void say(const char *fmt, const char *detail) {
    char line[600], msg[512];
    snprintf(msg, sizeof msg, fmt, detail);
    snprintf(line, sizeof line, "dist_train: rank %d: %s\n", rank_of_world(), msg);
    fputs(line, stderr);
    fflush(stderr);
}

/* Ends every rank: MPI_Finalize would wait for peers that may be gone. */
static void fail(const char *fmt, const char *detail) {
    say(fmt, detail);
    MPI_Abort(MPI_COMM_WORLD, 1);
    exit(1);
}

/* A failure every rank agreed on (tg_dist_agree): all are alive, so each reports and ends
 * normally, and none is killed before it could say why. */
static void fail_together(const char *fmt, const char *detail) {
    say(fmt, detail);
    MPI_Finalize();
    exit(1);
}

static bool parse(int argc, char **argv, opts *o) {
    *o = (opts){.dtype = TG_F64, .chunks = 12, .steps = 100, .kill_rank = -1, .bad_rank = -1,
                .nan_rank = -1,
                .wrong_rank = -1, .timeout = 20, .second_group = -1};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--det")) {
            o->deterministic = true;
            continue;
        }
        if (!strcmp(a, "--no-overlap")) {
            o->overlap = TG_DIST_OVERLAP_OFF;
            continue;
        }
        if (!strcmp(a, "--overlap")) {
            o->overlap = TG_DIST_OVERLAP_ON;
            continue;
        }
        if (!strcmp(a, "--expect-early")) {
            o->expect_early = true;
            continue;
        }
        if (!strcmp(a, "--shard")) {
            o->shard = true;
            continue;
        }
        if (!strcmp(a, "--shard-auto")) {
            o->shard_auto = true;
            continue;
        }
        if (!strcmp(a, "--adam")) {
            o->adam = true;
            continue;
        }
        if (!v) return false;
        if (!strcmp(a, "--dtype")) o->dtype = strcmp(v, "f32") ? TG_F64 : TG_F32;
        else if (!strcmp(a, "--algo") && algo_named(v) >= 0) o->algo = (tg_dist_algo)algo_named(v);
        else if (!strcmp(a, "--expect-algo") && algo_named(v) > 0) o->expect_algo = v;
        else if (!strcmp(a, "--expect-overlap") && (!strcmp(v, "on") || !strcmp(v, "off")))
            o->expect_overlap = v;
        else if (!strcmp(a, "--hidden2")) o->hidden2 = atoi(v);
        else if (!strcmp(a, "--expect-shard") && (!strcmp(v, "on") || !strcmp(v, "off")))
            o->expect_shard = v;
        else if (!strcmp(a, "--chunks")) o->chunks = atoi(v);
        else if (!strcmp(a, "--steps")) o->steps = atoi(v);
        else if (!strcmp(a, "--bucket")) o->bucket_bytes = atol(v);
        else if (!strcmp(a, "--second-group")) o->second_group = atol(v);
        else if (!strcmp(a, "--timeout")) o->timeout = atof(v);
        else if (!strcmp(a, "--out")) o->out = v;
        else if (!strcmp(a, "--save")) o->save = v;
        else if (!strcmp(a, "--save-every")) o->save_every = atoi(v);
        else if (!strcmp(a, "--resume")) o->resume = v;
        else if (!strcmp(a, "--verify")) o->verify = v;
        else if (!strcmp(a, "--kill-rank")) o->kill_rank = atoi(v);
        else if (!strcmp(a, "--kill-step")) o->kill_step = atoi(v);
        else if (!strcmp(a, "--nan-rank")) o->nan_rank = atoi(v);
        else if (!strcmp(a, "--nan-step")) o->nan_step = atoi(v);
        else if (!strcmp(a, "--bad-rank")) o->bad_rank = atoi(v);
        else if (!strcmp(a, "--bad-file")) o->bad_file = v;
        else if (!strcmp(a, "--wrong-model-rank")) o->wrong_rank = atoi(v);
        else return false;
        i++;
    }
    return true;
}

/* Class c lights up row c and column c + 1, plus noise: learnable, not trivially. */
static tg_dataset *make_data(tg_error *err) {
    static uint8_t im[N_SAMPLES * PIX], lb[N_SAMPLES];
    tg_rng rng;
    tg_rng_seed(&rng, 42);
    for (int i = 0; i < N_SAMPLES; i++) {
        int c = (int)tg_rng_below(&rng, N_CLASSES);
        lb[i] = (uint8_t)c;
        for (int p = 0; p < PIX; p++) {
            int on = p / SIDE == c || p % SIDE == c + 1;
            im[i * PIX + p] = (uint8_t)((on ? 160 : 0) + tg_rng_below(&rng, 96));
        }
    }
    return tg_dataset_from_memory(N_SAMPLES, SIDE, SIDE, im, lb, err);
}

typedef struct model {
    tg_linear fc1, mid, fc2;
    bool has_mid;
} model;

static tg_tensor *forward(tg_tape *t, const model *m, tg_tensor *x) {
    tg_tensor *h = tg_tanh(t, tg_linear_forward(t, &m->fc1, x));
    if (m->has_mid) h = tg_tanh(t, tg_linear_forward(t, &m->mid, h));
    return tg_linear_forward(t, &m->fc2, h);
}

/* Options tg_dist_new must refuse before any communication, with a message that names the
 * field: an overlap and an algorithm outside their enums. */
static void check_bad_options(tg_store *s) {
    tg_error e = {0};
    tg_dist_opts bad = {.overlap = (tg_dist_overlap)7};
    if (tg_dist_new(s, MPI_COMM_WORLD, &bad, &e) || e.status != TG_ERR_ARG ||
        !strstr(e.message, "overlap 7"))
        fail("an overlap of 7 was not refused: '%s'", e.message);
    e = (tg_error){0};
    bad = (tg_dist_opts){.algo = (tg_dist_algo)9};
    if (tg_dist_new(s, MPI_COMM_WORLD, &bad, &e) || e.status != TG_ERR_ARG ||
        !strstr(e.message, "algo 9"))
        fail("an algorithm of 9 was not refused: '%s'", e.message);
    e = (tg_error){0};
    bad = (tg_dist_opts){.shard = TG_DIST_SHARD_ON};
    if (tg_dist_new(s, MPI_COMM_WORLD, &bad, &e) || e.status != TG_ERR_ARG ||
        !strstr(e.message, "needs tg_dist_opts.optim"))
        fail("sharding without an optimiser was not refused: '%s'", e.message);
}

/* The optimiser state of one parameter ("optim.<state>/<param>"): sharded, it is current only
 * on the rank that owns the slice, so ranks differ there by design. */
static bool is_param_state(const tg_tensor *x) {
    return !strncmp(tg_tensor_name(x), "optim.", 6) && strchr(tg_tensor_name(x), '/');
}

static bool sharded_run;

/* Every rank's parameters and buffers equal rank 0's, bit for bit (sharded: but the state). */
static void check_same_as_rank0(tg_store *s, const char *when) {
    for (int i = 0; i < tg_store_n_tensors(s); i++) {
        tg_tensor *x = tg_store_get_tensor(s, i);
        if (sharded_run && is_param_state(x)) continue;
        size_t bytes = (size_t)tg_tensor_numel(x) * tg_dtype_size(tg_tensor_dtype(x));
        char *copy = malloc(bytes);
        if (!copy) fail("%s", "out of memory");
        memcpy(copy, tg_tensor_data(x), bytes);
        MPI_Bcast(copy, (int)bytes, MPI_BYTE, 0, MPI_COMM_WORLD);
        if (memcmp(copy, tg_tensor_data(x), bytes) != 0) {
            char msg[200];
            snprintf(msg, sizeof msg, "%s differs from rank 0's %s", tg_tensor_name(x), when);
            fail("%s", msg);
        }
        free(copy);
    }
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    opts o;
    if (!parse(argc, argv, &o)) fail("%s", "bad arguments");
    int world_rank = rank_of_world();
    tg_set_threads(1);
    tg_error err = {0};

    /* The data: generated in memory, or read from --bad-file on --bad-rank. */
    tg_dataset *data = NULL;
    if (world_rank == o.bad_rank)
        data = tg_dataset_load_idx(o.bad_file, o.bad_file, &err);
    else
        data = make_data(&err);

    tg_store *s = tg_store_new();
    tg_rng rng;
    tg_rng_seed(&rng, 1000 + (uint64_t)world_rank); /* only the broadcast makes ranks agree */
    model m;
    int hidden = world_rank == o.wrong_rank ? HIDDEN + 1 : HIDDEN;
    m.has_mid = o.hidden2 > 0;
    int top = m.has_mid ? o.hidden2 : hidden;
    if (tg_linear_init(&m.fc1, s, "fc1", PIX, hidden, true, o.dtype, &rng, &err) != TG_OK ||
        (m.has_mid && tg_linear_init(&m.mid, s, "mid", hidden, o.hidden2, true, o.dtype, &rng,
                                     &err) != TG_OK) ||
        tg_linear_init(&m.fc2, s, "fc2", top, N_CLASSES, true, o.dtype, &rng, &err) != TG_OK)
        fail("%s", err.message);
    check_bad_options(s);
    tg_sgd_options so = tg_sgd_defaults(0.1);
    so.momentum = 0.9;
    tg_adam_options ao = tg_adam_defaults(0.01);
    ao.amsgrad = true;
    tg_optim *opt = o.adam ? tg_optim_adam(s, &ao, &err) : tg_optim_sgd(s, &so, &err);
    if (!opt) fail("%s", err.message);
    if (o.nan_rank >= 0) tg_optim_set_skip_nonfinite(opt, true);

    tg_dist_opts dopts = {.bucket_bytes = o.bucket_bytes, .overlap = o.overlap,
                          .deterministic = o.deterministic, .det_chunks = o.chunks,
                          .timeout_s = o.timeout, .algo = o.algo, .optim = opt,
                          .shard = o.shard_auto ? TG_DIST_SHARD_AUTO
                                   : o.shard    ? TG_DIST_SHARD_ON
                                                : TG_DIST_SHARD_OFF};
    tg_dist *d = tg_dist_new(s, MPI_COMM_WORLD, &dopts, &err);
    if (!d) fail("%s", err.message);
    sharded_run = tg_dist_shard_used(d) == TG_DIST_SHARD_ON;
    if (!o.shard_auto && sharded_run != o.shard)
        fail("%s", "tg_dist_shard_used does not say what was asked");
    if (o.expect_shard && strcmp(o.expect_shard, sharded_run ? "on" : "off"))
        fail("sharding is %s", sharded_run ? "on" : "off");
    if (sharded_run && (tg_dist_sync(d, &err) != TG_ERR_ARG || !strstr(err.message, "tg_dist_step")))
        fail("sharded, tg_dist_sync was not refused: '%s'", err.message);
    const char *used = algo_names[tg_dist_algo_used(d)];
    if (o.expect_algo && strcmp(used, o.expect_algo)) fail("the group runs %s", used);
    if (o.second_group >= 0) {
        /* Another group over the same store lays the gradients out in its own buckets; d must
         * find them again rather than reduce the block it made. */
        tg_dist_opts o2 = dopts;
        o2.bucket_bytes = o.second_group;
        tg_dist *d2 = tg_dist_new(s, MPI_COMM_WORLD, &o2, &err);
        if (!d2) fail("%s", err.message);
        tg_dist_free(d2);
    }
    /* A rank without its data says so, and every rank hears it. */
    tg_error dist_err = {0};
    if (tg_dist_agree(d, data ? TG_OK : err.status, err.message, &dist_err) != TG_OK)
        fail_together("cannot train: %s", dist_err.message);

    tg_checkpoint_meta meta;
    tg_checkpoint_meta_init(&meta);
    if (o.verify) {
        if (tg_dist_checkpoint_load(d, o.verify, &meta, &err) != TG_OK) fail("%s", err.message);
        if (world_rank == 0) printf("verified %s: step %lld\n", o.verify, (long long)meta.step);
        tg_dist_free(d);
        MPI_Finalize();
        return 0;
    }
    if (tg_dist_broadcast(d, &err) != TG_OK) fail("%s", err.message);
    check_same_as_rank0(s, "after the broadcast");

    tg_batcher_opts bo = {.batch_size = 24, .shuffle = true, .seed = 7, .drop_last = true,
                          .dtype = o.dtype, .flatten = true};
    tg_dist_batcher_split(d, &bo);
    tg_batcher *b = tg_batcher_new(data, &bo, &err);
    if (!b) fail("%s", err.message);
    int step = 0;
    if (o.resume) {
        if (tg_dist_checkpoint_load(d, o.resume, &meta, &err) != TG_OK) fail("%s", err.message);
        tg_batcher_state st;
        const char *text = tg_checkpoint_meta_get(&meta, "batcher");
        if (!text || tg_batcher_state_parse(text, &st, &err) != TG_OK ||
            tg_batcher_set_state(b, &st, &err) != TG_OK)
            fail("resume: %s", text ? err.message : "no batcher state");
        step = (int)meta.step;
        check_same_as_rank0(s, "after loading");
    }

    tg_tape *t = tg_tape_new();
    tg_dist_attach(d, t);
    while (step < o.steps) {
        tg_tensor *x;
        const int64_t *y;
        if (!tg_batcher_next(b, t, &x, &y)) {
            if (tg_tape_status(t) != TG_OK) fail("%s", tg_tape_error(t));
            continue; /* the next epoch */
        }
        int nc = tg_dist_n_chunks(d);
        int64_t n = tg_tensor_dim(x, 0);
        tg_store_zero_grad(s);
        for (int k = 0; k < nc; k++) {
            int64_t lo = k * n / nc, hi = (k + 1) * n / nc;
            tg_tensor *xk = nc > 1 ? tg_slice(t, x, 0, lo, hi, 1) : x;
            tg_tensor *loss = tg_cross_entropy(t, forward(t, &m, xk), y + lo, 0, TG_REDUCE_MEAN);
            if (tg_tape_backward(t, loss, NULL, 0) != TG_OK) fail("%s", tg_tape_error(t));
            if (o.deterministic && tg_dist_chunk_done(d, &err) != TG_OK) fail("%s", err.message);
        }
        /* One rank's NaN: with skip_nonfinite every rank must refuse the step, naming the rank
         * whose slice held it (sharded) or the parameter, and change no parameter. */
        if (o.nan_rank >= 0 && step == o.nan_step) {
            if (world_rank == o.nan_rank) {
                tg_tensor *g = tg_tensor_grad(m.fc1.weight);
                if (o.dtype == TG_F32)
                    ((float *)tg_tensor_data(g))[3] = NAN;
                else
                    ((double *)tg_tensor_data(g))[3] = NAN;
            }
            size_t bytes = (size_t)tg_tensor_numel(m.fc1.weight) *
                           tg_dtype_size(tg_tensor_dtype(m.fc1.weight));
            char *before = malloc(bytes);
            if (!before) fail("%s", "out of memory");
            memcpy(before, tg_tensor_data(m.fc1.weight), bytes);
            tg_status st = tg_dist_step(d, &err);
            if (st != TG_ERR_NONFINITE)
                fail("a NaN on one rank was not refused: '%s'", err.message);
            if (memcmp(before, tg_tensor_data(m.fc1.weight), bytes) != 0)
                fail("%s", "a refused step changed the parameters");
            free(before);
            if (world_rank == 0) printf("refused on every rank: %s\n", err.message);
            tg_tape_reset(t);
            step++;
            continue;
        }
        /* tg_dist_step is tg_dist_sync then tg_optim_step when not sharded: the unsharded runs
         * alternate the two forms, which must give the same bits */
        if (sharded_run || step % 2) {
            if (tg_dist_step(d, &err) != TG_OK) fail("%s", err.message);
        } else {
            if (tg_dist_sync(d, &err) != TG_OK) fail("%s", err.message);
            if (tg_optim_step(opt, &err) != TG_OK) fail("%s", err.message);
        }
        tg_tape_reset(t);
        step++;
        if (step % 25 == 0) check_same_as_rank0(s, "after a step");
        if (world_rank == o.kill_rank && step == o.kill_step) raise(SIGKILL);
        if (o.save && o.save_every > 0 && step % o.save_every == 0) {
            tg_batcher_state st;
            char text[TG_BATCHER_STATE_CHARS];
            tg_batcher_get_state(b, &st);
            tg_batcher_state_format(&st, text);
            meta.step = step;
            tg_checkpoint_meta_set(&meta, "batcher", text);
            if (tg_dist_checkpoint_save(d, o.save, &meta, &err) != TG_OK)
                fail("%s", err.message);
        }
    }
    check_same_as_rank0(s, "at the end");
    tg_dist_stats stats;
    tg_dist_get_stats(d, &stats);
    if (o.expect_early && stats.buckets_started_early == 0)
        fail("%s", "no bucket's all-reduce started during a sweep");
    tg_dist_overlap ov = tg_dist_overlap_used(d);
    const char *ov_name = ov == TG_DIST_OVERLAP_ON    ? "on"
                          : ov == TG_DIST_OVERLAP_OFF ? "off"
                                                      : "auto";
    if (o.expect_overlap && strcmp(o.expect_overlap, ov_name)) {
        char msg[160];
        snprintf(msg, sizeof msg, "overlap is %s (share of early bytes %.3f), not %s", ov_name,
                 stats.overlap_share, o.expect_overlap);
        fail("%s", msg);
    }
    /* AUTO runs its first step overlapped and the later ones as decided: off means exactly
     * the first step's buckets started early, each step's early starts at most all buckets */
    if (o.overlap == TG_DIST_OVERLAP_AUTO && !o.deterministic && ov == TG_DIST_OVERLAP_OFF &&
        stats.buckets_started_early > stats.n_buckets)
        fail("%s", "overlap decided off, yet buckets kept starting during the sweep");
    if (o.out) {
        meta.step = step;
        if (tg_dist_checkpoint_save(d, o.out, &meta, &err) != TG_OK) fail("%s", err.message);
    }
    if (world_rank == 0)
        printf("ok: %d ranks, %d steps, %d buckets, %lld started during the sweep, "
               "algorithm %s, %lld looks from the node hook, overlap %s (early share %.3f)%s\n",
               tg_dist_size(d), step, stats.n_buckets, (long long)stats.buckets_started_early,
               used, (long long)stats.progress_looks, ov_name, stats.overlap_share,
               stats.params_shared ? ", parameters shared" : "");
    tg_tape_free(t);
    tg_batcher_free(b);
    tg_dist_free(d);
    tg_optim_free(opt);
    tg_store_free(s);
    tg_dataset_free(data);
    MPI_Finalize();
    return 0;
}
