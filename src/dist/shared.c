/* shared.c: TG_DIST_ALGO_SHARED, the all-reduce of ranks that share one machine, through memory
 * they all map. Each rank's gradient buckets live in its own region of one shared segment (the
 * store groups them there, tg_store_group_grads_at), so a rank reads its peers' gradients in
 * place: nothing is sent but notices of zero bytes.
 *
 * A bucket's reduction runs in two phases, each ended by a notice to and from every peer:
 *   0. "my gradients are final": then rank r forms the mean of its own slice of the bucket (one
 *      slice per rank, as the ring cuts it), reading every rank's region, rank 0's first, so the
 *      additions are the same whichever rank does them, and writes it into every rank's region;
 *   1. "my slice is written everywhere": once every peer has said so, this rank's region holds
 *      the whole mean, and no peer reads or writes it any more this step, so the next step's
 *      sweep may write there.
 * Sharded (tg_dist_shard), the segment holds one more region, the parameters, which every
 * rank's store uses as its parameters' memory: phase 0 writes the mean into this rank's own
 * region only, the optimiser updates slice r of the parameters in place from it, and the
 * phase-1 notice says so; once every peer has said it, every rank's parameters are the whole
 * updated model, with no copy. (Should another group move the parameters out, the step falls
 * back to writing the slice's parameters into every rank's gradient region, from where each
 * rank copies the peers' slices.) The parameters are read by every rank's forward and
 * backward, so a rank updates its slice only when every rank has ended its sweep:
 * tg_dist_step waits for every bucket's phase 0, and when buckets start during the sweep for
 * every rank to have entered tg_dist_step as well.
 * Rank r alone reads or writes slice r of any region during phase 0, so no two ranks touch the
 * same bytes. Per rank and bucket of n bytes on 2 ranks that is n / 2 read from each region and
 * n / 2 written to each, against pairs' n copied by the kernel, page by page, and n summed.
 * The notices go through MPI like every other message, so each wait keeps its deadline and a
 * dead peer is reported as before. A segment comes from shm_open under a fresh name that rank 0 removes once
 * every rank has mapped it, so nothing is left behind whatever happens to the ranks later. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "dist_int.h"

enum { ALIGN = 64, PAGE = 4096, SUM_BLOCK = 512 };

static size_t round_up(size_t n, size_t to) { return (n + to - 1) / to * to; }

/* What rank 0 tells the others about the segment it made. */
typedef struct segment_note {
    int ok;
    char name[64];
} segment_note;

/* Maps the segment of total bytes named note->name: rank 0 creates it. "" or the reason. */
static void map_segment(tg_dist *d, const segment_note *note, size_t total, char *why,
                        size_t why_len) {
    int fd = shm_open(note->name, d->rank == 0 ? O_CREAT | O_EXCL | O_RDWR : O_RDWR, 0600);
    if (fd < 0) {
        snprintf(why, why_len, "shm_open('%s') failed", note->name);
        return;
    }
    /* posix_fallocate, not ftruncate: a tmpfs too small for the segment then fails here
     * instead of killing a rank with SIGBUS when it first touches a page past the limit. */
    if (d->rank == 0 && posix_fallocate(fd, 0, (off_t)total) != 0) {
        snprintf(why, why_len, "no room for a %zu-byte shared segment", total);
        close(fd);
        return;
    }
    void *p = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (p == MAP_FAILED) {
        snprintf(why, why_len, "mapping the %zu-byte shared segment failed", total);
        return;
    }
    d->shm_base = p;
    d->shm_bytes = total;
}

tg_status dist_shared_make(tg_dist *d, bool *made, tg_error *err) {
    *made = false;
    MPI_Comm node;
    int rc = MPI_Comm_split_type(d->comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node);
    if (rc != MPI_SUCCESS) return dist_mpi_fail(d, rc, "finding the ranks on this machine", err);
    int on_node = 0;
    MPI_Comm_size(node, &on_node);
    MPI_Comm_free(&node);
    if (on_node != d->size) return TG_OK; /* ranks on several machines: the caller falls back */
    size_t region = 0;
    d->bucket_at = calloc((size_t)d->n_buckets + 1, sizeof *d->bucket_at);
    if (!d->bucket_at) return tg_error_set(err, TG_ERR_NOMEM, "dist: out of memory");
    for (int b = 0; b < d->n_buckets; b++) {
        d->bucket_at[b] = region;
        region += round_up((size_t)d->buckets[b].n_elems * tg_dtype_size(d->buckets[b].dtype),
                           ALIGN);
    }
    d->region_bytes = round_up(region > 0 ? region : 1, PAGE);
    /* a region per rank for its gradients; sharded, one more for everyone's parameters */
    size_t total = d->region_bytes * (size_t)(d->size + (d->sharded ? 1 : 0));
    static atomic_int made_here;
    segment_note note = {0};
    if (d->rank == 0) {
        snprintf(note.name, sizeof note.name, "/tapegrad-dist-%ld-%d", (long)getpid(),
                 atomic_fetch_add(&made_here, 1));
        note.ok = 1;
    }
    MPI_Request req;
    rc = MPI_Ibcast(&note, (int)sizeof note, MPI_BYTE, 0, d->comm, &req);
    if (rc != MPI_SUCCESS) return dist_mpi_fail(d, rc, "sharing the segment's name", err);
    if (dist_wait(d, 1, &req, "sharing the segment's name", NULL, err) != TG_OK) return TG_ERR_IO;
    note.name[sizeof note.name - 1] = '\0';
    /* rank 0 first, so that the others open a segment that exists and has its size */
    char why[160] = "";
    if (d->rank == 0) map_segment(d, &note, total, why, sizeof why);
    tg_error agreed = {0};
    tg_status st = tg_dist_agree(d, why[0] ? TG_ERR_IO : TG_OK, why, &agreed);
    if (st == TG_OK && d->rank != 0) map_segment(d, &note, total, why, sizeof why);
    if (st == TG_OK) st = tg_dist_agree(d, why[0] ? TG_ERR_IO : TG_OK, why, &agreed);
    if (d->rank == 0) shm_unlink(note.name); /* every rank that could map it has */
    if (d->broken) return tg_error_set(err, TG_ERR_IO, "%s", agreed.message);
    if (st != TG_OK) { /* a rank could not map it: every rank falls back */
        dist_shared_free(d);
        return TG_OK;
    }
    d->peer_req = calloc((size_t)d->n_buckets * 2 * (size_t)(d->size - 1) + 1, sizeof *d->peer_req);
    if (!d->peer_req) return tg_error_set(err, TG_ERR_NOMEM, "dist: out of memory");
    for (int i = 0; i < d->n_buckets * 2 * (d->size - 1); i++) d->peer_req[i] = MPI_REQUEST_NULL;
    *made = true;
    return TG_OK;
}

char *dist_shared_bucket(const tg_dist *d, int rank, int b) {
    return d->shm_base + (size_t)rank * d->region_bytes + d->bucket_at[b];
}

char *dist_shared_param_bucket(const tg_dist *d, int b) {
    return d->shm_base + (size_t)d->size * d->region_bytes + d->bucket_at[b];
}

bool dist_shared_params_in_place(const tg_dist *d) {
    for (int b = 0; b < d->n_buckets; b++) {
        const dist_bucket *k = &d->buckets[b];
        size_t esize = tg_dtype_size(k->dtype);
        for (int i = k->first; i < k->first + k->count; i++)
            if ((char *)tg_tensor_data(d->params[i]) !=
                dist_shared_param_bucket(d, b) + (size_t)d->offset[i] * esize)
                return false;
    }
    return true;
}

tg_status dist_shared_params(tg_dist *d, tg_error *err) {
    /* Every rank moves its parameters into the one region, keeping their values: the others
     * first, then rank 0, so that the region ends with rank 0's values (what the broadcast
     * would give them anyway); each step is agreed, so no two ranks write at once. */
    for (int turn = 0; turn < 2; turn++) {
        tg_error mine = {0};
        tg_status st = TG_OK;
        if ((turn == 0) == (d->rank != 0))
            for (int b = 0; b < d->n_buckets && st == TG_OK; b++) {
                dist_bucket *k = &d->buckets[b];
                st = tg_store_group_params_at(d->s, k->count, &d->params[k->first],
                                              dist_shared_param_bucket(d, b), &mine);
            }
        if (tg_dist_agree(d, st, mine.message, err) != TG_OK) return err->status;
    }
    d->shared_params = true;
    return TG_OK;
}

void dist_shared_free(tg_dist *d) {
    if (d->shm_base) {
        /* the gradients, and the parameters when they live here, go back into the store's
         * memory before the segment goes */
        bool moved = true;
        for (int b = 0; b < d->n_buckets; b++) {
            dist_bucket *k = &d->buckets[b];
            if (tg_tensor_data(tg_tensor_grad(d->params[k->first])) ==
                    dist_shared_bucket(d, d->rank, b) &&
                tg_store_group_grads(d->s, k->count, &d->params[k->first], NULL) != TG_OK)
                moved = false;
            if (d->shared_params &&
                tg_tensor_data(d->params[k->first]) == dist_shared_param_bucket(d, b) &&
                tg_store_group_params(d->s, k->count, &d->params[k->first], NULL) != TG_OK)
                moved = false;
        }
        if (moved) munmap(d->shm_base, d->shm_bytes); /* else leave it mapped: still in use */
    }
    d->shm_base = NULL;
    d->shared_params = false;
    free(d->bucket_at);
    d->bucket_at = NULL;
    free(d->peer_req);
    d->peer_req = NULL;
}

MPI_Request *dist_shared_requests(const tg_dist *d, int b, int *n) {
    *n = 2 * (d->size - 1);
    return d->peer_req + (size_t)b * (size_t)*n;
}

tg_status dist_shared_post(tg_dist *d, int b, tg_error *err) {
    dist_bucket *k = &d->buckets[b];
    int n;
    MPI_Request *reqs = dist_shared_requests(d, b, &n);
    const int tag = (2 * b + k->exchange) % 32768;
    /* what this rank wrote must be visible to the peers before they hear of it */
    atomic_thread_fence(memory_order_seq_cst);
    int i = 0;
    for (int q = 0; q < d->size; q++) {
        if (q == d->rank) continue;
        int rc = MPI_Irecv(NULL, 0, MPI_BYTE, q, tag, d->comm, &reqs[i++]);
        if (rc == MPI_SUCCESS) rc = MPI_Isend(NULL, 0, MPI_BYTE, q, tag, d->comm, &reqs[i++]);
        if (rc != MPI_SUCCESS) return dist_mpi_fail(d, rc, "a notice of the shared all-reduce", err);
    }
    return TG_OK;
}

/* Every rank's [lo, lo + n) = (rank 0's + rank 1's + ...) * scale, in dtype T, a block at a
 * time so that the running sums stay in L1 while every rank's part is added in rank order;
 * ranks [q_lo, q_hi) get the result: all of them, or sharded this rank alone, whose update
 * reads its slice's mean there (the peers then get parameters, dist_shared_gather). */
#define SUM_SLICE(T)                                                                    \
    do {                                                                                \
        T acc[SUM_BLOCK];                                                               \
        const T s = (T)scale;                                                           \
        for (int64_t j0 = 0; j0 < n; j0 += SUM_BLOCK) {                                 \
            int64_t m = n - j0 < SUM_BLOCK ? n - j0 : SUM_BLOCK;                        \
            const T *p0 = (const T *)(const void *)(dist_shared_bucket(d, 0, b)) + lo + j0; \
            for (int64_t j = 0; j < m; j++) acc[j] = p0[j];                             \
            for (int q = 1; q < d->size; q++) {                                         \
                const T *pq =                                                           \
                    (const T *)(const void *)(dist_shared_bucket(d, q, b)) + lo + j0;   \
                for (int64_t j = 0; j < m; j++) acc[j] += pq[j];                        \
            }                                                                           \
            for (int64_t j = 0; j < m; j++) acc[j] *= s;                                \
            for (int q = q_lo; q < q_hi; q++)                                           \
                memcpy((T *)(void *)(dist_shared_bucket(d, q, b)) + lo + j0, acc,       \
                       (size_t)m * sizeof(T));                                          \
        }                                                                               \
    } while (0)

void dist_shared_finish(tg_dist *d, int b) {
    dist_bucket *k = &d->buckets[b];
    atomic_thread_fence(memory_order_seq_cst); /* see what the peers wrote before their notices */
    if (k->exchange != 0) return;              /* after phase 1 the region is complete */
    const double scale = 1.0 / d->size;
    int64_t lo = (int64_t)d->rank * k->n_elems / d->size;
    int64_t n = (int64_t)(d->rank + 1) * k->n_elems / d->size - lo;
    const int q_lo = d->sharded ? d->rank : 0, q_hi = d->sharded ? d->rank + 1 : d->size;
    if (k->dtype == TG_F64)
        SUM_SLICE(double);
    else
        SUM_SLICE(float);
}
