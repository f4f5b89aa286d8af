/* pca.c: the baseline the 2-D bottleneck is compared with, principal component analysis, and
 * the k-nearest-neighbour score both maps are judged by.
 *
 * The covariance C = (X - mean)^T (X - mean) / n (p x p) is one product on a tape; its two
 * leading eigenvectors come from power iteration (the second deflated against the first),
 * which needs only products with C and converges fast here because the leading eigenvalues of
 * image data stand well apart. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ae.h"

enum { POWER_STEPS = 300 };

tg_status ae_pca2(const float *x, int64_t n, int64_t p, double *axes, double *mean,
                  tg_error *err) {
    tg_tape *t = tg_tape_new();
    double *c = malloc(sizeof(double) * (size_t)(p * p)), *v = malloc(sizeof(double) * (size_t)p);
    if (!t || !c || !v) {
        tg_tape_free(t);
        free(c);
        free(v);
        return tg_error_set(err, TG_ERR_NOMEM, "pca: out of memory");
    }
    for (int64_t j = 0; j < p; j++) mean[j] = 0;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < p; j++) mean[j] += x[i * p + j];
    for (int64_t j = 0; j < p; j++) mean[j] /= (double)n;
    tg_tensor *xc = tg_zeros(t, TG_F64, TG_SHAPE(n, p));
    if (xc) {
        double *d = tg_tensor_data(xc);
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < p; j++) d[i * p + j] = x[i * p + j] - mean[j];
    }
    tg_tensor *cov = tg_mul_scalar(t, tg_matmul(t, tg_transpose(t, xc, 0, 1), xc), 1.0 / (double)n);
    tg_status st = cov ? tg_tensor_copy_out(cov, TG_F64, c) : TG_OK;
    if (!cov || st != TG_OK) {
        st = tg_error_set(err, tg_tape_status(t), "pca: %s", tg_tape_error(t));
    } else {
        for (int a = 0; a < 2; a++) {
            double *u = axes + a * p;
            for (int64_t j = 0; j < p; j++) u[j] = 1.0 + 0.01 * (double)((j * 7 + a) % 13);
            for (int s = 0; s < POWER_STEPS; s++) {
                for (int64_t r = 0; r < p; r++) {
                    double acc = 0;
                    for (int64_t k = 0; k < p; k++) acc += c[r * p + k] * u[k];
                    v[r] = acc;
                }
                if (a == 1) { /* deflate: keep orthogonal to the first axis */
                    double dot = 0;
                    for (int64_t j = 0; j < p; j++) dot += v[j] * axes[j];
                    for (int64_t j = 0; j < p; j++) v[j] -= dot * axes[j];
                }
                double norm = 0;
                for (int64_t j = 0; j < p; j++) norm += v[j] * v[j];
                norm = sqrt(norm);
                if (norm == 0) break;
                for (int64_t j = 0; j < p; j++) u[j] = v[j] / norm;
            }
        }
    }
    tg_tape_free(t);
    free(c);
    free(v);
    return st;
}

double ae_knn_accuracy(const double *x, const double *y, const int *label, int n, int k) {
    enum { K_MAX = 15 };
    if (k > K_MAX) k = K_MAX;
    int right = 0;
    for (int i = 0; i < n; i++) {
        double best[K_MAX];
        int who[K_MAX], m = 0;
        for (int j = 0; j < n; j++) {
            if (j == i) continue;
            double d = (x[i] - x[j]) * (x[i] - x[j]) + (y[i] - y[j]) * (y[i] - y[j]);
            if (m == k && d >= best[m - 1]) continue;
            int at = m < k ? m++ : m - 1;
            while (at > 0 && best[at - 1] > d) {
                best[at] = best[at - 1], who[at] = who[at - 1];
                at--;
            }
            best[at] = d, who[at] = j;
        }
        int votes[256] = {0}, top = label[who[0]];
        for (int q = 0; q < m; q++) {
            int l = label[who[q]] & 255;
            votes[l]++;
            if (votes[l] > votes[top]) top = l;
        }
        right += top == label[i];
    }
    return n > 0 ? (double)right / n : 0.0;
}

const char *ae_class_name(bool fashion, int label, char *buf, size_t size) {
    static const char *const names[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                          "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"};
    if (fashion && label >= 0 && label < 10) return names[label];
    snprintf(buf, size, "class %d", label);
    return buf;
}
