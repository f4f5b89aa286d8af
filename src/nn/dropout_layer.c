/* dropout_layer.c: the Dropout layer, the tg_dropout op with a generator of its own, so that a
 * model's masks depend only on the seed given at init and the sequence of training forwards.
 * Invariant: p stays in [0, 1), checked at init; eval never touches the generator. */
#include <string.h>

#include "nn_util.h"

tg_status tg_dropout_init(tg_dropout *d, double p, uint64_t seed, tg_error *err) {
    if (d) memset(d, 0, sizeof *d);
    if (!d) return tg_error_set(err, TG_ERR_NULL, "dropout: the layer is NULL");
    if (!(p >= 0.0 && p < 1.0))
        return tg_error_set(err, TG_ERR_ARG, "dropout: probability %g is outside [0, 1)", p);
    d->p = p;
    tg_rng_seed(&d->rng, seed);
    return TG_OK;
}

tg_tensor *tg_dropout_forward_at(tg_tape *t, const char *file, int line, tg_dropout *d,
                                 tg_tensor *x, bool training) {
    if (!nn_enter(t, file, line, "dropout", d, true, x)) return NULL;
    return tg_dropout(t, x, d->p, &d->rng, training);
}
