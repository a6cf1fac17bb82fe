/* test_factor.c - exact DLoR factorizations (lib/dlor_factor.h) checked against references
 * that do not share code with the library:
 *   - W itself, rebuilt by dlor_reconstruct, and (at small N) by plain triple loops over the
 *     dense factors M_l = a I + U_l V_l^T;
 *   - W x computed with plain loops against the factors applied to x one at a time;
 *   - the random-basis (block LU) and Schur-basis constructions against each other;
 *   - ||W||_2 from LAPACK's SVD for the automatic alpha.
 * "f32" errors round ut, vt and alpha to float32 (what a float32 container stores) and
 * rebuild in double. Matrices come from a fixed-seed generator. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cblas.h>
#include <lapacke.h>

#include "dlor_factor.h"
#include "factor_internal.h"
#include "testmat.h"
#include "testutil.h"

/* Sanitizer builds run the same sizes; BLAS/LAPACK are not instrumented, so they cost
 * about the same. */

/* ---- the results table ------------------------------------------------------------------- */

typedef struct row {
    char name[64];
    long long m, n, r;
    double e64, e32, evec, secs;
    long long splits;
} row;
static row table[128];
static int nrows;

static void record(const char *name, long long m, long long n, long long r, double e64,
                   double e32, double evec, double secs, long long splits)
{
    if (nrows >= (int)(sizeof table / sizeof table[0])) return;
    row *t = &table[nrows++];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->m = m;
    t->n = n;
    t->r = r;
    t->e64 = e64;
    t->e32 = e32;
    t->evec = evec;
    t->secs = secs;
    t->splits = splits;
}

/* ---- test matrices (row-major) --------------------------------------------------------- */

/* C = A B (m x k times k x n), all row-major. */
static double *matmul(const double *a, const double *b, int64_t m, int64_t k, int64_t n)
{
    double *c = dlt_doubles((size_t)(m * n));
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)n, (int)k, 1.0, a, (int)k,
                b, (int)n, 0.0, c, (int)n);
    return c;
}

/* Haar-like random orthogonal matrix: Q from the QR of a Gaussian matrix. */

/* Q1 diag(logspace(0, -6)) Q2^T: condition number 1e6. */
static double *mat_illcond(int64_t N, unsigned long long seed)
{
    double *q1 = dlt_mat_orth(N, seed), *q2 = dlt_mat_orth(N, seed + 1);
    for (int64_t i = 0; i < N; i++)
        for (int64_t j = 0; j < N; j++) q1[i * N + j] *= pow(10.0, -6.0 * (double)j / (double)(N - 1));
    double *w = dlt_doubles((size_t)(N * N));
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)N, (int)N, (int)N, 1.0, q1, (int)N,
                q2, (int)N, 0.0, w, (int)N);
    free(q1);
    free(q2);
    return w;
}

/* Q blockdiag(rotations by random angles) Q^T: every eigenvalue is complex (N even). */
static double *mat_rotation(int64_t N, unsigned long long seed)
{
    double *q = dlt_mat_orth(N, seed);
    double *b = dlt_doubles((size_t)(N * N));
    dlt_rng g = {seed + 7};
    for (int64_t i = 0; i + 1 < N; i += 2) {
        double th = 0.05 + 3.04 * dlt_uniform(&g);
        b[i * N + i] = cos(th);
        b[i * N + i + 1] = -sin(th);
        b[(i + 1) * N + i] = sin(th);
        b[(i + 1) * N + i + 1] = cos(th);
    }
    if (N % 2) b[N * N - 1] = 1.0;
    double *qb = matmul(q, b, N, N, N);
    double *w = dlt_doubles((size_t)(N * N));
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)N, (int)N, (int)N, 1.0, qb, (int)N, q,
                (int)N, 0.0, w, (int)N);
    free(q);
    free(b);
    free(qb);
    return w;
}

/* Rank N/2: the product of N x N/2 and N/2 x N Gaussian matrices. */
static double *mat_singular(int64_t N, unsigned long long seed)
{
    double *a = dlt_mat_gauss(N, N / 2, seed, 1.0), *b = dlt_mat_gauss(N / 2, N, seed + 1, 1.0);
    double *w = matmul(a, b, N, N / 2, N);
    free(a);
    free(b);
    return w;
}

/* ---- measurements ------------------------------------------------------------------------ */

static double fmax_abs(const double *x, size_t count)
{
    double s = 0.0;
    for (size_t i = 0; i < count; i++) s = fmax(s, fabs(x[i]));
    return s;
}

/* ||rebuilt - W||_F / ||W||_F (absolute when W == 0); f32: factors and alpha rounded to
 * float32 first. Returns INFINITY when reconstruction fails. */
static double recon_err(const dlor_factored *f, const double *w, int f32)
{
    dlor_factored g = *f;
    size_t nu = (size_t)(f->k * f->dim_u), nv = (size_t)(f->k * f->dim_v);
    double *ut = NULL, *vt = NULL;
    if (f32) {
        ut = dlt_doubles(nu);
        vt = dlt_doubles(nv);
        for (size_t i = 0; i < nu; i++) ut[i] = (double)(float)f->ut[i];
        for (size_t i = 0; i < nv; i++) vt[i] = (double)(float)f->vt[i];
        g.ut = ut;
        g.vt = vt;
        g.alpha = (double)(float)f->alpha;
    }
    size_t mn = (size_t)(f->m * f->n);
    double *p = dlt_doubles(mn);
    dlor_error err = {0};
    double e = INFINITY;
    dlor_status st = dlor_reconstruct(&g, p, &err);
    CHECK(st == DLOR_OK, "reconstruct: %s", err.msg);
    if (st == DLOR_OK) {
        double nw = dlt_fro(w, mn);
        for (size_t i = 0; i < mn; i++) p[i] -= w[i];
        e = dlt_fro(p, mn) / (nw > 0.0 ? nw : 1.0);
    }
    free(p);
    free(ut);
    free(vt);
    return e;
}

/* Applies the factors to random vectors one at a time with plain loops and compares with
 * W x (plain loops): mul x~ <- a x~ + U_l (V_l^T x~) on the zero-padded vector, add
 * y = sum_l (a I_{m x n} x + U_l (V_l^T x)). Returns the worst relative error. */
static double vec_err(const dlor_factored *f, const double *w, int nvec)
{
    const int64_t m = f->m, n = f->n, K = f->k, r = f->rank;
    const int64_t D = f->method == DLOR_METHOD_MUL ? f->dim_u : 0;
    double worst = 0.0;
    dlt_rng g = {4242};
    double *x = dlt_doubles((size_t)(D > n ? D : n)), *y = dlt_doubles((size_t)(D > m ? D : m));
    double *ref = dlt_doubles((size_t)m), *c = dlt_doubles((size_t)r);
    for (int v = 0; v < nvec; v++) {
        memset(x, 0, sizeof(double) * (size_t)(D > n ? D : n));
        for (int64_t j = 0; j < n; j++) x[j] = dlt_normal(&g);
        for (int64_t i = 0; i < m; i++) {
            double s = 0.0;
            for (int64_t j = 0; j < n; j++) s += w[i * n + j] * x[j];
            ref[i] = s;
        }
        if (f->method == DLOR_METHOD_MUL) {
            for (int64_t l = 0; l < f->factors; l++) {
                int64_t b = dlor_factor_cols(f, l);
                const double *ul = f->ut + l * r * D, *vl = f->vt + l * r * D;
                for (int64_t q = 0; q < b; q++) {
                    double s = 0.0;
                    for (int64_t i = 0; i < D; i++) s += vl[q * D + i] * x[i];
                    c[q] = s;
                }
                for (int64_t i = 0; i < D; i++) {
                    double s = f->alpha * x[i];
                    for (int64_t q = 0; q < b; q++) s += ul[q * D + i] * c[q];
                    y[i] = s;
                }
                memcpy(x, y, sizeof(double) * (size_t)D);
            }
            memcpy(y, x, sizeof(double) * (size_t)m);
        } else {
            memset(y, 0, sizeof(double) * (size_t)m);
            for (int64_t l = 0; l < f->factors; l++) {
                int64_t b = dlor_factor_cols(f, l);
                for (int64_t i = 0; i < K; i++) y[i] += f->alpha * x[i];
                for (int64_t q = l * r; q < l * r + b; q++) {
                    double s = 0.0;
                    for (int64_t j = 0; j < n; j++) s += f->vt[q * n + j] * x[j];
                    for (int64_t i = 0; i < m; i++) y[i] += f->ut[q * m + i] * s;
                }
            }
        }
        double nr = dlt_fro(ref, (size_t)m);
        for (int64_t i = 0; i < m; i++) y[i] -= ref[i];
        double e = dlt_fro(y, (size_t)m) / (nr > 0.0 ? nr : 1.0);
        if (!(e <= worst)) worst = e;
    }
    free(x);
    free(y);
    free(ref);
    free(c);
    return worst;
}

/* The structure every factorization must have, whatever the numbers. */
static void check_structure(const dlor_factored *f, int64_t m, int64_t n, int64_t r, const char *what)
{
    int64_t D = m > n ? m : n;
    int64_t K = f->method == DLOR_METHOD_MUL ? D : (m < n ? m : n);
    CHECK(f->m == m && f->n == n && f->rank == r && f->k == K, "%s: shape fields", what);
    CHECK(f->factors == (K + r - 1) / r, "%s: L = %lld, expected ceil(%lld/%lld)", what,
          (long long)f->factors, (long long)K, (long long)r);
    if (f->method == DLOR_METHOD_MUL)
        CHECK(f->dim_u == D && f->dim_v == D, "%s: mul dims %lld %lld", what, (long long)f->dim_u,
              (long long)f->dim_v);
    else
        CHECK(f->dim_u == m && f->dim_v == n, "%s: add dims", what);
    int64_t total = 0;
    int ok = 1;
    for (int64_t l = 0; l < f->factors; l++) {
        int64_t b = dlor_factor_cols(f, l);
        int64_t want = (l + 1) * r <= K ? r : K - l * r;
        if (b != want) ok = 0;
        total += b;
    }
    CHECK(ok && total == K, "%s: factor column counts (sum %lld, K %lld)", what, (long long)total,
          (long long)K);
    CHECK(dlor_factor_cols(f, f->factors) == 0 && dlor_factor_cols(f, -1) == 0,
          "%s: cols out of range", what);
    CHECK(dlor__first_nonfinite(f->ut, (size_t)(K * f->dim_u)) < 0 &&
              dlor__first_nonfinite(f->vt, (size_t)(K * f->dim_v)) < 0,
          "%s: non-finite factors", what);
}

static dlor_factor_opts mul_opts(int64_t r, dlor_dtype storage)
{
    dlor_factor_opts o;
    memset(&o, 0, sizeof o);
    o.method = DLOR_METHOD_MUL;
    o.basis = DLOR_BASIS_SCHUR;
    o.rank = r;
    o.alpha_auto = 1;
    o.storage = storage;
    o.seed = 1;
    return o;
}

/* Factors w, checks structure and the vector products, records the errors, and asserts
 * them against the bounds (a bound < 0 is not asserted). */
static void run_case(const char *name, const double *w, int64_t m, int64_t n,
                     const dlor_factor_opts *o, double max64, double max32,
                     dlor__mul_stats *stats_out)
{
    dlor_factored f;
    dlor_error err = {0};
    dlor__mul_stats stats;
    double t0 = dlt_now();
    dlor_status st = dlor__factor_ex(name, w, m, n, o, &f, &stats, &err);
    double t1 = dlt_now();
    CHECK(st == DLOR_OK, "%s: dlor_factor failed: %s", name, err.msg);
    if (st != DLOR_OK) return;
    check_structure(&f, m, n, o->rank, name);
    if (o->storage == DLOR_DT_F32)
        CHECK(f.alpha == (double)(float)f.alpha, "%s: alpha %.17g not float32", name, f.alpha);
    double e64 = recon_err(&f, w, 0);
    /* Rounding only makes sense when alpha was rounded before the factors were computed. */
    double e32 = o->storage == DLOR_DT_F32 ? recon_err(&f, w, 1) : NAN;
    double ev = vec_err(&f, w, 3);
    double t2 = dlt_now();
    if (max64 >= 0.0) {
        CHECK(e64 <= max64, "%s: f64 error %.3g > %.3g", name, e64, max64);
        /* The vector check carries extra rounding of its own but no more than ~sqrt(L). */
        CHECK(ev <= 10.0 * max64, "%s: W x error %.3g", name, ev);
    }
    if (max32 >= 0.0 && o->storage == DLOR_DT_F32) CHECK(e32 <= max32, "%s: f32 error %.3g > %.3g", name, e32, max32);
    record(name, m, n, o->rank, e64, e32, ev, t1 - t0 + (t2 - t1) / 3.0, stats.splits);
    if (stats_out) *stats_out = stats;
    dlor_factored_free(&f);
}

/* ---- the cases ---------------------------------------------------------------------------- */

static void test_schur_large(void)
{
    const int64_t N = 1024;
    struct {
        const char *name;
        double *w;
    } mats[6];
    mats[0].name = "gauss";
    mats[0].w = dlt_mat_gauss(N, N, 11, 1.0);
    mats[1].name = "illcond 1e6";
    mats[1].w = mat_illcond(N, 12);
    mats[2].name = "rotation";
    mats[2].w = mat_rotation(N, 13);
    mats[3].name = "singular rank N/2";
    mats[3].w = mat_singular(N, 14);
    mats[4].name = "gauss*1e-3";
    mats[4].w = dlt_mat_gauss(N, N, 11, 1e-3);
    mats[5].name = "gauss*1e3";
    mats[5].w = dlt_mat_gauss(N, N, 11, 1e3);

    char nm[64];
    for (int i = 0; i < 6; i++) {
        dlor_factor_opts o = mul_opts(16, DLOR_DT_F32);
        dlor__mul_stats s;
        snprintf(nm, sizeof nm, "schur %s", mats[i].name);
        /* f32 storage: alpha rounded to float32; the unrounded factors must still be exact
         * to double precision. */
        run_case(nm, mats[i].w, N, N, &o, 1e-12, 5e-6, &s);
        CHECK(s.sorted == 1, "%s: even r must sort complex pairs first", nm);
        if (s.gees_info == 0)
            CHECK(s.splits == 0, "%s: even r, sorted Schur form, yet %lld splits", nm,
                  (long long)s.splits);
    }
    /* Odd r: bumps are split and fixed by the shear. */
    const int64_t odd[2] = {1, 3};
    const int which[2] = {0, 2};
    for (int a = 0; a < 2; a++)
        for (int b = 0; b < 2; b++) {
            dlor_factor_opts o = mul_opts(odd[a], DLOR_DT_F32);
            dlor__mul_stats s;
            snprintf(nm, sizeof nm, "schur %s", mats[which[b]].name);
            run_case(nm, mats[which[b]].w, N, N, &o, 1e-12, 2e-5, &s);
            CHECK(s.splits > 0, "%s r=%lld: no split bump exercised", nm, (long long)odd[a]);
            if (odd[a] == 1)
                CHECK(s.splits == s.complex_pairs, "%s r=1: %lld splits of %lld bumps", nm,
                      (long long)s.splits, (long long)s.complex_pairs);
            if (which[b] == 2)
                CHECK(s.complex_pairs == N / 2, "rotation: %lld complex pairs",
                      (long long)s.complex_pairs);
            if (which[b] == 0 && odd[a] == 1) CHECK(s.swaps > 0, "gauss r=1: swap path not hit");
            CHECK(s.max_abs_t <= 2.0 + 1e-12, "%s r=%lld: |t| = %.17g > 2", nm, (long long)odd[a],
                  s.max_abs_t);
            CHECK(s.max_shear_cond <= 2.6181, "%s r=%lld: cond(S) = %.6g", nm, (long long)odd[a],
                  s.max_shear_cond);
            printf("  %s r=%lld: %lld bumps, %lld split, %lld swapped, max|t| %.4f, max cond(S) %.4f\n",
                   nm, (long long)odd[a], (long long)s.complex_pairs, (long long)s.splits,
                   (long long)s.swaps, s.max_abs_t, s.max_shear_cond);
        }
    /* Pure float64 storage (no rounding anywhere). */
    {
        dlor_factor_opts o = mul_opts(16, DLOR_DT_F64);
        run_case("schur f64 gauss", mats[0].w, N, N, &o, 1e-12, -1, NULL);
    }
    for (int i = 0; i < 6; i++) free(mats[i].w);
}

static void test_schur_f64_small(void)
{
    const int64_t N = 256;
    double *w[3] = {dlt_mat_gauss(N, N, 21, 1.0), mat_rotation(N, 22), mat_singular(N, 23)};
    const char *names[3] = {"f64 gauss", "f64 rotation", "f64 singular"};
    const int64_t ranks[4] = {1, 7, 16, 256};
    char nm[64];
    for (int i = 0; i < 3; i++)
        for (int k = 0; k < 4; k++) {
            dlor_factor_opts o = mul_opts(ranks[k], DLOR_DT_F64);
            snprintf(nm, sizeof nm, "schur %s", names[i]);
            run_case(nm, w[i], N, N, &o, 1e-12, -1, NULL);
        }
    for (int i = 0; i < 3; i++) free(w[i]);
}

/* Singular W: the zero matrix and a nilpotent (strictly upper triangular) one. */
static void test_singular_exact(void)
{
    const int64_t N = 64;
    double *zero = dlt_doubles((size_t)(N * N));
    double *nil = dlt_mat_gauss(N, N, 31, 1.0);
    for (int64_t i = 0; i < N; i++)
        for (int64_t j = 0; j <= i; j++) nil[i * N + j] = 0.0;
    const int64_t ranks[4] = {1, 3, 8, 64};
    for (int k = 0; k < 4; k++) {
        dlor_factor_opts o = mul_opts(ranks[k], DLOR_DT_F64);
        run_case("schur zero", zero, N, N, &o, 1e-12, 1e-6, NULL);
        run_case("schur nilpotent", nil, N, N, &o, 1e-12, -1, NULL);
    }
    /* W == 0 takes alpha = 1. */
    dlor_factored f;
    dlor_error err = {0};
    dlor_factor_opts o = mul_opts(5, DLOR_DT_F32);
    if (dlor_factor("zero", zero, N, N, &o, &f, &err) == DLOR_OK) {
        CHECK(f.alpha == 1.0, "zero: alpha %g, expected 1", f.alpha);
        dlor_factored_free(&f);
    } else {
        CHECK(0, "zero: %s", err.msg);
    }
    free(zero);
    free(nil);
}

/* Degenerate shapes: 1 x 1, a single row or column, and a 2 x 2 rotation at r = 1 (its one
 * bump is split by the only boundary). */
static void test_tiny(void)
{
    double one[1] = {-3.5};
    double row5[5] = {1, -2, 3, 0.5, 4};
    double rot[4] = {0.6, -0.8, 0.8, 0.6};
    dlor__mul_stats st;
    dlor_factor_opts o = mul_opts(1, DLOR_DT_F64);
    run_case("tiny 1x1", one, 1, 1, &o, 1e-15, -1, NULL);
    run_case("tiny 1x5", row5, 1, 5, &o, 1e-14, -1, NULL);
    run_case("tiny 5x1", row5, 5, 1, &o, 1e-14, -1, NULL);
    run_case("tiny rot 2x2", rot, 2, 2, &o, 1e-15, -1, &st);
    CHECK(st.splits == 1 && st.complex_pairs == 1, "2x2 rotation r=1: %lld splits",
          (long long)st.splits);
    o.rank = 2;
    run_case("tiny rot 2x2", rot, 2, 2, &o, 1e-15, -1, NULL);
    dlor_factor_opts a = mul_opts(1, DLOR_DT_F64);
    a.method = DLOR_METHOD_ADD;
    a.basis = DLOR_BASIS_SVD;
    run_case("tiny add 1x5", row5, 1, 5, &a, 1e-15, -1, NULL);
    run_case("tiny add 5x1", row5, 5, 1, &a, 1e-15, -1, NULL);
    a.alpha_auto = 0;
    a.alpha = -2.0;
    run_case("tiny add 1x1 alpha=-2", one, 1, 1, &a, 1e-15, -1, NULL);
    o.alpha_auto = 0;
    o.alpha = -0.7; /* negative alpha, L = 5: alpha^L < 0 */
    o.rank = 1;
    run_case("tiny 1x5 alpha=-0.7", row5, 1, 5, &o, 1e-14, -1, NULL);
}

/* Rectangular layers: mul pads to D x D, add uses the m x n identity. The Schur form of a
 * padded layer is built from its min(m, n) square block (factor_mul.c): tall layers put the
 * zero eigenvalues first, so with m - n odd even ranks meet split bumps too. */
static void test_rectangular(void)
{
    const int64_t shapes[4][2] = {{300, 200}, {200, 300}, {301, 200}, {200, 301}};
    const int64_t ranks[5] = {1, 7, 16, 64, 301};
    char nm[64];
    for (int sh = 0; sh < 4; sh++) {
        int64_t m = shapes[sh][0], n = shapes[sh][1];
        double *a = dlt_mat_gauss(m, n, 41 + (unsigned long long)sh, 1.0);
        long long splits_even = 0;
        for (int k = 0; k < 5; k++) {
            if (ranks[k] > (m > n ? m : n)) continue;
            dlor_factor_opts o = mul_opts(ranks[k], DLOR_DT_F32);
            dlor__mul_stats s;
            snprintf(nm, sizeof nm, "mul %lldx%lld", (long long)m, (long long)n);
            run_case(nm, a, m, n, &o, 1e-12, 2e-5, &s);
            if (ranks[k] % 2 == 0) splits_even += s.splits;
            CHECK(s.max_abs_t <= 2.0 + 1e-12 && s.max_shear_cond <= 2.6181,
                  "%s r=%lld: |t| %.6g, cond(S) %.6g", nm, (long long)ranks[k], s.max_abs_t,
                  s.max_shear_cond);
        }
        /* Wide layers and tall ones with m - n even keep every bump off the boundaries. */
        if (m < n || (m - n) % 2 == 0)
            CHECK(splits_even == 0, "%lldx%lld: %lld splits at even r", (long long)m,
                  (long long)n, splits_even);
        else
            printf("  %lldx%lld (m - n odd): %lld bumps split at even r, fixed by the shear\n",
                   (long long)m, (long long)n, splits_even);
        free(a);
    }
    /* A singular square block (rank 60 of 200) in a tall and a wide layer. */
    {
        double *p = dlt_mat_gauss(300, 60, 45, 1.0), *q = dlt_mat_gauss(200, 60, 46, 1.0);
        double *t = dlt_doubles(300 * 200), *wd = dlt_doubles(200 * 300);
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, 300, 200, 60, 1.0, p, 60, q, 60, 0.0,
                    t, 200);
        for (int64_t i = 0; i < 300; i++)
            for (int64_t j = 0; j < 200; j++) wd[j * 300 + i] = t[i * 200 + j];
        dlor_factor_opts o = mul_opts(16, DLOR_DT_F64);
        run_case("mul 300x200 rank 60", t, 300, 200, &o, 1e-12, -1, NULL);
        run_case("mul 200x300 rank 60", wd, 200, 300, &o, 1e-12, -1, NULL);
        free(p);
        free(q);
        free(t);
        free(wd);
    }
}

static void test_add(void)
{
    double *sq = dlt_mat_gauss(512, 512, 51, 1.0), *re = dlt_mat_gauss(300, 700, 52, 1.0);
    double *ret = dlt_mat_gauss(700, 300, 53, 1.0);
    dlor_factor_opts o;
    memset(&o, 0, sizeof o);
    o.method = DLOR_METHOD_ADD;
    o.basis = DLOR_BASIS_SVD;
    o.alpha_auto = 1;
    o.storage = DLOR_DT_F32;
    const int64_t ranks[3] = {1, 16, 300};
    for (int k = 0; k < 3; k++) {
        o.rank = ranks[k];
        run_case("add 512", sq, 512, 512, &o, 1e-13, 2e-6, NULL);
        run_case("add 300x700", re, 300, 700, &o, 1e-13, 2e-6, NULL);
        run_case("add 700x300", ret, 700, 300, &o, 1e-13, 2e-6, NULL);
    }
    /* A given alpha: W = sum_l (a I + U_l V_l^T) still holds exactly. */
    o.alpha_auto = 0;
    o.alpha = 0.3;
    o.rank = 37;
    run_case("add alpha=0.3", re, 300, 700, &o, 1e-13, 2e-6, NULL);

    /* The factors are singular triplets: U^T U = V^T V = S (sqrt split), decreasing. */
    o.alpha_auto = 1;
    o.rank = 16;
    dlor_factored f;
    dlor_error err = {0};
    if (dlor_factor("add svd", re, 300, 700, &o, &f, &err) == DLOR_OK) {
        CHECK(f.alpha == 0.0, "add: alpha_auto must mean 0, got %g", f.alpha);
        double worst = 0.0, prev = INFINITY;
        int decreasing = 1;
        for (int64_t i = 0; i < f.k; i++)
            for (int64_t j = 0; j < f.k; j++) {
                double su = 0.0, sv = 0.0;
                for (int64_t c = 0; c < 300; c++) su += f.ut[i * 300 + c] * f.ut[j * 300 + c];
                for (int64_t c = 0; c < 700; c++) sv += f.vt[i * 700 + c] * f.vt[j * 700 + c];
                if (i == j) {
                    if (su > prev * (1 + 1e-12)) decreasing = 0;
                    prev = su;
                    worst = fmax(worst, fabs(su - sv) / su);
                } else {
                    worst = fmax(worst, fabs(su) / 1e3 + fabs(sv) / 1e3);
                }
            }
        CHECK(worst < 1e-10, "add: factors not orthogonal / unbalanced (%.3g)", worst);
        CHECK(decreasing, "add: singular values not decreasing");
        dlor_factored_free(&f);
    } else {
        CHECK(0, "add svd: %s", err.msg);
    }
    free(sq);
    free(re);
    free(ret);
}

/* The paper's random basis: an independent construction (block LU of Z^-1 W Z). Both must
 * rebuild W, and therefore each other. */
static void test_random_basis(void)
{
    struct {
        int64_t N, r;
    } cs[] = {{24, 1}, {24, 2}, {24, 5}, {24, 24}, {50, 7}, {64, 16}};
    for (size_t c = 0; c < sizeof cs / sizeof cs[0]; c++) {
        int64_t N = cs[c].N, r = cs[c].r;
        double *w = dlt_mat_gauss(N, N, 60 + c, 1.0);
        dlor_factor_opts o = mul_opts(r, DLOR_DT_F64);
        dlor_factored fr, fs;
        dlor_error err = {0};
        o.basis = DLOR_BASIS_RANDOM;
        o.seed = 1000 + c;
        char nm[64];
        snprintf(nm, sizeof nm, "random N=%lld", (long long)N);
        run_case(nm, w, N, N, &o, 1e-9, -1, NULL);
        dlor_status s1 = dlor_factor(nm, w, N, N, &o, &fr, &err);
        CHECK(s1 == DLOR_OK, "%s: %s", nm, err.msg);
        o.basis = DLOR_BASIS_SCHUR;
        dlor_status s2 = dlor_factor(nm, w, N, N, &o, &fs, &err);
        CHECK(s2 == DLOR_OK, "%s: %s", nm, err.msg);
        if (s1 == DLOR_OK && s2 == DLOR_OK) {
            CHECK(fr.alpha == fs.alpha, "random/schur alpha differ");
            double *pr = dlt_doubles((size_t)(N * N)), *ps = dlt_doubles((size_t)(N * N));
            CHECK(dlor_reconstruct(&fr, pr, &err) == DLOR_OK, "%s", err.msg);
            CHECK(dlor_reconstruct(&fs, ps, &err) == DLOR_OK, "%s", err.msg);
            double nrm = dlt_fro(ps, (size_t)(N * N));
            for (int64_t i = 0; i < N * N; i++) pr[i] -= ps[i];
            double d = dlt_fro(pr, (size_t)(N * N)) / nrm;
            CHECK(d <= 1e-9, "%s r=%lld: random and Schur products differ by %.3g", nm, (long long)r, d);
            /* Different bases give different factors; only the products agree. */
            double fd = 0.0;
            for (int64_t i = 0; i < N * N; i++) fd = fmax(fd, fabs(fr.vt[i] - fs.vt[i]));
            CHECK(r == N || fd > 1e-3, "%s: random and Schur factors coincide", nm);
            printf("  random vs schur N=%lld r=%lld: products differ by %.3g\n", (long long)N,
                   (long long)r, d);
            free(pr);
            free(ps);
        }
        if (s1 == DLOR_OK) dlor_factored_free(&fr);
        if (s2 == DLOR_OK) dlor_factored_free(&fs);
        free(w);
    }
    /* Rank-deficient W breaks the random basis (a leading block minor of Z^-1 W Z is
     * singular) and must say so. */
    const int64_t N = 16;
    double *zero = dlt_doubles((size_t)(N * N));
    dlor_factor_opts o = mul_opts(2, DLOR_DT_F64);
    o.basis = DLOR_BASIS_RANDOM;
    dlor_factored f;
    dlor_error err = {0};
    dlor_status st = dlor_factor("zero", zero, N, N, &o, &f, &err);
    CHECK(st == DLOR_E_NUMERIC && strstr(err.msg, "block 0") && strstr(err.msg, "schur"),
          "random basis on W = 0: status %d, '%s'", (int)st, err.msg);
    if (st == DLOR_OK) dlor_factored_free(&f);
    double *sing = mat_singular(N, 71);
    st = dlor_factor("rank8", sing, N, N, &o, &f, &err);
    CHECK(st == DLOR_E_NUMERIC && strstr(err.msg, "breaks down at block"),
          "random basis on rank-8 W: status %d, '%s'", (int)st, err.msg);
    if (st == DLOR_OK) dlor_factored_free(&f);
    printf("  random basis, rank-8 16x16: %s\n", err.msg);
    free(zero);
    free(sing);
}

/* dlor_reconstruct against the literal product of the dense factors (plain loops). */
static void test_reconstruct_reference(void)
{
    const int64_t m = 37, n = 29, D = 37, r = 3;
    double *w = dlt_mat_gauss(m, n, 81, 1.0);
    dlor_factor_opts o = mul_opts(r, DLOR_DT_F64);
    dlor_factored f;
    dlor_error err = {0};
    if (dlor_factor("ref", w, m, n, &o, &f, &err) != DLOR_OK) {
        CHECK(0, "ref: %s", err.msg);
        free(w);
        return;
    }
    double *p = dlt_doubles((size_t)(D * D)), *mk = dlt_doubles((size_t)(D * D)), *q = dlt_doubles((size_t)(D * D));
    for (int64_t i = 0; i < D; i++) p[i * D + i] = 1.0;
    for (int64_t l = 0; l < f.factors; l++) {
        int64_t b = dlor_factor_cols(&f, l);
        for (int64_t i = 0; i < D; i++)
            for (int64_t j = 0; j < D; j++) {
                double s = i == j ? f.alpha : 0.0;
                for (int64_t c = l * r; c < l * r + b; c++) s += f.ut[c * D + i] * f.vt[c * D + j];
                mk[i * D + j] = s;
            }
        for (int64_t i = 0; i < D; i++)
            for (int64_t j = 0; j < D; j++) {
                double s = 0.0;
                for (int64_t c = 0; c < D; c++) s += mk[i * D + c] * p[c * D + j];
                q[i * D + j] = s;
            }
        memcpy(p, q, sizeof(double) * (size_t)(D * D));
    }
    double *rec = dlt_doubles((size_t)(m * n));
    CHECK(dlor_reconstruct(&f, rec, &err) == DLOR_OK, "%s", err.msg);
    double d = 0.0, e = 0.0, pad = 0.0;
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            d = fmax(d, fabs(rec[i * n + j] - p[i * D + j]));
            e = fmax(e, fabs(p[i * D + j] - w[i * n + j]));
        }
    /* The padded part of the product must be zero too (W~ = [W 0; 0 0]). */
    for (int64_t i = 0; i < D; i++)
        for (int64_t j = n; j < D; j++) pad = fmax(pad, fabs(p[i * D + j]));
    CHECK(d < 1e-13, "reconstruct vs literal product: %.3g", d);
    CHECK(e < 1e-12, "literal product vs W: %.3g", e);
    CHECK(pad < 1e-12, "padding columns of the product: %.3g", pad);
    printf("  literal product 37x29 r=3: |reconstruct - product| %.3g, |product - W| %.3g, pad %.3g\n",
           d, e, pad);
    free(p);
    free(mk);
    free(q);
    free(rec);
    free(w);
    dlor_factored_free(&f);
}

/* alpha_auto = fl32(||W||_2^(1/L)); ||W||_2 from LAPACK's SVD. */
static void test_alpha(void)
{
    const int64_t N = 256, r = 8, L = 32;
    double *w = dlt_mat_gauss(N, N, 91, 1.0), *c = dlt_doubles((size_t)(N * N)), *s = dlt_doubles((size_t)N);
    memcpy(c, w, sizeof(double) * (size_t)(N * N));
    lapack_int info = LAPACKE_dgesdd(LAPACK_COL_MAJOR, 'N', (int)N, (int)N, c, (int)N, s, NULL, 1,
                                     NULL, 1);
    CHECK(info == 0, "dgesdd info %d", (int)info);
    dlor_factor_opts o = mul_opts(r, DLOR_DT_F32);
    dlor_factored f;
    dlor_error err = {0};
    if (dlor_factor("alpha", w, N, N, &o, &f, &err) == DLOR_OK) {
        double ratio = pow(f.alpha, (double)L) / s[0];
        /* 30 power steps on a Gaussian matrix (small gap) are good to a few percent; float32
         * rounding of alpha adds at most L * 2^-24. */
        CHECK(ratio > 0.9 && ratio < 1.0 + 1e-5, "alpha^L / ||W||_2 = %.6g", ratio);
        printf("  auto alpha %.9g: alpha^L / ||W||_2 = %.6f\n", f.alpha, ratio);
        dlor_factored_free(&f);
    } else {
        CHECK(0, "alpha: %s", err.msg);
    }
    /* A given alpha is rounded to the storage dtype before use. */
    o.alpha_auto = 0;
    o.alpha = 1.1;
    if (dlor_factor("alpha", w, N, N, &o, &f, &err) == DLOR_OK) {
        CHECK(f.alpha == (double)(float)1.1, "alpha not rounded to f32: %.17g", f.alpha);
        CHECK(recon_err(&f, w, 0) < 1e-12, "given alpha 1.1: f64 error");
        dlor_factored_free(&f);
    } else {
        CHECK(0, "alpha 1.1: %s", err.msg);
    }
    o.storage = DLOR_DT_BF16;
    if (dlor_factor("alpha", w, N, N, &o, &f, &err) == DLOR_OK) {
        CHECK(f.alpha == 1.1015625, "alpha not rounded to bf16: %.17g", f.alpha);
        dlor_factored_free(&f);
    } else {
        CHECK(0, "alpha bf16: %s", err.msg);
    }
    free(w);
    free(c);
    free(s);
}

static void expect_fail(const char *what, const double *w, int64_t m, int64_t n,
                        const dlor_factor_opts *o, dlor_status code, const char *needle)
{
    dlor_factored f;
    memset(&f, 0x5a, sizeof f);
    dlor_factored before = f;
    dlor_error err = {0};
    dlor_status st = dlor_factor("layer7", w, m, n, o, &f, &err);
    CHECK(st == code, "%s: status %d, expected %d (%s)", what, (int)st, (int)code, err.msg);
    CHECK(st == DLOR_OK || memcmp(&f, &before, sizeof f) == 0, "%s: output touched on failure", what);
    CHECK(st == DLOR_OK || strstr(err.msg, "layer7"), "%s: message lacks the layer name: %s", what,
          err.msg);
    if (needle) CHECK(strstr(err.msg, needle) != NULL, "%s: '%s' not in '%s'", what, needle, err.msg);
    if (st == DLOR_OK) dlor_factored_free(&f);
    printf("  %-22s -> %s\n", what, err.msg);
}

static void test_errors(void)
{
    const int64_t N = 20;
    double *w = dlt_mat_gauss(N, N, 101, 1.0);
    dlor_factor_opts o = mul_opts(3, DLOR_DT_F32);

    o.rank = 0;
    expect_fail("rank 0", w, N, N, &o, DLOR_E_ARG, "1 <= r <= D");
    o.rank = N + 1;
    expect_fail("rank D+1", w, N, N, &o, DLOR_E_ARG, "21");
    o.rank = 15;
    expect_fail("rank > min (add)", w, 12, 15, &(dlor_factor_opts){.method = DLOR_METHOD_ADD,
                .basis = DLOR_BASIS_SVD, .rank = 13, .alpha_auto = 1, .storage = DLOR_DT_F32},
                DLOR_E_ARG, "min(m, n) = 12");
    o.rank = 3;
    expect_fail("m = 0", w, 0, N, &o, DLOR_E_ARG, NULL);
    expect_fail("NULL w", NULL, N, N, &o, DLOR_E_ARG, NULL);

    double *bad = dlt_doubles((size_t)(N * N));
    memcpy(bad, w, sizeof(double) * (size_t)(N * N));
    bad[2 * N + 3] = NAN;
    expect_fail("NaN input", bad, N, N, &o, DLOR_E_NUMERIC, "[2, 3]");
    bad[2 * N + 3] = 1.0;
    bad[N * N - 1] = -INFINITY;
    expect_fail("-inf input", bad, N, N, &o, DLOR_E_NUMERIC, "[19, 19]");

    o.alpha_auto = 0;
    o.alpha = 0.0;
    expect_fail("alpha 0 (mul)", w, N, N, &o, DLOR_E_ARG, "alpha");
    o.alpha = NAN;
    expect_fail("alpha NaN", w, N, N, &o, DLOR_E_ARG, "alpha");
    o.alpha = 10.0;
    o.rank = 1;
    /* 10^20 is fine; with D = 400 (L = 400) 10^400 overflows. */
    double *big = dlt_mat_gauss(400, 400, 102, 1.0);
    expect_fail("alpha^L overflow", big, 400, 400, &o, DLOR_E_NUMERIC, "L = 400");
    o.alpha = 0.01;
    expect_fail("alpha^L underflow", big, 400, 400, &o, DLOR_E_NUMERIC, "L = 400");
    o.alpha = 1e5;
    o.storage = DLOR_DT_F16;
    o.rank = N;
    expect_fail("alpha beyond f16", w, N, N, &o, DLOR_E_NUMERIC, "f16");
    o.storage = DLOR_DT_I8;
    expect_fail("storage i8", w, N, N, &o, DLOR_E_ARG, NULL);
    o.storage = DLOR_DT_F32;
    o.alpha_auto = 1;
    o.basis = DLOR_BASIS_SVD;
    expect_fail("svd basis for mul", w, N, N, &o, DLOR_E_ARG, "basis");
    o.method = DLOR_METHOD_ADD;
    o.basis = DLOR_BASIS_SCHUR;
    expect_fail("schur basis for add", w, N, N, &o, DLOR_E_ARG, "basis");
    o.method = DLOR_METHOD_NONE;
    expect_fail("method none", w, N, N, &o, DLOR_E_ARG, NULL);
    o.method = DLOR_METHOD_ADD;
    o.alpha_auto = 0;
    o.alpha = INFINITY;
    o.basis = DLOR_BASIS_SVD;
    expect_fail("alpha inf (add)", w, N, N, &o, DLOR_E_ARG, "alpha");

    /* Basis NONE means the method's default. */
    o.basis = DLOR_BASIS_NONE;
    o.alpha = 0.0;
    o.rank = 4;
    expect_fail("basis none (add)", w, N, N, &o, DLOR_OK, NULL);

    /* Reconstruct refuses an inconsistent record. */
    dlor_factored f;
    memset(&f, 0, sizeof f);
    dlor_error err = {0};
    double out[4];
    CHECK(dlor_reconstruct(&f, out, &err) == DLOR_E_ARG, "reconstruct of an empty record");
    dlor_factored_free(&f); /* harmless on a zeroed struct */
    dlor_factored_free(NULL);

    free(w);
    free(bad);
    free(big);
}

/* The paper's alpha = 0.8 at L = 1024: alpha^L ~ 1e-99 is representable, the factor scale
 * alpha^(1-L) ~ 1e99 too, so the factors may come back finite but useless. It must not
 * crash and must never return non-finite factors. */
static void test_alpha_08(void)
{
    const int64_t N = 1024;
    double *w = dlt_mat_gauss(N, N, 111, 1.0);
    dlor_factor_opts o = mul_opts(1, DLOR_DT_F32);
    o.alpha_auto = 0;
    o.alpha = 0.8;
    dlor_factored f;
    dlor_error err = {0};
    double t0 = dlt_now();
    dlor_status st = dlor_factor("alpha08", w, N, N, &o, &f, &err);
    CHECK(st == DLOR_OK || st == DLOR_E_NUMERIC, "alpha 0.8: status %d (%s)", (int)st, err.msg);
    if (st == DLOR_OK) {
        check_structure(&f, N, N, 1, "alpha 0.8");
        double *p = dlt_doubles((size_t)(N * N));
        dlor_error rerr = {0};
        dlor_status rs = dlor_reconstruct(&f, p, &rerr);
        double e = INFINITY;
        if (rs == DLOR_OK) {
            double nw = dlt_fro(w, (size_t)(N * N));
            for (int64_t i = 0; i < N * N; i++) p[i] -= w[i];
            e = dlt_fro(p, (size_t)(N * N)) / nw;
        }
        CHECK(rs == DLOR_OK || rs == DLOR_E_NUMERIC, "alpha 0.8: reconstruct status %d", (int)rs);
        printf("  alpha 0.8, N=1024, r=1: factors finite (max |ut| %.3g); reconstruct: %s "
               "(error %.3g) (%.1f s)\n", fmax_abs(f.ut, (size_t)(N * N)),
               rs == DLOR_OK ? "ok" : rerr.msg, e, dlt_now() - t0);
        record("schur alpha=0.8", N, N, 1, e, NAN, NAN, dlt_now() - t0, 0);
        free(p);
        dlor_factored_free(&f);
    } else {
        printf("  alpha 0.8, N=1024, r=1: %s\n", err.msg);
    }
    free(w);
}

int main(void)
{
    double t0 = dlt_now();
    test_errors();
    test_reconstruct_reference();
    test_alpha();
    test_singular_exact();
    test_tiny();
    test_random_basis();
    test_rectangular();
    test_add();
    test_schur_f64_small();
    test_schur_large();
    test_alpha_08();

    printf("\n%-24s %5s %5s %5s %11s %11s %11s %6s %7s\n", "case", "m", "n", "r", "f64 err",
           "f32 err", "Wx err", "splits", "secs");
    for (int i = 0; i < nrows; i++) {
        row *t = &table[i];
        printf("%-24s %5lld %5lld %5lld %11.3e %11.3e %11.3e %6lld %7.2f\n", t->name, t->m, t->n, t->r,
               t->e64, t->e32, t->evec, t->splits, t->secs);
    }
    printf("total %.1f s\n", dlt_now() - t0);
    return dlt_finish();
}
