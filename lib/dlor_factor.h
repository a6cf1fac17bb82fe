/* dlor_factor.h - exact DLoR factorizations of one dense layer (double precision).
 *
 * A DLoR component is M = alpha*I + U V^T with U, V of r columns.
 *
 *   mul (Theorem 4):  W~ = M_L ... M_1,   L = ceil(D/r),  D = max(m, n)
 *       W~ is W (m x n) zero-padded to D x D (Remark 2); y = W x is computed
 *       as  x~ = [x; 0],  y~ = M_L(...(M_1 x~)),  y = y~[0:m].
 *       Factor l uses columns [l*r, min((l+1)*r, D)) of U and V; all factors
 *       share one alpha.
 *   add (Theorem 3):  W = sum_l M_l,  M_l = alpha*I_{m x n} + U_l V_l^T,
 *       L = ceil(min(m,n)/r); U is m x K, V is n x K, K = min(m, n).
 *       I_{m x n} has ones on the leading diagonal.
 *
 *   Compressed forms use the same layouts with fewer columns: K <= D (mul)
 *   or K <= min(m, n) (add), L = ceil(K / r); e.g. beta*I + P Q^T of rank k
 *   is add with K = r = k, L = 1.
 *
 * Storage convention (shared with the .dlor container): U and V are kept
 * transposed, as K x dim row-major arrays "ut" and "vt", so row j of ut is
 * column j of U and the columns of factor l are a contiguous block of rows.
 *
 * Everything here is computed in double; 'storage' only decides how alpha
 * is rounded before the factors are computed (so that storing alpha in that
 * dtype loses nothing).
 */
#ifndef DLOR_FACTOR_H
#define DLOR_FACTOR_H

#include <stdint.h>

#include "dlor_error.h"
#include "dlor_tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum dlor_method {
    DLOR_METHOD_NONE = 0,
    DLOR_METHOD_MUL = 1,
    DLOR_METHOD_ADD = 2
} dlor_method;

typedef enum dlor_basis {
    DLOR_BASIS_NONE = 0,
    DLOR_BASIS_SCHUR = 1,   /* mul: real Schur form (stable, default) */
    DLOR_BASIS_RANDOM = 2,  /* mul: the paper's seeded Gaussian Z */
    DLOR_BASIS_SVD = 3      /* add: singular vectors */
} dlor_basis;

typedef struct dlor_factor_opts {
    dlor_method method;
    dlor_basis basis;       /* mul: SCHUR or RANDOM; add: SVD */
    int64_t rank;           /* r >= 1 */
    int alpha_auto;         /* nonzero: choose alpha (mul); add uses 0 */
    double alpha;           /* used when !alpha_auto */
    uint64_t seed;          /* RANDOM basis */
    dlor_dtype storage;     /* F32, F64, F16 or BF16 */
} dlor_factor_opts;

typedef struct dlor_factored {
    dlor_method method;
    dlor_basis basis;
    int64_t m, n;           /* shape of the original layer */
    int64_t dim_u, dim_v;   /* length of U's and V's columns: D, D (mul); m, n (add) */
    int64_t rank;           /* r */
    int64_t k;              /* total columns of U and V: D (mul), min(m,n) (add) when exact; fewer when compressed */
    int64_t factors;        /* L = ceil(k / r) */
    double alpha;
    double *ut;             /* k x dim_u, row-major, malloc'd */
    double *vt;             /* k x dim_v, row-major, malloc'd */
    double *base;           /* add only: an m x n matrix B added to the layer's (a quantized base
                             * with a low-rank correction, DLOR_FORMAT.md 7.2), malloc'd; NULL: none */
} dlor_factored;

/* Factors the m x n row-major matrix w. On success *out owns ut and vt.
 * Errors: DLOR_E_ARG (rank < 1 or > the layer's size, bad alpha, wrong basis
 * for the method), DLOR_E_NUMERIC (non-finite input, LAPACK failure,
 * breakdown of the random basis), DLOR_E_NOMEM. 'name' is used in messages. */
dlor_status dlor_factor(const char *name, const double *w, int64_t m, int64_t n,
                        const dlor_factor_opts *opts, dlor_factored *out, dlor_error *err);

/* Rebuilds the m x n matrix from the factors (w_out holds m*n doubles).
 * mul: P = I_D; for l = 1..L: P = alpha*P + U_l (V_l^T P); W = P[0:m, 0:n].
 * add: W = L*alpha*I_{m x n} + U V^T (+ base when set). O(D^3) / O(m n k). */
dlor_status dlor_reconstruct(const dlor_factored *f, double *w_out, dlor_error *err);

/* Number of columns in factor l (0-based): min(r, k - l*r). */
int64_t dlor_factor_cols(const dlor_factored *f, int64_t l);

/* Frees ut and vt and zeroes *f. Harmless on a zeroed struct. */
void dlor_factored_free(dlor_factored *f);

#ifdef __cplusplus
}
#endif
#endif
