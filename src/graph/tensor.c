/* tensor.c: creating tensors on a tape, reading their layout, moving data in and out.
 *
 * A tensor on a tape is one arena allocation: the header, its shape and strides (sized to its
 * rank), then its data, which starts a whole number of TG_ARENA_ALIGN lines after the header.
 * Views are a header only and point into another tensor's data. */
#include <math.h>
#include <string.h>

#include "graph.h"
#include "../ops/kernels/kernels.h"

int64_t tg_numel_of(int ndim, const int64_t *shape) {
    /* For shapes already validated (tg_numel_checked passed when they were made): exact, or
     * with a zero size among sizes whose product wraps, still 0 (unsigned: no overflow). */
    uint64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= (uint64_t)shape[i];
    return (int64_t)n;
}

void tg_contiguous_strides(int ndim, const int64_t *shape, int64_t *strides) {
    /* A tensor with a zero size may have others so large that their product overflows (it
     * holds no element whatever they are); its strides then stop growing, as none is used. */
    int64_t s = 1;
    for (int i = ndim - 1; i >= 0; i--) {
        strides[i] = s;
        int64_t next;
        if (tg_size_mul(s, shape[i] > 0 ? shape[i] : 1, INT64_MAX, &next)) s = next;
    }
}

bool tg_same_shape(const tg_tensor *a, const tg_tensor *b) {
    if (a->ndim != b->ndim) return false;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i]) return false;
    return true;
}

tg_status tg_shape_problem(const char *op, tg_dtype dtype, int ndim, const int64_t *shape,
                           char *msg, size_t size) {
    if (dtype != TG_F32 && dtype != TG_F64) {
        snprintf(msg, size, "%s: unknown dtype %d", op, (int)dtype);
        return TG_ERR_DTYPE;
    }
    if (ndim < 0 || ndim > TG_MAX_DIMS) {
        snprintf(msg, size, "%s: %d dimensions, at most %d are supported", op, ndim,
                 TG_MAX_DIMS);
        return TG_ERR_SHAPE;
    }
    if (ndim > 0 && !shape) {
        snprintf(msg, size, "%s: shape is NULL for %d dimensions", op, ndim);
        return TG_ERR_NULL;
    }
    int64_t total;
    if (tg_numel_checked(ndim, shape, &total)) return TG_OK;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) {
            snprintf(msg, size, "%s: dimension %d has negative size %lld", op, i,
                     (long long)shape[i]);
            return TG_ERR_SHAPE;
        }
    }
    snprintf(msg, size, "%s: shape has more than 2^40 elements", op);
    return TG_ERR_SHAPE;
}

bool tg_check_shape(tg_tape *t, const char *op, tg_dtype dtype, int ndim, const int64_t *shape) {
    char msg[160];
    tg_status s = tg_shape_problem(op, dtype, ndim, shape, msg, sizeof msg);
    if (s != TG_OK) tg_fail(t, s, "%s", msg);
    return s == TG_OK;
}

/* What a tensor without a name points to: never written (renaming allocates, see below). */
static const char no_name[1] = "";

/* Inlined by hand: it is most of what making every op's result costs. */
#if defined(__GNUC__)
__attribute__((always_inline))
#endif
static inline tg_tensor *header_in(tg_arena *a, int ndim, size_t data_bytes) {
    size_t head = (TG_TENSOR_HEADER_BYTES(ndim) + TG_ARENA_ALIGN - 1) &
                  ~(size_t)(TG_ARENA_ALIGN - 1);
    char *p = tg_arena_alloc(a, head + data_bytes);
    if (!p) return NULL;
    /* Field by field rather than memset: this runs for every op result, and the dims are
     * written by the caller. */
    tg_tensor *x = (tg_tensor *)p;
    x->gen = TG_GEN_STORE; /* a tape's tensors get its word from the caller */
    x->tape = NULL;
    x->ndim = ndim;
    x->shape = (int64_t *)(void *)(p + sizeof(tg_tensor));
    x->strides = x->shape + ndim;
    x->data = p + head;
    x->role = TG_ROLE_INPUT;
    x->requires_grad = false;
    x->node = NULL;
    x->grad = NULL;
    x->sweep_grad = NULL;
    x->sweep_epoch = 0;
    x->sweep_grad_owned = false;
    x->zero_pending = false;
    x->final_use_epoch = 0;
    x->name = no_name;
    return x;
}

tg_tensor *tg_tensor_new_in_arena(tg_arena *a, int64_t id, tg_dtype dtype, int ndim,
                                  const int64_t *shape) {
    int64_t n = tg_numel_of(ndim, shape);
    tg_tensor *x = header_in(a, ndim, (size_t)n * tg_dtype_size(dtype));
    if (!x) return NULL;
    x->id = id;
    x->dtype = dtype;
    for (int i = 0; i < ndim; i++) x->shape[i] = shape[i];
    tg_contiguous_strides(ndim, x->shape, x->strides);
    x->role = TG_ROLE_INPUT;
    return x;
}

static tg_tensor *header_alloc(tg_tape *t, int ndim, size_t data_bytes) {
    tg_tensor *x = header_in(&t->arena, ndim, data_bytes);
    if (!x) {
        tg_fail(t, TG_ERR_NOMEM, "out of memory allocating %zu bytes on the tape", data_bytes);
        return NULL;
    }
    x->gen = t->gen;
    x->tape = t;
    x->id = t->n_tensors++;
    return x;
}

tg_tensor *tg_tensor_alloc(tg_tape *t, tg_dtype dtype, int ndim, const int64_t *shape) {
    if (!t) return NULL;
    if (!tg_check_shape(t, "tensor", dtype, ndim, shape)) return NULL;
    tg_tensor *x = tg_tensor_new_in_arena(&t->arena, t->n_tensors, dtype, ndim, shape);
    if (!x)
        return tg_fail(t, TG_ERR_NOMEM, "out of memory allocating a tensor of %lld elements",
                       (long long)tg_numel_of(ndim, shape));
    x->gen = t->gen;
    x->tape = t;
    t->n_tensors++;
    return x;
}

tg_tensor *tg_tensor_view(tg_tape *t, const tg_tensor *x, int ndim, const int64_t *shape,
                          const int64_t *strides, int64_t offset_elements) {
    tg_tensor *v = header_alloc(t, ndim, 0);
    if (!v) return NULL;
    v->dtype = x->dtype;
    for (int i = 0; i < ndim; i++) {
        v->shape[i] = shape[i];
        v->strides[i] = strides[i];
    }
    v->data = x->data + offset_elements * (int64_t)tg_dtype_size(x->dtype);
    v->role = TG_ROLE_INPUT;
    return v;
}

/* ---- creation entry points ---- */

tg_tensor *tg_full_at(tg_tape *t, const char *file, int line, tg_dtype dtype, int ndim,
                      const int64_t *shape, double value) {
    if (!t) return NULL;
    tg_tape_set_site(t, file, line);
    tg_tensor *x = tg_tensor_alloc(t, dtype, ndim, shape);
    if (x) kern_fill(dtype, x->data, tg_tensor_numel(x), value);
    return x;
}

tg_tensor *tg_zeros_at(tg_tape *t, const char *file, int line, tg_dtype dtype, int ndim,
                       const int64_t *shape) {
    return tg_full_at(t, file, line, dtype, ndim, shape, 0.0);
}

tg_tensor *tg_ones_at(tg_tape *t, const char *file, int line, tg_dtype dtype, int ndim,
                      const int64_t *shape) {
    return tg_full_at(t, file, line, dtype, ndim, shape, 1.0);
}

tg_tensor *tg_scalar_at(tg_tape *t, const char *file, int line, tg_dtype dtype, double value) {
    return tg_full_at(t, file, line, dtype, 0, NULL, value);
}

tg_tensor *tg_from_data_at(tg_tape *t, const char *file, int line, tg_dtype dtype, int ndim,
                           const int64_t *shape, const void *data) {
    if (!t) return NULL;
    tg_tape_set_site(t, file, line);
    if (!data) return tg_fail(t, TG_ERR_NULL, "from_data: data is NULL");
    tg_tensor *x = tg_tensor_alloc(t, dtype, ndim, shape);
    if (x) memcpy(x->data, data, (size_t)tg_tensor_numel(x) * tg_dtype_size(dtype));
    return x;
}

tg_tensor *tg_uniform_at(tg_tape *t, const char *file, int line, tg_rng *rng, tg_dtype dtype,
                         int ndim, const int64_t *shape, double lo, double hi) {
    if (!t) return NULL;
    tg_tape_set_site(t, file, line);
    if (!rng) return tg_fail(t, TG_ERR_NULL, "uniform: rng is NULL");
    tg_tensor *x = tg_tensor_alloc(t, dtype, ndim, shape);
    if (x) tg_tensor_fill_uniform(x, rng, lo, hi);
    return x;
}

tg_tensor *tg_normal_at(tg_tape *t, const char *file, int line, tg_rng *rng, tg_dtype dtype,
                        int ndim, const int64_t *shape, double mean, double std) {
    if (!t) return NULL;
    tg_tape_set_site(t, file, line);
    if (!rng) return tg_fail(t, TG_ERR_NULL, "normal: rng is NULL");
    tg_tensor *x = tg_tensor_alloc(t, dtype, ndim, shape);
    if (x) tg_tensor_fill_normal(x, rng, mean, std);
    return x;
}

/* ---- inspection ---- */

tg_dtype tg_tensor_dtype(const tg_tensor *x) { return x ? x->dtype : TG_F32; }
int tg_tensor_ndim(const tg_tensor *x) { return x ? x->ndim : 0; }

static int norm_dim(const tg_tensor *x, int dim) {
    if (dim < 0) dim += x->ndim;
    return dim >= 0 && dim < x->ndim ? dim : -1;
}

int64_t tg_tensor_dim(const tg_tensor *x, int dim) {
    if (!x || norm_dim(x, dim) < 0) return 0;
    return x->shape[norm_dim(x, dim)];
}

int64_t tg_tensor_stride(const tg_tensor *x, int dim) {
    if (!x || norm_dim(x, dim) < 0) return 0;
    return x->strides[norm_dim(x, dim)];
}

int64_t tg_tensor_numel(const tg_tensor *x) { return x ? tg_numel_of(x->ndim, x->shape) : 0; }

bool tg_tensor_is_contiguous(const tg_tensor *x) {
    if (!x) return false;
    /* Unsigned: the running product of an empty tensor's other sizes may wrap (harmlessly). */
    uint64_t s = 1;
    for (int i = x->ndim - 1; i >= 0; i--) {
        if (x->shape[i] != 1 && (uint64_t)x->strides[i] != s) {
            for (int d = 0; d < x->ndim; d++)
                if (x->shape[d] == 0) return true; /* no element: any layout will do */
            return false;
        }
        s *= (uint64_t)x->shape[i];
    }
    return true;
}

void *tg_tensor_data(const tg_tensor *x) { return x ? x->data : NULL; }
tg_tensor *tg_tensor_grad(const tg_tensor *x) {
    tg_tensor *g = x ? x->grad : NULL;
    if (g && g->zero_pending) { /* the fill tg_store_zero_grad deferred */
        kern_fill(g->dtype, g->data, tg_tensor_numel(g), 0.0);
        g->zero_pending = false;
    }
    return g;
}
bool tg_tensor_requires_grad(const tg_tensor *x) { return x && x->requires_grad; }

tg_status tg_tensor_set_requires_grad(tg_tensor *x, bool requires_grad) {
    if (!x) return TG_ERR_NULL;
    if (x->node) return TG_ERR_ARG;
    if (x->role == TG_ROLE_BUFFER && requires_grad) return TG_ERR_ARG;
    x->requires_grad = requires_grad;
    return TG_OK;
}

const char *tg_tensor_name(const tg_tensor *x) { return x && x->name[0] ? x->name : NULL; }

/* A store tensor's name has TG_NAME_MAX bytes of its own (store.c); a tape tensor gets a copy
 * in its tape's arena, made only when it is named, so unnamed results carry no name bytes. */
tg_status tg_tensor_set_name(tg_tensor *x, const char *name) {
    if (!x || !name) return TG_ERR_NULL;
    if (!x->tape) {
        if (x->name == no_name) return TG_ERR_ARG; /* not made by a store or a tape */
        snprintf((char *)(uintptr_t)x->name, TG_NAME_MAX, "%s", name);
        return TG_OK;
    }
    /* Only a live tape is followed: its arena is where the copy goes. */
    if (!tg_tensor_is_current_elsewhere(x)) return TG_ERR_STALE;
    size_t n = strlen(name);
    if (n >= TG_NAME_MAX) n = TG_NAME_MAX - 1;
    tg_tape *t = (tg_tape *)(uintptr_t)x->tape;
    char *copy = tg_arena_alloc(&t->arena, n + 1);
    if (!copy) return TG_ERR_NOMEM;
    memcpy(copy, name, n);
    copy[n] = '\0';
    x->name = copy;
    return TG_OK;
}

int64_t tg_tensor_id(const tg_tensor *x) { return x ? x->id : -1; }

/* ---- data in and out ---- */

tg_status tg_tensor_copy_out(const tg_tensor *x, tg_dtype dtype, void *dst) {
    if (!x || !dst) return TG_ERR_NULL;
    if (tg_dtype_size(dtype) == 0) return TG_ERR_DTYPE;
    int64_t strides[TG_MAX_DIMS];
    tg_contiguous_strides(x->ndim, x->shape, strides);
    kern_copy(dtype, dst, strides, x->dtype, x->data, x->strides, x->ndim, x->shape);
    return TG_OK;
}

tg_status tg_tensor_copy_in(tg_tensor *x, tg_dtype dtype, const void *src) {
    if (!x || !src) return TG_ERR_NULL;
    if (tg_dtype_size(dtype) == 0) return TG_ERR_DTYPE;
    int64_t strides[TG_MAX_DIMS];
    tg_contiguous_strides(x->ndim, x->shape, strides);
    kern_copy(x->dtype, x->data, x->strides, dtype, src, strides, x->ndim, x->shape);
    return TG_OK;
}

static int64_t offset_of_flat(const tg_tensor *x, int64_t flat) {
    int64_t off = 0;
    for (int i = x->ndim - 1; i >= 0; i--) {
        int64_t idx = x->shape[i] ? flat % x->shape[i] : 0;
        flat = x->shape[i] ? flat / x->shape[i] : 0;
        off += idx * x->strides[i];
    }
    return off;
}

static double load(const tg_tensor *x, int64_t off) {
    return x->dtype == TG_F32 ? (double)((const float *)(const void *)x->data)[off]
                              : ((const double *)(const void *)x->data)[off];
}

double tg_tensor_get(const tg_tensor *x, int64_t flat_index) {
    if (!x || flat_index < 0 || flat_index >= tg_tensor_numel(x)) return NAN;
    return load(x, offset_of_flat(x, flat_index));
}

double tg_tensor_item(const tg_tensor *x) {
    if (!x || tg_tensor_numel(x) != 1) return NAN;
    return load(x, 0);
}

tg_status tg_tensor_fill(tg_tensor *x, double value) {
    if (!x) return TG_ERR_NULL;
    if (tg_tensor_is_contiguous(x)) {
        kern_fill(x->dtype, x->data, tg_tensor_numel(x), value);
        return TG_OK;
    }
    double v = value;
    int64_t zero[TG_MAX_DIMS] = {0};
    kern_copy(x->dtype, x->data, x->strides, TG_F64, &v, zero, x->ndim, x->shape);
    return TG_OK;
}

static void store_flat(tg_tensor *x, int64_t i, double v) {
    int64_t off = offset_of_flat(x, i);
    if (x->dtype == TG_F32)
        ((float *)(void *)x->data)[off] = (float)v;
    else
        ((double *)(void *)x->data)[off] = v;
}

tg_status tg_tensor_fill_uniform(tg_tensor *x, tg_rng *rng, double lo, double hi) {
    if (!x || !rng) return TG_ERR_NULL;
    if (!(lo <= hi)) return TG_ERR_ARG;
    int64_t n = tg_tensor_numel(x);
    for (int64_t i = 0; i < n; i++) store_flat(x, i, lo + (hi - lo) * tg_rng_uniform(rng));
    return TG_OK;
}

tg_status tg_tensor_fill_normal(tg_tensor *x, tg_rng *rng, double mean, double std) {
    if (!x || !rng) return TG_ERR_NULL;
    if (!(std >= 0)) return TG_ERR_ARG;
    int64_t n = tg_tensor_numel(x);
    for (int64_t i = 0; i < n; i++) store_flat(x, i, mean + std * tg_rng_normal(rng));
    return TG_OK;
}

/* Prints dimension `d` starting at element offset `off`, eliding the middle of long rows. */
static int print_dim(const tg_tensor *x, FILE *out, int d, int64_t off, int indent) {
    const int64_t edge = 3;
    if (d == x->ndim) return fprintf(out, "%.6g", load(x, off)) < 0 ? -1 : 0;
    if (fputc('[', out) == EOF) return -1;
    int64_t n = x->shape[d];
    for (int64_t i = 0; i < n; i++) {
        if (n > 2 * edge + 1 && i == edge) {
            if (fputs("...", out) == EOF) return -1;
            i = n - edge - 1;
            if (d + 1 == x->ndim ? fputs(", ", out) == EOF
                                 : fprintf(out, ",\n%*s", indent + 1, "") < 0)
                return -1;
            continue;
        }
        if (print_dim(x, out, d + 1, off + i * x->strides[d], indent + 1) < 0) return -1;
        if (i + 1 < n) {
            if (d + 1 == x->ndim) {
                if (fputs(", ", out) == EOF) return -1;
            } else if (fprintf(out, ",\n%*s", indent + 1, "") < 0) {
                return -1;
            }
        }
    }
    return fputc(']', out) == EOF ? -1 : 0;
}

tg_status tg_tensor_print(const tg_tensor *x, FILE *out) {
    if (!x || !out) return TG_ERR_NULL;
    char shape[TG_SHAPE_STR_MAX];
    if (fprintf(out, "tensor %s %s%s%s\n", tg_dtype_name(x->dtype),
                tg_shape_str(x, shape, sizeof shape), x->name[0] ? " " : "", x->name) < 0)
        return TG_ERR_IO;
    if (print_dim(x, out, 0, 0, 0) < 0 || fputc('\n', out) == EOF) return TG_ERR_IO;
    return TG_OK;
}
