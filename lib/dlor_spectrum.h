/* dlor_spectrum.h - singular-value spectra of stored layers, split into the
 * contributions of their parts (the paper's Figures 2c and 3c).
 *
 * For a matrix M = sum_l M_l with singular value decomposition
 * M = P diag(sigma) Q^T, the contribution of part M_l to the j-th singular
 * direction is p_j^T M_l q_j; the contributions of all parts add up to
 * sigma_j exactly. dlor uses it two ways:
 *   - identity / low-rank split of one component a*I + U V^T:
 *       identity_j = a * p_j^T I q_j,  lowrank_j = (P^T U)_j . (Q^T V)_j
 *   - per-branch split of an add (wide) layer W = sum_l (alpha I + U_l V_l^T).
 */
#ifndef DLOR_SPECTRUM_H
#define DLOR_SPECTRUM_H

#include <stdint.h>

#include "dlor_error.h"
#include "dlor_factor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Singular values of the m x n row-major matrix a, in descending order, into
 * s (min(m, n) values). LAPACK dgesdd, values only; a is not modified. */
dlor_status dlor_singular_values(const double *a, int64_t m, int64_t n, double *s, dlor_error *err);

/* A spectrum split over the parts of a matrix (all arrays malloc'd). */
typedef struct dlor_spectral_split {
    int64_t m, n;       /* the matrix split */
    int64_t k;          /* min(m, n): singular values */
    double *sigma;      /* k singular values, descending */
    double *identity;   /* k: contribution of the scaled identity (all of it, summed over branches) */
    double *lowrank;    /* k: contribution of U V^T (all columns); identity + lowrank = sigma */
    int64_t branches;   /* components (1 for a single a*I + U V^T) */
    double *branch;     /* branches x k, row-major: signed contribution of each component */
} dlor_spectral_split;

/* Splits M = c*I_{m x n} + U V^T, where U (m x K) and V (n x K) are given as
 * the K x m and K x n row-major arrays ut, vt, and components partition the
 * columns into 'branches' consecutive blocks of 'cols' columns (the last may
 * be shorter), each branch carrying c / branches of the identity. Use
 * branches = 1 for one component. */
dlor_status dlor_spectral_split_compute(int64_t m, int64_t n, double c, const double *ut, const double *vt, int64_t kcols,
                                        int64_t cols, int64_t branches, dlor_spectral_split *out, dlor_error *err);
void dlor_spectral_split_free(dlor_spectral_split *s);

/* Everything the report shows about one stored layer. */
typedef struct dlor_layer_spectrum {
    int64_t m, n, k;          /* layer shape, k = min(m, n) */
    double *dense;            /* k singular values of the dense W (NULL when no W was given) */
    double *rebuilt;          /* k singular values of W_hat rebuilt from the factors */
    /* the low-rank part: U V^T of an add layer, U_1 V_1^T of the first factor of a mul layer */
    double *lowrank_sv;       /* its nonzero-rank singular values (n_lowrank of them, descending) */
    int64_t n_lowrank;
    double identity_sv;       /* every singular value of the identity part: |L alpha| (add), |alpha| (mul factor) */
    /* add: the split of W_hat over its L components (identity / low-rank and per branch);
     * mul: the identity / low-rank split of the first factor M_1 = alpha I + U_1 V_1^T (D x D) */
    dlor_spectral_split split;
    int split_is_factor;      /* 1: split is of M_1 (mul), 0: of W_hat itself (add) */
} dlor_layer_spectrum;

/* Rebuilds f (dlor_reconstruct) and computes its spectra; w is the dense
 * m x n layer (row-major, may be NULL). */
dlor_status dlor_layer_spectrum_compute(const dlor_factored *f, const double *w, dlor_layer_spectrum *s,
                                        dlor_error *err);
void dlor_layer_spectrum_free(dlor_layer_spectrum *s);

#ifdef __cplusplus
}
#endif
#endif
