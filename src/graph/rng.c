/* rng.c: PCG32 and the normal distribution, identical on every machine.
 *
 * Only integer arithmetic and IEEE-754 double operations that are exactly rounded (+, -, *, /,
 * sqrt) are used; the logarithm the polar method needs is computed here rather than by libm,
 * whose last bits differ between implementations. */
#include <math.h>

#include "graph.h"

#define PCG_MULT 6364136223846793005ULL

void tg_rng_seed(tg_rng *r, uint64_t seed) {
    if (!r) return;
    r->state = 0;
    r->inc = (seed << 1u) | 1u;
    (void)tg_rng_next_u32(r);
    r->state += 0x853c49e6748fea9bULL ^ seed;
    (void)tg_rng_next_u32(r);
    r->has_spare = false;
    r->spare = 0;
}

/* A NULL generator draws 0 or NaN (see rng.h): never a crash, and never a plausible number. */
uint32_t tg_rng_next_u32(tg_rng *r) {
    if (!r) return 0;
    uint64_t old = r->state;
    r->state = old * PCG_MULT + r->inc;
    uint32_t xorshifted = (uint32_t)(((old >> 18u) ^ old) >> 27u);
    uint32_t rot = (uint32_t)(old >> 59u);
    return (xorshifted >> rot) | (xorshifted << ((-rot) & 31u));
}

double tg_rng_uniform(tg_rng *r) {
    if (!r) return NAN;
    uint64_t hi = tg_rng_next_u32(r) >> 5; /* 27 bits */
    uint64_t lo = tg_rng_next_u32(r) >> 6; /* 26 bits */
    return (double)(hi * 67108864ULL + lo) * (1.0 / 9007199254740992.0);
}

uint64_t tg_rng_below(tg_rng *r, uint64_t n) {
    if (n == 0 || !r) return 0;
    /* Rejection on 64-bit draws: the accepted range is a multiple of n. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    for (;;) {
        /* Two statements: the operands of | are unsequenced, and the order must not depend
         * on the compiler. */
        uint64_t v = (uint64_t)tg_rng_next_u32(r) << 32;
        v |= tg_rng_next_u32(r);
        if (v < limit) return v % n;
    }
}

/* ln(x) for x > 0 with exactly rounded operations only: x = m 2^e with m in [sqrt(1/2),
 * sqrt(2)), ln m = 2 atanh(s) = 2 (s + s^3/3 + s^5/5 + ...) with s = (m-1)/(m+1), |s| < 0.172,
 * so 22 terms reach double precision. */
static double portable_log(double x) {
    int e = 0;
    double m = frexp(x, &e); /* exact: m in [0.5, 1) */
    if (m < 0.70710678118654752440) {
        m *= 2.0;
        e -= 1;
    }
    double s = (m - 1.0) / (m + 1.0), s2 = s * s, term = s, sum = 0.0;
    for (int k = 1; k <= 43; k += 2) {
        sum += term / k;
        term *= s2;
    }
    return 2.0 * sum + e * 0.69314718055994530942;
}

double tg_rng_normal(tg_rng *r) {
    if (!r) return NAN;
    if (r->has_spare) {
        r->has_spare = false;
        return r->spare;
    }
    double u, v, q;
    do {
        u = 2.0 * tg_rng_uniform(r) - 1.0;
        v = 2.0 * tg_rng_uniform(r) - 1.0;
        q = u * u + v * v;
    } while (q >= 1.0 || q == 0.0);
    double f = sqrt(-2.0 * portable_log(q) / q);
    r->spare = v * f;
    r->has_spare = true;
    return u * f;
}
