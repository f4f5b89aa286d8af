/* op_util.h: what every op file shares: input validation with op-named errors, broadcasting
 * arithmetic, axis normalisation, and the forward skeleton of elementwise one-input ops. */
#ifndef TG_OP_UTIL_H
#define TG_OP_UTIL_H

#include "../graph/graph.h"
#include "kernels/kernels.h"

/* Enters an op: sets the call site and checks that the tape exists, every input is non-NULL
 * (a NULL usually means an earlier op failed: its error stays the first) and current (see
 * tg_op_current), and all inputs share a dtype. Returns false after keeping an error on the
 * tape. Every op calls it before reading anything of its inputs. */
bool tg_op_enter(tg_tape *t, const char *file, int line, const char *op, int n_inputs,
                 tg_tensor *const *inputs);
/* The stale-tensor check of tg_op_enter, also for an op's optional tensors (biases, affine
 * parameters, running statistics): true for NULL or a tensor made on t since its last reset
 * (or a store tensor); otherwise false with TG_ERR_STALE kept on t naming op and `what`. */
bool tg_op_current(tg_tape *t, const char *op, const char *what, const tg_tensor *x);

/* The broadcast shape of a and b into (ndim, shape), or false with an error naming op. */
bool tg_broadcast_shape(tg_tape *t, const char *op, const tg_tensor *a, const tg_tensor *b,
                        int *ndim, int64_t *shape);
/* x's strides for reading it as (ndim, shape) under broadcasting: 0 where x is repeated. */
void tg_broadcast_strides(const tg_tensor *x, int ndim, const int64_t *shape, int64_t *strides);

/* Normalises axis (negative counts from the end) for ndim dimensions, or returns -1 after an
 * error naming op. */
int tg_norm_axis(tg_tape *t, const char *op, int axis, int ndim);
/* The same for an axis of x; the error names x's shape (CONTRIBUTING S4.1). */
int tg_norm_axis_of(tg_tape *t, const char *op, int axis, const tg_tensor *x);
/* Turns a list of axes into a mask; false (error kept) on an axis out of range or repeated. */
bool tg_axes_mask(tg_tape *t, const char *op, const tg_tensor *x, int n_axes, const int *axes,
                  bool *mask);

/* Enters, broadcasts and runs an elementwise two-input op: z = a (k) b into a new contiguous
 * tensor of the broadcast shape, recorded with `op`. Returns NULL on error. */
tg_tensor *tg_binary_forward(tg_tape *t, const char *file, int line, const tg_op_desc *op,
                             kern_binary_kind k, tg_tensor *a, tg_tensor *b);

/* Forward of an elementwise one-input op: y = f(x) into a new contiguous tensor, recorded with
 * `op`. Returns NULL on error. */
tg_tensor *tg_unary_forward(tg_tape *t, const tg_op_desc *op, kern_unary_kind k, tg_tensor *x,
                            double a);

/* softmax.c's fused softmax_cross_entropy op, for tg_cross_entropy (loss.c): the per-row loss
 * (N,) of logits x (N, C) against labels already checked to lie in [0, C), with label
 * smoothing e in [0, 1]. */
/* layer_norm.c: layer normalisation with both gamma and beta as one node; tg_layer_norm
 * (norm.c) calls it after checking the arguments. */
tg_tensor *tg_layer_norm_fused(tg_tape *t, tg_tensor *x, int n_dims, tg_tensor *gamma,
                               tg_tensor *beta, double eps);

tg_tensor *tg_softmax_cross_entropy_at(tg_tape *t, const char *file, int line, tg_tensor *x,
                                       const int64_t *labels, double e);

/* The custom ops' part of the registry (registry.c), for custom.c: registers d under its name
 * (refused with *err set when the name is taken or memory runs out), and removes it again. */
tg_status tg_op_register(const tg_op_desc *d, tg_error *err);
void tg_op_unregister(const tg_op_desc *d);
/* Whether d is registered as a custom op now. Compares addresses only, so a pointer to a
 * freed op can be asked about. */
bool tg_op_is_custom_registered(const tg_op_desc *d);

#endif
