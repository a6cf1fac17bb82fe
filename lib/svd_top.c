/* svd_top.c - the leading singular triplets of a dense matrix (see svd_top.h).
 *
 * Randomized block Krylov (Musco & Musco 2015; Halko, Martinsson & Tropp 2011 for the
 * randomized range finder it extends). With a block of b = k + oversampling columns,
 *     Q_0 = orth(A Omega),  Q_(j+1) = orth(A A^T Q_j, made orthogonal to Q_0 .. Q_j),
 * Omega q x b uniform in [-1, 1) from a fixed seed, or the previous run's V. The products
 * W_j = A^T Q_j are kept, so that after every block the Gram matrix W^T W = Q^T A A^T Q of
 * the whole basis grows by one block column, and its eigenvalues are the squared singular
 * values of Q^T A: the best rank-k approximation within the basis captures their k largest,
 * e = sum_{i < k} lambda_i, which only grows as the basis grows and never exceeds the
 * optimum's. The iteration stops when a block raised e by at most SVD_RTOL = 1e-3 times the
 * error f = ||A||^2 - e, i.e. lowered the rank-k error by at most 5e-4 of itself; then
 * Rayleigh-Ritz takes the l = b leading eigenvectors X of the Gram matrix, U_l = Q X, and
 * the SVD of A^T U_l = W X (QR, then the small l x l SVD) gives orthonormal triplets with
 * U U^T A = U diag(sig) V^T, hence (*) of svd_top.h.
 *
 * A Krylov basis converges much faster than subspace (power) iteration with the same number
 * of products where the spectrum is flat or clustered around sigma_k: on a 1024 x 1024
 * Gaussian matrix, k = 51, 16 products left the rank-k error 3e-4 above the optimum with
 * power iteration and 2e-6 with the Krylov basis. Measured where the rule stopped (rank-k
 * error above Eckart-Young's): Gaussian 1024 x 1024, k = 51: 1.4e-4 after 6 blocks;
 * I + rank 8 + noise (504 singular values within 1 +- 0.05), k = 25: 2e-4 after 3; spectra
 * decaying like (1 + i/8)^-0.8 or exp(-i/20), or clustered with a gap: < 1e-5 in 3-5.
 *
 * When: the basis may grow to SVD_MAX_BLOCKS blocks but no further than 0.6 min(p, q)
 * columns, because each block's eigenvalues cost 4/3 d^3 (d the basis size), as much as
 * the products once d nears min(p, q). The method is used when at least SVD_MIN_BLOCKS = 5
 * blocks fit (a flat spectrum needs 5-7) and min(p, q) >= 200; otherwise LAPACK's dgesdd,
 * which also takes over (after the products) when the basis is full before the stopping
 * rule is met. Measured (CPU time, one OpenBLAS thread, against dgesdd 'S' of the same
 * matrix): 1024 x 1024, k/K = 0.05: 0.11 x (decaying spectrum, 8 products) and 0.23 x
 * (Gaussian, 14); k/K = 0.1: 0.27 x, but with at most 4 blocks the Gaussian's error stayed
 * 1.7e-3 above the optimum; 384 x 384, 1536 x 384, 384 x 1536 at k/K = 0.05: 0.16-0.38 x,
 * at 0.1: 0.30-0.50 x. Below K = 200 dgesdd takes under ~10 ms, and the approximation buys
 * nothing.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>
#include <lapacke.h>

#include "factor_internal.h"
#include "svd_top.h"

#define SVD_RTOL 1e-3
#define SVD_MAX_BLOCKS 10
#define SVD_MIN_BLOCKS 5
#define SVD_MIN_DIM 200
#define SVD_SEED 0x243f6a8885a308d3ull

/* Oversampling: a few more columns than asked for make the leading k converge faster. */
static int64_t oversample(int64_t k)
{
    int64_t o = k / 10;
    return o < 10 ? 10 : o;
}

void dlor__svd_free(dlor__svd *s)
{
    if (!s) return;
    free(s->sig);
    free(s->u);
    free(s->vt);
    free(s->qb);
    free(s->wb);
    free(s->gram);
    free(s->gs);
    free(s->ev);
    free(s->x);
    free(s->c);
    free(s->tau);
    free(s->r);
    free(s->ur);
    free(s->vrt);
    free(s->isuppz);
    free(s->tri);
    memset(s, 0, sizeof *s);
}

int dlor__svd_init(dlor__svd *s, int64_t p, int64_t q, int64_t k, int flags)
{
    memset(s, 0, sizeof *s);
    int full = (flags & DLOR__SVD_FULL) != 0, vals = (flags & DLOR__SVD_VALUES) != 0;
    const int krylov = (flags & DLOR__SVD_KRYLOV) != 0;
    const int64_t K = p < q ? p : q;
    int64_t b = k + oversample(k);
    int64_t blocks = b <= K ? (int64_t)(0.6 * (double)K) / b : 0;
    if (blocks > SVD_MAX_BLOCKS) blocks = SVD_MAX_BLOCKS;
    if (full || (krylov ? blocks < 2 : K < SVD_MIN_DIM || blocks < SVD_MIN_BLOCKS)) {
        full = 1;
        b = K;
    }
    const int64_t l = b;
    s->p = p;
    s->q = q;
    s->k = k;
    s->l = l;
    s->full = full;
    s->values_only = vals;
    s->forced = krylov;
    s->sig = dlor__alloc((size_t)l, sizeof *s->sig);
    s->ldu = full ? dlor__ld(p) : p;
    s->ldvt = full ? dlor__ld(l) : l;
    if (!vals) {
        s->u = dlor__alloc((size_t)s->ldu * (size_t)l, sizeof *s->u);
        s->vt = dlor__alloc((size_t)s->ldvt * (size_t)q, sizeof *s->vt);
    }
    int ok = s->sig && (vals || (s->u && s->vt));
    if (ok && !full) {
        const size_t d = (size_t)(blocks * b);
        s->dmax = (int64_t)d;
        s->qb = dlor__alloc((size_t)p * d, sizeof *s->qb);
        s->wb = dlor__alloc((size_t)q * d, sizeof *s->wb);
        s->gram = dlor__alloc(d * d, sizeof *s->gram);
        s->gs = dlor__alloc(d * d, sizeof *s->gs);
        s->ev = dlor__alloc(d, sizeof *s->ev);
        s->x = dlor__alloc(d * (size_t)l, sizeof *s->x);
        s->c = dlor__alloc(d * (size_t)b, sizeof *s->c);
        s->tau = dlor__alloc((size_t)b, sizeof *s->tau);
        s->r = dlor__alloc((size_t)l * (size_t)l, sizeof *s->r);
        s->ur = dlor__alloc((size_t)l * (size_t)l, sizeof *s->ur);
        s->vrt = dlor__alloc((size_t)l * (size_t)l, sizeof *s->vrt);
        s->isuppz = dlor__alloc(2 * (size_t)l, sizeof *s->isuppz);
        s->tri = dlor__alloc(5 * d, sizeof *s->tri);
        ok = s->qb && s->wb && s->gram && s->gs && s->ev && s->x && s->c && s->tau && s->r &&
             s->ur && s->vrt && s->isuppz && s->tri;
    }
    if (!ok) {
        dlor__svd_free(s);
        return -1;
    }
    return 0;
}

/* Sum of squares of the p x q matrix x (leading dimension ld), with scaling (no overflow
 * for huge entries, no underflow for tiny ones). */
static double sumsq(const double *x, int64_t p, int64_t q, int64_t ld)
{
    double mx = 0.0;
    for (int64_t j = 0; j < q; j++)
        for (int64_t i = 0; i < p; i++)
            if (fabs(x[i + j * ld]) > mx) mx = fabs(x[i + j * ld]);
    if (mx == 0.0) return 0.0;
    double t = 0.0, inv = 1.0 / mx;
    for (int64_t j = 0; j < q; j++)
        for (int64_t i = 0; i < p; i++) {
            double v = x[i + j * ld] * inv;
            t += v * v;
        }
    return t * mx * mx;
}

/* y (p x b) <- orthonormal columns spanning y made orthogonal to q (p x d, orthonormal):
 * two passes of block Gram-Schmidt, then Householder QR. Where a column of y lay (nearly)
 * in span(q) - the basis already holds an invariant subspace, or A has low rank - QR fills
 * its place with an arbitrary direction, so the result is projected once more. */
static lapack_int orth_against(const double *q, int64_t p, int64_t d, double *y, int64_t b,
                               double *c, double *tau)
{
    double before = 0.0;
    for (int64_t j = 0; j < b; j++) before = fmax(before, cblas_dnrm2((int)p, y + j * p, 1));
    for (int pass = 0; pass < 2 && d > 0; pass++) {
        cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, (int)d, (int)b, (int)p, 1.0, q,
                    (int)p, y, (int)p, 0.0, c, (int)d);
        cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, (int)p, (int)b, (int)d, -1.0, q,
                    (int)p, c, (int)d, 1.0, y, (int)p);
    }
    lapack_int info = LAPACKE_dgeqrf(LAPACK_COL_MAJOR, (lapack_int)p, (lapack_int)b, y,
                                     (lapack_int)p, tau);
    if (info != 0) return info;
    double rmin = INFINITY;
    for (int64_t j = 0; j < b; j++) rmin = fmin(rmin, fabs(y[j + j * p]));
    info = LAPACKE_dorgqr(LAPACK_COL_MAJOR, (lapack_int)p, (lapack_int)b, (lapack_int)b, y,
                          (lapack_int)p, tau);
    if (info != 0 || d == 0 || !(rmin <= 1e-8 * before)) return info;
    cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, (int)d, (int)b, (int)p, 1.0, q, (int)p,
                y, (int)p, 0.0, c, (int)d);
    cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, (int)p, (int)b, (int)d, -1.0, q,
                (int)p, c, (int)d, 1.0, y, (int)p);
    info = LAPACKE_dgeqrf(LAPACK_COL_MAJOR, (lapack_int)p, (lapack_int)b, y, (lapack_int)p, tau);
    if (info != 0) return info;
    return LAPACKE_dorgqr(LAPACK_COL_MAJOR, (lapack_int)p, (lapack_int)b, (lapack_int)b, y,
                          (lapack_int)p, tau);
}

/* The basis filled up before the stopping rule was met (a flat spectrum with k not far
 * enough below min(p, q)): LAPACK's full SVD, of which the l leading triplets are kept and
 * the rest goes into res. */
static int full_fallback(dlor__svd *s, double *a, int64_t lda)
{
    const int64_t p = s->p, q = s->q, l = s->l, K = p < q ? p : q;
    const int64_t lu = dlor__ld(p), lv = dlor__ld(K);
    double *sg = dlor__alloc((size_t)K, sizeof *sg), *u = NULL, *vt = NULL;
    if (!s->values_only) {
        u = dlor__alloc((size_t)lu * (size_t)K, sizeof *u);
        vt = dlor__alloc((size_t)lv * (size_t)q, sizeof *vt);
    }
    if (!sg || (!s->values_only && (!u || !vt))) {
        free(sg);
        free(u);
        free(vt);
        return DLOR__SVD_NOMEM;
    }
    lapack_int info = s->values_only
                          ? LAPACKE_dgesdd(LAPACK_COL_MAJOR, 'N', (lapack_int)p, (lapack_int)q, a,
                                           (lapack_int)lda, sg, NULL, 1, NULL, 1)
                          : LAPACKE_dgesdd(LAPACK_COL_MAJOR, 'S', (lapack_int)p, (lapack_int)q, a,
                                           (lapack_int)lda, sg, u, (lapack_int)lu, vt,
                                           (lapack_int)lv);
    if (info == 0) {
        memcpy(s->sig, sg, (size_t)l * sizeof *sg);
        double res = 0.0;
        for (int64_t i = K - 1; i >= l; i--) res += sg[i] * sg[i];
        s->res = res;
        if (!s->values_only) {
            for (int64_t j = 0; j < l; j++) memcpy(s->u + j * p, u + j * lu, (size_t)p * sizeof *u);
            for (int64_t c = 0; c < q; c++)
                memcpy(s->vt + c * l, vt + c * lv, (size_t)l * sizeof *vt);
            s->have = 1;
        }
        s->fell_back = 1;
    }
    free(sg);
    free(u);
    free(vt);
    return (int)info;
}

int dlor__svd_run(dlor__svd *s, double *a, int64_t lda, const dlor__svd *start)
{
    const int64_t p = s->p, q = s->q, l = s->l, k = s->k, b = l, dmax = s->dmax;
    lapack_int info;
    const int warm = start && start->have && !start->full && !start->values_only &&
                     start->p == p && start->q == q && start->l == l;
    s->products = 0;
    s->converged = 0;
    s->fell_back = 0;
    s->res = 0.0;
    if (s->full) {
        info = s->values_only
                   ? LAPACKE_dgesdd(LAPACK_COL_MAJOR, 'N', (lapack_int)p, (lapack_int)q, a,
                                    (lapack_int)lda, s->sig, NULL, 1, NULL, 1)
                   : LAPACKE_dgesdd(LAPACK_COL_MAJOR, 'S', (lapack_int)p, (lapack_int)q, a,
                                    (lapack_int)lda, s->sig, s->u, (lapack_int)s->ldu, s->vt,
                                    (lapack_int)s->ldvt);
        s->have = info == 0 && !s->values_only;
        s->converged = 1;
        return (int)info;
    }
    const double fro2 = sumsq(a, p, q, lda);
    if (warm) {
        cblas_dgemm(CblasColMajor, CblasNoTrans, CblasTrans, (int)p, (int)b, (int)q, 1.0, a,
                    (int)lda, start->vt, (int)start->ldvt, 0.0, s->qb, (int)p);
    } else {
        dlor__rng g = {SVD_SEED};
        for (size_t i = 0; i < (size_t)q * (size_t)b; i++)
            s->wb[i] = 2.0 * dlor__rng_uniform(&g) - 1.0;
        cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, (int)p, (int)b, (int)q, 1.0, a,
                    (int)lda, s->wb, (int)q, 0.0, s->qb, (int)p);
    }
    s->products = 1;
    s->have = 0;
    if ((info = orth_against(NULL, p, 0, s->qb, b, s->c, s->tau)) != 0) return (int)info;

    double eprev = 0.0;
    int64_t d = 0; /* columns of the basis */
    for (;;) {
        /* W_j = A^T Q_j, and the Gram matrix's new block column W^T W_j. */
        double *qj = s->qb + d * p, *wj = s->wb + d * q;
        cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, (int)q, (int)b, (int)p, 1.0, a,
                    (int)lda, qj, (int)p, 0.0, wj, (int)q);
        s->products++;
        d += b;
        cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, (int)d, (int)b, (int)q, 1.0, s->wb,
                    (int)q, wj, (int)q, 0.0, s->gram + (d - b) * dmax, (int)dmax);
        for (int64_t j = 0; j < d; j++)
            memcpy(s->gs + j * d, s->gram + j * dmax, (size_t)(j + 1) * sizeof *s->gs);
        /* Eigenvalues via the tridiagonal form, which is kept for the eigenvectors. */
        double *td = s->tri, *te = td + dmax, *tt = te + dmax, *ec = tt + dmax;
        info = LAPACKE_dsytrd(LAPACK_COL_MAJOR, 'U', (lapack_int)d, s->gs, (lapack_int)d, td, te,
                              tt);
        if (info != 0) return (int)info;
        memcpy(s->ev, td, (size_t)d * sizeof *td);
        memcpy(ec, te, (size_t)(d - 1) * sizeof *te);
        info = LAPACKE_dsterf((lapack_int)d, s->ev, ec);
        if (info != 0) return (int)info;
        double e = 0.0;
        for (int64_t i = 0; i < k; i++) e += s->ev[d - 1 - i];
        double f = fro2 - e;
        /* Below 1e-13 ||A||^2 the Gram matrix's eigenvalues are rounding: the basis holds
         * A's range (low rank), or the error is under what can be resolved. */
        if ((d > b && e - eprev <= SVD_RTOL * f + 1e-13 * fro2) || f <= 1e-13 * fro2) {
            s->converged = 1;
            break;
        }
        if (d + b > dmax) break;
        eprev = e;
        /* Q_(j+1) from A W_j = A A^T Q_j. */
        double *y = s->qb + d * p;
        cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, (int)p, (int)b, (int)q, 1.0, a,
                    (int)lda, wj, (int)q, 0.0, y, (int)p);
        s->products++;
        if ((info = orth_against(s->qb, p, d, y, b, s->c, s->tau)) != 0) return (int)info;
    }

    if (!s->converged && !s->forced) return full_fallback(s, a, lda);

    if (s->values_only) {
        /* sigma_i^2 are the Gram matrix's eigenvalues (ascending in ev). */
        double cap = 0.0;
        for (int64_t i = 0; i < l; i++) {
            double v = s->ev[d - 1 - i];
            s->sig[i] = v > 0.0 ? sqrt(v) : 0.0;
            cap += s->sig[i] * s->sig[i];
        }
        s->res = fro2 - cap > 0.0 ? fro2 - cap : 0.0;
        return 0;
    }

    /* Rayleigh-Ritz: the l leading eigenvectors X of the Gram matrix, from those of its
     * tridiagonal form (the last check's, in gs and tri), U_l = Q X. */
    {
        double *td = s->tri, *te = td + dmax, *tt = te + dmax, *ec = tt + dmax, *dc = ec + dmax;
        memcpy(dc, td, (size_t)d * sizeof *td);
        memcpy(ec, te, (size_t)(d - 1) * sizeof *te);
        lapack_int found = 0;
        lapack_logical tryrac = 1;
        info = LAPACKE_dstemr(LAPACK_COL_MAJOR, 'V', 'I', (lapack_int)d, dc, ec, 0.0, 0.0,
                              (lapack_int)(d - l + 1), (lapack_int)d, &found, s->ev, s->x,
                              (lapack_int)d, (lapack_int)l, s->isuppz, &tryrac);
        if (info != 0) return (int)info;
        if (found != (lapack_int)l) return DLOR__SVD_FAILED;
        info = LAPACKE_dormtr(LAPACK_COL_MAJOR, 'L', 'U', 'N', (lapack_int)d, (lapack_int)l, s->gs,
                              (lapack_int)d, tt, s->x, (lapack_int)d);
        if (info != 0) return (int)info;
    }
    cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, (int)p, (int)l, (int)d, 1.0, s->qb,
                (int)p, s->x, (int)d, 0.0, s->u, (int)p);
    /* A^T U_l = W X = Q'' R'', R'' = Ur diag(sig) Vr^T: U = U_l Vr, V = Q'' Ur. Q'' is
     * formed in vt's memory (q x l), then moved to wb; qb holds U while it is formed. */
    double *z = s->vt;
    cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, (int)q, (int)l, (int)d, 1.0, s->wb,
                (int)q, s->x, (int)d, 0.0, z, (int)q);
    info = LAPACKE_dgeqrf(LAPACK_COL_MAJOR, (lapack_int)q, (lapack_int)l, z, (lapack_int)q,
                          s->tau);
    if (info != 0) return (int)info;
    for (int64_t j = 0; j < l; j++)
        for (int64_t i = 0; i < l; i++) s->r[i + j * l] = i <= j ? z[i + j * q] : 0.0;
    info = LAPACKE_dorgqr(LAPACK_COL_MAJOR, (lapack_int)q, (lapack_int)l, (lapack_int)l, z,
                          (lapack_int)q, s->tau);
    if (info != 0) return (int)info;
    info = LAPACKE_dgesdd(LAPACK_COL_MAJOR, 'S', (lapack_int)l, (lapack_int)l, s->r,
                          (lapack_int)l, s->sig, s->ur, (lapack_int)l, s->vrt, (lapack_int)l);
    if (info != 0) return (int)info;
    memcpy(s->wb, z, (size_t)q * (size_t)l * sizeof *s->wb);
    cblas_dgemm(CblasColMajor, CblasTrans, CblasTrans, (int)l, (int)q, (int)l, 1.0, s->ur,
                (int)l, s->wb, (int)q, 0.0, s->vt, (int)l);
    cblas_dgemm(CblasColMajor, CblasNoTrans, CblasTrans, (int)p, (int)l, (int)l, 1.0, s->u,
                (int)p, s->vrt, (int)l, 0.0, s->qb, (int)p);
    memcpy(s->u, s->qb, (size_t)p * (size_t)l * sizeof *s->u);

    double cap = 0.0;
    for (int64_t i = 0; i < l; i++) cap += s->sig[i] * s->sig[i];
    double res = fro2 - cap;
    if (res < 1e-6 * fro2) {
        /* fro2 - cap has lost the digits of a small remainder: measure A - U diag(sig) V^T
         * itself (a is scratch; qb is no longer needed). */
        for (int64_t i = 0; i < l; i++)
            for (int64_t r = 0; r < p; r++) s->qb[r + i * p] = s->u[r + i * p] * s->sig[i];
        cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, (int)p, (int)q, (int)l, -1.0,
                    s->qb, (int)p, s->vt, (int)l, 1.0, a, (int)lda);
        res = sumsq(a, p, q, lda);
    }
    s->res = res > 0.0 ? res : 0.0;
    s->have = 1;
    return 0;
}
