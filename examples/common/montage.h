/* montage.h: several RGB pictures laid out in a grid on a white ground and written as one PNG,
 * for the examples that show pictures side by side (input, result, target).
 *
 *     const ex_picture *row[3] = {&grey, &predicted, &truth};
 *     ex_montage_write("grid.png", 3, row, 3, &err);
 *
 * Invariant: pixel values are clamped to [0, 1] before they are quantised, so an image an
 * optimiser pushed out of range is drawn, never wrapped around. */
#ifndef EXAMPLES_COMMON_MONTAGE_H
#define EXAMPLES_COMMON_MONTAGE_H

#include "ppm.h"

/* Writes the n pictures (any sizes; each cell is as large as the largest) per_row to a line,
 * 4 pixels apart, to path as an RGB PNG. TG_ERR_ARG for n < 1, per_row < 1 or an empty
 * picture; the PNG writer's errors. */
tg_status ex_montage_write(const char *path, int n, const ex_picture *const *pics, int per_row,
                           tg_error *err);

#endif
