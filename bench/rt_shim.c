/* rt_shim.c - dlor's runtime as a small shared library for the Python timing
 * harness (bench/timing.py loads it with ctypes), so that the runtime can be
 * timed in the same process, alternating, with onnxruntime, PyTorch and NumPy.
 *
 * The file is mapped read-only (as 'dlor run' does), opened once, and a forward
 * call with 'threads' > 1 runs on a dlor_pool of that many workers (every
 * layer's rows split among them), as 'dlor bench' does. bench/run.sh compiles
 * this file together with the runtime's own sources (and lib/runtime/pool.c)
 * and the runtime's compile flags. Not part of the product. */
#define _POSIX_C_SOURCE 200809L
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dlor_pool.h"

#ifdef DLOR_RUNTIME_BLAS
#include <cblas.h>
static int blas_threads; /* OpenBLAS's thread count when first called */
#endif

#define SHIM_MAX_THREADS 16
#define SHIM_API __attribute__((visibility("default")))

typedef struct {
    void *map;
    size_t len;
    dlor_model m;
    void *plan;
    size_t max_batch;
    dlor_pool *pool[SHIM_MAX_THREADS + 1];    /* by team size, made on first use */
    void *scratch[SHIM_MAX_THREADS + 1];
    size_t need[SHIM_MAX_THREADS + 1];
    void *seq_scratch[SHIM_MAX_THREADS + 1]; /* token-id passes (shim_run_ids), grown on demand */
    size_t seq_need[SHIM_MAX_THREADS + 1];
} shim_model;

/* Opens path for batches of up to max_batch samples; NULL on failure, with the
 * reason in msg. */
SHIM_API void *shim_open_flags(const char *path, size_t max_batch, unsigned flags, char *msg, size_t msglen);
SHIM_API void *shim_open(const char *path, size_t max_batch, char *msg, size_t msglen)
{
    return shim_open_flags(path, max_batch, 0, msg, msglen);
}

/* The same with dlor_model_open's runtime flags (DLOR_RT_QUANT_ACTS). */
SHIM_API void *shim_open_flags(const char *path, size_t max_batch, unsigned flags, char *msg, size_t msglen)
{
    shim_model *s = calloc(1, sizeof *s);
    int fd = open(path, O_RDONLY);
    struct stat sb;
    dlor_image_error e;
    if (!s || fd < 0 || fstat(fd, &sb) != 0 || sb.st_size <= 0) {
        snprintf(msg, msglen, "%s: cannot open", path);
        if (fd >= 0) close(fd);
        free(s);
        return NULL;
    }
    s->len = (size_t)sb.st_size;
    s->map = mmap(NULL, s->len, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (s->map == MAP_FAILED) {
        snprintf(msg, msglen, "%s: cannot map", path);
        free(s);
        return NULL;
    }
    size_t plan_size = dlor_model_plan_size(s->map, s->len);
    s->plan = malloc(plan_size ? plan_size : 1);
    if (!s->plan || dlor_model_open_plan(&s->m, s->map, s->len, DLOR_IMAGE_CHECK_CRC | flags, s->plan, plan_size, &e) != 0) {
        snprintf(msg, msglen, "%s: %s", path, s->plan ? e.msg : "out of memory");
        munmap(s->map, s->len);
        free(s->plan);
        free(s);
        return NULL;
    }
    s->max_batch = max_batch ? max_batch : 1;
    return s;
}

SHIM_API unsigned long long shim_in_dim(void *h) { return ((shim_model *)h)->m.in_dim; }
SHIM_API unsigned long long shim_out_dim(void *h) { return ((shim_model *)h)->m.out_dim; }

/* y = model(x) for batch samples (row-major [batch, in] -> [batch, out]) on a
 * team of 'threads' workers (the caller and threads - 1 pool threads). */
SHIM_API int shim_forward(void *h, const float *x, size_t batch, float *y, int threads)
{
    shim_model *s = h;
    dlor_image_error e;
    if (batch == 0 || batch > s->max_batch) return -1;
    if (threads < 1) threads = 1;
    if (threads > SHIM_MAX_THREADS) threads = SHIM_MAX_THREADS;
    if (!s->pool[threads]) {
        s->need[threads] = dlor_model_scratch_size_team(&s->m, s->max_batch, (unsigned)threads);
        if (s->need[threads] == 0 || posix_memalign(&s->scratch[threads], 64, s->need[threads]) != 0) return -1;
        s->pool[threads] = dlor_pool_create((unsigned)threads);
        if (!s->pool[threads]) return -1;
    }
#ifdef DLOR_RUNTIME_BLAS
    /* a team's workers call sgemm each with one OpenBLAS thread; alone, the caller
     * leaves the threading to OpenBLAS */
    if (!blas_threads) blas_threads = openblas_get_num_threads();
    openblas_set_num_threads(threads > 1 ? 1 : blas_threads);
#endif
    return dlor_pool_forward(s->pool[threads], &s->m, x, batch, y, s->scratch[threads], s->need[threads], &e);
}

/* y = model(ids) for a model of token ids (DLOR_FORMAT.md 7.7): batch
 * sequences of seq int64 ids, mask NULL (every token attends) or [batch, seq]
 * 0/1, into y [batch, seq, F] (the graph's first output), on a team of
 * 'threads' workers. */
SHIM_API int shim_run_ids(void *h, const int64_t *ids, const int64_t *mask, size_t batch, size_t seq, float *y,
                          int threads)
{
    shim_model *s = h;
    dlor_image_error e;
    void *const ys[1] = {y};
    dlor_run r;
    if (batch == 0 || batch > s->max_batch || seq == 0) return -1;
    if (threads < 1) threads = 1;
    if (threads > SHIM_MAX_THREADS) threads = SHIM_MAX_THREADS;
    if (!s->pool[threads] && !(s->pool[threads] = dlor_pool_create((unsigned)threads))) return -1;
    size_t need = dlor_model_scratch_bytes(&s->m, batch, seq, (unsigned)threads, DLOR_RT_F32);
    if (need == 0) return -1;
    if (need > s->seq_need[threads]) {
        free(s->seq_scratch[threads]);
        s->seq_scratch[threads] = NULL;
        s->seq_need[threads] = 0;
        if (posix_memalign(&s->seq_scratch[threads], 64, need) != 0) return -1;
        s->seq_need[threads] = need;
    }
    memset(&r, 0, sizeof r);
    r.batch = batch;
    r.seq = seq;
    r.ids = ids;
    r.mask = mask;
    r.ids_dtype = DLOR_RT_I64;
    r.y = ys;
    r.ny = 1;
    return dlor_pool_run_model(s->pool[threads], &s->m, &r, DLOR_RT_F32, s->seq_scratch[threads],
                               s->seq_need[threads], &e);
}

/* A plain read of the mapped file's bytes on the calling thread (64-bit words
 * summed in integer lanes, four streams side by side, as dlor bench's read
 * turn): the floor under a pass that reads every byte of the file once. */
#if defined(__GNUC__) && defined(__x86_64__) && defined(__linux__)
__attribute__((target_clones("avx2", "default")))
#endif
SHIM_API unsigned long long shim_read(void *h)
{
    shim_model *s = h;
    typedef uint64_t __attribute__((may_alias)) word;
    const word *a = (const word *)s->map;
    size_t n = s->len / 8, q = n / 4 / 8 * 8;
    const word *a0 = a, *a1 = a + q, *a2 = a + 2 * q, *a3 = a + 3 * q;
    uint64_t acc[8] = {0};
    for (size_t i = 0; i < q; i += 8)
        for (int l = 0; l < 8; l++) acc[l] += (a0[i + l] + a1[i + l]) + (a2[i + l] + a3[i + l]);
    for (size_t i = 4 * q; i < n; i++) acc[0] += a[i];
    for (int l = 1; l < 8; l++) acc[0] += acc[l];
    return acc[0];
}

SHIM_API void shim_close(void *h)
{
    shim_model *s = h;
    if (!s) return;
    for (int t = 0; t <= SHIM_MAX_THREADS; t++) {
        dlor_pool_destroy(s->pool[t]);
        free(s->scratch[t]);
        free(s->seq_scratch[t]);
    }
    munmap(s->map, s->len);
    free(s->plan);
    free(s);
}
