/* emit.c - convert --emit safetensors: the factors in a file PyTorch users can load.
 *
 * Naming scheme, per converted layer NAME (an m x n weight):
 *   NAME.dlor.U      [dim_u, K]  the U of DLOR_FORMAT.md 7 (not transposed)
 *   NAME.dlor.V      [dim_v, K]
 *   NAME.dlor.beta   scalar      when the layer is one component beta*I + U V^T
 *   NAME.dlor.alpha  scalar      otherwise (shared by every factor)
 * and string metadata NAME.dlor.method (mul|add), NAME.dlor.rank, NAME.dlor.factors,
 * NAME.dlor.shape ("m,n"). Factor l uses columns [l*rank, min((l+1)*rank, K)).
 * mul: W = M_{L-1} ... M_0 on inputs zero-padded to D = max(m, n), M_l = alpha I + U_l V_l^T,
 *      output = first m entries;  add: W = L*alpha*I_{m x n} + U V^T.
 * Every tensor that was not factored is copied unchanged, and so is the source's metadata
 * (src), after the keys above. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convert.h"
#include "dlor_container.h"
#include "dlor_safetensors.h"

static int is_factor(const dlor_container *c, const char *name)
{
    for (size_t i = 0; i < c->nlayers; i++)
        if (strcmp(c->layers[i].u_name, name) == 0 || strcmp(c->layers[i].v_name, name) == 0) return 1;
    return 0;
}

/* Adds t transposed ([K, dim] -> [dim, K]) under 'name'. */
static dlor_status add_transposed(dlor_tensor_list *o, const dlor_tensor *t, const char *name, dlor_error *err)
{
    size_t es = dlor_dtype_size(t->dtype), K = (size_t)t->dims[0], dim = (size_t)t->dims[1];
    if (!es) return dlor_fail(err, DLOR_E_ARG, "--emit writes float factors; '%s' is %s", t->name, dlor_dtype_name(t->dtype));
    unsigned char *b = malloc(t->nbytes ? t->nbytes : 1);
    if (!b) return dlor_fail(err, DLOR_E_NOMEM, "out of memory");
    for (size_t j = 0; j < K; j++)
        for (size_t i = 0; i < dim; i++) memcpy(b + (i * K + j) * es, t->data + (j * dim + i) * es, es);
    dlor_status st = dlor_tensor_list_own(o, b, err);
    uint64_t dims[2] = {dim, K};
    if (st == DLOR_OK) st = dlor_tensor_list_add(o, "emit", name, strlen(name), t->dtype, 2, dims, b, t->nbytes, err);
    return st;
}

static dlor_status add_scalar(dlor_tensor_list *o, const char *name, double v, dlor_dtype dt, dlor_error *err)
{
    unsigned char *b = malloc(8);
    if (!b) return dlor_fail(err, DLOR_E_NOMEM, "out of memory");
    dlor_encode_f64(&v, 1, dt, b);
    dlor_status st = dlor_tensor_list_own(o, b, err);
    if (st == DLOR_OK) st = dlor_tensor_list_add(o, "emit", name, strlen(name), dt, 0, NULL, b, dlor_dtype_size(dt), err);
    return st;
}

static int has_meta(const dlor_tensor_list *l, const char *key)
{
    for (size_t i = 0; i < l->meta_count; i++)
        if (strcmp(l->meta_keys[i], key) == 0) return 1;
    return 0;
}

dlor_status dlor_emit_safetensors(const char *path, const dlor_container *c, const dlor_tensor_list *src,
                                  dlor_error *err)
{
    dlor_tensor_list o;
    dlor_status st = DLOR_OK;
    char name[DLOR_MAX_NAME + 32], val[64];
    dlor_tensor_list_init(&o);
    for (size_t i = 0; i < c->tensors.count && st == DLOR_OK; i++) {
        const dlor_tensor *t = &c->tensors.items[i];
        if (!is_factor(c, t->name))
            st = dlor_tensor_list_add(&o, "emit", t->name, strlen(t->name), t->dtype, t->ndim, t->dims, t->data,
                                      t->nbytes, err);
    }
    for (size_t i = 0; i < c->nlayers && st == DLOR_OK; i++) {
        const dlor_layer_desc *d = &c->layers[i];
        if (d->base_name) {
            st = dlor_fail(err, DLOR_E_UNSUPPORTED, "%s: layer '%s' is a quantized base with a low-rank correction, "
                           "which --emit does not write as factors (use --emit-dense)", path, d->name);
            break;
        }
        const dlor_tensor *u = dlor_tensor_list_find(&c->tensors, d->u_name);
        const dlor_tensor *v = dlor_tensor_list_find(&c->tensors, d->v_name);
        int single = d->method == DLOR_IMAGE_ADD && d->factors == 1;
        snprintf(name, sizeof name, "%s.dlor.U", d->name);
        st = add_transposed(&o, u, name, err);
        snprintf(name, sizeof name, "%s.dlor.V", d->name);
        if (st == DLOR_OK) st = add_transposed(&o, v, name, err);
        snprintf(name, sizeof name, "%s.dlor.%s", d->name, single ? "beta" : "alpha");
        if (st == DLOR_OK) st = add_scalar(&o, name, d->alpha, u->dtype, err);
        const char *keys[4] = {"method", "rank", "factors", "shape"};
        for (int k = 0; k < 4 && st == DLOR_OK; k++) {
            snprintf(name, sizeof name, "%s.dlor.%s", d->name, keys[k]);
            if (k == 0) snprintf(val, sizeof val, "%s", dlor_method_name(d->method));
            else if (k == 1) snprintf(val, sizeof val, "%llu", (unsigned long long)d->rank);
            else if (k == 2) snprintf(val, sizeof val, "%llu", (unsigned long long)d->factors);
            else snprintf(val, sizeof val, "%llu,%llu", (unsigned long long)d->rows, (unsigned long long)d->cols);
            st = dlor_tensor_list_add_meta(&o, name, val, err);
        }
    }
    for (size_t i = 0; src && i < src->meta_count && st == DLOR_OK; i++)
        if (!has_meta(&o, src->meta_keys[i])) st = dlor_tensor_list_add_meta(&o, src->meta_keys[i], src->meta_vals[i], err);
    if (st == DLOR_OK) st = dlor_tensor_list_check_unique(&o, path, err);
    if (st == DLOR_OK) st = dlor_safetensors_write(path, &o, err);
    dlor_tensor_list_free(&o);
    return st;
}
