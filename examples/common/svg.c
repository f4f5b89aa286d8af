/* svg.c: the SVG line-chart writer. Each panel maps its data onto a plot box with axes whose
 * ends and ticks are round numbers, draws grid lines, one polyline per unbroken run of finite
 * points (with markers while points are few), and a legend in the top-right corner.
 *
 * Invariant: every coordinate written is finite (data is clipped to finite values before it is
 * mapped) and every piece of text goes through xml_text, so the output always parses. */
#include "svg.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "outfile.h"

/* Geometry of one panel, in SVG user units (pixels). */
#define PANEL_W  460.0
#define PANEL_H  320.0
#define TITLE_H  36.0
#define BOX_LEFT 64.0
#define BOX_RIGHT (PANEL_W - 24.0)
#define BOX_TOP  36.0
#define BOX_BOTTOM (PANEL_H - 50.0)
#define MARKERS_UP_TO 60

static const char *const colours[EX_SVG_MAX_SERIES] = {"#1f77b4", "#d62728", "#2ca02c",
                                                       "#ff7f0e", "#9467bd", "#8c564b"};

/* An axis from lo to hi with a tick every `step`, labels with `decimals` digits. */
typedef struct axis {
    double lo, hi, step;
    int decimals;
    bool log; /* lo, hi and step are powers of ten's exponents; labels show 10^v */
} axis;

static void xml_text(FILE *f, const char *s) {
    for (; s && *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&apos;", f); break;
        default:
            /* Control characters other than tab are not allowed in XML 1.0 at all. */
            if ((unsigned char)*s >= 0x20 || *s == '\t') fputc(*s, f);
            break;
        }
    }
}

/* 1, 2 or 5 times a power of ten, near span / target. */
static double nice_step(double span, int target) {
    double raw = span / target;
    double mag = pow(10.0, floor(log10(raw)));
    double f = raw / mag;
    return (f <= 1.0 ? 1.0 : f <= 2.0 ? 2.0 : f <= 5.0 ? 5.0 : 10.0) * mag;
}

/* An axis covering [lo, hi] (lo > hi means no data: 0..1) whose ends are whole ticks. */
static axis make_axis(double lo, double hi, bool integer) {
    axis a = {0};
    if (!(lo <= hi)) {
        lo = 0.0;
        hi = 1.0;
    }
    if (hi - lo <= 1e-9 * fmax(1.0, fabs(lo))) {
        /* One value (a single epoch): give it room on both sides. */
        double pad = integer ? 1.0 : (lo == 0.0 ? 1.0 : 0.1 * fabs(lo));
        lo -= pad;
        hi += pad;
    }
    a.step = nice_step(hi - lo, 5);
    if (integer && a.step < 1.0) a.step = 1.0;
    a.lo = floor(lo / a.step + 1e-9) * a.step;
    a.hi = ceil(hi / a.step - 1e-9) * a.step;
    if (a.hi <= a.lo) a.hi = a.lo + a.step;
    a.decimals = a.step >= 1.0 ? 0 : (int)ceil(-log10(a.step) - 1e-9);
    return a;
}

/* A log axis over exponents [lo, hi]: whole decades at both ends, a tick every decade, or
 * every few decades when they are many. */
static axis make_log_axis(double lo, double hi) {
    axis a = {0};
    a.log = true;
    if (!(lo <= hi)) {
        lo = 0.0;
        hi = 1.0;
    }
    a.lo = floor(lo + 1e-9);
    a.hi = ceil(hi - 1e-9);
    if (a.hi <= a.lo) a.hi = a.lo + 1.0;
    a.step = ceil((a.hi - a.lo) / 8.0);
    a.hi = a.lo + ceil((a.hi - a.lo) / a.step) * a.step;
    return a;
}

/* A tick label: plain digits near 1, scientific notation far from it. */
static void write_tick(FILE *f, const axis *a, double v) {
    if (!a->log) {
        fprintf(f, "%.*f", a->decimals, v == 0 ? 0.0 : v);
        return;
    }
    int e = (int)lround(v);
    if (e >= -3 && e <= 3)
        fprintf(f, "%.*f", e < 0 ? -e : 0, pow(10.0, e));
    else
        fprintf(f, "1e%d", e);
}

/* Far-off values (outside a fixed range) are pulled in to a finite distance; clipping hides
 * them, and the number printed stays finite. */
static double clamp_coord(double v) { return v < -1e6 ? -1e6 : v > 1e6 ? 1e6 : v; }

static double map_x(const axis *a, double x0, double v) {
    return clamp_coord(x0 + BOX_LEFT + (v - a->lo) / (a->hi - a->lo) * (BOX_RIGHT - BOX_LEFT));
}

static double map_y(const axis *a, double y0, double v) {
    return clamp_coord(y0 + BOX_BOTTOM - (v - a->lo) / (a->hi - a->lo) * (BOX_BOTTOM - BOX_TOP));
}

static bool finite_point(const ex_series *s, int i) {
    return isfinite(s->x[i]) && isfinite(s->y[i]);
}

static void draw_axes(FILE *f, const ex_panel *p, const axis *ax, const axis *ay, double x0,
                      double y0) {
    double left = x0 + BOX_LEFT, right = x0 + BOX_RIGHT, top = y0 + BOX_TOP,
           bottom = y0 + BOX_BOTTOM;
    int n_x = (int)lround((ax->hi - ax->lo) / ax->step), n_y = (int)lround((ay->hi - ay->lo) / ay->step);
    fprintf(f, "<g font-size=\"11\" fill=\"#333\">\n");
    for (int k = 0; k <= n_y; k++) {
        double v = ay->lo + k * ay->step, y = map_y(ay, y0, v);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e4e4e4\"/>\n",
                left, y, right, y);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333\"/>\n",
                left - 5, y, left, y);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">", left - 8, y + 4);
        write_tick(f, ay, v);
        fprintf(f, "</text>\n");
    }
    for (int k = 0; k <= n_x; k++) {
        double v = ax->lo + k * ax->step, x = map_x(ax, x0, v);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e4e4e4\"/>\n",
                x, top, x, bottom);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333\"/>\n", x,
                bottom, x, bottom + 5);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">", x, bottom + 18);
        write_tick(f, ax, v);
        fprintf(f, "</text>\n");
    }
    fprintf(f, "</g>\n");
    fprintf(f,
            "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" "
            "stroke=\"#333\"/>\n",
            left, top, right - left, bottom - top);
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"14\" "
               "font-weight=\"bold\">",
            (left + right) / 2, y0 + 22);
    xml_text(f, p->title);
    fprintf(f, "</text>\n<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"12\">",
            (left + right) / 2, bottom + 38);
    xml_text(f, p->x_label);
    fprintf(f,
            "</text>\n<text transform=\"translate(%.1f %.1f) rotate(-90)\" "
            "text-anchor=\"middle\" font-size=\"12\">",
            x0 + 16, (top + bottom) / 2);
    xml_text(f, p->y_label);
    fprintf(f, "</text>\n");
}

static void draw_series(FILE *f, const ex_series *s, const char *colour, const axis *ax,
                        const axis *ay, double x0, double y0) {
    int i = 0;
    while (i < s->n) {
        while (i < s->n && !finite_point(s, i)) i++;
        int start = i;
        while (i < s->n && finite_point(s, i)) i++;
        if (i - start >= 2) {
            fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" "
                       "stroke-linejoin=\"round\"%s points=\"", colour,
                    s->dashed ? " stroke-dasharray=\"7 5\"" : "");
            for (int k = start; k < i; k++)
                fprintf(f, "%s%.2f,%.2f", k > start ? " " : "", map_x(ax, x0, s->x[k]),
                        map_y(ay, y0, s->y[k]));
            fprintf(f, "\"/>\n");
        }
    }
    /* Markers make a lone point (one epoch, or one between two gaps) visible. */
    int n_finite = 0;
    for (int k = 0; k < s->n; k++) n_finite += finite_point(s, k);
    for (int k = 0; k < s->n; k++) {
        bool lone = finite_point(s, k) && (k == 0 || !finite_point(s, k - 1)) &&
                    (k + 1 == s->n || !finite_point(s, k + 1));
        if (finite_point(s, k) && (n_finite <= MARKERS_UP_TO || lone))
            fprintf(f, "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"3\" fill=\"%s\"/>\n",
                    map_x(ax, x0, s->x[k]), map_y(ay, y0, s->y[k]), colour);
    }
}

static const char *colour_of(const ex_panel *p, int i) {
    return p->series[i].colour ? p->series[i].colour : colours[i];
}

/* How much of the drawn data falls in the rectangle: points sampled along every segment. */
static int data_under(const ex_panel *p, const axis *ax, const axis *ay, double x0, double y0,
                      double left, double top, double w, double h) {
    int hits = 0;
    for (int i = 0; i < p->n_series; i++) {
        const ex_series *s = &p->series[i];
        for (int k = 0; k < s->n; k++) {
            if (!finite_point(s, k)) continue;
            bool next = k + 1 < s->n && finite_point(s, k + 1);
            int steps = next ? 16 : 1;
            for (int j = 0; j < steps; j++) {
                double u = (double)j / steps;
                double vx = next ? s->x[k] + u * (s->x[k + 1] - s->x[k]) : s->x[k];
                double vy = next ? s->y[k] + u * (s->y[k + 1] - s->y[k]) : s->y[k];
                double px = map_x(ax, x0, vx), py = map_y(ay, y0, vy);
                hits += px >= left && px <= left + w && py >= top && py <= top + h;
            }
        }
    }
    return hits;
}

static void draw_legend(FILE *f, const ex_panel *p, const axis *ax, const axis *ay, double x0,
                        double y0) {
    size_t longest = 0;
    for (int i = 0; i < p->n_series; i++) {
        size_t len = p->series[i].name ? strlen(p->series[i].name) : 0;
        if (len > longest) longest = len;
    }
    double w = 40.0 + 7.0 * (double)longest, h = 8.0 + 18.0 * p->n_series;
    /* Corners in order of preference: top right, bottom right, top left, bottom left. */
    double lefts[2] = {x0 + BOX_RIGHT - w - 8, x0 + BOX_LEFT + 8};
    double tops[2] = {y0 + BOX_TOP + 8, y0 + BOX_BOTTOM - h - 8};
    double left = lefts[0], top = tops[0];
    int best = -1;
    for (int corner = 0; corner < 4; corner++) {
        double l = lefts[corner / 2], tp = tops[corner % 2];
        int hits = data_under(p, ax, ay, x0, y0, l, tp, w, h);
        if (best < 0 || hits < best) {
            best = hits;
            left = l;
            top = tp;
        }
    }
    fprintf(f,
            "<g class=\"legend\" font-size=\"12\">\n<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
            "height=\"%.1f\" fill=\"white\" fill-opacity=\"0.85\" stroke=\"#999\"/>\n",
            left, top, w, h);
    for (int i = 0; i < p->n_series; i++) {
        double y = top + 15 + 18.0 * i;
        fprintf(f,
                "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                "stroke-width=\"2\"%s/>\n<text x=\"%.1f\" y=\"%.1f\">",
                left + 8, y - 4, left + 28, y - 4, colour_of(p, i),
                p->series[i].dashed ? " stroke-dasharray=\"5 3\"" : "", left + 34, y);
        xml_text(f, p->series[i].name);
        fprintf(f, "</text>\n");
    }
    fprintf(f, "</g>\n");
}

static void draw_panel_mapped(FILE *f, const ex_panel *p, double x0, double y0);

/* A log panel is drawn as a linear one over log10(y), with values <= 0 made NaN (left out)
 * and the axis labelled in powers of ten. */
static void draw_panel(FILE *f, const ex_panel *p, double x0, double y0) {
    if (!p->y_log) {
        draw_panel_mapped(f, p, x0, y0);
        return;
    }
    ex_panel q = *p;
    double *logs[EX_SVG_MAX_SERIES] = {0};
    for (int i = 0; i < p->n_series; i++) {
        int n = p->series[i].n;
        logs[i] = malloc((size_t)(n > 0 ? n : 1) * sizeof(double));
        if (!logs[i]) {
            q.series[i].n = 0; /* out of memory: the series is left out, the file stays valid */
            continue;
        }
        for (int k = 0; k < n; k++) {
            double v = p->series[i].y[k];
            logs[i][k] = v > 0 ? log10(v) : NAN;
        }
        q.series[i].y = logs[i];
    }
    if (p->y_min > 0 && p->y_min < p->y_max) {
        q.y_min = log10(p->y_min);
        q.y_max = log10(p->y_max);
    } else {
        q.y_min = q.y_max = 0;
    }
    draw_panel_mapped(f, &q, x0, y0);
    for (int i = 0; i < p->n_series; i++) free(logs[i]);
}

static void draw_panel_mapped(FILE *f, const ex_panel *p, double x0, double y0) {
    double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
    for (int i = 0; i < p->n_series; i++) {
        const ex_series *s = &p->series[i];
        for (int k = 0; k < s->n; k++) {
            if (!finite_point(s, k)) continue;
            xlo = fmin(xlo, s->x[k]);
            xhi = fmax(xhi, s->x[k]);
            ylo = fmin(ylo, s->y[k]);
            yhi = fmax(yhi, s->y[k]);
        }
    }
    if (p->y_min < p->y_max) {
        ylo = p->y_min;
        yhi = p->y_max;
    }
    axis ax = make_axis(xlo, xhi, p->x_integer);
    axis ay = p->y_log ? make_log_axis(ylo, yhi) : make_axis(ylo, yhi, false);
    draw_axes(f, p, &ax, &ay, x0, y0);
    /* Points outside a fixed y range would leave the box: clip them to it. */
    fprintf(f, "<clipPath id=\"box%.0f\"><rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
               "height=\"%.1f\"/></clipPath>\n<g clip-path=\"url(#box%.0f)\">\n",
            x0, x0 + BOX_LEFT - 4, y0 + BOX_TOP - 4, BOX_RIGHT - BOX_LEFT + 8,
            BOX_BOTTOM - BOX_TOP + 8, x0);
    for (int i = 0; i < p->n_series; i++)
        draw_series(f, &p->series[i], colour_of(p, i), &ax, &ay, x0, y0);
    fprintf(f, "</g>\n");
    if (p->n_series > 0) draw_legend(f, p, &ax, &ay, x0, y0);
}

tg_status ex_svg_write(const char *path, const char *title, int n_panels, const ex_panel *panels,
                       tg_error *err) {
    if (n_panels < 1 || n_panels > 4)
        return tg_error_set(err, TG_ERR_ARG, "svg: %d panels; 1 to 4 fit", n_panels);
    for (int i = 0; i < n_panels; i++)
        if (panels[i].n_series < 0 || panels[i].n_series > EX_SVG_MAX_SERIES)
            return tg_error_set(err, TG_ERR_ARG, "svg: panel %d has %d series; at most %d", i,
                                panels[i].n_series, EX_SVG_MAX_SERIES);
    ex_outfile o;
    tg_status st = ex_outfile_open(&o, path, "svg", err);
    if (st != TG_OK) return st;
    FILE *f = o.f;
    double width = PANEL_W * n_panels, height = PANEL_H + TITLE_H;
    fprintf(f,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
            "viewBox=\"0 0 %.0f %.0f\" font-family=\"sans-serif\">\n"
            "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n<title>",
            width, height, width, height);
    xml_text(f, title);
    fprintf(f, "</title>\n<text x=\"%.1f\" y=\"24\" text-anchor=\"middle\" font-size=\"16\" "
               "font-weight=\"bold\">", width / 2);
    xml_text(f, title);
    fprintf(f, "</text>\n");
    for (int i = 0; i < n_panels; i++) draw_panel(f, &panels[i], PANEL_W * i, TITLE_H);
    fprintf(f, "</svg>\n");
    return ex_outfile_commit(&o, "svg", err);
}
