/* binmm.c: the packed binary products' driver: picks the kernels of the CPU level in effect and
 * shares the outputs between the pool's threads; also the portable kernels (the reference the
 * tests hold the SIMD forms to) and the f64 loops, which the gradient checks use.
 *
 * Each output is computed by one thread alone, in a fixed order, so a result is the same bits on
 * any number of threads. */
#include "binmm.h"

#include <stdatomic.h>

#include "alloc.h"
#include "cpu.h"
#include "threadpool.h"

static int popcount32(uint32_t v) {
    v = v - ((v >> 1) & 0x55555555u);
    v = (v & 0x33333333u) + ((v >> 2) & 0x33333333u);
    return (int)((((v + (v >> 4)) & 0x0f0f0f0fu) * 0x01010101u) >> 24);
}

static void binmm_rows_portable(const kern_bits *w, int64_t o0, int64_t o1, int64_t n,
                                const float *x, int64_t ldx, float *y, int64_t ldy) {
    for (int64_t b = 0; b < n; b++) {
        const float *xb = x + b * ldx;
        float sx = 0;
        for (int64_t j = 0; j < w->cols; j++) sx += xb[j];
        for (int64_t o = o0; o < o1; o++) {
            const uint32_t *wo = w->bits + o * w->words;
            /* a multiply by the bit, not a branch: the bits are as good as random */
            float s1 = 0;
            for (int64_t j = 0; j < w->cols; j++)
                s1 += xb[j] * (float)(wo[j >> 5] >> (j & 31) & 1u);
            y[b * ldy + o] = w->scale[o] * (2 * s1 - sx);
        }
    }
}

static void binxnor_rows_portable(const kern_bits *w, int64_t o0, int64_t o1, int64_t n,
                                  const uint32_t *a, float *y, int64_t ldy) {
    for (int64_t b = 0; b < n; b++) {
        const uint32_t *ab = a + b * w->words;
        for (int64_t o = o0; o < o1; o++) {
            const uint32_t *wo = w->bits + o * w->words;
            int64_t differ = 0;
            for (int64_t k = 0; k < w->words; k++) differ += popcount32(ab[k] ^ wo[k]);
            y[b * ldy + o] = w->scale[o] * (float)(w->cols - 2 * differ);
        }
    }
}

static void binpack_rows_portable(int64_t n, int64_t cols, const float *x, int64_t ldx,
                                  uint32_t *a) {
    int64_t words = (cols + 31) / 32;
    for (int64_t b = 0; b < n; b++) {
        const float *xb = x + b * ldx;
        uint32_t *ab = a + b * words;
        for (int64_t k = 0; k < words; k++) ab[k] = 0;
        for (int64_t j = 0; j < cols; j++) ab[j >> 5] |= (uint32_t)(xb[j] >= 0) << (j & 31);
    }
}

static void binmm_transpose_portable(int64_t G, int64_t live, int64_t cols, int64_t cols_pad,
                                     const float *x, int64_t ldx, float *xg, float *sx) {
    for (int64_t l = 0; l < G; l++) {
        float s = 0;
        for (int64_t j = 0; j < (l < live ? cols : 0); j++) {
            xg[j * G + l] = x[l * ldx + j];
            s += x[l * ldx + j];
        }
        for (int64_t j = l < live ? cols : 0; j < cols_pad; j++) xg[j * G + l] = 0.0f;
        sx[l] = s;
    }
}

static void binmm_store_group_portable(const kern_bits *w, int64_t o0, int64_t o1, int64_t G,
                                       int64_t live, const float *acc, const float *sx, float *y,
                                       int64_t ldy) {
    for (int64_t l = 0; l < live; l++)
        for (int64_t o = o0; o < o1; o++)
            y[l * ldy + o] = w->scale[o] * (2 * acc[(o - o0) * G + l] - sx[l]);
}

#define STORE_GROUP binmm_store_group_portable
#define TARGET
#include "simd_scalar.h"
#define NB       1
#define FN(name) name##_portable
#include "binmm_lut.h"
#define NB       4
#define FN(name) name##_wide_portable
#include "binmm_lut.h"
#undef STORE_GROUP
#undef TARGET
#include "simd_reset.h"

const binmm_impl binmm_portable = {"portable",
                                   binmm_rows_portable,
                                   binxnor_rows_portable,
                                   binpack_rows_portable,
                                   binmm_lut_portable,
                                   binmm_lut_wide_portable,
                                   binmm_transpose_portable,
                                   1,
                                   4};

static atomic_bool no_vpopcnt;

void kern_binmm_force_no_vpopcnt(bool on) { atomic_store(&no_vpopcnt, on); }

const binmm_impl *kern_binmm_impl(void) {
#if defined(__x86_64__) || defined(__i386__)
    switch (kern_cpu_level()) {
    case TG_CPU_AVX512:
        return !atomic_load(&no_vpopcnt) && __builtin_cpu_supports("avx512vpopcntdq")
                   ? &binmm_avx512
                   : &binmm_avx512_nopopcnt;
    case TG_CPU_AVX2:
        return &binmm_avx2;
    default: /* portable */
        break;
    }
#elif defined(__aarch64__)
    if (kern_cpu_level() == TG_CPU_NEON) return &binmm_neon;
#endif
    return &binmm_portable;
}

/* ---- f64: the gradient checks' loops ---- */

static void binmm_f64(const kern_bits *w, int64_t o0, int64_t o1, int64_t n, const double *x,
                      int64_t ldx, double *y, int64_t ldy) {
    for (int64_t b = 0; b < n; b++)
        for (int64_t o = o0; o < o1; o++) {
            const uint32_t *wo = w->bits + o * w->words;
            double s = 0;
            for (int64_t j = 0; j < w->cols; j++)
                s += (wo[j >> 5] >> (j & 31) & 1u) ? x[b * ldx + j] : -x[b * ldx + j];
            y[b * ldy + o] = (double)w->scale[o] * s;
        }
}

static void binxnor_f64(const kern_bits *w, int64_t n, const uint32_t *a, double *y, int64_t ldy) {
    for (int64_t b = 0; b < n; b++)
        for (int64_t o = 0; o < w->rows; o++) {
            int64_t differ = 0;
            for (int64_t k = 0; k < w->words; k++)
                differ += popcount32(a[b * w->words + k] ^ w->bits[o * w->words + k]);
            y[b * ldy + o] = (double)w->scale[o] * (double)(w->cols - 2 * differ);
        }
}

/* ---- the driver ---- */

typedef struct bin_job {
    const binmm_impl *impl;
    const kern_bits *w;
    int64_t n_tasks, n, ldx, ldy;
    const void *x;
    const uint32_t *a;
    void *y;
    bool xnor, f64;
    /* the table-lookup form, when it runs: groups of G batch rows; by_groups shares the groups
     * between the tasks (each transposes its own rows, keeps its own acc of rows * G floats),
     * otherwise the outputs (xt filled before) */
    binmm_lut_fn lut;
    int64_t G, n_groups;
    bool by_groups;
    float *xt, *sx, *acc;
} bin_job;

/* The rows of batch groups [g0, g1) transposed for the table lookups: column j of group g at
 * xt[(g * cols_pad + j) * G + lane], zero past the columns and the batch; and their sums. */
static void transpose_groups(const bin_job *j, int64_t g0, int64_t g1) {
    int64_t G = j->G, cols_pad = 32 * j->w->words;
    for (int64_t g = g0; g < g1; g++) {
        int64_t live = j->n - g * G < G ? j->n - g * G : G;
        j->impl->transpose(G, live, j->w->cols, cols_pad, (const float *)j->x + g * G * j->ldx,
                           j->ldx, j->xt + g * cols_pad * G, j->sx + g * G);
    }
}

static void bin_task(void *ctx, int64_t task) {
    const bin_job *j = ctx;
    int64_t rows = j->w->rows;
    if (j->lut && j->by_groups) {
        int64_t g0 = j->n_groups * task / j->n_tasks, g1 = j->n_groups * (task + 1) / j->n_tasks;
        if (g0 >= g1) return;
        transpose_groups(j, g0, g1);
        j->lut(j->w, 0, rows, g0, g1, j->n, j->xt, j->sx, j->acc + task * rows * j->G, j->y,
               j->ldy);
        return;
    }
    int64_t o0 = rows * task / j->n_tasks, o1 = rows * (task + 1) / j->n_tasks;
    if (o0 >= o1) return;
    if (j->f64)
        binmm_f64(j->w, o0, o1, j->n, j->x, j->ldx, j->y, j->ldy);
    else if (j->lut)
        j->lut(j->w, o0, o1, 0, j->n_groups, j->n, j->xt, j->sx, j->acc + o0 * j->G, j->y, j->ldy);
    else if (j->xnor)
        j->impl->xnor(j->w, o0, o1, j->n, j->a, j->y, j->ldy);
    else
        j->impl->binmm(j->w, o0, o1, j->n, j->x, j->ldx, j->y, j->ldy);
}

/* How many tasks a job of `work` runs: 1 below the sharing threshold, else one per thread. */
static int task_count(int64_t work) {
    int threads = kern_threads();
    return threads < 2 || work < KERN_PIECES_AWAKE ? 1 : threads;
}

static void run(bin_job *j, int64_t work) {
    if (j->n_tasks == 1) {
        bin_task(j, 0);
        return;
    }
    if (work >= KERN_PIECES_WAKE)
        kern_parallel_for(j->n_tasks, (int)j->n_tasks, bin_task, j);
    else
        kern_parallel_for_if_awake(j->n_tasks, (int)j->n_tasks, bin_task, j);
}

/* The whole sign-select product on the given kernels (kern_binmm on the level's). */
void kern_binmm_with(const binmm_impl *impl, tg_dtype dtype, const kern_bits *w, int64_t n,
                     const void *x, int64_t ldx, void *y, int64_t ldy) {
    if (w->rows == 0 || n == 0) return;
    bin_job j = {.impl = impl,
                 .w = w,
                 .n = n,
                 .x = x,
                 .ldx = ldx,
                 .y = y,
                 .ldy = ldy,
                 .f64 = dtype == TG_F64};
    int64_t work = w->rows * w->cols / 4 * n;
    int tasks = task_count(work);
    j.n_tasks = w->rows < 2 ? 1 : tasks;
    /* A batch of at least half a vector of rows runs the table lookups (the portable kernels,
     * one row a "vector", always do: a quarter of the adds and no branch on a bit), in groups
     * of several vectors when the batch fills more than one, whose scratch comes from the
     * allocator; without it (or for fewer rows) the sign-select adds run row by row. With
     * enough groups the threads share groups rather than outputs: each builds only its own
     * groups' tables and transposes only its own rows. */
    void *scratch = NULL;
    int lanes = impl->lanes;
    if (!j.f64 && w->words > 0 && (lanes == 1 || (n >= (lanes + 1) / 2 && n >= 2))) {
        bool wide = n > lanes && impl->lut_wide;
        j.G = wide ? (int64_t)impl->wide_nb * lanes : lanes;
        j.n_groups = (n + j.G - 1) / j.G;
        j.by_groups = tasks > 1 && j.n_groups >= tasks;
        if (j.by_groups) j.n_tasks = tasks;
        int64_t n_pad = j.n_groups * j.G;
        size_t floats = (size_t)(n_pad * 32 * w->words + n_pad + tasks * w->rows * j.G);
        scratch = tg_alloc(floats * sizeof(float));
        if (scratch) {
            j.lut = wide ? impl->lut_wide : impl->lut;
            j.xt = scratch, j.sx = j.xt + n_pad * 32 * w->words, j.acc = j.sx + n_pad;
            if (!j.by_groups) transpose_groups(&j, 0, j.n_groups);
        }
    }
    run(&j, work);
    tg_free(scratch);
}

void kern_binmm(tg_dtype dtype, const kern_bits *w, int64_t n, const void *x, int64_t ldx, void *y,
                int64_t ldy) {
    kern_binmm_with(kern_binmm_impl(), dtype, w, n, x, ldx, y, ldy);
}

void kern_binxnor(tg_dtype dtype, const kern_bits *w, int64_t n, const uint32_t *a, void *y,
                  int64_t ldy) {
    if (w->rows == 0 || n == 0) return;
    if (dtype == TG_F64) {
        binxnor_f64(w, n, a, y, ldy);
        return;
    }
    bin_job j = {
        .impl = kern_binmm_impl(), .w = w, .n = n, .a = a, .y = y, .ldy = ldy, .xnor = true};
    j.n_tasks = w->rows < 2 ? 1 : task_count(w->rows * w->words * n);
    run(&j, w->rows * w->words * n);
}

void kern_binpack_rows(tg_dtype dtype, int64_t n, int64_t cols, const void *x, int64_t ldx,
                       uint32_t *a) {
    if (dtype == TG_F32) {
        kern_binmm_impl()->pack(n, cols, x, ldx, a);
        return;
    }
    int64_t words = (cols + 31) / 32;
    for (int64_t b = 0; b < n; b++) {
        const double *xb = (const double *)x + b * ldx;
        for (int64_t k = 0; k < words; k++) a[b * words + k] = 0;
        for (int64_t j = 0; j < cols; j++)
            a[b * words + (j >> 5)] |= (uint32_t)(xb[j] >= 0) << (j & 31);
    }
}

void kern_binmm_t(tg_dtype dtype, const kern_bits *w, int64_t n, const void *g, int64_t ldg,
                  void *x, int64_t ldx) {
    for (int64_t b = 0; b < n; b++)
        for (int64_t j = 0; j < w->cols; j++) {
            double s = 0;
            for (int64_t o = 0; o < w->rows; o++) {
                double gv = dtype == TG_F64 ? ((const double *)g)[b * ldg + o]
                                            : (double)((const float *)g)[b * ldg + o];
                double v = gv * (double)w->scale[o];
                s += (w->bits[o * w->words + (j >> 5)] >> (j & 31) & 1u) ? v : -v;
            }
            if (dtype == TG_F64)
                ((double *)x)[b * ldx + j] = s;
            else
                ((float *)x)[b * ldx + j] = (float)s;
        }
}
