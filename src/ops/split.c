/* split.c: split and chunk, which cut a tensor along one axis into consecutive pieces.
 *
 *   split  out[k] = x[..., o_k : o_k + sizes[k], ...],  o_k = sizes[0] + ... + sizes[k-1]
 *   chunk  split into n_chunks pieces of equal size
 *
 * Composites of slice views (slice.c): no piece is copied, and the gradients flow through
 * slice's own rule. The pieces are cut by halving: x into its first and second half of the
 * pieces, each half again, down to single pieces. A slice's gradient is embedded into zeros of
 * its parent's size, so cutting n pieces straight from x would cost n embeddings of x's full
 * size in backward, O(n^2) for n pieces of one size (a sequence cut into its steps);
 * halving costs O(n log n). A single node with n outputs would cost
 * O(n) but needs a second kind of node in the sweep: bench/split_bench.c measures what is
 * left to gain (docs/benchmarks.md). */
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

/* Cuts part, which spans pieces lo..hi-1 (offsets[lo]..offsets[hi] of the original axis, part
 * starting at offsets[lo]), into its first and second half of pieces, recursively; a part of
 * one piece is that piece. Returns false with the error kept on the tape. */
static bool cut(tg_tape *t, tg_tensor *part, int a, const int64_t *offsets, int lo, int hi,
                tg_tensor **out) {
    if (hi - lo == 1) {
        out[lo] = part;
        return true;
    }
    int mid = lo + (hi - lo) / 2;
    int64_t base = offsets[lo];
    tg_tensor *left = tg_slice_at(t, NULL, 0, part, a, 0, offsets[mid] - base, 1);
    tg_tensor *right =
        tg_slice_at(t, NULL, 0, part, a, offsets[mid] - base, offsets[hi] - base, 1);
    return left && right && cut(t, left, a, offsets, lo, mid, out) &&
           cut(t, right, a, offsets, mid, hi, out);
}

/* Cuts x into n pieces of the given sizes (already checked to fit) along axis a: sizes[k], or
 * `each` for every piece when sizes is NULL. */
static tg_status cut_all(tg_tape *t, tg_tensor *x, int a, const int64_t *sizes, int64_t each,
                         int n, tg_tensor **out) {
    /* The offsets live on the tape: n is the caller's, unbounded. */
    int64_t *offsets = tg_arena_alloc(&t->arena, (size_t)(n + 1) * sizeof *offsets);
    if (!offsets) {
        tg_fail(t, TG_ERR_NOMEM, "%s: no memory for %d pieces", sizes ? "split" : "chunk", n);
        return fail_pieces(t, n, out);
    }
    offsets[0] = 0;
    for (int k = 0; k < n; k++) offsets[k + 1] = offsets[k] + (sizes ? sizes[k] : each);
    /* x spans every piece from offset 0; one piece is still a view of its own, so that out[0]
     * is never x itself. */
    tg_tensor *whole = n > 1 ? x : tg_slice_at(t, NULL, 0, x, a, 0, offsets[n], 1);
    if (!whole || !cut(t, whole, a, offsets, 0, n, out)) return fail_pieces(t, n, out);
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
    return cut_all(t, x, a, sizes, 0, n, out);
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
    return cut_all(t, x, a, NULL, x->shape[a] / n_chunks, n_chunks, out);
}
