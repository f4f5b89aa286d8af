/* op_util.c: shared validation and broadcasting for the op files (see op_util.h). */
#include "op_util.h"

/* tg_op_enter's failure, out of line: its message buffer would otherwise cost every op a
 * stack-protector check. */
#if defined(__GNUC__)
__attribute__((noinline, cold))
#endif
static bool stale_input(tg_tape *t, const char *op, int i, const tg_tensor *x) {
    char what[24];
    snprintf(what, sizeof what, "input %d", i);
    return tg_op_current(t, op, what, x);
}

bool tg_op_enter(tg_tape *t, const char *file, int line, const char *op, int n_inputs,
                 tg_tensor *const *inputs) {
    if (!t) return false;
    tg_tape_set_site(t, file, line);
    t->attr_nonfinite = false; /* set again by this op's tg_note_fattr, if it has one */
    for (int i = 0; i < n_inputs; i++) {
        if (!inputs[i]) {
            tg_fail(t, TG_ERR_NULL, "%s: input %d is NULL", op, i);
            return false;
        }
        /* Before anything else is read from the input: a stale header may hold anything. */
        if (!tg_tensor_is_current(t, inputs[i])) return stale_input(t, op, i, inputs[i]);
    }
    for (int i = 1; i < n_inputs; i++) {
        if (inputs[i]->dtype != inputs[0]->dtype) {
            char s0[TG_SHAPE_STR_MAX], si[TG_SHAPE_STR_MAX];
            tg_fail(t, TG_ERR_DTYPE, "%s: input %d is %s %s but input 0 is %s %s", op, i,
                    tg_dtype_name(inputs[i]->dtype), tg_shape_str(inputs[i], si, sizeof si),
                    tg_dtype_name(inputs[0]->dtype), tg_shape_str(inputs[0], s0, sizeof s0));
            return false;
        }
    }
    return true;
}

bool tg_op_current(tg_tape *t, const char *op, const char *what, const tg_tensor *x) {
    if (!x || tg_tensor_is_current(t, x)) return true;
    tg_fail(t, TG_ERR_STALE, "%s: %s is a stale tensor, made before the last tg_tape_reset of "
            "its tape (or on a tape since freed); its memory now belongs to newer tensors", op, what);
    return false;
}

bool tg_broadcast_shape(tg_tape *t, const char *op, const tg_tensor *a, const tg_tensor *b,
                        int *ndim, int64_t *shape) {
    int n = a->ndim > b->ndim ? a->ndim : b->ndim;
    for (int i = 0; i < n; i++) {
        int ia = i - (n - a->ndim), ib = i - (n - b->ndim);
        int64_t da = ia >= 0 ? a->shape[ia] : 1, db = ib >= 0 ? b->shape[ib] : 1;
        if (da != db && da != 1 && db != 1) {
            char as[TG_SHAPE_STR_MAX], bs[TG_SHAPE_STR_MAX];
            tg_fail(t, TG_ERR_SHAPE, "%s: shapes %s and %s cannot broadcast (dimension %d: %lld "
                    "vs %lld)", op, tg_shape_str(a, as, sizeof as), tg_shape_str(b, bs, sizeof bs),
                    i, (long long)da, (long long)db);
            return false;
        }
        shape[i] = da == 1 ? db : da;
    }
    *ndim = n;
    return true;
}

void tg_broadcast_strides(const tg_tensor *x, int ndim, const int64_t *shape, int64_t *strides) {
    int lead = ndim - x->ndim;
    for (int i = 0; i < ndim; i++) {
        int ix = i - lead;
        strides[i] = (ix < 0 || (x->shape[ix] == 1 && shape[i] != 1)) ? 0 : x->strides[ix];
    }
}

int tg_norm_axis(tg_tape *t, const char *op, int axis, int ndim) {
    int a = axis < 0 ? axis + ndim : axis;
    if (a < 0 || a >= ndim) {
        tg_fail(t, TG_ERR_AXIS, "%s: axis %d is out of range for %d dimensions", op, axis, ndim);
        return -1;
    }
    return a;
}

int tg_norm_axis_of(tg_tape *t, const char *op, int axis, const tg_tensor *x) {
    int a = axis < 0 ? axis + x->ndim : axis;
    if (a < 0 || a >= x->ndim) {
        char xs[TG_SHAPE_STR_MAX];
        tg_fail(t, TG_ERR_AXIS, "%s: axis %d is out of range for shape %s", op, axis,
                tg_shape_str(x, xs, sizeof xs));
        return -1;
    }
    return a;
}

bool tg_axes_mask(tg_tape *t, const char *op, const tg_tensor *x, int n_axes, const int *axes,
                  bool *mask) {
    for (int i = 0; i < TG_MAX_DIMS; i++) mask[i] = false;
    if (n_axes < 0 || (n_axes > 0 && !axes)) {
        tg_fail(t, TG_ERR_ARG, "%s: %d axes given%s", op, n_axes, axes ? "" : " as NULL");
        return false;
    }
    for (int i = 0; i < n_axes; i++) {
        int a = tg_norm_axis_of(t, op, axes[i], x);
        if (a < 0) return false;
        if (mask[a]) {
            char xs[TG_SHAPE_STR_MAX];
            tg_fail(t, TG_ERR_AXIS, "%s: axis %d is listed twice for shape %s", op, axes[i],
                    tg_shape_str(x, xs, sizeof xs));
            return false;
        }
        mask[a] = true;
    }
    return true;
}

tg_tensor *tg_unary_forward(tg_tape *t, const tg_op_desc *op, kern_unary_kind k, tg_tensor *x,
                            double a) {
    tg_tensor *y = tg_tensor_alloc(t, x->dtype, x->ndim, x->shape);
    if (!y) return NULL;
    int64_t n = tg_tensor_numel(x);
    const void *src = x->data;
    if (!tg_tensor_is_contiguous(x)) {
        kern_copy(y->dtype, y->data, y->strides, x->dtype, x->data, x->strides, x->ndim,
                  x->shape);
        src = y->data;
    }
    kern_unary(k, x->dtype, n, src, y->data, a);
    return tg_record(t, op, y, 1, &x);
}

tg_tensor *tg_binary_forward(tg_tape *t, const char *file, int line, const tg_op_desc *op,
                             kern_binary_kind k, tg_tensor *a, tg_tensor *b) {
    tg_tensor *in[2] = {a, b};
    if (!tg_op_enter(t, file, line, op->name, 2, in)) return NULL;
    int ndim;
    int64_t shape[TG_MAX_DIMS], as[TG_MAX_DIMS], bs[TG_MAX_DIMS];
    if (!tg_broadcast_shape(t, op->name, a, b, &ndim, shape)) return NULL;
    tg_tensor *z = tg_tensor_alloc(t, a->dtype, ndim, shape);
    if (!z) return NULL;
    tg_broadcast_strides(a, ndim, shape, as);
    tg_broadcast_strides(b, ndim, shape, bs);
    kern_binary(k, a->dtype, ndim, shape, z->data, a->data, as, b->data, bs);
    return tg_record(t, op, z, 2, in);
}
