/* attention.c: scaled dot-product attention with a causal mask as one node, and the mask itself.
 *
 *   q, k, v (..., T, D)   s = scale q k^T (..., T, T)
 *   p_ij = e^(s_ij - m_i) / sum_{l <= i} e^(s_il - m_i)  for j <= i, 0 for j > i  (m_i = max_{l<=i})
 *   y = p v (..., T, D)
 * With G = dL/dy:
 *   dL/dv = p^T G
 *   dL/dp = G v^T,   dL/ds_ij = p_ij (dL/dp_ij - sum_l p_il dL/dp_il)
 *   dL/dq = scale dL/ds k,   dL/dk = scale (dL/ds)^T q
 * The composition (matmul, scale, mask, softmax, matmul) records five nodes and writes the
 * (..., T, T) scores three times; here the scores live only in the probabilities p, which the
 * node keeps for its backward (a tape tensor whose address is the saved blob: per (batch,
 * head) item a (tp, tp) block, tp = T rounded up to 16, so 16 KB per item at T = 64 in f32).
 * The fused kernels (kernels/attn.c) do one item at a time in one thread's L1: they read q, k,
 * v and g through their strides, so the heads of a packed projection need no copy, compute the
 * causal triangle only, and write y and the gradients once each.
 *
 * When the backward pass is itself recorded (create_graph) the rule is written with primitive
 * ops (recomputing p from q and k), so every higher derivative follows from theirs; otherwise it
 * is the fused pass below over the kept p. Both evaluate the formulas above.
 * Node attribute: fattr[0] = scale. */
#include <math.h>
#include <string.h>

#include "kernels/attn.h"
#include "op_util.h"

extern const tg_op_desc tg_op_causal_attention;

tg_tensor *tg_causal_mask_at(tg_tape *t, const char *file, int line, tg_dtype dtype, int64_t n) {
    if (!tg_op_enter(t, file, line, "causal_mask", 0, NULL)) return NULL;
    if (n < 1 || n > (1 << 20))
        return tg_fail(t, TG_ERR_ARG, "causal_mask: the size must be in [1, 2^20], got %lld",
                       (long long)n);
    tg_tensor *m = tg_zeros_at(t, NULL, 0, dtype, 2, (int64_t[]){n, n});
    if (!m) return NULL;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = i + 1; j < n; j++) {
            if (dtype == TG_F32)
                ((float *)(void *)m->data)[i * n + j] = -INFINITY;
            else
                ((double *)(void *)m->data)[i * n + j] = -INFINITY;
        }
    return m;
}

/* Offsets of every item's (T, D) block in x, items in row-major order of the batch axes. */
static int64_t *item_offsets(tg_tape *t, const tg_tensor *x, int64_t n_items) {
    int64_t *off = tg_arena_alloc(&t->arena, (size_t)n_items * sizeof *off);
    if (!off) {
        tg_fail(t, TG_ERR_NOMEM, "causal_attention: no memory for %lld items", (long long)n_items);
        return NULL;
    }
    int nb = x->ndim - 2;
    int64_t idx[TG_MAX_DIMS] = {0};
    for (int64_t b = 0; b < n_items; b++) {
        int64_t o = 0;
        for (int d = 0; d < nb; d++) o += idx[d] * x->strides[d];
        off[b] = o;
        for (int d = nb - 1; d >= 0; d--) {
            if (++idx[d] < x->shape[d]) break;
            idx[d] = 0;
        }
    }
    return off;
}

/* A new tensor of ref's shape whose memory runs in the order of ref's strides (the last axis
 * innermost): for q, k, v cut from a packed projection (B, T, 3, H, D) and permuted to heads
 * first, an output (B, H, T, D) stored as (B, T, H, D), so that the multi-head layer's merge
 * of the heads, and its inputs' gradients on their way back, are views instead of copies.
 * Contiguous when ref is. Each item's rows then have a stride of their own (*rs). */
static tg_tensor *alloc_like(tg_tape *t, const tg_tensor *ref, int64_t n_items, int64_t **offsets,
                             int64_t *rs) {
    int n = ref->ndim, order[TG_MAX_DIMS];
    for (int d = 0; d < n; d++) order[d] = d;
    /* Insertion sort of the outer axes by stride, largest first; ties keep their order. */
    for (int a = 1; a < n - 1; a++)
        for (int b = a; b > 0 && ref->strides[order[b]] > ref->strides[order[b - 1]]; b--) {
            int tmp = order[b];
            order[b] = order[b - 1];
            order[b - 1] = tmp;
        }
    int64_t shape[TG_MAX_DIMS], strides[TG_MAX_DIMS], stride = 1;
    for (int d = 0; d < n; d++) shape[d] = ref->shape[order[d]];
    for (int d = n - 1; d >= 0; d--) {
        strides[order[d]] = stride;
        stride *= shape[d];
    }
    tg_tensor *buf = tg_tensor_alloc(t, ref->dtype, n, shape);
    tg_tensor *x = buf ? tg_tensor_view(t, buf, n, ref->shape, strides, 0) : NULL;
    if (!x) return NULL;
    *offsets = item_offsets(t, x, n_items);
    *rs = strides[n - 2];
    return *offsets ? x : NULL;
}

static bool job_operands(tg_tape *t, kern_attn *j, tg_tensor *q, tg_tensor *k, tg_tensor *v) {
    int n = q->ndim;
    *j = (kern_attn){.n_t = q->shape[n - 2],
                     .D = q->shape[n - 1],
                     .n_items = tg_tensor_numel(q) / (q->shape[n - 2] * q->shape[n - 1]),
                     .q = q->data,
                     .k = k->data,
                     .v = v->data,
                     .q_rs = q->strides[n - 2],
                     .q_cs = q->strides[n - 1],
                     .k_rs = k->strides[n - 2],
                     .k_cs = k->strides[n - 1],
                     .v_rs = v->strides[n - 2],
                     .v_cs = v->strides[n - 1]};
    j->qo = item_offsets(t, q, j->n_items);
    j->ko = item_offsets(t, k, j->n_items);
    j->vo = item_offsets(t, v, j->n_items);
    return j->qo && j->ko && j->vo;
}

/* The rule in primitive ops, for a recorded backward pass. */
static void composed_backward(tg_tape *t, const tg_node *n, tg_tensor *g, tg_tensor **grads) {
    tg_tensor *q = n->inputs[0], *k = n->inputs[1], *v = n->inputs[2];
    double scale = n->fattr[0];
    int64_t T = q->shape[q->ndim - 2];
    tg_tensor *s = tg_add(t, tg_mul_scalar(t, tg_matmul(t, q, tg_transpose(t, k, -1, -2)), scale),
                          tg_causal_mask_at(t, NULL, 0, q->dtype, T));
    tg_tensor *p = tg_softmax(t, s, -1);
    if (tg_node_needs_grad(n, 2)) grads[2] = tg_matmul(t, tg_transpose(t, p, -1, -2), g);
    if (!tg_node_needs_grad(n, 0) && !tg_node_needs_grad(n, 1)) return;
    int last = -1;
    tg_tensor *dp = tg_matmul(t, g, tg_transpose(t, v, -1, -2));
    tg_tensor *ds = tg_mul_scalar(
        t, tg_mul(t, p, tg_sub(t, dp, tg_sum(t, tg_mul(t, dp, p), 1, &last, true))), scale);
    if (tg_node_needs_grad(n, 0)) grads[0] = tg_matmul(t, ds, k);
    if (tg_node_needs_grad(n, 1)) grads[1] = tg_matmul(t, tg_transpose(t, ds, -1, -2), q);
}

static void causal_attention_backward(tg_tape *t, const tg_node *n, tg_tensor *g,
                                      tg_tensor **grads) {
    tg_tensor *q = n->inputs[0], *k = n->inputs[1], *v = n->inputs[2], *p;
    if (tg_tensor_numel(q) == 0) { /* the forward saved nothing, and T may be 0: no mask */
        for (int i = 0; i < 3; i++)
            if (tg_node_needs_grad(n, i))
                grads[i] = tg_tensor_alloc(t, q->dtype, q->ndim, q->shape);
        return;
    }
    if (tg_tape_grad_enabled(t)) {
        composed_backward(t, n, g, grads);
        return;
    }
    memcpy(&p, n->saved, sizeof p);
    kern_attn j;
    if (!job_operands(t, &j, q, k, v)) return;
    j.scale = n->fattr[0];
    j.p = p->data;
    j.g = g->data;
    j.g_rs = g->strides[g->ndim - 2];
    j.g_cs = g->strides[g->ndim - 1];
    j.go = item_offsets(t, g, j.n_items);
    int64_t *dqo = NULL, *dko = NULL, *dvo = NULL;
    tg_tensor *dq = tg_node_needs_grad(n, 0) ? alloc_like(t, q, j.n_items, &dqo, &j.dq_rs) : NULL;
    tg_tensor *dk = tg_node_needs_grad(n, 1) ? alloc_like(t, k, j.n_items, &dko, &j.dk_rs) : NULL;
    tg_tensor *dv = tg_node_needs_grad(n, 2) ? alloc_like(t, v, j.n_items, &dvo, &j.dv_rs) : NULL;
    j.dqo = dqo, j.dko = dko, j.dvo = dvo;
    if (!j.go || (tg_node_needs_grad(n, 0) && !dq) || (tg_node_needs_grad(n, 1) && !dk) ||
        (tg_node_needs_grad(n, 2) && !dv))
        return;
    j.dq = dq ? dq->data : NULL;
    j.dk = dk ? dk->data : NULL;
    j.dv = dv ? dv->data : NULL;
    if (!kern_attn_backward(q->dtype, &j)) {
        tg_fail(t, TG_ERR_NOMEM, "causal_attention: no memory for a thread's scratch block");
        return;
    }
    grads[0] = dq;
    grads[1] = dk;
    grads[2] = dv;
}

static void describe(const tg_node *n, char *buf, size_t size) {
    snprintf(buf, size, "scale=%g", n->fattr[0]);
}

const tg_op_desc tg_op_causal_attention = {"causal_attention", 3, causal_attention_backward,
                                           describe, TG_OPF_SMOOTH};

tg_tensor *tg_causal_attention_at(tg_tape *t, const char *file, int line, tg_tensor *q,
                                  tg_tensor *k, tg_tensor *v, double scale) {
    tg_tensor *in[3] = {q, k, v};
    if (!tg_op_enter(t, file, line, "causal_attention", 3, in)) return NULL;
    char qs[TG_SHAPE_STR_MAX], ks[TG_SHAPE_STR_MAX], vs[TG_SHAPE_STR_MAX];
    bool same = q->ndim >= 2 && k->ndim == q->ndim && v->ndim == q->ndim;
    for (int d = 0; same && d < q->ndim; d++)
        same = k->shape[d] == q->shape[d] && v->shape[d] == q->shape[d];
    if (!same)
        return tg_fail(t, TG_ERR_SHAPE,
                       "causal_attention: q, k and v must share one shape (..., T, D), got q %s, "
                       "k %s, v %s",
                       tg_shape_str(q, qs, sizeof qs), tg_shape_str(k, ks, sizeof ks),
                       tg_shape_str(v, vs, sizeof vs));
    if (!isfinite(scale))
        return tg_fail(t, TG_ERR_ARG, "causal_attention: the scale must be finite, got %g", scale);
    if (tg_tensor_numel(q) == 0) {
        tg_tensor *y = tg_tensor_alloc(t, q->dtype, q->ndim, q->shape);
        return y ? tg_record(t, &tg_op_causal_attention, y, 3, in) : NULL;
    }
    kern_attn j;
    if (!job_operands(t, &j, q, k, v)) return NULL;
    int64_t *yo = NULL;
    tg_tensor *y = alloc_like(t, q, j.n_items, &yo, &j.y_rs);
    if (!y) return NULL;
    j.yo = yo;
    int64_t tp = kern_attn_padded(j.n_t);
    tg_tensor *p = tg_tensor_alloc(t, q->dtype, 3, (int64_t[]){j.n_items, tp, tp});
    if (!p) return NULL;
    j.scale = scale;
    j.p = p->data;
    j.y = y->data;
    if (!kern_attn_forward(q->dtype, &j))
        return tg_fail(t, TG_ERR_NOMEM, "causal_attention: no memory for a thread's scratch block");
    if (!tg_record(t, &tg_op_causal_attention, y, 3, in)) return NULL;
    if (y->node) {
        y->node->fattr[0] = scale;
        if (!tg_node_save(t, y->node, &p, sizeof p)) return NULL;
    }
    return y;
}

/* ---- attention: the composition, for masks of any shape ---- */
tg_tensor *tg_attention_at(tg_tape *t, const char *file, int line, tg_tensor *q, tg_tensor *k,
                           tg_tensor *v, tg_tensor *mask, double scale) {
    tg_tensor *in[3] = {q, k, v};
    if (!tg_op_enter(t, file, line, "attention", 3, in)) return NULL;
    if (!tg_op_current(t, "attention", "the mask", mask)) return NULL;
    if (q->ndim < 2 || k->ndim < 2 || v->ndim < 2) {
        char qs[TG_SHAPE_STR_MAX], ks[TG_SHAPE_STR_MAX], vs[TG_SHAPE_STR_MAX];
        return tg_fail(t, TG_ERR_SHAPE,
                       "attention: q, k and v need at least 2 axes, got q %s, k %s, v %s",
                       tg_shape_str(q, qs, sizeof qs), tg_shape_str(k, ks, sizeof ks),
                       tg_shape_str(v, vs, sizeof vs));
    }
    if (!isfinite(scale))
        return tg_fail(t, TG_ERR_ARG, "attention: the scale must be finite, got %g", scale);
    tg_tensor *s = tg_mul_scalar(t, tg_matmul(t, q, tg_transpose(t, k, -1, -2)), scale);
    if (mask) s = tg_add(t, s, mask);
    return tg_matmul(t, tg_softmax(t, s, -1), v);
}
