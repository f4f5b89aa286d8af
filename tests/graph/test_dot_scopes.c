/* test_dot_scopes.c: what the DOT export draws from scopes and gradients: clusters nested as
 * the scopes were, leaves in the innermost scope holding all their uses, repeated scopes
 * collapsed (and not collapsed when they differ), the node cap and its note, colours by the
 * graph's own range against values worked out by hand, and `dot -Tsvg` accepting it all
 * (skipped without Graphviz). */
#include <unistd.h>

#include "dot_check.h"
#include "graph/graph.h" /* the nodes' scopes and the scope table */

/* The text between the line opening cluster `label` and its closing brace. */
static char *cluster_body(const char *text, const char *label) {
    char key[128];
    snprintf(key, sizeof key, "label=\"%s\"", label);
    const char *at = strstr(text, key);
    ck_assert_msg(at != NULL, "no cluster labelled %s in:\n%s", label, text);
    const char *open = at;
    while (open > text && strncmp(open, "subgraph cluster_", 17) != 0) open--;
    ck_assert_msg(open > text, "label %s is not a cluster's", label);
    int depth = 0;
    const char *p = open;
    for (; *p; p++) {
        if (*p == '"') { /* skip quoted text */
            for (p++; *p && *p != '"'; p++)
                if (*p == '\\') p++;
        } else if (*p == '{') {
            depth++;
        } else if (*p == '}' && --depth == 0) {
            break;
        }
    }
    size_t n = (size_t)(p - open);
    char *body = malloc(n + 1);
    ck_assert_ptr_nonnull(body);
    memcpy(body, open, n);
    body[n] = '\0';
    return body;
}

static tg_tensor *param(tg_store *s, const char *name, int ndim, const int64_t *shape,
                        double value) {
    tg_tensor *p = tg_store_param(s, name, TG_F64, ndim, shape);
    ck_assert_msg(p != NULL, "%s", tg_store_error(s));
    ck_assert_int_eq(tg_tensor_fill(p, value), TG_OK);
    return p;
}

/* ---- clusters ---- */

/* Two layers in scopes, one nested scope, a weight shared by both layers. */
START_TEST(test_scopes_become_clusters) {
    tg_store *s = tg_store_new();
    tg_tape *t = tg_tape_new();
    tg_tensor *w1 = param(s, "fc1.weight", TG_SHAPE(3, 3), 0.1);
    tg_tensor *shared = param(s, "shared", TG_SHAPE(3), 0.5);
    tg_tensor *x = tg_ones(t, TG_F64, TG_SHAPE(2, 3));
    tg_tape_push_scope(t, "model");
    tg_tape_push_scope(t, "fc1");
    tg_tensor *h = tg_add(t, tg_matmul(t, x, w1), shared);
    tg_tape_push_scope(t, "act");
    h = tg_tanh(t, h);
    tg_tape_pop_scope(t);
    tg_tape_pop_scope(t);
    tg_tape_push_scope(t, "fc2");
    h = tg_mul(t, h, shared);
    tg_tape_pop_scope(t);
    tg_tape_pop_scope(t);
    tg_tensor *loss = tg_sum_all(t, h);
    ck_assert_int_eq(tg_tape_backward(t, loss, NULL, 0), TG_OK);
    char *text = dot_text(t, NULL);
    check_structure(text);
    ck_assert_int_eq(count_of(text, "subgraph cluster_"), 4);
    char *model = cluster_body(text, "model"), *fc1 = cluster_body(text, "fc1");
    char *act = cluster_body(text, "act"), *fc2 = cluster_body(text, "fc2");
    /* Nesting: act inside fc1 inside model; fc2 inside model, not inside fc1. */
    ck_assert_ptr_nonnull(strstr(model, "label=\"fc1\""));
    ck_assert_ptr_nonnull(strstr(model, "label=\"fc2\""));
    ck_assert_ptr_nonnull(strstr(fc1, "label=\"act\""));
    ck_assert_ptr_null(strstr(fc1, "label=\"fc2\""));
    /* Nodes in their scopes: matmul and add in fc1, tanh in act, mul in fc2, sum at top. */
    ck_assert_ptr_nonnull(strstr(fc1, "[label=\"#0 matmul"));
    ck_assert_ptr_nonnull(strstr(fc1, "[label=\"#1 add"));
    ck_assert_ptr_nonnull(strstr(act, "[label=\"#2 tanh"));
    ck_assert_ptr_nonnull(strstr(fc2, "[label=\"#3 mul"));
    ck_assert_ptr_null(strstr(model, "#4 sum"));
    ck_assert_ptr_nonnull(strstr(text, "#4 sum"));
    /* Leaves: fc1.weight used only in fc1 sits there; the shared one in model, not in fc1;
     * x (used only in fc1) in fc1. */
    ck_assert_ptr_nonnull(strstr(fc1, "'fc1.weight'"));
    ck_assert_ptr_nonnull(strstr(fc1, "input\\n(2, 3)"));
    ck_assert_ptr_null(strstr(fc1, "'shared'"));
    ck_assert_ptr_nonnull(strstr(model, "'shared'"));
    free(model), free(fc1), free(act), free(fc2), free(text);
    tg_tape_free(t);
    tg_store_free(s);
}
END_TEST

/* A tape without scopes draws no cluster. */
START_TEST(test_no_scopes_no_clusters) {
    tg_tape *t = tg_tape_new();
    tg_tensor *x = tg_ones(t, TG_F64, TG_SHAPE(2));
    tg_tensor_set_requires_grad(x, true);
    tg_tensor *y = tg_sum_all(t, tg_exp(t, x));
    ck_assert_ptr_nonnull(y);
    tg_tape_push_scope(t, "unused"); /* a scope with no node in it draws nothing */
    tg_tape_pop_scope(t);
    char *text = dot_text(t, NULL);
    check_structure(text);
    ck_assert_ptr_null(strstr(text, "subgraph"));
    free(text);
    tg_tape_free(t);
}
END_TEST

/* A backward on tape t started from another tape's tensor, with TG_CREATE_GRAPH: the rules'
 * nodes are recorded on t, and must not carry the other tape's scope indices (t's table does
 * not have them: the DOT export and error messages would read past its end). They are
 * recorded at t's top level, and t's graph draws without clusters. */
START_TEST(test_backward_from_another_tape) {
    tg_tape *u = tg_tape_new(), *t = tg_tape_new();
    tg_tensor *x = tg_ones(u, TG_F64, TG_SHAPE(2));
    tg_tensor_set_requires_grad(x, true);
    tg_tape_push_scope(u, "a");
    tg_tape_push_scope(u, "b");
    tg_tape_push_scope(u, "c");
    tg_tensor *y = tg_sum_all(u, tg_exp(u, tg_mul(u, x, x)));
    tg_tape_pop_scope(u);
    tg_tape_pop_scope(u);
    tg_tape_pop_scope(u);
    ck_assert_ptr_nonnull(y);
    ck_assert_int_eq(tg_tape_backward(t, y, NULL, TG_CREATE_GRAPH), TG_OK);
    ck_assert_int_gt(tg_tape_n_nodes(t), 0);
    for (const tg_node *n = t->last; n; n = n->prev)
        ck_assert_int_eq(n->scope, 0);
    ck_assert_str_eq(tg_tape_scope(t), "");
    char *text = dot_text(t, NULL);
    check_structure(text);
    ck_assert_ptr_null(strstr(text, "subgraph"));
    free(text);
    tg_tape_free(t);
    tg_tape_free(u);
}
END_TEST

/* ---- repetition ---- */

/* A tanh RNN recorded step by step: T steps, step k in scope "step/k" (or "k" in "steps"),
 * h' = tanh(x_k W + h U); loss = sum(h_T). `odd` != -1 adds an extra op to that step. */
typedef struct rnn {
    tg_store *s;
    tg_tape *t;
    int64_t n_nodes;
} rnn;

static rnn rnn_run(int T, bool nested_names, int odd) {
    rnn r = {tg_store_new(), tg_tape_new(), 0};
    tg_rng rng;
    tg_rng_seed(&rng, 7);
    tg_tensor *W = tg_store_param(r.s, "W", TG_F64, TG_SHAPE(3, 4));
    tg_tensor *U = tg_store_param(r.s, "U", TG_F64, TG_SHAPE(4, 4));
    tg_tensor_fill_normal(W, &rng, 0, 0.5);
    tg_tensor_fill_normal(U, &rng, 0, 0.5);
    tg_tape *t = r.t;
    tg_tensor *h = tg_zeros(t, TG_F64, TG_SHAPE(2, 4));
    tg_tape_push_scope(t, "rnn");
    if (nested_names) tg_tape_push_scope(t, "steps");
    for (int k = 0; k < T; k++) {
        char name[32];
        snprintf(name, sizeof name, nested_names ? "%d" : "step/%d", k);
        tg_tape_push_scope(t, name);
        tg_tensor *x = tg_normal(t, &rng, TG_F64, TG_SHAPE(2, 3), 0, 1);
        tg_tensor *xw = tg_matmul(t, x, W); /* one statement each: a fixed order on the tape */
        tg_tensor *hu = tg_matmul(t, h, U);
        h = tg_tanh(t, tg_add(t, xw, hu));
        if (k == odd) h = tg_mul_scalar(t, h, 0.5);
        tg_tape_pop_scope(t);
    }
    if (nested_names) tg_tape_pop_scope(t);
    tg_tape_pop_scope(t);
    tg_tensor *loss = tg_sum_all(t, h);
    ck_assert_msg(tg_tape_backward(t, loss, NULL, 0) == TG_OK, "%s", tg_tape_error(t));
    r.n_nodes = tg_tape_n_nodes(t);
    return r;
}

static void rnn_free(rnn *r) {
    tg_tape_free(r->t);
    tg_store_free(r->s);
}

START_TEST(test_repeats_collapse) {
    rnn r = rnn_run(64, false, -1);
    ck_assert_int_eq(r.n_nodes, 64 * 4 + 1);
    tg_dot_options o = {.show_grad_norms = true, .collapse_repeats = true};
    char *text = dot_text(r.t, &o);
    check_structure(text);
    /* One cluster for the 64 steps, drawing step 0's four ops and its input x once. */
    ck_assert_contains(text, "label=\"step x64\\n(0 to 63, showing step/0)\"");
    ck_assert_int_eq(count_of(text, "subgraph cluster_"), 2); /* rnn, step x64 */
    ck_assert_int_eq(count_of(text, "[label=\"#"), 5);
    ck_assert_int_lt(count_of(text, "[label="), 12);
    ck_assert_int_eq(count_of(text, "\\nx64\""), 5); /* 4 ops and x, each standing for 64 */
    /* The recurrence h_k -> matmul of step k+1 lands on an earlier node: dashed. */
    ck_assert_contains(text, "n3 -> n1 [style=dashed, constraint=false];");
    /* The zero initial state is used by step 0 only, and is drawn there. */
    char *steps = cluster_body(text, "step x64\\n(0 to 63, showing step/0)");
    ck_assert_ptr_nonnull(strstr(steps, "input\\n(2, 4) f64"));
    /* The weights serve every step: outside the collapsed cluster. */
    ck_assert_ptr_null(strstr(steps, "'W'"));
    /* Gradients differ from step to step: the label gives the range over the repeats. */
    ck_assert_ptr_nonnull(strstr(steps, "|grad| "));
    ck_assert_ptr_nonnull(strstr(steps, " to "));
    free(steps);
    free(text);
    /* Without collapsing, every step is drawn. */
    o.collapse_repeats = false;
    text = dot_text(r.t, &o);
    check_structure(text);
    ck_assert_int_eq(count_of(text, "subgraph cluster_"), 65);
    ck_assert_int_eq(count_of(text, "[label=\"#"), 257);
    free(text);
    rnn_free(&r);
}
END_TEST

/* Bare numbers as names ("0", "1", ... inside "steps") collapse too; the label is the count. */
START_TEST(test_numbered_names_inside_a_scope) {
    rnn r = rnn_run(5, true, -1);
    tg_dot_options o = {.collapse_repeats = true};
    char *text = dot_text(r.t, &o);
    check_structure(text);
    ck_assert_contains(text, "label=\"x5\\n(0 to 4, showing 0)\"");
    ck_assert_int_eq(count_of(text, "[label=\"#"), 5);
    free(text);
    rnn_free(&r);
}
END_TEST

/* A step that differs ends the run: steps 0-3 collapse, step 4 (an extra op) is drawn alone,
 * and 5-9 collapse again. */
START_TEST(test_different_repeat_breaks_the_run) {
    rnn r = rnn_run(10, false, 4);
    tg_dot_options o = {.collapse_repeats = true};
    char *text = dot_text(r.t, &o);
    check_structure(text);
    ck_assert_contains(text, "label=\"step x4\\n(0 to 3, showing step/0)\"");
    ck_assert_contains(text, "label=\"step/4\"");
    ck_assert_contains(text, "label=\"step x5\\n(5 to 9, showing step/5)\"");
    ck_assert_int_eq(count_of(text, "[label=\"#"), 4 + 5 + 4 + 1);
    free(text);
    rnn_free(&r);
}
END_TEST

/* Layers 1-3 alike inside each of 4 alike blocks: both levels collapse. A gap in the numbers
 * (layer 5 after layer 3) starts a new group. */
START_TEST(test_nested_repeats_collapse) {
    tg_store *s = tg_store_new();
    tg_tape *t = tg_tape_new();
    tg_tensor *h = tg_ones(t, TG_F64, TG_SHAPE(2, 2));
    tg_tensor *w = param(s, "w", TG_SHAPE(2, 2), 0.5);
    for (int b = 0; b < 4; b++) {
        char name[16];
        snprintf(name, sizeof name, "block%d", b);
        tg_tape_push_scope(t, name);
        for (int l = 1; l <= 5; l++) {
            if (l == 4) continue;
            snprintf(name, sizeof name, "layer%d", l);
            tg_tape_push_scope(t, name);
            h = tg_relu(t, tg_matmul(t, h, w));
            tg_tape_pop_scope(t);
        }
        tg_tape_pop_scope(t);
    }
    tg_tensor *loss = tg_sum_all(t, h);
    ck_assert_int_eq(tg_tape_backward(t, loss, NULL, 0), TG_OK);
    tg_dot_options o = {.collapse_repeats = true};
    char *text = dot_text(t, &o);
    check_structure(text);
    char *blocks = cluster_body(text, "block x4\\n(0 to 3, showing block0)");
    ck_assert_ptr_nonnull(strstr(blocks, "label=\"layer x3\\n(1 to 3, showing layer1)\""));
    ck_assert_ptr_nonnull(strstr(blocks, "label=\"layer5\""));
    /* Drawn: layer1's two ops, layer5's two ops, and the sum. */
    ck_assert_int_eq(count_of(text, "[label=\"#"), 5);
    /* A layer's matmul stands for 3 layers in each of 4 blocks. */
    ck_assert_contains(text, "\\nx12\"");
    free(blocks);
    free(text);
    tg_tape_free(t);
    tg_store_free(s);
}
END_TEST

/* ---- the node cap ---- */

START_TEST(test_node_cap) {
    tg_tape *t = tg_tape_new();
    tg_tensor *x = tg_ones(t, TG_F64, TG_SHAPE(2));
    tg_tensor_set_requires_grad(x, true);
    tg_tensor *y = x;
    for (int i = 0; i < 1100; i++) y = tg_tanh(t, y);
    tg_tensor *loss = tg_sum_all(t, y);
    ck_assert_int_eq(tg_tape_backward(t, loss, NULL, 0), TG_OK);
    /* 1102 DOT nodes: x, 1100 tanh, the sum. */
    tg_dot_options o = {.max_nodes = 10};
    char *text = dot_text(t, &o);
    check_structure(text);
    ck_assert_int_eq(count_of(text, "[label=") - count_of(text, "omitted [label="), 10);
    ck_assert_contains(text, "omitted [label=\"1092 nodes not drawn\\n(max_nodes 10)\", shape=note");
    ck_assert_contains(text, "n1100 [label=\"#1100 sum"); /* the loss is always kept */
    ck_assert_contains(text, "n7 -> omitted [style=dashed];");
    ck_assert_contains(text, "omitted -> n1100 [style=dashed];");
    free(text);
    /* The default cap, and none. */
    o.max_nodes = 0;
    text = dot_text(t, &o);
    ck_assert_int_eq(count_of(text, "[label=") - 1, TG_DOT_DEFAULT_MAX_NODES);
    ck_assert_contains(text, "\"102 nodes not drawn\\n(max_nodes 1000)\"");
    free(text);
    o.max_nodes = -1;
    text = dot_text(t, &o);
    check_structure(text);
    ck_assert_int_eq(count_of(text, "[label="), 1102);
    ck_assert_ptr_null(strstr(text, "omitted"));
    free(text);
    tg_tape_free(t);
}
END_TEST

/* ---- colours ---- */

/* Norms 1e-3, 1 and 1e3: log10 -3, 0, 3, at the ramp's first, middle and last colours. */
START_TEST(test_range_colours_by_hand) {
    tg_store *s = tg_store_new();
    tg_tape *t = tg_tape_new();
    tg_tensor *a = param(s, "a", TG_SHAPE(1), 1), *b = param(s, "b", TG_SHAPE(1), 1);
    tg_tensor *c = param(s, "c", TG_SHAPE(1), 1);
    tg_tensor *sa = tg_mul_scalar(t, a, 1e-3), *sc = tg_mul_scalar(t, c, 1e3);
    tg_tensor *loss = tg_sum_all(t, tg_add(t, tg_add(t, sa, b), sc));
    ck_assert_int_eq(tg_tape_backward(t, loss, NULL, 0), TG_OK);
    tg_dot_options o = {.show_grad_norms = true};
    char *text = dot_text(t, &o);
    check_structure(text);
    ck_assert_contains(text, "'a'\\n(1,) f64\\n|grad| 0.001\", shape=box3d, style=\"filled\", "
                             "fillcolor=\"#ffffcc\", penwidth=2]");
    ck_assert_contains(text, "'b'\\n(1,) f64\\n|grad| 1\", shape=box3d, style=\"filled\", "
                             "fillcolor=\"#fd8d3c\", penwidth=2]");
    ck_assert_contains(text, "'c'\\n(1,) f64\\n|grad| 1e+03\", shape=box3d, style=\"filled\", "
                             "fillcolor=\"#800026\", fontcolor=\"white\", penwidth=2]");
    ck_assert_contains(text, "max 3.00 (|grad| 1e+03)");
    ck_assert_contains(text, "min -3.00 (|grad| 0.001)");
    ck_assert_contains(text, "<td bgcolor=\"#fd8d3c\">0.00</td>");
    free(text);
    tg_tape_free(t);
    tg_store_free(s);
}
END_TEST

/* One distinct norm: the middle colour, and a one-line legend. */
START_TEST(test_range_of_one_value) {
    tg_store *s = tg_store_new();
    tg_tape *t = tg_tape_new();
    tg_tensor *a = param(s, "a", TG_SCALAR_SHAPE, 2);
    ck_assert_int_eq(tg_tape_backward(t, tg_mul_scalar(t, a, 1), NULL, 0), TG_OK);
    tg_dot_options o = {.show_grad_norms = true};
    char *text = dot_text(t, &o);
    check_structure(text);
    ck_assert_int_eq(count_of(text, "fillcolor=\"#fd8d3c\""), 1);
    /* The loss's gradient is the seed: its own colour, not part of the range. */
    ck_assert_contains(text, "loss\\n|grad| 1\", shape=doubleoctagon, style=\"filled\", "
                             "fillcolor=\"#f4a582\"");
    ck_assert_contains(text, "<tr><td bgcolor=\"#fd8d3c\">0.00 (|grad| 1)</td></tr>");
    free(text);
    tg_tape_free(t);
    tg_store_free(s);
}
END_TEST

/* ---- Graphviz ---- */

START_TEST(test_graphviz_renders_clusters) {
    if (system("command -v dot >/dev/null 2>&1") != 0) {
        printf("SKIP: dot not found; Graphviz rendering not checked\n");
        return;
    }
    const char *base = getenv("TMPDIR");
    char dir[512];
    snprintf(dir, sizeof dir, "%s/tg_dot_scopes_XXXXXX", base && base[0] ? base : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    rnn r = rnn_run(64, false, 20);
    tg_dot_options o = {.show_grad_norms = true, .collapse_repeats = true, .title = "RNN"};
    char *text = dot_text(r.t, &o);
    ck_assert_int_lt(count_of(text, "[label="), 40);
    assert_renders(dir, "collapsed", text);
    free(text);
    o.max_nodes = 30;
    o.collapse_repeats = false;
    text = dot_text(r.t, &o);
    ck_assert_contains(text, "nodes not drawn");
    assert_renders(dir, "capped", text);
    free(text);
    o.grad_colours = TG_DOT_COLOUR_BANDS;
    o.max_nodes = -1;
    text = dot_text(r.t, &o);
    assert_renders(dir, "bands", text);
    free(text);
    rnn_free(&r);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

static Suite *dot_scopes_suite(void) {
    Suite *s = suite_create("dot_scopes");
    TCase *cl = tcase_create("clusters");
    tcase_add_test(cl, test_scopes_become_clusters);
    tcase_add_test(cl, test_no_scopes_no_clusters);
    tcase_add_test(cl, test_backward_from_another_tape);
    suite_add_tcase(s, cl);
    TCase *rep = tcase_create("repeats");
    tcase_add_test(rep, test_repeats_collapse);
    tcase_add_test(rep, test_numbered_names_inside_a_scope);
    tcase_add_test(rep, test_different_repeat_breaks_the_run);
    tcase_add_test(rep, test_nested_repeats_collapse);
    tcase_set_timeout(rep, 60);
    suite_add_tcase(s, rep);
    TCase *cap = tcase_create("cap");
    tcase_add_test(cap, test_node_cap);
    tcase_set_timeout(cap, 60); /* 1,100 nodes written three times, slow under sanitizers */
    suite_add_tcase(s, cap);
    TCase *col = tcase_create("colours");
    tcase_add_test(col, test_range_colours_by_hand);
    tcase_add_test(col, test_range_of_one_value);
    suite_add_tcase(s, col);
    TCase *gv = tcase_create("graphviz");
    tcase_add_test(gv, test_graphviz_renders_clusters);
    tcase_set_timeout(gv, 120);
    suite_add_tcase(s, gv);
    return s;
}

int main(void) { return tg_test_run(dot_scopes_suite()); }
