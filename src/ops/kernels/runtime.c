/* runtime.c: the public runtime knobs (tapegrad/runtime.h), thin wrappers over the thread pool
 * (threadpool.c) and the CPU dispatch (cpu.c), which keep the actual state. */
#include "cpu.h"
#include "threadpool.h"

int tg_set_threads(int n) { return kern_set_threads(n); }

int tg_get_threads(void) { return kern_threads(); }

tg_cpu_level tg_set_cpu_level(tg_cpu_level level) { return kern_cpu_set_level(level); }

tg_cpu_level tg_get_cpu_level(void) { return kern_cpu_level(); }

tg_cpu_level tg_cpu_best_level(void) { return kern_cpu_best(); }

const char *tg_cpu_level_name(tg_cpu_level level) {
    switch (level) {
    case TG_CPU_PORTABLE:
        return "portable";
    case TG_CPU_AVX2:
        return "avx2";
    case TG_CPU_AVX512:
        return "avx512";
    case TG_CPU_NEON:
        return "neon";
    }
    return "?";
}
