/* linear.c: the affine map of a fully connected layer, as one recorded op.
 *
 *   y = x W^T + b      x: (..., in)   W: (out, in)   b: (out) or none   y: (..., out)
 *   dL/dx = dL/dy W    dL/dW = sum over (...) of dL/dy^T x    dL/db = sum over (...) of dL/dy
 *
 * The forward is one matrix product whose sums start from the bias (kern_gemm_bias), where a
 * product followed by a broadcast add made a second pass over y and a second tensor as large:
 * in the transformer step those adds cost about as much as a third of the products. A small
 * batch through a wide layer is computed transposed instead (product_transposed). The
 * backward is written with ops (matmul, transpose, sum), so the rule is differentiable to any
 * order they are, and the weight gradient comes out of its product contiguous, (out, in), with
 * no transpose after it; when the sweep does not record, the same kernels run without the ops
 * and write the parameters' gradients in place. Shape errors are linear's own, checked before
 * anything is computed. */
#include "op_util.h"

/* The node is recorded on the matrix x2 (rows, in): y2 (rows, out) = x2 W^T + b, its inputs
 * (x2, W) or (x2, b, W). The weight comes last: the sweep deposits a node's leaf gradients in
 * input order, and with the weight last a layer's largest gradient is its last deposit, as it
 * was when the bias's add was a node of its own (distributed training measures how many bytes
 * arrive before the sweep's last deposit to decide whether to overlap). */

/* Where a parameter's gradient goes: straight into its gradient buffer when the sweep allows
 * (tg_sweep_grad_target), which spares the deposit a copy of it; else a new tensor. */
static tg_tensor *grad_out(tg_tape *t, const tg_tensor *p) {
    tg_tensor *in_place = tg_sweep_grad_target(t, p);
    return in_place ? in_place : tg_tensor_alloc(t, p->dtype, p->ndim, p->shape);
}

/* The rule when the sweep does not record (a training step): the kernels the ops below would
 * call, with the same arguments and so the same bits, but writing the weight's and the bias's
 * gradients where they end up. */
static void linear_backward_kernels(tg_tape *t, const tg_node *n, tg_tensor *g,
                                    tg_tensor **grads) {
    int wi = n->n_inputs - 1;
    tg_tensor *x = n->inputs[0], *w = n->inputs[wi];
    int64_t rows = g->shape[0], out = g->shape[1], in = w->shape[1];
    if (tg_node_needs_grad(n, 0)) { /* dL/dx = g W */
        tg_tensor *dx = tg_tensor_alloc(t, g->dtype, 2, x->shape);
        if (!dx) return;
        kern_gemm(g->dtype, rows, in, out, g->data, g->strides[0], g->strides[1], w->data,
                  w->strides[0], w->strides[1], dx->data, in);
        grads[0] = dx;
    }
    if (tg_node_needs_grad(n, wi)) { /* dL/dW = g^T x */
        tg_tensor *dw = grad_out(t, w);
        if (!dw) return;
        kern_gemm(g->dtype, out, in, rows, g->data, g->strides[1], g->strides[0], x->data,
                  x->strides[0], x->strides[1], dw->data, in);
        grads[wi] = dw;
    }
    if (wi == 2 && tg_node_needs_grad(n, 1)) { /* dL/db = the column sums of g */
        tg_tensor *db = grad_out(t, n->inputs[1]);
        if (!db) return;
        kern_sum(g->dtype, 2, g->shape, g->data, g->strides, (const bool[]){true, false},
                 db->data, 1.0);
        grads[1] = db;
    }
}

static void linear_backward(tg_tape *t, const tg_node *n, tg_tensor *g, tg_tensor **grads) {
    if (!tg_tape_grad_enabled(t)) {
        linear_backward_kernels(t, n, g, grads);
        return;
    }
    int wi = n->n_inputs - 1;
    tg_tensor *x = n->inputs[0], *w = n->inputs[wi];
    if (tg_node_needs_grad(n, 0)) grads[0] = tg_matmul(t, g, w);
    if (tg_node_needs_grad(n, wi)) grads[wi] = tg_matmul(t, tg_transpose(t, g, 0, 1), x);
    if (wi == 2 && tg_node_needs_grad(n, 1)) grads[1] = tg_sum(t, g, 1, (const int[]){0}, false);
}

const tg_op_desc tg_op_linear = {"linear", 2, linear_backward, NULL,
                                 TG_OPF_SMOOTH | TG_OPF_NO_ATTR};
const tg_op_desc tg_op_linear_bias = {"linear_bias", 3, linear_backward, NULL,
                                      TG_OPF_SMOOTH | TG_OPF_NO_ATTR};

/* y = x2 W^T + b computed as its transpose, y^T = W x2^T, then put the right way round with
 * the bias, when the batch has fewer rows than the layer has outputs. The product's kernels
 * read one operand in place and need the other's rows contiguous along the output's columns:
 * for y that operand is W^T, so every call made a transposing copy of all of W (0.8 MB for the
 * MLP's first layer, 8% of its AVX2 step); for y^T it is x2^T, rows/out of that, plus one pass
 * over y. Taken for 16 to 64 rows (where the product of y^T takes whole vectors of rows without
 * packing) when those two passes move fewer elements than the copy of W. The sums are the
 * same products, the bias added after them rather than first. False: not taken. */
static bool product_transposed(tg_tape *t, const tg_tensor *x2, const tg_tensor *w,
                               const tg_tensor *b, tg_tensor *y) {
    int64_t rows = x2->shape[0], out = w->shape[0], in = w->shape[1];
    if (rows < 16 || rows > 64 || rows >= out || x2->strides[1] != 1 || w->strides[1] != 1 ||
        rows * (in + out) >= out * in)
        return false;
    void *yt = tg_arena_alloc(&t->arena, (size_t)(out * rows) * tg_dtype_size(y->dtype));
    if (!yt) return false;
    kern_gemm(y->dtype, out, rows, in, w->data, w->strides[0], 1, x2->data, 1, x2->strides[0],
              yt, rows);
    kern_transpose_bias(y->dtype, rows, out, yt, b ? b->data : NULL, y->data);
    return true;
}

tg_tensor *tg_linear_at(tg_tape *t, const char *file, int line, tg_tensor *x, tg_tensor *w,
                        tg_tensor *b) {
    tg_tensor *in[3] = {x, w, b};
    if (!tg_op_enter(t, file, line, "linear", b ? 3 : 2, in)) return NULL;
    char xs[TG_SHAPE_STR_MAX], ws[TG_SHAPE_STR_MAX], bs[TG_SHAPE_STR_MAX];
    if (w->ndim != 2)
        return tg_fail(t, TG_ERR_SHAPE, "linear: W must be (out, in), got %s",
                       tg_shape_str(w, ws, sizeof ws));
    if (x->ndim < 1 || x->shape[x->ndim - 1] != w->shape[1])
        return tg_fail(
            t, TG_ERR_SHAPE, "linear: x %s must end in W's %lld input features (W is %s)",
            tg_shape_str(x, xs, sizeof xs), (long long)w->shape[1], tg_shape_str(w, ws, sizeof ws));
    if (b && (b->ndim != 1 || b->shape[0] != w->shape[0]))
        return tg_fail(t, TG_ERR_SHAPE, "linear: bias %s must be (%lld) for W %s",
                       tg_shape_str(b, bs, sizeof bs), (long long)w->shape[0],
                       tg_shape_str(w, ws, sizeof ws));
    /* The product is taken on a matrix: a single vector as a one-row matrix, and every leading
     * dimension folded into the rows. Left batched, it would run one small product per
     * leading index and, in the sweep, make one weight gradient per index and sum them: for a
     * (32, 64, 64) input, 32 products of 64 rows and a (32, out, in) intermediate, where folded
     * it is one product over 2048 rows (half the transformer step's time went there). The
     * fold is a view when x is contiguous and one copy otherwise; a 2-D x of any strides is
     * read in place. */
    int64_t in_f = w->shape[1], out = w->shape[0];
    int64_t rows = 1;
    for (int d = 0; d + 1 < x->ndim; d++) rows *= x->shape[d];
    int64_t mat[2] = {x->ndim == 1 ? 1 : rows, in_f};
    tg_tensor *x2 = x->ndim == 2 ? x : tg_reshape(t, x, 2, mat);
    /* The kernel reads the bias as one contiguous run. */
    if (b && b->shape[0] > 1 && b->strides[0] != 1) b = tg_contiguous(t, b);
    if (!x2 || (in[2] && !b)) return NULL;
    int64_t yshape[2] = {x2->shape[0], out};
    tg_tensor *y = tg_tensor_alloc(t, x->dtype, 2, yshape);
    if (!y) return NULL;
    if (!product_transposed(t, x2, w, b, y))
        kern_gemm_bias(x->dtype, x2->shape[0], out, in_f, x2->data, x2->strides[0],
                       x2->strides[1], w->data, w->strides[1], w->strides[0], y->data, out,
                       b ? b->data : NULL);
    tg_tensor *rec[3] = {x2, b ? b : w, w};
    if (!tg_record(t, b ? &tg_op_linear_bias : &tg_op_linear, y, b ? 3 : 2, rec)) return NULL;
    if (x->ndim == 2) return y;
    int64_t shape[TG_MAX_DIMS];
    for (int d = 0; d + 1 < x->ndim; d++) shape[d] = x->shape[d];
    shape[x->ndim - 1] = out;
    return tg_reshape(t, y, x->ndim, shape);
}
