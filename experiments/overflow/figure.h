/* figure.h: draws the exponent-overflow lesson's measurements (an ov_table) as one SVG picture:
 * relative error against input magnitude, value and gradient, f32 and f64, with Inf and NaN
 * results marked where a line cannot go. */
#ifndef EXPERIMENTS_OVERFLOW_FIGURE_H
#define EXPERIMENTS_OVERFLOW_FIGURE_H

#include <tapegrad.h>

#include "cases.h"

/* Writes the picture to path, whole or not at all. TG_ERR_IO (err set) when it cannot. The
 * table needs at least one magnitude, all positive, in increasing order. */
tg_status ov_figure_write(const char *path, const ov_table *tab, tg_error *err);

#endif
