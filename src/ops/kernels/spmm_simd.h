/* spmm_simd.h: the template of the sparse kernels for one instruction set and one dtype,
 * included by spmm_avx2.c, spmm_avx512.c and spmm_neon.c once per dtype after the level's
 * vector vocabulary (simd_avx512.h, simd_avx2.h, simd_neon.h) and with these defined too:
 *   VGATHER(x, col) the elements x[col[0]], ..., x[col[VL - 1]] (col: int32 indices)
 *   TARGET, FN(name)
 *
 * spmm works along a row of the result: for each block of up to 4 vectors of columns it keeps
 * the block in registers while it walks the row's entries, so each entry costs one broadcast
 * and one fused multiply-add per vector, and Y is written once. With one column (a product
 * with a vector) it walks the entries VL at a time with a gather instead. */

static TARGET void FN(spmm_rows)(const kern_csr *a, int64_t r0, int64_t r1, const void *valv,
                                 int64_t n, const void *xv, int64_t ldx, void *yv, int64_t ldy) {
    const T *val = valv, *x = xv;
    T *y = yv;
    const int32_t *rp = a->row_ptr, *col = a->col;
    if (n == 1 && ldx == 1) {
        for (int64_t r = r0; r < r1; r++) {
            int32_t p = rp[r], e = rp[r + 1];
            V acc0 = VZERO(), acc1 = VZERO();
            for (; p + 2 * VL <= e; p += 2 * VL) {
                acc0 = VFMA(VLOAD(val + p), VGATHER(x, col + p), acc0);
                acc1 = VFMA(VLOAD(val + p + VL), VGATHER(x, col + p + VL), acc1);
            }
            for (; p + VL <= e; p += VL) acc0 = VFMA(VLOAD(val + p), VGATHER(x, col + p), acc0);
            T s = VHSUM(VADD(acc0, acc1));
            for (; p < e; p++) s += val[p] * x[col[p]];
            y[r * ldy] = s;
        }
        return;
    }
    for (int64_t r = r0; r < r1; r++) {
        int32_t b = rp[r], e = rp[r + 1];
        T *yr = y + r * ldy;
        int64_t j = 0;
        for (; j + 4 * VL <= n; j += 4 * VL) {
            V a0 = VZERO(), a1 = VZERO(), a2 = VZERO(), a3 = VZERO();
            for (int32_t p = b; p < e; p++) {
                V w = VSET1(val[p]);
                const T *xr = x + (int64_t)col[p] * ldx + j;
                a0 = VFMA(w, VLOAD(xr), a0);
                a1 = VFMA(w, VLOAD(xr + VL), a1);
                a2 = VFMA(w, VLOAD(xr + 2 * VL), a2);
                a3 = VFMA(w, VLOAD(xr + 3 * VL), a3);
            }
            VSTORE(yr + j, a0);
            VSTORE(yr + j + VL, a1);
            VSTORE(yr + j + 2 * VL, a2);
            VSTORE(yr + j + 3 * VL, a3);
        }
        for (; j + VL <= n; j += VL) {
            V a0 = VZERO();
            for (int32_t p = b; p < e; p++)
                a0 = VFMA(VSET1(val[p]), VLOAD(x + (int64_t)col[p] * ldx + j), a0);
            VSTORE(yr + j, a0);
        }
        if (j < n) {
            int m = (int)(n - j);
            V a0 = VZERO();
            for (int32_t p = b; p < e; p++)
                a0 = VFMA(VSET1(val[p]), VLOADN(x + (int64_t)col[p] * ldx + j, m), a0);
            VSTOREN(yr + j, m, a0);
        }
    }
}

/* One dot product of two contiguous runs of n elements. */
static inline TARGET T FN(dot)(const T *u, const T *v, int64_t n) {
    V a0 = VZERO(), a1 = VZERO();
    int64_t k = 0;
    for (; k + 2 * VL <= n; k += 2 * VL) {
        a0 = VFMA(VLOAD(u + k), VLOAD(v + k), a0);
        a1 = VFMA(VLOAD(u + k + VL), VLOAD(v + k + VL), a1);
    }
    for (; k + VL <= n; k += VL) a0 = VFMA(VLOAD(u + k), VLOAD(v + k), a0);
    if (k < n) a1 = VFMA(VLOADN(u + k, (int)(n - k)), VLOADN(v + k, (int)(n - k)), a1);
    return VHSUM(VADD(a0, a1));
}

static TARGET void FN(sddmm_rows)(const kern_csr *a, int64_t r0, int64_t r1, int64_t n,
                                  const void *pv, int64_t ldp, const void *qv, int64_t ldq,
                                  void *valv) {
    const T *p = pv, *q = qv;
    T *val = valv;
    for (int64_t r = r0; r < r1; r++)
        for (int32_t e = a->row_ptr[r]; e < a->row_ptr[r + 1]; e++)
            val[e] = FN(dot)(p + r * ldp, q + (int64_t)a->col[e] * ldq, n);
}

const spmm_impl FN(spmm) = {FN(spmm_rows), FN(sddmm_rows)};
