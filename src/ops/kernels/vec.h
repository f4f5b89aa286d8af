/* vec.h: the f32 SIMD forms of the elementwise and pooling loops (vec_f32.c), each choosing the
 * AVX-512 or AVX2 version by kern_cpu_level(). Every function returns false, having done
 * nothing, when the level is portable or the case is not one it has: the caller then runs its
 * plain loop, which is also what the tests compare these against. */
#ifndef TG_KERN_VEC_H
#define TG_KERN_VEC_H

#include "cell.h"
#include "kernels.h"
#include "window.h"

/* y[i] = f(x[i]) for n > 0 contiguous elements (y may equal x) for the kinds NEG, EXP, TANH,
 * SIGMOID, RELU, STEP, the scalar arithmetic ones (with a) and SQUARE. */
bool kern_vec_map_f32(kern_unary_kind k, int64_t n, const float *x, float *y, double a);

/* out[i] = a[i sa] (op) b[i sb] for n > 0 elements, for ADD, SUB, MUL and DIV with strides 0 or
 * 1 (not both 0). out may equal a or b. */
bool kern_vec_zip_f32(kern_binary_kind k, int64_t n, const float *a, int64_t sa, const float *b,
                      int64_t sb, float *out);

/* GELU and its derivative for n > 0 contiguous elements: y and d with the bits that
 * kern_vec_map_f32 gives for KERN_GELU and KERN_GELU_GRAD. */
bool kern_vec_gelu_and_grad_f32(int64_t n, const float *x, float *y, float *d);

/* Layer norm's f32 rows first..last of C contiguous values (layer_norm.c): the forward
 * y = ((x - mu) r) gamma + beta with [mu, r] per row into stats (double), and the backward's
 * sums over rows acc_g += G xh, acc_b += G (double) and, when dx is not NULL, its dx. The
 * statistics are summed in double in another order than the plain loops'. */
bool kern_vec_layer_norm_forward_f32(int64_t first, int64_t last, int64_t C, const float *x,
                                     const float *g, const float *b, double eps, float *y,
                                     double *stats);
bool kern_vec_layer_norm_backward_f32(int64_t first, int64_t last, int64_t C, const float *x,
                                      const float *g, const float *gy, const double *stats,
                                      float *dx, double *acc_g, double *acc_b);

/* out[i] = m[i sm] != 0 ? a[i sa] : b[i sb] (NaN counts as nonzero) for n > 0 elements, with
 * strides 0 or 1. */
bool kern_vec_where_f32(int64_t n, const float *m, int64_t sm, const float *a, int64_t sa,
                        const float *b, int64_t sb, float *out);

/* *sum = the sum of n contiguous floats, accumulated in double (in another order than the
 * plain loop's, so the last bits of the double may differ). */
bool kern_vec_sum_f32(const float *x, int64_t n, double *sum);
/* acc[j] += x[j] for j < n, in double. */
bool kern_vec_sum_into_f32(double *acc, const float *x, int64_t n);

/* Softmax (or log-softmax) of one contiguous row of n > 0 floats into out (not overlapping x),
 * as kern_softmax defines it: within 2 ulp of the double-precision result; with stats, also
 * the row's maximum m and ln sum e^(x - m) into stats[0], stats[1] (kern_softmax_rows). */
bool kern_vec_softmax_row_f32(const float *x, int64_t n, float *out, bool log_form, double *stats);

/* kern_lstm_forward and kern_lstm_backward (cell.h) for f32, row by row in one pass each: the
 * plain loops' expressions in their order and the sigmoid and tanh of kern_vec_map_f32, so the
 * same bits. */
bool kern_vec_lstm_forward_f32(const kern_lstm_fwd *f);
bool kern_vec_lstm_backward_f32(const kern_lstm_bwd *b);

/* kern_im2col and kern_col2im_add (conv.h) for f32 at column stride 1 (sw = 1). */
bool kern_vec_im2col_f32(const kern_window *g, const float *image, float *cols, int64_t ld);
bool kern_vec_col2im_f32(const kern_window *g, const float *cols, int64_t ld, float *image);

/* Max-pooling selection for m > 0 windows whose elements all lie in the plane p: window q's
 * elements are p[first + q sw + offs[t]] for t < n_offs, in that order (offs[0] = 0); idx[q]
 * gets the position of the first largest one, NaN winning over numbers (once one is NaN, the
 * first NaN). Positions must fit in int32. */
bool kern_vec_select_max_f32(const float *p, int64_t first, int64_t sw, int64_t m,
                             const int64_t *offs, int n_offs, int64_t *idx);

#endif
