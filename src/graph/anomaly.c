/* anomaly.c: anomaly mode, which turns the first NaN or infinity a step produces into the
 * tape's error (TG_ERR_NONFINITE) naming the op, its inputs' shapes, whether it appeared in the
 * forward pass or in the sweep, and (appended by error.c) the forward call's site and scope: in
 * the sweep both are the checked node's.
 *
 * The blame rule: a value is reported where it is made, not where it is passed on. A forward
 * result is checked in tg_record; when it is non-finite and all of its inputs are finite, the op
 * made it. When an input was non-finite already, the op only passed it on and is not blamed,
 * except that an input leaf (data or a parameter) holding NaN is reported at the first op it
 * makes non-finite, since no op before it could be; a view of a leaf counts as its first use.
 * Infinite leaves are allowed (masks of -inf), and so are infinities made by an op whose fill or
 * constant is infinite (tg_note_fattr): such an op is blamed only for NaN.
 * In the sweep every gradient a rule returns is checked; the gradient the rule was handed is
 * finite (it was checked when made), so a non-finite result is the rule's. Sums the sweep forms
 * itself (several contributions to one tensor, a parameter's accumulated gradient) are checked
 * as such. Nothing here runs unless the tape's anomaly flag is set. */
#include <stdio.h>
#include <string.h>

#include "graph.h"
#include "../ops/kernels/kernels.h"

bool tg_tape_set_anomaly(tg_tape *t, bool on) {
    if (!t) return false;
    bool prev = t->anomaly;
    t->anomaly = on;
    t->anomaly_forward = on;
    return prev;
}

bool tg_tape_anomaly(const tg_tape *t) { return t && t->anomaly; }

static void count(const tg_tensor *x, int64_t counts[2]) {
    kern_count_nonfinite(x->dtype, x->ndim, x->shape, x->data, x->strides, counts);
}

/* "(2, 3) and (3,)" into buf. */
static const char *input_shapes(int n, tg_tensor *const *inputs, char *buf, size_t size) {
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < n && used < size; i++) {
        char s[TG_SHAPE_STR_MAX];
        int k = snprintf(buf + used, size - used, "%s%s", i == 0 ? "" : i == n - 1 ? " and " : ", ",
                         tg_shape_str(inputs[i], s, sizeof s));
        if (k > 0) used += (size_t)k;
    }
    return buf;
}

static const char *role_name(const tg_tensor *x) {
    switch (x->role) {
    case TG_ROLE_PARAM: return "parameter";
    case TG_ROLE_BUFFER: return "buffer";
    default: return "input";
    }
}

bool tg_anomaly_forward(tg_tape *t, const tg_op_desc *op, const tg_tensor *out, int n_inputs,
                        tg_tensor *const *inputs) {
    int64_t c[2];
    count(out, c);
    if (c[0] + c[1] == 0) return true;
    char shapes[6 * TG_SHAPE_STR_MAX], xs[TG_SHAPE_STR_MAX];
    bool passed_on = false;
    for (int i = 0; i < n_inputs; i++) {
        const tg_tensor *x = inputs[i];
        if (!x) continue;
        int64_t ci[2];
        count(x, ci);
        if (ci[0] + ci[1] == 0) continue;
        passed_on = true;
        if (x->role == TG_ROLE_INTERMEDIATE || ci[0] == 0) continue;
        tg_fail_status(t, TG_ERR_NONFINITE,
                       "anomaly in forward: input %d of %s, the %s%s%s%s %s, holds %lld NaN: it "
                       "came from outside the tape (data, or a parameter an earlier step wrote)",
                       i, op->name, role_name(x), x->name[0] ? " '" : "", x->name,
                       x->name[0] ? "'" : "", tg_shape_str(x, xs, sizeof xs), (long long)ci[0]);
        return false;
    }
    if (passed_on) return true;
    /* A fill or constant of +-inf (pad with -inf, x + -inf) makes infinities on purpose; NaN
     * from it (inf - inf) is still made by the op. */
    if (t->attr_nonfinite && c[0] == 0) return true;
    tg_fail_status(t, TG_ERR_NONFINITE,
                   "anomaly in forward: %s made %lld NaN and %lld Inf (result %s) from finite "
                   "inputs %s",
                   op->name, (long long)c[0], (long long)c[1], tg_shape_str(out, xs, sizeof xs),
                   input_shapes(n_inputs, inputs, shapes, sizeof shapes));
    return false;
}

bool tg_anomaly_backward(tg_tape *t, const tg_node *n, tg_tensor *const *grads) {
    for (int i = 0; i < n->n_inputs; i++) {
        if (!grads[i]) continue;
        int64_t c[2];
        count(grads[i], c);
        if (c[0] + c[1] == 0) continue;
        char shapes[6 * TG_SHAPE_STR_MAX], gs[TG_SHAPE_STR_MAX];
        tg_fail_status(t, TG_ERR_NONFINITE,
                       "anomaly in backward: the rule of %s gave %lld NaN and %lld Inf in the "
                       "gradient %s of input %d from a finite output gradient; inputs %s",
                       n->op->name, (long long)c[0], (long long)c[1],
                       tg_shape_str(grads[i], gs, sizeof gs), i,
                       input_shapes(n->n_inputs, n->inputs, shapes, sizeof shapes));
        return false;
    }
    return true;
}

bool tg_anomaly_gradient(tg_tape *t, const tg_tensor *g, const char *what) {
    int64_t c[2];
    count(g, c);
    if (c[0] + c[1] == 0) return true;
    char gs[TG_SHAPE_STR_MAX];
    tg_fail_status(t, TG_ERR_NONFINITE, "anomaly in backward: %s %s holds %lld NaN and %lld Inf",
                   what, tg_shape_str(g, gs, sizeof gs), (long long)c[0], (long long)c[1]);
    return false;
}
