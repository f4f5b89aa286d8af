/* loss.c: the losses, as compositions of registered ops (so their gradients, to any order, are
 * those of the ops, and they need no proof of their own beyond the composite checks).
 *
 *   cross_entropy        l_i = -(1-e) lsm_{i,y_i} - (e/C) sum_c lsm_{i,c},  lsm = log_softmax(x)
 *                        (label smoothing e: the target is (1-e) onehot + e/C, as PyTorch);
 *                        one fused op, softmax_cross_entropy (softmax.c), then the reduction
 *   cross_entropy_probs  l_i = -sum_c t'_{i,c} lsm_{i,c},  t' = (1-e) t + e/C
 *   nll                  l_i = -lp_{i,y_i}
 *   mse                  l = (a - b)^2
 *   bce                  l = -(t log p + (1-t) log(1-p)), each log clamped below at -100 (as
 *                        PyTorch), so p = 0 or 1 gives a finite loss
 *   bce_with_logits      l = softplus(x) - x t = max(x,0) - x t + log1p(e^-|x|): stable for any x
 *
 * then reduced by mean (TG_REDUCE_MEAN, the zero value), sum, or not at all. Picking the label's
 * entry and clamping use where() (a select), never a multiplication by a 0/1 mask, so a -inf
 * log-probability off the label, or log 0 in bce, never turns into 0 * inf = NaN in the loss or
 * its gradient. Labels are checked first: one out of [0, C) is an error naming its index. */
#include <math.h>

#include "op_util.h"

static tg_tensor *reduce(tg_tape *t, const char *op, tg_tensor *l, tg_reduction r) {
    if (!l) return NULL;
    switch (r) {
    case TG_REDUCE_MEAN:
        return tg_mean_all(t, l);
    case TG_REDUCE_SUM:
        return tg_sum_all(t, l);
    case TG_REDUCE_NONE:
        return l;
    }
    return tg_fail(t, TG_ERR_ARG, "%s: unknown reduction %d", op, (int)r);
}

static bool reduction_ok(tg_tape *t, const char *op, tg_reduction r) {
    if (r == TG_REDUCE_MEAN || r == TG_REDUCE_SUM || r == TG_REDUCE_NONE) return true;
    tg_fail(t, TG_ERR_ARG, "%s: unknown reduction %d", op, (int)r);
    return false;
}

/* x must be (N, C). */
static bool check_2d(tg_tape *t, const char *op, const char *what, const tg_tensor *x) {
    if (x->ndim == 2) return true;
    char xs[TG_SHAPE_STR_MAX];
    tg_fail(t, TG_ERR_SHAPE, "%s: %s must be (N, C), got %s", op, what,
            tg_shape_str(x, xs, sizeof xs));
    return false;
}

static bool check_same_shape(tg_tape *t, const char *op, const tg_tensor *a, const tg_tensor *b) {
    if (tg_same_shape(a, b)) return true;
    char as[TG_SHAPE_STR_MAX], bs[TG_SHAPE_STR_MAX];
    tg_fail(t, TG_ERR_SHAPE, "%s: input %s and target %s must have the same shape", op,
            tg_shape_str(a, as, sizeof as), tg_shape_str(b, bs, sizeof bs));
    return false;
}

static bool check_smoothing(tg_tape *t, const char *op, double e, const tg_tensor *x) {
    if (e >= 0.0 && e <= 1.0) return true;
    char xs[TG_SHAPE_STR_MAX];
    tg_fail(t, TG_ERR_ARG, "%s: label smoothing %g is outside [0, 1] (input %s)", op, e,
            tg_shape_str(x, xs, sizeof xs));
    return false;
}

/* Every label in [0, C) for x (N, C), or false with an error naming the first bad one. */
static bool labels_ok(tg_tape *t, const char *op, const tg_tensor *x, const int64_t *labels) {
    int64_t n = x->shape[0], c = x->shape[1];
    char xs[TG_SHAPE_STR_MAX];
    if (!labels && n > 0) {
        tg_fail(t, TG_ERR_NULL, "%s: labels is NULL for input %s", op,
                tg_shape_str(x, xs, sizeof xs));
        return false;
    }
    for (int64_t i = 0; i < n; i++)
        if (labels[i] < 0 || labels[i] >= c) {
            tg_fail(t, TG_ERR_ARG,
                    "%s: label %lld at index %lld is out of range [0, %lld) for input %s", op,
                    (long long)labels[i], (long long)i, (long long)c,
                    tg_shape_str(x, xs, sizeof xs));
            return false;
        }
    return true;
}

/* The (N, C) 0/1 mask of the labels, in x's dtype, after checking every label. */
static tg_tensor *label_mask(tg_tape *t, const char *op, const tg_tensor *x,
                             const int64_t *labels) {
    if (!labels_ok(t, op, x, labels)) return NULL;
    int64_t n = x->shape[0], c = x->shape[1];
    tg_tensor *m = tg_zeros(t, x->dtype, 2, x->shape);
    if (!m) return NULL;
    for (int64_t i = 0; i < n; i++) {
        if (x->dtype == TG_F32)
            ((float *)(void *)m->data)[i * c + labels[i]] = 1.0f;
        else
            ((double *)(void *)m->data)[i * c + labels[i]] = 1.0;
    }
    return m;
}

/* -lp[i, label_i] for each row: (N,). */
static tg_tensor *picked_neg(tg_tape *t, const char *op, tg_tensor *lp, const int64_t *labels) {
    tg_tensor *m = label_mask(t, op, lp, labels);
    if (!m) return NULL;
    int axis = 1;
    tg_tensor *sel = tg_where(t, m, lp, tg_scalar(t, lp->dtype, 0.0));
    return tg_neg(t, tg_sum(t, sel, 1, &axis, false));
}

tg_tensor *tg_cross_entropy_at(tg_tape *t, const char *file, int line, tg_tensor *logits,
                               const int64_t *labels, double label_smoothing,
                               tg_reduction reduction) {
    const char *op = "cross_entropy";
    if (!tg_op_enter(t, file, line, op, 1, &logits)) return NULL;
    if (!check_2d(t, op, "logits", logits) || !check_smoothing(t, op, label_smoothing, logits) ||
        !reduction_ok(t, op, reduction))
        return NULL;
    if (!labels_ok(t, op, logits, labels)) return NULL;
    tg_tensor *l = tg_softmax_cross_entropy_at(t, NULL, 0, logits, labels, label_smoothing);
    return reduce(t, op, l, reduction);
}

tg_tensor *tg_cross_entropy_probs_at(tg_tape *t, const char *file, int line, tg_tensor *logits,
                                     tg_tensor *target, double label_smoothing,
                                     tg_reduction reduction) {
    const char *op = "cross_entropy_probs";
    tg_tensor *in[2] = {logits, target};
    if (!tg_op_enter(t, file, line, op, 2, in)) return NULL;
    if (!check_2d(t, op, "logits", logits) || !check_same_shape(t, op, logits, target) ||
        !check_smoothing(t, op, label_smoothing, logits) || !reduction_ok(t, op, reduction))
        return NULL;
    tg_tensor *tt = target;
    if (label_smoothing > 0) {
        double c = (double)logits->shape[1];
        tt = tg_add_scalar(t, tg_mul_scalar(t, target, 1.0 - label_smoothing), label_smoothing / c);
    }
    int axis = 1;
    tg_tensor *prod = tg_mul(t, tt, tg_log_softmax(t, logits, 1));
    return reduce(t, op, tg_neg(t, tg_sum(t, prod, 1, &axis, false)), reduction);
}

tg_tensor *tg_nll_at(tg_tape *t, const char *file, int line, tg_tensor *log_probs,
                     const int64_t *labels, tg_reduction reduction) {
    const char *op = "nll";
    if (!tg_op_enter(t, file, line, op, 1, &log_probs)) return NULL;
    if (!check_2d(t, op, "log-probabilities", log_probs) || !reduction_ok(t, op, reduction))
        return NULL;
    return reduce(t, op, picked_neg(t, op, log_probs, labels), reduction);
}

tg_tensor *tg_mse_at(tg_tape *t, const char *file, int line, tg_tensor *pred, tg_tensor *target,
                     tg_reduction reduction) {
    const char *op = "mse";
    tg_tensor *in[2] = {pred, target};
    if (!tg_op_enter(t, file, line, op, 2, in)) return NULL;
    if (!check_same_shape(t, op, pred, target) || !reduction_ok(t, op, reduction)) return NULL;
    return reduce(t, op, tg_square(t, tg_sub(t, pred, target)), reduction);
}

/* max(ln x, -100) without ever evaluating ln at or below e^-100: the select keeps the clamped
 * branch's gradient exactly 0 (not 0 * (1/0)), to every order. */
static tg_tensor *clamped_log(tg_tape *t, tg_tensor *x) {
    tg_dtype d = x->dtype;
    tg_tensor *keep = tg_gt(t, x, tg_scalar(t, d, exp(-100.0)));
    tg_tensor *safe = tg_where(t, keep, x, tg_scalar(t, d, 1.0));
    return tg_where(t, keep, tg_log(t, safe), tg_scalar(t, d, -100.0));
}

tg_tensor *tg_bce_at(tg_tape *t, const char *file, int line, tg_tensor *probs, tg_tensor *target,
                     tg_reduction reduction) {
    const char *op = "bce";
    tg_tensor *in[2] = {probs, target};
    if (!tg_op_enter(t, file, line, op, 2, in)) return NULL;
    if (!check_same_shape(t, op, probs, target) || !reduction_ok(t, op, reduction)) return NULL;
    int64_t n = tg_tensor_numel(probs);
    for (int64_t i = 0; i < n; i++) {
        double p = tg_tensor_get(probs, i);
        if (!(p >= 0.0 && p <= 1.0)) {
            char ps[TG_SHAPE_STR_MAX];
            return tg_fail(t, TG_ERR_ARG,
                           "bce: probability %g at index %lld of %s is outside [0, 1]", p,
                           (long long)i, tg_shape_str(probs, ps, sizeof ps));
        }
    }
    tg_tensor *pos = tg_mul(t, target, clamped_log(t, probs));
    tg_tensor *neg =
        tg_mul(t, tg_rsub_scalar(t, target, 1.0), clamped_log(t, tg_rsub_scalar(t, probs, 1.0)));
    return reduce(t, op, tg_neg(t, tg_add(t, pos, neg)), reduction);
}

tg_tensor *tg_bce_with_logits_at(tg_tape *t, const char *file, int line, tg_tensor *logits,
                                 tg_tensor *target, tg_reduction reduction) {
    const char *op = "bce_with_logits";
    tg_tensor *in[2] = {logits, target};
    if (!tg_op_enter(t, file, line, op, 2, in)) return NULL;
    if (!check_same_shape(t, op, logits, target) || !reduction_ok(t, op, reduction)) return NULL;
    tg_tensor *l = tg_sub(t, tg_softplus(t, logits), tg_mul(t, logits, target));
    return reduce(t, op, l, reduction);
}
