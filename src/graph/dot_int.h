/* dot_int.h: what the DOT writer (dot.c) and its layout pass (dot_layout.c) share: the
 * graph as it will be drawn. Items are the DOT nodes (op results and leaves) in drawing order;
 * each has the scope it is drawn in, the item drawn in its place when a repeated scope is
 * collapsed, and its gradient's statistics. Private to src/graph. */
#ifndef TG_DOT_INT_H
#define TG_DOT_INT_H

#include "graph.h"

typedef struct dot_item {
    const tg_tensor *x;
    const tg_node *n; /* the producing node; NULL for a leaf */
    int64_t num;      /* node id (DOT name n<num>) or leaf number (l<num>) */
    int32_t scope;    /* a node's own scope; a leaf's: the innermost enclosing all its uses */
    int64_t rep;      /* the item drawn for this one: itself, or its twin in the first repeat */
    int64_t next;     /* next item directly in the same scope, in drawing order; -1 at the end */
    bool dropped;     /* left out by the node cap */
    /* With show_grad_norms, over this item and every repeat drawn as it: */
    bool has_grad;
    double norm_lo, norm_hi; /* smallest and largest gradient norm */
    int64_t n_bad;           /* NaN/Inf elements, summed */
    int64_t n_repeats;       /* items drawn as this one, itself included */
} dot_item;

typedef struct dot_scope {
    int64_t first_item;             /* first item in its subtree, -1 if none */
    int64_t items_head, items_tail; /* its own items, linked through dot_item.next */
    int32_t child_head, child_tail, next_sibling; /* child scopes in order of first item */
    int64_t n_drawn;                /* items drawn in its subtree */
    bool hidden;                    /* a later repeat of a collapsed group: not drawn */
    int64_t n_repeats;              /* > 1: the first of a collapsed group of this many */
    int64_t first_number, last_number;
    int prefix_len;                 /* bytes of its name before the number */
} dot_scope;

typedef struct dot_edge {
    int64_t from, to; /* items, or -1 for the note about what the cap left out */
    int slot;         /* the input slot of `to` (edges are deduplicated per slot) */
    bool back;        /* runs against drawing order: a recurrence between collapsed repeats */
    int minlen;       /* > 1: ranks to leave between the ends (data entering another scope) */
} dot_edge;

typedef struct dot_graph {
    const tg_tape *t;
    tg_node **order; /* order[k]: the node with id k */
    int64_t n_nodes;
    dot_item *items;
    int64_t n_items;
    int64_t loss_item; /* -1 if the loss is not drawn as an item of its own */
    dot_scope *scopes; /* one per scope of the tape (index 0: the top level) */
    int32_t n_scopes;
    dot_edge *edges;
    int64_t n_edges;
    int64_t n_dropped;             /* items the cap left out */
    int64_t max_nodes;             /* the cap in force, or -1 */
    bool any_collapsed;            /* some item stands for several repeats */
    bool has_range;                /* some finite, non-zero norm is drawn */
    double log_lo, log_hi;         /* log10 of the smallest and largest such norm (for an
                                    * item standing for repeats: its largest) */
} dot_graph;

/* Builds everything above from the tape and the options: items, scopes, collapsing, the
 * cap, deduplicated edges and (with show_grad_norms) statistics. Returns TG_OK or
 * TG_ERR_NOMEM; dot_graph_free releases what was built either way. */
tg_status dot_graph_build(dot_graph *g, const tg_tape *t, const tg_dot_options *o);
void dot_graph_free(dot_graph *g);

#endif
