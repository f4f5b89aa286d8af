/* spmm.c: the sparse products' driver: picks the kernels of the CPU level in effect, and shares
 * a product's rows between the pool's threads in runs of about equal nonzero counts (pruned
 * layers keep very different numbers of weights per row). Also the portable kernels, the
 * spmm_simd.h template with one-element "vectors".
 *
 * Each row of a result is computed by one thread alone in a fixed order, so the result is the
 * same bits on any number of threads. */
#include "spmm.h"

#include "cpu.h"
#include "threadpool.h"

#define TARGET
#define VLOAD(p)         (*(p))
#define VSTORE(p, v)     (*(p) = (v))
#define VSET1(v)         (v)
#define VFMA(a, b, c)    ((a) * (b) + (c))
#define VADD(a, b)       ((a) + (b))
#define VHSUM(v)         (v)
#define VLOADN(p, n)     ((void)(n), *(p))
#define VSTOREN(p, n, v) ((void)(n), *(p) = (v))
#define VGATHER(x, c)    ((x)[*(c)])
#define VL               1

#define T        float
#define V        float
#define VZERO()  0.0f
#define FN(name) name##_portable_f32
#include "spmm_simd.h"
#undef T
#undef V
#undef VZERO
#undef FN

#define T        double
#define V        double
#define VZERO()  0.0
#define FN(name) name##_portable_f64
#include "spmm_simd.h"

static const spmm_impl *impl_for(tg_dtype dtype) {
    bool f32 = dtype == TG_F32;
#if defined(__x86_64__) || defined(__i386__)
    switch (kern_cpu_level()) {
    case TG_CPU_AVX512: return f32 ? &spmm_avx512_f32 : &spmm_avx512_f64;
    case TG_CPU_AVX2: return f32 ? &spmm_avx2_f32 : &spmm_avx2_f64;
    default: break;
    }
#elif defined(__aarch64__)
    if (kern_cpu_level() == TG_CPU_NEON) return f32 ? &spmm_neon_f32 : &spmm_neon_f64;
#endif
    return f32 ? &spmm_portable_f32 : &spmm_portable_f64;
}

typedef struct sparse_job {
    const spmm_impl *impl;
    const kern_csr *a;
    bool sddmm;
    int64_t n_tasks, n;
    const void *val, *x, *q;
    void *y, *out_val;
    int64_t ldx, ldy, ldq;
} sparse_job;

/* The first row whose entries start at or after the share `part / parts` of all entries. */
static int64_t row_at_share(const kern_csr *a, int64_t part, int64_t parts) {
    int64_t target = a->nnz * part / parts, lo = 0, hi = a->rows;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (a->row_ptr[mid] < target)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void sparse_task(void *ctx, int64_t task) {
    const sparse_job *j = ctx;
    int64_t r0 = task == 0 ? 0 : row_at_share(j->a, task, j->n_tasks);
    int64_t r1 = task == j->n_tasks - 1 ? j->a->rows : row_at_share(j->a, task + 1, j->n_tasks);
    if (r0 >= r1) return;
    if (j->sddmm)
        j->impl->sddmm(j->a, r0, r1, j->n, j->x, j->ldx, j->q, j->ldq, j->out_val);
    else
        j->impl->spmm(j->a, r0, r1, j->val, j->n, j->x, j->ldx, j->y, j->ldy);
}

/* Rows with no entries still need their zeros in spmm, so the work counts rows as well. */
static void run(sparse_job *j) {
    int64_t work = (j->a->nnz + j->a->rows) * (j->n > 0 ? j->n : 1);
    int threads = kern_threads();
    if (threads < 2 || j->a->rows < 2 || work < KERN_PIECES_AWAKE) {
        j->n_tasks = 1;
        sparse_task(j, 0);
        return;
    }
    j->n_tasks = threads;
    if (work >= KERN_PIECES_WAKE)
        kern_parallel_for(j->n_tasks, threads, sparse_task, j);
    else
        kern_parallel_for_if_awake(j->n_tasks, threads, sparse_task, j);
}

void kern_spmm(tg_dtype dtype, const kern_csr *a, const void *val, int64_t n, const void *x,
               int64_t ldx, void *y, int64_t ldy) {
    if (a->rows == 0 || n == 0) return;
    sparse_job j = {.impl = impl_for(dtype), .a = a, .n = n, .val = val, .x = x, .ldx = ldx,
                    .y = y, .ldy = ldy};
    run(&j);
}

void kern_sddmm(tg_dtype dtype, const kern_csr *a, int64_t n, const void *p, int64_t ldp,
                const void *q, int64_t ldq, void *val) {
    if (a->nnz == 0) return;
    sparse_job j = {.impl = impl_for(dtype), .a = a, .sddmm = true, .n = n, .x = p, .ldx = ldp,
                    .q = q, .ldq = ldq, .out_val = val};
    run(&j);
}
