/* test_tape.c: the tape's arena and lifetime (src/graph/tape.c, arena.c), the allocator hook
 * (alloc.c), no-grad mode, and the parameter store (store.c).
 *
 * A counting allocator installed with tg_set_allocator sees every byte tapegrad asks for: it
 * proves that a steady training loop allocates nothing after its first steps, that any single
 * allocation failing is reported as TG_ERR_NOMEM (or harmlessly absorbed) and never crashes,
 * and that nothing leaks: every allocation is freed by the time the objects are. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "graph/graph.h" /* tensor header size, to place the arena's chunk boundary */
#include "test_util.h"

/* ---- the counting allocator ---- */

typedef struct counter {
    int64_t n_alloc; /* calls to malloc_fn, failed ones included */
    int64_t n_free;
    int64_t live;     /* successful allocations not yet freed */
    int64_t fail_at;  /* the call number (1-based) that fails; 0 for none */
    bool fail_after;  /* every call after fail_at fails as well */
    int64_t n_failed; /* calls that were made to fail */
} counter;

static counter cnt;

static void *count_malloc(size_t size, void *user) {
    counter *c = user;
    c->n_alloc++;
    if (c->fail_at && (c->n_alloc == c->fail_at || (c->fail_after && c->n_alloc > c->fail_at))) {
        c->n_failed++;
        return NULL;
    }
    void *p = malloc(size);
    if (p) c->live++;
    return p;
}

static void count_free(void *ptr, void *user) {
    counter *c = user;
    c->n_free++;
    c->live--;
    free(ptr);
}

static void install_counter(int64_t fail_at, bool fail_after) {
    memset(&cnt, 0, sizeof cnt);
    cnt.fail_at = fail_at;
    cnt.fail_after = fail_after;
    tg_allocator a = {count_malloc, count_free, &cnt};
    tg_set_allocator(&a);
}

/* ---- a small MLP trained with plain SGD ---- */

typedef struct mlp {
    int64_t n_in, n_hidden, n_batch;
    tg_store *s;
    tg_tensor *w1, *b1, *w2, *b2;
    double *x, *y; /* the batch, in the test's own memory */
} mlp;

static void mlp_init(mlp *m, int64_t n_in, int64_t n_hidden, int64_t n_batch) {
    m->n_in = n_in;
    m->n_hidden = n_hidden;
    m->n_batch = n_batch;
    m->s = tg_store_new();
    ck_assert_ptr_nonnull(m->s);
    m->w1 = tg_store_param(m->s, "w1", TG_F64, TG_SHAPE(n_in, n_hidden));
    m->b1 = tg_store_param(m->s, "b1", TG_F64, TG_SHAPE(n_hidden));
    m->w2 = tg_store_param(m->s, "w2", TG_F64, TG_SHAPE(n_hidden, 1));
    m->b2 = tg_store_param(m->s, "b2", TG_F64, TG_SHAPE(1));
    ck_assert_int_eq(tg_store_status(m->s), TG_OK);
    tg_rng r;
    tg_rng_seed(&r, 11);
    tg_tensor_fill_normal(m->w1, &r, 0.0, 1.0 / sqrt((double)n_in));
    tg_tensor_fill_normal(m->w2, &r, 0.0, 1.0 / sqrt((double)n_hidden));
    m->x = malloc((size_t)(n_batch * n_in) * sizeof(double));
    m->y = malloc((size_t)n_batch * sizeof(double));
    ck_assert(m->x && m->y);
    for (int64_t i = 0; i < n_batch * n_in; i++) m->x[i] = tg_rng_uniform(&r) * 2.0 - 1.0;
    for (int64_t b = 0; b < n_batch; b++) m->y[b] = sin(3.0 * m->x[b * n_in]);
}

static void mlp_free(mlp *m) {
    tg_store_free(m->s);
    free(m->x);
    free(m->y);
}

/* One training step on tape t, ending with tg_tape_reset; returns the loss before the update. */
static double mlp_step(mlp *m, tg_tape *t, double lr) {
    tg_tensor *x = tg_from_data(t, TG_F64, TG_SHAPE(m->n_batch, m->n_in), m->x);
    tg_tensor *y = tg_from_data(t, TG_F64, TG_SHAPE(m->n_batch, 1), m->y);
    tg_tensor *h = tg_tanh(t, tg_add(t, tg_matmul(t, x, m->w1), m->b1));
    tg_tensor *err = tg_sub(t, tg_add(t, tg_matmul(t, h, m->w2), m->b2), y);
    tg_tensor *loss = tg_mean_all(t, tg_mul(t, err, err));
    ck_assert_msg(loss != NULL, "%s", tg_tape_error(t));
    double value = tg_tensor_item(loss);
    tg_store_zero_grad(m->s);
    ck_assert_int_eq(tg_tape_backward(t, loss, NULL, 0), TG_OK);
    for (int p = 0; p < tg_store_n_params(m->s); p++) {
        tg_tensor *w = tg_store_get_param(m->s, p);
        double *wv = tg_tensor_data(w), *gv = tg_tensor_data(tg_tensor_grad(w));
        for (int64_t i = 0; i < tg_tensor_numel(w); i++) wv[i] -= lr * gv[i];
    }
    tg_tape_reset(t);
    return value;
}

/* The kernels keep a packing buffer per thread for the thread's whole life (see
 * src/ops/kernels/threadpool.h), allocated at first use. These tests count what tapes and stores
 * allocate, so they run on one thread and let a first run, before the counter is installed,
 * create that buffer at its full size; otherwise it would count as a leak. */
static void warm_up_mlp(int64_t n_in, int64_t n_hidden, int64_t n_batch) {
    tg_set_threads(1);
    mlp m;
    mlp_init(&m, n_in, n_hidden, n_batch);
    tg_tape *t = tg_tape_new();
    for (int step = 0; step < 2; step++) mlp_step(&m, t, 0.1);
    tg_tape_free(t);
    mlp_free(&m);
}

/* Ten identical steps: after the first two, not one allocation, and the arena stops growing. */
static void check_steady_state(int64_t n_in, int64_t n_hidden, int64_t n_batch, bool spill) {
    warm_up_mlp(n_in, n_hidden, n_batch);
    install_counter(0, false);
    mlp m;
    mlp_init(&m, n_in, n_hidden, n_batch);
    tg_tape *t = tg_tape_new();
    ck_assert_ptr_nonnull(t);
    double first = 0, last = 0;
    int64_t allocs_late = 0;
    size_t reserved_after_2 = 0;
    for (int step = 1; step <= 10; step++) {
        int64_t before = cnt.n_alloc;
        double loss = mlp_step(&m, t, 0.1);
        ck_assert_msg(isfinite(loss), "step %d: loss %g", step, loss);
        if (step == 1) first = loss;
        last = loss;
        if (step == 2) reserved_after_2 = tg_tape_bytes_reserved(t);
        if (step >= 3) {
            allocs_late += cnt.n_alloc - before;
            ck_assert_uint_eq(tg_tape_bytes_reserved(t), reserved_after_2);
        }
        /* A reset leaves only its skew in use (the offset that exposes stale tensors). */
        ck_assert_uint_le(tg_tape_bytes_used(t), (TG_ARENA_SKEWS - 1) * TG_ARENA_SKEW_UNIT);
    }
    ck_assert_msg(allocs_late == 0, "steps 3..10 made %lld allocations", (long long)allocs_late);
    ck_assert_uint_gt(reserved_after_2, 0);
    if (spill)
        ck_assert_msg(reserved_after_2 > ((size_t)1 << 20),
                      "the step should need more than one 1 MiB chunk (reserved %zu)",
                      reserved_after_2);
    ck_assert_msg(last < first, "training did not reduce the loss: %g -> %g", first, last);
    tg_tape_free(t);
    mlp_free(&m);
    ck_assert_int_eq(cnt.live, 0);
    ck_assert_int_eq(cnt.n_alloc, cnt.n_free);
    tg_set_allocator(NULL);
}

START_TEST(test_steady_state_no_alloc_small) { check_steady_state(4, 8, 16, false); }
END_TEST

/* Big enough that the first step spills into a second chunk; the reset merges them. */
START_TEST(test_steady_state_no_alloc_spilled) { check_steady_state(32, 512, 256, true); }
END_TEST

/* ---- allocation failure ---- */

/* What the program computed, to tell a harmlessly absorbed failure from a silent wrong answer. */
typedef struct outcome {
    double losses[2];
    double w_sum;
    bool grad_ok, gradgrad_ok;
    double grad_worst;
} outcome;

static int small_fn(tg_tape *t, tg_tensor *const *in, tg_tensor **out, void *ctx) {
    (void)ctx;
    out[0] = tg_tanh(t, tg_matmul(t, in[0], in[1]));
    return out[0] ? 1 : -1;
}

#define N_BUFFERS 20

/* A little of everything that allocates: a store that must grow its list, a tape whose step
 * spills over a chunk, two steps with backward and reset, and both gradient checkers. Returns
 * TG_OK or the status that stopped it; every object is freed either way. */
static tg_status program(outcome *res) {
    memset(res, 0, sizeof *res);
    tg_status st = TG_OK;
    tg_tape *t = NULL;
    tg_store *s = tg_store_new();
    if (!s) return TG_ERR_NOMEM;
    tg_tensor *w = tg_store_param(s, "w", TG_F64, TG_SHAPE(32, 600));
    tg_tensor *b = tg_store_param(s, "b", TG_F64, TG_SHAPE(600));
    for (int i = 0; i < N_BUFFERS; i++) {
        char name[16];
        snprintf(name, sizeof name, "buf%d", i);
        tg_store_buffer(s, name, TG_F32, TG_SHAPE(3));
    }
    if ((st = tg_store_status(s)) != TG_OK) goto done;
    ck_assert(w && b);
    if (tg_store_n_params(s) != 2 || !tg_store_find(s, "buf19")) {
        st = TG_ERR_ARG; /* the store lost something without saying so */
        goto done;
    }
    tg_rng r;
    tg_rng_seed(&r, 5);
    tg_tensor_fill_normal(w, &r, 0.0, 0.1);

    if (!(t = tg_tape_new())) {
        st = TG_ERR_NOMEM;
        goto done;
    }
    for (int step = 0; step < 2; step++) {
        tg_rng dr;
        tg_rng_seed(&dr, 100);
        tg_tensor *x = tg_uniform(t, &dr, TG_F64, TG_SHAPE(64, 32), -1.0, 1.0);
        tg_tensor *h = tg_tanh(t, tg_add(t, tg_matmul(t, x, w), b)); /* 300 KB each */
        tg_tensor *loss = tg_mean_all(t, tg_mul(t, h, h));
        if (!loss) {
            st = tg_tape_status(t);
            goto done;
        }
        res->losses[step] = tg_tensor_item(loss);
        tg_store_zero_grad(s);
        if ((st = tg_tape_backward(t, loss, NULL, 0)) != TG_OK) goto done;
        double *wv = tg_tensor_data(w), *gv = tg_tensor_data(tg_tensor_grad(w));
        for (int64_t i = 0; i < tg_tensor_numel(w); i++) wv[i] -= 0.5 * gv[i];
        tg_tape_reset(t);
    }
    for (int64_t i = 0; i < tg_tensor_numel(w); i++) res->w_sum += tg_tensor_get(w, i);

    const double av[] = {0.1, -0.2, 0.3, 0.4, 0.5, -0.6}, bv[] = {1, 2, 3, -1, -2, 0.5};
    tg_tensor *in[2] = {tg_from_data(t, TG_F64, TG_SHAPE(2, 3), av),
                        tg_from_data(t, TG_F64, TG_SHAPE(3, 2), bv)};
    if (!in[0] || !in[1]) {
        st = tg_tape_status(t);
        goto done;
    }
    tg_gradcheck_report rep;
    if ((st = tg_gradcheck(small_fn, NULL, 2, in, NULL, &rep)) != TG_OK) goto done;
    res->grad_ok = rep.ok;
    res->grad_worst = rep.abs_err;
    if ((st = tg_gradgradcheck(small_fn, NULL, 2, in, NULL, &rep)) != TG_OK) goto done;
    res->gradgrad_ok = rep.ok;
done:
    tg_tape_free(t);
    tg_store_free(s);
    return st;
}

static void check_failures(bool fail_after) {
    outcome base, got;
    tg_set_threads(1); /* and a first run to create the kernels' buffer: see warm_up_mlp */
    ck_assert_int_eq(program(&base), TG_OK);
    install_counter(0, false);
    ck_assert_int_eq(program(&base), TG_OK);
    int64_t k = cnt.n_alloc;
    ck_assert_int_eq(cnt.live, 0);
    ck_assert(base.grad_ok && base.gradgrad_ok);
    ck_assert(base.losses[1] < base.losses[0]);
    ck_assert_int_gt(k, 10);

    int n_reported = 0, n_absorbed = 0;
    for (int64_t n = 1; n <= k; n++) {
        install_counter(n, fail_after);
        tg_status st = program(&got);
        ck_assert_msg(cnt.n_failed >= 1, "allocation %lld was never reached", (long long)n);
        ck_assert_msg(cnt.live == 0, "failing allocation %lld leaked %lld blocks", (long long)n,
                      (long long)cnt.live);
        if (st == TG_OK) {
            /* Absorbed (the arena keeps working without merging its chunks): then every result
             * must be exactly what the unfailing run computed. */
            n_absorbed++;
            ck_assert_msg(got.losses[0] == base.losses[0] && got.losses[1] == base.losses[1] &&
                              got.w_sum == base.w_sum && got.grad_ok && got.gradgrad_ok &&
                              got.grad_worst == base.grad_worst,
                          "allocation %lld failed silently with a different result", (long long)n);
        } else {
            n_reported++;
            ck_assert_msg(st == TG_ERR_NOMEM, "allocation %lld failed: status %s, not NOMEM",
                          (long long)n, tg_status_string(st));
        }
    }
    tg_set_allocator(NULL);
    /* Most failures must be reported; only the arena's optional merge may be absorbed. */
    ck_assert_int_gt(n_reported, n_absorbed);
}

START_TEST(test_nth_allocation_fails) { check_failures(false); }
END_TEST

START_TEST(test_allocations_fail_from_nth_on) { check_failures(true); }
END_TEST

/* Every allocation a step makes on the tape, made to fail in turn: a filler tensor leaves
 * exactly `room` bytes in the arena's only chunk and the allocator then refuses everything, so
 * the first allocation that does not fit (a result, a view header, a node, a seed, a gradient)
 * fails. Each room from 0 up must end in TG_ERR_NOMEM or in the right answer. */
static tg_status tight_step(tg_tape *t, tg_tensor *w, tg_tensor *x) {
    /* L = sum(transpose(reshape(tanh(w x), (3, 1)))), dL/dw = x (1 - tanh^2(w x)) */
    tg_tensor *y = tg_tanh(t, tg_mul(t, w, x));
    tg_tensor *v = tg_transpose(t, tg_reshape(t, y, TG_SHAPE(3, 1)), 0, 1);
    tg_tensor *l = tg_sum_all(t, v);
    if (!l) return tg_tape_status(t);
    return tg_tape_backward(t, l, NULL, 0);
}

START_TEST(test_every_tape_allocation_fails) {
    install_counter(0, false);
    tg_store *s = tg_store_new();
    tg_tensor *w = tg_store_param(s, "w", TG_F64, TG_SHAPE(3));
    const double wv[] = {0.5, -1.0, 2.0}, xv[] = {1.0, 0.25, -0.5};
    tg_tensor_copy_in(w, TG_F64, wv);
    tg_tape *t = tg_tape_new();
    ck_assert_ptr_nonnull(tg_zeros(t, TG_F64, TG_SHAPE(1))); /* the tape's one chunk */
    tg_tape_reset(t);
    const size_t chunk = tg_tape_bytes_reserved(t);
    const size_t head =
        (TG_TENSOR_HEADER_BYTES(1) + TG_ARENA_ALIGN - 1) & ~(size_t)(TG_ARENA_ALIGN - 1);
    double want[3];
    for (int i = 0; i < 3; i++) {
        double th = tanh(wv[i] * xv[i]);
        want[i] = xv[i] * (1 - th * th);
    }
    int n_nomem = 0, n_ok = 0;
    for (size_t room = 0; room <= 64 * 200; room += 64) {
        tg_tape_reset(t);
        tg_store_zero_grad(s);
        tg_tensor *x = tg_from_data(t, TG_F64, TG_SHAPE(3), xv);
        size_t left = chunk - tg_tape_bytes_used(t);
        /* The skew (a multiple of 16) leaves part of a line at the end, which no allocation
         * (a multiple of 64) can use: `room` is what is left beyond it. */
        size_t part = left % TG_ARENA_ALIGN;
        ck_assert_uint_ge(left, head + room + part);
        /* The filler takes head + 8 k bytes, a multiple of 64 when k is a multiple of 8. */
        int64_t k = (int64_t)((left - part - head - room) / 8);
        ck_assert_ptr_nonnull(tg_zeros(t, TG_F64, 1, &k));
        ck_assert_uint_eq(chunk - tg_tape_bytes_used(t), room + part);
        cnt.fail_at = cnt.n_alloc + 1;
        cnt.fail_after = true;
        tg_status st = tight_step(t, w, x);
        cnt.fail_at = 0;
        ck_assert_uint_eq(tg_tape_bytes_reserved(t), chunk); /* no chunk was added */
        if (st == TG_OK) {
            n_ok++;
            ck_assert_int_eq(tg_tape_status(t), TG_OK);
            ck_assert_tensor_near(tg_tensor_grad(w), want, 3, 1e-15);
        } else {
            /* Once a step fits, a roomier one must fit too. */
            ck_assert_msg(n_ok == 0, "room %zu failed after a smaller room worked", room);
            n_nomem++;
            ck_assert_msg(st == TG_ERR_NOMEM && tg_tape_status(t) == TG_ERR_NOMEM,
                          "room %zu: %s (%s)", room, tg_status_string(st), tg_tape_error(t));
        }
    }
    /* The step makes many allocations: each got its turn to fail, then it fits. */
    ck_assert_int_gt(n_nomem, 10);
    ck_assert_int_gt(n_ok, 0);
    tg_tape_free(t);
    tg_store_free(s);
    ck_assert_int_eq(cnt.live, 0);
    tg_set_allocator(NULL);
}
END_TEST

/* Scopes and the DOT export under the counting allocator: a scoped step repeated allocates
 * nothing after the first (the scope table is kept across resets), and any single allocation
 * of scopes or of a collapsed, coloured DOT export failing is TG_ERR_NOMEM or absorbed (a
 * collapse that cannot get its scratch draws the graph uncollapsed), never a leak. */
static tg_status scoped_steps(int n_steps, bool write_dot, int64_t *allocs_late) {
    tg_store *s = tg_store_new();
    tg_tape *t = tg_tape_new();
    tg_tensor *w = tg_store_param(s, "w", TG_F64, TG_SHAPE(3, 3));
    tg_status st = s && t && w ? TG_OK : TG_ERR_NOMEM;
    if (st == TG_OK) tg_tensor_fill(w, 0.3);
    for (int step = 0; step < n_steps && st == TG_OK; step++) {
        int64_t before = cnt.n_alloc;
        tg_tensor *h = tg_ones(t, TG_F64, TG_SHAPE(2, 3));
        tg_tape_push_scope(t, "rnn");
        for (int k = 0; k < 6; k++) {
            char name[16];
            snprintf(name, sizeof name, "step/%d", k);
            tg_tape_push_scope(t, name);
            h = tg_tanh(t, tg_matmul(t, h, w));
            tg_tape_pop_scope(t);
        }
        tg_tape_pop_scope(t);
        tg_tensor *loss = tg_sum_all(t, h);
        st = loss ? tg_tape_backward(t, loss, NULL, 0) : tg_tape_status(t);
        if (st == TG_OK && write_dot) {
            FILE *f = tmpfile();
            tg_dot_options o = {.show_grad_norms = true, .collapse_repeats = true};
            st = f ? tg_tape_write_dot(t, f, &o) : TG_ERR_IO;
            if (f) fclose(f);
        }
        tg_tape_reset(t);
        if (step >= 2 && allocs_late) *allocs_late += cnt.n_alloc - before;
    }
    tg_tape_free(t);
    tg_store_free(s);
    return st;
}

START_TEST(test_scopes_steady_state_and_failures) {
    tg_set_threads(1);
    ck_assert_int_eq(scoped_steps(2, true, NULL), TG_OK); /* the kernels' buffer: see above */
    install_counter(0, false);
    int64_t late = 0;
    ck_assert_int_eq(scoped_steps(8, false, &late), TG_OK);
    ck_assert_msg(late == 0, "scoped steps 3..8 made %lld allocations", (long long)late);
    ck_assert_int_eq(cnt.live, 0);
    install_counter(0, false);
    ck_assert_int_eq(scoped_steps(1, true, NULL), TG_OK);
    int64_t k = cnt.n_alloc;
    int n_reported = 0;
    for (int64_t n = 1; n <= k; n++) {
        install_counter(n, false);
        tg_status st = scoped_steps(1, true, NULL);
        ck_assert_msg(cnt.live == 0, "failing allocation %lld leaked %lld blocks", (long long)n,
                      (long long)cnt.live);
        ck_assert_msg(st == TG_OK || st == TG_ERR_NOMEM, "allocation %lld: %s", (long long)n,
                      tg_status_string(st));
        n_reported += st == TG_ERR_NOMEM;
    }
    tg_set_allocator(NULL);
    ck_assert_int_gt(n_reported, 5);
}
END_TEST

/* ---- the tape ---- */

START_TEST(test_tape_counts_and_reset) {
    tg_tape *t = tg_tape_new();
    ck_assert_int_eq(tg_tape_n_nodes(t), 0);
    ck_assert_uint_eq(tg_tape_bytes_used(t), 0);
    ck_assert(tg_tape_grad_enabled(t));
    tg_tensor *x = tg_ones(t, TG_F64, TG_SHAPE(4));
    tg_tensor_set_requires_grad(x, true);
    tg_tensor *c = tg_ones(t, TG_F64, TG_SHAPE(4));
    tg_tensor *y = tg_mul(t, x, c);                /* recorded */
    tg_tensor *z = tg_add(t, c, c);                /* nothing requires a gradient: not recorded */
    tg_tensor *l = tg_sum_all(t, tg_add(t, y, z)); /* two more */
    ck_assert_ptr_nonnull(l);
    ck_assert_int_eq(tg_tape_n_nodes(t), 3);
    ck_assert(!tg_tensor_requires_grad(z));
    size_t used = tg_tape_bytes_used(t);
    ck_assert_uint_gt(used, 4 * 5 * sizeof(double));
    ck_assert_uint_ge(tg_tape_bytes_reserved(t), used);
    size_t reserved = tg_tape_bytes_reserved(t);
    /* An error, then a reset: everything is released and the error forgotten. */
    ck_assert_ptr_null(tg_add(t, x, tg_ones(t, TG_F64, TG_SHAPE(3))));
    ck_assert_int_eq(tg_tape_status(t), TG_ERR_SHAPE);
    tg_tape_reset(t);
    ck_assert_int_eq(tg_tape_n_nodes(t), 0);
    /* A reset leaves only its skew in use (the offset that exposes stale tensors). */
    ck_assert_uint_le(tg_tape_bytes_used(t), (TG_ARENA_SKEWS - 1) * TG_ARENA_SKEW_UNIT);
    ck_assert_uint_eq(tg_tape_bytes_reserved(t), reserved);
    ck_assert_int_eq(tg_tape_status(t), TG_OK);
    ck_assert_str_eq(tg_tape_error(t), "");
    tg_tape_free(t);
    tg_tape_free(NULL);
    tg_store_free(NULL);
    tg_tape_reset(NULL);
    ck_assert_int_eq(tg_tape_n_nodes(NULL), 0);
}
END_TEST

/* No-grad mode: the same values, no nodes, nothing requiring a gradient. */
START_TEST(test_no_grad_mode) {
    tg_tape *t = tg_tape_new();
    tg_store *s = tg_store_new();
    tg_tensor *w = tg_store_param(s, "w", TG_F64, TG_SHAPE(2, 2));
    double *wv = tg_tensor_data(w);
    wv[0] = 1, wv[1] = -1, wv[2] = 2, wv[3] = 0.5;
    tg_tensor *x = tg_from_data(t, TG_F64, TG_SHAPE(1, 2), ((const double[]){3, -4}));
    tg_tensor_set_requires_grad(x, true);

    ck_assert(tg_tape_set_grad_enabled(t, false) == true);
    ck_assert(!tg_tape_grad_enabled(t));
    /* x w = (3 - 8, -3 - 2) = (-5, -5); relu(3 * that + x) = relu(-15 + 3, -15 - 4) = 0, 0;
     * y2 = x w + (1, 1) * 7 = (2, 2); total = 4 */
    tg_tensor *xw = tg_matmul(t, x, w);
    tg_tensor *r = tg_relu(t, tg_add(t, tg_mul_scalar(t, xw, 3.0), x));
    tg_tensor *total = tg_sum_all(t, tg_add(t, tg_add_scalar(t, xw, 7.0), r));
    ck_assert_ptr_nonnull(total);
    ck_assert(tg_tensor_get(xw, 0) == -5.0 && tg_tensor_get(xw, 1) == -5.0);
    ck_assert(tg_tensor_get(r, 0) == 0.0 && tg_tensor_get(r, 1) == 0.0);
    ck_assert(tg_tensor_item(total) == 4.0);
    ck_assert_int_eq(tg_tape_n_nodes(t), 0);
    ck_assert(!tg_tensor_requires_grad(xw));
    ck_assert(!tg_tensor_requires_grad(total));
    /* Nothing to differentiate. */
    ck_assert_int_eq(tg_tape_backward(t, total, NULL, 0), TG_ERR_NOGRAD);
    tg_tape_clear_error(t);

    ck_assert(tg_tape_set_grad_enabled(t, true) == false);
    tg_tensor *again = tg_sum_all(t, tg_matmul(t, x, w));
    ck_assert_int_eq(tg_tape_n_nodes(t), 2);
    ck_assert(tg_tensor_item(again) == -10.0);
    ck_assert_int_eq(tg_tape_backward(t, again, NULL, 0), TG_OK);
    /* d/dw sum(x w) = x^T 1: rows 3 and -4. */
    tg_tensor *g = tg_tensor_grad(w);
    ck_assert(tg_tensor_get(g, 0) == 3.0 && tg_tensor_get(g, 1) == 3.0);
    ck_assert(tg_tensor_get(g, 2) == -4.0 && tg_tensor_get(g, 3) == -4.0);
    tg_tape_free(t);
    tg_store_free(s);
}
END_TEST

/* ---- the store ---- */

/* The bookkeeping a tape keeps per recorded op, from its own arena's accounting: y = tanh(y) * w
 * on 16-element f32 tensors, forward and first-order backward, at most 640 bytes per op (it was
 * 1,856 when headers held room for 8 dimensions and every node room for 20 attributes). The
 * gradient is checked too, so that a smaller tape that computes something else cannot pass. */
START_TEST(test_chain_bytes_per_op) {
    enum { N_OPS = 2000 }; /* tanh and mul alternating */
    tg_store *s = tg_store_new();
    tg_tensor *x = tg_store_param(s, "x", TG_F32, TG_SHAPE(16));
    tg_tensor *w = tg_store_param(s, "w", TG_F32, TG_SHAPE(16));
    ck_assert_ptr_nonnull(w);
    tg_tensor_fill(x, 0.5);
    tg_tensor_fill(w, 0.9);
    tg_tape *t = tg_tape_new();
    for (int step = 0; step < 3; step++) { /* each skew of the arena alike */
        tg_tape_reset(t);
        tg_store_zero_grad(s);
        size_t before = tg_tape_bytes_used(t);
        tg_tensor *y = x;
        for (int i = 0; i < N_OPS / 2; i++) y = tg_mul(t, tg_tanh(t, y), w);
        tg_tensor *loss = tg_sum_all(t, y);
        ck_assert_int_eq(tg_tape_backward(t, loss, NULL, 0), TG_OK);
        double per_op = (double)(tg_tape_bytes_used(t) - before) / N_OPS;
        ck_assert_msg(per_op <= 640.0, "%.1f bytes per op", per_op);
        ck_assert_msg(per_op >= 128.0, "%.1f bytes per op: is the tape counting?", per_op);
    }
    /* The same chain in double on a scalar: each step has dy'/dy = w (1 - tanh^2 y) */
    double yv = 0.5, dy = 1.0, dw = 0.0;
    double ys[N_OPS / 2];
    for (int i = 0; i < N_OPS / 2; i++) {
        ys[i] = yv;
        yv = tanh(yv) * 0.9;
    }
    for (int i = N_OPS / 2 - 1; i >= 0; i--) {
        double th = tanh(ys[i]);
        dw += dy * th;
        dy *= 0.9 * (1 - th * th);
    }
    float gx[16], gw[16];
    tg_tensor_copy_out(tg_tensor_grad(x), TG_F32, gx);
    tg_tensor_copy_out(tg_tensor_grad(w), TG_F32, gw);
    for (int i = 0; i < 16; i++) {
        ck_assert_double_eq_tol(gx[i], dy, 1e-5 + 1e-4 * fabs(dy));
        ck_assert_double_eq_tol(gw[i], dw, 1e-5 + 1e-4 * fabs(dw));
    }
    tg_tape_free(t);
    tg_store_free(s);
}
END_TEST

/* Names are kept only where set: on a tape tensor a copy goes on its tape (and a tensor from
 * before a reset is refused), a store tensor renames into its own room. */
START_TEST(test_tensor_names) {
    tg_store *s = tg_store_new();
    tg_tensor *p = tg_store_param(s, "p", TG_F64, TG_SHAPE(2));
    ck_assert_str_eq(tg_tensor_name(p), "p");
    ck_assert_ptr_null(tg_tensor_name(tg_tensor_grad(p)));
    ck_assert_int_eq(tg_tensor_set_name(p, "renamed"), TG_OK);
    ck_assert_str_eq(tg_tensor_name(p), "renamed");
    ck_assert_ptr_eq(tg_store_find(s, "renamed"), p);
    ck_assert_int_eq(tg_tensor_set_name(tg_tensor_grad(p), "p.grad"), TG_OK);
    ck_assert_str_eq(tg_tensor_name(tg_tensor_grad(p)), "p.grad");
    tg_tape *t = tg_tape_new();
    tg_tensor *a = tg_ones(t, TG_F64, TG_SHAPE(2, 3));
    ck_assert_ptr_null(tg_tensor_name(a));
    char longname[100];
    memset(longname, 'n', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    ck_assert_int_eq(tg_tensor_set_name(a, longname), TG_OK);
    ck_assert_uint_eq(strlen(tg_tensor_name(a)), TG_NAME_MAX - 1);
    ck_assert_int_eq(tg_tensor_set_name(a, "a"), TG_OK);
    ck_assert_str_eq(tg_tensor_name(a), "a");
    ck_assert_double_eq(tg_tensor_get(a, 5), 1.0); /* the copy went elsewhere */
    tg_tape_reset(t);
    ck_assert_int_eq(tg_tensor_set_name(a, "stale"), TG_ERR_STALE);
    ck_assert_int_eq(tg_tensor_set_name(NULL, "x"), TG_ERR_NULL);
    tg_tape_free(t);
    tg_store_free(s);
}
END_TEST

START_TEST(test_store_params) {
    tg_store *s = tg_store_new();
    ck_assert_int_eq(tg_store_n_params(s), 0);
    ck_assert_int_eq(tg_store_n_param_elements(s), 0);
    tg_tensor *w = tg_store_param(s, "w", TG_F32, TG_SHAPE(3, 4));
    tg_tensor *b = tg_store_param(s, "b", TG_F64, TG_SHAPE(4));
    tg_tensor *run = tg_store_buffer(s, "running_mean", TG_F64, TG_SHAPE(5));
    tg_tensor *sc = tg_store_param(s, "scale", TG_F64, 0, NULL);
    ck_assert(w && b && run && sc);
    ck_assert_int_eq(tg_store_status(s), TG_OK);
    ck_assert_str_eq(tg_store_error(s), "");
    /* Zero-filled, requiring a gradient, with a zero gradient of the same shape and dtype. */
    tg_tensor *params[] = {w, b, sc};
    for (int p = 0; p < 3; p++) {
        tg_tensor *x = params[p], *g = tg_tensor_grad(x);
        ck_assert(tg_tensor_requires_grad(x));
        ck_assert_ptr_nonnull(g);
        ck_assert_ptr_ne(g, x);
        ck_assert_ptr_ne(tg_tensor_data(g), tg_tensor_data(x));
        ck_assert_int_eq(tg_tensor_dtype(g), tg_tensor_dtype(x));
        ck_assert_int_eq(tg_tensor_ndim(g), tg_tensor_ndim(x));
        ck_assert_int_eq(tg_tensor_numel(g), tg_tensor_numel(x));
        for (int64_t i = 0; i < tg_tensor_numel(x); i++) {
            ck_assert(tg_tensor_get(x, i) == 0.0);
            ck_assert(tg_tensor_get(g, i) == 0.0);
        }
    }
    ck_assert_str_eq(tg_tensor_name(w), "w");
    /* Buffers: no gradient, and they refuse one. */
    ck_assert_ptr_null(tg_tensor_grad(run));
    ck_assert(!tg_tensor_requires_grad(run));
    ck_assert_int_eq(tg_tensor_set_requires_grad(run, true), TG_ERR_ARG);
    ck_assert(!tg_tensor_requires_grad(run));
    ck_assert_int_eq(tg_tensor_set_requires_grad(run, false), TG_OK);
    for (int i = 0; i < 5; i++) ck_assert(tg_tensor_get(run, i) == 0.0);
    /* Counting and finding: buffers are found by name but are not parameters. */
    ck_assert_int_eq(tg_store_n_params(s), 3);
    ck_assert_int_eq(tg_store_n_param_elements(s), 12 + 4 + 1);
    ck_assert_ptr_eq(tg_store_get_param(s, 0), w);
    ck_assert_ptr_eq(tg_store_get_param(s, 1), b);
    ck_assert_ptr_eq(tg_store_get_param(s, 2), sc);
    ck_assert_ptr_null(tg_store_get_param(s, 3));
    ck_assert_ptr_null(tg_store_get_param(s, -1));
    ck_assert_ptr_eq(tg_store_find(s, "b"), b);
    ck_assert_ptr_eq(tg_store_find(s, "running_mean"), run);
    ck_assert_ptr_null(tg_store_find(s, "nope"));
    ck_assert_ptr_null(tg_store_find(s, NULL));
    /* Ids: creation order in the store. */
    ck_assert_int_eq(tg_tensor_id(w), 0);
    ck_assert_int_eq(tg_tensor_id(run), 2);
    tg_store_free(s);
}
END_TEST

START_TEST(test_store_errors) {
    tg_store *s = tg_store_new();
    tg_tensor *w = tg_store_param(s, "w", TG_F64, TG_SHAPE(2));
    tg_tensor_fill(w, 3.0);
    /* A duplicate name is an error on the store, not a crash, and changes nothing. */
    ck_assert_ptr_null(tg_store_param(s, "w", TG_F64, TG_SHAPE(5)));
    ck_assert_int_eq(tg_store_status(s), TG_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(tg_store_error(s), "duplicate"));
    ck_assert_ptr_nonnull(strstr(tg_store_error(s), "'w'"));
    ck_assert_ptr_eq(tg_store_find(s, "w"), w);
    ck_assert_int_eq(tg_store_n_params(s), 1);
    ck_assert(tg_tensor_get(w, 1) == 3.0);
    /* Buffers share the namespace. */
    ck_assert_ptr_null(tg_store_buffer(s, "w", TG_F64, TG_SHAPE(1)));
    /* The first error is kept. */
    ck_assert_ptr_null(tg_store_param(s, "", TG_F64, TG_SHAPE(1)));
    ck_assert_ptr_null(tg_store_param(s, NULL, TG_F64, TG_SHAPE(1)));
    ck_assert_ptr_null(tg_store_param(s, "neg", TG_F64, TG_SHAPE(-2)));
    ck_assert_ptr_nonnull(strstr(tg_store_error(s), "duplicate"));
    ck_assert_int_eq(tg_store_n_params(s), 1);
    tg_store_free(s);

    s = tg_store_new();
    ck_assert_ptr_null(tg_store_param(s, "neg", TG_F64, TG_SHAPE(-2)));
    ck_assert_int_eq(tg_store_status(s), TG_ERR_SHAPE);
    tg_store_free(s);
    s = tg_store_new();
    char longname[80];
    memset(longname, 'n', 79);
    longname[79] = '\0';
    ck_assert_ptr_null(tg_store_param(s, longname, TG_F64, TG_SHAPE(1)));
    ck_assert_int_eq(tg_store_status(s), TG_ERR_ARG);
    ck_assert_ptr_null(tg_store_param(NULL, "x", TG_F64, TG_SHAPE(1)));
    ck_assert_int_eq(tg_store_status(NULL), TG_ERR_NULL);
    tg_store_free(s);
}
END_TEST

/* Many tensors: the store's list grows and keeps every one findable, in order. */
START_TEST(test_store_many) {
    tg_store *s = tg_store_new();
    tg_tensor *made[100];
    int64_t elements = 0;
    for (int i = 0; i < 100; i++) {
        char name[16];
        snprintf(name, sizeof name, "p%d", i);
        made[i] = i % 3 == 2 ? tg_store_buffer(s, name, TG_F32, TG_SHAPE(i + 1))
                             : tg_store_param(s, name, TG_F32, TG_SHAPE(i + 1));
        ck_assert_ptr_nonnull(made[i]);
        if (i % 3 != 2) elements += i + 1;
    }
    ck_assert_int_eq(tg_store_n_param_elements(s), elements);
    int p = 0;
    for (int i = 0; i < 100; i++) {
        char name[16];
        snprintf(name, sizeof name, "p%d", i);
        ck_assert_ptr_eq(tg_store_find(s, name), made[i]);
        if (i % 3 != 2) ck_assert_ptr_eq(tg_store_get_param(s, p++), made[i]);
    }
    ck_assert_int_eq(tg_store_n_params(s), p);
    tg_store_free(s);
}
END_TEST

START_TEST(test_store_zero_grad) {
    tg_store *s = tg_store_new();
    tg_tape *t = tg_tape_new();
    tg_tensor *a = tg_store_param(s, "a", TG_F64, TG_SHAPE(3));
    tg_tensor *b = tg_store_param(s, "b", TG_F32, TG_SHAPE(2, 2));
    tg_tensor_fill(a, 2.0);
    tg_tensor_fill(b, -1.0);
    tg_tensor *la = tg_sum_all(t, tg_mul(t, a, a));
    tg_tensor *lb = tg_sum_all(t, tg_mul_scalar(t, b, 5.0));
    ck_assert_int_eq(tg_tape_backward(t, la, NULL, 0), TG_OK);
    ck_assert_int_eq(tg_tape_backward(t, lb, NULL, 0), TG_OK);
    for (int i = 0; i < 3; i++) ck_assert(tg_tensor_get(tg_tensor_grad(a), i) == 4.0);
    for (int i = 0; i < 4; i++) ck_assert(tg_tensor_get(tg_tensor_grad(b), i) == 5.0);
    tg_tensor *ga = tg_tensor_grad(a);
    tg_store_zero_grad(s);
    ck_assert_ptr_eq(tg_tensor_grad(a), ga); /* zeroed in place, the same tensor */
    for (int i = 0; i < 3; i++) ck_assert(tg_tensor_get(tg_tensor_grad(a), i) == 0.0);
    for (int i = 0; i < 4; i++) ck_assert(tg_tensor_get(tg_tensor_grad(b), i) == 0.0);
    /* Values are untouched. */
    ck_assert(tg_tensor_get(a, 0) == 2.0 && tg_tensor_get(b, 3) == -1.0);
    tg_store_zero_grad(NULL);
    tg_tape_free(t);
    tg_store_free(s);
}
END_TEST

static Suite *tape_suite(void) {
    Suite *s = suite_create("graph_tape");
    TCase *mem = tcase_create("memory");
    tcase_set_timeout(mem, 120);
    tcase_add_test(mem, test_steady_state_no_alloc_small);
    tcase_add_test(mem, test_steady_state_no_alloc_spilled);
    tcase_add_test(mem, test_nth_allocation_fails);
    tcase_add_test(mem, test_allocations_fail_from_nth_on);
    tcase_add_test(mem, test_every_tape_allocation_fails);
    tcase_add_test(mem, test_scopes_steady_state_and_failures);
    suite_add_tcase(s, mem);
    TCase *tape = tcase_create("tape");
    tcase_add_test(tape, test_tape_counts_and_reset);
    tcase_add_test(tape, test_no_grad_mode);
    tcase_add_test(tape, test_chain_bytes_per_op);
    tcase_add_test(tape, test_tensor_names);
    suite_add_tcase(s, tape);
    TCase *store = tcase_create("store");
    tcase_add_test(store, test_store_params);
    tcase_add_test(store, test_store_errors);
    tcase_add_test(store, test_store_many);
    tcase_add_test(store, test_store_zero_grad);
    suite_add_tcase(s, store);
    return s;
}

int main(void) { return tg_test_run(tape_suite()); }
