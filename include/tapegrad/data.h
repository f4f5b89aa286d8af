/* tapegrad/data.h: training data from files: IDX image and label sets (the MNIST and
 * Fashion-MNIST format), plain-text corpora for character models, and a seeded batch iterator
 * that turns a few images at a time into tensors on a tape.
 *
 * Whole data sets stay in memory as the bytes the file holds (u8 pixels, byte ids); only the
 * batch being used is converted to f32/f64, so 60,000 images cost 47 MB, not 188 or 376.
 *
 *     tg_error err = {0};
 *     tg_dataset *train = tg_dataset_load_dir("data/fashion-mnist", "train", &err);
 *     if (!train) { fprintf(stderr, "%s\n", err.message); return 1; }
 *     tg_batcher_opts o = {.batch_size = 64, .shuffle = true, .seed = 1, .dtype = TG_F32};
 *     tg_batcher *b = tg_batcher_new(train, &o, &err);
 *     tg_tape *t = tg_tape_new();
 *     tg_tensor *x;            // (64, 1, 28, 28), pixels / 255
 *     const int64_t *y;        // 64 labels
 *     while (tg_batcher_next(b, t, &x, &y)) {
 *         // ... forward, tg_cross_entropy(t, logits, y, 0, TG_REDUCE_MEAN), backward, step ...
 *         tg_tape_reset(t);
 *     }
 *     tg_tape_free(t);
 *     tg_batcher_free(b);
 *     tg_dataset_free(train);
 */
#ifndef TAPEGRAD_DATA_H
#define TAPEGRAD_DATA_H

#include "tapegrad/rng.h"
#include "tapegrad/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

TG_PUBLIC_BEGIN

/* ---- IDX files ---- */

/* The most dimensions an IDX file may declare here. */
#define TG_IDX_MAX_DIMS 4

/* An IDX array as the file holds it: unsigned bytes, row-major over dims[0..ndim). Load with
 * tg_idx_load and release with tg_idx_free; the fields may be read directly. */
typedef struct tg_idx {
    int ndim;
    int64_t dims[TG_IDX_MAX_DIMS];
    int64_t size;  /* bytes of data: the product of the dims */
    uint8_t *data; /* owned by the struct; NULL when empty */
} tg_idx;

/* Reads an IDX file: two zero bytes, a type byte, a dimension count, that many big-endian u32
 * sizes, then the data. Only unsigned bytes (type 0x08) are supported; the other IDX types
 * (i8, i16, i32, f32, f64) are rejected by name. Every size must be positive, there must be 1
 * to TG_IDX_MAX_DIMS of them, and the file must hold exactly header plus data bytes: a
 * truncated or oversized file is TG_ERR_FORMAT naming the file and both sizes. A missing file,
 * a directory or a read failure is TG_ERR_IO. On error *out is left empty (safe to free). */
tg_status tg_idx_load(tg_idx *out, const char *path, tg_error *err);
/* Frees the data and empties the struct. NULL is a no-op. */
void tg_idx_free(tg_idx *x);

/* ---- labelled image sets ---- */

typedef struct tg_dataset tg_dataset; /* opaque */

/* Images (n, rows, cols) from one IDX file and n labels from another, which must agree on n.
 * The result owns both; free it with tg_dataset_free. NULL (err set) on any problem. */
tg_dataset *tg_dataset_load_idx(const char *images_path, const char *labels_path, tg_error *err);
/* The `split` ("train" or "t10k") of the MNIST-style set in folder dir: the files
 * SPLIT-images-idx3-ubyte and SPLIT-labels-idx1-ubyte (or the SPLIT-images.idx3-ubyte spelling
 * some MNIST copies use). This is what tools/get-fashion-mnist leaves in its cache folder. */
tg_dataset *tg_dataset_load_dir(const char *dir, const char *split, tg_error *err);
/* A data set holding copies of n images of rows*cols bytes and n labels (for generated data
 * and tests). */
tg_dataset *tg_dataset_from_memory(int64_t n, int64_t rows, int64_t cols, const uint8_t *images,
                                   const uint8_t *labels, tg_error *err);
/* Frees the data set. NULL is a no-op. A batcher must be freed before its data set. */
void tg_dataset_free(tg_dataset *d);

/* Number of samples, image height and width (0 for NULL). */
int64_t tg_dataset_count(const tg_dataset *d);
int64_t tg_dataset_rows(const tg_dataset *d);
int64_t tg_dataset_cols(const tg_dataset *d);
/* One more than the largest label: the number of classes the labels use. */
int tg_dataset_n_classes(const tg_dataset *d);
/* The raw bytes, owned by the data set: count*rows*cols pixels and count labels. */
const uint8_t *tg_dataset_images(const tg_dataset *d);
const uint8_t *tg_dataset_labels(const tg_dataset *d);

/* ---- batches ---- */

typedef struct tg_batcher tg_batcher; /* opaque */

/* How a batcher cuts and converts. All-zero fields are meaningful: no shuffling, keep the last
 * short batch, f32 (TG_F32 is 0), (B, 1, rows, cols), pixels / 255 without normalisation. */
typedef struct tg_batcher_opts {
    int64_t batch_size; /* > 0 */
    bool shuffle;       /* a new seeded order every epoch (Fisher-Yates with tg_rng_below) */
    uint64_t seed;      /* seeds the shuffling */
    bool drop_last;     /* skip a last batch shorter than batch_size */
    tg_dtype dtype;
    bool flatten;   /* (B, rows*cols) instead of (B, 1, rows, cols) */
    bool normalize; /* then (pixel / 255 - mean) / std */
    double mean, std;
    /* Data-parallel training: with n_shards > 1, each batch of the global order is cut into
     * n_shards contiguous parts and this batcher returns part `shard` (0-based): samples
     * [shard * B / n_shards, (shard + 1) * B / n_shards) of the B the batch holds, rounded down.
     * The order, the epochs and the state do not depend on the split (they are functions of the
     * seed alone), so n_shards batchers together return exactly the batches one batcher returns,
     * and a state saved by one resumes any other split. 0 and 1 mean no split. With shard_span
     * k > 1 the batcher returns the k consecutive parts from `shard` on, as one tensor (the
     * deterministic mode of tapegrad/dist.h gives each rank a run of fixed parts). */
    int n_shards;
    int shard;
    int shard_span;
} tg_batcher_opts;

/* A batcher over d, which must outlive it. Starts at epoch 0, position 0, shuffled if asked.
 * NULL (err set) when an option is invalid or memory runs out. */
tg_batcher *tg_batcher_new(const tg_dataset *d, const tg_batcher_opts *opts, tg_error *err);
void tg_batcher_free(tg_batcher *b);

/* The next batch of the epoch (this batcher's shard of it, when split): sets *x to a new tensor on t (owned by t, valid until
 * tg_tape_reset) and *labels to its labels (owned by the batcher, valid until the next call),
 * and returns true. At the end of an epoch returns false with both set to NULL and moves to the
 * next epoch, reshuffled, so the following call starts it. Also false when t cannot hold the
 * batch: then the error is kept on t (check tg_tape_status) and the batcher does not move. */
bool tg_batcher_next(tg_batcher *b, tg_tape *t, tg_tensor **x, const int64_t **labels);

/* The current epoch (from 0), the index of the next batch in it, and batches per epoch. */
int64_t tg_batcher_epoch(const tg_batcher *b);
int64_t tg_batcher_position(const tg_batcher *b);
int64_t tg_batcher_n_batches(const tg_batcher *b);
/* Sample indices of the current epoch in order (count of them), owned by the batcher. */
const int64_t *tg_batcher_order(const tg_batcher *b);

/* Where a batcher is: enough to resume bit-identically. `rng` is the generator as it was before
 * the current epoch's shuffle, so restoring redoes that shuffle. Plain data, safe to copy. */
typedef struct tg_batcher_state {
    int64_t epoch;
    int64_t position; /* next batch within the epoch */
    tg_rng rng;
} tg_batcher_state;

/* Reads b's state. */
tg_status tg_batcher_get_state(const tg_batcher *b, tg_batcher_state *state);
/* Puts b (made with the same data set and options) where `state` says. TG_ERR_ARG, b
 * unchanged, when the position is past the end of an epoch. */
tg_status tg_batcher_set_state(tg_batcher *b, const tg_batcher_state *state, tg_error *err);
/* The state as one line of text (for a checkpoint's metadata) and back. The buffer must hold
 * TG_BATCHER_STATE_CHARS bytes. Parsing is strict: TG_ERR_FORMAT on anything else. */
#define TG_BATCHER_STATE_CHARS 128
void tg_batcher_state_format(const tg_batcher_state *state, char *buf);
tg_status tg_batcher_state_parse(const char *text, tg_batcher_state *state, tg_error *err);

/* ---- text corpora for character models ---- */

typedef struct tg_text tg_text; /* opaque */

/* Reads a file as bytes, at most max_bytes of them (0: the whole file; a longer file is cut
 * there), and builds the vocabulary: the distinct bytes, sorted. An empty file is
 * TG_ERR_FORMAT; a missing file or a directory TG_ERR_IO. */
tg_text *tg_text_load(const char *path, int64_t max_bytes, tg_error *err);
/* The same over n bytes in memory (copied). */
tg_text *tg_text_from_memory(const char *bytes, int64_t n, tg_error *err);
void tg_text_free(tg_text *x);

/* Length in bytes, and the corpus as ids (each in [0, vocab size)), owned by x. */
int64_t tg_text_length(const tg_text *x);
const int64_t *tg_text_ids(const tg_text *x);
/* Number of distinct bytes (1..256), and the byte of id i (-1 out of range). */
int tg_text_vocab_size(const tg_text *x);
int tg_text_byte(const tg_text *x, int64_t id);
/* The id of byte c, or -1 when c is not in the vocabulary. */
int tg_text_id(const tg_text *x, unsigned char c);

/* Encodes n bytes into ids (n of them); TG_ERR_ARG naming the first byte not in the vocabulary. */
tg_status tg_text_encode(const tg_text *x, const char *s, int64_t n, int64_t *ids, tg_error *err);
/* Decodes n ids into n bytes plus a terminating NUL (out holds n + 1); TG_ERR_ARG naming the
 * first id out of range. */
tg_status tg_text_decode(const tg_text *x, const int64_t *ids, int64_t n, char *out, tg_error *err);
/* Draws B windows of T + 1 consecutive ids at uniformly random starts (tg_rng_below), into
 * out[b * (T + 1) + j]: inputs are a window's first T ids, next-character targets its last T.
 * TG_ERR_ARG when B or T is not positive or the corpus is shorter than T + 1. */
tg_status tg_text_windows(const tg_text *x, tg_rng *rng, int64_t B, int64_t T, int64_t *out,
                          tg_error *err);

TG_PUBLIC_END

#ifdef __cplusplus
}
#endif
#endif
