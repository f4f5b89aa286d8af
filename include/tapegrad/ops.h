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

TG_PUBLIC_BEGIN

#define TG_AT_ tg_tape *t, const char *file, int line

/* ---- elementwise, two inputs, broadcasting ---- */
tg_tensor *tg_add_at(TG_AT_, tg_tensor *a, tg_tensor *b); /* a + b */
tg_tensor *tg_sub_at(TG_AT_, tg_tensor *a, tg_tensor *b); /* a - b */
tg_tensor *tg_mul_at(TG_AT_, tg_tensor *a, tg_tensor *b); /* a * b */
tg_tensor *tg_div_at(TG_AT_, tg_tensor *a, tg_tensor *b); /* a / b */
/* a^b. The gradient for b (z ln a) is taken as 0 where a <= 0, where the real log is undefined. */
tg_tensor *tg_pow_at(TG_AT_, tg_tensor *a, tg_tensor *b);
/* Elementwise max(a, b) and min(a, b); NaN propagates. At a tie each input gets half the
 * gradient. */
tg_tensor *tg_maximum_at(TG_AT_, tg_tensor *a, tg_tensor *b);
tg_tensor *tg_minimum_at(TG_AT_, tg_tensor *a, tg_tensor *b);
/* Comparisons: 1 where the relation holds, else 0, in the inputs' dtype (NaN compares false,
 * and not-equal to everything). Their gradient is zero, as step's. */
tg_tensor *tg_gt_at(TG_AT_, tg_tensor *a, tg_tensor *b); /* a > b */
tg_tensor *tg_ge_at(TG_AT_, tg_tensor *a, tg_tensor *b); /* a >= b */
tg_tensor *tg_lt_at(TG_AT_, tg_tensor *a, tg_tensor *b); /* a < b */
tg_tensor *tg_le_at(TG_AT_, tg_tensor *a, tg_tensor *b); /* a <= b */
tg_tensor *tg_eq_at(TG_AT_, tg_tensor *a, tg_tensor *b); /* a == b */
tg_tensor *tg_ne_at(TG_AT_, tg_tensor *a, tg_tensor *b); /* a != b */
/* a where mask is nonzero (NaN counts as nonzero), else b; the three broadcast together and
 * share one dtype. a and b get their gradients; mask gets none (zero). */
tg_tensor *tg_where_at(TG_AT_, tg_tensor *mask, tg_tensor *a, tg_tensor *b);
/* Comparisons against a plain number c: 1 where x > c (>=, <, <=, ==) else 0, in x's dtype (NaN
 * compares false). The result is a constant: its node is recorded, but it does not require a
 * gradient, so nothing flows back through it (as a bool tensor in PyTorch). */
tg_tensor *tg_gt_scalar_at(TG_AT_, tg_tensor *x, double c);
tg_tensor *tg_ge_scalar_at(TG_AT_, tg_tensor *x, double c);
tg_tensor *tg_lt_scalar_at(TG_AT_, tg_tensor *x, double c);
tg_tensor *tg_le_scalar_at(TG_AT_, tg_tensor *x, double c);
tg_tensor *tg_eq_scalar_at(TG_AT_, tg_tensor *x, double c);
/* x where cond is nonzero (NaN counts as nonzero), else the number c; cond and x broadcast
 * together and share a dtype. x gets the gradient where cond holds; cond gets none. */
tg_tensor *tg_where_scalar_at(TG_AT_, tg_tensor *cond, tg_tensor *x, double c);
/* The number c where mask is nonzero, else x (PyTorch's masked_fill; c may be -inf, as for an
 * attention mask). mask and x broadcast together and share a dtype; x gets the gradient where
 * mask is zero, mask gets none. */
tg_tensor *tg_masked_fill_at(TG_AT_, tg_tensor *x, tg_tensor *mask, double c);

/* ---- elementwise with a scalar ---- */
tg_tensor *tg_add_scalar_at(TG_AT_, tg_tensor *x, double c); /* x + c */
tg_tensor *tg_mul_scalar_at(TG_AT_, tg_tensor *x, double c); /* x * c */
tg_tensor *tg_sub_scalar_at(TG_AT_, tg_tensor *x, double c);  /* x - c */
tg_tensor *tg_rsub_scalar_at(TG_AT_, tg_tensor *x, double c); /* c - x */
tg_tensor *tg_div_scalar_at(TG_AT_, tg_tensor *x, double c);  /* x / c (c = 0: inf/NaN) */
tg_tensor *tg_rdiv_scalar_at(TG_AT_, tg_tensor *x, double c); /* c / x */
/* x^c. The gradient c x^(c-1) is exactly 0 for c = 0. (For c^x use tg_pow with a 0-d c.) */
tg_tensor *tg_pow_scalar_at(TG_AT_, tg_tensor *x, double c);

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
tg_tensor *tg_abs_at(TG_AT_, tg_tensor *x);    /* |x|; gradient sign(x), 0 at x = 0 */
tg_tensor *tg_sign_at(TG_AT_, tg_tensor *x);   /* -1, 0 or 1 (NaN stays NaN); zero gradient */
tg_tensor *tg_sqrt_at(TG_AT_, tg_tensor *x);   /* square root; NaN below 0 */
tg_tensor *tg_square_at(TG_AT_, tg_tensor *x); /* x * x */
tg_tensor *tg_sin_at(TG_AT_, tg_tensor *x);    /* sin x */
tg_tensor *tg_cos_at(TG_AT_, tg_tensor *x);    /* cos x */
/* x for x > 0, slope * x otherwise (gradient slope at x = 0). */
tg_tensor *tg_leaky_relu_at(TG_AT_, tg_tensor *x, double slope);
/* x for x > 0, alpha (e^x - 1) otherwise (gradient alpha at x = 0). */
tg_tensor *tg_elu_at(TG_AT_, tg_tensor *x, double alpha);
/* The exact GELU x Phi(x), Phi the standard normal CDF (PyTorch's default, not the tanh
 * approximation). */
tg_tensor *tg_gelu_at(TG_AT_, tg_tensor *x);
/* GELU's derivative Phi(x) + x phi(x): an op of its own so that GELU's gradient differentiates
 * again. */
tg_tensor *tg_gelu_grad_at(TG_AT_, tg_tensor *x);
/* ln(1 + e^x), computed stably for any x; gradient sigmoid(x). */
tg_tensor *tg_softplus_at(TG_AT_, tg_tensor *x);
/* min(max(x, lo), hi); the gradient is 1 for lo <= x <= hi (edges included), else 0. lo > hi or
 * a NaN bound is TG_ERR_ARG; an infinite bound clamps one side only. */
tg_tensor *tg_clamp_at(TG_AT_, tg_tensor *x, double lo, double hi);
/* sign(x) forward; backward passes the gradient where |x| <= 1 and 0 elsewhere (the
 * straight-through estimator used to train binary weights). */
tg_tensor *tg_sign_ste_at(TG_AT_, tg_tensor *x);

/* ---- linear algebra ---- */
/* Matrix product. a: (..., M, K), b: (..., K, N) -> (..., M, N); both need at least 2
 * dimensions, and the batch dimensions (...) broadcast. */
tg_tensor *tg_matmul_at(TG_AT_, tg_tensor *a, tg_tensor *b);
/* Fully connected layer: x (..., in) times W (out, in) transposed, plus b (out) when b is not
 * NULL -> (..., out). A new tensor, recorded as one node (`linear`, or `linear_bias` with b):
 * the leading dimensions of x are folded into the rows of one product, whose sums start from
 * the bias. A b that is NULL because an earlier op failed is caught by that op's error on the
 * tape. */
tg_tensor *tg_linear_at(TG_AT_, tg_tensor *x, tg_tensor *w, tg_tensor *b);

/* ---- reductions ---- */
/* Sum or mean over the listed axes (negative counts from the end); keepdim keeps them as
 * size 1. n_axes 0 reduces nothing and returns a copy. */
tg_tensor *tg_sum_at(TG_AT_, tg_tensor *x, int n_axes, const int *axes, bool keepdim);
tg_tensor *tg_mean_at(TG_AT_, tg_tensor *x, int n_axes, const int *axes, bool keepdim);
/* Sum or mean of every element, as a 0-dimensional tensor. */
tg_tensor *tg_sum_all_at(TG_AT_, tg_tensor *x);
tg_tensor *tg_mean_all_at(TG_AT_, tg_tensor *x);
/* The position of the largest (smallest) element along `axis` (negative counts from the end):
 * the first one on ties, the first NaN if there is one. keepdim keeps the axis as size 1. The
 * indices are whole numbers stored in x's dtype (exact: for f32 an axis longer than 2^24 is
 * TG_ERR_SHAPE); an empty axis is TG_ERR_SHAPE. No gradient: the result is a constant (its
 * node is recorded, the result does not require a gradient), so backward through it is never
 * attempted rather than refused. */
tg_tensor *tg_argmax_at(TG_AT_, tg_tensor *x, int axis, bool keepdim);
tg_tensor *tg_argmin_at(TG_AT_, tg_tensor *x, int axis, bool keepdim);
/* Largest or smallest element over the listed axes, or over all (as a 0-d tensor). The
 * gradient goes to the selected element; tied extremes share it equally. NaN propagates. An
 * empty reduced axis is TG_ERR_SHAPE. */
tg_tensor *tg_max_at(TG_AT_, tg_tensor *x, int n_axes, const int *axes, bool keepdim);
tg_tensor *tg_min_at(TG_AT_, tg_tensor *x, int n_axes, const int *axes, bool keepdim);
tg_tensor *tg_max_all_at(TG_AT_, tg_tensor *x);
tg_tensor *tg_min_all_at(TG_AT_, tg_tensor *x);
/* Variance over the listed axes (or all): the squared deviations from the mean summed and
 * divided by n - correction (1: unbiased, torch.var's default; 0: population). correction < 0
 * is TG_ERR_ARG; n <= correction gives inf or NaN, as PyTorch. */
tg_tensor *tg_var_at(TG_AT_, tg_tensor *x, int n_axes, const int *axes, int correction,
                     bool keepdim);
tg_tensor *tg_var_all_at(TG_AT_, tg_tensor *x, int correction);
/* ln sum e^x over the listed axes (or all), computed after subtracting the maximum, so it is
 * finite for any finite input; an empty reduction gives -inf. */
tg_tensor *tg_logsumexp_at(TG_AT_, tg_tensor *x, int n_axes, const int *axes, bool keepdim);
tg_tensor *tg_logsumexp_all_at(TG_AT_, tg_tensor *x);

/* ---- neural: softmax, dropout ---- */
/* Softmax and log-softmax along `axis` (negative counts from the end). The row maximum is
 * subtracted first, so inputs as large as +-1000 give finite, exact results. */
tg_tensor *tg_softmax_at(TG_AT_, tg_tensor *x, int axis);
tg_tensor *tg_log_softmax_at(TG_AT_, tg_tensor *x, int axis);
/* Inverted dropout: in training, each element is zeroed with probability p (drawn from rng, in
 * row-major order) and the rest scaled by 1/(1-p); in eval (training false), or with p = 0, x
 * itself is returned. p outside [0, 1) is TG_ERR_ARG; rng may be NULL only when not training. */
tg_tensor *tg_dropout_at(TG_AT_, tg_tensor *x, double p, tg_rng *rng, bool training);

/* ---- fused cell arithmetic ---- */
/* The LSTM cell's gates: z (B, 4H) holds the pre-activations of the input, forget, cell and
 * output gates (PyTorch's order), c (B, H) the cell state -> (B, 2H) = [h', c'] with
 * c' = sigmoid(f) c + sigmoid(i) tanh(g) and h' = sigmoid(o) tanh(c'). One node whose gradient
 * is one pass, where the same composition of slices, sigmoids, tanhs and products records
 * thirteen; tg_lstm_cell_step uses it. */
tg_tensor *tg_lstm_gates_at(TG_AT_, tg_tensor *z, tg_tensor *c);

/* ---- losses: compositions of the ops above, so every order of derivative works ---- */
/* How a loss reduces its per-element (or per-sample) values. The zero value, mean, is the
 * default, as in PyTorch. NONE returns the unreduced tensor. */
typedef enum tg_reduction { TG_REDUCE_MEAN = 0, TG_REDUCE_SUM, TG_REDUCE_NONE } tg_reduction;
/* Cross entropy of logits (N, C) against class labels (N of them, each in [0, C); read, not
 * kept), per sample -(1-e) log_softmax[label] - (e/C) sum log_softmax with label smoothing e in
 * [0, 1] (0: none). A label out of range is TG_ERR_ARG naming its index. NONE gives (N,). */
tg_tensor *tg_cross_entropy_at(TG_AT_, tg_tensor *logits, const int64_t *labels,
                               double label_smoothing, tg_reduction reduction);
/* Cross entropy of logits (N, C) against probability targets (N, C): per sample
 * -sum_c t'_c log_softmax_c, with t' = (1-e) target + e/C. */
tg_tensor *tg_cross_entropy_probs_at(TG_AT_, tg_tensor *logits, tg_tensor *target,
                                     double label_smoothing, tg_reduction reduction);
/* Negative log-likelihood: per sample -log_probs[label] for log_probs (N, C) and N labels. */
tg_tensor *tg_nll_at(TG_AT_, tg_tensor *log_probs, const int64_t *labels,
                     tg_reduction reduction);
/* Squared error (pred - target)^2; the two must have the same shape. */
tg_tensor *tg_mse_at(TG_AT_, tg_tensor *pred, tg_tensor *target, tg_reduction reduction);
/* Binary cross entropy of probabilities p (each in [0, 1], else TG_ERR_ARG) against targets of
 * the same shape: -(t log p + (1-t) log(1-p)), each log clamped below at -100 as PyTorch. */
tg_tensor *tg_bce_at(TG_AT_, tg_tensor *probs, tg_tensor *target, tg_reduction reduction);
/* Binary cross entropy from logits: softplus(x) - x t, stable for any x. */
tg_tensor *tg_bce_with_logits_at(TG_AT_, tg_tensor *logits, tg_tensor *target,
                                 tg_reduction reduction);

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
 * broadcast_to. Always a view: repeated dimensions get stride 0. */
tg_tensor *tg_broadcast_to_at(TG_AT_, tg_tensor *x, int ndim, const int64_t *shape);
/* The reverse of broadcasting: sums x down to `shape` (which x must broadcast from). */
tg_tensor *tg_sum_to_at(TG_AT_, tg_tensor *x, int ndim, const int64_t *shape);
/* A contiguous copy of x (a view's elements gathered), recorded as an identity. */
tg_tensor *tg_contiguous_at(TG_AT_, tg_tensor *x);
/* x without axis `axis` (negative counts from the end), which must have size 1 (TG_ERR_SHAPE
 * otherwise, as NumPy). Always a view. */
tg_tensor *tg_squeeze_at(TG_AT_, tg_tensor *x, int axis);
/* x without every axis of size 1 (a 0-d tensor when all are). Always a view. */
tg_tensor *tg_squeeze_all_at(TG_AT_, tg_tensor *x);
/* x with a new axis of size 1 that is axis `axis` of the result: 0..ndim, or negative counting
 * from the end of the result (-1 appends), as NumPy's expand_dims. Always a view. */
tg_tensor *tg_unsqueeze_at(TG_AT_, tg_tensor *x, int axis);
/* Position `index` of `axis`, the axis dropped: x[..., index, ...]. A negative index counts
 * from the end; out of range is TG_ERR_ARG. Always a view; its gradient is embedded into zeros
 * of x's size, so to take every step of a sequence use tg_chunk and tg_squeeze instead. */
tg_tensor *tg_select_at(TG_AT_, tg_tensor *x, int axis, int64_t index);
/* Cuts x along `axis` into n consecutive pieces of sizes[0..n) elements (each >= 0, summing
 * to the axis's size) into out[0..n), which the caller provides. The pieces are slice views cut
 * by halving, so backward through all n costs O(n log n) in the pieces' size (n selects of one
 * position each cost O(n^2)). Returns TG_OK, or the error kept on the tape with every out[k]
 * NULL (with n < 1, out is left alone). */
tg_status tg_split_at(TG_AT_, tg_tensor *x, int axis, const int64_t *sizes, int n,
                      tg_tensor **out);
/* tg_split into n_chunks pieces of equal size; the axis's size must be a multiple of n_chunks
 * (TG_ERR_SHAPE otherwise: unequal pieces are tg_split's). A GRU's gates:
 *     tg_tensor *g[3]; tg_chunk(t, gi, -1, 3, g);    // gi (B, 3H) -> r, z, n (B, H) */
tg_status tg_chunk_at(TG_AT_, tg_tensor *x, int axis, int n_chunks, tg_tensor **out);

/* ---- element type and gradient flow ---- */
/* x converted to `dtype` (TG_F32 or TG_F64, else TG_ERR_DTYPE; f64 -> f32 rounds to nearest
 * and overflows to +-inf). The gradient is converted back to x's dtype. Casting to x's own
 * dtype gives a view, otherwise a new tensor. */
tg_tensor *tg_cast_at(TG_AT_, tg_tensor *x, tg_dtype dtype);
/* x as a constant for differentiation (stop-gradient): the same values (a view), recorded as a
 * node so that it shows in DOT, but the result does not require a gradient, so nothing flows
 * back through it into x. */
tg_tensor *tg_detach_at(TG_AT_, tg_tensor *x);

/* ---- joining, padding and indexing: every result is a new tensor (a copy) ---- */
/* Joins the n tensors xs[0..n) (n >= 1; one dtype; shapes equal except along axis) along an
 * existing axis (negative counts from the end). The array is read, not kept. */
tg_tensor *tg_concat_at(TG_AT_, int n, tg_tensor *const *xs, int axis);
/* Joins n tensors of one shape along a new axis, which is dimension `axis` of the result
 * (0..ndim; negative counts from the end of the result). */
tg_tensor *tg_stack_at(TG_AT_, int n, tg_tensor *const *xs, int axis);
/* Pads x with `value`: pads[2d] elements before and pads[2d + 1] after dimension d. n_pads
 * must be 2 * ndim and every count >= 0. The value gets no gradient. */
tg_tensor *tg_pad_at(TG_AT_, tg_tensor *x, int n_pads, const int64_t *pads, double value);
/* x's slices along axis at indices[0..n), in that order; each index in [0, size along axis)
 * (no negative indices), repeats allowed. The indices are copied: the caller keeps its array. */
tg_tensor *tg_index_select_at(TG_AT_, tg_tensor *x, int axis, int64_t n,
                              const int64_t *indices);
/* The adjoint of tg_index_select: zeros with `size` along axis, and x's slice p (x has n
 * along axis) added at indices[p], each in [0, size); repeated indices accumulate. */
tg_tensor *tg_index_add_at(TG_AT_, tg_tensor *x, int axis, int64_t size, int64_t n,
                           const int64_t *indices);
/* x's elements picked along `axis` by index (NumPy's take_along_axis, torch.gather):
 * y[p] = x[p with its axis coordinate replaced by index[p]], shaped as index. index has x's
 * number of dimensions and x's sizes off the axis; its entries are whole numbers in
 * [0, size along axis) held in a tensor of either dtype (argmax's result, for one); anything
 * else is TG_ERR_SHAPE or TG_ERR_ARG naming the entry. x gets its gradient through
 * tg_scatter_add; index gets none. */
tg_tensor *tg_gather_at(TG_AT_, tg_tensor *x, int axis, tg_tensor *index);
/* The adjoint of tg_gather: zeros shaped as x but with `size` along axis, and each x[p] added
 * at p with its axis coordinate replaced by index[p] (repeats accumulate, summed in double).
 * index has x's shape, entries whole numbers in [0, size). */
tg_tensor *tg_scatter_add_at(TG_AT_, tg_tensor *x, int axis, tg_tensor *index, int64_t size);
/* Embedding lookup: rows of the table w (V, D) at ids, an array of shape (ndim, shape) with
 * each id in [0, V) -> (shape..., D). The ids are copied. */
tg_tensor *tg_embedding_at(TG_AT_, tg_tensor *w, int ndim, const int64_t *shape,
                           const int64_t *ids);
/* A constant (n, n_classes) tensor of `dtype`, 1 at [p, labels[p]] and 0 elsewhere; each label
 * in [0, n_classes). A leaf that requires no gradient, like tg_zeros. */
tg_tensor *tg_one_hot_at(TG_AT_, tg_dtype dtype, int64_t n, const int64_t *labels,
                         int64_t n_classes);

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
#define tg_pow(t, ...) tg_pow_at(t, TG_SITE_, __VA_ARGS__)
#define tg_maximum(t, ...) tg_maximum_at(t, TG_SITE_, __VA_ARGS__)
#define tg_minimum(t, ...) tg_minimum_at(t, TG_SITE_, __VA_ARGS__)
#define tg_gt(t, ...) tg_gt_at(t, TG_SITE_, __VA_ARGS__)
#define tg_ge(t, ...) tg_ge_at(t, TG_SITE_, __VA_ARGS__)
#define tg_lt(t, ...) tg_lt_at(t, TG_SITE_, __VA_ARGS__)
#define tg_le(t, ...) tg_le_at(t, TG_SITE_, __VA_ARGS__)
#define tg_eq(t, ...) tg_eq_at(t, TG_SITE_, __VA_ARGS__)
#define tg_ne(t, ...) tg_ne_at(t, TG_SITE_, __VA_ARGS__)
#define tg_where(t, ...) tg_where_at(t, TG_SITE_, __VA_ARGS__)
#define tg_gt_scalar(t, ...) tg_gt_scalar_at(t, TG_SITE_, __VA_ARGS__)
#define tg_ge_scalar(t, ...) tg_ge_scalar_at(t, TG_SITE_, __VA_ARGS__)
#define tg_lt_scalar(t, ...) tg_lt_scalar_at(t, TG_SITE_, __VA_ARGS__)
#define tg_le_scalar(t, ...) tg_le_scalar_at(t, TG_SITE_, __VA_ARGS__)
#define tg_eq_scalar(t, ...) tg_eq_scalar_at(t, TG_SITE_, __VA_ARGS__)
#define tg_where_scalar(t, ...) tg_where_scalar_at(t, TG_SITE_, __VA_ARGS__)
#define tg_masked_fill(t, ...) tg_masked_fill_at(t, TG_SITE_, __VA_ARGS__)
#define tg_argmax(t, ...) tg_argmax_at(t, TG_SITE_, __VA_ARGS__)
#define tg_argmin(t, ...) tg_argmin_at(t, TG_SITE_, __VA_ARGS__)
#define tg_gather(t, ...) tg_gather_at(t, TG_SITE_, __VA_ARGS__)
#define tg_scatter_add(t, ...) tg_scatter_add_at(t, TG_SITE_, __VA_ARGS__)
#define tg_sub_scalar(t, ...) tg_sub_scalar_at(t, TG_SITE_, __VA_ARGS__)
#define tg_rsub_scalar(t, ...) tg_rsub_scalar_at(t, TG_SITE_, __VA_ARGS__)
#define tg_div_scalar(t, ...) tg_div_scalar_at(t, TG_SITE_, __VA_ARGS__)
#define tg_rdiv_scalar(t, ...) tg_rdiv_scalar_at(t, TG_SITE_, __VA_ARGS__)
#define tg_pow_scalar(t, ...) tg_pow_scalar_at(t, TG_SITE_, __VA_ARGS__)
#define tg_abs(t, ...) tg_abs_at(t, TG_SITE_, __VA_ARGS__)
#define tg_sign(t, ...) tg_sign_at(t, TG_SITE_, __VA_ARGS__)
#define tg_sqrt(t, ...) tg_sqrt_at(t, TG_SITE_, __VA_ARGS__)
#define tg_square(t, ...) tg_square_at(t, TG_SITE_, __VA_ARGS__)
#define tg_sin(t, ...) tg_sin_at(t, TG_SITE_, __VA_ARGS__)
#define tg_cos(t, ...) tg_cos_at(t, TG_SITE_, __VA_ARGS__)
#define tg_leaky_relu(t, ...) tg_leaky_relu_at(t, TG_SITE_, __VA_ARGS__)
#define tg_elu(t, ...) tg_elu_at(t, TG_SITE_, __VA_ARGS__)
#define tg_gelu(t, ...) tg_gelu_at(t, TG_SITE_, __VA_ARGS__)
#define tg_gelu_grad(t, ...) tg_gelu_grad_at(t, TG_SITE_, __VA_ARGS__)
#define tg_softplus(t, ...) tg_softplus_at(t, TG_SITE_, __VA_ARGS__)
#define tg_clamp(t, ...) tg_clamp_at(t, TG_SITE_, __VA_ARGS__)
#define tg_sign_ste(t, ...) tg_sign_ste_at(t, TG_SITE_, __VA_ARGS__)
#define tg_max(t, ...) tg_max_at(t, TG_SITE_, __VA_ARGS__)
#define tg_min(t, ...) tg_min_at(t, TG_SITE_, __VA_ARGS__)
#define tg_max_all(t, ...) tg_max_all_at(t, TG_SITE_, __VA_ARGS__)
#define tg_min_all(t, ...) tg_min_all_at(t, TG_SITE_, __VA_ARGS__)
#define tg_var(t, ...) tg_var_at(t, TG_SITE_, __VA_ARGS__)
#define tg_var_all(t, ...) tg_var_all_at(t, TG_SITE_, __VA_ARGS__)
#define tg_logsumexp(t, ...) tg_logsumexp_at(t, TG_SITE_, __VA_ARGS__)
#define tg_logsumexp_all(t, ...) tg_logsumexp_all_at(t, TG_SITE_, __VA_ARGS__)
#define tg_softmax(t, ...) tg_softmax_at(t, TG_SITE_, __VA_ARGS__)
#define tg_log_softmax(t, ...) tg_log_softmax_at(t, TG_SITE_, __VA_ARGS__)
#define tg_dropout(t, ...) tg_dropout_at(t, TG_SITE_, __VA_ARGS__)
#define tg_cross_entropy(t, ...) tg_cross_entropy_at(t, TG_SITE_, __VA_ARGS__)
#define tg_cross_entropy_probs(t, ...) tg_cross_entropy_probs_at(t, TG_SITE_, __VA_ARGS__)
#define tg_nll(t, ...) tg_nll_at(t, TG_SITE_, __VA_ARGS__)
#define tg_mse(t, ...) tg_mse_at(t, TG_SITE_, __VA_ARGS__)
#define tg_bce(t, ...) tg_bce_at(t, TG_SITE_, __VA_ARGS__)
#define tg_bce_with_logits(t, ...) tg_bce_with_logits_at(t, TG_SITE_, __VA_ARGS__)
#define tg_matmul(t, ...) tg_matmul_at(t, TG_SITE_, __VA_ARGS__)
#define tg_sum(t, ...) tg_sum_at(t, TG_SITE_, __VA_ARGS__)
#define tg_mean(t, ...) tg_mean_at(t, TG_SITE_, __VA_ARGS__)
#define tg_sum_all(t, ...) tg_sum_all_at(t, TG_SITE_, __VA_ARGS__)
#define tg_mean_all(t, ...) tg_mean_all_at(t, TG_SITE_, __VA_ARGS__)
#define tg_reshape(t, ...) tg_reshape_at(t, TG_SITE_, __VA_ARGS__)
#define tg_permute(t, ...) tg_permute_at(t, TG_SITE_, __VA_ARGS__)
#define tg_transpose(t, ...) tg_transpose_at(t, TG_SITE_, __VA_ARGS__)
#define tg_slice(t, ...) tg_slice_at(t, TG_SITE_, __VA_ARGS__)
#define tg_lstm_gates(t, ...) tg_lstm_gates_at(t, TG_SITE_, __VA_ARGS__)
#define tg_slice_embed(t, ...) tg_slice_embed_at(t, TG_SITE_, __VA_ARGS__)
#define tg_broadcast_to(t, ...) tg_broadcast_to_at(t, TG_SITE_, __VA_ARGS__)
#define tg_sum_to(t, ...) tg_sum_to_at(t, TG_SITE_, __VA_ARGS__)
#define tg_contiguous(t, ...) tg_contiguous_at(t, TG_SITE_, __VA_ARGS__)
#define tg_squeeze(t, ...) tg_squeeze_at(t, TG_SITE_, __VA_ARGS__)
#define tg_squeeze_all(t, ...) tg_squeeze_all_at(t, TG_SITE_, __VA_ARGS__)
#define tg_unsqueeze(t, ...) tg_unsqueeze_at(t, TG_SITE_, __VA_ARGS__)
#define tg_select(t, ...) tg_select_at(t, TG_SITE_, __VA_ARGS__)
#define tg_split(t, ...) tg_split_at(t, TG_SITE_, __VA_ARGS__)
#define tg_chunk(t, ...) tg_chunk_at(t, TG_SITE_, __VA_ARGS__)
#define tg_cast(t, ...) tg_cast_at(t, TG_SITE_, __VA_ARGS__)
#define tg_detach(t, ...) tg_detach_at(t, TG_SITE_, __VA_ARGS__)
#define tg_linear(t, ...) tg_linear_at(t, TG_SITE_, __VA_ARGS__)
#define tg_concat(t, ...) tg_concat_at(t, TG_SITE_, __VA_ARGS__)
#define tg_stack(t, ...) tg_stack_at(t, TG_SITE_, __VA_ARGS__)
#define tg_pad(t, ...) tg_pad_at(t, TG_SITE_, __VA_ARGS__)
#define tg_index_select(t, ...) tg_index_select_at(t, TG_SITE_, __VA_ARGS__)
#define tg_index_add(t, ...) tg_index_add_at(t, TG_SITE_, __VA_ARGS__)
#define tg_embedding(t, ...) tg_embedding_at(t, TG_SITE_, __VA_ARGS__)
#define tg_one_hot(t, ...) tg_one_hot_at(t, TG_SITE_, __VA_ARGS__)

TG_PUBLIC_END

#ifdef __cplusplus
}
#endif
#endif
