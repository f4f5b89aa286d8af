/* svg.h: line charts as a standalone SVG picture: one or more panels side by side, each with
 * its own axes, "nice" ticks (1, 2 or 5 times a power of ten), grid lines, axis labels and a
 * legend naming its series, put in the corner of the plot where it hides the least data.
 *
 *     double x[] = {1, 2, 3}, loss[] = {0.6, 0.4, 0.35};
 *     ex_panel p = {.title = "loss", .x_label = "epoch", .x_integer = true, .n_series = 1,
 *                   .series = {{"train", 3, x, loss}}};
 *     ex_svg_write("curves.svg", "mlp on Fashion-MNIST", 1, &p, &err);
 *
 * Invariant: the file is well-formed XML whatever the data: names are escaped, non-finite
 * values are left out (a NaN breaks a line in two), and an empty panel still gets its axes. */
#ifndef EXAMPLES_COMMON_SVG_H
#define EXAMPLES_COMMON_SVG_H

#include <stdbool.h>

#include <tapegrad.h>

#define EX_SVG_MAX_SERIES 6

typedef struct ex_series {
    const char *name;
    int n;
    const double *x, *y; /* n points each; read while writing only */
    const char *colour;  /* an SVG colour ("#1f77b4"), or NULL for the palette's i-th */
    bool dashed;         /* a dashed line, so a series drawn over another stays visible */
} ex_series;

typedef struct ex_panel {
    const char *title, *x_label, *y_label;
    bool x_integer;  /* ticks on whole numbers only (epochs) */
    double y_min, y_max; /* a fixed range when y_min < y_max, else fitted to the data */
    bool y_log; /* a logarithmic y axis with ticks at powers of ten; values <= 0 are left out */
    int n_series;
    ex_series series[EX_SVG_MAX_SERIES];
} ex_panel;

/* Writes n_panels panels (1..4) under `title` to path, replacing it whole. TG_ERR_ARG for a bad
 * panel count or series count, TG_ERR_IO (naming the path) when the file cannot be written. */
tg_status ex_svg_write(const char *path, const char *title, int n_panels, const ex_panel *panels,
                       tg_error *err);

#endif
