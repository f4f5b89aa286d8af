/* history.h: what a training run has measured so far: a row of numbers per epoch (losses,
 * accuracies or bits per character, seconds) and a finer trace of the training loss within
 * epochs, written out as CSV (per epoch) and as an SVG chart (everything).
 *
 * The numbers live in store buffers ("log.epochs", "log.seconds", "log.trace", "log.count"), so
 * a checkpoint carries the run's history and a resumed run draws its whole curve. Seconds are
 * kept apart because they are the one thing a resumed run does not reproduce bit for bit.
 *
 * Invariant: rows 0..n_epochs-1 of log.epochs and points 0..n_trace-1 of log.trace are the
 * recorded ones; the counts themselves are kept in log.count so that they load with the rest. */
#ifndef EXAMPLES_COMMON_HISTORY_H
#define EXAMPLES_COMMON_HISTORY_H

#include <tapegrad.h>

#define EX_HISTORY_MAX_EPOCHS 1000
#define EX_HISTORY_MAX_COLS   6
#define EX_HISTORY_MAX_TRACE  2048

/* The same colour for the same kind of line in every chart. */
#define EX_TRAIN_COLOUR "#1f77b4"
#define EX_TEST_COLOUR  "#d62728"
#define EX_TRACE_COLOUR "#9ecae1"

/* One measured quantity: its CSV column name, its legend in the chart, the chart panel (0 or
 * 1) it is drawn in, and its colour there (NULL: the palette's). */
typedef struct ex_column {
    const char *csv_name, *legend;
    int panel;
    const char *colour;
} ex_column;

/* How the chart is laid out: panel titles and y labels, fixed y ranges (min < max) or fitted
 * ones, and the legend of the within-epoch training-loss trace (drawn in panel 0). */
typedef struct ex_history_spec {
    const char *title;
    int n_cols;
    ex_column cols[EX_HISTORY_MAX_COLS];
    int n_panels;
    const char *panel_title[2], *panel_y_label[2];
    double y_min[2], y_max[2];
    const char *trace_legend, *trace_colour;
} ex_history_spec;

typedef struct ex_history {
    const ex_history_spec *spec; /* must outlive the history */
    tg_tensor *epochs;  /* (EX_HISTORY_MAX_EPOCHS, n_cols) f64 */
    tg_tensor *seconds; /* (EX_HISTORY_MAX_EPOCHS) f64 */
    tg_tensor *trace;   /* (EX_HISTORY_MAX_TRACE, 2) f64: epoch as a fraction, loss */
    tg_tensor *count;   /* (2) f64: epochs recorded, trace points */
} ex_history;

/* Makes the buffers in s (empty history). TG_ERR_ARG for a bad spec; store errors as the store
 * reports them. */
tg_status ex_history_init(ex_history *h, tg_store *s, const ex_history_spec *spec, tg_error *err);
int64_t ex_history_n_epochs(const ex_history *h);
/* Appends the row of the next epoch (spec->n_cols values, NaN for one not measured) and the
 * seconds it took. TG_ERR_ARG when the table is full. */
tg_status ex_history_add_epoch(ex_history *h, const double *values, double seconds,
                               tg_error *err);
/* Appends a trace point: the training loss averaged over the last few batches, at `x`
 * epochs (fractional). When the trace is full every other point is dropped first, so a long run
 * keeps an evenly thinned curve. */
void ex_history_add_trace(ex_history *h, double x, double loss);
/* The table with a leading "epoch" column and a trailing "seconds" column. */
tg_status ex_history_write_csv(const ex_history *h, const char *path, tg_error *err);
/* The chart: per-epoch columns as lines over epochs, and the trace in panel 0. */
tg_status ex_history_write_svg(const ex_history *h, const char *path, tg_error *err);
/* Both files a program was asked for (--csv, --svg); a NULL path skips its file. Returns the
 * first failure, err set. */
tg_status ex_history_write_files(const ex_history *h, const char *csv, const char *svg,
                                 tg_error *err);

#endif
