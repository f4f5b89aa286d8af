/* flatten.c: the Flatten layer, dimensions start..end of x merged into one by a reshape (a view
 * when x is contiguous, so it costs nothing and its gradient is reshape's). */
#include "nn_util.h"

tg_tensor *tg_flatten_at(tg_tape *t, const char *file, int line, tg_tensor *x, int start_dim,
                         int end_dim) {
    if (!nn_enter(t, file, line, "flatten", "", true, x)) return NULL;
    /* A 0-d tensor flattens to one element, as torch.flatten does. */
    int nd = x->ndim ? x->ndim : 1;
    int s = start_dim < 0 ? start_dim + nd : start_dim, e = end_dim < 0 ? end_dim + nd : end_dim;
    if (s < 0 || s >= nd || e < 0 || e >= nd || s > e) {
        char xs[TG_SHAPE_STR_MAX];
        return tg_fail(t, TG_ERR_AXIS, "flatten: dimensions %d..%d do not form a range of %s",
                       start_dim, end_dim, tg_shape_str(x, xs, sizeof xs));
    }
    if (x->ndim == 0) return tg_reshape(t, x, TG_SHAPE(1));
    int64_t shape[TG_MAX_DIMS];
    int n = 0;
    for (int d = 0; d < s; d++) shape[n++] = x->shape[d];
    int64_t merged = 1;
    for (int d = s; d <= e; d++)
        if (!tg_size_mul(merged, x->shape[d], TG_MAX_NUMEL, &merged)) {
            /* Only an empty tensor can get here: (0, 2^62, 2^62) holds no element. */
            char xs[TG_SHAPE_STR_MAX];
            return tg_fail(t, TG_ERR_SHAPE, "flatten: dimensions %d..%d of %s merge into more "
                           "than 2^40", start_dim, end_dim, tg_shape_str(x, xs, sizeof xs));
        }
    shape[n++] = merged;
    for (int d = e + 1; d < x->ndim; d++) shape[n++] = x->shape[d];
    return tg_reshape(t, x, n, shape);
}
