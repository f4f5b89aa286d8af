/* lstm.c: the LSTM cell's gate arithmetic as one fused op, recorded as one node where the
 * composition (four slices, three sigmoids, two tanhs, three products, a sum) records thirteen.
 *
 *   z (B, 4H) = [zi zf zg zo] (PyTorch's gate order),  c (B, H)
 *   i = sigmoid(zi), f = sigmoid(zf), gg = tanh(zg), o = sigmoid(zo)
 *   c' = f c + i gg,   h' = o tanh(c'),   y = [h', c'] (B, 2H)
 * With G = [gh, gc] the gradient of y and tc = tanh(c'):
 *   dc' = gc + gh o (1 - tc^2)
 *   dL/dz = [dc' gg i (1 - i),  dc' c f (1 - f),  dc' i (1 - gg^2),  gh tc o (1 - o)]
 *   dL/dc = dc' f
 * When the backward pass is itself recorded (create_graph) the rule is written with the
 * primitive ops above, so every higher derivative follows from theirs; otherwise it is one
 * fused pass (kernels/cell.c) over the activations the forward kept: a tape tensor whose
 * address is the node's saved blob, alive exactly as long as the node. Both paths evaluate the
 * same formulas. */
#include <string.h>

#include "kernels/cell.h"
#include "op_util.h"

/* x with rows of unit inner stride: x itself, or a contiguous copy on the tape. */
static const tg_tensor *unit_rows(tg_tape *t, const tg_tensor *x) {
    if (x->strides[1] == 1 || x->shape[1] <= 1) return x;
    tg_tensor *c = tg_tensor_alloc(t, x->dtype, x->ndim, x->shape);
    if (c)
        kern_copy(c->dtype, c->data, c->strides, x->dtype, x->data, x->strides, x->ndim, x->shape);
    return c;
}

static int64_t row_stride(const tg_tensor *x) { return x->shape[0] > 1 ? x->strides[0] : 0; }

/* 1 - x^2 and s (1 - s), recorded. */
static tg_tensor *one_minus_sq(tg_tape *t, tg_tensor *x) {
    return tg_rsub_scalar(t, tg_mul(t, x, x), 1.0);
}
static tg_tensor *sig_slope(tg_tape *t, tg_tensor *s) {
    return tg_mul(t, s, tg_rsub_scalar(t, s, 1.0));
}

/* The rule in primitive ops, for a recorded backward pass. */
static void composed_backward(tg_tape *t, const tg_node *n, tg_tensor *g, tg_tensor **grads) {
    tg_tensor *z = n->inputs[0], *c = n->inputs[1];
    int64_t H = c->shape[1];
    tg_tensor *i = tg_sigmoid(t, tg_slice(t, z, 1, 0, H, 1));
    tg_tensor *f = tg_sigmoid(t, tg_slice(t, z, 1, H, 2 * H, 1));
    tg_tensor *gg = tg_tanh(t, tg_slice(t, z, 1, 2 * H, 3 * H, 1));
    tg_tensor *o = tg_sigmoid(t, tg_slice(t, z, 1, 3 * H, 4 * H, 1));
    tg_tensor *tc = tg_tanh(t, tg_add(t, tg_mul(t, f, c), tg_mul(t, i, gg)));
    tg_tensor *gh = tg_slice(t, g, 1, 0, H, 1), *gc = tg_slice(t, g, 1, H, 2 * H, 1);
    tg_tensor *dcp = tg_add(t, gc, tg_mul(t, gh, tg_mul(t, o, one_minus_sq(t, tc))));
    if (tg_node_needs_grad(n, 0)) {
        tg_tensor *parts[4] = {tg_mul(t, dcp, tg_mul(t, gg, sig_slope(t, i))),
                               tg_mul(t, dcp, tg_mul(t, c, sig_slope(t, f))),
                               tg_mul(t, dcp, tg_mul(t, i, one_minus_sq(t, gg))),
                               tg_mul(t, gh, tg_mul(t, tc, sig_slope(t, o)))};
        grads[0] = tg_concat(t, 4, parts, 1);
    }
    if (tg_node_needs_grad(n, 1)) grads[1] = tg_mul(t, dcp, f);
}

static void lstm_backward(tg_tape *t, const tg_node *n, tg_tensor *g, tg_tensor **grads) {
    if (tg_tape_grad_enabled(t)) {
        composed_backward(t, n, g, grads);
        return;
    }
    const tg_tensor *z = n->inputs[0], *act;
    int64_t B = z->shape[0], H = z->shape[1] / 4;
    memcpy(&act, n->saved, sizeof act);
    const tg_tensor *c = unit_rows(t, n->inputs[1]), *gu = unit_rows(t, g);
    tg_tensor *dz = tg_node_needs_grad(n, 0) ? tg_tensor_alloc(t, z->dtype, 2, z->shape) : NULL;
    tg_tensor *dc =
        tg_node_needs_grad(n, 1) ? tg_tensor_alloc(t, z->dtype, 2, n->inputs[1]->shape) : NULL;
    if (!c || !gu || (tg_node_needs_grad(n, 0) && !dz) || (tg_node_needs_grad(n, 1) && !dc)) return;
    kern_lstm_backward(z->dtype, B, H, act->data, c->data, row_stride(c), gu->data, row_stride(gu),
                       dz ? dz->data : NULL, dc ? dc->data : NULL);
    grads[0] = dz;
    grads[1] = dc;
}

const tg_op_desc tg_op_lstm_gates = {"lstm_gates", 2, lstm_backward, NULL, TG_OPF_SMOOTH};

tg_tensor *tg_lstm_gates_at(tg_tape *t, const char *file, int line, tg_tensor *z, tg_tensor *c) {
    tg_tensor *in[2] = {z, c};
    if (!tg_op_enter(t, file, line, "lstm_gates", 2, in)) return NULL;
    char zs[TG_SHAPE_STR_MAX], cs[TG_SHAPE_STR_MAX];
    if (z->ndim != 2 || c->ndim != 2 || z->shape[1] % 4 != 0 || z->shape[0] != c->shape[0] ||
        z->shape[1] != 4 * c->shape[1])
        return tg_fail(t, TG_ERR_SHAPE,
                       "lstm_gates: z must be (B, 4H) and c (B, H), got z %s and c %s",
                       tg_shape_str(z, zs, sizeof zs), tg_shape_str(c, cs, sizeof cs));
    int64_t B = z->shape[0], H = c->shape[1];
    const tg_tensor *zu = unit_rows(t, z), *cu = unit_rows(t, c);
    tg_tensor *y = tg_tensor_alloc(t, z->dtype, 2, (int64_t[]){B, 2 * H});
    tg_tensor *act = tg_tensor_alloc(t, z->dtype, 2, (int64_t[]){B, 5 * H});
    if (!zu || !cu || !y || !act) return NULL;
    kern_lstm_forward(z->dtype, B, H, zu->data, row_stride(zu), cu->data, row_stride(cu), y->data,
                      act->data);
    if (!tg_record(t, &tg_op_lstm_gates, y, 2, in)) return NULL;
    if (y->node && !tg_node_save(t, y->node, &act, sizeof act)) return NULL;
    return y;
}
