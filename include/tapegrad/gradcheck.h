/* tapegrad/gradcheck.h: proves a function's gradients against central finite differences.
 *
 * The checker builds the function on a tape of its own, computes the full Jacobian of every
 * output with respect to every checked input twice: analytically, one reverse sweep per output
 * element, and numerically, (f(x + h e_i) - f(x - h e_i)) / 2h for every input element i. Each
 * entry passes when |analytic - numeric| <= atol + rtol * |numeric|; the report names the worst
 * entry. The second-order variant checks the gradients themselves: it treats the vector-Jacobian
 * product v -> v^T J(x), recorded with TG_CREATE_GRAPH, as a function of x and v and checks it.
 *
 *     static int square(tg_tape *t, tg_tensor *const *in, tg_tensor **out, void *ctx) {
 *         (void)ctx;
 *         out[0] = tg_mul(t, in[0], in[0]);
 *         return 1;
 *     }
 *     ...
 *     tg_gradcheck_report rep;
 *     tg_gradcheck(square, NULL, 1, &x, NULL, &rep);   // rep.ok, rep.max_abs_err, ...
 */
#ifndef TAPEGRAD_GRADCHECK_H
#define TAPEGRAD_GRADCHECK_H

#include "tapegrad/tape.h"

#ifdef __cplusplus
extern "C" {
#endif

TG_PUBLIC_BEGIN

/* The most inputs and outputs a checked function may have. */
#define TG_GRADCHECK_MAX_INPUTS 16
#define TG_GRADCHECK_MAX_OUTPUTS 8

/* The function under test. It receives fresh leaf tensors on tape `t` holding the inputs'
 * values (the same dtypes and shapes as given to the checker), writes its outputs to out[] and
 * returns how many it wrote (at least 1), or a value <= 0 after an error. It must compute the
 * same thing every time it is called. */
typedef int (*tg_gradcheck_fn)(tg_tape *t, tg_tensor *const *inputs, tg_tensor **out,
                               void *ctx);

typedef struct tg_gradcheck_options {
    double eps;  /* finite-difference step; 0 picks 1e-6 for f64, 1e-2 for f32 */
    double atol; /* 0 picks 1e-5 for f64, 1e-2 for f32 */
    double rtol; /* 0 picks 1e-3 for f64, 1e-2 for f32 */
    /* Bit i set: input i is checked (others are constants such as labels). 0 checks all. */
    unsigned check_mask;
} tg_gradcheck_options;

typedef struct tg_gradcheck_report {
    bool ok;               /* every entry within tolerance and no error */
    tg_status status;      /* TG_OK, or why the check could not run */
    int64_t n_checked;     /* Jacobian entries compared */
    /* The worst entry, by the ratio of its error to its tolerance: */
    int worst_input;       /* which input */
    int64_t worst_index;   /* flat row-major index in that input */
    int worst_output;      /* which output */
    int64_t worst_out_index; /* flat index in that output */
    double analytic, numeric;
    double abs_err, rel_err;
    char message[512];     /* a one-line summary, or the error */
} tg_gradcheck_report;

/* Checks first derivatives of fn at `inputs` (tensors anywhere: the checker only reads them).
 * opts may be NULL for the defaults of the inputs' dtype. Returns report->status. */
tg_status tg_gradcheck(tg_gradcheck_fn fn, void *ctx, int n_inputs, tg_tensor *const *inputs,
                       const tg_gradcheck_options *opts, tg_gradcheck_report *report);

/* Checks second derivatives: the gradients of fn's vector-Jacobian products, with respect to
 * the inputs and to the output weights v, which are drawn from a fixed seed. */
tg_status tg_gradgradcheck(tg_gradcheck_fn fn, void *ctx, int n_inputs,
                           tg_tensor *const *inputs, const tg_gradcheck_options *opts,
                           tg_gradcheck_report *report);

TG_PUBLIC_END

#ifdef __cplusplus
}
#endif
#endif
