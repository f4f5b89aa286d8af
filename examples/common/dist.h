/* dist.h: --dist for the examples: data-parallel training over MPI through tapegrad/dist.h.
 * dist.c implements it when the build has libtapegrad_dist; dist_none.c, linked otherwise,
 * refuses --dist with a message and makes every other call a no-op, so the examples have one
 * code path.
 *
 * Under --dist every rank runs the same program: rank 0 keeps the outputs (stdout, --save,
 * --csv, --svg, --dot), the others train silently; every rank reads the data and a --resume
 * checkpoint itself (one machine, or a shared file system). */
#ifndef EXAMPLES_COMMON_DIST_H
#define EXAMPLES_COMMON_DIST_H

#include <tapegrad.h>

#include "args.h"

/* With c->dist: initialises MPI and, on ranks other than 0, silences stdout and clears c's
 * output paths. False (a line on stderr) when --dist cannot work. Without c->dist: true. */
bool ex_dist_begin(int *argc, char ***argv, ex_common *c, const char *name);
/* This rank and the number of ranks (0 and 1 without --dist). */
int ex_dist_rank(void);
int ex_dist_size(void);
/* After the model and its optimiser are in s: makes the group, copies rank 0's store to every
 * rank and reports t's gradients to it. TG_OK at once without --dist. */
tg_status ex_dist_attach(tg_store *s, tg_tape *t, tg_error *err);
/* This rank's share of every training batch (no change without --dist). */
void ex_dist_split(tg_batcher_opts *o);
/* After each backward pass: the gradients averaged over the ranks. */
tg_status ex_dist_sync(tg_error *err);
/* Frees the group (before the tape it reports from is freed). */
void ex_dist_release(void);
/* Ends MPI; `status` is the exit status the program is about to return. A
 * failing rank ends every rank (MPI_Abort), so none waits for it. */
int ex_dist_end(int status);

#endif
