/* rt_shim.c - dlor's runtime as a small shared library for the Python timing
 * harness (bench/timing.py loads it with ctypes), so that the runtime can be
 * timed in the same process, alternating, with onnxruntime, PyTorch and NumPy.
 *
 * The file is mapped read-only (as 'dlor run' does), opened once, and each
 * forward call splits the batch into 'threads' slices with one scratch buffer
 * each, the scheme of 'dlor bench'. bench/run.sh compiles this file together
 * with the runtime's own sources and the runtime's compile flags. Not part of
 * the product. */
#define _POSIX_C_SOURCE 200809L
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dlor_runtime.h"

#define SHIM_MAX_THREADS 16
#define SHIM_API __attribute__((visibility("default")))

typedef struct {
    void *map;
    size_t len;
    dlor_model m;
    size_t max_batch;
    void *scratch[SHIM_MAX_THREADS];
    size_t need;
} shim_model;

typedef struct {
    const dlor_model *m;
    const float *x;
    float *y;
    size_t batch;
    void *scratch;
    size_t need;
    int rc;
} shim_slice;

/* Opens path for batches of up to max_batch samples; NULL on failure, with the
 * reason in msg. */
SHIM_API void *shim_open(const char *path, size_t max_batch, char *msg, size_t msglen)
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
    if (dlor_model_open(&s->m, s->map, s->len, DLOR_IMAGE_CHECK_CRC, &e) != 0) {
        snprintf(msg, msglen, "%s: %s", path, e.msg);
        munmap(s->map, s->len);
        free(s);
        return NULL;
    }
    s->max_batch = max_batch ? max_batch : 1;
    s->need = dlor_model_scratch_size(&s->m, s->max_batch);
    for (int t = 0; t < SHIM_MAX_THREADS; t++)
        if (s->need == 0 || posix_memalign(&s->scratch[t], 64, s->need) != 0) {
            snprintf(msg, msglen, "%s: no scratch for batch %zu", path, s->max_batch);
            for (int u = 0; u < t; u++) free(s->scratch[u]);
            munmap(s->map, s->len);
            free(s);
            return NULL;
        }
    return s;
}

SHIM_API unsigned long long shim_in_dim(void *h) { return ((shim_model *)h)->m.in_dim; }
SHIM_API unsigned long long shim_out_dim(void *h) { return ((shim_model *)h)->m.out_dim; }

static void *run_slice(void *arg)
{
    shim_slice *sl = arg;
    dlor_image_error e;
    sl->rc = sl->batch ? dlor_model_forward(sl->m, sl->x, sl->batch, sl->y, sl->scratch, sl->need, &e) : 0;
    return NULL;
}

/* y = model(x) for batch samples (row-major [batch, in] -> [batch, out]),
 * the batch split into up to 'threads' slices run on their own threads. */
SHIM_API int shim_forward(void *h, const float *x, size_t batch, float *y, int threads)
{
    shim_model *s = h;
    if (batch == 0 || batch > s->max_batch) return -1;
    if (threads < 1) threads = 1;
    if (threads > SHIM_MAX_THREADS) threads = SHIM_MAX_THREADS;
    if ((size_t)threads > batch) threads = (int)batch;
    shim_slice sl[SHIM_MAX_THREADS];
    pthread_t th[SHIM_MAX_THREADS];
    int started[SHIM_MAX_THREADS] = {0};
    for (int t = 0; t < threads; t++) {
        size_t b0 = batch * (size_t)t / (size_t)threads, b1 = batch * (size_t)(t + 1) / (size_t)threads;
        sl[t].m = &s->m;
        sl[t].x = x + b0 * s->m.in_dim;
        sl[t].y = y + b0 * s->m.out_dim;
        sl[t].batch = b1 - b0;
        sl[t].scratch = s->scratch[t];
        sl[t].need = s->need;
        sl[t].rc = 0;
    }
    for (int t = 1; t < threads; t++) started[t] = pthread_create(&th[t], NULL, run_slice, &sl[t]) == 0;
    run_slice(&sl[0]);
    int rc = sl[0].rc;
    for (int t = 1; t < threads; t++) {
        if (started[t]) pthread_join(th[t], NULL);
        else run_slice(&sl[t]);
        rc |= sl[t].rc;
    }
    return rc;
}

SHIM_API void shim_close(void *h)
{
    shim_model *s = h;
    if (!s) return;
    for (int t = 0; t < SHIM_MAX_THREADS; t++) free(s->scratch[t]);
    munmap(s->map, s->len);
    free(s);
}
