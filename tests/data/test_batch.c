/* test_batch.c: the batch iterator: shapes, values and labels of each batch in f32 and f64,
 * the last short batch kept or dropped, normalisation, seeded shuffling that is a uniform
 * permutation per epoch and is the documented Fisher-Yates over tg_rng_below, and a saved state
 * that resumes bit-identically (also through its text form), and shards that together are the
 * unsplit batches. */
#include "test_files.h"

/* n images of 2x3 whose pixels are 20*i + p, labelled i: a batch's label names its image. */
enum { ROWS = 2, COLS = 3, PIX = ROWS * COLS };

static tg_dataset *make_set(int n) {
    unsigned char im[256 * PIX], lb[256];
    for (int i = 0; i < n; i++) {
        lb[i] = (unsigned char)i;
        for (int p = 0; p < PIX; p++) im[i * PIX + p] = (unsigned char)((20 * i + p) % 256);
    }
    tg_error err = {0};
    tg_dataset *d = tg_dataset_from_memory(n, ROWS, COLS, im, lb, &err);
    ck_assert_msg(d != NULL, "%s", err.message);
    return d;
}

/* Checks that batch x holds, row by row, the images labels[] name, each pixel v as f(v). */
static void check_batch(const tg_dataset *d, const tg_tensor *x, const int64_t *labels,
                        int64_t count, double mean, double std) {
    const uint8_t *im = tg_dataset_images(d);
    for (int64_t i = 0; i < count; i++)
        for (int p = 0; p < PIX; p++) {
            double want = (im[labels[i] * PIX + p] / 255.0 - mean) / std;
            if (tg_tensor_dtype(x) == TG_F32) want = (float)want;
            double got = tg_tensor_get(x, i * PIX + p);
            ck_assert_msg(got == want, "row %lld pixel %d: %.17g, want %.17g", (long long)i, p, got,
                          want);
        }
}

START_TEST(test_in_order_f64) {
    tg_dataset *d = make_set(10);
    tg_batcher_opts o = {.batch_size = 4, .dtype = TG_F64};
    tg_error err = {0};
    tg_batcher *b = tg_batcher_new(d, &o, &err);
    ck_assert_msg(b != NULL, "%s", err.message);
    ck_assert_int_eq(tg_batcher_n_batches(b), 3);
    tg_tape *t = tg_tape_new();
    tg_tensor *x;
    const int64_t *y;
    const int64_t sizes[3] = {4, 4, 2};
    int64_t next_label = 0;
    for (int k = 0; k < 3; k++) {
        ck_assert_int_eq(tg_batcher_position(b), k);
        ck_assert(tg_batcher_next(b, t, &x, &y));
        ck_assert_int_eq(tg_tensor_ndim(x), 4);
        ck_assert_int_eq(tg_tensor_dim(x, 0), sizes[k]);
        ck_assert_int_eq(tg_tensor_dim(x, 1), 1);
        ck_assert_int_eq(tg_tensor_dim(x, 2), ROWS);
        ck_assert_int_eq(tg_tensor_dim(x, 3), COLS);
        ck_assert_int_eq(tg_tensor_dtype(x), TG_F64);
        ck_assert(!tg_tensor_requires_grad(x));
        for (int64_t i = 0; i < sizes[k]; i++) ck_assert_int_eq(y[i], next_label++);
        check_batch(d, x, y, sizes[k], 0, 1);
    }
    ck_assert_int_eq(tg_batcher_epoch(b), 0);
    ck_assert(!tg_batcher_next(b, t, &x, &y));
    ck_assert_ptr_null(x);
    ck_assert_ptr_null(y);
    ck_assert_int_eq(tg_batcher_epoch(b), 1);
    ck_assert_int_eq(tg_batcher_position(b), 0);
    /* The next epoch starts again, same order without shuffling. */
    ck_assert(tg_batcher_next(b, t, &x, &y));
    ck_assert_int_eq(y[0], 0);
    ck_assert_int_eq(tg_tape_status(t), TG_OK);
    tg_tape_free(t);
    tg_batcher_free(b);
    tg_dataset_free(d);
}
END_TEST

START_TEST(test_flat_f32_normalised_drop_last) {
    tg_dataset *d = make_set(10);
    tg_batcher_opts o = {.batch_size = 4,
                         .dtype = TG_F32,
                         .flatten = true,
                         .drop_last = true,
                         .normalize = true,
                         .mean = 0.2860,
                         .std = 0.3530};
    tg_batcher *b = tg_batcher_new(d, &o, NULL);
    ck_assert_ptr_nonnull(b);
    ck_assert_int_eq(tg_batcher_n_batches(b), 2);
    tg_tape *t = tg_tape_new();
    tg_tensor *x;
    const int64_t *y;
    int n = 0;
    while (tg_batcher_next(b, t, &x, &y)) {
        ck_assert_int_eq(tg_tensor_ndim(x), 2);
        ck_assert_int_eq(tg_tensor_dim(x, 0), 4);
        ck_assert_int_eq(tg_tensor_dim(x, 1), PIX);
        ck_assert_int_eq(tg_tensor_dtype(x), TG_F32);
        check_batch(d, x, y, 4, 0.2860, 0.3530);
        n++;
        tg_tape_reset(t);
    }
    ck_assert_int_eq(n, 2);
    tg_tape_free(t);
    tg_batcher_free(b);
    tg_dataset_free(d);
}
END_TEST

/* Unnormalised f32 batches are converted by vector divides at each CPU level (pixels.c) and
 * must hold exactly (float)(v / 255.0), the table's value, for every byte value and at every
 * position of a vector and of its tail: images of 5 x 7 (35 pixels, a tail at every width) and
 * of 28 x 28, shuffled, flat and not, on one and two threads. */
START_TEST(test_f32_pixels_every_level) {
    static const int64_t sides[2][2] = {{5, 7}, {28, 28}};
    for (int sz = 0; sz < 2; sz++) {
        int64_t rows = sides[sz][0], cols = sides[sz][1], pix = rows * cols, n = 40;
        unsigned char *im = malloc((size_t)(n * pix)), lb[40];
        ck_assert_ptr_nonnull(im);
        for (int64_t i = 0; i < n; i++) {
            lb[i] = (unsigned char)(i % 10);
            for (int64_t p = 0; p < pix; p++)
                im[i * pix + p] = (unsigned char)((37 * i + 11 * p) % 256);
        }
        tg_error err = {0};
        tg_dataset *d = tg_dataset_from_memory(n, rows, cols, im, lb, &err);
        ck_assert_msg(d != NULL, "%s", err.message);
        for (int li = 0; li < TG_TEST_N_LEVELS; li++) {
            if (!tg_test_enter_level(tg_test_all_levels[li])) continue;
            for (int threads = 1; threads <= 2; threads++) {
                tg_set_threads(threads);
                tg_batcher_opts o = {.batch_size = 16,
                                     .dtype = TG_F32,
                                     .flatten = threads == 1,
                                     .shuffle = true,
                                     .seed = 3};
                tg_batcher *b = tg_batcher_new(d, &o, &err);
                ck_assert_ptr_nonnull(b);
                tg_tape *t = tg_tape_new();
                tg_tensor *x;
                const int64_t *y;
                int64_t start = 0;
                while (tg_batcher_next(b, t, &x, &y)) {
                    const int64_t *order = tg_batcher_order(b) + start;
                    const float *got = tg_tensor_data(x);
                    int64_t count = tg_tensor_dim(x, 0);
                    for (int64_t i = 0; i < count; i++)
                        for (int64_t p = 0; p < pix; p++) {
                            float want = (float)(im[order[i] * pix + p] / 255.0);
                            ck_assert_msg(got[i * pix + p] == want,
                                          "level %s, %lldx%lld, image %lld pixel %lld: %.9g, "
                                          "want %.9g",
                                          tg_cpu_level_name(tg_test_all_levels[li]),
                                          (long long)rows, (long long)cols, (long long)i,
                                          (long long)p, got[i * pix + p], want);
                        }
                    start += count;
                    tg_tape_reset(t);
                }
                ck_assert_int_eq(start, n);
                tg_tape_free(t);
                tg_batcher_free(b);
            }
        }
        tg_set_threads(1);
        tg_set_cpu_level(tg_cpu_best_level());
        tg_dataset_free(d);
        free(im);
    }
}
END_TEST

/* Every epoch visits each sample exactly once, in an order that changes between epochs and is
 * the same for the same seed. */
START_TEST(test_shuffle_permutations) {
    tg_dataset *d = make_set(37);
    tg_batcher_opts o = {.batch_size = 5, .shuffle = true, .seed = 11, .dtype = TG_F64};
    tg_batcher *a = tg_batcher_new(d, &o, NULL), *c = tg_batcher_new(d, &o, NULL);
    o.seed = 12;
    tg_batcher *other = tg_batcher_new(d, &o, NULL);
    tg_tape *t = tg_tape_new();
    int64_t prev[37] = {0};
    for (int epoch = 0; epoch < 4; epoch++) {
        int seen[37] = {0};
        int64_t order[37];
        int64_t n = 0;
        tg_tensor *x, *xc;
        const int64_t *y, *yc;
        while (tg_batcher_next(a, t, &x, &y)) {
            ck_assert(tg_batcher_next(c, t, &xc, &yc));
            for (int64_t i = 0; i < tg_tensor_dim(x, 0); i++) {
                ck_assert_int_eq(y[i], yc[i]);
                seen[y[i]]++;
                order[n++] = y[i];
            }
            check_batch(d, x, y, tg_tensor_dim(x, 0), 0, 1);
            tg_tape_reset(t);
        }
        ck_assert(!tg_batcher_next(c, t, &xc, &yc));
        ck_assert_int_eq(n, 37);
        for (int i = 0; i < 37; i++) ck_assert_int_eq(seen[i], 1);
        if (epoch > 0) ck_assert_msg(memcmp(prev, order, sizeof order) != 0, "epoch repeats");
        ck_assert_msg(memcmp(order, tg_batcher_order(other), sizeof order) != 0,
                      "another seed gave the same order");
        memcpy(prev, order, sizeof order);
        /* Move the other batcher on by an epoch too. */
        for (tg_tensor *xo; tg_batcher_next(other, t, &xo, &yc);) tg_tape_reset(t);
    }
    tg_tape_free(t);
    tg_batcher_free(a);
    tg_batcher_free(c);
    tg_batcher_free(other);
    tg_dataset_free(d);
}
END_TEST

/* The order is the one the header documents: from the identity, i = n-1 down to 1 swaps i
 * with tg_rng_below(i + 1), drawing from a generator seeded with opts.seed that carries over
 * from epoch to epoch. Pinning it keeps orders reproducible across versions. */
START_TEST(test_shuffle_is_fisher_yates) {
    tg_dataset *d = make_set(23);
    tg_batcher_opts o = {.batch_size = 23, .shuffle = true, .seed = 2024};
    tg_batcher *b = tg_batcher_new(d, &o, NULL);
    tg_rng r;
    tg_rng_seed(&r, 2024);
    tg_tape *t = tg_tape_new();
    for (int epoch = 0; epoch < 3; epoch++) {
        int64_t want[23];
        for (int i = 0; i < 23; i++) want[i] = i;
        for (int i = 22; i > 0; i--) {
            int64_t j = (int64_t)tg_rng_below(&r, (uint64_t)i + 1), tmp = want[i];
            want[i] = want[j];
            want[j] = tmp;
        }
        ck_assert_mem_eq(tg_batcher_order(b), want, sizeof want);
        tg_tensor *x;
        const int64_t *y;
        /* With two threads and a product just before (which wakes a worker that then polls
         * for a while), the conversion's tasks of 8 images (8 + 8 + 7) are usually shared:
         * epochs 1 and 2 run that way, epoch 0 on one thread. The values must not differ. */
        tg_set_threads(epoch == 0 ? 1 : 2);
        tg_tensor *m = tg_ones(t, TG_F32, TG_SHAPE(256, 256));
        ck_assert_ptr_nonnull(tg_matmul(t, m, m));
        ck_assert(tg_batcher_next(b, t, &x, &y));
        ck_assert_mem_eq(y, want, sizeof want);
        check_batch(d, x, y, 23, 0, 1);
        ck_assert(!tg_batcher_next(b, t, &x, &y));
        tg_tape_reset(t);
    }
    tg_set_threads(1);
    tg_tape_free(t);
    tg_batcher_free(b);
    tg_dataset_free(d);
}
END_TEST

/* Over 4800 epochs of 4 samples each of the 24 orders comes up about 200 times: a chi-square
 * statistic (23 degrees of freedom) far below 60 (p < 1e-4 for a fair shuffle to exceed it),
 * which a biased shuffle such as swapping with rng_below(n) every time fails. */
START_TEST(test_shuffle_is_uniform) {
    tg_dataset *d = make_set(4);
    tg_batcher_opts o = {.batch_size = 4, .shuffle = true, .seed = 5};
    tg_batcher *b = tg_batcher_new(d, &o, NULL);
    tg_tape *t = tg_tape_new();
    int counts[24] = {0};
    const int epochs = 4800;
    for (int e = 0; e < epochs; e++) {
        const int64_t *p = tg_batcher_order(b);
        /* Lehmer code of the permutation: a number in [0, 24). */
        int code = 0;
        for (int i = 0; i < 4; i++) {
            int smaller = 0;
            for (int j = i + 1; j < 4; j++) smaller += p[j] < p[i];
            code = code * (4 - i) + smaller;
        }
        counts[code]++;
        tg_tensor *x;
        const int64_t *y;
        ck_assert(tg_batcher_next(b, t, &x, &y));
        ck_assert(!tg_batcher_next(b, t, &x, &y));
        tg_tape_reset(t);
    }
    double chi2 = 0, expect = epochs / 24.0;
    for (int i = 0; i < 24; i++) chi2 += (counts[i] - expect) * (counts[i] - expect) / expect;
    ck_assert_msg(chi2 < 60, "chi-square %.1f over 24 orders", chi2);
    tg_tape_free(t);
    tg_batcher_free(b);
    tg_dataset_free(d);
}
END_TEST

/* Records `steps` calls of next (a false counts as one) as labels and pixel bits. */
typedef struct trace {
    int64_t labels[64];
    double pixels[64 * PIX];
    int64_t epochs[64];
    int n;
} trace;

static void run(tg_batcher *b, tg_tape *t, int steps, trace *tr) {
    memset(tr, 0, sizeof *tr);
    for (int s = 0; s < steps; s++) {
        tg_tensor *x;
        const int64_t *y;
        if (!tg_batcher_next(b, t, &x, &y)) {
            tr->labels[tr->n] = -1;
            tr->epochs[tr->n++] = tg_batcher_epoch(b);
            continue;
        }
        ck_assert_int_lt(tr->n + tg_tensor_dim(x, 0), 64);
        ck_assert_int_eq(tg_tensor_copy_out(x, TG_F64, tr->pixels + tr->n * PIX), TG_OK);
        for (int64_t i = 0; i < tg_tensor_dim(x, 0); i++) {
            tr->labels[tr->n] = y[i];
            tr->epochs[tr->n++] = tg_batcher_epoch(b);
        }
        tg_tape_reset(t);
    }
}

START_TEST(test_state_resume_bit_identical) {
    tg_dataset *d = make_set(11);
    tg_batcher_opts o = {.batch_size = 3, .shuffle = true, .seed = 99, .dtype = TG_F32};
    tg_tape *t = tg_tape_new();
    for (int cut = 0; cut < 12; cut++) {
        tg_batcher *a = tg_batcher_new(d, &o, NULL);
        trace before, rest, resumed;
        run(a, t, cut, &before);
        tg_batcher_state st;
        ck_assert_int_eq(tg_batcher_get_state(a, &st), TG_OK);
        char text[TG_BATCHER_STATE_CHARS];
        tg_batcher_state_format(&st, text);
        run(a, t, 10, &rest);

        /* A fresh batcher, put where `a` was through the text form. */
        o.seed = 1234; /* the seed no longer matters once a state is restored */
        tg_batcher *b = tg_batcher_new(d, &o, NULL);
        o.seed = 99;
        tg_batcher_state parsed;
        tg_error err = {0};
        ck_assert_msg(tg_batcher_state_parse(text, &parsed, &err) == TG_OK, "%s", err.message);
        ck_assert_mem_eq(&parsed.rng.state, &st.rng.state, sizeof st.rng.state);
        ck_assert_int_eq(tg_batcher_set_state(b, &parsed, &err), TG_OK);
        ck_assert_int_eq(tg_batcher_epoch(b), st.epoch);
        ck_assert_int_eq(tg_batcher_position(b), st.position);
        run(b, t, 10, &resumed);
        ck_assert_int_eq(rest.n, resumed.n);
        ck_assert_mem_eq(rest.labels, resumed.labels, (size_t)rest.n * sizeof rest.labels[0]);
        ck_assert_mem_eq(rest.epochs, resumed.epochs, (size_t)rest.n * sizeof rest.epochs[0]);
        ck_assert_mem_eq(rest.pixels, resumed.pixels, sizeof rest.pixels);
        tg_batcher_free(a);
        tg_batcher_free(b);
    }
    tg_tape_free(t);
    tg_dataset_free(d);
}
END_TEST

START_TEST(test_state_errors) {
    tg_dataset *d = make_set(10);
    tg_batcher_opts o = {.batch_size = 4, .shuffle = true, .seed = 3};
    tg_batcher *b = tg_batcher_new(d, &o, NULL);
    tg_batcher_state st;
    tg_batcher_get_state(b, &st);
    int64_t before[10];
    memcpy(before, tg_batcher_order(b), sizeof before);
    tg_error err = {0};
    tg_batcher_state bad = st;
    bad.position = 4; /* 3 batches per epoch: 3 is the last valid position */
    ck_assert_int_eq(tg_batcher_set_state(b, &bad, &err), TG_ERR_ARG);
    ck_assert_error(err, TG_ERR_ARG, "batch 4", "3 batches per epoch");
    bad = st;
    bad.epoch = -1;
    ck_assert_int_eq(tg_batcher_set_state(b, &bad, &err), TG_ERR_ARG);
    bad = st;
    bad.position = 3;
    bad.rng.state ^= 1;
    /* The failed calls left it alone; the good one moves it. */
    ck_assert_mem_eq(tg_batcher_order(b), before, sizeof before);
    ck_assert_int_eq(tg_batcher_set_state(b, &bad, &err), TG_OK);
    ck_assert_int_eq(tg_batcher_position(b), 3);

    const char *junk[] = {"",
                          "tgbatch1",
                          "tgbatch1 0 0 0 0 0",
                          "tgbatch1 0 0 0 0 0 0 ",
                          "tgbatch2 0 0 0 0 0 0",
                          "tgbatch1 -1 0 0 0 0 0",
                          "tgbatch1 0 0 0 0 2 0",
                          "tgbatch1 0 0 0x1 0 0 0",
                          "tgbatch1 0  0 0 0 0 0",
                          "tgbatch1 99999999999999999999 0 0 0 0 0"};
    for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++) {
        tg_batcher_state out = st;
        ck_assert_msg(tg_batcher_state_parse(junk[i], &out, &err) == TG_ERR_FORMAT, "accepted '%s'",
                      junk[i]);
        ck_assert_mem_eq(&out, &st, sizeof st);
    }
    ck_assert_int_eq(tg_batcher_state_parse(NULL, &st, &err), TG_ERR_NULL);
    tg_batcher_free(b);
    tg_dataset_free(d);
}
END_TEST

START_TEST(test_bad_options) {
    tg_dataset *d = make_set(5);
    tg_error err = {0};
    tg_batcher_opts o = {.batch_size = 0};
    ck_assert_ptr_null(tg_batcher_new(d, &o, &err));
    ck_assert_error(err, TG_ERR_ARG, "batch size 0");
    o = (tg_batcher_opts){.batch_size = 2, .dtype = (tg_dtype)7};
    ck_assert_ptr_null(tg_batcher_new(d, &o, &err));
    ck_assert_int_eq(err.status, TG_ERR_DTYPE);
    o = (tg_batcher_opts){.batch_size = 2, .normalize = true, .mean = 0.5, .std = 0};
    ck_assert_ptr_null(tg_batcher_new(d, &o, &err));
    ck_assert_error(err, TG_ERR_ARG, "positive std");
    o = (tg_batcher_opts){.batch_size = 6, .drop_last = true};
    ck_assert_ptr_null(tg_batcher_new(d, &o, &err));
    ck_assert_error(err, TG_ERR_ARG, "leaves no batch");
    ck_assert_ptr_null(tg_batcher_new(NULL, &o, &err));
    ck_assert_int_eq(err.status, TG_ERR_NULL);
    /* A batch larger than the set without drop_last is one short batch. */
    o = (tg_batcher_opts){.batch_size = 64};
    tg_batcher *b = tg_batcher_new(d, &o, &err);
    ck_assert_int_eq(tg_batcher_n_batches(b), 1);
    tg_tape *t = tg_tape_new();
    tg_tensor *x;
    const int64_t *y;
    ck_assert(tg_batcher_next(b, t, &x, &y));
    ck_assert_int_eq(tg_tensor_dim(x, 0), 5);
    ck_assert(!tg_batcher_next(NULL, t, &x, &y));
    ck_assert(!tg_batcher_next(b, NULL, &x, &y));
    tg_tape_free(t);
    tg_batcher_free(b);
    tg_batcher_free(NULL);
    tg_dataset_free(d);
}
END_TEST

/* A batch size near INT64_MAX: (n + size - 1) / size overflowed (UBSan) and gave a batcher of
 * 0 batches with no error. It is one short batch of the whole set, like any size above n. */
START_TEST(test_batch_size_int64_max) {
    tg_dataset *d = make_set(5);
    tg_error err = {0};
    const int64_t sizes[] = {INT64_MAX, INT64_MAX - 1, INT64_MAX / 2 + 1};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        tg_batcher_opts o = {.batch_size = sizes[i], .dtype = TG_F64};
        tg_batcher *b = tg_batcher_new(d, &o, &err);
        ck_assert_msg(b != NULL, "%s", err.message);
        ck_assert_int_eq(tg_batcher_n_batches(b), 1);
        tg_tape *t = tg_tape_new();
        tg_tensor *x;
        const int64_t *y;
        ck_assert(tg_batcher_next(b, t, &x, &y));
        ck_assert_int_eq(tg_tensor_dim(x, 0), 5);
        ck_assert(!tg_batcher_next(b, t, &x, &y));
        tg_tape_free(t);
        tg_batcher_free(b);
        /* With drop_last there is no full batch: refused, as for any size above n. */
        o.drop_last = true;
        ck_assert_ptr_null(tg_batcher_new(d, &o, &err));
        ck_assert_error(err, TG_ERR_ARG, "leaves no batch");
    }
    tg_dataset_free(d);
}
END_TEST

/* A tape that cannot hold the batch keeps the error and the batcher does not move on. */
START_TEST(test_tape_out_of_memory) {
    tg_dataset *d = make_set(6);
    tg_batcher_opts o = {.batch_size = 4, .dtype = TG_F64};
    tg_batcher *b = tg_batcher_new(d, &o, NULL);
    tg_tape *t = tg_tape_new();
    tg_tensor *x;
    const int64_t *y;
    tf_alloc_install(0, 0);
    bool got = tg_batcher_next(b, t, &x, &y);
    tf_alloc_remove();
    ck_assert(!got);
    ck_assert_ptr_null(x);
    ck_assert_int_eq(tg_tape_status(t), TG_ERR_NOMEM);
    ck_assert_int_eq(tg_batcher_position(b), 0);
    ck_assert_int_eq(tg_batcher_epoch(b), 0);
    tg_tape_reset(t);
    ck_assert(tg_batcher_next(b, t, &x, &y));
    ck_assert_int_eq(y[0], 0);
    tg_tape_free(t);
    tg_batcher_free(b);
    tg_dataset_free(d);
}
END_TEST

/* For every split of 1 to 5 shards (4 and 5 do not divide the batch of 7, nor the short last
 * batch of 4): shard after shard, the rows of each batch are exactly the unsplit batch's, in its
 * order, over three shuffled epochs; a state taken from a 2-way split at any batch resumes a
 * 3-way split there. */
START_TEST(test_shards_make_the_whole) {
    tg_dataset *d = make_set(25);
    tg_batcher_opts o = {.batch_size = 7, .shuffle = true, .seed = 5, .dtype = TG_F64};
    tg_tape *t = tg_tape_new();
    tg_batcher *whole = tg_batcher_new(d, &o, NULL);
    tg_tensor *x;
    const int64_t *y;
    int64_t want[128], nw = 0;
    for (int e = 0; e < 3; e++)
        while (tg_batcher_next(whole, t, &x, &y))
            for (int64_t i = 0; i < tg_tensor_dim(x, 0); i++) want[nw++] = y[i];
    ck_assert_int_eq(nw, 75);
    for (int n = 1; n <= 5; n++) {
        tg_batcher *parts[5];
        for (int r = 0; r < n; r++) {
            tg_batcher_opts po = o;
            po.n_shards = n;
            po.shard = r;
            parts[r] = tg_batcher_new(d, &po, NULL);
            ck_assert_ptr_nonnull(parts[r]);
        }
        int64_t k = 0;
        for (int e = 0; e < 3; e++)
            for (;;) {
                bool more = false;
                for (int r = 0; r < n; r++) {
                    bool got = tg_batcher_next(parts[r], t, &x, &y);
                    ck_assert(r == 0 || got == more);
                    more = got;
                    if (!got) continue;
                    check_batch(d, x, y, tg_tensor_dim(x, 0), 0, 1);
                    for (int64_t i = 0; i < tg_tensor_dim(x, 0); i++)
                        ck_assert_int_eq(y[i], want[k++]);
                }
                if (!more) break;
                tg_tape_reset(t);
            }
        ck_assert_int_eq(k, nw);
        for (int r = 0; r < n; r++) tg_batcher_free(parts[r]);
    }
    /* Saved by shard 1 of 2 after two batches, resumed by shard 2 of 3: the third batch's last
     * third. */
    tg_batcher_opts p2 = o, p3 = o;
    p2.n_shards = 2;
    p2.shard = 1;
    p3.n_shards = 3;
    p3.shard = 2;
    tg_batcher *a = tg_batcher_new(d, &p2, NULL), *b = tg_batcher_new(d, &p3, NULL);
    ck_assert(tg_batcher_next(a, t, &x, &y) && tg_batcher_next(a, t, &x, &y));
    tg_batcher_state st;
    ck_assert_int_eq(tg_batcher_get_state(a, &st), TG_OK);
    ck_assert_int_eq(tg_batcher_set_state(b, &st, NULL), TG_OK);
    ck_assert(tg_batcher_next(b, t, &x, &y));
    ck_assert_int_eq(tg_tensor_dim(x, 0), 3); /* rows 4..6 of 7 */
    for (int i = 0; i < 3; i++) ck_assert_int_eq(y[i], want[14 + 4 + i]);
    tg_batcher_free(a);
    tg_batcher_free(b);
    /* A shard outside the split is refused by name. */
    tg_error err = {0};
    p3.shard = 3;
    ck_assert_ptr_null(tg_batcher_new(d, &p3, &err));
    ck_assert_int_eq(err.status, TG_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(err.message, "shard 3 (span 1) of 3"));
    /* Parts 1 and 2 of 3 as one: rows 2..6 of the first batch of 7. */
    p3.shard = 1;
    p3.shard_span = 2;
    tg_batcher *c = tg_batcher_new(d, &p3, NULL);
    ck_assert(tg_batcher_next(c, t, &x, &y));
    ck_assert_int_eq(tg_tensor_dim(x, 0), 5);
    for (int i = 0; i < 5; i++) ck_assert_int_eq(y[i], want[2 + i]);
    tg_batcher_free(c);
    p3.shard_span = 3; /* parts 1..3 of 3: one too many */
    ck_assert_ptr_null(tg_batcher_new(d, &p3, &err));
    p3.shard_span = 0;
    p3.n_shards = -1;
    p3.shard = 0;
    ck_assert_ptr_null(tg_batcher_new(d, &p3, &err));
    tg_batcher_free(whole);
    tg_tape_free(t);
    tg_dataset_free(d);
}
END_TEST

int main(void) {
    Suite *s = suite_create("data_batch");
    TCase *tc = tcase_create("batch");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_in_order_f64);
    tcase_add_test(tc, test_flat_f32_normalised_drop_last);
    tcase_add_test(tc, test_f32_pixels_every_level);
    tcase_add_test(tc, test_shuffle_permutations);
    tcase_add_test(tc, test_shuffle_is_fisher_yates);
    tcase_add_test(tc, test_shuffle_is_uniform);
    tcase_add_test(tc, test_state_resume_bit_identical);
    tcase_add_test(tc, test_state_errors);
    tcase_add_test(tc, test_bad_options);
    tcase_add_test(tc, test_batch_size_int64_max);
    tcase_add_test(tc, test_tape_out_of_memory);
    tcase_add_test(tc, test_shards_make_the_whole);
    suite_add_tcase(s, tc);
    return tg_test_run(s);
}
