/* shard.c: the sharded optimiser step (TG_DIST_SHARD_ON, ZeRO stage 1). Every bucket is cut
 * into one slice per rank, the chunks the ring cuts, and rank q owns the slice in which the
 * reduce-scatter leaves the sum: chunk q + 1 of the ring (its reduce-scatter ends there), chunk q
 * for the other reductions. tg_dist_step runs the buckets' reductions up to the end of their
 * reduce-scatter (reduce.c pauses each bucket there), updates the parameters of this rank's
 * slices with tg_optim_step_parts, copies them into the bucket's memory (the gradients' block,
 * free once the update has read it), lets the all-gather run, and copies the peers' slices out
 * into the parameters.
 *
 * Invariant: every element is updated by exactly one rank, from the same mean gradient and
 * state the unsharded step would use, so the parameters are the unsharded step's bits on every
 * rank. The optimiser state of a slice lives, current, only on its owner; the store keeps every
 * state buffer whole (checkpoints and broadcasts move whole tensors), and dist_gather_state
 * brings the owners' slices to rank 0 before it saves. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dist_int.h"

tg_status dist_shard_make(tg_dist *d, tg_error *err) {
    tg_optim *o = d->o.optim;
    /* AUTO (tapegrad/dist.h; docs/distributed.md has the measurements): on for an optimiser
     * that keeps two or more state buffers per parameter, when the shared-memory all-reduce may
     * run; dist_buckets_make turns it off again if the segment is not made */
    bool shared_possible = !d->o.deterministic && d->size > 1 &&
                           (d->o.algo == TG_DIST_ALGO_AUTO || d->o.algo == TG_DIST_ALGO_SHARED);
    d->sharded = o && (d->o.shard == TG_DIST_SHARD_ON ||
                       (d->o.shard == TG_DIST_SHARD_AUTO && shared_possible &&
                        tg_optim_n_state(o) >= 2));
    if (!o) return TG_OK;
    d->opt_index = malloc(((size_t)d->n_params + 1) * sizeof *d->opt_index);
    if (!d->opt_index) return tg_error_set(err, TG_ERR_NOMEM, "dist: out of memory");
    for (int i = 0; i < d->n_params; i++) d->opt_index[i] = -1;
    for (int j = 0; j < tg_optim_n_params(o); j++) {
        const tg_tensor *p = tg_optim_param(o, j);
        int i = 0;
        while (i < d->n_params && d->params[i] != p) i++;
        if (i == d->n_params)
            return tg_error_set(err, TG_ERR_ARG,
                                "dist: the optimiser's parameter '%s' is not a parameter of the "
                                "group's store",
                                tg_tensor_name(p));
        d->opt_index[i] = j;
    }
    return TG_OK;
}

int dist_owned_chunk(const tg_dist *d, int q) {
    return d->algo == TG_DIST_ALGO_RING && !d->o.deterministic ? (q + 1) % d->size : q;
}

/* Calls fn for each parameter of bucket b that overlaps elements [lo, lo + n) of the bucket:
 * parameter index i, the overlap's first element in the parameter and in the bucket, and its
 * length. */
typedef void (*overlap_fn)(const tg_dist *d, void *ctx, int i, int64_t in_param,
                           int64_t in_bucket, int64_t len);
static void each_overlap(const tg_dist *d, int b, int64_t lo, int64_t n, overlap_fn fn,
                         void *ctx) {
    const dist_bucket *k = &d->buckets[b];
    for (int i = k->first; i < k->first + k->count; i++) {
        int64_t at = d->offset[i], end = at + tg_tensor_numel(d->params[i]);
        int64_t a = lo > at ? lo : at, z = lo + n < end ? lo + n : end;
        if (a < z) fn(d, ctx, i, a - at, a, z - a);
    }
}

/* d->parts grows by one part per overlap of a covered parameter with this rank's slice. */
static void add_part(const tg_dist *d, void *ctx, int i, int64_t in_param, int64_t in_bucket,
                     int64_t len) {
    (void)in_bucket;
    tg_dist *g = ctx;
    if (d->opt_index[i] < 0) return; /* the optimiser does not cover it */
    g->parts[g->n_parts++] = (tg_optim_part){d->params[i], in_param, len};
}

tg_status dist_shard_parts(tg_dist *d, tg_error *err) {
    /* a slice overlaps at most every parameter of its bucket */
    d->parts = calloc((size_t)d->n_params + 1, sizeof *d->parts);
    if (!d->parts) return tg_error_set(err, TG_ERR_NOMEM, "dist: out of memory");
    d->n_parts = 0;
    for (int b = 0; b < d->n_buckets; b++) {
        const dist_bucket *k = &d->buckets[b];
        each_overlap(d, b, k->displs[d->rank], k->counts[d->rank], add_part, d);
    }
    return TG_OK;
}

void dist_shard_free(tg_dist *d) {
    free(d->parts);
    free(d->opt_index);
    d->parts = NULL;
    d->opt_index = NULL;
}

/* Copies between a parameter's data and the bucket's memory at ctx (to_bucket or back). */
typedef struct copy_job {
    char *base;
    bool to_bucket;
} copy_job;

static void copy_overlap(const tg_dist *d, void *ctx, int i, int64_t in_param, int64_t in_bucket,
                         int64_t len) {
    const copy_job *job = ctx;
    size_t esize = tg_dtype_size(tg_tensor_dtype(d->params[i]));
    char *param = (char *)tg_tensor_data(d->params[i]) + (size_t)in_param * esize;
    char *bucket = job->base + (size_t)in_bucket * esize;
    if (job->to_bucket)
        memcpy(bucket, param, (size_t)len * esize);
    else
        memcpy(param, bucket, (size_t)len * esize);
}

void dist_shard_pack(const tg_dist *d, int b, char *base) {
    const dist_bucket *k = &d->buckets[b];
    copy_job job = {base, true};
    each_overlap(d, b, k->displs[d->rank], k->counts[d->rank], copy_overlap, &job);
}

/* After the all-gather: the peers' slices of bucket b, now parameters, into the parameters. */
static void unpack_peers(const tg_dist *d, int b) {
    const dist_bucket *k = &d->buckets[b];
    copy_job job = {k->buf, false};
    for (int q = 0; q < d->size; q++)
        if (q != d->rank) each_overlap(d, b, k->displs[q], k->counts[q], copy_overlap, &job);
}

/* With skip_nonfinite: every rank scans its own slices' mean gradient and all agree, so that a
 * NaN on one rank's slice refuses the step on every rank before any parameter changes. */
static tg_status agree_finite(tg_dist *d, tg_error *err) {
    char msg[200] = "";
    for (int j = 0; j < d->n_parts && !msg[0]; j++) {
        const tg_optim_part *p = &d->parts[j];
        const tg_tensor *g = tg_tensor_grad((tg_tensor *)p->param);
        int64_t bad = 0;
        for (int64_t e = p->lo; e < p->lo + p->n; e++) {
            double v = tg_tensor_dtype(g) == TG_F32 ? ((const float *)tg_tensor_data(g))[e]
                                                    : ((const double *)tg_tensor_data(g))[e];
            bad += v - v != 0;
        }
        if (bad)
            snprintf(msg, sizeof msg,
                     "the mean gradient of '%.63s' holds %lld NaN or Inf; step refused on every "
                     "rank, parameters and state unchanged",
                     tg_tensor_name(p->param), (long long)bad);
    }
    tg_error agreed = {0};
    tg_status st = tg_dist_agree(d, msg[0] ? TG_ERR_NONFINITE : TG_OK, msg, &agreed);
    if (st != TG_OK) {
        if (err) *err = agreed;
        return st;
    }
    return TG_OK;
}

static tg_status step_sharded(tg_dist *d, tg_error *err) {
    /* Parameters every rank shares (shared.c) must stay put while any rank may still read them:
     * every bucket's reduce-scatter ends only after every rank's sweep has deposited its
     * gradients, and when buckets start only here, after every rank has entered this call;
     * when they may start during the sweep, a barrier says so. Should another group have moved
     * the parameters out of the segment (every rank alike: making a group is collective),
     * the step goes on with copies. */
    if (d->shared_params && !dist_shared_params_in_place(d)) d->shared_params = false;
    MPI_Request entered = MPI_REQUEST_NULL;
    if (d->shared_params && d->overlap != TG_DIST_OVERLAP_OFF) {
        int rc = MPI_Ibarrier(d->comm, &entered);
        if (rc != MPI_SUCCESS) return dist_mpi_fail(d, rc, "the barrier before the update", err);
    }
    /* 1. the reduce-scatter: each rank's slices hold their mean gradient */
    if (d->o.deterministic) {
        if (dist_ordered_sum(d, err) != TG_OK) return err->status;
    } else if (dist_start_rest(d, err) != TG_OK || dist_wait_buckets(d, false, err) != TG_OK) {
        return err->status;
    }
    if (entered != MPI_REQUEST_NULL &&
        dist_wait(d, 1, &entered, "every rank entering tg_dist_step", &d->stats.wait_seconds,
                  err) != TG_OK)
        return err->status;
    /* 2. the update of this rank's slices */
    tg_optim *o = d->o.optim;
    tg_status st = tg_optim_skip_nonfinite(o) ? agree_finite(d, err) : TG_OK;
    if (st == TG_OK) st = tg_optim_step_parts(o, d->n_parts, d->parts, err);
    if (st == TG_ERR_NONFINITE || st == TG_ERR_ARG) {
        /* every rank refused alike (agreed non-finite gradients; the learning rate, the same
         * everywhere): nothing is in flight, and the next step starts afresh */
        dist_end_step(d, NULL);
        return st;
    }
    if (st != TG_OK) { /* this rank alone (out of memory): its peers wait for its slices */
        d->broken = true;
        snprintf(d->broken_msg, sizeof d->broken_msg, "the sharded update failed");
        return st;
    }
    /* 3. the all-gather of the parameters */
    if (d->size > 1) {
        if (d->o.deterministic) {
            MPI_Request *reqs = malloc((size_t)d->n_buckets * sizeof *reqs + 1);
            if (!reqs) return tg_error_set(err, TG_ERR_NOMEM, "dist: out of memory");
            int posted = 0;
            for (int b = 0; b < d->n_buckets && st == TG_OK; b++) {
                dist_bucket *k = &d->buckets[b];
                dist_shard_pack(d, b, k->buf);
                int rc = MPI_Iallgatherv(MPI_IN_PLACE, 0, dist_mpi_type(k->dtype), k->buf,
                                         k->counts, k->displs, dist_mpi_type(k->dtype), d->comm,
                                         &reqs[posted]);
                if (rc != MPI_SUCCESS)
                    st = dist_mpi_fail(d, rc, "the all-gather of the parameters", err);
                else
                    posted++;
            }
            if (st == TG_OK)
                st = dist_wait(d, posted, reqs, "the all-gather of the parameters",
                               &d->stats.wait_seconds, err);
            free(reqs);
            if (st != TG_OK) return st;
        } else {
            for (int b = 0; b < d->n_buckets; b++) {
                dist_bucket *k = &d->buckets[b];
                if (d->shared_params) /* updated in place: every rank's already */
                    ;
                else if (d->shm_base)
                    for (int q = 0; q < d->size; q++)
                        dist_shard_pack(d, b, dist_shared_bucket(d, q, b));
                else
                    dist_shard_pack(d, b, k->buf);
                if (dist_post_gather(d, b, err) != TG_OK) return err->status;
            }
            if (dist_wait_buckets(d, true, err) != TG_OK) return err->status;
        }
        if (!d->shared_params)
            for (int b = 0; b < d->n_buckets; b++) unpack_peers(d, b);
    }
    /* the gradients' memory now holds parameters: zero (lazily) before anyone reads it */
    tg_store_zero_grad(d->s);
    return dist_end_step(d, err);
}

tg_status tg_dist_step(tg_dist *d, tg_error *err) {
    if (dist_usable(d, err) != TG_OK) return TG_ERR_IO;
    if (!d->o.optim)
        return tg_error_set(err, TG_ERR_ARG,
                            "dist: tg_dist_step needs tg_dist_opts.optim (else call tg_dist_sync "
                            "and step the optimiser)");
    if (d->sharded) return step_sharded(d, err);
    if (tg_dist_sync(d, err) != TG_OK) return err->status;
    return tg_optim_step(d->o.optim, err);
}

tg_dist_shard tg_dist_shard_used(const tg_dist *d) {
    return d && d->sharded ? TG_DIST_SHARD_ON : TG_DIST_SHARD_OFF;
}

/* Covered parameter i's state k between its data and a bucket's memory at ctx. */
typedef struct state_job {
    char *base;
    int k;
    bool to_bucket;
} state_job;

static void copy_state(const tg_dist *d, void *ctx, int i, int64_t in_param, int64_t in_bucket,
                       int64_t len) {
    const state_job *job = ctx;
    if (d->opt_index[i] < 0) return;
    tg_tensor *x = tg_optim_state(d->o.optim, d->opt_index[i], job->k);
    size_t esize = tg_dtype_size(tg_tensor_dtype(x));
    char *state = (char *)tg_tensor_data(x) + (size_t)in_param * esize;
    char *bucket = job->base + (size_t)in_bucket * esize;
    if (job->to_bucket)
        memcpy(bucket, state, (size_t)len * esize);
    else
        memcpy(state, bucket, (size_t)len * esize);
}

tg_status dist_gather_state(tg_dist *d, tg_error *err) {
    if (!d->sharded || d->size == 1) return TG_OK;
    int n_state = tg_optim_n_state(d->o.optim);
    int64_t most = 0;
    for (int b = 0; b < d->n_buckets; b++)
        if (d->buckets[b].n_elems > most) most = d->buckets[b].n_elems;
    /* one bucket's worth: rank 0 receives every slice into it; a peer sends its own from it */
    char *buf = calloc((size_t)most + 1, sizeof(double));
    if (!buf) return tg_error_set(err, TG_ERR_NOMEM, "dist: out of memory gathering the state");
    tg_status st = TG_OK;
    for (int b = 0; b < d->n_buckets && st == TG_OK; b++) {
        const dist_bucket *k = &d->buckets[b];
        MPI_Datatype type = dist_mpi_type(k->dtype);
        size_t esize = tg_dtype_size(k->dtype);
        for (int s = 0; s < n_state && st == TG_OK; s++) {
            state_job job = {buf, s, true};
            each_overlap(d, b, k->displs[d->rank], k->counts[d->rank], copy_state, &job);
            MPI_Request req;
            int rc = MPI_Igatherv(d->rank == 0 ? MPI_IN_PLACE : buf + (size_t)k->displs[d->rank] * esize,
                                  k->counts[d->rank], type, buf, k->counts, k->displs, type, 0,
                                  d->comm, &req);
            if (rc != MPI_SUCCESS) {
                st = dist_mpi_fail(d, rc, "gathering the optimiser state", err);
                break;
            }
            st = dist_wait(d, 1, &req, "gathering the optimiser state to rank 0", NULL, err);
            if (st == TG_OK && d->rank == 0) {
                job.to_bucket = false;
                for (int q = 1; q < d->size; q++)
                    each_overlap(d, b, k->displs[q], k->counts[q], copy_state, &job);
            }
        }
    }
    free(buf);
    return st;
}
