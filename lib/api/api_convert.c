/* api_convert.c - dlor_convert, dlor_write, dlor_merge: the options of
 * dlor.h checked and mapped onto the conversion pipeline the command runs
 * (lib/convert/convert_run.c). */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"
#include "convert_args.h"
#include "dlor_emit.h"
#include "dlor_onnx_rewrite.h"
#include "network_run.h"
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

/* The options written as the words the command would take (convert_args.h), so
 * that dlor_convert_args_check decides for both; the numbers' texts live here. */
typedef struct {
    dlor_convert_args a;
    char method[24], rank[24], tol[32], budget[32], factors[24], seed[24], jobs[24], dtype[24], cdtype[24];
    char h[32], c[32];
} api_words;

/* The shortest text that reads back as v (dlor_parse_double's strtod). */
static const char *num_word(char *buf, size_t len, double v)
{
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, len, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) break;
    }
    return buf;
}

static const char *int_word(char *buf, size_t len, long long v)
{
    snprintf(buf, len, "%lld", v);
    return buf;
}

/* A dlor_storage's dtype name, or its number when it is none. */
static const char *storage_word(char *buf, size_t len, int s)
{
    static const char *const names[] = {"f32", "f64", "f16", "bf16", "q8", "q4"};
    if (s >= DLOR_STORE_F32 && s <= DLOR_STORE_Q4) return names[s];
    return int_word(buf, len, s);
}

static void words_of(const dlor_convert_options *o, api_words *w)
{
    static const char *const methods[] = {NULL, "mul", "add", "lowrank", "svd", "auto", "qlr"};
    dlor_convert_args *a = &w->a;
    memset(w, 0, sizeof *w);
    a->api = 1;
    if (o->method != DLOR_CONVERT_DEFAULT)
        a->method = o->method > 0 && o->method <= DLOR_CONVERT_QLR ? methods[o->method]
                                                                    : int_word(w->method, sizeof w->method, o->method);
    if (o->rank) a->rank = int_word(w->rank, sizeof w->rank, o->rank);
    if (o->tol != 0) a->tol = num_word(w->tol, sizeof w->tol, o->tol);
    if (o->budget != 0) a->budget = num_word(w->budget, sizeof w->budget, o->budget);
    if (o->factors) a->factors = int_word(w->factors, sizeof w->factors, o->factors);
    a->calib = o->calib;
    a->calib_acts = o->calib_acts;
    snprintf(w->seed, sizeof w->seed, "%llu", (unsigned long long)o->seed);
    a->seed = w->seed;
    a->dtype = storage_word(w->dtype, sizeof w->dtype, o->storage);
    if (o->form == DLOR_FORM_NETWORK) {
        a->form = "network";
        if (o->allocate_max || o->allocate_uniform) a->allocate = o->allocate_max ? "max" : "uniform";
        if (o->jobs > 1) a->jobs = int_word(w->jobs, sizeof w->jobs, o->jobs); /* 0 and 1 are ignored */
        if (o->wide) a->construction = "wide";
        if (o->h != 0) a->h = num_word(w->h, sizeof w->h, o->h);
        if (!isnan(o->c)) a->c = num_word(w->c, sizeof w->c, o->c);
        return;
    }
    /* allocate_max without a budget is refused by the exact forms and ignored by the compressed ones */
    int targeted = o->tol != 0 || o->budget != 0 || o->factors != 0 || o->calib || o->calib_acts;
    int exact = o->method == DLOR_CONVERT_MUL || o->method == DLOR_CONVERT_ADD ||
                (o->method == DLOR_CONVERT_DEFAULT && !targeted);
    if (o->allocate_uniform) a->allocate = "uniform";
    else if (o->allocate_max && (o->budget != 0 || exact)) a->allocate = "max";
    if (o->method == DLOR_CONVERT_QLR) a->correction_dtype = storage_word(w->cdtype, sizeof w->cdtype, o->correction_storage);
    a->jobs = int_word(w->jobs, sizeof w->jobs, o->jobs);
    a->include = o->include;
    a->ninclude = o->ninclude;
    a->exclude = o->exclude;
    a->nexclude = o->nexclude;
    a->sets = o->sets;
    a->nsets = (int)o->nsets;
    a->plan = o->plan;
    if (o->force) a->force = "force";
}

/* The options checked by the rules the command's options follow (dlor_convert_args_check),
 * then what only the API can get wrong: NULL lists, both allocations. */
static dlor_status options_cfg(const dlor_convert_options *o, int *network, convert_cfg *cfg, net_cfg *ncfg,
                               dlor_error *err)
{
    if (o->form != DLOR_FORM_LAYERS && o->form != DLOR_FORM_NETWORK)
        return dlor_fail(err, DLOR_E_ARG, "dlor_convert: form %d is no dlor_convert_form", o->form);
    api_words w;
    words_of(o, &w);
    dlor_status st = dlor_convert_args_check(&w.a, network, cfg, ncfg, err);
    if (st != DLOR_OK) return st;
    if (o->allocate_max && o->allocate_uniform)
        return dlor_fail(err, DLOR_E_ARG, "dlor_convert: allocate_max or allocate_uniform, not both");
    if ((o->ninclude && !o->include) || (o->nexclude && !o->exclude))
        return dlor_fail(err, DLOR_E_ARG, "dlor_convert: include or exclude is NULL with a nonzero count");
    if (*network) { /* the API's network form takes include and exclude */
        ncfg->include = o->include;
        ncfg->ninclude = o->ninclude;
        ncfg->exclude = o->exclude;
        ncfg->nexclude = o->nexclude;
        return DLOR_OK;
    }
    if (o->nsets && !o->sets) return dlor_fail(err, DLOR_E_ARG, "dlor_convert: sets is NULL with a nonzero count");
    if (o->nsets > 4096) return dlor_fail(err, DLOR_E_ARG, "dlor_convert: more than 4096 sets");
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
    convert_cfg cfg;
    net_cfg ncfg;
    int network;
    dlor_status st = options_cfg(o, &network, &cfg, &ncfg, err);
    if (st != DLOR_OK) return st;
    progress_ctx pc = {o, 0, 0};
    dlor_convert_hooks hooks = {o->progress != NULL, o->progress ? hook_line : NULL, o->progress ? hook_poll : NULL,
                                &pc};
    dlor_conversion *c = calloc(1, sizeof *c);
    if (!c) return dlor_fail(err, DLOR_E_NOMEM, "out of memory");
    c->src = src;
    if (network) {
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
