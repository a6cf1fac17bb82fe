/* test_svd_top.c - the leading singular triplets of lib/svd_top.c (randomized block Krylov
 * where it is cheaper, else LAPACK's full SVD) against LAPACKE_dgesdd of the same matrix,
 * on spectra that decay, are flat, are clustered around sigma_k, and on a matrix of exactly
 * low rank. Tolerances are stated at each check. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>
#include <lapacke.h>

#include "svd_top.h"
#include "testmat.h"
#include "testutil.h"

/* p x q column-major Q1[:, :K] diag(s) Q2[:, :K]^T with Haar-random orthogonal Q1, Q2. */
static double *with_spectrum(int64_t p, int64_t q, const double *s, unsigned long long seed)
{
    int64_t K = p < q ? p : q;
    double *q1 = dlt_mat_orth(p, seed), *q2 = dlt_mat_orth(q, seed + 1);
    double *a = dlt_doubles((size_t)(p * q));
    for (int64_t j = 0; j < K; j++)
        for (int64_t i = 0; i < p; i++) q1[i * p + j] *= s[j];
    /* q1, q2 are row-major: column j of Q is q[i * N + j]. A = Q1 S Q2^T, column-major. */
    cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, (int)p, (int)q, (int)K, 1.0, q1, (int)p,
                q2, (int)q, 0.0, a, (int)p);
    free(q1);
    free(q2);
    return a;
}

typedef struct ref {
    double *s, *u, *vt; /* dgesdd 'S' */
    double fro2;
} ref;

static ref reference(const double *a, int64_t p, int64_t q)
{
    int64_t K = p < q ? p : q;
    ref r;
    double *c = dlt_doubles((size_t)(p * q));
    memcpy(c, a, sizeof(double) * (size_t)(p * q));
    r.s = dlt_doubles((size_t)K);
    r.u = dlt_doubles((size_t)(p * K));
    r.vt = dlt_doubles((size_t)(K * q));
    lapack_int info = LAPACKE_dgesdd(LAPACK_COL_MAJOR, 'S', (int)p, (int)q, c, (int)p, r.s, r.u,
                                     (int)p, r.vt, (int)K);
    CHECK(info == 0, "reference dgesdd info %d", (int)info);
    r.fro2 = 0.0;
    for (int64_t i = 0; i < K; i++) r.fro2 += r.s[i] * r.s[i];
    free(c);
    return r;
}

static void ref_free(ref *r)
{
    free(r->s);
    free(r->u);
    free(r->vt);
}

/* ||A - U_j diag(sig_j) V_j^T||_F^2 computed directly. */
static double direct_err2(const double *a, int64_t p, int64_t q, const dlor__svd *s, int64_t j)
{
    double *e = dlt_doubles((size_t)(p * q)), *us = dlt_doubles((size_t)(p * (j ? j : 1)));
    memcpy(e, a, sizeof(double) * (size_t)(p * q));
    for (int64_t c = 0; c < j; c++)
        for (int64_t i = 0; i < p; i++) us[i + c * p] = s->u[i + c * s->ldu] * s->sig[c];
    if (j > 0)
        cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, (int)p, (int)q, (int)j, -1.0, us,
                    (int)p, s->vt, (int)s->ldvt, 1.0, e, (int)p);
    double f = dlt_fro(e, (size_t)(p * q));
    free(e);
    free(us);
    return f * f;
}

/* max |X^T X - I| for X with n orthonormal columns of length len, stride between entries
 * of a column es and between columns cs. */
static double orth_err(const double *x, int64_t len, int64_t n, int64_t es, int64_t cs)
{
    double worst = 0.0;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j <= i; j++) {
            double d = 0.0;
            for (int64_t r = 0; r < len; r++) d += x[r * es + i * cs] * x[r * es + j * cs];
            worst = fmax(worst, fabs(d - (i == j ? 1.0 : 0.0)));
        }
    return worst;
}

/* Runs the method on a (p x q) for k, checks what holds for every spectrum, and returns the
 * relative excess of the rank-k error over the optimum's; *out keeps the result. */
static double check_common(const char *nm, const double *a, int64_t p, int64_t q, int64_t k,
                           const ref *r, dlor__svd *out)
{
    int64_t K = p < q ? p : q;
    double *c = dlt_doubles((size_t)(p * q));
    memcpy(c, a, sizeof(double) * (size_t)(p * q));
    CHECK(dlor__svd_init(out, p, q, k, 0) == 0, "%s: init", nm);
    int info = dlor__svd_run(out, c, p, NULL);
    CHECK(info == 0, "%s: run info %d", nm, info);
    const dlor__svd *s = out;
    CHECK(!s->full && s->l > k && s->l < K, "%s: expected the randomized path (l = %lld of %lld)",
          nm, (long long)s->l, (long long)K);
    /* Orthonormal U and V (rows of vt), to 1e-12. */
    double ou = orth_err(s->u, p, s->l, 1, p), ov = orth_err(s->vt, q, s->l, s->l, 1);
    CHECK(ou <= 1e-12 && ov <= 1e-12, "%s: orthonormality U %.2g V %.2g", nm, ou, ov);
    /* Descending, never above the true singular values (Ritz values of a subspace). */
    int desc = 1, below = 1;
    for (int64_t i = 0; i < s->l; i++) {
        if (i > 0 && s->sig[i] > s->sig[i - 1]) desc = 0;
        if (s->sig[i] > r->s[i] * (1.0 + 1e-12) + 1e-14 * r->s[0]) below = 0;
    }
    CHECK(desc && below, "%s: singular values not descending (%d) or above the true ones (%d)",
          nm, desc, below);
    /* (*) of svd_top.h: the error of every prefix is res + the tail of sig, to 1e-10 of
     * ||A||^2 (the direct sum of squares itself rounds at ~1e-15). */
    const int64_t js[3] = {1, k / 2, k};
    for (int q3 = 0; q3 < 3; q3++) {
        int64_t j = js[q3];
        double f = s->res;
        for (int64_t i = j; i < s->l; i++) f += s->sig[i] * s->sig[i];
        double fd = direct_err2(a, p, q, s, j);
        CHECK(fabs(f - fd) <= 1e-10 * r->fro2, "%s: (*) at j = %lld: %.17g vs direct %.17g", nm,
              (long long)j, f, fd);
    }
    /* The rank-k error against Eckart-Young's. */
    double fopt = 0.0, f = s->res;
    for (int64_t i = k; i < K; i++) fopt += r->s[i] * r->s[i];
    for (int64_t i = k; i < s->l; i++) f += s->sig[i] * s->sig[i];
    double excess = fopt > 0.0 ? sqrt(f / fopt) - 1.0 : sqrt(f / r->fro2);
    CHECK(excess >= -1e-12, "%s: rank-%lld error below the optimum (%.3g)", nm, (long long)k,
          excess);
    /* Deterministic: a second run from scratch gives the same bytes. */
    dlor__svd s2;
    memcpy(c, a, sizeof(double) * (size_t)(p * q));
    CHECK(dlor__svd_init(&s2, p, q, k, 0) == 0 && dlor__svd_run(&s2, c, p, NULL) == 0, "%s: rerun",
          nm);
    CHECK(s2.l == s->l && memcmp(s2.sig, s->sig, sizeof(double) * (size_t)s->l) == 0 &&
              memcmp(s2.u, s->u, sizeof(double) * (size_t)(p * s->l)) == 0 &&
              memcmp(s2.vt, s->vt, sizeof(double) * (size_t)(s->l * q)) == 0,
          "%s: two runs differ", nm);
    /* Started from its own result, the method confirms it in one step (2 blocks: 4
     * products) and stays within the same accuracy. */
    memcpy(c, a, sizeof(double) * (size_t)(p * q));
    CHECK(dlor__svd_run(&s2, c, p, &s2) == 0, "%s: warm run", nm);
    double fw = s2.res;
    for (int64_t i = k; i < s2.l; i++) fw += s2.sig[i] * s2.sig[i];
    double ew = fopt > 0.0 ? sqrt(fw / fopt) - 1.0 : sqrt(fw / r->fro2);
    CHECK(s2.products <= 4 && ew <= fmax(excess, 0.0) + 1e-6,
          "%s: warm start: %d products, excess %.3g (cold %.3g)", nm, s2.products, ew, excess);
    /* Values only: the same singular values (from the Gram matrix: to 1e-8 of sigma_1). */
    dlor__svd s3;
    memcpy(c, a, sizeof(double) * (size_t)(p * q));
    CHECK(dlor__svd_init(&s3, p, q, k, DLOR__SVD_VALUES) == 0 &&
              dlor__svd_run(&s3, c, p, NULL) == 0,
          "%s: values only", nm);
    double dv = 0.0;
    for (int64_t i = 0; i < k; i++) dv = fmax(dv, fabs(s3.sig[i] - s->sig[i]));
    CHECK(s3.u == NULL && dv <= 1e-8 * s->sig[0], "%s: values only differ by %.2g", nm, dv);
    printf("  %-10s %lldx%lld k=%lld: l=%lld, %d products, rank-k error %.3g above the optimum "
           "(warm start: %d products)\n", nm, (long long)p, (long long)q, (long long)k,
           (long long)s->l, s->products, excess, s2.products);
    dlor__svd_free(&s2);
    dlor__svd_free(&s3);
    free(c);
    return excess;
}

/* Largest |cos| between v and the columns [c0, c1) of b (p x *, column-major). */
static double best_cos(const double *v, int64_t vstride, const double *b, int64_t p, int64_t c0,
                       int64_t c1, int64_t bstride_e, int64_t bstride_c)
{
    double best = 0.0;
    for (int64_t c = c0; c < c1; c++) {
        double d = 0.0;
        for (int64_t r = 0; r < p; r++) d += v[r * vstride] * b[r * bstride_e + c * bstride_c];
        best = fmax(best, fabs(d));
    }
    return best;
}

/* Squared norm of the projection of v onto span of columns [c0, c1) (orthonormal). */
static double proj2(const double *v, int64_t vstride, const double *b, int64_t p, int64_t c0,
                    int64_t c1, int64_t es, int64_t cs)
{
    double t = 0.0;
    for (int64_t c = c0; c < c1; c++) {
        double d = 0.0;
        for (int64_t r = 0; r < p; r++) d += v[r * vstride] * b[r * es + c * cs];
        t += d * d;
    }
    return t;
}

static void test_decaying(void)
{
    const int64_t p = 420, q = 300, K = 300, k = 16;
    double *s = dlt_doubles((size_t)K);
    for (int64_t i = 0; i < K; i++) s[i] = exp(-(double)i / 8.0);
    double *a = with_spectrum(p, q, s, 11);
    ref r = reference(a, p, q);
    dlor__svd t;
    double ex = check_common("decaying", a, p, q, k, &r, &t);
    /* Well-separated singular values: each triplet is LAPACK's, to 1e-10 (values, relative)
     * and 1e-8 (|cos| of the vectors, sign free). */
    double dv = 0.0, dc = 0.0;
    for (int64_t i = 0; i < k; i++) {
        dv = fmax(dv, fabs(t.sig[i] - r.s[i]) / r.s[i]);
        dc = fmax(dc, 1.0 - best_cos(t.u + i * p, 1, r.u, p, i, i + 1, 1, p));
        dc = fmax(dc, 1.0 - best_cos(t.vt + i, t.l, r.vt, q, i, i + 1, K, 1));
    }
    CHECK(dv <= 1e-10 && dc <= 1e-8, "decaying: values %.2g, vectors 1 - |cos| %.2g", dv, dc);
    CHECK(ex <= 1e-10, "decaying: rank-k error %.3g above the optimum", ex);
    printf("  decaying: leading %lld values to %.1g, vectors 1 - |cos| %.1g\n", (long long)k, dv,
           dc);
    dlor__svd_free(&t);
    ref_free(&r);
    free(a);
    free(s);
}

static void test_flat(void)
{
    /* A Gaussian matrix (Marchenko-Pastur spectrum: no gap anywhere near sigma_k), and a
     * spectrum flat to 1e-3: vectors are not determined, errors are. */
    const int64_t p = 300, q = 600, K = 300, k = 20;
    for (int which = 0; which < 2; which++) {
        double *a;
        if (which == 0) {
            a = dlt_mat_gauss(p, q, 21, 1.0 / sqrt((double)q));
        } else {
            double *s = dlt_doubles((size_t)K);
            for (int64_t i = 0; i < K; i++) s[i] = 1.0 + 1e-3 * (double)(K - i) / (double)K;
            a = with_spectrum(p, q, s, 22);
            free(s);
        }
        ref r = reference(a, p, q);
        dlor__svd t;
        double ex = check_common(which == 0 ? "gaussian" : "flat", a, p, q, k, &r, &t);
        /* The documented accuracy: the rank-k error within 1e-3 of the optimum (the stopping
         * rule allows 5e-4 per block; measured 1e-4 .. 6e-4 on flat spectra). */
        CHECK(ex <= 1e-3, "%s: rank-k error %.3g above the optimum", which ? "flat" : "gaussian",
              ex);
        /* Each value within 2% of LAPACK's (Ritz values of a flat spectrum converge slowly
         * one by one, not in their sum). */
        double dv = 0.0;
        for (int64_t i = 0; i < k; i++) dv = fmax(dv, (r.s[i] - t.sig[i]) / r.s[i]);
        CHECK(dv <= 2e-2, "%s: value %.3g below LAPACK's", which ? "flat" : "gaussian", dv);
        dlor__svd_free(&t);
        ref_free(&r);
        free(a);
    }
}

static void test_clustered(void)
{
    /* 10 singular values at 1, a cluster of 12 at 0.6 straddling k = 16, then a decaying
     * tail below 0.2. Any 6 of the cluster's directions are optimal. */
    const int64_t p = 360, q = 360, K = 360, k = 16;
    double *s = dlt_doubles((size_t)K);
    for (int64_t i = 0; i < K; i++)
        s[i] = i < 10 ? 1.0 : i < 22 ? 0.6 : 0.2 * exp(-(double)(i - 22) / 30.0);
    double *a = with_spectrum(p, q, s, 31);
    ref r = reference(a, p, q);
    dlor__svd t;
    double ex = check_common("clustered", a, p, q, k, &r, &t);
    CHECK(ex <= 1e-6, "clustered: rank-k error %.3g above the optimum", ex);
    /* Values exact to 1e-8; the leading 10 vectors span LAPACK's leading 10 (to 1e-8), the
     * next 6 lie in the cluster's span (to 1e-8). */
    double dv = 0.0, dlead = 0.0, dclus = 0.0;
    for (int64_t i = 0; i < k; i++) dv = fmax(dv, fabs(t.sig[i] - s[i]) / s[i]);
    for (int64_t i = 0; i < k; i++) {
        double pr = i < 10 ? proj2(t.u + i * p, 1, r.u, p, 0, 10, 1, p)
                           : proj2(t.u + i * p, 1, r.u, p, 10, 22, 1, p);
        if (i < 10) dlead = fmax(dlead, 1.0 - pr);
        else dclus = fmax(dclus, 1.0 - pr);
    }
    CHECK(dv <= 1e-8 && dlead <= 1e-8 && dclus <= 1e-8,
          "clustered: values %.2g, leading span %.2g, cluster span %.2g", dv, dlead, dclus);
    printf("  clustered: values to %.1g, spans to %.1g / %.1g\n", dv, dlead, dclus);
    dlor__svd_free(&t);
    ref_free(&r);
    free(a);
    free(s);
}

static void test_low_rank(void)
{
    /* Rank 6 < k: the basis holds the whole range after the first block; the remainder is
     * measured directly (no cancellation in ||A||^2 - sum sigma^2). */
    const int64_t p = 300, q = 260, K = 260, k = 12;
    double *s = dlt_doubles((size_t)K);
    for (int64_t i = 0; i < 6; i++) s[i] = 1.0 + (double)i;
    double *a = with_spectrum(p, q, s, 41);
    ref r = reference(a, p, q);
    dlor__svd t;
    double *c = dlt_doubles((size_t)(p * q));
    memcpy(c, a, sizeof(double) * (size_t)(p * q));
    CHECK(dlor__svd_init(&t, p, q, k, 0) == 0 && dlor__svd_run(&t, c, p, NULL) == 0,
          "low rank: run");
    double ou = orth_err(t.u, p, t.l, 1, p), ov = orth_err(t.vt, q, t.l, t.l, 1);
    double tail = t.res;
    for (int64_t i = 6; i < t.l; i++) tail += t.sig[i] * t.sig[i];
    double fd = direct_err2(a, p, q, &t, 6);
    CHECK(ou <= 1e-12 && ov <= 1e-12, "low rank: orthonormality %.2g %.2g", ou, ov);
    CHECK(tail <= 1e-24 * r.fro2 && fd <= 1e-24 * r.fro2,
          "low rank: rank-6 error^2 %.3g (direct %.3g) of ||A||^2 %.3g", tail, fd, r.fro2);
    double dv = 0.0;
    for (int64_t i = 0; i < 6; i++) dv = fmax(dv, fabs(t.sig[i] - r.s[i]));
    CHECK(dv <= 1e-12 * r.s[0], "low rank: values differ by %.2g", dv);
    printf("  low rank 6: %d products, rank-6 error^2 %.2g of ||A||^2\n", t.products,
           tail / r.fro2);
    dlor__svd_free(&t);
    ref_free(&r);
    free(a);
    free(s);
    free(c);
}

static void test_fallback(void)
{
    /* A flat spectrum with k too close to K/5: five blocks fit, the stopping rule is not
     * met in them, and LAPACK's SVD gives the triplets (exact, as LAPACK's). */
    const int64_t p = 300, q = 300, k = 25;
    double *a = dlt_mat_gauss(p, q, 61, 1.0);
    ref r = reference(a, p, q);
    dlor__svd t;
    double *c = dlt_doubles((size_t)(p * q));
    memcpy(c, a, sizeof(double) * (size_t)(p * q));
    CHECK(dlor__svd_init(&t, p, q, k, 0) == 0 && dlor__svd_run(&t, c, p, NULL) == 0,
          "fallback: run");
    CHECK(!t.full && t.fell_back && !t.converged, "fallback: full %d, fell back %d", t.full,
          t.fell_back);
    double dv = 0.0;
    for (int64_t i = 0; i < t.l; i++) dv = fmax(dv, fabs(t.sig[i] - r.s[i]) / r.s[i]);
    double f = t.res, fopt = 0.0;
    for (int64_t i = k; i < t.l; i++) f += t.sig[i] * t.sig[i];
    for (int64_t i = k; i < q; i++) fopt += r.s[i] * r.s[i];
    double fd = direct_err2(a, p, q, &t, k);
    CHECK(dv <= 1e-13 && fabs(f - fopt) <= 1e-12 * fopt && fabs(fd - f) <= 1e-10 * r.fro2,
          "fallback: values %.2g, error %.17g vs Eckart-Young %.17g (direct %.17g)", dv, f, fopt,
          fd);
    printf("  fallback: %d products, then LAPACK: values to %.1g\n", t.products, dv);
    dlor__svd_free(&t);
    ref_free(&r);
    free(a);
    free(c);
}

static void test_choice(void)
{
    /* Small matrices, and k not well below min(p, q), take LAPACK's full SVD: exactly
     * dgesdd's output. */
    const int64_t cases[3][3] = {{120, 90, 4}, {400, 300, 60}, {300, 300, 150}};
    for (int cse = 0; cse < 3; cse++) {
        int64_t p = cases[cse][0], q = cases[cse][1], k = cases[cse][2], K = p < q ? p : q;
        double *a = dlt_mat_gauss(p, q, 51 + cse, 1.0);
        ref r = reference(a, p, q);
        dlor__svd t;
        double *c = dlt_doubles((size_t)(p * q));
        memcpy(c, a, sizeof(double) * (size_t)(p * q));
        CHECK(dlor__svd_init(&t, p, q, k, 0) == 0 && dlor__svd_run(&t, c, p, NULL) == 0, "choice");
        CHECK(t.full && t.l == K && t.res == 0.0 &&
                  memcmp(t.sig, r.s, sizeof(double) * (size_t)K) == 0,
              "%lldx%lld k=%lld: not LAPACK's full SVD", (long long)p, (long long)q, (long long)k);
        dlor__svd_free(&t);
        /* DLOR__SVD_FULL forces it where the randomized path would be taken. */
        memcpy(c, a, sizeof(double) * (size_t)(p * q));
        CHECK(dlor__svd_init(&t, p, q, 2, DLOR__SVD_FULL) == 0 &&
                  dlor__svd_run(&t, c, p, NULL) == 0 && t.full &&
                  memcmp(t.sig, r.s, sizeof(double) * (size_t)K) == 0,
              "forced full SVD");
        dlor__svd_free(&t);
        ref_free(&r);
        free(a);
        free(c);
    }
}

int main(void)
{
    printf("decaying:\n");
    test_decaying();
    printf("flat:\n");
    test_flat();
    printf("clustered:\n");
    test_clustered();
    printf("low rank:\n");
    test_low_rank();
    printf("fallback:\n");
    test_fallback();
    test_choice();
    return dlt_finish();
}
