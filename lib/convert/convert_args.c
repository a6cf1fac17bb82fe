/* convert_args.c - dlor convert's options checked together (convert_args.h). */
#define _POSIX_C_SOURCE 200809L
#include "convert_args.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "dlor_runtime.h"
#include "numparse.h"
#include "parallel.h"
#include "shard.h"

/* A refused option: DLOR_E_USAGE with the command's line, or for the public API
 * (a->api) DLOR_E_ARG with the line naming its fields (the command's where the
 * API has no such option). Both lines take the same arguments. */
static dlor_status vrefuse(const dlor_convert_args *a, dlor_error *err, const char *fmt, va_list ap)
{
    char msg[DLOR_ERROR_MSG_MAX];
    vsnprintf(msg, sizeof msg, fmt, ap);
    return a->api ? dlor_fail(err, DLOR_E_ARG, "dlor_convert: %s", msg) : dlor_fail(err, DLOR_E_USAGE, "%s", msg);
}

/* An option only the command has. */
static dlor_status refuse(const dlor_convert_args *a, dlor_error *err, const char *cli, ...)
{
    va_list ap;
    va_start(ap, cli);
    dlor_status st = vrefuse(a, err, cli, ap);
    va_end(ap);
    return st;
}

/* An option of both: the command's line and the API's. */
static dlor_status refuse2(const dlor_convert_args *a, dlor_error *err, const char *cli, const char *api, ...)
{
    va_list ap;
    va_start(ap, api);
    dlor_status st = vrefuse(a, err, a->api ? api : cli, ap);
    va_end(ap);
    return st;
}

#define USAGE(...) refuse(a, err, __VA_ARGS__)
#define BOTH(...) refuse2(a, err, __VA_ARGS__)
/* the API's line for each option its network form does not take */
#define NET_EXACT                                                                                                    \
    "the network form converts every layer of the graph exactly: method, tol, budget, allocate_max, "              \
    "allocate_uniform, calib_acts, factors and jobs do not apply"

static int is(const char *v, const char *word)
{
    return strcmp(v, word) == 0;
}

static dlor_status u_layout(const dlor_convert_args *a, int *layout, dlor_error *err)
{
    *layout = DLOR_IMAGE_U_PANELS;
    if (!a->layout || is(a->layout, "panels")) return DLOR_OK;
    if (is(a->layout, "rows")) {
        *layout = DLOR_IMAGE_U_ROWS;
        return DLOR_OK;
    }
    return USAGE("--layout must be panels or rows, not '%s'", a->layout);
}

static dlor_status network_cfg(const dlor_convert_args *a, net_cfg *cfg, dlor_error *err)
{
    /* the options the layer form alone takes; the first one given is named */
    const struct {
        const char *name;
        int given;
    } layer_only[] = {{"method", a->method != NULL},     {"tol", a->tol != NULL},
                      {"budget", a->budget != NULL},     {"allocate", a->allocate != NULL},
                      {"factors", a->factors != NULL},   {"emit", a->emit != NULL},
                      {"emit-dense", a->emit_dense != NULL}, {"emit-onnx", a->emit_onnx != NULL},
                      {"shard", a->shard != NULL},       {"include", a->ninclude != 0},
                      {"exclude", a->nexclude != 0},     {"dry-run", a->dry_run != NULL},
                      {"force", a->force != NULL},       {"set", a->nsets != 0},
                      {"plan", a->plan != NULL},         {"plan-out", a->plan_out != NULL}};
    for (size_t i = 0; i < sizeof layer_only / sizeof layer_only[0]; i++)
        if (layer_only[i].given)
            return BOTH("--%s does not go with --form network (it converts every layer of the model's graph exactly)",
                        NET_EXACT, layer_only[i].name);
    if (!is(a->form, "network")) return USAGE("--form must be layer (default) or network, not '%s'", a->form);
    if (a->jobs) return BOTH("--jobs does not apply to --form network", NET_EXACT);
    if (a->calib_acts) return BOTH("--calib-acts does not apply to --form network", NET_EXACT);
    memset(cfg, 0, sizeof *cfg);
    dlor_net_opts_default(&cfg->no);
    dlor_status st = u_layout(a, &cfg->u_layout, err);
    if (st != DLOR_OK) return st;
    const char *v;
    if ((v = a->construction)) {
        if (is(v, "deep")) cfg->no.kind = DLOR_NET_DEEP;
        else if (is(v, "wide")) cfg->no.kind = DLOR_NET_WIDE;
        else return USAGE("--construction must be deep or wide, not '%s'", v);
    }
    int deep = cfg->no.kind == DLOR_NET_DEEP;
    if ((v = a->beta)) {
        if (deep) return USAGE("--beta %s applies to --construction wide only", v);
        if (is(v, "paired")) cfg->no.beta = DLOR_NET_BETA_PAIRED;
        else if (is(v, "paper")) cfg->no.beta = DLOR_NET_BETA_PAPER;
        else return USAGE("--beta must be paired or paper, not '%s'", v);
    }
    if ((v = a->basis)) {
        if (!deep) return USAGE("--basis %s applies to --construction deep only (wide splits W by its SVD)", v);
        if (is(v, "schur")) cfg->no.basis = DLOR_BASIS_SCHUR;
        else if (is(v, "random")) cfg->no.basis = DLOR_BASIS_RANDOM;
        else return USAGE("--basis must be schur or random for the deep network form, not '%s'", v);
    }
    if ((v = a->alpha)) {
        if (!deep) return USAGE("--alpha %s applies to --construction deep only (wide components have alpha 0)", v);
        if (is(v, "auto")) cfg->no.alpha_auto = 1;
        else if (dlor_parse_double(v, &cfg->no.alpha) != 0 || cfg->no.alpha == 0.0)
            return USAGE("--alpha must be a nonzero finite number or 'auto', not '%s'", v);
    }
    if ((v = a->rank) && (dlor_parse_i64(v, &cfg->no.rank) != 0 || cfg->no.rank < 1))
        return BOTH("--rank must be a positive integer, not '%s'", "rank must be positive, not %s", v);
    if ((v = a->seed) && dlor_parse_u64(v, &cfg->no.seed) != 0)
        return USAGE("--seed must be a non-negative integer, not '%s'", v);
    if ((v = a->c) && dlor_parse_double(v, &cfg->no.c) != 0)
        return BOTH("--c must be a finite number, not '%s'", "c must be finite, not %s", v);
    cfg->h_auto = 1;
    if ((v = a->h) && !is(v, "auto")) {
        if (dlor_parse_double(v, &cfg->h) != 0 || !(cfg->h > 0))
            return BOTH("--h must be a positive number or 'auto', not '%s'",
                        "h must be a positive number (0: searched), not %s", v);
        cfg->h_auto = 0;
    }
    cfg->storage = DLOR_DT_F32;
    if ((v = a->dtype)) {
        cfg->storage = dlor_dtype_from_name(v);
        if (cfg->storage != DLOR_DT_F32 && cfg->storage != DLOR_DT_F64)
            return BOTH("the network form stores f32 or f64 (--dtype), not '%s'",
                        "the network form stores f32 or f64 (storage), not %s", v);
    }
    cfg->calib = a->calib;
    cfg->include = a->include;
    cfg->ninclude = a->ninclude;
    cfg->exclude = a->exclude;
    cfg->nexclude = a->nexclude;
    return DLOR_OK;
}

/* --method and the compressed forms' targets: which form, and its one target. */
static dlor_status compressed_cfg(const dlor_convert_args *a, convert_cfg *cfg, dlor_error *err)
{
    dlor_compress_cfg *cc = &cfg->cc;
    const char *bits = a->budget_bits, *budget = a->budget, *tol = a->tol, *factors = a->factors;
    int targets = (a->rank != NULL) + (tol != NULL) + (budget != NULL) + (bits != NULL);
    if (bits && (!is(cfg->form, "auto") || factors || a->dtype))
        return USAGE("--budget-bits goes with --method auto and chooses each layer's dtypes (not --dtype or "
                     "--factors)");
    if (bits && (dlor_parse_double(bits, &cc->bits) != 0 || !(cc->bits > 0) || cc->bits > 32))
        return USAGE("--budget-bits must be a number of bits per weight in (0, 32], not '%s'", bits);
    cc->has_bits = bits != NULL;
    cc->fit_beta = !is(cfg->form, "svd") && !cc->qlr;
    if (cc->qlr && (budget || factors))
        return BOTH("--method qlr takes --rank R or --tol T (not --budget or --factors)",
                    "method qlr takes a rank or a tol (not budget or factors)");
    cc->calib = a->calib;
    cc->calib_acts = a->calib_acts;
    if (targets != 1)
        return BOTH("a compressed form needs exactly one target: --rank R, --tol T, --budget F or --budget-bits B",
                    "a compressed form needs exactly one target: rank, tol or budget");
    if (tol && (dlor_parse_double(tol, &cc->tol) != 0 || cc->tol <= 0))
        return BOTH("--tol must be a positive number, not '%s'", "tol must be a positive number, not %s", tol);
    cc->has_tol = tol != NULL;
    if (budget && (dlor_parse_double(budget, &cc->budget) != 0 || cc->budget <= 0 || cc->budget > 1))
        return BOTH("--budget must be a fraction in (0, 1], not '%s'", "budget must be a fraction in (0, 1], not %s",
                    budget);
    cc->has_budget = budget != NULL;
    const char *alloc = a->allocate;
    if (alloc && (!budget || (!is(alloc, "max") && !is(alloc, "sum") && !is(alloc, "uniform"))))
        return USAGE("--allocate takes max, sum or uniform and goes with --budget");
    cc->allocate_sum = !alloc || is(alloc, "sum");
    cc->allocate_uniform = alloc && is(alloc, "uniform");
    if (factors && (dlor_parse_i64(factors, &cc->factors) != 0 || cc->factors < 1 || cc->factors > 4096))
        return BOTH("--factors must be an integer from 1 to 4096, not '%s'",
                    "factors must be from 1 to 4096 (0: none), not %s", factors);
    if (a->basis || a->alpha) return USAGE("--basis and --alpha apply to the exact forms (mul, add) only");
    return DLOR_OK;
}

/* --basis, --rank, --alpha, --seed: the exact forms' factorization. */
static dlor_status factor_cfg(const dlor_convert_args *a, convert_cfg *cfg, dlor_error *err)
{
    dlor_factor_opts *fo = &cfg->fo;
    const char *basis = a->basis, *alpha = a->alpha;
    fo->basis = fo->method == DLOR_METHOD_MUL ? DLOR_BASIS_SCHUR : DLOR_BASIS_SVD;
    if (basis && !cfg->compress) {
        if (is(basis, "schur")) fo->basis = DLOR_BASIS_SCHUR;
        else if (is(basis, "random")) fo->basis = DLOR_BASIS_RANDOM;
        else if (is(basis, "svd")) fo->basis = DLOR_BASIS_SVD;
        else return USAGE("--basis must be schur, random or svd, not '%s'", basis);
        if ((fo->method == DLOR_METHOD_MUL) != (fo->basis != DLOR_BASIS_SVD))
            return USAGE("--basis %s does not apply to --method %s (mul: schur|random; add: svd)", basis,
                         fo->method == DLOR_METHOD_MUL ? "mul" : "add");
    }
    fo->rank = DLOR_DEFAULT_RANK;
    if (a->rank) {
        if (dlor_parse_i64(a->rank, &fo->rank) != 0 || fo->rank < 1)
            return BOTH("--rank must be a positive integer, not '%s'", "rank must be positive, not %s", a->rank);
        cfg->rank_given = 1;
        cfg->cc.rank = fo->rank;
    }
    fo->alpha_auto = 1;
    if (alpha && !is(alpha, "auto")) {
        if (dlor_parse_double(alpha, &fo->alpha) != 0)
            return USAGE("--alpha must be a finite number or 'auto', not '%s'", alpha);
        if (fo->method == DLOR_METHOD_MUL && fo->alpha == 0.0)
            return USAGE("--alpha 0 is not allowed with --method mul (the factors must be invertible)");
        fo->alpha_auto = 0;
    }
    if (a->seed && dlor_parse_u64(a->seed, &fo->seed) != 0)
        return USAGE("--seed must be a non-negative integer, not '%s'", a->seed);
    return DLOR_OK;
}

/* --dtype and --correction-dtype: how the factors are stored. */
static dlor_status storage_cfg(const dlor_convert_args *a, convert_cfg *cfg, dlor_error *err)
{
    dlor_factor_opts *fo = &cfg->fo;
    dlor_compress_cfg *cc = &cfg->cc;
    const char *dtype = a->dtype, *cdtype = a->correction_dtype;
    fo->storage = DLOR_DT_F32;
    if (dtype) {
        fo->storage = dlor_dtype_from_name(dtype);
        if (!dlor_dtype_is_weight(fo->storage))
            return BOTH("--dtype must be f32, f64, f16, bf16, q8 or q4, not '%s'", "storage %s is no dlor_storage",
                        dtype);
    }
    cc->storage = fo->storage;
    cc->corr_storage = DLOR_DT_F16;
    if (cdtype && !cc->qlr) return USAGE("--correction-dtype goes with --method qlr");
    if (!cc->qlr) return DLOR_OK;
    if (!dtype) fo->storage = cc->storage = DLOR_DT_Q4;
    if (!dlor_dtype_is_quant(fo->storage))
        return BOTH("--method qlr quantizes its base: --dtype must be q4 or q8, not '%s'",
                    "method qlr needs storage Q8 or Q4 for its base, not %s", dtype);
    if (cdtype) {
        cc->corr_storage = dlor_dtype_from_name(cdtype);
        if (!dlor_dtype_is_weight(cc->corr_storage) || cc->corr_storage == DLOR_DT_Q4 ||
            cc->corr_storage == DLOR_DT_F64)
            return BOTH("--correction-dtype must be f16, f32, bf16 or q8, not '%s'",
                        "correction_storage %s is not F16, F32, BF16 or Q8", cdtype);
    }
    return DLOR_OK;
}

/* --jobs and --shard: how the work is split. */
static dlor_status split_cfg(const dlor_convert_args *a, convert_cfg *cfg, dlor_error *err)
{
    uint64_t nj = 1;
    if (a->jobs && (dlor_parse_u64(a->jobs, &nj) != 0 || nj > 1024))
        return BOTH("--jobs must be an integer from 0 to 1024, not '%s'", "jobs must be from 0 to 1024, not %s",
                    a->jobs);
    cfg->jobs = nj == 0 ? dlor_cpu_count() : (int)nj;
    cfg->cc.jobs = cfg->jobs;
    if (!a->shard) return DLOR_OK;
    if (dlor_shard_parse(a->shard, &cfg->shard_i, &cfg->shard_n) != 0)
        return USAGE("--shard takes I/N with 0 <= I < N <= 65536, not '%s'", a->shard);
    if (a->budget || a->budget_bits)
        return USAGE("--shard does not go with --budget or --budget-bits (the budget is shared by all layers: "
                     "convert in one process, or use --tol or --rank)");
    if (a->emit || a->emit_dense || a->emit_onnx)
        return USAGE("--shard does not go with --emit, --emit-dense or --emit-onnx (emit from the merged file's "
                     "conversion in one process)");
    return DLOR_OK;
}

static dlor_status layer_cfg(const dlor_convert_args *a, convert_cfg *cfg, dlor_error *err)
{
    if (a->construction || a->h || a->c || a->beta)
        return USAGE("--construction, --h, --c and --beta go with --form network");
    memset(cfg, 0, sizeof *cfg);
    dlor_factor_opts *fo = &cfg->fo;
    int targeted = a->tol || a->budget || a->budget_bits || a->factors || a->calib || a->calib_acts;
    cfg->form = a->method ? a->method : targeted ? "auto" : "mul";
    fo->method = DLOR_METHOD_MUL;
    if (is(cfg->form, "add")) fo->method = DLOR_METHOD_ADD;
    else if (is(cfg->form, "lowrank") || is(cfg->form, "svd") || is(cfg->form, "auto")) cfg->compress = 1;
    else if (is(cfg->form, "qlr")) cfg->compress = cfg->cc.qlr = 1;
    else if (!is(cfg->form, "mul"))
        return BOTH("--method must be mul, add, lowrank, svd, auto or qlr, not '%s'", "method %s is no dlor_convert_method",
                    a->method);
    if (a->allocate && !a->budget)
        return BOTH("--allocate takes max, sum or uniform and goes with --budget",
                    "allocate_max and allocate_uniform go with a budget");
    if (a->calib && a->calib_acts)
        return BOTH("--calib and --calib-acts do not go together: give the layers' inputs one way",
                    "calib and calib_acts do not go together");
    if (!cfg->compress && (a->tol || a->budget || a->factors || a->calib || a->calib_acts))
        return BOTH("--tol, --budget, --factors, --calib and --calib-acts choose compressed forms; use --method auto, "
                    "lowrank or svd (mul and add are exact)",
                    "tol, budget, factors, calib and calib_acts choose compressed forms (method auto, lowrank or svd); "
                    "mul and add are exact");
    dlor_status st = cfg->compress ? compressed_cfg(a, cfg, err) : DLOR_OK;
    if (st == DLOR_OK) st = factor_cfg(a, cfg, err);
    if (st == DLOR_OK) st = storage_cfg(a, cfg, err);
    if (st == DLOR_OK) st = split_cfg(a, cfg, err);
    if (st == DLOR_OK) st = u_layout(a, &cfg->u_layout, err);
    if (st != DLOR_OK) return st;
    cfg->include = a->include;
    cfg->ninclude = a->ninclude;
    cfg->exclude = a->exclude;
    cfg->nexclude = a->nexclude;
    cfg->activation = a->activation;
    cfg->out = a->out;
    cfg->plan_in = a->plan;
    cfg->plan_out = a->plan_out;
    cfg->sets = a->sets;
    cfg->nsets = a->nsets;
    cfg->dry_run = a->dry_run != NULL;
    cfg->force = a->force != NULL;
    return DLOR_OK;
}

dlor_status dlor_convert_args_check(const dlor_convert_args *a, int *network, convert_cfg *cfg, net_cfg *ncfg,
                                    dlor_error *err)
{
    *network = a->form && !is(a->form, "layer");
    return *network ? network_cfg(a, ncfg, err) : layer_cfg(a, cfg, err);
}
