/* exponent_overflow.c: lesson 5. softmax, log-softmax, cross entropy, logsumexp, sigmoid and
 * binary cross entropy on inputs x = M u of magnitude M from 1 to 10^4, in f32 and f64: each
 * written naively from tg_exp / tg_div / tg_log, and with the library's op, value and gradient
 * compared with a long-double reference computed by a stable formula (overflow/cases.c).
 *
 * The finding (checked, exit status 1 when it fails): past e^M's overflow (M > 88.7 in f32,
 * 709.8 in f64) every naive formula gives Inf or NaN in its value or its gradient, while it is
 * right at M = 1; the library's ops stay finite and within 1e-6 of the reference at every M,
 * because they subtract the maximum before exponentiating (or exponentiate only -|x|). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "csv.h"
#include "overflow/cases.h"
#include "overflow/figure.h"
#include "xp.h"

/* M from 1 to 10^4: 1, 2, 5 in each decade (quick: the powers of ten). */
static int magnitudes(bool quick, double *mag) {
    int n = 0;
    for (double p = 1; p <= 1e4; p *= 10) {
        mag[n++] = p;
        if (!quick && p < 1e4) mag[n++] = 2 * p, mag[n++] = 5 * p;
    }
    return n;
}

static const char *fmt_err(const ov_error *e, char *buf, size_t size) {
    if (e->kind == OV_NAN) return "NaN";
    if (e->kind == OV_INF) return "Inf";
    snprintf(buf, size, "%.1e", e->rel);
    return buf;
}

/* The smallest M at which the value or the gradient is not finite; NAN when none is. */
static double first_nonfinite(const ov_table *tab, int dt, int op, int form, bool grad) {
    for (int k = 0; k < tab->n_mags; k++) {
        const ov_result *r = &tab->r[dt][op][form][k];
        if ((grad ? r->grad.kind : r->value.kind) != OV_FINITE) return tab->mag[k];
    }
    return NAN;
}

/* The worst relative error over every M (Inf/NaN beat any number). */
static ov_error worst(const ov_table *tab, int dt, int op, int form, bool grad) {
    ov_error w = {OV_FINITE, 0};
    for (int k = 0; k < tab->n_mags; k++) {
        const ov_result *r = &tab->r[dt][op][form][k];
        const ov_error *e = grad ? &r->grad : &r->value;
        if (e->kind > w.kind)
            w = *e;
        else if (e->kind == OV_FINITE && w.kind == OV_FINITE && e->rel > w.rel)
            w.rel = e->rel;
    }
    return w;
}

static int index_of(const ov_table *tab, double mag) {
    for (int k = 0; k < tab->n_mags; k++)
        if (tab->mag[k] == mag) return k;
    return -1;
}

/* The table of the lesson's page, in Markdown, on stdout. */
static void print_table(const ov_table *tab) {
    int k1000 = index_of(tab, 1000);
    printf("The naive formulas (x = M u, u = (1, 1, 0, -1)):\n");
    for (int op = 0; op < OV_N_OPS; op++)
        printf("  %-14s %s\n", ov_op_name((ov_op)op), ov_naive_formula((ov_op)op));
    printf("\n| function | dtype | naive: first M with Inf/NaN (value / gradient) | naive at "
           "M = 1000 (value / gradient) | library op | library: worst relative error, any M "
           "(value / gradient) |\n|---|---|---|---|---|---|\n");
    for (int op = 0; op < OV_N_OPS; op++)
        for (int dt = 0; dt < 2; dt++) {
            char a[32], b[32], c[32], d[32], m1[32], m2[32];
            double fv = first_nonfinite(tab, dt, op, OV_NAIVE, false);
            double fg = first_nonfinite(tab, dt, op, OV_NAIVE, true);
            snprintf(m1, sizeof m1, isnan(fv) ? "none" : "%g", fv);
            snprintf(m2, sizeof m2, isnan(fg) ? "none" : "%g", fg);
            ov_error wv = worst(tab, dt, op, OV_LIBRARY, false);
            ov_error wg = worst(tab, dt, op, OV_LIBRARY, true);
            const ov_result *r = k1000 >= 0 ? &tab->r[dt][op][OV_NAIVE][k1000] : NULL;
            printf("| %s | %s | %s / %s | %s / %s | `%s` | %s / %s |\n", ov_op_name((ov_op)op),
                   dt ? "f64" : "f32", m1, m2, r ? fmt_err(&r->value, a, sizeof a) : "-",
                   r ? fmt_err(&r->grad, b, sizeof b) : "-", ov_library_formula((ov_op)op),
                   fmt_err(&wv, c, sizeof c), fmt_err(&wg, d, sizeof d));
        }
    printf("\n");
}

static tg_status write_csv(const xp_options *o, const ov_table *tab, tg_error *err) {
    static double rows[2 * OV_N_OPS * OV_MAX_MAGS][11];
    int n = 0;
    for (int dt = 0; dt < 2; dt++)
        for (int op = 0; op < OV_N_OPS; op++)
            for (int k = 0; k < tab->n_mags; k++) {
                double *row = rows[n++];
                row[0] = dt ? 64 : 32;
                row[1] = op;
                row[2] = tab->mag[k];
                for (int form = 0; form < 2; form++) {
                    const ov_result *r = &tab->r[dt][op][form][k];
                    row[3 + 4 * form] = r->value.rel;
                    row[4 + 4 * form] = r->value.kind;
                    row[5 + 4 * form] = r->grad.rel;
                    row[6 + 4 * form] = r->grad.kind;
                }
            }
    const char *names[] = {"dtype_bits",
                           "function(0=softmax,1=log_softmax,2=cross_entropy,3=logsumexp,"
                           "4=sigmoid,5=bce,6=bce_probs)",
                           "magnitude",
                           "naive_value_rel_error",
                           "naive_value_nonfinite(0=no,1=inf,2=nan)",
                           "naive_grad_rel_error",
                           "naive_grad_nonfinite",
                           "library_value_rel_error",
                           "library_value_nonfinite",
                           "library_grad_rel_error",
                           "library_grad_nonfinite"};
    char path[4096];
    tg_status st = xp_out_path(o, "exponent-overflow.csv", path, sizeof path, err);
    return st == TG_OK ? ex_csv_write(path, 11, names, n, &rows[0][0], err) : st;
}

/* The lesson's claims, checked on the table. */
static void check(xp_options *o, const ov_table *tab) {
    int k1 = index_of(tab, 1), k1000 = index_of(tab, 1000);
    for (int dt = 0; dt < 2; dt++) {
        const char *dn = dt ? "f64" : "f32";
        double exact = dt ? 1e-12 : 1e-5; /* what a correct formula in this dtype reaches */
        for (int op = 0; op < OV_N_OPS; op++) {
            if (!ov_library_exact((ov_op)op)) continue; /* checked on its own below */
            const char *name = ov_op_name((ov_op)op);
            const ov_result *n1 = &tab->r[dt][op][OV_NAIVE][k1];
            xp_expect(o,
                      n1->value.kind == OV_FINITE && n1->value.rel < exact &&
                          n1->grad.kind == OV_FINITE && n1->grad.rel < exact,
                      "%s %s: the naive formula is right at M = 1 (errors %.1e / %.1e < %.0e)", dn,
                      name, n1->value.rel, n1->grad.rel, exact);
            bool broken = k1000 >= 0;
            for (int k = k1000; broken && k < tab->n_mags; k++) {
                const ov_result *r = &tab->r[dt][op][OV_NAIVE][k];
                broken = r->value.kind != OV_FINITE || r->grad.kind != OV_FINITE;
            }
            xp_expect(o, broken,
                      "%s %s: the naive formula gives Inf or NaN (value or gradient) "
                      "at every M >= 1000",
                      dn, name);
            ov_error wv = worst(tab, dt, op, OV_LIBRARY, false);
            ov_error wg = worst(tab, dt, op, OV_LIBRARY, true);
            xp_expect(
                o, wv.kind == OV_FINITE && wg.kind == OV_FINITE && wv.rel <= 1e-6 && wg.rel <= 1e-6,
                "%s %s: %s is finite and within 1e-6 of the reference for M = 1..%g "
                "(worst %.1e / %.1e)",
                dn, name, ov_library_formula((ov_op)op), tab->mag[tab->n_mags - 1], wv.rel, wg.rel);
        }
        /* The claim for each naive formula was checked one by one above; say it once more
         * where a reader looks: sigmoid's naive value stays finite, its gradient does not. */
        const ov_result *s = &tab->r[dt][OV_SIGMOID][OV_NAIVE][k1000];
        xp_expect(o, s->value.kind == OV_FINITE && s->grad.kind == OV_NAN,
                  "%s sigmoid at M = 1000: the naive value is finite but its gradient is NaN", dn);
        /* BCE from probabilities is finite but clamped: far from exact once log p < -100. */
        const ov_result *b = &tab->r[dt][OV_BCE_PROBS][OV_LIBRARY][k1000];
        xp_expect(o, b->value.kind == OV_FINITE && b->value.rel > 0.1,
                  "%s bce of sigmoid probabilities at M = 1000: finite but %.0f%% off (log "
                  "clamped at -100)",
                  dn, 100 * b->value.rel);
    }
    int kf = index_of(tab, 100);
    if (kf >= 0) {
        /* Between the two dtypes' limits (e^100 overflows f32, not f64). */
        const ov_result *f32 = &tab->r[0][OV_LOGSUMEXP][OV_NAIVE][kf];
        const ov_result *f64 = &tab->r[1][OV_LOGSUMEXP][OV_NAIVE][kf];
        xp_expect(o, f32->value.kind == OV_INF && f64->value.kind == OV_FINITE,
                  "naive logsumexp at M = 100: Inf in f32, finite in f64");
    }
}

int main(int argc, char **argv) {
    xp_options o = xp_defaults();
    const ex_program prog = {
        .name = "exponent_overflow",
        .about =
            "Lesson 5: softmax, log-softmax, cross entropy, logsumexp, sigmoid and binary\n"
            "cross entropy on inputs of magnitude 1 to 10^4, in f32 and f64, written\n"
            "naively from tg_exp/tg_div/tg_log and with the library's ops; values and\n"
            "gradients against a long-double reference. Writes exponent-overflow.csv and\n"
            "exponent-overflow.svg, and prints the table of docs/lessons/exponent-overflow.md.\n"
            "--seed draws the weights w of the sum w y whose gradient is taken; --threads\n"
            "and --data are accepted for the lessons' common command line and unused.\n",
        .data_help = "unused: this lesson reads no images",
    };
    int rc = xp_parse(argc, argv, &prog, &o);
    if (rc) return rc == 2 ? 0 : 1;

    /* Weights of the vector outputs' sum, one apart at least, so that no gradient is the
     * cancellation of two nearly equal terms. */
    double w[OV_N_IN];
    tg_rng rng;
    tg_rng_seed(&rng, o.seed);
    for (int i = 0; i < OV_N_IN; i++) w[i] = i + 1 + 0.5 * tg_rng_uniform(&rng);

    static ov_table tab;
    tab.n_mags = magnitudes(o.quick, tab.mag);
    tg_tape *t = tg_tape_new();
    tg_error err = {0};
    if (!t) return xp_fail(prog.name, "out of memory");
    for (int dt = 0; dt < 2; dt++)
        for (int op = 0; op < OV_N_OPS; op++)
            for (int form = 0; form < 2; form++)
                for (int k = 0; k < tab.n_mags; k++)
                    if (ov_measure(t, (ov_op)op, (ov_form)form, dt ? TG_F64 : TG_F32, tab.mag[k], w,
                                   &tab.r[dt][op][form][k], &err) != TG_OK) {
                        tg_tape_free(t);
                        return xp_fail(prog.name, err.message);
                    }
    tg_tape_free(t);

    print_table(&tab);
    char path[4096];
    if (write_csv(&o, &tab, &err) != TG_OK ||
        xp_out_path(&o, "exponent-overflow.svg", path, sizeof path, &err) != TG_OK ||
        ov_figure_write(path, &tab, &err) != TG_OK)
        return xp_fail(prog.name, err.message);
    printf("wrote %s/exponent-overflow.csv and %s\n", o.out, path);
    check(&o, &tab);
    return xp_finish(&o);
}
