/* api_file.c - dlor_open and what an opened file tells: tensors, metadata,
 * graph, DLoR layers. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"
#include "dlor_factor.h"
#include "dlor_hf.h"
#include "dlor_readers.h"
#include "dlor_verify.h"
#include "convert.h"

void dlor_close(dlor_file *f)
{
    if (!f) return;
    dlor_container_free(&f->c);
    free(f->path);
    free(f);
}

dlor_status dlor_open(const char *path, const char *activation, dlor_file **out, dlor_error *err)
{
    if (!path || !out) return dlor_fail(err, DLOR_E_ARG, "dlor_open: path and out must not be NULL");
    if (activation && dlor_act_from_name(activation) < 0)
        return dlor_fail(err, DLOR_E_ARG, "dlor_open: %s: '%s' names no activation", path, activation);
    char hf_file[4096]; /* a Hugging Face folder stands for its weight file */
    dlor_error hf_err;
    if (!(path = dlor_hf_weights_path(path, hf_file, sizeof hf_file, &hf_err))) {
        if (err) *err = hf_err;
        return hf_err.code;
    }
    dlor_file *f = calloc(1, sizeof *f);
    if (!f || !(f->path = strdup(path))) {
        free(f);
        return dlor_fail(err, DLOR_E_NOMEM, "%s: out of memory", path);
    }
    dlor_container_init(&f->c);
    dlor_status st = dlor_sniff_format(path, &f->format, err);
    if (st == DLOR_OK && strcmp(f->format, "dlor") == 0) {
        f->is_dlor = 1;
        f->graph_source = "dlor";
        st = dlor_container_read(path, &f->c, err);
        if (st == DLOR_OK && !f->c.graph.count) {
            const char *why = NULL;
            for (size_t i = 0; i < f->c.tensors.meta_count; i++)
                if (strcmp(f->c.tensors.meta_keys[i], "dlor.graph_missing") == 0) why = f->c.tensors.meta_vals[i];
            snprintf(f->why, sizeof f->why, "%s", why ? why : "the file records no graph");
        }
    } else if (st == DLOR_OK) {
        st = dlor_read_model(path, &f->c.tensors, &f->c.graph, f->why, sizeof f->why, err);
        if (st == DLOR_OK)
            st = dlor_resolve_graph(path, &f->c.tensors, &f->c.graph, activation, &f->graph_source, f->why,
                                    sizeof f->why, err);
        if (st == DLOR_OK && f->c.graph.count) st = dlor_graph_check(&f->c.graph, &f->c.tensors, path, NULL, NULL, err);
    }
    if (st != DLOR_OK) {
        dlor_close(f);
        return st;
    }
    *out = f;
    return DLOR_OK;
}

const char *dlor_file_format(const dlor_file *f)
{
    return f ? f->format : "";
}

size_t dlor_file_tensor_count(const dlor_file *f)
{
    return f ? f->c.tensors.count : 0;
}

dlor_status dlor_file_tensor(const dlor_file *f, size_t i, dlor_tensor_info *info, dlor_error *err)
{
    if (!f || !info || i >= f->c.tensors.count)
        return dlor_fail(err, DLOR_E_ARG, "dlor_file_tensor: no tensor %zu (the file has %zu)", i,
                         f ? f->c.tensors.count : 0);
    const dlor_tensor *t = &f->c.tensors.items[i];
    memset(info, 0, sizeof *info);
    info->name = t->name;
    info->dtype = dlor_dtype_name(t->dtype);
    info->ndim = t->ndim;
    for (int d = 0; d < t->ndim && d < 8; d++) info->dims[d] = t->dims[d];
    info->nbytes = t->nbytes;
    return DLOR_OK;
}

dlor_status dlor_file_tensor_f64(const dlor_file *f, size_t i, double *out, size_t n, dlor_error *err)
{
    if (!f || !out || i >= f->c.tensors.count)
        return dlor_fail(err, DLOR_E_ARG, "dlor_file_tensor_f64: no tensor %zu (the file has %zu)", i,
                         f ? f->c.tensors.count : 0);
    const dlor_tensor *t = &f->c.tensors.items[i];
    if (n != t->nelem)
        return dlor_fail(err, DLOR_E_ARG, "%s: tensor '%s' has %llu values, the buffer %zu", f->path, t->name,
                         (unsigned long long)t->nelem, n);
    if (!dlor_dtype_is_float(t->dtype))
        return dlor_fail(err, DLOR_E_UNSUPPORTED, "%s: tensor '%s' is %s, not a float tensor", f->path, t->name,
                         dlor_dtype_name(t->dtype));
    return dlor_tensor_to_f64(t, out, err);
}

size_t dlor_file_meta_count(const dlor_file *f)
{
    return f ? f->c.tensors.meta_count : 0;
}

dlor_status dlor_file_meta(const dlor_file *f, size_t i, const char **key, const char **value, dlor_error *err)
{
    if (!f || i >= f->c.tensors.meta_count)
        return dlor_fail(err, DLOR_E_ARG, "dlor_file_meta: no entry %zu (the file has %zu)", i,
                         f ? f->c.tensors.meta_count : 0);
    if (key) *key = f->c.tensors.meta_keys[i];
    if (value) *value = f->c.tensors.meta_vals[i];
    return DLOR_OK;
}

const char *dlor_file_meta_get(const dlor_file *f, const char *key)
{
    for (size_t i = 0; f && key && i < f->c.tensors.meta_count; i++)
        if (strcmp(f->c.tensors.meta_keys[i], key) == 0) return f->c.tensors.meta_vals[i];
    return NULL;
}

size_t dlor_file_graph_ops(const dlor_file *f)
{
    return f ? f->c.graph.count : 0;
}

const char *dlor_file_graph_source(const dlor_file *f)
{
    if (!f) return "";
    if (f->c.graph.count) return f->graph_source ? f->graph_source : "unknown";
    return f->why[0] ? f->why : "no graph";
}

size_t dlor_file_layer_count(const dlor_file *f)
{
    return f ? f->c.nlayers : 0;
}

dlor_status dlor_file_layer(const dlor_file *f, size_t i, dlor_layer_info *info, dlor_error *err)
{
    if (!f || !info || i >= f->c.nlayers)
        return dlor_fail(err, DLOR_E_ARG, "dlor_file_layer: no layer %zu (the file has %zu)", i, f ? f->c.nlayers : 0);
    const dlor_layer_desc *d = &f->c.layers[i];
    memset(info, 0, sizeof *info);
    info->name = d->name;
    info->rows = d->rows;
    info->cols = d->cols;
    info->method = dlor_method_name(d->method);
    info->form = dlor_layer_form(&f->c, d);
    info->rank = d->rank;
    info->factors = d->factors;
    info->alpha = d->alpha;
    return DLOR_OK;
}
