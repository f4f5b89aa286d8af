/* threadpool.c: a small pthread pool for the kernels, its thread count, and per-thread scratch.
 *
 * One job runs at a time: its caller holds job_lock from posting until every worker that
 * joined the job has finished, so a job's fields never change while a thread may read them.
 * The job is open to workers only while its caller is still running tasks itself; a worker
 * waking later skips it, so a small job never waits for a sleeping thread. A caller that
 * cannot take job_lock at once (another job, or a nested call) runs its tasks itself. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "threadpool.h"

/* How long an idle worker, or a caller waiting for workers, polls before sleeping. Jobs in a
 * training step come back to back, and a sleeping thread takes tens of microseconds to wake;
 * the poll is kept short because the cores may be shared with other processes. */
#define SPIN_NS 50000

static struct {
    pthread_mutex_t job_lock; /* held by the caller whose job is posted */
    pthread_mutex_t mu;       /* guards everything below */
    pthread_cond_t wake;      /* workers: a new generation, or stop */
    pthread_cond_t done;      /* the caller: every joined worker has finished */
    pthread_t *threads;
    int n_workers;
    int n_use;                       /* workers 0..n_use-1 may join the current job */
    bool open;                       /* the current job still takes workers */
    int joined;                      /* workers that took the current job */
    atomic_int finished;             /* ...and have finished it */
    atomic_uint_fast64_t generation; /* bumped for every job posted */
    atomic_int n_awake;              /* workers polling or working, not asleep */
    bool stop;
    kern_task_fn fn;
    void *ctx;
    int64_t n_tasks;
    atomic_int_fast64_t next_task;
} pool = {
    .job_lock = PTHREAD_MUTEX_INITIALIZER,
    .mu = PTHREAD_MUTEX_INITIALIZER,
    .wake = PTHREAD_COND_INITIALIZER,
    .done = PTHREAD_COND_INITIALIZER,
};

static atomic_int threads_wanted; /* 0 until the first read of TG_THREADS */
static pthread_once_t hooks_once = PTHREAD_ONCE_INIT;

/* ---- per-thread scratch ----
 * Every thread's block is also on one global list, so blocks stay reachable (no leak report)
 * even in a forked child where the threads that owned them no longer exist. */
typedef struct scratch {
    struct scratch *prev, *next;
    void *raw[KERN_SCRATCH_SLOTS];
    size_t size[KERN_SCRATCH_SLOTS]; /* usable bytes from the aligned start */
    /* Each block is freed by the allocator that made it: a block lives as long as its thread,
     * while the application may install another allocator (tg_set_allocator) meanwhile. */
    tg_allocator raw_from[KERN_SCRATCH_SLOTS];
    tg_allocator self_from;
} scratch;

static pthread_mutex_t scratch_mu = PTHREAD_MUTEX_INITIALIZER;
static scratch *scratch_list;
static _Thread_local scratch *my_scratch;
static pthread_key_t scratch_key; /* its destructor frees a thread's blocks at thread exit */

static void install_hooks(void);

static void scratch_release(scratch *s) {
    if (!s) return;
    pthread_mutex_lock(&scratch_mu);
    if (s->prev)
        s->prev->next = s->next;
    else
        scratch_list = s->next;
    if (s->next) s->next->prev = s->prev;
    pthread_mutex_unlock(&scratch_mu);
    for (int i = 0; i < KERN_SCRATCH_SLOTS; i++) tg_free_with(&s->raw_from[i], s->raw[i]);
    tg_allocator self_from = s->self_from;
    tg_free_with(&self_from, s);
}

static void scratch_thread_exit(void *p) {
    scratch_release(p);
    my_scratch = NULL;
}

enum { SCRATCH_ALIGN = 64 };

static void *aligned_start(void *raw) {
    return (void *)(((uintptr_t)raw + SCRATCH_ALIGN - 1) & ~(uintptr_t)(SCRATCH_ALIGN - 1));
}

void *kern_scratch(int slot, size_t bytes) {
    scratch *s = my_scratch;
    if (s && s->size[slot] >= bytes) return aligned_start(s->raw[slot]);
    if (!s) {
        pthread_once(&hooks_once, install_hooks);
        s = tg_alloc(sizeof *s);
        if (!s) return NULL;
        *s = (scratch){0};
        s->self_from = tg_allocator_in_effect();
        pthread_mutex_lock(&scratch_mu);
        s->next = scratch_list;
        if (scratch_list) scratch_list->prev = s;
        scratch_list = s;
        pthread_mutex_unlock(&scratch_mu);
        my_scratch = s;
        pthread_setspecific(scratch_key, s);
    }
    /* Grow by half again so that slowly growing requests do not reallocate every time. */
    size_t want = bytes + bytes / 2;
    tg_free_with(&s->raw_from[slot], s->raw[slot]);
    s->raw_from[slot] = tg_allocator_in_effect();
    s->raw[slot] = tg_alloc(want + SCRATCH_ALIGN);
    s->size[slot] = s->raw[slot] ? want : 0;
    return s->raw[slot] ? aligned_start(s->raw[slot]) : NULL;
}

/* ---- the pool ---- */

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* Polls until *gen differs from seen or SPIN_NS pass. */
static void spin_for_generation(uint_fast64_t seen) {
    double end = now_ns() + SPIN_NS;
    for (int i = 0;; i++) {
        if (atomic_load_explicit(&pool.generation, memory_order_acquire) != seen) return;
        cpu_relax();
        if ((i & 63) == 63 && now_ns() > end) return;
    }
}

static void run_tasks(kern_task_fn fn, void *ctx, int64_t n_tasks) {
    for (;;) {
        int64_t i = atomic_fetch_add_explicit(&pool.next_task, 1, memory_order_relaxed);
        if (i >= n_tasks) return;
        fn(ctx, i);
    }
}

typedef struct worker_arg {
    int index;
    uint_fast64_t seen; /* the generation current when the worker was started */
} worker_arg;

static void *worker_main(void *p) {
    worker_arg arg = *(worker_arg *)p;
    tg_free(p);
    atomic_fetch_add(&pool.n_awake, 1);
    uint_fast64_t seen = arg.seen;
    for (;;) {
        spin_for_generation(seen);
        pthread_mutex_lock(&pool.mu);
        bool join = false;
        for (;;) {
            if (pool.stop) {
                atomic_fetch_sub(&pool.n_awake, 1);
                pthread_mutex_unlock(&pool.mu);
                return NULL;
            }
            uint_fast64_t g = atomic_load(&pool.generation);
            if (g != seen) {
                seen = g;
                join = pool.open && arg.index < pool.n_use;
                break;
            }
            atomic_fetch_sub(&pool.n_awake, 1);
            pthread_cond_wait(&pool.wake, &pool.mu);
            atomic_fetch_add(&pool.n_awake, 1);
        }
        if (!join) {
            /* A job already closed or not meant for this worker: poll again, since the next
             * one often follows at once. */
            pthread_mutex_unlock(&pool.mu);
            continue;
        }
        pool.joined++;
        kern_task_fn fn = pool.fn;
        void *ctx = pool.ctx;
        int64_t n_tasks = pool.n_tasks;
        pthread_mutex_unlock(&pool.mu);

        run_tasks(fn, ctx, n_tasks);

        pthread_mutex_lock(&pool.mu);
        if (atomic_fetch_add(&pool.finished, 1) + 1 == pool.joined && !pool.open)
            pthread_cond_signal(&pool.done);
        pthread_mutex_unlock(&pool.mu);
    }
}

/* Stops and joins every worker. The caller holds job_lock. */
static void stop_workers(void) {
    pthread_mutex_lock(&pool.mu);
    pool.stop = true;
    pthread_cond_broadcast(&pool.wake);
    pthread_mutex_unlock(&pool.mu);
    for (int i = 0; i < pool.n_workers; i++) pthread_join(pool.threads[i], NULL);
    pthread_mutex_lock(&pool.mu);
    pool.stop = false;
    pool.n_workers = 0;
    pthread_mutex_unlock(&pool.mu);
    tg_free(pool.threads);
    pool.threads = NULL;
}

/* At exit: join the workers (their scratch is freed as they exit) and free the exiting
 * thread's scratch, so that leak checkers see nothing of ours left. */
static void at_exit(void) {
    pthread_mutex_lock(&pool.job_lock);
    stop_workers();
    pthread_mutex_unlock(&pool.job_lock);
    scratch_release(my_scratch);
    my_scratch = NULL;
    pthread_setspecific(scratch_key, NULL);
}

/* fork: no job may be running while the process is copied, and the child, which has none of
 * the workers, starts with an empty pool. */
static void fork_prepare(void) {
    pthread_mutex_lock(&pool.job_lock);
    pthread_mutex_lock(&pool.mu);
    pthread_mutex_lock(&scratch_mu);
}

static void fork_parent(void) {
    pthread_mutex_unlock(&scratch_mu);
    pthread_mutex_unlock(&pool.mu);
    pthread_mutex_unlock(&pool.job_lock);
}

static void fork_child(void) {
    pthread_mutex_unlock(&scratch_mu);
    pthread_cond_init(&pool.wake, NULL);
    pthread_cond_init(&pool.done, NULL);
    tg_free(pool.threads);
    pool.threads = NULL;
    pool.n_workers = 0;
    pool.n_use = 0;
    pool.open = false;
    atomic_store(&pool.n_awake, 0);
    pthread_mutex_unlock(&pool.mu);
    pthread_mutex_unlock(&pool.job_lock);
}

static void install_hooks(void) {
    pthread_key_create(&scratch_key, scratch_thread_exit);
    pthread_atfork(fork_prepare, fork_parent, fork_child);
    atexit(at_exit);
}

/* Starts workers until there are `want`, as far as the system allows. Holds job_lock. */
static void grow_workers(int want) {
    if (pool.n_workers >= want) return;
    pthread_t *t = tg_alloc((size_t)want * sizeof *t);
    if (!t) return;
    for (int i = 0; i < pool.n_workers; i++) t[i] = pool.threads[i];
    tg_free(pool.threads);
    pool.threads = t;
    while (pool.n_workers < want) {
        worker_arg *arg = tg_alloc(sizeof *arg);
        if (!arg) return;
        /* n_use is 0 between jobs, so a new worker waits for the next generation. */
        *arg = (worker_arg){pool.n_workers, atomic_load(&pool.generation)};
        if (pthread_create(&pool.threads[pool.n_workers], NULL, worker_main, arg) != 0) {
            tg_free(arg);
            return;
        }
        pool.n_workers++;
    }
}

/* Posts a job of n_tasks tasks (0: one per thread the pool gives) on at most max_threads
 * threads. Returns the number of threads the job was offered to (the caller and the workers
 * that may join), 0 when the pool could not take the job (nothing has run then). */
static int post_job(int64_t n_tasks, int max_threads, kern_task_fn fn, void *ctx,
                    int64_t *team_size, bool only_if_awake) {
    int n_threads = kern_threads();
    if (max_threads < n_threads) n_threads = max_threads;
    if (n_tasks > 0 && n_threads > n_tasks) n_threads = (int)n_tasks;
    if (only_if_awake && atomic_load_explicit(&pool.n_awake, memory_order_relaxed) == 0) return 0;
    /* EBUSY from trylock: another caller's job is running, or this thread is inside one. */
    if (n_threads <= 1 || pthread_mutex_trylock(&pool.job_lock) != 0) return 0;
    pthread_once(&hooks_once, install_hooks);
    grow_workers(n_threads - 1);
    int n_use = pool.n_workers < n_threads - 1 ? pool.n_workers : n_threads - 1;
    if (n_tasks == 0) n_tasks = *team_size = n_use + 1;

    pthread_mutex_lock(&pool.mu);
    pool.fn = fn;
    pool.ctx = ctx;
    pool.n_tasks = n_tasks;
    pool.n_use = n_use;
    pool.open = true;
    pool.joined = 0;
    atomic_store(&pool.finished, 0);
    atomic_store(&pool.next_task, 0);
    atomic_fetch_add_explicit(&pool.generation, 1, memory_order_release);
    pthread_cond_broadcast(&pool.wake);
    pthread_mutex_unlock(&pool.mu);

    /* The job closes once the caller finds no task left; a rank whose caller waits for other
     * ranks keeps it open until they have been taken. */
    run_tasks(fn, ctx, n_tasks);

    pthread_mutex_lock(&pool.mu);
    pool.open = false;
    int joined = pool.joined;
    pthread_mutex_unlock(&pool.mu);
    double end = now_ns() + SPIN_NS;
    for (int i = 0; atomic_load_explicit(&pool.finished, memory_order_acquire) < joined; i++) {
        cpu_relax();
        if ((i & 63) == 63 && now_ns() > end) break;
    }
    pthread_mutex_lock(&pool.mu);
    while (atomic_load(&pool.finished) < joined) pthread_cond_wait(&pool.done, &pool.mu);
    pool.n_use = 0;
    pthread_mutex_unlock(&pool.mu);
    pthread_mutex_unlock(&pool.job_lock);
    return n_use + 1;
}

void kern_parallel_for(int64_t n_tasks, int max_threads, kern_task_fn fn, void *ctx) {
    if (n_tasks <= 0) return;
    if (n_tasks == 1 || !post_job(n_tasks, max_threads, fn, ctx, NULL, false))
        for (int64_t i = 0; i < n_tasks; i++) fn(ctx, i);
}

void kern_parallel_for_if_awake(int64_t n_tasks, int max_threads, kern_task_fn fn, void *ctx) {
    if (n_tasks <= 0) return;
    if (n_tasks == 1 || !post_job(n_tasks, max_threads, fn, ctx, NULL, true))
        for (int64_t i = 0; i < n_tasks; i++) fn(ctx, i);
}

/* A team is a job with one task per thread offered: ranks that wait for one another each hold
 * their thread, so the others are taken by other threads. */
typedef struct team_job {
    kern_team_fn fn;
    void *ctx;
    int64_t n_ranks;
} team_job;

static void team_task(void *ctx, int64_t rank) {
    team_job *j = ctx;
    j->fn(j->ctx, (int)rank, (int)j->n_ranks);
}

void kern_parallel_team(int max_threads, kern_team_fn fn, void *ctx) {
    team_job j = {fn, ctx, 0};
    if (!post_job(0, max_threads, team_task, &j, &j.n_ranks, false)) fn(ctx, 0, 1);
}

/* ---- pieces ---- */

typedef struct piece_job {
    int64_t n, per;
    void (*fn)(void *ctx, int64_t begin, int64_t end);
    void *ctx;
} piece_job;

static void piece_task(void *ctx, int64_t i) {
    piece_job *j = ctx;
    int64_t begin = i * j->per, end = begin + j->per < j->n ? begin + j->per : j->n;
    if (begin < end) j->fn(j->ctx, begin, end);
}

bool kern_parallel_pieces(int64_t n, int64_t weight, int64_t align,
                          void (*fn)(void *ctx, int64_t begin, int64_t end), void *ctx) {
    if (n < 2 || n * weight < KERN_PIECES_AWAKE) return false;
    int threads = kern_threads();
    if (threads < 2) return false;
    int64_t per = (n + threads - 1) / threads;
    per = (per + align - 1) / align * align;
    piece_job j = {n, per, fn, ctx};
    int64_t tasks = (n + per - 1) / per;
    if (n * weight >= KERN_PIECES_WAKE)
        kern_parallel_for(tasks, threads, piece_task, &j);
    else
        kern_parallel_for_if_awake(tasks, threads, piece_task, &j);
    return true;
}

/* ---- counters ----
 * One mutex and condition for every counter: sleeping is the slow path, taken only when a wait
 * outlasts SPIN_NS. A waiter counts itself a sleeper before its last look at the value, and an
 * adder looks at the sleepers after adding (both sequentially consistent), so either the waiter
 * sees the new value or the adder sees the sleeper and broadcasts under the mutex. */
static pthread_mutex_t counter_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t counter_cv = PTHREAD_COND_INITIALIZER;

void kern_counter_wait(kern_counter *c, int64_t want) {
    if (atomic_load_explicit(&c->value, memory_order_acquire) >= want) return;
    double end = now_ns() + SPIN_NS;
    for (int i = 0; atomic_load_explicit(&c->value, memory_order_acquire) < want; i++) {
        cpu_relax();
        if ((i & 63) == 63 && now_ns() > end) {
            pthread_mutex_lock(&counter_mu);
            atomic_fetch_add(&c->sleepers, 1);
            while (atomic_load(&c->value) < want) pthread_cond_wait(&counter_cv, &counter_mu);
            atomic_fetch_sub(&c->sleepers, 1);
            pthread_mutex_unlock(&counter_mu);
            return;
        }
    }
}

void kern_counter_add(kern_counter *c, int64_t n) {
    atomic_fetch_add(&c->value, n);
    if (atomic_load(&c->sleepers) > 0) {
        pthread_mutex_lock(&counter_mu);
        pthread_cond_broadcast(&counter_cv);
        pthread_mutex_unlock(&counter_mu);
    }
}

void kern_cpu_relax(int i) {
    if (i < 4096)
        cpu_relax();
    else
        sched_yield();
}

/* ---- the thread count ---- */

static int online_cpus(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > KERN_MAX_THREADS ? KERN_MAX_THREADS : (int)n;
}

static int normalise(long n) {
    if (n <= 0) return online_cpus();
    return n > KERN_MAX_THREADS ? KERN_MAX_THREADS : (int)n;
}

int kern_threads(void) {
    int n = atomic_load_explicit(&threads_wanted, memory_order_relaxed);
    if (n > 0) return n;
    /* First use: TG_THREADS if it holds a number, else 1. Racing first calls agree. */
    int from_env = 1;
    const char *env = getenv("TG_THREADS");
    if (env && *env) {
        char *end;
        errno = 0;
        long v = strtol(env, &end, 10);
        if (errno == 0 && *end == '\0') from_env = normalise(v);
    }
    int expected = 0;
    atomic_compare_exchange_strong(&threads_wanted, &expected, from_env);
    return atomic_load(&threads_wanted);
}

int kern_set_threads(int n) {
    int v = normalise(n);
    atomic_store(&threads_wanted, v);
    return v;
}
