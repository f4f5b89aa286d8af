/* tapegrad/prune.h: magnitude pruning of a store's weights, one-shot or gradual, with masks
 * that keep pruned weights at zero while the network is fine-tuned.
 *
 * A pruner covers some parameters of a store and keeps a mask for each, a store buffer named
 * "<param>_mask" (as PyTorch's torch.nn.utils.prune names it) of the parameter's shape, 1 where
 * the weight lives and 0 where it was pruned, so a checkpoint of the store keeps the masks and a
 * resumed run prunes on from where it was. Pruning sets masks by magnitude, per tensor or over
 * all covered tensors at once, and zeros the pruned weights and their optimiser state (every
 * store buffer named "<anything>/<param>" of the parameter's size: the optimisers' moments).
 * tg_pruner_mask_grads, called between the backward pass and the optimiser step, multiplies the
 * gradients by the masks, so no update ever moves a pruned weight: with zero gradients and zero
 * state, every optimiser of tapegrad/optim.h leaves a zero weight at zero (the weights are
 * never re-zeroed after a step). Masks only ever lose ones: a pruned weight stays pruned.
 *
 *     tg_tensor *ws[] = {fc1.weight, fc2.weight};
 *     tg_pruner *p = tg_pruner_new(store, 2, ws, &err);
 *     for (int64_t step = 0; step < n_steps; step++) {
 *         if (step % 100 == 0)   // 0 -> 90% along the cubic schedule over the first 80%
 *             tg_pruner_prune(p, tg_prune_cubic(0.0, 0.9, step, 0, n_steps * 8 / 10),
 *                             TG_PRUNE_GLOBAL, &err);
 *         tg_store_zero_grad(store);
 *         tg_tape_backward(tape, loss_of_batch(tape, step), NULL, 0);
 *         tg_pruner_mask_grads(p);
 *         tg_optim_step(opt, &err);
 *         tg_tape_reset(tape);
 *     }
 *     tg_pruner_free(p);   // the masks stay in the store
 */
#ifndef TAPEGRAD_PRUNE_H
#define TAPEGRAD_PRUNE_H

#include "tapegrad/tape.h"

#ifdef __cplusplus
extern "C" {
#endif

TG_PUBLIC_BEGIN

typedef struct tg_pruner tg_pruner; /* opaque */

typedef enum tg_prune_scope {
    TG_PRUNE_PER_TENSOR = 0, /* each tensor loses the same fraction of its weights */
    TG_PRUNE_GLOBAL          /* one magnitude threshold over all covered tensors */
} tg_prune_scope;

/* A pruner over the n parameters params (each a parameter of s), with their masks: the store's
 * buffers "<name>_mask" when they exist (a loaded checkpoint's), else new ones of all ones. Owned
 * by the caller (tg_pruner_free); the masks belong to the store. NULL with err set on a NULL, a
 * tensor that is not a parameter of s, an existing mask of another shape or dtype, or no
 * memory. Make the optimiser first, so that its state exists to be masked. */
tg_pruner *tg_pruner_new(tg_store *s, int n, tg_tensor *const *params, tg_error *err);
/* Frees the pruner, not the masks; NULL does nothing. */
void tg_pruner_free(tg_pruner *p);

/* Prunes until a fraction `sparsity` in [0, 1] of the covered weights is zero in the masks
 * (per tensor or overall), removing the smallest magnitudes first (weights already pruned count
 * as the smallest, ties go to the lower index), then zeros the pruned weights and their
 * optimiser state. A sparsity below what is already pruned changes nothing. TG_ERR_ARG for a
 * sparsity outside [0, 1] or NaN, TG_ERR_NOMEM (nothing changed) when memory runs out. */
tg_status tg_pruner_prune(tg_pruner *p, double sparsity, tg_prune_scope scope, tg_error *err);
/* Multiplies every covered parameter's gradient by its mask. */
void tg_pruner_mask_grads(tg_pruner *p);
/* The fraction of zeros in the masks: all of them (i < 0) or the i-th. NaN for a bad i. */
double tg_pruner_sparsity(const tg_pruner *p, int i);
/* The i-th mask (a store buffer), or NULL for a bad i. */
tg_tensor *tg_pruner_mask(const tg_pruner *p, int i);

/* The gradual schedule of Zhu and Gupta: from s_initial at step `begin` to s_final at step
 * `end`, s = s_final + (s_initial - s_final) (1 - (step - begin) / (end - begin))^3, held at
 * s_initial before and s_final after (and s_final when end <= begin). */
double tg_prune_cubic(double s_initial, double s_final, int64_t step, int64_t begin, int64_t end);

TG_PUBLIC_END

#ifdef __cplusplus
}
#endif

#endif
