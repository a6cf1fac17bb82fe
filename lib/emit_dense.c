/* emit_dense.c - convert --emit-dense: the dense weights rebuilt from a container's
 * factors, under the source's names, shapes, dtypes and metadata (a drop-in file). */
#include <stdlib.h>
#include <string.h>

#include "dlor_emit.h"
#include "dlor_factor.h"
#include "dlor_safetensors.h"
#include "dlor_verify.h"

static const dlor_layer_desc *find_layer(const dlor_container *c, const char *name)
{
    for (size_t i = 0; i < c->nlayers; i++)
        if (strcmp(c->layers[i].name, name) == 0) return &c->layers[i];
    return NULL;
}

static int same_shape(const dlor_tensor *a, const dlor_tensor *b)
{
    if (a->ndim != b->ndim) return 0;
    for (int d = 0; d < a->ndim; d++)
        if (a->dims[d] != b->dims[d]) return 0;
    return 1;
}

/* The values of 'name' as doubles: the layer rebuilt, or the stored tensor widened. */
static dlor_status dense_values(const dlor_container *c, const dlor_tensor *want, double *w, dlor_error *err)
{
    const dlor_layer_desc *d = find_layer(c, want->name);
    if (!d) return dlor_tensor_to_f64(dlor_tensor_list_find(&c->tensors, want->name), w, err);
    dlor_factored f;
    dlor_status st = dlor_layer_load(c, d, &f, err);
    if (st == DLOR_OK) st = dlor_reconstruct(&f, w, err);
    dlor_factored_free(&f);
    return st;
}

static dlor_status add_tensor(const char *path, dlor_tensor_list *o, const dlor_tensor *s,
                              const dlor_container *c, dlor_error *err)
{
    const dlor_layer_desc *d = find_layer(c, s->name);
    const dlor_tensor *t = dlor_tensor_list_find(&c->tensors, s->name);
    if (d ? (s->ndim != 2 || d->rows != s->dims[0] || d->cols != s->dims[1]) : (!t || !same_shape(t, s)))
        return dlor_fail(err, DLOR_E_FORMAT, "%s: tensor '%s': %s", path, s->name,
                         d || t ? "its shape in the .dlor differs from the source's" : "not in the .dlor");
    if (!d && t->dtype == s->dtype)
        return dlor_tensor_list_add(o, "emit-dense", s->name, strlen(s->name), s->dtype, s->ndim, s->dims, t->data,
                                    t->nbytes, err);
    if (!dlor_dtype_is_float(s->dtype) || (!d && !dlor_dtype_is_float(t->dtype)))
        return dlor_fail(err, DLOR_E_FORMAT, "%s: tensor '%s': stored as %s, the source has %s", path, s->name,
                         dlor_dtype_name(t ? t->dtype : s->dtype), dlor_dtype_name(s->dtype));
    size_t n = (size_t)s->nelem;
    double *w = malloc((n ? n : 1) * sizeof *w);
    unsigned char *b = malloc(s->nbytes ? s->nbytes : 1);
    dlor_status st = w && b ? DLOR_OK : dlor_fail(err, DLOR_E_NOMEM, "%s: tensor '%s': out of memory", path, s->name);
    if (st == DLOR_OK) st = dense_values(c, s, w, err);
    if (st == DLOR_OK) dlor_encode_f64(w, n, s->dtype, b);
    free(w);
    if (st == DLOR_OK) st = dlor_tensor_list_own(o, b, err);
    else free(b);
    if (st == DLOR_OK)
        st = dlor_tensor_list_add(o, "emit-dense", s->name, strlen(s->name), s->dtype, s->ndim, s->dims, b,
                                  s->nbytes, err);
    return st;
}

dlor_status dlor_emit_dense(const char *path, const dlor_tensor_list *src, const dlor_container *c,
                            dlor_error *err)
{
    dlor_tensor_list o;
    dlor_status st = DLOR_OK;
    dlor_tensor_list_init(&o);
    for (size_t i = 0; i < src->count && st == DLOR_OK; i++) st = add_tensor(path, &o, &src->items[i], c, err);
    for (size_t i = 0; i < src->meta_count && st == DLOR_OK; i++)
        st = dlor_tensor_list_add_meta(&o, src->meta_keys[i], src->meta_vals[i], err);
    if (st == DLOR_OK) st = dlor_safetensors_write(path, &o, err);
    dlor_tensor_list_free(&o);
    return st;
}
