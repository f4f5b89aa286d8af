/* tapegrad/checkpoint.h: saving and loading a store (parameters, optimiser state, running
 * statistics) with a step counter and free metadata, in the safetensors format that PyTorch,
 * JAX and the Hugging Face tools read.
 *
 * The file: an 8-byte little-endian header length N, N bytes of JSON (padded with spaces so
 * the data starts 8-byte aligned), then the raw little-endian data of every tensor, contiguous
 * and in header order:
 *
 *     {"fc1.weight":{"dtype":"F32","shape":[256,784],"data_offsets":[0,802816]}, ...,
 *      "__metadata__":{"step":"1200","epoch":"2"}}
 *
 * Saving never destroys the previous checkpoint: the file is written to "<path>.tmp.<pid>.<n>",
 * flushed to disk, then renamed over path. Loading validates the whole file and every tensor
 * against the store before it changes anything: on error the store is as it was.
 *
 *     tg_checkpoint_meta m;
 *     tg_checkpoint_meta_init(&m);
 *     m.step = step;
 *     tg_checkpoint_meta_set(&m, "model", "lenet");
 *     tg_error err = {0};
 *     if (tg_checkpoint_save(store, "lenet.safetensors", &m, &err) != TG_OK)
 *         fprintf(stderr, "%s\n", err.message);
 *     ...
 *     if (tg_checkpoint_load(store, "lenet.safetensors", &m, &err) == TG_OK) step = m.step;
 */
#ifndef TAPEGRAD_CHECKPOINT_H
#define TAPEGRAD_CHECKPOINT_H

#include "tapegrad/tape.h"

#ifdef __cplusplus
extern "C" {
#endif

TG_PUBLIC_BEGIN

/* Limits of the metadata a checkpoint carries besides its step. */
#define TG_CHECKPOINT_MAX_META  32
#define TG_CHECKPOINT_KEY_MAX   64  /* bytes of a key, with its NUL */
#define TG_CHECKPOINT_VALUE_MAX 256 /* bytes of a value, with its NUL */

/* A step counter plus free key/value strings, stored as the header's "__metadata__" (the step
 * under the key "step"). Plain data: initialise with tg_checkpoint_meta_init. */
typedef struct tg_checkpoint_meta {
    int64_t step;
    int n;
    char keys[TG_CHECKPOINT_MAX_META][TG_CHECKPOINT_KEY_MAX];
    char values[TG_CHECKPOINT_MAX_META][TG_CHECKPOINT_VALUE_MAX];
} tg_checkpoint_meta;

/* Step 0 and no strings. */
void tg_checkpoint_meta_init(tg_checkpoint_meta *m);
/* Sets key to value (both copied), replacing an earlier value. TG_ERR_ARG when the key is
 * empty, is "step", or either string is too long, or when the table is full. */
tg_status tg_checkpoint_meta_set(tg_checkpoint_meta *m, const char *key, const char *value);
/* The value of key, owned by m, or NULL. */
const char *tg_checkpoint_meta_get(const tg_checkpoint_meta *m, const char *key);

/* Writes every tensor of s, parameters and buffers, in creation order, with meta (may be NULL:
 * step 0, no strings). Gradients are not saved. On any error (TG_ERR_IO naming the file and
 * the failing call, TG_ERR_NOMEM) the file at path is untouched and no temporary file is left.
 *
 * What it replaces: the save is written to a new "<target>.tmp.<pid>.<n>" (n numbers this
 * process's saves, so threads saving to one target at once never share a temporary; the last
 * rename wins) and renamed over the target, where the target is path, or the file a symlink at path names (the link itself stays). An
 * existing target must be a regular file: a folder, device, FIFO or socket is TG_ERR_IO and
 * stays as it was. The new file gets the old one's permission bits (and owner, when the process
 * may set it); a new path gets 0666 less the umask. A process killed during a save leaves its
 * temporary behind; the next successful save to the same target removes such files whose
 * process no longer exists and which have not changed for ten minutes.
 *
 * What meta may hold: it is plain data, so it is checked before anything is written (TG_ERR_ARG):
 * n in 0..TG_CHECKPOINT_MAX_META; each key and value NUL-terminated within its array (at most
 * TG_CHECKPOINT_KEY_MAX - 1 and TG_CHECKPOINT_VALUE_MAX - 1 bytes), UTF-8; keys non-empty,
 * distinct and not "step". So every file it writes, tg_checkpoint_load reads back. */
tg_status tg_checkpoint_save(const tg_store *s, const char *path, const tg_checkpoint_meta *meta,
                             tg_error *err);

/* Flags for tg_checkpoint_load_ex. */
enum {
    /* Tensors of the store that the file lacks keep their values (default: TG_ERR_ARG). */
    TG_CHECKPOINT_ALLOW_MISSING = 1u << 0,
    /* Tensors of the file that the store lacks are skipped (default: TG_ERR_ARG). */
    TG_CHECKPOINT_ALLOW_EXTRA = 1u << 1
};

/* Loads the file at path into the tensors of s with the same names, and its metadata into
 * *meta_out (may be NULL). Strict: every tensor of s must be in the file and every tensor of
 * the file in s, with the same dtype and shape, else TG_ERR_ARG naming the tensor. A file that
 * breaks the format (header length out of bounds, JSON malformed, an unknown dtype, offsets
 * that are not contiguous, in range and of dtype size times element count, metadata beyond the
 * limits above) is TG_ERR_FORMAT naming the file and the problem; a missing file or a folder
 * is TG_ERR_IO. All or nothing: on any error s and *meta_out are unchanged. */
tg_status tg_checkpoint_load(tg_store *s, const char *path, tg_checkpoint_meta *meta_out,
                             tg_error *err);
/* The same with TG_CHECKPOINT_ALLOW_* flags to relax the name matching. */
tg_status tg_checkpoint_load_ex(tg_store *s, const char *path, unsigned flags,
                                tg_checkpoint_meta *meta_out, tg_error *err);

TG_PUBLIC_END

#ifdef __cplusplus
}
#endif
#endif
