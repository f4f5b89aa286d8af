/* test_text.c: the character corpus: vocabulary sorted and unique, encode and decode as
 * inverses, random (B, T+1) windows that are real consecutive stretches of the corpus drawn
 * from every possible start, the size limit, and bad files and arguments. */
#include "test_files.h"

START_TEST(test_vocab_and_round_trip) {
    const char *s = "hello, world";
    tg_error err = {0};
    tg_text *x = tg_text_from_memory(s, (int64_t)strlen(s), &err);
    ck_assert_msg(x != NULL, "%s", err.message);
    ck_assert_int_eq(tg_text_length(x), 12);
    /* Distinct bytes, sorted: ' ' ',' 'd' 'e' 'h' 'l' 'o' 'r' 'w'. */
    const char vocab[] = " ,dehlorw";
    ck_assert_int_eq(tg_text_vocab_size(x), 9);
    for (int i = 0; i < 9; i++) {
        ck_assert_int_eq(tg_text_byte(x, i), (unsigned char)vocab[i]);
        ck_assert_int_eq(tg_text_id(x, (unsigned char)vocab[i]), i);
    }
    ck_assert_int_eq(tg_text_byte(x, 9), -1);
    ck_assert_int_eq(tg_text_byte(x, -1), -1);
    ck_assert_int_eq(tg_text_id(x, 'z'), -1);
    const int64_t *ids = tg_text_ids(x);
    ck_assert_int_eq(ids[0], 4);  /* h */
    ck_assert_int_eq(ids[5], 1);  /* , */
    ck_assert_int_eq(ids[11], 2); /* d */
    char out[13];
    ck_assert_int_eq(tg_text_decode(x, ids, 12, out, &err), TG_OK);
    ck_assert_str_eq(out, s);
    int64_t again[5];
    ck_assert_int_eq(tg_text_encode(x, "world", 5, again, &err), TG_OK);
    ck_assert_mem_eq(again, ids + 7, sizeof again);
    tg_text_free(x);
}
END_TEST

START_TEST(test_all_bytes) {
    char all[512];
    for (int i = 0; i < 512; i++) all[i] = (char)(255 - i % 256);
    tg_text *x = tg_text_from_memory(all, 512, NULL);
    ck_assert_int_eq(tg_text_vocab_size(x), 256);
    for (int i = 0; i < 512; i++) ck_assert_int_eq(tg_text_ids(x)[i], 255 - i % 256);
    char out[513];
    ck_assert_int_eq(tg_text_decode(x, tg_text_ids(x), 512, out, NULL), TG_OK);
    ck_assert_mem_eq(out, all, 512);
    tg_text_free(x);
}
END_TEST

START_TEST(test_encode_decode_errors) {
    tg_text *x = tg_text_from_memory("abcabc", 6, NULL);
    int64_t ids[4];
    tg_error err = {0};
    ck_assert_int_eq(tg_text_encode(x, "abxa", 4, ids, &err), TG_ERR_ARG);
    ck_assert_error(err, TG_ERR_ARG, "0x78", "position 2", "3 bytes");
    const int64_t bad[3] = {0, 3, 1};
    char out[4];
    ck_assert_int_eq(tg_text_decode(x, bad, 3, out, &err), TG_ERR_ARG);
    ck_assert_error(err, TG_ERR_ARG, "id 3 at position 1", "[0, 3)");
    ck_assert_int_eq(tg_text_decode(x, (const int64_t[]){-1}, 1, out, &err), TG_ERR_ARG);
    ck_assert_int_eq(tg_text_encode(NULL, "a", 1, ids, &err), TG_ERR_NULL);
    ck_assert_ptr_null(tg_text_from_memory("", 0, &err));
    ck_assert_error(err, TG_ERR_FORMAT, "empty");
    tg_text_free(x);
    tg_text_free(NULL);
}
END_TEST

/* With distinct letters as the corpus, id k+1 follows id k everywhere, so a window is a real
 * stretch exactly when its ids count up by one. Every start 0 .. n-T-1 must come up. */
START_TEST(test_windows) {
    const char *s = "abcdefghijklmnopqrstuvwxyz";
    tg_text *x = tg_text_from_memory(s, 26, NULL);
    enum { B = 400, T = 7 };
    static int64_t w[B * (T + 1)], w2[B * (T + 1)];
    tg_rng r, r2;
    tg_rng_seed(&r, 77);
    tg_rng_seed(&r2, 77);
    tg_error err = {0};
    ck_assert_int_eq(tg_text_windows(x, &r, B, T, w, &err), TG_OK);
    ck_assert_int_eq(tg_text_windows(x, &r2, B, T, w2, &err), TG_OK);
    ck_assert_mem_eq(w, w2, sizeof w);
    int starts[26] = {0};
    for (int b = 0; b < B; b++) {
        const int64_t *row = w + b * (T + 1);
        for (int j = 1; j <= T; j++) ck_assert_int_eq(row[j], row[j - 1] + 1);
        ck_assert_int_le(row[T], 25);
        starts[row[0]]++;
    }
    for (int k = 0; k <= 26 - (T + 1); k++) ck_assert_msg(starts[k] > 0, "start %d never drawn", k);
    /* The next draw from the same generator differs. */
    ck_assert_int_eq(tg_text_windows(x, &r, B, T, w2, &err), TG_OK);
    ck_assert(memcmp(w, w2, sizeof w) != 0);
    /* T + 1 equal to the length leaves one window; longer is an error. */
    ck_assert_int_eq(tg_text_windows(x, &r, 2, 25, w, &err), TG_OK);
    ck_assert_int_eq(w[0], 0);
    ck_assert_int_eq(w[26], 0);
    ck_assert_int_eq(tg_text_windows(x, &r, 1, 26, w, &err), TG_ERR_ARG);
    ck_assert_error(err, TG_ERR_ARG, "corpus of 26");
    ck_assert_int_eq(tg_text_windows(x, &r, 0, 3, w, &err), TG_ERR_ARG);
    ck_assert_int_eq(tg_text_windows(x, NULL, 1, 3, w, &err), TG_ERR_NULL);
    tg_text_free(x);
}
END_TEST

START_TEST(test_files_and_limit) {
    char *dir = tf_mkdtemp();
    const char *p = tf_path(dir, "corpus.txt");
    const char *body = "Q: why?\nA: because.\n";
    tf_write(p, body, strlen(body));
    tg_error err = {0};
    tg_text *x = tg_text_load(p, 0, &err);
    ck_assert_msg(x != NULL, "%s", err.message);
    ck_assert_int_eq(tg_text_length(x), (int64_t)strlen(body));
    char out[64];
    tg_text_decode(x, tg_text_ids(x), tg_text_length(x), out, &err);
    ck_assert_str_eq(out, body);
    tg_text_free(x);

    x = tg_text_load(p, 7, &err); /* "Q: why?" */
    ck_assert_int_eq(tg_text_length(x), 7);
    ck_assert_int_eq(tg_text_vocab_size(x), 7); /* Q : space w h y ? */
    tg_text_free(x);
    x = tg_text_load(p, 1000, &err);
    ck_assert_int_eq(tg_text_length(x), (int64_t)strlen(body));
    tg_text_free(x);

    ck_assert_ptr_null(tg_text_load(p, -1, &err));
    ck_assert_int_eq(err.status, TG_ERR_ARG);
    tf_write(tf_path(dir, "empty"), "", 0);
    ck_assert_ptr_null(tg_text_load(tf_path(dir, "empty"), 0, &err));
    ck_assert_error(err, TG_ERR_FORMAT, "empty", "empty");
    ck_assert_ptr_null(tg_text_load(dir, 0, &err));
    ck_assert_error(err, TG_ERR_IO, "directory");
    ck_assert_ptr_null(tg_text_load(tf_path(dir, "missing"), 0, &err));
    ck_assert_error(err, TG_ERR_IO, "missing", "No such file");
    tf_rmdir(dir);
}
END_TEST

START_TEST(test_out_of_memory) {
    char *dir = tf_mkdtemp();
    const char *p = tf_path(dir, "c");
    tf_write(p, "abcdefgh", 8);
    for (long k = 0; k < 3; k++) {
        tg_error err = {0};
        tf_alloc_install(k, 0);
        tg_text *x = tg_text_load(p, 0, &err);
        tf_alloc_remove();
        ck_assert_ptr_null(x);
        ck_assert_error(err, TG_ERR_NOMEM, "out of memory");
    }
    tf_rmdir(dir);
}
END_TEST

int main(void) {
    Suite *s = suite_create("data_text");
    TCase *tc = tcase_create("text");
    tcase_add_test(tc, test_vocab_and_round_trip);
    tcase_add_test(tc, test_all_bytes);
    tcase_add_test(tc, test_encode_decode_errors);
    tcase_add_test(tc, test_windows);
    tcase_add_test(tc, test_files_and_limit);
    tcase_add_test(tc, test_out_of_memory);
    suite_add_tcase(s, tc);
    return tg_test_run(s);
}
