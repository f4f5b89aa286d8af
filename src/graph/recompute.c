/* recompute.c: recomputed segments (include/tapegrad/recompute.h). A segment runs on a scratch
 * tape owned by the tape it serves; only copies of its outputs, one node each, stay on the home
 * tape. The first of those nodes the sweep reaches runs the segment again on the scratch tape
 * and sweeps it back inside the same sweep (tg_sweep_segment), summing gradients straight into
 * the in-flight gradients of the parameters and home tensors the segment read.
 *
 * Invariant: the scratch tape holds at most one segment, and only while tg_recompute or a
 * segment's rule runs; both reset it before returning. Each output node lists as its inputs
 * every tensor from outside the segment that needs a gradient (found from the scratch tape's
 * nodes in the first run), so the sweep deposits parameters read only inside segments, and the
 * nodes are visited only after every consumer of every output, all recorded later. */
#include <string.h>

#include "graph.h"
#include "../ops/kernels/kernels.h"

typedef struct segment {
    tg_segment_fn fn;
    void *ctx;
    int n_inputs, n_outputs, n_rngs;
    tg_tensor *inputs[TG_RECOMPUTE_MAX_INPUTS];
    tg_tensor *outputs[TG_RECOMPUTE_MAX_OUTPUTS]; /* the copies on the home tape */
    tg_rng *rngs[TG_RECOMPUTE_MAX_RNGS];
    tg_rng start[TG_RECOMPUTE_MAX_RNGS]; /* each generator's state when the segment began */
    uint64_t swept_in;                   /* the sweep that has already replayed it, or 0 */
} segment;

static void recompute_backward(tg_tape *t, const tg_node *n, tg_tensor *g, tg_tensor **grads);
static void describe_recompute(const tg_node *n, char *buf, size_t size) {
    const segment *seg = n->saved;
    if (seg)
        snprintf(buf, size, "segment of %d inputs, %d outputs", seg->n_inputs, seg->n_outputs);
    else if (size)
        buf[0] = '\0';
}
/* Not in ops.def: it is not an op a user calls but the mark a segment leaves, proven through
 * the segments of tests/graph/test_recompute.c (gradients equal, bit for bit, to the plain
 * graph's, and tg_gradcheck through a segment). */
static const tg_op_desc op_recompute = {"recompute", -1, recompute_backward, describe_recompute,
                                        TG_OPF_OWN_SWEEP};

static tg_tape *scratch_of(tg_tape *t) {
    if (!t->scratch) {
        t->scratch = tg_tape_new();
        if (!t->scratch) return NULL;
        t->scratch->home = t;
    }
    return t->scratch;
}

/* Runs the segment on s and returns the output count or -1, with the problem kept on `home`.
 * A replay (when is not "") runs with the generators at their starting states and then puts
 * them back where they were, so the sweep draws nothing from them; the first run leaves them
 * where the segment's draws took them, as running it plainly would. */
static int run(tg_tape *home, tg_tape *s, segment *seg, tg_tensor **outs, int max_outputs,
               const char *when) {
    bool replay = when[0] != '\0';
    tg_rng now[TG_RECOMPUTE_MAX_RNGS];
    for (int i = 0; replay && i < seg->n_rngs; i++) {
        now[i] = *seg->rngs[i];
        *seg->rngs[i] = seg->start[i];
    }
    for (int i = 0; i < max_outputs; i++) outs[i] = NULL;
    int k = seg->fn(s, seg->inputs, outs, seg->ctx);
    for (int i = 0; replay && i < seg->n_rngs; i++) *seg->rngs[i] = now[i];
    if (s->status != TG_OK) {
        tg_fail(home, s->status, "recompute: the segment failed %s: %s", when, s->error);
        return -1;
    }
    if (k < 1 || k > max_outputs) {
        tg_fail(home, TG_ERR_ARG, "recompute: the segment returned %d outputs %s (1 to %d "
                "allowed)", k, when, max_outputs);
        return -1;
    }
    for (int i = 0; i < k; i++) {
        if (!outs[i]) {
            tg_fail(home, TG_ERR_NULL, "recompute: output %d of the segment is NULL %s", i, when);
            return -1;
        }
        if (!tg_tensor_is_current(s, outs[i])) {
            tg_fail(home, TG_ERR_STALE, "recompute: output %d of the segment is a stale tensor",
                    i);
            return -1;
        }
    }
    return k;
}

static bool listed(tg_tensor *const *list, int n, const tg_tensor *x) {
    for (int i = 0; i < n; i++)
        if (list[i] == x) return true;
    return false;
}

/* Every tensor from outside s that the segment's nodes (or its outputs) read and that needs a
 * gradient, in the arena of `home`; NULL with the error on home when memory runs out. */
static tg_tensor **externals(tg_tape *home, tg_tape *s, tg_tensor *const *outs, int k, int *n) {
    int cap = 0;
    for (const tg_node *nd = s->last; nd; nd = nd->prev) cap += nd->n_inputs;
    cap += k;
    tg_tensor **list = tg_arena_alloc(&home->arena, (size_t)(cap ? cap : 1) * sizeof *list);
    if (!list) {
        tg_fail(home, TG_ERR_NOMEM, "recompute: out of memory listing the segment's inputs");
        return NULL;
    }
    *n = 0;
    for (int i = 0; i < k; i++)
        if (outs[i]->tape != s && outs[i]->requires_grad && !listed(list, *n, outs[i]))
            list[(*n)++] = outs[i];
    for (const tg_node *nd = s->last; nd; nd = nd->prev)
        for (int i = 0; i < nd->n_inputs; i++) {
            tg_tensor *x = nd->inputs[i];
            if (x && x->tape != s && x->requires_grad && !listed(list, *n, x)) list[(*n)++] = x;
        }
    return list;
}

static int refuse(tg_tape *t, tg_status st, const char *msg) {
    tg_fail(t, st, "recompute: %s", msg);
    return -1;
}

int tg_recompute_at(tg_tape *t, const char *file, int line, tg_segment_fn fn, void *ctx,
                    int n_inputs, tg_tensor *const *inputs, tg_tensor **outputs, int max_outputs,
                    tg_rng *const *rngs, int n_rngs) {
    if (!t) return -1;
    tg_tape_set_site(t, file, line);
    if (t->status != TG_OK) return -1; /* an earlier failure: keep its message */
    if (!fn || !outputs || (n_inputs > 0 && !inputs) || (n_rngs > 0 && !rngs))
        return refuse(t, TG_ERR_NULL, "fn, inputs, outputs or rngs is NULL");
    if (n_inputs < 0 || n_inputs > TG_RECOMPUTE_MAX_INPUTS || max_outputs < 1 ||
        max_outputs > TG_RECOMPUTE_MAX_OUTPUTS || n_rngs < 0 || n_rngs > TG_RECOMPUTE_MAX_RNGS)
        return refuse(t, TG_ERR_ARG, "at most 16 inputs, 1 to 8 outputs and 4 generators");
    for (int i = 0; i < n_inputs; i++) {
        if (!inputs[i]) {
            tg_fail(t, TG_ERR_NULL, "recompute: input %d is NULL", i);
            return -1;
        }
        if (!tg_tensor_is_current(t, inputs[i])) {
            tg_fail(t, TG_ERR_STALE, "recompute: input %d is a stale tensor, made before the "
                    "last tg_tape_reset of its tape (or on a tape since freed)", i);
            return -1;
        }
    }
    for (int i = 0; i < n_rngs; i++)
        if (!rngs[i]) return refuse(t, TG_ERR_NULL, "a generator in rngs is NULL");
    if (t->home)
        return refuse(t, TG_ERR_ARG, "segments cannot be nested: this segment was started "
                      "inside another segment's function");
    if (!t->grad_enabled) { /* nothing is recorded, so nothing is kept to save */
        for (int i = 0; i < max_outputs; i++) outputs[i] = NULL;
        int k = fn(t, inputs, outputs, ctx);
        if (t->status != TG_OK) return -1;
        if (k < 1 || k > max_outputs) {
            tg_fail(t, TG_ERR_ARG, "recompute: the segment returned %d outputs (1 to %d "
                    "allowed)", k, max_outputs);
            return -1;
        }
        return k;
    }
    tg_tape *s = scratch_of(t);
    if (!s) return refuse(t, TG_ERR_NOMEM, "out of memory making the scratch tape");
    segment seg = {.fn = fn, .ctx = ctx, .n_inputs = n_inputs, .n_rngs = n_rngs};
    for (int i = 0; i < n_inputs; i++) seg.inputs[i] = inputs[i];
    for (int i = 0; i < n_rngs; i++) {
        seg.rngs[i] = rngs[i];
        seg.start[i] = *rngs[i];
    }
    tg_tape_reset(s);
    s->anomaly = s->anomaly_forward = t->anomaly;
    tg_tensor *outs[TG_RECOMPUTE_MAX_OUTPUTS];
    int k = run(t, s, &seg, outs, max_outputs, "");
    int n_ext = 0;
    tg_tensor **ext = k > 0 ? externals(t, s, outs, k, &n_ext) : NULL;
    tg_tensor *made[TG_RECOMPUTE_MAX_OUTPUTS];
    segment *saved = NULL;
    for (int i = 0; i < k && ext; i++) {
        tg_tensor *y = tg_tensor_alloc(t, outs[i]->dtype, outs[i]->ndim, outs[i]->shape);
        if (!y) break;
        kern_copy(y->dtype, y->data, y->strides, outs[i]->dtype, outs[i]->data, outs[i]->strides,
                  y->ndim, y->shape);
        if (!tg_record(t, &op_recompute, y, n_ext, ext)) break;
        if (y->node) {
            if (!saved) {
                saved = tg_node_save_space(t, y->node, sizeof seg);
                if (!saved) break;
            } else {
                y->node->saved = saved;
                y->node->saved_bytes = sizeof seg;
            }
        }
        made[i] = y;
        seg.outputs[i] = y;
    }
    tg_tape_reset(s);
    if (k < 0 || t->status != TG_OK) return -1;
    seg.n_outputs = k;
    if (saved) memcpy(saved, &seg, sizeof seg);
    for (int i = 0; i < k; i++) outputs[i] = made[i];
    return k;
}

/* The first of the segment's output nodes the sweep reaches replays it (the others find it
 * done): every output's gradient is complete by then, all their consumers being newer. */
static void recompute_backward(tg_tape *t, const tg_node *n, tg_tensor *g, tg_tensor **grads) {
    (void)g;
    (void)grads;
    segment *seg = (segment *)(uintptr_t)n->saved;
    uint64_t epoch = t->running_epoch;
    if (!seg || seg->swept_in == epoch) return;
    if (t->grad_enabled) {
        tg_fail(t, TG_ERR_NOGRAD, "recompute: a second-order sweep (TG_CREATE_GRAPH) cannot go "
                "through a recomputed segment: the gradient would be recorded on the scratch "
                "tape, which is forgotten; record that part without tg_recompute");
        return;
    }
    tg_tape *s = t->scratch;
    if (!s || !epoch) {
        tg_fail(t, TG_ERR_ARG, "recompute: the segment's scratch tape is gone");
        return;
    }
    tg_tensor *gouts[TG_RECOMPUTE_MAX_OUTPUTS], *outs[TG_RECOMPUTE_MAX_OUTPUTS];
    for (int i = 0; i < seg->n_outputs; i++)
        gouts[i] = tg_sweep_in_flight(seg->outputs[i], epoch);
    tg_tape_reset(s);
    s->anomaly = s->anomaly_forward = t->anomaly;
    bool was_enabled = s->grad_enabled;
    s->grad_enabled = true;
    int k = run(t, s, seg, outs, TG_RECOMPUTE_MAX_OUTPUTS, "when replayed in the sweep");
    s->grad_enabled = was_enabled;
    if (k < 0) {
        tg_tape_reset(s);
        return;
    }
    char ws[TG_SHAPE_STR_MAX], gs[TG_SHAPE_STR_MAX];
    for (int i = 0; i < k || i < seg->n_outputs; i++) {
        const tg_tensor *a = i < seg->n_outputs ? seg->outputs[i] : NULL;
        const tg_tensor *b = i < k ? outs[i] : NULL;
        if (!a || !b || a->dtype != b->dtype || !tg_same_shape(a, b)) {
            tg_fail(t, TG_ERR_SHAPE, "recompute: the segment computed something else when "
                    "replayed: output %d was %s %s, is %s %s (a segment must run the same ops "
                    "each time)", i, a ? tg_dtype_name(a->dtype) : "missing",
                    a ? tg_shape_str(a, ws, sizeof ws) : "", b ? tg_dtype_name(b->dtype) :
                    "missing", b ? tg_shape_str(b, gs, sizeof gs) : "");
            tg_tape_reset(s);
            return;
        }
    }
    tg_status st = tg_sweep_segment(s, epoch, k, outs, gouts);
    if (st != TG_OK) tg_fail(t, st, "recompute: sweeping the segment back failed: %s", s->error);
    tg_tape_reset(s);
    seg->swept_in = epoch;
}

size_t tg_tape_bytes_peak(const tg_tape *t) {
    if (!t) return 0;
    return t->arena.high_water + (t->scratch ? t->scratch->arena.high_water : 0);
}
