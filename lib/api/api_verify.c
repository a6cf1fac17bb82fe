/* api_verify.c - dlor_verify and its report: the measurements of dlor verify
 * (lib/check/verify_run.c) behind an opaque handle. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"

void dlor_verify_options_init(dlor_verify_options *o)
{
    if (!o) return;
    memset(o, 0, sizeof *o);
    o->tol = -1;
    o->min_cosine = NAN;
    o->max_rel_error = NAN;
}

void dlor_report_free(dlor_report *r)
{
    if (!r) return;
    dlor_verify_state_free(&r->vs);
    free(r->in);
    free(r->out);
    free(r);
}

dlor_status dlor_verify(const char *dense_path, const char *dlor_path, const dlor_verify_options *opts,
                        dlor_report **out, dlor_error *err)
{
    dlor_verify_options defaults;
    if (!dense_path || !dlor_path || !out)
        return dlor_fail(err, DLOR_E_ARG, "dlor_verify: the paths and out must not be NULL");
    if (!opts) {
        dlor_verify_options_init(&defaults);
        opts = &defaults;
    }
    if (opts->inputs && opts->samples)
        return dlor_fail(err, DLOR_E_ARG, "dlor_verify: inputs and samples do not go together");
    if (opts->labels && !opts->inputs) return dlor_fail(err, DLOR_E_ARG, "dlor_verify: labels go with inputs");
    if (opts->samples > (1u << 24))
        return dlor_fail(err, DLOR_E_ARG, "dlor_verify: samples must be at most 16777216, not %llu",
                         (unsigned long long)opts->samples);
    if (isnan(opts->tol)) return dlor_fail(err, DLOR_E_ARG, "dlor_verify: tol is NaN");
    dlor_report *r = calloc(1, sizeof *r);
    if (!r) return dlor_fail(err, DLOR_E_NOMEM, "out of memory");
    dlor_verify_state_init(&r->vs);
    r->in = strdup(dense_path);
    r->out = strdup(dlor_path);
    if (!r->in || !r->out) {
        dlor_report_free(r);
        return dlor_fail(err, DLOR_E_NOMEM, "out of memory");
    }
    dlor_verify_args a = {r->in, r->out, opts->activation, opts->inputs, opts->labels, opts->tol,
                          opts->samples ? opts->samples : 256, opts->seed, opts->samples != 0,
                          !isnan(opts->min_cosine), !isnan(opts->max_rel_error), opts->min_cosine,
                          opts->max_rel_error};
    dlor_status st = dlor_verify_files(&a, &r->vs, err);
    if (st != DLOR_OK) {
        dlor_report_free(r);
        return st;
    }
    *out = r;
    return DLOR_OK;
}

int dlor_report_pass(const dlor_report *r)
{
    return r && r->vs.r.pass;
}

double dlor_report_max_rel_error(const dlor_report *r)
{
    return r ? r->vs.r.max_rel : NAN;
}

double dlor_report_max_abs_error(const dlor_report *r)
{
    return r ? r->vs.r.max_abs : NAN;
}

uint64_t dlor_report_samples(const dlor_report *r)
{
    return r ? r->vs.r.e2e_samples : 0;
}

double dlor_report_e2e_max_abs_error(const dlor_report *r)
{
    return r && r->vs.r.e2e_samples ? r->vs.r.e2e_max_abs : NAN;
}

size_t dlor_report_layer_count(const dlor_report *r)
{
    return r ? r->vs.r.nlayers : 0;
}

dlor_status dlor_report_layer(const dlor_report *r, size_t i, dlor_layer_check *out, dlor_error *err)
{
    if (!r || !out || i >= r->vs.r.nlayers)
        return dlor_fail(err, DLOR_E_ARG, "dlor_report_layer: no layer %zu (the report has %zu)", i,
                         r ? r->vs.r.nlayers : 0);
    const dlor_layer_report *L = &r->vs.r.layers[i];
    memset(out, 0, sizeof *out);
    out->name = L->name;
    out->form = L->form ? L->form : "?";
    out->rows = L->rows;
    out->cols = L->cols;
    out->rank = L->rank;
    out->rel_error = L->rel_fro_error;
    out->max_abs_error = L->max_abs_error;
    out->tol = L->tol;
    out->pass = L->pass;
    out->params_dense = L->params_dense;
    out->params_dlor = L->params_dlor;
    return DLOR_OK;
}

size_t dlor_report_problem_count(const dlor_report *r)
{
    return r ? r->vs.r.nproblems : 0;
}

const char *dlor_report_problem(const dlor_report *r, size_t i)
{
    return r && i < r->vs.r.nproblems ? r->vs.r.problems[i] : NULL;
}

dlor_status dlor_report_write_json(const dlor_report *r, FILE *out, dlor_error *err)
{
    if (!r || !out) return dlor_fail(err, DLOR_E_ARG, "dlor_report_write_json: report and stream must not be NULL");
    dlor_verify_write_json(out, r->in, r->out, &r->vs.r);
    if (ferror(out)) return dlor_fail(err, DLOR_E_IO, "%s: writing the JSON report failed", r->out);
    return DLOR_OK;
}
