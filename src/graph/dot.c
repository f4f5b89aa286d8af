/* dot.c: writes a tape's recorded graph as Graphviz DOT.
 *
 * One DOT node per tensor: op results are named n<node id>, leaves l<k> in the order the tape
 * first uses them, so the bytes depend only on the program, never on addresses or on the
 * caller's locale (CONTRIBUTING S8.3). Every label is escaped into well-formed UTF-8 DOT text, so
 * `dot` accepts whatever names the user chose. */
#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "graph.h"

/* ---- leaves: an open-addressing set from tensor to its l<k> id ---- */

typedef struct leaf_set {
    const tg_tensor **keys;
    int64_t *ids;
    size_t cap; /* a power of two, at least twice the most leaves the tape can have */
    int64_t n;
} leaf_set;

static size_t slot_of(const leaf_set *s, const tg_tensor *x) {
    /* The address only picks a slot; the id handed out is the order of first use. */
    size_t h = (size_t)((uintptr_t)x >> 6) * (size_t)11400714819323198485ull;
    size_t i = h & (s->cap - 1);
    while (s->keys[i] && s->keys[i] != x) i = (i + 1) & (s->cap - 1);
    return i;
}

/* The id of leaf x, and whether it was new. */
static int64_t leaf_id(leaf_set *s, const tg_tensor *x, bool *is_new) {
    size_t i = slot_of(s, x);
    *is_new = s->keys[i] == NULL;
    if (*is_new) {
        s->keys[i] = x;
        s->ids[i] = s->n++;
    }
    return s->ids[i];
}

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

/* ---- gradient norms and their colours ---- */

/* The 2-norm of g's finite elements, scaled by the largest magnitude so that squaring cannot
 * overflow (a gradient of 1e200 has norm 1e200, not inf); non-finite elements are counted in
 * n_bad instead. Read through tg_tensor_get, so views and f32 need no special case. */
static double norm_of(const tg_tensor *g, int64_t *n_bad) {
    int64_t n = tg_tensor_numel(g);
    double big = 0;
    *n_bad = 0;
    for (int64_t i = 0; i < n; i++) {
        double v = tg_tensor_get(g, i);
        if (!isfinite(v))
            (*n_bad)++;
        else if (fabs(v) > big)
            big = fabs(v);
    }
    if (big == 0) return 0;
    double sum = 0;
    for (int64_t i = 0; i < n; i++) {
        double v = tg_tensor_get(g, i);
        if (isfinite(v)) sum += (v / big) * (v / big);
    }
    return big * sqrt(sum);
}

/* Fill colours by the norm's order of magnitude, blue for vanishing through red for exploding
 * (a diverging ColorBrewer scale, readable in grey print); grey for exactly zero and magenta
 * when any element is NaN or Inf. The legend is drawn from the same table. */
#define COLOUR_ZERO "#e0e0e0"
#define COLOUR_BAD  "#ff00ff"
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

/* The scale's entry for a norm that is neither zero nor NaN. */
static size_t norm_step(double norm) {
    for (size_t i = 0; i < N_SCALE; i++)
        if (norm < norm_scale[i].below) return i;
    return N_SCALE - 1; /* an infinite norm: the true norm is beyond double's range */
}

static void put_legend(FILE *out) {
    fputs("  legend [shape=plaintext, label=<<table border=\"0\" cellborder=\"1\" "
          "cellspacing=\"0\" cellpadding=\"3\">\n"
          "    <tr><td><b>|grad|</b></td></tr>\n",
          out);
    fprintf(out, "    <tr><td bgcolor=\"%s\">0</td></tr>\n", COLOUR_ZERO);
    for (size_t i = 0; i < N_SCALE; i++)
        fprintf(out, "    <tr><td bgcolor=\"%s\">%s%s%s</td></tr>\n", norm_scale[i].colour,
                norm_scale[i].dark ? "<font color=\"white\">" : "", norm_scale[i].legend,
                norm_scale[i].dark ? "</font>" : "");
    fprintf(out, "    <tr><td bgcolor=\"%s\">has NaN/Inf</td></tr>\n", COLOUR_BAD);
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

/* Writes one DOT node: `id` is its DOT name, n its producing node (NULL for a leaf). */
static void put_node(FILE *out, const tg_tape *t, const tg_tensor *x, const char *id,
                     const tg_node *n, const tg_dot_options *o) {
    char shape[TG_SHAPE_STR_MAX], extra[96] = "";
    bool is_loss = x == t->loss;
    fprintf(out, "  %s [label=\"", id);
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
    const char *fill = NULL;
    bool dark = false;
    if (o->show_grad_norms && x->grad) {
        int64_t bad;
        double norm = norm_of(x->grad, &bad);
        fprintf(out, "\\n|grad| %.3g", norm);
        if (bad) {
            fprintf(out, " (%lld NaN/Inf)", (long long)bad);
            fill = COLOUR_BAD;
        } else if (norm == 0) {
            fill = COLOUR_ZERO;
        } else {
            fill = norm_scale[norm_step(norm)].colour;
            dark = norm_scale[norm_step(norm)].dark;
        }
    }
    fputc('"', out);
    /* The shape says the role, so it still shows when the fill shows a gradient norm. */
    const char *shape_name = NULL, *role_fill = NULL;
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
    if (!fill) fill = role_fill;
    if (shape_name) fprintf(out, ", shape=%s", shape_name);
    if (fill)
        fprintf(out, ", style=\"%s\", fillcolor=\"%s\"", shape_name ? "filled" : "rounded,filled",
                fill);
    else if (shape_name)
        fputs(", style=dashed", out);
    if (dark) fputs(", fontcolor=\"white\"", out);
    if (is_loss) fputs(", penwidth=2", out);
    fputs("];\n", out);
}

/* ---- errors ---- */

/* Keeps the first error on the tape without a call site: the site in force belongs to the
 * last op called, which is not where the writing went wrong. */
static tg_status dot_fail(tg_tape *t, tg_status s, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static tg_status dot_fail(tg_tape *t, tg_status s, const char *fmt, ...) {
    char msg[TG_ERROR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const char *file = t->site_file;
    int line = t->site_line;
    t->site_file = NULL;
    tg_fail_status(t, s, "%s", msg);
    t->site_file = file;
    t->site_line = line;
    return s;
}

/* errno's text, or "" when errno says nothing. */
static const char *errno_text(int err, char *buf, size_t size) {
    if (err == 0)
        buf[0] = '\0';
    else
        snprintf(buf, size, ": %s", strerror(err));
    return buf;
}

/* ---- the graph ---- */

/* True when x was produced by a node recorded on this tape (order[k] is the node with id k). */
static bool on_tape(const tg_tensor *x, tg_node *const *order, int64_t n_nodes) {
    return x->node && x->node->id >= 0 && x->node->id < n_nodes && order[x->node->id] == x->node;
}

/* Writes leaf x (if this is its first appearance) and returns its DOT name in id. */
static void use_leaf(FILE *out, const tg_tape *t, leaf_set *leaves, const tg_tensor *x,
                     const tg_dot_options *o, char *id, size_t size) {
    bool is_new;
    int64_t k = leaf_id(leaves, x, &is_new);
    snprintf(id, size, "l%lld", (long long)k);
    if (is_new) put_node(out, t, x, id, NULL, o);
}

static void put_graph(FILE *out, const tg_tape *t, tg_node *const *order, leaf_set *leaves,
                      const tg_dot_options *o) {
    int64_t n_nodes = t->n_nodes;
    fputs("digraph tapegrad {\n  graph [rankdir=TB, labelloc=t, fontname=\"Helvetica\", label=\"",
          out);
    put_text(out, o->title ? o->title : "tapegrad");
    fputs("\"];\n  node [shape=box, style=rounded, fontname=\"Helvetica\", fontsize=10];\n"
          "  edge [arrowsize=0.7];\n",
          out);
    /* ferror: a failed stream stops the walk; the caller reports it. */
    for (int64_t k = 0; k < n_nodes && !ferror(out); k++) {
        const tg_node *n = order[k];
        char id[32], from[32];
        for (int i = 0; i < n->n_inputs; i++) {
            const tg_tensor *x = n->inputs[i];
            if (x && !on_tape(x, order, n_nodes)) use_leaf(out, t, leaves, x, o, from, sizeof from);
        }
        snprintf(id, sizeof id, "n%lld", (long long)n->id);
        put_node(out, t, n->out, id, n, o);
        /* Edges in data-flow direction, in input order (an op with an optional input may
         * leave a slot NULL). */
        for (int i = 0; i < n->n_inputs; i++) {
            const tg_tensor *x = n->inputs[i];
            if (!x) continue;
            if (on_tape(x, order, n_nodes))
                snprintf(from, sizeof from, "n%lld", (long long)x->node->id);
            else
                use_leaf(out, t, leaves, x, o, from, sizeof from);
            fprintf(out, "  %s -> %s;\n", from, id);
        }
    }
    /* A loss no node consumed (backward from a leaf) is still drawn, alone. */
    if (t->loss && !on_tape(t->loss, order, n_nodes)) {
        char id[32];
        use_leaf(out, t, leaves, t->loss, o, id, sizeof id);
    }
    if (o->show_grad_norms) put_legend(out);
    fputs("}\n", out);
}

tg_status tg_tape_write_dot(tg_tape *t, FILE *out, const tg_dot_options *opts) {
    if (!t) return TG_ERR_NULL;
    if (!out) return dot_fail(t, TG_ERR_NULL, "write_dot: output stream is NULL");
    tg_dot_options o = opts ? *opts : (tg_dot_options){false, NULL};
    int64_t n_nodes = t->n_nodes;
    size_t cap = 16; /* leaves are at most TG_MAX_INPUTS per node, plus a leaf loss */
    while (cap < (size_t)(2 * TG_MAX_INPUTS * n_nodes + 2)) cap *= 2;
    tg_node **order = tg_alloc((size_t)(n_nodes ? n_nodes : 1) * sizeof *order);
    leaf_set leaves = {tg_alloc(cap * sizeof *leaves.keys), tg_alloc(cap * sizeof *leaves.ids), cap,
                       0};
    tg_status s = TG_OK;
    if (!order || !leaves.keys || !leaves.ids) {
        s = dot_fail(t, TG_ERR_NOMEM, "write_dot: out of memory for a graph of %lld nodes",
                     (long long)n_nodes);
        goto done;
    }
    memset(leaves.keys, 0, cap * sizeof *leaves.keys);
    {
        int64_t k = n_nodes;
        for (tg_node *n = t->last; n && k > 0; n = n->prev) order[--k] = n;
    }

    /* Numbers are written with '.' whatever LC_NUMERIC the program chose (ours, and the ops'
     * describe texts): the thread runs in the C locale while it writes. uselocale affects
     * only this thread, and glibc's newlocale returns its static C locale without
     * allocating. If either fails the text is still valid, only perhaps not byte-stable. */
    locale_t c_numeric = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
    locale_t previous = c_numeric ? uselocale(c_numeric) : (locale_t)0;
    errno = 0;
    put_graph(out, t, order, &leaves, &o);
    int failed = fflush(out) != 0 || ferror(out);
    int err = errno;
    if (previous) uselocale(previous);
    if (c_numeric) freelocale(c_numeric);
    if (failed) {
        char why[128];
        s = dot_fail(t, TG_ERR_IO, "write_dot: writing the graph failed%s",
                     errno_text(err, why, sizeof why));
    }
done:
    tg_free(order);
    tg_free(leaves.keys);
    tg_free(leaves.ids);
    return s;
}

tg_status tg_tape_write_dot_path(tg_tape *t, const char *path, const tg_dot_options *opts) {
    if (!t) return TG_ERR_NULL;
    if (!path) return dot_fail(t, TG_ERR_NULL, "write_dot: path is NULL");
    char why[128];
    errno = 0;
    FILE *f = fopen(path, "w");
    if (!f)
        return dot_fail(t, TG_ERR_IO, "write_dot: cannot open '%s' for writing%s", path,
                        errno_text(errno, why, sizeof why));
    tg_status s = tg_tape_write_dot(t, f, opts);
    errno = 0;
    /* A partial file is left in place: removing `path` could delete something that was never
     * ours (a device such as /dev/full, or a file the caller wanted truncated, not gone). */
    if (fclose(f) != 0 && s == TG_OK)
        s = dot_fail(t, TG_ERR_IO, "write_dot: closing '%s' failed%s", path,
                     errno_text(errno, why, sizeof why));
    return s;
}
