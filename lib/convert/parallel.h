/* parallel.h - a parallel for-loop over independent tasks (per-layer conversion). */
#ifndef DLOR_PARALLEL_H
#define DLOR_PARALLEL_H

#include <stddef.h>

#include "dlor_error.h"

typedef dlor_status (*dlor_task_fn)(void *ctx, size_t i, dlor_error *err);

/* Runs fn(ctx, i) for every i in [0, n) on up to 'jobs' threads (jobs <= 1: in
 * this thread, in order). Tasks are handed out in increasing i; after a failure
 * no new task starts. Returns DLOR_OK, or the failure of the lowest failing i
 * with its message in err, which makes the outcome independent of timing. */
dlor_status dlor_parallel_for(size_t n, int jobs, dlor_task_fn fn, void *ctx, dlor_error *err);

/* Before a loop of 'jobs' concurrent tasks: shares BLAS's threads among them
 * (its current count / jobs, at least 1) and returns the count to restore with
 * dlor_parallel_blas_end. BLAS's own threading can change the last bits of some
 * results, so output equal for every --jobs needs OPENBLAS_NUM_THREADS=1. */
int dlor_parallel_blas_begin(int jobs);
void dlor_parallel_blas_end(int saved);

/* Online processors (at least 1). */
int dlor_cpu_count(void);

#endif
