/* csr.c: sparse patterns (tapegrad/sparse.h): made from a dense tensor, a mask or arrays,
 * checked, and given the transposed index the products with A^T use.
 *
 * Invariant: a tg_csr that exists is valid: row_ptr starts at 0 and never decreases, every
 * column index is in range and increases within its row, and nnz and cols fit in int32. One
 * allocation through the library's hook holds the struct and all its arrays. */
#include <math.h>
#include <string.h>

#include "csr.h"
#include "op_util.h"

static double load_at(const tg_tensor *x, int64_t offset) {
    return x->dtype == TG_F64 ? ((const double *)x->data)[offset]
                              : (double)((const float *)x->data)[offset];
}

static void store_at(tg_tensor *x, int64_t offset, double v) {
    if (x->dtype == TG_F64)
        ((double *)x->data)[offset] = v;
    else
        ((float *)x->data)[offset] = (float)v;
}

/* The struct and its arrays in one block, for rows and nnz entries. */
static tg_csr *csr_alloc(int64_t rows, int64_t cols, int64_t nnz, tg_error *err) {
    size_t n_ints = (size_t)(rows + 1) + (size_t)(cols + 1) + 3 * (size_t)nnz;
    tg_csr *a = tg_alloc(sizeof *a + n_ints * sizeof(int32_t));
    if (!a) {
        tg_error_set(err, TG_ERR_NOMEM, "csr: no memory for a (%lld, %lld) pattern of %lld entries",
                     (long long)rows, (long long)cols, (long long)nnz);
        return NULL;
    }
    int32_t *p = (int32_t *)(a + 1);
    int32_t *row_ptr = p, *col = row_ptr + rows + 1, *t_ptr = col + nnz, *t_col = t_ptr + cols + 1;
    a->t_perm = t_col + nnz;
    a->rows = (kern_csr){rows, cols, nnz, row_ptr, col};
    a->cols = (kern_csr){cols, rows, nnz, t_ptr, t_col};
    return a;
}

/* Fills the transposed index from the rows (a counting sort by column, stable in the row). */
static void csr_transpose(tg_csr *a) {
    int32_t *t_ptr = (int32_t *)a->cols.row_ptr, *t_col = (int32_t *)a->cols.col;
    int64_t rows = a->rows.rows, cols = a->rows.cols;
    memset(t_ptr, 0, (size_t)(cols + 1) * sizeof *t_ptr);
    for (int64_t p = 0; p < a->rows.nnz; p++) t_ptr[a->rows.col[p] + 1]++;
    for (int64_t j = 0; j < cols; j++) t_ptr[j + 1] += t_ptr[j];
    for (int64_t i = 0; i < rows; i++)
        for (int32_t p = a->rows.row_ptr[i]; p < a->rows.row_ptr[i + 1]; p++) {
            int32_t j = a->rows.col[p];
            int32_t q = t_ptr[j]++;
            t_col[q] = (int32_t)i;
            a->t_perm[q] = p;
        }
    /* t_ptr[j] now holds the start of column j + 1: shift back. */
    for (int64_t j = cols; j > 0; j--) t_ptr[j] = t_ptr[j - 1];
    t_ptr[0] = 0;
}

static bool check_dims(const char *what, const tg_tensor *w, tg_error *err) {
    if (!w) {
        tg_error_set(err, TG_ERR_NULL, "%s: the tensor is NULL", what);
        return false;
    }
    if (w->ndim != 2) {
        tg_error_set(err, TG_ERR_SHAPE, "%s: needs a 2-D tensor, got %d dimensions", what,
                     w->ndim);
        return false;
    }
    if (w->shape[1] >= INT32_MAX || w->shape[0] >= INT32_MAX) {
        tg_error_set(err, TG_ERR_SHAPE, "%s: (%lld, %lld) is too large for int32 indices", what,
                     (long long)w->shape[0], (long long)w->shape[1]);
        return false;
    }
    return true;
}

/* The pattern of the entries of w for which keep(value) holds. */
static tg_csr *csr_select(const char *what, const tg_tensor *w, double threshold, bool mask,
                          tg_error *err) {
    if (!check_dims(what, w, err)) return NULL;
    int64_t rows = w->shape[0], cols = w->shape[1], nnz = 0;
    for (int pass = 0; pass < 2; pass++) {
        tg_csr *a = NULL;
        if (pass == 1) {
            if (nnz >= INT32_MAX) {
                tg_error_set(err, TG_ERR_SHAPE, "%s: %lld entries are too many for int32", what,
                             (long long)nnz);
                return NULL;
            }
            if (!(a = csr_alloc(rows, cols, nnz, err))) return NULL;
        }
        int64_t k = 0;
        for (int64_t i = 0; i < rows; i++) {
            if (a) ((int32_t *)a->rows.row_ptr)[i] = (int32_t)k;
            for (int64_t j = 0; j < cols; j++) {
                double v = load_at(w, i * w->strides[0] + j * w->strides[1]);
                bool keep = mask ? v != 0.0 : (isnan(v) || fabs(v) > threshold);
                if (!keep) continue;
                if (a) ((int32_t *)a->rows.col)[k] = (int32_t)j;
                k++;
            }
        }
        if (!a) {
            nnz = k;
            continue;
        }
        ((int32_t *)a->rows.row_ptr)[rows] = (int32_t)k;
        csr_transpose(a);
        return a;
    }
    return NULL;
}

tg_csr *tg_csr_from_dense(const tg_tensor *w, double threshold, tg_error *err) {
    return csr_select("csr_from_dense", w, threshold, false, err);
}

tg_csr *tg_csr_from_mask(const tg_tensor *mask, tg_error *err) {
    return csr_select("csr_from_mask", mask, 0.0, true, err);
}

tg_csr *tg_csr_from_arrays(int64_t rows, int64_t cols, const int32_t *row_ptr,
                           const int32_t *col, tg_error *err) {
    const char *what = "csr_from_arrays";
    if (!row_ptr || (!col && rows > 0 && row_ptr[rows] > 0)) {
        tg_error_set(err, TG_ERR_NULL, "%s: an index array is NULL", what);
        return NULL;
    }
    if (rows < 0 || cols < 0 || rows >= INT32_MAX || cols >= INT32_MAX) {
        tg_error_set(err, TG_ERR_SHAPE, "%s: (%lld, %lld) is not a size int32 indices can hold",
                     what, (long long)rows, (long long)cols);
        return NULL;
    }
    if (row_ptr[0] != 0) {
        tg_error_set(err, TG_ERR_ARG, "%s: row_ptr[0] is %d, not 0", what, (int)row_ptr[0]);
        return NULL;
    }
    for (int64_t i = 0; i < rows; i++) {
        if (row_ptr[i + 1] < row_ptr[i]) {
            tg_error_set(err, TG_ERR_ARG, "%s: row_ptr decreases at row %lld (%d then %d)", what,
                         (long long)i, (int)row_ptr[i], (int)row_ptr[i + 1]);
            return NULL;
        }
        for (int32_t p = row_ptr[i]; p < row_ptr[i + 1]; p++) {
            if (col[p] < 0 || col[p] >= cols) {
                tg_error_set(err, TG_ERR_ARG, "%s: column %d of row %lld is outside [0, %lld)",
                             what, (int)col[p], (long long)i, (long long)cols);
                return NULL;
            }
            if (p > row_ptr[i] && col[p] <= col[p - 1]) {
                tg_error_set(err, TG_ERR_ARG,
                             "%s: columns of row %lld do not increase (%d after %d)", what,
                             (long long)i, (int)col[p], (int)col[p - 1]);
                return NULL;
            }
        }
    }
    int64_t nnz = row_ptr[rows];
    tg_csr *a = csr_alloc(rows, cols, nnz, err);
    if (!a) return NULL;
    memcpy((int32_t *)a->rows.row_ptr, row_ptr, (size_t)(rows + 1) * sizeof *row_ptr);
    if (nnz) memcpy((int32_t *)a->rows.col, col, (size_t)nnz * sizeof *col);
    csr_transpose(a);
    return a;
}

void tg_csr_free(tg_csr *a) {
    tg_free(a);
}

int64_t tg_csr_rows(const tg_csr *a) {
    return a ? a->rows.rows : 0;
}
int64_t tg_csr_cols(const tg_csr *a) {
    return a ? a->rows.cols : 0;
}
int64_t tg_csr_nnz(const tg_csr *a) {
    return a ? a->rows.nnz : 0;
}
const int32_t *tg_csr_row_ptr(const tg_csr *a) {
    return a ? a->rows.row_ptr : NULL;
}
const int32_t *tg_csr_col_idx(const tg_csr *a) {
    return a ? a->rows.col : NULL;
}

size_t tg_csr_bytes(const tg_csr *a, tg_dtype dtype) {
    if (!a) return 0;
    return (size_t)a->rows.nnz * (tg_dtype_size(dtype) + sizeof(int32_t)) +
           (size_t)(a->rows.rows + 1) * sizeof(int32_t);
}

/* Checks that dense is (rows, cols) and values (nnz). */
static tg_status check_pair(const char *what, const tg_csr *a, const tg_tensor *dense,
                            const tg_tensor *values, tg_error *err) {
    if (!a || !dense || !values)
        return tg_error_set(err, TG_ERR_NULL, "%s: the pattern or a tensor is NULL", what);
    if (dense->ndim != 2 || dense->shape[0] != a->rows.rows || dense->shape[1] != a->rows.cols)
        return tg_error_set(err, TG_ERR_SHAPE, "%s: the dense tensor is not (%lld, %lld)", what,
                            (long long)a->rows.rows, (long long)a->rows.cols);
    if (values->ndim != 1 || values->shape[0] != a->rows.nnz)
        return tg_error_set(err, TG_ERR_SHAPE, "%s: the values are not (%lld)", what,
                            (long long)a->rows.nnz);
    return TG_OK;
}

tg_status tg_csr_gather(const tg_csr *a, const tg_tensor *w, tg_tensor *values, tg_error *err) {
    tg_status s = check_pair("csr_gather", a, w, values, err);
    if (s != TG_OK) return s;
    for (int64_t i = 0; i < a->rows.rows; i++)
        for (int32_t p = a->rows.row_ptr[i]; p < a->rows.row_ptr[i + 1]; p++)
            store_at(values, p * values->strides[0],
                     load_at(w, i * w->strides[0] + a->rows.col[p] * w->strides[1]));
    return TG_OK;
}

tg_status tg_csr_scatter(const tg_csr *a, const tg_tensor *values, tg_tensor *out,
                         tg_error *err) {
    tg_status s = check_pair("csr_scatter", a, out, values, err);
    if (s != TG_OK) return s;
    for (int64_t i = 0; i < a->rows.rows; i++)
        for (int64_t j = 0; j < a->rows.cols; j++)
            store_at(out, i * out->strides[0] + j * out->strides[1], 0.0);
    for (int64_t i = 0; i < a->rows.rows; i++)
        for (int32_t p = a->rows.row_ptr[i]; p < a->rows.row_ptr[i + 1]; p++)
            store_at(out, i * out->strides[0] + a->rows.col[p] * out->strides[1],
                     load_at(values, p * values->strides[0]));
    return TG_OK;
}
