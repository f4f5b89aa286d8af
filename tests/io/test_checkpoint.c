/* test_checkpoint.c: safetensors checkpoints: a bit-exact round trip of parameters and buffers
 * in f32 and f64 with metadata, the file's exact layout, strict and lenient name matching, a
 * file written by an independent writer (tools/write_safetensors_fixture.py), and robustness:
 * every truncation, random header corruption and a catalogue of hand-made bad headers fail
 * cleanly with the store unchanged; failed, out-of-memory and crashed saves leave the previous
 * checkpoint intact and no temporary file behind (except the crash's, as a real crash would);
 * a saving process killed from outside at arbitrary moments leaves one whole checkpoint. */
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

#include "../data/test_files.h"
#include "../fixture.h"
#include "io/io.h"

/* ---- stores ---- */

typedef struct spec {
    const char *name;
    tg_dtype dtype;
    int ndim;
    int64_t shape[4];
    bool param;
} spec;

static const spec LAYOUT[] = {
    {"conv1.weight", TG_F32, 4, {4, 1, 3, 3}, true},
    {"conv1.bias", TG_F32, 1, {4}, true},
    {"fc.weight", TG_F64, 2, {3, 5}, true},
    {"bn.running_mean", TG_F32, 1, {4}, false},
    {"adam.step", TG_F64, 0, {0}, false},
    {"adam.fc.weight.m", TG_F64, 2, {3, 5}, false},
    {"no.elements", TG_F32, 2, {0, 3}, false},
};
enum { N_LAYOUT = sizeof LAYOUT / sizeof LAYOUT[0] };

/* A store with the tensors of `layout` (n of them), uniform values from seed (0: all zero). */
static tg_store *store_from(const spec *layout, int n, uint64_t seed) {
    tg_store *s = tg_store_new();
    tg_rng r;
    tg_rng_seed(&r, seed);
    for (int i = 0; i < n; i++) {
        const spec *p = &layout[i];
        tg_tensor *x = p->param ? tg_store_param(s, p->name, p->dtype, p->ndim, p->shape)
                                : tg_store_buffer(s, p->name, p->dtype, p->ndim, p->shape);
        ck_assert_msg(x != NULL, "%s", tg_store_error(s));
        if (seed) tg_tensor_fill_uniform(x, &r, -3, 3);
    }
    return s;
}

static tg_store *make_store(uint64_t seed) { return store_from(LAYOUT, N_LAYOUT, seed); }

/* Every byte of every tensor of s, in order (malloc'ed), for exact comparisons. */
static unsigned char *store_bytes(const tg_store *s, size_t *n) {
    size_t total = 0;
    for (int i = 0; i < tg_store_n_tensors(s); i++) {
        const tg_tensor *x = tg_store_get_tensor(s, i);
        total += (size_t)tg_tensor_numel(x) * tg_dtype_size(tg_tensor_dtype(x));
    }
    unsigned char *buf = malloc(total + 1), *p = buf;
    ck_assert_ptr_nonnull(buf);
    for (int i = 0; i < tg_store_n_tensors(s); i++) {
        const tg_tensor *x = tg_store_get_tensor(s, i);
        size_t k = (size_t)tg_tensor_numel(x) * tg_dtype_size(tg_tensor_dtype(x));
        if (k) memcpy(p, tg_tensor_data(x), k);
        p += k;
    }
    *n = total;
    return buf;
}

static void assert_same_values(const tg_store *a, const tg_store *b) {
    size_t na, nb;
    unsigned char *x = store_bytes(a, &na), *y = store_bytes(b, &nb);
    ck_assert_uint_eq(na, nb);
    ck_assert_msg(memcmp(x, y, na) == 0, "tensor bytes differ");
    free(x);
    free(y);
}

/* ---- round trip and layout ---- */

START_TEST(test_round_trip) {
    char *dir = tf_mkdtemp();
    const char *path = tf_path(dir, "ck.safetensors");
    tg_store *a = make_store(7), *b = make_store(0);
    tg_checkpoint_meta m, got;
    tg_checkpoint_meta_init(&m);
    m.step = 123456789012;
    ck_assert_int_eq(tg_checkpoint_meta_set(&m, "model", "lenet"), TG_OK);
    ck_assert_int_eq(
        tg_checkpoint_meta_set(&m, "odd", "q\"b\\s\nl\tt\x01 caf\xc3\xa9 \xe2\x98\x95"), TG_OK);
    ck_assert_int_eq(tg_checkpoint_meta_set(&m, "batcher", "tgbatch1 2 5 00ff 0001 0 0000"), TG_OK);
    tg_error err = {0};
    ck_assert_msg(tg_checkpoint_save(a, path, &m, &err) == TG_OK, "%s", err.message);
    ck_assert_msg(tg_checkpoint_load(b, path, &got, &err) == TG_OK, "%s", err.message);
    assert_same_values(a, b);
    ck_assert_int_eq(got.step, 123456789012);
    ck_assert_int_eq(got.n, 3);
    ck_assert_str_eq(tg_checkpoint_meta_get(&got, "model"), "lenet");
    ck_assert_str_eq(tg_checkpoint_meta_get(&got, "odd"), m.values[1]);
    ck_assert_str_eq(tg_checkpoint_meta_get(&got, "batcher"), m.values[2]);
    ck_assert_ptr_null(tg_checkpoint_meta_get(&got, "step"));
    /* Saving again over it works (the rename replaces), and NULL meta means step 0. */
    ck_assert_int_eq(tg_checkpoint_save(b, path, NULL, &err), TG_OK);
    ck_assert_int_eq(tg_checkpoint_load(a, path, &got, &err), TG_OK);
    ck_assert_int_eq(got.step, 0);
    ck_assert_int_eq(got.n, 0);
    ck_assert_int_eq(tf_count_prefix(dir, "ck.safetensors.tmp"), 0);
    tg_store_free(a);
    tg_store_free(b);
    tf_rmdir(dir);
}
END_TEST

/* The bytes on disk follow the format exactly: length, aligned JSON, then each tensor's
 * little-endian data in creation order. */
START_TEST(test_file_layout) {
    char *dir = tf_mkdtemp();
    const char *path = tf_path(dir, "ck.safetensors");
    tg_store *a = make_store(3);
    tg_checkpoint_meta m;
    tg_checkpoint_meta_init(&m);
    m.step = 42;
    ck_assert_int_eq(tg_checkpoint_save(a, path, &m, NULL), TG_OK);
    size_t size;
    unsigned char *f = tf_read(path, &size);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = n << 8 | f[i];
    ck_assert_uint_eq((8 + n) % 8, 0);
    ck_assert_int_eq(f[8], '{');
    char *json = malloc(n + 1);
    memcpy(json, f + 8, n);
    json[n] = '\0';
    const char *want[] = {
        "{\"conv1.weight\":{\"dtype\":\"F32\",\"shape\":[4,1,3,3],\"data_offsets\":[0,144]},",
        "\"conv1.bias\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[144,160]}",
        "\"fc.weight\":{\"dtype\":\"F64\",\"shape\":[3,5],\"data_offsets\":[160,280]}",
        "\"adam.step\":{\"dtype\":\"F64\",\"shape\":[],\"data_offsets\":[296,304]}",
        "\"no.elements\":{\"dtype\":\"F32\",\"shape\":[0,3],\"data_offsets\":[424,424]}",
        "\"__metadata__\":{\"step\":\"42\"}}"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        ck_assert_msg(strstr(json, want[i]) != NULL, "header lacks %s:\n%s", want[i], json);
    /* Only spaces pad the end. */
    char *end = strstr(json, "}}") + 2;
    for (; *end; end++) ck_assert_int_eq(*end, ' ');
    ck_assert_uint_eq(size, 8 + n + 424);
    unsigned char *data = f + 8 + n;
    ck_assert_mem_eq(data, tg_tensor_data(tg_store_find(a, "conv1.weight")), 144);
    ck_assert_mem_eq(data + 160, tg_tensor_data(tg_store_find(a, "fc.weight")), 120);
    ck_assert_mem_eq(data + 296, tg_tensor_data(tg_store_find(a, "adam.step")), 8);
    /* Little-endian: the first f32 read byte by byte. */
    float w0 = ((const float *)tg_tensor_data(tg_store_find(a, "conv1.weight")))[0];
    uint32_t bits;
    memcpy(&bits, &w0, 4);
    ck_assert_uint_eq(data[0] | data[1] << 8 | data[2] << 16 | (uint32_t)data[3] << 24, bits);
    free(json);
    free(f);
    tg_store_free(a);
    tf_rmdir(dir);
}
END_TEST

/* ---- matching names, dtypes and shapes ---- */

/* Loads path into s and asserts failure with `st` and the message parts, s and *meta untouched. */
#define EXPECT_LOAD_FAILS(s, path, flags, st, ...)                                                 \
    do {                                                                                           \
        size_t n0_, n1_;                                                                           \
        unsigned char *before_ = store_bytes(s, &n0_);                                             \
        tg_checkpoint_meta m_, m0_;                                                                \
        memset(&m_, 0x5a, sizeof m_);                                                              \
        m0_ = m_;                                                                                  \
        tg_error e_ = {0};                                                                         \
        ck_assert_int_eq(tg_checkpoint_load_ex(s, path, flags, &m_, &e_), st);                     \
        ck_assert_error(e_, st, __VA_ARGS__);                                                      \
        unsigned char *after_ = store_bytes(s, &n1_);                                              \
        ck_assert_msg(n0_ == n1_ && memcmp(before_, after_, n0_) == 0, "store changed");           \
        ck_assert_msg(memcmp(&m_, &m0_, sizeof m_) == 0, "meta changed");                          \
        free(before_);                                                                             \
        free(after_);                                                                              \
    } while (0)

START_TEST(test_strict_matching) {
    char *dir = tf_mkdtemp();
    const char *path = tf_path(dir, "ck.safetensors");
    tg_store *a = make_store(5);
    ck_assert_int_eq(tg_checkpoint_save(a, path, NULL, NULL), TG_OK);

    /* The store lacks one of the file's tensors. */
    tg_store *fewer = store_from(LAYOUT, N_LAYOUT - 1, 9);
    EXPECT_LOAD_FAILS(fewer, path, 0, TG_ERR_ARG, "holds tensor 'no.elements'", "store lacks");
    /* The file lacks one of the store's. */
    spec more[N_LAYOUT + 1];
    memcpy(more, LAYOUT, sizeof LAYOUT);
    more[N_LAYOUT] = (spec){"extra.bias", TG_F32, 1, {2}, true};
    tg_store *bigger = store_from(more, N_LAYOUT + 1, 9);
    EXPECT_LOAD_FAILS(bigger, path, 0, TG_ERR_ARG, "lacks tensor 'extra.bias'");
    /* A dtype and a shape that differ. */
    spec other[N_LAYOUT];
    memcpy(other, LAYOUT, sizeof LAYOUT);
    other[2].dtype = TG_F32;
    tg_store *dt = store_from(other, N_LAYOUT, 9);
    EXPECT_LOAD_FAILS(dt, path, 0, TG_ERR_DTYPE, "'fc.weight'", "F64 in the file but F32");
    memcpy(other, LAYOUT, sizeof LAYOUT);
    other[0].shape[1] = 2;
    tg_store *sh = store_from(other, N_LAYOUT, 9);
    EXPECT_LOAD_FAILS(sh, path, 0, TG_ERR_SHAPE, "'conv1.weight'", "(4, 1, 3, 3) in the file",
                      "(4, 2, 3, 3) in the store");
    /* Relaxed matching loads what matches and keeps the rest. */
    tg_error err = {0};
    ck_assert_int_eq(tg_checkpoint_load_ex(fewer, path, TG_CHECKPOINT_ALLOW_EXTRA, NULL, &err),
                     TG_OK);
    ck_assert_int_eq(tg_checkpoint_load_ex(bigger, path, TG_CHECKPOINT_ALLOW_MISSING, NULL, &err),
                     TG_OK);
    for (int i = 0; i < N_LAYOUT; i++) {
        const tg_tensor *x = tg_store_get_tensor(a, i);
        size_t k = (size_t)tg_tensor_numel(x) * tg_dtype_size(tg_tensor_dtype(x));
        if (i < N_LAYOUT - 1)
            ck_assert_mem_eq(tg_tensor_data(tg_store_find(fewer, tg_tensor_name(x))),
                             tg_tensor_data(x), k);
        ck_assert_mem_eq(tg_tensor_data(tg_store_find(bigger, tg_tensor_name(x))),
                         tg_tensor_data(x), k);
    }
    /* extra.bias kept its own values (seed 9), which are not zero. */
    ck_assert(tg_tensor_get(tg_store_find(bigger, "extra.bias"), 0) != 0);
    /* Relaxing names does not relax dtypes. */
    EXPECT_LOAD_FAILS(dt, path, TG_CHECKPOINT_ALLOW_EXTRA | TG_CHECKPOINT_ALLOW_MISSING,
                      TG_ERR_DTYPE, "fc.weight");
    tg_store_free(a);
    tg_store_free(fewer);
    tg_store_free(bigger);
    tg_store_free(dt);
    tg_store_free(sh);
    tf_rmdir(dir);
}
END_TEST

/* ---- a file from another writer ---- */

START_TEST(test_independent_writer_fixture) {
    static const spec layout[] = {
        {"layer.weight", TG_F32, 2, {3, 4}, true},
        {"layer.bias", TG_F32, 1, {4}, true},
        {"bn.running_var", TG_F64, 3, {2, 2, 2}, false},
        {"z.step_count", TG_F64, 0, {0}, false},
        {"empty", TG_F32, 2, {0, 3}, false},
    };
    tg_store *s = store_from(layout, 5, 0);
    tg_checkpoint_meta m;
    tg_error err = {0};
    ck_assert_msg(tg_checkpoint_load(s, TG_TEST_SOURCE_DIR "/fixtures/io_pywriter.safetensors", &m,
                                     &err) == TG_OK,
                  "%s", err.message);
    fixture f;
    ck_assert_msg(fixture_load(&f, "io_pywriter"), "%s", f.error);
    ck_assert_int_eq(f.n, 4);
    for (int i = 0; i < f.n; i++) {
        const fixture_tensor *e = &f.tensors[i];
        const tg_tensor *x = tg_store_find(s, e->name);
        ck_assert_msg(x != NULL, "no %s", e->name);
        ck_assert_int_eq(tg_tensor_numel(x), e->numel);
        for (int64_t k = 0; k < e->numel; k++)
            ck_assert_msg(tg_tensor_get(x, k) == e->values[k], "%s[%lld] = %.17g, want %.17g",
                          e->name, (long long)k, tg_tensor_get(x, k), e->values[k]);
    }
    ck_assert_int_eq(m.step, 1234);
    ck_assert_int_eq(m.n, 2);
    ck_assert_str_eq(tg_checkpoint_meta_get(&m, "note"),
                     "caf\xc3\xa9 \"quoted\" back\\slash\nnew line\ttab");
    ck_assert_str_eq(tg_checkpoint_meta_get(&m, "emoji"), "\xf0\x9f\x98\x80");
    fixture_free(&f);
    tg_store_free(s);
}
END_TEST

/* ---- corrupt files ---- */

START_TEST(test_every_truncation) {
    char *dir = tf_mkdtemp();
    const char *path = tf_path(dir, "ck.safetensors"), *cut = tf_path(dir, "cut");
    tg_store *a = make_store(11), *b = make_store(0);
    ck_assert_int_eq(tg_checkpoint_save(a, path, NULL, NULL), TG_OK);
    size_t size;
    unsigned char *f = tf_read(path, &size);
    for (size_t len = 0; len < size; len++) {
        tf_write(cut, f, len);
        tg_error err = {0};
        ck_assert_msg(tg_checkpoint_load(b, cut, NULL, &err) == TG_ERR_FORMAT, "length %zu: %s",
                      len, err.message);
        ck_assert_msg(strstr(err.message, cut) != NULL, "%s", err.message);
    }
    size_t n;
    unsigned char *bytes = store_bytes(b, &n);
    for (size_t i = 0; i < n; i++) ck_assert_int_eq(bytes[i], 0);
    free(bytes);
    free(f);
    tg_store_free(a);
    tg_store_free(b);
    tf_rmdir(dir);
}
END_TEST

/* Random changes of 1 to 3 bytes anywhere in the length field or the header: the load either
 * fails with a clean status and the store untouched, or succeeds (a change inside a metadata
 * value) with exactly the saved tensors. ASan/UBSan runs see any stray read. */
START_TEST(test_random_header_corruption) {
    char *dir = tf_mkdtemp();
    const char *path = tf_path(dir, "ck.safetensors"), *bad = tf_path(dir, "bad");
    tg_store *a = make_store(13), *b = make_store(0);
    tg_checkpoint_meta m;
    tg_checkpoint_meta_init(&m);
    tg_checkpoint_meta_set(&m, "note", "some text that may change");
    ck_assert_int_eq(tg_checkpoint_save(a, path, &m, NULL), TG_OK);
    size_t size, zn;
    unsigned char *f = tf_read(path, &size), *copy = malloc(size);
    unsigned char *zeros = store_bytes(b, &zn);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = n << 8 | f[i];
    tg_rng r;
    tg_rng_seed(&r, 2025);
    int n_ok = 0, n_fail = 0;
    for (int trial = 0; trial < 3000; trial++) {
        memcpy(copy, f, size);
        int flips = 1 + (int)tg_rng_below(&r, 3);
        for (int k = 0; k < flips; k++)
            copy[tg_rng_below(&r, 8 + n)] ^= (unsigned char)(1 + tg_rng_below(&r, 255));
        tf_write(bad, copy, size);
        tg_error err = {0};
        tg_status st = tg_checkpoint_load(b, bad, NULL, &err);
        size_t bn;
        unsigned char *now = store_bytes(b, &bn);
        if (st == TG_OK) {
            n_ok++;
            assert_same_values(a, b);
            /* Back to zeros for the next trial. */
            for (int i = 0; i < tg_store_n_tensors(b); i++)
                tg_tensor_fill(tg_store_get_tensor(b, i), 0);
        } else {
            n_fail++;
            ck_assert_msg(st == TG_ERR_FORMAT || st == TG_ERR_ARG || st == TG_ERR_DTYPE ||
                              st == TG_ERR_SHAPE,
                          "status %s: %s", tg_status_string(st), err.message);
            ck_assert_msg(err.message[0] != '\0', "no message");
            ck_assert_msg(memcmp(now, zeros, zn) == 0, "store changed by a failed load");
        }
        free(now);
    }
    ck_assert_int_gt(n_fail, 2500);
    free(zeros);
    free(copy);
    free(f);
    tg_store_free(a);
    tg_store_free(b);
    tf_rmdir(dir);
}
END_TEST

/* A file made by hand: the 8-byte length, json padded with spaces to 8, then n_data bytes. */
static void write_st(const char *path, const char *json, size_t n_data) {
    size_t len = strlen(json), padded = (len + 7) / 8 * 8;
    unsigned char *buf = calloc(8 + padded + n_data + 1, 1);
    for (int i = 0; i < 8; i++) buf[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    memcpy(buf + 8, json, len);
    memset(buf + 8 + len, ' ', padded - len);
    for (size_t i = 0; i < n_data; i++) buf[8 + padded + i] = (unsigned char)(i + 1);
    tf_write(path, buf, 8 + padded + n_data);
    free(buf);
}

#define A_ENTRY(dtype, shape, offsets)                                                             \
    "\"a\":{\"dtype\":\"" dtype "\",\"shape\":" shape ",\"data_offsets\":" offsets "}"

START_TEST(test_bad_headers) {
    char *dir = tf_mkdtemp();
    const char *p = tf_path(dir, "f");
    static const spec one[] = {{"a", TG_F32, 1, {2}, true}};
    tg_store *s = store_from(one, 1, 4);
    tg_error err = {0};
    /* The well-formed file these variations break. */
    write_st(p, "{" A_ENTRY("F32", "[2]", "[0,8]") "}", 8);
    ck_assert_msg(tg_checkpoint_load(s, p, NULL, &err) == TG_OK, "%s", err.message);
    ck_assert_int_eq(tg_tensor_get(tg_store_find(s, "a"), 0) != 0, 1);

    static const struct {
        const char *json;
        size_t n_data;
        tg_status st;
        const char *says;
    } cases[] = {
        {"{" A_ENTRY("F32", "[2]", "[0,8]") "}", 12, TG_ERR_FORMAT, "holds 12 bytes of data"},
        {"{" A_ENTRY("F32", "[2]", "[0,4]") "}", 4, TG_ERR_FORMAT, "do not hold 8 bytes"},
        {"{" A_ENTRY("F32", "[2]", "[8,0]") "}", 8, TG_ERR_FORMAT, "data_offsets [8, 0]"},
        {"{" A_ENTRY("F32", "[2]", "[0,8]") "}", 4, TG_ERR_FORMAT, "within the 4 bytes"},
        {"{" A_ENTRY("F32", "[2]", "[4,12]") "}", 12, TG_ERR_FORMAT, "a gap"},
        {"{" A_ENTRY("F32", "[2]", "[0,8]") ",\"b\":{\"dtype\":\"F32\",\"shape\":[2],"
                                            "\"data_offsets\":[4,12]}}",
         12, TG_ERR_FORMAT, "an overlap"},
        {"{" A_ENTRY("F32", "[2]", "[0,8]") "," A_ENTRY("F32", "[2]", "[8,16]") "}", 16,
         TG_ERR_FORMAT, "'a' appears twice"},
        {"{" A_ENTRY("F99", "[2]", "[0,8]") "}", 8, TG_ERR_FORMAT, "unknown dtype"},
        {"{" A_ENTRY("F16", "[2]", "[0,4]") "}", 4, TG_ERR_DTYPE, "F16 in the file but F32"},
        {"{" A_ENTRY("F32", "[1,2]", "[0,8]") "}", 8, TG_ERR_SHAPE, "(1, 2) in the file"},
        {"{" A_ENTRY("F32", "[4294967296,4294967296,4294967296]", "[0,8]") "}", 8, TG_ERR_FORMAT,
         "more elements than fit"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8, TG_ERR_FORMAT, "lacks dtype"},
        {"{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
         TG_ERR_FORMAT, "repeated field"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"x\":1}}", 8,
         TG_ERR_FORMAT, "unknown field"},
        {"{\"a\":{}}", 0, TG_ERR_FORMAT, "without fields"},
        {"{\"a\":[1]}", 0, TG_ERR_FORMAT, "expected '{'"},
        {"{" A_ENTRY("F32", "[2]", "[0,8]") "}x", 8, TG_ERR_FORMAT, "unexpected bytes after"},
        {"{" A_ENTRY("F32", "[2]", "[0,8]") "", 8, TG_ERR_FORMAT, "expected '}'"},
        {" {" A_ENTRY("F32", "[2]", "[0,8]") "}", 8, TG_ERR_FORMAT, "does not start with"},
        {"{" A_ENTRY("F32", "[2]", "[00,8]") "}", 8, TG_ERR_FORMAT, "leading zero"},
        {"{" A_ENTRY("F32", "[2]", "[-0,8]") "}", 8, TG_ERR_FORMAT, "non-negative integer"},
        {"{" A_ENTRY("F32", "[2]", "[0,8.0]") "}", 8, TG_ERR_FORMAT, "fraction or exponent"},
        {"{" A_ENTRY("F32", "[2]", "[0,99999999999999999999]") "}", 8, TG_ERR_FORMAT,
         "integer too large"},
        {"{" A_ENTRY("F32", "[2,]", "[0,8]") "}", 8, TG_ERR_FORMAT, "non-negative integer"},
        {"{" A_ENTRY("F32", "[1,1,1,1,1,1,1,1,2]", "[0,8]") "}", 8, TG_ERR_FORMAT,
         "more dimensions"},
        {"{\"a\\ud800\":{}}", 0, TG_ERR_FORMAT, "unpaired high surrogate"},
        {"{\"a\\udc00\":{}}", 0, TG_ERR_FORMAT, "unpaired low surrogate"},
        {"{\"a\\u00\":{}}", 0, TG_ERR_FORMAT, "bad hex digit"},
        {"{\"a\\q\":{}}", 0, TG_ERR_FORMAT, "unknown escape"},
        {"{\"a\\u0000\":{}}", 0, TG_ERR_FORMAT, "NUL character"},
        {"{\"a\x01\":{}}", 0, TG_ERR_FORMAT, "raw control character"},
        {"{\"a\xff\":{}}", 0, TG_ERR_FORMAT, "not UTF-8"},
        {"{\"a\xc0\x80\":{}}", 0, TG_ERR_FORMAT, "not UTF-8"},
        {"{\"a", 0, TG_ERR_FORMAT, "unterminated string"},
        {"{" A_ENTRY("F32", "[2]", "[0,8]") ",\"__metadata__\":{\"k\":1}}", 8, TG_ERR_FORMAT,
         "expected '\"'"},
        {"{" A_ENTRY("F32", "[2]", "[0,8]") ",\"__metadata__\":{\"step\":\"12a\"}}", 8,
         TG_ERR_FORMAT, "\"step\" is not a count"},
        {"{" A_ENTRY("F32", "[2]", "[0,8]") ",\"__metadata__\":{\"step\":\"-1\"}}", 8,
         TG_ERR_FORMAT, "\"step\" is not a count"},
        {"{" A_ENTRY("F32", "[2]", "[0,8]") ",\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}}", 8,
         TG_ERR_FORMAT, "repeated metadata key"},
        {"{" A_ENTRY("F32", "[2]", "[0,8]") ",\"__metadata__\":{},\"__metadata__\":{}}", 8,
         TG_ERR_FORMAT, "repeated \"__metadata__\""},
        {"{}", 0, TG_ERR_ARG, "lacks tensor 'a'"},
        {"{}", 8, TG_ERR_FORMAT, "no tensors"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_st(p, cases[i].json, cases[i].n_data);
        size_t n0, n1;
        unsigned char *before = store_bytes(s, &n0);
        tg_status st = tg_checkpoint_load(s, p, NULL, &err);
        ck_assert_msg(st == cases[i].st && strstr(err.message, cases[i].says),
                      "case %zu (%s): %s: %s", i, cases[i].json, tg_status_string(st), err.message);
        unsigned char *after = store_bytes(s, &n1);
        ck_assert_msg(memcmp(before, after, n0) == 0, "case %zu changed the store", i);
        free(before);
        free(after);
    }
    tg_store_free(s);
    tf_rmdir(dir);
}
END_TEST

/* The 8-byte length field against the file's size. */
START_TEST(test_bad_length_field) {
    char *dir = tf_mkdtemp();
    const char *p = tf_path(dir, "f");
    static const spec one[] = {{"a", TG_F32, 1, {2}, true}};
    tg_store *s = store_from(one, 1, 0);
    const char *json = "{" A_ENTRY("F32", "[2]", "[0,8]") "}";
    write_st(p, json, 8);
    size_t size;
    unsigned char *good = tf_read(p, &size);
    const uint64_t lengths[] = {
        0, 1, size - 7, size, UINT64_C(1) << 40, UINT64_MAX, UINT64_C(1) << 63};
    tg_error err = {0};
    for (size_t i = 0; i < sizeof lengths / sizeof lengths[0]; i++) {
        for (int b = 0; b < 8; b++) good[b] = (unsigned char)(lengths[i] >> (8 * b));
        tf_write(p, good, size);
        ck_assert_int_eq(tg_checkpoint_load(s, p, NULL, &err), TG_ERR_FORMAT);
        ck_assert_error(err, TG_ERR_FORMAT, "header length", "out of bounds", p);
    }
    tf_write(p, good, 5);
    ck_assert_int_eq(tg_checkpoint_load(s, p, NULL, &err), TG_ERR_FORMAT);
    ck_assert_error(err, TG_ERR_FORMAT, "is 5 bytes", "8-byte header length");
    ck_assert_int_eq(tg_checkpoint_load(s, dir, NULL, &err), TG_ERR_IO);
    ck_assert_error(err, TG_ERR_IO, "directory");
    ck_assert_int_eq(tg_checkpoint_load(s, tf_path(dir, "none"), NULL, &err), TG_ERR_IO);
    ck_assert_error(err, TG_ERR_IO, "No such file");
    ck_assert_int_eq(tg_checkpoint_load(NULL, p, NULL, &err), TG_ERR_NULL);
    free(good);
    tg_store_free(s);
    tf_rmdir(dir);
}
END_TEST

/* ---- saving that fails ---- */

static int64_t fail_at;
static bool fail_past(int64_t written, size_t size, void *user) {
    (void)user;
    return written + (int64_t)size <= fail_at;
}

START_TEST(test_failed_write_keeps_old_file) {
    char *dir = tf_mkdtemp();
    const char *path = tf_path(dir, "ck.safetensors");
    tg_store *a = make_store(21), *b = make_store(22), *c = make_store(0);
    ck_assert_int_eq(tg_checkpoint_save(a, path, NULL, NULL), TG_OK);
    size_t size;
    unsigned char *old = tf_read(path, &size);
    const int64_t points[] = {0, 4, 8, 100, (int64_t)size / 2, (int64_t)size - 1};
    for (size_t i = 0; i < sizeof points / sizeof points[0]; i++) {
        fail_at = points[i];
        tg_io_set_write_hook(fail_past, NULL);
        tg_error err = {0};
        tg_status st = tg_checkpoint_save(b, path, NULL, &err);
        tg_io_set_write_hook(NULL, NULL);
        ck_assert_int_eq(st, TG_ERR_IO);
        ck_assert_error(err, TG_ERR_IO, "writing", "ck.safetensors.tmp.", "Input/output error");
        size_t now_size;
        unsigned char *now = tf_read(path, &now_size);
        ck_assert_uint_eq(now_size, size);
        ck_assert_msg(memcmp(now, old, size) == 0, "the old checkpoint changed");
        free(now);
        ck_assert_int_eq(tf_count_prefix(dir, "ck.safetensors.tmp"), 0);
        ck_assert_int_eq(tg_checkpoint_load(c, path, NULL, &err), TG_OK);
        assert_same_values(a, c);
    }
    /* With the fault gone the new values land. */
    ck_assert_int_eq(tg_checkpoint_save(b, path, NULL, NULL), TG_OK);
    ck_assert_int_eq(tg_checkpoint_load(c, path, NULL, NULL), TG_OK);
    assert_same_values(b, c);
    /* Saving into a folder that does not exist fails cleanly too. */
    tg_error err = {0};
    ck_assert_int_eq(tg_checkpoint_save(b, tf_path(dir, "no/such/dir/ck"), NULL, &err), TG_ERR_IO);
    ck_assert_error(err, TG_ERR_IO, "cannot create", "no/such/dir/ck.tmp.");
    free(old);
    tg_store_free(a);
    tg_store_free(b);
    tg_store_free(c);
    tf_rmdir(dir);
}
END_TEST

START_TEST(test_out_of_memory_save_and_load) {
    char *dir = tf_mkdtemp();
    const char *path = tf_path(dir, "ck.safetensors");
    tg_store *a = make_store(31), *b = make_store(32), *c = make_store(0);
    ck_assert_int_eq(tg_checkpoint_save(a, path, NULL, NULL), TG_OK);
    size_t size;
    unsigned char *old = tf_read(path, &size);
    for (long k = 0; k < 4; k++) {
        tg_error err = {0};
        tf_alloc_install(k, 0);
        tg_status st = tg_checkpoint_save(b, path, NULL, &err);
        long calls = tf_alloc_st.calls;
        tf_alloc_remove();
        if (st == TG_OK) {
            ck_assert_int_le(calls, k);
            break;
        }
        ck_assert_error(err, TG_ERR_NOMEM, "out of memory");
        size_t n;
        unsigned char *now = tf_read(path, &n);
        ck_assert_msg(n == size && memcmp(now, old, size) == 0, "the old checkpoint changed");
        free(now);
        ck_assert_int_eq(tf_count_prefix(dir, "ck.safetensors.tmp"), 0);
    }
    /* Loading: any allocation failing leaves the store as it was. */
    ck_assert_int_eq(tg_checkpoint_save(a, path, NULL, NULL), TG_OK);
    bool loaded = false;
    for (long k = 0; k < 16 && !loaded; k++) {
        tg_error err = {0};
        tf_alloc_install(k, 0);
        tg_status st = tg_checkpoint_load(c, path, NULL, &err);
        tf_alloc_remove();
        size_t n;
        unsigned char *now = store_bytes(c, &n);
        if (st == TG_OK) {
            loaded = true;
            assert_same_values(a, c);
        } else {
            ck_assert_error(err, TG_ERR_NOMEM, "out of memory");
            for (size_t i = 0; i < n; i++) ck_assert_int_eq(now[i], 0);
        }
        free(now);
    }
    ck_assert(loaded);
    free(old);
    tg_store_free(a);
    tg_store_free(b);
    tg_store_free(c);
    tf_rmdir(dir);
}
END_TEST

/* A process killed in the middle of a save: the previous checkpoint survives whole. */
static bool die_halfway(int64_t written, size_t size, void *user) {
    (void)size;
    if (written >= *(const int64_t *)user) _exit(3);
    return true;
}

START_TEST(test_crash_during_save) {
    char *dir = tf_mkdtemp();
    const char *path = tf_path(dir, "ck.safetensors");
    tg_store *a = make_store(41), *b = make_store(42), *c = make_store(0);
    ck_assert_int_eq(tg_checkpoint_save(a, path, NULL, NULL), TG_OK);
    size_t size;
    unsigned char *old = tf_read(path, &size);
    static int64_t half;
    half = (int64_t)size / 2;
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        tg_io_set_write_hook(die_halfway, &half);
        tg_checkpoint_save(b, path, NULL, NULL);
        _exit(0); /* not reached: the hook ends the process first */
    }
    int status = 0;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 3);
    size_t n;
    unsigned char *now = tf_read(path, &n);
    ck_assert_msg(n == size && memcmp(now, old, size) == 0, "the old checkpoint changed");
    free(now);
    ck_assert_int_eq(tg_checkpoint_load(c, path, NULL, NULL), TG_OK);
    assert_same_values(a, c);
    /* The dead process's partial file has its own name and never was the checkpoint. */
    char tmp[64];
    snprintf(tmp, sizeof tmp, "ck.safetensors.tmp.%ld.", (long)pid);
    ck_assert_int_eq(tf_count_prefix(dir, tmp), 1);
    free(old);
    tg_store_free(a);
    tg_store_free(b);
    tg_store_free(c);
    tf_rmdir(dir);
}
END_TEST

/* Kills from outside at moments the save does not choose: a child saves two different stores
 * to one path, in turn, for ever; the parent sends SIGKILL after a delay drawn from a fixed
 * sequence (0 to 3 ms, so kills land while writing, syncing, renaming and between saves). After
 * every kill the file at the path must load, and hold exactly one of the two stores. */
enum { N_KILLS = 48 };

START_TEST(test_killed_during_saves) {
    char *dir = tf_mkdtemp();
    const char *path = tf_path(dir, "ck.safetensors");
    tg_store *a = make_store(51), *b = make_store(52), *c = make_store(0);
    size_t na, nb;
    unsigned char *bytes_a = store_bytes(a, &na), *bytes_b = store_bytes(b, &nb);
    ck_assert_int_eq(tg_checkpoint_save(a, path, NULL, NULL), TG_OK);
    uint64_t draw = 12345;
    int saw_a = 0, saw_b = 0;
    for (int k = 0; k < N_KILLS; k++) {
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
            for (;;) {
                tg_checkpoint_save(b, path, NULL, NULL);
                tg_checkpoint_save(a, path, NULL, NULL);
            }
        }
        draw = draw * 6364136223846793005ull + 1442695040888963407ull;
        struct timespec pause = {0, (long)((draw >> 33) % 3000000)};
        nanosleep(&pause, NULL);
        ck_assert_int_eq(kill(pid, SIGKILL), 0);
        int status = 0;
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
        tg_error err = {0};
        ck_assert_msg(tg_checkpoint_load(c, path, NULL, &err) == TG_OK,
                      "kill %d: the checkpoint does not load: %s", k, err.message);
        size_t nc;
        unsigned char *bytes_c = store_bytes(c, &nc);
        bool is_a = nc == na && memcmp(bytes_c, bytes_a, na) == 0;
        bool is_b = nc == nb && memcmp(bytes_c, bytes_b, nb) == 0;
        ck_assert_msg(is_a || is_b, "kill %d: the checkpoint holds neither store", k);
        saw_a += is_a;
        saw_b += is_b;
        free(bytes_c);
    }
    /* Both outcomes occur, so the kills did land inside the save loop, not before it. */
    ck_assert_msg(saw_a > 0 && saw_b > 0, "only one store seen: %d a, %d b", saw_a, saw_b);
    free(bytes_a);
    free(bytes_b);
    tg_store_free(a);
    tg_store_free(b);
    tg_store_free(c);
    tf_rmdir(dir);
}
END_TEST

/* ---- arguments and metadata ---- */

START_TEST(test_save_arguments_and_meta) {
    char *dir = tf_mkdtemp();
    tg_error err = {0};
    tg_store *s = tg_store_new();
    tg_store_param(s, "__metadata__", TG_F32, TG_SHAPE(1));
    ck_assert_int_eq(tg_checkpoint_save(s, tf_path(dir, "x"), NULL, &err), TG_ERR_ARG);
    ck_assert_error(err, TG_ERR_ARG, "__metadata__");
    ck_assert(!tf_exists(tf_path(dir, "x")));
    tg_store_free(s);
    s = make_store(1);
    ck_assert_int_eq(tg_checkpoint_save(NULL, tf_path(dir, "x"), NULL, &err), TG_ERR_NULL);
    ck_assert_int_eq(tg_checkpoint_save(s, NULL, NULL, &err), TG_ERR_NULL);
    ck_assert_int_eq(tg_checkpoint_save(s, "", NULL, &err), TG_ERR_NULL);
    tg_checkpoint_meta m;
    tg_checkpoint_meta_init(&m);
    m.step = -5;
    ck_assert_int_eq(tg_checkpoint_save(s, tf_path(dir, "x"), &m, &err), TG_ERR_ARG);
    ck_assert_error(err, TG_ERR_ARG, "negative step");
    m.step = 0;
    ck_assert_int_eq(tg_checkpoint_meta_set(&m, "k", "\xff"), TG_OK);
    ck_assert_int_eq(tg_checkpoint_save(s, tf_path(dir, "x"), &m, &err), TG_ERR_ARG);
    ck_assert_error(err, TG_ERR_ARG, "not UTF-8");
    ck_assert(!tf_exists(tf_path(dir, "x")));

    tg_checkpoint_meta_init(&m);
    ck_assert_int_eq(tg_checkpoint_meta_set(&m, "step", "1"), TG_ERR_ARG);
    ck_assert_int_eq(tg_checkpoint_meta_set(&m, "", "1"), TG_ERR_ARG);
    char long_value[TG_CHECKPOINT_VALUE_MAX + 1];
    memset(long_value, 'v', sizeof long_value - 1);
    long_value[TG_CHECKPOINT_VALUE_MAX] = '\0';
    ck_assert_int_eq(tg_checkpoint_meta_set(&m, "k", long_value), TG_ERR_ARG);
    long_value[TG_CHECKPOINT_VALUE_MAX - 1] = '\0';
    ck_assert_int_eq(tg_checkpoint_meta_set(&m, "k", long_value), TG_OK);
    ck_assert_int_eq(tg_checkpoint_meta_set(&m, "k", "short"), TG_OK);
    ck_assert_int_eq(m.n, 1);
    ck_assert_str_eq(tg_checkpoint_meta_get(&m, "k"), "short");
    for (int i = 1; i < TG_CHECKPOINT_MAX_META; i++) {
        char key[16];
        snprintf(key, sizeof key, "k%d", i);
        ck_assert_int_eq(tg_checkpoint_meta_set(&m, key, "v"), TG_OK);
    }
    ck_assert_int_eq(tg_checkpoint_meta_set(&m, "one.more", "v"), TG_ERR_ARG);
    ck_assert_int_eq(tg_checkpoint_meta_set(&m, "k7", "replaced"), TG_OK);
    /* A full table and a value of the longest length survive the round trip. */
    ck_assert_int_eq(tg_checkpoint_meta_set(&m, "k", long_value), TG_OK);
    ck_assert_int_eq(tg_checkpoint_save(s, tf_path(dir, "x"), &m, &err), TG_OK);
    tg_checkpoint_meta got;
    ck_assert_int_eq(tg_checkpoint_load(s, tf_path(dir, "x"), &got, &err), TG_OK);
    ck_assert_int_eq(got.n, TG_CHECKPOINT_MAX_META);
    ck_assert_str_eq(tg_checkpoint_meta_get(&got, "k7"), "replaced");
    ck_assert_str_eq(tg_checkpoint_meta_get(&got, "k"), long_value);
    tg_store_free(s);
    tf_rmdir(dir);
}
END_TEST

int main(void) {
    Suite *s = suite_create("io_checkpoint");
    TCase *tc = tcase_create("checkpoint");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_round_trip);
    tcase_add_test(tc, test_file_layout);
    tcase_add_test(tc, test_strict_matching);
    tcase_add_test(tc, test_independent_writer_fixture);
    tcase_add_test(tc, test_every_truncation);
    tcase_add_test(tc, test_random_header_corruption);
    tcase_add_test(tc, test_bad_headers);
    tcase_add_test(tc, test_bad_length_field);
    tcase_add_test(tc, test_failed_write_keeps_old_file);
    tcase_add_test(tc, test_out_of_memory_save_and_load);
    tcase_add_test(tc, test_crash_during_save);
    tcase_add_test(tc, test_save_arguments_and_meta);
    tcase_add_test(tc, test_killed_during_saves);
    suite_add_tcase(s, tc);
    return tg_test_run(s);
}
