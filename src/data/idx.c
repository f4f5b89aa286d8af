/* idx.c: the IDX file format (MNIST, Fashion-MNIST) and labelled image sets built from it.
 *
 * Invariant: nothing is allocated for a file until its header has been checked and the data
 * size it declares equals the bytes the file really holds, so a corrupt header can neither
 * crash the reader nor make it allocate more than the file's own size. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "../graph/graph.h"
#include "file.h"

struct tg_dataset {
    int64_t n, rows, cols;
    uint8_t *images; /* n * rows * cols pixels, row-major */
    uint8_t *labels; /* n labels */
    int n_classes;
};

/* The element types IDX defines; only u8 is loaded. */
static const char *idx_type_name(int code) {
    switch (code) {
    case 0x08:
        return "u8";
    case 0x09:
        return "i8";
    case 0x0B:
        return "i16";
    case 0x0C:
        return "i32";
    case 0x0D:
        return "f32";
    case 0x0E:
        return "f64";
    }
    return NULL;
}

void tg_idx_free(tg_idx *x) {
    if (!x) return;
    tg_free(x->data);
    memset(x, 0, sizeof *x);
}

/* "(60000, 28, 28)" for the message of a dims problem. */
static const char *dims_text(int ndim, const int64_t *dims, char *buf, size_t size) {
    return tg_dims_str(ndim, dims, buf, size);
}

tg_status tg_idx_load(tg_idx *out, const char *path, tg_error *err) {
    tg_error local;
    if (!err) err = &local; /* the caller may not want the message; the status still counts */
    if (!out) return tg_error_set(err, TG_ERR_NULL, "idx: the output struct is NULL");
    memset(out, 0, sizeof *out);
    int64_t fsize = 0;
    FILE *f = tg_file_open_regular("idx", path, &fsize, err);
    if (!f) return err->status;

    tg_status st = TG_OK;
    unsigned char magic[4];
    if (fsize < 4) {
        st = tg_error_set(err, TG_ERR_FORMAT,
                          "idx: '%s' is %lld bytes, shorter than the 4-byte IDX magic number%s",
                          path, (long long)fsize, fsize == 0 ? " (the file is empty)" : "");
        goto done;
    }
    if ((st = tg_file_read("idx", path, f, magic, 4, err)) != TG_OK) goto done;
    unsigned long m = (unsigned long)magic[0] << 24 | (unsigned long)magic[1] << 16 |
                      (unsigned long)magic[2] << 8 | magic[3];
    if (magic[0] != 0 || magic[1] != 0) {
        st = tg_error_set(err, TG_ERR_FORMAT,
                          "idx: '%s' has magic number 0x%08lx; an IDX file starts with two zero "
                          "bytes, a type byte and a dimension count (0x00000803 for images)",
                          path, m);
        goto done;
    }
    const char *tname = idx_type_name(magic[2]);
    if (magic[2] != 0x08) {
        if (tname)
            st = tg_error_set(err, TG_ERR_FORMAT,
                              "idx: '%s' holds %s elements (type byte 0x%02x); only unsigned "
                              "bytes (type 0x08) are supported",
                              path, tname, magic[2]);
        else
            st = tg_error_set(err, TG_ERR_FORMAT,
                              "idx: '%s' has unknown element type byte 0x%02x (magic 0x%08lx)",
                              path, magic[2], m);
        goto done;
    }
    int ndim = magic[3];
    if (ndim < 1 || ndim > TG_IDX_MAX_DIMS) {
        st = tg_error_set(err, TG_ERR_FORMAT,
                          "idx: '%s' declares %d dimensions; 1 to %d are supported", path, ndim,
                          TG_IDX_MAX_DIMS);
        goto done;
    }
    int64_t header = 4 + 4 * (int64_t)ndim;
    if (fsize < header) {
        st = tg_error_set(err, TG_ERR_FORMAT,
                          "idx: '%s' is %lld bytes, shorter than its %lld-byte header "
                          "(truncated)",
                          path, (long long)fsize, (long long)header);
        goto done;
    }
    unsigned char raw[4 * TG_IDX_MAX_DIMS];
    if ((st = tg_file_read("idx", path, f, raw, (size_t)(4 * ndim), err)) != TG_OK) goto done;
    int64_t dims[TG_IDX_MAX_DIMS];
    for (int i = 0; i < ndim; i++) {
        const unsigned char *p = raw + 4 * i;
        dims[i] = (int64_t)((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
                            (uint32_t)p[3]);
    }
    char dbuf[TG_SHAPE_STR_MAX];
    int64_t total = 1;
    for (int i = 0; i < ndim; i++) {
        if (dims[i] == 0) {
            st = tg_error_set(err, TG_ERR_FORMAT, "idx: '%s' has size 0 in dimension %d of %s",
                              path, i, dims_text(ndim, dims, dbuf, sizeof dbuf));
            goto done;
        }
        /* Each dim is below 2^32, so checking against the largest int64 keeps the product
         * exact; the message then gives the real expected size. */
        if (!tg_size_mul(total, dims[i], INT64_MAX - header, &total)) {
            st = tg_error_set(err, TG_ERR_FORMAT,
                              "idx: '%s' declares dims %s: more than 2^63 bytes of data, but "
                              "the file has %lld bytes",
                              path, dims_text(ndim, dims, dbuf, sizeof dbuf), (long long)fsize);
            goto done;
        }
    }
    if (header + total != fsize) {
        st = tg_error_set(err, TG_ERR_FORMAT,
                          "idx: '%s' is %s: dims %s need %lld bytes (%lld header + %lld data) "
                          "but the file has %lld",
                          path, fsize < header + total ? "truncated" : "oversized",
                          dims_text(ndim, dims, dbuf, sizeof dbuf), (long long)(header + total),
                          (long long)header, (long long)total, (long long)fsize);
        goto done;
    }
    if ((uint64_t)total > SIZE_MAX) {
        st = tg_error_set(err, TG_ERR_NOMEM, "idx: '%s' is too large for memory", path);
        goto done;
    }
    uint8_t *data = tg_alloc((size_t)total);
    if (!data) {
        st = tg_error_set(err, TG_ERR_NOMEM, "idx: out of memory reading %lld bytes of '%s'",
                          (long long)total, path);
        goto done;
    }
    if ((st = tg_file_read("idx", path, f, data, (size_t)total, err)) != TG_OK) {
        tg_free(data);
        goto done;
    }
    out->ndim = ndim;
    memcpy(out->dims, dims, sizeof dims);
    out->size = total;
    out->data = data;
done:
    fclose(f);
    return st;
}

/* ---- data sets ---- */

static tg_dataset *dataset_take(int64_t n, int64_t rows, int64_t cols, uint8_t *images,
                                uint8_t *labels, tg_error *err) {
    tg_dataset *d = tg_alloc(sizeof *d);
    if (!d) {
        tg_error_set(err, TG_ERR_NOMEM, "dataset: out of memory");
        tg_free(images);
        tg_free(labels);
        return NULL;
    }
    d->n = n;
    d->rows = rows;
    d->cols = cols;
    d->images = images;
    d->labels = labels;
    int top = 0;
    for (int64_t i = 0; i < n; i++)
        if (labels[i] > top) top = labels[i];
    d->n_classes = top + 1;
    return d;
}

tg_dataset *tg_dataset_load_idx(const char *images_path, const char *labels_path, tg_error *err) {
    tg_idx im, lb;
    if (tg_idx_load(&im, images_path, err) != TG_OK) return NULL;
    char dbuf[TG_SHAPE_STR_MAX];
    if (im.ndim != 3) {
        tg_error_set(err, TG_ERR_FORMAT,
                     "dataset: images file '%s' has dims %s; want 3 (count, rows, cols)",
                     images_path, dims_text(im.ndim, im.dims, dbuf, sizeof dbuf));
        tg_idx_free(&im);
        return NULL;
    }
    if (tg_idx_load(&lb, labels_path, err) != TG_OK) {
        tg_idx_free(&im);
        return NULL;
    }
    if (lb.ndim != 1 || lb.dims[0] != im.dims[0]) {
        if (lb.ndim != 1)
            tg_error_set(err, TG_ERR_FORMAT,
                         "dataset: labels file '%s' has dims %s; want 1 (count)", labels_path,
                         dims_text(lb.ndim, lb.dims, dbuf, sizeof dbuf));
        else
            tg_error_set(err, TG_ERR_FORMAT,
                         "dataset: '%s' holds %lld images but '%s' holds %lld labels", images_path,
                         (long long)im.dims[0], labels_path, (long long)lb.dims[0]);
        tg_idx_free(&im);
        tg_idx_free(&lb);
        return NULL;
    }
    return dataset_take(im.dims[0], im.dims[1], im.dims[2], im.data, lb.data, err);
}

static bool is_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* The first of the two usual spellings of an MNIST file name that exists in dir, or else the
 * first spelling, so the loader's error names the file it expected. */
static bool mnist_path(char *buf, size_t size, const char *dir, const char *split, const char *kind,
                       const char *idx) {
    int n = snprintf(buf, size, "%s/%s-%s-%s-ubyte", dir, split, kind, idx);
    if (n < 0 || (size_t)n >= size) return false;
    if (is_file(buf)) return true;
    char alt[4096];
    n = snprintf(alt, sizeof alt, "%s/%s-%s.%s-ubyte", dir, split, kind, idx);
    if (n > 0 && (size_t)n < sizeof alt && is_file(alt)) snprintf(buf, size, "%s", alt);
    return true;
}

tg_dataset *tg_dataset_load_dir(const char *dir, const char *split, tg_error *err) {
    if (!dir || !split) {
        tg_error_set(err, TG_ERR_NULL, "dataset: the folder or split name is NULL");
        return NULL;
    }
    char images[4096], labels[4096];
    if (!mnist_path(images, sizeof images, dir, split, "images", "idx3") ||
        !mnist_path(labels, sizeof labels, dir, split, "labels", "idx1")) {
        tg_error_set(err, TG_ERR_ARG, "dataset: the folder name '%.200s...' is too long", dir);
        return NULL;
    }
    return tg_dataset_load_idx(images, labels, err);
}

tg_dataset *tg_dataset_from_memory(int64_t n, int64_t rows, int64_t cols, const uint8_t *images,
                                   const uint8_t *labels, tg_error *err) {
    if (!images || !labels) {
        tg_error_set(err, TG_ERR_NULL, "dataset: images or labels are NULL");
        return NULL;
    }
    int64_t pixels = 0, bytes = 0;
    if (n <= 0 || rows <= 0 || cols <= 0 || !tg_size_mul(rows, cols, INT64_MAX, &pixels) ||
        !tg_size_mul(n, pixels, INT64_MAX, &bytes) || (uint64_t)bytes > SIZE_MAX) {
        tg_error_set(err, TG_ERR_ARG,
                     "dataset: %lld images of %lld x %lld: every size must be positive and "
                     "the total must fit in memory",
                     (long long)n, (long long)rows, (long long)cols);
        return NULL;
    }
    size_t n_pix = (size_t)(n * rows * cols);
    uint8_t *im = tg_alloc(n_pix), *lb = tg_alloc((size_t)n);
    if (!im || !lb) {
        tg_free(im);
        tg_free(lb);
        tg_error_set(err, TG_ERR_NOMEM, "dataset: out of memory copying %lld images", (long long)n);
        return NULL;
    }
    memcpy(im, images, n_pix);
    memcpy(lb, labels, (size_t)n);
    return dataset_take(n, rows, cols, im, lb, err);
}

void tg_dataset_free(tg_dataset *d) {
    if (!d) return;
    tg_free(d->images);
    tg_free(d->labels);
    tg_free(d);
}

int64_t tg_dataset_count(const tg_dataset *d) { return d ? d->n : 0; }
int64_t tg_dataset_rows(const tg_dataset *d) { return d ? d->rows : 0; }
int64_t tg_dataset_cols(const tg_dataset *d) { return d ? d->cols : 0; }
int tg_dataset_n_classes(const tg_dataset *d) { return d ? d->n_classes : 0; }
const uint8_t *tg_dataset_images(const tg_dataset *d) { return d ? d->images : NULL; }
const uint8_t *tg_dataset_labels(const tg_dataset *d) { return d ? d->labels : NULL; }
