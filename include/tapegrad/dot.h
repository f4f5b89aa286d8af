/* tapegrad/dot.h: draws a tape's recorded graph in Graphviz DOT.
 *
 * Every tensor on the graph is one DOT node whose label gives what it is, its name if it has
 * one, its full shape and dtype:
 *
 *   op result    "#3 matmul 'logits'"  rounded box; #3 is the node's place on the tape, the
 *                                      number error messages use; some ops add attributes
 *                                      ("sum axes=(1)", "mul_scalar c=0.5")
 *   parameter    "parameter 'fc1.weight'"   3-D box, amber
 *   buffer       "buffer 'running_mean'"    3-D box, green (a store tensor without gradient)
 *   input        "input 'x'"                ellipse, blue (a leaf created on the tape)
 *   constant     "constant"                 dashed ellipse (an op result that was not recorded:
 *                                           no gradient flows through it here)
 *   loss         the tensor the last tg_tape_backward started from: a double octagon with a
 *                "loss" line, whatever else it is
 *
 * Scopes (tg_tape_push_scope) are drawn as nested clusters labelled with the scope's name; a
 * leaf is drawn in the innermost scope that holds all its uses (a weight shared by every time
 * step sits in the enclosing scope, not in step 0).
 *
 * Edges run from each input to the op that used it (data-flow direction), in input order,
 * after every node (x * x has two edges, one per input slot; collapsed repeats that would
 * draw the same edge for the same slot draw it once).
 * DOT names are n<k> for the op recorded k-th and l<k> for the k-th leaf in order of first
 * use, never addresses; numbers are printed in the C locale whatever LC_NUMERIC the program
 * set, and names are escaped (quotes, backslashes, line breaks, invalid UTF-8 becomes '?').
 * So the same program writes the same bytes every time, and `dot` accepts every file.
 * tapegrad itself never runs Graphviz:
 *
 *     tg_tape_backward(t, loss, NULL, 0);
 *     tg_dot_options o = {.show_grad_norms = true, .title = "step 1", .collapse_repeats = true};
 *     if (tg_tape_write_dot_path(t, "step1.dot", &o) != TG_OK)
 *         fprintf(stderr, "%s\n", tg_tape_error(t));
 *     // then: dot -Tsvg step1.dot -o step1.svg
 */
#ifndef TAPEGRAD_DOT_H
#define TAPEGRAD_DOT_H

#include <stdio.h>

#include "tapegrad/tape.h"

#ifdef __cplusplus
extern "C" {
#endif

/* How show_grad_norms colours nodes. */
typedef enum tg_dot_grad_colours {
    /* By log10 of the gradient norm over the range found in this graph: palest yellow at the
     * graph's smallest norm, dark red at its largest (ColorBrewer YlOrRd, a sequential scale
     * whose lightness falls monotonically, so it also reads in grey). The legend gives the
     * actual min and max of log10 |grad|. So a graph whose norms all lie within one decade
     * still shows which nodes get more gradient than others. */
    TG_DOT_COLOUR_RANGE = 0,
    /* By fixed orders of magnitude, the same in every graph: blue below 1e-6 through red at
     * 1e3 and above, for comparing pictures of different steps or models. */
    TG_DOT_COLOUR_BANDS
} tg_dot_grad_colours;

/* The cap in force when tg_dot_options.max_nodes is 0: Graphviz lays out a graph this size
 * in seconds, and a larger picture cannot be read anyway. */
#define TG_DOT_DEFAULT_MAX_NODES 1000

/* Zero-initialised options draw what earlier versions drew (no norms, the default title),
 * plus scopes as clusters and the default node cap. */
typedef struct tg_dot_options {
    /* After a backward pass: add "|grad| N" to the label of every tensor that holds a
     * gradient, N being the 2-norm of its finite elements (tg_tensor_stats), followed by
     * "(K NaN/Inf)" when K elements are not finite. The fill colour then shows the norm (see
     * grad_colours); exactly zero is grey and any NaN/Inf is blue with white text whatever
     * the mode. The loss's gradient is the sweep's seed, so the loss keeps its own colour
     * (unless its seed is not finite) and stays out of the range. A legend node explains the
     * colours. The node's shape still shows its role, and parameters keep a thick outline. */
    bool show_grad_norms;
    /* The graph's title, escaped like names; NULL for "tapegrad". */
    const char *title;
    /* Colouring mode with show_grad_norms: by the graph's range (default) or fixed bands. */
    tg_dot_grad_colours grad_colours;
    /* Draw repeated scopes once. Sibling scopes whose names are one prefix followed by
     * consecutive decimal numbers ("step/0", "step/1", ... or "layer1", "layer2", ...) and
     * whose contents are identical become one cluster labelled with the prefix and the count
     * ("step x64"), showing the first repeat. Two repeats are identical when, listing each
     * one's DOT nodes in drawing order (op results and the leaves drawn inside it), the
     * lists have the same length and at each position: both are op results of the same op
     * with the same attributes (as printed in the label), or both leaves of the same role;
     * the same shape and dtype; the same nested scope relative to the repeat; and each input
     * is either the node at the same position inside the repeat, or a node outside the repeat
     * in both (not necessarily the same one: step t reads step t-1's state). Names and
     * values do not count. An edge that lands on an earlier node of the drawn repeat (the
     * recurrence from step t to step t+1) is dashed and does not rank the layout. With
     * show_grad_norms a collapsed node's label gives the range of its norms over the
     * repeats, and its colour the largest (the colour range then runs over the colours
     * drawn). Collapsing applies inside collapsed groups too. */
    bool collapse_repeats;
    /* The most DOT nodes to draw (after collapsing): 0 means TG_DOT_DEFAULT_MAX_NODES,
     * negative means no cap. Nodes are kept in drawing order (the tape's order, leaves
     * before their first use) and the loss is always kept; a note node "N nodes not drawn"
     * stands for the rest, with dashed edges to and from it where the drawn part connects
     * to what was left out. */
    int max_nodes;
} tg_dot_options;

/* Writes the graph recorded on `t` to `out`, which stays the caller's: it is flushed, never
 * closed. opts may be NULL (no norms, default title). An empty tape gives a valid, empty
 * graph. Writing does not need a clean tape: after a failed op it draws what was recorded.
 * Returns TG_OK; TG_ERR_NULL for a NULL t or out; TG_ERR_IO when the stream reports an error
 * (a read-only stream, a full disk), with the system's reason; TG_ERR_NOMEM. An error is also
 * kept on the tape as its first error, unless it already has one. */
tg_status tg_tape_write_dot(tg_tape *t, FILE *out, const tg_dot_options *opts);
/* The same, to a file at `path` (created or truncated). TG_ERR_IO, naming the path and the
 * reason, when it cannot be opened, written or closed; a partly written file is left as is. */
tg_status tg_tape_write_dot_path(tg_tape *t, const char *path, const tg_dot_options *opts);

#ifdef __cplusplus
}
#endif
#endif
