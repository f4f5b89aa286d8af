/* cases.h: the exponent-overflow lesson's measurements. Six functions that involve e^x
 * (softmax, log-softmax, cross entropy, logsumexp, sigmoid, binary cross entropy) are evaluated
 * on inputs x = M u of magnitude M, each twice: once written naively from tg_exp / tg_div /
 * tg_log, once with the library's op. Value and gradient are compared with a reference computed
 * in long double by a stable formula from the same (dtype-rounded) inputs.
 *
 * Invariant: an error is either a finite relative error or marked non-finite (Inf or NaN);
 * a non-finite result is never folded into a large finite number. */
#ifndef EXPERIMENTS_OVERFLOW_CASES_H
#define EXPERIMENTS_OVERFLOW_CASES_H

#include <stdbool.h>

#include <tapegrad.h>

/* The functions, in table order. OV_BCE_PROBS is binary cross entropy taken from probabilities
 * (tg_bce of tg_sigmoid), the form that clamps log 0 at -100: finite, but not exact. */
typedef enum ov_op {
    OV_SOFTMAX,
    OV_LOG_SOFTMAX,
    OV_CROSS_ENTROPY,
    OV_LOGSUMEXP,
    OV_SIGMOID,
    OV_BCE,
    OV_BCE_PROBS,
    OV_N_OPS
} ov_op;

typedef enum ov_form { OV_NAIVE, OV_LIBRARY } ov_form;

/* How a result compares with the reference. */
typedef enum ov_kind { OV_FINITE = 0, OV_INF = 1, OV_NAN = 2 } ov_kind;

typedef struct ov_error {
    ov_kind kind;
    double rel; /* max |a - r| / max(max |r|, smallest normal of the dtype); NaN unless FINITE */
} ov_error;

typedef struct ov_result {
    ov_error value, grad;
} ov_result;

/* The number of input elements (one row of logits). */
#define OV_N_IN 4

/* Every measurement of a run: [dtype (0 f32, 1 f64)][op][form][magnitude]. */
#define OV_MAX_MAGS 32
typedef struct ov_table {
    int n_mags;
    double mag[OV_MAX_MAGS];
    ov_result r[2][OV_N_OPS][2][OV_MAX_MAGS];
} ov_table;

/* A short name ("softmax") and the formulas of both forms, for tables. */
const char *ov_op_name(ov_op op);
const char *ov_naive_formula(ov_op op);
const char *ov_library_formula(ov_op op);
/* Whether the library's form is meant to be exact (every op but OV_BCE_PROBS). */
bool ov_library_exact(ov_op op);

/* Measures one (op, form, dtype, magnitude). w (OV_N_IN numbers) weighs the outputs of the
 * vector-valued functions, whose gradient is that of sum_i w_i y_i; scalar-valued ones are
 * differentiated as they are. The tape is reset before and after. Returns TG_OK, or the tape's
 * error (a bug in the experiment, not an overflow: ops do not fail on inf or NaN). */
tg_status ov_measure(tg_tape *t, ov_op op, ov_form form, tg_dtype dtype, double magnitude,
                     const double *w, ov_result *out, tg_error *err);

#endif
