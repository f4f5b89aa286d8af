/* neon_util.h: small AArch64 NEON helpers the kernel templates share: loads and stores of a
 * vector's first lanes (NEON has no masked memory access; lanes past them are never touched,
 * so a run ending at the edge of a page cannot fault), and element gathers. Compiled only on
 * AArch64, where NEON is part of the baseline and needs no target attribute. */
#ifndef TG_KERN_NEON_UTIL_H
#define TG_KERN_NEON_UTIL_H

#include <arm_neon.h>
#include <stdint.h>

/* The first n (0 <= n <= 4) elements of p in the first lanes; the other lanes are 0. */
static inline float32x4_t kern_neon_load_first_f32(const float *p, int n) {
    if (n >= 4) return vld1q_f32(p);
    float t[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    for (int i = 0; i < n; i++) t[i] = p[i];
    return vld1q_f32(t);
}

/* The first n (0 <= n <= 4) lanes of v to p, nothing past them. */
static inline void kern_neon_store_first_f32(float *p, int n, float32x4_t v) {
    if (n >= 4) {
        vst1q_f32(p, v);
        return;
    }
    if (n & 2) {
        vst1_f32(p, vget_low_f32(v));
        p += 2;
        v = vextq_f32(v, v, 2);
    }
    if (n & 1) vst1q_lane_f32(p, v, 0);
}

static inline float64x2_t kern_neon_load_first_f64(const double *p, int n) {
    if (n >= 2) return vld1q_f64(p);
    return n == 1 ? vsetq_lane_f64(p[0], vdupq_n_f64(0.0), 0) : vdupq_n_f64(0.0);
}

static inline void kern_neon_store_first_f64(double *p, int n, float64x2_t v) {
    if (n >= 2)
        vst1q_f64(p, v);
    else if (n == 1)
        vst1q_lane_f64(p, v, 0);
}

/* x[c[0]], ..., x[c[lanes - 1]]: NEON has no gather instruction. */
static inline float32x4_t kern_neon_gather_f32(const float *x, const int32_t *c) {
    float t[4] = {x[c[0]], x[c[1]], x[c[2]], x[c[3]]};
    return vld1q_f32(t);
}

static inline float64x2_t kern_neon_gather_f64(const double *x, const int32_t *c) {
    double t[2] = {x[c[0]], x[c[1]]};
    return vld1q_f64(t);
}

#endif
