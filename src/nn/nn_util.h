/* nn_util.h: what the layer files in src/nn share: checking a layer's arguments and names before
 * anything is created, creating its parameters with errors that name the layer, and entering a
 * forward pass. Private to src/nn.
 *
 * Invariant: a layer init either creates all of its tensors or none: every name is checked
 * against the store first, and a failure part-way (memory, or a clash found only by a sublayer
 * of a composite layer) takes back what was made (tg_store_forget_from). */
#ifndef TG_NN_UTIL_H
#define TG_NN_UTIL_H

#include <stdio.h>

#include "../ops/op_util.h"
#include "tapegrad/init.h"
#include "tapegrad/nn.h"

#define NN_MAX_TENSORS 4

/* A layer being made: its kind ("linear"), its name, and its tensors' full names. */
typedef struct nn_maker {
    const char *kind;
    const char *name;
    tg_store *store;
    tg_dtype dtype;
    tg_error *err;
    tg_status status; /* the first failure, TG_OK while all is well */
    int n;
    int mark; /* the store's tensor count when making began, for taking back on failure */
    char full[NN_MAX_TENSORS][TG_NAME_MAX];
} nn_maker;

/* Starts making a layer: checks the store, the name, the dtype and (when need_rng) the rng, and
 * builds "<name>.<suffix>" (or "<suffix>" for an empty name) for the n suffixes, each of which
 * must be new to the store and short enough. Returns the first problem (err set) or TG_OK. */
tg_status nn_begin(nn_maker *m, const char *kind, tg_store *s, const char *name, tg_dtype dtype,
                   bool need_rng, const tg_rng *rng, int n, const char *const *suffixes,
                   tg_error *err);

/* Records status as m's failure and sets m->err to "<kind> '<name>': <message>" (the first
 * failure only); returns status. */
tg_status nn_fail(nn_maker *m, tg_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* TG_OK if m has not failed and value > 0; otherwise m's failure (set here if it is new).
 * `what` names the argument. */
tg_status nn_positive(nn_maker *m, const char *what, int64_t value);

/* Creates tensor i of the maker (a parameter, or a buffer when `buffer`), or NULL with the
 * store's reason as m's failure, after taking back the tensors m made before. Does nothing
 * (NULL) once m has failed. */
tg_tensor *nn_tensor(nn_maker *m, int i, bool buffer, int ndim, const int64_t *shape);

/* For layers made of sublayers: returns st, after forgetting every tensor made since m began
 * when st is a failure. */
tg_status nn_finish(const nn_maker *m, tg_status st);

/* Enters a layer's forward: sets the call site, and returns false after keeping an error on t
 * when t is NULL (nothing kept), the layer is NULL or not initialised (`ready` false), x is
 * NULL (an earlier failure stays the first error) or x is stale (see nn_current). */
bool nn_enter(tg_tape *t, const char *file, int line, const char *kind, const void *layer,
              bool ready, const tg_tensor *x);

/* The layers' form of the ops' stale check (tg_op_enter), for tensors a layer reads the shape
 * of before any op sees them: false, with TG_ERR_STALE kept on t naming the layer and `what`,
 * for a tensor made before its tape's last reset (or on a tape since freed). */
bool nn_current(tg_tape *t, const char *kind, const char *what, const tg_tensor *x);

/* The layer's name for messages, from one of its parameters: "fc1" for "fc1.weight", and
 * "(unnamed)" when the layer was made with an empty name. Returns buf. */
const char *nn_layer_name(const tg_tensor *param, char *buf, size_t size);

#endif
