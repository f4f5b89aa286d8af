/* tapegrad/stats.h: summary statistics of tensors and gradients, to see gradient trouble
 * (vanishing, exploding, NaN/Inf) without writing a loop over the data.
 *
 * The DOT export (tapegrad/dot.h) uses these to colour its nodes; training code can log them
 * per step:
 *
 *     tg_grad_stats per[64], total;
 *     if (tg_store_grad_stats(s, 64, per, &total) == TG_OK)   // TG_ERR_ARG past 64 params
 *         printf("|grad| %.3g, largest %.3g, %lld NaN\n", total.norm, total.max_abs,
 *                (long long)total.n_nan);
 */
#ifndef TAPEGRAD_STATS_H
#define TAPEGRAD_STATS_H

#include "tapegrad/tape.h"

#ifdef __cplusplus
extern "C" {
#endif

TG_PUBLIC_BEGIN

/* What tg_tensor_stats measures. Non-finite elements are counted, not summed, so one NaN does
 * not hide the size of everything else. An empty tensor has all fields zero. */
typedef struct tg_grad_stats {
    double norm;    /* 2-norm of the finite elements (computed without overflow: a tensor of
                     * 1e200s has a norm near 1e200, not Inf) */
    double max_abs; /* largest |x| among the finite elements, 0 if none */
    int64_t n_nan, n_inf, n_elements; /* NaN elements, +-Inf elements, all elements */
} tg_grad_stats;

/* The statistics of x's values, in any layout (views, strides, broadcast stride 0: every
 * logical element counts once per position). Sums run in double for f32 and f64. For a
 * gradient pass tg_tensor_grad(p). Returns TG_OK, or TG_ERR_NULL (and leaves *out alone) when
 * x or out is NULL; a NULL x is usually a gradient that was never computed. */
tg_status tg_tensor_stats(const tg_tensor *x, tg_grad_stats *out);

/* The statistics of every parameter's gradient in s: per_param (may be NULL, then pass n_per
 * 0) is an array of n_per entries that receives tg_store_n_params(s) of them in parameter
 * order (as tg_store_get_param); total (may be NULL) combines them as if all gradients were
 * one vector: the 2-norm over every finite element, the largest |g|, and the summed counts.
 * Returns TG_OK; TG_ERR_NULL for a NULL s; TG_ERR_ARG for a negative n_per, or when per_param
 * is not NULL and n_per < tg_store_n_params(s) (the array is too small: nothing is written,
 * neither per_param nor total). */
tg_status tg_store_grad_stats(const tg_store *s, int n_per, tg_grad_stats *per_param,
                              tg_grad_stats *total);

/* The same combination for any list of tensors (NULL entries are skipped, as tensors with no
 * gradient): per (may be NULL) gets n entries, NULL tensors giving all-zero entries. Useful for
 * a subset of parameters, or for gradients returned by tg_tape_grad. TG_ERR_NULL for a NULL
 * list with n > 0, TG_ERR_ARG for a negative n. */
tg_status tg_tensors_stats(int n, const tg_tensor *const *xs, tg_grad_stats *per,
                           tg_grad_stats *total);

TG_PUBLIC_END

#ifdef __cplusplus
}
#endif
#endif
