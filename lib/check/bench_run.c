/* bench_run.c - the measurement of 'dlor bench' (bench_run.h): the forward
 * pass of a DLoR model against the dense model it came from, timed in one
 * process and one run.
 *
 * The dense path is what a user would otherwise run: OpenBLAS sgemv (batch 1)
 * or sgemm on the dense weights, plus bias and activation. The DLoR path is
 * dlor's runtime on the .dlor image (mapped), on a team of threads workers
 * (dlor_pool). The two alternate turn by turn, so drift of the machine
 * (frequency, other load) touches both alike. A third turn reads the .dlor
 * image's bytes once per pass on the same team and does nothing else: the
 * time any forward pass that must read those bytes needs, in the same run
 * (at batch 1 a pass is close to it; the ratio read / dense is what no kernel
 * can improve on, the ratio of the memory tiers' bandwidths included). */
#define _POSIX_C_SOURCE 200809L
#include "bench_run.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cblas.h>

#include "dense_ref.h"
#include "dlor_fileio.h"
#include "dlor_graph_eval.h"
#include "dlor_pool.h"
#include "dlor_readers.h"
#include "json_out.h"
#include "model_load.h"
#include "verify_result.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The read turn: worker id of size sums its contiguous share of the image's
 * 64-bit words (integer lanes: arbitrary bytes, no floating-point traps), as
 * four streams at a time (its share in four parts read side by side, as the
 * runtime's kernels read four rows), 64 bytes from each per step. */
typedef struct {
    const unsigned char *base;
    size_t words;
    uint64_t sink[64][8]; /* one line per worker */
} read_job;

#if defined(__GNUC__)
typedef uint64_t __attribute__((may_alias)) image_word; /* read over bytes of any type */
#else
typedef uint64_t image_word;
#endif

#if defined(__GNUC__) && defined(__x86_64__) && defined(__linux__)
__attribute__((target_clones("avx2", "default")))
#endif
static void read_words(const image_word *a, size_t n, uint64_t *out)
{
    size_t q = n / 4 / 8 * 8;
    const image_word *a0 = a, *a1 = a + q, *a2 = a + 2 * q, *a3 = a + 3 * q;
    uint64_t s[8] = {0};
    for (size_t i = 0; i < q; i += 8)
        for (int l = 0; l < 8; l++) s[l] += (a0[i + l] + a1[i + l]) + (a2[i + l] + a3[i + l]);
    for (size_t i = 4 * q; i < n; i++) s[0] += a[i];
    memcpy(out, s, sizeof s);
}

static void read_share(void *arg, unsigned id, unsigned size)
{
    read_job *j = arg;
    size_t per = (j->words / size + 7) / 8 * 8, lo = per * id, hi = lo + per;
    if (lo > j->words) lo = j->words;
    if (hi > j->words) hi = j->words;
    /* the image is 64-byte aligned: a mapping, or an aligned copy */
    read_words((const image_word *)(const void *)(j->base + 8 * lo), hi - lo, j->sink[id % 64]);
}

/* OpenBLAS: stops its threads (they start again on the next threaded call). */
int blas_thread_shutdown_(void);

static void pause_ms(long ms)
{
    struct timespec ts = {0, ms * 1000000L};
    nanosleep(&ts, NULL);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(const double *v, size_t n)
{
    double *t = malloc(n * sizeof *t);
    if (!t) return NAN;
    memcpy(t, v, n * sizeof *t);
    qsort(t, n, sizeof *t, cmp_double);
    double m = n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
    free(t);
    return m;
}

/* Stored numbers and bytes of the graph's weights: dense source vs .dlor file. */
static void sizes(const dlor_container *c, const dlor_tensor_list *src, double *pd, double *pl, double *bd,
                  double *bl)
{
    *pd = *pl = *bd = *bl = 0;
    for (size_t i = 0; i < c->graph.count; i++) {
        const dlor_graph_op *op = &c->graph.ops[i];
        if (op->kind != DLOR_OP_LINEAR) continue;
        const dlor_tensor *w = dlor_tensor_list_find(src, op->weight);
        const dlor_layer_desc *L = dlor_container_find_layer(c, op->weight);
        if (w) {
            *pd += (double)w->nelem;
            *bd += (double)w->nbytes;
        }
        if (L) {
            const dlor_tensor *u = dlor_tensor_list_find(&c->tensors, L->u_name);
            const dlor_tensor *v = dlor_tensor_list_find(&c->tensors, L->v_name);
            const dlor_tensor *b = L->base_name ? dlor_tensor_list_find(&c->tensors, L->base_name) : NULL;
            *pl += (double)(u->nelem + v->nelem + 1 + (b ? b->nelem : 0));
            *bl += (double)(u->nbytes + v->nbytes + 8 + (b ? b->nbytes : 0));
        } else {
            const dlor_tensor *t = dlor_tensor_list_find(&c->tensors, op->weight);
            if (t) {
                *pl += (double)t->nelem;
                *bl += (double)t->nbytes;
            }
        }
    }
}

/* Everything a round of turns needs. */
typedef struct {
    dense_model *d;
    const dlor_model *m;
    dlor_pool *pool;
    read_job *rj;
    const float *x;
    float *yd, *yl;
    size_t batch, scratch_len;
    void *scratch;
    unsigned threads;
} bench_run;

/* One round: a dense turn, then a team turn (the DLoR pass, or with 'read'
 * the read of the file's bytes). Each turn runs 'reps' untimed passes and then
 * the 'reps' it times, so it is timed in its steady state: the other turn has
 * just pushed part of its data out of the shared last-level cache, and the
 * first passes after that are slower, for several passes, not one (mul,
 * N = 1024, two threads: 0.86, 0.58, 0.48, 0.42, 0.37, then 0.32-0.33 ms per
 * pass, the read of its file alike; the dense model's passes also speed up).
 * The untimed passes of a dense turn with threads also start OpenBLAS's
 * threads again. Sets the seconds per timed pass of each turn and the whole
 * round's wall time; returns nonzero when a DLoR pass failed. */
static int bench_round(const bench_run *b, size_t reps, int read, double *t_dense, double *t_team, double *wall)
{
    int fail = 0;
    double t0 = 0, t2 = 0, start = now_s();
    openblas_set_num_threads((int)b->threads);
    for (size_t r = 0; r < 2 * reps; r++) {
        if (r == reps) t0 = now_s();
        dlor_dense_forward(b->d, b->x, b->yd);
    }
    double t1 = now_s();
    /* Each side gets the machine to itself: idle OpenBLAS threads would spin
     * for ~2^28 cycles into the runtime's turn, so they are stopped here; a
     * BLAS-backed runtime gets one BLAS thread per worker of its team (not
     * threads x threads); the team is pinned one worker per core; after its
     * turn its threads are given time to fall asleep. */
    if (b->threads > 1) {
        blas_thread_shutdown_();
        openblas_set_num_threads(1);
        dlor_pool_pin(b->pool);
    }
    for (size_t r = 0; r < 2 * reps; r++) {
        if (r == reps) t2 = now_s();
        if (!read)
            fail |= dlor_pool_forward(b->pool, b->m, b->x, b->batch, b->yl, b->scratch, b->scratch_len, NULL) != 0;
        else
            dlor_pool_run(b->pool, read_share, b->rj);
    }
    double t3 = now_s();
    *t_dense = (t1 - t0) / (double)reps;
    *t_team = (t3 - t2) / (double)reps;
    if (b->threads > 1) { /* OpenBLAS's threads, started from this one, must not inherit its pin */
        dlor_pool_unpin(b->pool);
        pause_ms(1);
    }
    *wall = now_s() - start;
    return fail;
}
dlor_status dlor_bench_measure(const char *model_path, const char *dense_path, size_t batch, unsigned threads,
                               unsigned flags, double budget, dlor_bench_result *res, dlor_error *err)
{
    memset(res, 0, sizeof *res);
    dlor_loaded dl;
    dlor_container c;
    dlor_tensor_list src;
    dense_model d;
    memset(&dl, 0, sizeof dl);
    memset(&d, 0, sizeof d);
    dlor_container_init(&c);
    dlor_tensor_list_init(&src);
    float *x = NULL, *yd = NULL, *yl = NULL;
    dlor_pool *pool = NULL;
    void *scratch = NULL;
    size_t scratch_len = 0;
    double *td = NULL, *tl = NULL, *tr = NULL;
    read_job rj;
    memset(&rj, 0, sizeof rj);
    FILE *mf = fopen(model_path, "rb");
    int readable = mf != NULL;
    if (mf) fclose(mf);
    dlor_status st = !readable ? dlor_fail(err, DLOR_E_IO, "%s: cannot open: %s", model_path, strerror(errno))
                     : strcmp(dlor_weights_format(model_path), "dlor") == 0
                         ? dlor_load_runnable_flags(model_path, NULL, flags, &dl, err)
                         : dlor_fail(err, DLOR_E_ARG,
                                     "%s: not a .dlor file (bench compares a .dlor model with its --dense source)",
                                     model_path);
    if (st == DLOR_OK) st = dlor_container_read(model_path, &c, err);
    if (st == DLOR_OK) st = dlor_read_weights(dense_path, &src, err);
    if (st == DLOR_OK) st = dlor_dense_build(dense_path, &src, &c.graph, (size_t)batch, &d, err);
    if (st == DLOR_OK && (d.in_dim != dl.model.in_dim || d.out_dim != dl.model.out_dim))
        st = dlor_fail(err, DLOR_E_FORMAT, "%s: the dense model maps %llu to %llu features, %s %llu to %llu",
                       dense_path, (unsigned long long)d.in_dim, (unsigned long long)d.out_dim, model_path,
                       (unsigned long long)dl.model.in_dim, (unsigned long long)dl.model.out_dim);
    size_t B = (size_t)batch, nin = B * d.in_dim, nout = B * d.out_dim;
    if (st == DLOR_OK) {
        x = malloc(nin * sizeof *x);
        yd = malloc(nout * sizeof *yd);
        yl = malloc(nout * sizeof *yl);
        if (!x || !yd || !yl) st = dlor_fail(err, DLOR_E_NOMEM, "out of memory");
    }
    if (st == DLOR_OK) dlor_verify_random_inputs(12345, x, nin); /* seeded standard normals */
    /* the runtime's team: the calling thread and threads-1 more, splitting every
     * layer's rows (any batch, 1 included) */
    if (st == DLOR_OK) {
        pool = dlor_pool_create((unsigned)threads);
        scratch_len = dlor_model_scratch_size_team(&dl.model, B, (unsigned)threads);
        if (!pool)
            st = dlor_fail(err, DLOR_E_NOMEM, "cannot allocate or start a team of %lld threads", (long long)threads);
        else if (scratch_len == 0 || posix_memalign(&scratch, 64, scratch_len) != 0) {
            scratch = NULL;
            st = dlor_fail(err, DLOR_E_NOMEM, "cannot allocate scratch for batch %zu", B);
        }
    }
    /* Samples: 'reps' passes timed together (after as many untimed ones, see
     * bench_round), reps chosen so that the timed passes of a dense + DLoR pair
     * take >= 5 ms. Stop when the dense and DLoR medians moved < 1% over the
     * last 10 rounds (at least 21 rounds), or when the rounds have used the time
     * budget (wall time, untimed passes and pauses included). */
    size_t cap = 4096, n = 0, reps = 1;
    double med_d = NAN, med_l = NAN, med_r = NAN, maxdiff = 0;
    bench_run br = {&d, &dl.model, pool, &rj, x, yd, yl, B, scratch_len, scratch, (unsigned)threads};
    if (st == DLOR_OK) {
        td = malloc(2 * cap * sizeof *td);
        tl = malloc(cap * sizeof *tl);
        tr = malloc(cap * sizeof *tr);
        if (!td || !tl || !tr) st = dlor_fail(err, DLOR_E_NOMEM, "out of memory");
    }
    if (st == DLOR_OK) { /* warm up (faults in the mapped file), check the outputs agree, pick reps */
        dlor_dense_forward(&d, x, yd);
        dlor_image_error ie;
        if (dlor_pool_forward(pool, &dl.model, x, B, yl, scratch, scratch_len, &ie) != 0)
            st = dlor_fail(err, DLOR_E_NUMERIC, "%s: forward pass failed: %s", model_path, ie.msg);
        for (size_t i = 0; st == DLOR_OK && i < nout; i++) {
            double e = fabs((double)yd[i] - (double)yl[i]);
            if (!(e <= maxdiff)) maxdiff = e;
        }
        rj.base = dl.model.img.base;
        rj.words = dl.model.img.len / 8;
        double a = 0, b = 0, wall;
        if (st == DLOR_OK && bench_round(&br, 4, 0, &a, &b, &wall) != 0)
            st = dlor_fail(err, DLOR_E_NUMERIC, "%s: forward pass failed", model_path);
        while (reps < 1000000 && (a + b) * (double)reps < 5e-3) reps *= 2;
    }
    /* A round: dense, DLoR, dense, read. The read turn comes after a dense turn
     * with the same number of passes as the DLoR turn, so both start from the
     * same cache state (the dense weights just streamed). Both dense turns count
     * toward the dense median. */
    double spent = 0, prev_d = NAN, prev_l = NAN;
    while (st == DLOR_OK && n < cap) {
        int fail = 0;
        for (int half = 0; half < 2; half++) {
            double wall;
            fail |= bench_round(&br, reps, half, &td[2 * n + (size_t)half], half == 0 ? &tl[n] : &tr[n], &wall);
            spent += wall;
        }
        if (fail) st = dlor_fail(err, DLOR_E_NUMERIC, "%s: forward pass failed", model_path);
        n++;
        if (n >= 21 && n % 10 == 1) {
            med_d = median(td, 2 * n);
            med_l = median(tl, n);
            if (fabs(med_d - prev_d) < 0.01 * med_d && fabs(med_l - prev_l) < 0.01 * med_l) break;
            prev_d = med_d;
            prev_l = med_l;
        }
        if (spent > budget) break;
    }
    if (st == DLOR_OK) {
        med_d = median(td, 2 * n);
        med_l = median(tl, n);
        med_r = median(tr, n);
        sizes(&c, &src, &res->params_dense, &res->params_dlor, &res->bytes_dense, &res->bytes_dlor);
        res->samples = n;
        res->passes_per_sample = reps;
        res->dense_s = med_d;
        res->dlor_s = med_l;
        res->read_s = med_r;
        res->image_bytes = dl.model.img.len;
        res->max_abs_diff = maxdiff;
    }
    dlor_pool_destroy(pool);
    free(scratch);
    free(td);
    free(tl);
    free(tr);
    free(x);
    free(yd);
    free(yl);
    dlor_dense_free(&d);
    dlor_tensor_list_free(&src);
    dlor_container_free(&c);
    dlor_loaded_free(&dl);
    return st;
}

void dlor_bench_write_json(FILE *f, const char *model_path, const char *dense_path, size_t batch, unsigned threads,
                           const dlor_bench_result *r)
{
    dlor_jw w;
    dlor_jw_init(&w, f);
    dlor_jw_begin_obj(&w);
    dlor_jw_key(&w, "model");
    dlor_jw_str(&w, model_path);
    dlor_jw_key(&w, "dense");
    dlor_jw_str(&w, dense_path);
    dlor_jw_key(&w, "batch");
    dlor_jw_u64(&w, (uint64_t)batch);
    dlor_jw_key(&w, "threads");
    dlor_jw_u64(&w, (uint64_t)threads);
    dlor_jw_key(&w, "dense_ms");
    dlor_jw_num(&w, 1e3 * r->dense_s);
    dlor_jw_key(&w, "dlor_ms");
    dlor_jw_num(&w, 1e3 * r->dlor_s);
    dlor_jw_key(&w, "ratio");
    dlor_jw_num(&w, r->dlor_s / r->dense_s);
    dlor_jw_key(&w, "read_ms");
    dlor_jw_num(&w, 1e3 * r->read_s);
    dlor_jw_key(&w, "read_ratio");
    dlor_jw_num(&w, r->read_s / r->dense_s);
    dlor_jw_key(&w, "params_ratio");
    dlor_jw_num(&w, r->params_dlor / r->params_dense);
    dlor_jw_key(&w, "bytes_ratio");
    dlor_jw_num(&w, r->bytes_dlor / r->bytes_dense);
    dlor_jw_key(&w, "params_dense");
    dlor_jw_u64(&w, (uint64_t)r->params_dense);
    dlor_jw_key(&w, "params_dlor");
    dlor_jw_u64(&w, (uint64_t)r->params_dlor);
    dlor_jw_key(&w, "samples");
    dlor_jw_u64(&w, r->samples);
    dlor_jw_key(&w, "passes_per_sample");
    dlor_jw_u64(&w, r->passes_per_sample);
    dlor_jw_key(&w, "max_abs_output_difference");
    dlor_jw_num(&w, r->max_abs_diff);
    dlor_jw_end_obj(&w);
}
