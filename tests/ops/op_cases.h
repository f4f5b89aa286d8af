/* op_cases.h: the table of gradient-proof cases, one or more per registered op, each a small
 * function built from ops (often on views: transposes, strided slices, broadcasting) plus the
 * shapes and sampling domains of its inputs.
 *
 * Invariant: the table (op_cases.c and the op_cases_*.c families it appends) uses only the
 * public API (tapegrad.h), so a tool in tools/ can compile those files as they are;
 * tests/ops/test_registry.c checks that every registered op has cases and that each case really
 * records the op it claims to prove. */
#ifndef TG_TEST_OP_CASES_H
#define TG_TEST_OP_CASES_H

#include <tapegrad.h>

#define OP_CASE_MAX_INPUTS 4
/* Inputs stay small so that full Jacobians (and second-order ones) are cheap to check. */
#define OP_CASE_MAX_NUMEL 64

/* How an input's values are drawn. Values are drawn in double and rounded to the case's dtype,
 * so the f32 and f64 runs of a case with the same seed see the same numbers. */
typedef enum op_case_domain {
    OP_CASE_UNIFORM,       /* uniform on [lo, hi) */
    OP_CASE_AWAY_FROM_ZERO /* |x| uniform on [lo, hi), sign random: keeps finite differences
                              off kinks at 0 (relu, step) and away from poles (1/x) */
} op_case_domain;

typedef struct op_case_input {
    int ndim;
    int64_t shape[TG_MAX_DIMS];
    op_case_domain domain;
    double lo, hi;
} op_case_input;

enum {
    /* Skip tg_gradgradcheck for this case (the op is not twice differentiable where sampled,
     * or the second-order check would be too large). */
    OP_CASE_FIRST_ORDER_ONLY = 1u << 0,
    /* Skip the f32 run (the case's values do not survive single precision). */
    OP_CASE_F64_ONLY = 1u << 1
};

typedef struct op_case {
    const char *op;    /* the registered op it proves: its descriptor name ("add", "slice") */
    const char *label; /* what is special about it ("broadcast (2,3)+(3,)") */
    int n_inputs;
    op_case_input in[OP_CASE_MAX_INPUTS];
    tg_gradcheck_fn fn; /* builds the op from the inputs; see tapegrad/gradcheck.h */
    void *ctx;          /* passed to fn: the case's parameters (axes, view kinds, ...) */
    unsigned flags;     /* OP_CASE_* */
} op_case;

/* The number of cases and the i-th (NULL out of range), over op_cases.c's table and then each
 * family's below. The tables are static: pointers stay valid for the life of the program. */
int op_case_count(void);
const op_case *op_case_at(int i);

/* Families kept in files of their own, appended after op_cases.c's cases in this order:
 * op_cases_shape.c (concat, stack, pad, index_select, index_add, embedding, linear);
 * op_cases_elementwise.c (pow, maximum/minimum, comparisons, where, scalar forms, one-input
 * functions and activations, max/min/var/logsumexp, softmax, losses, dropout);
 * op_cases_conv.c (conv2d and its gradient ops, max and average pooling and their adjoints);
 * op_cases_norm.c (batch_norm and layer_norm, composites filed under ops they record);
 * op_cases_attention.c (causal_attention, and tg_attention filed under softmax);
 * op_cases_basic.c (cast, detach, squeeze, unsqueeze, select, and split and chunk);
 * op_cases_sparse.c (spmm, spmm_t, sddmm on one fixed pattern);
 * op_cases_binary.c (binmm, binmm_t, binxnor on one fixed packed matrix). */
extern const op_case op_cases_shape[];
extern const int op_cases_shape_count;
extern const op_case op_cases_elementwise[];
extern const int op_cases_elementwise_count;
extern const op_case op_cases_conv[];
extern const int op_cases_conv_count;
extern const op_case op_cases_norm[];
extern const int op_cases_norm_count;
extern const op_case op_cases_attention[];
extern const int op_cases_attention_count;
extern const op_case op_cases_basic[];
extern const int op_cases_basic_count;
extern const op_case op_cases_sparse[];
extern const int op_cases_sparse_count;
extern const op_case op_cases_binary[];
extern const int op_cases_binary_count;

/* Makes the case's inputs on tape `t` in `dtype`, drawing their values from `rng`, into
 * inputs[0 .. c->n_inputs). The tensors are owned by t and do not require gradients (the
 * checkers make their own leaves). Returns c->n_inputs, or -1 when an argument is NULL, an
 * input has more than OP_CASE_MAX_NUMEL elements, or t fails (its error says why). */
int op_case_make_inputs(const op_case *c, tg_tape *t, tg_dtype dtype, tg_rng *rng,
                        tg_tensor **inputs);

/* A seed for case i, so that every user of the table draws the same inputs for it. */
uint64_t op_case_seed(int i);

/* Whether running case c records at least one node of the registered op named `op_name`: the
 * case is run once in f64 on a fresh tape with every input requiring a gradient, and the nodes
 * are read back through the public DOT export (tapegrad/dot.h). Returns 1 or 0, or -1 when the
 * case could not be run (an error in the case, or no temporary file for the DOT text). */
int op_case_records(const op_case *c, const char *op_name);

/* The same for many names at once, with one run of the case: recorded[k] tells whether a node
 * of op names[k] was recorded. Returns 0, or -1 (recorded untouched) if the case cannot run. */
int op_case_records_each(const op_case *c, int n_names, const char *const *names,
                         bool *recorded);

#endif
