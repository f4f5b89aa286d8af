/* optim.c: the optimiser object every algorithm shares: making it over a store (choosing the
 * parameters, naming and creating the state buffers), the step that hands each parameter to
 * the algorithm's update, the learning rate and step count, and freeing.
 *
 * Invariant: the step count and learning rate are read from and written to the store's
 * "<prefix>.step" and "<prefix>.lr" buffers at every use, never cached, so loading a checkpoint
 * into the store is all it takes to resume. */
#include <math.h>
#include <string.h>

#include "../graph/graph.h"
#include "../ops/kernels/threadpool.h"
#include "optim_impl.h"

#define DEFAULT_PREFIX "optim"

tg_status tg_optim_check_min(const char *algo, const char *option, double x, double lo,
                             tg_error *err) {
    if (isfinite(x) && x >= lo) return TG_OK;
    return tg_error_set(err, TG_ERR_ARG, "tg_optim_%s: %s is %g; it must be finite and >= %g", algo,
                        option, x, lo);
}

static bool selected(const tg_tensor *p, const char *params) {
    return !params || strncmp(tg_tensor_name(p), params, strlen(params)) == 0;
}

/* Writes "<prefix>.<what>" or "<prefix>.<what>/<param>" into buf (size TG_NAME_MAX or more)
 * and returns false, with *err set, when it would not fit a store name. */
static bool state_name(char *buf, size_t size, const char *algo, const char *prefix,
                       const char *what, const char *param, tg_error *err) {
    int n = param ? snprintf(buf, size, "%s.%s/%s", prefix, what, param)
                  : snprintf(buf, size, "%s.%s", prefix, what);
    if (n >= 0 && (size_t)n < TG_NAME_MAX && (size_t)n < size) return true;
    tg_error_set(err, TG_ERR_ARG,
                 "tg_optim_%s: state name '%s.%s%s%.80s' is %d bytes, more than the %d a store "
                 "name may hold; choose a shorter prefix than '%.60s'",
                 algo, prefix, what, param ? "/" : "", param ? param : "", n, TG_NAME_MAX - 1,
                 prefix);
    return false;
}

/* Refuses a name the store already holds: another optimiser with the same prefix, most likely. */
static bool name_free(const tg_store *s, const char *name, const char *algo, const char *prefix,
                      tg_error *err) {
    if (!tg_store_find(s, name)) return true;
    tg_error_set(err, TG_ERR_ARG,
                 "tg_optim_%s: '%s' is already in the store (another optimiser with prefix "
                 "'%.60s'?); give this one a different prefix",
                 algo, name, prefix);
    return false;
}

static tg_tensor *scalar_buffer(tg_store *s, const char *name, double value) {
    tg_tensor *x = tg_store_buffer(s, name, TG_F64, TG_SCALAR_SHAPE);
    if (x) *(double *)tg_tensor_data(x) = value;
    return x;
}

tg_optim *tg_optim_make(tg_store *s, const char *algo, tg_optim_prepare_fn prepare,
                        tg_optim_update_fn update, double lr, const char *prefix,
                        const char *params, int n_state, const char *const *state_names,
                        const double *state_init, tg_error *err) {
    if (!s) {
        tg_error_set(err, TG_ERR_NULL, "tg_optim_%s: the store is NULL", algo);
        return NULL;
    }
    if (!prefix) prefix = DEFAULT_PREFIX;
    if (params && !params[0]) params = NULL;
    if (!prefix[0] || strlen(prefix) >= TG_NAME_MAX) {
        tg_error_set(err, TG_ERR_ARG, "tg_optim_%s: the prefix must be 1 to %d bytes", algo,
                     TG_NAME_MAX - 1);
        return NULL;
    }
    /* Every check before anything is made, so a refusal leaves the store untouched. */
    int n_params = 0;
    char name[256];
    for (int i = 0; i < tg_store_n_params(s); i++) {
        const tg_tensor *p = tg_store_get_param(s, i);
        if (!selected(p, params)) continue;
        n_params++;
        if (!tg_tensor_is_contiguous(p) || !tg_tensor_grad(p)) {
            tg_error_set(err, TG_ERR_ARG, "tg_optim_%s: parameter '%s' has no gradient", algo,
                         tg_tensor_name(p));
            return NULL;
        }
        for (int k = 0; k < n_state; k++)
            if (!state_name(name, sizeof name, algo, prefix, state_names[k], tg_tensor_name(p),
                            err) ||
                !name_free(s, name, algo, prefix, err))
                return NULL;
    }
    if (n_params == 0) {
        tg_error_set(err, TG_ERR_ARG, "tg_optim_%s: the store has no parameter%s%s%s", algo,
                     params ? " whose name starts with '" : "", params ? params : "",
                     params ? "'" : "");
        return NULL;
    }
    if (!state_name(name, sizeof name, algo, prefix, "step", NULL, err) ||
        !name_free(s, name, algo, prefix, err) ||
        !state_name(name, sizeof name, algo, prefix, "lr", NULL, err) ||
        !name_free(s, name, algo, prefix, err))
        return NULL;

    tg_optim *o = tg_alloc(sizeof *o);
    if (!o) goto nomem;
    memset(o, 0, sizeof *o);
    o->algo = algo;
    o->prepare = prepare;
    o->update = update;
    o->store = s;
    snprintf(o->prefix, sizeof o->prefix, "%s", prefix);
    o->n_params = n_params;
    o->n_state = n_state;
    o->params = tg_alloc((size_t)n_params * sizeof *o->params);
    o->state = tg_alloc((size_t)n_params * (size_t)(n_state ? n_state : 1) * sizeof *o->state);
    if (!o->params || !o->state) goto nomem;
    for (int i = 0, j = 0; i < tg_store_n_params(s); i++) {
        tg_tensor *p = tg_store_get_param(s, i);
        if (!selected(p, params)) continue;
        int64_t shape[TG_MAX_DIMS];
        for (int d = 0; d < tg_tensor_ndim(p); d++) shape[d] = tg_tensor_dim(p, d);
        o->params[j] = p;
        for (int k = 0; k < n_state; k++) {
            state_name(name, sizeof name, algo, prefix, state_names[k], tg_tensor_name(p), err);
            tg_tensor *x = tg_store_buffer(s, name, tg_tensor_dtype(p), tg_tensor_ndim(p), shape);
            if (!x) goto nomem;
            if (state_init[k] != 0.0) tg_tensor_fill(x, state_init[k]);
            o->state[j * n_state + k] = x;
        }
        j++;
    }
    state_name(name, sizeof name, algo, prefix, "step", NULL, err);
    o->step = scalar_buffer(s, name, 0.0);
    state_name(name, sizeof name, algo, prefix, "lr", NULL, err);
    o->lr = scalar_buffer(s, name, lr);
    if (!o->step || !o->lr) goto nomem;
    return o;
nomem:
    tg_optim_free(o);
    tg_error_set(err, TG_ERR_NOMEM, "tg_optim_%s: out of memory making its state", algo);
    return NULL;
}

void tg_optim_free(tg_optim *o) {
    if (!o) return;
    tg_free(o->params);
    tg_free(o->state);
    tg_free(o);
}

/* A step updates every element independently of the others, so the parameters are cut into
 * chunks of CHUNK elements that threads may take in any order: the result is the same, bit for
 * bit, on any number of threads. */
#define CHUNK ((int64_t)1 << 14)

static int64_t n_chunks(int64_t n) { return (n + CHUNK - 1) / CHUNK; }

typedef struct step_job {
    const tg_optim *o;
    tg_optim_args args; /* the step's constants, computed once before the chunks */
    int64_t n_chunks;
} step_job;

/* Updates chunk c of the concatenation of all parameters' chunks. */
static void update_chunk(void *ctx, int64_t c) {
    const step_job *job = ctx;
    const tg_optim *o = job->o;
    int i = 0;
    int64_t chunks_i;
    while (c >= (chunks_i = n_chunks(tg_tensor_numel(o->params[i])))) {
        c -= chunks_i;
        i++;
    }
    tg_tensor *p = o->params[i];
    int64_t n = tg_tensor_numel(p), lo = c * CHUNK;
    size_t off = (size_t)lo * tg_dtype_size(tg_tensor_dtype(p));
    tg_optim_slot slot = {.dtype = tg_tensor_dtype(p),
                          .n = n - lo < CHUNK ? n - lo : CHUNK,
                          .p = (char *)tg_tensor_data(p) + off,
                          .g = (const char *)tg_tensor_data(tg_tensor_grad(p)) + off};
    for (int k = 0; k < o->n_state; k++)
        slot.s[k] = (char *)tg_tensor_data(o->state[i * o->n_state + k]) + off;
    o->update(o, &slot, &job->args);
}

/* NaN and infinite elements among elements [lo, lo + n) of a parameter's (contiguous) gradient:
 * counts[0], counts[1]; for the message of a refused step only. */
static void count_nonfinite(const tg_tensor *g, int64_t lo, int64_t n, int64_t counts[2]) {
    counts[0] = counts[1] = 0;
    if (tg_tensor_dtype(g) == TG_F32) {
        const float *v = (const float *)tg_tensor_data(g) + lo;
        for (int64_t i = 0; i < n; i++)
            if (v[i] - v[i] != 0) counts[v[i] == v[i]]++;
    } else {
        const double *v = (const double *)tg_tensor_data(g) + lo;
        for (int64_t i = 0; i < n; i++)
            if (v[i] - v[i] != 0) counts[v[i] == v[i]]++;
    }
}

/* Whether elements [lo, lo + n) of a gradient hold NaN or Inf: one vector pass. */
static bool has_nonfinite(const tg_tensor *g, int64_t lo, int64_t n) {
    const char *base = tg_tensor_data(g);
    return optim_has_nonfinite(tg_tensor_dtype(g), n,
                               base + (size_t)lo * tg_dtype_size(tg_tensor_dtype(g)));
}

/* With skip_nonfinite: TG_ERR_NONFINITE naming the first parameter whose gradient holds NaN or
 * Inf, checked before anything is written so that a refused step changes nothing. */
static tg_status refuse_nonfinite(tg_optim *o, tg_error *err) {
    for (int i = 0; i < o->n_params; i++) {
        const tg_tensor *g = tg_tensor_grad(o->params[i]);
        if (!has_nonfinite(g, 0, tg_tensor_numel(g))) continue;
        int64_t c[2];
        count_nonfinite(g, 0, tg_tensor_numel(g), c);
        o->n_refused++;
        char shape[TG_SHAPE_STR_MAX];
        return tg_error_set(err, TG_ERR_NONFINITE,
                            "tg_optim_step (%s, '%s'): the gradient of '%s' %s holds %lld NaN and "
                            "%lld Inf; step %lld refused, parameters and state unchanged",
                            o->algo, o->prefix, tg_tensor_name(o->params[i]),
                            tg_shape_str(o->params[i], shape, sizeof shape), (long long)c[0],
                            (long long)c[1], (long long)tg_optim_steps(o) + 1);
    }
    return TG_OK;
}

bool tg_optim_set_skip_nonfinite(tg_optim *o, bool on) {
    if (!o) return false;
    bool prev = o->skip_nonfinite;
    o->skip_nonfinite = on;
    return prev;
}

bool tg_optim_skip_nonfinite(const tg_optim *o) { return o && o->skip_nonfinite; }

int64_t tg_optim_n_refused(const tg_optim *o) { return o ? o->n_refused : 0; }

tg_status tg_optim_step(tg_optim *o, tg_error *err) {
    if (!o) return tg_error_set(err, TG_ERR_NULL, "tg_optim_step: the optimiser is NULL");
    double lr = tg_optim_lr(o);
    /* The lr buffer may come from a checkpoint: check it as tg_optim_set_lr would. */
    if (!(isfinite(lr) && lr >= 0))
        return tg_error_set(err, TG_ERR_ARG, "tg_optim_step (%s, '%s'): the learning rate is %g",
                            o->algo, o->prefix, lr);
    if (o->skip_nonfinite) {
        tg_status s = refuse_nonfinite(o, err);
        if (s != TG_OK) return s;
    }
    double *step = tg_tensor_data(o->step);
    step_job job = {.o = o};
    o->prepare(o, *step + 1, lr, &job.args);
    for (int i = 0; i < o->n_params; i++) {
        job.n_chunks += n_chunks(tg_tensor_numel(o->params[i]));
        /* Here, not in the chunks: a gradient no sweep reached since tg_store_zero_grad gets
         * its deferred zeros once, before threads read it. */
        (void)tg_tensor_grad(o->params[i]);
    }
    /* The rule of the kernels' maps (kern_parallel_pieces): from KERN_PIECES_WAKE elements
     * (a few chunks) the update is worth waking a worker for; below, it is shared only with a
     * worker still awake from the backward pass's products. */
    if (job.n_chunks * CHUNK >= KERN_PIECES_WAKE)
        kern_parallel_for(job.n_chunks, kern_threads(), update_chunk, &job);
    else if (job.n_chunks > 1)
        kern_parallel_for_if_awake(job.n_chunks, kern_threads(), update_chunk, &job);
    else
        for (int64_t c = 0; c < job.n_chunks; c++) update_chunk(&job, c);
    *step += 1;
    return TG_OK;
}

/* A step over parts (tg_optim_step_parts): each part is cut into chunks of CHUNK elements as a
 * whole step cuts each parameter, so threads take them in any order with the same result. */
typedef struct parts_job {
    const tg_optim *o;
    tg_optim_args args;
    int n_parts;
    const tg_optim_part *parts;
    const int *index; /* covered parameter of parts[j] */
} parts_job;

static void update_part_chunk(void *ctx, int64_t c) {
    const parts_job *job = ctx;
    const tg_optim *o = job->o;
    int j = 0;
    int64_t chunks_j;
    while (c >= (chunks_j = n_chunks(job->parts[j].n))) {
        c -= chunks_j;
        j++;
    }
    const tg_optim_part *part = &job->parts[j];
    const int i = job->index[j];
    tg_tensor *p = o->params[i];
    int64_t lo = part->lo + c * CHUNK, left = part->lo + part->n - lo;
    size_t off = (size_t)lo * tg_dtype_size(tg_tensor_dtype(p));
    tg_optim_slot slot = {.dtype = tg_tensor_dtype(p),
                          .n = left < CHUNK ? left : CHUNK,
                          .p = (char *)tg_tensor_data(p) + off,
                          .g = (const char *)tg_tensor_data(tg_tensor_grad(p)) + off};
    for (int k = 0; k < o->n_state; k++)
        slot.s[k] = (char *)tg_tensor_data(o->state[i * o->n_state + k]) + off;
    o->update(o, &slot, &job->args);
}

tg_status tg_optim_step_parts(tg_optim *o, int n_parts, const tg_optim_part *parts, tg_error *err) {
    if (!o || n_parts < 0 || (n_parts > 0 && !parts))
        return tg_error_set(err, TG_ERR_NULL, "tg_optim_step_parts: NULL optimiser or parts");
    double lr = tg_optim_lr(o);
    if (!(isfinite(lr) && lr >= 0))
        return tg_error_set(err, TG_ERR_ARG,
                            "tg_optim_step_parts (%s, '%s'): the learning rate is %g", o->algo,
                            o->prefix, lr);
    int *index = tg_alloc(((size_t)n_parts + 1) * sizeof *index);
    if (!index) return tg_error_set(err, TG_ERR_NOMEM, "tg_optim_step_parts: out of memory");
    /* Every part checked before anything is written, so a refusal changes nothing. */
    int64_t total_chunks = 0;
    for (int j = 0; j < n_parts; j++) {
        const tg_optim_part *part = &parts[j];
        index[j] = -1;
        for (int i = 0; i < o->n_params && index[j] < 0; i++)
            if (o->params[i] == part->param) index[j] = i;
        if (index[j] < 0 || part->lo < 0 || part->n < 0 ||
            part->lo + part->n > tg_tensor_numel(part->param)) {
            bool covered = index[j] >= 0;
            tg_free(index);
            return tg_error_set(err, TG_ERR_ARG,
                                "tg_optim_step_parts (%s, '%s'): part %d, elements [%lld, %lld) "
                                "of '%s', %s",
                                o->algo, o->prefix, j, (long long)part->lo,
                                (long long)(part->lo + part->n),
                                part->param ? tg_tensor_name(part->param) : "(NULL)",
                                covered ? "lies outside the parameter"
                                        : "names a parameter the optimiser does not cover");
        }
        /* deferred zeros written once, before threads read the gradient (as in a step) */
        const tg_tensor *g = tg_tensor_grad(o->params[index[j]]);
        if (o->skip_nonfinite && has_nonfinite(g, part->lo, part->n)) {
            int64_t c[2];
            count_nonfinite(g, part->lo, part->n, c);
            tg_free(index);
            o->n_refused++;
            return tg_error_set(err, TG_ERR_NONFINITE,
                                "tg_optim_step_parts (%s, '%s'): the gradient of '%s' holds "
                                "%lld NaN and %lld Inf in elements [%lld, %lld); step %lld "
                                "refused, parameters and state unchanged",
                                o->algo, o->prefix, tg_tensor_name(part->param), (long long)c[0],
                                (long long)c[1], (long long)part->lo,
                                (long long)(part->lo + part->n), (long long)tg_optim_steps(o) + 1);
        }
        total_chunks += n_chunks(part->n);
    }
    double *step = tg_tensor_data(o->step);
    parts_job job = {.o = o, .n_parts = n_parts, .parts = parts, .index = index};
    o->prepare(o, *step + 1, lr, &job.args);
    if (total_chunks * CHUNK >= KERN_PIECES_WAKE)
        kern_parallel_for(total_chunks, kern_threads(), update_part_chunk, &job);
    else if (total_chunks > 1)
        kern_parallel_for_if_awake(total_chunks, kern_threads(), update_part_chunk, &job);
    else
        for (int64_t c = 0; c < total_chunks; c++) update_part_chunk(&job, c);
    *step += 1;
    tg_free(index);
    return TG_OK;
}

int tg_optim_n_state(const tg_optim *o) { return o ? o->n_state : 0; }

tg_tensor *tg_optim_state(const tg_optim *o, int i, int k) {
    return o && i >= 0 && i < o->n_params && k >= 0 && k < o->n_state ? o->state[i * o->n_state + k]
                                                                      : NULL;
}

void tg_optim_zero_grad(tg_optim *o) {
    for (int i = 0; o && i < o->n_params; i++) tg_tensor_fill(tg_tensor_grad(o->params[i]), 0.0);
}

double tg_optim_lr(const tg_optim *o) { return o ? *(const double *)tg_tensor_data(o->lr) : NAN; }

tg_status tg_optim_set_lr(tg_optim *o, double lr, tg_error *err) {
    if (!o) return tg_error_set(err, TG_ERR_NULL, "tg_optim_set_lr: the optimiser is NULL");
    tg_status st = tg_optim_check_min("set_lr", "lr", lr, 0.0, err);
    if (st == TG_OK) *(double *)tg_tensor_data(o->lr) = lr;
    return st;
}

int64_t tg_optim_steps(const tg_optim *o) {
    return o ? (int64_t) * (const double *)tg_tensor_data(o->step) : 0;
}

int tg_optim_n_params(const tg_optim *o) { return o ? o->n_params : 0; }

tg_tensor *tg_optim_param(const tg_optim *o, int i) {
    return o && i >= 0 && i < o->n_params ? o->params[i] : NULL;
}
