/* tapegrad/binary.h: networks whose weights are +1 or -1 (BinaryConnect), optionally scaled
 * per output channel (XNOR-Net's alpha), optionally with binary activations too.
 *
 * Training keeps real-valued "shadow" weights in the store. Each forward pass uses their signs,
 * so the network computes with two weight values; the gradient goes straight through the sign
 * to the shadow weights (tg_binarize's rule, below), the optimiser updates those, and
 * tg_binary_clip keeps them in [-1, 1] after every step, so a weight never drifts so far that no
 * gradient can bring its sign back:
 *
 *     tg_linear fc;   // made by tg_linear_init as usual; its weight is the shadow
 *     for (int64_t step = 0; step < n_steps; step++) {
 *         tg_tensor *y = tg_binary_linear_forward(tape, &fc, x, TG_BINARY_SCALED);
 *         tg_tensor *loss = tg_cross_entropy(tape, y, labels, 0.0, TG_REDUCE_MEAN);
 *         tg_store_zero_grad(store);
 *         tg_tape_backward(tape, loss, NULL, 0);
 *         tg_optim_step(opt, &err);
 *         tg_binary_clip(1, &fc.weight, &err);
 *         tg_tape_reset(tape);
 *     }
 *
 * Binary activations are tg_binarize applied to a hidden layer's output (the hard-tanh
 * straight-through gradient). A trained layer packs into 1 bit per weight for inference, and
 * runs on the bits: tapegrad/binpack.h. */
#ifndef TAPEGRAD_BINARY_H
#define TAPEGRAD_BINARY_H

#include "tapegrad/nn.h"
#include "tapegrad/ops.h"

#ifdef __cplusplus
extern "C" {
#endif

TG_PUBLIC_BEGIN

/* y = x < 0 ? -1 : +1, elementwise (0 gives +1, NaN stays NaN), f32 or f64, any strides.
 * Backward is the straight-through estimator, not the derivative of a step (which is 0): it
 * passes g where |x| <= 1 and 0 elsewhere, the derivative of clamp(x, -1, 1) (hard tanh), as
 * tg_sign_ste does. */
tg_tensor *tg_binarize_at(tg_tape *t, const char *file, int line, tg_tensor *x);

typedef enum tg_binary_mode {
    TG_BINARY_PLAIN = 0, /* weights exactly +1 and -1 */
    TG_BINARY_SCALED     /* row o of the weights times alpha[o] = mean |w[o, ...]| */
} tg_binary_mode;

/* The binarised weights of w (out, ...): binarize(w), times alpha (out, 1, ...) in
 * TG_BINARY_SCALED mode, alpha computed from w with ops, so the gradient reaches w through
 * alpha as well as through the straight-through sign. On the tape; NULL on error (w not at
 * least 1-D, a mode that is not one of the two). */
tg_tensor *tg_binary_weight_at(tg_tape *t, const char *file, int line, tg_tensor *w,
                               tg_binary_mode mode);
/* The Linear and Conv2d layers of tapegrad/nn.h computed with binarised weights (bias kept
 * real): the layer's own forward with tg_binary_weight(l->weight, mode) in place of the weight.
 * Shapes and errors as tg_linear_forward and tg_conv2d_forward. */
tg_tensor *tg_binary_linear_forward_at(tg_tape *t, const char *file, int line, const tg_linear *l,
                                       tg_tensor *x, tg_binary_mode mode);
tg_tensor *tg_binary_conv2d_forward_at(tg_tape *t, const char *file, int line, const tg_conv2d *c,
                                       tg_tensor *x, tg_binary_mode mode);

/* Clips each of the n tensors (the shadow weights, f32 or f64, contiguous: store parameters)
 * to [-1, 1] in place; NaN stays NaN. Call after every optimiser step. TG_ERR_NULL or
 * TG_ERR_ARG (err set, nothing changed) for a NULL, a tensor of another dtype or not
 * contiguous. */
tg_status tg_binary_clip(int n, tg_tensor *const *params, tg_error *err);

#define tg_binarize(t, ...)              tg_binarize_at(t, TG_SITE_, __VA_ARGS__)
#define tg_binary_weight(t, ...)         tg_binary_weight_at(t, TG_SITE_, __VA_ARGS__)
#define tg_binary_linear_forward(t, ...) tg_binary_linear_forward_at(t, TG_SITE_, __VA_ARGS__)
#define tg_binary_conv2d_forward(t, ...) tg_binary_conv2d_forward_at(t, TG_SITE_, __VA_ARGS__)

TG_PUBLIC_END

#ifdef __cplusplus
}
#endif

#endif
