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

/* Before a loop of 'jobs' concurrent tasks: one BLAS thread per task, unless
 * the environment chose BLAS's thread count (OPENBLAS_NUM_THREADS,
 * GOTO_NUM_THREADS, OMP_NUM_THREADS), whose count is then shared among the
 * tasks (count / jobs, at least 1). Returns the count to restore with
 * dlor_parallel_blas_end. Why one: OpenBLAS's threads wait for work by spinning,
 * so on a machine whose cores are busy with other processes a conversion with
 * two BLAS threads ran 12x slower than with one (the mid-size model of
 * bench/plan_check.py, --method add, with two busy processes on the 2-core
 * machine: 53 s against 4.4 s; idle 2.70 s against 2.93 s); --jobs is the
 * parallelism that holds up. BLAS's threading can also change the last bits of
 * some results, so with one thread the output is the same for every --jobs. */
int dlor_parallel_blas_begin(int jobs);
void dlor_parallel_blas_end(int saved);

/* Online processors (at least 1). */
int dlor_cpu_count(void);

#endif
