/* cases.c: the exponent-overflow measurements (see cases.h). The inputs are x = M u with
 * u = (1, 1, 0, -1): the tie at the top keeps every gradient of order 1 at any M, so a
 * relative error measures the formula and not the cancellation of a saturated function's
 * near-zero gradient. The references take the maximum out before exponentiating (softmax,
 * logsumexp) or exponentiate only -|x| (sigmoid, BCE), in long double. */
#include "cases.h"

#include <float.h>
#include <math.h>
#include <string.h>

static const double u[OV_N_IN] = {1, 1, 0, -1};
static const double bce_target[OV_N_IN] = {0, 1, 1, 0};
static const int64_t ce_label = 2; /* the element at 0: its loss is M + ln 2 */

static const char *const names[OV_N_OPS] = {"softmax", "log_softmax", "cross_entropy", "logsumexp",
                                            "sigmoid", "bce",         "bce_probs"};
static const char *const naive[OV_N_OPS] = {"exp(x) / sum exp(x)",
                                            "log(exp(x) / sum exp(x))",
                                            "-log(exp(x_k) / sum exp(x))",
                                            "log(sum exp(x))",
                                            "1 / (1 + exp(-x))",
                                            "-(t log p + (1-t) log(1-p)), p = 1/(1+exp(-x))",
                                            "-(t log p + (1-t) log(1-p)), p = 1/(1+exp(-x))"};
static const char *const library[OV_N_OPS] = {
    "tg_softmax", "tg_log_softmax",     "tg_cross_entropy",     "tg_logsumexp_all",
    "tg_sigmoid", "tg_bce_with_logits", "tg_bce(tg_sigmoid(x))"};

const char *ov_op_name(ov_op op) { return op < OV_N_OPS ? names[op] : "?"; }
const char *ov_naive_formula(ov_op op) { return op < OV_N_OPS ? naive[op] : "?"; }
const char *ov_library_formula(ov_op op) { return op < OV_N_OPS ? library[op] : "?"; }
bool ov_library_exact(ov_op op) { return op != OV_BCE_PROBS; }

/* ---- the references, in long double ---- */

typedef long double ld;

static ld sigmoid_ref(ld x) {
    ld e = expl(-fabsl(x));
    return x >= 0 ? 1 / (1 + e) : e / (1 + e);
}

/* softmax of x with the maximum taken out first; returns ln sum e^x. */
static ld softmax_ref(const ld *x, ld *y) {
    ld m = x[0];
    for (int i = 1; i < OV_N_IN; i++) m = fmaxl(m, x[i]);
    ld s = 0;
    for (int i = 0; i < OV_N_IN; i++) s += y[i] = expl(x[i] - m);
    for (int i = 0; i < OV_N_IN; i++) y[i] /= s;
    return m + logl(s);
}

/* Value (n_out numbers, returned) and gradient (OV_N_IN) of op at x. */
static int reference(ov_op op, const ld *x, const ld *w, ld *val, ld *grad) {
    ld p[OV_N_IN];
    ld lse = softmax_ref(x, p);
    ld wsum = 0, wy = 0;
    for (int i = 0; i < OV_N_IN; i++) wsum += w[i], wy += w[i] * p[i];
    switch (op) {
    case OV_SOFTMAX:
        for (int i = 0; i < OV_N_IN; i++) val[i] = p[i], grad[i] = p[i] * (w[i] - wy);
        return OV_N_IN;
    case OV_LOG_SOFTMAX:
        for (int i = 0; i < OV_N_IN; i++) val[i] = x[i] - lse, grad[i] = w[i] - p[i] * wsum;
        return OV_N_IN;
    case OV_CROSS_ENTROPY:
        val[0] = lse - x[ce_label];
        for (int i = 0; i < OV_N_IN; i++) grad[i] = p[i] - (i == ce_label);
        return 1;
    case OV_LOGSUMEXP:
        val[0] = lse;
        for (int i = 0; i < OV_N_IN; i++) grad[i] = p[i];
        return 1;
    case OV_SIGMOID:
        for (int i = 0; i < OV_N_IN; i++) {
            ld e = expl(-fabsl(x[i]));
            val[i] = sigmoid_ref(x[i]);
            grad[i] = w[i] * e / ((1 + e) * (1 + e)); /* sigma' = e^-|x| / (1 + e^-|x|)^2 */
        }
        return OV_N_IN;
    case OV_BCE:
    case OV_BCE_PROBS:
    default:
        val[0] = 0;
        for (int i = 0; i < OV_N_IN; i++) {
            ld t = bce_target[i];
            val[0] += (fmaxl(x[i], 0) - x[i] * t + log1pl(expl(-fabsl(x[i])))) / OV_N_IN;
            grad[i] = (sigmoid_ref(x[i]) - t) / OV_N_IN;
        }
        return 1;
    }
}

/* ---- the two forms on the tape ---- */

static tg_tensor *naive_softmax(tg_tape *t, tg_tensor *x) {
    int axis = 1;
    tg_tensor *e = tg_exp(t, x);
    return tg_div(t, e, tg_sum(t, e, 1, &axis, true));
}

static tg_tensor *naive_sigmoid(tg_tape *t, tg_tensor *x) {
    tg_tensor *one = tg_scalar(t, tg_tensor_dtype(x), 1.0);
    return tg_div(t, one, tg_add(t, one, tg_exp(t, tg_neg(t, x))));
}

static tg_tensor *naive_bce(tg_tape *t, tg_tensor *x, tg_tensor *target) {
    tg_tensor *p = naive_sigmoid(t, x);
    tg_tensor *pos = tg_mul(t, target, tg_log(t, p));
    tg_tensor *neg =
        tg_mul(t, tg_rsub_scalar(t, target, 1.0), tg_log(t, tg_rsub_scalar(t, p, 1.0)));
    return tg_neg(t, tg_mean_all(t, tg_add(t, pos, neg)));
}

static tg_tensor *build(tg_tape *t, ov_op op, ov_form form, tg_tensor *x, tg_tensor *target) {
    bool lib = form == OV_LIBRARY;
    switch (op) {
    case OV_SOFTMAX:
        return lib ? tg_softmax(t, x, 1) : naive_softmax(t, x);
    case OV_LOG_SOFTMAX:
        return lib ? tg_log_softmax(t, x, 1) : tg_log(t, naive_softmax(t, x));
    case OV_CROSS_ENTROPY:
        if (lib) return tg_cross_entropy(t, x, &ce_label, 0.0, TG_REDUCE_MEAN);
        return tg_neg(
            t, tg_mean_all(t, tg_log(t, tg_index_select(t, naive_softmax(t, x), 1, 1, &ce_label))));
    case OV_LOGSUMEXP:
        return lib ? tg_logsumexp_all(t, x) : tg_log(t, tg_sum_all(t, tg_exp(t, x)));
    case OV_SIGMOID:
        return lib ? tg_sigmoid(t, x) : naive_sigmoid(t, x);
    case OV_BCE:
        return lib ? tg_bce_with_logits(t, x, target, TG_REDUCE_MEAN) : naive_bce(t, x, target);
    case OV_BCE_PROBS:
    default:
        return lib ? tg_bce(t, tg_sigmoid(t, x), target, TG_REDUCE_MEAN) : naive_bce(t, x, target);
    }
}

/* A (1, OV_N_IN) tensor of dtype holding v. */
static tg_tensor *make(tg_tape *t, tg_dtype dtype, const double *v) {
    const int64_t shape[2] = {1, OV_N_IN};
    float f[OV_N_IN];
    for (int i = 0; i < OV_N_IN; i++) f[i] = (float)v[i];
    return tg_from_data(t, dtype, 2, shape, dtype == TG_F32 ? (const void *)f : (const void *)v);
}

/* Compares n computed numbers with the reference. */
static ov_error compare(const double *a, const ld *r, int n, tg_dtype dtype) {
    ov_error e = {OV_FINITE, NAN};
    ld worst = 0, scale = dtype == TG_F32 ? FLT_MIN : DBL_MIN;
    for (int i = 0; i < n; i++) {
        if (isnan(a[i]))
            e.kind = OV_NAN;
        else if (isinf(a[i]) && e.kind != OV_NAN)
            e.kind = OV_INF;
        worst = fmaxl(worst, fabsl((ld)a[i] - r[i]));
        scale = fmaxl(scale, fabsl(r[i]));
    }
    if (e.kind == OV_FINITE) e.rel = (double)(worst / scale);
    return e;
}

tg_status ov_measure(tg_tape *t, ov_op op, ov_form form, tg_dtype dtype, double magnitude,
                     const double *w, ov_result *out, tg_error *err) {
    double xd[OV_N_IN], a[OV_N_IN], ga[OV_N_IN];
    ld x[OV_N_IN], wl[OV_N_IN], val[OV_N_IN], grad[OV_N_IN];
    for (int i = 0; i < OV_N_IN; i++) {
        /* The reference starts from the numbers the tensor actually holds. */
        xd[i] = dtype == TG_F32 ? (double)(float)(magnitude * u[i]) : magnitude * u[i];
        wl[i] = dtype == TG_F32 ? (double)(float)w[i] : w[i];
        x[i] = xd[i];
    }
    int n_out = reference(op, x, wl, val, grad);

    tg_tape_reset(t);
    tg_tensor *xt = make(t, dtype, xd), *wt = make(t, dtype, w),
              *target = make(t, dtype, bce_target);
    tg_tensor *g = NULL;
    tg_tensor *y = xt && tg_tensor_set_requires_grad(xt, true) == TG_OK
                       ? build(t, op, form, xt, target)
                       : NULL;
    tg_tensor *loss = n_out == 1 ? y : tg_sum_all(t, tg_mul(t, y, wt));
    tg_status s = loss ? tg_tape_grad(t, loss, NULL, 1, &xt, &g, 0) : tg_tape_status(t);
    if (s == TG_OK &&
        (tg_tensor_copy_out(y, TG_F64, a) != TG_OK || tg_tensor_copy_out(g, TG_F64, ga) != TG_OK))
        s = TG_ERR_ARG;
    if (s != TG_OK) {
        tg_error_set(err, s, "%s (%s, %s, M = %g): %s", ov_op_name(op),
                     form == OV_NAIVE ? "naive" : "library", tg_dtype_name(dtype), magnitude,
                     tg_tape_error(t) ? tg_tape_error(t) : "reading the result failed");
        tg_tape_reset(t);
        return s;
    }
    out->value = compare(a, val, n_out, dtype);
    out->grad = compare(ga, grad, OV_N_IN, dtype);
    tg_tape_reset(t);
    return TG_OK;
}
