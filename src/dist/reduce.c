/* reduce.c: averaging the gradients across ranks. Parameters are laid out in buckets in reverse
 * creation order, and each bucket's gradients are moved into one block of the store
 * (tg_store_group_grads), so the sweep accumulates straight into the buffer MPI reduces: no copy
 * in, no copy out. The sweep's gradient hook counts each parameter whose gradient is final, and
 * a full bucket's all-reduce starts at once, in place, overlapping the rest of the sweep.
 * tg_dist_sync starts what is left and waits.
 *
 * Three all-reduces (tg_dist_opts.algo). The ring: the bucket is cut into one chunk per rank;
 * in size - 1 exchanges each rank sends a chunk of partial sums to the next rank and adds the
 * chunk the previous one sent into its own (reduce-scatter), after which it holds the whole sum
 * of one chunk, divides it by the number of ranks, and in size - 1 more exchanges the finished
 * chunks go round (all-gather): the least data per rank, in 2 (size - 1) rounds. Pairs
 * (recursive doubling, power-of-two sizes): in round j each rank swaps its whole partial sum
 * with rank ^ 2^j and adds the one received; on 2 ranks that is one round moving the same
 * bytes as the ring's two. MPI: MPI_Iallreduce in place (Open MPI's copies the buffer first).
 *
 * A round completes only when both ranks of an exchange have been inside an MPI call after
 * both posted (over shared memory the receiver copies the message when it looks), and a rank
 * computing a long rule does not look. So the library looks, and posts the next round of any
 * bucket whose round finished, at every gradient-hook call and from the sweep's node hook
 * (rate-limited): the fewer rounds, the fewer looks an all-reduce needs to finish during a
 * sweep, which is why pairs is the default on 2 ranks.
 *
 * Deterministic mode instead keeps each part's gradients apart and sums them in part order:
 * rank r receives the running sum of the parts before its own from rank r - 1, adds its parts
 * one by one and passes it on; the last rank broadcasts the total. The additions are the same,
 * in the same order, whatever the number of ranks, so the result is the same bits. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dist_int.h"

tg_status dist_buckets_make(tg_dist *d, tg_error *err) {
    int n = tg_store_n_params(d->s);
    d->n_params = n;
    d->params = calloc((size_t)n + 1, sizeof *d->params);
    d->bucket_of = calloc((size_t)n + 1, sizeof *d->bucket_of);
    d->offset = calloc((size_t)n + 1, sizeof *d->offset);
    d->ready = calloc((size_t)n + 1, sizeof *d->ready);
    d->buckets = calloc((size_t)n + 1, sizeof *d->buckets);
    if (!d->params || !d->bucket_of || !d->offset || !d->ready || !d->buckets) goto nomem;
    /* Layers make their parameters in the order the forward pass uses them, so the sweep
     * finishes them roughly newest first: bucket 0 holds the last-made ones and fills first. */
    for (int i = 0; i < n; i++) d->params[i] = tg_store_get_param(d->s, n - 1 - i);
    dist_bucket *cur = NULL;
    for (int i = 0; i < n; i++) {
        tg_tensor *p = d->params[i];
        int64_t numel = tg_tensor_numel(p);
        size_t esize = tg_dtype_size(tg_tensor_dtype(p));
        if (numel > INT32_MAX)
            return tg_error_set(err, TG_ERR_ARG,
                                "dist: parameter '%s' has %lld elements; MPI counts stop at %d",
                                tg_tensor_name(p), (long long)numel, INT32_MAX);
        if (!cur || cur->dtype != tg_tensor_dtype(p) ||
            (int64_t)((cur->n_elems + numel) * (int64_t)esize) > d->o.bucket_bytes ||
            cur->n_elems + numel > INT32_MAX) {
            cur = &d->buckets[d->n_buckets++];
            cur->first = i;
            cur->dtype = tg_tensor_dtype(p);
            cur->req = MPI_REQUEST_NULL;
        }
        d->bucket_of[i] = (int)(cur - d->buckets);
        d->offset[i] = cur->n_elems;
        cur->n_elems += numel;
        cur->count++;
        d->total_bytes += numel * (int64_t)esize;
    }
    d->overlap = d->o.deterministic ? TG_DIST_OVERLAP_OFF : d->o.overlap;
    /* sharding first: a shared segment then also holds the parameters */
    if (dist_shard_make(d, err) != TG_OK) return err->status;
    bool power_of_two = (d->size & (d->size - 1)) == 0;
    /* AUTO: shared memory when every rank is on this machine; else pairs on 2 ranks (one
     * round where the ring takes two, the same bytes), the ring on more (fewer bytes) */
    bool chosen = d->o.algo == TG_DIST_ALGO_AUTO;
    d->algo = chosen ? TG_DIST_ALGO_SHARED : d->o.algo;
    if (d->algo == TG_DIST_ALGO_SHARED && !d->o.deterministic && d->size > 1) {
        bool made = false;
        if (dist_shared_make(d, &made, err) != TG_OK) return err->status;
        if (!made) /* not all on one machine, or no segment */
            d->algo = chosen && d->size == 2 ? TG_DIST_ALGO_PAIRS : TG_DIST_ALGO_RING;
    }
    if (d->algo == TG_DIST_ALGO_PAIRS && !power_of_two) d->algo = TG_DIST_ALGO_RING;
    /* AUTO shards only where the parameters can be shared (shard.c) */
    if (d->sharded && d->o.shard == TG_DIST_SHARD_AUTO && !d->shm_base) d->sharded = false;
    /* Sharded, pairs runs the ring: recursive doubling leaves every rank the whole sum, and a
     * reduce-scatter by recursive halving on 2 ranks is the ring's one exchange. */
    if (d->sharded && d->algo == TG_DIST_ALGO_PAIRS) d->algo = TG_DIST_ALGO_RING;
    for (int b = 0; b < d->n_buckets; b++) {
        dist_bucket *k = &d->buckets[b];
        tg_status st =
            d->shm_base ? tg_store_group_grads_at(d->s, k->count, &d->params[k->first],
                                                  dist_shared_bucket(d, d->rank, b), err)
                        : tg_store_group_grads(d->s, k->count, &d->params[k->first], err);
        if (st != TG_OK) return err->status;
        k->buf = tg_tensor_data(tg_tensor_grad(d->params[k->first]));
        k->xreq[0] = k->xreq[1] = MPI_REQUEST_NULL;
        /* the ring's largest chunk, ceil(n / size) elements (also what MPI's reduce-scatter
         * leaves a rank, sharded); pairs receive whole buckets */
        bool chunked = d->algo == TG_DIST_ALGO_RING || (d->sharded && d->algo == TG_DIST_ALGO_MPI);
        int64_t chunk = d->algo == TG_DIST_ALGO_PAIRS ? k->n_elems
                        : chunked                     ? (k->n_elems + d->size - 1) / d->size
                                                      : 0;
        k->scratch = malloc((size_t)chunk * tg_dtype_size(k->dtype) + 1);
        if (!k->scratch) goto nomem;
        if (d->sharded) {
            k->counts = malloc((size_t)d->size * sizeof *k->counts);
            k->displs = malloc((size_t)d->size * sizeof *k->displs);
            if (!k->counts || !k->displs) goto nomem;
            for (int q = 0; q < d->size; q++) {
                int64_t len;
                k->displs[q] = (int)dist_chunk_at(d, k, dist_owned_chunk(d, q), &len);
                k->counts[q] = (int)len;
            }
        }
    }
    if (d->sharded && dist_shard_parts(d, err) != TG_OK) return err->status;
    if (d->sharded && d->shm_base && dist_shared_params(d, err) != TG_OK) return err->status;
    if (d->o.deterministic) {
        d->chunk0 = (int)((int64_t)d->rank * d->o.det_chunks / d->size);
        d->n_chunks = (int)((int64_t)(d->rank + 1) * d->o.det_chunks / d->size) - d->chunk0;
        d->stash = calloc((size_t)d->n_chunks * (size_t)d->n_buckets + 1, sizeof *d->stash);
        if (!d->stash) goto nomem;
        for (int k = 0; k < d->n_chunks; k++)
            for (int b = 0; b < d->n_buckets; b++) {
                dist_bucket *bk = &d->buckets[b];
                d->stash[k * d->n_buckets + b] =
                    malloc((size_t)bk->n_elems * tg_dtype_size(bk->dtype) + 1);
                if (!d->stash[k * d->n_buckets + b]) goto nomem;
            }
    }
    return TG_OK;
nomem:
    return tg_error_set(err, TG_ERR_NOMEM, "dist: out of memory for the gradient buckets");
}

void dist_buckets_free(tg_dist *d) {
    /* the buckets' buffers are the store's gradients: the store frees them (a shared
     * segment's are moved back into the store first) */
    dist_shared_free(d);
    for (int b = 0; d->buckets && b < d->n_buckets; b++) {
        free(d->buckets[b].scratch);
        free(d->buckets[b].counts);
        free(d->buckets[b].displs);
    }
    dist_shard_free(d);
    if (d->stash)
        for (int i = 0; i < d->n_chunks * d->n_buckets; i++) free(d->stash[i]);
    free(d->stash);
    free(d->buckets);
    free(d->params);
    free(d->bucket_of);
    free(d->offset);
    free(d->ready);
}

/* Copies params[i]'s gradient into dst, laid out as bucket bucket_of[i] (or zeros when it has
 * none yet). */
static void pack(const tg_dist *d, int i, char *dst) {
    tg_tensor *p = d->params[i];
    size_t esize = tg_dtype_size(tg_tensor_dtype(p));
    size_t bytes = (size_t)tg_tensor_numel(p) * esize;
    char *at = dst + (size_t)d->offset[i] * esize;
    tg_tensor *g = tg_tensor_grad(p);
    if (g)
        memcpy(at, tg_tensor_data(g), bytes);
    else
        memset(at, 0, bytes);
}

/* Multiplies n elements of a bucket's dtype at p, in place, by scale. */
static void scale_elems(tg_dtype dt, char *p, int64_t n, double scale) {
    if (scale == 1.0) return;
    if (dt == TG_F64) {
        double *g = (double *)(void *)p;
        for (int64_t j = 0; j < n; j++) g[j] *= scale;
    } else {
        float *g = (float *)(void *)p;
        float s = (float)scale;
        for (int64_t j = 0; j < n; j++) g[j] *= s;
    }
}

/* acc[0, n) += part[0, n), element by element, in dtype dt. */
static void add_elems(tg_dtype dt, char *acc, const char *part, int64_t n) {
    if (dt == TG_F64) {
        double *a = (double *)(void *)acc;
        const double *p = (const double *)(const void *)part;
        for (int64_t j = 0; j < n; j++) a[j] += p[j];
    } else {
        float *a = (float *)(void *)acc;
        const float *p = (const float *)(const void *)part;
        for (int64_t j = 0; j < n; j++) a[j] += p[j];
    }
}

/* acc[0, n) = (acc[0, n) + part[0, n)) * scale: the last round of pairs in one pass over the
 * bucket instead of two, the same bits as adding and then scaling. */
static void add_scale_elems(tg_dtype dt, char *acc, const char *part, int64_t n, double scale) {
    if (dt == TG_F64) {
        double *a = (double *)(void *)acc;
        const double *p = (const double *)(const void *)part;
        for (int64_t j = 0; j < n; j++) a[j] = (a[j] + p[j]) * scale;
    } else {
        float *a = (float *)(void *)acc;
        const float *p = (const float *)(const void *)part;
        float s = (float)scale;
        for (int64_t j = 0; j < n; j++) a[j] = (a[j] + p[j]) * s;
    }
}

int64_t dist_chunk_at(const tg_dist *d, const dist_bucket *k, int c, int64_t *len) {
    c = ((c % d->size) + d->size) % d->size;
    int64_t lo = (int64_t)c * k->n_elems / d->size, hi = (int64_t)(c + 1) * k->n_elems / d->size;
    *len = hi - lo;
    return lo;
}

/* Exchanges bucket b's all-reduce takes in all. */
static int exchanges_of(const tg_dist *d) {
    if (d->algo == TG_DIST_ALGO_MPI) return d->sharded ? 2 : 1;
    if (d->algo == TG_DIST_ALGO_SHARED) return 2;
    if (d->algo == TG_DIST_ALGO_RING) return 2 * (d->size - 1);
    int rounds = 0;
    while ((1 << rounds) < d->size) rounds++;
    return rounds;
}

/* Sharded: the exchanges of the reduce-scatter, after which bucket b waits for the update. */
static int scatter_exchanges(const tg_dist *d) {
    return d->algo == TG_DIST_ALGO_RING ? d->size - 1 : 1;
}

/* Posts exchange number k->exchange of bucket b's all-reduce. Ring: in the reduce-scatter
 * (exchanges 0 to size - 2) rank r sends chunk r - e of partial sums and receives chunk
 * r - e - 1 into scratch; in the all-gather (e = size - 1 + t) it sends the finished chunk
 * r + 1 - t and receives chunk r - t in place. Pairs: exchange e swaps the whole bucket with
 * rank r ^ 2^e, received into scratch. MPI: the one nonblocking all-reduce. */
static tg_status post_exchange(tg_dist *d, int b, tg_error *err) {
    dist_bucket *k = &d->buckets[b];
    const int n = d->size, r = d->rank, e = k->exchange;
    const size_t esize = tg_dtype_size(k->dtype);
    const MPI_Datatype type = dist_mpi_type(k->dtype);
    const int tag = b % 32768; /* MPI promises tags up to 32767 */
    if (d->algo == TG_DIST_ALGO_SHARED) return dist_shared_post(d, b, err);
    if (d->algo == TG_DIST_ALGO_MPI && d->sharded) {
        /* a reduce-scatter into scratch, then an all-gather of the parameters in place */
        int rc = e == 0 ? MPI_Ireduce_scatter(k->buf, k->scratch, k->counts, type, MPI_SUM,
                                              d->comm, &k->xreq[0])
                        : MPI_Iallgatherv(MPI_IN_PLACE, 0, type, k->buf, k->counts, k->displs,
                                          type, d->comm, &k->xreq[0]);
        if (rc != MPI_SUCCESS)
            return dist_mpi_fail(d, rc, e == 0 ? "a bucket's reduce-scatter"
                                               : "a bucket's all-gather", err);
        return TG_OK;
    }
    if (d->algo != TG_DIST_ALGO_RING) {
        int rc;
        if (d->algo == TG_DIST_ALGO_MPI) {
            rc = MPI_Iallreduce(MPI_IN_PLACE, k->buf, (int)k->n_elems, type, MPI_SUM, d->comm,
                                &k->xreq[0]);
        } else {
            int peer = r ^ (1 << e);
            rc = MPI_Irecv(k->scratch, (int)k->n_elems, type, peer, tag, d->comm, &k->xreq[1]);
            if (rc == MPI_SUCCESS)
                rc = MPI_Isend(k->buf, (int)k->n_elems, type, peer, tag, d->comm, &k->xreq[0]);
        }
        if (rc != MPI_SUCCESS)
            return dist_mpi_fail(d, rc, "an exchange of a bucket's all-reduce", err);
        return TG_OK;
    }
    bool gather = e >= n - 1;
    int t = gather ? e - (n - 1) : e;
    int64_t send_len, recv_len;
    int64_t send_at = dist_chunk_at(d, k, gather ? r + 1 - t : r - t, &send_len);
    int64_t recv_at = dist_chunk_at(d, k, gather ? r - t : r - t - 1, &recv_len);
    char *into = gather ? k->buf + (size_t)recv_at * esize : k->scratch;
    int rc = MPI_Irecv(into, (int)recv_len, type, (r + n - 1) % n, tag, d->comm, &k->xreq[1]);
    if (rc == MPI_SUCCESS)
        rc = MPI_Isend(k->buf + (size_t)send_at * esize, (int)send_len, type, (r + 1) % n, tag,
                       d->comm, &k->xreq[0]);
    if (rc != MPI_SUCCESS) return dist_mpi_fail(d, rc, "an exchange of a bucket's all-reduce", err);
    return TG_OK;
}

/* Finishes exchange k->exchange of bucket b, whose messages have all arrived: ring, the
 * partial sums of chunk r - e - 1 added (and, after the last of those, the own chunk's sum
 * divided into the mean); pairs, the partner's bucket added (a + b is b + a in IEEE
 * arithmetic, so both partners hold the same bits), and after the last round the mean; MPI,
 * the mean. */
static void finish_exchange(tg_dist *d, int b) {
    dist_bucket *k = &d->buckets[b];
    const int n = d->size, last = exchanges_of(d) - 1;
    const size_t esize = tg_dtype_size(k->dtype);
    if (d->algo == TG_DIST_ALGO_SHARED) {
        dist_shared_finish(d, b);
        return;
    }
    if (d->algo == TG_DIST_ALGO_PAIRS) {
        if (k->exchange == last)
            add_scale_elems(k->dtype, k->buf, k->scratch, k->n_elems, 1.0 / n);
        else
            add_elems(k->dtype, k->buf, k->scratch, k->n_elems);
        return;
    }
    if (d->algo == TG_DIST_ALGO_MPI && d->sharded) {
        if (k->exchange == 0) { /* this rank's slice of the sum: its mean into the gradients */
            char *at = k->buf + (size_t)k->displs[d->rank] * esize;
            memcpy(at, k->scratch, (size_t)k->counts[d->rank] * esize);
            scale_elems(k->dtype, at, k->counts[d->rank], 1.0 / n);
        }
        return;
    }
    if (d->algo == TG_DIST_ALGO_MPI) {
        scale_elems(k->dtype, k->buf, k->n_elems, 1.0 / n);
        return;
    }
    int64_t len;
    if (k->exchange < n - 1) { /* partial sums of chunk r - e - 1 arrived */
        int64_t at = dist_chunk_at(d, k, d->rank - k->exchange - 1, &len);
        add_elems(k->dtype, k->buf + (size_t)at * esize, k->scratch, len);
    }
    if (k->exchange == n - 2) { /* chunk r + 1 now holds the sum over all ranks */
        int64_t at = dist_chunk_at(d, k, d->rank + 1, &len);
        scale_elems(k->dtype, k->buf + (size_t)at * esize, len, 1.0 / n);
    }
}

/* Moves bucket b's all-reduce on as far as it goes without waiting: each exchange whose
 * messages have all completed is finished and the next one posted; k->done once the last
 * has completed. */
static tg_status advance(tg_dist *d, int b, tg_error *err) {
    dist_bucket *k = &d->buckets[b];
    while (k->started && !k->done && !k->paused) {
        int flag = 0, n_reqs = 2;
        MPI_Request *reqs = d->algo == TG_DIST_ALGO_SHARED ? dist_shared_requests(d, b, &n_reqs)
                                                           : k->xreq;
        int rc = MPI_Testall(n_reqs, reqs, &flag, MPI_STATUSES_IGNORE);
        if (rc != MPI_SUCCESS) return dist_mpi_fail(d, rc, "a bucket's all-reduce", err);
        if (!flag) return TG_OK;
        finish_exchange(d, b);
        if (++k->exchange == exchanges_of(d)) {
            k->done = true;
            d->in_flight--;
            break;
        }
        if (d->sharded && k->exchange == scatter_exchanges(d) && !k->updated) {
            k->paused = true; /* tg_dist_step updates this rank's slice, then posts the rest */
            d->in_flight--;
            break;
        }
        if (post_exchange(d, b, err) != TG_OK) return TG_ERR_IO;
    }
    return TG_OK;
}

/* Points k->buf at bucket b's gradients, which lie one after another as tg_dist_new grouped
 * them unless something grouped them differently since (a second group over the same store):
 * then they are grouped again, values kept, so the reduction never works on a stale block. */
static tg_status locate(tg_dist *d, int b, tg_error *err) {
    dist_bucket *k = &d->buckets[b];
    size_t esize = tg_dtype_size(k->dtype);
    char *base = tg_tensor_data(tg_tensor_grad(d->params[k->first]));
    bool together = true;
    for (int i = k->first + 1; i < k->first + k->count && together; i++)
        together = (char *)tg_tensor_data(tg_tensor_grad(d->params[i])) ==
                   base + (size_t)d->offset[i] * esize;
    if (d->shm_base && base != dist_shared_bucket(d, d->rank, b)) together = false;
    if (!together) {
        tg_status st =
            d->shm_base ? tg_store_group_grads_at(d->s, k->count, &d->params[k->first],
                                                  dist_shared_bucket(d, d->rank, b), err)
                        : tg_store_group_grads(d->s, k->count, &d->params[k->first], err);
        if (st != TG_OK) return TG_ERR_NOMEM;
        base = tg_tensor_data(tg_tensor_grad(d->params[k->first]));
    }
    k->buf = base;
    return TG_OK;
}

static tg_status start_bucket(tg_dist *d, int b, tg_error *err) {
    dist_bucket *k = &d->buckets[b];
    if (locate(d, b, err) != TG_OK) return TG_ERR_NOMEM;
    k->started = true;
    k->exchange = 0;
    if (d->size == 1) { /* the sum over one rank is the mean already */
        k->done = true;
        return TG_OK;
    }
    d->in_flight++;
    return post_exchange(d, b, err);
}

/* Lets the started reductions move on (MPI moves messages only inside its calls). */
static tg_status progress(tg_dist *d, tg_error *err) {
    for (int b = 0; b < d->n_buckets && d->in_flight > 0; b++)
        if (advance(d, b, err) != TG_OK) return TG_ERR_IO;
    d->last_look = dist_now();
    return TG_OK;
}

/* The sweep's node hook: the rules of a sweep run for long stretches without a parameter
 * becoming final (LeNet-5's convolutions after its fully connected layers' buckets left), and
 * a message only moves when both ranks look: without these looks a bucket started early sits
 * until tg_dist_sync. Rate-limited to one look per TG_DIST_PROGRESS_US. */
tg_status dist_node_done(void *ctx, int64_t visited) {
    (void)visited;
    tg_dist *d = ctx;
    if (d->broken || d->in_flight == 0) return TG_OK;
    if (dist_now() - d->last_look < 1e-6 * TG_DIST_PROGRESS_US) return TG_OK;
    d->stats.progress_looks++;
    return progress(d, NULL);
}

tg_status dist_grad_ready(void *ctx, tg_tensor *param) {
    tg_dist *d = ctx;
    if (d->broken || d->o.deterministic) return TG_OK;
    int i = -1;
    for (int j = 0; j < d->n_params && i < 0; j++) {
        int k = (d->hint + j) % d->n_params;
        if (d->params[k] == param) i = k;
    }
    if (i < 0) return TG_OK; /* a parameter of another store */
    d->hint = (i + 1) % d->n_params;
    dist_bucket *k = &d->buckets[d->bucket_of[i]];
    if (k->started) return TG_ERR_ARG; /* a second sweep in one step, after its bucket left */
    if (!d->ready[i]) { /* a second deposit (two sweeps) only adds to the same buffer */
        d->ready[i] = true;
        k->n_ready++;
    }
    if (k->n_ready == k->count && d->overlap != TG_DIST_OVERLAP_OFF) {
        if (start_bucket(d, d->bucket_of[i], NULL) != TG_OK) return TG_ERR_IO;
        d->stats.buckets_started_early++;
        d->latest_early_bytes = k->n_elems * (int64_t)tg_dtype_size(k->dtype);
        d->early_bytes += d->latest_early_bytes;
    }
    return progress(d, NULL);
}

static void next_step(tg_dist *d) {
    for (int b = 0; b < d->n_buckets; b++) {
        dist_bucket *k = &d->buckets[b];
        k->n_ready = 0;
        k->started = k->done = k->paused = k->updated = false;
        k->req = k->xreq[0] = k->xreq[1] = MPI_REQUEST_NULL;
        k->exchange = 0;
    }
    d->in_flight = 0;
    d->early_bytes = d->latest_early_bytes = 0;
    memset(d->ready, 0, (size_t)d->n_params * sizeof *d->ready);
    d->chunks_done = 0;
    d->stats.steps++;
}

tg_status tg_dist_chunk_done(tg_dist *d, tg_error *err) {
    if (dist_usable(d, err) != TG_OK) return TG_ERR_IO;
    if (!d->o.deterministic || d->chunks_done >= d->n_chunks)
        return tg_error_set(err, TG_ERR_ARG,
                            "dist: tg_dist_chunk_done called %s (this rank holds %d parts)",
                            d->o.deterministic ? "more often than there are parts"
                                               : "outside deterministic mode",
                            tg_dist_n_chunks(d));
    for (int b = 0; b < d->n_buckets; b++) {
        const dist_bucket *k = &d->buckets[b];
        for (int i = k->first; i < k->first + k->count; i++)
            pack(d, i, d->stash[d->chunks_done * d->n_buckets + b]);
    }
    tg_store_zero_grad(d->s);
    d->chunks_done++;
    return TG_OK;
}

tg_status dist_ordered_sum(tg_dist *d, tg_error *err) {
    if (d->chunks_done != d->n_chunks)
        return tg_error_set(err, TG_ERR_ARG,
                            "dist: deterministic sync after %d of this rank's %d parts "
                            "(call tg_dist_chunk_done after each part's backward)",
                            d->chunks_done, d->n_chunks);
    const int last = d->size - 1;
    double *waited = &d->stats.wait_seconds;
    for (int b = 0; b < d->n_buckets; b++)
        if (locate(d, b, err) != TG_OK) return TG_ERR_NOMEM;
    for (int b = 0; b < d->n_buckets; b++) {
        dist_bucket *k = &d->buckets[b];
        size_t bytes = (size_t)k->n_elems * tg_dtype_size(k->dtype);
        MPI_Datatype type = dist_mpi_type(k->dtype);
        int rc;
        if (d->rank > 0) {
            rc = MPI_Irecv(k->buf, (int)k->n_elems, type, d->rank - 1, b, d->comm, &k->req);
            if (rc != MPI_SUCCESS) return dist_mpi_fail(d, rc, "receiving the running sum", err);
            if (dist_wait(d, 1, &k->req, "receiving the running sum from the rank before",
                          waited, err) != TG_OK)
                return TG_ERR_IO;
        } else {
            memset(k->buf, 0, bytes);
        }
        for (int c = 0; c < d->n_chunks; c++) add_elems(k->dtype, k->buf, d->stash[c * d->n_buckets + b], k->n_elems);
        if (d->rank < last) {
            rc = MPI_Isend(k->buf, (int)k->n_elems, type, d->rank + 1, b, d->comm, &k->req);
            if (rc != MPI_SUCCESS) return dist_mpi_fail(d, rc, "passing the running sum", err);
            if (dist_wait(d, 1, &k->req, "passing the running sum to the next rank", waited,
                          err) != TG_OK)
                return TG_ERR_IO;
        }
    }
    for (int b = 0; b < d->n_buckets; b++) {
        dist_bucket *k = &d->buckets[b];
        int rc = MPI_Ibcast(k->buf, (int)k->n_elems, dist_mpi_type(k->dtype), last, d->comm,
                            &k->req);
        if (rc != MPI_SUCCESS) return dist_mpi_fail(d, rc, "broadcasting the sum", err);
        if (dist_wait(d, 1, &k->req, "broadcasting the sum from the last rank", waited, err) !=
            TG_OK)
            return TG_ERR_IO;
        scale_elems(k->dtype, k->buf, k->n_elems, 1.0 / d->o.det_chunks);
    }
    return TG_OK;
}

static tg_status sync_ordered(tg_dist *d, tg_error *err) {
    if (dist_ordered_sum(d, err) != TG_OK) return err->status;
    next_step(d);
    return TG_OK;
}

/* dist_wait_poll's poll for tg_dist_sync: every bucket's ring moved on; done when all are
 * (ctx non-NULL, sharded: when all have at least finished their reduce-scatter). */
static tg_status poll_buckets(tg_dist *d, void *ctx, bool *done, char *what, tg_error *err) {
    const bool scattered = ctx != NULL;
    if (progress(d, err) != TG_OK) return TG_ERR_IO;
    *done = true;
    for (int b = 0; b < d->n_buckets && *done; b++) {
        const dist_bucket *k = &d->buckets[b];
        if (k->done || (scattered && k->paused)) continue;
        *done = false;
        snprintf(what, DIST_WHAT_MAX, "the %s of bucket %d of %d",
                 !d->sharded                      ? "all-reduce"
                 : scattered || k->paused || !k->updated ? "reduce-scatter"
                                                  : "all-gather",
                 b, d->n_buckets);
    }
    return TG_OK;
}

tg_status dist_start_rest(tg_dist *d, tg_error *err) {
    for (int b = 0; b < d->n_buckets; b++)
        if (!d->buckets[b].started && start_bucket(d, b, err) != TG_OK) return err->status;
    return TG_OK;
}

tg_status dist_wait_buckets(tg_dist *d, bool all, tg_error *err) {
    char what[DIST_WHAT_MAX] = "the all-reduce";
    int scattered = 1; /* any non-NULL context: wait for the reduce-scatters only */
    return dist_wait_poll(d, poll_buckets, all ? NULL : &scattered, what, &d->stats.wait_seconds,
                          err);
}

tg_status dist_post_gather(tg_dist *d, int b, tg_error *err) {
    dist_bucket *k = &d->buckets[b];
    if (!k->paused) return TG_OK; /* one rank: done already */
    k->paused = false;
    k->updated = true;
    d->in_flight++;
    return post_exchange(d, b, err);
}

static tg_status decide_overlap(tg_dist *d, tg_error *err);

tg_status dist_end_step(tg_dist *d, tg_error *err) {
    if (d->overlap == TG_DIST_OVERLAP_AUTO && decide_overlap(d, err) != TG_OK) return TG_ERR_IO;
    next_step(d);
    return TG_OK;
}

/* TG_DIST_OVERLAP_AUTO's decision, at the end of the first synced step, which ran overlapped:
 * the bytes of the buckets the sweep started before its last one are what can travel while
 * the sweep still computes. Rank 0's verdict is everyone's, so that all ranks start their
 * collectives in the same order (TG_DIST_ALGO_MPI needs it) even if one rank's sweep
 * deposited in another order. */
static tg_status decide_overlap(tg_dist *d, tg_error *err) {
    double share = d->total_bytes > 0 ? (double)(d->early_bytes - d->latest_early_bytes) /
                                            (double)d->total_bytes
                                      : 0.0;
    d->stats.overlap_share = share;
    int verdict = share >= TG_DIST_OVERLAP_SHARE ? TG_DIST_OVERLAP_ON : TG_DIST_OVERLAP_OFF;
    MPI_Request req;
    int rc = MPI_Ibcast(&verdict, 1, MPI_INT, 0, d->comm, &req);
    if (rc != MPI_SUCCESS) return dist_mpi_fail(d, rc, "agreeing on the overlap", err);
    if (dist_wait(d, 1, &req, "agreeing on the overlap", NULL, err) != TG_OK) return TG_ERR_IO;
    d->overlap = (tg_dist_overlap)verdict;
    return TG_OK;
}

tg_status tg_dist_sync(tg_dist *d, tg_error *err) {
    if (dist_usable(d, err) != TG_OK) return TG_ERR_IO;
    if (d->sharded)
        return tg_error_set(err, TG_ERR_ARG,
                            "dist: the optimiser step is sharded: end each step with "
                            "tg_dist_step, which reduces and steps (no rank holds the whole "
                            "mean gradient)");
    if (d->o.deterministic) return sync_ordered(d, err);
    for (int b = 0; b < d->n_buckets; b++)
        if (!d->buckets[b].started && start_bucket(d, b, err) != TG_OK) return TG_ERR_IO;
    char what[DIST_WHAT_MAX] = "the all-reduce";
    if (dist_wait_poll(d, poll_buckets, NULL, what, &d->stats.wait_seconds, err) != TG_OK)
        return TG_ERR_IO;
    if (d->overlap == TG_DIST_OVERLAP_AUTO && decide_overlap(d, err) != TG_OK) return TG_ERR_IO;
    next_step(d);
    return TG_OK;
}
