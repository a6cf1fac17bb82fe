/* compress_mul.c - the exact product of mf DLoR factors for W_hat = beta I + P Q^T.
 *
 * Work in the zero-padded D x D form (Remark 2): W~ = b I + P~ Q~^T with b = alpha^mf and,
 * for rectangular layers, the trailing diagonal removed by extra columns:
 *     P_e = [P~, -b e_K .. e_(D-1)],  Q_e = [Q~, e_K .. e_(D-1)],   s = k + D - K columns.
 *
 * Construction (rank mf r >= s, not 2 s). Let Z2 (D x kp, kp = min(mf r, D)) have
 * orthonormal columns spanning range(Q_e) and C complete it to an orthonormal basis. Since
 * Q_e^T C = 0, W~ C = b C: in the basis [C, Z2]
 *
 *     W~ = [[b I, X], [0, W2]],   W2 = Z2^T W~ Z2 = b I + Pk Qk^T,   X = C^T P_e Qk^T,
 *
 * with Pk = Z2^T P_e, Qk = Z2^T Q_e. Factor the small kp x kp W2 exactly into
 * M'_mf ... M'_1, M'_j = alpha I + U'_j V'_j^T (dlor__mul_schur, blocks of r). Lift
 * M_j = alpha I + U_j V_j^T with V_j = Z2 V'_j and U_j = Z2 U'_j + C x_j: in the basis
 * [C, Z2], M_j = [[alpha I, x_j V'_j^T], [0, M'_j]], and the product is block upper
 * triangular with diagonal blocks alpha^mf I = b I and W2, and upper-right block
 *     sum_j alpha^(mf-j) x_j V'_j^T (M'_(j-1) ... M'_1) = sum_j x_j F_j,
 * F_j (the block rows of a kp x kp F) = alpha^(mf-j) V'_j^T M'_(j-1) ... M'_1. Taking
 * x_j = C^T P_e g_j, the product equals W~ exactly when G F = Qk^T, G = [g_1 .. g_mf]. For
 * the Schur construction F = alpha^(mf-1) Y^-1 with Y its (sheared) Schur basis, whose
 * condition number is at most ~2.6, so the solve is harmless. Finally
 *     U = Z2 U' + (I - Z2 Z2^T) P_e G = Z2 (U' - Pk G) + P_e G,     V = Z2 V'.
 * F is formed scaled, F~ = F / alpha^(mf-1): block j is V'_j^T Pi_j with Pi_1 = I and
 * Pi_(j+1) = Pi_j + (1/alpha) U'_j V'_j^T Pi_j, which keeps every quantity O(1); then
 * G^T = alpha^(1-mf) F~^-T Qk.
 *
 * Cost: a QR of D x s, a dgees of kp x kp and O(D kp s) products - negligible next to the
 * SVDs of the fit when k << D.
 */
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>
#include <lapacke.h>

#include "dlor_compress.h"
#include "factor_internal.h"

static const char *lname(const char *name)
{
    return (name && *name) ? name : "(unnamed)";
}

dlor_status dlor_lowrank_to_mul(const char *name, const dlor_lowrank *l, int64_t mfactors,
                                dlor_dtype storage, dlor_factored *out, dlor_error *err)
{
    const char *nm = lname(name);
    if (!l || !out || !l->pt || !l->qt)
        return dlor_fail(err, DLOR_E_ARG, "layer '%s': NULL argument to lowrank_to_mul", nm);
    const int64_t m = l->m, n = l->n, k = l->k;
    const int64_t D = m > n ? m : n, K = m < n ? m : n;
    if (m <= 0 || n <= 0 || k < 1 || k > K || D > INT_MAX ||
        (uint64_t)D > SIZE_MAX / sizeof(double) / (uint64_t)D)
        return dlor_fail(err, DLOR_E_ARG, "layer '%s': inconsistent low-rank component", nm);
    if (mfactors < 1 || mfactors > D)
        return dlor_fail(err, DLOR_E_ARG,
                         "layer '%s': %lld factors requested; need 1 <= m <= D = %lld", nm,
                         (long long)mfactors, (long long)D);
    if (!dlor_dtype_is_weight(storage))
        return dlor_fail(err, DLOR_E_ARG, "layer '%s': storage dtype %s is not a float or quantized type", nm,
                         dlor_dtype_name(storage));
    const double beta = l->beta;
    if (!isfinite(beta) || dlor__first_nonfinite(l->pt, (size_t)k * (size_t)m) >= 0 ||
        dlor__first_nonfinite(l->qt, (size_t)k * (size_t)n) >= 0)
        return dlor_fail(err, DLOR_E_NUMERIC, "layer '%s': non-finite low-rank component", nm);
    const int64_t mf = mfactors;
    if (beta == 0.0 && mf > 1)
        return dlor_fail(err, DLOR_E_ARG,
                         "layer '%s': beta = 0: a product of %lld DLoR factors has alpha^%lld = "
                         "beta, so it needs beta != 0 (beta > 0, or beta < 0 with an odd number "
                         "of factors); use 1 factor", nm, (long long)mf, (long long)mf);
    if (beta < 0.0 && mf % 2 == 0)
        return dlor_fail(err, DLOR_E_ARG,
                         "layer '%s': beta = %.6g < 0 is not alpha^%lld for any real alpha: a "
                         "product of an even number of DLoR factors needs beta > 0; use an odd "
                         "number of factors", nm, beta, (long long)mf);

    /* alpha in the storage dtype first, so that storing it loses nothing. */
    double a = dlor_round_to_dtype(copysign(pow(fabs(beta), 1.0 / (double)mf), beta), storage);
    double b = dlor__ipow(a, mf);
    if (!isfinite(a) || !isfinite(b) || (beta != 0.0 && (a == 0.0 || b == 0.0)))
        return dlor_fail(err, DLOR_E_NUMERIC,
                         "layer '%s': alpha = beta^(1/%lld) = %g is not representable in %s", nm,
                         (long long)mf, a, dlor_dtype_name(storage));

    const int64_t s = k + (D - K), r = (s + mf - 1) / mf;
    const int64_t kp = mf * r < D ? mf * r : D;
    if (kp <= (mf - 1) * r)
        return dlor_fail(err, DLOR_E_ARG,
                         "layer '%s': %lld factors of rank %lld (the component has rank %lld) "
                         "need more than %lld columns, but D = %lld", nm, (long long)mf,
                         (long long)r, (long long)s, (long long)((mf - 1) * r), (long long)D);

    const size_t Ds = (size_t)D, kps = (size_t)kp, ss = (size_t)s;
    double *pe = dlor__alloc(Ds * ss, sizeof *pe);    /* P_e, D x s column-major */
    double *qe = dlor__alloc(Ds * ss, sizeof *qe);    /* Q_e */
    double *z2 = dlor__alloc(Ds * kps, sizeof *z2);   /* QR of Q_e, then Z2 */
    double *tau = dlor__alloc(ss, sizeof *tau);
    double *pk = dlor__alloc(kps * ss, sizeof *pk);   /* Z2^T P_e, kp x s */
    double *qk = dlor__alloc(kps * ss, sizeof *qk);   /* Z2^T Q_e, then G^T */
    double *w2 = dlor__alloc(kps * kps, sizeof *w2);  /* W2, then scratch */
    double *ft = dlor__alloc(kps * kps, sizeof *ft);  /* F~^T */
    double *pi = dlor__alloc(kps * kps, sizeof *pi);  /* Pi_j */
    double *tmp = dlor__alloc((size_t)r * kps, sizeof *tmp);
    lapack_int *ipiv = dlor__alloc(kps, sizeof *ipiv);
    double *ut = dlor__alloc(kps * Ds, sizeof *ut);
    double *vt = dlor__alloc(kps * Ds, sizeof *vt);
    double *u1 = NULL, *v1 = NULL;
    dlor_status st = DLOR_OK;
    lapack_int info;
    if (!pe || !qe || !z2 || !tau || !pk || !qk || !w2 || !ft || !pi || !tmp || !ipiv || !ut ||
        !vt) {
        st = dlor_fail(err, DLOR_E_NOMEM, "layer '%s': out of memory (m-factor product)", nm);
        goto done;
    }

    memset(pe, 0, Ds * ss * sizeof *pe);
    memset(qe, 0, Ds * ss * sizeof *qe);
    for (int64_t j = 0; j < k; j++) {
        memcpy(pe + j * D, l->pt + j * m, (size_t)m * sizeof *pe);
        memcpy(qe + j * D, l->qt + j * n, (size_t)n * sizeof *qe);
    }
    for (int64_t j = k; j < s; j++) {
        int64_t i = K + (j - k);
        pe[i + j * D] = -b;
        qe[i + j * D] = 1.0;
    }

    if (mf == 1) {
        /* A single factor is the component itself: alpha I + P_e Q_e^T. */
        memcpy(ut, pe, Ds * ss * sizeof *ut);
        memcpy(vt, qe, Ds * ss * sizeof *vt);
        goto finish;
    }

    /* Z2: the first s columns span range(Q_e); dorgqr continues them with orthonormal
     * columns of the complement up to kp (W~ acts as b there, so W2 just gains b I). */
    memset(z2, 0, Ds * kps * sizeof *z2);
    memcpy(z2, qe, Ds * ss * sizeof *z2);
    info = LAPACKE_dgeqrf(LAPACK_COL_MAJOR, (lapack_int)D, (lapack_int)s, z2, (lapack_int)D, tau);
    if (info == 0)
        info = LAPACKE_dorgqr(LAPACK_COL_MAJOR, (lapack_int)D, (lapack_int)kp, (lapack_int)s, z2,
                              (lapack_int)D, tau);
    if (info != 0) {
        st = dlor_fail(err, DLOR_E_NUMERIC, "layer '%s': QR of Q failed (info = %d)", nm,
                       (int)info);
        goto done;
    }
    cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, (int)kp, (int)s, (int)D, 1.0, z2, (int)D,
                pe, (int)D, 0.0, pk, (int)kp);
    cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, (int)kp, (int)s, (int)D, 1.0, z2, (int)D,
                qe, (int)D, 0.0, qk, (int)kp);
    /* W2 = b I + Pk Qk^T, then its exact mf-factor Schur construction. */
    memset(w2, 0, kps * kps * sizeof *w2);
    for (int64_t i = 0; i < kp; i++) w2[i + i * kp] = b;
    cblas_dgemm(CblasColMajor, CblasNoTrans, CblasTrans, (int)kp, (int)kp, (int)s, 1.0, pk,
                (int)kp, qk, (int)kp, 1.0, w2, (int)kp);
    st = dlor__mul_schur(nm, w2, kp, kp, kp, r, mf, a, &u1, &v1, NULL, err);
    if (st != DLOR_OK) goto done;

    /* F~^T, built block by block: block j of F~ is V'_j^T Pi_j (r_j x kp). */
    memset(pi, 0, kps * kps * sizeof *pi);
    for (int64_t i = 0; i < kp; i++) pi[i + i * kp] = 1.0;
    for (int64_t j = 0; j < mf; j++) {
        int64_t c0 = j * r, bj = kp - c0 < r ? kp - c0 : r;
        cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, (int)bj, (int)kp, (int)kp, 1.0,
                    v1 + c0 * kp, (int)kp, pi, (int)kp, 0.0, tmp, (int)bj);
        for (int64_t q = 0; q < bj; q++)
            for (int64_t c = 0; c < kp; c++) ft[c + (c0 + q) * kp] = tmp[q + c * bj];
        cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, (int)kp, (int)kp, (int)bj,
                    1.0 / a, u1 + c0 * kp, (int)kp, tmp, (int)bj, 1.0, pi, (int)kp);
    }
    /* G^T = alpha^(1-mf) F~^-T Qk: LU of F~^T, with a condition check (F~ is expected to be
     * as well conditioned as the Schur basis). */
    double anorm = LAPACKE_dlange(LAPACK_COL_MAJOR, '1', (lapack_int)kp, (lapack_int)kp, ft,
                                  (lapack_int)kp);
    info = LAPACKE_dgetrf(LAPACK_COL_MAJOR, (lapack_int)kp, (lapack_int)kp, ft, (lapack_int)kp,
                          ipiv);
    double rcond = 0.0;
    if (info == 0)
        info = LAPACKE_dgecon(LAPACK_COL_MAJOR, '1', (lapack_int)kp, ft, (lapack_int)kp, anorm,
                              &rcond);
    if (info != 0 || !(rcond >= 1e3 * DBL_EPSILON)) {
        st = dlor_fail(err, DLOR_E_NUMERIC,
                       "layer '%s': m-factor lift is singular (rcond %.3g, info %d)", nm, rcond,
                       (int)info);
        goto done;
    }
    info = LAPACKE_dgetrs(LAPACK_COL_MAJOR, 'N', (lapack_int)kp, (lapack_int)s, ft,
                          (lapack_int)kp, ipiv, qk, (lapack_int)kp);
    if (info != 0) {
        st = dlor_fail(err, DLOR_E_NUMERIC, "layer '%s': dgetrs failed (info = %d)", nm,
                       (int)info);
        goto done;
    }
    /* qk now holds alpha^(mf-1) G^T (kp x s); H = U' - Pk G into w2, U = Z2 H + P_e G. */
    double ga = dlor__ipow(a, 1 - mf);
    memcpy(w2, u1, kps * kps * sizeof *w2);
    cblas_dgemm(CblasColMajor, CblasNoTrans, CblasTrans, (int)kp, (int)kp, (int)s, -ga, pk,
                (int)kp, qk, (int)kp, 1.0, w2, (int)kp);
    cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, (int)D, (int)kp, (int)kp, 1.0, z2,
                (int)D, w2, (int)kp, 0.0, ut, (int)D);
    cblas_dgemm(CblasColMajor, CblasNoTrans, CblasTrans, (int)D, (int)kp, (int)s, ga, pe, (int)D,
                qk, (int)kp, 1.0, ut, (int)D);
    cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, (int)D, (int)kp, (int)kp, 1.0, z2,
                (int)D, v1, (int)kp, 0.0, vt, (int)D);

finish:;
    const int64_t Kc = mf == 1 ? s : kp, rc = mf == 1 ? s : r;
    if (dlor__first_nonfinite(ut, (size_t)Kc * Ds) >= 0 ||
        dlor__first_nonfinite(vt, (size_t)Kc * Ds) >= 0) {
        st = dlor_fail(err, DLOR_E_NUMERIC,
                       "layer '%s': the %lld factors are not finite (beta = %g, alpha = %g)", nm,
                       (long long)mf, beta, a);
        goto done;
    }
    memset(out, 0, sizeof *out);
    out->method = DLOR_METHOD_MUL;
    out->basis = DLOR_BASIS_SCHUR;
    out->m = m;
    out->n = n;
    out->dim_u = D;
    out->dim_v = D;
    out->rank = rc;
    out->k = Kc;
    out->factors = mf;
    out->alpha = a;
    out->ut = ut;
    out->vt = vt;
    ut = vt = NULL;

done:
    free(pe);
    free(qe);
    free(z2);
    free(tau);
    free(pk);
    free(qk);
    free(w2);
    free(ft);
    free(pi);
    free(tmp);
    free(ipiv);
    free(ut);
    free(vt);
    free(u1);
    free(v1);
    return st;
}
