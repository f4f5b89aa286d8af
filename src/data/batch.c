/* batch.c: the batch iterator: a seeded order per epoch, and each batch's u8 pixels turned
 * into an f32/f64 tensor on the caller's tape through a 256-entry table (for f32 in [0, 1],
 * vector divides that give the table's bits, pixels.c).
 *
 * Invariant: an epoch's order is a function of the generator state saved in epoch_rng alone
 * (identity, then Fisher-Yates drawing from that state), so (epoch, position, epoch_rng) is a
 * complete description of where the iterator is, and restoring it resumes bit-identically. */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../graph/graph.h"
#include "../ops/kernels/threadpool.h"
#include "pixels.h"

struct tg_batcher {
    const tg_dataset *d;
    tg_batcher_opts o;
    int64_t n;         /* samples */
    int64_t n_batches; /* per epoch */
    int64_t epoch, position;
    int64_t *order;   /* n sample indices of this epoch */
    int64_t *labels;  /* batch_size labels of the latest batch */
    tg_rng rng;       /* draws the shuffles */
    tg_rng epoch_rng; /* rng as it was before this epoch's shuffle */
    float lut32[256]; /* pixel value -> element, computed once in double */
    double lut64[256];
    bool divide; /* f32 without normalising: pixels.c's vector loops give lut32's bits */
};

/* Fills `order` for a new epoch from the generator's current state. */
static void start_epoch(tg_batcher *b) {
    b->epoch_rng = b->rng;
    for (int64_t i = 0; i < b->n; i++) b->order[i] = i;
    if (!b->o.shuffle) return;
    for (int64_t i = b->n - 1; i > 0; i--) {
        int64_t j = (int64_t)tg_rng_below(&b->rng, (uint64_t)i + 1);
        int64_t tmp = b->order[i];
        b->order[i] = b->order[j];
        b->order[j] = tmp;
    }
}

tg_batcher *tg_batcher_new(const tg_dataset *d, const tg_batcher_opts *opts, tg_error *err) {
    if (!d || !opts) {
        tg_error_set(err, TG_ERR_NULL, "batcher: the data set or the options are NULL");
        return NULL;
    }
    const tg_batcher_opts *o = opts;
    int64_t n = tg_dataset_count(d);
    if (o->batch_size <= 0) {
        tg_error_set(err, TG_ERR_ARG, "batcher: batch size %lld; it must be positive",
                     (long long)o->batch_size);
        return NULL;
    }
    if (o->dtype != TG_F32 && o->dtype != TG_F64) {
        tg_error_set(err, TG_ERR_DTYPE, "batcher: dtype %d; f32 or f64 only", (int)o->dtype);
        return NULL;
    }
    if (o->normalize && !(o->std > 0 && o->std < INFINITY && isfinite(o->mean))) {
        tg_error_set(err, TG_ERR_ARG,
                     "batcher: normalising needs a finite mean and a positive std (got %g, %g)",
                     o->mean, o->std);
        return NULL;
    }
    int n_parts = o->n_shards > 1 ? o->n_shards : 1, span = o->shard_span > 1 ? o->shard_span : 1;
    if (o->n_shards < 0 || o->shard < 0 || o->shard_span < 0 || o->shard >= n_parts ||
        span > n_parts - o->shard) {
        tg_error_set(err, TG_ERR_ARG,
                     "batcher: shard %d (span %d) of %d; the parts must lie in [0, %d)", o->shard,
                     span, o->n_shards, n_parts);
        return NULL;
    }
    if (o->drop_last && n < o->batch_size) {
        tg_error_set(err, TG_ERR_ARG,
                     "batcher: drop_last with batch size %lld leaves no batch of %lld samples",
                     (long long)o->batch_size, (long long)n);
        return NULL;
    }
    tg_batcher *b = tg_alloc(sizeof *b);
    int64_t max_batch = o->batch_size < n ? o->batch_size : n;
    if (!b) goto nomem;
    memset(b, 0, sizeof *b);
    b->order = tg_alloc((size_t)n * sizeof *b->order);
    b->labels = tg_alloc((size_t)max_batch * sizeof *b->labels);
    if (!b->order || !b->labels) goto nomem;
    b->d = d;
    b->o = *o;
    b->n = n;
    /* Not (n + batch_size - 1) / batch_size: that overflows for a batch size near INT64_MAX
     * (and then gave 0 batches). */
    b->n_batches = n / o->batch_size + (!o->drop_last && n % o->batch_size != 0);
    for (int v = 0; v < 256; v++) {
        double x = v / 255.0;
        if (o->normalize) x = (x - o->mean) / o->std;
        b->lut64[v] = x;
        b->lut32[v] = (float)x;
    }
    b->divide = !o->normalize && tg_pixels_divide_is_exact(b->lut32);
    tg_rng_seed(&b->rng, o->seed);
    start_epoch(b);
    return b;
nomem:
    tg_batcher_free(b);
    tg_error_set(err, TG_ERR_NOMEM, "batcher: out of memory for %lld samples", (long long)n);
    return NULL;
}

void tg_batcher_free(tg_batcher *b) {
    if (!b) return;
    tg_free(b->order);
    tg_free(b->labels);
    tg_free(b);
}

/* Converting images [first, first + count) of the batch, each through the table. */
typedef struct convert_job {
    const tg_batcher *b;
    char *out;
    const int64_t *order; /* the batch's sample indices */
    int64_t pix;
    int64_t count;
} convert_job;

enum { IMAGES_PER_TASK = 8 };

enum { PREFETCH_AHEAD = 2 };

/* Asks for every cache line of an image of pix bytes, the one holding its last byte included. */
static void prefetch_image(const uint8_t *image, int64_t pix) {
    for (int64_t p = 0; p < pix; p += 64) __builtin_prefetch(image + p);
    __builtin_prefetch(image + pix - 1);
}

static void convert_images(void *ctx, int64_t task) {
    const convert_job *job = ctx;
    const uint8_t *images = tg_dataset_images(job->b->d);
    int64_t pix = job->pix, lo = task * IMAGES_PER_TASK;
    int64_t hi = lo + IMAGES_PER_TASK < job->count ? lo + IMAGES_PER_TASK : job->count;
    for (int64_t i = lo; i < hi; i++) {
        const uint8_t *src = images + job->order[i] * pix;
        /* The order is shuffled, so each image is a cold, random place in a data set larger
         * than the caches: ask for the ones PREFETCH_AHEAD on while this one is converted (and
         * for the first few at a task's start), or every cache line costs a full memory
         * latency (that was most of the time). */
        for (int64_t j = i == lo ? i : i + PREFETCH_AHEAD; j <= i + PREFETCH_AHEAD; j++)
            if (j < job->count) prefetch_image(images + job->order[j] * pix, pix);
        if (job->b->o.dtype == TG_F32) {
            const float *lut = job->b->lut32;
            float *dst = (float *)(void *)job->out + i * pix;
            if (job->b->divide)
                tg_pixels_to_unit_f32(src, dst, pix, lut);
            else
                for (int64_t p = 0; p < pix; p++) dst[p] = lut[src[p]];
        } else {
            const double *lut = job->b->lut64;
            double *dst = (double *)(void *)job->out + i * pix;
            for (int64_t p = 0; p < pix; p++) dst[p] = lut[src[p]];
        }
    }
}

/* floor(k * count / n) without forming k * count, which could overflow. */
static int64_t shard_start(int64_t count, int k, int n) {
    return (count / n) * k + (count % n) * k / n;
}

bool tg_batcher_next(tg_batcher *b, tg_tape *t, tg_tensor **x, const int64_t **labels) {
    if (x) *x = NULL;
    if (labels) *labels = NULL;
    if (!b || !t || !x || !labels) return false;
    if (b->position >= b->n_batches) {
        b->epoch++;
        b->position = 0;
        start_epoch(b);
        return false;
    }
    int64_t start = b->position * b->o.batch_size;
    int64_t count = b->n - start < b->o.batch_size ? b->n - start : b->o.batch_size;
    if (b->o.n_shards > 1) {
        int64_t lo = shard_start(count, b->o.shard, b->o.n_shards);
        int span = b->o.shard_span > 1 ? b->o.shard_span : 1;
        count = shard_start(count, b->o.shard + span, b->o.n_shards) - lo;
        start += lo;
    }
    int64_t rows = tg_dataset_rows(b->d), cols = tg_dataset_cols(b->d), pix = rows * cols;
    tg_tensor *out =
        b->o.flatten ? tg_tensor_alloc(t, b->o.dtype, 2, (const int64_t[]){count, pix})
                     : tg_tensor_alloc(t, b->o.dtype, 4, (const int64_t[]){count, 1, rows, cols});
    if (!out) return false;
    const uint8_t *lab = tg_dataset_labels(b->d);
    convert_job job = {b, out->data, b->order + start, pix, count};
    /* Converting a batch of 64 images is ~50,000 table look-ups (tens of microseconds): worth
     * sharing with a worker that is still awake from the previous step's products, not worth
     * waking one. */
    kern_parallel_for_if_awake((count + IMAGES_PER_TASK - 1) / IMAGES_PER_TASK, kern_threads(),
                               convert_images, &job);
    for (int64_t i = 0; i < count; i++) b->labels[i] = lab[b->order[start + i]];
    b->position++;
    *x = out;
    *labels = b->labels;
    return true;
}

int64_t tg_batcher_epoch(const tg_batcher *b) { return b ? b->epoch : 0; }
int64_t tg_batcher_position(const tg_batcher *b) { return b ? b->position : 0; }
int64_t tg_batcher_n_batches(const tg_batcher *b) { return b ? b->n_batches : 0; }
const int64_t *tg_batcher_order(const tg_batcher *b) { return b ? b->order : NULL; }

tg_status tg_batcher_get_state(const tg_batcher *b, tg_batcher_state *state) {
    if (!b || !state) return TG_ERR_NULL;
    state->epoch = b->epoch;
    state->position = b->position;
    state->rng = b->epoch_rng;
    return TG_OK;
}

tg_status tg_batcher_set_state(tg_batcher *b, const tg_batcher_state *state, tg_error *err) {
    if (!b || !state) return tg_error_set(err, TG_ERR_NULL, "batcher: NULL batcher or state");
    if (state->epoch < 0 || state->position < 0 || state->position > b->n_batches)
        return tg_error_set(err, TG_ERR_ARG,
                            "batcher: state at epoch %lld, batch %lld does not fit %lld "
                            "batches per epoch",
                            (long long)state->epoch, (long long)state->position,
                            (long long)b->n_batches);
    b->rng = state->rng;
    start_epoch(b);
    b->epoch = state->epoch;
    b->position = state->position;
    return TG_OK;
}

/* The bits of the generator's spare normal are kept as hex so the text round-trips exactly. */
void tg_batcher_state_format(const tg_batcher_state *state, char *buf) {
    if (!buf) return;
    if (!state) {
        buf[0] = '\0';
        return;
    }
    uint64_t spare;
    memcpy(&spare, &state->rng.spare, sizeof spare);
    snprintf(buf, TG_BATCHER_STATE_CHARS,
             "tgbatch1 %" PRId64 " %" PRId64 " %016" PRIx64 " %016" PRIx64 " %d %016" PRIx64,
             state->epoch, state->position, state->rng.state, state->rng.inc,
             state->rng.has_spare ? 1 : 0, spare);
}

/* Parses one space-separated field of only digits (base 10 or 16) at *p, advancing it. */
static bool parse_field(const char **p, int base, uint64_t *out) {
    const char *s = *p;
    if (*s == ' ') s++;
    const char *start = s;
    uint64_t v = 0;
    for (; *s && *s != ' '; s++) {
        int d;
        if (*s >= '0' && *s <= '9')
            d = *s - '0';
        else if (base == 16 && *s >= 'a' && *s <= 'f')
            d = *s - 'a' + 10;
        else
            return false;
        if (v > (UINT64_MAX - (uint64_t)d) / (uint64_t)base) return false;
        v = v * (uint64_t)base + (uint64_t)d;
    }
    if (s == start) return false;
    *p = s;
    *out = v;
    return true;
}

tg_status tg_batcher_state_parse(const char *text, tg_batcher_state *state, tg_error *err) {
    static const char tag[] = "tgbatch1";
    if (!text || !state) return tg_error_set(err, TG_ERR_NULL, "batcher: NULL state text");
    const char *p = text;
    uint64_t epoch, pos, st, inc, has_spare, spare;
    bool ok = strncmp(p, tag, sizeof tag - 1) == 0;
    if (ok) p += sizeof tag - 1;
    ok = ok && *p == ' ' && parse_field(&p, 10, &epoch) && *p == ' ' && parse_field(&p, 10, &pos) &&
         *p == ' ' && parse_field(&p, 16, &st) && *p == ' ' && parse_field(&p, 16, &inc) &&
         *p == ' ' && parse_field(&p, 10, &has_spare) && *p == ' ' && parse_field(&p, 16, &spare) &&
         *p == '\0' && has_spare <= 1 && epoch <= INT64_MAX && pos <= INT64_MAX;
    if (!ok)
        return tg_error_set(err, TG_ERR_FORMAT, "batcher: '%.80s' is not a batcher state", text);
    state->epoch = (int64_t)epoch;
    state->position = (int64_t)pos;
    state->rng.state = st;
    state->rng.inc = inc;
    state->rng.has_spare = has_spare == 1;
    memcpy(&state->rng.spare, &spare, sizeof spare);
    return TG_OK;
}
