/* bench_factor.c - cost of the exact factorizations against a full SVD of the same matrix.
 *
 *     bench_factor [N] [r]        (default 2048 16)
 *
 * Times (best of 3, wall clock) on one N x N Gaussian matrix:
 *   mul --basis schur   dlor_factor (dgees + one dgemm),
 *   add                 dlor_factor (dgesdd of W, thin),
 *   dgesdd              LAPACKE_dgesdd jobz 'A' on a copy, the reference cost,
 * and, to explain the Schur figure, its parts: dgees without and with the
 * complex-first reordering, and one N x N x N dgemm. Not a test. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cblas.h>
#include <lapacke.h>

#include "dlor_factor.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* splitmix64 + Box-Muller, seed 2024: the same matrix on every run. */
static unsigned long long rng_s = 2024;
static double uniform01(void)
{
    unsigned long long z = (rng_s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return (double)(z >> 11) * (1.0 / 9007199254740992.0);
}
static double normal01(void)
{
    double u1 = 1.0 - uniform01(), u2 = uniform01();
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

static lapack_logical sel_complex(const double *wr, const double *wi)
{
    (void)wr;
    return *wi != 0.0;
}

enum { T_SCHUR, T_ADD, T_SVD, T_GEES, T_GEES_SORT, T_GEMM, T_COUNT };

int main(int argc, char **argv)
{
    long N = argc > 1 ? strtol(argv[1], NULL, 10) : 2048;
    long r = argc > 2 ? strtol(argv[2], NULL, 10) : 16;
    if (N < 2 || N > 20000 || r < 1 || r > N) {
        fprintf(stderr, "usage: bench_factor [N (2..20000)] [r (1..N)]\n");
        return 2;
    }
    size_t nn = (size_t)N * (size_t)N;
    double *w = malloc(nn * sizeof *w), *c = malloc(nn * sizeof *c);
    double *u = malloc(nn * sizeof *u), *vt = malloc(nn * sizeof *vt);
    double *s = malloc((size_t)N * sizeof *s), *wi = malloc((size_t)N * sizeof *wi);
    if (!w || !c || !u || !vt || !s || !wi) {
        fprintf(stderr, "bench_factor: out of memory\n");
        return 1;
    }
    for (size_t i = 0; i < nn; i++) w[i] = normal01();

    const char *label[T_COUNT] = {"mul --basis schur", "add (svd)", "dgesdd jobz=A",
                                  "  dgees (no sort)", "  dgees (complex first)",
                                  "  dgemm N^3"};
    double best[T_COUNT];
    for (int t = 0; t < T_COUNT; t++) best[t] = 1e300;

    dlor_factor_opts mo = {DLOR_METHOD_MUL, DLOR_BASIS_SCHUR, r, 1, 0.0, 0, DLOR_DT_F32};
    dlor_factor_opts ao = {DLOR_METHOD_ADD, DLOR_BASIS_SVD, r, 1, 0.0, 0, DLOR_DT_F32};
    for (int rep = 0; rep < 3; rep++) {
        for (int t = 0; t < T_COUNT; t++) {
            dlor_factored f;
            dlor_error err;
            lapack_int info = 0, sdim = 0;
            dlor_status st = DLOR_OK;
            double t0 = 0.0;
            switch (t) {
            case T_SCHUR:
            case T_ADD:
                t0 = now();
                st = dlor_factor("bench", w, N, N, t == T_SCHUR ? &mo : &ao, &f, &err);
                break;
            case T_SVD:
                memcpy(c, w, nn * sizeof *c);
                t0 = now();
                info = LAPACKE_dgesdd(LAPACK_COL_MAJOR, 'A', (int)N, (int)N, c, (int)N, s, u, (int)N,
                                      vt, (int)N);
                break;
            case T_GEES:
            case T_GEES_SORT:
                memcpy(c, w, nn * sizeof *c);
                t0 = now();
                info = LAPACKE_dgees(LAPACK_COL_MAJOR, 'V', t == T_GEES ? 'N' : 'S',
                                     t == T_GEES ? NULL : sel_complex, (int)N, c, (int)N, &sdim, s,
                                     wi, u, (int)N);
                break;
            case T_GEMM:
                t0 = now();
                cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, (int)N, (int)N, (int)N, 1.0, w,
                            (int)N, u, (int)N, 0.0, c, (int)N);
                break;
            }
            double dt = now() - t0;
            if (st != DLOR_OK || info < 0 || (info > 0 && info <= N)) {
                fprintf(stderr, "bench_factor: %s failed (%s, info %d)\n", label[t],
                        st != DLOR_OK ? err.msg : "LAPACK", (int)info);
                return 1;
            }
            if (t == T_SCHUR || t == T_ADD) dlor_factored_free(&f);
            if (dt < best[t]) best[t] = dt;
        }
    }
    printf("N = %ld, r = %ld, Gaussian, best of 3 (OpenBLAS threads: %d)\n", N, r,
           openblas_get_num_threads());
    for (int t = 0; t < T_COUNT; t++) printf("%-24s %8.3f s\n", label[t], best[t]);
    printf("ratio schur / dgesdd     %8.2f   (target <= 2.5)\n", best[T_SCHUR] / best[T_SVD]);
    printf("ratio add / dgesdd       %8.2f\n", best[T_ADD] / best[T_SVD]);
    printf("ratio dgees / dgesdd     %8.2f   (sorted %.2f)\n", best[T_GEES] / best[T_SVD],
           best[T_GEES_SORT] / best[T_SVD]);
    free(w);
    free(c);
    free(u);
    free(vt);
    free(s);
    free(wi);
    return 0;
}
