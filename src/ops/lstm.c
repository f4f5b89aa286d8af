/* lstm.c: the recurrent cells' fused ops.
 *
 * lstm_gates: the LSTM cell's gate arithmetic as one node where the composition (four slices,
 * three sigmoids, two tanhs, three products, a sum) records thirteen.
 *   z (B, 4H) = [zi zf zg zo] (PyTorch's gate order),  c (B, H)
 *   i = sigmoid(zi), f = sigmoid(zf), gg = tanh(zg), o = sigmoid(zo)
 *   c' = f c + i gg,   h' = o tanh(c'),   y = [h', c'] (B, 2H)
 * With G = [gh, gc] the gradient of y and tc = tanh(c'):
 *   dc' = gc + gh o (1 - tc^2)
 *   dL/dz = [dc' gg i (1 - i),  dc' c f (1 - f),  dc' i (1 - gg^2),  gh tc o (1 - o)]
 *   dL/dc = dc' f
 * rnn_seq and lstm_seq (lstm.h): a whole unroll's recurrence as one node, so that the reverse
 * sweep visits one node instead of several per step and the recurrent weight's gradient is one
 * product over all T B rows instead of T products summed.
 *
 * When the backward pass is itself recorded (create_graph) every rule is written with the
 * primitive ops (recomputing the forward from the inputs), so every higher derivative follows
 * from theirs; otherwise it is one fused pass (kernels/cell.c) over what the forward kept: tape
 * tensors whose addresses are the node's saved blob, alive exactly as long as the node. Both
 * paths evaluate the same formulas. */
#include <string.h>

#include "kernels/cell.h"
#include "lstm.h"
#include "seq_team.h"

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

/* The gates' rule in primitive ops: from z, c and the gradients gh, gc of h' and c', dz and (when
 * dc is not NULL) dc. */
static void gates_rule(tg_tape *t, tg_tensor *z, tg_tensor *c, tg_tensor *gh, tg_tensor *gc,
                       tg_tensor **dz, tg_tensor **dc) {
    int64_t H = c->shape[1];
    tg_tensor *i = tg_sigmoid(t, tg_slice(t, z, 1, 0, H, 1));
    tg_tensor *f = tg_sigmoid(t, tg_slice(t, z, 1, H, 2 * H, 1));
    tg_tensor *gg = tg_tanh(t, tg_slice(t, z, 1, 2 * H, 3 * H, 1));
    tg_tensor *o = tg_sigmoid(t, tg_slice(t, z, 1, 3 * H, 4 * H, 1));
    tg_tensor *tc = tg_tanh(t, tg_add(t, tg_mul(t, f, c), tg_mul(t, i, gg)));
    tg_tensor *dcp = tg_add(t, gc, tg_mul(t, gh, tg_mul(t, o, one_minus_sq(t, tc))));
    if (dz) {
        tg_tensor *parts[4] = {tg_mul(t, dcp, tg_mul(t, gg, sig_slope(t, i))),
                               tg_mul(t, dcp, tg_mul(t, c, sig_slope(t, f))),
                               tg_mul(t, dcp, tg_mul(t, i, one_minus_sq(t, gg))),
                               tg_mul(t, gh, tg_mul(t, tc, sig_slope(t, o)))};
        *dz = tg_concat(t, 4, parts, 1);
    }
    if (dc) *dc = tg_mul(t, dcp, f);
}

/* lstm_gates' rule in primitive ops, for a recorded backward pass. */
static void composed_backward(tg_tape *t, const tg_node *n, tg_tensor *g, tg_tensor **grads) {
    tg_tensor *z = n->inputs[0], *c = n->inputs[1];
    int64_t H = c->shape[1];
    tg_tensor *gh = tg_slice(t, g, 1, 0, H, 1), *gc = tg_slice(t, g, 1, H, 2 * H, 1);
    gates_rule(t, z, c, gh, gc, tg_node_needs_grad(n, 0) ? &grads[0] : NULL,
               tg_node_needs_grad(n, 1) ? &grads[1] : NULL);
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
    size_t es = tg_dtype_size(z->dtype);
    kern_lstm_backward(z->dtype, &(kern_lstm_bwd){.B = B, .H = H, .act = act->data,
                                                  .act_rs = 5 * H, .act_gs = H, .c = c->data,
                                                  .c_rs = row_stride(c), .gh = gu->data,
                                                  .gh_rs = row_stride(gu),
                                                  .gc = gu->data + H * (int64_t)es,
                                                  .gc_rs = row_stride(gu),
                                                  .dz = dz ? dz->data : NULL, .dz_rs = 4 * H,
                                                  .dz_gs = H, .dc = dc ? dc->data : NULL,
                                                  .dc_rs = H});
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
    size_t es = tg_dtype_size(z->dtype);
    kern_lstm_forward(z->dtype, &(kern_lstm_fwd){.B = B, .H = H, .z = zu->data,
                                                 .z_rs = row_stride(zu), .z_gs = H,
                                                 .c = cu->data, .c_rs = row_stride(cu),
                                                 .h = y->data, .h_rs = 2 * H,
                                                 .cn = y->data + H * (int64_t)es, .cn_rs = 2 * H,
                                                 .act = act->data, .act_rs = 5 * H, .act_gs = H});
    if (!tg_record(t, &tg_op_lstm_gates, y, 2, in)) return NULL;
    if (y->node && !tg_node_save(t, y->node, &act, sizeof act)) return NULL;
    return y;
}

/* ---- rnn_seq and lstm_seq ---- */

void tg_seq_split_steps(tg_tape *t, tg_tensor *part, int64_t first, int64_t len,
                        tg_tensor **steps) {
    if (len == 1) {
        steps[first] =
            tg_reshape(t, part, TG_SHAPE(tg_tensor_dim(part, 1), tg_tensor_dim(part, 2)));
        return;
    }
    int64_t half = len / 2;
    tg_seq_split_steps(t, tg_slice(t, part, 0, 0, half, 1), first, half, steps);
    tg_seq_split_steps(t, tg_slice(t, part, 0, half, len, 1), first + half, len - half, steps);
}

/* What a sequence node keeps: hs (T + 1 or T + 2, B, H) = [h0, h_1..h_T (, c_T)], whose rows
 * 0..T-1 are the previous states the weight gradient multiplies; for the LSTM also cs
 * (T + 1, B, H) = [c0..c_T] and act (T, B, 5H), the gates' activations of every step. */
typedef struct seq_saved {
    tg_tensor *hs, *cs, *act;
} seq_saved;

/* x itself when contiguous, else a contiguous copy on the tape. */
static const tg_tensor *contig(tg_tape *t, const tg_tensor *x) {
    if (tg_tensor_is_contiguous(x)) return x;
    tg_tensor *c = tg_tensor_alloc(t, x->dtype, x->ndim, x->shape);
    if (c)
        kern_copy(c->dtype, c->data, c->strides, x->dtype, x->data, x->strides, x->ndim, x->shape);
    return c;
}

/* Copies x (B, H), any layout, into contiguous memory at dst. */
static void copy_state(char *dst, const tg_tensor *x) {
    int64_t st[2] = {x->shape[1], 1};
    kern_copy(x->dtype, dst, st, x->dtype, x->data, x->strides, 2, x->shape);
}

/* Checks gx (T, B, G H), the states (B, H) and W (G H, H) of a sequence op with G gates. */
static bool seq_shapes(tg_tape *t, const char *op, int gates, const tg_tensor *gx,
                       const tg_tensor *h0, const tg_tensor *c0, const tg_tensor *w) {
    bool ok = gx->ndim == 3 && h0->ndim == 2 && w->ndim == 2 && gx->shape[0] >= 1;
    if (ok) {
        int64_t B = gx->shape[1], H = h0->shape[1];
        ok = h0->shape[0] == B && gx->shape[2] == gates * H && w->shape[0] == gates * H &&
             w->shape[1] == H && (!c0 || (c0->ndim == 2 && c0->shape[0] == B && c0->shape[1] == H));
    }
    if (ok) return true;
    char gs[TG_SHAPE_STR_MAX], hs[TG_SHAPE_STR_MAX], cs[TG_SHAPE_STR_MAX], ws[TG_SHAPE_STR_MAX];
    tg_fail(t, TG_ERR_SHAPE,
            "%s: gx must be (T, B, %dH) with T >= 1, the states (B, H) and W (%dH, H), got gx %s, "
            "h0 %s%s%s, W %s",
            op, gates, gates, tg_shape_str(gx, gs, sizeof gs), tg_shape_str(h0, hs, sizeof hs),
            c0 ? ", c0 " : "", c0 ? tg_shape_str(c0, cs, sizeof cs) : "",
            tg_shape_str(w, ws, sizeof ws));
    return false;
}

/* The row stride of a weight copy that the per-step products read down its columns: the row
 * length, plus a cache line when a row is a multiple of 512 bytes. At such a stride, the 128 or
 * more rows of a block of columns the direct kernel reuses for every tile of rows map into a
 * few L1 sets (at 2 KiB, two), so the block is evicted between the tiles that reuse it. */
static int64_t padded_row(int64_t n, size_t es) {
    return (n * (int64_t)es) % 512 == 0 ? n + 64 / (int64_t)es : n;
}

/* A (rows, cols) view of a row-major tape copy of x read at strides src (with padded rows):
 * made once per sequence, so that no step's product reads a transposed operand (which the
 * direct kernel would copy in every call) or a badly aligned one. */
static tg_tensor *row_major_copy(tg_tape *t, const tg_tensor *x, int64_t rows, int64_t cols,
                                 const int64_t src[2]) {
    int64_t ld = padded_row(cols, tg_dtype_size(x->dtype));
    tg_tensor *buf = tg_tensor_alloc(t, x->dtype, 2, (int64_t[]){rows, ld});
    if (!buf) return NULL;
    int64_t shape[2] = {rows, cols}, st[2] = {ld, 1};
    kern_copy(x->dtype, buf->data, st, x->dtype, x->data, src, 2, shape);
    return tg_tensor_view(t, buf, 2, shape, st, 0);
}

/* W^T (H, N) of W (N, H). */
static tg_tensor *transposed(tg_tape *t, const tg_tensor *w) {
    return row_major_copy(t, w, w->shape[1], w->shape[0], (int64_t[]){w->strides[1], w->strides[0]});
}

/* W (N, H) itself, row-major with padded rows, for the backward's dh = dz W. */
static tg_tensor *padded(tg_tape *t, const tg_tensor *w) {
    return row_major_copy(t, w, w->shape[0], w->shape[1], w->strides);
}

/* P (B, N) = h (B, H, contiguous) W^T, given W^T (H, N) with unit column stride. */
static void times_wt(const tg_tensor *wt, int64_t B, const char *h, char *p) {
    int64_t N = wt->shape[1], H = wt->shape[0];
    kern_gemm(wt->dtype, B, N, H, h, H, 1, wt->data, wt->strides[0], 1, p, N);
}

/* dh (B, H) = dz (B, N, contiguous) W. */
static void times_w(const tg_tensor *w, int64_t B, const char *dz, char *dh) {
    int64_t N = w->shape[0], H = w->shape[1];
    kern_gemm(w->dtype, B, H, N, dz, N, 1, w->data, w->strides[0], w->strides[1], dh, H);
}

/* dW (N, H) = dZ^T hs[0..T-1]: the recurrent weight's gradient over all T B rows at once,
 * computed as its transpose dW^T = hs^T dZ and then transposed (N H elements). Either way the
 * product reads one operand transposed, which its packing copies in pieces of a few elements
 * out of each row; this way that operand is hs (H wide) rather than dZ (N = 4H wide for the
 * LSTM), a quarter of the copying, and dZ's rows are packed as contiguous runs. Each entry is
 * the same sum in the same order either way. */
static tg_tensor *weight_grad(tg_tape *t, const tg_tensor *w, int64_t rows, const char *dz,
                              const char *hprev) {
    int64_t N = w->shape[0], H = w->shape[1];
    tg_tensor *dwt = tg_tensor_alloc(t, w->dtype, 2, (int64_t[]){H, N});
    tg_tensor *dw = tg_tensor_alloc(t, w->dtype, 2, w->shape);
    if (!dwt || !dw) return NULL;
    kern_gemm(w->dtype, H, N, rows, hprev, 1, H, dz, N, 1, dwt->data, N);
    kern_copy(w->dtype, dw->data, dw->strides, w->dtype, dwt->data, (int64_t[]){1, N}, 2,
              w->shape);
    return dw;
}

/* The sequence's states: hs with `extra` spare steps after h_T, h0 copied into step 0. */
static tg_tensor *state_rows(tg_tape *t, const tg_tensor *h0, int64_t steps) {
    tg_tensor *hs =
        tg_tensor_alloc(t, h0->dtype, 3, (int64_t[]){steps, h0->shape[0], h0->shape[1]});
    if (hs) copy_state(hs->data, h0);
    return hs;
}

/* Hangs the saved tensors on y's node (when recorded) and returns y. */
static tg_tensor *seq_record(tg_tape *t, const tg_op_desc *op, tg_tensor *y, int n_in,
                             tg_tensor *const *in, seq_saved sv) {
    if (!tg_record(t, op, y, n_in, in)) return NULL;
    if (y->node && !tg_node_save(t, y->node, &sv, sizeof sv)) return NULL;
    return y;
}

/* rnn_seq's rule in primitive ops: the forward again from the inputs, then back through time. */
static void rnn_seq_composed(tg_tape *t, const tg_node *n, tg_tensor *g, tg_tensor **grads) {
    tg_tensor *gx = n->inputs[0], *h0 = n->inputs[1], *w = n->inputs[2];
    int64_t T = gx->shape[0];
    tg_tensor **xs = tg_arena_alloc(&t->arena, (size_t)(4 * T + 1) * sizeof *xs);
    if (!xs) {
        tg_fail(t, TG_ERR_NOMEM, "rnn_seq: no memory for the backward of %lld steps", (long long)T);
        return;
    }
    tg_tensor **gs = xs + T, **dzs = gs + T, **hs = dzs + T;
    tg_seq_split_steps(t, gx, 0, T, xs);
    tg_seq_split_steps(t, g, 0, T, gs);
    tg_tensor *wt = tg_transpose(t, w, 0, 1), *dh = NULL, *dw = NULL;
    hs[0] = h0;
    for (int64_t s = 0; s < T; s++)
        hs[s + 1] = tg_tanh(t, tg_add(t, xs[s], tg_matmul(t, hs[s], wt)));
    for (int64_t s = T - 1; s >= 0; s--) {
        tg_tensor *gh = dh ? tg_add(t, gs[s], dh) : gs[s];
        dzs[s] = tg_mul(t, gh, one_minus_sq(t, hs[s + 1]));
        if (tg_node_needs_grad(n, 2)) {
            tg_tensor *term = tg_matmul(t, tg_transpose(t, dzs[s], 0, 1), hs[s]);
            dw = dw ? tg_add(t, dw, term) : term;
        }
        dh = tg_matmul(t, dzs[s], w);
    }
    if (tg_node_needs_grad(n, 0) && T <= INT32_MAX) grads[0] = tg_stack(t, (int)T, dzs, 0);
    if (tg_node_needs_grad(n, 1)) grads[1] = dh;
    if (tg_node_needs_grad(n, 2)) grads[2] = dw;
}

static void rnn_seq_backward(tg_tape *t, const tg_node *n, tg_tensor *g, tg_tensor **grads) {
    if (tg_tape_grad_enabled(t)) {
        rnn_seq_composed(t, n, g, grads);
        return;
    }
    const tg_tensor *w = n->inputs[2];
    seq_saved sv;
    memcpy(&sv, n->saved, sizeof sv);
    int64_t T = sv.hs->shape[0] - 1, B = sv.hs->shape[1], H = sv.hs->shape[2], bh = B * H;
    size_t step = (size_t)bh * tg_dtype_size(w->dtype);
    const tg_tensor *gc = contig(t, g), *wp = padded(t, w);
    tg_tensor *dz = tg_tensor_alloc(t, w->dtype, 3, (int64_t[]){T, B, H});
    tg_tensor *dh = tg_tensor_alloc(t, w->dtype, 2, (int64_t[]){B, H});
    if (!gc || !wp || !dz || !dh) return;
    if (seq_team_wanted(B, H, 1)) {
        seq_team team = {.dtype = w->dtype, .T = T, .B = B, .H = H, .w = wp->data,
                         .w_rs = wp->strides[0], .w_cs = 1, .hs = sv.hs->data,
                         .g = gc->data, .dz = dz->data, .dh = dh->data,
                         .dh_first = tg_node_needs_grad(n, 1)};
        seq_team_run(&team, true);
    } else {
        for (int64_t s = T - 1; s >= 0; s--) {
            char *dzs = dz->data + (size_t)s * step;
            kern_rnn_tanh_backward(w->dtype, bh, gc->data + (size_t)s * step,
                                   s < T - 1 ? dh->data : NULL,
                                   sv.hs->data + (size_t)(s + 1) * step, dzs);
            if (s > 0 || tg_node_needs_grad(n, 1)) times_w(wp, B, dzs, dh->data);
        }
    }
    if (tg_node_needs_grad(n, 0)) grads[0] = dz;
    if (tg_node_needs_grad(n, 1)) grads[1] = dh;
    if (tg_node_needs_grad(n, 2)) grads[2] = weight_grad(t, w, T * B, dz->data, sv.hs->data);
}

const tg_op_desc tg_op_rnn_seq = {"rnn_seq", 3, rnn_seq_backward, NULL, TG_OPF_SMOOTH};

tg_tensor *tg_rnn_seq_at(tg_tape *t, const char *file, int line, tg_tensor *gx, tg_tensor *h0,
                         tg_tensor *w) {
    tg_tensor *in[3] = {gx, h0, w};
    if (!tg_op_enter(t, file, line, "rnn_seq", 3, in)) return NULL;
    if (!seq_shapes(t, "rnn_seq", 1, gx, h0, NULL, w)) return NULL;
    int64_t T = gx->shape[0], B = gx->shape[1], H = h0->shape[1], bh = B * H;
    size_t step = (size_t)bh * tg_dtype_size(gx->dtype);
    const tg_tensor *gxc = contig(t, gx);
    tg_tensor *hs = state_rows(t, h0, T + 1), *wt = transposed(t, w);
    if (!gxc || !hs || !wt) return NULL;
    if (seq_team_wanted(B, H, 1)) {
        seq_team team = {.dtype = gx->dtype, .T = T, .B = B, .H = H, .gx = gxc->data,
                         .wt = wt->data, .wt_rs = wt->strides[0], .hs = hs->data};
        seq_team_run(&team, false);
    } else {
        for (int64_t s = 0; s < T; s++) {
            char *h = hs->data + (size_t)s * step, *hn = h + step;
            times_wt(wt, B, h, hn);
            kern_cell_add(gx->dtype, bh, gxc->data + (size_t)s * step, hn, hn);
            kern_unary(KERN_TANH, gx->dtype, bh, hn, hn, 0.0);
        }
    }
    tg_tensor *y = tg_tensor_view(t, hs, 3, gx->shape, hs->strides, bh);
    if (!y) return NULL;
    return seq_record(t, &tg_op_rnn_seq, y, 3, in, (seq_saved){hs, NULL, NULL});
}

/* lstm_seq's rule in primitive ops: the forward again from the inputs, then back through time
 * with the gates' rule. */
static void lstm_seq_composed(tg_tape *t, const tg_node *n, tg_tensor *g, tg_tensor **grads) {
    tg_tensor *gx = n->inputs[0], *h0 = n->inputs[1], *c0 = n->inputs[2], *w = n->inputs[3];
    int64_t T = gx->shape[0], H = h0->shape[1];
    tg_tensor **xs = tg_arena_alloc(&t->arena, (size_t)(6 * T + 2) * sizeof *xs);
    if (!xs) {
        tg_fail(t, TG_ERR_NOMEM, "lstm_seq: no memory for the backward of %lld steps",
                (long long)T);
        return;
    }
    tg_tensor **gs = xs + T, **dzs = gs + T, **zs = dzs + T, **hs = zs + T, **cs = hs + T + 1;
    tg_seq_split_steps(t, gx, 0, T, xs);
    tg_seq_split_steps(t, tg_slice(t, g, 0, 0, T, 1), 0, T, gs);
    tg_tensor *dc = tg_reshape(t, tg_slice(t, g, 0, T, T + 1, 1), TG_SHAPE(h0->shape[0], H));
    tg_tensor *wt = tg_transpose(t, w, 0, 1), *dh = NULL, *dw = NULL;
    hs[0] = h0;
    cs[0] = c0;
    for (int64_t s = 0; s < T; s++) {
        zs[s] = tg_add(t, xs[s], tg_matmul(t, hs[s], wt));
        tg_tensor *hc = tg_lstm_gates(t, zs[s], cs[s]);
        hs[s + 1] = tg_slice(t, hc, 1, 0, H, 1);
        cs[s + 1] = tg_slice(t, hc, 1, H, 2 * H, 1);
    }
    for (int64_t s = T - 1; s >= 0; s--) {
        tg_tensor *gh = dh ? tg_add(t, gs[s], dh) : gs[s];
        gates_rule(t, zs[s], cs[s], gh, dc, &dzs[s], &dc);
        if (tg_node_needs_grad(n, 3)) {
            tg_tensor *term = tg_matmul(t, tg_transpose(t, dzs[s], 0, 1), hs[s]);
            dw = dw ? tg_add(t, dw, term) : term;
        }
        dh = tg_matmul(t, dzs[s], w);
    }
    if (tg_node_needs_grad(n, 0) && T <= INT32_MAX) grads[0] = tg_stack(t, (int)T, dzs, 0);
    if (tg_node_needs_grad(n, 1)) grads[1] = dh;
    if (tg_node_needs_grad(n, 2)) grads[2] = dc;
    if (tg_node_needs_grad(n, 3)) grads[3] = dw;
}

static void lstm_seq_backward(tg_tape *t, const tg_node *n, tg_tensor *g, tg_tensor **grads) {
    if (tg_tape_grad_enabled(t)) {
        lstm_seq_composed(t, n, g, grads);
        return;
    }
    const tg_tensor *w = n->inputs[3];
    seq_saved sv;
    memcpy(&sv, n->saved, sizeof sv);
    int64_t T = sv.act->shape[0], B = sv.act->shape[1], H = sv.hs->shape[2], bh = B * H;
    size_t es = tg_dtype_size(w->dtype), step = (size_t)bh * es;
    const tg_tensor *gc = contig(t, g), *wp = padded(t, w);
    tg_tensor *dz = tg_tensor_alloc(t, w->dtype, 3, (int64_t[]){T, B, 4 * H});
    /* dh, then two cell-state gradients used in turn (the kernel reads one, writes the other). */
    tg_tensor *dh = tg_tensor_alloc(t, w->dtype, 2, (int64_t[]){B, H});
    tg_tensor *dcs = tg_tensor_alloc(t, w->dtype, 3, (int64_t[]){2, B, H});
    if (!gc || !wp || !dz || !dh || !dcs) return;
    if (seq_team_wanted(B, H, 4)) {
        seq_team team = {.dtype = w->dtype, .lstm = true, .T = T, .B = B, .H = H, .w = wp->data,
                         .w_rs = wp->strides[0], .w_cs = 1, .hs = sv.hs->data,
                         .cs = sv.cs->data, .act = sv.act->data, .g = gc->data, .dz = dz->data,
                         .dh = dh->data, .dcs = dcs->data,
                         .dh_first = tg_node_needs_grad(n, 1)};
        seq_team_run(&team, true);
    } else {
        /* dL/dc_T, then that of step s in dcs[(T - 1 - s) & 1] (the team alternates alike). */
        const char *gcell = gc->data + (size_t)T * step;
        for (int64_t s = T - 1; s >= 0; s--) {
            /* The gradient reaching h_s: the step's own plus, below the last step, dh from
             * step s + 1's product (added by the kernel, read before the product below
             * overwrites it). */
            char *dzs = dz->data + (size_t)s * 4 * step;
            char *dc = dcs->data + (size_t)((T - 1 - s) & 1) * step;
            kern_lstm_backward(w->dtype,
                               &(kern_lstm_bwd){.B = B, .H = H,
                                                .act = sv.act->data + (size_t)s * 5 * step,
                                                .act_rs = 5 * H, .act_gs = H,
                                                .c = sv.cs->data + (size_t)s * step, .c_rs = H,
                                                .gh = gc->data + (size_t)s * step, .gh_rs = H,
                                                .dh = s < T - 1 ? dh->data : NULL, .dh_rs = H,
                                                .gc = gcell, .gc_rs = H, .dz = dzs,
                                                .dz_rs = 4 * H, .dz_gs = H, .dc = dc, .dc_rs = H});
            gcell = dc;
            if (s > 0 || tg_node_needs_grad(n, 1)) times_w(wp, B, dzs, dh->data);
        }
    }
    if (tg_node_needs_grad(n, 0)) grads[0] = dz;
    if (tg_node_needs_grad(n, 1)) grads[1] = dh;
    if (tg_node_needs_grad(n, 2))
        grads[2] = tg_tensor_view(t, dcs, 2, dh->shape, dh->strides, ((T - 1) & 1) * bh);
    if (tg_node_needs_grad(n, 3)) grads[3] = weight_grad(t, w, T * B, dz->data, sv.hs->data);
}

const tg_op_desc tg_op_lstm_seq = {"lstm_seq", 4, lstm_seq_backward, NULL, TG_OPF_SMOOTH};

tg_tensor *tg_lstm_seq_at(tg_tape *t, const char *file, int line, tg_tensor *gx, tg_tensor *h0,
                          tg_tensor *c0, tg_tensor *w) {
    tg_tensor *in[4] = {gx, h0, c0, w};
    if (!tg_op_enter(t, file, line, "lstm_seq", 4, in)) return NULL;
    if (!seq_shapes(t, "lstm_seq", 4, gx, h0, c0, w)) return NULL;
    int64_t T = gx->shape[0], B = gx->shape[1], H = h0->shape[1], bh = B * H;
    size_t es = tg_dtype_size(gx->dtype), step = (size_t)bh * es;
    const tg_tensor *gxc = contig(t, gx);
    tg_tensor *hs = state_rows(t, h0, T + 2), *cs = state_rows(t, c0, T + 1);
    tg_tensor *act = tg_tensor_alloc(t, gx->dtype, 3, (int64_t[]){T, B, 5 * H});
    tg_tensor *z = tg_tensor_alloc(t, gx->dtype, 2, (int64_t[]){B, 4 * H});
    if (!gxc || !hs || !cs || !act || !z) return NULL;
    if (seq_team_wanted(B, H, 4)) {
        /* Split by rows, W^T as the loop below reads it; by units, W^T with each thread's
         * units' gates side by side, filled by the threads. */
        bool by_rows = seq_team_by_rows(B);
        tg_tensor *wt = by_rows ? transposed(t, w)
                                : tg_tensor_alloc(t, gx->dtype, 2, (int64_t[]){H, 4 * H});
        if (!wt) return NULL;
        seq_team team = {.dtype = gx->dtype, .lstm = true, .T = T, .B = B, .H = H,
                         .w = w->data, .w_rs = w->strides[0], .w_cs = w->strides[1],
                         .gx = gxc->data, .wt = by_rows ? wt->data : NULL,
                         .wt_rs = wt->strides[0],
                         .wtp = by_rows ? NULL : wt->data, .z = z->data, .hs = hs->data,
                         .cs = cs->data, .act = act->data};
        seq_team_run(&team, false);
    } else {
        tg_tensor *wt = transposed(t, w);
        if (!wt) return NULL;
        for (int64_t s = 0; s < T; s++) {
            char *h = hs->data + (size_t)s * step, *c = cs->data + (size_t)s * step;
            times_wt(wt, B, h, z->data);
            kern_lstm_forward(gx->dtype,
                              &(kern_lstm_fwd){.B = B, .H = H, .z = z->data, .z_rs = 4 * H,
                                               .z_gs = H, .gx = gxc->data + (size_t)s * 4 * step,
                                               .gx_rs = 4 * H, .gx_gs = H, .c = c, .c_rs = H,
                                               .h = h + step, .h_rs = H, .cn = c + step,
                                               .cn_rs = H, .act = act->data + (size_t)s * 5 * step,
                                               .act_rs = 5 * H, .act_gs = H});
        }
    }
    memcpy(hs->data + (size_t)(T + 1) * step, cs->data + (size_t)T * step, step);
    tg_tensor *y = tg_tensor_view(t, hs, 3, (int64_t[]){T + 1, B, H}, hs->strides, bh);
    if (!y) return NULL;
    return seq_record(t, &tg_op_lstm_seq, y, 4, in, (seq_saved){hs, cs, act});
}
