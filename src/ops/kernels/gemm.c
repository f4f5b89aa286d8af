/* gemm.c: the matrix product C = A B on strided operands: path choice, threading, packing and
 * the GotoBLAS/BLIS loop nest around the micro-kernels of gemm_{portable,avx2,avx512,neon}.c.
 *
 * Invariants: C is written, never accumulated into (K = 0 gives zeros); A and B are read only
 * through their strides (a transposed view costs no copy); nothing here fails: when packing
 * memory cannot be had, the direct kernel computes the same product without it. */
#include <stdatomic.h>
#include <string.h>

#include "alloc.h"
#include "cpu.h"
#include "gemm.h"
#include "kernels.h"
#include "threadpool.h"

/* Path choice (see choose_direct) and threading thresholds. Waking a sleeping worker costs
 * the caller a system call and the worker tens of microseconds, repaid from about 2^20
 * multiply-adds (20 us on one AVX-512 core); a worker still polling after the previous job
 * joins at once and helps from about 2^17. Measured: docs/benchmarks.md. */
#define DEFAULT_TUNING                                                                             \
    {                                                                                              \
        .path = GEMM_PATH_AUTO, .parallel_min = INT64_C(1) << 20,                                  \
        .parallel_awake_min = INT64_C(1) << 17                                                     \
    }
static gemm_tuning tuning = DEFAULT_TUNING;

gemm_tuning kern_gemm_default_tuning(void) { return (gemm_tuning)DEFAULT_TUNING; }

gemm_tuning kern_gemm_set_tuning(gemm_tuning t) {
    gemm_tuning old = tuning;
    tuning = t;
    return old;
}

static const gemm_impl *select_impl(tg_dtype dtype) {
    switch (kern_cpu_level()) {
#if defined(__x86_64__) || defined(__i386__)
    case TG_CPU_AVX512:
        return dtype == TG_F32 ? &gemm_avx512_f32 : &gemm_avx512_f64;
    case TG_CPU_AVX2:
        return dtype == TG_F32 ? &gemm_avx2_f32 : &gemm_avx2_f64;
#elif defined(__aarch64__)
    case TG_CPU_NEON:
        return dtype == TG_F32 ? &gemm_neon_f32 : &gemm_neon_f64;
#endif
    default:
        return dtype == TG_F32 ? &gemm_portable_f32 : &gemm_portable_f64;
    }
}

/* ---- packing (see gemm.h for the layouts) ---- */

/* Columns of a transposed A (a_rs = 1) are pieces of the rows of the matrix it is a view of,
 * a_cs apart: a few lines out of each row, which the hardware prefetchers, following
 * sequential runs within a page, do not fetch ahead: the LSTM's weight gradient dZ^T H
 * (512x2048x128) waited on L3 for every column. Each column's lines are asked for this many
 * columns ahead (with the C tile's prefetch, 65 -> 75 GFLOP/s on a Zen 3). */
#define PACK_A_AHEAD 8

/* A (m x kc, strided) into ceil(m/mr) panels of mr rows. With contiguous columns (A read
 * transposed, as in every weight gradient dZ^T X) the loop runs along A's columns, filling
 * every panel's step k in turn: one sequential read of each column, where panel by panel each
 * mr-element piece came from a different cache line, kc times over (a tenth of an LSTM step). */
/* Step k (column col) of every whole panel: mr consecutive floats each. */
#define PACK_A_PIECES(T, MR)                                                                       \
    for (int64_t i0 = 0; i0 < full; i0 += (MR)) {                                                  \
        memcpy(dst + i0 * kc + k * (MR), col + i0, (size_t)(MR) * sizeof(T));                     \
    }

#define PACK_A(T)                                                                                  \
    static void pack_a_##T(int64_t m, int64_t kc, const void *Av, int64_t a_rs, int64_t a_cs,      \
                           int mr, void *dstv) {                                                   \
        const T *A = Av;                                                                           \
        T *dst = dstv;                                                                             \
        if (a_rs == 1) {                                                                           \
            int64_t full = m / mr * mr; /* rows in whole panels */                                 \
            size_t bytes = (size_t)m * sizeof(T);                                                  \
            for (int64_t k = 0; k < kc; k++) {                                                     \
                const T *col = A + k * a_cs;                                                       \
                if (k + PACK_A_AHEAD < kc) {                                                       \
                    const char *ahead = (const char *)(col + PACK_A_AHEAD * a_cs);                 \
                    for (size_t b = 0; b < bytes; b += 64) __builtin_prefetch(ahead + b);          \
                    __builtin_prefetch(ahead + bytes - 1);                                         \
                }                                                                                  \
                /* Whole panels copy a constant count, which compiles to a few vector moves   \
                 * (a loop of unknown count per 6-row piece was an eighth of an AVX2 LSTM     \
                 * step); the micro-kernels' heights are the cases. */                         \
                switch (mr) {                                                                      \
                case 4: PACK_A_PIECES(T, 4); break;                                                \
                case 6: PACK_A_PIECES(T, 6); break;                                                \
                case 14: PACK_A_PIECES(T, 14); break;                                              \
                default: PACK_A_PIECES(T, mr); break;                                              \
                }                                                                                  \
                if (full < m) {                                                                    \
                    T *d = dst + full * kc + k * mr;                                               \
                    for (int r = 0; r < m - full; r++) d[r] = col[full + r];                       \
                    for (int r = (int)(m - full); r < mr; r++) d[r] = 0;                           \
                }                                                                                  \
            }                                                                                      \
            return;                                                                                \
        }                                                                                          \
        for (int64_t i0 = 0; i0 < m; i0 += mr, dst += mr * kc) {                                   \
            int rows = m - i0 < mr ? (int)(m - i0) : mr;                                           \
            const T *a = A + i0 * a_rs;                                                            \
            for (int r = 0; r < rows; r++) {                                                       \
                const T *src = a + r * a_rs;                                                       \
                if (a_cs == 1)                                                                     \
                    for (int64_t k = 0; k < kc; k++) dst[k * mr + r] = src[k];                     \
                else                                                                               \
                    for (int64_t k = 0; k < kc; k++) dst[k * mr + r] = src[k * a_cs];              \
            }                                                                                      \
            for (int r = rows; r < mr; r++)                                                        \
                for (int64_t k = 0; k < kc; k++) dst[k * mr + r] = 0;                              \
        }                                                                                          \
    }

/* B (kc x n, strided) into ceil(n/nr) panels of nr columns. With contiguous rows the loop runs
 * along B's rows, filling every panel's row k in turn: sequential reads, which the hardware
 * prefetches, where panel by panel each 32-element piece would come from a different page. */
#define PACK_B(T)                                                                                  \
    static void pack_b_##T(int64_t kc, int64_t n, const void *Bv, int64_t b_rs, int64_t b_cs,      \
                           int nr, void *dstv) {                                                   \
        const T *B = Bv;                                                                           \
        T *dst = dstv;                                                                             \
        if (b_cs == 1) {                                                                           \
            for (int64_t k = 0; k < kc; k++)                                                       \
                for (int64_t j0 = 0; j0 < n; j0 += nr) {                                           \
                    int cols = n - j0 < nr ? (int)(n - j0) : nr;                                   \
                    T *d = dst + j0 * kc + k * nr;                                                 \
                    memcpy(d, B + k * b_rs + j0, (size_t)cols * sizeof(T));                        \
                    for (int j = cols; j < nr; j++) d[j] = 0;                                      \
                }                                                                                  \
            return;                                                                                \
        }                                                                                          \
        for (int64_t j0 = 0; j0 < n; j0 += nr, dst += nr * kc) {                                   \
            int cols = n - j0 < nr ? (int)(n - j0) : nr;                                           \
            const T *b = B + j0 * b_cs;                                                            \
            for (int j = 0; j < cols; j++) {                                                       \
                const T *src = b + j * b_cs;                                                       \
                if (b_rs == 1)                                                                     \
                    for (int64_t k = 0; k < kc; k++) dst[k * nr + j] = src[k];                     \
                else                                                                               \
                    for (int64_t k = 0; k < kc; k++) dst[k * nr + j] = src[k * b_rs];              \
            }                                                                                      \
            for (int64_t k = 0; k < kc && cols < nr; k++)                                          \
                for (int j = cols; j < nr; j++) dst[k * nr + j] = 0;                               \
        }                                                                                          \
    }

/* The m x n corner of a full tile computed into `tile` (row stride nr), written or added to C. */
#define STORE_EDGE(T)                                                                              \
    static void store_edge_##T(int m, int n, const void *tilev, int nr, void *cv, int64_t ldc,     \
                               bool accumulate) {                                                  \
        const T *tile = tilev;                                                                     \
        T *c = cv;                                                                                 \
        for (int i = 0; i < m; i++)                                                                \
            for (int j = 0; j < n; j++)                                                            \
                c[i * ldc + j] =                                                                   \
                    accumulate ? c[i * ldc + j] + tile[i * nr + j] : tile[i * nr + j];             \
    }

/* A slice of B (kc x n, strided) copied row-major with row stride ld, for the direct kernels
 * that need contiguous rows of B. A transposed B is read down its contiguous columns in tiles
 * of 16 x 16, so that the strided writes of a tile share a few cache lines instead of evicting
 * each other (with n a power of two every row of the slice maps to the same few L1 sets). */
#define COPY_ROWS(T)                                                                               \
    static void copy_rows_##T(int64_t kc, int64_t n, const void *Bv, int64_t b_rs, int64_t b_cs,   \
                              void *dstv, int64_t ld) {                                            \
        const T *B = Bv;                                                                           \
        T *dst = dstv;                                                                             \
        if (b_cs == 1) {                                                                           \
            for (int64_t k = 0; k < kc; k++)                                                       \
                memcpy(dst + k * ld, B + k * b_rs, (size_t)n * sizeof(T));                         \
            return;                                                                                \
        }                                                                                          \
        if (b_rs != 1) {                                                                           \
            for (int64_t k = 0; k < kc; k++)                                                       \
                for (int64_t j = 0; j < n; j++) dst[k * ld + j] = B[k * b_rs + j * b_cs];          \
            return;                                                                                \
        }                                                                                          \
        for (int64_t j0 = 0; j0 < n; j0 += 16)                                                     \
            for (int64_t k0 = 0; k0 < kc; k0 += 16) {                                              \
                int64_t j1 = j0 + 16 < n ? j0 + 16 : n, k1 = k0 + 16 < kc ? k0 + 16 : kc;          \
                for (int64_t j = j0; j < j1; j++)                                                  \
                    for (int64_t k = k0; k < k1; k++) dst[k * ld + j] = B[j * b_cs + k];           \
            }                                                                                      \
    }

/* C's m x w corner from its transpose computed row-major (src: w x m), plus the bias's w
 * entries when there is one. */
#define STORE_TRANSPOSED(T)                                                                        \
    static void store_transposed_##T(int64_t m, int64_t w, const void *srcv, void *cv,             \
                                     int64_t ldc, const void *biasv) {                             \
        const T *src = srcv, *bias = biasv;                                                        \
        T *c = cv;                                                                                 \
        for (int64_t i = 0; i < m; i++)                                                            \
            for (int64_t r = 0; r < w; r++)                                                        \
                c[i * ldc + r] = bias ? src[r * m + i] + bias[r] : src[r * m + i];                 \
    }

/* C (m x n) += the bias's n entries on every row: the bias for the paths whose kernels do not
 * start from it (packed, dot form), one pass over C after the product. */
#define ADD_BIAS(T)                                                                                \
    static void add_bias_##T(int64_t m, int64_t n, const void *biasv, void *cv, int64_t ldc) {     \
        const T *bias = biasv;                                                                     \
        T *c = cv;                                                                                 \
        for (int64_t i = 0; i < m; i++)                                                            \
            for (int64_t j = 0; j < n; j++) c[i * ldc + j] += bias[j];                             \
    }

PACK_A(float)
PACK_A(double)
STORE_TRANSPOSED(float)
STORE_TRANSPOSED(double)
COPY_ROWS(float)
COPY_ROWS(double)
PACK_B(float)
PACK_B(double)
STORE_EDGE(float)
STORE_EDGE(double)
ADD_BIAS(float)
ADD_BIAS(double)

typedef struct gemm_typed {
    size_t es;
    void (*pack_a)(int64_t, int64_t, const void *, int64_t, int64_t, int, void *);
    void (*pack_b)(int64_t, int64_t, const void *, int64_t, int64_t, int, void *);
    void (*store_edge)(int, int, const void *, int, void *, int64_t, bool);
    void (*copy_rows)(int64_t, int64_t, const void *, int64_t, int64_t, void *, int64_t);
    gemm_direct_fn direct_portable;
    void (*store_transposed)(int64_t, int64_t, const void *, void *, int64_t, const void *);
    void (*add_bias)(int64_t, int64_t, const void *, void *, int64_t);
} gemm_typed;

static const gemm_typed typed_f32 = {sizeof(float),          pack_a_float,
                                     pack_b_float,           store_edge_float,
                                     copy_rows_float,        gemm_direct_portable_f32,
                                     store_transposed_float, add_bias_float};
static const gemm_typed typed_f64 = {sizeof(double),          pack_a_double,
                                     pack_b_double,           store_edge_double,
                                     copy_rows_double,        gemm_direct_portable_f64,
                                     store_transposed_double, add_bias_double};

/* ---- one product, split into blocks ---- */

/* Everything one product needs; a threaded product hands it to each task. */
/* The most ranges a product's direct path is cut into for threads. */
#define GEMM_MAX_TASKS 64

typedef struct gemm_problem {
    const gemm_typed *ty;
    const gemm_impl *impl;
    int64_t M, N, K;
    const char *A, *B; /* byte pointers */
    int64_t a_rs, a_cs, b_rs, b_cs;
    char *C;
    int64_t ldc;
    const char *bias; /* N entries added to every row of C, or NULL */
    bool direct;    /* the direct kernel, else packing */
    int64_t kc, nc; /* packed blocking for this K and N: balanced, at most the kernel's */
    char *packed_b; /* the packed path's B panel, shared by a team's ranks */
    bool split_n;   /* tasks take ranges of columns (else of rows) */
    int64_t unit;   /* task ranges are multiples of it */
    int64_t n_units, n_tasks;
    /* Task i takes units [first[i], first[i + 1]): shrinking ranges (plan_threads). */
    int64_t first[GEMM_MAX_TASKS + 1];
    bool one_thread; /* kern_gemm_one_thread: never post to the pool */
} gemm_problem;

static int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

/* The largest block of at most `cap` that splits `total` into equal parts, as a multiple of
 * `unit`: K = 400 with kc 384 becomes two blocks of 200 rather than 384 + 16. */
static int64_t balanced_block(int64_t total, int64_t cap, int64_t unit) {
    int64_t parts = ceil_div(total, cap);
    return min64(ceil_div(ceil_div(total, parts), unit) * unit, cap);
}

/* Byte offset of element (i, j) of a matrix with strides rs, cs. */
static int64_t at(const gemm_problem *p, int64_t i, int64_t j, int64_t rs, int64_t cs) {
    return (i * rs + j * cs) * (int64_t)p->ty->es;
}

/* ---- packing through the level's transposer where the copy is a transposition ---- */

static int clamp_rows(int64_t rows, int lanes) {
    return rows < 0 ? 0 : rows > lanes ? lanes : (int)rows;
}

/* A (m x kc, at A) into panels of mr rows; see gemm.h. */
static void pack_a(const gemm_problem *p, int64_t m, int64_t kc, const char *A, char *dst) {
    const gemm_impl *im = p->impl;
    int mr = im->packed.mr, tl = im->transpose_lanes;
    if (p->a_cs != 1 || !im->transpose) {
        p->ty->pack_a(m, kc, A, p->a_rs, p->a_cs, mr, dst);
        return;
    }
    for (int64_t i0 = 0; i0 < m; i0 += mr, dst += (size_t)(mr * kc) * p->ty->es)
        for (int g = 0; g < mr; g += tl) {
            int rows = clamp_rows(m - i0 - g, tl);
            im->transpose(rows ? A + at(p, i0 + g, 0, p->a_rs, 1) : A, p->a_rs, rows,
                          mr - g < tl ? mr - g : tl, kc, dst + (size_t)g * p->ty->es, mr);
        }
}

/* B (kc x n, at B) into panels of nr columns; see gemm.h. */
static void pack_b(const gemm_problem *p, int64_t kc, int64_t n, const char *B, char *dst) {
    const gemm_impl *im = p->impl;
    int nr = im->packed.nr, tl = im->transpose_lanes;
    if (p->b_rs != 1 || !im->transpose) {
        p->ty->pack_b(kc, n, B, p->b_rs, p->b_cs, nr, dst);
        return;
    }
    for (int64_t j0 = 0; j0 < n; j0 += nr, dst += (size_t)(nr * kc) * p->ty->es)
        for (int g = 0; g < nr; g += tl) {
            int cols = clamp_rows(n - j0 - g, tl);
            im->transpose(cols ? B + at(p, 0, j0 + g, 1, p->b_cs) : B, p->b_cs, cols,
                          nr - g < tl ? nr - g : tl, kc, dst + (size_t)g * p->ty->es, nr);
        }
}

/* The row stride of a copied slice of B n elements wide: whole cache lines, an odd number of
 * them. The direct kernel reads a block of columns down all kc rows once per tile of rows; with
 * rows a power of two of lines apart (n = 256 f32: 1 KiB) they all fall in a few of L1's 64
 * sets, and the block, a few KiB, was read from L2 again for every tile. */
static int64_t copy_stride(const gemm_problem *p, int64_t n) {
    int64_t per_line = 64 / (int64_t)p->ty->es, lines = ceil_div(n, per_line);
    return (lines | 1) * per_line;
}

/* A slice of B (kc x n, at B) copied row-major with row stride ld, for direct kernels that need
 * contiguous rows of B. */
static void copy_rows(const gemm_problem *p, int64_t kc, int64_t n, const char *B, char *dst,
                      int64_t ld) {
    const gemm_impl *im = p->impl;
    int tl = im->transpose_lanes;
    if (p->b_rs != 1 || !im->transpose) {
        p->ty->copy_rows(kc, n, B, p->b_rs, p->b_cs, dst, ld);
        return;
    }
    for (int64_t j0 = 0; j0 < n; j0 += tl) {
        int w = clamp_rows(n - j0, tl);
        im->transpose(B + at(p, 0, j0, 1, p->b_cs), p->b_cs, w, w, kc, dst + (size_t)j0 * p->ty->es,
                      ld);
    }
}

/* The macro-kernel: C (mc x nc block, row stride ldc) = or += packed A block x packed B
 * panel over kc. Each B micro-panel meets every A micro-panel of the block; edge tiles are
 * computed whole into a buffer and only their valid part stored. */
static void macro_kernel(const gemm_problem *p, const char *Ap, const char *Bp, int64_t mc,
                         int64_t nc, int64_t kc, char *C, bool accumulate) {
    const gemm_kernel *k = &p->impl->packed;
    const size_t es = p->ty->es;
    _Alignas(64) char tile[GEMM_MAX_TILE_BYTES];
    for (int64_t jr = 0; jr < nc; jr += k->nr) {
        int n_eff = (int)min64(nc - jr, k->nr);
        const char *bp = Bp + (size_t)(jr * kc) * es;
        for (int64_t ir = 0; ir < mc; ir += k->mr) {
            int m_eff = (int)min64(mc - ir, k->mr);
            const char *ap = Ap + (size_t)(ir * kc) * es;
            char *c = C + at(p, ir, jr, p->ldc, 1);
            if (m_eff == k->mr && n_eff == k->nr) {
                k->ukr(kc, ap, bp, c, p->ldc, accumulate);
            } else {
                k->ukr(kc, ap, bp, tile, k->nr, false);
                p->ty->store_edge(m_eff, n_eff, tile, k->nr, c, p->ldc, accumulate);
            }
        }
    }
}

/* The packed product (GotoBLAS loop nest) shared by a team. The product runs in phases, one
 * per panel of B (kc x nc); in each, the team first packs the panel, a few micro-panels per
 * claim, then multiplies it by blocks of A's rows (mc rows, each packed by the member that
 * claimed it into its own scratch), a block per claim. Members claim work from counters and
 * wait only for work already claimed (all of the panel packed before multiplying, every block
 * done before the next panel overwrites it), never for a member that has not arrived: one
 * descheduled on a busy machine holds up the others for at most one claim, and a member that
 * arrives late finds the work done. Nothing is packed twice. */
typedef struct packed_phase {
    _Atomic int64_t b_next, b_done; /* claims of B micro-panel groups, and those finished */
    _Atomic int64_t t_next, t_done; /* claims of row blocks, and those finished */
} packed_phase;

#define PACKED_PHASES_ON_STACK 64
#define PANELS_PER_CLAIM       4

typedef struct packed_team_ctx {
    const gemm_problem *p;
    int64_t mc;           /* the most rows of any block: a multiple of mr */
    int64_t n_blocks;     /* blocks of rows, of whole micro-panels, as equal as can be */
    int64_t n_pc;         /* phases per panel column: ceil(K / kc) */
    packed_phase *phases; /* one per phase, zeroed */
    bool reuse_phase;     /* one member only: phases[0] serves every phase, reset each time */
} packed_team_ctx;

static void wait_count(_Atomic int64_t *count, int64_t want) {
    for (int i = 0; atomic_load_explicit(count, memory_order_acquire) < want; i++)
        kern_cpu_relax(i);
}

static void packed_member(void *ctx, int rank, int n_ranks) {
    (void)rank, (void)n_ranks; /* work is claimed, not assigned */
    packed_team_ctx *tc = ctx;
    const gemm_problem *p = tc->p;
    const gemm_kernel *k = &p->impl->packed;
    const size_t es = p->ty->es;
    int64_t n_blocks = tc->n_blocks, panels = ceil_div(p->M, k->mr);
    char *Ap = NULL;
    bool tried = false;
    for (int64_t jc = 0, jci = 0; jc < p->N; jc += p->nc, jci++) {
        int64_t nc = min64(p->N - jc, p->nc);
        int64_t n_panels = ceil_div(nc, k->nr), n_claims = ceil_div(n_panels, PANELS_PER_CLAIM);
        for (int64_t pc = 0, pci = 0; pc < p->K; pc += p->kc, pci++) {
            int64_t kc = min64(p->K - pc, p->kc);
            packed_phase *ph = tc->phases;
            if (tc->reuse_phase)
                *ph = (packed_phase){0};
            else
                ph += jci * tc->n_pc + pci;
            for (int64_t c; (c = atomic_fetch_add(&ph->b_next, 1)) < n_claims;) {
                int64_t q0 = c * PANELS_PER_CLAIM, q1 = min64(q0 + PANELS_PER_CLAIM, n_panels);
                pack_b(p, kc, min64(nc, q1 * k->nr) - q0 * k->nr,
                       p->B + at(p, pc, jc + q0 * k->nr, p->b_rs, p->b_cs),
                       p->packed_b + (size_t)(q0 * k->nr * kc) * es);
                atomic_fetch_add_explicit(&ph->b_done, 1, memory_order_release);
            }
            wait_count(&ph->b_done, n_claims);
            for (int64_t t; (t = atomic_fetch_add(&ph->t_next, 1)) < n_blocks;) {
                /* Block t: micro-panels [t P / n, (t + 1) P / n) of the P = ceil(M / mr). */
                int64_t ic = t * panels / n_blocks * k->mr;
                int64_t m = min64(p->M, (t + 1) * panels / n_blocks * k->mr) - ic;
                const char *A = p->A + at(p, ic, pc, p->a_rs, p->a_cs);
                char *C = p->C + at(p, ic, jc, p->ldc, 1);
                if (!tried) { /* the first block this member takes: its A scratch */
                    Ap = kern_scratch(0, (size_t)(tc->mc * p->kc) * es);
                    tried = true;
                }
                if (Ap) {
                    pack_a(p, m, kc, A, Ap);
                    macro_kernel(p, Ap, p->packed_b, m, nc, kc, C, pc > 0);
                } else { /* no memory for packing A: the same rows by the portable loop */
                    p->ty->direct_portable(m, nc, kc, A, p->a_rs, p->a_cs,
                                           p->B + at(p, pc, jc, p->b_rs, p->b_cs), p->b_rs, p->b_cs,
                                           C, p->ldc, pc > 0, NULL);
                }
                atomic_fetch_add_explicit(&ph->t_done, 1, memory_order_release);
            }
            wait_count(&ph->t_done, n_blocks);
        }
    }
}

/* The direct product of a sub-rectangle, in slices of K. A kernel that needs contiguous rows of
 * B gets each slice copied so when B's are not, at most DIRECT_COPY_COLS columns at a time so
 * that the buffer stays a few MiB whatever N is. False (nothing written) without memory. */
#define DIRECT_COPY_COLS 2048

/* Whether B's rows, contiguous but read in place, would stay in L1 only if copied: the direct
 * kernel streams a block of direct_nr columns down a slice's rows once per tile of rows, which
 * repays from L1 when the block fits in half of it (16 KiB: AVX2's and NEON's 16 floats x 256
 * rows; not AVX-512's 32 x 256, which streams from L2 either way) and its rows spread over
 * L1's sets. Rows a multiple of 128 bytes apart (N = 128 or 256 f32) fall in at most 32 of
 * the 64 sets: on a Zen 3 (AVX2), 256x256x128 ran at 86-90 GFLOP/s against 94-96 for N = 136,
 * and at 97 copied; 64x784x256 80 -> 88. Copying costs a pass over the slice, repaid from a
 * few tiles' rows (m). */
#define L1_BLOCK_BYTES 16384

static bool copy_conflicting_b(const gemm_problem *p, int64_t m, int64_t slice) {
    const gemm_impl *im = p->impl;
    int64_t row = p->b_rs * (int64_t)p->ty->es;
    row = row < 0 ? -row : row;
    return im->direct_unit_b && p->b_cs == 1 && row % 128 == 0 && m >= 8 * im->direct_mr &&
           im->direct_nr * (int64_t)p->ty->es * slice <= L1_BLOCK_BYTES;
}

static bool direct_block(const gemm_problem *p, int64_t m0, int64_t m, int64_t n0, int64_t n) {
    const gemm_impl *im = p->impl;
    /* Equal slices: K = 784 as 4 x 196, not 3 x 256 + 16, whose short last slice cost a whole
     * pass over C (loads, stores, a call per tile) for 2% of the multiply-adds. */
    int64_t slice = balanced_block(p->K, im->direct_kc, 1);
    bool must_copy = im->direct_unit_b && p->b_cs != 1;
    bool copy = must_copy || copy_conflicting_b(p, m, slice);
    int64_t chunk = copy ? min64(n, DIRECT_COPY_COLS) : n, ld = copy_stride(p, chunk);
    char *buf = NULL;
    if (copy && !(buf = kern_scratch(1, (size_t)(slice * ld) * p->ty->es))) {
        if (must_copy) return false;
        copy = false, chunk = n; /* read in place after all */
    }
    for (int64_t j0 = n0; j0 < n0 + n; j0 += chunk) {
        int64_t w = min64(n0 + n - j0, chunk);
        const char *A = p->A + at(p, m0, 0, p->a_rs, p->a_cs);
        char *C = p->C + at(p, m0, j0, p->ldc, 1);
        /* The first slice of K starts from the bias, the later ones add to C. */
        const char *bias = p->bias ? p->bias + at(p, 0, j0, 0, 1) : NULL;
        for (int64_t k0 = 0; k0 < p->K; k0 += slice) {
            int64_t kc = min64(p->K - k0, slice);
            const char *B = p->B + at(p, k0, j0, p->b_rs, p->b_cs);
            const char *a = A + at(p, 0, k0, p->a_rs, p->a_cs);
            if (copy) {
                copy_rows(p, kc, w, B, buf, ld);
                im->direct(m, w, kc, a, p->a_rs, p->a_cs, buf, ld, 1, C, p->ldc, k0 > 0, bias);
            } else {
                im->direct(m, w, kc, a, p->a_rs, p->a_cs, B, p->b_rs, p->b_cs, C, p->ldc, k0 > 0,
                           bias);
            }
        }
    }
    return true;
}

/* The last w < lanes columns of a sub-rectangle when A is read transposed (a_rs = 1), as in
 * the weight gradients dZ^T X: a masked vector tile would spend a whole vector's work per row
 * on them (for N = 65, a fifth of the product for 1/65 of it). Their transpose, w x m =
 * B_tail^T A^T, has A^T's contiguous rows as its B and only w rows, so the direct kernel runs
 * it at full vector width into a buffer, stored transposed. False (nothing written) without
 * memory. */
static bool direct_tail_transposed(const gemm_problem *p, int64_t m0, int64_t m, int64_t n0,
                                   int64_t w) {
    char *buf = kern_scratch(0, (size_t)(w * m) * p->ty->es);
    if (!buf) return false;
    gemm_problem q = *p;
    q.M = w, q.N = m;
    q.A = p->B + at(p, 0, n0, p->b_rs, p->b_cs), q.a_rs = p->b_cs, q.a_cs = p->b_rs;
    q.B = p->A + at(p, m0, 0, p->a_rs, p->a_cs), q.b_rs = p->a_cs, q.b_cs = 1;
    q.C = buf, q.ldc = m, q.bias = NULL;
    if (!direct_block(&q, 0, w, 0, m)) return false;
    p->ty->store_transposed(m, w, buf, p->C + at(p, m0, n0, p->ldc, 1), p->ldc,
                            p->bias ? p->bias + at(p, 0, n0, 0, 1) : NULL);
    return true;
}

/* One sub-rectangle by the direct path; with no memory for it, by the portable loop. */
static void run_block(const gemm_problem *p, int64_t m0, int64_t m, int64_t n0, int64_t n) {
    int lanes = p->impl->direct_lanes;
    int64_t w = lanes && p->a_rs == 1 && m >= 2 * lanes ? n % lanes : 0; /* n0: whole vectors */
    if (w && n > w && direct_block(p, m0, m, n0, n - w) &&
        direct_tail_transposed(p, m0, m, n0 + n - w, w))
        return;
    if (direct_block(p, m0, m, n0, n)) return;
    p->ty->direct_portable(m, n, p->K, p->A + at(p, m0, 0, p->a_rs, p->a_cs), p->a_rs, p->a_cs,
                           p->B + at(p, 0, n0, p->b_rs, p->b_cs), p->b_rs, p->b_cs,
                           p->C + at(p, m0, n0, p->ldc, 1), p->ldc, false,
                           p->bias ? p->bias + at(p, 0, n0, 0, 1) : NULL);
}

static void gemm_task(void *ctx, int64_t task) {
    const gemm_problem *p = ctx;
    int64_t u0 = p->first[task], u1 = p->first[task + 1];
    int64_t lo = u0 * p->unit, hi = min64(u1 * p->unit, p->split_n ? p->N : p->M);
    if (lo >= hi) return;
    if (p->split_n)
        run_block(p, 0, p->M, lo, hi - lo);
    else
        run_block(p, lo, hi - lo, 0, p->N);
}

/* How evenly `total` splits into n_tasks ranges of whole units: the ideal share over the
 * largest range actually given, in (0, 1]. */
static double split_balance(int64_t total, int64_t unit, int64_t n_tasks) {
    int64_t units = ceil_div(total, unit);
    if (units < n_tasks) return (double)units / (double)n_tasks;
    int64_t largest = min64(ceil_div(units, n_tasks) * unit, total);
    return ((double)total / (double)n_tasks) / (double)largest;
}

static int64_t threads_for(const gemm_problem *p) { return p->one_thread ? 1 : kern_threads(); }

/* Decides the threads for the direct path: ranges of columns (each task then reads all of A)
 * or of rows (all of B), whichever balances better over the threads; on a tie the one that
 * repeats less. */

static void plan_threads(gemm_problem *p, int64_t unit_m, int64_t unit_n) {
    p->n_tasks = 1;
    p->split_n = true;
    p->unit = unit_n;
    p->n_units = ceil_div(p->N, p->unit);
    int64_t t = threads_for(p);
    if (t <= 1 || p->M * p->N * p->K < tuning.parallel_awake_min) return;
    double bn = split_balance(p->N, unit_n, t), bm = split_balance(p->M, unit_m, t);
    p->split_n = bn > bm || (bn == bm && p->M <= p->N);
    p->unit = p->split_n ? unit_n : unit_m;
    p->n_units = ceil_div(p->split_n ? p->N : p->M, p->unit);
    /* Ranges claimed in turn, each an (2t)-th of the units not yet given out, down to one
     * unit: a thread the machine runs slower (another process on its core, or a worker that
     * joins late) then just claims fewer, and the last ranges being the smallest, whoever
     * takes the last one keeps the others waiting for one unit at most. No range is below a
     * (GEMM_MAX_TASKS / 2)-th of the units, so that many threads cannot make too many. */
    int64_t least = ceil_div(p->n_units, GEMM_MAX_TASKS / 2);
    p->n_tasks = 0;
    for (int64_t u = 0; u < p->n_units; p->n_tasks++) {
        int64_t left = p->n_units - u, size = ceil_div(left, 2 * t);
        size = size < least ? least : size;
        if (size > left || p->n_tasks == GEMM_MAX_TASKS - 1) size = left;
        p->first[p->n_tasks] = u;
        u += size;
    }
    p->first[p->n_tasks] = p->n_units;
}

/* Which path is faster was measured over M, N in 32..1024 and K in 128..2048 (AVX-512 and
 * AVX2, docs/benchmarks.md). The direct kernel wins up to about 2^26 multiply-adds in f32
 * (2^24 in f64), where packing costs more than it saves, and whenever N <= 64, where the
 * packed tiles would be mostly padding; beyond, B's rows streamed in place start to miss in
 * L1 and the packed path wins by up to 30%. The portable direct loop (i-k-j) is only worth it
 * for small products. */
#define DIRECT_BELOW_F32    (INT64_C(1) << 26)
#define DIRECT_BELOW_F64    (INT64_C(1) << 24)
#define DIRECT_MAX_NARROW_N 64

static bool choose_direct(const gemm_problem *p) {
    if (tuning.path == GEMM_PATH_PACKED || tuning.path == GEMM_PATH_DIRECT)
        return tuning.path == GEMM_PATH_DIRECT;
    int64_t work = p->M * p->N * p->K;
    if (!p->impl->direct_unit_b) return work < 32 * 32 * 32;
    /* With A read transposed, N's last partial vector is computed transposed at full width
     * (run_block), so one vector past 64 columns still suits the direct path: the LSTM's
     * input-weight gradient dZ^T X, 512x2048x65 with A transposed, ran at 53-56 GFLOP/s
     * packed (the last of five 16-column panels holding one column) and 65 direct on a Zen 3
     * (AVX2, under load); at AVX-512 the packed tiles would be 65 of 96 columns. */
    int64_t narrow = DIRECT_MAX_NARROW_N + (p->a_rs == 1 ? p->impl->direct_lanes : 0);
    return work < (p->ty->es == sizeof(float) ? DIRECT_BELOW_F32 : DIRECT_BELOW_F64) ||
           p->N <= narrow;
}

/* ---- the dot form (gemm.h): small C, long K, A's rows and B's columns contiguous ---- */

/* K runs of 16 KiB per row: a tile's DOT_ROWS + DOT_COLS runs stay in L1 and a block of rows
 * of A in L2 while the columns of B pass over it. */
#define DOT_SLICE_BYTES 16384
/* Where the dot form beats copying B into rows for the direct kernel (measured with AVX-512
 * over M, N in 6..2048 and K in 128..50,176): from K = 512, for C under 4096 entries or with
 * at most 16 rows or columns (6 x 25 over 50,176: 25 -> 73 GFLOP/s; 128 x 16 over 2048: 32
 * -> 80). With a shorter K, summing each entry's lanes costs more than it saves, and with a
 * larger C the direct kernel's tiles are full and reuse each load of B more. */
#define DOT_MIN_K      512
#define DOT_BELOW_MN   4096
#define DOT_MAX_NARROW 16

static bool choose_dot(const gemm_problem *p) {
    if (!p->impl->dot || p->a_cs != 1 || p->b_rs != 1) return false;
    if (tuning.path == GEMM_PATH_DOT) return true;
    return tuning.path == GEMM_PATH_AUTO && p->K >= DOT_MIN_K &&
           (p->M * p->N < DOT_BELOW_MN || p->M <= DOT_MAX_NARROW || p->N <= DOT_MAX_NARROW);
}

/* K is split between tasks: task 0 writes C, task t >= 1 its own M x N block of `parts`,
 * which the caller then adds into C in task order (so a given thread count always gives the
 * same sums). */
typedef struct dot_ctx {
    const gemm_problem *p;
    int64_t n_tasks;
    char *parts;
} dot_ctx;

static void dot_range(const gemm_problem *p, int64_t k0, int64_t k1, char *C, int64_t ldc) {
    int64_t kc = DOT_SLICE_BYTES / (int64_t)p->ty->es;
    for (int64_t k = k0; k < k1; k += kc)
        p->impl->dot(p->M, p->N, min64(kc, k1 - k), p->A + at(p, 0, k, p->a_rs, 1), p->a_rs,
                     p->B + at(p, k, 0, 1, p->b_cs), p->b_cs, C, ldc, k > k0);
}

static void dot_task(void *ctx, int64_t task) {
    const dot_ctx *d = ctx;
    const gemm_problem *p = d->p;
    /* Ranges in multiples of 64 elements (whole cache lines when the runs are aligned). */
    int64_t units = ceil_div(p->K, 64);
    int64_t k0 = min64(task * units / d->n_tasks * 64, p->K);
    int64_t k1 = min64((task + 1) * units / d->n_tasks * 64, p->K);
    if (task == 0) {
        if (k0 < k1)
            dot_range(p, k0, k1, p->C, p->ldc);
        else /* nothing to add up: C must still be written */
            for (int64_t i = 0; i < p->M; i++)
                memset(p->C + at(p, i, 0, p->ldc, 1), 0, (size_t)p->N * p->ty->es);
        return;
    }
    char *part = d->parts + (size_t)((task - 1) * p->M * p->N) * p->ty->es;
    if (k0 < k1)
        dot_range(p, k0, k1, part, p->N);
    else
        memset(part, 0, (size_t)(p->M * p->N) * p->ty->es);
}

#define ADD_PARTS(T)                                                                               \
    static void add_parts_##T(const gemm_problem *p, int64_t n_parts, const void *partsv) {        \
        const T *parts = partsv;                                                                   \
        T *C = (T *)p->C;                                                                          \
        for (int64_t t = 0; t < n_parts; t++, parts += p->M * p->N)                                \
            for (int64_t i = 0; i < p->M; i++)                                                     \
                for (int64_t j = 0; j < p->N; j++) C[i * p->ldc + j] += parts[i * p->N + j];       \
    }
ADD_PARTS(float)
ADD_PARTS(double)

static void run_dot(const gemm_problem *p) {
    dot_ctx d = {.p = p, .n_tasks = 1};
    int64_t t = threads_for(p), work = p->M * p->N * p->K;
    if (t > 1 && work >= tuning.parallel_awake_min) {
        /* A few ranges per thread, claimed in turn, none shorter than a slice. */
        d.n_tasks = min64(2 * t, ceil_div(p->K, DOT_SLICE_BYTES / (int64_t)p->ty->es));
        if (d.n_tasks > 1)
            d.parts = kern_scratch(1, (size_t)((d.n_tasks - 1) * p->M * p->N) * p->ty->es);
        if (!d.parts) d.n_tasks = 1;
    }
    if (d.n_tasks == 1) {
        dot_task(&d, 0);
        return;
    }
    if (work >= tuning.parallel_min)
        kern_parallel_for(d.n_tasks, (int)t, dot_task, &d);
    else
        kern_parallel_for_if_awake(d.n_tasks, (int)t, dot_task, &d);
    if (p->ty->es == sizeof(float))
        add_parts_float(p, d.n_tasks - 1, d.parts);
    else
        add_parts_double(p, d.n_tasks - 1, d.parts);
}

/* The packed and dot paths add the bias in a pass of their own after the product. */
static void run_packed(gemm_problem *p);

/* whole_M x whole_N: the product whose part this is (kern_gemm_part_one_thread), which the
 * path is chosen for; M x N otherwise. */
static void gemm_run(tg_dtype dtype, int64_t M, int64_t N, int64_t K, const void *A,
                     int64_t a_rs, int64_t a_cs, const void *B, int64_t b_rs, int64_t b_cs,
                     void *C, int64_t ldc, const void *bias, bool one_thread, int64_t whole_M,
                     int64_t whole_N) {
    if (M <= 0 || N <= 0) return;
    const gemm_typed *ty = dtype == TG_F32 ? &typed_f32 : &typed_f64;
    if (K <= 0) {
        for (int64_t i = 0; i < M; i++) {
            char *row = (char *)C + i * ldc * (int64_t)ty->es;
            if (bias)
                memcpy(row, bias, (size_t)N * ty->es);
            else
                memset(row, 0, (size_t)N * ty->es);
        }
        return;
    }
    /* Field by field, not a zeroing initialiser: the attention's products are many small
     * calls, and zeroing the whole struct (rep stos) was most of this function's own time
     * (its share of the transformer step's samples: 2.1% -> 1.3%, under load). */
    gemm_problem p;
    p.ty = ty, p.impl = select_impl(dtype);
    p.M = M, p.N = N, p.K = K;
    p.A = A, p.B = B, p.a_rs = a_rs, p.a_cs = a_cs, p.b_rs = b_rs, p.b_cs = b_cs;
    p.C = C, p.ldc = ldc, p.bias = bias;
    p.direct = false, p.kc = p.nc = 0, p.packed_b = NULL;
    p.split_n = false, p.unit = p.n_units = 0, p.n_tasks = 1;
    p.one_thread = one_thread;
    p.M = whole_M, p.N = whole_N;
    bool dot = choose_dot(&p), direct = !dot && choose_direct(&p);
    p.M = M, p.N = N;
    if (dot) {
        run_dot(&p);
        if (bias) ty->add_bias(M, N, bias, C, ldc);
        return;
    }
    p.direct = direct;
    if (p.direct) {
        bool wake = M * N * K >= tuning.parallel_min;
        plan_threads(&p, p.impl->direct_mr, p.impl->direct_nr);
        if (p.n_tasks > 1 && wake)
            kern_parallel_for(p.n_tasks, (int)p.n_tasks, gemm_task, &p);
        else if (p.n_tasks > 1)
            kern_parallel_for_if_awake(p.n_tasks, (int)p.n_tasks, gemm_task, &p);
        else
            run_block(&p, 0, M, 0, N);
        return;
    }
    run_packed(&p);
}

static void run_packed(gemm_problem *pp) {
    gemm_problem p = *pp;
    int64_t M = p.M, N = p.N, K = p.K;
    bool wake = M * N * K >= tuning.parallel_min;
    const gemm_kernel *k = &p.impl->packed;
    p.kc = balanced_block(K, k->kc, 1);
    p.nc = balanced_block(N, k->nc, k->nr);
    p.packed_b = kern_scratch(1, (size_t)(ceil_div(p.nc, k->nr) * k->nr * p.kc) * p.ty->es);
    if (!p.packed_b) {
        run_block(&p, 0, M, 0, N); /* starts from the bias itself */
        return;
    }
    p.bias = NULL; /* added below, after the product */
    /* Blocks of at most mc rows, and with threads at least three per thread and a multiple of
     * the thread count, of equal numbers of micro-panels (give or take one): 1024 rows as 9
     * blocks of 114 kept one of 2 threads busy for a fifth block while the other waited, at
     * 80% of two cores' peak. */
    int64_t threads = threads_for(&p) > 1 && wake ? threads_for(&p) : 1;
    int64_t panels = ceil_div(M, k->mr), n_blocks = ceil_div(panels, k->mc / k->mr);
    if (threads > 1) {
        n_blocks = n_blocks > 3 * threads ? n_blocks : 3 * threads;
        n_blocks = min64(ceil_div(n_blocks, threads) * threads, panels);
    }
    packed_team_ctx tc = {
        .p = &p, .mc = ceil_div(panels, n_blocks) * k->mr, .n_blocks = n_blocks};
    tc.n_pc = ceil_div(K, p.kc);
    int64_t n_phases = ceil_div(N, p.nc) * tc.n_pc;
    packed_phase on_stack[PACKED_PHASES_ON_STACK] = {0};
    tc.phases = on_stack;
    if (threads > 1 && n_phases > PACKED_PHASES_ON_STACK) {
        tc.phases = tg_alloc((size_t)n_phases * sizeof *tc.phases);
        if (tc.phases)
            for (int64_t i = 0; i < n_phases; i++) tc.phases[i] = (packed_phase){0};
    }
    if (threads > 1 && tc.phases) {
        kern_parallel_team((int)threads, packed_member, &tc);
    } else {
        tc.phases = on_stack;
        tc.reuse_phase = n_phases > PACKED_PHASES_ON_STACK;
        packed_member(&tc, 0, 1);
    }
    if (tc.phases != on_stack) tg_free(tc.phases);
    if (pp->bias) p.ty->add_bias(M, N, pp->bias, p.C, p.ldc);
}

void kern_gemm(tg_dtype dtype, int64_t M, int64_t N, int64_t K, const void *A, int64_t a_rs,
               int64_t a_cs, const void *B, int64_t b_rs, int64_t b_cs, void *C, int64_t ldc) {
    gemm_run(dtype, M, N, K, A, a_rs, a_cs, B, b_rs, b_cs, C, ldc, NULL, false, M, N);
}

void kern_gemm_bias(tg_dtype dtype, int64_t M, int64_t N, int64_t K, const void *A, int64_t a_rs,
                    int64_t a_cs, const void *B, int64_t b_rs, int64_t b_cs, void *C, int64_t ldc,
                    const void *bias) {
    gemm_run(dtype, M, N, K, A, a_rs, a_cs, B, b_rs, b_cs, C, ldc, bias, false, M, N);
}

void kern_gemm_one_thread(tg_dtype dtype, int64_t M, int64_t N, int64_t K, const void *A,
                          int64_t a_rs, int64_t a_cs, const void *B, int64_t b_rs, int64_t b_cs,
                          void *C, int64_t ldc) {
    gemm_run(dtype, M, N, K, A, a_rs, a_cs, B, b_rs, b_cs, C, ldc, NULL, true, M, N);
}

void kern_gemm_part_one_thread(tg_dtype dtype, int64_t whole_M, int64_t whole_N, int64_t M,
                               int64_t N, int64_t K, const void *A, int64_t a_rs, int64_t a_cs,
                               const void *B, int64_t b_rs, int64_t b_cs, void *C, int64_t ldc) {
    gemm_run(dtype, M, N, K, A, a_rs, a_cs, B, b_rs, b_cs, C, ldc, NULL, true, whole_M, whole_N);
}
