/* factor_internal.h - shared internals of the DLoR factorizations (not installed API).
 *
 * Matrices inside lib/factor_*.c are column-major unless a comment says otherwise. That is
 * the layout in which the public storage convention is free: ut (K x dim, row-major) holds
 * the columns of U one after another, i.e. it *is* U stored column-major with leading
 * dimension dim, and likewise vt is V column-major.
 */
#ifndef DLOR_FACTOR_INTERNAL_H
#define DLOR_FACTOR_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "dlor_factor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What the Schur-basis construction did; filled by dlor__factor_ex for tests and
 * diagnostics. All fields are zero for other methods/bases. */
typedef struct dlor__mul_stats {
    int64_t complex_pairs;  /* 2x2 bumps in the real Schur form T */
    int64_t splits;         /* bumps straddling a factor boundary (fixed by a 2x2 shear) */
    int64_t swaps;          /* splits where indices j, j+1 were swapped so
                             * |T[j,j+1]| >= |T[j+1,j]| */
    double max_abs_t;       /* max |t|, t = T'[j+1,j] / T'[j,j], over the splits (bound: 2) */
    double max_shear_cond;  /* max 2-norm condition number of the shear S (bound: 2.618) */
    int sorted;             /* dgees was asked to put complex pairs first */
    int gees_info;          /* dgees info: 0, or K+1 / K+2 with K = min(m, n) (reordering
                             * incomplete, form still valid) */
} dlor__mul_stats;

/* dlor_factor with an optional stats record (may be NULL). */
dlor_status dlor__factor_ex(const char *name, const double *w, int64_t m, int64_t n,
                            const dlor_factor_opts *opts, dlor_factored *out,
                            dlor__mul_stats *stats, dlor_error *err);

/* The two constructions, called by dlor__factor_ex after every argument check.
 * mul: wp is the zero-padded D x D matrix, column-major, holding an m x n layer in its
 *      leading block (m = n = D for a square one); a is alpha (already rounded, non-zero);
 *      L = ceil(D / r). On success ut/vt (D*D doubles each, malloc'd) are returned.
 * add: w is the caller's m x n row-major matrix; a is alpha (already rounded, may be 0). */
dlor_status dlor__mul_schur(const char *name, double *wp, int64_t D, int64_t m, int64_t n,
                            int64_t r, int64_t L, double a, double **ut, double **vt,
                            dlor__mul_stats *stats, dlor_error *err);
dlor_status dlor__mul_random(const char *name, const double *wp, int64_t D, int64_t r,
                             int64_t L, double a, uint64_t seed, double **ut, double **vt,
                             dlor_error *err);
dlor_status dlor__add_svd(const char *name, const double *w, int64_t m, int64_t n, int64_t r,
                          int64_t L, double a, double **ut, double **vt, dlor_error *err);

/* The leading dimension to give LAPACK for a column-major matrix of 'rows' rows: rows + 8
 * when rows is a multiple of 32, else rows. A column stride of a multiple of 256 bytes maps
 * the columns onto few cache sets, and the unblocked parts of dgees and dgesdd (row-wise
 * reflector applications, bulge chasing) then miss in cache: with one OpenBLAS thread,
 * dgees of 1024 x 1024 took 1.17 s at ld 1024 and 0.70 s at ld 1032 (512: 0.29 / 0.16 s;
 * 2048: 6.4 / 4.9 s), dgesdd 0.49 / 0.39 s (512: 0.079 / 0.058 s); 384 and 800 were within
 * 1-15%. */
int64_t dlor__ld(int64_t rows);

/* malloc of count*size bytes with overflow check; NULL on overflow or failure. */
void *dlor__alloc(size_t count, size_t size);

/* alpha^e for an integer exponent e (negative alpha allowed). */
double dlor__ipow(double a, int64_t e);

/* Deterministic generator of the random basis: splitmix64 (dlor_splitmix.h) from state 'seed', uniforms from
 * the top 53 bits, normals by the Box-Muller cosine branch (one normal per two uniforms).
 * Fixed here so a given seed gives the same Z on every platform. */
typedef struct dlor__rng {
    uint64_t s;
} dlor__rng;
double dlor__rng_uniform(dlor__rng *g);  /* [0, 1) */
double dlor__rng_normal(dlor__rng *g);   /* N(0, 1) */

/* Estimate of ||W||_2 for an m x n row-major matrix (power iteration on W^T W from a fixed
 * start vector); exact 0 for W == 0. Returns -1 when memory runs out. */
double dlor__norm2_estimate(const double *w, int64_t m, int64_t n);

/* First non-finite entry of x[0..count), or -1. */
int64_t dlor__first_nonfinite(const double *x, size_t count);

#ifdef __cplusplus
}
#endif
#endif
