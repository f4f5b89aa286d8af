/* test_dot.c: the DOT export. A small MLP's graph is compared byte for byte with the golden
 * files tests/graph/golden/mlp.dot and mlp_grads.dot, its structure is checked (declared
 * before use, edges in data-flow direction), and every kind of output is rendered with
 * `dot -Tsvg`, which must exit 0 with an empty stderr (that one test says SKIP without dot).
 *
 * To regenerate the goldens run the suite with TG_UPDATE_GOLDEN=1 in the environment
 * (TG_UPDATE_GOLDEN=1 meson test -C BUILD graph_dot); it rewrites them instead of comparing.
 * Then read every changed line yourself: a golden file is only as right as its last review. */
#include <errno.h>
#include <locale.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dot_check.h"

#define GOLDEN_DIR TG_TEST_SOURCE_DIR "/graph/golden/"

/* ---- helpers: text in and out (the shared ones are in dot_check.h) ---- */

/* Asserts got == want, showing the first line that differs (Check's own string assertion
 * cannot carry texts this long). */
static void assert_same_text(const char *what, const char *want, const char *got) {
    if (strcmp(want, got) == 0) return;
    const char *a = want, *b = got;
    int line = 1;
    while (*a && *a == *b) {
        if (*a == '\n') line++;
        a++;
        b++;
    }
    while (a > want && a[-1] != '\n') a--, b--;
    ck_abort_msg("%s differs at line %d:\n  want: %.*s\n   got: %.*s", what, line,
                 (int)strcspn(a, "\n"), a, (int)strcspn(b, "\n"), b);
}

/* Compares text with the golden file `name`; on a mismatch the message shows the first line
 * that differs. */
static void compare_golden(const char *name, const char *text) {
    char path[512];
    snprintf(path, sizeof path, "%s%s", GOLDEN_DIR, name);
    char *golden = read_path(path);
    ck_assert_msg(golden != NULL, "missing golden %s (create it with TG_UPDATE_GOLDEN=1)", path);
    assert_same_text(name, golden, text);
    free(golden);
}

/* compare_golden, or with TG_UPDATE_GOLDEN=1 in the environment, rewrites the golden. */
static void check_golden(const char *name, const char *text) {
    const char *update = getenv("TG_UPDATE_GOLDEN");
    if (update && strcmp(update, "1") == 0) {
        char path[512];
        snprintf(path, sizeof path, "%s%s", GOLDEN_DIR, name);
        write_path(path, text);
        printf("TG_UPDATE_GOLDEN: rewrote %s; review it line by line\n", path);
        return;
    }
    compare_golden(name, text);
}

/* ---- the MLP every golden is made from ---- */

typedef struct mlp {
    tg_store *s;
    tg_tape *t;
    tg_tensor *w1, *x, *loss;
} mlp;

static tg_tensor *param(tg_store *s, const char *name, int ndim, const int64_t *shape,
                        const double *values) {
    tg_tensor *p = tg_store_param(s, name, TG_F64, ndim, shape);
    ck_assert_msg(p != NULL, "%s", tg_store_error(s));
    ck_assert_int_eq(tg_tensor_copy_in(p, TG_F64, values), TG_OK);
    return p;
}

/* x (2, 3) -> relu(x w1 + b1) (2, 4) -> h w2 + b2 (2, 2); loss = 0.5 mean_n sum_j (o - y)^2.
 * Stops after the forward pass; every value is a literal, so gradients are reproducible. */
static void mlp_forward(mlp *m) {
    static const double xs[] = {1, 2, -1, 0.5, -1, 2}, ys[] = {1, 0, 0, 1};
    static const double w1[] = {0.1, -0.2, 0.3, 0.4, -0.5, 0.6, -0.7, 0.8, 0.9, -1.0, 1.1, -1.2};
    static const double b1[] = {0.1, -0.1, 0.2, -0.2};
    static const double w2[] = {0.5, -0.5, 1, 0.25, -0.75, 0.5, 0.2, -0.3};
    static const double b2[] = {0.05, -0.05};
    m->s = tg_store_new();
    m->t = tg_tape_new();
    ck_assert_ptr_nonnull(m->s);
    ck_assert_ptr_nonnull(m->t);
    tg_tape *t = m->t;
    m->w1 = param(m->s, "fc1.weight", TG_SHAPE(3, 4), w1);
    tg_tensor *b1p = param(m->s, "fc1.bias", TG_SHAPE(4), b1);
    tg_tensor *w2p = param(m->s, "fc2.weight", TG_SHAPE(4, 2), w2);
    tg_tensor *b2p = param(m->s, "fc2.bias", TG_SHAPE(2), b2);
    m->x = tg_from_data(t, TG_F64, TG_SHAPE(2, 3), xs);
    tg_tensor *y = tg_from_data(t, TG_F64, TG_SHAPE(2, 2), ys);
    tg_tensor_set_name(m->x, "x");
    tg_tensor_set_name(y, "target");
    tg_tensor *h = tg_relu(t, tg_add(t, tg_matmul(t, m->x, m->w1), b1p));
    tg_tensor_set_name(h, "hidden");
    tg_tensor *o = tg_add(t, tg_matmul(t, h, w2p), b2p);
    tg_tensor_set_name(o, "logits");
    tg_tensor *d = tg_sub(t, o, y);
    tg_tensor *per_row = tg_sum(t, tg_mul(t, d, d), 1, (const int[]){1}, false);
    m->loss = tg_mul_scalar(t, tg_mean_all(t, per_row), 0.5);
    ck_assert_msg(m->loss != NULL, "%s", tg_tape_error(t));
    tg_tensor_set_name(m->loss, "loss");
}

static void mlp_backward(mlp *m) {
    ck_assert_msg(tg_tape_backward(m->t, m->loss, NULL, 0) == TG_OK, "%s", tg_tape_error(m->t));
}

static void mlp_free(mlp *m) {
    tg_tape_free(m->t);
    tg_store_free(m->s);
}

/* ---- goldens ---- */

START_TEST(test_mlp_matches_golden) {
    mlp m;
    mlp_forward(&m);
    ck_assert_int_eq(tg_tape_n_nodes(m.t), 10);
    mlp_backward(&m);
    char *plain = dot_text(m.t, NULL);
    check_structure(plain);
    /* The roles, independently of the golden: 4 parameters, 2 inputs, 1 loss, 10 ops. */
    ck_assert_int_eq(count_of(plain, "shape=box3d"), 4);
    ck_assert_int_eq(count_of(plain, "shape=ellipse"), 2);
    ck_assert_int_eq(count_of(plain, "shape=doubleoctagon"), 1);
    ck_assert_int_eq(count_of(plain, " -> "), 16);
    ck_assert_contains(plain, "l1 [label=\"parameter 'fc1.weight'\\n(3, 4) f64\"");
    ck_assert_contains(plain, "l0 [label=\"input 'x'\\n(2, 3) f64\"");
    ck_assert_contains(plain, "n9 [label=\"#9 mul_scalar c=0.5 'loss'\\n() f64\\nloss\"");
    ck_assert_msg(strstr(plain, "|grad|") == NULL, "norms without show_grad_norms");
    check_golden("mlp.dot", plain);

    tg_dot_options o = {.show_grad_norms = true, .title = "MLP 3-4-2"};
    char *grads = dot_text(m.t, &o);
    check_structure(grads);
    /* Every parameter, op result and the loss has a gradient; the inputs have none. */
    ck_assert_int_eq(count_of(grads, "\\n|grad| "), 14);
    ck_assert_contains(grads, "label=\"#9 mul_scalar c=0.5 'loss'\\n() f64\\nloss\\n|grad| 1\"");
    ck_assert_contains(grads, "legend [shape=plaintext");
    check_golden("mlp_grads.dot", grads);
    free(plain);
    free(grads);
    mlp_free(&m);
}
END_TEST

/* Ids are tape indices: two tapes running the same program, alive at the same time (so every
 * tensor sits at a different address), write identical bytes. */
START_TEST(test_ids_do_not_depend_on_addresses) {
    mlp a, b;
    mlp_forward(&a);
    mlp_forward(&b);
    ck_assert_ptr_ne(a.w1, b.w1);
    ck_assert_ptr_ne(a.x, b.x);
    ck_assert_ptr_ne(a.loss, b.loss);
    mlp_backward(&a);
    mlp_backward(&b);
    tg_dot_options o = {.show_grad_norms = true, .title = NULL};
    char *ta = dot_text(a.t, &o), *tb = dot_text(b.t, &o);
    assert_same_text("the second tape's graph", ta, tb);
    free(ta);
    free(tb);
    mlp_free(&a);
    mlp_free(&b);
}
END_TEST

/* The loss is known only once a backward has run from it. */
START_TEST(test_loss_marked_after_backward) {
    mlp m;
    mlp_forward(&m);
    char *before = dot_text(m.t, NULL);
    ck_assert_int_eq(count_of(before, "\\nloss"), 0);
    ck_assert_int_eq(count_of(before, "doubleoctagon"), 0);
    check_structure(before);
    mlp_backward(&m);
    char *after = dot_text(m.t, NULL);
    ck_assert_int_eq(count_of(after, "\\nloss\""), 1);
    free(before);
    free(after);
    mlp_free(&m);
}
END_TEST

/* ---- labels ---- */

START_TEST(test_every_role_has_a_label) {
    tg_store *s = tg_store_new();
    tg_tape *t = tg_tape_new();
    tg_tensor *w = tg_store_param(s, "w", TG_F32, TG_SHAPE(3));
    tg_tensor *stat = tg_store_buffer(s, "running_mean", TG_F32, TG_SHAPE(3));
    tg_tensor *x = tg_ones(t, TG_F32, TG_SHAPE(3));
    tg_tensor *v = tg_ones(t, TG_F32, TG_SHAPE(3));
    ck_assert_int_eq(tg_tensor_set_requires_grad(v, true), TG_OK);
    tg_tensor *c = tg_mul_scalar(t, x, 2); /* no input needs a gradient: not recorded */
    tg_tensor *y = tg_add(t, tg_add(t, tg_mul(t, w, c), stat), v);
    tg_tensor *loss = tg_sum_all(t, y);
    ck_assert_int_eq(tg_tape_backward(t, loss, NULL, 0), TG_OK);
    tg_dot_options o = {.show_grad_norms = true, .title = NULL};
    char *text = dot_text(t, &o);
    check_structure(text);
    /* Range colours: w's 3.46 is the graph's largest norm (darkest, white text, and a
     * parameter's heavy outline), 1.73 its smallest (palest); the loss's 1 is the seed, not
     * part of the range, and keeps the loss's colour. */
    ck_assert_contains(text, "l0 [label=\"parameter 'w'\\n(3,) f32\\n|grad| 3.46\", shape=box3d, "
                             "style=\"filled\", fillcolor=\"#800026\", fontcolor=\"white\", "
                             "penwidth=2]");
    ck_assert_contains(text, "l1 [label=\"constant\\n(3,) f32\", shape=ellipse, style=dashed]");
    ck_assert_contains(text, "l2 [label=\"buffer 'running_mean'\\n(3,) f32\", shape=box3d, "
                             "style=\"filled\", fillcolor=\"#d9f0d3\"]");
    /* An input that asked for a gradient got one: sqrt(3). */
    ck_assert_contains(text, "l3 [label=\"input\\n(3,) f32\\n|grad| 1.73\", shape=ellipse");
    ck_assert_contains(text, "n0 [label=\"#0 mul\\n(3,) f32\\n|grad| 1.73\", "
                             "style=\"rounded,filled\", fillcolor=\"#ffffcc\"]");
    ck_assert_contains(text, "n3 [label=\"#3 sum axes=(0)\\n() f32\\nloss\\n|grad| 1\", "
                             "shape=doubleoctagon, style=\"filled\", fillcolor=\"#f4a582\"");
    ck_assert_contains(text, "max 0.54 (|grad| 3.46)");
    ck_assert_contains(text, "min 0.24 (|grad| 1.73)");
    free(text);
    tg_tape_free(t);
    tg_store_free(s);
}
END_TEST

/* A name may hold anything; the label must stay one valid DOT string on one line. */
START_TEST(test_names_are_escaped) {
    tg_tape *t = tg_tape_new();
    tg_tensor *x = tg_ones(t, TG_F64, TG_SHAPE(2));
    tg_tensor_set_requires_grad(x, true);
    tg_tensor *y = tg_exp(t, x);
    tg_tensor *z = tg_neg(t, y);
    tg_tensor *u = tg_tanh(t, z);
    tg_tensor_set_name(x, "say \"hi\"\\N");
    tg_tensor_set_name(y, "two\nlines\r\nthree\rfour\tfive\x01");
    tg_tensor_set_name(z, "caf\xc3\xa9 \xff\xc3 \xed\xa0\x80 \xe2\x82\xac"); /* bad bytes -> ? */
    /* 62 bytes of "é" and a lone lead byte: a cut character (kept to 63 bytes). */
    char cut[80];
    for (int i = 0; i < 31; i++) memcpy(cut + 2 * i, "\xc3\xa9", 2);
    memcpy(cut + 62, "\xc3\xa9", 3);
    tg_tensor_set_name(u, cut);
    tg_dot_options o = {.show_grad_norms = false, .title = "a \"quoted\"\ntitle\\"};
    char *text = dot_text(t, &o);
    check_structure(text);
    ck_assert_contains(text, "label=\"a \\\"quoted\\\"\\ntitle\\\\\"];");
    ck_assert_contains(text, "l0 [label=\"input 'say \\\"hi\\\"\\\\N'\\n(2,) f64\"");
    ck_assert_contains(text, "'two\\nlines\\nthree\\nfour five?'");
    ck_assert_contains(text, "'caf\xc3\xa9 ?? ??? \xe2\x82\xac'");
    char expect_cut[80] = "'";
    for (int i = 0; i < 31; i++) strcat(expect_cut, "\xc3\xa9");
    strcat(expect_cut, "?'");
    ck_assert_contains(text, expect_cut);
    free(text);
    tg_tape_free(t);
}
END_TEST

/* NaN and Inf are counted, not folded into the norm; huge gradients do not overflow it. */
START_TEST(test_grad_norm_nan_inf_and_range) {
    tg_store *s = tg_store_new();
    tg_tape *t = tg_tape_new();
    tg_tensor *p = param(s, "p", TG_SHAPE(4), (const double[]){0, 1, -1, 4});
    tg_tensor *big = param(s, "big", TG_SHAPE(4), (const double[]){1, 2, 3, 4});
    tg_tensor *z = param(s, "z", TG_SHAPE(4), (const double[]){1, 1, 1, 1});
    tg_tensor *tiny = param(s, "tiny", TG_SHAPE(4), (const double[]){1, 1, 1, 1});
    tg_tensor *zeros = tg_zeros(t, TG_F64, TG_SHAPE(4));
    /* d/dp log p = 1/p = (inf, 1, -1, 0.25): one non-finite element, norm of the rest 1.436 */
    tg_tensor *sum = tg_add(t, tg_log(t, p), tg_mul_scalar(t, big, 1e200));
    sum = tg_add(t, sum, tg_mul(t, z, zeros));
    sum = tg_add(t, sum, tg_mul_scalar(t, tiny, 1e-7));
    tg_tensor *loss = tg_sum_all(t, sum);
    ck_assert_msg(loss != NULL, "%s", tg_tape_error(t));
    ck_assert_int_eq(tg_tape_backward(t, loss, NULL, 0), TG_OK);
    tg_dot_options o = {.show_grad_norms = true, .grad_colours = TG_DOT_COLOUR_BANDS};
    char *text = dot_text(t, &o);
    check_structure(text);
    ck_assert_contains(text, "'p'\\n(4,) f64\\n|grad| 1.44 (1 NaN/Inf)\", shape=box3d, "
                             "style=\"filled\", fillcolor=\"#ff00ff\"");
    ck_assert_contains(text, "<tr><td bgcolor=\"#fc8d59\">10 to 1e3</td></tr>");
    /* 1e200 in each of 4 elements: 2e200 (a naive sum of squares gives inf). */
    ck_assert_contains(text, "'big'\\n(4,) f64\\n|grad| 2e+200\", shape=box3d, "
                             "style=\"filled\", fillcolor=\"#d73027\", fontcolor=\"white\"");
    ck_assert_contains(text, "'z'\\n(4,) f64\\n|grad| 0\", shape=box3d, "
                             "style=\"filled\", fillcolor=\"#d9d9d9\"");
    ck_assert_contains(text, "'tiny'\\n(4,) f64\\n|grad| 2e-07\", shape=box3d, "
                             "style=\"filled\", fillcolor=\"#4575b4\", fontcolor=\"white\", "
                             "penwidth=2]");
    /* The constant zeros tensor is an input without gradient: no norm, its own colour. */
    ck_assert_contains(text, "[label=\"input\\n(4,) f64\", shape=ellipse, style=\"filled\", "
                             "fillcolor=\"#c6dbef\"]");
    free(text);
    tg_tape_free(t);
    tg_store_free(s);
}
END_TEST

START_TEST(test_empty_tape_is_valid) {
    tg_tape *t = tg_tape_new();
    char *text = dot_text(t, NULL);
    ck_assert_str_eq(text, "digraph tapegrad {\n"
                           "  graph [rankdir=TB, labelloc=t, fontname=\"Helvetica\", "
                           "label=\"tapegrad\"];\n"
                           "  node [shape=box, style=rounded, fontname=\"Helvetica\", "
                           "fontsize=10];\n"
                           "  edge [arrowsize=0.7];\n"
                           "}\n");
    free(text);
    tg_tape_free(t);
}
END_TEST

/* Backward from a leaf records nothing, but the loss is still drawn. */
START_TEST(test_leaf_loss_is_drawn) {
    tg_store *s = tg_store_new();
    tg_tape *t = tg_tape_new();
    tg_tensor *w = tg_store_param(s, "w", TG_F64, TG_SCALAR_SHAPE);
    ck_assert_int_eq(tg_tape_backward(t, w, NULL, 0), TG_OK);
    char *text = dot_text(t, NULL);
    check_structure(text);
    ck_assert_contains(text, "  l0 [label=\"parameter 'w'\\n() f64\\nloss\", "
                             "shape=doubleoctagon, style=\"filled\", fillcolor=\"#f4a582\", "
                             "penwidth=2];\n}\n");
    free(text);
    tg_tape_free(t);
    tg_store_free(s);
}
END_TEST

/* Under a locale whose decimal point is a comma, the bytes are the golden's all the same. */
static bool comma_locale(const char *dir) {
    static const char *names[] = {"de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8", "nl_NL.UTF-8"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (setlocale(LC_NUMERIC, names[i])) return true;
    /* None installed: compile one into a private directory if localedef is there. */
    char cmd[600];
    snprintf(cmd, sizeof cmd,
             "localedef -i de_DE -f UTF-8 '%s/de_DE.UTF-8' >/dev/null 2>&1 || "
             "test -e '%s/de_DE.UTF-8/LC_NUMERIC'",
             dir, dir);
    if (system(cmd) != 0) return false;
    setenv("LOCPATH", dir, 1);
    return setlocale(LC_NUMERIC, "de_DE.UTF-8") != NULL;
}

/* One scratch directory per run, made by main() before the tests fork and removed by it after
 * they end, so a failed assertion (which ends its test at once) leaves nothing behind. */
static char scratch[512];

/* A fresh directory inside the scratch one (malloc'd path). */
static char *make_temp_dir(void) {
    char *dir = malloc(600);
    ck_assert_ptr_nonnull(dir);
    snprintf(dir, 600, "%s/XXXXXX", scratch);
    ck_assert_msg(mkdtemp(dir) != NULL, "mkdtemp %s: %s", dir, strerror(errno));
    return dir;
}

static void remove_temp_dir(char *dir) {
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
    free(dir);
}

START_TEST(test_locale_does_not_change_bytes) {
    char *dir = make_temp_dir();
    if (!comma_locale(dir)) {
        printf("SKIP: no locale with a decimal comma could be set or built\n");
        remove_temp_dir(dir);
        return;
    }
    char probe[16];
    snprintf(probe, sizeof probe, "%.1f", 0.5);
    ck_assert_str_eq(probe, "0,5"); /* the locale really is in force */
    mlp m;
    mlp_forward(&m);
    mlp_backward(&m);
    tg_dot_options o = {.show_grad_norms = true, .title = "MLP 3-4-2"};
    char *text = dot_text(m.t, &o);
    snprintf(probe, sizeof probe, "%.1f", 0.5);
    ck_assert_str_eq(probe, "0,5"); /* and it is restored afterwards */
    setlocale(LC_NUMERIC, "C");
    remove_temp_dir(dir);
    compare_golden("mlp_grads.dot", text); /* never rewritten from a run under this locale */
    free(text);
    mlp_free(&m);
}
END_TEST

/* ---- writing to files ---- */

START_TEST(test_write_to_path_matches_stream) {
    mlp m;
    mlp_forward(&m);
    mlp_backward(&m);
    char *dir = make_temp_dir();
    char path[600];
    snprintf(path, sizeof path, "%s/g.dot", dir);
    write_path(path, "old contents that must be truncated, longer than nothing at all\n");
    ck_assert_int_eq(tg_tape_write_dot_path(m.t, path, NULL), TG_OK);
    char *from_path = read_path(path), *from_stream = dot_text(m.t, NULL);
    ck_assert_ptr_nonnull(from_path);
    assert_same_text("the file written to a path", from_stream, from_path);
    free(from_path);
    free(from_stream);
    remove_temp_dir(dir);
    mlp_free(&m);
}
END_TEST

/* Asserts the tape holds a write_dot I/O error that mentions `detail`, and no call site (the
 * last op's line is not where writing failed). */
static void assert_io_error(tg_tape *t, tg_status s, const char *detail) {
    ck_assert_int_eq(s, TG_ERR_IO);
    ck_assert_int_eq(tg_tape_status(t), TG_ERR_IO);
    const char *msg = tg_tape_error(t);
    ck_assert_msg(strstr(msg, "write_dot") && strstr(msg, detail), "message: %s", msg);
    ck_assert_msg(strstr(msg, "[at ") == NULL, "stale call site in: %s", msg);
    tg_tape_clear_error(t);
}

START_TEST(test_write_failures_are_errors) {
    mlp m;
    mlp_forward(&m);
    char *dir = make_temp_dir();
    char path[600];

    /* A stream opened for reading only. */
    snprintf(path, sizeof path, "%s/readonly.dot", dir);
    write_path(path, "x\n");
    FILE *ro = fopen(path, "r");
    ck_assert_ptr_nonnull(ro);
    assert_io_error(m.t, tg_tape_write_dot(m.t, ro, NULL), "writing the graph failed");
    fclose(ro);

    /* A device that is always full: the bytes are buffered, the flush fails. */
    FILE *full = fopen("/dev/full", "w");
    if (full) {
        assert_io_error(m.t, tg_tape_write_dot(m.t, full, NULL), "No space left");
        fclose(full);
        assert_io_error(m.t, tg_tape_write_dot_path(m.t, "/dev/full", NULL), "No space left");
    } else {
        printf("SKIP: /dev/full is not available\n");
    }

    /* A path in a directory that does not exist. */
    snprintf(path, sizeof path, "%s/no/such/dir/g.dot", dir);
    tg_status s = tg_tape_write_dot_path(m.t, path, NULL);
    ck_assert_msg(strstr(tg_tape_error(m.t), "No such file"), "%s", tg_tape_error(m.t));
    assert_io_error(m.t, s, path);

    /* NULL arguments. */
    ck_assert_int_eq(tg_tape_write_dot(NULL, stdout, NULL), TG_ERR_NULL);
    ck_assert_int_eq(tg_tape_write_dot_path(NULL, path, NULL), TG_ERR_NULL);
    ck_assert_int_eq(tg_tape_write_dot(m.t, NULL, NULL), TG_ERR_NULL);
    ck_assert_int_eq(tg_tape_status(m.t), TG_ERR_NULL);
    tg_tape_clear_error(m.t);
    ck_assert_int_eq(tg_tape_write_dot_path(m.t, NULL, NULL), TG_ERR_NULL);
    ck_assert_msg(strstr(tg_tape_error(m.t), "path is NULL"), "%s", tg_tape_error(m.t));
    tg_tape_clear_error(m.t);

    /* The first error stays first: a failed write does not replace an op's error. */
    ck_assert_ptr_null(tg_matmul(m.t, m.x, m.x));
    tg_status first = tg_tape_status(m.t);
    ck_assert_int_ne(first, TG_OK);
    char *partial = dot_text(m.t, NULL); /* a failed op does not stop the drawing */
    ck_assert_int_eq(count_of(partial, "[label=\"#"), 10);
    free(partial);
    ck_assert_int_eq(tg_tape_write_dot_path(m.t, path, NULL), TG_ERR_IO);
    ck_assert_int_eq(tg_tape_status(m.t), first);
    ck_assert_msg(strstr(tg_tape_error(m.t), "matmul"), "%s", tg_tape_error(m.t));

    remove_temp_dir(dir);
    mlp_free(&m);
}
END_TEST

/* ---- rendering with Graphviz ---- */

START_TEST(test_graphviz_renders_every_output) {
    if (system("command -v dot >/dev/null 2>&1") != 0) {
        printf("SKIP: dot not found; Graphviz rendering not checked\n");
        return;
    }
    char *dir = make_temp_dir();
    mlp m;
    mlp_forward(&m);
    mlp_backward(&m);
    char *text = dot_text(m.t, NULL);
    assert_renders(dir, "mlp", text);
    free(text);
    tg_dot_options o = {.show_grad_norms = true, .title = "MLP \"3-4-2\"\nafter backward"};
    text = dot_text(m.t, &o);
    assert_renders(dir, "mlp_grads", text);
    free(text);
    mlp_free(&m);

    /* Hostile names, a truncated UTF-8 character, NaN gradients, an empty tape. */
    tg_store *s = tg_store_new();
    tg_tape *t = tg_tape_new();
    tg_tensor *p = param(s, "p \"q\"\\\n\xff", TG_SHAPE(3), (const double[]){0, -1, 2});
    tg_tensor *y = tg_log(t, p);
    char cut[80];
    for (int i = 0; i < 32; i++) memcpy(cut + 2 * i, "\xc3\xa9", 2);
    cut[64] = '\0';
    tg_tensor_set_name(y, cut);
    ck_assert_int_eq(tg_tape_backward(t, tg_sum_all(t, y), NULL, 0), TG_OK);
    text = dot_text(t, &o);
    assert_renders(dir, "hostile", text);
    free(text);
    tg_tape_reset(t);
    text = dot_text(t, &o);
    assert_renders(dir, "empty", text);
    free(text);
    tg_tape_free(t);
    tg_store_free(s);
    remove_temp_dir(dir);
}
END_TEST

static Suite *dot_suite(void) {
    Suite *s = suite_create("dot");
    TCase *golden = tcase_create("golden");
    tcase_add_test(golden, test_mlp_matches_golden);
    tcase_add_test(golden, test_ids_do_not_depend_on_addresses);
    tcase_add_test(golden, test_loss_marked_after_backward);
    tcase_add_test(golden, test_locale_does_not_change_bytes);
    tcase_set_timeout(golden, 30); /* building a locale takes a second or two */
    suite_add_tcase(s, golden);
    TCase *labels = tcase_create("labels");
    tcase_add_test(labels, test_every_role_has_a_label);
    tcase_add_test(labels, test_names_are_escaped);
    tcase_add_test(labels, test_grad_norm_nan_inf_and_range);
    tcase_add_test(labels, test_empty_tape_is_valid);
    tcase_add_test(labels, test_leaf_loss_is_drawn);
    suite_add_tcase(s, labels);
    TCase *io = tcase_create("io");
    tcase_add_test(io, test_write_to_path_matches_stream);
    tcase_add_test(io, test_write_failures_are_errors);
    suite_add_tcase(s, io);
    TCase *render = tcase_create("graphviz");
    tcase_add_test(render, test_graphviz_renders_every_output);
    tcase_set_timeout(render, 60);
    suite_add_tcase(s, render);
    return s;
}

int main(void) {
    const char *base = getenv("TMPDIR");
    snprintf(scratch, sizeof scratch, "%s/tg_dot_XXXXXX", base && base[0] ? base : "/tmp");
    if (!mkdtemp(scratch)) {
        fprintf(stderr, "test_dot: mkdtemp %s: %s\n", scratch, strerror(errno));
        return EXIT_FAILURE;
    }
    int status = tg_test_run(dot_suite());
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", scratch);
    if (system(cmd) != 0) fprintf(stderr, "test_dot: could not remove %s\n", scratch);
    return status;
}
