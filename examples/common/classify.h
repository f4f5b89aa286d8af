/* classify.h: everything the image classifiers (mlp, lenet) share: loading an MNIST-format set
 * with --data and --limit, and the run itself: Adam, epochs of shuffled batches with a progress
 * line, test loss and accuracy after each epoch, history, CSV/SVG, checkpoints and the DOT
 * graph of the first step. An example only defines its model and calls these.
 *
 * Invariant: the run's outcome depends only on the flags, the data and the model's initial
 * values; with the same thread count a resumed run reproduces the uninterrupted one bit for
 * bit (the batch order, the optimiser state and the learning rate are all restored). */
#ifndef EXAMPLES_COMMON_CLASSIFY_H
#define EXAMPLES_COMMON_CLASSIFY_H

#include <tapegrad.h>

#include "args.h"

/* A training and a test set of equal-sized images. mean and std are the training pixels'
 * (over the samples used), by which the batches are normalised. */
typedef struct ex_images {
    tg_dataset *train, *test;
    int64_t rows, cols;
    int n_classes;
    double mean, std;
    bool missing; /* set when the failure was that the files could not be read at all */
} ex_images;

/* Loads the "train" and "t10k" sets from c->data, keeping the first c->limit training samples
 * when limit > 0. On failure err says what went wrong; when the files could not be read,
 * d->missing is set and the caller adds EX_IMAGES_HINT (how to get them) on a line of its own. */
tg_status ex_images_load(const ex_common *c, ex_images *d, tg_error *err);
void ex_images_free(ex_images *d);

/* A model's forward pass: logits (B, n_classes) from a batch x, which is (B, rows * cols) when
 * `flatten` is set, else (B, 1, rows, cols). */
typedef tg_tensor *(*ex_forward_fn)(tg_tape *t, const void *model, tg_tensor *x);

typedef struct ex_classifier {
    const char *name;  /* "lenet": messages and the DOT title */
    const char *title; /* the chart's title */
    const char *arch;  /* the model in words; part of the config a resume must match */
    bool flatten;
    ex_forward_fn forward;
    const void *model;     /* its parameters are already in the store */
    double lr_decay;       /* the learning rate of epoch e (from 1) is lr * lr_decay^(e-1) */
    double min_accuracy;   /* exit status 1 when the final test accuracy (%) is below this */
} ex_classifier;

/* Trains m (whose parameters are in s) on d as c says, printing one line per epoch on stdout.
 * Returns the process exit status: 0 after the last epoch, 1 after an error (printed) or when
 * the final test accuracy misses m->min_accuracy. */
int ex_classify_run(const ex_common *c, tg_store *s, const ex_classifier *m, const ex_images *d);

#endif
