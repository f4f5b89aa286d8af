/* clip.c: gradient clipping over every parameter of a store, by global norm (as
 * torch.nn.utils.clip_grad_norm_) and by value (as clip_grad_value_).
 *
 * Invariant: the global norm is computed in double, scaled by the largest |g| first, so that
 * gradients large enough to overflow a plain sum of squares (the exploding gradients clipping
 * is for) still give a finite, correct norm; a non-finite norm never changes a gradient. */
#include <math.h>

#include "optim_impl.h"

/* Calls fn(data, dtype, n, ctx) for every parameter gradient of s. */
typedef void (*grad_fn)(void *g, tg_dtype dt, int64_t n, void *ctx);
static void each_grad(tg_store *s, grad_fn fn, void *ctx) {
    for (int i = 0; i < tg_store_n_params(s); i++) {
        tg_tensor *g = tg_tensor_grad(tg_store_get_param(s, i));
        if (g) fn(tg_tensor_data(g), tg_tensor_dtype(g), tg_tensor_numel(g), ctx);
    }
}

typedef struct norm_acc {
    double p;    /* the norm's order */
    double amax; /* largest |g| so far */
    bool nan;    /* a NaN was seen */
    double sum;  /* sum of (|g| / amax)^p in the second pass */
} norm_acc;

static void find_max(void *g, tg_dtype dt, int64_t n, void *ctx) {
    norm_acc *a = ctx;
    for (int64_t i = 0; i < n; i++) {
        double x = fabs(tg_optim_ld(dt, g, i));
        if (isnan(x))
            a->nan = true;
        else if (x > a->amax)
            a->amax = x;
    }
}

static void sum_powers(void *g, tg_dtype dt, int64_t n, void *ctx) {
    norm_acc *a = ctx;
    double sum = 0;
    for (int64_t i = 0; i < n; i++) {
        double x = fabs(tg_optim_ld(dt, g, i)) / a->amax;
        sum += a->p == 2 ? x * x : a->p == 1 ? x : pow(x, a->p);
    }
    a->sum += sum;
}

static void scale(void *g, tg_dtype dt, int64_t n, void *ctx) {
    double c = *(const double *)ctx;
    for (int64_t i = 0; i < n; i++) tg_optim_st(dt, g, i, tg_optim_ld(dt, g, i) * c);
}

tg_status tg_clip_grad_norm(tg_store *s, double max_norm, double norm_type, bool error_if_nonfinite,
                            double *total_norm, tg_error *err) {
    if (total_norm) *total_norm = NAN;
    if (!s) return tg_error_set(err, TG_ERR_NULL, "tg_clip_grad_norm: the store is NULL");
    if (!(max_norm >= 0) || isinf(max_norm))
        return tg_error_set(err, TG_ERR_ARG,
                            "tg_clip_grad_norm: max_norm is %g; it must be finite and >= 0",
                            max_norm);
    if (!(norm_type > 0))
        return tg_error_set(err, TG_ERR_ARG,
                            "tg_clip_grad_norm: norm_type is %g; it must be > 0 or INFINITY",
                            norm_type);
    norm_acc a = {.p = norm_type};
    each_grad(s, find_max, &a);
    double total;
    if (a.nan)
        total = NAN;
    else if (isinf(norm_type) || a.amax == 0 || isinf(a.amax))
        total = a.amax;
    else {
        each_grad(s, sum_powers, &a);
        total = a.amax * (norm_type == 2 ? sqrt(a.sum) : pow(a.sum, 1 / norm_type));
    }
    if (total_norm) *total_norm = total;
    if (!isfinite(total)) {
        if (error_if_nonfinite)
            return tg_error_set(err, TG_ERR_ARG,
                                "tg_clip_grad_norm: the total norm of order %g of the gradients "
                                "is %g; nothing was clipped",
                                norm_type, total);
        return TG_OK;
    }
    double coef = max_norm / (total + 1e-6);
    /* torch multiplies by min(coef, 1); multiplying by 1 changes nothing, so skip it. */
    if (coef < 1) each_grad(s, scale, &coef);
    return TG_OK;
}

static void clamp(void *g, tg_dtype dt, int64_t n, void *ctx) {
    double v = *(const double *)ctx;
    for (int64_t i = 0; i < n; i++) {
        double x = tg_optim_ld(dt, g, i);
        /* Comparisons, not fmin/fmax, so that NaN stays NaN as in torch.clamp. */
        if (x > v)
            tg_optim_st(dt, g, i, v);
        else if (x < -v)
            tg_optim_st(dt, g, i, -v);
    }
}

tg_status tg_clip_grad_value(tg_store *s, double v, tg_error *err) {
    if (!s) return tg_error_set(err, TG_ERR_NULL, "tg_clip_grad_value: the store is NULL");
    if (!(v >= 0))
        return tg_error_set(err, TG_ERR_ARG, "tg_clip_grad_value: the value is %g; it must be >= 0",
                            v);
    each_grad(s, clamp, &v);
    return TG_OK;
}
