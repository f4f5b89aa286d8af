/* binpack.c: packed binary matrices (tapegrad/binpack.h): made from a weight tensor's signs or
 * from arrays (checked), unpacked to a dense tensor, and measured.
 *
 * Invariant: a tg_binpack that exists is valid (packed.h). One allocation through the library's
 * hook holds the struct, the scales and the bits. */
#include <math.h>
#include <string.h>

#include "op_util.h"
#include "packed.h"

static tg_binpack *binpack_alloc(int64_t rows, int64_t cols, tg_error *err) {
    int64_t words = (cols + 31) / 32;
    if (rows <= 0 || cols <= 0 || rows > (INT64_C(1) << 40) / words) {
        tg_error_set(err, TG_ERR_ARG, "binpack: (%lld, %lld) is not a matrix that can be packed",
                     (long long)rows, (long long)cols);
        return NULL;
    }
    size_t scale_bytes = ((size_t)rows * sizeof(float) + 63) & ~(size_t)63;
    tg_binpack *p = tg_alloc(64 + scale_bytes + (size_t)(rows * words) * sizeof(uint32_t));
    if (!p) {
        tg_error_set(err, TG_ERR_NOMEM, "binpack: no memory for a (%lld, %lld) matrix",
                     (long long)rows, (long long)cols);
        return NULL;
    }
    float *scale = (float *)((char *)p + 64);
    uint32_t *bits = (uint32_t *)((char *)scale + scale_bytes);
    p->k = (kern_bits){rows, cols, words, bits, scale};
    return p;
}

static double load_at(const tg_tensor *x, int64_t offset) {
    return x->dtype == TG_F64 ? ((const double *)x->data)[offset]
                              : (double)((const float *)x->data)[offset];
}

tg_binpack *tg_binpack_from_weight(const tg_tensor *w, tg_binary_mode mode, tg_error *err) {
    if (!w) {
        tg_error_set(err, TG_ERR_NULL, "binpack_from_weight: w is NULL");
        return NULL;
    }
    if (w->ndim != 2 || w->shape[0] <= 0 || w->shape[1] <= 0) {
        char ws[TG_SHAPE_STR_MAX];
        tg_error_set(err, TG_ERR_SHAPE,
                     "binpack_from_weight: w %s must be a 2-D (rows, cols) "
                     "matrix with elements",
                     tg_shape_str(w, ws, sizeof ws));
        return NULL;
    }
    if (mode != TG_BINARY_PLAIN && mode != TG_BINARY_SCALED) {
        tg_error_set(err, TG_ERR_ARG,
                     "binpack_from_weight: mode %d is neither TG_BINARY_PLAIN "
                     "nor TG_BINARY_SCALED",
                     (int)mode);
        return NULL;
    }
    tg_binpack *p = binpack_alloc(w->shape[0], w->shape[1], err);
    if (!p) return NULL;
    uint32_t *bits = (uint32_t *)p->k.bits;
    float *scale = (float *)p->k.scale;
    memset(bits, 0, (size_t)(p->k.rows * p->k.words) * sizeof *bits);
    for (int64_t o = 0; o < p->k.rows; o++) {
        double sum_abs = 0;
        for (int64_t j = 0; j < p->k.cols; j++) {
            double v = load_at(w, o * w->strides[0] + j * w->strides[1]);
            bits[o * p->k.words + (j >> 5)] |= (uint32_t)(v >= 0) << (j & 31);
            sum_abs += fabs(v);
        }
        double s = mode == TG_BINARY_SCALED ? sum_abs / (double)p->k.cols : 1.0;
        if (!isfinite((float)s)) {
            tg_error_set(err, TG_ERR_NONFINITE, "binpack_from_weight: row %lld's scale is %g",
                         (long long)o, s);
            tg_free(p);
            return NULL;
        }
        scale[o] = (float)s;
    }
    return p;
}

tg_binpack *tg_binpack_from_arrays(int64_t rows, int64_t cols, const uint32_t *bits,
                                   const float *scale, tg_error *err) {
    if (!bits || !scale) {
        tg_error_set(err, TG_ERR_NULL, "binpack_from_arrays: %s is NULL", bits ? "scale" : "bits");
        return NULL;
    }
    tg_binpack *p = binpack_alloc(rows, cols, err);
    if (!p) return NULL;
    int64_t words = p->k.words;
    uint32_t past = cols % 32 ? ~((UINT32_C(1) << (cols % 32)) - 1) : 0;
    for (int64_t o = 0; o < rows; o++) {
        const char *bad = !isfinite(scale[o])                  ? "scale is not finite"
                          : bits[o * words + words - 1] & past ? "has bits set past the columns"
                                                               : NULL;
        if (bad) {
            tg_error_set(err, TG_ERR_ARG, "binpack_from_arrays: row %lld %s", (long long)o, bad);
            tg_free(p);
            return NULL;
        }
    }
    memcpy((float *)p->k.scale, scale, (size_t)rows * sizeof(float));
    memcpy((uint32_t *)p->k.bits, bits, (size_t)(rows * words) * sizeof(uint32_t));
    return p;
}

void tg_binpack_free(tg_binpack *p) { tg_free(p); }

int64_t tg_binpack_rows(const tg_binpack *p) { return p ? p->k.rows : 0; }
int64_t tg_binpack_cols(const tg_binpack *p) { return p ? p->k.cols : 0; }
int64_t tg_binpack_words(const tg_binpack *p) { return p ? p->k.words : 0; }
const uint32_t *tg_binpack_bits(const tg_binpack *p) { return p ? p->k.bits : NULL; }
const float *tg_binpack_scale(const tg_binpack *p) { return p ? p->k.scale : NULL; }

size_t tg_binpack_bytes(const tg_binpack *p) {
    return p ? (size_t)p->k.rows * (sizeof(float) + (size_t)p->k.words * sizeof(uint32_t)) : 0;
}

tg_status tg_binpack_unpack(const tg_binpack *p, tg_tensor *out, tg_error *err) {
    if (!p || !out)
        return tg_error_set(err, TG_ERR_NULL, "binpack_unpack: %s is NULL", p ? "out" : "p");
    if (out->ndim != 2 || out->shape[0] != p->k.rows || out->shape[1] != p->k.cols) {
        char os[TG_SHAPE_STR_MAX];
        return tg_error_set(err, TG_ERR_SHAPE, "binpack_unpack: out %s must be (%lld, %lld)",
                            tg_shape_str(out, os, sizeof os), (long long)p->k.rows,
                            (long long)p->k.cols);
    }
    for (int64_t o = 0; o < p->k.rows; o++)
        for (int64_t j = 0; j < p->k.cols; j++) {
            bool plus = p->k.bits[o * p->k.words + (j >> 5)] >> (j & 31) & 1u;
            double v = plus ? (double)p->k.scale[o] : -(double)p->k.scale[o];
            int64_t at = o * out->strides[0] + j * out->strides[1];
            if (out->dtype == TG_F64)
                ((double *)out->data)[at] = v;
            else
                ((float *)out->data)[at] = (float)v;
        }
    return TG_OK;
}

const char *tg_binpack_kernel_name(void) { return kern_binmm_impl()->name; }
