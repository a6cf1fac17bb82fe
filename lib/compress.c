/* compress.c - the best beta I_{m x n} + P Q^T of rank k for one layer, and the error curves
 * over k (see dlor_compress.h for the method).
 *
 * Everything is written for the general "space" G(beta) = G0 - beta J with G0 = W S and
 * J = I_{m x n} S; weight space is S = I (G0 = W, J = I_{m x n}, ||J||^2 = min(m, n)).
 * For fixed beta, Eckart-Young on G(beta) gives the best rank-k G_k, and P Q^T = G_k S^-1 is
 * then the best rank-k part in that space (S is invertible, so X -> X S is a bijection of
 * the rank-k matrices). With R_k = G(beta) - G_k(beta) and f_k(beta) = ||R_k||^2:
 *
 *   f_k(beta)  = sum_{i >= k} sigma_i^2                         (tail of the spectrum)
 *   f_k'(beta) = -2 <R_k, J> = -2 t_k,  t_k = <G, J> - sum_{i < k} sigma_i u_i^T J v_i
 *   moving beta by d with the left singular subspace U_k held (X = U_k U_k^T G(beta + d) is
 *   of rank k), ||(I - U_k U_k^T)(G - d J)||^2 = f_k - 2 d t_k + d^2 h_k with
 *   h_k = ||(I - U_k U_k^T) J||^2 = ||J||^2 - sum_{i < k} ||J^T u_i||^2; the same holds with
 *   the right subspace, h_k = ||J||^2 - sum_{i < k} ||J v_i||^2, and the smaller h_k is kept.
 *   Minimal at d = t_k / h_k with value f_k - t_k^2 / h_k: the alternation step.
 *
 * Holding P Q^T itself instead (the textbook alternation) gives curvature ||J||^2, which in
 * data space can exceed h_k by orders of magnitude (J = I S is dominated by the few large
 * input directions, and those are exactly what the rank-k part captures), making the steps
 * that much shorter. f_k'' <= 2 ||J||^2 still holds everywhere (f_k = ||J||^2 beta^2 minus a
 * convex function of beta), which the curves use as a safe bracket.
 *
 * So one SVD of G(beta) serves every k at once. Row-major m x n G is column-major n x m G^T;
 * dgesdd of G^T = U2 diag(sigma) VT2 gives u_i (m-vector) = row i of VT2 and v_i (n-vector)
 * = column i of U2.
 */
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>
#include <lapacke.h>

#include "dlor_compress.h"
#include "factor_internal.h"
#include "svd_top.h"

/* ---- small helpers ---------------------------------------------------------------------- */

/* ||x||_2 with scaling, so that huge or tiny entries neither overflow nor underflow. */
static double norm2(const double *x, size_t count)
{
    double mx = 0.0;
    for (size_t i = 0; i < count; i++)
        if (fabs(x[i]) > mx) mx = fabs(x[i]);
    if (mx == 0.0) return 0.0;
    double s = 0.0, inv = 1.0 / mx;
    for (size_t i = 0; i < count; i++) {
        double y = x[i] * inv;
        s += y * y;
    }
    return mx * sqrt(s);
}

static const char *lname(const char *name)
{
    return (name && *name) ? name : "(unnamed)";
}

/* Shared argument checks of fit and curves: sizes LAPACK can index, finite W, and a usable
 * whitening factor. */
static dlor_status check_layer(const char *nm, const double *w, int64_t m, int64_t n,
                               const double *chol, dlor_error *err)
{
    if (!w) return dlor_fail(err, DLOR_E_ARG, "layer '%s': NULL weight matrix", nm);
    if (m <= 0 || n <= 0)
        return dlor_fail(err, DLOR_E_ARG, "layer '%s': empty %lld x %lld matrix", nm, (long long)m,
                         (long long)n);
    if (m > INT_MAX || n > INT_MAX || (uint64_t)m > SIZE_MAX / sizeof(double) / (uint64_t)n ||
        (uint64_t)n > SIZE_MAX / sizeof(double) / (uint64_t)n)
        return dlor_fail(err, DLOR_E_LIMIT, "layer '%s': %lld x %lld is too large", nm,
                         (long long)m, (long long)n);
    int64_t bad = dlor__first_nonfinite(w, (size_t)m * (size_t)n);
    if (bad >= 0)
        return dlor_fail(err, DLOR_E_NUMERIC, "layer '%s': non-finite weight %g at [%lld, %lld]",
                         nm, w[bad], (long long)(bad / n), (long long)(bad % n));
    if (chol) {
        for (int64_t i = 0; i < n; i++) {
            for (int64_t j = 0; j <= i; j++)
                if (!isfinite(chol[i * n + j]))
                    return dlor_fail(err, DLOR_E_NUMERIC,
                                     "layer '%s': non-finite whitening factor entry %g at "
                                     "[%lld, %lld]", nm, chol[i * n + j], (long long)i,
                                     (long long)j);
            /* S^-1 maps the whitened solution back; a zero pivot has no inverse. */
            if (chol[i * n + i] == 0.0)
                return dlor_fail(err, DLOR_E_ARG,
                                 "layer '%s': whitening factor is singular (S[%lld, %lld] = 0)",
                                 nm, (long long)i, (long long)i);
        }
    }
    return DLOR_OK;
}

/* ---- the space errors are measured in ---------------------------------------------------- */

typedef struct space {
    int64_t m, n, K;
    const double *s;  /* lower-triangular S (upper part zero) or NULL for weight space */
    const double *g0; /* W S, or W */
    double *g0_own;
    double *g;        /* G(beta) for each SVD: G^T column-major (row i of G at g + i ldg) */
    int64_t ldg;      /* dlor__ld(n): a padded stride speeds LAPACK's full SVD up */
    double nj;        /* ||J||^2 */
    double g0j;       /* <G0, J> */
    double g0n;       /* ||G0||, or 1 when G0 = 0 (relative errors become absolute) */
} space;

/* s: a cleaned S (upper triangle zero) or NULL. */
static dlor_status space_init(space *sp, const char *nm, const double *w, int64_t m, int64_t n,
                              const double *s, dlor_error *err)
{
    memset(sp, 0, sizeof *sp);
    sp->m = m;
    sp->n = n;
    sp->K = m < n ? m : n;
    sp->s = s;
    const int64_t K = sp->K;
    if (!s) {
        sp->g0 = w;
        sp->nj = (double)K;
        for (int64_t i = 0; i < K; i++) sp->g0j += w[i * n + i];
    } else {
        double *g0 = dlor__alloc((size_t)m * (size_t)n, sizeof *g0);
        if (!g0) return dlor_fail(err, DLOR_E_NOMEM, "layer '%s': out of memory", nm);
        memcpy(g0, w, (size_t)m * (size_t)n * sizeof *g0);
        cblas_dtrmm(CblasRowMajor, CblasRight, CblasLower, CblasNoTrans, CblasNonUnit, (int)m,
                    (int)n, 1.0, s, (int)n, g0, (int)n);
        sp->g0 = sp->g0_own = g0;
        /* J = I_{m x n} S: rows i < K of S, the rest zero. */
        for (int64_t i = 0; i < K; i++)
            for (int64_t j = 0; j <= i; j++) {
                sp->nj += s[i * n + j] * s[i * n + j];
                sp->g0j += g0[i * n + j] * s[i * n + j];
            }
    }
    sp->g0n = norm2(sp->g0, (size_t)m * (size_t)n);
    if (sp->g0n == 0.0) sp->g0n = 1.0;
    sp->ldg = dlor__ld(n);
    sp->g = dlor__alloc((size_t)m * (size_t)sp->ldg, sizeof *sp->g);
    if (!sp->g) return dlor_fail(err, DLOR_E_NOMEM, "layer '%s': out of memory", nm);
    return DLOR_OK;
}

static void space_free(space *sp)
{
    free(sp->g0_own);
    free(sp->g);
    memset(sp, 0, sizeof *sp);
}

/* ---- one SVD of G(beta) ------------------------------------------------------------------- */

typedef struct svdws {
    int64_t kvec;   /* t_k is needed for k = 0..kvec */
    double beta;
    dlor__svd svd;  /* of G(beta)^T, n x m column-major (svd_top.h) */
    int64_t l;      /* singular triplets computed: K (full SVD) or kvec + oversampling */
    double *sig;    /* l (svd.sig) */
    double *u2;     /* n x l column-major (ld ldu): v_i = column i (svd.u) */
    double *vt2;    /* l x m column-major (ld ldvt): u_i = row i (svd.vt) */
    int64_t ldu, ldvt;
    double *sv;     /* K x kvec column-major: leading K entries of S v_i (= J v_i) */
    double *jtu;    /* n x kvec column-major: J^T u_i */
    double *tail;   /* kvec + 1: tail[k] = f_k = ||G - G_k||^2 (svd_top.h (*)) */
    double *t;      /* kvec + 1: t[k] = <R_k, J> */
    double *h;      /* kvec + 1: h[k], the curvature of the alternation step */
    double *hv;     /* kvec + 1: the curvature with the right subspace held (h <= hv) */
} svdws;

static void ws_free(svdws *ws)
{
    dlor__svd_free(&ws->svd);
    free(ws->sv);
    free(ws->jtu);
    free(ws->tail);
    free(ws->t);
    free(ws->h);
    free(ws->hv);
    memset(ws, 0, sizeof *ws);
}

/* flags: the DLOR__SVD_ bits of svd_top.h (full SVD always; singular values only). */
static int ws_init(svdws *ws, const space *sp, int64_t kvec, int flags)
{
    const size_t n = (size_t)sp->n, K = (size_t)sp->K;
    memset(ws, 0, sizeof *ws);
    ws->kvec = kvec;
    if (dlor__svd_init(&ws->svd, sp->n, sp->m, kvec > 0 ? kvec : 1, flags) != 0) return -1;
    ws->l = ws->svd.l;
    ws->sig = ws->svd.sig;
    if (flags & DLOR__SVD_VALUES) {
        ws->tail = dlor__alloc((size_t)kvec + 1, sizeof(double));
        if (!ws->tail) {
            ws_free(ws);
            return -1;
        }
        return 0;
    }
    ws->u2 = ws->svd.u;
    ws->vt2 = ws->svd.vt;
    ws->ldu = ws->svd.ldu;
    ws->ldvt = ws->svd.ldvt;
    ws->sv = dlor__alloc(K * (size_t)(kvec > 0 ? kvec : 1), sizeof(double));
    ws->jtu = dlor__alloc(n * (size_t)(kvec > 0 ? kvec : 1), sizeof(double));
    ws->tail = dlor__alloc((size_t)kvec + 1, sizeof(double));
    ws->t = dlor__alloc((size_t)kvec + 1, sizeof(double));
    ws->h = dlor__alloc((size_t)kvec + 1, sizeof(double));
    ws->hv = dlor__alloc((size_t)kvec + 1, sizeof(double));
    if (!ws->sv || !ws->jtu || !ws->tail || !ws->t || !ws->h || !ws->hv) {
        ws_free(ws);
        return -1;
    }
    return 0;
}

/* The SVD of G(beta) into ws; from (may be ws itself, or NULL) is a nearby evaluation the
 * truncated SVD starts from. */
static dlor_status evaluate(const space *sp, svdws *ws, double beta, const svdws *from, int *nsvd,
                            const char *nm, dlor_error *err)
{
    const int64_t m = sp->m, n = sp->n, K = sp->K, kv = ws->kvec, L = ws->l, lg = sp->ldg;
    const int64_t lu = ws->ldu, lv = ws->ldvt;
    for (int64_t i = 0; i < m; i++)
        memcpy(sp->g + i * lg, sp->g0 + i * n, (size_t)n * sizeof(double));
    if (sp->s) {
        for (int64_t i = 0; i < K; i++)
            for (int64_t j = 0; j <= i; j++) sp->g[i * lg + j] -= beta * sp->s[i * n + j];
    } else {
        for (int64_t i = 0; i < K; i++) sp->g[i * lg + i] -= beta;
    }
    int info = dlor__svd_run(&ws->svd, sp->g, lg, from ? &from->svd : NULL);
    (*nsvd)++;
    if (info == DLOR__SVD_NOMEM || info == LAPACK_WORK_MEMORY_ERROR ||
        info == LAPACK_TRANSPOSE_MEMORY_ERROR)
        return dlor_fail(err, DLOR_E_NOMEM, "layer '%s': out of memory (SVD of %lld x %lld)", nm,
                         (long long)m, (long long)n);
    if (info != 0)
        return dlor_fail(err, DLOR_E_NUMERIC,
                         "layer '%s': SVD of W - beta I (beta = %.17g) failed "
                         "(LAPACK info = %d)", nm, beta, info);
    ws->beta = beta;
    double tl = ws->svd.res;
    for (int64_t i = L - 1; i >= kv; i--) tl += ws->sig[i] * ws->sig[i];
    ws->tail[kv] = tl;
    for (int64_t i = kv - 1; i >= 0; i--) ws->tail[i] = ws->tail[i + 1] + ws->sig[i] * ws->sig[i];
    if (ws->svd.values_only) return DLOR_OK;
    if (kv > 0 && sp->s) {
        /* J v_i = S[0:K, :] v_i; J^T u_i = S[0:K, :]^T u_i[0:K] (the column-major view of the
         * row-major S is S^T). */
        cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, (int)K, (int)kv, (int)n, 1.0, sp->s,
                    (int)n, ws->u2, (int)lu, 0.0, ws->sv, (int)K);
        cblas_dgemm(CblasColMajor, CblasNoTrans, CblasTrans, (int)n, (int)kv, (int)K, 1.0, sp->s,
                    (int)n, ws->vt2, (int)lv, 0.0, ws->jtu, (int)n);
    }
    ws->t[0] = sp->g0j - beta * sp->nj;
    ws->h[0] = ws->hv[0] = sp->nj;
    double pu = 0.0, pv = 0.0;
    for (int64_t i = 0; i < kv; i++) {
        /* c_i = u_i^T J v_i = sum_{r < K} u_i[r] (J v_i)[r]. */
        const double *jv = sp->s ? ws->sv + i * K : ws->u2 + i * lu;
        double c = 0.0, a = 0.0, b = 0.0;
        for (int64_t r = 0; r < K; r++) {
            c += ws->vt2[i + r * lv] * jv[r];
            b += jv[r] * jv[r];
        }
        if (sp->s) {
            for (int64_t r = 0; r < n; r++) a += ws->jtu[r + i * n] * ws->jtu[r + i * n];
        } else {
            for (int64_t r = 0; r < K; r++) a += ws->vt2[i + r * lv] * ws->vt2[i + r * lv];
        }
        pu += a;
        pv += b;
        ws->t[i + 1] = ws->t[i] - ws->sig[i] * c;
        /* The floor only makes the step more cautious; it guards the cancellation in
         * ||J||^2 - sum when the subspace holds almost all of J (h_K = 0 in weight space).
         * A truncated SVD has G_k = G V_k V_k^T exactly but not U_k U_k^T G (svd_top.h: the
         * triplets are of G^T), so only the right subspace's curvature is guaranteed there. */
        ws->h[i + 1] = fmax(sp->nj - (ws->svd.full ? fmax(pu, pv) : pv), 1e-8 * sp->nj);
        ws->hv[i + 1] = fmax(sp->nj - pv, 1e-8 * sp->nj);
    }
    return DLOR_OK;
}

/* ---- the fit ------------------------------------------------------------------------------ */

dlor_lowrank_opts dlor_lowrank_defaults(void)
{
    dlor_lowrank_opts o;
    memset(&o, 0, sizeof o);
    o.beta_mode = DLOR_BETA_FIT;
    return o;
}

int64_t dlor_lowrank_params(int64_t m, int64_t n, int64_t k, int with_beta)
{
    return k * (m + n) + (with_beta ? 1 : 0);
}

static void swap_ws(svdws **a, svdws **b)
{
    svdws *t = *a;
    *a = *b;
    *b = t;
}

/* Local descent of f_k from b0; *best holds the SVD at the best beta found, *cur is scratch.
 * secant = 0 is plain alternation. It stops when the predicted further decrease of f_k is
 * at most tol f_k: at b0 already when beta is not worth moving (beta* ~ 0 on ordinary
 * layers costs one SVD). from: the evaluation the first truncated SVD starts from (NULL:
 * a random start); later ones start from the best so far. */
static dlor_status descend(const space *sp, svdws **best, svdws **cur, int64_t k, double b0,
                           int secant, int maxit, double tol, const svdws *from, int *nsvd,
                           const char *nm, dlor_error *err)
{
    const double nj = sp->nj;
    /* f is at most ||G0||^2-sized; below this nothing is measurable. */
    const double tiny = 1e-30 * sp->g0n * sp->g0n;
    dlor_status st = evaluate(sp, *cur, b0, from, nsvd, nm, err);
    if (st != DLOR_OK) return st;
    swap_ws(best, cur);
    double bb = b0, fb = (*best)->tail[k], tb = (*best)->t[k], hb = (*best)->h[k];
    double bp = 0.0, tp = 0.0;
    int have_prev = 0, force_mm = 0;
    for (int it = 0; it < maxit; it++) {
        /* Plain alternation holds P Q^T (curvature ||J||^2); the fit holds a singular
         * subspace (curvature h_k <= ||J||^2, a longer step that still cannot increase f). */
        double hs = secant ? hb : nj;
        double step = tb / hs, gain = tb * tb / hs;
        int newton = 0;
        if (secant && have_prev && !force_mm && bb != bp) {
            /* t = -f'/2, so the secant slope of t is -f''/2. f'' <= 2||J||^2 everywhere; a
             * larger estimate means a kink in between: alternate instead. Where f is concave
             * (slope of t >= 0, met on the way out of beta = 0 in data space) the alternation
             * steps stay short, so the last step is doubled instead. */
            double curv = -2.0 * (tb - tp) / (bb - bp);
            if (curv > 0.0 && curv < 2.0 * nj && isfinite(2.0 * tb / curv)) {
                step = 2.0 * tb / curv;
                gain = fmax(gain, 2.0 * tb * tb / curv);
                newton = 1;
            } else if (curv <= 0.0 && (bb - bp > 0.0) == (tb > 0.0) &&
                       2.0 * fabs(bb - bp) > fabs(step)) {
                step = 2.0 * (bb - bp);
                newton = 1;
            }
        }
        if (gain <= tol * fb + tiny) break;
        double bn = bb + step;
        if (bn == bb) break;
        st = evaluate(sp, *cur, bn, *best, nsvd, nm, err);
        if (st != DLOR_OK) return st;
        double fn = (*cur)->tail[k], tn = (*cur)->t[k];
        if (fn < fb) {
            bp = bb;
            tp = tb;
            have_prev = 1;
            swap_ws(best, cur);
            bb = bn;
            fb = fn;
            tb = tn;
            hb = (*best)->h[k];
            force_mm = 0;
        } else if (newton) {
            /* Overshot: the point is still a good secant partner; alternate once. */
            bp = bn;
            tp = tn;
            have_prev = 1;
            force_mm = 1;
        } else {
            break; /* the alternation step cannot increase f: only rounding is left */
        }
    }
    return DLOR_OK;
}

dlor_status dlor_lowrank_fit(const char *name, const double *w, int64_t m, int64_t n, int64_t k,
                             const dlor_lowrank_opts *opts, dlor_lowrank *out, dlor_error *err)
{
    const char *nm = lname(name);
    if (!out) return dlor_fail(err, DLOR_E_ARG, "layer '%s': NULL output", nm);
    dlor_lowrank_opts o = opts ? *opts : dlor_lowrank_defaults();
    dlor_status st = check_layer(nm, w, m, n, o.chol, err);
    if (st != DLOR_OK) return st;
    const int64_t K = m < n ? m : n;
    if (k < 1 || k > K)
        return dlor_fail(err, DLOR_E_ARG,
                         "layer '%s' (%lld x %lld): rank %lld out of range: need 1 <= k <= "
                         "min(m, n) = %lld", nm, (long long)m, (long long)n, (long long)k,
                         (long long)K);
    if (o.beta_mode != DLOR_BETA_ZERO && o.beta_mode != DLOR_BETA_FIT &&
        o.beta_mode != DLOR_BETA_ALTERNATE && o.beta_mode != DLOR_BETA_FIXED)
        return dlor_fail(err, DLOR_E_ARG, "layer '%s': unknown beta mode %d", nm,
                         (int)o.beta_mode);
    if ((o.beta_mode == DLOR_BETA_FIXED || o.has_start) && !isfinite(o.beta))
        return dlor_fail(err, DLOR_E_ARG, "layer '%s': beta = %g is not finite", nm, o.beta);
    if (o.max_iter < 0)
        return dlor_fail(err, DLOR_E_ARG, "layer '%s': max_iter = %d < 0", nm, o.max_iter);
    if (!(o.tol >= 0.0) || !isfinite(o.tol))
        return dlor_fail(err, DLOR_E_ARG, "layer '%s': tolerance %g is not >= 0", nm, o.tol);
    const int data = o.chol && !o.weight_objective;
    const size_t mn = (size_t)m * (size_t)n;

    double *s = NULL, *pt = NULL, *qt = NULL, *e = NULL;
    double *snap_sig = NULL, *snap_v = NULL, *snap_u = NULL, snap_beta = 0.0, snap_f = 0.0;
    double snap_t = 0.0, snap_hv = 1.0, *yt = NULL, *rr = NULL, *qv = NULL, *sg = NULL, *ub = NULL;
    space sp;
    memset(&sp, 0, sizeof sp);
    svdws wa, wb;
    memset(&wa, 0, sizeof wa);
    memset(&wb, 0, sizeof wb);
    int nsvd = 0;
    if (o.chol) {
        s = dlor__alloc((size_t)n * (size_t)n, sizeof *s);
        if (!s) {
            st = dlor_fail(err, DLOR_E_NOMEM, "layer '%s': out of memory", nm);
            goto done;
        }
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < n; j++) s[i * n + j] = j <= i ? o.chol[i * n + j] : 0.0;
    }
    st = space_init(&sp, nm, w, m, n, data ? s : NULL, err);
    if (st != DLOR_OK) goto done;
    const int flags = o.full_svd ? DLOR__SVD_FULL : 0;
    if (ws_init(&wa, &sp, k, flags) || ws_init(&wb, &sp, k, flags)) {
        st = dlor_fail(err, DLOR_E_NOMEM, "layer '%s': out of memory (SVD of %lld x %lld)", nm,
                       (long long)m, (long long)n);
        goto done;
    }
    svdws *best = &wa, *cur = &wb;
    /* The factors come from the winner's leading k triplets: beta, sigma (k), v_i (n x k,
     * leading dimension ld_v), u_i (rows of an ld_u x m array). */
    double beta, f_win;
    const double *w_sig, *w_v, *w_u;
    int64_t ld_u, ld_v;
    if (o.beta_mode == DLOR_BETA_ZERO || o.beta_mode == DLOR_BETA_FIXED) {
        st = evaluate(&sp, best, o.beta_mode == DLOR_BETA_ZERO ? 0.0 : o.beta, NULL, &nsvd, nm,
                      err);
        if (st != DLOR_OK) goto done;
    } else {
        int secant = o.beta_mode == DLOR_BETA_FIT;
        int maxit = o.max_iter ? o.max_iter : (secant ? 60 : 2000);
        /* The fit's steps converge superlinearly; plain alternation linearly, so a gain
         * threshold that small stops it only near the optimum too. */
        double tol = o.tol > 0.0 ? o.tol : secant ? DLOR_BETA_TOL : 1e-16;
        double starts[2] = {o.has_start ? o.beta : 0.0, sp.g0j / sp.nj};
        int nstart = (o.has_start || starts[1] == 0.0) ? 1 : 2;
        double b1 = 0.0;
        for (int i = 0; i < nstart; i++) {
            /* A descent from 0 that passed the second start, or ended within 1% of the
             * distance it travelled from it, has already been through that basin (usual: the
             * k = 0 optimum lies between 0 and beta*, or just beyond). */
            if (i == 1 && ((starts[1] >= fmin(starts[0], b1) &&
                            starts[1] <= fmax(starts[0], b1)) ||
                           fabs(starts[1] - b1) <= 0.01 * fabs(b1 - starts[0])))
                break;
            if (i == 1) {
                /* Keep the first run's result (its k leading triplets) while the second
                 * runs, which starts its truncated SVD from it. */
                snap_sig = dlor__alloc((size_t)k, sizeof *snap_sig);
                snap_v = dlor__alloc((size_t)n * (size_t)k, sizeof *snap_v);
                snap_u = dlor__alloc((size_t)k * (size_t)m, sizeof *snap_u);
                if (!snap_sig || !snap_v || !snap_u) {
                    st = dlor_fail(err, DLOR_E_NOMEM, "layer '%s': out of memory", nm);
                    goto done;
                }
                snap_beta = best->beta;
                snap_f = best->tail[k];
                snap_t = best->t[k];
                snap_hv = best->hv[k];
                memcpy(snap_sig, best->sig, (size_t)k * sizeof *snap_sig);
                for (int64_t j = 0; j < k; j++)
                    memcpy(snap_v + j * n, best->u2 + j * best->ldu, (size_t)n * sizeof *snap_v);
                for (int64_t r = 0; r < m; r++)
                    for (int64_t j = 0; j < k; j++)
                        snap_u[j + r * k] = best->vt2[j + r * best->ldvt];
            }
            st = descend(&sp, &best, &cur, k, starts[i], secant, maxit, tol, i ? best : NULL,
                         &nsvd, nm, err);
            if (st != DLOR_OK) goto done;
            if (i == 0) b1 = best->beta;
        }
    }
    beta = best->beta;
    f_win = best->tail[k];
    w_sig = best->sig;
    w_v = best->u2;
    ld_v = best->ldu;
    w_u = best->vt2;
    ld_u = best->ldvt;
    double t_win = best->t[k], hv_win = best->hv[k];
    if (snap_sig && snap_f < f_win) {
        beta = snap_beta;
        w_sig = snap_sig;
        w_v = snap_v;
        ld_v = n;
        w_u = snap_u;
        ld_u = k;
        t_win = snap_t;
        hv_win = snap_hv;
    }
    e = dlor__alloc(mn, sizeof *e);
    if (!e) {
        st = dlor_fail(err, DLOR_E_NOMEM, "layer '%s': out of memory", nm);
        goto done;
    }
    if ((o.beta_mode == DLOR_BETA_FIT || o.beta_mode == DLOR_BETA_ALTERNATE) && t_win != 0.0) {
        /* A last alternation step, free of SVDs: with the right singular subspace V_k held,
         * beta + t / hv and the rank-k part G(beta + t / hv) V_k V_k^T lower f by t^2 / hv
         * (or leave it). Where the search stopped at its start (beta* ~ 0) this is the
         * step it judged too small to take an SVD for. The balanced split comes from the
         * SVD of the m x k matrix Y = G V_k = U' S' R'^T: P = U' S'^(1/2), Q = V_k R' S'^(1/2). */
        const double b2 = beta + t_win / hv_win;
        yt = dlor__alloc((size_t)k * (size_t)m, sizeof *yt);
        rr = dlor__alloc((size_t)k * (size_t)k, sizeof *rr);
        qv = dlor__alloc((size_t)n * (size_t)k, sizeof *qv);
        sg = dlor__alloc((size_t)k, sizeof *sg);
        ub = dlor__alloc((size_t)k * (size_t)m, sizeof *ub);
        if (!yt || !rr || !qv || !sg || !ub) {
            st = dlor_fail(err, DLOR_E_NOMEM, "layer '%s': out of memory", nm);
            goto done;
        }
        memcpy(e, sp.g0, mn * sizeof *e);
        if (data) {
            for (int64_t i = 0; i < K; i++)
                for (int64_t j = 0; j <= i; j++) e[i * n + j] -= b2 * s[i * n + j];
        } else {
            for (int64_t i = 0; i < K; i++) e[i * n + i] -= b2;
        }
        /* Y^T = V_k^T G^T (G^T is e column-major, n x m). */
        cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, (int)k, (int)m, (int)n, 1.0, w_v,
                    (int)ld_v, e, (int)n, 0.0, yt, (int)k);
        lapack_int info = LAPACKE_dgesdd(LAPACK_COL_MAJOR, 'S', (lapack_int)k, (lapack_int)m, yt,
                                         (lapack_int)k, sg, rr, (lapack_int)k, ub, (lapack_int)k);
        if (info != 0) {
            st = dlor_fail(err, DLOR_E_NUMERIC,
                           "layer '%s': SVD of the last alternation step failed (LAPACK info = %d)",
                           nm, (int)info);
            goto done;
        }
        cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, (int)n, (int)k, (int)k, 1.0, w_v,
                    (int)ld_v, rr, (int)k, 0.0, qv, (int)n);
        beta = b2;
        w_sig = sg;
        w_v = qv;
        ld_v = n;
        w_u = ub;
        ld_u = k;
    }

    /* P = U_k Sigma^(1/2), Q^T = Sigma^(1/2) V_k^T S^-1 (solve X S = B, S lower triangular). */
    pt = dlor__alloc((size_t)k * (size_t)m, sizeof *pt);
    qt = dlor__alloc((size_t)k * (size_t)n, sizeof *qt);
    if (!pt || !qt) {
        st = dlor_fail(err, DLOR_E_NOMEM, "layer '%s': out of memory", nm);
        goto done;
    }
    for (int64_t j = 0; j < k; j++) {
        double h = sqrt(w_sig[j]);
        for (int64_t r = 0; r < m; r++) pt[j * m + r] = h * w_u[j + r * ld_u];
        for (int64_t c = 0; c < n; c++) qt[j * n + c] = h * w_v[c + j * ld_v];
    }
    if (data)
        cblas_dtrsm(CblasRowMajor, CblasRight, CblasLower, CblasNoTrans, CblasNonUnit, (int)k,
                    (int)n, 1.0, s, (int)n, qt, (int)n);

    /* The reported errors are measured on the factors themselves, not taken from the
     * singular values: E = W - beta I - P Q^T. */
    memcpy(e, w, mn * sizeof *e);
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)m, (int)n, (int)k, -1.0, pt, (int)m,
                qt, (int)n, 1.0, e, (int)n);
    for (int64_t i = 0; i < K; i++) e[i * n + i] -= beta;
    double nw = norm2(w, mn);
    double rel = norm2(e, mn) / (nw > 0.0 ? nw : 1.0), rel_data = rel;
    if (s) {
        cblas_dtrmm(CblasRowMajor, CblasRight, CblasLower, CblasNoTrans, CblasNonUnit, (int)m,
                    (int)n, 1.0, s, (int)n, e, (int)n);
        double nws;
        if (data) {
            nws = sp.g0n;
        } else {
            memcpy(sp.g, w, mn * sizeof(double));
            cblas_dtrmm(CblasRowMajor, CblasRight, CblasLower, CblasNoTrans, CblasNonUnit, (int)m,
                        (int)n, 1.0, s, (int)n, sp.g, (int)n);
            nws = norm2(sp.g, mn);
            if (nws == 0.0) nws = 1.0;
        }
        rel_data = norm2(e, mn) / nws;
    }
    if (!isfinite(rel) || !isfinite(rel_data) ||
        dlor__first_nonfinite(qt, (size_t)k * (size_t)n) >= 0) {
        st = dlor_fail(err, DLOR_E_NUMERIC,
                       "layer '%s': the fitted factors are not finite (whitening factor too "
                       "ill-conditioned?)", nm);
        goto done;
    }

    memset(out, 0, sizeof *out);
    out->m = m;
    out->n = n;
    out->k = k;
    out->beta = beta;
    out->pt = pt;
    out->qt = qt;
    out->rel_err = rel;
    out->rel_err_data = rel_data;
    out->data_objective = data;
    out->svds = nsvd;
    pt = qt = NULL;

done:
    free(s);
    free(pt);
    free(qt);
    free(e);
    free(snap_sig);
    free(snap_v);
    free(snap_u);
    free(yt);
    free(rr);
    free(qv);
    free(sg);
    free(ub);
    ws_free(&wa);
    ws_free(&wb);
    space_free(&sp);
    return st;
}

dlor_status dlor_lowrank_reconstruct(const dlor_lowrank *l, double *w_out, dlor_error *err)
{
    if (!l || !w_out || !l->pt || !l->qt || l->m <= 0 || l->n <= 0 || l->k < 1 ||
        l->k > (l->m < l->n ? l->m : l->n) || l->m > INT_MAX || l->n > INT_MAX)
        return dlor_fail(err, DLOR_E_ARG, "lowrank reconstruct: NULL or inconsistent argument");
    const int64_t m = l->m, n = l->n, K = m < n ? m : n;
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)m, (int)n, (int)l->k, 1.0, l->pt,
                (int)m, l->qt, (int)n, 0.0, w_out, (int)n);
    for (int64_t i = 0; i < K; i++) w_out[i * n + i] += l->beta;
    return DLOR_OK;
}

void dlor_lowrank_free(dlor_lowrank *l)
{
    if (!l) return;
    free(l->pt);
    free(l->qt);
    memset(l, 0, sizeof *l);
}

/* ---- error curves ------------------------------------------------------------------------- */

#define CURVE_MAX_SVD 32
#define CURVE_NEW_PER_ROUND 4
/* Settling (dlor_compress.h): near the optimum f_k(b) <= f_k* + h_k (b - beta*)^2, so a b
 * within sqrt(tol f_k / h_k) of the estimated optimum is predicted within tol f_k of it. */

/* Evaluated betas: point j has beta pb[j] and, for every k, f, t and h at
 * [j*(kmax+1)+k] of pf, ptv and ph. */
typedef struct curve_pts {
    int64_t kw; /* kmax + 1 */
    int n;
    double pb[CURVE_MAX_SVD];
    double *pf, *ptv, *ph;
} curve_pts;

static void pts_add(curve_pts *p, const svdws *ws)
{
    int j = p->n++;
    p->pb[j] = ws->beta;
    for (int64_t k = 0; k < p->kw; k++) {
        p->pf[j * p->kw + k] = ws->tail[k];
        p->ptv[j * p->kw + k] = ws->t[k];
        p->ph[j * p->kw + k] = ws->h[k];
    }
}

/* The alternation value at point j for rank k (achieved, see the top of the file). */
static double pt_value(const curve_pts *p, int j, int64_t k)
{
    int64_t i = j * p->kw + k;
    return p->pf[i] - p->ptv[i] * p->ptv[i] / p->ph[i];
}

/* Estimate of the minimiser of f_k from the evaluated points (order: indices sorted by
 * beta). From b with t > 0 (f decreasing) the next local minimum lies beyond b + t/||J||^2,
 * because f' rises at most at rate 2||J||^2; such bounds from both sides clip the secant. */
static double curve_estimate(const curve_pts *p, const int *order, int64_t k, double nj,
                             int *jbest_out)
{
    const int64_t kw = p->kw;
    int jb = 0, pos = 0;
    double vb = INFINITY;
    for (int q = 0; q < p->n; q++) {
        double v = pt_value(p, order[q], k);
        if (v < vb) {
            vb = v;
            jb = order[q];
            pos = q;
        }
    }
    *jbest_out = jb;
    double b = p->pb[jb], t = p->ptv[jb * kw + k], mm = b + t / p->ph[jb * kw + k];
    if (t == 0.0) return b;
    int dir = t > 0.0 ? 1 : -1; /* side of the optimum */
    int qn = pos + dir;
    if (qn >= 0 && qn < p->n) {
        int jn = order[qn];
        double bn = p->pb[jn], tn = p->ptv[jn * kw + k];
        if (tn == 0.0) return bn;
        if ((tn > 0.0) != (t > 0.0)) {
            /* Bracketed: regula falsi on t, kept between the two safe bounds. */
            double c = b + t * (bn - b) / (t - tn);
            double lo = dir > 0 ? b + t / nj : bn + tn / nj;
            double hi = dir > 0 ? bn + tn / nj : b + t / nj;
            if (lo > hi) return mm;
            return c < lo ? lo : c > hi ? hi : c;
        }
    }
    int qo = pos - dir;
    if (qo >= 0 && qo < p->n) {
        /* Not bracketed: Newton with the secant slope towards the previous point, or, where f
         * is concave, twice the distance from it (as in the fit's descent). */
        int jo = order[qo];
        double bo = p->pb[jo], to = p->ptv[jo * kw + k];
        double curv = -2.0 * (t - to) / (b - bo);
        if (curv > 0.0 && curv < 2.0 * nj && isfinite(2.0 * t / curv)) return b + 2.0 * t / curv;
        if (curv <= 0.0 && 2.0 * fabs(b - bo) > fabs(mm - b)) return b + 2.0 * (b - bo);
    }
    return mm;
}

typedef struct ival {
    double lo, hi;
    double gain; /* bound on the relative decrease of f_k still possible there */
} ival;

static int cmp_hi(const void *a, const void *b)
{
    double x = ((const ival *)a)->hi, y = ((const ival *)b)->hi;
    return (x > y) - (x < y);
}

static void sort_order(const curve_pts *p, int *order)
{
    /* Insertion sort: at most CURVE_MAX_SVD points. */
    for (int q = 0; q < p->n; q++) order[q] = q;
    for (int q = 1; q < p->n; q++) {
        int v = order[q], r = q - 1;
        while (r >= 0 && p->pb[order[r]] > p->pb[v]) {
            order[r + 1] = order[r];
            r--;
        }
        order[r + 1] = v;
    }
}

dlor_status dlor_error_curves(const char *name, const double *w, int64_t m, int64_t n,
                              int64_t kmax, const double *chol, dlor_curve *out, dlor_error *err)
{
    return dlor_error_curves_ex(name, w, m, n, kmax, chol, NULL, out, err);
}

dlor_status dlor_error_curves_ex(const char *name, const double *w, int64_t m, int64_t n,
                                 int64_t kmax, const double *chol, const dlor_curve_opts *opts,
                                 dlor_curve *out, dlor_error *err)
{
    const char *nm = lname(name);
    if (!out) return dlor_fail(err, DLOR_E_ARG, "layer '%s': NULL output", nm);
    dlor_status st = check_layer(nm, w, m, n, chol, err);
    if (st != DLOR_OK) return st;
    const int64_t K = m < n ? m : n, kw = kmax + 1;
    if (kmax < 0 || kmax > K)
        return dlor_fail(err, DLOR_E_ARG,
                         "layer '%s' (%lld x %lld): kmax %lld out of range: need 0 <= kmax <= "
                         "min(m, n) = %lld", nm, (long long)m, (long long)n, (long long)kmax,
                         (long long)K);
    dlor_curve_opts o;
    memset(&o, 0, sizeof o);
    if (opts) o = *opts;
    if (!(o.tol >= 0.0) || !isfinite(o.tol))
        return dlor_fail(err, DLOR_E_ARG, "layer '%s': curve tolerance %g is not >= 0", nm, o.tol);
    const double tol = o.tol > 0.0 ? o.tol : DLOR_BETA_TOL;
    const int flags = (o.full_svd ? DLOR__SVD_FULL : 0) | (o.svd_only ? DLOR__SVD_VALUES : 0);

    double *s = NULL, *esvd = NULL, *edl = NULL, *bet = NULL;
    ival *iv = NULL, *grp = NULL;
    curve_pts p;
    memset(&p, 0, sizeof p);
    p.kw = kw;
    space sp;
    memset(&sp, 0, sizeof sp);
    svdws ws;
    memset(&ws, 0, sizeof ws);
    int nsvd = 0, converged = 0;
    if (chol) {
        s = dlor__alloc((size_t)n * (size_t)n, sizeof *s);
        if (!s) {
            st = dlor_fail(err, DLOR_E_NOMEM, "layer '%s': out of memory", nm);
            goto done;
        }
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < n; j++) s[i * n + j] = j <= i ? chol[i * n + j] : 0.0;
    }
    st = space_init(&sp, nm, w, m, n, s, err);
    if (st != DLOR_OK) goto done;
    esvd = dlor__alloc((size_t)kw, sizeof *esvd);
    if (!esvd || ws_init(&ws, &sp, kmax, flags)) {
        st = dlor_fail(err, DLOR_E_NOMEM, "layer '%s': out of memory (error curves)", nm);
        goto done;
    }
    st = evaluate(&sp, &ws, 0.0, &ws, &nsvd, nm, err);
    if (st != DLOR_OK) goto done;
    for (int64_t k = 0; k < kw; k++) esvd[k] = sqrt(ws.tail[k]) / sp.g0n;
    if (o.svd_only) {
        converged = 1;
        goto finish;
    }
    edl = dlor__alloc((size_t)kw, sizeof *edl);
    bet = dlor__alloc((size_t)kw, sizeof *bet);
    iv = dlor__alloc((size_t)kw, sizeof *iv);
    grp = dlor__alloc((size_t)kw, sizeof *grp);
    p.pf = dlor__alloc((size_t)CURVE_MAX_SVD * (size_t)kw, sizeof *p.pf);
    p.ptv = dlor__alloc((size_t)CURVE_MAX_SVD * (size_t)kw, sizeof *p.ptv);
    p.ph = dlor__alloc((size_t)CURVE_MAX_SVD * (size_t)kw, sizeof *p.ph);
    if (!edl || !bet || !iv || !grp || !p.pf || !p.ptv || !p.ph) {
        st = dlor_fail(err, DLOR_E_NOMEM, "layer '%s': out of memory (error curves)", nm);
        goto done;
    }
    pts_add(&p, &ws);

    const double nj = sp.nj, g0n2 = sp.g0n * sp.g0n;
    const double bscale = sp.g0n / sqrt(nj);
    int order[CURVE_MAX_SVD];
    while (1) {
        sort_order(&p, order);
        int64_t nopen = 0;
        for (int64_t k = 0; k < kw; k++) {
            int jb;
            double c = curve_estimate(&p, order, k, nj, &jb);
            double v = pt_value(&p, jb, k), h = p.ph[jb * kw + k];
            /* The floor keeps exact fits (f = 0) from asking for infinite precision; the
             * second term is the resolution of beta itself. */
            double d = sqrt(tol * fmax(v, 1e-28 * g0n2) / h);
            d = fmax(d, 1e-13 * (fabs(c) + bscale));
            double near = INFINITY;
            for (int j = 0; j < p.n; j++) near = fmin(near, fabs(p.pb[j] - c));
            if (near > d) {
                iv[nopen].lo = c - d;
                iv[nopen].hi = c + d;
                iv[nopen].gain = h * near * near / fmax(v, 1e-28 * g0n2);
                nopen++;
            }
        }
        if (nopen == 0) {
            converged = 1;
            break;
        }
        if (p.n >= CURVE_MAX_SVD) break;
        if (p.n == 1 && sp.g0j != 0.0) {
            /* Some rank wants beta to move: the k = 0 optimum is the first probe. */
            st = evaluate(&sp, &ws, sp.g0j / nj, &ws, &nsvd, nm, err);
            if (st != DLOR_OK) goto done;
            pts_add(&p, &ws);
            continue;
        }
        /* Fewest points that stab every open interval: sort by right end, each point at the
         * middle of the common part of its group. */
        qsort(iv, (size_t)nopen, sizeof *iv, cmp_hi);
        int64_t ng = 0;
        for (int64_t q = 0; q < nopen;) {
            double hi = iv[q].hi, lo = iv[q].lo, gain = iv[q].gain;
            int64_t r = q + 1;
            while (r < nopen && iv[r].lo <= hi) {
                if (iv[r].lo > lo) lo = iv[r].lo;
                gain += iv[r].gain;
                r++;
            }
            grp[ng].lo = 0.5 * (lo + hi);
            grp[ng].gain = gain;
            ng++;
            q = r;
        }
        /* The groups with the most to gain first (summed over their ranks), as many as this
         * round and the SVD budget allow: where beta*(k) wanders (flat data-space errors) the
         * budget goes to the ranks still far from their optimum, not to polishing others. */
        for (int add = 0; add < CURVE_NEW_PER_ROUND && p.n < CURVE_MAX_SVD; add++) {
            int64_t gbest = -1;
            for (int64_t g = 0; g < ng; g++)
                if (grp[g].gain >= 0.0 && (gbest < 0 || grp[g].gain > grp[gbest].gain)) gbest = g;
            if (gbest < 0) break;
            grp[gbest].gain = -1.0;
            st = evaluate(&sp, &ws, grp[gbest].lo, &ws, &nsvd, nm, err);
            if (st != DLOR_OK) goto done;
            pts_add(&p, &ws);
        }
    }

    /* Best alternation value over all points. */
    for (int64_t k = 0; k < kw; k++) {
        double vb = INFINITY, bb = 0.0;
        for (int j = 0; j < p.n; j++) {
            double v = pt_value(&p, j, k);
            if (v < vb) {
                vb = v;
                bb = p.pb[j] + p.ptv[j * kw + k] / p.ph[j * kw + k];
            }
        }
        edl[k] = sqrt(fmax(vb, 0.0)) / sp.g0n;
        bet[k] = bb;
    }

finish:
    memset(out, 0, sizeof *out);
    out->m = m;
    out->n = n;
    out->kmax = kmax;
    out->data_space = chol != NULL;
    out->err_svd = esvd;
    out->err_dlor = edl;
    out->beta = bet;
    out->nsvd = nsvd;
    out->converged = converged;
    esvd = edl = bet = NULL;

done:
    free(s);
    free(esvd);
    free(edl);
    free(bet);
    free(iv);
    free(grp);
    free(p.pf);
    free(p.ptv);
    free(p.ph);
    ws_free(&ws);
    space_free(&sp);
    return st;
}

void dlor_curve_free(dlor_curve *c)
{
    if (!c) return;
    free(c->err_svd);
    free(c->err_dlor);
    free(c->beta);
    memset(c, 0, sizeof *c);
}
