/* api_run.c - dlor_runner: a .dlor file or a dense source with a known graph,
 * run by the runtime in float32 (the model loading of dlor run). */
#include <stdlib.h>

#include "api_internal.h"

dlor_status dlor_runner_open(const char *path, const char *activation, dlor_runner **out, dlor_error *err)
{
    if (!path || !out) return dlor_fail(err, DLOR_E_ARG, "dlor_runner_open: path and out must not be NULL");
    if (activation && dlor_act_from_name(activation) < 0)
        return dlor_fail(err, DLOR_E_ARG, "dlor_runner_open: %s: '%s' names no activation", path, activation);
    dlor_runner *r = calloc(1, sizeof *r);
    if (!r) return dlor_fail(err, DLOR_E_NOMEM, "out of memory");
    dlor_status st = dlor_load_runnable(path, activation, &r->l, err);
    if (st != DLOR_OK) {
        free(r);
        return st;
    }
    *out = r;
    return DLOR_OK;
}

void dlor_runner_free(dlor_runner *r)
{
    if (!r) return;
    dlor_loaded_free(&r->l);
    free(r);
}

uint64_t dlor_runner_input_dim(const dlor_runner *r)
{
    return r ? r->l.model.in_dim : 0;
}

uint64_t dlor_runner_output_dim(const dlor_runner *r)
{
    return r ? r->l.model.out_dim : 0;
}

dlor_status dlor_runner_forward(const dlor_runner *r, const float *x, uint64_t n, size_t batch, unsigned threads,
                                float *y, dlor_error *err)
{
    if (!r || (n && (!x || !y))) return dlor_fail(err, DLOR_E_ARG, "dlor_runner_forward: NULL runner or buffers");
    if (r->l.model.in_dim == 0)
        return dlor_fail(err, DLOR_E_UNSUPPORTED, "dlor_runner_forward: the model takes token ids, not features");
    if (batch == 0 || threads > 1024)
        return dlor_fail(err, DLOR_E_ARG, "dlor_runner_forward: batch must be positive and threads at most 1024");
    return dlor_run_batches(&r->l.model, x, n, batch, threads, y, err);
}
