/* tapegrad/custom_op.h: ops defined by user code, recorded on the tape like the built-in ones.
 *
 * A user who needs an op tapegrad lacks (a new activation, a fused kernel, a call into another
 * library) describes it once: a name, its number of inputs, a forward that computes the result
 * and a backward that turns the result's gradient into the inputs' gradients. tg_custom() then
 * records it as one node: the sweep calls its backward like any op's rule, the DOT export labels
 * it with its name, the registry lists it (tapegrad/registry.h) and tg_gradcheck /
 * tg_gradgradcheck prove it like any function.
 *
 * Two kinds of backward:
 *   - made of tapegrad ops (the default). Under TG_CREATE_GRAPH those ops are recorded, so the
 *     op can be differentiated twice, as the built-in ops are (CONTRIBUTING D3);
 *   - numeric (TG_CUSTOM_FIRST_ORDER): the backward may compute its gradients any way it likes,
 *     for example by writing into a tensor's data. Such gradients cannot be differentiated
 *     again; when a sweep with TG_CREATE_GRAPH uses one, the gradient is marked, and a later
 *     sweep that would differentiate through it fails with TG_ERR_NOGRAD naming the op instead
 *     of returning a wrong (zero) second derivative.
 *
 * Swish, y = x * sigmoid(x), with dy/dx = s + x s (1 - s) where s = sigmoid(x):
 *
 *     static tg_tensor *swish_fwd(tg_tape *t, tg_tensor *const *in, void *ctx) {
 *         (void)ctx;
 *         return tg_mul(t, in[0], tg_sigmoid(t, in[0]));
 *     }
 *     static void swish_bwd(tg_tape *t, tg_tensor *const *in, tg_tensor *y, tg_tensor *g,
 *                           tg_tensor **grads, void *ctx) {
 *         (void)y, (void)ctx;
 *         tg_tensor *s = tg_sigmoid(t, in[0]);
 *         tg_tensor *ds = tg_mul(t, s, tg_rsub_scalar(t, s, 1.0));       // s (1 - s)
 *         grads[0] = tg_mul(t, g, tg_add(t, s, tg_mul(t, in[0], ds)));
 *     }
 *     ...
 *     tg_custom_op_def def = {.name = "swish", .n_inputs = 1, .forward = swish_fwd,
 *                             .backward = swish_bwd, .flags = TG_CUSTOM_SMOOTH};
 *     tg_error err;
 *     tg_custom_op *swish = tg_custom_op_new(&def, &err);   // NULL, err.message on failure
 *     tg_tensor *y = tg_custom(t, swish, &x, 1);             // a node named "swish"
 *     ...
 *     tg_custom_op_free(swish);   // tapes that recorded it keep it until their reset
 */
#ifndef TAPEGRAD_CUSTOM_OP_H
#define TAPEGRAD_CUSTOM_OP_H

#include "tapegrad/tape.h"

#ifdef __cplusplus
extern "C" {
#endif

TG_PUBLIC_BEGIN

/* The most inputs a custom op may take. */
#define TG_CUSTOM_MAX_INPUTS 8
/* The longest name, terminating NUL included. */
#define TG_CUSTOM_NAME_MAX 48

typedef struct tg_custom_op tg_custom_op; /* opaque */

/* Computes the op's result from its inputs, on tape t, and returns it (owned by t). Runs with
 * recording off: ops called here record no nodes, the whole op being one node. The inputs
 * share one dtype; the result must have that dtype and the shape the op promises (see `shape`
 * below). Returns NULL after an error of its own ops, which stays the tape's error. */
typedef tg_tensor *(*tg_custom_forward_fn)(tg_tape *t, tg_tensor *const *inputs, void *ctx);

/* Given the inputs, the forward's result `out` and the gradient g of a loss with respect to it
 * (out's shape and dtype), sets grads[i] to the gradient with respect to inputs[i] (inputs[i]'s
 * shape and dtype), each made on t. grads[] arrives all NULL; an input for which
 * tg_tensor_requires_grad() is false may be skipped (what is set for it is ignored). Neither
 * inputs, out nor g may be written to. Without TG_CUSTOM_FIRST_ORDER the gradients must be
 * computed with tapegrad ops, which the sweep records when asked for second derivatives. */
typedef void (*tg_custom_backward_fn)(tg_tape *t, tg_tensor *const *inputs, tg_tensor *out,
                                      tg_tensor *g, tg_tensor **grads, void *ctx);

/* The result's shape for given inputs: writes *ndim and shape[0..*ndim-1] (at most TG_MAX_DIMS)
 * and returns true, or returns false to refuse the inputs (tg_custom then fails with
 * TG_ERR_SHAPE naming the op and the inputs' shapes). */
typedef bool (*tg_custom_shape_fn)(tg_tensor *const *inputs, int *ndim, int64_t *shape,
                                   void *ctx);

/* Flags of a custom op. */
enum {
    /* Twice differentiable wherever differentiable, as TG_OPF_SMOOTH for the built-in ops: what
     * tg_op_registry_smooth() reports. Not allowed together with TG_CUSTOM_FIRST_ORDER. */
    TG_CUSTOM_SMOOTH = 1u << 0,
    /* The backward computes numbers, not ops: first derivatives only (see above). */
    TG_CUSTOM_FIRST_ORDER = 1u << 1
};

typedef struct tg_custom_op_def {
    /* Unique among the registered ops, built-in or custom; letters, digits, '_', '.' and '-',
     * at most TG_CUSTOM_NAME_MAX - 1 of them. Copied. */
    const char *name;
    int n_inputs;                   /* 1 to TG_CUSTOM_MAX_INPUTS */
    tg_custom_forward_fn forward;   /* required */
    tg_custom_backward_fn backward; /* required */
    tg_custom_shape_fn shape;       /* NULL: the result has the shape of input 0 */
    unsigned flags;                 /* TG_CUSTOM_* */
    void *ctx;                      /* handed to every callback unchanged */
} tg_custom_op_def;

/* Checks def and registers the op under its name. Returns the op (owned by the caller, who
 * frees it with tg_custom_op_free), or NULL with *err (if not NULL) saying what was wrong: a
 * NULL def, name, forward or backward, an empty, too long or ill-formed name, a name already
 * registered, n_inputs out of range, unknown or contradictory flags (TG_ERR_NULL, TG_ERR_ARG),
 * or no memory (TG_ERR_NOMEM). Safe to call from several threads. */
tg_custom_op *tg_custom_op_new(const tg_custom_op_def *def, tg_error *err);

/* Unregisters the op and drops the caller's reference; NULL does nothing. A tape that recorded
 * a node of it keeps it alive until that tape is reset or freed, so its sweep still works;
 * only then is the memory freed. After this call tg_custom with the op is refused
 * (TG_ERR_ARG) and its name may be registered again. */
void tg_custom_op_free(tg_custom_op *op);

/* The op's name, owned by op; "" for NULL. */
const char *tg_custom_op_name(const tg_custom_op *op);

/* Runs op on inputs[0..n_inputs-1] and records one node of it when recording is on and an input
 * requires a gradient, like any built-in op. Returns the result (owned by t; valid until
 * tg_tape_reset), or NULL with the error kept on t: op NULL (TG_ERR_NULL), an op already freed
 * by tg_custom_op_free (TG_ERR_ARG), n_inputs not the op's count (TG_ERR_ARG), a NULL input (an earlier failure, whose error stays the first),
 * inputs of different dtypes (TG_ERR_DTYPE), inputs the shape rule refuses, or a forward that
 * returns NULL without an error, or a result of the wrong shape (TG_ERR_SHAPE) or dtype
 * (TG_ERR_DTYPE). Errors in the sweep: a backward that leaves a needed gradient NULL
 * (TG_ERR_NOGRAD) or gives one of the wrong shape or dtype (TG_ERR_SHAPE), each naming the op
 * and the input. */
tg_tensor *tg_custom_at(tg_tape *t, const char *file, int line, const tg_custom_op *op,
                        tg_tensor *const *inputs, int n_inputs);
#define tg_custom(t, ...) tg_custom_at(t, TG_SITE_, __VA_ARGS__)

TG_PUBLIC_END

#ifdef __cplusplus
}
#endif
#endif
