/* matmul.c: the (batched) matrix product.
 *
 *   C = A B,   A: (..., M, K)   B: (..., K, N)   C: (..., M, N)
 *   dL/dA = dL/dC B^T   summed over the batch dimensions A was broadcast along
 *   dL/dB = A^T dL/dC   likewise for B
 *
 * The batch dimensions (...) broadcast as NumPy does. A and B are read through their strides,
 * so transposed views (as backward passes them) are multiplied without a copy. */
#include "op_util.h"

/* True when x is a 2-D matrix stored column by column: the transposed view of a contiguous
 * matrix, as tg_linear passes W^T. */
static bool column_major(const tg_tensor *x) {
    return x->ndim == 2 && x->strides[0] == 1 && x->strides[1] == x->shape[0] && x->shape[0] > 1;
}

/* For a 2-D input stored column-major, the gradient is computed as the transpose of the
 * product in the other order ((g^T A)^T rather than A^T g), so it too is column-major: the
 * transpose that made the input then hands its own input a contiguous gradient, which is
 * summed into a weight's gradient without a strided pass. The values are the same products. */
static void matmul_backward(tg_tape *t, const tg_node *n, tg_tensor *g, tg_tensor **grads) {
    tg_tensor *a = n->inputs[0], *b = n->inputs[1];
    if (tg_node_needs_grad(n, 0)) {
        if (column_major(a) && b->ndim == 2)
            grads[0] = tg_transpose(t, tg_matmul(t, b, tg_transpose(t, g, 0, 1)), 0, 1);
        else
            grads[0] =
                tg_sum_to(t, tg_matmul(t, g, tg_transpose(t, b, -1, -2)), a->ndim, a->shape);
    }
    if (tg_node_needs_grad(n, 1)) {
        if (column_major(b) && a->ndim == 2)
            grads[1] = tg_transpose(t, tg_matmul(t, tg_transpose(t, g, 0, 1), a), 0, 1);
        else
            grads[1] =
                tg_sum_to(t, tg_matmul(t, tg_transpose(t, a, -1, -2), g), b->ndim, b->shape);
    }
}

const tg_op_desc tg_op_matmul = {"matmul", 2, matmul_backward, NULL,
                                 TG_OPF_SMOOTH | TG_OPF_NO_ATTR};

tg_tensor *tg_matmul_at(tg_tape *t, const char *file, int line, tg_tensor *a, tg_tensor *b) {
    tg_tensor *in[2] = {a, b};
    if (!tg_op_enter(t, file, line, "matmul", 2, in)) return NULL;
    char as[TG_SHAPE_STR_MAX], bs[TG_SHAPE_STR_MAX];
    if (a->ndim < 2 || b->ndim < 2)
        return tg_fail(t, TG_ERR_SHAPE, "matmul: inputs need at least 2 dimensions, got %s and %s",
                       tg_shape_str(a, as, sizeof as), tg_shape_str(b, bs, sizeof bs));
    int64_t M = a->shape[a->ndim - 2], K = a->shape[a->ndim - 1];
    int64_t N = b->shape[b->ndim - 1];
    if (b->shape[b->ndim - 2] != K)
        return tg_fail(t, TG_ERR_SHAPE, "matmul: inner sizes differ: %s @ %s (%lld vs %lld)",
                       tg_shape_str(a, as, sizeof as), tg_shape_str(b, bs, sizeof bs),
                       (long long)K, (long long)b->shape[b->ndim - 2]);

    /* Broadcast the batch dimensions: view each input's batch part as its own tensor. */
    tg_tensor ab = *a, bb = *b;
    ab.ndim = a->ndim - 2;
    bb.ndim = b->ndim - 2;
    int nb;
    int64_t shape[TG_MAX_DIMS], astr[TG_MAX_DIMS], bstr[TG_MAX_DIMS];
    if (!tg_broadcast_shape(t, "matmul", &ab, &bb, &nb, shape)) return NULL;
    tg_broadcast_strides(&ab, nb, shape, astr);
    tg_broadcast_strides(&bb, nb, shape, bstr);
    shape[nb] = M;
    shape[nb + 1] = N;
    tg_tensor *c = tg_tensor_alloc(t, a->dtype, nb + 2, shape);
    if (!c) return NULL;

    size_t es = tg_dtype_size(a->dtype);
    int64_t n_batch = tg_numel_of(nb, shape), idx[TG_MAX_DIMS] = {0};
    for (int64_t bi = 0; bi < n_batch; bi++) {
        int64_t aoff = 0, boff = 0;
        for (int d = 0; d < nb; d++) {
            aoff += idx[d] * astr[d];
            boff += idx[d] * bstr[d];
        }
        kern_gemm(a->dtype, M, N, K, a->data + aoff * (int64_t)es, a->strides[a->ndim - 2],
                  a->strides[a->ndim - 1], b->data + boff * (int64_t)es,
                  b->strides[b->ndim - 2], b->strides[b->ndim - 1],
                  c->data + bi * M * N * (int64_t)es, N);
        for (int d = nb - 1; d >= 0; d--) {
            if (++idx[d] < shape[d]) break;
            idx[d] = 0;
        }
    }
    return tg_record(t, &tg_op_matmul, c, 2, in);
}
