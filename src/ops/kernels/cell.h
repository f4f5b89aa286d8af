/* cell.h: the fused loops of the LSTM cell's gate arithmetic (cell.c), behind the lstm_gates op
 * (src/ops/lstm.c). Rows of every operand are contiguous; row strides are in elements.
 *
 *   z (B, 4H): pre-activations [i f g o];  c (B, H): cell state
 *   act (B, 5H): [sigmoid(i), sigmoid(f), tanh(g), sigmoid(o), tanh(c')]
 *   out (B, 2H): [h', c'] with c' = sigmoid(f) c + sigmoid(i) tanh(g), h' = sigmoid(o) tanh(c') */
#ifndef TG_KERN_CELL_H
#define TG_KERN_CELL_H

#include "tapegrad/base.h"

/* Fills out (contiguous) and act (contiguous) from z and c. */
void kern_lstm_forward(tg_dtype dtype, int64_t B, int64_t H, const void *z, int64_t z_rs,
                       const void *c, int64_t c_rs, void *out, void *act);

/* From the forward's act, c, and the output gradient g (B, 2H) = [dL/dh', dL/dc']: dz (B, 4H)
 * and dc (B, H), both contiguous; either may be NULL when not wanted. */
void kern_lstm_backward(tg_dtype dtype, int64_t B, int64_t H, const void *act, const void *c,
                        int64_t c_rs, const void *g, int64_t g_rs, void *dz, void *dc);

#endif
