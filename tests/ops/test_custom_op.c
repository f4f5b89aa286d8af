/* test_custom_op.c: ops defined by user code (tapegrad/custom_op.h).
 *
 * A user-defined swish and a two-input outer product are proven like built-in ops (f64 and f32
 * gradcheck, f64 second order) and show up in the registry and the DOT export; an op with a
 * numeric backward works to first order and refuses second order with a clear error; bad
 * definitions, bad calls and misbehaving callbacks each give their own error. */
#include <string.h>

#include "../test_util.h"

/* ---- swish, y = x sigmoid(x), dy/dx = s + x s (1 - s) ---- */

static tg_tensor *swish_fwd(tg_tape *t, tg_tensor *const *in, void *ctx) {
    (void)ctx;
    return tg_mul(t, in[0], tg_sigmoid(t, in[0]));
}

static void swish_bwd(tg_tape *t, tg_tensor *const *in, tg_tensor *y, tg_tensor *g,
                      tg_tensor **grads, void *ctx) {
    (void)y, (void)ctx;
    tg_tensor *s = tg_sigmoid(t, in[0]);
    tg_tensor *ds = tg_mul(t, s, tg_rsub_scalar(t, s, 1.0));
    grads[0] = tg_mul(t, g, tg_add(t, s, tg_mul(t, in[0], ds)));
}

static tg_custom_op *new_swish(void) {
    tg_custom_op_def def = {.name = "swish", .n_inputs = 1, .forward = swish_fwd,
                            .backward = swish_bwd, .flags = TG_CUSTOM_SMOOTH};
    tg_error err = {0};
    tg_custom_op *op = tg_custom_op_new(&def, &err);
    ck_assert_msg(op != NULL, "%s", err.message);
    return op;
}

/* The checked function: sum of squares of swish, so the second order sees a non-linear use. */
static int swish_fn(tg_tape *t, tg_tensor *const *in, tg_tensor **out, void *ctx) {
    out[0] = tg_custom(t, (tg_custom_op *)ctx, in, 1);
    return out[0] ? 1 : -1;
}

static tg_tensor *spread(tg_tape *t, tg_dtype dt, int64_t n0, int64_t n1, double lo, double hi) {
    tg_tensor *x = tg_zeros(t, dt, TG_SHAPE(n0, n1));
    for (int64_t i = 0; i < n0 * n1; i++) {
        double v = lo + (hi - lo) * (double)i / (double)(n0 * n1 - 1);
        if (dt == TG_F64)
            ((double *)tg_tensor_data(x))[i] = v;
        else
            ((float *)tg_tensor_data(x))[i] = (float)v;
    }
    return x;
}

START_TEST(swish_forward_and_first_derivative_values) {
    tg_custom_op *op = new_swish();
    tg_tape *t = tg_tape_new();
    tg_tensor *x = spread(t, TG_F64, 2, 3, -3.0, 2.5);
    tg_tensor_set_requires_grad(x, true);
    tg_tensor *y = tg_custom(t, op, &x, 1);
    ck_assert_msg(y != NULL, "%s", tg_tape_error(t));
    ck_assert_ptr_ne(y, x);
    ck_assert_int_eq(tg_tape_n_nodes(t), 1); /* the forward's own ops are not recorded */
    ck_assert_int_eq(tg_tape_backward(t, tg_sum_all(t, y), NULL, 0), TG_OK);
    for (int64_t i = 0; i < 6; i++) {
        double v = tg_tensor_get(x, i), s = 1.0 / (1.0 + exp(-v));
        ck_assert_double_eq_tol(tg_tensor_get(y, i), v * s, 1e-15);
        ck_assert_double_eq_tol(tg_tensor_get(tg_tensor_grad(x), i), s + v * s * (1 - s), 1e-15);
    }
    tg_tape_free(t);
    tg_custom_op_free(op);
}
END_TEST

START_TEST(swish_passes_gradcheck_first_and_second_order) {
    tg_custom_op *op = new_swish();
    tg_tape *t = tg_tape_new();
    tg_gradcheck_report rep;
    tg_tensor *x = spread(t, TG_F64, 3, 4, -4.0, 3.0);
    ck_assert_gradcheck(tg_gradcheck(swish_fn, op, 1, &x, NULL, &rep), rep);
    ck_assert_gradcheck(tg_gradgradcheck(swish_fn, op, 1, &x, NULL, &rep), rep);
    tg_tensor *xf = spread(t, TG_F32, 3, 4, -4.0, 3.0);
    ck_assert_gradcheck(tg_gradcheck(swish_fn, op, 1, &xf, NULL, &rep), rep);
    tg_tape_free(t);
    tg_custom_op_free(op);
}
END_TEST

/* A wrong backward must be caught by the same checks, or passing them proves nothing. */
static void swish_bwd_wrong(tg_tape *t, tg_tensor *const *in, tg_tensor *y, tg_tensor *g,
                            tg_tensor **grads, void *ctx) {
    (void)y, (void)ctx;
    grads[0] = tg_mul(t, g, tg_sigmoid(t, in[0])); /* forgets the x s (1 - s) term */
}

START_TEST(gradcheck_catches_a_wrong_custom_backward) {
    tg_custom_op_def def = {.name = "swish_wrong", .n_inputs = 1, .forward = swish_fwd,
                            .backward = swish_bwd_wrong};
    tg_custom_op *op = tg_custom_op_new(&def, NULL);
    ck_assert_ptr_nonnull(op);
    tg_tape *t = tg_tape_new();
    tg_gradcheck_report rep;
    tg_tensor *x = spread(t, TG_F64, 2, 2, -1.0, 1.0);
    ck_assert_int_eq(tg_gradcheck(swish_fn, op, 1, &x, NULL, &rep), TG_OK);
    ck_assert(!rep.ok);
    tg_tape_free(t);
    tg_custom_op_free(op);
}
END_TEST

/* ---- outer product of (m) and (n), a two-input op with a shape rule ---- */

static bool outer_shape(tg_tensor *const *in, int *ndim, int64_t *shape, void *ctx) {
    (void)ctx;
    if (tg_tensor_ndim(in[0]) != 1 || tg_tensor_ndim(in[1]) != 1) return false;
    *ndim = 2;
    shape[0] = tg_tensor_dim(in[0], 0);
    shape[1] = tg_tensor_dim(in[1], 0);
    return true;
}

static tg_tensor *outer_fwd(tg_tape *t, tg_tensor *const *in, void *ctx) {
    (void)ctx;
    tg_tensor *col = tg_reshape(t, in[0], TG_SHAPE(tg_tensor_dim(in[0], 0), 1));
    return tg_mul(t, col, in[1]);
}

static void outer_bwd(tg_tape *t, tg_tensor *const *in, tg_tensor *y, tg_tensor *g,
                      tg_tensor **grads, void *ctx) {
    (void)y, (void)ctx;
    int ax1 = 1, ax0 = 0;
    if (tg_tensor_requires_grad(in[0]))
        grads[0] = tg_sum(t, tg_mul(t, g, in[1]), 1, &ax1, false);
    if (tg_tensor_requires_grad(in[1])) {
        tg_tensor *col = tg_reshape(t, in[0], TG_SHAPE(tg_tensor_dim(in[0], 0), 1));
        grads[1] = tg_sum(t, tg_mul(t, g, col), 1, &ax0, false);
    }
}

static tg_custom_op *new_outer(void) {
    tg_custom_op_def def = {.name = "outer", .n_inputs = 2, .forward = outer_fwd,
                            .backward = outer_bwd, .shape = outer_shape,
                            .flags = TG_CUSTOM_SMOOTH};
    tg_error err = {0};
    tg_custom_op *op = tg_custom_op_new(&def, &err);
    ck_assert_msg(op != NULL, "%s", err.message);
    return op;
}

/* outer(a, b) squared elementwise, so that second derivatives are not all zero. */
static int outer_fn(tg_tape *t, tg_tensor *const *in, tg_tensor **out, void *ctx) {
    tg_tensor *o = tg_custom(t, (tg_custom_op *)ctx, in, 2);
    out[0] = tg_mul(t, o, o);
    return out[0] ? 1 : -1;
}

START_TEST(two_input_op_with_a_shape_rule_passes_both_orders) {
    tg_custom_op *op = new_outer();
    tg_tape *t = tg_tape_new();
    const double a[] = {0.5, -1.25, 2.0}, b[] = {1.5, -0.75};
    tg_tensor *in[2] = {tg_from_data(t, TG_F64, TG_SHAPE(3), a),
                        tg_from_data(t, TG_F64, TG_SHAPE(2), b)};
    tg_tensor *y = tg_custom(t, op, in, 2);
    ck_assert_msg(y != NULL, "%s", tg_tape_error(t));
    ck_assert_int_eq(tg_tensor_ndim(y), 2);
    ck_assert_double_eq(tg_tensor_get(y, 5), 2.0 * -0.75);
    tg_gradcheck_report rep;
    ck_assert_gradcheck(tg_gradcheck(outer_fn, op, 2, in, NULL, &rep), rep);
    ck_assert_gradcheck(tg_gradgradcheck(outer_fn, op, 2, in, NULL, &rep), rep);
    /* Only b requires a gradient: a's entry of grads[] is never asked for. */
    tg_tensor_set_requires_grad(in[1], true);
    tg_tensor *s = tg_sum_all(t, tg_custom(t, op, in, 2));
    ck_assert_int_eq(tg_tape_backward(t, s, NULL, 0), TG_OK);
    ck_assert_ptr_null(tg_tensor_grad(in[0]));
    ck_assert_double_eq_tol(tg_tensor_get(tg_tensor_grad(in[1]), 0), 1.25, 1e-15);
    /* The shape rule refuses 2-D inputs. */
    tg_tensor *bad[2] = {tg_zeros(t, TG_F64, TG_SHAPE(2, 2)), in[1]};
    ck_assert_ptr_null(tg_custom(t, op, bad, 2));
    ck_assert_int_eq(tg_tape_status(t), TG_ERR_SHAPE);
    ck_assert_msg(strstr(tg_tape_error(t), "outer: the op's shape rule refused the inputs (2, 2), (2,)"),
                  "%s", tg_tape_error(t));
    ck_assert_msg(strstr(tg_tape_error(t), "test_custom_op.c:"), "%s", tg_tape_error(t));
    tg_tape_free(t);
    tg_custom_op_free(op);
}
END_TEST

/* ---- five inputs: more than a node keeps inline ---- */

/* y = x0 * x1 + x2 * x3 * x4 */
static tg_tensor *five_fwd(tg_tape *t, tg_tensor *const *in, void *ctx) {
    (void)ctx;
    return tg_add(t, tg_mul(t, in[0], in[1]), tg_mul(t, in[2], tg_mul(t, in[3], in[4])));
}

static void five_bwd(tg_tape *t, tg_tensor *const *in, tg_tensor *y, tg_tensor *g,
                     tg_tensor **grads, void *ctx) {
    (void)y, (void)ctx;
    grads[0] = tg_mul(t, g, in[1]);
    grads[1] = tg_mul(t, g, in[0]);
    grads[2] = tg_mul(t, g, tg_mul(t, in[3], in[4]));
    grads[3] = tg_mul(t, g, tg_mul(t, in[2], in[4]));
    grads[4] = tg_mul(t, g, tg_mul(t, in[2], in[3]));
}

static int five_fn(tg_tape *t, tg_tensor *const *in, tg_tensor **out, void *ctx) {
    out[0] = tg_custom(t, (tg_custom_op *)ctx, in, 5);
    return out[0] ? 1 : -1;
}

START_TEST(five_inputs_pass_both_orders_and_mark_as_first_order) {
    tg_custom_op_def def = {.name = "five", .n_inputs = 5, .forward = five_fwd,
                            .backward = five_bwd, .flags = TG_CUSTOM_SMOOTH};
    tg_custom_op *op = tg_custom_op_new(&def, NULL);
    ck_assert_ptr_nonnull(op);
    tg_tape *t = tg_tape_new();
    tg_tensor *in[5];
    for (int i = 0; i < 5; i++) in[i] = spread(t, TG_F64, 1, 3, -1.0 + 0.3 * i, 0.5 + 0.2 * i);
    tg_gradcheck_report rep;
    ck_assert_gradcheck(tg_gradcheck(five_fn, op, 5, in, NULL, &rep), rep);
    ck_assert_gradcheck(tg_gradgradcheck(five_fn, op, 5, in, NULL, &rep), rep);
    tg_custom_op_free(op);
    /* The same op with its backward declared numeric: the mark has six inputs. */
    def.flags = TG_CUSTOM_FIRST_ORDER;
    op = tg_custom_op_new(&def, NULL);
    ck_assert_ptr_nonnull(op);
    ck_assert_gradcheck(tg_gradcheck(five_fn, op, 5, in, NULL, &rep), rep);
    ck_assert_int_eq(tg_gradgradcheck(five_fn, op, 5, in, NULL, &rep), TG_ERR_NOGRAD);
    ck_assert_msg(strstr(rep.message, "five: its backward is numeric"), "%s", rep.message);
    tg_tape_free(t);
    tg_custom_op_free(op);
}
END_TEST

/* ---- the registry and the DOT export ---- */

START_TEST(custom_ops_are_listed_by_name_while_they_live) {
    int n_builtin = tg_op_registry_count();
    ck_assert_int_eq(tg_op_registry_find("swish"), -1);
    tg_custom_op *swish = new_swish();
    tg_custom_op *outer = new_outer();
    ck_assert_int_eq(tg_op_registry_count(), n_builtin + 2);
    int i = tg_op_registry_find("swish"), k = tg_op_registry_find("outer");
    ck_assert_int_eq(i, n_builtin);
    ck_assert_int_eq(k, n_builtin + 1);
    ck_assert_str_eq(tg_op_registry_name(i), "swish");
    ck_assert_str_eq(tg_custom_op_name(swish), "swish");
    ck_assert(tg_op_registry_smooth(i));
    ck_assert(tg_op_registry_has_backward(i));
    ck_assert_ptr_null(tg_op_registry_name(n_builtin + 2));

    tg_tape *t = tg_tape_new();
    tg_tensor *x = tg_ones(t, TG_F64, TG_SHAPE(4));
    tg_custom(t, swish, &x, 1); /* no input requires a gradient: not a node */
    ck_assert_int_eq(tg_op_registry_recorded(t, i), 0);
    tg_tensor_set_requires_grad(x, true);
    tg_custom(t, swish, &x, 1);
    tg_custom(t, swish, &x, 1);
    ck_assert_int_eq(tg_op_registry_recorded(t, i), 2);
    ck_assert_int_eq(tg_op_registry_recorded(t, k), 0);
    tg_tape_free(t);

    tg_custom_op_free(swish); /* the ops after it move down one */
    ck_assert_int_eq(tg_op_registry_find("swish"), -1);
    ck_assert_int_eq(tg_op_registry_find("outer"), n_builtin);
    ck_assert_int_eq(tg_op_registry_count(), n_builtin + 1);
    tg_custom_op_free(outer);
    ck_assert_int_eq(tg_op_registry_count(), n_builtin);
    tg_custom_op_free(NULL);
    ck_assert_str_eq(tg_custom_op_name(NULL), "");
}
END_TEST

START_TEST(the_dot_export_labels_a_custom_node_with_its_name) {
    tg_custom_op *op = new_swish();
    tg_tape *t = tg_tape_new();
    tg_tensor *x = tg_ones(t, TG_F64, TG_SHAPE(3));
    tg_tensor_set_requires_grad(x, true);
    tg_tensor *loss = tg_sum_all(t, tg_custom(t, op, &x, 1));
    ck_assert_int_eq(tg_tape_backward(t, loss, NULL, 0), TG_OK);
    char buf[16384] = "";
    FILE *f = tmpfile();
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(tg_tape_write_dot(t, f, NULL), TG_OK);
    rewind(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    ck_assert_msg(strstr(buf, "label=\"#0 swish\\n(3,) f64\"") != NULL,
                  "no node named swish in:\n%s", buf);
    tg_tape_free(t);
    tg_custom_op_free(op);
}
END_TEST

/* ---- a numeric backward: first order only ---- */

/* y = x^3 by ops; dy/dx = 3 x^2 written element by element into a fresh tensor. */
static tg_tensor *cube_fwd(tg_tape *t, tg_tensor *const *in, void *ctx) {
    (void)ctx;
    return tg_mul(t, in[0], tg_mul(t, in[0], in[0]));
}

static void cube_numeric_bwd(tg_tape *t, tg_tensor *const *in, tg_tensor *y, tg_tensor *g,
                             tg_tensor **grads, void *ctx) {
    (void)y, (void)ctx;
    tg_tensor *gx = tg_zeros(t, TG_F64, tg_tensor_ndim(in[0]), (int64_t[]){tg_tensor_dim(in[0], 0)});
    if (!gx) return;
    double *d = tg_tensor_data(gx);
    for (int64_t i = 0; i < tg_tensor_numel(gx); i++) {
        double v = tg_tensor_get(in[0], i);
        d[i] = 3 * v * v * tg_tensor_get(g, i);
    }
    grads[0] = gx;
}

static tg_custom_op *new_cube(void) {
    tg_custom_op_def def = {.name = "cube_numeric", .n_inputs = 1, .forward = cube_fwd,
                            .backward = cube_numeric_bwd, .flags = TG_CUSTOM_FIRST_ORDER};
    tg_error err = {0};
    tg_custom_op *op = tg_custom_op_new(&def, &err);
    ck_assert_msg(op != NULL, "%s", err.message);
    return op;
}

static int cube_fn(tg_tape *t, tg_tensor *const *in, tg_tensor **out, void *ctx) {
    out[0] = tg_custom(t, (tg_custom_op *)ctx, in, 1);
    return out[0] ? 1 : -1;
}

START_TEST(numeric_backward_passes_first_order_and_refuses_second) {
    tg_custom_op *op = new_cube();
    ck_assert(!tg_op_registry_smooth(tg_op_registry_find("cube_numeric")));
    tg_tape *t = tg_tape_new();
    const double xs[] = {-1.5, 0.25, 2.0};
    tg_tensor *x = tg_from_data(t, TG_F64, TG_SHAPE(3), xs);
    tg_gradcheck_report rep;
    ck_assert_gradcheck(tg_gradcheck(cube_fn, op, 1, &x, NULL, &rep), rep);
    /* Second order: the checker's sweep reaches the marked gradient and fails, naming the op. */
    tg_status s = tg_gradgradcheck(cube_fn, op, 1, &x, NULL, &rep);
    ck_assert_int_eq(s, TG_ERR_NOGRAD);
    ck_assert(!rep.ok);
    ck_assert_msg(strstr(rep.message, "cube_numeric") && strstr(rep.message, "numeric"), "%s",
                  rep.message);
    tg_tape_free(t);
    tg_custom_op_free(op);
}
END_TEST

START_TEST(numeric_backward_under_create_graph_gives_right_values_then_refuses) {
    tg_custom_op *op = new_cube();
    tg_tape *t = tg_tape_new();
    const double xs[] = {-1.5, 0.25, 2.0};
    tg_tensor *x = tg_from_data(t, TG_F64, TG_SHAPE(3), xs);
    tg_tensor_set_requires_grad(x, true);
    tg_tensor *y = tg_sum_all(t, tg_custom(t, op, &x, 1));
    tg_tensor *gx = NULL;
    /* Asking for a graph is allowed, and the first derivatives are right... */
    ck_assert_int_eq(tg_tape_grad(t, y, NULL, 1, &x, &gx, TG_CREATE_GRAPH), TG_OK);
    for (int i = 0; i < 3; i++) ck_assert_double_eq_tol(tg_tensor_get(gx, i), 3 * xs[i] * xs[i], 1e-15);
    /* ...but differentiating them again is an error, never a silent zero. */
    tg_tensor *gg = NULL;
    tg_status s = tg_tape_grad(t, tg_sum_all(t, gx), NULL, 1, &x, &gg, 0);
    ck_assert_int_eq(s, TG_ERR_NOGRAD);
    ck_assert_msg(strstr(tg_tape_error(t), "cube_numeric: its backward is numeric"), "%s",
                  tg_tape_error(t));
    ck_assert_msg(strstr(tg_tape_error(t), "test_custom_op.c:"), "%s", tg_tape_error(t));
    tg_tape_free(t);
    tg_custom_op_free(op);
}
END_TEST

/* ---- bad definitions ---- */

static void expect_refused(const tg_custom_op_def *def, tg_status want, const char *msg) {
    tg_error err = {0};
    tg_custom_op *op = tg_custom_op_new(def, &err);
    ck_assert_ptr_null(op);
    ck_assert_int_eq(err.status, want);
    ck_assert_msg(strstr(err.message, msg), "'%s' does not say '%s'", err.message, msg);
    ck_assert_ptr_null(tg_custom_op_new(def, NULL)); /* no error struct: refused all the same */
}

START_TEST(bad_definitions_are_refused_with_a_reason) {
    tg_custom_op_def ok = {.name = "swish", .n_inputs = 1, .forward = swish_fwd,
                           .backward = swish_bwd};
    expect_refused(NULL, TG_ERR_NULL, "the definition is NULL");
    tg_custom_op_def d = ok;
    d.name = NULL;
    expect_refused(&d, TG_ERR_NULL, "the name is NULL");
    d.name = "";
    expect_refused(&d, TG_ERR_ARG, "is not 1 to 47 letters");
    d.name = "has space";
    expect_refused(&d, TG_ERR_ARG, "'has space' is not");
    d.name = "quote\"d";
    expect_refused(&d, TG_ERR_ARG, "is not 1 to 47");
    d.name = "a_name_that_goes_on_and_on_far_past_the_limit_of_48";
    expect_refused(&d, TG_ERR_ARG, "is not 1 to 47");
    d = ok;
    d.forward = NULL;
    expect_refused(&d, TG_ERR_NULL, "custom op 'swish': the forward callback is NULL");
    d = ok;
    d.backward = NULL;
    expect_refused(&d, TG_ERR_NULL, "custom op 'swish': the backward callback is NULL");
    d = ok;
    d.n_inputs = 0;
    expect_refused(&d, TG_ERR_ARG, "n_inputs is 0, not 1 to 8");
    d.n_inputs = TG_CUSTOM_MAX_INPUTS + 1;
    expect_refused(&d, TG_ERR_ARG, "n_inputs is 9");
    d = ok;
    d.flags = 1u << 7;
    expect_refused(&d, TG_ERR_ARG, "unknown flags 0x80");
    d.flags = TG_CUSTOM_SMOOTH | TG_CUSTOM_FIRST_ORDER;
    expect_refused(&d, TG_ERR_ARG, "cannot give");
    d = ok;
    d.name = "relu"; /* a built-in op's name */
    expect_refused(&d, TG_ERR_ARG, "the name 'relu' is already registered");
    tg_custom_op *first = tg_custom_op_new(&ok, NULL);
    ck_assert_ptr_nonnull(first);
    expect_refused(&ok, TG_ERR_ARG, "the name 'swish' is already registered");
    tg_custom_op_free(first);
    tg_custom_op *again = tg_custom_op_new(&ok, NULL); /* the name is free again */
    ck_assert_ptr_nonnull(again);
    tg_custom_op_free(again);
}
END_TEST

/* ---- bad calls and misbehaving callbacks ---- */

static void expect_tape_error(tg_tape *t, tg_status want, const char *msg) {
    ck_assert_int_eq(tg_tape_status(t), want);
    ck_assert_msg(strstr(tg_tape_error(t), msg), "'%s' does not say '%s'", tg_tape_error(t), msg);
    tg_tape_clear_error(t);
}

START_TEST(bad_calls_fail_on_the_tape) {
    tg_custom_op *op = new_swish();
    tg_tape *t = tg_tape_new();
    tg_tensor *x = tg_ones(t, TG_F64, TG_SHAPE(2));
    ck_assert_ptr_null(tg_custom(NULL, op, &x, 1));
    ck_assert_ptr_null(tg_custom(t, NULL, &x, 1));
    expect_tape_error(t, TG_ERR_NULL, "custom: the op is NULL");
    ck_assert_ptr_null(tg_custom(t, op, &x, 2));
    expect_tape_error(t, TG_ERR_ARG, "swish: takes 1 input, given 2");
    ck_assert_ptr_null(tg_custom(t, op, NULL, 1));
    expect_tape_error(t, TG_ERR_NULL, "swish: the array of inputs is NULL");
    /* A NULL input (an earlier op failed) keeps that op's error. */
    tg_tensor *bad = tg_reshape(t, x, TG_SHAPE(3));
    ck_assert_ptr_null(tg_custom(t, op, &bad, 1));
    ck_assert_msg(strstr(tg_tape_error(t), "reshape"), "%s", tg_tape_error(t));
    tg_tape_clear_error(t);
    /* Mixed dtypes between inputs. */
    tg_custom_op *outer = new_outer();
    tg_tensor *mixed[2] = {x, tg_ones(t, TG_F32, TG_SHAPE(2))};
    ck_assert_ptr_null(tg_custom(t, outer, mixed, 2));
    expect_tape_error(t, TG_ERR_DTYPE, "outer: input 1 is f32");
    /* A stale input. */
    tg_tape_reset(t);
    ck_assert_ptr_null(tg_custom(t, op, &x, 1));
    ck_assert_int_eq(tg_tape_status(t), TG_ERR_STALE);
    tg_tape_free(t);
    tg_custom_op_free(outer);
    tg_custom_op_free(op);
}
END_TEST

typedef enum misbehaviour {
    FWD_WRONG_SHAPE,
    FWD_WRONG_DTYPE,
    FWD_NULL_SILENT,
    FWD_OWN_ERROR,
    BWD_NO_GRAD,
    BWD_WRONG_SHAPE,
    BEHAVES
} misbehaviour;

static tg_tensor *odd_fwd(tg_tape *t, tg_tensor *const *in, void *ctx) {
    switch (*(misbehaviour *)ctx) {
    case FWD_WRONG_SHAPE: return tg_sum_all(t, in[0]);
    case FWD_WRONG_DTYPE: return tg_ones(t, TG_F32, TG_SHAPE(2));
    case FWD_NULL_SILENT: return NULL;
    case FWD_OWN_ERROR: return tg_matmul(t, in[0], in[0]);
    default: return in[0]; /* the identity: handing back the input itself */
    }
}

static void odd_bwd(tg_tape *t, tg_tensor *const *in, tg_tensor *y, tg_tensor *g,
                    tg_tensor **grads, void *ctx) {
    (void)in, (void)y;
    misbehaviour m = *(misbehaviour *)ctx;
    if (m == BWD_WRONG_SHAPE) grads[0] = tg_sum_all(t, g);
    if (m != BWD_NO_GRAD && m != BWD_WRONG_SHAPE) grads[0] = g;
}

START_TEST(misbehaving_callbacks_give_clear_errors) {
    misbehaviour m;
    tg_custom_op_def def = {.name = "odd", .n_inputs = 1, .forward = odd_fwd,
                            .backward = odd_bwd, .ctx = &m};
    tg_custom_op *op = tg_custom_op_new(&def, NULL);
    ck_assert_ptr_nonnull(op);
    tg_tape *t = tg_tape_new();
    tg_tensor *x = tg_ones(t, TG_F64, TG_SHAPE(2));
    tg_tensor_set_requires_grad(x, true);
    m = FWD_WRONG_SHAPE;
    ck_assert_ptr_null(tg_custom(t, op, &x, 1));
    expect_tape_error(t, TG_ERR_SHAPE, "odd: the forward returned shape (), the op promises (2,)");
    m = FWD_WRONG_DTYPE;
    ck_assert_ptr_null(tg_custom(t, op, &x, 1));
    expect_tape_error(t, TG_ERR_DTYPE, "odd: the forward returned f32 (2,) for f64 inputs");
    m = FWD_NULL_SILENT;
    ck_assert_ptr_null(tg_custom(t, op, &x, 1));
    expect_tape_error(t, TG_ERR_NULL, "odd: the forward returned NULL without an error");
    m = FWD_OWN_ERROR; /* the forward's own op failed: its error is the one kept */
    ck_assert_ptr_null(tg_custom(t, op, &x, 1));
    expect_tape_error(t, TG_ERR_SHAPE, "matmul");
    ck_assert(tg_tape_grad_enabled(t)); /* recording is back on after a failed forward */

    m = BWD_NO_GRAD;
    tg_tensor *y = tg_custom(t, op, &x, 1);
    ck_assert_ptr_nonnull(y);
    ck_assert_ptr_ne(y, x); /* the identity's result is a new header, x stays a leaf */
    ck_assert_int_eq(tg_tape_backward(t, tg_sum_all(t, y), NULL, TG_RETAIN_GRAPH),
                     TG_ERR_NOGRAD);
    expect_tape_error(t, TG_ERR_NOGRAD, "odd: the backward gave no gradient for input 0");
    m = BWD_WRONG_SHAPE;
    ck_assert_int_eq(tg_tape_backward(t, tg_sum_all(t, y), NULL, TG_RETAIN_GRAPH),
                     TG_ERR_SHAPE);
    expect_tape_error(t, TG_ERR_SHAPE, "backward of odd gave a f64 () gradient for input 0");
    m = BEHAVES; /* the identity both ways */
    ck_assert_int_eq(tg_tape_backward(t, tg_sum_all(t, y), NULL, 0), TG_OK);
    ck_assert_double_eq(tg_tensor_get(tg_tensor_grad(x), 1), 1.0);
    tg_tape_free(t);
    tg_custom_op_free(op);
}
END_TEST

START_TEST(with_recording_off_the_op_just_computes) {
    tg_custom_op *op = new_swish();
    tg_tape *t = tg_tape_new();
    tg_tensor *x = tg_ones(t, TG_F64, TG_SHAPE(2));
    tg_tensor_set_requires_grad(x, true);
    tg_tape_set_grad_enabled(t, false);
    tg_tensor *y = tg_custom(t, op, &x, 1);
    ck_assert_ptr_nonnull(y);
    ck_assert(!tg_tensor_requires_grad(y));
    ck_assert_int_eq(tg_tape_n_nodes(t), 0);
    ck_assert(!tg_tape_grad_enabled(t)); /* the forward did not turn it back on */
    tg_tape_free(t);
    tg_custom_op_free(op);
}
END_TEST

/* Nodes point at their op, so a tape that recorded one keeps the op alive: freeing it before
 * the sweep must neither crash (ASan would see a use after free) nor change the gradient, and
 * the tape's reset lets the memory go (the leak checker sees it if not). */
START_TEST(a_tape_keeps_a_freed_op_until_its_reset) {
    tg_custom_op *op = new_swish();
    tg_tape *t = tg_tape_new();
    tg_tensor *x = spread(t, TG_F64, 2, 3, -2.0, 2.0);
    tg_tensor_set_requires_grad(x, true);
    tg_tensor *y = tg_custom(t, op, &x, 1);
    tg_tensor *y2 = tg_custom(t, op, &y, 1); /* a second node: the tape holds the op once */
    ck_assert_msg(y2 != NULL, "%s", tg_tape_error(t));
    tg_custom_op_free(op);
    ck_assert_int_eq(tg_op_registry_find("swish"), -1); /* unregistered at once */
    tg_custom_op *again = new_swish();                 /* so the name can be taken again */
    ck_assert_int_eq(tg_tape_backward(t, tg_sum_all(t, y2), NULL, 0), TG_OK);
    for (int64_t i = 0; i < 6; i++) {
        double v = tg_tensor_get(x, i), s = 1.0 / (1.0 + exp(-v));
        double u = v * s, su = 1.0 / (1.0 + exp(-u));
        double du = s + v * s * (1 - s), dy2 = su + u * su * (1 - su);
        ck_assert_double_eq_tol(tg_tensor_get(tg_tensor_grad(x), i), dy2 * du, 1e-14);
    }
    tg_tape_reset(t);
    /* The new op of the same name records and sweeps on the reset tape as usual. */
    x = spread(t, TG_F64, 1, 2, -1.0, 1.0);
    tg_tensor_set_requires_grad(x, true);
    ck_assert_int_eq(tg_tape_backward(t, tg_sum_all(t, tg_custom(t, again, &x, 1)), NULL, 0),
                     TG_OK);
    tg_tape_free(t);
    tg_custom_op_free(again);
}
END_TEST

START_TEST(recording_a_freed_op_is_refused) {
    tg_custom_op *op = new_swish();
    tg_custom_op_free(op); /* no tape holds it: the memory is gone */
    tg_tape *t = tg_tape_new();
    tg_tensor *x = spread(t, TG_F64, 2, 2, -1.0, 1.0);
    ck_assert_ptr_null(tg_custom(t, op, &x, 1));
    ck_assert_int_eq(tg_tape_status(t), TG_ERR_ARG);
    ck_assert_msg(strstr(tg_tape_error(t), "freed by tg_custom_op_free") != NULL, "%s",
                  tg_tape_error(t));
    tg_tape_free(t);
}
END_TEST

int main(void) {
    Suite *s = suite_create("custom_op");
    TCase *tc = tcase_create("custom_op");
    tcase_add_test(tc, swish_forward_and_first_derivative_values);
    tcase_add_test(tc, swish_passes_gradcheck_first_and_second_order);
    tcase_add_test(tc, gradcheck_catches_a_wrong_custom_backward);
    tcase_add_test(tc, two_input_op_with_a_shape_rule_passes_both_orders);
    tcase_add_test(tc, five_inputs_pass_both_orders_and_mark_as_first_order);
    tcase_add_test(tc, custom_ops_are_listed_by_name_while_they_live);
    tcase_add_test(tc, the_dot_export_labels_a_custom_node_with_its_name);
    tcase_add_test(tc, numeric_backward_passes_first_order_and_refuses_second);
    tcase_add_test(tc, numeric_backward_under_create_graph_gives_right_values_then_refuses);
    tcase_add_test(tc, bad_definitions_are_refused_with_a_reason);
    tcase_add_test(tc, bad_calls_fail_on_the_tape);
    tcase_add_test(tc, misbehaving_callbacks_give_clear_errors);
    tcase_add_test(tc, with_recording_off_the_op_just_computes);
    tcase_add_test(tc, a_tape_keeps_a_freed_op_until_its_reset);
    tcase_add_test(tc, recording_a_freed_op_is_refused);
    suite_add_tcase(s, tc);
    return tg_test_run(s);
}
