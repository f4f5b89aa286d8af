/* lstm.h: the recurrent cells' sequence ops (lstm.c), private to the library: src/nn/recurrent.c
 * records a whole unroll's recurrence with them, after one product for all steps' inputs.
 *
 *   rnn_seq   gx (T, B, H), h0 (B, H), W (H, H)  ->  hs (T, B, H)
 *             h_t = tanh(gx_t + h_{t-1} W^T)
 *   lstm_seq  gx (T, B, 4H), h0 (B, H), c0 (B, H), W (4H, H)  ->  (T + 1, B, H) = [h_1..h_T, c_T]
 *             [h_t, c_t] = lstm_gates(gx_t + h_{t-1} W^T, c_{t-1})
 * Each step rounds exactly as tg_add(gx_t, tg_matmul(h, W^T)) followed by tg_tanh or
 * tg_lstm_gates would. */
#ifndef TG_OPS_LSTM_H
#define TG_OPS_LSTM_H

#include "op_util.h"

tg_tensor *tg_rnn_seq_at(tg_tape *t, const char *file, int line, tg_tensor *gx, tg_tensor *h0,
                         tg_tensor *w);
tg_tensor *tg_lstm_seq_at(tg_tape *t, const char *file, int line, tg_tensor *gx, tg_tensor *h0,
                          tg_tensor *c0, tg_tensor *w);

/* Writes the steps first..first+len of part (len, ...) into steps[] as tensors without the
 * leading axis. Halving, rather than slicing every step out of the whole, keeps backward at
 * O(T log T): a slice's gradient is embedded in a zero tensor the size of what it was sliced
 * from, and here that is at most twice the slice. */
void tg_seq_split_steps(tg_tape *t, tg_tensor *part, int64_t first, int64_t len, tg_tensor **steps);

#endif
