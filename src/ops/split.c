/* split.c: split and chunk, which cut a tensor along one axis into consecutive pieces.
 *
 *   split  out[k] = x[..., o_k : o_k + sizes[k], ...],  o_k = sizes[0] + ... + sizes[k-1]
 *   chunk  split into n_chunks pieces of equal size
 *
 * Composites: each piece is a slice view (slice.c), one node per piece, so no piece is copied
 * and each piece's gradient flows through slice's own rule. A single node with several outputs
 * would need a second kind of node in the sweep; bench/split_bench.c measures what the per-piece
 * nodes cost against one slice per gate in a GRU step (docs/benchmarks.md). */
#include "op_util.h"

/* Clears out[0..n) so that a failed call leaves no piece of an earlier call behind. */
static tg_status fail_pieces(tg_tape *t, int n, tg_tensor **out) {
    for (int k = 0; out && k < n; k++) out[k] = NULL;
    return t ? t->status : TG_ERR_NULL;
}

/* Checks the common arguments and returns the normalised axis, or -1 with the error kept. */
static int enter(tg_tape *t, const char *file, int line, const char *op, tg_tensor *x,
                 int axis, int n, tg_tensor **out) {
    if (!tg_op_enter(t, file, line, op, 1, &x)) return -1;
    if (!out) {
        tg_fail(t, TG_ERR_NULL, "%s: the output array is NULL", op);
        return -1;
    }
    if (n < 1) {
        tg_fail(t, TG_ERR_ARG, "%s: the number of pieces must be at least 1, got %d", op, n);
        return -1;
    }
    return tg_norm_axis_of(t, op, axis, x);
}

/* Slices x into n pieces of the given sizes (already checked to fit) along axis a. */
static tg_status cut(tg_tape *t, tg_tensor *x, int a, const int64_t *sizes, int64_t each,
                     int n, tg_tensor **out) {
    int64_t start = 0;
    for (int k = 0; k < n; k++) {
        int64_t size = sizes ? sizes[k] : each;
        out[k] = tg_slice_at(t, NULL, 0, x, a, start, start + size, 1);
        if (!out[k]) return fail_pieces(t, n, out);
        start += size;
    }
    return TG_OK;
}

tg_status tg_split_at(tg_tape *t, const char *file, int line, tg_tensor *x, int axis,
                      const int64_t *sizes, int n, tg_tensor **out) {
    int a = enter(t, file, line, "split", x, axis, n, out);
    if (a < 0) return fail_pieces(t, n, out);
    if (!sizes) {
        tg_fail(t, TG_ERR_NULL, "split: sizes is NULL");
        return fail_pieces(t, n, out);
    }
    int64_t total = 0;
    for (int k = 0; k < n; k++) {
        /* Each size is at most the axis's, so the running total cannot overflow. */
        if (sizes[k] < 0 || sizes[k] > x->shape[a]) {
            tg_fail(t, TG_ERR_ARG, "split: size %d (%lld) is out of range for axis %d of "
                    "size %lld", k, (long long)sizes[k], axis, (long long)x->shape[a]);
            return fail_pieces(t, n, out);
        }
        total += sizes[k];
    }
    if (total != x->shape[a]) {
        char xs[TG_SHAPE_STR_MAX];
        tg_fail(t, TG_ERR_SHAPE, "split: the %d sizes add up to %lld, but axis %d of %s has "
                "%lld", n, (long long)total, axis, tg_shape_str(x, xs, sizeof xs),
                (long long)x->shape[a]);
        return fail_pieces(t, n, out);
    }
    return cut(t, x, a, sizes, 0, n, out);
}

tg_status tg_chunk_at(tg_tape *t, const char *file, int line, tg_tensor *x, int axis,
                      int n_chunks, tg_tensor **out) {
    int a = enter(t, file, line, "chunk", x, axis, n_chunks, out);
    if (a < 0) return fail_pieces(t, n_chunks, out);
    if (x->shape[a] % n_chunks != 0) {
        char xs[TG_SHAPE_STR_MAX];
        tg_fail(t, TG_ERR_SHAPE, "chunk: axis %d of %s (size %lld) does not divide into %d "
                "equal pieces; tg_split takes unequal sizes", axis,
                tg_shape_str(x, xs, sizeof xs), (long long)x->shape[a], n_chunks);
        return fail_pieces(t, n_chunks, out);
    }
    return cut(t, x, a, NULL, x->shape[a] / n_chunks, n_chunks, out);
}
