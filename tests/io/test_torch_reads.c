/* test_torch_reads.c: PyTorch reads tapegrad's checkpoint and gets the same tensors. The test
 * saves a store (f32 and f64, a scalar, an empty tensor, metadata), runs
 * tests/io/read_with_torch.py under /usr/bin/python3, and compares every value torch printed
 * (exact, as hex floats), every shape and dtype, and the metadata bytes with the store's.
 * Where `import torch` fails there it prints that it skipped and exits 77 (meson: SKIP). */
#include "../data/test_files.h"

#define PYTHON "/usr/bin/python3"
#define SCRIPT TG_TEST_SOURCE_DIR "/io/read_with_torch.py"

static bool has_torch(void) { return system(PYTHON " -c 'import torch' >/dev/null 2>&1") == 0; }

/* Splits line at spaces into at most max words (in place). */
static int words(char *line, char **w, int max) {
    int n = 0;
    for (char *tok = strtok(line, " \n"); tok && n < max; tok = strtok(NULL, " \n")) w[n++] = tok;
    return n;
}

START_TEST(test_torch_reads_our_file) {
    char *dir = tf_mkdtemp();
    const char *path = tf_path(dir, "model.safetensors");
    tg_store *s = tg_store_new();
    tg_rng r;
    tg_rng_seed(&r, 8);
    tg_tensor_fill_uniform(tg_store_param(s, "fc1.weight", TG_F32, TG_SHAPE(5, 3)), &r, -1, 1);
    tg_tensor_fill_normal(tg_store_param(s, "fc1.bias", TG_F32, TG_SHAPE(5)), &r, 0, 100);
    tg_tensor_fill_uniform(tg_store_param(s, "w64", TG_F64, TG_SHAPE(2, 2, 2)), &r, -1e-6, 1e6);
    tg_tensor_fill(tg_store_buffer(s, "opt.step", TG_F64, TG_SCALAR_SHAPE), 17);
    tg_store_buffer(s, "empty", TG_F32, TG_SHAPE(0, 4));
    ck_assert_int_eq(tg_store_status(s), TG_OK);
    tg_checkpoint_meta m;
    tg_checkpoint_meta_init(&m);
    m.step = 31337;
    tg_checkpoint_meta_set(&m, "note", "caf\xc3\xa9 \"x\"");
    tg_error err = {0};
    ck_assert_msg(tg_checkpoint_save(s, path, &m, &err) == TG_OK, "%s", err.message);

    char cmd[8192];
    snprintf(cmd, sizeof cmd, PYTHON " %s %s", SCRIPT, path);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    static char line[1 << 16];
    char *w[512];
    int n_tensors = 0, n_meta = 0;
    while (fgets(line, sizeof line, p)) {
        int n = words(line, w, 512);
        ck_assert_int_ge(n, 3);
        if (strcmp(w[0], "meta") == 0) {
            const char *want = NULL;
            char hex[600] = "";
            if (strcmp(w[1], "step") == 0) want = "31337";
            if (strcmp(w[1], "note") == 0) want = m.values[0];
            ck_assert_msg(want != NULL, "unexpected metadata %s", w[1]);
            for (size_t i = 0; want[i]; i++)
                snprintf(hex + 2 * i, 3, "%02x", (unsigned char)want[i]);
            ck_assert_str_eq(w[2], hex);
            n_meta++;
            continue;
        }
        ck_assert_str_eq(w[0], "tensor");
        const tg_tensor *x = tg_store_get_tensor(s, n_tensors);
        ck_assert_msg(x && strcmp(w[1], tg_tensor_name(x)) == 0, "tensor %d is %s", n_tensors,
                      w[1]);
        ck_assert_str_eq(w[2], tg_tensor_dtype(x) == TG_F32 ? "F32" : "F64");
        int ndim = atoi(w[3]);
        ck_assert_int_eq(ndim, tg_tensor_ndim(x));
        for (int d = 0; d < ndim; d++) ck_assert_int_eq(atoll(w[4 + d]), tg_tensor_dim(x, d));
        ck_assert_str_eq(w[4 + ndim], ":");
        int64_t numel = tg_tensor_numel(x);
        ck_assert_int_eq(n - 5 - ndim, numel);
        for (int64_t k = 0; k < numel; k++) {
            double got = strtod(w[5 + ndim + k], NULL);
            ck_assert_msg(got == tg_tensor_get(x, k), "%s[%lld]: torch %a, ours %a", w[1],
                          (long long)k, got, tg_tensor_get(x, k));
        }
        n_tensors++;
    }
    ck_assert_int_eq(pclose(p), 0);
    ck_assert_int_eq(n_tensors, tg_store_n_tensors(s));
    ck_assert_int_eq(n_meta, 2);
    tg_store_free(s);
    tf_rmdir(dir);
}
END_TEST

int main(void) {
    if (!has_torch()) {
        printf("skipped: " PYTHON " cannot import torch (apt-get install python3-torch)\n");
        return 77;
    }
    Suite *s = suite_create("io_torch");
    TCase *tc = tcase_create("torch");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_torch_reads_our_file);
    suite_add_tcase(s, tc);
    return tg_test_run(s);
}
