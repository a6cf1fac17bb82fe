/* factor_common.c - argument checks, the choice of alpha, dispatch to the constructions,
 * and reconstruction of W from its DLoR factors. The constructions themselves live in
 * factor_mul.c (Theorem 4) and factor_add.c (Theorem 3). */
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "dlor_splitmix.h"
#include "factor_internal.h"

/* ---- small helpers -------------------------------------------------------------------- */

void *dlor__alloc(size_t count, size_t size)
{
    if (size != 0 && count > SIZE_MAX / size) return NULL;
    size_t bytes = count * size;
    return malloc(bytes ? bytes : 1);
}

int64_t dlor__ld(int64_t rows)
{
    return rows >= 64 && rows % 32 == 0 ? rows + 8 : rows;
}

double dlor__ipow(double a, int64_t e)
{
    /* pow is exact enough here (correctly rounded or within 1 ulp in glibc) and defined for
     * a negative base because the exponent is integral; over/underflow give inf/0, which the
     * callers test for. */
    return pow(a, (double)e);
}

double dlor__rng_uniform(dlor__rng *g)
{
    return (double)(dlor_splitmix64(&g->s) >> 11) * (1.0 / 9007199254740992.0);
}

double dlor__rng_normal(dlor__rng *g)
{
    /* 1 - u lies in (0, 1], so the logarithm is finite. */
    double u1 = 1.0 - dlor__rng_uniform(g);
    double u2 = dlor__rng_uniform(g);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

int64_t dlor__first_nonfinite(const double *x, size_t count)
{
    for (size_t i = 0; i < count; i++)
        if (!isfinite(x[i])) return (int64_t)i;
    return -1;
}

double dlor__norm2_estimate(const double *w, int64_t m, int64_t n)
{
    /* Only the order of magnitude of ||W||_2 matters for alpha (the error grows like
     * u * max(||W|| / alpha^L, alpha^L / ||W||)), so 30 steps of power iteration are plenty;
     * ||W x|| for a unit x never exceeds ||W||_2 and converges to it quadratically in the angle. */
    double *x = dlor__alloc((size_t)n, sizeof *x);
    double *y = dlor__alloc((size_t)m, sizeof *y);
    if (!x || !y) {
        free(x);
        free(y);
        return -1.0;
    }
    dlor__rng g = {0x6a09e667f3bcc908ull};  /* fixed start: the result is deterministic */
    for (int64_t j = 0; j < n; j++) x[j] = dlor__rng_normal(&g);
    double est = 0.0;
    double nx = cblas_dnrm2((int)n, x, 1);
    for (int it = 0; it < 30 && nx > 0.0; it++) {
        cblas_dscal((int)n, 1.0 / nx, x, 1);
        cblas_dgemv(CblasRowMajor, CblasNoTrans, (int)m, (int)n, 1.0, w, (int)n, x, 1, 0.0, y, 1);
        double ny = cblas_dnrm2((int)m, y, 1);
        if (ny > est) est = ny;
        if (ny == 0.0) break;
        /* Normalising y before applying W^T keeps every intermediate below ||W||. */
        cblas_dgemv(CblasRowMajor, CblasTrans, (int)m, (int)n, 1.0 / ny, w, (int)n, y, 1, 0.0, x, 1);
        nx = cblas_dnrm2((int)n, x, 1);
    }
    if (est == 0.0) {
        /* The start vector can only miss every singular direction if W == 0 (or by a fluke of
         * measure zero); the Frobenius norm is within sqrt(rank) of the 2-norm either way. */
        double s = 0.0;
        for (size_t i = 0; i < (size_t)m * (size_t)n; i++) s = hypot(s, w[i]);
        est = s;
    }
    free(x);
    free(y);
    return est;
}

/* ---- dlor_factor ------------------------------------------------------------------------ */

static int storage_ok(dlor_dtype dt) { return dlor_dtype_is_weight(dt); }

static const char *method_str(dlor_method m)
{
    return m == DLOR_METHOD_MUL ? "mul" : m == DLOR_METHOD_ADD ? "add" : "none";
}

static const char *basis_str(dlor_basis b)
{
    switch (b) {
    case DLOR_BASIS_SCHUR: return "schur";
    case DLOR_BASIS_RANDOM: return "random";
    case DLOR_BASIS_SVD: return "svd";
    default: return "none";
    }
}

dlor_status dlor__factor_ex(const char *name, const double *w, int64_t m, int64_t n,
                            const dlor_factor_opts *opts, dlor_factored *out,
                            dlor__mul_stats *stats, dlor_error *err)
{
    const char *nm = (name && *name) ? name : "(unnamed)";
    if (stats) memset(stats, 0, sizeof *stats);
    if (!w || !opts || !out)
        return dlor_fail(err, DLOR_E_ARG, "layer '%s': NULL argument to dlor_factor", nm);
    if (m <= 0 || n <= 0)
        return dlor_fail(err, DLOR_E_ARG, "layer '%s': cannot factor an empty %lld x %lld matrix",
                         nm, (long long)m, (long long)n);

    dlor_method method = opts->method;
    dlor_basis basis = opts->basis;
    if (method == DLOR_METHOD_MUL) {
        if (basis == DLOR_BASIS_NONE) basis = DLOR_BASIS_SCHUR;
        if (basis != DLOR_BASIS_SCHUR && basis != DLOR_BASIS_RANDOM)
            return dlor_fail(err, DLOR_E_ARG,
                             "layer '%s': basis '%s' is not valid for mul (use schur or random)", nm,
                             basis_str(basis));
    } else if (method == DLOR_METHOD_ADD) {
        if (basis == DLOR_BASIS_NONE) basis = DLOR_BASIS_SVD;
        if (basis != DLOR_BASIS_SVD)
            return dlor_fail(err, DLOR_E_ARG,
                             "layer '%s': basis '%s' is not valid for add (only svd)", nm,
                             basis_str(basis));
    } else {
        return dlor_fail(err, DLOR_E_ARG, "layer '%s': unknown factorization method %d", nm,
                         (int)method);
    }
    if (!storage_ok(opts->storage))
        return dlor_fail(err, DLOR_E_ARG,
                         "layer '%s': storage dtype %s is not one of f32, f64, f16, bf16, q8, q4", nm,
                         dlor_dtype_name(opts->storage));

    int64_t D = m > n ? m : n;
    int64_t K = method == DLOR_METHOD_MUL ? D : (m < n ? m : n);
    /* LAPACK indexes with int, and D x D doubles must fit in memory arithmetic. */
    if (D > INT_MAX || (uint64_t)D > SIZE_MAX / sizeof(double) / (uint64_t)D)
        return dlor_fail(err, DLOR_E_LIMIT, "layer '%s': %lld x %lld is too large to factor", nm,
                         (long long)m, (long long)n);
    int64_t r = opts->rank;
    if (r < 1 || r > K) {
        if (method == DLOR_METHOD_MUL)
            return dlor_fail(err, DLOR_E_ARG,
                             "layer '%s' (%lld x %lld): rank %lld out of range for mul: need "
                             "1 <= r <= D = max(m, n) = %lld",
                             nm, (long long)m, (long long)n, (long long)r, (long long)K);
        return dlor_fail(err, DLOR_E_ARG,
                         "layer '%s' (%lld x %lld): rank %lld out of range for add: need "
                         "1 <= r <= min(m, n) = %lld",
                         nm, (long long)m, (long long)n, (long long)r, (long long)K);
    }
    int64_t bad = dlor__first_nonfinite(w, (size_t)m * (size_t)n);
    if (bad >= 0)
        return dlor_fail(err, DLOR_E_NUMERIC, "layer '%s': non-finite value %g at [%lld, %lld]",
                         nm, w[bad], (long long)(bad / n), (long long)(bad % n));

    int64_t L = (K + r - 1) / r;
    const char *dtn = dlor_dtype_name(opts->storage);
    double a;
    if (method == DLOR_METHOD_MUL) {
        if (opts->alpha_auto) {
            /* alpha = ||W||_2^(1/L) balances the two error terms u*||W||/alpha^L and
             * u*alpha^L/||W|| (notes section 1); W == 0 has no scale, any alpha works. */
            double nrm = dlor__norm2_estimate(w, m, n);
            if (nrm < 0.0)
                return dlor_fail(err, DLOR_E_NOMEM, "layer '%s': out of memory", nm);
            a = nrm > 0.0 ? pow(nrm, 1.0 / (double)L) : 1.0;
        } else {
            a = opts->alpha;
            if (!isfinite(a) || a == 0.0)
                return dlor_fail(err, DLOR_E_ARG,
                                 "layer '%s': alpha = %g is invalid for mul (must be finite and "
                                 "non-zero)", nm, a);
        }
    } else {
        a = opts->alpha_auto ? 0.0 : opts->alpha;
        if (!isfinite(a))
            return dlor_fail(err, DLOR_E_ARG, "layer '%s': alpha = %g is not finite", nm, a);
    }
    /* Rounded before anything is computed, so that storing alpha in the target dtype loses
     * nothing and the factors are exact for the stored alpha. */
    double a_req = a;
    a = dlor_round_to_dtype(a, opts->storage);
    if (!isfinite(a) || (a == 0.0 && a_req != 0.0))
        return dlor_fail(err, DLOR_E_NUMERIC,
                         "layer '%s': alpha = %.9g is not representable in storage dtype %s", nm,
                         a_req, dtn);
    if (method == DLOR_METHOD_MUL) {
        double aL = dlor__ipow(a, L), ainv = dlor__ipow(a, 1 - L);
        if (!isfinite(aL) || aL == 0.0 || !isfinite(ainv) || ainv == 0.0)
            return dlor_fail(err, DLOR_E_NUMERIC,
                             "layer '%s': alpha = %.9g with L = %lld factors gives alpha^L = %g "
                             "(over/underflow); use an alpha near ||W||_2^(1/L) (the default)",
                             nm, a, (long long)L, aL);
    }

    double *ut = NULL, *vt = NULL;
    dlor_status st;
    int64_t dim_u, dim_v;
    if (method == DLOR_METHOD_MUL) {
        dim_u = dim_v = D;
        double *wp = dlor__alloc((size_t)D * (size_t)D, sizeof *wp);
        if (!wp) return dlor_fail(err, DLOR_E_NOMEM, "layer '%s': out of memory", nm);
        /* Remark 2: W sits in the leading m x n block of a zero D x D matrix. */
        memset(wp, 0, (size_t)D * (size_t)D * sizeof *wp);
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) wp[i + j * D] = w[i * n + j];
        if (basis == DLOR_BASIS_SCHUR)
            st = dlor__mul_schur(nm, wp, D, m, n, r, L, a, &ut, &vt, stats, err);
        else
            st = dlor__mul_random(nm, wp, D, r, L, a, opts->seed, &ut, &vt, err);
        free(wp);
    } else {
        dim_u = m;
        dim_v = n;
        st = dlor__add_svd(nm, w, m, n, r, L, a, &ut, &vt, err);
    }
    if (st != DLOR_OK) return st;

    /* Finite input and a sane alpha^L can still give non-finite factors when alpha^(1-L)
     * times ||W|| overflows; never hand such factors out. */
    if (dlor__first_nonfinite(ut, (size_t)K * (size_t)dim_u) >= 0 ||
        dlor__first_nonfinite(vt, (size_t)K * (size_t)dim_v) >= 0) {
        free(ut);
        free(vt);
        return dlor_fail(err, DLOR_E_NUMERIC,
                         "layer '%s': %s factors are not finite with alpha = %.9g and L = %lld "
                         "(alpha^L = %g); use an alpha near ||W||_2^(1/L) (the default)",
                         nm, method_str(method), a, (long long)L, dlor__ipow(a, L));
    }

    memset(out, 0, sizeof *out);
    out->method = method;
    out->basis = basis;
    out->m = m;
    out->n = n;
    out->dim_u = dim_u;
    out->dim_v = dim_v;
    out->rank = r;
    out->k = K;
    out->factors = L;
    out->alpha = a;
    out->ut = ut;
    out->vt = vt;
    return DLOR_OK;
}

dlor_status dlor_factor(const char *name, const double *w, int64_t m, int64_t n,
                        const dlor_factor_opts *opts, dlor_factored *out, dlor_error *err)
{
    return dlor__factor_ex(name, w, m, n, opts, out, NULL, err);
}

/* ---- accessors -------------------------------------------------------------------------- */

int64_t dlor_factor_cols(const dlor_factored *f, int64_t l)
{
    if (!f || f->rank < 1 || l < 0 || l >= f->factors || l > (f->k - 1) / f->rank) return 0;
    int64_t left = f->k - l * f->rank;
    return left < f->rank ? left : f->rank;
}

void dlor_factored_free(dlor_factored *f)
{
    if (!f) return;
    free(f->ut);
    free(f->vt);
    free(f->base);
    memset(f, 0, sizeof *f);
}

/* ---- reconstruction --------------------------------------------------------------------- */

/* Columns of the D x D product are independent: P[:, c] = M_L ... M_1 e_c. So the product is
 * built one panel of columns at a time, pushing the panel through all L factors while it
 * stays in cache; with small r this turns L passes over a D x D matrix in memory into
 * cache-resident work, and only the n wanted columns are ever formed. */
#define DLOR_RECON_PANEL 64

static dlor_status reconstruct_mul(const dlor_factored *f, double *w_out, dlor_error *err)
{
    const int64_t D = f->dim_u, m = f->m, n = f->n, r = f->rank, L = f->factors;
    const int64_t nb_max = n < DLOR_RECON_PANEL ? n : DLOR_RECON_PANEL;
    double *pan = dlor__alloc((size_t)D * (size_t)nb_max, sizeof *pan);
    double *tmp = dlor__alloc((size_t)r * (size_t)nb_max, sizeof *tmp);
    if (!pan || !tmp) {
        free(pan);
        free(tmp);
        return dlor_fail(err, DLOR_E_NOMEM, "reconstruct: out of memory");
    }
    const double a = f->alpha;
    for (int64_t c0 = 0; c0 < n; c0 += nb_max) {
        int64_t nb = n - c0 < nb_max ? n - c0 : nb_max;
        memset(pan, 0, (size_t)D * (size_t)nb * sizeof *pan);
        for (int64_t c = 0; c < nb; c++) pan[(c0 + c) + c * D] = 1.0;
        for (int64_t l = 0; l < L; l++) {
            int64_t b = dlor_factor_cols(f, l);
            const double *ul = f->ut + l * r * D, *vl = f->vt + l * r * D;
            /* M_l P = alpha P + U_l (V_l^T P); U_l and V_l are D x b column-major blocks. */
            cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, (int)b, (int)nb, (int)D, 1.0, vl,
                        (int)D, pan, (int)D, 0.0, tmp, (int)b);
            cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, (int)D, (int)nb, (int)b, 1.0, ul,
                        (int)D, tmp, (int)b, a, pan, (int)D);
        }
        for (int64_t i = 0; i < m; i++)
            for (int64_t c = 0; c < nb; c++) w_out[i * n + c0 + c] = pan[i + c * D];
    }
    free(pan);
    free(tmp);
    return DLOR_OK;
}

/* On DLOR_E_NUMERIC (non-finite product) w_out holds the partial, non-finite result. */
dlor_status dlor_reconstruct(const dlor_factored *f, double *w_out, dlor_error *err)
{
    if (!f || !w_out || !f->ut || !f->vt)
        return dlor_fail(err, DLOR_E_ARG, "reconstruct: NULL argument or empty factorization");
    const int64_t m = f->m, n = f->n;
    int ok = m > 0 && n > 0 && f->rank >= 1 && f->k >= 1 &&
             f->factors == (f->k + f->rank - 1) / f->rank;
    if (ok && f->method == DLOR_METHOD_MUL) {
        int64_t D = m > n ? m : n;
        ok = f->dim_u == D && f->dim_v == D && f->k <= D && D <= INT_MAX;
    } else if (ok && f->method == DLOR_METHOD_ADD) {
        ok = f->dim_u == m && f->dim_v == n && f->k <= (m < n ? m : n) && m <= INT_MAX &&
             n <= INT_MAX;
    } else {
        ok = 0;
    }
    if (!ok)
        return dlor_fail(err, DLOR_E_ARG,
                         "reconstruct: inconsistent factorization (method %d, %lld x %lld, k %lld, "
                         "r %lld, L %lld)",
                         (int)f->method, (long long)m, (long long)n, (long long)f->k,
                         (long long)f->rank, (long long)f->factors);

    if (f->method == DLOR_METHOD_MUL) {
        dlor_status st = reconstruct_mul(f, w_out, err);
        if (st != DLOR_OK) return st;
    } else {
        /* add: W = L*alpha*I_{m x n} + U V^T with U = ut^T, V = vt^T. */
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)m, (int)n, (int)f->k, 1.0, f->ut,
                    (int)m, f->vt, (int)n, 0.0, w_out, (int)n);
        double la = (double)f->factors * f->alpha;
        for (int64_t i = 0; i < (m < n ? m : n); i++) w_out[i * n + i] += la;
        if (f->base)
            for (int64_t i = 0; i < m * n; i++) w_out[i] += f->base[i];
    }
    /* Finite factors with a badly chosen alpha (e.g. 0.8 at L = 1024: factor scale
     * alpha^(1-L) ~ 1e99) can overflow in the running product; say so instead of
     * returning inf/NaN as if it were a matrix. */
    int64_t bad = dlor__first_nonfinite(w_out, (size_t)m * (size_t)n);
    if (bad >= 0)
        return dlor_fail(err, DLOR_E_NUMERIC,
                         "reconstruct: product is not finite at [%lld, %lld] (alpha = %.9g, "
                         "L = %lld): the factors are too badly scaled to be evaluated",
                         (long long)(bad / n), (long long)(bad % n), f->alpha,
                         (long long)f->factors);
    return DLOR_OK;
}
