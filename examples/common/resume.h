/* resume.h: the examples' checkpoints: the whole store (parameters, optimiser state, history)
 * plus, in the metadata, the epochs done, where the data iterator is, and a description of the
 * run that a resumed run must match.
 *
 * Invariant: a run resumed from the checkpoint written after epoch k continues exactly as the
 * uninterrupted run did after epoch k: every number that decides what happens next is either a
 * store tensor or in the metadata, and the description guards the rest (model, batch size,
 * data) from silently changing. */
#ifndef EXAMPLES_COMMON_RESUME_H
#define EXAMPLES_COMMON_RESUME_H

#include <tapegrad.h>

typedef struct ex_run_state {
    int64_t step;          /* optimiser steps taken */
    int64_t epochs_done;
    tg_batcher_state data; /* the data iterator (or the window sampler's generator) */
} ex_run_state;

/* Saves s with the state and `config` (one line describing what must not change on resume)
 * to path, replacing it only when complete. */
tg_status ex_checkpoint_save(const char *path, const tg_store *s, const char *config,
                             const ex_run_state *st, tg_error *err);
/* Loads path into s and *st after checking that it was written by a run with the same
 * config; on any error (err set) s and *st are unchanged. */
tg_status ex_checkpoint_resume(const char *path, tg_store *s, const char *config,
                               ex_run_state *st, tg_error *err);

#endif
