/* fuzz_idx.c: hostile IDX files against tg_idx_load and the data sets built from them.
 *
 * The input is one IDX file. A load that succeeds must describe the file exactly (dims in
 * range, size their product, header plus data the file's length, the data its bytes); one
 * that fails must set the error and leave the struct empty. Then the input is used as the
 * images of a data set (with a labels file made to match it, and one that does not) and as
 * the labels of one, and the first batch of a good set must hold the pixels divided by 255. */
#include <string.h>

#include "fuzz.h"

/* A 1-D IDX labels file of n labels (the bytes from `from`, cycled), in buf (n + 8 bytes). */
static size_t labels_file(uint8_t *buf, uint32_t n, const uint8_t *from, size_t n_from) {
    const uint8_t head[8] = {0, 0, 8, 1, (uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8),
                             (uint8_t)n};
    memcpy(buf, head, 8);
    for (uint32_t i = 0; i < n; i++) buf[8 + i] = n_from ? from[i % n_from] : (uint8_t)i;
    return 8 + (size_t)n;
}

/* The input as images with matching labels: the set must load and batch as the bytes say. */
static void check_dataset(const char *images, const tg_idx *x) {
    int64_t n = x->dims[0], rows = x->dims[1], cols = x->dims[2];
    /* Labels for at most 4096 images; a bigger count only grows the harness's own file. */
    if (n > 4096) return;
    static uint8_t lab[8 + 4097];
    size_t len = labels_file(lab, (uint32_t)n, x->data, (size_t)x->size);
    const char *labels = fuzz_write_file("labels.idx", lab, len);
    tg_error err = {0};
    tg_dataset *d = tg_dataset_load_idx(images, labels, &err);
    FUZZ_CHECK(d, "a valid image file with matching labels: %s", err.message);
    FUZZ_CHECK(tg_dataset_count(d) == n && tg_dataset_rows(d) == rows &&
                   tg_dataset_cols(d) == cols,
               "the data set's sizes");
    int top = 0;
    for (int64_t i = 0; i < n; i++)
        if (lab[8 + i] > top) top = lab[8 + i];
    FUZZ_CHECK(tg_dataset_n_classes(d) == top + 1, "n_classes %d, largest label %d",
               tg_dataset_n_classes(d), top);
    FUZZ_CHECK(memcmp(tg_dataset_images(d), x->data, (size_t)x->size) == 0, "image bytes");

    tg_batcher_opts o = {.batch_size = 3, .shuffle = true, .seed = 7, .dtype = TG_F64};
    tg_batcher *b = tg_batcher_new(d, &o, &err);
    FUZZ_CHECK(b, "tg_batcher_new: %s", err.message);
    tg_tape *t = tg_tape_new();
    FUZZ_CHECK(t, "tg_tape_new");
    tg_tensor *batch;
    const int64_t *y;
    FUZZ_CHECK(tg_batcher_next(b, t, &batch, &y), "the first batch: %s", tg_tape_error(t));
    const int64_t *order = tg_batcher_order(b);
    int64_t bs = tg_tensor_dim(batch, 0), per = rows * cols;
    FUZZ_CHECK(bs == (n < 3 ? n : 3) && tg_tensor_ndim(batch) == 4, "batch of %lld", (long long)bs);
    const double *px = tg_tensor_data(batch);
    for (int64_t i = 0; i < bs; i++) {
        FUZZ_CHECK(order[i] >= 0 && order[i] < n, "order[%lld] = %lld", (long long)i,
                   (long long)order[i]);
        FUZZ_CHECK(y[i] == lab[8 + order[i]], "label %lld", (long long)i);
        const uint8_t *img = x->data + order[i] * per;
        for (int64_t j = 0; j < per; j++)
            FUZZ_CHECK(px[i * per + j] == img[j] / 255.0, "pixel %lld of image %lld",
                       (long long)j, (long long)i);
    }
    tg_tape_free(t);
    tg_batcher_free(b);
    tg_dataset_free(d);

    /* One label too many: refused, naming both counts. */
    len = labels_file(lab, (uint32_t)n + 1, x->data, (size_t)x->size);
    labels = fuzz_write_file("labels.idx", lab, len);
    d = tg_dataset_load_idx(images, labels, &err);
    FUZZ_CHECK(!d, "%lld images with %lld labels were accepted", (long long)n, (long long)n + 1);
    fuzz_check_error(&err, err.status, "tg_dataset_load_idx");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_write_file("input.idx", data, size);
    tg_idx x;
    memset(&x, 0x5a, sizeof x);
    tg_error err = {0};
    tg_status st = tg_idx_load(&x, path, &err);
    if (st != TG_OK) {
        fuzz_check_error(&err, st, "tg_idx_load");
        FUZZ_CHECK(x.ndim == 0 && x.size == 0 && x.data == NULL, "a failed load left data");
    } else {
        FUZZ_CHECK(x.ndim >= 1 && x.ndim <= TG_IDX_MAX_DIMS, "ndim %d", x.ndim);
        FUZZ_CHECK(data[0] == 0 && data[1] == 0 && data[2] == 8 && data[3] == x.ndim,
                   "accepted magic %02x%02x%02x%02x", data[0], data[1], data[2], data[3]);
        int64_t total = 1;
        for (int i = 0; i < x.ndim; i++) {
            const uint8_t *p = data + 4 + 4 * i;
            int64_t want = (int64_t)((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
                                     (uint32_t)p[2] << 8 | p[3]);
            FUZZ_CHECK(x.dims[i] == want && want > 0, "dim %d is %lld, the file says %lld", i,
                       (long long)x.dims[i], (long long)want);
            total *= x.dims[i];
        }
        size_t header = 4 + 4 * (size_t)x.ndim;
        FUZZ_CHECK(x.size == total && header + (size_t)total == size,
                   "size %lld for %zu bytes", (long long)x.size, size);
        FUZZ_CHECK(memcmp(x.data, data + header, (size_t)total) == 0, "the data differ");
    }

    if (st == TG_OK && x.ndim == 3) {
        check_dataset(path, &x);
    } else {
        /* Not a 3-D image file: refused as images whatever the labels. */
        uint8_t lab[8 + 2];
        const char *labels = fuzz_write_file("labels.idx", lab, labels_file(lab, 2, NULL, 0));
        tg_dataset *d = tg_dataset_load_idx(path, labels, &err);
        FUZZ_CHECK(!d, "a file that is not 3-D IDX was taken as images");
        fuzz_check_error(&err, err.status, "tg_dataset_load_idx");
    }

    /* The input as labels for two 1x1 images: accepted exactly when it is 1-D of 2. */
    static const uint8_t two_images[] = {0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 1, 10, 20};
    const char *images = fuzz_write_file("images.idx", two_images, sizeof two_images);
    tg_dataset *d = tg_dataset_load_idx(images, path, &err);
    bool fits = st == TG_OK && x.ndim == 1 && x.dims[0] == 2;
    FUZZ_CHECK(!d == !fits, "labels file %s", fits ? "refused" : "accepted");
    if (d)
        FUZZ_CHECK(tg_dataset_labels(d)[0] == x.data[0] && tg_dataset_labels(d)[1] == x.data[1],
                   "labels");
    else
        fuzz_check_error(&err, err.status, "tg_dataset_load_idx");
    tg_dataset_free(d);
    tg_idx_free(&x);
    return 0;
}
