/* spectral_split.c - Experiment 3: the singular values of a DLoR layer alpha I + U V^T
 * split into the identity's and the low-rank part's contributions (sawtooth.h). */
#include <stdlib.h>

#include <lapacke.h>

#include "sawtooth.h"

dlor_status dlor_spectral_split(int64_t n, int64_t r, double alpha, const double *U, const double *V, double *sigma,
                                double *lowrank, double *identity, dlor_error *err)
{
    size_t nn = (size_t)(n * n);
    double *W = malloc(nn * sizeof *W), *L = malloc(nn * sizeof *L), *P = malloc(nn * sizeof *P);
    double *QT = malloc(nn * sizeof *QT), *sup = malloc((size_t)n * sizeof *sup);
    dlor_status st = DLOR_OK;
    if (!W || !L || !P || !QT || !sup) st = dlor_fail(err, DLOR_E_NOMEM, "out of memory");
    /* row-major: L = U V^T, W = alpha I + L */
    for (int64_t i = 0; st == DLOR_OK && i < n; i++)
        for (int64_t j = 0; j < n; j++) {
            double s = 0;
            for (int64_t q = 0; q < r; q++) s += U[i * r + q] * V[j * r + q];
            L[i * n + j] = s;
            W[i * n + j] = s + (i == j ? alpha : 0.0);
        }
    if (st == DLOR_OK) {
        lapack_int info = LAPACKE_dgesvd(LAPACK_ROW_MAJOR, 'A', 'A', (lapack_int)n, (lapack_int)n, W, (lapack_int)n,
                                         sigma, P, (lapack_int)n, QT, (lapack_int)n, sup);
        if (info != 0) st = dlor_fail(err, DLOR_E_NUMERIC, "SVD failed (LAPACKE_dgesvd info = %d)", (int)info);
    }
    /* (P^T L Q)_ii = p_i^T L q_i with p_i column i of P and q_i row i of Q^T */
    for (int64_t i = 0; st == DLOR_OK && i < n; i++) {
        double lr = 0, id = 0;
        for (int64_t a = 0; a < n; a++) {
            double t = 0;
            for (int64_t b = 0; b < n; b++) t += L[a * n + b] * QT[i * n + b];
            lr += P[a * n + i] * t;
            id += P[a * n + i] * QT[i * n + a];
        }
        lowrank[i] = lr;
        identity[i] = alpha * id;
    }
    free(W);
    free(L);
    free(P);
    free(QT);
    free(sup);
    return st;
}
