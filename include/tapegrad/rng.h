/* tapegrad/rng.h: a small seeded random number generator that gives the same numbers on every
 * machine.
 *
 * The generator is PCG32 (integer arithmetic only). Uniform doubles take 53 of its bits;
 * normal numbers use the Marsaglia polar method with tapegrad's own logarithm, written in plain
 * IEEE double arithmetic, so no libm difference between machines can change a number.
 *
 *     tg_rng r;
 *     tg_rng_seed(&r, 42);
 *     double u = tg_rng_uniform(&r);   // [0, 1)
 *     double z = tg_rng_normal(&r);    // N(0, 1)
 */
#ifndef TAPEGRAD_RNG_H
#define TAPEGRAD_RNG_H

#include "tapegrad/base.h"

#ifdef __cplusplus
extern "C" {
#endif

TG_PUBLIC_BEGIN

/* Plain state, safe to copy (a copy continues the same sequence); the fields are private. */
typedef struct tg_rng {
    uint64_t state;
    uint64_t inc;
    double spare;   /* the polar method makes normals in pairs */
    bool has_spare;
} tg_rng;

/* Starts the sequence for `seed`; the same seed gives the same sequence everywhere. NULL is a
 * no-op. The draws below take a NULL generator too and return 0 (integers) or NaN (reals). */
void tg_rng_seed(tg_rng *r, uint64_t seed);
/* The next 32 random bits. */
uint32_t tg_rng_next_u32(tg_rng *r);
/* Uniform on [0, 1) with 53 random bits. */
double tg_rng_uniform(tg_rng *r);
/* Uniform integer on [0, n); n must be > 0 (0 is returned for n == 0). Unbiased. */
uint64_t tg_rng_below(tg_rng *r, uint64_t n);
/* Standard normal. */
double tg_rng_normal(tg_rng *r);

TG_PUBLIC_END

#ifdef __cplusplus
}
#endif
#endif
