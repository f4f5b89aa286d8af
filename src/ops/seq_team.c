/* seq_team.c: rnn_seq's and lstm_seq's unroll as one job on the pool's threads (seq_team.h).
 *
 * One step's recurrent product is small (32 x 128 x 512 in the LSTM benchmark, about 20 us), so
 * posting each to the pool leaves the cell arithmetic between them on one thread while the
 * other polls, and pays a hand-over per product. Here every rank owns a block of hidden units
 * [j0, j1) for the whole unroll. Forward, in each step: its columns of the product h_{t-1} W^T
 * (for the LSTM the four gates' columns of its units), then the cell on them, which needs no
 * other unit's gates; then a barrier before anyone reads h_t. Backward: the cell's gradient on
 * its units (dh's columns of its units are its own, from its last product), a barrier before
 * anyone reads the whole dz, then its columns of dh = dz W. So one barrier per step, a spin on
 * an atomic counter, instead of a job posted per step.
 *
 * Each element is computed exactly as by the one-thread loop in lstm.c: a block of columns of a
 * product gets the bits it gets in the whole product (kern_gemm_one_thread), and the maps are
 * elementwise. */
#include "seq_team.h"

#include "kernels/cell.h"
#include "kernels/kernels.h"
#include "kernels/threadpool.h"

/* Ranks split H in blocks of this many units: whole vectors at every level, for f32 and f64. */
#define SEQ_UNIT 16
/* A step's product (B G H H multiply-adds) from which a barrier (well under a microsecond
 * between two cores) is cheap beside the half of it each of two ranks saves. */
#define SEQ_MIN_STEP_WORK (INT64_C(1) << 17)

bool seq_team_wanted(int64_t B, int64_t H, int gates) {
    return kern_threads() > 1 && H >= 2 * SEQ_UNIT && B * gates * H * H >= SEQ_MIN_STEP_WORK;
}

/* What one rank owns: units [j0, j0 + n) of H, and its count of barriers passed. */
typedef struct rank_part {
    int64_t j0, n;
    int n_ranks;
    int64_t passed;
} rank_part;

static rank_part part_of(const seq_team *s, int rank, int n_ranks) {
    int64_t units = (s->H + SEQ_UNIT - 1) / SEQ_UNIT;
    int64_t u0 = rank * units / n_ranks, u1 = (rank + 1) * units / n_ranks;
    int64_t j0 = u0 * SEQ_UNIT, j1 = u1 * SEQ_UNIT < s->H ? u1 * SEQ_UNIT : s->H;
    return (rank_part){j0, j1 > j0 ? j1 - j0 : 0, n_ranks, 0};
}

/* Waits until every rank has arrived here as often as this one. The spin pauses, then yields
 * the core (kern_cpu_relax), as the pool's own waits do. */
static void barrier(seq_team *s, rank_part *p) {
    if (p->n_ranks == 1) return;
    int_fast64_t want = (int_fast64_t)(++p->passed) * p->n_ranks;
    atomic_fetch_add_explicit(&s->arrived, 1, memory_order_acq_rel);
    for (int i = 0; atomic_load_explicit(&s->arrived, memory_order_acquire) < want; i++)
        kern_cpu_relax(i);
}

/* Byte pointer to element e of base. */
#define EL(base, e) ((base) + (size_t)(e) * es)

/* h_t = tanh(gx_t + h_{t-1} W^T) on the rank's columns. */
static void rnn_forward(seq_team *s, rank_part *p) {
    const int64_t B = s->B, H = s->H, bh = B * H, j0 = p->j0, n = p->n;
    const size_t es = tg_dtype_size(s->dtype);
    for (int64_t t = 0; t < s->T; t++) {
        const char *h = EL(s->hs, t * bh);
        char *hn = EL(s->hs, (t + 1) * bh);
        if (n > 0) {
            kern_gemm_one_thread(s->dtype, B, n, H, h, H, 1, EL(s->wt, j0), H, 1, EL(hn, j0), H);
            for (int64_t b = 0; b < B; b++) {
                char *row = EL(hn, b * H + j0);
                kern_cell_add(s->dtype, n, EL(s->gx, t * bh + b * H + j0), row, row);
                kern_unary(KERN_TANH, s->dtype, n, row, row, 0.0);
            }
        }
        barrier(s, p);
    }
}

/* The LSTM forward: the rank first copies the rows of W for its units' four gates into its
 * block of wtp (transposed, gates side by side), so that each step's product is one call. */
static void lstm_forward(seq_team *s, rank_part *p) {
    const int64_t B = s->B, H = s->H, bh = B * H, j0 = p->j0, n = p->n;
    const size_t es = tg_dtype_size(s->dtype);
    if (n > 0)
        for (int g = 0; g < 4; g++) {
            int64_t shape[2] = {H, n}, dst_st[2] = {4 * H, 1}, src_st[2] = {s->w_cs, s->w_rs};
            kern_copy(s->dtype, EL(s->wtp, 4 * j0 + g * n), dst_st, s->dtype,
                      s->w + (size_t)((g * H + j0) * s->w_rs) * es, src_st, 2, shape);
        }
    char *zb = EL(s->z, 4 * j0);
    for (int64_t t = 0; t < s->T; t++) {
        const char *h = EL(s->hs, t * bh), *c = EL(s->cs, t * bh);
        if (n > 0) {
            kern_gemm_one_thread(s->dtype, B, 4 * n, H, h, H, 1, EL(s->wtp, 4 * j0), 4 * H, 1, zb,
                                 4 * H);
            for (int64_t b = 0; b < B; b++)
                for (int g = 0; g < 4; g++) {
                    char *zr = EL(zb, b * 4 * H + g * n);
                    kern_cell_add(s->dtype, n, EL(s->gx, 4 * (t * bh + b * H) + g * H + j0), zr,
                                  zr);
                }
            kern_lstm_forward(s->dtype, B, n, zb, 4 * H, n, EL(c, j0), H,
                              EL(s->hs, (t + 1) * bh + j0), H, EL(s->cs, (t + 1) * bh + j0), H,
                              EL(s->act, 5 * t * bh + j0), 5 * H, H);
        }
        barrier(s, p);
    }
}

/* Back through the tanh cell: dz_t = (g_t + dh) (1 - h_t^2), then dh = dz_t W. */
static void rnn_backward(seq_team *s, rank_part *p) {
    const int64_t B = s->B, H = s->H, bh = B * H, j0 = p->j0, n = p->n, T = s->T;
    const size_t es = tg_dtype_size(s->dtype);
    for (int64_t t = T - 1; t >= 0; t--) {
        char *dzt = EL(s->dz, t * bh);
        for (int64_t b = 0; b < B && n > 0; b++) {
            int64_t e = b * H + j0;
            kern_rnn_tanh_backward(s->dtype, n, EL(s->g, t * bh + e), t < T - 1 ? EL(s->dh, e) : NULL,
                                   EL(s->hs, (t + 1) * bh + e), EL(dzt, e));
        }
        barrier(s, p);
        if (n > 0 && (t > 0 || s->dh_first))
            kern_gemm_one_thread(s->dtype, B, n, H, dzt, H, 1, s->w + (size_t)(j0 * s->w_cs) * es,
                                 s->w_rs, s->w_cs, EL(s->dh, j0), H);
    }
}

/* Back through the LSTM cell: the gates' gradient on the rank's units (with dL/dc carried in
 * dcs, its columns only), then dh = dz_t W. */
static void lstm_backward(seq_team *s, rank_part *p) {
    const int64_t B = s->B, H = s->H, bh = B * H, j0 = p->j0, n = p->n, T = s->T;
    const size_t es = tg_dtype_size(s->dtype);
    const char *gcell = EL(s->g, T * bh); /* dL/dc_T */
    int cur = 0;
    for (int64_t t = T - 1; t >= 0; t--) {
        const char *gh = EL(s->g, t * bh);
        char *dzt = EL(s->dz, 4 * t * bh), *dc = EL(s->dcs, cur * bh);
        if (n > 0) {
            if (t < T - 1) {
                for (int64_t b = 0; b < B; b++)
                    kern_cell_add(s->dtype, n, EL(gh, b * H + j0), EL(s->dh, b * H + j0),
                                  EL(s->gsum, b * H + j0));
                gh = s->gsum;
            }
            kern_lstm_backward(s->dtype, B, n, EL(s->act, 5 * t * bh + j0), 5 * H, H,
                               EL(s->cs, t * bh + j0), H, EL(gh, j0), H, EL(gcell, j0), H,
                               EL(dzt, j0), 4 * H, H, EL(dc, j0), H);
        }
        gcell = dc;
        cur ^= 1;
        barrier(s, p);
        if (n > 0 && (t > 0 || s->dh_first))
            kern_gemm_one_thread(s->dtype, B, n, 4 * H, dzt, 4 * H, 1,
                                 s->w + (size_t)(j0 * s->w_cs) * es, s->w_rs, s->w_cs,
                                 EL(s->dh, j0), H);
    }
}

static void member(void *ctx, int rank, int n_ranks) {
    seq_team *s = ctx;
    rank_part p = part_of(s, rank, n_ranks);
    if (s->backward)
        (s->lstm ? lstm_backward : rnn_backward)(s, &p);
    else
        (s->lstm ? lstm_forward : rnn_forward)(s, &p);
}

void seq_team_run(seq_team *s, bool backward) {
    s->backward = backward;
    atomic_init(&s->arrived, 0);
    kern_parallel_team(kern_threads(), member, s);
}
