/* factor_add.c - Theorem 3: W = sum_l M_l, M_l = a I_{m x n} + U_l V_l^T, L = ceil(K / r),
 * K = min(m, n).
 *
 * The L copies of a I_{m x n} are taken out first and the rest is split by its SVD:
 *     W - L a I_{m x n} = U_s S V_s^T = sum_i sigma_i u_i v_i^T,
 * factor l taking singular triplets [l r, min((l+1) r, K)). The singular values are split as
 * U = U_s S^(1/2), V = V_s S^(1/2): both stored factors then have column norms sqrt(sigma_i),
 * so neither carries the whole dynamic range of S when they are rounded to a narrow dtype
 * (and the split is symmetric in W <-> W^T).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <lapacke.h>

#include "factor_internal.h"

dlor_status dlor__add_svd(const char *name, const double *w, int64_t m, int64_t n, int64_t r,
                          int64_t L, double a, double **ut_out, double **vt_out, dlor_error *err)
{
    (void)r;
    const int64_t K = m < n ? m : n;
    /* The row-major m x n W is the column-major n x m matrix W^T. Its thin SVD
     * W^T = U2 S VT2 gives W = VT2^T S U2^T, so V = U2 (n x K column-major: already the
     * vt layout) and U = VT2^T (VT2 is K x m column-major; ut needs it transposed). LAPACK
     * works on padded strides (dlor__ld: dgesdd of 1024 x 1024 in 0.39 s instead of 0.49). */
    const int64_t ln = dlor__ld(n), lk = dlor__ld(K);
    double *wt = dlor__alloc((size_t)ln * (size_t)m, sizeof *wt);
    double *s = dlor__alloc((size_t)K, sizeof *s);
    double *u2p = dlor__alloc((size_t)ln * (size_t)K, sizeof *u2p);
    double *vt2 = dlor__alloc((size_t)lk * (size_t)m, sizeof *vt2);
    double *u2 = dlor__alloc((size_t)n * (size_t)K, sizeof *u2);
    double *ut = dlor__alloc((size_t)K * (size_t)m, sizeof *ut);
    dlor_status st = DLOR_OK;
    if (!wt || !s || !u2p || !vt2 || !u2 || !ut) {
        st = dlor_fail(err, DLOR_E_NOMEM, "layer '%s': out of memory (SVD of %lld x %lld)", name,
                       (long long)m, (long long)n);
        goto done;
    }
    for (int64_t i = 0; i < m; i++) memcpy(wt + i * ln, w + i * n, (size_t)n * sizeof *wt);
    double la = (double)L * a;
    for (int64_t i = 0; i < K; i++) wt[i * ln + i] -= la;

    lapack_int info = LAPACKE_dgesdd(LAPACK_COL_MAJOR, 'S', (lapack_int)n, (lapack_int)m, wt,
                                     (lapack_int)ln, s, u2p, (lapack_int)ln, vt2, (lapack_int)lk);
    if (info != 0) {
        st = dlor_fail(err, DLOR_E_NUMERIC, "layer '%s': SVD failed (LAPACKE_dgesdd info = %d)",
                       name, (int)info);
        goto done;
    }
    /* ut = S^(1/2) VT2^T, transposed in 64 x 64 tiles (a column of VT2 at a time would
     * touch a new cache line and page for every element at large N); s becomes S^(1/2). */
    for (int64_t i = 0; i < K; i++) s[i] = sqrt(s[i]);
    for (int64_t i0 = 0; i0 < K; i0 += 64)
        for (int64_t c0 = 0; c0 < m; c0 += 64) {
            int64_t i1 = i0 + 64 < K ? i0 + 64 : K, c1 = c0 + 64 < m ? c0 + 64 : m;
            for (int64_t c = c0; c < c1; c++)
                for (int64_t i = i0; i < i1; i++) ut[i * m + c] = s[i] * vt2[i + c * lk];
        }
    for (int64_t i = 0; i < K; i++)
        for (int64_t c = 0; c < n; c++) u2[i * n + c] = s[i] * u2p[i * ln + c];

done:
    free(wt);
    free(s);
    free(u2p);
    free(vt2);
    if (st != DLOR_OK) {
        free(u2);
        free(ut);
        return st;
    }
    *ut_out = ut;
    *vt_out = u2;
    return DLOR_OK;
}
