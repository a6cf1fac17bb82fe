/* dlor_compress.h - compression of dense layers into DLoR form (double precision).
 *
 * For one linear layer every DLoR form of a given size reduces to one component
 *
 *     W_hat = beta * I_{m x n} + P Q^T,     P m x k,  Q n x k,
 *
 * (a product of m factors sharing alpha is alpha^m I + rank <= m r; a sum of factors is
 * beta I + rank <= sum r). I_{m x n} has ones on the leading min(m, n) diagonal, the same
 * convention as the additive form of dlor_factor.h (Remark 2 for rectangular layers).
 * P and Q are stored transposed, "pt" k x m and "qt" k x n row-major, like dlor_factored.
 *
 * Two ways of measuring the error:
 *   weight space  ||W - W_hat||_F / ||W||_F
 *   data space    ||(W - W_hat) S||_F / ||W S||_F,  S S^T = X^T X
 * where X (samples x n, one input of the layer per row) are calibration activations, so
 * that ||(W - W_hat) S||_F^2 = sum over samples of ||(W - W_hat) x||^2 is the output error.
 * S is the whitening factor of dlor_whitening (lower triangular). Relative errors use 1 as
 * the denominator when ||W|| (or ||W S||) is zero.
 *
 * Typical use, one layer:
 *
 *     double *s = malloc(n * n * sizeof *s);                   // optional, data-aware
 *     dlor_whitening("fc1", x, DLOR_DT_F32, samples, n, 0.0, s, NULL, &err);
 *     dlor_curve c;
 *     dlor_error_curves("fc1", w, m, n, kmax, s, &c, &err);    // errors for k = 0..kmax
 *     int64_t k = dlor_rank_for_tol(c.err_dlor, c.kmax, m, n, 1, 1e-2);  // or dlor_allocate
 *     if (k == DLOR_KEEP_DENSE) ...                                 // not worth compressing
 *     dlor_lowrank_opts o = dlor_lowrank_defaults();
 *     o.chol = s; o.has_start = 1; o.beta = c.beta[k];        // start where the curve was
 *     dlor_lowrank l;
 *     dlor_lowrank_fit("fc1", w, m, n, k, &o, &l, &err);       // l.rel_err, l.rel_err_data
 *     dlor_factored f;                                          // optional: 3 factors
 *     dlor_lowrank_to_mul("fc1", &l, 3, DLOR_DT_F32, &f, &err);
 *
 * Every function returns DLOR_OK or fills err; out-parameters are untouched on failure.
 * Errors: DLOR_E_ARG (bad sizes, ranks, budgets, impossible requests), DLOR_E_NUMERIC
 * (non-finite input, LAPACK failure), DLOR_E_NOMEM, DLOR_E_LIMIT (too large for LAPACK's
 * int indices). 'name' (the layer) appears in every message.
 */
#ifndef DLOR_COMPRESS_H
#define DLOR_COMPRESS_H

#include <stdint.h>

#include "dlor_error.h"
#include "dlor_factor.h"
#include "dlor_tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- one layer: the best beta I + P Q^T of rank k --------------------------------------- */

typedef enum dlor_beta_mode {
    DLOR_BETA_ZERO = 0,      /* beta = 0: plain truncated SVD (Eckart-Young), the baseline */
    DLOR_BETA_FIT = 1,       /* best beta: accelerated alternation (default), see below */
    DLOR_BETA_ALTERNATE = 2, /* best beta: textbook alternation beta <- beta + <R, J>/||J||^2,
                              * i.e. beta = trace(W - P Q^T)/min(m, n) in weight space
                              * (reference; linear convergence, slow in data space) */
    DLOR_BETA_FIXED = 3      /* beta as given in opts.beta; only P Q^T is optimised */
} dlor_beta_mode;

/* For fixed beta the best rank-k part is the truncated SVD of G(beta) = (W - beta I) S
 * (S = I in weight space), mapped back by S^-1. With f(beta) = ||G(beta) - G_k(beta)||_F^2
 * and J = I_{m x n} S:
 *   - f'(beta) = -2 <R, J> (R the SVD residual), by the envelope theorem;
 *   - holding the singular subspace of the current fit and re-fitting beta is a quadratic
 *     upper bound on f that touches it at the current beta, so its minimiser never
 *     increases f (an alternation step; see compress.c for its curvature h <= ||J||^2).
 * FIT takes Newton steps with the secant slope of f' where f is convex, doubles the last
 * step where it is concave, and falls back to the alternation step whenever a step fails
 * to decrease f; it stops when the predicted further decrease of f is at most tol f
 * (opts.tol, default DLOR_BETA_TOL = 1e-4: the error would move by at most 5e-5 of itself,
 * below what the truncated SVDs resolve). In particular it stops after the first SVD when
 * beta is not worth moving from its start, as on ordinary layers (beta* ~ 0; with the second
 * start below, 2 SVDs); residual-style layers take 3-6 SVDs in weight space,
 * ~9 in data space, where f is flatter. The result then takes one more alternation step,
 * which needs no SVD (the right singular subspace held: P Q^T = G V_k V_k^T at the stepped
 * beta) and never raises f. Every step of the search costs one SVD of G(beta): the leading
 * k + oversampling singular triplets by a randomized block Krylov method where that is
 * cheaper than LAPACK's full dgesdd (k well below min(m, n); lib/svd_top.c, which states
 * the measured crossover), started from the previous step's triplets. Its rank-k error is
 * within 1e-3 of the optimum's (1e-4 .. 6e-4 measured on flat spectra, far less where they
 * decay; the reported errors are always those of the returned factors), deterministic for a
 * given OpenBLAS thread count. opts.full_svd = 1 takes the full SVD at every step
 * (Eckart-Young to rounding). Without a start point FIT and ALTERNATE descend from beta = 0 (so they are
 * never worse than the truncated SVD beta = 0 gives) and, unless that descent already
 * passed it or ended within 1% of the distance travelled from it, also from the k = 0
 * optimum <W S, J> / ||J||^2, keeping the better. f may have several local minima (W with
 * eigenvalue clusters at +1 and -1; flat data-space errors); the result is a local minimum
 * no worse than its starts. */
#define DLOR_BETA_TOL 1e-4

typedef struct dlor_lowrank_opts {
    dlor_beta_mode beta_mode;
    int has_start;          /* FIT / ALTERNATE: descend from opts.beta only */
    double beta;            /* FIXED: the value; FIT / ALTERNATE: the start when has_start */
    const double *chol;     /* optional n x n whitening factor S, row-major; only the lower
                             * triangle is read; its diagonal must be non-zero */
    int weight_objective;   /* with chol: minimise the weight error, only report the data one */
    int max_iter;           /* 0: default (60 for FIT, 2000 for ALTERNATE) */
    double tol;             /* FIT / ALTERNATE stopping tolerance, see above (0: DLOR_BETA_TOL
                             * for FIT, 1e-16 for ALTERNATE, which converges linearly) */
    int full_svd;           /* 1: LAPACK's full SVD at every step, never a truncated one */
} dlor_lowrank_opts;

/* FIT, weight space, no start, default iterations. */
dlor_lowrank_opts dlor_lowrank_defaults(void);

typedef struct dlor_lowrank {
    int64_t m, n, k;
    double beta;
    double *pt;             /* k x m row-major (P^T), malloc'd */
    double *qt;             /* k x n row-major (Q^T), malloc'd */
    double rel_err;         /* ||W - W_hat||_F / ||W||_F, computed from the factors */
    double rel_err_data;    /* ||(W - W_hat) S||_F / ||W S||_F with S = opts.chol; = rel_err
                             * without chol */
    int data_objective;     /* 1 when the data error was minimised */
    int svds;               /* SVDs computed */
} dlor_lowrank;

/* The best rank-k component of the m x n row-major layer w (1 <= k <= min(m, n)).
 * opts may be NULL (dlor_lowrank_defaults()). On success *out owns pt and qt.
 * P = U_k Sigma_k^(1/2), Q = S^-T V_k Sigma_k^(1/2) from the SVD of G(beta). */
dlor_status dlor_lowrank_fit(const char *name, const double *w, int64_t m, int64_t n, int64_t k,
                             const dlor_lowrank_opts *opts, dlor_lowrank *out, dlor_error *err);

/* W_hat = beta I_{m x n} + P Q^T into w_out (m*n doubles, row-major). */
dlor_status dlor_lowrank_reconstruct(const dlor_lowrank *l, double *w_out, dlor_error *err);

/* Frees pt and qt and zeroes *l; harmless on a zeroed struct. */
void dlor_lowrank_free(dlor_lowrank *l);

/* Stored numbers of a rank-k component: k (m + n), plus 1 for beta when with_beta. */
int64_t dlor_lowrank_params(int64_t m, int64_t n, int64_t k, int with_beta);

/* ---- error curves ------------------------------------------------------------------------ */

/* Relative errors (data space when chol is given, else weight space) for k = 0..kmax:
 *   err_svd[k]   truncated SVD (beta = 0; whitened when chol is given); err_svd[0] = 1;
 *   err_dlor[k]  beta I + rank k, with beta[k] the beta that achieves it; k = 0 is beta I.
 * One SVD of G(b) gives, for every k at once, f_k(b), f_k'(b) and the alternation step from
 * b with its guaranteed value; err_svd needs only b = 0 (and only singular values: with
 * opts.svd_only, err_dlor and beta are NULL and one SVD without vectors is computed). The
 * betas b are chosen in rounds: b = 0 first; if some rank is still open, the k = 0 optimum;
 * then for every k an estimate of its optimum from the evaluated b (regula falsi on f_k'
 * when they bracket it, else a secant-Newton step, clipped by the bound f_k'' <= 2 ||J||^2).
 * An estimate is settled when an evaluated b lies within delta_k = sqrt(tol f_k / h_k) of
 * it, i.e. when moving beta there is predicted to lower f_k by at most tol f_k (opts.tol,
 * default DLOR_BETA_TOL = 1e-4, as for the fit: the error by 5e-5 of itself, far below the
 * step from one rank to the next). On ordinary layers (beta* ~ 0) the first SVD settles
 * every k. The unsettled ranks are grouped (fewest b covering their delta_k windows) and up
 * to 4 new SVDs a round go to the groups with the largest predicted decrease; at most 32
 * SVDs. They are truncated to kmax + oversampling triplets where that is cheaper (as in the
 * fit; err_svd is then within 1e-3 of exact), else LAPACK's full ones (opts.full_svd:
 * always).
 * err_dlor[k] is the best alternation value over all evaluated b: an achieved error (the
 * truncated SVD at beta[k] does at least as well), never above err_svd[k], and what
 * dlor_lowrank_fit started at beta[k] reaches or improves (up to the truncated SVD's
 * accuracy). With tol = 2e-8 and full SVDs, weight-space curves take 10-20 SVDs and agree
 * with the fit to ~1e-9; in data space f_k can be flat and
 * beta*(k) wander, and the budget may end first (converged = 0). */
typedef struct dlor_curve_opts {
    int svd_only;           /* only err_svd (what --method svd needs) */
    double tol;             /* 0: DLOR_BETA_TOL */
    int full_svd;           /* 1: LAPACK's full SVD, never a truncated one */
} dlor_curve_opts;

typedef struct dlor_curve {
    int64_t m, n, kmax;
    int data_space;         /* errors are data-space errors */
    double *err_svd;        /* kmax + 1 */
    double *err_dlor;       /* kmax + 1; NULL with svd_only */
    double *beta;           /* kmax + 1; NULL with svd_only */
    int nsvd;               /* SVDs computed */
    int converged;          /* every k's estimate was within delta_k of an evaluated b */
} dlor_curve;

/* The curves with default options (opts NULL in dlor_error_curves_ex). */
dlor_status dlor_error_curves(const char *name, const double *w, int64_t m, int64_t n,
                              int64_t kmax, const double *chol, dlor_curve *out, dlor_error *err);
dlor_status dlor_error_curves_ex(const char *name, const double *w, int64_t m, int64_t n,
                                 int64_t kmax, const double *chol, const dlor_curve_opts *opts,
                                 dlor_curve *out, dlor_error *err);
void dlor_curve_free(dlor_curve *c);

/* ---- data-aware mode: the whitening factor ----------------------------------------------- */

/* S lower triangular (n x n, row-major, upper triangle zero) with S S^T = X^T X, where x is
 * samples x n row-major (dtype DLOR_DT_F32 or DLOR_DT_F64; the Gram matrix is accumulated in
 * double). Regularisation, exactly: with G = X^T X, if the Cholesky factorization of G
 * succeeds and LAPACK's estimate of its reciprocal 1-norm condition number is >= 1e-10,
 * S = chol(G) and *lambda_used = 0. Otherwise (singular: fewer samples than features,
 * constant-zero features; or ill-conditioned) S = chol(G + lambda * mean(diag G) * I) with
 * lambda = the argument (1e-6 when <= 0), multiplied by 10 (up to 4 times) if rounding
 * still defeats the factorization; *lambda_used (may be NULL) is the lambda applied.
 * The scale of G does not matter: all data errors are relative. An all-zero X is
 * DLOR_E_ARG (no data error is defined); a non-finite entry is DLOR_E_NUMERIC. */
dlor_status dlor_whitening(const char *name, const void *x, dlor_dtype dtype, int64_t samples,
                           int64_t n, double lambda, double *chol_out, double *lambda_used,
                           dlor_error *err);

/* The same from an accumulated Gram matrix G = X^T X (n x n row-major; only the lower
 * triangle is read), for callers that stream calibration batches. */
dlor_status dlor_whitening_gram(const char *name, const double *gram, int64_t n, double lambda,
                                double *chol_out, double *lambda_used, dlor_error *err);

/* ---- many layers: where the parameters go ------------------------------------------------ */

#define DLOR_KEEP_DENSE (-1)

typedef struct dlor_alloc_layer {
    int64_t m, n;           /* shape; dense storage is m n */
    int64_t kmax;           /* err[0..kmax] */
    const double *err;      /* relative error of the rank-k form, e.g. dlor_curve.err_dlor */
} dlor_alloc_layer;

/* Chooses k_out[l] in 1..kmax_l (or DLOR_KEEP_DENSE, error 0) for each layer so that the
 * stored numbers, sum of dlor_lowrank_params(m, n, k, with_beta) (m n for dense), are at
 * most budget * sum m n and the largest per-layer error is minimal. Only ranks strictly
 * cheaper than dense are considered. The optimum max error is one of the err values:
 * bisection over them, each test taking for every layer the smallest k meeting the
 * threshold. Parameters left over then go, one step at a time, to the layer with the
 * largest error that can still afford its next better option (this never raises an error
 * or the maximum). If even the cheapest choice per layer (rank 1, or dense where rank 1
 * costs more) exceeds the budget: DLOR_E_ARG "budget B is below the F that one rank per
 * layer needs". max_err and params (may be NULL) receive the result's largest error and
 * stored numbers. With data-space curves (calibration data) the largest per-layer output
 * error is what gets minimised. */
dlor_status dlor_allocate(const dlor_alloc_layer *layers, int64_t nlayers, double budget,
                          int with_beta, int64_t *k_out, double *max_err, int64_t *params,
                          dlor_error *err);

/* The same budget spent to minimise the sum of squared per-layer errors instead of the
 * largest one (greedy by decrease of err^2 per stored number; see compress_alloc.c).
 * Same arguments and errors as dlor_allocate; sum_err2 receives the objective. */
dlor_status dlor_allocate_sum(const dlor_alloc_layer *layers, int64_t nlayers, double budget, int with_beta,
                              int64_t *k_out, double *sum_err2, int64_t *params, dlor_error *err);

/* A budget in bytes spent over layers that each have a list of forms to choose from (any
 * dtype, any rank: convert --budget-bits). Each choice has its bytes and its relative error;
 * the pick minimises the sum of squared errors with the total bytes <= budget: greedily along
 * each layer's lower convex hull of (bytes, err^2), the steps of steepest decrease per byte
 * first, while a step fits (the optimum of the convex relaxation; a step that does not fit is
 * skipped for a cheaper one that does). pick[i] indexes layer i's choices; *used (may be NULL)
 * gets the bytes spent. DLOR_E_ARG when even the cheapest choices exceed the budget (message
 * names the bytes they need) or a layer has no choice. */
typedef struct dlor_choice {
    uint64_t bytes;
    double err;
} dlor_choice;
typedef struct dlor_choice_layer {
    const dlor_choice *c;
    int64_t n;
} dlor_choice_layer;
dlor_status dlor_allocate_choices(const dlor_choice_layer *layers, int64_t nlayers, uint64_t budget, int64_t *pick,
                                  uint64_t *used, dlor_error *err);

/* --tol: the smallest k in 1..kmax with err[k] <= tol whose storage is below dense, else
 * DLOR_KEEP_DENSE. */
int64_t dlor_rank_for_tol(const double *err, int64_t kmax, int64_t m, int64_t n, int with_beta,
                          double tol);

/* ---- the exact m-factor product ---------------------------------------------------------- */

/* Factors W_hat = beta I_{m x n} + P Q^T exactly into mfactors DLoR factors
 * M_mf ... M_1 (M_l = alpha I + U_l V_l^T, alpha^mf = beta) in the dlor_factored MUL layout:
 * D = max(m, n) (W_hat zero-padded, Remark 2), r = ceil(s / mf) and K = min(mf r, D)
 * columns, s = k for square layers and k + |m - n| for rectangular ones (the zero padding
 * takes beta off the trailing diagonal, a rank-|m - n| change). So the mf factors together
 * have the rank of P Q^T, not twice it; see compress_mul.c for the construction.
 * alpha = sign(beta) |beta|^(1/mf) is rounded to 'storage' (F64: not rounded) before
 * anything is computed, and the product is alpha^mf I + P Q^T exactly in exact arithmetic;
 * at a fitted beta the relative change of beta (<= 2^-24 mf for F32) changes the error
 * only to second order. For F16/BF16 (beta moves by up to 2^-11 / 2^-8 per factor) refit
 * first with DLOR_BETA_FIXED at beta = alpha^mf. Accuracy degrades like u ||P Q^T|| / |beta|
 * when |beta| is tiny.
 * Impossible, DLOR_E_ARG: beta = 0 with mf >= 2, beta < 0 with mf even, and
 * mf - 1 full factors of rank r not fitting in D (tiny layers with many factors).
 * The container stores such layers directly (DLOR_FORMAT.md 1.2: K may be below D). */
dlor_status dlor_lowrank_to_mul(const char *name, const dlor_lowrank *l, int64_t mfactors,
                                dlor_dtype storage, dlor_factored *out, dlor_error *err);

#ifdef __cplusplus
}
#endif
#endif
