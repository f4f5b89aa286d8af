/* binmm.c: the products of a packed binary matrix W = scale (.) B (tapegrad/binpack.h), B of
 * +-1 in bits, with dense matrices, a family of three ops whose rules are made of one another:
 *
 *   binmm:   y = x W^T,  x: (N, cols) -> y: (N, rows)     dL/dx = g W      (binmm_t)
 *   binmm_t: z = x W,    x: (N, rows) -> z: (N, cols)     dL/dx = g W^T    (binmm)
 *   binxnor: y = s W^T with s = binarize(x), x: (N, cols) -> y: (N, rows), computed on the
 *            packed signs of x: s . W[o] = scale[o] (cols - 2 popcount(bits(x) XOR B[o]))
 *            dL/dx = (g W) [|x| <= 1]: binarize's straight-through rule, not the derivative of
 *            a step (0); it is checked as defined, against binmm_t(g) masked by |x| <= 1.
 *
 * binmm and binmm_t are linear in x, so their second derivatives are these ops again; binxnor's
 * rule is made of binmm_t and comparisons. The matrix is not a tensor: each node keeps a pointer
 * to it, which is why it must outlive the tapes that used it. */
#include <string.h>

#include "op_util.h"
#include "packed.h"

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

static const tg_binpack *matrix_of(const tg_node *n) {
    const tg_binpack *p;
    memcpy(&p, n->saved, sizeof p);
    return p;
}

/* Records out (made from x) with op and hangs the matrix on its node. */
static tg_tensor *record(tg_tape *t, const tg_op_desc *op, tg_tensor *out, tg_tensor *x,
                         const tg_binpack *p) {
    out = tg_record(t, op, out, 1, &x);
    if (out && out->node && !tg_node_save(t, out->node, &p, sizeof p)) return NULL;
    return out;
}

/* Checks the call; x must be (N, width). */
static bool enter(tg_tape *t, const char *file, int line, const char *op, const tg_binpack *p,
                  tg_tensor *x, bool transposed) {
    if (!tg_op_enter(t, file, line, op, 1, &x)) return false;
    if (!p) {
        tg_fail(t, TG_ERR_NULL, "%s: the packed matrix is NULL", op);
        return false;
    }
    int64_t width = transposed ? p->k.rows : p->k.cols;
    if (x->ndim != 2 || x->shape[1] != width) {
        char xs[TG_SHAPE_STR_MAX];
        tg_fail(t, TG_ERR_SHAPE, "%s: x must be (N, %lld) for a (%lld, %lld) packed matrix, got %s",
                op, (long long)width, (long long)p->k.rows, (long long)p->k.cols,
                tg_shape_str(x, xs, sizeof xs));
        return false;
    }
    return true;
}

/* ---- binmm ---- */
static void binmm_backward(tg_tape *t, const tg_node *n, tg_tensor *g, tg_tensor **grads) {
    grads[0] = tg_binmm_t(t, matrix_of(n), g);
}

const tg_op_desc tg_op_binmm = {"binmm", 1, binmm_backward, NULL, TG_OPF_SMOOTH};

tg_tensor *tg_binmm_at(tg_tape *t, const char *file, int line, const tg_binpack *p, tg_tensor *x) {
    if (!enter(t, file, line, "binmm", p, x, false)) return NULL;
    int64_t n = x->shape[0], ldx = 0;
    tg_tensor *y = tg_tensor_alloc(t, x->dtype, 2, (int64_t[]){n, p->k.rows});
    const void *xd = y ? unit_rows(t, x, &ldx) : NULL;
    if (!xd) return NULL;
    kern_binmm(x->dtype, &p->k, n, xd, ldx, y->data, p->k.rows);
    return record(t, &tg_op_binmm, y, x, p);
}

/* ---- binmm_t ---- */
static void binmm_t_backward(tg_tape *t, const tg_node *n, tg_tensor *g, tg_tensor **grads) {
    grads[0] = tg_binmm(t, matrix_of(n), g);
}

const tg_op_desc tg_op_binmm_t = {"binmm_t", 1, binmm_t_backward, NULL, TG_OPF_SMOOTH};

tg_tensor *tg_binmm_t_at(tg_tape *t, const char *file, int line, const tg_binpack *p,
                         tg_tensor *x) {
    if (!enter(t, file, line, "binmm_t", p, x, true)) return NULL;
    int64_t n = x->shape[0], ldx = 0;
    tg_tensor *z = tg_tensor_alloc(t, x->dtype, 2, (int64_t[]){n, p->k.cols});
    const void *xd = z ? unit_rows(t, x, &ldx) : NULL;
    if (!xd) return NULL;
    kern_binmm_t(x->dtype, &p->k, n, xd, ldx, z->data, p->k.cols);
    return record(t, &tg_op_binmm_t, z, x, p);
}

/* ---- binxnor ---- */
static void binxnor_backward(tg_tape *t, const tg_node *n, tg_tensor *g, tg_tensor **grads) {
    tg_tensor *x = n->inputs[0];
    tg_tensor *lo = tg_scalar(t, x->dtype, -1.0), *hi = tg_scalar(t, x->dtype, 1.0);
    tg_tensor *inside = tg_mul(t, tg_ge(t, x, lo), tg_le(t, x, hi));
    grads[0] = tg_mul(t, tg_binmm_t(t, matrix_of(n), g), inside);
}

const tg_op_desc tg_op_binxnor = {"binxnor", 1, binxnor_backward, NULL, 0};

tg_tensor *tg_binxnor_at(tg_tape *t, const char *file, int line, const tg_binpack *p,
                         tg_tensor *x) {
    if (!enter(t, file, line, "binxnor", p, x, false)) return NULL;
    int64_t n = x->shape[0], ldx = 0;
    tg_tensor *y = tg_tensor_alloc(t, x->dtype, 2, (int64_t[]){n, p->k.rows});
    const void *xd = y ? unit_rows(t, x, &ldx) : NULL;
    /* the packed signs, in scratch the size of n * words f32 elements */
    tg_tensor *bits = xd ? tg_tensor_alloc(t, TG_F32, 1, (int64_t[]){n * p->k.words}) : NULL;
    if (!bits) return NULL;
    uint32_t *a = (uint32_t *)(void *)bits->data;
    kern_binpack_rows(x->dtype, n, p->k.cols, xd, ldx, a);
    kern_binxnor(x->dtype, &p->k, n, a, y->data, p->k.rows);
    return record(t, &tg_op_binxnor, y, x, p);
}
