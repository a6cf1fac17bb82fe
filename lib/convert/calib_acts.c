/* calib_acts.c - Gram matrices of the layers' inputs from a .npz of captured
 * activations or Gram matrices (calib_acts.h). */
#include "calib_acts.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "dlor_readers.h"

#define ACTS_ROWS 256          /* activation rows converted to double per dsyrk */
#define GRAM_SYM_TOL 1e-6      /* asymmetry allowed, relative to the largest diagonal entry */
#define GRAM_SUFFIX ".gram"

static const dlor_tensor *converted(const dlor_tensor_list *src, const int *selected, const char *name,
                                    size_t len)
{
    for (size_t i = 0; i < src->count; i++)
        if (selected[i] && strlen(src->items[i].name) == len && memcmp(src->items[i].name, name, len) == 0)
            return &src->items[i];
    return NULL;
}

static dlor_calib_acts_entry *entry_of(dlor_calib_acts *a, const char *name)
{
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->e[i].name, name) == 0) return &a->e[i];
    return NULL;
}

const dlor_calib_acts_entry *dlor_calib_acts_find(const dlor_calib_acts *a, const char *name)
{
    return a ? entry_of((dlor_calib_acts *)a, name) : NULL;
}

void dlor_calib_acts_free(dlor_calib_acts *a)
{
    if (!a) return;
    for (size_t i = 0; i < a->n; i++) {
        free(a->e[i].name);
        free(a->e[i].gram);
    }
    free(a->e);
    a->e = NULL;
    a->n = 0;
}

/* The array of key t as doubles (malloc'd), after the dtype and finiteness checks. */
static dlor_status to_f64_checked(const char *path, const dlor_tensor *t, double **out, dlor_error *err)
{
    if (!dlor_dtype_is_float(t->dtype))
        return dlor_fail(err, DLOR_E_FORMAT, "%s: key '%s': %s data; calibration arrays must be float (f16, bf16, "
                                             "f32 or f64)", path, t->name, dlor_dtype_name(t->dtype));
    double *x = malloc((size_t)(t->nelem ? t->nelem : 1) * sizeof *x);
    if (!x) return dlor_fail(err, DLOR_E_NOMEM, "%s: key '%s': out of memory", path, t->name);
    dlor_status st = dlor_tensor_to_f64(t, x, err);
    for (uint64_t i = 0; st == DLOR_OK && i < t->nelem; i++)
        if (!isfinite(x[i]))
            st = dlor_fail(err, DLOR_E_NUMERIC, "%s: key '%s': value %g at flat index %llu is not finite", path,
                           t->name, x[i], (unsigned long long)i);
    if (st != DLOR_OK) {
        free(x);
        return st;
    }
    *out = x;
    return DLOR_OK;
}

/* Checks an [in, in] Gram matrix and symmetrises it into g (both triangles). */
static dlor_status take_gram(const char *path, const dlor_tensor *t, const double *x, uint64_t in, double *g,
                             dlor_error *err)
{
    double dmax = 0;
    for (uint64_t i = 0; i < in; i++) {
        double d = x[i * in + i];
        if (d < 0)
            return dlor_fail(err, DLOR_E_FORMAT, "%s: key '%s': negative diagonal entry %g at [%llu, %llu]: not a "
                                                 "Gram matrix X^T X", path, t->name, d, (unsigned long long)i,
                             (unsigned long long)i);
        if (d > dmax) dmax = d;
    }
    for (uint64_t i = 0; i < in; i++)
        for (uint64_t j = 0; j < i; j++) {
            double a = x[i * in + j], b = x[j * in + i];
            if (fabs(a - b) > GRAM_SYM_TOL * dmax)
                return dlor_fail(err, DLOR_E_FORMAT, "%s: key '%s': not symmetric: [%llu, %llu] = %.9g but [%llu, "
                                                     "%llu] = %.9g (a Gram matrix X^T X is)", path, t->name,
                                 (unsigned long long)i, (unsigned long long)j, a, (unsigned long long)j,
                                 (unsigned long long)i, b);
        }
    for (uint64_t i = 0; i < in; i++)
        for (uint64_t j = 0; j <= i; j++) g[i * in + j] = g[j * in + i] = 0.5 * (x[i * in + j] + x[j * in + i]);
    return DLOR_OK;
}

/* Adds X^T X of rows x in activations x into g (both triangles). */
static void add_acts(const double *x, uint64_t rows, uint64_t in, double *g)
{
    for (uint64_t r0 = 0; r0 < rows; r0 += ACTS_ROWS) {
        uint64_t k = rows - r0 < ACTS_ROWS ? rows - r0 : ACTS_ROWS;
        cblas_dsyrk(CblasRowMajor, CblasLower, CblasTrans, (int)in, (int)k, 1.0, x + r0 * in, (int)in, 1.0, g,
                    (int)in);
    }
    for (uint64_t i = 0; i < in; i++)
        for (uint64_t j = 0; j < i; j++) g[j * in + i] = g[i * in + j];
}

/* One key of the file into a (a new entry per layer). */
static dlor_status take_key(const char *path, const dlor_tensor *t, const dlor_tensor_list *src, const int *selected,
                            dlor_calib_acts *a, dlor_error *err)
{
    size_t klen = strlen(t->name), slen = strlen(GRAM_SUFFIX);
    int has_suffix = klen > slen && strcmp(t->name + klen - slen, GRAM_SUFFIX) == 0;
    const dlor_tensor *as_gram = has_suffix ? converted(src, selected, t->name, klen - slen) : NULL;
    const dlor_tensor *as_acts = converted(src, selected, t->name, klen);
    if (as_gram && as_acts)
        return dlor_fail(err, DLOR_E_FORMAT, "%s: key '%s': ambiguous: both '%s' and '%.*s' are converted layers",
                         path, t->name, t->name, (int)(klen - slen), t->name);
    if (!as_gram && !as_acts)
        return dlor_fail(err, DLOR_E_FORMAT, "%s: key '%s' matches no converted layer (keys are weight tensor "
                                             "names, with '%s' for a Gram matrix; 'dlor info' lists them)", path,
                         t->name, GRAM_SUFFIX);
    const dlor_tensor *w = as_gram ? as_gram : as_acts;
    uint64_t in = w->dims[1];
    char shape[96];
    dlor_shape_str(t->dims, t->ndim, shape, sizeof shape);
    uint64_t rows = 0;
    if (as_gram && (t->ndim != 2 || t->dims[0] != in || t->dims[1] != in))
        return dlor_fail(err, DLOR_E_FORMAT, "%s: key '%s': a Gram matrix of shape %s; layer '%s' takes %llu "
                                             "inputs, so [%llu, %llu] is expected", path, t->name, shape, w->name,
                         (unsigned long long)in, (unsigned long long)in, (unsigned long long)in);
    if (as_acts) {
        if (t->ndim < 1 || t->dims[t->ndim - 1] != in)
            return dlor_fail(err, DLOR_E_FORMAT, "%s: key '%s': activations of shape %s; layer '%s' takes %llu "
                                                 "inputs, so [..., %llu] is expected", path, t->name, shape,
                             w->name, (unsigned long long)in, (unsigned long long)in);
        rows = t->nelem / in;
        if (rows == 0)
            return dlor_fail(err, DLOR_E_FORMAT, "%s: key '%s': activations of shape %s hold no row", path, t->name,
                             shape);
        if (rows > 0x7fffffffu || in > 0x7fffffffu)
            return dlor_fail(err, DLOR_E_FORMAT, "%s: key '%s': activations of shape %s are too large", path,
                             t->name, shape);
    }
    if (entry_of(a, w->name))
        return dlor_fail(err, DLOR_E_FORMAT, "%s: key '%s': layer '%s' is given twice (as activations and as a Gram "
                                             "matrix); give it one way", path, t->name, w->name);
    double *x = NULL;
    dlor_status st = to_f64_checked(path, t, &x, err);
    if (st != DLOR_OK) return st;
    dlor_calib_acts_entry e = {malloc(strlen(w->name) + 1), in, rows, calloc((size_t)(in * in), sizeof(double))};
    if (!e.name || !e.gram) st = dlor_fail(err, DLOR_E_NOMEM, "%s: key '%s': out of memory", path, t->name);
    if (st == DLOR_OK) {
        strcpy(e.name, w->name);
        if (as_gram) st = take_gram(path, t, x, in, e.gram, err);
        else add_acts(x, rows, in, e.gram);
    }
    free(x);
    if (st == DLOR_OK) {
        dlor_calib_acts_entry *grown = realloc(a->e, (a->n + 1) * sizeof *grown);
        if (!grown) st = dlor_fail(err, DLOR_E_NOMEM, "%s: out of memory", path);
        else {
            a->e = grown;
            a->e[a->n++] = e;
            return DLOR_OK;
        }
    }
    free(e.name);
    free(e.gram);
    return st;
}

dlor_status dlor_calib_acts_load(const char *path, const dlor_tensor_list *src, const int *selected,
                                 dlor_calib_acts *out, dlor_error *err)
{
    dlor_tensor_list t;
    dlor_tensor_list_init(&t);
    dlor_status st = dlor_read_npz(path, &t, err);
    if (st != DLOR_OK) return st;
    dlor_calib_acts a = {NULL, 0};
    if (t.count == 0) st = dlor_fail(err, DLOR_E_FORMAT, "%s: holds no array", path);
    for (size_t i = 0; st == DLOR_OK && i < t.count; i++) st = take_key(path, &t.items[i], src, selected, &a, err);
    dlor_tensor_list_free(&t);
    if (st != DLOR_OK) {
        dlor_calib_acts_free(&a);
        return st;
    }
    *out = a;
    return DLOR_OK;
}
