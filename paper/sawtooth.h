/* sawtooth.h - the paper's sawtooth experiments' own models (Appendix H): the target
 * function of H.1, the dense, deep and wide architectures of H.2 built as runnable .dlor
 * graphs (for Table 1's parameter counts), a full-batch Adam trainer for the deep one, and
 * Experiment 3's spectral split of a trained DLoR layer. Used by 'dlor reproduce' only;
 * not part of the library. */
#ifndef DLOR_SAWTOOTH_H
#define DLOR_SAWTOOTH_H

#include <stdint.h>

#include "dlor_container.h"
#include "dlor_error.h"

/* ---- Appendix H.2 models (h2_deep.c, h2_graphs.c) ------------------------------------------
 * Input Linear(1, N) and softplus, a hidden transformation, output Linear(N, 1):
 *   dense: a second hidden layer Linear(N, N) + softplus (the parameter-matched baseline
 *          uses N = w for both hidden layers);
 *   deep:  k layers x <- softplus((alpha I + U_l V_l^T) x + b_l), one shared alpha,
 *          U_l, V_l of N x r;
 *   wide:  x <- softplus(sum_l alpha_l softplus(U_l V_l^T x + b_l) (+ b_out)), a BRANCH
 *          group of k branches; b_out ('outer_bias') is not in H.2's formula but is what
 *          Table 1's counts include. */
typedef enum dlor_h2_kind { DLOR_H2_DENSE = 0, DLOR_H2_DEEP = 1, DLOR_H2_WIDE = 2 } dlor_h2_kind;

typedef struct dlor_h2_arch {
    dlor_h2_kind kind;
    int64_t width;            /* N (dense: w) */
    int64_t k, rank;          /* deep, wide */
    int outer_bias;           /* wide */
} dlor_h2_arch;

/* A deep model's parameters (double). U and V hold k blocks of N x r, row-major. */
typedef struct dlor_h2_deep {
    int64_t N, k, r;
    double *win, *bin;        /* N, N */
    double *U, *V, *b;        /* k*N*r, k*N*r, k*N */
    double alpha;
    double *wout, bout;       /* N, 1 */
} dlor_h2_deep;

typedef struct dlor_h2_train_opts {
    int64_t epochs;           /* full-batch Adam steps */
    double lr, lr_min, factor;/* ReduceLROnPlateau on the training loss */
    int64_t patience;
} dlor_h2_train_opts;

/* H.2's setting: Adam lr 0.005, plateau scheduler (patience 200, factor 0.5, min 1e-5). */
void dlor_h2_train_opts_default(dlor_h2_train_opts *o);

/* torch's default initialisation of the two Linear layers (uniform +-1/sqrt(fan_in)),
 * the same for U, V and b_l, alpha = 1; seeded. */
dlor_status dlor_h2_deep_init(int64_t N, int64_t k, int64_t r, uint64_t seed, dlor_h2_deep *m, dlor_error *err);
void dlor_h2_deep_free(dlor_h2_deep *m);
/* Trains on n samples (x, y) by full-batch Adam with MSE loss; *mse gets the final
 * training loss. */
dlor_status dlor_h2_train_deep(dlor_h2_deep *m, const double *x, const double *y, uint64_t n,
                               const dlor_h2_train_opts *o, double *mse, dlor_error *err);
/* The model's output for one input (the trainer's own forward pass). */
double dlor_h2_deep_predict(const dlor_h2_deep *m, double x);
/* The model as a runnable .dlor graph: layers "in", "deep.<l>" (mul, one factor), "out". */
dlor_status dlor_h2_deep_container(const dlor_h2_deep *m, dlor_dtype storage, dlor_container *c, dlor_error *err);

/* Builds an architecture with seeded parameters as a runnable graph. */
dlor_status dlor_h2_build(const dlor_h2_arch *a, uint64_t seed, dlor_container *c, dlor_error *err);
/* Its parameter count (deep: one shared alpha). */
dlor_status dlor_h2_params(const dlor_h2_arch *a, uint64_t *count, dlor_error *err);

/* ---- Experiment 3 (spectral_split.c) ----------------------------------------------------- */

/* Experiment 3's split of a DLoR layer W = alpha I + U V^T (n x n; U, V n x r, row-major):
 * W = P S Q^T, sigma = diag(S), lowrank = diag(P^T U V^T Q), identity = diag(P^T alpha I Q)
 * (so sigma = lowrank + identity), each of n values, largest sigma first. */
dlor_status dlor_spectral_split(int64_t n, int64_t r, double alpha, const double *U, const double *V, double *sigma,
                                double *lowrank, double *identity, dlor_error *err);

/* The sawtooth of Appendix H.1 (h2_deep.c): |((3.7 x) mod 2) - 1|, mod with floor semantics. */
double dlor_sawtooth(double x);

#endif
