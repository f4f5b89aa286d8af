/* custom.c: ops defined by user code (tapegrad/custom_op.h), recorded as one node each.
 *
 * A tg_custom_op starts with a tg_op_desc whose backward is custom_backward, so a node of it
 * looks to the sweep, the DOT export and the registry like any op's node; custom_backward finds
 * the user's callbacks again from the descriptor's address. The user's forward runs with
 * recording off, so the op is one node whatever ops the forward calls.
 *
 * Invariant: a result recorded here is a header made on the tape during this call, never an
 * input nor a tensor the caller holds otherwise, so recording it cannot turn a leaf into an op
 * result. A forward (or a first-order backward) that hands back an existing tensor gets a new
 * view header of it.
 *
 * Lifetime: an op is counted (refs): one reference is the user's, dropped by
 * tg_custom_op_free, and each tape that recorded a node of it keeps one until its reset or free
 * (tg_tape_keep), since those nodes point at the op. So freeing an op before a tape that used
 * it is reset is safe, and the sweep still finds its rule; recording a freed op is refused,
 * checked against the registry by address before the op is read. */
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "op_util.h"

struct tg_custom_op {
    tg_op_desc desc; /* first, so that a node's op pointer is the tg_custom_op's address */
    /* The op of the mark put on a first-order-only gradient made under TG_CREATE_GRAPH: its
     * rule refuses, so a sweep through that gradient fails instead of returning zero. */
    tg_op_desc marked_desc;
    tg_custom_op_def def; /* def.name points at name */
    char name[TG_CUSTOM_NAME_MAX];
    char marked_name[TG_CUSTOM_NAME_MAX + 24];
    atomic_int refs; /* the user's handle plus one per tape keeping the op */
};

static const tg_custom_op *op_of_marked(const tg_op_desc *d) {
    return (const tg_custom_op *)(const void *)((const char *)d -
                                                offsetof(tg_custom_op, marked_desc));
}

/* ---- describing an op ---- */

static bool name_ok(const char *name) {
    size_t n = strlen(name);
    if (n == 0 || n >= TG_CUSTOM_NAME_MAX) return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '.' || c == '-';
        if (!ok) return false;
    }
    return true;
}

static tg_status def_problem(const tg_custom_op_def *def, tg_error *err) {
    if (!def) return tg_error_set(err, TG_ERR_NULL, "custom op: the definition is NULL");
    if (!def->name) return tg_error_set(err, TG_ERR_NULL, "custom op: the name is NULL");
    if (!name_ok(def->name))
        return tg_error_set(err, TG_ERR_ARG,
                            "custom op: the name '%.*s' is not 1 to %d letters, digits, '_', "
                            "'.' or '-'",
                            TG_CUSTOM_NAME_MAX + 8, def->name, TG_CUSTOM_NAME_MAX - 1);
    const char *name = def->name;
    if (!def->forward)
        return tg_error_set(err, TG_ERR_NULL, "custom op '%s': the forward callback is NULL",
                            name);
    if (!def->backward)
        return tg_error_set(err, TG_ERR_NULL, "custom op '%s': the backward callback is NULL",
                            name);
    if (def->n_inputs < 1 || def->n_inputs > TG_CUSTOM_MAX_INPUTS)
        return tg_error_set(err, TG_ERR_ARG, "custom op '%s': n_inputs is %d, not 1 to %d",
                            name, def->n_inputs, TG_CUSTOM_MAX_INPUTS);
    unsigned known = TG_CUSTOM_SMOOTH | TG_CUSTOM_FIRST_ORDER;
    if (def->flags & ~known)
        return tg_error_set(err, TG_ERR_ARG, "custom op '%s': unknown flags 0x%x", name,
                            def->flags & ~known);
    if ((def->flags & TG_CUSTOM_SMOOTH) && (def->flags & TG_CUSTOM_FIRST_ORDER))
        return tg_error_set(err, TG_ERR_ARG,
                            "custom op '%s': TG_CUSTOM_SMOOTH promises second derivatives, which "
                            "a TG_CUSTOM_FIRST_ORDER backward cannot give",
                            name);
    return TG_OK;
}

static void custom_backward(tg_tape *t, const tg_node *n, tg_tensor *g, tg_tensor **grads);
static void marked_backward(tg_tape *t, const tg_node *n, tg_tensor *g, tg_tensor **grads);

tg_custom_op *tg_custom_op_new(const tg_custom_op_def *def, tg_error *err) {
    if (def_problem(def, err) != TG_OK) return NULL;
    tg_custom_op *op = tg_alloc(sizeof *op);
    if (!op) {
        tg_error_set(err, TG_ERR_NOMEM, "custom op '%s': out of memory", def->name);
        return NULL;
    }
    memset(op, 0, sizeof *op);
    atomic_init(&op->refs, 1);
    snprintf(op->name, sizeof op->name, "%s", def->name);
    snprintf(op->marked_name, sizeof op->marked_name, "%s.first_order_grad", def->name);
    op->def = *def;
    op->def.name = op->name;
    op->desc = (tg_op_desc){op->name, def->n_inputs, custom_backward, NULL,
                            (def->flags & TG_CUSTOM_SMOOTH) ? TG_OPF_SMOOTH : 0u};
    op->marked_desc = (tg_op_desc){op->marked_name, def->n_inputs + 1, marked_backward, NULL, 0};
    if (tg_op_register(&op->desc, err) != TG_OK) {
        tg_free(op);
        return NULL;
    }
    return op;
}

static void release_op(void *obj) {
    tg_custom_op *op = obj;
    if (atomic_fetch_sub(&op->refs, 1) == 1) tg_free(op);
}

void tg_custom_op_free(tg_custom_op *op) {
    if (!op) return;
    tg_op_unregister(&op->desc);
    release_op(op);
}

/* Makes t keep a reference on op (once per tape) before a node of it is recorded there; false with the error
 * on t when out of memory. The count is the only field changed through the const pointer. */
static bool keep_op(tg_tape *t, const tg_custom_op *op) {
    tg_custom_op *held = (tg_custom_op *)op;
    if (tg_tape_keeps(t, held)) return true;
    atomic_fetch_add(&held->refs, 1);
    if (tg_tape_keep(t, held, release_op)) return true;
    release_op(held);
    return false;
}

const char *tg_custom_op_name(const tg_custom_op *op) { return op ? op->name : ""; }

/* ---- recording it ---- */

/* x itself when it was made on t since `mark` (the tensor count when the callback started),
 * otherwise a new view header of it, so that tg_record never marks an existing tensor. */
static tg_tensor *fresh(tg_tape *t, tg_tensor *x, int64_t mark) {
    if (x->tape == t && x->gen == t->gen && x->id >= mark) return x;
    return tg_tensor_view(t, x, x->ndim, x->shape, x->strides, 0);
}

/* "(2, 3), (3)" for the inputs' shapes, into buf. */
static const char *shapes_str(int n, tg_tensor *const *inputs, char *buf, size_t size) {
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < n && used < size; i++) {
        char s[TG_SHAPE_STR_MAX];
        int w = snprintf(buf + used, size - used, "%s%s", i ? ", " : "",
                         tg_shape_str(inputs[i], s, sizeof s));
        if (w < 0) break;
        used += (size_t)w;
    }
    return buf;
}

/* The result's promised shape into (*ndim, shape), or false with the error kept on t. */
static bool promised_shape(tg_tape *t, const tg_custom_op *op, tg_tensor *const *inputs,
                           int *ndim, int64_t *shape) {
    *ndim = inputs[0]->ndim;
    memcpy(shape, inputs[0]->shape, (size_t)inputs[0]->ndim * sizeof *shape);
    if (!op->def.shape) return true;
    *ndim = -1;
    bool ok = op->def.shape(inputs, ndim, shape, op->def.ctx);
    for (int i = 0; ok && i < *ndim && i < TG_MAX_DIMS; i++) ok = shape[i] >= 0;
    if (ok && *ndim >= 0 && *ndim <= TG_MAX_DIMS) return true;
    char s[4 * TG_SHAPE_STR_MAX];
    tg_fail(t, TG_ERR_SHAPE, "%s: the op's shape rule refused the inputs %s%s", op->name,
            shapes_str(op->def.n_inputs, inputs, s, sizeof s),
            ok ? " (it gave a rank out of range)" : "");
    return false;
}

tg_tensor *tg_custom_at(tg_tape *t, const char *file, int line, const tg_custom_op *op,
                        tg_tensor *const *inputs, int n_inputs) {
    if (!t) return NULL;
    tg_tape_set_site(t, file, line);
    if (!op) return tg_fail(t, TG_ERR_NULL, "custom: the op is NULL");
    if (!tg_op_is_custom_registered((const tg_op_desc *)(const void *)op))
        return tg_fail(t, TG_ERR_ARG,
                       "custom: the op is not registered: it was freed by tg_custom_op_free, or "
                       "was not made by tg_custom_op_new");
    if (n_inputs != op->def.n_inputs)
        return tg_fail(t, TG_ERR_ARG, "%s: takes %d input%s, given %d", op->name,
                       op->def.n_inputs, op->def.n_inputs == 1 ? "" : "s", n_inputs);
    if (!inputs) return tg_fail(t, TG_ERR_NULL, "%s: the array of inputs is NULL", op->name);
    if (!tg_op_enter(t, file, line, op->name, n_inputs, inputs)) return NULL;
    int ndim;
    int64_t shape[TG_MAX_DIMS];
    if (!promised_shape(t, op, inputs, &ndim, shape)) return NULL;

    /* The forward's own ops set the site to their lines; errors found here name the caller's. */
    const char *site_file = t->site_file;
    int site_line = t->site_line;
    int64_t mark = t->n_tensors;
    bool was_enabled = tg_tape_set_grad_enabled(t, false);
    tg_tensor *out = op->def.forward(t, inputs, op->def.ctx);
    tg_tape_set_grad_enabled(t, was_enabled);
    t->site_file = site_file;
    t->site_line = site_line;
    if (t->status != TG_OK) return NULL;
    if (!out)
        return tg_fail(t, TG_ERR_NULL, "%s: the forward returned NULL without an error",
                       op->name);
    if (!tg_tensor_is_current(t, out))
        return tg_fail(t, TG_ERR_STALE, "%s: the forward returned a stale tensor", op->name);
    char os[TG_SHAPE_STR_MAX], ws[TG_SHAPE_STR_MAX];
    if (out->dtype != inputs[0]->dtype)
        return tg_fail(t, TG_ERR_DTYPE, "%s: the forward returned %s %s for %s inputs",
                       op->name, tg_dtype_name(out->dtype), tg_shape_str(out, os, sizeof os),
                       tg_dtype_name(inputs[0]->dtype));
    if (out->ndim != ndim || memcmp(out->shape, shape, (size_t)ndim * sizeof *shape) != 0)
        return tg_fail(t, TG_ERR_SHAPE, "%s: the forward returned shape %s, the op promises %s",
                       op->name, tg_shape_str(out, os, sizeof os),
                       tg_dims_str(ndim, shape, ws, sizeof ws));
    out = fresh(t, out, mark);
    if (!out) return NULL;
    if (t->grad_enabled && !keep_op(t, op)) return NULL;
    return tg_record(t, &op->desc, out, n_inputs, inputs);
}

/* ---- its rule ---- */

/* Under TG_CREATE_GRAPH, a first-order-only gradient is recorded as the result of the op's
 * marked_desc, with the output gradient and the op's inputs as inputs: a sweep that reaches it
 * is one that differentiates the gradient, and its rule refuses. */
static bool mark_first_order(tg_tape *t, const tg_custom_op *op, const tg_node *n, tg_tensor *g,
                             int i, tg_tensor **grads, int64_t mark) {
    tg_tensor *gi = fresh(t, grads[i], mark);
    if (!gi) return false;
    tg_tensor *ins[1 + TG_CUSTOM_MAX_INPUTS];
    ins[0] = g;
    for (int k = 0; k < n->n_inputs; k++) ins[1 + k] = n->inputs[k];
    if (!keep_op(t, op)) return false;
    if (!tg_record(t, &op->marked_desc, gi, 1 + n->n_inputs, ins)) return false;
    grads[i] = gi;
    return true;
}

static void custom_backward(tg_tape *t, const tg_node *n, tg_tensor *g, tg_tensor **grads) {
    const tg_custom_op *op = (const tg_custom_op *)(const void *)n->op;
    bool first_order = (op->def.flags & TG_CUSTOM_FIRST_ORDER) != 0;
    bool creating = t->grad_enabled;
    const char *site_file = t->site_file;
    int site_line = t->site_line;
    int64_t mark = t->n_tensors;
    if (first_order) tg_tape_set_grad_enabled(t, false); /* its ops would record in vain */
    op->def.backward(t, n->inputs, n->out, g, grads, op->def.ctx);
    tg_tape_set_grad_enabled(t, creating);
    t->site_file = site_file;
    t->site_line = site_line;
    if (t->status != TG_OK) return;
    for (int i = 0; i < n->n_inputs; i++) {
        if (!tg_node_needs_grad(n, i)) {
            grads[i] = NULL;
            continue;
        }
        if (!grads[i]) {
            tg_fail(t, TG_ERR_NOGRAD,
                    "%s: the backward gave no gradient for input %d, which requires one",
                    op->name, i);
            return;
        }
        if (!tg_tensor_is_current(t, grads[i])) {
            tg_fail(t, TG_ERR_STALE, "%s: the backward gave a stale tensor for input %d",
                    op->name, i);
            return;
        }
        if (first_order && creating && !mark_first_order(t, op, n, g, i, grads, mark)) return;
    }
}

static void marked_backward(tg_tape *t, const tg_node *n, tg_tensor *g, tg_tensor **grads) {
    (void)g, (void)grads;
    tg_fail(t, TG_ERR_NOGRAD,
            "%s: its backward is numeric (TG_CUSTOM_FIRST_ORDER), so its gradient cannot be "
            "differentiated again; second derivatives need a backward made of ops",
            op_of_marked(n->op)->name);
}
