/* svd_top.h - the leading singular triplets of a dense matrix (internal, not installed API).
 *
 * A is p x q, column-major. dlor__svd_run computes l >= k triplets A ~ U diag(sig) V^T
 * (sig descending, U and V with orthonormal columns), either all of them with LAPACK's
 * dgesdd (l = min(p, q), "full") or the leading ones by a randomized block Krylov method
 * (l = k + oversampling). In both cases, for every j <= l, the rank-j matrix
 * U_j diag(sig_j) V_j^T equals U_j U_j^T A, so its squared error is exactly
 *
 *     ||A - U_j diag(sig_j) V_j^T||_F^2 = res + sum_{j <= i < l} sig_i^2,        (*)
 *
 * res = ||A||_F^2 - sum_{i < l} sig_i^2 >= 0 (0 for the full SVD). An approximate SVD
 * therefore never misreports the error of what it returns; it can only return a slightly
 * worse rank-j approximation than the optimum (svd_top.c: the stopping rule and the gaps
 * measured).
 */
#ifndef DLOR_SVD_TOP_H
#define DLOR_SVD_TOP_H

#include <stdint.h>

typedef struct dlor__svd {
    int64_t p, q, k;    /* A is p x q; k triplets are wanted */
    int64_t l;          /* triplets computed */
    int full;           /* 1: dgesdd (l = min(p, q)); 0: randomized block Krylov */
    int values_only;    /* sig and res only: u and vt are NULL */
    double *sig;        /* l, descending */
    double *u;          /* p x l, column-major, leading dimension ldu */
    double *vt;         /* l x q, column-major, leading dimension ldvt: row i is v_i */
    int64_t ldu, ldvt;  /* p and l, or padded for LAPACK's full SVD (dlor__ld) */
    double res;         /* ||A||_F^2 - sum sig_i^2 (0 for the full SVD) */
    int products;       /* randomized: products of A or A^T with a block, last run */
    int converged;      /* randomized: the stopping rule was met (not the depth limit) */
    int fell_back;      /* randomized: it was not, and dgesdd gave the triplets instead */
    int forced;         /* DLOR__SVD_KRYLOV: no fallback */
    int have;           /* u, vt hold a result (a later run may start from it) */
    /* scratch of the randomized path: Krylov basis Q (p x dmax), W = A^T Q (q x dmax),
     * Gram matrix W^T W (dmax x dmax) and its tridiagonal reduction (gs, tri), eigen-pairs,
     * small factors */
    int64_t dmax;
    double *qb, *wb, *gram, *gs, *ev, *x, *c, *tau, *r, *ur, *vrt, *tri;
    int *isuppz;
} dlor__svd;

#define DLOR__SVD_FULL 1    /* always dgesdd */
#define DLOR__SVD_VALUES 2  /* singular values only (with (*) for their errors) */
#define DLOR__SVD_KRYLOV 4  /* the randomized method wherever two blocks fit (to measure the
                             * crossover; see bench_compress --sweep) */

/* Chooses the method for the leading k of min(p, q) triplets (see svd_top.c for the
 * measured crossover; flags: the DLOR__SVD_ bits) and allocates. Returns 0, or -1 when
 * memory runs out (the struct is then zeroed). 1 <= k <= min(p, q) is the caller's
 * business. */
int dlor__svd_init(dlor__svd *s, int64_t p, int64_t q, int64_t k, int flags);

/* The triplets of a (p x q, leading dimension lda >= p). a is scratch: the full path
 * destroys it (give it a padded lda, dlor__ld(p), where p is a multiple of 32). With start
 * (may be s itself, or NULL) holding a result of the same shape, the randomized method
 * starts from its right singular vectors instead of a random block, which converges in
 * one or two steps for a nearby matrix (the beta search). Deterministic: the random block
 * comes from a fixed seed. Returns 0, a LAPACK info != 0 (LAPACKE's -1010 / -1011 when its
 * workspace could not be allocated), DLOR__SVD_NOMEM when memory runs out, or
 * DLOR__SVD_FAILED when the eigensolver did not deliver every vector. */
#define DLOR__SVD_NOMEM (-2000)
#define DLOR__SVD_FAILED (-2001)
int dlor__svd_run(dlor__svd *s, double *a, int64_t lda, const dlor__svd *start);

void dlor__svd_free(dlor__svd *s);

#endif
