/* verify.c - rebuild stored layers and measure them against dense weights. */
#include "dlor_verify.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>
#include <lapacke.h>

double dlor_default_tol(dlor_dtype factor_dtype)
{
    switch (factor_dtype) {
    case DLOR_DT_F64: return 1e-10;
    case DLOR_DT_F16: return 1e-2;
    case DLOR_DT_BF16: return 5e-2;
    case DLOR_DT_Q8: return 5e-2;
    case DLOR_DT_Q4: return 0.3;
    default: return 1e-4;
    }
}

void dlor_compare(const double *a, const double *b, uint64_t n, double *rel_fro, double *max_abs)
{
    /* Scaled sums of squares would be overkill: weights are far from the
     * double range limits, and the sums are accumulated in double. */
    double num = 0, den = 0, mx = 0;
    for (uint64_t i = 0; i < n; i++) {
        double d = a[i] - b[i];
        num += d * d;
        den += a[i] * a[i];
        if (!(fabs(d) <= mx)) mx = fabs(d); /* NaN propagates */
    }
    *rel_fro = den > 0 ? sqrt(num) / sqrt(den) : sqrt(num);
    *max_abs = mx;
}

/* The min(m, n) singular values of the m x n matrix w (descending) into s; 0, LAPACK's info, or -1
 * when out of memory (dgesdd's own -1, a bad first argument, cannot happen here). */
static int singular_values(const double *w, int64_t m, int64_t n, double *s)
{
    double *a = malloc((size_t)(m * n) * sizeof *a);
    if (!a) return -1;
    memcpy(a, w, (size_t)(m * n) * sizeof *a);
    /* row-major W is column-major W^T, which has the same singular values */
    lapack_int info = LAPACKE_dgesdd(LAPACK_COL_MAJOR, 'N', (lapack_int)n, (lapack_int)m, a, (lapack_int)n, s, NULL,
                                     1, NULL, 1);
    free(a);
    return (int)info;
}

/* sqrt of the sum of s[i]^2 for i >= k (the Frobenius error of the best rank-k approximation). */
static double tail_norm(const double *s, int64_t kmin, int64_t k)
{
    double t = 0;
    for (int64_t i = k < 0 ? 0 : k; i < kmin; i++) t += s[i] * s[i];
    return sqrt(t);
}

/* w (m x n) stored in dt and read back, minus w, into d. */
static dlor_status dtype_residual(const double *w, int64_t m, int64_t n, dlor_dtype dt, double *d, uint64_t *nbytes,
                                  dlor_error *err)
{
    uint64_t dims[2] = {(uint64_t)m, (uint64_t)n}, nb = 0;
    if (dlor_shape_nbytes(dims, 2, dt, &nb) != 0) return dlor_fail(err, DLOR_E_LIMIT, "layer too large");
    unsigned char *buf = malloc(nb ? (size_t)nb : 1);
    if (!buf) return dlor_fail(err, DLOR_E_NOMEM, "out of memory");
    dlor_status st = dlor_encode_matrix(w, dims[0], dims[1], dt, buf, "alternative", err);
    if (st == DLOR_OK) {
        dlor_tensor t;
        memset(&t, 0, sizeof t);
        t.name = (char *)"alternative";
        t.dtype = dt;
        t.ndim = 2;
        t.dims[0] = dims[0];
        t.dims[1] = dims[1];
        t.nelem = dims[0] * dims[1];
        t.nbytes = (size_t)nb;
        t.data = buf;
        st = dlor_tensor_to_f64(&t, d, err);
    }
    free(buf);
    for (int64_t i = 0; st == DLOR_OK && i < m * n; i++) d[i] = w[i] - d[i];
    *nbytes = nb;
    return st;
}

static void add_alt(dlor_layer_report *r, const char *form, dlor_dtype dt, uint64_t bytes, double e)
{
    if (r->nalts < DLOR_MAX_ALTERNATIVES) r->alts[r->nalts++] = (dlor_alternative){form, dt, bytes, e};
}

/* The alternatives of a compressed layer at its bytes (dlor_layer_report.alts), from w's singular
 * values sw and those of the residuals of its q4 and q8 forms. */
static dlor_status alternatives(const double *w, int64_t m, int64_t n, const double *sw, dlor_layer_report *r,
                                dlor_error *err)
{
    int64_t kmin = m < n ? m : n;
    uint64_t budget = r->bytes_dlor, mu = (uint64_t)m, nu = (uint64_t)n;
    double nw = tail_norm(sw, kmin, 0);
    nw = nw > 0 ? nw : 1;
    r->nalts = 0;
    /* truncated SVD: f16 factors (2 bytes a number), q8 factors (blocks of 32 with a scale) */
    int64_t k = (int64_t)(budget / (2 * (mu + nu)));
    if (k > kmin) k = kmin;
    if (k >= 1) add_alt(r, "svd", DLOR_DT_F16, 2 * (uint64_t)k * (mu + nu), tail_norm(sw, kmin, k) / nw);
    k = kmin;
    while (k >= 1 && dlor_image_qbytes(DLOR_IMAGE_DT_Q8, (uint64_t)k, mu) +
                             dlor_image_qbytes(DLOR_IMAGE_DT_Q8, (uint64_t)k, nu) > budget)
        k--;
    if (k >= 1)
        add_alt(r, "svd", DLOR_DT_Q8,
                dlor_image_qbytes(DLOR_IMAGE_DT_Q8, (uint64_t)k, mu) + dlor_image_qbytes(DLOR_IMAGE_DT_Q8, (uint64_t)k, nu),
                tail_norm(sw, kmin, k) / nw);
    static const dlor_dtype dense[5] = {DLOR_DT_F32, DLOR_DT_F16, DLOR_DT_BF16, DLOR_DT_Q8, DLOR_DT_Q4};
    double *d = malloc((size_t)(m * n) * sizeof *d), *s = malloc((size_t)kmin * sizeof *s);
    dlor_status st = d && s ? DLOR_OK : dlor_fail(err, DLOR_E_NOMEM, "out of memory for the alternatives");
    for (int i = 0; i < 5 && st == DLOR_OK; i++) {
        uint64_t nb = 0, dims[2] = {mu, nu};
        if (dlor_shape_nbytes(dims, 2, dense[i], &nb) != 0 || nb > budget) continue;
        if ((st = dtype_residual(w, m, n, dense[i], d, &nb, err)) != DLOR_OK) break;
        add_alt(r, "dense", dense[i], nb, tail_norm(d, m * n, 0) / nw); /* a vector's norm: its "tail" from 0 */
        if (!dlor_dtype_is_quant(dense[i])) continue;
        /* the same base with an f16 correction of the rank the rest of the bytes holds */
        k = (int64_t)((budget - nb) / (2 * (mu + nu)));
        if (k > kmin) k = kmin;
        if (k < 1) continue;
        int info = singular_values(d, m, n, s);
        if (info == -1) {
            st = dlor_fail(err, DLOR_E_NOMEM, "out of memory for singular values");
            break;
        }
        if (info != 0) {
            st = dlor_fail(err, DLOR_E_NUMERIC, "singular values failed (dgesdd info %d)", info);
            break;
        }
        add_alt(r, "qlr", dense[i], nb + 2 * (uint64_t)k * (mu + nu), tail_norm(s, kmin, k) / nw);
    }
    free(d);
    free(s);
    return st;
}

static const char *family(const char *form, dlor_dtype dt)
{
    if (strcmp(form, "qlr") == 0) return "quantization";
    if (strcmp(form, "dense") == 0) return dt == DLOR_DT_F32 || dt == DLOR_DT_F64 ? "dense" : "quantization";
    return "dlor";
}

const char *dlor_alternatives_winner(const dlor_layer_report *r)
{
    if (!r || r->nalts == 0 || !r->form) return NULL;
    const char *best = family(r->form, r->factor_dtype);
    double e = r->rel_fro_error;
    for (int i = 0; i < r->nalts; i++)
        if (r->alts[i].rel_fro_error < e) {
            e = r->alts[i].rel_fro_error;
            best = family(r->alts[i].form, r->alts[i].dtype);
        }
    return best;
}

dlor_status dlor_svd_error_at_params(const double *w, int64_t m, int64_t n, uint64_t params, double *rel,
                                     dlor_error *err)
{
    int64_t kmin = m < n ? m : n, k = (int64_t)(params / (uint64_t)(m + n));
    if (k >= kmin) {
        *rel = 0.0;
        return DLOR_OK;
    }
    double *a = malloc((size_t)(m * n) * sizeof *a), *s = malloc((size_t)kmin * sizeof *s);
    if (!a || !s) {
        free(a);
        free(s);
        return dlor_fail(err, DLOR_E_NOMEM, "out of memory for singular values");
    }
    memcpy(a, w, (size_t)(m * n) * sizeof *a);
    /* row-major W is column-major W^T, which has the same singular values */
    lapack_int info = LAPACKE_dgesdd(LAPACK_COL_MAJOR, 'N', (lapack_int)n, (lapack_int)m, a, (lapack_int)n, s, NULL,
                                     1, NULL, 1);
    double tail = 0, all = 0;
    for (int64_t i = 0; info == 0 && i < kmin; i++) {
        all += s[i] * s[i];
        if (i >= k) tail += s[i] * s[i];
    }
    free(a);
    free(s);
    if (info != 0) return dlor_fail(err, DLOR_E_NUMERIC, "singular values failed (dgesdd info %d)", (int)info);
    *rel = all > 0 ? sqrt(tail / all) : 0.0;
    return DLOR_OK;
}

dlor_status dlor_layer_load(const dlor_container *c, const dlor_layer_desc *d, dlor_factored *f,
                            dlor_error *err)
{
    const dlor_tensor *u = dlor_tensor_list_find(&c->tensors, d->u_name);
    const dlor_tensor *v = dlor_tensor_list_find(&c->tensors, d->v_name);
    dlor_factored g;
    if (!u || !v)
        return dlor_fail(err, DLOR_E_FORMAT, "layer '%s': factor tensors are missing", d->name);
    memset(&g, 0, sizeof g);
    g.method = d->method == DLOR_IMAGE_MUL ? DLOR_METHOD_MUL : DLOR_METHOD_ADD;
    g.basis = d->basis == DLOR_IMAGE_SCHUR ? DLOR_BASIS_SCHUR
            : d->basis == DLOR_IMAGE_RANDOM ? DLOR_BASIS_RANDOM : DLOR_BASIS_SVD;
    g.m = (int64_t)d->rows;
    g.n = (int64_t)d->cols;
    g.k = (int64_t)u->dims[0];
    g.dim_u = (int64_t)u->dims[1];
    g.dim_v = (int64_t)v->dims[1];
    g.rank = (int64_t)d->rank;
    g.factors = (int64_t)d->factors;
    g.alpha = d->alpha;
    g.ut = malloc((u->nelem ? u->nelem : 1) * sizeof(double));
    g.vt = malloc((v->nelem ? v->nelem : 1) * sizeof(double));
    if (!g.ut || !g.vt) {
        dlor_factored_free(&g);
        return dlor_fail(err, DLOR_E_NOMEM, "layer '%s': out of memory", d->name);
    }
    dlor_status st = dlor_tensor_to_f64(u, g.ut, err);
    if (st == DLOR_OK) st = dlor_tensor_to_f64(v, g.vt, err);
    if (st == DLOR_OK && d->base_name) {
        const dlor_tensor *b = dlor_tensor_list_find(&c->tensors, d->base_name);
        if (!b || b->ndim != 2 || b->dims[0] != d->rows || b->dims[1] != d->cols)
            st = dlor_fail(err, DLOR_E_FORMAT, "layer '%s': base tensor '%s' is missing or of the wrong shape", d->name,
                           d->base_name);
        else if (!(g.base = malloc((b->nelem ? b->nelem : 1) * sizeof(double))))
            st = dlor_fail(err, DLOR_E_NOMEM, "layer '%s': out of memory", d->name);
        else
            st = dlor_tensor_to_f64(b, g.base, err);
    }
    if (st != DLOR_OK) {
        dlor_factored_free(&g);
        return st;
    }
    *f = g;
    return DLOR_OK;
}

const char *dlor_layer_form(const dlor_container *c, const dlor_layer_desc *d)
{
    const dlor_tensor *u = dlor_tensor_list_find(&c->tensors, d->u_name);
    uint64_t kmax = d->method == DLOR_IMAGE_MUL ? (d->rows > d->cols ? d->rows : d->cols)
                                               : (d->rows < d->cols ? d->rows : d->cols);
    if (!u) return "?";
    if (d->base_name) return "qlr";
    if (u->dims[0] == kmax) return d->method == DLOR_IMAGE_MUL ? "mul" : "add";
    if (d->method == DLOR_IMAGE_MUL) return "mul-compressed";
    return d->alpha == 0.0 && d->factors == 1 ? "svd" : "lowrank";
}

dlor_status dlor_verify_layer(const dlor_tensor *w, const dlor_container *c,
                              const dlor_layer_desc *d, double tol, dlor_layer_report *r,
                              dlor_error *err)
{
    dlor_factored f;
    dlor_status st;
    if (w->ndim != 2 || w->dims[0] != d->rows || w->dims[1] != d->cols)
        return dlor_fail(err, DLOR_E_FORMAT,
                         "layer '%s': dense tensor has a different shape than the stored layer [%llu, %llu]",
                         d->name, (unsigned long long)d->rows, (unsigned long long)d->cols);
    if (!dlor_dtype_is_float(w->dtype))
        return dlor_fail(err, DLOR_E_FORMAT, "layer '%s': dense tensor is not a float tensor", d->name);
    if ((st = dlor_layer_load(c, d, &f, err)) != DLOR_OK) return st;
    uint64_t n = w->nelem;
    double *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
    if (!a || !b) {
        free(a);
        free(b);
        dlor_factored_free(&f);
        return dlor_fail(err, DLOR_E_NOMEM, "layer '%s': out of memory", d->name);
    }
    st = dlor_tensor_to_f64(w, a, err);
    if (st == DLOR_OK) st = dlor_reconstruct(&f, b, err);
    if (st == DLOR_OK) {
        const dlor_tensor *u = dlor_tensor_list_find(&c->tensors, d->u_name);
        const dlor_tensor *v = dlor_tensor_list_find(&c->tensors, d->v_name);
        memset(r, 0, sizeof *r);
        r->name = d->name;
        r->data_rel_error = NAN;
        r->rows = d->rows;
        r->cols = d->cols;
        r->method = d->method;
        r->basis = d->basis;
        r->rank = d->rank;
        r->factors = d->factors;
        r->alpha = d->alpha;
        r->dense_dtype = w->dtype;
        r->factor_dtype = u->dtype;
        dlor_compare(a, b, n, &r->rel_fro_error, &r->max_abs_error);
        r->params_dense = n;
        r->params_dlor = u->nelem + v->nelem + 1;
        r->bytes_dense = w->nbytes;
        r->bytes_dlor = u->nbytes + v->nbytes + 8;
        const dlor_tensor *bt = d->base_name ? dlor_tensor_list_find(&c->tensors, d->base_name) : NULL;
        if (bt) {
            r->params_dlor += bt->nelem;
            r->bytes_dlor += bt->nbytes;
        }
        r->tol = tol < 0 ? dlor_default_tol(u->dtype) : tol;
        r->pass = r->rel_fro_error <= r->tol;
        r->form = dlor_layer_form(c, d);
        if (strcmp(r->form, "mul") != 0 && strcmp(r->form, "add") != 0) {
            /* compressed: the SVD at the stored numbers, and the other forms at the stored bytes */
            int64_t m = (int64_t)d->rows, n = (int64_t)d->cols, kmin = m < n ? m : n;
            int64_t k = (int64_t)(r->params_dlor / (uint64_t)(m + n));
            double *sw = malloc((size_t)kmin * sizeof *sw);
            int info = sw ? singular_values(a, m, n, sw) : -1;
            if (!sw || info == -1) st = dlor_fail(err, DLOR_E_NOMEM, "out of memory for singular values");
            else if (info != 0) st = dlor_fail(err, DLOR_E_NUMERIC, "singular values failed (dgesdd info %d)", info);
            if (st == DLOR_OK) {
                double nw = tail_norm(sw, kmin, 0);
                r->svd_rel_fro_error = k >= kmin ? 0.0 : nw > 0 ? tail_norm(sw, kmin, k) / nw : 0.0;
                st = alternatives(a, m, n, sw, r, err);
            }
            free(sw);
        } else {
            st = dlor_svd_error_at_params(a, (int64_t)d->rows, (int64_t)d->cols, r->params_dlor, &r->svd_rel_fro_error,
                                          err);
        }
    }
    free(a);
    free(b);
    dlor_factored_free(&f);
    return st;
}

dlor_status dlor_data_rel_error(const char *name, const double *w, const double *w_hat, uint64_t m, uint64_t k,
                                const double *x, uint64_t n, double *rel, dlor_error *err)
{
    if (n == 0) {
        *rel = 0;
        return DLOR_OK;
    }
    if (m > INT32_MAX || k > INT32_MAX || n > INT32_MAX)
        return dlor_fail(err, DLOR_E_ARG, "layer '%s': too large for the data-space error", name);
    double *d = malloc(m * k * sizeof *d), *ya = malloc(n * m * sizeof *ya), *yb = malloc(n * m * sizeof *yb);
    if (!d || !ya || !yb) {
        free(d);
        free(ya);
        free(yb);
        return dlor_fail(err, DLOR_E_NOMEM, "layer '%s': out of memory", name);
    }
    for (uint64_t i = 0; i < m * k; i++) d[i] = w[i] - w_hat[i];
    /* ya = X W^T, yb = X (W - W_hat)^T */
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)m, (int)k, 1.0, x, (int)k, w, (int)k, 0.0, ya,
                (int)m);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)m, (int)k, 1.0, x, (int)k, d, (int)k, 0.0, yb,
                (int)m);
    double num = 0, den = 0;
    for (uint64_t i = 0; i < n * m; i++) {
        num += yb[i] * yb[i];
        den += ya[i] * ya[i];
    }
    *rel = den > 0 ? sqrt(num / den) : sqrt(num);
    free(d);
    free(ya);
    free(yb);
    return DLOR_OK;
}
