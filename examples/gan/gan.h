/* gan.h: what the two tasks of the GAN example share: the options, the adversarial step (the
 * non-saturating losses of Goodfellow et al. from logits), and the two tasks' entry points.
 *
 * Invariant: a run is a function of its flags and data: every random number (weights, noise,
 * batches) comes from generators seeded by --seed. */
#ifndef EXAMPLES_GAN_GAN_H
#define EXAMPLES_GAN_GAN_H

#include <tapegrad.h>

#include "xp.h"

typedef struct gan_options {
    xp_options xp; /* --seed, --threads, --data, --quick, --out */
    long steps;    /* mixture: adversarial steps */
    long epochs;   /* fashion: passes over the training images used */
    long limit;    /* fashion: training images used (0: all) */
    long batch;
    double lr;
    long min_modes; /* mixture: the run fails when fewer modes are covered at the end */
} gan_options;

/* A model as a forward function over its parameters (in one store, under its own prefix). */
typedef tg_tensor *(*gan_forward_fn)(tg_tape *t, const void *net, tg_tensor *x, bool training);

typedef struct gan_pair {
    gan_forward_fn gen, disc;
    const void *g, *d;
    tg_optim *opt_g, *opt_d;
    tg_store *s;
} gan_pair;

/* The losses of one step. */
typedef struct gan_losses {
    double d, g;           /* discriminator: BCE on real + fake; generator: -log D(G(z)) */
    double d_real, d_fake; /* mean D(x) on the real batch and D(G(z)) on the fake, in (0, 1) */
} gan_losses;

/* One discriminator step on `real` and z_d, then one generator step on z_g (tensors on t, which
 * is reset in between and at the end, so build them fresh for each call through the make
 * callback). TG_OK, or the first error (err set). */
typedef struct gan_batch_maker {
    tg_tensor *(*real)(tg_tape *t, void *ctx);
    tg_tensor *(*noise)(tg_tape *t, void *ctx);
    void *ctx;
} gan_batch_maker;
tg_status gan_step(const gan_pair *p, tg_tape *t, const gan_batch_maker *m, gan_losses *out,
                   tg_error *err);

int gan_mixture(gan_options *o);
int gan_fashion(gan_options *o);

#endif
