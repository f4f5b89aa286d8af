/* tapegrad/dot.h: draws a tape's recorded graph in Graphviz DOT.
 *
 * Each tensor on the graph is a node labelled with its op (or role), full shape and dtype, and
 * its name if it has one; parameters, inputs and the loss are drawn distinctly and edges run in
 * data-flow direction. Ids come from tape order, never from pointers, so the same program
 * writes the same file. tapegrad itself never runs Graphviz: render with
 *
 *     dot -Tsvg graph.dot -o graph.svg
 */
#ifndef TAPEGRAD_DOT_H
#define TAPEGRAD_DOT_H

#include <stdio.h>

#include "tapegrad/tape.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tg_dot_options {
    /* After a backward pass: add each tensor's gradient norm to its label and colour the node
     * by the norm's order of magnitude. */
    bool show_grad_norms;
    /* The graph's title; NULL for "tapegrad". */
    const char *title;
} tg_dot_options;

/* Writes the graph recorded on `t`. The loss is the tensor that the last tg_tape_backward
 * started from. opts may be NULL. Returns TG_ERR_IO if writing fails (also kept on the tape). */
tg_status tg_tape_write_dot(tg_tape *t, FILE *out, const tg_dot_options *opts);
/* The same, to a file at `path` (created or truncated). */
tg_status tg_tape_write_dot_path(tg_tape *t, const char *path, const tg_dot_options *opts);

#ifdef __cplusplus
}
#endif
#endif
