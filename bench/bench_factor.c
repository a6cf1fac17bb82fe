/* bench_factor.c - cost of the exact factorizations against a full SVD of the same matrix.
 *
 *     bench_factor [N] [r] [--matrix W.npy] [--reps K] [--no-parts]     (default 2048 16)
 *     bench_factor --rect M N [r] [--reps K]
 *
 * Times (best of 3, or of K, wall clock) on one N x N Gaussian matrix (or the
 * N x N matrix of W.npy, read in C order as dlor reads a layer, so that other
 * programs can time the same matrix):
 *   mul --basis schur   dlor_factor (dgees + one triangular product),
 *   add                 dlor_factor (dgesdd of W, thin),
 *   dgesdd              LAPACKE_dgesdd jobz 'A' on a copy (leading dimension N), the
 *                       reference cost,
 * and, to explain the Schur figure (unless --no-parts), its parts: dgees without
 * and with the complex-first reordering (leading dimension N, as a caller would), the
 * sorted dgees with the padded leading dimension dlor uses (dlor__ld), and one
 * N x N x N dgemm.
 * --rect M N: mul (Schur, rank r, default 256 capped at max(M, N)) of a seeded Gaussian
 * M x N layer and of an N x M one, alternately, and the ratio M x N / N x M (both are
 * padded to max(M, N), Remark 2). Not a test. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cblas.h>
#include <lapacke.h>

#include "dlor_factor.h"
#include "dlor_readers.h"
#include "factor_internal.h"
#include "testutil.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* seed 2024: the same matrix on every run */
static dlt_rng rng = {2024};

static lapack_logical sel_complex(const double *wr, const double *wi)
{
    (void)wr;
    return *wi != 0.0;
}

enum { T_SCHUR, T_ADD, T_SVD, T_GEES, T_GEES_SORT, T_GEES_PAD, T_GEMM, T_COUNT };

/* The N x N matrix of a .npy file (any float dtype), as doubles. */
static int load_matrix(const char *path, long N, double *w)
{
    dlor_tensor_list l;
    dlor_error err;
    dlor_tensor_list_init(&l);
    dlor_status st = dlor_read_npy(path, &l, &err);
    if (st == DLOR_OK && (l.count != 1 || l.items[0].ndim != 2 || l.items[0].dims[0] != (uint64_t)N ||
                          l.items[0].dims[1] != (uint64_t)N)) {
        fprintf(stderr, "bench_factor: %s is not a %ld x %ld matrix\n", path, N, N);
        dlor_tensor_list_free(&l);
        return -1;
    }
    if (st == DLOR_OK) st = dlor_tensor_to_f64(&l.items[0], w, &err);
    if (st != DLOR_OK) fprintf(stderr, "bench_factor: %s\n", err.msg);
    dlor_tensor_list_free(&l);
    return st == DLOR_OK ? 0 : -1;
}

/* --rect: the tall and the wide layer, timed alternately. */
static int rect(long M, long N, long r, long reps)
{
    long D = M > N ? M : N;
    if (r <= 0) r = D < 256 ? D : 256;
    double *a = malloc((size_t)M * (size_t)N * sizeof *a), *b = malloc((size_t)M * (size_t)N * sizeof *b);
    if (!a || !b) {
        fprintf(stderr, "bench_factor: out of memory\n");
        return 1;
    }
    for (size_t i = 0; i < (size_t)M * (size_t)N; i++) a[i] = dlt_normal(&rng);
    for (size_t i = 0; i < (size_t)M * (size_t)N; i++) b[i] = dlt_normal(&rng);
    dlor_factor_opts mo = {DLOR_METHOD_MUL, DLOR_BASIS_SCHUR, r, 1, 0.0, 0, DLOR_DT_F32};
    double best[2] = {1e300, 1e300};
    for (long rep = 0; rep < reps; rep++)
        for (int t = 0; t < 2; t++) {
            dlor_factored f;
            dlor_error err;
            double t0 = now();
            dlor_status st = t == 0 ? dlor_factor("tall", a, M, N, &mo, &f, &err)
                                    : dlor_factor("wide", b, N, M, &mo, &f, &err);
            double dt = now() - t0;
            if (st != DLOR_OK) {
                fprintf(stderr, "bench_factor: %s\n", err.msg);
                return 1;
            }
            dlor_factored_free(&f);
            if (dt < best[t]) best[t] = dt;
        }
    printf("rect %ld x %ld vs %ld x %ld, r = %ld, best of %ld (OpenBLAS threads: %d)\n", M, N, N, M, r,
           reps, openblas_get_num_threads());
    printf("mul %ld x %ld %12.6f s\n", M, N, best[0]);
    printf("mul %ld x %ld %12.6f s\n", N, M, best[1]);
    printf("ratio rect %8.3f\n", best[0] / best[1]);
    free(a);
    free(b);
    return 0;
}

int main(int argc, char **argv)
{
    long N = 2048, r = 16, reps = 3, rm = 0, rn = 0;
    int npos = 0, parts = 1, bad = 0;
    const char *matrix = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--matrix") == 0 && i + 1 < argc) matrix = argv[++i];
        else if (strcmp(argv[i], "--rect") == 0 && i + 2 < argc) {
            rm = strtol(argv[++i], NULL, 10);
            rn = strtol(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc) reps = strtol(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--no-parts") == 0) parts = 0;
        else if (argv[i][0] != '-' && npos == 0) N = strtol(argv[i], NULL, 10), npos++;
        else if (argv[i][0] != '-' && npos == 1) r = strtol(argv[i], NULL, 10), npos++;
        else bad = 1;
    }
    if (rm > 0 || rn > 0) {
        /* The one positional argument is the rank (0: the default). */
        r = npos == 0 ? 0 : npos == 1 ? N : -1;
        if (bad || rm < 1 || rn < 1 || rm > 20000 || rn > 20000 || r < 0 || r > (rm > rn ? rm : rn) ||
            reps < 1 || reps > 100) {
            fprintf(stderr, "usage: bench_factor --rect M N [r] [--reps K]\n");
            return 2;
        }
        return rect(rm, rn, r, reps);
    }
    if (bad || N < 2 || N > 20000 || r < 1 || r > N || reps < 1 || reps > 100) {
        fprintf(stderr, "usage: bench_factor [N (2..20000)] [r (1..N)] [--matrix W.npy] [--reps K] [--no-parts]\n");
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
    if (matrix) {
        if (load_matrix(matrix, N, w) != 0) return 1;
    } else {
        for (size_t i = 0; i < nn; i++) w[i] = dlt_normal(&rng);
    }

    const char *label[T_COUNT] = {"mul --basis schur", "add (svd)", "dgesdd jobz=A",
                                  "  dgees (no sort)", "  dgees (complex first)",
                                  "  dgees (padded ld)", "  dgemm N^3"};
    const long ldp = (long)dlor__ld(N);
    double *cp = malloc((size_t)ldp * (size_t)N * sizeof *cp), *zp = malloc((size_t)ldp * (size_t)N * sizeof *zp);
    if (!cp || !zp) {
        fprintf(stderr, "bench_factor: out of memory\n");
        return 1;
    }
    double best[T_COUNT];
    for (int t = 0; t < T_COUNT; t++) best[t] = 1e300;

    dlor_factor_opts mo = {DLOR_METHOD_MUL, DLOR_BASIS_SCHUR, r, 1, 0.0, 0, DLOR_DT_F32};
    dlor_factor_opts ao = {DLOR_METHOD_ADD, DLOR_BASIS_SVD, r, 1, 0.0, 0, DLOR_DT_F32};
    int ntimed = parts ? T_COUNT : T_GEES;
    for (long rep = 0; rep < reps; rep++) {
        for (int t = 0; t < ntimed; t++) {
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
            case T_GEES_PAD:
                for (long j = 0; j < N; j++) memcpy(cp + j * ldp, w + j * N, (size_t)N * sizeof *cp);
                t0 = now();
                info = LAPACKE_dgees(LAPACK_COL_MAJOR, 'V', 'S', sel_complex, (int)N, cp, (int)ldp, &sdim, s,
                                     wi, zp, (int)ldp);
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
    printf("N = %ld, r = %ld, %s, best of %ld (OpenBLAS threads: %d)\n", N, r, matrix ? matrix : "Gaussian",
           reps, openblas_get_num_threads());
    for (int t = 0; t < ntimed; t++) printf("%-24s %8.3f s\n", label[t], best[t]);
    printf("ratio schur / dgesdd     %8.2f   (target <= 2.5)\n", best[T_SCHUR] / best[T_SVD]);
    printf("ratio add / dgesdd       %8.2f\n", best[T_ADD] / best[T_SVD]);
    if (parts)
        printf("ratio dgees / dgesdd     %8.2f   (sorted %.2f, padded %.2f)\n", best[T_GEES] / best[T_SVD],
               best[T_GEES_SORT] / best[T_SVD], best[T_GEES_PAD] / best[T_SVD]);
    free(cp);
    free(zp);
    free(w);
    free(c);
    free(u);
    free(vt);
    free(s);
    free(wi);
    return 0;
}
