/* tapegrad/runtime.h: process-wide knobs for how the kernels run: the number of threads and the
 * instruction set the CPU-specific kernels use.
 *
 * Both settings are global to the process (like OpenBLAS's or PyTorch's thread count), safe to
 * change from any thread, and take effect for the next operation. Defaults: 1 thread unless the
 * environment variable TG_THREADS is set (0 or a negative number means one per online CPU);
 * the best instruction set the CPU supports unless TG_CPU=portable|avx2|avx512|neon asks for
 * another.
 * Both variables are read once, at the first use.
 *
 *     #include <tapegrad.h>
 *
 *     int main(void) {
 *         tg_set_threads(0);                          // one thread per online CPU
 *         tg_cpu_level l = tg_set_cpu_level(TG_CPU_AVX2);
 *         printf("%d threads, %s kernels\n", tg_get_threads(), tg_cpu_level_name(l));
 *         return 0;
 *     }
 */
#ifndef TAPEGRAD_RUNTIME_H
#define TAPEGRAD_RUNTIME_H

#include "tapegrad/base.h"

#ifdef __cplusplus
extern "C" {
#endif

TG_PUBLIC_BEGIN

/* Instruction-set levels for the CPU-specific kernels. On x86-64 they rise in order: each
 * level's kernels need the CPU features named (checked at run time, never assumed at build
 * time). On AArch64 the levels are portable and neon, which every AArch64 CPU has. */
typedef enum tg_cpu_level {
    TG_CPU_PORTABLE = 0, /* plain C, runs anywhere */
    TG_CPU_AVX2 = 1,     /* x86-64 with AVX2 and FMA */
    TG_CPU_AVX512 = 2,   /* x86-64 with AVX-512 F and DQ (and AVX2, FMA) */
    TG_CPU_NEON = 3      /* AArch64 Advanced SIMD (NEON), part of every AArch64 CPU */
} tg_cpu_level;

/* Sets the number of threads products and other parallel kernels may use (the calling thread
 * counts as one). n <= 0 means one per online CPU; very large n is capped at 256. Returns the
 * number now in effect. Operations too small to repay waking a thread run on the calling
 * thread (sharing only with a thread still awake from a larger one). Calls from several
 * threads are safe; an operation already running finishes with its old count. */
int tg_set_threads(int n);
/* The number of threads in effect (>= 1). */
int tg_get_threads(void);

/* Chooses the kernels' instruction set. A level the CPU lacks is lowered to the best it has
 * (values out of the enum's range are clamped too), and a level of the other architecture
 * (TG_CPU_NEON on x86-64, TG_CPU_AVX2 or TG_CPU_AVX512 on AArch64) gives the best this machine
 * has, so the call never fails; it returns the level now in effect, which tells the caller
 * whether it got what it asked for. Passing TG_CPU_AVX512 returns to the best the machine
 * supports on either architecture. TG_CPU in the environment follows the same rules. */
tg_cpu_level tg_set_cpu_level(tg_cpu_level level);
/* The level in effect. */
tg_cpu_level tg_get_cpu_level(void);
/* The best level this CPU (and operating system) supports, whatever is in effect. */
tg_cpu_level tg_cpu_best_level(void);
/* "portable", "avx2", "avx512" or "neon"; "?" for a value outside the enum. A constant string. */
const char *tg_cpu_level_name(tg_cpu_level level);

TG_PUBLIC_END

#ifdef __cplusplus
}
#endif
#endif
