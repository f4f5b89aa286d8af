/* history.c: the run's measurements in store buffers, and their CSV table and SVG chart.
 *
 * Invariant: log.count holds (epochs recorded, trace points) as exact small whole numbers in
 * f64, and nothing past those counts is ever read. */
#include "history.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"
#include "svg.h"

static double *data_of(tg_tensor *x) { return (double *)tg_tensor_data(x); }

tg_status ex_history_init(ex_history *h, tg_store *s, const ex_history_spec *spec, tg_error *err) {
    memset(h, 0, sizeof *h);
    if (spec->n_cols < 1 || spec->n_cols > EX_HISTORY_MAX_COLS || spec->n_panels < 1 ||
        spec->n_panels > 2)
        return tg_error_set(err, TG_ERR_ARG, "history: %d columns in %d panels do not fit",
                            spec->n_cols, spec->n_panels);
    h->spec = spec;
    h->epochs = tg_store_buffer(s, "log.epochs", TG_F64, TG_SHAPE(EX_HISTORY_MAX_EPOCHS,
                                                                  spec->n_cols));
    h->seconds = tg_store_buffer(s, "log.seconds", TG_F64, TG_SHAPE(EX_HISTORY_MAX_EPOCHS));
    h->trace = tg_store_buffer(s, "log.trace", TG_F64, TG_SHAPE(EX_HISTORY_MAX_TRACE, 2));
    h->count = tg_store_buffer(s, "log.count", TG_F64, TG_SHAPE(2));
    if (!h->epochs || !h->seconds || !h->trace || !h->count)
        return tg_error_set(err, tg_store_status(s), "history: %s", tg_store_error(s));
    return TG_OK;
}

int64_t ex_history_n_epochs(const ex_history *h) { return (int64_t)data_of(h->count)[0]; }

static int64_t n_trace(const ex_history *h) { return (int64_t)data_of(h->count)[1]; }

tg_status ex_history_add_epoch(ex_history *h, const double *values, double seconds,
                               tg_error *err) {
    int64_t n = ex_history_n_epochs(h);
    if (n >= EX_HISTORY_MAX_EPOCHS)
        return tg_error_set(err, TG_ERR_ARG, "history: more than %d epochs are not recorded",
                            EX_HISTORY_MAX_EPOCHS);
    int cols = h->spec->n_cols;
    memcpy(data_of(h->epochs) + n * cols, values, (size_t)cols * sizeof *values);
    data_of(h->seconds)[n] = seconds;
    data_of(h->count)[0] = (double)(n + 1);
    return TG_OK;
}

void ex_history_add_trace(ex_history *h, double x, double loss) {
    double *tr = data_of(h->trace);
    int64_t n = n_trace(h);
    if (n >= EX_HISTORY_MAX_TRACE) {
        for (int64_t i = 0; i < n / 2; i++) {
            tr[2 * i] = tr[2 * (2 * i + 1)];
            tr[2 * i + 1] = tr[2 * (2 * i + 1) + 1];
        }
        n /= 2;
    }
    tr[2 * n] = x;
    tr[2 * n + 1] = loss;
    data_of(h->count)[1] = (double)(n + 1);
}

tg_status ex_history_write_csv(const ex_history *h, const char *path, tg_error *err) {
    int cols = h->spec->n_cols, width = cols + 2;
    int64_t n = ex_history_n_epochs(h);
    const char *names[EX_HISTORY_MAX_COLS + 2];
    names[0] = "epoch";
    for (int c = 0; c < cols; c++) names[c + 1] = h->spec->cols[c].csv_name;
    names[cols + 1] = "seconds";
    double *rows = malloc((size_t)(n > 0 ? n : 1) * (size_t)width * sizeof *rows);
    if (!rows) return tg_error_set(err, TG_ERR_NOMEM, "csv: out of memory");
    const double *table = data_of(h->epochs), *secs = data_of(h->seconds);
    for (int64_t r = 0; r < n; r++) {
        rows[r * width] = (double)(r + 1);
        memcpy(rows + r * width + 1, table + r * cols, (size_t)cols * sizeof *rows);
        rows[r * width + cols + 1] = secs[r];
    }
    tg_status st = ex_csv_write(path, width, names, (int)n, rows, err);
    free(rows);
    return st;
}

tg_status ex_history_write_svg(const ex_history *h, const char *path, tg_error *err) {
    const ex_history_spec *sp = h->spec;
    int64_t n = ex_history_n_epochs(h), nt = n_trace(h);
    int cols = sp->n_cols;
    /* Column-major copies: the chart wants separate x and y arrays per series. */
    double *buf = malloc((size_t)(n * (cols + 1) + 2 * nt + 1) * sizeof *buf);
    if (!buf) return tg_error_set(err, TG_ERR_NOMEM, "svg: out of memory");
    double *xs = buf, *ys = buf + n, *tx = buf + n * (cols + 1), *ty = tx + nt;
    const double *table = data_of(h->epochs), *tr = data_of(h->trace);
    for (int64_t r = 0; r < n; r++) {
        xs[r] = (double)(r + 1);
        for (int c = 0; c < cols; c++) ys[c * n + r] = table[r * cols + c];
    }
    for (int64_t i = 0; i < nt; i++) {
        tx[i] = tr[2 * i];
        ty[i] = tr[2 * i + 1];
    }
    ex_panel panels[2];
    memset(panels, 0, sizeof panels);
    for (int p = 0; p < sp->n_panels; p++) {
        panels[p].title = sp->panel_title[p];
        panels[p].x_label = "epoch";
        panels[p].y_label = sp->panel_y_label[p];
        panels[p].x_integer = true;
        panels[p].y_min = sp->y_min[p];
        panels[p].y_max = sp->y_max[p];
    }
    if (sp->trace_legend)
        panels[0].series[panels[0].n_series++] =
            (ex_series){sp->trace_legend, (int)nt, tx, ty, sp->trace_colour, false};
    for (int c = 0; c < cols; c++) {
        ex_panel *p = &panels[sp->cols[c].panel];
        if (p->n_series < EX_SVG_MAX_SERIES)
            p->series[p->n_series++] =
                (ex_series){sp->cols[c].legend, (int)n, xs, ys + c * n, sp->cols[c].colour,
                           false};
    }
    tg_status st = ex_svg_write(path, sp->title, sp->n_panels, panels, err);
    free(buf);
    return st;
}

tg_status ex_history_write_files(const ex_history *h, const char *csv, const char *svg,
                                 tg_error *err) {
    tg_status s = csv ? ex_history_write_csv(h, csv, err) : TG_OK;
    if (s == TG_OK && svg) s = ex_history_write_svg(h, svg, err);
    return s;
}
