/* spectrum.c - singular-value spectra of stored layers and their split into parts. */
#include "dlor_spectrum.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>
#include <lapacke.h>

static int all_finite(const double *a, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(a[i])) return 0;
    return 1;
}

dlor_status dlor_singular_values(const double *a, int64_t m, int64_t n, double *s, dlor_error *err)
{
    if (m < 1 || n < 1 || m > INT_MAX || n > INT_MAX || (uint64_t)m * (uint64_t)n > (uint64_t)SIZE_MAX / sizeof(double))
        return dlor_fail(err, DLOR_E_ARG, "singular values: bad matrix size %lld x %lld", (long long)m, (long long)n);
    size_t len = (size_t)m * (size_t)n;
    if (!all_finite(a, len)) return dlor_fail(err, DLOR_E_NUMERIC, "singular values: the matrix is not finite");
    double *c = malloc(len * sizeof *c);
    if (!c) return dlor_fail(err, DLOR_E_NOMEM, "out of memory for singular values (%lld x %lld)", (long long)m,
                             (long long)n);
    memcpy(c, a, len * sizeof *c);
    /* row-major A is column-major A^T: same singular values */
    lapack_int info = LAPACKE_dgesdd(LAPACK_COL_MAJOR, 'N', (lapack_int)n, (lapack_int)m, c, (lapack_int)n, s, NULL, 1,
                                     NULL, 1);
    free(c);
    if (info != 0) return dlor_fail(err, DLOR_E_NUMERIC, "singular values failed (dgesdd info %d)", (int)info);
    return DLOR_OK;
}

void dlor_spectral_split_free(dlor_spectral_split *s)
{
    if (!s) return;
    free(s->sigma);
    free(s->identity);
    free(s->lowrank);
    free(s->branch);
    memset(s, 0, sizeof *s);
}

dlor_status dlor_spectral_split_compute(int64_t m, int64_t n, double c, const double *ut, const double *vt, int64_t kcols,
                                        int64_t cols, int64_t branches, dlor_spectral_split *out, dlor_error *err)
{
    if (m < 1 || n < 1 || m > INT_MAX || n > INT_MAX || kcols < 0 || kcols > INT_MAX || cols < 1 || branches < 1 ||
        (kcols > 0 && (kcols + cols - 1) / cols != branches) || (kcols == 0 && branches != 1) ||
        (uint64_t)m * (uint64_t)n > (uint64_t)SIZE_MAX / sizeof(double) / 4)
        return dlor_fail(err, DLOR_E_ARG, "spectral split: bad arguments (%lld x %lld, %lld columns, %lld branches)",
                         (long long)m, (long long)n, (long long)kcols, (long long)branches);
    int64_t k = m < n ? m : n;
    dlor_spectral_split s;
    memset(&s, 0, sizeof s);
    s.m = m;
    s.n = n;
    s.k = k;
    s.branches = branches;
    size_t mn = (size_t)m * (size_t)n, kk = kcols ? (size_t)kcols : 1;
    double *a = malloc(mn * sizeof *a), *q = malloc((size_t)n * (size_t)k * sizeof *q);
    double *pt = malloc((size_t)m * (size_t)k * sizeof *pt);
    double *A = malloc((size_t)k * kk * sizeof *A), *B = malloc((size_t)k * kk * sizeof *B);
    double *d = malloc((size_t)k * sizeof *d);
    s.sigma = malloc((size_t)k * sizeof *s.sigma);
    s.identity = malloc((size_t)k * sizeof *s.identity);
    s.lowrank = malloc((size_t)k * sizeof *s.lowrank);
    s.branch = calloc((size_t)branches * (size_t)k, sizeof *s.branch);
    dlor_status st = DLOR_OK;
    if (!a || !q || !pt || !A || !B || !d || !s.sigma || !s.identity || !s.lowrank || !s.branch)
        st = dlor_fail(err, DLOR_E_NOMEM, "out of memory for a spectral split (%lld x %lld)", (long long)m, (long long)n);
    if (st == DLOR_OK) {
        /* M = U V^T + c I_{m x n} */
        if (kcols > 0)
            cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)m, (int)n, (int)kcols, 1.0, ut, (int)m, vt, (int)n,
                        0.0, a, (int)n);
        else
            memset(a, 0, mn * sizeof *a);
        for (int64_t i = 0; i < k; i++) a[i * n + i] += c;
        if (!all_finite(a, mn)) st = dlor_fail(err, DLOR_E_NUMERIC, "spectral split: the matrix is not finite");
    }
    if (st == DLOR_OK) {
        /* Row-major M is column-major M^T (n x m) = Q diag(sigma) P^T: LAPACK's U is Q
         * (column-major n x k, i.e. row-major k x n: row j is q_j) and its VT is P^T
         * (column-major k x m, i.e. row-major m x k: P itself). */
        lapack_int info = LAPACKE_dgesdd(LAPACK_COL_MAJOR, 'S', (lapack_int)n, (lapack_int)m, a, (lapack_int)n, s.sigma,
                                         q, (lapack_int)n, pt, (lapack_int)k);
        if (info != 0) st = dlor_fail(err, DLOR_E_NUMERIC, "spectral split: dgesdd failed (info %d)", (int)info);
    }
    if (st == DLOR_OK) {
        /* d_j = p_j^T I_{m x n} q_j */
        for (int64_t j = 0; j < k; j++) {
            double t = 0;
            for (int64_t i = 0; i < k; i++) t += pt[i * k + j] * q[j * n + i];
            d[j] = t;
        }
        if (kcols > 0) {
            /* A = P^T U (k x K), B = Q^T V (k x K): the contribution of column c to
             * direction j is A[j][c] * B[j][c] */
            cblas_dgemm(CblasRowMajor, CblasTrans, CblasTrans, (int)k, (int)kcols, (int)m, 1.0, pt, (int)k, ut, (int)m,
                        0.0, A, (int)kcols);
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)k, (int)kcols, (int)n, 1.0, q, (int)n, vt, (int)n,
                        0.0, B, (int)kcols);
        }
        for (int64_t j = 0; j < k; j++) {
            double low = 0;
            for (int64_t l = 0; l < branches; l++) {
                double part = c / (double)branches * d[j];
                int64_t c0 = l * cols, c1 = c0 + cols < kcols ? c0 + cols : kcols;
                for (int64_t cc = c0; cc < c1; cc++) {
                    double t = A[j * kcols + cc] * B[j * kcols + cc];
                    part += t;
                    low += t;
                }
                s.branch[l * k + j] = part;
            }
            s.identity[j] = c * d[j];
            s.lowrank[j] = low;
        }
    }
    free(a);
    free(q);
    free(pt);
    free(A);
    free(B);
    free(d);
    if (st != DLOR_OK) {
        dlor_spectral_split_free(&s);
        return st;
    }
    *out = s;
    return DLOR_OK;
}

void dlor_layer_spectrum_free(dlor_layer_spectrum *s)
{
    if (!s) return;
    free(s->dense);
    free(s->rebuilt);
    free(s->lowrank_sv);
    dlor_spectral_split_free(&s->split);
    memset(s, 0, sizeof *s);
}

/* Singular values of U V^T (U = ut^T: dim_u x K, V = vt^T: dim_v x K) for columns [0, kc):
 * the first min(kc, dim_u, dim_v) of them (the rest are zero). */
static dlor_status lowrank_values(const double *ut, const double *vt, int64_t dim_u, int64_t dim_v, int64_t kc,
                                  double **out, int64_t *nout, dlor_error *err)
{
    int64_t k = dim_u < dim_v ? dim_u : dim_v, r = kc < k ? kc : k;
    double *p = malloc((size_t)dim_u * (size_t)dim_v * sizeof *p), *s = malloc((size_t)k * sizeof *s);
    dlor_status st = DLOR_OK;
    *out = NULL;
    *nout = 0;
    if (!p || !s) st = dlor_fail(err, DLOR_E_NOMEM, "out of memory for a low-rank spectrum");
    if (st == DLOR_OK) {
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)dim_u, (int)dim_v, (int)kc, 1.0, ut, (int)dim_u, vt,
                    (int)dim_v, 0.0, p, (int)dim_v);
        st = dlor_singular_values(p, dim_u, dim_v, s, err);
    }
    free(p);
    if (st != DLOR_OK || r < 1) {
        free(s);
        return st;
    }
    *out = s;
    *nout = r;
    return DLOR_OK;
}

dlor_status dlor_layer_spectrum_compute(const dlor_factored *f, const double *w, dlor_layer_spectrum *out,
                                        dlor_error *err)
{
    dlor_layer_spectrum s;
    memset(&s, 0, sizeof s);
    if (!f || !f->ut || !f->vt || f->m < 1 || f->n < 1 || f->k < 1 || f->rank < 1 ||
        (f->method != DLOR_METHOD_MUL && f->method != DLOR_METHOD_ADD))
        return dlor_fail(err, DLOR_E_ARG, "layer spectrum: empty or unknown factorization");
    s.m = f->m;
    s.n = f->n;
    s.k = f->m < f->n ? f->m : f->n;
    size_t mn = (size_t)f->m * (size_t)f->n;
    double *what = malloc(mn * sizeof *what);
    s.rebuilt = malloc((size_t)s.k * sizeof *s.rebuilt);
    if (w) s.dense = malloc((size_t)s.k * sizeof *s.dense);
    dlor_status st = what && s.rebuilt && (!w || s.dense) ? DLOR_OK : dlor_fail(err, DLOR_E_NOMEM, "out of memory");
    if (st == DLOR_OK) st = dlor_reconstruct(f, what, err);
    if (st == DLOR_OK) st = dlor_singular_values(what, f->m, f->n, s.rebuilt, err);
    if (st == DLOR_OK && w) st = dlor_singular_values(w, f->m, f->n, s.dense, err);
    free(what);
    if (st == DLOR_OK && f->method == DLOR_METHOD_ADD) {
        double c = (double)f->factors * f->alpha;
        s.identity_sv = fabs(c);
        st = lowrank_values(f->ut, f->vt, f->dim_u, f->dim_v, f->k, &s.lowrank_sv, &s.n_lowrank, err);
        if (st == DLOR_OK)
            st = dlor_spectral_split_compute(f->m, f->n, c, f->ut, f->vt, f->k, f->rank, f->factors, &s.split, err);
    } else if (st == DLOR_OK) {
        /* the first factor M_1 = alpha I_D + U_1 V_1^T (rows [0, c0) of ut and vt) */
        int64_t c0 = dlor_factor_cols(f, 0);
        s.identity_sv = fabs(f->alpha);
        s.split_is_factor = 1;
        st = lowrank_values(f->ut, f->vt, f->dim_u, f->dim_v, c0, &s.lowrank_sv, &s.n_lowrank, err);
        if (st == DLOR_OK)
            st = dlor_spectral_split_compute(f->dim_u, f->dim_v, f->alpha, f->ut, f->vt, c0, c0, 1, &s.split, err);
    }
    if (st != DLOR_OK) {
        dlor_layer_spectrum_free(&s);
        return st;
    }
    *out = s;
    return DLOR_OK;
}
