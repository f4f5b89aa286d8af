/* tapegrad/norm.h: batch and layer normalisation, composed from ops (their gradients, of any
 * order, come from the ops' rules).
 *
 *     // x: (N, C, H, W); gamma, beta: (C) parameters; rm, rv: (C) store buffers
 *     tg_tensor *y = tg_batch_norm(t, x, gamma, beta, rm, rv, true, 0.1, 1e-5);
 */
#ifndef TAPEGRAD_NORM_H
#define TAPEGRAD_NORM_H

#include "tapegrad/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

TG_PUBLIC_BEGIN

/* Normalises x: (N, C, ...) per channel. gamma and beta, of shape (C), may be NULL (no affine
 * part). In training (training = true) the batch's mean and biased variance are used and, when
 * given, running_mean and running_var (shape (C), usually store buffers) move toward the batch's
 * mean and unbiased variance by `momentum`, as in PyTorch. In eval they are used instead and must
 * be given. eps > 0 is added to the variance. */
tg_tensor *tg_batch_norm_at(tg_tape *t, const char *file, int line, tg_tensor *x,
                            tg_tensor *gamma, tg_tensor *beta, tg_tensor *running_mean,
                            tg_tensor *running_var, bool training, double momentum, double eps);

/* Normalises x over its last n_dims axes; gamma and beta have the shape of those axes, or NULL. */
tg_tensor *tg_layer_norm_at(tg_tape *t, const char *file, int line, tg_tensor *x, int n_dims,
                            tg_tensor *gamma, tg_tensor *beta, double eps);

#define tg_batch_norm(t, ...) tg_batch_norm_at(t, TG_SITE_, __VA_ARGS__)
#define tg_layer_norm(t, ...) tg_layer_norm_at(t, TG_SITE_, __VA_ARGS__)

TG_PUBLIC_END

#ifdef __cplusplus
}
#endif
#endif
