/* optim_cases.h: the optimiser configurations the fixtures tools/make_fixtures_optim.py wrote,
 * and building an optimiser from one, shared by the optimiser suites.
 *
 * Each case's options are written out here and compared with the `hyper` tensor of its fixture,
 * so the test and the reference cannot silently drift apart. */
#ifndef TG_TEST_OPTIM_CASES_H
#define TG_TEST_OPTIM_CASES_H

#include <string.h>

#include <tapegrad.h>

typedef enum optim_kind { K_SGD, K_ADAGRAD, K_RMSPROP, K_ADAM, K_ADAMW } optim_kind;

typedef struct optim_case {
    const char *fixture; /* tests/fixtures/optim_<fixture>.txt */
    optim_kind kind;
    int n_hyper;
    double hyper[6]; /* in the order the fixture's note gives */
    const char *state[3];
} optim_case;

static const optim_case optim_cases[] = {
    {"sgd_plain", K_SGD, 5, {0.1, 0, 0, 0, 0}, {NULL}},
    {"sgd_momentum", K_SGD, 5, {0.05, 0.9, 0.1, 0.01, 0}, {"momentum_buffer"}},
    {"sgd_nesterov", K_SGD, 5, {0.05, 0.8, 0, 0.02, 1}, {"momentum_buffer"}},
    {"adagrad", K_ADAGRAD, 5, {0.1, 0, 0, 0, 1e-10}, {"sum"}},
    {"adagrad_decay", K_ADAGRAD, 5, {0.2, 0.05, 0.1, 0.3, 1e-6}, {"sum"}},
    {"rmsprop", K_RMSPROP, 6, {0.01, 0.99, 1e-8, 0, 0, 0}, {"square_avg"}},
    {"rmsprop_momentum",
     K_RMSPROP,
     6,
     {0.02, 0.95, 1e-8, 0, 0.5, 0},
     {"square_avg", "momentum_buffer"}},
    {"rmsprop_centered",
     K_RMSPROP,
     6,
     {0.005, 0.9, 1e-6, 0.05, 0.7, 1},
     {"square_avg", "momentum_buffer", "grad_avg"}},
    {"adam", K_ADAM, 6, {0.01, 0.9, 0.999, 1e-8, 0, 0}, {"exp_avg", "exp_avg_sq"}},
    {"adam_amsgrad",
     K_ADAM,
     6,
     {0.02, 0.8, 0.95, 1e-6, 0.1, 1},
     {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"}},
    {"adamw", K_ADAMW, 6, {0.01, 0.9, 0.999, 1e-8, 0.01, 0}, {"exp_avg", "exp_avg_sq"}},
    {"adamw_amsgrad",
     K_ADAMW,
     6,
     {0.03, 0.5, 0.9, 1e-7, 0.2, 1},
     {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"}},
};
#define N_OPTIM_CASES ((int)(sizeof optim_cases / sizeof optim_cases[0]))

/* Makes the case's optimiser over s with the given state prefix (NULL: the default). */
static inline tg_optim *optim_case_make(const optim_case *c, tg_store *s, const char *prefix,
                                        tg_error *err) {
    const double *h = c->hyper;
    switch (c->kind) {
    case K_SGD: {
        tg_sgd_options o = tg_sgd_defaults(h[0]);
        o.momentum = h[1];
        o.dampening = h[2];
        o.weight_decay = h[3];
        o.nesterov = h[4] != 0;
        o.prefix = prefix;
        return tg_optim_sgd(s, &o, err);
    }
    case K_ADAGRAD: {
        tg_adagrad_options o = tg_adagrad_defaults(h[0]);
        o.lr_decay = h[1];
        o.weight_decay = h[2];
        o.initial_accumulator_value = h[3];
        o.eps = h[4];
        o.prefix = prefix;
        return tg_optim_adagrad(s, &o, err);
    }
    case K_RMSPROP: {
        tg_rmsprop_options o = tg_rmsprop_defaults(h[0]);
        o.alpha = h[1];
        o.eps = h[2];
        o.weight_decay = h[3];
        o.momentum = h[4];
        o.centered = h[5] != 0;
        o.prefix = prefix;
        return tg_optim_rmsprop(s, &o, err);
    }
    case K_ADAM:
    case K_ADAMW: {
        tg_adam_options o = c->kind == K_ADAM ? tg_adam_defaults(h[0]) : tg_adamw_defaults(h[0]);
        o.beta1 = h[1];
        o.beta2 = h[2];
        o.eps = h[3];
        o.weight_decay = h[4];
        o.amsgrad = h[5] != 0;
        o.prefix = prefix;
        return c->kind == K_ADAM ? tg_optim_adam(s, &o, err) : tg_optim_adamw(s, &o, err);
    }
    }
    return NULL;
}

#endif
