/* tapegrad/nn.h: neural-network layers built from ops: Linear, Conv2d, pooling, Flatten,
 * Embedding, Dropout, BatchNorm (1-D and 2-D), LayerNorm, and the recurrent cells RNN (tanh),
 * LSTM and GRU with an unroll over a sequence.
 *
 * A layer is a small transparent struct that the caller owns (on the stack, in a model struct)
 * holding pointers to its parameter tensors, which live in a tg_store, and its
 * hyper-parameters. `tg_X_init` creates the parameters in the store, named like PyTorch's
 * state_dict keys ("<name>.weight", "<name>.bias", "<name>.running_mean", ...; an empty name
 * gives the bare keys), and initialises them as PyTorch does:
 *   Linear, Conv2d   weight kaiming_uniform(a = sqrt(5)), i.e. uniform(+-1/sqrt(fan_in)), and
 *                    bias uniform(+-1/sqrt(fan_in)), fan_in = in (x kernel area / groups);
 *   Embedding        weight N(0, 1);
 *   RNN, LSTM, GRU   every weight and bias uniform(+-1/sqrt(hidden));
 *   BatchNorm        weight 1, bias 0, running_mean 0, running_var 1;
 *   LayerNorm        weight 1, bias 0.
 * Random values come from the caller's tg_rng, parameter by parameter in creation order (weight
 * before bias), so a seed fixes the whole model. Use tapegrad/init.h to initialise differently.
 * An init that fails sets *err (which may be NULL), returns the status, leaves the layer zeroed
 * and adds nothing to the store (it checks every name before creating anything; only running
 * out of memory part-way can leave a parameter behind).
 *
 * `tg_X_forward(t, &layer, x, ...)` records the layer's ops on tape t and returns the result,
 * owned by t until tg_tape_reset; gradients reach the parameters through the ops' own rules (no
 * layer has a hand-written gradient). Like ops, forwards are macros that pass the caller's file
 * and line, return NULL on error with the first error kept on the tape, and return NULL at once
 * for a NULL input (an earlier op failed). Layer type names that equal an op's name (tg_linear,
 * tg_conv2d, tg_embedding, tg_dropout) are fine: the op macros only expand before '('.
 *
 * Train and eval: Dropout and BatchNorm forwards take `bool training`. In training, Dropout
 * zeroes elements and BatchNorm normalises by the batch's statistics and updates its running
 * estimates; in eval (training = false), Dropout returns its input and BatchNorm uses the
 * running estimates and changes nothing. The other layers behave the same in both modes.
 *
 *     tg_store *s = tg_store_new();
 *     tg_rng rng;
 *     tg_rng_seed(&rng, 1);
 *     tg_linear fc1, fc2;
 *     tg_error err;
 *     if (tg_linear_init(&fc1, s, "fc1", 784, 128, true, TG_F32, &rng, &err) != TG_OK ||
 *         tg_linear_init(&fc2, s, "fc2", 128, 10, true, TG_F32, &rng, &err) != TG_OK)
 *         fprintf(stderr, "%s\n", err.message);
 *     ...
 *     tg_tensor *h = tg_relu(t, tg_linear_forward(t, &fc1, x));   // x: (N, 784)
 *     tg_tensor *logits = tg_linear_forward(t, &fc2, h);          // (N, 10)
 */
#ifndef TAPEGRAD_NN_H
#define TAPEGRAD_NN_H

#include "tapegrad/conv.h"
#include "tapegrad/rng.h"
#include "tapegrad/tape.h"

#ifdef __cplusplus
extern "C" {
#endif

TG_PUBLIC_BEGIN

#define TG_NN_AT_ tg_tape *t, const char *file, int line

/* ---- Linear: y = x W^T + b ---- */
typedef struct tg_linear {
    tg_tensor *weight; /* (out, in)  "<name>.weight" */
    tg_tensor *bias;   /* (out)      "<name>.bias", NULL without bias */
    int64_t in_features, out_features;
} tg_linear;

tg_status tg_linear_init(tg_linear *l, tg_store *s, const char *name, int64_t in, int64_t out,
                         bool bias, tg_dtype dtype, tg_rng *rng, tg_error *err);
/* x: (..., in) -> (..., out). */
tg_tensor *tg_linear_forward_at(TG_NN_AT_, const tg_linear *l, tg_tensor *x);

/* ---- Conv2d: PyTorch's cross-correlation, with stride, padding, dilation and groups ---- */
typedef struct tg_conv2d {
    tg_tensor *weight; /* (out, in / groups, kernel h, kernel w) */
    tg_tensor *bias;   /* (out), NULL without bias */
    int64_t in_channels, out_channels;
    int kernel[2];
    tg_conv2d_params params; /* as given to init, zero fields meaning the defaults */
} tg_conv2d;

/* params may be NULL (stride 1, no padding, dilation 1, one group). in and out must divide by
 * the groups. */
tg_status tg_conv2d_init(tg_conv2d *c, tg_store *s, const char *name, int64_t in, int64_t out,
                         int kernel_h, int kernel_w, const tg_conv2d_params *params, bool bias,
                         tg_dtype dtype, tg_rng *rng, tg_error *err);
/* x: (N, in, H, W) -> (N, out, OH, OW), sizes as in tapegrad/conv.h. */
tg_tensor *tg_conv2d_forward_at(TG_NN_AT_, const tg_conv2d *c, tg_tensor *x);

/* ---- ConvTranspose2d: PyTorch's transposed convolution (upsampling in a generator) ---- */
typedef struct tg_conv_transpose2d {
    tg_tensor *weight; /* (in, out / groups, kernel h, kernel w) "<name>.weight" */
    tg_tensor *bias;   /* (out) "<name>.bias", NULL without bias */
    int64_t in_channels, out_channels;
    int kernel[2];
    tg_conv_transpose2d_params params; /* as given to init, zero fields meaning the defaults */
} tg_conv_transpose2d;

/* params may be NULL. in and out must divide by the groups, output_padding lie below the
 * stride. Initialised as PyTorch's: fan_in is out / groups x kernel area (the weight's second
 * dimension, as PyTorch computes it for this layout). */
tg_status tg_conv_transpose2d_init(tg_conv_transpose2d *c, tg_store *s, const char *name,
                                   int64_t in, int64_t out, int kernel_h, int kernel_w,
                                   const tg_conv_transpose2d_params *params, bool bias,
                                   tg_dtype dtype, tg_rng *rng, tg_error *err);
/* x: (N, in, H, W) -> (N, out, OH, OW), sizes as in tapegrad/conv.h. */
tg_tensor *tg_conv_transpose2d_forward_at(TG_NN_AT_, const tg_conv_transpose2d *c,
                                          tg_tensor *x);

/* ---- MaxPool2d and AvgPool2d: thin wrappers over the pooling ops; no parameters ---- */
typedef enum tg_pool_kind { TG_POOL_MAX = 0, TG_POOL_AVG } tg_pool_kind;
typedef struct tg_pool2d {
    tg_pool_kind kind;
    tg_pool2d_params params; /* kernel required; stride 0 means the kernel, as PyTorch */
} tg_pool2d;

/* Checks the geometry (kernel > 0, padding at most half the kernel, dilation only for max). */
tg_status tg_pool2d_init(tg_pool2d *p, tg_pool_kind kind, const tg_pool2d_params *params,
                         tg_error *err);
/* x: (N, C, H, W) -> (N, C, OH, OW). */
tg_tensor *tg_pool2d_forward_at(TG_NN_AT_, const tg_pool2d *p, tg_tensor *x);

/* ---- Flatten: dimensions start_dim..end_dim merged into one (negative count from the end);
 * PyTorch's nn.Flatten() is start_dim 1, end_dim -1: (N, C, H, W) -> (N, C*H*W). A view when x
 * is contiguous. ---- */
tg_tensor *tg_flatten_at(TG_NN_AT_, tg_tensor *x, int start_dim, int end_dim);

/* ---- Embedding: rows of a (num, dim) table ---- */
typedef struct tg_embedding {
    tg_tensor *weight; /* (num, dim) "<name>.weight" */
    int64_t num_embeddings, embedding_dim;
} tg_embedding;

tg_status tg_embedding_init(tg_embedding *e, tg_store *s, const char *name, int64_t num,
                            int64_t dim, tg_dtype dtype, tg_rng *rng, tg_error *err);
/* ids: an array of shape (ndim, shape), each in [0, num); copied, the caller keeps it.
 * -> (shape..., dim). */
tg_tensor *tg_embedding_forward_at(TG_NN_AT_, const tg_embedding *e, int ndim, const int64_t *shape,
                                   const int64_t *ids);

/* ---- Dropout: inverted dropout with its own seeded generator ---- */
typedef struct tg_dropout {
    double p;   /* probability of zeroing an element, in [0, 1) */
    tg_rng rng; /* advanced by every training forward; save it to resume bit-identically */
} tg_dropout;

tg_status tg_dropout_init(tg_dropout *d, double p, uint64_t seed, tg_error *err);
/* Training: each element is zeroed with probability p and the rest scaled by 1 / (1 - p), the
 * mask drawn from d->rng in row-major order. Eval (training false): x itself is returned. */
tg_tensor *tg_dropout_forward_at(TG_NN_AT_, tg_dropout *d, tg_tensor *x, bool training);

/* ---- BatchNorm1d / BatchNorm2d ---- */
typedef struct tg_batchnorm {
    tg_tensor *weight, *bias;              /* (C) parameters, NULL when not affine */
    tg_tensor *running_mean, *running_var; /* (C) store buffers (no gradient) */
    int64_t num_features;
    double momentum;  /* running = (1 - momentum) running + momentum batch; PyTorch's 0.1 */
    double eps;       /* added to the variance; PyTorch's 1e-5 */
    int spatial_dims; /* 1: BatchNorm1d, 2: BatchNorm2d */
} tg_batchnorm;

/* Buffers "<name>.running_mean" and "<name>.running_var" (PyTorch's num_batches_tracked is not
 * kept: it only matters for momentum None, which is not offered). momentum in [0, 1], eps > 0. */
tg_status tg_batchnorm1d_init(tg_batchnorm *b, tg_store *s, const char *name, int64_t channels,
                              double momentum, double eps, bool affine, tg_dtype dtype,
                              tg_error *err);
tg_status tg_batchnorm2d_init(tg_batchnorm *b, tg_store *s, const char *name, int64_t channels,
                              double momentum, double eps, bool affine, tg_dtype dtype,
                              tg_error *err);
/* x: (N, C) or (N, C, L) for 1-D, (N, C, H, W) for 2-D; same shape out. In training the
 * batch's mean and biased variance normalise x and the running estimates move toward the
 * batch mean and unbiased variance (written in place, outside the graph); a batch with one
 * value per channel is an error, as in PyTorch. In eval the running estimates are used. */
tg_tensor *tg_batchnorm_forward_at(TG_NN_AT_, const tg_batchnorm *b, tg_tensor *x, bool training);

/* ---- LayerNorm: normalises over the last n_dims axes ---- */
typedef struct tg_layernorm {
    tg_tensor *weight, *bias; /* the normalised shape, NULL when not affine */
    int n_dims;
    int64_t shape[TG_MAX_DIMS]; /* the normalised shape (its first n_dims entries) */
    double eps;
} tg_layernorm;

/* (n_dims, shape) is PyTorch's normalized_shape; TG_SHAPE(4, 5) fits here. */
tg_status tg_layernorm_init(tg_layernorm *l, tg_store *s, const char *name, int n_dims,
                            const int64_t *shape, double eps, bool affine, tg_dtype dtype,
                            tg_error *err);
/* x: (..., shape) -> the same shape. */
tg_tensor *tg_layernorm_forward_at(TG_NN_AT_, const tg_layernorm *l, tg_tensor *x);

/* ---- Recurrent cells, with PyTorch's layout and gate order ----
 *   RNN   h' = tanh(W_ih x + b_ih + W_hh h + b_hh)                    W_ih (H, I),  W_hh (H, H)
 *   LSTM  i, f, g, o = the four H-row blocks of W_ih x + b_ih + W_hh h + b_hh
 *         c' = sigmoid(f) c + sigmoid(i) tanh(g),  h' = sigmoid(o) tanh(c')
 *                                                                    W_ih (4H, I), W_hh (4H, H)
 *   GRU   r, z, n blocks:  r = sigmoid(W_ir x + b_ir + W_hr h + b_hr),  z likewise,
 *         n = tanh(W_in x + b_in + r (W_hn h + b_hn)),  h' = (1 - z) n + z h
 *                                                                    W_ih (3H, I), W_hh (3H, H)
 * Parameters "<name>.weight_ih", "<name>.weight_hh", "<name>.bias_ih", "<name>.bias_hh": the
 * keys of nn.RNNCell/LSTMCell/GRUCell (a one-layer nn.RNN/LSTM/GRU has the same tensors under
 * the keys with "_l0" appended). Biases are NULL without bias.
 *
 * A step takes x (B, I) and the state (B, H) and returns the new state; an unroll takes a
 * sequence x (T, B, I) and returns every step's h as (T, B, H), and writes the final state
 * through the optional out pointers. An unroll is one graph, so backward through its result is
 * backpropagation through time. A NULL initial state means zeros (PyTorch's hx = None) when the
 * tape holds no error; after an error a NULL is the failed result it usually is, and the call
 * returns NULL. */
typedef struct tg_rnn_cell {
    tg_tensor *weight_ih, *weight_hh, *bias_ih, *bias_hh;
    int64_t input_size, hidden_size;
} tg_rnn_cell;
typedef struct tg_lstm_cell {
    tg_tensor *weight_ih, *weight_hh, *bias_ih, *bias_hh;
    int64_t input_size, hidden_size;
} tg_lstm_cell;
typedef struct tg_gru_cell {
    tg_tensor *weight_ih, *weight_hh, *bias_ih, *bias_hh;
    int64_t input_size, hidden_size;
} tg_gru_cell;

tg_status tg_rnn_cell_init(tg_rnn_cell *c, tg_store *s, const char *name, int64_t input_size,
                           int64_t hidden_size, bool bias, tg_dtype dtype, tg_rng *rng,
                           tg_error *err);
tg_status tg_lstm_cell_init(tg_lstm_cell *c, tg_store *s, const char *name, int64_t input_size,
                            int64_t hidden_size, bool bias, tg_dtype dtype, tg_rng *rng,
                            tg_error *err);
tg_status tg_gru_cell_init(tg_gru_cell *c, tg_store *s, const char *name, int64_t input_size,
                           int64_t hidden_size, bool bias, tg_dtype dtype, tg_rng *rng,
                           tg_error *err);

/* One step: x (B, I), h (B, H) or NULL -> h' (B, H). The LSTM also takes c (B, H) or NULL and
 * writes c' through c_out (which must not be NULL). */
tg_tensor *tg_rnn_cell_step_at(TG_NN_AT_, const tg_rnn_cell *c, tg_tensor *x, tg_tensor *h);
tg_tensor *tg_lstm_cell_step_at(TG_NN_AT_, const tg_lstm_cell *c, tg_tensor *x, tg_tensor *h,
                                tg_tensor *cs, tg_tensor **c_out);
tg_tensor *tg_gru_cell_step_at(TG_NN_AT_, const tg_gru_cell *c, tg_tensor *x, tg_tensor *h);

/* The cell over a sequence: x (T, B, I), initial state (B, H) or NULL -> (T, B, H); the final
 * h (and c) through h_n (c_n) when not NULL (set to NULL on error). T >= 1. Taking the T steps
 * out of x costs O(T log T) in backward (halving slices), not O(T^2). */
tg_tensor *tg_rnn_cell_unroll_at(TG_NN_AT_, const tg_rnn_cell *c, tg_tensor *x, tg_tensor *h0,
                                 tg_tensor **h_n);
tg_tensor *tg_lstm_cell_unroll_at(TG_NN_AT_, const tg_lstm_cell *c, tg_tensor *x, tg_tensor *h0,
                                  tg_tensor *c0, tg_tensor **h_n, tg_tensor **c_n);
tg_tensor *tg_gru_cell_unroll_at(TG_NN_AT_, const tg_gru_cell *c, tg_tensor *x, tg_tensor *h0,
                                 tg_tensor **h_n);

#undef TG_NN_AT_

#define tg_linear_forward(t, ...)    tg_linear_forward_at(t, TG_SITE_, __VA_ARGS__)
#define tg_conv2d_forward(t, ...)    tg_conv2d_forward_at(t, TG_SITE_, __VA_ARGS__)
#define tg_conv_transpose2d_forward(t, ...) \
    tg_conv_transpose2d_forward_at(t, TG_SITE_, __VA_ARGS__)
#define tg_pool2d_forward(t, ...)    tg_pool2d_forward_at(t, TG_SITE_, __VA_ARGS__)
#define tg_flatten(t, ...)           tg_flatten_at(t, TG_SITE_, __VA_ARGS__)
#define tg_embedding_forward(t, ...) tg_embedding_forward_at(t, TG_SITE_, __VA_ARGS__)
#define tg_dropout_forward(t, ...)   tg_dropout_forward_at(t, TG_SITE_, __VA_ARGS__)
#define tg_batchnorm_forward(t, ...) tg_batchnorm_forward_at(t, TG_SITE_, __VA_ARGS__)
#define tg_layernorm_forward(t, ...) tg_layernorm_forward_at(t, TG_SITE_, __VA_ARGS__)
#define tg_rnn_cell_step(t, ...)     tg_rnn_cell_step_at(t, TG_SITE_, __VA_ARGS__)
#define tg_lstm_cell_step(t, ...)    tg_lstm_cell_step_at(t, TG_SITE_, __VA_ARGS__)
#define tg_gru_cell_step(t, ...)     tg_gru_cell_step_at(t, TG_SITE_, __VA_ARGS__)
#define tg_rnn_cell_unroll(t, ...)   tg_rnn_cell_unroll_at(t, TG_SITE_, __VA_ARGS__)
#define tg_lstm_cell_unroll(t, ...)  tg_lstm_cell_unroll_at(t, TG_SITE_, __VA_ARGS__)
#define tg_gru_cell_unroll(t, ...)   tg_gru_cell_unroll_at(t, TG_SITE_, __VA_ARGS__)

TG_PUBLIC_END

#ifdef __cplusplus
}
#endif
#endif
