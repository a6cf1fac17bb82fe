/* dlor_pool.h - a team of threads for dlor_model_forward_team on hosts.
 *
 * Not part of the embedded runtime (it needs POSIX threads and allocates its
 * threads once, at creation): the host side, for 'dlor run', 'dlor bench' and
 * programs that want one forward pass on several cores.
 *
 *     dlor_pool *p = dlor_pool_create(2);             // the caller + 1 thread
 *     size_t need = dlor_model_scratch_size_team(&m, batch, dlor_pool_size(p));
 *     dlor_pool_forward(p, &m, x, batch, y, scratch, need, &e);
 *     dlor_pool_destroy(p);
 *
 * The calling thread is worker 0; the pool's threads wait between calls,
 * spinning for a short while (so back-to-back calls start at once) and then
 * sleeping. A pool runs one forward pass at a time: calls from several threads
 * must be serialised by the caller. The result has the bits of
 * dlor_model_forward. */
#ifndef DLOR_POOL_H
#define DLOR_POOL_H

#include "dlor_runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dlor_pool dlor_pool;

/* A pool of 'workers' workers (1 .. 256; the caller counts as one). NULL when
 * out of memory or a thread cannot be started. */
dlor_pool *dlor_pool_create(unsigned workers);
unsigned dlor_pool_size(const dlor_pool *p);

/* dlor_model_forward with every worker of the pool; scratch as given by
 * dlor_model_scratch_size_team(m, batch, dlor_pool_size(p)). */
int dlor_pool_forward(dlor_pool *p, const dlor_model *m, const float *x, size_t batch, float *y, void *scratch,
                      size_t scratch_size, dlor_image_error *err);

/* dlor_model_run with every worker of the pool (a pass of a model of token
 * ids, or of either precision); scratch as dlor_model_scratch_bytes gives for
 * dlor_pool_size(p) workers. */
int dlor_pool_run_model(dlor_pool *p, const dlor_model *m, const dlor_run *r, int dtype, void *scratch,
                        size_t scratch_size, dlor_image_error *err);

/* Runs fn(arg, id, size) once on every worker (id 0 .. size - 1, the caller
 * being worker 0) and returns when all have returned: work other than a forward
 * pass on the same threads (dlor bench times a plain read of the model's bytes
 * this way). */
void dlor_pool_run(dlor_pool *p, void (*fn)(void *arg, unsigned id, unsigned size), void *arg);

/* Pins the calling thread to the first processor it may run on and pool thread
 * i to the i-th (modulo their number), so that the scheduler never places two
 * workers on one core (benchmarks that own their process); dlor_pool_unpin
 * gives the calling thread its previous affinity back (threads it creates
 * inherit it). Return 0, or -1 where affinity cannot be set (Linux only). */
int dlor_pool_pin(dlor_pool *p);
int dlor_pool_unpin(dlor_pool *p);

void dlor_pool_destroy(dlor_pool *p);

#ifdef __cplusplus
}
#endif
#endif
