/* store.c - what a conversion adds to its container: the factors of a layer
 * and its record, the parts converted apart, the graph's provenance and scratch need, and the names of
 * the container's method and basis codes. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convert.h"
#include "dlor_host.h"

static dlor_status add_meta(dlor_container *c, const char *key, const char *value, dlor_error *err)
{
    return dlor_tensor_list_add_meta(&c->tensors, key, value, err);
}

/* Adds a tensor of k x dim doubles encoded in the storage dtype. */
static dlor_status add_factor_tensor(dlor_container *c, const char *name, const double *x, int64_t k,
                                     int64_t dim, dlor_dtype dt, dlor_error *err)
{
    uint64_t dims[2] = {(uint64_t)k, (uint64_t)dim};
    uint64_t nb = 0;
    if (dlor_shape_nbytes(dims, 2, dt, &nb) != 0) return dlor_fail(err, DLOR_E_LIMIT, "tensor '%s' is too large", name);
    size_t nbytes = (size_t)nb;
    unsigned char *buf = malloc(nbytes ? nbytes : 1);
    if (!buf) return dlor_fail(err, DLOR_E_NOMEM, "out of memory for tensor '%s'", name);
    dlor_status st = dlor_encode_matrix(x, dims[0], dims[1], dt, buf, name, err);
    if (st != DLOR_OK) {
        free(buf);
        return st;
    }
    st = dlor_tensor_list_own(&c->tensors, buf, err);
    if (st != DLOR_OK) return st;
    return dlor_tensor_list_add(&c->tensors, "output", name, strlen(name), dt, 2, dims, buf, nbytes, err);
}

static dlor_status store_layer(dlor_container *c, const dlor_tensor *t, const dlor_factored *f, dlor_dtype storage,
                               uint64_t seed, const char *base_name, dlor_error *err);

dlor_status dlor_store_with_base(dlor_container *c, const dlor_tensor *t, const dlor_factored *f, dlor_dtype storage,
                                 unsigned char *base, uint64_t base_nbytes, dlor_dtype base_dtype, dlor_error *err)
{
    char bname[300];
    dlor_status st = dlor_tensor_list_own(&c->tensors, base, err);
    if (st != DLOR_OK) return st;
    if (strlen(t->name) + 7 > DLOR_MAX_NAME)
        return dlor_fail(err, DLOR_E_LIMIT, "tensor '%s': name too long to add the '.dlor.B' suffix", t->name);
    snprintf(bname, sizeof bname, "%s.dlor.B", t->name);
    uint64_t dims[2] = {(uint64_t)f->m, (uint64_t)f->n};
    st = dlor_tensor_list_add(&c->tensors, "output", bname, strlen(bname), base_dtype, 2, dims, base, base_nbytes, err);
    if (st != DLOR_OK) return st;
    return store_layer(c, t, f, storage, 0, bname, err);
}

dlor_status dlor_store_factored(dlor_container *c, const dlor_tensor *t, const dlor_factored *f, dlor_dtype storage,
                                uint64_t seed, dlor_error *err)
{
    return store_layer(c, t, f, storage, seed, NULL, err);
}

static dlor_status store_layer(dlor_container *c, const dlor_tensor *t, const dlor_factored *f, dlor_dtype storage,
                               uint64_t seed, const char *base_name, dlor_error *err)
{
    char uname[300], vname[300];
    if (strlen(t->name) + 7 > DLOR_MAX_NAME)
        return dlor_fail(err, DLOR_E_LIMIT, "tensor '%s': name too long to add the '.dlor.U' suffix", t->name);
    snprintf(uname, sizeof uname, "%s.dlor.U", t->name);
    snprintf(vname, sizeof vname, "%s.dlor.V", t->name);
    dlor_status st = add_factor_tensor(c, uname, f->ut, f->k, f->dim_u, storage, err);
    if (st == DLOR_OK) st = add_factor_tensor(c, vname, f->vt, f->k, f->dim_v, storage, err);
    if (st != DLOR_OK) return st;
    dlor_layer_desc d;
    memset(&d, 0, sizeof d);
    d.name = t->name;
    d.method = f->method == DLOR_METHOD_MUL ? DLOR_IMAGE_MUL : DLOR_IMAGE_ADD;
    d.basis = f->basis == DLOR_BASIS_RANDOM ? DLOR_IMAGE_RANDOM
            : f->method == DLOR_METHOD_MUL ? DLOR_IMAGE_SCHUR : DLOR_IMAGE_SVD;
    d.rows = (uint64_t)f->m;
    d.cols = (uint64_t)f->n;
    d.rank = (uint64_t)f->rank;
    d.factors = (uint64_t)f->factors;
    d.alpha = f->alpha;
    d.u_name = uname;
    d.v_name = vname;
    d.source_dtype = t->dtype;
    d.seed = d.basis == DLOR_IMAGE_RANDOM ? seed : 0;
    d.base_name = (char *)base_name;
    return dlor_container_add_layer(c, &d, err);
}

/* Records where the graph came from and the runtime's scratch need for a
 * batch of one (measured by opening the serialized model), or why there is
 * no graph. */
dlor_status dlor_store_part(dlor_container *c, const dlor_container *part, dlor_error *err)
{
    dlor_status st = DLOR_OK;
    for (size_t q = 0; q < part->tensors.count && st == DLOR_OK; q++) {
        const dlor_tensor *x = &part->tensors.items[q];
        st = dlor_tensor_list_add(&c->tensors, "output", x->name, strlen(x->name), x->dtype, x->ndim, x->dims,
                                  x->data, x->nbytes, err);
    }
    for (size_t q = 0; q < part->nlayers && st == DLOR_OK; q++) st = dlor_container_add_layer(c, &part->layers[q], err);
    return st;
}

dlor_status dlor_convert_graph_metadata(dlor_container *c, const char *source, const char *why, dlor_error *err)
{
    if (!c->graph.count)
        return add_meta(c, "dlor.graph_missing", why[0] ? why : "the source has no graph", err);
    unsigned char *img;
    size_t len;
    dlor_model m;
    dlor_image_error ie;
    char num[32];
    dlor_status st = add_meta(c, "dlor.graph_source", source ? source : "unknown", err);
    if (st == DLOR_OK) st = dlor_container_to_memory(c, &img, &len, err);
    if (st != DLOR_OK) return st;
    void *plan;
    if (dlor_model_open_alloc(&m, img, len, 0, &plan, &ie) != 0) {
        free(img);
        return dlor_fail(err, DLOR_E_FORMAT, "the recorded graph does not open: %s", ie.msg);
    }
    snprintf(num, sizeof num, "%zu", dlor_model_scratch_size(&m, 1));
    free(plan);
    free(img);
    return add_meta(c, "dlor.scratch_bytes_batch1", num, err);
}

const char *dlor_method_name(int method)
{
    return method == DLOR_IMAGE_MUL ? "mul" : method == DLOR_IMAGE_ADD ? "add" : "?";
}

const char *dlor_basis_name(int basis)
{
    switch (basis) {
    case DLOR_IMAGE_SCHUR: return "schur";
    case DLOR_IMAGE_RANDOM: return "random";
    case DLOR_IMAGE_SVD: return "svd";
    }
    return "?";
}
