/* factor_mul.c - Theorem 4: W~ = M_L ... M_1, M_k = a I + U_k V_k^T, L = ceil(D / r).
 *
 * For any invertible basis Z let A = Z^-1 W Z have the block LU A = L_b U_b (blocks of r,
 * no pivoting between blocks), R = L_b^-1 Z^-1 and C = (W - a^L I) Z. Then
 *
 *     M_k = a I + a^(1-L) C[:, block k] R[block k, :]
 *
 * because the partial products are P_k = M_k ... M_1 = a^(k-L) Z B_k Z^-1 with
 * B_k = a^L I + (A - a^L I) Pi_{<=k}: row block k of L_b^-1 maps B_(k-1) to a^L times the
 * block-k rows of the identity (L_b^-1 A = U_b is zero left of the block diagonal, and
 * L_b^-1 is the identity on and right of it). This is the paper's construction
 * (U_k = a^(k-L) C_k, V_k = P_(k-1)^-T D_k, Appendix C.3) with the scale a^(1-L) moved
 * entirely into U_k: the same M_k, but every factor stays O(1) instead of spanning
 * a^(1-L) .. 1, which matters once the factors are rounded to float32.
 *
 * We store U_k = a^(1-L) C[:, block k] and V_k = R[block k, :]^T, column-major, which is
 * exactly the ut / vt layout of dlor_factored.
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>
#include <lapacke.h>

#include "factor_internal.h"

static lapack_logical select_complex(const double *wr, const double *wi)
{
    (void)wr;
    return *wi != 0.0;
}

/* One bump of T split by a factor boundary: indices j (last of a block) and j + 1. */
typedef struct split_fix {
    int64_t j;
    double kappa;  /* shear S = [[1, 0], [kappa, 1]] on indices j, j+1 */
    double t;      /* T'[j+1, j] / T'[j, j] after the shear */
} split_fix;

static void swap_indices(double *t, double *z, int64_t D, int64_t ld, int64_t j)
{
    /* A symmetric permutation keeps Z orthogonal and T quasi-triangular: rows j, j+1 are
     * zero left of column j and columns j, j+1 are zero below row j+1. */
    cblas_dswap((int)D, z + j * ld, 1, z + (j + 1) * ld, 1);
    cblas_dswap((int)D, t + j, (int)ld, t + j + 1, (int)ld);
    cblas_dswap((int)D, t + j * ld, 1, t + (j + 1) * ld, 1);
}

/*
 * Real Schur basis: W = Z T Z^T. With Z orthogonal A = T, which is block upper triangular
 * whenever no 2x2 bump of T crosses a block boundary; then L_b = I, R = Z^T and
 *     U_k = a^(1-L) Z (T - a^L I)[:, block k],   V_k = Z[:, block k].
 * No solve is involved, so singular W is fine.
 *
 * A bump at (j, j+1) that a boundary splits is fixed by a basis change inside the bump.
 * dgees standardises it to [[p, b], [c, p]] with b c < 0. After swapping so |b| >= |c|, the
 * shear S = [[1, 0], [kappa, 1]] with kappa = sgn(p) sgn(b) (sqrt(p^2 + |bc|) - |p|) / |b|
 * gives T' = S^-1 T S with T'[j, j] = sgn(p) sqrt(p^2 + |bc|) (= +-|lambda|, never 0) and
 * T'[j+1, j] = c - b kappa^2, so that
 *     t = T'[j+1, j] / T'[j, j] = -2 |c| / (sqrt(p^2 + |bc|) + |p|),  |t| <= 2 |c| / sqrt(|bc|) <= 2,
 *     |kappa| = |c| / (sqrt(p^2 + |bc|) + |p|) <= 1,  cond(S) <= ((1 + sqrt 5) / 2)^2 = 2.618.
 * A = T' then has one entry below the block diagonal, at (j+1, j). Row j+1 of L_b^-1 is
 * e_{j+1}^T - t e_j^T (row j of the leading quasi-triangular part is T'[j, j] e_j^T, so this
 * row annihilates everything left of the block), every other row is e_i^T. Hence only row
 * j+1 of R = L_b^-1 Z'^-1 changes, and with Z' = Z S, Z'^-1 = S^-1 Z^T:
 *     R[j, :] = Z[:, j]^T,   R[j+1, :] = Z[:, j+1]^T - (kappa + t) Z[:, j]^T,
 *     Z'[:, j] = Z[:, j] + kappa Z[:, j+1],   C = Z' (T' - a^L I).
 * Different splits touch disjoint index pairs, so their corrections are independent.
 */
/*
 * The real Schur form W~ = Z T Z^T of the zero-padded D x D matrix (Remark 2), W in its
 * leading m x n block, with only the K x K block A (K = min(m, n)) given to dgees:
 *   wide (m < n):  W~ = [A B; 0 0]            Z = diag(Z1, I)    T = [T1  Z1^T B; 0 0]
 *   tall (m > n):  W~ = [A 0; C 0], which the permutation taking the m - n zero columns
 *                  first makes [0 C; 0 A]:      Z = [0 Z1; I 0]    T = [0  C Z1; 0 T1]
 * with A = Z1 T1 Z1^T. Both are real Schur forms. Handing dgees all of W~ instead costs
 * little more for wide layers, but for tall ones the m - n zero eigenvalues sit ahead of
 * A's in the Hessenberg order, and sorting complex pairs first moves every one of A's
 * pairs past all of them: on 1536 x 384 at r = 256, 5.8 s of dgees (1.2% of it the Schur
 * form itself) against 0.24 s for 384 x 1536, so converting the tall layer took 13x as long
 * as the wide one (6.0 s vs 0.45 s CPU, one thread). In T above, tall layers keep the
 * zeros first and A's eigenvalues after them; with m - n odd a bump can then straddle a
 * factor boundary even for even r, and the shear below takes care of it.
 * sort: ask dgees for complex pairs first (in T1). Returns dgees's info.
 */
static lapack_int schur_padded(double *t, double *z, int64_t D, int64_t ld, int64_t m, int64_t n,
                               int sort, double *wr, double *wi)
{
    lapack_int sdim = 0;
    if (m == n)
        return LAPACKE_dgees(LAPACK_COL_MAJOR, 'V', sort ? 'S' : 'N',
                             sort ? select_complex : NULL, (lapack_int)D, t, (lapack_int)ld,
                             &sdim, wr, wi, z, (lapack_int)ld);
    const int64_t K = m < n ? m : n, E = D - K, lk = dlor__ld(K);
    double *t1 = dlor__alloc((size_t)lk * (size_t)K, sizeof *t1);
    double *z1 = dlor__alloc((size_t)lk * (size_t)K, sizeof *z1);
    double *x = dlor__alloc((size_t)K * (size_t)E, sizeof *x);
    if (!t1 || !z1 || !x) {
        free(t1);
        free(z1);
        free(x);
        return -1000; /* out of memory: below any LAPACK info */
    }
    for (int64_t j = 0; j < K; j++) memcpy(t1 + j * lk, t + j * ld, (size_t)K * sizeof *t1);
    lapack_int info = LAPACKE_dgees(LAPACK_COL_MAJOR, 'V', sort ? 'S' : 'N',
                                    sort ? select_complex : NULL, (lapack_int)K, t1,
                                    (lapack_int)lk, &sdim, wr, wi, z1, (lapack_int)lk);
    if (info < 0 || (info > 0 && info <= (lapack_int)K)) goto out;
    for (int64_t j = 0; j < D; j++) memset(z + j * ld, 0, (size_t)D * sizeof *z);
    if (m < n) {
        /* X = Z1^T B (K x E), B = t[0:K, K:D]; rows K.. of t are the zero padding. */
        cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, (int)K, (int)E, (int)K, 1.0, z1,
                    (int)lk, t + K * ld, (int)ld, 0.0, x, (int)K);
        for (int64_t j = 0; j < K; j++) memcpy(t + j * ld, t1 + j * lk, (size_t)K * sizeof *t);
        for (int64_t j = 0; j < E; j++) memcpy(t + (K + j) * ld, x + j * K, (size_t)K * sizeof *t);
        for (int64_t j = 0; j < K; j++) memcpy(z + j * ld, z1 + j * lk, (size_t)K * sizeof *z);
        for (int64_t i = K; i < D; i++) z[i + i * ld] = 1.0;
    } else {
        /* X = C Z1 (E x K), C = t[K:D, 0:K]; columns K.. of t are the zero padding. */
        cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, (int)E, (int)K, (int)K, 1.0, t + K,
                    (int)ld, z1, (int)lk, 0.0, x, (int)E);
        for (int64_t j = 0; j < D; j++) memset(t + j * ld, 0, (size_t)D * sizeof *t);
        for (int64_t j = 0; j < K; j++) {
            memcpy(t + (E + j) * ld, x + j * E, (size_t)E * sizeof *t);
            memcpy(t + E + (E + j) * ld, t1 + j * lk, (size_t)K * sizeof *t);
            memcpy(z + (E + j) * ld, z1 + j * lk, (size_t)K * sizeof *z);
        }
        for (int64_t i = 0; i < E; i++) z[K + i + i * ld] = 1.0;
    }
out:
    free(t1);
    free(z1);
    free(x);
    return info;
}

dlor_status dlor__mul_schur(const char *name, double *wp, int64_t D, int64_t m, int64_t n,
                            int64_t r, int64_t L, double a, double **ut_out, double **vt_out,
                            dlor__mul_stats *stats, dlor_error *err)
{
    const size_t dd = (size_t)D * (size_t)D;
    /* The cost is dgees's: at N = 512-1024 (one OpenBLAS thread) its QR iterations (dhseqr;
     * the bulge chase dlaqr5 alone a quarter of the time) take ~80%, the Hessenberg reduction
     * and its Q most of the rest, the reordering and the product below a few percent. With T
     * and Z on a padded leading dimension (dlor__ld; with N itself it runs 1.7x longer at 1024
     * and 1.8x at 512) dgees takes 1.4x dgesdd's time at 1024 and 2x at 256-512. */
    const int64_t ld = dlor__ld(D);
    const size_t dl = (size_t)ld * (size_t)D;
    double *t = dlor__alloc(dl, sizeof *t);
    double *z = dlor__alloc(dl, sizeof *z);
    double *wr = dlor__alloc((size_t)D, sizeof *wr);
    double *wi = dlor__alloc((size_t)D, sizeof *wi);
    double *ut = dlor__alloc(dd, sizeof *ut);
    double *vt = dlor__alloc(dd, sizeof *vt);
    split_fix *fix = dlor__alloc((size_t)L, sizeof *fix);
    dlor_status st = DLOR_OK;
    if (!t || !z || !wr || !wi || !ut || !vt || !fix) {
        st = dlor_fail(err, DLOR_E_NOMEM, "layer '%s': out of memory (Schur basis, D = %lld)", name,
                       (long long)D);
        goto done;
    }

    if (L == 1) {
        /* One factor, M_1 = a I + U V^T, needs no basis: V = I, U = W~ - a I. */
        for (int64_t j = 0; j < D; j++) {
            memcpy(ut + j * D, wp + j * D, (size_t)D * sizeof *ut);
            memset(vt + j * D, 0, (size_t)D * sizeof *vt);
            ut[j + j * D] -= a;
            vt[j + j * D] = 1.0;
        }
        goto done;
    }

    /* For even r, complex pairs first means every bump starts at an even index and no
     * multiple of r can fall inside one: no shear is needed at all (the reordering costs
     * 0-10% of dgees, see bench_factor). For odd r reordering cannot help, so it is skipped. */
    int sort = (r % 2 == 0) && L > 1;
    for (int64_t j = 0; j < D; j++) memcpy(t + j * ld, wp + j * D, (size_t)D * sizeof *t);
    lapack_int info = schur_padded(t, z, D, ld, m, n, sort, wr, wi);
    if (info == -1000) {
        st = dlor_fail(err, DLOR_E_NOMEM, "layer '%s': out of memory (Schur basis, D = %lld)", name,
                       (long long)D);
        goto done;
    }
    /* info = K+1 / K+2: the reordering stopped early or roundoff moved an eigenvalue across the
     * SELECT test. T and Z are still a valid real Schur form (dtrsen only ever applies
     * completed orthogonal swaps); any bump left straddling a boundary is handled by the
     * shear below, so this is not an error. */
    const int64_t Kg = m < n ? m : n;
    if (info < 0 || (info > 0 && info <= (lapack_int)Kg)) {
        st = dlor_fail(err, DLOR_E_NUMERIC,
                       "layer '%s': Schur decomposition failed (LAPACKE_dgees info = %d)", name,
                       (int)info);
        goto done;
    }
    if (stats) {
        stats->sorted = sort;
        stats->gees_info = (int)info;
        for (int64_t i = 0; i + 1 < D; i++)
            if (t[(i + 1) + i * ld] != 0.0) stats->complex_pairs++;
    }

    int64_t nfix = 0;
    for (int64_t k = 1; k < L; k++) {
        int64_t j = k * r - 1;
        if (t[(j + 1) + j * ld] == 0.0) continue;
        if (fabs(t[j + (j + 1) * ld]) < fabs(t[(j + 1) + j * ld])) {
            swap_indices(t, z, D, ld, j);
            if (stats) stats->swaps++;
        }
        double p = 0.5 * (t[j + j * ld] + t[(j + 1) + (j + 1) * ld]);
        double b = t[j + (j + 1) * ld], c = t[(j + 1) + j * ld];
        double s = sqrt(p * p + fabs(b * c));
        /* |kappa| = (s - |p|) / |b| = |c| / (s + |p|), the latter free of cancellation. */
        double kap = fabs(c) / (s + fabs(p));
        if ((p < 0.0) != (b < 0.0)) kap = -kap;
        /* T' = S^-1 T S: column j += kappa * column j+1, then row j+1 -= kappa * row j. */
        cblas_daxpy((int)D, kap, t + (j + 1) * ld, 1, t + j * ld, 1);
        cblas_daxpy((int)D, -kap, t + j, (int)ld, t + j + 1, (int)ld);
        double tjj = t[j + j * ld];
        if (tjj == 0.0 || !isfinite(tjj)) {
            st = dlor_fail(err, DLOR_E_NUMERIC,
                           "layer '%s': degenerate 2x2 Schur block at index %lld (T = [[%g, %g], "
                           "[%g, %g]])", name, (long long)j, p, b, c, p);
            goto done;
        }
        fix[nfix].j = j;
        fix[nfix].kappa = kap;
        fix[nfix].t = t[(j + 1) + j * ld] / tjj;
        if (stats) {
            double ak = fabs(kap), sq = 0.5 * (ak + sqrt(ak * ak + 4.0));
            stats->splits++;
            if (fabs(fix[nfix].t) > stats->max_abs_t) stats->max_abs_t = fabs(fix[nfix].t);
            if (sq * sq > stats->max_shear_cond) stats->max_shear_cond = sq * sq;
        }
        nfix++;
    }

    /* V = R^T: Z (after the swaps) with the corrected columns j+1; then Z becomes Z' = Z S. */
    for (int64_t j = 0; j < D; j++) memcpy(vt + j * D, z + j * ld, (size_t)D * sizeof *vt);
    for (int64_t q = 0; q < nfix; q++) {
        int64_t j = fix[q].j;
        cblas_daxpy((int)D, -(fix[q].kappa + fix[q].t), z + j * ld, 1, vt + (j + 1) * D, 1);
        cblas_daxpy((int)D, fix[q].kappa, z + (j + 1) * ld, 1, z + j * ld, 1);
    }

    /* U = a^(1-L) Z' (T' - a^L I). T' - a^L I is upper triangular but for the entries below
     * the diagonal of its 2x2 bumps: a triangular product (half a dgemm's flops) plus one
     * column update per bump. */
    const double aL = dlor__ipow(a, L), s1 = dlor__ipow(a, 1 - L);
    for (int64_t i = 0; i < D; i++) t[i + i * ld] -= aL;
    for (int64_t j = 0; j < D; j++) memcpy(ut + j * D, z + j * ld, (size_t)D * sizeof *ut);
    cblas_dtrmm(CblasColMajor, CblasRight, CblasUpper, CblasNoTrans, CblasNonUnit, (int)D, (int)D,
                s1, t, (int)ld, ut, (int)D);
    for (int64_t i = 0; i + 1 < D; i++) {
        double c = t[(i + 1) + i * ld];
        if (c != 0.0) cblas_daxpy((int)D, s1 * c, z + (i + 1) * ld, 1, ut + i * D, 1);
    }

done:
    free(t);
    free(z);
    free(wr);
    free(wi);
    free(fix);
    if (st != DLOR_OK) {
        free(ut);
        free(vt);
        return st;
    }
    *ut_out = ut;
    *vt_out = vt;
    return DLOR_OK;
}

/* Solves X S = Y in place (Y is rows x b, leading dimension ldy) given dgetrf's S = P L U:
 * X = Y U^-1 L^-1 P^T, and right-multiplying by P^T = P_(b-1) ... P_0 swaps columns in
 * reverse pivot order. */
static void solve_right(const double *lu, const lapack_int *ipiv, int64_t b, double *y,
                        int64_t rows, int64_t ldy)
{
    cblas_dtrsm(CblasColMajor, CblasRight, CblasUpper, CblasNoTrans, CblasNonUnit, (int)rows,
                (int)b, 1.0, lu, (int)b, y, (int)ldy);
    cblas_dtrsm(CblasColMajor, CblasRight, CblasLower, CblasNoTrans, CblasUnit, (int)rows, (int)b,
                1.0, lu, (int)b, y, (int)ldy);
    for (int64_t i = b - 1; i >= 0; i--) {
        int64_t p = (int64_t)ipiv[i] - 1;
        if (p != i) cblas_dswap((int)rows, y + i * ldy, 1, y + p * ldy, 1);
    }
}

/*
 * The paper's basis: Z Gaussian (seeded, entries N(0, 1/D), filled column by column from
 * dlor__rng with state 'seed'). A = Z^-1 W Z is factored by a right-looking block LU with
 * blocks of r and pivoting only inside a block; a singular leading block minor is exactly
 * the paper's det M_k(Z) = 0 breakdown. O(D^3), but the accuracy depends on cond(Z) and
 * on the pivots, so this is for reproduction and as an independent oracle, not the default.
 */
dlor_status dlor__mul_random(const char *name, const double *wp, int64_t D, int64_t r,
                             int64_t L, double a, uint64_t seed, double **ut_out,
                             double **vt_out, dlor_error *err)
{
    const size_t dd = (size_t)D * (size_t)D;
    double *z = dlor__alloc(dd, sizeof *z);
    double *wz = dlor__alloc(dd, sizeof *wz);     /* W Z, then becomes U */
    double *lu = dlor__alloc(dd, sizeof *lu);     /* LU of Z */
    double *am = dlor__alloc(dd, sizeof *am);     /* A, then its block LU */
    double *zinv = dlor__alloc(dd, sizeof *zinv); /* Z^-1, then R */
    double *vt = dlor__alloc(dd, sizeof *vt);
    double *sb = dlor__alloc((size_t)r * (size_t)r, sizeof *sb);
    lapack_int *ipiv = dlor__alloc((size_t)D, sizeof *ipiv);
    dlor_status st = DLOR_OK;
    lapack_int info;
    if (!z || !wz || !lu || !am || !zinv || !vt || !sb || !ipiv) {
        st = dlor_fail(err, DLOR_E_NOMEM, "layer '%s': out of memory (random basis, D = %lld)",
                       name, (long long)D);
        goto done;
    }

    dlor__rng g = {seed};
    double zs = 1.0 / sqrt((double)D);
    for (size_t i = 0; i < dd; i++) z[i] = zs * dlor__rng_normal(&g);

    cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, (int)D, (int)D, (int)D, 1.0, wp,
                (int)D, z, (int)D, 0.0, wz, (int)D);
    memcpy(lu, z, dd * sizeof *lu);
    info = LAPACKE_dgetrf(LAPACK_COL_MAJOR, (lapack_int)D, (lapack_int)D, lu, (lapack_int)D, ipiv);
    if (info != 0) {
        st = dlor_fail(err, DLOR_E_NUMERIC,
                       "layer '%s': random basis Z (seed %llu) is singular (dgetrf info = %d)",
                       name, (unsigned long long)seed, (int)info);
        goto done;
    }
    memcpy(am, wz, dd * sizeof *am);
    memset(zinv, 0, dd * sizeof *zinv);
    for (int64_t i = 0; i < D; i++) zinv[i + i * D] = 1.0;
    info = LAPACKE_dgetrs(LAPACK_COL_MAJOR, 'N', (lapack_int)D, (lapack_int)D, lu, (lapack_int)D,
                          ipiv, am, (lapack_int)D);
    if (info == 0)
        info = LAPACKE_dgetrs(LAPACK_COL_MAJOR, 'N', (lapack_int)D, (lapack_int)D, lu,
                              (lapack_int)D, ipiv, zinv, (lapack_int)D);
    if (info != 0) {
        st = dlor_fail(err, DLOR_E_NUMERIC, "layer '%s': dgetrs failed (info = %d)", name,
                       (int)info);
        goto done;
    }

    /* Block LU of A. The last diagonal block is never inverted, so W may be singular as long
     * as the first L-1 leading block minors are not. */
    const double anorm_a =
        LAPACKE_dlange(LAPACK_COL_MAJOR, '1', (lapack_int)D, (lapack_int)D, am, (lapack_int)D);
    for (int64_t k = 0; k + 1 < L; k++) {
        int64_t s0 = k * r, b = r, off = s0 + b, rest = D - off;
        for (int64_t c = 0; c < b; c++)
            memcpy(sb + c * b, am + s0 + (s0 + c) * D, (size_t)b * sizeof *sb);
        double anorm = LAPACKE_dlange(LAPACK_COL_MAJOR, '1', (lapack_int)b, (lapack_int)b, sb,
                                      (lapack_int)b);
        info = LAPACKE_dgetrf(LAPACK_COL_MAJOR, (lapack_int)b, (lapack_int)b, sb, (lapack_int)b,
                              ipiv);
        double rcond = 0.0;
        if (info == 0 && anorm > 0.0) {
            info = LAPACKE_dgecon(LAPACK_COL_MAJOR, '1', (lapack_int)b, sb, (lapack_int)b, anorm,
                                  &rcond);
            if (info != 0) rcond = 0.0;
        }
        /* rcond * ||S||_1 estimates sigma_min(S) (within a factor b). A rank-deficient minor
         * shows up as a pivot block of rounding noise, ~1e-17 ||A|| in practice, whose own
         * rcond can look healthy; so the pivot is measured against ||A|| too. Healthy
         * Gaussian bases give 1e-5 .. 1e-1 (N <= 64). */
        double piv = rcond * anorm / anorm_a;
        if (info != 0 || !(rcond >= 1e-14) || !(piv >= 1e3 * (double)D * DBL_EPSILON)) {
            st = dlor_fail(err, DLOR_E_NUMERIC,
                           "layer '%s': random basis breaks down at block %lld: leading block "
                           "minor singular (pivot block sigma_min/||A|| ~ %.2g, seed %llu); use "
                           "--basis schur", name, (long long)k, info != 0 ? 0.0 : piv,
                           (unsigned long long)seed);
            goto done;
        }
        double *lk = am + off + s0 * D; /* A(>k, k) becomes L_b(>k, k) = A(>k, k) S_kk^-1 */
        solve_right(sb, ipiv, b, lk, rest, D);
        cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, (int)rest, (int)rest, (int)b, -1.0,
                    lk, (int)D, am + s0 + off * D, (int)D, 1.0, am + off + off * D, (int)D);
    }
    /* Keep only L_b's strictly lower part (its diagonal blocks are the identity), then
     * R = L_b^-1 Z^-1. */
    for (int64_t k = 0; k < L; k++) {
        int64_t s0 = k * r, b = (D - s0) < r ? (D - s0) : r;
        for (int64_t c = 0; c < b; c++)
            for (int64_t i = c + 1; i < b; i++) am[(s0 + i) + (s0 + c) * D] = 0.0;
    }
    cblas_dtrsm(CblasColMajor, CblasLeft, CblasLower, CblasNoTrans, CblasUnit, (int)D, (int)D, 1.0,
                am, (int)D, zinv, (int)D);
    /* vt is V column-major = R row-major. */
    for (int64_t i = 0; i < D; i++)
        for (int64_t c = 0; c < D; c++) vt[i * D + c] = zinv[i + c * D];

    /* U = a^(1-L) (W Z - a^L Z). */
    double aL = dlor__ipow(a, L), scale = dlor__ipow(a, 1 - L);
    for (size_t i = 0; i < dd; i++) wz[i] = scale * (wz[i] - aL * z[i]);

done:
    free(z);
    free(lu);
    free(am);
    free(zinv);
    free(sb);
    free(ipiv);
    if (st != DLOR_OK) {
        free(wz);
        free(vt);
        return st;
    }
    *ut_out = wz;
    *vt_out = vt;
    return DLOR_OK;
}
