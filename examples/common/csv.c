/* csv.c: the CSV writer: header, rows, NaN as an empty cell, through ex_outfile so the file is
 * replaced whole.
 *
 * Invariant: numbers are printed in the C locale (the examples never call setlocale), so the
 * decimal separator is always '.', never the ',' that would split a cell. */
#include "csv.h"

#include <math.h>
#include <string.h>

#include "outfile.h"

static void write_name(FILE *f, const char *name) {
    if (!strpbrk(name, ",\"\r\n")) {
        fputs(name, f);
        return;
    }
    fputc('"', f);
    for (const char *p = name; *p; p++) {
        if (*p == '"') fputc('"', f);
        fputc(*p, f);
    }
    fputc('"', f);
}

static void write_number(FILE *f, double v) {
    if (isnan(v)) return;
    if (v == floor(v) && fabs(v) < 1e15)
        fprintf(f, "%.0f", v);
    else
        fprintf(f, "%.9g", v);
}

tg_status ex_csv_write(const char *path, int n_cols, const char *const *names, int n_rows,
                       const double *values, tg_error *err) {
    ex_outfile o;
    tg_status st = ex_outfile_open(&o, path, "csv", err);
    if (st != TG_OK) return st;
    for (int c = 0; c < n_cols; c++) {
        if (c) fputc(',', o.f);
        write_name(o.f, names[c]);
    }
    fputc('\n', o.f);
    for (int r = 0; r < n_rows; r++) {
        for (int c = 0; c < n_cols; c++) {
            if (c) fputc(',', o.f);
            write_number(o.f, values[(size_t)r * (size_t)n_cols + (size_t)c]);
        }
        fputc('\n', o.f);
    }
    return ex_outfile_commit(&o, "csv", err);
}
