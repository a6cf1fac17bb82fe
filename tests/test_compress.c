/* test_compress.c - compression of one layer into beta I + P Q^T (lib/dlor_compress.h),
 * checked against references that share no code with the library:
 *   - spectra from LAPACKE_dgesdd (values only) of W - beta I, or of (W - beta I) X^T with the
 *     calibration data itself rather than its whitening factor;
 *   - a brute-force scan plus golden-section search over beta;
 *   - brute-force enumeration of every rank combination for the budget allocation;
 *   - plain-loop products of the m DLoR factors, applied to vectors and to the identity.
 * Matrices come from a fixed-seed generator. Tolerances are stated at each check. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cblas.h>
#include <lapacke.h>

#include "dlor_compress.h"
#include "testmat.h"
#include "testutil.h"

/* ---- test matrices (row-major) ------------------------------------------------------------ */

/* C = A B^T (A m x k, B n x k), plain loops. */
static double *mat_abt(const double *a, const double *b, int64_t m, int64_t n, int64_t k)
{
    double *c = dlt_doubles((size_t)(m * n));
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double s = 0.0;
            for (int64_t q = 0; q < k; q++) s += a[i * k + q] * b[j * k + q];
            c[i * n + j] = s;
        }
    return c;
}

/* diag * I_{m x n} + A B^T (rank r, singular values ~ lr_norm each) + noise, entries
 * N(0, eps^2). */
static double *mat_residual(int64_t m, int64_t n, double diag, int64_t r, double lr_norm,
                            double eps, unsigned long long seed)
{
    /* Columns of A, B have norm ~ sqrt(lr_norm) and are nearly orthogonal, so A B^T has r
     * singular values near lr_norm. */
    double *a = dlt_mat_gauss(m, r, seed, sqrt(lr_norm / (double)m));
    double *b = dlt_mat_gauss(n, r, seed + 1, sqrt(lr_norm / (double)n));
    double *w = mat_abt(a, b, m, n, r);
    dlt_rng g = {seed + 2};
    for (int64_t i = 0; i < m * n; i++) w[i] += eps * dlt_normal(&g);
    for (int64_t i = 0; i < (m < n ? m : n); i++) w[i * n + i] += diag;
    free(a);
    free(b);
    return w;
}

/* Q (m x m) with orthonormal columns: QR of a Gaussian matrix. */

/* Q1[:, :K] diag(sigma) Q2[:, :K]^T with sigma_i = exp(-i / decay): a trained-like spectrum. */
static double *mat_decay(int64_t m, int64_t n, double decay, unsigned long long seed)
{
    int64_t K = m < n ? m : n;
    double *q1 = dlt_mat_orth(m, seed), *q2 = dlt_mat_orth(n, seed + 1);
    double *w = dlt_doubles((size_t)(m * n));
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double s = 0.0;
            for (int64_t q = 0; q < K; q++)
                s += q1[i * m + q] * exp(-(double)q / decay) * q2[j * n + q];
            w[i * n + j] = s;
        }
    free(q1);
    free(q2);
    return w;
}

/* ---- independent references ------------------------------------------------------------- */

/* Singular values of an m x n row-major matrix (descending), LAPACK values only. */
static double *svals(const double *a, int64_t m, int64_t n)
{
    int64_t K = m < n ? m : n;
    double *c = dlt_doubles((size_t)(m * n)), *s = dlt_doubles((size_t)K);
    memcpy(c, a, sizeof(double) * (size_t)(m * n));
    /* The row-major m x n matrix is the column-major n x m transpose: same singular values. */
    lapack_int info = LAPACKE_dgesdd(LAPACK_COL_MAJOR, 'N', (int)n, (int)m, c, (int)n, s, NULL, 1,
                                     NULL, 1);
    CHECK(info == 0, "reference dgesdd info %d", (int)info);
    free(c);
    return s;
}

/* min over rank-k X of ||W - beta I - X||_F / ||W||_F, from the spectrum. */
static double ref_err(const double *w, int64_t m, int64_t n, double beta, int64_t k)
{
    int64_t K = m < n ? m : n;
    double *c = dlt_doubles((size_t)(m * n));
    memcpy(c, w, sizeof(double) * (size_t)(m * n));
    for (int64_t i = 0; i < K; i++) c[i * n + i] -= beta;
    double *s = svals(c, m, n);
    double t = 0.0;
    for (int64_t i = K - 1; i >= k; i--) t += s[i] * s[i];
    double e = sqrt(t) / dlt_fro(w, (size_t)(m * n));
    free(c);
    free(s);
    return e;
}

/* The same in data space, with the calibration data X (samples x n) itself:
 * min over rank k of ||(W - beta I - X_k) X^T|| / ||W X^T|| = tail of the spectrum of
 * (W - beta I) X^T (its truncations have their rows in the row space of X^T). */
static double ref_err_data(const double *w, int64_t m, int64_t n, double beta, int64_t k,
                           const double *x, int64_t samples)
{
    int64_t K = m < n ? m : n;
    double *c = dlt_doubles((size_t)(m * n));
    memcpy(c, w, sizeof(double) * (size_t)(m * n));
    for (int64_t i = 0; i < K; i++) c[i * n + i] -= beta;
    double *cx = dlt_doubles((size_t)(m * samples)), *wx = dlt_doubles((size_t)(m * samples));
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)samples, (int)n, 1.0, c,
                (int)n, x, (int)n, 0.0, cx, (int)samples);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)samples, (int)n, 1.0, w,
                (int)n, x, (int)n, 0.0, wx, (int)samples);
    int64_t Kx = m < samples ? m : samples;
    double *s = svals(cx, m, samples);
    double t = 0.0;
    for (int64_t i = Kx - 1; i >= k; i--) t += s[i] * s[i];
    double e = sqrt(t) / dlt_fro(wx, (size_t)(m * samples));
    free(c);
    free(cx);
    free(wx);
    free(s);
    return e;
}

/* beta I_{m x n} + P Q^T by plain loops. */
static double *lowrank_dense(const dlor_lowrank *l)
{
    int64_t m = l->m, n = l->n, K = m < n ? m : n;
    double *w = dlt_doubles((size_t)(m * n));
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double s = 0.0;
            for (int64_t q = 0; q < l->k; q++) s += l->pt[q * m + i] * l->qt[q * n + j];
            w[i * n + j] = s + (i == j && i < K ? l->beta : 0.0);
        }
    return w;
}

/* ||(W - W_hat) X^T|| / ||W X^T|| and ||W - W_hat|| / ||W|| directly. */
static void direct_errs(const double *w, const dlor_lowrank *l, const double *x, int64_t samples,
                        double *ew, double *ex)
{
    int64_t m = l->m, n = l->n;
    double *wh = lowrank_dense(l);
    double *e = dlt_doubles((size_t)(m * n));
    for (int64_t i = 0; i < m * n; i++) e[i] = w[i] - wh[i];
    *ew = dlt_fro(e, (size_t)(m * n)) / dlt_fro(w, (size_t)(m * n));
    if (x) {
        double *ex_ = dlt_doubles((size_t)(m * samples)), *wx = dlt_doubles((size_t)(m * samples));
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)samples, (int)n, 1.0, e,
                    (int)n, x, (int)n, 0.0, ex_, (int)samples);
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)samples, (int)n, 1.0, w,
                    (int)n, x, (int)n, 0.0, wx, (int)samples);
        *ex = dlt_fro(ex_, (size_t)(m * samples)) / dlt_fro(wx, (size_t)(m * samples));
        free(ex_);
        free(wx);
    }
    free(wh);
    free(e);
}

/* The optimiser itself is checked with exact SVDs and a tight tolerance: every step takes
 * LAPACK's full SVD and the beta search runs until the predicted decrease is 1e-12 of f.
 * What the defaults (truncated SVDs, DLOR_BETA_TOL) give is checked in test_defaults. */
static dlor_lowrank_opts exact_opts(void)
{
    dlor_lowrank_opts o = dlor_lowrank_defaults();
    o.full_svd = 1;
    o.tol = 1e-12;
    return o;
}

static int fit(const char *name, const double *w, int64_t m, int64_t n, int64_t k,
               dlor_beta_mode mode, const double *chol, dlor_lowrank *l)
{
    dlor_lowrank_opts o = exact_opts();
    if (mode == DLOR_BETA_ALTERNATE) o.tol = 0.0; /* its own default, 1e-16 */
    o.beta_mode = mode;
    o.chol = chol;
    dlor_error err = {0};
    dlor_status st = dlor_lowrank_fit(name, w, m, n, k, &o, l, &err);
    CHECK(st == DLOR_OK, "%s: fit k=%lld mode %d: %s", name, (long long)k, (int)mode, err.msg);
    return st == DLOR_OK;
}

/* ---- Eckart-Young -------------------------------------------------------------------------- */

static void test_eckart_young(void)
{
    const int64_t shapes[3][2] = {{80, 60}, {60, 80}, {64, 64}};
    for (int sh = 0; sh < 3; sh++) {
        int64_t m = shapes[sh][0], n = shapes[sh][1], K = m < n ? m : n;
        double *w = sh == 2 ? dlt_mat_gauss(m, n, 100, 1.0) : mat_decay(m, n, 15.0, 101 + sh);
        const int64_t ks[4] = {1, 7, K / 2, K};
        double worst = 0.0;
        for (int q = 0; q < 4; q++) {
            int64_t k = ks[q];
            dlor_lowrank l;
            if (!fit("ey", w, m, n, k, DLOR_BETA_ZERO, NULL, &l)) continue;
            double ref = ref_err(w, m, n, 0.0, k);
            double d = fabs(l.rel_err - ref);
            if (k < K) worst = fmax(worst, d / ref);
            /* Relative 1e-12 of the error, plus 1e-14 of ||W|| for the k = K (zero) case. */
            CHECK(d <= 1e-12 * ref + 1e-14, "%lldx%lld k=%lld: error %.17g, reference %.17g",
                  (long long)m, (long long)n, (long long)k, l.rel_err, ref);
            CHECK(l.beta == 0.0 && l.rel_err_data == l.rel_err, "beta %g", l.beta);
            /* P Q^T has rank k: sigma_k clearly non-zero, sigma_(k+1) at rounding level. */
            double *wh = lowrank_dense(&l), *s = svals(wh, m, n);
            CHECK(s[k - 1] > 1e-8 * s[0], "rank: sigma_k/sigma_1 = %g", s[k - 1] / s[0]);
            if (k < K) CHECK(s[k] <= 1e-13 * s[0], "rank: sigma_(k+1)/sigma_1 = %g", s[k] / s[0]);
            free(wh);
            free(s);
            dlor_lowrank_free(&l);
        }
        /* Full rank with a fitted beta: still exact, and the descent stops at once. */
        dlor_lowrank lk;
        if (fit("full", w, m, n, K, DLOR_BETA_FIT, NULL, &lk)) {
            CHECK(lk.rel_err <= 1e-14 && lk.svds <= 4, "k = K fit: error %g, %d SVDs", lk.rel_err,
                  lk.svds);
            dlor_lowrank_free(&lk);
        }
        printf("  Eckart-Young %lldx%lld (%s), k = 1, 7, K/2 (K: 0): worst |err - ref|/ref = "
               "%.2g\n", (long long)m,
               (long long)n, sh == 2 ? "gauss" : "decaying", worst);
        free(w);
    }
}

/* ---- curves against direct fits ------------------------------------------------------------ */

/* Checks the curve at the given ranks against fits from scratch (no start) and from the
 * curve's beta; returns the worst relative disagreement. */
static double curve_vs_fit(const char *name, const double *w, int64_t m, int64_t n,
                           const dlor_curve *c, const double *chol, const int64_t *ks, int nk)
{
    double worst = 0.0;
    for (int q = 0; q < nk; q++) {
        int64_t k = ks[q];
        dlor_lowrank l, ls;
        if (!fit(name, w, m, n, k, DLOR_BETA_FIT, chol, &l)) continue;
        dlor_lowrank_opts o = exact_opts();
        o.chol = chol;
        o.has_start = 1;
        o.beta = c->beta[k];
        dlor_error err = {0};
        dlor_status st = dlor_lowrank_fit(name, w, m, n, k, &o, &ls, &err);
        CHECK(st == DLOR_OK, "%s: fit from the curve's beta: %s", name, err.msg);
        double e = chol ? l.rel_err_data : l.rel_err;
        double d = fabs(c->err_dlor[k] - e) / e;
        worst = fmax(worst, d);
        /* The curve's values are achieved errors: a fit started at its beta reaches them
         * (to rounding), and the from-scratch fit agrees to 1e-8 in weight space. The
         * data-space error of the test layer is so flat in beta (the whole DLoR gain is 2%)
         * that beta*(k) wanders and 32 SVDs do not pin every k down: 1e-5 there. */
        double tol = chol ? 1e-5 : 1e-8;
        CHECK(d <= tol, "%s k=%lld: curve %.12g vs fit %.12g", name, (long long)k,
              c->err_dlor[k], e);
        if (st == DLOR_OK) {
            double es = chol ? ls.rel_err_data : ls.rel_err;
            CHECK(es <= c->err_dlor[k] * (1.0 + 1e-12), "%s k=%lld: fit from curve beta %.17g > "
                  "curve %.17g", name, (long long)k, es, c->err_dlor[k]);
            dlor_lowrank_free(&ls);
        }
        /* The SVD curve is exact. */
        if (!chol) {
            double r0 = ref_err(w, m, n, 0.0, k);
            CHECK(fabs(c->err_svd[k] - r0) <= 1e-12 * r0, "%s k=%lld: SVD curve %.17g vs %.17g",
                  name, (long long)k, c->err_svd[k], r0);
        }
        dlor_lowrank_free(&l);
    }
    return worst;
}

static int get_curve(const char *name, const double *w, int64_t m, int64_t n, int64_t kmax,
                     const double *chol, dlor_curve *c)
{
    /* Full SVDs and a tolerance of 2e-8: the precision of the curves themselves (the
     * defaults: test_defaults). */
    dlor_curve_opts co = {0, 2e-8, 1};
    dlor_error err = {0};
    dlor_status st = dlor_error_curves_ex(name, w, m, n, kmax, chol, &co, c, &err);
    CHECK(st == DLOR_OK, "%s: curves: %s", name, err.msg);
    if (st != DLOR_OK) return 0;
    int mono = 1, below = 1;
    for (int64_t k = 0; k <= kmax; k++) {
        if (c->err_dlor[k] > c->err_svd[k] * (1.0 + 1e-14)) below = 0;
        if (k > 0 && c->err_svd[k] > c->err_svd[k - 1]) mono = 0;
    }
    CHECK(below, "%s: DLoR curve above the SVD curve", name);
    CHECK(mono, "%s: SVD curve not monotone", name);
    return 1;
}

/* ---- the best beta ------------------------------------------------------------------------ */

/* Golden-section refinement of the reference error on [a, b]. */
static double golden(const double *w, int64_t m, int64_t n, int64_t k, double a, double b,
                     double *fmin)
{
    const double gr = 0.6180339887498949;
    double c = b - gr * (b - a), d = a + gr * (b - a);
    double fc = ref_err(w, m, n, c, k), fd = ref_err(w, m, n, d, k);
    for (int it = 0; it < 80 && b - a > 1e-12; it++) {
        if (fc < fd) {
            b = d;
            d = c;
            fd = fc;
            c = b - gr * (b - a);
            fc = ref_err(w, m, n, c, k);
        } else {
            a = c;
            c = d;
            fc = fd;
            d = a + gr * (b - a);
            fd = ref_err(w, m, n, d, k);
        }
    }
    *fmin = fc < fd ? fc : fd;
    return fc < fd ? c : d;
}

static void test_best_beta(void)
{
    const int64_t shapes[2][2] = {{96, 96}, {96, 64}};
    for (int sh = 0; sh < 2; sh++) {
        int64_t m = shapes[sh][0], n = shapes[sh][1], k = 5;
        double *w = mat_residual(m, n, 0.7, 3, 3.0, 0.05, 200 + sh);
        dlor_lowrank lf, la, l0;
        if (!fit("beta fit", w, m, n, k, DLOR_BETA_FIT, NULL, &lf)) continue;
        if (!fit("beta alt", w, m, n, k, DLOR_BETA_ALTERNATE, NULL, &la)) continue;
        if (!fit("beta zero", w, m, n, k, DLOR_BETA_ZERO, NULL, &l0)) continue;
        double f = ref_err(w, m, n, lf.beta, k);
        CHECK(fabs(f - lf.rel_err) <= 1e-12 * f, "fit error %.17g vs spectrum %.17g", lf.rel_err,
              f);
        /* Local minimum: moving beta by +-delta does not lower the error (to 1e-14). */
        for (int q = 0; q < 2; q++) {
            double delta = q == 0 ? 1e-3 : 1e-6;
            double fp = ref_err(w, m, n, lf.beta + delta, k);
            double fm = ref_err(w, m, n, lf.beta - delta, k);
            CHECK(fp >= f * (1.0 - 1e-14) && fm >= f * (1.0 - 1e-14),
                  "%lldx%lld: beta %.12g not a local minimum at delta %g: %.17g %.17g %.17g",
                  (long long)m, (long long)n, lf.beta, delta, fm, f, fp);
        }
        CHECK(lf.rel_err <= l0.rel_err, "DLoR %.6g worse than SVD %.6g", lf.rel_err, l0.rel_err);
        /* Brute force: a grid over [-2, 2] (step 0.01), then golden section around the best. */
        double bb = 0.0, fb = INFINITY;
        for (int i = 0; i <= 400; i++) {
            double b = -2.0 + 0.01 * i, e = ref_err(w, m, n, b, k);
            if (e < fb) {
                fb = e;
                bb = b;
            }
        }
        double fs;
        double bs = golden(w, m, n, k, bb - 0.01, bb + 0.01, &fs);
        CHECK(fabs(bs - lf.beta) <= 1e-6, "scan beta %.12g vs fit %.12g", bs, lf.beta);
        CHECK(fabs(la.beta - lf.beta) <= 1e-6, "alternation beta %.12g vs fit %.12g", la.beta,
              lf.beta);
        CHECK(fabs(fs - lf.rel_err) <= 1e-12 * fs && fabs(la.rel_err - lf.rel_err) <= 1e-12 * fs,
              "errors: scan %.17g, fit %.17g, alternation %.17g", fs, lf.rel_err, la.rel_err);
        printf("  best beta %lldx%lld k=%lld: fit %.10f (%d SVDs), alternation %.10f (%d SVDs), "
               "scan %.10f; error %.6g (SVD %.6g)\n", (long long)m, (long long)n, (long long)k,
               lf.beta, lf.svds, la.beta, la.svds, bs, lf.rel_err, l0.rel_err);
        /* FIXED at the fitted beta reproduces it; a start point is honoured. */
        dlor_lowrank_opts o = exact_opts();
        o.beta_mode = DLOR_BETA_FIXED;
        o.beta = lf.beta;
        dlor_lowrank lx;
        dlor_error err = {0};
        if (dlor_lowrank_fit("fixed", w, m, n, k, &o, &lx, &err) == DLOR_OK) {
            CHECK(lx.beta == lf.beta && fabs(lx.rel_err - lf.rel_err) <= 1e-13,
                  "fixed beta: %.17g vs %.17g", lx.rel_err, lf.rel_err);
            dlor_lowrank_free(&lx);
        } else {
            CHECK(0, "fixed: %s", err.msg);
        }
        /* The curves of the same layer (rectangular: beta on the leading diagonal only). */
        dlor_curve c;
        if (get_curve("beta curve", w, m, n, 20, NULL, &c)) {
            const int64_t ks[2] = {k, 20};
            double worst = curve_vs_fit("beta curve", w, m, n, &c, NULL, ks, 2);
            printf("  curves %lldx%lld k=0..20: %d SVDs, worst |curve - fit| / fit = %.2g\n",
                   (long long)m, (long long)n, c.nsvd, worst);
            dlor_curve_free(&c);
        }
        dlor_lowrank_free(&lf);
        dlor_lowrank_free(&la);
        dlor_lowrank_free(&l0);
        free(w);
    }
}

/* ---- the residual-style layer ------------------------------------------------------------- */

static void test_residual(void)
{
    const int64_t N = 512, k = (int64_t)floor((0.1 * N * N - 1.0) / (2.0 * N));
    /* I + rank 8 (singular values ~ 5, comparable to ||I||_2 = 1 yet dominant in norm only
     * together with the identity) + noise with entries N(0, 1e-6). */
    double *w = mat_residual(N, N, 1.0, 8, 5.0, 1e-3, 300);
    double t0 = dlt_now();
    dlor_lowrank ld, l0;
    if (!fit("residual", w, N, N, k, DLOR_BETA_FIT, NULL, &ld)) return;
    double t1 = dlt_now();
    if (!fit("residual svd", w, N, N, k, DLOR_BETA_ZERO, NULL, &l0)) return;
    double t2 = dlt_now();
    int64_t params = dlor_lowrank_params(N, N, k, 1);
    printf("  residual-style N=%lld, k=%lld (%lld params = %.4f of dense): DLoR %.4g (beta "
           "%.6f, %d SVDs, %.2f s), truncated SVD %.4g (%.2f s), ratio %.1f\n",
           (long long)N, (long long)k, (long long)params, (double)params / (double)(N * N),
           ld.rel_err, ld.beta, ld.svds, t1 - t0, l0.rel_err, t2 - t1, l0.rel_err / ld.rel_err);
    CHECK(params <= N * N / 10, "budget: %lld params", (long long)params);
    CHECK(ld.rel_err <= l0.rel_err / 10.0, "DLoR %.4g not 10x better than SVD %.4g", ld.rel_err,
          l0.rel_err);
    CHECK(fabs(ld.rel_err - ref_err(w, N, N, ld.beta, k)) <= 1e-10 * ld.rel_err,
          "residual: error vs spectrum");

    dlor_curve c;
    double t3 = dlt_now();
    if (get_curve("residual", w, N, N, 40, NULL, &c)) {
        double t4 = dlt_now();
        const int64_t ks[3] = {4, k, 40};
        double worst = curve_vs_fit("residual", w, N, N, &c, NULL, ks, 3);
        printf("  residual curves k=0..40: %d SVDs (%.2f s), converged %d; worst |curve - fit| / "
               "fit = %.2g at k = 4, %lld, 40; err[8] %.4g, err[%lld] %.4g\n", c.nsvd, t4 - t3,
               c.converged, worst, (long long)k, c.err_dlor[8], (long long)k, c.err_dlor[k]);
        /* --tol 5e-2: the chosen rank, fitted from the curve's beta, meets it. */
        int64_t kt = dlor_rank_for_tol(c.err_dlor, c.kmax, N, N, 1, 5e-2);
        CHECK(kt >= 1, "tol 5e-2: no rank chosen");
        if (kt >= 1) {
            dlor_lowrank_opts o = dlor_lowrank_defaults();
            o.has_start = 1;
            o.beta = c.beta[kt];
            dlor_lowrank lt;
            dlor_error err = {0};
            if (dlor_lowrank_fit("tol", w, N, N, kt, &o, &lt, &err) == DLOR_OK) {
                CHECK(lt.rel_err <= 5e-2, "tol 5e-2: k=%lld gives %.6g", (long long)kt,
                      lt.rel_err);
                CHECK(kt == 1 || c.err_dlor[kt - 1] > 5e-2, "tol: k=%lld not the smallest",
                      (long long)kt);
                printf("  --tol 5e-2 on the residual layer: k = %lld, error %.4g\n",
                       (long long)kt, lt.rel_err);
                dlor_lowrank_free(&lt);
            } else {
                CHECK(0, "tol fit: %s", err.msg);
            }
        }
        dlor_curve_free(&c);
    }

    /* The exact 3-factor product of the fitted component, applied to vectors. */
    dlor_factored f;
    dlor_error err = {0};
    double t5 = dlt_now();
    dlor_status st = dlor_lowrank_to_mul("residual", &ld, 3, DLOR_DT_F64, &f, &err);
    double t6 = dlt_now();
    CHECK(st == DLOR_OK, "residual to_mul: %s", err.msg);
    if (st == DLOR_OK) {
        double worst = 0.0;
        dlt_rng g = {77};
        double *x = dlt_doubles((size_t)N), *y = dlt_doubles((size_t)N), *ref = dlt_doubles((size_t)N);
        double *cc = dlt_doubles((size_t)f.rank);
        for (int v = 0; v < 3; v++) {
            for (int64_t j = 0; j < N; j++) x[j] = dlt_normal(&g);
            for (int64_t i = 0; i < N; i++) {
                double s = ld.beta * x[i];
                for (int64_t q = 0; q < k; q++) {
                    double d = 0.0;
                    for (int64_t j = 0; j < N; j++) d += ld.qt[q * N + j] * x[j];
                    s += ld.pt[q * N + i] * d;
                }
                ref[i] = s;
            }
            for (int64_t l = 0; l < f.factors; l++) {
                int64_t b = f.k - l * f.rank < f.rank ? f.k - l * f.rank : f.rank;
                const double *u = f.ut + l * f.rank * N, *vv = f.vt + l * f.rank * N;
                for (int64_t q = 0; q < b; q++) {
                    double s = 0.0;
                    for (int64_t i = 0; i < N; i++) s += vv[q * N + i] * x[i];
                    cc[q] = s;
                }
                for (int64_t i = 0; i < N; i++) {
                    double s = f.alpha * x[i];
                    for (int64_t q = 0; q < b; q++) s += u[q * N + i] * cc[q];
                    y[i] = s;
                }
                memcpy(x, y, sizeof(double) * (size_t)N);
            }
            for (int64_t i = 0; i < N; i++) y[i] -= ref[i];
            worst = fmax(worst, dlt_fro(y, (size_t)N) / dlt_fro(ref, (size_t)N));
        }
        CHECK(worst <= 1e-12, "residual 3 factors: vector error %.3g", worst);
        printf("  residual 3-factor product: K = %lld columns (rank %lld each), alpha %.9f, "
               "vector error %.2g, %.3f s\n", (long long)f.k, (long long)f.rank, f.alpha, worst,
               t6 - t5);
        free(x);
        free(y);
        free(ref);
        free(cc);
        dlor_factored_free(&f);
    }
    dlor_lowrank_free(&ld);
    dlor_lowrank_free(&l0);
    free(w);
}

/* ---- ordinary layers: beta* ~ 0 ------------------------------------------------------------ */

static void test_ordinary(void)
{
    const int64_t N = 256, k = (int64_t)floor((0.1 * N * N - 1.0) / (2.0 * N));
    for (int which = 0; which < 2; which++) {
        double *w = which == 0 ? dlt_mat_gauss(N, N, 400, 1.0 / sqrt((double)N))
                               : mat_decay(N, N, 12.0, 401);
        const char *nm = which == 0 ? "gauss" : "decaying";
        dlor_lowrank ld, l0;
        if (!fit(nm, w, N, N, k, DLOR_BETA_FIT, NULL, &ld)) continue;
        if (!fit(nm, w, N, N, k, DLOR_BETA_ZERO, NULL, &l0)) continue;
        double bscale = dlt_fro(w, (size_t)(N * N)) / sqrt((double)N);
        printf("  %s N=%lld k=%lld: beta* = %.3g (%.2g of ||W||/sqrt(N)), DLoR %.6g, SVD %.6g, "
               "gain %.2g\n", nm, (long long)N, (long long)k, ld.beta, ld.beta / bscale,
               ld.rel_err, l0.rel_err, (l0.rel_err - ld.rel_err) / l0.rel_err);
        CHECK(ld.rel_err <= l0.rel_err * (1.0 + 1e-13), "%s: DLoR %.17g worse than SVD %.17g",
              nm, ld.rel_err, l0.rel_err);
        CHECK(fabs(ld.beta) <= 0.05 * bscale, "%s: beta* = %g not ~0", nm, ld.beta);
        dlor_curve c;
        if (get_curve(nm, w, N, N, 2 * k, NULL, &c)) {
            const int64_t ks[2] = {k, 2 * k};
            double worst = curve_vs_fit(nm, w, N, N, &c, NULL, ks, 2);
            printf("  %s curves k=0..%lld: %d SVDs, worst |curve - fit| / fit = %.2g\n", nm,
                   (long long)(2 * k), c.nsvd, worst);
            /* --tol 1e-2: unreachable below dense for the Gaussian layer, reachable for the
             * decaying one. */
            dlor_curve cf;
            if (get_curve(nm, w, N, N, N / 2, NULL, &cf)) {
                int64_t kt = dlor_rank_for_tol(cf.err_dlor, cf.kmax, N, N, 1, 1e-2);
                if (which == 0) {
                    CHECK(kt == DLOR_KEEP_DENSE, "gauss tol 1e-2: k = %lld", (long long)kt);
                } else {
                    CHECK(kt >= 1, "decaying tol 1e-2: keep dense");
                    dlor_lowrank_opts o = dlor_lowrank_defaults();
                    o.has_start = 1;
                    o.beta = kt >= 1 ? cf.beta[kt] : 0.0;
                    dlor_lowrank lt;
                    dlor_error err = {0};
                    if (kt >= 1 && dlor_lowrank_fit("tol", w, N, N, kt, &o, &lt, &err) == DLOR_OK) {
                        CHECK(lt.rel_err <= 1e-2, "tol 1e-2: %.6g", lt.rel_err);
                        printf("  --tol 1e-2 on the decaying layer: k = %lld, error %.4g\n",
                               (long long)kt, lt.rel_err);
                        dlor_lowrank_free(&lt);
                    }
                }
                dlor_curve_free(&cf);
            }
            dlor_curve_free(&c);
        }
        dlor_lowrank_free(&ld);
        dlor_lowrank_free(&l0);
        free(w);
    }
}

/* ---- data-aware ---------------------------------------------------------------------------- */

static void test_data_aware(void)
{
    const int64_t m = 48, n = 64, samples = 400, k = 8;
    double *w = dlt_mat_gauss(m, n, 500, 1.0);
    /* 10 of 64 features 30 times larger than the rest, and mildly correlated. */
    double *x = dlt_mat_gauss(samples, n, 501, 1.0);
    for (int64_t s = 0; s < samples; s++) {
        for (int64_t j = 1; j < n; j++) x[s * n + j] += 0.3 * x[s * n + j - 1];
        for (int64_t j = 0; j < 10; j++) x[s * n + 3 * j + 1] *= 30.0;
    }
    double *S = dlt_doubles((size_t)(n * n));
    double lam = -1.0;
    dlor_error err = {0};
    dlor_status st = dlor_whitening("data", x, DLOR_DT_F64, samples, n, 0.0, S, &lam, &err);
    CHECK(st == DLOR_OK && lam == 0.0, "whitening: %s (lambda %g)", err.msg, lam);
    /* S S^T = X^T X. */
    {
        double *g = dlt_doubles((size_t)(n * n)), *ss = dlt_doubles((size_t)(n * n));
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)n, (int)n, (int)samples, 1.0, x,
                    (int)n, x, (int)n, 0.0, g, (int)n);
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)n, (int)n, 1.0, S,
                    (int)n, S, (int)n, 0.0, ss, (int)n);
        int upper0 = 1;
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = i + 1; j < n; j++)
                if (S[i * n + j] != 0.0) upper0 = 0;
        for (int64_t i = 0; i < n * n; i++) ss[i] -= g[i];
        CHECK(dlt_fro(ss, (size_t)(n * n)) <= 1e-13 * dlt_fro(g, (size_t)(n * n)) && upper0,
              "S S^T != X^T X: %g", dlt_fro(ss, (size_t)(n * n)) / dlt_fro(g, (size_t)(n * n)));
        free(g);
        free(ss);
    }

    dlor_lowrank lw, ld, l0;
    dlor_lowrank_opts o = dlor_lowrank_defaults();
    o.chol = S;
    o.weight_objective = 1;
    st = dlor_lowrank_fit("data", w, m, n, k, &o, &lw, &err);
    CHECK(st == DLOR_OK, "weight-space fit: %s", err.msg);
    if (st != DLOR_OK) goto out;
    if (!fit("data", w, m, n, k, DLOR_BETA_FIT, S, &ld)) goto out_w;
    if (!fit("data", w, m, n, k, DLOR_BETA_ZERO, S, &l0)) goto out_d;
    double ew_w, ex_w, ew_d, ex_d, ew_0, ex_0;
    direct_errs(w, &lw, x, samples, &ew_w, &ex_w);
    direct_errs(w, &ld, x, samples, &ew_d, &ex_d);
    direct_errs(w, &l0, x, samples, &ew_0, &ex_0);
    /* The reported errors are the directly measured ones (1e-10: S S^T = X^T X to ~1e-15, the
     * difference is the rounding of two routes). */
    CHECK(fabs(lw.rel_err - ew_w) <= 1e-12 * ew_w && fabs(lw.rel_err_data - ex_w) <= 1e-10 * ex_w,
          "weight fit errors: %.17g/%.17g vs %.17g/%.17g", lw.rel_err, lw.rel_err_data, ew_w, ex_w);
    CHECK(fabs(ld.rel_err - ew_d) <= 1e-12 * ew_d && fabs(ld.rel_err_data - ex_d) <= 1e-10 * ex_d,
          "data fit errors: %.17g/%.17g vs %.17g/%.17g", ld.rel_err, ld.rel_err_data, ew_d, ex_d);
    CHECK(lw.data_objective == 0 && ld.data_objective == 1, "objective flags");
    /* Both directions: the whitened fit wins on the data, the weight-space fit on weights. */
    CHECK(ex_d < 0.8 * ex_w, "data error: whitened %.6g vs weight-space %.6g", ex_d, ex_w);
    CHECK(ew_d > ew_w, "weight error: whitened %.6g vs weight-space %.6g", ew_d, ew_w);
    /* Eckart-Young in data space, against the spectrum of W X^T (not of W S). */
    double r0 = ref_err_data(w, m, n, 0.0, k, x, samples);
    CHECK(fabs(ex_0 - r0) <= 1e-10 * r0, "whitened SVD %.17g vs spectrum of W X^T %.17g", ex_0, r0);
    double rd = ref_err_data(w, m, n, ld.beta, k, x, samples);
    CHECK(fabs(ex_d - rd) <= 1e-10 * rd, "whitened DLoR %.17g vs spectrum %.17g", ex_d, rd);
    CHECK(ld.rel_err_data <= l0.rel_err_data * (1 + 1e-13), "data DLoR worse than data SVD");
    printf("  data-aware %lldx%lld k=%lld, 10/64 features x30: output error whitened %.4g vs "
           "weight-space %.4g (%.1fx lower); weight error %.4g vs %.4g; whitened SVD %.4g\n",
           (long long)m, (long long)n, (long long)k, ex_d, ex_w, ex_w / ex_d, ew_d, ew_w, ex_0);

    dlor_curve c;
    if (get_curve("data", w, m, n, 24, S, &c)) {
        const int64_t ks[3] = {1, k, 24};
        double worst = curve_vs_fit("data", w, m, n, &c, S, ks, 3);
        CHECK(fabs(c.err_svd[k] - r0) <= 1e-10 * r0, "data SVD curve %.17g vs %.17g",
              c.err_svd[k], r0);
        printf("  data curves k=0..24: %d SVDs, worst |curve - fit| / fit = %.2g\n", c.nsvd, worst);
        dlor_curve_free(&c);
    }

    dlor_lowrank_free(&l0);
out_d:
    dlor_lowrank_free(&ld);
out_w:
    dlor_lowrank_free(&lw);
out:
    /* float32 inputs: the same factor as double inputs holding the same values. */
    {
        float *xf = malloc(sizeof(float) * (size_t)(samples * n));
        double *xd = dlt_doubles((size_t)(samples * n)), *S1 = dlt_doubles((size_t)(n * n)),
               *S2 = dlt_doubles((size_t)(n * n));
        if (!xf) exit(2);
        for (int64_t i = 0; i < samples * n; i++) {
            xf[i] = (float)x[i];
            xd[i] = (double)xf[i];
        }
        dlor_status s1 = dlor_whitening("f32", xf, DLOR_DT_F32, samples, n, 0.0, S1, NULL, &err);
        dlor_status s2 = dlor_whitening("f64", xd, DLOR_DT_F64, samples, n, 0.0, S2, NULL, &err);
        CHECK(s1 == DLOR_OK && s2 == DLOR_OK, "f32 whitening: %s", err.msg);
        for (int64_t i = 0; i < n * n; i++) S1[i] -= S2[i];
        CHECK(dlt_fro(S1, (size_t)(n * n)) <= 1e-13 * dlt_fro(S2, (size_t)(n * n)), "f32 vs f64 inputs");
        free(xf);
        free(xd);
        free(S1);
        free(S2);
    }
    /* Fewer samples than features: X^T X singular, regularised, and the fit still works. */
    {
        const int64_t fs = 20;
        lam = 0.0;
        st = dlor_whitening("few", x, DLOR_DT_F64, fs, n, 0.0, S, &lam, &err);
        CHECK(st == DLOR_OK && lam == 1e-6, "singular Gram: %s (lambda %g)", err.msg, lam);
        dlor_lowrank l;
        if (st == DLOR_OK && fit("few", w, m, n, k, DLOR_BETA_FIT, S, &l)) {
            double ew, ex;
            direct_errs(w, &l, x, fs, &ew, &ex);
            CHECK(isfinite(l.rel_err) && isfinite(l.rel_err_data) && ex < 1.0,
                  "regularised fit: weight %g data %g", l.rel_err, ex);
            printf("  20 samples < 64 features: regularised (lambda %g), output error %.3g on "
                   "those samples, weight error %.3g\n", lam, ex, l.rel_err);
            dlor_lowrank_free(&l);
        }
        /* All-zero inputs have no data error. */
        double *z = dlt_doubles((size_t)(10 * n));
        st = dlor_whitening("zero", z, DLOR_DT_F64, 10, n, 0.0, S, NULL, &err);
        CHECK(st == DLOR_E_ARG && strstr(err.msg, "'zero'"), "zero X: %d %s", (int)st, err.msg);
        free(z);
    }
    free(S);
    free(x);
    free(w);
}

/* ---- allocation ---------------------------------------------------------------------------- */

static int64_t opt_cost(int64_t m, int64_t n, int64_t k, int wb)
{
    return k == DLOR_KEEP_DENSE ? m * n : k * (m + n) + (wb ? 1 : 0);
}

/* The sum objective: within budget, never a larger sum of squared errors than the
 * minimax allocation, and optimal (brute force) on convex curves taken from singular values. */
static void test_allocate_sum(void)
{
    const int64_t shp[3][2] = {{12, 10}, {10, 14}, {6, 9}};
    double *errs[3];
    dlt_rng g = {601};
    dlor_alloc_layer L[3];
    double dense = 0.0;
    for (int l = 0; l < 3; l++) {
        int64_t K = shp[l][0] < shp[l][1] ? shp[l][0] : shp[l][1];
        double tot = 0, s2[16];
        for (int64_t i = 0; i < K; i++) tot += (s2[i] = exp(-0.4 * (double)(i + l)) * (1 + 0.01 * dlt_uniform(&g)));
        errs[l] = dlt_doubles((size_t)K + 1);
        for (int64_t k = 0; k <= K; k++) {
            double tail = 0;
            for (int64_t i = k; i < K; i++) tail += s2[i];
            errs[l][k] = sqrt(tail / tot);
        }
        L[l].m = shp[l][0];
        L[l].n = shp[l][1];
        L[l].kmax = K;
        L[l].err = errs[l];
        dense += (double)(shp[l][0] * shp[l][1]);
    }
    const double budgets[5] = {0.25, 0.35, 0.5, 0.7, 0.9};
    for (int bi = 0; bi < 5; bi++) {
        int64_t ks[3], km[3], params;
        double s2, mx;
        dlor_error err = {0};
        CHECK(dlor_allocate_sum(L, 3, budgets[bi], 1, ks, &s2, &params, &err) == DLOR_OK, "sum: %s", err.msg);
        CHECK(dlor_allocate(L, 3, budgets[bi], 1, km, &mx, NULL, &err) == DLOR_OK, "max: %s", err.msg);
        double smax = 0;
        for (int l = 0; l < 3; l++) {
            double e = km[l] == DLOR_KEEP_DENSE ? 0 : errs[l][km[l]];
            smax += e * e;
        }
        CHECK((double)params <= budgets[bi] * dense && s2 <= smax + 1e-15,
              "budget %g: sum objective %g (params %lld) vs minimax allocation's %g", budgets[bi], s2,
              (long long)params, smax);
        /* brute force over ranks and dense */
        double best = INFINITY;
        for (int64_t a = 0; a <= L[0].kmax; a++)
            for (int64_t b = 0; b <= L[1].kmax; b++)
                for (int64_t c = 0; c <= L[2].kmax; c++) {
                    int64_t ch[3] = {a ? a : DLOR_KEEP_DENSE, b ? b : DLOR_KEEP_DENSE, c ? c : DLOR_KEEP_DENSE};
                    double cst = 0, sum = 0;
                    int useful = 1;
                    for (int l = 0; l < 3; l++) {
                        int64_t cc = opt_cost(L[l].m, L[l].n, ch[l], 1);
                        if (ch[l] != DLOR_KEEP_DENSE && cc >= L[l].m * L[l].n) useful = 0;
                        cst += (double)cc;
                        double e = ch[l] == DLOR_KEEP_DENSE ? 0 : errs[l][ch[l]];
                        sum += e * e;
                    }
                    if (useful && cst <= budgets[bi] * dense && sum < best) best = sum;
                }
        /* greedy is optimal up to its last, partly affordable step: allow one step's worth */
        CHECK(s2 <= best * 1.5 + 1e-3, "budget %g: greedy sum %g vs optimum %g", budgets[bi], s2, best);
    }
    for (int l = 0; l < 3; l++) free(errs[l]);
}

static void test_allocate(void)
{
    /* Three small layers with known curves (one not monotone). */
    const int64_t shp[3][2] = {{16, 12}, {10, 20}, {8, 8}};
    double *errs[3];
    dlt_rng g = {600};
    for (int l = 0; l < 3; l++) {
        int64_t K = shp[l][0] < shp[l][1] ? shp[l][0] : shp[l][1];
        errs[l] = dlt_doubles((size_t)K + 1);
        errs[l][0] = 1.0;
        for (int64_t k = 1; k <= K; k++)
            errs[l][k] = exp(-(0.15 + 0.2 * l) * (double)k) * (1.0 + 0.1 * dlt_uniform(&g));
        if (l == 1) errs[l][4] = errs[l][2] * 1.05; /* a bump */
    }
    dlor_alloc_layer L[3];
    for (int l = 0; l < 3; l++) {
        L[l].m = shp[l][0];
        L[l].n = shp[l][1];
        L[l].kmax = shp[l][0] < shp[l][1] ? shp[l][0] : shp[l][1];
        L[l].err = errs[l];
    }
    double dense = 0.0;
    for (int l = 0; l < 3; l++) dense += (double)(shp[l][0] * shp[l][1]);
    const double budgets[7] = {0.12, 0.2, 0.3, 0.45, 0.6, 0.8, 1.0};
    int ok_all = 1;
    for (int wb = 0; wb < 2; wb++)
        for (int bi = 0; bi < 7; bi++) {
            double cap = budgets[bi] * dense;
            /* Brute force over every combination (rank strictly cheaper than dense, or dense). */
            double best = INFINITY;
            int64_t opts[3][21];
            int no[3];
            for (int l = 0; l < 3; l++) {
                no[l] = 0;
                for (int64_t k = 1; k <= L[l].kmax; k++)
                    if (opt_cost(L[l].m, L[l].n, k, wb) < L[l].m * L[l].n) opts[l][no[l]++] = k;
                opts[l][no[l]++] = DLOR_KEEP_DENSE;
            }
            for (int a = 0; a < no[0]; a++)
                for (int b = 0; b < no[1]; b++)
                    for (int c = 0; c < no[2]; c++) {
                        int64_t ch[3] = {opts[0][a], opts[1][b], opts[2][c]};
                        double cst = 0.0, mx = 0.0;
                        for (int l = 0; l < 3; l++) {
                            cst += (double)opt_cost(L[l].m, L[l].n, ch[l], wb);
                            mx = fmax(mx, ch[l] == DLOR_KEEP_DENSE ? 0.0 : errs[l][ch[l]]);
                        }
                        if (cst <= cap && mx < best) best = mx;
                    }
            int64_t kout[3], params;
            double mx;
            dlor_error err = {0};
            dlor_status st = dlor_allocate(L, 3, budgets[bi], wb, kout, &mx, &params, &err);
            if (best == INFINITY) {
                CHECK(st == DLOR_E_ARG, "budget %g: brute force infeasible, allocate %d",
                      budgets[bi], (int)st);
                continue;
            }
            CHECK(st == DLOR_OK, "allocate budget %g: %s", budgets[bi], err.msg);
            if (st != DLOR_OK) continue;
            double cst = 0.0, mx2 = 0.0;
            for (int l = 0; l < 3; l++) {
                cst += (double)opt_cost(L[l].m, L[l].n, kout[l], wb);
                mx2 = fmax(mx2, kout[l] == DLOR_KEEP_DENSE ? 0.0 : errs[l][kout[l]]);
            }
            int ok = cst <= cap && mx2 == best && mx == best && (double)params == cst;
            ok_all &= ok;
            CHECK(ok, "budget %g (beta %d): cost %g cap %g, max %.17g (reported %.17g), "
                  "brute %.17g",
                  budgets[bi], wb, cst, cap, mx2, mx, best);
        }
    printf("  allocation: 3 layers x 7 budgets x 2 cost models match brute force: %s\n",
           ok_all ? "yes" : "NO");
    /* Too small a budget names the fraction one rank per layer needs. */
    {
        double need =
            (double)(opt_cost(16, 12, 1, 1) + opt_cost(10, 20, 1, 1) + opt_cost(8, 8, 1, 1)) /
            dense;
        char want[64];
        snprintf(want, sizeof want, "below the %.4g", need);
        int64_t kout[3];
        dlor_error err = {0};
        dlor_status st = dlor_allocate(L, 3, 0.05, 1, kout, NULL, NULL, &err);
        CHECK(st == DLOR_E_ARG && strstr(err.msg, want), "small budget: %d '%s' (want '%s')",
              (int)st, err.msg, want);
        printf("  budget 0.05: \"%s\"\n", err.msg);
    }
    for (int l = 0; l < 3; l++) free(errs[l]);

    /* Real curves: a residual-style, a Gaussian and a decaying layer at 10% of dense. The
     * minimax allocation beats giving every layer 10%. */
    const int64_t N = 128;
    double *ws[3] = {mat_residual(N, N, 1.0, 8, 5.0, 1e-3, 610), dlt_mat_gauss(N, N, 611, 0.1),
                     mat_decay(N, N, 20.0, 612)};
    dlor_curve c[3];
    int got = 1;
    for (int l = 0; l < 3; l++) got &= get_curve("alloc", ws[l], N, N, N / 2, NULL, &c[l]);
    if (got) {
        dlor_alloc_layer R[3];
        for (int l = 0; l < 3; l++) {
            R[l].m = R[l].n = N;
            R[l].kmax = N / 2;
            R[l].err = c[l].err_dlor;
        }
        int64_t kout[3], params;
        double mx;
        dlor_error err = {0};
        dlor_status st = dlor_allocate(R, 3, 0.1, 1, kout, &mx, &params, &err);
        CHECK(st == DLOR_OK, "allocate real: %s", err.msg);
        int64_t ku = (int64_t)floor((0.1 * N * N - 1.0) / (2.0 * N));
        double mu = 0.0;
        for (int l = 0; l < 3; l++) mu = fmax(mu, c[l].err_dlor[ku]);
        if (st == DLOR_OK) {
            CHECK(params <= (int64_t)(0.1 * 3 * N * N) && mx <= mu, "minimax %g vs uniform %g", mx,
                  mu);
            printf("  10%% of 3 layers (residual, gauss, decaying, N=%lld): ranks %lld %lld %lld, "
                   "errors %.3g %.3g %.3g, max %.3g (uniform k=%lld: max %.3g), %.4f of dense\n",
                   (long long)N, (long long)kout[0], (long long)kout[1], (long long)kout[2],
                   c[0].err_dlor[kout[0]], c[1].err_dlor[kout[1]], c[2].err_dlor[kout[2]], mx,
                   (long long)ku, mu, (double)params / (3.0 * N * N));
        }
    }
    for (int l = 0; l < 3; l++) {
        if (got) dlor_curve_free(&c[l]);
        free(ws[l]);
    }
}

/* ---- the exact m-factor product ------------------------------------------------------------ */

/* M_L ... M_1 (D x D, row-major) by plain loops over the stored factors. */
static double *mul_product(const dlor_factored *f)
{
    int64_t D = f->dim_u, r = f->rank;
    double *p = dlt_doubles((size_t)(D * D)), *c = dlt_doubles((size_t)r);
    for (int64_t i = 0; i < D; i++) p[i * D + i] = 1.0;
    for (int64_t l = 0; l < f->factors; l++) {
        int64_t b = f->k - l * r < r ? f->k - l * r : r;
        const double *u = f->ut + l * r * D, *v = f->vt + l * r * D;
        for (int64_t col = 0; col < D; col++) {
            for (int64_t q = 0; q < b; q++) {
                double s = 0.0;
                for (int64_t i = 0; i < D; i++) s += v[q * D + i] * p[i * D + col];
                c[q] = s;
            }
            for (int64_t i = 0; i < D; i++) {
                double s = f->alpha * p[i * D + col];
                for (int64_t q = 0; q < b; q++) s += u[q * D + i] * c[q];
                p[i * D + col] = s;
            }
        }
    }
    free(c);
    return p;
}

/* ||product - (b I + P Q^T)|| / ||b I + P Q^T|| with b = alpha^m, zero padding included. */
static double mul_err(const dlor_factored *f, const dlor_lowrank *l)
{
    int64_t m = l->m, n = l->n, D = f->dim_u;
    dlor_lowrank lb = *l;
    lb.beta = pow(f->alpha, (double)f->factors);
    double *wh = lowrank_dense(&lb), *p = mul_product(f);
    double num = 0.0;
    for (int64_t i = 0; i < D; i++)
        for (int64_t j = 0; j < D; j++) {
            double ref = (i < m && j < n) ? wh[i * n + j] : 0.0;
            double d = p[i * D + j] - ref;
            num += d * d;
        }
    double e = sqrt(num) / dlt_fro(wh, (size_t)(m * n));
    /* dlor_reconstruct (K < D columns: a compressed mul layer) must agree. */
    double *rec = dlt_doubles((size_t)(m * n));
    dlor_error err = {0};
    dlor_status st = dlor_reconstruct(f, rec, &err);
    CHECK(st == DLOR_OK, "dlor_reconstruct of an m-factor product: %s", err.msg);
    if (st == DLOR_OK) {
        for (int64_t i = 0; i < m * n; i++) rec[i] -= wh[i];
        double er = dlt_fro(rec, (size_t)(m * n)) / dlt_fro(wh, (size_t)(m * n));
        CHECK(er <= 1e-12, "dlor_reconstruct of the m-factor product: %.3g", er);
    }
    free(rec);
    free(wh);
    free(p);
    return e;
}

static void test_mul(void)
{
    struct {
        int64_t m, n, k;
        double diag;
        int64_t mf[4];
        int nmf;
    } cases[4] = {
        {64, 64, 6, 0.9, {1, 2, 3, 5}, 4},
        {64, 64, 6, -0.8, {1, 3, 5, 0}, 3},
        {40, 24, 5, 0.9, {1, 3, 4, 0}, 3},
        {24, 40, 5, -1.2, {3, 5, 0, 0}, 2},
    };
    for (int cs = 0; cs < 4; cs++) {
        int64_t m = cases[cs].m, n = cases[cs].n, k = cases[cs].k, D = m > n ? m : n;
        int64_t s = k + (D - (m < n ? m : n));
        double *w = mat_residual(m, n, cases[cs].diag, 4, 2.0, 0.02, 700 + cs);
        dlor_lowrank l;
        if (!fit("mul", w, m, n, k, DLOR_BETA_FIT, NULL, &l)) continue;
        CHECK((l.beta > 0) == (cases[cs].diag > 0), "beta %g sign", l.beta);
        for (int q = 0; q < cases[cs].nmf; q++) {
            int64_t mf = cases[cs].mf[q];
            for (int f32 = 0; f32 < 2; f32++) {
                dlor_factored f;
                dlor_error err = {0};
                dlor_status st = dlor_lowrank_to_mul("mul", &l, mf, f32 ? DLOR_DT_F32 : DLOR_DT_F64,
                                                     &f, &err);
                CHECK(st == DLOR_OK, "%lldx%lld m=%lld: %s", (long long)m, (long long)n,
                      (long long)mf, err.msg);
                if (st != DLOR_OK) continue;
                int64_t r = (s + mf - 1) / mf, Kc = mf * r < D ? mf * r : D;
                CHECK(f.method == DLOR_METHOD_MUL && f.factors == mf && f.rank == r &&
                          f.k == Kc && f.dim_u == D && f.dim_v == D && f.m == m && f.n == n,
                      "structure: factors %lld rank %lld k %lld (want %lld %lld %lld)",
                      (long long)f.factors, (long long)f.rank, (long long)f.k, (long long)mf,
                      (long long)r, (long long)Kc);
                if (f32) CHECK(f.alpha == (double)(float)f.alpha, "alpha %.17g not f32", f.alpha);
                double am = pow(f.alpha, (double)mf);
                CHECK(fabs(am - l.beta) <= (f32 ? 1e-7 : 1e-15) * fabs(l.beta) * (double)mf,
                      "alpha^m %.17g vs beta %.17g", am, l.beta);
                double e = mul_err(&f, &l);
                CHECK(e <= 1e-12, "%lldx%lld beta %.3g m=%lld: product error %.3g", (long long)m,
                      (long long)n, l.beta, (long long)mf, e);
                if (!f32)
                    printf("  %lldx%lld beta %+.4f, %lld factors: rank %lld each, K = %lld, "
                           "alpha %+.6f, product error %.2g\n", (long long)m, (long long)n, l.beta,
                           (long long)mf, (long long)f.rank, (long long)f.k, f.alpha, e);
                dlor_factored_free(&f);
            }
        }
        if (l.beta < 0) {
            dlor_factored f;
            dlor_error err = {0};
            dlor_status st = dlor_lowrank_to_mul("neg", &l, 2, DLOR_DT_F64, &f, &err);
            CHECK(st == DLOR_E_ARG && strstr(err.msg, "'neg'") &&
                      strstr(err.msg, "even number of DLoR factors needs beta > 0"),
                  "beta < 0, m = 2: %d %s", (int)st, err.msg);
            if (cs == 1) printf("  beta < 0, 2 factors: \"%s\"\n", err.msg);
        }
        dlor_lowrank_free(&l);
        free(w);
    }
    /* beta = 0 (truncated SVD): one factor is just P Q^T; more are impossible. */
    {
        double *w = dlt_mat_gauss(32, 32, 800, 1.0);
        dlor_lowrank l;
        if (fit("zero", w, 32, 32, 4, DLOR_BETA_ZERO, NULL, &l)) {
            dlor_factored f;
            dlor_error err = {0};
            dlor_status st = dlor_lowrank_to_mul("zero", &l, 2, DLOR_DT_F64, &f, &err);
            CHECK(st == DLOR_E_ARG && strstr(err.msg, "needs beta != 0"), "beta = 0: %d %s",
                  (int)st, err.msg);
            printf("  beta = 0, 2 factors: \"%s\"\n", err.msg);
            st = dlor_lowrank_to_mul("zero", &l, 1, DLOR_DT_F64, &f, &err);
            CHECK(st == DLOR_OK, "beta = 0, 1 factor: %s", err.msg);
            if (st == DLOR_OK) {
                CHECK(f.alpha == 0.0 && f.k == 4 && mul_err(&f, &l) <= 1e-14, "beta = 0, 1 factor");
                dlor_factored_free(&f);
            }
            dlor_lowrank_free(&l);
        }
        /* Too many factors for a tiny layer: 3 factors of rank 2 need 5 columns > D = 4. */
        double *w4 = mat_residual(4, 4, 1.0, 2, 1.0, 0.1, 801);
        if (fit("tiny", w4, 4, 4, 4, DLOR_BETA_FIT, NULL, &l)) {
            dlor_factored f;
            dlor_error err = {0};
            dlor_status st = dlor_lowrank_to_mul("tiny", &l, 3, DLOR_DT_F64, &f, &err);
            CHECK(st == DLOR_E_ARG, "tiny layer, 3 factors: %d %s", (int)st, err.msg);
            st = dlor_lowrank_to_mul("tiny", &l, 4, DLOR_DT_F64, &f, &err);
            CHECK(st == DLOR_OK, "tiny layer, 4 factors of rank 1: %s", err.msg);
            if (st == DLOR_OK) {
                CHECK(mul_err(&f, &l) <= 1e-12, "tiny 4 factors");
                dlor_factored_free(&f);
            }
            dlor_lowrank_free(&l);
        }
        free(w);
        free(w4);
    }
}

/* ---- bad input ----------------------------------------------------------------------------- */

static void test_bad_input(void)
{
    const int64_t m = 12, n = 10;
    double *w = dlt_mat_gauss(m, n, 900, 1.0);
    dlor_lowrank l;
    dlor_curve c;
    dlor_error err = {0};
    dlor_status st;
    w[3 * n + 4] = NAN;
    st = dlor_lowrank_fit("bad.weight", w, m, n, 2, NULL, &l, &err);
    CHECK(st == DLOR_E_NUMERIC && strstr(err.msg, "'bad.weight'") && strstr(err.msg, "[3, 4]"),
          "NaN weight: %d %s", (int)st, err.msg);
    w[3 * n + 4] = INFINITY;
    st = dlor_error_curves("bad.curve", w, m, n, 3, NULL, &c, &err);
    CHECK(st == DLOR_E_NUMERIC && strstr(err.msg, "'bad.curve'"), "Inf weight: %d %s", (int)st,
          err.msg);
    w[3 * n + 4] = 0.5;
    st = dlor_lowrank_fit("k0", w, m, n, 0, NULL, &l, &err);
    CHECK(st == DLOR_E_ARG && strstr(err.msg, "'k0'"), "k = 0: %d %s", (int)st, err.msg);
    st = dlor_lowrank_fit("k11", w, m, n, 11, NULL, &l, &err);
    CHECK(st == DLOR_E_ARG && strstr(err.msg, "min(m, n) = 10"), "k = 11: %d %s", (int)st, err.msg);
    st = dlor_error_curves("kmax", w, m, n, 11, NULL, &c, &err);
    CHECK(st == DLOR_E_ARG, "kmax = 11: %d %s", (int)st, err.msg);
    double *x = dlt_mat_gauss(30, n, 901, 1.0), *S = dlt_doubles((size_t)(n * n));
    x[7 * n + 2] = NAN;
    st = dlor_whitening("bad.x", x, DLOR_DT_F64, 30, n, 0.0, S, NULL, &err);
    CHECK(st == DLOR_E_NUMERIC && strstr(err.msg, "'bad.x'") && strstr(err.msg, "sample 7"),
          "NaN input: %d %s", (int)st, err.msg);
    x[7 * n + 2] = 1.0;
    st = dlor_whitening("x", x, DLOR_DT_F64, 30, n, 0.0, S, NULL, &err);
    CHECK(st == DLOR_OK, "whitening: %s", err.msg);
    S[2 * n + 1] = INFINITY;
    dlor_lowrank_opts o = dlor_lowrank_defaults();
    o.chol = S;
    st = dlor_lowrank_fit("bad.chol", w, m, n, 2, &o, &l, &err);
    CHECK(st == DLOR_E_NUMERIC && strstr(err.msg, "'bad.chol'"), "Inf chol: %d %s", (int)st,
          err.msg);
    S[2 * n + 1] = 0.0;
    S[2 * n + 2] = 0.0;
    st = dlor_lowrank_fit("sing.chol", w, m, n, 2, &o, &l, &err);
    CHECK(st == DLOR_E_ARG, "singular chol: %d %s", (int)st, err.msg);
    o = dlor_lowrank_defaults();
    o.beta_mode = (dlor_beta_mode)9;
    st = dlor_lowrank_fit("mode", w, m, n, 2, &o, &l, &err);
    CHECK(st == DLOR_E_ARG, "bad mode: %d %s", (int)st, err.msg);
    o = dlor_lowrank_defaults();
    o.tol = NAN;
    st = dlor_lowrank_fit("tol", w, m, n, 2, &o, &l, &err);
    CHECK(st == DLOR_E_ARG && strstr(err.msg, "'tol'"), "NaN tolerance: %d %s", (int)st, err.msg);
    dlor_curve_opts co = {0, -1.0, 0};
    st = dlor_error_curves_ex("ctol", w, m, n, 3, NULL, &co, &c, &err);
    CHECK(st == DLOR_E_ARG && strstr(err.msg, "'ctol'"), "negative curve tolerance: %d %s", (int)st,
          err.msg);
    if (fit("ok", w, m, n, 2, DLOR_BETA_FIT, NULL, &l)) {
        dlor_factored f;
        st = dlor_lowrank_to_mul("m0", &l, 0, DLOR_DT_F64, &f, &err);
        CHECK(st == DLOR_E_ARG, "0 factors: %d %s", (int)st, err.msg);
        dlor_lowrank_free(&l);
    }
    int64_t kk[1];
    dlor_alloc_layer L = {m, n, 0, NULL};
    st = dlor_allocate(&L, 1, 0.5, 1, kk, NULL, NULL, &err);
    CHECK(st == DLOR_E_ARG, "allocate with no ranks at budget 0.5: %d %s", (int)st, err.msg);
    st = dlor_allocate(&L, 1, 1.0, 1, kk, NULL, NULL, &err);
    CHECK(st == DLOR_OK && kk[0] == DLOR_KEEP_DENSE, "allocate with no ranks at budget 1");
    dlor_lowrank_free(NULL);
    dlor_curve_free(NULL);
    free(x);
    free(S);
    free(w);
}

/* ---- the defaults: truncated SVDs and the stopping tolerances ------------------------------ */

/* The default fit of (m, n, k) against an exact one (full SVDs, tolerance 1e-12) and against
 * Eckart-Young at the default fit's own beta; returns the default fit in *l. */
static void default_vs_exact(const char *nm, const double *w, int64_t m, int64_t n, int64_t k,
                             dlor_beta_mode mode, dlor_lowrank *l)
{
    dlor_lowrank_opts o = dlor_lowrank_defaults();
    o.beta_mode = mode;
    dlor_error err = {0};
    dlor_status st = dlor_lowrank_fit(nm, w, m, n, k, &o, l, &err);
    CHECK(st == DLOR_OK, "%s: default fit: %s", nm, err.msg);
    dlor_lowrank lx;
    if (st != DLOR_OK || !fit(nm, w, m, n, k, mode, NULL, &lx)) return;
    /* The truncated SVD's rank-k error is within 1e-3 of the optimum at the same beta
     * (lib/svd_top.c), and beta's tolerance costs at most DLOR_BETA_TOL f: so within 1e-3
     * of the exact fit, and never below Eckart-Young (to rounding). */
    double r = ref_err(w, m, n, l->beta, k);
    CHECK(l->rel_err >= r * (1.0 - 1e-12) && l->rel_err <= r * (1.0 + 1e-3),
          "%s: default error %.10g vs Eckart-Young at its beta %.10g", nm, l->rel_err, r);
    CHECK(l->rel_err <= lx.rel_err * (1.0 + 1e-3), "%s: default %.10g vs exact fit %.10g", nm,
          l->rel_err, lx.rel_err);
    /* Deterministic: the same bytes again. */
    dlor_lowrank l2;
    if (dlor_lowrank_fit(nm, w, m, n, k, &o, &l2, &err) == DLOR_OK) {
        CHECK(l2.beta == l->beta &&
                  memcmp(l2.pt, l->pt, sizeof(double) * (size_t)(k * m)) == 0 &&
                  memcmp(l2.qt, l->qt, sizeof(double) * (size_t)(k * n)) == 0,
              "%s: two default fits differ", nm);
        dlor_lowrank_free(&l2);
    }
    printf("  %-9s %lldx%lld k=%lld %s: default %.8g (%d SVDs, beta %.6g), exact %.8g (%d SVDs, "
           "beta %.6g): %.2g above\n", nm, (long long)m, (long long)n, (long long)k,
           mode == DLOR_BETA_ZERO ? "svd" : "dlor", l->rel_err, l->svds, l->beta, lx.rel_err,
           lx.svds, lx.beta, l->rel_err / lx.rel_err - 1.0);
    dlor_lowrank_free(&lx);
}

static void test_defaults(void)
{
    /* Ordinary layers, k = N/20: a Gaussian one (flat spectrum, the hard case for a
     * truncated SVD) and a decaying one. beta* ~ 0; the fit is never worse than the default
     * truncated SVD (its first SVD is the same one). */
    const int64_t N = 512, k = N / 20;
    for (int which = 0; which < 2; which++) {
        double *w = which == 0 ? dlt_mat_gauss(N, N, 700, 1.0 / sqrt((double)N))
                               : mat_decay(N, N, 12.0, 701);
        const char *nm = which == 0 ? "gauss" : "decaying";
        dlor_lowrank l0, ld;
        memset(&l0, 0, sizeof l0);
        memset(&ld, 0, sizeof ld);
        default_vs_exact(nm, w, N, N, k, DLOR_BETA_ZERO, &l0);
        default_vs_exact(nm, w, N, N, k, DLOR_BETA_FIT, &ld);
        CHECK(ld.rel_err <= l0.rel_err * (1.0 + 1e-13), "%s: DLoR %.17g above SVD %.17g", nm,
              ld.rel_err, l0.rel_err);
        /* Gaussian: the predicted decrease at beta = 0 (~1e-5 f) is below DLOR_BETA_TOL, so
         * two SVDs (beta = 0 and the second start); the decaying layer's small f_k makes it
         * ~2e-4 f, worth one step. */
        CHECK(ld.svds <= (which == 0 ? 2 : 4), "%s: beta* ~ 0 took %d SVDs", nm, ld.svds);
        dlor_lowrank_free(&l0);
        dlor_lowrank_free(&ld);
        free(w);
    }
    /* A residual-style layer (beta* ~ 1) and a rectangular decaying one. */
    {
        double *w = mat_residual(N, N, 1.0, 8, 5.0, 1e-3, 702);
        dlor_lowrank ld;
        memset(&ld, 0, sizeof ld);
        default_vs_exact("residual", w, N, N, k, DLOR_BETA_FIT, &ld);
        CHECK(fabs(ld.beta - 1.0) <= 1e-2, "residual: beta %.6g", ld.beta);
        dlor_lowrank_free(&ld);
        free(w);
        w = mat_decay(600, 300, 20.0, 703);
        default_vs_exact("rect", w, 600, 300, 15, DLOR_BETA_FIT, &ld);
        dlor_lowrank_free(&ld);
        free(w);
    }
    /* Data space: the whitened fit (truncated SVDs of W S - beta I S) against the exact one;
     * 300 x 400 layer, 8 of 400 features 20 times larger. */
    {
        const int64_t m = 300, n = 400, samples = 900, kd = 16;
        double *w = dlt_mat_gauss(m, n, 710, 1.0 / sqrt((double)n));
        for (int64_t i = 0; i < m; i++) w[i * n + i] += 0.5;
        double *x = dlt_mat_gauss(samples, n, 711, 1.0);
        for (int64_t s2 = 0; s2 < samples; s2++)
            for (int64_t j = 0; j < 8; j++) x[s2 * n + 50 * j] *= 20.0;
        double *S = dlt_doubles((size_t)(n * n));
        dlor_error err = {0};
        CHECK(dlor_whitening("data", x, DLOR_DT_F64, samples, n, 0.0, S, NULL, &err) == DLOR_OK,
              "whitening: %s", err.msg);
        dlor_lowrank ld, lx;
        dlor_lowrank_opts o = dlor_lowrank_defaults();
        o.chol = S;
        if (dlor_lowrank_fit("data", w, m, n, kd, &o, &ld, &err) == DLOR_OK) {
            if (fit("data", w, m, n, kd, DLOR_BETA_FIT, S, &lx)) {
                double r = ref_err_data(w, m, n, ld.beta, kd, x, samples);
                CHECK(ld.rel_err_data >= r * (1.0 - 1e-10) && ld.rel_err_data <= r * (1.0 + 1e-3),
                      "data: default %.10g vs the spectrum at its beta %.10g", ld.rel_err_data, r);
                CHECK(ld.rel_err_data <= lx.rel_err_data * (1.0 + 1e-3),
                      "data: default %.10g vs exact %.10g", ld.rel_err_data, lx.rel_err_data);
                printf("  data      %lldx%lld k=%lld dlor: default %.8g (%d SVDs, beta %.6g), "
                       "exact %.8g (%d SVDs, beta %.6g)\n", (long long)m, (long long)n,
                       (long long)kd, ld.rel_err_data, ld.svds, ld.beta, lx.rel_err_data,
                       lx.svds, lx.beta);
                dlor_lowrank_free(&lx);
            }
            dlor_lowrank_free(&ld);
        } else {
            CHECK(0, "data default fit: %s", err.msg);
        }
        free(S);
        free(x);
        free(w);
    }
    /* Curves by default: on an ordinary layer the first SVD settles every rank; agreement
     * with precise curves (full SVDs, tolerance 2e-8) to DLOR_BETA_TOL / 2 in the error.
     * With svd_only, one SVD of singular values and no DLoR curve. */
    {
        double *w = mat_decay(N, N, 12.0, 704);
        dlor_curve cd, cx, cs, cr;
        dlor_error err = {0};
        dlor_curve_opts exact = {0, 2e-8, 1}, svdonly = {1, 0.0, 0};
        int64_t kmax = N / 2;
        if (dlor_error_curves("curve", w, N, N, kmax, NULL, &cd, &err) == DLOR_OK &&
            dlor_error_curves_ex("curve", w, N, N, kmax, NULL, &exact, &cx, &err) == DLOR_OK &&
            dlor_error_curves_ex("curve", w, N, N, kmax, NULL, &svdonly, &cs, &err) == DLOR_OK) {
            double worst = 0.0;
            int svd_same = 1;
            for (int64_t kk = 0; kk <= kmax; kk++) {
                worst = fmax(worst, fabs(cd.err_dlor[kk] - cx.err_dlor[kk]) / cx.err_dlor[kk]);
                if (fabs(cs.err_svd[kk] - cx.err_svd[kk]) > 1e-12 * cx.err_svd[kk]) svd_same = 0;
            }
            CHECK(cd.nsvd == 1 && cd.converged, "default curves: %d SVDs, converged %d", cd.nsvd,
                  cd.converged);
            CHECK(worst <= 0.5 * DLOR_BETA_TOL, "default curves differ by %.3g", worst);
            CHECK(cs.nsvd == 1 && cs.err_dlor == NULL && cs.beta == NULL && svd_same,
                  "svd_only: %d SVDs, err_dlor %p, SVD curve equal %d", cs.nsvd,
                  (void *)cs.err_dlor, svd_same);
            printf("  curves k<=%lld: default %d SVD(s), precise %d; largest difference %.2g\n",
                   (long long)kmax, cd.nsvd, cx.nsvd, worst);
            dlor_curve_free(&cd);
            dlor_curve_free(&cx);
            dlor_curve_free(&cs);
        } else {
            CHECK(0, "curves: %s", err.msg);
        }
        /* Small kmax: the SVD curve from a truncated SVD (values only), within 1e-3. */
        if (dlor_error_curves_ex("curve", w, N, N, 12, NULL, &svdonly, &cr, &err) == DLOR_OK) {
            double worst = 0.0;
            for (int64_t kk = 1; kk <= 12; kk++) {
                double r = ref_err(w, N, N, 0.0, kk);
                worst = fmax(worst, cr.err_svd[kk] / r - 1.0);
                CHECK(cr.err_svd[kk] >= r * (1.0 - 1e-10), "svd curve below Eckart-Young at %lld",
                      (long long)kk);
            }
            CHECK(worst <= 1e-3, "truncated SVD curve %.3g above Eckart-Young", worst);
            dlor_curve_free(&cr);
        } else {
            CHECK(0, "small curves: %s", err.msg);
        }
        free(w);
    }
}

/* dlor_allocate_choices against brute force: three layers whose choices cost 0..5 units of
 * 10 bytes with convex decreasing squared errors (given out of order, with a dominated choice
 * among them), so that the greedy walk is exact and must match the best of all 6^3
 * combinations at every budget; the budget respected; the cheapest exceeding it and a layer
 * without choices refused. */
static void test_allocate_choices(void)
{
    dlor_choice c[3][7];
    dlor_choice_layer L[3];
    const double rate[3] = {0.5, 0.8, 0.3}, e0[3] = {1.0, 0.7, 0.9};
    for (int i = 0; i < 3; i++) {
        for (int j = 0; j < 6; j++) /* stored in reverse order */
            c[i][5 - j] = (dlor_choice){(uint64_t)(10 * j), e0[i] * pow(rate[i], 0.5 * j)};
        c[i][6] = (dlor_choice){25, e0[i]}; /* costs more than choice 0, errs as much: never taken */
        L[i] = (dlor_choice_layer){c[i], 7};
    }
    for (uint64_t budget = 0; budget <= 160; budget += 5) {
        int64_t pick[3];
        uint64_t used = 0;
        dlor_error err;
        dlor_status st = dlor_allocate_choices(L, 3, budget, pick, &used, &err);
        CHECK(st == DLOR_OK, "budget %llu: %s", (unsigned long long)budget, err.msg);
        if (st != DLOR_OK) continue;
        double got = 0, best = INFINITY;
        uint64_t sum = 0;
        for (int i = 0; i < 3; i++) {
            got += c[i][pick[i]].err * c[i][pick[i]].err;
            sum += c[i][pick[i]].bytes;
        }
        for (int a = 0; a < 7; a++)
            for (int b = 0; b < 7; b++)
                for (int d = 0; d < 7; d++) {
                    uint64_t bytes = c[0][a].bytes + c[1][b].bytes + c[2][d].bytes;
                    double e = c[0][a].err * c[0][a].err + c[1][b].err * c[1][b].err + c[2][d].err * c[2][d].err;
                    if (bytes <= budget && e < best) best = e;
                }
        CHECK(sum == used && used <= budget, "budget %llu: used %llu, sum %llu", (unsigned long long)budget,
              (unsigned long long)used, (unsigned long long)sum);
        CHECK(fabs(got - best) <= 1e-12, "budget %llu: sum of squares %.15g, brute force %.15g",
              (unsigned long long)budget, got, best);
    }
    int64_t pick[3];
    dlor_error err;
    dlor_choice costly[1] = {{100, 0.1}};
    dlor_choice_layer one = {costly, 1};
    CHECK(dlor_allocate_choices(&one, 1, 99, pick, NULL, &err) == DLOR_E_ARG && strstr(err.msg, "cheapest"),
          "a budget below the cheapest forms: %s", err.msg);
    dlor_choice_layer none = {costly, 0};
    CHECK(dlor_allocate_choices(&none, 1, 1000, pick, NULL, &err) == DLOR_E_ARG, "a layer without choices");
    dlor_choice nan_err[1] = {{1, NAN}};
    dlor_choice_layer bad = {nan_err, 1};
    CHECK(dlor_allocate_choices(&bad, 1, 1000, pick, NULL, &err) == DLOR_E_ARG, "a NaN error");
}

int main(void)
{
    struct {
        const char *name;
        void (*fn)(void);
    } tests[] = {
        {"eckart-young", test_eckart_young}, {"best beta", test_best_beta},
        {"residual", test_residual},         {"ordinary", test_ordinary},
        {"data-aware", test_data_aware},     {"allocate", test_allocate},
        {"allocate (sum)", test_allocate_sum}, {"allocate (choices)", test_allocate_choices},
        {"m-factor", test_mul},              {"bad input", test_bad_input},
        {"defaults", test_defaults},
    };
    for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
        double t0 = dlt_now();
        printf("%s:\n", tests[i].name);
        tests[i].fn();
        printf("  (%.2f s)\n", dlt_now() - t0);
        fflush(stdout);
    }
    return dlt_finish();
}
