/* dot.c: writes a tape's recorded graph as Graphviz DOT.
 *
 * One DOT node per tensor: op results are named n<node id>, leaves l<k> in the order the tape
 * first uses them, so the bytes depend only on the program, never on addresses or on the
 * caller's locale (CONTRIBUTING S8.3). Every label is escaped into well-formed UTF-8 DOT text, so
 * `dot` accepts whatever names the user chose. What is drawn where (clusters, collapsed
 * repeats, the node cap, edges, gradient statistics) is decided first, in dot_layout.c; this
 * file writes it: labels, colours, the legend, and the stream's errors. */
#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "dot_int.h"

/* ---- text ---- */

/* Length of the well-formed UTF-8 sequence at s (1 to 4), or 0 if it is malformed or cut
 * short; overlong forms and surrogates count as malformed. s is NUL-terminated, and NUL is
 * never a continuation byte, so this reads nothing past the terminator. */
static int utf8_len(const unsigned char *s) {
    unsigned char c = s[0], lo = 0x80, hi = 0xBF;
    int n;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else {
        return 0;
    }
    if (s[1] < lo || s[1] > hi) return 0;
    for (int i = 2; i < n; i++)
        if ((s[i] & 0xC0) != 0x80) return 0;
    return n;
}

/* Writes str as the inside of a DOT quoted label. Quotes and backslashes are escaped (so a
 * name holding "\N" is not read as Graphviz's node-name escape); a line break (\n, \r\n or
 * \r) becomes the label escape \n, a tab a space, and any other control byte or malformed
 * UTF-8 byte (a name cut at 63 bytes may end inside a character) a '?': `dot` warns on
 * invalid UTF-8, and raw newlines would make a label span lines of the file. */
static void put_text(FILE *out, const char *str) {
    const unsigned char *s = (const unsigned char *)str;
    while (*s) {
        unsigned char c = *s;
        if (c == '"' || c == '\\') {
            fputc('\\', out);
            fputc(c, out);
            s++;
        } else if (c == '\n' || c == '\r') {
            fputs("\\n", out);
            s += c == '\r' && s[1] == '\n' ? 2 : 1;
        } else if (c == '\t') {
            fputc(' ', out);
            s++;
        } else if (c < 0x20 || c == 0x7F) {
            fputc('?', out);
            s++;
        } else {
            int n = utf8_len(s);
            if (n == 0) {
                fputc('?', out);
                s++;
            } else {
                fwrite(s, 1, (size_t)n, out);
                s += n;
            }
        }
    }
}

/* ---- colours ---- */

/* Fixed bands by order of magnitude (TG_DOT_COLOUR_BANDS), blue for vanishing through red for
 * exploding (a diverging ColorBrewer scale). The legend is drawn from the same table. */
static const struct {
    double below;
    const char *colour;
    const char *legend; /* HTML-like label text */
    bool dark;          /* dark enough to need white text */
} norm_scale[] = {
    {1e-6, "#4575b4", "&lt; 1e-6", true}, {1e-3, "#91bfdb", "1e-6 to 1e-3", false},
    {1, "#e0f3f8", "1e-3 to 1", false},   {10, "#fee090", "1 to 10", false},
    {1e3, "#fc8d59", "10 to 1e3", false}, {INFINITY, "#d73027", "1e3 and above", true},
};
#define N_SCALE (sizeof norm_scale / sizeof norm_scale[0])

/* The range mode's ramp: ColorBrewer YlOrRd, nine classes, pale to dark. Its lightness falls
 * monotonically, so "paler = smaller" holds in grey print too. */
static const unsigned char ramp[][3] = {
    {0xff, 0xff, 0xcc}, {0xff, 0xed, 0xa0}, {0xfe, 0xd9, 0x76}, {0xfe, 0xb2, 0x4c},
    {0xfd, 0x8d, 0x3c}, {0xfc, 0x4e, 0x2a}, {0xe3, 0x1a, 0x1c}, {0xbd, 0x00, 0x26},
    {0x80, 0x00, 0x26},
};
#define N_RAMP (sizeof ramp / sizeof ramp[0])

/* Zero is grey in both modes; NaN/Inf is a saturated blue that neither scale's warm end
 * comes near (and the bands' blue end has its own label), in the range mode the one cold
 * colour in the picture. */
#define COLOUR_ZERO "#d9d9d9"
#define COLOUR_BAD_RANGE "#2166ac"
#define COLOUR_BAD_BANDS "#ff00ff"

typedef struct colour {
    char hex[8];
    bool dark; /* needs white text */
} colour;

/* The ramp at position u in [0, 1], interpolated linearly between neighbouring classes. */
static colour ramp_at(double u) {
    if (!(u >= 0)) u = 0;
    if (u > 1) u = 1;
    double x = u * (N_RAMP - 1);
    size_t k = (size_t)x;
    if (k >= N_RAMP - 1) k = N_RAMP - 2;
    double f = x - (double)k;
    int rgb[3];
    for (int c = 0; c < 3; c++)
        rgb[c] = (int)lround(ramp[k][c] + f * (ramp[k + 1][c] - ramp[k][c]));
    colour out;
    snprintf(out.hex, sizeof out.hex, "#%02x%02x%02x", rgb[0], rgb[1], rgb[2]);
    /* Rec. 709 luma: below about half, black text loses contrast. */
    out.dark = 0.2126 * rgb[0] + 0.7152 * rgb[1] + 0.0722 * rgb[2] < 120;
    return out;
}

/* Where a norm sits in the graph's range: 0 at the smallest, 1 at the largest. A graph with
 * one distinct norm puts it in the middle. */
static double range_pos(const dot_graph *g, double norm) {
    if (g->log_hi - g->log_lo <= 0) return 0.5;
    return (log10(norm) - g->log_lo) / (g->log_hi - g->log_lo);
}

static colour grad_colour(const dot_graph *g, const dot_item *it, tg_dot_grad_colours mode) {
    colour c = {COLOUR_ZERO, false};
    if (it->n_bad) {
        snprintf(c.hex, sizeof c.hex, "%s", mode == TG_DOT_COLOUR_BANDS ? COLOUR_BAD_BANDS
                                                                          : COLOUR_BAD_RANGE);
        c.dark = mode != TG_DOT_COLOUR_BANDS;
        return c;
    }
    double norm = it->norm_hi; /* repeats: the largest */
    if (norm == 0) return c;
    if (mode == TG_DOT_COLOUR_BANDS) {
        size_t k = 0;
        while (k < N_SCALE - 1 && !(norm < norm_scale[k].below)) k++;
        snprintf(c.hex, sizeof c.hex, "%s", norm_scale[k].colour);
        c.dark = norm_scale[k].dark;
        return c;
    }
    return ramp_at(range_pos(g, norm));
}

static void put_legend(FILE *out, const dot_graph *g, tg_dot_grad_colours mode) {
    fputs("  legend [shape=plaintext, label=<<table border=\"0\" cellborder=\"1\" "
          "cellspacing=\"0\" cellpadding=\"3\">\n",
          out);
    if (mode == TG_DOT_COLOUR_BANDS) {
        fputs("    <tr><td><b>|grad|</b></td></tr>\n", out);
        fprintf(out, "    <tr><td bgcolor=\"%s\">0</td></tr>\n", COLOUR_ZERO);
        for (size_t i = 0; i < N_SCALE; i++)
            fprintf(out, "    <tr><td bgcolor=\"%s\">%s%s%s</td></tr>\n", norm_scale[i].colour,
                    norm_scale[i].dark ? "<font color=\"white\">" : "", norm_scale[i].legend,
                    norm_scale[i].dark ? "</font>" : "");
        fprintf(out, "    <tr><td bgcolor=\"%s\">has NaN/Inf</td></tr>\n", COLOUR_BAD_BANDS);
    } else {
        /* The ramp from the largest norm at the top to the smallest, five steps, each
         * labelled with its log10 |grad|: the ends are this graph's actual extremes. */
        fputs("    <tr><td><b>log10 |grad|</b></td></tr>\n", out);
        if (g->has_range) {
            int steps = g->log_hi > g->log_lo ? 5 : 1;
            for (int k = 0; k < steps; k++) {
                double u = steps > 1 ? 1 - (double)k / (steps - 1) : 0.5;
                double l = steps > 1 ? g->log_lo + u * (g->log_hi - g->log_lo) : g->log_hi;
                if (fabs(l) < 0.005) l = 0; /* "0.00", never "-0.00" */
                colour c = ramp_at(u);
                const char *end = k == 0 ? "max " : k == steps - 1 ? "min " : "";
                fprintf(out, "    <tr><td bgcolor=\"%s\">%s%s%.2f", c.hex,
                        c.dark ? "<font color=\"white\">" : "", steps > 1 ? end : "", l);
                if (end[0]) fprintf(out, " (|grad| %.3g)", pow(10, l));
                fprintf(out, "%s</td></tr>\n", c.dark ? "</font>" : "");
            }
        }
        if (g->any_collapsed)
            fputs("    <tr><td>xN nodes: their largest</td></tr>\n", out);
        fprintf(out, "    <tr><td bgcolor=\"%s\">|grad| = 0</td></tr>\n", COLOUR_ZERO);
        fprintf(out, "    <tr><td bgcolor=\"%s\"><font color=\"white\">has NaN/Inf</font>"
                     "</td></tr>\n",
                COLOUR_BAD_RANGE);
    }
    fputs("  </table>>];\n", out);
}

/* ---- nodes ---- */

/* What a leaf is, for its label. */
static const char *leaf_kind(const tg_tensor *x) {
    switch (x->role) {
    case TG_ROLE_PARAM:
        return "parameter";
    case TG_ROLE_BUFFER:
        return "buffer";
    case TG_ROLE_INPUT:
        return "input";
    case TG_ROLE_INTERMEDIATE:
        break;
    }
    /* An op's result with no node on this tape: computed with recording off, from tensors that
     * need no gradient, or on another tape. Gradients do not flow through it here. */
    return "constant";
}

/* The DOT name of item i (or of the cap's note for -1). */
static const char *item_id(const dot_graph *g, int64_t i, char *buf, size_t size) {
    if (i < 0)
        snprintf(buf, size, "omitted");
    else
        snprintf(buf, size, "%c%lld", g->items[i].n ? 'n' : 'l', (long long)g->items[i].num);
    return buf;
}

static void indent(FILE *out, int depth) {
    for (int i = 0; i <= depth; i++) fputs("  ", out);
}

/* Writes one DOT node, `depth` clusters deep. */
static void put_node(FILE *out, const dot_graph *g, const dot_item *it, int depth,
                     const tg_dot_options *o) {
    const tg_tensor *x = it->x;
    const tg_node *n = it->n;
    char shape[TG_SHAPE_STR_MAX], extra[96] = "", id[32];
    bool is_loss = g->loss_item >= 0 && it == &g->items[g->loss_item];
    indent(out, depth);
    fprintf(out, "%s [label=\"", item_id(g, it - g->items, id, sizeof id));
    if (n) {
        fprintf(out, "#%lld ", (long long)n->id); /* the number errors use ("node 3") */
        put_text(out, n->op->name);
        if (n->op->describe) {
            n->op->describe(n, extra, sizeof extra);
            if (extra[0]) {
                fputc(' ', out);
                put_text(out, extra);
            }
        }
    } else {
        fputs(leaf_kind(x), out);
    }
    if (x->name[0]) {
        fputs(" '", out);
        put_text(out, x->name);
        fputc('\'', out);
    }
    fprintf(out, "\\n%s %s", tg_shape_str(x, shape, sizeof shape), tg_dtype_name(x->dtype));
    if (is_loss) fputs("\\nloss", out);
    colour fill = {"", false};
    if (o->show_grad_norms && it->has_grad) {
        if (it->n_repeats > 1 && it->norm_lo != it->norm_hi)
            fprintf(out, "\\n|grad| %.3g to %.3g", it->norm_lo, it->norm_hi);
        else
            fprintf(out, "\\n|grad| %.3g", it->norm_hi);
        if (it->n_bad) fprintf(out, " (%lld NaN/Inf)", (long long)it->n_bad);
        if (!is_loss || it->n_bad) fill = grad_colour(g, it, o->grad_colours);
    }
    if (it->n_repeats > 1) fprintf(out, "\\nx%lld", (long long)it->n_repeats);
    fputc('"', out);
    /* The shape says the role, so it still shows when the fill shows a gradient norm. */
    const char *shape_name = NULL, *role_fill = NULL;
    bool param = !n && x->role == TG_ROLE_PARAM;
    if (is_loss) {
        shape_name = "doubleoctagon";
        role_fill = "#f4a582";
    } else if (!n) {
        switch (x->role) {
        case TG_ROLE_PARAM:
            shape_name = "box3d";
            role_fill = "#fddc8c";
            break;
        case TG_ROLE_BUFFER:
            shape_name = "box3d";
            role_fill = "#d9f0d3";
            break;
        case TG_ROLE_INPUT:
            shape_name = "ellipse";
            role_fill = "#c6dbef";
            break;
        case TG_ROLE_INTERMEDIATE:
            shape_name = "ellipse"; /* a constant: dashed and unfilled */
            break;
        }
    }
    const char *fill_hex = fill.hex[0] ? fill.hex : role_fill;
    if (shape_name) fprintf(out, ", shape=%s", shape_name);
    if (fill_hex)
        fprintf(out, ", style=\"%s\", fillcolor=\"%s\"", shape_name ? "filled" : "rounded,filled",
                fill_hex);
    else if (shape_name)
        fputs(", style=dashed", out);
    if (fill.dark) fputs(", fontcolor=\"white\"", out);
    /* Parameters keep a heavy outline, so they stand out when the fill is a gradient's. */
    if (is_loss || (param && fill.hex[0])) fputs(", penwidth=2", out);
    fputs("];\n", out);
}

/* ---- errors ---- */

/* errno's text, or "" when errno says nothing. */
static const char *errno_text(int err, char *buf, size_t size) {
    if (err == 0)
        buf[0] = '\0';
    else
        snprintf(buf, size, ": %s", strerror(err));
    return buf;
}

/* ---- the graph ---- */

/* A cluster's label: the scope's own name, or for a collapsed group its prefix (without a
 * trailing separator) and the count. */
static void put_cluster_label(FILE *out, const dot_graph *g, int32_t s) {
    const char *name = tg_scope_name(g->t, s);
    const dot_scope *sc = &g->scopes[s];
    if (sc->n_repeats <= 1) {
        put_text(out, name);
        return;
    }
    char prefix[TG_SCOPE_PATH_MAX];
    int len = sc->prefix_len;
    while (len > 0 && strchr("/_-. :", name[len - 1])) len--;
    snprintf(prefix, sizeof prefix, "%.*s", len, name);
    put_text(out, prefix);
    fprintf(out, "%sx%lld\\n(%lld to %lld, showing ", len ? " " : "", (long long)sc->n_repeats,
            (long long)sc->first_number, (long long)sc->last_number);
    put_text(out, name);
    fputc(')', out);
}

/* Writes scope s's drawn items and child clusters, merged in order of first item. */
static void put_scope(FILE *out, const dot_graph *g, int32_t s, int depth,
                      const tg_dot_options *o) {
    const dot_scope *sc = &g->scopes[s];
    if (s > 0) {
        indent(out, depth - 1);
        fprintf(out, "subgraph cluster_s%d {\n", (int)s);
        indent(out, depth);
        fputs("label=\"", out);
        put_cluster_label(out, g, s);
        fprintf(out, "\"; style=\"rounded%s\"; color=\"#969696\"; fontsize=11; "
                     "labeljust=l;\n",
                sc->n_repeats > 1 ? ",dashed,bold" : "");
    }
    int64_t i = sc->items_head;
    int32_t c = sc->child_head;
    while (i >= 0 || c >= 0) {
        while (c >= 0 && (g->scopes[c].hidden || g->scopes[c].n_drawn == 0))
            c = g->scopes[c].next_sibling;
        if (c >= 0 && (i < 0 || g->scopes[c].first_item < i)) {
            put_scope(out, g, c, depth + 1, o);
            c = g->scopes[c].next_sibling;
        } else if (i >= 0) {
            const dot_item *it = &g->items[i];
            if (it->rep == i && !it->dropped) put_node(out, g, it, depth, o);
            i = it->next;
        }
    }
    if (s > 0) {
        indent(out, depth - 1);
        fputs("}\n", out);
    }
}

static void put_graph(FILE *out, const dot_graph *g, const tg_dot_options *o) {
    fputs("digraph tapegrad {\n  graph [rankdir=TB, labelloc=t, fontname=\"Helvetica\", label=\"",
          out);
    put_text(out, o->title ? o->title : "tapegrad");
    fputs("\"];\n  node [shape=box, style=rounded, fontname=\"Helvetica\", fontsize=10];\n"
          "  edge [arrowsize=0.7];\n",
          out);
    put_scope(out, g, 0, 0, o);
    if (g->n_dropped)
        fprintf(out, "  omitted [label=\"%lld nodes not drawn\\n(max_nodes %lld)\", shape=note, "
                     "style=\"filled\", fillcolor=\"#f0f0f0\"];\n",
                (long long)g->n_dropped, (long long)g->max_nodes);
    /* ferror: a failed stream stops the walk; the caller reports it. */
    for (int64_t k = 0; k < g->n_edges && !ferror(out); k++) {
        const dot_edge *e = &g->edges[k];
        char from[32], to[32];
        fprintf(out, "  %s -> %s", item_id(g, e->from, from, sizeof from),
                item_id(g, e->to, to, sizeof to));
        if (e->from < 0 || e->to < 0)
            fputs(" [style=dashed]", out);
        else if (e->back)
            fputs(" [style=dashed, constraint=false]", out);
        else if (e->minlen > 1)
            fprintf(out, " [minlen=%d]", e->minlen); /* see space_clusters */
        fputs(";\n", out);
    }
    if (o->show_grad_norms) put_legend(out, g, o->grad_colours);
    fputs("}\n", out);
}

tg_status tg_tape_write_dot(tg_tape *t, FILE *out, const tg_dot_options *opts) {
    if (!t) return TG_ERR_NULL;
    if (!out) return tg_fail_unsited(t, TG_ERR_NULL, "write_dot: output stream is NULL");
    tg_dot_options o;
    memset(&o, 0, sizeof o);
    if (opts) o = *opts;
    dot_graph g;
    tg_status s = dot_graph_build(&g, t, &o);
    if (s != TG_OK) {
        s = tg_fail_unsited(t, s, "write_dot: out of memory for a graph of %lld nodes",
                     (long long)t->n_nodes);
        dot_graph_free(&g);
        return s;
    }

    /* Numbers are written with '.' whatever LC_NUMERIC the program chose (ours, and the ops'
     * describe texts): the thread runs in the C locale while it writes. uselocale affects
     * only this thread, and glibc's newlocale returns its static C locale without
     * allocating. If either fails the text is still valid, only perhaps not byte-stable. */
    locale_t c_numeric = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
    locale_t previous = c_numeric ? uselocale(c_numeric) : (locale_t)0;
    errno = 0;
    put_graph(out, &g, &o);
    int failed = fflush(out) != 0 || ferror(out);
    int err = errno;
    if (previous) uselocale(previous);
    if (c_numeric) freelocale(c_numeric);
    if (failed) {
        char why[128];
        s = tg_fail_unsited(t, TG_ERR_IO, "write_dot: writing the graph failed%s",
                     errno_text(err, why, sizeof why));
    }
    dot_graph_free(&g);
    return s;
}

tg_status tg_tape_write_dot_path(tg_tape *t, const char *path, const tg_dot_options *opts) {
    if (!t) return TG_ERR_NULL;
    if (!path) return tg_fail_unsited(t, TG_ERR_NULL, "write_dot: path is NULL");
    char why[128];
    errno = 0;
    FILE *f = fopen(path, "w");
    if (!f)
        return tg_fail_unsited(t, TG_ERR_IO, "write_dot: cannot open '%s' for writing%s", path,
                        errno_text(errno, why, sizeof why));
    tg_status s = tg_tape_write_dot(t, f, opts);
    errno = 0;
    /* A partial file is left in place: removing `path` could delete something that was never
     * ours (a device such as /dev/full, or a file the caller wanted truncated, not gone). */
    if (fclose(f) != 0 && s == TG_OK)
        s = tg_fail_unsited(t, TG_ERR_IO, "write_dot: closing '%s' failed%s", path,
                     errno_text(errno, why, sizeof why));
    return s;
}
