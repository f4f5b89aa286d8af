/* tapegrad/attention.h: attention and the transformer layers built on it.
 *
 * The ops: tg_causal_attention, scaled dot-product attention in which position i attends to
 * positions 0..i only, as one node (the scores never leave it); tg_attention, the same
 * composed from matmul, softmax and an optional additive mask (for masks of any shape);
 * tg_causal_mask, the (T, T) additive mask (0 on and below the diagonal, -inf above) that makes
 * tg_attention causal.
 *
 * The layers, with parameters named as PyTorch's state_dict keys:
 *   tg_mha                 nn.MultiheadAttention(E, H, batch_first=True): "<name>.in_proj_weight"
 *                          (3E, E), "<name>.in_proj_bias" (3E), "<name>.out_proj.weight" (E, E),
 *                          "<name>.out_proj.bias" (E); PyTorch's initialisation (xavier_uniform
 *                          for in_proj_weight, zero biases, out_proj.weight as a Linear's).
 *   tg_transformer_block   nn.TransformerEncoderLayer(E, H, F, dropout=0, activation="gelu",
 *                          batch_first=True, norm_first=True): a pre-norm block
 *                            x + self_attn(norm1(x)),  then  x + linear2(gelu(linear1(norm2(x))))
 *                          with keys "<name>.self_attn.*", "<name>.linear1.*", "<name>.linear2.*",
 *                          "<name>.norm1.*", "<name>.norm2.*".
 * Position embeddings are a tg_embedding (tapegrad/nn.h) over the positions 0..T-1 (GPT-2's
 * learned "wpe"), added to the token embeddings.
 *
 *     tg_transformer_block blk;     // width 128, 4 heads, MLP 512
 *     if (tg_transformer_block_init(&blk, s, "h.0", 128, 4, 512, TG_F32, &rng, &err) != TG_OK)
 *         fprintf(stderr, "%s\n", err.message);
 *     tg_tensor *y = tg_transformer_block_forward(t, &blk, x, true);  // x, y: (B, T, 128)
 */
#ifndef TAPEGRAD_ATTENTION_H
#define TAPEGRAD_ATTENTION_H

#include "tapegrad/nn.h"

#ifdef __cplusplus
extern "C" {
#endif

TG_PUBLIC_BEGIN

/* softmax(scale q k^T + causal mask) v for q, k, v of one shape (..., T, D), any leading axes
 * (batch, heads) and any strides (the heads of a packed projection are read in place) ->
 * (..., T, D), a new tape tensor. Row i of the softmax runs over keys 0..i. scale must be
 * finite (usually 1/sqrt(D)). Differentiable to any order. Errors: TG_ERR_SHAPE when the
 * shapes differ or have fewer than 2 axes, TG_ERR_ARG for a non-finite scale. */
tg_tensor *tg_causal_attention_at(tg_tape *t, const char *file, int line, tg_tensor *q,
                                  tg_tensor *k, tg_tensor *v, double scale);

/* softmax(scale q k^T + mask) v, composed of ops: q (..., Tq, D), k (..., Tk, D), v (..., Tk,
 * Dv) with broadcasting leading axes, mask NULL or broadcastable to (..., Tq, Tk), added to the
 * scores (-inf removes a key). -> (..., Tq, Dv). A row whose keys are all removed is NaN, as in
 * PyTorch. */
tg_tensor *tg_attention_at(tg_tape *t, const char *file, int line, tg_tensor *q, tg_tensor *k,
                           tg_tensor *v, tg_tensor *mask, double scale);

/* The (n, n) additive causal mask of dtype: 0 where column <= row, -inf above. A tape tensor
 * without gradient, owned by t until tg_tape_reset; n in [1, 2^20], else TG_ERR_ARG. */
tg_tensor *tg_causal_mask_at(tg_tape *t, const char *file, int line, tg_dtype dtype, int64_t n);

/* ---- multi-head self-attention ---- */
typedef struct tg_mha {
    tg_tensor *in_proj_weight; /* (3E, E): the q, k and v projections stacked */
    tg_tensor *in_proj_bias;   /* (3E), NULL without bias */
    tg_linear out_proj;        /* E -> E */
    int64_t embed_dim, n_heads;
} tg_mha;

/* embed_dim must divide by n_heads. */
tg_status tg_mha_init(tg_mha *m, tg_store *s, const char *name, int64_t embed_dim,
                      int64_t n_heads, bool bias, tg_dtype dtype, tg_rng *rng, tg_error *err);
/* Self-attention of x (B, T, E) -> (B, T, E): heads of width E / H, scale 1/sqrt(E / H); causal
 * (each position sees itself and the ones before) or, with causal false, over all positions. */
tg_tensor *tg_mha_forward_at(tg_tape *t, const char *file, int line, const tg_mha *m,
                             tg_tensor *x, bool causal);

/* ---- the pre-norm transformer block ---- */
typedef struct tg_transformer_block {
    tg_layernorm norm1, norm2; /* over E, eps 1e-5 */
    tg_mha self_attn;
    tg_linear linear1, linear2; /* E -> F, F -> E */
} tg_transformer_block;

tg_status tg_transformer_block_init(tg_transformer_block *b, tg_store *s, const char *name,
                                    int64_t embed_dim, int64_t n_heads, int64_t ff_dim,
                                    tg_dtype dtype, tg_rng *rng, tg_error *err);
/* x (B, T, E) -> (B, T, E). */
tg_tensor *tg_transformer_block_forward_at(tg_tape *t, const char *file, int line,
                                           const tg_transformer_block *b, tg_tensor *x,
                                           bool causal);

#define tg_causal_attention(t, ...) tg_causal_attention_at(t, TG_SITE_, __VA_ARGS__)
#define tg_attention(t, ...) tg_attention_at(t, TG_SITE_, __VA_ARGS__)
#define tg_causal_mask(t, ...) tg_causal_mask_at(t, TG_SITE_, __VA_ARGS__)
#define tg_mha_forward(t, ...) tg_mha_forward_at(t, TG_SITE_, __VA_ARGS__)
#define tg_transformer_block_forward(t, ...) tg_transformer_block_forward_at(t, TG_SITE_, __VA_ARGS__)

TG_PUBLIC_END

#ifdef __cplusplus
}
#endif
#endif
