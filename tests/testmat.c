/* testmat.c - matrices and timing for the numerical tests. */
#define _POSIX_C_SOURCE 200809L
#include "testmat.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <lapacke.h>

#include "testutil.h"

double dlt_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

double *dlt_doubles(size_t count)
{
    double *p = calloc(count ? count : 1, sizeof *p);
    if (!p) {
        fprintf(stderr, "out of memory for %zu doubles\n", count);
        exit(2);
    }
    return p;
}

double dlt_fro(const double *x, size_t count)
{
    double s = 0.0;
    for (size_t i = 0; i < count; i++) s += x[i] * x[i];
    return sqrt(s);
}

double *dlt_mat_gauss(int64_t m, int64_t n, unsigned long long seed, double scale)
{
    dlt_rng g = {seed};
    double *w = dlt_doubles((size_t)(m * n));
    for (int64_t i = 0; i < m * n; i++) w[i] = scale * dlt_normal(&g);
    return w;
}

double *dlt_mat_orth(int64_t N, unsigned long long seed)
{
    double *q = dlt_mat_gauss(N, N, seed, 1.0);
    double *tau = dlt_doubles((size_t)N);
    lapack_int info = LAPACKE_dgeqrf(LAPACK_ROW_MAJOR, (int)N, (int)N, q, (int)N, tau);
    if (info == 0) info = LAPACKE_dorgqr(LAPACK_ROW_MAJOR, (int)N, (int)N, (int)N, q, (int)N, tau);
    CHECK(info == 0, "QR for a random orthogonal matrix: info %d", (int)info);
    free(tau);
    return q;
}
