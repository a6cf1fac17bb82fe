/* network_run.c - dlor convert --form network: every dense layer of a model
 * replaced by DLoR sub-layers with the activation between them (lib/network.h),
 * h chosen by measuring the end-to-end error, into a runnable container. */
#define _POSIX_C_SOURCE 200809L
#include <fnmatch.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dlor_fileio.h"
#include "dlor_host.h"
#include "dlor_readers.h"
#include "dlor_sha256.h"
#include "model_load.h"
#include "network_run.h"

static int matches_any(const char *const *globs, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (fnmatch(globs[i], name, 0) == 0) return 1;
    return 0;
}

static dlor_status meta(dlor_container *c, const char *k, const char *v, dlor_error *err)
{
    return dlor_tensor_list_add_meta(&c->tensors, k, v, err);
}

/* The file's metadata: what was asked for, what was chosen, what was measured. */
static dlor_status write_meta(const net_cfg *cfg, const dlor_net_plan *p, const char *in, const dlor_tensor_list *src,
                              const char *graph_source, double h, const char *inputs, uint64_t nsamples,
                              double err64, double err32, dlor_container *c, dlor_error *err)
{
    const dlor_net_opts *no = &cfg->no;
    char buf[512], hex[65];
    unsigned char *bytes;
    size_t len;
    dlor_status st = dlor_file_read(in, DLOR_MAX_INPUT_BYTES, &bytes, &len, err);
    if (st != DLOR_OK) return st;
    dlor_sha256_hex(bytes, len, hex);
    free(bytes);
    int deep = no->kind == DLOR_NET_DEEP;
    st = meta(c, "dlor.version", DLOR_VERSION_STRING, err);
    if (st == DLOR_OK) st = meta(c, "dlor.method", "network", err);
    if (st == DLOR_OK) st = meta(c, "dlor.form", "network", err);
    if (st == DLOR_OK) st = meta(c, "dlor.construction", deep ? "deep" : "wide", err);
    snprintf(buf, sizeof buf, "%.17g", h);
    if (st == DLOR_OK) st = meta(c, "dlor.h", buf, err);
    if (st == DLOR_OK) st = meta(c, "dlor.h_choice", cfg->h_auto ? "auto" : "given", err);
    snprintf(buf, sizeof buf, "%.17g", no->c);
    if (st == DLOR_OK) st = meta(c, "dlor.c", buf, err);
    if (st == DLOR_OK && !deep) st = meta(c, "dlor.beta", no->beta == DLOR_NET_BETA_PAIRED ? "paired" : "paper", err);
    snprintf(buf, sizeof buf, "%lld", (long long)no->rank);
    if (st == DLOR_OK) st = meta(c, "dlor.rank", buf, err);
    if (st == DLOR_OK)
        st = meta(c, "dlor.basis", !deep ? "svd" : no->basis == DLOR_BASIS_RANDOM ? "random" : "schur", err);
    if (no->alpha_auto || !deep) snprintf(buf, sizeof buf, deep ? "auto" : "0");
    else snprintf(buf, sizeof buf, "%.17g", no->alpha);
    if (st == DLOR_OK) st = meta(c, "dlor.alpha", buf, err);
    snprintf(buf, sizeof buf, "%llu", (unsigned long long)no->seed);
    if (st == DLOR_OK) st = meta(c, "dlor.seed", buf, err);
    if (st == DLOR_OK) st = meta(c, "dlor.dtype", dlor_dtype_name(cfg->storage), err);
    if (st == DLOR_OK) st = meta(c, "dlor.padding", "zero", err);
    snprintf(buf, sizeof buf, "max abs %.3g (f64 runtime), %.3g (f32 runtime) on %s (%llu samples)", err64, err32,
             inputs, (unsigned long long)nsamples);
    if (st == DLOR_OK) st = meta(c, "dlor.network_error", buf, err);
    /* per layer: what became of it */
    size_t cap = 65535, used = 0;
    char *desc = calloc(cap + 1, 1);
    if (st == DLOR_OK && !desc) st = dlor_fail(err, DLOR_E_NOMEM, "out of memory");
    for (size_t i = 0; st == DLOR_OK && i < p->nlayers; i++) {
        const dlor_net_layer *L = &p->layers[i];
        char one[600];
        if (!L->converted) snprintf(one, sizeof one, "%s: dense", L->weight);
        else if (L->exact) snprintf(one, sizeof one, "%s: exact (one component, rank %lld)", L->weight,
                                    (long long)(L->m < L->n ? L->m : L->n));
        else snprintf(one, sizeof one, "%s: %s, %lld components, rho = %s", L->weight, deep ? "deep" : "wide",
                      (long long)L->f.factors, dlor_act_name(L->act));
        size_t k = strlen(one);
        if (used + k + 2 < cap) {
            if (used) { memcpy(desc + used, "; ", 2); used += 2; }
            memcpy(desc + used, one, k);
            used += k;
        }
    }
    if (st == DLOR_OK) st = meta(c, "dlor.network_layers", desc, err);
    free(desc);
    if (st == DLOR_OK) st = meta(c, "dlor.source", dlor_basename(in), err);
    const char *format = NULL;
    if (st == DLOR_OK) st = dlor_sniff_format(in, &format, err);
    if (st == DLOR_OK) st = meta(c, "dlor.source_format", format, err);
    if (st == DLOR_OK) st = meta(c, "dlor.source_sha256", hex, err);
    snprintf(buf, sizeof buf, "network(%s)", graph_source ? graph_source : "unknown");
    if (st == DLOR_OK) st = meta(c, "dlor.graph_source", buf, err);
    for (size_t i = 0; i < src->meta_count && st == DLOR_OK; i++) {
        char key[300];
        if (strlen(src->meta_keys[i]) + 7 > 255) continue;
        snprintf(key, sizeof key, "source.%s", src->meta_keys[i]);
        st = meta(c, key, src->meta_vals[i], err);
    }
    if (st == DLOR_OK) {
        /* the runtime's scratch for a batch of one (float32 forward), measured */
        unsigned char *img = NULL; /* stays NULL when the image cannot be made */
        size_t ilen;
        dlor_model m;
        dlor_image_error ie;
        void *plan = NULL;
        st = dlor_container_to_memory(c, &img, &ilen, err);
        if (st == DLOR_OK && dlor_model_open_alloc(&m, img, ilen, 0, &plan, &ie) != 0)
            st = dlor_fail(err, DLOR_E_FORMAT, "the network form does not open: %s", ie.msg);
        if (st == DLOR_OK) {
            snprintf(buf, sizeof buf, "%zu", dlor_model_scratch_size(&m, 1));
            free(plan);
            free(img);
            st = meta(c, "dlor.scratch_bytes_batch1", buf, err);
        } else {
            free(img);
        }
    }
    return st;
}

dlor_status dlor_convert_network_source(const char *in, const dlor_tensor_list *src, const dlor_graph *graph,
                                        const char *graph_source, const char *why, const net_cfg *cfg,
                                        const dlor_convert_hooks *hooks, dlor_converted *out, dlor_net_summary *sum,
                                        dlor_error *err)
{
    const dlor_graph *gp = graph;
    dlor_net_plan plan;
    dlor_net_ref ref;
    char *inputs = sum->inputs;
    int *selected = NULL;
    double *x = NULL;
    uint64_t nx = 0;
    memset(out, 0, sizeof *out);
    memset(sum, 0, sizeof *sum);
    dlor_container *c = &out->c;
    dlor_container_init(c);
    memset(&plan, 0, sizeof plan);
    memset(&ref, 0, sizeof ref);
    dlor_status st = DLOR_OK;
    if (!gp->count)
        st = dlor_fail(err, DLOR_E_UNSUPPORTED, "%s: the network form needs the model's graph, and none is known: %s",
                       in, why[0] ? why : "no graph (give --activation for nn.Sequential names)");
    if (st == DLOR_OK) {
        selected = calloc(src->count ? src->count : 1, sizeof *selected);
        if (!selected) st = dlor_fail(err, DLOR_E_NOMEM, "out of memory");
    }
    for (size_t i = 0; st == DLOR_OK && i < src->count; i++) {
        const dlor_tensor *t = &src->items[i];
        selected[i] = t->ndim == 2 && dlor_dtype_is_float(t->dtype) && t->nelem > 0 &&
                      (cfg->ninclude == 0 || matches_any(cfg->include, cfg->ninclude, t->name)) &&
                      !matches_any(cfg->exclude, cfg->nexclude, t->name);
    }
    if (st == DLOR_OK) st = dlor_net_plan_make(gp, src, &cfg->no, selected, in, &plan, err);
    /* the inputs the error is measured on (and h searched with) */
    if (st == DLOR_OK && cfg->calib) {
        uint64_t in_dim;
        st = dlor_graph_check(gp, src, in, &in_dim, NULL, err);
        if (st == DLOR_OK) st = dlor_load_inputs_f64(cfg->calib, in_dim, &x, &nx, err);
        if (st == DLOR_OK) st = dlor_net_ref_make(gp, src, x, nx, &ref, err);
        snprintf(inputs, sizeof sum->inputs, "%s", dlor_basename(cfg->calib));
    } else if (st == DLOR_OK) {
        st = dlor_net_ref_random(gp, src, 256, 0, &ref, err);
        snprintf(inputs, sizeof sum->inputs, "seeded normal inputs");
    }
    int constructed = 0;
    for (size_t i = 0; i < plan.nlayers; i++) constructed += plan.layers[i].converted && !plan.layers[i].exact;
    double h = cfg->h, err64 = NAN, err32 = NAN;
    int f64 = cfg->storage == DLOR_DT_F64;
    dlor_net_search s;
    memset(&s, 0, sizeof s);
    if (st == DLOR_OK && cfg->h_auto) {
        if (!constructed) {
            h = 1.0; /* every layer is exact: h is not used */
        } else {
            st = dlor_net_search_h(&plan, cfg->storage, f64, &ref, -12.0, 0.0, 0.25, &s, err);
            if (st == DLOR_OK) h = s.h;
        }
    }
    if (st == DLOR_OK) st = dlor_net_error(&plan, h, DLOR_DT_F64, 1, &ref, &err64, NULL, err);
    if (st == DLOR_OK) st = dlor_net_error(&plan, h, DLOR_DT_F32, 0, &ref, &err32, NULL, err);
    if (st == DLOR_OK && hooks && hooks->verbose && s.npoints) {
        dlor_hooks_line(hooks, 0, "h search (%s runtime, max abs error on %s):", f64 ? "f64" : "f32", inputs);
        for (size_t i = 0; i < s.npoints; i++) dlor_hooks_line(hooks, 0, "  h = %-10.3g error %.3g", s.hs[i], s.errs[i]);
    }
    /* the file: every tensor but the converted weights of the graph, then the network form */
    for (size_t i = 0; st == DLOR_OK && i < src->count; i++) {
        const dlor_tensor *t = &src->items[i];
        int replaced = 0;
        for (size_t k = 0; k < plan.nlayers; k++) replaced |= plan.layers[k].converted && !strcmp(plan.layers[k].weight, t->name);
        if (replaced) continue;
        st = dlor_tensor_list_add(&c->tensors, in, t->name, strlen(t->name), t->dtype, t->ndim, t->dims, t->data,
                                  t->nbytes, err);
    }
    if (st == DLOR_OK) st = dlor_net_build(&plan, h, cfg->storage, c, err);
    dlor_container_set_u_layout(c, cfg->u_layout);
    if (st == DLOR_OK)
        st = write_meta(cfg, &plan, in, src, graph_source, h, inputs, ref.n, err64, err32, c, err);
    if (st == DLOR_OK) {
        sum->h = h;
        sum->err64 = err64;
        sum->err32 = err32;
        sum->nsamples = ref.n;
        sum->nlayers = plan.nlayers;
        sum->constructed = constructed;
        sum->params = dlor_net_param_count(c, 0);
        if (sum->params == 0) /* a graph of layers has parameters: 0 means the count ran out of memory */
            st = dlor_fail(err, DLOR_E_NOMEM, "out of memory counting the network's parameters");
        for (size_t i = 0; i < gp->count; i++) {
            const dlor_graph_op *op = &gp->ops[i];
            const dlor_tensor *w = op->kind == DLOR_OP_LINEAR ? dlor_tensor_list_find(src, op->weight) : NULL;
            const dlor_tensor *bias = op->bias ? dlor_tensor_list_find(src, op->bias) : NULL;
            sum->params_dense += (w ? w->nelem : 0) + (bias ? bias->nelem : 0);
        }
    }
    dlor_net_search_free(&s);
    dlor_net_ref_free(&ref);
    dlor_net_plan_free(&plan);
    free(selected);
    free(x);
    return st;
}
