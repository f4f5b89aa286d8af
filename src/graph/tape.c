/* tape.c: the tape's life (new, reset, free), its recording switch, and tg_record, the one
 * place where nodes are created, with tg_node_save for the non-tensor state a backward rule
 * needs. Nodes and what they save live in the tape's arena next to the tensors. */
#include <string.h>

#include "graph.h"

tg_tape *tg_tape_new(void) {
    tg_tape *t = tg_alloc(sizeof *t);
    if (!t) return NULL;
    memset(t, 0, sizeof *t);
    tg_arena_init(&t->arena);
    t->grad_enabled = true;
    return t;
}

void tg_tape_free(tg_tape *t) {
    if (!t) return;
    tg_arena_release(&t->arena);
    tg_scope_release(t);
    tg_free(t);
}

void tg_tape_reset(tg_tape *t) {
    if (!t) return;
    tg_arena_reset(&t->arena);
    t->last = NULL;
    t->n_nodes = 0;
    t->n_tensors = 0;
    t->loss = NULL;
    t->site_file = NULL;
    t->site_line = 0;
    tg_scope_reset(t);
    tg_tape_clear_error(t);
}

bool tg_tape_set_grad_enabled(tg_tape *t, bool enabled) {
    if (!t) return false;
    bool prev = t->grad_enabled;
    t->grad_enabled = enabled;
    return prev;
}

bool tg_tape_grad_enabled(const tg_tape *t) { return t && t->grad_enabled; }
int64_t tg_tape_n_nodes(const tg_tape *t) { return t ? t->n_nodes : 0; }
size_t tg_tape_bytes_used(const tg_tape *t) { return t ? t->arena.bytes_used : 0; }
size_t tg_tape_bytes_reserved(const tg_tape *t) { return t ? tg_arena_reserved(&t->arena) : 0; }

tg_tensor *tg_record(tg_tape *t, const tg_op_desc *op, tg_tensor *out, int n_inputs,
                     tg_tensor *const *inputs) {
    out->role = TG_ROLE_INTERMEDIATE;
    if (!t->grad_enabled) return out;
    bool any = false;
    for (int i = 0; i < n_inputs; i++) any |= inputs[i] && inputs[i]->requires_grad;
    if (!any) return out;
    tg_node *n = tg_arena_alloc(&t->arena, sizeof *n);
    tg_tensor **slots = NULL;
    if (n && n_inputs <= TG_MAX_INPUTS)
        slots = n->inline_inputs;
    else if (n)
        slots = tg_arena_alloc(&t->arena, (size_t)n_inputs * sizeof *slots);
    if (!n || !slots)
        return tg_fail(t, TG_ERR_NOMEM, "%s: out of memory recording a node", op->name);
    memset(n, 0, sizeof *n);
    n->op = op;
    n->id = t->n_nodes++;
    n->n_inputs = n_inputs;
    n->inputs = slots;
    for (int i = 0; i < n_inputs; i++) n->inputs[i] = inputs[i];
    n->out = out;
    n->prev = t->last;
    n->file = t->site_file;
    n->line = t->site_line;
    n->scope = t->scope;
    t->last = n;
    out->node = n;
    out->requires_grad = true;
    return out;
}

void *tg_node_save_space(tg_tape *t, tg_node *n, size_t bytes) {
    void *space = tg_arena_alloc(&t->arena, bytes);
    n->saved = space;
    n->saved_bytes = space ? bytes : 0;
    if (!space)
        tg_fail(t, TG_ERR_NOMEM, "%s: out of memory saving %zu bytes for the backward pass",
                n->op->name, bytes);
    return space;
}

bool tg_node_save(tg_tape *t, tg_node *n, const void *data, size_t bytes) {
    if (bytes == 0) {
        n->saved = NULL;
        n->saved_bytes = 0;
        return true;
    }
    void *copy = tg_node_save_space(t, n, bytes);
    if (copy) memcpy(copy, data, bytes);
    return copy != NULL;
}
