/* api_convert.c - dlor_convert, dlor_write, dlor_merge: the options of
 * dlor.h checked and mapped onto the conversion pipeline the command runs
 * (lib/convert/convert_run.c). */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"
#include "dlor_emit.h"
#include "dlor_onnx_rewrite.h"
#include "network_run.h"
#include "parallel.h"
#include "shard.h"

void dlor_convert_options_init(dlor_convert_options *o)
{
    if (!o) return;
    memset(o, 0, sizeof *o);
    o->method = DLOR_CONVERT_DEFAULT;
    o->form = DLOR_FORM_LAYERS;
    o->storage = DLOR_STORE_F32;
    o->jobs = 1;
    o->c = NAN;
    o->correction_storage = DLOR_STORE_F16;
}

static dlor_dtype storage_dtype(int s)
{
    switch (s) {
    case DLOR_STORE_F32: return DLOR_DT_F32;
    case DLOR_STORE_F64: return DLOR_DT_F64;
    case DLOR_STORE_F16: return DLOR_DT_F16;
    case DLOR_STORE_BF16: return DLOR_DT_BF16;
    case DLOR_STORE_Q8: return DLOR_DT_Q8;
    case DLOR_STORE_Q4: return DLOR_DT_Q4;
    }
    return DLOR_DT_INVALID;
}

/* The options as dlor_convert_args_check (convert_args.h) sets them for the command, or why not. */
static dlor_status layer_cfg(const dlor_convert_options *o, convert_cfg *cfg, dlor_error *err)
{
    dlor_factor_opts *fo = &cfg->fo;
    dlor_compress_cfg *cc = &cfg->cc;
    memset(cfg, 0, sizeof *cfg);
    int targeted = o->tol != 0 || o->budget != 0 || o->factors != 0 || o->calib || o->calib_acts;
    switch (o->method) {
    case DLOR_CONVERT_DEFAULT: cfg->form = targeted ? "auto" : "mul"; break;
    case DLOR_CONVERT_MUL: cfg->form = "mul"; break;
    case DLOR_CONVERT_ADD: cfg->form = "add"; break;
    case DLOR_CONVERT_LOWRANK: cfg->form = "lowrank"; break;
    case DLOR_CONVERT_SVD: cfg->form = "svd"; break;
    case DLOR_CONVERT_AUTO: cfg->form = "auto"; break;
    case DLOR_CONVERT_QLR: cfg->form = "qlr"; break;
    default: return dlor_fail(err, DLOR_E_ARG, "dlor_convert: method %d is no dlor_convert_method", o->method);
    }
    fo->method = strcmp(cfg->form, "add") == 0 ? DLOR_METHOD_ADD : DLOR_METHOD_MUL;
    fo->basis = fo->method == DLOR_METHOD_MUL ? DLOR_BASIS_SCHUR : DLOR_BASIS_SVD;
    fo->alpha_auto = 1;
    fo->seed = o->seed;
    cfg->compress = strcmp(cfg->form, "mul") != 0 && strcmp(cfg->form, "add") != 0;
    if (o->calib && o->calib_acts)
        return dlor_fail(err, DLOR_E_ARG, "dlor_convert: calib and calib_acts do not go together");
    if (!cfg->compress && targeted)
        return dlor_fail(err, DLOR_E_ARG, "dlor_convert: tol, budget, factors, calib and calib_acts choose compressed forms "
                                          "(method auto, lowrank or svd); mul and add are exact");
    if (o->rank < 0) return dlor_fail(err, DLOR_E_ARG, "dlor_convert: rank must be positive, not %lld", (long long)o->rank);
    fo->rank = o->rank > 0 ? o->rank : DLOR_DEFAULT_RANK;
    cfg->rank_given = o->rank > 0;
    if (cfg->compress) {
        if ((o->rank > 0) + (o->tol != 0) + (o->budget != 0) != 1)
            return dlor_fail(err, DLOR_E_ARG, "dlor_convert: a compressed form needs exactly one target: rank, tol or "
                                              "budget");
        if (o->tol != 0 && !(o->tol > 0 && isfinite(o->tol)))
            return dlor_fail(err, DLOR_E_ARG, "dlor_convert: tol must be a positive number, not %g", o->tol);
        if (o->budget != 0 && !(o->budget > 0 && o->budget <= 1))
            return dlor_fail(err, DLOR_E_ARG, "dlor_convert: budget must be a fraction in (0, 1], not %g", o->budget);
        if (o->factors < 0 || o->factors > 4096)
            return dlor_fail(err, DLOR_E_ARG, "dlor_convert: factors must be from 1 to 4096 (0: none), not %lld",
                             (long long)o->factors);
        cc->qlr = strcmp(cfg->form, "qlr") == 0;
        cc->fit_beta = strcmp(cfg->form, "svd") != 0 && !cc->qlr;
        if (cc->qlr && (o->budget != 0 || o->factors != 0))
            return dlor_fail(err, DLOR_E_ARG, "dlor_convert: method qlr takes a rank or a tol (not budget or factors)");
        cc->rank = o->rank;
        cc->has_tol = o->tol != 0;
        cc->tol = o->tol;
        cc->has_budget = o->budget != 0;
        cc->budget = o->budget;
        if (o->allocate_uniform && o->budget == 0)
            return dlor_fail(err, DLOR_E_ARG, "dlor_convert: allocate_uniform goes with a budget");
        if (o->allocate_max && o->allocate_uniform)
            return dlor_fail(err, DLOR_E_ARG, "dlor_convert: allocate_max or allocate_uniform, not both");
        cc->allocate_sum = !o->allocate_max;
        cc->allocate_uniform = o->allocate_uniform != 0;
        cc->calib_acts = o->calib_acts;
        cc->factors = o->factors;
        cc->calib = o->calib;
    } else if (o->allocate_max || o->allocate_uniform) {
        return dlor_fail(err, DLOR_E_ARG, "dlor_convert: allocate_max and allocate_uniform go with a budget");
    }
    fo->storage = storage_dtype(o->storage);
    if (fo->storage == DLOR_DT_INVALID)
        return dlor_fail(err, DLOR_E_ARG, "dlor_convert: storage %d is no dlor_storage", o->storage);
    cc->storage = fo->storage;
    if (cc->qlr) {
        cc->corr_storage = storage_dtype(o->correction_storage);
        if (!dlor_dtype_is_quant(cc->storage))
            return dlor_fail(err, DLOR_E_ARG, "dlor_convert: method qlr needs storage Q8 or Q4 for its base");
        if (cc->corr_storage == DLOR_DT_INVALID || cc->corr_storage == DLOR_DT_Q4 || cc->corr_storage == DLOR_DT_F64)
            return dlor_fail(err, DLOR_E_ARG, "dlor_convert: correction_storage %d is not F16, F32, BF16 or Q8",
                             o->correction_storage);
    }
    if (o->jobs < 0 || o->jobs > 1024)
        return dlor_fail(err, DLOR_E_ARG, "dlor_convert: jobs must be from 0 to 1024, not %d", o->jobs);
    cfg->jobs = o->jobs == 0 ? dlor_cpu_count() : o->jobs;
    cc->jobs = cfg->jobs;
    if ((o->ninclude && !o->include) || (o->nexclude && !o->exclude))
        return dlor_fail(err, DLOR_E_ARG, "dlor_convert: include or exclude is NULL with a nonzero count");
    cfg->include = o->include;
    cfg->ninclude = o->ninclude;
    cfg->exclude = o->exclude;
    cfg->nexclude = o->nexclude;
    cfg->u_layout = DLOR_IMAGE_U_PANELS;
    if (o->nsets && !o->sets) return dlor_fail(err, DLOR_E_ARG, "dlor_convert: sets is NULL with a nonzero count");
    if (o->nsets > 4096) return dlor_fail(err, DLOR_E_ARG, "dlor_convert: more than 4096 sets");
    cfg->sets = o->sets;
    cfg->nsets = (int)o->nsets;
    cfg->plan_in = o->plan;
    cfg->force = o->force != 0;
    return DLOR_OK;
}

/* The network form's options, as dlor_convert_args_check sets them for the command. */
static dlor_status network_cfg(const dlor_convert_options *o, net_cfg *cfg, dlor_error *err)
{
    memset(cfg, 0, sizeof *cfg);
    dlor_net_opts_default(&cfg->no);
    if (o->method != DLOR_CONVERT_DEFAULT || o->tol != 0 || o->budget != 0 || o->factors != 0 || o->allocate_max ||
        o->allocate_uniform || o->calib_acts || o->jobs > 1)
        return dlor_fail(err, DLOR_E_ARG, "dlor_convert: the network form converts every layer of the graph "
                                          "exactly: method, tol, budget, allocate_max, allocate_uniform, calib_acts, "
                                          "factors and jobs do not apply");
    cfg->no.kind = o->wide ? DLOR_NET_WIDE : DLOR_NET_DEEP;
    if (o->rank < 0) return dlor_fail(err, DLOR_E_ARG, "dlor_convert: rank must be positive, not %lld", (long long)o->rank);
    if (o->rank > 0) cfg->no.rank = o->rank;
    cfg->no.seed = o->seed;
    if (!isnan(o->c)) {
        if (!isfinite(o->c)) return dlor_fail(err, DLOR_E_ARG, "dlor_convert: c must be finite");
        cfg->no.c = o->c;
    }
    cfg->h_auto = o->h == 0;
    cfg->h = o->h;
    if (!cfg->h_auto && !(o->h > 0 && isfinite(o->h)))
        return dlor_fail(err, DLOR_E_ARG, "dlor_convert: h must be a positive number (0: searched), not %g", o->h);
    cfg->storage = storage_dtype(o->storage);
    if (cfg->storage != DLOR_DT_F32 && cfg->storage != DLOR_DT_F64)
        return dlor_fail(err, DLOR_E_ARG, "dlor_convert: the network form stores f32 or f64");
    cfg->u_layout = DLOR_IMAGE_U_PANELS;
    cfg->calib = o->calib;
    if ((o->ninclude && !o->include) || (o->nexclude && !o->exclude))
        return dlor_fail(err, DLOR_E_ARG, "dlor_convert: include or exclude is NULL with a nonzero count");
    cfg->include = o->include;
    cfg->ninclude = o->ninclude;
    cfg->exclude = o->exclude;
    cfg->nexclude = o->nexclude;
    return DLOR_OK;
}

/* The caller's progress callback behind the pipeline's hooks. */
typedef struct {
    const dlor_convert_options *o;
    size_t done, total;
} progress_ctx;

static void hook_line(void *ctx, int note, const char *text)
{
    progress_ctx *p = ctx;
    dlor_progress pr = {p->done, p->total, NULL, text};
    (void)note;
    p->o->progress(p->o->progress_ctx, &pr);  /* a line reports what is done: no question asked */
}

static int hook_poll(void *ctx, size_t done, size_t total, const char *layer)
{
    progress_ctx *p = ctx;
    dlor_progress pr = {done, total, layer, NULL};
    p->done = done;
    p->total = total;
    return p->o->progress(p->o->progress_ctx, &pr);
}

void dlor_conversion_free(dlor_conversion *c)
{
    if (!c) return;
    dlor_converted_free(&c->conv);
    free(c);
}

dlor_status dlor_convert(const dlor_file *src, const dlor_convert_options *o, dlor_conversion **out, dlor_error *err)
{
    dlor_convert_options defaults;
    if (!src || !out) return dlor_fail(err, DLOR_E_ARG, "dlor_convert: src and out must not be NULL");
    if (!o) {
        dlor_convert_options_init(&defaults);
        o = &defaults;
    }
    if (src->is_dlor)
        return dlor_fail(err, DLOR_E_ARG, "%s: a .dlor file: convert the dense weights it came from", src->path);
    if (o->form != DLOR_FORM_LAYERS && o->form != DLOR_FORM_NETWORK)
        return dlor_fail(err, DLOR_E_ARG, "dlor_convert: form %d is no dlor_convert_form", o->form);
    convert_cfg cfg;
    net_cfg ncfg;
    dlor_status st = o->form == DLOR_FORM_NETWORK ? network_cfg(o, &ncfg, err) : layer_cfg(o, &cfg, err);
    if (st != DLOR_OK) return st;
    progress_ctx pc = {o, 0, 0};
    dlor_convert_hooks hooks = {o->progress != NULL, o->progress ? hook_line : NULL, o->progress ? hook_poll : NULL,
                                &pc};
    dlor_conversion *c = calloc(1, sizeof *c);
    if (!c) return dlor_fail(err, DLOR_E_NOMEM, "out of memory");
    c->src = src;
    if (o->form == DLOR_FORM_NETWORK) {
        dlor_net_summary sum;
        st = dlor_convert_network_source(src->path, &src->c.tensors, &src->c.graph, src->graph_source, src->why,
                                         &ncfg, &hooks, &c->conv, &sum, err);
    } else
        st = dlor_convert_source(src->path, &src->c.tensors, &src->c.graph, src->graph_source, src->why, &cfg,
                                 &hooks, &c->conv, err);
    if (st != DLOR_OK) {
        dlor_conversion_free(c);
        return st;
    }
    *out = c;
    return DLOR_OK;
}

size_t dlor_conversion_layers(const dlor_conversion *c)
{
    return c ? c->conv.c.nlayers : 0;
}

size_t dlor_conversion_kept_dense(const dlor_conversion *c)
{
    return c ? c->conv.nkept : 0;
}

dlor_status dlor_write(const dlor_conversion *c, const char *path, unsigned flags, dlor_error *err)
{
    if (!c || !path) return dlor_fail(err, DLOR_E_ARG, "dlor_write: conversion and path must not be NULL");
    if (flags & ~DLOR_WRITE_DEFLATE) return dlor_fail(err, DLOR_E_ARG, "dlor_write: unknown flags 0x%x", flags);
    return flags & DLOR_WRITE_DEFLATE ? dlor_container_write_deflated(path, &c->conv.c, err)
                                      : dlor_container_write(path, &c->conv.c, err);
}

dlor_status dlor_write_safetensors(const dlor_conversion *c, const char *path, dlor_error *err)
{
    if (!c || !path) return dlor_fail(err, DLOR_E_ARG, "dlor_write_safetensors: conversion and path must not be NULL");
    return dlor_emit_safetensors(path, &c->conv.c, &c->src->c.tensors, err);
}

dlor_status dlor_write_dense_safetensors(const dlor_conversion *c, const char *path, dlor_error *err)
{
    if (!c || !path)
        return dlor_fail(err, DLOR_E_ARG, "dlor_write_dense_safetensors: conversion and path must not be NULL");
    return dlor_emit_dense(path, &c->src->c.tensors, &c->conv.c, err);
}

dlor_status dlor_write_onnx(const dlor_conversion *c, const char *path, dlor_error *err)
{
    if (!c || !path) return dlor_fail(err, DLOR_E_ARG, "dlor_write_onnx: conversion and path must not be NULL");
    dlor_status st = dlor_onnx_rewrite_check_source(c->src->path, err);
    if (st == DLOR_OK) st = dlor_onnx_rewrite(path, c->src->path, &c->conv.c, err);
    return st;
}

dlor_status dlor_merge(const char *const *parts, size_t nparts, const char *path, unsigned flags, dlor_error *err)
{
    if (!parts || !path) return dlor_fail(err, DLOR_E_ARG, "dlor_merge: parts and path must not be NULL");
    if (flags & ~DLOR_WRITE_DEFLATE) return dlor_fail(err, DLOR_E_ARG, "dlor_merge: unknown flags 0x%x", flags);
    dlor_merged m;
    dlor_status st = dlor_merge_files(parts, nparts, &m, err);
    if (st != DLOR_OK) return st;
    st = flags & DLOR_WRITE_DEFLATE ? dlor_container_write_deflated(path, &m.merged, err)
                                    : dlor_container_write(path, &m.merged, err);
    dlor_merged_free(&m);
    return st;
}
