/* tape.c: the tape's life (new, reset, free), its recording switch, and tg_record, the one
 * place where nodes are created, with tg_node_save for the non-tensor state a backward rule
 * needs. Nodes and what they save live in the tape's arena next to the tensors. */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "graph.h"

static atomic_uint_fast64_t tape_serial;

/* The live tapes, so that a tensor of another tape can be checked without following a pointer
 * read from its (possibly overwritten) header: only a tape found here is dereferenced. */
static pthread_mutex_t live_lock = PTHREAD_MUTEX_INITIALIZER;
static tg_tape *live_head;

bool tg_tensor_is_current_elsewhere(const tg_tensor *x) {
    bool current = false;
    pthread_mutex_lock(&live_lock);
    for (const tg_tape *p = live_head; p; p = p->live_next)
        if (p == x->tape) {
            current = x->gen == p->gen;
            break;
        }
    pthread_mutex_unlock(&live_lock);
    return current;
}

/* The generation word of a tape's (serial, resets): a bijective mix, so words differ between
 * tapes and resets and look like no small number or float a tensor's data would hold. */
static uint64_t gen_word(uint64_t serial, uint64_t resets) {
    uint64_t z = serial * UINT64_C(0x9E3779B97F4A7C15) + resets;
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    z ^= z >> 31;
    return z == TG_GEN_STORE || z == 0 ? z + 2 : z;
}

tg_tape *tg_tape_new(void) {
    tg_tape *t = tg_alloc(sizeof *t);
    if (!t) return NULL;
    memset(t, 0, sizeof *t);
    tg_arena_init(&t->arena);
    t->grad_enabled = true;
    t->serial = atomic_fetch_add(&tape_serial, 1) + 1;
    t->gen = gen_word(t->serial, 0);
    pthread_mutex_lock(&live_lock);
    t->live_next = live_head;
    if (live_head) live_head->live_prev = t;
    live_head = t;
    pthread_mutex_unlock(&live_lock);
    return t;
}

/* Drops every reference kept, before the arena that stores them is reset or released. */
static void release_refs(tg_tape *t) {
    for (tg_tape_ref *h = t->refs; h; h = h->next) h->release(h->obj);
    t->refs = NULL;
}

bool tg_tape_keeps(const tg_tape *t, const void *obj) {
    for (const tg_tape_ref *h = t->refs; h; h = h->next)
        if (h->obj == obj) return true;
    return false;
}

bool tg_tape_keep(tg_tape *t, void *obj, void (*release)(void *obj)) {
    tg_tape_ref *h = tg_arena_alloc(&t->arena, sizeof *h);
    if (!h) {
        tg_fail(t, TG_ERR_NOMEM, "out of memory keeping a reference on the tape");
        return false;
    }
    *h = (tg_tape_ref){release, obj, t->refs};
    t->refs = h;
    return true;
}

void tg_tape_free(tg_tape *t) {
    if (!t) return;
    tg_tape_free(t->scratch); /* recompute.c's, which never has one of its own */
    release_refs(t);
    pthread_mutex_lock(&live_lock);
    if (t->live_prev)
        t->live_prev->live_next = t->live_next;
    else
        live_head = t->live_next;
    if (t->live_next) t->live_next->live_prev = t->live_prev;
    pthread_mutex_unlock(&live_lock);
    tg_arena_release(&t->arena);
    tg_scope_release(t);
    tg_free(t);
}

void tg_tape_reset(tg_tape *t) {
    if (!t) return;
    release_refs(t);
    tg_arena_reset(&t->arena);
    t->n_resets++;
    t->gen = gen_word(t->serial, t->n_resets);
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

tg_status tg_tape_check_tensor(const tg_tape *t, const tg_tensor *x) {
    if (!t || !x) return TG_ERR_NULL;
    return tg_tensor_is_current(t, x) ? TG_OK : TG_ERR_STALE;
}

static bool has_leaf(int n_inputs, tg_tensor *const *inputs) {
    for (int i = 0; i < n_inputs; i++)
        if (inputs[i] && inputs[i]->role != TG_ROLE_INTERMEDIATE) return true;
    return false;
}

tg_tensor *tg_record(tg_tape *t, const tg_op_desc *op, tg_tensor *out, int n_inputs,
                     tg_tensor *const *inputs) {
    out->role = TG_ROLE_INTERMEDIATE;
    /* Anomaly mode's one branch per op when off. A view of an op's result only shows values
     * already checked, but a view of a leaf is the leaf's first use: its result is an
     * intermediate, so a NaN leaf would pass unreported through every op after it (a data
     * batch reshaped before a matmul). Such a view is checked like any op. */
    bool checked = t->anomaly_forward && (!(op->flags & TG_OPF_VIEW) || has_leaf(n_inputs, inputs));
    bool ok = !checked || tg_anomaly_forward(t, op, out, n_inputs, inputs);
    t->attr_nonfinite = false; /* it was this op's (tg_note_fattr) */
    if (!ok) return NULL;
    if (!t->grad_enabled) return out;
    bool any = false;
    for (int i = 0; i < n_inputs; i++) any |= inputs[i] && inputs[i]->requires_grad;
    if (!any) return out;
    /* Elementwise ops keep no attributes: their nodes end where the attributes begin. */
    size_t node_bytes = op->flags & TG_OPF_NO_ATTR ? TG_NODE_BYTES_NO_ATTR : sizeof(tg_node);
    tg_node *n = tg_arena_alloc(&t->arena, node_bytes);
    tg_tensor **slots = NULL;
    if (n && n_inputs <= TG_MAX_INPUTS)
        slots = n->inline_inputs;
    else if (n)
        slots = tg_arena_alloc(&t->arena, (size_t)n_inputs * sizeof *slots);
    if (!n || !slots)
        return tg_fail(t, TG_ERR_NOMEM, "%s: out of memory recording a node", op->name);
    memset(n, 0, node_bytes);
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
