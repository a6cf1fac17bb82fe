/* pool.c - a pthread team for dlor_model_forward_team (see dlor_pool.h).
 *
 * Hand-out: the caller writes the job (a forward pass, or any function) and
 * bumps job_gen; a waiting worker sees the new value, runs its share and
 * counts itself into 'done'. Workers spin on job_gen for SPIN_S seconds after
 * their last job, then sleep on a condition variable
 * (the caller only takes the mutex to wake them when some are asleep). The
 * barrier between steps of a forward pass is a counter and a generation
 * number: the last worker to arrive resets the counter and bumps the
 * generation that the others spin on. Every spin-wait yields the processor
 * once it has lasted YIELD_S (for machines with more threads than cores). The
 * shared counters sit on separate cache lines. GCC/clang __atomic builtins. */
#define _GNU_SOURCE /* pthread_setaffinity_np, CPU_SET (Linux) */
#include "dlor_pool.h"

#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SPIN_S 2e-4  /* a worker spins this long for the next job before sleeping */
/* A spin-wait that has lasted this long also yields the processor at each turn.
 * A wait at a barrier is mostly a few microseconds (the other worker's jitter);
 * yielding after 32 turns instead (~1 us on the machine of BENCHMARKS.md) put a
 * ~0.6 us system call in the way of most of them: a two-thread pass of a mul
 * model at N = 1024, rank 64 (96 barriers) took 5% longer, a p = 0.1 model's 3%. */
#define YIELD_S 2e-5

typedef struct {
    struct dlor_pool *p;
    unsigned id;
    int rc;
    dlor_image_error err;
    pthread_t th;
} pool_worker;

struct dlor_pool {
    unsigned size, started;
    pool_worker *w;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    /* the job, written by the caller before job_gen is bumped: fn, or a forward pass */
    void (*fn)(void *arg, unsigned id, unsigned size);
    void *arg;
    const dlor_model *m;
    const float *x;
    float *y;
    const dlor_run *run;           /* a dlor_model_run pass (NULL: dlor_model_forward_team) */
    int dtype;
    size_t batch, scratch_size;
    void *scratch;
    int quit;
#if defined(__linux__)
    cpu_set_t caller_mask;         /* the caller's affinity before dlor_pool_pin */
    int pinned;
#endif
    char pad0[64];
    unsigned job_gen;
    char pad1[64];
    unsigned done;
    char pad2[64];
    unsigned sleepers;
    char pad3[64];
    unsigned bar_count;
    char pad4[64];
    unsigned bar_gen;
    char pad5[64];
};

static void relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static double seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* One turn of a spin-wait: a pause; every 64 turns the time waited so far
 * (counted from the 64th turn) into 'waited'; once that exceeds YIELD_S, a yield. */
typedef struct {
    unsigned k;
    double t0, waited;
} spinner;

static void spin(spinner *s)
{
    relax();
    if ((++s->k & 63u) == 0) {
        double t = seconds();
        if (s->k == 64) s->t0 = t;
        s->waited = t - s->t0;
    }
    if (s->waited > YIELD_S) sched_yield();
}

static void pool_sync(void *ctx)
{
    struct dlor_pool *p = ctx;
    unsigned gen = __atomic_load_n(&p->bar_gen, __ATOMIC_ACQUIRE);
    if (__atomic_add_fetch(&p->bar_count, 1, __ATOMIC_ACQ_REL) == p->size) {
        __atomic_store_n(&p->bar_count, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&p->bar_gen, gen + 1, __ATOMIC_RELEASE);
        return;
    }
    spinner sp = {0, 0.0, 0.0};
    while (__atomic_load_n(&p->bar_gen, __ATOMIC_ACQUIRE) == gen) spin(&sp);
}

static void run_share(pool_worker *w)
{
    struct dlor_pool *p = w->p;
    if (p->fn) {
        p->fn(p->arg, w->id, p->size);
        return;
    }
    dlor_team t;
    t.id = w->id;
    t.size = p->size;
    t.sync = pool_sync;
    t.ctx = p;
    if (p->run) w->rc = dlor_model_run(p->m, p->run, p->dtype, p->scratch, p->scratch_size, &t, &w->err);
    else w->rc = dlor_model_forward_team(p->m, p->x, p->batch, p->y, p->scratch, p->scratch_size, &t, &w->err);
}

static void *worker_main(void *arg)
{
    pool_worker *w = arg;
    struct dlor_pool *p = w->p;
    unsigned seen = 0;
    for (;;) {
        spinner sp = {0, 0.0, 0.0};
        while (__atomic_load_n(&p->job_gen, __ATOMIC_ACQUIRE) == seen) {
            spin(&sp);
            if (sp.waited > SPIN_S) {
                pthread_mutex_lock(&p->mu);
                __atomic_add_fetch(&p->sleepers, 1, __ATOMIC_SEQ_CST);
                while (__atomic_load_n(&p->job_gen, __ATOMIC_SEQ_CST) == seen) pthread_cond_wait(&p->cv, &p->mu);
                __atomic_sub_fetch(&p->sleepers, 1, __ATOMIC_SEQ_CST);
                pthread_mutex_unlock(&p->mu);
            }
        }
        seen = __atomic_load_n(&p->job_gen, __ATOMIC_ACQUIRE);
        if (__atomic_load_n(&p->quit, __ATOMIC_ACQUIRE)) break;
        run_share(w);
        __atomic_add_fetch(&p->done, 1, __ATOMIC_RELEASE);
    }
    return NULL;
}

/* Hands out the current job (or the order to quit) to the waiting workers. */
static void post(struct dlor_pool *p)
{
    __atomic_store_n(&p->done, 0, __ATOMIC_RELAXED);
    __atomic_add_fetch(&p->job_gen, 1, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&p->sleepers, __ATOMIC_SEQ_CST) != 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
    }
}

static void stop(struct dlor_pool *p)
{
    __atomic_store_n(&p->quit, 1, __ATOMIC_RELEASE);
    post(p);
    for (unsigned i = 1; i <= p->started; i++) pthread_join(p->w[i].th, NULL);
}

dlor_pool *dlor_pool_create(unsigned workers)
{
    if (workers == 0 || workers > 256) return NULL;
    struct dlor_pool *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->w = calloc(workers, sizeof *p->w);
    if (!p->w || pthread_mutex_init(&p->mu, NULL) != 0) {
        free(p->w);
        free(p);
        return NULL;
    }
    if (pthread_cond_init(&p->cv, NULL) != 0) {
        pthread_mutex_destroy(&p->mu);
        free(p->w);
        free(p);
        return NULL;
    }
    p->size = workers;
    for (unsigned i = 0; i < workers; i++) {
        p->w[i].p = p;
        p->w[i].id = i;
    }
    for (unsigned i = 1; i < workers; i++) {
        if (pthread_create(&p->w[i].th, NULL, worker_main, &p->w[i]) != 0) {
            dlor_pool_destroy(p);
            return NULL;
        }
        p->started = i;
    }
    return p;
}

unsigned dlor_pool_size(const dlor_pool *p) { return p ? p->size : 0; }

/* Hands out the job already written to p and runs worker 0's share here. */
static void run_all(struct dlor_pool *p)
{
    if (p->size > 1) post(p);
    run_share(&p->w[0]);
    spinner sp = {0, 0.0, 0.0};
    while (__atomic_load_n(&p->done, __ATOMIC_ACQUIRE) != p->size - 1) spin(&sp);
}

int dlor_pool_forward(dlor_pool *p, const dlor_model *m, const float *x, size_t batch, float *y, void *scratch,
                      size_t scratch_size, dlor_image_error *err)
{
    p->fn = NULL;
    p->run = NULL;
    p->m = m;
    p->x = x;
    p->y = y;
    p->batch = batch;
    p->scratch = scratch;
    p->scratch_size = scratch_size;
    run_all(p);
    if (p->w[0].rc != 0 && err) *err = p->w[0].err;
    return p->w[0].rc;
}

int dlor_pool_run_model(dlor_pool *p, const dlor_model *m, const dlor_run *r, int dtype, void *scratch,
                        size_t scratch_size, dlor_image_error *err)
{
    p->fn = NULL;
    p->run = r;
    p->dtype = dtype;
    p->m = m;
    p->scratch = scratch;
    p->scratch_size = scratch_size;
    run_all(p);
    if (p->w[0].rc != 0 && err) *err = p->w[0].err;
    return p->w[0].rc;
}

void dlor_pool_run(dlor_pool *p, void (*fn)(void *arg, unsigned id, unsigned size), void *arg)
{
    p->fn = fn;
    p->arg = arg;
    run_all(p);
}

int dlor_pool_pin(dlor_pool *p)
{
#if defined(__linux__)
    cpu_set_t allowed, one;
    int cpus[1024], n = 0;
    if (pthread_getaffinity_np(pthread_self(), sizeof allowed, &allowed) != 0) return -1;
    if (!p->pinned) p->caller_mask = allowed;
    else allowed = p->caller_mask;
    for (int c = 0; c < CPU_SETSIZE && n < 1024; c++)
        if (CPU_ISSET(c, &allowed)) cpus[n++] = c;
    if (n == 0) return -1;
    for (unsigned i = 0; i < p->size; i++) {
        CPU_ZERO(&one);
        CPU_SET(cpus[i % (unsigned)n], &one);
        pthread_t t = i == 0 ? pthread_self() : p->w[i].th;
        if (pthread_setaffinity_np(t, sizeof one, &one) != 0) return -1;
        if (i == 0) p->pinned = 1;
    }
    return 0;
#else
    (void)p;
    return -1;
#endif
}

int dlor_pool_unpin(dlor_pool *p)
{
#if defined(__linux__)
    if (!p->pinned) return 0;
    if (pthread_setaffinity_np(pthread_self(), sizeof p->caller_mask, &p->caller_mask) != 0) return -1;
    p->pinned = 0;
    return 0;
#else
    (void)p;
    return -1;
#endif
}

void dlor_pool_destroy(dlor_pool *p)
{
    if (!p) return;
    stop(p);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p->w);
    free(p);
}
