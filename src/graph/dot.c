/* dot.c: writes a tape's recorded graph as Graphviz DOT.
 *
 * One DOT node per tensor: op results are named n<node id>, leaves l<k> in the order the tape
 * first uses them, so ids depend only on the program, never on addresses (STYLE S8.3). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "graph.h"

/* Leaves seen so far: an open-addressing set from tensor to its l<k> id. */
typedef struct leaf_set {
    const tg_tensor **keys;
    int64_t *ids;
    size_t cap;
    int64_t n;
} leaf_set;

static size_t slot_of(const leaf_set *s, const tg_tensor *x) {
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

/* Writes str with DOT string escapes. */
static void put_escaped(FILE *out, const char *str) {
    for (; *str; str++) {
        if (*str == '"' || *str == '\\') fputc('\\', out);
        fputc(*str, out);
    }
}

static double norm_of(const tg_tensor *g, int64_t *n_bad) {
    double sum = 0;
    int64_t n = tg_tensor_numel(g);
    *n_bad = 0;
    for (int64_t i = 0; i < n; i++) {
        double v = tg_tensor_get(g, i);
        if (!isfinite(v))
            (*n_bad)++;
        else
            sum += v * v;
    }
    return sqrt(sum);
}

/* Fill colour by the gradient norm's order of magnitude: blue for vanishing, green for
 * moderate, red for exploding; grey for exactly zero. */
static const char *norm_colour(double norm) {
    if (norm == 0) return "#e0e0e0";
    double e = log10(norm);
    if (e < -6) return "#4575b4";
    if (e < -3) return "#91bfdb";
    if (e < 0) return "#e0f3f8";
    if (e < 1) return "#fee090";
    if (e < 3) return "#fc8d59";
    return "#d73027";
}

static void put_node(FILE *out, const tg_tape *t, const tg_tensor *x, const char *id,
                     const char *kind, const tg_node *n, const tg_dot_options *o) {
    char shape[TG_SHAPE_STR_MAX], extra[96] = "";
    bool is_loss = x == t->loss;
    fprintf(out, "  %s [label=\"", id);
    put_escaped(out, kind);
    if (n && n->op->describe) {
        n->op->describe(n, extra, sizeof extra);
        fputc(' ', out);
        put_escaped(out, extra);
    }
    if (x->name[0]) {
        fputs(" '", out);
        put_escaped(out, x->name);
        fputc('\'', out);
    }
    fprintf(out, "\\n%s %s", tg_shape_str(x, shape, sizeof shape), tg_dtype_name(x->dtype));
    if (is_loss) fputs("\\nloss", out);
    const char *fill = NULL;
    if (o->show_grad_norms && x->grad) {
        int64_t bad;
        double norm = norm_of(x->grad, &bad);
        fprintf(out, "\\n|grad| %.3g", norm);
        if (bad) fprintf(out, " (%lld NaN/Inf)", (long long)bad);
        fill = bad ? "#ff00ff" : norm_colour(norm);
    }
    fputc('"', out);
    if (is_loss)
        fprintf(out, ", shape=doubleoctagon, style=filled, fillcolor=\"%s\"",
                fill ? fill : "#f4a582");
    else if (x->role == TG_ROLE_PARAM)
        fprintf(out, ", shape=box3d, style=filled, fillcolor=\"%s\"", fill ? fill : "#fddc8c");
    else if (!n)
        fprintf(out, ", shape=ellipse, style=filled, fillcolor=\"%s\"", fill ? fill : "#c6dbef");
    else if (fill)
        fprintf(out, ", style=\"rounded,filled\", fillcolor=\"%s\"", fill);
    fputs("];\n", out);
}

tg_status tg_tape_write_dot(tg_tape *t, FILE *out, const tg_dot_options *opts) {
    if (!t) return TG_ERR_NULL;
    if (!out) return tg_fail_status(t, TG_ERR_NULL, "write_dot: output stream is NULL");
    tg_dot_options o = opts ? *opts : (tg_dot_options){false, NULL};
    int64_t n_nodes = t->n_nodes;
    size_t cap = 16;
    while (cap < (size_t)(2 * TG_MAX_INPUTS * n_nodes + 2)) cap *= 2;
    tg_node **order = tg_alloc((size_t)(n_nodes ? n_nodes : 1) * sizeof *order);
    leaf_set leaves = {tg_alloc(cap * sizeof *leaves.keys), tg_alloc(cap * sizeof *leaves.ids),
                       cap, 0};
    tg_status s = TG_OK;
    if (!order || !leaves.keys || !leaves.ids) {
        s = tg_fail_status(t, TG_ERR_NOMEM, "write_dot: out of memory");
        goto done;
    }
    memset(leaves.keys, 0, cap * sizeof *leaves.keys);
    {
        int64_t k = n_nodes;
        for (tg_node *n = t->last; n && k > 0; n = n->prev) order[--k] = n;
    }

    fputs("digraph tapegrad {\n  graph [rankdir=TB, labelloc=t, label=\"", out);
    put_escaped(out, o.title ? o.title : "tapegrad");
    fputs("\"];\n  node [shape=box, style=rounded, fontname=\"Helvetica\", fontsize=10];\n"
          "  edge [arrowsize=0.7];\n",
          out);
    for (int64_t k = 0; k < n_nodes; k++) {
        const tg_node *n = order[k];
        char id[32];
        for (int i = 0; i < n->n_inputs; i++) {
            const tg_tensor *x = n->inputs[i];
            if (x->node) continue;
            bool is_new;
            int64_t lid = leaf_id(&leaves, x, &is_new);
            snprintf(id, sizeof id, "l%lld", (long long)lid);
            if (is_new)
                put_node(out, t, x, id, x->role == TG_ROLE_PARAM ? "param" : "input", NULL, &o);
        }
        snprintf(id, sizeof id, "n%lld", (long long)n->id);
        put_node(out, t, n->out, id, n->op->name, n, &o);
        for (int i = 0; i < n->n_inputs; i++) {
            const tg_tensor *x = n->inputs[i];
            bool is_new;
            if (x->node)
                fprintf(out, "  n%lld -> n%lld;\n", (long long)x->node->id, (long long)n->id);
            else
                fprintf(out, "  l%lld -> n%lld;\n", (long long)leaf_id(&leaves, x, &is_new),
                        (long long)n->id);
        }
    }
    fputs("}\n", out);
    if (fflush(out) != 0 || ferror(out))
        s = tg_fail_status(t, TG_ERR_IO, "write_dot: writing the graph failed");
done:
    tg_free(order);
    tg_free(leaves.keys);
    tg_free(leaves.ids);
    return s;
}

tg_status tg_tape_write_dot_path(tg_tape *t, const char *path, const tg_dot_options *opts) {
    if (!t) return TG_ERR_NULL;
    if (!path) return tg_fail_status(t, TG_ERR_NULL, "write_dot: path is NULL");
    FILE *f = fopen(path, "w");
    if (!f) return tg_fail_status(t, TG_ERR_IO, "write_dot: cannot open '%s' for writing", path);
    tg_status s = tg_tape_write_dot(t, f, opts);
    if (fclose(f) != 0 && s == TG_OK)
        s = tg_fail_status(t, TG_ERR_IO, "write_dot: closing '%s' failed", path);
    return s;
}
