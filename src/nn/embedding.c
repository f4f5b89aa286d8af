/* embedding.c: the Embedding layer, a (num, dim) table whose rows are looked up by id through
 * the tg_embedding op; the table starts as N(0, 1), as PyTorch's does. Repeated ids accumulate
 * their gradients in the same row (the op's rule). */
#include <string.h>

#include "nn_util.h"

tg_status tg_embedding_init(tg_embedding *e, tg_store *s, const char *name, int64_t num,
                            int64_t dim, tg_dtype dtype, tg_rng *rng, tg_error *err) {
    static const char *const suffixes[] = {"weight"};
    nn_maker m;
    nn_begin(&m, "embedding", s, name, dtype, true, rng, 1, suffixes, err);
    if (!e)
        nn_fail(&m, TG_ERR_NULL, "the layer is NULL");
    else
        memset(e, 0, sizeof *e);
    nn_positive(&m, "num", num);
    nn_positive(&m, "dim", dim);
    tg_tensor *w = nn_tensor(&m, 0, false, TG_SHAPE(num, dim));
    if (m.status != TG_OK) return m.status;
    tg_status st = tg_init_normal(w, rng, 0.0, 1.0, err);
    if (st != TG_OK) return st;
    *e = (tg_embedding){.weight = w, .num_embeddings = num, .embedding_dim = dim};
    return TG_OK;
}

tg_tensor *tg_embedding_forward_at(tg_tape *t, const char *file, int line, const tg_embedding *e,
                                   int ndim, const int64_t *shape, const int64_t *ids) {
    if (!nn_enter(t, file, line, "embedding", e, e && e->weight, e ? e->weight : NULL)) return NULL;
    if (ndim < 0 || (ndim > 0 && !shape)) {
        char nm[TG_NAME_MAX];
        return tg_fail(t, TG_ERR_ARG,
                       "embedding '%s': the ids' shape is missing (ndim %d, shape "
                       "%s)",
                       nn_layer_name(e->weight, nm, sizeof nm), ndim, shape ? "given" : "NULL");
    }
    return tg_embedding(t, e->weight, ndim, shape, ids);
}
