/* cpu.c: run-time detection of AVX2/FMA and AVX-512, and the forced level (TG_CPU or
 * tg_set_cpu_level). On x86-64 the library is built for the baseline; only functions marked
 * with a target attribute use wider instructions, and they are reached only through this
 * check. On AArch64, NEON (Advanced SIMD) is part of the baseline, so the neon level is always
 * there and only TG_CPU=portable (or tg_set_cpu_level) can turn it off. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "cpu.h"

static pthread_once_t detect_once = PTHREAD_ONCE_INIT;
static tg_cpu_level best_level = TG_CPU_PORTABLE;
static atomic_int level_in_effect = TG_CPU_PORTABLE;

static tg_cpu_level detect(void) {
#if defined(__x86_64__) || defined(__i386__)
    /* libgcc's checks include the OS having enabled the wide register state (XCR0), so a
     * kernel's registers are saved across context switches when this says yes. */
    __builtin_cpu_init();
    bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    bool avx512 = avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq");
    return avx512 ? TG_CPU_AVX512 : avx2 ? TG_CPU_AVX2 : TG_CPU_PORTABLE;
#elif defined(__aarch64__)
    return TG_CPU_NEON;
#else
    return TG_CPU_PORTABLE;
#endif
}

/* The level to use when `level` is asked for: itself when this machine runs it, portable for
 * anything below, otherwise the best this machine has (a level above it, out of the enum, or
 * of the other architecture, whose kernels are not even compiled in). */
static tg_cpu_level clamp(int level) {
    if (level <= TG_CPU_PORTABLE) return TG_CPU_PORTABLE;
#if defined(__aarch64__)
    return best_level;
#else
    return level > (int)best_level ? best_level : (tg_cpu_level)level;
#endif
}

static void init(void) {
    best_level = detect();
    tg_cpu_level want = best_level;
    /* An unknown name is ignored rather than reported: library code does not print (S4.3). */
    const char *env = getenv("TG_CPU");
    if (env && strcmp(env, "portable") == 0) want = TG_CPU_PORTABLE;
    if (env && strcmp(env, "avx2") == 0) want = TG_CPU_AVX2;
    if (env && strcmp(env, "avx512") == 0) want = TG_CPU_AVX512;
    if (env && strcmp(env, "neon") == 0) want = TG_CPU_NEON;
    atomic_store(&level_in_effect, (int)clamp((int)want));
}

tg_cpu_level kern_cpu_level(void) {
    pthread_once(&detect_once, init);
    return (tg_cpu_level)atomic_load_explicit(&level_in_effect, memory_order_relaxed);
}

tg_cpu_level kern_cpu_best(void) {
    pthread_once(&detect_once, init);
    return best_level;
}

tg_cpu_level kern_cpu_set_level(tg_cpu_level level) {
    pthread_once(&detect_once, init);
    tg_cpu_level l = clamp((int)level);
    atomic_store(&level_in_effect, (int)l);
    return l;
}
