/* attn.c: the driver of the fused causal-attention kernels (attn.h): picks the level's kernels,
 * shares the (batch, head) items between the pool's threads, each with its own scratch block,
 * and holds the portable instances of the template (f32 and f64, on scalars). */
#include "attn.h"

#include <math.h>
#include <stdatomic.h>

#include "cpu.h"
#include "threadpool.h"

/* The portable instances: the template on one-lane "vectors" (simd_scalar.h), with libm's
 * exponential. */
#include "simd_scalar.h"
#define ATTN_LEVEL kern_attn_portable_f32
#define TARGET
#define FN(name)   attn_##name##_portable_f32
#define VSUB(a, b) ((a) - (b))
#define VMUL(a, b) ((a) * (b))
#define VDIV(a, b) ((a) / (b))
#define VMAX(a, b) ((a) > (b) ? (a) : (b))
#define VHMAX(x)   (x)
#define VEXP       expf
#define A_ROWS     4
#define A_VECS     1
#define B_VECS     1
#include "attn_simd.h"

#define SIMD_F64
#include "simd_scalar.h"
#define ATTN_LEVEL kern_attn_portable_f64
#define TARGET
#define FN(name)   attn_##name##_portable_f64
#define VSUB(a, b) ((a) - (b))
#define VMUL(a, b) ((a) * (b))
#define VDIV(a, b) ((a) / (b))
#define VMAX(a, b) ((a) > (b) ? (a) : (b))
#define VHMAX(x)   (x)
#define VEXP       exp
#define A_ROWS     4
#define A_VECS     1
#define B_VECS     1
#include "attn_simd.h"
#undef SIMD_F64

static const kern_attn_level *level_of(tg_cpu_level level, tg_dtype dtype) {
    if (dtype != TG_F32) return &kern_attn_portable_f64;
#if defined(__x86_64__) || defined(__i386__)
    if (level == TG_CPU_AVX512) return &kern_attn_avx512_f32;
    if (level == TG_CPU_AVX2) return &kern_attn_avx2_f32;
#elif defined(__aarch64__)
    if (level == TG_CPU_NEON) return &kern_attn_neon_f32;
#endif
    (void)level;
    return &kern_attn_portable_f32;
}

typedef struct attn_run {
    const kern_attn *job;
    void (*item)(const kern_attn *, int64_t, void *);
    size_t bytes;       /* one thread's scratch block */
    atomic_bool failed; /* some thread's scratch could not be had */
} attn_run;

static void item_task(void *ctx, int64_t b) {
    attn_run *r = ctx;
    void *scratch = kern_scratch(0, r->bytes);
    if (!scratch) {
        atomic_store(&r->failed, true);
        return;
    }
    r->item(r->job, b, scratch);
}

static bool run(tg_cpu_level level, tg_dtype dtype, const kern_attn *j, bool backward) {
    const kern_attn_level *lk = level_of(level, dtype);
    attn_run r = {j, backward ? lk->backward_item : lk->forward_item,
                  (size_t)lk->scratch_elems(j->n_t, j->D) * tg_dtype_size(dtype), false};
    if (j->n_items > 1 && kern_threads() > 1)
        kern_parallel_for(j->n_items, kern_threads(), item_task, &r);
    else
        for (int64_t b = 0; b < j->n_items; b++) item_task(&r, b);
    return !atomic_load(&r.failed);
}

bool kern_attn_forward(tg_dtype dtype, const kern_attn *j) {
    return run(kern_cpu_level(), dtype, j, false);
}

bool kern_attn_backward(tg_dtype dtype, const kern_attn *j) {
    return run(kern_cpu_level(), dtype, j, true);
}
