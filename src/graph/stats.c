/* stats.c: norms, largest magnitudes and NaN/Inf counts of tensors and of a store's gradients.
 * Reads through strides (views need no copy) and sums in double; non-finite elements are
 * counted apart so that the norm still says how large the finite part is. */
#include <math.h>

#include "graph.h"
#include "../ops/kernels/nd_iter.h"

/* Squares of f64 magnitudes outside this range would overflow or lose everything to
 * underflow; a tensor whose largest element falls outside is summed again, scaled. */
#define SAFE_BIG 1e150
#define SAFE_SMALL 1e-150

/* One strided pass: counts, the largest finite magnitude, and the sum of squares of the
 * finite elements divided by scale^2 (scale 1 for the plain sum). */
static void scan(const tg_tensor *x, double scale, tg_grad_stats *st, double *ssq) {
    nd_iter it;
    nd_iter_init(&it, x->ndim, x->shape);
    int64_t inner_stride = x->ndim > 0 ? x->strides[x->ndim - 1] : 0;
    double big = 0, sum = 0, inv = 1 / scale;
    int64_t n_nan = 0, n_inf = 0;
    if (!it.empty) do {
        int64_t off = nd_iter_offset(&it, x->strides);
        for (int64_t i = 0; i < it.inner; i++) {
            int64_t k = off + i * inner_stride;
            double v = x->dtype == TG_F32 ? (double)((const float *)x->data)[k]
                                          : ((const double *)x->data)[k];
            if (isnan(v)) {
                n_nan++;
            } else if (isinf(v)) {
                n_inf++;
            } else {
                double a = fabs(v);
                if (a > big) big = a;
                a *= inv;
                sum += a * a;
            }
        }
    } while (nd_iter_next(&it));
    st->max_abs = big;
    st->n_nan = n_nan;
    st->n_inf = n_inf;
    st->n_elements = tg_numel_of(x->ndim, x->shape);
    *ssq = sum;
}

tg_status tg_tensor_stats(const tg_tensor *x, tg_grad_stats *out) {
    if (!x || !out) return TG_ERR_NULL;
    tg_grad_stats st = {0, 0, 0, 0, 0};
    double ssq;
    scan(x, 1, &st, &ssq);
    /* An f32's square always fits a double; only f64 extremes need the scaled pass. */
    if (st.max_abs > SAFE_BIG || (st.max_abs > 0 && st.max_abs < SAFE_SMALL)) {
        scan(x, st.max_abs, &st, &ssq);
        st.norm = st.max_abs * sqrt(ssq);
    } else {
        st.norm = sqrt(ssq);
    }
    *out = st;
    return TG_OK;
}

/* Folds part into the running total; norms combine through the largest so far (the same
 * scaling as above, on norms instead of elements). */
static void combine(tg_grad_stats *total, double *scale, double *ssq, const tg_grad_stats *part) {
    total->n_nan += part->n_nan;
    total->n_inf += part->n_inf;
    total->n_elements += part->n_elements;
    if (part->max_abs > total->max_abs) total->max_abs = part->max_abs;
    double a = part->norm;
    if (a == 0) return;
    if (a > *scale) {
        *ssq = 1 + *ssq * (*scale / a) * (*scale / a);
        *scale = a;
    } else {
        *ssq += (a / *scale) * (a / *scale);
    }
}

tg_status tg_tensors_stats(int n, const tg_tensor *const *xs, tg_grad_stats *per,
                           tg_grad_stats *total) {
    if (n < 0) return TG_ERR_ARG;
    if (n > 0 && !xs) return TG_ERR_NULL;
    tg_grad_stats sum = {0, 0, 0, 0, 0};
    double scale = 0, ssq = 0;
    for (int i = 0; i < n; i++) {
        tg_grad_stats st = {0, 0, 0, 0, 0};
        if (xs[i]) tg_tensor_stats(xs[i], &st);
        if (per) per[i] = st;
        combine(&sum, &scale, &ssq, &st);
    }
    sum.norm = scale * sqrt(ssq);
    if (total) *total = sum;
    return TG_OK;
}

tg_status tg_store_grad_stats(const tg_store *s, int n_per, tg_grad_stats *per_param,
                              tg_grad_stats *total) {
    if (!s) return TG_ERR_NULL;
    if (n_per < 0) return TG_ERR_ARG;
    /* Refuse a short array before writing anything, rather than filling a prefix: a caller who
     * sized it from an older parameter count would otherwise read stale entries as current. */
    if (per_param && n_per < tg_store_n_params(s)) return TG_ERR_ARG;
    tg_grad_stats sum = {0, 0, 0, 0, 0};
    double scale = 0, ssq = 0;
    int k = 0;
    for (int j = 0; j < s->n_tensors; j++) {
        const tg_tensor *p = s->params[j];
        if (p->role != TG_ROLE_PARAM) continue;
        tg_grad_stats st = {0, 0, 0, 0, 0};
        tg_tensor *g = tg_tensor_grad(p); /* zeros still pending are filled first */
        if (g) tg_tensor_stats(g, &st);
        if (per_param) per_param[k] = st;
        k++;
        combine(&sum, &scale, &ssq, &st);
    }
    sum.norm = scale * sqrt(ssq);
    if (total) *total = sum;
    return TG_OK;
}
