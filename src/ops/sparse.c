/* sparse.c: the products of a sparse pattern A (tapegrad/sparse.h) with values v and dense
 * matrices, a family of three bilinear ops whose rules are made of one another:
 *
 *   spmm:   y = A x,    x: (cols, N)  -> y: (rows, N)
 *           dL/dx = A^T g (spmm_t)    dL/dv[(i,j)] = sum_n g[i,n] x[j,n] (sddmm of g, x)
 *   spmm_t: z = A^T x,  x: (rows, N)  -> z: (cols, N)
 *           dL/dx = A g (spmm)        dL/dv[(i,j)] = sum_n x[i,n] g[j,n] (sddmm of x, g)
 *   sddmm:  v[(i,j)] = sum_n p[i,n] q[j,n],  p: (rows, N), q: (cols, N)  -> v: (nnz)
 *           dL/dp = A(g) q (spmm with values g)   dL/dq = A(g)^T p (spmm_t with values g)
 *
 * Each is linear in each input, so second derivatives are these same ops again. The pattern is
 * not a tensor: each node keeps a pointer to it (saved on the node), which is why a pattern must
 * outlive the tapes that used it. */
#include <string.h>

#include "csr.h"
#include "op_util.h"

/* x's data with unit column stride (x itself, or a contiguous copy on the tape) and its row
 * stride; NULL (error on the tape) when memory runs out. */
static const void *unit_rows(tg_tape *t, const tg_tensor *x, int64_t *ld) {
    if (x->strides[1] == 1 || x->shape[1] <= 1) {
        *ld = x->shape[1] <= 1 && x->shape[0] <= 1 ? 1 : x->strides[0];
        return x->data;
    }
    tg_tensor *c = tg_tensor_alloc(t, x->dtype, 2, x->shape);
    if (!c) return NULL;
    kern_copy(x->dtype, c->data, c->strides, x->dtype, x->data, x->strides, 2, x->shape);
    *ld = x->shape[1];
    return c->data;
}

/* v's nnz values contiguous, through t_perm when transposed (for the products with A^T). */
static const void *values_for(tg_tape *t, const tg_csr *a, const tg_tensor *v, bool transposed) {
    if (!transposed && v->strides[0] == 1) return v->data;
    tg_tensor *c = tg_tensor_alloc(t, v->dtype, 1, v->shape);
    if (!c) return NULL;
    int64_t s = v->strides[0];
    for (int64_t q = 0; q < a->rows.nnz; q++) {
        int64_t p = transposed ? a->t_perm[q] : q;
        if (v->dtype == TG_F64)
            ((double *)c->data)[q] = ((const double *)v->data)[p * s];
        else
            ((float *)c->data)[q] = ((const float *)v->data)[p * s];
    }
    return c->data;
}

static const tg_csr *pattern_of(const tg_node *n) {
    const tg_csr *a;
    memcpy(&a, n->saved, sizeof a);
    return a;
}

/* Records out (made from in[0], in[1]) with op and hangs the pattern on its node. */
static tg_tensor *record(tg_tape *t, const tg_op_desc *op, tg_tensor *out, tg_tensor **in,
                         const tg_csr *a) {
    out = tg_record(t, op, out, 2, in);
    if (out && out->node && !tg_node_save(t, out->node, &a, sizeof a)) return NULL;
    return out;
}

static bool check_matrix(tg_tape *t, const char *op, const char *what, const tg_tensor *x,
                         int64_t rows) {
    char xs[TG_SHAPE_STR_MAX];
    if (x->ndim == 2 && x->shape[0] == rows) return true;
    tg_fail(t, TG_ERR_SHAPE, "%s: %s must be (%lld, N), got %s", op, what, (long long)rows,
            tg_shape_str(x, xs, sizeof xs));
    return false;
}

/* The forward of spmm (transposed false) and spmm_t. */
static tg_tensor *product(tg_tape *t, const char *file, int line, const tg_op_desc *op,
                          const tg_csr *a, tg_tensor *values, tg_tensor *x, bool transposed) {
    tg_tensor *in[2] = {values, x};
    if (!tg_op_enter(t, file, line, op->name, 2, in)) return NULL;
    if (!a) return tg_fail(t, TG_ERR_NULL, "%s: the sparse pattern is NULL", op->name);
    const kern_csr *k = transposed ? &a->cols : &a->rows;
    char vs[TG_SHAPE_STR_MAX];
    if (values->ndim != 1 || values->shape[0] != k->nnz)
        return tg_fail(t, TG_ERR_SHAPE, "%s: the values must be (%lld), the pattern's entries; got %s",
                       op->name, (long long)k->nnz, tg_shape_str(values, vs, sizeof vs));
    if (!check_matrix(t, op->name, "x", x, k->cols)) return NULL;
    int64_t n = x->shape[1], ldx = 0;
    tg_tensor *y = tg_tensor_alloc(t, x->dtype, 2, (int64_t[]){k->rows, n});
    const void *xd = y ? unit_rows(t, x, &ldx) : NULL;
    const void *vd = xd ? values_for(t, a, values, transposed) : NULL;
    if (!vd) return NULL;
    kern_spmm(x->dtype, k, vd, n, xd, ldx, y->data, n);
    return record(t, op, y, in, a);
}

/* ---- spmm ---- */
static void spmm_backward(tg_tape *t, const tg_node *n, tg_tensor *g, tg_tensor **grads) {
    const tg_csr *a = pattern_of(n);
    if (tg_node_needs_grad(n, 0)) grads[0] = tg_sddmm(t, a, g, n->inputs[1]);
    if (tg_node_needs_grad(n, 1)) grads[1] = tg_spmm_t(t, a, n->inputs[0], g);
}

const tg_op_desc tg_op_spmm = {"spmm", 2, spmm_backward, NULL, TG_OPF_SMOOTH};

tg_tensor *tg_spmm_at(tg_tape *t, const char *file, int line, const tg_csr *a,
                      tg_tensor *values, tg_tensor *x) {
    return product(t, file, line, &tg_op_spmm, a, values, x, false);
}

/* ---- spmm_t ---- */
static void spmm_t_backward(tg_tape *t, const tg_node *n, tg_tensor *g, tg_tensor **grads) {
    const tg_csr *a = pattern_of(n);
    if (tg_node_needs_grad(n, 0)) grads[0] = tg_sddmm(t, a, n->inputs[1], g);
    if (tg_node_needs_grad(n, 1)) grads[1] = tg_spmm(t, a, n->inputs[0], g);
}

const tg_op_desc tg_op_spmm_t = {"spmm_t", 2, spmm_t_backward, NULL, TG_OPF_SMOOTH};

tg_tensor *tg_spmm_t_at(tg_tape *t, const char *file, int line, const tg_csr *a,
                        tg_tensor *values, tg_tensor *x) {
    return product(t, file, line, &tg_op_spmm_t, a, values, x, true);
}

/* ---- sddmm ---- */
static void sddmm_backward(tg_tape *t, const tg_node *n, tg_tensor *g, tg_tensor **grads) {
    const tg_csr *a = pattern_of(n);
    if (tg_node_needs_grad(n, 0)) grads[0] = tg_spmm(t, a, g, n->inputs[1]);
    if (tg_node_needs_grad(n, 1)) grads[1] = tg_spmm_t(t, a, g, n->inputs[0]);
}

const tg_op_desc tg_op_sddmm = {"sddmm", 2, sddmm_backward, NULL, TG_OPF_SMOOTH};

tg_tensor *tg_sddmm_at(tg_tape *t, const char *file, int line, const tg_csr *a, tg_tensor *p,
                       tg_tensor *q) {
    tg_tensor *in[2] = {p, q};
    if (!tg_op_enter(t, file, line, "sddmm", 2, in)) return NULL;
    if (!a) return tg_fail(t, TG_ERR_NULL, "sddmm: the sparse pattern is NULL");
    if (!check_matrix(t, "sddmm", "p", p, a->rows.rows) ||
        !check_matrix(t, "sddmm", "q", q, a->rows.cols))
        return NULL;
    char ps[TG_SHAPE_STR_MAX], qs[TG_SHAPE_STR_MAX];
    if (p->shape[1] != q->shape[1])
        return tg_fail(t, TG_ERR_SHAPE, "sddmm: p %s and q %s differ in their columns",
                       tg_shape_str(p, ps, sizeof ps), tg_shape_str(q, qs, sizeof qs));
    int64_t n = p->shape[1], ldp = 0, ldq = 0;
    tg_tensor *v = tg_tensor_alloc(t, p->dtype, 1, (int64_t[]){a->rows.nnz});
    const void *pd = v ? unit_rows(t, p, &ldp) : NULL;
    const void *qd = pd ? unit_rows(t, q, &ldq) : NULL;
    if (!qd) return NULL;
    kern_sddmm(p->dtype, &a->rows, n, pd, ldp, qd, ldq, v->data);
    return record(t, &tg_op_sddmm, v, in, a);
}
