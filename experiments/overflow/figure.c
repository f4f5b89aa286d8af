/* figure.c: the exponent-overflow lesson's picture. Four panels (value and gradient, f32 and
 * f64), each the relative error against the input magnitude M on log-log axes: one colour per
 * function, solid for the naive formula, dashed for the library's op. A result that is Inf or
 * NaN has no error to plot; it is marked in a band above the plot, one row per function (a
 * triangle for Inf, a cross for NaN), so a line that stops is never mistaken for a good one.
 * The shared chart writer (examples/common/svg.c) leaves non-finite values out silently, which
 * is exactly what this picture must show, hence a writer of its own.
 *
 * Invariant: every coordinate written is finite; errors are clipped to the plotted range. */
#include "figure.h"

#include <float.h>
#include <math.h>
#include <stdio.h>

#include "outfile.h"

#define FIG_W     1200.0
#define CELL_W    590.0
#define CELL_H    420.0
#define TOP       50.0
#define LEFT      90.0 /* from the cell's left edge to the plot box */
#define BOX_W     470.0
#define BAND_TOP  40.0 /* from the cell's top */
#define ROW_H     11.0
#define BAND_ROWS (OV_N_OPS - 1) /* bce_probs shares bce's row: its naive form is bce's */
#define BOX_TOP   (BAND_TOP + BAND_ROWS * ROW_H + 14.0)
#define BOX_H     250.0
#define LEGEND_H  80.0
#define LOG_Y_MIN (-18.0) /* errors below 1e-18 (exact ones included) sit on the floor */
#define LOG_Y_MAX 1.0

/* Colour-blind-safe (Okabe-Ito), one per function. */
static const char *const colour[OV_N_OPS] = {"#0072B2", "#D55E00", "#009E73", "#CC79A7",
                                             "#E69F00", "#56B4E9", "#000000"};

typedef struct box {
    double x0, y0;   /* the plot box's top-left corner */
    double lx0, lx1; /* log10 of the first and last magnitude */
} box;

static double map_x(const box *b, double mag) {
    double lx = log10(mag);
    return b->x0 + BOX_W * (lx - b->lx0) / (b->lx1 > b->lx0 ? b->lx1 - b->lx0 : 1.0);
}

static double map_y(const box *b, double rel) {
    double ly = rel > 0 ? log10(rel) : LOG_Y_MIN;
    if (ly < LOG_Y_MIN) ly = LOG_Y_MIN;
    if (ly > LOG_Y_MAX) ly = LOG_Y_MAX;
    return b->y0 + BOX_H * (LOG_Y_MAX - ly) / (LOG_Y_MAX - LOG_Y_MIN);
}

static const ov_error *pick(const ov_result *r, bool grad) { return grad ? &r->grad : &r->value; }

/* Axes, grid, the overflow threshold of the dtype and the panel's title. */
static void draw_frame(FILE *f, const box *b, double cell_x, double cell_y, const char *title,
                       tg_dtype dtype, bool grad) {
    fprintf(f, "<text x='%.1f' y='%.1f' font-size='15' font-weight='bold'>%s</text>\n",
            cell_x + LEFT, cell_y + 22, title);
    /* The band of non-finite results. */
    double band_y = cell_y + BAND_TOP;
    fprintf(f,
            "<rect x='%.1f' y='%.1f' width='%.1f' height='%.1f' fill='#fbeeee' "
            "stroke='#c99'/>\n",
            b->x0, band_y, BOX_W, BAND_ROWS * ROW_H);
    fprintf(f,
            "<text x='%.1f' y='%.1f' font-size='11' text-anchor='end' fill='#a33'>Inf (&#9650;) "
            "or</text>\n<text x='%.1f' y='%.1f' font-size='11' text-anchor='end' "
            "fill='#a33'>NaN (&#10005;)</text>\n",
            b->x0 - 6, band_y + 0.5 * BAND_ROWS * ROW_H - 2, b->x0 - 6,
            band_y + 0.5 * BAND_ROWS * ROW_H + 11);
    /* Grid and ticks. */
    fprintf(f, "<g font-size='11' fill='#333'>\n");
    for (int e = (int)LOG_Y_MIN; e <= (int)LOG_Y_MAX; e += 3) {
        double y = map_y(b, pow(10.0, e));
        fprintf(f, "<line x1='%.1f' y1='%.1f' x2='%.1f' y2='%.1f' stroke='#e4e4e4'/>\n", b->x0, y,
                b->x0 + BOX_W, y);
        if (e == (int)LOG_Y_MIN)
            fprintf(f, "<text x='%.1f' y='%.1f' text-anchor='end'>&#8804;1e%d</text>\n", b->x0 - 5,
                    y + 4, e);
        else
            fprintf(f, "<text x='%.1f' y='%.1f' text-anchor='end'>1e%d</text>\n", b->x0 - 5, y + 4,
                    e);
    }
    for (int e = (int)ceil(b->lx0 - 1e-9); e <= (int)floor(b->lx1 + 1e-9); e++) {
        double x = map_x(b, pow(10.0, e));
        fprintf(f, "<line x1='%.1f' y1='%.1f' x2='%.1f' y2='%.1f' stroke='#e4e4e4'/>\n", x, b->y0,
                x, b->y0 + BOX_H);
        fprintf(f, "<text x='%.1f' y='%.1f' text-anchor='middle'>%.0f</text>\n", x,
                b->y0 + BOX_H + 16, pow(10.0, e));
    }
    fprintf(f, "</g>\n");
    fprintf(f, "<rect x='%.1f' y='%.1f' width='%.1f' height='%.1f' fill='none' stroke='#333'/>\n",
            b->x0, b->y0, BOX_W, BOX_H);
    /* Where e^M leaves the dtype's range. */
    double m_over = dtype == TG_F32 ? log(FLT_MAX) : log(DBL_MAX);
    double xo = map_x(b, m_over);
    if (xo > b->x0 && xo < b->x0 + BOX_W) {
        fprintf(f,
                "<line x1='%.1f' y1='%.1f' x2='%.1f' y2='%.1f' stroke='#a33' "
                "stroke-dasharray='2,3'/>\n",
                xo, band_y, xo, b->y0 + BOX_H);
        /* The label goes where it fits, at a height no curve crosses past the overflow. */
        bool right = xo > b->x0 + 0.6 * BOX_W;
        fprintf(f,
                "<text x='%.1f' y='%.1f' font-size='11' fill='#a33' text-anchor='%s'>e^M "
                "overflows %s (M &gt; %.1f)</text>\n",
                right ? xo - 4 : xo + 4, b->y0 + 0.62 * BOX_H, right ? "end" : "start",
                tg_dtype_name(dtype), m_over);
    }
    fprintf(f,
            "<text x='%.1f' y='%.1f' font-size='12' text-anchor='middle'>input magnitude M "
            "(inputs M u, u = (1, 1, 0, -1); log scale)</text>\n",
            b->x0 + BOX_W / 2, b->y0 + BOX_H + 34);
    double yc = b->y0 + BOX_H / 2;
    fprintf(f,
            "<text x='%.1f' y='%.1f' font-size='12' text-anchor='middle' "
            "transform='rotate(-90 %.1f %.1f)'>relative error of the %s (log)</text>\n",
            cell_x + 22, yc, cell_x + 22, yc, grad ? "gradient" : "value");
}

/* One function in one form: its line through the finite points, and its marks in the band. */
static void draw_curve(FILE *f, const box *b, double band_y, const ov_table *tab, int dt, int op,
                       int form, bool grad) {
    const char *dash = form == OV_LIBRARY ? " stroke-dasharray='7,4'" : "";
    bool open = false;
    for (int k = 0; k < tab->n_mags; k++) {
        const ov_error *e = pick(&tab->r[dt][op][form][k], grad);
        double x = map_x(b, tab->mag[k]);
        if (e->kind != OV_FINITE) {
            if (open) fprintf(f, "'/>\n");
            open = false;
            double y = band_y + ((op < BAND_ROWS ? op : BAND_ROWS - 1) + 0.5) * ROW_H;
            const char *fill = form == OV_LIBRARY ? "white" : colour[op];
            if (e->kind == OV_INF)
                fprintf(f, "<path d='M%.1f %.1fL%.1f %.1fL%.1f %.1fZ' fill='%s' stroke='%s'/>\n", x,
                        y - 4.5, x - 4.5, y + 4, x + 4.5, y + 4, fill, colour[op]);
            else
                fprintf(f,
                        "<path d='M%.1f %.1fL%.1f %.1fM%.1f %.1fL%.1f %.1f' stroke='%s' "
                        "stroke-width='2'/>\n",
                        x - 4, y - 4, x + 4, y + 4, x - 4, y + 4, x + 4, y - 4, colour[op]);
            continue;
        }
        double y = map_y(b, e->rel);
        if (!open)
            fprintf(f,
                    "<polyline fill='none' stroke='%s' stroke-width='%s' stroke-opacity='0.85'%s "
                    "points='",
                    colour[op], form == OV_LIBRARY ? "1.6" : "2.2", dash);
        fprintf(f, "%.1f,%.1f ", x, y);
        open = true;
    }
    if (open) fprintf(f, "'/>\n");
    /* Dots on the naive form's finite points, so single points between gaps show. */
    if (form == OV_NAIVE)
        for (int k = 0; k < tab->n_mags; k++) {
            const ov_error *e = pick(&tab->r[dt][op][form][k], grad);
            if (e->kind == OV_FINITE)
                fprintf(f, "<circle cx='%.1f' cy='%.1f' r='2.6' fill='%s'/>\n",
                        map_x(b, tab->mag[k]), map_y(b, e->rel), colour[op]);
        }
}

static void draw_legend(FILE *f, double y) {
    fprintf(f, "<g class='legend' font-size='13'>\n");
    double x = LEFT;
    for (int op = 0; op < OV_N_OPS; op++) {
        double xi = x + (op % 4) * 270, yi = y + (op / 4) * 22;
        fprintf(f, "<line x1='%.1f' y1='%.1f' x2='%.1f' y2='%.1f' stroke='%s' stroke-width='3'/>\n",
                xi, yi - 4, xi + 26, yi - 4, colour[op]);
        fprintf(f, "<text x='%.1f' y='%.1f'>%s</text>\n", xi + 32, yi, ov_op_name((ov_op)op));
    }
    double ys = y + 48;
    fprintf(f,
            "<line x1='%.1f' y1='%.1f' x2='%.1f' y2='%.1f' stroke='#555' stroke-width='2.2'/>"
            "<text x='%.1f' y='%.1f'>naive formula (tg_exp, tg_div, tg_log)</text>\n",
            x, ys - 4, x + 26, ys - 4, x + 32, ys);
    fprintf(f,
            "<line x1='%.1f' y1='%.1f' x2='%.1f' y2='%.1f' stroke='#555' stroke-width='1.6' "
            "stroke-dasharray='7,4'/><text x='%.1f' y='%.1f'>library op (bce_probs: tg_bce of "
            "tg_sigmoid, logs clamped at -100)</text>\n",
            x + 330, ys - 4, x + 356, ys - 4, x + 362, ys);
    fprintf(f, "</g>\n");
}

tg_status ov_figure_write(const char *path, const ov_table *tab, tg_error *err) {
    ex_outfile o;
    tg_status st = ex_outfile_open(&o, path, "svg", err);
    if (st != TG_OK) return st;
    FILE *f = o.f;
    double height = TOP + 2 * CELL_H + LEGEND_H;
    fprintf(f,
            "<svg xmlns='http://www.w3.org/2000/svg' width='%.0f' height='%.0f' "
            "viewBox='0 0 %.0f %.0f' font-family='sans-serif'>\n",
            FIG_W, height, FIG_W, height);
    fprintf(f, "<rect width='100%%' height='100%%' fill='white'/>\n<title>Exponent overflow: "
               "naive formulas against the library's ops</title>\n");
    fprintf(f,
            "<text x='%.1f' y='30' font-size='19' text-anchor='middle' font-weight='bold'>"
            "Exponent overflow: naive formulas against the library's ops, relative to a "
            "long-double reference</text>\n",
            FIG_W / 2);
    double lx0 = log10(tab->mag[0]), lx1 = log10(tab->mag[tab->n_mags - 1]);
    for (int dt = 0; dt < 2; dt++)
        for (int g = 0; g < 2; g++) {
            double cx = 10 + dt * CELL_W, cy = TOP + g * CELL_H;
            box b = {cx + LEFT, cy + BOX_TOP, lx0, lx1};
            char title[96];
            snprintf(title, sizeof title, "%s, %s", dt ? "f64" : "f32",
                     g ? "gradient (d/dx of the output, or of sum w y)" : "value");
            draw_frame(f, &b, cx, cy, title, dt ? TG_F64 : TG_F32, g);
            for (int op = 0; op < OV_N_OPS; op++)
                for (int form = 0; form < 2; form++)
                    if (op != OV_BCE_PROBS || form == OV_LIBRARY) /* naive: the same as bce's */
                        draw_curve(f, &b, cy + BAND_TOP, tab, dt, op, form, g);
        }
    draw_legend(f, TOP + 2 * CELL_H + 18);
    fprintf(f, "</svg>\n");
    return ex_outfile_commit(&o, "svg", err);
}
