/* cell.h: the fused loops of the LSTM cell's gate arithmetic (cell.c), behind the lstm_gates and
 * lstm_seq ops (src/ops/lstm.c). Each row of an operand is contiguous within a gate; row and
 * gate strides are in elements.
 *
 *   z (B, 4H): pre-activations [i f g o];  c (B, H): cell state
 *   act (B, 5H): [sigmoid(i), sigmoid(f), tanh(g), sigmoid(o), tanh(c')]
 *   h' (B, H), c' (B, H): c' = sigmoid(f) c + sigmoid(i) tanh(g), h' = sigmoid(o) tanh(c') */
#ifndef TG_KERN_CELL_H
#define TG_KERN_CELL_H

#include "tapegrad/base.h"

/* The forward's operands. The four gates of z (and of gx), and the five blocks of act, lie a
 * gate stride apart within a row (z_gs, gx_gs, act_gs): H for whole rows, or wider when H is a
 * block of a row's columns, as one thread's share of them. Row strides are *_rs. gx, when not
 * NULL, is added to z first (z = gx + z, as tg_add(gx, z) rounds): the sequence op's input
 * projection, so that its pre-activations need no pass of their own. */
typedef struct kern_lstm_fwd {
    int64_t B, H;
    const void *z;
    int64_t z_rs, z_gs;
    const void *gx;
    int64_t gx_rs, gx_gs;
    const void *c;
    int64_t c_rs;
    void *h;
    int64_t h_rs;
    void *cn;
    int64_t cn_rs;
    void *act;
    int64_t act_rs, act_gs;
} kern_lstm_fwd;

/* Fills h', c' and act from z (plus gx) and c. */
void kern_lstm_forward(tg_dtype dtype, const kern_lstm_fwd *f);

/* The backward's operands: the forward's act and c, the gradients gh = dL/dh' (plus dh when not
 * NULL: the sum gh + dh is the gradient reaching h', as tg_add(gh, dh) rounds) and gc = dL/dc'
 * (B, H each); dz (B, 4H, gate stride dz_gs) and dc (B, H), either NULL when not wanted.
 * Strides as for kern_lstm_fwd. */
typedef struct kern_lstm_bwd {
    int64_t B, H;
    const void *act;
    int64_t act_rs, act_gs;
    const void *c;
    int64_t c_rs;
    const void *gh;
    int64_t gh_rs;
    const void *dh;
    int64_t dh_rs;
    const void *gc;
    int64_t gc_rs;
    void *dz;
    int64_t dz_rs, dz_gs;
    void *dc;
    int64_t dc_rs;
} kern_lstm_bwd;

void kern_lstm_backward(tg_dtype dtype, const kern_lstm_bwd *b);

/* out = a + b over n contiguous elements (out may be a or b): the step's pre-activation, in
 * the operand order of tg_add so that the sequence op rounds exactly as the single step does. */
void kern_cell_add(tg_dtype dtype, int64_t n, const void *a, const void *b, void *out);

/* The tanh cell's backward over n contiguous elements: dz = (g + dh) (1 - h^2), where h is the
 * step's output and dh (the gradient arriving from the next step) may be NULL for zero. */
void kern_rnn_tanh_backward(tg_dtype dtype, int64_t n, const void *g, const void *dh, const void *h,
                            void *dz);

#endif
