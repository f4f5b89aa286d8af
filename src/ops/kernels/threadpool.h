/* threadpool.h: the kernels' threads: a lazily started pthread pool with a parallel-for, the
 * process-wide thread count, and per-thread scratch memory (packing buffers) kept for reuse.
 *
 * Invariant: kern_parallel_for never fails and never deadlocks: whenever the pool cannot take
 * a job (one thread wanted, pool busy with another caller's job, a call from inside a task, no
 * worker could be started) the tasks run on the calling thread, in order. */
#ifndef TG_KERN_THREADPOOL_H
#define TG_KERN_THREADPOOL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One task of a job: task indices run at most once each, concurrently and in any order. */
typedef void (*kern_task_fn)(void *ctx, int64_t task);

/* Runs fn(ctx, i) for every i in [0, n_tasks) on at most max_threads threads (the caller is
 * one of them, and also at most kern_threads()), returning when all have finished. */
void kern_parallel_for(int64_t n_tasks, int max_threads, kern_task_fn fn, void *ctx);

/* The same, except that when no worker is awake (all asleep, or none started) the tasks run
 * on the caller: for jobs too small to repay waking a thread, but worth sharing with one that
 * is still polling after the previous job. */
void kern_parallel_for_if_awake(int64_t n_tasks, int max_threads, kern_task_fn fn, void *ctx);

/* Runs fn(ctx, rank, n_ranks) once for every rank in [0, n_ranks), where n_ranks (1 <= n_ranks
 * <= max_threads) is what the pool could give (1 when it cannot take the job, as for
 * kern_parallel_for). Ranks that wait for one another are on distinct threads (the job stays
 * open to workers while its caller's rank waits); ranks that never wait may also run one after
 * another on one thread. */
typedef void (*kern_team_fn)(void *ctx, int rank, int n_ranks);
void kern_parallel_team(int max_threads, kern_team_fn fn, void *ctx);

/* Runs fn(ctx, begin, end) over [0, n) cut into one piece per thread (multiples of align),
 * when n times weight (the elements each index stands for) is large enough: from 2^17
 * elements it wakes workers, from 2^14 it shares with workers still awake. Returns false,
 * having run nothing, when the work is too small or there is one thread: the caller then
 * runs it whole. */
enum { KERN_PIECES_WAKE = 1 << 17, KERN_PIECES_AWAKE = 1 << 14 };
bool kern_parallel_pieces(int64_t n, int64_t weight, int64_t align,
                          void (*fn)(void *ctx, int64_t begin, int64_t end), void *ctx);

/* A count that threads wait on within a job (tasks done, say): kern_counter_wait polls for a
 * while, as the pool's idle workers do, then sleeps, so that a waiting thread gives its core to
 * the one it waits for when the machine has more runnable threads than cores;
 * kern_counter_add wakes the sleepers. Zero-initialise (or atomic_init value), then use. */
typedef struct kern_counter {
    atomic_int_fast64_t value;
    atomic_int sleepers;
} kern_counter;
/* Returns once c->value >= want (acquire: what the adders wrote before adding is visible). */
void kern_counter_wait(kern_counter *c, int64_t want);
/* Adds n to c->value (release) and wakes any thread sleeping in kern_counter_wait. */
void kern_counter_add(kern_counter *c, int64_t n);

/* One step of a polling wait, step i of it: a pause instruction at first, then, after a few
 * thousand steps, yielding the CPU in case the machine has more runnable threads than cores. */
void kern_cpu_relax(int i);

/* The thread count in effect (>= 1); set with kern_set_threads (tg_set_threads). */
int kern_threads(void);
/* n <= 0: one per online CPU; capped at KERN_MAX_THREADS. Returns the count now in effect. */
int kern_set_threads(int n);
#define KERN_MAX_THREADS 256

/* The calling thread's scratch block number `slot` (< KERN_SCRATCH_SLOTS) of at least `bytes`
 * bytes, 64-byte aligned, or NULL when memory runs out. Each block is kept for the thread's
 * next call (grown when a larger one is asked for) and freed when the thread exits; its
 * contents do not survive the next call with the same slot. Two slots let a thread hold a
 * buffer it shares with a team (slot 1) while asking for its own (slot 0). */
#define KERN_SCRATCH_SLOTS 2
void *kern_scratch(int slot, size_t bytes);

#endif
