/* seq_team.c: rnn_seq's and lstm_seq's unroll as one job on the pool's threads (seq_team.h).
 *
 * One step's recurrent product is small (32 x 128 x 512 in the LSTM benchmark, about 20 us), so
 * posting each to the pool leaves the cell arithmetic between them on one thread while the
 * other polls, and pays a hand-over per product. Here the hidden units are cut into a block per
 * thread, and a step is one task per block: that block's columns of the product h_{t-1} W^T
 * (for the LSTM the four gates' columns of its units), then the cell on them, which needs no
 * other unit's gates. A step's tasks start once the previous step's are all done, so there is
 * one wait per step instead of one job posted per step. Backward, a task is a block's columns
 * of dh = dz_t W and then the cell's gradient at step t - 1 on the same units, which needs only
 * those columns of dh.
 *
 * Each element is computed exactly as by the one-thread loop in lstm.c: a block of columns of a
 * product gets the bits it gets in the whole product (kern_gemm_one_thread), and the cell is
 * elementwise. */
#include "seq_team.h"

#include "kernels/cell.h"
#include "kernels/kernels.h"
#include "kernels/threadpool.h"

/* Ranks split H in blocks of this many units: whole vectors at every level, for f32 and f64. */
#define SEQ_UNIT 16
/* A step's product (B G H H multiply-adds) from which the wait between steps (well under a
 * microsecond between two cores) is cheap beside the half of it each of two threads saves. */
#define SEQ_MIN_STEP_WORK (INT64_C(1) << 17)

bool seq_team_wanted(int64_t B, int64_t H, int gates) {
    return kern_threads() > 1 && H >= 2 * SEQ_UNIT && B * gates * H * H >= SEQ_MIN_STEP_WORK;
}

/* Block b's units [*j0, *j0 + *n). */
static void block_of(const seq_team *s, int64_t b, int64_t *j0, int64_t *n) {
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
    kern_gemm_one_thread(s->dtype, B, n, H, h, H, 1, EL(s->wt, j0), H, 1, EL(hn, j0), H);
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
    kern_gemm_one_thread(s->dtype, B, 4 * n, H, EL(s->hs, t * bh), H, 1, EL(s->wtp, 4 * j0),
                         4 * H, 1, zb, 4 * H);
    for (int64_t b = 0; b < B; b++)
        for (int g = 0; g < 4; g++) {
            char *zr = EL(zb, b * 4 * H + g * n);
            kern_cell_add(s->dtype, n, EL(s->gx, 4 * (t * bh + b * H) + g * H + j0), zr, zr);
        }
    kern_lstm_forward(s->dtype, B, n, zb, 4 * H, n, EL(s->cs, t * bh + j0), H,
                      EL(s->hs, (t + 1) * bh + j0), H, EL(s->cs, (t + 1) * bh + j0), H,
                      EL(s->act, 5 * t * bh + j0), 5 * H, H);
}

/* The cell's gradient at step t on units [j0, j0 + n): dz_t's columns of those units. The
 * gradient reaching h_t is g_t plus, below the last step, dh from step t + 1's product. */
static void cell_backward(const seq_team *s, int64_t t, int64_t j0, int64_t n) {
    const int64_t B = s->B, H = s->H, bh = B * H, T = s->T;
    const size_t es = tg_dtype_size(s->dtype);
    const char *gt = EL(s->g, t * bh);
    if (!s->lstm) {
        char *dzt = EL(s->dz, t * bh);
        for (int64_t b = 0; b < B; b++) {
            int64_t e = b * H + j0;
            kern_rnn_tanh_backward(s->dtype, n, EL(gt, e), t < T - 1 ? EL(s->dh, e) : NULL,
                                   EL(s->hs, (t + 1) * bh + e), EL(dzt, e));
        }
        return;
    }
    /* dL/dc_T, then that of step t + 1 in dcs[(T - 2 - t) & 1]; step t writes the other. */
    const char *gcell = t == T - 1 ? EL(s->g, T * bh) : EL(s->dcs, ((T - 2 - t) & 1) * bh);
    char *dc = EL(s->dcs, ((T - 1 - t) & 1) * bh);
    const char *gh = gt;
    if (t < T - 1) {
        for (int64_t b = 0; b < B; b++)
            kern_cell_add(s->dtype, n, EL(gt, b * H + j0), EL(s->dh, b * H + j0),
                          EL(s->gsum, b * H + j0));
        gh = s->gsum;
    }
    kern_lstm_backward(s->dtype, B, n, EL(s->act, 5 * t * bh + j0), 5 * H, H,
                       EL(s->cs, t * bh + j0), H, EL(gh, j0), H, EL(gcell, j0), H,
                       EL(s->dz, 4 * t * bh + j0), 4 * H, H, EL(dc, j0), H);
}

/* Phase p, block [j0, j0 + n). Forward: the tanh RNN's step p; the LSTM's block weights in
 * phase 0, then step p - 1. Backward: the cell's gradient at the last step in phase 0; then
 * for t = T - p, dh's columns of the block (dz_t W) and, when t > 0, the cell's gradient at
 * step t - 1 on the block, which needs no other columns of dh. */
static void run_task(const seq_team *s, int64_t p, int64_t j0, int64_t n) {
    const size_t es = tg_dtype_size(s->dtype);
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
        cell_backward(s, s->T - 1, j0, n);
        return;
    }
    int64_t t = s->T - p, G = s->lstm ? 4 : 1, bh = s->B * s->H;
    if (t > 0 || s->dh_first)
        kern_gemm_one_thread(s->dtype, s->B, n, G * s->H, EL(s->dz, G * t * bh), G * s->H, 1,
                             s->w + (size_t)(j0 * s->w_cs) * es, s->w_rs, s->w_cs,
                             EL(s->dh, j0), s->H);
    if (t > 0) cell_backward(s, t - 1, j0, n);
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
    /* One block per thread: the largest products; a thread that starts late or is descheduled
     * leaves its block to the others, since blocks are claimed, not assigned. */
    s->n_blocks = units < kern_threads() ? units : kern_threads();
    s->n_phases = s->T + (s->lstm || backward ? 1 : 0);
    atomic_init(&s->next, 0);
    atomic_init(&s->done.value, 0);
    atomic_init(&s->done.sleepers, 0);
    kern_parallel_team(kern_threads(), member, s);
}
