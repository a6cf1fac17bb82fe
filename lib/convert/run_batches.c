/* run_batches.c - a model of features on many samples, batch by batch, each
 * batch on a team of threads (dlor_pool). */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>

#include "convert.h"
#include "dlor_npy.h"
#include "dlor_pool.h"
#include "model_load.h"

dlor_status dlor_run_batches(const dlor_model *m, const float *x, uint64_t n, size_t batch, unsigned threads,
                             float *y, dlor_error *err)
{
    if (threads == 0) threads = 1;
    dlor_pool *pool = dlor_pool_create(threads); /* a pool of one runs in the caller alone */
    if (!pool) return dlor_fail(err, DLOR_E_NOMEM, "cannot allocate or start a team of %u threads", threads);
    size_t need = dlor_model_scratch_size_team(m, batch, threads);
    void *scratch = NULL;
    if (need == 0 || posix_memalign(&scratch, 64, need) != 0) {
        dlor_pool_destroy(pool);
        return dlor_fail(err, DLOR_E_NOMEM, "cannot allocate %zu bytes of scratch for batch %zu", need, batch);
    }
    dlor_status st = DLOR_OK;
    for (uint64_t i = 0; i < n && st == DLOR_OK; i += batch) {
        size_t b = (size_t)(n - i < batch ? n - i : batch);
        dlor_image_error ie;
        if (dlor_pool_forward(pool, m, x + i * m->in_dim, b, y + i * m->out_dim, scratch, need, &ie) != 0)
            st = dlor_fail(err, DLOR_E_NUMERIC, "forward pass failed: %s", ie.msg);
    }
    dlor_pool_destroy(pool);
    free(scratch);
    return st;
}

dlor_status dlor_run_f64(const dlor_model *m, const double *x, uint64_t n, size_t batch, double *y, dlor_error *err)
{
    size_t need = dlor_model_scratch_size_f64(m, batch);
    void *scratch = NULL;
    if (need == 0 || posix_memalign(&scratch, 64, need) != 0)
        return dlor_fail(err, DLOR_E_NOMEM, "cannot allocate %zu bytes of scratch for batch %zu", need, batch);
    dlor_status st = DLOR_OK;
    for (uint64_t i = 0; st == DLOR_OK && i < n; i += batch) {
        size_t b = (size_t)(n - i < batch ? n - i : batch);
        dlor_image_error ie;
        if (dlor_model_forward_f64(m, x + i * m->in_dim, b, y + i * m->out_dim, scratch, need, &ie) != 0)
            st = dlor_fail(err, DLOR_E_NUMERIC, "forward pass failed: %s", ie.msg);
    }
    free(scratch);
    return st;
}
