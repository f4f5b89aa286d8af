/* dot_layout.c: decides what the DOT export draws and where, before dot.c writes a byte:
 * the items (one per tensor), the scope each is drawn in, which repeated scopes collapse
 * onto their first repeat, what the node cap leaves out, the deduplicated edges, and the
 * gradient statistics that colour them. Every choice depends only on the tape's order, so
 * the same program draws the same picture. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dot_int.h"

/* ---- small hash sets, keyed by pointers or item pairs ---- */

static size_t mix(uint64_t k) {
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    return (size_t)k;
}

static size_t pow2_at_least(size_t n) {
    size_t cap = 16;
    while (cap < n) cap *= 2;
    return cap;
}

/* ---- building the items ---- */

typedef struct builder {
    dot_graph *g;
    const tg_dot_options *o;
    /* leaves: tensor -> item, open addressing */
    const tg_tensor **leaf_keys;
    int64_t *leaf_items;
    size_t leaf_cap;
    int64_t n_leaves;
    int64_t *node_item; /* node id -> item */
    int64_t cap_items;
    /* per-collapse scratch */
    int32_t *owner;     /* item -> the child scope (of the scope being collapsed) holding it */
    int64_t *position;  /* item -> its place in its repeat's list */
    int64_t *seq;       /* lists of items, one repeat after another */
} builder;

static bool on_tape(const dot_graph *g, const tg_tensor *x) {
    return x->node && x->node->id >= 0 && x->node->id < g->n_nodes &&
           g->order[x->node->id] == x->node;
}

/* The innermost scope holding both a and b. */
static int32_t common_scope(const tg_tape *t, int32_t a, int32_t b) {
    const tg_scope_entry *e = t->scopes.entries;
    while (a != b) {
        if (e[a].depth >= e[b].depth)
            a = e[a].parent;
        else
            b = e[b].parent;
    }
    return a;
}

/* A node's scope index is into its own tape's table; one recorded with another tape's index
 * (a bug the sweep guards against) is drawn at top level rather than read out of bounds. */
static int32_t known_scope(const dot_graph *g, int32_t scope) {
    return scope >= 0 && scope < g->n_scopes ? scope : 0;
}

static int64_t add_item(builder *b, const tg_tensor *x, const tg_node *n, int64_t num,
                        int32_t scope) {
    dot_graph *g = b->g;
    scope = known_scope(g, scope);
    dot_item *it = &g->items[g->n_items];
    memset(it, 0, sizeof *it);
    it->x = x;
    it->n = n;
    it->num = num;
    it->scope = scope;
    it->rep = g->n_items;
    it->next = -1;
    it->n_repeats = 1;
    return g->n_items++;
}

/* The item of leaf x, added (in scope `scope`) on first use; later uses widen its scope. */
static int64_t use_leaf(builder *b, const tg_tensor *x, int32_t scope) {
    scope = known_scope(b->g, scope);
    size_t i = mix((uint64_t)(uintptr_t)x) & (b->leaf_cap - 1);
    while (b->leaf_keys[i] && b->leaf_keys[i] != x) i = (i + 1) & (b->leaf_cap - 1);
    if (b->leaf_keys[i]) {
        dot_item *it = &b->g->items[b->leaf_items[i]];
        it->scope = common_scope(b->g->t, it->scope, scope);
        return b->leaf_items[i];
    }
    b->leaf_keys[i] = x;
    return b->leaf_items[i] = add_item(b, x, NULL, b->n_leaves++, scope);
}

/* The item an input refers to. */
static int64_t input_item(builder *b, const tg_tensor *x, int32_t scope) {
    return on_tape(b->g, x) ? b->node_item[x->node->id] : use_leaf(b, x, scope);
}

/* Items in drawing order: each node's new leaves, then the node; a loss no node made last. */
static void collect_items(builder *b) {
    dot_graph *g = b->g;
    for (int64_t k = 0; k < g->n_nodes; k++) {
        const tg_node *n = g->order[k];
        for (int i = 0; i < n->n_inputs; i++)
            if (n->inputs[i]) input_item(b, n->inputs[i], n->scope);
        b->node_item[k] = add_item(b, n->out, n, n->id, n->scope);
    }
    const tg_tensor *loss = g->t->loss;
    g->loss_item = -1;
    if (loss && on_tape(g, loss))
        g->loss_item = b->node_item[loss->node->id];
    else if (loss)
        g->loss_item = use_leaf(b, loss, 0);
}

/* ---- the scope tree ---- */

static void link_scopes(dot_graph *g) {
    const tg_scope_entry *e = g->t->scopes.entries;
    for (int32_t s = 0; s < g->n_scopes; s++)
        g->scopes[s] = (dot_scope){-1, -1, -1, -1, -1, -1, 0, false, 1, 0, 0, 0};
    for (int64_t i = 0; i < g->n_items; i++) {
        dot_item *it = &g->items[i];
        dot_scope *sc = &g->scopes[it->scope];
        if (sc->items_tail >= 0)
            g->items[sc->items_tail].next = i;
        else
            sc->items_head = i;
        sc->items_tail = i;
        /* Items come in increasing order, so a scope's first item is the first to reach it;
         * its ancestors were reached then too. Children join their parent's list in the
         * order they are first reached: the order of their first items. */
        for (int32_t s = it->scope; g->scopes[s].first_item < 0; s = e[s].parent) {
            g->scopes[s].first_item = i;
            if (s == 0) break;
            dot_scope *p = &g->scopes[e[s].parent];
            if (p->child_tail >= 0)
                g->scopes[p->child_tail].next_sibling = s;
            else
                p->child_head = s;
            p->child_tail = s;
        }
    }
}

/* ---- collapsing repeats ---- */

/* Splits a scope name into a prefix and a trailing decimal number (no leading zeros, at most
 * 18 digits); false when it does not end in one. */
static bool numbered(const char *name, int *prefix_len, int64_t *number) {
    size_t len = strlen(name), d = len;
    while (d > 0 && name[d - 1] >= '0' && name[d - 1] <= '9') d--;
    if (d == len || len - d > 18 || (name[d] == '0' && len - d > 1)) return false;
    *prefix_len = (int)d;
    *number = strtoll(name + d, NULL, 10);
    return true;
}

static int32_t child_of(const dot_graph *g, int32_t parent, int32_t s) {
    const tg_scope_entry *e = g->t->scopes.entries;
    while (s > 0 && e[s].parent != parent) s = e[s].parent;
    return s > 0 ? s : -1;
}

/* The op's attributes as its label prints them. */
static void describe(const tg_node *n, char *buf, size_t size) {
    buf[0] = '\0';
    if (n->op->describe) n->op->describe(n, buf, size);
}

/* Whether op results a and b, at the same position of repeats ra and rb, are alike (see
 * dot.h). Leaf inputs count as outside the repeat. */
static bool same_item(const builder *b, int64_t a, int32_t ra, int64_t bi, int32_t rb) {
    const dot_graph *g = b->g;
    const dot_item *x = &g->items[a], *y = &g->items[bi];
    if (x->x->dtype != y->x->dtype || !tg_same_shape(x->x, y->x)) return false;
    /* The nested scope relative to the repeat: the paths after the repeats' own paths. */
    size_t la = strlen(tg_scope_path(g->t, ra)), lb = strlen(tg_scope_path(g->t, rb));
    if (strcmp(tg_scope_path(g->t, x->scope) + la, tg_scope_path(g->t, y->scope) + lb) != 0)
        return false;
    if (x->n->op != y->n->op || x->n->n_inputs != y->n->n_inputs) return false;
    char da[96], db[96];
    describe(x->n, da, sizeof da);
    describe(y->n, db, sizeof db);
    if (strcmp(da, db) != 0) return false;
    for (int i = 0; i < x->n->n_inputs; i++) {
        const tg_tensor *u = x->n->inputs[i], *v = y->n->inputs[i];
        if (!u || !v) {
            if (u != v) return false;
            continue;
        }
        int64_t iu = on_tape(g, u) ? b->node_item[u->node->id] : -1;
        int64_t iv = on_tape(g, v) ? b->node_item[v->node->id] : -1;
        bool in_a = iu >= 0 && b->owner[iu] == ra, in_b = iv >= 0 && b->owner[iv] == rb;
        if (in_a != in_b) return false;
        if (in_a && b->position[iu] != b->position[iv]) return false;
    }
    return true;
}

/* Leaves drawn inside a hidden repeat (the step's own input x_t) are drawn as what the first
 * repeat's twin node reads in the same slot (x_0). */
static void map_leaves(builder *b, int64_t hidden_node, int32_t p, int32_t repeat) {
    dot_graph *g = b->g;
    const tg_node *n = g->items[hidden_node].n, *twin = g->items[g->items[hidden_node].rep].n;
    for (int i = 0; i < n->n_inputs; i++) {
        const tg_tensor *u = n->inputs[i];
        if (!u || on_tape(g, u) || !twin->inputs[i]) continue;
        int64_t leaf = use_leaf(b, u, g->items[hidden_node].scope); /* found, not added */
        if (g->items[leaf].rep != leaf || child_of(g, p, g->items[leaf].scope) != repeat)
            continue;
        g->items[leaf].rep = input_item(b, twin->inputs[i], twin->scope);
    }
}

/* Collapses runs of alike, consecutively numbered children of scope p, then recurses into
 * the children still drawn. */
static void collapse_in(builder *b, int32_t p) {
    dot_graph *g = b->g;
    const tg_tape *t = g->t;
    int n_numbered = 0;
    for (int32_t c = g->scopes[p].child_head; c >= 0; c = g->scopes[c].next_sibling) {
        int len;
        int64_t num;
        n_numbered += numbered(tg_scope_name(t, c), &len, &num);
    }
    if (n_numbered >= 2) {
        /* Each item of p's subtree gets its child and its place in that child's list; the
         * lists are laid out in seq one child after another (start[] per child). */
        int64_t first = g->scopes[p].first_item, n_seq = 0;
        int32_t n_children = 0;
        for (int32_t c = g->scopes[p].child_head; c >= 0; c = g->scopes[c].next_sibling)
            n_children++;
        int64_t *start = tg_alloc(((size_t)n_children + 1) * sizeof *start);
        int32_t *kids = tg_alloc(((size_t)n_children + 1) * sizeof *kids);
        if (!start || !kids) {
            tg_free(start);
            tg_free(kids);
            return; /* drawn uncollapsed: a plainer picture, never a wrong one */
        }
        int32_t k = 0;
        for (int32_t c = g->scopes[p].child_head; c >= 0; c = g->scopes[c].next_sibling) {
            kids[k] = c;
            g->scopes[c].n_drawn = 0; /* used here as the child's list length */
            k++;
        }
        for (int64_t i = first; i < g->n_items; i++) {
            if (!g->items[i].n) continue; /* leaves are not compared */
            int32_t c = child_of(g, p, g->items[i].scope);
            b->owner[i] = c;
            if (c >= 0) b->position[i] = g->scopes[c].n_drawn++;
        }
        for (k = 0; k < n_children; k++) {
            start[k] = n_seq;
            n_seq += g->scopes[kids[k]].n_drawn;
        }
        start[n_children] = n_seq;
        for (int64_t i = first; i < g->n_items; i++) {
            int32_t c = b->owner[i];
            if (c < 0) continue;
            int32_t j = 0;
            while (kids[j] != c) j++; /* children are few next to items */
            b->seq[start[j] + b->position[i]] = i;
        }
        for (k = 0; k < n_children;) {
            int32_t c0 = kids[k];
            int len0;
            int64_t num0;
            int32_t end = k + 1;
            const char *name0 = tg_scope_name(t, c0);
            if (numbered(name0, &len0, &num0)) {
                int64_t n0 = start[k + 1] - start[k];
                while (end < n_children) {
                    int32_t c = kids[end];
                    const char *name = tg_scope_name(t, c);
                    int len;
                    int64_t num;
                    if (!numbered(name, &len, &num) || len != len0 ||
                        memcmp(name, name0, (size_t)len) != 0 || num != num0 + (end - k) ||
                        start[end + 1] - start[end] != n0)
                        break;
                    bool alike = true;
                    for (int64_t j = 0; j < n0 && alike; j++)
                        alike = same_item(b, b->seq[start[k] + j], c0, b->seq[start[end] + j], c);
                    if (!alike) break;
                    end++;
                }
            }
            if (end - k >= 2) {
                dot_scope *s0 = &g->scopes[c0];
                s0->n_repeats = end - k;
                s0->first_number = num0;
                s0->last_number = num0 + (end - k) - 1;
                s0->prefix_len = len0;
                for (int32_t r = k + 1; r < end; r++) {
                    g->scopes[kids[r]].hidden = true;
                    for (int64_t j = 0; j < start[r + 1] - start[r]; j++)
                        g->items[b->seq[start[r] + j]].rep = b->seq[start[k] + j];
                    for (int64_t j = 0; j < start[r + 1] - start[r]; j++)
                        map_leaves(b, b->seq[start[r] + j], p, kids[r]);
                }
            }
            k = end;
        }
        for (int64_t i = first; i < g->n_items; i++) b->owner[i] = -1;
        tg_free(start);
        tg_free(kids);
    }
    for (int32_t c = g->scopes[p].child_head; c >= 0; c = g->scopes[c].next_sibling)
        if (!g->scopes[c].hidden) collapse_in(b, c);
}

/* The item finally drawn for i: reps of reps when groups nest. */
static int64_t final_rep(const dot_graph *g, int64_t i) {
    while (g->items[i].rep != i) i = g->items[i].rep;
    return i;
}

/* ---- gradient statistics ---- */

/* Each drawn item's norms over the repeats drawn as it; then the range of the colours
 * actually drawn: a collapsed item is coloured by its largest norm, so the range runs over
 * those, and the legend's ends are colours that appear in the picture. */
static void gather_stats(dot_graph *g) {
    g->has_range = false;
    for (int64_t i = 0; i < g->n_items; i++) {
        const tg_tensor *gr = tg_tensor_grad(g->items[i].x);
        if (!gr) continue;
        tg_grad_stats st;
        tg_tensor_stats(gr, &st);
        dot_item *r = &g->items[final_rep(g, i)];
        if (!r->has_grad) {
            r->has_grad = true;
            r->norm_lo = r->norm_hi = st.norm;
        } else {
            if (st.norm < r->norm_lo) r->norm_lo = st.norm;
            if (st.norm > r->norm_hi) r->norm_hi = st.norm;
        }
        r->n_bad += st.n_nan + st.n_inf;
    }
    for (int64_t i = 0; i < g->n_items; i++) {
        const dot_item *it = &g->items[i];
        /* The loss's gradient is the sweep's seed (1), not a measurement: it would only
         * stretch the range. It is labelled, and keeps its own colour. */
        if (it->rep != i || !it->has_grad || it->n_bad || it->norm_hi == 0 || i == g->loss_item)
            continue;
        double l = log10(it->norm_hi);
        if (!g->has_range || l < g->log_lo) g->log_lo = l;
        if (!g->has_range || l > g->log_hi) g->log_hi = l;
        g->has_range = true;
    }
}

/* ---- the cap ---- */

static void apply_cap(dot_graph *g) {
    int64_t kept = 0;
    g->n_dropped = 0;
    for (int64_t i = 0; i < g->n_items; i++) {
        dot_item *it = &g->items[i];
        if (it->rep != i) continue;
        bool keep = g->max_nodes < 0 || i == g->loss_item ||
                    kept < g->max_nodes - (g->loss_item >= 0 && g->loss_item > i);
        it->dropped = !keep;
        if (keep)
            kept++;
        else
            g->n_dropped++;
    }
    /* Count what each scope will draw, so empty clusters are skipped. */
    const tg_scope_entry *e = g->t->scopes.entries;
    for (int32_t s = 0; s < g->n_scopes; s++) g->scopes[s].n_drawn = 0;
    for (int64_t i = 0; i < g->n_items; i++) {
        const dot_item *it = &g->items[i];
        if (it->rep != i || it->dropped) continue;
        for (int32_t s = it->scope;; s = e[s].parent) {
            g->scopes[s].n_drawn++;
            if (s == 0) break;
        }
    }
}

/* ---- edges ---- */

typedef struct edge_set {
    uint64_t *keys; /* 0 empty; else a hash of (from, to, slot) kept with the edge index */
    int64_t *index;
    size_t cap;
} edge_set;

/* Leaves are ranked just above their use, so a cluster's top reaches as many ranks above
 * the node where data enters it as its longest in-scope chain into that node (weight ->
 * permute -> matmul: 2). An edge bringing an op's result into another scope asks for one
 * rank more, so consecutive clusters stack instead of overlapping in rank and stepping
 * sideways. up[i] is that chain length, from edges in drawing order. */
static void space_clusters(dot_graph *g) {
    int64_t *up = tg_alloc((size_t)(g->n_items ? g->n_items : 1) * sizeof *up);
    if (!up) return; /* a wider picture, not a wrong one */
    memset(up, 0, (size_t)g->n_items * sizeof *up);
    for (int64_t k = 0; k < g->n_edges; k++) {
        const dot_edge *e = &g->edges[k];
        if (e->from < 0 || e->to < 0 || e->back) continue;
        if (g->items[e->from].scope == g->items[e->to].scope && up[e->from] + 1 > up[e->to])
            up[e->to] = up[e->from] + 1;
    }
    for (int64_t k = 0; k < g->n_edges; k++) {
        dot_edge *e = &g->edges[k];
        if (e->from >= 0 && e->to >= 0 && !e->back && g->items[e->from].n &&
            g->items[e->from].scope != g->items[e->to].scope)
            e->minlen = (int)(up[e->to] < 8 ? up[e->to] : 8) + 1;
    }
    tg_free(up);
}

static bool build_edges(builder *b) {
    dot_graph *g = b->g;
    int64_t n_in = 0;
    for (int64_t k = 0; k < g->n_nodes; k++) n_in += g->order[k]->n_inputs;
    g->edges = tg_alloc((size_t)(n_in ? n_in : 1) * sizeof *g->edges);
    edge_set set = {NULL, NULL, pow2_at_least(2 * (size_t)n_in + 2)};
    set.keys = tg_alloc(set.cap * sizeof *set.keys);
    set.index = tg_alloc(set.cap * sizeof *set.index);
    bool ok = g->edges && set.keys && set.index;
    if (ok) memset(set.keys, 0, set.cap * sizeof *set.keys);
    for (int64_t k = 0; ok && k < g->n_nodes; k++) {
        const tg_node *n = g->order[k];
        int64_t to = final_rep(g, b->node_item[k]);
        for (int i = 0; i < n->n_inputs; i++) {
            if (!n->inputs[i]) continue;
            int64_t from = final_rep(g, input_item(b, n->inputs[i], n->scope));
            bool back = from >= to;
            if (g->items[from].dropped) from = -1;
            int64_t dst = g->items[to].dropped ? -1 : to;
            if (from < 0 && dst < 0) continue;
            uint64_t key = ((uint64_t)(from + 1) * 0x9E3779B97F4A7C15ull) ^
                           ((uint64_t)(dst + 1) << 8) ^ (uint64_t)i;
            key = key ? key : 1;
            size_t s = mix(key) & (set.cap - 1);
            bool dup = false;
            for (; set.keys[s]; s = (s + 1) & (set.cap - 1)) {
                const dot_edge *e = &g->edges[set.index[s]];
                if (set.keys[s] == key && e->from == from && e->to == dst && e->slot == i) {
                    dup = true;
                    break;
                }
            }
            if (dup) continue;
            set.keys[s] = key;
            set.index[s] = g->n_edges;
            g->edges[g->n_edges++] = (dot_edge){from, dst, i, back && from >= 0 && dst >= 0, 1};
        }
    }
    if (ok) space_clusters(g);
    tg_free(set.keys);
    tg_free(set.index);
    return ok;
}

/* ---- the whole ---- */

tg_status dot_graph_build(dot_graph *g, const tg_tape *t, const tg_dot_options *o) {
    memset(g, 0, sizeof *g);
    g->t = t;
    g->n_nodes = t->n_nodes;
    g->n_scopes = t->scopes.n > 0 ? t->scopes.n : 1;
    g->max_nodes = o->max_nodes > 0 ? o->max_nodes : o->max_nodes < 0 ? -1
                                                                       : TG_DOT_DEFAULT_MAX_NODES;
    g->loss_item = -1;
    builder b = {g, o, NULL, NULL, 0, 0, NULL, 0, NULL, NULL, NULL};
    int64_t n_in = 0;
    size_t n_order = (size_t)(g->n_nodes ? g->n_nodes : 1);
    g->order = tg_alloc(n_order * sizeof *g->order);
    if (!g->order) return TG_ERR_NOMEM;
    {
        int64_t k = g->n_nodes;
        for (tg_node *n = t->last; n && k > 0; n = n->prev) g->order[--k] = n;
    }
    for (int64_t k = 0; k < g->n_nodes; k++) n_in += g->order[k]->n_inputs;
    b.cap_items = g->n_nodes + n_in + 1;
    b.leaf_cap = pow2_at_least(2 * (size_t)(n_in + 1));
    g->items = tg_alloc((size_t)b.cap_items * sizeof *g->items);
    g->scopes = tg_alloc((size_t)g->n_scopes * sizeof *g->scopes);
    b.node_item = tg_alloc(n_order * sizeof *b.node_item);
    b.leaf_keys = tg_alloc(b.leaf_cap * sizeof *b.leaf_keys);
    b.leaf_items = tg_alloc(b.leaf_cap * sizeof *b.leaf_items);
    tg_status s = TG_ERR_NOMEM;
    if (!g->items || !g->scopes || !b.node_item || !b.leaf_keys || !b.leaf_items) goto done;
    memset(b.leaf_keys, 0, b.leaf_cap * sizeof *b.leaf_keys);
    collect_items(&b);
    link_scopes(g);
    if (o->collapse_repeats && g->n_scopes > 2) {
        b.owner = tg_alloc((size_t)g->n_items * sizeof *b.owner);
        b.position = tg_alloc((size_t)g->n_items * sizeof *b.position);
        b.seq = tg_alloc((size_t)g->n_items * sizeof *b.seq);
        if (!b.owner || !b.position || !b.seq) goto done;
        for (int64_t i = 0; i < g->n_items; i++) b.owner[i] = -1;
        collapse_in(&b, 0);
    }
    for (int64_t i = 0; i < g->n_items; i++) {
        int64_t r = final_rep(g, i);
        g->items[i].rep = r;
        if (r != i) {
            g->items[r].n_repeats++;
            g->any_collapsed = true;
        }
    }
    if (o->show_grad_norms) gather_stats(g);
    apply_cap(g);
    if (build_edges(&b)) s = TG_OK;
done:
    tg_free(b.node_item);
    tg_free(b.leaf_keys);
    tg_free(b.leaf_items);
    tg_free(b.owner);
    tg_free(b.position);
    tg_free(b.seq);
    return s;
}

void dot_graph_free(dot_graph *g) {
    tg_free(g->order);
    tg_free(g->items);
    tg_free(g->scopes);
    tg_free(g->edges);
    memset(g, 0, sizeof *g);
}
