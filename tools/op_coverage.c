/* op_coverage.c: the op coverage table (docs/op-coverage.md). Runs every case of the gradient-
 * proof table (tests/ops/op_cases*.c): a forward run in f64 and in f32, a first-order gradcheck
 * in f64 and f32 and a second-order one in f64; then prints, in Markdown, every registered op
 * against those checks, and the composite functions with the cases that cover them.
 *
 * Invariant: a cell says "yes" only when a case filed under that op recorded a node of it and
 * passed that very check in this run; the exit status is non-zero on any gap or failed check,
 * so a registered op cannot stay unproven. Public API only (tapegrad.h and the case table). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tapegrad.h>

#include "op_cases.h"

static const char usage[] =
    "usage: op_coverage [--write FILE | --check FILE]\n"
    "  (no option)    print the coverage table (Markdown) on standard output\n"
    "  --write FILE   write it to FILE (docs/op-coverage.md)\n"
    "  --check FILE   fail unless FILE holds exactly the table this run produces\n"
    "exit status: 0 complete; 1 a gap, a failed check or a stale FILE; 2 bad usage or I/O\n";

/* ---- running the cases ---- */

/* The outcome of one check of one case. */
typedef enum outcome { NOT_RUN = 0, PASSED, FAILED } outcome;

typedef enum check_kind { FWD_F64, FWD_F32, GRAD_F64, GRADGRAD_F64, GRAD_F32, N_CHECKS } check_kind;

static const char *const check_names[N_CHECKS] = {"forward f64", "forward f32", "gradcheck f64",
                                                  "second-order gradcheck f64", "gradcheck f32"};

typedef struct case_result {
    outcome r[N_CHECKS];
} case_result;

/* Problems found while running, reported on stderr; the run fails when there is any. */
static int n_problems;

static void problem(int i, const op_case *c, check_kind k, const char *why) {
    n_problems++;
    fprintf(stderr, "op_coverage: case %d %s [%s] %s: %s\n", i, c->op, c->label, check_names[k],
            why);
}

/* Makes case i's inputs on t in dtype from the case's own seed (as tests/ops does). */
static bool make_inputs(int i, tg_tape *t, tg_dtype dtype, tg_tensor **in) {
    const op_case *c = op_case_at(i);
    tg_rng rng;
    tg_rng_seed(&rng, op_case_seed(i));
    return op_case_make_inputs(c, t, dtype, &rng, in) == c->n_inputs;
}

/* Forward: the case runs in dtype with every input requiring a gradient, records at least one
 * node of its op, and every output is finite. */
static outcome run_forward(int i, int op, tg_dtype dtype, check_kind k) {
    const op_case *c = op_case_at(i);
    tg_tape *t = tg_tape_new();
    tg_tensor *in[OP_CASE_MAX_INPUTS], *out[TG_GRADCHECK_MAX_OUTPUTS] = {NULL};
    char why[640] = "";
    int n_out = -1;
    if (!t || !make_inputs(i, t, dtype, in)) {
        snprintf(why, sizeof why, "cannot make inputs: %s", t ? tg_tape_error(t) : "no tape");
    } else {
        for (int j = 0; j < c->n_inputs; j++) tg_tensor_set_requires_grad(in[j], true);
        n_out = c->fn(t, in, out, c->ctx);
        if (n_out <= 0 || tg_tape_status(t) != TG_OK)
            snprintf(why, sizeof why, "the case failed: %s", tg_tape_error(t));
        else if (tg_op_registry_recorded(t, op) == 0)
            snprintf(why, sizeof why, "no %s node was recorded", c->op);
    }
    for (int o = 0; !why[0] && o < n_out; o++) {
        for (int64_t e = 0; out[o] && e < tg_tensor_numel(out[o]); e++) {
            if (!isfinite(tg_tensor_get(out[o], e))) {
                snprintf(why, sizeof why, "output %d element %lld is %g", o, (long long)e,
                         tg_tensor_get(out[o], e));
                break;
            }
        }
        if (!out[o]) snprintf(why, sizeof why, "output %d is NULL", o);
    }
    tg_tape_free(t);
    if (why[0]) problem(i, c, k, why);
    return why[0] ? FAILED : PASSED;
}

/* A gradient check of the case, with the checker's default tolerances for the dtype. */
static outcome run_gradcheck(int i, check_kind k) {
    const op_case *c = op_case_at(i);
    tg_dtype dtype = k == GRAD_F32 ? TG_F32 : TG_F64;
    tg_tape *t = tg_tape_new();
    tg_tensor *in[OP_CASE_MAX_INPUTS];
    tg_gradcheck_report rep;
    char why[640] = "";
    if (!t || !make_inputs(i, t, dtype, in)) {
        snprintf(why, sizeof why, "cannot make inputs: %s", t ? tg_tape_error(t) : "no tape");
    } else {
        tg_status s = k == GRADGRAD_F64
                          ? tg_gradgradcheck(c->fn, c->ctx, c->n_inputs, in, NULL, &rep)
                          : tg_gradcheck(c->fn, c->ctx, c->n_inputs, in, NULL, &rep);
        if (s != TG_OK || !rep.ok)
            snprintf(why, sizeof why, "%s", rep.message);
        else if (rep.n_checked <= 0)
            snprintf(why, sizeof why, "compared nothing");
    }
    tg_tape_free(t);
    if (why[0]) problem(i, c, k, why);
    return why[0] ? FAILED : PASSED;
}

static case_result run_case(int i) {
    const op_case *c = op_case_at(i);
    case_result res = {{NOT_RUN}};
    int op = tg_op_registry_find(c->op);
    if (op < 0) {
        problem(i, c, FWD_F64, "names an op that is not registered");
        res.r[FWD_F64] = FAILED;
        return res;
    }
    bool f32 = !(c->flags & OP_CASE_F64_ONLY);
    res.r[FWD_F64] = run_forward(i, op, TG_F64, FWD_F64);
    res.r[GRAD_F64] = run_gradcheck(i, GRAD_F64);
    if (!(c->flags & OP_CASE_FIRST_ORDER_ONLY))
        res.r[GRADGRAD_F64] = run_gradcheck(i, GRADGRAD_F64);
    if (f32) {
        res.r[FWD_F32] = run_forward(i, op, TG_F32, FWD_F32);
        res.r[GRAD_F32] = run_gradcheck(i, GRAD_F32);
    }
    return res;
}

/* Whether the case proved check k of its op: it recorded the op in the check's dtype (its
 * forward passed) and passed the check itself. */
static bool proves(const case_result *r, check_kind k) {
    switch (k) {
    case FWD_F64:
    case FWD_F32:
        return r->r[k] == PASSED;
    case GRAD_F64:
    case GRADGRAD_F64:
        return r->r[FWD_F64] == PASSED && r->r[k] == PASSED;
    case GRAD_F32:
        return r->r[FWD_F32] == PASSED && r->r[k] == PASSED;
    case N_CHECKS:
        break;
    }
    return false;
}

/* ---- the composites ---- */

/* A composite function (one that records other ops and has no descriptor of its own) and how
 * its cases are found: labels holding `word` as a whole word (letters, digits and '_' make
 * words), and, when set, a word starting with `with` / none starting with `without`. */
typedef struct composite {
    const char *function;
    const char *word;
    const char *with, *without;
} composite;

static const composite composites[] = {
    {"tg_stack", "stack", NULL, NULL},
    {"tg_transpose", "transpose", NULL, NULL},
    {"tg_sum_to", "sum_to", NULL, NULL},
    {"tg_embedding", "embedding", NULL, NULL},
    {"tg_cross_entropy", "cross_entropy", NULL, "prob"},
    {"tg_cross_entropy_probs", "cross_entropy", "prob", NULL},
    {"tg_nll", "nll", NULL, NULL},
    {"tg_mse", "mse", NULL, NULL},
    {"tg_bce", "bce", NULL, NULL},
    {"tg_bce_with_logits", "bce_with_logits", NULL, NULL},
    {"tg_dropout", "dropout", NULL, NULL},
    {"tg_batch_norm", "batch_norm", NULL, NULL},
    {"tg_layer_norm", "layer_norm", NULL, NULL},
    {"tg_squeeze_all", "squeeze_all", NULL, NULL},
    {"tg_split", "split", NULL, NULL},
    {"tg_chunk", "chunk", NULL, NULL},
};
enum { N_COMPOSITES = sizeof composites / sizeof composites[0] };

static bool word_char(char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '_';
}

/* Whether label has a word equal to w (prefix false) or starting with w (prefix true). */
static bool has_word(const char *label, const char *w, bool prefix) {
    size_t len = strlen(w);
    for (const char *p = label; *p;) {
        while (*p && !word_char(*p)) p++;
        const char *start = p;
        while (*p && word_char(*p)) p++;
        size_t n = (size_t)(p - start);
        if (n >= len && strncmp(start, w, len) == 0 && (prefix || n == len)) return true;
    }
    return false;
}

static bool covers(const composite *m, const op_case *c) {
    return has_word(c->label, m->word, false) && (!m->with || has_word(c->label, m->with, true)) &&
           !(m->without && has_word(c->label, m->without, true));
}

/* ---- the report ---- */

static const char intro[] =
    "# Op coverage\n"
    "\n"
    "Generated by `tools/op_coverage.c`; do not edit by hand. Regenerate with\n"
    "`ninja -C build op-coverage` (or run `build/tools/op_coverage --write docs/op-coverage.md`).\n"
    "The meson test `op_coverage` fails when a required cell is missing or when this file\n"
    "differs from what the tool prints, so the table cannot go stale.\n"
    "\n"
    "Every registered op (`src/ops/ops.def`) against the checks its cases in the gradient-proof\n"
    "table (`tests/ops/op_cases*.c`) passed in the run that wrote this file. A cell is **yes**\n"
    "only when at least one case filed under the op ran and passed that check:\n"
    "\n"
    "- *f32 / f64 forward*: the case ran in that dtype, recorded a node of the op and gave\n"
    "  finite outputs;\n"
    "- *backward*: the op has a backward rule and a first-order gradcheck ran through it;\n"
    "- *gradcheck f64 / f32*: every Jacobian entry matched central finite differences within\n"
    "  the checker's default tolerances for the dtype (f64: atol 1e-5, rtol 1e-3; f32: 1e-2);\n"
    "- *second order f64*: `tg_gradgradcheck` passed. It is required of ops whose descriptor\n"
    "  is smooth (twice differentiable); for the others the cell says **n/a** unless a case\n"
    "  passed it anyway.\n"
    "\n"
    "A gap would read **no**; the tool then lists it below the table and exits non-zero.\n"
    "\n";

typedef struct op_row {
    int n_cases;
    int n_proved[N_CHECKS];
} op_row;

static const char *cell(bool yes, bool required) { return yes ? "yes" : required ? "no" : "n/a"; }

/* Writes the whole report to f and returns the number of gaps it shows. */
static int write_report(FILE *f, const case_result *res) {
    int n_ops = tg_op_registry_count(), n_cases = op_case_count(), gaps = 0;
    op_row *rows = calloc((size_t)n_ops, sizeof *rows);
    char gap_list[8192] = "";
    if (!rows) {
        fprintf(stderr, "op_coverage: out of memory\n");
        return 1;
    }
    for (int i = 0; i < n_cases; i++) {
        int op = tg_op_registry_find(op_case_at(i)->op);
        if (op < 0) continue;
        rows[op].n_cases++;
        for (int k = 0; k < N_CHECKS; k++) rows[op].n_proved[k] += proves(&res[i], k);
    }

    fputs(intro, f);
    fputs("| op | smooth | f32 forward | f64 forward | backward | gradcheck f64 | "
          "second order f64 | gradcheck f32 | cases |\n",
          f);
    fputs("| --- | --- | --- | --- | --- | --- | --- | --- | ---: |\n", f);
    for (int op = 0; op < n_ops; op++) {
        const op_row *r = &rows[op];
        bool smooth = tg_op_registry_smooth(op);
        bool backward = tg_op_registry_has_backward(op) &&
                        (r->n_proved[GRAD_F64] > 0 || r->n_proved[GRAD_F32] > 0);
        bool yes[] = {
            r->n_proved[FWD_F32] > 0,  r->n_proved[FWD_F64] > 0,      backward,
            r->n_proved[GRAD_F64] > 0, r->n_proved[GRADGRAD_F64] > 0, r->n_proved[GRAD_F32] > 0};
        bool required[] = {true, true, true, true, smooth, true};
        static const char *const column[] = {"f32 forward",   "f64 forward",      "backward",
                                             "gradcheck f64", "second order f64", "gradcheck f32"};
        fprintf(f, "| `%s` | %s |", tg_op_registry_name(op), smooth ? "yes" : "no");
        for (int k = 0; k < 6; k++) {
            fprintf(f, " %s |", cell(yes[k], required[k]));
            if (!yes[k] && required[k]) {
                gaps++;
                size_t used = strlen(gap_list);
                snprintf(gap_list + used, sizeof gap_list - used, "- `%s`: %s\n",
                         tg_op_registry_name(op), column[k]);
            }
        }
        fprintf(f, " %d |\n", r->n_cases);
    }
    fprintf(f, "\n%d registered ops, %d cases.\n", n_ops, n_cases);

    fputs("\n## Composites\n\n"
          "Functions that record other ops and have no descriptor of their own. Their gradients,\n"
          "of every order, are those of the ops they record; their cases are filed under one of\n"
          "those ops (the column *filed under*) and found here by the function's name in the\n"
          "case label. Each needs at least one case that passes the f64 gradcheck; the other\n"
          "columns say **n/a** when all its cases opt out of that check.\n\n"
          "| function | cases | filed under | gradcheck f64 | second order f64 | gradcheck f32 |\n"
          "| --- | ---: | --- | --- | --- | --- |\n",
          f);
    for (int m = 0; m < N_COMPOSITES; m++) {
        const composite *cm = &composites[m];
        int n = 0, tried[N_CHECKS] = {0}, proved[N_CHECKS] = {0};
        char under[512] = "";
        for (int i = 0; i < n_cases; i++) {
            const op_case *c = op_case_at(i);
            if (!covers(cm, c)) continue;
            n++;
            for (int k = 0; k < N_CHECKS; k++) {
                tried[k] += res[i].r[k] != NOT_RUN;
                proved[k] += proves(&res[i], k);
            }
            /* The ops it is filed under, each once, in table order. */
            char quoted[128];
            snprintf(quoted, sizeof quoted, "`%s`", c->op);
            if (!strstr(under, quoted)) {
                size_t used = strlen(under);
                snprintf(under + used, sizeof under - used, "%s%s", used ? ", " : "", quoted);
            }
        }
        bool ok64 = n > 0 && proved[GRAD_F64] > 0;
        fprintf(f, "| `%s` | %d | %s | %s | %s | %s |\n", cm->function, n, n ? under : "none",
                cell(ok64, true), cell(proved[GRADGRAD_F64] > 0, tried[GRADGRAD_F64] > 0),
                cell(proved[GRAD_F32] > 0, tried[GRAD_F32] > 0));
        const char *missing = NULL;
        if (n == 0)
            missing = "no case";
        else if (!ok64)
            missing = "no passing gradcheck f64";
        else if (tried[GRADGRAD_F64] > 0 && proved[GRADGRAD_F64] == 0)
            missing = "no passing second-order check";
        else if (tried[GRAD_F32] > 0 && proved[GRAD_F32] == 0)
            missing = "no passing gradcheck f32";
        if (missing) {
            gaps++;
            size_t used = strlen(gap_list);
            snprintf(gap_list + used, sizeof gap_list - used, "- `%s`: %s\n", cm->function,
                     missing);
        }
    }

    fputs("\n### The cases behind each composite\n\n", f);
    for (int m = 0; m < N_COMPOSITES; m++) {
        fprintf(f, "- `%s`\n", composites[m].function);
        for (int i = 0; i < n_cases; i++) {
            const op_case *c = op_case_at(i);
            if (covers(&composites[m], c))
                fprintf(f, "  - `%s` (filed under `%s`)\n", c->label, c->op);
        }
    }

    if (gaps) fprintf(f, "\n## Gaps\n\n%s", gap_list);
    free(rows);
    return gaps;
}

/* ---- files ---- */

/* The whole of a file as a NUL-terminated string (caller frees), or NULL. */
static char *read_all(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    while (buf) {
        len += fread(buf + len, 1, cap - len - 1, f);
        if (ferror(f) || len < cap - 1) break;
        char *bigger = realloc(buf, cap *= 2);
        if (!bigger) free(buf);
        buf = bigger;
    }
    bool bad = ferror(f);
    fclose(f);
    if (!buf || bad) {
        free(buf);
        return NULL;
    }
    buf[len] = '\0';
    return buf;
}

/* Reports the first line where the committed file and the fresh table differ. */
static void report_stale(const char *path, const char *have, const char *want) {
    size_t at = 0, line_start = 0;
    int line = 1;
    for (; have[at] && have[at] == want[at]; at++) {
        if (have[at] == '\n') {
            line++;
            line_start = at + 1;
        }
    }
    const char *h = have + line_start, *w = want + line_start;
    fprintf(stderr,
            "op_coverage: %s is stale from line %d:\n  file: %.*s\n  tool: %.*s\n"
            "regenerate it with `ninja -C <build dir> op-coverage` and commit it\n",
            path, line, (int)strcspn(h, "\n"), h, (int)strcspn(w, "\n"), w);
}

/* Writes len bytes of text to path; false (reported) on any failure. */
static bool write_file(const char *path, const char *text, size_t len) {
    FILE *f = fopen(path, "wb");
    bool ok = f && fwrite(text, 1, len, f) == len;
    if (f && fclose(f) != 0) ok = false;
    if (!ok) fprintf(stderr, "op_coverage: cannot write %s\n", path);
    return ok;
}

int main(int argc, char **argv) {
    const char *write_path = NULL, *check_path = NULL;
    if (argc == 3 && strcmp(argv[1], "--write") == 0) {
        write_path = argv[2];
    } else if (argc == 3 && strcmp(argv[1], "--check") == 0) {
        check_path = argv[2];
    } else if (argc != 1) {
        fputs(usage, stderr);
        return 2;
    }

    int n = op_case_count();
    case_result *res = calloc(n > 0 ? (size_t)n : 1, sizeof *res);
    if (!res) return 2;
    for (int i = 0; i < n; i++) res[i] = run_case(i);

    /* The report goes to memory first: --check compares it, --write writes it whole. */
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    if (!mem) return 2;
    int gaps = write_report(mem, res);
    if (fclose(mem) != 0 || !text) return 2;
    free(res);

    int status = gaps || n_problems ? 1 : 0;
    if (check_path) {
        char *have = read_all(check_path);
        if (!have) {
            fprintf(stderr, "op_coverage: cannot read %s\n", check_path);
            status = 2;
        } else if (strcmp(have, text) != 0) {
            report_stale(check_path, have, text);
            if (!status) status = 1;
        }
        free(have);
    } else if (write_path) {
        if (!write_file(write_path, text, len)) status = 2;
    } else {
        fwrite(text, 1, len, stdout);
    }
    fprintf(stderr, "op_coverage: %d ops, %d cases, %d gap(s), %d failed check(s)\n",
            tg_op_registry_count(), n, gaps, n_problems);
    free(text);
    return status;
}
