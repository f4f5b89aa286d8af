/* sample.c: see sample.h. */
#include "sample.h"

#include <math.h>

int64_t ex_sample_id(const double *logits, int64_t v, double temperature, tg_rng *rng) {
    int64_t best = 0;
    for (int64_t i = 1; i < v; i++)
        if (logits[i] > logits[best]) best = i;
    if (temperature <= 0) return best;
    double total = 0, u;
    for (int64_t i = 0; i < v; i++) total += exp((logits[i] - logits[best]) / temperature);
    u = tg_rng_uniform(rng) * total;
    for (int64_t i = 0; i < v; i++) {
        u -= exp((logits[i] - logits[best]) / temperature);
        if (u < 0) return i;
    }
    return best;
}
