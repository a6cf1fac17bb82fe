/* parallel.c - dlor_parallel_for on the host's one thread pool (dlor_pool,
 * lib/runtime/pool.c): every worker takes the next task until none is left. */
#define _POSIX_C_SOURCE 200809L
#include "parallel.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cblas.h>

#include "dlor_pool.h"

typedef struct {
    pthread_mutex_t mu;
    size_t next, n, fail_at;   /* fail_at == n: no failure yet */
    dlor_status fail_st;
    dlor_error fail_err;
    dlor_task_fn fn;
    void *ctx;
} pool;

static void worker(void *arg, unsigned id, unsigned size)
{
    pool *p = arg;
    (void)id;
    (void)size;
    for (;;) {
        pthread_mutex_lock(&p->mu);
        size_t i = p->next;
        int stop = i >= p->n || p->fail_at < p->n;
        if (!stop) p->next++;
        pthread_mutex_unlock(&p->mu);
        if (stop) return;
        dlor_error e;
        memset(&e, 0, sizeof e);
        dlor_status st = p->fn(p->ctx, i, &e);
        if (st != DLOR_OK) {
            pthread_mutex_lock(&p->mu);
            if (i < p->fail_at) {
                p->fail_at = i;
                p->fail_st = st;
                p->fail_err = e;
            }
            pthread_mutex_unlock(&p->mu);
        }
    }
}

dlor_status dlor_parallel_for(size_t n, int jobs, dlor_task_fn fn, void *ctx, dlor_error *err)
{
    if (jobs <= 1 || n <= 1) {
        for (size_t i = 0; i < n; i++) {
            dlor_status st = fn(ctx, i, err);
            if (st != DLOR_OK) return st;
        }
        return DLOR_OK;
    }
    if ((size_t)jobs > n) jobs = (int)n;
    if (jobs > 256) jobs = 256; /* the pool's limit */
    pool p;
    memset(&p, 0, sizeof p);
    p.n = p.fail_at = n;
    p.fn = fn;
    p.ctx = ctx;
    if (pthread_mutex_init(&p.mu, NULL) != 0) return dlor_fail(err, DLOR_E_NOMEM, "cannot create a mutex");
    dlor_pool *team = dlor_pool_create((unsigned)jobs); /* the caller is one of the workers */
    if (team) dlor_pool_run(team, worker, &p);
    else worker(&p, 0, 1); /* no thread could start: do the work here */
    dlor_pool_destroy(team);
    pthread_mutex_destroy(&p.mu);
    if (p.fail_at < n) {
        *err = p.fail_err;
        return p.fail_st;
    }
    return DLOR_OK;
}

int dlor_cpu_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

/* Whether the user chose BLAS's thread count (OpenBLAS reads these at start). */
static int blas_threads_chosen(void)
{
    static const char *const vars[] = {"OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS", "OMP_NUM_THREADS"};
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++) {
        const char *v = getenv(vars[i]);
        if (v && *v) return 1;
    }
    return 0;
}

int dlor_parallel_blas_begin(int jobs)
{
    int now = openblas_get_num_threads();
    if (!blas_threads_chosen()) openblas_set_num_threads(1);
    else if (jobs > 1) openblas_set_num_threads(now / jobs > 1 ? now / jobs : 1);
    return now;
}

void dlor_parallel_blas_end(int saved)
{
    if (saved >= 1) openblas_set_num_threads(saved);
}
