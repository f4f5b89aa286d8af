/* epochs.h: the epoch loop the text generators (char_rnn, gpt) share: train an epoch, score the
 * held-out text, add the row to the history, print it, write the curves and the checkpoint.
 *
 * Invariant: a row is printed and written only once both its numbers are known, and the
 * checkpoint after epoch k is written after the curves of epoch k, so a run stopped at any
 * point leaves files that agree with each other. */
#ifndef EXAMPLES_COMMON_EPOCHS_H
#define EXAMPLES_COMMON_EPOCHS_H

#include <stdbool.h>

#include <tapegrad.h>

#include "args.h"
#include "history.h"

typedef struct ex_epochs {
    const char *prog; /* prefixes error messages */
    const ex_common *c;
    ex_history *hist;
    void *ctx; /* passed to the callbacks */
    /* Trains one epoch; *train gets its mean metric. false: it printed why and the run stops. */
    bool (*train_epoch)(void *ctx, long epoch, double *train);
    /* Scores the held-out text into *held; false as for train_epoch. */
    bool (*evaluate)(void *ctx, double *held);
    /* Optional: true once the run must stop after the epoch just done (a time budget). */
    bool (*stop)(void *ctx);
    /* What a checkpoint holds: the store (model, optimiser, history) and the run's state. */
    const tg_store *store;
    tg_optim *opt;
    const tg_rng *windows; /* the training windows' generator */
    const char *config;    /* the run's description, checked on resume */
} ex_epochs;

/* Epochs first..c->epochs (fewer if e->stop says so), each row printed as "epoch E/N  train X
 * bpc  |  held-out Y bpc  |  S s", then the --csv/--svg files and a checkpoint to --save. The
 * caller writes the files once more at the end (ex_epochs_write_outputs), when no epoch was
 * left to train too. false after a failure, its message printed to stderr. */
bool ex_epochs_run(const ex_epochs *e, long first);

/* The checkpoint of a run whose data are windows drawn by e->windows, after `epoch` epochs. */
bool ex_epochs_save(const ex_epochs *e, long epoch);

/* Writes the --csv and --svg files the run was asked for. */
bool ex_epochs_write_outputs(const ex_epochs *e);

#endif
