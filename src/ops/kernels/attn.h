/* attn.h: the fused causal-attention kernels behind the causal_attention op, one (batch, head)
 * item at a time: s = scale q k^T over the causal triangle, its row softmax p, y = p v, and
 * the backward from p: dv = p^T g, ds = scale p (g v^T - rowsum(p (g v^T))), dq = ds k,
 * dk = ds^T q. The scores never leave one thread's scratch block except as p, which the op
 * keeps on its tape for the backward.
 *
 * Layout of p: each item's (tp, tp) block, tp = kern_attn_padded(T) (T rounded up to 16, the
 * same at every CPU level, so a backward may run at another level than its forward). Row i
 * holds p_i0 .. p_ii and zeros after them; rows T .. tp - 1 are zero.
 *
 * Operands are read in place through their row and column strides (in elements); the results
 * y, dq, dk, dv are written with contiguous columns and their own row stride. Items are shared
 * between the pool's threads. f32 runs the AVX-512, AVX2 or NEON kernel of the level in effect
 * or the portable one; f64 always the portable one (the same template on scalars). */
#ifndef TG_KERN_ATTN_H
#define TG_KERN_ATTN_H

#include <stdbool.h>
#include <stdint.h>

#include "tapegrad/runtime.h"

/* One call's operands: T rows of D columns per item, n_items items; *o[b] is item b's element
 * offset in its buffer. Unwanted gradients are NULL (their offsets unused). */
typedef struct kern_attn {
    int64_t n_t, D, n_items; /* n_t: rows (T) */
    double scale;
    const void *q, *k, *v, *g;        /* g: the output's gradient (backward only) */
    const int64_t *qo, *ko, *vo, *go;
    int64_t q_rs, q_cs, k_rs, k_cs, v_rs, v_cs, g_rs, g_cs;
    void *p;                          /* n_items blocks of (tp, tp) probabilities */
    void *y;                          /* forward output */
    const int64_t *yo;
    int64_t y_rs;
    void *dq, *dk, *dv;
    const int64_t *dqo, *dko, *dvo;
    int64_t dq_rs, dk_rs, dv_rs;
} kern_attn;

/* The padded row length of p for T rows (inline: the level files use it too, and calling into
 * the driver from them would make the two depend on each other). */
static inline int64_t kern_attn_padded(int64_t T) { return (T + 15) / 16 * 16; }

/* The forward (y and p) and the backward (those of dq, dk, dv that are not NULL, from p and
 * g). False only when a thread's scratch block (a few tp x D and one tp x tp array) could not
 * be allocated; the results are then incomplete. */
bool kern_attn_forward(tg_dtype dtype, const kern_attn *j);
bool kern_attn_backward(tg_dtype dtype, const kern_attn *j);

/* Each level's kernels (attn_avx512.c, attn_avx2.c, attn_neon.c, and the portable ones in
 * attn.c), for the driver: one item's forward or backward in a scratch block of
 * scratch_elems(T, D) elements. */
typedef struct kern_attn_level {
    int64_t (*scratch_elems)(int64_t T, int64_t D);
    void (*forward_item)(const kern_attn *j, int64_t b, void *scratch);
    void (*backward_item)(const kern_attn *j, int64_t b, void *scratch);
} kern_attn_level;
extern const kern_attn_level kern_attn_avx512_f32, kern_attn_avx2_f32, kern_attn_neon_f32,
    kern_attn_portable_f32, kern_attn_portable_f64;

#endif
