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
 * Edges run from each input to the op that used it (data-flow direction), in input order.
 * DOT names are n<k> for the op recorded k-th and l<k> for the k-th leaf in order of first
 * use, never addresses; numbers are printed in the C locale whatever LC_NUMERIC the program
 * set, and names are escaped (quotes, backslashes, line breaks, invalid UTF-8 becomes '?').
 * So the same program writes the same bytes every time, and `dot` accepts every file.
 * tapegrad itself never runs Graphviz:
 *
 *     tg_tape_backward(t, loss, NULL, 0);
 *     tg_dot_options o = {.show_grad_norms = true, .title = "step 1"};
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

TG_PUBLIC_BEGIN

typedef struct tg_dot_options {
    /* After a backward pass: add "|grad| N" to the label of every tensor that holds a
     * gradient, N being the 2-norm of its finite elements, followed by "(K NaN/Inf)" when K
     * elements are not finite. The fill colour then shows the norm's order of magnitude (grey
     * for 0, blue below 1e-6 through red at 1e3 and above, magenta for any NaN/Inf) and a
     * legend node explains the colours; the node's shape still shows its role. */
    bool show_grad_norms;
    /* The graph's title, escaped like names; NULL for "tapegrad". */
    const char *title;
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

TG_PUBLIC_END

#ifdef __cplusplus
}
#endif
#endif
