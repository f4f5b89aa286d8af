/* seq_team.c: rnn_seq's and lstm_seq's unroll as one job on the pool's threads (seq_team.h).
 *
 * One step's recurrent product is small (32 x 128 x 512 in the LSTM benchmark, about 20 us), so
 * posting each to the pool leaves the cell arithmetic between them on one thread while the
 * other polls, and pays a hand-over per product. The team splits the unroll one of two ways.
 *
 * By rows of the batch, when there are enough of them (SEQ_MIN_ROWS per thread): a row's
 * recurrence needs no other row, so a task is a block of rows run through every step, forward
 * (h_{t-1} W^T, then the cell) or backward (the cell's gradient, then dh = dz_t W), and the
 * threads never wait for each other until the end, nor read each other's states (a split by
 * units makes every thread read the other's half of h_t forward and of dz_t backward, each
 * step, from the other core's cache).
 *
 * By hidden units otherwise: the units are cut into a block per thread, and a step is one task
 * per block: that block's columns of the product h_{t-1} W^T (for the LSTM the four gates'
 * columns of its units), then the cell on them, which needs no other unit's gates. A step's
 * tasks start once the previous step's are all done, one wait per step. Backward, a task is a
 * block's columns of dh = dz_t W and then the cell's gradient at step t - 1 on the same units,
 * which needs only those columns of dh.
 *
 * Each element is computed exactly as by the one-thread loop in lstm.c: a block of rows or
 * columns of a product gets the bits it gets in the whole product (kern_gemm_part_one_thread),
 * and the cell is elementwise. */
#include "seq_team.h"

#include "kernels/cell.h"
#include "kernels/kernels.h"
#include "kernels/threadpool.h"

/* Ranks split H in blocks of this many units: whole vectors at every level, for f32 and f64. */
#define SEQ_UNIT 16
/* The batch rows per thread from which the team splits by rows: a product of 8 rows still
 * fills the direct kernel's tiles (two of 4), and most batches are whole multiples. */
#define SEQ_MIN_ROWS 8
/* A step's product (B G H H multiply-adds) from which the wait between steps (well under a
 * microsecond between two cores) is cheap beside the half of it each of two threads saves. */
#define SEQ_MIN_STEP_WORK (INT64_C(1) << 17)

bool seq_team_by_rows(int64_t B) { return B >= SEQ_MIN_ROWS * kern_threads(); }

bool seq_team_wanted(int64_t B, int64_t H, int gates) {
    return kern_threads() > 1 && (seq_team_by_rows(B) || H >= 2 * SEQ_UNIT) &&
           B * gates * H * H >= SEQ_MIN_STEP_WORK;
}

/* Block b's rows [*j0, *j0 + *n) when splitting by rows, else its units. */
static void block_of(const seq_team *s, int64_t b, int64_t *j0, int64_t *n) {
    if (s->by_rows) {
        *j0 = b * s->B / s->n_blocks;
        *n = (b + 1) * s->B / s->n_blocks - *j0;
        return;
    }
    int64_t units = (s->H + SEQ_UNIT - 1) / SEQ_UNIT;
    int64_t u0 = b * units / s->n_blocks, u1 = (b + 1) * units / s->n_blocks;
    int64_t j1 = u1 * SEQ_UNIT < s->H ? u1 * SEQ_UNIT : s->H;
    *j0 = u0 * SEQ_UNIT;
    *n = j1 > *j0 ? j1 - *j0 : 0;
}

/* Byte pointer to element e of base. */
#define EL(base, e) ((base) + (size_t)(e) * es)

/* Step t of the tanh RNN on units [j0, j0 + n): h_t = tanh(gx_t + h_{t-1} W^T). */
static void rnn_step(const seq_team *s, int64_t t, int64_t j0, int64_t n) {
    const int64_t B = s->B, H = s->H, bh = B * H;
    const size_t es = tg_dtype_size(s->dtype);
    const char *h = EL(s->hs, t * bh);
    char *hn = EL(s->hs, (t + 1) * bh);
    kern_gemm_part_one_thread(s->dtype, B, H, B, n, H, h, H, 1, EL(s->wt, j0), s->wt_rs, 1,
                              EL(hn, j0), H);
    for (int64_t b = 0; b < B; b++) {
        char *row = EL(hn, b * H + j0);
        kern_cell_add(s->dtype, n, EL(s->gx, t * bh + b * H + j0), row, row);
        kern_unary(KERN_TANH, s->dtype, n, row, row, 0.0);
    }
}

/* The rows of W for the four gates of units [j0, j0 + n), transposed into wtp's columns
 * [4 j0, 4 j0 + 4n) as [i f g o]: each step's product for the block is then one call. */
static void lstm_block_weights(const seq_team *s, int64_t j0, int64_t n) {
    const int64_t H = s->H;
    const size_t es = tg_dtype_size(s->dtype);
    for (int g = 0; g < 4; g++) {
        int64_t shape[2] = {H, n}, dst_st[2] = {4 * H, 1}, src_st[2] = {s->w_cs, s->w_rs};
        kern_copy(s->dtype, EL(s->wtp, 4 * j0 + g * n), dst_st, s->dtype,
                  s->w + (size_t)((g * H + j0) * s->w_rs) * es, src_st, 2, shape);
    }
}

/* Step t of the LSTM on units [j0, j0 + n), its pre-activations in z's columns [4 j0, 4 j0 + 4n). */
static void lstm_step(const seq_team *s, int64_t t, int64_t j0, int64_t n) {
    const int64_t B = s->B, H = s->H, bh = B * H;
    const size_t es = tg_dtype_size(s->dtype);
    char *zb = EL(s->z, 4 * j0);
    kern_gemm_part_one_thread(s->dtype, B, 4 * H, B, 4 * n, H, EL(s->hs, t * bh), H, 1,
                              EL(s->wtp, 4 * j0), 4 * H, 1, zb, 4 * H);
    kern_lstm_forward(s->dtype, &(kern_lstm_fwd){.B = B, .H = n, .z = zb, .z_rs = 4 * H,
                                                 .z_gs = n, .gx = EL(s->gx, 4 * t * bh + j0),
                                                 .gx_rs = 4 * H, .gx_gs = H,
                                                 .c = EL(s->cs, t * bh + j0), .c_rs = H,
                                                 .h = EL(s->hs, (t + 1) * bh + j0), .h_rs = H,
                                                 .cn = EL(s->cs, (t + 1) * bh + j0), .cn_rs = H,
                                                 .act = EL(s->act, 5 * t * bh + j0),
                                                 .act_rs = 5 * H, .act_gs = H});
}

/* The cell's gradient at step t on rows [b0, b0 + nb) and units [j0, j0 + n): dz_t's entries
 * of those. The gradient reaching h_t is g_t plus, below the last step, dh from step t + 1's
 * product. */
static void cell_backward(const seq_team *s, int64_t t, int64_t b0, int64_t nb, int64_t j0,
                          int64_t n) {
    const int64_t B = s->B, H = s->H, bh = B * H, T = s->T, e0 = b0 * H + j0;
    const size_t es = tg_dtype_size(s->dtype);
    const char *gt = EL(s->g, t * bh);
    if (!s->lstm) {
        char *dzt = EL(s->dz, t * bh);
        if (n == H) { /* whole rows: one contiguous run */
            kern_rnn_tanh_backward(s->dtype, nb * H, EL(gt, e0), t < T - 1 ? EL(s->dh, e0) : NULL,
                                   EL(s->hs, (t + 1) * bh + e0), EL(dzt, e0));
            return;
        }
        for (int64_t b = b0; b < b0 + nb; b++) {
            int64_t e = b * H + j0;
            kern_rnn_tanh_backward(s->dtype, n, EL(gt, e), t < T - 1 ? EL(s->dh, e) : NULL,
                                   EL(s->hs, (t + 1) * bh + e), EL(dzt, e));
        }
        return;
    }
    /* dL/dc_T, then that of step t + 1 in dcs[(T - 2 - t) & 1]; step t writes the other. */
    const char *gcell = t == T - 1 ? EL(s->g, T * bh) : EL(s->dcs, ((T - 2 - t) & 1) * bh);
    char *dc = EL(s->dcs, ((T - 1 - t) & 1) * bh);
    kern_lstm_backward(s->dtype,
                       &(kern_lstm_bwd){.B = nb, .H = n,
                                        .act = EL(s->act, 5 * (t * bh + b0 * H) + j0),
                                        .act_rs = 5 * H, .act_gs = H,
                                        .c = EL(s->cs, t * bh + e0), .c_rs = H,
                                        .gh = EL(gt, e0), .gh_rs = H,
                                        .dh = t < T - 1 ? EL(s->dh, e0) : NULL, .dh_rs = H,
                                        .gc = EL(gcell, e0), .gc_rs = H,
                                        .dz = EL(s->dz, 4 * (t * bh + b0 * H) + j0),
                                        .dz_rs = 4 * H, .dz_gs = H, .dc = EL(dc, e0),
                                        .dc_rs = H});
}

/* dh's rows [b0, b0 + nb) and columns [j0, j0 + n) = dz_t W, as part of the whole (B, H). */
static void dh_part(const seq_team *s, int64_t t, int64_t b0, int64_t nb, int64_t j0, int64_t n) {
    const size_t es = tg_dtype_size(s->dtype);
    int64_t G = s->lstm ? 4 : 1, H = s->H;
    kern_gemm_part_one_thread(s->dtype, s->B, H, nb, n, G * H,
                              EL(s->dz, G * (t * s->B + b0) * H), G * H, 1,
                              s->w + (size_t)(j0 * s->w_cs) * es, s->w_rs, s->w_cs,
                              EL(s->dh, b0 * H + j0), H);
}

/* Rows [b0, b0 + nb) through the whole unroll, forward or backward (splitting by rows). */
static void rows_forward(const seq_team *s, int64_t b0, int64_t nb) {
    const int64_t B = s->B, H = s->H, bh = B * H, G = s->lstm ? 4 : 1;
    const size_t es = tg_dtype_size(s->dtype);
    for (int64_t t = 0; t < s->T; t++) {
        const char *h = EL(s->hs, t * bh + b0 * H);
        char *hn = EL(s->hs, (t + 1) * bh + b0 * H);
        char *out = s->lstm ? EL(s->z, b0 * 4 * H) : hn;
        kern_gemm_part_one_thread(s->dtype, B, G * H, nb, G * H, H, h, H, 1, s->wt, s->wt_rs, 1,
                                  out, G * H);
        const char *gx = EL(s->gx, G * (t * bh + b0 * H));
        if (!s->lstm) {
            kern_cell_add(s->dtype, nb * H, gx, hn, hn);
            kern_unary(KERN_TANH, s->dtype, nb * H, hn, hn, 0.0);
            continue;
        }
        kern_lstm_forward(s->dtype, &(kern_lstm_fwd){.B = nb, .H = H, .z = out, .z_rs = 4 * H,
                                                     .z_gs = H, .gx = gx, .gx_rs = 4 * H,
                                                     .gx_gs = H,
                                                     .c = EL(s->cs, t * bh + b0 * H), .c_rs = H,
                                                     .h = hn, .h_rs = H,
                                                     .cn = EL(s->cs, (t + 1) * bh + b0 * H),
                                                     .cn_rs = H,
                                                     .act = EL(s->act, 5 * (t * bh + b0 * H)),
                                                     .act_rs = 5 * H, .act_gs = H});
    }
}

static void rows_backward(const seq_team *s, int64_t b0, int64_t nb) {
    for (int64_t t = s->T - 1; t >= 0; t--) {
        cell_backward(s, t, b0, nb, 0, s->H);
        if (t > 0 || s->dh_first) dh_part(s, t, b0, nb, 0, s->H);
    }
}

/* Phase p, block [j0, j0 + n). Forward: the tanh RNN's step p; the LSTM's block weights in
 * phase 0, then step p - 1. Backward: the cell's gradient at the last step in phase 0; then
 * for t = T - p, dh's columns of the block (dz_t W) and, when t > 0, the cell's gradient at
 * step t - 1 on the block, which needs no other columns of dh. */
static void run_task(const seq_team *s, int64_t p, int64_t j0, int64_t n) {
    if (s->by_rows) { /* one phase: block [j0, j0 + n) is rows */
        if (s->backward)
            rows_backward(s, j0, n);
        else
            rows_forward(s, j0, n);
        return;
    }
    if (!s->backward) {
        if (!s->lstm)
            rnn_step(s, p, j0, n);
        else if (p == 0)
            lstm_block_weights(s, j0, n);
        else
            lstm_step(s, p - 1, j0, n);
        return;
    }
    if (p == 0) {
        cell_backward(s, s->T - 1, 0, s->B, j0, n);
        return;
    }
    int64_t t = s->T - p;
    if (t > 0 || s->dh_first) dh_part(s, t, 0, s->B, j0, n);
    if (t > 0) cell_backward(s, t - 1, 0, s->B, j0, n);
}

/* Tasks are claimed in order from one counter: task k is block k % n_blocks of phase
 * k / n_blocks, and starts once every task of the earlier phases is done. A thread the
 * machine does not run for a while (another process on its core) just claims fewer: nothing
 * waits for a thread, only for a task already claimed. The wait polls, then sleeps
 * (kern_counter_wait), as the pool's own waits do. */
static void member(void *ctx, int rank, int n_ranks) {
    (void)rank, (void)n_ranks;
    seq_team *s = ctx;
    int64_t nb = s->n_blocks, total = s->n_phases * nb;
    for (;;) {
        int64_t k = atomic_fetch_add_explicit(&s->next, 1, memory_order_relaxed);
        if (k >= total) return;
        int64_t p = k / nb, j0, n;
        kern_counter_wait(&s->done, p * nb);
        block_of(s, k % nb, &j0, &n);
        if (n > 0) run_task(s, p, j0, n);
        kern_counter_add(&s->done, 1);
    }
}

void seq_team_run(seq_team *s, bool backward) {
    int64_t units = (s->H + SEQ_UNIT - 1) / SEQ_UNIT;
    s->backward = backward;
    s->by_rows = seq_team_by_rows(s->B);
    /* One block per thread: the largest products; a thread that starts late or is descheduled
     * leaves its block to the others, since blocks are claimed, not assigned. */
    if (s->by_rows) {
        s->n_blocks = kern_threads();
        s->n_phases = 1;
    } else {
        s->n_blocks = units < kern_threads() ? units : kern_threads();
        s->n_phases = s->T + (s->lstm || backward ? 1 : 0);
    }
    atomic_init(&s->next, 0);
    atomic_init(&s->done.value, 0);
    atomic_init(&s->done.sleepers, 0);
    kern_parallel_team(kern_threads(), member, s);
}
