/* compress_whiten.c - the whitening factor S (S S^T = X^T X) of the data-aware mode.
 *
 * Over calibration inputs x_s (rows of X), sum_s ||E x_s||^2 = ||E X^T||_F^2
 * = tr(E X^T X E^T) = ||E S||_F^2, so minimising ||(W - W_hat) S|| minimises the output
 * error of the layer on that data (SVD-LLM's truncation-aware whitening).
 */
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>
#include <lapacke.h>

#include "dlor_compress.h"
#include "factor_internal.h"

/* Below this reciprocal condition number of G, S = chol(G) has cond(S) > 1e5; the solve
 * with S that maps the whitened fit back would amplify rounding by as much, and the weight
 * error would be left to directions the data barely sees. */
#define WHITEN_RCOND_MIN 1e-10
#define WHITEN_LAMBDA_DEFAULT 1e-6
#define WHITEN_ROWS 256 /* rows of a float32 X converted to double per dsyrk */

static const char *lname(const char *name)
{
    return (name && *name) ? name : "(unnamed)";
}

/* Lower Cholesky factor of a (lower triangle of) n x n row-major g into c; 0 on success. */
static lapack_int chol_lower(const double *g, int64_t n, double shift, double *c)
{
    for (int64_t i = 0; i < n; i++) {
        for (int64_t j = 0; j <= i; j++) c[i * n + j] = g[i * n + j];
        for (int64_t j = i + 1; j < n; j++) c[i * n + j] = 0.0;
        c[i * n + i] += shift;
    }
    return LAPACKE_dpotrf(LAPACK_ROW_MAJOR, 'L', (lapack_int)n, c, (lapack_int)n);
}

dlor_status dlor_whitening_gram(const char *name, const double *gram, int64_t n, double lambda,
                                double *chol_out, double *lambda_used, dlor_error *err)
{
    const char *nm = lname(name);
    if (!gram || !chol_out)
        return dlor_fail(err, DLOR_E_ARG, "layer '%s': NULL argument to whitening", nm);
    if (n <= 0 || n > INT_MAX || (uint64_t)n > SIZE_MAX / sizeof(double) / (uint64_t)n)
        return dlor_fail(err, DLOR_E_ARG, "layer '%s': bad feature count %lld for whitening", nm,
                         (long long)n);
    if (!isfinite(lambda))
        return dlor_fail(err, DLOR_E_ARG, "layer '%s': whitening lambda %g is not finite", nm,
                         lambda);
    double trace = 0.0;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j <= i; j++) {
            double v = gram[i * n + j];
            if (!isfinite(v))
                return dlor_fail(err, DLOR_E_NUMERIC,
                                 "layer '%s': non-finite Gram matrix entry %g at [%lld, %lld]",
                                 nm, v, (long long)i, (long long)j);
            if (i == j) {
                if (v < 0.0)
                    return dlor_fail(err, DLOR_E_ARG,
                                     "layer '%s': Gram matrix has a negative diagonal entry %g "
                                     "at %lld (not X^T X)", nm, v, (long long)i);
                trace += v;
            }
        }
    if (!(trace > 0.0))
        return dlor_fail(err, DLOR_E_ARG,
                         "layer '%s': the calibration inputs are all zero; no data error is "
                         "defined", nm);

    double *c = dlor__alloc((size_t)n * (size_t)n, sizeof *c);
    if (!c) return dlor_fail(err, DLOR_E_NOMEM, "layer '%s': out of memory (whitening)", nm);
    double used = 0.0;
    lapack_int info = chol_lower(gram, n, 0.0, c);
    double rcond = 0.0;
    if (info == 0) {
        /* dlansy's 1-norm of the symmetric G, read from its lower triangle. */
        double anorm = 0.0;
        for (int64_t j = 0; j < n; j++) {
            double col = 0.0;
            for (int64_t i = 0; i < n; i++)
                col += fabs(i >= j ? gram[i * n + j] : gram[j * n + i]);
            if (col > anorm) anorm = col;
        }
        if (LAPACKE_dpocon(LAPACK_ROW_MAJOR, 'L', (lapack_int)n, c, (lapack_int)n, anorm,
                           &rcond) != 0)
            rcond = 0.0;
    }
    if (info != 0 || !(rcond >= WHITEN_RCOND_MIN)) {
        double lam = lambda > 0.0 ? lambda : WHITEN_LAMBDA_DEFAULT;
        double mean = trace / (double)n;
        info = 1;
        for (int tries = 0; tries < 5 && info != 0; tries++, lam *= 10.0) {
            info = chol_lower(gram, n, lam * mean, c);
            used = lam;
        }
        if (info != 0) {
            free(c);
            return dlor_fail(err, DLOR_E_NUMERIC,
                             "layer '%s': the regularised Gram matrix (lambda = %g) is still not "
                             "positive definite (dpotrf info = %d); is it X^T X?", nm, used,
                             (int)info);
        }
    }
    memcpy(chol_out, c, (size_t)n * (size_t)n * sizeof *c);
    free(c);
    if (lambda_used) *lambda_used = used;
    return DLOR_OK;
}

dlor_status dlor_whitening(const char *name, const void *x, dlor_dtype dtype, int64_t samples,
                           int64_t n, double lambda, double *chol_out, double *lambda_used,
                           dlor_error *err)
{
    const char *nm = lname(name);
    if (!x || !chol_out)
        return dlor_fail(err, DLOR_E_ARG, "layer '%s': NULL argument to whitening", nm);
    if (dtype != DLOR_DT_F32 && dtype != DLOR_DT_F64)
        return dlor_fail(err, DLOR_E_ARG,
                         "layer '%s': calibration inputs must be f32 or f64, not %s", nm,
                         dlor_dtype_name(dtype));
    if (samples <= 0 || samples > INT_MAX || n <= 0 || n > INT_MAX ||
        (uint64_t)samples > SIZE_MAX / sizeof(double) / (uint64_t)n ||
        (uint64_t)n > SIZE_MAX / sizeof(double) / (uint64_t)n)
        return dlor_fail(err, DLOR_E_ARG, "layer '%s': bad calibration shape %lld x %lld", nm,
                         (long long)samples, (long long)n);
    const size_t total = (size_t)samples * (size_t)n;
    for (size_t i = 0; i < total; i++) {
        double v = dtype == DLOR_DT_F64 ? ((const double *)x)[i] : (double)((const float *)x)[i];
        if (!isfinite(v))
            return dlor_fail(err, DLOR_E_NUMERIC,
                             "layer '%s': non-finite calibration input %g at [sample %lld, "
                             "feature %lld]", nm, v, (long long)(i / (size_t)n),
                             (long long)(i % (size_t)n));
    }

    double *g = dlor__alloc((size_t)n * (size_t)n, sizeof *g);
    double *buf = dtype == DLOR_DT_F32 ? dlor__alloc((size_t)WHITEN_ROWS * (size_t)n, sizeof *buf)
                                       : NULL;
    if (!g || (dtype == DLOR_DT_F32 && !buf)) {
        free(g);
        free(buf);
        return dlor_fail(err, DLOR_E_NOMEM, "layer '%s': out of memory (whitening)", nm);
    }
    /* G = X^T X, lower triangle (dsyrk with X^T: C = A^T A for row-major A = X). */
    if (dtype == DLOR_DT_F64) {
        cblas_dsyrk(CblasRowMajor, CblasLower, CblasTrans, (int)n, (int)samples, 1.0,
                    (const double *)x, (int)n, 0.0, g, (int)n);
    } else {
        const float *xf = x;
        for (int64_t r0 = 0; r0 < samples; r0 += WHITEN_ROWS) {
            int64_t rows = samples - r0 < WHITEN_ROWS ? samples - r0 : WHITEN_ROWS;
            for (size_t i = 0; i < (size_t)rows * (size_t)n; i++)
                buf[i] = (double)xf[(size_t)r0 * (size_t)n + i];
            cblas_dsyrk(CblasRowMajor, CblasLower, CblasTrans, (int)n, (int)rows, 1.0, buf,
                        (int)n, r0 == 0 ? 0.0 : 1.0, g, (int)n);
        }
    }
    free(buf);
    dlor_status st = dlor_whitening_gram(nm, g, n, lambda, chol_out, lambda_used, err);
    free(g);
    return st;
}
