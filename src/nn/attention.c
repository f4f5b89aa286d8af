/* attention.c: the multi-head self-attention layer and the pre-norm transformer block, made of
 * ops (the causal_attention node does the heads' attention), with PyTorch's parameter names and
 * initialisation (tapegrad/attention.h).
 *
 * Heads are never copied apart: q, k and v are each projected by their third of the packed
 * in_proj_weight (a slice, so the parameter stays PyTorch's), viewed as (B, T, H, D) and
 * permuted to (B, H, T, D), which the attention op reads through their strides. The op writes
 * its output and the gradients of q, k, v in the same (B, T, H, D) order, so merging the heads
 * afterwards and the projections' gradients are views too. Projecting the three apart, rather
 * than once to (B, T, 3E) and slicing, spares the sweep three gradients of the packed size
 * (each a slice of it embedded in zeros) and their sum. */
#include <math.h>
#include <string.h>

#include "nn_util.h"
#include "tapegrad/attention.h"

tg_status tg_mha_init(tg_mha *m, tg_store *s, const char *name, int64_t embed_dim,
                      int64_t n_heads, bool bias, tg_dtype dtype, tg_rng *rng, tg_error *err) {
    static const char *const suffixes[] = {"in_proj_weight", "in_proj_bias", "out_proj"};
    nn_maker mk;
    nn_begin(&mk, "mha", s, name, dtype, true, rng, bias ? 3 : 2,
             bias ? suffixes : (const char *const[]){suffixes[0], suffixes[2]}, err);
    if (!m)
        nn_fail(&mk, TG_ERR_NULL, "the layer is NULL");
    else
        memset(m, 0, sizeof *m);
    nn_positive(&mk, "embed_dim", embed_dim);
    nn_positive(&mk, "n_heads", n_heads);
    if (mk.status == TG_OK && embed_dim % n_heads != 0)
        nn_fail(&mk, TG_ERR_ARG, "embed_dim %lld does not divide by n_heads %lld",
                (long long)embed_dim, (long long)n_heads);
    if (mk.status != TG_OK) return mk.status;
    /* As PyTorch: out_proj is made (and drawn) first, as a Linear; then in_proj_weight is
     * xavier_uniform and both biases are zero. */
    tg_linear out;
    tg_status st = tg_linear_init(&out, s, mk.full[bias ? 2 : 1], embed_dim, embed_dim, bias,
                                  dtype, rng, err);
    if (st != TG_OK) return st;
    tg_tensor *w = nn_tensor(&mk, 0, false, TG_SHAPE(3 * embed_dim, embed_dim));
    tg_tensor *b = bias ? nn_tensor(&mk, 1, false, TG_SHAPE(3 * embed_dim)) : NULL;
    if (mk.status != TG_OK) return nn_finish(&mk, mk.status);
    st = tg_init_xavier_uniform(w, rng, 1.0, err);
    if (st == TG_OK && out.bias) tg_tensor_fill(out.bias, 0.0);
    if (st != TG_OK) return nn_finish(&mk, st);
    *m = (tg_mha){.in_proj_weight = w,
                  .in_proj_bias = b,
                  .out_proj = out,
                  .embed_dim = embed_dim,
                  .n_heads = n_heads};
    return TG_OK;
}

tg_tensor *tg_mha_forward_at(tg_tape *t, const char *file, int line, const tg_mha *m,
                             tg_tensor *x, bool causal) {
    if (!nn_enter(t, file, line, "mha", m, m && m->in_proj_weight, x)) return NULL;
    int64_t E = m->embed_dim, H = m->n_heads, D = E / H;
    if (x->ndim != 3 || x->shape[2] != E) {
        char xs[TG_SHAPE_STR_MAX], nm[TG_NAME_MAX];
        return tg_fail(t, TG_ERR_SHAPE, "mha '%s' (width %lld, %lld heads): x %s must be (B, T, %lld)",
                       nn_layer_name(m->in_proj_weight, nm, sizeof nm), (long long)E,
                       (long long)H, tg_shape_str(x, xs, sizeof xs), (long long)E);
    }
    int64_t B = x->shape[0], T = x->shape[1];
    tg_tensor *qkv[3];
    for (int i = 0; i < 3; i++) {
        tg_tensor *w = tg_slice(t, m->in_proj_weight, 0, i * E, (i + 1) * E, 1);
        tg_tensor *b = m->in_proj_bias ? tg_slice(t, m->in_proj_bias, 0, i * E, (i + 1) * E, 1)
                                       : NULL;
        qkv[i] = tg_permute(t, tg_reshape(t, tg_linear(t, x, w, b), TG_SHAPE(B, T, H, D)),
                            (const int[]){0, 2, 1, 3}); /* (B, H, T, D) */
    }
    double scale = 1.0 / sqrt((double)D);
    tg_tensor *a = causal ? tg_causal_attention(t, qkv[0], qkv[1], qkv[2], scale)
                          : tg_attention(t, qkv[0], qkv[1], qkv[2], NULL, scale);
    a = tg_reshape(t, tg_permute(t, a, (const int[]){0, 2, 1, 3}), TG_SHAPE(B, T, E));
    return tg_linear_forward(t, &m->out_proj, a);
}

tg_status tg_transformer_block_init(tg_transformer_block *b, tg_store *s, const char *name,
                                    int64_t embed_dim, int64_t n_heads, int64_t ff_dim,
                                    tg_dtype dtype, tg_rng *rng, tg_error *err) {
    static const char *const suffixes[] = {"self_attn", "linear1", "linear2", "norm1"};
    nn_maker mk;
    nn_begin(&mk, "transformer_block", s, name, dtype, true, rng, 4, suffixes, err);
    if (!b)
        nn_fail(&mk, TG_ERR_NULL, "the layer is NULL");
    else
        memset(b, 0, sizeof *b);
    nn_positive(&mk, "ff_dim", ff_dim);
    if (mk.status != TG_OK) return mk.status;
    char norm2[TG_NAME_MAX];
    snprintf(norm2, sizeof norm2, "%s%snorm2", name, name[0] ? "." : "");
    /* PyTorch's order of creation: self_attn, linear1, linear2, then the norms. */
    tg_status st = tg_mha_init(&b->self_attn, s, mk.full[0], embed_dim, n_heads, true, dtype, rng, err);
    if (st == TG_OK)
        st = tg_linear_init(&b->linear1, s, mk.full[1], embed_dim, ff_dim, true, dtype, rng, err);
    if (st == TG_OK)
        st = tg_linear_init(&b->linear2, s, mk.full[2], ff_dim, embed_dim, true, dtype, rng, err);
    if (st == TG_OK)
        st = tg_layernorm_init(&b->norm1, s, mk.full[3], TG_SHAPE(embed_dim), 1e-5, true,
                               dtype, err);
    if (st == TG_OK)
        st = tg_layernorm_init(&b->norm2, s, norm2, TG_SHAPE(embed_dim), 1e-5, true, dtype,
                               err);
    if (st != TG_OK) memset(b, 0, sizeof *b);
    return nn_finish(&mk, st); /* a clash found by a sublayer takes back the earlier ones */
}

tg_tensor *tg_transformer_block_forward_at(tg_tape *t, const char *file, int line,
                                           const tg_transformer_block *b, tg_tensor *x,
                                           bool causal) {
    if (!nn_enter(t, file, line, "transformer_block", b, b && b->linear1.weight, x)) return NULL;
    x = tg_add(t, x, tg_mha_forward(t, &b->self_attn, tg_layernorm_forward(t, &b->norm1, x), causal));
    tg_tensor *h = tg_gelu(t, tg_linear_forward(t, &b->linear1, tg_layernorm_forward(t, &b->norm2, x)));
    return tg_add(t, x, tg_linear_forward(t, &b->linear2, h));
}
