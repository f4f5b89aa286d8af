/* io.h: what src/io shares privately: the safetensors header, parsed and validated or built
 * from a store, and the test hook that makes a checkpoint write fail on purpose.
 * Never installed; tests may include it (CONTRIBUTING S8.4). */
#ifndef TG_IO_IO_H
#define TG_IO_IO_H

#include "tapegrad.h"

/* The largest header accepted, as the reference implementation does: a bigger length field is
 * taken as corruption rather than allocated. */
#define TG_ST_MAX_HEADER (UINT64_C(100) << 20)
#define TG_ST_NAME_MAX   256

/* One tensor described by a header. */
typedef struct tg_st_entry {
    char name[TG_ST_NAME_MAX];
    char dtype[16]; /* as the file spells it: "F32" */
    int tg_dtype;   /* TG_F32 or TG_F64, or -1 for a safetensors type tapegrad cannot hold */
    size_t elem_size;
    int ndim;
    int64_t shape[TG_MAX_DIMS];
    int64_t numel;
    uint64_t begin, end; /* byte offsets relative to the start of the data */
} tg_st_entry;

typedef struct tg_st_header {
    tg_st_entry *entries; /* n of them, in header order; tg_alloc'ed */
    int n, cap;
    tg_checkpoint_meta meta;
} tg_st_header;

/* Parses json[0..len) and checks it against a data section of data_size bytes: well-formed
 * JSON of the safetensors shape, known dtypes, unique names, offsets that tile the data
 * exactly (contiguous, no overlap, no gap, nothing left over) and match each dtype's size times
 * the element count. TG_ERR_FORMAT (or TG_ERR_NOMEM) naming path otherwise. */
tg_status tg_st_parse(const char *json, size_t len, uint64_t data_size, tg_st_header *h,
                      const char *path, tg_error *err);
void tg_st_header_free(tg_st_header *h);

/* The header for every tensor of s (creation order, contiguous offsets) and meta, padded with
 * spaces to a multiple of 8 bytes: *out (tg_alloc'ed, *len bytes, not NUL-terminated) and the
 * size of the data section that must follow. */
tg_status tg_st_build(const tg_store *s, const tg_checkpoint_meta *meta, char **out, size_t *len,
                      uint64_t *data_size, const char *path, tg_error *err);

/* Test hook: called before each write of tg_checkpoint_save with the bytes already written to
 * the temporary file and the size of the next write; returning false makes that write fail as
 * an I/O error (EIO) would. NULL (the default) turns it off. Not thread-safe; for tests. */
typedef bool (*tg_io_write_hook)(int64_t written, size_t size, void *user);
void tg_io_set_write_hook(tg_io_write_hook hook, void *user);

#endif
