/* csv.h: writes a table of numbers as CSV (RFC 4180 quoting, Unix line ends): a header row of
 * column names, then one row per record. A NaN is written as an empty cell (a value not
 * measured), whole numbers without a fraction, the rest with 9 significant digits.
 *
 * Invariant: the file at `path` is replaced only by a complete table (written to a temporary
 * file, then renamed), so a reader never sees half a file. */
#ifndef EXAMPLES_COMMON_CSV_H
#define EXAMPLES_COMMON_CSV_H

#include <tapegrad.h>

/* values: n_rows * n_cols numbers, row-major. Names are quoted when they hold a comma, a quote
 * or a line break. TG_ERR_IO (err set, naming the path) when the file cannot be written. */
tg_status ex_csv_write(const char *path, int n_cols, const char *const *names, int n_rows,
                       const double *values, tg_error *err);

#endif
