/* fma_peak.c: the single-core peak of fused multiply-adds on this machine, f32 and f64, with
 * 512-bit and 256-bit vectors: the ceiling against which bench/run reports GEMM efficiency.
 *
 * Twelve independent accumulator chains (more than FMA latency x throughput on current x86
 * cores) run a fixed number of iterations; the best of 40 short runs counts. x86-64 only; the
 * levels the CPU lacks are skipped. Never part of the test run. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <time.h>

#if defined(__x86_64__)
#include <immintrin.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* One body per vector type; the loops over chains are unrolled so that the accumulators live
 * in registers, and the result is returned so that nothing is optimised away. */
#define PEAK(NAME, TARGET, V, SET1, FMA, ADD, LANES, T)                                            \
    __attribute__((target(TARGET))) static double NAME(long iters) {                               \
        V b = SET1((T)1.0000001), c = SET1((T)1e-7), a[12];                                        \
        _Pragma("GCC unroll 12") for (int j = 0; j < 12; j++) a[j] = SET1((T)j);                   \
        for (long i = 0; i < iters; i++) {                                                         \
            _Pragma("GCC unroll 12") for (int j = 0; j < 12; j++) a[j] = FMA(a[j], b, c);          \
        }                                                                                          \
        V s = a[0];                                                                                \
        _Pragma("GCC unroll 12") for (int j = 1; j < 12; j++) s = ADD(s, a[j]);                    \
        T out[LANES];                                                                              \
        __builtin_memcpy(out, &s, sizeof out);                                                     \
        return (double)out[0];                                                                     \
    }

PEAK(peak_512_f32, "avx512f", __m512, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_add_ps, 16, float)
PEAK(peak_512_f64, "avx512f", __m512d, _mm512_set1_pd, _mm512_fmadd_pd, _mm512_add_pd, 8, double)
PEAK(peak_256_f32, "avx2,fma", __m256, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_add_ps, 8, float)
PEAK(peak_256_f64, "avx2,fma", __m256d, _mm256_set1_pd, _mm256_fmadd_pd, _mm256_add_pd, 4, double)

/* Best of many short runs: a run the scheduler or another tenant interrupts only loses. */
static void run(const char *name, double (*f)(long), int lanes) {
    long iters = 2000000;
    double best = 1e30, sink = 0;
    for (int r = 0; r < 40; r++) {
        double t = now();
        sink += f(iters);
        t = now() - t;
        if (t < best) best = t;
    }
    printf("%s peak_gflops=%.1f (check %g)\n", name, 2.0 * 12 * lanes * (double)iters / best * 1e-9,
           sink);
}

int main(void) {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) {
        run("avx512 f32", peak_512_f32, 16);
        run("avx512 f64", peak_512_f64, 8);
    } else {
        printf("avx512: not supported, skipped\n");
    }
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        run("avx2 f32", peak_256_f32, 8);
        run("avx2 f64", peak_256_f64, 4);
    } else {
        printf("avx2: not supported, skipped\n");
    }
    return 0;
}
#else
int main(void) {
    printf("fma_peak: x86-64 only\n");
    return 0;
}
#endif
