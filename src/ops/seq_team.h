/* seq_team.h: the recurrent sequence ops' unroll shared between the pool's threads as one job
 * (seq_team.c), private to src/ops: lstm.c fills a seq_team and runs it when seq_team_wanted.
 *
 * With enough batch rows a task is a block of rows through the whole unroll; otherwise a step
 * is one task per block of the H hidden units, claimed by whichever thread is free, and the
 * next step's tasks wait until the step's are done. Operands are contiguous unless strides are
 * given; G is 1 (tanh RNN) or 4 (LSTM, gates [i f g o]); es the element size. */
#ifndef TG_OPS_SEQ_TEAM_H
#define TG_OPS_SEQ_TEAM_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "kernels/threadpool.h"
#include "tapegrad/base.h"

typedef struct seq_team {
    tg_dtype dtype;
    bool lstm;
    int64_t T, B, H;
    /* W (G H, H) through its strides: the backward's dh = dz W reads it, the LSTM forward
     * copies its rows into wtp. */
    const char *w;
    int64_t w_rs, w_cs;
    /* Forward. gx (T, B, G H); hs (T + 1, B, H) with h0 in step 0; for the LSTM cs (T + 1, B,
     * H) with c0 in step 0 and act (T, B, 5H). The tanh RNN reads W^T (H, H) from wt; the LSTM
     * split by rows reads W^T (H, 4H) from wt and its blocks' rows of z (B, 4H); split by
     * units it fills wtp (H, 4H), for each block of n units from j0 its 4n columns [i f g o]
     * from column 4 j0, and uses the same columns of z for its pre-activations. */
    const char *gx, *wt;
    int64_t wt_rs; /* wt's row stride */
    char *wtp, *z;
    char *hs, *cs, *act;
    /* Backward. g (T, B, H), for the LSTM (T + 1, B, H) with dL/dc_T last; dz (T, B, G H);
     * dh (B, H); for the LSTM dcs (2, B, H), used in turn. dh_first: the product of step 0
     * (dL/dh0) is wanted. */
    const char *g;
    char *dz, *dh, *dcs;
    bool dh_first;
    /* Set by seq_team_run: whether blocks are rows (seq_team_by_rows), the phases (steps, and
     * a first phase of set-up or of the last step's cell; one phase by rows) of n_blocks
     * tasks each, the next task to claim and the tasks done. */
    bool backward, by_rows;
    int64_t n_blocks, n_phases;
    atomic_int_fast64_t next;
    kern_counter done;
} seq_team;

/* Whether an unroll of this size is worth one job on the pool's threads: more than one thread,
 * enough rows to split by rows or at least two blocks of hidden units, and a step's product
 * large enough that the wait between steps costs little beside it. Otherwise lstm.c runs its
 * one-product-at-a-time loop. */
bool seq_team_wanted(int64_t B, int64_t H, int gates);

/* Whether a team splits a batch of B rows by rows (each thread's rows through the whole
 * unroll) rather than by hidden units. By rows, the LSTM forward reads W^T (H, 4H) from wt
 * like the tanh RNN, instead of filling wtp, and uses z's rows of each block. */
bool seq_team_by_rows(int64_t B);

/* Runs the forward (backward false) or backward unroll on as many threads as the pool gives
 * (all of it on the caller when it gives one). Never fails: it allocates nothing. For the
 * LSTM forward, c_T is not copied after h_T: the caller does that. */
void seq_team_run(seq_team *s, bool backward);

#endif
