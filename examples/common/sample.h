/* sample.h: drawing the next symbol from a model's output, shared by the text generators
 * (char_rnn, gpt). */
#ifndef EXAMPLES_COMMON_SAMPLE_H
#define EXAMPLES_COMMON_SAMPLE_H

#include <stdint.h>

#include <tapegrad.h>

/* Draws one id from softmax(logits / temperature) over v logits; temperature <= 0 takes the
 * most likely. The exponentials are taken relative to the largest logit, so none overflows. */
int64_t ex_sample_id(const double *logits, int64_t v, double temperature, tg_rng *rng);

#endif
