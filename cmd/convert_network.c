/* convert_network.c - dlor convert --form network: every dense layer of a model
 * replaced by DLoR sub-layers with the activation between them (lib/network.h),
 * h chosen by measuring the end-to-end error, written as a runnable .dlor. */
#define _POSIX_C_SOURCE 200809L
#include <fnmatch.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "dlor_container.h"
#include "dlor_fileio.h"
#include "dlor_host.h"
#include "dlor_npy.h"
#include "dlor_readers.h"
#include "dlor_runtime.h"
#include "dlor_sha256.h"
#include "model_load.h"
#include "network.h"
#include "network_cmd.h"

static int matches_any(const dlor_opts *o, const dlor_optdef *defs, const char *opt, const char *name)
{
    int idx = dlor_opt_index(defs, opt);
    for (int i = 0; idx >= 0 && i < o->count[idx]; i++)
        if (fnmatch(o->all[idx][i], name, 0) == 0) return 1;
    return 0;
}

typedef struct {
    dlor_net_opts no;
    int h_auto;
    double h;
    dlor_dtype storage;
    int u_layout;         /* --layout */
} net_cfg;

static int usage_fail(const char *msg, const char *val)
{
    fprintf(stderr, "dlor convert: ");
    fprintf(stderr, msg, val);
    fprintf(stderr, "\n");
    return 2;
}

static int parse_net(const dlor_opts *o, const dlor_optdef *defs, net_cfg *cfg)
{
    static const char *const not_here[] = {"method", "tol", "budget", "allocate", "factors", "emit", "shard", "jobs"};
    const char *v;
    memset(cfg, 0, sizeof *cfg);
    dlor_net_opts_default(&cfg->no);
    for (size_t i = 0; i < sizeof not_here / sizeof not_here[0]; i++)
        if (dlor_opt_count(o, defs, not_here[i]))
            return usage_fail("--%s does not apply to --form network", not_here[i]);
    if (dlor_convert_u_layout(o, defs, &cfg->u_layout) != 0) return 2;
    if ((v = dlor_opt(o, defs, "construction"))) {
        if (strcmp(v, "deep") == 0) cfg->no.kind = DLOR_NET_DEEP;
        else if (strcmp(v, "wide") == 0) cfg->no.kind = DLOR_NET_WIDE;
        else return usage_fail("--construction must be deep or wide, not '%s'", v);
    }
    int deep = cfg->no.kind == DLOR_NET_DEEP;
    if ((v = dlor_opt(o, defs, "beta"))) {
        if (deep) return usage_fail("--beta %s applies to --construction wide only", v);
        if (strcmp(v, "paired") == 0) cfg->no.beta = DLOR_NET_BETA_PAIRED;
        else if (strcmp(v, "paper") == 0) cfg->no.beta = DLOR_NET_BETA_PAPER;
        else return usage_fail("--beta must be paired or paper, not '%s'", v);
    }
    if ((v = dlor_opt(o, defs, "basis"))) {
        if (!deep) return usage_fail("--basis %s applies to --construction deep only (wide splits W by its SVD)", v);
        if (strcmp(v, "schur") == 0) cfg->no.basis = DLOR_BASIS_SCHUR;
        else if (strcmp(v, "random") == 0) cfg->no.basis = DLOR_BASIS_RANDOM;
        else return usage_fail("--basis must be schur or random for the deep network form, not '%s'", v);
    }
    if ((v = dlor_opt(o, defs, "alpha"))) {
        if (!deep) return usage_fail("--alpha %s applies to --construction deep only (wide components have alpha 0)", v);
        if (strcmp(v, "auto") == 0) {
            cfg->no.alpha_auto = 1;
        } else if (dlor_parse_double(v, &cfg->no.alpha) != 0 || cfg->no.alpha == 0.0) {
            return usage_fail("--alpha must be a nonzero finite number or 'auto', not '%s'", v);
        }
    }
    if ((v = dlor_opt(o, defs, "rank")) && (dlor_parse_i64(v, &cfg->no.rank) != 0 || cfg->no.rank < 1))
        return usage_fail("--rank must be a positive integer, not '%s'", v);
    if ((v = dlor_opt(o, defs, "seed")) && dlor_parse_u64(v, &cfg->no.seed) != 0)
        return usage_fail("--seed must be a non-negative integer, not '%s'", v);
    if ((v = dlor_opt(o, defs, "c")) && (dlor_parse_double(v, &cfg->no.c) != 0))
        return usage_fail("--c must be a finite number, not '%s'", v);
    cfg->h_auto = 1;
    if ((v = dlor_opt(o, defs, "h")) && strcmp(v, "auto") != 0) {
        if (dlor_parse_double(v, &cfg->h) != 0 || !(cfg->h > 0))
            return usage_fail("--h must be a positive number or 'auto', not '%s'", v);
        cfg->h_auto = 0;
    }
    cfg->storage = DLOR_DT_F32;
    if ((v = dlor_opt(o, defs, "dtype"))) {
        cfg->storage = dlor_dtype_from_name(v);
        if (cfg->storage != DLOR_DT_F32 && cfg->storage != DLOR_DT_F64)
            return usage_fail("the network form stores f32 or f64 (--dtype), not '%s'", v);
    }
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
        unsigned char *img;
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

int dlor_convert_network(const dlor_opts *o, const dlor_optdef *defs)
{
    const char *form = dlor_opt(o, defs, "form");
    if (strcmp(form, "network") != 0) return usage_fail("--form must be layer (default) or network, not '%s'", form);
    net_cfg cfg;
    int rc = parse_net(o, defs, &cfg);
    if (rc) return rc;
    const char *in = o->pos[0], *out = dlor_opt(o, defs, "output"), *calib = dlor_opt(o, defs, "calib");
    const dlor_cmd_output outputs[] = {{"-o", out, DLOR_OUT_BINARY}};
    const char *in_files[] = {in, calib};
    if ((rc = dlor_cmd_check_outputs("convert", outputs, 1, in_files, 2)) != 0) return rc;
    int progress = isatty(2) || dlor_opt(o, defs, "verbose");
    int inc = dlor_opt_index(defs, "include");

    dlor_error err;
    dlor_tensor_list src;
    dlor_graph g;
    dlor_container c;
    dlor_net_plan plan;
    dlor_net_ref ref;
    char why[512] = "", inputs[300];
    const char *graph_source = NULL;
    int *selected = NULL;
    double *x = NULL;
    uint64_t nx = 0;
    dlor_tensor_list_init(&src);
    dlor_graph_init(&g);
    dlor_container_init(&c);
    memset(&plan, 0, sizeof plan);
    memset(&ref, 0, sizeof ref);
    dlor_status st = dlor_read_model(in, &src, &g, why, sizeof why, &err);
    if (st == DLOR_OK)
        st = dlor_resolve_graph(in, &src, &g, dlor_opt(o, defs, "activation"), &graph_source, why, sizeof why, &err);
    if (st == DLOR_OK && !g.count)
        st = dlor_fail(&err, DLOR_E_UNSUPPORTED, "%s: the network form needs the model's graph, and none is known: %s",
                       in, why[0] ? why : "no graph (give --activation for nn.Sequential names)");
    if (st == DLOR_OK) {
        selected = calloc(src.count ? src.count : 1, sizeof *selected);
        if (!selected) st = dlor_fail(&err, DLOR_E_NOMEM, "out of memory");
    }
    for (size_t i = 0; st == DLOR_OK && i < src.count; i++) {
        const dlor_tensor *t = &src.items[i];
        selected[i] = t->ndim == 2 && dlor_dtype_is_float(t->dtype) && t->nelem > 0 &&
                      (o->count[inc] == 0 || matches_any(o, defs, "include", t->name)) &&
                      !matches_any(o, defs, "exclude", t->name);
    }
    if (st == DLOR_OK) st = dlor_net_plan_make(&g, &src, &cfg.no, selected, in, &plan, &err);
    /* the inputs the error is measured on (and h searched with) */
    if (st == DLOR_OK && calib) {
        uint64_t in_dim;
        st = dlor_graph_check(&g, &src, in, &in_dim, NULL, &err);
        if (st == DLOR_OK) st = dlor_load_inputs_f64(calib, in_dim, &x, &nx, &err);
        if (st == DLOR_OK) st = dlor_net_ref_make(&g, &src, x, nx, &ref, &err);
        snprintf(inputs, sizeof inputs, "%s", dlor_basename(calib));
    } else if (st == DLOR_OK) {
        st = dlor_net_ref_random(&g, &src, 256, 0, &ref, &err);
        snprintf(inputs, sizeof inputs, "seeded normal inputs");
    }
    int constructed = 0;
    for (size_t i = 0; i < plan.nlayers; i++) constructed += plan.layers[i].converted && !plan.layers[i].exact;
    double h = cfg.h, err64 = NAN, err32 = NAN;
    int f64 = cfg.storage == DLOR_DT_F64;
    dlor_net_search s;
    memset(&s, 0, sizeof s);
    if (st == DLOR_OK && cfg.h_auto) {
        if (!constructed) {
            h = 1.0; /* every layer is exact: h is not used */
        } else {
            st = dlor_net_search_h(&plan, cfg.storage, f64, &ref, -12.0, 0.0, 0.25, &s, &err);
            if (st == DLOR_OK) h = s.h;
        }
    }
    if (st == DLOR_OK) st = dlor_net_error(&plan, h, DLOR_DT_F64, 1, &ref, &err64, NULL, &err);
    if (st == DLOR_OK) st = dlor_net_error(&plan, h, DLOR_DT_F32, 0, &ref, &err32, NULL, &err);
    if (st == DLOR_OK && progress && s.npoints) {
        fprintf(stderr, "h search (%s runtime, max abs error on %s):\n", f64 ? "f64" : "f32", inputs);
        for (size_t i = 0; i < s.npoints; i++) fprintf(stderr, "  h = %-10.3g error %.3g\n", s.hs[i], s.errs[i]);
    }
    /* the file: every tensor but the converted weights of the graph, then the network form */
    for (size_t i = 0; st == DLOR_OK && i < src.count; i++) {
        const dlor_tensor *t = &src.items[i];
        int replaced = 0;
        for (size_t k = 0; k < plan.nlayers; k++) replaced |= plan.layers[k].converted && !strcmp(plan.layers[k].weight, t->name);
        if (replaced) continue;
        st = dlor_tensor_list_add(&c.tensors, in, t->name, strlen(t->name), t->dtype, t->ndim, t->dims, t->data,
                                  t->nbytes, &err);
    }
    if (st == DLOR_OK) st = dlor_net_build(&plan, h, cfg.storage, &c, &err);
    dlor_container_set_u_layout(&c, cfg.u_layout);
    if (st == DLOR_OK)
        st = write_meta(&cfg, &plan, in, &src, graph_source, h, inputs, ref.n, err64, err32, &c, &err);
    if (st == DLOR_OK)
        st = dlor_opt(o, defs, "compress") ? dlor_container_write_deflated(out, &c, &err)
                                           : dlor_container_write(out, &c, &err);
    if (st == DLOR_OK) {
        uint64_t dense = 0;
        for (size_t i = 0; i < g.count; i++) {
            const dlor_graph_op *op = &g.ops[i];
            const dlor_tensor *w = op->kind == DLOR_OP_LINEAR ? dlor_tensor_list_find(&src, op->weight) : NULL;
            const dlor_tensor *b = op->bias ? dlor_tensor_list_find(&src, op->bias) : NULL;
            dense += (w ? w->nelem : 0) + (b ? b->nelem : 0);
        }
        const char *variant = cfg.no.kind == DLOR_NET_WIDE
                                  ? (cfg.no.beta == DLOR_NET_BETA_PAIRED ? "wide, paired beta" : "wide, paper's beta")
                                  : (cfg.no.basis == DLOR_BASIS_RANDOM ? "deep, random basis" : "deep, Schur basis");
        printf("%s: network form (%s), r = %lld, c = %g, h = %.3g (%s): max abs error to the dense model on %s "
               "(%llu samples): %.3g with the f64 runtime, %.3g with the f32 runtime; %zu layers, %d constructed; "
               "%llu parameters (dense %llu)\n",
               out, variant, (long long)cfg.no.rank, cfg.no.c, h,
               !constructed ? "unused: every layer is exact" : cfg.h_auto ? "searched" : "given", inputs,
               (unsigned long long)ref.n, err64, err32, plan.nlayers, constructed,
               (unsigned long long)dlor_net_param_count(&c, 0), (unsigned long long)dense);
    }
    dlor_net_search_free(&s);
    dlor_net_ref_free(&ref);
    dlor_net_plan_free(&plan);
    free(selected);
    free(x);
    dlor_container_free(&c);
    dlor_graph_free(&g);
    dlor_tensor_list_free(&src);
    if (st != DLOR_OK) return dlor_cmd_fail("convert", &err);
    return 0;
}
