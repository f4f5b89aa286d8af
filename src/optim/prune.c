/* prune.c: magnitude pruning with masks kept in the store (tapegrad/prune.h).
 *
 * Invariant: after tg_pruner_prune returns, every covered weight whose mask is 0 is exactly
 * zero, and so is every optimiser state entry of it; masks only go from 1 to 0. Scores and the
 * selection are computed in double from |w| times the mask, so pruned weights (score 0) are
 * always chosen first and a call can only add zeros. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../graph/graph.h"

struct tg_pruner {
    tg_store *s;
    int n;
    tg_tensor **params;
    tg_tensor **masks;
};

static double get(const tg_tensor *x, int64_t i) {
    return x->dtype == TG_F64 ? ((const double *)x->data)[i] : (double)((const float *)x->data)[i];
}

static void set(tg_tensor *x, int64_t i, double v) {
    if (x->dtype == TG_F64)
        ((double *)x->data)[i] = v;
    else
        ((float *)x->data)[i] = (float)v;
}

static bool is_param_of(const tg_store *s, const tg_tensor *x) {
    for (int i = 0; i < tg_store_n_params(s); i++)
        if (tg_store_get_param(s, i) == x) return true;
    return false;
}

tg_pruner *tg_pruner_new(tg_store *s, int n, tg_tensor *const *params, tg_error *err) {
    if (!s || !params || n < 1) {
        tg_error_set(err, n < 1 && s && params ? TG_ERR_ARG : TG_ERR_NULL,
                     "pruner: needs a store and at least one parameter");
        return NULL;
    }
    for (int i = 0; i < n; i++)
        if (!params[i] || !is_param_of(s, params[i])) {
            tg_error_set(err, TG_ERR_ARG, "pruner: tensor %d is %s", i,
                         params[i] ? "not a parameter of the store" : "NULL");
            return NULL;
        }
    tg_pruner *p = tg_alloc(sizeof *p + 2 * (size_t)n * sizeof(tg_tensor *));
    if (!p) {
        tg_error_set(err, TG_ERR_NOMEM, "pruner: no memory for %d parameters", n);
        return NULL;
    }
    p->s = s;
    p->n = n;
    p->params = (tg_tensor **)(p + 1);
    p->masks = p->params + n;
    for (int i = 0; i < n; i++) {
        tg_tensor *w = params[i];
        char name[TG_NAME_MAX];
        if (snprintf(name, sizeof name, "%s_mask", w->name) >= (int)sizeof name) {
            tg_error_set(err, TG_ERR_ARG, "pruner: the mask name of %s is too long", w->name);
            tg_free(p);
            return NULL;
        }
        tg_tensor *m = tg_store_find(s, name);
        if (m && (m->dtype != w->dtype || !tg_same_shape(m, w))) {
            tg_error_set(err, TG_ERR_SHAPE, "pruner: %s exists with another shape or dtype", name);
            tg_free(p);
            return NULL;
        }
        if (!m) {
            m = tg_store_buffer(s, name, w->dtype, w->ndim, w->shape);
            if (!m) {
                tg_error_set(err, TG_ERR_NOMEM, "pruner: %s", tg_store_error(s));
                tg_free(p);
                return NULL;
            }
            tg_tensor_fill(m, 1.0);
        }
        p->params[i] = w;
        p->masks[i] = m;
    }
    return p;
}

void tg_pruner_free(tg_pruner *p) {
    tg_free(p);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Prunes the k smallest scores among tensors [first, last): zero in the mask. */
static tg_status prune_range(tg_pruner *p, int first, int last, double sparsity, tg_error *err) {
    int64_t total = 0;
    for (int i = first; i < last; i++) total += tg_tensor_numel(p->params[i]);
    int64_t k = (int64_t)floor(sparsity * (double)total + 0.5);
    if (k <= 0 || total == 0) return TG_OK;
    double *scores = tg_alloc((size_t)total * sizeof *scores);
    if (!scores) return tg_error_set(err, TG_ERR_NOMEM, "pruner: no memory to rank %lld weights",
                                     (long long)total);
    int64_t at = 0;
    for (int i = first; i < last; i++)
        for (int64_t e = 0; e < tg_tensor_numel(p->params[i]); e++)
            scores[at++] = fabs(get(p->params[i], e)) * get(p->masks[i], e);
    for (int64_t e = 0; e < total; e++)
        if (isnan(scores[e])) scores[e] = INFINITY; /* a NaN weight is not "small" */
    /* The k-th smallest is the threshold: everything below goes, then ties in index order. */
    double *sorted = tg_alloc((size_t)total * sizeof *sorted);
    if (!sorted) {
        tg_free(scores);
        return tg_error_set(err, TG_ERR_NOMEM, "pruner: no memory to rank %lld weights",
                            (long long)total);
    }
    memcpy(sorted, scores, (size_t)total * sizeof *sorted);
    qsort(sorted, (size_t)total, sizeof *sorted, cmp_double);
    double threshold = sorted[k - 1];
    int64_t below = 0;
    for (int64_t e = 0; e < total; e++) below += scores[e] < threshold;
    int64_t ties = k - below;
    at = 0;
    for (int i = first; i < last; i++)
        for (int64_t e = 0; e < tg_tensor_numel(p->params[i]); e++, at++) {
            bool cut = scores[at] < threshold || (scores[at] == threshold && ties-- > 0);
            if (cut) set(p->masks[i], e, 0.0);
        }
    tg_free(sorted);
    tg_free(scores);
    return TG_OK;
}

/* Zeros the weights the masks removed, and the same entries of every store buffer named
 * "<anything>/<param>" of the parameter's size (the optimisers' state). */
static void apply_masks(tg_pruner *p) {
    int n_tensors = tg_store_n_tensors(p->s);
    for (int i = 0; i < p->n; i++) {
        tg_tensor *w = p->params[i], *m = p->masks[i];
        int64_t numel = tg_tensor_numel(w);
        size_t len = strlen(w->name);
        for (int64_t e = 0; e < numel; e++)
            if (get(m, e) == 0.0) set(w, e, 0.0);
        for (int j = 0; j < n_tensors; j++) {
            tg_tensor *b = tg_store_get_tensor(p->s, j);
            size_t bl = strlen(b->name);
            if (b->role != TG_ROLE_BUFFER || bl <= len + 1 || b->name[bl - len - 1] != '/' ||
                strcmp(b->name + bl - len, w->name) != 0 || tg_tensor_numel(b) != numel)
                continue;
            for (int64_t e = 0; e < numel; e++)
                if (get(m, e) == 0.0) set(b, e, 0.0);
        }
    }
}

tg_status tg_pruner_prune(tg_pruner *p, double sparsity, tg_prune_scope scope, tg_error *err) {
    if (!p) return tg_error_set(err, TG_ERR_NULL, "pruner_prune: the pruner is NULL");
    if (!(sparsity >= 0.0 && sparsity <= 1.0))
        return tg_error_set(err, TG_ERR_ARG, "pruner_prune: sparsity %g is not in [0, 1]",
                            sparsity);
    tg_status st = TG_OK;
    if (scope == TG_PRUNE_GLOBAL)
        st = prune_range(p, 0, p->n, sparsity, err);
    else
        for (int i = 0; i < p->n && st == TG_OK; i++) st = prune_range(p, i, i + 1, sparsity, err);
    apply_masks(p);
    return st;
}

void tg_pruner_mask_grads(tg_pruner *p) {
    for (int i = 0; p && i < p->n; i++) {
        tg_tensor *g = tg_tensor_grad(p->params[i]);
        if (!g) continue;
        for (int64_t e = 0; e < tg_tensor_numel(g); e++)
            if (get(p->masks[i], e) == 0.0) set(g, e, 0.0);
    }
}

double tg_pruner_sparsity(const tg_pruner *p, int i) {
    if (!p || i >= p->n) return NAN;
    int64_t zeros = 0, total = 0;
    for (int j = i < 0 ? 0 : i; j < (i < 0 ? p->n : i + 1); j++) {
        int64_t numel = tg_tensor_numel(p->masks[j]);
        for (int64_t e = 0; e < numel; e++) zeros += get(p->masks[j], e) == 0.0;
        total += numel;
    }
    return total ? (double)zeros / (double)total : 0.0;
}

tg_tensor *tg_pruner_mask(const tg_pruner *p, int i) {
    return p && i >= 0 && i < p->n ? p->masks[i] : NULL;
}

double tg_prune_cubic(double s_initial, double s_final, int64_t step, int64_t begin,
                      int64_t end) {
    if (end <= begin || step >= end) return s_final;
    if (step <= begin) return s_initial;
    double r = 1.0 - (double)(step - begin) / (double)(end - begin);
    return s_final + (s_initial - s_final) * r * r * r;
}
