/* recurrent.c: the RNN (tanh), LSTM and GRU cells, one step each and the unroll over a
 * sequence, built from ops so that backpropagation through time is the tape's ordinary sweep.
 *
 *   RNN   h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh)
 *   LSTM  [i f g o] = x W_ih^T + b_ih + h W_hh^T + b_hh  (H columns each, PyTorch's order)
 *         c' = sigmoid(f) c + sigmoid(i) tanh(g),  h' = sigmoid(o) tanh(c')
 *   GRU   [r z n]_x = x W_ih^T + b_ih,  [r z n]_h = h W_hh^T + b_hh
 *         r = sigmoid(r_x + r_h), z = sigmoid(z_x + z_h), n = tanh(n_x + r n_h)
 *         h' = (1 - z) n + z h  (computed as n + z (h - n))
 *
 * Every unroll makes the input's product for all steps at once (one linear over T B rows). The
 * RNN and LSTM add both biases to it once (x W_ih^T + (b_ih + b_hh)), in the step and in the
 * unroll alike, and the unroll records their recurrence as one sequence op (src/ops/lstm.h),
 * whose steps round exactly as a single step does; the GRU steps one by one.
 *
 * Invariant: the three public cell structs share one layout, read here through `cell`; every
 * state a step returns is (B, H) in the weights' dtype. */
#include <math.h>
#include <string.h>

#include "../ops/lstm.h"
#include "nn_util.h"

typedef enum cell_kind { CELL_RNN = 0, CELL_LSTM, CELL_GRU } cell_kind;

static const char *const kind_name[] = {"rnn_cell", "lstm_cell", "gru_cell"};
static const int n_gates[] = {1, 4, 3};

typedef struct cell {
    tg_tensor *w_ih, *w_hh, *b_ih, *b_hh;
    int64_t in, hidden;
    cell_kind kind;
} cell;

#define CELL_OF(c, k)                                                                              \
    ((c) ? (cell){(c)->weight_ih, (c)->weight_hh, (c)->bias_ih, (c)->bias_hh, (c)->input_size,     \
                  (c)->hidden_size, (k)}                                                           \
         : (cell){NULL, NULL, NULL, NULL, 0, 0, (k)})

/* ---- init ---- */

/* Makes the four (or, without bias, two) tensors of a cell with `gates` blocks of H rows, all
 * uniform(+-1/sqrt(H)) in PyTorch's order weight_ih, weight_hh, bias_ih, bias_hh. */
static tg_status cell_init(cell *out, cell_kind kind, tg_store *s, const char *name, int64_t in,
                           int64_t hidden, bool bias, tg_dtype dtype, tg_rng *rng, bool layer_given,
                           tg_error *err) {
    static const char *const suffixes[] = {"weight_ih", "weight_hh", "bias_ih", "bias_hh"};
    nn_maker m;
    memset(out, 0, sizeof *out);
    nn_begin(&m, kind_name[kind], s, name, dtype, true, rng, bias ? 4 : 2, suffixes, err);
    if (!layer_given) nn_fail(&m, TG_ERR_NULL, "the layer is NULL");
    nn_positive(&m, "input_size", in);
    nn_positive(&m, "hidden_size", hidden);
    int64_t rows = 0;
    if (m.status == TG_OK && !tg_size_mul(n_gates[kind], hidden, TG_MAX_NUMEL, &rows))
        nn_fail(&m, TG_ERR_SHAPE, "hidden_size %lld makes %d x %lld gate rows, more than 2^40",
                (long long)hidden, n_gates[kind], (long long)hidden);
    tg_tensor *p[4] = {nn_tensor(&m, 0, false, TG_SHAPE(rows, in)),
                       nn_tensor(&m, 1, false, TG_SHAPE(rows, hidden)),
                       bias ? nn_tensor(&m, 2, false, TG_SHAPE(rows)) : NULL,
                       bias ? nn_tensor(&m, 3, false, TG_SHAPE(rows)) : NULL};
    if (m.status != TG_OK) return m.status;
    double bound = 1.0 / sqrt((double)hidden);
    for (int i = 0; i < (bias ? 4 : 2); i++) {
        tg_status st = tg_init_uniform(p[i], rng, -bound, bound, err);
        if (st != TG_OK) return st;
    }
    *out = (cell){p[0], p[1], p[2], p[3], in, hidden, kind};
    return TG_OK;
}

#define CELL_INIT(type, kind)                                                                      \
    do {                                                                                           \
        cell made;                                                                                 \
        if (c) memset(c, 0, sizeof *c);                                                            \
        tg_status st = cell_init(&made, kind, s, name, input_size, hidden_size, bias, dtype, rng,  \
                                 c != NULL, err);                                                  \
        if (st != TG_OK) return st;                                                                \
        *c = (type){made.w_ih, made.w_hh, made.b_ih, made.b_hh, made.in, made.hidden};             \
        return TG_OK;                                                                              \
    } while (0)

tg_status tg_rnn_cell_init(tg_rnn_cell *c, tg_store *s, const char *name, int64_t input_size,
                           int64_t hidden_size, bool bias, tg_dtype dtype, tg_rng *rng,
                           tg_error *err) {
    CELL_INIT(tg_rnn_cell, CELL_RNN);
}

tg_status tg_lstm_cell_init(tg_lstm_cell *c, tg_store *s, const char *name, int64_t input_size,
                            int64_t hidden_size, bool bias, tg_dtype dtype, tg_rng *rng,
                            tg_error *err) {
    CELL_INIT(tg_lstm_cell, CELL_LSTM);
}

tg_status tg_gru_cell_init(tg_gru_cell *c, tg_store *s, const char *name, int64_t input_size,
                           int64_t hidden_size, bool bias, tg_dtype dtype, tg_rng *rng,
                           tg_error *err) {
    CELL_INIT(tg_gru_cell, CELL_GRU);
}

/* ---- checks ---- */

/* Enters a step or unroll of c with input x. */
static bool cell_enter(tg_tape *t, const char *file, int line, const void *layer, const cell *c,
                       tg_tensor *x) {
    return nn_enter(t, file, line, kind_name[c->kind], layer, c->w_ih && c->w_hh, x);
}

/* x must have `ndim` dimensions ending in I, in the weights' dtype. */
static bool check_input(tg_tape *t, const cell *c, const tg_tensor *x, int ndim,
                        const char *layout) {
    if (x->ndim == ndim && x->shape[ndim - 1] == c->in && x->dtype == c->w_ih->dtype &&
        (ndim == 2 || x->shape[0] >= 1))
        return true;
    char xs[TG_SHAPE_STR_MAX], nm[TG_NAME_MAX];
    tg_fail(t, x->dtype == c->w_ih->dtype ? TG_ERR_SHAPE : TG_ERR_DTYPE,
            "%s '%s' (input %lld, hidden %lld): x must be %s %s with I = %lld, got %s %s",
            kind_name[c->kind], nn_layer_name(c->w_ih, nm, sizeof nm), (long long)c->in,
            (long long)c->hidden, tg_dtype_name(c->w_ih->dtype), layout, (long long)c->in,
            tg_dtype_name(x->dtype), tg_shape_str(x, xs, sizeof xs));
    return false;
}

/* A state: the given (B, H) tensor, checked, or zeros for NULL on a tape without error (a NULL
 * after an error is that error's result: NULL is returned and the error stays the first). */
static tg_tensor *state_or_zeros(tg_tape *t, const cell *c, const char *what, tg_tensor *s,
                                 int64_t batch) {
    if (!s) {
        if (tg_tape_status(t) != TG_OK) return NULL;
        return tg_zeros(t, c->w_ih->dtype, TG_SHAPE(batch, c->hidden));
    }
    if (!nn_current(t, kind_name[c->kind], what, s)) return NULL;
    if (s->ndim == 2 && s->shape[0] == batch && s->shape[1] == c->hidden &&
        s->dtype == c->w_ih->dtype)
        return s;
    char ss[TG_SHAPE_STR_MAX], nm[TG_NAME_MAX];
    return tg_fail(t, s->dtype == c->w_ih->dtype ? TG_ERR_SHAPE : TG_ERR_DTYPE,
                   "%s '%s': the state %s must be %s (%lld, %lld), got %s %s", kind_name[c->kind],
                   nn_layer_name(c->w_ih, nm, sizeof nm), what, tg_dtype_name(c->w_ih->dtype),
                   (long long)batch, (long long)c->hidden, tg_dtype_name(s->dtype),
                   tg_shape_str(s, ss, sizeof ss));
}

/* ---- one step ---- */

/* Columns [k H, (k + 1) H) of a (B, G H) tensor: gate block k. */
static tg_tensor *block(tg_tape *t, const cell *c, tg_tensor *z, int k) {
    return tg_slice(t, z, 1, k * c->hidden, (k + 1) * c->hidden, 1);
}

/* b_ih + b_hh, or whichever one the cell has, or NULL. */
static tg_tensor *folded_bias(tg_tape *t, const cell *c) {
    if (c->b_ih && c->b_hh) return tg_add(t, c->b_ih, c->b_hh);
    return c->b_ih ? c->b_ih : c->b_hh;
}

/* The GRU's step from its input product gx = x W_ih^T + b_ih (B, 3H). */
static tg_tensor *gru_step(tg_tape *t, const cell *c, tg_tensor *gx, tg_tensor *h) {
    tg_tensor *gh = tg_linear(t, h, c->w_hh, c->b_hh);
    tg_tensor *r = tg_sigmoid(t, tg_add(t, block(t, c, gx, 0), block(t, c, gh, 0)));
    tg_tensor *z = tg_sigmoid(t, tg_add(t, block(t, c, gx, 1), block(t, c, gh, 1)));
    tg_tensor *n = tg_tanh(t, tg_add(t, block(t, c, gx, 2), tg_mul(t, r, block(t, c, gh, 2))));
    return tg_add(t, n, tg_mul(t, z, tg_sub(t, h, n)));
}

/* The step proper, on checked x (B, I) and states (B, H). For the LSTM, cs is the cell state
 * and *c_out receives the new one. */
static tg_tensor *step(tg_tape *t, const cell *c, tg_tensor *x, tg_tensor *h, tg_tensor *cs,
                       tg_tensor **c_out) {
    if (c->kind == CELL_GRU) return gru_step(t, c, tg_linear(t, x, c->w_ih, c->b_ih), h);
    /* The association the sequence ops use: (x W_ih^T + b) + h W_hh^T. */
    tg_tensor *gx = tg_linear(t, x, c->w_ih, folded_bias(t, c));
    tg_tensor *z = tg_add(t, gx, tg_matmul(t, h, tg_transpose(t, c->w_hh, 0, 1)));
    if (c->kind == CELL_RNN) return tg_tanh(t, z);
    /* The gate arithmetic is one fused op (ops.h's tg_lstm_gates) giving [h', c']. */
    tg_tensor *hc = tg_lstm_gates(t, z, cs);
    *c_out = block(t, c, hc, 1);
    return block(t, c, hc, 0);
}

/* A checked step of any kind from the public entry points. */
static tg_tensor *step_entry(tg_tape *t, const char *file, int line, const void *layer,
                             const cell *c, tg_tensor *x, tg_tensor *h, tg_tensor *cs,
                             tg_tensor **c_out) {
    if (c_out) *c_out = NULL;
    if (!cell_enter(t, file, line, layer, c, x)) return NULL;
    if (c->kind == CELL_LSTM && !c_out)
        return tg_fail(t, TG_ERR_NULL,
                       "lstm_cell: c_out is NULL (the new cell state needs a "
                       "place)");
    if (!check_input(t, c, x, 2, "(B, I)")) return NULL;
    int64_t batch = x->shape[0];
    h = state_or_zeros(t, c, "h", h, batch);
    if (c->kind == CELL_LSTM) cs = state_or_zeros(t, c, "c", cs, batch);
    if (!h || (c->kind == CELL_LSTM && !cs)) return NULL;
    tg_tensor *cn = NULL;
    tg_tensor *hn = step(t, c, x, h, cs, &cn);
    if (c_out) *c_out = hn ? cn : NULL;
    return hn;
}

tg_tensor *tg_rnn_cell_step_at(tg_tape *t, const char *file, int line, const tg_rnn_cell *c,
                               tg_tensor *x, tg_tensor *h) {
    cell k = CELL_OF(c, CELL_RNN);
    return step_entry(t, file, line, c, &k, x, h, NULL, NULL);
}

tg_tensor *tg_lstm_cell_step_at(tg_tape *t, const char *file, int line, const tg_lstm_cell *c,
                                tg_tensor *x, tg_tensor *h, tg_tensor *cs, tg_tensor **c_out) {
    cell k = CELL_OF(c, CELL_LSTM);
    return step_entry(t, file, line, c, &k, x, h, cs, c_out);
}

tg_tensor *tg_gru_cell_step_at(tg_tape *t, const char *file, int line, const tg_gru_cell *c,
                               tg_tensor *x, tg_tensor *h) {
    cell k = CELL_OF(c, CELL_GRU);
    return step_entry(t, file, line, c, &k, x, h, NULL, NULL);
}

/* ---- the unroll ---- */

/* Step `s` of y (T', B, H) as (B, H). */
static tg_tensor *step_of(tg_tape *t, tg_tensor *y, int64_t s) {
    return tg_reshape(t, tg_slice(t, y, 0, s, s + 1, 1),
                      TG_SHAPE(tg_tensor_dim(y, 1), tg_tensor_dim(y, 2)));
}

/* The GRU's unroll: every step's input product at once (one linear over T B rows), then the
 * steps one by one, each reading its rows of that product. */
static tg_tensor *gru_unroll(tg_tape *t, const cell *c, tg_tensor *x, tg_tensor *h,
                             tg_tensor **h_n) {
    int64_t steps_n = x->shape[0], batch = x->shape[1];
    tg_tensor *flat = tg_reshape(t, x, TG_SHAPE(steps_n * batch, c->in));
    tg_tensor *gx = tg_reshape(t, tg_linear(t, flat, c->w_ih, c->b_ih),
                               TG_SHAPE(steps_n, batch, 3 * c->hidden));
    if (!gx) return NULL;
    /* Both pointer arrays live on the tape, so a steady-state step allocates nothing. */
    tg_tensor **xs = tg_arena_alloc(&t->arena, (size_t)(2 * steps_n) * sizeof *xs);
    if (!xs)
        return tg_fail(t, TG_ERR_NOMEM, "%s: no memory for %lld steps", kind_name[c->kind],
                       (long long)steps_n);
    tg_tensor **hs = xs + steps_n;
    tg_seq_split_steps(t, gx, 0, steps_n, xs);
    for (int64_t s = 0; s < steps_n && h; s++) {
        h = gru_step(t, c, xs[s], h);
        hs[s] = h;
    }
    if (!h) return NULL;
    tg_tensor *out = tg_stack(t, (int)steps_n, hs, 0);
    if (out && h_n) *h_n = h;
    return out;
}

static tg_tensor *unroll(tg_tape *t, const char *file, int line, const void *layer, const cell *c,
                         tg_tensor *x, tg_tensor *h0, tg_tensor *c0, tg_tensor **h_n,
                         tg_tensor **c_n) {
    if (h_n) *h_n = NULL;
    if (c_n) *c_n = NULL;
    if (!cell_enter(t, file, line, layer, c, x)) return NULL;
    if (!check_input(t, c, x, 3, "(T, B, I), T >= 1,")) return NULL;
    int64_t steps_n = x->shape[0], batch = x->shape[1];
    tg_tensor *h = state_or_zeros(t, c, "h0", h0, batch);
    tg_tensor *cs = c->kind == CELL_LSTM ? state_or_zeros(t, c, "c0", c0, batch) : NULL;
    if (!h || (c->kind == CELL_LSTM && !cs)) return NULL;
    if (steps_n > INT32_MAX)
        return tg_fail(t, TG_ERR_SHAPE, "%s: %lld steps are more than one stack can join",
                       kind_name[c->kind], (long long)steps_n);
    if (c->kind == CELL_GRU) return gru_unroll(t, c, x, h, h_n);
    /* Every step's input product at once, then the recurrence as one op. */
    int64_t gh = n_gates[c->kind] * c->hidden;
    tg_tensor *flat = tg_reshape(t, x, TG_SHAPE(steps_n * batch, c->in));
    tg_tensor *gx =
        tg_reshape(t, tg_linear(t, flat, c->w_ih, folded_bias(t, c)), TG_SHAPE(steps_n, batch, gh));
    if (!gx) return NULL;
    if (c->kind == CELL_RNN) {
        tg_tensor *out = tg_rnn_seq_at(t, NULL, 0, gx, h, c->w_hh);
        tg_tensor *last = out && h_n ? step_of(t, out, steps_n - 1) : out;
        if (!last) return NULL;
        if (h_n) *h_n = last;
        return out;
    }
    /* lstm_seq gives [h_1..h_T, c_T]. */
    tg_tensor *y = tg_lstm_seq_at(t, NULL, 0, gx, h, cs, c->w_hh);
    tg_tensor *out = tg_slice(t, y, 0, 0, steps_n, 1);
    tg_tensor *hl = out && h_n ? step_of(t, y, steps_n - 1) : out;
    tg_tensor *cl = out && c_n ? step_of(t, y, steps_n) : out;
    if (!hl || !cl) return NULL;
    if (h_n) *h_n = hl;
    if (c_n) *c_n = cl;
    return out;
}

tg_tensor *tg_rnn_cell_unroll_at(tg_tape *t, const char *file, int line, const tg_rnn_cell *c,
                                 tg_tensor *x, tg_tensor *h0, tg_tensor **h_n) {
    cell k = CELL_OF(c, CELL_RNN);
    return unroll(t, file, line, c, &k, x, h0, NULL, h_n, NULL);
}

tg_tensor *tg_lstm_cell_unroll_at(tg_tape *t, const char *file, int line, const tg_lstm_cell *c,
                                  tg_tensor *x, tg_tensor *h0, tg_tensor *c0, tg_tensor **h_n,
                                  tg_tensor **c_n) {
    cell k = CELL_OF(c, CELL_LSTM);
    return unroll(t, file, line, c, &k, x, h0, c0, h_n, c_n);
}

tg_tensor *tg_gru_cell_unroll_at(tg_tape *t, const char *file, int line, const tg_gru_cell *c,
                                 tg_tensor *x, tg_tensor *h0, tg_tensor **h_n) {
    cell k = CELL_OF(c, CELL_GRU);
    return unroll(t, file, line, c, &k, x, h0, NULL, h_n, NULL);
}
