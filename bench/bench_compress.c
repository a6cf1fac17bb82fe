/* bench_compress.c - cost of compressing one layer, in units of one SVD of it.
 *
 *     bench_compress [N] [k] [--matrix W.npy] [--no-curves]     (default 1024 51, i.e. 10% of dense)
 *     bench_compress --sweep N [--matrix W.npy]
 *
 * On an N x N residual-style matrix (I + rank 8 + noise 1e-3) and a Gaussian one (or only
 * on the N x N matrix of W.npy, read in C order as dlor reads a layer), times (wall clock,
 * one run each): LAPACKE_dgesdd jobz 'S' (the unit, leading dimension N), dlor_lowrank_fit
 * (defaults: truncated SVDs where cheaper) with beta = 0 and with the best beta,
 * dlor_error_curves for k = 0..2k and the fit started at the curve's beta (both skipped with
 * --no-curves), and dlor_lowrank_to_mul with 3 factors. Each line also gives the absolute
 * times in seconds, and "errors:" the fits' relative errors next to Eckart-Young's (from
 * dgesdd's singular values).
 * --sweep: the crossover of lib/svd_top.c. For k = N/50 .. N/5, LAPACK's dgesdd 'S' against
 * the randomized block Krylov method forced (DLOR__SVD_KRYLOV) on the Gaussian matrix (flat
 * spectrum: the most blocks) and on one with the decaying spectrum (1 + i/8)^-0.8, one
 * run each, alternately; and the method the library picks. Not a test. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cblas.h>
#include <lapacke.h>

#include "dlor_compress.h"
#include "dlor_readers.h"
#include "svd_top.h"
#include "testutil.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* a fixed seed: the same matrices on every run */
static dlt_rng rng = {2025};

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "bench_compress: out of memory\n");
        exit(2);
    }
    return p;
}

static void run(const char *what, const double *w, int64_t N, int64_t k, int curves)
{
    double *c = xmalloc(sizeof(double) * (size_t)(N * N));
    double *s = xmalloc(sizeof(double) * (size_t)N);
    double *u = xmalloc(sizeof(double) * (size_t)(N * N));
    double *vt = xmalloc(sizeof(double) * (size_t)(N * N));
    memcpy(c, w, sizeof(double) * (size_t)(N * N));
    double t0 = now();
    lapack_int info = LAPACKE_dgesdd(LAPACK_COL_MAJOR, 'S', (int)N, (int)N, c, (int)N, s, u,
                                     (int)N, vt, (int)N);
    double tsvd = now() - t0;
    /* Eckart-Young: the rank-k error from the singular values. */
    double tail = 0.0, all = 0.0;
    for (int64_t i = N - 1; i >= 0; i--) {
        all += s[i] * s[i];
        if (i >= k) tail += s[i] * s[i];
    }
    double ey = all > 0.0 ? sqrt(tail / all) : 0.0;
    free(c);
    free(s);
    free(u);
    free(vt);
    if (info != 0) {
        fprintf(stderr, "dgesdd info %d\n", (int)info);
        return;
    }
    dlor_error err;
    dlor_lowrank l0, l1, l2;
    dlor_curve cv;
    dlor_factored f;
    dlor_lowrank_opts o = dlor_lowrank_defaults();
    o.beta_mode = DLOR_BETA_ZERO;
    t0 = now();
    if (dlor_lowrank_fit(what, w, N, N, k, &o, &l0, &err) != DLOR_OK) goto fail;
    double t_zero = now() - t0;
    t0 = now();
    if (dlor_lowrank_fit(what, w, N, N, k, NULL, &l1, &err) != DLOR_OK) goto fail;
    double t_fit = now() - t0;
    double t_curve = 0, t_start = 0;
    memset(&cv, 0, sizeof cv);
    memset(&l2, 0, sizeof l2);
    if (curves) {
        t0 = now();
        if (dlor_error_curves(what, w, N, N, 2 * k, NULL, &cv, &err) != DLOR_OK) goto fail;
        t_curve = now() - t0;
        o = dlor_lowrank_defaults();
        o.has_start = 1;
        o.beta = cv.beta[k];
        t0 = now();
        if (dlor_lowrank_fit(what, w, N, N, k, &o, &l2, &err) != DLOR_OK) goto fail;
        t_start = now() - t0;
    }
    t0 = now();
    int have_mul = dlor_lowrank_to_mul(what, &l1, 3, DLOR_DT_F32, &f, &err) == DLOR_OK;
    double t_mul = now() - t0;
    printf("%-9s N=%lld k=%lld: dgesdd 'S' %.3f s | fit beta=0 %.2fx (err %.4g) | best beta "
           "%.2fx, %d SVDs (err %.4g, beta %.6g) | ",
           what, (long long)N, (long long)k, tsvd, t_zero / tsvd, l0.rel_err, t_fit / tsvd,
           l1.svds, l1.rel_err, l1.beta);
    if (curves)
        printf("curves k<=%lld %.2fx, %d SVDs | fit from curve beta %.2fx, %d SVDs | ", (long long)(2 * k),
               t_curve / tsvd, cv.nsvd, t_start / tsvd, l2.svds);
    printf("3 factors %.3fx%s\n", t_mul / tsvd, have_mul ? "" : " (failed)");
    printf("%-9s seconds: dgesdd_S %.4f fit_beta0 %.4f fit_best %.4f curves %.4f fit_from_curve %.4f "
           "to_mul3 %.4f%s\n",
           what, tsvd, t_zero, t_fit, t_curve, t_start, t_mul, curves ? "" : " (curves skipped)");
    printf("%-9s errors: eckart_young %.10g svd %.10g lowrank %.10g (svd %.3g above, lowrank %.3g)\n",
           what, ey, l0.rel_err, l1.rel_err, ey > 0.0 ? l0.rel_err / ey - 1.0 : 0.0,
           ey > 0.0 ? l1.rel_err / ey - 1.0 : 0.0);
    if (have_mul) dlor_factored_free(&f);
    dlor_lowrank_free(&l0);
    dlor_lowrank_free(&l1);
    dlor_lowrank_free(&l2);
    dlor_curve_free(&cv);
    return;
fail:
    fprintf(stderr, "%s: %s\n", what, err.msg);
}

/* --sweep: the truncated SVD forced against dgesdd for a range of k. */
static void sweep(const char *what, const double *w, int64_t N)
{
    double *c = xmalloc(sizeof(double) * (size_t)(N * N));
    double *s = xmalloc(sizeof(double) * (size_t)N);
    double *u = xmalloc(sizeof(double) * (size_t)(N * N));
    double *vt = xmalloc(sizeof(double) * (size_t)(N * N));
    const double fr[7] = {0.02, 0.05, 0.08, 0.1, 0.125, 0.15, 0.2};
    for (int q = 0; q < 7; q++) {
        int64_t k = (int64_t)(fr[q] * (double)N);
        if (k < 1) k = 1;
        memcpy(c, w, sizeof(double) * (size_t)(N * N));
        double t0 = now();
        LAPACKE_dgesdd(LAPACK_COL_MAJOR, 'S', (int)N, (int)N, c, (int)N, s, u, (int)N, vt, (int)N);
        double tsvd = now() - t0;
        dlor__svd d, pick;
        if (dlor__svd_init(&d, N, N, k, DLOR__SVD_KRYLOV) != 0 || dlor__svd_init(&pick, N, N, k, 0) != 0) {
            fprintf(stderr, "bench_compress: out of memory\n");
            exit(2);
        }
        memcpy(c, w, sizeof(double) * (size_t)(N * N));
        t0 = now();
        int info = dlor__svd_run(&d, c, N, NULL);
        double tk = now() - t0;
        printf("%-9s sweep N=%lld k=%lld (k/N %.3f): dgesdd 'S' %.4f s, Krylov %s %.4f s (%d products) "
               "= %.2f x; the library picks %s\n", what, (long long)N, (long long)k, fr[q], tsvd,
               d.full ? "(not possible)" : "", tk, d.products, tk / tsvd, pick.full ? "dgesdd" : "Krylov");
        if (info != 0) fprintf(stderr, "bench_compress: info %d\n", info);
        dlor__svd_free(&d);
        dlor__svd_free(&pick);
    }
    free(c);
    free(s);
    free(u);
    free(vt);
}

int main(int argc, char **argv)
{
    int64_t N = 1024, k = -1;
    int npos = 0, curves = 1, bad = 0, sweeping = 0;
    const char *matrix = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--matrix") == 0 && i + 1 < argc) matrix = argv[++i];
        else if (strcmp(argv[i], "--sweep") == 0) sweeping = 1;
        else if (strcmp(argv[i], "--no-curves") == 0) curves = 0;
        else if (argv[i][0] != '-' && npos == 0) N = atoll(argv[i]), npos++;
        else if (argv[i][0] != '-' && npos == 1) k = atoll(argv[i]), npos++;
        else bad = 1;
    }
    if (k < 0) k = (int64_t)floor((0.1 * N * N - 1.0) / (2.0 * N));
    if (bad || N < 16 || k < 1 || 2 * k > N) {
        fprintf(stderr, "usage: bench_compress [N >= 16] [1 <= k <= N/2] [--matrix W.npy] [--no-curves]\n"
                        "       bench_compress --sweep N [--matrix W.npy]\n");
        return 2;
    }
    double *w = xmalloc(sizeof(double) * (size_t)(N * N));
    if (matrix) { /* only the given matrix */
        dlor_tensor_list l;
        dlor_error err;
        dlor_tensor_list_init(&l);
        dlor_status st = dlor_read_npy(matrix, &l, &err);
        if (st == DLOR_OK && (l.count != 1 || l.items[0].ndim != 2 || l.items[0].dims[0] != (uint64_t)N ||
                              l.items[0].dims[1] != (uint64_t)N)) {
            fprintf(stderr, "bench_compress: %s is not a %lld x %lld matrix\n", matrix, (long long)N,
                    (long long)N);
            return 1;
        }
        if (st == DLOR_OK) st = dlor_tensor_to_f64(&l.items[0], w, &err);
        dlor_tensor_list_free(&l);
        if (st != DLOR_OK) {
            fprintf(stderr, "bench_compress: %s\n", err.msg);
            return 1;
        }
        if (sweeping)
            sweep("matrix", w, N);
        else
            run("matrix", w, N, k, curves);
        free(w);
        return 0;
    }
    if (sweeping) {
        for (int64_t i = 0; i < N * N; i++) w[i] = dlt_normal(&rng) / sqrt((double)N);
        sweep("gauss", w, N);
        /* Q1 diag(s) Q2^T, Q from the QR of Gaussian matrices. */
        double *q1 = xmalloc(sizeof(double) * (size_t)(N * N)), *q2 = xmalloc(sizeof(double) * (size_t)(N * N));
        double *tau = xmalloc(sizeof(double) * (size_t)N);
        for (int64_t i = 0; i < N * N; i++) q1[i] = dlt_normal(&rng);
        for (int64_t i = 0; i < N * N; i++) q2[i] = dlt_normal(&rng);
        LAPACKE_dgeqrf(LAPACK_COL_MAJOR, (int)N, (int)N, q1, (int)N, tau);
        LAPACKE_dorgqr(LAPACK_COL_MAJOR, (int)N, (int)N, (int)N, q1, (int)N, tau);
        LAPACKE_dgeqrf(LAPACK_COL_MAJOR, (int)N, (int)N, q2, (int)N, tau);
        LAPACKE_dorgqr(LAPACK_COL_MAJOR, (int)N, (int)N, (int)N, q2, (int)N, tau);
        for (int64_t j = 0; j < N; j++)
            for (int64_t i = 0; i < N; i++) q1[i + j * N] *= pow(1.0 + (double)j / 8.0, -0.8);
        cblas_dgemm(CblasColMajor, CblasNoTrans, CblasTrans, (int)N, (int)N, (int)N, 1.0, q1, (int)N, q2, (int)N,
                    0.0, w, (int)N);
        sweep("decaying", w, N);
        free(q1);
        free(q2);
        free(tau);
        free(w);
        return 0;
    }
    double *a = xmalloc(sizeof(double) * (size_t)(N * 8));
    double *b = xmalloc(sizeof(double) * (size_t)(N * 8));
    for (int64_t i = 0; i < N * 8; i++) {
        a[i] = sqrt(5.0 / (double)N) * dlt_normal(&rng);
        b[i] = sqrt(5.0 / (double)N) * dlt_normal(&rng);
    }
    for (int64_t i = 0; i < N; i++)
        for (int64_t j = 0; j < N; j++) {
            double s = 1e-3 * dlt_normal(&rng) + (i == j ? 1.0 : 0.0);
            for (int q = 0; q < 8; q++) s += a[i * 8 + q] * b[j * 8 + q];
            w[i * N + j] = s;
        }
    run("residual", w, N, k, curves);
    for (int64_t i = 0; i < N * N; i++) w[i] = dlt_normal(&rng) / sqrt((double)N);
    run("gauss", w, N, k, curves);
    free(w);
    free(a);
    free(b);
    return 0;
}
