/* backward.c: the one generic reverse sweep. It walks the tape from the output's node back to
 * the first node, hands each visited node's output gradient to that op's backward rule from
 * the registry, and sums what the rule returns into the inputs' gradients. It knows no op by
 * name (CONTRIBUTING S5.4).
 *
 * Gradients in flight are kept on the tensors (sweep_grad), tagged with a number unique to the
 * sweep, so nothing needs clearing between sweeps and stale values are never read.
 *
 * With a gradient hook on the tape, each leaf is deposited as soon as the walk passes the oldest
 * node that uses it (no older node can add to it), and the hook hears of each parameter there. */
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "graph.h"
#include "../ops/kernels/kernels.h"

static atomic_uint_fast64_t sweep_counter;

static tg_tensor *in_flight(const tg_tensor *x, uint64_t epoch) {
    return x->sweep_epoch == epoch ? x->sweep_grad : NULL;
}

tg_tensor *tg_sweep_in_flight(const tg_tensor *x, uint64_t epoch) {
    return x && epoch ? in_flight(x, epoch) : NULL;
}

/* Adds g into x's in-flight gradient. When the sweep records (create_graph) the sum is an op,
 * so that it is differentiable too. Otherwise the first sum is a new tensor that belongs to x
 * alone, and later contributions are added into it in place: a rule's own result may be shared
 * (add hands its output gradient to both inputs, the seed is the caller's), so only a sum the
 * sweep made itself is ever written to. An RNN's weight gets one contribution per time step;
 * without this each one cost a weight-sized tensor. */
static tg_status accumulate(tg_tape *t, const tg_node *n, int input, tg_tensor *x, tg_tensor *g,
                            uint64_t epoch) {
    char xs[TG_SHAPE_STR_MAX], gs[TG_SHAPE_STR_MAX];
    if (!g)
        return tg_fail_status(t, TG_ERR_NOGRAD, "backward of %s gave no gradient for input %d",
                              n ? n->op->name : "output", input);
    if (!tg_same_shape(x, g) || x->dtype != g->dtype)
        return tg_fail_status(t, TG_ERR_SHAPE,
                              "backward of %s gave a %s %s gradient for input %d of %s %s",
                              n ? n->op->name : "output", tg_dtype_name(g->dtype),
                              tg_shape_str(g, gs, sizeof gs), input, tg_dtype_name(x->dtype),
                              tg_shape_str(x, xs, sizeof xs));
    tg_tensor *cur = in_flight(x, epoch);
    bool owned = false;
    if (t->home && x->tape != t) {
        /* A segment's sweep reaching a tensor that outlives the scratch tape: the sum goes on
         * the home tape. A first contribution is copied there (exactly), owned, so that later
         * ones are added in place into it, as the home sweep's own sum would be. */
        tg_tape *home = t->home;
        if (cur && !x->sweep_grad_owned) {
            g = tg_add(home, cur, g);
        } else if (!cur) {
            tg_tensor *copy = tg_tensor_alloc(home, g->dtype, g->ndim, g->shape);
            if (copy)
                kern_copy(g->dtype, copy->data, copy->strides, g->dtype, g->data, g->strides,
                          g->ndim, g->shape);
            g = copy;
        }
        if (!g) return tg_fail_status(t, home->status, "%s", home->error);
        if (cur && x->sweep_grad_owned) {
            kern_binary(KERN_ADD, cur->dtype, cur->ndim, cur->shape, cur->data, cur->data,
                        cur->strides, g->data, g->strides);
            return TG_OK;
        }
        x->sweep_grad = g;
        x->sweep_epoch = epoch;
        x->sweep_grad_owned = true;
        return TG_OK;
    }
    if (cur && x->sweep_grad_owned && !t->grad_enabled) {
        kern_binary(KERN_ADD, cur->dtype, cur->ndim, cur->shape, cur->data, cur->data,
                    cur->strides, g->data, g->strides);
        return TG_OK;
    }
    if (cur) {
        g = tg_add(t, cur, g);
        if (!g) return t->status;
        owned = true;
    }
    x->sweep_grad = g;
    x->sweep_epoch = epoch;
    x->sweep_grad_owned = owned;
    return TG_OK;
}

/* "<prefix> the parameter 'w'" into buf, naming the leaf a deposit check is about. */
static void leaf_what(const tg_tensor *x, const char *prefix, char *buf, size_t size) {
    const char *role = x->role == TG_ROLE_PARAM ? "parameter" : "input";
    if (x->name[0])
        snprintf(buf, size, "%s the %s '%s'", prefix, role, x->name);
    else
        snprintf(buf, size, "%s an unnamed %s", prefix, role);
}

/* Leaves keep what sweeps give them: a parameter adds it, numerically, to its persistent
 * gradient; a leaf on the tape sums it into its tape-owned gradient. */
static tg_status deposit(tg_tape *t, tg_tensor *x, uint64_t epoch) {
    tg_tensor *g = in_flight(x, epoch);
    if (!g) return TG_OK;
    x->sweep_epoch = 0; /* deposited once even when x feeds several nodes */
    char what[TG_NAME_MAX + 96];
    if (t->anomaly && x->sweep_grad_owned) {
        leaf_what(x, "the sum of the gradients reaching", what, sizeof what);
        if (!tg_anomaly_gradient(t, g, what)) return t->status;
    }
    if (x->role == TG_ROLE_PARAM && x->grad) {
        tg_tensor *acc = x->grad;
        if (acc->zero_pending) { /* zeroed by tg_store_zero_grad: this is the whole sum */
            if (g->data != acc->data) /* else a rule wrote it in place (tg_sweep_grad_target) */
                kern_copy(acc->dtype, acc->data, acc->strides, g->dtype, g->data, g->strides,
                          acc->ndim, acc->shape);
            acc->zero_pending = false;
        } else {
            kern_binary(KERN_ADD, acc->dtype, acc->ndim, acc->shape, acc->data, acc->data,
                        acc->strides, g->data, g->strides);
        }
    } else {
        if (x->grad) {
            g = tg_add(t, x->grad, g);
            if (!g) return t->status;
        }
        x->grad = g;
    }
    /* The gradient it held plus this sweep's finite one: it held NaN/Inf, or the sum overflowed. */
    if (t->anomaly) {
        leaf_what(x, "the accumulated gradient of", what, sizeof what);
        if (!tg_anomaly_gradient(t, x->grad, what)) return t->status;
    }
    if (t->grad_hook && x->role == TG_ROLE_PARAM) {
        tg_status st = t->grad_hook(t->grad_hook_ctx, x);
        if (st != TG_OK) {
            leaf_what(x, "backward: the gradient hook failed for", what, sizeof what);
            return tg_fail_status(t, st, "%s (%s)", what, tg_status_string(st));
        }
    }
    return TG_OK;
}

tg_tensor *tg_sweep_grad_target(tg_tape *t, const tg_tensor *x) {
    if (!t || !x || !t->running_epoch || !t->sweep_deposits || t->grad_enabled || t->anomaly ||
        t->grad_hook || t->node_hook || t->home)
        return NULL;
    tg_tensor *acc = x->grad;
    if (x->node || x->role != TG_ROLE_PARAM || !acc || !acc->zero_pending ||
        acc->dtype != x->dtype || !tg_same_shape(acc, x) || !tg_tensor_is_contiguous(acc) ||
        in_flight(x, t->running_epoch))
        return NULL;
    return tg_tensor_view(t, acc, acc->ndim, acc->shape, acc->strides, 0);
}

void tg_tape_set_grad_hook(tg_tape *t, tg_grad_hook fn, void *ctx) {
    if (!t) return;
    t->grad_hook = fn;
    t->grad_hook_ctx = fn ? ctx : NULL;
}

void tg_tape_set_node_hook(tg_tape *t, tg_node_hook fn, void *ctx) {
    if (!t) return;
    t->node_hook = fn;
    t->node_hook_ctx = fn ? ctx : NULL;
}

/* Marks each leaf input's oldest use in the walk from `from`: the last node to visit writes. */
static void mark_final_uses(tg_node *from, uint64_t epoch) {
    for (tg_node *n = from; n; n = n->prev)
        for (int i = 0; i < n->n_inputs; i++) {
            tg_tensor *x = n->inputs[i];
            if (x && !x->node) {
                x->final_use = n;
                x->final_use_epoch = epoch;
            }
        }
}

/* Deposits the leaves whose oldest use is n, as tg_tape_backward's own deposits do: under no
 * call site nor scope, since a leaf has neither. */
static tg_status deposit_final(tg_tape *t, const tg_node *n, uint64_t epoch) {
    const char *file = t->site_file;
    int line = t->site_line;
    int32_t scope = t->scope;
    t->site_file = NULL;
    t->scope = 0;
    tg_status s = TG_OK;
    for (int i = 0; i < n->n_inputs && s == TG_OK; i++) {
        tg_tensor *x = n->inputs[i];
        if (x && !x->node && x->final_use_epoch == epoch && x->final_use == n)
            s = deposit(t, x, epoch);
    }
    t->site_file = file;
    t->site_line = line;
    t->scope = scope;
    return s;
}

typedef struct sweep_request {
    tg_tensor *out;
    tg_tensor *grad_out;
    unsigned flags;
    bool deposit;    /* tg_tape_backward: fill .grad; tg_tape_grad: leave it alone */
    const char *api; /* for messages */
} sweep_request;

static tg_status output_problem(tg_tape *t, const sweep_request *r) {
    char os[TG_SHAPE_STR_MAX], gs[TG_SHAPE_STR_MAX];
    if (!r->out)
        return tg_fail_status(t, TG_ERR_NULL, "%s: output is NULL (did an earlier op fail?)",
                              r->api);
    if (!r->out->requires_grad)
        return tg_fail_status(t, TG_ERR_NOGRAD,
                              "%s: the output %s does not require a gradient: no parameter or "
                              "input with requires_grad reaches it (or recording was off)",
                              r->api, tg_shape_str(r->out, os, sizeof os));
    if (!r->grad_out && tg_tensor_numel(r->out) != 1)
        return tg_fail_status(t, TG_ERR_NOGRAD,
                              "%s: the output has shape %s; a non-scalar output needs an "
                              "explicit output gradient",
                              r->api, tg_shape_str(r->out, os, sizeof os));
    if (r->grad_out && (!tg_same_shape(r->out, r->grad_out) ||
                        r->out->dtype != r->grad_out->dtype))
        return tg_fail_status(t, tg_same_shape(r->out, r->grad_out) ? TG_ERR_DTYPE : TG_ERR_SHAPE,
                              "%s: output gradient %s %s does not match output %s %s", r->api,
                              tg_dtype_name(r->grad_out->dtype),
                              tg_shape_str(r->grad_out, gs, sizeof gs),
                              tg_dtype_name(r->out->dtype),
                              tg_shape_str(r->out, os, sizeof os));
    return TG_OK;
}

/* Stale tensors are refused before anything else of them is read (their node pointer may be
 * a newer tensor's data). */
static tg_status stale(tg_tape *t, const char *api, const char *what, const tg_tensor *x) {
    if (!x || tg_tensor_is_current(t, x)) return TG_OK;
    return tg_fail_status(t, TG_ERR_STALE, "%s: %s is a stale tensor, made before the last "
                          "tg_tape_reset of its tape (or on a tape since freed)", api, what);
}

static tg_status check_request(tg_tape *t, const sweep_request *r) {
    if (t->status != TG_OK) return t->status;
    tg_status st = stale(t, r->api, "the output", r->out);
    if (st == TG_OK) st = stale(t, r->api, "the output gradient", r->grad_out);
    if (st != TG_OK) return st;
    /* Errors about the output name the line that made it (no line for a leaf), not whichever
     * op ran last: the sweep's own caller is unknown, tg_tape_backward being a function. */
    const char *file = t->site_file;
    int line = t->site_line;
    t->site_file = r->out && r->out->node ? r->out->node->file : NULL;
    t->site_line = r->out && r->out->node ? r->out->node->line : 0;
    tg_status s = output_problem(t, r);
    if (s == TG_OK) {
        t->site_file = file;
        t->site_line = line;
    }
    return s;
}

static tg_status visit(tg_tape *t, tg_node *n, uint64_t epoch, const sweep_request *r) {
    tg_tensor *g = in_flight(n->out, epoch);
    if (!g) return TG_OK; /* not on a path to the output */
    t->site_file = n->file; /* errors about the node or in its rule name its forward call */
    t->site_line = n->line;
    /* and run under its scope, so the rule's nodes join its cluster; a node of another tape
     * (a sweep started from its tensor) has an index into that tape's table, not t's */
    t->scope = n->out->tape == t ? n->scope : 0;
    if (n->released)
        return tg_fail_status(t, TG_ERR_RELEASED,
                              "%s: node %lld (%s) was released by an earlier backward; pass "
                              "TG_RETAIN_GRAPH to that backward to sweep the graph again",
                              r->api, (long long)n->id, n->op->name);
    if (!n->op->backward)
        return tg_fail_status(t, TG_ERR_NOGRAD, "%s: op %s has no backward rule", r->api,
                              n->op->name);
    /* A sum the sweep formed for this output was never checked; a single contribution was. */
    if (t->anomaly && n->out->sweep_grad_owned) {
        char what[96];
        snprintf(what, sizeof what, "the sum of the gradients reaching the output of %s",
                 n->op->name);
        if (!tg_anomaly_gradient(t, g, what)) return t->status;
    }
    if (r->deposit) n->out->grad = g;
    t->last_sweep_visits++;
    tg_tensor *small[TG_MAX_INPUTS] = {NULL};
    tg_tensor **grads = small;
    if (n->n_inputs > TG_MAX_INPUTS) {
        grads = tg_arena_alloc(&t->arena, (size_t)n->n_inputs * sizeof *grads);
        if (!grads) return tg_fail_status(t, TG_ERR_NOMEM, "%s: out of memory", r->api);
        for (int i = 0; i < n->n_inputs; i++) grads[i] = NULL;
    }
    n->op->backward(t, n, g, grads);
    if (t->status != TG_OK) return t->status;
    if (n->op->flags & TG_OPF_OWN_SWEEP) {
        if (!(r->flags & (TG_RETAIN_GRAPH | TG_CREATE_GRAPH))) n->released = true;
        return TG_OK; /* its rule has summed its inputs' gradients already */
    }
    if (t->anomaly && !tg_anomaly_backward(t, n, grads)) return t->status;
    for (int i = 0; i < n->n_inputs; i++) {
        if (!tg_node_needs_grad(n, i)) continue;
        tg_status s = accumulate(t, n, i, n->inputs[i], grads[i], epoch);
        if (s != TG_OK) return s;
    }
    if (!(r->flags & (TG_RETAIN_GRAPH | TG_CREATE_GRAPH))) n->released = true;
    return TG_OK;
}

/* Runs one sweep; on success every tensor on a path holds its in-flight gradient under the
 * returned epoch (0 on error). */
static uint64_t sweep(tg_tape *t, const sweep_request *r) {
    if (check_request(t, r) != TG_OK) return 0;
    uint64_t epoch = atomic_fetch_add(&sweep_counter, 1) + 1;
    t->last_sweep_visits = 0;
    const char *site_file = t->site_file;
    int site_line = t->site_line;
    int32_t scope = t->scope;
    bool was_enabled = t->grad_enabled;
    t->grad_enabled = (r->flags & TG_CREATE_GRAPH) != 0;
    /* The rules' own ops are checked as the rules' results, not as forward ops. */
    t->anomaly_forward = false;

    tg_tensor *seed = r->grad_out;
    if (!seed) seed = tg_full(t, r->out->dtype, r->out->ndim, r->out->shape, 1.0);
    tg_status s = seed ? TG_OK : t->status;
    if (s == TG_OK && t->anomaly && r->grad_out &&
        !tg_anomaly_gradient(t, seed, "the output gradient given to the sweep"))
        s = t->status;
    if (s == TG_OK) {
        r->out->sweep_grad = seed;
        r->out->sweep_epoch = epoch;
        r->out->sweep_grad_owned = false;
    }
    bool early = r->deposit && t->grad_hook;
    if (early) mark_final_uses(r->out->node, epoch);
    bool hooked = r->deposit && t->node_hook;
    /* Nodes recorded after out's node cannot reach it; the rules' own nodes are among them. */
    uint64_t outer = t->running_epoch; /* a sweep started inside a rule (gradcheck's) */
    bool outer_deposits = t->sweep_deposits;
    t->running_epoch = epoch;
    t->sweep_deposits = r->deposit;
    for (tg_node *n = r->out->node; n && s == TG_OK; n = n->prev) {
        int64_t before = t->last_sweep_visits;
        s = visit(t, n, epoch, r);
        if (s == TG_OK && early) s = deposit_final(t, n, epoch);
        if (s == TG_OK && hooked && t->last_sweep_visits != before) {
            s = t->node_hook(t->node_hook_ctx, t->last_sweep_visits);
            if (s != TG_OK)
                s = tg_fail_status(t, s, "backward: the node hook failed after %s (%s)",
                                   n->op->name, tg_status_string(s));
        }
    }
    t->running_epoch = outer;
    t->sweep_deposits = outer_deposits;
    t->grad_enabled = was_enabled;
    t->anomaly_forward = t->anomaly;
    t->site_file = site_file;
    t->site_line = site_line;
    t->scope = scope;
    return s == TG_OK ? epoch : 0;
}

tg_status tg_tape_backward(tg_tape *t, tg_tensor *out, tg_tensor *grad_out, unsigned flags) {
    if (!t) return TG_ERR_NULL;
    sweep_request r = {out, grad_out, flags, true, "backward"};
    uint64_t epoch = sweep(t, &r);
    if (!epoch) return t->status;
    bool was_enabled = tg_tape_set_grad_enabled(t, (flags & TG_CREATE_GRAPH) != 0);
    /* A leaf has no call site nor scope: errors about deposits name the leaf instead. */
    const char *site_file = t->site_file;
    int site_line = t->site_line;
    int32_t scope = t->scope;
    t->site_file = NULL;
    t->scope = 0;
    t->anomaly_forward = false;
    tg_status s = out->node ? TG_OK : deposit(t, out, epoch); /* out may itself be a leaf */
    for (tg_node *n = out->node; n && s == TG_OK; n = n->prev)
        for (int i = 0; i < n->n_inputs && s == TG_OK; i++)
            if (n->inputs[i] && !n->inputs[i]->node) s = deposit(t, n->inputs[i], epoch);
    t->anomaly_forward = t->anomaly;
    t->site_file = site_file;
    t->site_line = site_line;
    t->scope = scope;
    tg_tape_set_grad_enabled(t, was_enabled);
    t->loss = out;
    return s;
}

tg_status tg_tape_grad(tg_tape *t, tg_tensor *out, tg_tensor *grad_out, int n_inputs,
                       tg_tensor *const *inputs, tg_tensor **grads, unsigned flags) {
    if (!t) return TG_ERR_NULL;
    if (n_inputs < 0 || (n_inputs > 0 && (!inputs || !grads)))
        return tg_fail_status(t, TG_ERR_NULL, "grad: inputs or grads is NULL");
    for (int i = 0; i < n_inputs; i++) {
        grads[i] = NULL;
        if (!inputs[i]) return tg_fail_status(t, TG_ERR_NULL, "grad: input %d is NULL", i);
        if (stale(t, "grad", "an input", inputs[i]) != TG_OK) return t->status;
    }
    sweep_request r = {out, grad_out, flags, false, "grad"};
    uint64_t epoch = sweep(t, &r);
    if (!epoch) return t->status;
    for (int i = 0; i < n_inputs; i++) {
        tg_tensor *g = in_flight(inputs[i], epoch);
        if (!g) {
            /* out does not depend on this input: its gradient is zero. */
            bool was_enabled = tg_tape_set_grad_enabled(t, false);
            g = tg_zeros(t, inputs[i]->dtype, inputs[i]->ndim, inputs[i]->shape);
            tg_tape_set_grad_enabled(t, was_enabled);
            if (!g) return t->status;
        } else if (t->anomaly && inputs[i]->sweep_grad_owned && !inputs[i]->node) {
            char what[64];
            snprintf(what, sizeof what, "the sum of the gradients reaching input %d", i);
            const char *site_file = t->site_file;
            int32_t scope = t->scope;
            t->site_file = NULL;
            t->scope = 0;
            bool ok = tg_anomaly_gradient(t, g, what);
            t->site_file = site_file;
            t->scope = scope;
            if (!ok) return t->status;
        }
        grads[i] = g;
    }
    return TG_OK;
}

tg_status tg_sweep_segment(tg_tape *s, uint64_t epoch, int n, tg_tensor *const *outs,
                           tg_tensor *const *grads) {
    if (s->status != TG_OK) return s->status;
    sweep_request r = {NULL, NULL, 0, false, "backward"};
    bool was_enabled = s->grad_enabled;
    s->grad_enabled = false;
    s->anomaly_forward = false;
    tg_status st = TG_OK;
    /* The seeds: an output made on s starts its sweep with the gradient the home sweep summed
     * for it; an output that is not s's (an input passed through) takes it as a contribution. */
    for (int i = 0; i < n && st == TG_OK; i++) {
        if (!grads[i]) continue;
        if (outs[i]->tape == s && outs[i]->node) {
            if (in_flight(outs[i], epoch)) {
                st = accumulate(s, NULL, i, outs[i], grads[i], epoch);
            } else {
                outs[i]->sweep_grad = grads[i];
                outs[i]->sweep_epoch = epoch;
                outs[i]->sweep_grad_owned = false;
            }
        } else if (outs[i]->tape != s && outs[i]->requires_grad) {
            st = accumulate(s, NULL, i, outs[i], grads[i], epoch);
        }
    }
    uint64_t outer = s->running_epoch;
    s->running_epoch = epoch;
    for (tg_node *nd = s->last; nd && st == TG_OK; nd = nd->prev) st = visit(s, nd, epoch, &r);
    s->running_epoch = outer;
    s->grad_enabled = was_enabled;
    s->anomaly_forward = s->anomaly;
    return st;
}
