/* tapegrad/ops.h: the operations. Each records a node on the tape (when recording is on and an
 * input requires a gradient) and returns its result, owned by the tape until tg_tape_reset.
 *
 * Every op takes the tape first. An op given a NULL input returns NULL and leaves the first
 * error on the tape untouched, so a chain of calls can be checked once at its end:
 *
 *     tg_tensor *h = tg_relu(t, tg_add(t, tg_matmul(t, x, w), b));   // x (N,I) w (I,O) b (O)
 *     if (!h) fprintf(stderr, "%s\n", tg_tape_error(t));
 *
 * Each name is a macro over a function with the suffix _at that also receives __FILE__ and
 * __LINE__, so that errors name the line that called the op. Elementwise ops with two inputs
 * broadcast as NumPy does. Scalar arguments are doubles, converted to the tensor's dtype. */
#ifndef TAPEGRAD_OPS_H
#define TAPEGRAD_OPS_H

#include "tapegrad/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TG_AT_ tg_tape *t, const char *file, int line

/* ---- elementwise, two inputs, broadcasting ---- */
tg_tensor *tg_add_at(TG_AT_, tg_tensor *a, tg_tensor *b); /* a + b */
tg_tensor *tg_sub_at(TG_AT_, tg_tensor *a, tg_tensor *b); /* a - b */
tg_tensor *tg_mul_at(TG_AT_, tg_tensor *a, tg_tensor *b); /* a * b */
tg_tensor *tg_div_at(TG_AT_, tg_tensor *a, tg_tensor *b); /* a / b */

/* ---- elementwise with a scalar ---- */
tg_tensor *tg_add_scalar_at(TG_AT_, tg_tensor *x, double c); /* x + c */
tg_tensor *tg_mul_scalar_at(TG_AT_, tg_tensor *x, double c); /* x * c */

/* ---- elementwise, one input ---- */
tg_tensor *tg_neg_at(TG_AT_, tg_tensor *x);     /* -x */
tg_tensor *tg_exp_at(TG_AT_, tg_tensor *x);     /* e^x */
tg_tensor *tg_log_at(TG_AT_, tg_tensor *x);     /* natural log; -inf at 0, NaN below */
tg_tensor *tg_tanh_at(TG_AT_, tg_tensor *x);    /* tanh x */
tg_tensor *tg_sigmoid_at(TG_AT_, tg_tensor *x); /* 1 / (1 + e^-x), stable for large |x| */
/* max(x, 0). Its gradient at exactly 0 is taken as 0 (the subgradient PyTorch uses). */
tg_tensor *tg_relu_at(TG_AT_, tg_tensor *x);
/* Heaviside step: 1 where x > 0, else 0. Its derivative is 0 everywhere it exists. */
tg_tensor *tg_step_at(TG_AT_, tg_tensor *x);

/* ---- linear algebra ---- */
/* Matrix product. a: (..., M, K), b: (..., K, N) -> (..., M, N); both need at least 2
 * dimensions, and the batch dimensions (...) broadcast. */
tg_tensor *tg_matmul_at(TG_AT_, tg_tensor *a, tg_tensor *b);

/* ---- reductions ---- */
/* Sum or mean over the listed axes (negative counts from the end); keepdim keeps them as
 * size 1. n_axes 0 reduces nothing and returns a copy. */
tg_tensor *tg_sum_at(TG_AT_, tg_tensor *x, int n_axes, const int *axes, bool keepdim);
tg_tensor *tg_mean_at(TG_AT_, tg_tensor *x, int n_axes, const int *axes, bool keepdim);
/* Sum or mean of every element, as a 0-dimensional tensor. */
tg_tensor *tg_sum_all_at(TG_AT_, tg_tensor *x);
tg_tensor *tg_mean_all_at(TG_AT_, tg_tensor *x);

/* ---- shape: views where the layout allows, copies otherwise ---- */
/* Same elements, new shape (same numel). One size may be -1, inferred. A view when x is
 * contiguous, a copy otherwise. */
tg_tensor *tg_reshape_at(TG_AT_, tg_tensor *x, int ndim, const int64_t *shape);
/* Reorders dimensions: result dim i is x's dim perm[i]. Always a view. */
tg_tensor *tg_permute_at(TG_AT_, tg_tensor *x, const int *perm);
/* Swaps two dimensions (negative counts from the end). Always a view. */
tg_tensor *tg_transpose_at(TG_AT_, tg_tensor *x, int dim0, int dim1);
/* Elements start, start+step, ... below stop along `axis` (Python's x[start:stop:step] with
 * step > 0; negative start/stop count from the end, and both are clamped). Always a view. */
tg_tensor *tg_slice_at(TG_AT_, tg_tensor *x, int axis, int64_t start, int64_t stop,
                       int64_t step);
/* The adjoint of tg_slice: a zero tensor of shape (ndim, shape) with x written at the slice
 * positions. Used by slice's backward; x must have the slice's shape. */
tg_tensor *tg_slice_embed_at(TG_AT_, tg_tensor *x, int ndim, const int64_t *shape, int axis,
                             int64_t start, int64_t stop, int64_t step);
/* Repeats x along size-1 (or missing leading) dimensions to reach `shape`, as NumPy's
 * broadcast_to. A copy. */
tg_tensor *tg_broadcast_to_at(TG_AT_, tg_tensor *x, int ndim, const int64_t *shape);
/* The reverse of broadcasting: sums x down to `shape` (which x must broadcast from). */
tg_tensor *tg_sum_to_at(TG_AT_, tg_tensor *x, int ndim, const int64_t *shape);
/* A contiguous copy of x (a view's elements gathered), recorded as an identity. */
tg_tensor *tg_contiguous_at(TG_AT_, tg_tensor *x);

#undef TG_AT_

#define tg_add(t, ...) tg_add_at(t, TG_SITE_, __VA_ARGS__)
#define tg_sub(t, ...) tg_sub_at(t, TG_SITE_, __VA_ARGS__)
#define tg_mul(t, ...) tg_mul_at(t, TG_SITE_, __VA_ARGS__)
#define tg_div(t, ...) tg_div_at(t, TG_SITE_, __VA_ARGS__)
#define tg_add_scalar(t, ...) tg_add_scalar_at(t, TG_SITE_, __VA_ARGS__)
#define tg_mul_scalar(t, ...) tg_mul_scalar_at(t, TG_SITE_, __VA_ARGS__)
#define tg_neg(t, ...) tg_neg_at(t, TG_SITE_, __VA_ARGS__)
#define tg_exp(t, ...) tg_exp_at(t, TG_SITE_, __VA_ARGS__)
#define tg_log(t, ...) tg_log_at(t, TG_SITE_, __VA_ARGS__)
#define tg_tanh(t, ...) tg_tanh_at(t, TG_SITE_, __VA_ARGS__)
#define tg_sigmoid(t, ...) tg_sigmoid_at(t, TG_SITE_, __VA_ARGS__)
#define tg_relu(t, ...) tg_relu_at(t, TG_SITE_, __VA_ARGS__)
#define tg_step(t, ...) tg_step_at(t, TG_SITE_, __VA_ARGS__)
#define tg_matmul(t, ...) tg_matmul_at(t, TG_SITE_, __VA_ARGS__)
#define tg_sum(t, ...) tg_sum_at(t, TG_SITE_, __VA_ARGS__)
#define tg_mean(t, ...) tg_mean_at(t, TG_SITE_, __VA_ARGS__)
#define tg_sum_all(t, ...) tg_sum_all_at(t, TG_SITE_, __VA_ARGS__)
#define tg_mean_all(t, ...) tg_mean_all_at(t, TG_SITE_, __VA_ARGS__)
#define tg_reshape(t, ...) tg_reshape_at(t, TG_SITE_, __VA_ARGS__)
#define tg_permute(t, ...) tg_permute_at(t, TG_SITE_, __VA_ARGS__)
#define tg_transpose(t, ...) tg_transpose_at(t, TG_SITE_, __VA_ARGS__)
#define tg_slice(t, ...) tg_slice_at(t, TG_SITE_, __VA_ARGS__)
#define tg_slice_embed(t, ...) tg_slice_embed_at(t, TG_SITE_, __VA_ARGS__)
#define tg_broadcast_to(t, ...) tg_broadcast_to_at(t, TG_SITE_, __VA_ARGS__)
#define tg_sum_to(t, ...) tg_sum_to_at(t, TG_SITE_, __VA_ARGS__)
#define tg_contiguous(t, ...) tg_contiguous_at(t, TG_SITE_, __VA_ARGS__)

#ifdef __cplusplus
}
#endif
#endif
