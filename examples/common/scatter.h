/* scatter.h: scatter plots as a standalone SVG picture: panels side by side, each with axes,
 * ticks at round numbers, grid lines, points coloured by group, a legend naming the groups, and
 * optional marks (crosses) such as the centres points should gather around.
 *
 *     double x[] = {0, 1, 2}, y[] = {1, 0, 2};
 *     int g[] = {0, 1, 1};
 *     const char *names[] = {"T-shirt", "Trouser"};
 *     ex_scatter_panel p = {.title = "codes", .x_label = "z1", .y_label = "z2", .n = 3, .x = x,
 *                           .y = y, .group = g, .n_groups = 2, .group_names = names};
 *     ex_scatter_write("codes.svg", "autoencoder", 1, &p, &err);
 *
 * Invariant: the file is well-formed XML whatever the data: text is escaped, non-finite points
 * are left out, and every coordinate written is finite. */
#ifndef EXAMPLES_COMMON_SCATTER_H
#define EXAMPLES_COMMON_SCATTER_H

#include <tapegrad.h>

#define EX_SCATTER_MAX_GROUPS 10
#define EX_SCATTER_MAX_PANELS 4

typedef struct ex_scatter_panel {
    const char *title, *x_label, *y_label;
    int n;                          /* points */
    const double *x, *y;            /* n each */
    const int *group;               /* n group indices in [0, n_groups), or NULL: all group 0 */
    int n_groups;                   /* 1..EX_SCATTER_MAX_GROUPS */
    const char *const *group_names; /* n_groups names for the legend, or NULL: no legend */
    double x_min, x_max, y_min, y_max; /* a fixed range when min < max, else fitted */
    int n_marks;                    /* crosses drawn over the points, or 0 */
    const double *mark_x, *mark_y;
    const char *note;               /* a line under the title (a count, a score), or NULL */
} ex_scatter_panel;

/* Writes n_panels (1..EX_SCATTER_MAX_PANELS) panels under `title` to path, replacing it whole.
 * TG_ERR_ARG for bad counts, TG_ERR_IO naming the path when it cannot be written. */
tg_status ex_scatter_write(const char *path, const char *title, int n_panels,
                           const ex_scatter_panel *panels, tg_error *err);

#endif
