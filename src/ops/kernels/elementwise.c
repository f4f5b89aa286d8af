/* elementwise.c: one-input maps on contiguous data, broadcasting two-input maps and the
 * three-input select (where) on strided data. Each formula is written once, for a generic real
 * type T, and instantiated for float and double; f32 transcendental functions use the float
 * versions of libm, so an f32 result is never computed through double by accident.
 *
 * The common f32 maps (arithmetic, exp, tanh, sigmoid, relu) also have AVX2 and AVX-512 forms
 * (vec.h), chosen by kern_cpu_level(); TG_CPU=portable keeps the plain loops, which the tests
 * use as the reference. Two-input maps first merge the dimensions that are one
 * run in every operand (coalesce.h), so most calls become one long loop or contiguous rows. */
#include <math.h>

#include "coalesce.h"
#include "kernels.h"
#include "nd_iter.h"
#include "threadpool.h"
#include "vec.h"

/* sigmoid without overflow: for x < 0 use e^x / (1 + e^x). */
static inline double sigmoid_f64(double x) {
    if (x >= 0) return 1.0 / (1.0 + exp(-x));
    double e = exp(x);
    return e / (1.0 + e);
}

static inline float sigmoid_f32(float x) {
    if (x >= 0) return 1.0f / (1.0f + expf(-x));
    float e = expf(x);
    return e / (1.0f + e);
}

/* The exact GELU, x Phi(x) with Phi(x) = (1 + erf(x / sqrt 2)) / 2, and its derivative
 * Phi(x) + x phi(x) with phi(x) = e^(-x^2/2) / sqrt(2 pi). erfc keeps Phi accurate in the left
 * tail, where 1 + erf(x) would cancel. */
#define TG_SQRT1_2 0.70710678118654752440
#define TG_INV_SQRT_2PI 0.39894228040143267794

static inline double phi_cdf_f64(double x) { return 0.5 * erfc(-x * TG_SQRT1_2); }
static inline double gelu_f64(double x) { return x * phi_cdf_f64(x); }
static inline double gelu_grad_f64(double x) {
    return phi_cdf_f64(x) + x * TG_INV_SQRT_2PI * exp(-0.5 * x * x);
}
/* f32 is evaluated in double: erfcf(-x / sqrt 2) in float would round its argument first,
 * which costs the left tail 2 z^2 times that rounding (1e-5 relative at x = -12). */
static inline float gelu_f32(float x) { return (float)gelu_f64((double)x); }
static inline float gelu_grad_f32(float x) { return (float)gelu_grad_f64((double)x); }

/* relu (above), step and relu's gradient let NaN through as PyTorch does: relu(NaN) = NaN
 * (x < 0 is false for it), step(NaN) = NaN, and the gradient passes where x is NaN (PyTorch
 * blocks it only where x <= 0). */
#define STEP_OF(T, v) ((v) > 0 ? (T)1 : (v) <= 0 ? (T)0 : (v))

/* Signs keep NaN (and the sign of a zero), as x itself is returned for them. */
#define SIGN_OF(T, v) ((v) > 0 ? (T)1 : (v) < 0 ? (T)-1 : (v))

#define UNARY_CASES(T, SFX)                                                                    \
    switch (k) {                                                                               \
    case KERN_NEG: for (int64_t i = 0; i < n; i++) y[i] = -x[i]; break;                        \
    case KERN_EXP: for (int64_t i = 0; i < n; i++) y[i] = exp##SFX(x[i]); break;               \
    case KERN_LOG: for (int64_t i = 0; i < n; i++) y[i] = log##SFX(x[i]); break;               \
    case KERN_TANH: for (int64_t i = 0; i < n; i++) y[i] = tanh##SFX(x[i]); break;             \
    case KERN_SIGMOID:                                                                         \
        for (int64_t i = 0; i < n; i++) y[i] = SIGMOID_##T(x[i]);                              \
        break;                                                                                 \
    case KERN_RELU: for (int64_t i = 0; i < n; i++) y[i] = x[i] < 0 ? (T)0 : x[i]; break;      \
    case KERN_STEP: for (int64_t i = 0; i < n; i++) y[i] = STEP_OF(T, x[i]); break;            \
    case KERN_ADD_SCALAR: for (int64_t i = 0; i < n; i++) y[i] = x[i] + (T)a; break;           \
    case KERN_MUL_SCALAR: for (int64_t i = 0; i < n; i++) y[i] = x[i] * (T)a; break;           \
    case KERN_SUB_SCALAR: for (int64_t i = 0; i < n; i++) y[i] = x[i] - (T)a; break;           \
    case KERN_RSUB_SCALAR: for (int64_t i = 0; i < n; i++) y[i] = (T)a - x[i]; break;          \
    case KERN_DIV_SCALAR: for (int64_t i = 0; i < n; i++) y[i] = x[i] / (T)a; break;           \
    case KERN_RDIV_SCALAR: for (int64_t i = 0; i < n; i++) y[i] = (T)a / x[i]; break;          \
    case KERN_POW_SCALAR:                                                                      \
        if (a == 0.5) /* as sqrt, like PyTorch: pow(-inf, 0.5) would be +inf */              \
            for (int64_t i = 0; i < n; i++) y[i] = sqrt##SFX(x[i]);                            \
        else if (a == -0.5) /* as 1 / sqrt, like PyTorch: pow(-inf, -0.5) would be 0 */      \
            for (int64_t i = 0; i < n; i++) y[i] = (T)1 / sqrt##SFX(x[i]);                     \
        else                                                                                   \
            for (int64_t i = 0; i < n; i++) y[i] = pow##SFX(x[i], (T)a);                       \
        break;                                                                                 \
    case KERN_ABS: for (int64_t i = 0; i < n; i++) y[i] = fabs##SFX(x[i]); break;              \
    case KERN_SIGN: for (int64_t i = 0; i < n; i++) y[i] = SIGN_OF(T, x[i]); break;            \
    case KERN_BINARIZE:                                                                        \
        for (int64_t i = 0; i < n; i++) y[i] = x[i] < 0 ? (T)-1 : x[i] >= 0 ? (T)1 : x[i];    \
        break;                                                                                 \
    case KERN_SQRT: for (int64_t i = 0; i < n; i++) y[i] = sqrt##SFX(x[i]); break;             \
    case KERN_SQUARE: for (int64_t i = 0; i < n; i++) y[i] = x[i] * x[i]; break;               \
    case KERN_SIN: for (int64_t i = 0; i < n; i++) y[i] = sin##SFX(x[i]); break;               \
    case KERN_COS: for (int64_t i = 0; i < n; i++) y[i] = cos##SFX(x[i]); break;               \
    case KERN_LEAKY_RELU:                                                                      \
        for (int64_t i = 0; i < n; i++) y[i] = x[i] > 0 ? x[i] : (T)a * x[i];                  \
        break;                                                                                 \
    case KERN_ELU:                                                                             \
        for (int64_t i = 0; i < n; i++) y[i] = x[i] > 0 ? x[i] : (T)a * expm1##SFX(x[i]);      \
        break;                                                                                 \
    case KERN_CLAMP:                                                                           \
        for (int64_t i = 0; i < n; i++) {                                                      \
            T v = x[i];                                                                        \
            y[i] = v < (T)a ? (T)a : v > (T)b ? (T)b : v;                                      \
        }                                                                                      \
        break;                                                                                 \
    case KERN_GELU: for (int64_t i = 0; i < n; i++) y[i] = GELU_##T(x[i]); break;              \
    case KERN_GELU_GRAD: for (int64_t i = 0; i < n; i++) y[i] = GELU_GRAD_##T(x[i]); break;    \
    case KERN_SOFTPLUS:                                                                        \
        for (int64_t i = 0; i < n; i++) {                                                      \
            T v = x[i];                                                                        \
            y[i] = (v > 0 ? v : (T)0) + log1p##SFX(exp##SFX(-fabs##SFX(v)));                   \
        }                                                                                      \
        break;                                                                                 \
    }

#define SIGMOID_float sigmoid_f32
#define SIGMOID_double sigmoid_f64
#define GELU_float gelu_f32
#define GELU_double gelu_f64
#define GELU_GRAD_float gelu_grad_f32
#define GELU_GRAD_double gelu_grad_f64

static void unary_f32(kern_unary_kind k, int64_t n, const float *x, float *y, double a,
                      double b) {
    UNARY_CASES(float, f)
}

static void unary_f64(kern_unary_kind k, int64_t n, const double *x, double *y, double a,
                      double b) {
    UNARY_CASES(double, )
}

static void unary_run(kern_unary_kind k, tg_dtype dtype, int64_t n, const void *x, void *y,
                      double a, double b) {
    if (dtype == TG_F32) {
        if (n > 0 && kern_vec_map_f32(k, n, x, y, a)) return;
        unary_f32(k, n, x, y, a, b);
    } else {
        unary_f64(k, n, x, y, a, b);
    }
}

/* ---- threads for large maps ----
 * A map over n elements is cut into one piece per thread (multiples of 64 elements) by
 * kern_parallel_pieces (threadpool.h) when it is large enough to repay a wake-up, or to share
 * with a worker still polling after the previous job. Transcendental maps cost more per
 * element and split four times earlier. Each element is computed exactly as on one thread. */
enum { PAR_ALIGN = 64 };

static bool costly(kern_unary_kind k) {
    return k != KERN_NEG && k != KERN_RELU && k != KERN_STEP && k != KERN_ADD_SCALAR &&
           k != KERN_MUL_SCALAR && k != KERN_SUB_SCALAR && k != KERN_RSUB_SCALAR &&
           k != KERN_SQUARE && k != KERN_ABS && k != KERN_SIGN && k != KERN_BINARIZE &&
           k != KERN_CLAMP;
}

typedef struct unary_job {
    kern_unary_kind k;
    tg_dtype dtype;
    const char *x;
    char *y;
    double a, b;
} unary_job;

static void unary_piece(void *ctx, int64_t begin, int64_t end) {
    const unary_job *u = ctx;
    int64_t es = kern_elem_size(u->dtype);
    unary_run(u->k, u->dtype, end - begin, u->x + begin * es, u->y + begin * es, u->a, u->b);
}

void kern_unary2(kern_unary_kind k, tg_dtype dtype, int64_t n, const void *x, void *y, double a,
                 double b) {
    if (n < KERN_PIECES_AWAKE / 4) { /* too small for threads at any weight: no set-up */
        unary_run(k, dtype, n, x, y, a, b);
        return;
    }
    unary_job u = {k, dtype, x, y, a, b};
    if (!kern_parallel_pieces(n, costly(k) ? 4 : 1, PAR_ALIGN, unary_piece, &u))
        unary_run(k, dtype, n, x, y, a, b);
}

void kern_unary(kern_unary_kind k, tg_dtype dtype, int64_t n, const void *x, void *y, double a) {
    kern_unary2(k, dtype, n, x, y, a, 0.0);
}

/* ---- GELU with its derivative (kern_gelu_and_grad) ----
 * The plain loops compute exactly what gelu_f32/gelu_f64 and gelu_grad_f32/gelu_grad_f64
 * compute, sharing Phi. */
typedef struct gelu_job {
    tg_dtype dtype;
    const char *x;
    char *y, *d;
} gelu_job;

static void gelu_and_grad_run(tg_dtype dtype, int64_t n, const void *xv, void *yv, void *dv) {
    if (dtype == TG_F32) {
        const float *x = xv;
        float *y = yv, *d = dv;
        if (n > 0 && kern_vec_gelu_and_grad_f32(n, x, y, d)) return;
        for (int64_t i = 0; i < n; i++) {
            double xi = (double)x[i], p = phi_cdf_f64(xi);
            y[i] = (float)(xi * p);
            d[i] = (float)(p + xi * TG_INV_SQRT_2PI * exp(-0.5 * xi * xi));
        }
    } else {
        const double *x = xv;
        double *y = yv, *d = dv;
        for (int64_t i = 0; i < n; i++) {
            double p = phi_cdf_f64(x[i]);
            y[i] = x[i] * p;
            d[i] = p + x[i] * TG_INV_SQRT_2PI * exp(-0.5 * x[i] * x[i]);
        }
    }
}

static void gelu_and_grad_piece(void *ctx, int64_t begin, int64_t end) {
    const gelu_job *j = ctx;
    int64_t es = kern_elem_size(j->dtype);
    gelu_and_grad_run(j->dtype, end - begin, j->x + begin * es, j->y + begin * es,
                      j->d + begin * es);
}

void kern_gelu_and_grad(tg_dtype dtype, int64_t n, const void *x, void *y, void *d) {
    gelu_job j = {.dtype = dtype, .x = x, .y = y, .d = d};
    if (n < KERN_PIECES_AWAKE / 4 ||
        !kern_parallel_pieces(n, 4, PAR_ALIGN, gelu_and_grad_piece, &j))
        gelu_and_grad_run(dtype, n, x, y, d);
}

/* Columns per tile of a two-input loop in which an operand steps through memory with a stride
 * other than 0 or 1 along the rows (a transposed view): each tile of columns is done for every
 * row before the next, so the cache lines such an operand touches serve the rows that follow. */
enum { BINARY_TILE = 64 };

/* The loop over the coalesced shape (nd, sh) with strides st[0] (out), st[1] (a), st[2] (b). */
#define BINARY_LOOP(T, EXPR)                                                                   \
    do {                                                                                       \
        for (int64_t j0 = 0; j0 < inner; j0 += tile) {                                         \
            int64_t len = inner - j0 < tile ? inner - j0 : tile;                               \
            nd_iter it;                                                                        \
            nd_iter_init(&it, nd, sh);                                                         \
            do {                                                                               \
                T *o = (T *)out + nd_iter_offset(&it, st[0]) + j0;                             \
                const T *ra = (const T *)a + nd_iter_offset(&it, st[1]) + j0 * sa;             \
                const T *rb = (const T *)b + nd_iter_offset(&it, st[2]) + j0 * sb;             \
                for (int64_t i = 0; i < len; i++) {                                            \
                    T u = ra[i * sa], v = rb[i * sb];                                          \
                    o[i] = EXPR;                                                               \
                }                                                                              \
            } while (nd_iter_next(&it));                                                       \
        }                                                                                      \
    } while (0)

/* maximum/minimum return u when it is NaN (u != u) and v otherwise, so NaN propagates from
 * either side. */
#define BINARY_CASES(T, SFX)                                                                   \
    switch (k) {                                                                               \
    case KERN_ADD: BINARY_LOOP(T, u + v); break;                                               \
    case KERN_SUB: BINARY_LOOP(T, u - v); break;                                               \
    case KERN_MUL: BINARY_LOOP(T, u * v); break;                                               \
    case KERN_DIV: BINARY_LOOP(T, u / v); break;                                               \
    case KERN_POW: BINARY_LOOP(T, pow##SFX(u, v)); break;                                      \
    case KERN_MAXIMUM: BINARY_LOOP(T, (u > v || u != u) ? u : v); break;                       \
    case KERN_MINIMUM: BINARY_LOOP(T, (u < v || u != u) ? u : v); break;                       \
    case KERN_GT: BINARY_LOOP(T, u > v ? (T)1 : (T)0); break;                                  \
    case KERN_GE: BINARY_LOOP(T, u >= v ? (T)1 : (T)0); break;                                 \
    case KERN_LT: BINARY_LOOP(T, u < v ? (T)1 : (T)0); break;                                  \
    case KERN_LE: BINARY_LOOP(T, u <= v ? (T)1 : (T)0); break;                                 \
    case KERN_EQ: BINARY_LOOP(T, u == v ? (T)1 : (T)0); break;                                 \
    case KERN_NE: BINARY_LOOP(T, u != v ? (T)1 : (T)0); break;                                 \
    case KERN_PASS_IF_POSITIVE: BINARY_LOOP(T, v <= 0 ? (T)0 : u); break;                      \
    case KERN_MUL_GELU_GRAD: BINARY_LOOP(T, u * GELU_GRAD_##T(v)); break;                      \
    }

/* A two-input map over the coalesced shape (nd, sh) with strides st[0] (out), st[1] (a),
 * st[2] (b). */
typedef struct binary_job {
    kern_binary_kind k;
    tg_dtype dtype;
    int nd;
    int64_t sh[TG_MAX_DIMS], st[3][TG_MAX_DIMS];
    char *out;
    const char *a, *b;
} binary_job;

static void binary_run(const binary_job *j) {
    kern_binary_kind k = j->k;
    tg_dtype dtype = j->dtype;
    int nd = j->nd;
    const int64_t *sh = j->sh;
    const int64_t(*st)[TG_MAX_DIMS] = j->st;
    char *out = j->out;
    const char *a = j->a, *b = j->b;
    int64_t inner = nd ? sh[nd - 1] : 1;
    int64_t sa = nd ? st[1][nd - 1] : 0, sb = nd ? st[2][nd - 1] : 0;
    if (dtype == TG_F32 && (sa == 0 || sa == 1) && (sb == 0 || sb == 1) && (sa || sb)) {
        nd_iter it;
        nd_iter_init(&it, nd, sh);
        bool done = true;
        do {
            done = kern_vec_zip_f32(k, inner, (const float *)a + nd_iter_offset(&it, st[1]), sa,
                           (const float *)b + nd_iter_offset(&it, st[2]), sb,
                           (float *)out + nd_iter_offset(&it, st[0]));
        } while (done && nd_iter_next(&it));
        if (done) return;
    }
    bool strided = nd >= 2 && (sa > 1 || sa < 0 || sb > 1 || sb < 0);
    int64_t tile = strided ? BINARY_TILE : inner;
    if (dtype == TG_F32)
        BINARY_CASES(float, f)
    else
        BINARY_CASES(double, )
}

/* Elements [begin, end) of the outermost coalesced dimension. */
static void binary_piece(void *ctx, int64_t begin, int64_t end) {
    binary_job j = *(const binary_job *)ctx;
    int64_t es = kern_elem_size(j.dtype);
    j.out += begin * j.st[0][0] * es;
    j.a += begin * j.st[1][0] * es;
    j.b += begin * j.st[2][0] * es;
    j.sh[0] = end - begin;
    binary_run(&j);
}

/* Whether a and b are both laid out as out is (contiguous, the same shape), and how many
 * elements there are. */
static bool both_contiguous(int ndim, const int64_t *shape, const int64_t *as, const int64_t *bs,
                            int64_t *n) {
    int64_t s = 1;
    bool same = true;
    for (int d = ndim - 1; d >= 0; d--) {
        if (shape[d] != 1) same &= as[d] == s && bs[d] == s;
        s *= shape[d];
    }
    *n = s;
    return same;
}

void kern_binary(kern_binary_kind k, tg_dtype dtype, int ndim, const int64_t *shape, void *out,
                 const void *a, const int64_t *a_strides, const void *b,
                 const int64_t *b_strides) {
    int64_t n0;
    /* The common small case first, with none of the set-up below: it is most of the calls on
     * tiny tensors, where that set-up would cost more than the loop. */
    if (dtype == TG_F32 && both_contiguous(ndim, shape, a_strides, b_strides, &n0) &&
        n0 < KERN_PIECES_AWAKE && (n0 == 0 || kern_vec_zip_f32(k, n0, a, 1, b, 1, out)))
        return;
    binary_job j = {.k = k, .dtype = dtype, .out = out, .a = a, .b = b};
    int64_t n = 1;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] == 0) return;
        n *= shape[d];
        j.sh[d] = shape[d];
        j.st[1][d] = a_strides[d];
        j.st[2][d] = b_strides[d];
    }
    kern_contiguous_strides(ndim, shape, j.st[0]);
    j.nd = kern_coalesce(ndim, j.sh, 3, j.st);
    /* Threads take slices of the outermost dimension, each worth n / sh[0] elements. */
    bool pow_kind = k == KERN_POW || k == KERN_MUL_GELU_GRAD; /* costly per element */
    if (j.nd == 0 || !kern_parallel_pieces(j.sh[0], (n / j.sh[0]) * (pow_kind ? 4 : 1),
                                 j.nd == 1 ? PAR_ALIGN : 1, binary_piece, &j))
        binary_run(&j);
}

/* The select over the coalesced shape (nd, sh), strides st[0] out, st[1] mask, st[2] a, st[3] b. */
#define WHERE_LOOP(T)                                                                          \
    do {                                                                                       \
        do {                                                                                   \
            T *o = (T *)out + nd_iter_offset(&it, st[0]);                                      \
            const T *rm = (const T *)mask + nd_iter_offset(&it, st[1]);                        \
            const T *ra = (const T *)a + nd_iter_offset(&it, st[2]);                           \
            const T *rb = (const T *)b + nd_iter_offset(&it, st[3]);                           \
            if (dtype == TG_F32 && kern_vec_where_f32(it.inner, (const float *)rm, sm,         \
                                                      (const float *)ra, sa, (const float *)rb, \
                                                      sb, (float *)o))                         \
                continue;                                                                      \
            for (int64_t i = 0; i < it.inner; i++)                                             \
                o[i] = rm[i * sm] != 0 ? ra[i * sa] : rb[i * sb];                              \
        } while (nd_iter_next(&it));                                                           \
    } while (0)

void kern_where(tg_dtype dtype, int ndim, const int64_t *shape, void *out, const void *mask,
                const int64_t *m_strides, const void *a, const int64_t *a_strides, const void *b,
                const int64_t *b_strides) {
    int64_t sh[TG_MAX_DIMS], st[4][TG_MAX_DIMS];
    for (int d = 0; d < ndim; d++) {
        if (shape[d] == 0) return;
        sh[d] = shape[d];
        st[1][d] = m_strides[d];
        st[2][d] = a_strides[d];
        st[3][d] = b_strides[d];
    }
    kern_contiguous_strides(ndim, shape, st[0]);
    int nd = kern_coalesce(ndim, sh, 4, st);
    nd_iter it;
    nd_iter_init(&it, nd, sh);
    int64_t sm = nd ? st[1][nd - 1] : 0;
    int64_t sa = nd ? st[2][nd - 1] : 0, sb = nd ? st[3][nd - 1] : 0;
    if (dtype == TG_F32)
        WHERE_LOOP(float);
    else
        WHERE_LOOP(double);
}
