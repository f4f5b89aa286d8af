/* dist_int.h: what the two files of src/dist share: the group object, its buckets, and the
 * bounded wait every communication goes through. Never installed. */
#ifndef TG_DIST_INT_H
#define TG_DIST_INT_H

#include "tapegrad.h"
#include "tapegrad/dist.h"

/* Parameters [first, first + count) of d->params, whose gradients lie one after another in buf
 * (the store's block, tg_store_group_grads). */
typedef struct dist_bucket {
    int first, count;
    int64_t n_elems;
    tg_dtype dtype;
    char *buf;
    int n_ready;  /* parameters of this bucket whose gradient is final in this step */
    bool started; /* its reduction was started this step */
    bool done;    /* ...and has completed */
    MPI_Request req; /* deterministic mode's messages */
    /* The all-reduce in flight (reduce.c): exchanges done so far (0 to 2 (size - 1) in the
     * ring, 0 to log2(size) in pairs, 0 to 1 for MPI's); the current exchange's send and
     * receive (MPI's one request in xreq[0]); room for the sums coming in: a chunk (ring) or
     * the whole bucket (pairs). */
    int exchange;
    MPI_Request xreq[2];
    char *scratch;
    /* Sharded mode (shard.c): the reduce-scatter has finished and the all-gather waits for
     * this rank's update of its slice (paused), or has been posted after it (updated). Per
     * rank q, the length and first element of the slice q owns (MPI's reduce-scatter and
     * all-gather, and gathering the optimiser state, take them as counts and displacements). */
    bool paused, updated;
    int *counts, *displs;
} dist_bucket;

struct tg_dist {
    tg_store *s;
    MPI_Comm comm;
    int rank, size;
    tg_dist_opts o;
    int n_params;
    tg_tensor **params;  /* reverse creation order: roughly the order the sweep finishes them */
    int *bucket_of;      /* bucket of params[i] */
    int64_t *offset;     /* element offset of params[i] in its bucket */
    bool *ready;         /* params[i] was packed in this step */
    int n_buckets;
    dist_bucket *buckets;
    int hint;            /* where the search for the next reported parameter starts */
    tg_dist_algo algo;   /* opts.algo resolved (never AUTO) */
    int in_flight;       /* buckets started and not done in this step */
    /* opts.overlap, OFF in deterministic mode; AUTO until the first sync decides. While AUTO
     * the sweep starts buckets early (as ON) and counts the bytes of those it started: all of
     * them, and the latest one's. */
    tg_dist_overlap overlap;
    int64_t early_bytes, latest_early_bytes, total_bytes;
    double last_look;    /* dist_now() of the node hook's latest look at them */
    tg_tape *tape;
    /* deterministic mode: this rank's parts [chunk0, chunk0 + n_chunks) of det_chunks, and
     * each part's gradients, bucket by bucket (stash[k * n_buckets + b]) */
    int chunk0, n_chunks, chunks_done;
    char **stash;
    /* a failed or timed-out communication leaves the group unusable */
    bool broken;
    char broken_msg[200];
    tg_dist_stats stats;
    /* TG_DIST_ALGO_SHARED (shared.c): the segment every rank maps, each rank's region of it
     * (region_bytes apart), each bucket's byte offset in a region, and each bucket's notices
     * in flight (2 (size - 1) per bucket) */
    char *shm_base;
    size_t shm_bytes, region_bytes;
    size_t *bucket_at;
    MPI_Request *peer_req;
    /* Sharded mode (shard.c): whether it runs, this rank's parts of the parameters the
     * optimiser covers (its slice of every bucket), and each params[i]'s index among the
     * optimiser's parameters (-1: not covered) */
    bool sharded;
    /* ...and over shared memory the parameters of every rank live in one region of the segment
     * (shared.c), so a rank's update of its slice is every rank's: no all-gather of values */
    bool shared_params;
    int n_parts;
    tg_optim_part *parts;
    int *opt_index;
};

/* Waits for n requests, testing them (which also drives MPI's progress) and sleeping briefly
 * between tests, at most the group's timeout. On failure marks the group broken and sets err
 * to TG_ERR_IO: "rank R: <what> ...". Adds the time waited to *waited when not NULL, and then
 * the CPU time the waiting used to the group's stats. */
tg_status dist_wait(tg_dist *d, int n, MPI_Request *reqs, const char *what, double *waited,
                    tg_error *err);
/* The same bounded wait for work that poll(d, ctx, ...) moves on without blocking: it sets *done
 * when all is finished, may rewrite what (the description of what is waited for, a buffer of
 * DIST_WHAT_MAX bytes) as it goes, and returns an error status to stop the wait. */
#define DIST_WHAT_MAX 96
typedef tg_status (*dist_poll)(tg_dist *d, void *ctx, bool *done, char *what, tg_error *err);
tg_status dist_wait_poll(tg_dist *d, dist_poll poll, void *ctx, char *what, double *waited,
                         tg_error *err);
/* Seconds of CPU time used by the calling thread. */
double dist_thread_cpu(void);
/* TG_ERR_IO with the reason when the group is broken, else TG_OK. */
tg_status dist_usable(const tg_dist *d, tg_error *err);
/* Marks the group broken by MPI error code rc during `what`. */
tg_status dist_mpi_fail(tg_dist *d, int rc, const char *what, tg_error *err);
/* The MPI type of a dtype's elements. */
MPI_Datatype dist_mpi_type(tg_dtype dt);
/* Seconds on a monotonic clock. */
double dist_now(void);

/* reduce.c: the bucket layout (allocated with the group) and the gradient hook. */
tg_status dist_buckets_make(tg_dist *d, tg_error *err);
void dist_buckets_free(tg_dist *d);
tg_status dist_grad_ready(void *ctx, tg_tensor *param);
tg_status dist_node_done(void *ctx, int64_t visited);

/* Chunk c of bucket k (c taken modulo the ranks): its first element, its length in *len. */
int64_t dist_chunk_at(const tg_dist *d, const dist_bucket *k, int c, int64_t *len);
/* reduce.c, for tg_dist_step: starts every bucket not started yet; waits until every bucket
 * has finished (all = true) or, sharded, has at least finished its reduce-scatter; posts the
 * all-gather of bucket b, whose slice the caller has packed; the ordered sum of deterministic
 * mode (every bucket then holds the whole mean); and the end of a step (the overlap decision
 * of the first step, counters reset). */
tg_status dist_start_rest(tg_dist *d, tg_error *err);
tg_status dist_wait_buckets(tg_dist *d, bool all, tg_error *err);
tg_status dist_post_gather(tg_dist *d, int b, tg_error *err);
tg_status dist_ordered_sum(tg_dist *d, tg_error *err);
tg_status dist_end_step(tg_dist *d, tg_error *err);

/* shard.c: sharded mode. dist_shard_make decides whether it runs and maps the optimiser's
 * parameters (before the buckets' buffers are made), dist_shard_parts lays out this rank's
 * parts (after); dist_shard_free frees them; dist_owned_chunk is the chunk of
 * every bucket rank q owns (where the reduce-scatter leaves its sum); dist_shard_pack copies
 * the parameters of this rank's slice of bucket b into the bucket's memory at base;
 * dist_gather_state brings every rank's optimiser state to rank 0 (for a checkpoint). */
tg_status dist_shard_make(tg_dist *d, tg_error *err);
tg_status dist_shard_parts(tg_dist *d, tg_error *err);
void dist_shard_free(tg_dist *d);
int dist_owned_chunk(const tg_dist *d, int q);
void dist_shard_pack(const tg_dist *d, int b, char *base);
tg_status dist_gather_state(tg_dist *d, tg_error *err);

/* shared.c: TG_DIST_ALGO_SHARED. dist_shared_make maps the segment when every rank is on this
 * machine (*made; else nothing changes and the caller falls back); collective. It does not
 * move the gradients: dist_shared_bucket says where each bucket goes. dist_shared_free moves
 * them back into the store and unmaps. dist_shared_post posts the notices of phase
 * k->exchange of bucket b (to and from every peer, dist_shared_requests), dist_shared_finish
 * does the work once they have completed: after phase 0, the mean of this rank's slice, written
 * into every rank's region. */
tg_status dist_shared_make(tg_dist *d, bool *made, tg_error *err);
void dist_shared_free(tg_dist *d);
char *dist_shared_bucket(const tg_dist *d, int rank, int b);
/* Sharded: moves every rank's parameters into the segment's parameter region (rank 0's values
 * win), collective; dist_shared_param_bucket is where bucket b's parameters lie there, and
 * dist_shared_params_in_place whether they still do (another group may have moved them). */
tg_status dist_shared_params(tg_dist *d, tg_error *err);
char *dist_shared_param_bucket(const tg_dist *d, int b);
bool dist_shared_params_in_place(const tg_dist *d);
MPI_Request *dist_shared_requests(const tg_dist *d, int b, int *n);
tg_status dist_shared_post(tg_dist *d, int b, tg_error *err);
void dist_shared_finish(tg_dist *d, int b);

#endif
