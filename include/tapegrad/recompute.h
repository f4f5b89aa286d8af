/* tapegrad/recompute.h: recomputation (gradient checkpointing): a segment of the forward pass
 * whose intermediates are not kept on the tape but made again during the reverse sweep, trading
 * time for memory.
 *
 * The segment is a function of input tensors, as for tg_gradcheck. tg_recompute runs it on a
 * scratch tape that belongs to t, copies its outputs onto t, records one node per output and
 * forgets the rest. When the sweep reaches those nodes it runs the function again on the scratch
 * tape, sweeps it back from the outputs' gradients and forgets it again, so at most one
 * segment's intermediates exist at a time. Gradients are the same, bit for bit, as without the
 * segment: every parameter and input receives its contributions in the order a plain sweep
 * would add them.
 *
 *     static int block(tg_tape *t, tg_tensor *const *in, tg_tensor **out, void *ctx) {
 *         const tg_linear *fc = ctx;
 *         out[0] = tg_relu(t, tg_linear_forward(t, fc, in[0]));
 *         return 1;
 *     }
 *     ...
 *     tg_tensor *h;
 *     if (tg_recompute(t, block, &fc, 1, &x, &h, 1, NULL, 0) < 0) puts(tg_tape_error(t));
 *
 * The function must compute the same thing when run again: the same ops on the same inputs.
 * Random ops inside it draw from generators it is given through ctx; pass those generators in
 * `rngs`, and each is put back to its state at the segment's start while the segment is
 * replayed (and then returned to where it was), so dropout draws the same masks. Other state the
 * function reads (a global, a counter) must not change between the forward pass and the sweep.
 *
 * What is refused, with the error on t: a segment inside a segment; a segment under
 * TG_CREATE_GRAPH (a second-order sweep through a segment: its gradient would be recorded on a
 * tape that is forgotten, so it is refused rather than wrong); a function that fails, returns no
 * output or more than max_outputs, or gives outputs of other shapes or types when replayed.
 * With recording off (tg_tape_set_grad_enabled(t, false)) the function simply runs on t.
 */
#ifndef TAPEGRAD_RECOMPUTE_H
#define TAPEGRAD_RECOMPUTE_H

#include "tapegrad/rng.h"
#include "tapegrad/tape.h"

#ifdef __cplusplus
extern "C" {
#endif

TG_PUBLIC_BEGIN

/* The most inputs, outputs and generators a segment may have. */
#define TG_RECOMPUTE_MAX_INPUTS 16
#define TG_RECOMPUTE_MAX_OUTPUTS 8
#define TG_RECOMPUTE_MAX_RNGS 4

/* A segment: computes out[0..k) from in[0..n_inputs) with ops on t and returns k (>= 1), or
 * -1 after an error (left on t). It may read parameters and other tensors through ctx. */
typedef int (*tg_segment_fn)(tg_tape *t, tg_tensor *const *in, tg_tensor **out, void *ctx);

/* Runs fn(ctx) on inputs[0..n_inputs) as a recomputed segment (see above) and stores its outputs
 * in outputs[0..k): tensors on t, valid until tg_tape_reset, each recorded as an output of the
 * segment. Returns k, or -1 with the error kept on t (outputs untouched). rngs[0..n_rngs) are
 * the generators fn draws from (NULL when n_rngs is 0); they are read and, during the sweep,
 * rewound and restored, never kept. fn and ctx must stay valid until the sweep is done. */
int tg_recompute_at(tg_tape *t, const char *file, int line, tg_segment_fn fn, void *ctx,
                    int n_inputs, tg_tensor *const *inputs, tg_tensor **outputs, int max_outputs,
                    tg_rng *const *rngs, int n_rngs);
#define tg_recompute(t, ...) tg_recompute_at(t, TG_SITE_, __VA_ARGS__)

/* The tape's peak memory, which recomputation lowers: the most bytes t's arena has held since t
 * was made, plus the most the scratch tape of its segments has held (the sum of the two peaks,
 * so never less than the true peak of both together). 0 for NULL. */
size_t tg_tape_bytes_peak(const tg_tape *t);

TG_PUBLIC_END

#ifdef __cplusplus
}
#endif
#endif
