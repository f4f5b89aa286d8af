/* test_nn_recurrent.c: the RNN, LSTM and GRU cells.
 *
 * Against PyTorch: a one-layer nn.RNN/LSTM/GRU over 5 steps (fixtures nn_rnn, nn_lstm, nn_gru,
 * nn_gru_nobias), outputs, final states and the gradients of every parameter, the input
 * sequence and the initial state, in f64 (1e-10) and f32. Through time: each cell unrolled over
 * at least 5 steps passes the f64 finite-difference gradcheck against its parameters, its
 * inputs and its initial state. And the step and unroll entry points agree with each other.
 * The RNN and LSTM unrolls record their recurrence as one sequence op with a fused backward:
 * at sizes where the products take their fast paths (odd batch, prime hidden size, 1 and 2
 * threads, f32 and f64) its gradients agree with those of its rule written in primitive ops
 * (the TG_CREATE_GRAPH path), and its outputs with stepping by hand. */
#include <math.h>
#include <string.h>

#include "nn_fixture.h"

#define DTYPE_OF(i) ((i) == 0 ? TG_F64 : TG_F32)

typedef enum kind { K_RNN, K_LSTM, K_GRU } kind;

/* Any of the three cells: their structs share one layout, but each has its own entry points. */
typedef struct any_cell {
    kind k;
    tg_rnn_cell rnn;
    tg_lstm_cell lstm;
    tg_gru_cell gru;
} any_cell;

static tg_status cell_init(any_cell *c, kind k, tg_store *s, const char *name, int64_t in,
                           int64_t hidden, bool bias, tg_dtype dt, tg_rng *rng, tg_error *err) {
    memset(c, 0, sizeof *c);
    c->k = k;
    switch (k) {
    case K_RNN:
        return tg_rnn_cell_init(&c->rnn, s, name, in, hidden, bias, dt, rng, err);
    case K_LSTM:
        return tg_lstm_cell_init(&c->lstm, s, name, in, hidden, bias, dt, rng, err);
    case K_GRU:
        return tg_gru_cell_init(&c->gru, s, name, in, hidden, bias, dt, rng, err);
    }
    return TG_ERR_ARG;
}

/* The cell's four tensors (weight_ih, weight_hh, bias_ih, bias_hh), read or replaced. */
static tg_tensor **cell_params(any_cell *c) {
    switch (c->k) {
    case K_RNN:
        return &c->rnn.weight_ih;
    case K_LSTM:
        return &c->lstm.weight_ih;
    case K_GRU:
        return &c->gru.weight_ih;
    }
    return NULL;
}

static tg_tensor *cell_unroll(tg_tape *t, const any_cell *c, tg_tensor *x, tg_tensor *h0,
                              tg_tensor *c0, tg_tensor **hn, tg_tensor **cn) {
    switch (c->k) {
    case K_RNN:
        return tg_rnn_cell_unroll(t, &c->rnn, x, h0, hn);
    case K_LSTM:
        return tg_lstm_cell_unroll(t, &c->lstm, x, h0, c0, hn, cn);
    case K_GRU:
        return tg_gru_cell_unroll(t, &c->gru, x, h0, hn);
    }
    return NULL;
}

static tg_tensor *cell_step(tg_tape *t, const any_cell *c, tg_tensor *x, tg_tensor *h,
                            tg_tensor *cs, tg_tensor **c_out) {
    switch (c->k) {
    case K_RNN:
        return tg_rnn_cell_step(t, &c->rnn, x, h);
    case K_LSTM:
        return tg_lstm_cell_step(t, &c->lstm, x, h, cs, c_out);
    case K_GRU:
        return tg_gru_cell_step(t, &c->gru, x, h);
    }
    return NULL;
}

/* ---- against PyTorch ---- */

static void check_ref(const char *name, kind k, tg_dtype dt) {
    static const char *const pnames[] = {"weight_ih", "weight_hh", "bias_ih", "bias_hh"};
    fixture f;
    NN_LOAD(f, name);
    int64_t *z = nn_ints(&f, "sizes", NULL); /* T, B, I, H, bias */
    bool bias = z[4] != 0;
    tg_store *s = tg_store_new();
    tg_tape *t = tg_tape_new();
    tg_rng rng;
    tg_rng_seed(&rng, 3);
    tg_error err;
    any_cell c;
    ck_assert_msg(cell_init(&c, k, s, "rnn", z[2], z[3], bias, dt, &rng, &err) == TG_OK, "%s",
                  err.message);
    ck_assert_int_eq(tg_store_n_params(s), bias ? 4 : 2);
    tg_tensor **p = cell_params(&c);
    for (int i = 0; i < (bias ? 4 : 2); i++) {
        char key[32];
        snprintf(key, sizeof key, "rnn.%s", pnames[i]);
        ck_assert_ptr_eq(tg_store_find(s, key), p[i]);
        nn_fill_from(&f, pnames[i], p[i]);
    }
    if (!bias) ck_assert_ptr_null(p[2]);
    tg_tensor *x = nn_input(&f, t, "x", dt, true), *h0 = nn_input(&f, t, "h0", dt, true);
    tg_tensor *c0 = k == K_LSTM ? nn_input(&f, t, "c0", dt, true) : NULL;
    tg_tensor *hn = NULL, *cn = NULL;
    tg_tensor *out = cell_unroll(t, &c, x, h0, c0, &hn, k == K_LSTM ? &cn : NULL);
    ck_assert_msg(out != NULL, "%s", tg_tape_error(t));
    NN_CHECK(f, "out", out);
    NN_CHECK(f, "hn", hn);
    if (k == K_LSTM) NN_CHECK(f, "cn", cn);
    /* loss = sum(out * gout) + sum(hn * ghn) (+ sum(cn * gcn)), as the generator's. */
    tg_tensor *loss = tg_add(t, tg_sum_all(t, tg_mul(t, out, nn_input(&f, t, "gout", dt, false))),
                             tg_sum_all(t, tg_mul(t, hn, nn_input(&f, t, "ghn", dt, false))));
    if (k == K_LSTM)
        loss = tg_add(t, loss, tg_sum_all(t, tg_mul(t, cn, nn_input(&f, t, "gcn", dt, false))));
    ck_assert_msg(tg_tape_backward(t, loss, NULL, 0) == TG_OK, "%s", tg_tape_error(t));
    NN_CHECK(f, "dx", tg_tensor_grad(x));
    NN_CHECK(f, "dh0", tg_tensor_grad(h0));
    if (k == K_LSTM) NN_CHECK(f, "dc0", tg_tensor_grad(c0));
    for (int i = 0; i < (bias ? 4 : 2); i++) {
        char key[32];
        snprintf(key, sizeof key, "d%s", pnames[i]);
        NN_CHECK(f, key, tg_tensor_grad(p[i]));
    }
    free(z);
    tg_tape_free(t);
    tg_store_free(s);
    fixture_free(&f);
}

START_TEST(rnn_ref) { check_ref("nn_rnn", K_RNN, DTYPE_OF(_i)); }
END_TEST

START_TEST(lstm_ref) { check_ref("nn_lstm", K_LSTM, DTYPE_OF(_i)); }
END_TEST

START_TEST(gru_ref) { check_ref("nn_gru", K_GRU, DTYPE_OF(_i)); }
END_TEST

START_TEST(gru_nobias_ref) { check_ref("nn_gru_nobias", K_GRU, DTYPE_OF(_i)); }
END_TEST

/* ---- gradient checks through time ---- */

/* The gradcheck's inputs: x (T, B, I), h0 (B, H), [c0 (B, H)], then the cell's parameters. */
typedef struct bptt_ctx {
    any_cell cell; /* sizes and kind; its tensors are replaced by the checker's leaves */
    int n_params;
} bptt_ctx;

static int unrolled(tg_tape *t, tg_tensor *const *in, tg_tensor **out, void *ctx_) {
    bptt_ctx *ctx = ctx_;
    any_cell c = ctx->cell;
    int first = c.k == K_LSTM ? 3 : 2;
    tg_tensor **p = cell_params(&c);
    for (int i = 0; i < 4; i++) p[i] = i < ctx->n_params ? in[first + i] : NULL;
    tg_tensor *hn = NULL, *cn = NULL;
    out[0] = cell_unroll(t, &c, in[0], in[1], c.k == K_LSTM ? in[2] : NULL, &hn, &cn);
    out[1] = hn;
    if (c.k != K_LSTM) return out[0] && hn ? 2 : 0;
    out[2] = cn;
    return out[0] && hn && cn ? 3 : 0;
}

static void check_bptt(kind k, int64_t steps, bool bias) {
    const int64_t batch = 2, in = 3, hidden = 3;
    tg_store *s = tg_store_new();
    tg_tape *t = tg_tape_new();
    tg_rng rng;
    tg_rng_seed(&rng, 40 + (uint64_t)k);
    bptt_ctx ctx;
    tg_error err;
    ck_assert_int_eq(cell_init(&ctx.cell, k, s, "cell", in, hidden, bias, TG_F64, &rng, &err),
                     TG_OK);
    ctx.n_params = bias ? 4 : 2;
    tg_tensor *inputs[8];
    int n = 0;
    inputs[n++] = tg_uniform(t, &rng, TG_F64, TG_SHAPE(steps, batch, in), -1.5, 1.5);
    inputs[n++] = tg_uniform(t, &rng, TG_F64, TG_SHAPE(batch, hidden), -0.8, 0.8);
    if (k == K_LSTM) inputs[n++] = tg_uniform(t, &rng, TG_F64, TG_SHAPE(batch, hidden), -0.8, 0.8);
    /* Parameters larger than the default init, so that the gates leave their linear range and
     * the check sees the nonlinearity at work. */
    tg_tensor **p = cell_params(&ctx.cell);
    for (int i = 0; i < ctx.n_params; i++) {
        ck_assert_int_eq(tg_tensor_fill_uniform(p[i], &rng, -1.2, 1.2), TG_OK);
        inputs[n++] = p[i];
    }
    tg_gradcheck_report rep;
    tg_status st = tg_gradcheck(unrolled, &ctx, n, inputs, NULL, &rep);
    ck_assert_gradcheck(st, rep);
    /* Every parameter entry and every step's input was compared against every output. */
    int64_t n_in = 0, n_out = steps * batch * hidden + batch * hidden * (k == K_LSTM ? 2 : 1);
    for (int i = 0; i < n; i++) n_in += tg_tensor_numel(inputs[i]);
    ck_assert_int_eq(rep.n_checked, n_in * n_out);
    tg_tape_free(t);
    tg_store_free(s);
}

START_TEST(rnn_gradcheck_through_time) { check_bptt(K_RNN, 6, true); }
END_TEST

START_TEST(lstm_gradcheck_through_time) { check_bptt(K_LSTM, 5, true); }
END_TEST

START_TEST(gru_gradcheck_through_time) { check_bptt(K_GRU, 5, true); }
END_TEST

START_TEST(gru_nobias_gradcheck_through_time) { check_bptt(K_GRU, 7, false); }
END_TEST

/* ---- the entry points agree ---- */

/* Stepping by hand gives the unroll's outputs, and a NULL initial state is a zero one. */
static void check_steps_match_unroll(kind k) {
    const int64_t steps = 9, batch = 3, in = 4, hidden = 5;
    tg_store *s = tg_store_new();
    tg_tape *t = tg_tape_new();
    tg_rng rng;
    tg_rng_seed(&rng, 77);
    any_cell c;
    ck_assert_int_eq(cell_init(&c, k, s, "c", in, hidden, true, TG_F64, &rng, NULL), TG_OK);
    tg_tensor *x = tg_normal(t, &rng, TG_F64, TG_SHAPE(steps, batch, in), 0.0, 1.0);
    tg_tensor *hn = NULL, *cn = NULL;
    tg_tensor *out = cell_unroll(t, &c, x, NULL, NULL, &hn, &cn);
    ck_assert_msg(out != NULL, "%s", tg_tape_error(t));
    ck_assert_int_eq(tg_tensor_dim(out, 0), steps);
    ck_assert_int_eq(tg_tensor_dim(out, 1), batch);
    ck_assert_int_eq(tg_tensor_dim(out, 2), hidden);
    tg_tensor *h = tg_zeros(t, TG_F64, TG_SHAPE(batch, hidden));
    tg_tensor *cs = tg_zeros(t, TG_F64, TG_SHAPE(batch, hidden));
    for (int64_t i = 0; i < steps; i++) {
        tg_tensor *xi = tg_reshape(t, tg_slice(t, x, 0, i, i + 1, 1), TG_SHAPE(batch, in));
        tg_tensor *c_next = NULL;
        h = cell_step(t, &c, xi, h, cs, &c_next);
        cs = c_next;
        ck_assert_ptr_nonnull(h);
        for (int64_t j = 0; j < batch * hidden; j++)
            ck_assert_double_eq(tg_tensor_get(out, i * batch * hidden + j), tg_tensor_get(h, j));
    }
    for (int64_t j = 0; j < batch * hidden; j++) {
        ck_assert_double_eq(tg_tensor_get(hn, j), tg_tensor_get(h, j));
        if (k == K_LSTM) ck_assert_double_eq(tg_tensor_get(cn, j), tg_tensor_get(cs, j));
    }
    /* A step with a NULL state starts from zeros too. */
    tg_tensor *x0 = tg_reshape(t, tg_slice(t, x, 0, 0, 1, 1), TG_SHAPE(batch, in));
    tg_tensor *c1 = NULL;
    tg_tensor *h1 = cell_step(t, &c, x0, NULL, NULL, &c1);
    ck_assert_ptr_nonnull(h1);
    for (int64_t j = 0; j < batch * hidden; j++)
        ck_assert_double_eq(tg_tensor_get(h1, j), tg_tensor_get(out, j));
    ck_assert_int_eq(tg_tape_status(t), TG_OK);
    tg_tape_free(t);
    tg_store_free(s);
}

START_TEST(steps_match_unroll) { check_steps_match_unroll((kind)_i); }
END_TEST

/* |a - b| <= tol (1 + |b|) element by element, naming what differs. */
static void assert_close(const tg_tensor *a, const tg_tensor *b, double tol, const char *what) {
    ck_assert_int_eq(tg_tensor_numel(a), tg_tensor_numel(b));
    for (int64_t j = 0; j < tg_tensor_numel(a); j++) {
        double x = tg_tensor_get(a, j), y = tg_tensor_get(b, j);
        ck_assert_msg(fabs(x - y) <= tol * (1.0 + fabs(y)), "%s[%lld]: %.17g vs %.17g", what,
                      (long long)j, x, y);
    }
}

/* The fused backward of the sequence op against its composed rule, and the unroll against
 * steps, for the RNN (_i 0, 1: f64, f32) and the LSTM (_i 2, 3). */
static void check_fused_sequence(kind k, tg_dtype dt) {
    const int64_t steps = 7, batch = 33, in = 65, hidden = 37;
    const double tol = dt == TG_F64 ? 1e-12 : 2e-5;
    for (int threads = 1; threads <= 2; threads++) {
        tg_set_threads(threads);
        tg_store *s = tg_store_new();
        tg_tape *t = tg_tape_new();
        tg_rng rng;
        tg_rng_seed(&rng, 90 + (uint64_t)k);
        any_cell c;
        ck_assert_int_eq(cell_init(&c, k, s, "c", in, hidden, true, dt, &rng, NULL), TG_OK);
        tg_tensor *x = tg_uniform(t, &rng, dt, TG_SHAPE(steps, batch, in), -1.0, 1.0);
        tg_tensor *h0 = tg_uniform(t, &rng, dt, TG_SHAPE(batch, hidden), -0.5, 0.5);
        tg_tensor *c0 = tg_uniform(t, &rng, dt, TG_SHAPE(batch, hidden), -0.5, 0.5);
        tg_tensor_set_requires_grad(x, true);
        tg_tensor_set_requires_grad(h0, true);
        tg_tensor_set_requires_grad(c0, true);
        tg_tensor *hn = NULL, *cn = NULL;
        tg_tensor *out = cell_unroll(t, &c, x, h0, k == K_LSTM ? c0 : NULL, &hn, &cn);
        ck_assert_msg(out != NULL, "%s", tg_tape_error(t));
        /* A loss weighting every output differently, the final states included. */
        tg_tensor *v = tg_uniform(t, &rng, dt, TG_SHAPE(steps, batch, hidden), -1.0, 1.0);
        tg_tensor *loss =
            tg_add(t, tg_sum_all(t, tg_mul(t, out, v)), tg_sum_all(t, tg_tanh(t, hn)));
        if (k == K_LSTM) loss = tg_add(t, loss, tg_sum_all(t, tg_mul(t, cn, cn)));
        tg_tensor **p = cell_params(&c);
        tg_tensor *wrt[7] = {x, h0, p[0], p[1], p[2], p[3], c0};
        int n = k == K_LSTM ? 7 : 6;
        tg_tensor *composed[7], *fused[7];
        ck_assert_int_eq(tg_tape_grad(t, loss, NULL, n, wrt, composed, TG_CREATE_GRAPH), TG_OK);
        ck_assert_int_eq(tg_tape_grad(t, loss, NULL, n, wrt, fused, 0), TG_OK);
        static const char *const names[7] = {"dx",    "dh0",   "dW_ih", "dW_hh",
                                             "db_ih", "db_hh", "dc0"};
        for (int i = 0; i < n; i++) assert_close(fused[i], composed[i], tol, names[i]);
        /* The unroll against steps (the input product there is made B rows at a time). */
        tg_tensor *h = h0, *cs = c0;
        for (int64_t i = 0; i < steps; i++) {
            tg_tensor *xi = tg_reshape(t, tg_slice(t, x, 0, i, i + 1, 1), TG_SHAPE(batch, in));
            tg_tensor *c_next = NULL;
            h = cell_step(t, &c, xi, h, cs, &c_next);
            cs = c_next;
            tg_tensor *oi =
                tg_reshape(t, tg_slice(t, out, 0, i, i + 1, 1), TG_SHAPE(batch, hidden));
            ck_assert_ptr_nonnull(h);
            assert_close(oi, h, tol, "h_t");
        }
        if (k == K_LSTM) assert_close(cn, cs, tol, "c_T");
        ck_assert_int_eq(tg_tape_status(t), TG_OK);
        tg_tape_free(t);
        tg_store_free(s);
    }
    tg_set_threads(1);
}

START_TEST(fused_sequence_matches_composed) {
    check_fused_sequence(_i < 2 ? K_RNN : K_LSTM, _i % 2 == 0 ? TG_F64 : TG_F32);
}
END_TEST

/* One step: the RNN's formula written out for a single element, so that a wrong gate layout
 * in all three paths at once would still be caught; the LSTM and GRU are pinned by PyTorch. */
START_TEST(rnn_step_formula) {
    tg_store *s = tg_store_new();
    tg_tape *t = tg_tape_new();
    tg_rng rng;
    tg_rng_seed(&rng, 5);
    tg_rnn_cell c;
    ck_assert_int_eq(tg_rnn_cell_init(&c, s, "r", 2, 2, true, TG_F64, &rng, NULL), TG_OK);
    const double wih[] = {0.5, -1, 2, 0.25}, whh[] = {1, 0, -0.5, 0.75};
    const double bih[] = {0.1, -0.2}, bhh[] = {0.3, 0.05}, xv[] = {1, 2}, hv[] = {-1, 0.5};
    tg_tensor_copy_in(c.weight_ih, TG_F64, wih);
    tg_tensor_copy_in(c.weight_hh, TG_F64, whh);
    tg_tensor_copy_in(c.bias_ih, TG_F64, bih);
    tg_tensor_copy_in(c.bias_hh, TG_F64, bhh);
    tg_tensor *h = tg_rnn_cell_step(t, &c, tg_from_data(t, TG_F64, TG_SHAPE(1, 2), xv),
                                    tg_from_data(t, TG_F64, TG_SHAPE(1, 2), hv));
    double want0 = tanh(0.5 * 1 - 1 * 2 + 0.1 + 1 * -1 + 0 * 0.5 + 0.3);
    double want1 = tanh(2 * 1 + 0.25 * 2 - 0.2 + -0.5 * -1 + 0.75 * 0.5 + 0.05);
    ck_assert_double_eq_tol(tg_tensor_get(h, 0), want0, 1e-15);
    ck_assert_double_eq_tol(tg_tensor_get(h, 1), want1, 1e-15);
    tg_tape_free(t);
    tg_store_free(s);
}
END_TEST

/* Backward through a long unroll stays affordable: the tape's memory after backward grows
 * about as T log T, not T^2. Measured by bytes, never by time. */
START_TEST(long_unroll_backward_memory) {
    const int64_t batch = 4, in = 16, hidden = 8;
    size_t used[2];
    const int64_t lengths[2] = {64, 256};
    for (int r = 0; r < 2; r++) {
        tg_store *s = tg_store_new();
        tg_tape *t = tg_tape_new();
        tg_rng rng;
        tg_rng_seed(&rng, 1);
        tg_rnn_cell c;
        ck_assert_int_eq(tg_rnn_cell_init(&c, s, "r", in, hidden, true, TG_F64, &rng, NULL), TG_OK);
        tg_tensor *x = tg_normal(t, &rng, TG_F64, TG_SHAPE(lengths[r], batch, in), 0.0, 1.0);
        tg_tensor_set_requires_grad(x, true); /* x's gradient must not cost T^2 either */
        tg_tensor *out = tg_rnn_cell_unroll(t, &c, x, NULL, NULL);
        ck_assert_int_eq(tg_tape_backward(t, tg_sum_all(t, out), NULL, 0), TG_OK);
        used[r] = tg_tape_bytes_used(t);
        tg_tape_free(t);
        tg_store_free(s);
    }
    /* 4x the steps: T log T predicts 4 * 8/6 = 5.3x the memory, T^2 16x. */
    double ratio = (double)used[1] / (double)used[0];
    ck_assert_msg(ratio < 8.0, "4x the steps took %.1fx the tape memory (%zu -> %zu bytes)", ratio,
                  used[0], used[1]);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("nn_recurrent");
    TCase *tr = tcase_create("reference");
    tcase_add_loop_test(tr, rnn_ref, 0, 2);
    tcase_add_loop_test(tr, lstm_ref, 0, 2);
    tcase_add_loop_test(tr, gru_ref, 0, 2);
    tcase_add_loop_test(tr, gru_nobias_ref, 0, 2);
    suite_add_tcase(s, tr);
    TCase *tg = tcase_create("gradcheck");
    tcase_set_timeout(tg, 120);
    tcase_add_test(tg, rnn_gradcheck_through_time);
    tcase_add_test(tg, lstm_gradcheck_through_time);
    tcase_add_test(tg, gru_gradcheck_through_time);
    tcase_add_test(tg, gru_nobias_gradcheck_through_time);
    suite_add_tcase(s, tg);
    TCase *te = tcase_create("entry_points");
    tcase_set_timeout(te, 60);
    tcase_add_loop_test(te, steps_match_unroll, 0, 3);
    tcase_add_test(te, rnn_step_formula);
    tcase_add_test(te, long_unroll_backward_memory);
    tcase_add_loop_test(te, fused_sequence_matches_composed, 0, 4);
    suite_add_tcase(s, te);
    return s;
}

int main(void) { return tg_test_run(suite()); }
