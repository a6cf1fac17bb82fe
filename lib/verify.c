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
        st = dlor_svd_error_at_params(a, (int64_t)d->rows, (int64_t)d->cols, r->params_dlor, &r->svd_rel_fro_error,
                                      err);
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
