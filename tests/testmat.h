/* testmat.h - matrices and timing for the numerical tests (needs LAPACKE). */
#ifndef DLOR_TESTMAT_H
#define DLOR_TESTMAT_H

#include <stddef.h>
#include <stdint.h>

/* Monotonic wall-clock seconds. */
double dlt_now(void);
/* count zeroed doubles; exits with a message when memory runs out. */
double *dlt_doubles(size_t count);
/* Frobenius norm of count values. */
double dlt_fro(const double *x, size_t count);
/* m x n row-major, entries scale * N(0, 1) from the seeded dlt_rng. */
double *dlt_mat_gauss(int64_t m, int64_t n, unsigned long long seed, double scale);
/* A random N x N orthogonal matrix (QR of a Gaussian one). */
double *dlt_mat_orth(int64_t N, unsigned long long seed);

#endif
