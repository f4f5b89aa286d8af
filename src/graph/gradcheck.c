/* gradcheck.c: first- and second-order gradient checks against central finite differences.
 *
 * The whole Jacobian is compared entry by entry: one reverse sweep per output element gives its
 * analytic rows, two evaluations per input element give its numeric column. The function is
 * re-run from plain double copies of the inputs each time, on a tape owned by the checker. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "graph.h"

typedef struct checker {
    tg_gradcheck_fn fn;
    void *ctx;
    int n_in;
    tg_dtype dtype[TG_GRADCHECK_MAX_INPUTS];
    int ndim[TG_GRADCHECK_MAX_INPUTS];
    int64_t shape[TG_GRADCHECK_MAX_INPUTS][TG_MAX_DIMS];
    int64_t numel[TG_GRADCHECK_MAX_INPUTS];
    double *vals[TG_GRADCHECK_MAX_INPUTS]; /* current input values */
    unsigned mask;                          /* which inputs are checked */
    tg_tape *tape;
    tg_tensor *leaves[TG_GRADCHECK_MAX_INPUTS];
    tg_tensor *outs[TG_GRADCHECK_MAX_OUTPUTS];
    int n_out;
    int64_t out_numel[TG_GRADCHECK_MAX_OUTPUTS];
    tg_gradcheck_report *rep;
} checker;

static tg_status fail(checker *c, tg_status s, const char *what) {
    c->rep->ok = false;
    c->rep->status = s;
    snprintf(c->rep->message, sizeof c->rep->message, "gradcheck: %s%s%.400s", what,
             c->tape && c->tape->error[0] ? ": " : "", c->tape ? c->tape->error : "");
    return s;
}

/* Runs fn on fresh leaves holding the current values. */
static tg_status evaluate(checker *c) {
    tg_tape_reset(c->tape);
    for (int i = 0; i < c->n_in; i++) {
        tg_tensor *x = tg_tensor_alloc(c->tape, c->dtype[i], c->ndim[i], c->shape[i]);
        if (!x) return fail(c, TG_ERR_NOMEM, "cannot create inputs");
        tg_tensor_copy_in(x, TG_F64, c->vals[i]);
        x->requires_grad = (c->mask >> i) & 1u;
        c->leaves[i] = x;
    }
    for (int o = 0; o < TG_GRADCHECK_MAX_OUTPUTS; o++) c->outs[o] = NULL;
    int n = c->fn(c->tape, c->leaves, c->outs, c->ctx);
    if (n <= 0 || n > TG_GRADCHECK_MAX_OUTPUTS)
        return fail(c, c->tape->status ? c->tape->status : TG_ERR_ARG,
                    "the function reported failure or a bad output count");
    if (c->tape->status != TG_OK) return fail(c, c->tape->status, "the function failed");
    for (int o = 0; o < n; o++) {
        if (!c->outs[o]) return fail(c, TG_ERR_NULL, "the function returned a NULL output");
        int64_t m = tg_tensor_numel(c->outs[o]);
        if (c->n_out && (n != c->n_out || m != c->out_numel[o]))
            return fail(c, TG_ERR_ARG, "the function's outputs changed between calls");
        c->out_numel[o] = m;
    }
    c->n_out = n;
    return TG_OK;
}

static void consider(checker *c, const tg_gradcheck_options *o, int in, int64_t k, int out,
                     int64_t j, double analytic, double numeric, double *worst) {
    double err = fabs(analytic - numeric);
    double tol = o->atol + o->rtol * fabs(numeric);
    double score = err / tol;
    if (isnan(err)) score = INFINITY;
    c->rep->n_checked++;
    if (score > *worst || c->rep->n_checked == 1) {
        *worst = score;
        c->rep->worst_input = in;
        c->rep->worst_index = k;
        c->rep->worst_output = out;
        c->rep->worst_out_index = j;
        c->rep->analytic = analytic;
        c->rep->numeric = numeric;
        c->rep->abs_err = err;
        c->rep->rel_err = err / (fabs(numeric) > 1e-300 ? fabs(numeric) : 1e-300);
    }
}

static tg_gradcheck_options defaults(const checker *c, const tg_gradcheck_options *given) {
    bool any_f32 = false;
    for (int i = 0; i < c->n_in; i++) any_f32 |= c->dtype[i] == TG_F32;
    tg_gradcheck_options o = given ? *given : (tg_gradcheck_options){0};
    if (o.eps <= 0) o.eps = any_f32 ? 1e-2 : 1e-6;
    if (o.atol <= 0) o.atol = any_f32 ? 1e-2 : 1e-5;
    if (o.rtol <= 0) o.rtol = any_f32 ? 1e-2 : 1e-3;
    return o;
}

static tg_status run(checker *c, const tg_gradcheck_options *given) {
    tg_gradcheck_options o = defaults(c, given);
    if (evaluate(c) != TG_OK) return c->rep->status;

    /* Analytic Jacobian: jac[o][j] is a row over all checked inputs' elements. */
    int64_t n_cols = 0, col0[TG_GRADCHECK_MAX_INPUTS], n_rows = 0;
    tg_tensor *checked[TG_GRADCHECK_MAX_INPUTS];
    int which[TG_GRADCHECK_MAX_INPUTS], n_checked = 0;
    for (int i = 0; i < c->n_in; i++) {
        col0[i] = n_cols;
        if ((c->mask >> i) & 1u) {
            which[n_checked] = i;
            checked[n_checked++] = c->leaves[i];
            n_cols += c->numel[i];
        }
    }
    int64_t row0[TG_GRADCHECK_MAX_OUTPUTS];
    for (int q = 0; q < c->n_out; q++) {
        row0[q] = n_rows;
        n_rows += c->out_numel[q];
    }
    /* The Jacobian of two large tensors can have more entries than 64 bits count. */
    int64_t n_jac;
    if (!tg_size_mul(n_rows, n_cols, TG_MAX_NUMEL, &n_jac))
        return fail(c, TG_ERR_NOMEM, "the Jacobian has more than 2^40 entries");
    size_t bytes = (size_t)(n_jac + 2 * n_rows + 1) * sizeof(double);
    double *jac = tg_alloc(bytes);
    if (!jac) return fail(c, TG_ERR_NOMEM, "out of memory for the Jacobian");
    double *plus = jac + n_rows * n_cols, *minus = plus + n_rows;
    memset(jac, 0, (size_t)(n_rows * n_cols) * sizeof(double));

    tg_status s = TG_OK;
    for (int q = 0; q < c->n_out && s == TG_OK; q++) {
        tg_tensor *y = c->outs[q];
        if (!y->requires_grad) continue; /* depends on no checked input: zero rows */
        for (int64_t j = 0; j < c->out_numel[q] && s == TG_OK; j++) {
            bool was = tg_tape_set_grad_enabled(c->tape, false);
            tg_tensor *e = tg_zeros(c->tape, y->dtype, y->ndim, y->shape);
            tg_tape_set_grad_enabled(c->tape, was);
            if (!e) {
                s = fail(c, c->tape->status, "cannot make the output weights");
                break;
            }
            if (y->dtype == TG_F32)
                ((float *)(void *)e->data)[j] = 1.0f;
            else
                ((double *)(void *)e->data)[j] = 1.0;
            tg_tensor *grads[TG_GRADCHECK_MAX_INPUTS];
            if (tg_tape_grad(c->tape, y, e, n_checked, checked, grads, TG_RETAIN_GRAPH) != TG_OK) {
                s = fail(c, c->tape->status, "the analytic gradient failed");
                break;
            }
            double *row = jac + (row0[q] + j) * n_cols;
            for (int k = 0; k < n_checked; k++)
                tg_tensor_copy_out(grads[k], TG_F64, row + col0[which[k]]);
        }
    }

    /* Numeric Jacobian, a column at a time, compared as it is made. */
    double worst = 0;
    for (int k = 0; k < n_checked && s == TG_OK; k++) {
        int i = which[k];
        for (int64_t e = 0; e < c->numel[i] && s == TG_OK; e++) {
            double x0 = c->vals[i][e];
            double xp = x0 + o.eps, xm = x0 - o.eps;
            if (c->dtype[i] == TG_F32) { /* the step actually taken, after rounding to f32 */
                xp = (double)(float)xp;
                xm = (double)(float)xm;
            }
            c->vals[i][e] = xp;
            s = evaluate(c);
            for (int q = 0; q < c->n_out && s == TG_OK; q++)
                tg_tensor_copy_out(c->outs[q], TG_F64, plus + row0[q]);
            c->vals[i][e] = xm;
            if (s == TG_OK) s = evaluate(c);
            for (int q = 0; q < c->n_out && s == TG_OK; q++)
                tg_tensor_copy_out(c->outs[q], TG_F64, minus + row0[q]);
            c->vals[i][e] = x0;
            for (int q = 0; q < c->n_out && s == TG_OK; q++) {
                for (int64_t j = 0; j < c->out_numel[q]; j++) {
                    int64_t r = row0[q] + j;
                    double numeric = (plus[r] - minus[r]) / (xp - xm);
                    consider(c, &o, i, e, q, j, jac[r * n_cols + col0[i] + e], numeric, &worst);
                }
            }
        }
    }
    tg_free(jac);
    if (s != TG_OK) return s;
    tg_gradcheck_report *r = c->rep;
    r->ok = worst <= 1.0;
    r->status = TG_OK;
    snprintf(r->message, sizeof r->message,
             "%s: %lld entries, worst input %d [%lld] output %d [%lld]: analytic %.10g numeric "
             "%.10g abs %.3g rel %.3g (atol %.1g rtol %.1g)",
             r->ok ? "ok" : "MISMATCH", (long long)r->n_checked, r->worst_input,
             (long long)r->worst_index, r->worst_output, (long long)r->worst_out_index,
             r->analytic, r->numeric, r->abs_err, r->rel_err, o.atol, o.rtol);
    return TG_OK;
}

static tg_status setup(checker *c, tg_gradcheck_fn fn, void *ctx, int n_inputs,
                       tg_tensor *const *inputs, unsigned mask, tg_gradcheck_report *report) {
    memset(c, 0, sizeof *c);
    c->rep = report;
    memset(report, 0, sizeof *report);
    if (!fn || !inputs || n_inputs <= 0 || n_inputs > TG_GRADCHECK_MAX_INPUTS)
        return fail(c, TG_ERR_ARG, "needs a function and 1 to 16 inputs");
    c->fn = fn;
    c->ctx = ctx;
    c->n_in = n_inputs;
    c->mask = mask ? mask : (n_inputs >= 32 ? ~0u : (1u << n_inputs) - 1u);
    for (int i = 0; i < n_inputs; i++) {
        if (!inputs[i]) return fail(c, TG_ERR_NULL, "an input is NULL");
        const tg_tensor *x = inputs[i];
        c->dtype[i] = x->dtype;
        c->ndim[i] = x->ndim;
        for (int d = 0; d < x->ndim; d++) c->shape[i][d] = x->shape[d];
        c->numel[i] = tg_tensor_numel(x);
        c->vals[i] = tg_alloc((size_t)(c->numel[i] ? c->numel[i] : 1) * sizeof(double));
        if (!c->vals[i]) return fail(c, TG_ERR_NOMEM, "out of memory copying inputs");
        tg_tensor_copy_out(x, TG_F64, c->vals[i]);
    }
    c->tape = tg_tape_new();
    if (!c->tape) return fail(c, TG_ERR_NOMEM, "out of memory for the tape");
    return TG_OK;
}

static void teardown(checker *c) {
    for (int i = 0; i < c->n_in; i++) tg_free(c->vals[i]);
    tg_tape_free(c->tape);
}

tg_status tg_gradcheck(tg_gradcheck_fn fn, void *ctx, int n_inputs, tg_tensor *const *inputs,
                       const tg_gradcheck_options *opts, tg_gradcheck_report *report) {
    tg_gradcheck_report scratch;
    if (!report) report = &scratch;
    checker c;
    tg_status s = setup(&c, fn, ctx, n_inputs, inputs, opts ? opts->check_mask : 0, report);
    if (s == TG_OK) s = run(&c, opts);
    teardown(&c);
    return s;
}

/* ---- second order ---- */

typedef struct vjp_ctx {
    tg_gradcheck_fn fn;
    void *ctx;
    int n_x;      /* inputs of fn; the weights v follow them */
    unsigned mask; /* fn's checked inputs */
} vjp_ctx;

/* (x, v) -> d(sum_q <fn(x)_q, v_q>)/dx for the checked x, recorded so it can be checked. */
static int vjp(tg_tape *t, tg_tensor *const *in, tg_tensor **out, void *p) {
    const vjp_ctx *v = p;
    tg_tensor *ys[TG_GRADCHECK_MAX_OUTPUTS] = {NULL};
    int n_y = v->fn(t, in, ys, v->ctx);
    if (n_y <= 0) return n_y;
    tg_tensor *s = NULL;
    for (int q = 0; q < n_y; q++) {
        tg_tensor *term = tg_sum_all(t, tg_mul(t, ys[q], in[v->n_x + q]));
        s = s ? tg_add(t, s, term) : term;
    }
    if (!s) return -1;
    tg_tensor *xs[TG_GRADCHECK_MAX_INPUTS];
    int n = 0;
    for (int i = 0; i < v->n_x; i++)
        if ((v->mask >> i) & 1u) xs[n++] = in[i];
    if (!s->requires_grad) { /* nothing depends on x: the gradients are zero */
        for (int k = 0; k < n; k++) out[k] = tg_zeros(t, xs[k]->dtype, xs[k]->ndim, xs[k]->shape);
        return n;
    }
    if (tg_tape_grad(t, s, NULL, n, xs, out, TG_CREATE_GRAPH) != TG_OK) return -1;
    return n;
}

tg_status tg_gradgradcheck(tg_gradcheck_fn fn, void *ctx, int n_inputs,
                           tg_tensor *const *inputs, const tg_gradcheck_options *opts,
                           tg_gradcheck_report *report) {
    tg_gradcheck_report scratch;
    if (!report) report = &scratch;
    /* Evaluate fn once to learn its outputs' shapes, then draw the weights v. */
    checker c;
    unsigned mask = opts ? opts->check_mask : 0;
    tg_status s = setup(&c, fn, ctx, n_inputs, inputs, mask, report);
    if (s == TG_OK) s = evaluate(&c);
    if (s != TG_OK) {
        teardown(&c);
        return s;
    }
    int n_out = c.n_out;
    if (n_inputs + n_out > TG_GRADCHECK_MAX_INPUTS) {
        s = fail(&c, TG_ERR_ARG, "too many inputs and outputs for a second-order check");
        teardown(&c);
        return s;
    }
    tg_tape *vt = tg_tape_new();
    tg_tensor *all[TG_GRADCHECK_MAX_INPUTS];
    for (int i = 0; i < n_inputs; i++) all[i] = inputs[i];
    tg_rng rng;
    tg_rng_seed(&rng, 20261127);
    for (int q = 0; q < n_out && vt; q++) {
        const tg_tensor *y = c.outs[q];
        all[n_inputs + q] = tg_normal(vt, &rng, y->dtype, y->ndim, y->shape, 0.0, 1.0);
        if (!all[n_inputs + q]) break;
    }
    vjp_ctx v = {fn, ctx, n_inputs, c.mask};
    teardown(&c);
    if (!vt || tg_tape_status(vt) != TG_OK) {
        tg_tape_free(vt);
        memset(report, 0, sizeof *report);
        report->status = TG_ERR_NOMEM;
        snprintf(report->message, sizeof report->message, "gradgradcheck: out of memory");
        return TG_ERR_NOMEM;
    }
    tg_gradcheck_options o = opts ? *opts : (tg_gradcheck_options){0};
    o.check_mask = v.mask | (((1u << n_out) - 1u) << n_inputs);
    s = tg_gradcheck(vjp, &v, n_inputs + n_out, all, &o, report);
    tg_tape_free(vt);
    return s;
}
