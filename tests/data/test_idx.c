/* test_idx.c: the IDX reader and labelled image sets against good files made here and against
 * every kind of broken one: cut at each length, one byte too long, wrong magic, unsupported
 * element types, dimension counts and sizes out of range or overflowing, empty, a folder, a
 * missing path. Each must fail with a message naming the file (and the sizes), never crash,
 * and never allocate more than the file holds. */
#include "test_files.h"

/* An IDX file image: magic 0 0 type ndim, big-endian dims, then `data` (n_data bytes). */
static size_t make_idx(unsigned char *buf, int type, int ndim, const uint32_t *dims,
                       const unsigned char *data, size_t n_data) {
    size_t n = 0;
    buf[n++] = 0;
    buf[n++] = 0;
    buf[n++] = (unsigned char)type;
    buf[n++] = (unsigned char)ndim;
    for (int i = 0; i < ndim; i++) {
        buf[n++] = (unsigned char)(dims[i] >> 24);
        buf[n++] = (unsigned char)(dims[i] >> 16);
        buf[n++] = (unsigned char)(dims[i] >> 8);
        buf[n++] = (unsigned char)dims[i];
    }
    if (n_data) memcpy(buf + n, data, n_data);
    return n + n_data;
}

/* Three 2x4 images with pixel values 10*i + p, and labels 7, 0, 3. */
enum { N_IMG = 3, ROWS = 2, COLS = 4 };
static unsigned char pixels[N_IMG * ROWS * COLS];
static const unsigned char labels3[N_IMG] = {7, 0, 3};

static void write_good_pair(const char *dir, const char *images, const char *labels) {
    for (int i = 0; i < N_IMG * ROWS * COLS; i++) pixels[i] = (unsigned char)(10 * (i / 8) + i % 8);
    unsigned char buf[256];
    size_t n = make_idx(buf, 0x08, 3, (const uint32_t[]){N_IMG, ROWS, COLS}, pixels, sizeof pixels);
    tf_write(tf_path(dir, images), buf, n);
    n = make_idx(buf, 0x08, 1, (const uint32_t[]){N_IMG}, labels3, sizeof labels3);
    tf_write(tf_path(dir, labels), buf, n);
}

START_TEST(test_good_file) {
    char *dir = tf_mkdtemp();
    write_good_pair(dir, "img", "lab");
    tg_idx x;
    tg_error err = {0};
    ck_assert_int_eq(tg_idx_load(&x, tf_path(dir, "img"), &err), TG_OK);
    ck_assert_int_eq(x.ndim, 3);
    ck_assert_int_eq(x.dims[0], N_IMG);
    ck_assert_int_eq(x.dims[1], ROWS);
    ck_assert_int_eq(x.dims[2], COLS);
    ck_assert_int_eq(x.size, sizeof pixels);
    ck_assert_mem_eq(x.data, pixels, sizeof pixels);
    tg_idx_free(&x);
    ck_assert_ptr_null(x.data);
    ck_assert_int_eq(x.ndim, 0);
    tg_idx_free(&x); /* twice is harmless */
    tg_idx_free(NULL);

    ck_assert_int_eq(tg_idx_load(&x, tf_path(dir, "lab"), NULL), TG_OK);
    ck_assert_int_eq(x.ndim, 1);
    ck_assert_int_eq(x.dims[0], N_IMG);
    ck_assert_mem_eq(x.data, labels3, sizeof labels3);
    tg_idx_free(&x);
    tf_rmdir(dir);
}
END_TEST

START_TEST(test_dataset) {
    char *dir = tf_mkdtemp();
    write_good_pair(dir, "img", "lab");
    tg_error err = {0};
    tg_dataset *d = tg_dataset_load_idx(tf_path(dir, "img"), tf_path(dir, "lab"), &err);
    ck_assert_msg(d != NULL, "%s", err.message);
    ck_assert_int_eq(tg_dataset_count(d), N_IMG);
    ck_assert_int_eq(tg_dataset_rows(d), ROWS);
    ck_assert_int_eq(tg_dataset_cols(d), COLS);
    ck_assert_int_eq(tg_dataset_n_classes(d), 8);
    ck_assert_mem_eq(tg_dataset_images(d), pixels, sizeof pixels);
    ck_assert_mem_eq(tg_dataset_labels(d), labels3, sizeof labels3);
    tg_dataset_free(d);
    tg_dataset_free(NULL);
    ck_assert_int_eq(tg_dataset_count(NULL), 0);
    ck_assert_ptr_null(tg_dataset_images(NULL));
    tf_rmdir(dir);
}
END_TEST

START_TEST(test_dataset_from_dir) {
    char *dir = tf_mkdtemp();
    write_good_pair(dir, "train-images-idx3-ubyte", "train-labels-idx1-ubyte");
    /* The dotted spelling of some MNIST copies, for the other split. */
    write_good_pair(dir, "t10k-images.idx3-ubyte", "t10k-labels.idx1-ubyte");
    tg_error err = {0};
    tg_dataset *d = tg_dataset_load_dir(dir, "train", &err);
    ck_assert_msg(d != NULL, "%s", err.message);
    ck_assert_int_eq(tg_dataset_count(d), N_IMG);
    tg_dataset_free(d);
    d = tg_dataset_load_dir(dir, "t10k", &err);
    ck_assert_msg(d != NULL, "%s", err.message);
    ck_assert_mem_eq(tg_dataset_labels(d), labels3, sizeof labels3);
    tg_dataset_free(d);
    /* A split that is not there names the file it looked for. */
    ck_assert_ptr_null(tg_dataset_load_dir(dir, "valid", &err));
    ck_assert_error(err, TG_ERR_IO, "valid-images-idx3-ubyte", "No such file");
    ck_assert_ptr_null(tg_dataset_load_dir(NULL, "train", &err));
    ck_assert_int_eq(err.status, TG_ERR_NULL);
    tf_rmdir(dir);
}
END_TEST

START_TEST(test_dataset_mismatch) {
    char *dir = tf_mkdtemp();
    write_good_pair(dir, "img", "lab");
    unsigned char buf[64];
    size_t n = make_idx(buf, 0x08, 1, (const uint32_t[]){2}, labels3, 2);
    tf_write(tf_path(dir, "lab2"), buf, n);
    tg_error err = {0};
    ck_assert_ptr_null(tg_dataset_load_idx(tf_path(dir, "img"), tf_path(dir, "lab2"), &err));
    ck_assert_error(err, TG_ERR_FORMAT, "3 images", "2 labels", "lab2");
    /* Labels and images swapped: the dims are wrong for either role. */
    ck_assert_ptr_null(tg_dataset_load_idx(tf_path(dir, "lab"), tf_path(dir, "img"), &err));
    ck_assert_error(err, TG_ERR_FORMAT, "images file", "(3,)", "want 3");
    n = make_idx(buf, 0x08, 2, (const uint32_t[]){3, 1}, labels3, 3);
    tf_write(tf_path(dir, "lab3"), buf, n);
    ck_assert_ptr_null(tg_dataset_load_idx(tf_path(dir, "img"), tf_path(dir, "lab3"), &err));
    ck_assert_error(err, TG_ERR_FORMAT, "labels file", "(3, 1)");
    ck_assert_ptr_null(tg_dataset_load_idx(tf_path(dir, "img"), tf_path(dir, "none"), &err));
    ck_assert_error(err, TG_ERR_IO, "none");
    tf_rmdir(dir);
}
END_TEST

START_TEST(test_truncated_at_every_length) {
    char *dir = tf_mkdtemp();
    unsigned char buf[256], data[24];
    for (int i = 0; i < 24; i++) data[i] = (unsigned char)(i * 7);
    size_t full = make_idx(buf, 0x08, 3, (const uint32_t[]){2, 3, 4}, data, sizeof data);
    const char *p = tf_path(dir, "cut");
    char want[64];
    for (size_t len = 0; len < full; len++) {
        tf_write(p, buf, len);
        tg_idx x;
        tg_error err = {0};
        ck_assert_int_eq(tg_idx_load(&x, p, &err), TG_ERR_FORMAT);
        ck_assert_ptr_null(x.data);
        ck_assert_msg(strstr(err.message, p) != NULL, "%s", err.message);
        if (len >= 16) {
            /* Past the header the message gives both sizes. */
            snprintf(want, sizeof want, "need %zu bytes", full);
            ck_assert_error(err, TG_ERR_FORMAT, "truncated", want);
            snprintf(want, sizeof want, "the file has %zu", len);
            ck_assert_error(err, TG_ERR_FORMAT, want);
        } else if (len >= 4) {
            ck_assert_error(err, TG_ERR_FORMAT, "header", "truncated");
        }
    }
    tf_rmdir(dir);
}
END_TEST

START_TEST(test_oversized) {
    char *dir = tf_mkdtemp();
    unsigned char buf[64], data[7] = {1, 2, 3, 4, 5, 6, 7};
    size_t n = make_idx(buf, 0x08, 1, (const uint32_t[]){6}, data, 7);
    tf_write(tf_path(dir, "big"), buf, n);
    tg_idx x;
    tg_error err = {0};
    ck_assert_int_eq(tg_idx_load(&x, tf_path(dir, "big"), &err), TG_ERR_FORMAT);
    ck_assert_error(err, TG_ERR_FORMAT, "oversized", "need 14 bytes", "the file has 15",
                    tf_path(dir, "big"));
    tf_rmdir(dir);
}
END_TEST

START_TEST(test_bad_magic_and_types) {
    char *dir = tf_mkdtemp();
    const char *p = tf_path(dir, "f");
    unsigned char buf[64], data[4] = {0};
    size_t n = make_idx(buf, 0x08, 1, (const uint32_t[]){4}, data, 4);
    tg_idx x;
    tg_error err = {0};

    buf[0] = 0x1f; /* the first byte of a gzip file: the usual mistake */
    buf[1] = 0x8b;
    tf_write(p, buf, n);
    ck_assert_int_eq(tg_idx_load(&x, p, &err), TG_ERR_FORMAT);
    ck_assert_error(err, TG_ERR_FORMAT, "magic number 0x1f8b0801", p);

    n = make_idx(buf, 0x0D, 1, (const uint32_t[]){1}, data, 4);
    tf_write(p, buf, n);
    ck_assert_int_eq(tg_idx_load(&x, p, &err), TG_ERR_FORMAT);
    ck_assert_error(err, TG_ERR_FORMAT, "f32", "0x0d", "only unsigned bytes");

    n = make_idx(buf, 0x0C, 1, (const uint32_t[]){1}, data, 4);
    tf_write(p, buf, n);
    ck_assert_int_eq(tg_idx_load(&x, p, &err), TG_ERR_FORMAT);
    ck_assert_error(err, TG_ERR_FORMAT, "i32");

    n = make_idx(buf, 0x42, 1, (const uint32_t[]){4}, data, 4);
    tf_write(p, buf, n);
    ck_assert_int_eq(tg_idx_load(&x, p, &err), TG_ERR_FORMAT);
    ck_assert_error(err, TG_ERR_FORMAT, "unknown element type byte 0x42");
    tf_rmdir(dir);
}
END_TEST

START_TEST(test_bad_dims) {
    char *dir = tf_mkdtemp();
    const char *p = tf_path(dir, "f");
    unsigned char buf[64], data[8] = {0};
    tg_idx x;
    tg_error err = {0};

    size_t n = make_idx(buf, 0x08, 0, NULL, data, 1);
    tf_write(p, buf, n);
    ck_assert_int_eq(tg_idx_load(&x, p, &err), TG_ERR_FORMAT);
    ck_assert_error(err, TG_ERR_FORMAT, "declares 0 dimensions");

    n = make_idx(buf, 0x08, 5, (const uint32_t[]){1, 1, 1, 1, 1}, data, 1);
    tf_write(p, buf, n);
    ck_assert_int_eq(tg_idx_load(&x, p, &err), TG_ERR_FORMAT);
    ck_assert_error(err, TG_ERR_FORMAT, "declares 5 dimensions", "1 to 4");

    n = make_idx(buf, 0x08, 3, (const uint32_t[]){2, 0, 4}, data, 0);
    tf_write(p, buf, n);
    ck_assert_int_eq(tg_idx_load(&x, p, &err), TG_ERR_FORMAT);
    ck_assert_error(err, TG_ERR_FORMAT, "size 0 in dimension 1", "(2, 0, 4)");
    tf_rmdir(dir);
}
END_TEST

/* Sizes whose product overflows 64 bits, or is merely enormous, must be refused from the
 * header alone: the allocator here fails anything above 1 MB, so a reader that trusted the
 * header would report out-of-memory instead of a format error. */
START_TEST(test_huge_dims) {
    char *dir = tf_mkdtemp();
    const char *p = tf_path(dir, "f");
    unsigned char buf[64], data[8] = {0};
    tg_idx x;
    tg_error err = {0};
    tf_alloc_install(-1, 1u << 20);

    size_t n =
        make_idx(buf, 0x08, 3, (const uint32_t[]){0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu}, data, 8);
    tf_write(p, buf, n);
    ck_assert_int_eq(tg_idx_load(&x, p, &err), TG_ERR_FORMAT);
    ck_assert_error(err, TG_ERR_FORMAT, "more than 2^63 bytes", "the file has 24 bytes");

    n = make_idx(buf, 0x08, 2, (const uint32_t[]){0xFFFFFFFFu, 0xFFFFFFFFu}, data, 8);
    tf_write(p, buf, n);
    ck_assert_int_eq(tg_idx_load(&x, p, &err), TG_ERR_FORMAT);

    n = make_idx(buf, 0x08, 3, (const uint32_t[]){60000, 28, 28}, data, 8);
    tf_write(p, buf, n);
    ck_assert_int_eq(tg_idx_load(&x, p, &err), TG_ERR_FORMAT);
    ck_assert_error(err, TG_ERR_FORMAT, "truncated", "need 47040016 bytes", "has 24");
    ck_assert_uint_lt(tf_alloc_st.largest, 4096);
    tf_alloc_remove();
    tf_rmdir(dir);
}
END_TEST

START_TEST(test_empty_dir_missing) {
    char *dir = tf_mkdtemp();
    tg_idx x;
    tg_error err = {0};
    tf_write(tf_path(dir, "empty"), "", 0);
    ck_assert_int_eq(tg_idx_load(&x, tf_path(dir, "empty"), &err), TG_ERR_FORMAT);
    ck_assert_error(err, TG_ERR_FORMAT, "is 0 bytes", "empty", tf_path(dir, "empty"));

    ck_assert_int_eq(tg_idx_load(&x, dir, &err), TG_ERR_IO);
    ck_assert_error(err, TG_ERR_IO, "is a directory", dir);

    ck_assert_int_eq(tg_idx_load(&x, tf_path(dir, "nope"), &err), TG_ERR_IO);
    ck_assert_error(err, TG_ERR_IO, "cannot open", "nope", "No such file");

    ck_assert_int_eq(tg_idx_load(&x, NULL, &err), TG_ERR_NULL);
    ck_assert_int_eq(tg_idx_load(NULL, dir, &err), TG_ERR_NULL);
    /* Without an error struct the status still tells. */
    ck_assert_int_eq(tg_idx_load(&x, dir, NULL), TG_ERR_IO);
    tf_rmdir(dir);
}
END_TEST

/* Running out of memory at any allocation is reported, leaks nothing (ASan checks), and never
 * crashes. */
START_TEST(test_out_of_memory) {
    char *dir = tf_mkdtemp();
    write_good_pair(dir, "img", "lab");
    bool ok_seen = false;
    for (long k = 0; k < 16; k++) {
        tg_error err = {0};
        tf_alloc_install(k, 0);
        tg_dataset *d = tg_dataset_load_idx(tf_path(dir, "img"), tf_path(dir, "lab"), &err);
        long calls = tf_alloc_st.calls;
        tf_alloc_remove();
        if (d) {
            ok_seen = true;
            ck_assert_int_le(calls, k);
            ck_assert_mem_eq(tg_dataset_images(d), pixels, sizeof pixels);
            tg_dataset_free(d);
        } else {
            ck_assert_error(err, TG_ERR_NOMEM, "out of memory");
        }
    }
    ck_assert(ok_seen);
    tf_rmdir(dir);
}
END_TEST

START_TEST(test_from_memory) {
    unsigned char im[2 * 3 * 2], lb[2] = {1, 4};
    for (int i = 0; i < 12; i++) im[i] = (unsigned char)(200 + i);
    tg_error err = {0};
    tg_dataset *d = tg_dataset_from_memory(2, 3, 2, im, lb, &err);
    ck_assert_ptr_nonnull(d);
    im[0] = 0; /* a copy was taken */
    lb[0] = 9;
    ck_assert_int_eq(tg_dataset_images(d)[0], 200);
    ck_assert_int_eq(tg_dataset_labels(d)[0], 1);
    ck_assert_int_eq(tg_dataset_n_classes(d), 5);
    ck_assert_int_eq(tg_dataset_rows(d), 3);
    ck_assert_int_eq(tg_dataset_cols(d), 2);
    tg_dataset_free(d);
    ck_assert_ptr_null(tg_dataset_from_memory(0, 3, 2, im, lb, &err));
    ck_assert_error(err, TG_ERR_ARG, "every size must be positive");
    ck_assert_ptr_null(tg_dataset_from_memory(INT64_MAX / 2, 1 << 20, 1 << 20, im, lb, &err));
    ck_assert_int_eq(err.status, TG_ERR_ARG);
    ck_assert_ptr_null(tg_dataset_from_memory(2, 3, 2, NULL, lb, &err));
    ck_assert_int_eq(err.status, TG_ERR_NULL);
}
END_TEST

int main(void) {
    Suite *s = suite_create("data_idx");
    TCase *tc = tcase_create("idx");
    tcase_add_test(tc, test_good_file);
    tcase_add_test(tc, test_dataset);
    tcase_add_test(tc, test_dataset_from_dir);
    tcase_add_test(tc, test_dataset_mismatch);
    tcase_add_test(tc, test_truncated_at_every_length);
    tcase_add_test(tc, test_oversized);
    tcase_add_test(tc, test_bad_magic_and_types);
    tcase_add_test(tc, test_bad_dims);
    tcase_add_test(tc, test_huge_dims);
    tcase_add_test(tc, test_empty_dir_missing);
    tcase_add_test(tc, test_out_of_memory);
    tcase_add_test(tc, test_from_memory);
    suite_add_tcase(s, tc);
    return tg_test_run(s);
}
