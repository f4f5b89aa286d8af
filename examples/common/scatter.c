/* scatter.c: the SVG scatter-plot writer of scatter.h. Each panel fits a square-ish plot box
 * whose ends are whole ticks, draws the points small and half transparent (so dense regions
 * read as dense), groups in a fixed ten-colour palette, and the legend in a column at the
 * panel's right, outside the box, so it never hides a point.
 *
 * Invariant: coordinates are computed only from finite values, and clamped. */
#include "scatter.h"

#include <math.h>
#include <stdio.h>

#include "outfile.h"

#define PANEL_W 580.0
#define PANEL_H 460.0
#define TITLE_H 34.0
#define BOX_L 60.0
#define BOX_R 420.0
#define BOX_T 50.0
#define BOX_B 410.0

/* Ten colours that stay apart (the "category10" scheme). */
static const char *const palette[EX_SCATTER_MAX_GROUPS] = {
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

typedef struct range {
    double lo, hi, step;
    int decimals;
} range;

static void put_text(FILE *f, const char *s) {
    for (; s && *s; s++) {
        if (*s == '&') fputs("&amp;", f);
        else if (*s == '<') fputs("&lt;", f);
        else if (*s == '>') fputs("&gt;", f);
        else if (*s == '"') fputs("&quot;", f);
        else if ((unsigned char)*s >= 0x20) fputc(*s, f);
    }
}

/* Round ends and a step of 1, 2 or 5 times a power of ten, about five ticks over [lo, hi]. */
static range fit(double lo, double hi) {
    if (!(lo < hi)) {
        double c = lo <= hi ? lo : 0.0;
        lo = c - 1.0, hi = c + 1.0;
    }
    double raw = (hi - lo) / 5.0, mag = pow(10.0, floor(log10(raw))), q = raw / mag;
    range r;
    r.step = (q <= 1.0 ? 1.0 : q <= 2.0 ? 2.0 : q <= 5.0 ? 5.0 : 10.0) * mag;
    r.lo = floor(lo / r.step + 1e-9) * r.step;
    r.hi = ceil(hi / r.step - 1e-9) * r.step;
    r.decimals = r.step >= 1.0 ? 0 : (int)ceil(-log10(r.step) - 1e-9);
    return r;
}

static double clampc(double v) { return v < -1e5 ? -1e5 : v > 1e5 ? 1e5 : v; }

static void panel(FILE *f, const ex_scatter_panel *p, double x0) {
    double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
    for (int i = 0; i < p->n; i++) {
        if (!isfinite(p->x[i]) || !isfinite(p->y[i])) continue;
        xlo = fmin(xlo, p->x[i]), xhi = fmax(xhi, p->x[i]);
        ylo = fmin(ylo, p->y[i]), yhi = fmax(yhi, p->y[i]);
    }
    range rx = p->x_min < p->x_max ? fit(p->x_min, p->x_max) : fit(xlo, xhi);
    range ry = p->y_min < p->y_max ? fit(p->y_min, p->y_max) : fit(ylo, yhi);
#define MX(v) clampc(x0 + BOX_L + ((v) - rx.lo) / (rx.hi - rx.lo) * (BOX_R - BOX_L))
#define MY(v) clampc(TITLE_H + BOX_B - ((v) - ry.lo) / (ry.hi - ry.lo) * (BOX_B - BOX_T))
    double top = TITLE_H + BOX_T, bottom = TITLE_H + BOX_B;
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"15\" text-anchor=\"middle\">",
            x0 + (BOX_L + BOX_R) / 2, TITLE_H + 22.0);
    put_text(f, p->title);
    fputs("</text>\n", f);
    if (p->note) {
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\" text-anchor=\"middle\" "
                   "fill=\"#444\">", x0 + (BOX_L + BOX_R) / 2, TITLE_H + 40.0);
        put_text(f, p->note);
        fputs("</text>\n", f);
    }
    /* Grid and ticks. */
    for (double v = rx.lo; v <= rx.hi + rx.step * 1e-6; v += rx.step) {
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e4e4e4\"/>\n",
                MX(v), top, MX(v), bottom);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"middle\">%.*f"
                   "</text>\n", MX(v), bottom + 15, rx.decimals, fabs(v) < 1e-12 ? 0.0 : v);
    }
    for (double v = ry.lo; v <= ry.hi + ry.step * 1e-6; v += ry.step) {
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e4e4e4\"/>\n",
                x0 + BOX_L, MY(v), x0 + BOX_R, MY(v));
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"end\">%.*f"
                   "</text>\n", x0 + BOX_L - 5, MY(v) + 4, ry.decimals, fabs(v) < 1e-12 ? 0.0 : v);
    }
    fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" "
               "stroke=\"#333\"/>\n", x0 + BOX_L, top, BOX_R - BOX_L, BOX_B - BOX_T);
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\" text-anchor=\"middle\">",
            x0 + (BOX_L + BOX_R) / 2, bottom + 32);
    put_text(f, p->x_label);
    fprintf(f, "</text>\n<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\" text-anchor=\"middle\" "
               "transform=\"rotate(-90 %.1f %.1f)\">", x0 + 16, (top + bottom) / 2, x0 + 16,
            (top + bottom) / 2);
    put_text(f, p->y_label);
    fputs("</text>\n", f);
    /* Points, clipped to the box so a fixed range cuts far ones off cleanly. */
    fprintf(f, "<g clip-path=\"url(#box%d)\" fill-opacity=\"0.55\">\n", (int)(x0 / PANEL_W));
    for (int i = 0; i < p->n; i++) {
        if (!isfinite(p->x[i]) || !isfinite(p->y[i])) continue;
        int g = p->group ? p->group[i] : 0;
        if (g < 0 || g >= p->n_groups) continue;
        fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"1.8\" fill=\"%s\"/>\n", MX(p->x[i]),
                MY(p->y[i]), palette[g]);
    }
    fputs("</g>\n", f);
    for (int i = 0; i < p->n_marks; i++) {
        if (!isfinite(p->mark_x[i]) || !isfinite(p->mark_y[i])) continue;
        double cx = MX(p->mark_x[i]), cy = MY(p->mark_y[i]);
        fprintf(f, "<path d=\"M%.1f %.1fL%.1f %.1fM%.1f %.1fL%.1f %.1f\" stroke=\"#000\" "
                   "stroke-width=\"1.5\"/>\n", cx - 5, cy - 5, cx + 5, cy + 5, cx - 5, cy + 5,
                cx + 5, cy - 5);
    }
    if (p->group_names)
        for (int g = 0; g < p->n_groups; g++) {
            double ly = top + 8 + 20.0 * g;
            fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"5\" fill=\"%s\"/>\n",
                    x0 + BOX_R + 18, ly, palette[g]);
            fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\">", x0 + BOX_R + 28, ly + 4);
            put_text(f, p->group_names[g]);
            fputs("</text>\n", f);
        }
#undef MX
#undef MY
}

tg_status ex_scatter_write(const char *path, const char *title, int n_panels,
                           const ex_scatter_panel *panels, tg_error *err) {
    if (n_panels < 1 || n_panels > EX_SCATTER_MAX_PANELS || !panels)
        return tg_error_set(err, TG_ERR_ARG, "scatter: %d panels (1..%d)", n_panels,
                            EX_SCATTER_MAX_PANELS);
    for (int i = 0; i < n_panels; i++)
        if (panels[i].n < 0 || (panels[i].n > 0 && (!panels[i].x || !panels[i].y)) ||
            panels[i].n_groups < 1 || panels[i].n_groups > EX_SCATTER_MAX_GROUPS ||
            (panels[i].n_marks > 0 && (!panels[i].mark_x || !panels[i].mark_y)))
            return tg_error_set(err, TG_ERR_ARG, "scatter: panel %d has bad counts or NULL data",
                                i);
    ex_outfile o;
    tg_status st = ex_outfile_open(&o, path, "svg", err);
    if (st != TG_OK) return st;
    FILE *f = o.f;
    double w = PANEL_W * n_panels, h = TITLE_H + PANEL_H;
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/"
               "svg\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" font-family=\""
               "sans-serif\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n<defs>\n",
            w, h, w, h);
    for (int i = 0; i < n_panels; i++)
        fprintf(f, "<clipPath id=\"box%d\"><rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
                   "height=\"%.1f\"/></clipPath>\n", i, PANEL_W * i + BOX_L, TITLE_H + BOX_T,
                BOX_R - BOX_L, BOX_B - BOX_T);
    fprintf(f, "</defs>\n<text x=\"%.1f\" y=\"22\" font-size=\"17\" font-weight=\"bold\" "
               "text-anchor=\"middle\">", w / 2);
    put_text(f, title);
    fputs("</text>\n", f);
    for (int i = 0; i < n_panels; i++) panel(f, &panels[i], PANEL_W * i);
    fputs("</svg>\n", f);
    return ex_outfile_commit(&o, "svg", err);
}
