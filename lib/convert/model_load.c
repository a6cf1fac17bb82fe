/* model_load.c - runnable models and their inputs for the commands. */
#define _POSIX_C_SOURCE 200809L
#include "model_load.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dlor_fileio.h"
#include "dlor_host.h"
#include "dlor_readers.h"

dlor_status dlor_resolve_graph(const char *path, const dlor_tensor_list *t, dlor_graph *g,
                               const char *activation, const char **source, char *why, size_t why_len,
                               dlor_error *err)
{
    *source = NULL;
    if (g->count) {
        *source = strcmp(dlor_weights_format(path), "onnx") == 0 ? "onnx" : "config.json";
        return DLOR_OK;
    }
    for (size_t i = 0; i < t->meta_count; i++) {
        if (strcmp(t->meta_keys[i], "dlor.graph") != 0) continue;
        dlor_status st = dlor_graph_parse(t->meta_vals[i], g, err);
        if (st != DLOR_OK) {
            dlor_error_prefix(err, path);
            return st;
        }
        *source = "metadata";
        return DLOR_OK;
    }
    if (!activation) return DLOR_OK; /* 'why' already says what the reader knew */
    int act = dlor_act_from_name(activation);
    if (act < 0) return dlor_fail(err, DLOR_E_USAGE, DLOR_ACTIVATION_OPT_MSG, activation);
    dlor_status st = dlor_graph_from_names(t, (dlor_act)act, act == DLOR_ACT_LEAKY_RELU ? 0.01 : 0.0, g, why,
                                           why_len, err);
    if (st == DLOR_OK && g->count) *source = "names";
    return st;
}

dlor_status dlor_load_runnable(const char *path, const char *activation, dlor_loaded *out, dlor_error *err)
{
    dlor_loaded l;
    dlor_image_error ie;
    dlor_status st;
    memset(&l, 0, sizeof l);
    const unsigned char *img;
    if (strcmp(dlor_weights_format(path), "dlor") == 0) {
        /* mapped, not copied; a deflated file is inflated from the mapping */
        if ((st = dlor_file_map(path, DLOR_MAX_INPUT_BYTES, &l.map, err)) != DLOR_OK) return st;
        if (l.map.len >= DLOR_IMAGE_PREAMBLE && (dlor_load_u32(l.map.data + 48) & DLOR_IMAGE_FLAG_DEFLATE)) {
            st = dlor_image_inflate(l.map.data, l.map.len, path, &l.image, &l.len, err);
            dlor_file_unmap(&l.map);
            if (st != DLOR_OK) return st;
        }
        l.is_dlor = 1;
    } else {
        dlor_container c;
        char why[512] = "";
        const char *source;
        dlor_container_init(&c);
        st = dlor_read_model(path, &c.tensors, &c.graph, why, sizeof why, err);
        if (st == DLOR_OK)
            st = dlor_resolve_graph(path, &c.tensors, &c.graph, activation, &source, why, sizeof why, err);
        if (st == DLOR_OK && c.graph.count == 0)
            st = dlor_fail(err, DLOR_E_UNSUPPORTED, "%s: cannot run this model: %s", path,
                           why[0] ? why : "no graph");
        if (st == DLOR_OK) st = dlor_graph_check(&c.graph, &c.tensors, path, NULL, NULL, err);
        if (st == DLOR_OK) st = dlor_container_to_memory(&c, &l.image, &l.len, err);
        dlor_container_free(&c);
        if (st != DLOR_OK) return st;
    }
    img = l.map.data ? l.map.data : l.image;
    if (dlor_model_open_alloc(&l.model, img, l.map.data ? l.map.len : l.len, DLOR_IMAGE_CHECK_CRC, &l.plan, &ie) != 0) {
        free(l.image);
        dlor_file_unmap(&l.map);
        return dlor_fail(err, ie.code == DLOR_RT_E_NOGRAPH ? DLOR_E_UNSUPPORTED : (dlor_status)ie.code,
                         "%s: %s", path, ie.msg);
    }
    *out = l;
    return DLOR_OK;
}

void dlor_loaded_free(dlor_loaded *l)
{
    if (!l) return;
    free(l->plan);
    free(l->image);
    dlor_file_unmap(&l->map);
    memset(l, 0, sizeof *l);
}

dlor_status dlor_load_inputs_f64(const char *path, uint64_t features, double **x, uint64_t *n, dlor_error *err)
{
    dlor_tensor_list t;
    dlor_tensor_list_init(&t);
    dlor_status st = dlor_read_npy(path, &t, err);
    if (st != DLOR_OK) return st;
    const dlor_tensor *a = &t.items[0];
    char shape[96];
    uint64_t rows = 0, per_row = 0; /* per_row: the product of the dimensions after the first */
    int fits = a->ndim >= 2 && dlor_shape_nelem(a->dims + 1, a->ndim - 1, &per_row) == 0 && per_row == features;
    if (!dlor_dtype_is_float(a->dtype))
        st = dlor_fail(err, DLOR_E_FORMAT, "%s: inputs must be float (f32, f64, f16), not %s", path,
                       dlor_dtype_name(a->dtype));
    else if (a->ndim == 1 && a->dims[0] == features)
        rows = 1;
    /* [N, d1, ..., dk] with d1 ... dk = features: samples in a model's declared input
     * shape (an ONNX model that starts with Flatten), flattened in C order as Flatten does */
    else if (fits)
        rows = a->dims[0];
    else if (a->ndim >= 2 && a->dims[0] != 1 && a->nelem == features)
        st = dlor_fail(err, DLOR_E_FORMAT, "%s: inputs of shape %s do not fit the model, which takes [N, %llu] or "
                       "[N, d1, ..., dk] with d1 x ... x dk = %llu (N samples first): for one sample, give [1, %s",
                       path,
                       dlor_shape_str(a->dims, a->ndim, shape, sizeof shape), (unsigned long long)features,
                       (unsigned long long)features, shape + 1);
    else
        st = dlor_fail(err, DLOR_E_FORMAT, "%s: inputs of shape %s do not fit the model, which takes [N, %llu] or "
                       "[N, d1, ..., dk] with d1 x ... x dk = %llu (N samples first)", path,
                       dlor_shape_str(a->dims, a->ndim, shape, sizeof shape), (unsigned long long)features,
                       (unsigned long long)features);
    if (st == DLOR_OK) {
        double *d = malloc((a->nelem ? a->nelem : 1) * sizeof *d);
        if (!d) st = dlor_fail(err, DLOR_E_NOMEM, "%s: out of memory", path);
        if (st == DLOR_OK) st = dlor_tensor_to_f64(a, d, err);
        if (st == DLOR_OK) {
            *x = d;
            *n = rows;
        } else {
            free(d);
        }
    }
    dlor_tensor_list_free(&t);
    return st;
}

dlor_status dlor_load_inputs(const char *path, uint64_t features, float **x, uint64_t *n, dlor_error *err)
{
    double *d;
    dlor_status st = dlor_load_inputs_f64(path, features, &d, n, err);
    if (st != DLOR_OK) return st;
    uint64_t count = *n * features;
    float *f = malloc((count ? count : 1) * sizeof *f);
    if (!f) st = dlor_fail(err, DLOR_E_NOMEM, "%s: out of memory", path);
    for (uint64_t i = 0; f && i < count; i++) f[i] = (float)d[i];
    free(d);
    *x = f;
    return st;
}

size_t dlor_count_nonfinite(const float *xf, const double *xd, uint64_t n, uint64_t features, dlor_nonfinite *out)
{
    uint64_t values = 0, samples = 0, first = 0;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t here = 0;
        for (uint64_t j = 0; j < features; j++) {
            double v = xf ? (double)xf[i * features + j] : xd[i * features + j];
            if (isfinite(v)) continue;
            if (!values) first = i * features + j;
            values++;
            here++;
        }
        samples += here != 0;
    }
    out->values = values;
    out->samples = samples;
    out->first_sample = values ? first / features : 0;
    out->first_feature = values ? first % features : 0;
    return (size_t)values;
}

void dlor_tokens_free(dlor_tokens *tok)
{
    if (!tok) return;
    free(tok->ids);
    free(tok->mask);
    free(tok->type_ids);
    memset(tok, 0, sizeof *tok);
}

/* The array of an input mode: by the model's name for it, else Hugging Face's. */
static const dlor_tensor *token_array(const dlor_tensor_list *t, const dlor_model *m, int mode, const char *hf,
                                      char *name, size_t name_len)
{
    const char *n = NULL;
    uint32_t nl = 0;
    if (dlor_model_input_at(m, mode, &n, &nl) >= 0) {
        snprintf(name, name_len, "%.*s", (int)nl, n);
        const dlor_tensor *a = dlor_tensor_list_find(t, name);
        if (a) return a;
    }
    snprintf(name, name_len, "%s", hf);
    return dlor_tensor_list_find(t, hf);
}

/* One [N, S] integer array as int64, checked: ids below 'rows' (0: any id >= 0),
 * the mask 0 or 1. */
static dlor_status token_field(const char *path, const char *name, const dlor_tensor *a, int mask, uint64_t rows,
                               const uint64_t *shape, int64_t **out, dlor_error *err)
{
    char got[96], want[96];
    if (a->dtype != DLOR_DT_I32 && a->dtype != DLOR_DT_I64)
        return dlor_fail(err, DLOR_E_FORMAT, "%s: %s must be int32 or int64 token %s [N, S], not %s", path, name,
                         mask ? "mask values" : "ids", dlor_dtype_name(a->dtype));
    if (a->ndim != 2 || (shape && (a->dims[0] != shape[0] || a->dims[1] != shape[1])))
        return dlor_fail(err, DLOR_E_FORMAT, "%s: %s has shape %s, not %s", path, name,
                         dlor_shape_str(a->dims, a->ndim, got, sizeof got),
                         shape ? dlor_shape_str(shape, 2, want, sizeof want) : "[N, S]");
    uint64_t n = a->nelem;
    int64_t *v = malloc((n ? n : 1) * sizeof *v);
    if (!v) return dlor_fail(err, DLOR_E_NOMEM, "%s: out of memory for %s", path, name);
    for (uint64_t i = 0; i < n; i++) {
        if (a->dtype == DLOR_DT_I32) {
            int32_t x;
            memcpy(&x, a->data + 4 * i, 4);
            v[i] = x;
        } else {
            memcpy(&v[i], a->data + 8 * i, 8);
        }
        int bad = mask ? (v[i] != 0 && v[i] != 1) : (v[i] < 0 || (rows && (uint64_t)v[i] >= rows));
        if (bad) {
            uint64_t s = a->dims[1];
            dlor_status st = mask ? dlor_fail(err, DLOR_E_FORMAT, "%s: %s[%llu, %llu] = %lld is not 0 or 1", path, name,
                                              (unsigned long long)(i / s), (unsigned long long)(i % s), (long long)v[i])
                                  : dlor_fail(err, DLOR_E_FORMAT,
                                              "%s: %s[%llu, %llu] = %lld is outside the model's table of %llu rows",
                                              path, name, (unsigned long long)(i / s), (unsigned long long)(i % s),
                                              (long long)v[i], (unsigned long long)rows);
            free(v);
            return st;
        }
    }
    *out = v;
    return DLOR_OK;
}

dlor_status dlor_load_tokens(const char *path, const dlor_model *m, dlor_tokens *tok, dlor_error *err)
{
    dlor_tensor_list t;
    dlor_tokens r;
    char name[3][300];
    memset(&r, 0, sizeof r);
    dlor_tensor_list_init(&t);
    int npz = strcmp(dlor_weights_format(path), "npz") == 0;
    dlor_status st = npz ? dlor_read_npz(path, &t, err) : dlor_read_npy(path, &t, err);
    if (st != DLOR_OK) return st;
    const dlor_tensor *a[3];
    if (npz) {
        a[0] = token_array(&t, m, 2, "input_ids", name[0], sizeof name[0]);
        a[1] = token_array(&t, m, 3, "attention_mask", name[1], sizeof name[1]);
        a[2] = token_array(&t, m, 4, "token_type_ids", name[2], sizeof name[2]);
        if (!a[0]) st = dlor_fail(err, DLOR_E_FORMAT, "%s: no '%s' array (the model takes token ids)", path, name[0]);
    } else {
        a[0] = &t.items[0];
        a[1] = a[2] = NULL;
        snprintf(name[0], sizeof name[0], "input_ids");
    }
    if (st == DLOR_OK) st = token_field(path, name[0], a[0], 0, m->vocab[2], NULL, &r.ids, err);
    if (st == DLOR_OK) {
        r.n = a[0]->dims[0];
        r.seq = a[0]->dims[1];
        if (r.seq == 0) st = dlor_fail(err, DLOR_E_FORMAT, "%s: %s holds sequences of no token", path, name[0]);
        else if (m->max_seq && r.seq > m->max_seq)
            st = dlor_fail(err, DLOR_E_FORMAT, "%s: %s has %llu tokens per sequence, more than the model's %llu positions",
                           path, name[0], (unsigned long long)r.seq, (unsigned long long)m->max_seq);
    }
    if (st == DLOR_OK && a[1] && dlor_model_input_at(m, 3, NULL, NULL) >= 0)
        st = token_field(path, name[1], a[1], 1, 0, a[0]->dims, &r.mask, err);
    if (st == DLOR_OK && a[2] && dlor_model_input_at(m, 4, NULL, NULL) >= 0)
        st = token_field(path, name[2], a[2], 0, m->vocab[4], a[0]->dims, &r.type_ids, err);
    dlor_tensor_list_free(&t);
    if (st != DLOR_OK) {
        dlor_tokens_free(&r);
        return st;
    }
    *tok = r;
    return DLOR_OK;
}
