/* progress.h: the progress report of a training epoch on stderr. On a terminal one line is
 * redrawn in place (batch count, running loss, samples per second, time left); anywhere else
 * (a pipe, a file, a test) one plain line is written per epoch, so logs stay readable.
 *
 * Invariant: on a terminal the line is always erased before the epoch's summary, so whatever
 * the program prints next starts on a clean line. */
#ifndef EXAMPLES_COMMON_PROGRESS_H
#define EXAMPLES_COMMON_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* Seconds on a monotonic clock (for durations only). */
double ex_now(void);

typedef struct ex_progress {
    FILE *out;
    bool live;          /* redraw in place (out is a terminal) */
    bool off; /* TG_PROGRESS=off: nothing at all (the other ranks of a --dist run) */
    const char *unit;   /* what the loss is called on the line: "loss", "bpc" */
    long epoch, n_epochs;
    int64_t n_batches, done, samples;
    double loss_sum;    /* over the batches so far */
    double start, last_draw;
} ex_progress;

/* Starts an epoch of n_batches on stderr. The line is live when stderr is a terminal, or when
 * the environment variable TG_PROGRESS is "live" (and never when it is "plain"). */
void ex_progress_begin(ex_progress *p, const char *unit, long epoch, long n_epochs,
                       int64_t n_batches);
/* Counts one finished batch of `samples` samples with the given loss; redraws at most ten
 * times a second (and at the last batch). */
void ex_progress_step(ex_progress *p, int64_t samples, double loss);
/* Ends the epoch: erases the live line, or writes the plain one. Returns the epoch's seconds. */
double ex_progress_end(ex_progress *p);

#endif
