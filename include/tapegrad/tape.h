/* tapegrad/tape.h: the tape that records a step, the store that keeps parameters, and the
 * reverse sweep that turns a loss into gradients.
 *
 * Two lifetimes (CONTRIBUTING D2): a tg_store owns parameters, their gradients and any other
 * state that persists; a tg_tape owns everything one step computes and releases it all at once
 * in tg_tape_reset, keeping its memory so that the next step allocates nothing.
 *
 *     tg_store *s = tg_store_new();
 *     tg_tensor *w = tg_store_param(s, "w", TG_F64, TG_SHAPE(3));
 *     tg_tape *t = tg_tape_new();
 *     tg_tensor *loss = tg_sum_all(t, tg_mul(t, w, w));
 *     if (tg_tape_backward(t, loss, NULL, 0) != TG_OK) puts(tg_tape_error(t));
 *     // tg_tensor_grad(w) now holds 2w
 *     tg_tape_free(t);
 *     tg_store_free(s);
 */
#ifndef TAPEGRAD_TAPE_H
#define TAPEGRAD_TAPE_H

#include "tapegrad/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

TG_PUBLIC_BEGIN

typedef struct tg_store tg_store; /* opaque */

/* ---- the tape ---- */

/* A new, empty tape; NULL if memory runs out. Free with tg_tape_free. */
tg_tape *tg_tape_new(void);
/* Frees the tape and everything it owns. NULL is a no-op. */
void tg_tape_free(tg_tape *t);
/* Releases every tensor and node the tape owns in O(1) and keeps the memory for the next step.
 * Also clears the tape's error. Pointers to the tape's tensors are invalid afterwards.
 *
 * Stale tensors. A reset starts a new generation of the tape. Every op, tg_tape_backward and
 * tg_tape_grad refuse a tensor of an older generation with TG_ERR_STALE and an error naming the
 * op, before reading anything else of it. Store tensors never go stale, and a tensor of another
 * live tape is accepted while that tape has not been reset since it was made. What this catches
 * and what it cannot:
 *   - caught: a tensor kept from an earlier step of a loop that repeats its ops (the usual
 *     mistake), whether its memory now holds a newer tensor, a node or data. A reset also
 *     shifts where the next step starts in the arena, so a tensor from the last four resets of
 *     a repeating loop never shares its address with a live one;
 *   - not caught: a pointer that happens to equal a live tensor's address, which an irregular
 *     step (or a stale pointer kept over five or more resets) can produce: the library then
 *     sees a live tensor, and the value read is that tensor's. The chance that plain data at
 *     the old address passes the check is 1 in 2^64;
 *   - not caught at all: reading a stale tensor through the calls that take no tape
 *     (tg_tensor_data, tg_tensor_get, tg_tensor_copy_out, tg_tensor_set_requires_grad, ...);
 *     check it first with tg_tape_check_tensor.
 * The check reads the stale tensor's header, so that memory must still be the tape's. A reset
 * keeps the arena's memory, except that the first reset after a step that outgrew it replaces
 * it with one larger block; the old blocks are freed only five resets later. So a tensor kept
 * over at most five resets is always checked safely; one kept longer across such a reset, or
 * any tensor of a tape since freed (tg_tape_free), makes even the check read freed memory
 * (a crash, or AddressSanitizer's report), which the library cannot detect. */
void tg_tape_reset(tg_tape *t);
/* TG_OK if x may be used with tape t: made on t since its last reset, a store tensor, or made
 * on another live tape since that tape's last reset. TG_ERR_STALE otherwise, TG_ERR_NULL for
 * NULL. The same test every op applies to its inputs; it sets no error on the tape. */
tg_status tg_tape_check_tensor(const tg_tape *t, const tg_tensor *x);

/* The first error since the last reset or clear (sticky), TG_OK if none. */
tg_status tg_tape_status(const tg_tape *t);
/* The first error's message: op, shapes and call site. "" when there is none; owned by the
 * tape, valid until the next reset or clear. */
const char *tg_tape_error(const tg_tape *t);
/* Forgets the error so that a caller who handled it can go on. */
void tg_tape_clear_error(tg_tape *t);

/* Turns recording on or off and returns the previous setting. With recording off (no-grad
 * mode) ops compute their results but record no nodes, and nothing requires a gradient. */
bool tg_tape_set_grad_enabled(tg_tape *t, bool enabled);
bool tg_tape_grad_enabled(const tg_tape *t);

/* Anomaly mode: turns it on or off and returns the previous setting (off for a new tape; a
 * reset keeps it). While on, every op's result in the forward pass and every gradient of a
 * sweep is scanned for NaN and infinities, and the first one found becomes the tape's error,
 * TG_ERR_NONFINITE, with a message that says "anomaly in forward" or "anomaly in backward",
 * names the op, its inputs' shapes, and ends with the forward call's file:line and scope (in a
 * sweep, those of the node whose rule is checked). The op that finds it in the forward pass
 * returns NULL; a sweep stops there.
 *
 * Who is blamed: the op that MADE the value, not the ones that passed it on. A forward result
 * holding NaN/Inf is an anomaly only when all of the op's inputs are finite (log of a negative,
 * exp overflowing, 0/0); an op whose input was already non-finite is not blamed, so the error
 * names the first op that produced a non-finite value from finite inputs. An input leaf (data,
 * a parameter) holding NaN is reported, by name, at the first op whose result it makes
 * non-finite, since no op made it (a leaf passed through views first, as a data batch reshaped
 * before its matmul, is reported at the first view); an infinite leaf is allowed (a mask of
 * -inf), and so is an op whose fill or constant is infinite (tg_pad with -INFINITY,
 * tg_add_scalar(x, -INFINITY)): such an op is blamed only for NaN it makes. In a sweep, a
 * backward rule is handed a finite gradient (each was checked when made), so a non-finite
 * gradient it returns is blamed on that op (sqrt at 0 gives an infinite gradient), with the
 * forward call's site; the sums the sweep forms itself and each parameter's accumulated gradient
 * are checked too.
 *
 * PyTorch's detect_anomaly differs: it checks only backward results, only for NaN, and blames
 * the first backward function (newest op first) that returns NaN even when NaN came in.
 *
 * Off, it costs one branch per recorded op and per visited node. On, every result is read once
 * more (and an op's inputs when its result is not finite): a debugging mode. For a NULL t,
 * tg_tape_set_anomaly does nothing and returns false, and tg_tape_anomaly returns false. */
bool tg_tape_set_anomaly(tg_tape *t, bool on);
bool tg_tape_anomaly(const tg_tape *t);

/* Number of nodes recorded since the last reset. */
int64_t tg_tape_n_nodes(const tg_tape *t);
/* Bytes of arena in use, and bytes the arena holds (in use or kept for reuse). Right after a
 * reset the first is at most 256: the offset at which the step starts (see tg_tape_reset). */
size_t tg_tape_bytes_used(const tg_tape *t);
size_t tg_tape_bytes_reserved(const tg_tape *t);

/* ---- scopes: names for parts of the graph ---- */

/* Scopes name the part of a model an op belongs to ("encoder", "block1/attn"): every node
 * recorded while a scope is in force remembers it, backward rules run under their forward
 * node's scope, error messages end with "in scope block1/attn", and the DOT export draws each
 * scope as a cluster (tapegrad/dot.h).
 *
 *     tg_tape_push_scope(t, "layer1");
 *     h = tg_relu(t, tg_linear_forward(t, &layer1, x));
 *     tg_tape_pop_scope(t);
 *
 * Pushes nest: pushing "attn" inside "block1" gives the scope "block1/attn". `name` is copied
 * (the caller's string may go away) and must be non-empty; it may itself hold '/'. Errors (a
 * NULL or empty name, nesting deeper than TG_SCOPE_MAX_DEPTH, a path longer than
 * TG_SCOPE_PATH_MAX - 1 bytes, no memory) are kept as the tape's sticky error; the push still
 * counts, so the matching pop stays balanced, and the scope in force is unchanged. Scopes open
 * at tg_tape_reset stay open. For a NULL t, push and pop do nothing. */
#define TG_SCOPE_MAX_DEPTH 32
#define TG_SCOPE_PATH_MAX 256
void tg_tape_push_scope(tg_tape *t, const char *name);
/* Ends the innermost scope. A pop with no scope open is a TG_ERR_ARG error on the tape, and
 * changes nothing. */
void tg_tape_pop_scope(tg_tape *t);
/* The full path of the scope in force ("block1/attn"), "" at top level or for a NULL t. Owned
 * by the tape; valid until the next push, pop, reset or free. */
const char *tg_tape_scope(const tg_tape *t);
/* How many scopes are open (pushes not yet popped); 0 for a NULL t. */
int tg_tape_scope_depth(const tg_tape *t);

/* ---- the reverse sweep ---- */

/* Flags for tg_tape_backward and tg_tape_grad. */
enum {
    /* Keep the graph's saved state so that backward may run over it again. Without it, the
     * nodes a sweep visits are released, and a later sweep through them fails with
     * TG_ERR_RELEASED instead of returning a wrong answer. */
    TG_RETAIN_GRAPH = 1u << 0,
    /* Record the backward pass itself, so that the gradients it produces can be differentiated
     * again (second derivatives). Implies TG_RETAIN_GRAPH. */
    TG_CREATE_GRAPH = 1u << 1
};

/* Back-propagates from `out`. With grad_out NULL, `out` must have one element and its gradient
 * is 1; otherwise grad_out has out's shape and dtype. Every leaf that requires a gradient, on
 * this tape or a parameter in a store, gets the gradient added to what it holds (gradients
 * accumulate until zeroed, as in PyTorch); every intermediate tensor on the path holds its
 * gradient of this sweep. Only nodes on a path from a gradient-requiring leaf to `out` are
 * visited. Returns TG_OK or the error, which is also kept on the tape. */
tg_status tg_tape_backward(tg_tape *t, tg_tensor *out, tg_tensor *grad_out, unsigned flags);

/* Called by tg_tape_backward once for each parameter (a store tensor made by tg_store_param)
 * as soon as this sweep's whole gradient has been added to the parameter's .grad: when the
 * sweep has passed the oldest node that uses it, while older nodes still wait for their rules.
 * Parameters the sweep gives no gradient are not reported. Data-parallel training starts
 * sending a gradient here while the rest of the sweep computes. A status other than TG_OK stops
 * the sweep with that status and an error naming the parameter. */
typedef tg_status (*tg_grad_hook)(void *ctx, tg_tensor *param);
/* Installs fn (NULL removes it) with ctx, which must outlive its use; kept across resets. Without
 * a hook, parameters receive their gradients after the whole sweep, as before; with one, each
 * receives it at its last use, which gives the same values in the same order per parameter. */
void tg_tape_set_grad_hook(tg_tape *t, tg_grad_hook fn, void *ctx);

/* Called by tg_tape_backward after each node the sweep ran a backward rule for (and after the
 * deposits that node made final), with the sweep's count of such nodes so far. A sweep spends
 * most of its time in a few large rules; this is where work that must be moved on by the
 * caller while the sweep computes (data-parallel training's messages) gets its chances. A
 * status other than TG_OK stops the sweep with that status. Installed and kept like the
 * gradient hook; NULL removes it. Sweeps of tg_tape_grad do not call it. */
typedef tg_status (*tg_node_hook)(void *ctx, int64_t visited);
void tg_tape_set_node_hook(tg_tape *t, tg_node_hook fn, void *ctx);

/* Computes d(out)/d(inputs[i]) (weighted by grad_out as above) into grads[i] without touching
 * any tensor's accumulated gradient. grads[i] is owned by the tape; it is a zero tensor when
 * out does not depend on inputs[i]. With TG_CREATE_GRAPH the grads are recorded and can be
 * differentiated again. */
tg_status tg_tape_grad(tg_tape *t, tg_tensor *out, tg_tensor *grad_out, int n_inputs,
                       tg_tensor *const *inputs, tg_tensor **grads, unsigned flags);

/* ---- the store of persistent tensors ---- */

/* A new, empty store; NULL if memory runs out. Free with tg_store_free. */
tg_store *tg_store_new(void);
/* Frees the store and every tensor in it. NULL is a no-op. */
void tg_store_free(tg_store *s);
/* The first error met by the store, TG_OK if none, and its message ("" if none). */
tg_status tg_store_status(const tg_store *s);
const char *tg_store_error(const tg_store *s);

/* A new parameter: zero-filled, requiring a gradient, with a zero gradient of the same shape.
 * `name` is copied and must be unique in the store. Owned by the store; NULL on error. */
tg_tensor *tg_store_param(tg_store *s, const char *name, tg_dtype dtype, int ndim,
                          const int64_t *shape);
/* A new persistent tensor that takes no gradient (running statistics, optimizer state). */
tg_tensor *tg_store_buffer(tg_store *s, const char *name, tg_dtype dtype, int ndim,
                           const int64_t *shape);
/* Parameters in creation order: count, i-th (NULL out of range), and by name (NULL if none). */
int tg_store_n_params(const tg_store *s);
tg_tensor *tg_store_get_param(const tg_store *s, int i);
tg_tensor *tg_store_find(const tg_store *s, const char *name);
/* Every tensor of the store, parameters and buffers alike, in creation order: count, and i-th
 * (NULL out of range). Checkpoints save and load through these. */
int tg_store_n_tensors(const tg_store *s);
tg_tensor *tg_store_get_tensor(const tg_store *s, int i);
/* Total number of parameter elements. */
int64_t tg_store_n_param_elements(const tg_store *s);
/* Sets every parameter's gradient to zero. The zeros are written lazily: the next backward
 * pass's deposit writes the gradient instead of adding it, and tg_tensor_grad fills a gradient
 * no pass reached before returning it. So read gradients through tg_tensor_grad after this
 * call, not through a data pointer kept from before it, grouped gradients
 * (tg_store_group_grads) too. */
void tg_store_zero_grad(tg_store *s);
/* Moves the gradients of the n parameters params[0..n) of s into one block of the store's
 * memory, one after another in that order, keeping their values: afterwards
 * tg_tensor_data(tg_tensor_grad(params[i + 1])) starts where params[i]'s gradient ends, so a
 * communication library can send or reduce them all as one buffer, in place, with no copies in
 * or out (tapegrad/dist.h does). Every gradient is otherwise used as before; in particular
 * tg_store_zero_grad defers its zeros, so before reading the block raw call tg_tensor_grad on
 * each of its parameters, which writes the zeros of any that no sweep has reached since. All must be
 * distinct parameters of s with one dtype. The block lives as long as the store; the memory the
 * gradients used before is not reused (the store frees everything at once). TG_ERR_NULL,
 * TG_ERR_ARG naming the offending parameter (nothing moved), or TG_ERR_NOMEM. */
tg_status tg_store_group_grads(tg_store *s, int n, tg_tensor *const *params, tg_error *err);
/* The same, into the caller's block (suitably aligned for the dtype, large enough for all n
 * gradients), for memory the store cannot allocate, such as a segment shared with other
 * processes (tapegrad/dist.h's TG_DIST_ALGO_SHARED). The store never frees the block: before the
 * block goes away, group the gradients again with tg_store_group_grads, which moves them back
 * into the store's memory. TG_ERR_NULL for a NULL block, else as tg_store_group_grads. */
tg_status tg_store_group_grads_at(tg_store *s, int n, tg_tensor *const *params, void *block,
                                  tg_error *err);
/* The same for the parameters' own data: afterwards the n parameters' values lie one after
 * another in one block, in the store's memory or (_at) in the caller's, values kept. Data-parallel
 * training over shared memory (tapegrad/dist.h, TG_DIST_SHARD_ON) places the parameters of every
 * rank in one segment so that a rank's update is every rank's. Move a parameter only while no
 * recorded tape refers to it (between steps): an op recorded before reads the old memory. */
tg_status tg_store_group_params(tg_store *s, int n, tg_tensor *const *params, tg_error *err);
tg_status tg_store_group_params_at(tg_store *s, int n, tg_tensor *const *params, void *block,
                                   tg_error *err);

TG_PUBLIC_END

#ifdef __cplusplus
}
#endif
#endif
